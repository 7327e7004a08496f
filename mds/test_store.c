/*
 * test_store.c - the writer thread and LMDB layer: group commit under
 * concurrent submitters, per-op isolation inside a batch, failure
 * injection on every LMDB call of a mutation, map full, shutdown and
 * snapshot reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "testutil.h"

struct fx {
	char dir[256];
	struct mds_store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mds_status st;

	tu_tmpdir(f->dir);
	assert_int_equal(mds_store_open(&f->s, f->dir, NULL, &st), 0);
	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mds_store_fault_arm(0, 0);
	mds_store_close(f->s);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

/* ---- group commit ----------------------------------------------------------- */

#define THREADS 16
#define PER_THREAD 400
#define WINDOW 32

struct submitter {
	struct mds_store *s;
	int id;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight;
	int mismatches;
	int completed;
	struct mds_op ops[PER_THREAD];
	char names[PER_THREAD][24];
};

static void sub_done(struct mds_op *op)
{
	struct submitter *sb = op->user;
	size_t i = (size_t)(op - sb->ops);

	/* Each completion must carry its own op's result. */
	if (op->status.code != 0 || op->out_version != 1 ||
	    op->out_bytes_delta != (int64_t)(sb->id * 100000 + (int)i))
		sb->mismatches++;
	pthread_mutex_lock(&sb->mu);
	sb->inflight--;
	sb->completed++;
	pthread_cond_signal(&sb->cv);
	pthread_mutex_unlock(&sb->mu);
}

static void *submit_main(void *arg)
{
	struct submitter *sb = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct mds_op *op = &sb->ops[i];

		pthread_mutex_lock(&sb->mu);
		while (sb->inflight >= WINDOW)
			pthread_cond_wait(&sb->cv, &sb->mu);
		sb->inflight++;
		pthread_mutex_unlock(&sb->mu);
		snprintf(sb->names[i], sizeof(sb->names[i]), "t%02d/%05d", sb->id, i);
		mds_op_init(op, MDS_OP_OBJECT_PUT);
		op->bucket = tu_s("data");
		op->name = tu_s(sb->names[i]);
		op->obj.size = (uint64_t)(sb->id * 100000 + i);
		op->done = sub_done;
		op->user = sb;
		if (mds_store_submit(sb->s, op) != 0)
			abort();
	}
	pthread_mutex_lock(&sb->mu);
	while (sb->inflight)
		pthread_cond_wait(&sb->cv, &sb->mu);
	pthread_mutex_unlock(&sb->mu);
	return NULL;
}

