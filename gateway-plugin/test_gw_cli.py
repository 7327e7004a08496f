"""test_gw_cli.py - mdsgw-resolve, the operator's view of what a gateway
sees, against a real `mds serve`: the same record through lmdb: and grpc:,
listings page by page, errors with their codes and exit status, reads
through lmdb: while mds is down, and grpc: over mutual TLS.

usage: test_gw_cli.py PATH/TO/mds PATH/TO/mdsctl PATH/TO/mdsgw-resolve
"""
import json
import os
import subprocess
import sys
import unittest

SRC = os.environ.get("MDS_SOURCE_ROOT",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

import mdsd  # noqa: E402
import test_tls  # noqa: E402  (its PKI helpers)

MDS = MDSCTL = RESOLVE = None


def run(*args, timeout=30):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


class GatewayCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mdsgw-cli-")
        os.makedirs(os.path.join(cls.tmp, "plain"))
        cls.d = mdsd.Daemon(MDS, os.path.join(cls.tmp, "plain")).start()
        cls.daemons = [cls.d]
        ctl = [MDSCTL, "--endpoint", cls.d.endpoint]
        for args in (["team", "create", "ops"], ["bucket", "create", "logs", "--team", "ops"]):
            p = run(*(ctl + args))
            assert p.returncode == 0, p.stderr
        for i, n in enumerate(["a/1", "a/2", "a/3", "b/1", "c"]):
            p = run(*(ctl + ["object", "put", "logs", n, "--size", str(10 + i),
                             "--etag", '"e%d"' % i, "--content-type", "text/plain",
                             "--meta", "owner=ops"]))
            assert p.returncode == 0, p.stderr
        cls.lmdb = "lmdb:%s?mds=%s" % (cls.d.data, cls.d.endpoint)
        cls.grpc = "grpc:%s" % cls.d.endpoint

    @classmethod
    def tearDownClass(cls):
        for d in cls.daemons:
            d.stop()
        cls.cleanup()

    def gw(self, config, *args, expect=0):
        p = run(RESOLVE, "--config", config, *args)
        self.assertEqual(p.returncode, expect, "%s: %s" % (args, p.stderr))
        return p

    def test_resolve_same_through_both_providers(self):
        a = json.loads(self.gw(self.lmdb, "--json", "resolve", "logs", "a/2").stdout)
        b = json.loads(self.gw(self.grpc, "--json", "resolve", "logs", "a/2").stdout)
        self.assertEqual(a, b)
        self.assertEqual((a["name"], a["size"], a["etag"], a["version"]), ("a/2", 11, '"e1"', 1))
        self.assertEqual(a["content_type"], "text/plain")
        self.assertEqual(a["metadata"], {"owner": "ops"})
        human = self.gw(self.lmdb, "resolve", "logs", "a/2").stdout
        self.assertIn("etag:          \"e1\"", human)

    def test_info(self):
        i = json.loads(self.gw(self.lmdb, "--json", "info").stdout)
        self.assertEqual((i["provider"], i["local"], i["put"], i["quota"], i["access"]),
                         ("lmdb", True, True, True, True))
        i = json.loads(self.gw("lmdb:" + self.d.data, "--json", "info").stdout)
        self.assertFalse(i["put"])       # no mds=: writes are refused
        self.assertFalse(i["quota"])
        i = json.loads(self.gw(self.grpc, "--json", "info").stdout)
        self.assertEqual((i["provider"], i["local"]), ("grpc", False))

    def test_list_pages(self):
        for cfg in (self.lmdb, self.grpc):
            out = self.gw(cfg, "--json", "list", "logs", "--max-keys", "2", "--all").stdout
            pages = [json.loads(line) for line in out.splitlines()]
            self.assertEqual(len(pages), 3)
            names = [e["name"] for p in pages for e in p["entries"]]
            self.assertEqual(names, ["a/1", "a/2", "a/3", "b/1", "c"])
            self.assertTrue(pages[0]["truncated"])
            self.assertFalse(pages[2]["truncated"])
            out = self.gw(cfg, "--json", "list", "logs", "--delimiter", "/").stdout
            page = json.loads(out)
            self.assertEqual(page["entries"], [{"prefix": "a/"}, {"prefix": "b/"},
                                               {"name": "c", "size": 14, "version": 1,
                                                "etag": '"e4"'}])
            out = self.gw(cfg, "--json", "list", "logs", "--azure", "--prefix", "a/").stdout
            self.assertEqual(json.loads(out)["key_count"], 3)

    def test_errors(self):
        p = self.gw(self.lmdb, "resolve", "logs", "nope", expect=1)
        self.assertIn("MDSGW_ENOTFOUND", p.stderr)
        self.assertIn("nope", p.stderr)
        p = self.gw(self.grpc, "resolve", "nosuchbucket", "x", expect=1)
        self.assertIn("MDSGW_ENOTFOUND", p.stderr)
        p = self.gw("lmdb:" + self.d.data, "reserve", "logs", "up", "--bytes", "1", expect=1)
        self.assertIn("MDSGW_EUNAVAIL", p.stderr)
        self.assertIn("fail closed", p.stderr)
        self.gw(self.grpc, "reserve", "logs", "up", "--bytes", "x", expect=2)
        p = self.gw("grpc:%s?tls=2" % self.d.endpoint, "info", expect=1)
        self.assertIn("MDSGW_ECONFIG", p.stderr)
        p = self.gw(self.lmdb, "list", "logs", "--max-keys", "1001", expect=1)
        self.assertIn("MDSGW_EINVAL", p.stderr)
        self.gw(self.lmdb, "resolve", "logs", expect=2)
        self.gw(self.lmdb, "frobnicate", expect=2)

    def test_access(self):
        p = run(MDSCTL, "--endpoint", self.d.endpoint, "policy", "bind", "cli-reader", "reader",
                "bucket/logs")
        self.assertEqual(p.returncode, 0, p.stderr)
        for cfg in (self.lmdb, self.grpc):
            self.assertEqual(self.gw(cfg, "access", "cli-reader", "read", "logs", "a/1").stdout,
                             "allow\n")
            self.assertEqual(self.gw(cfg, "access", "cli-reader", "put", "logs", "a/1").stdout,
                             "deny\n")
            self.assertEqual(self.gw(cfg, "access", "someone", "list", "logs").stdout, "deny\n")
            r = json.loads(self.gw(cfg, "--json", "access", "cli-reader", "list", "logs").stdout)
            self.assertEqual(r, {"allowed": True})
            p = self.gw(cfg, "access", "cli-reader", "reader", "logs", expect=1)
            self.assertIn("MDSGW_EINVAL", p.stderr)

    def test_reserve_and_release(self):
        for cfg in (self.lmdb, self.grpc):
            r = json.loads(self.gw(cfg, "--json", "reserve", "logs", "up", "--bytes", "100",
                                   "--ttl", "60000").stdout)
            self.assertRegex(r["token"], "^[0-9a-f]{32}$")
            self.assertGreater(r["expiry_ns"], 0)
            self.assertIn("released", self.gw(cfg, "release", r["token"]).stdout)
            p = self.gw(cfg, "release", r["token"], expect=1)
            self.assertIn("MDSGW_ENOTFOUND", p.stderr)

    def test_lmdb_reads_while_mds_is_down(self):
        wd = os.path.join(self.tmp, "down")
        os.makedirs(wd)
        d = mdsd.Daemon(MDS, wd).start()
        self.daemons.append(d)
        ctl = [MDSCTL, "--endpoint", d.endpoint]
        for args in (["team", "create", "t"], ["bucket", "create", "bkt", "--team", "t"],
                     ["object", "put", "bkt", "k", "--size", "5"]):
            self.assertEqual(run(*(ctl + args)).returncode, 0)
        d.stop()
        cfg = "lmdb:%s?mds=%s" % (d.data, d.endpoint)
        r = json.loads(self.gw(cfg, "--json", "resolve", "bkt", "k").stdout)
        self.assertEqual(r["size"], 5)
        p = self.gw("grpc:" + d.endpoint, "--timeout", "300", "resolve", "bkt", "k", expect=1)
        self.assertIn("MDSGW_ETIMEDOUT", p.stderr)

    def test_grpc_over_mtls(self):
        pki = os.path.join(self.tmp, "pki")
        os.makedirs(pki)
        test_tls.make_ca(pki, "ca")
        test_tls.make_cert(pki, "ca", "server", "IP:127.0.0.1,DNS:localhost")
        test_tls.make_cert(pki, "ca", "client", "DNS:gateway-1")
        wd = os.path.join(self.tmp, "mtls")
        os.makedirs(wd)
        d = mdsd.Daemon(MDS, wd, extra=[
            "--tls-cert", os.path.join(pki, "server.pem"),
            "--tls-key", os.path.join(pki, "server.key"),
            "--tls-ca", os.path.join(pki, "ca.pem"), "--tls-client-auth"]).start()
        self.daemons.append(d)
        tls = ["--tls-ca", os.path.join(pki, "ca.pem"),
               "--tls-cert", os.path.join(pki, "client.pem"),
               "--tls-key", os.path.join(pki, "client.key")]
        ctl = [MDSCTL, "--endpoint", d.endpoint] + tls
        for args in (["team", "create", "t"], ["bucket", "create", "sec", "--team", "t"],
                     ["object", "put", "sec", "k", "--size", "9"]):
            p = run(*(ctl + args))
            self.assertEqual(p.returncode, 0, p.stderr)
        cfg = "grpc:%s?ca=%s&cert=%s&key=%s" % (d.endpoint, os.path.join(pki, "ca.pem"),
                                               os.path.join(pki, "client.pem"),
                                               os.path.join(pki, "client.key"))
        r = json.loads(self.gw(cfg, "--json", "resolve", "sec", "k").stdout)
        self.assertEqual(r["size"], 9)
        # without a client certificate the server refuses the connection
        p = self.gw("grpc:%s?ca=%s" % (d.endpoint, os.path.join(pki, "ca.pem")),
                    "--timeout", "500", "resolve", "sec", "k", expect=1)
        self.assertRegex(p.stderr, "MDSGW_E(UNAVAIL|TIMEDOUT)")
        # plaintext against a TLS server fails as well
        p = self.gw("grpc:" + d.endpoint, "--timeout", "500", "resolve", "sec", "k", expect=1)
        self.assertRegex(p.stderr, "MDSGW_E(UNAVAIL|TIMEDOUT)")


if __name__ == "__main__":
    MDS, MDSCTL, RESOLVE = sys.argv[1], sys.argv[2], sys.argv[3]
    unittest.main(argv=sys.argv[:1], verbosity=2)
