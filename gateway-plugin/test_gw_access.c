/*
 * test_gw_access.c - access checks and busy answers through libmdsgw
 * against real daemons:
 *
 *   - mdsgw_access_check through lmdb: (decided in-process from the
 *     read-only environment) and grpc: (Policy.Explain) gives the same
 *     answers for bindings on bucket, team and prefix scopes, groups,
 *     explicit deny over allow, listing prefixes; lmdb: also honours an
 *     object-tag condition; a binding removed or replaced through mds is
 *     seen by the next check; malformed requests and a 1.0-sized struct;
 *   - the retry-after hint: a daemon with per-team rate limits answers
 *     RESOURCE_EXHAUSTED + retry-after-ms; a read waits the hint and
 *     succeeds within its deadline, a read whose deadline is shorter than
 *     the hint fails at once with MDSGW_ERATE, and a write is never
 *     retried; the hint is readable with mdsgw_retry_after_ms().
 *
 * usage: test_gw_access MDS_BIN MDSCTL_BIN
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mds/mdsgw.h"
#include "gw_testutil.h"

static struct gw_daemon d_;       /* policy tests, dev mode */
static struct gw_daemon rl_;      /* rate-limited daemon */
static const char *mds_bin, *mdsctl_bin;

static mdsgw_handle *open_cfg(const char *fmt, ...)
{
	struct mdsgw_status st;
	mdsgw_handle *h = NULL;
	char cfg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cfg, sizeof(cfg), fmt, ap);
	va_end(ap);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &h, &st) != 0)
		fail_msg("open '%s': %s", cfg, st.msg);
	return h;
}

static int check(mdsgw_handle *h, const char *principal, const char *const *groups,
		 size_t n_groups, const char *action, const char *bucket, const char *name)
{
	struct mdsgw_access a = MDSGW_ACCESS_INIT;
	struct mdsgw_status st;
	int allowed = -1, rc;

	a.principal = principal;
	a.action = action;
	a.bucket = bucket;
	a.name = name;
	a.groups = groups;
	a.n_groups = n_groups;
	rc = mdsgw_access_check(h, &a, &allowed, mdsgw_deadline_in_ms(3000), &st);
	if (rc)
		fail_msg("%s: access check %s %s %s/%s: %s", mdsgw_provider(h), principal, action,
			 bucket, name, st.msg);
	assert_true(allowed == 0 || allowed == 1);
	return allowed;
}

static int bind(const char *subject, const char *role, const char *scope, int deny,
		const char *cond)
{
	if (cond)
		return gw_mdsctl(&d_, mdsctl_bin, "policy", "bind", subject, role, scope,
				 "--condition", cond, deny ? "--deny" : (char *)NULL, (char *)NULL);
	return gw_mdsctl(&d_, mdsctl_bin, "policy", "bind", subject, role, scope,
			 deny ? "--deny" : (char *)NULL, (char *)NULL);
}

/* The decisions both providers must give for the bindings of group_setup. */
static void matrix(mdsgw_handle *h)
{
	static const char *const ops[] = { "ops" };

	assert_int_equal(check(h, "alice", NULL, 0, "read", "bkt-a", "x"), 1);
	assert_int_equal(check(h, "alice", NULL, 0, "list", "bkt-a", ""), 1);
	assert_int_equal(check(h, "alice", NULL, 0, "put", "bkt-a", "x"), 0);
	assert_int_equal(check(h, "alice", NULL, 0, "read", "bkt-b", "x"), 0);
	/* team scope covers the team's buckets */
	assert_int_equal(check(h, "bob", NULL, 0, "put", "bkt-a", "open/y"), 1);
	assert_int_equal(check(h, "bob", NULL, 0, "put", "bkt-b", "open/y"), 0);
	/* an explicit deny on a prefix wins over the team grant */
	assert_int_equal(check(h, "bob", NULL, 0, "put", "bkt-a", "secret/y"), 0);
	assert_int_equal(check(h, "bob", NULL, 0, "read", "bkt-a", "secret/y"), 0);
	assert_int_equal(check(h, "bob", NULL, 0, "read", "bkt-a", "secretive"), 1);
	/* prefix scope: objects under it, listings of it or below it */
	assert_int_equal(check(h, "carol", NULL, 0, "read", "bkt-a", "logs/1"), 1);
	assert_int_equal(check(h, "carol", NULL, 0, "read", "bkt-a", "other"), 0);
	assert_int_equal(check(h, "carol", NULL, 0, "list", "bkt-a", "logs/2026/"), 1);
	assert_int_equal(check(h, "carol", NULL, 0, "list", "bkt-a", ""), 0);
	/* a group claim */
	assert_int_equal(check(h, "dave", ops, 1, "read", "bkt-b", "x"), 1);
	assert_int_equal(check(h, "dave", NULL, 0, "read", "bkt-b", "x"), 0);
	/* default deny */
	assert_int_equal(check(h, "nobody", NULL, 0, "read", "bkt-a", "x"), 0);
}

