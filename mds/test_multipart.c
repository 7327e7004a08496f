/*
 * test_multipart.c - S3 multipart uploads: the documented success and
 * failure cases as tables, ListParts and ListMultipartUploads paging,
 * parallel part registration, completion racing abort, and SIGKILL during
 * completion (the object whole or the upload intact, never half).
 *
 * References (docs.aws.amazon.com/AmazonS3/latest/API):
 *   [CMU]  CreateMultipartUpload: returns an UploadId.
 *   [UP]   UploadPart: "Part numbers can be any number from 1 to 10,000";
 *          uploading a part with a number used before overwrites it;
 *          NoSuchUpload for an unknown upload id.
 *   [CMP]  CompleteMultipartUpload, "Errors": EntityTooSmall (a part but the
 *          last below 5 MiB), InvalidPart (a part not found or whose ETag
 *          does not match), InvalidPartOrder (not ascending), NoSuchUpload.
 *   [AMU]  AbortMultipartUpload: parts are freed; NoSuchUpload afterwards.
 *   [LP]   ListParts: part-number-marker, max-parts, IsTruncated.
 *   [LMU]  ListMultipartUploads: prefix, delimiter (CommonPrefixes),
 *          key-marker, upload-id-marker, max-uploads; sorted by key, and
 *          uploads of one key by initiation time.
 *   [ETAG] "Checking object integrity" (userguide/checking-object-integrity):
 *          a multipart ETag is the MD5 of the concatenated binary part MD5s,
 *          hex, then "-" and the number of parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test_blobutil.h"

#define MIB (1024ull * 1024)

static int create_upload(struct mds_store *s, const char *name, char id[33])
{
	struct mds_pair meta[1] = { { { "color", 5 }, { "blue", 4 } } };
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_CREATE_MULTIPART);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	op.obj.content_type = tu_s("application/x-test");
	op.obj.meta = meta;
	op.obj.n_meta = 1;
	rc = mds_store_exec(s, &op);
	if (rc == 0)
		memcpy(id, op.blob_out.id, 33);
	return rc;
}

/* Part ETags are "<md5 hex>" of a fake body derived from the number and a salt. */
static void part_etag(char out[40], uint32_t number, int salt)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char body[32];

	snprintf(body, sizeof(body), "part-%u-%d", number, salt);
	EVP_Digest(body, strlen(body), md, &n, EVP_md5(), NULL);
	out[0] = '"';
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
	out[33] = '"';
	out[34] = '\0';
}

static int upload_part(struct mds_store *s, const char *name, const char *id, uint32_t number,
		       uint64_t size, int salt, struct mds_op *op)
{
	char etag[40], loc[32];

	part_etag(etag, number, salt);
	snprintf(loc, sizeof(loc), "loc-%u-%d", number, salt);
	mds_op_init(op, MDS_OP_UPLOAD_PART);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->blob.id = tu_s(id);
	op->blob.part_number = number;
	op->blob.size = size;
	op->blob.etag = tu_s(etag);
	op->blob.locator = tu_s(loc);
	return mds_store_exec(s, op);
}

/* Expected composite ETag, computed here independently of the core. */
static void composite_etag(char out[64], const uint32_t *numbers, size_t n, int salt)
{
	unsigned char *bin = malloc(n * 16), md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	for (size_t i = 0; i < n; i++) {
		char body[32];

		snprintf(body, sizeof(body), "part-%u-%d", numbers[i], salt);
		EVP_Digest(body, strlen(body), bin + 16 * i, &len, EVP_md5(), NULL);
	}
	EVP_Digest(bin, n * 16, md, &len, EVP_md5(), NULL);
	out[0] = '"';
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
	snprintf(out + 33, 31, "-%zu\"", n);
	free(bin);
}

struct cparts {
	struct mds_part_ref refs[16];
	char etags[16][40];
};

static int complete(struct mds_store *s, const char *name, const char *id, const uint32_t *numbers,
		    size_t n, int salt, struct mds_op *op, struct cparts *cp)
{
	for (size_t i = 0; i < n; i++) {
		/* salt < 0: the second part's ETag is from another body. */
		part_etag(cp->etags[i], numbers[i], salt < 0 && i == 1 ? 9 : (salt < 0 ? 0 : salt));
		cp->refs[i].number = numbers[i];
		cp->refs[i].etag = tu_s(cp->etags[i]);
	}
	mds_op_init(op, MDS_OP_COMPLETE_MULTIPART);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->blob.id = tu_s(id);
	op->blob.parts = cp->refs;
	op->blob.n_parts = n;
	return mds_store_exec(s, op);
}

static int emit_count(void *arg, const struct mds_part *p)
{
	(void)p;
	(*(int *)arg)++;
	return 0;
}

