"""test_gov.py - governance through a real daemon over mutual TLS: bearer
tokens (JWT, validated against a JWKS file), a gateway acting on behalf of
an end user, role bindings stored through the Policy service, deny wins,
the decision cache follows policy changes, refused calls change nothing,
and per-team rate limits answer RESOURCE_EXHAUSTED with retry-after-ms.

Keys and tokens are made here with python3-cryptography, independently of
the C code under test.

usage: test_gov.py PATH/TO/mds PATH/TO/mdsctl
"""
import base64
import json
import os
import subprocess
import sys
import time
import unittest

import grpc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import mdsd
from test_tls import make_ca, make_cert, read

MDS = MDSCTL = None
ISS = "https://idp.test"
AUD = "mds-test"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Idp:
    """A tiny identity provider: one P-256 key, a JWKS file, ES256 tokens."""

    def __init__(self, path, kid="k1", write=True):
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())
        if write:
            self.write(path, [self])

    def jwk(self):
        n = self.key.public_key().public_numbers()
        return {"kty": "EC", "kid": self.kid, "crv": "P-256",
                "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}

    @staticmethod
    def write(path, idps):
        with open(path + ".tmp", "w") as f:
            json.dump({"keys": [i.jwk() for i in idps]}, f)
        os.rename(path + ".tmp", path)

    def token(self, sub, groups=(), exp_in=3600):
        now = int(time.time())
        h = b64(json.dumps({"alg": "ES256", "kid": self.kid, "typ": "JWT"}).encode())
        p = b64(json.dumps({"iss": ISS, "aud": AUD, "sub": sub, "iat": now,
                            "exp": now + exp_in, "groups": list(groups)}).encode())
        r, s = decode_dss_signature(self.key.sign((h + "." + p).encode(),
                                                  ec.ECDSA(hashes.SHA256())))
        return h + "." + p + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def load_policy_pb(outdir):
    inc = os.path.join(mdsd.SRC, "include")
    subprocess.run(["protoc", "--proto_path=" + inc, "--python_out=" + outdir,
                    "mds/v1/policy.proto", "mds/v1/quota.proto", "mds/v1/blob.proto"],
                   check=True, cwd=inc)
    from mds.v1 import policy_pb2, quota_pb2, blob_pb2  # noqa: E402
    return policy_pb2, quota_pb2, blob_pb2


class GovTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-gov-")
        py = os.path.join(cls.tmp, "py")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(py)
        cls.pol, cls.qp, cls.bp = load_policy_pb(py)
        p = cls.pki = os.path.join(cls.tmp, "pki")
        os.makedirs(p)
        make_ca(p, "ca")
        make_cert(p, "ca", "server", "IP:127.0.0.1,DNS:localhost")
        make_cert(p, "ca", "gw", "DNS:gateway-1")
        make_cert(p, "ca", "app", "DNS:app-1")
        cls.idp = Idp(os.path.join(cls.tmp, "jwks.json"))
        cls.wd = os.path.join(cls.tmp, "d")
        os.makedirs(cls.wd)
        cls.d = None
        try:
            cls.start()
            cls.setup_namespace()
        except BaseException:
            cls.tearDownClass()      # unittest skips it when setUpClass fails
            raise

    @classmethod
    def setup_namespace(cls):
        cls.admin = cls.idp.token("root")
        # teams and buckets, as the bootstrap admin
        for team, bucket in (("t1", "bkt-one"), ("t2", "bkt-two"), ("flood", "bkt-flood"),
                             ("quiet", "bkt-quiet")):
            cls.call("/mds.v1.Admin/CreateTeam", cls.adp.CreateTeamRequest(team=team),
                     cls.types.Team,
                     token=cls.admin)
            cls.call("/mds.v1.Namespace/CreateBucket",
                     cls.nsp.CreateBucketRequest(bucket=bucket, team=team),
                     cls.types.Bucket,
                     token=cls.admin)

    @classmethod
    def start(cls):
        p = cls.pki
        extra = ["--tls-cert", os.path.join(p, "server.pem"),
                 "--tls-key", os.path.join(p, "server.key"),
                 "--tls-ca", os.path.join(p, "ca.pem"), "--tls-client-auth",
                 "--auth-mode", "jwt", "--jwt-issuer", ISS, "--jwt-audience", AUD,
                 "--jwks-file", os.path.join(cls.tmp, "jwks.json"), "--jwks-refresh", "1s",
                 "--gateway-identities", "gateway-1",
                 "--admins", ISS + "#root",
                 "--rate-limits", "flood:write=20/5,read=20/5"]
        cls.d = mdsd.Daemon(MDS, cls.wd, extra=extra, data=os.path.join(cls.wd, "data")).start()
        cls.channels = {}

    @classmethod
    def tearDownClass(cls):
        for ch in getattr(cls, "channels", {}).values():
            ch.close()
        if cls.d:
            cls.d.stop()
        cls.cleanup()

    @classmethod
    def channel(self, cert):
        if cert not in self.channels:
            creds = grpc.ssl_channel_credentials(
                root_certificates=read(self.pki, "ca.pem"),
                private_key=read(self.pki, cert + ".key"),
                certificate_chain=read(self.pki, cert + ".pem"))
            self.channels[cert] = grpc.secure_channel(self.d.endpoint, creds)
        return self.channels[cert]

    @classmethod
    def call(self, path, req, resp_cls, token=None, cert="app", obo=None, full=False):
        md = []
        if token:
            md.append(("authorization", "Bearer " + token))
        if obo:
            md.append(("x-mds-on-behalf-of", obo))
        f = self.channel(cert).unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                           response_deserializer=resp_cls.FromString)
        if full:
            return f.with_call(req, timeout=10, metadata=md)
        return f(req, timeout=10, metadata=md)

    def code_of(self, fn):
        with self.assertRaises(grpc.RpcError) as cm:
            fn()
        return cm.exception

    # helpers
    def put(self, bucket, name, **kw):
        return self.call("/mds.v1.Namespace/PutObject",
                         self.nsp.PutObjectRequest(bucket=bucket, name=name, size=1, etag='"e"'),
                         self.nsp.PutObjectResponse, **kw)

    def head(self, bucket, name, **kw):
        return self.call("/mds.v1.Namespace/HeadObject",
                         self.nsp.HeadObjectRequest(bucket=bucket, name=name),
                         self.types.ObjectRecord, **kw)

    def exists(self, bucket, name):
        try:
            self.head(bucket, name, token=self.admin)
            return True
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
            return False

    def bind(self, subject, role, scope, deny=False, token=None):
        return self.call("/mds.v1.Policy/Bind",
                         self.pol.BindRequest(subject=subject, role=role, scope=scope, deny=deny),
                         self.pol.Binding, token=token or self.admin)

    def unbind(self, bid):
        self.call("/mds.v1.Policy/Unbind", self.pol.UnbindRequest(id=bid),
                  self.pol.UnbindResponse, token=self.admin)

    def explain(self, principal, action, bucket, name=""):
        return self.call("/mds.v1.Policy/Explain",
                         self.pol.ExplainRequest(principal=principal, action=action,
                                                 bucket=bucket, name=name),
                         self.pol.ExplainResponse, token=self.admin)

    # tests
    def test_1_unauthenticated_changes_nothing(self):
        e = self.code_of(lambda: self.put("bkt-one", "u/x", token="not.a.token"))
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        expired = self.idp.token("root", exp_in=-3600)
        e = self.code_of(lambda: self.put("bkt-one", "u/x", token=expired))
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        # an mTLS client without a binding is judged as mtls:app-1 and denied
        e = self.code_of(lambda: self.put("bkt-one", "u/x"))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("mtls:app-1", e.details())
        self.assertFalse(self.exists("bkt-one", "u/x"))

    def test_2_bindings_allow_deny_and_cache(self):
        bob = self.idp.token("bob")
        e = self.code_of(lambda: self.put("bkt-one", "b/1", token=bob))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("put", e.details())
        self.assertIn("bkt-one", e.details())
        self.assertFalse(self.exists("bkt-one", "b/1"))

        w = self.bind(ISS + "#bob", "writer", "bucket/bkt-one")
        self.assertGreater(w.id, 0)
        self.put("bkt-one", "b/1", token=bob)                  # allowed now (cache dropped)
        self.assertTrue(self.exists("bkt-one", "b/1"))
        # another team's bucket: still denied, nothing written
        e = self.code_of(lambda: self.put("bkt-two", "b/1", token=bob))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertFalse(self.exists("bkt-two", "b/1"))

        # an explicit deny on a prefix wins over the bucket-wide writer role
        dn = self.bind(ISS + "#bob", "delete,put", "prefix/bkt-one/keep/", deny=True)
        e = self.code_of(lambda: self.put("bkt-one", "keep/a", token=bob))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertFalse(self.exists("bkt-one", "keep/a"))
        self.put("bkt-one", "other/a", token=bob)
        ex = self.explain(ISS + "#bob", "put", "bkt-one", "keep/a")
        self.assertEqual(ex.effect, "deny")
        self.assertEqual(ex.binding_id, dn.id)
        ex = self.explain(ISS + "#bob", "put", "bkt-one", "other/a")
        self.assertEqual((ex.effect, ex.binding_id), ("allow", w.id))

        # listing is authorized on the prefix asked for
        lr = self.call("/mds.v1.Namespace/ListObjects",
                       self.nsp.ListObjectsRequest(bucket="bkt-one", prefix="b/"),
                       self.nsp.ListObjectsResponse, token=bob)
        self.assertEqual([x.name for x in lr.entries], ["b/1"])

        ls = self.call("/mds.v1.Policy/ListBindings", self.pol.ListBindingsRequest(),
                       self.pol.ListBindingsResponse, token=self.admin)
        self.assertIn(w.id, [b.id for b in ls.bindings])
        # bob may not manage bindings
        e = self.code_of(lambda: self.bind(ISS + "#bob", "admin", "island", token=bob))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)

        self.unbind(w.id)
        e = self.code_of(lambda: self.put("bkt-one", "b/2", token=bob))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertFalse(self.exists("bkt-one", "b/2"))
        self.unbind(dn.id)

    def test_3_gateway_on_behalf_of_user(self):
        carol = ISS + "#carol"
        b = self.bind(carol, "writer", "team/t2")
        # the gateway (mTLS identity gateway-1) acts for carol
        self.put("bkt-two", "gw/1", cert="gw", obo=carol)
        self.assertTrue(self.exists("bkt-two", "gw/1"))
        # ... but not for dave, who has no binding
        e = self.code_of(lambda: self.put("bkt-two", "gw/2", cert="gw", obo=ISS + "#dave"))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertFalse(self.exists("bkt-two", "gw/2"))
        # a client that is not a gateway may not name another principal
        e = self.code_of(lambda: self.put("bkt-two", "gw/3", cert="app", obo=carol))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("gateway", e.details())
        e = self.code_of(lambda: self.put("bkt-two", "gw/3", cert="app", obo=carol,
                                          token=self.idp.token("bob")))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertFalse(self.exists("bkt-two", "gw/3"))
        self.unbind(b.id)

    def test_4_rate_limit_retry_after(self):
        refused = None
        for i in range(40):
            try:
                self.put("bkt-flood", "r/%d" % i, token=self.admin)
            except grpc.RpcError as e:
                refused = e
                break
        self.assertIsNotNone(refused, "40 puts at once never hit the 20/s burst-5 limit")
        self.assertEqual(refused.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        trailers = dict(refused.trailing_metadata() or ())
        self.assertIn("retry-after-ms", trailers)
        self.assertGreaterEqual(int(trailers["retry-after-ms"]), 1)
        self.assertIn("flood", refused.details())
        # the refused put changed nothing; another team is not limited
        self.assertFalse(self.exists("bkt-flood", "r/%d" % i))
        for j in range(20):
            self.put("bkt-quiet", "q/%d" % j, token=self.admin)
        time.sleep(int(trailers["retry-after-ms"]) / 1000.0 + 0.05)
        self.put("bkt-flood", "r/after", token=self.admin)

    def test_4b_refusals_are_paced(self):
        # A refusal is answered after max(retry-after, 20 ms): a client that
        # resends at once cannot turn refusals into a flood; the hint counts
        # what is left, and a short deadline still gets the refusal.
        f = self.channel("app").unary_unary("/mds.v1.Namespace/HeadObject",
                                            request_serializer=lambda m: m.SerializeToString(),
                                            response_deserializer=self.types.ObjectRecord.FromString)
        md = [("authorization", "Bearer " + self.admin)]
        req = self.nsp.HeadObjectRequest(bucket="bkt-flood", name="nothing")
        refused = []
        t_end = time.time() + 5
        while len(refused) < 3 and time.time() < t_end:
            t0 = time.monotonic()
            try:
                f(req, timeout=10, metadata=md)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    refused.append((time.monotonic() - t0, e))
        self.assertEqual(len(refused), 3, "the read limit 20/s burst 5 was never hit")
        for took, e in refused:
            self.assertGreaterEqual(took, 0.018)          # held, not answered at once
            self.assertGreaterEqual(int(dict(e.trailing_metadata())["retry-after-ms"]), 1)
        last = None
        for _ in range(50):
            try:
                f(req, timeout=0.1, metadata=md)
            except grpc.RpcError as e:
                last = e.code()
                if last != grpc.StatusCode.NOT_FOUND:     # NOT_FOUND: let through
                    break
        self.assertEqual(last, grpc.StatusCode.RESOURCE_EXHAUSTED)
        code, text = self.d.http_get("/metrics")
        paced = [ln for ln in text.splitlines() if ln.startswith("mds_rate_limit_paced_total ")]
        self.assertTrue(paced and int(paced[0].split()[1]) >= 4, paced)
        # leave refusals on hold: test_5 restarts the daemon, whose SIGTERM
        # must answer them at once and exit 0 (mdsd checks both)
        self.held = [f.future(req, timeout=10, metadata=md) for _ in range(8)]

    def test_5_bindings_survive_restart(self):
        b = self.bind(ISS + "#erin", "reader", "bucket/bkt-one")
        t0 = time.monotonic()
        self.d.stop()
        self.assertLess(time.monotonic() - t0, 5)
        for ch in self.channels.values():
            ch.close()
        type(self).start()
        self.head("bkt-one", "b/1", token=self.idp.token("erin"))
        e = self.code_of(lambda: self.put("bkt-one", "e/1", token=self.idp.token("erin")))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.unbind(b.id)
        e = self.code_of(lambda: self.head("bkt-one", "b/1", token=self.idp.token("erin")))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        log = self.d.read_log()
        self.assertNotIn("auth_dev_mode", log)
        self.assertNotIn(self.admin, log)   # tokens never logged


    def ctl(self, *args, token=None):
        p = self.pki
        tf = os.path.join(self.tmp, "token")
        with open(tf, "w") as f:
            f.write((token or self.admin) + "\n")
        return subprocess.run([MDSCTL, "--endpoint", self.d.endpoint, "--timeout", "5000",
                               "--tls-ca", os.path.join(p, "ca.pem"),
                               "--tls-cert", os.path.join(p, "app.pem"),
                               "--tls-key", os.path.join(p, "app.key"),
                               "--token-file", tf] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_6_mdsctl_policy(self):
        frank = ISS + "#frank"
        p = self.ctl("--json", "policy", "bind", frank, "reader", "prefix/bkt-one/b/")
        self.assertEqual(p.returncode, 0, p.stderr)
        bid = json.loads(p.stdout)["id"]
        p = self.ctl("--json", "policy", "bind", "group:ops", "admin", "island", "--deny")
        self.assertEqual(p.returncode, 0, p.stderr)
        did = json.loads(p.stdout)["id"]
        p = self.ctl("--json", "policy", "ls")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = {b["id"]: b for b in json.loads(p.stdout)["bindings"]}
        self.assertEqual(rows[bid]["subject"], frank)
        self.assertTrue(rows[did]["deny"])
        p = self.ctl("policy", "explain", frank, "list", "bkt-one/b/")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("allow by binding %d" % bid, p.stdout)
        p = self.ctl("policy", "explain", frank, "list", "bkt-one/")
        self.assertIn("default-deny", p.stdout)
        p = self.ctl("--json", "policy", "explain", frank, "read", "bkt-one/b/1",
                     "--group", "ops")
        self.assertEqual(json.loads(p.stdout)["effect"], "deny")
        self.assertEqual(json.loads(p.stdout)["binding_id"], did)
        # a bad binding is refused by the server with what is wrong
        p = self.ctl("policy", "bind", frank, "superuser", "island")
        self.assertEqual(p.returncode, 1)
        self.assertIn("INVALID_ARGUMENT", p.stderr)
        # frank may not change the policy
        p = self.ctl("policy", "unbind", str(bid), token=self.idp.token("frank"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("PERMISSION_DENIED", p.stderr)
        for i in (bid, did):
            p = self.ctl("policy", "unbind", str(i))
            self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ctl("policy", "unbind", str(bid))
        self.assertEqual(p.returncode, 1)
        self.assertIn("NOT_FOUND", p.stderr)


    def test_7_quota_audit_names_the_caller(self):
        q = self.qp
        req = q.SetQuotaRequest(scope="team/t1", principal="somebody-else",
                                limits=q.QuotaLimits(max_objects=q.Limit(value=1000)))
        self.call("/mds.v1.Quota/SetQuota", req, q.QuotaInfo, token=self.admin)
        au = self.call("/mds.v1.Quota/ListQuotaAudit", q.ListQuotaAuditRequest(),
                       q.ListQuotaAuditResponse, token=self.admin)
        last = au.records[-1]
        self.assertEqual((last.scope, last.principal), ("team/t1", ISS + "#root"))
        # set-quota is its own action: a team writer may not set quotas
        b = self.bind(ISS + "#gina", "writer", "team/t1")
        e = self.code_of(lambda: self.call("/mds.v1.Quota/SetQuota", req, q.QuotaInfo,
                                           token=self.idp.token("gina")))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("set-quota", e.details())
        self.unbind(b.id)

    def test_8_no_escalation_through_bind(self):
        hank = self.idp.token("hank")
        own = self.bind(ISS + "#hank", "owner", "bucket/bkt-one")
        # an owner manages the bucket's bindings within its own rights ...
        w = self.bind(ISS + "#ivy", "writer", "bucket/bkt-one", token=hank)
        # ... but cannot grant what it does not hold, nor act outside its scope
        e = self.code_of(lambda: self.bind(ISS + "#hank", "admin", "bucket/bkt-one", token=hank))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("may not grant", e.details())
        e = self.code_of(lambda: self.bind(ISS + "#ivy", "writer", "bucket/bkt-two", token=hank))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        ls = self.call("/mds.v1.Policy/ListBindings", self.pol.ListBindingsRequest(),
                       self.pol.ListBindingsResponse, token=self.admin)
        self.assertEqual([b.subject for b in ls.bindings if b.role == "admin"], [])
        self.unbind(w.id)
        self.unbind(own.id)


    def test_9_copy_needs_read_on_the_source(self):
        self.put("bkt-two", "secret", token=self.admin)
        jo = self.idp.token("jo")
        w = self.bind(ISS + "#jo", "writer", "bucket/bkt-one")
        req = self.bp.CopyObjectRequest(bucket="bkt-one", name="stolen",
                                        source_bucket="bkt-two", source_name="secret")
        e = self.code_of(lambda: self.call("/mds.v1.Blob/CopyObject", req,
                                           self.bp.CopyObjectResponse, token=jo))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("copy's source", e.details())
        self.assertFalse(self.exists("bkt-one", "stolen"))
        r = self.bind(ISS + "#jo", "reader", "bucket/bkt-two")
        self.call("/mds.v1.Blob/CopyObject", req, self.bp.CopyObjectResponse, token=jo)
        self.assertTrue(self.exists("bkt-one", "stolen"))
        self.unbind(w.id)
        self.unbind(r.id)


    def test_9b_object_tag_conditions(self):
        # tag:KEY conditions judge the stored object's tags: read, overwrite
        # and delete of an existing object, and the source of a copy
        def put_tagged(name, project, **kw):
            tags = [self.types.KeyValue(key="project", value=project)]
            return self.call("/mds.v1.Namespace/PutObject",
                             self.nsp.PutObjectRequest(bucket="bkt-one", name=name, size=1,
                                                       etag='"e"', tags=tags),
                             self.nsp.PutObjectResponse, **kw)
        put_tagged("tg/apollo", "apollo", token=self.admin)
        put_tagged("tg/zeus", "zeus", token=self.admin)
        tia = self.idp.token("tia")
        cond = "tag:project == 'apollo'"
        r = self.call("/mds.v1.Policy/Bind",
                      self.pol.BindRequest(subject=ISS + "#tia", role="writer",
                                           scope="bucket/bkt-one", condition=cond),
                      self.pol.Binding, token=self.admin)
        try:
            # explain sees the stored tags too, and agrees with the decision
            ex = self.explain(ISS + "#tia", "read", "bkt-one", "tg/apollo")
            self.assertEqual((ex.effect, ex.binding_id), ("allow", r.id))
            self.assertIn("object tags: project=apollo", ex.trace)
            ex = self.explain(ISS + "#tia", "delete", "bkt-one", "tg/zeus")
            self.assertEqual(ex.effect, "default-deny")
            self.assertIn("object tags: project=zeus", ex.trace)
            ex = self.explain(ISS + "#tia", "read", "bkt-one", "tg/none")
            self.assertEqual(ex.effect, "default-deny")
            self.assertIn("has no object 'tg/none'", ex.trace)
            p = self.ctl("policy", "explain", ISS + "#tia", "read", "bkt-one/tg/apollo")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("allow", p.stdout)
            self.assertIn("project=apollo", p.stdout)
            self.head("bkt-one", "tg/apollo", token=tia)
            e = self.code_of(lambda: self.head("bkt-one", "tg/zeus", token=tia))
            self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
            # the same caller again: the decision is not served from the cache
            self.head("bkt-one", "tg/apollo", token=tia)
            # overwrite judged on the stored tags, whatever the request says
            e = self.code_of(lambda: put_tagged("tg/zeus", "apollo", token=tia))
            self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertEqual(self.head("bkt-one", "tg/zeus", token=self.admin).tags[0].value,
                             "zeus")
            e = self.code_of(lambda: self.call(
                "/mds.v1.Namespace/DeleteObject",
                self.nsp.DeleteObjectRequest(bucket="bkt-one", name="tg/zeus"),
                self.nsp.DeleteObjectResponse, token=tia))
            self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertTrue(self.exists("bkt-one", "tg/zeus"))
            # a retag by the admin changes the verdict at once
            put_tagged("tg/zeus", "apollo", token=self.admin)
            self.assertEqual(self.explain(ISS + "#tia", "delete", "bkt-one", "tg/zeus").effect,
                             "allow")
            self.head("bkt-one", "tg/zeus", token=tia)
            self.call("/mds.v1.Namespace/DeleteObject",
                      self.nsp.DeleteObjectRequest(bucket="bkt-one", name="tg/zeus"),
                      self.nsp.DeleteObjectResponse, token=tia)
            self.assertFalse(self.exists("bkt-one", "tg/zeus"))
        finally:
            self.unbind(r.id)

    def test_10_key_rotation_is_followed(self):
        path = os.path.join(self.tmp, "jwks.json")
        new = Idp(path, kid="k2", write=False)
        tok = new.token("root")
        e = self.code_of(lambda: self.head("bkt-one", "b/1", token=tok))
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED)
        Idp.write(path, [self.idp, new])          # the provider adds a key
        ok = False
        for _ in range(50):                       # re-read every 1 s
            try:
                self.call("/mds.v1.Admin/GetStatus", self.adp.GetStatusRequest(),
                          self.adp.ServerStatus, token=tok)
                ok = True
                break
            except grpc.RpcError as err:
                self.assertEqual(err.code(), grpc.StatusCode.UNAUTHENTICATED)
                time.sleep(0.1)
        self.assertTrue(ok, "a key added to the JWKS file was not picked up")
        Idp.write(path, [self.idp])               # and withdraws it again
        for _ in range(50):
            try:
                self.call("/mds.v1.Admin/GetStatus", self.adp.GetStatusRequest(),
                          self.adp.ServerStatus, token=tok)
                time.sleep(0.1)
            except grpc.RpcError as err:
                self.assertEqual(err.code(), grpc.StatusCode.UNAUTHENTICATED)
                break
        else:
            self.fail("a key withdrawn from the JWKS file stayed trusted")

    def test_12_key_set_state_in_metrics(self):
        # The offline-window state is visible to monitoring: fresh after a
        # good refresh, with the time of that refresh.
        code, body = self.d.http_get("/metrics")
        self.assertEqual(code, 200)
        self.assertIn('mds_auth_key_set_state{state="fresh"} 1', body)
        self.assertIn('mds_auth_key_set_state{state="expired"} 0', body)
        last = [l for l in body.splitlines()
                if l.startswith("mds_auth_key_set_last_refresh_seconds ")]
        self.assertEqual(len(last), 1)
        self.assertGreater(int(last[0].split()[1]), time.time() - 3600)


    def test_11_bypass_governance_is_its_own_right(self):
        until = int((time.time() + 3600) * 1e9)
        self.call("/mds.v1.Namespace/PutObject",
                  self.nsp.PutObjectRequest(bucket="bkt-one", name="worm/1", size=1,
                                            lock_mode=self.nsp.RETENTION_MODE_GOVERNANCE,
                                            lock_retain_until_ns=until),
                  self.nsp.PutObjectResponse, token=self.admin)
        kim = self.idp.token("kim")
        w = self.bind(ISS + "#kim", "owner", "bucket/bkt-one")
        dreq = self.nsp.DeleteObjectRequest(bucket="bkt-one", name="worm/1",
                                            bypass_governance_retention=True)
        e = self.code_of(lambda: self.call("/mds.v1.Namespace/DeleteObject", dreq,
                                           self.nsp.DeleteObjectResponse, token=kim))
        self.assertEqual(e.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("bypass-governance", e.details())
        self.assertTrue(self.exists("bkt-one", "worm/1"))
        # without the bypass the lock itself refuses
        e = self.code_of(lambda: self.call(
            "/mds.v1.Namespace/DeleteObject",
            self.nsp.DeleteObjectRequest(bucket="bkt-one", name="worm/1"),
            self.nsp.DeleteObjectResponse, token=kim))
        self.assertEqual(e.code(), grpc.StatusCode.FAILED_PRECONDITION)
        bp = self.bind(ISS + "#kim", "bypass-governance", "prefix/bkt-one/worm/")
        self.call("/mds.v1.Namespace/DeleteObject", dreq, self.nsp.DeleteObjectResponse,
                  token=kim)
        self.assertFalse(self.exists("bkt-one", "worm/1"))
        self.unbind(w.id)
        self.unbind(bp.id)


class DevModeTest(unittest.TestCase):
    def test_dev_mode_warns_and_is_loopback_only(self):
        tmp, cleanup = mdsd.tempdir("mds-gov-dev-")
        try:
            for flag in (["--auth-mode", "dev"], ["--dev"]):
                d = mdsd.Daemon(MDS, tmp, extra=flag).start()
                d.stop()
                self.assertEqual(d.read_log().count("event=auth_dev_mode"),
                                 1 if flag[0] == "--auth-mode" else 2)
                p = subprocess.run([MDS, "serve", "--data", os.path.join(tmp, "x"),
                                    "--listen", "0.0.0.0:0", "--tls-cert", "/nonexistent",
                                    "--tls-key", "/nonexistent"] + flag,
                                   capture_output=True, text=True, timeout=10)
                self.assertEqual(p.returncode, 2)
                self.assertIn("auth-mode dev", p.stderr)
            # dev mode trusts everyone: no admin token is made
            self.assertFalse(os.path.exists(os.path.join(tmp, "data", "admin.token")))
        finally:
            cleanup()


def jwt_parts(tok):
    h, p, _ = tok.split(".")
    dec = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
    return dec(h), dec(p)


class EmbeddedDefaultTest(unittest.TestCase):
    """No --auth-mode: a local issuer under DATA and an island-admin token."""

    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-gov-default-")
        py = os.path.join(cls.tmp, "py")
        # every mds.v1 module at once: the package is imported from one place
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(py)
        load_policy_pb(py)

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()

    def status(self, d, token=None):
        md = [("authorization", "Bearer " + token)] if token else None
        with grpc.insecure_channel(d.endpoint) as ch:
            return ch.unary_unary("/mds.v1.Admin/GetStatus", lambda m: m.SerializeToString(),
                                  self.adp.ServerStatus.FromString)(
                self.adp.GetStatusRequest(), timeout=10, metadata=md)

    def ctl(self, d, *args, env=None, cwd=None):
        e = dict(os.environ)
        e.pop("MDS_TOKEN", None)
        e.update(env or {})
        ep = ["--endpoint", d.endpoint] if d else []
        return subprocess.run([MDSCTL] + ep + list(args), capture_output=True, text=True,
                              timeout=20, env=e, cwd=cwd)

    def test_default_refuses_anonymous_and_accepts_admin_token(self):
        wd = os.path.join(self.tmp, "a")
        os.makedirs(wd)
        d = mdsd.Daemon(MDS, wd, auth_mode=None).start()
        try:
            data = d.data
            tok = d.admin_token()
            for name in ("admin.token", "local-issuer.key"):
                self.assertEqual(os.stat(os.path.join(data, name)).st_mode & 0o777, 0o600)
            log = d.read_log()
            self.assertIn("event=auth_local", log)
            self.assertIn("key_state=created", log)
            self.assertNotIn("auth_dev_mode", log)
            h, p = jwt_parts(tok)
            self.assertEqual(h["alg"], "EdDSA")
            self.assertEqual((p["iss"], p["sub"]), ("mds-local", "admin"))
            self.assertEqual(p["exp"] - p["iat"], 90 * 24 * 3600)   # long, but finite
            # anonymous: refused, and nothing changes
            with self.assertRaises(grpc.RpcError) as cm:
                self.status(d)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
            r = self.ctl(d, "team", "create", "anon")
            self.assertEqual(r.returncode, 1)
            self.assertIn("UNAUTHENTICATED", r.stderr)
            # a token signed by another key under the same kid is refused
            forged = tok.rsplit(".", 1)[0] + "." + b64(os.urandom(64))
            with self.assertRaises(grpc.RpcError) as cm:
                self.status(d, forged)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
            # the admin token works, through grpc and every mdsctl way of passing it
            self.assertTrue(self.status(d, tok).serving)
            self.assertEqual(self.ctl(d, "--token", tok, "team", "create", "t1").returncode, 0)
            r = self.ctl(d, "--token-file", os.path.join(data, "admin.token"), "team", "ls")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("t1", r.stdout)
            r = self.ctl(d, "team", "ls", env={"MDS_TOKEN": tok})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("anon", r.stdout)
            # a restart keeps the key: the old token stays good, a new one is written
            d.stop()
            time.sleep(1.1)       # a new iat, so the new token differs
            d = mdsd.Daemon(MDS, wd, auth_mode=None).start()
            self.assertIn("key_state=loaded", d.read_log())
            self.assertTrue(self.status(d, tok).serving)
            self.assertNotEqual(d.admin_token(), tok)
            self.assertTrue(self.status(d, d.admin_token()).serving)
        finally:
            d.stop()

    def test_mdsctl_reads_default_token_on_default_endpoint(self):
        import socket
        for port in (7420, 7421):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                self.skipTest("port %d is in use on this machine" % port)
            finally:
                s.close()
        wd = os.path.join(self.tmp, "b")
        os.makedirs(wd)
        p = subprocess.Popen([MDS, "serve"], cwd=wd, stderr=subprocess.PIPE, text=True)
        try:
            line = ""
            while "event=serving" not in line:
                line = p.stderr.readline()
                self.assertNotEqual(line, "", "mds exited")
            # README's command 1 then mdsctl with no extra step: ./var/mds/admin.token
            r = self.ctl(None, "team", "create", "research", cwd=wd)
            self.assertEqual(r.returncode, 0, r.stderr)
            # elsewhere (no token file in ./var/mds): unauthenticated
            r = self.ctl(None, "team", "ls", cwd=self.tmp)
            self.assertEqual(r.returncode, 1)
            self.assertIn("UNAUTHENTICATED", r.stderr)
        finally:
            p.send_signal(2)
            self.assertEqual(p.wait(timeout=15), 0)
            p.stderr.close()


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    MDSCTL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
