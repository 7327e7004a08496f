/*
 * gw_grpc.c - the grpc: provider: every operation is a call to a remote
 * mds (gw_rpc.c) over one channel per handle; gRPC keeps the connection
 * and reconnects by itself.
 *
 * What must stay true
 *   - Every call carries the caller's deadline.
 *   - Reads (HeadObject, ListObjects: idempotent) wait for the channel to
 *     connect until their deadline (gRPC "wait for ready"), so a read while
 *     mds is down or restarting fails only when its deadline passes, and
 *     one sent just after a restart finds the server. They are retried
 *     after UNAVAILABLE (the server going away mid-call, or shutting down),
 *     with exponential backoff and jitter, at most `retries` times and
 *     never past the deadline.
 *   - Puts and deletes are sent once and do not wait for a connection: a
 *     write that cannot reach mds fails closed at once with MDSGW_EUNAVAIL
 *     and says so. (Retrying a write is the gateway's decision: only it
 *     knows whether its request carries a condition that makes it safe.)
 *   - Every protobuf message is built on the stack or freed in the
 *     function that made it; an answer is consumed by a handler and freed
 *     in call().
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_internal.h"
#include "gw_rpc.h"
#include "namespace.pb-c.h"
#include "policy.pb-c.h"
#include "quota.pb-c.h"

struct gw_grpc {
	struct gw_rpc *rpc;
	char *endpoint;
	unsigned retries;
	unsigned backoff_ms;
	struct gw_cache *cache;    /* NULL: no lookup cache */
	struct gw_feed *feed;      /* follows the feed for the cache */
};

