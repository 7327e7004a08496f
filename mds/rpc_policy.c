/*
 * rpc_policy.c - the mds.v1.Policy service: role bindings (Bind, Unbind,
 * ListBindings) and Explain.
 *
 * Bindings go through the store's writer (MDS_OP_POLICY_BIND / _UNBIND);
 * once an op is durable, its written() callback applies it to the gate's
 * in-memory policy; both methods set MDS_RPC_IN_COMMIT_ORDER, so written() runs on
 * the store's writer thread, which sees durable ops in commit order — so
 * the in-memory policy follows the stored one exactly.
 * Who may call these methods is the gate's business (rpc_gate.c).
 */
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "log.h"
#include "policy.h"
#include "policy.pb-c.h"
#include "rpc.h"
#include "rpc_gate.h"

#define LIST_MAX 1000

static void binding_to_pb(const struct mds_policy_binding *b, char *buf, Mds__V1__Binding *pb)
{
	/* @buf holds the four strings NUL-terminated (caller sized it). */
	const struct mds_str *f[4] = { &b->subject, &b->role, &b->scope, &b->condition };
	char **out[4] = { &pb->subject, &pb->role, &pb->scope, &pb->condition };

	mds__v1__binding__init(pb);
	pb->id = b->id;
	pb->deny = b->deny != 0;
	pb->ctime_ns = b->ctime_ns;
	for (int i = 0; i < 4; i++) {
		memcpy(buf, f[i]->p, f[i]->len);
		buf[f[i]->len] = 0;
		*out[i] = buf;
		buf += f[i]->len + 1;
	}
}

static size_t binding_strlen(const struct mds_policy_binding *b)
{
	return b->subject.len + b->role.len + b->scope.len + b->condition.len + 4;
}

static int bind_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__BindRequest *r = (const void *)c->req;

	if (!*r->subject || !*r->role || !*r->scope)
		return mds_status_set(st, MDS_EINVAL, "a binding needs subject, role and scope");
	mds_op_init(&c->op, MDS_OP_POLICY_BIND);
	c->op.policy.subject = mds_rpc_str(r->subject);
	c->op.policy.role = mds_rpc_str(r->role);
	c->op.policy.scope = mds_rpc_str(r->scope);
	c->op.policy.condition = mds_rpc_str(r->condition);
	c->op.policy.deny = r->deny;
	return 0;
}

static int bind_written(struct mds_rpc_call *c, struct mds_status *st)
{
	struct mds_policy_binding b;
	Mds__V1__Binding pb;
	char *buf;
	int rc;

	rc = mds_policy_get(c->reader, c->op.out_version, &b, st);
	if (rc)
		return rc;
	rc = mds_gate_policy_added(mds_server_gate(c->server), &b, st);
	if (rc) {
		/* Stored but not in force: say so loudly; a restart loads it. */
		mds_log(MDS_LOG_ERROR, "policy_apply", "id=%llu error=\"%s\"",
			(unsigned long long)b.id, st->msg);
		return rc;
	}
	buf = malloc(binding_strlen(&b));
	if (!buf)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	binding_to_pb(&b, buf, &pb);
	rc = mds_rpc_reply(c, &pb.base);
	free(buf);
	return rc;
}

static int unbind_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__UnbindRequest *r = (const void *)c->req;

	if (r->id == 0)
		return mds_status_set(st, MDS_EINVAL, "field 'id': a binding id is > 0");
	mds_op_init(&c->op, MDS_OP_POLICY_UNBIND);
	c->op.policy.id = r->id;
	return 0;
}

static int unbind_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__UnbindResponse resp = MDS__V1__UNBIND_RESPONSE__INIT;

	(void)st;
	mds_gate_policy_removed(mds_server_gate(c->server), c->op.policy.id);
	return mds_rpc_reply(c, &resp.base);
}

struct list_page {
	Mds__V1__Binding *v;
	Mds__V1__Binding **pv;
	char **bufs;
	size_t n, limit;
	int truncated;
};

static int list_emit(void *arg, const struct mds_policy_binding *b)
{
	struct list_page *pg = arg;

	if (pg->n == pg->limit) {
		pg->truncated = 1;
		return 1;
	}
	pg->bufs[pg->n] = malloc(binding_strlen(b));
	if (!pg->bufs[pg->n])
		return MDS_ENOMEM;
	binding_to_pb(b, pg->bufs[pg->n], &pg->v[pg->n]);
	pg->pv[pg->n] = &pg->v[pg->n];
	pg->n++;
	return 0;
}

static int list_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListBindingsRequest *r = (const void *)c->req;
	Mds__V1__ListBindingsResponse resp = MDS__V1__LIST_BINDINGS_RESPONSE__INIT;
	struct list_page pg;
	int rc;

	memset(&pg, 0, sizeof(pg));
	pg.limit = r->limit == 0 || r->limit > LIST_MAX ? LIST_MAX : r->limit;
	pg.v = calloc(pg.limit, sizeof(*pg.v));
	pg.pv = calloc(pg.limit, sizeof(*pg.pv));
	pg.bufs = calloc(pg.limit, sizeof(*pg.bufs));
	if (!pg.v || !pg.pv || !pg.bufs) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_policy_list(c->reader, r->after_id, pg.limit + 1, list_emit, &pg, st);
	if (rc == 1)
		rc = 0;
	if (rc) {
		if (!st->msg[0])
			mds_status_set(st, rc, "cannot list bindings: %s", mds_strerror(rc));
		goto out;
	}
	resp.bindings = pg.pv;
	resp.n_bindings = pg.n;
	resp.truncated = pg.truncated;
	rc = mds_rpc_reply(c, &resp.base);
