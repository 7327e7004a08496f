/*
 * mdsgw.h - libmdsgw, the gateway plugin of Island MDS: the whole public
 * surface of the library a gateway (S3 / Azure Blob front end) links or
 * dlopen()s to resolve names, list, put/delete object records and reserve
 * quota for in-flight uploads.
 *
 * This header stands alone (it includes only <stddef.h> and <stdint.h>).
 *
 * ABI and versioning
 *   MDSGW_ABI_VERSION is (major << 16 | minor). A gateway passes the version
 *   it was built for to mdsgw_open() (or mdsgw_get_api()); the library
 *   refuses, with MDSGW_EABI and a message saying both versions, a major
 *   that differs from its own or a minor newer than its own. Within one
 *   major, structs only grow at the end and functions are only added.
 *   Every struct that crosses the ABI and may grow starts with a `size`
 *   member that the caller sets to sizeof() as it knows it (use the
 *   *_INIT macros): the library reads and writes only the first `size`
 *   bytes, and treats fields beyond them as zero. Structs the library
 *   hands to callbacks carry the library's own size; a caller reads only
 *   the fields it knows.
 *
 *   Versions: 1.0 resolve, list, put/delete, quota reservations; 1.1 adds
 *   access checks (mdsgw_access_check, MDSGW_CAP_ACCESS; struct
 *   mdsgw_access grew team and groups), mdsgw_retry_after_ms(), the
 *   grpc: lookup cache and mdsgw_cache_stats(), the global: provider
 *   (struct mdsgw_object grew origin; MDSGW_EREADONLY).
 *
 * Errors
 *   Every function that can fail returns 0 or a negative code. Codes from
 *   -30999 to -30900 are the island's own (the same values as mds/error.h:
 *   the library passes the island's answer through unchanged), codes from
 *   -31099 to -31000 belong to this library, and any other negative value
 *   is -errno. mdsgw_strerror() names all three kinds. A function that
 *   takes a struct mdsgw_status also fills it with the code and a one-line,
 *   lower-case message that says what failed on which name (the status may
 *   be NULL).
 *
 * Deadlines
 *   Every call takes `deadline_ns`: an absolute time on CLOCK_MONOTONIC in
 *   nanoseconds (see mdsgw_deadline_in_ms()), or 0 for "now + the handle's
 *   default timeout" (config parameter timeout_ms, default 5,000 ms). A call
 *   whose deadline has passed fails with MDSGW_ETIMEDOUT; local (lmdb:)
 *   reads check it before they start and never block.
 *
 * Threads
 *   A handle is thread-safe: any number of threads may call through one
 *   handle at once, except that mdsgw_close() must not race with any other
 *   call on the same handle. Callbacks run on the calling thread. A grpc:
 *   handle with a lookup cache runs one thread of its own (the feed
 *   follower) from mdsgw_open to mdsgw_close, which joins it (within one
 *   feed call's 2 s deadline at most).
 *
 * Providers (chosen by the config string given to mdsgw_open)
 *   lmdb:DIR[?params]  the island's LMDB environment in DIR, opened
 *                      read-only in this process: resolve and list cost no
 *                      network hop and no RPC and keep working while mds is
 *                      down. Writes go to mds over gRPC (param mds=HOST:PORT)
 *                      and fail closed when it cannot be reached.
 *   grpc:HOST:PORT[?params]  a remote mds over gRPC (TLS / mTLS optional),
 *                      one reused connection, bounded retries with backoff
 *                      for idempotent calls only.
 *   global:HOST:PORT[?params]  (ABI 1.1) read-only resolve and list over
 *                      an island's Global service: the federated view of
 *                      every island it follows plus its own; each object
 *                      says its island (mdsgw_object.origin). Writes and
 *                      quota calls answer MDSGW_EREADONLY. Param
 *                      origin=NAME: only that island's copies.
 *   Parameters (percent-encoded values, joined with '&'):
 *     mds=HOST:PORT    lmdb: only: where writes go (absent: writes fail)
 *     timeout_ms=N     default deadline of a call (1..3,600,000; 5000)
 *     retries=N        grpc reads: retries after UNAVAILABLE (0..10; 3)
 *     backoff_ms=N     first retry delay, doubled each time (1..10,000; 20)
 *     tls=1            use TLS with the system roots
 *     ca=FILE          PEM roots the server must chain to (implies tls)
 *     cert=FILE, key=FILE  client certificate and key (mutual TLS)
 *   grpc: lookup cache (off unless cache_entries is set; kept coherent by
 *   following the island's change feed, see mdsgw_cache_stats()):
 *     cache_entries=N  at most N cached names (1..10,000,000)
 *     cache_mb=N       at most N MiB of cached records (1..65,536; 64)
 *     cache_lag_ms=N   answer from the cache only while the last verified
 *                      feed round started at most N ms ago (10..600,000; 500)
 *     feed_poll_ms=N   pause between feed rounds (1..10,000; 20)
 *     feed_key=VKEY    the island's feed verifier key (`mds keys show`):
 *                      checkpoints must carry its signature
 *     stale_ok_ms=N    when not fresh, still answer entries while the last
 *                      verified round is at most N ms old (0..86,400,000; 0)
 *   Example: "lmdb:/var/lib/mds?mds=127.0.0.1:7420&timeout_ms=200",
 *            "grpc:10.0.0.5:7420?ca=/etc/mds/ca.pem&cert=gw.pem&key=gw.key".
 */
