/*
 * test_feed_log.c - the change feed's leaves and Merkle nodes in LMDB:
 * every mutation kind appends one leaf carrying the state after the
 * change; failed, rolled-back and crashed ops leave no leaf and no
 * mutation without its leaf; roots and proofs over the stored tree verify.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <lmdb.h>

#include "feed_log.h"
#include "nametree.h"
#include "record.h"
#include "testutil.h"

struct fx {
	char dir[256];
	struct mds_store *s;
	struct mds_feed_log *l;
};

static int fx_open(struct fx *f)
{
	struct mds_status st;

	if (mds_store_open(&f->s, f->dir, NULL, &st))
		return -1;
	return mds_feed_log_open(f->s, "island.example/feed", &f->l, &st);
}

static void fx_close(struct fx *f)
{
	mds_store_close(f->s);
	mds_feed_log_close(f->l);
	f->s = NULL;
	f->l = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	tu_tmpdir(f->dir);
	if (fx_open(f))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fx_close(f);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

static uint64_t feed_size(struct mds_store *s)
{
	struct mds_reader *r;
	uint64_t n = 0;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_feed_log_size(mds_reader_txn(r), &n), 0);
	mds_reader_close(r);
	return n;
}

/* Decodes leaf @seq into @lf; the leaf bytes are copied into @buf. */
static void leaf_at(struct mds_store *s, uint64_t seq, struct mds_feed_leaf *lf, char *buf,
		    size_t cap)
{
	struct mds_reader *r;
	struct mds_str v;
	struct mds_status st;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_feed_log_leaf(mds_reader_txn(r), seq, &v), 0);
	assert_true(v.len <= cap);
	memcpy(buf, v.p, v.len);
	mds_reader_close(r);
	assert_int_equal(mds_feed_leaf_decode(buf, v.len, lf, &st), 0);
	assert_int_equal(lf->seq, seq);
	assert_int_equal(lf->origin.len, strlen("island.example/feed"));
}

/*
 * Recomputes the tree from the leaf bytes alone (a compact range) and
 * checks the stored root at every size, an inclusion proof for every leaf
 * and consistency proofs from every size to the full one.
 */
static void check_tree(struct mds_store *s)
{
	struct mds_reader *r;
	struct mds_txn *t;
	struct mds_merkle_store ms;
	struct mds_merkle_compact c;
	uint8_t (*roots)[32], leafh[32], full[32], proof[MDS_MERKLE_PROOF_MAX][32];
	uint64_t n;
	size_t np;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	t = mds_reader_txn(r);
	mds_feed_log_merkle(t, &ms);
	assert_int_equal(mds_feed_log_size(t, &n), 0);
	roots = calloc(n + 1, 32);
	mds_merkle_compact_init(&c);
	for (uint64_t i = 0;; i++) {
		uint8_t stored[32];

		assert_int_equal(mds_merkle_compact_root(&c, roots[i]), 0);
		assert_int_equal(mds_merkle_root(&ms, i, stored), 0);
		assert_memory_equal(stored, roots[i], 32);
		if (i == n)
			break;
		struct mds_str v;

		assert_int_equal(mds_feed_log_leaf(t, i, &v), 0);
		assert_int_equal(mds_merkle_hash_leaf(v.p, v.len, leafh), 0);
		assert_int_equal(mds_merkle_compact_append(&c, leafh), 0);
	}
	assert_int_equal(mds_merkle_root(&ms, n + 1, full), MDS_ECORRUPT);
	memcpy(full, roots[n], 32);
	for (uint64_t i = 0; i < n; i++) {
		struct mds_str v;

		assert_int_equal(mds_feed_log_leaf(t, i, &v), 0);
		assert_int_equal(mds_merkle_hash_leaf(v.p, v.len, leafh), 0);
		assert_int_equal(mds_merkle_inclusion_proof(&ms, i, n, proof, &np), 0);
		assert_int_equal(mds_merkle_verify_inclusion(i, n, leafh, (const uint8_t (*)[32])proof,
							     np, full), 0);
		assert_int_equal(mds_merkle_consistency_proof(&ms, i, n, proof, &np), 0);
		assert_int_equal(mds_merkle_verify_consistency(i, n, roots[i], full,
							       (const uint8_t (*)[32])proof, np), 0);
	}
	free(roots);
	mds_reader_close(r);
}