static void test_access_matrix(void **state)
{
	mdsgw_handle *l = open_cfg("lmdb:%s", d_.data);
	mdsgw_handle *g = open_cfg("grpc:%s?timeout_ms=3000", d_.endpoint);

	(void)state;
	assert_true(mdsgw_capabilities(l) & MDSGW_CAP_ACCESS);
	assert_true(mdsgw_capabilities(g) & MDSGW_CAP_ACCESS);
	matrix(l);
	matrix(g);
	/* object-tag condition: lmdb: reads the object's tags from its snapshot */
	assert_int_equal(check(l, "eve", NULL, 0, "read", "bkt-a", "pub"), 1);
	assert_int_equal(check(l, "eve", NULL, 0, "read", "bkt-a", "plain"), 0);
	assert_int_equal(check(l, "eve", NULL, 0, "read", "bkt-a", "missing"), 0);
	mdsgw_close(l);
	mdsgw_close(g);
}

static void test_access_follows_policy(void **state)
{
	mdsgw_handle *l = open_cfg("lmdb:%s", d_.data);
	mdsgw_handle *g = open_cfg("grpc:%s?timeout_ms=3000", d_.endpoint);

	(void)state;
	assert_int_equal(check(l, "frank", NULL, 0, "read", "bkt-b", "x"), 0);
	assert_int_equal(bind("frank", "reader", "bucket/bkt-b", 0, NULL), 0);
	/* the bind is durable when mdsctl returns: the next check sees it */
	assert_int_equal(check(l, "frank", NULL, 0, "read", "bkt-b", "x"), 1);
	assert_int_equal(check(g, "frank", NULL, 0, "read", "bkt-b", "x"), 1);
	/* remove the newest binding and add another: its id may be reused,
	 * the decision must still follow the content */
	assert_int_equal(gw_mdsctl(&d_, mdsctl_bin, "policy", "unbind", "7", (char *)NULL), 0);
	assert_int_equal(check(l, "frank", NULL, 0, "read", "bkt-b", "x"), 0);
	assert_int_equal(bind("frank", "reader", "bucket/bkt-a", 0, NULL), 0);
	assert_int_equal(check(l, "frank", NULL, 0, "read", "bkt-b", "x"), 0);
	assert_int_equal(check(l, "frank", NULL, 0, "read", "bkt-a", "x"), 1);
	assert_int_equal(check(g, "frank", NULL, 0, "read", "bkt-b", "x"), 0);
	assert_int_equal(check(g, "frank", NULL, 0, "read", "bkt-a", "x"), 1);
	/* removing alice's grant takes it away */
	assert_int_equal(gw_mdsctl(&d_, mdsctl_bin, "policy", "unbind", "1", (char *)NULL), 0);
	assert_int_equal(check(l, "alice", NULL, 0, "read", "bkt-a", "x"), 0);
	assert_int_equal(check(g, "alice", NULL, 0, "read", "bkt-a", "x"), 0);
	assert_int_equal(bind("alice", "reader", "bucket/bkt-a", 0, NULL), 0);
	assert_int_equal(check(l, "alice", NULL, 0, "read", "bkt-a", "x"), 1);
	mdsgw_close(l);
	mdsgw_close(g);
}