#ifndef MDS_MDSGW_H
#define MDS_MDSGW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MDSGW_ABI_MAJOR 1
#define MDSGW_ABI_MINOR 1
#define MDSGW_ABI_VERSION ((uint32_t)(MDSGW_ABI_MAJOR << 16 | MDSGW_ABI_MINOR))

/* ---- errors ------------------------------------------------------------- */

enum mdsgw_error {
	MDSGW_OK = 0,
	/* The island's codes (same values as MDS_E* in mds/error.h). */
	MDSGW_EINVAL = -30900,     /* an argument is malformed; the message names it */
	MDSGW_ENOTFOUND = -30901,  /* bucket or object does not exist */
	MDSGW_EEXIST = -30902,     /* the thing to create exists already */
	MDSGW_EPRECOND = -30903,   /* If-Match / If-None-Match did not hold; nothing written */
	MDSGW_ENOTEMPTY = -30904,
	MDSGW_ENOSPC = -30905,     /* the island's store is full: writes refused */
	MDSGW_EIO = -30906,        /* I/O error reading the local store */
	MDSGW_ECORRUPT = -30907,   /* a record or response does not decode */
	MDSGW_ENOMEM = -30908,
	MDSGW_ESHUTDOWN = -30909,
	MDSGW_EBUSY = -30910,      /* a bounded resource is full (reader slots, mds queue) */
	MDSGW_EQUOTA = -30911,     /* a quota limit refuses the change; the message says which */
	MDSGW_EDENIED = -30912,    /* mds refused the caller's identity */
	MDSGW_ERATE = -30913,
	MDSGW_EVERSION = -30914,   /* the store format is not one this library reads */
	MDSGW_EINTERNAL = -30915,  /* a bug, on either side */
	MDSGW_ETIMEDOUT = -30916,  /* the call's deadline passed */
	MDSGW_EUNAVAIL = -30917,   /* mds cannot be reached; writes fail closed */
	MDSGW_ELOCKED = -30918,
	/* This library's own codes. */
	MDSGW_ENOTSUP = -31000,    /* operation or provider not implemented by this version */
	MDSGW_EABI = -31001,       /* incompatible ABI version or struct size */
	MDSGW_ECONFIG = -31002,    /* the config string does not parse; message says where */
	MDSGW_EREADONLY = -31003,  /* the provider is read-only (global:): write to an island (1.1) */
	MDSGW_ERR_FIRST = -31099,
	MDSGW_ERR_LAST = -31000,
};

