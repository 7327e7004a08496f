/*
 * test_wanem_parse.c - unit tests for the WAN emulator's value parsers:
 * what operators type (durations, rates, sizes, probabilities, switches,
 * addresses) must mean exactly one thing, and anything else must be refused
 * with a message naming the value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "wanem_parse.h"

static void test_duration(void **state)
{
	char err[256];
	uint64_t ns = 7;

	(void)state;
	assert_int_equal(mds_wanem_parse_duration("200ms", &ns, err, sizeof(err)), 0);
	assert_true(ns == 200000000ULL);
	assert_int_equal(mds_wanem_parse_duration("1.5s", &ns, err, sizeof(err)), 0);
	assert_true(ns == 1500000000ULL);
	assert_int_equal(mds_wanem_parse_duration("50us", &ns, err, sizeof(err)), 0);
	assert_true(ns == 50000ULL);
	assert_int_equal(mds_wanem_parse_duration("2m", &ns, err, sizeof(err)), 0);
	assert_true(ns == 120000000000ULL);
	assert_int_equal(mds_wanem_parse_duration("0", &ns, err, sizeof(err)), 0);
	assert_true(ns == 0);

	ns = 42;
	assert_int_equal(mds_wanem_parse_duration("200", &ns, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unit missing"));
	assert_int_equal(mds_wanem_parse_duration("200 ms", &ns, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'200 ms'"));
	assert_int_equal(mds_wanem_parse_duration("-5ms", &ns, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_duration("5h", &ns, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_duration("2h", &ns, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_duration("61m", &ns, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_duration("inf", &ns, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_duration("0x10ms", &ns, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_duration("", &ns, err, sizeof(err)), -EINVAL);
	assert_true(ns == 42);   /* untouched on failure */
}

static void test_rate(void **state)
{
	char err[256];
	uint64_t b = 9;

	(void)state;
	assert_int_equal(mds_wanem_parse_rate("1mbit", &b, err, sizeof(err)), 0);
	assert_true(b == 125000);
	assert_int_equal(mds_wanem_parse_rate("512kbit", &b, err, sizeof(err)), 0);
	assert_true(b == 64000);
	assert_int_equal(mds_wanem_parse_rate("1Gbit", &b, err, sizeof(err)), 0);
	assert_true(b == 125000000);
	assert_int_equal(mds_wanem_parse_rate("2MB/s", &b, err, sizeof(err)), 0);
	assert_true(b == 2000000);
	assert_int_equal(mds_wanem_parse_rate("0.5mbit", &b, err, sizeof(err)), 0);
	assert_true(b == 62500);
	assert_int_equal(mds_wanem_parse_rate("off", &b, err, sizeof(err)), 0);
	assert_true(b == 0);
	b = 9;
	assert_int_equal(mds_wanem_parse_rate("0", &b, err, sizeof(err)), 0);
	assert_true(b == 0);

	b = 9;
	assert_int_equal(mds_wanem_parse_rate("10", &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_rate("10mbps", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown unit 'mbps'"));
	assert_int_equal(mds_wanem_parse_rate("2mb/s", &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_rate("4bit", &b, err, sizeof(err)), -EINVAL);
	assert_true(b == 9);
}

static void test_size(void **state)
{
	char err[256];
	uint64_t b = 0;

	(void)state;
	assert_int_equal(mds_wanem_parse_size("4096", &b, err, sizeof(err)), 0);
	assert_true(b == 4096);
	assert_int_equal(mds_wanem_parse_size("64k", &b, err, sizeof(err)), 0);
	assert_true(b == 65536);
	assert_int_equal(mds_wanem_parse_size("1MiB", &b, err, sizeof(err)), 0);
	assert_true(b == 1048576);
	assert_int_equal(mds_wanem_parse_size("1.5K", &b, err, sizeof(err)), 0);
	assert_true(b == 1536);
	assert_int_equal(mds_wanem_parse_size("1kb", &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_size("2T", &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_size("2048G", &b, err, sizeof(err)), -EINVAL);
}

static void test_prob_bool(void **state)
{
	char err[256];
	double p = -1;
	int b = 5;

	(void)state;
	assert_int_equal(mds_wanem_parse_prob("0.01", &p, err, sizeof(err)), 0);
	assert_true(p == 0.01);
	assert_int_equal(mds_wanem_parse_prob("5%", &p, err, sizeof(err)), 0);
	assert_true(p == 0.05);
	assert_int_equal(mds_wanem_parse_prob("1", &p, err, sizeof(err)), 0);
	assert_true(p == 1);
	assert_int_equal(mds_wanem_parse_prob("1.5", &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "above 1"));
	assert_int_equal(mds_wanem_parse_prob("101%", &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_prob("0.1x", &p, err, sizeof(err)), -EINVAL);

	assert_int_equal(mds_wanem_parse_bool("on", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 1);
	assert_int_equal(mds_wanem_parse_bool("off", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 0);
	assert_int_equal(mds_wanem_parse_bool("yes", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 1);
	assert_int_equal(mds_wanem_parse_bool("On", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'On'"));
}

static void test_addr(void **state)
{
	char err[256], out[64];
	struct sockaddr_storage ss;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

	(void)state;
	assert_int_equal(mds_wanem_parse_addr("127.0.0.1:7420", &ss, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 7420);
	assert_int_equal(mds_wanem_format_addr((struct sockaddr *)&ss, out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.1:7420");
	assert_int_equal(mds_wanem_parse_addr("[::1]:0", &ss, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(mds_wanem_format_addr((struct sockaddr *)&ss, out, sizeof(out)), 0);
	assert_string_equal(out, "[::1]:0");

	assert_int_equal(mds_wanem_parse_addr("localhost:80", &ss, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a numeric IPv4"));
	assert_int_equal(mds_wanem_parse_addr("127.0.0.1", &ss, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "port missing"));
	assert_int_equal(mds_wanem_parse_addr("127.0.0.1:65536", &ss, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_addr("127.0.0.1:-1", &ss, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_addr("127.0.0.1:", &ss, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_addr("::1:80", &ss, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_addr("[::1]80", &ss, err, sizeof(err)), -EINVAL);
	assert_int_equal(mds_wanem_parse_addr("", &ss, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_prob_bool),
		cmocka_unit_test(test_addr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
