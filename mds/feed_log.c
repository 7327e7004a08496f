/*
 * feed_log.c - leaves of the change feed and their Merkle nodes in LMDB
 * (see feed_log.h for the format and what must stay true).
 *
 * The append runs on the writer thread inside the op's nested transaction,
 * after mds_ns_apply() succeeded: it reads back the state the op left (the
 * record after the change, or its absence), encodes the leaf into a buffer
 * the log owns (only the writer thread uses it, so no lock), stores it at
 * seq = current size, and folds its hash into the tree with
 * mds_merkle_append() over MDS_DB_FEED. Any failure is returned to
 * the writer, which rolls the op back: no mutation without its leaf.
 */
#include <stdlib.h>
#include <string.h>

#include "feed_log.h"
#include "nametree.h"
#include "ns_internal.h"

struct mds_feed_log {
	char origin[MDS_FEED_ORIGIN_MAX + 1];
	uint8_t *buf;   /* leaf encoding buffer, writer thread only */
	size_t cap;
};

static void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- node storage over kv ------------------------------------------------ */

/*
 * Leaves and nodes share one database (MDS_DB_FEED), keyed by sequence
 * number then a tag: node (level, index) under the seq of the leaf whose
 * append completed it, ((index + 1) << level) - 1, with tag = level; the
 * leaf itself under its seq with tag FEED_TAG_LEAF, written last. So one
 * append writes keys in increasing order at the right edge of one B-tree
 * (MDB_APPEND, pages fill up) and touches one leaf page: every page an op
 * touches is copied by LMDB's nested transaction, which is most of what
 * the feed costs the writer.
 */
#define FEED_TAG_LEAF 0xFF

static struct mds_str feed_key(uint8_t k[9], uint64_t seq, uint8_t tag)
{
	be64_put(k, seq);
	k[8] = tag;
	return (struct mds_str){ (const char *)k, 9 };
}

static struct mds_str node_key(uint8_t k[9], unsigned level, uint64_t index)
{
	return feed_key(k, ((index + 1) << level) - 1, (uint8_t)level);
}

static int node_put(void *ctx, unsigned level, uint64_t index,
		    const uint8_t hash[MDS_MERKLE_HASH_LEN])
{
	uint8_t k[9];

	return mds_kv_append(ctx, MDS_DB_FEED, node_key(k, level, index),
			  (struct mds_str){ (const char *)hash, MDS_MERKLE_HASH_LEN });
}

static int node_get(void *ctx, unsigned level, uint64_t index,
		    uint8_t hash_out[MDS_MERKLE_HASH_LEN])
{
	uint8_t k[9];
	struct mds_str v;
	int rc = mds_kv_get(ctx, MDS_DB_FEED, node_key(k, level, index), &v);

	if (rc)
		return rc;
	if (v.len != MDS_MERKLE_HASH_LEN)
		return MDS_ECORRUPT;
	memcpy(hash_out, v.p, MDS_MERKLE_HASH_LEN);
	return 0;
}

void mds_feed_log_merkle(struct mds_txn *t, struct mds_merkle_store *ms)
{
	ms->ctx = t;
	ms->put = node_put;
	ms->get = node_get;
}

/* ---- reads ---------------------------------------------------------------- */

int mds_feed_log_size(struct mds_txn *t, uint64_t *size)
{
	struct mds_kcur *c;
	struct mds_str k, v;
	int rc = mds_kv_cursor_open(t, MDS_DB_FEED, &c);

	if (rc)
		return rc;
	rc = mds_kv_last(c, &k, &v);
	mds_kv_cursor_close(c);
	if (rc == MDS_ENOTFOUND) {
		*size = 0;
		return 0;
	}
	if (rc)
		return rc;
	if (k.len != 9 || (uint8_t)k.p[8] != FEED_TAG_LEAF)
		return MDS_ECORRUPT;   /* the last key of an append is its leaf */
	*size = be64_get((const uint8_t *)k.p) + 1;
	return 0;
}

int mds_feed_log_leaf(struct mds_txn *t, uint64_t seq, struct mds_str *leaf)
{
	uint8_t k[9];

	return mds_kv_get(t, MDS_DB_FEED, feed_key(k, seq, FEED_TAG_LEAF), leaf);
}

