"""test_feed_follow.py - the publisher side of federation through a real
`mds serve`: follow streams (every leaf once, in order; checkpoints that
verify with the independent Python verifier; consistency proofs that
chain; heartbeats on an idle stream; SIGTERM ends a parked stream within
the grace period), GetSnapshot (manifest signature, digest, compact range,
state equal to a replay of the log), leaf retention and compaction
(GetEntries FAILED_PRECONDITION naming the first retained leaf,
Subscribe's FeedCompacted, also as the last event of a stream that
compaction overtook; proofs still answerable), and the publisher's
/metrics.

usage: test_feed_follow.py PATH/TO/mds
"""
import base64
import hashlib
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import unittest

import grpc

import mdsd

MDS = None
ORIGIN = "island-f.example.org/feed"
AD, NS, FD = "/mds.v1.Admin/", "/mds.v1.Namespace/", "/mds.v1.Feed/"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_verify_note as fv  # noqa: E402
from test_feed import decode_leaf, load_feed_proto  # noqa: E402

OBJECT_KINDS = {5, 6, 23, 30, 31, 32, 33, 34, 36, 40, 43, 70, 71}


def keys(data, *args):
    p = subprocess.run([MDS, "keys"] + list(args) + ["--data", data],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("mds keys %s: %s" % (args, p.stderr))
    return p.stdout


def replay(leaves):
    """The live state after applying leaf encodings in order (absolute state:
    a record sets the key, a tombstone removes it)."""
    teams, buckets, objects = {}, {}, {}
    for b in leaves:
        d = decode_leaf(b)
        k = d["kind"]
        if k in (1, 2):
            if d["state"] == 1:
                teams[d["team"]] = d["record"]
            elif d["state"] == 0:
                teams.pop(d["team"], None)
        elif k in (3, 4):
            if d["state"] == 1:
                buckets[d["bucket"]] = (d["team"], d["record"])
            elif d["state"] == 0:
                buckets.pop(d["bucket"], None)
        elif k in OBJECT_KINDS and d["name"] and d["state"] in (0, 1):
            key = (d["bucket"], d["name"])
            if d["state"] == 1:
                objects[key] = (d["key_version"], d["record"])
            else:
                objects.pop(key, None)
    return teams, buckets, objects


def fold_compact(range_hashes):
    """The root from a compact range (largest subtree first): fold right to left."""
    if not range_hashes:
        return hashlib.sha256(b"").digest()
    acc = range_hashes[-1]
    for h in reversed(range_hashes[:-1]):
        acc = fv.node_hash(h, acc)
    return acc


class Island:
    def __init__(self, tmp, name, extra):
        self.tmp = os.path.join(tmp, name)
        os.makedirs(self.tmp)
        self.data = os.path.join(self.tmp, "data")
        self.vkey = keys(self.data, "init", "--name", ORIGIN).strip()
        self.extra = ["--feed-cadence-ms", "20", "--feed-heartbeat-ms", "300",
                      "--grace-ms", "5000"] + extra
        self.start()

    def start(self):
        self.d = mdsd.Daemon(MDS, self.tmp, data=self.data, extra=self.extra).start()
        self.ch = grpc.insecure_channel(self.d.endpoint)

    def stop(self):
        self.ch.close()
        self.d.stop()


class FeedFollowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-feedf-")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(os.path.join(cls.tmp, "py"))
        cls.fp = load_feed_proto(os.path.join(cls.tmp, "py"))
        cls.a = Island(cls.tmp, "a", [])
        cls.b = Island(cls.tmp, "b", ["--feed-retain", "0", "--feed-retain-leaves", "20",
                                      "--feed-compact-every", "100ms"])

    @classmethod
    def tearDownClass(cls):
        for i in (cls.a, cls.b):
            if i.d.proc:
                i.stop()
        cls.cleanup()

    # -- helpers --
    def c(self, isl):
        return mdsd.Client(isl.ch, self.nsp, self.adp)

    def verified(self, isl, cp):
        text, _ = fv.open_note(cp.note.decode(), [isl.vkey])
        origin, size, root = fv.parse_checkpoint(text)
        self.assertEqual(origin, ORIGIN)
        self.assertEqual((size, root), (cp.size, cp.root))
        return size, root

    def checkpoint(self, isl, want=1, timeout=5):
        t0 = time.time()
        while True:
            try:
                cp = self.c(isl).unary(FD + "GetCheckpoint", self.fp.GetCheckpointRequest(),
                                       self.fp.FeedCheckpoint)
                if cp.size >= want:
                    return cp
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            self.assertLess(time.time() - t0, timeout, "no checkpoint of size %d" % want)
            time.sleep(0.02)

    def leaves(self, isl, start, end):
        out = []
        while start < end:
            r = self.c(isl).unary(FD + "GetEntries",
                                  self.fp.GetEntriesRequest(start=start, end=end),
                                  self.fp.FeedEntries)
            out += [e.leaf for e in r.entries]
            start += len(r.entries)
        return out

    def setup_ns(self, isl, team, bucket):
        c = self.c(isl)
        c.unary(AD + "CreateTeam", self.adp.CreateTeamRequest(team=team), self.types.Team)
        c.unary(NS + "CreateBucket", self.nsp.CreateBucketRequest(bucket=bucket, team=team),
                self.types.Bucket)

    def put(self, isl, bucket, name, size=1):
        self.c(isl).unary(NS + "PutObject",
                          self.nsp.PutObjectRequest(bucket=bucket, name=name, size=size),
                          self.nsp.PutObjectResponse)

    def delete(self, isl, bucket, name):
        self.c(isl).unary(NS + "DeleteObject",
                          self.nsp.DeleteObjectRequest(bucket=bucket, name=name),
                          self.nsp.DeleteObjectResponse)

    def snapshot(self, isl):
        chunks = list(self.c(isl).stream(FD + "GetSnapshot", self.fp.GetSnapshotRequest(),
                                         self.fp.SnapshotChunk))
        self.assertTrue(chunks[-1].HasField("manifest"))
        for ch in chunks[:-1]:
            self.assertFalse(ch.HasField("manifest"))
        entries = [e for ch in chunks for e in ch.entries]
        return entries, chunks[-1].manifest

    def check_manifest(self, isl, entries, m):
        """Independent checks of a snapshot manifest; returns the note's lines."""
        text, signers = fv.open_note(m.note.decode(), [isl.vkey])
        self.assertEqual(signers, [ORIGIN])
        lines = text.split("\n")
        self.assertEqual(lines[0], ORIGIN)
        self.assertEqual(lines[1], "snapshot")
        with self.assertRaises(Exception):
            fv.parse_checkpoint(text)        # never mistaken for a checkpoint
        self.assertEqual(int(lines[2]), m.size)
        self.assertEqual(base64.b64decode(lines[3]), m.root)
        self.assertEqual(int(lines[4]), m.entries)
        self.assertEqual(base64.b64decode(lines[5]), m.digest)
        self.assertTrue(lines[6].startswith("timestamp "))
        self.assertEqual(len(entries), m.entries)
        h = hashlib.sha256()
        for e in entries:
            h.update(struct.pack(">I", len(e)) + e)
        self.assertEqual(h.digest(), m.digest)
        self.assertEqual(len(m.compact_range), bin(m.size).count("1"))
        self.assertEqual(fold_compact(list(m.compact_range)), m.root)
        return lines

    # -- tests --
    def test_1_follow_stream(self):
        isl = self.a
        self.setup_ns(isl, "ml", "data")
        cp0 = self.checkpoint(isl, 2)
        s0, r0 = self.verified(isl, cp0)
        stream = self.c(isl).stream(FD + "Subscribe",
                                    self.fp.SubscribeRequest(origin=ORIGIN, have_size=s0,
                                                             have_root=r0, follow=True),
                                    self.fp.SubscribeEvent, timeout=60)
        events = []

        def reader():
            try:
                for ev in stream:
                    events.append(ev)
            except grpc.RpcError as e:
                events.append(e)
        th = threading.Thread(target=reader)
        th.start()
        n = 60
        for i in range(n):
            self.put(isl, "data", "f/%03d" % i, i)
            if i % 20 == 0:
                time.sleep(0.05)
        self.delete(isl, "data", "f/000")
        want = s0 + n + 1
        # every leaf arrives once, in order; checkpoints chain
        t0 = time.time()
        size, root, got, heartbeats = s0, r0, [], 0
        i = 0
        while True:
            while i < len(events):
                ev = events[i]
                i += 1
                self.assertNotIsInstance(ev, grpc.RpcError)
                if ev.HasField("checkpoint"):
                    # all entries of the previous checkpoint came first
                    self.assertEqual(s0 + len(got), size)
                    ns, nr = self.verified(isl, ev.checkpoint)
                    self.assertGreaterEqual(ns, size)
                    self.assertTrue(fv.verify_consistency(size, ns, root, nr,
                                                          list(ev.consistency)))
                    if ns == size:
                        self.assertTrue(ev.heartbeat)
                        heartbeats += 1
                    size, root = ns, nr
                for e in ev.entries:
                    self.assertEqual(e.seq, s0 + len(got))
                    got.append(e.leaf)
            if s0 + len(got) >= want and s0 + len(got) == size:
                break
            self.assertLess(time.time() - t0, 10, "follow stream stalled at %d of %d" %
                            (s0 + len(got), want))
            time.sleep(0.01)
        prefix = self.leaves(isl, 0, s0)
        self.assertEqual(fv.mth([fv.leaf_hash(x) for x in prefix + got]), root)
        names = [decode_leaf(x)["name"] for x in got]
        self.assertEqual(names[:n], [b"f/%03d" % j for j in range(n)])
        # idle: heartbeats keep coming (same size, new signature)
        hb0 = heartbeats
        t0 = time.time()
        while heartbeats < hb0 + 2:
            while i < len(events):
                ev = events[i]
                i += 1
                if ev.HasField("checkpoint"):
                    ns, nr = self.verified(isl, ev.checkpoint)
                    self.assertEqual((ns, nr), (size, root))
                    self.assertTrue(ev.heartbeat)
                    self.assertEqual(len(ev.entries), 0)
                    heartbeats += 1
            self.assertLess(time.time() - t0, 5, "no heartbeat on an idle follow stream")
            time.sleep(0.02)
        _, metrics = isl.d.http_get("/metrics")
        self.assertRegex(metrics, r"(?m)^mds_feed_follow_streams 1$")
        stream.cancel()
        th.join(5)
        self.assertFalse(th.is_alive())
        t0 = time.time()
        while True:
            _, metrics = isl.d.http_get("/metrics")
            if re.search(r"(?m)^mds_feed_follow_streams 0$", metrics):
                break
            self.assertLess(time.time() - t0, 5, "cancelled follow stream still counted")
            time.sleep(0.02)

    def test_2_snapshot_equals_replay(self):
        isl = self.a
        self.setup_ns(isl, "cv", "imgs")
        for i in range(30):
            self.put(isl, "imgs", "i/%02d" % i, 100 + i)
        self.put(isl, "imgs", "i/05", 7)          # overwrite: version 2
        self.delete(isl, "imgs", "i/07")
        self.put(isl, "data", "x" * 1024)          # longest name
        entries, m = self.snapshot(isl)
        self.check_manifest(isl, entries, m)
        self.assertGreater(m.size, 0)
        # the root at S is the log's
        leaves = self.leaves(isl, 0, m.size)
        self.assertEqual(fv.mth([fv.leaf_hash(x) for x in leaves]), m.root)
        # state equals the replay of the log to S
        teams, buckets, objects = replay(leaves)
        st, sb, so = {}, {}, {}
        kinds = []
        for e in entries:
            d = decode_leaf(e)
            self.assertEqual((d["seq"], d["state"], d["origin"]), (m.size, 1, ORIGIN.encode()))
            kinds.append(d["kind"])
            if d["kind"] == 1:
                st[d["team"]] = d["record"]
            elif d["kind"] == 3:
                sb[d["bucket"]] = (d["team"], d["record"])
            else:
                self.assertEqual(d["kind"], 5)
                so[(d["bucket"], d["name"])] = (d["key_version"], d["record"])
        self.assertEqual(kinds, sorted(kinds))    # teams, buckets, then objects
        self.assertEqual(st, teams)
        self.assertEqual(sb, buckets)
        self.assertEqual(so, objects)
        self.assertEqual(so[(b"imgs", b"i/05")][0], 2)
        self.assertNotIn((b"imgs", b"i/07"), so)
        self.assertIn((b"data", b"x" * 1024), so)
        self.assertEqual(sb[b"imgs"][0], b"cv")

    def test_3_compaction(self):
        isl = self.b
        self.setup_ns(isl, "tb", "bkt")
        for i in range(80):
            self.put(isl, "bkt", "k/%02d" % i)
        cp = self.checkpoint(isl, 82)
        size, root = self.verified(isl, cp)
        # wait for the compactor: at least 20 newest leaves kept
        t0 = time.time()
        while True:
            try:
                self.c(isl).unary(FD + "GetEntries", self.fp.GetEntriesRequest(start=0, end=1),
                                  self.fp.FeedEntries)
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
                self.assertIn("compacted", e.details())
                self.assertIn("GetSnapshot", e.details())
                break
            self.assertLess(time.time() - t0, 10, "no compaction")
            time.sleep(0.05)
        t0 = time.time()
        while True:
            _, metrics = isl.d.http_get("/metrics")
            first = int(re.search(r"(?m)^mds_feed_compaction_first_retained (\d+)$",
                                  metrics).group(1))
            if first == size - 20:
                break
            self.assertLess(time.time() - t0, 10, "compaction stopped at %d" % first)
            time.sleep(0.05)
        removed = int(re.search(r"(?m)^mds_feed_compaction_leaves_removed_total (\d+)$",
                                metrics).group(1))
        self.assertEqual(removed, first)
        self.assertIn("first retained leaf is %d" % first, self.entries_error(isl, first - 1))
        # retained leaves are served and still fold (with the proofs) to the root
        kept = self.leaves(isl, first, size)
        self.assertEqual(len(kept), 20)
        r = self.c(isl).unary(FD + "GetInclusionProof",
                              self.fp.GetInclusionProofRequest(seq=first + 3, size=size),
                              self.fp.InclusionProof)
        self.assertTrue(fv.verify_inclusion(first + 3, size, fv.leaf_hash(kept[3]),
                                            list(r.hashes), root))
        # consistency proofs for any sizes, compacted ones included
        for a in (1, 5, first - 1, first):
            r = self.c(isl).unary(FD + "GetConsistencyProof",
                                  self.fp.GetConsistencyProofRequest(from_size=a, to_size=size),
                                  self.fp.ConsistencyProof)
            self.assertTrue(fv.verify_consistency(a, size, r.from_root, root, list(r.hashes)))
        # Subscribe below the first retained leaf: FeedCompacted, the only event
        r5 = self.c(isl).unary(FD + "GetConsistencyProof",
                               self.fp.GetConsistencyProofRequest(from_size=5, to_size=size),
                               self.fp.ConsistencyProof).from_root
        evs = list(self.c(isl).stream(FD + "Subscribe",
                                      self.fp.SubscribeRequest(have_size=5, have_root=r5,
                                                               follow=True),
                                      self.fp.SubscribeEvent, timeout=10))
        self.assertEqual(len(evs), 1)
        self.assertTrue(evs[0].HasField("compacted"))
        self.assertEqual(evs[0].compacted.first_retained, first)
        self.assertGreaterEqual(evs[0].compacted.tree_size, size)
        # bootstrap: the snapshot, then follow from its size
        entries, m = self.snapshot(isl)
        self.check_manifest(isl, entries, m)
        names = sorted(decode_leaf(e)["name"] for e in entries if decode_leaf(e)["kind"] == 5)
        self.assertEqual(names, [b"k/%02d" % i for i in range(80)])
        evs = list(self.c(isl).stream(FD + "Subscribe",
                                      self.fp.SubscribeRequest(have_size=m.size, have_root=m.root),
                                      self.fp.SubscribeEvent, timeout=10))
        self.assertTrue(evs[0].HasField("checkpoint"))

    def entries_error(self, isl, start):
        with self.assertRaises(grpc.RpcError) as cm:
            self.c(isl).unary(FD + "GetEntries", self.fp.GetEntriesRequest(start=start, end=0),
                              self.fp.FeedEntries)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        return cm.exception.details()

    def test_3b_compaction_overtakes_a_slow_stream(self):
        # A Subscribe stream whose reader stalls while the compactor drops
        # the leaves it has not been sent yet must end with FeedCompacted
        # (after the entries it did get, contiguous from its position), not
        # with a gap or an error.
        isl = Island(self.tmp, "slow", ["--feed-retain", "3s", "--feed-retain-leaves", "10",
                                        "--feed-compact-every", "50ms"])
        try:
            self.setup_ns(isl, "ts", "slow")
            put = isl.ch.unary_unary(NS + "PutObject",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=self.nsp.PutObjectResponse.FromString)
            n = 3000
            for i in range(0, n, 100):
                futs = [put.future(self.nsp.PutObjectRequest(bucket="slow", name="s/%05d" % j,
                                                             size=1), timeout=30)
                        for j in range(i, i + 100)]
                for f in futs:
                    f.result()
            size = self.checkpoint(isl, n + 2).size
            # no BDP probing: the stream's window stays at 64 KiB, so the
            # server cannot run ahead of a reader that stops reading
            ch = grpc.insecure_channel(isl.d.endpoint, options=[("grpc.http2.bdp_probe", 0)])
            try:
                sub = ch.unary_stream(FD + "Subscribe",
                                      request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=self.fp.SubscribeEvent.FromString)
                stream = sub(self.fp.SubscribeRequest(have_size=0), timeout=60)
                first = next(stream)
                self.assertTrue(first.HasField("checkpoint"))
                self.assertGreaterEqual(first.checkpoint.size, size)
                # stall until the compactor has passed leaf 2500
                t0 = time.time()
                while True:
                    try:
                        self.c(isl).unary(FD + "GetEntries",
                                          self.fp.GetEntriesRequest(start=2500, end=2501),
                                          self.fp.FeedEntries)
                    except grpc.RpcError as e:
                        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
                        break
                    self.assertLess(time.time() - t0, 15, "no compaction past leaf 2500")
                    time.sleep(0.05)
                got, last = 0, None
                for ev in stream:
                    last = ev
                    for e in ev.entries:
                        self.assertEqual(e.seq, got)      # contiguous from 0
                        got += 1
            finally:
                ch.close()
            self.assertIsNotNone(last)
            self.assertTrue(last.HasField("compacted"), "the stream ended with %s" % last)
            self.assertLess(got, size, "every entry was sent: the stream was not overtaken")
            self.assertGreater(last.compacted.first_retained, got)
            self.assertGreaterEqual(last.compacted.tree_size, size)
        finally:
            isl.stop()

    def test_4_metrics(self):
        isl = self.a
        _, m = isl.d.http_get("/metrics")
        cp = self.checkpoint(isl)
        for name in ("mds_feed_log_size", "mds_feed_checkpoint_size",
                     "mds_feed_checkpoint_timestamp_seconds", "mds_feed_notes_signed_total",
                     "mds_feed_sign_failed_total", "mds_feed_compaction_runs_total",
                     "mds_feed_compaction_leaves_removed_total",
                     "mds_feed_compaction_first_retained", "mds_feed_follow_streams"):
            self.assertRegex(m, r"(?m)^%s [0-9.e+]+$" % name)
        signed = float(re.search(r"(?m)^mds_feed_notes_signed_total (\S+)$", m).group(1))
        self.assertGreater(signed, 0)
        ts = float(re.search(r"(?m)^mds_feed_checkpoint_timestamp_seconds (\S+)$", m).group(1))
        self.assertLess(abs(ts - time.time()), 30)
        size = int(re.search(r"(?m)^mds_feed_checkpoint_size (\d+)$", m).group(1))
        self.assertLessEqual(size, cp.size)

    def test_5_sigterm_ends_parked_follow_stream(self):
        isl = self.a
        cp = self.checkpoint(isl)
        stream = self.c(isl).stream(FD + "Subscribe",
                                    self.fp.SubscribeRequest(have_size=cp.size, have_root=cp.root,
                                                             follow=True),
                                    self.fp.SubscribeEvent, timeout=60)
        first = next(stream)
        self.assertTrue(first.heartbeat)
        done = {}

        def drain():
            try:
                for _ in stream:
                    pass
                done["code"] = grpc.StatusCode.OK
            except grpc.RpcError as e:
                done["code"] = e.code()
            done["t"] = time.time()
        th = threading.Thread(target=drain)
        th.start()
        time.sleep(0.2)   # parked between heartbeats
        t0 = time.time()
        isl.d.signal(signal.SIGTERM)
        self.assertEqual(isl.d.wait(10), 0)
        th.join(5)
        self.assertIn("code", done)
        self.assertEqual(done["code"], grpc.StatusCode.UNAVAILABLE)
        self.assertLess(done["t"] - t0, 2.5, "stream ended after %.2fs" % (done["t"] - t0))
        self.assertLess(time.time() - t0, 4.0, "daemon waited for the grace period")
        isl.d.proc = None


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1], verbosity=2)
