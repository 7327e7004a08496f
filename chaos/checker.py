#!/usr/bin/python3
"""checker.py - proves what a drill did to the islands, from the load
clients' operation logs (chaos/load.py) and the islands themselves.

Verdicts (each failure is a violation; any violation gives exit status 1):

  lost        an acknowledged put missing, or with other content, on its
              island; or (federation) in another island's global view
  resurrected an acknowledged delete whose object is still there
  refused     a put refused with a definite error (RESOURCE_EXHAUSTED,
              INVALID_ARGUMENT, ...) whose object exists anyway
  phantom     an object in a drill bucket that no client ever sent
  divergent   (federation) an island's global view of another island's
              bucket differs from that island's own listing
  cursor      (federation) a peer's applied size/root is not the source's
              head (size and root of its newest checkpoint, covering its log)
  alarms      tamper/fork alarms where none was injected, or none where
              something was injected
  latency     (--latency-strict) p99 during a phase over --latency-ratio-max
              times p99 before it

An operation whose outcome is unknown (client died, UNAVAILABLE, deadline)
may or may not have happened: the checker accepts either, but never other
content than what was sent.

usage: checker.py --ops DIR --islands i1=HOST:PORT,... [--federation]
                  [--phases FILE] [--converge-timeout S] [--injections FILE]
                  [--lag-samples FILE] [--extra FILE] [--report FILE]
                  [--latency-phase PHASE] [--latency-ratio-max R] [--latency-strict]
Exit: 0 no violation, 1 violations, 2 usage or setup error.
"""
import argparse
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdsapi  # noqa: E402

DEFINITE = {"INVALID_ARGUMENT", "ALREADY_EXISTS", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED",
            "PERMISSION_DENIED", "NOT_FOUND", "UNAUTHENTICATED", "OUT_OF_RANGE"}


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


class Ops:
    """Everything the clients sent, per island and name."""

    def __init__(self, paths):
        sends, outs = {}, {}
        self.lookups = []
        self.bad_lines = 0
        for p in paths:
            with open(p) as f:
                for line in f:
                    try:
                        r = json.loads(line)
                    except ValueError:
                        self.bad_lines += 1     # a torn last line of a killed client
                        continue
                    if r.get("ev") == "send":
                        sends[r["id"]] = r
                    elif r.get("ev") in ("ack", "fail"):
                        outs[r["id"]] = r
                    elif r.get("ev") == "lookup":
                        self.lookups.append(r)
        self.ops = []
        for oid, s in sends.items():
            o = outs.get(oid)
            s = dict(s)
            if o is None:
                s["fate"] = "unknown"
            elif o["ev"] == "ack":
                s["fate"] = "acked"
                s["lat_us"] = o["lat_us"]
                s["t_done"] = o["t"]
            else:
                s["fate"] = "refused" if o.get("code") in DEFINITE else "unknown"
                s["code"] = o.get("code")
                s["mds_error"] = o.get("mds_error", "")
                s["lat_us"] = o["lat_us"]
            self.ops.append(s)
        self.orphans = [oid for oid in outs if oid not in sends]
        # expectation per (island, name): put op and optional delete op
        self.names = {}
        for s in self.ops:
            key = (s["island"], s["name"])
            e = self.names.setdefault(key, {"bucket": s["bucket"]})
            e[s["op"]] = s

    def islands(self):
        return sorted({s["island"] for s in self.ops})

    def count(self, island=None, op=None, fate=None):
        return sum(1 for s in self.ops if (island is None or s["island"] == island) and
                   (op is None or s["op"] == op) and (fate is None or s["fate"] == fate))


def expected_content(put):
    return {"size": put["size"], "etag": put["etag"], "content_type": put["ct"],
            "meta": put["meta"]}


def sent_matches(rec_content, put):
    e = expected_content(put)
    return all(rec_content[k] == v for k, v in e.items())