/* Longest message, including the NUL. This struct never changes size. */
#define MDSGW_MSG_MAX 256

struct mdsgw_status {
	int code;                 /* 0 or a negative code */
	char msg[MDSGW_MSG_MAX];  /* "" when code is 0 */
};

/*
 * mdsgw_strerror - a static, lower-case description of @err: an mdsgw
 * code, an island code or a -errno value. Never returns NULL; the string
 * is valid for the life of the process. Thread-safe.
 */
const char *mdsgw_strerror(int err);

/* mdsgw_error_name - the symbolic name ("MDSGW_ENOTFOUND"); "ERRNO" for
 * -errno values, "MDSGW_OK" for 0. Static string. Thread-safe. */
const char *mdsgw_error_name(int err);

/* ---- time --------------------------------------------------------------- */

/* mdsgw_now_ns - CLOCK_MONOTONIC in nanoseconds. Thread-safe. */
int64_t mdsgw_now_ns(void);

/* mdsgw_deadline_in_ms - mdsgw_now_ns() + @ms milliseconds. Thread-safe. */
int64_t mdsgw_deadline_in_ms(uint32_t ms);

/* ---- handles ------------------------------------------------------------ */

typedef struct mdsgw_handle mdsgw_handle;

/* Capability bits (mdsgw_capabilities). */
#define MDSGW_CAP_RESOLVE  (1u << 0)
#define MDSGW_CAP_LIST     (1u << 1)
#define MDSGW_CAP_PUT      (1u << 2)  /* put / delete object records */
#define MDSGW_CAP_QUOTA    (1u << 3)  /* quota reserve / commit / release */
#define MDSGW_CAP_ACCESS   (1u << 4)  /* mdsgw_access_check (ABI 1.1) */
#define MDSGW_CAP_LOCAL    (1u << 5)  /* reads are served in-process (lmdb:) */

/*
 * mdsgw_open - open a handle from a config string (see the top of this file).
 * @abi_version: MDSGW_ABI_VERSION as the caller was built
 * @config: borrowed during the call only
 * @out: receives the handle (owned by the caller; free with mdsgw_close)
 * @st: may be NULL
 * Returns 0, MDSGW_EABI (incompatible @abi_version), MDSGW_ECONFIG (the
 * string does not parse: unknown scheme or parameter, bad value),
 * MDSGW_EINVAL (a TLS file cannot be read, a bad feed_key),
 * MDSGW_ENOTFOUND / -ENOENT / MDSGW_EVERSION (lmdb: DIR holds no island
 * store, or one of an unknown format), MDSGW_ENOMEM.
 * No network connection is made here: a grpc: handle opens even while mds
 * is down (calls then fail with MDSGW_EUNAVAIL or MDSGW_ETIMEDOUT).
 * Thread-safe.
 */
int mdsgw_open(uint32_t abi_version, const char *config, mdsgw_handle **out,
	       struct mdsgw_status *st);

/*
 * mdsgw_close - release @h and everything it holds. Every call on @h must
 * have returned. NULL is a no-op.
 */
void mdsgw_close(mdsgw_handle *h);

/* mdsgw_capabilities - MDSGW_CAP_* bits of what @h implements. */
uint32_t mdsgw_capabilities(const mdsgw_handle *h);

/* mdsgw_provider - "lmdb", "grpc" or "global" (static string). */
const char *mdsgw_provider(const mdsgw_handle *h);

/* ---- object records ----------------------------------------------------- */

/* A key/value pair of user metadata or a tag; both NUL-terminated. */
struct mdsgw_kv {
	const char *key;
	const char *value;
};

/* Blob types (match mds.v1.BlobType). */
#define MDSGW_BLOB_BLOCK  0
#define MDSGW_BLOB_APPEND 1
#define MDSGW_BLOB_PAGE   2

