/*
 * test_alloc_fail.c - make the Nth allocation fail, for every N, in key-set
 * parsing, token validation and the authority's life (open, refresh with
 * persistence, validate, session issue and renewal, close), and check that
 * each call either succeeds completely or returns MDS_ENOMEM: no crash, no
 * out-of-memory disguised as a bad token or key, and (under ASan/LSan) no
 * leak on any cleanup path. This loop found that jansson's lexer drops
 * bytes from strings when an allocation fails (a claim "https://idp.fixture"
 * came back as "https://idp.fiture"); auth_json_begin()/auth_json_failed()
 * in auth_status.h are the answer.
 *
 * Allocation in our code and in jansson goes through the counter: libc's
 * malloc/calloc/realloc/strdup/asprintf are wrapped at link time
 * (-Wl,--wrap, see meson.build), and jansson allocates through the auth
 * module's allocator, which calls the wrapped malloc.
 * OpenSSL's own allocations are not failed (its error paths are its own).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "fixtures.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
int __wrap_asprintf(char **out, const char *fmt, ...);

static long fail_at = -1;  /* index of the allocation to fail; -1: none */
static long n_allocs;      /* allocations counted since the last reset */

static int should_fail(void)
{
	return fail_at >= 0 && n_allocs++ == fail_at;
}

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (should_fail())
		return -1;
	va_start(ap, fmt);
	rc = vasprintf(out, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *const fx_issuers[] = { FX_ISSUER };
static const struct mds_jwt_policy fx_policy = { fx_issuers, 1, FX_AUDIENCE, 300 };
static int64_t clock_now = FX_NOW;
static char dir[64];

static int64_t test_clock(void *arg)
{
	(void)arg;
	return clock_now;
}

/* a call's result under injection: success, or out of memory said plainly */
#define CHECK(rc, st) do { \
	if ((rc) != 0 && (rc) != MDS_ENOMEM) \
		fail_msg("allocation %ld failed: %s:%d got %d '%s', expected 0 or MDS_ENOMEM", \
			 fail_at, __FILE__, __LINE__, (rc), (st).msg); \
	} while (0)

static void scenario_jwks(void)
{
	struct mds_jwks *set = NULL;
	struct mds_status st = { 0 };
	int rc = mds_jwks_parse(FX_JWKS, strlen(FX_JWKS), &set, &st);

	CHECK(rc, st);
	assert_true((rc == 0) == (set != NULL));
	mds_jwks_free(set);
}

static void scenario_validate(const struct mds_jwks *set)
{
	static const char *const toks[] = { FX_TOKEN_RS256, FX_TOKEN_ES256, FX_TOKEN_EDDSA, FX_TOKEN_ENTRA };
	struct mds_jwt_identity id;
	struct mds_status st = { 0 };
	size_t i;
	int rc;

	for (i = 0; i < 4; i++) {
		rc = mds_jwt_validate(toks[i], strlen(toks[i]), set, &fx_policy, FX_NOW, &id, &st);
		CHECK(rc, st);
		if (rc == 0)
			assert_non_null(strstr(id.principal, i == 3 ? "#x" : "#alice"));
		else
			assert_null(id.principal);
		mds_jwt_identity_release(&id);
	}
}

static void scenario_authority(void)
{
	struct mds_auth_config cfg;
	struct mds_auth *a = NULL;
	struct mds_status st = { 0 };
	struct mds_jwt_identity id = { 0 };
	char state_file[128], *sess = NULL, *renewed = NULL;
	int rc;

	snprintf(st.msg, sizeof(st.msg), "(none)");
	mds_auth_config_init(&cfg);
	cfg.issuers = fx_issuers;
	cfg.n_issuers = 1;
	cfg.audience = FX_AUDIENCE;
	cfg.island_issuer = "https://island.test";
	cfg.clock = test_clock;
	snprintf(state_file, sizeof(state_file), "%s/state.json", dir);
	cfg.state_file = state_file;
	unlink(state_file);
	rc = mds_auth_open(&cfg, &a, &st);
	CHECK(rc, st);
	if (rc != 0)
		goto out;
	rc = mds_auth_refresh_from(a, FX_JWKS, strlen(FX_JWKS), &st);
	/* the set is in use even when persisting it ran out of memory */
	if (rc == MDS_EIO && strstr(st.msg, "out of memory") != NULL)
		rc = MDS_ENOMEM;
	CHECK(rc, st);
	if (mds_auth_get_state(a, NULL) != MDS_AUTH_FRESH)
		goto out;
	rc = mds_auth_validate(a, FX_TOKEN_EDDSA, strlen(FX_TOKEN_EDDSA), &id, &st);
	CHECK(rc, st);
	if (rc != 0)
		goto out;
	rc = mds_auth_session_issue(a, &id, 600, &sess, &st);
	CHECK(rc, st);
	if (rc != 0)
		goto out;
	rc = mds_auth_session_renew(a, sess, strlen(sess), 0, &renewed, &st);
	CHECK(rc, st);
out:
	free(renewed);
	free(sess);
	mds_jwt_identity_release(&id);
	mds_auth_close(a);
}

static void loop(const char *what, void (*scenario)(void *), void *arg)
{
	long n;

	for (n = 0;; n++) {
		fail_at = n;
		n_allocs = 0;
		scenario(arg);
		if (n_allocs <= n)  /* nothing left to fail: the run was clean */
			break;
	}
	fail_at = -1;
	printf("%s: failed each of %ld allocations in turn\n", what, n);
	assert_true(n > 5);
}

static void run_jwks(void *arg) { (void)arg; scenario_jwks(); }
static void run_validate(void *arg) { scenario_validate(arg); }
static void run_authority(void *arg) { (void)arg; scenario_authority(); }

static void test_alloc_failures(void **state)
{
	struct mds_jwks *set = NULL;

	(void)state;
	assert_int_equal(mds_jwks_parse(FX_JWKS, strlen(FX_JWKS), &set, NULL), 0);
	loop("jwks parse", run_jwks, NULL);
	loop("token validation", run_validate, set);
	loop("authority", run_authority, NULL);
	mds_jwks_free(set);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mds-auth-oom-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
