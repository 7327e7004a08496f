/*
 * fuzz_jwt.c - libFuzzer target for the token parser: the input is a
 * compact JWS (header.payload.signature). Each input is decoded, its claims
 * and identity read whatever the signature, and the whole validation run
 * against the fixed key set of fixtures.h at a fixed time. Nothing may
 * crash, leak or read out of bounds, and a token that validates must carry
 * a principal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mds_jwks *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
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
	if (mds_jwt_decode((const char *)data, size, &jwt, &st) == 0) {
		(void)mds_jwt_get_kid(jwt);
		(void)mds_jwt_get_int(jwt, "exp", &v);
		(void)mds_jwt_check_claims(jwt, &pol, FX_NOW, &st);
		if (mds_jwt_get_identity(jwt, &id, &st) == 0)
			mds_jwt_identity_release(&id);
		mds_jwt_free(jwt);
	}
	if (mds_jwt_validate((const char *)data, size, keys, &pol, FX_NOW, &id, &st) == 0) {
		if (id.principal == NULL || id.principal[0] == '\0')
			abort();
		mds_jwt_identity_release(&id);
	}
	return 0;
}
