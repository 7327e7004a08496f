/*
 * blob.c - the machinery the blob and S3 parity modules share: the
 * dispatcher for op kinds 30-49, usage charges that convert quota
 * reservations, If-Match / If-None-Match with a machine-readable reason,
 * rewriting object records with their blob fields, releasing what a
 * replaced record owned, ids and ETags, the block-map read, and the
 * block-map and copy-index part of `mds check`.
 *
 * What must stay true: every record rewrite goes through mds_blob_write,
 * which encodes into a private buffer before anything is written, so the
 * caller may pass strings that point into the record being replaced; every
 * usage change of these ops goes through mds_blob_charge and so through
 * mds_usage_charge (quota checks) exactly once per op.
 */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "blobs.h"
#include "nametree.h"
#include "ns_internal.h"
#include "quota.h"
#include "record.h"
#include "util.h"

#define REC_BUF_MAX 20480

int mds_blob_apply(struct mds_txn *t, struct mds_op *op)
{
	memset(&op->blob_out, 0, sizeof(op->blob_out));
	switch (op->kind) {
	case MDS_OP_APPEND_CREATE:
	case MDS_OP_APPEND_BLOCK:
	case MDS_OP_SEAL_BLOB:
		return mds_append_apply(t, op);
	case MDS_OP_COPY_OBJECT:
	case MDS_OP_PUT_BLOB_FROM_URL:
	case MDS_OP_COPY_PROGRESS:
	case MDS_OP_COPY_FINISH:
	case MDS_OP_ABORT_COPY:
		return mds_copy_apply(t, op);
	case MDS_OP_CREATE_MULTIPART:
	case MDS_OP_UPLOAD_PART:
	case MDS_OP_COMPLETE_MULTIPART:
	case MDS_OP_ABORT_MULTIPART:
	case MDS_OP_EXPIRE_MULTIPART:
		return mds_multipart_apply(t, op);
	case MDS_OP_PUT_BLOCK:
	case MDS_OP_PUT_BLOCK_LIST:
		return mds_blocklist_apply(t, op);
	default:
		break;
	}
	return mds_status_set(&op->status, MDS_EINVAL, "unknown blob op kind %d", (int)op->kind);
}

int mds_blob_release(struct mds_txn *t, const struct mds_object *old)
{
	uint8_t id[MDS_BLOB_ID_LEN];
	uint64_t map = old->map_id;
	int rc = 0;

	if (old->copy_status == MDS_COPY_PENDING && mds_blob_id_parse(old->copy_id, id) == 0) {
		struct mds_str key = { (char *)id, sizeof(id) }, v, bn, nm, tk;
		char token[MDS_BLOB_ID_HEX];

		/* The copy ends with its record: its reservation goes back. */
		rc = mds_kv_get(t, MDS_DB_COPIES, key, &v);
		if (rc == 0 && mds_copy_index_decode(v, &bn, &nm, &tk) == 0 && tk.len) {
			memcpy(token, tk.p, tk.len);
			rc = mds_blob_resv_release(t, (struct mds_str){ token, tk.len });
		}
		if (rc == 0)
			rc = mds_kv_del(t, MDS_DB_COPIES, key);
		if (rc == MDS_ENOTFOUND)
			rc = 0;
	}
	if (rc == 0 && map)
		rc = mds_map_free(t, map);
	return rc;
}

int mds_blob_bucket_drop(struct mds_txn *t, uint64_t bucket_id)
{
	int rc = mds_multipart_bucket_drop(t, bucket_id);

	if (rc == 0)
		rc = mds_blocklist_bucket_drop(t, bucket_id);
	return rc;
}

/* ---- usage and reservations ------------------------------------------------ */

int mds_blob_charge(struct mds_txn *t, struct mds_op *op, const struct mds_bucket *b,
		    struct mds_str name, struct mds_str token, int64_t bytes, int64_t objects)
{
	int rc;

	if (token.len == 0)
		return mds_usage_charge(t, b, name, bytes, objects, &op->status);
	rc = mds_quota_commit_begin(t, token, b->name, name, &op->status);
	if (rc)
		return rc;
	rc = mds_usage_charge(t, b, name, bytes, objects, &op->status);
	mds_quota_commit_end();
	return rc;
}

