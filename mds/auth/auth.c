/*
 * auth.c - the authority: configuration, current key set, offline-window
 * state, and validation of bearer tokens (see auth.h for the contract).
 *
 * What must stay true: every validation first computes the state at the
 * configured clock and fails closed (MDS_EUNAVAIL) when there are no keys
 * or the offline window has passed; a failed refresh never replaces or
 * un-ages the current key set; a token whose iss is the island's own is
 * verified only with the island key, any other only with the key set.
 */
#include "auth_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth_status.h"

void mds_auth_config_init(struct mds_auth_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->clock_skew_s = MDS_AUTH_DEFAULT_SKEW_S;
	cfg->offline_window_s = MDS_AUTH_DEFAULT_WINDOW_S;
	cfg->offline_alarm_s = MDS_AUTH_DEFAULT_ALARM_S;
	cfg->session_ttl_s = MDS_AUTH_DEFAULT_SESSION_TTL_S;
}

const char *mds_auth_state_name(enum mds_auth_state state)
{
	switch (state) {
	case MDS_AUTH_NO_KEYS: return "no-keys";
	case MDS_AUTH_FRESH: return "fresh";
	case MDS_AUTH_OFFLINE_ALARM: return "offline-alarm";
	case MDS_AUTH_EXPIRED: return "expired";
	}
	return "unknown";
}

int64_t auth_now(const struct mds_auth *a)
{
	if (a->cfg.clock != NULL)
		return a->cfg.clock(a->cfg.clock_arg);
	return (int64_t)time(NULL);
}

enum mds_auth_state auth_state_locked(const struct mds_auth *a, int64_t now)
{
	int64_t age;

	if (a->keys == NULL)
		return MDS_AUTH_NO_KEYS;
	age = now - a->last_refresh;
	if (age > a->cfg.offline_window_s)
		return MDS_AUTH_EXPIRED;
	if (age > a->cfg.offline_alarm_s)
		return MDS_AUTH_OFFLINE_ALARM;
	return MDS_AUTH_FRESH;
}

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	*out = strdup(s);
	return *out != NULL ? 0 : -1;
}

static int check_config(const struct mds_auth_config *cfg, struct mds_status *st)
{
	size_t i;

	if (cfg->n_issuers == 0 || cfg->issuers == NULL)
		return mds_status_set(st, MDS_EINVAL, "auth config: no trusted issuer configured");
	if (cfg->audience == NULL || cfg->audience[0] == '\0')
		return mds_status_set(st, MDS_EINVAL, "auth config: audience is not set");
	if (cfg->clock_skew_s < 0 || cfg->offline_window_s <= 0 || cfg->offline_alarm_s < 0 ||
	    cfg->session_ttl_s <= 0)
		return mds_status_set(st, MDS_EINVAL, "auth config: skew, window, alarm and session ttl must not be negative");
	if (cfg->offline_alarm_s > cfg->offline_window_s)
		return mds_status_set(st, MDS_EINVAL, "auth config: offline alarm (%llds) is after the window (%llds)",
				 (long long)cfg->offline_alarm_s, (long long)cfg->offline_window_s);
	for (i = 0; i < cfg->n_issuers; i++) {
		if (cfg->issuers[i] == NULL || cfg->issuers[i][0] == '\0')
			return mds_status_set(st, MDS_EINVAL, "auth config: issuer %zu is empty", i);
		if (cfg->island_issuer != NULL && strcmp(cfg->issuers[i], cfg->island_issuer) == 0)
			return mds_status_set(st, MDS_EINVAL, "auth config: island issuer '%s' is also a provider issuer",
					 cfg->island_issuer);
	}
	return 0;
}

int mds_auth_open(const struct mds_auth_config *cfg, struct mds_auth **out,
		  struct mds_status *st)
{
	struct mds_auth *a = NULL;
	struct mds_jwks *keys = NULL;
	int64_t when = 0;
	size_t i;
	int rc;

	*out = NULL;
	rc = check_config(cfg, st);
	if (rc != 0)
		return rc;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return mds_status_set(st, MDS_ENOMEM, "cannot open auth: out of memory");
	pthread_rwlock_init(&a->lock, NULL);
	pthread_mutex_init(&a->refresh_mu, NULL);
	a->cfg = *cfg;
	a->issuers = calloc(cfg->n_issuers, sizeof(*a->issuers));
	if (a->issuers == NULL)
		goto nomem;
	for (i = 0; i < cfg->n_issuers; i++) {
		if ((a->issuers[i] = strdup(cfg->issuers[i])) == NULL)
			goto nomem;
		a->n_issuers = i + 1;
	}
	if (dup_opt(cfg->audience, &a->audience) || dup_opt(cfg->jwks_file, &a->jwks_file) ||
	    dup_opt(cfg->state_file, &a->state_file) || dup_opt(cfg->island_issuer, &a->island_issuer) ||
	    dup_opt(cfg->island_key_file, &a->island_key_file))
		goto nomem;
	a->cfg.issuers = (const char *const *)a->issuers;
	a->cfg.audience = a->audience;
	a->cfg.jwks_file = a->jwks_file;
	a->cfg.state_file = a->state_file;
	a->cfg.island_issuer = a->island_issuer;
	a->cfg.island_key_file = a->island_key_file;

