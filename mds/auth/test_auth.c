/*
 * test_auth.c - the authority's life: fail closed before any key set,
 * refresh from the configured file, persistence of the last good key set
 * across restarts (the window counts from the persisted refresh, not from
 * the restart), failed refreshes keeping the old set, refused
 * configurations and state files, the island key surviving restarts, and
 * validations running while a refresh swaps the key set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "fixtures.h"

static const char *const fx_issuers[] = { FX_ISSUER };
static int64_t clock_now;
static char dir[64];

static int64_t test_clock(void *arg)
{
	(void)arg;
	return clock_now;
}

static char *path(const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void config(struct mds_auth_config *cfg, const char *jwks, const char *state, const char *key)
{
	mds_auth_config_init(cfg);
	cfg->issuers = fx_issuers;
	cfg->n_issuers = 1;
	cfg->audience = FX_AUDIENCE;
	cfg->jwks_file = jwks;
	cfg->state_file = state;
	cfg->island_issuer = "https://island.test";
	cfg->island_key_file = key;
	cfg->clock = test_clock;
}

static int validate(struct mds_auth *a, const char *tok, struct mds_status *st)
{
	struct mds_jwt_identity id;
	int rc = mds_auth_validate(a, tok, strlen(tok), &id, st);

	mds_jwt_identity_release(&id);
	return rc;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mds-auth-test-XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_fail_closed_without_keys(void **state)
{
	struct mds_auth_config cfg;
	struct mds_auth *a = NULL;
	struct mds_status st;
	struct mds_jwt_identity id = { .principal = "alice" };
	char *tok = NULL;

	(void)state;
	clock_now = FX_NOW;
	config(&cfg, NULL, NULL, NULL);
	assert_int_equal(mds_auth_open(&cfg, &a, &st), 0);
	assert_int_equal(mds_auth_get_state(a, NULL), MDS_AUTH_NO_KEYS);
	assert_int_equal(validate(a, FX_TOKEN_EDDSA, &st), MDS_EUNAVAIL);
	assert_non_null(strstr(st.msg, "no key set loaded"));
	assert_int_equal(mds_auth_session_issue(a, &id, 0, &tok, &st), MDS_EUNAVAIL);
	assert_null(tok);
	assert_int_equal(mds_auth_refresh(a, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "no jwks_file"));
	mds_auth_close(a);
}

static void test_persist_and_restart(void **state)
{
	struct mds_auth_config cfg;
	struct mds_auth *a = NULL;
	struct mds_status st;
	char *jwks = path("jwks.json"), *sf = path("state.json"), *tmp = path("state.json.tmp");
	int64_t last = 0;
	struct stat sb;

	(void)state;
	write_file(jwks, FX_JWKS);
	unlink(sf);
	config(&cfg, jwks, sf, NULL);
	clock_now = FX_NOW;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), 0);
	assert_int_equal(mds_auth_refresh(a, &st), 0);
	assert_int_equal(validate(a, FX_TOKEN_RS256, &st), 0);
	assert_int_equal(stat(sf, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_not_equal(stat(tmp, &sb), 0);  /* no temp file left behind */
	mds_auth_close(a);

	/* the key set file is gone; the island restarts 10 h later, offline */
	unlink(jwks);
	clock_now = FX_NOW + 10 * 3600;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), 0);
	assert_int_equal(mds_auth_get_state(a, &last), MDS_AUTH_FRESH);
	assert_int_equal(last, FX_NOW);
	assert_int_equal(validate(a, FX_TOKEN_ES256, &st), 0);
	assert_int_equal(mds_auth_refresh(a, &st), MDS_EIO);
	assert_non_null(strstr(st.msg, "does not exist"));
	assert_int_equal(mds_auth_get_state(a, &last), MDS_AUTH_FRESH);
	assert_int_equal(last, FX_NOW);  /* a failed refresh does not un-age the set */
	clock_now = FX_NOW + 30 * 3600;
	assert_int_equal(mds_auth_get_state(a, NULL), MDS_AUTH_OFFLINE_ALARM);
	assert_int_equal(validate(a, FX_TOKEN_EDDSA, &st), 0);
	mds_auth_close(a);

	/* restarting does not reset the window: 96 h count from the refresh */
	clock_now = FX_NOW + 96 * 3600 + 1;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), 0);
	assert_int_equal(mds_auth_get_state(a, NULL), MDS_AUTH_EXPIRED);
	assert_int_equal(validate(a, FX_TOKEN_EDDSA, &st), MDS_EUNAVAIL);
	assert_non_null(strstr(st.msg, "beyond the offline window"));
	/* the provider comes back: a refresh restores service */
	write_file(jwks, FX_JWKS);
	assert_int_equal(mds_auth_refresh(a, &st), 0);
	assert_int_equal(mds_auth_get_state(a, NULL), MDS_AUTH_FRESH);
	assert_int_equal(validate(a, FX_TOKEN_EDDSA, &st), 0);
	mds_auth_close(a);
	free(jwks);
	free(sf);
	free(tmp);
}

static void test_bad_refresh_keeps_old_set(void **state)
{
	struct mds_auth_config cfg;
	struct mds_auth *a = NULL;
	struct mds_status st;
	char *jwks = path("jwks2.json");
	int64_t last = 0;

	(void)state;
	write_file(jwks, FX_JWKS);
	config(&cfg, jwks, NULL, NULL);
	clock_now = FX_NOW;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), 0);
	assert_int_equal(mds_auth_refresh(a, &st), 0);
	write_file(jwks, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}]}");
	clock_now = FX_NOW + 60;
	assert_int_equal(mds_auth_refresh(a, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "jwks2.json"));
	assert_non_null(strstr(st.msg, "kid 'h'"));
	assert_int_equal(mds_auth_get_state(a, &last), MDS_AUTH_FRESH);
	assert_int_equal(last, FX_NOW);
	assert_int_equal(validate(a, FX_TOKEN_RS256, &st), 0);
	mds_auth_close(a);
	free(jwks);
}

