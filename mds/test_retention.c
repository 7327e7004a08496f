/*
 * test_retention.c - object lock: retention modes, legal hold, every path
 * that could delete or overwrite a locked object, bucket delete, and the
 * retention clock (forward jumps, confirmation, restarts) with injected
 * wall and monotonic clocks.
 *
 * Conformance references:
 *   [S3-MODES]  AWS S3 User Guide, "Locking objects with Object Lock",
 *               section "Retention modes" (governance: users with
 *               s3:BypassGovernanceRetention who send
 *               x-amz-bypass-governance-retention:true can delete, shorten
 *               or remove; compliance: nobody, period can only be extended).
 *   [S3-HOLD]   same guide, section "Legal holds" (independent of retention,
 *               no expiry, blocks delete and overwrite until removed).
 *   [S3-PUTRET] S3 API Reference, PutObjectRetention (RetainUntilDate must
 *               be in the future; x-amz-bypass-governance-retention).
 *   [AZ-WORM]   Azure Storage docs, "Store business-critical blob data with
 *               immutable storage" - "Time-based retention policies"
 *               (locked policy: interval can be extended, not shortened;
 *               no delete or overwrite while in effect; append blocks only
 *               with allowProtectedAppendWrites) and "Legal holds".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_blobutil.h"

#define SEC 1000000000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define T0 (1800000000ull * SEC)   /* 2027-01-15 */
#define MIB (1ull << 20)

struct clk {
	_Atomic uint64_t wall;
	_Atomic uint64_t mono;
};

static uint64_t wall_fn(void *arg)
{
	return atomic_load(&((struct clk *)arg)->wall);
}

static uint64_t mono_fn(void *arg)
{
	return atomic_load(&((struct clk *)arg)->mono);
}

struct fx {
	char dir[256];
	struct mds_store *s;
	struct clk clk;
};

static void fx_open(struct fx *f)
{
	struct mds_store_opts o;
	struct mds_status st;

	memset(&o, 0, sizeof(o));
	o.clock = wall_fn;
	o.clock_arg = &f->clk;
	o.mono_clock = mono_fn;
	o.mono_clock_arg = &f->clk;
	o.clock_tolerance_ns = 5 * MIN;
	if (mds_store_open(&f->s, f->dir, &o, &st)) {
		fprintf(stderr, "open: %s\n", st.msg);
		abort();
	}
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	atomic_store(&f->clk.wall, T0);
	atomic_store(&f->clk.mono, 1000 * SEC);
	tu_tmpdir(f->dir);
	fx_open(f);
	if (tu_team(f->s, "t") || tu_bucket(f->s, "data", "t") || tu_bucket(f->s, "other", "t"))
		abort();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (tu_check(f->s) != 0) {
		fprintf(stderr, "mds check found problems at teardown\n");
		abort();
	}
	mds_store_close(f->s);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

/* Both clocks move: real time passes. */
static void advance(struct fx *f, uint64_t ns)
{
	atomic_fetch_add(&f->clk.wall, ns);
	atomic_fetch_add(&f->clk.mono, ns);
}

static int put(struct fx *f, const char *name, int bypass, struct mds_op *op)
{
	mds_op_init(op, MDS_OP_OBJECT_PUT);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->obj.size = 10;
	op->obj.etag = tu_s("\"e\"");
	op->bypass_governance = (uint8_t)bypass;
	return mds_store_exec(f->s, op);
}

static int del(struct fx *f, const char *name, int bypass, struct mds_op *op)
{
	mds_op_init(op, MDS_OP_OBJECT_DELETE);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->bypass_governance = (uint8_t)bypass;
	return mds_store_exec(f->s, op);
}

static int set_ret(struct fx *f, const char *name, uint8_t mode, uint64_t until, int bypass,
		   struct mds_op *op)
{
	mds_op_init(op, MDS_OP_RETENTION_SET);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->retention_mode = mode;
	op->retain_until_ns = until;
	op->bypass_governance = (uint8_t)bypass;
	return mds_store_exec(f->s, op);
}

static int set_hold(struct fx *f, const char *name, uint8_t on)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_LEGAL_HOLD_SET);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	op.legal_hold = on;
	return mds_store_exec(f->s, &op);
}

