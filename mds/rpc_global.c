/*
 * rpc_global.c - the mds.v1.Global service (global.proto): the read-only
 * global view over this island's live namespace and every peer island's
 * verified state (global_view.h), plus the subscriber's status
 * (federation.h).
 *
 * Every read runs in ONE snapshot of the worker's reader, which holds both
 * the local namespace and the view; each peer island's part is labelled
 * with the cursor stored in that same snapshot, so a label always says
 * exactly which signed checkpoint the part is correct as of. The island's
 * own part is the live store (origin = its feed origin, state PEER_LOCAL,
 * size = its log size in the snapshot).
 *
 * Paging (ListObjects): entries are ordered by (name, origin). Each island
 * contributes at most max_keys + 1 entries after the position, the union is
 * sorted and cut at max_keys, so a page costs O(islands x page). The
 * continuation token is the hex of u16 name length, name, origin of the last
 * entry sent.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "federation.h"
#include "feed_log.h"
#include "global.pb-c.h"
#include "global_view.h"
#include "record.h"
#include "rpc.h"
#include "rpc_convert.h"
#include "util.h"

#define ISLANDS_MAX 64

struct island {
	char origin[MDS_GV_ORIGIN_MAX + 1];
	int local;
	Mds__V1__IslandAsOf as_of;
	uint8_t root[32];
};

struct islands {
	struct island v[ISLANDS_MAX];
	size_t n;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *local_origin(struct mds_rpc_call *c)
{
	const char *o = mds_server_origin(c->server);

	return o[0] ? o : "local";
}

static struct island *island_add(struct islands *is, const char *origin, size_t len)
{
	struct island *x;

	for (size_t i = 0; i < is->n; i++)
		if (strlen(is->v[i].origin) == len && memcmp(is->v[i].origin, origin, len) == 0)
			return &is->v[i];
	if (is->n == ISLANDS_MAX || len > MDS_GV_ORIGIN_MAX)
		return NULL;
	x = &is->v[is->n++];
	memset(x, 0, sizeof(*x));
	memcpy(x->origin, origin, len);
	mds__v1__island_as_of__init(&x->as_of);
	x->as_of.origin = x->origin;
	x->as_of.root.data = x->root;
	x->as_of.root.len = 32;
	return x;
}

static int cursor_island(void *arg, struct mds_str origin, const struct mds_gv_cursor *cur)
{
	struct islands *is = arg;
	struct island *x = island_add(is, origin.p, origin.len);

	if (!x)
		return 0;
	x->as_of.size = cur->size;
	memcpy(x->root, cur->root, 32);
	x->as_of.checkpoint_ms = cur->checkpoint_ms;
	x->as_of.state = cur->frozen ? MDS__V1__PEER_STATE__PEER_FORKED : MDS__V1__PEER_STATE__PEER_STALE;
	return 0;
}

/*
 * Every island of an answer: this one (live), each stored cursor, each
 * configured peer (state from the subscriber); only those in @filter when
 * it is not empty (an unknown one is NOT_FOUND).
 */
static int islands_collect(struct mds_rpc_call *c, char **filter, size_t n_filter,
			   struct islands *is, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(c->reader);
	struct mds_federation *f = mds_server_federation(c->server);
	struct mds_merkle_store ms;
	struct island *self;
	struct islands all;
	int rc;

	all.n = 0;
	self = island_add(&all, local_origin(c), strlen(local_origin(c)));
	self->local = 1;
	self->as_of.state = MDS__V1__PEER_STATE__PEER_LOCAL;
	self->as_of.checkpoint_ms = now_ms();
	rc = mds_feed_log_size(t, &self->as_of.size);
	mds_feed_log_merkle(t, &ms);
	if (rc == 0)
		rc = mds_merkle_root(&ms, self->as_of.size, self->root);
	if (rc)
		return mds_status_set(st, rc, "cannot read this island's feed: %s", mds_strerror(rc));
	rc = mds_gv_cursor_list(t, cursor_island, &all);
	if (rc)
		return mds_status_set(st, rc, "cannot read the global view's cursors: %s",
				      mds_strerror(rc));
	for (size_t i = 0; i < mds_federation_count(f); i++) {
		struct mds_peer_status ps;
		struct island *x;

		mds_federation_status(f, i, &ps);
		x = island_add(&all, ps.origin, strlen(ps.origin));
		if (x)
			x->as_of.state = (Mds__V1__PeerState)ps.state;
	}
	is->n = 0;
	for (size_t i = 0; i < all.n; i++) {
		int keep = n_filter == 0;

		for (size_t j = 0; j < n_filter; j++)
			if (strcmp(filter[j], all.v[i].origin) == 0)
				keep = 1;
		if (keep) {
			is->v[is->n] = all.v[i];
			is->v[is->n].as_of.origin = is->v[is->n].origin;
			is->v[is->n].as_of.root.data = is->v[is->n].root;
			is->n++;
		}
	}
	for (size_t j = 0; j < n_filter; j++) {
		int found = 0;

		for (size_t i = 0; i < is->n; i++)
			if (strcmp(filter[j], is->v[i].origin) == 0)
				found = 1;
		if (!found)
			return mds_status_set(st, MDS_ENOTFOUND, "island '%s' is neither this island "
					      "nor a peer in the global view", filter[j]);
	}
	return 0;
}

