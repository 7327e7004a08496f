/*
 * test_copy.c - server-side copies: CopyObject / Copy Blob within the
 * island, asynchronous copies from a URL (pending record, progress,
 * completion, failure, abort, status by id), and a copy's completion
 * racing a delete of its destination.
 *
 * References:
 *   [CO]   S3 CopyObject (docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html):
 *          x-amz-metadata-directive COPY (default) / REPLACE;
 *          x-amz-copy-source-if-match / -if-none-match answer 412
 *          PreconditionFailed; a missing source is 404 NoSuchKey; copying
 *          an object onto itself needs REPLACE.
 *   [CB]   Azure Copy Blob (learn.microsoft.com/rest/api/storageservices/copy-blob):
 *          x-ms-copy-id, x-ms-copy-status pending/success/failed/aborted,
 *          x-ms-copy-progress, x-ms-copy-completion-time,
 *          x-ms-copy-status-description; source conditions x-ms-source-if-match.
 *   [ACB]  Azure Abort Copy Blob: leaves the destination with length 0 and
 *          its metadata, status aborted; 409 NoPendingCopyOperation when no
 *          copy is pending, 409 CopyIdMismatch for another blob's id.
 *   [PBU]  Azure Put Blob From URL: the destination takes the source's bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>

#include "record.h"
#include "util.h"
#include "test_blobutil.h"

static int put_src(struct mds_store *s, const char *name, uint64_t size, const char *etag)
{
	struct mds_pair meta[1] = { { { "owner", 5 }, { "ann", 3 } } };
	struct mds_op op;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	op.obj.size = size;
	op.obj.etag = tu_s(etag);
	op.obj.content_type = tu_s("text/csv");
	op.obj.locator = tu_s("src-locator");
	op.obj.meta = meta;
	op.obj.n_meta = 1;
	return mds_store_exec(s, &op);
}

static void copy_op(struct mds_op *op, const char *src, const char *dst_bucket, const char *dst)
{
	mds_op_init(op, MDS_OP_COPY_OBJECT);
	op->blob.src_bucket = tu_s("data");
	op->blob.src_name = tu_s(src);
	op->bucket = tu_s(dst_bucket);
	op->name = tu_s(dst);
}

/* [CO] the success cases. */
static void test_copy_object(void **state)
{
	struct bfx *f = *state;
	struct mds_op op;
	struct bhead h;
	uint64_t bytes, objects;

	assert_int_equal(put_src(f->s, "src", 1000, "\"abc\""), 0);
	/* COPY directive: everything from the source, same locator. */
	copy_op(&op, "src", "other", "dst");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	h = bhead(f->s, "other", "dst");
	assert_int_equal(h.rc, 0);
	assert_int_equal(h.size, 1000);
	assert_string_equal(h.etag, "\"abc\"");
	assert_string_equal(h.content_type, "text/csv");
	assert_string_equal(h.locator, "src-locator");
	assert_int_equal(h.n_meta, 1);
	assert_int_equal(h.copy_status, MDS_COPY_SUCCESS);     /* [CB] x-ms-copy-status */
	assert_string_equal(h.copy_id, op.blob_out.id);
	busage(f->s, "other", &bytes, &objects);
	assert_int_equal(bytes, 1000);
	assert_int_equal(objects, 1);
	/* REPLACE directive onto itself, with a new locator from the gateway. */
	copy_op(&op, "src", "data", "src");
	op.blob.replace_meta = 1;
	op.obj.content_type = tu_s("application/json");
	op.obj.locator = tu_s("new-locator");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	h = bhead(f->s, "data", "src");
	assert_string_equal(h.content_type, "application/json");
	assert_int_equal(h.n_meta, 0);
	assert_string_equal(h.locator, "new-locator");
	assert_int_equal(h.version, 2);
	busage(f->s, "data", &bytes, &objects);
	assert_int_equal(bytes, 1000);
	assert_int_equal(objects, 1);
	assert_int_equal(tu_check(f->s), 0);
}

struct crow {
	const char *what;
	const char *src_if_match, *src_if_none_match, *dst_if_none_match;
	const char *src;
	int rc, reason;
};

