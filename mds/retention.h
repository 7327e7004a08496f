/*
 * retention.h - object lock (retention, legal hold) inside the core: the
 * check every delete or overwrite path makes, the ops of kinds 70-79, and
 * the per-store retention clock (trusted time). See retention.c for the
 * rules and docs/security.md for what users see.
 */
#ifndef MDS_RETENTION_H
#define MDS_RETENTION_H

#include "kv.h"

#define MDS_CLOCK_TOLERANCE_DEFAULT_NS (300ull * 1000000000ull) /* 5 min */

/* Per-store clock state; owned by the store (store.c creates and frees it). */
struct mds_rclock;

/*
 * mds_rclock_new - state for a store opened with @opts (borrowed; the
 * wall clock, monotonic clock and tolerance are copied). Anchors trusted
 * time at the wall and monotonic clocks now; the persisted high-water mark
 * is read on the writer's first use. NULL when out of memory.
 */
struct mds_rclock *mds_rclock_new(const struct mds_store_opts *opts);
void mds_rclock_free(struct mds_rclock *c);

/* The state of the store @t belongs to (store.c), or NULL for a read-only store. */
struct mds_rclock *mds_txn_rclock(struct mds_txn *t);
struct mds_rclock *mds_store_rclock(struct mds_store *s);

/*
 * mds_retention_now - the time retention expiry is measured against in
 * write transaction @t: the wall clock, or the trusted time while the
 * clock is suspect. May persist the high-water mark (a write to meta).
 * Returns 0 with *@now_ns set, or a storage error.
 */
int mds_retention_now(struct mds_txn *t, uint64_t *now_ns);

/*
 * mds_retention_tick - after a successful op: persist the high-water mark
 * if the effective time moved a second past it (cheap otherwise).
 */
int mds_retention_tick(struct mds_txn *t);

/*
 * mds_retention_settle - the op that ran in @t ended with @rc (0: its
 * nested transaction commits): a high-water mark it wrote counts as
 * persisted only then, so a refused op is retried by the next one.
 * Called by mds_ns_apply after every op.
 */
void mds_retention_settle(struct mds_txn *t, int rc);

/*
 * mds_retention_check - refuse to delete or overwrite @cur (the record of
 * @name, what = "delete", "overwrite", "append to") while it is locked:
 * MDS_ELOCKED with op->status naming the object, the mode and the
 * retain-until time, or the legal hold. Governance retention yields to
 * op->bypass_governance. Every path that replaces or deletes a record
 * calls this before it commits (namespace.c, append.c, copy.c,
 * multipart.c, blocklist.c).
 */
int mds_retention_check(struct mds_txn *t, struct mds_op *op, struct mds_str name,
			const struct mds_object *cur, const char *what);

/*
 * mds_retention_validate_new - a new record's own lock (@in) must not be
 * already expired: MDS_EINVAL when a retain-until date is not in the future.
 */
int mds_retention_validate_new(struct mds_txn *t, struct mds_op *op,
			       const struct mds_object_in *in);

/* Ops of kinds 70-79. */
int mds_retention_apply(struct mds_txn *t, struct mds_op *op);

#endif /* MDS_RETENTION_H */
