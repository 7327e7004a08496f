/*
 * test_conformance.c - the token conformance table: every row is a token
 * (or an action) with the decision a user must get, run against a real
 * authority (mds_auth_*) whose clock the test moves.
 *
 * Keys are generated here with OpenSSL and tokens are assembled and signed
 * here, by code independent of jwt.c's signer (only session tokens come
 * from the island, by design), so a bug in the library's signing cannot
 * hide a bug in its verification. Rows marked FIXTURE use tokens signed by
 * python3-cryptography (fixtures.h).
 *
 * Each row names its key-set phase (which JWKS document, refreshed at which
 * time) and the clock at which it runs; the runner refreshes the authority
 * when the phase changes, runs the row, and compares code, message
 * substring and principal. The counts of rows tried, accepted and rejected
 * are printed; any mismatch fails the test with the row's name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth.h"
#include "b64url.h"
#include "fixtures.h"

#define T0 INT64_C(1800000000)   /* first refresh */
#define H INT64_C(3600)
#define SKEW 300
#define ISS "https://idp.test"
#define ENTRA_ISS "https://login.microsoftonline.com/tenant-1/v2.0"
#define ENTRA_V1_ISS "https://sts.windows.net/tenant-1/"
#define ISLAND "https://island-7.mds"
#define AUD "mds"
#define MAX_ROWS 160

enum op { OP_VALIDATE, OP_BEARER, OP_RENEW, OP_STATE, OP_FIXTURE };

struct row {
	char name[80];
	enum op op;
	int jwks;              /* key-set phase: 0 main, 1 rotated */
	int64_t refresh_at;    /* clock when that key set was refreshed */
	int64_t at;            /* clock when the row runs */
	char *token;           /* owned; the bearer header for OP_BEARER */
	int expect;            /* 0 accept or the error code; state for OP_STATE */
	const char *msg;       /* substring of the message when rejected */
	const char *principal; /* expected principal when accepted, or NULL */
};

static struct {
	EVP_PKEY *rsa, *ec, *ed, *ed2, *rsa_other, *ed_other;
	char *jwks[2];
	char dir[64];
	struct mds_auth *auth;
	int64_t now;
	struct row rows[MAX_ROWS];
	size_t n_rows;
	int cur_jwks;
	int64_t cur_refresh;
	char *pool[64];       /* temporaries freed at teardown */
	size_t n_pool;
	struct mds_auth_config cfg;   /* how g.auth was opened (strings in pool) */
} g;

/* keep @s (owned) until teardown and return it, for use inside expressions */
static char *P(char *s)
{
	assert_true(g.n_pool < sizeof(g.pool) / sizeof(g.pool[0]));
	g.pool[g.n_pool++] = s;
	return s;
}

static int64_t test_clock(void *arg)
{
	(void)arg;
	return g.now;
}

/* ---- token assembly, independent of jwt.c ---- */

static char *b64(const void *data, size_t len)
{
	char *out = malloc(MDS_B64URL_ENCODED_LEN(len) + 1);

	assert_non_null(out);
	mds_b64url_encode(data, len, out);
	return out;
}

static char *b64s(const char *s)
{
	return b64(s, strlen(s));
}

/* Sign @input with @key as @alg ("RS256", "ES256", "EdDSA", "HS256" with
 * @secret); returns the base64url signature. */
static char *sign_b64(const char *alg, EVP_PKEY *key, const void *secret, size_t secret_len,
		      const char *input)
{
	unsigned char sig[1024], raw[64];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *md;

	if (strcmp(alg, "HS256") == 0) {
		assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, secret_len,
					  (const unsigned char *)input, strlen(input), sig, sizeof(sig),
					  &sig_len));
		return b64(sig, sig_len);
	}
	md = EVP_MD_CTX_new();
	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit_ex(md, NULL, strcmp(alg, "EdDSA") == 0 ? NULL : "SHA256",
					       NULL, NULL, key, NULL), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, strlen(input)), 1);
	EVP_MD_CTX_free(md);
	if (strcmp(alg, "ES256") == 0) {
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
		const BIGNUM *r, *s;

		assert_non_null(es);
		ECDSA_SIG_get0(es, &r, &s);
		assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
		assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
		ECDSA_SIG_free(es);
		return b64(raw, 64);
	}
	return b64(sig, sig_len);
}

/* header JSON + claims JSON signed as @alg with @key → compact token */
static char *mk(const char *header, const char *claims, const char *alg, EVP_PKEY *key)
{
	char *h = b64s(header), *p = b64s(claims), *input = NULL, *sig, *tok = NULL;

	assert_true(asprintf(&input, "%s.%s", h, p) > 0);
	sig = sign_b64(alg, key, NULL, 0, input);
	assert_true(asprintf(&tok, "%s.%s", input, sig) > 0);
	free(h);
	free(p);
	free(input);
	free(sig);
	return tok;
}

static char *hdr(const char *alg, const char *kid)
{
	char *s = NULL;

	assert_true(asprintf(&s, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid) > 0);
	return s;
}

