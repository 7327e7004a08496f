/*
 * test_global_view.c - the global view's storage and apply op, driven by
 * real leaves: a source store with the change feed records mutations of
 * every kind, its leaves are applied to a second store's view, and the
 * view must equal the source's state (objects byte for byte, buckets,
 * per-team usage) at every cursor. Also: the apply is refused when the
 * cursor moved (exactly once), a frozen view refuses applies until reset,
 * a snapshot replace rebuilds the view, names of 1,024 bytes list in byte
 * order, mds_check recounts the view, and applying appends no leaf to the
 * subscriber's own feed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>

#include "feed_log.h"
#include "global_view.h"
#include "mds/quota.h"
#include "nametree.h"
#include "quota.h"
#include "record.h"
#include "testutil.h"

#define ORIGIN "island-a"

struct fx {
	char sdir[256], ddir[256];
	struct mds_store *src, *dst;
	struct mds_feed_log *sl, *dl;
	uint64_t applied;             /* the view's cursor size */
	struct mds_merkle_compact range;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mds_status st;

	tu_tmpdir(f->sdir);
	tu_tmpdir(f->ddir);
	if (mds_store_open(&f->src, f->sdir, NULL, &st) ||
	    mds_feed_log_open(f->src, ORIGIN, &f->sl, &st) ||
	    mds_store_open(&f->dst, f->ddir, NULL, &st) ||
	    mds_feed_log_open(f->dst, "island-b", &f->dl, &st))
		return -1;
	mds_merkle_compact_init(&f->range);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mds_store_close(f->src);
	mds_store_close(f->dst);
	mds_feed_log_close(f->sl);
	mds_feed_log_close(f->dl);
	tu_rmrf(f->sdir);
	tu_rmrf(f->ddir);
	free(f);
	return 0;
}

static uint64_t log_size(struct mds_store *s)
{
	struct mds_reader *r;
	uint64_t n = 0;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_feed_log_size(mds_reader_txn(r), &n), 0);
	mds_reader_close(r);
	return n;
}

/* Leaves [from, to) of the source, copied and decoded. */
struct batch {
	char **bytes;
	struct mds_feed_leaf *leaves;
	size_t n;
};

static void batch_read(struct mds_store *s, uint64_t from, uint64_t to, struct batch *b)
{
	struct mds_reader *r;
	struct mds_status st;

	b->n = (size_t)(to - from);
	b->bytes = calloc(b->n + 1, sizeof(char *));
	b->leaves = calloc(b->n + 1, sizeof(*b->leaves));
	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	for (size_t i = 0; i < b->n; i++) {
		struct mds_str v;

		assert_int_equal(mds_feed_log_leaf(mds_reader_txn(r), from + i, &v), 0);
		b->bytes[i] = malloc(v.len);
		memcpy(b->bytes[i], v.p, v.len);
		assert_int_equal(mds_feed_leaf_decode(b->bytes[i], v.len, &b->leaves[i], &st), 0);
	}
	mds_reader_close(r);
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->bytes[i]);
	free(b->bytes);
	free(b->leaves);
}

/* Failure injection around the apply op only (test_apply_faults). */
static unsigned long fault_n;
static int fault_err;
static unsigned long fault_calls;

/* Apply the source's leaves [f->applied, to) as one op; returns its code. */
static int sync_to(struct fx *f, uint64_t to, int kind)
{
	struct batch b;
	struct mds_gv_update u;
	struct mds_merkle_compact next = f->range;
	struct mds_op op;
	uint8_t root[32], enc[MDS_MERKLE_COMPACT_MAX];
	size_t elen;
	int rc;

	batch_read(f->src, f->applied, to, &b);
	for (size_t i = 0; i < b.n; i++) {
		uint8_t h[32];
		struct mds_reader *r;
		struct mds_str v;

		assert_int_equal(mds_reader_open(f->src, &r), 0);
		assert_int_equal(mds_reader_begin(r), 0);
		assert_int_equal(mds_feed_log_leaf(mds_reader_txn(r), f->applied + i, &v), 0);
		assert_int_equal(mds_merkle_hash_leaf(v.p, v.len, h), 0);
		mds_reader_close(r);
		assert_int_equal(mds_merkle_compact_append(&next, h), 0);
	}
	assert_int_equal(mds_merkle_compact_root(&next, root), 0);
	assert_int_equal(mds_merkle_compact_encode(&next, enc, sizeof(enc), &elen), 0);
	memset(&u, 0, sizeof(u));
	u.origin = tu_s(ORIGIN);
	u.from_size = f->applied;
	u.leaves = b.leaves;
	u.n_leaves = b.n;
	u.size = to;
	u.root = root;
	u.range = (struct mds_str){ (const char *)enc, elen };
	u.note = tu_s("note\n");
	u.checkpoint_ms = 1000 + to;
	mds_op_init(&op, (enum mds_op_kind)kind);
	op.global = &u;
	if (fault_n)
		mds_store_fault_arm(fault_n, fault_err);
	rc = mds_store_exec(f->dst, &op);
	if (fault_n) {
		fault_calls = mds_store_fault_calls();
		mds_store_fault_arm(0, 0);
	}
	if (rc == 0) {
		f->applied = to;
		f->range = next;
	}
	batch_free(&b);
	return rc;
}

