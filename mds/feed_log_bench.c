/*
 * feed_log_bench.c - what recording the change feed costs the writer:
 * durable object puts per second into a fresh store with and without the
 * feed's post-apply hook, runs alternating in one process, medians
 * printed. Not a test.
 *
 *   build/mds/feed_log_bench [OPS [RUNS [INFLIGHT]]]   (defaults 20000 5 256)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed_log.h"
#include "testutil.h"

struct bop {
	struct mds_op op;
	char name[32];
};

struct run {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned inflight, done;
	unsigned failed;
};

static struct run R;
static uint64_t last_used[2], last_batches[2];
static double last_cpu_us[2];   /* process CPU time per put, both threads */

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_done(struct mds_op *op)
{
	pthread_mutex_lock(&R.mu);
	if (op->status.code)
		R.failed++;
	R.inflight--;
	R.done++;
	pthread_cond_signal(&R.cv);
	pthread_mutex_unlock(&R.mu);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double one_run(int feed, unsigned ops, unsigned window, struct bop *b)
{
	char dir[256];
	struct mds_store *s;
	struct mds_feed_log *l = NULL;
	struct mds_status st;
	double t0, dt, c0;

	tu_tmpdir(dir);
	if (mds_store_open(&s, dir, NULL, &st) != 0) {
		fprintf(stderr, "cannot open store: %s\n", st.msg);
		exit(1);
	}
	if (feed && mds_feed_log_open(s, "bench.example/feed", &l, &st) != 0)
		exit(1);
	tu_team(s, "t");
	tu_bucket(s, "data", "t");
	memset(&R, 0, sizeof(R));
	pthread_mutex_init(&R.mu, NULL);
	pthread_cond_init(&R.cv, NULL);
	t0 = now_s();
	c0 = cpu_s();
	for (unsigned i = 0; i < ops; i++) {
		struct bop *o = &b[i];

		pthread_mutex_lock(&R.mu);
		while (R.inflight >= window)
			pthread_cond_wait(&R.cv, &R.mu);
		R.inflight++;
		pthread_mutex_unlock(&R.mu);
		snprintf(o->name, sizeof(o->name), "dir%02u/obj-%08u", i % 64, i);
		mds_op_init(&o->op, MDS_OP_OBJECT_PUT);
		o->op.bucket = tu_s("data");
		o->op.name = tu_s(o->name);
		o->op.obj.size = 4096 + i;
		o->op.obj.etag = tu_s("\"0123456789abcdef0123456789abcdef\"");
		o->op.obj.locator = tu_s("blob://pool-a/0123456789abcdef");
		o->op.done = on_done;
		if (mds_store_submit(s, &o->op) != 0)
			exit(1);
	}
	pthread_mutex_lock(&R.mu);
	while (R.done < ops)
		pthread_cond_wait(&R.cv, &R.mu);
	pthread_mutex_unlock(&R.mu);
	dt = now_s() - t0;
	last_cpu_us[feed] = (cpu_s() - c0) * 1e6 / ops;
	if (R.failed)
		fprintf(stderr, "%u puts failed\n", R.failed);
	{
		struct mds_store_stats ss;

		mds_store_stats(s, &ss);
		last_used[feed] = ss.map_used;
		last_batches[feed] = ss.batches;
	}
	mds_store_close(s);
	mds_feed_log_close(l);
	tu_rmrf(dir);
	return ops / dt;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	unsigned ops = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;
	unsigned runs = argc > 2 ? (unsigned)atoi(argv[2]) : 5;
	unsigned window = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
	double *with = calloc(runs, sizeof(double)), *without = calloc(runs, sizeof(double));
	double *cwith = calloc(runs, sizeof(double)), *cwithout = calloc(runs, sizeof(double));
	struct bop *b = calloc(ops, sizeof(*b));

	/* FEED_BENCH_ONLY=0|1 runs one mode only (for profiling). */
	const char *only = getenv("FEED_BENCH_ONLY");

	for (unsigned r = 0; r < runs; r++) {
		without[r] = only && only[0] == '1' ? 0 : one_run(0, ops, window, b);
		with[r] = only && only[0] == '0' ? 0 : one_run(1, ops, window, b);
		cwithout[r] = last_cpu_us[0];
		cwith[r] = last_cpu_us[1];
		printf("run %u: without feed %.0f puts/s (%llu KiB, %llu commits, %.2f us CPU/put), with feed %.0f puts/s (%llu KiB, %llu commits, %.2f us CPU/put)\n",
		       r, without[r], (unsigned long long)last_used[0] / 1024,
		       (unsigned long long)last_batches[0], cwithout[r], with[r],
		       (unsigned long long)last_used[1] / 1024, (unsigned long long)last_batches[1],
		       cwith[r]);
	}
	qsort(cwith, runs, sizeof(double), cmp_d);
	qsort(cwithout, runs, sizeof(double), cmp_d);
	printf("median CPU per put (both threads): without feed %.2f us, with feed %.2f us (+%.1f%%)\n",
	       cwithout[runs / 2], cwith[runs / 2],
	       100.0 * (cwith[runs / 2] / cwithout[runs / 2] - 1.0));
	qsort(with, runs, sizeof(double), cmp_d);
	qsort(without, runs, sizeof(double), cmp_d);
	printf("median: without feed %.0f puts/s, with feed %.0f puts/s, overhead %.1f%%\n",
	       without[runs / 2], with[runs / 2],
	       100.0 * (1.0 - with[runs / 2] / without[runs / 2]));
	free(with);
	free(without);
	free(cwith);
	free(cwithout);
	free(b);
	return 0;
}
