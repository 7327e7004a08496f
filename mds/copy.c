/*
 * copy.c - server-side copies: S3 CopyObject / Azure Copy Blob within the
 * island (synchronous, one op), and asynchronous copies whose bytes the
 * gateway moves (Azure Put Blob From URL, Copy Blob from another account):
 * a pending destination record, progress and completion reports, abort,
 * and the copy status read.
 *
 * A pending copy is an object record with copy state (record tag 7:
 * status, id, source, progress, total, completion time, failure) plus an
 * index entry in the copies database (copy id -> destination bucket and
 * name) so that the gateway can report by id. The index entry lives
 * exactly as long as the copy is pending: completion, failure and abort
 * remove it, and so does anything that replaces or deletes the
 * destination (mds_blob_release) - a completion report for a destination
 * that was deleted meanwhile therefore finds no copy and changes nothing.
 *
 * Usage: a pending destination counts as an object of 0 bytes and holds a
 * quota reservation (quota.h) for the source size, whose token lives in
 * the index entry; success converts it into usage, failure, abort and
 * the end of the destination (mds_blob_release) give it back.
 */
#include <stdio.h>
#include <string.h>

#include "blobs.h"
#include "quota.h"
#include "retention.h"
#include "record.h"
#include "util.h"

#define SOURCE_MAX 2048
#define FAILURE_MAX 1024
/* How long a pending copy's reservation lives unless the op says (7 days). */
#define COPY_RESERVE_TTL_NS (7ull * 24 * 3600 * 1000000000ull)

static int set_reason(struct mds_op *op, uint8_t reason, int rc)
{
	op->blob_out.reason = reason;
	return rc;
}

size_t mds_copy_index_encode(uint8_t buf[MDS_COPY_INDEX_MAX], struct mds_str bucket,
			     struct mds_str name, struct mds_str token)
{
	size_t o = 0;

	buf[o++] = (uint8_t)bucket.len;
	memcpy(buf + o, bucket.p, bucket.len);
	o += bucket.len;
	buf[o++] = (uint8_t)name.len;
	buf[o++] = (uint8_t)(name.len >> 8);
	memcpy(buf + o, name.p, name.len);
	o += name.len;
	buf[o++] = (uint8_t)token.len;
	if (token.len)
		memcpy(buf + o, token.p, token.len);
	return o + token.len;
}

int mds_copy_index_decode(struct mds_str v, struct mds_str *bucket, struct mds_str *name,
			  struct mds_str *token)
{
	const uint8_t *p = (const uint8_t *)v.p;
	size_t o = 0, n;

	if (v.len < 1 || p[0] > MDS_BUCKET_NAME_MAX || v.len < 1u + p[0] + 2)
		return MDS_ECORRUPT;
	*bucket = (struct mds_str){ v.p + 1, p[0] };
	o = 1 + p[0];
	n = (size_t)p[o] | (size_t)p[o + 1] << 8;
	o += 2;
	if (n > MDS_OBJECT_NAME_MAX || v.len < o + n + 1)
		return MDS_ECORRUPT;
	*name = (struct mds_str){ v.p + o, n };
	o += n;
	n = p[o++];
	if (v.len != o + n || (n != 0 && n != MDS_BLOB_ID_HEX))
		return MDS_ECORRUPT;
	*token = (struct mds_str){ n ? v.p + o : NULL, n };
	return 0;
}

/* The destination as it stands: existence, version, ctime; releases what it owned. */
struct dest {
	int exists;
	uint64_t version, ctime_ns, old_size;
};

static int dest_prepare(struct mds_txn *t, struct mds_op *op, const struct mds_bucket *b,
			struct dest *d)
{
	char q[MDS_QUOTE_MAX];
	struct mds_object cur;
	int rc = mds_ns_object_load(t, b, op->name, &cur);

