#!/usr/bin/python3
"""drill.py - the chaos drills: each brings up N islands (chaos/cluster.py),
runs load clients on every island (chaos/load.py), does one kind of damage,
then hands the operation logs to the checker (chaos/checker.py), whose
table and exit status are the drill's.

  drill.py DRILL [--long] [--islands N] [--loopback] [--workdir DIR] [--keep]
           [--mds PATH] [--wanem PATH] [--wanemctl PATH] [--seed N]

DRILL is one of: partition_heal, slow_wan, long_partition, crashes,
disk_full, tamper, key_rotation (docs/runbook.md says what each does and
what each failure means). The default is the short CI version (seconds);
--long is the SRE version (minutes).

Exit status: 0 the checker found no violation, 1 violations (or the drill
itself saw a failure), 2 setup error, 77 skipped: the drill needs
something the mds binary does not have (printed as "skipped: needs X").
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker  # noqa: E402
import mdsapi  # noqa: E402
from cluster import Cluster, log, mds_supports  # noqa: E402

SKIP = 77
NEEDS_FED = "federation (mds serve --peer and the Global service, branch fed)"


class Drill:
    """What one drill run shares: the cluster, its files, its phases."""

    def __init__(self, args, cluster):
        self.a = args
        self.c = cluster
        self.dir = cluster.dir
        self.ops = os.path.join(self.dir, "ops")
        os.makedirs(self.ops, exist_ok=True)
        self.phases = os.path.join(self.dir, "phases.jsonl")
        self.lagfile = os.path.join(self.dir, "lag.jsonl")
        self.injections = os.path.join(self.dir, "injections.json")
        self.extra = []
        self.failures = []
        self.rnd = random.Random(args.seed)
        self._sampler = None

    def dur(self, short, long):
        return long if self.a.long else short

    def phase(self, name):
        with open(self.phases, "a") as f:
            f.write(json.dumps({"phase": name, "t": time.time()}) + "\n")
        log("phase %s" % name)

    def fail(self, msg):
        log("FAILED: " + msg)
        self.failures.append(msg)

    def setup_namespace(self):
        for i in range(1, self.c.n + 1):
            isl = self.c.island(i)
            isl.create_team("chaos")
            isl.create_bucket("b-i%d" % i, "chaos")

    def start_loads(self, rate, *extra, islands=None):
        for i in islands or range(1, self.c.n + 1):
            self.c.start_load(i, os.path.join(self.ops, "i%d.ops.jsonl" % i), "--rate", str(rate),
                              "--seed", str(self.rnd.randrange(1 << 30)), *extra)
        time.sleep(1.0)    # warm-up (interpreter start, first connection): in no phase

    def sample_lag(self, period=0.25):
        """Samples every island's Peers (lag_ms per peer) until stopped."""
        stop = threading.Event()

        def run():
            import grpc
            with open(self.lagfile, "a") as f:
                while not stop.wait(period):
                    for i in range(1, self.c.n + 1):
                        try:
                            pr = self.c.island(i).peers(timeout=1)
                        except grpc.RpcError:
                            continue
                        for p in pr.peers:
                            f.write(json.dumps({"t": time.time(), "island": "i%d" % i,
                                                "peer": p.origin, "lag_ms": p.lag_ms,
                                                "applied": p.applied_size,
                                                "state": mdsapi.state_name(p.state)}) + "\n")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self._sampler = (stop, t)

    def stop_lag(self):
        if self._sampler:
            self._sampler[0].set()
            self._sampler[1].join()
            self._sampler = None

    def check(self, latency_phase="partition", lag=False):
        extra = os.path.join(self.dir, "extra.json")
        with open(extra, "w") as f:
            json.dump(self.extra, f)
        argv = ["--ops", self.ops, "--phases", self.phases, "--extra", extra,
                "--islands", ",".join("i%d=%s" % (i, self.c.addr(i)) for i in range(1, self.c.n + 1)),
                "--latency-phase", latency_phase, "--report", os.path.join(self.dir, "report.json"),
                "--converge-timeout", str(self.dur(60, 600))]
        if self.c.federate:
            argv.append("--federation")
        if os.path.exists(self.injections):
            argv += ["--injections", self.injections]
        if lag:
            argv += ["--lag-samples", self.lagfile]
        if self.a.latency_strict:
            argv.append("--latency-strict")
        for i in range(1, self.c.n + 1):
            if not self.c.alive(i):
                self.fail("island i%d died during the drill; its log ends: %s" % (
                    i, self.c.log_tail(i, 300).strip().replace("\n", " | ")))
        log("checker " + " ".join(argv))
        rc = checker.main(argv)
        for m in self.failures:
            print("VIOLATION drill: %s" % m)
        return 1 if self.failures else rc