static void test_every_kind_appends_state(void **state)
{
	struct fx *f = *state;
	struct mds_feed_leaf lf;
	struct mds_object o;
	char buf[8192];
	struct mds_op op;

	assert_int_equal(feed_size(f->s), 0);
	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	assert_int_equal(tu_put(f->s, "data", tu_s("a/b"), 10, "\"e1\""), 0);
	assert_int_equal(tu_put(f->s, "data", tu_s("a/b"), 20, "\"e2\""), 0);
	assert_int_equal(tu_del(f->s, "data", tu_s("a/b")), 0);
	mds_op_init(&op, MDS_OP_QUOTA_SET);
	op.scope = tu_s("bucket/data");
	op.principal = tu_s("admin");
	op.limits.set = MDS_QUOTA_MAX_BYTES;
	op.limits.max_bytes = 12345;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	mds_op_init(&op, MDS_OP_QUOTA_DELETE);
	op.scope = tu_s("bucket/data");
	op.principal = tu_s("admin");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	mds_op_init(&op, MDS_OP_BUCKET_DELETE);
	op.bucket = tu_s("data");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(feed_size(f->s), 8);

	leaf_at(f->s, 0, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_TEAM_CREATE);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	assert_memory_equal(lf.team.p, "t", 1);
	leaf_at(f->s, 1, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_BUCKET_CREATE);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	leaf_at(f->s, 3, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_OBJECT_PUT);
	assert_int_equal(lf.key_version, 2);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	assert_int_equal(lf.name.len, 3);
	/* absolute state: the whole record after the overwrite, not a delta */
	assert_int_equal(mds_object_decode(lf.record.p, lf.record.len, &o), 0);
	assert_int_equal(o.size, 20);
	assert_int_equal(o.version, 2);
	assert_memory_equal(o.etag.p, "\"e2\"", 4);
	assert_true(lf.time_ns > 0);
	leaf_at(f->s, 4, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_OBJECT_DELETE);
	assert_int_equal(lf.state, MDS_FEED_TOMBSTONE);
	assert_int_equal(lf.key_version, 2);
	leaf_at(f->s, 5, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_QUOTA_SET);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	assert_int_equal(lf.record.len, 44);
	assert_memory_equal(lf.principal.p, "admin", 5);
	leaf_at(f->s, 6, &lf, buf, sizeof(buf));
	assert_int_equal(lf.state, MDS_FEED_TOMBSTONE);
	leaf_at(f->s, 7, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_BUCKET_DELETE);
	assert_int_equal(lf.state, MDS_FEED_TOMBSTONE);
	check_tree(f->s);
}

/* Blob-parity ops: the object's record after an append block is in the leaf. */
static void test_blob_ops_carry_object_state(void **state)
{
	struct fx *f = *state;
	struct mds_feed_leaf lf;
	struct mds_object o;
	char buf[8192];
	struct mds_op op;

	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = tu_s("data");
	op.name = tu_s("log");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	mds_op_init(&op, MDS_OP_APPEND_BLOCK);
	op.bucket = tu_s("data");
	op.name = tu_s("log");
	op.blob.size = 100;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(feed_size(f->s), 4);
	leaf_at(f->s, 2, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_APPEND_CREATE);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	leaf_at(f->s, 3, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_APPEND_BLOCK);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	assert_int_equal(mds_object_decode(lf.record.p, lf.record.len, &o), 0);
	assert_int_equal(o.size, 100);
	assert_int_equal(o.blob_type, MDS_BLOB_APPEND);
	/* a legal hold is part of the record the leaf carries */
	mds_op_init(&op, MDS_OP_LEGAL_HOLD_SET);
	op.bucket = tu_s("data");
	op.name = tu_s("log");
	op.legal_hold = 1;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	leaf_at(f->s, 4, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_LEGAL_HOLD_SET);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	assert_int_equal(mds_object_decode(lf.record.p, lf.record.len, &o), 0);
	assert_int_equal(o.legal_hold, 1);
	check_tree(f->s);
}

/* Copy reports that name the copy by id alone (progress, finish, abort)
 * still carry the destination's record: a subscriber sees the copy end. */
