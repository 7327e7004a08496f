/*
 * record.c - encoding and decoding of stored records.
 *
 * An object record is a fixed 34-byte header followed by TLV fields
 * (tag byte, LEB128 length, bytes). Decoders skip tags they do not know so
 * that later formats can add fields without rewriting old records; they
 * never trust a length without checking it against what is left, and
 * answer MDS_ECORRUPT instead of crashing.
 */
#include <stdio.h>
#include <string.h>

#include "record.h"
#include "util.h"

size_t mds_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t mds_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t mds_varint_get(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t i = 0; i < n && i < 10; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

static int pairs_validate(const char *what, const struct mds_pair *pairs, size_t n,
			  size_t max_key, size_t max_val, size_t max_total, int key_token,
			  struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		struct mds_str k = pairs[i].key, v = pairs[i].value;

		if (k.len == 0)
			return mds_status_set(st, MDS_EINVAL, "%s key %zu is empty", what, i);
		if (max_key && k.len > max_key)
			return mds_status_set(st, MDS_EINVAL, "%s key '%s' is %zu bytes; the limit is %zu",
					      what, mds_quote(q, k), k.len, max_key);
		if (max_val && v.len > max_val)
			return mds_status_set(st, MDS_EINVAL,
					      "%s value for '%s' is %zu bytes; the limit is %zu", what,
					      mds_quote(q, k), v.len, max_val);
		if (key_token) {
			for (size_t j = 0; j < k.len; j++) {
				char c = k.p[j];

				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
					return mds_status_set(st, MDS_EINVAL,
							      "%s key '%s' has a bad character; use letters, digits, '-', '_' and '.'",
							      what, mds_quote(q, k));
			}
		} else if (!mds_utf8_is_valid(k.p, k.len)) {
			return mds_status_set(st, MDS_EINVAL, "%s key '%s' is not valid UTF-8", what,
					      mds_quote(q, k));
		}
		if (!mds_utf8_is_valid(v.p, v.len))
			return mds_status_set(st, MDS_EINVAL, "%s value for '%s' is not valid UTF-8",
					      what, mds_quote(q, k));
		for (size_t j = 0; j < i; j++)
			if (mds_str_eq(pairs[j].key, k))
				return mds_status_set(st, MDS_EINVAL, "%s key '%s' appears twice", what,
						      mds_quote(q, k));
		total += k.len + v.len;
	}
	if (max_total && total > max_total)
		return mds_status_set(st, MDS_EINVAL, "%s is %zu bytes in all; the limit is %zu", what,
				      total, max_total);
	return 0;
}

int mds_object_in_validate(const struct mds_object_in *in, struct mds_status *st)
{
	int rc;

	if (in->blob_type > MDS_BLOB_PAGE)
		return mds_status_set(st, MDS_EINVAL, "blob type %u is unknown", in->blob_type);
	if (in->etag.len > MDS_ETAG_MAX)
		return mds_status_set(st, MDS_EINVAL, "etag is %zu bytes; the limit is %d", in->etag.len,
				      MDS_ETAG_MAX);
	if (in->content_type.len > MDS_CONTENT_TYPE_MAX)
		return mds_status_set(st, MDS_EINVAL, "content type is %zu bytes; the limit is %d",
				      in->content_type.len, MDS_CONTENT_TYPE_MAX);
	if (!mds_utf8_is_valid(in->etag.p, in->etag.len) ||
	    !mds_utf8_is_valid(in->content_type.p, in->content_type.len))
		return mds_status_set(st, MDS_EINVAL, "etag or content type is not valid UTF-8");
	if (in->locator.len > MDS_LOCATOR_MAX)
		return mds_status_set(st, MDS_EINVAL, "locator is %zu bytes; the limit is %d",
				      in->locator.len, MDS_LOCATOR_MAX);
	if (in->n_tags > MDS_TAGS_MAX)
		return mds_status_set(st, MDS_EINVAL, "%zu tags given; the limit is %d", in->n_tags,
				      MDS_TAGS_MAX);
	if (in->retention_mode > MDS_RETENTION_COMPLIANCE)
		return mds_status_set(st, MDS_EINVAL, "retention mode %u is unknown", in->retention_mode);
	if ((in->retention_mode == MDS_RETENTION_NONE) != (in->retain_until_ns == 0))
		return mds_status_set(st, MDS_EINVAL,
				      "retention mode and retain-until date must be given together");
	if (in->legal_hold > 1)
		return mds_status_set(st, MDS_EINVAL, "legal hold must be 0 or 1, not %u", in->legal_hold);
	rc = pairs_validate("metadata", in->meta, in->n_meta, 0, 0, MDS_META_MAX, 1, st);
	if (rc)
		return rc;
	return pairs_validate("tag", in->tags, in->n_tags, MDS_TAG_KEY_MAX, MDS_TAG_VALUE_MAX, 0, 0,
			      st);
}

