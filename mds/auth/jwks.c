/*
 * jwks.c - JWKS document → pinned public keys (see jwks.h for what is
 * accepted). Keys are built with OpenSSL 3's provider interface
 * (OSSL_PARAM_BLD + EVP_PKEY_fromdata); no deprecated low-level key API.
 *
 * What must stay true: a key is pinned to exactly one algorithm at parse
 * time and nothing downstream may widen that; a document either parses
 * completely or yields no key set at all.
 */
#include "jwks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "auth_status.h"
#include "b64url.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

const char *mds_jwt_alg_name(enum mds_jwt_alg alg)
{
	switch (alg) {
	case MDS_JWT_RS256: return "RS256";
	case MDS_JWT_ES256: return "ES256";
	case MDS_JWT_EDDSA: return "EdDSA";
	default: return "invalid";
	}
}

enum mds_jwt_alg mds_jwt_alg_from_name(const char *name)
{
	if (name == NULL)
		return MDS_JWT_ALG_INVALID;
	if (strcmp(name, "RS256") == 0)
		return MDS_JWT_RS256;
	if (strcmp(name, "ES256") == 0)
		return MDS_JWT_ES256;
	if (strcmp(name, "EdDSA") == 0)
		return MDS_JWT_EDDSA;
	return MDS_JWT_ALG_INVALID;
}

/* Decode base64url member @name of @jk into a malloc'd buffer. */
static int member_bytes(json_t *jk, const char *name, unsigned char **out, size_t *outlen)
{
	json_t *v = json_object_get(jk, name);

	*out = NULL;
	if (!json_is_string(v))
		return MDS_EINVAL;
	return mds_b64url_decode_alloc(json_string_value(v), json_string_length(v),
				       out, outlen);
}

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static int build_rsa(json_t *jk, EVP_PKEY **pkey, const char **why)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = MDS_EINVAL, bits;

	if ((rc = member_bytes(jk, "n", &n, &nlen)) != 0 || nlen == 0) {
		*why = "member 'n' is missing or not base64url";
		goto out_rc;
	}
	if ((rc = member_bytes(jk, "e", &e, &elen)) != 0 || elen == 0 || elen > 8) {
		*why = "member 'e' is missing, not base64url or too long";
		goto out_rc;
	}
	rc = MDS_EINVAL;  /* every failure below is a bad key unless it says otherwise */
	if (n[0] == 0 || e[0] == 0) {
		*why = "'n' or 'e' has a leading zero byte";
		goto out;
	}
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	if (bn_n == NULL || bn_e == NULL) {
		rc = MDS_ENOMEM;
		*why = "out of memory";
		goto out;
	}
	bits = BN_num_bits(bn_n);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
		*why = "modulus size outside 2048..8192 bits";
		goto out;
	}
	if (!BN_is_odd(bn_e) || BN_is_one(bn_e)) {
		*why = "public exponent 'e' is not an odd number above 1";
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
		rc = MDS_ENOMEM;
		*why = "out of memory";
		goto out;
	}
	*pkey = fromdata("RSA", bld);
	if (*pkey == NULL) {
		*why = "openssl refused the rsa key";
		goto out;
	}
	rc = 0;
	goto out;
out_rc:
	if (rc != MDS_ENOMEM)
		rc = MDS_EINVAL;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return rc;
}

static int build_ec(json_t *jk, EVP_PKEY **pkey, const char **why)
{
	unsigned char *x = NULL, *y = NULL;
	unsigned char point[65];
	size_t xlen = 0, ylen = 0;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *check = NULL;
	const char *crv = json_string_value(json_object_get(jk, "crv"));
	int rc = MDS_EINVAL;

	if (crv == NULL || strcmp(crv, "P-256") != 0) {
		*why = "curve 'crv' is not P-256";
		goto out;
	}
	if ((rc = member_bytes(jk, "x", &x, &xlen)) != 0 || xlen != 32 ||
	    (rc = member_bytes(jk, "y", &y, &ylen)) != 0 || ylen != 32) {
		*why = "members 'x' and 'y' must be 32 bytes of base64url each";
		rc = rc == MDS_ENOMEM ? MDS_ENOMEM : MDS_EINVAL;
		goto out;
	}
	rc = MDS_EINVAL;
	point[0] = 0x04;  /* uncompressed SEC1 point */
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point))) {
		rc = MDS_ENOMEM;
		*why = "out of memory";
		goto out;
	}
	*pkey = fromdata("EC", bld);
	if (*pkey == NULL) {
		*why = "point is not on the P-256 curve";
		goto out;
	}
	check = EVP_PKEY_CTX_new_from_pkey(NULL, *pkey, NULL);
	if (check == NULL || EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(*pkey);
		*pkey = NULL;
		*why = "point is not a valid P-256 public key";
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(check);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return rc;
}

