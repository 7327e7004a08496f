"""check_stream_chunks.py - ListObjectsStream with large records: messages
stop near 1 MiB (far below a default client's 4 MiB), later messages grow
past 1,000 records for small records, and the names come back exact
(in order, none twice, none missing) across every chunk boundary.

usage: /usr/bin/python3 tests/bench/check_stream_chunks.py build/mds/mds
(not registered in meson: it puts 12,700 objects, ~10 s)
"""
import concurrent.futures
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import mdsd  # noqa: E402

NS = "/mds.v1.Namespace/"
AD = "/mds.v1.Admin/"


def main(mds):
    tmp, cleanup = mdsd.tempdir("mds-chunks-")
    types, nsp, adp = mdsd.load_protos(os.path.join(tmp, "py"))
    d = mdsd.Daemon(mds, tmp).start()
    ch = grpc.insecure_channel(d.endpoint)
    c = mdsd.Client(ch, nsp, adp)
    try:
        c.unary(AD + "CreateTeam", adp.CreateTeamRequest(team="t"), types.Team)
        for b in ("big", "small"):
            c.unary(NS + "CreateBucket", nsp.CreateBucketRequest(bucket=b, team="t"),
                    types.Bucket)
        put = ch.unary_unary(NS + "PutObject",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=nsp.PutObjectResponse.FromString)
        # ~3.9 KB per record: a 1 MiB message holds ~270 of them
        big = ["%04d/" % i + "n" * 900 for i in range(700)]
        small = ["s%06d" % i for i in range(12000)]
        futs = [put.future(nsp.PutObjectRequest(bucket="big", name=n, size=i,
                                                locator=b"L" * 1000,
                                                metadata=[types.KeyValue(key="k%d" % j,
                                                                         value="v" * 180)
                                                          for j in range(10)]))
                for i, n in enumerate(big)]
        futs += [put.future(nsp.PutObjectRequest(bucket="small", name=n, size=1))
                 for n in small]
        for f in futs:
            f.result(timeout=120)
        stream = ch.unary_stream(NS + "ListObjectsStream",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=lambda b: b)
        raw = list(stream(nsp.ListObjectsStreamRequest(bucket="big"), timeout=60))
        msgs = [nsp.ListObjectsStreamResponse.FromString(b) for b in raw]
        got = [o.name for m in msgs for o in m.objects]
        assert got == big, "big: names differ (%d got, %d put)" % (len(got), len(big))
        assert max(len(b) for b in raw) <= (1 << 20) + 8192, \
            "big: a message of %d bytes" % max(len(b) for b in raw)
        assert len(msgs) >= 3, "big: %d messages" % len(msgs)
        assert all(o.locator == b"L" * 1000 and len(o.metadata) == 10
                   for m in msgs for o in m.objects), "big: a record lost fields"
        raw = list(stream(nsp.ListObjectsStreamRequest(bucket="small"), timeout=60))
        counts = [len(nsp.ListObjectsStreamResponse.FromString(b).objects) for b in raw]
        got = [o.name for b in raw
               for o in nsp.ListObjectsStreamResponse.FromString(b).objects]
        assert got == small, "small: names differ"
        assert counts[0] == 1000 and max(counts) > 1000, "small: counts %s" % counts
        # resume and limit across grown chunks
        got = [o.name for b in stream(nsp.ListObjectsStreamRequest(
            bucket="small", start_after=small[2999], limit=5001), timeout=60)
            for o in nsp.ListObjectsStreamResponse.FromString(b).objects]
        assert got == small[3000:8001], "small: resume/limit differ"
        print("ok: big %d msgs, max %d bytes; small counts %s" %
              (len(msgs), max(len(b) for b in raw), counts))
    finally:
        ch.close()
        d.stop()
        cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
