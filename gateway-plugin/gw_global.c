/*
 * gw_global.c - the global: provider: read-only resolution and listing
 * against an island's Global service (include/mds/v1/global.proto), the
 * federated view that island builds from its peers' verified feeds plus
 * its own live namespace.
 *
 *   global:HOST:PORT[?origin=ISLAND&...]
 *
 * Resolve is Global.GetObject: every island's copy of (bucket, name), or
 * only `origin`'s. Without origin= the answer is one copy, chosen the same
 * way every time: the newest mtime, then the smallest origin name; the
 * copy's island is in mdsgw_object.origin (ABI 1.1). List is
 * Global.ListObjects: entries in (name, origin) order, each with its
 * origin; the global view has no delimiter roll-up (refused with
 * MDSGW_EINVAL) and pages of at most 1,000 (a larger max_keys gives a
 * shorter page, which S3 and Azure clients handle as usual).
 * Writes, quota calls and access checks answer MDSGW_EREADONLY: the view is
 * built from the islands' feeds, and writes belong to an island.
 *
 * Transport, deadlines, retries (reads only) and TLS are the grpc:
 * client's (gw_grpc.c); nothing here is cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "global.pb-c.h"
#include "gw_internal.h"
#include "gw_rpc.h"

struct gw_global {
	struct gw_grpc *g;
	char *origin;              /* owned, or NULL */
};

static int global_open(const struct gw_conf *c, void **state, struct mdsgw_status *st)
{
	struct gw_global *x = calloc(1, sizeof(*x));
	int rc;

	*state = NULL;
	if (!x || (c->origin && !(x->origin = strdup(c->origin)))) {
		free(x);
		return gw_status_set(st, MDSGW_ENOMEM, "out of memory opening '%s'", c->target);
	}
	rc = gw_grpc_open_endpoint(c, c->target, &x->g, st);
	if (rc) {
		free(x->origin);
		free(x);
		return rc;
	}
	*state = x;
	return 0;
}

static void global_close(void *state)
{
	struct gw_global *x = state;

	if (!x)
		return;
	gw_grpc_close(x->g);
	free(x->origin);
	free(x);
}

/* Is copy @a preferred over @b: newer mtime, then smaller origin. */
static int better(const Mds__V1__GlobalObject *a, const Mds__V1__GlobalObject *b)
{
	if (a->object->mtime_ns != b->object->mtime_ns)
		return a->object->mtime_ns > b->object->mtime_ns;
	return strcmp(a->origin, b->origin) < 0;
}

static int get_handler(void *arg, const ProtobufCMessage *m)
{
	const Mds__V1__GlobalGetResponse *r = (const Mds__V1__GlobalGetResponse *)m;
	const Mds__V1__GlobalObject *best = NULL;

	for (size_t i = 0; i < r->n_objects; i++) {
		const Mds__V1__GlobalObject *o = r->objects[i];

		if (!o->object)
			return MDSGW_ECORRUPT;
		if (!best || better(o, best))
			best = o;
	}
	if (!best)
		return MDSGW_ENOTFOUND;
	return gw_grpc_record_to_object(best->object, best->origin, arg, NULL, NULL);
}

static int global_resolve(void *state, const char *bucket, const char *name,
			  struct mdsgw_object *out, int64_t deadline_ns, struct mdsgw_status *st)
{
	struct gw_global *x = state;
	Mds__V1__GlobalGetRequest req = MDS__V1__GLOBAL_GET_REQUEST__INIT;
	char what[160];
	int rc;

	req.bucket = (char *)bucket;
	req.name = (char *)name;
	if (x->origin)
		req.origin = x->origin;
	snprintf(what, sizeof(what), "resolve '%.40s/%.60s' in the global view", bucket, name);
	rc = gw_grpc_call(x->g, "/mds.v1.Global/GetObject", &req.base,
			  &mds__v1__global_get_response__descriptor, get_handler, out, 1,
			  deadline_ns, what, st);
	if (rc == MDSGW_ENOTFOUND && st && strstr(st->msg, "stopped by the callback"))
		gw_status_set(st, rc, "object '%.60s' not found in bucket '%.40s' on any island",
			      name, bucket);
	return rc;
}

struct list_ctx {
	mdsgw_entry_fn emit;
	void *arg;
	struct mdsgw_list_result *res;
};

