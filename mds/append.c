/*
 * append.c - Azure Append Blob records: create, Append Block, Seal.
 *
 * An append blob is an object record of blob type MDS_BLOB_APPEND whose
 * block map (blobmap.c) lists its blocks in commit order. Append Block
 * checks its conditions (If-Match, appendpos, maxsize), the seal, the
 * 50,000-block limit and the blob's largest block size, then adds one
 * block at offset = current size and rewrites the record with the new
 * size, a fresh ETag and version - all in the op's nested transaction, so
 * concurrent appenders are serialised in commit order by the single
 * writer and an append is applied entirely or not at all. A client that
 * retries with the same appendpos after a lost answer gets
 * AppendPositionConditionNotMet instead of a second copy of its block.
 *
 * What must stay true: record size == sum of block sizes, map_blocks ==
 * number of blocks, usage charged by exactly the growth.
 */
#include <stdio.h>
#include <string.h>

#include "blobs.h"
#include "retention.h"
#include "record.h"
#include "util.h"

static int set_reason(struct mds_op *op, uint8_t reason, int rc)
{
	op->blob_out.reason = reason;
	return rc;
}

/* If-Match / If-None-Match against @cur (NULL = absent); Azure answers 412. */
static int etag_cond(struct mds_op *op, const struct mds_object *cur)
{
	return mds_blob_cond_check(op, &op->cond, cur, MDS_REASON_ETAG, "blob", op->name);
}

static void fill_out(struct mds_op *op, const struct mds_object *o, const char *etag,
		     uint64_t version)
{
	op->blob_out.size = o->size;
	op->blob_out.blocks = o->map_blocks;
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%s", etag);
	op->out_version = version;
}

static int apply_create(struct mds_txn *t, struct mds_op *op)
{
	char etag[MDS_ETAG_MAX + 1];
	struct mds_object cur, ext;
	struct mds_object_in in;
	struct mds_bucket b;
	uint64_t version = 1, ctime = mds_txn_now_ns(t), max_block = op->blob.max_block_size;
	int exists, rc;

	if (max_block == 0)
		max_block = MDS_APPEND_BLOCK_DEFAULT;
	if (max_block > MDS_APPEND_BLOCK_MAX)
		return mds_status_set(&op->status, MDS_EINVAL,
				      "largest append block %llu is above Azure's %u bytes",
				      (unsigned long long)max_block, MDS_APPEND_BLOCK_MAX);
	in = op->obj;
	in.size = 0;
	in.blob_type = MDS_BLOB_APPEND;
	in.locator = MDS_STR_NULL;
	rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0)
		rc = mds_object_in_validate(&in, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	rc = mds_ns_object_load(t, &b, op->name, &cur);
	if (rc && rc != MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "cannot read blob: %s", mds_strerror(rc));
	exists = rc == 0;
	rc = etag_cond(op, exists ? &cur : NULL);
	if (rc == 0 && exists)
		rc = mds_retention_check(t, op, op->name, &cur, "overwrite");
	if (rc)
		return rc;
	if (exists) {
		version = cur.version + 1;
		ctime = cur.ctime_ns;
		op->out_bytes_delta = -(int64_t)cur.size;
		rc = mds_blob_release(t, &cur);
		if (rc)
			return mds_status_set(&op->status, rc, "cannot release old blob: %s",
					      mds_strerror(rc));
	}
	op->out_objects_delta = exists ? 0 : 1;
	memset(&ext, 0, sizeof(ext));
	ext.map_kind = MDS_MAP_APPEND;
	ext.max_block_size = max_block;
	rc = mds_map_create(t, &b, op->name, &ext.map_id);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot create block map: %s", mds_strerror(rc));
	mds_blob_etag(etag, mds_txn_now_ns(t), version);
	in.etag = (struct mds_str){ etag, strlen(etag) };
	rc = mds_usage_charge(t, &b, op->name, op->out_bytes_delta, op->out_objects_delta,
			      &op->status);
	if (rc == 0)
		rc = mds_blob_write(t, &b, op->name, &in, &ext, version, ctime, &op->status);
	if (rc)
		return rc;
	ext.size = 0;
	fill_out(op, &ext, etag, version);
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

/* Loads the append blob @op names; checks type and If-Match. */
static int load_append(struct mds_txn *t, struct mds_op *op, struct mds_bucket *b,
		       struct mds_object *cur)
{
	char q[MDS_QUOTE_MAX];
	int rc = mds_ns_object_find(t, op->bucket, op->name, "blob", "container", b, cur,
				    &op->status);

	if (rc)
		return rc;
	if (cur->blob_type != MDS_BLOB_APPEND || cur->map_kind != MDS_MAP_APPEND)
		return set_reason(op, MDS_REASON_NOT_APPEND,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "blob '%s' is not an append blob", mds_quote(q, op->name)));
	return etag_cond(op, cur);
}

