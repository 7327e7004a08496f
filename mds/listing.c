/*
 * listing.c - S3 ListObjectsV2 and Azure List Blobs pages, and the
 * streaming inventory walk, over the name tree.
 *
 * A page walks the tree from its start position and stops after max-keys
 * results. With a delimiter, a name that contains the delimiter after the
 * prefix rolls up into a common prefix CP; the walk then seeks straight to
 * the smallest string greater than every name starting with CP, so a
 * rolled-up subtree costs one seek however many names it holds. Keys and
 * common prefixes interleave in binary order and both count against
 * max-keys, as S3 does.
 *
 * Continuation tokens (and Azure markers) are opaque base64url strings
 * holding the last result and whether it was a common prefix, bound to
 * the bucket, prefix and delimiter they were issued for, with a checksum;
 * a token that does not decode or belongs to another listing is refused.
 */
#include <string.h>

#include "kv.h"
#include "listing.h"
#include "nametree.h"
#include "record.h"
#include "util.h"

#define TOKEN_V1 1
#define TOKEN_F_PREFIX 0x01
#define TOKEN_RAW_MAX (2 + 8 + MDS_OBJECT_NAME_MAX + 4)

static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t context_hash(uint64_t bucket_id, struct mds_str prefix, struct mds_str delim)
{
	uint8_t id[8], sep = 0xff;
	uint64_t h = 0xcbf29ce484222325ull;

	mds_be64_put(id, bucket_id);
	h = fnv64(h, id, 8);
	h = fnv64(h, prefix.p, prefix.len);
	h = fnv64(h, &sep, 1);
	return fnv64(h, delim.p, delim.len);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(char *out, const uint8_t *in, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64_val(char c)
{
	const char *p = memchr(b64url, c, 64);

	return c && p ? (int)(p - b64url) : -1;
}

/* Returns decoded length or -1. */
static long b64_decode(uint8_t *out, size_t cap, const char *in, size_t n)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits && (acc & ((1u << bits) - 1)))
		return -1; /* non-canonical trailing bits */
	return (long)o;
}

static void token_encode(char *out, uint64_t ctx, int is_prefix, struct mds_str last)
{
	uint8_t raw[TOKEN_RAW_MAX];
	size_t n = 0;
	uint64_t sum;

	raw[n++] = TOKEN_V1;
	raw[n++] = is_prefix ? TOKEN_F_PREFIX : 0;
	mds_be64_put(raw + n, ctx);
	n += 8;
	memcpy(raw + n, last.p, last.len);
	n += last.len;
	sum = fnv64(0xcbf29ce484222325ull, raw, n);
	raw[n++] = (uint8_t)(sum >> 24);
	raw[n++] = (uint8_t)(sum >> 16);
	raw[n++] = (uint8_t)(sum >> 8);
	raw[n++] = (uint8_t)sum;
	b64_encode(out, raw, n);
}

static int token_decode(struct mds_str tok, uint64_t ctx, uint8_t *raw, int *is_prefix,
			struct mds_str *last, struct mds_status *st)
{
	long n;
	uint64_t sum;

	if (tok.len > MDS_LIST_TOKEN_MAX)
		return mds_status_set(st, MDS_EINVAL, "continuation token is %zu bytes; no valid token is longer than %d",
				      tok.len, MDS_LIST_TOKEN_MAX);
	n = b64_decode(raw, TOKEN_RAW_MAX, tok.p, tok.len);
	if (n < 2 + 8 + 4 || raw[0] != TOKEN_V1 || (raw[1] & ~TOKEN_F_PREFIX))
		return mds_status_set(st, MDS_EINVAL,
				      "continuation token does not decode; pass the token exactly as the previous page returned it");
	sum = fnv64(0xcbf29ce484222325ull, raw, (size_t)n - 4);
	if (raw[n - 4] != (uint8_t)(sum >> 24) || raw[n - 3] != (uint8_t)(sum >> 16) ||
	    raw[n - 2] != (uint8_t)(sum >> 8) || raw[n - 1] != (uint8_t)sum)
		return mds_status_set(st, MDS_EINVAL, "continuation token is damaged (checksum mismatch)");
	if (mds_be64_get(raw + 2) != ctx)
		return mds_status_set(st, MDS_EINVAL,
				      "continuation token belongs to another bucket, prefix or delimiter");
	*is_prefix = raw[1] & TOKEN_F_PREFIX;
	last->p = (const char *)raw + 10;
	last->len = (size_t)n - 14;
	if (last->len == 0 || last->len > MDS_OBJECT_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "continuation token does not decode");
	return 0;
}

