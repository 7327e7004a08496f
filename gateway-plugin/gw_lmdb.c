/*
 * gw_lmdb.c - the lmdb: provider: the gateway runs on the same host as mds
 * and opens the island's LMDB environment read-only in its own process.
 * Resolve and list are plain reads of a snapshot (no network hop, no RPC,
 * no wait for the writer) and keep working while mds is down; puts and
 * deletes go to mds over gRPC (config mds=HOST:PORT) and fail closed.
 *
 * Readers: a struct mds_reader belongs to one thread at a time, so the
 * provider keeps a pool of them. A call pops one (or opens one, up to the
 * environment's reader slots), takes a fresh snapshot, reads, ends the
 * snapshot and pushes it back; the store is opened with MDB_NOTLS, so a
 * reader may move between threads. The pool only grows to the number of
 * threads that were ever inside a call at once.
 *
 * One environment per process: LMDB forbids opening the same environment
 * twice in one process (closing the second copy drops the first one's
 * locks; readers then fail). Handles that name the same directory (by
 * realpath) therefore share one struct mds_store, counted by `envs`
 * below; the last handle to close closes it.
 *
 * What must stay true: nothing read from a snapshot is used after
 * mds_reader_end(); every string handed to the gateway is copied first
 * (gw_object_build).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"
#include "mds/namespace.h"
#include "mds/store.h"

/* A store shared by every handle of this process that names its directory. */
struct gw_env {
	char *path;                 /* realpath of the directory (owned) */
	struct mds_store *s;
	unsigned refs;
	struct gw_env *next;
};

static pthread_mutex_t envs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gw_env *envs;

static int env_get(const char *dir, struct gw_env **out, struct mdsgw_status *st)
{
	struct mds_store_opts o = { 0 };
	struct mds_status ms = { 0 };
	struct gw_env *e;
	char *path = realpath(dir, NULL);
	int rc = 0;

	*out = NULL;
	if (!path)
		return gw_status_set(st, -errno, "cannot open the island store in '%s': %s", dir,
				     strerror(errno));
	pthread_mutex_lock(&envs_mu);
	for (e = envs; e; e = e->next)
		if (!strcmp(e->path, path))
			break;
	if (e) {
		e->refs++;
		free(path);
		*out = e;
		goto out;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(path);
		rc = gw_status_set(st, MDSGW_ENOMEM, "out of memory opening '%s'", dir);
		goto out;
	}
	e->path = path;
	o.read_only = 1;
	rc = mds_store_open(&e->s, path, &o, &ms);
	if (rc) {
		gw_status_set(st, rc, "cannot open the island store in '%s' read-only: %s", dir,
			      ms.msg[0] ? ms.msg : mdsgw_strerror(rc));
		free(e->path);
		free(e);
		goto out;
	}
	e->refs = 1;
	e->next = envs;
	envs = e;
	*out = e;
out:
	pthread_mutex_unlock(&envs_mu);
	return rc;
}

static void env_put(struct gw_env *e)
{
	struct gw_env **pp;

	if (!e)
		return;
	pthread_mutex_lock(&envs_mu);
	if (--e->refs == 0) {
		for (pp = &envs; *pp != e; pp = &(*pp)->next)
			;
		*pp = e->next;
		mds_store_close(e->s);
		free(e->path);
		free(e);
	}
	pthread_mutex_unlock(&envs_mu);
}

struct gw_lmdb {
	struct gw_env *env;
	struct mds_store *s;        /* env->s */
	struct gw_grpc *w;          /* writes; NULL when no mds= was given */
	struct gw_policy *policy;   /* access checks (gw_policy.c) */
	pthread_mutex_t mu;         /* guards the pool */
	struct mds_reader **pool;
	size_t n, cap;
};

static int from_mds(struct mdsgw_status *st, const struct mds_status *ms, int rc)
{
	return gw_status_set(st, rc, "%s", ms->msg[0] ? ms->msg : mdsgw_strerror(rc));
}

