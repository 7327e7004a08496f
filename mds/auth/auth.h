/*
 * auth.h - the island's bearer-token authority: configuration, the current
 * key set and when it was last refreshed, the offline window, and island
 * session tokens.
 *
 * Lifecycle: fill a struct mds_auth_config (start from
 * mds_auth_config_init()), mds_auth_open() it — which loads the persisted
 * last good key set, if any, with its refresh time — then call
 * mds_auth_refresh() whenever the key set should be re-read (at start and
 * periodically). Worker threads call mds_auth_validate_bearer() or
 * mds_auth_validate() concurrently; refresh may run at the same time.
 * mds_auth_close() when no call is in flight.
 *
 * Offline window. Let age = now - last successful refresh:
 *   age <= offline_alarm_s         FRESH
 *   alarm < age <= offline_window  OFFLINE_ALARM (tokens still validate; the
 *                                  state is reported so an SRE notices)
 *   age > offline_window_s         EXPIRED: every validation and session
 *                                  issue fails closed with MDS_EUNAVAIL
 * Before any key set is loaded the state is NO_KEYS (also fail closed).
 * The trade-off: an identity revoked at the provider keeps access until its
 * token expires, and, while the island cannot refresh, keys the provider
 * has withdrawn stay trusted until the window ends (docs/security.md).
 *
 * Session tokens. mds_auth_session_issue() signs an EdDSA token with the
 * island key for a principal that presented a valid provider token:
 * iss = island_issuer, sub = the principal, aud = audience, the provider
 * token's groups, exp = min(now + ttl, window end), and claim `mds_win` =
 * the window end at issue (last refresh + offline_window_s). Such a token
 * validates only while now <= mds_win and the authority is not EXPIRED;
 * mds_auth_session_renew() exchanges a valid one for a fresh one whose
 * window end follows the newest refresh.
 *
 * Error codes: see mds/auth/auth_status.h (MDS_EINVAL malformed token,
 * MDS_EDENIED refused token, MDS_EUNAVAIL no usable key set, MDS_EIO file
 * trouble, MDS_ENOMEM).
 */
#ifndef MDS_AUTH_AUTH_H
#define MDS_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <mds/error.h>

#include "jwt.h"

#define MDS_AUTH_DEFAULT_SKEW_S 300
#define MDS_AUTH_DEFAULT_WINDOW_S (96 * 3600)
#define MDS_AUTH_DEFAULT_ALARM_S (24 * 3600)
#define MDS_AUTH_DEFAULT_SESSION_TTL_S 3600
#define MDS_AUTH_ISLAND_KID "island"

/* Seconds since the epoch; injectable so tests can move time. */
typedef int64_t (*mds_auth_clock_fn)(void *arg);

struct mds_auth_config {
	const char *const *issuers;  /* trusted provider `iss` values (borrowed, copied by open) */
	size_t n_issuers;
	const char *audience;        /* required `aud` member (borrowed, copied); must be set */
	int64_t clock_skew_s;        /* default 300 */
	int64_t offline_window_s;    /* default 96 h */
	int64_t offline_alarm_s;     /* default 24 h */
	const char *jwks_file;       /* key set file read by mds_auth_refresh(); may be NULL */
	const char *state_file;      /* last good key set persisted here; NULL: not persisted */
	const char *island_issuer;   /* `iss` of session tokens; NULL disables them */
	const char *island_key_file; /* PEM Ed25519 private key, created 0600 if missing;
				      * NULL: an ephemeral key generated at open */
	int64_t session_ttl_s;       /* default 1 h */
	mds_auth_clock_fn clock;     /* NULL: time(NULL) */
	void *clock_arg;             /* passed to clock (borrowed) */
	/* Called by a validation that met a provider token whose `kid` is not
	 * in the key set (the provider may have rotated), after the token was
	 * refused and with no authority lock held. It must not block: e.g.
	 * wake a refresher thread, which rate-limits the fetches. NULL: none. */
	void (*on_unknown_kid)(void *arg);
	void *unknown_kid_arg;       /* passed to on_unknown_kid (borrowed) */
	/* Validation cache: remember this many results keyed by the exact
	 * token text (0, the default: none). An accept is reused until the
	 * token's exp + skew (and mds_win for session tokens) or until the
	 * key set's content changes; a refusal for AUTH_CACHE_NEG_TTL_S (5 s)
	 * at most. The offline-window check still runs on every call. */
	size_t cache_entries;
};

enum mds_auth_state {
	MDS_AUTH_NO_KEYS = 0,
	MDS_AUTH_FRESH = 1,
	MDS_AUTH_OFFLINE_ALARM = 2,
	MDS_AUTH_EXPIRED = 3,
};