static void test_group_commit_concurrent(void **state)
{
	struct fx *f = *state;
	struct submitter *sb = calloc(THREADS, sizeof(*sb));
	pthread_t th[THREADS];
	struct mds_store_stats stats;
	struct mds_reader *r;
	struct mds_status st;
	struct mds_bucket b;
	uint64_t expect_bytes = 0;

	for (int t = 0; t < THREADS; t++) {
		sb[t].s = f->s;
		sb[t].id = t;
		pthread_mutex_init(&sb[t].mu, NULL);
		pthread_cond_init(&sb[t].cv, NULL);
		assert_int_equal(pthread_create(&th[t], NULL, submit_main, &sb[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(sb[t].mismatches, 0);
		assert_int_equal(sb[t].completed, PER_THREAD);
		for (int i = 0; i < PER_THREAD; i++)
			expect_bytes += (uint64_t)(t * 100000 + i);
	}
	mds_store_stats(f->s, &stats);
	printf("%d ops in %llu batches (largest %llu)\n", THREADS * PER_THREAD,
	       (unsigned long long)stats.batches, (unsigned long long)stats.batch_max);
	assert_true(stats.batch_max > 1);          /* grouping happened */
	assert_true(stats.batches < (uint64_t)THREADS * PER_THREAD);

	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_bucket_get(r, tu_s("data"), &b, &st), 0);
	assert_int_equal(b.objects, THREADS * PER_THREAD);
	assert_int_equal(b.bytes, expect_bytes);
	for (int t = 0; t < THREADS; t += 5) {
		for (int i = 0; i < PER_THREAD; i += 37) {
			struct mds_object o;

			assert_int_equal(mds_object_head(r, tu_s("data"), tu_s(sb[t].names[i]), &o, &st), 0);
			assert_int_equal(o.size, (uint64_t)(t * 100000 + i));
		}
	}
	mds_reader_close(r);
	assert_int_equal(tu_check(f->s), 0);
	free(sb);
}

/* ---- isolation inside one batch --------------------------------------------- */

struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left;
};

static void count_done(struct mds_op *op)
{
	struct counter *c = op->user;

	pthread_mutex_lock(&c->mu);
	if (--c->left == 0)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void wait_counter(struct counter *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->left)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static void test_precondition_isolated_in_batch(void **state)
{
	struct fx *f = *state;
	static struct mds_op ops[200];
	static char names[200][16];
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 200 };
	struct mds_store_stats before, after;

	for (int i = 0; i < 200; i += 2) {
		snprintf(names[i], sizeof(names[i]), "k%03d", i);
		assert_int_equal(tu_put(f->s, "data", tu_s(names[i]), 1, "old"), 0);
	}
	mds_store_stats(f->s, &before);
	/* Even ops: create-only on existing names (must fail); odd: new names. */
	for (int i = 0; i < 200; i++) {
		if (i % 2)
			snprintf(names[i], sizeof(names[i]), "k%03d", i);
		mds_op_init(&ops[i], MDS_OP_OBJECT_PUT);
		ops[i].bucket = tu_s("data");
		ops[i].name = tu_s(names[i]);
		ops[i].obj.size = 7;
		ops[i].obj.etag = tu_s("new");
		ops[i].cond.if_none_match = tu_s("*");
		ops[i].done = count_done;
		ops[i].user = &c;
		assert_int_equal(mds_store_submit(f->s, &ops[i]), 0);
	}
	wait_counter(&c);
	mds_store_stats(f->s, &after);
	printf("200 mixed ops in %llu batches\n", (unsigned long long)(after.batches - before.batches));
	assert_true(after.batches - before.batches < 200);
	for (int i = 0; i < 200; i++) {
		struct mds_reader *r;
		struct mds_status st;
		struct mds_object o;

		assert_int_equal(ops[i].status.code, i % 2 ? 0 : MDS_EPRECOND);
		assert_int_equal(mds_reader_open(f->s, &r), 0);
		assert_int_equal(mds_reader_begin(r), 0);
		assert_int_equal(mds_object_head(r, tu_s("data"), tu_s(names[i]), &o, &st), 0);
		assert_int_equal(o.size, i % 2 ? 7 : 1);
		mds_reader_close(r);
	}
	assert_int_equal(tu_check(f->s), 0);
}

/* ---- failure injection ------------------------------------------------------- */

static int object_exists(struct mds_store *s, const char *name, uint64_t *size)
{
	struct mds_reader *r;
	struct mds_status st;
	struct mds_object o;
	int rc;

	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	rc = mds_object_head(r, tu_s("data"), tu_s(name), &o, &st);
	if (rc == 0 && size)
		*size = o.size;
	mds_reader_close(r);
	assert_true(rc == 0 || rc == MDS_ENOTFOUND);
	return rc == 0;
}

/*
 * For N = 1, 2, ...: make the N-th LMDB call of a put (then of a delete)
 * fail, and check the op reports a clean error, nothing partial is stored
 * (usage still equals a recount) and the store keeps working. Stops when
 * N passes the number of calls the op makes.
 */
static void fault_loop(struct fx *f, int err, int expect_code)
{
	char name[64];
	unsigned long n;
	int failures = 0;

	for (n = 1;; n++) {
		uint64_t size = 0;
		int rc, exists_before;

		snprintf(name, sizeof(name), "fault/%d/%lu/%s", err, n,
			 n % 2 ? "x" : "a-much-longer-name-to-vary-the-path");
		exists_before = object_exists(f->s, name, NULL);
		assert_false(exists_before);
		mds_store_fault_arm(n, err);
		rc = tu_put(f->s, "data", tu_s(name), 100 + n, NULL);
		{
			unsigned long calls = mds_store_fault_calls();

			mds_store_fault_arm(0, 0);
			if (rc) {
				failures++;
				assert_int_equal(rc, expect_code);
				assert_false(object_exists(f->s, name, NULL));
			} else {
				assert_true(object_exists(f->s, name, &size));
				assert_int_equal(size, 100 + n);
			}
			assert_int_equal(tu_check(f->s), 0);
			if (calls < n && rc == 0)
				break;
		}
		/* The same for a delete of the object, when it exists. */
		if (rc == 0) {
			mds_store_fault_arm(n, err);
			rc = tu_del(f->s, "data", tu_s(name));
			mds_store_fault_arm(0, 0);
			assert_true(rc == 0 || rc == expect_code);
			assert_int_equal(object_exists(f->s, name, NULL), rc != 0);
			assert_int_equal(tu_check(f->s), 0);
		}
	}
	printf("error %d: a put makes %lu lmdb calls; %d injected failures were clean\n", err, n - 1,
	       failures);
	assert_true(failures > 3);
	/* And the store still works. */
	assert_int_equal(tu_put(f->s, "data", tu_s("after-faults"), 1, NULL), 0);
}

static void test_fault_injection_map_full(void **state)
{
	fault_loop(*state, MDB_MAP_FULL, MDS_ENOSPC);
}

static void test_fault_injection_eio(void **state)
{
	fault_loop(*state, EIO, MDS_EIO);
}

/* ---- a real full map ----------------------------------------------------------- */

static void test_map_full_then_grow(void **state)
{
	struct fx *f = *state;
	struct mds_store_opts opts = { .map_size = 1 << 20 };
	char dir[256], name[64], loc[1000];
	struct mds_store *s;
	struct mds_status st;
	struct mds_op op;
	int i, rc = 0;

	(void)f;
	tu_tmpdir(dir);
	assert_int_equal(mds_store_open(&s, dir, &opts, &st), 0);
	assert_int_equal(tu_team(s, "t"), 0);
	assert_int_equal(tu_bucket(s, "data", "t"), 0);
	memset(loc, 'L', sizeof(loc));
	for (i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "obj-%06d", i);
		mds_op_init(&op, MDS_OP_OBJECT_PUT);
		op.bucket = tu_s("data");
		op.name = tu_s(name);
		op.obj.size = 1;
		op.obj.locator = (struct mds_str){ loc, sizeof(loc) };
		rc = mds_store_exec(s, &op);
		if (rc)
			break;
	}
	printf("map of 1 MiB full after %d puts: %s\n", i, op.status.msg);
	assert_int_equal(rc, MDS_ENOSPC);
	assert_non_null(strstr(op.status.msg, "raise the map size"));
	/* Reads go on, nothing is half-written. */
	assert_true(object_exists(s, "obj-000000", NULL));
	assert_int_equal(tu_check(s), 0);
	mds_store_close(s);

	/* Reopen with room: writes work again and all acknowledged data is there. */
	opts.map_size = 64 << 20;
	assert_int_equal(mds_store_open(&s, dir, &opts, &st), 0);
	assert_int_equal(tu_check(s), 0);
	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("data");
	op.name = tu_s("after-grow");
	op.obj.locator = (struct mds_str){ loc, sizeof(loc) };
	assert_int_equal(mds_store_exec(s, &op), 0);
	{
		struct mds_reader *r;
		struct mds_bucket b;

		assert_int_equal(mds_reader_open(s, &r), 0);
		assert_int_equal(mds_reader_begin(r), 0);
		assert_int_equal(mds_bucket_get(r, tu_s("data"), &b, &st), 0);
		assert_int_equal(b.objects, (uint64_t)i + 1);
		mds_reader_close(r);
	}
	mds_store_close(s);
	tu_rmrf(dir);
}

