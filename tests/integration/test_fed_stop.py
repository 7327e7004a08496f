"""test_fed_stop.py - a subscriber stops promptly (exit 0, well inside the
stop watchdog of grace + 10 s) when its peer's established follow stream
is black-holed (issue 6/9: the chaos drills saw islands hang in
mds_federation_stop, joining a peer thread whose cancelled Subscribe batch
never completed).

  * busy peer (the drills' hang): island-a commits a checkpoint every
    20 ms under a steady write load, so every RECV_MESSAGE of island-b's
    follow stream completes within the peer thread's 200 ms poll tick;
    the thread used to look at the stop flag only after a tick with no
    completion, i.e. never: SIGTERM ended in the stop watchdog (exit 1
    after grace + 10 s). Now it must exit 0 promptly;
  * black hole: island-b follows island-a; once the stream is live, an
    nftables rule drops the flow both ways (as the drills' partitions do)
    and island-b gets SIGTERM;
  * one-way cut: only island-b's packets to island-a are dropped (the
    drills' WAN path: the subscriber still receives, cannot answer);
  * stuck cancel: island-b runs with MDS_FED_FAULT=ignore-cancel (its peer
    thread does not call grpc_call_cancel, which is what a cancel that does
    not complete the pending batch looks like to the thread), with the
    flow black-holed: the call must be abandoned about a second after the
    stop, the daemon exits 0, and the log says peer_call_abandoned.

The cuts need root and nft (loopback rules in a table of its own) and
skip otherwise; the busy peer runs everywhere.

usage: test_fed_stop.py PATH/TO/mds
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

import grpc

import mdsd

MDS = None
NFT = False
P = {}
GRACE_MS = 500


def nft(*args, check=True):
    return subprocess.run(["nft"] + list(args), capture_output=True, text=True, check=check)


def nft_usable():
    if os.geteuid() != 0 or not shutil.which("nft"):
        return False
    t = "mdsfs_probe%d" % os.getpid()
    if nft("add", "table", "inet", t, check=False).returncode != 0:
        return False
    nft("delete", "table", "inet", t, check=False)
    return True


def setUpModule():
    global TMP, CLEAN, NFT
    NFT = nft_usable()
    TMP, CLEAN = mdsd.tempdir("mds-fedstop-py-")
    t, ns, ad = mdsd.load_protos(os.path.join(TMP, "py"))
    fp, gp = mdsd.load_fed_protos(os.path.join(TMP, "py"))
    P.update(types=t, ns=ns, ad=ad, feed=fp, glob=gp)


def tearDownModule():
    CLEAN()


def wait_for(pred, timeout, what):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            last = pred()
            if last:
                return last
        except grpc.RpcError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("%s not reached within %.1fs (last: %r)" % (what, timeout, last))


class FedStop(unittest.TestCase):
    def setUp(self):
        self.dir, self.clean = mdsd.tempdir("mds-fedstop-")
        self.table = "mdsfs%d" % os.getpid()
        self.islands = []

    def tearDown(self):
        nft("delete", "table", "inet", self.table, check=False)
        for i in self.islands:
            if i.daemon and i.daemon.proc and i.daemon.proc.poll() is None:
                i.daemon.proc.kill()
                i.daemon.proc.wait()
        try:
            for i in self.islands:
                i.stop()
        finally:
            self.clean()

    def pair(self, env=None):
        """island-a publishing, island-b following it with a live stream."""
        a = mdsd.Island(MDS, self.dir, "island-a")
        b = mdsd.Island(MDS, self.dir, "island-b")
        self.islands += [a, b]
        b.peers = [a]
        a.start()
        saved = dict(os.environ)
        os.environ.update(env or {})
        try:
            b.start(extra=["--grace-ms", str(GRACE_MS)])
        finally:
            os.environ.clear()
            os.environ.update(saved)
        with grpc.insecure_channel(b.endpoint) as ch:
            peers = ch.unary_unary("/mds.v1.Global/Peers",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=P["glob"].PeersResponse.FromString)

            def live():
                p = peers(P["glob"].PeersRequest(), timeout=5).peers[0]
                return p.state == P["glob"].PEER_LIVE and p.last_contact_ms > 0 and p
            wait_for(live, 15, "island-b live on island-a's stream")
        return a, b

    def cut(self, port, both=True):
        if not NFT:
            self.skipTest("needs root and a working nft")
        nft("add", "table", "inet", self.table)
        nft("add", "chain", "inet", self.table, "out",
            "{ type filter hook output priority 0; policy accept; }")
        nft("add", "rule", "inet", self.table, "out", "tcp", "dport", str(port), "drop")
        if both:
            nft("add", "rule", "inet", self.table, "out", "tcp", "sport", str(port), "drop")

    def stop_within(self, isl, limit):
        """SIGTERM @isl; its exit code and how long it took (fails past @limit)."""
        t0 = time.monotonic()
        isl.daemon.signal(signal.SIGTERM)
        try:
            rc = isl.daemon.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            isl.daemon.proc.kill()
            isl.daemon.proc.wait()
            isl.daemon.log.close()
            isl.daemon.proc = None
            self.fail("%s did not exit within %.1f s of SIGTERM; log ends:\n%s" % (
                isl.origin, limit, isl.daemon.read_log()[-3000:]))
        took = time.monotonic() - t0
        isl.daemon.log.close()
        isl.daemon.proc = None
        log = isl.daemon.read_log()
        self.assertEqual(rc, 0, "%s exited %d after SIGTERM; log ends:\n%s" % (
            isl.origin, rc, log[-3000:]))
        self.assertNotIn("exit_now", log)
        isl.daemon = None
        return took, log

    def load(self, isl):
        """A writer thread on @isl (puts until the returned stop() is called)."""
        ch = grpc.insecure_channel(isl.endpoint)

        def unary(path, resp):
            return ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=resp.FromString)
        unary("/mds.v1.Admin/CreateTeam", P["types"].Team)(
            P["ad"].CreateTeamRequest(team="ml"), timeout=10)
        unary("/mds.v1.Namespace/CreateBucket", P["types"].Bucket)(
            P["ns"].CreateBucketRequest(bucket="busy", team="ml"), timeout=10)
        put = unary("/mds.v1.Namespace/PutObject", P["ns"].PutObjectResponse)
        done = threading.Event()
        count = [0]

        def run():
            while not done.is_set():
                try:
                    put(P["ns"].PutObjectRequest(bucket="busy", name="o%d" % (count[0] % 500),
                                                 size=1), timeout=5)
                    count[0] += 1
                except grpc.RpcError:
                    pass
        th = threading.Thread(target=run, daemon=True)
        th.start()

        def stop():
            done.set()
            th.join()
            ch.close()
        return stop, count

    def test_busy_peer(self):
        a, b = self.pair()
        stop_load, count = self.load(a)
        try:
            start = count[0]
            wait_for(lambda: count[0] > start + 50, 10, "writes flowing on island-a")
            took, _ = self.stop_within(b, GRACE_MS / 1000 + 6)
            self.assertGreater(count[0], start + 50)
        finally:
            stop_load()
        self.assertLess(took, GRACE_MS / 1000 + 2.5)

    def test_black_hole(self):
        a, b = self.pair()
        self.cut(a.port)
        time.sleep(0.5)      # let the stream notice nothing (no assert on it)
        took, _ = self.stop_within(b, GRACE_MS / 1000 + 4)
        self.assertLess(took, GRACE_MS / 1000 + 2.5)

    def test_one_way_cut(self):
        a, b = self.pair()
        self.cut(a.port, both=False)
        time.sleep(0.5)
        took, _ = self.stop_within(b, GRACE_MS / 1000 + 4)
        self.assertLess(took, GRACE_MS / 1000 + 2.5)

    def test_cancel_that_does_not_complete(self):
        a, b = self.pair(env={"MDS_FED_FAULT": "ignore-cancel"})
        self.cut(a.port)
        time.sleep(0.5)
        # without the abandon path the peer thread waits for its batch
        # forever and the stop watchdog ends the process with 1 after
        # grace + 10 s
        took, log = self.stop_within(b, GRACE_MS / 1000 + 6)
        self.assertLess(took, GRACE_MS / 1000 + 2.5)
        self.assertIn("event=peer_call_abandoned", log)
        self.assertIn("stopping=1", log)


if __name__ == "__main__":
    MDS = sys.argv[1]
    del sys.argv[1:2]
    unittest.main(verbosity=2)