int mds_blob_resv_release(struct mds_txn *t, struct mds_str token)
{
	struct mds_op rel;
	int rc;

	if (token.len == 0)
		return 0;
	mds_op_init(&rel, MDS_OP_RESERVE_RELEASE);
	rel.reservation = token;
	rc = mds_quota_apply(t, &rel);
	return rc == MDS_ENOTFOUND ? 0 : rc;   /* expired and swept, or committed */
}

/* ---- conditions ------------------------------------------------------------ */

static int is_star(struct mds_str s)
{
	return s.len == 1 && s.p[0] == '*';
}

int mds_blob_cond_check(struct mds_op *op, const struct mds_cond *c, const struct mds_object *cur,
			uint8_t reason, const char *what, struct mds_str name)
{
	char q[MDS_QUOTE_MAX];

	if (c->if_match.p && (!cur || (!is_star(c->if_match) && !mds_str_eq(c->if_match, cur->etag)))) {
		op->blob_out.reason = reason;
		return mds_status_set(&op->status, MDS_EPRECOND, "if-match failed on %s '%s'", what,
				      mds_quote(q, name));
	}
	if (c->if_none_match.p && cur &&
	    (is_star(c->if_none_match) || mds_str_eq(c->if_none_match, cur->etag))) {
		op->blob_out.reason = reason;
		return mds_status_set(&op->status, MDS_EPRECOND, "if-none-match failed on %s '%s'",
				      what, mds_quote(q, name));
	}
	return 0;
}

/* ---- records -------------------------------------------------------------- */

static int pairs_unpack(struct mds_str raw, struct mds_pair *out, size_t cap, size_t *n)
{
	struct mds_pair p;
	int rc;

	*n = 0;
	while ((rc = mds_pairs_next(&raw, &p)) == 1) {
		if (*n == cap)
			return MDS_ECORRUPT;
		out[(*n)++] = p;
	}
	return rc;
}

int mds_blob_in_from(const struct mds_object *o, struct mds_object_in *in)
{
	static __thread struct mds_pair meta[MDS_META_MAX], tags[MDS_TAGS_MAX];
	int rc;

	memset(in, 0, sizeof(*in));
	in->size = o->size;
	in->blob_type = o->blob_type;
	in->etag = o->etag;
	in->content_type = o->content_type;
	in->locator = o->locator;
	in->retention_mode = o->retention_mode;   /* kept by in-place rewrites */
	in->legal_hold = o->legal_hold;
	in->retain_until_ns = o->retain_until_ns;
	rc = pairs_unpack(o->meta_raw, meta, MDS_META_MAX, &in->n_meta);
	if (rc == 0)
		rc = pairs_unpack(o->tags_raw, tags, MDS_TAGS_MAX, &in->n_tags);
	in->meta = meta;
	in->tags = tags;
	return rc;
}

int mds_blob_write(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		   const struct mds_object_in *in, const struct mds_object *ext,
		   uint64_t version, uint64_t ctime_ns, struct mds_status *st)
{
	static __thread uint8_t buf[REC_BUF_MAX];
	char q[MDS_QUOTE_MAX];
	size_t n = mds_object_encoded_size(in), x = mds_object_ext_encode(NULL, ext);
	int rc;

	if (n + x > sizeof(buf))
		return mds_status_set(st, MDS_EINVAL, "record of '%s' would be %zu bytes; the limit is %d",
				      mds_quote(q, name), n + x, REC_BUF_MAX);
	n = mds_object_encode(buf, sizeof(buf), in, version, ctime_ns, mds_txn_now_ns(t));
	n += mds_object_ext_encode(buf + n, ext);
	rc = mds_ns_object_store(t, b, name, (struct mds_str){ (char *)buf, n });
	if (rc)
		return mds_status_set(st, rc, "cannot store object '%s': %s", mds_quote(q, name),
				      mds_strerror(rc));
	return 0;
}

void mds_blob_etag(char out[MDS_ETAG_MAX + 1], uint64_t mtime_ns, uint64_t version)
{
	snprintf(out, MDS_ETAG_MAX + 1, "\"0x%016llX%08llX\"", (unsigned long long)mtime_ns,
		 (unsigned long long)(version & 0xffffffffu));
}

