/*
 * gw_internal.h - what the pieces of libmdsgw share: the parsed config,
 * the provider table, and the builder that turns a record (from an LMDB
 * snapshot or from a gRPC response) into a struct mdsgw_object.
 *
 * A provider is one const struct gw_provider: a name, its capability
 * bits and a table of functions over an opaque state. mdsgw.c picks one by
 * the config string's scheme and forwards every call after the checks
 * every provider needs (ABI sizes, deadline, arguments present). Adding a
 * provider is adding a table; no caller changes.
 *
 * Structs handed to a provider are always full-size copies (fields the
 * caller's older struct lacks are zero), so providers never look at
 * `size`.
 */
#ifndef MDS_GW_INTERNAL_H
#define MDS_GW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mds/mdsgw.h"

/* ---- config (gw_config.c) ---- */

struct gw_conf {
	char scheme[8];        /* "lmdb", "grpc", "global" */
	char *target;          /* lmdb: the data directory; grpc: HOST:PORT (owned) */
	char *mds;             /* lmdb: where writes go, or NULL (owned) */
	unsigned timeout_ms;   /* default deadline */
	unsigned retries;      /* grpc reads: retries after UNAVAILABLE */
	unsigned backoff_ms;   /* first retry delay */
	int tls;
	char *ca, *cert, *key; /* owned, or NULL */
	/* grpc: lookup cache (cache_entries 0 = none) */
	unsigned cache_entries, cache_mb, cache_lag_ms, feed_poll_ms, stale_ok_ms;
	char *feed_key;        /* verifier key, or NULL (owned) */
	char *origin;          /* global: only this island's copies, or NULL (owned) */
};

/*
 * gw_conf_parse - parse @s (borrowed) into @c (caller's, zeroed here).
 * Returns 0 or MDSGW_ECONFIG with @st naming the offending part; on error
 * @c holds nothing to release. Release with gw_conf_release.
 */
int gw_conf_parse(const char *s, struct gw_conf *c, struct mdsgw_status *st);
void gw_conf_release(struct gw_conf *c);

/* ---- status ---- */