/* Number of parts ListParts shows, all pages; *rc_out gets its code. */
static int count_parts(struct mds_store *s, const char *name, const char *id, int *rc_out)
{
	struct mds_reader *r;
	struct mds_status st;
	uint32_t next = 0, marker = 0;
	int truncated = 1, n = 0;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	*rc_out = 0;
	while (truncated) {
		int emitted = 0;

		*rc_out = mds_list_parts(r, tu_s("data"), tu_s(name), tu_s(id), marker, 1000,
					 emit_count, &emitted, &next, &truncated, &st);
		if (*rc_out)
			break;
		n += emitted;
		marker = next;
	}
	mds_reader_close(r);
	return n;
}

/* [CMU] [UP] [CMP] [ETAG]: the successful path and what a client sees. */
static void test_complete_success(void **state)
{
	struct bfx *f = *state;
	static const uint32_t nums[] = { 1, 2, 5 };
	char id[33], id2[33], want[64];
	struct cparts cp;
	struct mds_op op;
	struct bhead h;
	uint64_t bytes, objects;
	int rc;

	assert_int_equal(create_upload(f->s, "big.bin", id), 0);
	assert_int_equal(strlen(id), 32);
	assert_int_equal(create_upload(f->s, "big.bin", id2), 0);
	assert_string_not_equal(id, id2);                       /* unguessable, distinct */
	assert_int_equal(upload_part(f->s, "big.bin", id, 1, 5 * MIB, 0, &op), 0);
	assert_int_equal(upload_part(f->s, "big.bin", id, 2, 6 * MIB, 1, &op), 0);
	assert_int_equal(upload_part(f->s, "big.bin", id, 2, 5 * MIB, 0, &op), 0); /* replaces */
	assert_int_equal(upload_part(f->s, "big.bin", id, 3, 5 * MIB, 0, &op), 0); /* not listed */
	assert_int_equal(upload_part(f->s, "big.bin", id, 5, 1, 0, &op), 0);       /* last: small */
	busage(f->s, "data", &bytes, &objects);
	assert_int_equal(bytes, 0);                            /* nothing counted before completion */
	assert_int_equal(complete(f->s, "big.bin", id, nums, 3, 0, &op, &cp), 0);
	composite_etag(want, nums, 3, 0);
	assert_string_equal(op.blob_out.etag, want);
	h = bhead(f->s, "data", "big.bin");
	assert_int_equal(h.rc, 0);
	assert_int_equal(h.size, 10 * MIB + 1);
	assert_int_equal(h.blocks, 3);
	assert_int_equal(h.map_kind, MDS_MAP_MULTIPART);
	assert_string_equal(h.etag, want);
	assert_string_equal(h.content_type, "application/x-test");
	assert_int_equal(h.n_meta, 1);
	busage(f->s, "data", &bytes, &objects);
	assert_int_equal(bytes, 10 * MIB + 1);
	assert_int_equal(objects, 1);
	/* The upload is gone with all its parts; the other upload is untouched. */
	count_parts(f->s, "big.bin", id, &rc);
	assert_int_equal(rc, MDS_ENOTFOUND);
	assert_int_equal(complete(f->s, "big.bin", id, nums, 3, 0, &op, &cp), MDS_ENOTFOUND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_NO_UPLOAD);
	count_parts(f->s, "big.bin", id2, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* [UP] [CMP] [AMU]: the failure table. Each row runs against a fresh upload
 * holding parts 1 (5 MiB), 2 (1 MiB), 3 (5 MiB), 4 (2 bytes). */
struct mrow {
	const char *what;
	int kind;              /* 0 upload part, 1 complete */
	uint32_t part;         /* upload part: number */
	uint32_t nums[4];
	size_t n;
	int bad_etag;          /* complete: ETag of part nums[1] from another body */
	int wrong_id;          /* 1: an id never issued; 2: malformed; 3: another key's upload */
	int rc, reason;
};

static void test_failure_table(void **state)
{
	struct bfx *f = *state;
	static const struct mrow rows[] = {
		{ "[UP] part number 0", 0, 0, { 0 }, 0, 0, 0, MDS_EINVAL, 0 },
		{ "[UP] part number 10,001", 0, 10001, { 0 }, 0, 0, 0, MDS_EINVAL, 0 },
		{ "[UP] part number 10,000", 0, 10000, { 0 }, 0, 0, 0, 0, 0 },
		{ "[UP] unknown upload id: NoSuchUpload", 0, 1, { 0 }, 0, 0, 1, MDS_ENOTFOUND,
		  MDS_REASON_NO_UPLOAD },
		{ "[UP] malformed upload id: NoSuchUpload", 0, 1, { 0 }, 0, 0, 2, MDS_ENOTFOUND,
		  MDS_REASON_NO_UPLOAD },
		{ "[UP] upload id of another key: NoSuchUpload", 0, 1, { 0 }, 0, 0, 3, MDS_ENOTFOUND,
		  MDS_REASON_NO_UPLOAD },
		{ "[CMP] parts not ascending: InvalidPartOrder", 1, 0, { 3, 1 }, 2, 0, 0, MDS_EINVAL,
		  MDS_REASON_PART_ORDER },
		{ "[CMP] duplicate part: InvalidPartOrder", 1, 0, { 1, 1 }, 2, 0, 0, MDS_EINVAL,
		  MDS_REASON_PART_ORDER },
		{ "[CMP] part never uploaded: InvalidPart", 1, 0, { 1, 7 }, 2, 0, 0, MDS_EINVAL,
		  MDS_REASON_INVALID_PART },
		{ "[CMP] ETag does not match: InvalidPart", 1, 0, { 1, 3 }, 2, 1, 0, MDS_EINVAL,
		  MDS_REASON_INVALID_PART },
		{ "[CMP] a middle part below 5 MiB: EntityTooSmall", 1, 0, { 1, 2, 3 }, 3, 0, 0,
		  MDS_EINVAL, MDS_REASON_PART_TOO_SMALL },
		{ "[CMP] empty part list", 1, 0, { 0 }, 0, 0, 0, MDS_EINVAL, MDS_REASON_INVALID_PART },
		{ "[CMP] unknown upload id: NoSuchUpload", 1, 0, { 1 }, 1, 0, 1, MDS_ENOTFOUND,
		  MDS_REASON_NO_UPLOAD },
		{ "[CMP] small last part is fine", 1, 0, { 1, 3, 4 }, 3, 0, 0, 0, 0 },
		{ "[CMP] one small part alone is fine", 1, 0, { 2 }, 1, 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct mrow *r = &rows[i];
		char name[32], id[33], other[33], use[33];
		struct cparts cp;
		struct mds_op op;
		int rc, prc;

		snprintf(name, sizeof(name), "k%02zu", i);
		assert_int_equal(create_upload(f->s, name, id), 0);
		assert_int_equal(create_upload(f->s, "someone-else", other), 0);
		assert_int_equal(upload_part(f->s, name, id, 1, 5 * MIB, 0, &op), 0);
		assert_int_equal(upload_part(f->s, name, id, 2, 1 * MIB, 0, &op), 0);
		assert_int_equal(upload_part(f->s, name, id, 3, 5 * MIB, 0, &op), 0);
		assert_int_equal(upload_part(f->s, name, id, 4, 2, 0, &op), 0);
		strcpy(use, id);
		if (r->wrong_id == 1)
			strcpy(use, "0123456789abcdef0123456789abcdef");
		else if (r->wrong_id == 2)
			strcpy(use, "not-an-id");
		else if (r->wrong_id == 3)
			strcpy(use, other);
		if (r->kind == 0) {
			rc = upload_part(f->s, name, use, r->part, 10, 0, &op);
		} else {
			rc = complete(f->s, name, use, r->nums, r->n, r->bad_etag ? -1 : 0, &op, &cp);
		}
		if (rc != r->rc || (r->reason && op.blob_out.reason != r->reason))
			fail_msg("row '%s': rc %d reason %d, expected %d reason %d (%s)", r->what, rc,
				 op.blob_out.reason, r->rc, r->reason, op.status.msg);
		/* A failed completion keeps the upload and creates no object. */
		if (r->kind == 1 && rc != 0) {
			assert_int_equal(bhead(f->s, "data", name).rc, MDS_ENOTFOUND);
			assert_int_equal(count_parts(f->s, name, id, &prc), 4);
			assert_int_equal(prc, 0);
		}
		if (r->kind == 1 && rc == 0)
			assert_int_equal(bhead(f->s, "data", name).blocks, r->n);
	}
	assert_int_equal(tu_check(f->s), 0);
}

/* [AMU]: abort frees the parts; the id is dead afterwards. */
static void test_abort(void **state)
{
	struct bfx *f = *state;
	char id[33];
	struct mds_op op;
	int rc;

	assert_int_equal(create_upload(f->s, "x", id), 0);
	assert_int_equal(upload_part(f->s, "x", id, 1, 5 * MIB, 0, &op), 0);
	assert_int_equal(upload_part(f->s, "x", id, 2, 5 * MIB, 0, &op), 0);
	mds_op_init(&op, MDS_OP_ABORT_MULTIPART);
	op.bucket = tu_s("data");
	op.name = tu_s("x");
	op.blob.id = tu_s(id);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	count_parts(f->s, "x", id, &rc);
	assert_int_equal(rc, MDS_ENOTFOUND);
	assert_int_equal(mds_store_exec(f->s, &op), MDS_ENOTFOUND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_NO_UPLOAD);
	assert_int_equal(upload_part(f->s, "x", id, 3, 5, 0, &op), MDS_ENOTFOUND);
	assert_int_equal(bhead(f->s, "data", "x").rc, MDS_ENOTFOUND);
	assert_int_equal(tu_check(f->s), 0);
}

/* [LP]: paging through parts. */
struct plist {
	uint32_t nums[32];
	int n;
};

static int plist_emit(void *arg, const struct mds_part *p)
{
	struct plist *pl = arg;

	pl->nums[pl->n++] = p->number;
	return 0;
}

static void test_list_parts_paging(void **state)
{
	struct bfx *f = *state;
	static const uint32_t up[] = { 7, 1, 3, 10000, 2 };
	char id[33];
	struct mds_op op;
	struct mds_reader *r;
	struct mds_status st;
	struct plist pl = { { 0 }, 0 };
	uint32_t next = 0;
	int truncated;

	assert_int_equal(create_upload(f->s, "p", id), 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(upload_part(f->s, "p", id, up[i], 5 * MIB, 0, &op), 0);
	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_list_parts(r, tu_s("data"), tu_s("p"), tu_s(id), 0, 2, plist_emit, &pl,
					&next, &truncated, &st), 0);
	assert_int_equal(pl.n, 2);
	assert_int_equal(pl.nums[0], 1);
	assert_int_equal(pl.nums[1], 2);
	assert_int_equal(truncated, 1);
	assert_int_equal(next, 2);
	assert_int_equal(mds_list_parts(r, tu_s("data"), tu_s("p"), tu_s(id), next, 2, plist_emit,
					&pl, &next, &truncated, &st), 0);
	assert_int_equal(mds_list_parts(r, tu_s("data"), tu_s("p"), tu_s(id), next, 2, plist_emit,
					&pl, &next, &truncated, &st), 0);
	assert_int_equal(truncated, 0);
	assert_int_equal(pl.n, 5);
	assert_int_equal(pl.nums[2], 3);
	assert_int_equal(pl.nums[3], 7);
	assert_int_equal(pl.nums[4], 10000);
	assert_int_equal(mds_list_parts(r, tu_s("data"), tu_s("p"), tu_s(id), 0, 1001, plist_emit,
					&pl, &next, &truncated, &st), MDS_EINVAL);
	mds_reader_close(r);
}

/* [LMU]: key order, prefix, delimiter and both markers. */
struct ulist {
	char items[64][80];
	int n;
};

static int ulist_emit(void *arg, const struct mds_upload_entry *e)
{
	struct ulist *ul = arg;

	snprintf(ul->items[ul->n++], 80, "%s%.*s%s%s", e->is_prefix ? "P:" : "", (int)e->name.len,
		 e->name.p, e->is_prefix ? "" : "#", e->is_prefix ? "" : e->upload_id);
	return 0;
}

static void list_uploads(struct mds_store *s, const struct mds_uploads_params *p, struct ulist *ul,
			 struct mds_uploads_result *res)
{
	struct mds_reader *r;
	struct mds_status st;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	ul->n = 0;
	assert_int_equal(mds_list_multipart_uploads(r, p, ulist_emit, ul, res, &st), 0);
	mds_reader_close(r);
}

static void test_list_uploads(void **state)
{
	struct bfx *f = *state;
	char ids[6][33], item[80];
	static const char *keys[] = { "b", "a/1", "c/x/y", "b", "a/2", "d" };
	struct mds_uploads_params p = { .bucket = tu_s("data") };
	struct mds_uploads_result res;
	struct ulist ul;
	struct ulist all = { .n = 0 };

	for (int i = 0; i < 6; i++)
		assert_int_equal(create_upload(f->s, keys[i], ids[i]), 0);
	/* Everything, in key order; the two uploads of "b" in creation order. */
	list_uploads(f->s, &p, &ul, &res);
	assert_int_equal(ul.n, 6);
	snprintf(item, sizeof(item), "a/1#%s", ids[1]);
	assert_string_equal(ul.items[0], item);
	snprintf(item, sizeof(item), "b#%s", ids[0]);
	assert_string_equal(ul.items[2], item);
	snprintf(item, sizeof(item), "b#%s", ids[3]);
	assert_string_equal(ul.items[3], item);
	assert_int_equal(res.truncated, 0);
	/* Delimiter: CommonPrefixes "a/" and "c/". */
	p.delimiter = tu_s("/");
	list_uploads(f->s, &p, &ul, &res);
	assert_int_equal(ul.n, 5);
	assert_string_equal(ul.items[0], "P:a/");
	assert_string_equal(ul.items[3], "P:c/");
	/* Prefix + delimiter inside a prefix. */
	p.prefix = tu_s("c/");
	list_uploads(f->s, &p, &ul, &res);
	assert_int_equal(ul.n, 1);
	assert_string_equal(ul.items[0], "P:c/x/");
	/* Paging with max-uploads 1 through all six, resuming with both markers. */
	p.prefix = MDS_STR_NULL;
	p.delimiter = MDS_STR_NULL;
	p.max_uploads = 1;
	for (int page = 0; page < 10; page++) {
		static char km[MDS_OBJECT_NAME_MAX + 1], um[33];

		list_uploads(f->s, &p, &ul, &res);
		for (int i = 0; i < ul.n; i++)
			strcpy(all.items[all.n++], ul.items[i]);
		if (!res.truncated)
			break;
		strcpy(km, res.next_key_marker);
		strcpy(um, res.next_upload_id_marker);
		p.key_marker = tu_s(km);
		p.upload_id_marker = tu_s(um);
	}
	assert_int_equal(all.n, 6);
	snprintf(item, sizeof(item), "b#%s", ids[3]);
	assert_string_equal(all.items[3], item);
	snprintf(item, sizeof(item), "d#%s", ids[5]);
	assert_string_equal(all.items[5], item);
	/* key-marker alone: strictly after that key (both uploads of "b" skipped). */
	p.key_marker = tu_s("b");
	p.upload_id_marker = MDS_STR_NULL;
	p.max_uploads = 0;
	list_uploads(f->s, &p, &ul, &res);
	assert_int_equal(ul.n, 2);
	assert_true(strncmp(ul.items[0], "c/x/y#", 6) == 0);
}

/* [LMU] keys of up to 1,024 bytes list in exact binary order, across tree segments. */
struct lorder {
	char prev[MDS_OBJECT_NAME_MAX + 1];
	size_t prev_len;
	int n, bad;
};

static int lorder_emit(void *arg, const struct mds_upload_entry *e)
{
	struct lorder *lo = arg;
	size_t m = e->name.len < lo->prev_len ? e->name.len : lo->prev_len;
	int c = memcmp(lo->prev, e->name.p, m);

	if (lo->n && (c > 0 || (c == 0 && lo->prev_len > e->name.len)))
		lo->bad++;
	memcpy(lo->prev, e->name.p, e->name.len);
	lo->prev_len = e->name.len;
	lo->n++;
	return 0;
}

static void test_list_uploads_long_keys(void **state)
{
	struct bfx *f = *state;
	static char names[6][MDS_OBJECT_NAME_MAX + 1];
	static const size_t lens[6] = { 1024, 496, 497, 1000, 700, 10 };
	struct mds_uploads_params p = { .bucket = tu_s("data") };
	struct mds_uploads_result res;
	struct mds_reader *r;
	struct mds_status st;
	struct lorder lo;
	char id[33];

	for (int i = 0; i < 6; i++) {
		memset(names[i], 'a', lens[i]);
		names[i][lens[i]] = '\0';
		if (i == 3)
			names[i][600] = 'b';   /* differs after the first segment */
		assert_int_equal(create_upload(f->s, names[i], id), 0);
	}
	memset(&lo, 0, sizeof(lo));
	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_list_multipart_uploads(r, &p, lorder_emit, &lo, &res, &st), 0);
	assert_int_equal(lo.n, 6);
	assert_int_equal(lo.bad, 0);
	/* Resume after the 700-byte key: the 1,000-byte "...b..." key and the 1,024 one follow. */
	memset(&lo, 0, sizeof(lo));
	p.key_marker = tu_s(names[4]);
	assert_int_equal(mds_list_multipart_uploads(r, &p, lorder_emit, &lo, &res, &st), 0);
	assert_int_equal(lo.n, 2);
	assert_int_equal(lo.prev_len, 1000);
	mds_reader_close(r);
	assert_int_equal(tu_check(f->s), 0);
}

/* Parallel part registration: every part lands once. */
#define PTHREADS 8
#define PPER 40

struct preg {
	struct mds_store *s;
	const char *id;
	int t, failed;
};

static void *preg_main(void *arg)
{
	struct preg *pr = arg;

	for (int i = 0; i < PPER; i++) {
		struct mds_op op;

		if (upload_part(pr->s, "par", pr->id, (uint32_t)(pr->t * PPER + i + 1), 5 * MIB, 0, &op))
			pr->failed++;
	}
	return NULL;
}

static void test_parallel_parts(void **state)
{
	struct bfx *f = *state;
	struct preg pr[PTHREADS];
	pthread_t th[PTHREADS];
	char id[33];
	int rc;

	assert_int_equal(create_upload(f->s, "par", id), 0);
	for (int i = 0; i < PTHREADS; i++) {
		pr[i] = (struct preg){ f->s, id, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, preg_main, &pr[i]), 0);
	}
	for (int i = 0; i < PTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(pr[i].failed, 0);
	}
	assert_int_equal(count_parts(f->s, "par", id, &rc), PTHREADS * PPER);
	assert_int_equal(rc, 0);
}

/* Completion racing abort: exactly one wins, and the state matches the winner. */
struct racer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left;
};

