"""test_retention.py - object lock end to end: a real `mds serve` driven
through mdsctl (the C client over gRPC): retention and legal hold refuse
deletes and overwrites with FAILED_PRECONDITION and a message naming the
mode and date, compliance is never shortened, governance yields to
bypass-governance, a bucket with a locked object cannot be deleted, the
retention clock is reported and can be confirmed, and the lock survives a
daemon restart.

usage: test_retention.py PATH/TO/mds PATH/TO/mdsctl
"""
import json
import os
import subprocess
import sys
import time
import unittest

import grpc

import mdsd

MDS = MDSCTL = None
NS = 10**9


class RetentionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-ret-")
        cls.d = mdsd.Daemon(MDS, cls.tmp).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.cleanup()

    def ctl(self, *args, expect=0):
        p = subprocess.run([MDSCTL, "--endpoint", self.d.endpoint] + list(args),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, expect,
                         "mdsctl %s: rc=%d\nstdout=%s\nstderr=%s" % (args, p.returncode,
                                                                     p.stdout, p.stderr))
        return p

    def j(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def test_compliance_and_bucket_delete(self):
        self.ctl("team", "create", "legal")
        self.ctl("bucket", "create", "records", "--team", "legal")
        self.ctl("object", "put", "records", "ledger-2026", "--size", "1KiB")
        r = self.j("object", "retention", "records", "ledger-2026", "compliance", "+1h")
        self.assertEqual(r["mode"], "compliance")
        until = r["retain_until_ns"]
        self.assertGreater(until, time.time() * NS + 3500 * NS)

        p = self.ctl("object", "rm", "records", "ledger-2026", expect=1)
        self.assertIn("FAILED_PRECONDITION", p.stderr)
        self.assertIn("compliance retention until", p.stderr)
        self.assertIn("ledger-2026", p.stderr)
        p = self.ctl("object", "put", "records", "ledger-2026", "--size", "1", expect=1)
        self.assertIn("cannot overwrite", p.stderr)
        # never shortened, removed or weakened, bypass or not
        self.ctl("object", "retention", "records", "ledger-2026", "compliance", "+30m",
                 "bypass-governance", expect=1)
        self.ctl("object", "retention", "records", "ledger-2026", "none", "bypass-governance",
                 expect=1)
        self.ctl("object", "retention", "records", "ledger-2026", "governance", "+2h", expect=1)
        # extended: fine, and read back
        self.j("object", "retention", "records", "ledger-2026", "compliance", "+2h")
        g = self.j("object", "retention", "records", "ledger-2026")
        self.assertGreater(g["retain_until_ns"], until)
        # the bucket holds a locked object: it cannot be deleted
        p = self.ctl("bucket", "rm", "records", expect=1)
        self.assertIn("FAILED_PRECONDITION", p.stderr)
        # the head still shows the object, version 1
        self.assertEqual(self.j("object", "head", "records", "ledger-2026")["version"], 1)

    def test_governance_bypass_and_legal_hold(self):
        self.ctl("team", "create", "ops")
        self.ctl("bucket", "create", "ckpt", "--team", "ops")
        self.ctl("object", "put", "ckpt", "step-100", "--size", "10MiB")
        self.j("object", "retention", "ckpt", "step-100", "governance", "+1d")
        p = self.ctl("object", "rm", "ckpt", "step-100", expect=1)
        self.assertIn("governance retention until", p.stderr)
        # shortening needs the bypass
        self.ctl("object", "retention", "ckpt", "step-100", "governance", "+1h", expect=1)
        self.j("object", "retention", "ckpt", "step-100", "governance", "+1h",
               "bypass-governance")
        # legal hold is independent and has no bypass
        h = self.j("object", "legal-hold", "ckpt", "step-100", "on")
        self.assertTrue(h["legal_hold"])
        self.j("object", "retention", "ckpt", "step-100", "none", "bypass-governance")
        self.assertEqual(self.j("object", "retention", "ckpt", "step-100")["mode"], "none")
        p = self.ctl("object", "rm", "ckpt", "step-100", expect=1)
        self.assertIn("legal hold", p.stderr)
        self.assertFalse(self.j("object", "legal-hold", "ckpt", "step-100", "off")["legal_hold"])
        self.ctl("object", "rm", "ckpt", "step-100")
        self.ctl("bucket", "rm", "ckpt")

    def test_clock_and_restart(self):
        k = self.j("object", "retention-clock")
        self.assertFalse(k["suspect"])
        self.assertEqual(k["tolerance_ns"], 300 * NS)
        self.assertLess(abs(k["effective_ns"] - time.time() * NS), 60 * NS)
        # confirming with a time far from the server's is refused
        p = self.ctl("object", "retention-clock", "confirm", "2001-01-01T00:00:00Z", expect=1)
        self.assertIn("FAILED_PRECONDITION", p.stderr)
        k = self.j("object", "retention-clock", "confirm")
        self.assertFalse(k["suspect"])
        self.assertIn("state:      ok", self.ctl("object", "retention-clock").stdout)

        self.ctl("team", "create", "keep")
        self.ctl("bucket", "create", "vault", "--team", "keep")
        self.ctl("object", "put", "vault", "doc", "--size", "1")
        self.j("object", "legal-hold", "vault", "doc", "on")
        self.j("object", "retention", "vault", "doc", "compliance", "+1h")
        # a short restart: the lock is on disk, the clock is not suspect
        self.d.stop()
        self.d.start()
        self.assertTrue(self.j("object", "legal-hold", "vault", "doc")["legal_hold"])
        self.assertEqual(self.j("object", "retention", "vault", "doc")["mode"], "compliance")
        self.ctl("object", "rm", "vault", "doc", expect=1)
        self.assertFalse(self.j("object", "retention-clock")["suspect"])

    def test_usage_errors(self):
        self.ctl("object", "retention", "b", "n", "forever", "+1d", expect=2)
        self.ctl("object", "retention", "b", "n", "compliance", "tomorrow", expect=2)
        self.ctl("object", "legal-hold", "b", "n", "maybe", expect=2)
        self.ctl("object", "retention-clock", "reset", expect=2)


class RetentionGrpcTest(unittest.TestCase):
    """The lock fields of PutObject / DeleteObject through Python grpcio."""

    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-retg-")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(os.path.join(cls.tmp, "py"))
        cls.d = mdsd.Daemon(MDS, cls.tmp).start()
        cls.ch = grpc.insecure_channel(cls.d.endpoint)
        subprocess.run([MDSCTL, "--endpoint", cls.d.endpoint, "team", "create", "g"], check=True,
                       capture_output=True)
        subprocess.run([MDSCTL, "--endpoint", cls.d.endpoint, "bucket", "create", "gbkt", "--team",
                        "g"], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.d.stop()
        cls.cleanup()

    def call(self, method, req, resp_cls):
        f = self.ch.unary_unary("/mds.v1.Namespace/" + method,
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_cls.FromString)
        return f(req, timeout=10)

    def put(self, name, **kw):
        return self.call("PutObject", self.nsp.PutObjectRequest(bucket="gbkt", name=name, size=1, **kw),
                         self.nsp.PutObjectResponse)

    def delete(self, name, **kw):
        return self.call("DeleteObject", self.nsp.DeleteObjectRequest(bucket="gbkt", name=name, **kw),
                         self.nsp.DeleteObjectResponse)

    def refused(self, fn, *a, **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*a, **kw)
        return cm.exception

    def test_put_with_lock_and_bypass(self):
        soon = int(time.time() * NS) + 3600 * NS
        self.put("c", lock_mode=self.nsp.RETENTION_MODE_COMPLIANCE, lock_retain_until_ns=soon)
        r = self.call("GetObjectRetention", self.nsp.GetObjectRetentionRequest(bucket="gbkt", name="c"),
                      self.nsp.ObjectRetention)
        self.assertEqual((r.mode, r.retain_until_ns), (self.nsp.RETENTION_MODE_COMPLIANCE, soon))
        e = self.refused(self.delete, "c", bypass_governance_retention=True)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("compliance retention until", e.details())
        e = self.refused(self.put, "c", bypass_governance_retention=True)
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)

        self.put("g1", lock_mode=self.nsp.RETENTION_MODE_GOVERNANCE, lock_retain_until_ns=soon)
        e = self.refused(self.delete, "g1")
        self.assertIn("bypass-governance not asked", e.details())
        self.assertEqual(self.delete("g1", bypass_governance_retention=True).version, 1)

        self.put("h", legal_hold=True)
        e = self.refused(self.delete, "h", bypass_governance_retention=True)
        self.assertIn("legal hold", e.details())
        # invalid lock fields are INVALID_ARGUMENT, naming the problem
        e = self.refused(self.put, "x", lock_mode=self.nsp.RETENTION_MODE_GOVERNANCE)
        self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        e = self.refused(self.put, "x", lock_mode=self.nsp.RETENTION_MODE_GOVERNANCE,
                         lock_retain_until_ns=int(time.time() * NS) - NS)
        self.assertIn("not in the future", e.details())


if __name__ == "__main__":
    MDS, MDSCTL = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    unittest.main(verbosity=2)