static int build_okp(json_t *jk, EVP_PKEY **pkey, const char **why)
{
	unsigned char *x = NULL;
	size_t xlen = 0;
	const char *crv = json_string_value(json_object_get(jk, "crv"));
	int rc = MDS_EINVAL;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
		*why = "curve 'crv' is not Ed25519";
		goto out;
	}
	if ((rc = member_bytes(jk, "x", &x, &xlen)) != 0 || xlen != 32) {
		*why = "member 'x' must be 32 bytes of base64url";
		rc = rc == MDS_ENOMEM ? MDS_ENOMEM : MDS_EINVAL;
		goto out;
	}
	rc = MDS_EINVAL;
	*pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
	if (*pkey == NULL) {
		*why = "openssl refused the ed25519 key";
		goto out;
	}
	rc = 0;
out:
	free(x);
	return rc;
}

static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
};

/* Parse key @i of the set into @key; on failure fill @st naming the key. */
static int parse_key(json_t *jk, size_t i, struct mds_jwk *key, struct mds_status *st)
{
	const char *kid = NULL, *kty, *use, *why = NULL;
	json_t *v;
	enum mds_jwt_alg by_type, alg;
	size_t p;
	int rc;

	if (!json_is_object(jk))
		return mds_status_set(st, MDS_EINVAL, "cannot parse key set: key %zu is not a json object", i);
	v = json_object_get(jk, "kid");
	if (v != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > MDS_JWK_KID_MAX)
			return mds_status_set(st, MDS_EINVAL,
					 "cannot parse key set: key %zu has a kid that is not a string of 1..%d bytes",
					 i, MDS_JWK_KID_MAX);
		kid = json_string_value(v);
	}
#define KEY_FAIL(...) do { \
	char what_[160]; \
	snprintf(what_, sizeof(what_), __VA_ARGS__); \
	return mds_status_set(st, MDS_EINVAL, "cannot parse key %zu (kid '%s'): %s", \
			 i, kid != NULL ? kid : "", what_); \
	} while (0)

	for (p = 0; private_members[p] != NULL; p++)
		if (json_object_get(jk, private_members[p]) != NULL)
			KEY_FAIL("holds private member '%s'; publish public keys only",
				 private_members[p]);
	v = json_object_get(jk, "use");
	if (v != NULL) {
		use = json_string_value(v);
		if (use == NULL || strcmp(use, "sig") != 0)
			KEY_FAIL("use is not 'sig'");
	}
	kty = json_string_value(json_object_get(jk, "kty"));
	if (kty == NULL)
		KEY_FAIL("member 'kty' is missing");
	if (strcmp(kty, "RSA") == 0)
		by_type = MDS_JWT_RS256;
	else if (strcmp(kty, "EC") == 0)
		by_type = MDS_JWT_ES256;
	else if (strcmp(kty, "OKP") == 0)
		by_type = MDS_JWT_EDDSA;
	else
		KEY_FAIL("key type '%.32s' is not supported (RSA, EC, OKP)", kty);
	alg = by_type;
	v = json_object_get(jk, "alg");
	if (v != NULL) {
		alg = mds_jwt_alg_from_name(json_string_value(v));
		if (alg == MDS_JWT_ALG_INVALID)
			KEY_FAIL("alg '%.32s' is not supported (RS256, ES256, EdDSA)",
				 json_is_string(v) ? json_string_value(v) : "?");
		if (alg != by_type)
			KEY_FAIL("alg '%s' does not match key type '%s'",
				 mds_jwt_alg_name(alg), kty);
	}
	switch (by_type) {
	case MDS_JWT_RS256: rc = build_rsa(jk, &key->pkey, &why); break;
	case MDS_JWT_ES256: rc = build_ec(jk, &key->pkey, &why); break;
	default: rc = build_okp(jk, &key->pkey, &why); break;
	}
	if (rc == MDS_ENOMEM)
		return mds_status_set(st, MDS_ENOMEM, "cannot parse key %zu: out of memory", i);
	if (rc != 0)
		KEY_FAIL("%s", why);
	if (key->pkey == NULL)  /* defence in depth: a builder forgot to fail */
		return mds_status_set(st, MDS_EINTERNAL, "cannot parse key %zu: no key built", i);
