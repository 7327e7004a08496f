/*
 * feed_log.c - leaves of the change feed and their Merkle nodes in LMDB
 * (see feed_log.h for the format and what must stay true).
 *
 * The append runs on the writer thread inside the op's nested transaction,
 * after mds_ns_apply() succeeded: it reads back the state the op left (the
 * record after the change, or its absence), encodes the value (node
 * hashes and leaf) into the batch buffer the log owns (only the writer
 * thread uses it, so no lock), hashes the leaf and the nodes it completes
 * against the in-memory frontier, and keeps it tentatively. Any failure
 * is returned to the writer, which rolls the op back. The batch hooks
 * then settle it: op_end drops the leaf of an op that did not stick (and
 * restores the frontier), flush writes the batch's leaves in order into
 * the batch's own transaction right before its commit (a failure there
 * aborts the batch: no mutation without its leaf), end forgets them.
 * Writing once per batch keeps the feed database out of every op's nested
 * transaction, whose page copies were most of what the feed cost.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "feed_compact.h"
#include "feed_log.h"
#include "nametree.h"
#include "ns_internal.h"
#include "feed_util.h"

/* A leaf kept for the batch's flush: its value in the batch buffer. */
struct kept {
	size_t off, len;
};

/* Writer-thread state: only the writer's hooks touch it. */
struct mds_feed_log {
	char origin[MDS_FEED_ORIGIN_MAX + 1];
	size_t origin_len;
	EVP_MD_CTX *md; /* reused for every hash (no allocation per hash) */
	/* The frontier (compact range) of the log including the batch's kept
	 * leaves, so an append reads no sibling. Checked against the store
	 * at the first append of each batch; invalid after a failed batch. */
	struct mds_merkle_compact frontier;
	int frontier_ok;
	/* The batch being applied: the values of its leaves, back to back,
	 * written by flush() into the batch's transaction. The last one is
	 * tentative until op_end() says whether its op stuck. */
	int in_batch;
	uint8_t *buf;
	size_t len, cap;
	struct kept *kept;
	size_t n_kept, cap_kept;
	int tentative;
	uint64_t undo_size;            /* the frontier before the tentative leaf */
	unsigned undo_slot;
	uint8_t undo_hash[MDS_MERKLE_HASH_LEN];
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
 * One key per leaf: seq (8 bytes BE) -> u8 n || n node hashes || leaf
 * bytes. The n hashes are the nodes the leaf's append completed: level 0
 * (its leaf hash) up to level n - 1, where n - 1 is the number of trailing
 * one bits of seq; node (level, index) therefore lives in the value of
 * seq = ((index + 1) << level) - 1 at offset 1 + 32 * level. One append
 * is one put at the right edge of one B-tree (MDB_APPEND: pages fill up):
 * every page an op touches is copied by LMDB's nested transaction, and
 * each put costs a descent, so the fewer the better. Compaction
 * (feed_compact.c) rewrites a value without its leaf bytes; the key and
 * the hashes stay, so the size and every node remain readable.
 */
#define NODES_MAX 64

static struct mds_str seq_key(uint8_t k[8], uint64_t seq)
{
	be64_put(k, seq);
	return (struct mds_str){ (const char *)k, 8 };
}

/* Number of node hashes stored with leaf @seq. */
static unsigned nodes_at(uint64_t seq)
{
	return 1u + (unsigned)__builtin_ctzll(~seq);
}

/* The value of @seq split into its hashes and its leaf bytes. */
static int value_get(struct mds_txn *t, uint64_t seq, const uint8_t **hashes, unsigned *n,
		     struct mds_str *leaf)
{
	uint8_t k[8];
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_FEED, seq_key(k, seq), &v);

	if (rc)
		return rc;
	if (v.len < 1 || (uint8_t)v.p[0] != nodes_at(seq) ||
	    v.len < 1 + (size_t)MDS_MERKLE_HASH_LEN * (uint8_t)v.p[0])
		return MDS_ECORRUPT;
	*n = (uint8_t)v.p[0];
	*hashes = (const uint8_t *)v.p + 1;
	*leaf = (struct mds_str){ v.p + 1 + MDS_MERKLE_HASH_LEN * *n,
				  v.len - 1 - MDS_MERKLE_HASH_LEN * *n };
	return 0;
}

static int node_put(void *ctx, unsigned level, uint64_t index,
		    const uint8_t hash[MDS_MERKLE_HASH_LEN])
{
	(void)ctx;
	(void)level;
	(void)index;
	(void)hash;
	return MDS_EINVAL;   /* nodes are written with their leaf (mds_feed_log_append) */
}

