/*
 * test_blobquota.c - blob and S3 parity ops under quotas: reservations
 * held for in-flight uploads and pending copies count against hard limits
 * until the op that completes them converts them into usage, and abort,
 * failure or replacement gives them back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_blobutil.h"
#include "test_quota_util.h"

#define MIB (1024ull * 1024)
#define HOUR_NS (3600ull * 1000000000ull)

static void usage_of(struct mds_store *s, const char *scope, uint64_t *used, uint64_t *reserved)
{
	struct mds_quota_info qi;

	assert_int_equal(tq_usage(s, scope, &qi), 0);
	*used = qi.used_bytes;
	*reserved = qi.reserved_bytes;
}

static int create_upload(struct mds_store *s, const char *bucket, const char *name,
			 const char *token, char id[33])
{
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_CREATE_MULTIPART);
	op.bucket = tu_s(bucket);
	op.name = tu_s(name);
	if (token)
		op.reservation = tu_s(token);
	rc = mds_store_exec(s, &op);
	if (rc == 0)
		memcpy(id, op.blob_out.id, 33);
	return rc;
}

static const char *const ETAG = "\"0123456789abcdef0123456789abcdef\"";

static void parts3(struct mds_store *s, const char *bucket, const char *name, const char *id)
{
	for (uint32_t n = 1; n <= 3; n++) {
		struct mds_op op;

		mds_op_init(&op, MDS_OP_UPLOAD_PART);
		op.bucket = tu_s(bucket);
		op.name = tu_s(name);
		op.blob.id = tu_s(id);
		op.blob.part_number = n;
		op.blob.size = 5 * MIB;
		op.blob.etag = tu_s(ETAG);
		assert_int_equal(mds_store_exec(s, &op), 0);
	}
}

static int complete3(struct mds_store *s, const char *bucket, const char *name, const char *id,
		     struct mds_op *op)
{
	static struct mds_part_ref refs[3];

	for (uint32_t i = 0; i < 3; i++)
		refs[i] = (struct mds_part_ref){ i + 1, tu_s(ETAG) };
	mds_op_init(op, MDS_OP_COMPLETE_MULTIPART);
	op->bucket = tu_s(bucket);
	op->name = tu_s(name);
	op->blob.id = tu_s(id);
	op->blob.parts = refs;
	op->blob.n_parts = 3;
	return mds_store_exec(s, op);
}

/* The upload's reservation holds its room: others cannot take it, completion converts it. */
static void test_multipart_reservation(void **state)
{
	struct bfx *f = *state;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1], id[33];
	struct mds_status st;
	struct mds_op op;
	uint64_t used, reserved;

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 20 * MIB), 0);
	assert_int_equal(tq_reserve(f->s, "data", "big", 15 * MIB, HOUR_NS, tok, &st), 0);
	assert_int_equal(create_upload(f->s, "data", "big", tok, id), 0);
	parts3(f->s, "data", "big", id);
	/* Someone else cannot take the reserved room meanwhile. */
	assert_int_equal(tq_put(f->s, "data", "other", 6 * MIB, &st), MDS_EQUOTA);
	assert_int_equal(complete3(f->s, "data", "big", id, &op), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(used, 15 * MIB);
	assert_int_equal(reserved, 0);
	/* The reservation is spent: growth past the limit is refused again. */
	assert_int_equal(tq_put(f->s, "data", "other", 6 * MIB, &st), MDS_EQUOTA);
	assert_int_equal(tq_put(f->s, "data", "other", 5 * MIB, &st), 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* Without a reservation the completion itself meets the limit, and the upload is kept. */
static void test_multipart_over_limit(void **state)
{
	struct bfx *f = *state;
	char id[33];
	struct mds_op op;
	int rc;

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 10 * MIB), 0);
	assert_int_equal(create_upload(f->s, "data", "big", NULL, id), 0);
	parts3(f->s, "data", "big", id);
	assert_int_equal(complete3(f->s, "data", "big", id, &op), MDS_EQUOTA);
	assert_int_equal(bhead(f->s, "data", "big").rc, MDS_ENOTFOUND);
	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 20 * MIB), 0);
	rc = complete3(f->s, "data", "big", id, &op);
	assert_int_equal(rc, 0);   /* the upload survived the refusal */
	assert_int_equal(tu_check(f->s), 0);
}