static size_t pairs_payload_len(const struct mds_pair *p, size_t n)
{
	size_t len = mds_varint_len(n);

	for (size_t i = 0; i < n; i++)
		len += mds_varint_len(p[i].key.len) + p[i].key.len +
		       mds_varint_len(p[i].value.len) + p[i].value.len;
	return len;
}

static size_t tlv_len(size_t payload)
{
	return 1 + mds_varint_len(payload) + payload;
}

size_t mds_object_encoded_size(const struct mds_object_in *in)
{
	size_t n = MDS_OBJECT_HDR_SIZE;

	if (in->etag.len)
		n += tlv_len(in->etag.len);
	if (in->content_type.len)
		n += tlv_len(in->content_type.len);
	if (in->locator.len)
		n += tlv_len(in->locator.len);
	if (in->n_meta)
		n += tlv_len(pairs_payload_len(in->meta, in->n_meta));
	if (in->n_tags)
		n += tlv_len(pairs_payload_len(in->tags, in->n_tags));
	if (in->retention_mode || in->legal_hold)
		n += tlv_len(MDS_RETENTION_TLV_LEN);
	return n;
}

static size_t put_tlv(uint8_t *p, uint8_t tag, struct mds_str v)
{
	size_t o = 0;

	p[o++] = tag;
	o += mds_varint_put(p + o, v.len);
	if (v.len)
		memcpy(p + o, v.p, v.len);
	return o + v.len;
}

static size_t put_pairs(uint8_t *p, uint8_t tag, const struct mds_pair *pairs, size_t n)
{
	size_t o = 0;

	p[o++] = tag;
	o += mds_varint_put(p + o, pairs_payload_len(pairs, n));
	o += mds_varint_put(p + o, n);
	for (size_t i = 0; i < n; i++) {
		o += mds_varint_put(p + o, pairs[i].key.len);
		memcpy(p + o, pairs[i].key.p, pairs[i].key.len);
		o += pairs[i].key.len;
		o += mds_varint_put(p + o, pairs[i].value.len);
		if (pairs[i].value.len)
			memcpy(p + o, pairs[i].value.p, pairs[i].value.len);
		o += pairs[i].value.len;
	}
	return o;
}

size_t mds_object_encode(uint8_t *buf, size_t cap, const struct mds_object_in *in,
			 uint64_t version, uint64_t ctime_ns, uint64_t mtime_ns)
{
	size_t o = MDS_OBJECT_HDR_SIZE;

	(void)cap;
	buf[0] = MDS_RECORD_V1;
	buf[1] = in->blob_type;
	mds_le64_put(buf + 2, version);
	mds_le64_put(buf + 10, in->size);
	mds_le64_put(buf + 18, ctime_ns);
	mds_le64_put(buf + 26, mtime_ns);
	if (in->etag.len)
		o += put_tlv(buf + o, MDS_TAG_ETAG, in->etag);
	if (in->content_type.len)
		o += put_tlv(buf + o, MDS_TAG_CONTENT_TYPE, in->content_type);
	if (in->locator.len)
		o += put_tlv(buf + o, MDS_TAG_LOCATOR, in->locator);
	if (in->n_meta)
		o += put_pairs(buf + o, MDS_TAG_META, in->meta, in->n_meta);
	if (in->n_tags)
		o += put_pairs(buf + o, MDS_TAG_TAGS, in->tags, in->n_tags);
	if (in->retention_mode || in->legal_hold) {
		buf[o++] = MDS_TAG_RETENTION;
		o += mds_varint_put(buf + o, MDS_RETENTION_TLV_LEN);
		buf[o++] = in->retention_mode;
		buf[o++] = in->legal_hold ? 1 : 0;
		mds_le64_put(buf + o, in->retain_until_ns);
		o += 8;
	}
	return o;
}

