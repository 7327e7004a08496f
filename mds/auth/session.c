/*
 * session.c - island session tokens: the island's own Ed25519 key, and
 * short-lived EdDSA tokens it issues to principals that presented a valid
 * provider token, so they keep working through long WAN outages (see
 * auth.h for the claims and the window rule).
 *
 * What must stay true: a session token never outlives the offline window
 * of the refresh it was issued under (claim mds_win), renewal needs a valid
 * session token, and the island key never verifies provider tokens nor does
 * the key set verify session tokens.
 */
#include "auth_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "auth_status.h"

static int generate_ed25519(EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
	int ok;

	*out = NULL;
	ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, out) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : MDS_EINTERNAL;
}

static int save_key(const char *path, EVP_PKEY *key, struct mds_status *st)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc;

	if (mem == NULL || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = mds_status_set(st, MDS_EINTERNAL, "cannot encode ed25519 key: %s", auth_ossl_reason());
		goto out;
	}
	len = BIO_get_mem_data(mem, &data);
	rc = auth_write_atomic(path, data, (size_t)len, 0600, st);
out:
	BIO_free(mem);
	return rc;
}

int auth_ed25519_key_load(const char *path, EVP_PKEY **out, int *created, struct mds_status *st)
{
	EVP_PKEY *key = NULL;
	char *pem = NULL;
	size_t len = 0;
	BIO *mem = NULL;
	int rc;

	*out = NULL;
	if (created)
		*created = 0;
	rc = path ? auth_read_file(path, 16384, &pem, &len, st) : MDS_ENOTFOUND;
	if (rc == MDS_ENOTFOUND) {
		rc = generate_ed25519(&key);
		if (rc != 0)
			return mds_status_set(st, rc, "cannot generate ed25519 key: %s", auth_ossl_reason());
		if (path != NULL) {
			rc = save_key(path, key, st);
			if (rc != 0) {
				EVP_PKEY_free(key);
				return rc;
			}
		}
		if (created)
			*created = 1;
		*out = key;
		return 0;
	}
	if (rc != 0)
		return rc;
	mem = BIO_new_mem_buf(pem, (int)len);
	key = mem != NULL ? PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL) : NULL;
	BIO_free(mem);
	free(pem);
	if (key == NULL || !EVP_PKEY_is_a(key, "ED25519")) {
		EVP_PKEY_free(key);
		return mds_status_set(st, MDS_EINVAL, "key '%s' is not a pem ed25519 private key: %s",
				 path, auth_ossl_reason());
	}
	*out = key;
	return 0;
}

int auth_island_key_init(struct mds_auth *a, struct mds_status *st)
{
	EVP_PKEY *key = NULL;
	int rc;

	rc = auth_ed25519_key_load(a->island_key_file, &key, NULL, st);
	if (rc != 0)
		return rc;
	a->island.pkey = key;
	a->island.alg = MDS_JWT_EDDSA;
	a->island.kid = strdup(MDS_AUTH_ISLAND_KID);
	if (a->island.kid == NULL)
		return mds_status_set(st, MDS_ENOMEM, "cannot load island key: out of memory");
	return 0;
}

int auth_session_check_locked(struct mds_auth *a, const struct mds_jwt *jwt, int64_t now,
			      struct mds_jwt_identity *id, struct mds_status *st)
{
	const char *const iss[1] = { a->island_issuer };
	struct mds_jwt_policy pol = {
		.issuers = iss, .n_issuers = 1,
		.audience = a->audience, .skew_s = a->cfg.clock_skew_s,
	};
	const char *kid = mds_jwt_get_kid(jwt);
	int64_t win;
	int rc;