static Mds__V1__IslandAsOf **as_of_list(struct mds_arena *a, struct islands *is)
{
	Mds__V1__IslandAsOf **v = mds_arena_alloc(a, (is->n ? is->n : 1) * sizeof(*v));

	for (size_t i = 0; v && i < is->n; i++)
		v[i] = &is->v[i].as_of;
	return v;
}

/* ---- ListObjects -------------------------------------------------------------- */

struct ent {
	const char *name;       /* arena copy, NUL-terminated */
	size_t name_len;
	size_t island;
	Mds__V1__ObjectRecord *rec;
};

struct list_ctx {
	struct mds_arena a;
	struct ent *v;
	size_t n, cap;
	size_t island;          /* the island being collected */
	size_t left;            /* entries it may still add */
	struct mds_str bucket;
	int failed;
};

static int ent_add(struct list_ctx *l, struct mds_str name, const struct mds_object *o)
{
	struct ent *e;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		struct ent *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return MDS_ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	e = &l->v[l->n];
	e->name = mds_arena_str(&l->a, name);
	e->name_len = name.len;
	e->island = l->island;
	e->rec = mds_arena_alloc(&l->a, sizeof(*e->rec));
	if (!e->rec || l->a.failed)
		return MDS_ENOMEM;
	if (mds_rpc_object_to_pb(&l->a, l->bucket, name, o, e->rec) != 0)
		return MDS_ECORRUPT;
	l->n++;
	return --l->left == 0 ? 1 : 0;
}

static int local_emit(void *arg, const struct mds_list_entry *e)
{
	if (e->is_prefix || !e->obj)
		return 0;
	return ent_add(arg, e->name, e->obj);
}

static int ent_cmp(const void *x, const void *y, void *arg)
{
	const struct ent *a = x, *b = y;
	const struct islands *is = arg;
	int c = mds_str_cmp((struct mds_str){ a->name, a->name_len },
			    (struct mds_str){ b->name, b->name_len });

	return c ? c : strcmp(is->v[a->island].origin, is->v[b->island].origin);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* token: hex(u16 BE name length, name, origin) */
static int token_decode(const char *tok, char *name, size_t *name_len, char *origin,
			struct mds_status *st)
{
	size_t n = strlen(tok), blen;
	uint8_t buf[2 + MDS_OBJECT_NAME_MAX + MDS_GV_ORIGIN_MAX];

	if (n % 2 || n / 2 < 3 || n / 2 > sizeof(buf))
		goto bad;
	blen = n / 2;
	for (size_t i = 0; i < blen; i++) {
		int h = hexval(tok[2 * i]), l = hexval(tok[2 * i + 1]);

		if (h < 0 || l < 0)
			goto bad;
		buf[i] = (uint8_t)(h << 4 | l);
	}
	*name_len = (size_t)buf[0] << 8 | buf[1];
	if (*name_len == 0 || *name_len > MDS_OBJECT_NAME_MAX || 2 + *name_len >= blen ||
	    blen - 2 - *name_len > MDS_GV_ORIGIN_MAX)
		goto bad;
	memcpy(name, buf + 2, *name_len);
	memcpy(origin, buf + 2 + *name_len, blen - 2 - *name_len);
	origin[blen - 2 - *name_len] = 0;
	return 0;
bad:
	return mds_status_set(st, MDS_EINVAL, "continuation_token is not one this service returned");
}

static char *token_encode(struct mds_arena *a, const struct ent *e, const char *origin)
{
	size_t ol = strlen(origin), n = 2 + e->name_len + ol;
	char *out = mds_arena_alloc(a, 2 * n + 1);
	static const char hex[] = "0123456789abcdef";
	uint8_t hdr[2] = { (uint8_t)(e->name_len >> 8), (uint8_t)e->name_len };
	size_t k = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = i < 2 ? hdr[i] : i < 2 + e->name_len ? (uint8_t)e->name[i - 2]
								 : (uint8_t)origin[i - 2 - e->name_len];

		out[k++] = hex[b >> 4];
		out[k++] = hex[b & 15];
	}
	out[k] = 0;
	return out;
}

