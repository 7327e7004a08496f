/*
 * jwt.c - compact JWS decode, verify, claim checks and signing (see jwt.h
 * for the rules). Untrusted input enters only through mds_jwt_decode() and
 * mds_jwt_validate(); both return errors, never assert, on anything a
 * client can send.
 *
 * What must stay true: the key that verifies a token comes from the
 * configured key set (or the island key), never from the token; the
 * algorithm used is the key's pinned one, and a token naming another is
 * refused before any cryptography runs.
 */
#include "jwt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "auth_status.h"
#include "b64url.h"

struct mds_jwt {
	enum mds_jwt_alg alg;
	const char *kid;            /* borrowed from header */
	json_t *header;             /* owned */
	json_t *claims;             /* owned */
	char *signing_input;        /* owned copy of "header.payload" */
	size_t signing_input_len;
	unsigned char *sig;         /* owned */
	size_t sig_len;
};

static const char *const forbidden_headers[] = {
	"jku", "jwk", "x5u", "x5c", "crit", NULL
};

/* Parse a JSON object into *@out: 0, MDS_EINVAL (not an object, bad JSON,
 * duplicate members) or MDS_ENOMEM. */
static int load_object(const unsigned char *buf, size_t len, json_t **out)
{
	json_t *v;

	*out = NULL;
	auth_json_begin();
	v = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (auth_json_failed()) {
		json_decref(v);
		return MDS_ENOMEM;
	}
	if (v == NULL)
		return MDS_EINVAL;
	if (!json_is_object(v)) {
		json_decref(v);
		return MDS_EINVAL;
	}
	*out = v;
	return 0;
}

static int check_header(struct mds_jwt *jwt, struct mds_status *st)
{
	json_t *v;
	const char *alg, *typ;
	size_t i;

	for (i = 0; forbidden_headers[i] != NULL; i++)
		if (json_object_get(jwt->header, forbidden_headers[i]) != NULL)
			return mds_status_set(st, MDS_EDENIED,
					 "token refused: header member '%s' is not allowed; keys come from the configured key set",
					 forbidden_headers[i]);
	alg = json_string_value(json_object_get(jwt->header, "alg"));
	if (alg == NULL)
		return mds_status_set(st, MDS_EINVAL, "token header has no string 'alg'");
	if (strcasecmp(alg, "none") == 0)
		return mds_status_set(st, MDS_EDENIED, "token refused: alg 'none' is not allowed, tokens must be signed");
	if (strncasecmp(alg, "HS", 2) == 0)
		return mds_status_set(st, MDS_EDENIED, "token refused: hmac alg '%.16s' is not allowed", alg);
	jwt->alg = mds_jwt_alg_from_name(alg);
	if (jwt->alg == MDS_JWT_ALG_INVALID)
		return mds_status_set(st, MDS_EDENIED, "token refused: alg '%.16s' is not supported (RS256, ES256, EdDSA)", alg);
	v = json_object_get(jwt->header, "kid");
	if (v != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > MDS_JWK_KID_MAX)
			return mds_status_set(st, MDS_EINVAL, "token header 'kid' is not a string of 1..%d bytes",
					 MDS_JWK_KID_MAX);
		jwt->kid = json_string_value(v);
	}
	v = json_object_get(jwt->header, "typ");
	if (v != NULL) {
		typ = json_string_value(v);
		if (typ == NULL || (strcasecmp(typ, "JWT") != 0 && strcasecmp(typ, "at+jwt") != 0 &&
				    strcasecmp(typ, "application/at+jwt") != 0))
			return mds_status_set(st, MDS_EDENIED, "token refused: header 'typ' is not JWT or at+jwt");
	}
	return 0;
}

int mds_jwt_decode(const char *token, size_t len, struct mds_jwt **out,
		   struct mds_status *st)
{
	struct mds_jwt *jwt = NULL;
	const char *d1, *d2;
	unsigned char *buf = NULL;
	size_t blen;
	int rc;

