/*
 * gw_object.c - turning a record a provider found (struct gw_objview,
 * borrowed strings) into the struct mdsgw_object a gateway reads.
 *
 * One block holds everything: the key/value arrays first (so they are
 * aligned), then every string with a NUL after it. A resolved record owns
 * its block (mem_); a listing reuses one scratch block for every entry of
 * a page, so a page costs one allocation at most, not one per entry.
 */
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

static size_t pairs_len(const struct gw_pair *p, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += p[i].k.len + 1 + p[i].v.len + 1;
	return total;
}

static const char *put_str(char **at, struct gw_bytes b)
{
	char *s = *at;

	if (b.len)
		memcpy(s, b.p, b.len);
	s[b.len] = '\0';
	*at = s + b.len + 1;
	return s;
}

static void put_pairs(char **at, struct mdsgw_kv *kv, const struct gw_pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kv[i].key = put_str(at, p[i].k);
		kv[i].value = put_str(at, p[i].v);
	}
}

int gw_object_build(const struct gw_objview *v, struct mdsgw_object *out, void **scratch,
		    size_t *scratch_cap)
{
	size_t nkv = v->n_meta + v->n_tags;
	size_t need = nkv * sizeof(struct mdsgw_kv) +
		v->bucket.len + v->name.len + v->etag.len + v->content_type.len +
		v->locator.len + 5 + pairs_len(v->meta, v->n_meta) + pairs_len(v->tags, v->n_tags) +
		v->origin.len + 1;
	char *mem, *at;
	struct mdsgw_kv *kv;

	if (scratch) {
		if (*scratch_cap < need) {
			size_t cap = need < 4096 ? 4096 : need * 2;
			void *nb = realloc(*scratch, cap);

			if (!nb)
				return MDSGW_ENOMEM;
			*scratch = nb;
			*scratch_cap = cap;
		}
		mem = *scratch;
	} else {
		mem = malloc(need);
		if (!mem)
			return MDSGW_ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->mem_ = scratch ? NULL : mem;
	kv = (struct mdsgw_kv *)(void *)mem;
	at = mem + nkv * sizeof(struct mdsgw_kv);
	out->bucket = put_str(&at, v->bucket);
	out->name = put_str(&at, v->name);
	out->etag = put_str(&at, v->etag);
	out->content_type = put_str(&at, v->content_type);
	out->locator = (const unsigned char *)put_str(&at, v->locator);
	out->locator_len = v->locator.len;
	put_pairs(&at, kv, v->meta, v->n_meta);
	put_pairs(&at, kv + v->n_meta, v->tags, v->n_tags);
	out->meta = v->n_meta ? kv : NULL;
	out->n_meta = v->n_meta;
	out->tags = v->n_tags ? kv + v->n_meta : NULL;
	out->n_tags = v->n_tags;
	out->version = v->version;
	out->content_size = v->content_size;
	out->ctime_ns = v->ctime_ns;
	out->mtime_ns = v->mtime_ns;
	out->blob_type = v->blob_type;
	out->origin = v->origin.p ? put_str(&at, v->origin) : NULL;
	return 0;
}

static struct gw_bytes bytes_of(const char *s)
{
	struct gw_bytes b = { s ? s : "", s ? strlen(s) : 0 };

	return b;
}

int gw_object_copy(const struct mdsgw_object *src, struct mdsgw_object *dst, size_t *bytes)
{
	struct gw_objview v;
	struct gw_pair stack[16], *p = stack;
	size_t n = src->n_meta + src->n_tags;
	int rc;

	if (n > sizeof(stack) / sizeof(stack[0])) {
		p = malloc(n * sizeof(*p));
		if (!p)
			return MDSGW_ENOMEM;
	}
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < src->n_meta; i++) {
		p[i].k = bytes_of(src->meta[i].key);
		p[i].v = bytes_of(src->meta[i].value);
	}
	for (size_t i = 0; i < src->n_tags; i++) {
		p[src->n_meta + i].k = bytes_of(src->tags[i].key);
		p[src->n_meta + i].v = bytes_of(src->tags[i].value);
	}
	v.meta = p;
	v.n_meta = src->n_meta;
	v.tags = p + src->n_meta;
	v.n_tags = src->n_tags;
	v.bucket = bytes_of(src->bucket);
	v.name = bytes_of(src->name);
	v.etag = bytes_of(src->etag);
	v.content_type = bytes_of(src->content_type);
	v.locator.p = (const char *)src->locator;
	v.locator.len = src->locator_len;
	v.version = src->version;
	v.content_size = src->content_size;
	v.ctime_ns = src->ctime_ns;
	v.mtime_ns = src->mtime_ns;
	v.blob_type = src->blob_type;
	if (src->origin)
		v.origin = bytes_of(src->origin);
	rc = gw_object_build(&v, dst, NULL, NULL);
	if (rc == 0 && bytes)
		*bytes = sizeof(*dst) + n * sizeof(struct mdsgw_kv) + v.bucket.len + v.name.len +
			 v.etag.len + v.content_type.len + v.locator.len + 5 +
			 pairs_len(v.meta, v.n_meta) + pairs_len(v.tags, v.n_tags) + v.origin.len + 1;
	if (p != stack)
		free(p);
	return rc;
}
