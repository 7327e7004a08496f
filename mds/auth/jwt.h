/*
 * jwt.h - compact JWS bearer tokens (RFC 7515/7519): strict decoding,
 * signature verification against a pinned key, claim checks, and the
 * identity (principal, groups) a valid token carries.
 *
 * Decoding is strict: exactly three base64url parts (see b64url.h), at most
 * MDS_JWT_MAX_LEN characters, header and payload JSON objects without
 * duplicate members. The header must name alg RS256, ES256 or EdDSA; `none`
 * and HMAC algorithms are refused by name; a header carrying jku, jwk, x5u,
 * x5c or crit is refused (keys come from the configured key set only, never
 * from the token). `typ`, when present, must be "JWT" or "at+jwt".
 *
 * Verification: the header's alg must equal the key's pinned alg (so an
 * RSA public key can never be used as an HMAC secret, and an ES256 key never
 * verifies an RS256 token). ES256 signatures are the 64-byte raw r||s form.
 *
 * Claims: iss must be one of the policy's issuers; aud (string or array of
 * strings) must contain the policy's audience; exp is required; nbf and iat
 * are optional; all three are JSON numbers (seconds since the epoch). With
 * a clock skew s, a token is accepted while now < exp + s, from
 * now >= nbf - s, and only if iat <= now + s.
 *
 * Principal: when the payload holds `tid` and `oid` strings (Entra ID
 * style) and tid is a path segment of iss (as in Entra's issuers
 * ".../<tid>/v2.0" and "https://sts.windows.net/<tid>/"), principal =
 * tid + "/" + oid, which stays stable across the tenant's v1/v2 issuer
 * spellings; otherwise principal = iss + "#" + sub. Tying tid to iss keeps
 * one trusted issuer from minting another tenant's principals.
 * `groups`, when present, must be an array of strings and is exposed for
 * role bindings.
 */
#ifndef MDS_AUTH_JWT_H
#define MDS_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <mds/error.h>

#include "jwks.h"

#define MDS_JWT_MAX_LEN 8192
#define MDS_JWT_MAX_GROUPS 512

/* A decoded, not yet trusted token. Opaque. */
struct mds_jwt;

/* What claims a token must carry to be accepted. All pointers borrowed. */
struct mds_jwt_policy {
	const char *const *issuers;   /* accepted `iss` values, exact match */
	size_t n_issuers;
	const char *audience;         /* required member of `aud`; NULL: aud not checked */
	int64_t skew_s;               /* clock skew tolerated on exp/nbf/iat, >= 0 */
};

/* The identity a valid token carries. Every pointer is owned by the struct
 * and released by mds_jwt_identity_release(). */
struct mds_jwt_identity {
	char *principal;     /* "tid/oid" or "iss#sub" (see top of file) */
	char *issuer;        /* iss */
	char *subject;       /* sub, or NULL */
	char **groups;       /* n_groups strings from `groups`, or NULL */
	size_t n_groups;
	int64_t expires_at;  /* exp */
	int is_session;      /* 1 when an island session token (see auth.h) */
};

/*
 * mds_jwt_decode - decode the @len characters at @token (borrowed; need not
 * be NUL-terminated) into a new struct returned through *@out (owned by the
 * caller; release with mds_jwt_free()). Nothing is verified yet.
 *
 * Returns 0, or fills @st (may be NULL) and returns MDS_EINVAL (malformed:
 * parts, base64url, JSON, size), MDS_EDENIED (well-formed but refused by
 * header: alg none, HMAC or unknown alg, jku/jwk/x5u/x5c/crit, bad typ), or
 * MDS_ENOMEM. *@out is NULL on failure.
 */
int mds_jwt_decode(const char *token, size_t len, struct mds_jwt **out,
		   struct mds_status *st);

/* mds_jwt_free - release @jwt (owned; NULL allowed). */
void mds_jwt_free(struct mds_jwt *jwt);

/* The header's alg, kid (borrowed from @jwt, NULL when absent) and the
 * payload's iss (borrowed, NULL when absent or not a string). */