/* Collect island @i's entries after the position into @l. */
static int collect_island(struct mds_rpc_call *c, struct list_ctx *l, struct islands *is,
			  size_t i, struct mds_str prefix, struct mds_str after, int inclusive,
			  size_t limit, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(c->reader);
	struct island *x = &is->v[i];
	int rc = 0;

	l->island = i;
	l->left = limit;
	if (x->local) {
		long got;

		if (inclusive && after.len && mds_str_has_prefix(after, prefix)) {
			struct mds_object o;
			struct mds_status hst;

			rc = mds_object_head(c->reader, l->bucket, after, &o, &hst);
			if (rc == 0 && (rc = ent_add(l, after, &o)) == 1)
				return 0;
			if (rc == MDS_ENOTFOUND)
				rc = 0;
			if (rc)
				return mds_status_set(st, rc, "cannot read '%s': %s", x->origin,
						      mds_strerror(rc));
		}
		got = mds_list_stream(c->reader, l->bucket, prefix, after, l->left, local_emit, l, st);
		if (got == MDS_ENOTFOUND || got >= 0)
			return 0;
		return (int)got;
	}
	{
		struct mds_gv_iter *g = NULL;
		struct mds_gv_object o;

		rc = mds_gv_iter_open(t, (struct mds_str){ x->origin, strlen(x->origin) }, l->bucket,
				      prefix, after, inclusive, &g);
		if (rc == MDS_ENOTFOUND)
			return 0;
		while (rc == 0 && (rc = mds_gv_iter_get(g, &o)) == 0) {
			struct mds_object dec;

			if (mds_object_decode(o.record.p, o.record.len, &dec) != 0) {
				rc = MDS_ECORRUPT;
				break;
			}
			rc = ent_add(l, o.name, &dec);
			if (rc)
				break;
			rc = mds_gv_iter_next(g);
		}
		mds_gv_iter_close(g);
		if (rc == 1 || rc == MDS_ENOTFOUND)
			return 0;
		return mds_status_set(st, rc, "cannot list the view of '%s': %s", x->origin,
				      mds_strerror(rc));
	}
}