/*
 * An object record as read. Strings are NUL-terminated; the locator is
 * opaque bytes (also followed by a NUL that is not counted).
 * From mdsgw_resolve: owned by the caller's struct, valid until
 * mdsgw_object_release(). Inside a list callback: valid during the
 * callback only.
 */
struct mdsgw_object {
	uint32_t size;             /* sizeof as the caller knows it: MDSGW_OBJECT_INIT */
	uint32_t blob_type;        /* MDSGW_BLOB_* */
	void *mem_;                /* private: the block the strings live in */
	const char *bucket;
	const char *name;
	uint64_t version;          /* 1 on first put of the name, +1 on each overwrite */
	uint64_t content_size;     /* bytes of content */
	uint64_t ctime_ns;         /* wall clock, ns since the Unix epoch */
	uint64_t mtime_ns;
	const char *etag;
	const char *content_type;
	const unsigned char *locator;  /* the gateway's pointer to the bytes */
	size_t locator_len;
	const struct mdsgw_kv *meta;
	size_t n_meta;
	const struct mdsgw_kv *tags;
	size_t n_tags;
	/* ABI 1.1 */
	const char *origin;        /* global: the island this copy is from; NULL otherwise */
};
#define MDSGW_OBJECT_INIT { .size = sizeof(struct mdsgw_object) }

/*
 * mdsgw_resolve - read the record of (@bucket, @name).
 * @bucket, @name: NUL-terminated, borrowed during the call
 * @out: caller's struct with .size set; on 0 it is filled and must be
 *   released with mdsgw_object_release(); on error it holds nothing to free
 * Returns 0, MDSGW_ENOTFOUND (no such bucket or object; the message says
 * which), MDSGW_EINVAL (name breaks the rules), MDSGW_ETIMEDOUT,
 * MDSGW_EUNAVAIL (grpc: mds unreachable after the retries), MDSGW_EABI
 * (@out->size too small), MDSGW_ENOMEM, MDSGW_EIO / MDSGW_ECORRUPT (lmdb:).
 * lmdb: never waits for mds and works while mds is down. grpc: with
 * cache_entries answers repeated names from its lookup cache while the
 * cache is fresh (a change through mds is seen within the island's
 * checkpoint cadence + cache_lag_ms; docs/gateway-plugin.md 8a). global:
 * fills out->origin with the island the copy is from.
 */
int mdsgw_resolve(mdsgw_handle *h, const char *bucket, const char *name,
		  struct mdsgw_object *out, int64_t deadline_ns, struct mdsgw_status *st);

/* mdsgw_object_release - free what mdsgw_resolve stored in @o (and zero
 * its pointers). Safe on a zeroed or already released struct. */
void mdsgw_object_release(struct mdsgw_object *o);

/* ---- listing ------------------------------------------------------------ */

#define MDSGW_LIST_S3    0   /* ListObjectsV2: max_keys <= 1000, token, start_after */
#define MDSGW_LIST_AZURE 1   /* List Blobs: max_keys (maxresults) <= 5000, marker */
#define MDSGW_TOKEN_MAX 2048

struct mdsgw_list_params {
	uint32_t size;             /* MDSGW_LIST_PARAMS_INIT */
	uint32_t style;            /* MDSGW_LIST_* */
	const char *bucket;        /* required */
	const char *prefix;        /* NULL or "" = all */
	const char *delimiter;     /* NULL or "" = no roll-up */
	const char *start_after;   /* S3 only; ignored when token is set */
	const char *token;         /* continuation token / marker as returned, or NULL */
	int64_t max_keys;          /* < 0: the style's cap; 0 allowed (empty page) */
};
#define MDSGW_LIST_PARAMS_INIT { .size = sizeof(struct mdsgw_list_params), .max_keys = -1 }

/* One item of a page, in name order; valid during the callback only. */
struct mdsgw_entry {
	uint32_t size;             /* the library's sizeof */
	uint32_t is_prefix;        /* 1: a CommonPrefix / BlobPrefix, obj is NULL */
	const char *name;          /* NUL-terminated object name or prefix */
	const struct mdsgw_object *obj;
};

