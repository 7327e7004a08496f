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
};

extern const struct gw_provider gw_provider_lmdb;
extern const struct gw_provider gw_provider_grpc;

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
