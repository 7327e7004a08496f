"""cluster.py - the drills' harness: N islands brought up by
chaos/topology.sh (each `mds` in its own network namespace, or on loopback
addresses when namespaces cannot be created), each with its own feed key
(`mds keys init --name iI`), each following every other island through a
wanem link (`--peer iJ=WAN_ADDRESS=KEY`), plus the controls a drill needs:
kill and restart an island, cut and heal links, impair a link, read wanem's
counters, start load clients inside an island's namespace.

What must stay true:
 - teardown always happens: Cluster is a context manager, `down()` is
   registered with atexit and on SIGTERM/SIGINT, and topology.sh's own `down`
   kills whatever the state directory names, also after a failure;
 - in namespace mode the driver process enters the hub namespace (which
   reaches every island directly, and no partition rule touches it) before
   any gRPC thread exists, so every later thread and channel lives there;
 - an island's command line is written once to STATE/iI/run.sh and reused
   on restart, so a restarted island is the same island (same data, key,
   peers), except for what a drill changes on purpose (STATE/iI/extra,
   STATE/iJ/vkeys).
"""
import atexit
import ctypes
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import mdsapi

HERE = os.path.dirname(os.path.abspath(__file__))
CLONE_NEWNET = 0x40000000


def log(msg):
    print("drill: " + msg, file=sys.stderr, flush=True)