/* [CO] [CB] the failure table; a failed copy changes nothing. */
static void test_copy_table(void **state)
{
	struct bfx *f = *state;
	static const struct crow rows[] = {
		{ "[CO] copy-source-if-match matches", "\"abc\"", NULL, NULL, "src", 0, 0 },
		{ "[CO] copy-source-if-match differs: 412", "\"xyz\"", NULL, NULL, "src", MDS_EPRECOND,
		  MDS_REASON_SOURCE_ETAG },
		{ "[CO] copy-source-if-none-match matches: 412", NULL, "\"abc\"", NULL, "src",
		  MDS_EPRECOND, MDS_REASON_SOURCE_ETAG },
		{ "[CO] copy-source-if-none-match differs", NULL, "\"xyz\"", NULL, "src", 0, 0 },
		{ "[CO] missing source: 404 NoSuchKey", NULL, NULL, NULL, "nope", MDS_ENOTFOUND, 0 },
		{ "[CB] destination If-None-Match * on an existing blob: 412", NULL, NULL, "*", "src",
		  MDS_EPRECOND, MDS_REASON_ETAG },
	};

	assert_int_equal(put_src(f->s, "src", 10, "\"abc\""), 0);
	assert_int_equal(tu_put(f->s, "other", tu_s("dst"), 5, "\"old\""), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct crow *r = &rows[i];
		struct mds_op op;
		uint64_t b0, b1, o0, o1;
		int rc;

		busage(f->s, "other", &b0, &o0);
		copy_op(&op, r->src, "other", "dst");
		if (r->src_if_match)
			op.blob.src_cond.if_match = tu_s(r->src_if_match);
		if (r->src_if_none_match)
			op.blob.src_cond.if_none_match = tu_s(r->src_if_none_match);
		if (r->dst_if_none_match)
			op.cond.if_none_match = tu_s(r->dst_if_none_match);
		rc = mds_store_exec(f->s, &op);
		if (rc != r->rc || (r->reason && op.blob_out.reason != r->reason))
			fail_msg("row '%s': rc %d reason %d, expected %d reason %d (%s)", r->what, rc,
				 op.blob_out.reason, r->rc, r->reason, op.status.msg);
		busage(f->s, "other", &b1, &o1);
		if (rc) {
			assert_int_equal(b1, b0);
			assert_string_equal(bhead(f->s, "other", "dst").etag, "\"old\"");
		} else {
			assert_int_equal(b1, 10);
			assert_string_equal(bhead(f->s, "other", "dst").etag, "\"abc\"");
			assert_int_equal(tu_put(f->s, "other", tu_s("dst"), 5, "\"old\""), 0);
		}
	}
	assert_int_equal(tu_check(f->s), 0);
}

/* A copied append blob gets its own block map; deleting the source leaves it whole. */
static void test_copy_append_blob(void **state)
{
	struct bfx *f = *state;
	struct mds_op op;
	struct bhead h;

	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = tu_s("data");
	op.name = tu_s("log");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	for (int i = 0; i < 3; i++) {
		mds_op_init(&op, MDS_OP_APPEND_BLOCK);
		op.bucket = tu_s("data");
		op.name = tu_s("log");
		op.blob.size = 100;
		op.blob.locator = tu_s("b");
		assert_int_equal(mds_store_exec(f->s, &op), 0);
	}
	copy_op(&op, "log", "data", "log-copy");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(tu_del(f->s, "data", tu_s("log")), 0);
	h = bhead(f->s, "data", "log-copy");
	assert_int_equal(h.blob_type, MDS_BLOB_APPEND);
	assert_int_equal(h.blocks, 3);
	assert_int_equal(h.size, 300);
	assert_int_equal(tu_check(f->s), 0);  /* its own map, consistent */
}

static int start_copy(struct mds_store *s, const char *name, uint64_t total, char id[33])
{
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_PUT_BLOB_FROM_URL);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	op.blob.source_url = tu_s("https://other.blob.core.windows.net/c/src");
	op.blob.size = total;
	op.obj.content_type = tu_s("image/png");
	rc = mds_store_exec(s, &op);
	if (rc == 0)
		memcpy(id, op.blob_out.id, 33);
	return rc;
}

static int copy_report(struct mds_store *s, enum mds_op_kind kind, const char *id,
		       const char *name, uint64_t size, const char *failure, struct mds_op *op)
{
	mds_op_init(op, kind);
	op->blob.id = tu_s(id);
	if (name) {
		op->bucket = tu_s("data");
		op->name = tu_s(name);
	}
	op->blob.size = size;
	if (failure) {
		op->blob.copy_failed = 1;
		op->blob.failure = tu_s(failure);
	}
	if (kind == MDS_OP_COPY_FINISH && !failure)
		op->obj.locator = tu_s("copied-here");
	return mds_store_exec(s, op);
}

