/*
 * local_issuer.h - the embedded default's own identity provider: a local
 * Ed25519 issuer key under the data directory, the JWKS that publishes its
 * public half, and an island-admin token signed with it.
 *
 * Why: `mds serve` with no authentication settings must not trust every
 * caller (that is `--auth-mode dev`, which has to be asked for). Instead it
 * runs in jwt mode against this local issuer, so the island is secure from
 * the first start and the operator on the same machine still needs no
 * extra step: mdsctl reads DATA/admin.token.
 *
 * Files (all created with mode 0600, written atomically):
 *   DATA/local-issuer.key   PEM PKCS#8 Ed25519 private key; created once,
 *                           kept across restarts
 *   DATA/local-issuer.jwks  {"keys":[{kty OKP, crv Ed25519, x, kid, use sig,
 *                           alg EdDSA}]} - the key set the authority loads
 *   DATA/admin.token        one line: an EdDSA JWT, iss MDS_LOCAL_ISSUER,
 *                           sub "admin", aud MDS_LOCAL_AUDIENCE, iat, exp =
 *                           now + ttl; re-issued at every start
 *
 * What must stay true: the private key never leaves DATA/local-issuer.key
 * (mode 0600); the token is finite; whoever can read DATA can act as the
 * island admin (same trust as reading the LMDB files directly).
 */
#ifndef MDS_AUTH_LOCAL_ISSUER_H
#define MDS_AUTH_LOCAL_ISSUER_H

#include <stdint.h>

#include <mds/error.h>

#define MDS_LOCAL_ISSUER "mds-local"
#define MDS_LOCAL_AUDIENCE "mds"
#define MDS_LOCAL_SUBJECT "admin"
/* The admin principal: issuer + "#" + subject (docs/security.md). */
#define MDS_LOCAL_ADMIN MDS_LOCAL_ISSUER "#" MDS_LOCAL_SUBJECT
/* Lifetime of DATA/admin.token: long (an operator's machine), finite. */
#define MDS_LOCAL_TOKEN_TTL_S (90 * 24 * 3600)

struct mds_local_issuer {
	char key_file[4096];   /* DATA/local-issuer.key */
	char jwks_file[4096];  /* DATA/local-issuer.jwks */
	char token_file[4096]; /* DATA/admin.token */
	char kid[32];          /* "local-" + 16 hex digits of SHA-256(public key) */
	int key_created;       /* 1 when this call generated the key */
	int64_t token_exp;     /* exp of the token just written */
};

/*
 * mds_local_issuer_setup - load or create the local issuer key under
 * @data_dir (borrowed; must exist), (re)write its JWKS, and write a fresh
 * admin token valid from @now for @ttl_s seconds (> 0). Fills @out
 * (caller's). Returns 0; MDS_EINVAL (a path too long, @ttl_s <= 0, the key
 * file is not an Ed25519 PEM key), MDS_EIO (a file cannot be read or
 * written: @st names it), MDS_ENOMEM or MDS_EINTERNAL (OpenSSL).
 */
int mds_local_issuer_setup(const char *data_dir, int64_t now, int64_t ttl_s,
			   struct mds_local_issuer *out, struct mds_status *st);

#endif /* MDS_AUTH_LOCAL_ISSUER_H */
