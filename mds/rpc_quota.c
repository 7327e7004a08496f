/*
 * rpc_quota.c - the mds.v1.Quota service: limits, usage with quota state,
 * reservations and the quota audit log, translated between protobuf-c
 * messages and the core's quota API (include/mds/quota.h).
 *
 * Writes (SetQuota, DeleteQuota, Reserve, Commit, Release) are ops for the
 * store's writer; their answers are built after the op is durable.
 * Everything the op borrows lives in the unpacked request or in c->mem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mds/quota.h"
#include "namespace.pb-c.h"
#include "quota.pb-c.h"
#include "rpc.h"
#include "rpc_convert.h"
#include "rpc_quota.h"

#define PAGE_MAX 1000

static int check_scope(const char *field, const char *s, struct mds_status *st)
{
	struct mds_quota_scope sc;
	struct mds_status inner;
	int rc;

	mds_status_clear(&inner);
	rc = mds_quota_scope_parse(mds_rpc_str(s), &sc, &inner);
	if (rc != 0)
		return mds_status_set(st, MDS_EINVAL, "field '%s': %s", field,
				      inner.msg[0] ? inner.msg : mds_strerror(rc));
	return 0;
}

/* ---- conversions -------------------------------------------------------- */

static Mds__V1__Limit *limit_pb(struct mds_arena *a, int present, uint64_t v)
{
	Mds__V1__Limit *l;

	if (!present)
		return NULL;
	l = mds_arena_alloc(a, sizeof(*l));
	if (!l)
		return NULL;
	mds__v1__limit__init(l);
	l->value = v;
	return l;
}

static Mds__V1__QuotaLimits *limits_pb(struct mds_arena *a, const struct mds_quota_limits *in)
{
	Mds__V1__QuotaLimits *l = mds_arena_alloc(a, sizeof(*l));

	if (!l)
		return NULL;
	mds__v1__quota_limits__init(l);
	l->max_bytes = limit_pb(a, in->set & MDS_QUOTA_MAX_BYTES, in->max_bytes);
	l->max_objects = limit_pb(a, in->set & MDS_QUOTA_MAX_OBJECTS, in->max_objects);
	l->soft_bytes = limit_pb(a, in->set & MDS_QUOTA_SOFT_BYTES, in->soft_bytes);
	l->soft_objects = limit_pb(a, in->set & MDS_QUOTA_SOFT_OBJECTS, in->soft_objects);
	l->grace_ns = in->grace_ns;
	return l;
}

static void limits_in(const Mds__V1__QuotaLimits *l, struct mds_quota_limits *out)
{
	memset(out, 0, sizeof(*out));
	if (!l)
		return;
	if (l->max_bytes) {
		out->set |= MDS_QUOTA_MAX_BYTES;
		out->max_bytes = l->max_bytes->value;
	}
	if (l->max_objects) {
		out->set |= MDS_QUOTA_MAX_OBJECTS;
		out->max_objects = l->max_objects->value;
	}
	if (l->soft_bytes) {
		out->set |= MDS_QUOTA_SOFT_BYTES;
		out->soft_bytes = l->soft_bytes->value;
	}
	if (l->soft_objects) {
		out->set |= MDS_QUOTA_SOFT_OBJECTS;
		out->soft_objects = l->soft_objects->value;
	}
	out->grace_ns = l->grace_ns;
}

static char *scope_str(struct mds_arena *a, const struct mds_quota_scope *sc)
{
	char buf[MDS_QUOTA_SCOPE_MAX + 1];

	mds_quota_scope_format(buf, sc);
	return mds_arena_str(a, (struct mds_str){ buf, strlen(buf) });
}