static int sync_all(struct fx *f)
{
	return sync_to(f, log_size(f->src), MDS_OP_GLOBAL_APPLY);
}

/* ---- comparing the view with the source ---------------------------------------- */

struct team_cmp {
	struct mds_store *dst;
	int teams;
};

/* Every source bucket's objects equal the view's, byte for byte, in order. */
static int cmp_bucket(void *arg, const struct mds_bucket *sb)
{
	struct fx *f = arg;
	struct mds_reader *rs, *rd;
	struct mds_tree_iter it;
	struct mds_gv_iter *g;
	struct mds_gv_bucket vb;
	struct mds_bucket full;
	struct mds_status st;
	int rc, grc;

	assert_int_equal(mds_reader_open(f->src, &rs), 0);
	assert_int_equal(mds_reader_begin(rs), 0);
	assert_int_equal(mds_reader_open(f->dst, &rd), 0);
	assert_int_equal(mds_reader_begin(rd), 0);
	assert_int_equal(mds_bucket_get(rs, sb->name, &full, &st), 0);
	assert_int_equal(mds_gv_bucket_get(mds_reader_txn(rd), tu_s(ORIGIN), sb->name, &vb), 0);
	assert_int_equal(vb.team.len, full.team.len);
	assert_memory_equal(vb.team.p, full.team.p, vb.team.len);
	assert_int_equal(vb.bytes, full.bytes);
	assert_int_equal(vb.objects, full.objects);
	assert_int_equal(mds_gv_iter_open(mds_reader_txn(rd), tu_s(ORIGIN), sb->name, MDS_STR_NULL,
					  MDS_STR_NULL, 1, &g), 0);
	mds_tree_iter_init(&it, mds_reader_txn(rs), full.id);
	for (rc = mds_tree_iter_seek(&it, MDS_STR_NULL, 1); rc == 0; rc = mds_tree_iter_next(&it)) {
		struct mds_gv_object o;
		struct mds_object dec;

		assert_int_equal(mds_gv_iter_get(g, &o), 0);
		assert_int_equal(o.name.len, it.name_len);
		assert_memory_equal(o.name.p, it.name, it.name_len);
		assert_int_equal(o.record.len, it.rec.len);
		assert_memory_equal(o.record.p, it.rec.p, it.rec.len);
		assert_int_equal(mds_object_decode(o.record.p, o.record.len, &dec), 0);
		assert_int_equal(o.key_version, dec.version);
		grc = mds_gv_iter_next(g);
		assert_true(grc == 0 || grc == MDS_ENOTFOUND);
	}
	assert_int_equal(rc, MDS_ENOTFOUND);
	{
		struct mds_gv_object o;

		assert_int_equal(mds_gv_iter_get(g, &o), MDS_ENOTFOUND);
	}
	mds_gv_iter_close(g);
	mds_tree_iter_release(&it);
	mds_reader_close(rs);
	mds_reader_close(rd);
	return 0;
}

static int count_usage(void *arg, const struct mds_gv_usage *u)
{
	struct fx *f = arg;
	struct mds_reader *rs;
	struct mds_team tm;
	struct mds_status st;

	assert_int_equal(u->origin.len, strlen(ORIGIN));
	assert_int_equal(mds_reader_open(f->src, &rs), 0);
	assert_int_equal(mds_reader_begin(rs), 0);
	assert_int_equal(mds_team_get(rs, u->team, &tm, &st), 0);
	assert_int_equal(u->bytes, tm.bytes);
	assert_int_equal(u->objects, tm.objects);
	assert_int_equal(u->buckets, tm.buckets);
	mds_reader_close(rs);
	return 0;
}

