/*
 * auth_int.h - the authority's inside, shared by auth.c (state, validation),
 * auth_persist.c (state file, atomic writes) and session.c (island key and
 * session tokens). Not for use outside mds/auth.
 *
 * Locking: `lock` (rwlock) guards `keys` and `last_refresh`; validations
 * hold it for reading for the whole check so a refresh never frees a key in
 * use. `refresh_mu` serialises refreshes (and so writes of the state file)
 * without blocking validations during file I/O. Everything else is
 * immutable after open.
 */
#ifndef MDS_AUTH_INT_H
#define MDS_AUTH_INT_H

#include <pthread.h>

#include "auth.h"

struct mds_auth {
	struct mds_auth_config cfg;   /* strings below are owned copies */
	char **issuers;
	size_t n_issuers;
	char *audience, *jwks_file, *state_file, *island_issuer, *island_key_file;

	pthread_rwlock_t lock;
	pthread_mutex_t refresh_mu;
	struct mds_jwks *keys;        /* owned; NULL before the first key set */
	int64_t last_refresh;         /* 0 when keys is NULL */

	struct mds_jwk island;        /* session key: kid "island", EdDSA, private */

	uint64_t keys_gen;            /* under `lock`: bumped when the key set's content changes */
	struct auth_token_cache *cache;   /* owned; NULL when cfg.cache_entries is 0 */
};

/*
 * The validation cache (token_cache.c): results keyed by the exact token
 * text, each bound to the key-set generation it was computed under and
 * usable while cached_at <= now < valid_until. Thread-safe (striped locks).
 */
#define AUTH_CACHE_NEG_TTL_S 5
struct auth_token_cache;
int auth_cache_new(size_t entries, struct auth_token_cache **out);
void auth_cache_free(struct auth_token_cache *c);
/* 1 on a hit: *@rc is the cached result, @id (may be NULL) a copy of the
 * identity when *@rc is 0, else @st the refusal; 0 on a miss. */
int auth_cache_get(struct auth_token_cache *c, const char *tok, size_t len, uint64_t gen,
		   int64_t now, struct mds_jwt_identity *id, int *rc, struct mds_status *st);
/* Remember @rc (0 with @id, or a refusal with @st) for @tok (all borrowed,
 * copied). Out of memory is not an error: nothing is remembered. */
void auth_cache_put(struct auth_token_cache *c, const char *tok, size_t len, uint64_t gen,
		    int64_t now, int64_t valid_until, int rc, const struct mds_jwt_identity *id,
		    const struct mds_status *st);
void auth_cache_stats(struct auth_token_cache *c, uint64_t *hits, uint64_t *misses);

/* Now by the configured clock. */
int64_t auth_now(const struct mds_auth *a);

/* State for @now given the refresh time; caller holds `lock`. */
enum mds_auth_state auth_state_locked(const struct mds_auth *a, int64_t now);

/*
 * auth_write_atomic - write @len bytes at @data (borrowed) to @path
 * (borrowed) through "<path>.tmp", fsync, rename, fsync of the directory;
 * @mode for a new file. Returns 0 or MDS_EIO with @st naming the step.
 */
int auth_write_atomic(const char *path, const void *data, size_t len, int mode,
		      struct mds_status *st);

/*
 * auth_read_file - read at most @max bytes of @path into a malloc'd,
 * NUL-terminated buffer *@out (owned by caller). Returns 0, MDS_ENOTFOUND
 * (no such file), MDS_EINVAL (larger than @max), MDS_EIO, MDS_ENOMEM.
 */
int auth_read_file(const char *path, size_t max, char **out, size_t *len,
		   struct mds_status *st);

/* Persist @keys refreshed at @when to the state file (no-op without one). */
int auth_state_save(const struct mds_auth *a, const struct mds_jwks *keys, int64_t when,
		    struct mds_status *st);

/*
 * Load the state file: on success *@keys (owned by caller) and *@when are
 * set; MDS_ENOTFOUND when there is no file (not an error for open).
 */
int auth_state_load(const struct mds_auth *a, struct mds_jwks **keys, int64_t *when,
		    struct mds_status *st);

/*
 * auth_ed25519_key_load - read the PEM PKCS#8 Ed25519 private key at @path
 * (borrowed), or, when the file does not exist, generate one and write it
 * there with mode 0600 (atomically); @path NULL generates an ephemeral key.
 * *@out is owned by the caller (EVP_PKEY_free); *@created (may be NULL) is
 * 1 when the key was generated. Returns 0, MDS_EINVAL (not an Ed25519 PEM
 * key), MDS_EIO, MDS_ENOMEM or MDS_EINTERNAL, with @st naming the file.
 */
int auth_ed25519_key_load(const char *path, EVP_PKEY **out, int *created, struct mds_status *st);

/* Load or create the island key (session.c). */
int auth_island_key_init(struct mds_auth *a, struct mds_status *st);

/* Validate a decoded session token and fill @id (session.c); lock held. */
int auth_session_check_locked(struct mds_auth *a, const struct mds_jwt *jwt, int64_t now,
			      struct mds_jwt_identity *id, struct mds_status *st);

#endif /* MDS_AUTH_INT_H */
