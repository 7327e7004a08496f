/*
 * test_names.c - name validation tables: buckets (S3 rules), teams, object
 * names (length, NUL, UTF-8 per RFC 3629).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

struct row {
	const char *name;
	size_t len; /* 0 = strlen */
	int ok;
};

static void test_bucket_names(void **state)
{
	static const struct row rows[] = {
		{ "abc", 0, 1 }, { "my-bucket.v2", 0, 1 }, { "a1b", 0, 1 }, { "123", 0, 1 },
		{ "ab", 0, 0 }, { "Abc", 0, 0 }, { "-abc", 0, 0 }, { "abc-", 0, 0 },
		{ "a..b", 0, 0 }, { "a_b", 0, 0 }, { "192.168.5.4", 0, 0 }, { "1.2.3", 0, 1 },
		{ "xn--abc", 0, 0 }, { "sthree-x", 0, 0 }, { "abc-s3alias", 0, 0 },
		{ "abc--ol-s3", 0, 0 }, { ".abc", 0, 0 }, { "abc.", 0, 0 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 1 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0 },
		{ "a\0c", 3, 0 },
	};
	struct mds_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mds_str n = { rows[i].name, rows[i].len ? rows[i].len : strlen(rows[i].name) };
		int rc = mds_validate_bucket_name(n, &st);

		if ((rc == 0) != rows[i].ok)
			fprintf(stderr, "bucket row %zu '%s': got %d (%s)\n", i, rows[i].name, rc, st.msg);
		assert_int_equal(rc == 0, rows[i].ok);
		if (rc)
			assert_non_null(strstr(st.msg, "bucket name"));
	}
}

static void test_team_names(void **state)
{
	static const struct row rows[] = {
		{ "ml", 0, 1 }, { "ml-research", 0, 1 }, { "a_b", 0, 1 }, { "0team", 0, 1 },
		{ "", 0, 0 }, { "-ml", 0, 0 }, { "ML", 0, 0 }, { "ml team", 0, 0 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0 },
	};
	struct mds_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = mds_validate_team_name(tu_s(rows[i].name), &st);

		assert_int_equal(rc == 0, rows[i].ok);
	}
}

static void test_object_names_utf8(void **state)
{
	static const struct row rows[] = {
		{ "a", 0, 1 }, { "dir/file.bin", 0, 1 }, { "caf\xc3\xa9", 0, 1 },
		{ "\xe6\x97\xa5\xe6\x9c\xac", 0, 1 }, { "\xf0\x9f\x98\x80", 0, 1 },
		{ "\xf4\x8f\xbf\xbf", 0, 1 },      /* U+10FFFF */
		{ "\xf4\x90\x80\x80", 0, 0 },      /* above U+10FFFF */
		{ "\xc0\x80", 0, 0 },              /* overlong NUL */
		{ "\xe0\x80\xaf", 0, 0 },          /* overlong */
		{ "\xed\xa0\x80", 0, 0 },          /* surrogate */
		{ "\xc3", 0, 0 },                  /* truncated */
		{ "\x80", 0, 0 },                  /* lone continuation */
		{ "\xff", 0, 0 },
		{ "a\0b", 3, 0 },
		{ "", 0, 0 },
	};
	char big[MDS_OBJECT_NAME_MAX + 1];
	struct mds_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mds_str n = { rows[i].name, rows[i].len ? rows[i].len : strlen(rows[i].name) };
		int rc = mds_validate_object_name(n, &st);

		if ((rc == 0) != rows[i].ok)
			fprintf(stderr, "object row %zu: got %d (%s)\n", i, rc, st.msg);
		assert_int_equal(rc == 0, rows[i].ok);
	}
	memset(big, 'x', sizeof(big));
	assert_int_equal(mds_validate_object_name((struct mds_str){ big, MDS_OBJECT_NAME_MAX }, &st), 0);
	assert_int_equal(mds_validate_object_name((struct mds_str){ big, MDS_OBJECT_NAME_MAX + 1 }, &st),
			 MDS_EINVAL);
	assert_non_null(strstr(st.msg, "1025 bytes"));
	/* A 4-byte character cut at the limit is invalid UTF-8, not too long. */
	memcpy(big + MDS_OBJECT_NAME_MAX - 2, "\xf0\x9f", 2);
	assert_int_equal(mds_validate_object_name((struct mds_str){ big, MDS_OBJECT_NAME_MAX }, &st),
			 MDS_EINVAL);
	assert_non_null(strstr(st.msg, "UTF-8"));
}

static void test_error_strings(void **state)
{
	(void)state;
	assert_string_equal(mds_error_name(MDS_ENOTFOUND), "MDS_ENOTFOUND");
	assert_string_equal(mds_strerror(MDS_EPRECOND), "precondition failed");
	assert_string_equal(mds_strerror(-2), "No such file or directory");
	assert_string_equal(mds_error_name(-2), "ERRNO");
	assert_int_equal(mds_error_from_name("MDS_EQUOTA", 10), MDS_EQUOTA);
	assert_int_equal(mds_error_from_name("MDS_EQUOTAX", 10), MDS_EQUOTA); /* length counts */
	assert_int_equal(mds_error_from_name("MDS_EQUOT", 9), 0);
	assert_int_equal(mds_error_from_name("MDS_OK", 6), 0);
	for (int e = MDS_ERR_LAST; e >= MDS_ELOCKED; e--)
		assert_int_equal(mds_error_from_name(mds_error_name(e), strlen(mds_error_name(e))), e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_names),
		cmocka_unit_test(test_team_names),
		cmocka_unit_test(test_object_names_utf8),
		cmocka_unit_test(test_error_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