static void racer_done(struct mds_op *op)
{
	struct racer *r = op->user;

	pthread_mutex_lock(&r->mu);
	r->left--;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void test_complete_races_abort(void **state)
{
	struct bfx *f = *state;
	static const uint32_t nums[] = { 1, 2, 3 };
	int completes = 0, aborts = 0;

	for (int round = 0; round < 20; round++) {
		char id[33];
		struct cparts cp;
		struct mds_op cop, aop;
		struct racer rc = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 2 };
		struct bhead h;
		int prc;

		assert_int_equal(create_upload(f->s, "race", id), 0);
		for (uint32_t n = 1; n <= 3; n++)
			assert_int_equal(upload_part(f->s, "race", id, n, 5 * MIB, 0, &cop), 0);
		for (size_t i = 0; i < 3; i++) {
			part_etag(cp.etags[i], nums[i], 0);
			cp.refs[i] = (struct mds_part_ref){ nums[i], tu_s(cp.etags[i]) };
		}
		mds_op_init(&cop, MDS_OP_COMPLETE_MULTIPART);
		cop.bucket = tu_s("data");
		cop.name = tu_s("race");
		cop.blob.id = tu_s(id);
		cop.blob.parts = cp.refs;
		cop.blob.n_parts = 3;
		cop.done = racer_done;
		cop.user = &rc;
		mds_op_init(&aop, MDS_OP_ABORT_MULTIPART);
		aop.bucket = tu_s("data");
		aop.name = tu_s("race");
		aop.blob.id = tu_s(id);
		aop.done = racer_done;
		aop.user = &rc;
		if (round % 2) {
			assert_int_equal(mds_store_submit(f->s, &aop), 0);
			assert_int_equal(mds_store_submit(f->s, &cop), 0);
		} else {
			assert_int_equal(mds_store_submit(f->s, &cop), 0);
			assert_int_equal(mds_store_submit(f->s, &aop), 0);
		}
		pthread_mutex_lock(&rc.mu);
		while (rc.left)
			pthread_cond_wait(&rc.cv, &rc.mu);
		pthread_mutex_unlock(&rc.mu);
		/* Exactly one succeeds; the loser sees NoSuchUpload. */
		assert_true((cop.status.code == 0) != (aop.status.code == 0));
		assert_int_equal(cop.status.code ? cop.status.code : aop.status.code, MDS_ENOTFOUND);
		count_parts(f->s, "race", id, &prc);
		assert_int_equal(prc, MDS_ENOTFOUND);
		h = bhead(f->s, "data", "race");
		if (cop.status.code == 0) {
			completes++;
			assert_int_equal(h.rc, 0);
			assert_int_equal(h.size, 15 * MIB);
			assert_int_equal(tu_del(f->s, "data", tu_s("race")), 0);
		} else {
			aborts++;
			assert_int_equal(h.rc, MDS_ENOTFOUND);
		}
	}
	printf("complete vs abort: %d completes won, %d aborts won\n", completes, aborts);
	assert_true(completes > 0 && aborts > 0);
	assert_int_equal(tu_check(f->s), 0);
}

