/*
 * rpc_blob.c - the mds.v1.Blob service: append blobs, copies, S3 multipart
 * uploads and Azure block lists, translated between protobuf-c messages and
 * the core's blob ops (kinds 30-44) and reads (include/mds/namespace.h;
 * semantics in docs/blob-parity.md).
 *
 * Writes are ops for the store's writer, answered from the op's outputs
 * once durable. Reads run inline in the worker's snapshot. Every string
 * or array an op borrows lives in the unpacked request or in c->mem (one
 * malloc per call). When a failure has an S3 / Azure reason, c->reason
 * names it (server.c sends it as trailing metadata "mds-reason"); for ops
 * the server derives it from op->blob_out.reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.pb-c.h"
#include "rpc.h"
#include "rpc_blob.h"
#include "rpc_convert.h"

#define PAGE_MAX 1000
/* Limits checked here before the core sees a request (as blobs.h has them). */
#define MDS_RPC_BLOCK_ID_MAX 64        /* Azure block ids, decoded */
#define MDS_RPC_BLOCKS_MAX 50000       /* committed blocks per blob */
#define MDS_PARTS_LIST_MAX 10000       /* parts per upload (S3) */

const char *mds_rpc_blob_reason(uint8_t reason)
{
	switch (reason) {
	case MDS_REASON_ETAG: return "CONDITION_NOT_MET";
	case MDS_REASON_APPEND_POS: return "APPEND_POSITION_CONDITION_NOT_MET";
	case MDS_REASON_MAX_SIZE: return "MAX_BLOB_SIZE_CONDITION_NOT_MET";
	case MDS_REASON_SOURCE_ETAG: return "SOURCE_CONDITION_NOT_MET";
	case MDS_REASON_SEALED: return "BLOB_IS_SEALED";
	case MDS_REASON_BLOCK_COUNT: return "BLOCK_COUNT_EXCEEDS_LIMIT";
	case MDS_REASON_NOT_APPEND: return "INVALID_BLOB_TYPE";
	case MDS_REASON_BLOCK_SIZE: return "REQUEST_BODY_TOO_LARGE";
	case MDS_REASON_INVALID_PART: return "INVALID_PART";
	case MDS_REASON_PART_ORDER: return "INVALID_PART_ORDER";
	case MDS_REASON_PART_TOO_SMALL: return "ENTITY_TOO_SMALL";
	case MDS_REASON_NO_UPLOAD: return "NO_SUCH_UPLOAD";
	case MDS_REASON_INVALID_BLOCK_LIST: return "INVALID_BLOCK_LIST";
	case MDS_REASON_COPY_ID: return "NO_PENDING_COPY_OPERATION";
	default: return NULL;
	}
}

/* ---- request checks ------------------------------------------------------- */

/* Validate bucket @b and object @n (fields "bucket" and "name" unless renamed). */
static int check_names(const char *bfield, const char *b, const char *nfield, const char *n,
		       struct mds_status *st)
{
	struct mds_status inner;

	mds_status_clear(&inner);
	if (mds_validate_bucket_name(mds_rpc_str(b), &inner))
		return mds_status_set(st, MDS_EINVAL, "field '%s': %s", bfield, inner.msg);
	if (mds_validate_object_name(mds_rpc_str(n), &inner))
		return mds_status_set(st, MDS_EINVAL, "field '%s': %s", nfield, inner.msg);
	return 0;
}

static int check_id(const char *field, const char *id, struct mds_status *st)
{
	size_t n = strlen(id);

	if (n != 32 || strspn(id, "0123456789abcdefABCDEF") != n)
		return mds_status_set(st, MDS_EINVAL, "field '%s' must be 32 hex digits", field);
	return 0;
}

static struct mds_str bin_str(ProtobufCBinaryData b)
{
	return (struct mds_str){ (const char *)b.data, b.len };
}

static struct mds_str opt_str(const char *s)
{
	return *s ? mds_rpc_str(s) : MDS_STR_NULL;
}

/* One zeroed allocation for what the op borrows, freed with the call. */
static void *call_mem(struct mds_rpc_call *c, size_t n, struct mds_status *st)
{
	c->mem = calloc(1, n ? n : 1);
	if (!c->mem)
		mds_status_set(st, MDS_ENOMEM, "out of memory");
	return c->mem;
}

