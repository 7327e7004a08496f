"""test_quota_race_grpc.py - 64 concurrent gRPC clients race puts of random
sizes through a real `mds serve` into nested scopes (team, bucket, prefix)
a few objects away from their hard limits.

What must hold afterwards, for every scope: usage never exceeds a limit;
the accepted puts add up exactly to the usage the server reports; and every
refused put would not fit even now (usage only grew during the race, so a
put refused at its commit could not fit at the end either). Then `mds check`
(counters equal a recount) passes on the stopped store.

usage: test_quota_race_grpc.py PATH/TO/mds
"""
import os
import random
import subprocess
import sys
import threading
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import mdsd  # noqa: E402
from test_quota_grpc import load_quota_proto  # noqa: E402

MDS = None
NS = "/mds.v1.Namespace/"
AD = "/mds.v1.Admin/"
QU = "/mds.v1.Quota/"
CLIENTS = 64
PUTS_PER_CLIENT = 12


class QuotaRaceTest(unittest.TestCase):
    def test_race(self):
        seed = int(os.environ.get("MDS_TEST_SEED", random.randrange(1 << 30)))
        print("seed", seed)
        tmp, cleanup = mdsd.tempdir("mds-quota-race-")
        try:
            py = os.path.join(tmp, "py")
            types, nsp, adp = mdsd.load_protos(py)
            q = load_quota_proto(py)
            d = mdsd.Daemon(MDS, tmp).start()
            ch = grpc.insecure_channel(d.endpoint)
            c = mdsd.Client(ch, nsp, adp)
            c.unary(AD + "CreateTeam", adp.CreateTeamRequest(team="ml"), types.Team)
            for b in ("data", "side"):
                c.unary(NS + "CreateBucket", nsp.CreateBucketRequest(bucket=b, team="ml"),
                        types.Bucket)

            def setq(scope, **kw):
                lim = q.QuotaLimits()
                for k, v in kw.items():
                    getattr(lim, k).CopyFrom(q.Limit(value=v))
                c.unary(QU + "SetQuota", q.SetQuotaRequest(scope=scope, limits=lim,
                                                           principal="test"), q.QuotaInfo)

            # Nested scopes: which one binds depends on where a put lands.
            setq("team/ml", max_bytes=60000)
            setq("bucket/data", max_objects=300, max_bytes=50000)
            setq("prefix/data/hot/", max_bytes=9000, max_objects=40)

            rng = random.Random(seed)
            plans = []
            for i in range(CLIENTS):
                plan = []
                for j in range(PUTS_PER_CLIENT):
                    where = rng.choice(["data", "data", "side"])
                    name = ("hot/" if where == "data" and rng.random() < 0.5 else "") + \
                        "c%02d-%02d" % (i, j)
                    plan.append((where, name, rng.randrange(1, 900)))
                plans.append(plan)
            results = [[] for _ in range(CLIENTS)]
            start = threading.Barrier(CLIENTS)

            def client(i):
                chan = grpc.insecure_channel(d.endpoint)
                cl = mdsd.Client(chan, nsp, adp)
                start.wait()
                for where, name, size in plans[i]:
                    try:
                        cl.unary(NS + "PutObject",
                                 nsp.PutObjectRequest(bucket=where, name=name, size=size),
                                 nsp.PutObjectResponse)
                        results[i].append((where, name, size, True))
                    except grpc.RpcError as e:
                        if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            raise
                        results[i].append((where, name, size, False))
                chan.close()

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            flat = [r for rs in results for r in rs]
            self.assertEqual(len(flat), CLIENTS * PUTS_PER_CLIENT)

            def usage(scope):
                info = c.unary(QU + "GetUsage", q.GetUsageRequest(scope=scope), q.QuotaInfo)
                return info.used_bytes, info.used_objects

            scopes = {
                "team/ml": (lambda w, n: True, 60000, None),
                "bucket/data": (lambda w, n: w == "data", 50000, 300),
                "prefix/data/hot/": (lambda w, n: w == "data" and n.startswith("hot/"), 9000, 40),
            }
            refused = [r for r in flat if not r[3]]
            self.assertTrue(refused, "the race never reached a limit; the test proves nothing")
            for scope, (covers, max_bytes, max_objects) in scopes.items():
                used_b, used_o = usage(scope)
                acc = [r for r in flat if r[3] and covers(r[0], r[1])]
                self.assertEqual(used_b, sum(r[2] for r in acc), scope)
                self.assertEqual(used_o, len(acc), scope)
                self.assertLessEqual(used_b, max_bytes, scope)
                if max_objects is not None:
                    self.assertLessEqual(used_o, max_objects, scope)
            # Every refusal is justified by some covering scope, even now.
            for where, name, size, _ in refused:
                fits = True
                for scope, (covers, max_bytes, max_objects) in scopes.items():
                    if not covers(where, name):
                        continue
                    used_b, used_o = usage(scope)
                    if used_b + size > max_bytes or (max_objects is not None and
                                                     used_o + 1 > max_objects):
                        fits = False
                self.assertFalse(fits, "put %s/%s (%d bytes) was refused but fits" %
                                 (where, name, size))
            print("%d puts, %d refused" % (len(flat), len(refused)))
            ch.close()
            d.stop()
            chk = subprocess.run([MDS, "check", "--data", d.data], capture_output=True,
                                 text=True)
            self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)
        finally:
            cleanup()


if __name__ == "__main__":
    MDS = sys.argv.pop(1)
    unittest.main()