static void report(void *arg, const char *problem)
{
	(void)arg;
	print_error("check: %s\n", problem);
}

/* The view equals the source's current state; both stores pass mds_check. */
static void assert_view_equals_source(struct fx *f)
{
	struct mds_reader *rs, *rd;
	struct mds_status st;
	struct mds_gv_cursor c;

	assert_int_equal(mds_reader_open(f->src, &rs), 0);
	assert_int_equal(mds_reader_begin(rs), 0);
	assert_int_equal(mds_bucket_list(rs, MDS_STR_NULL, MDS_STR_NULL, 0, cmp_bucket, f, &st), 0);
	mds_reader_close(rs);
	assert_int_equal(mds_reader_open(f->dst, &rd), 0);
	assert_int_equal(mds_reader_begin(rd), 0);
	assert_int_equal(mds_gv_usage_list(mds_reader_txn(rd), MDS_STR_NULL, count_usage, f), 0);
	assert_int_equal(mds_check(rd, report, NULL, &st), 0);
	assert_int_equal(mds_gv_cursor_get(mds_reader_txn(rd), tu_s(ORIGIN), &c), 0);
	assert_int_equal(c.size, f->applied);
	assert_int_equal(c.frozen, 0);
	mds_reader_close(rd);
}

static size_t usage_entries(struct mds_store *s)
{
	struct mds_reader *r;
	struct mds_kcur *c;
	struct mds_str k, v;
	size_t n = 0;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_kv_cursor_open(mds_reader_txn(r), MDS_DB_GV_USAGE, &c), 0);
	for (int rc = mds_kv_first(c, &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v))
		n++;
	mds_kv_cursor_close(c);
	mds_reader_close(r);
	return n;
}

static int put_meta(struct mds_store *s, const char *bucket, struct mds_str name, uint64_t size)
{
	struct mds_op op;
	struct mds_pair meta[1] = { { MDS_STR("k"), MDS_STR("v") } };

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s(bucket);
	op.name = name;
	op.obj.size = size;
	op.obj.etag = MDS_STR("\"e\"");
	op.obj.content_type = MDS_STR("text/plain");
	op.obj.meta = meta;
	op.obj.n_meta = 1;
	return mds_store_exec(s, &op);
}

/* ---- tests ---------------------------------------------------------------------- */