static void test_copy_reports_by_id_carry_destination(void **state)
{
	struct fx *f = *state;
	struct mds_feed_leaf lf;
	struct mds_object o;
	char buf[8192], id[33], id2[33];
	struct mds_op op;
	uint64_t n;
	static const enum mds_op_kind kinds[] = { MDS_OP_COPY_PROGRESS, MDS_OP_COPY_FINISH };

	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	for (int round = 0; round < 2; round++) {
		char *cid = round ? id2 : id;

		mds_op_init(&op, MDS_OP_PUT_BLOB_FROM_URL);
		op.bucket = tu_s("data");
		op.name = tu_s(round ? "pic2" : "pic");
		op.blob.source_url = tu_s("https://other.blob.core.windows.net/c/src");
		op.blob.size = 5000;
		assert_int_equal(mds_store_exec(f->s, &op), 0);
		memcpy(cid, op.blob_out.id, 33);
	}
	for (size_t i = 0; i < 2; i++) {
		mds_op_init(&op, kinds[i]);
		op.blob.id = tu_s(id);
		op.blob.size = i == 0 ? 1000 : 5000;
		if (kinds[i] == MDS_OP_COPY_FINISH)
			op.obj.locator = tu_s("copied-here");
		assert_int_equal(mds_store_exec(f->s, &op), 0);
		n = feed_size(f->s);
		leaf_at(f->s, n - 1, &lf, buf, sizeof(buf));
		assert_int_equal(lf.kind, kinds[i]);
		assert_int_equal(lf.state, MDS_FEED_RECORD);
		assert_true(lf.bucket.len == 4 && !memcmp(lf.bucket.p, "data", 4));
		assert_true(lf.name.len == 3 && !memcmp(lf.name.p, "pic", 3));
		assert_int_equal(mds_object_decode(lf.record.p, lf.record.len, &o), 0);
		assert_int_equal(o.copy_progress, i == 0 ? 1000 : 5000);
		assert_int_equal(o.copy_status, i == 0 ? MDS_COPY_PENDING : MDS_COPY_SUCCESS);
	}
	mds_op_init(&op, MDS_OP_ABORT_COPY);
	op.blob.id = tu_s(id2);
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	n = feed_size(f->s);
	leaf_at(f->s, n - 1, &lf, buf, sizeof(buf));
	assert_int_equal(lf.kind, MDS_OP_ABORT_COPY);
	assert_int_equal(lf.state, MDS_FEED_RECORD);
	assert_true(lf.name.len == 4 && !memcmp(lf.name.p, "pic2", 4));
	assert_int_equal(mds_object_decode(lf.record.p, lf.record.len, &o), 0);
	assert_int_equal(o.copy_status, MDS_COPY_ABORTED);
	check_tree(f->s);
}

static void test_failed_ops_leave_no_leaf(void **state)
{
	struct fx *f = *state;
	struct mds_op op;

	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	assert_int_equal(tu_team(f->s, "t"), MDS_EEXIST);
	assert_int_equal(tu_put(f->s, "nobucket", tu_s("x"), 1, NULL), MDS_ENOTFOUND);
	assert_int_equal(tu_del(f->s, "data", tu_s("missing")), MDS_ENOTFOUND);
	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("data");
	op.name = tu_s("x");
	op.cond.if_match = tu_s("*");
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EPRECOND);
	assert_int_equal(feed_size(f->s), 2);
	/* the next successful op takes the next dense index */
	assert_int_equal(tu_put(f->s, "data", tu_s("x"), 1, NULL), 0);
	assert_int_equal(feed_size(f->s), 3);
	check_tree(f->s);
}

/* The object @name exists in the store (1), not (0). */
static int object_exists(struct mds_store *s, const char *name)
{
	struct mds_reader *r;
	struct mds_object o;
	int rc;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	rc = mds_object_head(r, tu_s("data"), tu_s(name), &o, NULL);
	mds_reader_close(r);
	assert_true(rc == 0 || rc == MDS_ENOTFOUND);
	return rc == 0;
}

