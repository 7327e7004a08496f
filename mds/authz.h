/*
 * authz.h - authorization decisions: role bindings on scopes, with
 * attribute conditions in the spirit of Azure ABAC. Default deny; an
 * explicit deny wins over any allow.
 *
 * This is the pure decision engine: it owns no storage. A policy is a set
 * of bindings the caller loads (from the policy database, later) into a
 * struct mds_authz; decisions read it, so a policy change is a new
 * struct mds_authz (or mds_authz_add/remove, which bump the epoch that the
 * decision cache checks).
 *
 * Scopes nest: island ⊃ team ⊃ bucket ⊃ prefix. A binding on a scope
 * covers every resource below it. Listing is authorized on the prefix asked
 * for: a grant on prefix "logs/" covers a listing of "logs/2026/" but not of
 * "" (the whole bucket).
 *
 * Thread-safety: decisions on one struct mds_authz from many threads are
 * safe as long as nobody adds or removes bindings at the same time.
 */
#ifndef MDS_AUTHZ_H
#define MDS_AUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"
#include "mds/namespace.h"

/* Actions, as bits so that roles are sets of them. */
enum mds_action {
	MDS_ACT_READ = 1u << 0,            /* head/resolve an object */
	MDS_ACT_LIST = 1u << 1,            /* list objects under a prefix */
	MDS_ACT_PUT = 1u << 2,
	MDS_ACT_DELETE = 1u << 3,
	MDS_ACT_APPEND = 1u << 4,
	MDS_ACT_SET_TAGS = 1u << 5,
	MDS_ACT_SET_RETENTION = 1u << 6,
	MDS_ACT_BYPASS_GOVERNANCE = 1u << 7,
	MDS_ACT_MANAGE_BINDINGS = 1u << 8,
	MDS_ACT_CREATE_BUCKET = 1u << 9,
	MDS_ACT_DELETE_BUCKET = 1u << 10,
	MDS_ACT_SET_QUOTA = 1u << 11,
	MDS_ACT_MANAGE_TEAMS = 1u << 12,
	MDS_ACT_ALL = (1u << 13) - 1,
};

/* Built-in roles (modelled on Azure Storage's blob data roles). */
#define MDS_ROLE_READER (MDS_ACT_READ | MDS_ACT_LIST)
#define MDS_ROLE_WRITER (MDS_ROLE_READER | MDS_ACT_PUT | MDS_ACT_DELETE | MDS_ACT_APPEND)
#define MDS_ROLE_OWNER (MDS_ROLE_WRITER | MDS_ACT_SET_TAGS | MDS_ACT_SET_RETENTION | \
			MDS_ACT_MANAGE_BINDINGS)
#define MDS_ROLE_ADMIN MDS_ACT_ALL

/*
 * mds_authz_role_parse - "reader", "writer", "owner", "admin", or a custom
 * role as a comma-separated action list ("read,list,put"). Returns the
 * action mask (> 0) or MDS_EINVAL with @st naming the bad word.
 */
int64_t mds_authz_role_parse(const char *role, struct mds_status *st);

/* Lower-case name of a single action bit ("read"), or NULL. */
const char *mds_authz_action_name(uint32_t action);

enum mds_scope_kind {
	MDS_SCOPE_ISLAND = 0,
	MDS_SCOPE_TEAM = 1,
	MDS_SCOPE_BUCKET = 2,
	MDS_SCOPE_PREFIX = 3,
};

/*
 * mds_authz_scope - parsed scope: "island", "team/T", "bucket/B",
 * "prefix/B/P..." (P may contain '/'). Strings point into the parsed text.
 */
struct mds_authz_scope {
	enum mds_scope_kind kind;
	struct mds_str team;
	struct mds_str bucket;
	struct mds_str prefix;
};

/* What a request touches. Strings borrowed for the call. */
struct mds_authz_resource {
	struct mds_str team;       /* owner team of the bucket (empty for island-level) */
	struct mds_str bucket;     /* empty for team- or island-level actions */
	struct mds_str name;       /* object name, or the listing prefix for MDS_ACT_LIST */
	const struct mds_pair *object_tags;
	size_t n_object_tags;
	const struct mds_pair *request_tags;
	size_t n_request_tags;
};

