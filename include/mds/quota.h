/*
 * quota.h - quota limits per team, bucket and prefix, reservations for
 * in-flight uploads, and the reads that answer usage and quota state.
 *
 * Scopes
 *   "team/NAME"            every object in every bucket of team NAME
 *   "bucket/NAME"          every object in bucket NAME
 *   "prefix/BUCKET/PATH/"  every object of BUCKET whose name starts with
 *                          "PATH/" (directory style: PATH/ ends with '/')
 *   An object counts against every scope that covers it.
 *
 * Limits (struct mds_quota_limits) are each optional: hard bytes and
 * objects, soft bytes and objects with one grace period. A scope's "total"
 * is its usage plus what live reservations hold. Growth of a dimension is
 * refused (MDS_EQUOTA) when the new total would pass the hard limit, or when
 * the total is over the soft limit and the grace period, which started
 * when it first passed the soft limit (recorded in the store), is over.
 * Falling back to or under the soft limit clears the grace state. Deletes
 * and shrinking overwrites are always allowed. Lowering a limit below the
 * current total is allowed and blocks further growth.
 *
 * Mutations are ops (namespace.h) run by the store's writer:
 *   MDS_OP_QUOTA_SET        scope, limits, principal: create or replace the
 *                           limits (an audit record keeps who, when, old
 *                           and new). The first prefix quota on a prefix
 *                           counts the objects under it once, inside the op.
 *   MDS_OP_QUOTA_DELETE     scope, principal: remove the limits (audited).
 *   MDS_OP_RESERVE          reservation (a token from mds_quota_token_new),
 *                           bucket, name, reserve_bytes, reserve_objects,
 *                           reserve_ttl_ns: hold that much against every
 *                           scope covering bucket/name until commit,
 *                           release or expiry. out_mtime_ns = the expiry.
 *   MDS_OP_RESERVE_COMMIT   reservation, bucket, name, obj, cond: release
 *                           the reservation and put the object in one
 *                           transaction. Growth up to the reserved amount
 *                           is not checked again (it was counted already);
 *                           growth beyond it is checked like any put.
 *   MDS_OP_RESERVE_RELEASE  reservation: give it back.
 *   MDS_OP_RESERVE_SWEEP    sweep_max (0 = 256): release up to that many
 *                           expired reservations. out_version = how many
 *                           were released; submit again while
 *                           mds_quota_sweep_due() says so.
 *
 * Memory: strings in results point into the reader's snapshot and stay
 * valid until mds_reader_end().
 */
#ifndef MDS_QUOTA_H
#define MDS_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"
#include "mds/namespace.h"
#include "mds/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest PATH/ of a prefix scope, in bytes (keeps quota keys under 511). */
#define MDS_QUOTA_PREFIX_MAX 400
/* Hex characters of a reservation token (16 random bytes). */
#define MDS_RESERVATION_TOKEN_LEN 32
/* Longest principal recorded in the audit log. */
#define MDS_PRINCIPAL_MAX 255
/* Longest "prefix/BUCKET/PATH/" scope string. */
#define MDS_QUOTA_SCOPE_MAX (7 + MDS_BUCKET_NAME_MAX + 1 + MDS_QUOTA_PREFIX_MAX)

enum mds_quota_scope_kind {
	MDS_SCOPE_TEAM = 1,
	MDS_SCOPE_BUCKET = 2,
	MDS_SCOPE_PREFIX = 3,
};

/* A parsed scope; strings borrowed from what was parsed. */
struct mds_quota_scope {
	enum mds_quota_scope_kind kind;
	struct mds_str name;    /* team or bucket name */
	struct mds_str prefix;  /* PATH/ (prefix scopes only) */
};

enum mds_quota_state {
	MDS_QUOTA_OK = 0,           /* under every limit that applies */
	MDS_QUOTA_OVER_SOFT = 1,    /* over a soft limit; growth allowed until grace_until_ns */
	MDS_QUOTA_BLOCKED_SOFT = 2, /* over a soft limit after its grace: growth refused */
	MDS_QUOTA_BLOCKED_HARD = 3, /* at or over a hard limit: growth refused */
};

/* What one scope uses and may use, answered from counters. */
struct mds_quota_info {
	struct mds_quota_scope scope;
	int has_limits;                 /* 0: no quota set (usage only) */
	struct mds_quota_limits limits;
	uint64_t used_bytes, used_objects;
	uint64_t reserved_bytes, reserved_objects;
	enum mds_quota_state state;     /* the worse of bytes and objects */
	uint64_t grace_until_ns;        /* OVER_SOFT / BLOCKED_SOFT: when the grace ends(ed) */
	uint64_t set_ns;                /* when the limits were last set (0 if none) */
};

/* One audit record: a quota change. */
struct mds_quota_audit {
	uint64_t seq;                   /* 1, 2, ... in commit order */
	uint64_t time_ns;
	int is_delete;
	struct mds_str principal;
	struct mds_quota_scope scope;
	int had_old;                    /* 0: no limits before */
	struct mds_quota_limits old_limits;
	int has_new;                    /* 0: limits removed */
	struct mds_quota_limits new_limits;
};