/* Pairs needed by @p (NULL = none), or -1 with @st set when over a limit. */
static long props_count(const Mds__V1__BlobProperties *p, struct mds_status *st)
{
	if (!p)
		return 0;
	if (p->n_tags > MDS_TAGS_MAX || p->n_metadata > MDS_META_MAX) {
		mds_status_set(st, MDS_EINVAL, "field 'properties': too many tags or metadata pairs");
		return -1;
	}
	return (long)(p->n_metadata + p->n_tags);
}

/* Fill @in's metadata and tags from @p into @pairs (props_count of them). */
static void props_in(const Mds__V1__BlobProperties *p, struct mds_pair *pairs,
		     struct mds_object_in *in)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_metadata; i++)
		pairs[i] = (struct mds_pair){ mds_rpc_str(p->metadata[i]->key),
					      mds_rpc_str(p->metadata[i]->value) };
	for (size_t i = 0; i < p->n_tags; i++)
		pairs[p->n_metadata + i] = (struct mds_pair){ mds_rpc_str(p->tags[i]->key),
							      mds_rpc_str(p->tags[i]->value) };
	in->meta = pairs;
	in->n_meta = p->n_metadata;
	in->tags = pairs + p->n_metadata;
	in->n_tags = p->n_tags;
}

/* Op for @kind on bucket/name with properties @p and conditions. */
static int op_begin(struct mds_rpc_call *c, enum mds_op_kind kind, const char *bucket,
		    const char *name, const Mds__V1__BlobProperties *p, size_t extra,
		    void **extra_out, struct mds_status *st)
{
	long np;
	char *mem;
	int rc;

	if ((rc = check_names("bucket", bucket, "name", name, st)))
		return rc;
	np = props_count(p, st);
	if (np < 0)
		return MDS_EINVAL;
	mds_op_init(&c->op, kind);
	c->op.bucket = mds_rpc_str(bucket);
	c->op.name = mds_rpc_str(name);
	if (p)
		c->op.obj.content_type = mds_rpc_str(p->content_type);
	if (np == 0 && extra == 0)
		return 0;
	mem = call_mem(c, (size_t)np * sizeof(struct mds_pair) + extra, st);
	if (!mem)
		return MDS_ENOMEM;
	props_in(p, (struct mds_pair *)(void *)mem, &c->op.obj);
	if (extra_out)
		*extra_out = mem + (size_t)np * sizeof(struct mds_pair);
	return 0;
}

static void cond_in(struct mds_cond *cd, const char *if_match, const char *if_none_match)
{
	cd->if_match = opt_str(if_match);
	cd->if_none_match = opt_str(if_none_match);
}

static int write_reply(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__BlobWriteResponse resp = MDS__V1__BLOB_WRITE_RESPONSE__INIT;

	(void)st;
	resp.version = c->op.out_version;
	resp.mtime_ns = c->op.out_mtime_ns;
	resp.etag = c->op.blob_out.etag;
	resp.size = c->op.blob_out.size;
	resp.blocks = c->op.blob_out.blocks;
	return mds_rpc_reply(c, &resp.base);
}

static int empty_reply(struct mds_rpc_call *c, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage m;

	protobuf_c_message_init(d, &m);
	return mds_rpc_reply(c, &m);
}

/* ---- append blobs ----------------------------------------------------------- */

static int create_append_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CreateAppendBlobRequest *r = (const void *)c->req;
	int rc;

	if ((rc = op_begin(c, MDS_OP_APPEND_CREATE, r->bucket, r->name, r->properties, 0, NULL, st)))
		return rc;
	c->op.obj.blob_type = MDS_BLOB_APPEND;
	cond_in(&c->op.cond, r->if_match, r->if_none_match);
	c->op.blob.max_block_size = r->max_block_size;
	return 0;
}

static int append_block_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__AppendBlockRequest *r = (const void *)c->req;
	int rc;

	if ((rc = op_begin(c, MDS_OP_APPEND_BLOCK, r->bucket, r->name, NULL, 0, NULL, st)))
		return rc;
	c->op.blob.size = r->size;
	c->op.blob.locator = bin_str(r->locator);
	if (r->append_position_set_case == MDS__V1__APPEND_BLOCK_REQUEST__APPEND_POSITION_SET_APPEND_POSITION) {
		c->op.blob.if_append_pos = 1;
		c->op.blob.append_pos = r->append_position;
	}
	if (r->max_size_set_case == MDS__V1__APPEND_BLOCK_REQUEST__MAX_SIZE_SET_MAX_SIZE) {
		c->op.blob.if_max_size = 1;
		c->op.blob.max_size = r->max_size;
	}
	c->op.cond.if_match = opt_str(r->if_match);
	c->op.reservation = opt_str(r->reservation);
	return 0;
}

