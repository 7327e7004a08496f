/*
 * test_quota.c - quota limits, grace, reservations, sweeping and the audit
 * log, one behaviour per test, through ops and reads as a server would use
 * them. The races live in test_quota_race.c, the SIGKILL test in
 * test_quota_kill.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <time.h>

#include "test_quota_util.h"
#include "util.h"

#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)

static _Atomic uint64_t fake_now = T0;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return atomic_load(&fake_now);
}

struct fx {
	char dir[256];
	struct mds_store *s;
};

static struct mds_store *open_store(const char *dir)
{
	struct mds_store_opts o = { .clock = fake_clock };
	struct mds_store *s;
	struct mds_status st;

	assert_int_equal(mds_store_open(&s, dir, &o, &st), 0);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	atomic_store(&fake_now, T0);
	tu_tmpdir(f->dir);
	f->s = open_store(f->dir);
	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_team(f->s, "u"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	assert_int_equal(tu_bucket(f->s, "other", "t"), 0);
	assert_int_equal(tu_bucket(f->s, "elsewhere", "u"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mds_store_fault_arm(0, 0);
	assert_int_equal(tq_check(f->s), 0);
	mds_store_close(f->s);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

static void assert_refused_by(int rc, const struct mds_status *st, const char *scope_and_limit)
{
	if (rc != MDS_EQUOTA || !strstr(st->msg, scope_and_limit))
		fprintf(stderr, "expected refusal by '%s', got %d '%s'\n", scope_and_limit, rc, st->msg);
	assert_int_equal(rc, MDS_EQUOTA);
	assert_non_null(strstr(st->msg, scope_and_limit));
}

static uint64_t used_bytes(struct mds_store *s, const char *scope)
{
	struct mds_quota_info qi;

	assert_int_equal(tq_usage(s, scope, &qi), 0);
	return qi.used_bytes;
}

/* ---- scopes -------------------------------------------------------------------- */

static void test_scope_parse(void **state)
{
	struct mds_quota_scope sc;
	char buf[MDS_QUOTA_SCOPE_MAX + 1];
	struct mds_status st;

	(void)state;
	assert_int_equal(mds_quota_scope_parse(tu_s("team/ml-research"), &sc, &st), 0);
	assert_int_equal(sc.kind, MDS_SCOPE_TEAM);
	assert_int_equal(mds_quota_scope_parse(tu_s("prefix/data/a/b/"), &sc, &st), 0);
	assert_int_equal(sc.kind, MDS_SCOPE_PREFIX);
	assert_true(mds_str_eq(sc.name, tu_s("data")));
	assert_true(mds_str_eq(sc.prefix, tu_s("a/b/")));
	assert_string_equal(mds_quota_scope_format(buf, &sc), "prefix/data/a/b/");
	assert_int_equal(mds_quota_scope_parse(tu_s("prefix/data/a/b"), &sc, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "end with '/'"));
	assert_int_equal(mds_quota_scope_parse(tu_s("prefix/data/"), &sc, &st), MDS_EINVAL);
	assert_int_equal(mds_quota_scope_parse(tu_s("bucket/X"), &sc, &st), MDS_EINVAL);
	assert_int_equal(mds_quota_scope_parse(tu_s("user/x"), &sc, &st), MDS_EINVAL);
	assert_int_equal(mds_quota_scope_parse(tu_s("team"), &sc, &st), MDS_EINVAL);
	assert_int_equal(mds_quota_scope_parse(tu_s(""), &sc, &st), MDS_EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzz target's property, over random scope-shaped strings. */
static void test_scope_parse_random(void **state)
{
	static const struct mds_str parts[] = {
		{ "team/", 5 }, { "bucket/", 7 }, { "prefix/", 7 }, { "data", 4 }, { "ml", 2 },
		{ "a/", 2 }, { "b/", 2 }, { "/", 1 }, { "X", 1 }, { ".", 1 }, { "-", 1 },
		{ "\xff", 1 }, { "\0", 1 }, { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 56 },
	};
	unsigned seed = 12345;
	int accepted = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct mds_quota_scope sc;
		char buf[600];
		size_t n = 0;
		int k = 1 + rand_r(&seed) % 8;

		for (int j = 0; j < k; j++) {
			struct mds_str p = parts[(unsigned)rand_r(&seed) % (sizeof(parts) / sizeof(parts[0]))];

			memcpy(buf + n, p.p, p.len);
			n += p.len;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)buf, n);   /* aborts on a broken property */
		accepted += mds_quota_scope_parse((struct mds_str){ buf, n }, &sc, NULL) == 0;
	}
	assert_true(accepted > 100);
}

