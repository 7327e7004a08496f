/*
 * rpc_gate.h - governance in the request path: who is calling (identity),
 * may they (authorization), and is their team within its request rate
 * (rate limits). The server runs mds_gate_check() on every call after the
 * request is decoded and before any read or mutation; a refused call
 * changes nothing.
 *
 * Modes
 *   dev  every caller is the principal "dev" with every right (the
 *        embedded default; loopback only, a warning is logged at start).
 *   jwt  a caller is who its `authorization: Bearer <JWT>` says (validated
 *        by mds/auth), or its mTLS identity as "mtls:<identity>"; an mTLS
 *        identity listed as a gateway may name an end-user principal in
 *        `x-mds-on-behalf-of` (groups in `x-mds-on-behalf-of-groups`,
 *        comma-separated) and is then judged as that principal. Nobody
 *        else may use those headers.
 * Rate limits apply in both modes, per team of the resource.
 *
 * The gate owns the in-memory policy (struct mds_authz) and its decision
 * cache; policy changes committed by the writer are applied to it with
 * mds_gate_policy_added / _removed (the epoch bump drops the cache).
 * Thread-safe: checks take a read lock on the policy, changes a write lock.
 */
#ifndef MDS_RPC_GATE_H
#define MDS_RPC_GATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "mds/namespace.h"
#include "mds/store.h"

/* Only declared: authz.h's scope names clash with mds/quota.h's. */
struct mds_pair;
struct mds_auth;
struct mds_authz_subject;
struct mds_authz_resource;
struct mds_policy_binding;

enum mds_gate_mode {
	MDS_GATE_DEV = 0,
	MDS_GATE_JWT = 1,
};

struct mds_gate_opts {
	enum mds_gate_mode mode;
	struct mds_auth *auth;           /* jwt mode: borrowed, outlives the gate */
	const char *gateways;            /* comma-separated mTLS identities with the
					  * gateway role (borrowed, copied); may be NULL */
	const char *rate_limits;         /* "TEAM:read=R/B,write=R/B,list=R/B;..."; TEAM "*"
					  * = every team without its own; NULL = none */
	const char *admins;              /* comma-separated subjects (principal or
					  * group:NAME) bound to admin on the island
					  * by configuration: binding ids from
					  * MDS_GATE_CONFIG_ID_BASE up, never stored */
};

#define MDS_GATE_CONFIG_ID_BASE (UINT64_C(1) << 62)

struct mds_gate;

/*
 * mds_gate_new - a gate from @o (borrowed). Returns 0 or MDS_EINVAL (a
 * rate-limit spec that does not parse; @st names it), MDS_ENOMEM.
 */
int mds_gate_new(struct mds_gate **out, const struct mds_gate_opts *o, struct mds_status *st);
void mds_gate_free(struct mds_gate *g);

/* mds_gate_load - load the stored bindings (@r begun, borrowed). */
int mds_gate_load(struct mds_gate *g, struct mds_reader *r, struct mds_status *st);

/* A committed Bind / Unbind, applied to the in-memory policy. */
int mds_gate_policy_added(struct mds_gate *g, const struct mds_policy_binding *b,
			  struct mds_status *st);
int mds_gate_policy_removed(struct mds_gate *g, uint64_t id);

/* What the server knows about a call (all borrowed for the call). */
struct mds_gate_request {
	const char *method;              /* "HeadObject" (the metrics name) */
	const ProtobufCMessage *req;     /* decoded request */
	const char *authorization;       /* metadata value or NULL */
	const char *on_behalf_of;        /* x-mds-on-behalf-of or NULL */
	const char *on_behalf_groups;    /* x-mds-on-behalf-of-groups or NULL */
	const char *const *peer;         /* mTLS identities (SANs, CN) */
	size_t n_peer;
};

/*
 * mds_gate_check - identity, authorization and rate limit for one call.
 * @r: a reader of this thread, not begun (the gate begins and ends it to
 * find a bucket's team); may be NULL in dev mode without rate limits.
 * Returns GRPC_STATUS_OK, or UNAUTHENTICATED, PERMISSION_DENIED (the
 * message names the action and resource, never the policy),
 * RESOURCE_EXHAUSTED (*retry_after_ms set), INVALID_ARGUMENT, INTERNAL;
 * @msg (caller's, @msgsz bytes) says why. @principal (caller's, may be
 * NULL) receives who was judged, for audit fields.
 */
grpc_status_code mds_gate_check(struct mds_gate *g, const struct mds_gate_request *rq,
				struct mds_reader *r, uint32_t *retry_after_ms,
				char *principal, size_t principal_sz, char *msg, size_t msgsz);

/*
 * mds_gate_explain - the decision (an enum mds_authz_effect) and its trace
 * (see mds_authz_explain) for @subj, @action on @res against the gate's
 * current policy; *@binding_id receives the deciding binding (0: none).
 */
int mds_gate_explain(struct mds_gate *g, const struct mds_authz_subject *subj,
		     uint32_t action, const struct mds_authz_resource *res,
		     char *buf, size_t cap, uint64_t *binding_id);

/*
 * mds_gate_object_tags - the tags stored on the object @res names (bucket
 * and name), as the gate sees them for "tag:KEY == 'V'" conditions, so
 * that Explain judges what the real decision judges. Only for an @action
 * that acts on an existing object (read, put, append, delete, set-tags,
 * set-retention) and only while some binding reads object tags; otherwise,
 * or when the object does not exist, sets nothing and returns 0.
 * @r: begun, borrowed. On a return > 0, @res->object_tags points into
 * @pairs (caller's, MDS_TAGS_MAX) and @buf (caller's, MDS_GATE_TAG_BUF
 * bytes), valid as long as those are; returns the number of tags, or -1
 * when the object does not exist.
 */
#define MDS_GATE_TAG_BUF (MDS_TAGS_MAX * (MDS_TAG_KEY_MAX + MDS_TAG_VALUE_MAX))
int mds_gate_object_tags(struct mds_gate *g, struct mds_reader *r, uint32_t action,
			 struct mds_authz_resource *res, struct mds_pair *pairs, char *buf);

/*
 * mds_gate_stamp_principal - in jwt mode, for the methods whose request's
 * `principal` is an audit field (SetQuota, DeleteQuota; @method is the
 * metrics name), replace it with @principal, the identity the
 * gate judged, so audit records name the authenticated caller rather than
 * what the client claimed. @m was unpacked with the default allocator.
 * Returns 0 or MDS_ENOMEM. No-op in dev mode or without such a field.
 */
int mds_gate_stamp_principal(const struct mds_gate *g, const char *method,
			     ProtobufCMessage *m, const char *principal);

/* 1 when @method (metrics name) has an authorization rule (for tests:
 * every registered method must have one, or jwt mode refuses it). */
int mds_gate_has_route(const char *method);

/* 1 when every call passes unchecked (dev mode without rate limits). */
int mds_gate_is_open(const struct mds_gate *g);

/* 1 when a check needs a reader (jwt mode or rate limits configured). */
int mds_gate_needs_reader(const struct mds_gate *g);

/* mds_gate_metrics - append the gate's Prometheus counters to @f. */
void mds_gate_metrics(struct mds_gate *g, FILE *f);

#endif /* MDS_RPC_GATE_H */
