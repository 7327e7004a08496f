/*
 * test_jwks.c - key set parsing: the fixture set (made by python) parses
 * with each key pinned to its algorithm, and every kind of key we refuse
 * is refused with a message naming the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fixtures.h"
#include "b64url.h"
#include "jwks.h"

static void test_fixture_set(void **state)
{
	struct mds_jwks *set = NULL;
	struct mds_status st;

	(void)state;
	assert_int_equal(mds_jwks_parse(FX_JWKS, strlen(FX_JWKS), &set, &st), 0);
	assert_int_equal(set->n_keys, 3);
	assert_int_equal(mds_jwks_find(set, "fx-rsa")->alg, MDS_JWT_RS256);
	assert_int_equal(mds_jwks_find(set, "fx-ec")->alg, MDS_JWT_ES256);
	assert_int_equal(mds_jwks_find(set, "fx-ed")->alg, MDS_JWT_EDDSA);
	assert_null(mds_jwks_find(set, "nope"));
	assert_null(mds_jwks_find(set, NULL));  /* no guessing among 3 keys */
	mds_jwks_free(set);
}

/* Parse FX_JWKS, let @edit change key @i (or the root when i < 0), and
 * expect @code with @msg in the message. */
static void expect(int i, void (*edit)(json_t *), int code, const char *msg)
{
	json_t *root = json_loads(FX_JWKS, 0, NULL);
	struct mds_jwks *set = NULL;
	struct mds_status st = { 0 };
	char *doc;
	int rc;

	assert_non_null(root);
	edit(i < 0 ? root : json_array_get(json_object_get(root, "keys"), (size_t)i));
	doc = json_dumps(root, JSON_COMPACT);
	rc = mds_jwks_parse(doc, strlen(doc), &set, &st);
	if (rc != code || strstr(st.msg, msg) == NULL)
		fail_msg("expected %d '%s', got %d '%s'", code, msg, rc, st.msg);
	assert_null(set);
	free(doc);
	json_decref(root);
}

static void use_enc(json_t *k) { json_object_set_new(k, "use", json_string("enc")); }
static void alg_rs384(json_t *k) { json_object_set_new(k, "alg", json_string("RS384")); }
static void alg_es256(json_t *k) { json_object_set_new(k, "alg", json_string("ES256")); }
static void kty_oct(json_t *k) { json_object_set_new(k, "kty", json_string("oct")); }
static void priv_d(json_t *k) { json_object_set_new(k, "d", json_string("AAAA")); }
static void kid_dup(json_t *k) { json_object_set_new(k, "kid", json_string("fx-rsa")); }
static void crv_p384(json_t *k) { json_object_set_new(k, "crv", json_string("P-384")); }
static void x_short(json_t *k) { json_object_set_new(k, "x", json_string("AAAA")); }
static void off_curve(json_t *k)
{
	/* (1, 1) is not on P-256 */
	json_object_set_new(k, "x", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"));
	json_object_set_new(k, "y", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"));
}
static void rsa_1024(json_t *k)
{
	unsigned char n[128];
	char enc[200];

	memset(n, 0xc5, sizeof(n));
	mds_b64url_encode(n, sizeof(n), enc);
	json_object_set_new(k, "n", json_string(enc));
}
static void e_even(json_t *k) { json_object_set_new(k, "e", json_string("AQAA")); }
static void n_padded(json_t *k)
{
	char *n = NULL;

	assert_true(asprintf(&n, "%s=", json_string_value(json_object_get(k, "n"))) > 0);
	json_object_set_new(k, "n", json_string(n));
	free(n);
}
static void no_keys(json_t *r) { json_object_set_new(r, "keys", json_array()); }
static void keys_obj(json_t *r) { json_object_set_new(r, "keys", json_object()); }
static void many_keys(json_t *r)
{
	json_t *keys = json_object_get(r, "keys");
	json_t *ed = json_array_get(keys, 2);
	char kid[16];
	int i;

	for (i = 0; i < MDS_JWKS_MAX_KEYS; i++) {
		json_t *c = json_deep_copy(ed);

		snprintf(kid, sizeof(kid), "k%d", i);
		json_object_set_new(c, "kid", json_string(kid));
		json_array_append_new(keys, c);
	}
}
static void two_without_kid(json_t *r)
{
	json_t *keys = json_object_get(r, "keys");

	json_object_del(json_array_get(keys, 1), "kid");
	json_object_del(json_array_get(keys, 2), "kid");
}

static void test_refused_keys(void **state)
{
	(void)state;
	expect(0, use_enc, MDS_EINVAL, "key 0 (kid 'fx-rsa'): use is not 'sig'");
	expect(0, alg_rs384, MDS_EINVAL, "alg 'RS384' is not supported");
	expect(0, alg_es256, MDS_EINVAL, "alg 'ES256' does not match key type 'RSA'");
	expect(1, kty_oct, MDS_EINVAL, "key 1 (kid 'fx-ec'): key type 'oct'");
	expect(2, priv_d, MDS_EINVAL, "private member 'd'");
	expect(2, kid_dup, MDS_EINVAL, "key 2 (kid 'fx-rsa'): kid already used by key 0");
	expect(1, crv_p384, MDS_EINVAL, "not P-256");
	expect(2, x_short, MDS_EINVAL, "32 bytes");
	expect(1, off_curve, MDS_EINVAL, "P-256");
	expect(0, rsa_1024, MDS_EINVAL, "2048..8192");
	expect(0, e_even, MDS_EINVAL, "exponent");
	expect(0, n_padded, MDS_EINVAL, "'n'");
	expect(-1, no_keys, MDS_EINVAL, "0 keys");
	expect(-1, keys_obj, MDS_EINVAL, "'keys' is not an array");
	expect(-1, many_keys, MDS_EINVAL, "67 keys");
	expect(-1, two_without_kid, MDS_EINVAL, "key 2 (kid ''): kid already used by key 1");
}

static void test_documents(void **state)
{
	struct mds_jwks *set = NULL;
	struct mds_status st;
	char *big;

	(void)state;
	assert_int_equal(mds_jwks_parse("[]", 2, &set, &st), MDS_EINVAL);
	assert_int_equal(mds_jwks_parse("{\"keys\":[", 9, &set, &st), MDS_EINVAL);
	assert_int_equal(mds_jwks_parse("{\"keys\":[],\"keys\":[]}", 21, &set, &st), MDS_EINVAL);
	big = calloc(1, MDS_JWKS_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, ' ', MDS_JWKS_MAX_BYTES + 1);
	assert_int_equal(mds_jwks_parse(big, MDS_JWKS_MAX_BYTES + 1, &set, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "exceeds the limit"));
	free(big);
	assert_null(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_set),
		cmocka_unit_test(test_refused_keys),
		cmocka_unit_test(test_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