/* ---- encoding ------------------------------------------------------------- */

/* What one op contributes beyond its borrowed strings. */
struct leaf_parts {
	uint64_t key_version;
	uint8_t extra[48];
	size_t extra_len;
	struct mds_str extra_ref;   /* if set, the extra field instead of extra[] */
	uint8_t state;
	struct mds_str record;   /* borrowed from the txn, or points at rec_buf */
	uint8_t rec_buf[48];
};

static void limits_encode(const struct mds_quota_limits *q, uint8_t *p)
{
	be32_put(p, q->set);
	be64_put(p + 4, q->max_bytes);
	be64_put(p + 12, q->max_objects);
	be64_put(p + 20, q->soft_bytes);
	be64_put(p + 28, q->soft_objects);
	be64_put(p + 36, q->grace_ns);
}
#define LIMITS_LEN 44

/* The object record @op left in @t, or MDS_FEED_TOMBSTONE if none. */
static int object_state(struct mds_txn *t, const struct mds_op *op, struct leaf_parts *lp)
{
	struct mds_bucket b;
	struct mds_status st;
	int rc = mds_ns_bucket_lookup(t, op->bucket, &b, &st);

	if (rc == 0)
		rc = mds_tree_get(t, b.id, op->name, &lp->record);
	if (rc == MDS_ENOTFOUND) {
		lp->state = MDS_FEED_TOMBSTONE;
		return 0;
	}
	if (rc == 0)
		lp->state = MDS_FEED_RECORD;
	return rc;
}

/* The record under @key in @db after the op, or a tombstone. */
static int kv_state(struct mds_txn *t, enum mds_db db, struct mds_str key, struct leaf_parts *lp)
{
	int rc = mds_kv_get(t, db, key, &lp->record);

	if (rc == MDS_ENOTFOUND) {
		lp->state = MDS_FEED_TOMBSTONE;
		return 0;
	}
	if (rc == 0)
		lp->state = MDS_FEED_RECORD;
	return rc;
}

/*
 * The kind-specific part of a leaf. A new op kind adds a case here; an op
 * kind without one still gets a leaf (identity fields, no state).
 */
static int leaf_parts_fill(struct mds_txn *t, const struct mds_op *op, struct leaf_parts *lp)
{
	memset(lp, 0, sizeof(*lp));
	lp->state = MDS_FEED_NO_STATE;
	switch (op->kind) {
	case MDS_OP_TEAM_CREATE:
	case MDS_OP_TEAM_DELETE:
		return kv_state(t, MDS_DB_TEAMS, op->team, lp);
	case MDS_OP_BUCKET_CREATE:
	case MDS_OP_BUCKET_DELETE:
		return kv_state(t, MDS_DB_BUCKETS, op->bucket, lp);
	case MDS_OP_OBJECT_PUT:
	case MDS_OP_OBJECT_DELETE:
	case MDS_OP_RESERVE_COMMIT:
		lp->key_version = op->out_version;
		return object_state(t, op, lp);
	case MDS_OP_QUOTA_SET:
		limits_encode(&op->limits, lp->rec_buf);
		lp->state = MDS_FEED_RECORD;
		lp->record = (struct mds_str){ (const char *)lp->rec_buf, LIMITS_LEN };
		return 0;
	case MDS_OP_QUOTA_DELETE:
	case MDS_OP_RESERVE_RELEASE:
		lp->state = MDS_FEED_TOMBSTONE;
		return 0;
	case MDS_OP_RESERVE:
		be64_put(lp->rec_buf, op->reserve_bytes);
		be64_put(lp->rec_buf + 8, op->reserve_objects);
		be64_put(lp->rec_buf + 16, op->reserve_ttl_ns);
		lp->state = MDS_FEED_RECORD;
		lp->record = (struct mds_str){ (const char *)lp->rec_buf, 24 };
		return 0;
	case MDS_OP_RESERVE_SWEEP:
		be32_put(lp->extra, op->sweep_max);
		lp->extra_len = 4;
		return 0;
	/* Blob parity: extra = the upload / copy / block id; ops that change
	 * an object's record carry it (or its tombstone) when the op names
	 * the object. */
	case MDS_OP_APPEND_CREATE:
	case MDS_OP_APPEND_BLOCK:
	case MDS_OP_SEAL_BLOB:
	case MDS_OP_COPY_OBJECT:
	case MDS_OP_PUT_BLOB_FROM_URL:
	case MDS_OP_COPY_FINISH:
	case MDS_OP_COMPLETE_MULTIPART:
	case MDS_OP_PUT_BLOCK_LIST:
		lp->extra_ref = op->blob.id;
		if (!op->bucket.len || !op->name.len)
			return 0;
		lp->key_version = op->out_version;
		return object_state(t, op, lp);
	case MDS_OP_COPY_PROGRESS:
	case MDS_OP_ABORT_COPY:
	case MDS_OP_CREATE_MULTIPART:
	case MDS_OP_UPLOAD_PART:
	case MDS_OP_ABORT_MULTIPART:
	case MDS_OP_PUT_BLOCK:
	case MDS_OP_EXPIRE_MULTIPART:
		lp->extra_ref = op->blob.id;
		return 0;
	/* Retention and legal hold live in the object's record. */
	case MDS_OP_RETENTION_SET:
	case MDS_OP_LEGAL_HOLD_SET:
		lp->key_version = op->out_version;
		return object_state(t, op, lp);
	default:
		/* A kind added later without a case here: its leaf still
		 * records that it happened (identity fields, state none). */
		return 0;
	}
}