static int copy_status(struct mds_store *s, const char *id, struct mds_copy_info *ci,
		       char name[64])
{
	struct mds_reader *r;
	struct mds_status st;
	int rc;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	rc = mds_get_copy_status(r, tu_s(id), ci, &st);
	if (rc == 0)
		snprintf(name, 64, "%.*s", (int)ci->name.len, ci->name.p);
	mds_reader_close(r);
	return rc;
}

/* [CB] [PBU]: pending, progress, success; status through head and by id. */
static void test_async_copy_success(void **state)
{
	struct bfx *f = *state;
	struct mds_copy_info ci;
	struct mds_op op;
	struct bhead h;
	char id[33], name[64];
	uint64_t bytes, objects;

	assert_int_equal(start_copy(f->s, "pic", 5000, id), 0);
	h = bhead(f->s, "data", "pic");
	assert_int_equal(h.copy_status, MDS_COPY_PENDING);
	assert_string_equal(h.copy_id, id);
	assert_int_equal(h.size, 0);
	assert_int_equal(h.copy_total, 5000);
	assert_string_equal(h.content_type, "image/png");
	assert_int_equal(copy_status(f->s, id, &ci, name), 0);
	assert_int_equal(ci.status, MDS_COPY_PENDING);
	assert_string_equal(name, "pic");
	busage(f->s, "data", &bytes, &objects);
	assert_int_equal(bytes, 0);
	assert_int_equal(objects, 1);
	assert_int_equal(copy_report(f->s, MDS_OP_COPY_PROGRESS, id, NULL, 2048, NULL, &op), 0);
	assert_int_equal(bhead(f->s, "data", "pic").copy_progress, 2048);
	assert_int_equal(copy_report(f->s, MDS_OP_COPY_PROGRESS, id, NULL, 5001, NULL, &op),
			 MDS_EINVAL);
	assert_int_equal(copy_report(f->s, MDS_OP_COPY_FINISH, id, "pic", 5000, NULL, &op), 0);
	h = bhead(f->s, "data", "pic");
	assert_int_equal(h.copy_status, MDS_COPY_SUCCESS);
	assert_int_equal(h.size, 5000);
	assert_int_equal(h.copy_progress, 5000);
	assert_string_equal(h.locator, "copied-here");
	busage(f->s, "data", &bytes, &objects);
	assert_int_equal(bytes, 5000);
	assert_int_equal(objects, 1);
	/* Finished: no longer pending by id; a second finish is refused. */
	assert_int_equal(copy_status(f->s, id, &ci, name), MDS_ENOTFOUND);
	assert_int_equal(copy_report(f->s, MDS_OP_COPY_FINISH, id, NULL, 5000, NULL, &op),
			 MDS_EPRECOND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_COPY_ID);
	assert_int_equal(tu_check(f->s), 0);
}

/* [CB] failed and [ACB] aborted copies. */
static void test_async_copy_fail_abort(void **state)
{
	struct bfx *f = *state;
	struct mds_op op;
	struct bhead h;
	char id[33], id2[33];

	assert_int_equal(start_copy(f->s, "a", 100, id), 0);
	assert_int_equal(copy_report(f->s, MDS_OP_COPY_FINISH, id, NULL, 0, "source returned 403", &op),
			 0);
	h = bhead(f->s, "data", "a");
	assert_int_equal(h.copy_status, MDS_COPY_FAILED);
	assert_string_equal(h.copy_failure, "source returned 403");
	assert_int_equal(h.size, 0);

	assert_int_equal(start_copy(f->s, "b", 100, id), 0);
	assert_int_equal(start_copy(f->s, "c", 100, id2), 0);
	/* [ACB] another blob's copy id: 409 CopyIdMismatch. */
	assert_int_equal(copy_report(f->s, MDS_OP_ABORT_COPY, id2, "b", 0, NULL, &op), MDS_EPRECOND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_COPY_ID);
	assert_int_equal(copy_report(f->s, MDS_OP_ABORT_COPY, id, "b", 0, NULL, &op), 0);
	h = bhead(f->s, "data", "b");
	assert_int_equal(h.copy_status, MDS_COPY_ABORTED);
	assert_int_equal(h.size, 0);
	assert_string_equal(h.content_type, "image/png");  /* metadata kept */
	/* [ACB] nothing pending any more: 409 NoPendingCopyOperation. */
	assert_int_equal(copy_report(f->s, MDS_OP_ABORT_COPY, id, "b", 0, NULL, &op), MDS_EPRECOND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_COPY_ID);
	/* A put over a pending destination ends the copy: the report finds nothing. */
	assert_int_equal(tu_put(f->s, "data", tu_s("c"), 7, "\"p\""), 0);
	assert_int_equal(copy_report(f->s, MDS_OP_COPY_FINISH, id2, NULL, 100, NULL, &op),
			 MDS_EPRECOND);
	assert_int_equal(bhead(f->s, "data", "c").size, 7);
	assert_int_equal(tu_check(f->s), 0);
}

