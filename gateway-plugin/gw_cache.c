/*
 * gw_cache.c - the lookup cache of the grpc: provider: (bucket, name) ->
 * the object record, or "not found" with the island's message, kept
 * coherent by the change feed (gw_feed.c drives the invalidations and says
 * how fresh the cache is).
 *
 * Memory is bounded twice: at most `max_entries` entries in a fixed slot
 * array and at most `max_bytes` counted bytes (key, record block, message,
 * slot). Eviction is CLOCK (second chance): a hit sets the slot's
 * reference bit, the hand clears bits until it finds a slot without one.
 * Lookups are a chained hash over the slots.
 *
 * Coherence rules, what must stay true:
 *   - An entry is answered only while the cache is fresh: the feed
 *     follower completed a verified round that started at most `lag_ms`
 *     ago (gw_cache_set_synced). Otherwise it is a miss, except that a
 *     handle with stale_ok_ms > 0 may answer entries while the last good
 *     round is at most that old (the gateway asked for it).
 *   - A fetch must not put back a record older than an invalidation it
 *     overlapped: gw_cache_get hands out a ticket with the generation of
 *     the name's slot in `gens` (a counter bumped by every invalidation of
 *     a name hashing there) and the global generation (bumped by a flush);
 *     gw_cache_put stores nothing when either moved, or when the cache was
 *     not fresh when the fetch began. A record fetched after the
 *     invalidation was applied is newer than the change (the leaf is
 *     committed with the change), so it may be stored.
 *   - A flush (the follower lost its place: (re)bootstrap, a gap, a failed
 *     verification, a bucket-level change) drops every entry.
 * One mutex guards everything; the critical sections are a hash probe and
 * a copy.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

#define GEN_SLOTS 4096

struct slot {
	char *key;                 /* bucket '\0' name (owned) */
	size_t klen;
	uint64_t hash;
	struct mdsgw_object obj;   /* owns obj.mem_ when !neg */
	char *negmsg;              /* owned, when neg */
	size_t bytes;
	int32_t next;              /* hash chain, or free list */
	uint8_t used, ref, neg;
};

struct gw_cache {
	pthread_mutex_t mu;
	struct gw_cache_opts o;
	struct slot *slots;
	int32_t *heads;
	size_t nheads;             /* power of two */
	int32_t free_head;
	size_t hand, n_used, bytes;
	uint64_t gens[GEN_SLOTS];
	uint64_t global_gen;
	/* feed state */
	int synced;
	int64_t last_good_ns;      /* start of the last verified round */
	uint64_t feed_size, rounds, feed_errors;
	char feed_error[128];
	/* counters */
	uint64_t hits, neg_hits, stale_hits, misses, inserts, evictions, invalidations;
};

static uint64_t hash_key(const char *b, size_t bl, const char *n, size_t nl)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < bl; i++)
		h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (size_t i = 0; i < nl; i++)
		h = (h ^ (unsigned char)n[i]) * 1099511628211ULL;
	return h;
}

int gw_cache_new(const struct gw_cache_opts *o, struct gw_cache **out)
{
	struct gw_cache *c;

	*out = NULL;
	if (!o->max_entries || o->max_entries > INT32_MAX / 2)
		return MDSGW_EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return MDSGW_ENOMEM;
	c->o = *o;
	c->nheads = 16;
	while (c->nheads < o->max_entries)
		c->nheads <<= 1;
	c->slots = calloc(o->max_entries, sizeof(*c->slots));
	c->heads = malloc(c->nheads * sizeof(*c->heads));
	if (!c->slots || !c->heads) {
		free(c->slots);
		free(c->heads);
		free(c);
		return MDSGW_ENOMEM;
	}
	for (size_t i = 0; i < c->nheads; i++)
		c->heads[i] = -1;
	for (size_t i = 0; i < o->max_entries; i++)
		c->slots[i].next = i + 1 < o->max_entries ? (int32_t)(i + 1) : -1;
	c->free_head = 0;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
}

static void slot_clear(struct slot *s)
{
	free(s->key);
	free(s->negmsg);
	mdsgw_object_release(&s->obj);
	memset(s, 0, sizeof(*s));
}

void gw_cache_free(struct gw_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->o.max_entries; i++)
		if (c->slots[i].used)
			slot_clear(&c->slots[i]);
	free(c->slots);
	free(c->heads);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Unlink slot @i from its chain and put it on the free list (lock held). */