static int confirm(struct fx *f, uint64_t admin_time)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_CLOCK_CONFIRM);
	op.retain_until_ns = admin_time;
	return mds_store_exec(f->s, &op);
}

struct lockinfo {
	int rc;
	uint8_t mode, hold;
	uint64_t until, version, mtime;
	char etag[64];
};

static struct lockinfo head_lock(struct fx *f, const char *bucket, const char *name)
{
	struct lockinfo li;
	struct mds_reader *r;
	struct mds_status st;
	struct mds_object o;

	memset(&li, 0, sizeof(li));
	if (mds_reader_open(f->s, &r) || mds_reader_begin(r))
		abort();
	li.rc = mds_object_head(r, tu_s(bucket), tu_s(name), &o, &st);
	if (li.rc == 0) {
		li.mode = o.retention_mode;
		li.hold = o.legal_hold;
		li.until = o.retain_until_ns;
		li.version = o.version;
		li.mtime = o.mtime_ns;
		snprintf(li.etag, sizeof(li.etag), "%.*s", (int)o.etag.len, o.etag.p);
	}
	mds_reader_close(r);
	return li;
}

static struct mds_retention_clock clock_now(struct fx *f)
{
	struct mds_retention_clock c;

	assert_int_equal(mds_retention_clock_get(f->s, &c), 0);
	return c;
}