static int global_list_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GlobalListRequest *r = (const void *)c->req;
	Mds__V1__GlobalListResponse resp = MDS__V1__GLOBAL_LIST_RESPONSE__INIT;
	Mds__V1__GlobalObject *objs = NULL, **objp = NULL;
	struct islands *is = calloc(1, sizeof(*is));
	struct list_ctx l;
	struct mds_str prefix = mds_rpc_str(r->prefix), sa = mds_rpc_str(r->start_after);
	char *tname = NULL, torigin[MDS_GV_ORIGIN_MAX + 1] = "";
	size_t tlen = 0, max = r->max_keys == 0 || r->max_keys > 1000 ? 1000 : r->max_keys, out;
	int rc;

	memset(&l, 0, sizeof(l));
	l.bucket = mds_rpc_str(r->bucket);
	if (!is || !(tname = malloc(MDS_OBJECT_NAME_MAX))) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_validate_bucket_name(l.bucket, st);
	if (rc)
		goto out;
	if (prefix.len > MDS_OBJECT_NAME_MAX || sa.len > MDS_OBJECT_NAME_MAX) {
		rc = mds_status_set(st, MDS_EINVAL, "prefix and start_after have at most %d bytes",
				    MDS_OBJECT_NAME_MAX);
		goto out;
	}
	if (r->continuation_token && r->continuation_token[0]) {
		rc = token_decode(r->continuation_token, tname, &tlen, torigin, st);
		if (rc)
			goto out;
	}
	rc = islands_collect(c, r->origins, r->n_origins, is, st);
	if (rc)
		goto out;
	for (size_t i = 0; i < is->n; i++) {
		struct mds_str after = tlen ? (struct mds_str){ tname, tlen } : sa;
		int inclusive = tlen ? strcmp(is->v[i].origin, torigin) > 0 : after.len == 0;

		rc = collect_island(c, &l, is, i, prefix, after, inclusive, max + 1, st);
		if (rc)
			goto out;
	}
	if (l.n > 1)
		qsort_r(l.v, l.n, sizeof(*l.v), ent_cmp, is);
	out = l.n > max ? max : l.n;
	objs = calloc(out ? out : 1, sizeof(*objs));
	objp = calloc(out ? out : 1, sizeof(*objp));
	if (!objs || !objp) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < out; i++) {
		mds__v1__global_object__init(&objs[i]);
		objs[i].origin = is->v[l.v[i].island].origin;
		objs[i].object = l.v[i].rec;
		objp[i] = &objs[i];
	}
	resp.objects = objp;
	resp.n_objects = out;
	resp.truncated = l.n > max;
	if (resp.truncated && out)
		resp.next_continuation_token = token_encode(&l.a, &l.v[out - 1],
							    is->v[l.v[out - 1].island].origin);
	resp.as_of = as_of_list(&l.a, is);
	resp.n_as_of = is->n;
	if (l.a.failed || (resp.truncated && out && !resp.next_continuation_token)) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&l.a);
	free(l.v);
	free(objs);
	free(objp);
	free(tname);
	free(is);
	return rc;
}

/* ---- GetObject ------------------------------------------------------------------ */

static int global_get_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GlobalGetRequest *r = (const void *)c->req;
	Mds__V1__GlobalGetResponse resp = MDS__V1__GLOBAL_GET_RESPONSE__INIT;
	Mds__V1__GlobalObject objs[ISLANDS_MAX], *objp[ISLANDS_MAX];
	struct islands *is = calloc(1, sizeof(*is));
	struct mds_str bucket = mds_rpc_str(r->bucket), name = mds_rpc_str(r->name);
	struct mds_arena a = { 0 };
	char *filter[1] = { r->origin };
	size_t n = 0;
	int rc;

	if (!is)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	rc = mds_validate_bucket_name(bucket, st);
	if (rc == 0)
		rc = mds_validate_object_name(name, st);
	if (rc == 0)
		rc = islands_collect(c, filter, r->origin && r->origin[0] ? 1 : 0, is, st);
	for (size_t i = 0; rc == 0 && i < is->n; i++) {
		struct mds_object o;
		Mds__V1__ObjectRecord *rec;

		if (is->v[i].local) {
			struct mds_status hst;

			rc = mds_object_head(c->reader, bucket, name, &o, &hst);
		} else {
			struct mds_gv_object go;

			rc = mds_gv_object_get(mds_reader_txn(c->reader),
					       (struct mds_str){ is->v[i].origin, strlen(is->v[i].origin) },
					       bucket, name, &go);
			if (rc == 0 && mds_object_decode(go.record.p, go.record.len, &o) != 0)
				rc = MDS_ECORRUPT;
		}
		if (rc == MDS_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc) {
			mds_status_set(st, rc, "cannot read '%s' on '%s': %s", r->name,
				       is->v[i].origin, mds_strerror(rc));
			break;
		}
		rec = mds_arena_alloc(&a, sizeof(*rec));
		if (!rec || mds_rpc_object_to_pb(&a, bucket, name, &o, rec) != 0) {
			rc = mds_status_set(st, MDS_ECORRUPT, "cannot convert '%s' on '%s'", r->name,
					    is->v[i].origin);
			break;
		}
		mds__v1__global_object__init(&objs[n]);
		objs[n].origin = is->v[i].origin;
		objs[n].object = rec;
		objp[n] = &objs[n];
		n++;
	}
	if (rc == 0 && n == 0)
		rc = mds_status_set(st, MDS_ENOTFOUND, "object '%s' in bucket '%s' is on no island%s%s",
				    r->name, r->bucket, r->origin[0] ? " named " : "", r->origin);
	if (rc == 0) {
		resp.objects = objp;
		resp.n_objects = n;
		resp.as_of = as_of_list(&a, is);
		resp.n_as_of = is->n;
		rc = a.failed ? mds_status_set(st, MDS_ENOMEM, "out of memory")
			      : mds_rpc_reply(c, &resp.base);
	}
	mds_arena_free(&a);
	free(is);
	return rc;
}