static void test_set_validation(void **state)
{
	struct fx *f = *state;
	struct mds_op op;

	assert_int_equal(tq_max_bytes(f->s, "team/nobody", 10), MDS_ENOTFOUND);
	assert_int_equal(tq_max_bytes(f->s, "bucket/nope", 10), MDS_ENOTFOUND);
	assert_int_equal(tq_max_bytes(f->s, "prefix/nope/a/", 10), MDS_ENOTFOUND);
	assert_int_equal(tq_set(f->s, "bucket/data", 0, 0, 0, 0, 0, 0), MDS_EINVAL);
	assert_int_equal(tq_set(f->s, "bucket/data", MDS_QUOTA_MAX_BYTES | MDS_QUOTA_SOFT_BYTES, 10, 0,
				20, 0, 0), MDS_EINVAL);
	mds_op_init(&op, MDS_OP_QUOTA_SET);
	op.scope = tu_s("bucket/data");
	op.limits.set = MDS_QUOTA_MAX_BYTES;
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EINVAL);   /* no principal */
	assert_non_null(strstr(op.status.msg, "principal"));
	assert_int_equal(tq_del(f->s, "bucket/data"), MDS_ENOTFOUND);
}

/* team ⊃ bucket ⊃ prefix ⊃ prefix, each binding in turn. */
static void test_nested_scopes_each_bind(void **state)
{
	struct fx *f = *state;
	struct mds_status st;
	struct mds_quota_info qi;

	assert_int_equal(tq_max_bytes(f->s, "team/t", 1000), 0);
	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 800), 0);
	assert_int_equal(tq_max_bytes(f->s, "prefix/data/a/", 600), 0);
	assert_int_equal(tq_max_bytes(f->s, "prefix/data/a/b/", 400), 0);

	assert_int_equal(tq_put(f->s, "data", "a/b/x", 300, &st), 0);
	assert_refused_by(tq_put(f->s, "data", "a/b/y", 200, &st), &st,
			  "'prefix/data/a/b/': hard limit 400 bytes; used 300, reserved 0, request needs 200");
	assert_int_equal(tq_put(f->s, "data", "a/b/y", 100, &st), 0);     /* exactly at the limit */
	assert_int_equal(tq_put(f->s, "data", "a/z", 200, &st), 0);       /* a/ = 600 */
	assert_refused_by(tq_put(f->s, "data", "a/w", 1, &st), &st,
			  "'prefix/data/a/': hard limit 600 bytes; used 600");
	assert_int_equal(tq_put(f->s, "data", "c", 200, &st), 0);         /* bucket = 800 */
	assert_refused_by(tq_put(f->s, "data", "c2", 1, &st), &st,
			  "'bucket/data': hard limit 800 bytes; used 800");
	assert_int_equal(tq_put(f->s, "other", "x", 200, &st), 0);        /* team = 1000 */
	assert_refused_by(tq_put(f->s, "other", "y", 1, &st), &st,
			  "'team/t': hard limit 1000 bytes; used 1000");
	/* Another team is not affected; names only look like prefixes. */
	assert_int_equal(tq_put(f->s, "elsewhere", "a/b/q", 5000, &st), 0);
	assert_int_equal(tq_put(f->s, "data", "a/bx", 0, &st), 0);

	assert_int_equal(used_bytes(f->s, "prefix/data/a/b/"), 400);
	assert_int_equal(used_bytes(f->s, "prefix/data/a/"), 600);
	assert_int_equal(used_bytes(f->s, "bucket/data"), 800);
	assert_int_equal(used_bytes(f->s, "team/t"), 1000);
	assert_int_equal(tq_usage(f->s, "prefix/data/a/b/", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_BLOCKED_HARD);
	assert_int_equal(qi.used_objects, 2);

	/* Deletes and shrinking overwrites are always allowed, and free room. */
	assert_int_equal(tq_put(f->s, "data", "a/b/x", 100, &st), 0);
	assert_int_equal(used_bytes(f->s, "prefix/data/a/b/"), 200);
	assert_int_equal(tu_del(f->s, "data", tu_s("a/b/y")), 0);
	assert_int_equal(used_bytes(f->s, "prefix/data/a/b/"), 100);
	assert_int_equal(used_bytes(f->s, "team/t"), 700);
	/* Growth by overwrite is checked by its delta. */
	assert_int_equal(tq_put(f->s, "data", "a/b/x", 400, &st), 0);
	assert_refused_by(tq_put(f->s, "data", "a/b/x", 401, &st), &st, "request needs 1");
}