	*out = NULL;
	if (len == 0)
		return mds_status_set(st, MDS_EINVAL, "token is empty");
	if (len > MDS_JWT_MAX_LEN)
		return mds_status_set(st, MDS_EINVAL, "token is %zu bytes, over the limit of %d", len, MDS_JWT_MAX_LEN);
	d1 = memchr(token, '.', len);
	d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (d1 == NULL || d2 == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		return mds_status_set(st, MDS_EINVAL, "token is not three dot-separated parts");
	jwt = calloc(1, sizeof(*jwt));
	if (jwt == NULL)
		return mds_status_set(st, MDS_ENOMEM, "cannot decode token: out of memory");

	rc = mds_b64url_decode_alloc(token, (size_t)(d1 - token), &buf, &blen);
	if (rc != 0) {
		rc = mds_status_set(st, rc, rc == MDS_ENOMEM ? "cannot decode token: out of memory"
				       : "token header is not base64url");
		goto out;
	}
	rc = load_object(buf, blen, &jwt->header);
	free(buf);
	buf = NULL;
	if (rc != 0) {
		rc = mds_status_set(st, rc, rc == MDS_ENOMEM ? "cannot decode token: out of memory"
				    : "token header is not a json object (or has duplicate members)");
		goto out;
	}
	rc = check_header(jwt, st);
	if (rc != 0)
		goto out;

	rc = mds_b64url_decode_alloc(d1 + 1, (size_t)(d2 - d1 - 1), &buf, &blen);
	if (rc != 0) {
		rc = mds_status_set(st, rc, rc == MDS_ENOMEM ? "cannot decode token: out of memory"
				       : "token payload is not base64url");
		goto out;
	}
	rc = load_object(buf, blen, &jwt->claims);
	free(buf);
	buf = NULL;
	if (rc != 0) {
		rc = mds_status_set(st, rc, rc == MDS_ENOMEM ? "cannot decode token: out of memory"
				    : "token payload is not a json object (or has duplicate members)");
		goto out;
	}

	rc = mds_b64url_decode_alloc(d2 + 1, len - (size_t)(d2 + 1 - token), &jwt->sig, &jwt->sig_len);
	if (rc != 0) {
		rc = mds_status_set(st, rc, rc == MDS_ENOMEM ? "cannot decode token: out of memory"
				       : "token signature is not base64url");
		goto out;
	}
	jwt->signing_input_len = (size_t)(d2 - token);
	jwt->signing_input = malloc(jwt->signing_input_len + 1);
	if (jwt->signing_input == NULL) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot decode token: out of memory");
		goto out;
	}
	memcpy(jwt->signing_input, token, jwt->signing_input_len);
	jwt->signing_input[jwt->signing_input_len] = '\0';
	*out = jwt;
	jwt = NULL;
	rc = auth_ok(st);
out:
	mds_jwt_free(jwt);
	return rc;
}

void mds_jwt_free(struct mds_jwt *jwt)
{
	if (jwt == NULL)
		return;
	json_decref(jwt->header);
	json_decref(jwt->claims);
	free(jwt->signing_input);
	free(jwt->sig);
	free(jwt);
}

enum mds_jwt_alg mds_jwt_get_alg(const struct mds_jwt *jwt)
{
	return jwt->alg;
}

const char *mds_jwt_get_kid(const struct mds_jwt *jwt)
{
	return jwt->kid;
}

const char *mds_jwt_get_issuer(const struct mds_jwt *jwt)
{
	return json_string_value(json_object_get(jwt->claims, "iss"));
}

int mds_jwt_get_int(const struct mds_jwt *jwt, const char *name, int64_t *out)
{
	json_t *v = json_object_get(jwt->claims, name);
	double d;

	if (v == NULL)
		return MDS_ENOTFOUND;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_real(v))
		return MDS_EINVAL;
	d = json_real_value(v);
	if (!isfinite(d) || d > 9007199254740992.0 || d < -9007199254740992.0)
		return MDS_EINVAL;
	*out = (int64_t)floor(d);
	return 0;
}

