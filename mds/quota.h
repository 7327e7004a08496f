/*
 * quota.h (core-internal) - the quota hooks the writer's mutation modules
 * call inside an op's nested transaction. The public side (scopes, reads,
 * ops) is include/mds/quota.h.
 */
#ifndef MDS_QUOTA_INTERNAL_H
#define MDS_QUOTA_INTERNAL_H

#include "kv.h"
#include "mds/quota.h"

/*
 * mds_quota_charge - check every quota scope covering object @name of
 * bucket @b against a change of @bytes / @objects and, if all allow it,
 * charge the prefix counters and grace state. Called by mds_usage_charge
 * (namespace.c) before it charges the bucket and team counters, so the
 * team and bucket usage it reads is the usage before the change.
 * Returns 0, MDS_EQUOTA (@st names the scope, limit, usage, reserved and
 * need; nothing was written) or a store error. Cheap when no quota or
 * reservation exists anywhere (one O(1) count), and a bucket without
 * prefix quotas costs no prefix lookups.
 */
int mds_quota_charge(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		     int64_t bytes, int64_t objects, struct mds_status *st);

/* mds_quota_apply - the writer's call-out for op kinds 20-29. */
int mds_quota_apply(struct mds_txn *t, struct mds_op *op);

/*
 * Converting a reservation inside another module's op (multipart
 * completion, append, copy):
 *   rc = mds_quota_commit_begin(t, token, bucket, name, st);
 *   ... the op's own work, which calls mds_usage_charge once ...
 *   mds_quota_commit_end();
 * begin releases the reservation (which must be for @bucket / @name and
 * not expired) and lets the next charge grow each scope the reservation
 * held by up to the reserved amount without a limit check. end must be
 * called whenever begin returned 0, whatever the op's outcome.
 * Returns 0, MDS_EINVAL (token malformed, bucket/name mismatch),
 * MDS_ENOTFOUND (unknown or expired token) or a store error.
 */
int mds_quota_commit_begin(struct mds_txn *t, struct mds_str token, struct mds_str bucket,
			   struct mds_str name, struct mds_status *st);
void mds_quota_commit_end(void);

#endif /* MDS_QUOTA_INTERNAL_H */
