/*
 * policy.h - role bindings stored in the island's LMDB environment (the
 * `policy` database) and loaded into the authorization engine (authz.h).
 *
 * A binding is written by the store's writer like any other mutation
 * (MDS_OP_POLICY_BIND / MDS_OP_POLICY_UNBIND in namespace.h), so it is
 * durable when acknowledged and, later, published by the feed. The writer
 * assigns ids: one more than the largest id ever stored (ids are never
 * reused while a higher one exists). A binding that mds_authz_add() would
 * refuse is refused here too, so whatever is stored always loads.
 *
 * Value layout (docs/storage-format.md, `policy`):
 *   u8 format (1) | u8 deny | u64 BE ctime_ns |
 *   4 x (u16 BE length, bytes): subject, role, scope, condition
 */
#ifndef MDS_POLICY_H
#define MDS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "mds/namespace.h"

/* authz.h is not included: its scope names clash with mds/quota.h's. */
struct mds_authz;
struct mds_txn;

/* A stored binding; strings point into the reader's snapshot. */
struct mds_policy_binding {
	uint64_t id;
	int deny;
	uint64_t ctime_ns;
	struct mds_str subject;
	struct mds_str role;
	struct mds_str scope;
	struct mds_str condition;
};

/*
 * mds_policy_apply - the writer's call-out for kinds 60-69. Bind: checks
 * the binding (MDS_EINVAL naming the bad part), stores it under a fresh id
 * (op->out_version). Unbind: MDS_ENOTFOUND when op->policy.id is absent.
 */
int mds_policy_apply(struct mds_txn *t, struct mds_op *op);

/*
 * mds_policy_list - call @emit for each binding with id > @after_id in id
 * order, at most @limit (0 = all); a non-zero return from @emit stops the
 * walk and is returned. @r: a begun reader (borrowed). Returns 0,
 * MDS_ECORRUPT (a record does not decode), or an LMDB error.
 */
typedef int (*mds_policy_emit_fn)(void *arg, const struct mds_policy_binding *b);
int mds_policy_list(struct mds_reader *r, uint64_t after_id, size_t limit,
		    mds_policy_emit_fn emit, void *arg, struct mds_status *st);

/* mds_policy_get - the binding @id, MDS_ENOTFOUND if absent. */
int mds_policy_get(struct mds_reader *r, uint64_t id, struct mds_policy_binding *out,
		   struct mds_status *st);

/*
 * mds_policy_load - add every stored binding to @a (borrowed; normally a
 * fresh mds_authz_new()). Returns 0 or the first error.
 */
int mds_policy_load(struct mds_reader *r, struct mds_authz *a, struct mds_status *st);

/* mds_policy_add_to - add one binding to @a (copies the strings). */
int mds_policy_add_to(struct mds_authz *a, const struct mds_policy_binding *b,
		      struct mds_status *st);

#endif /* MDS_POLICY_H */
