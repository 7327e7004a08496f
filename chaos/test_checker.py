#!/usr/bin/python3
"""test_checker.py - the checker can fail (suite 'chaos').

    test_checker.py MDS

One real island on a free loopback port and one real load client
(chaos/load.py) produce an honest operation log: the checker passes it.
Then the log or the island is doctored, once per kind of violation, and the
checker must fail with exactly that kind: an acknowledged put that was
never made (lost), an acknowledged put whose content differs (lost), an
object no client sent (phantom), an acknowledged delete of an object that
is still there (resurrected), a refused put whose object exists (refused).
"""
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker  # noqa: E402
import mdsapi  # noqa: E402

MDS = sys.argv[1]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run_checker(opsdir, addr):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = checker.main(["--ops", opsdir, "--islands", "i1=" + addr])
    return rc, out.getvalue()


def main():
    tmp = tempfile.mkdtemp(prefix="mds-checker-test-")
    proc = None
    try:
        pf = os.path.join(tmp, "ports.json")
        logf = open(os.path.join(tmp, "mds.log"), "wb")
        proc = subprocess.Popen([MDS, "serve", "--data", os.path.join(tmp, "data"), "--auth-mode", "dev",
                                 "--listen", "127.0.0.1:0", "--http", "off", "--port-file", pf],
                                stdout=logf, stderr=logf)
        deadline = time.time() + 10
        while not os.path.exists(pf):
            if proc.poll() is not None or time.time() > deadline:
                fail("mds did not start")
            time.sleep(0.02)
        time.sleep(0.05)
        with open(pf) as f:
            addr = "127.0.0.1:%d" % json.load(f)["grpc"]
        isl = mdsapi.Island("i1", addr)
        isl.create_team("chaos")
        isl.create_bucket("b-i1", "chaos")
        ops = os.path.join(tmp, "ops")
        os.makedirs(ops)
        log = os.path.join(ops, "i1.ops.jsonl")
        load = subprocess.Popen([sys.executable, os.path.join(HERE, "load.py"), "--target", addr,
                                 "--island", "i1", "--log", log, "--rate", "200",
                                 "--delete-every", "5", "--seed", "7"])
        time.sleep(1.5)
        load.send_signal(signal.SIGTERM)
        if load.wait(20) != 0:
            fail("load client exited %d" % load.returncode)
        rc, out = run_checker(ops, addr)
        if rc != 0:
            fail("checker failed an honest log:\n" + out)
        att = int(out.split("operations attempted")[1].split("|")[1])
        if att < 50:
            fail("too few operations to mean anything: %d" % att)
        print("honest log: %d operations, checker passes" % att)
        recs = [json.loads(x) for x in open(log)]
        acked_put = next(r for r in recs if r.get("op") == "put" and
                         any(o.get("id") == r["id"] and o["ev"] == "ack" for o in recs))
        base = open(log).read()

        def doctored(lines, kind, what):
            with open(log, "w") as f:
                f.write(base + "".join(json.dumps(x) + "\n" for x in lines))
            rc, out = run_checker(ops, addr)
            if rc != 1 or ("VIOLATION %s" % kind) not in out:
                fail("%s: checker exit %d, want 1 with a '%s' violation:\n%s" % (what, rc, kind, out))
            print("%s: detected (%s)" % (what, kind))
            return out

        now = time.time()
        ghost = dict(acked_put, id="ghost-1", name="w/ghost/1", t=now)
        out = doctored([ghost, {"id": "ghost-1", "ev": "ack", "lat_us": 100, "t": now}],
                       "lost", "acknowledged put never made")
        if "lost (must be 0)" not in out or " 1 |" not in out.split("lost (must be 0)")[1].split("\n")[0]:
            fail("lost count is not 1:\n" + out)
        # the log claims other content than what the island holds
        other = dict(acked_put, etag='"0000"')
        with open(log, "w") as f:
            for r in recs:
                f.write(json.dumps(other if r is acked_put else r) + "\n")
        rc, out = run_checker(ops, addr)
        if rc != 1 or "content differs" not in out:
            fail("changed content not detected:\n" + out)
        print("acknowledged put with other content: detected (lost)")
        with open(log, "w") as f:
            f.write(base)
        # an object written behind the clients' backs
        isl.put("b-i1", "w/intruder", 1, '"x"', "text/plain", {})
        doctored([], "phantom", "object no client sent")
        isl.delete("b-i1", "w/intruder")
        # an acknowledged delete whose object is still there
        doctored([{"id": "del-1", "ev": "send", "op": "delete", "island": "i1", "bucket": "b-i1",
                   "name": acked_put["name"], "t": now},
                  {"id": "del-1", "ev": "ack", "lat_us": 1, "t": now}],
                 "resurrected", "acknowledged delete still present")
        # a put refused with a definite error whose object exists
        isl.put("b-i1", "w/refused", 5, '"r"', "text/plain", {})
        doctored([{"id": "ref-1", "ev": "send", "op": "put", "island": "i1", "bucket": "b-i1",
                   "name": "w/refused", "size": 5, "etag": '"r"', "ct": "text/plain", "meta": {},
                   "t": now},
                  {"id": "ref-1", "ev": "fail", "code": "RESOURCE_EXHAUSTED", "lat_us": 1, "t": now}],
                 "refused", "refused put present")
        # an unknown outcome may have happened or not: no violation either way
        with open(log, "w") as f:
            f.write(base + json.dumps({"id": "unk-1", "ev": "send", "op": "put", "island": "i1",
                                       "bucket": "b-i1", "name": "w/refused", "size": 5,
                                       "etag": '"r"', "ct": "text/plain", "meta": {},
                                       "t": now}) + "\n")
        rc, out = run_checker(ops, addr)
        if rc != 0:
            fail("a put of unknown outcome that happened was called a violation:\n" + out)
        print("unknown outcome, present: accepted")
        isl.close()
        print("ok checker")
        return 0
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