/* Set @st (may be NULL) and return @code. */
int gw_status_set(struct mdsgw_status *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Milliseconds left until @deadline_ns (absolute, monotonic); 0 if passed. */
unsigned gw_ms_left(int64_t deadline_ns);

/* ---- object records (gw_object.c) ---- */

struct gw_bytes {
	const char *p;
	size_t len;
};

struct gw_pair {
	struct gw_bytes k, v;
};

/* A record as a provider found it; every string borrowed. */
struct gw_objview {
	struct gw_bytes bucket, name, etag, content_type, locator;
	uint64_t version, content_size, ctime_ns, mtime_ns;
	uint32_t blob_type;
	const struct gw_pair *meta;
	size_t n_meta;
	const struct gw_pair *tags;
	size_t n_tags;
	struct gw_bytes origin;    /* p NULL: none (not global:) */
};

/*
 * gw_object_build - copy @v into one block and point a full-size @out at
 * it. With @scratch NULL the block is malloc'd and owned by @out
 * (out->mem_, freed by mdsgw_object_release); otherwise *scratch /
 * *scratch_cap is a reusable buffer (owned by the caller, grown with
 * realloc) and out->mem_ stays NULL. Returns 0 or MDSGW_ENOMEM.
 */
int gw_object_build(const struct gw_objview *v, struct mdsgw_object *out, void **scratch,
		    size_t *scratch_cap);

/*
 * gw_object_copy - a deep copy of @src into @dst (owns its block; release
 * with mdsgw_object_release); *@bytes (may be NULL) is what it occupies.
 * Returns 0 or MDSGW_ENOMEM.
 */
int gw_object_copy(const struct mdsgw_object *src, struct mdsgw_object *dst, size_t *bytes);

/* ---- the grpc: lookup cache (gw_cache.c) and its feed follower (gw_feed.c) ---- */

struct gw_cache_opts {
	size_t max_entries;
	size_t max_bytes;
	unsigned lag_ms;           /* fresh while the last good round is this recent */
	unsigned stale_ok_ms;      /* 0, or answer up to this old when not fresh */
};

#define GW_CACHE_MISS 0
#define GW_CACHE_HIT 1
#define GW_CACHE_HIT_NEG 2

/* What a miss remembers so that its fetch's result is stored only if no
 * invalidation overlapped the fetch. */
struct gw_cache_ticket {
	uint64_t hash, gen, global_gen;
	int fresh;
};

struct gw_cache;
int gw_cache_new(const struct gw_cache_opts *o, struct gw_cache **out);
void gw_cache_free(struct gw_cache *c);
/* GW_CACHE_HIT (@out filled, owned by the caller), GW_CACHE_HIT_NEG (@msg
 * holds the island's not-found message) or GW_CACHE_MISS (@t filled). */
int gw_cache_get(struct gw_cache *c, const char *bucket, const char *name,
		 struct mdsgw_object *out, char *msg, size_t msgsz, struct gw_cache_ticket *t);
/* Store the fetched @obj (borrowed), or a not-found with @negmsg when @obj
 * is NULL, unless @t says the result may be older than an invalidation. */
void gw_cache_put(struct gw_cache *c, const struct gw_cache_ticket *t, const char *bucket,
		  const char *name, const struct mdsgw_object *obj, const char *negmsg);
void gw_cache_invalidate(struct gw_cache *c, const char *bucket, size_t bucket_len,
			 const char *name, size_t name_len);
void gw_cache_flush(struct gw_cache *c);
/* The feed follower's verdicts: verified up to @feed_size by a round that
 * started at @round_start_ns; or position lost (serve nothing, drop all). */
void gw_cache_set_synced(struct gw_cache *c, int64_t round_start_ns, uint64_t feed_size);
void gw_cache_set_unsynced(struct gw_cache *c);
void gw_cache_feed_error(struct gw_cache *c, const char *msg);
void gw_cache_stats(struct gw_cache *c, struct mdsgw_cache_stats *out);

/*
 * gw_feed_start - a thread that follows the island's feed through @rpc
 * (borrowed; must outlive the follower) and drives @c (borrowed).
 * gw_feed_stop joins it (at most one poll interval or one call's deadline).
 */
struct gw_feed;
struct gw_rpc;
int gw_feed_start(struct gw_rpc *rpc, struct gw_cache *c, const struct gw_conf *conf,
		  struct gw_feed **out, struct mdsgw_status *st);
void gw_feed_stop(struct gw_feed *f);

/* ---- providers ---- */

struct gw_provider {
	const char *name;
	uint32_t caps;
	int (*open)(const struct gw_conf *c, void **state, struct mdsgw_status *st);
	void (*close)(void *state);
	/* @out is full-size and zeroed; on 0 it must own its memory (mem_). */
	int (*resolve)(void *state, const char *bucket, const char *name,
		       struct mdsgw_object *out, int64_t deadline_ns, struct mdsgw_status *st);
	int (*list)(void *state, const struct mdsgw_list_params *p, mdsgw_entry_fn emit,
		    void *arg, struct mdsgw_list_result *res, int64_t deadline_ns,
		    struct mdsgw_status *st);
	int (*put)(void *state, const struct mdsgw_put *p, uint64_t *version,
		   uint64_t *mtime_ns, int64_t deadline_ns, struct mdsgw_status *st);
	int (*del)(void *state, const char *bucket, const char *name, const char *if_match,
		   const char *if_none_match, uint64_t *version, int64_t deadline_ns,
		   struct mdsgw_status *st);
	/* @r is full-size; fills r->token and r->expiry_ns on 0. */
	int (*reserve)(void *state, struct mdsgw_reservation *r, int64_t deadline_ns,
		       struct mdsgw_status *st);
	int (*commit)(void *state, const char *token, const struct mdsgw_put *p,
		      uint64_t *version, uint64_t *mtime_ns, int64_t deadline_ns,
		      struct mdsgw_status *st);
	int (*release)(void *state, const char *token, int64_t deadline_ns,
		       struct mdsgw_status *st);
	/* @a is full-size with principal and action set; *allowed is 0 on entry. */
	int (*access)(void *state, const struct mdsgw_access *a, int *allowed,
		      int64_t deadline_ns, struct mdsgw_status *st);
	/* NULL, or MDSGW_ENOTSUP when this handle has no cache. */
	int (*cache_stats)(void *state, struct mdsgw_cache_stats *out);
};

extern const struct gw_provider gw_provider_lmdb;
extern const struct gw_provider gw_provider_grpc;
extern const struct gw_provider gw_provider_global;

/*
 * The gRPC client part, also used by the lmdb: provider for its writes.
 * gw_grpc_open_endpoint opens a client for @endpoint (borrowed) with the
 * TLS files and retry settings of @c.
 */
struct gw_grpc;
int gw_grpc_open_endpoint(const struct gw_conf *c, const char *endpoint, struct gw_grpc **out,
			  struct mdsgw_status *st);
void gw_grpc_close(struct gw_grpc *g);
int gw_grpc_put(struct gw_grpc *g, const struct mdsgw_put *p, uint64_t *version,
		uint64_t *mtime_ns, int64_t deadline_ns, struct mdsgw_status *st);
int gw_grpc_del(struct gw_grpc *g, const char *bucket, const char *name, const char *if_match,
		const char *if_none_match, uint64_t *version, int64_t deadline_ns,
		struct mdsgw_status *st);
int gw_grpc_reserve(struct gw_grpc *g, struct mdsgw_reservation *r, int64_t deadline_ns,
		    struct mdsgw_status *st);
int gw_grpc_commit(struct gw_grpc *g, const char *token, const struct mdsgw_put *p,
		   uint64_t *version, uint64_t *mtime_ns, int64_t deadline_ns,
		   struct mdsgw_status *st);
int gw_grpc_release(struct gw_grpc *g, const char *token, int64_t deadline_ns,
		    struct mdsgw_status *st);

int gw_grpc_access(struct gw_grpc *g, const struct mdsgw_access *a, int *allowed,
		   int64_t deadline_ns, struct mdsgw_status *st);

/* ---- local access checks (gw_policy.c) ---- */

/*
 * The parsed bindings of an island, kept between checks and rebuilt when
 * the stored ones change. gw_policy_check decides @a (borrowed) from the
 * snapshot of @r (a begun reader, borrowed; the caller ends it after the
 * call). Returns 0 with *allowed 0 or 1, MDSGW_EINVAL (an action that is
 * not one action, too many groups), MDSGW_ENOMEM, the store's read errors.
 * Thread-safe.
 */
struct gw_policy;
struct mds_reader;
int gw_policy_new(struct gw_policy **out);
void gw_policy_free(struct gw_policy *p);
int gw_policy_check(struct gw_policy *p, struct mds_reader *r, const struct mdsgw_access *a,
		    int *allowed, struct mdsgw_status *st);

/* ---- the retry-after hint (mdsgw.c) ---- */

/* Set / clear the calling thread's hint (mdsgw_retry_after_ms). */
void gw_retry_after_set(uint32_t ms);

#endif /* MDS_GW_INTERNAL_H */