static int append_block_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__AppendBlockResponse resp = MDS__V1__APPEND_BLOCK_RESPONSE__INIT;

	(void)st;
	resp.append_offset = c->op.blob_out.append_offset;
	resp.size = c->op.blob_out.size;
	resp.blocks = c->op.blob_out.blocks;
	resp.etag = c->op.blob_out.etag;
	resp.version = c->op.out_version;
	resp.mtime_ns = c->op.out_mtime_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int seal_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__SealBlobRequest *r = (const void *)c->req;
	int rc;

	if ((rc = op_begin(c, MDS_OP_SEAL_BLOB, r->bucket, r->name, NULL, 0, NULL, st)))
		return rc;
	cond_in(&c->op.cond, r->if_match, r->if_none_match);
	if (r->append_position_set_case == MDS__V1__SEAL_BLOB_REQUEST__APPEND_POSITION_SET_APPEND_POSITION) {
		c->op.blob.if_append_pos = 1;
		c->op.blob.append_pos = r->append_position;
	}
	return 0;
}

/* ---- copies ------------------------------------------------------------------- */

static int copy_object_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CopyObjectRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_names("source_bucket", r->source_bucket, "source_name", r->source_name, st)))
		return rc;
	if ((rc = op_begin(c, MDS_OP_COPY_OBJECT, r->bucket, r->name,
			   r->replace_metadata ? r->properties : NULL, 0, NULL, st)))
		return rc;
	c->op.blob.src_bucket = mds_rpc_str(r->source_bucket);
	c->op.blob.src_name = mds_rpc_str(r->source_name);
	cond_in(&c->op.blob.src_cond, r->source_if_match, r->source_if_none_match);
	cond_in(&c->op.cond, r->if_match, r->if_none_match);
	c->op.blob.replace_meta = r->replace_metadata != 0;
	c->op.obj.locator = bin_str(r->locator);
	c->op.obj.etag = opt_str(r->etag);
	c->op.reservation = opt_str(r->reservation);
	return 0;
}

static int copy_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__CopyObjectResponse resp = MDS__V1__COPY_OBJECT_RESPONSE__INIT;

	(void)st;
	resp.copy_id = c->op.blob_out.id;
	resp.status = c->op.kind == MDS_OP_COPY_OBJECT ? MDS__V1__COPY_STATUS_KIND__COPY_STATUS_SUCCESS
						       : MDS__V1__COPY_STATUS_KIND__COPY_STATUS_PENDING;
	resp.etag = c->op.blob_out.etag;
	resp.size = c->op.blob_out.size;
	resp.blocks = c->op.blob_out.blocks;
	resp.version = c->op.out_version;
	resp.mtime_ns = c->op.out_mtime_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int from_url_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutBlobFromUrlRequest *r = (const void *)c->req;
	int rc;

	if (!*r->source_url)
		return mds_status_set(st, MDS_EINVAL, "field 'source_url' is required");
	if ((rc = op_begin(c, MDS_OP_PUT_BLOB_FROM_URL, r->bucket, r->name, r->properties, 0, NULL, st)))
		return rc;
	c->op.blob.source_url = mds_rpc_str(r->source_url);
	c->op.blob.size = r->source_size;
	cond_in(&c->op.cond, r->if_match, r->if_none_match);
	c->op.reserve_ttl_ns = r->reserve_ttl_ns;
	return 0;
}

static void copy_status_pb(const char *id, const struct mds_copy_info *ci, struct mds_arena *a,
			   Mds__V1__CopyStatus *out)
{
	mds__v1__copy_status__init(out);
	out->copy_id = (char *)id;
	out->status = (Mds__V1__CopyStatusKind)ci->status;
	out->bucket = mds_arena_str(a, ci->bucket);
	out->name = mds_arena_str(a, ci->name);
	out->source = mds_arena_str(a, ci->source);
	out->failure = mds_arena_str(a, ci->failure);
	out->bytes_copied = ci->progress;
	out->bytes_total = ci->total;
	out->completion_ns = ci->done_ns;
}

