/*
 * bench_core.c - in-process benchmark of the island core.
 *
 * Loads N objects into one bucket, then measures, in one run:
 *   head lookups/s with 1 and 2 reader threads (random names of the set);
 *   list entries/s: streaming inventory, paged S3 listing with delimiter;
 *   a delimiter listing at the root of a bucket whose objects all sit
 *   under one prefix "a/" plus one object "b" (must be one cheap step);
 *   durable puts/s with group commit at 1, 16 and 256 concurrent
 *   submitters, and the same with one put per transaction (max_batch=1),
 *   for random names and for sequential names (checkpoint-shard shape).
 *
 * Usage: bench_core [--objects N] [--seconds S] [--dir DIR] [--keep]
 * Prints one line per figure: "name value unit". Medians come from running
 * it several times; see docs/benchmarks.md.
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
#include "mds/store.h"
#include "../../mds/testutil.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Object i of the loaded set: "a/" + 100 directories + random-looking file. */
static size_t set_name(char *buf, uint64_t i)
{
	uint64_t h = mix(i);

	return (size_t)snprintf(buf, 64, "a/d%03u/%016" PRIx64 "-%" PRIu64, (unsigned)(h % 100), h, i);
}

/* ---- closed-loop submitters -------------------------------------------------- */

enum name_shape { NAMES_RANDOM, NAMES_SEQ };

struct loop {
	struct mds_store *s;
	enum name_shape shape;
	const char *bucket;
	atomic_uint_fast64_t next;   /* name counter */
	atomic_uint_fast64_t done;   /* completed ops */
	atomic_int stop;
	atomic_int outstanding;
	uint64_t salt;
};

struct lop {
	struct mds_op op;
	struct loop *l;
	char name[64];
};

static void lop_fill(struct lop *o)
{
	struct loop *l = o->l;
	uint64_t i = atomic_fetch_add(&l->next, 1);

	if (l->shape == NAMES_SEQ)
		snprintf(o->name, sizeof(o->name), "ckpt/step-%06" PRIu64 "/shard-%010" PRIu64,
			 (i / 1000) + l->salt, i);
	else
		snprintf(o->name, sizeof(o->name), "w/%016" PRIx64, mix(i ^ (l->salt << 40)));
	mds_op_init(&o->op, MDS_OP_OBJECT_PUT);
	o->op.bucket = tu_s(l->bucket);
	o->op.name = tu_s(o->name);
	o->op.obj.size = 4096;
	o->op.obj.etag = MDS_STR("\"0123456789abcdef0123456789abcdef\"");
	o->op.obj.locator = MDS_STR("pool1:vol7:0x00000000deadbeef");
}

static void lop_done(struct mds_op *op)
{
	struct lop *o = (struct lop *)op;
	struct loop *l = o->l;

	if (op->status.code) {
		fprintf(stderr, "put failed: %s\n", op->status.msg);
		exit(1);
	}
	atomic_fetch_add(&l->done, 1);
	if (atomic_load(&l->stop)) {
		atomic_fetch_sub(&l->outstanding, 1);
		free(o);
		return;
	}
	lop_fill(o);
	o->op.done = lop_done;
	if (mds_store_submit(l->s, &o->op)) {
		fprintf(stderr, "submit failed\n");
		exit(1);
	}
}

/* Runs @conc closed-loop submitters for @secs; returns puts/s. */
static double run_loop(struct mds_store *s, const char *bucket, enum name_shape shape, int conc,
		       double secs, uint64_t salt)
{
	struct loop l = { .s = s, .shape = shape, .bucket = bucket, .salt = salt };
	double t0, t1;
	uint64_t d0;

	atomic_store(&l.outstanding, conc);
	t0 = now_s();
	for (int i = 0; i < conc; i++) {
		struct lop *o = calloc(1, sizeof(*o));

		o->l = &l;
		lop_fill(o);
		o->op.done = lop_done;
		if (mds_store_submit(s, &o->op))
			exit(1);
	}
	usleep((useconds_t)(secs * 0.2 * 1e6)); /* warm-up */
	d0 = atomic_load(&l.done);
	t0 = now_s();
	usleep((useconds_t)(secs * 1e6));
	t1 = now_s();
	{
		uint64_t d1 = atomic_load(&l.done);

		atomic_store(&l.stop, 1);
		while (atomic_load(&l.outstanding))
			usleep(1000);
		return (double)(d1 - d0) / (t1 - t0);
	}
}

/* ---- bulk load ------------------------------------------------------------------ */

struct loader {
	struct mds_store *s;
	uint64_t from, to;
};

struct lload {
	struct mds_op op;
	char name[64];
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	int *inflight;
};

static void load_done(struct mds_op *op)
{
	struct lload *o = (struct lload *)op;

	if (op->status.code) {
		fprintf(stderr, "load put failed: %s\n", op->status.msg);
		exit(1);
	}
	pthread_mutex_lock(o->mu);
	(*o->inflight)--;
	pthread_cond_signal(o->cv);
	pthread_mutex_unlock(o->mu);
	free(o);
}

