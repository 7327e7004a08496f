#!/usr/bin/python3
"""Behaviour tests for the WAN emulator (suite 'chaos').

    test_wanem.py WANEM WANEMCTL CASE

Starts wanem on loopback with a fresh control socket, upstream servers in
threads, and a client; every case checks what a user of a link would notice.
Only 127.0.0.1 is ever used. Each case ends by stopping wanem with SIGTERM and
checking that it exits 0 with loop_close=0 (a clean shutdown). Extra case
`bench` (not registered as a test) prints throughput and latency figures.
"""
import atexit
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

WANEM, WANEMCTL, CASE = sys.argv[1:4]
HOST = "127.0.0.1"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


LIVE = []


@atexit.register
def _kill_leftovers():
    """A failing case must not leave a daemon behind (or hold meson's pipes)."""
    for p in LIVE:
        if p.poll() is None:
            p.kill()
            p.wait()


class Wanem:
    def __init__(self, *extra, expect_start=True):
        self.dir = tempfile.mkdtemp(prefix="wanem-test-")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.logpath = os.path.join(self.dir, "wanem.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen(
            [WANEM, "--control", self.sock, "--seed", "12345", *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        LIVE.append(self.proc)
        if not expect_start:
            return
        deadline = time.time() + 5
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("wanem exited at start: " + self.logtext())
            if os.path.exists(self.sock):
                try:
                    self.ctl("ping")
                    return
                except Exception:
                    pass
            time.sleep(0.02)
        fail("wanem did not answer ping within 5 s")

    def logtext(self):
        self.log.flush()
        with open(self.logpath) as f:
            return f.read()

    def ctl_raw(self, *words):
        r = subprocess.run([WANEMCTL, "-s", self.sock, *words],
                           capture_output=True, text=True, timeout=10)
        return r.returncode, json.loads(r.stdout) if r.stdout else None, r.stderr

    def ctl(self, *words):
        rc, ans, err = self.ctl_raw(*words)
        if rc != 0 or not ans or not ans.get("ok"):
            raise RuntimeError("command %r failed: rc=%d %s %s" % (words, rc, ans, err))
        return ans

    def link(self, name):
        return self.ctl("link", "show", name)["links"][0]

    def add(self, name, upstream_port, *opts):
        ans = self.ctl("link", "add", name, HOST + ":0", "%s:%d" % (HOST, upstream_port), *opts)
        return int(ans["link"]["listen"].rsplit(":", 1)[1])

    def stop(self, timeout=5):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("wanem did not stop within %d s of SIGTERM" % timeout)
        text = self.logtext()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        check(rc == 0, "wanem exit status %d after SIGTERM" % rc)
        check("event=stopped loop_close=0" in text, "no clean loop close in log:\n" + text[-2000:])
        return text


class Upstream:
    """A TCP server on 127.0.0.1:0 in a thread. mode: echo, sink, noread."""

    def __init__(self, mode):
        self.mode = mode
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((HOST, 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.accepted = 0
        self.sinks = []          # (bytes, sha256 hex, t_first, t_end) per finished sink conn
        self.held = []
        self.lock = threading.Lock()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            if self.mode == "noread":
                self.held.append(c)
                continue
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        h, n, t0 = hashlib.sha256(), 0, None
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                if t0 is None:
                    t0 = time.monotonic()
                if self.mode == "echo":
                    c.sendall(d)
                else:
                    h.update(d)
                    n += len(d)
            if self.mode == "sink":
                with self.lock:
                    self.sinks.append((n, h.hexdigest(), t0, time.monotonic()))
                c.sendall(b"done")
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()


def connect(port, timeout=5):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n, timeout=10):
    s.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(65536, n - len(buf)))
        if not d:
            fail("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def nothing_arrives(s, seconds):
    s.settimeout(seconds)
    try:
        d = s.recv(65536)
    except socket.timeout:
        return True
    except ConnectionResetError:
        return False
    return False


def rtt(s, n=5):
    out = []
    for i in range(n):
        t = time.monotonic()
        s.sendall(b"x")
        recv_exact(s, 1)
        out.append(time.monotonic() - t)
    return out


def wait_for(pred, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    fail("timed out after %.1f s waiting for %s" % (seconds, what))


# ---- cases ----------------------------------------------------------------

def case_latency():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("l", up.port, "latency=100ms")
    s = connect(port)
    r = rtt(s, 5)
    print("rtt with latency=100ms each way: min %.1f ms median %.1f ms" %
          (min(r) * 1e3, statistics.median(r) * 1e3))
    check(min(r) >= 0.200, "round trip %.1f ms is below the configured 2 x 100 ms" % (min(r) * 1e3))
    check(statistics.median(r) < 0.200 + 0.150, "median round trip %.1f ms is far above 200 ms" %
          (statistics.median(r) * 1e3))
    # Jitter must never reorder bytes: stream numbered records and compare.
    w.ctl("link", "set", "l", "latency=20ms", "jitter=15ms")
    sent = b"".join(b"%08d" % i for i in range(3000))
    t = threading.Thread(target=lambda: [s.sendall(sent[i:i + 80]) or time.sleep(0.0005)
                                         for i in range(0, len(sent), 80)])
    t.start()
    got = recv_exact(s, len(sent))
    t.join()
    check(got == sent, "bytes reordered or changed under jitter")
    r = rtt(s, 5)
    check(min(r) >= 2 * 0.005, "round trip %.1f ms below 2 x (20-15) ms" % (min(r) * 1e3))
    s.close()
    w.stop()


def case_rate():
    up = Upstream("sink")
    w = Wanem()
    rate = 500000                      # 4mbit = 500,000 bytes/s
    port = w.add("r", up.port, "rate=4mbit")
    data = os.urandom(1000000)
    s = connect(port)
    t0 = time.monotonic()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    check(recv_exact(s, 4, timeout=20) == b"done", "sink did not confirm")
    elapsed = time.monotonic() - t0
    n, digest, _, _ = up.sinks[0]
    burst = max(1500, rate // 100)
    floor = (len(data) - burst) / rate
    print("1,000,000 bytes at rate=4mbit took %.2f s (floor %.2f s)" % (elapsed, floor))
    check(n == len(data) and digest == hashlib.sha256(data).hexdigest(), "bytes lost or changed")
    check(elapsed >= floor, "transfer took %.2f s, faster than the cap allows (%.2f s)" % (elapsed, floor))
    check(elapsed < floor * 2 + 1, "transfer took %.2f s, far slower than the cap" % elapsed)
    st = w.link("r")["stats"]
    check(st["bytes_c2u"] == len(data), "stats bytes_c2u %d != %d" % (st["bytes_c2u"], len(data)))
    s.close()
    w.stop()


def case_partition():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("p", up.port)
    s = connect(port)
    first = os.urandom(100000)
    s.sendall(first)
    check(recv_exact(s, len(first)) == first, "echo before the partition differs")
    w.ctl("link", "set", "p", "partition=on")
    held = os.urandom(200000)
    sender = threading.Thread(target=s.sendall, args=(held,))
    sender.start()
    check(nothing_arrives(s, 1.0), "bytes crossed a partitioned link")
    # a new connection during the partition is black-holed
    s2 = connect(port)
    s2.sendall(b"hello")
    check(nothing_arrives(s2, 0.5), "a new connection got through a partition")
    st = w.link("p")["stats"]
    check(st["conns_blackholed"] == 1, "new connection not counted as black-holed: %s" % st)
    check(up.accepted == 1, "upstream saw %d connections during partition" % up.accepted)
    w.ctl("link", "set", "p", "partition=off")
    got = recv_exact(s, len(held), timeout=10)
    sender.join()
    check(hashlib.sha256(got).digest() == hashlib.sha256(held).digest(), "bytes lost or changed across heal")
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5)
    rest = s.recv(100)
    check(rest == b"", "%d extra (duplicated) bytes after heal" % len(rest))
    s.close()
    s2.close()
    w.stop()


def case_blackhole():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("b", up.port, "blackhole=on")
    s = connect(port)
    s.sendall(b"y" * 10000)
    check(nothing_arrives(s, 1.0), "a black hole answered")
    wait_for(lambda: w.link("b")["stats"]["bytes_discarded"] == 10000, 3, "10000 bytes discarded")
    check(up.accepted == 0, "black hole connected upstream")
    s.close()
    w.stop()


def case_refuse():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("f", up.port, "refuse=on")
    refused = False
    try:
        s = connect(port)
        s.settimeout(3)
        try:
            s.sendall(b"hi")
            refused = s.recv(10) == b""
        except (ConnectionResetError, BrokenPipeError):
            refused = True
        s.close()
    except (ConnectionRefusedError, ConnectionResetError):
        refused = True   # the RST can beat connect() back to the caller
    check(refused, "connection not refused")
    check(w.link("f")["stats"]["conns_refused"] == 1, "refusal not counted")
    check(up.accepted == 0, "refused connection reached upstream")
    w.ctl("link", "set", "f", "refuse=off")
    s = connect(port)
    s.sendall(b"back")
    check(recv_exact(s, 4) == b"back", "link does not work after refuse=off")
    s.close()
    # an upstream that refuses: the client's connection is reset, and counted
    dead = socket.socket()
    dead.bind((HOST, 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    port = w.add("dead", dead_port)
    try:
        s = connect(port)
        s.settimeout(3)
        closed = s.recv(10) == b""
        s.close()
    except ConnectionResetError:
        closed = True    # during connect() or on the first read
    check(closed, "connection to a dead upstream stays open")
    wait_for(lambda: w.link("dead")["stats"]["conns_failed"] == 1, 3, "failed upstream counted")
    w.stop()


def case_reset():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("x", up.port, "reset=1")
    s = connect(port)
    s.settimeout(3)
    got_reset = False
    try:
        s.sendall(b"a" * 100)
        s.recv(100)
    except ConnectionResetError:
        got_reset = True
    check(got_reset, "reset=1 did not reset the connection")
    check(w.link("x")["stats"]["resets"] == 1, "reset not counted")
    w.ctl("link", "set", "x", "reset=0")
    s = connect(port)
    s.sendall(b"ok")
    check(recv_exact(s, 2) == b"ok", "link does not work after reset=0")
    s.close()
    w.stop()


def case_runtime_change():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("c", up.port)
    s = connect(port)
    stop = threading.Event()
    sent_h, got_h = hashlib.sha256(), hashlib.sha256()
    counts = [0, 0]
    errors = []

    def pinger():
        try:
            i = 0
            while not stop.is_set():
                msg = b"%07d:" % i + os.urandom(500)
                s.sendall(msg)
                sent_h.update(msg)
                counts[0] += len(msg)
                got = recv_exact(s, len(msg))
                got_h.update(got)
                counts[1] += len(got)
                i += 1
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=pinger)
    t.start()
    for opts in (["latency=50ms"], ["jitter=10ms", "rate=2mbit"], ["buffer=64k"],
                 ["latency=0", "jitter=0", "rate=0"], ["corrupt=0", "reset=0"]):
        time.sleep(0.3)
        w.ctl("link", "set", "c", *opts)
    stop.set()
    t.join(10)
    check(not errors, "healthy connection broke during changes: %r" % errors)
    check(counts[0] == counts[1] and sent_h.digest() == got_h.digest(), "bytes lost or changed")
    st = w.link("c")["stats"]
    check(st["conns_accepted"] == 1 and st["conns_active"] == 1, "connection replaced: %s" % st)
    w.ctl("link", "set", "c", "latency=60ms")
    r = rtt(s, 3)
    check(min(r) >= 0.120, "new latency not applied to the open connection (%.1f ms)" % (min(r) * 1e3))
    print("%d bytes echoed across 5 run-time changes, same connection" % counts[0])
    s.close()
    w.stop()


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def case_bound():
    up = Upstream("noread")
    w = Wanem()
    bound = 65536
    port = w.add("m", up.port, "buffer=64k")
    socks = []
    for _ in range(4):
        s = connect(port)
        s.setblocking(False)
        socks.append(s)
    rss0 = vmrss_kib(w.proc.pid)
    sent = [0] * len(socks)
    chunk = b"z" * 65536
    deadline = time.time() + 2.0
    while time.time() < deadline:
        progress = False
        for i, s in enumerate(socks):
            try:
                sent[i] += s.send(chunk)
                progress = True
            except BlockingIOError:
                pass
        if not progress:
            time.sleep(0.02)
    lk = w.link("m")
    rss1 = vmrss_kib(w.proc.pid)
    peak = lk["stats"]["queued_peak"]
    per_conn = [c["c2u_queued"] for c in lk["conns"]]
    print("sent per connection before the sender blocked: %s bytes; queued in wanem: %s; "
          "peak %d; bound %d; RSS %d -> %d KiB" % (sent, per_conn, peak, bound, rss0, rss1))
    check(all(q <= bound for q in per_conn) and peak <= bound, "queue exceeded the bound")
    check(peak >= bound // 2, "queue never filled (peak %d): back-pressure not exercised" % peak)
    check(all(x < 64 * 1024 * 1024 for x in sent), "sender never blocked")
    # Memory stays bounded: keep pushing for another second, nothing grows.
    time.sleep(1.0)
    check(w.link("m")["stats"]["queued"] <= bound * len(socks), "total queued above bound x conns")
    for s in socks:
        s.close()
    w.stop()


def case_corrupt():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("k", up.port, "corrupt=1")
    s = connect(port)
    data = os.urandom(50000)
    s.sendall(data)
    got = recv_exact(s, len(data))
    diff = sum(1 for a, b in zip(data, got) if a != b)
    check(diff > 0, "corrupt=1 left the data intact")
    check(w.link("k")["stats"]["corrupted"] >= 1, "corruption not counted")
    w.ctl("link", "set", "k", "corrupt=0")
    s.sendall(data)
    check(recv_exact(s, len(data)) == data, "corrupt=0 still changes data")
    print("corrupt=1: %d of %d bytes differ" % (diff, len(data)))
    s.close()
    w.stop()


def case_replay():
    up = Upstream("echo")
    w = Wanem()
    port = w.add("rp", up.port, "replay=1")
    s = connect(port)
    data = os.urandom(1000)
    s.sendall(data)
    # duplicated on the way in (c2u) and again on the way back (u2c)
    got = recv_exact(s, 4 * len(data))
    check(got.count(data) >= 2 and nothing_arrives(s, 0.3), "replay=1 did not deliver each chunk twice")
    check(w.link("rp")["stats"]["replayed"] >= 2, "replays not counted")
    w.ctl("link", "set", "rp", "replay=0")
    s.sendall(data)
    check(recv_exact(s, len(data)) == data and nothing_arrives(s, 0.3), "replay=0 still replays")
    s.close()
    w.stop()


def case_replay_old():
    """replay-old re-delivers bytes read earlier on that direction (an old
    message the receiver has already seen), only in tamper-dir, and only
    beyond tamper-after."""
    up = Upstream("echo")
    w = Wanem()
    port = w.add("ro", up.port, "tamper-dir=u2c")
    s = connect(port)
    msgs = [(b"msg-%03d|" % i) * 10 for i in range(3)]
    for m in msgs:                       # history filled while replay-old is off: nothing kept
        s.sendall(m)
        check(recv_exact(s, len(m)) == m, "clean echo changed")
    w.ctl("link", "set", "ro", "replay-old=1")
    got = b""
    for m in msgs:                       # each send is one chunk each way
        s.sendall(m)
        got += recv_exact(s, len(m))
        time.sleep(0.05)
    deadline = time.time() + 2
    s.settimeout(0.3)
    while time.time() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        got += d
    st = w.link("ro")["stats"]
    # the first chunk after switching on has no history; the next two replay an older one
    check(st["replayed_old"] == 2, "replayed_old=%d, want 2" % st["replayed_old"])
    check(got.startswith(msgs[0]) and len(got) == 5 * len(msgs[0]),
          "u2c did not carry 3 messages plus 2 replays: %r" % got[:200])
    rest = [got[i:i + len(msgs[0])] for i in range(0, len(got), len(msgs[0]))]
    check(all(x in msgs for x in rest), "replayed bytes are not earlier whole chunks: %r" % rest)
    check(rest.count(msgs[0]) >= 2, "no old chunk was replayed: %r" % rest)
    # tamper-dir=u2c: the upstream saw each message once (the echo proves it)
    check(st["bytes_c2u"] == 6 * len(msgs[0]), "c2u was tampered: %d bytes" % st["bytes_c2u"])
    s.close()
    w.stop()


def case_tamper_scope():
    """corrupt with tamper-after spares the first N bytes of each direction;
    tamper-dir=c2u leaves replies intact."""
    up = Upstream("echo")
    w = Wanem()
    port = w.add("ts", up.port, "corrupt=1", "tamper-after=4k", "tamper-dir=c2u")
    s = connect(port)
    head = os.urandom(3000)
    s.sendall(head)
    check(recv_exact(s, len(head)) == head, "bytes within tamper-after were changed")
    check(w.link("ts")["stats"]["corrupted"] == 0, "corruption counted within tamper-after")
    data = os.urandom(20000)
    s.sendall(data)
    got = recv_exact(s, len(data))
    check(got != data and w.link("ts")["stats"]["corrupted"] >= 1,
          "corrupt=1 beyond tamper-after left the data intact")
    ok, _, err = w.ctl_raw("link", "set", "ts", "tamper-dir=sideways")
    check(ok != 0 and "tamper-dir" in err, "bad tamper-dir accepted: %s" % err)
    # the other direction only: what the client sends arrives intact
    w.ctl("link", "set", "ts", "tamper-dir=u2c", "corrupt=0")
    s.sendall(data)
    check(recv_exact(s, len(data)) == data, "corrupt=0 still changes data")
    w.ctl("link", "set", "ts", "corrupt=1")
    s.sendall(data)
    got = recv_exact(s, len(data))
    check(got != data, "tamper-dir=u2c with corrupt=1 left the echo intact")
    s.close()
    w.stop()


def case_control():
    up = Upstream("echo")
    cfg = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    cfg.write("# test config\nlink add fromfile 127.0.0.1:0 127.0.0.1:%d latency=5ms\n" % up.port)
    cfg.close()
    w = Wanem("--config", cfg.name, "--link", "fromflag 127.0.0.1:0 127.0.0.1:%d rate=1mbit" % up.port)
    os.unlink(cfg.name)
    links = {l["name"]: l for l in w.ctl("link", "show")["links"]}
    check(set(links) == {"fromfile", "fromflag"}, "start-up links: %s" % list(links))
    check(links["fromfile"]["latency_ms"] == 5.0 and links["fromflag"]["rate_bps"] == 125000,
          "start-up options not applied")
    bad = [
        (("link", "add", "fromfile", "127.0.0.1:0", "127.0.0.1:1"), "exists already"),
        (("link", "add", "z", "localhost:1", "127.0.0.1:1"), "not a numeric IPv4"),
        (("link", "add", "z", "127.0.0.1:0"), "missing arguments"),
        (("link", "set", "nope", "latency=1ms"), "no link named 'nope'"),
        (("link", "set", "fromfile", "latency=1ms", "rate=fast"), "cannot parse rate 'fast'"),
        (("link", "set", "fromfile", "partition"), "has no value"),
        (("link", "set", "fromfile", "color=red"), "unknown option 'color'"),
        (("link", "frob"), "unknown link command 'frob'"),
        (("reboot",), "unknown command 'reboot'"),
    ]
    for words, msg in bad:
        rc, ans, err = w.ctl_raw(*words)
        check(rc == 1 and ans and not ans["ok"] and msg in ans["error"],
              "%r: want error containing %r, got rc=%d %s" % (words, msg, rc, ans))
        check(msg in err, "wanemctl did not print the error on stderr")
    # a refused `set` changes nothing, not even its valid words
    check(w.link("fromfile")["latency_ms"] == 5.0, "a bad link set changed the link")
    # the listening port of an occupied address is reported
    busy = links["fromfile"]["listen"]
    rc, ans, _ = w.ctl_raw("link", "add", "dup", busy, "127.0.0.1:1")
    check(rc == 1 and "cannot listen on" in ans["error"], "binding a busy port: %s" % ans)
    # over-long lines are refused and the daemon lives on
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(w.sock)
        c.sendall(b"ping " + b"a" * 5000 + b"\n")
        c.settimeout(3)
        ans = json.loads(c.makefile().readline())
        check(not ans["ok"] and "longer than" in ans["error"], "long line: %s" % ans)
    # several commands on one connection are answered in order
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(w.sock)
        c.sendall(b"ping\nlink show fromflag\nlink del fromflag\nlink show\n")
        f = c.makefile()
        answers = [json.loads(f.readline()) for _ in range(4)]
        check([a["ok"] for a in answers] == [True] * 4, "pipelined answers: %s" % answers)
        check([l["name"] for l in answers[3]["links"]] == ["fromfile"], "link del did not remove")
    port = int(busy.rsplit(":", 1)[1])
    s = connect(port)
    s.sendall(b"q")
    check(recv_exact(s, 1) == b"q", "remaining link broken")
    s.close()
    rc = subprocess.run([WANEMCTL, "-s", w.sock + ".missing", "ping"], capture_output=True,
                        text=True).returncode
    check(rc == 2, "wanemctl with no daemon: rc %d, want 2" % rc)
    # a bad start-up flag stops the daemon with the error
    w2 = Wanem("--link", "bad 127.0.0.1:0 127.0.0.1:1 latency=fast", expect_start=False)
    rc = w2.proc.wait(5)
    check(rc != 0 and "cannot parse duration 'fast'" in w2.logtext(), "bad --link accepted")
    w.stop()


def case_shutdown():
    up = Upstream("noread")
    w = Wanem()
    port = w.add("s", up.port, "latency=1s")
    socks = [connect(port) for _ in range(5)]
    for s in socks:
        s.sendall(b"q" * 100000)
    w.ctl("link", "add", "t", "127.0.0.1:0", "127.0.0.1:%d" % up.port, "partition=on")
    time.sleep(0.3)
    t0 = time.monotonic()
    text = w.stop()
    check(time.monotonic() - t0 < 2, "shutdown slow")
    check(text.count("event=conn_close") >= 5, "connections not closed at shutdown")
    for s in socks:
        s.close()


def case_bench():
    """Throughput (MB/s) direct vs through wanem, median of 5; latency check."""
    up = Upstream("sink")
    w = Wanem("--quiet")
    port = w.add("bench", up.port)
    size = 256 * 1024 * 1024
    block = os.urandom(1 << 20)

    def run(p):
        s = connect(p)
        t0 = time.monotonic()
        for _ in range(size // len(block)):
            s.sendall(block)
        s.shutdown(socket.SHUT_WR)
        recv_exact(s, 4, timeout=60)
        s.close()
        return size / (time.monotonic() - t0) / 1e6
    direct, proxied = [], []
    for _ in range(5):
        direct.append(run(up.port))
        proxied.append(run(port))
    print("throughput 256 MiB: direct median %.0f MB/s %s; via wanem median %.0f MB/s %s" %
          (statistics.median(direct), [round(x) for x in direct],
           statistics.median(proxied), [round(x) for x in proxied]))
    w.stop()
    up2 = Upstream("echo")
    w = Wanem("--quiet")
    port = w.add("lat", up2.port)
    s = connect(port)
    r0 = rtt(s, 50)
    w.ctl("link", "set", "lat", "latency=25ms")
    r1 = rtt(s, 20)
    s2 = connect(up2.port)
    rd = rtt(s2, 50)
    print("rtt 1 byte: direct median %.3f ms; via wanem no impairment median %.3f ms; "
          "latency=25ms median %.2f ms (min %.2f)" %
          (statistics.median(rd) * 1e3, statistics.median(r0) * 1e3,
           statistics.median(r1) * 1e3, min(r1) * 1e3))
    w.stop()
    # Memory per connection: 100 connections whose receiver never reads.
    up3 = Upstream("noread")
    w = Wanem("--quiet")
    port = w.add("mem", up3.port)
    rss_none = vmrss_kib(w.proc.pid)
    idle = [connect(port) for _ in range(100)]
    time.sleep(0.3)
    rss_idle = vmrss_kib(w.proc.pid)
    for s in idle:
        s.setblocking(False)
    deadline = time.time() + 3
    while time.time() < deadline:
        for s in idle:
            try:
                s.send(block[:65536])
            except BlockingIOError:
                pass
    lk = w.link("mem")
    rss_full = vmrss_kib(w.proc.pid)
    full = sum(1 for c in lk["conns"] if c["c2u_queued"] >= lk["buffer"] - 8192)
    print("memory: RSS %d KiB with no connection, %d KiB with 100 idle ones (%.1f KiB each); "
          "with every c2u queue at the bound (%d of 100 full, buffer %d) %d KiB: "
          "%.0f KiB more per full connection, peak queue %d" %
          (rss_none, rss_idle, (rss_idle - rss_none) / 100.0, full, lk["buffer"], rss_full,
           (rss_full - rss_idle) / 100.0, lk["stats"]["queued_peak"]))
    w.stop()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}
if CASE not in CASES:
    fail("unknown case %r; have %s" % (CASE, sorted(CASES)))
t0 = time.monotonic()
CASES[CASE]()
print("ok %s (%.1f s)" % (CASE, time.monotonic() - t0))
