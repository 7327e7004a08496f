/*
 * rpc_namespace.c - the mds.v1.Namespace service: protobuf-c requests to
 * island core calls and back (buckets, object records, listings).
 *
 * Every handler validates the names it was sent before touching the core,
 * so an INVALID_ARGUMENT message always starts with the field's name
 * ("field 'bucket': ..."). Strings an op borrows point into the unpacked
 * request or into call->mem, both alive until the call is freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listing.h"
#include "namespace.pb-c.h"
#include "rpc.h"
#include "rpc_convert.h"
#include "rpc_encode.h"

/* Validate @s as field @field of kind @kind (0 bucket, 1 object, 2 team). */
static int check_name(const char *field, int kind, struct mds_str s, struct mds_status *st)
{
	struct mds_status inner;
	int rc;

	mds_status_clear(&inner);
	if (kind == 0)
		rc = mds_validate_bucket_name(s, &inner);
	else if (kind == 1)
		rc = mds_validate_object_name(s, &inner);
	else
		rc = mds_validate_team_name(s, &inner);
	if (rc != 0)
		return mds_status_set(st, MDS_EINVAL, "field '%s': %s", field,
				      inner.msg[0] ? inner.msg : mds_strerror(rc));
	return 0;
}

static int check_utf8(const char *field, const char *s, size_t max, struct mds_status *st)
{
	size_t n = strlen(s);

	if (n > max)
		return mds_status_set(st, MDS_EINVAL, "field '%s' is %zu bytes, at most %zu allowed",
				      field, n, max);
	if (!mds_utf8_is_valid(s, n))
		return mds_status_set(st, MDS_EINVAL, "field '%s' is not valid UTF-8", field);
	return 0;
}

/* ---- buckets ------------------------------------------------------------- */

static int create_bucket_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CreateBucketRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
	    (rc = check_name("team", 2, mds_rpc_str(r->team), st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_BUCKET_CREATE);
	c->op.bucket = mds_rpc_str(r->bucket);
	c->op.team = mds_rpc_str(r->team);
	return 0;
}

static int bucket_reply(struct mds_rpc_call *c, struct mds_str name, struct mds_status *st)
{
	struct mds_bucket b;
	struct mds_arena a = { 0 };
	Mds__V1__Bucket pb;
	int rc;

	rc = mds_bucket_get(c->reader, name, &b, st);
	if (rc != 0)
		return rc;
	mds_rpc_bucket_to_pb(&a, &b, &pb);
	rc = a.failed ? mds_status_set(st, MDS_ENOMEM, "out of memory") :
		mds_rpc_reply(c, &pb.base);
	mds_arena_free(&a);
	return rc;
}

static int create_bucket_written(struct mds_rpc_call *c, struct mds_status *st)
{
	return bucket_reply(c, c->op.bucket, st);
}

static int get_bucket_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetBucketRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)))
		return rc;
	return bucket_reply(c, mds_rpc_str(r->bucket), st);
}

static int bucket_emit(void *arg, const struct mds_bucket *b)
{
	struct mds_rpc_page *pg = arg;
	Mds__V1__Bucket *pb;
	int stop = 0;

	pb = mds_rpc_page_slot(pg, sizeof(*pb), &stop);
	if (!pb)
		return stop;
	mds_rpc_bucket_to_pb(&pg->a, b, pb);
	return 0;
}

static int list_buckets_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListBucketsRequest *r = (const void *)c->req;
	struct mds_rpc_page pg = { 0 };
	Mds__V1__ListBucketsResponse resp = MDS__V1__LIST_BUCKETS_RESPONSE__INIT;
	int rc;

	if (*r->team && (rc = check_name("team", 2, mds_rpc_str(r->team), st)))
		return rc;
	if ((rc = check_utf8("start_after", r->start_after, MDS_BUCKET_NAME_MAX, st)))
		return rc;
	pg.limit = r->limit == 0 || r->limit > 1000 ? 1000 : r->limit;
	if (mds_rpc_page_init(&pg, pg.limit) != 0) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_bucket_list(c->reader, mds_rpc_str(r->team), mds_rpc_str(r->start_after),
			     pg.limit + 1, bucket_emit, &pg, st);
	rc = mds_rpc_page_done(&pg, rc, "buckets", st);
	if (rc != 0)
		goto out;
	resp.buckets = (Mds__V1__Bucket **)pg.v;
	resp.n_buckets = pg.n;
	resp.truncated = pg.truncated;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