/* ---- shutdown and snapshots --------------------------------------------------------- */

static void test_shutdown_and_close_drain(void **state)
{
	struct fx *f = *state;
	static struct mds_op ops[500];
	static char names[500][16];
	struct counter c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 500 };
	struct mds_op op;

	for (int i = 0; i < 500; i++) {
		snprintf(names[i], sizeof(names[i]), "d%03d", i);
		mds_op_init(&ops[i], MDS_OP_OBJECT_PUT);
		ops[i].bucket = tu_s("data");
		ops[i].name = tu_s(names[i]);
		ops[i].done = count_done;
		ops[i].user = &c;
		assert_int_equal(mds_store_submit(f->s, &ops[i]), 0);
	}
	mds_store_shutdown(f->s);
	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("data");
	op.name = tu_s("late");
	assert_int_equal(mds_store_exec(f->s, &op), MDS_ESHUTDOWN);
	assert_non_null(strstr(op.status.msg, "shutting down"));
	mds_store_close(f->s); /* drains: every queued op completes */
	assert_int_equal(c.left, 0);
	for (int i = 0; i < 500; i++)
		assert_int_equal(ops[i].status.code, 0);
	{
		struct mds_status st;

		assert_int_equal(mds_store_open(&f->s, f->dir, NULL, &st), 0);
	}
	assert_true(object_exists(f->s, "d499", NULL));
	assert_false(object_exists(f->s, "late", NULL));
}