# ---- the drills --------------------------------------------------------------

def drill_partition_heal(d):
    """Writers on every island; every island cut from every other; heal."""
    c = d.c
    d.setup_namespace()
    d.start_loads(d.dur(40, 150))
    d.phase("before")
    time.sleep(d.dur(5, 60))
    c.partition_all()
    d.phase("partition")
    time.sleep(d.dur(8, 300))
    c.stop_loads()
    c.heal()
    d.phase("healed")
    return d.check("partition")


def drill_slow_wan(d):
    """300-500 ms round trips, jitter, resets and a bandwidth cap on every
    federation link for the whole run; replication lag sampled."""
    c = d.c
    d.setup_namespace()
    d.start_loads(d.dur(30, 100))
    d.phase("before")                 # clean WAN: the islands' own latency baseline
    time.sleep(d.dur(4, 30))
    c.wan_all("latency=200ms", "jitter=50ms", "reset=0.5%", "rate=2mbit")
    d.extra.append(("WAN", "latency 200 ms +- 50 ms each way, reset 0.5%/chunk, 2 mbit/s"))
    d.phase("slow")
    d.sample_lag()
    time.sleep(d.dur(15, 300))
    c.stop_loads()
    d.stop_lag()
    d.phase("settle")
    resets = sum(c.link(i, j)["stats"]["resets"] for i in range(1, c.n + 1)
                 for j in range(1, c.n + 1) if i != j)
    d.extra.append(("connection resets injected", str(resets)))
    return d.check("slow", lag=True)


def drill_long_partition(d):
    """Island 1 cut off longer than its peers keep their feeds (islands run
    with a short --feed-retain); after heal it must bootstrap its views of
    them from signed snapshots and converge."""
    c = d.c
    d.setup_namespace()
    d.start_loads(d.dur(50, 150))
    d.phase("before")
    time.sleep(d.dur(3, 30))
    cursors = {p.origin: (p.applied_size, p.applied_root) for p in c.island(1).peers().peers}
    c.isolate(1)
    d.phase("partition")
    time.sleep(d.dur(12, 600))
    c.stop_loads()
    # the drill means something only if the peers dropped leaves island 1 needs
    for j in range(2, c.n + 1):
        size, root = cursors.get("i%d" % j, (0, b""))
        ev = next(iter(c.island(j).stream("Feed/Subscribe", mdsapi.pb["feed"].SubscribeRequest(
            have_size=size, have_root=root), mdsapi.pb["feed"].SubscribeEvent, timeout=10)))
        if ev.HasField("compacted"):
            d.extra.append(("i%d compacted past i1's cursor" % j, "first retained %d > cursor %d" %
                            (ev.compacted.first_retained, size)))
        else:
            d.fail("i%d still serves leaves from i1's cursor %d: retention did not bite, "
                   "the drill proved nothing" % (j, size))
    c.heal()
    d.phase("healed")
    rc = d.check("partition")
    boots = peer_events(c, kinds=("peer_bootstrapped",))
    print("| i1 views bootstrapped from snapshots | %s |" % (", ".join(
        "%s<-%s: %d" % (k[0], k[1], v) for k, v in sorted(boots.items())) or "none"))
    for j in range(2, c.n + 1):
        if not boots.get(("i1", "i%d" % j)):
            print("VIOLATION drill: i1 converged on i%d without a snapshot bootstrap "
                  "(peer_bootstrapped never logged)" % j)
            rc = 1
    return rc