static int node_get(void *ctx, unsigned level, uint64_t index,
		    uint8_t hash_out[MDS_MERKLE_HASH_LEN])
{
	const uint8_t *h;
	struct mds_str leaf;
	unsigned n;
	int rc;

	if (level >= NODES_MAX || index >= (UINT64_MAX >> level))
		return MDS_ENOTFOUND;
	rc = value_get(ctx, ((index + 1) << level) - 1, &h, &n, &leaf);
	if (rc)
		return rc;
	if (level >= n)
		return MDS_ECORRUPT;
	memcpy(hash_out, h + MDS_MERKLE_HASH_LEN * level, MDS_MERKLE_HASH_LEN);
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
	if (k.len != 8)
		return MDS_ECORRUPT;   /* not this layout (docs/storage-format.md) */
	*size = be64_get((const uint8_t *)k.p) + 1;
	return 0;
}

int mds_feed_log_leaf(struct mds_txn *t, uint64_t seq, struct mds_str *leaf)
{
	const uint8_t *h;
	unsigned n;
	int rc = value_get(t, seq, &h, &n, leaf);

	if (rc == 0 && leaf->len == 0)
		rc = MDS_ENOTFOUND;    /* compacted: only its hashes remain */
	return rc;
}

int mds_feed_log_drop_leaf(struct mds_txn *t, uint64_t seq)
{
	uint8_t k[8], keep[1 + NODES_MAX * MDS_MERKLE_HASH_LEN];
	const uint8_t *h;
	struct mds_str leaf;
	unsigned n;
	int rc = value_get(t, seq, &h, &n, &leaf);

	if (rc || leaf.len == 0)
		return rc;
	/* copy first: the put must not read from the page it rewrites */
	keep[0] = (uint8_t)n;
	memcpy(keep + 1, h, (size_t)n * MDS_MERKLE_HASH_LEN);
	return mds_kv_put(t, MDS_DB_FEED, seq_key(k, seq),
			  (struct mds_str){ (const char *)keep, 1 + (size_t)n * MDS_MERKLE_HASH_LEN });
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
	case MDS_OP_COPY_PROGRESS:
	case MDS_OP_ABORT_COPY:
	case MDS_OP_COMPLETE_MULTIPART:
	case MDS_OP_PUT_BLOCK_LIST:
		lp->extra_ref = op->blob.id;
		if (!op->bucket.len || !op->name.len)
			return 0;
		lp->key_version = op->out_version;
		return object_state(t, op, lp);
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

/* Room for @need more bytes in the batch buffer, and one more kept leaf. */
static int buf_reserve(struct mds_feed_log *l, size_t need)
{
	if (l->len + need > l->cap) {
		size_t cap = l->cap ? l->cap : 64 * 1024;
		uint8_t *nb;

		while (cap < l->len + need)
			cap *= 2;
		nb = realloc(l->buf, cap);
		if (!nb)
			return MDS_ENOMEM;
		l->buf = nb;
		l->cap = cap;
	}
	if (l->n_kept == l->cap_kept) {
		size_t cap = l->cap_kept ? 2 * l->cap_kept : 256;
		struct kept *nk = realloc(l->kept, cap * sizeof(*nk));

		if (!nk)
			return MDS_ENOMEM;
		l->kept = nk;
		l->cap_kept = cap;
	}
	return 0;
}

static uint8_t *put_str(uint8_t *p, struct mds_str s)
{
	be32_put(p, (uint32_t)s.len);
	if (s.len)
		memcpy(p + 4, s.p, s.len);
	return p + 4 + s.len;
}

/*
 * First append of a batch: the store holds no leaf of this batch yet, so
 * its size is where the batch's leaves start. The frontier is rebuilt
 * when it is not for that size (first batch, or a batch that failed).
 */
static int batch_begin(struct mds_feed_log *l, struct mds_txn *t)
{
	struct mds_merkle_store ms;
	uint64_t size;
	int rc = mds_feed_log_size(t, &size);

	if (rc)
		return rc;
	if (!l->frontier_ok || l->frontier.size != size) {
		l->frontier_ok = 0;
		mds_feed_log_merkle(t, &ms);
		rc = mds_merkle_compact_from_store(&ms, size, &l->frontier);
		if (rc)
			return rc;
		l->frontier_ok = 1;
	}
	l->in_batch = 1;
	l->len = 0;
	l->n_kept = 0;
	l->tentative = 0;
	return 0;
}

/* SHA-256(@prefix || @a || @b) with the log's reused context. */
static int hash3(struct mds_feed_log *l, uint8_t prefix, const void *a, size_t na,
		 const void *b, size_t nb, uint8_t out[MDS_MERKLE_HASH_LEN])
{
	unsigned int dl;

	if (EVP_DigestInit_ex2(l->md, NULL, NULL) != 1 ||
	    EVP_DigestUpdate(l->md, &prefix, 1) != 1 ||
	    EVP_DigestUpdate(l->md, a, na) != 1 ||
	    (nb && EVP_DigestUpdate(l->md, b, nb) != 1) ||
	    EVP_DigestFinal_ex(l->md, out, &dl) != 1)
		return MDS_ENOMEM;
	return 0;
}

int mds_feed_log_append(struct mds_feed_log *l, struct mds_txn *t, struct mds_op *op)
{
	struct leaf_parts lp;
	struct mds_str fields[8];
	uint8_t *v, *p, *h;
	uint64_t seq;
	unsigned n, pc;
	size_t need = 2 + 24 + 1 + 4, leaf_len;
	int rc;

	/* Applying another island's state (global view, kinds 80-89) is not
	 * a mutation of this island: no leaf. */
	if (op->kind >= MDS_OP_GLOBAL_APPLY && op->kind <= 89)
		return 0;
	if (op->kind == MDS_OP_FEED_COMPACT)
		return mds_feed_compact_apply(t, op);   /* upkeep, not a mutation: no leaf */
	if (!l->in_batch && (rc = batch_begin(l, t)) != 0)
		goto out_fail;
	seq = l->frontier.size;
	if (seq >= MDS_MERKLE_SIZE_MAX) {
		rc = MDS_EINVAL;
		goto out_fail;
	}
	rc = leaf_parts_fill(t, op, &lp);
	if (rc)
		goto out_fail;
	fields[0] = (struct mds_str){ l->origin, l->origin_len };
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
	n = nodes_at(seq);
	need += 1 + (size_t)n * MDS_MERKLE_HASH_LEN;
	rc = buf_reserve(l, need);
	if (rc)
		goto out_fail;
	/* value = n || n node hashes || leaf; the leaf is encoded at its
	 * final place (copying lp.record out of the txn's pages), then hashed */
	v = l->buf + l->len;
	h = v + 1;
	p = h + (size_t)n * MDS_MERKLE_HASH_LEN;
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
	leaf_len = (size_t)(p - (h + (size_t)n * MDS_MERKLE_HASH_LEN));
	v[0] = (uint8_t)n;
	rc = hash3(l, 0x00, h + (size_t)n * MDS_MERKLE_HASH_LEN, leaf_len, NULL, 0, h);
	/* level k + 1 = H(left sibling || level k); the left siblings are the
	 * frontier's smallest subtrees, one per trailing one bit of seq */
	pc = (unsigned)__builtin_popcountll(seq);
	for (unsigned k = 0; rc == 0 && k + 1 < n; k++)
		rc = hash3(l, 0x01, l->frontier.hash[pc - 1 - k], MDS_MERKLE_HASH_LEN,
			   h + (size_t)k * MDS_MERKLE_HASH_LEN, MDS_MERKLE_HASH_LEN,
			   h + (size_t)(k + 1) * MDS_MERKLE_HASH_LEN);
	if (rc)
		goto out_fail;
	/* keep it, tentatively: op_end() drops it if the op is rolled back */
	l->kept[l->n_kept].off = l->len;
	l->kept[l->n_kept].len = (size_t)(p - v);
	l->n_kept++;
	l->len += (size_t)(p - v);
	l->tentative = 1;
	l->undo_size = seq;
	l->undo_slot = pc - (n - 1);
	memcpy(l->undo_hash, l->frontier.hash[l->undo_slot], MDS_MERKLE_HASH_LEN);
	memcpy(l->frontier.hash[l->undo_slot], h + (size_t)(n - 1) * MDS_MERKLE_HASH_LEN,
	       MDS_MERKLE_HASH_LEN);
	l->frontier.size = seq + 1;
	return 0;

out_fail:
	return mds_status_set(&op->status, rc, "cannot append the change feed leaf: %s",
			      mds_strerror(rc));
}

/* ---- batch hooks (kv.h) ------------------------------------------------------ */

static void on_op_end(void *arg, struct mds_op *op, int stuck)
{
	struct mds_feed_log *l = arg;

	(void)op;
	if (!l->tentative)
		return;      /* the op appended nothing (failed before, or upkeep) */
	l->tentative = 0;
	if (stuck)
		return;
	l->n_kept--;
	l->len = l->kept[l->n_kept].off;
	l->frontier.size = l->undo_size;
	memcpy(l->frontier.hash[l->undo_slot], l->undo_hash, MDS_MERKLE_HASH_LEN);
}

/* The batch's leaves, in order, at the right edge of the feed database. */
static int on_flush(void *arg, struct mds_txn *t, struct mds_status *st)
{
	struct mds_feed_log *l = arg;
	uint64_t seq = l->frontier.size - l->n_kept;
	uint8_t key[8];

	for (size_t i = 0; i < l->n_kept; i++, seq++) {
		int rc = mds_kv_append(t, MDS_DB_FEED, seq_key(key, seq),
				       (struct mds_str){ (const char *)l->buf + l->kept[i].off,
							 l->kept[i].len });

		if (rc)
			return mds_status_set(st, rc,
					      "cannot write the change feed's leaf %llu: %s; nothing of the batch was stored",
					      (unsigned long long)seq, mds_strerror(rc));
	}
	return 0;
}

static void on_end(void *arg, int committed)
{
	struct mds_feed_log *l = arg;

	if (!committed)
		l->frontier_ok = 0;   /* rebuilt from the store by the next batch */
	l->in_batch = 0;
	l->len = 0;
	l->n_kept = 0;
	l->tentative = 0;
}

static const struct mds_str *leaf_field(const struct mds_feed_leaf *lf, int i)
{
	const struct mds_str *f[8] = { &lf->origin, &lf->team, &lf->bucket, &lf->name,
				       &lf->scope, &lf->principal, &lf->reservation, &lf->extra };

	return f[i];
}

size_t mds_feed_leaf_encoded_size(const struct mds_feed_leaf *lf)
{
	size_t n = 2 + 24 + 8 * 4 + 1;

	for (int i = 0; i < 8; i++)
		n += leaf_field(lf, i)->len;
	if (lf->state == MDS_FEED_RECORD)
		n += 4 + lf->record.len;
	return n;
}

size_t mds_feed_leaf_encode(const struct mds_feed_leaf *lf, uint8_t *buf)
{
	uint8_t *p = buf;

	*p++ = MDS_FEED_LEAF_VERSION;
	*p++ = lf->kind;
	be64_put(p, lf->seq);
	be64_put(p + 8, lf->time_ns);
	be64_put(p + 16, lf->key_version);
	p += 24;
	for (int i = 0; i < 8; i++)
		p = put_str(p, *leaf_field(lf, i));
	*p++ = lf->state;
	if (lf->state == MDS_FEED_RECORD)
		p = put_str(p, lf->record);
	return (size_t)(p - buf);
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

static const struct mds_batch_hooks hooks = { on_op_end, on_flush, on_end };

/*
 * Refuses a feed written by a build that stored nodes under their own keys
 * (9-byte keys seq || tag): its leaves cannot be read with this layout and
 * appending to it would break the log.
 */
static int layout_check(struct mds_store *s, struct mds_status *st)
{
	struct mds_reader *r;
	uint64_t size;
	int rc = mds_reader_open(s, &r);

	if (rc)
		return mds_status_set(st, rc, "cannot read the change feed: %s", mds_strerror(rc));
	rc = mds_reader_begin(r);
	if (rc == 0)
		rc = mds_feed_log_size(mds_reader_txn(r), &size);
	mds_reader_close(r);
	if (rc == MDS_ECORRUPT)
		return mds_status_set(st, MDS_EVERSION,
				      "the change feed in this store has an older layout (a key per Merkle node); this build keeps the nodes with their leaf (docs/storage-format.md): start from a new data directory");
	if (rc)
		return mds_status_set(st, rc, "cannot read the change feed: %s", mds_strerror(rc));
	return 0;
}

int mds_feed_log_open(struct mds_store *s, const char *origin,
		      struct mds_feed_log **out, struct mds_status *st)
{
	struct mds_feed_log *l;
	size_t n = origin ? strlen(origin) : 0;
	int rc;

	if (n == 0 || n > MDS_FEED_ORIGIN_MAX)
		return mds_status_set(st, MDS_EINVAL, "feed origin must have 1 to %d bytes",
				      MDS_FEED_ORIGIN_MAX);
	for (size_t i = 0; i < n; i++)
		if (origin[i] < 0x21 || origin[i] > 0x7e)
			return mds_status_set(st, MDS_EINVAL,
					      "feed origin '%s' must be printable ascii without spaces",
					      origin);
	rc = layout_check(s, st);
	if (rc)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l)
		return mds_status_set(st, MDS_ENOMEM, "cannot allocate the feed log");
	memcpy(l->origin, origin, n + 1);
	l->origin_len = n;
	l->md = EVP_MD_CTX_new();
	if (!l->md || EVP_DigestInit_ex(l->md, mds_feed_sha256(), NULL) != 1) {
		mds_feed_log_close(l);
		return mds_status_set(st, MDS_ENOMEM, "cannot allocate the feed log's digest");
	}
	mds_store_set_post_apply(s, hook, l);
	mds_store_set_batch_hooks(s, &hooks);
	*out = l;
	return 0;
}

void mds_feed_log_close(struct mds_feed_log *l)
{
	if (!l)
		return;
	EVP_MD_CTX_free(l->md);
	free(l->buf);
	free(l->kept);
	free(l);
}
