"""mdsd.py - helpers for the integration tests: run a real `mds serve` on
free loopback ports, generate the mds.v1 Python messages with protoc, and
call methods through grpcio without generated service stubs.

Used by test_grpc.py, test_mdsctl.py and test_shutdown.py; every daemon is
killed in cleanup, even when a test fails.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

SRC = os.environ.get("MDS_SOURCE_ROOT",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def load_protos(outdir):
    """Generate mds/v1/*_pb2.py under outdir and import them."""
    inc = os.path.join(SRC, "include")
    os.makedirs(outdir, exist_ok=True)
    protos = ["mds/v1/types.proto", "mds/v1/namespace.proto", "mds/v1/admin.proto"]
    subprocess.run(["protoc", "--proto_path=" + inc, "--python_out=" + outdir] + protos,
                   check=True, cwd=inc)
    for d in ("mds", "mds/v1"):
        open(os.path.join(outdir, d, "__init__.py"), "a").close()
    sys.path.insert(0, outdir)
    from mds.v1 import types_pb2, namespace_pb2, admin_pb2  # noqa: E402
    return types_pb2, namespace_pb2, admin_pb2


class Daemon:
    """One `mds serve` process with its own data directory."""

    def __init__(self, mds_bin, workdir, extra=(), data=None, auth_mode="dev"):
        """auth_mode: passed as --auth-mode unless extra names one already;
        None passes nothing (the embedded default: a local issuer, with the
        admin token in DATA/admin.token, see admin_token())."""
        self.bin = mds_bin
        self.dir = workdir
        self.data = data or os.path.join(workdir, "data")
        self.extra = list(extra)
        if auth_mode and "--auth-mode" not in self.extra and "--dev" not in self.extra:
            self.extra = ["--auth-mode", auth_mode] + self.extra
        self.proc = None
        self.grpc_port = self.http_port = None
        self.log_path = os.path.join(workdir, "mds.log")

    def start(self, timeout=10.0):
        pf = os.path.join(self.dir, "ports.json")
        if os.path.exists(pf):
            os.unlink(pf)
        self.log = open(self.log_path, "ab")
        args = [self.bin, "serve", "--data", self.data, "--listen", "127.0.0.1:0",
                "--http", "127.0.0.1:0", "--port-file", pf] + self.extra
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        t0 = time.time()
        while not os.path.exists(pf):
            if self.proc.poll() is not None:
                raise RuntimeError("mds exited with %d: %s" % (self.proc.returncode,
                                                               self.read_log()))
            if time.time() - t0 > timeout:
                raise RuntimeError("mds did not start: " + self.read_log())
            time.sleep(0.02)
        with open(pf) as f:
            ports = json.load(f)
        self.grpc_port, self.http_port = ports["grpc"], ports["http"]
        return self

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def admin_token(self):
        """The island-admin token the embedded default writes (auth_mode=None)."""
        with open(os.path.join(self.data, "admin.token")) as f:
            return f.read().strip()

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.grpc_port

    def http_get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=20):
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        return rc

    def stop(self):
        """SIGTERM and wait; fail if the daemon did not exit 0 on its own or
        a sanitizer reported anything in its log."""
        problem = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=15)
                if rc != 0:
                    problem = "mds exited with %d after SIGTERM" % rc
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problem = "mds did not stop within 15 s of SIGTERM"
        if self.proc:
            self.log.close()
            self.proc = None
        log = self.read_log()
        if "Sanitizer" in log or "runtime error:" in log:
            problem = "sanitizer report in %s" % self.log_path
        if problem:
            raise AssertionError(problem + "\n" + log[-4000:])


class Client:
    """grpcio calls by method path, with the mds.v1 message classes."""

    def __init__(self, channel, ns, admin):
        self.ch = channel
        self.ns = ns
        self.admin = admin

    def unary(self, path, req, resp_cls, timeout=10):
        f = self.ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_cls.FromString)
        return f(req, timeout=timeout)

    def raw(self, path, payload, timeout=10):
        """Send raw bytes; return raw response bytes."""
        f = self.ch.unary_unary(path, request_serializer=None, response_deserializer=None)
        return f(payload, timeout=timeout)

    def stream(self, path, req, resp_cls, timeout=30):
        f = self.ch.unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=resp_cls.FromString)
        return f(req, timeout=timeout)


def tempdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    return d, lambda: shutil.rmtree(d, ignore_errors=True)


# ---- federation: several islands with keys and peers (test_federation.py) ----

_ports_given = set()


def free_port():
    """A loopback TCP port that was free a moment ago, and not handed out
    before by this process: islands take their ports before any of them
    listens, and the kernel may offer a just-closed port again (a CI dry
    run gave island-a and island-b the same one)."""
    import socket
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no fresh loopback port in 100 tries")


def load_fed_protos(outdir):
    """Generate and import the Feed and Global messages (after load_protos)."""
    inc = os.path.join(SRC, "include")
    subprocess.run(["protoc", "--proto_path=" + inc, "--python_out=" + outdir,
                    "mds/v1/feed.proto", "mds/v1/global.proto"], check=True, cwd=inc)
    from mds.v1 import feed_pb2, global_pb2  # noqa: E402
    return feed_pb2, global_pb2


# Short cadences so that tests converge in well under a second.
FED_FAST = ["--feed-cadence-ms", "20", "--feed-heartbeat-ms", "300",
            "--peer-stale-ms", "2000", "--peer-idle-ms", "3000",
            "--peer-backoff-max-ms", "400"]


class Island:
    """One island: its own data dir, `mds keys init --name ORIGIN`, a fixed
    gRPC port (so peers can be named before it starts) and its peers."""

    def __init__(self, mds_bin, workdir, origin, data=None):
        self.bin = mds_bin
        self.origin = origin
        self.dir = os.path.join(workdir, origin)
        os.makedirs(self.dir, exist_ok=True)
        self.data = data or os.path.join(self.dir, "data")
        self.vkey = None
        if not os.path.exists(os.path.join(self.data, "feed")):
            self.vkey = self.keys("init", "--name", origin).strip()
        else:
            self.vkey = self.keys("show").strip().splitlines()[0]
        self.port = free_port()
        self.peers = []          # (origin, port, [keys]) or Island
        self.daemon = None
        self.extra = []
        self.auth_mode = "dev"

    @property
    def token(self):
        """The island-admin token of --auth-mode local (None in dev mode)."""
        path = os.path.join(self.data, "admin.token")
        if self.auth_mode != "local" or not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read().strip()

    def keys(self, *args):
        p = subprocess.run([self.bin, "keys"] + list(args) + ["--data", self.data],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError("mds keys %s: %s" % (args, p.stderr))
        return p.stdout

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    def peer_arg(self, keys=None, port=None):
        return "%s=127.0.0.1:%d=%s" % (self.origin, port or self.port,
                                       ",".join(keys or [self.vkey]))

    def start(self, extra=(), timeout=10.0):
        args = ["--listen", self.endpoint] + FED_FAST + self.extra + list(extra)
        for p in self.peers:
            args += ["--peer", p if isinstance(p, str) else p.peer_arg()]
        self.daemon = Daemon(self.bin, self.dir, extra=args, data=self.data,
                             auth_mode=self.auth_mode)
        self.daemon.start(timeout=timeout)
        return self

    def stop(self):
        if self.daemon:
            self.daemon.stop()
            self.daemon = None

    def kill(self):
        """SIGKILL (no cleanup): what a crash leaves."""
        if self.daemon and self.daemon.proc:
            self.daemon.proc.kill()
            self.daemon.proc.wait()
            self.daemon.log.close()
            self.daemon.proc = None
        self.daemon = None


def start_islands(mds_bin, workdir, origins, mesh=True, extra=()):
    """N islands, each following every other one when @mesh."""
    isl = [Island(mds_bin, workdir, o) for o in origins]
    if mesh:
        for a in isl:
            a.peers = [b for b in isl if b is not a]
    for a in isl:
        a.start(extra=extra)
    return isl
