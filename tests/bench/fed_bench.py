"""fed_bench.py - the subscriber's figures, in one run (docs/benchmarks.md,
"Federation"):

  1. catch-up of a backlog: fed_backlog writes N puts (leaves) into island
     A's store in process; A is served, B starts following it; the time from
     B's start to B's Peers saying applied_size = N, and the apply rate
     N / time (transfer, verification and apply together). B's debug log
     gives the verify+apply time of each batch (peer_applied ms=...).
  2. replication lag at a steady write load: puts on A at RATE/s for SECONDS;
     a poller on B lists the Global view continuously and records when each
     object first appears; lag = first seen on B - acknowledged by A.

usage: /usr/bin/python3 tests/bench/fed_bench.py BUILD_DIR [--n N] [--rate R]
       [--seconds S] [--cadence-ms C] [--batch-max B]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import mdsd  # noqa: E402
import grpc  # noqa: E402


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--cadence-ms", type=int, default=100)
    ap.add_argument("--batch-max", type=int, default=0,
                    help="subscriber --peer-batch-max (0: one transaction per checkpoint)")
    a = ap.parse_args()
    mds = os.path.join(a.build, "mds", "mds")
    tmp, clean = mdsd.tempdir("mds-fedbench-")
    t, ns, ad = mdsd.load_protos(os.path.join(tmp, "py"))
    fp, gp = mdsd.load_fed_protos(os.path.join(tmp, "py"))
    procs = []
    try:
        data_a = os.path.join(tmp, "island-a", "data")
        os.makedirs(data_a)
        out = subprocess.run([os.path.join(a.build, "tests", "bench", "fed_backlog"), data_a,
                              "island-a", str(a.n)], capture_output=True, text=True, check=True)
        print(out.stdout.strip())
        ia = mdsd.Island(mds, tmp, "island-a", data=data_a)
        ib = mdsd.Island(mds, tmp, "island-b")
        ib.peers = [ia]
        fast = ["--feed-cadence-ms", str(a.cadence_ms), "--feed-heartbeat-ms", "1000",
                "--peer-stale-ms", "30000", "--peer-idle-ms", "60000", "--log-level", "debug"]
        ia.start(extra=fast, timeout=120)
        procs.append(ia)
        cha, chb = grpc.insecure_channel(ia.endpoint), grpc.insecure_channel(ib.endpoint)

        def call(ch, path, req, resp):
            return ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=resp.FromString)(req, timeout=30)

        def peers():
            return call(chb, "/mds.v1.Global/Peers", gp.PeersRequest(), gp.PeersResponse).peers[0]

        while True:   # A signs its backlog's head once serving
            try:
                cp = call(cha, "/mds.v1.Feed/GetCheckpoint", fp.GetCheckpointRequest(),
                          fp.FeedCheckpoint)
                break
            except grpc.RpcError:
                time.sleep(0.05)
        total = cp.size
        t0 = time.time()
        ib.start(extra=fast + ["--peer-batch-max", str(a.batch_max)], timeout=60)
        procs.append(ib)
        while True:
            try:
                p = peers()
                if p.applied_size >= total:
                    break
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        took = time.time() - t0
        hwm = "?"
        with open("/proc/%d/status" % ib.daemon.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = line.split(":")[1].strip()
        print("subscriber peak RSS after catch-up: %s" % hwm)
        log = ib.daemon.read_log()
        batches = [(int(m.group(1)), int(m.group(2))) for m in
                   re.finditer(r"event=peer_applied .*leaves=(\d+) ms=(\d+)", log)]
        apply_ms = sum(ms for _, ms in batches)
        print("catch-up: %d leaves in %.2f s = %.0f leaves/s (transfer + verify + apply); "
              "%d batches, verify+apply %.2f s = %.0f leaves/s" %
              (total, took, total / took, len(batches), apply_ms / 1000.0,
               total / (apply_ms / 1000.0) if apply_ms else 0))

        # steady load: RATE puts/s on A, first appearance on B
        call(cha, "/mds.v1.Namespace/CreateBucket", ns.CreateBucketRequest(bucket="lag", team="bench"),
             t.Bucket)
        acked, seen = {}, {}
        stop = threading.Event()

        def poll():
            last = ""
            while not stop.is_set() or len(seen) < len(acked):
                try:
                    r = call(chb, "/mds.v1.Global/ListObjects",
                             gp.GlobalListRequest(bucket="lag", origins=["island-a"],
                                                  start_after=last, max_keys=1000),
                             gp.GlobalListResponse)
                except grpc.RpcError:
                    time.sleep(0.01)
                    continue
                now = time.time()
                for o in r.objects:
                    seen.setdefault(o.object.name, now)
                    last = o.object.name
                if not r.objects:
                    time.sleep(0.002)
                if stop.is_set() and time.time() - stop_t[0] > 30:
                    break
        stop_t = [0]
        th = threading.Thread(target=poll)
        th.start()
        n = a.rate * a.seconds
        t_start = time.time()
        for i in range(n):
            due = t_start + i / float(a.rate)
            d = due - time.time()
            if d > 0:
                time.sleep(d)
            name = "l/%08d" % i
            call(cha, "/mds.v1.Namespace/PutObject", ns.PutObjectRequest(bucket="lag", name=name,
                                                                         size=i), ns.PutObjectResponse)
            acked[name] = time.time()
        stop_t[0] = time.time()
        stop.set()
        th.join()
        lags = [(seen[k] - acked[k]) * 1000.0 for k in acked if k in seen]
        print("lag at %d puts/s for %d s (cadence %d ms): n=%d p50 %.1f ms, p99 %.1f ms, max %.1f ms, "
              "mean %.1f ms; %d never seen" %
              (a.rate, a.seconds, a.cadence_ms, len(lags), pct(lags, 50), pct(lags, 99), max(lags),
               statistics.mean(lags), len(acked) - len(lags)))
        cha.close()
        chb.close()
    finally:
        for p in reversed(procs):
            try:
                p.stop()
            except AssertionError as e:
                print(str(e)[:2000], file=sys.stderr)
        clean()


if __name__ == "__main__":
    main()