static int reader_get(struct gw_lmdb *l, struct mds_reader **out, struct mdsgw_status *st)
{
	int rc;

	*out = NULL;
	pthread_mutex_lock(&l->mu);
	if (l->n)
		*out = l->pool[--l->n];
	pthread_mutex_unlock(&l->mu);
	if (!*out) {
		rc = mds_reader_open(l->s, out);
		if (rc)
			return gw_status_set(st, rc, "cannot open an lmdb reader: %s%s",
					     mdsgw_strerror(rc), rc == MDSGW_EBUSY ?
					     " (all reader slots of the environment are taken)" : "");
	}
	rc = mds_reader_begin(*out);
	if (rc) {
		mds_reader_close(*out);
		*out = NULL;
		return gw_status_set(st, rc, "cannot begin an lmdb snapshot: %s", mdsgw_strerror(rc));
	}
	return 0;
}

static void reader_put(struct gw_lmdb *l, struct mds_reader *r)
{
	mds_reader_end(r);
	pthread_mutex_lock(&l->mu);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct mds_reader **np = realloc(l->pool, cap * sizeof(*np));

		if (!np) {
			pthread_mutex_unlock(&l->mu);
			mds_reader_close(r);
			return;
		}
		l->pool = np;
		l->cap = cap;
	}
	l->pool[l->n++] = r;
	pthread_mutex_unlock(&l->mu);
}

static int lmdb_open(const struct gw_conf *c, void **state, struct mdsgw_status *st)
{
	struct gw_lmdb *l;
	int rc;

	*state = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return gw_status_set(st, MDSGW_ENOMEM, "out of memory opening '%s'", c->target);
	pthread_mutex_init(&l->mu, NULL);
	rc = env_get(c->target, &l->env, st);
	if (rc)
		goto err;
	l->s = l->env->s;
	if (gw_policy_new(&l->policy)) {
		rc = gw_status_set(st, MDSGW_ENOMEM, "out of memory opening '%s'", c->target);
		goto err;
	}
	if (c->mds) {
		rc = gw_grpc_open_endpoint(c, c->mds, &l->w, st);
		if (rc)
			goto err;
	}
	*state = l;
	return 0;
err:
	gw_policy_free(l->policy);
	env_put(l->env);
	pthread_mutex_destroy(&l->mu);
	free(l);
	return rc;
}

