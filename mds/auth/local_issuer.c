/*
 * local_issuer.c - the embedded default's local issuer (see local_issuer.h):
 * key under DATA, its JWKS, and the island-admin token.
 *
 * The JWKS is rewritten at every start from the key file, so the key file
 * is the only source of truth; the authority then reads the JWKS like any
 * provider's key set (same parser, same pinning: this key verifies EdDSA
 * only).
 */
#include "local_issuer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "auth_int.h"
#include "auth_status.h"
#include "b64url.h"
#include "jwt.h"

static int join(char *dst, size_t cap, const char *dir, const char *name, struct mds_status *st)
{
	if ((size_t)snprintf(dst, cap, "%s/%s", dir, name) >= cap)
		return mds_status_set(st, MDS_EINVAL, "data directory path '%s' is too long", dir);
	return 0;
}

/* The JWKS document of @key's public half; *@doc owned by the caller. */
static int public_jwks(EVP_PKEY *key, char *kid, size_t kid_cap, char **doc,
		       struct mds_status *st)
{
	unsigned char raw[32], digest[SHA256_DIGEST_LENGTH];
	char x[MDS_B64URL_ENCODED_LEN(32) + 1];
	size_t n = sizeof(raw);
	json_t *root = NULL;
	int rc = 0;

	*doc = NULL;
	if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1 || n != sizeof(raw))
		return mds_status_set(st, MDS_EINTERNAL, "cannot read the local issuer's public key: %s",
				      auth_ossl_reason());
	SHA256(raw, n, digest);
	snprintf(kid, kid_cap, "local-%02x%02x%02x%02x%02x%02x%02x%02x", digest[0], digest[1],
		 digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]);
	mds_b64url_encode(raw, n, x);
	auth_json_begin();
	root = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty", "OKP", "crv",
			 "Ed25519", "x", x, "kid", kid, "use", "sig", "alg", "EdDSA");
	*doc = root ? json_dumps(root, JSON_COMPACT) : NULL;
	if (*doc == NULL || auth_json_failed()) {
		free(*doc);
		*doc = NULL;
		rc = mds_status_set(st, MDS_ENOMEM, "cannot encode the local key set: out of memory");
	}
	json_decref(root);
	return rc;
}

/* The admin token for @kid, signed with @key; *@token owned by the caller. */
static int admin_token(EVP_PKEY *key, const char *kid, int64_t now, int64_t exp, char **token,
		       struct mds_status *st)
{
	json_t *claims;
	char *text = NULL;
	int rc;

	*token = NULL;
	auth_json_begin();
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", MDS_LOCAL_ISSUER, "sub",
			   MDS_LOCAL_SUBJECT, "aud", MDS_LOCAL_AUDIENCE, "iat", (json_int_t)now,
			   "exp", (json_int_t)exp);
	text = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
	if (text == NULL || auth_json_failed())
		rc = mds_status_set(st, MDS_ENOMEM, "cannot issue the admin token: out of memory");
	else
		rc = mds_jwt_sign(key, MDS_JWT_EDDSA, kid, text, token, st);
	free(text);
	json_decref(claims);
	return rc;
}

int mds_local_issuer_setup(const char *data_dir, int64_t now, int64_t ttl_s,
			   struct mds_local_issuer *out, struct mds_status *st)
{
	EVP_PKEY *key = NULL;
	char *jwks = NULL, *token = NULL, *line = NULL;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (ttl_s <= 0)
		return mds_status_set(st, MDS_EINVAL, "admin token lifetime must be positive");
	rc = join(out->key_file, sizeof(out->key_file), data_dir, "local-issuer.key", st);
	if (rc == 0)
		rc = join(out->jwks_file, sizeof(out->jwks_file), data_dir, "local-issuer.jwks", st);
	if (rc == 0)
		rc = join(out->token_file, sizeof(out->token_file), data_dir, "admin.token", st);
	if (rc != 0)
		return rc;
	rc = auth_ed25519_key_load(out->key_file, &key, &out->key_created, st);
	if (rc != 0)
		return rc;
	rc = public_jwks(key, out->kid, sizeof(out->kid), &jwks, st);
	if (rc != 0)
		goto out;
	rc = auth_write_atomic(out->jwks_file, jwks, strlen(jwks), 0600, st);
	if (rc != 0)
		goto out;
	out->token_exp = now + ttl_s;
	rc = admin_token(key, out->kid, now, out->token_exp, &token, st);
	if (rc != 0)
		goto out;
	len = strlen(token);
	line = malloc(len + 2);
	if (line == NULL) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot write '%s': out of memory", out->token_file);
		goto out;
	}
	memcpy(line, token, len);
	line[len] = '\n';
	line[len + 1] = 0;
	rc = auth_write_atomic(out->token_file, line, len + 1, 0600, st);
out:
	free(line);
	free(token);
	free(jwks);
	EVP_PKEY_free(key);
	return rc;
}