static void test_refused_state_and_config(void **state)
{
	static const char *const island_too[] = { FX_ISSUER, "https://island.test" };
	struct mds_auth_config cfg;
	struct mds_auth *a = NULL;
	struct mds_status st;
	char *sf = path("bad-state.json"), *text = NULL;

	(void)state;
	clock_now = FX_NOW;
	config(&cfg, NULL, sf, NULL);
	/* a refresh time in the future would stretch the window */
	assert_true(asprintf(&text, "{\"format\":\"mds-auth-state/1\",\"refreshed_at\":%lld,\"jwks\":%s}",
			     (long long)FX_NOW + 3600, FX_JWKS) > 0);
	write_file(sf, text);
	assert_int_equal(mds_auth_open(&cfg, &a, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "in the future"));
	assert_null(a);
	free(text);
	write_file(sf, "{\"format\":\"something-else\"}");
	assert_int_equal(mds_auth_open(&cfg, &a, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "remove it and refresh"));

	config(&cfg, NULL, NULL, NULL);
	cfg.audience = NULL;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "audience"));
	config(&cfg, NULL, NULL, NULL);
	cfg.n_issuers = 0;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), MDS_EINVAL);
	config(&cfg, NULL, NULL, NULL);
	cfg.issuers = island_too;
	cfg.n_issuers = 2;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "also a provider issuer"));
	config(&cfg, NULL, NULL, NULL);
	cfg.offline_alarm_s = cfg.offline_window_s + 1;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), MDS_EINVAL);
	config(&cfg, NULL, NULL, NULL);
	cfg.clock_skew_s = -1;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), MDS_EINVAL);
	free(sf);
}

static void test_island_key_survives_restart(void **state)
{
	struct mds_auth_config cfg;
	struct mds_auth *a = NULL, *b = NULL;
	struct mds_status st;
	struct mds_jwt_identity id;
	char *key = path("island.pem"), *other = path("other.pem"), *tok = NULL;
	struct stat sb;

	(void)state;
	clock_now = FX_NOW;
	config(&cfg, NULL, NULL, key);
	assert_int_equal(mds_auth_open(&cfg, &a, &st), 0);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(mds_auth_refresh_from(a, FX_JWKS, strlen(FX_JWKS), &st), 0);
	assert_int_equal(mds_auth_validate(a, FX_TOKEN_EDDSA, strlen(FX_TOKEN_EDDSA), &id, &st), 0);
	assert_int_equal(id.n_groups, 2);
	assert_int_equal(mds_auth_session_issue(a, &id, 600, &tok, &st), 0);
	mds_jwt_identity_release(&id);
	mds_auth_close(a);

	assert_int_equal(mds_auth_open(&cfg, &b, &st), 0);  /* same key file */
	assert_int_equal(mds_auth_refresh_from(b, FX_JWKS, strlen(FX_JWKS), &st), 0);
	assert_int_equal(mds_auth_validate(b, tok, strlen(tok), &id, &st), 0);
	assert_true(id.is_session);
	assert_string_equal(id.principal, FX_ISSUER "#alice");
	assert_int_equal(id.n_groups, 2);
	assert_string_equal(id.groups[1], "admins");
	assert_int_equal(id.expires_at, FX_NOW + 600);
	mds_jwt_identity_release(&id);
	mds_auth_close(b);

	config(&cfg, NULL, NULL, other);  /* another island key */
	assert_int_equal(mds_auth_open(&cfg, &b, &st), 0);
	assert_int_equal(mds_auth_refresh_from(b, FX_JWKS, strlen(FX_JWKS), &st), 0);
	assert_int_equal(validate(b, tok, &st), MDS_EDENIED);
	mds_auth_close(b);

	write_file(other, "not a key");
	assert_int_equal(mds_auth_open(&cfg, &b, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "not a pem ed25519 private key"));
	free(tok);
	free(key);
	free(other);
}

struct worker {
	struct mds_auth *a;
	int failures;
};

static void *validator(void *arg)
{
	struct worker *w = arg;
	struct mds_status st;
	int i;

	for (i = 0; i < 400; i++)
		if (validate(w->a, (i & 1) ? FX_TOKEN_EDDSA : FX_TOKEN_ES256, &st) != 0)
			w->failures++;
	return NULL;
}

static void test_validate_during_refresh(void **state)
{
	struct mds_auth_config cfg;
	struct worker w[2];
	pthread_t th[2];
	struct mds_status st;
	int i;

	(void)state;
	clock_now = FX_NOW;
	config(&cfg, NULL, NULL, NULL);
	memset(w, 0, sizeof(w));
	assert_int_equal(mds_auth_open(&cfg, &w[0].a, &st), 0);
	w[1].a = w[0].a;
	assert_int_equal(mds_auth_refresh_from(w[0].a, FX_JWKS, strlen(FX_JWKS), &st), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, validator, &w[i]), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(mds_auth_refresh_from(w[0].a, FX_JWKS, strlen(FX_JWKS), &st), 0);
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	mds_auth_close(w[0].a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail_closed_without_keys),
		cmocka_unit_test(test_persist_and_restart),
		cmocka_unit_test(test_bad_refresh_keeps_old_set),
		cmocka_unit_test(test_refused_state_and_config),
		cmocka_unit_test(test_island_key_survives_restart),
		cmocka_unit_test(test_validate_during_refresh),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