/*
 * SIGKILL during completion. A child creates an upload of CRASH_PARTS
 * parts, says so on a pipe, then completes it; the parent kills it at a
 * random moment around the completion. After a restart, either the
 * object exists whole (all parts, right size) and the upload is gone, or
 * the upload is intact with all its parts and there is no object; mds
 * check finds nothing wrong.
 */
#define CRASH_PARTS 2000
#define CRASH_ROUNDS 12

static void crash_child(const char *dir, int round, int fd)
{
	static struct mds_part_ref refs[CRASH_PARTS];
	static char etags[CRASH_PARTS][40];
	static struct mds_op ops[CRASH_PARTS];
	struct racer rc = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, CRASH_PARTS };
	struct mds_store *s;
	struct mds_status st;
	struct mds_op op;
	char name[32], id[33], line[64];
	int n;

	if (mds_store_open(&s, dir, NULL, &st))
		_exit(2);
	snprintf(name, sizeof(name), "crash-%d", round);
	if (create_upload(s, name, id))
		_exit(3);
	for (uint32_t i = 0; i < CRASH_PARTS; i++) {
		part_etag(etags[i], i + 1, 0);
		refs[i] = (struct mds_part_ref){ i + 1, tu_s(etags[i]) };
		mds_op_init(&ops[i], MDS_OP_UPLOAD_PART);
		ops[i].bucket = tu_s("data");
		ops[i].name = tu_s(name);
		ops[i].blob.id = tu_s(id);
		ops[i].blob.part_number = i + 1;
		ops[i].blob.size = 5 * MIB;
		ops[i].blob.etag = tu_s(etags[i]);
		ops[i].blob.locator = tu_s("loc");
		ops[i].done = racer_done;
		ops[i].user = &rc;
		if (mds_store_submit(s, &ops[i]))
			_exit(4);
	}
	pthread_mutex_lock(&rc.mu);
	while (rc.left)
		pthread_cond_wait(&rc.cv, &rc.mu);
	pthread_mutex_unlock(&rc.mu);
	n = snprintf(line, sizeof(line), "R %s %s\n", name, id);
	if (write(fd, line, (size_t)n) != n)
		_exit(5);
	mds_op_init(&op, MDS_OP_COMPLETE_MULTIPART);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	op.blob.id = tu_s(id);
	op.blob.parts = refs;
	op.blob.n_parts = CRASH_PARTS;
	n = mds_store_exec(s, &op);
	if (write(fd, n ? "F\n" : "C\n", 2) != 2)
		_exit(6);
	for (;;)
		pause();
}