static void lmdb_close(void *state)
{
	struct gw_lmdb *l = state;

	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		mds_reader_close(l->pool[i]);
	free(l->pool);
	gw_policy_free(l->policy);
	env_put(l->env);
	gw_grpc_close(l->w);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static struct mds_str mstr(const char *s)
{
	struct mds_str m = { s ? s : "", s ? strlen(s) : 0 };

	return m;
}

static struct gw_bytes gb(struct mds_str s)
{
	struct gw_bytes b = { s.p, s.len };

	return b;
}

#define PAIRS_STACK 32

/* Decode @o's pairs into @stack (or a malloc'd array in *heap) and fill @v. */
static int view_of(const struct mds_object *o, struct mds_str bucket, struct mds_str name,
		   struct gw_objview *v, struct gw_pair *stack, struct gw_pair **heap)
{
	size_t n = (size_t)o->n_meta + o->n_tags, i = 0;
	struct gw_pair *p = stack;
	struct mds_str raws[2] = { o->meta_raw, o->tags_raw };

	*heap = NULL;
	memset(v, 0, sizeof(*v));
	if (n > PAIRS_STACK) {
		p = *heap = malloc(n * sizeof(*p));
		if (!p)
			return MDSGW_ENOMEM;
	}
	for (int k = 0; k < 2; k++) {
		struct mds_str cur = raws[k];
		struct mds_pair pr;
		int rc;

		while ((rc = mds_pairs_next(&cur, &pr)) == 1) {
			if (i == n)
				return MDSGW_ECORRUPT;
			p[i].k = gb(pr.key);
			p[i].v = gb(pr.value);
			i++;
		}
		if (rc < 0)
			return MDSGW_ECORRUPT;
		if (k == 0 && i != o->n_meta)
			return MDSGW_ECORRUPT;
	}
	if (i != n)
		return MDSGW_ECORRUPT;
	v->meta = o->n_meta ? p : NULL;
	v->n_meta = o->n_meta;
	v->tags = o->n_tags ? p + o->n_meta : NULL;
	v->n_tags = o->n_tags;
	v->bucket = gb(bucket);
	v->name = gb(name);
	v->etag = gb(o->etag);
	v->content_type = gb(o->content_type);
	v->locator = gb(o->locator);
	v->version = o->version;
	v->content_size = o->size;
	v->ctime_ns = o->ctime_ns;
	v->mtime_ns = o->mtime_ns;
	v->blob_type = o->blob_type;
	return 0;
}

static int lmdb_resolve(void *state, const char *bucket, const char *name,
			struct mdsgw_object *out, int64_t deadline_ns, struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;
	struct mds_reader *r;
	struct mds_status ms = { 0 };
	struct mds_object o;
	struct gw_objview v;
	struct gw_pair stack[PAIRS_STACK], *heap = NULL;
	int rc;

	if (!gw_ms_left(deadline_ns))
		return gw_status_set(st, MDSGW_ETIMEDOUT, "resolve '%.60s/%.60s': the deadline had "
				     "passed before the call", bucket, name);
	rc = reader_get(l, &r, st);
	if (rc)
		return rc;
	rc = mds_object_head(r, mstr(bucket), mstr(name), &o, &ms);
	if (rc) {
		from_mds(st, &ms, rc);
		goto out;
	}
	rc = view_of(&o, mstr(bucket), mstr(name), &v, stack, &heap);
	if (rc == 0)
		rc = gw_object_build(&v, out, NULL, NULL);
	if (rc)
		gw_status_set(st, rc, "resolve '%.60s/%.60s': %s", bucket, name,
			      rc == MDSGW_ENOMEM ? "out of memory" : "the stored record does not decode");
out:
	free(heap);
	reader_put(l, r);
	return rc;
}

struct list_ctx {
	struct mds_str bucket;
	mdsgw_entry_fn emit;
	void *arg;
	void *scratch;
	size_t cap;
	int lib_rc;   /* an error of ours, as opposed to what emit returned */
};

static int list_emit(void *arg, const struct mds_list_entry *me)
{
	struct list_ctx *x = arg;
	struct mdsgw_entry e = { sizeof(e), 0, NULL, NULL };
	struct mdsgw_object obj;
	char name[MDS_OBJECT_NAME_MAX + 1];
	int rc;

	if (me->is_prefix || !me->obj) {
		size_t n = me->name.len > MDS_OBJECT_NAME_MAX ? MDS_OBJECT_NAME_MAX : me->name.len;

		memcpy(name, me->name.p, n);
		name[n] = '\0';
		e.is_prefix = 1;
		e.name = name;
	} else {
		struct gw_objview v;
		struct gw_pair stack[PAIRS_STACK], *heap = NULL;

		rc = view_of(me->obj, x->bucket, me->name, &v, stack, &heap);
		if (rc == 0)
			rc = gw_object_build(&v, &obj, &x->scratch, &x->cap);
		free(heap);
		if (rc)
			return x->lib_rc = rc;
		e.name = obj.name;
		e.obj = &obj;
	}
	return x->emit(x->arg, &e);
}

static int lmdb_list(void *state, const struct mdsgw_list_params *p, mdsgw_entry_fn emit,
		     void *arg, struct mdsgw_list_result *res, int64_t deadline_ns,
		     struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;
	struct mds_list_params mp;
	struct mds_list_result mr;
	struct list_ctx x = { mstr(p->bucket), emit, arg, NULL, 0, 0 };
	struct mds_status ms = { 0 };
	struct mds_reader *r;
	int rc;

	if (!gw_ms_left(deadline_ns))
		return gw_status_set(st, MDSGW_ETIMEDOUT, "list '%.60s': the deadline had passed "
				     "before the call", p->bucket);
	memset(&mp, 0, sizeof(mp));
	mp.style = p->style == MDSGW_LIST_AZURE ? MDS_LIST_AZURE : MDS_LIST_S3;
	mp.bucket = mstr(p->bucket);
	mp.prefix = mstr(p->prefix);
	mp.delimiter = mstr(p->delimiter);
	mp.start_after = mstr(p->start_after);
	mp.token = mstr(p->token);
	mp.max_keys = p->max_keys;
	rc = reader_get(l, &r, st);
	if (rc)
		return rc;
	rc = mds_list(r, &mp, list_emit, &x, &mr, &ms);
	if (rc == 0) {
		res->key_count = mr.key_count;
		res->truncated = mr.truncated ? 1 : 0;
		snprintf(res->next_token, sizeof(res->next_token), "%s", mr.next_token);
	} else if (x.lib_rc) {
		gw_status_set(st, rc, "list '%.60s': %s", p->bucket, rc == MDSGW_ENOMEM ?
			      "out of memory" : "a stored record does not decode");
	} else if (ms.code) {
		from_mds(st, &ms, rc);
	} else {
		gw_status_set(st, rc, "list '%.60s': stopped by the callback", p->bucket);
	}
	reader_put(l, r);
	free(x.scratch);
	return rc;
}

static int no_writer(struct mdsgw_status *st, const char *what, const char *bucket,
		     const char *name)
{
	return gw_status_set(st, MDSGW_EUNAVAIL, "%s '%.60s/%.60s' refused: this lmdb: handle has "
			     "no mds= endpoint for writes (fail closed)", what, bucket, name);
}

static int lmdb_put(void *state, const struct mdsgw_put *p, uint64_t *version,
		    uint64_t *mtime_ns, int64_t deadline_ns, struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;

	if (!l->w)
		return no_writer(st, "put", p->bucket, p->name);
	return gw_grpc_put(l->w, p, version, mtime_ns, deadline_ns, st);
}

static int lmdb_del(void *state, const char *bucket, const char *name, const char *if_match,
		    const char *if_none_match, uint64_t *version, int64_t deadline_ns,
		    struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;

	if (!l->w)
		return no_writer(st, "delete", bucket, name);
	return gw_grpc_del(l->w, bucket, name, if_match, if_none_match, version, deadline_ns, st);
}

static int lmdb_reserve(void *state, struct mdsgw_reservation *r, int64_t deadline_ns,
			struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;

	if (!l->w)
		return no_writer(st, "reserve", r->bucket, r->name);
	return gw_grpc_reserve(l->w, r, deadline_ns, st);
}

static int lmdb_commit(void *state, const char *token, const struct mdsgw_put *p,
		       uint64_t *version, uint64_t *mtime_ns, int64_t deadline_ns,
		       struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;

	if (!l->w)
		return no_writer(st, "commit", p->bucket, p->name);
	return gw_grpc_commit(l->w, token, p, version, mtime_ns, deadline_ns, st);
}

static int lmdb_release(void *state, const char *token, int64_t deadline_ns,
			struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;

	if (!l->w)
		return gw_status_set(st, MDSGW_EUNAVAIL, "release refused: this lmdb: handle has "
				     "no mds= endpoint for writes (fail closed)");
	return gw_grpc_release(l->w, token, deadline_ns, st);
}

static int lmdb_access(void *state, const struct mdsgw_access *a, int *allowed,
		       int64_t deadline_ns, struct mdsgw_status *st)
{
	struct gw_lmdb *l = state;
	struct mds_reader *r;
	int rc;

	if (!gw_ms_left(deadline_ns))
		return gw_status_set(st, MDSGW_ETIMEDOUT, "access check for '%.60s': the deadline "
				     "had passed before the call", a->principal);
	rc = reader_get(l, &r, st);
	if (rc)
		return rc;
	rc = gw_policy_check(l->policy, r, a, allowed, st);
	reader_put(l, r);
	return rc;
}

const struct gw_provider gw_provider_lmdb = {
	.name = "lmdb",
	.caps = MDSGW_CAP_RESOLVE | MDSGW_CAP_LIST | MDSGW_CAP_PUT | MDSGW_CAP_QUOTA |
		MDSGW_CAP_LOCAL | MDSGW_CAP_ACCESS,
	.open = lmdb_open,
	.close = lmdb_close,
	.resolve = lmdb_resolve,
	.list = lmdb_list,
	.put = lmdb_put,
	.del = lmdb_del,
	.reserve = lmdb_reserve,
	.commit = lmdb_commit,
	.release = lmdb_release,
	.access = lmdb_access,
};
