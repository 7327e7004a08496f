/*
 * token_cache.c - the authority's cache of validation results, keyed by the
 * exact token text (see auth_int.h for the contract).
 *
 * Why: a signature check costs 0.1-0.5 ms of CPU (EdDSA, ES256, RS256),
 * several times a whole HeadObject. Callers send the same token on every
 * call for its lifetime, so each token is verified once and then looked up.
 * This matters most under a flood: a team whose calls are refused by its
 * rate limit would otherwise still pay a verification per refused call.
 *
 * Shape: a direct-mapped table of 2^k slots, a slot chosen by a seeded
 * 64-bit hash of the token (the seed is random per process, so nobody can
 * aim tokens at one slot to evict another caller's entry), striped mutexes.
 * A hit needs the same text (full compare), the same key-set generation
 * and cached_at <= now < valid_until (a clock set back, which could make a
 * not-yet-valid token valid again in the cache's eyes, misses). Collisions
 * simply replace the older entry.
 *
 * What must stay true: a cached "accept" never outlives the token's own
 * expiry (exp + skew, and mds_win for session tokens) nor the key set it
 * was verified with (the generation changes when the key set's content
 * does); the authority's offline-window check runs before every lookup.
 * A cached "refuse" lives AUTH_CACHE_NEG_TTL_S at most, so a refusal that
 * could change with time (nbf) is only ever late in the safe direction.
 */
#include "auth_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define STRIPES 64

struct slot {
	char *token;            /* owned copy; NULL = empty */
	size_t len;
	uint64_t hash;
	uint64_t gen;
	int64_t cached_at;      /* usable from here (a clock set back misses) */
	int64_t valid_until;    /* usable while now < valid_until */
	int rc;                 /* 0 accepted, else the refusal's code */
	char msg[MDS_STATUS_MSG_MAX];
	struct mds_jwt_identity id;   /* owned, when rc == 0 */
};

struct auth_token_cache {
	size_t mask;
	uint64_t seed;
	struct slot *slots;
	pthread_mutex_t mu[STRIPES];
	_Atomic uint64_t hits, misses;
};

int auth_cache_new(size_t entries, struct auth_token_cache **out)
{
	struct auth_token_cache *c;
	size_t n = 16;

	*out = NULL;
	while (n < entries && n < (1u << 20))
		n <<= 1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return MDS_ENOMEM;
	c->slots = calloc(n, sizeof(*c->slots));
	if (c->slots == NULL) {
		free(c);
		return MDS_ENOMEM;
	}
	c->mask = n - 1;
	if (RAND_bytes((unsigned char *)&c->seed, sizeof(c->seed)) != 1)
		c->seed = (uint64_t)(uintptr_t)c ^ UINT64_C(0x9e3779b97f4a7c15);
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	*out = c;
	return 0;
}

void auth_cache_free(struct auth_token_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i <= c->mask; i++) {
		free(c->slots[i].token);
		mds_jwt_identity_release(&c->slots[i].id);
	}
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	free(c->slots);
	free(c);
}

/* FNV-1a over the text, seeded, then a splitmix64 finaliser. */
static uint64_t hash_token(const struct auth_token_cache *c, const char *tok, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ c->seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)tok[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

static int copy_identity(struct mds_jwt_identity *dst, const struct mds_jwt_identity *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->expires_at = src->expires_at;
	dst->is_session = src->is_session;
	if ((src->principal && !(dst->principal = strdup(src->principal))) ||
	    (src->issuer && !(dst->issuer = strdup(src->issuer))) ||
	    (src->subject && !(dst->subject = strdup(src->subject))))
		goto nomem;
	if (src->n_groups) {
		dst->groups = calloc(src->n_groups, sizeof(*dst->groups));
		if (dst->groups == NULL)
			goto nomem;
		for (size_t i = 0; i < src->n_groups; i++) {
			dst->groups[i] = strdup(src->groups[i]);
			if (dst->groups[i] == NULL)
				goto nomem;
			dst->n_groups = i + 1;
		}
	}
	return 0;
nomem:
	mds_jwt_identity_release(dst);
	return MDS_ENOMEM;
}

int auth_cache_get(struct auth_token_cache *c, const char *tok, size_t len, uint64_t gen,
		   int64_t now, struct mds_jwt_identity *id, int *rc, struct mds_status *st)
{
	uint64_t h = hash_token(c, tok, len);
	size_t i = (size_t)h & c->mask;
	pthread_mutex_t *mu = &c->mu[i % STRIPES];
	struct slot *s = &c->slots[i];
	int hit = 0;

	pthread_mutex_lock(mu);
	if (s->token && s->hash == h && s->len == len && s->gen == gen && now < s->valid_until &&
	    now >= s->cached_at &&
	    memcmp(s->token, tok, len) == 0) {
		hit = 1;
		*rc = s->rc;
		if (s->rc != 0)
			mds_status_set(st, s->rc, "%s", s->msg);
		else if (id != NULL && copy_identity(id, &s->id) != 0)
			hit = 0;    /* out of memory: validate the long way */
	}
	pthread_mutex_unlock(mu);
	atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
	return hit;
}

void auth_cache_put(struct auth_token_cache *c, const char *tok, size_t len, uint64_t gen,
		    int64_t now, int64_t valid_until, int rc, const struct mds_jwt_identity *id,
		    const struct mds_status *st)
{
	uint64_t h = hash_token(c, tok, len);
	size_t i = (size_t)h & c->mask;
	pthread_mutex_t *mu = &c->mu[i % STRIPES];
	struct slot *s = &c->slots[i], fresh;

	memset(&fresh, 0, sizeof(fresh));
	fresh.token = malloc(len);
	if (fresh.token == NULL)
		return;
	if (rc == 0 && copy_identity(&fresh.id, id) != 0) {
		free(fresh.token);
		return;
	}
	memcpy(fresh.token, tok, len);
	fresh.len = len;
	fresh.hash = h;
	fresh.gen = gen;
	fresh.cached_at = now;
	fresh.valid_until = valid_until;
	fresh.rc = rc;
	if (rc != 0 && st != NULL)
		snprintf(fresh.msg, sizeof(fresh.msg), "%s", st->msg);
	pthread_mutex_lock(mu);
	free(s->token);
	mds_jwt_identity_release(&s->id);
	*s = fresh;
	pthread_mutex_unlock(mu);
}

void auth_cache_stats(struct auth_token_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c ? atomic_load(&c->hits) : 0;
	*misses = c ? atomic_load(&c->misses) : 0;
}
