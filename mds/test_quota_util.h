/*
 * test_quota_util.h - one-line wrappers around quota ops and reads for the
 * quota tests (test_quota*.c). Test-only.
 */
#ifndef MDS_QUOTA_TESTUTIL_H
#define MDS_QUOTA_TESTUTIL_H

#include "mds/quota.h"
#include "testutil.h"

static inline int tq_set(struct mds_store *s, const char *scope, uint32_t set, uint64_t max_b,
			 uint64_t max_o, uint64_t soft_b, uint64_t soft_o, uint64_t grace_ns)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_QUOTA_SET);
	op.scope = tu_s(scope);
	op.principal = tu_s("alice@test");
	op.limits = (struct mds_quota_limits){ set, max_b, max_o, soft_b, soft_o, grace_ns };
	return mds_store_exec(s, &op);
}

static inline int tq_max_bytes(struct mds_store *s, const char *scope, uint64_t max_b)
{
	return tq_set(s, scope, MDS_QUOTA_MAX_BYTES, max_b, 0, 0, 0, 0);
}

static inline int tq_del(struct mds_store *s, const char *scope)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_QUOTA_DELETE);
	op.scope = tu_s(scope);
	op.principal = tu_s("bob@test");
	return mds_store_exec(s, &op);
}

/* Put that keeps the refusal message in @st (may be NULL). */
static inline int tq_put(struct mds_store *s, const char *bucket, const char *name, uint64_t size,
			 struct mds_status *st)
{
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s(bucket);
	op.name = tu_s(name);
	op.obj.size = size;
	rc = mds_store_exec(s, &op);
	if (st)
		*st = op.status;
	return rc;
}

static inline int tq_reserve(struct mds_store *s, const char *bucket, const char *name,
			     uint64_t bytes, uint64_t ttl_ns, char tok[MDS_RESERVATION_TOKEN_LEN + 1],
			     struct mds_status *st)
{
	struct mds_op op;
	int rc;

	if (mds_quota_token_new(tok))
		return MDS_EINTERNAL;
	mds_op_init(&op, MDS_OP_RESERVE);
	op.reservation = tu_s(tok);
	op.bucket = tu_s(bucket);
	op.name = tu_s(name);
	op.reserve_bytes = bytes;
	op.reserve_objects = 1;
	op.reserve_ttl_ns = ttl_ns;
	rc = mds_store_exec(s, &op);
	if (st)
		*st = op.status;
	return rc;
}

static inline int tq_commit(struct mds_store *s, const char *tok, const char *bucket,
			    const char *name, uint64_t size, struct mds_status *st)
{
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_RESERVE_COMMIT);
	op.reservation = tu_s(tok);
	op.bucket = tu_s(bucket);
	op.name = tu_s(name);
	op.obj.size = size;
	rc = mds_store_exec(s, &op);
	if (st)
		*st = op.status;
	return rc;
}

static inline int tq_release(struct mds_store *s, const char *tok)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_RESERVE_RELEASE);
	op.reservation = tu_s(tok);
	return mds_store_exec(s, &op);
}

static inline int tq_sweep(struct mds_store *s, uint32_t max, uint64_t *released)
{
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_RESERVE_SWEEP);
	op.sweep_max = max;
	rc = mds_store_exec(s, &op);
	if (released)
		*released = op.out_version;
	return rc;
}

/* Usage of @scope in a fresh snapshot; the scope strings in @out are cleared. */
static inline int tq_usage(struct mds_store *s, const char *scope, struct mds_quota_info *out)
{
	struct mds_reader *r;
	struct mds_status st;
	int rc;

	if (mds_reader_open(s, &r))
		return MDS_EBUSY;
	rc = mds_reader_begin(r);
	if (rc == 0)
		rc = mds_quota_usage(r, tu_s(scope), out, &st);
	out->scope.name = out->scope.prefix = MDS_STR_NULL;
	mds_reader_close(r);
	return rc;
}

/* mds_check plus mds_quota_check in one fresh snapshot: problems found. */
static inline long tq_check(struct mds_store *s)
{
	struct mds_reader *r;
	struct mds_status st;
	long n, m;

	if (mds_reader_open(s, &r) || mds_reader_begin(r))
		return -1;
	n = mds_check(r, tu_print_problem, NULL, &st);
	m = mds_quota_check(r, tu_print_problem, NULL, &st);
	mds_reader_close(r);
	return n < 0 || m < 0 ? -1 : n + m;
}

#endif /* MDS_QUOTA_TESTUTIL_H */