	if (rc && rc != MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "cannot read destination '%s': %s",
				      mds_quote(q, op->name), mds_strerror(rc));
	d->exists = rc == 0;
	rc = mds_blob_cond_check(op, &op->cond, d->exists ? &cur : NULL, MDS_REASON_ETAG,
				 "destination", op->name);
	if (rc == 0 && d->exists)
		rc = mds_retention_check(t, op, op->name, &cur, "copy onto");
	if (rc)
		return rc;
	d->version = d->exists ? cur.version + 1 : 1;
	d->ctime_ns = d->exists ? cur.ctime_ns : mds_txn_now_ns(t);
	d->old_size = d->exists ? cur.size : 0;
	return 0;
}

static int dest_release(struct mds_txn *t, struct mds_op *op, const struct mds_bucket *b,
			const struct dest *d)
{
	struct mds_object cur;
	int rc;

	if (!d->exists)
		return 0;
	rc = mds_ns_object_load(t, b, op->name, &cur);
	if (rc == 0)
		rc = mds_blob_release(t, &cur);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot release the destination's old record: %s",
				      mds_strerror(rc));
	return 0;
}

/* ---- CopyObject (synchronous, within the island) -------------------------- */

/* Copies the block map of @src into a new map owned by @name in @b. */
static int map_copy(struct mds_txn *t, const struct mds_object *src, const struct mds_bucket *b,
		    struct mds_str name, uint64_t *new_id)
{
	int rc = mds_map_create(t, b, name, new_id);

	for (uint32_t i = 0; rc == 0 && i < src->map_blocks; i++) {
		struct mds_map_entry e;

		rc = mds_map_get(t, src->map_id, i, &e);
		if (rc == MDS_ENOTFOUND)
			rc = MDS_ECORRUPT;
		if (rc == 0)
			rc = mds_map_put(t, *new_id, i, &e);
	}
	return rc;
}