/* standard claims at @now, @extra appended inside the object (may be "") */
static char *claims(int64_t now, const char *extra)
{
	char *s = NULL;

	assert_true(asprintf(&s, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"alice\","
			     "\"iat\":%lld,\"exp\":%lld%s%s}", (long long)now, (long long)(now + 600),
			     extra[0] ? "," : "", extra) > 0);
	return s;
}

/* a token with the standard header for @alg/@kid, signed with @key */
static char *tok(const char *alg, const char *kid, EVP_PKEY *key, const char *claims_json)
{
	char *h = hdr(alg, kid), *t = mk(h, claims_json, alg, key);

	free(h);
	return t;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, f);
	assert_true(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return s;
}

/* ---- the table ---- */

static struct row *add(const char *name, enum op op, int jwks, int64_t refresh_at, int64_t at,
		       char *token, int expect, const char *msg, const char *principal)
{
	struct row *r;

	assert_true(g.n_rows < MAX_ROWS);
	r = &g.rows[g.n_rows++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->op = op;
	r->jwks = jwks;
	r->refresh_at = refresh_at;
	r->at = at;
	r->token = token;
	r->expect = expect;
	r->msg = msg;
	r->principal = principal;
	return r;
}

/* a row in the main phase at T0 + 60 */
static void row(const char *name, char *token, int expect, const char *msg, const char *principal)
{
	add(name, OP_VALIDATE, 0, T0, T0 + 60, token, expect, msg, principal);
}

/* a claims string with @claims consumed: token signed RS256 by rsa1 */
static char *rs(char *claims_json)
{
	char *t = tok("RS256", "rsa1", g.rsa, claims_json);

	free(claims_json);
	return t;
}

/* replace part @i (0 header, 1 payload, 2 signature) of @token (consumed) by @part */
static char *swap_part(char *token, int i, const char *part)
{
	char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.'), *out;

	*d1 = *d2 = '\0';
	out = fmt("%s.%s.%s", i == 0 ? part : token, i == 1 ? part : d1 + 1, i == 2 ? part : d2 + 1);
	free(token);
	return out;
}

/* flip the first character of the signature between 'A' and 'B' (a real
 * change of the signature's bytes that keeps the base64url valid) */
static char *flip_sig(char *token)
{
	char *s = strrchr(token, '.') + 1;

	*s = *s == 'A' ? 'B' : 'A';
	return token;
}

/* move the clock to @refresh_at and refresh with key set @jwks */
static void set_phase(int jwks, int64_t refresh_at)
{
	struct mds_status st;
	int rc;

	if (g.cur_jwks == jwks && g.cur_refresh == refresh_at)
		return;
	g.now = refresh_at;
	rc = mds_auth_refresh_from(g.auth, g.jwks[jwks], strlen(g.jwks[jwks]), &st);
	if (rc != 0)
		fail_msg("refresh failed: %s", st.msg);
	g.cur_jwks = jwks;
	g.cur_refresh = refresh_at;
}

/* a session token issued at @at under phase (0, @refresh_at) for alice */
static char *session_at(int64_t refresh_at, int64_t at, int64_t ttl)
{
	struct mds_jwt_identity id;
	struct mds_status st;
	char *t = NULL, *provider;

	set_phase(0, refresh_at);
	g.now = at;
	provider = rs(claims(at, "\"groups\":[\"team-a\"]"));
	assert_int_equal(mds_auth_validate(g.auth, provider, strlen(provider), &id, &st), 0);
	if (mds_auth_session_issue(g.auth, &id, ttl, &t, &st) != 0)
		fail_msg("session issue failed: %s", st.msg);
	mds_jwt_identity_release(&id);
	free(provider);
	return t;
}

static void build_rows(void)
{
	const int64_t now = T0 + 60;
	char *t, *pem = NULL;
	long pem_len;
	BIO *bio;

	/* ---- valid tokens of each algorithm ---- */
	row("valid RS256", rs(claims(now, "")), 0, NULL, ISS "#alice");
	row("valid ES256", tok("ES256", "ec1", g.ec, (t = claims(now, ""))), 0, NULL, ISS "#alice");
	free(t);
	row("valid EdDSA", tok("EdDSA", "ed1", g.ed, (t = claims(now, ""))), 0, NULL, ISS "#alice");
	free(t);
	t = fmt("{\"iss\":\"" ENTRA_ISS "\",\"aud\":\"" AUD "\",\"sub\":\"pairwise-x\",\"tid\":\"tenant-1\","
		"\"oid\":\"object-9\",\"exp\":%lld}", (long long)(now + 600));
	row("entra tid/oid principal", rs(t), 0, NULL, "tenant-1/object-9");
	t = fmt("{\"iss\":\"" ENTRA_V1_ISS "\",\"aud\":\"" AUD "\",\"sub\":\"pairwise-y\",\"tid\":\"tenant-1\","
		"\"oid\":\"object-9\",\"exp\":%lld}", (long long)(now + 600));
	row("entra v1 issuer, same principal", rs(t), 0, NULL, "tenant-1/object-9");
	t = fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"mallory\",\"tid\":\"tenant-1\","
		"\"oid\":\"object-9\",\"exp\":%lld}", (long long)(now + 600));
	row("tid/oid from an issuer not naming the tenant", rs(t), 0, NULL, ISS "#mallory");
	t = fmt("{\"iss\":\"" ENTRA_ISS "\",\"aud\":\"" AUD "\",\"sub\":\"m\",\"tid\":\"tenant\","
		"\"oid\":\"object-9\",\"exp\":%lld}", (long long)(now + 600));
	row("tid only a substring of the issuer", rs(t), 0, NULL, ENTRA_ISS "#m");
	row("typ at+jwt accepted", mk("{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"at+jwt\"}",
				      (t = claims(now, "")), "EdDSA", g.ed), 0, NULL, ISS "#alice");
	free(t);
	row("exp as json real", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"alice\",\"exp\":%lld.5}",
				       (long long)now + 10)), 0, NULL, ISS "#alice");

	/* ---- signed by someone else (python3-cryptography) ---- */
	add("fixture RS256 (python-signed)", OP_FIXTURE, 0, T0, FX_NOW, strdup(FX_TOKEN_RS256), 0, NULL,
	    FX_ISSUER "#alice");
	add("fixture ES256 (python-signed)", OP_FIXTURE, 0, T0, FX_NOW, strdup(FX_TOKEN_ES256), 0, NULL,
	    FX_ISSUER "#alice");
	add("fixture EdDSA (python-signed)", OP_FIXTURE, 0, T0, FX_NOW, strdup(FX_TOKEN_EDDSA), 0, NULL,
	    FX_ISSUER "#alice");
	/* its iss does not name tenant-1, so tid/oid cannot name the principal */
	add("fixture tid/oid, aud array", OP_FIXTURE, 0, T0, FX_NOW, strdup(FX_TOKEN_ENTRA), 0, NULL,
	    FX_ISSUER "#x");
	add("fixture after its exp", OP_FIXTURE, 0, T0, INT64_C(4102444800) + SKEW,
	    strdup(FX_TOKEN_ES256), MDS_EDENIED, "expired", NULL);

	/* ---- algorithm attacks ---- */
	t = claims(now, "");
	row("alg none", fmt("%s.%s.", P(b64s("{\"alg\":\"none\",\"kid\":\"rsa1\"}")), P(b64s(t))),
	    MDS_EDENIED, "alg 'none'", NULL);
	row("alg NONE upper case", fmt("%s.%s.", P(b64s("{\"alg\":\"NONE\"}")), P(b64s(t))),
	    MDS_EDENIED, "alg 'none'", NULL);
	/* HS256 keyed with the RSA public key's PEM: the classic confusion */
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(bio, g.rsa), 1);
	pem_len = BIO_get_mem_data(bio, &pem);
	{
		char *h = b64s("{\"alg\":\"HS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}"), *p = b64s(t);
		char *in = fmt("%s.%s", h, p), *sig = sign_b64("HS256", NULL, pem, (size_t)pem_len, in);

		row("HS256 with rsa public key as secret", fmt("%s.%s", in, sig), MDS_EDENIED, "hmac", NULL);
		free(h);
		free(p);
		free(in);
		free(sig);
	}
	BIO_free(bio);
	row("alg ES256 on RS256-pinned kid", mk("{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", t, "ES256", g.ec),
	    MDS_EDENIED, "does not match key 'rsa1' pinned to 'RS256'", NULL);
	row("alg RS256 on EdDSA-pinned kid", mk("{\"alg\":\"RS256\",\"kid\":\"ed1\"}", t, "RS256", g.rsa),
	    MDS_EDENIED, "pinned to 'EdDSA'", NULL);
	row("alg EdDSA on ES256-pinned kid", mk("{\"alg\":\"EdDSA\",\"kid\":\"ec1\"}", t, "EdDSA", g.ed),
	    MDS_EDENIED, "pinned to 'ES256'", NULL);
	row("alg RS512 unsupported", mk("{\"alg\":\"RS512\",\"kid\":\"rsa1\"}", t, "RS256", g.rsa),
	    MDS_EDENIED, "not supported", NULL);
	row("alg PS256 unsupported", mk("{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", t, "RS256", g.rsa),
	    MDS_EDENIED, "not supported", NULL);

	/* ---- tampering ---- */
	row("tampered header", swap_part(rs(claims(now, "")), 0,
					 P(b64s("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\",\"x\":1}"))),
	    MDS_EDENIED, "signature does not verify", NULL);
	{
		char *evil = claims(now, "\"groups\":[\"admins\"]"), *p = b64s(evil);

		row("tampered payload (groups added)", swap_part(rs(claims(now, "")), 1, p),
		    MDS_EDENIED, "signature does not verify", NULL);
		free(p);
		free(evil);
	}
	row("tampered signature RS256", flip_sig(rs(claims(now, ""))), MDS_EDENIED, "signature does not verify", NULL);
	row("tampered signature ES256", flip_sig(tok("ES256", "ec1", g.ec, t)), MDS_EDENIED,
	    "signature does not verify", NULL);
	row("tampered signature EdDSA", flip_sig(tok("EdDSA", "ed1", g.ed, t)), MDS_EDENIED,
	    "signature does not verify", NULL);
	row("signature stripped", swap_part(rs(claims(now, "")), 2, ""), MDS_EDENIED, "signature", NULL);
	row("ES256 signature in DER form", swap_part(tok("ES256", "ec1", g.ec, t), 2,
						     "MEUCIQCqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqgIgVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVU"),
	    MDS_EDENIED, "not 64", NULL);
	row("wrong key (other RSA, kid rsa1)", tok("RS256", "rsa1", g.rsa_other, t), MDS_EDENIED,
	    "signature does not verify with key 'rsa1'", NULL);
	row("wrong key (other Ed25519, kid ed1)", tok("EdDSA", "ed1", g.ed_other, t), MDS_EDENIED,
	    "signature does not verify", NULL);

	/* ---- key selection ---- */
	row("unknown kid", tok("RS256", "nope", g.rsa, t), MDS_EDENIED, "unknown kid 'nope'", NULL);
	row("missing kid with several keys", mk("{\"alg\":\"RS256\"}", t, "RS256", g.rsa), MDS_EDENIED,
	    "no 'kid'", NULL);

	/* ---- keys from the token are never used ---- */
	row("jku header", mk("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jku\":\"https://evil/jwks\"}", t, "RS256", g.rsa),
	    MDS_EDENIED, "'jku' is not allowed", NULL);
	row("jwk header", mk("{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"jwk\":{\"kty\":\"OKP\"}}", t, "EdDSA", g.ed),
	    MDS_EDENIED, "'jwk' is not allowed", NULL);
	row("x5u header", mk("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"x5u\":\"https://evil/cert\"}", t, "RS256", g.rsa),
	    MDS_EDENIED, "'x5u' is not allowed", NULL);
	row("x5c header", mk("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"x5c\":[\"MII\"]}", t, "RS256", g.rsa),
	    MDS_EDENIED, "'x5c' is not allowed", NULL);
	row("crit header", mk("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"b64\"],\"b64\":false}", t, "RS256", g.rsa),
	    MDS_EDENIED, "'crit' is not allowed", NULL);
	row("typ not JWT", mk("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"secevent+jwt\"}", t, "RS256", g.rsa),
	    MDS_EDENIED, "typ", NULL);
	free(t);

	/* ---- issuer and audience ---- */
	row("wrong iss", rs(fmt("{\"iss\":\"https://evil\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%lld}",
				(long long)now + 60)), MDS_EDENIED, "issuer 'https://evil' is not trusted", NULL);
	row("iss missing", rs(fmt("{\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%lld}", (long long)now + 60)),
	    MDS_EDENIED, "'iss' is missing", NULL);
	row("iss of the island on a provider key", tok("EdDSA", "ed1", g.ed,
		(t = fmt("{\"iss\":\"" ISLAND "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%lld,\"mds_win\":%lld}",
			 (long long)now + 60, (long long)(T0 + 96 * H)))),
	    MDS_EDENIED, "kid is not 'island'", NULL);
	free(t);
	row("wrong aud", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"other\",\"sub\":\"a\",\"exp\":%lld}", (long long)now + 60)),
	    MDS_EDENIED, "does not include 'mds'", NULL);
	row("aud missing", rs(fmt("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"exp\":%lld}", (long long)now + 60)),
	    MDS_EDENIED, "'aud' is missing", NULL);
	row("aud array containing audience", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"" AUD "\"],\"sub\":\"a\",\"exp\":%lld}",
						    (long long)now + 60)), 0, NULL, ISS "#a");
	row("aud array without audience", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"y\"],\"sub\":\"a\",\"exp\":%lld}",
						 (long long)now + 60)), MDS_EDENIED, "does not include", NULL);
	row("aud prefix only", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"mds2\",\"sub\":\"a\",\"exp\":%lld}",
				      (long long)now + 60)), MDS_EDENIED, "does not include", NULL);

	/* ---- time: exp, nbf, iat around the skew ---- */