def drill_crashes(d):
    """SIGKILL islands (each a publisher of its feed and a subscriber of the
    others') at random moments under load, restart them, repeat."""
    c = d.c
    d.setup_namespace()
    d.start_loads(d.dur(40, 100), "--timeout", "2")
    d.phase("before")
    rounds = d.dur(4, 40)
    kills, downtimes = [], []
    for k in range(rounds):
        time.sleep(d.rnd.uniform(0.3, 2.0))
        i = d.rnd.randrange(1, c.n + 1)
        t0 = time.time()
        c.kill(i)
        kills.append(i)
        time.sleep(d.rnd.uniform(0, 1.0))
        c.start(i)
        downtimes.append(time.time() - t0)
        log("crash %d/%d: SIGKILL i%d, back after %.2f s" % (k + 1, rounds, i, downtimes[-1]))
    time.sleep(1)
    c.stop_loads()
    d.phase("settle")
    d.extra.append(("SIGKILLs (island: count)", ", ".join(
        "i%d: %d" % (i, kills.count(i)) for i in sorted(set(kills)))))
    d.extra.append(("downtime per kill, median", "%.2f s" % statistics.median(downtimes)))
    if not c.federate:
        d.extra.append(("federation checks", "skipped: needs " + NEEDS_FED))
    return d.check("crashes")


def drill_disk_full(d):
    """Island 1's data on a small tmpfs: it must refuse writes cleanly
    (RESOURCE_EXHAUSTED, MDS_ENOSPC), keep answering reads, and accept
    writes again when the filesystem grows; islands 2.. are unaffected."""
    c = d.c
    d.setup_namespace()
    d.start_loads(d.dur(60, 100), "--meta-bytes", "1500")
    d.phase("before")
    log1 = os.path.join(d.ops, "i1.ops.jsonl")
    deadline = time.time() + d.dur(60, 600)
    while time.time() < deadline and not refusals(log1):
        time.sleep(0.2)
    if not refusals(log1):
        d.fail("island i1 never refused a write on its full filesystem")
    d.phase("full")
    t_full = time.time()
    time.sleep(d.dur(4, 60))
    subprocess.run(["mount", "-o", "remount,size=512m", c.data(1)], check=True)
    t_grow = time.time()
    d.phase("recovered")
    back = None
    while time.time() < t_grow + 30:
        back = first_ack_after(log1, t_grow)
        if back:
            break
        time.sleep(0.2)
    if back is None:
        d.fail("island i1 did not accept a write within 30 s of the filesystem growing")
    else:
        d.extra.append(("i1 writes back after space returned", "%.2f s" % (back - t_grow)))
    time.sleep(d.dur(2, 30))
    c.stop_loads()
    d.phase("settle")
    deadline = time.time() + 10
    isl = c.island(1)
    while isl.checkpoint().size != isl.tree_size() and time.time() < deadline:
        time.sleep(0.1)
    cp, size = isl.checkpoint().size, isl.tree_size()
    d.extra.append(("i1 feed after recovery", "checkpoint %d of %d leaves" % (cp, size)))
    if cp != size:
        d.fail("island i1's feed did not sign its log again after recovery (%d of %d)" % (cp, size))
    codes = {}
    lookups_ok = lookups = 0
    with open(log1) as f:
        for line in f:
            r = json.loads(line)
            if r.get("ev") == "fail" and t_full - 5 < r["t"] < t_grow:
                codes[(r["code"], r.get("mds_error"))] = codes.get((r["code"], r.get("mds_error")), 0) + 1
            if r.get("ev") == "lookup" and t_full < r["t"] < t_grow:
                lookups += 1
                lookups_ok += r["ok"]
    d.extra.append(("i1 refusals while full", ", ".join("%s/%s: %d" % (k[0], k[1], v)
                                                        for k, v in sorted(codes.items()))))
    bad = {k: v for k, v in codes.items() if k != ("RESOURCE_EXHAUSTED", "MDS_ENOSPC")}
    if bad:
        d.fail("island i1 refused writes with other errors than RESOURCE_EXHAUSTED/MDS_ENOSPC: %s" % bad)
    d.extra.append(("i1 lookups while full (ok/all)", "%d/%d" % (lookups_ok, lookups)))
    if lookups == 0 or lookups_ok < lookups:
        d.fail("reads on the full island failed (%d of %d ok)" % (lookups_ok, lookups))
    if not c.federate:
        d.extra.append(("federation checks", "skipped: needs " + NEEDS_FED))
    return d.check("full")


