/* test_units.c - binary size units: what mdsctl accepts and prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mds/error.h"
#include "units.h"

static void test_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(mds_units_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mds_units_parse_size("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(mds_units_parse_size("4KiB", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(mds_units_parse_size("2 MiB", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(mds_units_parse_size("1.5GiB", &v), 0);
	assert_int_equal(v, 3ull << 29);
	assert_int_equal(mds_units_parse_size("1k", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(mds_units_parse_size("15EiB", &v), 0);
	assert_int_equal(v, 15ull << 60);
	assert_int_equal(mds_units_parse_size("16EiB", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_size("18446744073709551616", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_size("", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_size("-1", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_size("12 apples", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_size("KiB", &v), MDS_EINVAL);
}

static void test_format(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(mds_units_format_size(0, b, sizeof(b)), "0 B");
	assert_string_equal(mds_units_format_size(1023, b, sizeof(b)), "1023 B");
	assert_string_equal(mds_units_format_size(1536, b, sizeof(b)), "1.50 KiB");
	assert_string_equal(mds_units_format_size(3ull << 30, b, sizeof(b)), "3.00 GiB");
	assert_string_equal(mds_units_format_size(UINT64_MAX, b, sizeof(b)), "16.00 EiB");
}

static void test_count(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(mds_units_parse_count("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mds_units_parse_count("1000000", &v), 0);
	assert_int_equal(v, 1000000);
	assert_int_equal(mds_units_parse_count("1e9", &v), 0);
	assert_int_equal(v, 1000000000ull);
	assert_int_equal(mds_units_parse_count("2.5E6", &v), 0);
	assert_int_equal(v, 2500000);
	assert_int_equal(mds_units_parse_count("1.5", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_count("1e20", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_count("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(mds_units_parse_count("-1", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_count("1e", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_count("1e-3", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_count("10k", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_count("", &v), MDS_EINVAL);
}

static void test_duration(void **state)
{
	const uint64_t s = 1000000000ull;
	uint64_t v;
	char b[32];

	(void)state;
	assert_int_equal(mds_units_parse_duration("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mds_units_parse_duration("7d", &v), 0);
	assert_int_equal(v, 7 * 86400 * s);
	assert_int_equal(mds_units_parse_duration("1d12h", &v), 0);
	assert_int_equal(v, 36 * 3600 * s);
	assert_int_equal(mds_units_parse_duration("90s", &v), 0);
	assert_int_equal(v, 90 * s);
	assert_int_equal(mds_units_parse_duration("500ms", &v), 0);
	assert_int_equal(v, 500000000ull);
	assert_int_equal(mds_units_parse_duration("2w", &v), 0);
	assert_int_equal(v, 14 * 86400 * s);
	assert_int_equal(mds_units_parse_duration("7", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_duration("7y", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_duration("d", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_duration("", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_duration("-1d", &v), MDS_EINVAL);
	assert_int_equal(mds_units_parse_duration("99999999999d", &v), MDS_EINVAL);
	assert_string_equal(mds_units_format_duration(0, b, sizeof(b)), "0s");
	assert_string_equal(mds_units_format_duration(7 * 86400 * s, b, sizeof(b)), "7d");
	assert_string_equal(mds_units_format_duration(36 * 3600 * s, b, sizeof(b)), "1d12h");
	assert_string_equal(mds_units_format_duration(90 * s, b, sizeof(b)), "1m30s");
	assert_string_equal(mds_units_format_duration(1500000000ull, b, sizeof(b)), "1s500ms");
	assert_string_equal(mds_units_format_duration(7, b, sizeof(b)), "7ns");
	/* what is printed parses back to the same value */
	assert_int_equal(mds_units_parse_duration(
		mds_units_format_duration(36 * 3600 * s + 1500, b, sizeof(b)), &v), 0);
	assert_int_equal(v, 36 * 3600 * s + 1500);
	assert_int_equal(mds_units_parse_duration(
		mds_units_format_duration(26 * 3600 * s + 61 * s, b, sizeof(b)), &v), 0);
	assert_int_equal(v, 26 * 3600 * s + 61 * s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_duration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