#undef KEY_FAIL
	key->alg = alg;
	if (kid != NULL) {
		key->kid = strdup(kid);
		if (key->kid == NULL)
			return mds_status_set(st, MDS_ENOMEM, "cannot parse key %zu: out of memory", i);
	}
	return 0;
}

static int same_kid(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int mds_jwks_parse(const char *doc, size_t len, struct mds_jwks **out,
		   struct mds_status *st)
{
	struct mds_jwks *set = NULL;
	json_t *root = NULL, *keys;
	json_error_t jerr;
	size_t i, j, n;
	int rc;

	*out = NULL;
	if (len > MDS_JWKS_MAX_BYTES)
		return mds_status_set(st, MDS_EINVAL, "cannot parse key set: %zu bytes exceeds the limit of %d",
				 len, MDS_JWKS_MAX_BYTES);
	auth_json_begin();
	root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
	if (auth_json_failed()) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot parse key set: out of memory");
		goto out;
	}
	if (root == NULL) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot parse key set: %s at line %d", jerr.text, jerr.line);
		goto out;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot parse key set: member 'keys' is not an array");
		goto out;
	}
	n = json_array_size(keys);
	if (n == 0 || n > MDS_JWKS_MAX_KEYS) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot parse key set: %zu keys, need 1..%d", n,
			       MDS_JWKS_MAX_KEYS);
		goto out;
	}
	set = calloc(1, sizeof(*set));
	if (set == NULL || (set->keys = calloc(n, sizeof(*set->keys))) == NULL ||
	    (set->json = malloc(len + 1)) == NULL) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot parse key set: out of memory");
		goto out;
	}
	memcpy(set->json, doc, len);
	set->json[len] = '\0';
	set->json_len = len;
	for (i = 0; i < n; i++) {
		rc = parse_key(json_array_get(keys, i), i, &set->keys[i], st);
		set->n_keys = i + 1;  /* so cleanup frees the partial key too */
		if (rc != 0)
			goto out;
		for (j = 0; j < i; j++) {
			if (same_kid(set->keys[j].kid, set->keys[i].kid)) {
				rc = mds_status_set(st, MDS_EINVAL,
					       "cannot parse key %zu (kid '%s'): kid already used by key %zu",
					       i, set->keys[i].kid ? set->keys[i].kid : "", j);
				goto out;
			}
		}
	}
	*out = set;
	set = NULL;
	rc = auth_ok(st);
out:
	mds_jwks_free(set);
	json_decref(root);
	return rc;
}

const struct mds_jwk *mds_jwks_find(const struct mds_jwks *set, const char *kid)
{
	size_t i;

	if (set == NULL)
		return NULL;
	if (kid == NULL)
		return set->n_keys == 1 ? &set->keys[0] : NULL;
	for (i = 0; i < set->n_keys; i++)
		if (set->keys[i].kid != NULL && strcmp(set->keys[i].kid, kid) == 0)
			return &set->keys[i];
	return NULL;
}

void mds_jwks_free(struct mds_jwks *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n_keys; i++) {
		free(set->keys[i].kid);
		EVP_PKEY_free(set->keys[i].pkey);
	}
	free(set->keys);
	free(set->json);
	free(set);
}