static void test_sigkill_during_complete(void **state)
{
	struct bfx *f = *state;
	unsigned seed = (unsigned)time(NULL);
	int whole = 0, intact = 0;

	printf("crash seed %u\n", seed);
	srand(seed);
	mds_store_close(f->s);
	f->s = NULL;
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		char buf[256] = "", name[32], id[33];
		size_t got = 0;
		int fds[2], wst, prc, acked = 0;
		struct mds_status st;
		struct bhead h;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(f->dir, round, fds[1]);
		}
		close(fds[1]);
		while (!strchr(buf, '\n')) {
			ssize_t n = read(fds[0], buf + got, sizeof(buf) - 1 - got);

			assert_true(n > 0);
			got += (size_t)n;
			buf[got] = '\0';
		}
		assert_int_equal(sscanf(buf, "R %31s %32s", name, id), 2);
		{
			struct timespec d = { 0, (long)(rand() % 12000) * 1000L };

			nanosleep(&d, NULL);
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &wst, 0), pid);
		for (;;) {
			ssize_t n = read(fds[0], buf + got, sizeof(buf) - 1 - got);

			if (n <= 0)
				break;
			got += (size_t)n;
			buf[got] = '\0';
		}
		acked = strstr(buf, "\nC\n") != NULL;
		close(fds[0]);

		assert_int_equal(mds_store_open(&f->s, f->dir, NULL, &st), 0);
		assert_int_equal(tu_check(f->s), 0);
		h = bhead(f->s, "data", name);
		if (h.rc == 0) {
			whole++;
			assert_int_equal(h.size, CRASH_PARTS * 5 * MIB);
			assert_int_equal(h.blocks, CRASH_PARTS);
			count_parts(f->s, name, id, &prc);
			assert_int_equal(prc, MDS_ENOTFOUND);
		} else {
			int lrc;

			assert_false(acked); /* an acknowledged completion is never lost */
			intact++;
			assert_int_equal(h.rc, MDS_ENOTFOUND);
			assert_int_equal(count_parts(f->s, name, id, &lrc), CRASH_PARTS);
			assert_int_equal(lrc, 0);
		}
		mds_store_close(f->s);
	}
	printf("%d kills: %d objects whole, %d uploads intact\n", CRASH_ROUNDS, whole, intact);
	assert_int_equal(mds_store_open(&f->s, f->dir, NULL, NULL), 0);
}