def refusals(path):
    try:
        with open(path) as f:
            return any('"RESOURCE_EXHAUSTED"' in line for line in f)
    except OSError:
        return False


def first_ack_after(path, t):
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("ev") == "ack" and r["t"] > t:
                return r["t"]
    return None


def drill_tamper(d):
    """wanem damages island 2's feed on its way to island 1 only (link
    i1-i2, direction u2c, sparing each connection's first 2 KiB so the
    damage lands in the stream's payload): first it flips a bit in every
    chunk, then it replays old chunks. Island 1 must alarm for peer i2 and
    never apply the bad data; no other pair may reject anything. A view
    frozen by the alarm (FORKED) is reset by the operator (Global.ResetPeer)
    after the damage stops, as the runbook says, and must then converge."""
    c = d.c
    d.setup_namespace()
    d.start_loads(d.dur(40, 100))
    d.phase("before")
    time.sleep(d.dur(4, 30))
    c.wan(1, 2, "tamper-dir=u2c", "tamper-after=2k", "corrupt=100%")
    d.phase("tamper")
    time.sleep(d.dur(6, 150))
    c.wan(1, 2, "corrupt=0")
    # replay-old needs a stream that carries data again (history to replay):
    # wait until i1 follows i2 again, then replay old chunks
    t0 = time.time()
    while time.time() < t0 + d.dur(40, 120) and peer_state(c, 1, 2) != "PEER_LIVE":
        if peer_state(c, 1, 2) == "PEER_FORKED":
            reset_frozen(d, 1, 2)
        time.sleep(0.2)
    d.extra.append(("i1 followed i2 again after the bit flips", "%.1f s" % (time.time() - t0)))
    c.wan(1, 2, "replay-old=100%")
    time.sleep(d.dur(4, 150))
    st = c.link(1, 2)["stats"]
    c.wan(1, 2, "corrupt=0", "replay-old=0")
    c.stop_loads()
    d.phase("settle")
    injected = st["corrupted"] + st["replayed_old"]
    d.extra.append(("injected on i1-i2 (u2c)", "%d chunks with a bit flipped, %d old chunks "
                    "replayed" % (st["corrupted"], st["replayed_old"])))
    if injected == 0:
        d.fail("wanem injected nothing on link i1-i2: the drill proved nothing")
    with open(d.injections, "w") as f:
        json.dump([{"island": "i1", "peer": "i2", "injected": injected}], f)
    rejects = peer_events(c)
    d.extra.append(("rejected batches (island<-peer)", ", ".join(
        "%s<-%s: %d" % (k[0], k[1], v) for k, v in sorted(rejects.items())) or "none"))
    for (x, y), v in rejects.items():
        if (x, y) != ("i1", "i2"):
            d.fail("%s rejected %d batches from %s, where nothing was injected" % (x, v, y))
    reset_frozen(d, 1, 2)
    return d.check("tamper")