	if (kid == NULL || strcmp(kid, MDS_AUTH_ISLAND_KID) != 0)
		return mds_status_set(st, MDS_EDENIED, "session token refused: kid is not '%s'", MDS_AUTH_ISLAND_KID);
	rc = mds_jwt_verify(jwt, &a->island, st);
	if (rc != 0)
		return rc;
	rc = mds_jwt_check_claims(jwt, &pol, now, st);
	if (rc != 0)
		return rc;
	if (mds_jwt_get_int(jwt, "mds_win", &win) != 0)
		return mds_status_set(st, MDS_EDENIED, "session token refused: claim 'mds_win' is missing");
	if (now > win)
		return mds_status_set(st, MDS_EDENIED,
				 "session token refused: the offline window it was issued under ended at %lld; present a provider token",
				 (long long)win);
	if (id == NULL)
		return 0;
	rc = mds_jwt_get_identity(jwt, id, st);
	if (rc != 0)
		return rc;
	/* the session's subject is the original principal */
	if (id->subject == NULL) {
		mds_jwt_identity_release(id);
		return mds_status_set(st, MDS_EDENIED, "session token refused: claim 'sub' is missing");
	}
	free(id->principal);
	id->principal = strdup(id->subject);
	if (id->principal == NULL) {
		mds_jwt_identity_release(id);
		return mds_status_set(st, MDS_ENOMEM, "cannot read session identity: out of memory");
	}
	id->is_session = 1;
	return 0;
}

int mds_auth_session_issue(struct mds_auth *a, const struct mds_jwt_identity *id,
			   int64_t ttl_s, char **token, struct mds_status *st)
{
	json_t *claims = NULL, *groups = NULL;
	char *text = NULL;
	int64_t now = auth_now(a), win, exp;
	enum mds_auth_state state;
	size_t i;
	int rc;

	*token = NULL;
	if (a->island_issuer == NULL)
		return mds_status_set(st, MDS_EINVAL, "cannot issue session token: no island issuer configured");
	if (id == NULL || id->principal == NULL)
		return mds_status_set(st, MDS_EINVAL, "cannot issue session token: no principal");
	if (ttl_s == 0)
		ttl_s = a->cfg.session_ttl_s;
	if (ttl_s < 0 || ttl_s > a->cfg.offline_window_s)
		return mds_status_set(st, MDS_EINVAL, "cannot issue session token: ttl %llds is not within 1..%llds",
				 (long long)ttl_s, (long long)a->cfg.offline_window_s);
	pthread_rwlock_rdlock(&a->lock);
	state = auth_state_locked(a, now);
	win = a->last_refresh + a->cfg.offline_window_s;
	pthread_rwlock_unlock(&a->lock);
	if (state == MDS_AUTH_NO_KEYS || state == MDS_AUTH_EXPIRED)
		return mds_status_set(st, MDS_EUNAVAIL, "cannot issue session token: key set state is '%s'",
				 mds_auth_state_name(state));
	exp = now + ttl_s < win ? now + ttl_s : win;
	auth_json_begin();  /* jansson may drop bytes under OOM: check below */
	groups = json_array();
	if (groups == NULL)
		goto nomem;
	for (i = 0; i < id->n_groups; i++)
		if (json_array_append_new(groups, json_string(id->groups[i])) != 0)
			goto nomem;
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:O}",
			   "iss", a->island_issuer, "sub", id->principal, "aud", a->audience,
			   "iat", (json_int_t)now, "exp", (json_int_t)exp, "mds_win", (json_int_t)win,
			   "groups", groups);
	text = claims != NULL ? json_dumps(claims, JSON_COMPACT) : NULL;
	if (text == NULL || auth_json_failed())
		goto nomem;
	rc = mds_jwt_sign(a->island.pkey, MDS_JWT_EDDSA, MDS_AUTH_ISLAND_KID, text, token, st);
	goto out;
nomem:
	rc = mds_status_set(st, MDS_ENOMEM, "cannot issue session token: out of memory");
out:
	free(text);
	json_decref(claims);
	json_decref(groups);
	return rc;
}

int mds_auth_session_renew(struct mds_auth *a, const char *token, size_t len,
			   int64_t ttl_s, char **new_token, struct mds_status *st)
{
	struct mds_jwt_identity id;
	int rc;

	*new_token = NULL;
	rc = mds_auth_validate(a, token, len, &id, st);
	if (rc != 0)
		return rc;
	if (!id.is_session) {
		mds_jwt_identity_release(&id);
		return mds_status_set(st, MDS_EDENIED, "cannot renew: not an island session token");
	}
	rc = mds_auth_session_issue(a, &id, ttl_s, new_token, st);
	mds_jwt_identity_release(&id);
	return rc;
}