static int copy_status_reply(struct mds_rpc_call *c, const char *id, struct mds_status *st)
{
	struct mds_copy_info ci;
	struct mds_arena a = { 0 };
	Mds__V1__CopyStatus pb;
	int rc;

	rc = mds_get_copy_status(c->reader, mds_rpc_str(id), &ci, st);
	if (rc != 0)
		return rc;
	copy_status_pb(id, &ci, &a, &pb);
	rc = a.failed ? mds_status_set(st, MDS_ENOMEM, "out of memory") : mds_rpc_reply(c, &pb.base);
	mds_arena_free(&a);
	return rc;
}

static int get_copy_status_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetCopyStatusRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_id("copy_id", r->copy_id, st)))
		return rc;
	return copy_status_reply(c, r->copy_id, st);
}

static int progress_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ReportCopyProgressRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_id("copy_id", r->copy_id, st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_COPY_PROGRESS);
	c->op.blob.id = mds_rpc_str(r->copy_id);
	c->op.blob.size = r->bytes_copied;
	return 0;
}

static int progress_written(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ReportCopyProgressRequest *r = (const void *)c->req;
	Mds__V1__CopyStatus pb = MDS__V1__COPY_STATUS__INIT;
	int rc;

	rc = copy_status_reply(c, r->copy_id, st);
	if (rc != MDS_ENOTFOUND)
		return rc;
	/* Finished or aborted since: answer what this report did. */
	mds_status_clear(st);
	pb.copy_id = r->copy_id;
	pb.bytes_copied = r->bytes_copied;
	return mds_rpc_reply(c, &pb.base);
}

static int complete_copy_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CompleteCopyRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_id("copy_id", r->copy_id, st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_COPY_FINISH);
	c->op.blob.id = mds_rpc_str(r->copy_id);
	c->op.blob.size = r->size;
	c->op.obj.locator = bin_str(r->locator);
	c->op.obj.etag = opt_str(r->etag);
	return 0;
}

static int fail_copy_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__FailCopyRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_id("copy_id", r->copy_id, st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_COPY_FINISH);
	c->op.blob.id = mds_rpc_str(r->copy_id);
	c->op.blob.copy_failed = 1;
	c->op.blob.failure = mds_rpc_str(r->failure);
	return 0;
}

static int abort_copy_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__AbortCopyRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_id("copy_id", r->copy_id, st)))
		return rc;
	if ((*r->bucket || *r->name) &&
	    (rc = check_names("bucket", r->bucket, "name", r->name, st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_ABORT_COPY);
	c->op.blob.id = mds_rpc_str(r->copy_id);
	c->op.bucket = mds_rpc_str(r->bucket);
	c->op.name = mds_rpc_str(r->name);
	return 0;
}

static int abort_copy_written(struct mds_rpc_call *c, struct mds_status *st)
{
	(void)st;
	return empty_reply(c, &mds__v1__abort_copy_response__descriptor);
}

/* ---- multipart uploads ---------------------------------------------------------- */

static int create_mpu_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CreateMultipartUploadRequest *r = (const void *)c->req;
	int rc;

	if ((rc = op_begin(c, MDS_OP_CREATE_MULTIPART, r->bucket, r->name, r->properties, 0, NULL, st)))
		return rc;
	c->op.reservation = opt_str(r->reservation);
	return 0;
}

static int create_mpu_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__CreateMultipartUploadResponse resp = MDS__V1__CREATE_MULTIPART_UPLOAD_RESPONSE__INIT;

	(void)st;
	resp.upload_id = c->op.blob_out.id;
	resp.initiated_ns = c->op.out_mtime_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int upload_part_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__UploadPartRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_id("upload_id", r->upload_id, st)))
		return rc;
	if ((rc = op_begin(c, MDS_OP_UPLOAD_PART, r->bucket, r->name, NULL, 0, NULL, st)))
		return rc;
	c->op.blob.id = mds_rpc_str(r->upload_id);
	c->op.blob.part_number = r->part_number;
	c->op.blob.size = r->size;
	c->op.blob.etag = mds_rpc_str(r->etag);
	c->op.blob.locator = bin_str(r->locator);
	return 0;
}

