/*
 * rpc_gate.c - identity, authorization and rate limits for every call
 * (see rpc_gate.h).
 *
 * Every registered method has a row in `routes`: its action, its rate
 * class, and which request fields name the resource. A method without a
 * row is refused in jwt mode (fail closed) — adding a method means adding
 * its row. Fields are read generically through the protobuf-c descriptor,
 * so the table is all there is to keep in step with the .proto files.
 *
 * What must stay true: nothing reads or writes the store for a caller the
 * gate has not let through; a denial names the action and the resource,
 * never which binding decided (that is `mdsctl policy explain`, itself an
 * authorized call).
 */
#include "rpc_gate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "authz.h"
#include "policy.h"
#include "log.h"
#include "ratelimit.h"
#include "mds/namespace.h"

#define GATE_GROUPS_MAX 64
#define ACT_AUTHENTICATED 0u   /* any authenticated caller (capability tokens) */

enum res_from {
	RES_ISLAND = 0,    /* island-level: no team, no bucket */
	RES_TEAM,          /* field "team" */
	RES_TEAM_OR_ISLAND,/* field "team", island when empty */
	RES_BUCKET,        /* field "bucket" (+ "name" as the object) */
	RES_BUCKET_PREFIX, /* field "bucket", "prefix" as the name */
	RES_NEW_BUCKET,    /* CreateBucket: the owning team from "team" */
	RES_SCOPE,         /* field "scope": team/T, bucket/B, prefix/B/P, island */
	RES_PUT_FIELD,     /* Commit: fields of the nested "put" message */
	RES_BINDING,       /* Unbind: the stored binding's scope */
};

struct route {
	const char *method;
	uint32_t action;
	enum mds_rate_class cls;
	enum res_from from;
	int stamp;         /* the request's `principal` is the audit's "who" */
	int copy_src;      /* also needs read on source_bucket/source_name */
};

