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