/* [S3-MODES] [S3-HOLD] [AZ-WORM]: who may delete or overwrite a locked object. */
static void test_delete_overwrite_table(void **state)
{
	struct fx *f = *state;
	static const struct row {
		const char *what;
		uint8_t mode;
		uint64_t until_off;   /* from now */
		uint8_t hold;
		uint64_t elapse;      /* real time passing before the attempt */
		int overwrite;        /* 0 delete, 1 put */
		int bypass;
		int rc;
	} rows[] = {
		{ "governance delete", MDS_RETENTION_GOVERNANCE, HOUR, 0, 0, 0, 0, MDS_ELOCKED },
		{ "governance delete, bypass", MDS_RETENTION_GOVERNANCE, HOUR, 0, 0, 0, 1, 0 },
		{ "governance overwrite", MDS_RETENTION_GOVERNANCE, HOUR, 0, 0, 1, 0, MDS_ELOCKED },
		{ "governance overwrite, bypass", MDS_RETENTION_GOVERNANCE, HOUR, 0, 0, 1, 1, 0 },
		{ "compliance delete", MDS_RETENTION_COMPLIANCE, HOUR, 0, 0, 0, 0, MDS_ELOCKED },
		{ "compliance delete, bypass", MDS_RETENTION_COMPLIANCE, HOUR, 0, 0, 0, 1, MDS_ELOCKED },
		{ "compliance overwrite, bypass", MDS_RETENTION_COMPLIANCE, HOUR, 0, 0, 1, 1, MDS_ELOCKED },
		{ "compliance, 1 s before expiry", MDS_RETENTION_COMPLIANCE, HOUR, 0, HOUR - SEC, 0, 0, MDS_ELOCKED },
		{ "compliance, at expiry", MDS_RETENTION_COMPLIANCE, HOUR, 0, HOUR, 0, 0, 0 },
		{ "governance expired", MDS_RETENTION_GOVERNANCE, HOUR, 0, 2 * HOUR, 1, 0, 0 },
		{ "legal hold delete, bypass", MDS_RETENTION_NONE, 0, 1, 0, 0, 1, MDS_ELOCKED },
		{ "legal hold overwrite", MDS_RETENTION_NONE, 0, 1, 0, 1, 0, MDS_ELOCKED },
		{ "legal hold outlives retention", MDS_RETENTION_GOVERNANCE, HOUR, 1, 2 * HOUR, 0, 1, MDS_ELOCKED },
		{ "no lock", MDS_RETENTION_NONE, 0, 0, 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct mds_op op;
		struct lockinfo before, after;
		char name[32];
		int rc;

		snprintf(name, sizeof(name), "obj-%zu", i);
		assert_int_equal(put(f, name, 0, &op), 0);
		if (r->mode)
			assert_int_equal(set_ret(f, name, r->mode, atomic_load(&f->clk.wall) + r->until_off, 0, &op), 0);
		if (r->hold)
			assert_int_equal(set_hold(f, name, 1), 0);
		advance(f, r->elapse);
		before = head_lock(f, "data", name);
		rc = r->overwrite ? put(f, name, r->bypass, &op) : del(f, name, r->bypass, &op);
		if (rc != r->rc)
			fail_msg("row '%s': rc %d, expected %d (%s)", r->what, rc, r->rc, op.status.msg);
		after = head_lock(f, "data", name);
		if (r->rc) {
			/* Refused: the record is untouched and the message says why. */
			assert_int_equal(after.rc, 0);
			assert_int_equal(after.version, before.version);
			assert_non_null(strstr(op.status.msg, name));
			if (r->hold)
				assert_non_null(strstr(op.status.msg, "legal hold"));
			else
				assert_non_null(strstr(op.status.msg,
						       r->mode == MDS_RETENTION_COMPLIANCE ? "compliance retention until 20"
										      : "governance retention until 20"));
		} else if (r->overwrite) {
			assert_int_equal(after.version, before.version + 1);
			assert_int_equal(after.mode, 0);  /* the new record carries its own lock (none) */
		} else {
			assert_int_equal(after.rc, MDS_ENOTFOUND);
		}
		if (r->hold && after.rc == 0)
			assert_int_equal(set_hold(f, name, 0), 0);
	}
}

/* [S3-MODES] [S3-PUTRET] [AZ-WORM]: how retention itself may change. */
static void test_retention_change_table(void **state)
{
	struct fx *f = *state;
	static const struct row {
		const char *what;
		uint8_t mode0;
		uint64_t until0;   /* offset from now; 0 = no retention */
		uint8_t mode1;
		uint64_t until1;
		int bypass;
		int rc;
	} rows[] = {
		{ "compliance extended", MDS_RETENTION_COMPLIANCE, HOUR, MDS_RETENTION_COMPLIANCE, 2 * HOUR, 0, 0 },
		{ "compliance same date", MDS_RETENTION_COMPLIANCE, HOUR, MDS_RETENTION_COMPLIANCE, HOUR, 0, 0 },
		{ "compliance shortened, bypass", MDS_RETENTION_COMPLIANCE, 2 * HOUR, MDS_RETENTION_COMPLIANCE, HOUR, 1, MDS_ELOCKED },
		{ "compliance removed, bypass", MDS_RETENTION_COMPLIANCE, HOUR, MDS_RETENTION_NONE, 0, 1, MDS_ELOCKED },
		{ "compliance to governance", MDS_RETENTION_COMPLIANCE, HOUR, MDS_RETENTION_GOVERNANCE, 3 * HOUR, 1, MDS_ELOCKED },
		{ "governance extended", MDS_RETENTION_GOVERNANCE, HOUR, MDS_RETENTION_GOVERNANCE, 2 * HOUR, 0, 0 },
		{ "governance shortened", MDS_RETENTION_GOVERNANCE, 2 * HOUR, MDS_RETENTION_GOVERNANCE, HOUR, 0, MDS_ELOCKED },
		{ "governance shortened, bypass", MDS_RETENTION_GOVERNANCE, 2 * HOUR, MDS_RETENTION_GOVERNANCE, HOUR, 1, 0 },
		{ "governance removed", MDS_RETENTION_GOVERNANCE, HOUR, MDS_RETENTION_NONE, 0, 0, MDS_ELOCKED },
		{ "governance removed, bypass", MDS_RETENTION_GOVERNANCE, HOUR, MDS_RETENTION_NONE, 0, 1, 0 },
		{ "governance to compliance", MDS_RETENTION_GOVERNANCE, HOUR, MDS_RETENTION_COMPLIANCE, HOUR, 0, 0 },
		{ "new date in the past", MDS_RETENTION_NONE, 0, MDS_RETENTION_GOVERNANCE, 0, 0, MDS_EINVAL },
		{ "mode without a date", MDS_RETENTION_NONE, 0, MDS_RETENTION_COMPLIANCE, 0, 0, MDS_EINVAL },
		{ "unknown mode", MDS_RETENTION_NONE, 0, 7, HOUR, 0, MDS_EINVAL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		uint64_t now = atomic_load(&f->clk.wall);
		struct lockinfo before, after;
		struct mds_op op;
		char name[32];
		uint64_t until1;
		int rc;

		snprintf(name, sizeof(name), "chg-%zu", i);
		assert_int_equal(put(f, name, 0, &op), 0);
		if (r->mode0)
			assert_int_equal(set_ret(f, name, r->mode0, now + r->until0, 0, &op), 0);
		before = head_lock(f, "data", name);
		until1 = r->mode1 == MDS_RETENTION_NONE ? 0 : r->until1 ? now + r->until1 :
			 (r->what[0] == 'n' ? now - SEC : 0);
		rc = set_ret(f, name, r->mode1, until1, r->bypass, &op);
		if (rc != r->rc)
			fail_msg("row '%s': rc %d, expected %d (%s)", r->what, rc, r->rc, op.status.msg);
		after = head_lock(f, "data", name);
		if (rc) {
			assert_int_equal(after.mode, before.mode);
			assert_int_equal(after.until, before.until);
		} else {
			assert_int_equal(after.mode, r->mode1);
			assert_int_equal(after.until, until1);
			/* Not a new version: S3 PutObjectRetention keeps ETag and Last-Modified. */
			assert_int_equal(after.version, before.version);
			assert_int_equal(after.mtime, before.mtime);
			assert_string_equal(after.etag, before.etag);
		}
		/* Clean up: let everything expire, then delete. */
		advance(f, 4 * HOUR);
		assert_int_equal(del(f, name, 0, &op), 0);
	}
}

/* Lock set at creation (S3 PutObject x-amz-object-lock-*); copies do not inherit locks. */
static void test_lock_on_put_and_copy(void **state)
{
	struct fx *f = *state;
	uint64_t now = atomic_load(&f->clk.wall);
	struct lockinfo li;
	struct mds_op op;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("data");
	op.name = tu_s("born-locked");
	op.obj.size = 5;
	op.obj.retention_mode = MDS_RETENTION_COMPLIANCE;
	op.obj.retain_until_ns = now + HOUR;
	op.obj.legal_hold = 1;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	li = head_lock(f, "data", "born-locked");
	assert_int_equal(li.mode, MDS_RETENTION_COMPLIANCE);
	assert_int_equal(li.until, now + HOUR);
	assert_int_equal(li.hold, 1);

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("data");
	op.name = tu_s("born-expired");
	op.obj.retention_mode = MDS_RETENTION_GOVERNANCE;
	op.obj.retain_until_ns = now - 1;
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EINVAL);
	op.obj.retain_until_ns = 0;
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EINVAL);  /* mode without a date */

	/* CopyObject from the locked source to a new name: the copy is free. */
	mds_op_init(&op, MDS_OP_COPY_OBJECT);
	op.blob.src_bucket = tu_s("data");
	op.blob.src_name = tu_s("born-locked");
	op.bucket = tu_s("data");
	op.name = tu_s("copy-of-locked");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	li = head_lock(f, "data", "copy-of-locked");
	assert_int_equal(li.mode, 0);
	assert_int_equal(li.hold, 0);
	assert_int_equal(del(f, "copy-of-locked", 0, &op), 0);

	assert_int_equal(set_hold(f, "born-locked", 0), 0);
	advance(f, HOUR);
	assert_int_equal(del(f, "born-locked", 0, &op), 0);
}