/* Return 0 to go on; any other value stops the page and is returned by
 * mdsgw_list. Must not call mdsgw_close on the handle. */
typedef int (*mdsgw_entry_fn)(void *arg, const struct mdsgw_entry *e);

struct mdsgw_list_result {
	uint32_t size;                        /* MDSGW_LIST_RESULT_INIT */
	uint32_t key_count;                   /* objects + prefixes in the page */
	uint32_t truncated;                   /* 1: more results; pass next_token back */
	char next_token[MDSGW_TOKEN_MAX + 1]; /* "" unless truncated */
};
#define MDSGW_LIST_RESULT_INIT { .size = sizeof(struct mdsgw_list_result) }

/*
 * mdsgw_list - one page of a listing with S3 ListObjectsV2 or Azure List
 * Blobs semantics; @emit is called for each entry in order, then @res is
 * filled. @p, @res are borrowed during the call. With lmdb: the whole page
 * comes from one snapshot and @emit runs while it is held, so keep it short.
 * With grpc: the page is fetched first (retried as a read), then emitted.
 * Returns 0, what @emit returned, MDSGW_ENOTFOUND (bucket), MDSGW_EINVAL
 * (max_keys above the cap, a token that does not belong to this listing),
 * MDSGW_ETIMEDOUT, MDSGW_EUNAVAIL, MDSGW_EABI (a size too small),
 * MDSGW_ENOMEM.
 */
int mdsgw_list(mdsgw_handle *h, const struct mdsgw_list_params *p, mdsgw_entry_fn emit,
	       void *arg, struct mdsgw_list_result *res, int64_t deadline_ns,
	       struct mdsgw_status *st);

/* ---- mutations (always through mds; fail closed) ------------------------ */

struct mdsgw_put {
	uint32_t size;                /* MDSGW_PUT_INIT */
	uint32_t blob_type;           /* MDSGW_BLOB_* */
	const char *bucket;
	const char *name;
	uint64_t content_size;
	const char *etag;             /* NULL = "" */
	const char *content_type;     /* NULL = "" */
	const unsigned char *locator;
	size_t locator_len;
	const struct mdsgw_kv *meta;
	size_t n_meta;
	const struct mdsgw_kv *tags;
	size_t n_tags;
	const char *if_match;         /* NULL = no condition; "*" = must exist */
	const char *if_none_match;    /* NULL = no condition; "*" = must not exist */
};
#define MDSGW_PUT_INIT { .size = sizeof(struct mdsgw_put) }

/*
 * mdsgw_put - create or overwrite an object record, answered once durable
 * on the island. @p and everything it points to are borrowed during the
 * call. @version_out, @mtime_ns_out may be NULL.
 * Never retried by the library (a put is not idempotent in general).
 * Returns 0, MDSGW_EPRECOND (a condition did not hold; nothing written),
 * MDSGW_EQUOTA (a quota limit refuses the growth; the message names it),
 * MDSGW_ENOTFOUND (bucket), MDSGW_EINVAL, MDSGW_ENOSPC, MDSGW_EBUSY,
 * MDSGW_EUNAVAIL (mds unreachable, or lmdb: without mds=: refused, fail
 * closed), MDSGW_ETIMEDOUT (the deadline passed: the write may or may not
 * have been applied; re-read, or use conditions, to find out),
 * MDSGW_EREADONLY (global:).
 */
int mdsgw_put(mdsgw_handle *h, const struct mdsgw_put *p, uint64_t *version_out,
	      uint64_t *mtime_ns_out, int64_t deadline_ns, struct mdsgw_status *st);

/*
 * mdsgw_delete - delete the record of (@bucket, @name), conditionally when
 * @if_match / @if_none_match are not NULL. @version_out (may be NULL)
 * receives the deleted version. Strings borrowed during the call.
 * Returns as mdsgw_put, and MDSGW_ENOTFOUND when the object is absent.
 */
