/*
 * test_local_issuer.c - the embedded default's local issuer: the admin
 * token it writes validates through an authority that loads its JWKS (and
 * expires when it says), the key survives a second setup so earlier tokens
 * stay good, the files are mode 0600, a token from another local issuer is
 * refused, and a broken key file is reported rather than replaced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "local_issuer.h"

static int64_t clock_now;
static char dir[64], dir2[64];

static int64_t test_clock(void *arg)
{
	(void)arg;
	return clock_now;
}

static char *read_line(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static struct mds_auth *open_auth(const struct mds_local_issuer *li)
{
	static const char *const iss[] = { MDS_LOCAL_ISSUER };
	struct mds_auth_config cfg;
	struct mds_auth *a = NULL;
	struct mds_status st;

	mds_auth_config_init(&cfg);
	cfg.issuers = iss;
	cfg.n_issuers = 1;
	cfg.audience = MDS_LOCAL_AUDIENCE;
	cfg.jwks_file = li->jwks_file;
	cfg.clock = test_clock;
	assert_int_equal(mds_auth_open(&cfg, &a, &st), 0);
	assert_int_equal(mds_auth_refresh(a, &st), 0);
	return a;
}

static int validate(struct mds_auth *a, const char *tok, char *principal, size_t cap,
		    struct mds_status *st)
{
	struct mds_jwt_identity id;
	int rc = mds_auth_validate(a, tok, strlen(tok), &id, st);

	if (rc == 0 && principal)
		snprintf(principal, cap, "%s", id.principal);
	mds_jwt_identity_release(&id);
	return rc;
}

static int mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (int)(sb.st_mode & 0777);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mds-local-issuer-XXXXXX");
	snprintf(dir2, sizeof(dir2), "/tmp/mds-local-issuer-XXXXXX");
	return mkdtemp(dir) != NULL && mkdtemp(dir2) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, dir2);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_admin_token_validates_and_expires(void **state)
{
	struct mds_local_issuer li, li2, other;
	struct mds_status st;
	struct mds_auth *a;
	char tok1[8192], principal[256];

	(void)state;
	clock_now = 1700000000;
	assert_int_equal(mds_local_issuer_setup(dir, clock_now, 3600, &li, &st), 0);
	assert_int_equal(li.key_created, 1);
	assert_int_equal(li.token_exp, clock_now + 3600);
	assert_int_equal(mode_of(li.key_file), 0600);
	assert_int_equal(mode_of(li.token_file), 0600);
	assert_int_equal(strncmp(li.kid, "local-", 6), 0);
	snprintf(tok1, sizeof(tok1), "%s", read_line(li.token_file));

	a = open_auth(&li);
	assert_int_equal(validate(a, tok1, principal, sizeof(principal), &st), 0);
	assert_string_equal(principal, MDS_LOCAL_ADMIN);

	/* a second start keeps the key: the first token is still good */
	clock_now += 10;
	assert_int_equal(mds_local_issuer_setup(dir, clock_now, 3600, &li2, &st), 0);
	assert_int_equal(li2.key_created, 0);
	assert_string_equal(li2.kid, li.kid);
	assert_string_not_equal(read_line(li2.token_file), tok1);
	assert_int_equal(validate(a, tok1, NULL, 0, &st), 0);
	assert_int_equal(validate(a, read_line(li2.token_file), NULL, 0, &st), 0);

	/* finite: refused once exp + skew has passed */
	clock_now = li.token_exp + MDS_AUTH_DEFAULT_SKEW_S + 1;
	assert_int_equal(validate(a, tok1, NULL, 0, &st), MDS_EDENIED);
	assert_non_null(strstr(st.msg, "expired"));

	/* another island's local issuer: a different key, refused here */
	clock_now = 1700000000;
	assert_int_equal(mds_local_issuer_setup(dir2, clock_now, 3600, &other, &st), 0);
	assert_string_not_equal(other.kid, li.kid);
	assert_int_equal(validate(a, read_line(other.token_file), NULL, 0, &st), MDS_EDENIED);
	assert_non_null(strstr(st.msg, "unknown kid"));
	mds_auth_close(a);
}

static void test_bad_key_file_is_reported(void **state)
{
	struct mds_local_issuer li;
	struct mds_status st;
	char p[128];
	FILE *f;

	(void)state;
	snprintf(p, sizeof(p), "%s/local-issuer.key", dir2);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(mds_local_issuer_setup(dir2, 1700000000, 3600, &li, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "local-issuer.key"));
	assert_int_equal(mds_local_issuer_setup(dir2, 1700000000, 0, &li, &st), MDS_EINVAL);
	assert_int_equal(mds_local_issuer_setup("/nonexistent/dir", 1700000000, 3600, &li, &st),
			 MDS_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admin_token_validates_and_expires),
		cmocka_unit_test(test_bad_key_file_is_reported),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