#define TIMED(name, extra_fmt, val, expect, msg) \
	row(name, rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\"," extra_fmt "}", (long long)(val))), \
	    expect, msg, expect == 0 ? ISS "#a" : NULL)
	TIMED("exp = now - skew - 1", "\"exp\":%lld", now - SKEW - 1, MDS_EDENIED, "expired");
	TIMED("exp = now - skew", "\"exp\":%lld", now - SKEW, MDS_EDENIED, "expired");
	TIMED("exp = now - skew + 1", "\"exp\":%lld", now - SKEW + 1, 0, NULL);
	TIMED("nbf = now + skew + 1", "\"exp\":9999999999,\"nbf\":%lld", now + SKEW + 1, MDS_EDENIED, "not valid before");
	TIMED("nbf = now + skew", "\"exp\":9999999999,\"nbf\":%lld", now + SKEW, 0, NULL);
	TIMED("nbf = now + skew - 1", "\"exp\":9999999999,\"nbf\":%lld", now + SKEW - 1, 0, NULL);
	TIMED("iat = now + skew + 1", "\"exp\":9999999999,\"iat\":%lld", now + SKEW + 1, MDS_EDENIED, "issued in the future");
	TIMED("iat = now + skew", "\"exp\":9999999999,\"iat\":%lld", now + SKEW, 0, NULL);
	TIMED("exp near INT64_MAX", "\"exp\":%lld", INT64_MAX - 1, 0, NULL);