/* ---- Usage ---------------------------------------------------------------------- */

struct urow {
	char team[MDS_TEAM_NAME_MAX + 1];
	size_t island;
	uint64_t bytes, objects;
};

struct usage_ctx {
	struct urow *v;
	size_t n, cap;
	struct islands *is;
	size_t local;
};

static int urow_add(struct usage_ctx *u, struct mds_str team, size_t island, uint64_t bytes,
		    uint64_t objects)
{
	if (team.len > MDS_TEAM_NAME_MAX)
		return MDS_ECORRUPT;
	if (u->n == u->cap) {
		size_t nc = u->cap ? 2 * u->cap : 64;
		struct urow *nv = realloc(u->v, nc * sizeof(*nv));

		if (!nv)
			return MDS_ENOMEM;
		u->v = nv;
		u->cap = nc;
	}
	memcpy(u->v[u->n].team, team.p, team.len);
	u->v[u->n].team[team.len] = 0;
	u->v[u->n].island = island;
	u->v[u->n].bytes = bytes;
	u->v[u->n].objects = objects;
	u->n++;
	return 0;
}

static int local_team(void *arg, const struct mds_team *t)
{
	struct usage_ctx *u = arg;

	return urow_add(u, t->name, u->local, t->bytes, t->objects);
}

static int view_usage(void *arg, const struct mds_gv_usage *g)
{
	struct usage_ctx *u = arg;

	for (size_t i = 0; i < u->is->n; i++)
		if (!u->is->v[i].local && strlen(u->is->v[i].origin) == g->origin.len &&
		    memcmp(u->is->v[i].origin, g->origin.p, g->origin.len) == 0)
			return urow_add(u, g->team, i, g->bytes, g->objects);
	return 0;
}

static int urow_cmp(const void *x, const void *y, void *arg)
{
	const struct urow *a = x, *b = y;
	const struct islands *is = arg;
	int c = strcmp(a->team, b->team);

	return c ? c : strcmp(is->v[a->island].origin, is->v[b->island].origin);
}

static int global_usage_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GlobalUsageRequest *r = (const void *)c->req;
	Mds__V1__GlobalUsageResponse resp = MDS__V1__GLOBAL_USAGE_RESPONSE__INIT;
	struct usage_ctx u = { 0 };
	struct mds_arena a = { 0 };
	struct mds_str team = mds_rpc_str(r->team);
	Mds__V1__GlobalTeamUsage **teams = NULL;
	size_t n_teams = 0;
	int rc;

	u.is = calloc(1, sizeof(*u.is));
	if (!u.is)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	if (team.len && (rc = mds_validate_team_name(team, st)) != 0)
		goto out;
	rc = islands_collect(c, NULL, 0, u.is, st);
	if (rc)
		goto out;
	for (size_t i = 0; i < u.is->n; i++)
		if (u.is->v[i].local)
			u.local = i;
	if (team.len) {
		struct mds_team t;
		struct mds_status tst;

		rc = mds_team_get(c->reader, team, &t, &tst);
		if (rc == 0)
			rc = local_team(&u, &t);
		else if (rc == MDS_ENOTFOUND)
			rc = 0;
	} else {
		rc = mds_team_list(c->reader, MDS_STR_NULL, 0, local_team, &u, st);
	}
	if (rc == 0)
		rc = mds_gv_usage_list(mds_reader_txn(c->reader), team, view_usage, &u);
	if (rc) {
		mds_status_set(st, rc, "cannot read usage: %s", mds_strerror(rc));
		goto out;
	}
	if (u.n > 1)
		qsort_r(u.v, u.n, sizeof(*u.v), urow_cmp, u.is);
	teams = mds_arena_alloc(&a, (u.n ? u.n : 1) * sizeof(*teams));
	for (size_t i = 0; teams && i < u.n;) {
		size_t j = i;
		Mds__V1__GlobalTeamUsage *gt = mds_arena_alloc(&a, sizeof(*gt));

		while (j < u.n && strcmp(u.v[j].team, u.v[i].team) == 0)
			j++;
		if (!gt)
			break;
		mds__v1__global_team_usage__init(gt);
		gt->team = u.v[i].team;
		gt->islands = mds_arena_alloc(&a, (j - i) * sizeof(*gt->islands));
		if (!gt->islands)
			break;
		for (size_t k = i; k < j; k++) {
			Mds__V1__TeamIslandUsage *iu = mds_arena_alloc(&a, sizeof(*iu));

			if (!iu)
				break;
			mds__v1__team_island_usage__init(iu);
			iu->origin = u.is->v[u.v[k].island].origin;
			iu->bytes = u.v[k].bytes;
			iu->objects = u.v[k].objects;
			gt->islands[gt->n_islands++] = iu;
			gt->bytes += iu->bytes;
			gt->objects += iu->objects;
		}
		teams[n_teams++] = gt;
		i = j;
	}
	resp.teams = teams;
	resp.n_teams = n_teams;
	resp.as_of = as_of_list(&a, u.is);
	resp.n_as_of = u.is->n;
	rc = a.failed ? mds_status_set(st, MDS_ENOMEM, "out of memory") : mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&a);
	free(u.v);
	free(u.is);
	return rc;
}