static int make_append(struct fx *f, const char *name)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	return mds_store_exec(f->s, &op);
}

static int append_block(struct fx *f, const char *name, struct mds_op *op)
{
	mds_op_init(op, MDS_OP_APPEND_BLOCK);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->blob.size = 100;
	op->blob.locator = tu_s("blk");
	return mds_store_exec(f->s, op);
}

/* Every blob-parity path that replaces a record refuses a locked one. */
static void test_every_path_refuses(void **state)
{
	struct fx *f = *state;
	uint64_t until = atomic_load(&f->clk.wall) + HOUR;
	struct mds_block_ref ref = { MDS_STR("b1"), MDS_BLOCK_UNCOMMITTED };
	struct mds_part_ref part = { 1, MDS_STR("\"0123456789abcdef0123456789abcdef\"") };
	struct lockinfo before;
	char upload[33];
	struct mds_op op;
	const char *paths[] = { "append create", "append block", "copy object", "blob from url",
				"complete multipart", "put block list" };
	int rc;

	assert_int_equal(make_append(f, "locked"), 0);
	assert_int_equal(append_block(f, "locked", &op), 0);
	assert_int_equal(put(f, "src", 0, &op), 0);
	/* Governance with no bypass asked: every path must refuse. */
	assert_int_equal(set_ret(f, "locked", MDS_RETENTION_GOVERNANCE, until, 0, &op), 0);
	before = head_lock(f, "data", "locked");

	mds_op_init(&op, MDS_OP_CREATE_MULTIPART);
	op.bucket = tu_s("data");
	op.name = tu_s("locked");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	memcpy(upload, op.blob_out.id, 33);
	mds_op_init(&op, MDS_OP_UPLOAD_PART);
	op.bucket = tu_s("data");
	op.name = tu_s("locked");
	op.blob.id = tu_s(upload);
	op.blob.part_number = 1;
	op.blob.size = 10;
	op.blob.etag = part.etag;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	mds_op_init(&op, MDS_OP_PUT_BLOCK);
	op.bucket = tu_s("data");
	op.name = tu_s("locked");
	op.blob.id = tu_s("b1");
	op.blob.size = 10;
	assert_int_equal(mds_store_exec(f->s, &op), 0);   /* staging touches no record */

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		switch (i) {
		case 0:
			mds_op_init(&op, MDS_OP_APPEND_CREATE);
			break;
		case 1:
			rc = append_block(f, "locked", &op);
			goto check;
		case 2:
			mds_op_init(&op, MDS_OP_COPY_OBJECT);
			op.blob.src_bucket = tu_s("data");
			op.blob.src_name = tu_s("src");
			break;
		case 3:
			mds_op_init(&op, MDS_OP_PUT_BLOB_FROM_URL);
			op.blob.source_url = tu_s("https://elsewhere/c/b");
			op.blob.size = 10;
			break;
		case 4:
			mds_op_init(&op, MDS_OP_COMPLETE_MULTIPART);
			op.blob.id = tu_s(upload);
			op.blob.parts = &part;
			op.blob.n_parts = 1;
			break;
		case 5:
			mds_op_init(&op, MDS_OP_PUT_BLOCK_LIST);
			op.blob.blocks = &ref;
			op.blob.n_blocks = 1;
			break;
		}
		op.bucket = tu_s("data");
		op.name = tu_s("locked");
		rc = mds_store_exec(f->s, &op);
check:
		if (rc != MDS_ELOCKED)
			fail_msg("%s over a locked object: rc %d (%s)", paths[i], rc, op.status.msg);
		assert_non_null(strstr(op.status.msg, "governance retention until"));
		{
			struct lockinfo now = head_lock(f, "data", "locked");

			assert_int_equal(now.version, before.version);
			assert_string_equal(now.etag, before.etag);
		}
	}
	/* With bypass asked, governance yields: the multipart completion goes through. */
	mds_op_init(&op, MDS_OP_COMPLETE_MULTIPART);
	op.bucket = tu_s("data");
	op.name = tu_s("locked");
	op.blob.id = tu_s(upload);
	op.blob.parts = &part;
	op.blob.n_parts = 1;
	op.bypass_governance = 1;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(head_lock(f, "data", "locked").mode, 0);   /* a new object */
	/* Seal is not a write of content: allowed on a locked append blob. */
	assert_int_equal(make_append(f, "sealme"), 0);
	assert_int_equal(set_hold(f, "sealme", 1), 0);
	mds_op_init(&op, MDS_OP_SEAL_BLOB);
	op.bucket = tu_s("data");
	op.name = tu_s("sealme");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(head_lock(f, "data", "sealme").hold, 1);   /* kept by the rewrite */
	assert_int_equal(append_block(f, "sealme", &op), MDS_ELOCKED);
	assert_int_equal(set_hold(f, "sealme", 0), 0);
	assert_int_equal(del(f, "sealme", 0, &op), 0);
	assert_int_equal(del(f, "locked", 0, &op), 0);
	assert_int_equal(del(f, "src", 0, &op), 0);
}