/* Checks a pair list payload; fills count and the raw pairs after the count. */
static int pairs_parse(const uint8_t *p, size_t n, struct mds_str *raw, uint32_t *count)
{
	uint64_t cnt, len;
	size_t o, k;

	o = mds_varint_get(p, n, &cnt);
	if (!o || cnt > 100000)
		return MDS_ECORRUPT;
	raw->p = (const char *)p + o;
	raw->len = n - o;
	for (uint64_t i = 0; i < cnt * 2; i++) {
		k = mds_varint_get(p + o, n - o, &len);
		if (!k || len > n - o - k)
			return MDS_ECORRUPT;
		o += k + len;
	}
	if (o != n)
		return MDS_ECORRUPT;
	*count = (uint32_t)cnt;
	return 0;
}

/* ---- blob TLVs (tags 6 and 7) ---------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t n, o;
	int bad;
};

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	size_t k = r->bad ? 0 : mds_varint_get(r->p + r->o, r->n - r->o, &v);

	if (!k)
		r->bad = 1;
	r->o += k;
	return v;
}

static uint8_t rd_u8(struct rd *r)
{
	if (r->bad || r->o >= r->n) {
		r->bad = 1;
		return 0;
	}
	return r->p[r->o++];
}

static struct mds_str rd_str(struct rd *r)
{
	uint64_t len = rd_varint(r);
	struct mds_str s = { NULL, 0 };

	if (r->bad || len > r->n - r->o) {
		r->bad = 1;
		return s;
	}
	s.p = (const char *)r->p + r->o;
	s.len = (size_t)len;
	r->o += (size_t)len;
	return s;
}

/* Block map: varint map id, varint blocks, u8 kind, u8 flags (bit 0 sealed), varint max block. */
static int blockmap_parse(const uint8_t *p, size_t n, struct mds_object *out)
{
	struct rd r = { p, n, 0, 0 };
	uint64_t blocks;

	out->map_id = rd_varint(&r);
	blocks = rd_varint(&r);
	out->map_kind = rd_u8(&r);
	out->sealed = rd_u8(&r) & 1;
	out->max_block_size = rd_varint(&r);
	if (r.bad || blocks > UINT32_MAX || out->map_kind > MDS_MAP_MULTIPART)
		return MDS_ECORRUPT;
	out->map_blocks = (uint32_t)blocks;
	return 0;
}

/* Copy: u8 status, str id, varint progress, total, done, str source, str failure. */
static int copy_parse(const uint8_t *p, size_t n, struct mds_object *out)
{
	struct rd r = { p, n, 0, 0 };

	out->copy_status = rd_u8(&r);
	out->copy_id = rd_str(&r);
	out->copy_progress = rd_varint(&r);
	out->copy_total = rd_varint(&r);
	out->copy_done_ns = rd_varint(&r);
	out->copy_source = rd_str(&r);
	out->copy_failure = rd_str(&r);
	if (r.bad || out->copy_status > MDS_COPY_ABORTED)
		return MDS_ECORRUPT;
	return 0;
}

static size_t wr_varint(uint8_t *buf, size_t o, uint64_t v)
{
	if (buf)
		return mds_varint_put(buf + o, v);
	return mds_varint_len(v);
}