static int apply_copy_object(struct mds_txn *t, struct mds_op *op)
{
	static __thread char source[MDS_BUCKET_NAME_MAX + 1 + MDS_OBJECT_NAME_MAX];
	char q[MDS_QUOTE_MAX], q2[MDS_QUOTE_MAX], idhex[MDS_BLOB_ID_HEX + 1];
	uint8_t id[MDS_BLOB_ID_LEN];
	struct mds_bucket sb, db;
	struct mds_object src, ext;
	struct mds_object_in in;
	struct dest d;
	int rc;

	rc = mds_validate_object_name(op->blob.src_name, &op->status);
	if (rc == 0)
		rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->blob.src_bucket, &sb, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->bucket, &db, &op->status);
	if (rc)
		return rc;
	rc = mds_ns_object_load(t, &sb, op->blob.src_name, &src);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "copy source '%s' does not exist in bucket '%s'",
				      mds_quote(q, op->blob.src_name), mds_quote(q2, op->blob.src_bucket));
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read copy source: %s", mds_strerror(rc));
	rc = mds_blob_cond_check(op, &op->blob.src_cond, &src, MDS_REASON_SOURCE_ETAG, "copy source",
				 op->blob.src_name);
	if (rc)
		return rc;
	if (src.copy_status == MDS_COPY_PENDING)
		return set_reason(op, MDS_REASON_COPY_ID,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "copy source '%s' is itself the target of a pending copy",
						 mds_quote(q, op->blob.src_name)));
	rc = dest_prepare(t, op, &db, &d);
	if (rc)
		return rc;
	/* The new record: the source's, with metadata replaced if asked. */
	rc = mds_blob_in_from(&src, &in);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read copy source: %s", mds_strerror(rc));
	/* S3: the destination's lock comes from the request, never from the source. */
	in.retention_mode = op->obj.retention_mode;
	in.retain_until_ns = op->obj.retain_until_ns;
	in.legal_hold = op->obj.legal_hold;
	if (op->blob.replace_meta) {
		in.content_type = op->obj.content_type;
		in.meta = op->obj.meta;
		in.n_meta = op->obj.n_meta;
		in.tags = op->obj.tags;
		in.n_tags = op->obj.n_tags;
	}
	if (op->obj.etag.p)
		in.etag = op->obj.etag;
	rc = mds_object_in_validate(&in, &op->status);
	if (rc)
		return rc;
	memset(&ext, 0, sizeof(ext));
	ext.size = src.size;
	if (op->obj.locator.p) {
		/* The gateway copied the bytes to a new place: one locator, no map. */
		if (op->obj.locator.len > MDS_LOCATOR_MAX)
			return mds_status_set(&op->status, MDS_EINVAL, "locator is too long");
		in.locator = op->obj.locator;
	} else if (src.map_id) {
		ext.map_kind = src.map_kind;
		ext.map_blocks = src.map_blocks;
		ext.max_block_size = src.max_block_size;
		rc = map_copy(t, &src, &db, op->name, &ext.map_id);
		if (rc)
			return mds_status_set(&op->status, rc, "cannot copy the block map: %s",
					      mds_strerror(rc));
	}
	/* Azure shows x-ms-copy-* on the destination of a synchronous copy too. */
	if (mds_blob_id_new(id))
		return mds_status_set(&op->status, MDS_EINTERNAL, "cannot draw a random copy id");
	mds_blob_id_hex(idhex, id);
	snprintf(source, sizeof(source), "%.*s/%.*s", (int)op->blob.src_bucket.len,
		 op->blob.src_bucket.p, (int)op->blob.src_name.len, op->blob.src_name.p);
	ext.copy_status = MDS_COPY_SUCCESS;
	ext.copy_id = (struct mds_str){ idhex, MDS_BLOB_ID_HEX };
	ext.copy_source = (struct mds_str){ source, strlen(source) };
	ext.copy_progress = ext.copy_total = src.size;
	ext.copy_done_ns = mds_txn_now_ns(t);
	/* The source's map is copied already, so releasing the old destination
	 * is safe even when source and destination are the same object. */
	rc = dest_release(t, op, &db, &d);
	if (rc == 0)
		rc = mds_blob_write(t, &db, op->name, &in, &ext, d.version, d.ctime_ns, &op->status);
	if (rc)
		return rc;
	op->out_bytes_delta = (int64_t)src.size - (int64_t)d.old_size;
	op->out_objects_delta = d.exists ? 0 : 1;
	rc = mds_blob_charge(t, op, &db, op->name, op->reservation, op->out_bytes_delta,
			     op->out_objects_delta);
	if (rc)
		return rc;
	memcpy(op->blob_out.id, idhex, sizeof(idhex));
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%.*s", (int)in.etag.len, in.etag.p);
	op->blob_out.size = ext.size;
	op->blob_out.blocks = ext.map_blocks;
	op->out_version = d.version;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

/* ---- asynchronous copies ------------------------------------------------------ */