static int upload_part_written(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__UploadPartRequest *r = (const void *)c->req;
	Mds__V1__UploadPartResponse resp = MDS__V1__UPLOAD_PART_RESPONSE__INIT;

	(void)st;
	resp.etag = r->etag;
	resp.mtime_ns = c->op.out_mtime_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int complete_mpu_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CompleteMultipartUploadRequest *r = (const void *)c->req;
	struct mds_part_ref *parts = NULL;
	int rc;

	if ((rc = check_id("upload_id", r->upload_id, st)))
		return rc;
	if (r->n_parts == 0)
		return mds_status_set(st, MDS_EINVAL, "field 'parts': at least one part is required");
	if (r->n_parts > MDS_PARTS_LIST_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'parts': %zu parts, at most %d allowed",
				      r->n_parts, MDS_PARTS_LIST_MAX);
	if ((rc = op_begin(c, MDS_OP_COMPLETE_MULTIPART, r->bucket, r->name, NULL,
			   r->n_parts * sizeof(*parts), (void **)&parts, st)))
		return rc;
	for (size_t i = 0; i < r->n_parts; i++)
		parts[i] = (struct mds_part_ref){ r->parts[i]->part_number,
						  mds_rpc_str(r->parts[i]->etag) };
	c->op.blob.id = mds_rpc_str(r->upload_id);
	c->op.blob.parts = parts;
	c->op.blob.n_parts = r->n_parts;
	cond_in(&c->op.cond, r->if_match, r->if_none_match);
	c->op.reservation = opt_str(r->reservation);
	return 0;
}

static int abort_mpu_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__AbortMultipartUploadRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_id("upload_id", r->upload_id, st)))
		return rc;
	if ((rc = op_begin(c, MDS_OP_ABORT_MULTIPART, r->bucket, r->name, NULL, 0, NULL, st)))
		return rc;
	c->op.blob.id = mds_rpc_str(r->upload_id);
	return 0;
}

static int abort_mpu_written(struct mds_rpc_call *c, struct mds_status *st)
{
	(void)st;
	return empty_reply(c, &mds__v1__abort_multipart_upload_response__descriptor);
}

struct part_page {
	struct mds_arena a;
	Mds__V1__Part **v;
	size_t n;
};

static int part_emit(void *arg, const struct mds_part *p)
{
	struct part_page *pg = arg;
	Mds__V1__Part *pb = mds_arena_alloc(&pg->a, sizeof(*pb));

	if (!pb)
		return MDS_ENOMEM;
	mds__v1__part__init(pb);
	pb->part_number = p->number;
	pb->size = p->size;
	pb->etag = mds_arena_str(&pg->a, p->etag);
	pb->mtime_ns = p->mtime_ns;
	pb->locator.data = (uint8_t *)p->locator.p;
	pb->locator.len = p->locator.len;
	pg->v[pg->n++] = pb;
	return 0;
}

/* A NOT_FOUND of an upload read in an existing bucket is S3's NoSuchUpload. */
static void no_upload_reason(struct mds_rpc_call *c, const char *bucket, int rc)
{
	struct mds_bucket b;
	struct mds_status ignored;

	mds_status_clear(&ignored);
	if (rc == MDS_ENOTFOUND && mds_bucket_get(c->reader, mds_rpc_str(bucket), &b, &ignored) == 0)
		c->reason = "NO_SUCH_UPLOAD";
}

static int list_parts_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListPartsRequest *r = (const void *)c->req;
	Mds__V1__ListPartsResponse resp = MDS__V1__LIST_PARTS_RESPONSE__INIT;
	struct part_page pg = { 0 };
	uint32_t next = 0;
	int truncated = 0, rc;

	if ((rc = check_names("bucket", r->bucket, "name", r->name, st)) ||
	    (rc = check_id("upload_id", r->upload_id, st)))
		return rc;
	if (r->max_parts > PAGE_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'max_parts' is %u, at most %d allowed",
				      r->max_parts, PAGE_MAX);
	pg.v = mds_arena_alloc(&pg.a, PAGE_MAX * sizeof(*pg.v));
	if (!pg.v) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_list_parts(c->reader, mds_rpc_str(r->bucket), mds_rpc_str(r->name),
			    mds_rpc_str(r->upload_id), r->part_number_marker, r->max_parts,
			    part_emit, &pg, &next, &truncated, st);
	if (rc == 0 && pg.a.failed)
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
	if (rc != 0) {
		no_upload_reason(c, r->bucket, rc);
		goto out;
	}
	resp.parts = pg.v;
	resp.n_parts = pg.n;
	resp.truncated = truncated != 0;
	resp.next_part_number_marker = next;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

