/*
 * jwks.h - a parsed JSON Web Key Set (RFC 7517): the public keys that may
 * sign bearer tokens, each pinned to exactly one signature algorithm.
 *
 * Accepted keys (anything else makes the whole document fail, naming the
 * key by index and kid, so that a key set is either used as published or
 * not at all):
 *   kty "RSA"  n, e (modulus 2048..8192 bits)       → RS256
 *   kty "EC"   crv "P-256", x, y (32 bytes each)    → ES256
 *   kty "OKP"  crv "Ed25519", x (32 bytes)          → EdDSA
 * A key's `alg`, when present, must be the one its type allows; when absent
 * the key is pinned by type as above. `use`, when present, must be "sig".
 * `kid` values must be unique (a missing kid counts as its own value, at
 * most one key may omit it). Limits: MDS_JWKS_MAX_BYTES per document,
 * MDS_JWKS_MAX_KEYS keys. Private members (d, p, q, ...) are refused: a
 * key set that leaks private keys is a configuration error worth stopping.
 *
 * A struct mds_jwks is immutable after parsing and may be read from many
 * threads at once.
 */
#ifndef MDS_AUTH_JWKS_H
#define MDS_AUTH_JWKS_H

#include <stddef.h>

#include <openssl/evp.h>

#include <mds/error.h>

#define MDS_JWKS_MAX_BYTES (256 * 1024)
#define MDS_JWKS_MAX_KEYS 64
#define MDS_JWK_KID_MAX 128

/* The signature algorithms Island MDS verifies. 0 is never a valid value. */
enum mds_jwt_alg {
	MDS_JWT_ALG_INVALID = 0,
	MDS_JWT_RS256 = 1,   /* RSASSA-PKCS1-v1_5 with SHA-256 */
	MDS_JWT_ES256 = 2,   /* ECDSA P-256 with SHA-256, raw r||s signatures */
	MDS_JWT_EDDSA = 3,   /* Ed25519 */
};

struct mds_jwk {
	char *kid;               /* owned; NULL when the key has no kid */
	enum mds_jwt_alg alg;    /* the one algorithm this key verifies */
	EVP_PKEY *pkey;          /* owned public key */
};

struct mds_jwks {
	size_t n_keys;
	struct mds_jwk *keys;    /* owned array of n_keys */
	char *json;              /* owned: the document as parsed, for persistence */
	size_t json_len;
};

/*
 * mds_jwt_alg_name - "RS256", "ES256", "EdDSA", or "invalid". Static string.
 */
const char *mds_jwt_alg_name(enum mds_jwt_alg alg);

/*
 * mds_jwt_alg_from_name - the algorithm named @name (borrowed), exactly as
 * spelled in JOSE ("RS256", "ES256", "EdDSA"), or MDS_JWT_ALG_INVALID.
 */
enum mds_jwt_alg mds_jwt_alg_from_name(const char *name);

/*
 * mds_jwks_parse - parse the JWKS document of @len bytes at @doc (borrowed,
 * need not be NUL-terminated) into a new key set returned through *@out
 * (owned by the caller; release with mds_jwks_free()).
 *
 * Returns 0, or fills @st (may be NULL) and returns:
 *   MDS_EINVAL  the document is not a key set we accept (message names the
 *               key index and kid and what is wrong with it)
 *   MDS_ENOMEM  out of memory
 * *@out is NULL on failure.
 */
int mds_jwks_parse(const char *doc, size_t len, struct mds_jwks **out,
		   struct mds_status *st);

/*
 * mds_jwks_find - the key for @kid (borrowed; NULL when the token has no
 * kid). Without a kid, a key is returned only if the set holds exactly one
 * key (otherwise the choice would be a guess). Returns a pointer into @set
 * (borrowed, valid while @set lives) or NULL.
 */
const struct mds_jwk *mds_jwks_find(const struct mds_jwks *set, const char *kid);

/* mds_jwks_free - release @set (owned; NULL is allowed). */
void mds_jwks_free(struct mds_jwks *set);

#endif /* MDS_AUTH_JWKS_H */