/* ---- Peers and ResetPeer -------------------------------------------------------- */

static int peers_run(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__PeersResponse resp = MDS__V1__PEERS_RESPONSE__INIT;
	struct mds_federation *f = mds_server_federation(c->server);
	size_t n = mds_federation_count(f);
	struct mds_peer_status *ps = calloc(n ? n : 1, sizeof(*ps));
	Mds__V1__PeerStatus *v = calloc(n ? n : 1, sizeof(*v)), **vp = calloc(n ? n : 1, sizeof(*vp));
	struct islands *is = calloc(1, sizeof(*is));
	int rc;

	if (!ps || !v || !vp || !is) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = islands_collect(c, NULL, 0, is, st);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		mds_federation_status(f, i, &ps[i]);
		mds__v1__peer_status__init(&v[i]);
		v[i].origin = ps[i].origin;
		v[i].address = ps[i].address;
		v[i].state = (Mds__V1__PeerState)ps[i].state;
		v[i].applied_size = ps[i].applied_size;
		v[i].applied_root.data = ps[i].applied_root;
		v[i].applied_root.len = 32;
		v[i].source_size = ps[i].source_size;
		v[i].lag_leaves = ps[i].lag_leaves;
		v[i].lag_ms = ps[i].lag_ms;
		v[i].last_checkpoint_ms = ps[i].last_checkpoint_ms;
		v[i].last_contact_ms = ps[i].last_contact_ms;
		v[i].last_error = ps[i].last_error;
		v[i].tamper_alarms = ps[i].tamper_alarms;
		v[i].fork_alarms = ps[i].fork_alarms;
		v[i].reconnects = ps[i].reconnects;
		vp[i] = &v[i];
	}
	resp.peers = vp;
	resp.n_peers = n;
	for (size_t i = 0; i < is->n; i++)
		if (is->v[i].local)
			resp.self = &is->v[i].as_of;
	rc = mds_rpc_reply(c, &resp.base);
out:
	free(ps);
	free(v);
	free(vp);
	free(is);
	return rc;
}

static int reset_peer_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ResetPeerRequest *r = (const void *)c->req;
	Mds__V1__ResetPeerResponse resp = MDS__V1__RESET_PEER_RESPONSE__INIT;
	int rc;

	if (!r->origin[0])
		return mds_status_set(st, MDS_EINVAL, "origin is required");
	rc = mds_federation_reset(mds_server_federation(c->server), r->origin, st);
	if (rc)
		return rc;
	return mds_rpc_reply(c, &resp.base);
}

static const char *evidence_kind(uint8_t k)
{
	switch (k) {
	case MDS_GV_EV_FORK: return "fork";
	case MDS_GV_EV_ROLLBACK: return "rollback";
	case MDS_GV_EV_TAMPER: return "tamper";
	case MDS_GV_EV_FORGED: return "forged";
	case MDS_GV_EV_RESET: return "reset";
	default: return "unknown";
	}
}