/* Every kind that changes the view, applied a few leaves at a time. */
static void test_every_kind(void **state)
{
	struct fx *f = *state;
	struct mds_op op;
	char longname[MDS_OBJECT_NAME_MAX];

	assert_int_equal(tu_team(f->src, "ml"), 0);
	assert_int_equal(tu_team(f->src, "infra"), 0);
	assert_int_equal(tu_team(f->src, "gone"), 0);
	assert_int_equal(tu_bucket(f->src, "ckpt", "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "logs", "infra"), 0);
	assert_int_equal(sync_all(f), 0);
	assert_view_equals_source(f);
	assert_int_equal(usage_entries(f->dst), 3);

	assert_int_equal(tu_put(f->src, "ckpt", tu_s("a/1"), 100, "e1"), 0);
	assert_int_equal(put_meta(f->src, "ckpt", tu_s("a/2"), 200), 0);
	assert_int_equal(tu_put(f->src, "logs", tu_s("x"), 7, "e3"), 0);
	assert_int_equal(tu_put(f->src, "ckpt", tu_s("a/1"), 150, "e4"), 0);   /* overwrite */
	memset(longname, 'n', sizeof(longname));
	assert_int_equal(tu_put(f->src, "ckpt", (struct mds_str){ longname, sizeof(longname) }, 1, "l"), 0);
	longname[sizeof(longname) - 1] = 'm';                                   /* sorts first */
	assert_int_equal(tu_put(f->src, "ckpt", (struct mds_str){ longname, sizeof(longname) }, 2, "l"), 0);
	longname[600] = 'a';
	assert_int_equal(tu_put(f->src, "ckpt", (struct mds_str){ longname, 601 }, 3, "l"), 0);
	assert_int_equal(sync_to(f, log_size(f->src) - 2, MDS_OP_GLOBAL_APPLY), 0);
	assert_int_equal(sync_all(f), 0);
	assert_view_equals_source(f);

	/* quota and reservation leaves: not part of the view, still applied */
	mds_op_init(&op, MDS_OP_QUOTA_SET);
	op.scope = MDS_STR("team/ml");
	op.limits.set = MDS_QUOTA_MAX_BYTES;
	op.limits.max_bytes = 1 << 20;
	op.principal = MDS_STR("admin");
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	/* retention lives in the record */
	mds_op_init(&op, MDS_OP_LEGAL_HOLD_SET);
	op.bucket = MDS_STR("logs");
	op.name = MDS_STR("x");
	op.legal_hold = 1;
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	mds_op_init(&op, MDS_OP_LEGAL_HOLD_SET);
	op.bucket = MDS_STR("logs");
	op.name = MDS_STR("x");
	op.legal_hold = 0;
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	/* append blob: create, append */
	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = MDS_STR("logs");
	op.name = MDS_STR("app");
	op.obj.blob_type = MDS_BLOB_APPEND;
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	mds_op_init(&op, MDS_OP_APPEND_BLOCK);
	op.bucket = MDS_STR("logs");
	op.name = MDS_STR("app");
	op.blob.size = 4096;
	op.blob.locator = MDS_STR("loc");
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	assert_int_equal(sync_all(f), 0);
	assert_view_equals_source(f);

	/* deletes: objects, an emptied bucket, a team */
	assert_int_equal(tu_del(f->src, "ckpt", tu_s("a/2")), 0);
	assert_int_equal(tu_del(f->src, "logs", tu_s("x")), 0);
	assert_int_equal(tu_del(f->src, "logs", tu_s("app")), 0);
	mds_op_init(&op, MDS_OP_BUCKET_DELETE);
	op.bucket = MDS_STR("logs");
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	mds_op_init(&op, MDS_OP_TEAM_DELETE);
	op.team = MDS_STR("gone");
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	/* and a bucket re-created by another team */
	assert_int_equal(tu_bucket(f->src, "logs", "ml"), 0);
	assert_int_equal(tu_put(f->src, "logs", tu_s("y"), 9, "e9"), 0);
	assert_int_equal(sync_all(f), 0);
	assert_view_equals_source(f);
	assert_int_equal(usage_entries(f->dst), 2);   /* ml, infra */

	/* the subscriber's own feed recorded none of it */
	assert_int_equal(log_size(f->dst), 0);
}

/* The other object kinds: seal, copy, retention, reservation commit. */
static void test_more_kinds(void **state)
{
	struct fx *f = *state;
	struct mds_op op;
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];

	assert_int_equal(tu_team(f->src, "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "data", "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "other", "ml"), 0);
	assert_int_equal(put_meta(f->src, "data", tu_s("src"), 77), 0);
	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = MDS_STR("data");
	op.name = MDS_STR("log");
	op.obj.blob_type = MDS_BLOB_APPEND;
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	mds_op_init(&op, MDS_OP_SEAL_BLOB);
	op.bucket = MDS_STR("data");
	op.name = MDS_STR("log");
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	mds_op_init(&op, MDS_OP_COPY_OBJECT);
	op.blob.src_bucket = MDS_STR("data");
	op.blob.src_name = MDS_STR("src");
	op.bucket = MDS_STR("other");
	op.name = MDS_STR("copied");
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	mds_op_init(&op, MDS_OP_RETENTION_SET);
	op.bucket = MDS_STR("other");
	op.name = MDS_STR("copied");
	op.retention_mode = MDS_RETENTION_GOVERNANCE;
	op.retain_until_ns = mds_store_now_ns(f->src) + 3600000000000ull;
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	assert_int_equal(mds_quota_token_new(tok), 0);
	mds_op_init(&op, MDS_OP_RESERVE);
	op.reservation = tu_s(tok);
	op.bucket = MDS_STR("data");
	op.name = MDS_STR("reserved");
	op.reserve_bytes = 500;
	op.reserve_objects = 1;
	op.reserve_ttl_ns = 60000000000ull;
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	assert_int_equal(sync_all(f), 0);
	assert_view_equals_source(f);     /* a reservation is not an object */
	mds_op_init(&op, MDS_OP_RESERVE_COMMIT);
	op.reservation = tu_s(tok);
	op.bucket = MDS_STR("data");
	op.name = MDS_STR("reserved");
	op.obj.size = 400;
	assert_int_equal(mds_store_exec(f->src, &op), 0);
	assert_int_equal(sync_all(f), 0);
	assert_view_equals_source(f);
	assert_int_equal(log_size(f->dst), 0);
}

/*
 * The Nth LMDB call of an apply fails (EIO, map full): the view and its
 * cursor stay exactly as before (one transaction), and the batch then
 * applies cleanly.
 */
static void test_apply_faults(void **state)
{
	struct fx *f = *state;
	unsigned long n, calls;
	int errs[] = { EIO, -30792 /* MDB_MAP_FULL */ };

	assert_int_equal(tu_team(f->src, "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "ckpt", "ml"), 0);
	assert_int_equal(tu_put(f->src, "ckpt", tu_s("keep"), 5, "e"), 0);
	assert_int_equal(sync_all(f), 0);
	for (int i = 0; i < 30; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "o/%02d", i);
		assert_int_equal(tu_put(f->src, "ckpt", tu_s(nm), (uint64_t)i, "e"), 0);
	}
	assert_int_equal(tu_del(f->src, "ckpt", tu_s("keep")), 0);
	for (size_t e = 0; e < sizeof(errs) / sizeof(errs[0]); e++) {
		for (n = 1;; n++) {
			uint64_t before = f->applied;
			struct mds_reader *r;
			struct mds_gv_cursor c;
			struct mds_gv_object o;
			struct mds_status st;
			int rc;

			fault_n = n;
			fault_err = errs[e];
			rc = sync_all(f);
			calls = fault_calls;
			fault_n = 0;
			if (rc == 0)
				break;
			/* nothing of the failed batch is visible */
			assert_int_equal(f->applied, before);
			assert_int_equal(mds_reader_open(f->dst, &r), 0);
			assert_int_equal(mds_reader_begin(r), 0);
			assert_int_equal(mds_gv_cursor_get(mds_reader_txn(r), tu_s(ORIGIN), &c), 0);
			assert_int_equal(c.size, before);
			assert_int_equal(mds_gv_object_get(mds_reader_txn(r), tu_s(ORIGIN), tu_s("ckpt"),
							   tu_s("keep"), &o), 0);
			assert_int_equal(mds_gv_object_get(mds_reader_txn(r), tu_s(ORIGIN), tu_s("ckpt"),
							   tu_s("o/00"), &o), MDS_ENOTFOUND);
			assert_int_equal(mds_check(r, report, NULL, &st), 0);
			mds_reader_close(r);
			assert_true(n < 100000);
		}
		assert_true(n > 1);
		assert_true(calls >= n - 1);
		assert_view_equals_source(f);
		/* roll the view back for the other error: reset and replay */
		{
			struct mds_gv_update u;
			struct mds_op op;

			memset(&u, 0, sizeof(u));
			u.origin = tu_s(ORIGIN);
			u.action = MDS_GV_RESET;
			mds_op_init(&op, MDS_OP_PEER_STATE);
			op.global = &u;
			assert_int_equal(mds_store_exec(f->dst, &op), 0);
			f->applied = 0;
			mds_merkle_compact_init(&f->range);
			assert_int_equal(sync_to(f, 3, MDS_OP_GLOBAL_APPLY), 0);  /* team, bucket, keep */
		}
	}
}

/* An apply onto another cursor size is refused: a batch applies once. */
static void test_exactly_once(void **state)
{
	struct fx *f = *state;
	uint64_t mark;
	struct mds_merkle_compact saved;

	assert_int_equal(tu_team(f->src, "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "ckpt", "ml"), 0);
	assert_int_equal(tu_put(f->src, "ckpt", tu_s("a"), 10, "e"), 0);
	mark = f->applied;
	saved = f->range;
	assert_int_equal(sync_all(f), 0);
	/* replay the same batch */
	f->applied = mark;
	f->range = saved;
	assert_int_equal(sync_all(f), MDS_EPRECOND);
	f->applied = log_size(f->src);
	assert_view_equals_source(f);
	/* a batch from beyond the cursor (a gap) */
	assert_int_equal(tu_put(f->src, "ckpt", tu_s("b"), 10, "e"), 0);
	assert_int_equal(tu_put(f->src, "ckpt", tu_s("c"), 10, "e"), 0);
	mark = f->applied;
	f->applied = mark + 1;
	assert_int_equal(sync_all(f), MDS_EPRECOND);
	f->applied = mark;
}

/* A frozen island refuses applies; a reset drops the view and its cursor. */
static void test_freeze_and_reset(void **state)
{
	struct fx *f = *state;
	struct mds_gv_update u;
	struct mds_gv_evidence ev;
	struct mds_op op;
	struct mds_reader *r;
	struct mds_gv_cursor c;
	struct mds_status st;
	int n_ev = 0;

	assert_int_equal(tu_team(f->src, "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "ckpt", "ml"), 0);
	assert_int_equal(tu_put(f->src, "ckpt", tu_s("a"), 10, "e"), 0);
	assert_int_equal(sync_all(f), 0);
	memset(&ev, 0, sizeof(ev));
	ev.kind = MDS_GV_EV_FORK;
	ev.time_ms = 42;
	ev.applied_note = tu_s("old note\n");
	ev.offending_note = tu_s("new note\n");
	ev.proof = tu_s("0123456789abcdef0123456789abcdef");
	ev.message = tu_s("fork at size 3");
	memset(&u, 0, sizeof(u));
	u.origin = tu_s(ORIGIN);
	u.action = MDS_GV_FREEZE;
	u.evidence = &ev;
	mds_op_init(&op, MDS_OP_PEER_STATE);
	op.global = &u;
	assert_int_equal(mds_store_exec(f->dst, &op), 0);
	assert_int_equal(tu_put(f->src, "ckpt", tu_s("b"), 10, "e"), 0);
	assert_int_equal(sync_all(f), MDS_EDENIED);

	assert_int_equal(mds_reader_open(f->dst, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_gv_cursor_get(mds_reader_txn(r), tu_s(ORIGIN), &c), 0);
	assert_int_equal(c.frozen, 1);
	assert_int_equal(c.size, 3);          /* frozen at the last verified state */
	{
		struct mds_gv_object o;

		assert_int_equal(mds_gv_object_get(mds_reader_txn(r), tu_s(ORIGIN), tu_s("ckpt"),
						   tu_s("a"), &o), 0);
		assert_int_equal(mds_gv_object_get(mds_reader_txn(r), tu_s(ORIGIN), tu_s("ckpt"),
						   tu_s("b"), &o), MDS_ENOTFOUND);
	}
	mds_reader_close(r);

	/* reset: the view and the cursor go, the evidence stays */
	u.action = MDS_GV_RESET;
	ev.kind = MDS_GV_EV_RESET;
	mds_op_init(&op, MDS_OP_PEER_STATE);
	op.global = &u;
	assert_int_equal(mds_store_exec(f->dst, &op), 0);
	assert_int_equal(mds_reader_open(f->dst, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_gv_cursor_get(mds_reader_txn(r), tu_s(ORIGIN), &c), MDS_ENOTFOUND);
	{
		struct mds_gv_bucket b;

		assert_int_equal(mds_gv_bucket_get(mds_reader_txn(r), tu_s(ORIGIN), tu_s("ckpt"), &b),
				 MDS_ENOTFOUND);
	}
	assert_int_equal(mds_check(r, report, NULL, &st), 0);
	mds_reader_close(r);
	assert_int_equal(usage_entries(f->dst), 0);
	{
		struct mds_reader *r2;
		struct mds_kcur *kc;
		struct mds_str k, v;

		assert_int_equal(mds_reader_open(f->dst, &r2), 0);
		assert_int_equal(mds_reader_begin(r2), 0);
		assert_int_equal(mds_kv_cursor_open(mds_reader_txn(r2), MDS_DB_GV_EVIDENCE, &kc), 0);
		for (int rc = mds_kv_first(kc, &k, &v); rc == 0; rc = mds_kv_next(kc, &k, &v))
			n_ev++;
		mds_kv_cursor_close(kc);
		mds_reader_close(r2);
	}
	assert_int_equal(n_ev, 2);
	/* and the island resyncs from zero */
	f->applied = 0;
	mds_merkle_compact_init(&f->range);
	assert_int_equal(sync_all(f), 0);
	assert_view_equals_source(f);
}

static int ev_collect(void *arg, const struct mds_gv_evidence_rec *e)
{
	int *n = arg;

	assert_int_equal(e->n, (uint64_t)*n);
	if (*n == 0) {
		assert_int_equal(e->ev.kind, MDS_GV_EV_FORK);
		assert_int_equal(e->ev.message.len, strlen("fork at size 3"));
	}
	(*n)++;
	return 0;
}

/* Evidence reads back in order with its parts. */
static void test_evidence_list(void **state)
{
	struct fx *f = *state;
	struct mds_gv_update u;
	struct mds_gv_evidence ev;
	struct mds_op op;
	struct mds_reader *r;
	int n = 0;

	memset(&ev, 0, sizeof(ev));
	ev.kind = MDS_GV_EV_FORK;
	ev.message = tu_s("fork at size 3");
	memset(&u, 0, sizeof(u));
	u.origin = tu_s(ORIGIN);
	u.action = MDS_GV_FREEZE;
	u.evidence = &ev;
	for (int i = 0; i < 3; i++) {
		mds_op_init(&op, MDS_OP_PEER_STATE);
		op.global = &u;
		assert_int_equal(mds_store_exec(f->dst, &op), 0);
		ev.kind = MDS_GV_EV_TAMPER;
	}
	assert_int_equal(mds_reader_open(f->dst, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_gv_evidence_list(mds_reader_txn(r), tu_s(ORIGIN), ev_collect, &n), 0);
	assert_int_equal(n, 3);
	mds_reader_close(r);
}

/* A snapshot replace rebuilds the view from state entries at once. */
static void test_replace(void **state)
{
	struct fx *f = *state;
	struct mds_op op;

	assert_int_equal(tu_team(f->src, "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "ckpt", "ml"), 0);
	for (int i = 0; i < 50; i++) {
		char nm[32];

		snprintf(nm, sizeof(nm), "obj/%03d", i);
		assert_int_equal(tu_put(f->src, "ckpt", tu_s(nm), (uint64_t)i, "e"), 0);
	}
	assert_int_equal(sync_all(f), 0);
	/* diverge the view from the source: delete on the source, then
	 * replace from the whole log (a stand-in for a snapshot's entries) */
	assert_int_equal(tu_del(f->src, "ckpt", tu_s("obj/007")), 0);
	mds_op_init(&op, MDS_OP_TEAM_DELETE);  /* refused: the team owns a bucket */
	op.team = MDS_STR("ml");
	assert_int_not_equal(mds_store_exec(f->src, &op), 0);
	f->applied = 0;
	mds_merkle_compact_init(&f->range);
	assert_int_equal(sync_to(f, log_size(f->src), MDS_OP_GLOBAL_REPLACE), 0);
	assert_view_equals_source(f);
}

/* Prefix and start-after iteration over the view. */
static void test_iter_prefix(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "a", "b/1", "b/2", "b/3", "c" };
	struct mds_reader *r;
	struct mds_gv_iter *g;
	struct mds_gv_object o;

	assert_int_equal(tu_team(f->src, "ml"), 0);
	assert_int_equal(tu_bucket(f->src, "ckpt", "ml"), 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(tu_put(f->src, "ckpt", tu_s(names[i]), 1, "e"), 0);
	assert_int_equal(sync_all(f), 0);
	assert_int_equal(mds_reader_open(f->dst, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_gv_iter_open(mds_reader_txn(r), tu_s(ORIGIN), tu_s("ckpt"), tu_s("b/"),
					  tu_s("b/1"), 0, &g), 0);
	assert_int_equal(mds_gv_iter_get(g, &o), 0);
	assert_int_equal(o.name.len, 3);
	assert_memory_equal(o.name.p, "b/2", 3);
	assert_int_equal(mds_gv_iter_next(g), 0);
	assert_int_equal(mds_gv_iter_next(g), MDS_ENOTFOUND);
	mds_gv_iter_close(g);
	assert_int_equal(mds_gv_iter_open(mds_reader_txn(r), tu_s(ORIGIN), tu_s("nope"), MDS_STR_NULL,
					  MDS_STR_NULL, 1, &g), MDS_ENOTFOUND);
	assert_null(g);
	mds_reader_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_more_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evidence_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iter_prefix, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