	if (a->island_issuer != NULL) {
		rc = auth_island_key_init(a, st);
		if (rc != 0)
			goto fail;
	}
	if (cfg->cache_entries && auth_cache_new(cfg->cache_entries, &a->cache) != 0)
		goto nomem;
	rc = auth_state_load(a, &keys, &when, st);
	if (rc == 0) {
		a->keys = keys;
		a->last_refresh = when;
	} else if (rc != MDS_ENOTFOUND) {
		goto fail;
	}
	*out = a;
	return auth_ok(st);
nomem:
	rc = mds_status_set(st, MDS_ENOMEM, "cannot open auth: out of memory");
fail:
	mds_auth_close(a);
	return rc;
}

void mds_auth_close(struct mds_auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	auth_cache_free(a->cache);
	mds_jwks_free(a->keys);
	EVP_PKEY_free(a->island.pkey);
	free(a->island.kid);
	for (i = 0; i < a->n_issuers; i++)
		free(a->issuers[i]);
	free(a->issuers);
	free(a->audience);
	free(a->jwks_file);
	free(a->state_file);
	free(a->island_issuer);
	free(a->island_key_file);
	pthread_rwlock_destroy(&a->lock);
	pthread_mutex_destroy(&a->refresh_mu);
	free(a);
}

int mds_auth_refresh_from(struct mds_auth *a, const char *doc, size_t len,
			  struct mds_status *st)
{
	struct mds_jwks *keys = NULL, *old;
	int64_t now;
	int rc;

	rc = mds_jwks_parse(doc, len, &keys, st);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&a->refresh_mu);
	now = auth_now(a);
	pthread_rwlock_wrlock(&a->lock);
	old = a->keys;
	a->keys = keys;
	a->last_refresh = now;
	/* cached validations belong to the key set they were made with */
	if (old == NULL || old->json_len != keys->json_len ||
	    memcmp(old->json, keys->json, keys->json_len) != 0)
		a->keys_gen++;
	pthread_rwlock_unlock(&a->lock);
	mds_jwks_free(old);
	/* the key set in memory is good now; persistence trouble is reported
	 * but does not undo it */
	rc = auth_state_save(a, keys, now, st);
	pthread_mutex_unlock(&a->refresh_mu);
	if (rc != 0) {
		char why[MDS_STATUS_MSG_MAX];

		snprintf(why, sizeof(why), "%s", st != NULL ? st->msg : "");
		return mds_status_set(st, MDS_EIO, "key set refreshed but not persisted: %s", why);
	}
	return auth_ok(st);
}

int mds_auth_refresh(struct mds_auth *a, struct mds_status *st)
{
	char *doc = NULL;
	size_t len = 0;
	int rc;

	if (a->jwks_file == NULL)
		return mds_status_set(st, MDS_EINVAL, "cannot refresh key set: no jwks_file configured");
	rc = auth_read_file(a->jwks_file, MDS_JWKS_MAX_BYTES, &doc, &len, st);
	if (rc == MDS_ENOTFOUND)
		rc = mds_status_set(st, MDS_EIO, "cannot refresh key set: file '%s' does not exist", a->jwks_file);
	if (rc != 0)
		return rc;
	rc = mds_auth_refresh_from(a, doc, len, st);
	if (rc != 0 && rc != MDS_EIO) {
		char why[MDS_STATUS_MSG_MAX];

		snprintf(why, sizeof(why), "%s", st != NULL ? st->msg : "");
		rc = mds_status_set(st, rc, "cannot refresh key set from '%s': %s", a->jwks_file, why);
	}
	free(doc);
	return rc;
}

void mds_auth_cache_stats(struct mds_auth *a, uint64_t *hits, uint64_t *misses)
{
	auth_cache_stats(a ? a->cache : NULL, hits, misses);
}

enum mds_auth_state mds_auth_get_state(struct mds_auth *a, int64_t *last_refresh)
{
	enum mds_auth_state s;
	int64_t now = auth_now(a);