struct ev_ctx {
	struct mds_arena a;
	Mds__V1__EvidenceRecord **v;
	size_t n, cap;
};

static int ev_collect(void *arg, const struct mds_gv_evidence_rec *e)
{
	struct ev_ctx *x = arg;
	Mds__V1__EvidenceRecord *r;
	size_t np = e->ev.proof.len / 32;

	if (x->n == x->cap) {
		size_t nc = x->cap ? 2 * x->cap : 16;
		Mds__V1__EvidenceRecord **nv = realloc(x->v, nc * sizeof(*nv));

		if (!nv)
			return MDS_ENOMEM;
		x->v = nv;
		x->cap = nc;
	}
	r = mds_arena_alloc(&x->a, sizeof(*r));
	if (!r)
		return MDS_ENOMEM;
	mds__v1__evidence_record__init(r);
	r->n = e->n;
	r->kind = (char *)evidence_kind(e->ev.kind);
	r->time_ms = e->ev.time_ms;
	r->applied_note.data = (uint8_t *)e->ev.applied_note.p;
	r->applied_note.len = e->ev.applied_note.len;
	r->offending_note.data = (uint8_t *)e->ev.offending_note.p;
	r->offending_note.len = e->ev.offending_note.len;
	r->proof = mds_arena_alloc(&x->a, (np ? np : 1) * sizeof(*r->proof));
	if (!r->proof)
		return MDS_ENOMEM;
	for (size_t i = 0; i < np; i++) {
		r->proof[i].data = (uint8_t *)e->ev.proof.p + 32 * i;
		r->proof[i].len = 32;
	}
	r->n_proof = np;
	r->message = mds_arena_str(&x->a, e->ev.message);
	x->v[x->n++] = r;
	return 0;
}

static int evidence_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__EvidenceRequest *r = (const void *)c->req;
	Mds__V1__EvidenceResponse resp = MDS__V1__EVIDENCE_RESPONSE__INIT;
	struct ev_ctx x;
	struct mds_str origin = mds_rpc_str(r->origin);
	int rc;

	memset(&x, 0, sizeof(x));
	if (origin.len == 0 || origin.len > MDS_GV_ORIGIN_MAX)
		return mds_status_set(st, MDS_EINVAL, "origin must have 1 to %d bytes",
				      MDS_GV_ORIGIN_MAX);
	rc = mds_gv_evidence_list(mds_reader_txn(c->reader), origin, ev_collect, &x);
	if (rc) {
		mds_status_set(st, rc, "cannot read the evidence of '%s': %s", r->origin,
			       mds_strerror(rc));
		goto out;
	}
	resp.records = x.v;
	resp.n_records = x.n;
	rc = x.a.failed ? mds_status_set(st, MDS_ENOMEM, "out of memory") : mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&x.a);
	free(x.v);
	return rc;
}

#define GD(m) "/mds.v1.Global/" m

/* Names differ from the Namespace service's (the gate routes by name). */
const struct mds_rpc_method mds_rpc_global_methods[] = {
	{ GD("ListObjects"), "GlobalListObjects", MDS_RPC_READ,
	  &mds__v1__global_list_request__descriptor, global_list_run, NULL, 0 },
	{ GD("GetObject"), "GlobalGetObject", MDS_RPC_READ,
	  &mds__v1__global_get_request__descriptor, global_get_run, NULL, 0 },
	{ GD("Usage"), "GlobalUsage", MDS_RPC_READ,
	  &mds__v1__global_usage_request__descriptor, global_usage_run, NULL, 0 },
	{ GD("Peers"), "Peers", MDS_RPC_READ,
	  &mds__v1__peers_request__descriptor, peers_run, NULL, 0 },
	{ GD("ResetPeer"), "ResetPeer", MDS_RPC_READ,
	  &mds__v1__reset_peer_request__descriptor, reset_peer_run, NULL, 0 },
	{ GD("Evidence"), "PeerEvidence", MDS_RPC_READ,
	  &mds__v1__evidence_request__descriptor, evidence_run, NULL, 0 },
};
const size_t mds_rpc_global_count =
	sizeof(mds_rpc_global_methods) / sizeof(mds_rpc_global_methods[0]);