static int delete_bucket_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__DeleteBucketRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_BUCKET_DELETE);
	c->op.bucket = mds_rpc_str(r->bucket);
	return 0;
}

static int delete_bucket_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__DeleteBucketResponse resp = MDS__V1__DELETE_BUCKET_RESPONSE__INIT;

	(void)st;
	return mds_rpc_reply(c, &resp.base);
}

/* ---- objects ------------------------------------------------------------- */

static int pairs_in(struct mds_pair *out, Mds__V1__KeyValue **in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[i].key = mds_rpc_str(in[i]->key);
		out[i].value = mds_rpc_str(in[i]->value);
	}
	return 0;
}

static int put_object_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutObjectRequest *r = (const void *)c->req;
	struct mds_pair *pairs;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
	    (rc = check_name("name", 1, mds_rpc_str(r->name), st)) ||
	    (rc = check_utf8("etag", r->etag, MDS_ETAG_MAX, st)) ||
	    (rc = check_utf8("content_type", r->content_type, MDS_CONTENT_TYPE_MAX, st)))
		return rc;
	if (r->locator.len > MDS_LOCATOR_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'locator' is %zu bytes, at most %d allowed",
				      r->locator.len, MDS_LOCATOR_MAX);
	if (r->blob_type > MDS__V1__BLOB_TYPE__BLOB_TYPE_PAGE || r->blob_type < 0)
		return mds_status_set(st, MDS_EINVAL, "field 'blob_type': unknown value %d",
				      (int)r->blob_type);
	if (r->n_tags > MDS_TAGS_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'tags': %zu tags, at most %d allowed",
				      r->n_tags, MDS_TAGS_MAX);
	if (r->n_metadata > MDS_META_MAX || r->n_tags > MDS_TAGS_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'metadata': too many pairs");
	mds_op_init(&c->op, MDS_OP_OBJECT_PUT);
	c->op.bucket = mds_rpc_str(r->bucket);
	c->op.name = mds_rpc_str(r->name);
	c->op.obj.size = r->size;
	c->op.obj.blob_type = (uint8_t)r->blob_type;
	c->op.obj.etag = mds_rpc_str(r->etag);
	c->op.obj.content_type = mds_rpc_str(r->content_type);
	c->op.obj.locator = (struct mds_str){ (const char *)r->locator.data, r->locator.len };
	if (r->n_metadata + r->n_tags) {
		pairs = calloc(r->n_metadata + r->n_tags, sizeof(*pairs));
		if (!pairs)
			return mds_status_set(st, MDS_ENOMEM, "out of memory");
		c->mem = pairs;
		pairs_in(pairs, r->metadata, r->n_metadata);
		pairs_in(pairs + r->n_metadata, r->tags, r->n_tags);
		c->op.obj.meta = pairs;
		c->op.obj.n_meta = r->n_metadata;
		c->op.obj.tags = pairs + r->n_metadata;
		c->op.obj.n_tags = r->n_tags;
	}
	if (*r->if_match)
		c->op.cond.if_match = mds_rpc_str(r->if_match);
	if (*r->if_none_match)
		c->op.cond.if_none_match = mds_rpc_str(r->if_none_match);
	if (r->lock_mode < 0 || r->lock_mode > MDS__V1__RETENTION_MODE__RETENTION_MODE_COMPLIANCE)
		return mds_status_set(st, MDS_EINVAL, "field 'lock_mode': unknown value %d",
				      (int)r->lock_mode);
	c->op.obj.retention_mode = (uint8_t)r->lock_mode;
	c->op.obj.retain_until_ns = r->lock_retain_until_ns;
	c->op.obj.legal_hold = r->legal_hold ? 1 : 0;
	c->op.bypass_governance = r->bypass_governance_retention ? 1 : 0;
	return 0;
}