static void test_object_limits_and_lowering(void **state)
{
	struct fx *f = *state;
	struct mds_status st;
	struct mds_quota_info qi;

	assert_int_equal(tq_set(f->s, "prefix/data/logs/", MDS_QUOTA_MAX_OBJECTS, 0, 2, 0, 0, 0), 0);
	assert_int_equal(tq_put(f->s, "data", "logs/1", 10, &st), 0);
	assert_int_equal(tq_put(f->s, "data", "logs/2", 10, &st), 0);
	assert_refused_by(tq_put(f->s, "data", "logs/3", 0, &st), &st,
			  "'prefix/data/logs/': hard limit 2 objects; used 2, reserved 0, request needs 1");
	assert_int_equal(tq_put(f->s, "data", "logs/2", 99999, &st), 0); /* bytes unlimited */

	/* Lowering a limit below usage is allowed, visible, and blocks growth. */
	assert_int_equal(tq_put(f->s, "data", "x", 500, &st), 0);
	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 100), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_BLOCKED_HARD);
	assert_int_equal(qi.limits.max_bytes, 100);
	assert_refused_by(tq_put(f->s, "data", "y", 1, &st), &st, "'bucket/data': hard limit 100 bytes");
	assert_int_equal(tq_put(f->s, "data", "x", 400, &st), 0);        /* shrinking */
	assert_int_equal(tu_del(f->s, "data", tu_s("x")), 0);
	assert_int_equal(tq_put(f->s, "data", "empty", 0, &st), 0);      /* no byte growth */
	/* Removing the quota lifts the limit. */
	assert_int_equal(tq_del(f->s, "bucket/data"), 0);
	assert_int_equal(tq_put(f->s, "data", "y", 1000, &st), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.has_limits, 0);
	assert_int_equal(qi.state, MDS_QUOTA_OK);
}

/* A prefix quota set on a prefix that already holds objects counts them once. */
static void test_prefix_counts_existing_objects(void **state)
{
	struct fx *f = *state;
	struct mds_quota_info qi;
	char name[32];

	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "%s/%02d", i % 3 ? "in" : "out", i);
		assert_int_equal(tq_put(f->s, "data", name, (uint64_t)i, NULL), 0);
	}
	assert_int_equal(tq_usage(f->s, "prefix/data/in/", &qi), MDS_ENOTFOUND);
	assert_int_equal(tq_set(f->s, "prefix/data/in/", MDS_QUOTA_MAX_OBJECTS, 0, 1000, 0, 0, 0), 0);
	assert_int_equal(tq_usage(f->s, "prefix/data/in/", &qi), 0);
	assert_int_equal(qi.used_objects, 20);
	assert_int_equal(qi.used_bytes, 435 - (0 + 3 + 6 + 9 + 12 + 15 + 18 + 21 + 24 + 27));
	assert_int_equal(tq_check(f->s), 0);
	assert_int_equal(tq_put(f->s, "data", "in/new", 7, NULL), 0);
	assert_int_equal(tu_del(f->s, "data", tu_s("in/01")), 0);
	assert_int_equal(tq_usage(f->s, "prefix/data/in/", &qi), 0);
	assert_int_equal(qi.used_objects, 20);
	assert_int_equal(tq_check(f->s), 0);
	/* Removing the last prefix quota drops its counters and the bucket's flag. */
	assert_int_equal(tq_del(f->s, "prefix/data/in/"), 0);
	assert_int_equal(tq_usage(f->s, "prefix/data/in/", &qi), MDS_ENOTFOUND);
}

/* ---- soft limits and grace ---------------------------------------------------- */