static void slot_drop(struct gw_cache *c, int32_t i)
{
	struct slot *s = &c->slots[i];
	int32_t *pp = &c->heads[s->hash & (c->nheads - 1)];

	while (*pp != i)
		pp = &c->slots[*pp].next;
	*pp = s->next;
	c->bytes -= s->bytes;
	c->n_used--;
	slot_clear(s);
	s->next = c->free_head;
	c->free_head = i;
}

static int32_t find(struct gw_cache *c, uint64_t h, const char *key, size_t klen)
{
	for (int32_t i = c->heads[h & (c->nheads - 1)]; i >= 0; i = c->slots[i].next) {
		const struct slot *s = &c->slots[i];

		if (s->hash == h && s->klen == klen && !memcmp(s->key, key, klen))
			return i;
	}
	return -1;
}

/* bucket '\0' name into @buf (caller's, @cap bytes); 0 if it does not fit. */
static size_t make_key(char *buf, size_t cap, const char *b, const char *n)
{
	size_t bl = strlen(b), nl = strlen(n);

	if (bl + 1 + nl > cap)
		return 0;
	memcpy(buf, b, bl);
	buf[bl] = '\0';
	memcpy(buf + bl + 1, n, nl);
	return bl + 1 + nl;
}

#define KEY_MAX (64 + 1 + 1024 + 64)

static int is_fresh(const struct gw_cache *c, int64_t now, unsigned ms)
{
	return c->synced && c->last_good_ns && now - c->last_good_ns <= (int64_t)ms * 1000000;
}

int gw_cache_get(struct gw_cache *c, const char *b, const char *n, struct mdsgw_object *out,
		 char *msg, size_t msgsz, struct gw_cache_ticket *t)
{
	char key[KEY_MAX];
	size_t klen = make_key(key, sizeof(key), b, n);
	uint64_t h = hash_key(b, strlen(b), n, strlen(n));
	int64_t now = mdsgw_now_ns();
	int32_t i;
	int rc = GW_CACHE_MISS, fresh, stale_ok;

	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&c->mu);
	fresh = is_fresh(c, now, c->o.lag_ms);
	stale_ok = !fresh && c->o.stale_ok_ms && c->last_good_ns &&
		   now - c->last_good_ns <= (int64_t)c->o.stale_ok_ms * 1000000;
	t->hash = h;
	t->gen = c->gens[h % GEN_SLOTS];
	t->global_gen = c->global_gen;
	t->fresh = fresh;
	if (klen && (fresh || stale_ok) && (i = find(c, h, key, klen)) >= 0) {
		struct slot *s = &c->slots[i];

		if (s->neg) {
			snprintf(msg, msgsz, "%s", s->negmsg);
			rc = GW_CACHE_HIT_NEG;
		} else if (gw_object_copy(&s->obj, out, NULL) == 0) {
			rc = GW_CACHE_HIT;
		}
		if (rc != GW_CACHE_MISS) {
			s->ref = 1;
			c->hits++;
			c->neg_hits += rc == GW_CACHE_HIT_NEG;
			c->stale_hits += !fresh;
		}
	}
	if (rc == GW_CACHE_MISS)
		c->misses++;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* Evict with CLOCK until @need more bytes and one more entry fit (lock held). */
static int make_room(struct gw_cache *c, size_t need)
{
	size_t steps = 0;

	if (need > c->o.max_bytes)
		return -1;
	while (c->n_used && (c->n_used == c->o.max_entries || c->bytes + need > c->o.max_bytes)) {
		struct slot *s = &c->slots[c->hand];

		if (s->used && s->ref && steps < 2 * c->o.max_entries) {
			s->ref = 0;
		} else if (s->used) {
			slot_drop(c, (int32_t)c->hand);
			c->evictions++;
		}
		c->hand = (c->hand + 1) % c->o.max_entries;
		steps++;
	}
	return 0;
}

