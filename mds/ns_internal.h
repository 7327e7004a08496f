/*
 * ns_internal.h - building blocks namespace.c shares with the other
 * mutation modules of the core (quotas, append/copy/multipart records).
 * All of them run inside the writer's nested transaction for one op.
 */
#ifndef MDS_NS_INTERNAL_H
#define MDS_NS_INTERNAL_H

#include "kv.h"

/*
 * The island's id counter (meta/next_id, u64 LE; absent = 1): bucket ids,
 * name-tree node ids, blob ids and the global view's tree roots all come
 * from it, so none is ever reused. Read it, then write the next free value
 * in the same write transaction.
 */
int mds_ns_next_id_read(struct mds_txn *t, uint64_t *id);
int mds_ns_next_id_write(struct mds_txn *t, uint64_t id);

/* Validates @name and reads bucket @name into @b (strings borrowed from @t). */
int mds_ns_bucket_lookup(struct mds_txn *t, struct mds_str name, struct mds_bucket *b,
			 struct mds_status *st);

/*
 * mds_ns_object_load - the record of @name in bucket @b, decoded into @o
 * (borrowed from @t until the next write). MDS_ENOTFOUND if absent.
 */
int mds_ns_object_load(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		       struct mds_object *o);

/*
 * mds_ns_object_find - validate @name, read bucket @bucket into @b and the
 * record of @name into @o, with messages a user reads: "@noun 'N' does not
 * exist in @container 'B'" (MDS_ENOTFOUND) or "cannot read @noun 'N': ...".
 * @noun / @container are "object" / "bucket" or, for Azure-only
 * operations, "blob" / "container".
 */
int mds_ns_object_find(struct mds_txn *t, struct mds_str bucket, struct mds_str name,
		       const char *noun, const char *container, struct mds_bucket *b,
		       struct mds_object *o, struct mds_status *st);

/*
 * mds_ns_object_store - write the encoded record @rec as @name's record in
 * bucket @b, allocating name-tree nodes as needed. Does not touch usage.
 */
int mds_ns_object_store(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
			struct mds_str rec);

/*
 * mds_usage_charge - apply a change of @bytes / @objects caused by object
 * @name in bucket @b to every usage counter that covers it (bucket, team),
 * in the current transaction. This is the one place where usage changes,
 * so it is also where quota limits are checked and charged: a refusal
 * returns MDS_EQUOTA with @st naming the scope, and the caller aborts the
 * op (its nested transaction is discarded).
 */
int mds_usage_charge(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		     int64_t bytes, int64_t objects, struct mds_status *st);

/*
 * Problem reporting for the invariant checks (mds_check and the checks of
 * the modules it calls): counts problems and hands each line to the
 * caller's report function.
 */
struct mds_check_ctx {
	mds_check_report_fn report;
	void *arg;
	long problems;
};

void mds_check_problem(struct mds_check_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* MDS_NS_INTERNAL_H */