def peer_events(c, kinds=("peer_reject", "peer_tamper", "peer_fork")):
    """(island, origin) -> count of the subscriber's reject/alarm log lines."""
    import re
    out = {}
    pat = re.compile(r'event=(\S+) origin="([^"]+)"')
    for i in range(1, c.n + 1):
        try:
            with open(os.path.join(c.state, "i%d" % i, "log"), errors="replace") as f:
                for line in f:
                    m = pat.search(line)
                    if m and m.group(1) in kinds:
                        k = ("i%d" % i, m.group(2))
                        out[k] = out.get(k, 0) + 1
        except OSError:
            pass
    return out


def peer_state(c, i, j):
    for p in c.island(i).peers().peers:
        if p.origin == "i%d" % j:
            return mdsapi.state_name(p.state)
    return None


def reset_frozen(d, i, j):
    """If island @i froze its view of island @j (FORKED), reset it the way
    the runbook tells an operator to, once the cause is gone."""
    isl = d.c.island(i)
    for p in isl.peers().peers:
        if p.origin == "i%d" % j and mdsapi.state_name(p.state) == "PEER_FORKED":
            d.extra.append(("i%d's view of i%d" % (i, j), "FORKED (frozen: %s); reset by operator"
                            % p.last_error[:80]))
            isl.unary("Global/ResetPeer", mdsapi.pb["global"].ResetPeerRequest(origin="i%d" % j),
                      mdsapi.pb["global"].ResetPeerResponse)