static int list_handler(void *arg, const ProtobufCMessage *m)
{
	const Mds__V1__GlobalListResponse *r = (const Mds__V1__GlobalListResponse *)m;
	struct list_ctx *lx = arg;
	void *scratch = NULL;
	size_t cap = 0;
	int rc = 0;

	if (strlen(r->next_continuation_token) > MDSGW_TOKEN_MAX)
		return MDSGW_ECORRUPT;
	for (size_t i = 0; i < r->n_objects && rc == 0; i++) {
		const Mds__V1__GlobalObject *go = r->objects[i];
		struct mdsgw_object obj;
		struct mdsgw_entry e = { sizeof(e), 0, NULL, NULL };

		if (!go->object)
			return MDSGW_ECORRUPT;
		rc = gw_grpc_record_to_object(go->object, go->origin, &obj, &scratch, &cap);
		if (rc)
			break;
		e.name = obj.name;
		e.obj = &obj;
		rc = lx->emit(lx->arg, &e);
	}
	free(scratch);
	if (rc)
		return rc;
	lx->res->key_count = (uint32_t)r->n_objects;
	lx->res->truncated = r->truncated ? 1 : 0;
	strcpy(lx->res->next_token, r->next_continuation_token);
	return 0;
}

static int global_list(void *state, const struct mdsgw_list_params *p, mdsgw_entry_fn emit,
		       void *arg, struct mdsgw_list_result *res, int64_t deadline_ns,
		       struct mdsgw_status *st)
{
	struct gw_global *x = state;
	Mds__V1__GlobalListRequest req = MDS__V1__GLOBAL_LIST_REQUEST__INIT;
	struct list_ctx lx = { emit, arg, res };
	char *origins[1];
	char what[128];

	if (p->delimiter && *p->delimiter)
		return gw_status_set(st, MDSGW_EINVAL, "list '%.60s': the global view lists names "
				     "without a delimiter roll-up", p->bucket);
	if (p->max_keys == 0)
		return 0;                    /* an empty page, as the islands answer */
	req.bucket = (char *)p->bucket;
	if (p->prefix)
		req.prefix = (char *)p->prefix;
	if (p->start_after)
		req.start_after = (char *)p->start_after;
	if (p->token)
		req.continuation_token = (char *)p->token;
	req.max_keys = p->max_keys < 0 || p->max_keys > 1000 ? 1000 : (uint32_t)p->max_keys;
	if (x->origin) {
		origins[0] = x->origin;
		req.origins = origins;
		req.n_origins = 1;
	}
	snprintf(what, sizeof(what), "list '%.60s' in the global view", p->bucket);
	return gw_grpc_call(x->g, "/mds.v1.Global/ListObjects", &req.base,
			    &mds__v1__global_list_response__descriptor, list_handler, &lx, 1,
			    deadline_ns, what, st);
}

static int read_only(struct mdsgw_status *st, const char *what)
{
	return gw_status_set(st, MDSGW_EREADONLY, "%s refused: global: is the read-only "
			     "federated view; write through an island's own mds (grpc: or lmdb:)",
			     what);
}

static int global_put(void *state, const struct mdsgw_put *p, uint64_t *version,
		      uint64_t *mtime_ns, int64_t deadline_ns, struct mdsgw_status *st)
{
	(void)state, (void)p, (void)version, (void)mtime_ns, (void)deadline_ns;
	return read_only(st, "put");
}

static int global_del(void *state, const char *bucket, const char *name, const char *if_match,
		      const char *if_none_match, uint64_t *version, int64_t deadline_ns,
		      struct mdsgw_status *st)
{
	(void)state, (void)bucket, (void)name, (void)if_match, (void)if_none_match;
	(void)version, (void)deadline_ns;
	return read_only(st, "delete");
}

static int global_reserve(void *state, struct mdsgw_reservation *r, int64_t deadline_ns,
			  struct mdsgw_status *st)
{
	(void)state, (void)r, (void)deadline_ns;
	return read_only(st, "quota reserve");
}

static int global_commit(void *state, const char *token, const struct mdsgw_put *p,
			 uint64_t *version, uint64_t *mtime_ns, int64_t deadline_ns,
			 struct mdsgw_status *st)
{
	(void)state, (void)token, (void)p, (void)version, (void)mtime_ns, (void)deadline_ns;
	return read_only(st, "quota commit");
}

static int global_release(void *state, const char *token, int64_t deadline_ns,
			  struct mdsgw_status *st)
{
	(void)state, (void)token, (void)deadline_ns;
	return read_only(st, "quota release");
}

static int global_access(void *state, const struct mdsgw_access *a, int *allowed,
			 int64_t deadline_ns, struct mdsgw_status *st)
{
	(void)state, (void)a, (void)allowed, (void)deadline_ns;
	return gw_status_set(st, MDSGW_ENOTSUP, "access checks are not answered by the global "
			     "view; ask the island that owns the bucket (grpc: or lmdb:)");
}

const struct gw_provider gw_provider_global = {
	.name = "global",
	.caps = MDSGW_CAP_RESOLVE | MDSGW_CAP_LIST,
	.open = global_open,
	.close = global_close,
	.resolve = global_resolve,
	.list = global_list,
	.put = global_put,
	.del = global_del,
	.reserve = global_reserve,
	.commit = global_commit,
	.release = global_release,
	.access = global_access,
};