/* Completion racing a delete of the destination: either order, consistent state. */
struct race {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left;
};

static void race_done(struct mds_op *op)
{
	struct race *r = op->user;

	pthread_mutex_lock(&r->mu);
	r->left--;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void test_finish_races_delete(void **state)
{
	struct bfx *f = *state;
	int finish_first = 0, delete_first = 0;

	for (int round = 0; round < 20; round++) {
		struct race rc = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 2 };
		struct mds_op fin, del;
		uint64_t bytes, objects;
		char id[33];

		assert_int_equal(start_copy(f->s, "dst", 4096, id), 0);
		mds_op_init(&fin, MDS_OP_COPY_FINISH);
		fin.blob.id = tu_s(id);
		fin.blob.size = 4096;
		fin.done = race_done;
		fin.user = &rc;
		mds_op_init(&del, MDS_OP_OBJECT_DELETE);
		del.bucket = tu_s("data");
		del.name = tu_s("dst");
		del.done = race_done;
		del.user = &rc;
		if (round % 2) {
			assert_int_equal(mds_store_submit(f->s, &del), 0);
			assert_int_equal(mds_store_submit(f->s, &fin), 0);
		} else {
			assert_int_equal(mds_store_submit(f->s, &fin), 0);
			assert_int_equal(mds_store_submit(f->s, &del), 0);
		}
		pthread_mutex_lock(&rc.mu);
		while (rc.left)
			pthread_cond_wait(&rc.cv, &rc.mu);
		pthread_mutex_unlock(&rc.mu);
		/* The delete always wins the name; a late finish finds no copy. */
		assert_int_equal(del.status.code, 0);
		if (fin.status.code == 0) {
			finish_first++;
		} else {
			delete_first++;
			assert_int_equal(fin.status.code, MDS_EPRECOND);
			assert_int_equal(fin.blob_out.reason, MDS_REASON_COPY_ID);
		}
		assert_int_equal(bhead(f->s, "data", "dst").rc, MDS_ENOTFOUND);
		busage(f->s, "data", &bytes, &objects);
		assert_int_equal(bytes, 0);
		assert_int_equal(objects, 0);
	}
	printf("finish vs delete: finish first %d, delete first %d\n", finish_first, delete_first);
	assert_true(finish_first > 0 && delete_first > 0);
	assert_int_equal(tu_check(f->s), 0);
}

/*
 * Failure injection: the Nth LMDB call of a CopyObject of an append blob
 * (which copies its block map over an existing destination that owns a
 * map of its own) fails, for every N. A failed copy leaves the old
 * destination whole; mds check stays clean.
 */