#undef TIMED
	row("missing exp", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\"}")), MDS_EDENIED,
	    "'exp' is missing", NULL);
	row("exp as string", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":\"%lld\"}",
				    (long long)now + 60)), MDS_EINVAL, "'exp' is not a number", NULL);
	row("exp as bool", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":true}")),
	    MDS_EINVAL, "'exp' is not a number", NULL);
	row("no sub and no tid/oid", rs(fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld}",
					    (long long)now + 60)), MDS_EINVAL, "names no principal", NULL);
	row("groups not strings", rs(claims(now, "\"groups\":[1]")), MDS_EINVAL, "'groups' holds a non-string", NULL);

	/* ---- malformed ---- */
	row("empty token", strdup(""), MDS_EINVAL, "empty", NULL);
	row("malformed base64 in header", swap_part(rs(claims(now, "")), 0, "eyJhbGciOi*"), MDS_EINVAL,
	    "header is not base64url", NULL);
	row("padded signature", fmt("%s=", P(rs(claims(now, "")))), MDS_EINVAL, "signature is not base64url", NULL);
	row("base64 with standard alphabet", swap_part(rs(claims(now, "")), 1, "eyJ+/"), MDS_EINVAL,
	    "payload is not base64url", NULL);
	row("extra dots", fmt("%s.", P(rs(claims(now, "")))), MDS_EINVAL, "three dot-separated parts", NULL);
	row("two parts", strdup("eyJhbGciOiJSUzI1NiJ9.eyJ9"), MDS_EINVAL, "three dot-separated parts", NULL);
	row("one part", strdup("garbage"), MDS_EINVAL, "three dot-separated parts", NULL);
	{
		char *huge = malloc(MDS_JWT_MAX_LEN + 2);

		assert_non_null(huge);
		memset(huge, 'A', MDS_JWT_MAX_LEN + 1);
		huge[10] = '.';
		huge[20] = '.';
		huge[MDS_JWT_MAX_LEN + 1] = '\0';
		row("huge token", huge, MDS_EINVAL, "over the limit", NULL);
	}
	row("payload is a json array", swap_part(rs(claims(now, "")), 1, "WzEsMl0"), MDS_EINVAL,
	    "payload is not a json object", NULL);
	row("header is a json string", fmt("%s.%s.AAAA", P(b64s("\"RS256\"")), P(b64s("{}"))), MDS_EINVAL,
	    "header is not a json object", NULL);
	row("payload not json", swap_part(rs(claims(now, "")), 1, P(b64s("{iss:1}"))), MDS_EINVAL,
	    "payload is not a json object", NULL);
	t = fmt("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"alice\",\"sub\":\"admin\",\"exp\":%lld}",
		(long long)now + 60);
	row("duplicate claim (sub twice)", rs(t), MDS_EINVAL, "duplicate", NULL);
	row("duplicate header member (alg twice)", mk("{\"alg\":\"none\",\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
						     (t = claims(now, "")), "RS256", g.rsa),
	    MDS_EINVAL, "duplicate", NULL);
	free(t);
	row("nul byte in claim", rs(fmt("{\"iss\":\"" ISS "\\u0000x\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"exp\":%lld}",
					(long long)now + 60)), MDS_EINVAL, "payload is not a json object", NULL);

	/* ---- the authorization header ---- */
	add("bearer header accepted", OP_BEARER, 0, T0, now, fmt("Bearer %s", (t = rs(claims(now, "")))), 0, NULL,
	    ISS "#alice");
	free(t);
	add("bearer scheme lower case", OP_BEARER, 0, T0, now, fmt("bearer %s", (t = rs(claims(now, "")))), 0, NULL,
	    ISS "#alice");
	free(t);
	add("basic scheme refused", OP_BEARER, 0, T0, now, strdup("Basic YWxpY2U6cHc="), MDS_EINVAL,
	    "not 'Bearer <token>'", NULL);
	add("bearer with two spaces", OP_BEARER, 0, T0, now, fmt("Bearer  %s", (t = rs(claims(now, "")))),
	    MDS_EINVAL, "not base64url", NULL);
	free(t);

	/* ---- key rotation: set 1 drops ed1 and adds ed2, refreshed at T0 + 1 h ---- */
	add("rotation: removed kid ed1", OP_VALIDATE, 1, T0 + H, T0 + H + 60,
	    tok("EdDSA", "ed1", g.ed, (t = claims(T0 + H + 60, ""))), MDS_EDENIED, "unknown kid 'ed1'", NULL);
	free(t);
	add("rotation: new kid ed2", OP_VALIDATE, 1, T0 + H, T0 + H + 60,
	    tok("EdDSA", "ed2", g.ed2, (t = claims(T0 + H + 60, ""))), 0, NULL, ISS "#alice");
	free(t);
	add("rotation: kept kid rsa1", OP_VALIDATE, 1, T0 + H, T0 + H + 60,
	    rs(claims(T0 + H + 60, "")), 0, NULL, ISS "#alice");
	add("rotation back: ed2 unknown again", OP_VALIDATE, 0, T0 + 2 * H, T0 + 2 * H + 60,
	    tok("EdDSA", "ed2", g.ed2, (t = claims(T0 + 2 * H + 60, ""))), MDS_EDENIED, "unknown kid 'ed2'", NULL);
	free(t);

	/* ---- offline window, key set refreshed at T0, nothing since ---- */