static int apply_from_url(struct mds_txn *t, struct mds_op *op)
{
	static __thread uint8_t ival[MDS_COPY_INDEX_MAX];
	uint8_t id[MDS_BLOB_ID_LEN];
	char idhex[MDS_BLOB_ID_HEX + 1], etag[MDS_ETAG_MAX + 1];
	char token[MDS_RESERVATION_TOKEN_LEN + 1];
	struct mds_object ext;
	struct mds_object_in in = op->obj;
	struct mds_bucket b;
	struct dest d;
	int rc;

	if (op->blob.source_url.len == 0 || op->blob.source_url.len > SOURCE_MAX ||
	    !mds_utf8_is_valid(op->blob.source_url.p, op->blob.source_url.len))
		return mds_status_set(&op->status, MDS_EINVAL,
				      "copy source must be 1-%d bytes of UTF-8", SOURCE_MAX);
	in.size = 0;
	in.locator = MDS_STR_NULL;
	rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0)
		rc = mds_object_in_validate(&in, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	rc = dest_prepare(t, op, &b, &d);
	if (rc == 0)
		rc = dest_release(t, op, &b, &d);
	if (rc)
		return rc;
	if (mds_blob_id_new(id))
		return mds_status_set(&op->status, MDS_EINTERNAL, "cannot draw a random copy id");
	mds_blob_id_hex(idhex, id);
	mds_blob_etag(etag, mds_txn_now_ns(t), d.version);
	if (!in.etag.p)
		in.etag = (struct mds_str){ etag, strlen(etag) };
	memset(&ext, 0, sizeof(ext));
	ext.copy_status = MDS_COPY_PENDING;
	ext.copy_id = (struct mds_str){ idhex, MDS_BLOB_ID_HEX };
	ext.copy_source = op->blob.source_url;
	ext.copy_total = op->blob.size;
	/* The pending destination holds a reservation for the source size. */
	if (op->blob.size) {
		struct mds_op r;

		if (mds_quota_token_new(token))
			return mds_status_set(&op->status, MDS_EINTERNAL, "cannot draw a reservation token");
		mds_op_init(&r, MDS_OP_RESERVE);
		r.reservation = (struct mds_str){ token, MDS_RESERVATION_TOKEN_LEN };
		r.bucket = op->bucket;
		r.name = op->name;
		r.reserve_bytes = op->blob.size;
		r.reserve_ttl_ns = op->reserve_ttl_ns ? op->reserve_ttl_ns : COPY_RESERVE_TTL_NS;
		rc = mds_quota_apply(t, &r);
		if (rc) {
			op->status = r.status;
			return rc;
		}
	}
	rc = mds_kv_put(t, MDS_DB_COPIES, (struct mds_str){ (char *)id, sizeof(id) },
			(struct mds_str){ (char *)ival,
					  mds_copy_index_encode(ival, op->bucket, op->name,
								(struct mds_str){ token, op->blob.size ? MDS_RESERVATION_TOKEN_LEN : 0 }) });
	if (rc)
		return mds_status_set(&op->status, rc, "cannot index the copy: %s", mds_strerror(rc));
	rc = mds_blob_write(t, &b, op->name, &in, &ext, d.version, d.ctime_ns, &op->status);
	if (rc)
		return rc;
	op->out_bytes_delta = -(int64_t)d.old_size;
	op->out_objects_delta = d.exists ? 0 : 1;
	rc = mds_usage_charge(t, &b, op->name, op->out_bytes_delta, op->out_objects_delta,
			      &op->status);
	if (rc)
		return rc;
	memcpy(op->blob_out.id, idhex, sizeof(idhex));
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%.*s", (int)in.etag.len, in.etag.p);
	op->out_version = d.version;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

/*
 * Finds the pending copy @op->blob.id: its destination bucket @b, a copy of
 * the destination's name in @name, and the record @cur. When the op names
 * a bucket and object, they must be the copy's destination.
 */
static int copy_resolve(struct mds_txn *t, struct mds_op *op, uint8_t id[MDS_BLOB_ID_LEN],
			struct mds_bucket *b, char name[MDS_OBJECT_NAME_MAX], size_t *name_len,
			char token[MDS_BLOB_ID_HEX], size_t *token_len, struct mds_object *cur)
{
	static __thread char bucket[MDS_BUCKET_NAME_MAX];
	char q[MDS_QUOTE_MAX];
	struct mds_str v, bn, on, tk;
	int rc;

	if (mds_blob_id_parse(op->blob.id, id))
		return set_reason(op, MDS_REASON_COPY_ID,
				  mds_status_set(&op->status, MDS_EPRECOND, "'%s' is not a copy id",
						 mds_quote(q, op->blob.id)));
	rc = mds_kv_get(t, MDS_DB_COPIES, (struct mds_str){ (char *)id, MDS_BLOB_ID_LEN }, &v);
	if (rc == MDS_ENOTFOUND)
		return set_reason(op, MDS_REASON_COPY_ID,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "no pending copy '%s'; it completed, was aborted, or its destination was replaced",
						 mds_quote(q, op->blob.id)));
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read copy: %s", mds_strerror(rc));
	if (mds_copy_index_decode(v, &bn, &on, &tk))
		return mds_status_set(&op->status, MDS_ECORRUPT, "copy index entry is corrupt");
	memcpy(bucket, bn.p, bn.len);
	bn.p = bucket;
	*name_len = on.len;
	memcpy(name, on.p, on.len);
	on.p = name;
	memcpy(token, tk.p, tk.len);
	*token_len = tk.len;
	if ((op->bucket.len && !mds_str_eq(op->bucket, bn)) || (op->name.len && !mds_str_eq(op->name, on)))
		return set_reason(op, MDS_REASON_COPY_ID,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "copy '%s' belongs to another blob (CopyIdMismatch)",
						 mds_quote(q, op->blob.id)));
	rc = mds_ns_bucket_lookup(t, bn, b, &op->status);
	if (rc)
		return rc;
	rc = mds_ns_object_load(t, b, on, cur);
	if (rc == 0 && (cur->copy_status != MDS_COPY_PENDING ||
			!mds_str_eq(cur->copy_id, op->blob.id)))
		rc = MDS_ECORRUPT;
	if (rc)
		return mds_status_set(&op->status, rc == MDS_ENOTFOUND ? MDS_ECORRUPT : rc,
				      "copy '%s' is indexed but its destination is not pending; run mds check",
				      mds_quote(q, op->blob.id));
	return 0;
}