static size_t wr_str(uint8_t *buf, size_t o, struct mds_str s)
{
	size_t k = wr_varint(buf, o, s.len);

	if (buf && s.len)
		memcpy(buf + o + k, s.p, s.len);
	return k + s.len;
}

static size_t wr_u8(uint8_t *buf, size_t o, uint8_t v)
{
	if (buf)
		buf[o] = v;
	return 1;
}

static size_t blockmap_payload(uint8_t *buf, const struct mds_object *o)
{
	size_t n = 0;

	n += wr_varint(buf, n, o->map_id);
	n += wr_varint(buf, n, o->map_blocks);
	n += wr_u8(buf, n, o->map_kind);
	n += wr_u8(buf, n, o->sealed ? 1 : 0);
	n += wr_varint(buf, n, o->max_block_size);
	return n;
}

static size_t copy_payload(uint8_t *buf, const struct mds_object *o)
{
	size_t n = 0;

	n += wr_u8(buf, n, o->copy_status);
	n += wr_str(buf, n, o->copy_id);
	n += wr_varint(buf, n, o->copy_progress);
	n += wr_varint(buf, n, o->copy_total);
	n += wr_varint(buf, n, o->copy_done_ns);
	n += wr_str(buf, n, o->copy_source);
	n += wr_str(buf, n, o->copy_failure);
	return n;
}

static size_t put_ext(uint8_t *buf, uint8_t tag, const struct mds_object *o,
		      size_t (*payload)(uint8_t *, const struct mds_object *))
{
	size_t len = payload(NULL, o), k;

	if (!buf)
		return 1 + mds_varint_len(len) + len;
	buf[0] = tag;
	k = 1 + mds_varint_put(buf + 1, len);
	return k + payload(buf + k, o);
}

size_t mds_object_ext_encode(uint8_t *buf, const struct mds_object *o)
{
	size_t n = 0;

	if (o->map_kind || o->map_id || o->sealed || o->max_block_size)
		n += put_ext(buf ? buf + n : NULL, MDS_TAG_BLOCKMAP, o, blockmap_payload);
	if (o->copy_status)
		n += put_ext(buf ? buf + n : NULL, MDS_TAG_COPY, o, copy_payload);
	return n;
}

int mds_object_decode(const void *data, size_t n, struct mds_object *out)
{
	const uint8_t *p = data;
	size_t o = MDS_OBJECT_HDR_SIZE;

	memset(out, 0, sizeof(*out));
	if (n < MDS_OBJECT_HDR_SIZE || p[0] != MDS_RECORD_V1)
		return MDS_ECORRUPT;
	out->blob_type = p[1];
	out->version = mds_le64_get(p + 2);
	out->size = mds_le64_get(p + 10);
	out->ctime_ns = mds_le64_get(p + 18);
	out->mtime_ns = mds_le64_get(p + 26);
	while (o < n) {
		uint8_t tag = p[o++];
		uint64_t len;
		size_t k;
		struct mds_str v;

		if (o < n && p[o] < 0x80) { /* the usual one-byte length, inline */
			len = p[o];
			k = 1;
		} else {
			k = mds_varint_get(p + o, n - o, &len);
		}
		if (!k || len > n - o - k)
			return MDS_ECORRUPT;
		o += k;
		v.p = (const char *)p + o;
		v.len = (size_t)len;
		o += len;
		switch (tag) {
		case MDS_TAG_ETAG:
			out->etag = v;
			break;
		case MDS_TAG_CONTENT_TYPE:
			out->content_type = v;
			break;
		case MDS_TAG_LOCATOR:
			out->locator = v;
			break;
		case MDS_TAG_META:
			if (pairs_parse((const uint8_t *)v.p, v.len, &out->meta_raw, &out->n_meta))
				return MDS_ECORRUPT;
			break;
		case MDS_TAG_TAGS:
			if (pairs_parse((const uint8_t *)v.p, v.len, &out->tags_raw, &out->n_tags))
				return MDS_ECORRUPT;
			break;
		case MDS_TAG_BLOCKMAP:
			if (blockmap_parse((const uint8_t *)v.p, v.len, out))
				return MDS_ECORRUPT;
			break;
		case MDS_TAG_COPY:
			if (copy_parse((const uint8_t *)v.p, v.len, out))
				return MDS_ECORRUPT;
			break;
		case MDS_TAG_RETENTION:
			/* Longer payloads are a newer format: the first 10 bytes are ours. */
			if (v.len < MDS_RETENTION_TLV_LEN || (uint8_t)v.p[0] > MDS_RETENTION_COMPLIANCE)
				return MDS_ECORRUPT;
			out->retention_mode = (uint8_t)v.p[0];
			out->legal_hold = (uint8_t)v.p[1] & 1;
			out->retain_until_ns = mds_le64_get((const uint8_t *)v.p + 2);
			break;
		default:
			break; /* a field from a newer format: skipped */
		}
	}
	return 0;
}

