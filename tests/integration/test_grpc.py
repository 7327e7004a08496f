"""test_grpc.py - drive a real `mds serve` through Python grpcio (an
independent gRPC implementation): every RPC, every status code, bad inputs,
deadlines, unknown methods, 1,000 concurrent calls, metrics and health.

usage: test_grpc.py PATH/TO/mds
"""
import concurrent.futures
import os
import re
import sys
import unittest

import grpc

import mdsd

MDS = None
NS = "/mds.v1.Namespace/"
AD = "/mds.v1.Admin/"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ld(field, data):
    """One length-delimited field, for requests grpcio's encoder refuses."""
    return varint(field << 3 | 2) + varint(len(data)) + data


class GrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-grpc-")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(os.path.join(cls.tmp, "py"))
        cls.d = mdsd.Daemon(MDS, cls.tmp, extra=["--max-message", "64KiB"]).start()
        cls.ch = grpc.insecure_channel(cls.d.endpoint)
        cls.c = mdsd.Client(cls.ch, cls.nsp, cls.adp)
        a, n = cls.adp, cls.nsp
        cls.c.unary(AD + "CreateTeam", a.CreateTeamRequest(team="ml"), cls.types.Team)
        cls.c.unary(NS + "CreateBucket", n.CreateBucketRequest(bucket="data", team="ml"),
                    cls.types.Bucket)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.d.stop()
        cls.cleanup()

    # -- helpers --
    def call(self, method, req, resp, **kw):
        svc = AD if method in ("CreateTeam", "GetTeam", "ListTeams", "DeleteTeam",
                               "GetStatus") else NS
        return self.c.unary(svc + method, req, resp, **kw)

    def code_of(self, fn, *a, **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*a, **kw)
        return cm.exception.code(), cm.exception.details()

    def put(self, bucket, name, size=1, **kw):
        return self.call("PutObject", self.nsp.PutObjectRequest(bucket=bucket, name=name,
                                                                size=size, **kw),
                         self.nsp.PutObjectResponse)

    def head(self, bucket, name):
        return self.call("HeadObject", self.nsp.HeadObjectRequest(bucket=bucket, name=name),
                         self.types.ObjectRecord)

    def list(self, **kw):
        return self.call("ListObjects", self.nsp.ListObjectsRequest(**kw),
                         self.nsp.ListObjectsResponse)

    # -- teams --
    def test_teams(self):
        a, T = self.adp, self.types.Team
        t = self.call("CreateTeam", a.CreateTeamRequest(team="vision"), T)
        self.assertEqual(t.name, "vision")
        self.assertGreater(t.ctime_ns, 0)
        code, msg = self.code_of(self.call, "CreateTeam", a.CreateTeamRequest(team="vision"), T)
        self.assertEqual(code, grpc.StatusCode.ALREADY_EXISTS)
        self.assertIn("vision", msg)
        self.assertEqual(self.call("GetTeam", a.GetTeamRequest(team="vision"), T).name, "vision")
        code, _ = self.code_of(self.call, "GetTeam", a.GetTeamRequest(team="nope"), T)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        code, msg = self.code_of(self.call, "CreateTeam", a.CreateTeamRequest(team="Bad Name"), T)
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("team", msg)
        names = [t.name for t in self.call("ListTeams", a.ListTeamsRequest(),
                                           a.ListTeamsResponse).teams]
        self.assertIn("ml", names)
        self.assertIn("vision", names)
        self.assertEqual(names, sorted(names))
        page = self.call("ListTeams", a.ListTeamsRequest(limit=1), a.ListTeamsResponse)
        self.assertEqual(len(page.teams), 1)
        self.assertTrue(page.truncated)
        self.call("DeleteTeam", a.DeleteTeamRequest(team="vision"), a.DeleteTeamResponse)
        code, _ = self.code_of(self.call, "GetTeam", a.GetTeamRequest(team="vision"), T)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)

    def test_team_with_buckets_not_deleted(self):
        a = self.adp
        code, _ = self.code_of(self.call, "DeleteTeam", a.DeleteTeamRequest(team="ml"),
                               a.DeleteTeamResponse)
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)

    # -- buckets --
    def test_buckets(self):
        n, B = self.nsp, self.types.Bucket
        b = self.call("CreateBucket", n.CreateBucketRequest(bucket="tmp-bucket", team="ml"), B)
        self.assertEqual((b.name, b.team, b.objects, b.bytes), ("tmp-bucket", "ml", 0, 0))
        code, _ = self.code_of(self.call, "CreateBucket",
                               n.CreateBucketRequest(bucket="tmp-bucket", team="ml"), B)
        self.assertEqual(code, grpc.StatusCode.ALREADY_EXISTS)
        code, msg = self.code_of(self.call, "CreateBucket",
                                 n.CreateBucketRequest(bucket="other", team="ghost"), B)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        code, msg = self.code_of(self.call, "CreateBucket",
                                 n.CreateBucketRequest(bucket="ab", team="ml"), B)
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("'bucket'", msg)
        code, _ = self.code_of(self.call, "CreateBucket",
                               n.CreateBucketRequest(bucket="192.168.1.1", team="ml"), B)
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.put("tmp-bucket", "x", size=5)
        g = self.call("GetBucket", n.GetBucketRequest(bucket="tmp-bucket"), B)
        self.assertEqual((g.objects, g.bytes), (1, 5))
        lb = self.call("ListBuckets", n.ListBucketsRequest(team="ml"), n.ListBucketsResponse)
        self.assertIn("tmp-bucket", [x.name for x in lb.buckets])
        code, _ = self.code_of(self.call, "DeleteBucket", n.DeleteBucketRequest(bucket="tmp-bucket"),
                               n.DeleteBucketResponse)
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        self.call("DeleteObject", n.DeleteObjectRequest(bucket="tmp-bucket", name="x"),
                  n.DeleteObjectResponse)
        self.call("DeleteBucket", n.DeleteBucketRequest(bucket="tmp-bucket"), n.DeleteBucketResponse)
        code, _ = self.code_of(self.call, "GetBucket", n.GetBucketRequest(bucket="tmp-bucket"), B)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)

    # -- objects --
    def test_put_head_delete(self):
        n, kv = self.nsp, self.types.KeyValue
        r = self.put("data", "a/b.txt", size=100, etag='"e1"', content_type="text/plain",
                     locator=b"\x00\x01loc", metadata=[kv(key="k", value="v")],
                     tags=[kv(key="t", value="1")], blob_type=self.types.BLOB_TYPE_APPEND)
        self.assertEqual(r.version, 1)
        o = self.head("data", "a/b.txt")
        self.assertEqual((o.name, o.size, o.etag, o.content_type, o.locator),
                         ("a/b.txt", 100, '"e1"', "text/plain", b"\x00\x01loc"))
        self.assertEqual(o.blob_type, self.types.BLOB_TYPE_APPEND)
        self.assertEqual([(p.key, p.value) for p in o.metadata], [("k", "v")])
        self.assertEqual([(p.key, p.value) for p in o.tags], [("t", "1")])
        self.assertEqual(o.mtime_ns, r.mtime_ns)
        r2 = self.put("data", "a/b.txt", size=7, etag='"e2"')
        self.assertEqual(r2.version, 2)
        self.assertEqual(self.head("data", "a/b.txt").ctime_ns, o.ctime_ns)
        d = self.call("DeleteObject", n.DeleteObjectRequest(bucket="data", name="a/b.txt"),
                      n.DeleteObjectResponse)
        self.assertEqual(d.version, 2)
        code, _ = self.code_of(self.head, "data", "a/b.txt")
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        code, _ = self.code_of(self.call, "DeleteObject",
                               n.DeleteObjectRequest(bucket="data", name="a/b.txt"),
                               n.DeleteObjectResponse)
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        code, _ = self.code_of(self.put, "nobucket", "x")
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)

    def test_conditional(self):
        n = self.nsp
        self.put("data", "cond", etag='"v1"', if_none_match="*")
        code, msg = self.code_of(self.put, "data", "cond", etag='"v2"', if_none_match="*")
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        code, _ = self.code_of(self.put, "data", "cond", etag='"v2"', if_match='"other"')
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(self.head("data", "cond").etag, '"v1"')
        self.put("data", "cond", etag='"v2"', if_match='"v1"')
        code, _ = self.code_of(self.put, "data", "cond-missing", if_match="*")
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        code, _ = self.code_of(self.call, "DeleteObject",
                               n.DeleteObjectRequest(bucket="data", name="cond", if_match='"v1"'),
                               n.DeleteObjectResponse)
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)
        self.call("DeleteObject", n.DeleteObjectRequest(bucket="data", name="cond",
                                                        if_match='"v2"'), n.DeleteObjectResponse)

    def test_names(self):
        self.put("data", "n" * 1024)
        self.assertEqual(len(self.head("data", "n" * 1024).name), 1024)
        for bad in ("", "n" * 1025):
            code, msg = self.code_of(self.put, "data", bad)
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, bad[:10])
            self.assertIn("'name'", msg)
        self.put("data", "snow \u2603 \U0001F600")
        self.assertEqual(self.head("data", "snow \u2603 \U0001F600").size, 1)
        # invalid UTF-8 and an embedded NUL, encoded by hand
        for raw_name in (b"bad\xff\xfe", b"\xc0\xafoverlong", b"nul\x00byte"):
            payload = ld(1, b"data") + ld(2, raw_name)
            code, msg = self.code_of(self.c.raw, NS + "PutObject", payload)
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, raw_name)
            self.assertIn("name", msg)
            code, _ = self.code_of(self.c.raw, NS + "HeadObject", payload)
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, raw_name)

    def test_malformed_and_unknown(self):
        for junk in (b"\xff\xff\xff\xff", b"\x0a\x10abc", b"\x0f"):
            code, msg = self.code_of(self.c.raw, NS + "HeadObject", junk)
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, junk)
            self.assertIn("malformed", msg)
        code, _ = self.code_of(self.c.raw, NS + "NoSuchMethod", b"")
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED)
        code, _ = self.code_of(self.c.raw, "/other.Service/Method", b"")
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED)
        # still serving
        self.assertEqual(self.call("GetStatus", self.adp.GetStatusRequest(),
                                   self.adp.ServerStatus).api, "mds.v1")

    def test_oversized_message(self):
        big = self.types.KeyValue(key="k", value="v" * (80 * 1024))
        code, _ = self.code_of(self.put, "data", "big", metadata=[big])
        self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.put("data", "small-after-big")

    def test_deadline(self):
        """A stream whose deadline passes half-way ends with DEADLINE_EXCEEDED,
        and the server goes on serving."""
        import time
        n = self.nsp
        self.call("CreateBucket", n.CreateBucketRequest(bucket="dlb", team="ml"), self.types.Bucket)
        put = self.ch.unary_unary(NS + "PutObject",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=n.PutObjectResponse.FromString)
        for f in [put.future(n.PutObjectRequest(bucket="dlb", name="o%05d" % i, size=1, etag="e" * 100))
                  for i in range(3000)]:
            f.result(timeout=60)
        # No BDP probing: the flow-control window stays at 64 KiB, so the
        # server cannot finish the ~400 KB stream while the client sleeps.
        with grpc.insecure_channel(self.d.endpoint,
                                   options=[("grpc.http2.bdp_probe", 0)]) as ch:
            c = mdsd.Client(ch, self.nsp, self.adp)
            it = c.stream(NS + "ListObjectsStream", n.ListObjectsStreamRequest(bucket="dlb"),
                          n.ListObjectsStreamResponse, timeout=0.5)
            with self.assertRaises(grpc.RpcError) as cm:
                for _ in it:
                    time.sleep(0.3)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertEqual(self.head("dlb", "o00001").size, 1)

    # -- listings --
    def test_list_s3(self):
        self.call("CreateBucket", self.nsp.CreateBucketRequest(bucket="lst", team="ml"),
                  self.types.Bucket)
        names = ["a/1", "a/2", "b/1", "c", "d/x/y"]
        for nm in names:
            self.put("lst", nm)
        r = self.list(bucket="lst")
        self.assertEqual([e.name for e in r.entries], names)
        self.assertFalse(r.truncated)
        self.assertEqual(r.entries[0].object.size, 1)
        r = self.list(bucket="lst", delimiter="/")
        self.assertEqual([(e.name, e.is_prefix) for e in r.entries],
                         [("a/", True), ("b/", True), ("c", False), ("d/", True)])
        self.assertEqual(r.key_count, 4)
        r = self.list(bucket="lst", prefix="a/")
        self.assertEqual([e.name for e in r.entries], ["a/1", "a/2"])
        r = self.list(bucket="lst", start_after="b/1")
        self.assertEqual([e.name for e in r.entries], ["c", "d/x/y"])
        # paging with tokens
        got, token = [], ""
        while True:
            r = self.list(bucket="lst", max_keys=2, continuation_token=token)
            got += [e.name for e in r.entries]
            if not r.truncated:
                break
            self.assertTrue(r.next_continuation_token)
            token = r.next_continuation_token
        self.assertEqual(got, names)
        r = self.list(bucket="lst", max_keys=0)
        self.assertEqual(len(r.entries), 0)
        code, msg = self.code_of(self.list, bucket="lst", max_keys=1001)
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("max_keys", msg)
        r = self.list(bucket="lst", style=self.nsp.LIST_STYLE_AZURE, max_keys=5000)
        self.assertEqual(len(r.entries), 5)
        code, _ = self.code_of(self.list, bucket="lst", continuation_token="garbage!!")
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT)
        code, _ = self.code_of(self.list, bucket="nolist")
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)

    def test_list_stream(self):
        n = self.nsp
        self.call("CreateBucket", n.CreateBucketRequest(bucket="inv", team="ml"), self.types.Bucket)
        futs = [self.c.ch.unary_unary(NS + "PutObject",
                                      request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=n.PutObjectResponse.FromString)
                .future(n.PutObjectRequest(bucket="inv", name="k%05d" % i, size=i))
                for i in range(2500)]
        for f in futs:
            f.result(timeout=60)
        msgs = list(self.c.stream(NS + "ListObjectsStream",
                                  n.ListObjectsStreamRequest(bucket="inv"),
                                  n.ListObjectsStreamResponse))
        got = [o.name for m in msgs for o in m.objects]
        self.assertEqual(got, ["k%05d" % i for i in range(2500)])
        self.assertGreater(len(msgs), 1)
        got = [o.name for m in self.c.stream(NS + "ListObjectsStream",
                                             n.ListObjectsStreamRequest(bucket="inv",
                                                                        start_after="k01000",
                                                                        limit=1200),
                                             n.ListObjectsStreamResponse) for o in m.objects]
        self.assertEqual(got, ["k%05d" % i for i in range(1001, 2201)])
        empty = list(self.c.stream(NS + "ListObjectsStream",
                                   n.ListObjectsStreamRequest(bucket="inv", prefix="zzz"),
                                   n.ListObjectsStreamResponse))
        self.assertEqual(sum(len(m.objects) for m in empty), 0)
        with self.assertRaises(grpc.RpcError) as cm:
            list(self.c.stream(NS + "ListObjectsStream",
                               n.ListObjectsStreamRequest(bucket="ghost-bucket"),
                               n.ListObjectsStreamResponse))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        # a stream cancelled half-way leaves the server serving
        it = self.c.stream(NS + "ListObjectsStream", n.ListObjectsStreamRequest(bucket="inv"),
                           n.ListObjectsStreamResponse)
        next(it)
        it.cancel()
        self.assertEqual(self.head("inv", "k00007").size, 7)

    # -- load --
    def test_1000_concurrent(self):
        n, T = self.nsp, self.types
        head = self.ch.unary_unary(NS + "HeadObject",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=T.ObjectRecord.FromString)
        put = self.ch.unary_unary(NS + "PutObject",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=n.PutObjectResponse.FromString)
        self.put("data", "hot", size=42)
        futs = [head.future(n.HeadObjectRequest(bucket="data", name="hot"), timeout=60)
                for _ in range(800)]
        futs += [put.future(n.PutObjectRequest(bucket="data", name="load/%d" % i, size=1),
                            timeout=60) for i in range(200)]
        res = [f.result() for f in futs]
        self.assertTrue(all(r.size == 42 for r in res[:800]))
        self.assertTrue(all(r.version == 1 for r in res[800:]))
        b = self.call("GetBucket", n.GetBucketRequest(bucket="data"), T.Bucket)
        self.assertGreaterEqual(b.objects, 201)

    # -- status, metrics, health --
    def test_status_metrics_health(self):
        s = self.call("GetStatus", self.adp.GetStatusRequest(), self.adp.ServerStatus)
        self.assertEqual(s.version, "0.1.0")
        self.assertTrue(s.serving)
        self.assertGreater(s.map_size, 0)
        self.assertFalse(s.tls)
        code, _ = self.code_of(self.head, "data", "never-there")
        self.assertEqual(self.d.http_get("/healthz")[0], 200)
        self.assertEqual(self.d.http_get("/readyz")[0], 200)
        self.assertEqual(self.d.http_get("/nope")[0], 404)
        st, body = self.d.http_get("/metrics")
        self.assertEqual(st, 200)
        m = re.search(r'mds_rpc_requests_total\{method="HeadObject",code="NOT_FOUND"\} (\d+)', body)
        self.assertTrue(m and int(m.group(1)) >= 1, body[:500])
        self.assertRegex(body, r'mds_rpc_latency_seconds_bucket\{method="HeadObject",le="\+Inf"\} [1-9]')
        self.assertRegex(body, r"mds_store_write_batches_total [1-9]")
        self.assertRegex(body, r"mds_store_readers_max [1-9]")
        self.assertRegex(body, r"mds_store_map_used_bytes [1-9]")


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