struct upload_page {
	struct mds_arena a;
	Mds__V1__Upload **v;
	size_t n;
};

static int upload_emit(void *arg, const struct mds_upload_entry *e)
{
	struct upload_page *pg = arg;
	Mds__V1__Upload *pb;

	if (pg->n == PAGE_MAX)
		return MDS_EINTERNAL;
	pb = mds_arena_alloc(&pg->a, sizeof(*pb));
	if (!pb)
		return MDS_ENOMEM;
	mds__v1__upload__init(pb);
	pb->name = mds_arena_str(&pg->a, e->name);
	pb->is_prefix = e->is_prefix != 0;
	pb->upload_id = mds_arena_str(&pg->a, (struct mds_str){ e->upload_id, strlen(e->upload_id) });
	pb->initiated_ns = e->initiated_ns;
	pg->v[pg->n++] = pb;
	return 0;
}

static int list_uploads_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListMultipartUploadsRequest *r = (const void *)c->req;
	Mds__V1__ListMultipartUploadsResponse resp = MDS__V1__LIST_MULTIPART_UPLOADS_RESPONSE__INIT;
	struct mds_uploads_params p;
	struct mds_uploads_result res;
	struct upload_page pg = { 0 };
	struct mds_status inner;
	int rc;

	mds_status_clear(&inner);
	if (mds_validate_bucket_name(mds_rpc_str(r->bucket), &inner))
		return mds_status_set(st, MDS_EINVAL, "field 'bucket': %s", inner.msg);
	if (r->max_uploads > PAGE_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'max_uploads' is %u, at most %d allowed",
				      r->max_uploads, PAGE_MAX);
	if (*r->upload_id_marker && (rc = check_id("upload_id_marker", r->upload_id_marker, st)))
		return rc;
	memset(&p, 0, sizeof(p));
	memset(&res, 0, sizeof(res));
	p.bucket = mds_rpc_str(r->bucket);
	p.prefix = mds_rpc_str(r->prefix);
	p.delimiter = mds_rpc_str(r->delimiter);
	p.key_marker = mds_rpc_str(r->key_marker);
	p.upload_id_marker = mds_rpc_str(r->upload_id_marker);
	p.max_uploads = r->max_uploads;
	pg.v = mds_arena_alloc(&pg.a, PAGE_MAX * sizeof(*pg.v));
	if (!pg.v) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_list_multipart_uploads(c->reader, &p, upload_emit, &pg, &res, st);
	if (rc == 0 && pg.a.failed)
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
	if (rc != 0) {
		if (!st->msg[0])
			mds_status_set(st, rc, "cannot list uploads: %s", mds_strerror(rc));
		goto out;
	}
	resp.uploads = pg.v;
	resp.n_uploads = pg.n;
	resp.truncated = res.truncated != 0;
	resp.next_key_marker = res.next_key_marker;
	resp.next_upload_id_marker = res.next_upload_id_marker;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

/* ---- block lists ------------------------------------------------------------------ */

static int put_block_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutBlockRequest *r = (const void *)c->req;
	int rc;

	if (r->block_id.len == 0 || r->block_id.len > MDS_RPC_BLOCK_ID_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'block_id' must be 1-%d bytes",
				      MDS_RPC_BLOCK_ID_MAX);
	if ((rc = op_begin(c, MDS_OP_PUT_BLOCK, r->bucket, r->name, NULL, 0, NULL, st)))
		return rc;
	c->op.blob.id = bin_str(r->block_id);
	c->op.blob.size = r->size;
	c->op.blob.locator = bin_str(r->locator);
	return 0;
}

static int put_block_written(struct mds_rpc_call *c, struct mds_status *st)
{
	(void)st;
	return empty_reply(c, &mds__v1__put_block_response__descriptor);
}