static void *load_main(void *arg)
{
	struct loader *ld = arg;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	int inflight = 0;

	for (uint64_t i = ld->from; i < ld->to; i++) {
		struct lload *o = calloc(1, sizeof(*o));

		pthread_mutex_lock(&mu);
		while (inflight >= 2048)
			pthread_cond_wait(&cv, &mu);
		inflight++;
		pthread_mutex_unlock(&mu);
		o->mu = &mu;
		o->cv = &cv;
		o->inflight = &inflight;
		mds_op_init(&o->op, MDS_OP_OBJECT_PUT);
		o->op.bucket = MDS_STR("bench");
		o->op.name = (struct mds_str){ o->name, set_name(o->name, i) };
		o->op.obj.size = 1 << 20;
		o->op.obj.etag = MDS_STR("\"0123456789abcdef0123456789abcdef\"");
		o->op.obj.locator = MDS_STR("pool1:vol7:0x00000000deadbeef");
		o->op.done = load_done;
		if (mds_store_submit(ld->s, &o->op))
			exit(1);
	}
	pthread_mutex_lock(&mu);
	while (inflight)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ---- reads ------------------------------------------------------------------------ */

struct reader_arg {
	struct mds_store *s;
	uint64_t n;
	double secs;
	uint64_t ops;
	int seed;
};

static void *head_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct mds_reader *r;
	struct mds_status st;
	uint64_t x = (uint64_t)ra->seed * 7919 + 1, ops = 0;
	double end = now_s() + ra->secs;

	if (mds_reader_open(ra->s, &r))
		exit(1);
	while ((ops & 1023) || now_s() < end) {
		char name[64];
		struct mds_object o;
		uint64_t i = mix(x++) % ra->n;

		if (mds_reader_begin(r))
			exit(1);
		if (mds_object_head(r, MDS_STR("bench"), (struct mds_str){ name, set_name(name, i) }, &o, &st)) {
			fprintf(stderr, "head failed: %s\n", st.msg);
			exit(1);
		}
		mds_reader_end(r);
		ops++;
	}
	mds_reader_close(r);
	ra->ops = ops;
	return NULL;
}