/* A pending copy destination cannot be locked until the copy completes. */
static void test_pending_copy_not_lockable(void **state)
{
	struct fx *f = *state;
	struct mds_op op;

	mds_op_init(&op, MDS_OP_PUT_BLOB_FROM_URL);
	op.bucket = tu_s("data");
	op.name = tu_s("pending");
	op.blob.source_url = tu_s("https://elsewhere/c/b");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(set_ret(f, "pending", MDS_RETENTION_COMPLIANCE,
				 atomic_load(&f->clk.wall) + HOUR, 0, &op), MDS_EPRECOND);
	assert_int_equal(set_hold(f, "pending", 1), MDS_EPRECOND);
	assert_int_equal(del(f, "pending", 0, &op), 0);
}

/* Buckets can only be deleted empty, and locked objects cannot be deleted. */
static void test_bucket_with_locked_object(void **state)
{
	struct fx *f = *state;
	struct mds_op op;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("other");
	op.name = tu_s("keep");
	op.obj.retention_mode = MDS_RETENTION_COMPLIANCE;
	op.obj.retain_until_ns = atomic_load(&f->clk.wall) + HOUR;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	mds_op_init(&op, MDS_OP_OBJECT_DELETE);
	op.bucket = tu_s("other");
	op.name = tu_s("keep");
	op.bypass_governance = 1;
	assert_int_equal(mds_store_exec(f->s, &op), MDS_ELOCKED);
	mds_op_init(&op, MDS_OP_BUCKET_DELETE);
	op.bucket = tu_s("other");
	assert_int_equal(mds_store_exec(f->s, &op), MDS_ENOTEMPTY);
	advance(f, HOUR);
	mds_op_init(&op, MDS_OP_OBJECT_DELETE);
	op.bucket = tu_s("other");
	op.name = tu_s("keep");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	mds_op_init(&op, MDS_OP_BUCKET_DELETE);
	op.bucket = tu_s("other");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
}