class Checker:
    def __init__(self, a):
        self.a = a
        self.violations = []
        self.rows = []            # (what, value)
        self.report = {}
        paths = sorted(glob.glob(os.path.join(a.ops, "*.ops.jsonl")))
        if not paths:
            raise SystemExit("checker: no *.ops.jsonl under '%s'" % a.ops)
        self.ops = Ops(paths)
        self.islands = {}
        for kv in a.islands.split(","):
            name, addr = kv.split("=", 1)
            self.islands[name] = mdsapi.Island(name, addr)
        self.phases = []
        if a.phases and os.path.exists(a.phases):
            with open(a.phases) as f:
                self.phases = [json.loads(x) for x in f if x.strip()]
        self.lost = set()

    def violate(self, kind, msg):
        self.violations.append((kind, msg))

    # -- what each island holds ---------------------------------------------
    def local_state(self, name):
        out = {}
        for r in self.islands[name].list_all("b-" + name):
            out[r.name] = mdsapi.record_content(r)
        return out

    def check_holdings(self, holder, origin, held, what):
        """@held: name -> content for origin's bucket as seen on @holder."""
        for (isl, nm), e in self.ops.names.items():
            if isl != origin:
                continue
            put, dele = e.get("put"), e.get("delete")
            rec = held.get(nm)
            where = "%s on %s" % (what, holder)
            if put is None:
                continue
            if dele and dele["fate"] == "acked":
                if rec is not None:
                    self.violate("resurrected", "%s/%s deleted (acknowledged) but present in %s" %
                                 (origin, nm, where))
                continue
            if rec is not None and not sent_matches(rec, put):
                if put["fate"] == "acked":
                    self.lost.add(put["id"])
                self.violate("lost", "%s/%s content differs in %s: have %s, sent %s" % (
                    origin, nm, where, {k: rec[k] for k in expected_content(put)},
                    expected_content(put)))
                continue
            if put["fate"] == "acked":
                if rec is None and not dele:
                    self.lost.add(put["id"])
                    self.violate("lost", "%s/%s acknowledged at %.3f but missing in %s" %
                                 (origin, nm, put["t"], where))
            elif put["fate"] == "refused" and rec is not None:
                self.violate("refused", "%s/%s refused with %s but present in %s" %
                             (origin, nm, put.get("code"), where))
        for nm in held:
            if (origin, nm) not in self.ops.names:
                self.violate("phantom", "%s/%s present in %s on %s but never sent" %
                             (origin, nm, what, holder))

    # -- federation -----------------------------------------------------------
    def heads(self):
        """name -> (size, root) of each island's newest checkpoint, or None
        while the checkpoint does not yet cover the whole log."""
        out = {}
        for n, isl in self.islands.items():
            cp = isl.checkpoint()
            out[n] = (cp.size, cp.root) if cp.size == isl.tree_size(start=cp.size) else None
        return out

    def cursors_converged(self):
        heads = self.heads()
        if any(h is None for h in heads.values()):
            return False, heads, "a checkpoint does not cover its log yet"
        for x, isl in self.islands.items():
            pr = isl.peers()
            seen = {p.origin: p for p in pr.peers}
            for y in self.islands:
                if y == x:
                    continue
                p = seen.get(y)
                if p is None:
                    return False, heads, "%s has no peer %s" % (x, y)
                if (p.applied_size, p.applied_root) != heads[y]:
                    return False, heads, "%s applied %s at %d, head %d" % (
                        x, y, p.applied_size, heads[y][0])
        return True, heads, ""

    def converge(self):
        import grpc
        t_heal = None
        for ph in self.phases:
            if ph["phase"] in ("healed", "settle"):
                t_heal = ph["t"]
        start = time.time()
        deadline = start + self.a.converge_timeout
        why = ""
        while True:
            try:
                ok, heads, why = self.cursors_converged()
            except grpc.RpcError as e:
                ok, why = False, "rpc: %s" % e.details()
            if ok:
                t = time.time()
                conv = t - (t_heal if t_heal else start)
                self.report["convergence_s"] = round(conv, 3)
                self.rows.append(("convergence after heal (damage end)", "%.2f s" % conv))
                return True
            if time.time() > deadline:
                self.violate("cursor", "not converged within %.0f s: %s" %
                             (self.a.converge_timeout, why))
                self.rows.append(("convergence after heal (damage end)", "NOT within %.0f s" %
                                  self.a.converge_timeout))
                return False
            time.sleep(0.1)

    def check_federation(self, local):
        self.converge()
        injected = {}
        if self.a.injections and os.path.exists(self.a.injections):
            with open(self.a.injections) as f:
                for inj in json.load(f):
                    injected[(inj["island"], inj["peer"])] = inj
        heads = self.heads()
        det_rows = []
        for x, isl in self.islands.items():
            pr = isl.peers()
            for p in pr.peers:
                if p.origin not in self.islands:
                    continue
                y = p.origin
                if heads.get(y) and (p.applied_size, p.applied_root) != heads[y]:
                    self.violate("cursor", "%s's cursor for %s is %d/%s, head %d/%s" % (
                        x, y, p.applied_size, p.applied_root.hex()[:12], heads[y][0],
                        heads[y][1].hex()[:12]))
                inj = injected.get((x, y))
                alarms = p.tamper_alarms + p.fork_alarms
                if inj:
                    n = inj.get("injected", 0)
                    det_rows.append("%s<-%s injected %d detected %d" % (x, y, n, alarms))
                    if n > 0 and alarms == 0:
                        self.violate("alarms", "%s: %d tamperings injected on the link from %s, "
                                     "no alarm" % (x, n, y))
                elif alarms:
                    self.violate("alarms", "%s raised %d tamper and %d fork alarms for %s where "
                                 "nothing was injected (last error: %s)" % (
                                     x, p.tamper_alarms, p.fork_alarms, y, p.last_error))
            for y in self.islands:
                if y == x:
                    continue
                view = {r.name: mdsapi.record_content(r)
                        for r in isl.global_list_all("b-" + y, y)}
                self.check_holdings(x, y, view, "the global view")
                if view != local[y]:
                    diff = sorted(set(view) ^ set(local[y]))[:3] or \
                        [k for k in view if view[k] != local[y].get(k)][:3]
                    self.violate("divergent", "%s's global view of %s differs from %s's "
                                 "listing (%d vs %d objects; e.g. %s)" % (
                                     x, y, y, len(view), len(local[y]), diff))
        if injected or det_rows:
            self.rows.append(("detections vs injections", "; ".join(det_rows) or "none"))
            self.report["detections"] = det_rows

    # -- latency and lag -------------------------------------------------------
    def phase_of(self, t):
        cur = None
        for ph in self.phases:
            if ph["t"] <= t:
                cur = ph["phase"]
        return cur

    def latency(self):
        phase = self.a.latency_phase
        if not self.phases or not any(p["phase"] == phase for p in self.phases):
            return
        per = {}
        for s in self.ops.ops:
            if s["op"] == "put" and s["fate"] == "acked":
                per.setdefault((s["island"], "write", self.phase_of(s["t"])), []).append(s["lat_us"])
        for r in self.ops.lookups:
            if r["ok"]:
                per.setdefault((r.get("island") or "?", "lookup", self.phase_of(r["t"])),
                               []).append(r["lat_us"])
        out = {}
        for isl in self.ops.islands():
            for kind in ("write", "lookup"):
                b = pct(per.get((isl, kind, "before"), []), 99)
                d = pct(per.get((isl, kind, phase), []), 99)
                nb = len(per.get((isl, kind, "before"), []))
                nd = len(per.get((isl, kind, phase), []))
                if b is None or d is None:
                    continue
                ratio = d / b if b else float("inf")
                out["%s %s" % (isl, kind)] = {"p99_before_us": b, "p99_during_us": d,
                                              "ratio": round(ratio, 2), "n": [nb, nd]}
                mark = "" if ratio <= self.a.latency_ratio_max else "  OVER %.1f" % \
                    self.a.latency_ratio_max
                self.rows.append(("%s p99 %s before/%s" % (isl, kind, phase),
                                  "%.2f / %.2f ms = %.2f (n=%d/%d)%s" % (
                                      b / 1e3, d / 1e3, ratio, nb, nd, mark)))
                if ratio > self.a.latency_ratio_max and self.a.latency_strict:
                    self.violate("latency", "%s %s p99 %.2f ms during %s vs %.2f ms before "
                                 "(ratio %.2f > %.2f)" % (isl, kind, d / 1e3, phase, b / 1e3,
                                                          ratio, self.a.latency_ratio_max))
        self.report["latency"] = out

    def lag(self):
        if not self.a.lag_samples or not os.path.exists(self.a.lag_samples):
            return
        with open(self.a.lag_samples) as f:
            xs = [json.loads(x)["lag_ms"] for x in f if x.strip()]
        if xs:
            p50, p99 = pct(xs, 50), pct(xs, 99)
            self.report["lag_ms"] = {"p50": p50, "p99": p99, "samples": len(xs)}
            self.rows.append(("replication lag p50 / p99", "%d / %d ms (%d samples)" %
                              (p50, p99, len(xs))))

    # -- run ----------------------------------------------------------------
    def run(self):
        o = self.ops
        att, ack = len(o.ops), o.count(fate="acked")
        self.rows.append(("operations attempted", str(att)))
        self.rows.append(("acknowledged", str(ack)))
        self.rows.append(("refused (definite error)", str(o.count(fate="refused"))))
        self.rows.append(("unknown outcome", str(o.count(fate="unknown"))))
        if o.orphans:
            self.violate("log", "%d outcomes without a send line" % len(o.orphans))
        local = {}
        for name in self.islands:
            local[name] = self.local_state(name)
            self.check_holdings(name, name, local[name], "its own store")
        if self.a.federation:
            self.check_federation(local)
        self.rows.insert(2, ("lost (must be 0)", str(len(self.lost))))
        self.latency()
        self.lag()
        if self.a.extra and os.path.exists(self.a.extra):
            with open(self.a.extra) as f:
                for k, v in json.load(f):
                    self.rows.append((k, v))
        self.report.update(attempted=att, acknowledged=ack, lost=len(self.lost),
                           violations=[{"kind": k, "what": m} for k, m in self.violations])
        self.print()
        if self.a.report:
            with open(self.a.report, "w") as f:
                json.dump({"rows": self.rows, **self.report}, f, indent=1)
        return 1 if self.violations else 0

    def print(self):
        w = max(len(k) for k, _ in self.rows)
        print("| %-*s | %s |" % (w, "check", "result"))
        print("|-%s-|-%s-|" % ("-" * w, "-" * 20))
        for k, v in self.rows:
            print("| %-*s | %s |" % (w, k, v))
        kinds = {}
        for k, m in self.violations:
            kinds.setdefault(k, []).append(m)
        for k, ms in sorted(kinds.items()):
            print("VIOLATION %s (%d): %s" % (k, len(ms), ms[0]))
            for m in ms[1:5]:
                print("    also: %s" % m)
        print("checker: %s" % ("PASS" if not self.violations else
                               "FAIL (%d violations)" % len(self.violations)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", required=True)
    ap.add_argument("--islands", required=True)
    ap.add_argument("--federation", action="store_true")
    ap.add_argument("--phases")
    ap.add_argument("--converge-timeout", type=float, default=60)
    ap.add_argument("--injections")
    ap.add_argument("--lag-samples")
    ap.add_argument("--extra")
    ap.add_argument("--report")
    ap.add_argument("--latency-phase", default="partition")
    ap.add_argument("--latency-ratio-max", type=float, default=1.2)
    ap.add_argument("--latency-strict", action="store_true")
    a = ap.parse_args(argv)
    try:
        c = Checker(a)
    except (OSError, ValueError) as e:
        print("checker: %s" % e, file=sys.stderr)
        return 2
    import grpc
    try:
        return c.run()
    except grpc.RpcError as e:
        print("checker: an island did not answer (%s): %s %s" % (
            getattr(e, "mds_where", "?"), e.code(), e.details()))
        print("checker: FAIL")
        return 1


if __name__ == "__main__":
    sys.exit(main())