/* ES256 raw r||s (64 bytes) → DER ECDSA-Sig-Value; *der owned by caller. */
static int es256_raw_to_der(const unsigned char *raw, unsigned char **der, int *der_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	int rc = MDS_ENOMEM;

	*der = NULL;
	if (sig == NULL || r == NULL || s == NULL)
		goto out;
	if (!ECDSA_SIG_set0(sig, r, s))
		goto out;
	r = s = NULL;  /* owned by sig now */
	*der_len = i2d_ECDSA_SIG(sig, der);
	if (*der_len <= 0) {
		*der = NULL;
		goto out;
	}
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

int mds_jwt_verify(const struct mds_jwt *jwt, const struct mds_jwk *key,
		   struct mds_status *st)
{
	EVP_MD_CTX *md = NULL;
	unsigned char *der = NULL;
	const unsigned char *sig = jwt->sig;
	size_t sig_len = jwt->sig_len;
	const char *digest = "SHA256";
	const char *kid = key->kid != NULL ? key->kid : "";
	int der_len, rc;

	if (jwt->alg != key->alg)
		return mds_status_set(st, MDS_EDENIED, "token refused: alg '%s' does not match key '%s' pinned to '%s'",
				 mds_jwt_alg_name(jwt->alg), kid, mds_jwt_alg_name(key->alg));
	switch (key->alg) {
	case MDS_JWT_RS256:
		break;
	case MDS_JWT_ES256:
		if (sig_len != 64)
			return mds_status_set(st, MDS_EDENIED, "token refused: es256 signature is %zu bytes, not 64", sig_len);
		rc = es256_raw_to_der(sig, &der, &der_len);
		if (rc != 0)
			return mds_status_set(st, rc, "cannot verify token: out of memory");
		sig = der;
		sig_len = (size_t)der_len;
		break;
	case MDS_JWT_EDDSA:
		if (sig_len != 64)
			return mds_status_set(st, MDS_EDENIED, "token refused: eddsa signature is %zu bytes, not 64", sig_len);
		digest = NULL;  /* one-shot, no separate digest */
		break;
	default:
		return mds_status_set(st, MDS_EINTERNAL, "key '%s' has no pinned alg", kid);
	}
	md = EVP_MD_CTX_new();
	if (md == NULL) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot verify token: out of memory");
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(md, NULL, digest, NULL, NULL, key->pkey, NULL) != 1) {
		rc = mds_status_set(st, MDS_EINTERNAL, "cannot verify token with key '%s': %s", kid,
			       auth_ossl_reason());
		goto out;
	}
	if (EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt->signing_input,
			     jwt->signing_input_len) != 1) {
		ERR_clear_error();
		rc = mds_status_set(st, MDS_EDENIED, "token refused: signature does not verify with key '%s'", kid);
		goto out;
	}
	rc = auth_ok(st);
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return rc;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int aud_contains(json_t *aud, const char *want, struct mds_status *st)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0 ? 0
			: mds_status_set(st, MDS_EDENIED, "token refused: audience 'aud' does not include '%s'", want);
	if (!json_is_array(aud))
		return mds_status_set(st, MDS_EDENIED, "token refused: claim 'aud' is missing or not a string or array");
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return mds_status_set(st, MDS_EINVAL, "token claim 'aud' holds a non-string");
		if (strcmp(json_string_value(v), want) == 0)
			return 0;
	}
	return mds_status_set(st, MDS_EDENIED, "token refused: audience 'aud' does not include '%s'", want);
}

/* Fetch time claim @name: 0 found, 1 absent, <0 error filled in @st. */
static int time_claim(const struct mds_jwt *jwt, const char *name, int64_t *out,
		      struct mds_status *st)
{
	int rc = mds_jwt_get_int(jwt, name, out);

	if (rc == MDS_ENOTFOUND)
		return 1;
	if (rc != 0)
		return mds_status_set(st, MDS_EINVAL, "token claim '%s' is not a number of seconds", name);
	return 0;
}