static int put_object_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__PutObjectResponse resp = MDS__V1__PUT_OBJECT_RESPONSE__INIT;

	(void)st;
	resp.version = c->op.out_version;
	resp.mtime_ns = c->op.out_mtime_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int head_object_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__HeadObjectRequest *r = (const void *)c->req;
	struct mds_object o;
	struct mds_arena a = { 0 };
	Mds__V1__ObjectRecord pb;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
	    (rc = check_name("name", 1, mds_rpc_str(r->name), st)))
		return rc;
	rc = mds_object_head(c->reader, mds_rpc_str(r->bucket), mds_rpc_str(r->name), &o, st);
	if (rc != 0)
		return rc;
	rc = mds_rpc_object_to_pb(&a, mds_rpc_str(r->bucket), mds_rpc_str(r->name), &o, &pb);
	if (rc == 0 && a.failed)
		rc = MDS_ENOMEM;
	if (rc == 0)
		rc = mds_rpc_reply(c, &pb.base);
	else
		mds_status_set(st, rc, "cannot encode object '%s': %s", r->name, mds_strerror(rc));
	mds_arena_free(&a);
	return rc;
}

static int delete_object_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__DeleteObjectRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
	    (rc = check_name("name", 1, mds_rpc_str(r->name), st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_OBJECT_DELETE);
	c->op.bucket = mds_rpc_str(r->bucket);
	c->op.name = mds_rpc_str(r->name);
	if (*r->if_match)
		c->op.cond.if_match = mds_rpc_str(r->if_match);
	if (*r->if_none_match)
		c->op.cond.if_none_match = mds_rpc_str(r->if_none_match);
	c->op.bypass_governance = r->bypass_governance_retention ? 1 : 0;
	return 0;
}

static int delete_object_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__DeleteObjectResponse resp = MDS__V1__DELETE_OBJECT_RESPONSE__INIT;

	(void)st;
	resp.version = c->op.out_version;
	return mds_rpc_reply(c, &resp.base);
}

/* ---- listings ------------------------------------------------------------ */

struct list_page {
	struct mds_arena a;
	struct mds_str bucket;
	Mds__V1__ListEntry **entries;
	size_t n, cap;
	int err;
};

static int list_emit(void *arg, const struct mds_list_entry *e)
{
	struct list_page *pg = arg;
	Mds__V1__ListEntry *le;

	if (pg->n == pg->cap)
		return MDS_EINTERNAL;   /* the core emitted more than max_keys */
	le = mds_arena_alloc(&pg->a, sizeof(*le));
	if (!le)
		return MDS_ENOMEM;
	mds__v1__list_entry__init(le);
	le->name = mds_arena_str(&pg->a, e->name);
	le->is_prefix = e->is_prefix != 0;
	if (!e->is_prefix && e->obj) {
		le->object = mds_arena_alloc(&pg->a, sizeof(*le->object));
		if (!le->object)
			return MDS_ENOMEM;
		if ((pg->err = mds_rpc_object_to_pb(&pg->a, pg->bucket, e->name, e->obj,
						    le->object)))
			return pg->err;
	}
	pg->entries[pg->n++] = le;
	return 0;
}

