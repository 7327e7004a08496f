/*
 * blocklist.c - Azure block blobs built from blocks: Put Block stages a
 * block (id, size, locator) for a blob name, Put Block List commits an
 * ordered list of staged and/or already committed blocks as the blob's
 * content, Get Block List reads both lists back.
 *
 * Layout (database staged_blocks, see docs/storage-format.md):
 *   key bucket id(8 BE) sha256(name)(32)          -> count of staged blocks (8 LE)
 *   key bucket id(8 BE) sha256(name)(32) block id -> size(8 LE) locator
 * Names are up to 1,024 bytes, keys at most 511, so a name is represented
 * by its SHA-256; the count entry sorts first and bounds the staged blocks
 * per name (Azure: 100,000) without a scan. The committed list is the
 * blob's block map (blobmap.c), map kind MDS_MAP_BLOCKLIST, whose block
 * ids are the Azure block ids.
 *
 * Put Block List resolves every listed id (Latest: staged first, then
 * committed), copies what it needs into memory, and only then writes: the
 * new map, the record, usage, and the removal of every staged block of
 * the name (Azure discards uncommitted blocks on commit) - one op, one
 * nested transaction.
 *
 * What must stay true: a name's count entry equals the number of its
 * staged blocks, and is absent when there are none.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobs.h"
#include "retention.h"
#include "record.h"
#include "util.h"

#define SKEY_BASE (8 + 32)
#define SKEY_MAX (SKEY_BASE + MDS_BLOCK_ID_MAX)

static int set_reason(struct mds_op *op, uint8_t reason, int rc)
{
	op->blob_out.reason = reason;
	return rc;
}

/* The staging prefix of @name in bucket @bucket_id; MDS_EINTERNAL if hashing fails. */
static int skey_base(uint8_t key[SKEY_MAX], uint64_t bucket_id, struct mds_str name)
{
	unsigned n = 0;

	mds_be64_put(key, bucket_id);
	if (EVP_Digest(name.p, name.len, key + 8, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return MDS_EINTERNAL;
	return 0;
}

static struct mds_str skey(uint8_t key[SKEY_MAX], struct mds_str block_id)
{
	if (block_id.len)
		memcpy(key + SKEY_BASE, block_id.p, block_id.len);
	return (struct mds_str){ (char *)key, SKEY_BASE + block_id.len };
}

static int count_get(struct mds_txn *t, uint8_t key[SKEY_MAX], uint64_t *count)
{
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_STAGED, skey(key, MDS_STR_NULL), &v);

	*count = 0;
	if (rc == MDS_ENOTFOUND)
		return 0;
	if (rc == 0 && v.len != 8)
		return MDS_ECORRUPT;
	if (rc == 0)
		*count = mds_le64_get((const uint8_t *)v.p);
	return rc;
}

static int count_put(struct mds_txn *t, uint8_t key[SKEY_MAX], uint64_t count)
{
	uint8_t v[8];

	if (count == 0)
		return mds_kv_del(t, MDS_DB_STAGED, skey(key, MDS_STR_NULL));
	mds_le64_put(v, count);
	return mds_kv_put(t, MDS_DB_STAGED, skey(key, MDS_STR_NULL), (struct mds_str){ (char *)v, 8 });
}

static int validate_block_id(struct mds_op *op, struct mds_str id)
{
	if (id.len == 0 || id.len > MDS_BLOCK_ID_MAX)
		return set_reason(op, MDS_REASON_INVALID_BLOCK_LIST,
				  mds_status_set(&op->status, MDS_EINVAL,
						 "block id is %zu bytes; it must be 1-%d", id.len,
						 MDS_BLOCK_ID_MAX));
	return 0;
}

static int apply_put_block(struct mds_txn *t, struct mds_op *op)
{
	static __thread uint8_t val[8 + MDS_LOCATOR_MAX];
	uint8_t key[SKEY_MAX];
	struct mds_kcur *c = NULL;
	struct mds_bucket b;
	struct mds_str v, k, cv;
	uint64_t count;
	int rc;

	rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0)
		rc = validate_block_id(op, op->blob.id);
	if (rc)
		return rc;
	if (op->blob.size > MDS_BLOCK_SIZE_MAX)
		return set_reason(op, MDS_REASON_BLOCK_SIZE,
				  mds_status_set(&op->status, MDS_EINVAL,
						 "block of %llu bytes is above 4,000 MiB",
						 (unsigned long long)op->blob.size));
	if (op->blob.locator.len > MDS_LOCATOR_MAX)
		return mds_status_set(&op->status, MDS_EINVAL, "block locator is too long");
	rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	rc = skey_base(key, b.id, op->name);
	if (rc == 0)
		rc = count_get(t, key, &count);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read staged blocks: %s", mds_strerror(rc));
	/* Azure: every block id of a blob has the same length (400 InvalidBlobOrBlock). */
	if (count) {
		rc = mds_kv_cursor_open(t, MDS_DB_STAGED, &c);
		if (rc == 0)
			rc = mds_kv_seek(c, skey(key, MDS_STR("\x00")), &k, &cv);
		if (rc == 0 && k.len > SKEY_BASE && memcmp(k.p, key, SKEY_BASE) == 0 &&
		    k.len != SKEY_BASE + op->blob.id.len)
			rc = MDS_EINVAL;
		mds_kv_cursor_close(c);
		if (rc == MDS_EINVAL)
			return set_reason(op, MDS_REASON_INVALID_BLOCK_LIST,
					  mds_status_set(&op->status, rc,
							 "block ids of one blob must all have the same length"));
		if (rc && rc != MDS_ENOTFOUND)
			return mds_status_set(&op->status, rc, "cannot read staged blocks: %s",
					      mds_strerror(rc));
	}
	rc = mds_kv_get(t, MDS_DB_STAGED, skey(key, op->blob.id), &v);
	if (rc && rc != MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "cannot read staged block: %s", mds_strerror(rc));
	if (rc == MDS_ENOTFOUND) {
		if (count >= MDS_STAGED_MAX)
			return set_reason(op, MDS_REASON_BLOCK_COUNT,
					  mds_status_set(&op->status, MDS_EPRECOND,
							 "the blob already has %d uncommitted blocks",
							 MDS_STAGED_MAX));
		rc = count_put(t, key, count + 1);
		if (rc)
			return mds_status_set(&op->status, rc, "cannot stage block: %s", mds_strerror(rc));
	}
	/* Staging an id again replaces the block. */
	mds_le64_put(val, op->blob.size);
	if (op->blob.locator.len)
		memcpy(val + 8, op->blob.locator.p, op->blob.locator.len);
	rc = mds_kv_put(t, MDS_DB_STAGED, skey(key, op->blob.id),
			(struct mds_str){ (char *)val, 8 + op->blob.locator.len });
	if (rc)
		return mds_status_set(&op->status, rc, "cannot stage block: %s", mds_strerror(rc));
	op->blob_out.size = op->blob.size;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

/* A resolved block, copied out of the store before any write. */
struct rblock {
	uint64_t size;
	size_t id_off, id_len, loc_off, loc_len;
};

struct arena {
	char *p;
	size_t len, cap;
};

static long arena_add(struct arena *a, struct mds_str s)
{
	size_t off = a->len;

	if (a->len + s.len > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 65536;
		char *np;

		while (cap < a->len + s.len)
			cap *= 2;
		np = realloc(a->p, cap);
		if (!np)
			return -1;
		a->p = np;
		a->cap = cap;
	}
	if (s.len)
		memcpy(a->p + a->len, s.p, s.len);
	a->len += s.len;
	return (long)off;
}

/*
 * The committed list of the blob being replaced, copied into memory and
 * sorted by block id, so that resolving n Committed/Latest entries costs
 * O(n log n) rather than a walk of the map per entry.
 */
struct committed {
	struct rblock *v;
	size_t n;
	const struct arena *ar;
};

static const struct arena *sort_arena;

static int rblock_cmp(const void *a, const void *b)
{
	const struct rblock *x = a, *y = b;
	struct mds_str sx = { sort_arena->p + x->id_off, x->id_len };
	struct mds_str sy = { sort_arena->p + y->id_off, y->id_len };

	return mds_str_cmp(sx, sy);
}

static int committed_load(struct mds_txn *t, const struct mds_object *cur, struct arena *ar,
			  struct committed *c)
{
	c->v = NULL;
	c->n = 0;
	c->ar = ar;
	if (!cur || cur->map_kind != MDS_MAP_BLOCKLIST || cur->map_blocks == 0)
		return 0;
	c->v = calloc(cur->map_blocks, sizeof(*c->v));
	if (!c->v)
		return MDS_ENOMEM;
	for (uint32_t i = 0; i < cur->map_blocks; i++) {
		struct mds_map_entry e;
		long io, lo;
		int rc = mds_map_get(t, cur->map_id, i, &e);

		if (rc)
			return rc == MDS_ENOTFOUND ? MDS_ECORRUPT : rc;
		io = arena_add(ar, e.id);
		lo = io < 0 ? -1 : arena_add(ar, e.locator);
		if (lo < 0)
			return MDS_ENOMEM;
		c->v[i] = (struct rblock){ e.size, (size_t)io, e.id.len, (size_t)lo, e.locator.len };
	}
	c->n = cur->map_blocks;
	/* The writer is one thread; qsort has no context argument in C11. */
	sort_arena = ar;
	qsort(c->v, c->n, sizeof(*c->v), rblock_cmp);
	return 0;
}

/* The committed block with id @id, or NULL. */
static const struct rblock *committed_find(const struct committed *c, struct mds_str id)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct mds_str m = { c->ar->p + c->v[mid].id_off, c->v[mid].id_len };
		int cmp = mds_str_cmp(m, id);

		if (cmp == 0)
			return &c->v[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Deletes every staged block of the name whose prefix is in @key, and its count. */
static int staged_drop(struct mds_txn *t, uint8_t key[SKEY_MAX])
{
	uint8_t kc[SKEY_MAX];
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	size_t klen;
	int rc;

	for (;;) {
		rc = mds_kv_cursor_open(t, MDS_DB_STAGED, &c);
		if (rc)
			return rc;
		rc = mds_kv_seek(c, skey(key, MDS_STR_NULL), &k, &v);
		if (rc == 0 && (k.len < SKEY_BASE || k.len > SKEY_MAX || memcmp(k.p, key, SKEY_BASE) != 0))
			rc = MDS_ENOTFOUND;
		klen = rc == 0 ? k.len : 0;
		if (rc == 0)
			memcpy(kc, k.p, klen);
		mds_kv_cursor_close(c);
		if (rc == MDS_ENOTFOUND)
			return 0;
		if (rc == 0)
			rc = mds_kv_del(t, MDS_DB_STAGED, (struct mds_str){ (char *)kc, klen });
		if (rc)
			return rc;
	}
}

static int apply_put_block_list(struct mds_txn *t, struct mds_op *op)
{
	char etag[MDS_ETAG_MAX + 1];
	uint8_t key[SKEY_MAX];
	struct rblock *rb = NULL;
	struct arena ar = { NULL, 0, 0 };
	struct committed cm = { NULL, 0, NULL };
	struct mds_object cur, ext;
	struct mds_object_in in = op->obj;
	struct mds_bucket b;
	uint64_t total = 0, version = 1, ctime, old_size = 0;
	size_t n = op->blob.n_blocks;
	int exists, rc;

	rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0 && n > MDS_BLOCKS_MAX)
		rc = set_reason(op, MDS_REASON_BLOCK_COUNT,
				mds_status_set(&op->status, MDS_EPRECOND,
					       "block list of %zu blocks is above %d", n, MDS_BLOCKS_MAX));
	in.size = 0;
	in.blob_type = MDS_BLOB_BLOCK;
	in.locator = MDS_STR_NULL;
	if (rc == 0)
		rc = mds_object_in_validate(&in, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	rc = skey_base(key, b.id, op->name);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot hash the blob name");
	rc = mds_ns_object_load(t, &b, op->name, &cur);
	if (rc && rc != MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "cannot read blob: %s", mds_strerror(rc));
	exists = rc == 0;
	ctime = mds_txn_now_ns(t);
	rc = mds_blob_cond_check(op, &op->cond, exists ? &cur : NULL, MDS_REASON_ETAG, "blob",
				 op->name);
	if (rc == 0 && exists)
		rc = mds_retention_check(t, op, op->name, &cur, "commit a block list over");
	if (rc)
		return rc;
	if (exists) {
		version = cur.version + 1;
		ctime = cur.ctime_ns;
		old_size = cur.size;
	}
	rb = calloc(n ? n : 1, sizeof(*rb));
	if (!rb)
		return mds_status_set(&op->status, MDS_ENOMEM, "out of memory committing a block list");
	rc = committed_load(t, exists ? &cur : NULL, &ar, &cm);
	if (rc) {
		mds_status_set(&op->status, rc, "cannot read the committed block list: %s",
			       mds_strerror(rc));
		goto out;
	}
	/* Resolve every block; reads only. */
	for (size_t i = 0; i < n; i++) {
		const struct mds_block_ref *br = &op->blob.blocks[i];
		struct mds_str v, loc = MDS_STR_NULL;
		long io, lo;

		rc = validate_block_id(op, br->id);
		if (rc)
			goto out;
		rc = MDS_ENOTFOUND;
		if (br->list != MDS_BLOCK_COMMITTED) {
			rc = mds_kv_get(t, MDS_DB_STAGED, skey(key, br->id), &v);
			if (rc == 0 && v.len < 8)
				rc = MDS_ECORRUPT;
			if (rc == 0) {
				rb[i].size = mds_le64_get((const uint8_t *)v.p);
				loc = (struct mds_str){ v.p + 8, v.len - 8 };
			}
		}
		if (rc == MDS_ENOTFOUND && br->list != MDS_BLOCK_UNCOMMITTED) {
			const struct rblock *cb = committed_find(&cm, br->id);

			if (cb) {
				rb[i] = *cb;
				total += cb->size;
				continue;  /* already in the arena */
			}
		}
		if (rc == MDS_ENOTFOUND) {
			rc = set_reason(op, MDS_REASON_INVALID_BLOCK_LIST,
					mds_status_set(&op->status, MDS_EINVAL,
						       "block %zu of the list is not in the %s list (InvalidBlockList)",
						       i, br->list == MDS_BLOCK_COMMITTED ? "committed" :
						       br->list == MDS_BLOCK_UNCOMMITTED ? "uncommitted" :
											   "uncommitted or committed"));
			goto out;
		}
		if (rc) {
			mds_status_set(&op->status, rc, "cannot read block: %s", mds_strerror(rc));
			goto out;
		}
		io = arena_add(&ar, br->id);
		lo = io < 0 ? -1 : arena_add(&ar, loc);
		if (lo < 0) {
			rc = mds_status_set(&op->status, MDS_ENOMEM, "out of memory committing a block list");
			goto out;
		}
		rb[i].id_off = (size_t)io;
		rb[i].id_len = br->id.len;
		rb[i].loc_off = (size_t)lo;
		rb[i].loc_len = loc.len;
		total += rb[i].size;
	}
	/* Writes: the new map first (it may reuse committed blocks of the old one). */
	memset(&ext, 0, sizeof(ext));
	ext.map_kind = MDS_MAP_BLOCKLIST;
	ext.map_blocks = (uint32_t)n;
	ext.size = total;
	rc = mds_map_create(t, &b, op->name, &ext.map_id);
	for (uint64_t off = 0, i = 0; rc == 0 && i < n; i++) {
		struct mds_map_entry e = { off, rb[i].size, { ar.p + rb[i].id_off, rb[i].id_len },
					   { ar.p + rb[i].loc_off, rb[i].loc_len } };

		rc = mds_map_put(t, ext.map_id, (uint32_t)i, &e);
		off += rb[i].size;
	}
	if (rc == 0 && exists)
		rc = mds_blob_release(t, &cur);
	if (rc == 0)
		rc = staged_drop(t, key);
	if (rc) {
		mds_status_set(&op->status, rc, "cannot commit block list: %s", mds_strerror(rc));
		goto out;
	}
	mds_blob_etag(etag, mds_txn_now_ns(t), version);
	in.size = total;
	if (!in.etag.len)
		in.etag = (struct mds_str){ etag, strlen(etag) };
	rc = mds_blob_write(t, &b, op->name, &in, &ext, version, ctime, &op->status);
	if (rc)
		goto out;
	op->out_bytes_delta = (int64_t)total - (int64_t)old_size;
	op->out_objects_delta = exists ? 0 : 1;
	rc = mds_blob_charge(t, op, &b, op->name, op->reservation, op->out_bytes_delta,
			     op->out_objects_delta);
	if (rc)
		goto out;
	op->blob_out.size = total;
	op->blob_out.blocks = (uint32_t)n;
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%.*s", (int)in.etag.len, in.etag.p);
	op->out_version = version;
	op->out_mtime_ns = mds_txn_now_ns(t);
out:
	free(cm.v);
	free(ar.p);
	free(rb);
	return rc;
}

int mds_blocklist_bucket_drop(struct mds_txn *t, uint64_t bucket_id)
{
	uint8_t prefix[8], kc[SKEY_MAX];
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	size_t klen;
	int rc;

	mds_be64_put(prefix, bucket_id);
	for (;;) {
		rc = mds_kv_cursor_open(t, MDS_DB_STAGED, &c);
		if (rc)
			return rc;
		rc = mds_kv_seek(c, (struct mds_str){ (char *)prefix, 8 }, &k, &v);
		if (rc == 0 && (k.len < 8 || k.len > SKEY_MAX || memcmp(k.p, prefix, 8) != 0))
			rc = MDS_ENOTFOUND;
		klen = rc == 0 ? k.len : 0;
		if (rc == 0)
			memcpy(kc, k.p, klen);
		mds_kv_cursor_close(c);
		if (rc == MDS_ENOTFOUND)
			return 0;
		if (rc == 0)
			rc = mds_kv_del(t, MDS_DB_STAGED, (struct mds_str){ (char *)kc, klen });
		if (rc)
			return rc;
	}
}

int mds_blocklist_apply(struct mds_txn *t, struct mds_op *op)
{
	switch (op->kind) {
	case MDS_OP_PUT_BLOCK:
		return apply_put_block(t, op);
	case MDS_OP_PUT_BLOCK_LIST:
		return apply_put_block_list(t, op);
	default:
		break;
	}
	return mds_status_set(&op->status, MDS_EINVAL, "op kind %d is not a block list op",
			      (int)op->kind);
}

/* ---- reads ----------------------------------------------------------------------- */

int mds_get_block_list(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		       unsigned which, mds_block_emit_fn emit, void *arg, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	char q[MDS_QUOTE_MAX], q2[MDS_QUOTE_MAX];
	uint8_t key[SKEY_MAX];
	struct mds_kcur *c = NULL;
	struct mds_bucket b;
	struct mds_object o;
	struct mds_str k, v;
	uint64_t staged = 0;
	int rc, exists;

	rc = mds_validate_object_name(name, st);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, bucket, &b, st);
	if (rc)
		return rc;
	rc = skey_base(key, b.id, name);
	if (rc == 0)
		rc = count_get(t, key, &staged);
	if (rc)
		return mds_status_set(st, rc, "cannot read staged blocks: %s", mds_strerror(rc));
	rc = mds_ns_object_load(t, &b, name, &o);
	if (rc && rc != MDS_ENOTFOUND)
		return mds_status_set(st, rc, "cannot read blob: %s", mds_strerror(rc));
	exists = rc == 0;
	if (!exists && !staged)
		return mds_status_set(st, MDS_ENOTFOUND, "blob '%s' does not exist in container '%s'",
				      mds_quote(q, name), mds_quote(q2, bucket));
	if ((which & MDS_BLOCKLIST_COMMITTED) && exists && o.map_kind == MDS_MAP_BLOCKLIST) {
		for (uint32_t i = 0; i < o.map_blocks; i++) {
			struct mds_map_entry e;
			struct mds_block blk;

			rc = mds_map_get(t, o.map_id, i, &e);
			if (rc)
				return mds_status_set(st, rc == MDS_ENOTFOUND ? MDS_ECORRUPT : rc,
						      "block %u of '%s' is missing; run mds check", i,
						      mds_quote(q, name));
			blk = (struct mds_block){ i, e.offset, e.size, e.id, e.locator, 1 };
			rc = emit(arg, &blk);
			if (rc)
				return rc;
		}
	}
	if (!(which & MDS_BLOCKLIST_UNCOMMITTED) || !staged)
		return 0;
	rc = mds_kv_cursor_open(t, MDS_DB_STAGED, &c);
	if (rc)
		return mds_status_set(st, rc, "cannot list staged blocks: %s", mds_strerror(rc));
	for (rc = mds_kv_seek(c, skey(key, MDS_STR_NULL), &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v)) {
		struct mds_block blk;

		if (k.len < SKEY_BASE || memcmp(k.p, key, SKEY_BASE) != 0)
			break;
		if (k.len == SKEY_BASE)
			continue;  /* the count entry */
		if (v.len < 8) {
			rc = MDS_ECORRUPT;
			break;
		}
		memset(&blk, 0, sizeof(blk));
		blk.size = mds_le64_get((const uint8_t *)v.p);
		blk.id = (struct mds_str){ k.p + SKEY_BASE, k.len - SKEY_BASE };
		blk.locator = (struct mds_str){ v.p + 8, v.len - 8 };
		rc = emit(arg, &blk);
		if (rc)
			break;
	}
	mds_kv_cursor_close(c);
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	if (rc < 0 && rc >= MDS_ERR_FIRST && st && st->code == 0)
		mds_status_set(st, rc, "cannot list staged blocks: %s", mds_strerror(rc));
	return rc;
}

/* ---- check -------------------------------------------------------------------------- */

long mds_blocklist_check(struct mds_txn *t, mds_check_report_fn report, void *arg)
{
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	uint8_t cur[SKEY_BASE];
	uint64_t want = 0, seen = 0;
	int have = 0, rc;
	long problems = 0;
	struct mds_bucket last;

	memset(&last, 0, sizeof(last));
	rc = mds_kv_cursor_open(t, MDS_DB_STAGED, &c);
	if (rc)
		return rc;
	for (rc = mds_kv_first(c, &k, &v);; rc = mds_kv_next(c, &k, &v)) {
		int next_name = rc != 0 || k.len < SKEY_BASE || !have || memcmp(k.p, cur, SKEY_BASE) != 0;

		if (next_name && have && seen != want) {
			problems++;
			if (report)
				report(arg, "staged blocks: a blob's count entry does not match its blocks");
		}
		if (rc)
			break;
		if (k.len < SKEY_BASE) {
			problems++;
			if (report)
				report(arg, "staged blocks: key too short");
			continue;
		}
		if (next_name) {
			struct mds_bucket b;

			if (!have || memcmp(k.p, cur, 8) != 0) {
				if (mds_blob_bucket_by_id(t, mds_be64_get((const uint8_t *)k.p), &b, &last)) {
					problems++;
					if (report)
						report(arg, "staged blocks outlive their bucket");
				}
			}
			memcpy(cur, k.p, SKEY_BASE);
			have = 1;
			seen = 0;
			want = 0;
			if (k.len != SKEY_BASE || v.len != 8) {
				problems++;
				if (report)
					report(arg, "staged blocks: a blob's blocks have no count entry");
				continue;
			}
			want = mds_le64_get((const uint8_t *)v.p);
			continue;
		}
		seen++;
	}
	mds_kv_cursor_close(c);
	if (rc != MDS_ENOTFOUND)
		return rc;
	return problems;
}