int mds_jwt_check_claims(const struct mds_jwt *jwt, const struct mds_jwt_policy *policy,
			 int64_t now, struct mds_status *st)
{
	const char *iss = mds_jwt_get_issuer(jwt);
	int64_t exp, nbf, iat, skew = policy->skew_s < 0 ? 0 : policy->skew_s;
	size_t i;
	int rc;

	if (iss == NULL)
		return mds_status_set(st, MDS_EDENIED, "token refused: claim 'iss' is missing or not a string");
	for (i = 0; i < policy->n_issuers; i++)
		if (strcmp(iss, policy->issuers[i]) == 0)
			break;
	if (i == policy->n_issuers)
		return mds_status_set(st, MDS_EDENIED, "token refused: issuer '%.120s' is not trusted", iss);
	if (policy->audience != NULL) {
		rc = aud_contains(json_object_get(jwt->claims, "aud"), policy->audience, st);
		if (rc != 0)
			return rc;
	}
	rc = time_claim(jwt, "exp", &exp, st);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return mds_status_set(st, MDS_EDENIED, "token refused: claim 'exp' is missing");
	if (now >= sat_add(exp, skew))
		return mds_status_set(st, MDS_EDENIED, "token refused: expired at %lld (now %lld, skew %llds)",
				 (long long)exp, (long long)now, (long long)skew);
	rc = time_claim(jwt, "nbf", &nbf, st);
	if (rc < 0)
		return rc;
	if (rc == 0 && now < sat_add(nbf, -skew))
		return mds_status_set(st, MDS_EDENIED, "token refused: not valid before %lld (now %lld, skew %llds)",
				 (long long)nbf, (long long)now, (long long)skew);
	rc = time_claim(jwt, "iat", &iat, st);
	if (rc < 0)
		return rc;
	if (rc == 0 && iat > sat_add(now, skew))
		return mds_status_set(st, MDS_EDENIED, "token refused: issued in the future at %lld (now %lld, skew %llds)",
				 (long long)iat, (long long)now, (long long)skew);
	return auth_ok(st);
}

void mds_jwt_identity_release(struct mds_jwt_identity *id)
{
	size_t i;

	if (id == NULL)
		return;
	free(id->principal);
	free(id->issuer);
	free(id->subject);
	for (i = 0; i < id->n_groups; i++)
		free(id->groups[i]);
	free(id->groups);
	memset(id, 0, sizeof(*id));
}

/*
 * Is @tid a non-empty string that appears as a whole path segment of @iss
 * ("https://login.microsoftonline.com/<tid>/v2.0", "https://sts.windows.net/<tid>/")?
 * Only then may tid/oid name the principal: otherwise any trusted issuer
 * could mint tokens carrying another tenant's tid and oid.
 */
static int tid_names_issuer(const char *iss, json_t *tid)
{
	const char *t = json_string_value(tid), *p;
	size_t tl;

	if (t == NULL || (tl = json_string_length(tid)) == 0 || strchr(t, '/') != NULL)
		return 0;
	for (p = strstr(iss, t); p != NULL; p = strstr(p + 1, t))
		if (p > iss && p[-1] == '/' && (p[tl] == '/' || p[tl] == '\0'))
			return 1;
	return 0;
}

int mds_jwt_get_identity(const struct mds_jwt *jwt, struct mds_jwt_identity *id,
			 struct mds_status *st)
{
	const char *iss = mds_jwt_get_issuer(jwt);
	json_t *sub = json_object_get(jwt->claims, "sub");
	json_t *tid = json_object_get(jwt->claims, "tid");
	json_t *oid = json_object_get(jwt->claims, "oid");
	json_t *groups = json_object_get(jwt->claims, "groups"), *g;
	size_t i;
	int rc;