int gw_grpc_open_endpoint(const struct gw_conf *c, const char *endpoint, struct gw_grpc **out,
			  struct mdsgw_status *st)
{
	struct gw_grpc *g;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->endpoint = strdup(endpoint))) {
		free(g);
		return gw_status_set(st, MDSGW_ENOMEM, "out of memory opening a client for '%s'",
				     endpoint);
	}
	g->retries = c->retries;
	g->backoff_ms = c->backoff_ms;
	rc = gw_rpc_open(endpoint, c, &g->rpc, st);
	if (rc) {
		free(g->endpoint);
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void gw_grpc_close(struct gw_grpc *g)
{
	if (!g)
		return;
	gw_feed_stop(g->feed);
	gw_cache_free(g->cache);
	gw_rpc_close(g->rpc);
	free(g->endpoint);
	free(g);
}

/* ---- one call, with deadline and (for reads) retries ---- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * Call @method with @req; @handler consumes the (borrowed) response.
 * @what names the operation for messages ("resolve b/n").
 */
int gw_grpc_call(struct gw_grpc *g, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, gw_handler_fn handler, void *harg,
		 int idempotent, int64_t deadline_ns, const char *what, struct mdsgw_status *st)
{
	unsigned backoff = g->backoff_ms, attempt = 0;
	char msg[MDSGW_MSG_MAX] = "";
	uint32_t hint = 0;
	int rc;

	for (;;) {
		ProtobufCMessage *resp = NULL;
		int64_t left = deadline_ns - mdsgw_now_ns();

		if (left <= 0 && !attempt)
			return gw_status_set(st, MDSGW_ETIMEDOUT,
					     "%s: the deadline had passed before the call to mds at %s"
					     " was sent", what, g->endpoint);
		if (left <= 0)
			return gw_status_set(st, MDSGW_ETIMEDOUT,
					     "%s: deadline passed; mds at %s is unreachable after %u "
					     "attempts (%s)", what, g->endpoint, attempt, msg);
		rc = gw_rpc_unary(g->rpc, method, req, resp_desc, &resp, left, idempotent, msg,
				  sizeof(msg), &hint);
		attempt++;
		if (rc == 0) {
			int hrc = handler(harg, resp);

			protobuf_c_message_free_unpacked(resp, NULL);
			if (hrc == MDSGW_ECORRUPT || hrc == MDSGW_ENOMEM)
				return gw_status_set(st, hrc, "%s: %s", what, hrc == MDSGW_ENOMEM ?
						     "out of memory reading the answer" :
						     "the answer of mds does not decode");
			if (hrc)
				return gw_status_set(st, hrc, "%s: stopped by the callback", what);
			return 0;
		}
		/* Busy with a hint: a read waits the hint and goes again when the
		 * wait fits in its deadline (with 1 ms to spare for the call);
		 * at most `retries` times, like any retry. */
		if ((rc == MDSGW_ERATE || rc == MDSGW_EBUSY) && hint && idempotent &&
		    attempt <= g->retries && gw_ms_left(deadline_ns) > hint + 1) {
			sleep_ms(hint);
			continue;
		}
		if (rc == MDSGW_EUNAVAIL && idempotent && attempt <= g->retries) {
			/* jitter: up to half the backoff, from the clock's low bits */
			unsigned wait = backoff + (unsigned)(mdsgw_now_ns() / 1000 % (backoff / 2 + 1));
			unsigned now_left = gw_ms_left(deadline_ns);

			if (now_left > 1) {
				sleep_ms(wait < now_left - 1 ? wait : now_left - 1);
				backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
				continue;
			}
		}
		break;
	}
	/* The server names the island's code in "mds-error" (gw_rpc.c); a
	 * server without it maps a full queue and a quota refusal both to
	 * RESOURCE_EXHAUSTED, and its quota messages start "quota '". */
	if (rc == MDSGW_EBUSY && !strncmp(msg, "quota '", 7))
		rc = MDSGW_EQUOTA;
	if ((rc == MDSGW_ERATE || rc == MDSGW_EBUSY) && hint) {
		gw_retry_after_set(hint);
		return gw_status_set(st, rc, "%s: %s (retry after %u ms)", what,
				     msg[0] ? msg : mdsgw_strerror(rc), hint);
	}
	switch (rc) {
	case MDSGW_EUNAVAIL:
		if (idempotent)
			return gw_status_set(st, rc, "%s: mds at %s is unreachable after %u attempt%s: %s",
					     what, g->endpoint, attempt, attempt == 1 ? "" : "s", msg);
		return gw_status_set(st, rc, "%s refused: mds at %s is unreachable, writes fail "
				     "closed (%s)", what, g->endpoint, msg);
	case MDSGW_ETIMEDOUT:
		return gw_status_set(st, rc, "%s: deadline passed waiting for mds at %s%s", what,
				     g->endpoint, idempotent ? " (unreachable or not answering)" :
				     "; the write may or may not have been applied, re-read to know");
	default:
		if (msg[0])
			return gw_status_set(st, rc, "%s", msg);
		return gw_status_set(st, rc, "%s: %s", what, mdsgw_strerror(rc));
	}
}

/* ---- record conversion ---- */

static struct gw_bytes str_of(const char *s)
{
	struct gw_bytes b = { s ? s : "", s ? strlen(s) : 0 };

	return b;
}

#define PAIRS_STACK 32

struct pairs_buf {
	struct gw_pair stack[PAIRS_STACK];
	struct gw_pair *heap;
};

static const struct gw_pair *pairs_of(struct pairs_buf *b, Mds__V1__KeyValue *const *kv,
				      size_t n, size_t off)
{
	struct gw_pair *p = b->stack + off;

	if (n == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		p[i].k = str_of(kv[i]->key);
		p[i].v = str_of(kv[i]->value);
	}
	return p;
}

int gw_grpc_record_to_object(const Mds__V1__ObjectRecord *r, const char *origin,
			     struct mdsgw_object *out, void **scratch, size_t *cap)
{
	struct pairs_buf pb;
	struct gw_objview v;
	int rc;

	memset(&v, 0, sizeof(v));
	pb.heap = NULL;
	if (r->n_metadata + r->n_tags > PAIRS_STACK) {
		/* Rare: many metadata pairs; a one-off array. */
		pb.heap = malloc((r->n_metadata + r->n_tags) * sizeof(struct gw_pair));
		if (!pb.heap)
			return MDSGW_ENOMEM;
		for (size_t i = 0; i < r->n_metadata; i++) {
			pb.heap[i].k = str_of(r->metadata[i]->key);
			pb.heap[i].v = str_of(r->metadata[i]->value);
		}
		for (size_t i = 0; i < r->n_tags; i++) {
			pb.heap[r->n_metadata + i].k = str_of(r->tags[i]->key);
			pb.heap[r->n_metadata + i].v = str_of(r->tags[i]->value);
		}
		v.meta = pb.heap;
		v.tags = pb.heap + r->n_metadata;
	} else {
		v.meta = pairs_of(&pb, r->metadata, r->n_metadata, 0);
		v.tags = pairs_of(&pb, r->tags, r->n_tags, r->n_metadata);
	}
	v.n_meta = r->n_metadata;
	v.n_tags = r->n_tags;
	v.bucket = str_of(r->bucket);
	v.name = str_of(r->name);
	v.etag = str_of(r->etag);
	v.content_type = str_of(r->content_type);
	v.locator.p = (const char *)r->locator.data;
	v.locator.len = r->locator.len;
	v.version = r->version;
	v.content_size = r->size;
	v.ctime_ns = r->ctime_ns;
	v.mtime_ns = r->mtime_ns;
	v.blob_type = (uint32_t)r->blob_type;
	if (origin)
		v.origin = str_of(origin);
	rc = gw_object_build(&v, out, scratch, cap);
	free(pb.heap);
	return rc;
}

/* ---- operations ---- */

static int resolve_handler(void *arg, const ProtobufCMessage *m)
{
	return gw_grpc_record_to_object((const Mds__V1__ObjectRecord *)m, NULL, arg, NULL, NULL);
}

static int grpc_resolve(void *state, const char *bucket, const char *name,
			struct mdsgw_object *out, int64_t deadline_ns, struct mdsgw_status *st)
{
	struct gw_grpc *g = state;
	Mds__V1__HeadObjectRequest req = MDS__V1__HEAD_OBJECT_REQUEST__INIT;
	struct gw_cache_ticket t;
	char what[128];
	int rc;

	if (g->cache) {
		char msg[MDSGW_MSG_MAX];

		rc = gw_cache_get(g->cache, bucket, name, out, msg, sizeof(msg), &t);
		if (rc == GW_CACHE_HIT)
			return 0;
		if (rc == GW_CACHE_HIT_NEG)
			return gw_status_set(st, MDSGW_ENOTFOUND, "%s", msg);
	}
	req.bucket = (char *)bucket;
	req.name = (char *)name;
	snprintf(what, sizeof(what), "resolve '%.40s/%.60s'", bucket, name);
	rc = gw_grpc_call(g, "/mds.v1.Namespace/HeadObject", &req.base,
		  &mds__v1__object_record__descriptor, resolve_handler, out, 1, deadline_ns,
		  what, st);
	/* Only answers are kept: a found record, or "not found" (no such object
	 * or bucket; a bucket's creation or deletion is a leaf that flushes the
	 * cache, gw_feed.c). Errors are never cached. */
	if (g->cache && rc == 0)
		gw_cache_put(g->cache, &t, bucket, name, out, NULL);
	else if (g->cache && rc == MDSGW_ENOTFOUND && st)
		gw_cache_put(g->cache, &t, bucket, name, NULL, st->msg);
	return rc;
}

struct list_ctx {
	mdsgw_entry_fn emit;
	void *arg;
	struct mdsgw_list_result *res;
};

static int list_handler(void *arg, const ProtobufCMessage *m)
{
	const Mds__V1__ListObjectsResponse *r = (const Mds__V1__ListObjectsResponse *)m;
	struct list_ctx *x = arg;
	void *scratch = NULL;
	size_t cap = 0;
	int rc = 0;

	if (strlen(r->next_continuation_token) > MDSGW_TOKEN_MAX)
		return MDSGW_ECORRUPT;
	for (size_t i = 0; i < r->n_entries && rc == 0; i++) {
		const Mds__V1__ListEntry *pe = r->entries[i];
		struct mdsgw_object obj;
		struct mdsgw_entry e = { sizeof(e), 0, pe->name, NULL };

		if (pe->is_prefix || !pe->object) {
			e.is_prefix = 1;
		} else {
			rc = gw_grpc_record_to_object(pe->object, NULL, &obj, &scratch, &cap);
			if (rc)
				break;
			e.obj = &obj;
		}
		rc = x->emit(x->arg, &e);
	}
	free(scratch);
	if (rc)
		return rc;
	x->res->key_count = r->key_count;
	x->res->truncated = r->truncated ? 1 : 0;
	strcpy(x->res->next_token, r->next_continuation_token);
	return 0;
}

static int grpc_list(void *state, const struct mdsgw_list_params *p, mdsgw_entry_fn emit,
		     void *arg, struct mdsgw_list_result *res, int64_t deadline_ns,
		     struct mdsgw_status *st)
{
	struct gw_grpc *g = state;
	Mds__V1__ListObjectsRequest req = MDS__V1__LIST_OBJECTS_REQUEST__INIT;
	struct list_ctx x = { emit, arg, res };
	char what[128];

	req.bucket = (char *)p->bucket;
	req.style = p->style == MDSGW_LIST_AZURE ? MDS__V1__LIST_STYLE__LIST_STYLE_AZURE
						 : MDS__V1__LIST_STYLE__LIST_STYLE_S3;
	if (p->prefix)
		req.prefix = (char *)p->prefix;
	if (p->delimiter)
		req.delimiter = (char *)p->delimiter;
	if (p->start_after)
		req.start_after = (char *)p->start_after;
	if (p->token)
		req.continuation_token = (char *)p->token;
	if (p->max_keys >= 0) {
		req.max_keys_set_case = MDS__V1__LIST_OBJECTS_REQUEST__MAX_KEYS_SET_MAX_KEYS;
		req.max_keys = p->max_keys;
	}
	snprintf(what, sizeof(what), "list '%.60s'", p->bucket);
	/* Retried only while nothing was emitted (the page arrives whole). */
	return gw_grpc_call(g, "/mds.v1.Namespace/ListObjects", &req.base,
		    &mds__v1__list_objects_response__descriptor, list_handler, &x, 1,
		    deadline_ns, what, st);
}

/*
 * A write through this handle drops the name's cache entry at once, so the
 * gateway reads its own writes without waiting for the feed (whatever the
 * outcome: a timed-out write may have been applied).
 */
static void own_write(struct gw_grpc *g, const char *bucket, const char *name)
{
	if (g->cache)
		gw_cache_invalidate(g->cache, bucket, strlen(bucket), name, strlen(name));
}

struct put_ctx {
	uint64_t *version, *mtime_ns;
};

static int put_handler(void *arg, const ProtobufCMessage *m)
{
	const Mds__V1__PutObjectResponse *r = (const Mds__V1__PutObjectResponse *)m;
	struct put_ctx *x = arg;

	if (x->version)
		*x->version = r->version;
	if (x->mtime_ns)
		*x->mtime_ns = r->mtime_ns;
	return 0;
}

static int kv_array(const struct mdsgw_kv *in, size_t n, Mds__V1__KeyValue **store,
		    Mds__V1__KeyValue ***ptrs)
{
	*store = NULL;
	*ptrs = NULL;
	if (!n)
		return 0;
	*store = calloc(n, sizeof(**store));
	*ptrs = calloc(n, sizeof(**ptrs));
	if (!*store || !*ptrs) {
		free(*store);
		free(*ptrs);
		return MDSGW_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		Mds__V1__KeyValue kv = MDS__V1__KEY_VALUE__INIT;

		kv.key = (char *)(in[i].key ? in[i].key : "");
		kv.value = (char *)(in[i].value ? in[i].value : "");
		(*store)[i] = kv;
		(*ptrs)[i] = &(*store)[i];
	}
	return 0;
}

/* The wire form of @p; the arrays are allocated into *meta.. (free them). */
static int put_request(const struct mdsgw_put *p, Mds__V1__PutObjectRequest *req,
		       Mds__V1__KeyValue **meta, Mds__V1__KeyValue ***meta_p,
		       Mds__V1__KeyValue **tags, Mds__V1__KeyValue ***tags_p)
{
	Mds__V1__PutObjectRequest init = MDS__V1__PUT_OBJECT_REQUEST__INIT;

	*req = init;
	*tags = NULL;
	*tags_p = NULL;
	if (kv_array(p->meta, p->n_meta, meta, meta_p) ||
	    kv_array(p->tags, p->n_tags, tags, tags_p))
		return MDSGW_ENOMEM;
	req->bucket = (char *)p->bucket;
	req->name = (char *)p->name;
	req->size = p->content_size;
	req->blob_type = (Mds__V1__BlobType)p->blob_type;
	if (p->etag)
		req->etag = (char *)p->etag;
	if (p->content_type)
		req->content_type = (char *)p->content_type;
	req->locator.data = (uint8_t *)p->locator;
	req->locator.len = p->locator ? p->locator_len : 0;
	req->n_metadata = p->n_meta;
	req->metadata = *meta_p;
	req->n_tags = p->n_tags;
	req->tags = *tags_p;
	if (p->if_match)
		req->if_match = (char *)p->if_match;
	if (p->if_none_match)
		req->if_none_match = (char *)p->if_none_match;
	return 0;
}

static void put_request_free(Mds__V1__KeyValue *meta, Mds__V1__KeyValue **meta_p,
			     Mds__V1__KeyValue *tags, Mds__V1__KeyValue **tags_p)
{
	free(meta);
	free(meta_p);
	free(tags);
	free(tags_p);
}

int gw_grpc_put(struct gw_grpc *g, const struct mdsgw_put *p, uint64_t *version,
		uint64_t *mtime_ns, int64_t deadline_ns, struct mdsgw_status *st)
{
	Mds__V1__PutObjectRequest req;
	Mds__V1__KeyValue *meta = NULL, *tags = NULL, **meta_p = NULL, **tags_p = NULL;
	struct put_ctx x = { version, mtime_ns };
	char what[128];
	int rc;

	if (put_request(p, &req, &meta, &meta_p, &tags, &tags_p)) {
		rc = gw_status_set(st, MDSGW_ENOMEM, "out of memory building a put");
		goto out;
	}
	snprintf(what, sizeof(what), "put '%.40s/%.60s'", p->bucket, p->name);
	rc = gw_grpc_call(g, "/mds.v1.Namespace/PutObject", &req.base,
		  &mds__v1__put_object_response__descriptor, put_handler, &x, 0, deadline_ns,
		  what, st);
	own_write(g, p->bucket, p->name);
out:
	put_request_free(meta, meta_p, tags, tags_p);
	return rc;
}

static int del_handler(void *arg, const ProtobufCMessage *m)
{
	uint64_t *version = arg;

	if (version)
		*version = ((const Mds__V1__DeleteObjectResponse *)m)->version;
	return 0;
}

int gw_grpc_del(struct gw_grpc *g, const char *bucket, const char *name, const char *if_match,
		const char *if_none_match, uint64_t *version, int64_t deadline_ns,
		struct mdsgw_status *st)
{
	Mds__V1__DeleteObjectRequest req = MDS__V1__DELETE_OBJECT_REQUEST__INIT;
	char what[128];
	int rc;

	req.bucket = (char *)bucket;
	req.name = (char *)name;
	if (if_match)
		req.if_match = (char *)if_match;
	if (if_none_match)
		req.if_none_match = (char *)if_none_match;
	snprintf(what, sizeof(what), "delete '%.40s/%.60s'", bucket, name);
	rc = gw_grpc_call(g, "/mds.v1.Namespace/DeleteObject", &req.base,
		  &mds__v1__delete_object_response__descriptor, del_handler, version, 0,
		  deadline_ns, what, st);
	own_write(g, bucket, name);
	return rc;
}

/* ---- quota reservations ---- */

static int reserve_handler(void *arg, const ProtobufCMessage *m)
{
	const Mds__V1__Reservation *r = (const Mds__V1__Reservation *)m;
	struct mdsgw_reservation *out = arg;
	size_t n = strlen(r->token);

	if (n == 0 || n >= sizeof(out->token))
		return MDSGW_ECORRUPT;
	memcpy(out->token, r->token, n + 1);
	out->expiry_ns = r->expiry_ns;
	return 0;
}

int gw_grpc_reserve(struct gw_grpc *g, struct mdsgw_reservation *r, int64_t deadline_ns,
		    struct mdsgw_status *st)
{
	Mds__V1__ReserveRequest req = MDS__V1__RESERVE_REQUEST__INIT;
	char what[128];

	req.bucket = (char *)r->bucket;
	req.name = (char *)r->name;
	req.bytes = r->bytes;
	req.objects = r->objects;
	req.ttl_ns = r->ttl_ms > UINT64_MAX / 1000000 ? UINT64_MAX : r->ttl_ms * 1000000;
	snprintf(what, sizeof(what), "reserve for '%.40s/%.60s'", r->bucket, r->name);
	return gw_grpc_call(g, "/mds.v1.Quota/Reserve", &req.base, &mds__v1__reservation__descriptor,
		    reserve_handler, r, 0, deadline_ns, what, st);
}

int gw_grpc_commit(struct gw_grpc *g, const char *token, const struct mdsgw_put *p,
		   uint64_t *version, uint64_t *mtime_ns, int64_t deadline_ns,
		   struct mdsgw_status *st)
{
	Mds__V1__CommitRequest req = MDS__V1__COMMIT_REQUEST__INIT;
	Mds__V1__PutObjectRequest put;
	Mds__V1__KeyValue *meta = NULL, *tags = NULL, **meta_p = NULL, **tags_p = NULL;
	struct put_ctx x = { version, mtime_ns };
	char what[128];
	int rc;

	if (put_request(p, &put, &meta, &meta_p, &tags, &tags_p)) {
		rc = gw_status_set(st, MDSGW_ENOMEM, "out of memory building a commit");
		goto out;
	}
	req.token = (char *)token;
	req.put = &put;
	snprintf(what, sizeof(what), "commit of '%.40s/%.60s'", p->bucket, p->name);
	rc = gw_grpc_call(g, "/mds.v1.Quota/Commit", &req.base, &mds__v1__put_object_response__descriptor,
		  put_handler, &x, 0, deadline_ns, what, st);
	own_write(g, p->bucket, p->name);
out:
	put_request_free(meta, meta_p, tags, tags_p);
	return rc;
}

static int release_handler(void *arg, const ProtobufCMessage *m)
{
	(void)arg;
	(void)m;
	return 0;
}

int gw_grpc_release(struct gw_grpc *g, const char *token, int64_t deadline_ns,
		    struct mdsgw_status *st)
{
	Mds__V1__ReleaseRequest req = MDS__V1__RELEASE_REQUEST__INIT;

	req.token = (char *)token;
	return gw_grpc_call(g, "/mds.v1.Quota/Release", &req.base,
		    &mds__v1__release_response__descriptor, release_handler, NULL, 0,
		    deadline_ns, "release of a reservation", st);
}

/* ---- access checks: Policy.Explain ---- */

static int explain_handler(void *arg, const ProtobufCMessage *m)
{
	const Mds__V1__ExplainResponse *r = (const Mds__V1__ExplainResponse *)m;
	int *allowed = arg;

	if (!r->effect)
		return MDSGW_ECORRUPT;
	if (!strcmp(r->effect, "allow"))
		*allowed = 1;
	else if (!strcmp(r->effect, "deny") || !strcmp(r->effect, "default-deny"))
		*allowed = 0;
	else
		return MDSGW_ECORRUPT;
	return 0;
}

int gw_grpc_access(struct gw_grpc *g, const struct mdsgw_access *a, int *allowed,
		   int64_t deadline_ns, struct mdsgw_status *st)
{
	Mds__V1__ExplainRequest req = MDS__V1__EXPLAIN_REQUEST__INIT;
	char what[160];
	int rc;

	req.principal = (char *)a->principal;
	req.action = (char *)a->action;
	if (a->bucket)
		req.bucket = (char *)a->bucket;
	if (a->name)
		req.name = (char *)a->name;
	if (a->team)
		req.team = (char *)a->team;
	req.n_groups = a->n_groups;
	req.groups = (char **)a->groups;
	for (size_t i = 0; i < a->n_groups; i++)
		if (!a->groups[i])
			return gw_status_set(st, MDSGW_EINVAL, "access check: group %zu is NULL", i);
	snprintf(what, sizeof(what), "access check of '%.40s' %.20s on '%.40s'", a->principal,
		 a->action, a->bucket ? a->bucket : "");
	rc = gw_grpc_call(g, "/mds.v1.Policy/Explain", &req.base, &mds__v1__explain_response__descriptor,
		  explain_handler, allowed, 1, deadline_ns, what, st);
	if (rc)
		*allowed = 0;
	return rc;
}

/* ---- the provider table ---- */

static int grpc_open(const struct gw_conf *c, void **state, struct mdsgw_status *st)
{
	struct gw_cache_opts o;
	struct gw_grpc *g;
	int rc;

	*state = NULL;
	rc = gw_grpc_open_endpoint(c, c->target, &g, st);
	if (rc || !c->cache_entries)
		goto out;
	o.max_entries = c->cache_entries;
	o.max_bytes = (size_t)c->cache_mb << 20;
	o.lag_ms = c->cache_lag_ms;
	o.stale_ok_ms = c->stale_ok_ms;
	rc = gw_cache_new(&o, &g->cache);
	if (rc) {
		gw_status_set(st, rc, "cannot make a lookup cache of %u entries", c->cache_entries);
		goto out;
	}
	rc = gw_feed_start(g->rpc, g->cache, c, &g->feed, st);
out:
	if (rc && g) {
		gw_grpc_close(g);
		g = NULL;
	}
	*state = g;
	return rc;
}

static int grpc_cache_stats(void *state, struct mdsgw_cache_stats *out)
{
	struct gw_grpc *g = state;

	if (!g->cache)
		return MDSGW_ENOTSUP;
	gw_cache_stats(g->cache, out);
	return 0;
}

static void grpc_close(void *state)
{
	gw_grpc_close(state);
}

static int grpc_put(void *state, const struct mdsgw_put *p, uint64_t *version,
		    uint64_t *mtime_ns, int64_t deadline_ns, struct mdsgw_status *st)
{
	return gw_grpc_put(state, p, version, mtime_ns, deadline_ns, st);
}

static int grpc_del(void *state, const char *bucket, const char *name, const char *if_match,
		    const char *if_none_match, uint64_t *version, int64_t deadline_ns,
		    struct mdsgw_status *st)
{
	return gw_grpc_del(state, bucket, name, if_match, if_none_match, version, deadline_ns, st);
}

static int grpc_reserve(void *state, struct mdsgw_reservation *r, int64_t deadline_ns,
			struct mdsgw_status *st)
{
	return gw_grpc_reserve(state, r, deadline_ns, st);
}

static int grpc_commit(void *state, const char *token, const struct mdsgw_put *p,
		       uint64_t *version, uint64_t *mtime_ns, int64_t deadline_ns,
		       struct mdsgw_status *st)
{
	return gw_grpc_commit(state, token, p, version, mtime_ns, deadline_ns, st);
}

static int grpc_release(void *state, const char *token, int64_t deadline_ns,
			struct mdsgw_status *st)
{
	return gw_grpc_release(state, token, deadline_ns, st);
}

static int grpc_access(void *state, const struct mdsgw_access *a, int *allowed,
		       int64_t deadline_ns, struct mdsgw_status *st)
{
	return gw_grpc_access(state, a, allowed, deadline_ns, st);
}

const struct gw_provider gw_provider_grpc = {
	.name = "grpc",
	.caps = MDSGW_CAP_RESOLVE | MDSGW_CAP_LIST | MDSGW_CAP_PUT | MDSGW_CAP_QUOTA |
		MDSGW_CAP_ACCESS,
	.open = grpc_open,
	.close = grpc_close,
	.resolve = grpc_resolve,
	.list = grpc_list,
	.put = grpc_put,
	.del = grpc_del,
	.reserve = grpc_reserve,
	.commit = grpc_commit,
	.release = grpc_release,
	.access = grpc_access,
	.cache_stats = grpc_cache_stats,
};