struct mds_authz_subject {
	struct mds_str principal;
	const struct mds_str *groups;
	size_t n_groups;
};

enum mds_authz_effect {
	MDS_AUTHZ_DEFAULT_DENY = 0,  /* no binding matched */
	MDS_AUTHZ_ALLOW = 1,
	MDS_AUTHZ_DENY = 2,          /* an explicit deny binding matched */
};

struct mds_authz;

/* A decision and the binding that made it (0 for default deny). */
struct mds_authz_decision {
	enum mds_authz_effect effect;
	uint64_t binding_id;
};

/*
 * mds_authz_new / mds_authz_free - an empty policy (everything denied).
 */
int mds_authz_new(struct mds_authz **out);
void mds_authz_free(struct mds_authz *a);

/*
 * mds_authz_add - add a binding. All text is copied.
 * @id: caller-chosen unique id (> 0), reported by decisions and explain
 * @subject: a principal, or "group:NAME" for a group claim
 * @role: as mds_authz_role_parse
 * @scope: as described at struct mds_authz_scope
 * @deny: 1 for an explicit deny binding
 * @condition: "" or an expression (see docs/security.md), e.g.
 *   name startswith 'logs/' and (tag:project == 'x' or not reqtag:env == 'prod')
 *   Terms: name startswith 'V' | bucket == 'V' | tag:KEY == 'V' |
 *   reqtag:KEY == 'V'; operators not, and, or (that precedence) and
 *   parentheses; strings in single quotes with \' and \\ escapes.
 * Returns 0, MDS_EEXIST (id taken), MDS_EINVAL (a part does not parse; @st
 * names it and the position), MDS_ENOMEM. Bumps the policy epoch.
 */
int mds_authz_add(struct mds_authz *a, uint64_t id, const char *subject, const char *role,
		  const char *scope, int deny, const char *condition, struct mds_status *st);

/* mds_authz_remove - drop binding @id; MDS_ENOTFOUND if absent. Bumps the epoch. */
int mds_authz_remove(struct mds_authz *a, uint64_t id);

/* The policy epoch: changes whenever a binding is added or removed. */
uint64_t mds_authz_epoch(const struct mds_authz *a);

/*
 * mds_authz_uses_object_tags - 1 when some binding's condition reads an
 * object tag (tag:KEY == 'V'), else 0. The request path loads an object's
 * tags only then, so a policy without such conditions costs no lookup.
 */
int mds_authz_uses_object_tags(const struct mds_authz *a);

/*
 * mds_authz_decide - may @subj do @action (one MDS_ACT_* bit) on @res?
 * Deny bindings that match win over allows; with no match, default deny.
 */
struct mds_authz_decision mds_authz_decide(const struct mds_authz *a,
					   const struct mds_authz_subject *subj, uint32_t action,
					   const struct mds_authz_resource *res);

/*
 * mds_authz_explain - like decide, and writes into @buf (NUL-terminated) one
 * line per binding considered: whether its subject, scope, action and
 * condition matched, and the verdict. For `mdsctl policy explain`.
 */
struct mds_authz_decision mds_authz_explain(const struct mds_authz *a,
					    const struct mds_authz_subject *subj, uint32_t action,
					    const struct mds_authz_resource *res, char *buf,
					    size_t cap);

/*
 * A decision cache for the request path: remembers decisions for requests
 * without tag attributes, keyed by subject, action and resource, and drops
 * everything when the policy epoch changes. Thread-safe.
 */
struct mds_authz_cache;
int mds_authz_cache_new(struct mds_authz_cache **out, size_t slots);
void mds_authz_cache_free(struct mds_authz_cache *c);
struct mds_authz_decision mds_authz_cache_decide(struct mds_authz_cache *c,
						 const struct mds_authz *a,
						 const struct mds_authz_subject *subj,
						 uint32_t action,
						 const struct mds_authz_resource *res);
/* Hits and misses so far. */
void mds_authz_cache_stats(struct mds_authz_cache *c, uint64_t *hits, uint64_t *misses);

#endif /* MDS_AUTHZ_H */