static int list_objects_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListObjectsRequest *r = (const void *)c->req;
	struct mds_list_params p;
	struct mds_list_result res;
	struct list_page pg = { 0 };
	Mds__V1__ListObjectsResponse resp = MDS__V1__LIST_OBJECTS_RESPONSE__INIT;
	int64_t cap;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
	    (rc = check_utf8("prefix", r->prefix, MDS_OBJECT_NAME_MAX, st)) ||
	    (rc = check_utf8("delimiter", r->delimiter, MDS_OBJECT_NAME_MAX, st)) ||
	    (rc = check_utf8("start_after", r->start_after, MDS_OBJECT_NAME_MAX, st)))
		return rc;
	if (strlen(r->continuation_token) > MDS_LIST_TOKEN_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'continuation_token' is too long");
	if (r->style != MDS__V1__LIST_STYLE__LIST_STYLE_S3 &&
	    r->style != MDS__V1__LIST_STYLE__LIST_STYLE_AZURE)
		return mds_status_set(st, MDS_EINVAL, "field 'style': unknown value %d",
				      (int)r->style);
	memset(&p, 0, sizeof(p));
	p.style = r->style == MDS__V1__LIST_STYLE__LIST_STYLE_AZURE ? MDS_LIST_AZURE : MDS_LIST_S3;
	cap = p.style == MDS_LIST_AZURE ? MDS_LIST_AZURE_MAX : MDS_LIST_S3_MAX;
	p.bucket = mds_rpc_str(r->bucket);
	p.prefix = mds_rpc_str(r->prefix);
	p.delimiter = mds_rpc_str(r->delimiter);
	p.start_after = mds_rpc_str(r->start_after);
	p.token = mds_rpc_str(r->continuation_token);
	p.max_keys = -1;
	if (r->max_keys_set_case == MDS__V1__LIST_OBJECTS_REQUEST__MAX_KEYS_SET_MAX_KEYS) {
		if (r->max_keys < 0 || r->max_keys > cap)
			return mds_status_set(st, MDS_EINVAL,
					      "field 'max_keys' is %lld, allowed 0..%lld",
					      (long long)r->max_keys, (long long)cap);
		p.max_keys = r->max_keys;
	}
	pg.bucket = p.bucket;
	pg.cap = (size_t)(p.max_keys < 0 ? cap : p.max_keys);
	pg.entries = mds_arena_alloc(&pg.a, (pg.cap + 1) * sizeof(*pg.entries));
	if (!pg.entries) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	memset(&res, 0, sizeof(res));
	rc = mds_list(c->reader, &p, list_emit, &pg, &res, st);
	if (rc == 0 && pg.a.failed)
		rc = MDS_ENOMEM;
	if (rc != 0) {
		if (!st->msg[0])
			mds_status_set(st, rc, "cannot list bucket '%s': %s", r->bucket,
				       mds_strerror(rc));
		goto out;
	}
	resp.entries = pg.entries;
	resp.n_entries = pg.n;
	resp.key_count = res.key_count;
	resp.truncated = res.truncated != 0;
	resp.next_continuation_token = res.next_token;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

/*
 * Stream chunks: the first message carries up to STREAM_CHUNK_FIRST records
 * (the first bytes come fast, and a client that reads a little pays for
 * little); each later one as many as were sent so far, up to
 * STREAM_CHUNK_MAX, and never much more than STREAM_CHUNK_BYTES (the chunk
 * ends after the record that crosses it), so that a message stays far
 * below the 4 MiB a default gRPC client accepts (1,000 records of the
 * largest kind used to make ~5 MB). Fewer, bigger messages cost fewer
 * walks, snapshot renewals and batches per record: 6-10 % less server CPU
 * per streamed record in rpc_bench (docs/benchmarks.md).
 */
#define STREAM_CHUNK_FIRST 1000
#define STREAM_CHUNK_MAX 8000
#define STREAM_CHUNK_BYTES (1u << 20)

/* emit's way to end a chunk at STREAM_CHUNK_BYTES (not an error) */
#define STREAM_FULL MDS_EBUSY

struct stream_page {
	struct mds_wbuf b;
	struct mds_str bucket;
	size_t n, cap;
	size_t seen;           /* entries the walk emitted */
	char *last;            /* the call's cursor buffer (MDS_OBJECT_NAME_MAX + 1) */
	size_t last_len;
	int full;              /* ended at STREAM_CHUNK_BYTES */
};

static int stream_emit(void *arg, struct mds_str name, struct mds_str rec)
{
	struct stream_page *pg = arg;
	int rc;

	/* name lives in a buffer the walk reuses: keep a copy of the walk's
	 * last entry, the one at cap (a chunk that ends earlier is the
	 * stream's last and needs no cursor) */
	if (++pg->seen == pg->cap && name.len <= MDS_OBJECT_NAME_MAX) {
		memcpy(pg->last, name.p, name.len);
		pg->last_len = name.len;
	}
	if (pg->n == pg->cap)
		return MDS_EINTERNAL;
	/* ListObjectsStreamResponse.objects is field 1 */
	rc = mds_encode_object_rec(&pg->b, 1, pg->bucket, name, rec);
	if (rc != 0)
		return rc;
	pg->n++;
	if (pg->n == 1 && pg->cap > 1) {
		/* size the buffer once from the first record, instead of
		 * doubling it (and copying it) as the chunk grows */
		size_t est = pg->b.len + pg->b.len / 8;

		est = est > STREAM_CHUNK_BYTES / pg->cap ? STREAM_CHUNK_BYTES
			: est * pg->cap;
		if (mds_wbuf_reserve(&pg->b, est + 4096) != 0)
			return MDS_ENOMEM;
	}
	if (pg->b.len >= STREAM_CHUNK_BYTES && pg->seen < pg->cap) {
		/* this record ends the chunk: the next one resumes after it */
		if (name.len > MDS_OBJECT_NAME_MAX)
			return MDS_EINTERNAL;
		memcpy(pg->last, name.p, name.len);
		pg->last_len = name.len;
		pg->full = 1;
		return STREAM_FULL;
	}
	return 0;
}

static int list_stream_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListObjectsStreamRequest *r = (const void *)c->req;
	struct stream_page pg = { 0 };
	struct mds_str after;
	char resume[MDS_OBJECT_NAME_MAX];
	size_t want = STREAM_CHUNK_FIRST;
	long got;
	int rc;

	if (c->stream_sent == 0 && c->stream_cursor_len == 0) {
		if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
		    (rc = check_utf8("prefix", r->prefix, MDS_OBJECT_NAME_MAX, st)) ||
		    (rc = check_utf8("start_after", r->start_after, MDS_OBJECT_NAME_MAX, st)))
			return rc;
		after = mds_rpc_str(r->start_after);
	} else {
		after = (struct mds_str){ c->stream_cursor, c->stream_cursor_len };
	}
	if (c->stream_sent > want)
		want = c->stream_sent < STREAM_CHUNK_MAX ? (size_t)c->stream_sent
			: STREAM_CHUNK_MAX;
	if (r->limit && r->limit - c->stream_sent < want)
		want = (size_t)(r->limit - c->stream_sent);
	/* chunks do not wait for anything: build the next during this send */
	c->stream_ahead = 1;
	pg.bucket = mds_rpc_str(r->bucket);
	pg.cap = want;
	pg.last = c->stream_cursor;
	pg.last_len = c->stream_cursor_len;
	if (after.p == c->stream_cursor) {
		/* resuming: the walk reads `after` while emit overwrites the
		 * cursor, so resume from a private copy */
		memcpy(resume, c->stream_cursor, c->stream_cursor_len);
		after = (struct mds_str){ resume, c->stream_cursor_len };
	}
	got = want ? mds_list_stream_raw(c->reader, pg.bucket, mds_rpc_str(r->prefix), after,
					 want, stream_emit, &pg, st) : 0;
	if (got == STREAM_FULL && pg.full) {
		mds_status_clear(st);
		got = (long)pg.n;
	}
	if (got < 0) {
		rc = (int)got;
		if (!st->msg[0])
			mds_status_set(st, rc, "cannot list bucket '%s': %s", r->bucket,
				       mds_strerror(rc));
		mds_wbuf_release(&pg.b);
		return rc;
	}
	c->stream_cursor_len = pg.last_len;
	c->stream_sent += pg.n;
	c->stream_last = !pg.full && ((size_t)got < want ||
				      (r->limit && c->stream_sent >= r->limit));
	/* An empty chunk is sent only as the last one, when nothing matched. */
	if (pg.n == 0 && c->stream_sent != 0) {
		mds_wbuf_release(&pg.b);
		return 0;
	}
	rc = mds_rpc_reply_raw(c, pg.b.p, pg.b.len);
	pg.b.p = NULL;
	return rc;
}

