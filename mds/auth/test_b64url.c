/*
 * test_b64url.c - strict base64url: RFC 4648 test vectors, round trips of
 * every length, and the inputs strictness must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "b64url.h"
#include <mds/error.h>

static void test_vectors(void **state)
{
	/* RFC 4648 section 10, without padding */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
	char out[32];
	unsigned char dec[32];
	size_t i, n;

	(void)state;
	for (i = 0; i < 7; i++) {
		assert_int_equal(mds_b64url_encode((const unsigned char *)plain[i], strlen(plain[i]), out),
				 strlen(enc[i]));
		assert_string_equal(out, enc[i]);
		assert_int_equal(mds_b64url_decode(enc[i], strlen(enc[i]), dec, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(dec, plain[i], n);
	}
	/* the URL-safe characters: 0xfb 0xff → "-_8" */
	assert_int_equal(mds_b64url_encode((const unsigned char *)"\xfb\xff", 2, out), 3);
	assert_string_equal(out, "-_8");
}

static void test_round_trip(void **state)
{
	unsigned char in[64], dec[64];
	char enc[128];
	size_t len, n, i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (len = 0; len <= sizeof(in); len++) {
		size_t el = mds_b64url_encode(in, len, enc);

		assert_int_equal(el, MDS_B64URL_ENCODED_LEN(len));
		assert_true(MDS_B64URL_DECODED_MAX(el) >= len);
		assert_int_equal(mds_b64url_decode(enc, el, dec, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(dec, in, len);
	}
}

static void test_strict(void **state)
{
	static const char *const bad[] = {
		"Zg==",      /* padding */
		"Zm9v\n",    /* whitespace */
		"Zm+v",      /* standard alphabet */
		"Zm/v",
		"Z",         /* length 1 mod 4 */
		"Zm9vY",
		"Zh",        /* non-zero trailing bits: only "Zg" encodes "f" */
		"Zm9",       /* "fo" is Zm8 */
	};
	unsigned char dec[16];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mds_b64url_decode(bad[i], strlen(bad[i]), dec, &n), MDS_EINVAL);
	/* embedded NUL */
	assert_int_equal(mds_b64url_decode("Zm\0v", 4, dec, &n), MDS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
