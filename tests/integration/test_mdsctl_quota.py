"""test_mdsctl_quota.py - `mdsctl quota` and `mdsctl usage` end to end: a
real `mds serve` on free loopback ports driven only through the mdsctl
binary (the C client), --json parsed here, human tables checked for units,
percentages and state, exit codes 0/1/2 and stderr messages.

usage: test_mdsctl_quota.py PATH/TO/mds PATH/TO/mdsctl
"""
import json
import os
import subprocess
import sys
import time
import unittest

import mdsd

MDS = MDSCTL = None
KiB, PiB = 1 << 10, 1 << 50


class MdsctlQuotaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-ctlq-")
        cls.d = mdsd.Daemon(MDS, cls.tmp).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.cleanup()

    def ctl(self, *args, expect=0):
        env = dict(os.environ, USER="alice")
        p = subprocess.run([MDSCTL, "--endpoint", self.d.endpoint] + list(args),
                           capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(p.returncode, expect,
                         "mdsctl %s: rc=%d\nstdout=%s\nstderr=%s" % (args, p.returncode,
                                                                     p.stdout, p.stderr))
        return p

    def j(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def row(self, table, scope):
        """The line of a human table whose first column is scope."""
        for line in table.splitlines():
            if line.split() and line.split()[0] == scope:
                return line
        self.fail("no row for %s in:\n%s" % (scope, table))

    def test_set_get_ls_rm_each_scope_kind(self):
        self.ctl("team", "create", "ml-research")
        self.ctl("bucket", "create", "mlr-data", "--team", "ml-research")
        # the example, verbatim
        q = self.j("quota", "set", "team/ml-research", "--max-bytes", "2PiB",
                   "--max-objects", "1e9", "--soft-bytes", "1.5PiB", "--grace", "7d")
        self.assertEqual(q["scope"], "team/ml-research")
        self.assertEqual(q["limits"], {"max_bytes": 2 * PiB, "max_objects": 10**9,
                                       "soft_bytes": 3 * PiB // 2,
                                       "grace_ns": 7 * 86400 * 10**9})
        self.assertEqual(q["state"], "ok")
        self.j("quota", "set", "bucket/mlr-data", "--max-objects", "100", "--soft-objects",
               "50", "--grace", "1d12h")
        self.j("quota", "set", "prefix/mlr-data/ckpt/", "--max-bytes", "1.5GiB")

        g = self.j("quota", "get", "bucket/mlr-data")
        self.assertEqual(g["limits"], {"max_objects": 100, "soft_objects": 50,
                                       "grace_ns": 36 * 3600 * 10**9})
        g = self.j("quota", "get", "prefix/mlr-data/ckpt/")
        self.assertEqual(g["limits"], {"max_bytes": 3 << 29, "grace_ns": 0})
        human = self.ctl("quota", "get", "team/ml-research").stdout
        self.assertIn("2.00 PiB", human)
        self.assertIn("1.50 PiB", human)
        self.assertIn("grace:         7d", human)

        scopes = [x["scope"] for x in self.j("quota", "ls")["quotas"]]
        for s in ("team/ml-research", "bucket/mlr-data", "prefix/mlr-data/ckpt/"):
            self.assertIn(s, scopes)
        table = self.ctl("quota", "ls").stdout
        self.assertIn("SCOPE", table.splitlines()[0])
        self.assertIn("1.50 GiB", self.row(table, "prefix/mlr-data/ckpt/"))

        # set replaces: only the limits given remain
        q = self.j("quota", "set", "bucket/mlr-data", "--max-bytes", "1TiB")
        self.assertEqual(q["limits"], {"max_bytes": 1 << 40, "grace_ns": 0})

        for s in ("prefix/mlr-data/ckpt/", "bucket/mlr-data", "team/ml-research"):
            self.assertTrue(self.j("quota", "rm", s)["deleted"])
            p = self.ctl("quota", "get", s, expect=1)
            self.assertIn("NOT_FOUND", p.stderr)
            p = self.ctl("quota", "rm", s, expect=1)
            self.assertIn("cannot remove quota", p.stderr)
        scopes = [x["scope"] for x in self.j("quota", "ls")["quotas"]]
        self.assertFalse([s for s in scopes if "ml" in s], scopes)

        # the audit log: who (the principal, $USER by default), old and new
        recs = self.j("quota", "audit", "bucket/mlr-data")["records"]
        self.assertEqual([r["scope"] for r in recs], ["bucket/mlr-data"] * 3)
        self.assertEqual([r["principal"] for r in recs], ["alice"] * 3)
        self.assertIsNone(recs[0]["old_limits"])
        self.assertEqual(recs[1]["old_limits"]["soft_objects"], 50)
        self.assertEqual(recs[1]["new_limits"]["max_bytes"], 1 << 40)
        self.assertTrue(recs[2]["deleted"])
        self.assertIsNone(recs[2]["new_limits"])
        self.ctl("team", "create", "aud")
        self.ctl("quota", "set", "team/aud", "--max-objects", "7", "--principal", "ops-bot")
        text = self.ctl("quota", "audit", "team/aud").stdout
        self.assertIn("ops-bot", text)
        self.assertIn("none -> max-objects=7", text)
        # a limit beyond 2^63 stays positive in JSON and in the table
        q = self.j("quota", "set", "team/aud", "--max-bytes", "15EiB")
        self.assertEqual(q["limits"]["max_bytes"], 15 << 60)
        self.assertIn("15.00 EiB", self.ctl("quota", "get", "team/aud").stdout)
        later = self.j("quota", "audit", "--after", str(recs[-1]["seq"]))["records"]
        self.assertTrue(later and all(r["seq"] > recs[-1]["seq"] for r in later))

    def test_put_refused_and_usage(self):
        self.ctl("team", "create", "vision")
        self.ctl("bucket", "create", "vis", "--team", "vision")
        self.ctl("quota", "set", "prefix/vis/runs/", "--max-bytes", "10KiB",
                 "--max-objects", "3")
        self.ctl("quota", "set", "bucket/vis", "--soft-bytes", "8KiB", "--grace", "1h")
        sizes = [4 * KiB, 4 * KiB, 2 * KiB]
        for i, s in enumerate(sizes):
            self.ctl("object", "put", "vis", "runs/f%d" % i, "--size", str(s))
        # a fourth object would pass the prefix's object limit
        p = self.ctl("object", "put", "vis", "runs/f3", "--size", "1", expect=1)
        self.assertIn("RESOURCE_EXHAUSTED", p.stderr)
        self.assertIn("prefix/vis/runs/", p.stderr)
        self.assertTrue(p.stderr.startswith("mdsctl: cannot put object"), p.stderr)
        # outside the prefix the bucket is over soft but within its grace
        self.ctl("object", "put", "vis", "other", "--size", "1KiB")

        u = self.j("usage", "prefix/vis/runs/")
        self.assertIsInstance(u["bytes"], int)
        self.assertIsInstance(u["objects"], int)
        self.assertEqual((u["bytes"], u["objects"]), (sum(sizes), 3))
        self.assertEqual(u["state"], "blocked_hard")
        self.assertEqual(u["percent"], {"max_bytes": 100.0, "max_objects": 100.0})
        u = self.j("usage", "bucket/vis")
        self.assertEqual((u["bytes"], u["objects"]), (sum(sizes) + KiB, 4))
        self.assertEqual(u["state"], "over_soft")
        self.assertGreater(u["grace_until_ns"], time.time() * 1e9)
        self.assertEqual(u["percent"]["soft_bytes"], 137.5)
        u = self.j("usage", "team/vision")        # no quota: usage only
        self.assertFalse(u["has_limits"])
        self.assertEqual((u["bytes"], u["objects"]), (sum(sizes) + KiB, 4))

        human = self.ctl("usage", "bucket/vis").stdout
        self.assertIn("state:         over soft until 20", human)
        self.assertIn("8.00 KiB 137.5%", human)
        table = self.ctl("usage").stdout
        self.assertIn("10.00 KiB 100.0%", self.row(table, "prefix/vis/runs/"))
        self.assertIn("blocked by hard", self.row(table, "prefix/vis/runs/"))
        self.assertIn("over soft until", self.row(table, "bucket/vis"))
        self.assertIn("11.00 KiB", self.row(table, "team/vision"))
        all_ = self.j("usage")["usage"]
        self.assertIn("team/vision", [x["scope"] for x in all_])
        self.assertIn("prefix/vis/runs/", [x["scope"] for x in all_])

        # a soft limit with no grace: the crossing write passes, then growth
        # is refused and the state says why
        self.ctl("bucket", "create", "vis2", "--team", "vision")
        self.ctl("quota", "set", "bucket/vis2", "--soft-objects", "1", "--grace", "0")
        self.ctl("object", "put", "vis2", "a", "--size", "1")
        self.ctl("object", "put", "vis2", "b", "--size", "1")
        p = self.ctl("object", "put", "vis2", "c", "--size", "1", expect=1)
        self.assertIn("RESOURCE_EXHAUSTED", p.stderr)
        self.assertIn("bucket/vis2", p.stderr)
        self.assertEqual(self.j("usage", "bucket/vis2")["state"], "blocked_soft")
        self.assertIn("blocked by soft (grace ended", self.ctl("usage", "bucket/vis2").stdout)
        # deleting brings it back under the soft limit
        self.ctl("object", "rm", "vis2", "b")
        self.assertEqual(self.j("usage", "bucket/vis2")["state"], "ok")

    def test_usage_errors(self):
        """Bad scopes, sizes, counts and durations: exit 2, a message that
        names the argument, and no call made."""
        cases = [
            (["quota", "set", "tean/x", "--max-bytes", "1"], "bad scope 'tean/x'"),
            (["quota", "set", "prefix/b/nodir", "--max-bytes", "1"], "bad scope"),
            (["quota", "get", "bucket/"], "bad scope"),
            (["usage", "x"], "bad scope 'x'"),
            (["quota", "set", "team/t", "--max-bytes", "2PB!"], "--max-bytes '2PB!'"),
            (["quota", "set", "team/t", "--max-objects", "1.5"], "--max-objects '1.5'"),
            (["quota", "set", "team/t", "--soft-bytes", "1", "--grace", "7y"],
             "--grace '7y'"),
            (["quota", "set", "team/t", "--soft-bytes", "1", "--grace", "7"], "--grace '7'"),
            (["quota", "set", "team/t", "--max-bytes", "1", "--grace", "1d"], "--grace"),
            (["quota", "set", "team/t", "--max-bytes", "1", "--soft-bytes", "2"],
             "above --max-bytes"),
            (["quota", "set", "team/t"], "at least one"),
            (["quota", "get", "team/t", "--max-bytes", "1"], "--max-bytes does not apply"),
            (["quota", "frob"], "unknown quota command 'frob'"),
            (["quota", "audit", "--after", "x"], "--after 'x'"),
            (["usage", "team/a", "team/b"], "at most one SCOPE"),
        ]
        for args, needle in cases:
            p = self.ctl(*args, expect=2)
            self.assertTrue(p.stderr.startswith("mdsctl: "), p.stderr)
            self.assertIn(needle, p.stderr, args)
            self.assertEqual(p.stdout, "", args)
        for cmd in (["quota"], ["usage"], ["quota", "set"]):
            self.assertIn("usage: mdsctl", self.ctl(*(cmd + ["--help"])).stdout)
        self.assertIn("quota set SCOPE", self.ctl("--help").stdout)
        # well-formed but refused by the server: exit 1, the reason on stderr
        p = self.ctl("quota", "set", "team/no-such-team", "--max-bytes", "1", expect=1)
        self.assertIn("NOT_FOUND", p.stderr)
        self.assertIn("no-such-team", p.stderr)
        p = self.ctl("usage", "bucket/no-such-bucket", expect=1)
        self.assertIn("no-such-bucket", p.stderr)


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    MDSCTL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