static void test_access_errors(void **state)
{
	mdsgw_handle *hs[2];
	struct mdsgw_status st;
	int allowed;

	(void)state;
	hs[0] = open_cfg("lmdb:%s", d_.data);
	hs[1] = open_cfg("grpc:%s?timeout_ms=3000", d_.endpoint);
	for (int i = 0; i < 2; i++) {
		struct mdsgw_access a = MDSGW_ACCESS_INIT;

		a.principal = "alice";
		a.action = "reader";           /* a role, not an action */
		a.bucket = "bkt-a";
		a.name = "x";
		allowed = 1;
		assert_int_equal(mdsgw_access_check(hs[i], &a, &allowed, 0, &st), MDSGW_EINVAL);
		assert_int_equal(allowed, 0);
		a.action = "fly";
		allowed = 1;
		assert_int_equal(mdsgw_access_check(hs[i], &a, &allowed, 0, &st), MDSGW_EINVAL);
		assert_int_equal(allowed, 0);
		a.action = "read";
		a.principal = NULL;
		assert_int_equal(mdsgw_access_check(hs[i], &a, &allowed, 0, &st), MDSGW_EINVAL);
		assert_non_null(strstr(st.msg, "principal"));
		/* a caller built for ABI 1.0 knows the struct without team/groups */
		a.principal = "alice";
		a.size = (uint32_t)offsetof(struct mdsgw_access, team);
		a.groups = NULL;
		assert_int_equal(mdsgw_access_check(hs[i], &a, &allowed, 0, &st), 0);
		assert_int_equal(allowed, 1);
		a.size = (uint32_t)offsetof(struct mdsgw_access, name);
		allowed = 1;
		assert_int_equal(mdsgw_access_check(hs[i], &a, &allowed, 0, &st), MDSGW_EABI);
		assert_int_equal(allowed, 0);
		/* a deadline that has passed */
		a.size = sizeof(a);
		allowed = 1;
		assert_int_equal(mdsgw_access_check(hs[i], &a, &allowed, mdsgw_now_ns() - 1, &st),
				 MDSGW_ETIMEDOUT);
		assert_int_equal(allowed, 0);
		mdsgw_close(hs[i]);
	}
}

/* ---- retry-after ---------------------------------------------------------- */

static void test_retry_after(void **state)
{
	mdsgw_handle *g = open_cfg("grpc:%s?timeout_ms=3000&retries=3", rl_.endpoint);
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	struct mdsgw_put p = MDSGW_PUT_INIT;
	struct mdsgw_status st;
	int64_t t0, ms;
	int rc, limited = 0;

	(void)state;
	/* Drain the read bucket (burst 2, 2/s): a short deadline shows the
	 * refusal with its hint instead of waiting. */
	for (int i = 0; i < 10 && !limited; i++) {
		t0 = mdsgw_now_ns();
		rc = mdsgw_resolve(g, "bkt-rl", "nothing", &o, mdsgw_deadline_in_ms(100), &st);
		ms = (mdsgw_now_ns() - t0) / 1000000;
		if (rc == MDSGW_ERATE) {
			limited = 1;
			assert_true(mdsgw_retry_after_ms() > 0);
			assert_true(mdsgw_retry_after_ms() <= 1000);
			assert_non_null(strstr(st.msg, "retry after"));
			assert_true(ms < 100);            /* did not sleep past its deadline */
		} else {
			assert_int_equal(rc, MDSGW_ENOTFOUND);
			assert_int_equal(mdsgw_retry_after_ms(), 0);
		}
	}
	assert_true(limited);
	/* A read with room in its deadline waits the hint and gets its answer. */
	t0 = mdsgw_now_ns();
	rc = mdsgw_resolve(g, "bkt-rl", "nothing", &o, mdsgw_deadline_in_ms(3000), &st);
	ms = (mdsgw_now_ns() - t0) / 1000000;
	assert_int_equal(rc, MDSGW_ENOTFOUND);
	assert_int_equal(mdsgw_retry_after_ms(), 0);
	assert_true(ms >= 100);      /* it waited for a token (~500 ms at 2/s) */
	assert_true(ms < 3000);

	/* Writes (1/s, burst 2, drained by the setup): the second is refused at once, never retried. */
	p.bucket = "bkt-rl";
	p.name = "w1";
	p.content_size = 1;
	rc = mdsgw_put(g, &p, NULL, NULL, mdsgw_deadline_in_ms(3000), &st);
	if (rc == 0) {
		p.name = "w2";
		t0 = mdsgw_now_ns();
		rc = mdsgw_put(g, &p, NULL, NULL, mdsgw_deadline_in_ms(3000), &st);
		ms = (mdsgw_now_ns() - t0) / 1000000;
		assert_int_equal(rc, MDSGW_ERATE);
		assert_true(ms < 500);
	}
	assert_int_equal(rc, MDSGW_ERATE);
	assert_true(mdsgw_retry_after_ms() > 0);
	/* the next call on this thread starts without a hint */
	assert_int_equal(mdsgw_access_check(g, NULL, NULL, 0, &st), MDSGW_EINVAL);
	assert_int_equal(mdsgw_retry_after_ms(), 0);
	mdsgw_close(g);
}

