/*
 * test_gw_config.c - the config string parser (gw_config.c): what a good
 * string yields, that every malformed one is refused with a message naming
 * the part, and that an allocation failing at any point is reported as
 * MDSGW_ENOMEM with nothing leaked (cmocka's test_malloc checks leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Route gw_config.c's allocations through a failure-injecting allocator. */
static unsigned long alloc_n, alloc_fail_at;

static void *gwt_malloc(size_t n)
{
	if (alloc_fail_at && ++alloc_n == alloc_fail_at)
		return NULL;
	return test_malloc(n);
}

static void gwt_free(void *p)
{
	if (p)
		test_free(p);
}

#define malloc gwt_malloc
#define free gwt_free
#include "gw_config.c"
#undef malloc
#undef free

int gw_status_set(struct mdsgw_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	if (st) {
		st->code = code;
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

static void test_good(void **state)
{
	struct mdsgw_status st;
	struct gw_conf c;

	(void)state;
	assert_int_equal(gw_conf_parse("lmdb:/var/lib/mds?mds=127.0.0.1:7420&timeout_ms=200",
				       &c, &st), 0);
	assert_string_equal(c.scheme, "lmdb");
	assert_string_equal(c.target, "/var/lib/mds");
	assert_string_equal(c.mds, "127.0.0.1:7420");
	assert_int_equal(c.timeout_ms, 200);
	assert_int_equal(c.retries, 3);
	assert_int_equal(c.backoff_ms, 20);
	assert_int_equal(c.tls, 0);
	gw_conf_release(&c);

	assert_int_equal(gw_conf_parse("grpc:h:1?ca=/a%20b.pem&cert=c&key=k&retries=0", &c, &st), 0);
	assert_string_equal(c.target, "h:1");
	assert_int_equal(c.tls, 1);   /* implied by ca= */
	assert_string_equal(c.ca, "/a b.pem");
	assert_string_equal(c.cert, "c");
	assert_string_equal(c.key, "k");
	assert_int_equal(c.retries, 0);
	assert_null(c.mds);
	gw_conf_release(&c);

	assert_int_equal(gw_conf_parse("lmdb:%2Ftmp%3Fx%26y", &c, &st), 0);
	assert_string_equal(c.target, "/tmp?x&y");
	assert_int_equal(c.timeout_ms, 5000);
	gw_conf_release(&c);

	assert_int_equal(gw_conf_parse("lmdb:/x?", &c, &st), 0);   /* no parameters */
	assert_string_equal(c.target, "/x");
	gw_conf_release(&c);

	assert_int_equal(gw_conf_parse("global:eu-west", &c, &st), 0);
	assert_string_equal(c.scheme, "global");
	assert_null(c.origin);
	gw_conf_release(&c);
	assert_int_equal(gw_conf_parse("global:h:1?origin=island-a", &c, &st), 0);
	assert_string_equal(c.origin, "island-a");
	gw_conf_release(&c);

	/* the lookup cache (ABI 1.1): off by default, defaults when on */
	assert_int_equal(gw_conf_parse("grpc:h:1", &c, &st), 0);
	assert_int_equal(c.cache_entries, 0);
	gw_conf_release(&c);
	assert_int_equal(gw_conf_parse("grpc:h:1?cache_entries=100&feed_key=o+1234abcd+AQ%3D%3D",
				       &c, &st), 0);
	assert_int_equal(c.cache_entries, 100);
	assert_int_equal(c.cache_mb, 64);
	assert_int_equal(c.cache_lag_ms, 500);
	assert_int_equal(c.feed_poll_ms, 20);
	assert_int_equal(c.stale_ok_ms, 0);
	assert_string_equal(c.feed_key, "o+1234abcd+AQ==");
	gw_conf_release(&c);
	assert_int_equal(gw_conf_parse("grpc:h:1?cache_entries=1&cache_mb=2&cache_lag_ms=10&"
				       "feed_poll_ms=5&stale_ok_ms=60000", &c, &st), 0);
	assert_int_equal(c.cache_mb, 2);
	assert_int_equal(c.cache_lag_ms, 10);
	assert_int_equal(c.feed_poll_ms, 5);
	assert_int_equal(c.stale_ok_ms, 60000);
	gw_conf_release(&c);
}

static void test_bad(void **state)
{
	static const struct {
		const char *cfg, *msg;
	} bad[] = {
		{ "", "does not start with" },
		{ "lmdb", "does not start with" },
		{ "nfs:/x", "unknown provider 'nfs:'" },
		{ "averyverylongscheme:/x", "does not start with" },
		{ "lmdb:", "names no data directory" },
		{ "grpc:?tls=1", "names no endpoint" },
		{ "lmdb:/x?timeout_ms=0", "timeout_ms='0' is not a number in 1..3600000" },
		{ "lmdb:/x?timeout_ms=-5", "timeout_ms" },
		{ "lmdb:/x?timeout_ms=99999999999999999999", "timeout_ms" },
		{ "lmdb:/x?retries=11", "retries='11'" },
		{ "lmdb:/x?backoff_ms=", "backoff_ms=''" },
		{ "lmdb:/x?tls=yes", "tls='yes'" },
		{ "lmdb:/x?retries=1&retries=2", "retries is given twice" },
		{ "lmdb:/x?mds=a:1&mds=b:2", "mds is given twice" },
		{ "lmdb:/x?mds=", "mds is empty" },
		{ "grpc:h:1?mds=a:1", "mds= applies to lmdb: only" },
		{ "grpc:h:1?cert=c", "needs both cert= and key=" },
		{ "grpc:h:1?key=k", "needs both cert= and key=" },
		{ "grpc:h:1?Tls=1", "unknown config parameter 'Tls'" },
		{ "grpc:h:1?=1", "is not KEY=VALUE" },
		{ "grpc:h:1?tls", "is not KEY=VALUE" },
		{ "grpc:h:1?averyveryverylongkey=1", "is not KEY=VALUE" },
		{ "lmdb:/x%", "bad percent escape in the target" },
		{ "lmdb:/x%4", "bad percent escape" },
		{ "lmdb:/x%zz", "bad percent escape" },
		{ "lmdb:/x%00y", "bad percent escape" },
		{ "grpc:h:1?ca=%0", "bad percent escape in ca" },
		{ "lmdb:/x?cache_entries=10", "applies to grpc: only" },
		{ "global:h:1?feed_key=k", "applies to grpc: only" },
		{ "grpc:h:1?origin=a", "origin applies to global: only" },
		{ "grpc:h:1?cache_entries=0", "cache_entries='0'" },
		{ "grpc:h:1?cache_lag_ms=5", "cache_lag_ms='5' is not a number in 10..600000" },
		{ "grpc:h:1?cache_mb=1&cache_mb=2", "cache_mb is given twice" },
		{ "grpc:h:1?feed_key=", "feed_key is empty" },
	};
	struct mdsgw_status st;
	struct gw_conf c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = gw_conf_parse(bad[i].cfg, &c, &st);

		if (rc != MDSGW_ECONFIG)
			fail_msg("'%s': expected MDSGW_ECONFIG, got %d", bad[i].cfg, rc);
		if (!strstr(st.msg, bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].cfg, st.msg, bad[i].msg);
		assert_null(c.target);   /* nothing to release after an error */
	}
	assert_int_equal(gw_conf_parse(NULL, &c, &st), MDSGW_ECONFIG);
	{
		char *big = test_malloc(9000);

		memset(big, 'a', 8999);
		memcpy(big, "lmdb:/", 6);
		big[8999] = '\0';
		assert_int_equal(gw_conf_parse(big, &c, &st), MDSGW_ECONFIG);
		assert_non_null(strstr(st.msg, "longer than"));
		test_free(big);
	}
}

/* Fail the 1st, 2nd, ... allocation: MDSGW_ENOMEM, no leak, until it passes. */
static void test_alloc_failures(void **state)
{
	const char *cfg = "grpc:h:1?ca=/ca.pem&cert=/c.pem&key=/k.pem&timeout_ms=9";
	struct mdsgw_status st;
	struct gw_conf c;
	unsigned long n;
	int rc;

	(void)state;
	for (n = 1; n < 100; n++) {
		alloc_n = 0;
		alloc_fail_at = n;
		rc = gw_conf_parse(cfg, &c, &st);
		alloc_fail_at = 0;
		if (rc == 0)
			break;
		assert_int_equal(rc, MDSGW_ENOMEM);
		assert_null(c.target);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 6);   /* target and 4 values decoded; the 6th try passes */
	gw_conf_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests_name("gw_config", tests, NULL, NULL);
}