static void test_snapshot_reads(void **state)
{
	struct fx *f = *state;
	struct mds_reader *r;
	struct mds_status st;
	struct mds_bucket b;

	assert_int_equal(tu_put(f->s, "data", tu_s("one"), 1, NULL), 0);
	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	/* Writes proceed while the snapshot is held, and do not show in it. */
	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "more%d", i);
		assert_int_equal(tu_put(f->s, "data", tu_s(name), 1, NULL), 0);
	}
	assert_int_equal(mds_bucket_get(r, tu_s("data"), &b, &st), 0);
	assert_int_equal(b.objects, 1);
	mds_reader_end(r);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_bucket_get(r, tu_s("data"), &b, &st), 0);
	assert_int_equal(b.objects, 21);
	mds_reader_close(r);
}

static void test_open_errors(void **state)
{
	struct mds_store *s;
	struct mds_status st;
	struct mds_store_opts ro = { .read_only = 1 };
	char dir[256];

	(void)state;
	assert_int_not_equal(mds_store_open(&s, "/proc/nope/mds", NULL, &st), 0);
	assert_non_null(strstr(st.msg, "/proc/nope/mds"));
	/* Read-only open of a directory mds never initialised. */
	tu_tmpdir(dir);
	assert_int_not_equal(mds_store_open(&s, dir, &ro, &st), 0);
	tu_rmrf(dir);
}

/* A second process opens the store read-only and sees committed data; a
 * second open in the same process is refused (LMDB allows one per process). */
static void test_read_only_open(void **state)
{
	struct fx *f = *state;
	struct mds_store *s2;
	struct mds_status st;
	pid_t pid;
	int wst;

	assert_int_equal(tu_put(f->s, "data", tu_s("shared"), 5, NULL), 0);
	assert_int_equal(mds_store_open(&s2, f->dir, NULL, &st), MDS_EBUSY);
	assert_non_null(strstr(st.msg, "already open in this process"));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mds_store_opts ro = { .read_only = 1 };
		struct mds_op op;
		int ok;

		if (mds_store_open(&s2, f->dir, &ro, &st))
			_exit(10);
		ok = object_exists(s2, "shared", NULL);
		mds_op_init(&op, MDS_OP_OBJECT_PUT);
		op.bucket = tu_s("data");
		op.name = tu_s("x");
		if (mds_store_exec(s2, &op) != MDS_EINVAL)
			_exit(11);
		mds_store_close(s2);
		_exit(ok ? 0 : 12);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
}

/* A process that dies holding a read snapshot leaves a stale reader slot;
 * the store frees it (at open, periodically, or on request). */
static void test_stale_reader_reaped(void **state)
{
	struct fx *f = *state;
	int fds[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mds_store_opts ro = { .read_only = 1 };
		struct mds_store *s;
		struct mds_reader *r;
		struct mds_status st;

		if (mds_store_open(&s, f->dir, &ro, &st) || mds_reader_open(s, &r) || mds_reader_begin(r))
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_true(mds_store_reap_readers(f->s) >= 1);
	assert_int_equal(mds_store_reap_readers(f->s), 0);
	{
		struct mds_store_stats stats;

		mds_store_stats(f->s, &stats);
		assert_true(stats.stale_readers_reaped >= 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_commit_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precondition_isolated_in_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_injection_map_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_injection_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_full_then_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_and_close_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_reader_reaped, setup, teardown),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