static void info_pb(struct mds_arena *a, const struct mds_quota_info *q, Mds__V1__QuotaInfo *out)
{
	mds__v1__quota_info__init(out);
	out->scope = scope_str(a, &q->scope);
	out->has_limits = q->has_limits != 0;
	if (q->has_limits)
		out->limits = limits_pb(a, &q->limits);
	out->used_bytes = q->used_bytes;
	out->used_objects = q->used_objects;
	out->reserved_bytes = q->reserved_bytes;
	out->reserved_objects = q->reserved_objects;
	out->state = (Mds__V1__QuotaState)q->state;
	out->grace_until_ns = q->grace_until_ns;
	out->set_ns = q->set_ns;
}

typedef int (*info_read_fn)(struct mds_reader *r, struct mds_str scope, struct mds_quota_info *out,
			    struct mds_status *st);

static int info_reply(struct mds_rpc_call *c, const char *scope, info_read_fn read,
		      struct mds_status *st)
{
	struct mds_quota_info q;
	struct mds_arena a = { 0 };
	Mds__V1__QuotaInfo pb;
	int rc;

	rc = read(c->reader, mds_rpc_str(scope), &q, st);
	if (rc != 0)
		return rc;
	info_pb(&a, &q, &pb);
	rc = a.failed ? mds_status_set(st, MDS_ENOMEM, "out of memory") : mds_rpc_reply(c, &pb.base);
	mds_arena_free(&a);
	return rc;
}

/* ---- limits --------------------------------------------------------------- */

static int set_quota_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__SetQuotaRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_scope("scope", r->scope, st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_QUOTA_SET);
	c->op.scope = mds_rpc_str(r->scope);
	c->op.principal = mds_rpc_str(r->principal);
	limits_in(r->limits, &c->op.limits);
	return 0;
}

static int set_quota_written(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__SetQuotaRequest *r = (const void *)c->req;

	return info_reply(c, r->scope, mds_quota_get, st);
}

static int get_quota_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetQuotaRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_scope("scope", r->scope, st)))
		return rc;
	return info_reply(c, r->scope, mds_quota_get, st);
}

static int get_usage_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetUsageRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_scope("scope", r->scope, st)))
		return rc;
	return info_reply(c, r->scope, mds_quota_usage, st);
}

static int quota_emit(void *arg, const struct mds_quota_info *q)
{
	struct mds_rpc_page *pg = arg;
	Mds__V1__QuotaInfo *pb;
	int stop = 0;

	pb = mds_rpc_page_slot(pg, sizeof(*pb), &stop);
	if (!pb)
		return stop;
	info_pb(&pg->a, q, pb);
	return 0;
}

static int list_quotas_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListQuotasRequest *r = (const void *)c->req;
	Mds__V1__ListQuotasResponse resp = MDS__V1__LIST_QUOTAS_RESPONSE__INIT;
	struct mds_rpc_page pg = { 0 };
	int rc;

	if (*r->start_after && (rc = check_scope("start_after", r->start_after, st)))
		return rc;
	pg.limit = r->limit == 0 || r->limit > PAGE_MAX ? PAGE_MAX : r->limit;
	if (mds_rpc_page_init(&pg, pg.limit) != 0) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_quota_list(c->reader, mds_rpc_str(r->start_after), pg.limit + 1, quota_emit, &pg, st);
	rc = mds_rpc_page_done(&pg, rc, "quotas", st);
	if (rc != 0)
		goto out;
	resp.quotas = (Mds__V1__QuotaInfo **)pg.v;
	resp.n_quotas = pg.n;
	resp.truncated = pg.truncated;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

static int delete_quota_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__DeleteQuotaRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_scope("scope", r->scope, st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_QUOTA_DELETE);
	c->op.scope = mds_rpc_str(r->scope);
	c->op.principal = mds_rpc_str(r->principal);
	return 0;
}

static int delete_quota_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__DeleteQuotaResponse resp = MDS__V1__DELETE_QUOTA_RESPONSE__INIT;

	(void)st;
	return mds_rpc_reply(c, &resp.base);
}

/* ---- reservations ---------------------------------------------------------- */

