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
		v->locator.len + 5 + pairs_len(v->meta, v->n_meta) + pairs_len(v->tags, v->n_tags);
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
	return 0;
}
