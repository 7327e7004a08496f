/*
 * rpc_convert.c - core records to protobuf-c messages (see rpc_convert.h).
 */
#include "rpc_convert.h"

#include <stdlib.h>
#include <string.h>

struct mds_arena_block {
	struct mds_arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define ARENA_BLOCK (64 * 1024)

void *mds_arena_alloc(struct mds_arena *a, size_t n)
{
	struct mds_arena_block *b = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (!b || b->cap - b->used < need) {
		size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (!b) {
			a->failed = 1;
			return NULL;
		}
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += need;
	memset(p, 0, n);
	return p;
}

char *mds_arena_str(struct mds_arena *a, struct mds_str s)
{
	char *p = mds_arena_alloc(a, s.len + 1);

	if (!p)
		return (char *)"";
	if (s.len)
		memcpy(p, s.p, s.len);
	p[s.len] = 0;
	return p;
}

void mds_arena_free(struct mds_arena *a)
{
	while (a->head) {
		struct mds_arena_block *b = a->head;

		a->head = b->next;
		free(b);
	}
	a->failed = 0;
}

void mds_rpc_team_to_pb(struct mds_arena *a, const struct mds_team *t, Mds__V1__Team *out)
{
	mds__v1__team__init(out);
	out->name = mds_arena_str(a, t->name);
	out->ctime_ns = t->ctime_ns;
	out->buckets = t->buckets;
	out->bytes = t->bytes;
	out->objects = t->objects;
}

void mds_rpc_bucket_to_pb(struct mds_arena *a, const struct mds_bucket *b,
			  Mds__V1__Bucket *out)
{
	mds__v1__bucket__init(out);
	out->name = mds_arena_str(a, b->name);
	out->team = mds_arena_str(a, b->team);
	out->id = b->id;
	out->ctime_ns = b->ctime_ns;
	out->bytes = b->bytes;
	out->objects = b->objects;
}

static int pairs_to_pb(struct mds_arena *a, struct mds_str raw, uint32_t n,
		       Mds__V1__KeyValue ***out, size_t *n_out)
{
	struct mds_str cur = raw;
	struct mds_pair pr;
	Mds__V1__KeyValue **v;
	size_t i = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return 0;
	v = mds_arena_alloc(a, n * sizeof(*v));
	if (!v)
		return 0;
	while (i < n && (rc = mds_pairs_next(&cur, &pr)) == 1) {
		Mds__V1__KeyValue *kv = mds_arena_alloc(a, sizeof(*kv));

		if (!kv)
			return 0;
		mds__v1__key_value__init(kv);
		kv->key = mds_arena_str(a, pr.key);
		kv->value = mds_arena_str(a, pr.value);
		v[i++] = kv;
	}
	if (i < n)
		return MDS_ECORRUPT;
	*out = v;
	*n_out = i;
	return 0;
}

int mds_rpc_object_to_pb(struct mds_arena *a, struct mds_str bucket, struct mds_str name,
			 const struct mds_object *o, Mds__V1__ObjectRecord *out)
{
	int rc;

	mds__v1__object_record__init(out);
	out->bucket = mds_arena_str(a, bucket);
	out->name = mds_arena_str(a, name);
	out->version = o->version;
	out->size = o->size;
	out->ctime_ns = o->ctime_ns;
	out->mtime_ns = o->mtime_ns;
	out->blob_type = (Mds__V1__BlobType)o->blob_type;
	out->etag = mds_arena_str(a, o->etag);
	out->content_type = mds_arena_str(a, o->content_type);
	out->locator.data = (uint8_t *)o->locator.p;
	out->locator.len = o->locator.len;
	out->committed_blocks = o->map_blocks;
	out->sealed = o->sealed != 0;
	out->copy_status = (Mds__V1__CopyStatusKind)o->copy_status;
	out->copy_id = mds_arena_str(a, o->copy_id);
	out->copy_source = mds_arena_str(a, o->copy_source);
	out->copy_bytes_copied = o->copy_progress;
	out->copy_bytes_total = o->copy_total;
	out->copy_completion_ns = o->copy_done_ns;
	out->copy_failure = mds_arena_str(a, o->copy_failure);
	out->lock_mode = o->retention_mode;
	out->lock_retain_until_ns = o->retain_until_ns;
	out->legal_hold = o->legal_hold != 0;
	rc = pairs_to_pb(a, o->meta_raw, o->n_meta, &out->metadata, &out->n_metadata);
	if (rc == 0)
		rc = pairs_to_pb(a, o->tags_raw, o->n_tags, &out->tags, &out->n_tags);
	return rc;
}

int mds_rpc_page_init(struct mds_rpc_page *pg, size_t limit)
{
	memset(pg, 0, sizeof(*pg));
	pg->limit = limit;
	pg->v = mds_arena_alloc(&pg->a, (limit ? limit : 1) * sizeof(*pg->v));
	return pg->v ? 0 : MDS_ENOMEM;
}

void *mds_rpc_page_slot(struct mds_rpc_page *pg, size_t size, int *stop)
{
	void *m;

	if (pg->n == pg->limit) {
		pg->truncated = 1;
		*stop = 1;
		return NULL;
	}
	m = mds_arena_alloc(&pg->a, size);
	if (!m) {
		*stop = MDS_ENOMEM;
		return NULL;
	}
	pg->v[pg->n++] = m;
	return m;
}

int mds_rpc_page_done(struct mds_rpc_page *pg, int rc, const char *what, struct mds_status *st)
{
	if (rc == 1)
		rc = 0;
	if (rc == 0 && pg->a.failed)
		rc = MDS_ENOMEM;
	if (rc != 0 && !st->msg[0])
		mds_status_set(st, rc, "cannot list %s: %s", what, mds_strerror(rc));
	return rc;
}
