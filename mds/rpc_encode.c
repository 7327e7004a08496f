/*
 * rpc_encode.c - direct ObjectRecord encoder, and the transcoder from
 * stored record bytes that ListObjectsStream uses (see rpc_encode.h).
 * The transcoder's fast path must write exactly the bytes of decode +
 * encode; test_rpc_encode.c and fuzz_rpc_encode.c compare the two.
 *
 * Field numbers follow include/mds/v1/types.proto (ObjectRecord, KeyValue);
 * a change there must be made here too (test_rpc_encode.c fails if not).
 */
#include "rpc_encode.h"

#include <stdlib.h>
#include <string.h>

#include "record.h"

/* Room reserved past each record for put_varint_long's 8-byte store. */
#define WBUF_SLACK 8

/* Bytes of @v as a varint, ceil(significant bits / 7), without a
 * division: (9 * floor(log2 v) + 73) / 64 is that for every v >= 1. */
static inline size_t varint_len(uint64_t v)
{
	return (size_t)(9 * (63 - __builtin_clzll(v | 1)) + 73) >> 6;
}

int mds_wbuf_reserve(struct mds_wbuf *b, size_t n)
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

/* The low 56 bits of @v as eight 7-bit groups, one per byte (byte i of
 * the result, little-endian, holds bits 7i..7i+6): three halving steps
 * instead of a loop over the groups. */
static inline uint64_t spread7(uint64_t v)
{
	uint64_t x = v & 0x00ffffffffffffffull;

	x = (x & 0x000000000fffffffull) | (x & 0x00fffffff0000000ull) << 4;
	x = (x & 0x00003fff00003fffull) | (x & 0x0fffc0000fffc000ull) << 2;
	return (x & 0x007f007f007f007full) | (x & 0x3f803f803f803f80ull) << 1;
}

/*
 * The writers below append at @w, which the caller reserved room for, and
 * return the new end. They work on a local pointer rather than on b->len:
 * stores through a uint8_t pointer may alias the buffer struct, which
 * would make the compiler reload b->p and b->len after every byte.
 */
/*
 * A varint of 5 bytes or more (@v >= 2^28: timestamps, which take 9)
 * without a loop. It stores 8 bytes at once: WBUF_SLACK bytes past the
 * varint must be writable (later writes overwrite them).
 */
static uint8_t *put_varint_long(uint8_t *w, uint64_t v)
{
	size_t n = varint_len(v);
	uint64_t x = spread7(v);

	if (n <= 8) {
		x |= 0x8080808080808080ull >> (8 * (9 - n));
	} else {
		x |= 0x8080808080808080ull;
		w[8] = (uint8_t)((v >> 56) & 0x7f);
		if (n == 10) {
			w[8] |= 0x80;
			w[9] = (uint8_t)(v >> 63);
		}
	}
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	memcpy(w, &x, 8);
	return w + n;
}

