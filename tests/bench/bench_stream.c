/*
 * bench_stream.c - the server's streaming-listing path without gRPC, for
 * instruction counts.
 *
 * Loads N objects shaped like rpc_bench's ("bench/obj-%010lu", 1 MiB,
 * ETag, content type) into bucket "bench" unless the store in --dir
 * already holds them, then streams the whole bucket the way
 * ListObjectsStream does: chunks of 1,000 entries, each chunk one
 * mds_list_stream_raw() call on a renewed reader that resumes after the
 * last name, each entry transcoded with mds_encode_object_rec() into a
 * buffer that is then dropped (the server hands it to gRPC). With
 * --decode, the path before the transcoder instead: mds_list_stream()
 * (every record decoded) and mds_encode_object_field(), for A/B counts
 * in the same program.
 *
 * The walk lives in stream_all() so that callgrind can count it alone:
 *   bench_stream --dir D --objects 200000            # load once
 *   valgrind --tool=callgrind --collect-atstart=no \
 *     --toggle-collect=stream_all bench_stream --dir D --objects 200000 [--decode]
 * Prints "stream_entries N" and "stream_entries_per_s R".
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mds/namespace.h"
#include "mds/store.h"
#include "../../mds/listing.h"
#include "../../mds/rpc_encode.h"
#include "../../mds/testutil.h"

struct chunk {
	struct mds_wbuf b;
	uint64_t n;
	char last[MDS_OBJECT_NAME_MAX];
	size_t last_len;
};

/* as the server does: keep only the chunk's last name for resuming */
static void chunk_count(struct chunk *c, struct mds_str name)
{
	if (++c->n % 1000 == 0) {
		memcpy(c->last, name.p, name.len);
		c->last_len = name.len;
	}
}

static int chunk_emit(void *arg, struct mds_str name, struct mds_str rec)
{
	struct chunk *c = arg;
	int rc = mds_encode_object_rec(&c->b, 1, MDS_STR("bench"), name, rec);

	if (rc)
		return rc;
	chunk_count(c, name);
	return 0;
}

static int chunk_emit_decoded(void *arg, const struct mds_list_entry *e)
{
	struct chunk *c = arg;
	int rc = mds_encode_object_field(&c->b, 1, MDS_STR("bench"), e->name, e->obj);

	if (rc)
		return rc;
	chunk_count(c, e->name);
	return 0;
}

uint64_t stream_all(struct mds_store *s, int decode);

/* Streams bucket "bench" in chunks of 1,000; returns the entries seen. */
uint64_t stream_all(struct mds_store *s, int decode)
{
	struct mds_reader *r;
	struct mds_status st;
	struct chunk c = { 0 };
	char resume[MDS_OBJECT_NAME_MAX];
	long got;

	if (mds_reader_open(s, &r))
		exit(1);
	do {
		size_t rl = c.last_len;
		struct mds_str after = { resume, rl };

		memcpy(resume, c.last, rl);
		if (mds_reader_begin(r))
			exit(1);
		if (decode)
			got = mds_list_stream(r, MDS_STR("bench"), MDS_STR("bench/"), after, 1000,
					      chunk_emit_decoded, &c, &st);
		else
			got = mds_list_stream_raw(r, MDS_STR("bench"), MDS_STR("bench/"), after,
						  1000, chunk_emit, &c, &st);
		mds_reader_end(r);
		if (got < 0) {
			fprintf(stderr, "stream failed: %s\n", st.msg);
			exit(1);
		}
		mds_wbuf_release(&c.b);
	} while (got == 1000);
	mds_reader_close(r);
	return c.n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t load_cv = PTHREAD_COND_INITIALIZER;
static size_t load_pending;

static void load_done(struct mds_op *op)
{
	if (op->status.code) {
		fprintf(stderr, "load: %s\n", op->status.msg);
		exit(1);
	}
	pthread_mutex_lock(&load_mu);
	if (--load_pending == 0)
		pthread_cond_signal(&load_cv);
	pthread_mutex_unlock(&load_mu);
}

/* Puts @n objects, 1,000 in flight at a time (one group commit each). */
static void load(struct mds_store *s, uint64_t n)
{
	static struct mds_op ops[1000];
	static char names[1000][32];

	tu_team(s, "bench");
	tu_bucket(s, "bench", "bench");
	for (uint64_t i = 0; i < n;) {
		size_t k = 0;

		pthread_mutex_lock(&load_mu);
		load_pending = n - i < 1000 ? (size_t)(n - i) : 1000;
		pthread_mutex_unlock(&load_mu);
		for (; k < 1000 && i < n; k++, i++) {
			struct mds_op *op = &ops[k];

			mds_op_init(op, MDS_OP_OBJECT_PUT);
			op->bucket = MDS_STR("bench");
			snprintf(names[k], sizeof(names[k]), "bench/obj-%010" PRIu64, i);
			op->name = tu_s(names[k]);
			op->obj.size = 1 << 20;
			op->obj.etag = MDS_STR("\"0123456789abcdef0123456789abcdef\"");
			op->obj.content_type = MDS_STR("application/octet-stream");
			op->done = load_done;
			if (mds_store_submit(s, op)) {
				fprintf(stderr, "load: %s\n", op->status.msg);
				exit(1);
			}
		}
		pthread_mutex_lock(&load_mu);
		while (load_pending)
			pthread_cond_wait(&load_cv, &load_mu);
		pthread_mutex_unlock(&load_mu);
	}
}

int main(int argc, char **argv)
{
	uint64_t n = 200000, got;
	const char *dir = NULL;
	char dirbuf[256];
	int passes = 1, decode = 0;
	struct mds_store *s;
	struct mds_status st;
	struct mds_store_opts opts = { 0 };
	double t0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--objects") && i + 1 < argc)
			n = (uint64_t)strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--decode"))
			decode = 1;
		else {
			fprintf(stderr, "usage: %s [--objects N] [--dir DIR] [--passes P] [--decode]\n", argv[0]);
			return 2;
		}
	}
	if (!dir)
		dir = tu_tmpdir(dirbuf);
	opts.map_size = 16ull << 30;
	if (mds_store_open(&s, dir, &opts, &st)) {
		fprintf(stderr, "open: %s\n", st.msg);
		return 1;
	}
	{
		struct mds_reader *r;
		struct mds_bucket b;
		int have;

		mds_reader_open(s, &r);
		mds_reader_begin(r);
		have = mds_bucket_get(r, MDS_STR("bench"), &b, &st) == 0 && b.objects >= n;
		mds_reader_close(r);
		if (!have)
			load(s, n);
	}
	for (int p = 0; p < passes; p++) {
		t0 = now_s();
		got = stream_all(s, decode);
		printf("stream_entries %" PRIu64 "\nstream_entries_per_s %.0f\n", got,
		       (double)got / (now_s() - t0));
	}
	mds_store_close(s);
	if (dir == dirbuf)
		tu_rmrf(dir);
	return 0;
}