int mds_pairs_next(struct mds_str *cur, struct mds_pair *out)
{
	const uint8_t *p = (const uint8_t *)cur->p;
	size_t n = cur->len, o = 0, k;
	uint64_t len;

	if (n == 0)
		return 0;
	k = mds_varint_get(p, n, &len);
	if (!k || len > n - k)
		return MDS_ECORRUPT;
	out->key.p = (const char *)p + k;
	out->key.len = (size_t)len;
	o = k + len;
	k = mds_varint_get(p + o, n - o, &len);
	if (!k || len > n - o - k)
		return MDS_ECORRUPT;
	out->value.p = (const char *)p + o + k;
	out->value.len = (size_t)len;
	o += k + len;
	cur->p += o;
	cur->len -= o;
	return 1;
}

size_t mds_bucket_encode(uint8_t *buf, size_t cap, uint64_t id, uint64_t ctime_ns,
			 struct mds_str team)
{
	(void)cap;
	buf[0] = MDS_RECORD_V1;
	mds_le64_put(buf + 1, id);
	mds_le64_put(buf + 9, ctime_ns);
	buf[17] = (uint8_t)team.len;
	memcpy(buf + 18, team.p, team.len);
	return 18 + team.len;
}

int mds_bucket_decode(const void *data, size_t n, struct mds_bucket *out)
{
	const uint8_t *p = data;

	if (n < 18 || p[0] != MDS_RECORD_V1 || n < 18u + p[17])
		return MDS_ECORRUPT;
	out->id = mds_le64_get(p + 1);
	out->ctime_ns = mds_le64_get(p + 9);
	out->team.len = p[17];
	out->team.p = (const char *)p + 18;
	return 0;
}

size_t mds_team_encode(uint8_t *buf, size_t cap, uint64_t ctime_ns)
{
	(void)cap;
	buf[0] = MDS_RECORD_V1;
	mds_le64_put(buf + 1, ctime_ns);
	return 9;
}

int mds_team_decode(const void *data, size_t n, struct mds_team *out)
{
	const uint8_t *p = data;

	if (n < 9 || p[0] != MDS_RECORD_V1)
		return MDS_ECORRUPT;
	out->ctime_ns = mds_le64_get(p + 1);
	return 0;
}

void mds_usage_encode(uint8_t buf[MDS_USAGE_SIZE], const struct mds_usage *u)
{
	mds_le64_put(buf, u->bytes);
	mds_le64_put(buf + 8, u->objects);
	mds_le64_put(buf + 16, u->buckets);
}

int mds_usage_decode(const void *data, size_t n, struct mds_usage *u)
{
	const uint8_t *p = data;

	if (n != MDS_USAGE_SIZE)
		return MDS_ECORRUPT;
	u->bytes = mds_le64_get(p);
	u->objects = mds_le64_get(p + 8);
	u->buckets = mds_le64_get(p + 16);
	return 0;
}