static int put_block_list_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutBlockListRequest *r = (const void *)c->req;
	struct mds_block_ref *blocks = NULL;
	int rc;

	/* More than the limit is the core's BlockCountExceedsLimit; far more is malformed. */
	if (r->n_blocks > 2 * MDS_RPC_BLOCKS_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'blocks': %zu blocks is far above %d",
				      r->n_blocks, MDS_RPC_BLOCKS_MAX);
	for (size_t i = 0; i < r->n_blocks; i++) {
		if ((unsigned)r->blocks[i]->list > MDS__V1__BLOCK_LIST_KIND__BLOCK_LIST_UNCOMMITTED)
			return mds_status_set(st, MDS_EINVAL, "field 'blocks[%zu].list': unknown value %d",
					      i, (int)r->blocks[i]->list);
	}
	if ((rc = op_begin(c, MDS_OP_PUT_BLOCK_LIST, r->bucket, r->name, r->properties,
			   r->n_blocks * sizeof(*blocks), (void **)&blocks, st)))
		return rc;
	for (size_t i = 0; i < r->n_blocks; i++)
		blocks[i] = (struct mds_block_ref){ bin_str(r->blocks[i]->block_id),
						    (uint8_t)r->blocks[i]->list };
	c->op.blob.blocks = blocks;
	c->op.blob.n_blocks = r->n_blocks;
	cond_in(&c->op.cond, r->if_match, r->if_none_match);
	c->op.reservation = opt_str(r->reservation);
	return 0;
}

struct block_page {
	struct mds_arena a;
	Mds__V1__Block **committed, **uncommitted;
	size_t n_committed, n_uncommitted, cap_committed, cap_uncommitted;
	size_t limit;              /* GetBlobBlocks: stop after this many */
	int truncated;
};

static Mds__V1__Block *block_pb(struct mds_arena *a, const struct mds_block *b)
{
	Mds__V1__Block *pb = mds_arena_alloc(a, sizeof(*pb));

	if (!pb)
		return NULL;
	mds__v1__block__init(pb);
	pb->index = b->index;
	pb->offset = b->offset;
	pb->size = b->size;
	pb->block_id.data = (uint8_t *)b->id.p;
	pb->block_id.len = b->id.len;
	pb->locator.data = (uint8_t *)b->locator.p;
	pb->locator.len = b->locator.len;
	return pb;
}

/* Append @pb to a growing arena array (doubling; old copies stay in the arena). */
static int block_push(struct mds_arena *a, Mds__V1__Block ***v, size_t *n, size_t *cap,
		      Mds__V1__Block *pb)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		Mds__V1__Block **nv = mds_arena_alloc(a, ncap * sizeof(*nv));

		if (!nv)
			return MDS_ENOMEM;
		if (*n)
			memcpy(nv, *v, *n * sizeof(*nv));
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = pb;
	return 0;
}

static int block_list_emit(void *arg, const struct mds_block *b)
{
	struct block_page *pg = arg;
	Mds__V1__Block *pb = block_pb(&pg->a, b);

	if (!pb)
		return MDS_ENOMEM;
	if (b->committed)
		return block_push(&pg->a, &pg->committed, &pg->n_committed, &pg->cap_committed, pb);
	return block_push(&pg->a, &pg->uncommitted, &pg->n_uncommitted, &pg->cap_uncommitted, pb);
}

static int get_block_list_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetBlockListRequest *r = (const void *)c->req;
	Mds__V1__GetBlockListResponse resp = MDS__V1__GET_BLOCK_LIST_RESPONSE__INIT;
	struct block_page pg = { 0 };
	unsigned which;
	int rc;

	if ((rc = check_names("bucket", r->bucket, "name", r->name, st)))
		return rc;
	switch (r->type) {
	case MDS__V1__BLOCK_LIST_TYPE__BLOCK_LIST_TYPE_ALL:
		which = MDS_BLOCKLIST_COMMITTED | MDS_BLOCKLIST_UNCOMMITTED;
		break;
	case MDS__V1__BLOCK_LIST_TYPE__BLOCK_LIST_TYPE_COMMITTED:
		which = MDS_BLOCKLIST_COMMITTED;
		break;
	case MDS__V1__BLOCK_LIST_TYPE__BLOCK_LIST_TYPE_UNCOMMITTED:
		which = MDS_BLOCKLIST_UNCOMMITTED;
		break;
	default:
		return mds_status_set(st, MDS_EINVAL, "field 'type': unknown value %d", (int)r->type);
	}
	rc = mds_get_block_list(c->reader, mds_rpc_str(r->bucket), mds_rpc_str(r->name), which,
				block_list_emit, &pg, st);
	if (rc == 0 && pg.a.failed)
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
	if (rc != 0) {
		if (!st->msg[0])
			mds_status_set(st, rc, "cannot read the block list of '%s': %s", r->name,
				       mds_strerror(rc));
		goto out;
	}
	resp.committed = pg.committed;
	resp.n_committed = pg.n_committed;
	resp.uncommitted = pg.uncommitted;
	resp.n_uncommitted = pg.n_uncommitted;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

