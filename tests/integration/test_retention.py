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


if __name__ == "__main__":
    MDS, MDSCTL = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    unittest.main(verbosity=2)
