/*
 * feed_log.h - the island's change feed as stored in LMDB: one leaf per
 * mutation, committed in the same write transaction as the mutation, and
 * the RFC 9162 Merkle tree over the leaves (mds/feed/merkle.h) whose nodes
 * are stored with them.
 *
 * What must stay true
 *   - a mutation is committed if and only if its leaf is: the leaf is
 *     made by the writer's post-apply hook (kv.h) inside the op's nested
 *     transaction, kept while that op sticks, and written into the batch's
 *     transaction just before it commits (batch hooks, kv.h); an op that
 *     fails or rolls back leaves no leaf, a batch that fails stores
 *     neither mutations nor leaves, and a crash loses both or neither;
 *   - leaf indexes are dense from 0: leaf n is the n-th committed mutation
 *     (its sequence number), and the tree of size n covers leaves 0..n-1;
 *   - a leaf carries absolute state (the record after the change, or a
 *     tombstone), never a delta.
 *
 * Database MDS_DB_FEED (kv.h, docs/storage-format.md), one key per leaf,
 * in append order:
 *   seq (8 bytes BE) -> u8 n, n x 32-byte hashes, leaf bytes
 * The n hashes are the Merkle nodes the leaf's append completed, levels 0
 * (the leaf hash) to n - 1 (n - 1 = trailing one bits of seq): node
 * (level, index) is stored with seq = ((index + 1) << level) - 1. A
 * compacted leaf (feed_compact.h) keeps its key and hashes, not its bytes.
 * The tree size is the last key's seq + 1 (one cursor step).
 *
 * Leaf encoding, version 1 (all integers big-endian; see
 * docs/federation.md "Leaf encoding"):
 *   u8 version (1), u8 op kind (enum mds_op_kind), u64 seq, u64 time_ns,
 *   u64 key version, then eight length-prefixed strings (u32 length +
 *   bytes): origin, team, bucket, object name, quota scope, principal,
 *   reservation token, extra; then u8 state (0 tombstone, 1 record,
 *   2 none) and, for 1, a length-prefixed record.
 */
#ifndef MDS_FEED_LOG_H
#define MDS_FEED_LOG_H

#include <stdint.h>

#include "kv.h"
#include "feed/merkle.h"

#define MDS_FEED_LEAF_VERSION 1
#define MDS_FEED_ORIGIN_MAX 255

enum mds_feed_state {
	MDS_FEED_TOMBSTONE = 0,  /* the key no longer exists */
	MDS_FEED_RECORD = 1,     /* state holds the key's record after the change */
	MDS_FEED_NO_STATE = 2,   /* an op with no single key (reservation sweep) */
};

/* A decoded leaf; every string borrows from the encoded bytes. */
struct mds_feed_leaf {
	uint8_t version;
	uint8_t kind;             /* enum mds_op_kind */
	uint64_t seq;
	uint64_t time_ns;
	uint64_t key_version;     /* object version; 0 for kinds without one */
	struct mds_str origin;
	struct mds_str team;
	struct mds_str bucket;
	struct mds_str name;
	struct mds_str scope;
	struct mds_str principal;
	struct mds_str reservation;
	struct mds_str extra;     /* kind-specific (docs/federation.md) */
	uint8_t state;            /* enum mds_feed_state */
	struct mds_str record;    /* MDS_FEED_RECORD: the stored record bytes */
};

/* The writer-side state of the feed: owned by the caller. */
struct mds_feed_log;

/*
 * mds_feed_log_open - a feed log for store @s with origin name @origin
 * (borrowed, copied; 1..MDS_FEED_ORIGIN_MAX printable ASCII bytes), and
 * install its post-apply and batch hooks on @s: from now on every op the
 * writer applies successfully appends its leaf. Call before submitting ops.
 * *@out is owned by the caller; close it after mds_store_close(@s).
 * Returns 0, MDS_EINVAL (bad origin), MDS_EVERSION (the store's feed has
 * the older layout with a key per node), MDS_ENOMEM or a storage error.
 */
int mds_feed_log_open(struct mds_store *s, const char *origin,
		      struct mds_feed_log **out, struct mds_status *st);

/* mds_feed_log_close - free @l (owned; may be NULL). The store must be
 * closed already, or the hook removed with mds_store_set_post_apply(). */
void mds_feed_log_close(struct mds_feed_log *l);

/*
 * mds_feed_log_append - encode the leaf of @op (just applied in @t, the
 * op's nested write transaction), hash it and its Merkle nodes, and keep
 * it for the batch's flush. This is the post-apply hook's body; it only
 * works with the batch hooks that mds_feed_log_open installs. Returns 0
 * or an error with op->status set; the caller must then abort @t.
 */
int mds_feed_log_append(struct mds_feed_log *l, struct mds_txn *t, struct mds_op *op);

/* mds_feed_log_size - the number of leaves visible in @t into *@size. */
int mds_feed_log_size(struct mds_txn *t, uint64_t *size);

/* mds_feed_log_leaf - leaf @seq in @t: *@leaf borrows from @t (valid until
 * the transaction ends). MDS_ENOTFOUND beyond the log or when the leaf was
 * compacted. */
int mds_feed_log_leaf(struct mds_txn *t, uint64_t seq, struct mds_str *leaf);

/*
 * mds_feed_log_drop_leaf - delete the bytes of leaf @seq in the write
 * transaction @t, keeping its key and node hashes (compaction). 0 also
 * when already dropped; MDS_ENOTFOUND beyond the log.
 */
int mds_feed_log_drop_leaf(struct mds_txn *t, uint64_t seq);

/* mds_feed_log_merkle - fill @ms (caller-owned) with node callbacks reading
 * @t (borrowed; @ms is valid while @t is). Read-only: put answers
 * MDS_EINVAL, nodes are written with their leaf by mds_feed_log_append. */
void mds_feed_log_merkle(struct mds_txn *t, struct mds_merkle_store *ms);

/* mds_feed_leaf_encoded_size - the bytes mds_feed_leaf_encode() writes. */
size_t mds_feed_leaf_encoded_size(const struct mds_feed_leaf *lf);

/*
 * mds_feed_leaf_encode - write @lf (borrowed; its version field is ignored,
 * MDS_FEED_LEAF_VERSION is written) in the leaf encoding into @buf
 * (caller-owned, at least mds_feed_leaf_encoded_size(@lf) bytes). The
 * record is written only when state is MDS_FEED_RECORD. Returns the
 * bytes written. Snapshot entries use it (feed_snapshot.h).
 */
size_t mds_feed_leaf_encode(const struct mds_feed_leaf *lf, uint8_t *buf);

/*
 * mds_feed_leaf_decode - parse leaf bytes @p (borrowed, @n bytes; untrusted)
 * into @out, whose strings borrow from @p. Returns 0 or MDS_EINVAL with @st
 * naming what is wrong (unknown version, truncated, trailing bytes).
 */
int mds_feed_leaf_decode(const void *p, size_t n, struct mds_feed_leaf *out,
			 struct mds_status *st);

#endif /* MDS_FEED_LOG_H */