	pthread_rwlock_rdlock(&a->lock);
	s = auth_state_locked(a, now);
	if (last_refresh != NULL)
		*last_refresh = a->keys != NULL ? a->last_refresh : 0;
	pthread_rwlock_unlock(&a->lock);
	return s;
}

/* Fail closed unless the key set is usable at @now; lock held. */
static int usable_locked(const struct mds_auth *a, int64_t now, struct mds_status *st)
{
	switch (auth_state_locked(a, now)) {
	case MDS_AUTH_NO_KEYS:
		return mds_status_set(st, MDS_EUNAVAIL, "no key set loaded: tokens cannot be validated until a key set refresh succeeds");
	case MDS_AUTH_EXPIRED:
		return mds_status_set(st, MDS_EUNAVAIL,
				 "key set last refreshed %llds ago, beyond the offline window of %llds: all tokens refused until a refresh succeeds",
				 (long long)(now - a->last_refresh), (long long)a->cfg.offline_window_s);
	default:
		return 0;
	}
}

static int provider_check_locked(struct mds_auth *a, const struct mds_jwt *jwt, int64_t now,
				 struct mds_jwt_identity *id, struct mds_status *st)
{
	struct mds_jwt_policy pol = {
		.issuers = a->cfg.issuers, .n_issuers = a->n_issuers,
		.audience = a->audience, .skew_s = a->cfg.clock_skew_s,
	};

	return mds_jwt_check(jwt, a->keys, &pol, now, id, st);
}

/*
 * Remember a validation result (lock held): an accept until the token
 * stops being acceptable on its own (exp + skew; for a session token also
 * mds_win), a refusal for AUTH_CACHE_NEG_TTL_S. Out-of-memory and
 * key-set-state failures are never cached.
 */
static void cache_result_locked(struct mds_auth *a, const char *token, size_t len, int64_t now,
				const struct mds_jwt *jwt, int rc,
				const struct mds_jwt_identity *id, const struct mds_status *st)
{
	int64_t until, win;

	if (rc == 0) {
		if (id == NULL)
			return;
		/* saturating: a token may carry an exp near INT64_MAX */
		until = id->expires_at > INT64_MAX - a->cfg.clock_skew_s
			? INT64_MAX : id->expires_at + a->cfg.clock_skew_s;
		if (id->is_session && mds_jwt_get_int(jwt, "mds_win", &win) == 0 && win + 1 < until)
			until = win + 1;
	} else if (rc == MDS_EDENIED || rc == MDS_EINVAL) {
		until = now + AUTH_CACHE_NEG_TTL_S;
	} else {
		return;
	}
	auth_cache_put(a->cache, token, len, a->keys_gen, now, until, rc, id, st);
}

int mds_auth_validate(struct mds_auth *a, const char *token, size_t len,
		      struct mds_jwt_identity *id, struct mds_status *st)
{
	struct mds_jwt *jwt = NULL;
	const char *iss;
	int64_t now = auth_now(a);
	int unknown_kid = 0;
	int rc;

	if (id != NULL)
		memset(id, 0, sizeof(*id));
	pthread_rwlock_rdlock(&a->lock);
	rc = usable_locked(a, now, st);
	if (rc != 0)
		goto out;
	if (a->cache && auth_cache_get(a->cache, token, len, a->keys_gen, now, id, &rc, st))
		goto out;
	rc = mds_jwt_decode(token, len, &jwt, st);
	if (rc == 0) {
		iss = mds_jwt_get_issuer(jwt);
		if (a->island_issuer != NULL && iss != NULL && strcmp(iss, a->island_issuer) == 0)
			rc = auth_session_check_locked(a, jwt, now, id, st);
		else {
			rc = provider_check_locked(a, jwt, now, id, st);
			unknown_kid = rc != 0 && mds_jwt_get_kid(jwt) != NULL &&
				      mds_jwks_find(a->keys, mds_jwt_get_kid(jwt)) == NULL;
		}
	}
	if (a->cache)
		cache_result_locked(a, token, len, now, jwt, rc, id, st);
out:
	pthread_rwlock_unlock(&a->lock);
	mds_jwt_free(jwt);
	if (unknown_kid && a->cfg.on_unknown_kid != NULL)
		a->cfg.on_unknown_kid(a->cfg.unknown_kid_arg);
	return rc;
}

int mds_auth_validate_bearer(struct mds_auth *a, const char *header,
			     struct mds_jwt_identity *id, struct mds_status *st)
{
	if (id != NULL)
		memset(id, 0, sizeof(*id));
	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return mds_status_set(st, MDS_EINVAL, "authorization header is not 'Bearer <token>'");
	return mds_auth_validate(a, header + 7, strlen(header + 7), id, st);
}