static int apply_block(struct mds_txn *t, struct mds_op *op)
{
	char etag[MDS_ETAG_MAX + 1], q[MDS_QUOTE_MAX];
	struct mds_object cur;
	struct mds_object_in in;
	struct mds_map_entry e;
	struct mds_bucket b;
	uint64_t size = op->blob.size, version;
	int rc;

	if (size == 0)
		return mds_status_set(&op->status, MDS_EINVAL, "append block of 0 bytes");
	if (op->blob.locator.len > MDS_LOCATOR_MAX)
		return mds_status_set(&op->status, MDS_EINVAL, "block locator is %zu bytes; the limit is %d",
				      op->blob.locator.len, MDS_LOCATOR_MAX);
	rc = load_append(t, op, &b, &cur);
	if (rc == 0)   /* Azure: no appends under a policy without allowProtectedAppendWrites */
		rc = mds_retention_check(t, op, op->name, &cur, "append to");
	if (rc)
		return rc;
	if (cur.sealed)
		return set_reason(op, MDS_REASON_SEALED,
				  mds_status_set(&op->status, MDS_EPRECOND, "blob '%s' is sealed",
						 mds_quote(q, op->name)));
	if (op->blob.if_append_pos && op->blob.append_pos != cur.size)
		return set_reason(op, MDS_REASON_APPEND_POS,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "append position %llu is not the size %llu of blob '%s'",
						 (unsigned long long)op->blob.append_pos,
						 (unsigned long long)cur.size, mds_quote(q, op->name)));
	if (op->blob.if_max_size && (size > op->blob.max_size ||
				     cur.size > op->blob.max_size - size))
		return set_reason(op, MDS_REASON_MAX_SIZE,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "blob '%s' would grow to %llu bytes, above the max size %llu",
						 mds_quote(q, op->name),
						 (unsigned long long)(cur.size + size),
						 (unsigned long long)op->blob.max_size));
	if (cur.map_blocks >= MDS_BLOCKS_MAX)
		return set_reason(op, MDS_REASON_BLOCK_COUNT,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "blob '%s' already has %d committed blocks",
						 mds_quote(q, op->name), MDS_BLOCKS_MAX));
	if (size > cur.max_block_size)
		return set_reason(op, MDS_REASON_BLOCK_SIZE,
				  mds_status_set(&op->status, MDS_EINVAL,
						 "append block of %llu bytes is above the limit %llu of blob '%s'",
						 (unsigned long long)size,
						 (unsigned long long)cur.max_block_size,
						 mds_quote(q, op->name)));
	version = cur.version + 1;
	e = (struct mds_map_entry){ cur.size, size, MDS_STR_NULL, op->blob.locator };
	rc = mds_blob_in_from(&cur, &in);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read blob '%s'", mds_quote(q, op->name));
	op->blob_out.append_offset = cur.size;
	mds_blob_etag(etag, mds_txn_now_ns(t), version);
	in.etag = (struct mds_str){ etag, strlen(etag) };
	in.size = cur.size + size;
	cur.size += size;
	cur.map_blocks++;
	/* The record is encoded (copied) before the map write below. */
	rc = mds_blob_write(t, &b, op->name, &in, &cur, version, cur.ctime_ns, &op->status);
	if (rc)
		return rc;
	rc = mds_map_put(t, cur.map_id, cur.map_blocks - 1, &e);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot add block to '%s': %s",
				      mds_quote(q, op->name), mds_strerror(rc));
	op->out_bytes_delta = (int64_t)size;
	rc = mds_blob_charge(t, op, &b, op->name, op->reservation, (int64_t)size, 0);
	if (rc)
		return rc;
	op->blob_out.size = in.size;
	op->blob_out.blocks = cur.map_blocks;
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%s", etag);
	op->out_version = version;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

static int apply_seal(struct mds_txn *t, struct mds_op *op)
{
	char etag[MDS_ETAG_MAX + 1], q[MDS_QUOTE_MAX];
	struct mds_object cur;
	struct mds_object_in in;
	struct mds_bucket b;
	int rc = load_append(t, op, &b, &cur);

	if (rc)
		return rc;
	if (op->blob.if_append_pos && op->blob.append_pos != cur.size)
		return set_reason(op, MDS_REASON_APPEND_POS,
				  mds_status_set(&op->status, MDS_EPRECOND,
						 "append position %llu is not the size %llu of blob '%s'",
						 (unsigned long long)op->blob.append_pos,
						 (unsigned long long)cur.size, mds_quote(q, op->name)));
	rc = mds_blob_in_from(&cur, &in);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read blob '%s'", mds_quote(q, op->name));
	/* Sealing twice is allowed (Azure answers 200) and changes nothing. */
	if (!cur.sealed) {
		mds_blob_etag(etag, mds_txn_now_ns(t), cur.version + 1);
		in.etag = (struct mds_str){ etag, strlen(etag) };
		cur.sealed = 1;
		rc = mds_blob_write(t, &b, op->name, &in, &cur, cur.version + 1, cur.ctime_ns,
				    &op->status);
		if (rc)
			return rc;
		cur.version++;
	} else {
		snprintf(etag, sizeof(etag), "%.*s", (int)cur.etag.len, cur.etag.p);
	}
	op->blob_out.size = cur.size;
	op->blob_out.blocks = cur.map_blocks;
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%s", etag);
	op->out_version = cur.version;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

int mds_append_apply(struct mds_txn *t, struct mds_op *op)
{
	switch (op->kind) {
	case MDS_OP_APPEND_CREATE:
		return apply_create(t, op);
	case MDS_OP_APPEND_BLOCK:
		return apply_block(t, op);
	case MDS_OP_SEAL_BLOB:
		return apply_seal(t, op);
	default:
		break;
	}
	return mds_status_set(&op->status, MDS_EINVAL, "op kind %d is not an append op", (int)op->kind);
}