/* ---- object lock ---------------------------------------------------------- */

/*
 * bypass_governance_retention is copied into the op as asked; whether the
 * caller may ask (the bypass-governance action) is the server's
 * authorization step, before run() is reached (docs/security.md).
 */
static int put_retention_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutObjectRetentionRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
	    (rc = check_name("name", 1, mds_rpc_str(r->name), st)))
		return rc;
	if (r->mode < 0 || r->mode > MDS__V1__RETENTION_MODE__RETENTION_MODE_COMPLIANCE)
		return mds_status_set(st, MDS_EINVAL, "field 'mode': unknown value %d", (int)r->mode);
	mds_op_init(&c->op, MDS_OP_RETENTION_SET);
	c->op.bucket = mds_rpc_str(r->bucket);
	c->op.name = mds_rpc_str(r->name);
	c->op.retention_mode = (uint8_t)r->mode;
	c->op.retain_until_ns = r->retain_until_ns;
	c->op.bypass_governance = r->bypass_governance_retention ? 1 : 0;
	return 0;
}

static int put_retention_written(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutObjectRetentionRequest *r = (const void *)c->req;
	Mds__V1__ObjectRetention resp = MDS__V1__OBJECT_RETENTION__INIT;

	(void)st;
	resp.bucket = r->bucket;
	resp.name = r->name;
	resp.mode = (Mds__V1__RetentionMode)c->op.retention_mode;
	resp.retain_until_ns = c->op.retain_until_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int lock_head(struct mds_rpc_call *c, const char *bucket, const char *name,
		     struct mds_object *o, struct mds_status *st)
{
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(bucket), st)) ||
	    (rc = check_name("name", 1, mds_rpc_str(name), st)))
		return rc;
	return mds_object_head(c->reader, mds_rpc_str(bucket), mds_rpc_str(name), o, st);
}