static int blob_blocks_emit(void *arg, const struct mds_block *b)
{
	struct block_page *pg = arg;
	Mds__V1__Block *pb;

	if (pg->n_committed == pg->limit) {
		pg->truncated = 1;
		return 1;
	}
	pb = block_pb(&pg->a, b);
	if (!pb)
		return MDS_ENOMEM;
	return block_push(&pg->a, &pg->committed, &pg->n_committed, &pg->cap_committed, pb);
}

static int get_blob_blocks_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetBlobBlocksRequest *r = (const void *)c->req;
	Mds__V1__GetBlobBlocksResponse resp = MDS__V1__GET_BLOB_BLOCKS_RESPONSE__INIT;
	struct block_page pg = { 0 };
	int rc;

	if ((rc = check_names("bucket", r->bucket, "name", r->name, st)))
		return rc;
	if (r->limit > PAGE_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'limit' is %u, at most %d allowed",
				      r->limit, PAGE_MAX);
	pg.limit = r->limit ? r->limit : PAGE_MAX;
	rc = mds_blob_blocks(c->reader, mds_rpc_str(r->bucket), mds_rpc_str(r->name), r->start,
			     pg.limit + 1, blob_blocks_emit, &pg, st);
	if (rc == 1)
		rc = 0;
	if (rc == 0 && pg.a.failed)
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
	if (rc != 0) {
		if (!st->msg[0])
			mds_status_set(st, rc, "cannot read the blocks of '%s': %s", r->name,
				       mds_strerror(rc));
		goto out;
	}
	resp.blocks = pg.committed;
	resp.n_blocks = pg.n_committed;
	resp.truncated = pg.truncated;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

#define BL(m) "/mds.v1.Blob/" m
#define W(m, req, run, written) { BL(m), m, MDS_RPC_WRITE, &req##__descriptor, run, written, 0 }
#define R(m, req, run) { BL(m), m, MDS_RPC_READ, &req##__descriptor, run, NULL, 0 }

const struct mds_rpc_method mds_rpc_blob_methods[] = {
	W("CreateAppendBlob", mds__v1__create_append_blob_request, create_append_run, write_reply),
	W("AppendBlock", mds__v1__append_block_request, append_block_run, append_block_written),
	W("SealBlob", mds__v1__seal_blob_request, seal_run, write_reply),
	W("CopyObject", mds__v1__copy_object_request, copy_object_run, copy_written),
	W("PutBlobFromUrl", mds__v1__put_blob_from_url_request, from_url_run, copy_written),
	{ BL("ReportCopyProgress"), "ReportCopyProgress", MDS_RPC_WRITE,
	  &mds__v1__report_copy_progress_request__descriptor, progress_run, progress_written, 1 },
	W("CompleteCopy", mds__v1__complete_copy_request, complete_copy_run, write_reply),
	W("FailCopy", mds__v1__fail_copy_request, fail_copy_run, write_reply),
	W("AbortCopy", mds__v1__abort_copy_request, abort_copy_run, abort_copy_written),
	R("GetCopyStatus", mds__v1__get_copy_status_request, get_copy_status_run),
	W("CreateMultipartUpload", mds__v1__create_multipart_upload_request, create_mpu_run,
	  create_mpu_written),
	W("UploadPart", mds__v1__upload_part_request, upload_part_run, upload_part_written),
	R("ListParts", mds__v1__list_parts_request, list_parts_run),
	R("ListMultipartUploads", mds__v1__list_multipart_uploads_request, list_uploads_run),
	W("CompleteMultipartUpload", mds__v1__complete_multipart_upload_request, complete_mpu_run,
	  write_reply),
	W("AbortMultipartUpload", mds__v1__abort_multipart_upload_request, abort_mpu_run,
	  abort_mpu_written),
	W("PutBlock", mds__v1__put_block_request, put_block_run, put_block_written),
	W("PutBlockList", mds__v1__put_block_list_request, put_block_list_run, write_reply),
	R("GetBlockList", mds__v1__get_block_list_request, get_block_list_run),
	R("GetBlobBlocks", mds__v1__get_blob_blocks_request, get_blob_blocks_run),
};
const size_t mds_rpc_blob_count = sizeof(mds_rpc_blob_methods) / sizeof(mds_rpc_blob_methods[0]);