#define OFFLINE(name, at, expect, msg) \
	add(name, OP_VALIDATE, 0, T0, (at), rs(claims((at), "")), expect, msg, expect == 0 ? ISS "#alice" : NULL)
	OFFLINE("offline 23h59m59s", T0 + 24 * H - 1, 0, NULL);
	OFFLINE("offline 95h59m", T0 + 96 * H - 60, 0, NULL);
	OFFLINE("offline exactly 96h", T0 + 96 * H, 0, NULL);
	OFFLINE("offline 96h+1s", T0 + 96 * H + 1, MDS_EUNAVAIL, "beyond the offline window");
	OFFLINE("offline 30 days", T0 + 720 * H, MDS_EUNAVAIL, "beyond the offline window");
#undef OFFLINE
	add("state at refresh", OP_STATE, 0, T0, T0, NULL, MDS_AUTH_FRESH, NULL, NULL);
	add("state at 24h", OP_STATE, 0, T0, T0 + 24 * H, NULL, MDS_AUTH_FRESH, NULL, NULL);
	add("state at 24h+1s (alarm)", OP_STATE, 0, T0, T0 + 24 * H + 1, NULL, MDS_AUTH_OFFLINE_ALARM, NULL, NULL);
	add("state at 95h59m (alarm)", OP_STATE, 0, T0, T0 + 96 * H - 60, NULL, MDS_AUTH_OFFLINE_ALARM, NULL, NULL);
	add("state at 96h+1s (expired)", OP_STATE, 0, T0, T0 + 96 * H + 1, NULL, MDS_AUTH_EXPIRED, NULL, NULL);

	/* ---- island session tokens (refresh at T0 unless said) ---- */
	t = session_at(T0, T0 + 60, 0);
	add("session valid", OP_VALIDATE, 0, T0, T0 + 120, strdup(t), 0, NULL, ISS "#alice");
	add("session at exp + skew - 1", OP_VALIDATE, 0, T0, T0 + 60 + H + SKEW - 1, strdup(t), 0, NULL, ISS "#alice");
	add("session at exp + skew", OP_VALIDATE, 0, T0, T0 + 60 + H + SKEW, strdup(t), MDS_EDENIED, "expired", NULL);
	add("session tampered", OP_VALIDATE, 0, T0, T0 + 120, flip_sig(strdup(t)), MDS_EDENIED,
	    "signature does not verify with key 'island'", NULL);
	add("session renew", OP_RENEW, 0, T0, T0 + 1800, strdup(t), 0, NULL, ISS "#alice");
	add("session renew after exp", OP_RENEW, 0, T0, T0 + 60 + H + SKEW, strdup(t), MDS_EDENIED, "expired", NULL);
	free(t);
	add("renew a provider token", OP_RENEW, 0, T0, T0 + 60, rs(claims(T0 + 60, "")), MDS_EDENIED,
	    "not an island session token", NULL);
	add("session forged with another ed25519 key", OP_VALIDATE, 0, T0, T0 + 60,
	    tok("EdDSA", "island", g.ed_other,
		(t = fmt("{\"iss\":\"" ISLAND "\",\"aud\":\"" AUD "\",\"sub\":\"root\",\"exp\":%lld,\"mds_win\":%lld}",
			 (long long)T0 + H, (long long)(T0 + 96 * H)))),
	    MDS_EDENIED, "signature does not verify with key 'island'", NULL);
	free(t);
	/* issued late in the window: exp is capped at the window end */
	t = session_at(T0, T0 + 95 * H + 30 * 60, 0);
	add("session capped at window end", OP_VALIDATE, 0, T0, T0 + 96 * H, strdup(t), 0, NULL, ISS "#alice");
	add("session past window (no refresh)", OP_VALIDATE, 0, T0, T0 + 96 * H + 1, strdup(t), MDS_EUNAVAIL,
	    "beyond the offline window", NULL);
	/* a refresh after issue does not stretch the token's own window */
	add("session past its window after a refresh", OP_VALIDATE, 0, T0 + 95 * H + 45 * 60, T0 + 96 * H + 1,
	    strdup(t), MDS_EDENIED, "offline window it was issued under ended", NULL);
	/* but renewal under the newer refresh does */
	add("session renewed after a refresh", OP_RENEW, 0, T0 + 95 * H + 45 * 60, T0 + 95 * H + 50 * 60,
	    strdup(t), 0, NULL, ISS "#alice");
	add("session renew past window", OP_RENEW, 0, T0, T0 + 96 * H + 1, strdup(t), MDS_EUNAVAIL,
	    "beyond the offline window", NULL);
	free(t);
}

