/*
 * test_authz.c - the decision table for roles x scopes x conditions x
 * actions x resources, deny-wins, listing on prefixes, the cache and its
 * invalidation, and parse errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "testutil.h"

struct row {
	const char *why;
	const char *principal;
	const char *group;        /* NULL = none */
	uint32_t action;
	const char *team, *bucket, *name;
	const char *tag_k, *tag_v;    /* object tag */
	const char *rtag_k, *rtag_v;  /* request tag */
	enum mds_authz_effect expect;
	uint64_t by;              /* binding expected to decide (0 = none) */
};

/*
 * The policy under test:
 *  1 alice   reader  on team/ml
 *  2 bob     writer  on bucket/ckpt
 *  3 carol   writer  on prefix/ckpt/runs/carol/
 *  4 group:auditors reader on island
 *  5 bob     deny writer on prefix/ckpt/frozen/           (deny wins)
 *  6 dave    writer  on bucket/data if name startswith 'public/' or tag:class == 'open'
 *  7 erin    writer  on bucket/data if not reqtag:env == 'prod'
 *  8 root    admin   on island
 *  9 group:auditors deny read on bucket/secret
 * 10 frank   read,list (custom) on bucket/data if bucket == 'data' and name startswith 'a/'
 */
static struct mds_authz *policy(void)
{
	struct mds_authz *a;
	struct mds_status st;

	assert_int_equal(mds_authz_new(&a), 0);
	assert_int_equal(mds_authz_add(a, 1, "alice", "reader", "team/ml", 0, "", &st), 0);
	assert_int_equal(mds_authz_add(a, 2, "bob", "writer", "bucket/ckpt", 0, "", &st), 0);
	assert_int_equal(mds_authz_add(a, 3, "carol", "writer", "prefix/ckpt/runs/carol/", 0, "", &st), 0);
	assert_int_equal(mds_authz_add(a, 4, "group:auditors", "reader", "island", 0, "", &st), 0);
	assert_int_equal(mds_authz_add(a, 5, "bob", "writer", "prefix/ckpt/frozen/", 1, "", &st), 0);
	assert_int_equal(mds_authz_add(a, 6, "dave", "writer", "bucket/data", 0,
				       "name startswith 'public/' or tag:class == 'open'", &st), 0);
	assert_int_equal(mds_authz_add(a, 7, "erin", "writer", "bucket/data", 0,
				       "not reqtag:env == 'prod'", &st), 0);
	assert_int_equal(mds_authz_add(a, 8, "root", "admin", "island", 0, "", &st), 0);
	assert_int_equal(mds_authz_add(a, 9, "group:auditors", "read", "bucket/secret", 1, "", &st), 0);
	assert_int_equal(mds_authz_add(a, 10, "frank", "read,list", "bucket/data", 0,
				       "bucket == 'data' and (name startswith 'a/')", &st), 0);
	return a;
}