static const struct route routes[] = {
	/* Namespace */
	{ "CreateBucket", MDS_ACT_CREATE_BUCKET, MDS_RATE_WRITE, RES_NEW_BUCKET, 0, 0 },
	{ "GetBucket", MDS_ACT_READ, MDS_RATE_READ, RES_BUCKET, 0, 0 },
	{ "ListBuckets", MDS_ACT_LIST, MDS_RATE_LIST, RES_TEAM_OR_ISLAND, 0, 0 },
	{ "DeleteBucket", MDS_ACT_DELETE_BUCKET, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "PutObject", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "HeadObject", MDS_ACT_READ, MDS_RATE_READ, RES_BUCKET, 0, 0 },
	{ "DeleteObject", MDS_ACT_DELETE, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "ListObjects", MDS_ACT_LIST, MDS_RATE_LIST, RES_BUCKET_PREFIX, 0, 0 },
	{ "ListObjectsStream", MDS_ACT_LIST, MDS_RATE_LIST, RES_BUCKET_PREFIX, 0, 0 },
	/* Retention and legal hold (WORM) */
	{ "PutObjectRetention", MDS_ACT_SET_RETENTION, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "GetObjectRetention", MDS_ACT_READ, MDS_RATE_READ, RES_BUCKET, 0, 0 },
	{ "PutObjectLegalHold", MDS_ACT_SET_RETENTION, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "GetObjectLegalHold", MDS_ACT_READ, MDS_RATE_READ, RES_BUCKET, 0, 0 },
	{ "GetRetentionClock", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "ConfirmRetentionClock", MDS_ACT_SET_RETENTION, MDS_RATE_WRITE, RES_ISLAND, 0, 0 },
	/* Admin */
	{ "CreateTeam", MDS_ACT_MANAGE_TEAMS, MDS_RATE_WRITE, RES_TEAM, 0, 0 },
	{ "GetTeam", MDS_ACT_READ, MDS_RATE_READ, RES_TEAM, 0, 0 },
	{ "ListTeams", MDS_ACT_LIST, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
	{ "DeleteTeam", MDS_ACT_MANAGE_TEAMS, MDS_RATE_WRITE, RES_TEAM, 0, 0 },
	{ "GetStatus", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	/* Quota */
	{ "SetQuota", MDS_ACT_SET_QUOTA, MDS_RATE_WRITE, RES_SCOPE, 1, 0 },
	{ "DeleteQuota", MDS_ACT_SET_QUOTA, MDS_RATE_WRITE, RES_SCOPE, 1, 0 },
	{ "GetQuota", MDS_ACT_READ, MDS_RATE_READ, RES_SCOPE, 0, 0 },
	{ "GetUsage", MDS_ACT_READ, MDS_RATE_READ, RES_SCOPE, 0, 0 },
	{ "ListQuotas", MDS_ACT_LIST, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
	{ "ListQuotaAudit", MDS_ACT_LIST, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
	{ "Reserve", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "Commit", MDS_ACT_PUT, MDS_RATE_WRITE, RES_PUT_FIELD, 0, 0 },
	{ "Release", ACT_AUTHENTICATED, MDS_RATE_WRITE, RES_ISLAND, 0, 0 },
	/* Blob (append blobs, copies, multipart, block lists). Calls that name
	 * only a copy id carry an unguessable capability, like Release. */
	{ "CreateAppendBlob", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "AppendBlock", MDS_ACT_APPEND, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "SealBlob", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "CopyObject", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 1 },
	{ "PutBlobFromUrl", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "ReportCopyProgress", ACT_AUTHENTICATED, MDS_RATE_WRITE, RES_ISLAND, 0, 0 },
	{ "CompleteCopy", ACT_AUTHENTICATED, MDS_RATE_WRITE, RES_ISLAND, 0, 0 },
	{ "FailCopy", ACT_AUTHENTICATED, MDS_RATE_WRITE, RES_ISLAND, 0, 0 },
	{ "AbortCopy", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "GetCopyStatus", ACT_AUTHENTICATED, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "CreateMultipartUpload", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "UploadPart", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "ListParts", MDS_ACT_READ, MDS_RATE_READ, RES_BUCKET, 0, 0 },
	{ "ListMultipartUploads", MDS_ACT_LIST, MDS_RATE_LIST, RES_BUCKET_PREFIX, 0, 0 },
	{ "CompleteMultipartUpload", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "AbortMultipartUpload", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "PutBlock", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "PutBlockList", MDS_ACT_PUT, MDS_RATE_WRITE, RES_BUCKET, 0, 0 },
	{ "GetBlockList", MDS_ACT_READ, MDS_RATE_READ, RES_BUCKET, 0, 0 },
	{ "GetBlobBlocks", MDS_ACT_READ, MDS_RATE_READ, RES_BUCKET, 0, 0 },
	/* Policy */
	{ "Bind", MDS_ACT_MANAGE_BINDINGS, MDS_RATE_WRITE, RES_SCOPE, 0, 0 },
	{ "Unbind", MDS_ACT_MANAGE_BINDINGS, MDS_RATE_WRITE, RES_BINDING, 0, 0 },
	{ "ListBindings", MDS_ACT_MANAGE_BINDINGS, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
	{ "Explain", MDS_ACT_MANAGE_BINDINGS, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	/* Feed: leaves carry every mutation of the island, so reading them needs
	 * list on the island (the role a federation peer is given); checkpoints
	 * and consistency proofs carry only sizes and roots. */
	{ "GetCheckpoint", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "GetConsistencyProof", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "GetEntries", MDS_ACT_LIST, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
	{ "GetInclusionProof", MDS_ACT_LIST, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "Subscribe", MDS_ACT_LIST, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
	/* Global view (rpc_global.c): other islands' namespaces, so reads on
	 * the island; resetting a forked peer's view is an admin's act. */
	{ "GlobalListObjects", MDS_ACT_LIST, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
	{ "GlobalGetObject", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "GlobalUsage", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "Peers", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "ResetPeer", MDS_ACT_MANAGE_TEAMS, MDS_RATE_WRITE, RES_ISLAND, 0, 0 },
	{ "PeerEvidence", MDS_ACT_READ, MDS_RATE_READ, RES_ISLAND, 0, 0 },
	{ "GetSnapshot", MDS_ACT_LIST, MDS_RATE_LIST, RES_ISLAND, 0, 0 },
};

static const struct route *find_route(const char *method)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(routes[i].method, method))
			return &routes[i];
	return NULL;
}

struct mds_gate {
	enum mds_gate_mode mode;
	struct mds_auth *auth;
	char **gateways;
	size_t n_gateways;
	struct mds_ratelimit *rl;       /* NULL: no limits configured */
	pthread_rwlock_t lock;          /* over authz */
	struct mds_authz *authz;
	struct mds_authz_cache *cache;
	atomic_uint_fast64_t n_unauthenticated, n_denied, n_rate_limited, n_allowed;
	atomic_uint_fast64_t n_on_behalf;
};

/* ---- options ------------------------------------------------------------ */

static int split_list(const char *s, char ***out, size_t *n)
{
	char *copy, *tok, *save = NULL;
	char **v = NULL;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!s || !*s)
		return 0;
	copy = strdup(s);
	if (!copy)
		return MDS_ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **nv;

		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		nv = realloc(v, (k + 1) * sizeof(*v));
		if (!nv || !(nv[k] = strdup(tok))) {
			v = nv ? nv : v;
			for (size_t i = 0; i < k; i++)
				free(v[i]);
			free(v);
			free(copy);
			return MDS_ENOMEM;
		}
		v = nv;
		k++;
	}
	free(copy);
	*out = v;
	*n = k;
	return 0;
}

/* "read=100/200,write=10/20" into @lim (classes not named: unlimited). */
static int parse_limits(char *spec, struct mds_rate_limit lim[MDS_RATE__COUNT])
{
	char *tok;

	memset(lim, 0, sizeof(struct mds_rate_limit) * MDS_RATE__COUNT);
	/* strsep, not strtok: an empty entry ("read=1,") is an error */
	while ((tok = strsep(&spec, ",")) != NULL) {
		char *eq = strchr(tok, '='), *slash, *end;
		int cls;

		if (!eq)
			return MDS_EINVAL;
		*eq = 0;
		if (!strcmp(tok, "read"))
			cls = MDS_RATE_READ;
		else if (!strcmp(tok, "write"))
			cls = MDS_RATE_WRITE;
		else if (!strcmp(tok, "list"))
			cls = MDS_RATE_LIST;
		else
			return MDS_EINVAL;
		lim[cls].rate = strtod(eq + 1, &end);
		slash = end;
		if (slash == eq + 1 || lim[cls].rate < 0)
			return MDS_EINVAL;
		if (*slash == '/') {
			lim[cls].burst = strtod(slash + 1, &end);
			if (end == slash + 1 || *end || lim[cls].burst < 1)
				return MDS_EINVAL;
		} else if (*slash == 0) {
			lim[cls].burst = lim[cls].rate < 1 ? 1 : lim[cls].rate;
		} else {
			return MDS_EINVAL;
		}
	}
	return 0;
}

static int parse_rate_limits(struct mds_gate *g, const char *spec, struct mds_status *st)
{
	struct mds_rate_limit defaults[MDS_RATE__COUNT];
	char *copy = NULL, *save = NULL;
	int have_defaults = 0, rc = 0;

	if (!spec || !*spec)
		return 0;
	copy = strdup(spec);
	if (!copy)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	/* First pass: the "*" defaults, which the limiter takes at creation. */
	for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		while (*t == ' ')
			t++;
		if (!strncmp(t, "*:", 2)) {
			char buf[512];

			snprintf(buf, sizeof(buf), "%s", t + 2);
			if (parse_limits(buf, defaults) != 0) {
				rc = mds_status_set(st, MDS_EINVAL,
						    "cannot parse rate limits '%s': want "
						    "TEAM:read=RATE/BURST,write=...,list=...", t);
				goto out;
			}
			have_defaults = 1;
		}
	}
	rc = mds_ratelimit_new(&g->rl, have_defaults ? defaults : NULL);
	if (rc) {
		mds_status_set(st, rc, "cannot create the rate limiter");
		goto out;
	}
	strcpy(copy, spec);
	save = NULL;
	for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		struct mds_rate_limit lim[MDS_RATE__COUNT];
		char *colon;

		while (*t == ' ')
			t++;
		if (!*t || !strncmp(t, "*:", 2))
			continue;
		colon = strchr(t, ':');
		if (!colon) {
			rc = mds_status_set(st, MDS_EINVAL, "cannot parse rate limits '%s': "
					    "want TEAM:read=RATE/BURST,...", t);
			goto out;
		}
		*colon = 0;
		if (parse_limits(colon + 1, lim) != 0) {
			rc = mds_status_set(st, MDS_EINVAL, "cannot parse rate limits of team '%s'",
					    t);
			goto out;
		}
		rc = mds_ratelimit_set(g->rl, (struct mds_str){ t, strlen(t) }, lim, st);
		if (rc)
			goto out;
	}
out:
	free(copy);
	return rc;
}

int mds_gate_new(struct mds_gate **out, const struct mds_gate_opts *o, struct mds_status *st)
{
	struct mds_gate *g = calloc(1, sizeof(*g));
	char **admins = NULL;
	size_t n_admins = 0;
	int rc;

	*out = NULL;
	if (!g)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	g->mode = o->mode;
	g->auth = o->auth;
	pthread_rwlock_init(&g->lock, NULL);
	if (g->mode == MDS_GATE_JWT && !g->auth) {
		rc = mds_status_set(st, MDS_EINVAL, "auth mode jwt needs a token authority");
		goto out_free;
	}
	rc = split_list(o->gateways, &g->gateways, &g->n_gateways);
	if (rc) {
		mds_status_set(st, rc, "out of memory");
		goto out_free;
	}
	rc = parse_rate_limits(g, o->rate_limits, st);
	if (rc)
		goto out_free;
	rc = mds_authz_new(&g->authz);
	if (rc == 0)
		rc = mds_authz_cache_new(&g->cache, 4096);
	if (rc) {
		mds_status_set(st, rc, "out of memory");
		goto out_free;
	}
	rc = split_list(o->admins, &admins, &n_admins);
	for (size_t i = 0; rc == 0 && i < n_admins; i++)
		rc = mds_authz_add(g->authz, MDS_GATE_CONFIG_ID_BASE + i, admins[i], "admin",
				   "island", 0, "", st);
	for (size_t i = 0; i < n_admins; i++)
		free(admins[i]);
	free(admins);
	if (rc)
		goto out_free;
	*out = g;
	return 0;
out_free:
	mds_gate_free(g);
	return rc;
}

void mds_gate_free(struct mds_gate *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_gateways; i++)
		free(g->gateways[i]);
	free(g->gateways);
	mds_ratelimit_free(g->rl);
	mds_authz_cache_free(g->cache);
	mds_authz_free(g->authz);
	pthread_rwlock_destroy(&g->lock);
	free(g);
}

int mds_gate_has_route(const char *method)
{
	return find_route(method) != NULL;
}

int mds_gate_is_open(const struct mds_gate *g)
{
	return g->mode == MDS_GATE_DEV && g->rl == NULL;
}

int mds_gate_needs_reader(const struct mds_gate *g)
{
	return g->mode == MDS_GATE_JWT || g->rl != NULL;
}

/* ---- policy ------------------------------------------------------------- */

int mds_gate_load(struct mds_gate *g, struct mds_reader *r, struct mds_status *st)
{
	int rc;

	pthread_rwlock_wrlock(&g->lock);
	rc = mds_policy_load(r, g->authz, st);
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

int mds_gate_policy_added(struct mds_gate *g, const struct mds_policy_binding *b,
			  struct mds_status *st)
{
	int rc;

	pthread_rwlock_wrlock(&g->lock);
	rc = mds_policy_add_to(g->authz, b, st);
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

int mds_gate_policy_removed(struct mds_gate *g, uint64_t id)
{
	int rc;

	pthread_rwlock_wrlock(&g->lock);
	rc = mds_authz_remove(g->authz, id);
	pthread_rwlock_unlock(&g->lock);
	return rc;
}

int mds_gate_explain(struct mds_gate *g, const struct mds_authz_subject *subj,
		     uint32_t action, const struct mds_authz_resource *res,
		     char *buf, size_t cap, uint64_t *binding_id)
{
	struct mds_authz_decision d;

	pthread_rwlock_rdlock(&g->lock);
	d = mds_authz_explain(g->authz, subj, action, res, buf, cap);
	pthread_rwlock_unlock(&g->lock);
	*binding_id = d.binding_id;
	return (int)d.effect;
}

/* ---- request fields ------------------------------------------------------ */

static const ProtobufCFieldDescriptor *field(const ProtobufCMessage *m, const char *name)
{
	return m ? protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name) : NULL;
}

static struct mds_str field_str(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = field(m, name);
	const char *s;

	if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return (struct mds_str){ "", 0 };
	s = *(const char *const *)((const char *)m + f->offset);
	return (struct mds_str){ s ? s : "", s ? strlen(s) : 0 };
}

static const ProtobufCMessage *field_msg(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = field(m, name);

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const ProtobufCMessage *const *)((const char *)m + f->offset);
}

static int field_bool(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f = field(m, name);

	if (!f || f->type != PROTOBUF_C_TYPE_BOOL || f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	return *(const protobuf_c_boolean *)((const char *)m + f->offset) != 0;
}

/* Request tags (PutObject "tags": repeated KeyValue{key, value}). */
static size_t request_tags(const ProtobufCMessage *m, struct mds_pair *out, size_t cap)
{
	const ProtobufCFieldDescriptor *f = field(m, "tags");
	const ProtobufCMessage *const *v;
	size_t n;

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
		return 0;
	n = *(const size_t *)((const char *)m + f->quantifier_offset);
	v = *(const ProtobufCMessage *const *const *)((const char *)m + f->offset);
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++) {
		out[i].key = field_str(v[i], "key");
		out[i].value = field_str(v[i], "value");
	}
	return n;
}

/*
 * Object tags for conditions (tag:KEY == 'V'). Loaded only for a route that
 * acts on one existing object, and only while some binding reads object
 * tags (mds_authz_uses_object_tags), so the common path costs nothing: the
 * price is one mds_object_head() in the snapshot the gate already holds.
 */
#define OBJECT_ACTIONS (MDS_ACT_READ | MDS_ACT_DELETE | MDS_ACT_PUT | MDS_ACT_APPEND | \
			MDS_ACT_SET_TAGS | MDS_ACT_SET_RETENTION)
#define OBJECT_TAG_BUF MDS_GATE_TAG_BUF

static int wants_object_tags(struct mds_gate *g, const struct route *rt)
{
	int uses;

	if (g->mode != MDS_GATE_JWT || (rt->action & OBJECT_ACTIONS) == 0 ||
	    (rt->from != RES_BUCKET && rt->from != RES_PUT_FIELD))
		return 0;
	pthread_rwlock_rdlock(&g->lock);
	uses = mds_authz_uses_object_tags(g->authz);
	pthread_rwlock_unlock(&g->lock);
	return uses;
}

/*
 * Copy the tags of @raw (LMDB memory, valid only in the snapshot) into
 * @buf (caller's, OBJECT_TAG_BUF bytes) and @out (MDS_TAGS_MAX pairs
 * pointing into @buf). Returns the number copied; a corrupt list stops
 * the copy (what was read so far is kept; the head path reports it).
 */
static size_t copy_object_tags(struct mds_str raw, struct mds_pair *out, char *buf)
{
	struct mds_str cur = raw;
	struct mds_pair p;
	size_t n = 0, used = 0;

	while (n < MDS_TAGS_MAX && mds_pairs_next(&cur, &p) == 1) {
		if (p.key.len + p.value.len > OBJECT_TAG_BUF - used)
			break;
		memcpy(buf + used, p.key.p, p.key.len);
		out[n].key = (struct mds_str){ buf + used, p.key.len };
		used += p.key.len;
		memcpy(buf + used, p.value.p, p.value.len);
		out[n].value = (struct mds_str){ buf + used, p.value.len };
		used += p.value.len;
		n++;
	}
	return n;
}

int mds_gate_object_tags(struct mds_gate *g, struct mds_reader *r, uint32_t action,
			 struct mds_authz_resource *res, struct mds_pair *pairs, char *buf)
{
	struct mds_object obj;
	struct mds_status st;
	int uses;

	if ((action & OBJECT_ACTIONS) == 0 || !res->bucket.len || !res->name.len)
		return 0;
	pthread_rwlock_rdlock(&g->lock);
	uses = mds_authz_uses_object_tags(g->authz);
	pthread_rwlock_unlock(&g->lock);
	if (!uses)
		return 0;
	if (mds_object_head(r, res->bucket, res->name, &obj, &st) != 0)
		return -1;
	res->n_object_tags = copy_object_tags(obj.tags_raw, pairs, buf);
	res->object_tags = pairs;
	return (int)res->n_object_tags;
}

static int str_eq(struct mds_str a, const char *b)
{
	size_t n = strlen(b);

	return a.len == n && memcmp(a.p, b, n) == 0;
}

/* "team/T", "bucket/B", "prefix/B/P", "island" into @res. */
static int scope_resource(struct mds_str s, struct mds_authz_resource *res)
{
	const char *slash;

	if (str_eq(s, "island"))
		return 0;
	if (s.len > 5 && !memcmp(s.p, "team/", 5)) {
		res->team = (struct mds_str){ s.p + 5, s.len - 5 };
		return 0;
	}
	if (s.len > 7 && !memcmp(s.p, "bucket/", 7)) {
		res->bucket = (struct mds_str){ s.p + 7, s.len - 7 };
		return 0;
	}
	if (s.len > 7 && !memcmp(s.p, "prefix/", 7) &&
	    (slash = memchr(s.p + 7, '/', s.len - 7)) != NULL) {
		res->bucket = (struct mds_str){ s.p + 7, (size_t)(slash - (s.p + 7)) };
		res->name = (struct mds_str){ slash + 1, s.len - (size_t)(slash + 1 - s.p) };
		return 0;
	}
	return MDS_EINVAL;
}

/* ---- the check ---------------------------------------------------------- */

static int is_gateway(const struct mds_gate *g, const char *const *peer, size_t n_peer)
{
	for (size_t i = 0; i < n_peer; i++)
		for (size_t j = 0; j < g->n_gateways; j++)
			if (!strcmp(peer[i], g->gateways[j]))
				return 1;
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void describe(char *buf, size_t cap, const struct mds_authz_resource *res)
{
	if (res->bucket.len && res->name.len)
		snprintf(buf, cap, "bucket '%.*s' name '%.*s'", (int)res->bucket.len,
			 res->bucket.p, (int)(res->name.len > 200 ? 200 : res->name.len),
			 res->name.p);
	else if (res->bucket.len)
		snprintf(buf, cap, "bucket '%.*s'", (int)res->bucket.len, res->bucket.p);
	else if (res->team.len)
		snprintf(buf, cap, "team '%.*s'", (int)res->team.len, res->team.p);
	else
		snprintf(buf, cap, "the island");
}

/*
 * No escalation through Bind: an allow binding may only grant actions the
 * caller itself holds on the binding's scope (an owner of a bucket, who
 * may manage its bindings, cannot bind itself `admin` there to gain
 * set-quota or bypass-governance). Deny bindings only take rights away.
 */
static grpc_status_code check_grant(struct mds_gate *g, const struct mds_authz_subject *subj,
				    const ProtobufCMessage *m,
				    const struct mds_authz_resource *res, const char *who,
				    char *msg, size_t msgsz)
{
	const ProtobufCFieldDescriptor *f = field(m, "deny");
	struct mds_str role = field_str(m, "role");
	struct mds_status st;
	char rbuf[256];
	int64_t mask;

	if (f && *(const protobuf_c_boolean *)((const char *)m + f->offset))
		return GRPC_STATUS_OK;
	if (role.len >= sizeof(rbuf)) {
		snprintf(msg, msgsz, "field 'role' is too long");
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	memcpy(rbuf, role.p, role.len);
	rbuf[role.len] = 0;
	mds_status_clear(&st);
	mask = mds_authz_role_parse(rbuf, &st);
	if (mask < 0) {
		snprintf(msg, msgsz, "%s", st.msg);
		return GRPC_STATUS_INVALID_ARGUMENT;
	}
	for (uint32_t bit = 1; bit && bit <= (uint32_t)MDS_ACT_ALL; bit <<= 1) {
		struct mds_authz_decision d;

		if (!((uint64_t)mask & bit))
			continue;
		pthread_rwlock_rdlock(&g->lock);
		d = mds_authz_cache_decide(g->cache, g->authz, subj, bit, res);
		pthread_rwlock_unlock(&g->lock);
		if (d.effect != MDS_AUTHZ_ALLOW) {
			atomic_fetch_add(&g->n_denied, 1);
			snprintf(msg, msgsz, "'%s' may not grant %s: it does not hold it on that "
				 "scope", who, mds_authz_action_name(bit));
			return GRPC_STATUS_PERMISSION_DENIED;
		}
	}
	return GRPC_STATUS_OK;
}

grpc_status_code mds_gate_check(struct mds_gate *g, const struct mds_gate_request *rq,
				struct mds_reader *r, uint32_t *retry_after_ms,
				char *principal, size_t principal_sz, char *msg, size_t msgsz)
{
	const struct route *rt;
	struct mds_authz_resource res, src;
	struct mds_authz_subject subj;
	struct mds_jwt_identity id;
	struct mds_str groups[GATE_GROUPS_MAX];
	struct mds_pair tags[MDS_TAGS_MAX], otags[MDS_TAGS_MAX], stags[MDS_TAGS_MAX];
	char otag_buf[OBJECT_TAG_BUF], stag_buf[OBJECT_TAG_BUF];
	struct mds_status st;
	struct mds_bucket b;
	struct mds_object obj;
	char who[320], team_buf[MDS_TEAM_NAME_MAX + 1], gbuf[1024];
	char bind_scope[512], src_team[MDS_TEAM_NAME_MAX + 1];
	const ProtobufCMessage *m = rq->req;
	grpc_status_code code = GRPC_STATUS_OK;
	int have_id = 0, began = 0, want_tags = 0;

	memset(&res, 0, sizeof(res));
	memset(&src, 0, sizeof(src));
	memset(&subj, 0, sizeof(subj));
	memset(&id, 0, sizeof(id));
	mds_status_clear(&st);
	*retry_after_ms = 0;
	msg[0] = 0;
	if (principal && principal_sz)
		principal[0] = 0;

	if (mds_gate_is_open(g)) {
		atomic_fetch_add(&g->n_allowed, 1);
		if (principal && principal_sz)
			snprintf(principal, principal_sz, "dev");
		return GRPC_STATUS_OK;
	}
	rt = find_route(rq->method);

	/* 1. identity */
	if (g->mode == MDS_GATE_DEV) {
		snprintf(who, sizeof(who), "dev");
	} else if (rq->on_behalf_of) {
		if (!is_gateway(g, rq->peer, rq->n_peer)) {
			atomic_fetch_add(&g->n_denied, 1);
			snprintf(msg, msgsz, "only a gateway (an mTLS identity with the gateway "
				 "role) may act on behalf of another principal");
			return GRPC_STATUS_PERMISSION_DENIED;
		}
		if (!*rq->on_behalf_of || strlen(rq->on_behalf_of) >= sizeof(who)) {
			snprintf(msg, msgsz, "x-mds-on-behalf-of must name a principal");
			return GRPC_STATUS_INVALID_ARGUMENT;
		}
		snprintf(who, sizeof(who), "%s", rq->on_behalf_of);
		if (rq->on_behalf_groups) {
			char *save = NULL;

			snprintf(gbuf, sizeof(gbuf), "%s", rq->on_behalf_groups);
			for (char *t = strtok_r(gbuf, ",", &save);
			     t && subj.n_groups < GATE_GROUPS_MAX; t = strtok_r(NULL, ",", &save))
				groups[subj.n_groups++] = (struct mds_str){ t, strlen(t) };
			subj.groups = groups;
		}
		atomic_fetch_add(&g->n_on_behalf, 1);
	} else if (rq->authorization) {
		if (mds_auth_validate_bearer(g->auth, rq->authorization, &id, &st) != 0) {
			atomic_fetch_add(&g->n_unauthenticated, 1);
			snprintf(msg, msgsz, "invalid bearer token: %s", st.msg);
			return GRPC_STATUS_UNAUTHENTICATED;
		}
		have_id = 1;
		snprintf(who, sizeof(who), "%s", id.principal ? id.principal : "");
		for (size_t i = 0; i < id.n_groups && subj.n_groups < GATE_GROUPS_MAX; i++)
			groups[subj.n_groups++] = (struct mds_str){ id.groups[i],
								    strlen(id.groups[i]) };
		subj.groups = groups;
	} else if (rq->n_peer > 0) {
		snprintf(who, sizeof(who), "mtls:%s", rq->peer[0]);
	} else {
		atomic_fetch_add(&g->n_unauthenticated, 1);
		snprintf(msg, msgsz, "no credentials: send 'authorization: Bearer <token>' "
			 "or connect with a client certificate");
		return GRPC_STATUS_UNAUTHENTICATED;
	}
	subj.principal = (struct mds_str){ who, strlen(who) };
	if (principal && principal_sz)
		snprintf(principal, principal_sz, "%s", who);

	if (!rt) {
		if (g->mode == MDS_GATE_DEV)
			goto out;
		snprintf(msg, msgsz, "method '%s' has no authorization rule", rq->method);
		code = GRPC_STATUS_PERMISSION_DENIED;
		goto out;
	}
	/* 2. resource */
	switch (rt->from) {
	case RES_ISLAND:
		break;
	case RES_TEAM:
	case RES_TEAM_OR_ISLAND:
	case RES_NEW_BUCKET:
		res.team = field_str(m, "team");
		break;
	case RES_BUCKET:
		res.bucket = field_str(m, "bucket");
		res.name = field_str(m, "name");
		res.n_request_tags = request_tags(m, tags, MDS_TAGS_MAX);
		res.request_tags = tags;
		break;
	case RES_BUCKET_PREFIX:
		res.bucket = field_str(m, "bucket");
		res.name = field_str(m, "prefix");
		break;
	case RES_PUT_FIELD: {
		const ProtobufCMessage *put = field_msg(m, "put");

		res.bucket = field_str(put, "bucket");
		res.name = field_str(put, "name");
		res.n_request_tags = request_tags(put, tags, MDS_TAGS_MAX);
		res.request_tags = tags;
		break;
	}
	case RES_SCOPE:
		if (scope_resource(field_str(m, "scope"), &res) != 0) {
			snprintf(msg, msgsz, "cannot parse scope '%.200s'",
				 field_str(m, "scope").p);
			code = GRPC_STATUS_INVALID_ARGUMENT;
			goto out;
		}
		break;
	case RES_BINDING:
		break;
	}
	want_tags = res.bucket.len && res.name.len && wants_object_tags(g, rt);
	if (r && (rt->from == RES_BINDING || want_tags || (res.bucket.len && !res.team.len))) {
		if (mds_reader_begin(r) != 0) {
			snprintf(msg, msgsz, "cannot take a snapshot to authorize the call");
			code = GRPC_STATUS_RESOURCE_EXHAUSTED;
			goto out;
		}
		began = 1;
	}
	if (began && rt->from == RES_BINDING) {
		struct mds_policy_binding pb;
		const ProtobufCFieldDescriptor *f = field(m, "id");
		uint64_t bid = f ? *(const uint64_t *)((const char *)m + f->offset) : 0;

		/* An unknown id is judged on the island scope (NOT_FOUND follows). */
		if (mds_policy_get(r, bid, &pb, &st) == 0) {
			snprintf(bind_scope, sizeof(bind_scope), "%.*s", (int)pb.scope.len,
				 pb.scope.p);
			scope_resource((struct mds_str){ bind_scope, strlen(bind_scope) }, &res);
		}
	}
	if (began && res.bucket.len && !res.team.len &&
	    mds_bucket_get(r, res.bucket, &b, &st) == 0 && b.team.len < sizeof(team_buf)) {
		memcpy(team_buf, b.team.p, b.team.len);
		team_buf[b.team.len] = 0;
		res.team = (struct mds_str){ team_buf, b.team.len };
	}
	if (began && want_tags && mds_object_head(r, res.bucket, res.name, &obj, &st) == 0) {
		res.n_object_tags = copy_object_tags(obj.tags_raw, otags, otag_buf);
		res.object_tags = otags;
	}
	if (rt->copy_src) {
		src.bucket = field_str(m, "source_bucket");
		src.name = field_str(m, "source_name");
		if (began && src.bucket.len &&
		    mds_bucket_get(r, src.bucket, &b, &st) == 0 && b.team.len < sizeof(src_team)) {
			memcpy(src_team, b.team.p, b.team.len);
			src_team[b.team.len] = 0;
			src.team = (struct mds_str){ src_team, b.team.len };
		}
		if (began && want_tags && src.bucket.len && src.name.len &&
		    mds_object_head(r, src.bucket, src.name, &obj, &st) == 0) {
			src.n_object_tags = copy_object_tags(obj.tags_raw, stags, stag_buf);
			src.object_tags = stags;
		}
	}
	if (began)
		mds_reader_end(r);

	/* 3. authorization (dev mode: everything allowed) */
	if (g->mode == MDS_GATE_JWT && rt->action != ACT_AUTHENTICATED) {
		struct mds_authz_decision d;

		pthread_rwlock_rdlock(&g->lock);
		d = mds_authz_cache_decide(g->cache, g->authz, &subj, rt->action, &res);
		pthread_rwlock_unlock(&g->lock);
		if (d.effect != MDS_AUTHZ_ALLOW) {
			char what[400];

			describe(what, sizeof(what), &res);
			atomic_fetch_add(&g->n_denied, 1);
			snprintf(msg, msgsz, "'%s' may not %s on %s", who,
				 mds_authz_action_name(rt->action), what);
			mds_log(MDS_LOG_INFO, "authz_denied", "principal=\"%s\" action=%s method=%s",
				who, mds_authz_action_name(rt->action), rq->method);
			code = GRPC_STATUS_PERMISSION_DENIED;
			goto out;
		}
		if (field_bool(m, "bypass_governance_retention")) {
			/* Asking to lift governance retention is its own right
			 * (docs/security.md, retention). */
			pthread_rwlock_rdlock(&g->lock);
			d = mds_authz_cache_decide(g->cache, g->authz, &subj,
						   MDS_ACT_BYPASS_GOVERNANCE, &res);
			pthread_rwlock_unlock(&g->lock);
			if (d.effect != MDS_AUTHZ_ALLOW) {
				char what[400];

				describe(what, sizeof(what), &res);
				atomic_fetch_add(&g->n_denied, 1);
				snprintf(msg, msgsz, "'%s' may not bypass-governance on %s", who,
					 what);
				code = GRPC_STATUS_PERMISSION_DENIED;
				goto out;
			}
		}
		if (rt->copy_src) {
			pthread_rwlock_rdlock(&g->lock);
			d = mds_authz_cache_decide(g->cache, g->authz, &subj, MDS_ACT_READ, &src);
			pthread_rwlock_unlock(&g->lock);
			if (d.effect != MDS_AUTHZ_ALLOW) {
				char what[400];

				describe(what, sizeof(what), &src);
				atomic_fetch_add(&g->n_denied, 1);
				snprintf(msg, msgsz, "'%s' may not read on %s (the copy's source)",
					 who, what);
				code = GRPC_STATUS_PERMISSION_DENIED;
				goto out;
			}
		}
		if (rt->from == RES_SCOPE && rt->action == MDS_ACT_MANAGE_BINDINGS) {
			code = check_grant(g, &subj, m, &res, who, msg, msgsz);
			if (code != GRPC_STATUS_OK)
				goto out;
		}
	}

	/* 4. rate limit, per team of the resource */
	if (g->rl && res.team.len) {
		if (mds_ratelimit_take(g->rl, res.team, rt->cls, mono_ns(), retry_after_ms,
				       &st) != 0) {
			atomic_fetch_add(&g->n_rate_limited, 1);
			snprintf(msg, msgsz, "%s", st.msg);
			code = GRPC_STATUS_RESOURCE_EXHAUSTED;
			goto out;
		}
	}
out:
	if (code == GRPC_STATUS_OK)
		atomic_fetch_add(&g->n_allowed, 1);
	if (have_id)
		mds_jwt_identity_release(&id);
	return code;
}

int mds_gate_stamp_principal(const struct mds_gate *g, const char *method,
			     ProtobufCMessage *m, const char *principal)
{
	const struct route *rt = g->mode == MDS_GATE_JWT ? find_route(method) : NULL;
	const ProtobufCFieldDescriptor *f = rt && rt->stamp ? field(m, "principal") : NULL;
	char **slot, *copy;

	if (!f ||
	    f->type != PROTOBUF_C_TYPE_STRING ||
	    f->label == PROTOBUF_C_LABEL_REPEATED || !principal || !*principal)
		return 0;
	slot = (char **)((char *)m + f->offset);
	copy = strdup(principal);
	if (!copy)
		return MDS_ENOMEM;
	/* protobuf-c's default allocator is malloc/free; the default value of
	 * an absent string is a static "" that must not be freed. */
	if (*slot && *slot != (const char *)f->default_value)
		free(*slot);
	*slot = copy;
	return 0;
}

void mds_gate_metrics(struct mds_gate *g, FILE *f)
{
	fprintf(f,
		"# HELP mds_gate_calls_total calls judged by identity, authorization and rate limits.\n"
		"# TYPE mds_gate_calls_total counter\n"
		"mds_gate_calls_total{result=\"allowed\"} %llu\n"
		"mds_gate_calls_total{result=\"unauthenticated\"} %llu\n"
		"mds_gate_calls_total{result=\"denied\"} %llu\n"
		"mds_gate_calls_total{result=\"rate_limited\"} %llu\n"
		"# HELP mds_gate_on_behalf_total calls a gateway made on behalf of a principal.\n"
		"# TYPE mds_gate_on_behalf_total counter\n"
		"mds_gate_on_behalf_total %llu\n",
		(unsigned long long)atomic_load(&g->n_allowed),
		(unsigned long long)atomic_load(&g->n_unauthenticated),
		(unsigned long long)atomic_load(&g->n_denied),
		(unsigned long long)atomic_load(&g->n_rate_limited),
		(unsigned long long)atomic_load(&g->n_on_behalf));
	if (g->mode == MDS_GATE_JWT && g->auth) {
		/* The offline window: alarm after 24 h without a good key-set
		 * refresh, fail closed after the window (docs/security.md). */
		int64_t last = 0;
		enum mds_auth_state cur = mds_auth_get_state(g->auth, &last);

		fprintf(f, "# HELP mds_auth_key_set_state token key set state (1 = current).\n"
			   "# TYPE mds_auth_key_set_state gauge\n");
		for (int k = MDS_AUTH_NO_KEYS; k <= MDS_AUTH_EXPIRED; k++)
			fprintf(f, "mds_auth_key_set_state{state=\"%s\"} %d\n",
				mds_auth_state_name((enum mds_auth_state)k), cur == (enum mds_auth_state)k);
		uint64_t th, tm;

		mds_auth_cache_stats(g->auth, &th, &tm);
		fprintf(f, "# HELP mds_auth_token_cache_total bearer-token validations answered from the cache (hit) or verified (miss).\n"
			   "# TYPE mds_auth_token_cache_total counter\n"
			   "mds_auth_token_cache_total{result=\"hit\"} %llu\n"
			   "mds_auth_token_cache_total{result=\"miss\"} %llu\n",
			(unsigned long long)th, (unsigned long long)tm);
		fprintf(f, "# HELP mds_auth_key_set_last_refresh_seconds time of the last good key-set refresh (Unix seconds; 0 = never).\n"
			   "# TYPE mds_auth_key_set_last_refresh_seconds gauge\n"
			   "mds_auth_key_set_last_refresh_seconds %lld\n", (long long)last);
	}
	if (g->cache) {
		uint64_t hits, misses;

		mds_authz_cache_stats(g->cache, &hits, &misses);
		fprintf(f, "# HELP mds_authz_cache_total decision cache lookups.\n"
			   "# TYPE mds_authz_cache_total counter\n"
			   "mds_authz_cache_total{result=\"hit\"} %llu\n"
			   "mds_authz_cache_total{result=\"miss\"} %llu\n",
			(unsigned long long)hits, (unsigned long long)misses);
	}
}