/* The wall clock jumps forward: nothing unlocks early; confirmation releases. */
static void test_clock_jump(void **state)
{
	struct fx *f = *state;
	uint64_t now = atomic_load(&f->clk.wall);
	struct mds_retention_clock c;
	struct mds_op op;

	assert_int_equal(put(f, "a", 0, &op), 0);
	assert_int_equal(set_ret(f, "a", MDS_RETENTION_COMPLIANCE, now + HOUR, 0, &op), 0);
	assert_int_equal(put(f, "b", 0, &op), 0);
	assert_int_equal(set_ret(f, "b", MDS_RETENTION_COMPLIANCE, now + HOUR, 0, &op), 0);
	c = clock_now(f);
	assert_int_equal(c.suspect, 0);

	/* A step within the tolerance (NTP-sized) is not suspect. */
	atomic_fetch_add(&f->clk.wall, 4 * MIN);
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	assert_int_equal(clock_now(f).suspect, 0);

	/* The wall clock leaps 2 h while 1 s of real time passes. */
	atomic_fetch_add(&f->clk.wall, 2 * HOUR);
	atomic_fetch_add(&f->clk.mono, SEC);
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	assert_non_null(strstr(op.status.msg, "clock is suspect"));
	c = clock_now(f);
	assert_int_equal(c.suspect, 1);
	assert_int_equal(c.restart_gap, 0);
	assert_true(c.effective_ns < now + HOUR);
	assert_int_equal(c.effective_ns, c.trusted_ns);
	/* A new lock is judged by trusted time too: after the leap, the date is "future". */

	/* Confirmation with a time the server does not have is refused. */
	assert_int_equal(confirm(f, now), MDS_EPRECOND);
	assert_int_equal(clock_now(f).suspect, 1);
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);

	/* The admin confirms: expiry uses the wall clock again. */
	assert_int_equal(confirm(f, atomic_load(&f->clk.wall)), 0);
	c = clock_now(f);
	assert_int_equal(c.suspect, 0);
	assert_int_equal(c.effective_ns, atomic_load(&f->clk.wall));
	assert_int_equal(del(f, "a", 0, &op), 0);
	assert_int_equal(del(f, "b", 0, &op), 0);
}