static int get_retention_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetObjectRetentionRequest *r = (const void *)c->req;
	Mds__V1__ObjectRetention resp = MDS__V1__OBJECT_RETENTION__INIT;
	struct mds_object o;
	int rc = lock_head(c, r->bucket, r->name, &o, st);

	if (rc)
		return rc;
	resp.bucket = r->bucket;
	resp.name = r->name;
	resp.mode = (Mds__V1__RetentionMode)o.retention_mode;
	resp.retain_until_ns = o.retain_until_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int put_hold_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutObjectLegalHoldRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_name("bucket", 0, mds_rpc_str(r->bucket), st)) ||
	    (rc = check_name("name", 1, mds_rpc_str(r->name), st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_LEGAL_HOLD_SET);
	c->op.bucket = mds_rpc_str(r->bucket);
	c->op.name = mds_rpc_str(r->name);
	c->op.legal_hold = r->on ? 1 : 0;
	return 0;
}

static int put_hold_written(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__PutObjectLegalHoldRequest *r = (const void *)c->req;
	Mds__V1__ObjectLegalHold resp = MDS__V1__OBJECT_LEGAL_HOLD__INIT;

	(void)st;
	resp.bucket = r->bucket;
	resp.name = r->name;
	resp.on = c->op.legal_hold != 0;
	return mds_rpc_reply(c, &resp.base);
}

static int get_hold_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetObjectLegalHoldRequest *r = (const void *)c->req;
	Mds__V1__ObjectLegalHold resp = MDS__V1__OBJECT_LEGAL_HOLD__INIT;
	struct mds_object o;
	int rc = lock_head(c, r->bucket, r->name, &o, st);

	if (rc)
		return rc;
	resp.bucket = r->bucket;
	resp.name = r->name;
	resp.on = o.legal_hold != 0;
	return mds_rpc_reply(c, &resp.base);
}

static int clock_reply(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__RetentionClock resp = MDS__V1__RETENTION_CLOCK__INIT;
	struct mds_retention_clock k;
	int rc = mds_retention_clock_get(mds_server_store(c->server), &k);

	if (rc)
		return mds_status_set(st, rc, "this server has no retention clock (read-only store)");
	resp.wall_ns = k.wall_ns;
	resp.trusted_ns = k.trusted_ns;
	resp.effective_ns = k.effective_ns;
	resp.high_ns = k.high_ns;
	resp.tolerance_ns = k.tolerance_ns;
	resp.suspect = k.suspect != 0;
	resp.restart_gap = k.restart_gap != 0;
	resp.suspect_events = k.suspect_events;
	return mds_rpc_reply(c, &resp.base);
}