enum mds_jwt_alg mds_jwt_get_alg(const struct mds_jwt *jwt);
const char *mds_jwt_get_kid(const struct mds_jwt *jwt);
const char *mds_jwt_get_issuer(const struct mds_jwt *jwt);

/*
 * mds_jwt_get_int - the payload's numeric claim @name (borrowed) through
 * *@out. Returns 0, MDS_ENOTFOUND when absent, MDS_EINVAL when not a number
 * within +/-2^53 (fractions are truncated toward minus infinity).
 */
int mds_jwt_get_int(const struct mds_jwt *jwt, const char *name, int64_t *out);

/*
 * mds_jwt_verify - verify @jwt's signature with @key (borrowed). The
 * header's alg must equal key->alg. Returns 0, or fills @st and returns
 * MDS_EDENIED (alg mismatch, bad signature) or MDS_ENOMEM/MDS_EINTERNAL.
 */
int mds_jwt_verify(const struct mds_jwt *jwt, const struct mds_jwk *key,
		   struct mds_status *st);

/*
 * mds_jwt_check_claims - check iss, aud, exp, nbf and iat of @jwt against
 * @policy (borrowed) at time @now (seconds since the epoch). Returns 0, or
 * fills @st and returns MDS_EDENIED (naming the claim) or MDS_EINVAL (a claim
 * has the wrong JSON type).
 */
int mds_jwt_check_claims(const struct mds_jwt *jwt, const struct mds_jwt_policy *policy,
			 int64_t now, struct mds_status *st);

/*
 * mds_jwt_get_identity - fill *@id (caller-allocated; contents owned by the
 * caller afterwards, release with mds_jwt_identity_release()) from @jwt's
 * claims. Returns 0, MDS_EINVAL (no sub and no tid/oid; groups malformed),
 * or MDS_ENOMEM; *@id is zeroed on failure.
 */
int mds_jwt_get_identity(const struct mds_jwt *jwt, struct mds_jwt_identity *id,
			 struct mds_status *st);

/* mds_jwt_identity_release - free what @id owns and zero it (NULL allowed). */
void mds_jwt_identity_release(struct mds_jwt_identity *id);

/*
 * mds_jwt_check - for a decoded @jwt (borrowed): pick the key by kid from
 * @keys (borrowed; a token without kid is accepted only when the set holds
 * exactly one key), verify, check claims against @policy at @now, and fill
 * *@id (may be NULL). Returns 0 or the first failure's code with @st filled;
 * an unknown kid is MDS_EDENIED. *@id is zeroed on failure.
 */
int mds_jwt_check(const struct mds_jwt *jwt, const struct mds_jwks *keys,
		  const struct mds_jwt_policy *policy, int64_t now,
		  struct mds_jwt_identity *id, struct mds_status *st);

/*
 * mds_jwt_validate - mds_jwt_decode() then mds_jwt_check() for the @len
 * characters at @token (borrowed). Returns 0 or the first failure's code
 * with @st filled.
 */
int mds_jwt_validate(const char *token, size_t len, const struct mds_jwks *keys,
		     const struct mds_jwt_policy *policy, int64_t now,
		     struct mds_jwt_identity *id, struct mds_status *st);

/*
 * mds_jwt_sign - make a compact JWS: header {"alg":..,"typ":"JWT","kid":@kid}
 * (kid omitted when NULL), payload = @claims_json (borrowed, a JSON object,
 * used verbatim), signed with the private key @key (borrowed) under @alg.
 * The token is returned through *@token (owned by the caller, free()).
 * Returns 0, MDS_EINVAL (claims not an object, key/alg mismatch),
 * MDS_ENOMEM or MDS_EINTERNAL.
 */
int mds_jwt_sign(EVP_PKEY *key, enum mds_jwt_alg alg, const char *kid,
		 const char *claims_json, char **token, struct mds_status *st);

#endif /* MDS_AUTH_JWT_H */