/* ---- running ---- */

static int run_row(struct row *r, char *why, size_t why_len)
{
	struct mds_jwt_identity id = { 0 };
	struct mds_status st = { 0 };
	int rc, result = 0;

	if (r->op == OP_FIXTURE) {
		static const char *const iss[] = { FX_ISSUER };
		const struct mds_jwt_policy pol = { iss, 1, FX_AUDIENCE, SKEW };
		struct mds_jwks *set = NULL;

		assert_int_equal(mds_jwks_parse(FX_JWKS, strlen(FX_JWKS), &set, NULL), 0);
		rc = mds_jwt_validate(r->token, strlen(r->token), set, &pol, r->at, &id, &st);
		mds_jwks_free(set);
	} else {
		set_phase(r->jwks, r->refresh_at);
		g.now = r->at;
		if (r->op == OP_STATE) {
			enum mds_auth_state s = mds_auth_get_state(g.auth, NULL);

			if ((int)s != r->expect)
				snprintf(why, why_len, "state %s, expected %s", mds_auth_state_name(s),
					 mds_auth_state_name((enum mds_auth_state)r->expect));
			return (int)s == r->expect ? 0 : -1;
		}
		if (r->op == OP_BEARER) {
			rc = mds_auth_validate_bearer(g.auth, r->token, &id, &st);
		} else if (r->op == OP_RENEW) {
			char *fresh = NULL;

			rc = mds_auth_session_renew(g.auth, r->token, strlen(r->token), 0, &fresh, &st);
			/* the renewed token must itself validate, as a session */
			if (rc == 0) {
				rc = mds_auth_validate(g.auth, fresh, strlen(fresh), &id, &st);
				if (rc == 0 && !id.is_session)
					rc = MDS_EINTERNAL;
			}
			free(fresh);
		} else {
			rc = mds_auth_validate(g.auth, r->token, strlen(r->token), &id, &st);
		}
	}
	if (rc != r->expect) {
		snprintf(why, why_len, "got %d ('%s'), expected %d", rc, st.msg, r->expect);
		result = -1;
	} else if (rc != 0 && r->msg != NULL && strstr(st.msg, r->msg) == NULL) {
		snprintf(why, why_len, "message '%s' lacks '%s'", st.msg, r->msg);
		result = -1;
	} else if (rc == 0 && r->principal != NULL &&
		   (id.principal == NULL || strcmp(id.principal, r->principal) != 0)) {
		snprintf(why, why_len, "principal '%s', expected '%s'", id.principal ? id.principal : "(null)",
			 r->principal);
		result = -1;
	} else if (rc != 0 && id.principal != NULL) {
		snprintf(why, why_len, "identity filled on a rejection");
		result = -1;
	}
	mds_jwt_identity_release(&id);
	return result;
}