void gw_cache_put(struct gw_cache *c, const struct gw_cache_ticket *t, const char *b,
		  const char *n, const struct mdsgw_object *obj, const char *negmsg)
{
	struct slot fresh_slot;
	size_t klen = strlen(b) + 1 + strlen(n);
	int32_t i;

	if (!t->fresh || klen > KEY_MAX)
		return;
	/* Build outside the lock. */
	memset(&fresh_slot, 0, sizeof(fresh_slot));
	fresh_slot.key = malloc(klen);
	if (!fresh_slot.key)
		return;
	make_key(fresh_slot.key, klen, b, n);
	fresh_slot.klen = klen;
	fresh_slot.hash = t->hash;
	fresh_slot.bytes = sizeof(struct slot) + klen;
	if (obj) {
		size_t ob = 0;

		if (gw_object_copy(obj, &fresh_slot.obj, &ob) != 0) {
			free(fresh_slot.key);
			return;
		}
		fresh_slot.bytes += ob;
	} else {
		fresh_slot.neg = 1;
		fresh_slot.negmsg = strdup(negmsg ? negmsg : "not found");
		if (!fresh_slot.negmsg) {
			free(fresh_slot.key);
			return;
		}
		fresh_slot.bytes += strlen(fresh_slot.negmsg) + 1;
	}
	pthread_mutex_lock(&c->mu);
	if (c->gens[t->hash % GEN_SLOTS] != t->gen || c->global_gen != t->global_gen ||
	    !c->synced)
		goto drop;     /* an invalidation overlapped the fetch */
	if ((i = find(c, t->hash, fresh_slot.key, klen)) >= 0)
		slot_drop(c, i);
	if (make_room(c, fresh_slot.bytes) != 0 || c->free_head < 0)
		goto drop;
	i = c->free_head;
	c->free_head = c->slots[i].next;
	fresh_slot.used = 1;
	fresh_slot.next = c->heads[t->hash & (c->nheads - 1)];
	c->slots[i] = fresh_slot;
	c->heads[t->hash & (c->nheads - 1)] = i;
	c->n_used++;
	c->bytes += fresh_slot.bytes;
	c->inserts++;
	pthread_mutex_unlock(&c->mu);
	return;
drop:
	pthread_mutex_unlock(&c->mu);
	slot_clear(&fresh_slot);
}

void gw_cache_invalidate(struct gw_cache *c, const char *b, size_t bl, const char *n,
			 size_t nl)
{
	char key[KEY_MAX];
	uint64_t h = hash_key(b, bl, n, nl);
	int32_t i;

	if (bl + 1 + nl > sizeof(key))
		return;
	memcpy(key, b, bl);
	key[bl] = '\0';
	memcpy(key + bl + 1, n, nl);
	pthread_mutex_lock(&c->mu);
	c->gens[h % GEN_SLOTS]++;
	if ((i = find(c, h, key, bl + 1 + nl)) >= 0) {
		slot_drop(c, i);
		c->invalidations++;
	}
	pthread_mutex_unlock(&c->mu);
}

void gw_cache_flush(struct gw_cache *c)
{
	pthread_mutex_lock(&c->mu);
	c->global_gen++;
	for (size_t i = 0; i < c->o.max_entries; i++)
		if (c->slots[i].used) {
			slot_drop(c, (int32_t)i);
			c->invalidations++;
		}
	pthread_mutex_unlock(&c->mu);
}

void gw_cache_set_synced(struct gw_cache *c, int64_t round_start_ns, uint64_t feed_size)
{
	pthread_mutex_lock(&c->mu);
	c->synced = 1;
	c->last_good_ns = round_start_ns;
	c->feed_size = feed_size;
	c->rounds++;
	c->feed_error[0] = '\0';
	pthread_mutex_unlock(&c->mu);
}

void gw_cache_set_unsynced(struct gw_cache *c)
{
	pthread_mutex_lock(&c->mu);
	c->synced = 0;
	c->global_gen++;
	pthread_mutex_unlock(&c->mu);
}

void gw_cache_feed_error(struct gw_cache *c, const char *msg)
{
	pthread_mutex_lock(&c->mu);
	c->feed_errors++;
	snprintf(c->feed_error, sizeof(c->feed_error), "%s", msg);
	pthread_mutex_unlock(&c->mu);
}

void gw_cache_stats(struct gw_cache *c, struct mdsgw_cache_stats *s)
{
	int64_t now = mdsgw_now_ns();

	pthread_mutex_lock(&c->mu);
	s->state = !c->synced ? MDSGW_CACHE_SYNCING :
		   is_fresh(c, now, c->o.lag_ms) ? MDSGW_CACHE_FRESH : MDSGW_CACHE_STALE;
	s->hits = c->hits;
	s->negative_hits = c->neg_hits;
	s->stale_hits = c->stale_hits;
	s->misses = c->misses;
	s->insertions = c->inserts;
	s->evictions = c->evictions;
	s->invalidations = c->invalidations;
	s->entries = c->n_used;
	s->bytes = c->bytes;
	s->feed_size = c->feed_size;
	s->feed_rounds = c->rounds;
	s->feed_errors = c->feed_errors;
	s->feed_age_ms = c->last_good_ns ? (now - c->last_good_ns) / 1000000 : -1;
	snprintf(s->feed_error, sizeof(s->feed_error), "%s", c->feed_error);
	pthread_mutex_unlock(&c->mu);
}