static void test_soft_limit_grace(void **state)
{
	struct fx *f = *state;
	struct mds_status st;
	struct mds_quota_info qi;

	assert_int_equal(tq_set(f->s, "bucket/data", MDS_QUOTA_MAX_BYTES | MDS_QUOTA_SOFT_BYTES, 1000,
				0, 100, 0, 10 * SEC), 0);
	assert_int_equal(tq_put(f->s, "data", "a", 80, &st), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_OK);
	/* Passing the soft limit starts the grace clock. */
	assert_int_equal(tq_put(f->s, "data", "b", 70, &st), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_OVER_SOFT);
	assert_int_equal(qi.grace_until_ns, T0 + 10 * SEC);
	/* Growth goes on during the grace period. */
	atomic_store(&fake_now, T0 + 9 * SEC);
	assert_int_equal(tq_put(f->s, "data", "c", 50, &st), 0);
	/* The state survives a restart. */
	mds_store_close(f->s);
	f->s = open_store(f->dir);
	atomic_store(&fake_now, T0 + 10 * SEC);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_BLOCKED_SOFT);
	assert_refused_by(tq_put(f->s, "data", "d", 1, &st), &st,
			  "'bucket/data': soft limit 100 bytes exceeded and its grace ended");
	/* Shrinking is fine; back under the soft limit clears the state. */
	assert_int_equal(tu_del(f->s, "data", tu_s("b")), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_BLOCKED_SOFT);         /* 130 > 100 still */
	assert_int_equal(tu_del(f->s, "data", tu_s("c")), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_OK);
	/* A new crossing starts a new grace period. */
	atomic_store(&fake_now, T0 + 100 * SEC);
	assert_int_equal(tq_put(f->s, "data", "e", 500, &st), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_OVER_SOFT);
	assert_int_equal(qi.grace_until_ns, T0 + 110 * SEC);
	/* The hard limit still binds during grace. */
	assert_refused_by(tq_put(f->s, "data", "f", 500, &st), &st, "hard limit 1000 bytes; used 580");

	/* Soft objects on a team; lowering a soft limit below usage starts the clock at once. */
	assert_int_equal(tq_set(f->s, "team/t", MDS_QUOTA_SOFT_OBJECTS, 0, 0, 0, 1, 5 * SEC), 0);
	assert_int_equal(tq_usage(f->s, "team/t", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_OVER_SOFT);
	assert_int_equal(qi.grace_until_ns, T0 + 105 * SEC);
	atomic_store(&fake_now, T0 + 105 * SEC);
	assert_refused_by(tq_put(f->s, "other", "g", 0, &st), &st, "'team/t': soft limit 1 objects");
	assert_int_equal(tq_put(f->s, "data", "e", 1, &st), 0);      /* no object growth */
}

/* ---- reservations --------------------------------------------------------------- */

static void test_reserve_commit_release(void **state)
{
	struct fx *f = *state;
	char t1[MDS_RESERVATION_TOKEN_LEN + 1], t2[MDS_RESERVATION_TOKEN_LEN + 1];
	struct mds_status st;
	struct mds_quota_info qi;

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 1000), 0);
	assert_int_equal(tq_max_bytes(f->s, "prefix/data/up/", 900), 0);
	assert_int_equal(tq_reserve(f->s, "data", "up/big", 600, 60 * SEC, t1, &st), 0);
	assert_int_equal(strlen(t1), MDS_RESERVATION_TOKEN_LEN);
	assert_int_equal(tq_usage(f->s, "prefix/data/up/", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 600);
	assert_int_equal(qi.reserved_objects, 1);
	assert_int_equal(qi.used_bytes, 0);
	/* Reservations count toward limits, for reservations and puts alike. */
	assert_refused_by(tq_reserve(f->s, "data", "up/other", 350, 60 * SEC, t2, &st), &st,
			  "'prefix/data/up/': hard limit 900 bytes; used 0, reserved 600, request needs 350");
	assert_refused_by(tq_put(f->s, "data", "x", 401, &st), &st,
			  "'bucket/data': hard limit 1000 bytes; used 0, reserved 600, request needs 401");
	/* Commit converts with the actual (smaller) size. */
	assert_int_equal(tq_commit(f->s, t1, "data", "up/big", 450, &st), 0);
	assert_int_equal(tq_usage(f->s, "prefix/data/up/", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 0);
	assert_int_equal(qi.used_bytes, 450);
	assert_int_equal(qi.used_objects, 1);
	assert_int_equal(tq_commit(f->s, t1, "data", "up/big", 450, &st), MDS_ENOTFOUND);

	/* Release gives everything back. */
	assert_int_equal(tq_reserve(f->s, "data", "up/c", 450, 60 * SEC, t2, &st), 0);
	assert_int_equal(tq_usage(f->s, "prefix/data/up/", &qi), 0);
	assert_int_equal(qi.state, MDS_QUOTA_BLOCKED_HARD);   /* 450 used + 450 reserved */
	assert_int_equal(tq_release(f->s, t2), 0);
	assert_int_equal(tq_release(f->s, t2), MDS_ENOTFOUND);
	assert_int_equal(tq_usage(f->s, "prefix/data/up/", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 0);
	assert_int_equal(qi.state, MDS_QUOTA_OK);

	/* A commit bigger than its reservation is checked for the excess. */
	assert_int_equal(tq_reserve(f->s, "data", "up/d", 100, 60 * SEC, t2, &st), 0);
	assert_refused_by(tq_commit(f->s, t2, "data", "up/d", 600, &st), &st,
			  "'bucket/data': hard limit 1000 bytes; used 450, reserved 0, request needs 600");
	/* The refused commit changed nothing: the reservation is still live. */
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 100);
	assert_int_equal(tq_commit(f->s, t2, "data", "up/other-name", 10, &st), MDS_EINVAL);
	/* What was reserved can be committed even after the limit is lowered. */
	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 460), 0);
	assert_int_equal(tq_commit(f->s, t2, "data", "up/d", 100, &st), 0);
	assert_int_equal(used_bytes(f->s, "bucket/data"), 550);

	assert_int_equal(tq_commit(f->s, "zz", "data", "up/d", 1, &st), MDS_EINVAL);
	assert_int_equal(tq_release(f->s, "0123456789abcdef0123456789abcdeg"), MDS_EINVAL);
	assert_int_equal(tq_reserve(f->s, "nope", "x", 1, SEC, t2, &st), MDS_ENOTFOUND);
	assert_int_equal(tq_reserve(f->s, "data", "x", 1, 0, t2, &st), MDS_EINVAL);
}