/* [UP] [CMP]: the largest upload, 10,000 parts, completes in one op. */
static void test_complete_10000_parts(void **state)
{
	struct bfx *f = *state;
	static struct mds_op ops[10000];
	static struct mds_part_ref refs[10000];
	static char etags[10000][40];
	struct racer rc = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 10000 };
	struct timespec t0, t1;
	struct mds_op op;
	char id[33];
	size_t elen;

	assert_int_equal(create_upload(f->s, "huge", id), 0);
	for (uint32_t i = 0; i < 10000; i++) {
		part_etag(etags[i], i + 1, 0);
		refs[i] = (struct mds_part_ref){ i + 1, tu_s(etags[i]) };
		mds_op_init(&ops[i], MDS_OP_UPLOAD_PART);
		ops[i].bucket = tu_s("data");
		ops[i].name = tu_s("huge");
		ops[i].blob.id = tu_s(id);
		ops[i].blob.part_number = i + 1;
		ops[i].blob.size = 5 * MIB;
		ops[i].blob.etag = tu_s(etags[i]);
		ops[i].done = racer_done;
		ops[i].user = &rc;
		assert_int_equal(mds_store_submit(f->s, &ops[i]), 0);
	}
	pthread_mutex_lock(&rc.mu);
	while (rc.left)
		pthread_cond_wait(&rc.cv, &rc.mu);
	pthread_mutex_unlock(&rc.mu);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(ops[i].status.code, 0);
	mds_op_init(&op, MDS_OP_COMPLETE_MULTIPART);
	op.bucket = tu_s("data");
	op.name = tu_s("huge");
	op.blob.id = tu_s(id);
	op.blob.parts = refs;
	op.blob.n_parts = 10000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("complete of 10,000 parts: %.0f ms\n",
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	elen = strlen(op.blob_out.etag);
	assert_true(elen > 8 && strcmp(op.blob_out.etag + elen - 7, "-10000\"") == 0);
	assert_int_equal(bhead(f->s, "data", "huge").blocks, 10000);
	assert_int_equal(bhead(f->s, "data", "huge").size, 10000 * 5 * MIB);
}

