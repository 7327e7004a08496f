"""test_mdsctl.py - mdsctl end to end against a running daemon (through the
C client), with --json output parsed here; exit codes 0/1/2 and stderr.

usage: test_mdsctl.py PATH/TO/mds PATH/TO/mdsctl
"""
import json
import os
import subprocess
import sys
import unittest

import mdsd

MDS = MDSCTL = None


class MdsctlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-ctl-")
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

    def test_walkthrough(self):
        t = self.j("team", "create", "research")
        self.assertEqual(t["name"], "research")
        self.assertEqual(t["buckets"], 0)
        b = self.j("bucket", "create", "ckpt", "--team", "research")
        self.assertEqual((b["name"], b["team"], b["objects"]), ("ckpt", "research", 0))
        o = self.j("object", "put", "ckpt", "run1/step-100.pt", "--size", "1.5GiB",
                   "--etag", '"abc"', "--content-type", "application/octet-stream",
                   "--meta", "owner=alice", "--meta", "epoch=3")
        self.assertEqual((o["size"], o["version"]), (3 << 29, 1))
        for i in range(5):
            self.ctl("object", "put", "ckpt", "run2/f%d" % i, "--size", "%dKiB" % (i + 1))
        h = self.j("object", "head", "ckpt", "run1/step-100.pt")
        self.assertEqual(h["size"], 3 << 29)
        self.assertEqual(h["etag"], '"abc"')
        self.assertEqual(h["metadata"], {"owner": "alice", "epoch": "3"})
        human = self.ctl("object", "head", "ckpt", "run1/step-100.pt").stdout
        self.assertIn("1.50 GiB", human)

        ls = self.j("ls", "ckpt")
        self.assertEqual([e["name"] for e in ls["entries"]],
                         ["run1/step-100.pt"] + ["run2/f%d" % i for i in range(5)])
        self.assertFalse(ls["truncated"])
        ls = self.j("ls", "ckpt", "--delimiter", "/")
        self.assertEqual([(e.get("prefix"), e.get("is_prefix")) for e in ls["entries"]],
                         [("run1/", True), ("run2/", True)])
        ls = self.j("ls", "ckpt/run2/", "--max-keys", "2")
        self.assertEqual([e["name"] for e in ls["entries"]], ["run2/f0", "run2/f1"])
        self.assertTrue(ls["truncated"])
        self.assertTrue(ls["next_continuation_token"])
        ls = self.j("ls", "ckpt/run2/", "--start-after", "run2/f2")
        self.assertEqual([e["name"] for e in ls["entries"]], ["run2/f3", "run2/f4"])
        ls = self.j("ls", "ckpt", "--all")
        self.assertEqual(ls["count"], 6)
        ls = self.j("ls", "ckpt", "--all", "--delimiter", "/")
        self.assertEqual(ls["count"], 2)
        human = self.ctl("ls", "ckpt/run2/").stdout
        self.assertIn("5.00 KiB", human)
        self.assertIn("run2/f4", human)

        teams = self.j("team", "ls")["teams"]
        r = [t for t in teams if t["name"] == "research"][0]
        self.assertEqual((r["buckets"], r["objects"]), (1, 6))
        self.assertEqual(r["bytes"], (3 << 29) + sum((i + 1) * 1024 for i in range(5)))
        self.assertEqual(self.j("team", "show", "research")["objects"], 6)
        bl = self.j("bucket", "ls", "--team", "research")["buckets"]
        self.assertEqual([x["name"] for x in bl], ["ckpt"])
        self.assertEqual(self.j("bucket", "show", "ckpt")["objects"], 6)
        self.assertIn("ckpt", self.ctl("bucket", "ls").stdout)

        # failures: exit 1 with a message on stderr
        p = self.ctl("bucket", "rm", "ckpt", expect=1)
        self.assertIn("cannot delete bucket", p.stderr)
        p = self.ctl("object", "head", "ckpt", "nope", expect=1)
        self.assertIn("nope", p.stderr)
        p = self.ctl("object", "put", "ckpt", "run2/f0", "--size", "1", "--if-none-match", "*",
                     expect=1)
        self.assertIn("cannot put object", p.stderr)
        p = self.ctl("team", "create", "research", expect=1)
        self.assertIn("exists", p.stderr)

        d = self.j("object", "rm", "ckpt", "run2/f0")
        self.assertTrue(d["deleted"])
        self.assertEqual(self.j("bucket", "show", "ckpt")["objects"], 5)

    def test_remove(self):
        """Every remaining RPC through the C client: DeleteBucket, DeleteTeam."""
        self.ctl("team", "create", "tmpteam")
        self.ctl("bucket", "create", "tmp-bkt", "--team", "tmpteam")
        p = self.ctl("team", "rm", "tmpteam", expect=1)       # still owns a bucket
        self.assertIn("cannot delete team", p.stderr)
        self.assertTrue(self.j("bucket", "rm", "tmp-bkt")["deleted"])
        self.ctl("bucket", "show", "tmp-bkt", expect=1)
        self.assertIn("deleted team tmpteam", self.ctl("team", "rm", "tmpteam").stdout)
        p = self.ctl("team", "show", "tmpteam", expect=1)
        self.assertIn("tmpteam", p.stderr)

    def test_status(self):
        s = self.j("status")
        self.assertEqual(s["api"], "mds.v1")
        self.assertTrue(s["serving"])
        self.assertGreater(s["map_size"], 0)
        self.assertIn("version:", self.ctl("status").stdout)

    def test_usage(self):
        for args in (["frobnicate"], ["team"], ["object", "put", "b", "n"],
                     ["object", "put", "bkt", "n", "--size", "12 apples"],
                     ["ls"], ["ls", "b", "--team", "x"], ["bucket", "create", "bkt"],
                     ["--no-such-flag", "status"], ["object", "put", "b", "n", "--size", "1",
                                                    "--meta", "novalue"]):
            p = self.ctl(*args, expect=2)
            self.assertTrue(p.stderr.startswith("mdsctl: "), p.stderr)
        for cmd in ([], ["team"], ["bucket"], ["object"], ["ls"], ["status"]):
            p = self.ctl(*(cmd + ["--help"]))
            self.assertIn("usage: mdsctl", p.stdout)

    def test_unreachable(self):
        p = subprocess.run([MDSCTL, "--endpoint", "127.0.0.1:1", "--timeout", "2000", "status"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach mds", p.stderr)


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    MDSCTL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