out:
	if (pg.bufs)
		for (size_t i = 0; i < pg.n; i++)
			free(pg.bufs[i]);
	free(pg.bufs);
	free(pg.pv);
	free(pg.v);
	return rc;
}

static int explain_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ExplainRequest *r = (const void *)c->req;
	Mds__V1__ExplainResponse resp = MDS__V1__EXPLAIN_RESPONSE__INIT;
	struct mds_authz_subject subj;
	struct mds_authz_resource res;
	uint64_t bid = 0;
	int effect;
	struct mds_str *groups = NULL;
	struct mds_bucket b;
	struct mds_pair tags[MDS_TAGS_MAX];
	char *tag_buf = NULL;
	int64_t action;
	char *trace = NULL;
	size_t used;
	int rc, n_tags;

	action = mds_authz_role_parse(r->action, st);
	if (action < 0)
		return (int)action;
	if (action == 0 || (action & (action - 1)))
		return mds_status_set(st, MDS_EINVAL, "field 'action': name one action");
	memset(&subj, 0, sizeof(subj));
	memset(&res, 0, sizeof(res));
	subj.principal = mds_rpc_str(r->principal);
	if (r->n_groups) {
		groups = calloc(r->n_groups, sizeof(*groups));
		if (!groups)
			return mds_status_set(st, MDS_ENOMEM, "out of memory");
		for (size_t i = 0; i < r->n_groups; i++)
			groups[i] = mds_rpc_str(r->groups[i]);
		subj.groups = groups;
		subj.n_groups = r->n_groups;
	}
	res.team = mds_rpc_str(r->team);
	res.bucket = mds_rpc_str(r->bucket);
	res.name = mds_rpc_str(r->name);
	if (res.bucket.len && mds_bucket_get(c->reader, res.bucket, &b, st) == 0)
		res.team = b.team;   /* valid until the snapshot ends, after the reply */
	mds_status_clear(st);
	trace = malloc(16384);
	tag_buf = malloc(MDS_GATE_TAG_BUF);
	if (!trace || !tag_buf) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	trace[0] = 0;
	/* "tag:KEY" conditions see the stored object's tags, as in the gate */
	n_tags = mds_gate_object_tags(mds_server_gate(c->server), c->reader, (uint32_t)action,
				      &res, tags, tag_buf);
	if (n_tags < 0) {
		snprintf(trace, 16384, "object tags: none (bucket '%.*s' has no object '%.*s')\n",
			 (int)res.bucket.len, res.bucket.p,
			 (int)(res.name.len > 200 ? 200 : res.name.len), res.name.p);
	} else if (n_tags > 0) {
		used = (size_t)snprintf(trace, 16384, "object tags:");
		for (int i = 0; i < n_tags && used < 16384; i++)
			used += (size_t)snprintf(trace + used, 16384 - used, " %.*s=%.*s",
						 (int)tags[i].key.len, tags[i].key.p,
						 (int)tags[i].value.len, tags[i].value.p);
		if (used < 16384)
			used += (size_t)snprintf(trace + used, 16384 - used, "\n");
	}
	used = strlen(trace);
	effect = mds_gate_explain(mds_server_gate(c->server), &subj, (uint32_t)action, &res,
				  trace + used, 16384 - used, &bid);
	resp.effect = (char *)(effect == MDS_AUTHZ_ALLOW ? "allow" :
			       effect == MDS_AUTHZ_DENY ? "deny" : "default-deny");
	resp.binding_id = bid;
	resp.trace = trace;
	rc = mds_rpc_reply(c, &resp.base);
out:
	free(trace);
	free(tag_buf);
	free(groups);
	return rc;
}

#define PO(m) "/mds.v1.Policy/" m

const struct mds_rpc_method mds_rpc_policy_methods[] = {
	{ PO("Bind"), "Bind", MDS_RPC_WRITE, &mds__v1__bind_request__descriptor,
	  bind_run, bind_written, MDS_RPC_WRITTEN_READS | MDS_RPC_IN_COMMIT_ORDER },
	{ PO("Unbind"), "Unbind", MDS_RPC_WRITE, &mds__v1__unbind_request__descriptor,
	  unbind_run, unbind_written, MDS_RPC_IN_COMMIT_ORDER },
	{ PO("ListBindings"), "ListBindings", MDS_RPC_READ,
	  &mds__v1__list_bindings_request__descriptor, list_run, NULL, 0 },
	{ PO("Explain"), "Explain", MDS_RPC_READ, &mds__v1__explain_request__descriptor,
	  explain_run, NULL, 0 },
};
const size_t mds_rpc_policy_count =
	sizeof(mds_rpc_policy_methods) / sizeof(mds_rpc_policy_methods[0]);