static int apply_copy_report(struct mds_txn *t, struct mds_op *op)
{
	static __thread char name[MDS_OBJECT_NAME_MAX];
	char etag[MDS_ETAG_MAX + 1], token[MDS_BLOB_ID_HEX];
	uint8_t id[MDS_BLOB_ID_LEN];
	struct mds_object cur;
	struct mds_object_in in;
	struct mds_bucket b;
	struct mds_str on, tk;
	size_t name_len = 0, token_len = 0;
	uint64_t version;
	int64_t delta = 0;
	int rc, finish = op->kind != MDS_OP_COPY_PROGRESS;

	rc = copy_resolve(t, op, id, &b, name, &name_len, token, &token_len, &cur);
	if (rc)
		return rc;
	on = (struct mds_str){ name, name_len };
	tk = (struct mds_str){ token_len ? token : NULL, token_len };
	rc = mds_blob_in_from(&cur, &in);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read the copy destination");
	version = cur.version;
	if (op->kind == MDS_OP_COPY_PROGRESS) {
		if (op->blob.size > cur.copy_total)
			return mds_status_set(&op->status, MDS_EINVAL,
					      "progress %llu is beyond the source size %llu",
					      (unsigned long long)op->blob.size,
					      (unsigned long long)cur.copy_total);
		if (op->blob.size > cur.copy_progress)
			cur.copy_progress = op->blob.size;
	} else if (op->kind == MDS_OP_ABORT_COPY || op->blob.copy_failed) {
		/* Azure: an aborted or failed copy leaves a blob of length 0 with its metadata. */
		if (op->blob.failure.len > FAILURE_MAX ||
		    !mds_utf8_is_valid(op->blob.failure.p, op->blob.failure.len))
			return mds_status_set(&op->status, MDS_EINVAL,
					      "failure description must be at most %d bytes of UTF-8",
					      FAILURE_MAX);
		cur.copy_status = op->kind == MDS_OP_ABORT_COPY ? MDS_COPY_ABORTED : MDS_COPY_FAILED;
		cur.copy_failure = op->kind == MDS_OP_ABORT_COPY ? MDS_STR("aborted") : op->blob.failure;
		cur.copy_done_ns = mds_txn_now_ns(t);
		version++;
	} else {
		if (op->obj.locator.len > MDS_LOCATOR_MAX || op->obj.etag.len > MDS_ETAG_MAX)
			return mds_status_set(&op->status, MDS_EINVAL, "locator or etag is too long");
		cur.copy_status = MDS_COPY_SUCCESS;
		cur.copy_progress = cur.copy_total = op->blob.size;
		cur.copy_done_ns = mds_txn_now_ns(t);
		in.size = op->blob.size;
		in.locator = op->obj.locator;
		version++;
		mds_blob_etag(etag, mds_txn_now_ns(t), version);
		in.etag = op->obj.etag.len ? op->obj.etag : (struct mds_str){ etag, strlen(etag) };
		delta = (int64_t)op->blob.size;
	}
	rc = mds_blob_write(t, &b, on, &in, &cur, version, cur.ctime_ns, &op->status);
	if (rc)
		return rc;
	if (finish) {
		rc = mds_kv_del(t, MDS_DB_COPIES, (struct mds_str){ (char *)id, sizeof(id) });
		if (rc)
			return mds_status_set(&op->status, rc, "cannot unindex the copy: %s",
					      mds_strerror(rc));
	}
	if (delta) {
		/* The bytes the pending copy reserved become usage; a reservation
		 * that expired meanwhile leaves a plain (checked) charge. */
		op->out_bytes_delta = delta;
		rc = mds_blob_charge(t, op, &b, on, tk, delta, 0);
		if (rc == MDS_ENOTFOUND && tk.len) {
			mds_status_clear(&op->status);
			rc = mds_usage_charge(t, &b, on, delta, 0, &op->status);
		}
		if (rc)
			return rc;
	} else if (finish) {
		rc = mds_blob_resv_release(t, tk);   /* failed, aborted, or 0 bytes */
		if (rc)
			return mds_status_set(&op->status, rc, "cannot release the copy's reservation: %s",
					      mds_strerror(rc));
	}
	op->blob_out.size = in.size;
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%.*s", (int)in.etag.len, in.etag.p);
	op->out_version = version;
	op->out_mtime_ns = mds_txn_now_ns(t);
	/* A report may name the copy by id alone: name its destination on the
	 * op so the feed leaf written by the post-apply hook (same thread,
	 * right after this returns) carries the destination's new record.
	 * The strings live in this thread's buffers until its next copy op. */
	if (!op->bucket.len || !op->name.len) {
		op->bucket = b.name;
		op->name = on;
	}
	return 0;
}