static inline uint8_t *put_varint(uint8_t *w, uint64_t v)
{
	if (v >= 1u << 28)
		return put_varint_long(w, v);
	while (v >= 0x80) {
		*w++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*w++ = (uint8_t)v;
	return w;
}

static inline size_t bytes_size(unsigned field, size_t len)
{
	return len ? varint_len(field << 3 | 2) + varint_len(len) + len : 0;
}

static inline size_t uint_size(unsigned field, uint64_t v)
{
	return v ? varint_len(field << 3) + varint_len(v) : 0;
}

static inline uint8_t *put_bytes(uint8_t *w, unsigned field, const void *p, size_t len)
{
	if (!len)
		return w;
	w = put_varint(w, field << 3 | 2);
	w = put_varint(w, len);
	memcpy(w, p, len);
	return w + len;
}

static inline uint8_t *put_uint(uint8_t *w, unsigned field, uint64_t v)
{
	if (!v)
		return w;
	w = put_varint(w, field << 3);
	return put_varint(w, v);
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

static uint8_t *put_pairs(uint8_t *w, unsigned field, struct mds_str raw, uint32_t n)
{
	struct mds_str cur = raw;
	struct mds_pair pr;

	for (uint32_t i = 0; i < n && mds_pairs_next(&cur, &pr) == 1; i++) {
		w = put_varint(w, field << 3 | 2);
		w = put_varint(w, pair_size(&pr));
		w = put_bytes(w, 1, pr.key.p, pr.key.len);
		w = put_bytes(w, 2, pr.value.p, pr.value.len);
	}
	return w;
}

int mds_encode_object_field(struct mds_wbuf *b, unsigned field, struct mds_str bucket,
			    struct mds_str name, const struct mds_object *o)
{
	long meta = o->n_meta ? pairs_size(11, o->meta_raw, o->n_meta) : 0;
	long tags = o->n_tags ? pairs_size(12, o->tags_raw, o->n_tags) : 0;
	size_t rec;
	uint8_t *w;

	if (meta < 0 || tags < 0)
		return MDS_ECORRUPT;
	rec = bytes_size(1, bucket.len) + bytes_size(2, name.len) + uint_size(3, o->version) +
	      uint_size(4, o->size) + uint_size(5, o->ctime_ns) + uint_size(6, o->mtime_ns) +
	      uint_size(7, o->blob_type) + bytes_size(8, o->etag.len) +
	      bytes_size(9, o->content_type.len) + bytes_size(10, o->locator.len) +
	      (size_t)meta + (size_t)tags +
	      uint_size(13, o->map_blocks) + uint_size(14, o->sealed != 0) +
	      uint_size(15, o->copy_status) + bytes_size(16, o->copy_id.len) +
	      bytes_size(17, o->copy_source.len) + uint_size(18, o->copy_progress) +
	      uint_size(19, o->copy_total) + uint_size(20, o->copy_done_ns) +
	      bytes_size(21, o->copy_failure.len) + uint_size(22, o->retention_mode) +
	      uint_size(23, o->retain_until_ns) + uint_size(24, o->legal_hold != 0);
	if (mds_wbuf_reserve(b, varint_len(field << 3 | 2) + varint_len(rec) + rec +
				WBUF_SLACK) != 0)
		return MDS_ENOMEM;
	w = b->p + b->len;
	w = put_varint(w, field << 3 | 2);
	w = put_varint(w, rec);
	w = put_bytes(w, 1, bucket.p, bucket.len);
	w = put_bytes(w, 2, name.p, name.len);
	w = put_uint(w, 3, o->version);
	w = put_uint(w, 4, o->size);
	w = put_uint(w, 5, o->ctime_ns);
	w = put_uint(w, 6, o->mtime_ns);
	w = put_uint(w, 7, o->blob_type);
	w = put_bytes(w, 8, o->etag.p, o->etag.len);
	w = put_bytes(w, 9, o->content_type.p, o->content_type.len);
	w = put_bytes(w, 10, o->locator.p, o->locator.len);
	if (o->n_meta)
		w = put_pairs(w, 11, o->meta_raw, o->n_meta);
	if (o->n_tags)
		w = put_pairs(w, 12, o->tags_raw, o->n_tags);
	/* Blob, copy and lock state: zero in most records, so mostly skipped. */
	w = put_uint(w, 13, o->map_blocks);
	w = put_uint(w, 14, o->sealed != 0);
	w = put_uint(w, 15, o->copy_status);
	w = put_bytes(w, 16, o->copy_id.p, o->copy_id.len);
	w = put_bytes(w, 17, o->copy_source.p, o->copy_source.len);
	w = put_uint(w, 18, o->copy_progress);
	w = put_uint(w, 19, o->copy_total);
	w = put_uint(w, 20, o->copy_done_ns);
	w = put_bytes(w, 21, o->copy_failure.p, o->copy_failure.len);
	w = put_uint(w, 22, o->retention_mode);
	w = put_uint(w, 23, o->retain_until_ns);
	w = put_uint(w, 24, o->legal_hold != 0);
	b->len = (size_t)(w - b->p);
	return 0;
}

/*
 * The transcoder's shape check, on the record's TLV area @src (@n bytes):
 * TLVs of tags 1-3 (etag, content type, locator) in increasing tag order,
 * each non-empty, with a canonical length of one or two bytes. For that
 * shape the area is ObjectRecord fields 8-10 once each tag byte t is
 * replaced by field (7 + t)'s key, and mds_encode_object_field() would
 * write exactly that (it omits empty strings and writes canonical varints,
 * in field order). So, with @dst a copy of @src, this replaces the tag
 * bytes in @dst and returns 1. Any other shape: 0 (not necessarily
 * corrupt: the caller's slow path decides), @dst half rewritten. It reads
 * @src, not the fresh copy: loading bytes just stored by memcpy's wide
 * stores stalls on store forwarding.
 */
static int retag_plain(const uint8_t *src, uint8_t *dst, size_t n)
{
	size_t o = 0;
	unsigned prev = 0;

	while (o < n) {
		unsigned tag = src[o];
		size_t len, left = n - o - 1;

		if (tag <= prev || tag > MDS_TAG_LOCATOR || left < 2)
			return 0;
		if (src[o + 1] < 0x80) {
			len = src[o + 1];
			left -= 1;
		} else {
			/* two bytes, the second non-zero (canonical) and final */
			if (left < 3 || src[o + 2] == 0 || src[o + 2] >= 0x80)
				return 0;
			len = (size_t)(src[o + 1] & 0x7f) | (size_t)src[o + 2] << 7;
			left -= 2;
		}
		if (len == 0 || len > left)
			return 0;
		dst[o] = (uint8_t)((7 + tag) << 3 | 2);
		prev = tag;
		o = n - left + len;
	}
	return 1;
}

int mds_encode_object_rec(struct mds_wbuf *b, unsigned field, struct mds_str bucket,
			  struct mds_str name, struct mds_str rec)
{
	const uint8_t *p = (const uint8_t *)rec.p;
	uint64_t version, size, ctime, mtime;
	struct mds_object o;
	size_t tlv, len;
	uint8_t *w;
	int rc;

	if (rec.len < MDS_OBJECT_HDR_SIZE || p[0] != MDS_RECORD_V1)
		goto slow;
	version = mds_le64_get(p + 2);
	size = mds_le64_get(p + 10);
	ctime = mds_le64_get(p + 18);
	mtime = mds_le64_get(p + 26);
	tlv = rec.len - MDS_OBJECT_HDR_SIZE;
	len = bytes_size(1, bucket.len) + bytes_size(2, name.len) + uint_size(3, version) +
	      uint_size(4, size) + uint_size(5, ctime) + uint_size(6, mtime) +
	      uint_size(7, p[1]) + tlv;
	if (mds_wbuf_reserve(b, varint_len(field << 3 | 2) + varint_len(len) + len + WBUF_SLACK))
		return MDS_ENOMEM;
	w = b->p + b->len;
	w = put_varint(w, field << 3 | 2);
	w = put_varint(w, len);
	w = put_bytes(w, 1, bucket.p, bucket.len);
	w = put_bytes(w, 2, name.p, name.len);
	w = put_uint(w, 3, version);
	w = put_uint(w, 4, size);
	w = put_uint(w, 5, ctime);
	w = put_uint(w, 6, mtime);
	w = put_uint(w, 7, p[1]);
	memcpy(w, p + MDS_OBJECT_HDR_SIZE, tlv);
	if (retag_plain(p + MDS_OBJECT_HDR_SIZE, w, tlv)) {
		b->len = (size_t)(w + tlv - b->p);
		return 0;
	}
	/* b->len is unchanged: what was written past it is dropped */
slow:
	rc = mds_object_decode(rec.p, rec.len, &o);
	return rc ? rc : mds_encode_object_field(b, field, bucket, name, &o);
}

void mds_wbuf_release(struct mds_wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