/* Lifecycle expiry aborts old uploads only, in bounded steps. */
static void test_expire(void **state)
{
	struct bfx *f = *state;
	char ids[5][33];
	struct mds_op op;
	uint64_t cutoff;
	int rc;

	assert_int_equal(create_upload(f->s, "old/a", ids[0]), 0);
	assert_int_equal(create_upload(f->s, "old/b", ids[1]), 0);
	assert_int_equal(create_upload(f->s, "old/b", ids[2]), 0);
	assert_int_equal(upload_part(f->s, "old/b", ids[2], 1, 5 * MIB, 0, &op), 0);
	cutoff = mds_store_now_ns(f->s);
	assert_int_equal(create_upload(f->s, "new", ids[3]), 0);
	assert_int_equal(create_upload(f->s, "old/a", ids[4]), 0);
	mds_op_init(&op, MDS_OP_EXPIRE_MULTIPART);
	op.bucket = tu_s("data");
	op.blob.expire_before_ns = cutoff;
	op.blob.max_items = 2;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(op.blob_out.expired, 2);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(op.blob_out.expired, 1);           /* fewer than max: done */
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(op.blob_out.expired, 0);
	for (int i = 0; i < 3; i++) {
		count_parts(f->s, i == 0 ? "old/a" : "old/b", ids[i], &rc);
		assert_int_equal(rc, MDS_ENOTFOUND);
	}
	count_parts(f->s, "new", ids[3], &rc);
	assert_int_equal(rc, 0);
	count_parts(f->s, "old/a", ids[4], &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* Deleting a bucket drops its in-progress uploads and staged blocks. */
static void test_bucket_delete_drops_uploads(void **state)
{
	struct bfx *f = *state;
	struct mds_op op;
	char ids[3][33];

	for (int i = 0; i < 3; i++) {
		mds_op_init(&op, MDS_OP_CREATE_MULTIPART);
		op.bucket = tu_s("other");
		op.name = tu_s(i ? "k/1" : "k/2");
		assert_int_equal(mds_store_exec(f->s, &op), 0);
		memcpy(ids[i], op.blob_out.id, 33);
		mds_op_init(&op, MDS_OP_UPLOAD_PART);
		op.bucket = tu_s("other");
		op.name = tu_s(i ? "k/1" : "k/2");
		op.blob.id = tu_s(ids[i]);
		op.blob.part_number = 1;
		op.blob.etag = tu_s("\"0123456789abcdef0123456789abcdef\"");
		assert_int_equal(mds_store_exec(f->s, &op), 0);
	}
	mds_op_init(&op, MDS_OP_PUT_BLOCK);
	op.bucket = tu_s("other");
	op.name = tu_s("blob");
	op.blob.id = tu_s("b1");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(create_upload(f->s, "kept", ids[0]), 0);   /* in "data" */
	mds_op_init(&op, MDS_OP_BUCKET_DELETE);
	op.bucket = tu_s("other");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(tu_check(f->s), 0);  /* nothing outlives the bucket */
	assert_int_equal(count_parts(f->s, "kept", ids[0], &(int){ 0 }), 0);
}

/*
 * Failure injection: the Nth LMDB call of a completion fails with EIO, for
 * every N the completion makes. Each failed completion leaves the upload
 * with all its parts and no object; mds check stays clean.
 */
static void test_complete_fault_injection(void **state)
{
	struct bfx *f = *state;
	static const uint32_t nums[] = { 1, 2, 3 };
	int failures = 0;

	for (unsigned long n = 1;; n++) {
		char id[33], name[32];
		struct cparts cp;
		struct mds_op op;
		unsigned long calls;
		int rc, prc;

		snprintf(name, sizeof(name), "fault-%lu", n);
		assert_int_equal(create_upload(f->s, name, id), 0);
		for (uint32_t p = 1; p <= 3; p++)
			assert_int_equal(upload_part(f->s, name, id, p, 5 * MIB, 0, &op), 0);
		mds_store_fault_arm(n, EIO);
		rc = complete(f->s, name, id, nums, 3, 0, &op, &cp);
		calls = mds_store_fault_calls();
		mds_store_fault_arm(0, 0);
		if (rc) {
			failures++;
			assert_int_equal(rc, MDS_EIO);
			assert_int_equal(bhead(f->s, "data", name).rc, MDS_ENOTFOUND);
			assert_int_equal(count_parts(f->s, name, id, &prc), 3);
			assert_int_equal(prc, 0);
		} else {
			assert_int_equal(bhead(f->s, "data", name).size, 15 * MIB);
			count_parts(f->s, name, id, &prc);
			assert_int_equal(prc, MDS_ENOTFOUND);
		}
		assert_int_equal(tu_check(f->s), 0);
		if (rc == 0 && calls < n)
			break;
	}
	printf("a completion makes about %d lmdb calls; every injected failure was clean\n",
	       failures);
	assert_true(failures > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_complete_success, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_failure_table, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_abort, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_list_parts_paging, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_list_uploads, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_list_uploads_long_keys, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_parallel_parts, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_complete_races_abort, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_during_complete, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_complete_fault_injection, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_expire, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_complete_10000_parts, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_bucket_delete_drops_uploads, bfx_setup, bfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