/*
 * Run every row against g.auth; with @twice, run each token row a second
 * time right away (with a validation cache, the second answer comes from
 * it and must be the same decision).
 */
static void run_table(const char *label, int twice)
{
	size_t i, tried = 0, accepted = 0, rejected = 0, failed = 0;
	char why[512];

	for (i = 0; i < g.n_rows; i++) {
		struct row *r = &g.rows[i];

		for (int k = 0; k < (twice && r->op != OP_STATE ? 2 : 1); k++) {
			why[0] = '\0';
			if (run_row(r, why, sizeof(why)) != 0) {
				failed++;
				printf("FAIL %s row %zu '%s'%s: %s\n", label, i, r->name,
				       k ? " (second time)" : "", why);
			}
		}
		tried++;
		if (r->op != OP_STATE)
			r->expect == 0 ? accepted++ : rejected++;
	}
	printf("conformance%s: %zu rows tried, %zu tokens accepted, %zu tokens rejected, %zu state checks, %zu mismatches\n",
	       label, tried, accepted, rejected, tried - accepted - rejected, failed);
	assert_int_equal(failed, 0);
	assert_true(tried >= 60);
}

static void test_conformance_table(void **state)
{
	(void)state;
	build_rows();
	run_table("", 0);
}

/*
 * The same table through an authority with a validation cache, every
 * token row validated twice: a cached accept or refusal must never differ
 * from a fresh one, across clock moves (expiry, skew, nbf, the offline
 * window, session windows) and key-set rotations.
 */
