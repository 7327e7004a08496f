/*
 * fuzz_jwt.c - libFuzzer target for the token parser. An input is either a
 * compact JWS (header.payload.signature) as a client sends it, or, when it
 * starts with '{', the decoded parts "header-json\npayload-json\nsignature"
 * which the target base64url-encodes into a token, so the fuzzer reaches
 * the JSON and claim checks without having to discover base64url first.
 * Each token is decoded, its claims
 * and identity read whatever the signature, and the whole validation run
 * against the fixed key set of fixtures.h at a fixed time. Nothing may
 * crash, leak or read out of bounds, and a token that validates must carry
 * a principal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "fixtures.h"
#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mds_jwks *keys;

/* "h\np\ns" → base64url(h).base64url(p).base64url(s) in a malloc'd buffer */
static char *assemble(const uint8_t *data, size_t size, size_t *len)
{
	const uint8_t *nl1 = memchr(data, '\n', size), *nl2;
	size_t hl, pl, sl;
	char *tok;

	if (nl1 == NULL)
		return NULL;
	nl2 = memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - data));
	if (nl2 == NULL)
		return NULL;
	hl = (size_t)(nl1 - data);
	pl = (size_t)(nl2 - nl1 - 1);
	sl = size - (size_t)(nl2 + 1 - data);
	tok = malloc(MDS_B64URL_ENCODED_LEN(hl) + MDS_B64URL_ENCODED_LEN(pl) +
		     MDS_B64URL_ENCODED_LEN(sl) + 3);
	if (tok == NULL)
		return NULL;
	*len = mds_b64url_encode(data, hl, tok);
	tok[(*len)++] = '.';
	*len += mds_b64url_encode(nl1 + 1, pl, tok + *len);
	tok[(*len)++] = '.';
	*len += mds_b64url_encode(nl2 + 1, sl, tok + *len);
	return tok;
}

static void run_token(const char *token, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tok;
	size_t len = 0;

	if (size > 0 && data[0] == '{') {
		tok = assemble(data, size, &len);
		if (tok != NULL)
			run_token(tok, len);
		free(tok);
		return 0;
	}
	run_token((const char *)data, size);
	return 0;
}

static void run_token(const char *token, size_t size)
{
	static const char *const issuers[] = { FX_ISSUER };
	const struct mds_jwt_policy pol = {
		.issuers = issuers, .n_issuers = 1, .audience = FX_AUDIENCE, .skew_s = 300,
	};
	struct mds_jwt_identity id;
	struct mds_jwt *jwt = NULL;
	struct mds_status st;
	int64_t v;

	if (keys == NULL && mds_jwks_parse(FX_JWKS, strlen(FX_JWKS), &keys, NULL) != 0)
		abort();
	if (mds_jwt_decode(token, size, &jwt, &st) == 0) {
		(void)mds_jwt_get_kid(jwt);
		(void)mds_jwt_get_int(jwt, "exp", &v);
		(void)mds_jwt_check_claims(jwt, &pol, FX_NOW, &st);
		if (mds_jwt_get_identity(jwt, &id, &st) == 0)
			mds_jwt_identity_release(&id);
		mds_jwt_free(jwt);
	}
	if (mds_jwt_validate(token, size, keys, &pol, FX_NOW, &id, &st) == 0) {
		if (id.principal == NULL || id.principal[0] == '\0')
			abort();
		mds_jwt_identity_release(&id);
	}
}
