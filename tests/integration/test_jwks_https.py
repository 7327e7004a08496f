"""test_jwks_https.py - the identity provider's key set fetched over HTTPS
(--jwks-url): a local HTTPS server on 127.0.0.1 with a certificate made
here by the openssl CLI serves the JWKS; tokens are made with
python3-cryptography (test_gov.Idp), independently of the C code.

Checks: a rotated key is picked up through the URL (a token with an unknown
kid is refused at once and triggers a fetch; a second unknown kid within
5 minutes does not fetch again); with the provider down a restarted daemon
keeps validating with the persisted set inside the offline window, and
refuses everything once the window has passed; http:// is refused at
start; a server whose certificate does not chain to --jwks-ca-file is
refused (no key set, tokens refused).

usage: test_jwks_https.py PATH/TO/mds
"""
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import unittest

import grpc

import mdsd
from test_gov import AUD, ISS, Idp
from test_tls import make_ca, make_cert

MDS = None


class JwksServer:
    """HTTPS on 127.0.0.1:PORT serving /jwks.json from self.doc; start/stop
    keep the port so the daemon's URL stays valid."""

    def __init__(self, cert, key, port=0):
        self.doc = b'{"keys":[]}'
        self.hits = 0
        self.cert, self.key = cert, key
        self.port = port
        self.httpd = None

    def start(self):
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.doc)))
                self.end_headers()
                self.wfile.write(outer.doc)

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.port = self.httpd.server_address[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.th = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.th.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def publish(self, idps):
        self.doc = json.dumps({"keys": [i.jwk() for i in idps]}).encode()

    @property
    def url(self):
        return "https://127.0.0.1:%d/jwks.json" % self.port


class JwksHttpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-jwks-")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(os.path.join(cls.tmp, "py"))
        p = cls.pki = os.path.join(cls.tmp, "pki")
        os.makedirs(p)
        make_ca(p, "idp-ca")
        make_cert(p, "idp-ca", "idp", "IP:127.0.0.1")
        make_ca(p, "other-ca")
        cls.srv = JwksServer(os.path.join(p, "idp.pem"), os.path.join(p, "idp.key")).start()
        cls.daemons = []

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        for d in cls.daemons:
            if d.proc:
                d.proc.kill()
                d.proc.wait()
        cls.cleanup()

    def daemon(self, name, ca="idp-ca", url=None, extra=()):
        wd = os.path.join(self.tmp, name)
        os.makedirs(wd, exist_ok=True)
        args = ["--auth-mode", "jwt", "--jwt-issuer", ISS, "--jwt-audience", AUD,
                "--jwks-url", url or self.srv.url,
                "--jwks-ca-file", os.path.join(self.pki, ca + ".pem"),
                "--admins", ISS + "#root"] + list(extra)
        d = mdsd.Daemon(MDS, wd, extra=args)
        self.daemons.append(d)
        return d.start()

    def head(self, d, token):
        """HeadObject on a missing bucket: NOT_FOUND when the token is
        accepted (root is an admin), else the refusal's code."""
        ch = grpc.insecure_channel(d.endpoint)
        try:
            f = ch.unary_unary("/mds.v1.Namespace/HeadObject",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=self.types.ObjectRecord.FromString)
            try:
                f(self.nsp.HeadObjectRequest(bucket="no-such", name="x"), timeout=10,
                  metadata=[("authorization", "Bearer " + token)])
                return grpc.StatusCode.OK
            except grpc.RpcError as e:
                return e.code()
        finally:
            ch.close()

    def assert_accepted(self, d, token):
        self.assertEqual(self.head(d, token), grpc.StatusCode.NOT_FOUND, d.read_log()[-2000:])

    def assert_refused(self, d, token):
        code = self.head(d, token)
        self.assertIn(code, (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE),
                      d.read_log()[-2000:])

    def wait_accepted(self, d, token, within=5.0):
        t0 = time.time()
        while time.time() - t0 < within:
            if self.head(d, token) == grpc.StatusCode.NOT_FOUND:
                return time.time() - t0
            time.sleep(0.1)
        self.fail("token not accepted within %.1fs\n%s" % (within, d.read_log()[-2000:]))

    def test_1_rotation_through_url(self):
        k1 = Idp(None, kid="k1", write=False)
        self.srv.publish([k1])
        d = self.daemon("rot")
        try:
            self.assert_accepted(d, k1.token("root"))
            # the provider rotates: k2 added, k1 withdrawn
            k2 = Idp(None, kid="k2", write=False)
            self.srv.publish([k2])
            hits = self.srv.hits
            # unknown kid: refused now (fail closed), fetched in the background
            self.assert_refused(d, k2.token("root"))
            self.wait_accepted(d, k2.token("root"))
            self.assertGreater(self.srv.hits, hits)
            self.assert_refused(d, k1.token("root"))   # withdrawn key gone
            # a second unknown kid within 5 minutes does not fetch again
            k3 = Idp(None, kid="k3", write=False)
            self.srv.publish([k2, k3])
            hits = self.srv.hits
            for _ in range(5):
                self.assert_refused(d, k3.token("root"))
                time.sleep(0.2)
            self.assertEqual(self.srv.hits, hits)
            self.assert_accepted(d, k2.token("root"))
            self.assertIn("reason=unknown-kid", d.read_log())
        finally:
            d.stop()

    def test_2_provider_down_persisted_set_within_window(self):
        k = Idp(None, kid="p1", write=False)
        self.srv.publish([k])
        d = self.daemon("offline", extra=["--offline-window", "4s"])
        self.assert_accepted(d, k.token("root"))
        d.stop()
        self.srv.stop()
        try:
            # restart with the provider down: the persisted set still works
            d.start()
            self.assert_accepted(d, k.token("root"))
            self.assertIn("event=jwks_refresh", d.read_log())
            # past the offline window every token is refused (fail closed)
            time.sleep(4.5)
            self.assert_refused(d, k.token("root"))
            d.stop()
        finally:
            self.srv.start()

    def test_3_http_url_refused(self):
        wd = os.path.join(self.tmp, "plain")
        os.makedirs(wd)
        r = subprocess.run([MDS, "serve", "--data", os.path.join(wd, "data"),
                            "--listen", "127.0.0.1:0", "--http", "off",
                            "--auth-mode", "jwt", "--jwt-issuer", ISS, "--jwt-audience", AUD,
                            "--jwks-url", "http://127.0.0.1:%d/jwks.json" % self.srv.port],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("only https://", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(wd, "data")))

    def test_4_wrong_ca_refused(self):
        k = Idp(None, kid="w1", write=False)
        self.srv.publish([k])
        hits = self.srv.hits
        d = self.daemon("wrongca", ca="other-ca")
        try:
            self.assert_refused(d, k.token("root"))
            log = d.read_log()
            self.assertIn("event=jwks_refresh", log)
            self.assertIn("certificate", log)
            self.assertIn("state=no-keys", log)
            self.assertEqual(self.srv.hits, hits)   # no request got past TLS
        finally:
            d.stop()


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    unittest.main(verbosity=2)