static int reserve_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ReserveRequest *r = (const void *)c->req;
	char *tok;

	tok = malloc(MDS_RESERVATION_TOKEN_LEN + 1);
	if (!tok)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	c->mem = tok;
	if (mds_quota_token_new(tok))
		return mds_status_set(st, MDS_EINTERNAL, "cannot draw a random reservation token");
	mds_op_init(&c->op, MDS_OP_RESERVE);
	c->op.reservation = (struct mds_str){ tok, MDS_RESERVATION_TOKEN_LEN };
	c->op.bucket = mds_rpc_str(r->bucket);
	c->op.name = mds_rpc_str(r->name);
	c->op.reserve_bytes = r->bytes;
	c->op.reserve_objects = r->objects;
	c->op.reserve_ttl_ns = r->ttl_ns;
	return 0;
}

static int reserve_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__Reservation resp = MDS__V1__RESERVATION__INIT;

	(void)st;
	resp.token = c->mem;
	resp.expiry_ns = c->op.out_mtime_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int commit_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CommitRequest *r = (const void *)c->req;
	const Mds__V1__PutObjectRequest *p = r->put;
	struct mds_pair *pairs;

	if (!p)
		return mds_status_set(st, MDS_EINVAL, "field 'put' is required");
	if (p->blob_type > MDS__V1__BLOB_TYPE__BLOB_TYPE_PAGE || p->blob_type < 0)
		return mds_status_set(st, MDS_EINVAL, "field 'put.blob_type': unknown value %d",
				      (int)p->blob_type);
	if (p->n_tags > MDS_TAGS_MAX || p->n_metadata > MDS_META_MAX)
		return mds_status_set(st, MDS_EINVAL, "field 'put': too many tags or metadata pairs");
	mds_op_init(&c->op, MDS_OP_RESERVE_COMMIT);
	c->op.reservation = mds_rpc_str(r->token);
	c->op.bucket = mds_rpc_str(p->bucket);
	c->op.name = mds_rpc_str(p->name);
	c->op.obj.size = p->size;
	c->op.obj.blob_type = (uint8_t)p->blob_type;
	c->op.obj.etag = mds_rpc_str(p->etag);
	c->op.obj.content_type = mds_rpc_str(p->content_type);
	c->op.obj.locator = (struct mds_str){ (const char *)p->locator.data, p->locator.len };
	if (p->n_metadata + p->n_tags) {
		pairs = calloc(p->n_metadata + p->n_tags, sizeof(*pairs));
		if (!pairs)
			return mds_status_set(st, MDS_ENOMEM, "out of memory");
		c->mem = pairs;
		for (size_t i = 0; i < p->n_metadata; i++)
			pairs[i] = (struct mds_pair){ mds_rpc_str(p->metadata[i]->key),
						      mds_rpc_str(p->metadata[i]->value) };
		for (size_t i = 0; i < p->n_tags; i++)
			pairs[p->n_metadata + i] = (struct mds_pair){ mds_rpc_str(p->tags[i]->key),
								      mds_rpc_str(p->tags[i]->value) };
		c->op.obj.meta = pairs;
		c->op.obj.n_meta = p->n_metadata;
		c->op.obj.tags = pairs + p->n_metadata;
		c->op.obj.n_tags = p->n_tags;
	}
	if (*p->if_match)
		c->op.cond.if_match = mds_rpc_str(p->if_match);
	if (*p->if_none_match)
		c->op.cond.if_none_match = mds_rpc_str(p->if_none_match);
	return 0;
}

static int commit_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__PutObjectResponse resp = MDS__V1__PUT_OBJECT_RESPONSE__INIT;

	(void)st;
	resp.version = c->op.out_version;
	resp.mtime_ns = c->op.out_mtime_ns;
	return mds_rpc_reply(c, &resp.base);
}

static int release_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ReleaseRequest *r = (const void *)c->req;

	(void)st;
	mds_op_init(&c->op, MDS_OP_RESERVE_RELEASE);
	c->op.reservation = mds_rpc_str(r->token);
	return 0;
}