static double heads_per_s(struct mds_store *s, uint64_t n, int threads, double secs)
{
	pthread_t th[8];
	struct reader_arg ra[8];
	double t0 = now_s(), total = 0;

	for (int i = 0; i < threads; i++) {
		ra[i] = (struct reader_arg){ s, n, secs, 0, i + 1 };
		pthread_create(&th[i], NULL, head_main, &ra[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += (double)ra[i].ops;
	}
	return total / (now_s() - t0);
}

struct count_ctx {
	uint64_t n;
	char last[MDS_OBJECT_NAME_MAX];
	size_t last_len;
};

static int count_emit(void *arg, const struct mds_list_entry *e)
{
	struct count_ctx *c = arg;

	c->n++;
	memcpy(c->last, e->name.p, e->name.len);
	c->last_len = e->name.len;
	return 0;
}

static double stream_per_s(struct mds_store *s, uint64_t *total)
{
	struct mds_reader *r;
	struct mds_status st;
	struct count_ctx c = { 0 };
	double t0 = now_s();
	long got;

	mds_reader_open(s, &r);
	do {
		mds_reader_begin(r);
		got = mds_list_stream(r, MDS_STR("bench"), MDS_STR_NULL,
				      (struct mds_str){ c.last, c.last_len }, 1000, count_emit, &c, &st);
		mds_reader_end(r);
		if (got < 0) {
			fprintf(stderr, "stream failed: %s\n", st.msg);
			exit(1);
		}
	} while (got > 0);
	mds_reader_close(r);
	*total = c.n;
	return (double)c.n / (now_s() - t0);
}

/* Paged S3 listing with delimiter "/" under "a/dNNN/": every page 1000 keys. */
static double paged_per_s(struct mds_store *s, uint64_t *total, double *pages_out)
{
	struct mds_reader *r;
	struct mds_status st;
	struct count_ctx c = { 0 };
	struct mds_list_result res;
	char prefix[16], tok[MDS_LIST_TOKEN_MAX + 1];
	double t0 = now_s();
	uint64_t pages = 0;

	mds_reader_open(s, &r);
	for (int d = 0; d < 100; d++) {
		struct mds_list_params p = { .style = MDS_LIST_S3, .bucket = MDS_STR("bench"),
					     .delimiter = MDS_STR("/"), .max_keys = 1000 };

		snprintf(prefix, sizeof(prefix), "a/d%03d/", d);
		p.prefix = tu_s(prefix);
		do {
			mds_reader_begin(r);
			if (mds_list(r, &p, count_emit, &c, &res, &st)) {
				fprintf(stderr, "list failed: %s\n", st.msg);
				exit(1);
			}
			mds_reader_end(r);
			pages++;
			strcpy(tok, res.next_token);
			p.token = tu_s(tok);
		} while (res.truncated);
	}
	mds_reader_close(r);
	*total = c.n;
	*pages_out = (double)pages;
	return (double)c.n / (now_s() - t0);
}

/* The 'a/' + 'b' case: delimiter listing at the root. Returns seconds per listing. */
static double rollup_seconds(struct mds_store *s, uint64_t *results)
{
	struct mds_reader *r;
	struct mds_status st;
	struct count_ctx c = { 0 };
	struct mds_list_result res;
	struct mds_list_params p = { .style = MDS_LIST_S3, .bucket = MDS_STR("bench"),
				     .delimiter = MDS_STR("/"), .max_keys = 1000 };
	double t0;
	int reps = 1000;

	mds_reader_open(s, &r);
	t0 = now_s();
	for (int i = 0; i < reps; i++) {
		c.n = 0;
		mds_reader_begin(r);
		if (mds_list(r, &p, count_emit, &c, &res, &st))
			exit(1);
		mds_reader_end(r);
	}
	*results = c.n;
	mds_reader_close(r);
	return (now_s() - t0) / reps;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000;
	double secs = 3;
	char dirbuf[256];
	const char *dir = NULL;
	int keep = 0;
	struct mds_store *s;
	struct mds_status st;
	struct mds_store_opts opts = { 0 };
	double t0, rate;
	uint64_t total;
	static const int concs[] = { 1, 16, 256 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--objects") && i + 1 < argc)
			n = (uint64_t)strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			secs = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: %s [--objects N] [--seconds S] [--dir DIR] [--keep]\n", argv[0]);
			return 2;
		}
	}
	if (!dir)
		dir = tu_tmpdir(dirbuf);
	opts.map_size = 256ull << 30;
	if (mds_store_open(&s, dir, &opts, &st)) {
		fprintf(stderr, "open: %s\n", st.msg);
		return 1;
	}
	printf("objects %" PRIu64 "\n", n);
	{
		struct mds_reader *r;
		struct mds_bucket b;
		int have;

		mds_reader_open(s, &r);
		mds_reader_begin(r);
		have = mds_bucket_get(r, MDS_STR("bench"), &b, &st) == 0 && b.objects >= n;
		mds_reader_close(r);
		if (!have) {
			pthread_t th[2];
			struct loader ld[2] = { { s, 0, n / 2 }, { s, n / 2, n } };

			tu_team(s, "bench");
			tu_bucket(s, "bench", "bench");
			t0 = now_s();
			for (int i = 0; i < 2; i++)
				pthread_create(&th[i], NULL, load_main, &ld[i]);
			for (int i = 0; i < 2; i++)
				pthread_join(th[i], NULL);
			printf("load_puts_per_s %.0f (bulk, 4096 in flight)\n", (double)n / (now_s() - t0));
			tu_put(s, "bench", MDS_STR("b"), 1, NULL);
		}
	}

	printf("head_per_s_1_thread %.0f\n", heads_per_s(s, n, 1, secs));
	printf("head_per_s_2_threads %.0f\n", heads_per_s(s, n, 2, secs));
	rate = stream_per_s(s, &total);
	printf("stream_entries_per_s %.0f (%" PRIu64 " entries)\n", rate, total);
	{
		double pages;

		rate = paged_per_s(s, &total, &pages);
		printf("paged_delimiter_entries_per_s %.0f (%" PRIu64 " entries, %.0f pages of <=1000)\n",
		       rate, total, pages);
	}
	{
		double sec = rollup_seconds(s, &total);

		printf("rollup_root_listing_us %.1f (%" PRIu64 " results over %" PRIu64 " objects)\n",
		       sec * 1e6, total, n + 1);
	}

	tu_bucket(s, "writes", "bench");
	for (int shape = 0; shape < 2; shape++) {
		for (size_t k = 0; k < sizeof(concs) / sizeof(concs[0]); k++) {
			rate = run_loop(s, "writes", (enum name_shape)shape, concs[k], secs,
					(uint64_t)(shape * 10 + k + 1));
			printf("group_commit_puts_per_s_%s_%d %.0f\n", shape ? "seq" : "random", concs[k], rate);
		}
	}
	mds_store_close(s);

	/* The peer: one put per durable transaction, same store, same run. */
	opts.max_batch = 1;
	if (mds_store_open(&s, dir, &opts, &st))
		return 1;
	for (int shape = 0; shape < 2; shape++) {
		for (size_t k = 0; k < sizeof(concs) / sizeof(concs[0]); k += 2) {
			rate = run_loop(s, "writes", (enum name_shape)shape, concs[k], secs,
					(uint64_t)(100 + shape * 10 + k));
			printf("single_txn_puts_per_s_%s_%d %.0f\n", shape ? "seq" : "random", concs[k], rate);
		}
	}
	mds_store_close(s);
	if (!keep)
		tu_rmrf(dir);
	return 0;
}
