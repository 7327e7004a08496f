/*
 * bench_jwt.c - validations per second of mds_jwt_validate() (decode,
 * verify, claims, identity) for RS256 (2048-bit), ES256 and EdDSA, on one
 * thread. Usage: bench_jwt [runs] [seconds-per-run]; prints every run and
 * the median per algorithm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "jwt.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static EVP_PKEY *keygen(enum mds_jwt_alg alg)
{
	switch (alg) {
	case MDS_JWT_RS256: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case MDS_JWT_ES256: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	default: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	}
}

/* JWKS with the public half of @key under kid "k". */
static char *jwks_of(EVP_PKEY *key, enum mds_jwt_alg alg)
{
	unsigned char buf[600];
	char a[900], b[900], *doc = NULL;
	size_t len;
	BIGNUM *n = NULL, *e = NULL;

	if (alg == MDS_JWT_RS256) {
		EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
		EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
		len = (size_t)BN_bn2bin(n, buf);
		mds_b64url_encode(buf, len, a);
		len = (size_t)BN_bn2bin(e, buf);
		mds_b64url_encode(buf, len, b);
		if (asprintf(&doc, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\",\"e\":\"%s\"}]}", a, b) < 0)
			doc = NULL;
		BN_free(n);
		BN_free(e);
	} else if (alg == MDS_JWT_ES256) {
		EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len);
		mds_b64url_encode(buf + 1, 32, a);
		mds_b64url_encode(buf + 33, 32, b);
		if (asprintf(&doc, "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", a, b) < 0)
			doc = NULL;
	} else {
		len = sizeof(buf);
		EVP_PKEY_get_raw_public_key(key, buf, &len);
		mds_b64url_encode(buf, len, a);
		if (asprintf(&doc, "{\"keys\":[{\"kty\":\"OKP\",\"kid\":\"k\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}", a) < 0)
			doc = NULL;
	}
	return doc;
}

int main(int argc, char **argv)
{
	static const enum mds_jwt_alg algs[] = { MDS_JWT_RS256, MDS_JWT_ES256, MDS_JWT_EDDSA };
	static const char *const issuers[] = { "https://idp.bench" };
	const struct mds_jwt_policy pol = { issuers, 1, "mds", 300 };
	int runs = argc > 1 ? atoi(argv[1]) : 5;
	double secs = argc > 2 ? atof(argv[2]) : 1.0;
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int r;

	if (runs < 1 || runs > 101 || secs <= 0)
		return 2;
	for (i = 0; i < 3; i++) {
		EVP_PKEY *key = keygen(algs[i]);
		struct mds_jwks *set = NULL;
		struct mds_jwt_identity id;
		char claims[300], *token = NULL, *doc = key != NULL ? jwks_of(key, algs[i]) : NULL;
		double rates[101];

		snprintf(claims, sizeof(claims),
			 "{\"iss\":\"https://idp.bench\",\"aud\":\"mds\",\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld,\"groups\":[\"a\",\"b\"]}",
			 (long long)now, (long long)now + 3600);
		if (doc == NULL || mds_jwks_parse(doc, strlen(doc), &set, NULL) != 0 ||
		    mds_jwt_sign(key, algs[i], "k", claims, &token, NULL) != 0 ||
		    mds_jwt_validate(token, strlen(token), set, &pol, now, &id, NULL) != 0) {
			fprintf(stderr, "bench setup failed for %s\n", mds_jwt_alg_name(algs[i]));
			return 1;
		}
		mds_jwt_identity_release(&id);
		for (r = 0; r < runs; r++) {
			double t0 = now_s(), t;
			long n = 0;

			do {
				int k;

				for (k = 0; k < 100; k++) {
					if (mds_jwt_validate(token, strlen(token), set, &pol, now, &id, NULL) != 0)
						return 1;
					mds_jwt_identity_release(&id);
				}
				n += 100;
				t = now_s() - t0;
			} while (t < secs);
			rates[r] = (double)n / t;
			printf("%s run %d: %.0f validations/s\n", mds_jwt_alg_name(algs[i]), r + 1, rates[r]);
		}
		qsort(rates, (size_t)runs, sizeof(double), cmp_double);
		printf("%s median of %d runs: %.0f validations/s (token %zu bytes)\n",
		       mds_jwt_alg_name(algs[i]), runs, rates[runs / 2], strlen(token));
		free(token);
		free(doc);
		mds_jwks_free(set);
		EVP_PKEY_free(key);
	}
	return 0;
}