/* While suspect, real time passing (monotonic) still releases on schedule. */
static void test_clock_suspect_real_time(void **state)
{
	struct fx *f = *state;
	uint64_t now = atomic_load(&f->clk.wall);
	struct mds_op op;

	assert_int_equal(put(f, "a", 0, &op), 0);
	assert_int_equal(set_ret(f, "a", MDS_RETENTION_GOVERNANCE, now + HOUR, 0, &op), 0);
	atomic_fetch_add(&f->clk.wall, 10 * HOUR);          /* jump */
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	atomic_fetch_add(&f->clk.mono, HOUR - 2 * SEC);     /* not quite an hour of real time */
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	atomic_fetch_add(&f->clk.mono, 2 * SEC);
	assert_int_equal(del(f, "a", 0, &op), 0);
	assert_int_equal(clock_now(f).suspect, 1);          /* still until confirmed */
	assert_int_equal(confirm(f, 0), 0);
}

/* A wall clock that goes back only delays releases. */
static void test_clock_backwards(void **state)
{
	struct fx *f = *state;
	uint64_t now = atomic_load(&f->clk.wall);
	struct mds_op op;

	assert_int_equal(put(f, "a", 0, &op), 0);
	assert_int_equal(set_ret(f, "a", MDS_RETENTION_COMPLIANCE, now + HOUR, 0, &op), 0);
	atomic_fetch_sub(&f->clk.wall, HOUR);
	atomic_fetch_add(&f->clk.mono, HOUR);               /* an hour passed, wall says none */
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	assert_int_equal(clock_now(f).suspect, 0);
	advance(f, HOUR);                                    /* wall back at the start */
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	advance(f, HOUR);
	assert_int_equal(del(f, "a", 0, &op), 0);
}

static void reopen(struct fx *f, uint64_t wall, uint64_t mono)
{
	mds_store_close(f->s);
	atomic_store(&f->clk.wall, wall);
	atomic_store(&f->clk.mono, mono);
	fx_open(f);
}