def drill_key_rotation(d):
    """Island 2 rotates its feed key while cut off; the others get its new
    key (restart with the new roster) during the partition; after heal they
    verify its new checkpoints and converge with no alarm."""
    c = d.c
    d.setup_namespace()
    d.start_loads(d.dur(40, 100))
    d.phase("before")
    time.sleep(d.dur(3, 30))
    c.isolate(2)
    d.phase("partition")
    overlap = d.dur(2, 30)
    t_rot = time.time()
    r = subprocess.run([c.mds, "keys", "rotate", "--overlap-s", str(overlap), "--data", c.data(2)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        d.fail("mds keys rotate: %s" % r.stderr.strip())
        c.stop_loads()
        return d.check("partition")
    keys = r.stdout.split()
    d.extra.append(("i2 key rotated", "%s -> %s" % (c.vkeys[2][0].split("+")[1], keys[0].split("+")[1])))
    c.set_vkeys(2, keys)
    for i in range(1, c.n + 1):
        if i != 2:
            try:
                c.kill(i, sig=15)
            except RuntimeError as e:     # a hung shutdown is a finding, not the end
                d.fail("%s (SIGTERM during the partition); log ends: %s" % (
                    e, c.log_tail(i, 200).strip().replace("\n", " | ")))
                c.kill(i)
            c.start(i)
    time.sleep(overlap + d.dur(3, 90))       # past the overlap (+ the publisher's 60 s key check)
    c.stop_loads()
    c.heal()
    d.phase("healed")
    signers = note_key_ids(c.island(2).checkpoint().note, "i2")
    new_id, old_id = keys[0].split("+")[1], keys[1].split("+")[1]
    past = time.time() - t_rot - overlap
    d.extra.append(("i2 checkpoint signed by, %.0f s after the overlap" % past, ", ".join(signers)))
    if new_id not in signers:
        d.fail("i2's checkpoint after the rotation is not signed by the new key %s: %s" %
               (new_id, signers))
    if old_id in signers:
        # mds/feed_publisher.c re-reads its keys when key.pem changes and
        # otherwise at most every 60 s: the old key may sign up to 60 s
        # past the end of its overlap window
        if past > 61:
            d.fail("i2 still signs with its old key %s %.0f s after the overlap ended" %
                   (old_id, past))
        else:
            d.extra.append(("note", "old key still signing %.0f s past its overlap (the publisher "
                            "re-checks keys every 60 s)" % past))
    return d.check("partition")


def note_key_ids(note, name):
    """Key ids (hex) of the signature lines of signed note @note by @name."""
    import base64
    out = []
    for line in note.decode().split("\n\n", 1)[1].splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == name:
            out.append(base64.b64decode(parts[2])[:4].hex())
    return out


DRILLS = {
    "partition_heal": (drill_partition_heal, True),
    "slow_wan": (drill_slow_wan, True),
    "long_partition": (drill_long_partition, True),
    "crashes": (drill_crashes, False),
    "disk_full": (drill_disk_full, False),
    "tamper": (drill_tamper, True),
    "key_rotation": (drill_key_rotation, True),
}


def main():
    ap = argparse.ArgumentParser(description="Island MDS chaos drills")
    ap.add_argument("drill", choices=sorted(DRILLS))
    ap.add_argument("--long", action="store_true", help="the long SRE version")
    ap.add_argument("--islands", type=int, default=3)
    ap.add_argument("--loopback", action="store_true", help="loopback + wanem, no namespaces")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--latency-strict", action="store_true",
                    help="a p99 ratio over 1.2 is a violation (default: reported)")
    root = os.path.dirname(HERE)
    ap.add_argument("--mds", default=os.path.join(root, "build", "mds", "mds"))
    ap.add_argument("--wanem", default=os.path.join(root, "build", "chaos", "wanem"))
    ap.add_argument("--wanemctl", default=os.path.join(root, "build", "chaos", "wanemctl"))
    a = ap.parse_args()
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    fn, needs_fed = DRILLS[a.drill]
    fed = mds_supports(a.mds, "--peer")
    if needs_fed and not fed:
        print("skipped: needs " + NEEDS_FED)
        return SKIP
    if a.drill == "long_partition" and not mds_supports(a.mds, "--feed-retain"):
        print("skipped: needs feed compaction and snapshot bootstrap "
              "(mds serve --feed-retain..., branch compact via fed)")
        return SKIP
    if a.drill == "disk_full" and os.geteuid() != 0:
        print("skipped: needs root to mount a small tmpfs")
        return SKIP
    work = a.workdir or tempfile.mkdtemp(prefix="mds-drill-%s-" % a.drill)
    os.makedirs(work, exist_ok=True)
    log("%s (%s) seed=%d workdir=%s" % (a.drill, "long" if a.long else "short", a.seed, work))
    tmpfs = {1: "16m" if a.long else "3m"} if a.drill == "disk_full" else None
    serve_args = []
    if a.drill == "long_partition":
        serve_args = ["--feed-retain", "2s" if not a.long else "60s", "--feed-retain-leaves", "100",
                      "--feed-compact-every", "1s" if not a.long else "10s",
                      # a stalled follow stream can hold minutes of entries in
                      # TCP and HTTP/2 windows: let subscribers drop silent
                      # streams fast so the partition outlasts the stream
                      "--peer-idle-ms", "2000"]
    rc = 2
    cl = Cluster(work, a.mds, a.wanem, a.wanemctl, n=a.islands, loopback=a.loopback,
                 federate=fed, tmpfs=tmpfs, serve_args=serve_args,
                 prefix="mdsdr")
    try:
        cl.up()
        d = Drill(a, cl)
        d.extra.append(("topology", "%d islands, %s%s" % (
            cl.n, "network namespaces + nftables" if cl.mode == "netns" else
            "loopback fallback + wanem", " (%s)" % cl.reason if cl.reason else "")))
        rc = fn(d)
    except Exception as e:     # a drill that cannot run is not a pass
        import traceback
        traceback.print_exc()
        print("drill: error: %s" % e)
        rc = 2 if rc == 2 else 1
    finally:
        cl.down()
        if rc == 0 and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("work directory kept: %s" % work)
    print("drill %s: %s" % (a.drill, {0: "PASS", 1: "FAIL", 2: "ERROR"}.get(rc, rc)))
    return rc


if __name__ == "__main__":
    sys.exit(main())
