"""test_blob_grpc.py - the mds.v1.Blob service through Python grpcio against
a real `mds serve`: append blobs, copies (synchronous and asynchronous, with
progress, completion, failure and abort), S3 multipart uploads and Azure
block lists; every condition failure must name its reason in the trailing
metadata "mds-reason", quota refusals are RESOURCE_EXHAUSTED, malformed
requests INVALID_ARGUMENT, and HeadObject / ListObjects show the blob state.

It also drives `mdsctl upload ls|parts|abort` and `mdsctl blob
blocks|copy-status` against the same daemon.

usage: test_blob_grpc.py PATH/TO/mds PATH/TO/mdsctl
"""
import hashlib
import json
import os
import subprocess
import sys
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdsd  # noqa: E402

MDS = None
MDSCTL = None
NS = "/mds.v1.Namespace/"
AD = "/mds.v1.Admin/"
BL = "/mds.v1.Blob/"
QU = "/mds.v1.Quota/"
MIB = 1 << 20


def load_extra_protos(outdir):
    inc = os.path.join(mdsd.SRC, "include")
    subprocess.run(["protoc", "--proto_path=" + inc, "--python_out=" + outdir,
                    "mds/v1/blob.proto", "mds/v1/quota.proto"], check=True, cwd=inc)
    from mds.v1 import blob_pb2, quota_pb2  # noqa: E402
    return blob_pb2, quota_pb2


def reason(err):
    for k, v in err.trailing_metadata() or ():
        if k == "mds-reason":
            return v
    return None


class BlobGrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = mdsd.tempdir("mds-blob-grpc-")
        py = os.path.join(cls.tmp, "py")
        cls.types, cls.nsp, cls.adp = mdsd.load_protos(py)
        cls.b, cls.q = load_extra_protos(py)
        cls.d = mdsd.Daemon(MDS, cls.tmp).start()
        cls.ch = grpc.insecure_channel(cls.d.endpoint,
                                       options=[("grpc.max_send_message_length", 16 * MIB)])
        cls.c = mdsd.Client(cls.ch, cls.nsp, cls.adp)
        cls.c.unary(AD + "CreateTeam", cls.adp.CreateTeamRequest(team="ml"), cls.types.Team)
        for bucket in ("data", "small"):
            cls.c.unary(NS + "CreateBucket",
                        cls.nsp.CreateBucketRequest(bucket=bucket, team="ml"), cls.types.Bucket)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.d.stop()
        cls.cleanup()

    # ---- helpers ----
    def call(self, method, req, resp):
        return self.c.unary(BL + method, req, resp)

    def fails(self, method, req, resp, code, why=None):
        """Call, expect status @code and (when given) mds-reason @why; return the error."""
        with self.assertRaises(grpc.RpcError) as cm:
            self.call(method, req, resp)
        e = cm.exception
        self.assertEqual(e.code(), code, "%s: %s" % (method, e.details()))
        self.assertEqual(reason(e), why, "%s: %s" % (method, e.details()))
        return e

    def head(self, name, bucket="data"):
        return self.c.unary(NS + "HeadObject",
                            self.nsp.HeadObjectRequest(bucket=bucket, name=name),
                            self.types.ObjectRecord)

    def append(self, name, size, **kw):
        return self.call("AppendBlock", self.b.AppendBlockRequest(
            bucket="data", name=name, size=size, locator=b"loc-%d" % size, **kw),
            self.b.AppendBlockResponse)

    # ---- append blobs ----
    def test_append_blob(self):
        b = self.b
        FP = grpc.StatusCode.FAILED_PRECONDITION
        r = self.call("CreateAppendBlob", b.CreateAppendBlobRequest(
            bucket="data", name="log/a", max_block_size=1000,
            properties=b.BlobProperties(content_type="text/plain",
                                        metadata=[self.types.KeyValue(key="k", value="v")])),
            b.BlobWriteResponse)
        self.assertEqual((r.size, r.blocks), (0, 0))
        self.assertTrue(r.etag.startswith('"0x'))
        a1 = self.append("log/a", 100)
        self.assertEqual((a1.append_offset, a1.size, a1.blocks), (0, 100, 1))
        a2 = self.append("log/a", 50, append_position=100)
        self.assertEqual((a2.append_offset, a2.size, a2.blocks), (100, 150, 2))
        self.assertNotEqual(a1.etag, a2.etag)
        # Each condition names its own reason.
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="data", name="log/a", size=10,
                                                       locator=b"x", append_position=100),
                   b.AppendBlockResponse, FP, "APPEND_POSITION_CONDITION_NOT_MET")
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="data", name="log/a", size=10,
                                                       locator=b"x", max_size=155),
                   b.AppendBlockResponse, FP, "MAX_BLOB_SIZE_CONDITION_NOT_MET")
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="data", name="log/a", size=10,
                                                       locator=b"x", if_match='"nope"'),
                   b.AppendBlockResponse, FP, "CONDITION_NOT_MET")
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="data", name="log/a", size=1001,
                                                       locator=b"x"),
                   b.AppendBlockResponse, grpc.StatusCode.INVALID_ARGUMENT,
                   "REQUEST_BODY_TOO_LARGE")
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="data", name="log/missing",
                                                       size=1, locator=b"x"),
                   b.AppendBlockResponse, grpc.StatusCode.NOT_FOUND)
        # max_size exactly reached is fine.
        self.append("log/a", 5, max_size=155)
        # Not an append blob.
        self.c.unary(NS + "PutObject", self.nsp.PutObjectRequest(bucket="data", name="plain",
                                                                 size=3),
                     self.nsp.PutObjectResponse)
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="data", name="plain", size=1,
                                                       locator=b"x"),
                   b.AppendBlockResponse, FP, "INVALID_BLOB_TYPE")
        # Seal: appends refused afterwards, sealing again is fine.
        s = self.call("SealBlob", b.SealBlobRequest(bucket="data", name="log/a"),
                      b.BlobWriteResponse)
        self.assertEqual((s.size, s.blocks), (155, 3))
        self.call("SealBlob", b.SealBlobRequest(bucket="data", name="log/a"), b.BlobWriteResponse)
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="data", name="log/a", size=1,
                                                       locator=b"x"),
                   b.AppendBlockResponse, FP, "BLOB_IS_SEALED")
        h = self.head("log/a")
        self.assertEqual(h.blob_type, self.types.BLOB_TYPE_APPEND)
        self.assertEqual((h.size, h.committed_blocks, h.sealed), (155, 3, True))
        self.assertEqual(h.content_type, "text/plain")
        self.assertEqual(h.etag, s.etag)
        # The block map with offsets, paged.
        g = self.call("GetBlobBlocks", b.GetBlobBlocksRequest(bucket="data", name="log/a",
                                                              limit=2), b.GetBlobBlocksResponse)
        self.assertEqual([(x.offset, x.size) for x in g.blocks], [(0, 100), (100, 50)])
        self.assertTrue(g.truncated)
        self.assertEqual(g.blocks[0].locator, b"loc-100")
        g = self.call("GetBlobBlocks", b.GetBlobBlocksRequest(bucket="data", name="log/a",
                                                              start=2), b.GetBlobBlocksResponse)
        self.assertEqual([(x.index, x.offset, x.size) for x in g.blocks], [(2, 150, 5)])
        self.assertFalse(g.truncated)
        # Listing shows the blob state too.
        lst = self.c.unary(NS + "ListObjects", self.nsp.ListObjectsRequest(bucket="data",
                                                                           prefix="log/"),
                           self.nsp.ListObjectsResponse)
        o = lst.entries[0].object
        self.assertEqual((o.name, o.committed_blocks, o.sealed), ("log/a", 3, True))

    def test_append_block_limit(self):
        """50,000 appends (concurrent, as group commit batches them), then
        BlockCountExceedsLimit; the blob is unchanged by the refusal."""
        b = self.b
        self.call("CreateAppendBlob", b.CreateAppendBlobRequest(bucket="data", name="log/full"),
                  b.BlobWriteResponse)
        f = self.ch.unary_unary(BL + "AppendBlock",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=b.AppendBlockResponse.FromString)
        req = b.AppendBlockRequest(bucket="data", name="log/full", size=1, locator=b"l")
        for _ in range(5):
            futs = [f.future(req, timeout=60) for _ in range(10000)]
            offsets = sorted(x.result().append_offset for x in futs)
        self.assertEqual(offsets, list(range(40000, 50000)))
        self.fails("AppendBlock", req, b.AppendBlockResponse,
                   grpc.StatusCode.FAILED_PRECONDITION, "BLOCK_COUNT_EXCEEDS_LIMIT")
        h = self.head("log/full")
        self.assertEqual((h.size, h.committed_blocks), (50000, 50000))

    # ---- copies ----
    def test_copy_object(self):
        b = self.b
        p = self.c.unary(NS + "PutObject", self.nsp.PutObjectRequest(
            bucket="data", name="src", size=42, etag='"e1"', locator=b"L",
            metadata=[self.types.KeyValue(key="a", value="1")]), self.nsp.PutObjectResponse)
        self.assertEqual(p.version, 1)
        r = self.call("CopyObject", b.CopyObjectRequest(
            bucket="data", name="dst", source_bucket="data", source_name="src",
            source_if_match='"e1"'), b.CopyObjectResponse)
        self.assertEqual(r.status, self.types.COPY_STATUS_SUCCESS)
        self.assertEqual(len(r.copy_id), 32)
        self.assertEqual((r.size, r.etag), (42, '"e1"'))
        h = self.head("dst")
        self.assertEqual((h.size, h.locator, h.copy_status, h.copy_id),
                         (42, b"L", self.types.COPY_STATUS_SUCCESS, r.copy_id))
        self.assertEqual([(kv.key, kv.value) for kv in h.metadata], [("a", "1")])
        # REPLACE takes the new properties.
        self.call("CopyObject", b.CopyObjectRequest(
            bucket="data", name="dst2", source_bucket="data", source_name="src",
            replace_metadata=True, properties=b.BlobProperties(content_type="x/y")),
            b.CopyObjectResponse)
        h = self.head("dst2")
        self.assertEqual((h.content_type, len(h.metadata)), ("x/y", 0))
        self.fails("CopyObject", b.CopyObjectRequest(
            bucket="data", name="dst3", source_bucket="data", source_name="src",
            source_if_match='"other"'), b.CopyObjectResponse,
            grpc.StatusCode.FAILED_PRECONDITION, "SOURCE_CONDITION_NOT_MET")
        self.fails("CopyObject", b.CopyObjectRequest(
            bucket="data", name="dst", source_bucket="data", source_name="src",
            if_none_match="*"), b.CopyObjectResponse,
            grpc.StatusCode.FAILED_PRECONDITION, "CONDITION_NOT_MET")
        self.fails("CopyObject", b.CopyObjectRequest(
            bucket="data", name="dst3", source_bucket="data", source_name="nosuch"),
            b.CopyObjectResponse, grpc.StatusCode.NOT_FOUND)

    def test_async_copy(self):
        b, t = self.b, self.types
        st = self.call("PutBlobFromUrl", b.PutBlobFromUrlRequest(
            bucket="data", name="cp/1", source_url="https://other/acct/x", source_size=1000),
            b.CopyObjectResponse)
        self.assertEqual(st.status, t.COPY_STATUS_PENDING)
        cid = st.copy_id
        g = self.call("GetCopyStatus", b.GetCopyStatusRequest(copy_id=cid), b.CopyStatus)
        self.assertEqual((g.status, g.bucket, g.name, g.source, g.bytes_total),
                         (t.COPY_STATUS_PENDING, "data", "cp/1", "https://other/acct/x", 1000))
        pr = self.call("ReportCopyProgress", b.ReportCopyProgressRequest(copy_id=cid,
                                                                         bytes_copied=400),
                       b.CopyStatus)
        self.assertEqual((pr.bytes_copied, pr.bytes_total), (400, 1000))
        h = self.head("cp/1")
        self.assertEqual((h.size, h.copy_status, h.copy_bytes_copied, h.copy_bytes_total),
                         (0, t.COPY_STATUS_PENDING, 400, 1000))
        self.fails("ReportCopyProgress", b.ReportCopyProgressRequest(copy_id=cid,
                                                                     bytes_copied=1001),
                   b.CopyStatus, grpc.StatusCode.INVALID_ARGUMENT)
        w = self.call("CompleteCopy", b.CompleteCopyRequest(copy_id=cid, size=1000,
                                                            locator=b"copied"),
                      b.BlobWriteResponse)
        self.assertEqual(w.size, 1000)
        h = self.head("cp/1")
        self.assertEqual((h.size, h.locator, h.copy_status, h.copy_bytes_copied),
                         (1000, b"copied", t.COPY_STATUS_SUCCESS, 1000))
        self.assertGreater(h.copy_completion_ns, 0)
        # Finished: no longer pending.
        self.fails("GetCopyStatus", b.GetCopyStatusRequest(copy_id=cid), b.CopyStatus,
                   grpc.StatusCode.NOT_FOUND)
        self.fails("ReportCopyProgress", b.ReportCopyProgressRequest(copy_id=cid,
                                                                     bytes_copied=1),
                   b.CopyStatus, grpc.StatusCode.FAILED_PRECONDITION,
                   "NO_PENDING_COPY_OPERATION")
        # Failure, then abort of another copy (and abort with the wrong blob).
        cid2 = self.call("PutBlobFromUrl", b.PutBlobFromUrlRequest(
            bucket="data", name="cp/2", source_url="u", source_size=10),
            b.CopyObjectResponse).copy_id
        self.call("FailCopy", b.FailCopyRequest(copy_id=cid2, failure="source gone"),
                  b.BlobWriteResponse)
        h = self.head("cp/2")
        self.assertEqual((h.copy_status, h.copy_failure, h.size),
                         (t.COPY_STATUS_FAILED, "source gone", 0))
        cid3 = self.call("PutBlobFromUrl", b.PutBlobFromUrlRequest(
            bucket="data", name="cp/3", source_url="u", source_size=10),
            b.CopyObjectResponse).copy_id
        self.fails("AbortCopy", b.AbortCopyRequest(copy_id=cid3, bucket="data", name="cp/2"),
                   b.AbortCopyResponse, grpc.StatusCode.FAILED_PRECONDITION,
                   "NO_PENDING_COPY_OPERATION")
        self.call("AbortCopy", b.AbortCopyRequest(copy_id=cid3, bucket="data", name="cp/3"),
                  b.AbortCopyResponse)
        self.assertEqual(self.head("cp/3").copy_status, t.COPY_STATUS_ABORTED)
        self.fails("AbortCopy", b.AbortCopyRequest(copy_id=cid3), b.AbortCopyResponse,
                   grpc.StatusCode.FAILED_PRECONDITION, "NO_PENDING_COPY_OPERATION")

    # ---- multipart ----
    def test_multipart(self):
        b = self.b
        up = self.call("CreateMultipartUpload", b.CreateMultipartUploadRequest(
            bucket="data", name="mp/obj", properties=b.BlobProperties(content_type="a/b")),
            b.CreateMultipartUploadResponse)
        uid = up.upload_id
        self.assertEqual(len(uid), 32)
        md5 = [hashlib.md5(b"part%d" % i).hexdigest() for i in (1, 2, 3)]
        sizes = [5 * MIB, 5 * MIB, 7]
        for i in range(3):
            r = self.call("UploadPart", b.UploadPartRequest(
                bucket="data", name="mp/obj", upload_id=uid, part_number=i + 1, size=sizes[i],
                etag='"%s"' % md5[i], locator=b"p%d" % i), b.UploadPartResponse)
            self.assertEqual(r.etag, '"%s"' % md5[i])
        lp = self.call("ListParts", b.ListPartsRequest(bucket="data", name="mp/obj",
                                                       upload_id=uid, max_parts=2),
                       b.ListPartsResponse)
        self.assertEqual([p.part_number for p in lp.parts], [1, 2])
        self.assertTrue(lp.truncated)
        self.assertEqual(lp.next_part_number_marker, 2)
        lp = self.call("ListParts", b.ListPartsRequest(bucket="data", name="mp/obj",
                                                       upload_id=uid, part_number_marker=2),
                       b.ListPartsResponse)
        self.assertEqual([(p.part_number, p.size) for p in lp.parts], [(3, 7)])
        lu = self.call("ListMultipartUploads", b.ListMultipartUploadsRequest(bucket="data"),
                       b.ListMultipartUploadsResponse)
        self.assertIn(("mp/obj", uid), [(u.name, u.upload_id) for u in lu.uploads])
        lu = self.call("ListMultipartUploads", b.ListMultipartUploadsRequest(
            bucket="data", delimiter="/"), b.ListMultipartUploadsResponse)
        self.assertIn(("mp/", True), [(u.name, u.is_prefix) for u in lu.uploads])

        def cp(*pairs):
            return [b.CompletedPart(part_number=n, etag=e) for n, e in pairs]
        IA = grpc.StatusCode.INVALID_ARGUMENT
        req = b.CompleteMultipartUploadRequest
        self.fails("CompleteMultipartUpload",
                   req(bucket="data", name="mp/obj", upload_id=uid,
                       parts=cp((2, md5[1]), (1, md5[0]))),
                   b.BlobWriteResponse, IA, "INVALID_PART_ORDER")
        self.fails("CompleteMultipartUpload",
                   req(bucket="data", name="mp/obj", upload_id=uid,
                       parts=cp((1, md5[0]), (2, md5[0]))),
                   b.BlobWriteResponse, IA, "INVALID_PART")
        self.fails("CompleteMultipartUpload",
                   req(bucket="data", name="mp/obj", upload_id=uid,
                       parts=cp((1, md5[0]), (2, md5[1]), (5, md5[2]))),
                   b.BlobWriteResponse, IA, "INVALID_PART")
        # A small part that is not the last.
        self.call("UploadPart", b.UploadPartRequest(
            bucket="data", name="mp/obj", upload_id=uid, part_number=4, size=10,
            etag=md5[2], locator=b"p4"), b.UploadPartResponse)
        self.fails("CompleteMultipartUpload",
                   req(bucket="data", name="mp/obj", upload_id=uid,
                       parts=cp((1, md5[0]), (3, md5[2]), (4, md5[2]))),
                   b.BlobWriteResponse, IA, "ENTITY_TOO_SMALL")
        # The upload survived the failures; complete 1, 2, 3.
        w = self.call("CompleteMultipartUpload",
                      req(bucket="data", name="mp/obj", upload_id=uid,
                          parts=cp((1, md5[0]), (2, '"%s"' % md5[1]), (3, md5[2]))),
                      b.BlobWriteResponse)
        comp = hashlib.md5(b"".join(bytes.fromhex(m) for m in md5)).hexdigest()
        self.assertEqual(w.etag, '"%s-3"' % comp)
        self.assertEqual((w.size, w.blocks), (10 * MIB + 7, 3))
        h = self.head("mp/obj")
        self.assertEqual((h.size, h.committed_blocks, h.etag, h.content_type),
                         (10 * MIB + 7, 3, w.etag, "a/b"))
        g = self.call("GetBlobBlocks", b.GetBlobBlocksRequest(bucket="data", name="mp/obj"),
                      b.GetBlobBlocksResponse)
        self.assertEqual([x.offset for x in g.blocks], [0, 5 * MIB, 10 * MIB])
        # The upload is gone.
        self.fails("ListParts", b.ListPartsRequest(bucket="data", name="mp/obj", upload_id=uid),
                   b.ListPartsResponse, grpc.StatusCode.NOT_FOUND, "NO_SUCH_UPLOAD")
        self.fails("UploadPart", b.UploadPartRequest(
            bucket="data", name="mp/obj", upload_id=uid, part_number=1, size=1, etag=md5[0],
            locator=b"x"), b.UploadPartResponse, grpc.StatusCode.NOT_FOUND, "NO_SUCH_UPLOAD")
        # Abort.
        uid2 = self.call("CreateMultipartUpload", b.CreateMultipartUploadRequest(
            bucket="data", name="mp/two"), b.CreateMultipartUploadResponse).upload_id
        self.call("AbortMultipartUpload", b.AbortMultipartUploadRequest(
            bucket="data", name="mp/two", upload_id=uid2), b.AbortMultipartUploadResponse)
        self.fails("AbortMultipartUpload", b.AbortMultipartUploadRequest(
            bucket="data", name="mp/two", upload_id=uid2), b.AbortMultipartUploadResponse,
            grpc.StatusCode.NOT_FOUND, "NO_SUCH_UPLOAD")
        self.fails("UploadPart", b.UploadPartRequest(
            bucket="data", name="mp/x", upload_id="0" * 32, part_number=10001, size=1,
            etag=md5[0], locator=b"x"), b.UploadPartResponse, IA)

    # ---- block lists ----
    def test_block_list(self):
        b = self.b
        for bid, size in ((b"b1", 10), (b"b2", 20), (b"b3", 30)):
            self.call("PutBlock", b.PutBlockRequest(bucket="data", name="bb", block_id=bid,
                                                    size=size, locator=b"L" + bid),
                      b.PutBlockResponse)
        gl = self.call("GetBlockList", b.GetBlockListRequest(bucket="data", name="bb"),
                       b.GetBlockListResponse)
        self.assertEqual(([x.block_id for x in gl.uncommitted], len(gl.committed)),
                         ([b"b1", b"b2", b"b3"], 0))
        ref = b.BlockRef
        w = self.call("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="bb", blocks=[ref(block_id=b"b2"), ref(block_id=b"b1")],
            properties=b.BlobProperties(content_type="c/t")), b.BlobWriteResponse)
        self.assertEqual((w.size, w.blocks), (30, 2))
        gl = self.call("GetBlockList", b.GetBlockListRequest(
            bucket="data", name="bb", type=b.BLOCK_LIST_TYPE_COMMITTED), b.GetBlockListResponse)
        self.assertEqual([(x.block_id, x.offset, x.size) for x in gl.committed],
                         [(b"b2", 0, 20), (b"b1", 20, 10)])
        self.assertEqual(len(gl.uncommitted), 0)
        h = self.head("bb")
        self.assertEqual((h.size, h.committed_blocks, h.content_type), (30, 2, "c/t"))
        # b3 was discarded with the commit; Uncommitted b1 is gone too.
        IA = grpc.StatusCode.INVALID_ARGUMENT
        self.fails("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="bb",
            blocks=[ref(block_id=b"b3", list=b.BLOCK_LIST_UNCOMMITTED)]),
            b.BlobWriteResponse, IA, "INVALID_BLOCK_LIST")
        # Recommit from the committed list, with a condition.
        self.fails("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="bb", if_match='"stale"',
            blocks=[ref(block_id=b"b1", list=b.BLOCK_LIST_COMMITTED)]),
            b.BlobWriteResponse, grpc.StatusCode.FAILED_PRECONDITION, "CONDITION_NOT_MET")
        w = self.call("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="bb", if_match=h.etag,
            blocks=[ref(block_id=b"b1", list=b.BLOCK_LIST_COMMITTED)]), b.BlobWriteResponse)
        self.assertEqual((w.size, w.blocks), (10, 1))
        # 50,000 committed blocks at most (Azure BlockCountExceedsLimit).
        self.call("PutBlock", b.PutBlockRequest(bucket="data", name="many", block_id=b"x",
                                                size=1, locator=b"l"), b.PutBlockResponse)
        self.fails("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="many", blocks=[ref(block_id=b"x")] * 50001),
            b.BlobWriteResponse, grpc.StatusCode.FAILED_PRECONDITION,
            "BLOCK_COUNT_EXCEEDS_LIMIT")
        w = self.call("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="many", blocks=[ref(block_id=b"x")] * 50000),
            b.BlobWriteResponse)
        self.assertEqual((w.size, w.blocks), (50000, 50000))
        self.assertEqual(self.head("many").committed_blocks, 50000)

    # ---- quotas ----
    def test_quota_refusals(self):
        b, q = self.b, self.q
        lim = q.QuotaLimits()
        lim.max_bytes.CopyFrom(q.Limit(value=100))
        self.c.unary(QU + "SetQuota", q.SetQuotaRequest(scope="bucket/small", limits=lim,
                                                        principal="t"), q.QuotaInfo)
        self.call("CreateAppendBlob", b.CreateAppendBlobRequest(bucket="small", name="a"),
                  b.BlobWriteResponse)
        self.call("AppendBlock", b.AppendBlockRequest(bucket="small", name="a", size=90,
                                                      locator=b"l"), b.AppendBlockResponse)
        self.fails("AppendBlock", b.AppendBlockRequest(bucket="small", name="a", size=20,
                                                       locator=b"l"),
                   b.AppendBlockResponse, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.fails("PutBlobFromUrl", b.PutBlobFromUrlRequest(bucket="small", name="c",
                                                             source_url="u", source_size=50),
                   b.CopyObjectResponse, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(self.head("a", bucket="small").size, 90)

    # ---- mdsctl ----
    def ctl(self, *args, expect=0):
        p = subprocess.run([MDSCTL, "--endpoint", self.d.endpoint] + list(args),
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, expect, p.stderr)
        return p

    def test_mdsctl(self):
        b = self.b
        uid = self.call("CreateMultipartUpload", b.CreateMultipartUploadRequest(
            bucket="data", name="ctl/up"), b.CreateMultipartUploadResponse).upload_id
        for n in (1, 2):
            self.call("UploadPart", b.UploadPartRequest(
                bucket="data", name="ctl/up", upload_id=uid, part_number=n, size=n * 100,
                etag="e%d" % n, locator=b"loc%d" % n), b.UploadPartResponse)
        doc = json.loads(self.ctl("--json", "upload", "ls", "data/ctl/").stdout)
        self.assertEqual([(u["key"], u["upload_id"]) for u in doc["uploads"]],
                         [("ctl/up", uid)])
        doc = json.loads(self.ctl("--json", "upload", "parts", "data", "ctl/up", uid).stdout)
        self.assertEqual([(p["part_number"], p["size"], p["locator"]) for p in doc["parts"]],
                         [(1, 100, "loc1"), (2, 200, "loc2")])
        self.assertEqual(doc["bytes"], 300)
        self.assertIn("ctl/up", self.ctl("upload", "ls", "data").stdout)
        self.ctl("upload", "abort", "data", "ctl/up", uid)
        p = self.ctl("upload", "parts", "data", "ctl/up", uid, expect=1)
        self.assertIn("NOT_FOUND", p.stderr)
        self.ctl("upload", "parts", "data", "ctl/up", expect=2)
        self.ctl("upload", "frob", expect=2)
        # blob blocks over several pages (more than the 1000-block page).
        self.call("CreateAppendBlob", b.CreateAppendBlobRequest(bucket="data", name="ctl/log"),
                  b.BlobWriteResponse)
        self.call("PutBlock", b.PutBlockRequest(bucket="data", name="ctl/bl", block_id=b"\x01",
                                                size=3, locator=b"L"), b.PutBlockResponse)
        self.call("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="ctl/bl", blocks=[b.BlockRef(block_id=b"\x01")] * 1500),
            b.BlobWriteResponse)
        doc = json.loads(self.ctl("--json", "blob", "blocks", "data", "ctl/bl").stdout)
        self.assertEqual(len(doc["blocks"]), 1500)
        self.assertEqual((doc["blocks"][-1]["index"], doc["blocks"][-1]["offset"],
                          doc["blocks"][0]["id"]), (1499, 4497, "01"))
        cid = self.call("PutBlobFromUrl", b.PutBlobFromUrlRequest(
            bucket="data", name="ctl/cp", source_url="https://x/y", source_size=9),
            b.CopyObjectResponse).copy_id
        doc = json.loads(self.ctl("--json", "blob", "copy-status", cid).stdout)
        self.assertEqual((doc["status"], doc["name"], doc["bytes_total"]),
                         ("pending", "ctl/cp", 9))
        self.assertIn("pending", self.ctl("blob", "copy-status", cid).stdout)
        p = self.ctl("blob", "copy-status", "nothex", expect=1)
        self.assertIn("INVALID_ARGUMENT", p.stderr)

    # ---- malformed requests ----
    def test_malformed(self):
        b = self.b
        IA = grpc.StatusCode.INVALID_ARGUMENT
        e = self.fails("AppendBlock", b.AppendBlockRequest(bucket="BAD", name="x", size=1),
                       b.AppendBlockResponse, IA)
        self.assertIn("field 'bucket'", e.details())
        self.fails("UploadPart", b.UploadPartRequest(bucket="data", name="x", upload_id="zz"),
                   b.UploadPartResponse, IA)
        e = self.fails("GetCopyStatus", b.GetCopyStatusRequest(copy_id="123"), b.CopyStatus, IA)
        self.assertIn("copy_id", e.details())
        self.fails("PutBlock", b.PutBlockRequest(bucket="data", name="x", block_id=b"",
                                                 size=1), b.PutBlockResponse, IA)
        self.fails("PutBlock", b.PutBlockRequest(bucket="data", name="x", block_id=b"y" * 65,
                                                 size=1), b.PutBlockResponse, IA)
        self.fails("GetBlockList", b.GetBlockListRequest(bucket="data", name="x", type=7),
                   b.GetBlockListResponse, IA)
        self.fails("PutBlockList", b.PutBlockListRequest(
            bucket="data", name="x", blocks=[b.BlockRef(block_id=b"a", list=9)]),
            b.BlobWriteResponse, IA)
        self.fails("CompleteMultipartUpload", b.CompleteMultipartUploadRequest(
            bucket="data", name="x", upload_id="0" * 32), b.BlobWriteResponse, IA)
        self.fails("ListParts", b.ListPartsRequest(bucket="data", name="x", upload_id="0" * 32,
                                                   max_parts=5000), b.ListPartsResponse, IA)
        self.fails("PutBlobFromUrl", b.PutBlobFromUrlRequest(bucket="data", name="x"),
                   b.CopyObjectResponse, IA)
        self.fails("CreateAppendBlob", b.CreateAppendBlobRequest(
            bucket="data", name="x", max_block_size=200 * MIB), b.BlobWriteResponse, IA)
        # Bytes that are not a protobuf message.
        with self.assertRaises(grpc.RpcError) as cm:
            self.c.raw(BL + "AppendBlock", b"\xff\xff\xff\xff")
        self.assertEqual(cm.exception.code(), IA)


if __name__ == "__main__":
    MDS = os.path.abspath(sys.argv.pop(1))
    MDSCTL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
