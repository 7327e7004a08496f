#!/usr/bin/python3
"""load.py - one load client of a drill: writes to one island and records
every operation in an append-only log, one JSON object per line, flushed
(and fsync'ed for writes) before the next operation starts:

  {"id": N, "ev": "send", "op": "put", "island": "i1", "bucket": "b-i1",
   "name": "w/i1/000042", "size": ..., "etag": ..., "ct": ..., "meta": {...},
   "t": UNIX_S}                                   before the call
  {"id": N, "ev": "ack", "lat_us": ..., "t": ..., "version": V}
  {"id": N, "ev": "fail", "code": "UNAVAILABLE", "mds_error": "...",
   "lat_us": ..., "t": ...}                        after it
  {"ev": "lookup", "op": "head", "lat_us": ..., "ok": true, "t": ...}

A "send" without an outcome line (the client died) is an operation whose
fate is unknown. Deletes ("op": "delete") pick an acknowledged name of this
client, each name at most once; names are never rewritten, so the
checker's expectation for each name is exact.

usage: load.py --target HOST:PORT --island iI --log FILE [--rate OPS/S]
               [--lookups N] [--delete-every N] [--meta-bytes N]
               [--timeout S] [--seed N]
Runs until SIGTERM/SIGINT, then finishes the operation in flight, writes
its outcome and exits 0.
"""
import argparse
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdsapi  # noqa: E402

stop = False


def on_term(sig, frame):
    global stop
    stop = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--island", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--rate", type=float, default=100.0, help="writes per second (0: as fast as possible)")
    ap.add_argument("--lookups", type=int, default=2, help="HeadObject calls per write")
    ap.add_argument("--delete-every", type=int, default=10, help="one delete per N puts (0: none)")
    ap.add_argument("--meta-bytes", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--name-prefix", default="w")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    rnd = random.Random(a.seed if a.seed is not None else os.getpid())
    import grpc
    isl = mdsapi.Island(a.island, a.target)
    bucket = "b-" + a.island
    fd = os.open(a.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    opid = 0
    acked = []          # names whose put was acknowledged and not yet deleted
    puts = 0
    period = 1.0 / a.rate if a.rate > 0 else 0
    next_t = time.monotonic()
    # the run's ids are unique across restarts of this client: pid + counter
    tag = "%s-%d" % (a.island, os.getpid())

    def write(rec, sync=False):
        os.write(fd, (json.dumps(rec, sort_keys=True) + "\n").encode())
        if sync:
            os.fsync(fd)

    def outcome(oid, t0, err=None, extra=None):
        lat = int((time.monotonic() - t0) * 1e6)
        if err is None:
            rec = {"id": oid, "ev": "ack", "lat_us": lat, "t": time.time()}
            rec.update(extra or {})
        else:
            md = dict(err.trailing_metadata() or ()) if hasattr(err, "trailing_metadata") else {}
            rec = {"id": oid, "ev": "fail", "code": err.code().name if err.code() else "UNKNOWN",
                   "mds_error": md.get("mds-error", ""), "msg": (err.details() or "")[:200],
                   "lat_us": lat, "t": time.time()}
        write(rec, sync=True)

    while not stop:
        if period:
            now = time.monotonic()
            if now < next_t:
                time.sleep(min(next_t - now, 0.2))
                continue
            next_t += period
            if next_t < now - 1:          # fell behind (island down): do not burst
                next_t = now
        opid += 1
        oid = "%s-%d" % (tag, opid)
        if a.delete_every and puts and puts % a.delete_every == 0 and acked and \
                rnd.random() < 0.5:
            name = acked.pop(rnd.randrange(len(acked)))
            write({"id": oid, "ev": "send", "op": "delete", "island": a.island,
                   "bucket": bucket, "name": name, "t": time.time()}, sync=True)
            t0 = time.monotonic()
            try:
                isl.delete(bucket, name, timeout=a.timeout)
                outcome(oid, t0)
            except grpc.RpcError as e:
                outcome(oid, t0, e)
            continue
        puts += 1
        name = "%s/%s/%08d" % (a.name_prefix, tag, opid)
        size = rnd.randrange(1, 1 << 30)
        meta = {"writer": tag, "n": str(opid),
                "pad": "".join(rnd.choice("abcdefghij") for _ in range(a.meta_bytes))}
        etag = '"%032x"' % rnd.getrandbits(128)
        ct = rnd.choice(["application/octet-stream", "application/x-tar", "text/plain"])
        write({"id": oid, "ev": "send", "op": "put", "island": a.island, "bucket": bucket,
               "name": name, "size": size, "etag": etag, "ct": ct, "meta": meta,
               "t": time.time()}, sync=True)
        t0 = time.monotonic()
        try:
            r = isl.put(bucket, name, size, etag, ct, meta, timeout=a.timeout)
            outcome(oid, t0, extra={"version": r.version})
            acked.append(name)
        except grpc.RpcError as e:
            outcome(oid, t0, e)
        for _ in range(a.lookups):
            if not acked or stop:
                break
            name = acked[rnd.randrange(len(acked))]
            t0 = time.monotonic()
            ok = True
            try:
                isl.head(bucket, name, timeout=a.timeout)
            except grpc.RpcError:
                ok = False
            write({"ev": "lookup", "op": "head", "island": a.island, "ok": ok, "t": time.time(),
                   "lat_us": int((time.monotonic() - t0) * 1e6)})
    os.close(fd)
    isl.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
