"""test_daemon.py - the mds daemon as an operator sees it: SIGTERM during
load (every acknowledged put is present after restart), a second signal,
`mds check`, config file and flag rules, the embedded default.

usage: test_daemon.py PATH/TO/mds PATH/TO/tamper_usage
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import grpc

import mdsd

MDS = TAMPER = None
NS = "/mds.v1.Namespace/"


class DaemonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-daemon-")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(os.path.join(cls.tmp, "py"))

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()

    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop()

    def start(self, name, extra=(), data=None):
        wd = os.path.join(self.tmp, name)
        os.makedirs(wd, exist_ok=True)
        d = mdsd.Daemon(MDS, wd, extra=extra, data=data).start()
        self.daemons.append(d)
        return d

    def methods(self, ch):
        n, a, T = self.nsp, self.adp, self.types
        ser = lambda m: m.SerializeToString()  # noqa: E731
        return {
            "team": ch.unary_unary("/mds.v1.Admin/CreateTeam", ser, T.Team.FromString),
            "bucket": ch.unary_unary(NS + "CreateBucket", ser, T.Bucket.FromString),
            "put": ch.unary_unary(NS + "PutObject", ser, n.PutObjectResponse.FromString),
            "stream": ch.unary_stream(NS + "ListObjectsStream", ser,
                                      n.ListObjectsStreamResponse.FromString),
        }

    def all_names(self, d, bucket):
        with grpc.insecure_channel(d.endpoint) as ch:
            m = self.methods(ch)
            return {o.name for r in m["stream"](self.nsp.ListObjectsStreamRequest(bucket=bucket),
                                                timeout=60) for o in r.objects}

    def test_sigterm_under_load(self):
        self.sigterm_under_load("load", [])

    def test_sigterm_under_load_three_workers(self):
        # durable answers go back to the worker that took each call: with
        # several workers, every acknowledged put must still be stored and
        # every call answered or refused (not lost) across the stop
        self.sigterm_under_load("load3", ["--threads", "3"])

    def sigterm_under_load(self, name, extra):
        d = self.start(name, extra=extra)
        acked, lock, stop = set(), threading.Lock(), threading.Event()
        bad = []
        with grpc.insecure_channel(d.endpoint) as ch:
            m = self.methods(ch)
            m["team"](self.adp.CreateTeamRequest(team="t"), timeout=10)
            m["bucket"](self.nsp.CreateBucketRequest(bucket="load", team="t"), timeout=10)

            def writer(w):
                i = 0
                while not stop.is_set():
                    futs = [(("w%d/%06d" % (w, i + k)),
                             m["put"].future(self.nsp.PutObjectRequest(
                                 bucket="load", name="w%d/%06d" % (w, i + k), size=1),
                                 timeout=10)) for k in range(16)]
                    i += 16
                    for name, f in futs:
                        try:
                            f.result()
                            with lock:
                                acked.add(name)
                        except grpc.RpcError as e:
                            if e.code() not in (grpc.StatusCode.UNAVAILABLE,
                                                grpc.StatusCode.CANCELLED):
                                bad.append((name, e.code(), e.details()))
                            stop.set()

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
            for t in threads:
                t.start()
            time.sleep(1.0)
            d.signal(signal.SIGTERM)
            rc = d.wait(timeout=30)
            stop.set()
            for t in threads:
                t.join(timeout=30)
        self.assertEqual(rc, 0, d.read_log())
        self.assertEqual(bad, [])
        self.assertGreater(len(acked), 50)
        log = d.read_log()
        self.assertIn("event=stopping", log)
        self.assertIn("event=stopped", log)
        if "--threads" in extra:
            self.assertIn("threads=%s" % extra[extra.index("--threads") + 1], log)
        chk = subprocess.run([MDS, "check", "--data", d.data], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)
        self.assertIn("consistent", chk.stdout)
        d2 = self.start(name + "-again", data=d.data)
        present = self.all_names(d2, "load")
        self.assertEqual(acked - present, set())

    def test_second_signal_exits_at_once(self):
        d = self.start("twice", extra=["--grace-ms", "20000"])
        # no BDP probing: the flow-control window stays small, so the
        # server cannot finish the stream while the client does not read
        with grpc.insecure_channel(d.endpoint, options=[("grpc.http2.bdp_probe", 0)]) as ch:
            m = self.methods(ch)
            m["team"](self.adp.CreateTeamRequest(team="t"), timeout=10)
            m["bucket"](self.nsp.CreateBucketRequest(bucket="big", team="t"), timeout=10)
            for f in [m["put"].future(self.nsp.PutObjectRequest(bucket="big", name="o%05d" % i,
                                                                 size=1, etag="x" * 100))
                      for i in range(6000)]:
                f.result(timeout=60)
            it = m["stream"](self.nsp.ListObjectsStreamRequest(bucket="big"), timeout=60)
            next(it)   # hold the stream open without reading on
            d.signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertIsNone(d.proc.poll(), "exited before the grace period with a "
                              "stream still open")
            t0 = time.time()
            d.signal(signal.SIGTERM)
            rc = d.wait(timeout=10)
            self.assertLess(time.time() - t0, 5)
            it.cancel()
        self.assertEqual(rc, 1)
        self.assertIn("event=exit_now", d.read_log())
        chk = subprocess.run([MDS, "check", "--data", d.data], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)
        d2 = self.start("twice2", data=d.data)
        self.assertEqual(len(self.all_names(d2, "big")), 6000)

    def test_store_full(self):
        """A full LMDB map answers RESOURCE_EXHAUSTED; reads go on."""
        d = self.start("full", extra=["--map-size", "1MiB"])
        with grpc.insecure_channel(d.endpoint) as ch:
            m = self.methods(ch)
            head = ch.unary_unary(NS + "HeadObject", lambda x: x.SerializeToString(),
                                  self.types.ObjectRecord.FromString)
            m["team"](self.adp.CreateTeamRequest(team="t"), timeout=10)
            m["bucket"](self.nsp.CreateBucketRequest(bucket="fill", team="t"), timeout=10)
            meta = [self.types.KeyValue(key="k", value="v" * 2000)]
            code = None
            for i in range(2000):
                try:
                    m["put"](self.nsp.PutObjectRequest(bucket="fill", name="o%05d" % i,
                                                       size=1, metadata=meta), timeout=10)
                except grpc.RpcError as e:
                    code, msg = e.code(), e.details()
                    break
            self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertGreater(i, 10)
            self.assertEqual(head(self.nsp.HeadObjectRequest(bucket="fill", name="o00000"),
                                  timeout=10).size, 1)

    def test_check_usage(self):
        p = subprocess.run([MDS, "check", "--data", os.path.join(self.tmp, "none")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no store directory", p.stderr)
        p = subprocess.run([MDS, "check", "--bogus"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([MDS, "frob"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        for cmd in (["--help"], ["serve", "--help"], ["check", "--help"]):
            p = subprocess.run([MDS] + cmd, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0)
            self.assertIn("usage: mds", p.stdout)

    def test_check_finds_problems(self):
        d = self.start("tamper")
        with grpc.insecure_channel(d.endpoint) as ch:
            m = self.methods(ch)
            m["team"](self.adp.CreateTeamRequest(team="victim"), timeout=10)
            m["bucket"](self.nsp.CreateBucketRequest(bucket="vbk", team="victim"), timeout=10)
            m["put"](self.nsp.PutObjectRequest(bucket="vbk", name="x", size=1000), timeout=10)
        d.stop()
        ok = subprocess.run([MDS, "check", "--data", d.data], capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        t = subprocess.run([TAMPER, d.data, "victim"], capture_output=True, text=True)
        self.assertEqual(t.returncode, 0, t.stderr)
        bad = subprocess.run([MDS, "check", "--data", d.data], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("problem:", bad.stdout)
        self.assertIn("victim", bad.stdout)
        self.assertIn("1 problem", bad.stderr)

    def serve_fails(self, *args):
        p = subprocess.run([MDS, "serve", "--data", os.path.join(self.tmp, "never")] +
                           list(args), capture_output=True, text=True, timeout=10)
        return p

    def test_flag_rules(self):
        p = self.serve_fails("--listen", "0.0.0.0:0", "--http", "off")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--insecure", p.stderr)
        p = self.serve_fails("--tls-cert", "/nonexistent.pem")
        self.assertEqual(p.returncode, 2)
        p = self.serve_fails("--tls-client-auth", "--tls-cert", "a", "--tls-key", "b")
        self.assertEqual(p.returncode, 2)
        p = self.serve_fails("--threads", "zero")
        self.assertEqual(p.returncode, 2)
        p = self.serve_fails("--listen", "nonsense")
        self.assertEqual(p.returncode, 2)
        d = self.start("insecure", extra=["--insecure"])
        self.assertEqual(d.http_get("/readyz")[0], 200)

    def test_config_file(self):
        wd = os.path.join(self.tmp, "cfg")
        os.makedirs(wd, exist_ok=True)
        cfg = os.path.join(wd, "mds.json")
        with open(cfg, "w") as f:
            json.dump({"data": os.path.join(wd, "store"), "threads": 3,
                       "log-level": "debug", "max-message": "1MiB"}, f)
        d = self.start("cfg", extra=["--config", cfg])
        s = subprocess.run([MDS, "check", "--data", os.path.join(wd, "data")],
                           capture_output=True, text=True)
        # the daemon's --data flag (set by the harness) wins over the file
        self.assertEqual(s.returncode, 0, s.stderr)
        with grpc.insecure_channel(d.endpoint) as ch:
            st = ch.unary_unary("/mds.v1.Admin/GetStatus", lambda m: m.SerializeToString(),
                                self.adp.ServerStatus.FromString)(self.adp.GetStatusRequest(),
                                                                  timeout=10)
        self.assertEqual(st.worker_threads, 3)
        self.assertTrue(st.data_dir.endswith("/data"))
        with open(cfg, "w") as f:
            json.dump({"lissten": "127.0.0.1:0"}, f)
        p = self.serve_fails("--config", cfg)
        self.assertEqual(p.returncode, 2)
        self.assertIn("lissten", p.stderr)
        with open(cfg, "w") as f:
            f.write("{not json")
        p = self.serve_fails("--config", cfg)
        self.assertEqual(p.returncode, 2)

    def test_embedded_default(self):
        for port in (7420, 7421):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                self.skipTest("port %d is in use on this machine" % port)
            finally:
                s.close()
        wd = os.path.join(self.tmp, "default")
        os.makedirs(wd)
        p = subprocess.Popen([MDS, "serve"], cwd=wd, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            while not lines or "event=serving" not in lines[-1]:
                lines.append(p.stderr.readline())
                self.assertNotEqual(lines[-1], "", "mds exited: %s" % "".join(lines))
            self.assertIn("event=start", lines[0])
            self.assertIn('data="./var/mds"', lines[0])
            self.assertIn("listen=127.0.0.1:7420", lines[0])
            self.assertIn("http=127.0.0.1:7421", lines[0])
            self.assertIn("event=embedded_default", lines[1])
            self.assertIn("loopback only", lines[1])
            # secure by default: a local issuer and an admin token, said early
            self.assertIn("event=auth_local", lines[2])
            self.assertIn('token_file="./var/mds/admin.token"', lines[2])
            self.assertFalse(any("auth_dev_mode" in x for x in lines))
            self.assertTrue(os.path.isdir(os.path.join(wd, "var", "mds")))
            tok = os.path.join(wd, "var", "mds", "admin.token")
            self.assertEqual(os.stat(tok).st_mode & 0o777, 0o600)
        finally:
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(timeout=15), 0)
            p.stderr.close()


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    TAMPER = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