/*
 * mds_quota_scope_parse - parse @s ("team/T", "bucket/B", "prefix/B/P/")
 * into @out (strings borrowed from @s). Validates the names; a prefix must
 * be 1..MDS_QUOTA_PREFIX_MAX bytes of valid UTF-8 ending in '/'.
 * Returns 0 or MDS_EINVAL with @st naming what is wrong.
 */
int mds_quota_scope_parse(struct mds_str s, struct mds_quota_scope *out, struct mds_status *st);

/* mds_quota_scope_format - "kind/name[/prefix]" into @buf (NUL-terminated). */
const char *mds_quota_scope_format(char buf[MDS_QUOTA_SCOPE_MAX + 1], const struct mds_quota_scope *sc);

/* mds_quota_state_name - "ok", "over_soft", "blocked_soft", "blocked_hard". */
const char *mds_quota_state_name(enum mds_quota_state s);

/*
 * mds_quota_token_new - a fresh reservation token: MDS_RESERVATION_TOKEN_LEN
 * lower-case hex characters of OpenSSL RAND_bytes, NUL-terminated in @buf.
 * Returns 0 or MDS_EINTERNAL if the random generator fails.
 */
int mds_quota_token_new(char buf[MDS_RESERVATION_TOKEN_LEN + 1]);

/*
 * mds_quota_usage - usage, reservations, limits and state of @scope, in
 * the reader's snapshot, at the reader's clock. Team and bucket scopes
 * always have counters; a prefix scope has them only while a quota is set
 * on it (MDS_ENOTFOUND otherwise). Errors: MDS_EINVAL (scope), MDS_ENOTFOUND
 * (team, bucket or prefix counters), MDS_ECORRUPT.
 */
int mds_quota_usage(struct mds_reader *r, struct mds_str scope, struct mds_quota_info *out,
		    struct mds_status *st);

/* mds_quota_get - like mds_quota_usage, but MDS_ENOTFOUND unless limits are set. */
int mds_quota_get(struct mds_reader *r, struct mds_str scope, struct mds_quota_info *out,
		  struct mds_status *st);

/*
 * mds_quota_list - every scope with limits, in key order (teams, then
 * buckets, then prefixes), strictly after scope @start_after (empty = from
 * the start), at most @limit (0 = all). @emit's non-zero return stops the
 * walk and is returned.
 */
typedef int (*mds_quota_emit_fn)(void *arg, const struct mds_quota_info *q);
int mds_quota_list(struct mds_reader *r, struct mds_str start_after, size_t limit,
		   mds_quota_emit_fn emit, void *arg, struct mds_status *st);

/* mds_quota_audit_list - audit records with seq > @after_seq, oldest first. */
typedef int (*mds_quota_audit_emit_fn)(void *arg, const struct mds_quota_audit *a);
int mds_quota_audit_list(struct mds_reader *r, uint64_t after_seq, size_t limit,
			 mds_quota_audit_emit_fn emit, void *arg, struct mds_status *st);

/*
 * mds_quota_sweep_due - 1 if a reservation has expired at the reader's
 * clock (submit MDS_OP_RESERVE_SWEEP), 0 if not, or a negative code.
 * @next_ns (may be NULL) receives the earliest expiry, or 0 if none.
 */
int mds_quota_sweep_due(struct mds_reader *r, uint64_t *next_ns);

/*
 * A background thread that submits MDS_OP_RESERVE_SWEEP whenever
 * mds_quota_sweep_due() says so, checking every @interval_ms (0 = 1000).
 * For servers; tests can submit sweeps themselves.
 * mds_quota_sweeper_start: 0, MDS_ENOMEM, MDS_EBUSY (no reader slot) or
 *   -errno; @out is owned by the caller.
 * mds_quota_sweeper_stop: stop and join the thread, free it (NULL is a
 *   no-op). Call before mds_store_close().
 */
struct mds_quota_sweeper;
int mds_quota_sweeper_start(struct mds_store *s, unsigned interval_ms,
			    struct mds_quota_sweeper **out);
void mds_quota_sweeper_stop(struct mds_quota_sweeper *sw);

/*
 * mds_quota_check - verify the quota state in one snapshot: every prefix
 * scope's counters equal a recount of its objects, every scope's reserved
 * amounts equal the sum of the live reservations that list it, the expiry
 * index matches the reservations, every bucket's count of prefix scopes is
 * right. @report is called once per problem. Returns the number of problems
 * or a negative code. mds_check() runs it, so `mds check` covers quotas.
 */
long mds_quota_check(struct mds_reader *r, mds_check_report_fn report, void *arg,
		     struct mds_status *st);

#ifdef __cplusplus
}
#endif

#endif /* MDS_QUOTA_H */