	memset(id, 0, sizeof(*id));
	if (iss == NULL)
		return mds_status_set(st, MDS_EINVAL, "token claim 'iss' is missing");
	if (sub != NULL && (!json_is_string(sub) || json_string_length(sub) == 0))
		return mds_status_set(st, MDS_EINVAL, "token claim 'sub' is not a non-empty string");
	id->issuer = strdup(iss);
	if (id->issuer == NULL)
		goto nomem;
	if (sub != NULL && (id->subject = strdup(json_string_value(sub))) == NULL)
		goto nomem;
	if (tid_names_issuer(iss, tid) && json_is_string(oid) && json_string_length(oid) > 0) {
		if (asprintf(&id->principal, "%s/%s", json_string_value(tid), json_string_value(oid)) < 0) {
			id->principal = NULL;
			goto nomem;
		}
	} else if (id->subject != NULL) {
		if (asprintf(&id->principal, "%s#%s", iss, id->subject) < 0) {
			id->principal = NULL;
			goto nomem;
		}
	} else {
		rc = mds_status_set(st, MDS_EINVAL, "token names no principal: claim 'sub' (or 'tid' and 'oid') is missing");
		goto fail;
	}
	if (groups != NULL) {
		if (!json_is_array(groups) || json_array_size(groups) > MDS_JWT_MAX_GROUPS) {
			rc = mds_status_set(st, MDS_EINVAL, "token claim 'groups' is not an array of at most %d strings",
				       MDS_JWT_MAX_GROUPS);
			goto fail;
		}
		if (json_array_size(groups) > 0) {
			id->groups = calloc(json_array_size(groups), sizeof(*id->groups));
			if (id->groups == NULL)
				goto nomem;
		}
		json_array_foreach(groups, i, g) {
			if (!json_is_string(g)) {
				rc = mds_status_set(st, MDS_EINVAL, "token claim 'groups' holds a non-string at %zu", i);
				goto fail;
			}
			id->groups[i] = strdup(json_string_value(g));
			if (id->groups[i] == NULL)
				goto nomem;
			id->n_groups = i + 1;
		}
	}
	if (mds_jwt_get_int(jwt, "exp", &id->expires_at) != 0)
		id->expires_at = 0;
	return auth_ok(st);
nomem:
	rc = mds_status_set(st, MDS_ENOMEM, "cannot read token identity: out of memory");
fail:
	mds_jwt_identity_release(id);
	return rc;
}

int mds_jwt_check(const struct mds_jwt *jwt, const struct mds_jwks *keys,
		  const struct mds_jwt_policy *policy, int64_t now,
		  struct mds_jwt_identity *id, struct mds_status *st)
{
	const struct mds_jwk *key = mds_jwks_find(keys, jwt->kid);
	int rc;

	if (id != NULL)
		memset(id, 0, sizeof(*id));
	if (key == NULL) {
		if (jwt->kid == NULL)
			return mds_status_set(st, MDS_EDENIED, "token refused: no 'kid' and the key set holds %zu keys",
					      keys != NULL ? keys->n_keys : 0);
		return mds_status_set(st, MDS_EDENIED, "token refused: unknown kid '%s'", jwt->kid);
	}
	rc = mds_jwt_verify(jwt, key, st);
	if (rc == 0)
		rc = mds_jwt_check_claims(jwt, policy, now, st);
	if (rc == 0 && id != NULL)
		rc = mds_jwt_get_identity(jwt, id, st);
	return rc;
}

int mds_jwt_validate(const char *token, size_t len, const struct mds_jwks *keys,
		     const struct mds_jwt_policy *policy, int64_t now,
		     struct mds_jwt_identity *id, struct mds_status *st)
{
	struct mds_jwt *jwt = NULL;
	int rc;

	if (id != NULL)
		memset(id, 0, sizeof(*id));
	rc = mds_jwt_decode(token, len, &jwt, st);
	if (rc != 0)
		return rc;
	rc = mds_jwt_check(jwt, keys, policy, now, id, st);
	mds_jwt_free(jwt);
	return rc;
}

