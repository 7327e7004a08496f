"""test_quota_grpc.py - the mds.v1.Quota service through Python grpcio
against a real `mds serve`: set/get/list/delete limits, usage with state,
refusals as RESOURCE_EXHAUSTED naming the scope, reserve/commit/release,
the audit log, and a reservation swept by the server after its TTL.

usage: test_quota_grpc.py PATH/TO/mds
"""
import os
import subprocess
import sys
import time
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import mdsd  # noqa: E402

MDS = None
NS = "/mds.v1.Namespace/"
AD = "/mds.v1.Admin/"
QU = "/mds.v1.Quota/"


def load_quota_proto(outdir):
    inc = os.path.join(mdsd.SRC, "include")
    subprocess.run(["protoc", "--proto_path=" + inc, "--python_out=" + outdir,
                    "mds/v1/quota.proto"], check=True, cwd=inc)
    from mds.v1 import quota_pb2  # noqa: E402
    return quota_pb2


class QuotaGrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-quota-grpc-")
        py = os.path.join(cls.tmp, "py")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(py)
        cls.q = load_quota_proto(py)
        cls.d = mdsd.Daemon(MDS, cls.tmp).start()
        cls.ch = grpc.insecure_channel(cls.d.endpoint)
        cls.c = mdsd.Client(cls.ch, cls.nsp, cls.adp)
        cls.c.unary(AD + "CreateTeam", cls.adp.CreateTeamRequest(team="ml"), cls.types.Team)
        cls.c.unary(NS + "CreateBucket", cls.nsp.CreateBucketRequest(bucket="data", team="ml"),
                    cls.types.Bucket)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.d.stop()
        cls.cleanup()

    def qcall(self, method, req, resp):
        return self.c.unary(QU + method, req, resp)

    def put(self, name, size):
        return self.c.unary(NS + "PutObject",
                            self.nsp.PutObjectRequest(bucket="data", name=name, size=size),
                            self.nsp.PutObjectResponse)

    def limits(self, **kw):
        q = self.q
        lim = q.QuotaLimits(grace_ns=kw.pop("grace_ns", 0))
        for k, v in kw.items():
            getattr(lim, k).CopyFrom(q.Limit(value=v))
        return lim

    def test_limits_usage_and_refusal(self):
        q = self.q
        info = self.qcall("SetQuota", q.SetQuotaRequest(scope="prefix/data/ckpt/",
                                                        limits=self.limits(max_bytes=1000),
                                                        principal="alice"), q.QuotaInfo)
        self.assertTrue(info.has_limits)
        self.assertEqual(info.limits.max_bytes.value, 1000)
        self.assertFalse(info.limits.HasField("max_objects"))
        self.put("ckpt/1", 900)
        with self.assertRaises(grpc.RpcError) as cm:
            self.put("ckpt/2", 200)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("'prefix/data/ckpt/': hard limit 1000 bytes; used 900, reserved 0, "
                      "request needs 200", cm.exception.details())
        # The island's own code tells a quota refusal from a busy server.
        self.assertEqual(dict(cm.exception.trailing_metadata()).get("mds-error"), "MDS_EQUOTA")
        self.put("other", 5000)   # not under the prefix
        info = self.qcall("GetQuota", q.GetQuotaRequest(scope="prefix/data/ckpt/"), q.QuotaInfo)
        self.assertEqual(info.used_bytes, 900)
        self.assertEqual(info.state, q.QUOTA_STATE_OK)
        info = self.qcall("GetUsage", q.GetUsageRequest(scope="team/ml"), q.QuotaInfo)
        self.assertFalse(info.has_limits)
        self.assertGreaterEqual(info.used_bytes, 5900)
        lst = self.qcall("ListQuotas", q.ListQuotasRequest(), q.ListQuotasResponse)
        self.assertIn("prefix/data/ckpt/", [x.scope for x in lst.quotas])
        self.qcall("DeleteQuota", q.DeleteQuotaRequest(scope="prefix/data/ckpt/", principal="bob"),
                   q.DeleteQuotaResponse)
        with self.assertRaises(grpc.RpcError) as cm:
            self.qcall("GetQuota", q.GetQuotaRequest(scope="prefix/data/ckpt/"), q.QuotaInfo)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(dict(cm.exception.trailing_metadata()).get("mds-error"),
                         "MDS_ENOTFOUND")
        audit = self.qcall("ListQuotaAudit", q.ListQuotaAuditRequest(),
                           q.ListQuotaAuditResponse)
        mine = [r for r in audit.records if r.scope == "prefix/data/ckpt/"]
        self.assertEqual([(r.principal, r.deleted) for r in mine], [("alice", False), ("bob", True)])
        self.assertEqual(mine[1].old_limits.max_bytes.value, 1000)
        self.assertFalse(mine[1].HasField("new_limits"))

    def test_bad_requests(self):
        q = self.q
        for scope in ("", "team", "prefix/data/no-slash", "user/x"):
            with self.assertRaises(grpc.RpcError) as cm:
                self.qcall("GetQuota", q.GetQuotaRequest(scope=scope), q.QuotaInfo)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, scope)
        with self.assertRaises(grpc.RpcError) as cm:
            self.qcall("SetQuota", q.SetQuotaRequest(scope="bucket/data", principal="a"),
                       q.QuotaInfo)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as cm:
            self.qcall("Release", q.ReleaseRequest(token="nope"), q.ReleaseResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_reserve_commit_release_and_sweep(self):
        q = self.q
        self.qcall("SetQuota", q.SetQuotaRequest(scope="prefix/data/up/",
                                                 limits=self.limits(max_bytes=1000),
                                                 principal="alice"), q.QuotaInfo)
        r1 = self.qcall("Reserve", q.ReserveRequest(bucket="data", name="up/a", bytes=700,
                                                    objects=1, ttl_ns=60 * 10**9), q.Reservation)
        self.assertEqual(len(r1.token), 32)
        with self.assertRaises(grpc.RpcError) as cm:
            self.qcall("Reserve", q.ReserveRequest(bucket="data", name="up/b", bytes=400,
                                                   objects=1, ttl_ns=60 * 10**9), q.Reservation)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("reserved 700", cm.exception.details())
        put = self.nsp.PutObjectRequest(bucket="data", name="up/a", size=600)
        resp = self.qcall("Commit", q.CommitRequest(token=r1.token, put=put),
                          self.nsp.PutObjectResponse)
        self.assertEqual(resp.version, 1)
        info = self.qcall("GetQuota", q.GetQuotaRequest(scope="prefix/data/up/"), q.QuotaInfo)
        self.assertEqual((info.used_bytes, info.reserved_bytes), (600, 0))
        r2 = self.qcall("Reserve", q.ReserveRequest(bucket="data", name="up/b", bytes=400,
                                                    objects=1, ttl_ns=60 * 10**9), q.Reservation)
        self.qcall("Release", q.ReleaseRequest(token=r2.token), q.ReleaseResponse)
        with self.assertRaises(grpc.RpcError) as cm:
            self.qcall("Release", q.ReleaseRequest(token=r2.token), q.ReleaseResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        # A reservation nobody commits is swept by the server after its TTL.
        self.qcall("Reserve", q.ReserveRequest(bucket="data", name="up/c", bytes=400, objects=1,
                                               ttl_ns=200 * 10**6), q.Reservation)
        info = self.qcall("GetQuota", q.GetQuotaRequest(scope="prefix/data/up/"), q.QuotaInfo)
        self.assertEqual(info.reserved_bytes, 400)
        self.assertEqual(info.state, q.QUOTA_STATE_BLOCKED_HARD)
        deadline = time.time() + 5
        while time.time() < deadline:
            info = self.qcall("GetQuota", q.GetQuotaRequest(scope="prefix/data/up/"),
                              q.QuotaInfo)
            if info.reserved_bytes == 0:
                break
            time.sleep(0.1)
        self.assertEqual(info.reserved_bytes, 0)
        self.assertEqual(info.state, q.QUOTA_STATE_OK)


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