/* The Nth LMDB call of an op fails: the op and its leaf go together. */
static void test_fault_rolls_back_leaf_and_mutation(void **state)
{
	struct fx *f = *state;
	unsigned long calls;

	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	mds_store_fault_arm(1000000, EIO);
	assert_int_equal(tu_put(f->s, "data", tu_s("probe"), 1, NULL), 0);
	calls = mds_store_fault_calls();
	mds_store_fault_arm(0, 0);
	for (unsigned long n = 1; n <= calls + 2; n++) {
		char name[32];
		uint64_t before = feed_size(f->s);
		int rc;

		snprintf(name, sizeof(name), "f%lu", n);
		mds_store_fault_arm(n, n % 2 ? MDB_MAP_FULL : EIO);
		rc = tu_put(f->s, "data", tu_s(name), n, NULL);
		mds_store_fault_arm(0, 0);
		assert_int_equal(feed_size(f->s), before + (rc == 0));
		assert_int_equal(object_exists(f->s, name), rc == 0);
	}
	check_tree(f->s);
}

/*
 * The leaves of a batch are kept by the log and written when the batch
 * commits. The Nth LMDB call fails while 16 puts are in flight (so in one
 * or two batches): whichever op or batch it hits, exactly the ops that
 * succeeded have leaves, in a tree that still folds right.
 */
struct aop {
	struct mds_op op;
	char name[32];
};

static pthread_mutex_t a_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t a_cv = PTHREAD_COND_INITIALIZER;
static unsigned a_pending;

static void a_done(struct mds_op *op)
{
	(void)op;
	pthread_mutex_lock(&a_mu);
	a_pending--;
	pthread_cond_signal(&a_cv);
	pthread_mutex_unlock(&a_mu);
}

static void test_fault_inside_a_batch(void **state)
{
	struct fx *f = *state;
	struct aop ops[16];

	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	for (unsigned long n = 1; n <= 240; n += 3) {
		uint64_t before = feed_size(f->s), ok = 0;

		pthread_mutex_lock(&a_mu);
		a_pending = 16;
		pthread_mutex_unlock(&a_mu);
		mds_store_fault_arm(n, n % 2 ? MDB_MAP_FULL : EIO);
		for (int i = 0; i < 16; i++) {
			mds_op_init(&ops[i].op, MDS_OP_OBJECT_PUT);
			snprintf(ops[i].name, sizeof(ops[i].name), "b%lu-%d", n, i);
			ops[i].op.bucket = tu_s("data");
			ops[i].op.name = tu_s(ops[i].name);
			ops[i].op.obj.size = (uint64_t)i;
			ops[i].op.obj.etag = tu_s("\"e\"");
			ops[i].op.done = a_done;
			assert_int_equal(mds_store_submit(f->s, &ops[i].op), 0);
		}
		pthread_mutex_lock(&a_mu);
		while (a_pending)
			pthread_cond_wait(&a_cv, &a_mu);
		pthread_mutex_unlock(&a_mu);
		mds_store_fault_arm(0, 0);
		for (int i = 0; i < 16; i++) {
			ok += ops[i].op.status.code == 0;
			assert_int_equal(object_exists(f->s, ops[i].name), ops[i].op.status.code == 0);
		}
		assert_int_equal(feed_size(f->s), before + ok);
		/* the log goes on: a put after the fault gets the next leaf */
		assert_int_equal(tu_put(f->s, "data", tu_s("after"), n, NULL), 0);
		assert_int_equal(feed_size(f->s), before + ok + 1);
	}
	check_tree(f->s);
}

/* A feed written with the older layout (a 9-byte key per node and leaf)
 * is refused when the log opens, not corrupted by appends. */
static void test_old_layout_refused(void **state)
{
	struct fx *f = *state;
	struct mds_feed_log *l;
	struct mds_status st;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t key[9] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xFF };
	MDB_val k = { 9, key }, v = { 3, (void *)"old" };

	assert_int_equal(tu_team(f->s, "t"), 0);
	fx_close(f);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "feed", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 0), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(mds_store_open(&f->s, f->dir, NULL, &st), 0);
	assert_int_equal(mds_feed_log_open(f->s, "island.example/feed", &l, &st), MDS_EVERSION);
	assert_non_null(strstr(st.msg, "older layout"));
	/* the store itself still serves */
	assert_int_equal(tu_team(f->s, "u"), 0);
}

/* ---- SIGKILL: the child puts and deletes until killed ---- */

static void child_main(const char *dir)
{
	struct fx f;
	char name[32];

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "%s", dir);
	if (fx_open(&f))
		_exit(2);
	tu_team(f.s, "t");
	tu_bucket(f.s, "data", "t");
	for (unsigned i = 0;; i++) {
		snprintf(name, sizeof(name), "k%u", i % 50);
		if (i % 7 == 3)
			tu_del(f.s, "data", tu_s(name));
		else
			tu_put(f.s, "data", tu_s(name), i, NULL);
	}
}