/*
 * Restart: downtime cannot be measured, so a wall clock more than the
 * tolerance ahead of the persisted high-water mark counts the downtime as
 * zero until an admin confirms; a short restart is not flagged.
 */
static void test_restart(void **state)
{
	struct fx *f = *state;
	uint64_t now = atomic_load(&f->clk.wall);
	struct mds_retention_clock c;
	struct mds_op op;

	assert_int_equal(put(f, "a", 0, &op), 0);
	assert_int_equal(set_ret(f, "a", MDS_RETENTION_COMPLIANCE, now + HOUR, 0, &op), 0);
	assert_int_equal(put(f, "b", 0, &op), 0);
	assert_int_equal(set_ret(f, "b", MDS_RETENTION_COMPLIANCE, now + 2 * HOUR, 0, &op), 0);

	/* Short restart (2 min down, monotonic clock reset): nothing suspect. */
	reopen(f, now + 2 * MIN, 5 * SEC);
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	c = clock_now(f);
	assert_int_equal(c.high_ns, now);   /* a refused op persists nothing */
	assert_int_equal(put(f, "unrelated", 0, &op), 0);
	c = clock_now(f);
	assert_int_equal(c.suspect, 0);
	assert_int_equal(c.high_ns, now + 2 * MIN);

	/* Down "for 90 minutes": the wall clock says "a" expired; it stays locked. */
	reopen(f, now + 2 * MIN + 90 * MIN, 7 * SEC);
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	c = clock_now(f);
	assert_int_equal(c.suspect, 1);
	assert_int_equal(c.restart_gap, 1);
	assert_int_equal(c.trusted_ns, now + 2 * MIN);   /* mark + 0 s of monotonic time */

	/* Still suspect across another restart until confirmed. */
	reopen(f, now + 95 * MIN, 9 * SEC);
	assert_int_equal(del(f, "a", 0, &op), MDS_ELOCKED);
	assert_int_equal(clock_now(f).restart_gap, 1);
	assert_int_equal(confirm(f, now + 95 * MIN), 0);
	assert_int_equal(del(f, "a", 0, &op), 0);
	assert_int_equal(del(f, "b", 0, &op), MDS_ELOCKED);   /* 2 h not reached */
	c = clock_now(f);
	assert_int_equal(c.suspect, 0);
	assert_int_equal(c.high_ns, now + 95 * MIN);
	advance(f, HOUR);
	assert_int_equal(del(f, "b", 0, &op), 0);
	assert_int_equal(del(f, "unrelated", 0, &op), 0);
}

/* The record format: tag 8 round-trips and unknown lock bytes are corruption. */
static void test_record_roundtrip(void **state)
{
	struct fx *f = *state;
	struct lockinfo li;
	struct mds_op op;

	assert_int_equal(put(f, "r", 0, &op), 0);
	assert_int_equal(set_ret(f, "r", MDS_RETENTION_GOVERNANCE, T0 + 3 * HOUR, 0, &op), 0);
	assert_int_equal(set_hold(f, "r", 1), 0);
	li = head_lock(f, "data", "r");
	assert_int_equal(li.mode, MDS_RETENTION_GOVERNANCE);
	assert_int_equal(li.until, T0 + 3 * HOUR);
	assert_int_equal(li.hold, 1);
	assert_int_equal(set_hold(f, "r", 2), MDS_EINVAL);
	assert_int_equal(set_hold(f, "r", 0), 0);
	li = head_lock(f, "data", "r");
	assert_int_equal(li.hold, 0);
	assert_int_equal(li.mode, MDS_RETENTION_GOVERNANCE);  /* hold and retention independent */
	assert_int_equal(del(f, "r", 1, &op), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delete_overwrite_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_change_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_on_put_and_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_path_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_copy_not_lockable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_with_locked_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_jump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_suspect_real_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_backwards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_roundtrip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
