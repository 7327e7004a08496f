/*
 * bench_quota.c - what exact quota enforcement costs a durable put.
 *
 * Two stores in one run: one without any quota, one where every put is
 * covered by three quota scopes (team, bucket, prefix "a/", each with hard
 * byte and object limits far away, so nothing is refused but everything is
 * checked and charged). Closed-loop submitters put new objects (group
 * commit, one fsync per batch) into both stores at the same time, so that
 * disk and CPU noise of the shared machine hits both alike; each phase
 * yields one quota/none ratio.
 *
 * The overhead is the median over phases of 1 - quota/none; --control runs
 * the same with no quota on either side, to show the noise floor (and any
 * bias between the two stores).
 *
 * Usage: bench_quota [--threads N] [--seconds S] [--phases P] [--dir DIR] [--control]
 * Prints "name value unit" lines; docs/benchmarks.md records figures.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mds/namespace.h"
#include "mds/quota.h"
#include "mds/store.h"
#include "../../mds/testutil.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct loop {
	struct mds_store *s;
	int id;
	atomic_int *stop;
	uint64_t *seq;      /* per-store name counter base, per thread */
	uint64_t done;
	uint64_t failed;
};

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	char name[64];

	while (!atomic_load(l->stop)) {
		struct mds_op op;

		snprintf(name, sizeof(name), "a/d%02d/obj-%08" PRIu64, l->id % 50, (*l->seq)++);
		mds_op_init(&op, MDS_OP_OBJECT_PUT);
		op.bucket = tu_s("data");
		op.name = tu_s(name);
		op.obj.size = 4096;
		op.obj.etag = tu_s("\"e\"");
		if (mds_store_exec(l->s, &op))
			l->failed++;
		else
			l->done++;
	}
	return NULL;
}

/* Durable puts/s into @s with @threads closed-loop clients for @secs. */
/*
 * One phase: @threads closed-loop clients on each of the two stores at the
 * same time for @secs, so that the machine's noise (other processes, disk
 * flushes) hits both sides alike. rate[i] receives store i's puts/s.
 */
static void phase(struct mds_store *st[2], int threads, double secs, uint64_t *seqs[2],
		  uint64_t *failed, double rate[2])
{
	pthread_t th[2][256];
	struct loop l[2][256];
	atomic_int stop = 0;
	uint64_t total[2] = { 0, 0 };
	double t0, dt;

	for (int k = 0; k < 2; k++)
		for (int i = 0; i < threads; i++) {
			l[k][i] = (struct loop){ .s = st[k], .id = i, .stop = &stop, .seq = &seqs[k][i] };
			pthread_create(&th[k][i], NULL, loop_main, &l[k][i]);
		}
	t0 = now_s();
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, 1);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < threads; i++) {
			pthread_join(th[k][i], NULL);
			total[k] += l[k][i].done;
			*failed += l[k][i].failed;
		}
	dt = now_s() - t0;
	rate[0] = (double)total[0] / dt;
	rate[1] = (double)total[1] / dt;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct mds_store *open_one(const char *dir, int with_quotas)
{
	static const char *const scopes[] = { "team/t", "bucket/data", "prefix/data/a/" };
	struct mds_store *s;
	struct mds_status st;

	if (mds_store_open(&s, dir, NULL, &st)) {
		fprintf(stderr, "cannot open store '%s': %s\n", dir, st.msg);
		exit(1);
	}
	if (tu_team(s, "t") || tu_bucket(s, "data", "t")) {
		fprintf(stderr, "cannot create team/bucket\n");
		exit(1);
	}
	for (int i = 0; with_quotas && i < 3; i++) {
		struct mds_op op;

		mds_op_init(&op, MDS_OP_QUOTA_SET);
		op.scope = tu_s(scopes[i]);
		op.principal = tu_s("bench");
		op.limits.set = MDS_QUOTA_MAX_BYTES | MDS_QUOTA_MAX_OBJECTS;
		op.limits.max_bytes = 1ull << 60;
		op.limits.max_objects = 1ull << 40;
		if (mds_store_exec(s, &op)) {
			fprintf(stderr, "cannot set quota: %s\n", op.status.msg);
			exit(1);
		}
	}
	return s;
}

int main(int argc, char **argv)
{
	int threads = 32, phases = 6, control = 0;
	double secs = 2.0, none[64], quota[64], ratio[64];
	uint64_t seq_none[256] = { 0 }, seq_quota[256] = { 0 }, failed = 0;
	const char *base = NULL;
	char dir_none[512], dir_quota[512], tmp[256];
	struct mds_store *sn, *sq;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--phases") && i + 1 < argc)
			phases = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--control"))
			control = 1;   /* A/A run: no quotas on either side (noise floor) */
		else {
			fprintf(stderr, "usage: %s [--threads N] [--seconds S] [--phases P] [--dir DIR] [--control]\n",
				argv[0]);
			return 2;
		}
	}
	if (threads < 1 || threads > 256 || phases < 1 || phases > 64) {
		fprintf(stderr, "threads must be 1-256, phases 1-64\n");
		return 2;
	}
	for (int i = 0; i < 256; i++)
		seq_none[i] = seq_quota[i] = (uint64_t)i << 32;
	if (!base)
		base = tu_tmpdir(tmp);
	snprintf(dir_none, sizeof(dir_none), "%s/none", base);
	snprintf(dir_quota, sizeof(dir_quota), "%s/quota", base);
	sn = open_one(dir_none, 0);
	sq = open_one(dir_quota, !control);
	for (int p = 0; p < phases; p++) {
		struct mds_store *st[2] = { sn, sq };
		uint64_t *seqs[2] = { seq_none, seq_quota };
		double rate[2];

		phase(st, threads, secs, seqs, &failed, rate);
		none[p] = rate[0];
		quota[p] = rate[1];
		ratio[p] = quota[p] / none[p];
		printf("phase %d: none %.0f puts/s, three scopes %.0f puts/s\n", p, none[p], quota[p]);
		fflush(stdout);
	}
	{
		struct mds_reader *r;
		struct mds_quota_info qi;
		struct mds_status st;

		if (mds_reader_open(sq, &r) == 0 && mds_reader_begin(r) == 0 &&
		    mds_quota_usage(r, tu_s("prefix/data/a/"), &qi, &st) == 0)
			printf("prefix/data/a/ objects %" PRIu64 " (charged on every put)\n", qi.used_objects);
		mds_reader_close(r);
	}
	mds_store_close(sn);
	mds_store_close(sq);
	qsort(none, (size_t)phases, sizeof(double), cmp_double);
	qsort(quota, (size_t)phases, sizeof(double), cmp_double);
	qsort(ratio, (size_t)phases, sizeof(double), cmp_double);
	{
		double mn = phases % 2 ? none[phases / 2] : (none[phases / 2 - 1] + none[phases / 2]) / 2;
		double mq = phases % 2 ? quota[phases / 2] : (quota[phases / 2 - 1] + quota[phases / 2]) / 2;

		printf("durable_puts_no_quota %.0f puts/s\n", mn);
		printf("durable_puts_three_scopes %.0f puts/s\n", mq);
		double mr = phases % 2 ? ratio[phases / 2] : (ratio[phases / 2 - 1] + ratio[phases / 2]) / 2;

		printf("quota_overhead_paired_median %.1f %%\n", (1.0 - mr) * 100.0);
	}
	if (failed)
		printf("failed puts %" PRIu64 "\n", failed);
	if (base == tmp)
		tu_rmrf(tmp);
	return failed ? 1 : 0;
}