int mdsgw_delete(mdsgw_handle *h, const char *bucket, const char *name,
		 const char *if_match, const char *if_none_match, uint64_t *version_out,
		 int64_t deadline_ns, struct mdsgw_status *st);

/* ---- quota reservations (through mds; fail closed) ---------------------- */

#define MDSGW_TOKEN_LEN 64   /* room for a reservation token, NUL included */

/*
 * A reservation holds bytes/objects against every quota scope covering
 * bucket/name (team, bucket, prefixes) while an upload is in flight, so
 * that no pattern of concurrent uploads overshoots a hard limit.
 */
struct mdsgw_reservation {
	uint32_t size;             /* MDSGW_RESERVATION_INIT */
	uint32_t flags_;           /* reserved, 0 */
	const char *bucket;        /* in */
	const char *name;          /* in: the object being uploaded */
	uint64_t bytes;            /* in: to hold against the quotas */
	uint64_t objects;          /* in: usually 1 for a new object */
	uint64_t ttl_ms;           /* in: released by mds after this (> 0) */
	char token[MDSGW_TOKEN_LEN]; /* out: the reservation's token (NUL-terminated) */
	uint64_t expiry_ns;        /* out: wall clock (ns since the Unix epoch) it expires */
};
#define MDSGW_RESERVATION_INIT { .size = sizeof(struct mdsgw_reservation) }

/*
 * mdsgw_quota_reserve - reserve quota for an upload; on 0, r->token and
 * r->expiry_ns are filled. @r is borrowed during the call.
 * Returns 0, MDSGW_EQUOTA (a limit refuses: the message names the scope,
 * the limit, usage, reserved amount and what was asked), MDSGW_ENOTFOUND
 * (bucket), MDSGW_EINVAL, MDSGW_EUNAVAIL / MDSGW_ETIMEDOUT (as mdsgw_put:
 * fail closed; never retried; also lmdb: without mds=), MDSGW_EREADONLY
 * (global:).
 */
int mdsgw_quota_reserve(mdsgw_handle *h, struct mdsgw_reservation *r, int64_t deadline_ns,
			struct mdsgw_status *st);

/*
 * mdsgw_quota_commit - in one transaction on the island, give back the
 * reservation @token and put the object record @p (bucket and name must
 * be the reservation's). Growth up to the reserved amount is not checked
 * again; beyond it, it is. Outputs and returns as mdsgw_put, and
 * MDSGW_ENOTFOUND when the reservation is gone (committed, released,
 * expired), MDSGW_EQUOTA when growth beyond it is refused (the reservation
 * then stays live).
 */
int mdsgw_quota_commit(mdsgw_handle *h, const char *token, const struct mdsgw_put *p,
		       uint64_t *version_out, uint64_t *mtime_ns_out, int64_t deadline_ns,
		       struct mdsgw_status *st);

/*
 * mdsgw_quota_release - give the reservation @token back (an aborted
 * upload). Returns 0, MDSGW_ENOTFOUND (already gone), MDSGW_EUNAVAIL,
 * MDSGW_ETIMEDOUT. A reservation that is never released expires at its TTL.
 */
int mdsgw_quota_release(mdsgw_handle *h, const char *token, int64_t deadline_ns,
			struct mdsgw_status *st);

/* ---- access checks ------------------------------------------------------ */

/*
 * Who (principal, groups) wants to do what (one action) on which resource.
 * The fields after `name` were added in ABI 1.1; a 1.0 caller's struct
 * (without them) is accepted and they read as NULL / 0.
 */
struct mdsgw_access {
	uint32_t size;             /* MDSGW_ACCESS_INIT */
	uint32_t flags_;           /* reserved, 0 */
	const char *principal;     /* verified identity as mds names it: "iss#sub" for a
				      bearer token, "mtls:SAN" for a client certificate */
	const char *action;        /* one action: "read", "list", "put", "delete",
				      "append", "set-tags", "set-retention", ... (the
				      names of docs/security.md; roles are refused) */
	const char *bucket;        /* NULL for team- or island-level actions */
	const char *name;          /* object name; for "list", the listing prefix */
	/* ABI 1.1 */
	const char *team;          /* team-level actions; ignored when bucket is set (the
				      bucket's owner team is used) */
	const char *const *groups; /* the principal's group claims (without "group:") */
	size_t n_groups;
};
#define MDSGW_ACCESS_INIT { .size = sizeof(struct mdsgw_access) }