static int release_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__ReleaseResponse resp = MDS__V1__RELEASE_RESPONSE__INIT;

	(void)st;
	return mds_rpc_reply(c, &resp.base);
}

/* ---- audit ------------------------------------------------------------------- */

static int audit_emit(void *arg, const struct mds_quota_audit *au)
{
	struct mds_rpc_page *pg = arg;
	Mds__V1__QuotaAuditRecord *pb;
	int stop = 0;

	pb = mds_rpc_page_slot(pg, sizeof(*pb), &stop);
	if (!pb)
		return stop;
	mds__v1__quota_audit_record__init(pb);
	pb->seq = au->seq;
	pb->time_ns = au->time_ns;
	pb->principal = mds_arena_str(&pg->a, au->principal);
	pb->scope = scope_str(&pg->a, &au->scope);
	pb->deleted = au->is_delete != 0;
	if (au->had_old)
		pb->old_limits = limits_pb(&pg->a, &au->old_limits);
	if (au->has_new)
		pb->new_limits = limits_pb(&pg->a, &au->new_limits);
	return 0;
}

static int list_audit_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListQuotaAuditRequest *r = (const void *)c->req;
	Mds__V1__ListQuotaAuditResponse resp = MDS__V1__LIST_QUOTA_AUDIT_RESPONSE__INIT;
	struct mds_rpc_page pg = { 0 };
	int rc;

	pg.limit = r->limit == 0 || r->limit > PAGE_MAX ? PAGE_MAX : r->limit;
	if (mds_rpc_page_init(&pg, pg.limit) != 0) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_quota_audit_list(c->reader, r->after_seq, pg.limit + 1, audit_emit, &pg, st);
	rc = mds_rpc_page_done(&pg, rc, "quota audit records", st);
	if (rc != 0)
		goto out;
	resp.records = (Mds__V1__QuotaAuditRecord **)pg.v;
	resp.n_records = pg.n;
	resp.truncated = pg.truncated;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

#define QU(m) "/mds.v1.Quota/" m

const struct mds_rpc_method mds_rpc_quota_methods[] = {
	{ QU("SetQuota"), "SetQuota", MDS_RPC_WRITE,
	  &mds__v1__set_quota_request__descriptor, set_quota_run, set_quota_written, 1 },
	{ QU("GetQuota"), "GetQuota", MDS_RPC_READ,
	  &mds__v1__get_quota_request__descriptor, get_quota_run, NULL, 0 },
	{ QU("ListQuotas"), "ListQuotas", MDS_RPC_READ,
	  &mds__v1__list_quotas_request__descriptor, list_quotas_run, NULL, 0 },
	{ QU("DeleteQuota"), "DeleteQuota", MDS_RPC_WRITE,
	  &mds__v1__delete_quota_request__descriptor, delete_quota_run, delete_quota_written, 0 },
	{ QU("GetUsage"), "GetUsage", MDS_RPC_READ,
	  &mds__v1__get_usage_request__descriptor, get_usage_run, NULL, 0 },
	{ QU("Reserve"), "Reserve", MDS_RPC_WRITE,
	  &mds__v1__reserve_request__descriptor, reserve_run, reserve_written, 0 },
	{ QU("Commit"), "Commit", MDS_RPC_WRITE,
	  &mds__v1__commit_request__descriptor, commit_run, commit_written, 0 },
	{ QU("Release"), "Release", MDS_RPC_WRITE,
	  &mds__v1__release_request__descriptor, release_run, release_written, 0 },
	{ QU("ListQuotaAudit"), "ListQuotaAudit", MDS_RPC_READ,
	  &mds__v1__list_quota_audit_request__descriptor, list_audit_run, NULL, 0 },
};
const size_t mds_rpc_quota_count = sizeof(mds_rpc_quota_methods) / sizeof(mds_rpc_quota_methods[0]);