/* DER ECDSA-Sig-Value → raw r||s (64 bytes). */
static int es256_der_to_raw(const unsigned char *der, size_t der_len, unsigned char *raw)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	const BIGNUM *r, *s;
	int rc = MDS_EINTERNAL;

	if (sig == NULL)
		return rc;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
		rc = 0;
	ECDSA_SIG_free(sig);
	return rc;
}

static int key_matches_alg(EVP_PKEY *key, enum mds_jwt_alg alg)
{
	switch (alg) {
	case MDS_JWT_RS256: return EVP_PKEY_is_a(key, "RSA");
	case MDS_JWT_ES256: return EVP_PKEY_is_a(key, "EC");
	case MDS_JWT_EDDSA: return EVP_PKEY_is_a(key, "ED25519");
	default: return 0;
	}
}

int mds_jwt_sign(EVP_PKEY *key, enum mds_jwt_alg alg, const char *kid,
		 const char *claims_json, char **token, struct mds_status *st)
{
	json_t *hdr = NULL, *claims = NULL;
	char *hdr_json = NULL, *out = NULL;
	unsigned char *sig = NULL, raw[64];
	size_t hlen, clen, sig_len = 0, pos, cap;
	EVP_MD_CTX *md = NULL;
	int rc;

	*token = NULL;
	auth_json_begin();
	claims = json_loads(claims_json, JSON_REJECT_DUPLICATES, NULL);
	if (auth_json_failed()) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot sign token: out of memory");
		goto out;
	}
	if (!json_is_object(claims)) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot sign token: claims are not a json object");
		goto out;
	}
	if (!key_matches_alg(key, alg)) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot sign token: key is not usable for alg '%s'",
			       mds_jwt_alg_name(alg));
		goto out;
	}
	hdr = kid != NULL ? json_pack("{s:s, s:s, s:s}", "alg", mds_jwt_alg_name(alg), "typ", "JWT", "kid", kid)
			  : json_pack("{s:s, s:s}", "alg", mds_jwt_alg_name(alg), "typ", "JWT");
	hdr_json = hdr != NULL ? json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (hdr_json == NULL || auth_json_failed()) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot sign token: out of memory");
		goto out;
	}
	hlen = strlen(hdr_json);
	clen = strlen(claims_json);
	cap = MDS_B64URL_ENCODED_LEN(hlen) + MDS_B64URL_ENCODED_LEN(clen) + 2 +
	      MDS_B64URL_ENCODED_LEN(1024) + 1;
	out = malloc(cap);
	md = EVP_MD_CTX_new();
	if (out == NULL || md == NULL) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot sign token: out of memory");
		goto out;
	}
	pos = mds_b64url_encode((const unsigned char *)hdr_json, hlen, out);
	out[pos++] = '.';
	pos += mds_b64url_encode((const unsigned char *)claims_json, clen, out + pos);
	if (EVP_DigestSignInit_ex(md, NULL, alg == MDS_JWT_EDDSA ? NULL : "SHA256", NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, (unsigned char *)out, pos) != 1 || sig_len > 1024 ||
	    (sig = OPENSSL_malloc(sig_len)) == NULL ||
	    EVP_DigestSign(md, sig, &sig_len, (unsigned char *)out, pos) != 1) {
		rc = mds_status_set(st, MDS_EINTERNAL, "cannot sign token: %s", auth_ossl_reason());
		goto out;
	}
	out[pos++] = '.';
	if (alg == MDS_JWT_ES256) {
		if (es256_der_to_raw(sig, sig_len, raw) != 0) {
			rc = mds_status_set(st, MDS_EINTERNAL, "cannot sign token: bad ecdsa signature from openssl");
			goto out;
		}
		mds_b64url_encode(raw, sizeof(raw), out + pos);
	} else {
		mds_b64url_encode(sig, sig_len, out + pos);
	}
	*token = out;
	out = NULL;
	rc = auth_ok(st);
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(sig);
	free(out);
	free(hdr_json);
	json_decref(hdr);
	json_decref(claims);
	return rc;
}
