/*
 * test_policy.c - role bindings in the policy database: ids, refusal of
 * bindings the engine would refuse (nothing stored), unbind, listing from
 * an id, loading into the engine after a reopen, and LMDB failures on the
 * Nth call leaving a policy that still loads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "policy.h"
#include "testutil.h"

static int bind(struct mds_store *s, const char *subject, const char *role, const char *scope,
		int deny, const char *cond, uint64_t *id)
{
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_POLICY_BIND);
	op.policy.subject = tu_s(subject);
	op.policy.role = tu_s(role);
	op.policy.scope = tu_s(scope);
	op.policy.condition = tu_s(cond);
	op.policy.deny = deny;
	rc = mds_store_exec(s, &op);
	if (id)
		*id = op.out_version;
	return rc;
}

static int unbind(struct mds_store *s, uint64_t id)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_POLICY_UNBIND);
	op.policy.id = id;
	return mds_store_exec(s, &op);
}

struct seen {
	uint64_t ids[64];
	size_t n;
};

static int collect(void *arg, const struct mds_policy_binding *b)
{
	struct seen *sn = arg;

	if (sn->n < 64)
		sn->ids[sn->n++] = b->id;
	return 0;
}

static size_t list_ids(struct mds_store *s, uint64_t after, struct seen *sn)
{
	struct mds_reader *r;
	struct mds_status st;

	memset(sn, 0, sizeof(*sn));
	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_policy_list(r, after, 0, collect, sn, &st), 0);
	mds_reader_close(r);
	return sn->n;
}

/* Load the stored policy and decide @principal @action on bucket/@bucket. */
static enum mds_authz_effect decide(struct mds_store *s, const char *principal,
				    uint32_t action, const char *team, const char *bucket,
				    const char *name)
{
	struct mds_reader *r;
	struct mds_authz *a;
	struct mds_status st;
	struct mds_authz_subject subj = { tu_s(principal), NULL, 0 };
	struct mds_authz_resource res;
	struct mds_authz_decision d;

	memset(&res, 0, sizeof(res));
	res.team = tu_s(team);
	res.bucket = tu_s(bucket);
	res.name = tu_s(name);
	assert_int_equal(mds_authz_new(&a), 0);
	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_policy_load(r, a, &st), 0);
	mds_reader_close(r);
	d = mds_authz_decide(a, &subj, action, &res);
	mds_authz_free(a);
	return d.effect;
}

static void test_bind_unbind_reload(void **state)
{
	char dir[256];
	struct mds_store *s;
	struct seen sn;
	uint64_t a, b, c, bad = 0;

	(void)state;
	tu_tmpdir(dir);
	assert_int_equal(mds_store_open(&s, dir, NULL, NULL), 0);
	assert_int_equal(decide(s, "bob", MDS_ACT_PUT, "ml", "ckpt", "x"), MDS_AUTHZ_DEFAULT_DENY);
	assert_int_equal(bind(s, "bob", "writer", "bucket/ckpt", 0, "", &a), 0);
	assert_int_equal(bind(s, "bob", "put", "prefix/ckpt/frozen/", 1, "", &b), 0);
	assert_int_equal(bind(s, "group:ops", "reader", "team/ml", 0,
			      "name startswith 'logs/'", &c), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 2);
	assert_int_equal(c, 3);
	/* what the engine refuses is refused here, and nothing is stored */
	assert_int_equal(bind(s, "bob", "superuser", "island", 0, "", &bad), MDS_EINVAL);
	assert_int_equal(bind(s, "bob", "reader", "galaxy/x", 0, "", &bad), MDS_EINVAL);
	assert_int_equal(bind(s, "bob", "reader", "island", 0, "name startswith", &bad),
			 MDS_EINVAL);
	assert_int_equal(bind(s, "", "reader", "island", 0, "", &bad), MDS_EINVAL);
	assert_int_equal(list_ids(s, 0, &sn), 3);

	assert_int_equal(decide(s, "bob", MDS_ACT_PUT, "ml", "ckpt", "runs/1"), MDS_AUTHZ_ALLOW);
	assert_int_equal(decide(s, "bob", MDS_ACT_PUT, "ml", "ckpt", "frozen/1"), MDS_AUTHZ_DENY);
	assert_int_equal(decide(s, "bob", MDS_ACT_PUT, "ml", "other", "x"),
			 MDS_AUTHZ_DEFAULT_DENY);

	assert_int_equal(list_ids(s, 1, &sn), 2);
	assert_int_equal(sn.ids[0], 2);
	assert_int_equal(unbind(s, a), 0);
	assert_int_equal(unbind(s, a), MDS_ENOTFOUND);
	assert_int_equal(decide(s, "bob", MDS_ACT_PUT, "ml", "ckpt", "runs/1"),
			 MDS_AUTHZ_DEFAULT_DENY);
	/* ids keep growing past the largest stored one */
	assert_int_equal(bind(s, "carol", "reader", "island", 0, "", &a), 0);
	assert_int_equal(a, 4);

	mds_store_close(s);
	assert_int_equal(mds_store_open(&s, dir, NULL, NULL), 0);
	assert_int_equal(list_ids(s, 0, &sn), 3);
	assert_int_equal(sn.ids[0], 2);
	assert_int_equal(sn.ids[2], 4);
	assert_int_equal(decide(s, "carol", MDS_ACT_READ, "ml", "ckpt", "x"), MDS_AUTHZ_ALLOW);
	mds_store_close(s);
	tu_rmrf(dir);
}

/* LMDB failing on the Nth call of a bind: a clean error or success, and the
 * stored policy always loads. */
static void test_bind_faults(void **state)
{
	char dir[256];
	struct mds_store *s;
	struct seen sn;
	int failed = 0;

	(void)state;
	tu_tmpdir(dir);
	assert_int_equal(mds_store_open(&s, dir, NULL, NULL), 0);
	for (unsigned long n = 1; n < 40; n++) {
		size_t before = list_ids(s, 0, &sn);
		int rc;

		mds_store_fault_arm(n, EIO);
		rc = bind(s, "bob", "reader", "island", 0, "", NULL);
		mds_store_fault_arm(0, 0);
		if (rc != 0) {
			failed++;
			assert_true(rc < 0);
			assert_int_equal(list_ids(s, 0, &sn), before);
		} else {
			assert_int_equal(list_ids(s, 0, &sn), before + 1);
		}
		assert_int_equal(decide(s, "bob", MDS_ACT_LIST, "", "", ""),
				 list_ids(s, 0, &sn) ? MDS_AUTHZ_ALLOW : MDS_AUTHZ_DEFAULT_DENY);
	}
	assert_true(failed > 0);
	mds_store_close(s);
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_unbind_reload),
		cmocka_unit_test(test_bind_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