static void test_conformance_table_cached(void **state)
{
	struct mds_auth *plain = g.auth;
	struct mds_status st;
	uint64_t hits = 0, misses = 0;

	(void)state;
	g.cfg.cache_entries = 1024;
	g.now = T0;
	if (mds_auth_open(&g.cfg, &g.auth, &st) != 0)
		fail_msg("open: %s", st.msg);
	g.cur_jwks = -1;
	run_table(" (cached)", 1);
	mds_auth_cache_stats(g.auth, &hits, &misses);
	printf("conformance (cached): %llu cache hits, %llu misses\n", (unsigned long long)hits,
	       (unsigned long long)misses);
	assert_true(hits >= 40);
	mds_auth_close(g.auth);
	g.auth = plain;
	g.cur_jwks = -1;
}

/* ---- fixtures: keys, key sets, the authority ---- */

static char *jwk_rsa(EVP_PKEY *k, const char *kid)
{
	BIGNUM *n = NULL, *e = NULL;
	unsigned char buf[1024];
	char *ns, *es, *out;
	int len;

	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
	len = BN_bn2bin(n, buf);
	ns = b64(buf, (size_t)len);
	len = BN_bn2bin(e, buf);
	es = b64(buf, (size_t)len);
	out = fmt("{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}", kid, ns, es);
	BN_free(n);
	BN_free(e);
	free(ns);
	free(es);
	return out;
}

static char *jwk_ec(EVP_PKEY *k, const char *kid)
{
	unsigned char pt[65];
	size_t len;
	char *x, *y, *out;

	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len), 1);
	assert_int_equal(len, 65);
	x = b64(pt + 1, 32);
	y = b64(pt + 33, 32);
	out = fmt("{\"kty\":\"EC\",\"kid\":\"%s\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", kid, x, y);
	free(x);
	free(y);
	return out;
}

static char *jwk_ed(EVP_PKEY *k, const char *kid)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	char *x, *out;

	assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
	x = b64(raw, len);
	out = fmt("{\"kty\":\"OKP\",\"kid\":\"%s\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", kid, x);
	free(x);
	return out;
}

static int setup(void **state)
{
	static const char *const issuers[] = { ISS, ENTRA_ISS, ENTRA_V1_ISS };
	struct mds_auth_config cfg;
	struct mds_status st;
	char *r, *e, *d, *d2;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	g.rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	g.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	g.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	g.ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	g.ed_other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!g.rsa || !g.rsa_other || !g.ec || !g.ed || !g.ed2 || !g.ed_other)
		return -1;
	r = jwk_rsa(g.rsa, "rsa1");
	e = jwk_ec(g.ec, "ec1");
	d = jwk_ed(g.ed, "ed1");
	d2 = jwk_ed(g.ed2, "ed2");
	g.jwks[0] = fmt("{\"keys\":[%s,%s,%s]}", r, e, d);
	g.jwks[1] = fmt("{\"keys\":[%s,%s,%s]}", r, e, d2);
	free(r);
	free(e);
	free(d);
	free(d2);

	snprintf(g.dir, sizeof(g.dir), "/tmp/mds-auth-conf-XXXXXX");
	if (mkdtemp(g.dir) == NULL)
		return -1;
	mds_auth_config_init(&cfg);
	cfg.issuers = issuers;
	cfg.n_issuers = 3;
	cfg.audience = AUD;
	cfg.state_file = P(fmt("%s/jwks-state.json", g.dir));
	/* a key file, so that a second authority signs and checks sessions alike */
	cfg.island_key_file = P(fmt("%s/island.pem", g.dir));
	cfg.island_issuer = ISLAND;
	cfg.clock = test_clock;
	g.cfg = cfg;
	g.now = T0;
	if (mds_auth_open(&cfg, &g.auth, &st) != 0) {
		fprintf(stderr, "open: %s\n", st.msg);
		return -1;
	}
	g.cur_jwks = -1;
	return 0;
}

static int teardown(void **state)
{
	char *cmd;
	size_t i;

	(void)state;
	for (i = 0; i < g.n_rows; i++)
		free(g.rows[i].token);
	for (i = 0; i < g.n_pool; i++)
		free(g.pool[i]);
	mds_auth_close(g.auth);
	EVP_PKEY_free(g.rsa);
	EVP_PKEY_free(g.rsa_other);
	EVP_PKEY_free(g.ec);
	EVP_PKEY_free(g.ed);
	EVP_PKEY_free(g.ed2);
	EVP_PKEY_free(g.ed_other);
	free(g.jwks[0]);
	free(g.jwks[1]);
	cmd = fmt("rm -rf '%s'", g.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g.dir);
	free(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conformance_table),
		cmocka_unit_test(test_conformance_table_cached),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
