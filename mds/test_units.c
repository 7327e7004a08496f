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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
