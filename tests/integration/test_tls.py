"""test_tls.py - gRPC over TLS and mutual TLS: the right CA works (grpcio
and mdsctl), plaintext, a wrong CA and a missing or foreign client
certificate are refused.

usage: test_tls.py PATH/TO/mds PATH/TO/mdsctl
"""
import json
import os
import subprocess
import sys
import unittest

import grpc

import mdsd

MDS = MDSCTL = None


def sh(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
       "-subj", "/CN=" + name, cwd=d)


def make_cert(d, ca, name, san):
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\n" % san)
    sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
       "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=d)


def read(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-tls-")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(os.path.join(cls.tmp, "py"))
        p = cls.pki = os.path.join(cls.tmp, "pki")
        os.makedirs(p)
        make_ca(p, "ca")
        make_ca(p, "otherca")
        make_cert(p, "ca", "server", "IP:127.0.0.1,DNS:localhost")
        make_cert(p, "ca", "client", "DNS:gateway-1")
        make_cert(p, "otherca", "foreign", "DNS:intruder")
        cls.daemons = []

    @classmethod
    def tearDownClass(cls):
        for d in cls.daemons:
            d.stop()
        cls.cleanup()

    def start(self, name, mtls):
        wd = os.path.join(self.tmp, name)
        os.makedirs(wd, exist_ok=True)
        p = self.pki
        extra = ["--tls-cert", os.path.join(p, "server.pem"),
                 "--tls-key", os.path.join(p, "server.key")]
        if mtls:
            extra += ["--tls-ca", os.path.join(p, "ca.pem"), "--tls-client-auth"]
        d = mdsd.Daemon(MDS, wd, extra=extra).start()
        self.daemons.append(d)
        return d

    def status(self, d, creds):
        ch = grpc.secure_channel(d.endpoint, creds) if creds else grpc.insecure_channel(d.endpoint)
        try:
            return ch.unary_unary("/mds.v1.Admin/GetStatus", lambda m: m.SerializeToString(),
                                  self.adp.ServerStatus.FromString)(self.adp.GetStatusRequest(),
                                                                    timeout=5)
        finally:
            ch.close()

    def refused(self, d, creds):
        with self.assertRaises(grpc.RpcError) as cm:
            self.status(d, creds)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def creds(self, ca="ca.pem", cert=None):
        kw = {"root_certificates": read(self.pki, ca)}
        if cert:
            kw["private_key"] = read(self.pki, cert + ".key")
            kw["certificate_chain"] = read(self.pki, cert + ".pem")
        return grpc.ssl_channel_credentials(**kw)

    def ctl(self, d, *args):
        return subprocess.run([MDSCTL, "--endpoint", d.endpoint, "--timeout", "5000"] +
                              list(args), capture_output=True, text=True, timeout=30)

    def test_tls(self):
        d = self.start("tls", mtls=False)
        s = self.status(d, self.creds())
        self.assertTrue(s.tls)
        self.assertFalse(s.mtls)
        self.refused(d, None)                         # plaintext client
        self.refused(d, self.creds(ca="otherca.pem"))  # server cert not trusted
        p = self.ctl(d, "--tls-ca", os.path.join(self.pki, "ca.pem"), "--json", "status")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["tls"])
        p = self.ctl(d, "status")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach mds", p.stderr)

    def test_mtls(self):
        d = self.start("mtls", mtls=True)
        s = self.status(d, self.creds(cert="client"))
        self.assertTrue(s.mtls)
        self.refused(d, self.creds())                   # no client certificate
        self.refused(d, self.creds(cert="foreign"))     # client cert from another CA
        self.refused(d, None)
        pki = self.pki
        p = self.ctl(d, "--tls-ca", os.path.join(pki, "ca.pem"),
                     "--tls-cert", os.path.join(pki, "client.pem"),
                     "--tls-key", os.path.join(pki, "client.key"), "team", "create", "secure")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ctl(d, "--tls-ca", os.path.join(pki, "ca.pem"), "team", "ls")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach mds", p.stderr)
        self.assertNotIn("BEGIN", d.read_log())   # no key material in logs


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    MDSCTL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