/*
 * The smallest string greater than every string that starts with @p:
 * drop trailing 0xff bytes and increment the last one. Returns its length;
 * 0 means no such string (every byte was 0xff): the walk is over.
 */
static size_t prefix_successor(char *out, struct mds_str p)
{
	size_t n = p.len;

	while (n > 0 && (uint8_t)p.p[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	memcpy(out, p.p, n);
	out[n - 1] = (char)((uint8_t)out[n - 1] + 1);
	return n;
}

static int check_common(struct mds_str prefix, struct mds_str delim, struct mds_status *st)
{
	if (prefix.len > MDS_OBJECT_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "prefix is %zu bytes; the limit is %d", prefix.len,
				      MDS_OBJECT_NAME_MAX);
	if (!mds_utf8_is_valid(prefix.p, prefix.len))
		return mds_status_set(st, MDS_EINVAL, "prefix is not valid UTF-8");
	if (delim.len > MDS_OBJECT_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "delimiter is %zu bytes; the limit is %d", delim.len,
				      MDS_OBJECT_NAME_MAX);
	if (!mds_utf8_is_valid(delim.p, delim.len))
		return mds_status_set(st, MDS_EINVAL, "delimiter is not valid UTF-8");
	return 0;
}

static int bucket_root(struct mds_reader *r, struct mds_str bucket, uint64_t *id,
		       struct mds_status *st)
{
	struct mds_bucket b;
	int rc = mds_bucket_get(r, bucket, &b, st);

	if (rc == 0)
		*id = b.id;
	return rc;
}

/* Position @it at the first name >= @prefix that comes after @after. */
static int seek_start(struct mds_tree_iter *it, struct mds_str prefix, struct mds_str after,
		      int after_is_prefix)
{
	char succ[MDS_OBJECT_NAME_MAX];

	if (after.len && after_is_prefix) {
		size_t n = prefix_successor(succ, after);

		if (n == 0)
			return MDS_ENOTFOUND;
		after = (struct mds_str){ succ, n };
		if (mds_str_cmp(after, prefix) > 0)
			return mds_tree_iter_seek(it, after, 1);
		return mds_tree_iter_seek(it, prefix, 1);
	}
	if (after.len && mds_str_cmp(after, prefix) >= 0)
		return mds_tree_iter_seek(it, after, 0);
	return mds_tree_iter_seek(it, prefix, 1);
}

int mds_list(struct mds_reader *r, const struct mds_list_params *p, mds_list_emit_fn emit,
	     void *arg, struct mds_list_result *res, struct mds_status *st)
{
	uint8_t raw[TOKEN_RAW_MAX];
	char last[MDS_OBJECT_NAME_MAX];
	size_t last_len = 0;
	int last_is_prefix = 0, after_is_prefix = 0;
	int64_t cap = p->style == MDS_LIST_AZURE ? MDS_LIST_AZURE_MAX : MDS_LIST_S3_MAX;
	int64_t max = p->max_keys < 0 ? cap : p->max_keys;
	struct mds_str after = MDS_STR_NULL;
	struct mds_tree_iter it;
	uint64_t root, ctx;
	int rc;

	memset(res, 0, sizeof(*res));
	/* S3 and Azure clamp larger values silently; gateways do that before
	 * calling, so a value above the cap here is a caller's mistake. */
	if (max > cap)
		return mds_status_set(st, MDS_EINVAL, "max-keys %lld is above the %s cap of %lld",
				      (long long)max, p->style == MDS_LIST_AZURE ? "Azure" : "S3",
				      (long long)cap);
	rc = check_common(p->prefix, p->delimiter, st);
	if (rc)
		return rc;
	rc = bucket_root(r, p->bucket, &root, st);
	if (rc)
		return rc;
	ctx = context_hash(root, p->prefix, p->delimiter);
	if (p->token.len) {
		rc = token_decode(p->token, ctx, raw, &after_is_prefix, &after, st);
		if (rc)
			return rc;
	} else if (p->style == MDS_LIST_S3 && p->start_after.len) {
		if (p->start_after.len > MDS_OBJECT_NAME_MAX)
			return mds_status_set(st, MDS_EINVAL, "start-after is %zu bytes; the limit is %d",
					      p->start_after.len, MDS_OBJECT_NAME_MAX);
		after = p->start_after;
	}
	if (max == 0)
		return 0;

	mds_tree_iter_init(&it, mds_reader_txn(r), root);
	rc = seek_start(&it, p->prefix, after, after_is_prefix);
	while (rc == 0) {
		struct mds_str name = { it.name, it.name_len };
		struct mds_list_entry e = { 0, name, NULL };
		struct mds_object obj;
		const char *d = NULL;

		if (!mds_str_has_prefix(name, p->prefix)) {
			rc = MDS_ENOTFOUND;
			break;
		}
		if ((int64_t)res->key_count == max) {
			res->truncated = 1;
			break;
		}
		if (p->delimiter.len)
			d = memmem(name.p + p->prefix.len, name.len - p->prefix.len, p->delimiter.p,
				   p->delimiter.len);
		if (d) {
			e.is_prefix = 1;
			e.name.len = (size_t)(d - name.p) + p->delimiter.len;
		} else {
			rc = mds_object_decode(it.rec.p, it.rec.len, &obj);
			if (rc)
				break;
			e.obj = &obj;
		}
		rc = emit(arg, &e);
		if (rc)
			goto out;
		res->key_count++;
		memcpy(last, e.name.p, e.name.len);
		last_len = e.name.len;
		last_is_prefix = e.is_prefix;
		if (e.is_prefix)
			rc = seek_start(&it, p->prefix, (struct mds_str){ last, last_len }, 1);
		else
			rc = mds_tree_iter_next(&it);
	}
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	if (rc == 0 && res->truncated)
		token_encode(res->next_token, ctx, last_is_prefix, (struct mds_str){ last, last_len });
	if (rc)
		mds_status_set(st, rc, "cannot list bucket: %s", mds_strerror(rc));
out:
	mds_tree_iter_release(&it);
	return rc;
}

long mds_list_stream_raw(struct mds_reader *r, struct mds_str bucket, struct mds_str prefix,
			 struct mds_str start_after, size_t limit, mds_list_raw_fn emit,
			 void *arg, struct mds_status *st)
{
	struct mds_tree_iter it;
	uint64_t root;
	long n = 0;
	int rc;

	rc = check_common(prefix, MDS_STR_NULL, st);
	if (rc)
		return rc;
	if (start_after.len > MDS_OBJECT_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "start-after is %zu bytes; the limit is %d",
				      start_after.len, MDS_OBJECT_NAME_MAX);
	rc = bucket_root(r, bucket, &root, st);
	if (rc)
		return rc;
	mds_tree_iter_init(&it, mds_reader_txn(r), root);
	for (rc = seek_start(&it, prefix, start_after, 0); rc == 0; rc = mds_tree_iter_next(&it)) {
		struct mds_str name = { it.name_p, it.name_len };

		if (!mds_str_has_prefix(name, prefix) || (limit && (size_t)n == limit))
			break;
		rc = emit(arg, name, it.rec);
		if (rc)
			goto out;
		n++;
	}
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	if (rc)
		mds_status_set(st, rc, "cannot stream bucket listing: %s", mds_strerror(rc));
out:
	mds_tree_iter_release(&it);
	return rc ? rc : n;
}

/* mds_list_stream's adapter: decode, then hand on the decoded record. */
struct decode_emit {
	mds_list_emit_fn emit;
	void *arg;
	int corrupt; /* the walk stopped at a record that does not decode */
};

static int decode_emit(void *arg, struct mds_str name, struct mds_str rec)
{
	struct decode_emit *d = arg;
	struct mds_object obj;
	struct mds_list_entry e = { 0, name, &obj };
	int rc = mds_object_decode(rec.p, rec.len, &obj);

	if (rc) {
		d->corrupt = 1;
		return rc;
	}
	return d->emit(d->arg, &e);
}

long mds_list_stream(struct mds_reader *r, struct mds_str bucket, struct mds_str prefix,
		     struct mds_str start_after, size_t limit, mds_list_emit_fn emit, void *arg,
		     struct mds_status *st)
{
	struct decode_emit d = { emit, arg, 0 };
	long rc = mds_list_stream_raw(r, bucket, prefix, start_after, limit, decode_emit, &d, st);

	if (d.corrupt)
		mds_status_set(st, (int)rc, "cannot stream bucket listing: %s",
			       mds_strerror((int)rc));
	return rc;
}