static int get_clock_run(struct mds_rpc_call *c, struct mds_status *st)
{
	return clock_reply(c, st);
}

static int confirm_clock_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ConfirmRetentionClockRequest *r = (const void *)c->req;

	(void)st;
	mds_op_init(&c->op, MDS_OP_CLOCK_CONFIRM);
	c->op.retain_until_ns = r->admin_time_ns;
	return 0;
}

static int confirm_clock_written(struct mds_rpc_call *c, struct mds_status *st)
{
	return clock_reply(c, st);
}

#define NS(m) "/mds.v1.Namespace/" m

const struct mds_rpc_method mds_rpc_namespace_methods[] = {
	{ NS("CreateBucket"), "CreateBucket", MDS_RPC_WRITE,
	  &mds__v1__create_bucket_request__descriptor, create_bucket_run, create_bucket_written, 1 },
	{ NS("GetBucket"), "GetBucket", MDS_RPC_READ,
	  &mds__v1__get_bucket_request__descriptor, get_bucket_run, NULL, 0 },
	{ NS("ListBuckets"), "ListBuckets", MDS_RPC_READ,
	  &mds__v1__list_buckets_request__descriptor, list_buckets_run, NULL, 0 },
	{ NS("DeleteBucket"), "DeleteBucket", MDS_RPC_WRITE,
	  &mds__v1__delete_bucket_request__descriptor, delete_bucket_run, delete_bucket_written, 0 },
	{ NS("PutObject"), "PutObject", MDS_RPC_WRITE,
	  &mds__v1__put_object_request__descriptor, put_object_run, put_object_written, 0 },
	{ NS("HeadObject"), "HeadObject", MDS_RPC_READ,
	  &mds__v1__head_object_request__descriptor, head_object_run, NULL, 0 },
	{ NS("DeleteObject"), "DeleteObject", MDS_RPC_WRITE,
	  &mds__v1__delete_object_request__descriptor, delete_object_run, delete_object_written, 0 },
	{ NS("ListObjects"), "ListObjects", MDS_RPC_READ,
	  &mds__v1__list_objects_request__descriptor, list_objects_run, NULL, 0 },
	{ NS("ListObjectsStream"), "ListObjectsStream", MDS_RPC_STREAM,
	  &mds__v1__list_objects_stream_request__descriptor, list_stream_run, NULL, 0 },
	{ NS("PutObjectRetention"), "PutObjectRetention", MDS_RPC_WRITE,
	  &mds__v1__put_object_retention_request__descriptor, put_retention_run,
	  put_retention_written, 0 },
	{ NS("GetObjectRetention"), "GetObjectRetention", MDS_RPC_READ,
	  &mds__v1__get_object_retention_request__descriptor, get_retention_run, NULL, 0 },
	{ NS("PutObjectLegalHold"), "PutObjectLegalHold", MDS_RPC_WRITE,
	  &mds__v1__put_object_legal_hold_request__descriptor, put_hold_run, put_hold_written, 0 },
	{ NS("GetObjectLegalHold"), "GetObjectLegalHold", MDS_RPC_READ,
	  &mds__v1__get_object_legal_hold_request__descriptor, get_hold_run, NULL, 0 },
	{ NS("GetRetentionClock"), "GetRetentionClock", MDS_RPC_READ,
	  &mds__v1__get_retention_clock_request__descriptor, get_clock_run, NULL, 0 },
	{ NS("ConfirmRetentionClock"), "ConfirmRetentionClock", MDS_RPC_WRITE,
	  &mds__v1__confirm_retention_clock_request__descriptor, confirm_clock_run,
	  confirm_clock_written, 0 },
};
const size_t mds_rpc_namespace_count =
	sizeof(mds_rpc_namespace_methods) / sizeof(mds_rpc_namespace_methods[0]);
