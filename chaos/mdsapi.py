"""mdsapi.py - the mds.v1 messages and gRPC calls the drills, load clients
and the checker use: Python classes generated with protoc into a private
directory once per process, and unary/stream calls by method path (no
generated service stubs, so only protoc and python3-grpcio are needed).

What must stay true: nothing here retries or hides an error; a caller sees
grpc.RpcError with the island's status, and decides what an acknowledged
operation is (a unary call that returned without error).
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("MDS_SOURCE_ROOT",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
PROTOS = ["types", "namespace", "admin", "feed", "global"]

pb = {}   # short name -> generated module, filled by load()


def load():
    """Generate and import mds/v1/*_pb2 (once); returns the dict of modules."""
    if pb:
        return pb
    out = tempfile.mkdtemp(prefix="mds-chaos-py-")
    atexit.register(shutil.rmtree, out, True)
    inc = os.path.join(SRC, "include")
    subprocess.run(["protoc", "--proto_path=" + inc, "--python_out=" + out] +
                   ["mds/v1/%s.proto" % p for p in PROTOS], check=True, cwd=inc)
    for d in ("mds", "mds/v1"):
        open(os.path.join(out, d, "__init__.py"), "a").close()
    sys.path.insert(0, out)
    import importlib
    for p in PROTOS:
        pb[p] = importlib.import_module("mds.v1.%s_pb2" % p)
    return pb


class Island:
    """A gRPC channel to one island and typed calls on it."""

    def __init__(self, name, address):
        import grpc
        load()
        self.grpc = grpc
        self.name = name
        self.address = address
        self.ch = grpc.insecure_channel(address, options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.enable_retries", 0),
            # an island restarted by a drill is back within ~100 ms: do not
            # sit out gRPC's default reconnect backoff (1 s, growing)
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000)])

    def close(self):
        self.ch.close()

    def unary(self, method, req, resp_cls, timeout=10.0):
        f = self.ch.unary_unary("/mds.v1." + method,
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_cls.FromString)
        # wait_for_ready: a call made while the channel reconnects (island
        # restarted) waits for the connection within its deadline instead of
        # failing at once with UNAVAILABLE for the whole reconnect backoff
        try:
            return f(req, timeout=timeout, wait_for_ready=True)
        except self.grpc.RpcError as e:
            e.mds_where = "%s %s" % (self.name, method)   # for reports
            raise

    def stream(self, method, req, resp_cls, timeout=30.0):
        f = self.ch.unary_stream("/mds.v1." + method,
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=resp_cls.FromString)
        return f(req, timeout=timeout)

    # -- namespace --------------------------------------------------------
    def create_team(self, team):
        return self.unary("Admin/CreateTeam", pb["admin"].CreateTeamRequest(team=team),
                          pb["types"].Team)

    def create_bucket(self, bucket, team):
        return self.unary("Namespace/CreateBucket",
                          pb["namespace"].CreateBucketRequest(bucket=bucket, team=team),
                          pb["types"].Bucket)

    def put(self, bucket, name, size, etag, content_type, meta, timeout=5.0):
        kv = [pb["types"].KeyValue(key=k, value=v) for k, v in sorted(meta.items())]
        return self.unary("Namespace/PutObject", pb["namespace"].PutObjectRequest(
            bucket=bucket, name=name, size=size, etag=etag, content_type=content_type,
            metadata=kv), pb["namespace"].PutObjectResponse, timeout=timeout)

    def delete(self, bucket, name, timeout=5.0):
        return self.unary("Namespace/DeleteObject",
                          pb["namespace"].DeleteObjectRequest(bucket=bucket, name=name),
                          pb["namespace"].DeleteObjectResponse, timeout=timeout)

    def head(self, bucket, name, timeout=5.0):
        return self.unary("Namespace/HeadObject",
                          pb["namespace"].HeadObjectRequest(bucket=bucket, name=name),
                          pb["types"].ObjectRecord, timeout=timeout)

    def list_all(self, bucket):
        """Every object record of @bucket on this island, in name order."""
        out = []
        for r in self.stream("Namespace/ListObjectsStream",
                             pb["namespace"].ListObjectsStreamRequest(bucket=bucket),
                             pb["namespace"].ListObjectsStreamResponse, timeout=60):
            out.extend(r.objects)
        return out

    # -- feed and global view ---------------------------------------------
    def checkpoint(self, timeout=5.0):
        return self.unary("Feed/GetCheckpoint", pb["feed"].GetCheckpointRequest(),
                          pb["feed"].FeedCheckpoint, timeout=timeout)

    def tree_size(self, start=0, timeout=5.0):
        """The log's size now. @start must be a retained leaf (or the size):
        after compaction, leaf 0 is refused with FAILED_PRECONDITION."""
        r = self.unary("Feed/GetEntries", pb["feed"].GetEntriesRequest(start=start, end=start + 1),
                       pb["feed"].FeedEntries, timeout=timeout)
        return r.tree_size

    def peers(self, timeout=5.0):
        return self.unary("Global/Peers", pb["global"].PeersRequest(),
                          pb["global"].PeersResponse, timeout=timeout)

    def global_list_all(self, bucket, origin):
        """Every object of @bucket attributed to @origin in this island's
        global view, in name order (paged through ListObjects)."""
        out, token = [], ""
        while True:
            r = self.unary("Global/ListObjects", pb["global"].GlobalListRequest(
                bucket=bucket, continuation_token=token, max_keys=1000, origins=[origin]),
                pb["global"].GlobalListResponse, timeout=30)
            out.extend(o.object for o in r.objects if o.origin == origin)
            if not r.truncated:
                return out
            token = r.next_continuation_token


def record_content(rec):
    """The user-visible content of an ObjectRecord that must be identical on
    the origin island and in every global view (version and times included:
    leaves carry absolute state)."""
    return {
        "size": rec.size, "etag": rec.etag, "content_type": rec.content_type,
        "meta": {kv.key: kv.value for kv in rec.metadata},
        "tags": {kv.key: kv.value for kv in rec.tags},
        "locator": rec.locator.hex(), "version": rec.version, "mtime_ns": rec.mtime_ns,
    }


def state_name(v):
    return pb["global"].PeerState.Name(v) if pb else str(v)
