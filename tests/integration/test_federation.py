"""test_federation.py - islands following each other's signed feeds into the
global view, through real daemons (2 and 3 islands, each with its own
`mds keys init` origin):

  * steady replication: puts, overwrites, deletes and 1,024-byte names on A
    show in B's Global view with identical records, paged, with usage;
    applying them appends nothing to B's own feed; mdsctl global/peers/feed;
  * three islands in a mesh;
  * every peer unreachable: the island serves its own namespace as before;
  * publisher SIGKILLed and restarted: stale, then caught up;
  * subscriber SIGKILLed repeatedly during catch-up of a backlog: at every
    stored cursor the view equals the source's state recomputed from
    GetEntries at that size (exactly once);
  * a man-in-the-middle Feed server (grpcio) that relays a real island and
    lies on demand: tampered entry, reordered entries, gap, replayed old
    checkpoint - never applied, tamper alarm, heals when the lying stops;
  * forked publisher (same key, diverging history): view frozen at the last
    verified state, fork alarm, `mdsctl peers reset` resyncs;
  * key rotation (subscriber trusting only the new key) and an unknown
    signer (nothing applied, no alarm).

usage: test_federation.py PATH/TO/mds PATH/TO/mdsctl
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import unittest
from concurrent import futures

import grpc

import mdsd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_verify_note as fv  # noqa: E402

MDS = MDSCTL = None
NS, AD, FD, GL = "/mds.v1.Namespace/", "/mds.v1.Admin/", "/mds.v1.Feed/", "/mds.v1.Global/"
P = {}   # generated message modules


def setUpModule():
    global TMP, CLEAN
    TMP, CLEAN = mdsd.tempdir("mds-fed-py-")
    t, ns, ad = mdsd.load_protos(os.path.join(TMP, "py"))
    fp, gp = mdsd.load_fed_protos(os.path.join(TMP, "py"))
    P.update(types=t, ns=ns, ad=ad, feed=fp, glob=gp)


def tearDownModule():
    CLEAN()


def wait_for(pred, timeout=10.0, what="condition"):
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        try:
            last = pred()
            if last:
                return last
        except grpc.RpcError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("%s not reached within %.1fs (last: %r)" % (what, timeout, last))


def decode_leaf(b):
    """The leaf encoding of docs/federation.md (version 1)."""
    version, kind, seq, t, kv = struct.unpack(">BBQQQ", b[:26])
    p, fields = 26, []
    for _ in range(8):
        (n,) = struct.unpack(">I", b[p:p + 4])
        fields.append(b[p + 4:p + 4 + n])
        p += 4 + n
    state = b[p]
    p += 1
    record = None
    if state == 1:
        (n,) = struct.unpack(">I", b[p:p + 4])
        record = b[p + 4:p + 4 + n]
    names = ["origin", "team", "bucket", "name", "scope", "principal", "reservation", "extra"]
    d = dict(zip(names, fields))
    d.update(kind=kind, seq=seq, key_version=kv, state=state, record=record)
    return d


OBJECT_KINDS = {5, 6, 23, 30, 31, 32, 33, 34, 36, 40, 43, 70, 71}


def replay_state(leaves):
    """Objects (bucket, name) -> (version, size, mtime_ns) and team usage after
    @leaves, recomputed from the leaf bytes alone (the test's own model)."""
    objs, bucket_team = {}, {}
    for b in leaves:
        lf = decode_leaf(b)
        if lf["kind"] == 3 and lf["state"] == 1:        # bucket create: record has the team
            tl = lf["record"][17]
            bucket_team[lf["bucket"]] = lf["record"][18:18 + tl]
        elif lf["kind"] in OBJECT_KINDS and lf["name"] and lf["state"] != 2:
            key = (lf["bucket"].decode(), lf["name"].decode())
            if lf["state"] == 1:
                r = lf["record"]
                objs[key] = (struct.unpack("<Q", r[2:10])[0], struct.unpack("<Q", r[10:18])[0],
                             struct.unpack("<Q", r[26:34])[0])
            else:
                objs.pop(key, None)
    return objs


class Fed(unittest.TestCase):
    def setUp(self):
        self.dir, self.clean = mdsd.tempdir("mds-fed-")
        self.islands = []
        self.channels = {}
        self.extra_cleanup = []

    def tearDown(self):
        for f in self.extra_cleanup:
            f()
        for ch in self.channels.values():
            ch.close()
        problems = []
        for i in self.islands:
            try:
                i.stop()
            except AssertionError as e:
                problems.append(str(e))
        self.clean()
        if problems:
            raise AssertionError("\n".join(problems))

    # -- helpers --
    def island(self, origin, data=None):
        i = mdsd.Island(MDS, self.dir, origin, data=data)
        self.islands.append(i)
        return i

    def ch(self, isl):
        key = isl.endpoint
        if key not in self.channels:
            creds = getattr(isl, "creds", None)
            self.channels[key] = (grpc.secure_channel(key, creds) if creds else
                                  grpc.insecure_channel(key))
        return self.channels[key]

    def call(self, isl, path, req, resp_cls, timeout=10):
        f = self.ch(isl).unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=resp_cls.FromString)
        tok = isl.token
        return f(req, timeout=timeout,
                 metadata=[("authorization", "Bearer " + tok)] if tok else None)

    def team(self, isl, team):
        self.call(isl, AD + "CreateTeam", P["ad"].CreateTeamRequest(team=team), P["types"].Team)

    def bucket(self, isl, bucket, team):
        self.call(isl, NS + "CreateBucket", P["ns"].CreateBucketRequest(bucket=bucket, team=team),
                  P["types"].Bucket)

    def put(self, isl, bucket, name, size, **kw):
        return self.call(isl, NS + "PutObject",
                         P["ns"].PutObjectRequest(bucket=bucket, name=name, size=size, **kw),
                         P["ns"].PutObjectResponse)

    def delete(self, isl, bucket, name):
        self.call(isl, NS + "DeleteObject", P["ns"].DeleteObjectRequest(bucket=bucket, name=name),
                  P["ns"].DeleteObjectResponse)

    def head(self, isl, bucket, name):
        return self.call(isl, NS + "HeadObject", P["ns"].HeadObjectRequest(bucket=bucket, name=name),
                         P["types"].ObjectRecord)

    def log_size(self, isl):
        # compacted: ask from the first retained leaf, which a compactor
        # running every 50 ms may move again before the next call
        start = 0
        for _ in range(20):
            try:
                r = self.call(isl, FD + "GetEntries",
                              P["feed"].GetEntriesRequest(start=start, end=start + 1),
                              P["feed"].FeedEntries)
                return r.tree_size
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                start = int(e.details().split("first retained leaf is ")[1].split(";")[0])
        self.fail("the feed's first retained leaf kept moving for 20 calls")

    def entries(self, isl, start, end):
        out = []
        while start < end:
            r = self.call(isl, FD + "GetEntries", P["feed"].GetEntriesRequest(start=start, end=end),
                          P["feed"].FeedEntries)
            self.assertTrue(r.entries)
            for e in r.entries:
                self.assertEqual(e.seq, start)
                out.append(e.leaf)
                start += 1
        return out

    def peers(self, isl):
        return self.call(isl, GL + "Peers", P["glob"].PeersRequest(), P["glob"].PeersResponse)

    def peer(self, isl, origin):
        for p in self.peers(isl).peers:
            if p.origin == origin:
                return p
        self.fail("no peer %s on %s" % (origin, isl.origin))

    def glist(self, isl, bucket, origins=(), max_keys=0, prefix=""):
        """Every page of Global.ListObjects: ([(origin, record)], as_of by origin)."""
        out, token, as_of = [], "", {}
        while True:
            r = self.call(isl, GL + "ListObjects",
                          P["glob"].GlobalListRequest(bucket=bucket, origins=list(origins),
                                                      max_keys=max_keys, prefix=prefix,
                                                      continuation_token=token),
                          P["glob"].GlobalListResponse)
            out += [(o.origin, o.object) for o in r.objects]
            for a in r.as_of:
                as_of.setdefault(a.origin, a)
            if not r.truncated:
                return out, as_of
            token = r.next_continuation_token

    def wait_applied(self, sub, pub, timeout=15):
        """Until sub has applied pub's whole log (and says so)."""
        def done():
            want = self.log_size(pub)
            p = self.peer(sub, pub.origin)
            return p.applied_size == want and p.state == P["glob"].PEER_LIVE and p
        return wait_for(done, timeout, "%s caught up with %s" % (sub.origin, pub.origin))

    def mdsctl(self, isl, *args):
        p = subprocess.run([MDSCTL, "--endpoint", isl.endpoint] + list(args),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, "mdsctl %s: %s %s" % (args, p.stdout, p.stderr))
        return p.stdout

    def assert_view_matches(self, sub, pub, buckets):
        """sub's Global view of pub equals pub's live records, exactly."""
        for b in buckets:
            got, as_of = self.glist(sub, b, origins=[pub.origin], max_keys=7)
            self.assertEqual(as_of[pub.origin].size, self.log_size(pub))
            listed = self.call(pub, NS + "ListObjects",
                               P["ns"].ListObjectsRequest(bucket=b, max_keys=1000),
                               P["ns"].ListObjectsResponse)
            names = [e.object.name for e in listed.entries]
            self.assertEqual([o.name for _, o in got], names)
            for origin, rec in got:
                self.assertEqual(origin, pub.origin)
                self.assertEqual(rec, self.head(pub, b, rec.name), rec.name)

    def assert_view_is_state(self, sub, src_origin, leaves, buckets):
        """The view of src in sub equals the state after @leaves."""
        want = replay_state(leaves)
        got = {}
        for b in buckets:
            objs, as_of = self.glist(sub, b, origins=[src_origin], max_keys=500)
            self.assertEqual(as_of[src_origin].size, len(leaves))
            for _, o in objs:
                got[(b, o.name)] = (o.version, o.size, o.mtime_ns)
        self.assertEqual(got, want)

    # -- tests --
    def test_steady_replication_two_islands(self):
        a, b = self.island("island-a"), self.island("island-b")
        a.peers, b.peers = [b], [a]
        a.start()
        b.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        long_name = "n" * 1023 + "z"
        for i in range(30):
            self.put(a, "ckpt", "run/%03d" % i, 1000 + i, etag='"e%d"' % i,
                     content_type="application/octet-stream",
                     metadata=[P["types"].KeyValue(key="step", value=str(i))])
        for i in range(5):
            self.put(a, "ckpt", "run/%03d" % i, 5, etag='"again"')      # overwrites
        for i in range(25, 28):
            self.delete(a, "ckpt", "run/%03d" % i)
        self.put(a, "ckpt", long_name, 7)
        self.put(a, "ckpt", "n" * 1023 + "a", 8)
        self.team(b, "infra")
        self.bucket(b, "logs", "infra")
        self.put(b, "logs", "x", 3)
        b_own = self.log_size(b)

        self.wait_applied(b, a)
        self.wait_applied(a, b)
        self.assert_view_matches(b, a, ["ckpt"])
        self.assert_view_matches(a, b, ["logs"])
        # the island's own part comes from its live store, labelled local
        got, as_of = self.glist(b, "logs")
        self.assertEqual([(o, r.name) for o, r in got], [("island-b", "x")])
        self.assertEqual(as_of["island-b"].state, P["glob"].PEER_LOCAL)
        self.assertEqual(as_of["island-b"].size, b_own)
        # applying A's leaves appended nothing to B's own feed
        self.assertEqual(self.log_size(b), b_own)
        # GetObject and the prefix
        g = self.call(b, GL + "GetObject", P["glob"].GlobalGetRequest(bucket="ckpt", name=long_name),
                      P["glob"].GlobalGetResponse)
        self.assertEqual([(o.origin, o.object.size) for o in g.objects], [("island-a", 7)])
        with self.assertRaises(grpc.RpcError) as cm:
            self.call(b, GL + "GetObject", P["glob"].GlobalGetRequest(bucket="ckpt", name="run/026"),
                      P["glob"].GlobalGetResponse)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        got, _ = self.glist(b, "ckpt", prefix="run/00")
        self.assertEqual([r.name for _, r in got], ["run/%03d" % i for i in range(10)])
        with self.assertRaises(grpc.RpcError) as cm:
            self.glist(b, "ckpt", origins=["nowhere"])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        # usage per team across islands, exact
        u = self.call(b, GL + "Usage", P["glob"].GlobalUsageRequest(), P["glob"].GlobalUsageResponse)
        teams = {t.team: t for t in u.teams}
        ml = self.call(a, AD + "GetTeam", P["ad"].GetTeamRequest(team="ml"), P["types"].Team)
        self.assertEqual((teams["ml"].bytes, teams["ml"].objects), (ml.bytes, ml.objects))
        self.assertEqual([i.origin for i in teams["ml"].islands], ["island-a"])
        self.assertEqual((teams["infra"].bytes, teams["infra"].objects), (3, 1))
        # mdsctl
        doc = json.loads(self.mdsctl(b, "--json", "global", "ls", "ckpt", "--origin", "island-a",
                                     "--all", "--max-keys", "10"))
        self.assertEqual(len(doc["objects"]), 29)
        self.assertEqual({o["origin"] for o in doc["objects"]}, {"island-a"})
        doc = json.loads(self.mdsctl(b, "--json", "peers"))
        self.assertEqual(doc["peers"][0]["state"], "live")
        self.assertEqual(doc["peers"][0]["applied_size"], self.log_size(a))
        doc = json.loads(self.mdsctl(b, "--json", "global", "usage", "ml"))
        self.assertEqual(doc["teams"][0]["bytes"], ml.bytes)
        self.assertIn("island-a", self.mdsctl(b, "feed", "status"))
        self.assertIn("CORRECT AS OF", self.mdsctl(b, "global", "ls", "ckpt"))
        self.mdsctl(b, "peers")
        self.mdsctl(b, "global", "usage")
        code, metrics = b.daemon.http_get("/metrics")
        self.assertEqual(code, 200)
        self.assertIn('mds_peer_applied_size{origin="island-a"} %d' % self.log_size(a), metrics)
        self.assertIn('mds_peer_state{origin="island-a",state="live"} 1', metrics)

    def test_three_islands(self):
        isl = [self.island(o) for o in ("island-a", "island-b", "island-c")]
        for x in isl:
            x.peers = [y for y in isl if y is not x]
            x.start()
        for k, x in enumerate(isl):
            self.team(x, "ml")
            self.bucket(x, "shared", "ml")
            for i in range(5 + k):
                self.put(x, "shared", "obj/%d" % i, 10 * (k + 1))
        for x in isl:
            for y in isl:
                if x is not y:
                    self.wait_applied(x, y)
        for x in isl:
            got, as_of = self.glist(x, "shared", max_keys=4)
            self.assertEqual(len(got), 5 + 6 + 7)
            # (name, origin) order
            keys = [(r.name, o) for o, r in got]
            self.assertEqual(keys, sorted(keys))
            self.assertEqual(set(as_of), {"island-a", "island-b", "island-c"})
            u = self.call(x, GL + "Usage", P["glob"].GlobalUsageRequest(team="ml"),
                          P["glob"].GlobalUsageResponse)
            self.assertEqual(u.teams[0].objects, 18)
            self.assertEqual(u.teams[0].bytes, 5 * 10 + 6 * 20 + 7 * 30)

    def test_peers_from_config_file(self):
        a = self.island("island-a")
        a.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        self.put(a, "ckpt", "x", 1)
        b = self.island("island-b")
        cfg = os.path.join(b.dir, "mds.json")
        with open(cfg, "w") as f:
            json.dump({"peers": [{"origin": "island-a", "address": a.endpoint,
                                  "keys": [a.vkey], "insecure": True}],
                       "peer-stale-ms": 2000}, f)
        b.extra = ["--config", cfg]
        b.start()
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        # refused at start: a key that is not the origin's, a TLS-less peer
        bad = [{"origin": "island-a", "address": a.endpoint, "keys": [b.vkey], "insecure": True}]
        bad2 = [{"origin": "island-a", "address": a.endpoint, "keys": [a.vkey]}]
        for peers, why in ((bad, "not the origin"), (bad2, "tls-ca or insecure")):
            with open(cfg, "w") as f:
                json.dump({"peers": peers}, f)
            p = subprocess.run([MDS, "serve", "--data", os.path.join(self.dir, "x"), "--auth-mode",
                                "dev", "--listen", "127.0.0.1:0", "--http", "off",
                                "--config", cfg], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(why, p.stderr)

    def test_peer_over_mutual_tls(self):
        pki = os.path.join(self.dir, "pki")
        os.makedirs(pki)

        def sh(*args):
            subprocess.run(args, cwd=pki, check=True, capture_output=True)

        def ca(name):
            sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key", "-out",
               name + ".pem", "-days", "2", "-subj", "/CN=" + name)

        def cert(cav, name, san):
            sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
            with open(os.path.join(pki, name + ".ext"), "w") as f:
                f.write("subjectAltName=%s\n" % san)
            sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", cav + ".pem", "-CAkey",
               cav + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2",
               "-extfile", name + ".ext")
        ca("ca")
        ca("otherca")
        cert("ca", "server", "IP:127.0.0.1")
        cert("ca", "peer-b", "DNS:island-b")
        f = lambda n: os.path.join(pki, n)  # noqa: E731
        a = self.island("island-a")
        a.extra = ["--tls-cert", f("server.pem"), "--tls-key", f("server.key"),
                   "--tls-ca", f("ca.pem"), "--tls-client-auth"]

        def rd(n):
            with open(f(n), "rb") as fh:
                return fh.read()
        a.creds = grpc.ssl_channel_credentials(rd("ca.pem"), rd("peer-b.key"), rd("peer-b.pem"))
        a.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        self.put(a, "ckpt", "secret", 1)
        b = self.island("island-b")
        cfg = os.path.join(b.dir, "mds.json")
        with open(cfg, "w") as fh:
            json.dump({"peers": [
                {"origin": "island-a", "address": a.endpoint, "keys": [a.vkey],
                 "tls-ca": f("ca.pem"), "tls-cert": f("peer-b.pem"), "tls-key": f("peer-b.key")}]},
                fh)
        b.extra = ["--config", cfg]
        b.start()
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        # a subscriber that trusts another CA never gets anything
        c = self.island("island-c")
        with open(cfg, "w") as fh:
            json.dump({"peers": [
                {"origin": "island-a", "address": a.endpoint, "keys": [a.vkey],
                 "tls-ca": f("otherca.pem"), "tls-cert": f("peer-b.pem"),
                 "tls-key": f("peer-b.key")}]}, fh)
        c.extra = ["--config", cfg]
        c.start()
        wait_for(lambda: self.peer(c, "island-a").reconnects >= 2, 10, "TLS refused")
        self.assertEqual(self.peer(c, "island-a").applied_size, 0)

    def test_unreachable_peers_serve_locally(self):
        c = self.island("island-c")
        ghost1, ghost2 = self.island("ghost-1"), self.island("ghost-2")   # never started
        c.peers = [ghost1, ghost2]
        c.start()
        self.team(c, "ml")
        self.bucket(c, "data", "ml")
        t0 = time.time()
        for i in range(50):
            self.put(c, "data", "o/%d" % i, i)
        took = time.time() - t0
        self.assertEqual(self.head(c, "data", "o/49").size, 49)
        listed = self.call(c, NS + "ListObjects", P["ns"].ListObjectsRequest(bucket="data"),
                           P["ns"].ListObjectsResponse)
        self.assertEqual(len(listed.entries), 50)
        self.assertLess(took, 10)
        wait_for(lambda: all(p.state == P["glob"].PEER_STALE for p in self.peers(c).peers),
                 6, "peers stale")
        for p in self.peers(c).peers:
            self.assertEqual(p.applied_size, 0)
            self.assertTrue(p.last_error)
        got, as_of = self.glist(c, "data")
        self.assertEqual(len(got), 50)
        self.assertEqual(as_of["ghost-1"].state, P["glob"].PEER_STALE)

    def test_publisher_killed_and_restarted(self):
        a, b = self.island("island-a"), self.island("island-b")
        b.peers = [a]
        a.start()
        b.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        for i in range(10):
            self.put(a, "ckpt", "a/%d" % i, i)
        self.wait_applied(b, a)
        a.kill()
        wait_for(lambda: self.peer(b, "island-a").state == P["glob"].PEER_STALE, 8, "stale")
        # B alone keeps serving its own namespace
        self.team(b, "infra")
        self.bucket(b, "logs", "infra")
        self.put(b, "logs", "while-a-is-down", 1)
        a.start()
        for i in range(10, 20):
            self.put(a, "ckpt", "a/%d" % i, i)
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        self.assertGreater(self.peer(b, "island-a").reconnects, 0)

    def test_subscriber_killed_during_catch_up(self):
        a = self.island("island-a")
        a.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        self.bucket(a, "logs", "ml")
        rnd = random.Random(6)
        for i in range(1500):
            n = "k/%d" % rnd.randrange(400)
            bk = "ckpt" if i % 3 else "logs"
            if rnd.random() < 0.15:
                try:
                    self.delete(a, bk, n)
                except grpc.RpcError:
                    pass
            else:
                self.put(a, bk, n, rnd.randrange(1 << 20))
        b = self.island("island-b")
        cursors = []
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                self.put(a, "ckpt", "live/%d" % (i % 300), i)
                i += 1
        w = threading.Thread(target=writer)
        w.start()
        self.extra_cleanup.append(lambda: (stop.set(), w.join()))
        for round_ in range(6):
            b.peers = [a]
            # odd rounds apply large checkpoints in verified slices of 150
            b.start(extra=["--peer-batch-max", "150"] if round_ % 2 else [])
            time.sleep(rnd.uniform(0.0, 0.3))
            b.kill()
            # read the view at the stored cursor with no peer configured
            b.peers = []
            b.start()
            _, as_of = self.glist(b, "ckpt", origins=["island-a"]) if self.has_view(b) else (None, {})
            size = as_of["island-a"].size if "island-a" in as_of else 0
            cursors.append(size)
            if size:
                self.assert_view_is_state(b, "island-a", self.entries(a, 0, size), ["ckpt", "logs"])
            b.stop()
        stop.set()
        w.join()
        total = self.log_size(a)
        b.peers = [a]
        b.start()
        self.wait_applied(b, a, timeout=30)
        self.assert_view_is_state(b, "island-a", self.entries(a, 0, total), ["ckpt", "logs"])
        self.assert_view_matches(b, a, ["ckpt", "logs"])
        print("cursors after each SIGKILL: %s of %d" % (cursors, total), file=sys.stderr)

    def test_large_checkpoint_in_slices(self):
        a = self.island("island-a")
        a.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        for i in range(1000):
            self.put(a, "ckpt", "s/%04d" % (i % 700), i)
        b = self.island("island-b")
        b.peers = [a]
        b.start(extra=["--peer-batch-max", "100", "--log-level", "debug"])
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        slices = b.daemon.read_log().count("slice_of=")
        self.assertGreaterEqual(slices, 9)

    def has_view(self, b):
        try:
            self.glist(b, "ckpt", origins=["island-a"])
            return True
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise

    # -- a lying relay --
    def mitm(self, upstream):
        """A Feed server relaying @upstream; self.lie picks the lie."""
        self.lie = None
        self.lies_told = 0
        fp = P["feed"]
        up = grpc.insecure_channel(upstream.endpoint)
        saved = {"old": None}

        def unary(path):
            f = up.unary_unary(path, request_serializer=None, response_deserializer=None)
            return grpc.unary_unary_rpc_method_handler(lambda req, ctx: f(req, timeout=10))

        def subscribe(req, ctx):
            f = up.unary_stream(FD + "Subscribe", request_serializer=None,
                                response_deserializer=None)
            for raw in f(req, timeout=30):
                ev = fp.SubscribeEvent.FromString(raw)
                lie = self.lie
                if ev.HasField("checkpoint") and lie == "forge":
                    note = bytearray(ev.checkpoint.note)
                    k = len(note) - 6          # inside the last signature's base64
                    note[k] = ord("A") if note[k] != ord("A") else ord("B")
                    ev.checkpoint.note = bytes(note)
                    self.lies_told += 1
                    yield ev.SerializeToString()
                    return
                if ev.HasField("checkpoint"):
                    if saved["old"] is None or ev.checkpoint.size > saved["old"].checkpoint.size + 3:
                        if saved["old"] is None:
                            saved["old"] = fp.SubscribeEvent.FromString(raw)
                    if lie == "replay" and saved["old"].checkpoint.size < ev.checkpoint.size:
                        self.lies_told += 1
                        yield saved["old"].SerializeToString()
                        return
                if ev.entries and lie in ("tamper", "reorder", "gap"):
                    self.lies_told += 1
                    if lie == "tamper":
                        leaf = bytearray(ev.entries[-1].leaf)
                        leaf[-1] ^= 1
                        ev.entries[-1].leaf = bytes(leaf)
                    elif lie == "reorder" and len(ev.entries) == 1:
                        ev.entries[0].seq += 1
                    elif lie == "reorder":
                        e0, e1 = fp.FeedEntry(), fp.FeedEntry()
                        e0.CopyFrom(ev.entries[0])
                        e1.CopyFrom(ev.entries[1])
                        ev.entries[0].CopyFrom(e1)
                        ev.entries[1].CopyFrom(e0)
                    else:
                        del ev.entries[0]
                    raw = ev.SerializeToString()
                yield raw

        handlers = {m: unary(FD + m) for m in ("GetCheckpoint", "GetEntries", "GetInclusionProof",
                                              "GetConsistencyProof")}
        handlers["Subscribe"] = grpc.unary_stream_rpc_method_handler(subscribe)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("mds.v1.Feed",
                                                                              handlers),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.extra_cleanup.append(lambda: (server.stop(0), up.close()))
        return port

    def test_lying_relay(self):
        a, b = self.island("island-a"), self.island("island-b")
        a.start()
        port = self.mitm(a)
        b.peers = [a.peer_arg(port=port)]
        b.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        self.put(a, "ckpt", "base", 1)
        self.wait_applied(b, a)
        n = 0
        shown = ["base"]
        for lie in ("tamper", "reorder", "gap"):
            self.lie = lie
            before = self.peer(b, "island-a")
            applied = before.applied_size
            told = self.lies_told
            for i in range(3):
                self.put(a, "ckpt", "%s/%d" % (lie, n), n)
                n += 1
            wait_for(lambda: self.lies_told >= told + 3, 10, "%s told 3 times" % lie)
            p = self.peer(b, "island-a")
            self.assertEqual(p.applied_size, applied, lie)      # nothing applied
            self.assertTrue(p.last_error, lie)
            if lie == "tamper":
                wait_for(lambda: self.peer(b, "island-a").tamper_alarms >= before.tamper_alarms + 1,
                         10, "tamper alarm")
            got, _ = self.glist(b, "ckpt", origins=["island-a"])
            self.assertEqual([r.name for _, r in got], shown, lie)
            shown = sorted(shown + ["%s/%d" % (lie, k) for k in range(n - 3, n)])
            self.lie = None
            self.wait_applied(b, a)
            self.assert_view_matches(b, a, ["ckpt"])
        # a forged signature by the trusted key: refused, tamper alarm, no fork
        self.lie = "forge"
        told, alarms = self.lies_told, self.peer(b, "island-a").tamper_alarms
        self.put(a, "ckpt", "forged", 1)
        wait_for(lambda: self.peer(b, "island-a").tamper_alarms > alarms, 10, "forgery alarm")
        self.assertIn("signature", self.peer(b, "island-a").last_error)
        got, _ = self.glist(b, "ckpt", origins=["island-a"])
        self.assertNotIn("forged", [r.name for _, r in got])
        self.lie = None
        self.wait_applied(b, a)
        # a replayed old checkpoint: refused, no fork alarm, view unchanged
        self.lie = "replay"
        told = self.lies_told
        self.put(a, "ckpt", "after-replay", 1)
        wait_for(lambda: self.lies_told > told + 2, 10, "replay told")
        p = self.peer(b, "island-a")
        self.assertIn("replayed", p.last_error)
        self.assertEqual(p.fork_alarms, 0)
        self.assertEqual(p.state != P["glob"].PEER_FORKED, True)
        self.lie = None
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        self.assertEqual(self.peer(b, "island-a").fork_alarms, 0)

    def test_forked_publisher(self):
        a1 = self.island("island-a")
        a1.start()
        self.team(a1, "ml")
        self.bucket(a1, "ckpt", "ml")
        for i in range(5):
            self.put(a1, "ckpt", "one/%d" % i, i)
        # a second island with the SAME key and origin, another history
        data2 = os.path.join(self.dir, "fork", "data")
        os.makedirs(os.path.join(data2, "feed"))
        for f in ("key.pem", "key.name"):
            shutil.copy2(os.path.join(a1.data, "feed", f), os.path.join(data2, "feed", f))
        a2 = mdsd.Island(MDS, os.path.join(self.dir, "fork"), "island-a", data=data2)
        self.islands.append(a2)
        self.assertEqual(a2.vkey, a1.vkey)
        a2.start()
        self.team(a2, "other")
        self.bucket(a2, "ckpt", "other")
        for i in range(9):
            self.put(a2, "ckpt", "two/%d" % i, i)
        b = self.island("island-b")
        b.peers = [a1]
        b.start()
        self.wait_applied(b, a1)
        self.assert_view_matches(b, a1, ["ckpt"])
        b.stop()
        b.peers = [a2.peer_arg()]
        b.start()
        wait_for(lambda: self.peer(b, "island-a").state == P["glob"].PEER_FORKED, 15, "forked")
        p = self.peer(b, "island-a")
        self.assertGreaterEqual(p.fork_alarms, 1)
        # frozen at the last verified state: still A1's objects
        got, as_of = self.glist(b, "ckpt", origins=["island-a"])
        self.assertEqual(sorted(r.name for _, r in got), ["one/%d" % i for i in range(5)])
        self.assertEqual(as_of["island-a"].state, P["glob"].PEER_FORKED)
        self.assertIn("peer_fork", b.daemon.read_log())
        # the evidence: A1's note we are frozen at, A2's contradicting one,
        # and a proof that indeed fails (checked with the Python verifier)
        ev = self.call(b, GL + "Evidence", P["glob"].EvidenceRequest(origin="island-a"),
                       P["glob"].EvidenceResponse)
        self.assertGreaterEqual(len(ev.records), 1)
        r = ev.records[0]
        self.assertIn(r.kind, ("fork", "rollback"))
        t1, _ = fv.open_note(r.applied_note.decode(), [a1.vkey])
        t2, _ = fv.open_note(r.offending_note.decode(), [a1.vkey])
        _, s1, root1 = fv.parse_checkpoint(t1)
        _, s2, root2 = fv.parse_checkpoint(t2)
        self.assertEqual(s1, self.log_size(a1))
        self.assertGreater(s2, s1)
        self.assertFalse(fv.verify_consistency(s1, s2, root1, root2, list(r.proof)))
        self.assertIn("fork", self.mdsctl(b, "peers", "evidence", "island-a"))
        # survives a restart: still frozen (stored)
        b.stop()
        b.start()
        wait_for(lambda: self.peer(b, "island-a").state == P["glob"].PEER_FORKED, 5, "frozen")
        # the admin decides: reset, then B follows the new history
        self.mdsctl(b, "peers", "reset", "island-a")
        self.wait_applied(b, a2)
        self.assert_view_matches(b, a2, ["ckpt"])

    def test_key_rotation_and_unknown_signer(self):
        a = self.island("island-a")
        a.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        self.put(a, "ckpt", "x", 1)
        old = a.vkey
        a.keys("rotate", "--overlap-s", "3600")
        new = a.keys("show").strip().splitlines()[0]
        self.assertNotEqual(new, old)
        time.sleep(0.3)   # the running checkpointer picks the new key up
        self.put(a, "ckpt", "y", 2)
        # trusting only the new key: the old key's signature is unknown, ignored
        b = self.island("island-b")
        b.peers = [a.peer_arg(keys=[new])]
        b.start()
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        # trusting both keys
        c = self.island("island-c")
        c.peers = [a.peer_arg(keys=[old, new])]
        c.start()
        self.wait_applied(c, a)
        # a key of the right name that never signed anything: no trusted
        # signature, nothing applied, no alarm
        stranger = mdsd.Island(MDS, os.path.join(self.dir, "stranger"), "island-a")
        d = self.island("island-d")
        d.peers = [a.peer_arg(keys=[stranger.vkey])]
        d.start()
        wait_for(lambda: "no" in self.peer(d, "island-a").last_error.lower(), 8, "refused")
        p = self.peer(d, "island-a")
        self.assertEqual((p.applied_size, p.tamper_alarms, p.fork_alarms), (0, 0, 0))

    def test_compaction_and_bootstrap(self):
        a = self.island("island-a")
        a.extra = ["--feed-retain", "0", "--feed-retain-leaves", "10",
                   "--feed-compact-every", "50ms"]
        a.start()
        b = self.island("island-b")
        b.peers = [a]
        b.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        for i in range(20):
            self.put(a, "ckpt", "first/%d" % i, i)
        self.wait_applied(b, a)
        cursor = self.peer(b, "island-a").applied_size
        b.stop()
        # B is away while A writes and compacts past B's cursor (the leaf
        # at B's cursor must be gone, not only leaf 0: else B catches up
        # from retained leaves and no bootstrap is needed)
        for i in range(40):
            self.put(a, "ckpt", "second/%d" % i, i)
        self.delete(a, "ckpt", "first/3")

        def compacted():
            try:
                self.call(a, FD + "GetEntries",
                          P["feed"].GetEntriesRequest(start=cursor, end=cursor + 1),
                          P["feed"].FeedEntries)
                return False
            except grpc.RpcError as e:
                return e.code() == grpc.StatusCode.FAILED_PRECONDITION
        wait_for(compacted, 5, "compaction")
        b.start()
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        self.assertIn("peer_bootstrapped", b.daemon.read_log())
        u = self.call(b, GL + "Usage", P["glob"].GlobalUsageRequest(team="ml"),
                      P["glob"].GlobalUsageResponse)
        ml = self.call(a, AD + "GetTeam", P["ad"].GetTeamRequest(team="ml"), P["types"].Team)
        self.assertEqual((u.teams[0].bytes, u.teams[0].objects), (ml.bytes, ml.objects))
        # a new subscriber starting from nothing bootstraps too, then follows
        c = self.island("island-c")
        c.peers = [a]
        c.start()
        self.wait_applied(c, a)
        self.put(a, "ckpt", "third", 1)
        self.wait_applied(c, a)
        self.assert_view_matches(c, a, ["ckpt"])
        self.assertEqual(self.peer(c, "island-a").fork_alarms, 0)

    def test_peer_with_authentication(self):
        """A publisher in the secure default (local issuer): its peers need a
        token with list on the island; without one nothing is applied."""
        a = self.island("island-a")
        a.auth_mode = "local"
        a.start()
        self.team(a, "ml")
        self.bucket(a, "ckpt", "ml")
        self.put(a, "ckpt", "x", 1)
        b = self.island("island-b")
        b.peers = [a]
        b.extra = ["--peer-token-file", os.path.join(a.data, "admin.token")]
        b.start()
        self.wait_applied(b, a)
        self.assert_view_matches(b, a, ["ckpt"])
        c = self.island("island-c")
        c.peers = [a]
        c.start()
        wait_for(lambda: self.peer(c, "island-a").last_error, 5, "refused without a token")
        self.assertIn("MDS_EDENIED: no credentials", self.peer(c, "island-a").last_error)
        self.assertEqual(self.peer(c, "island-a").applied_size, 0)


if __name__ == "__main__":
    MDS, MDSCTL = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]
    unittest.main(verbosity=2)
