/*
 * rpc_encode.c - direct ObjectRecord encoder (see rpc_encode.h).
 *
 * Field numbers follow include/mds/v1/types.proto (ObjectRecord, KeyValue);
 * a change there must be made here too (test_rpc_encode.c fails if not).
 */
#include "rpc_encode.h"

#include <stdlib.h>
#include <string.h>

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static int reserve(struct mds_wbuf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 64 * 1024;

	while (cap - b->len < n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);

	if (!p) {
		b->failed = 1;
		return MDS_ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* The caller reserved enough room. */
static void put_varint(struct mds_wbuf *b, uint64_t v)
{
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

static size_t bytes_size(unsigned field, size_t len)
{
	return len ? varint_len(field << 3 | 2) + varint_len(len) + len : 0;
}

static size_t uint_size(unsigned field, uint64_t v)
{
	return v ? varint_len(field << 3) + varint_len(v) : 0;
}

static void put_bytes(struct mds_wbuf *b, unsigned field, const void *p, size_t len)
{
	if (!len)
		return;
	put_varint(b, field << 3 | 2);
	put_varint(b, len);
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void put_uint(struct mds_wbuf *b, unsigned field, uint64_t v)
{
	if (!v)
		return;
	put_varint(b, field << 3);
	put_varint(b, v);
}

static size_t pair_size(const struct mds_pair *pr)
{
	return bytes_size(1, pr->key.len) + bytes_size(2, pr->value.len);
}

/* Size of the encoded pairs of @raw as repeated field @field; -1 if corrupt. */
static long pairs_size(unsigned field, struct mds_str raw, uint32_t n)
{
	struct mds_str cur = raw;
	struct mds_pair pr;
	size_t total = 0;
	uint32_t i = 0;

	while (i < n && mds_pairs_next(&cur, &pr) == 1) {
		size_t ps = pair_size(&pr);

		total += varint_len(field << 3 | 2) + varint_len(ps) + ps;
		i++;
	}
	return i == n ? (long)total : -1;
}

static void put_pairs(struct mds_wbuf *b, unsigned field, struct mds_str raw, uint32_t n)
{
	struct mds_str cur = raw;
	struct mds_pair pr;

	for (uint32_t i = 0; i < n && mds_pairs_next(&cur, &pr) == 1; i++) {
		put_varint(b, field << 3 | 2);
		put_varint(b, pair_size(&pr));
		put_bytes(b, 1, pr.key.p, pr.key.len);
		put_bytes(b, 2, pr.value.p, pr.value.len);
	}
}

int mds_encode_object_field(struct mds_wbuf *b, unsigned field, struct mds_str bucket,
			    struct mds_str name, const struct mds_object *o)
{
	long meta = pairs_size(11, o->meta_raw, o->n_meta);
	long tags = pairs_size(12, o->tags_raw, o->n_tags);
	size_t rec;

	if (meta < 0 || tags < 0)
		return MDS_ECORRUPT;
	rec = bytes_size(1, bucket.len) + bytes_size(2, name.len) + uint_size(3, o->version) +
	      uint_size(4, o->size) + uint_size(5, o->ctime_ns) + uint_size(6, o->mtime_ns) +
	      uint_size(7, o->blob_type) + bytes_size(8, o->etag.len) +
	      bytes_size(9, o->content_type.len) + bytes_size(10, o->locator.len) +
	      (size_t)meta + (size_t)tags;
	if (reserve(b, varint_len(field << 3 | 2) + varint_len(rec) + rec) != 0)
		return MDS_ENOMEM;
	put_varint(b, field << 3 | 2);
	put_varint(b, rec);
	put_bytes(b, 1, bucket.p, bucket.len);
	put_bytes(b, 2, name.p, name.len);
	put_uint(b, 3, o->version);
	put_uint(b, 4, o->size);
	put_uint(b, 5, o->ctime_ns);
	put_uint(b, 6, o->mtime_ns);
	put_uint(b, 7, o->blob_type);
	put_bytes(b, 8, o->etag.p, o->etag.len);
	put_bytes(b, 9, o->content_type.p, o->content_type.len);
	put_bytes(b, 10, o->locator.p, o->locator.len);
	put_pairs(b, 11, o->meta_raw, o->n_meta);
	put_pairs(b, 12, o->tags_raw, o->n_tags);
	return 0;
}

void mds_wbuf_release(struct mds_wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