static void test_copy_fault_injection(void **state)
{
	struct bfx *f = *state;
	struct mds_op op;
	int failures = 0;

	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = tu_s("data");
	op.name = tu_s("src");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	for (int i = 0; i < 4; i++) {
		mds_op_init(&op, MDS_OP_APPEND_BLOCK);
		op.bucket = tu_s("data");
		op.name = tu_s("src");
		op.blob.size = 10;
		assert_int_equal(mds_store_exec(f->s, &op), 0);
	}
	for (unsigned long n = 1;; n++) {
		unsigned long calls;
		struct bhead h;
		int rc;

		/* A destination that owns a map of its own (2 blocks, 20 bytes). */
		mds_op_init(&op, MDS_OP_APPEND_CREATE);
		op.bucket = tu_s("other");
		op.name = tu_s("dst");
		assert_int_equal(mds_store_exec(f->s, &op), 0);
		for (int i = 0; i < 2; i++) {
			mds_op_init(&op, MDS_OP_APPEND_BLOCK);
			op.bucket = tu_s("other");
			op.name = tu_s("dst");
			op.blob.size = 10;
			assert_int_equal(mds_store_exec(f->s, &op), 0);
		}
		copy_op(&op, "src", "other", "dst");
		mds_store_fault_arm(n, EIO);
		rc = mds_store_exec(f->s, &op);
		calls = mds_store_fault_calls();
		mds_store_fault_arm(0, 0);
		h = bhead(f->s, "other", "dst");
		if (rc) {
			failures++;
			assert_int_equal(rc, MDS_EIO);
			assert_int_equal(h.size, 20);
			assert_int_equal(h.blocks, 2);
		} else {
			assert_int_equal(h.size, 40);
			assert_int_equal(h.blocks, 4);
		}
		assert_int_equal(tu_check(f->s), 0);
		if (rc == 0 && calls < n)
			break;
	}
	printf("a copy of a 4-block append blob makes about %d lmdb calls; all failures clean\n",
	       failures);
	assert_true(failures > 10);
}

/* Tags 6 and 7 round-trip, and every truncation of them is refused, not misread. */
static void test_record_tags(void **state)
{
	struct mds_object_in in = { .size = 9, .blob_type = MDS_BLOB_APPEND, .etag = MDS_STR("\"e\"") };
	struct mds_object x, o;
	uint8_t buf[512];
	size_t n, base;

	(void)state;
	memset(&x, 0, sizeof(x));
	x.map_id = 77;
	x.map_blocks = 3;
	x.map_kind = MDS_MAP_APPEND;
	x.sealed = 1;
	x.max_block_size = 4u << 20;
	x.copy_status = MDS_COPY_FAILED;
	x.copy_id = MDS_STR("0123456789abcdef0123456789abcdef");
	x.copy_source = MDS_STR("https://a/b");
	x.copy_failure = MDS_STR("gone");
	x.copy_progress = 5;
	x.copy_total = 9;
	x.copy_done_ns = 123456789;
	base = mds_object_encode(buf, sizeof(buf), &in, 1, 2, 3);
	n = base + mds_object_ext_encode(buf + base, &x);
	assert_int_equal(n - base, mds_object_ext_encode(NULL, &x));
	assert_int_equal(mds_object_decode(buf, n, &o), 0);
	assert_int_equal(o.map_id, 77);
	assert_int_equal(o.map_blocks, 3);
	assert_int_equal(o.map_kind, MDS_MAP_APPEND);
	assert_int_equal(o.sealed, 1);
	assert_int_equal(o.max_block_size, 4u << 20);
	assert_int_equal(o.copy_status, MDS_COPY_FAILED);
	assert_true(mds_str_eq(o.copy_id, x.copy_id));
	assert_true(mds_str_eq(o.copy_source, x.copy_source));
	assert_true(mds_str_eq(o.copy_failure, x.copy_failure));
	assert_int_equal(o.copy_done_ns, 123456789);
	for (size_t cut = base + 1; cut < n; cut++) {
		struct mds_object only_map = x;
		size_t boundary;

		only_map.copy_status = 0;
		boundary = base + mds_object_ext_encode(NULL, &only_map);
		/* Cutting exactly between the two TLVs leaves a valid record without tag 7. */
		if (cut == boundary) {
			assert_int_equal(mds_object_decode(buf, cut, &o), 0);
			assert_int_equal(o.copy_status, 0);
			assert_int_equal(o.map_id, 77);
			continue;
		}
		assert_int_equal(mds_object_decode(buf, cut, &o), MDS_ECORRUPT);
	}
	/* A plain record has neither tag and decodes with zeroed blob fields. */
	assert_int_equal(mds_object_decode(buf, base, &o), 0);
	assert_int_equal(o.map_id, 0);
	assert_int_equal(o.copy_status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_object, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_table, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_append_blob, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_async_copy_success, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_async_copy_fail_abort, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_finish_races_delete, bfx_setup, bfx_teardown),
		cmocka_unit_test(test_record_tags),
		cmocka_unit_test_setup_teardown(test_copy_fault_injection, bfx_setup, bfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