int mds_copy_apply(struct mds_txn *t, struct mds_op *op)
{
	switch (op->kind) {
	case MDS_OP_COPY_OBJECT:
		return apply_copy_object(t, op);
	case MDS_OP_PUT_BLOB_FROM_URL:
		return apply_from_url(t, op);
	case MDS_OP_COPY_PROGRESS:
	case MDS_OP_COPY_FINISH:
	case MDS_OP_ABORT_COPY:
		return apply_copy_report(t, op);
	default:
		break;
	}
	return mds_status_set(&op->status, MDS_EINVAL, "op kind %d is not a copy op", (int)op->kind);
}

/* ---- reads ------------------------------------------------------------------- */

int mds_get_copy_status(struct mds_reader *r, struct mds_str copy_id, struct mds_copy_info *out,
			struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	uint8_t id[MDS_BLOB_ID_LEN];
	char q[MDS_QUOTE_MAX];
	struct mds_bucket b;
	struct mds_object o;
	struct mds_str v, tk;
	int rc;

	memset(out, 0, sizeof(*out));
	if (mds_blob_id_parse(copy_id, id))
		return mds_status_set(st, MDS_EINVAL, "'%s' is not a copy id", mds_quote(q, copy_id));
	rc = mds_kv_get(t, MDS_DB_COPIES, (struct mds_str){ (char *)id, sizeof(id) }, &v);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc,
				      "no pending copy '%s'; head the destination for a finished copy's state",
				      mds_quote(q, copy_id));
	if (rc)
		return mds_status_set(st, rc, "cannot read copy: %s", mds_strerror(rc));
	if (mds_copy_index_decode(v, &out->bucket, &out->name, &tk))
		return mds_status_set(st, MDS_ECORRUPT, "copy index entry is corrupt");
	rc = mds_ns_bucket_lookup(t, out->bucket, &b, st);
	if (rc)
		return rc;
	rc = mds_ns_object_load(t, &b, out->name, &o);
	if (rc)
		return mds_status_set(st, rc == MDS_ENOTFOUND ? MDS_ECORRUPT : rc,
				      "copy '%s' has no destination record; run mds check",
				      mds_quote(q, copy_id));
	out->status = o.copy_status;
	out->source = o.copy_source;
	out->failure = o.copy_failure;
	out->progress = o.copy_progress;
	out->total = o.copy_total;
	out->done_ns = o.copy_done_ns;
	return 0;
}