/* A quota set after a reservation was made is not given back what it never held. */
static void test_scope_added_under_reservation(void **state)
{
	struct fx *f = *state;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];
	struct mds_status st;
	struct mds_quota_info qi;

	assert_int_equal(tq_reserve(f->s, "data", "p/obj", 300, 60 * SEC, tok, &st), 0);
	assert_int_equal(tq_max_bytes(f->s, "prefix/data/p/", 200), 0);
	assert_int_equal(tq_usage(f->s, "prefix/data/p/", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 0);
	/* The new scope was never reserved against, so the commit is checked there. */
	assert_refused_by(tq_commit(f->s, tok, "data", "p/obj", 300, &st), &st,
			  "'prefix/data/p/': hard limit 200 bytes");
	assert_int_equal(tq_commit(f->s, tok, "data", "p/obj", 200, &st), 0);
	/* A scope deleted while it holds a reservation keeps its count until release. */
	assert_int_equal(tq_max_bytes(f->s, "team/t", 10000), 0);
	assert_int_equal(tq_reserve(f->s, "data", "q", 300, 60 * SEC, tok, &st), 0);
	assert_int_equal(tq_del(f->s, "team/t"), 0);
	assert_int_equal(tq_check(f->s), 0);
	assert_int_equal(tq_max_bytes(f->s, "team/t", 10000), 0);
	assert_int_equal(tq_usage(f->s, "team/t", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 300);
	assert_int_equal(tq_release(f->s, tok), 0);
	assert_int_equal(tq_usage(f->s, "team/t", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 0);
}

static int sweep_due(struct mds_store *s, uint64_t *next)
{
	struct mds_reader *r;
	int rc;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	rc = mds_quota_sweep_due(r, next);
	mds_reader_close(r);
	return rc;
}

/* Expired reservations are swept, in bounded batches, across a restart. */
static void test_expiry_sweep_across_restart(void **state)
{
	struct fx *f = *state;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1], keep[MDS_RESERVATION_TOKEN_LEN + 1];
	struct mds_quota_info qi;
	struct mds_status st;
	uint64_t next, n;
	char name[32];

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 1000), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(tq_reserve(f->s, "data", name, 50, 10 * SEC, tok, &st), 0);
	}
	assert_int_equal(tq_reserve(f->s, "data", "long", 100, 100 * SEC, keep, &st), 0);
	assert_int_equal(sweep_due(f->s, &next), 0);
	assert_int_equal(next, T0 + 10 * SEC);
	assert_int_equal(tq_sweep(f->s, 0, &n), 0);
	assert_int_equal(n, 0);

	mds_store_close(f->s);
	atomic_store(&fake_now, T0 + 11 * SEC);
	f->s = open_store(f->dir);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 600);
	assert_int_equal(sweep_due(f->s, NULL), 1);
	/* An expired reservation cannot be committed even before the sweep. */
	assert_int_equal(tq_commit(f->s, tok, "data", "r9", 50, &st), MDS_ENOTFOUND);
	assert_int_equal(tq_sweep(f->s, 4, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(tq_sweep(f->s, 4, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(tq_sweep(f->s, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sweep_due(f->s, NULL), 0);
	assert_int_equal(tq_usage(f->s, "bucket/data", &qi), 0);
	assert_int_equal(qi.reserved_bytes, 100);
	assert_int_equal(qi.reserved_objects, 1);
	assert_int_equal(tq_check(f->s), 0);
	assert_int_equal(tq_commit(f->s, keep, "data", "long", 80, &st), 0);
}

static void test_sweeper_thread(void **state)
{
	struct fx *f = *state;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];
	struct mds_quota_sweeper *sw;
	struct mds_quota_info qi;
	struct mds_status st;

	assert_int_equal(tq_max_bytes(f->s, "team/t", 1000), 0);
	assert_int_equal(tq_reserve(f->s, "data", "x", 700, 5 * SEC, tok, &st), 0);
	assert_int_equal(mds_quota_sweeper_start(f->s, 10, &sw), 0);
	atomic_store(&fake_now, T0 + 6 * SEC);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(tq_usage(f->s, "team/t", &qi), 0);
		if (qi.reserved_bytes == 0)
			break;
		usleep(10000);
	}
	mds_quota_sweeper_stop(sw);
	assert_int_equal(qi.reserved_bytes, 0);
	assert_int_equal(tq_release(f->s, tok), MDS_ENOTFOUND);
}

/* ---- reads and audit -------------------------------------------------------------- */

struct seen {
	char items[16][128];
	int n;
};

static int list_emit(void *arg, const struct mds_quota_info *q)
{
	struct seen *s = arg;
	char buf[MDS_QUOTA_SCOPE_MAX + 1];

	snprintf(s->items[s->n++], 128, "%s %s %llu", mds_quota_scope_format(buf, &q->scope),
		 mds_quota_state_name(q->state), (unsigned long long)q->used_bytes);
	return 0;
}

static int audit_emit(void *arg, const struct mds_quota_audit *a)
{
	struct seen *s = arg;
	char buf[MDS_QUOTA_SCOPE_MAX + 1];

	snprintf(s->items[s->n++], 128, "%llu %.*s %s %s old=%llu new=%llu",
		 (unsigned long long)a->seq, (int)a->principal.len, a->principal.p,
		 a->is_delete ? "delete" : "set", mds_quota_scope_format(buf, &a->scope),
		 a->had_old ? (unsigned long long)a->old_limits.max_bytes : 0ull,
		 a->has_new ? (unsigned long long)a->new_limits.max_bytes : 0ull);
	assert_true(a->time_ns >= T0);
	return 0;
}

static void test_list_get_and_audit(void **state)
{
	struct fx *f = *state;
	struct mds_reader *r;
	struct mds_status st;
	struct mds_quota_info qi;
	struct seen s = { .n = 0 };

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 100), 0);
	atomic_store(&fake_now, T0 + SEC);
	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 200), 0);
	assert_int_equal(tq_max_bytes(f->s, "team/u", 5), 0);
	assert_int_equal(tq_max_bytes(f->s, "prefix/other/x/", 7), 0);
	assert_int_equal(tq_put(f->s, "data", "o", 150, NULL), 0);
	assert_int_equal(tq_del(f->s, "team/u"), 0);

	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_quota_list(r, MDS_STR_NULL, 0, list_emit, &s, &st), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.items[0], "bucket/data ok 150");
	assert_string_equal(s.items[1], "prefix/other/x/ ok 0");
	s.n = 0;
	assert_int_equal(mds_quota_list(r, tu_s("bucket/data"), 0, list_emit, &s, &st), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(mds_quota_get(r, tu_s("team/u"), &qi, &st), MDS_ENOTFOUND);
	assert_int_equal(mds_quota_get(r, tu_s("bucket/data"), &qi, &st), 0);
	assert_int_equal(qi.set_ns, T0 + SEC);
	assert_int_equal(mds_quota_usage(r, tu_s("team/t"), &qi, &st), 0);
	assert_int_equal(qi.used_bytes, 150);
	assert_int_equal(qi.has_limits, 0);
	s.n = 0;
	assert_int_equal(mds_quota_audit_list(r, 0, 0, audit_emit, &s, &st), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.items[0], "1 alice@test set bucket/data old=0 new=100");
	assert_string_equal(s.items[1], "2 alice@test set bucket/data old=100 new=200");
	assert_string_equal(s.items[4], "5 bob@test delete team/u old=5 new=0");
	s.n = 0;
	assert_int_equal(mds_quota_audit_list(r, 3, 1, audit_emit, &s, &st), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.items[0], "4 alice@test set prefix/other/x/ old=0 new=7");
	mds_reader_close(r);
}