/*
 * mdsgw_access_check - would the island allow @a->principal to do
 * @a->action on the resource? The same decision as mds's own gate: role
 * bindings on island / team / bucket / prefix scopes, conditions, default
 * deny, an explicit deny wins.
 *   lmdb: decides in-process from the read-only environment with the
 *         island's own authorization code and the bindings of the current
 *         snapshot (object tags for tag conditions from the same snapshot);
 *         no RPC, works while mds is down.
 *   grpc: asks mds (Policy.Explain; the handle's identity needs the
 *         manage-bindings action on the island in jwt mode). Retried as a
 *         read.
 * @a: borrowed during the call. @allowed: set to 1 (allow) or 0 on 0, and
 * always to 0 on error (default deny for a caller that ignores the code).
 * Returns 0, MDSGW_EINVAL (no principal or action, an unknown action or a
 * role), MDSGW_ETIMEDOUT, MDSGW_EUNAVAIL, MDSGW_EDENIED (grpc: the handle's
 * identity may not ask), MDSGW_EABI, MDSGW_ENOTSUP (global: answers no
 * access checks: ask the island that owns the bucket).
 * Thread-safe.
 */
int mdsgw_access_check(mdsgw_handle *h, const struct mdsgw_access *a, int *allowed,
		       int64_t deadline_ns, struct mdsgw_status *st);

/* ---- busy answers: the retry-after hint ----------------------------------- */

/*
 * mdsgw_retry_after_ms - the retry-after hint (milliseconds) of the last
 * call made through this library on the calling thread, when that call
 * ended with MDSGW_ERATE or MDSGW_EBUSY and mds sent a hint (trailing
 * metadata retry-after-ms); 0 otherwise. Like errno: read it right after
 * the call that failed. Reads (resolve, list, access checks) have already
 * waited and retried within their deadline when the hint fitted in it;
 * writes never wait: the gateway decides (e.g. HTTP 503 with Retry-After).
 */
uint32_t mdsgw_retry_after_ms(void);

/* ---- the grpc: lookup cache (ABI 1.1) ------------------------------------ */

/* Cache states (struct mdsgw_cache_stats.state). */
#define MDSGW_CACHE_SYNCING 1  /* the feed position is not known yet: nothing is served */
#define MDSGW_CACHE_FRESH   2  /* the last verified feed round is within cache_lag_ms */
#define MDSGW_CACHE_STALE   3  /* it is older (feed unreachable or behind): nothing is
				  served, except within stale_ok_ms when configured */

/*
 * Counters and state of a grpc: handle's lookup cache (config cache_entries
 * > 0; docs/gateway-plugin.md "Lookup cache" gives the staleness bound).
 * Counters only grow, from the handle's open.
 */
struct mdsgw_cache_stats {
	uint32_t size;             /* MDSGW_CACHE_STATS_INIT */
	uint32_t state;            /* MDSGW_CACHE_* */
	uint64_t hits;             /* resolves answered from the cache (incl. negative) */
	uint64_t negative_hits;    /* ... of which "not found" */
	uint64_t stale_hits;       /* ... of which served while not fresh (stale_ok_ms) */
	uint64_t misses;           /* resolves that went to mds */
	uint64_t insertions;
	uint64_t evictions;        /* dropped to stay within cache_entries / cache_mb */
	uint64_t invalidations;    /* dropped because the feed changed their name */
	uint64_t entries;          /* now */
	uint64_t bytes;            /* now (counted: keys, records, messages, slots) */
	uint64_t feed_size;        /* leaves of the island's log applied */
	uint64_t feed_rounds;      /* verified feed rounds */
	uint64_t feed_errors;      /* failed rounds (transport, verification) */
	int64_t feed_age_ms;       /* since the last verified round started; -1: never */
	char feed_error[128];      /* the last failure, "" after a good round */
};
#define MDSGW_CACHE_STATS_INIT { .size = sizeof(struct mdsgw_cache_stats) }

