/*
 * feed_compact.h - retention of the change feed's leaves: which leaves the
 * island still serves, and the compactor that deletes the older ones.
 *
 * What must stay true
 *   - only leaf bytes are deleted, never a Merkle node: checkpoints,
 *     roots, consistency proofs between any two sizes and inclusion proofs
 *     of retained leaves stay answerable forever;
 *   - the retained leaves are one contiguous range [first, size): the
 *     first retained index only grows, and it is stored (MDS_DB_META
 *     "feed_first", u64 big-endian; absent = 0) in the same transaction as
 *     the deletions, so a reader sees both or neither;
 *   - the newest leaf is never deleted;
 *   - a leaf is deleted only when it is older than the time bound AND
 *     outside the last retain_leaves leaves (both bounds keep leaves: the
 *     one that keeps more wins);
 *   - compaction never holds the writer for long: each op deletes at most
 *     max_leaves leaves (default 1,000) and the compactor submits ops one
 *     after another, so client mutations interleave.
 */
#ifndef MDS_FEED_COMPACT_H
#define MDS_FEED_COMPACT_H

#include <stdint.h>
#include <stdio.h>

#include "kv.h"

#define MDS_FEED_COMPACT_CHUNK 1000

/*
 * mds_feed_log_first - the index of the oldest leaf still stored in @t into
 * *@first (0 if the log was never compacted). Leaves [first, size) are
 * served; below first only Merkle nodes remain. Returns 0 or a storage
 * error.
 */
int mds_feed_log_first(struct mds_txn *t, uint64_t *first);

/*
 * mds_feed_compact_apply - the body of an MDS_OP_FEED_COMPACT op, run by
 * the feed log's post-apply hook in the op's nested write transaction @t.
 * Deletes leaves from the first retained one upwards while they are below
 * size - op->feed_retain.retain_leaves (at least 1 leaf is always kept)
 * and were written before op->feed_retain.keep_after_ns, at most
 * op->feed_retain.max_leaves (0 = MDS_FEED_COMPACT_CHUNK). Sets
 * op->out_version to the leaves removed and op->out_mtime_ns to the new
 * first retained index. Returns 0 or a storage error (op->status set).
 */
int mds_feed_compact_apply(struct mds_txn *t, struct mds_op *op);

struct mds_feed_compactor;

struct mds_feed_compactor_opts {
	uint64_t retain_ns;        /* keep leaves younger than this (0 = no time bound) */
	uint64_t retain_leaves;    /* keep at least this many newest leaves (0 is taken as 1) */
	uint64_t interval_ns;      /* one pass per interval; 0 = 60 s */
	uint32_t chunk;            /* leaves per op; 0 = MDS_FEED_COMPACT_CHUNK */
	int manual;                /* no thread: the caller drives mds_feed_compactor_run */
	/* Called on the compactor's thread after a pass that removed leaves
	 * (@code 0) or failed (@msg borrowed for the call). May be NULL. */
	void (*report)(int code, const char *msg, uint64_t removed);
};

/*
 * mds_feed_compactor_start - start the compaction thread for @s
 * (borrowed; must outlive the compactor). *@out is owned by the caller
 * (mds_feed_compactor_stop). Returns 0 or MDS_ENOMEM.
 */
int mds_feed_compactor_start(struct mds_store *s, const struct mds_feed_compactor_opts *o,
			     struct mds_feed_compactor **out, struct mds_status *st);

/*
 * mds_feed_compactor_run - one pass now: submit compaction ops until one
 * removes fewer than a chunk. *@removed (may be NULL) gets the leaves
 * removed in this pass. Returns 0 or the first op's error (MDS_ESHUTDOWN
 * once the store refuses ops).
 */
int mds_feed_compactor_run(struct mds_feed_compactor *c, uint64_t *removed,
			   struct mds_status *st);

/* mds_feed_compactor_metrics - Prometheus lines (runs, leaves removed,
 * failures, first retained leaf) to @f (borrowed). */
void mds_feed_compactor_metrics(struct mds_feed_compactor *c, FILE *f);

/* mds_feed_compactor_stop - join the thread and free @c (owned; may be NULL). */
void mds_feed_compactor_stop(struct mds_feed_compactor *c);

#endif /* MDS_FEED_COMPACT_H */