/* ---- failure injection ----------------------------------------------------------- */

/* Each LMDB call of a quota op fails in turn; the store stays consistent. */
static void test_fault_injection(void **state)
{
	struct fx *f = *state;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];
	struct mds_status st;
	int kinds[] = { MDS_OP_QUOTA_SET, MDS_OP_OBJECT_PUT, MDS_OP_RESERVE, MDS_OP_RESERVE_COMMIT,
			MDS_OP_RESERVE_RELEASE, MDS_OP_RESERVE_SWEEP, MDS_OP_QUOTA_DELETE };
	uint64_t swept;
	unsigned long total = 0;

	assert_int_equal(tq_put(f->s, "data", "p/a", 10, NULL), 0);
	assert_int_equal(tq_max_bytes(f->s, "team/t", 10000), 0);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (unsigned long n = 1;; n++) {
			unsigned long calls;
			int rc;

			if (kinds[k] == MDS_OP_RESERVE_COMMIT || kinds[k] == MDS_OP_RESERVE_RELEASE)
				assert_int_equal(tq_reserve(f->s, "data", "p/b", 100, 60 * SEC, tok, &st), 0);
			if (kinds[k] == MDS_OP_RESERVE_SWEEP) {
				for (int i = 0; i < 3; i++)
					assert_int_equal(tq_reserve(f->s, "data", "p/s", 10, SEC, tok, &st), 0);
				atomic_fetch_add(&fake_now, 2 * SEC);
			}
			mds_store_fault_arm(n, EIO);
			switch (kinds[k]) {
			case MDS_OP_QUOTA_SET:
				rc = tq_max_bytes(f->s, "prefix/data/p/", 500);
				break;
			case MDS_OP_RESERVE:
				rc = tq_reserve(f->s, "data", "p/c", 100, 60 * SEC, tok, &st);
				break;
			case MDS_OP_RESERVE_COMMIT:
				rc = tq_commit(f->s, tok, "data", "p/b", 60, &st);
				break;
			case MDS_OP_OBJECT_PUT:
				rc = tq_put(f->s, "data", "p/e", 70, &st);
				break;
			case MDS_OP_RESERVE_RELEASE:
				rc = tq_release(f->s, tok);
				break;
			case MDS_OP_RESERVE_SWEEP:
				rc = tq_sweep(f->s, 0, &swept);
				if (rc == 0)   /* plus, once the clock passed its TTL, the reserve loop's */
					assert_true(swept == 3 || swept == 4);
				break;
			default:
				rc = tq_del(f->s, "prefix/data/p/");
				break;
			}
			calls = mds_store_fault_calls();
			mds_store_fault_arm(0, 0);
			assert_int_equal(tq_check(f->s), 0);
			total++;
			if (calls < n) {
				assert_int_equal(rc, 0);
				break;
			}
			assert_int_not_equal(rc, 0);
			/* The failed op changed nothing: undo its setup. */
			if (kinds[k] == MDS_OP_RESERVE_COMMIT || kinds[k] == MDS_OP_RESERVE_RELEASE)
				assert_int_equal(tq_release(f->s, tok), 0);
			if (kinds[k] == MDS_OP_RESERVE_SWEEP) {
				assert_int_equal(tq_sweep(f->s, 0, &swept), 0);
				assert_true(swept == 3 || swept == 4);
			}
		}
		assert_int_equal(tq_check(f->s), 0);
	}
	printf("fault injection: %lu runs\n", total);
	assert_true(total > 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_parse),
		cmocka_unit_test(test_scope_parse_random),
		cmocka_unit_test_setup_teardown(test_set_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_scopes_each_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_object_limits_and_lowering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_counts_existing_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_soft_limit_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_commit_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scope_added_under_reservation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_sweep_across_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweeper_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_get_and_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_injection, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