/* ---- ids ------------------------------------------------------------------- */

int mds_blob_id_new(uint8_t id[MDS_BLOB_ID_LEN])
{
	return RAND_bytes(id, MDS_BLOB_ID_LEN) == 1 ? 0 : MDS_EINTERNAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mds_blob_id_parse(struct mds_str hex, uint8_t id[MDS_BLOB_ID_LEN])
{
	if (hex.len != MDS_BLOB_ID_HEX)
		return MDS_EINVAL;
	for (size_t i = 0; i < MDS_BLOB_ID_LEN; i++) {
		int hi = hexval(hex.p[2 * i]), lo = hexval(hex.p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return MDS_EINVAL;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void mds_blob_id_hex(char out[MDS_BLOB_ID_HEX + 1], const uint8_t id[MDS_BLOB_ID_LEN])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < MDS_BLOB_ID_LEN; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[MDS_BLOB_ID_HEX] = '\0';
}

/* The next id of the island's counter (ns_internal.h), taken. */
int mds_blob_next_id(struct mds_txn *t, uint64_t *id)
{
	int rc = mds_ns_next_id_read(t, id);

	return rc ? rc : mds_ns_next_id_write(t, *id + 1);
}

/* ---- check ------------------------------------------------------------------- */


/*
 * Finds the bucket with id @id: a scan of the buckets, remembered for the
 * next call (maps of one bucket tend to follow each other).
 */
int mds_blob_bucket_by_id(struct mds_txn *t, uint64_t id, struct mds_bucket *b,
			  struct mds_bucket *last)
{
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	int rc;

	if (last->id == id && last->name.p) {
		*b = *last;
		return 0;
	}
	rc = mds_kv_cursor_open(t, MDS_DB_BUCKETS, &c);
	if (rc)
		return rc;
	for (rc = mds_kv_first(c, &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v)) {
		if (mds_bucket_decode(v.p, v.len, b) == 0 && b->id == id) {
			b->name = k;
			break;
		}
	}
	mds_kv_cursor_close(c);
	if (rc == 0)
		*last = *b;
	return rc;
}

/*
 * Checks map @id whose owner entry is @owner: its blocks 0..n-1 (counted
 * into *@counted), their offsets, and that the owner holds the map with
 * that many blocks and bytes.
 */
static int check_map(struct mds_txn *t, struct mds_check_ctx *ck, uint64_t id, struct mds_str owner,
		     struct mds_bucket *last, uint64_t *counted)
{
	char q[MDS_QUOTE_MAX];
	struct mds_bucket b;
	struct mds_object o;
	struct mds_str name;
	uint64_t offset = 0;
	uint32_t n = 0;
	int rc;

	for (;; n++) {
		struct mds_map_entry e;

		rc = mds_map_get(t, id, n, &e);
		if (rc == MDS_ENOTFOUND)
			break;
		if (rc == MDS_ECORRUPT) {
			mds_check_problem(ck, "block map %llu: block %u does not decode", (unsigned long long)id, n);
			continue;
		}
		if (rc)
			return rc;
		if (e.offset != offset)
			mds_check_problem(ck, "block map %llu: block %u starts at %llu, expected %llu",
				(unsigned long long)id, n, (unsigned long long)e.offset,
				(unsigned long long)offset);
		offset += e.size;
	}
	*counted += n;
	if (owner.len < 9) {
		mds_check_problem(ck, "block map %llu: owner entry is malformed", (unsigned long long)id);
		return 0;
	}
	name = (struct mds_str){ owner.p + 8, owner.len - 8 };
	rc = mds_blob_bucket_by_id(t, mds_le64_get((const uint8_t *)owner.p), &b, last);
	if (rc == 0)
		rc = mds_ns_object_load(t, &b, name, &o);
	if (rc == MDS_ENOTFOUND || (rc == 0 && o.map_id != id)) {
		mds_check_problem(ck, "block map %llu: its owner '%s' does not hold it (leaked map)",
			(unsigned long long)id, mds_quote(q, name));
		return 0;
	}
	if (rc)
		return rc;
	if (n != o.map_blocks || offset != o.size)
		mds_check_problem(ck, "object '%s': record says %u blocks / %llu bytes, its map holds %u / %llu",
			mds_quote(q, name), o.map_blocks, (unsigned long long)o.size, n,
			(unsigned long long)offset);
	return 0;
}

long mds_blob_check(struct mds_txn *t, mds_check_report_fn report, void *arg,
		    uint64_t *tree_entries)
{
	struct mds_check_ctx ck = { report, arg, 0 };
	struct mds_bucket last;
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	uint64_t blocks = 0, counted = 0;
	long mp;
	int rc;

	memset(&last, 0, sizeof(last));
	/* Block maps: every owner entry, then its blocks by index. */
	rc = mds_kv_cursor_open(t, MDS_DB_BLOB_MAPS, &c);
	if (rc)
		return rc;
	for (rc = mds_kv_first(c, &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v)) {
		if (k.len == 12) {
			blocks++;
			continue;
		}
		if (k.len != 8) {
			mds_check_problem(&ck, "blob_maps: key of %zu bytes", k.len);
			continue;
		}
		rc = check_map(t, &ck, mds_be64_get((const uint8_t *)k.p), v, &last, &counted);
		if (rc)
			break;
	}
	mds_kv_cursor_close(c);
	if (rc != MDS_ENOTFOUND)
		return rc;
	if (blocks != counted)
		mds_check_problem(&ck, "blob_maps holds %llu blocks but only %llu belong to a map's 0..n-1 range",
			(unsigned long long)blocks, (unsigned long long)counted);

	/* Copy index: every entry names a pending destination with that id. */
	rc = mds_kv_cursor_open(t, MDS_DB_COPIES, &c);
	if (rc)
		return rc;
	for (rc = mds_kv_first(c, &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v)) {
		char hex[MDS_BLOB_ID_HEX + 1], q[MDS_QUOTE_MAX];
		struct mds_bucket b;
		struct mds_object o;
		struct mds_str bucket, name, tk;
		int lrc;

		if (k.len != MDS_BLOB_ID_LEN || mds_copy_index_decode(v, &bucket, &name, &tk)) {
			mds_check_problem(&ck, "copies: malformed entry");
			continue;
		}
		mds_blob_id_hex(hex, (const uint8_t *)k.p);
		lrc = mds_ns_bucket_lookup(t, bucket, &b, NULL);
		if (lrc == 0)
			lrc = mds_ns_object_load(t, &b, name, &o);
		if (lrc || o.copy_status != MDS_COPY_PENDING ||
		    !mds_str_eq(o.copy_id, (struct mds_str){ hex, MDS_BLOB_ID_HEX }))
			mds_check_problem(&ck, "copy %s: destination '%s' is not pending with that copy id", hex,
				mds_quote(q, name));
	}
	mds_kv_cursor_close(c);
	if (rc != MDS_ENOTFOUND)
		return rc;

	mp = mds_multipart_check(t, report, arg, tree_entries);
	if (mp < 0)
		return mp;
	ck.problems += mp;
	mp = mds_blocklist_check(t, report, arg);
	if (mp < 0)
		return mp;
	return ck.problems + mp;
}

/* ---- reads -------------------------------------------------------------------- */

int mds_blob_blocks(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		    uint32_t start, size_t limit, mds_block_emit_fn emit, void *arg,
		    struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	char q[MDS_QUOTE_MAX];
	struct mds_bucket b;
	struct mds_object o;
	size_t n = 0;
	int rc;

	rc = mds_ns_object_find(t, bucket, name, "object", "bucket", &b, &o, st);
	if (rc)
		return rc;
	for (uint32_t i = start; o.map_id && i < o.map_blocks && (!limit || n < limit); i++, n++) {
		struct mds_map_entry e;
		struct mds_block blk;

		rc = mds_map_get(t, o.map_id, i, &e);
		if (rc)
			return mds_status_set(st, rc == MDS_ENOTFOUND ? MDS_ECORRUPT : rc,
					      "block %u of '%s' is missing or corrupt; run mds check", i,
					      mds_quote(q, name));
		blk = (struct mds_block){ i, e.offset, e.size, e.id, e.locator, 1 };
		rc = emit(arg, &blk);
		if (rc)
			return rc;
	}
	return 0;
}