/*
 * mdsgw_cache_stats - fill @out (caller's, .size set) with the cache's
 * counters. Returns 0, MDSGW_ENOTSUP (the handle has no cache: not grpc:,
 * or cache_entries not set), MDSGW_EINVAL, MDSGW_EABI. Thread-safe.
 */
int mdsgw_cache_stats(mdsgw_handle *h, struct mdsgw_cache_stats *out);

/* ---- the descriptor, for gateways that dlopen() the library ------------- */

/*
 * One struct of function pointers, in the manner of an nginx module: a
 * gateway dlsym()s only "mdsgw_get_api". Slots are only ever appended
 * (reserved[] takes the next ones); `size` says how many the library has.
 */
struct mdsgw_api {
	uint32_t size;             /* the library's sizeof(struct mdsgw_api) */
	uint32_t abi_version;      /* the library's MDSGW_ABI_VERSION */
	const char *version;       /* the library's release, e.g. "0.1.0" */
	int (*open)(uint32_t, const char *, mdsgw_handle **, struct mdsgw_status *);
	void (*close)(mdsgw_handle *);
	uint32_t (*capabilities)(const mdsgw_handle *);
	const char *(*provider)(const mdsgw_handle *);
	int (*resolve)(mdsgw_handle *, const char *, const char *, struct mdsgw_object *,
		       int64_t, struct mdsgw_status *);
	void (*object_release)(struct mdsgw_object *);
	int (*list)(mdsgw_handle *, const struct mdsgw_list_params *, mdsgw_entry_fn, void *,
		    struct mdsgw_list_result *, int64_t, struct mdsgw_status *);
	int (*put)(mdsgw_handle *, const struct mdsgw_put *, uint64_t *, uint64_t *, int64_t,
		   struct mdsgw_status *);
	int (*del)(mdsgw_handle *, const char *, const char *, const char *, const char *,
		   uint64_t *, int64_t, struct mdsgw_status *);
	int (*quota_reserve)(mdsgw_handle *, struct mdsgw_reservation *, int64_t,
			     struct mdsgw_status *);
	int (*quota_commit)(mdsgw_handle *, const char *, const struct mdsgw_put *, uint64_t *,
			    uint64_t *, int64_t, struct mdsgw_status *);
	int (*quota_release)(mdsgw_handle *, const char *, int64_t, struct mdsgw_status *);
	int (*access_check)(mdsgw_handle *, const struct mdsgw_access *, int *, int64_t,
			    struct mdsgw_status *);
	const char *(*strerror)(int);
	const char *(*error_name)(int);
	int64_t (*now_ns)(void);
	int64_t (*deadline_in_ms)(uint32_t);
	/* ABI 1.1 */
	uint32_t (*retry_after_ms)(void);
	int (*cache_stats)(mdsgw_handle *, struct mdsgw_cache_stats *);
	void *reserved[14];        /* future slots; NULL */
};

/*
 * mdsgw_get_api - the library's descriptor, after checking @abi_version as
 * mdsgw_open does. @out receives a pointer to static, immutable memory
 * valid while the library is loaded. Returns 0 or MDSGW_EABI (with @st's
 * message naming both versions). Thread-safe.
 */
typedef int (*mdsgw_get_api_fn)(uint32_t abi_version, const struct mdsgw_api **out,
				struct mdsgw_status *st);
int mdsgw_get_api(uint32_t abi_version, const struct mdsgw_api **out, struct mdsgw_status *st);

#ifdef __cplusplus
}
#endif

#endif /* MDS_MDSGW_H */