/* Abort and expiry give the upload's reservation back. */
static void test_multipart_abort_expire_release(void **state)
{
	struct bfx *f = *state;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1], tok2[MDS_RESERVATION_TOKEN_LEN + 1], id[33], id2[33];
	struct mds_status st;
	struct mds_op op;
	uint64_t used, reserved;

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 20 * MIB), 0);
	assert_int_equal(tq_reserve(f->s, "data", "a", 10 * MIB, HOUR_NS, tok, &st), 0);
	assert_int_equal(tq_reserve(f->s, "data", "b", 10 * MIB, HOUR_NS, tok2, &st), 0);
	assert_int_equal(create_upload(f->s, "data", "a", tok, id), 0);
	assert_int_equal(create_upload(f->s, "data", "b", tok2, id2), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(reserved, 20 * MIB);
	mds_op_init(&op, MDS_OP_ABORT_MULTIPART);
	op.bucket = tu_s("data");
	op.name = tu_s("a");
	op.blob.id = tu_s(id);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(reserved, 10 * MIB);
	mds_op_init(&op, MDS_OP_EXPIRE_MULTIPART);
	op.bucket = tu_s("data");
	op.blob.expire_before_ns = mds_store_now_ns(f->s);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(op.blob_out.expired, 1);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(reserved, 0);
	assert_int_equal(used, 0);
	assert_int_equal(tu_check(f->s), 0);
}

static int from_url(struct mds_store *s, const char *name, uint64_t size, char id[33])
{
	struct mds_op op;
	int rc;

	mds_op_init(&op, MDS_OP_PUT_BLOB_FROM_URL);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	op.blob.source_url = tu_s("https://elsewhere/x");
	op.blob.size = size;
	rc = mds_store_exec(s, &op);
	if (rc == 0)
		memcpy(id, op.blob_out.id, 33);
	return rc;
}

/* A pending copy reserves the source size; finish converts, abort and delete release. */
static void test_copy_reservation(void **state)
{
	struct bfx *f = *state;
	char a[33], b[33], c[33];
	struct mds_op op;
	uint64_t used, reserved;

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 10000), 0);
	assert_int_equal(from_url(f->s, "a", 8000, a), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(reserved, 8000);
	assert_int_equal(from_url(f->s, "b", 5000, b), MDS_EQUOTA);   /* 8000 + 5000 > 10000 */
	assert_int_equal(bhead(f->s, "data", "b").rc, MDS_ENOTFOUND);
	mds_op_init(&op, MDS_OP_COPY_FINISH);
	op.blob.id = tu_s(a);
	op.blob.size = 8000;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(used, 8000);
	assert_int_equal(reserved, 0);
	assert_int_equal(tu_del(f->s, "data", tu_s("a")), 0);
	/* Abort releases. */
	assert_int_equal(from_url(f->s, "b", 5000, b), 0);
	mds_op_init(&op, MDS_OP_ABORT_COPY);
	op.blob.id = tu_s(b);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(reserved, 0);
	/* Deleting a pending destination releases too. */
	assert_int_equal(from_url(f->s, "c", 9000, c), 0);
	assert_int_equal(tu_del(f->s, "data", tu_s("c")), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(reserved, 0);
	assert_int_equal(used, 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* An append may spend a reservation made for its blob. */
static void test_append_reservation(void **state)
{
	struct bfx *f = *state;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];
	struct mds_status st;
	struct mds_op op;
	uint64_t used, reserved;

	assert_int_equal(tq_max_bytes(f->s, "bucket/data", 150), 0);
	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = tu_s("data");
	op.name = tu_s("log");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(tq_reserve(f->s, "data", "log", 100, HOUR_NS, tok, &st), 0);
	assert_int_equal(tq_put(f->s, "data", "x", 60, &st), MDS_EQUOTA);
	mds_op_init(&op, MDS_OP_APPEND_BLOCK);
	op.bucket = tu_s("data");
	op.name = tu_s("log");
	op.blob.size = 100;
	op.reservation = tu_s(tok);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	usage_of(f->s, "bucket/data", &used, &reserved);
	assert_int_equal(used, 100);
	assert_int_equal(reserved, 0);
	/* Plain appends are checked: 100 + 60 > 150. */
	op.reservation = MDS_STR_NULL;
	op.blob.size = 60;
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EQUOTA);
	assert_int_equal(bhead(f->s, "data", "log").size, 100);
	assert_int_equal(tu_check(f->s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_multipart_reservation, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_multipart_over_limit, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_multipart_abort_expire_release, bfx_setup,
						bfx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_reservation, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_append_reservation, bfx_setup, bfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