def enter_netns(name):
    """setns(2) the calling thread into /run/netns/@name."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "cannot enter network namespace '%s': %s" % (name, os.strerror(e)))
    finally:
        os.close(fd)


def mds_supports(mds, flag):
    r = subprocess.run([mds, "serve", "--help"], capture_output=True, text=True, timeout=10)
    return flag in (r.stdout + r.stderr)


class Cluster:
    def __init__(self, workdir, mds, wanem, wanemctl, n=3, prefix="mdsdr", loopback=False,
                 serve_args=(), federate=True, tmpfs=None):
        self.dir = workdir
        self.state = os.path.join(workdir, "topo")
        self.mds, self.wanem, self.wanemctl = mds, wanem, wanemctl
        self.n = n
        self.prefix = prefix
        self.loopback = loopback
        self.serve_args = list(serve_args)
        self.federate = federate
        self.tmpfs = tmpfs or {}      # island number -> tmpfs size for its data dir
        self.mode = None
        self.vkeys = {}
        self.clients = {}
        self.loads = []
        self.mounted = []
        self.is_up = False
        self.names = ["i%d" % i for i in range(1, n + 1)]

    # -- lifecycle ----------------------------------------------------------
    def topo(self, *args, check=True):
        env = dict(os.environ, WANEM=self.wanem, WANEMCTL=self.wanemctl)
        r = subprocess.run(["bash", os.path.join(HERE, "topology.sh")] + list(args) +
                           ["--prefix", self.prefix, "--state", self.state],
                           capture_output=True, text=True, env=env, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError("topology.sh %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                                   r.stderr[-2000:]))
        return r

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self):
        atexit.register(self.down)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.topo("down", check=False)          # leftovers of an earlier run
        os.makedirs(self.state, exist_ok=True)
        for i in range(1, self.n + 1):
            d = self.data(i)
            os.makedirs(d, exist_ok=True)
            if i in self.tmpfs:
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + self.tmpfs[i],
                                "drill-i%d" % i, d], check=True)
                self.mounted.append(d)
            out = subprocess.run([self.mds, "keys", "init", "--name", "i%d" % i, "--data", d],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                raise RuntimeError("mds keys init for i%d: %s" % (i, out.stderr))
            self.set_vkeys(i, [out.stdout.split()[0]])
            self.write_run(i)
        args = ["up", "-n", str(self.n), "--cmd", "exec {data}/../run.sh {addr} {port} {peers}"]
        if self.loopback:
            args.append("--loopback")
        self.is_up = True
        self.topo(*args)
        with open(os.path.join(self.state, "env")) as f:
            env = dict(line.strip().split("=", 1) for line in f if "=" in line)
        self.mode = env["MODE"]
        reason = shlex.split(env.get("REASON", ""))     # written with printf %q
        self.reason = reason[0] if reason else ""
        if self.mode == "netns":
            enter_netns(self.prefix + "hub")
        for i in range(1, self.n + 1):
            self.wait_ready(i)
        log("up: %d islands, mode=%s%s" % (self.n, self.mode,
                                            " (%s)" % self.reason if self.reason else ""))
        return self

    def _on_signal(self, sig, frame):
        self.down()
        sys.exit(128 + sig)

    def down(self):
        if not self.is_up:
            return
        self.is_up = False
        for p in self.loads:
            if p.poll() is None:
                p.kill()
                p.wait()
        for c in self.clients.values():
            c.close()
        self.clients = {}
        logs = os.path.join(self.dir, "logs")
        os.makedirs(logs, exist_ok=True)
        for name in ["wanem.log"] + ["i%d/log" % i for i in range(1, self.n + 1)]:
            src = os.path.join(self.state, name)
            if os.path.exists(src):
                shutil.copy(src, os.path.join(logs, name.replace("/", "-")))
        self.topo("down", check=False)
        for d in self.mounted:
            subprocess.run(["umount", d], capture_output=True)
        self.mounted = []

    # -- islands ------------------------------------------------------------
    def data(self, i):
        return os.path.join(self.state, "i%d" % i, "data")

    def set_vkeys(self, i, keys):
        """The verifier keys other islands trust for island @i (used on their
        next start)."""
        self.vkeys[i] = list(keys)
        with open(os.path.join(self.state, "i%d" % i, "vkeys"), "w") as f:
            f.write(",".join(keys) + "\n")

    def set_extra(self, i, args):
        """Extra `mds serve` arguments for island @i's next start."""
        with open(os.path.join(self.state, "i%d" % i, "extra"), "w") as f:
            f.write(" ".join(shlex.quote(a) for a in args) + "\n")

    def write_run(self, i):
        """STATE/iI/run.sh ADDR PORT PEERS: exec the island's mds serve.
        PEERS is topology.sh's "iJ=HOST:PORT,..." (the WAN path to each
        other island); each peer's keys come from STATE/iJ/vkeys."""
        st = self.state
        serve = [self.mds, "serve", "--data", self.data(i), "--insecure", "--auth-mode", "dev",
                 "--feed-cadence-ms", "50", "--feed-heartbeat-ms", "500"] + self.serve_args
        lines = [
            "#!/bin/sh",
            "# island i%d, written by chaos/cluster.py; re-run on restart" % i,
            "addr=$1 port=$2 peers=$3",
            "set -- --listen \"$addr:$port\" --http \"$addr:7421\"",
        ]
        if self.federate:
            lines += [
                "old_ifs=$IFS; IFS=,",
                "for p in $peers; do",
                "  o=${p%%=*}; a=${p#*=}",
                "  set -- \"$@\" --peer \"$o=$a=$(cat %s/$o/vkeys)\"" % shlex.quote(st),
                "done",
                "IFS=$old_ifs",
            ]
        lines += [
            "extra=$(cat %s/i%d/extra 2>/dev/null)" % (shlex.quote(st), i),
            "exec %s \"$@\" $extra" % " ".join(shlex.quote(a) for a in serve),
        ]
        path = os.path.join(st, "i%d" % i, "run.sh")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o755)

    def addr(self, i):
        host = "10.77.0.%d" % i if self.mode == "netns" else "127.0.1.%d" % i
        return "%s:7420" % host

    def island(self, i):
        if i not in self.clients:
            self.clients[i] = mdsapi.Island("i%d" % i, self.addr(i))
        return self.clients[i]

    def pid(self, i):
        try:
            with open(os.path.join(self.state, "i%d" % i, "pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def alive(self, i):
        p = self.pid(i)
        if not p:
            return False
        try:
            with open("/proc/%d/stat" % p) as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    def kill(self, i, sig=signal.SIGKILL, timeout=20):
        p = self.pid(i)
        if not p:
            return
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + timeout
        while self.alive(i):
            if time.time() > deadline:
                raise RuntimeError("island i%d (pid %d) did not exit after signal %d" % (i, p, sig))
            time.sleep(0.02)
        if i in self.clients:
            self.clients.pop(i).close()

    def start(self, i, wait=True):
        """(Re)start island @i with its run.sh, in its namespace."""
        with open(os.path.join(self.state, "i%d" % i, "cmd")) as f:
            cmd = f.read().strip()
        argv = ["sh", "-c", cmd]
        if self.mode == "netns":
            argv = ["ip", "netns", "exec", "%si%d" % (self.prefix, i)] + argv
        logf = open(os.path.join(self.state, "i%d" % i, "log"), "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        logf.close()
        with open(os.path.join(self.state, "i%d" % i, "pid"), "w") as f:
            f.write("%d\n" % p.pid)
        self._reap = getattr(self, "_reap", []) + [p]
        if wait:
            self.wait_ready(i)

    def wait_ready(self, i, timeout=30):
        """Until island @i answers a Feed call. Polls the TCP port first: a
        gRPC channel that failed to connect backs off for seconds."""
        import grpc
        deadline = time.time() + timeout
        host, port = self.addr(i).rsplit(":", 1)
        while time.time() < deadline and self.alive(i):
            try:
                socket.create_connection((host, int(port)), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.02)
        while True:
            try:
                self.island(i).tree_size(timeout=1)
                return
            except grpc.RpcError as e:
                if time.time() > deadline:
                    raise RuntimeError("island i%d not answering at %s: %s; log: %s" % (
                        i, self.addr(i), e.details(), self.log_tail(i)))
            if not self.alive(i):
                raise RuntimeError("island i%d exited: %s" % (i, self.log_tail(i)))
            time.sleep(0.05)

    def log_tail(self, i, n=1500):
        try:
            with open(os.path.join(self.state, "i%d" % i, "log"), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # -- the WAN ------------------------------------------------------------
    def ctl(self, *words):
        r = subprocess.run([self.wanemctl, "-s", os.path.join(self.state, "wanem.sock")] +
                           list(words), capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError("wanemctl %s: %s" % (" ".join(words), r.stderr.strip()))
        return json.loads(r.stdout)

    def wan(self, i, j, *opts):
        """Impair link iI-iJ (island i's connections to island j)."""
        return self.ctl("link", "set", "i%d-i%d" % (i, j), *opts)

    def wan_all(self, *opts):
        for i in range(1, self.n + 1):
            for j in range(1, self.n + 1):
                if i != j:
                    self.wan(i, j, *opts)

    def link(self, i, j):
        return self.ctl("link", "show", "i%d-i%d" % (i, j))["links"][0]

    def partition(self, a, b):
        """Cut a and b apart: nftables in namespace mode, the WAN otherwise."""
        if self.mode == "netns":
            self.topo("partition", "full", str(a), str(b))
        else:
            self.topo("partition", "--wan", "full", str(a), str(b))

    def isolate(self, a):
        for b in range(1, self.n + 1):
            if b != a:
                self.partition(a, b)

    def partition_all(self):
        for a in range(1, self.n + 1):
            for b in range(a + 1, self.n + 1):
                self.partition(a, b)

    def heal(self):
        self.topo("heal")

    # -- load ---------------------------------------------------------------
    def start_load(self, i, logpath, *args):
        """A load client (chaos/load.py) for island @i, in its namespace."""
        argv = [sys.executable, os.path.join(HERE, "load.py"), "--target", self.addr(i),
                "--island", "i%d" % i, "--log", logpath] + list(args)
        if self.mode == "netns":
            argv = ["ip", "netns", "exec", "%si%d" % (self.prefix, i)] + argv
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        self.loads.append(p)
        return p

    def stop_loads(self, timeout=30):
        for p in self.loads:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.loads:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.loads = []
