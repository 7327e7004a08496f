"""test_feed.py - the signed change feed through a real `mds serve`: keys
from `mds keys`, checkpoints verified by the independent Python verifier
(feed_verify_note.py: C2SP signed notes, RFC 9162 trees and proofs written
from the specifications), entries, inclusion receipts, consistency proofs,
Subscribe, heartbeats, key rotation while serving, and a restart.

usage: test_feed.py PATH/TO/mds
"""
import os
import struct
import subprocess
import sys
import time
import unittest

import grpc

import mdsd

MDS = None
ORIGIN = "island-a.example.org/feed"
AD, NS, FD = "/mds.v1.Admin/", "/mds.v1.Namespace/", "/mds.v1.Feed/"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_verify_note as fv  # noqa: E402


def load_feed_proto(outdir):
    inc = os.path.join(mdsd.SRC, "include")
    subprocess.run(["protoc", "--proto_path=" + inc, "--python_out=" + outdir,
                    "mds/v1/feed.proto"], check=True, cwd=inc)
    from mds.v1 import feed_pb2  # noqa: E402
    return feed_pb2


def decode_leaf(b):
    """The leaf encoding of docs/federation.md, version 1."""
    version, kind, seq, t, kv = struct.unpack(">BBQQQ", b[:26])
    p, fields = 26, []
    for _ in range(8):
        (n,) = struct.unpack(">I", b[p:p + 4])
        fields.append(b[p + 4:p + 4 + n])
        p += 4 + n
    state = b[p]
    p += 1
    record = None
    if state == 1:
        (n,) = struct.unpack(">I", b[p:p + 4])
        record = b[p + 4:p + 4 + n]
        p += 4 + n
    assert p == len(b), "trailing bytes in leaf %d" % seq
    names = ["origin", "team", "bucket", "name", "scope", "principal", "reservation", "extra"]
    d = dict(zip(names, fields))
    d.update(version=version, kind=kind, seq=seq, time_ns=t, key_version=kv,
             state=state, record=record)
    return d


class FeedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-feed-")
        cls.data = os.path.join(cls.tmp, "data")
        out = cls.keys("init", "--name", ORIGIN)
        cls.vkey = out.strip()
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(os.path.join(cls.tmp, "py"))
        cls.fp = load_feed_proto(os.path.join(cls.tmp, "py"))
        cls.start_daemon()

    @classmethod
    def start_daemon(cls):
        cls.d = mdsd.Daemon(MDS, cls.tmp, data=cls.data,
                            extra=["--feed-cadence-ms", "20",
                                   "--feed-heartbeat-ms", "300"]).start()
        cls.ch = grpc.insecure_channel(cls.d.endpoint)
        cls.c = mdsd.Client(cls.ch, cls.nsp, cls.adp)

    @classmethod
    def stop_daemon(cls):
        cls.ch.close()
        cls.d.stop()

    @classmethod
    def tearDownClass(cls):
        cls.stop_daemon()
        cls.cleanup()

    @classmethod
    def keys(cls, *args):
        p = subprocess.run([MDS, "keys"] + list(args) + ["--data", cls.data],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError("mds keys %s: %s" % (args, p.stderr))
        return p.stdout

    # -- helpers --
    def checkpoint(self):
        return self.c.unary(FD + "GetCheckpoint", self.fp.GetCheckpointRequest(),
                            self.fp.FeedCheckpoint)

    def wait_size(self, size, timeout=5):
        t0 = time.time()
        while True:
            try:
                cp = self.checkpoint()
                if cp.size >= size:
                    return cp
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            if time.time() - t0 > timeout:
                self.fail("no checkpoint of size %d within %ds" % (size, timeout))
            time.sleep(0.02)

    def verified(self, cp, vkeys):
        """Check the note with the Python verifier; return (size, root, signers)."""
        text, signers = fv.open_note(cp.note.decode(), vkeys)
        origin, size, root = fv.parse_checkpoint(text)
        self.assertEqual(origin, ORIGIN)
        self.assertEqual((size, root), (cp.size, cp.root))
        return size, root, signers

    def leaves(self, start=0, end=0):
        out = []
        while True:
            r = self.c.unary(FD + "GetEntries", self.fp.GetEntriesRequest(start=start, end=end),
                             self.fp.FeedEntries)
            out += [e.leaf for e in r.entries]
            start += len(r.entries)
            if not r.entries or (end and start >= end) or start >= r.tree_size:
                return out

    def size_now(self):
        r = self.c.unary(FD + "GetEntries", self.fp.GetEntriesRequest(start=0, end=1),
                         self.fp.FeedEntries)
        return r.tree_size

    def mutate(self, i):
        self.c.unary(NS + "PutObject", self.nsp.PutObjectRequest(bucket="data",
                                                                  name="o/%d" % i, size=i),
                     self.nsp.PutObjectResponse)

    # -- tests (run in name order on one daemon) --
    def test_1_checkpoints_entries_and_receipts(self):
        base = self.size_now()
        self.c.unary(AD + "CreateTeam", self.adp.CreateTeamRequest(team="ml"), self.types.Team)
        self.c.unary(NS + "CreateBucket", self.nsp.CreateBucketRequest(bucket="data", team="ml"),
                     self.types.Bucket)
        for i in range(10):
            self.mutate(i)
        # a refused mutation appends nothing
        with self.assertRaises(grpc.RpcError):
            self.c.unary(AD + "CreateTeam", self.adp.CreateTeamRequest(team="ml"),
                         self.types.Team)
        self.assertEqual(self.size_now(), base + 12)
        cp = self.wait_size(base + 12)
        size, root, signers = self.verified(cp, [self.vkey])
        self.assertEqual(signers, [ORIGIN])
        leaves = self.leaves(0, size)
        self.assertEqual(len(leaves), size)
        self.assertEqual(fv.mth([fv.leaf_hash(x) for x in leaves]), root)
        d = [decode_leaf(x) for x in leaves]
        self.assertEqual([x["seq"] for x in d], list(range(size)))
        self.assertEqual(d[base]["team"], b"ml")
        self.assertEqual(d[base + 2]["name"], b"o/0")
        self.assertEqual(d[base + 2]["state"], 1)
        self.assertEqual(d[base + 2]["key_version"], 1)
        self.assertEqual(d[base + 2]["origin"], ORIGIN.encode())
        # a receipt: inclusion proof against the newest signed checkpoint
        r = self.c.unary(FD + "GetInclusionProof",
                         self.fp.GetInclusionProofRequest(seq=base + 5, size=0),
                         self.fp.InclusionProof)
        self.assertEqual(r.leaf, leaves[base + 5])
        rsize, rroot, _ = self.verified(self.fp.FeedCheckpoint(note=r.checkpoint_note,
                                                               size=r.size, root=r.root),
                                        [self.vkey])
        self.assertTrue(fv.verify_inclusion(base + 5, rsize, fv.leaf_hash(r.leaf),
                                            list(r.hashes), rroot))
        bad = list(r.hashes)
        bad[0] = bytes(32)
        self.assertFalse(fv.verify_inclusion(base + 5, rsize, fv.leaf_hash(r.leaf), bad, rroot))
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.unary(FD + "GetInclusionProof",
                         self.fp.GetInclusionProofRequest(seq=size + 100, size=size + 100),
                         self.fp.InclusionProof)
        self.assertIn(cm.exception.code(), (grpc.StatusCode.UNAVAILABLE,
                                            grpc.StatusCode.INVALID_ARGUMENT))

    def test_2_consistency_subscribe_and_heartbeat(self):
        old = self.wait_size(1)
        osize, oroot, _ = self.verified(old, [self.vkey])
        for i in range(100, 130):
            self.mutate(i)
        new = self.wait_size(osize + 30)
        nsize, nroot, _ = self.verified(new, [self.vkey])
        r = self.c.unary(FD + "GetConsistencyProof",
                         self.fp.GetConsistencyProofRequest(from_size=osize, to_size=nsize),
                         self.fp.ConsistencyProof)
        self.assertTrue(fv.verify_consistency(osize, nsize, oroot, nroot, list(r.hashes)))
        # Subscribe from the old head: checkpoint + proof, then the entries
        evs = list(self.c.stream(FD + "Subscribe",
                                 self.fp.SubscribeRequest(origin=ORIGIN, have_size=osize,
                                                          have_root=oroot),
                                 self.fp.SubscribeEvent))
        first = evs[0]
        ssize, sroot, _ = self.verified(first.checkpoint, [self.vkey])
        self.assertGreaterEqual(ssize, nsize)
        self.assertTrue(fv.verify_consistency(osize, ssize, oroot, sroot,
                                              list(first.consistency)))
        got = [e for ev in evs[1:] for e in ev.entries]
        self.assertEqual([e.seq for e in got], list(range(osize, ssize)))
        all_leaves = self.leaves(0, osize) + [e.leaf for e in got]
        self.assertEqual(fv.mth([fv.leaf_hash(x) for x in all_leaves]), sroot)
        # a subscriber on another history is told it forked
        with self.assertRaises(grpc.RpcError) as cm:
            list(self.c.stream(FD + "Subscribe",
                               self.fp.SubscribeRequest(have_size=osize, have_root=bytes(32)),
                               self.fp.SubscribeEvent))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        # at the head: one heartbeat event; an idle head is re-signed
        evs = list(self.c.stream(FD + "Subscribe",
                                 self.fp.SubscribeRequest(have_size=ssize, have_root=sroot),
                                 self.fp.SubscribeEvent))
        self.assertEqual(len(evs), 1)
        self.assertTrue(evs[0].heartbeat)
        note1 = self.checkpoint().note
        time.sleep(0.8)
        cp2 = self.checkpoint()
        self.assertNotEqual(cp2.note, note1)
        self.assertEqual((cp2.size, cp2.root), (ssize, sroot))
        self.verified(cp2, [self.vkey])

    def test_3_rotation_while_serving_then_restart(self):
        before = self.wait_size(1)
        out = self.keys("rotate").split()
        self.assertEqual(out[1], self.vkey)      # old key still listed (overlap)
        new_vkey = out[0]
        self.mutate(1000)
        t0 = time.time()
        while True:
            cp = self.checkpoint()
            _, _, signers = self.verified(cp, [self.vkey, new_vkey])
            if len(signers) == 2:
                break
            self.assertLess(time.time() - t0, 5, "no dual-signed checkpoint")
            time.sleep(0.02)
        # each key alone verifies: old and new subscribers both keep going
        self.verified(cp, [self.vkey])
        self.verified(cp, [new_vkey])
        bsize, broot, _ = self.verified(before, [self.vkey])
        # restart: the feed continues consistent with what was signed
        self.stop_daemon()
        self.start_daemon()
        self.mutate(1001)
        after = self.wait_size(cp.size + 1)
        asize, aroot, _ = self.verified(after, [new_vkey])
        r = self.c.unary(FD + "GetConsistencyProof",
                         self.fp.GetConsistencyProofRequest(from_size=bsize, to_size=asize),
                         self.fp.ConsistencyProof)
        self.assertTrue(fv.verify_consistency(bsize, asize, broot, aroot, list(r.hashes)))


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1], verbosity=2)