static int buf_reserve(struct mds_feed_log *l, size_t need)
{
	uint8_t *nb;
	size_t cap = l->cap ? l->cap : 4096;

	if (need <= l->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	nb = realloc(l->buf, cap);
	if (!nb)
		return MDS_ENOMEM;
	l->buf = nb;
	l->cap = cap;
	return 0;
}

static uint8_t *put_str(uint8_t *p, struct mds_str s)
{
	be32_put(p, (uint32_t)s.len);
	if (s.len)
		memcpy(p + 4, s.p, s.len);
	return p + 4 + s.len;
}

int mds_feed_log_append(struct mds_feed_log *l, struct mds_txn *t, struct mds_op *op)
{
	struct leaf_parts lp;
	struct mds_str fields[8];
	struct mds_merkle_store ms;
	uint8_t key[9], hash[MDS_MERKLE_HASH_LEN], *p;
	uint64_t seq;
	size_t need = 2 + 24 + 1 + 4;
	int rc;

	/* Applying another island's state (global view, kinds 80-89) is not
	 * a mutation of this island: no leaf. */
	if (op->kind >= MDS_OP_GLOBAL_APPLY && op->kind <= 89)
		return 0;
	rc = mds_feed_log_size(t, &seq);
	if (rc)
		goto out_fail;
	rc = leaf_parts_fill(t, op, &lp);
	if (rc)
		goto out_fail;
	fields[0] = (struct mds_str){ l->origin, strlen(l->origin) };
	fields[1] = op->team;
	fields[2] = op->bucket;
	fields[3] = op->name;
	fields[4] = op->scope;
	fields[5] = op->principal;
	fields[6] = op->reservation;
	fields[7] = lp.extra_ref.len ? lp.extra_ref
				     : (struct mds_str){ (const char *)lp.extra, lp.extra_len };
	for (int i = 0; i < 8; i++) {
		if (!fields[i].p)
			fields[i].len = 0;
		need += 4 + fields[i].len;
	}
	need += lp.record.len;
	rc = buf_reserve(l, need);
	if (rc)
		goto out_fail;
	p = l->buf;
	*p++ = MDS_FEED_LEAF_VERSION;
	*p++ = (uint8_t)op->kind;
	be64_put(p, seq);
	be64_put(p + 8, mds_txn_now_ns(t));
	be64_put(p + 16, lp.key_version);
	p += 24;
	for (int i = 0; i < 8; i++)
		p = put_str(p, fields[i]);
	*p++ = lp.state;
	if (lp.state == MDS_FEED_RECORD)
		p = put_str(p, lp.record);
	/* Hash before any put: lp.record may point into the txn's pages,
	 * which the buffer copied. */
	rc = mds_merkle_hash_leaf(l->buf, (size_t)(p - l->buf), hash);
	if (rc)
		goto out_fail;
	/* nodes first, then the leaf: keys (seq, level...) < (seq, leaf) */
	mds_feed_log_merkle(t, &ms);
	rc = mds_merkle_append(&ms, seq, hash);
	if (rc)
		goto out_fail;
	rc = mds_kv_append(t, MDS_DB_FEED, feed_key(key, seq, FEED_TAG_LEAF),
			   (struct mds_str){ (const char *)l->buf, (size_t)(p - l->buf) });
	if (rc)
		goto out_fail;
	return 0;

out_fail:
	return mds_status_set(&op->status, rc, "cannot append the change feed leaf: %s",
			      mds_strerror(rc));
}

/* ---- decoding ------------------------------------------------------------- */

static int get_str(const uint8_t **p, const uint8_t *end, struct mds_str *out)
{
	uint32_t n;

	if (end - *p < 4)
		return MDS_EINVAL;
	n = be32_get(*p);
	*p += 4;
	if ((size_t)(end - *p) < n)
		return MDS_EINVAL;
	*out = (struct mds_str){ (const char *)*p, n };
	*p += n;
	return 0;
}

int mds_feed_leaf_decode(const void *data, size_t n, struct mds_feed_leaf *out,
			 struct mds_status *st)
{
	const uint8_t *p = data, *end = p + n;
	struct mds_str *fields[8] = { &out->origin, &out->team, &out->bucket, &out->name,
				      &out->scope, &out->principal, &out->reservation,
				      &out->extra };

	memset(out, 0, sizeof(*out));
	if (n < 26)
		return mds_status_set(st, MDS_EINVAL, "feed leaf of %zu bytes is truncated", n);
	if (p[0] != MDS_FEED_LEAF_VERSION)
		return mds_status_set(st, MDS_EINVAL, "feed leaf version %u is not supported", p[0]);
	out->version = p[0];
	out->kind = p[1];
	out->seq = be64_get(p + 2);
	out->time_ns = be64_get(p + 10);
	out->key_version = be64_get(p + 18);
	p += 26;
	for (int i = 0; i < 8; i++)
		if (get_str(&p, end, fields[i]))
			return mds_status_set(st, MDS_EINVAL, "feed leaf field %d is truncated", i);
	if (p == end)
		return mds_status_set(st, MDS_EINVAL, "feed leaf has no state byte");
	out->state = *p++;
	if (out->state > MDS_FEED_NO_STATE)
		return mds_status_set(st, MDS_EINVAL, "feed leaf state %u is unknown", out->state);
	if (out->state == MDS_FEED_RECORD && get_str(&p, end, &out->record))
		return mds_status_set(st, MDS_EINVAL, "feed leaf record is truncated");
	if (p != end)
		return mds_status_set(st, MDS_EINVAL, "feed leaf has %zu trailing bytes",
				      (size_t)(end - p));
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

static int hook(void *arg, struct mds_txn *t, struct mds_op *op)
{
	return mds_feed_log_append(arg, t, op);
}

int mds_feed_log_open(struct mds_store *s, const char *origin,
		      struct mds_feed_log **out, struct mds_status *st)
{
	struct mds_feed_log *l;
	size_t n = origin ? strlen(origin) : 0;

	if (n == 0 || n > MDS_FEED_ORIGIN_MAX)
		return mds_status_set(st, MDS_EINVAL, "feed origin must have 1 to %d bytes",
				      MDS_FEED_ORIGIN_MAX);
	for (size_t i = 0; i < n; i++)
		if (origin[i] < 0x21 || origin[i] > 0x7e)
			return mds_status_set(st, MDS_EINVAL,
					      "feed origin '%s' must be printable ascii without spaces",
					      origin);
	l = calloc(1, sizeof(*l));
	if (!l)
		return mds_status_set(st, MDS_ENOMEM, "cannot allocate the feed log");
	memcpy(l->origin, origin, n + 1);
	mds_store_set_post_apply(s, hook, l);
	*out = l;
	return 0;
}

void mds_feed_log_close(struct mds_feed_log *l)
{
	if (!l)
		return;
	free(l->buf);
	free(l);
}