static const struct row rows[] = {
	{ "reader reads in its team", "alice", NULL, MDS_ACT_READ, "ml", "ckpt", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 1 },
	{ "reader lists in its team", "alice", NULL, MDS_ACT_LIST, "ml", "ckpt", "", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 1 },
	{ "reader cannot put", "alice", NULL, MDS_ACT_PUT, "ml", "ckpt", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "reader has nothing in another team", "alice", NULL, MDS_ACT_READ, "vision", "imgs", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "writer puts in its bucket", "bob", NULL, MDS_ACT_PUT, "ml", "ckpt", "runs/1", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 2 },
	{ "writer deletes in its bucket", "bob", NULL, MDS_ACT_DELETE, "ml", "ckpt", "runs/1", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 2 },
	{ "writer cannot set retention", "bob", NULL, MDS_ACT_SET_RETENTION, "ml", "ckpt", "runs/1", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "writer not in another bucket", "bob", NULL, MDS_ACT_PUT, "ml", "other", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "deny wins over the bucket grant", "bob", NULL, MDS_ACT_PUT, "ml", "ckpt", "frozen/a", NULL, NULL, NULL, NULL, MDS_AUTHZ_DENY, 5 },
	{ "deny covers reads too (writer role)", "bob", NULL, MDS_ACT_READ, "ml", "ckpt", "frozen/a", NULL, NULL, NULL, NULL, MDS_AUTHZ_DENY, 5 },
	{ "deny does not reach next to its prefix", "bob", NULL, MDS_ACT_PUT, "ml", "ckpt", "frozenx", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 2 },
	{ "listing a denied prefix is denied", "bob", NULL, MDS_ACT_LIST, "ml", "ckpt", "frozen/", NULL, NULL, NULL, NULL, MDS_AUTHZ_DENY, 5 },
	{ "prefix grant: inside", "carol", NULL, MDS_ACT_PUT, "ml", "ckpt", "runs/carol/s1", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 3 },
	{ "prefix grant: sibling", "carol", NULL, MDS_ACT_PUT, "ml", "ckpt", "runs/dave/s1", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "prefix grant: list inside", "carol", NULL, MDS_ACT_LIST, "ml", "ckpt", "runs/carol/2026/", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 3 },
	{ "prefix grant: list the parent is denied", "carol", NULL, MDS_ACT_LIST, "ml", "ckpt", "runs/", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "prefix grant: list the bucket is denied", "carol", NULL, MDS_ACT_LIST, "ml", "ckpt", "", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "prefix grant: no bucket create", "carol", NULL, MDS_ACT_CREATE_BUCKET, "ml", "ckpt", "", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "group reader anywhere", "zed", "auditors", MDS_ACT_READ, "vision", "imgs", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 4 },
	{ "group reader cannot put", "zed", "auditors", MDS_ACT_PUT, "vision", "imgs", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "group deny on secret wins", "zed", "auditors", MDS_ACT_READ, "sec", "secret", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DENY, 9 },
	{ "group deny is read only: list allowed", "zed", "auditors", MDS_ACT_LIST, "sec", "secret", "", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 4 },
	{ "not in the group", "zed", "others", MDS_ACT_READ, "vision", "imgs", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "a principal named like the group is not the group", "group:auditors", NULL, MDS_ACT_READ, "vision", "imgs", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "condition: name prefix holds", "dave", NULL, MDS_ACT_PUT, "t", "data", "public/x", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 6 },
	{ "condition: tag holds", "dave", NULL, MDS_ACT_PUT, "t", "data", "priv/x", "class", "open", NULL, NULL, MDS_AUTHZ_ALLOW, 6 },
	{ "condition: tag value differs", "dave", NULL, MDS_ACT_PUT, "t", "data", "priv/x", "class", "closed", NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "condition: neither", "dave", NULL, MDS_ACT_PUT, "t", "data", "priv/x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "condition: object tag is not a request tag", "dave", NULL, MDS_ACT_PUT, "t", "data", "priv/x", NULL, NULL, "class", "open", MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "not reqtag: absent tag", "erin", NULL, MDS_ACT_PUT, "t", "data", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 7 },
	{ "not reqtag: env=dev", "erin", NULL, MDS_ACT_PUT, "t", "data", "x", NULL, NULL, "env", "dev", MDS_AUTHZ_ALLOW, 7 },
	{ "not reqtag: env=prod", "erin", NULL, MDS_ACT_PUT, "t", "data", "x", NULL, NULL, "env", "prod", MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "admin sets quotas", "root", NULL, MDS_ACT_SET_QUOTA, "ml", "", "", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 8 },
	{ "admin bypasses governance", "root", NULL, MDS_ACT_BYPASS_GOVERNANCE, "ml", "ckpt", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 8 },
	{ "custom role: read with condition", "frank", NULL, MDS_ACT_READ, "t", "data", "a/1", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 10 },
	{ "custom role: list inside a/", "frank", NULL, MDS_ACT_LIST, "t", "data", "a/", NULL, NULL, NULL, NULL, MDS_AUTHZ_ALLOW, 10 },
	{ "custom role: list of everything denied", "frank", NULL, MDS_ACT_LIST, "t", "data", "", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "custom role: no put", "frank", NULL, MDS_ACT_PUT, "t", "data", "a/1", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "unknown principal", "mallory", NULL, MDS_ACT_READ, "ml", "ckpt", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
	{ "empty principal", "", NULL, MDS_ACT_READ, "ml", "ckpt", "x", NULL, NULL, NULL, NULL, MDS_AUTHZ_DEFAULT_DENY, 0 },
};

static void fill(const struct row *r, struct mds_authz_subject *s, struct mds_str *g,
		 struct mds_authz_resource *res, struct mds_pair *tag, struct mds_pair *rtag)
{
	memset(s, 0, sizeof(*s));
	memset(res, 0, sizeof(*res));
	s->principal = tu_s(r->principal);
	if (r->group) {
		*g = tu_s(r->group);
		s->groups = g;
		s->n_groups = 1;
	}
	res->team = tu_s(r->team);
	res->bucket = tu_s(r->bucket);
	res->name = tu_s(r->name);
	if (r->tag_k) {
		*tag = (struct mds_pair){ tu_s(r->tag_k), tu_s(r->tag_v) };
		res->object_tags = tag;
		res->n_object_tags = 1;
	}
	if (r->rtag_k) {
		*rtag = (struct mds_pair){ tu_s(r->rtag_k), tu_s(r->rtag_v) };
		res->request_tags = rtag;
		res->n_request_tags = 1;
	}
}

static void test_decision_table(void **state)
{
	struct mds_authz *a = policy();
	struct mds_authz_cache *c;
	int allow = 0, deny = 0, def = 0;

	(void)state;
	assert_int_equal(mds_authz_cache_new(&c, 64), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mds_authz_subject s;
		struct mds_authz_resource res;
		struct mds_str g;
		struct mds_pair tag, rtag;
		struct mds_authz_decision d, dc;

		fill(&rows[i], &s, &g, &res, &tag, &rtag);
		d = mds_authz_decide(a, &s, rows[i].action, &res);
		if (d.effect != rows[i].expect || d.binding_id != rows[i].by)
			fprintf(stderr, "row %zu '%s': got effect %d by %llu\n", i, rows[i].why, d.effect,
				(unsigned long long)d.binding_id);
		assert_int_equal(d.effect, rows[i].expect);
		assert_int_equal(d.binding_id, rows[i].by);
		/* The cache answers the same, twice. */
		for (int k = 0; k < 2; k++) {
			dc = mds_authz_cache_decide(c, a, &s, rows[i].action, &res);
			assert_int_equal(dc.effect, d.effect);
			assert_int_equal(dc.binding_id, d.binding_id);
		}
		allow += d.effect == MDS_AUTHZ_ALLOW;
		deny += d.effect == MDS_AUTHZ_DENY;
		def += d.effect == MDS_AUTHZ_DEFAULT_DENY;
	}
	printf("decision table: %zu rows: %d allow, %d explicit deny, %d default deny\n",
	       sizeof(rows) / sizeof(rows[0]), allow, deny, def);
	{
		uint64_t hits, misses;

		mds_authz_cache_stats(c, &hits, &misses);
		assert_true(hits > 0);
	}
	mds_authz_cache_free(c);
	mds_authz_free(a);
}

static void test_cache_invalidated_by_policy_change(void **state)
{
	struct mds_authz *a = policy();
	struct mds_authz_cache *c;
	struct mds_authz_subject s = { .principal = MDS_STR("bob") };
	struct mds_authz_resource res = { .team = MDS_STR("ml"), .bucket = MDS_STR("ckpt"),
					  .name = MDS_STR("runs/1") };
	struct mds_status st;

	(void)state;
	assert_int_equal(mds_authz_cache_new(&c, 16), 0);
	assert_int_equal(mds_authz_cache_decide(c, a, &s, MDS_ACT_PUT, &res).effect, MDS_AUTHZ_ALLOW);
	assert_int_equal(mds_authz_cache_decide(c, a, &s, MDS_ACT_PUT, &res).effect, MDS_AUTHZ_ALLOW);
	/* A new deny takes effect at once, cached or not. */
	assert_int_equal(mds_authz_add(a, 50, "bob", "put", "bucket/ckpt", 1, "", &st), 0);
	assert_int_equal(mds_authz_cache_decide(c, a, &s, MDS_ACT_PUT, &res).effect, MDS_AUTHZ_DENY);
	assert_int_equal(mds_authz_remove(a, 50), 0);
	assert_int_equal(mds_authz_remove(a, 50), MDS_ENOTFOUND);
	assert_int_equal(mds_authz_cache_decide(c, a, &s, MDS_ACT_PUT, &res).effect, MDS_AUTHZ_ALLOW);
	assert_int_equal(mds_authz_remove(a, 2), 0);
	assert_int_equal(mds_authz_cache_decide(c, a, &s, MDS_ACT_PUT, &res).effect,
			 MDS_AUTHZ_DEFAULT_DENY);
	mds_authz_cache_free(c);
	mds_authz_free(a);
}

static void test_explain(void **state)
{
	struct mds_authz *a = policy();
	struct mds_authz_subject s = { .principal = MDS_STR("bob") };
	struct mds_authz_resource res = { .team = MDS_STR("ml"), .bucket = MDS_STR("ckpt"),
					  .name = MDS_STR("frozen/x") };
	char buf[4096];
	struct mds_authz_decision d;

	(void)state;
	d = mds_authz_explain(a, &s, MDS_ACT_PUT, &res, buf, sizeof(buf));
	assert_int_equal(d.effect, MDS_AUTHZ_DENY);
	assert_non_null(strstr(buf, "binding 5 deny bob on prefix/ckpt/frozen/: subject matches, action included, scope covers, condition holds"));
	assert_non_null(strstr(buf, "binding 2 allow bob on bucket/ckpt: subject matches"));
	assert_non_null(strstr(buf, "decision: deny by binding 5"));
	mds_authz_free(a);
}

/* The request path loads object tags only while a binding reads them. */
static void test_uses_object_tags(void **state)
{
	struct mds_authz *a;
	struct mds_status st;

	(void)state;
	assert_int_equal(mds_authz_new(&a), 0);
	assert_int_equal(mds_authz_uses_object_tags(a), 0);
	assert_int_equal(mds_authz_add(a, 1, "u", "reader", "island", 0,
				       "reqtag:env == 'prod' and name startswith 'a'", &st), 0);
	assert_int_equal(mds_authz_uses_object_tags(a), 0);
	assert_int_equal(mds_authz_add(a, 2, "u", "reader", "island", 0,
				       "name startswith 'a' or not (tag:p == 'x')", &st), 0);
	assert_int_equal(mds_authz_add(a, 3, "u", "reader", "island", 1, "tag:q == 'y'", &st), 0);
	assert_int_equal(mds_authz_uses_object_tags(a), 1);
	assert_int_equal(mds_authz_remove(a, 2), 0);
	assert_int_equal(mds_authz_uses_object_tags(a), 1);
	assert_int_equal(mds_authz_remove(a, 3), 0);
	assert_int_equal(mds_authz_uses_object_tags(a), 0);
	/* a refused binding leaves the count alone */
	assert_int_not_equal(mds_authz_add(a, 4, "u", "reader", "island", 0, "tag:q ==", &st), 0);
	assert_int_equal(mds_authz_uses_object_tags(a), 0);
	mds_authz_free(a);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *subject, *role, *scope, *cond, *msg;
	} bad[] = {
		{ "x", "superuser", "island", "", "superuser" },
		{ "x", "read,fly", "island", "", "fly" },
		{ "x", "reader", "planet", "", "scope" },
		{ "x", "reader", "team/Bad Team", "", "team name" },
		{ "x", "reader", "bucket/ab", "", "bucket name" },
		{ "x", "reader", "prefix/ckpt", "", "prefix/BUCKET/PREFIX" },
		{ "x", "reader", "island", "name == 'a'", "startswith" },
		{ "x", "reader", "island", "name startswith a", "single quotes" },
		{ "x", "reader", "island", "name startswith 'a", "unterminated" },
		{ "x", "reader", "island", "tag:k = 'v'", "==" },
		{ "x", "reader", "island", "tag: == 'v'", "tag key" },
		{ "x", "reader", "island", "bucket == 'a' and", "expected" },
		{ "x", "reader", "island", "(bucket == 'a'", "')'" },
		{ "x", "reader", "island", "bucket == 'a' xor bucket == 'b'", "byte 14" },
		{ "x", "reader", "island", "bucket == 'a\\q'", "escapes" },
		{ "", "reader", "island", "", "subject" },
		{ "group:", "reader", "island", "", "subject" },
	};
	struct mds_authz *a;
	struct mds_status st;
	char deep[256] = "";

	(void)state;
	assert_int_equal(mds_authz_new(&a), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = mds_authz_add(a, i + 1, bad[i].subject, bad[i].role, bad[i].scope, 0, bad[i].cond, &st);

		if (rc != MDS_EINVAL || !strstr(st.msg, bad[i].msg))
			fprintf(stderr, "bad %zu: rc %d msg '%s'\n", i, rc, st.msg);
		assert_int_equal(rc, MDS_EINVAL);
		assert_non_null(strstr(st.msg, bad[i].msg));
	}
	for (int i = 0; i < 40; i++)
		strcat(deep, "(");
	assert_int_equal(mds_authz_add(a, 99, "x", "reader", "island", 0, deep, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "deeply"));
	assert_int_equal(mds_authz_add(a, 100, "x", "reader", "island", 0,
				       "not not (name startswith 'a\\'b' or tag:k\\x == '')", &st), 0);
	assert_int_equal(mds_authz_add(a, 100, "y", "reader", "island", 0, "", &st), MDS_EEXIST);
	assert_int_equal(mds_authz_add(a, 0, "y", "reader", "island", 0, "", &st), MDS_EINVAL);
	mds_authz_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision_table),
		cmocka_unit_test(test_cache_invalidated_by_policy_change),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_uses_object_tags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