struct mds_auth;

/* mds_auth_config_init - zero @cfg (caller-allocated) and set the defaults. */
void mds_auth_config_init(struct mds_auth_config *cfg);

/* mds_auth_state_name - "no-keys", "fresh", "offline-alarm", "expired". */
const char *mds_auth_state_name(enum mds_auth_state state);

/*
 * mds_auth_open - create an authority from @cfg (borrowed; strings are
 * copied) returned through *@out (owned; mds_auth_close()). Loads the
 * island key (or creates it) and the persisted key set from state_file when
 * that file exists. Does not read jwks_file: call mds_auth_refresh().
 * Returns 0, MDS_EINVAL (config: no issuer or audience, negative durations,
 * island_issuer also listed as a provider issuer, unusable state or key
 * file), MDS_EIO, MDS_ENOMEM. *@out is NULL on failure.
 */
int mds_auth_open(const struct mds_auth_config *cfg, struct mds_auth **out,
		  struct mds_status *st);

/* mds_auth_close - release @a (owned; NULL allowed). */
void mds_auth_close(struct mds_auth *a);

/* mds_auth_cache_stats - validation cache hits and misses (0 without one). */
void mds_auth_cache_stats(struct mds_auth *a, uint64_t *hits, uint64_t *misses);

/*
 * mds_auth_refresh - read and parse cfg->jwks_file; on success the new key
 * set replaces the current one, last refresh becomes now, and the set is
 * persisted to state_file (temp file, fsync, rename, fsync of the
 * directory). On a parse or read failure the current key set and refresh
 * time stay as they were. Returns 0; MDS_EINVAL (no jwks_file, bad key set);
 * MDS_EIO (file unreadable; or the new set is in use but could not be
 * persisted — the message says which).
 */
int mds_auth_refresh(struct mds_auth *a, struct mds_status *st);

/*
 * mds_auth_refresh_from - like mds_auth_refresh() with the JWKS document
 * given in memory (@doc, @len borrowed), e.g. from an HTTPS fetch.
 */
int mds_auth_refresh_from(struct mds_auth *a, const char *doc, size_t len,
			  struct mds_status *st);

/*
 * mds_auth_get_state - the state at the authority's clock now; when
 * @last_refresh is not NULL it receives the last successful refresh time
 * (0 when none).
 */
enum mds_auth_state mds_auth_get_state(struct mds_auth *a, int64_t *last_refresh);

/*
 * mds_auth_validate - validate the token of @len bytes at @token (borrowed)
 * and fill *@id (caller-allocated, may be NULL; release its contents with
 * mds_jwt_identity_release()). Provider tokens are checked against the key
 * set and the provider issuers; tokens whose iss is island_issuer are
 * checked as session tokens against the island key. Returns 0 or
 * MDS_EUNAVAIL (no keys, window passed), MDS_EINVAL, MDS_EDENIED,
 * MDS_ENOMEM with @st saying why. *@id is zeroed on failure.
 */
int mds_auth_validate(struct mds_auth *a, const char *token, size_t len,
		      struct mds_jwt_identity *id, struct mds_status *st);

/*
 * mds_auth_validate_bearer - as mds_auth_validate() for the value of an
 * `authorization` header (@header borrowed, NUL-terminated): "Bearer " (the
 * scheme matched case-insensitively, one space) then the token.
 */
int mds_auth_validate_bearer(struct mds_auth *a, const char *header,
			     struct mds_jwt_identity *id, struct mds_status *st);

/*
 * mds_auth_session_issue - sign a session token for @id (borrowed; an
 * identity returned by mds_auth_validate()) valid for @ttl_s seconds (0:
 * the configured session_ttl_s), capped at the window end. The token is
 * returned through *@token (owned by the caller, free()). Returns 0,
 * MDS_EINVAL (sessions disabled, bad ttl), MDS_EUNAVAIL (no keys or window
 * passed), MDS_ENOMEM, MDS_EINTERNAL.
 */
int mds_auth_session_issue(struct mds_auth *a, const struct mds_jwt_identity *id,
			   int64_t ttl_s, char **token, struct mds_status *st);

/*
 * mds_auth_session_renew - validate the session token (@token, @len
 * borrowed) and issue a new one for the same principal and groups, as
 * mds_auth_session_issue(). A provider token is refused (MDS_EDENIED):
 * renewal extends sessions, it does not create them.
 */
int mds_auth_session_renew(struct mds_auth *a, const char *token, size_t len,
			   int64_t ttl_s, char **new_token, struct mds_status *st);

#endif /* MDS_AUTH_AUTH_H */
