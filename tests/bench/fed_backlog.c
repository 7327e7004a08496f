/*
 * fed_backlog.c - write a feed backlog fast, in process: N object puts (one
 * team, one bucket, names "b/%09u", 1 in 10 an overwrite) through the store
 * with the change feed's post-apply hook, so every put has its leaf and
 * Merkle nodes exactly as a serving island would write them. Then the
 * directory is served by `mds serve --data DIR` (with a key from
 * `mds keys init`) and a subscriber catches up: tests/bench/fed_bench.py.
 *
 * usage: fed_backlog DIR ORIGIN N
 * Prints one line: leaves, seconds, leaves/s.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed_log.h"
#include "mds/namespace.h"
#include "mds/store.h"

#define INFLIGHT 4096

struct slot {
	struct mds_op op;
	char name[32];
	atomic_int busy;
};

static atomic_long failed;

static void done(struct mds_op *op)
{
	struct slot *s = op->user;

	if (op->status.code)
		atomic_fetch_add(&failed, 1);
	atomic_store(&s->busy, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct mds_store *s;
	struct mds_feed_log *l;
	struct mds_store_opts o;
	struct mds_status st;
	struct mds_op op;
	struct slot *slots;
	unsigned long n;
	double t0, t1;

	if (argc != 4) {
		fprintf(stderr, "usage: fed_backlog DIR ORIGIN N\n");
		return 2;
	}
	n = strtoul(argv[3], NULL, 10);
	memset(&o, 0, sizeof(o));
	o.max_batch = 4096;
	if (mds_store_open(&s, argv[1], &o, &st) || mds_feed_log_open(s, argv[2], &l, &st)) {
		fprintf(stderr, "fed_backlog: %s\n", st.msg);
		return 1;
	}
	mds_op_init(&op, MDS_OP_TEAM_CREATE);
	op.team = MDS_STR("bench");
	mds_store_exec(s, &op);
	mds_op_init(&op, MDS_OP_BUCKET_CREATE);
	op.team = MDS_STR("bench");
	op.bucket = MDS_STR("backlog");
	mds_store_exec(s, &op);
	slots = calloc(INFLIGHT, sizeof(*slots));
	if (!slots)
		return 1;
	t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		struct slot *sl = &slots[i % INFLIGHT];

		while (atomic_load(&sl->busy))
			sched_yield();   /* the writer frees slots in submission order */
		mds_op_init(&sl->op, MDS_OP_OBJECT_PUT);
		snprintf(sl->name, sizeof(sl->name), "b/%09lu", i % 10 == 9 ? i / 10 : i);
		sl->op.bucket = MDS_STR("backlog");
		sl->op.name = (struct mds_str){ sl->name, strlen(sl->name) };
		sl->op.obj.size = i;
		sl->op.obj.etag = MDS_STR("\"bench\"");
		sl->op.done = done;
		sl->op.user = sl;
		atomic_store(&sl->busy, 1);
		if (mds_store_submit(s, &sl->op) != 0) {
			fprintf(stderr, "fed_backlog: submit: %s\n", sl->op.status.msg);
			return 1;
		}
	}
	for (unsigned i = 0; i < INFLIGHT; i++)
		while (atomic_load(&slots[i].busy))
			sched_yield();
	t1 = now_s();
	mds_store_close(s);
	mds_feed_log_close(l);
	free(slots);
	printf("backlog %lu puts in %.2f s: %.0f puts/s (failed %ld)\n", n, t1 - t0,
	       (double)n / (t1 - t0), atomic_load(&failed));
	return atomic_load(&failed) ? 1 : 0;
}