/*
 * Replays the leaves: the last leaf of each object name must equal the
 * store's record (or a tombstone for an absent object), and every stored
 * object must have a leaf.
 */
static void check_replay(struct mds_store *s)
{
	struct mds_reader *r;
	struct mds_txn *t;
	struct mds_bucket b;
	uint64_t n;
	int seen[50] = { 0 };

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	t = mds_reader_txn(r);
	assert_int_equal(mds_feed_log_size(t, &n), 0);
	assert_int_equal(mds_bucket_get(r, tu_s("data"), &b, NULL), 0);
	for (uint64_t i = n; i-- > 2;) {
		struct mds_feed_leaf lf;
		struct mds_str v, rec;
		unsigned k;
		int rc;

		assert_int_equal(mds_feed_log_leaf(t, i, &v), 0);
		assert_int_equal(mds_feed_leaf_decode(v.p, v.len, &lf, NULL), 0);
		assert_int_equal(sscanf(lf.name.p + 1, "%u", &k), 1);
		if (seen[k]++)
			continue;
		char name[32];

		snprintf(name, sizeof(name), "k%u", k);
		rc = mds_tree_get(t, b.id, tu_s(name), &rec);
		if (lf.state == MDS_FEED_TOMBSTONE) {
			assert_int_equal(rc, MDS_ENOTFOUND);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(rec.len, lf.record.len);
			assert_memory_equal(rec.p, lf.record.p, rec.len);
		}
	}
	for (unsigned k = 0; k < 50; k++) {
		char name[32];
		struct mds_str rec;

		snprintf(name, sizeof(name), "k%u", k);
		if (!seen[k])
			assert_int_equal(mds_tree_get(t, b.id, tu_s(name), &rec), MDS_ENOTFOUND);
	}
	mds_reader_close(r);
}

static void test_sigkill_keeps_leaf_and_mutation_together(void **state)
{
	struct fx *f = *state;

	fx_close(f);
	srand((unsigned)time(NULL));
	for (int round = 0; round < 6; round++) {
		pid_t pid = fork();
		struct timespec ts = { 0, (long)(30 + rand() % 120) * 1000000L };
		int ws;

		assert_true(pid >= 0);
		if (pid == 0)
			child_main(f->dir);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &ws, 0);
		assert_true(WIFSIGNALED(ws));
		assert_int_equal(fx_open(f), 0);
		assert_true(feed_size(f->s) >= 2);
		check_replay(f->s);
		fx_close(f);
	}
	assert_int_equal(fx_open(f), 0);
	check_tree(f->s);
	printf("feed after 6 kills: %llu leaves\n", (unsigned long long)feed_size(f->s));
}

static void test_leaf_decode_rejects_garbage(void **state)
{
	uint8_t buf[64] = { 1, 5 };
	struct mds_feed_leaf lf;
	struct mds_status st;

	(void)state;
	assert_int_equal(mds_feed_leaf_decode(buf, 10, &lf, &st), MDS_EINVAL);
	assert_int_equal(mds_feed_leaf_decode(buf, 26 + 8 * 4 + 1, &lf, &st), 0);
	assert_int_equal(mds_feed_leaf_decode(buf, 26 + 8 * 4 + 2, &lf, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "trailing"));
	buf[26 + 8 * 4] = 3;
	assert_int_equal(mds_feed_leaf_decode(buf, 26 + 8 * 4 + 1, &lf, &st), MDS_EINVAL);
	buf[0] = 2;
	assert_int_equal(mds_feed_leaf_decode(buf, 26 + 8 * 4 + 1, &lf, &st), MDS_EINVAL);
	buf[0] = 1;
	buf[29] = 9;   /* origin length 9 with no bytes */
	assert_int_equal(mds_feed_leaf_decode(buf, 26 + 8 * 4 + 1, &lf, &st), MDS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_kind_appends_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_ops_carry_object_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_reports_by_id_carry_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_ops_leave_no_leaf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_rolls_back_leaf_and_mutation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_inside_a_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_layout_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_keeps_leaf_and_mutation_together,
						setup, teardown),
		cmocka_unit_test(test_leaf_decode_rejects_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