/* ---- setup ---------------------------------------------------------------- */

static int setup_policy_daemon(void)
{
	struct mdsgw_kv pub = { "class", "public" };
	struct mdsgw_put p = MDSGW_PUT_INIT;
	struct mdsgw_status st;
	mdsgw_handle *g = NULL;
	const char *cfgfmt = "grpc:%s";
	char cfg[128];

	if (gw_daemon_start(&d_, mds_bin, 0) != 0)
		return -1;
	if (gw_mdsctl(&d_, mdsctl_bin, "team", "create", "t1", (char *)NULL) ||
	    gw_mdsctl(&d_, mdsctl_bin, "team", "create", "t2", (char *)NULL) ||
	    gw_mdsctl(&d_, mdsctl_bin, "bucket", "create", "bkt-a", "--team", "t1", (char *)NULL) ||
	    gw_mdsctl(&d_, mdsctl_bin, "bucket", "create", "bkt-b", "--team", "t2", (char *)NULL)) {
		fprintf(stderr, "cannot create teams and buckets\n");
		return -1;
	}
	/* ids 1..6, in this order */
	if (bind("alice", "reader", "bucket/bkt-a", 0, NULL) ||
	    bind("bob", "writer", "team/t1", 0, NULL) ||
	    bind("bob", "writer", "prefix/bkt-a/secret/", 1, NULL) ||
	    bind("carol", "reader", "prefix/bkt-a/logs/", 0, NULL) ||
	    bind("group:ops", "reader", "bucket/bkt-b", 0, NULL) ||
	    bind("eve", "reader", "bucket/bkt-a", 0, "tag:class == 'public'")) {
		fprintf(stderr, "cannot create the bindings\n");
		return -1;
	}
	snprintf(cfg, sizeof(cfg), cfgfmt, d_.endpoint);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &g, &st) != 0)
		return -1;
	p.bucket = "bkt-a";
	p.name = "pub";
	p.tags = &pub;
	p.n_tags = 1;
	if (mdsgw_put(g, &p, NULL, NULL, 0, &st) != 0) {
		fprintf(stderr, "put: %s\n", st.msg);
		mdsgw_close(g);
		return -1;
	}
	p.name = "plain";
	p.tags = NULL;
	p.n_tags = 0;
	if (mdsgw_put(g, &p, NULL, NULL, 0, &st) != 0) {
		fprintf(stderr, "put: %s\n", st.msg);
		mdsgw_close(g);
		return -1;
	}
	mdsgw_close(g);
	return 0;
}

static const char *const rl_args[] = { "--rate-limits", "t3:read=2/2,write=1/2", NULL };

static int group_setup(void **state)
{
	(void)state;
	if (setup_policy_daemon() != 0)
		return -1;
	if (gw_daemon_start_ex(&rl_, mds_bin, 0, rl_args, NULL) != 0)
		return -1;
	/* The admin calls name a team, so they count against t3's limits too:
	 * create first, then wait for the buckets to refill (polled in the test). */
	if (gw_mdsctl(&rl_, mdsctl_bin, "team", "create", "t3", (char *)NULL) ||
	    gw_mdsctl(&rl_, mdsctl_bin, "bucket", "create", "bkt-rl", "--team", "t3",
		      (char *)NULL)) {
		fprintf(stderr, "cannot create the rate-limited team and bucket\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	gw_daemon_cleanup(&d_);
	gw_daemon_cleanup(&rl_);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_matrix),
		cmocka_unit_test(test_access_follows_policy),
		cmocka_unit_test(test_access_errors),
		cmocka_unit_test(test_retry_after),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: test_gw_access MDS_BIN MDSCTL_BIN\n");
		return 2;
	}
	mds_bin = argv[1];
	mdsctl_bin = argv[2];
	return cmocka_run_group_tests_name("gateway_access", tests, group_setup, group_teardown);
}
