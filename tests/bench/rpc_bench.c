/*
 * rpc_bench.c - Island MDS over gRPC on loopback against etcd, the peer an
 * operator would otherwise pick, in one run and through the same client
 * code path (gRPC C core, protobuf-c, one completion queue, the same
 * number of calls in flight):
 *
 *   lookups   mds HeadObject        vs etcd Range (one key, linearizable)
 *   puts      mds PutObject         vs etcd Put (both durable: fsync'd)
 *   listing   mds ListObjectsStream vs etcd Range over a prefix
 *
 * Both servers get a fresh data directory under $TMPDIR and are stopped at
 * the end. Each figure is the median of --runs timed runs of --seconds.
 *
 * usage: rpc_bench --mds PATH [--etcd PATH] [--seconds S] [--runs N]
 *                  [--inflight N] [--objects N] [--skip-etcd]
 *                  [--puts-only | --list-only] [--batch-window-us N]
 *                  [--mds-arg ARG]...   (passed to `mds serve`, up to 8)
 *                  [--connections N]    (unary calls over N connections, 1-8)
 *                  [--client-threads T] (timed unary runs on T client threads, 1-8)
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "etcd_kv.pb-c.h"
#include "rpc_bytes.h"
#include "namespace.pb-c.h"
#include "admin.pb-c.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the shared unary engine: N calls in flight on one queue ---------- */

/* Builds request number @i; returns an owned byte buffer. */
typedef grpc_byte_buffer *(*gen_fn)(void *arg, unsigned long i);

struct slot {
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array im, tm;
	grpc_status_code status;
	grpc_slice details;
};

/* --connections N: unary calls spread over N channels with their own
 * connections (slot i uses channel i % N); 1 = everything on @ch. */
static grpc_channel *extra_ch[8];
static unsigned n_conns = 1;

struct engine {
	grpc_channel *ch;
	struct slot *slots;
	grpc_completion_queue *cq;
	grpc_slice method;
	gen_fn gen;
	void *arg;
	unsigned long next, done, errors;
	grpc_status_code last_error;
};

static void slot_start(struct engine *e, struct slot *s)
{
	grpc_op ops[6];

	memset(s, 0, sizeof(*s));
	grpc_metadata_array_init(&s->im);
	grpc_metadata_array_init(&s->tm);
	s->send = e->gen(e->arg, e->next++);
	s->call = grpc_channel_create_call(extra_ch[0] ? extra_ch[(size_t)(s - e->slots) % n_conns]
					   : e->ch, NULL, GRPC_PROPAGATE_DEFAULTS, e->cq, e->method,
					   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->im;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &s->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &s->tm;
	ops[5].data.recv_status_on_client.status = &s->status;
	ops[5].data.recv_status_on_client.status_details = &s->details;
	if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK)
		abort();
}

static void slot_finish(struct engine *e, struct slot *s)
{
	if (s->status == GRPC_STATUS_OK && s->recv) {
		e->done++;
	} else {
		e->errors++;
		e->last_error = s->status;
	}
	if (s->recv)
		grpc_byte_buffer_destroy(s->recv);
	grpc_byte_buffer_destroy(s->send);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->im);
	grpc_metadata_array_destroy(&s->tm);
	grpc_call_unref(s->call);
}

/*
 * Run @gen's requests with @inflight calls outstanding: for @seconds when
 * @count is 0, else exactly @count calls. Returns calls completed OK.
 */
static unsigned long engine_run(grpc_channel *ch, const char *method, gen_fn gen, void *arg,
				unsigned inflight, double seconds, unsigned long count,
				unsigned long first, double *elapsed, unsigned long *errors)
{
	struct slot *slots = calloc(inflight, sizeof(*slots));
	struct engine e = { ch, slots, grpc_completion_queue_create_for_next(NULL),
			    grpc_slice_from_static_string(method), gen, arg, first, 0, 0, 0 };
	unsigned active = 0;
	double t0 = now_s(), end = t0 + seconds;
	int stopping = 0;

	for (unsigned i = 0; i < inflight && (!count || e.next - first < count); i++) {
		slot_start(&e, &slots[i]);
		active++;
	}
	while (active) {
		grpc_event ev = grpc_completion_queue_next(e.cq, gpr_inf_future(GPR_CLOCK_REALTIME),
							   NULL);
		struct slot *s = ev.tag;

		slot_finish(&e, s);
		if (!count && !stopping && now_s() >= end)
			stopping = 1;
		if (stopping || (count && e.next - first >= count))
			active--;
		else
			slot_start(&e, s);
	}
	*elapsed = now_s() - t0;
	grpc_completion_queue_shutdown(e.cq);
	while (grpc_completion_queue_next(e.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(e.cq);
	free(slots);
	if (errors)
		*errors = e.errors;
	if (e.errors && !count)
		fprintf(stderr, "rpc_bench: %s: %lu calls failed (last status %d)\n", method,
			e.errors, (int)e.last_error);
	return e.done;
}

/*
 * --client-threads T: the timed unary runs split their calls in flight
 * over T client threads, each with its own completion queue (thread t
 * numbers its requests from first + t * PAR_STRIDE, so new keys stay
 * distinct). 1 = engine_run on this thread.
 */
#define PAR_STRIDE 100000000ul
static unsigned client_threads = 1;

struct par_arg {
	grpc_channel *ch;
	const char *method;
	gen_fn gen;
	void *arg;
	unsigned inflight;
	double seconds;
	unsigned long first, done, errors;
	double elapsed;
};

static void *par_main(void *p)
{
	struct par_arg *a = p;

	a->done = engine_run(a->ch, a->method, a->gen, a->arg, a->inflight, a->seconds, 0,
			     a->first, &a->elapsed, &a->errors);
	return NULL;
}

/* Timed run (no count) over client_threads threads; as engine_run. */
static unsigned long engine_run_timed(grpc_channel *ch, const char *method, gen_fn gen,
				      void *arg, unsigned inflight, double seconds,
				      unsigned long first, double *elapsed, unsigned long *errors)
{
	struct par_arg a[8];
	pthread_t th[8];
	unsigned long done = 0, errs = 0;
	unsigned t, n = client_threads;

	if (n <= 1)
		return engine_run(ch, method, gen, arg, inflight, seconds, 0, first, elapsed,
				  errors);
	*elapsed = 0;
	for (t = 0; t < n; t++) {
		a[t] = (struct par_arg){ ch, method, gen, arg,
					 inflight / n + (t < inflight % n ? 1 : 0), seconds,
					 first + t * PAR_STRIDE, 0, 0, 0 };
		if (pthread_create(&th[t], NULL, par_main, &a[t]) != 0)
			abort();
	}
	for (t = 0; t < n; t++) {
		pthread_join(th[t], NULL);
		done += a[t].done;
		errs += a[t].errors;
		if (a[t].elapsed > *elapsed)
			*elapsed = a[t].elapsed;
	}
	if (errors)
		*errors = errs;
	return done;
}

/* ---- one streaming / big-response call, counted ----------------------- */

/*
 * Count the occurrences of top-level field @field in an encoded message
 * without decoding it: both servers' listing throughput is measured by the
 * same cheap scan, so neither pays for the client's decoding.
 */
static unsigned long count_field(const uint8_t *p, const uint8_t *end, unsigned field)
{
	unsigned long n = 0;

	while (p < end) {
		uint64_t key = 0, len = 0;
		int sh = 0;

		while (p < end && (*p & 0x80))
			key |= (uint64_t)(*p++ & 0x7f) << (sh += 7, sh - 7);
		if (p == end)
			break;
		key |= (uint64_t)*p++ << sh;
		switch (key & 7) {
		case 0:
			while (p < end && (*p++ & 0x80))
				;
			break;
		case 1: p += 8; break;
		case 5: p += 4; break;
		case 2:
			sh = 0;
			while (p < end && (*p & 0x80))
				len |= (uint64_t)(*p++ & 0x7f) << (sh += 7, sh - 7);
			if (p == end)
				return n;
			len |= (uint64_t)*p++ << sh;
			if ((key >> 3) == field)
				n++;
			p += len;
			break;
		default:
			return n;
		}
	}
	return n;
}

static unsigned long call_counted(grpc_channel *ch, const char *method, grpc_byte_buffer *send,
				  unsigned field)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
						   grpc_slice_from_static_string(method), NULL,
						   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata_array im, tm;
	grpc_status_code st = GRPC_STATUS_UNKNOWN;
	grpc_slice details;
	grpc_op ops[4];
	unsigned long n = 0;
	int tag;

	grpc_metadata_array_init(&im);
	grpc_metadata_array_init(&tm);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &im;
	grpc_call_start_batch(call, ops, 4, &tag, NULL);
	grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	for (;;) {
		grpc_byte_buffer *recv = NULL;
		grpc_byte_buffer_reader rd;
		grpc_slice sl;

		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &recv;
		grpc_call_start_batch(call, ops, 1, &tag, NULL);
		grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (!recv)
			break;
		if (grpc_byte_buffer_reader_init(&rd, recv)) {
			sl = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			n += count_field(GRPC_SLICE_START_PTR(sl), GRPC_SLICE_END_PTR(sl), field);
			grpc_slice_unref(sl);
		}
		grpc_byte_buffer_destroy(recv);
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &tm;
	ops[0].data.recv_status_on_client.status = &st;
	ops[0].data.recv_status_on_client.status_details = &details;
	grpc_call_start_batch(call, ops, 1, &tag, NULL);
	grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (st != GRPC_STATUS_OK) {
		char *msg = grpc_slice_to_c_string(details);

		fprintf(stderr, "rpc_bench: %s failed: %d %s\n", method, (int)st, msg);
		free(msg);
		n = 0;
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&im);
	grpc_metadata_array_destroy(&tm);
	grpc_call_unref(call);
	grpc_byte_buffer_destroy(send);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(cq);
	return n;
}

/* ---- request generators ------------------------------------------------ */

struct gen_ctx {
	unsigned long n_objects;   /* keys that exist: lookups pick among them */
	char etag[40];
};

#define KEYFMT "bench/obj-%010lu"

static unsigned long pick(const struct gen_ctx *g, unsigned long i)
{
	return (i * 2654435761ul) % g->n_objects;
}

static grpc_byte_buffer *mds_head(void *arg, unsigned long i)
{
	struct gen_ctx *g = arg;
	Mds__V1__HeadObjectRequest r = MDS__V1__HEAD_OBJECT_REQUEST__INIT;
	char name[64];

	snprintf(name, sizeof(name), KEYFMT, pick(g, i));
	r.bucket = (char *)"bench";
	r.name = name;
	return mds_rpc_pack(&r.base);
}

static grpc_byte_buffer *mds_put(void *arg, unsigned long i)
{
	struct gen_ctx *g = arg;
	Mds__V1__PutObjectRequest r = MDS__V1__PUT_OBJECT_REQUEST__INIT;
	char name[64];

	snprintf(name, sizeof(name), KEYFMT, i);
	r.bucket = (char *)"bench";
	r.name = name;
	r.size = 1 << 20;
	r.etag = g->etag;
	r.content_type = (char *)"application/octet-stream";
	return mds_rpc_pack(&r.base);
}

/* The etcd value carries what an object record would: size, etag, type. */
static grpc_byte_buffer *etcd_put(void *arg, unsigned long i)
{
	struct gen_ctx *g = arg;
	Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;
	char key[64], val[128];
	int vl;

	snprintf(key, sizeof(key), KEYFMT, i);
	vl = snprintf(val, sizeof(val), "{\"size\":1048576,\"etag\":\"%s\","
		      "\"content_type\":\"application/octet-stream\"}", g->etag);
	r.key.data = (uint8_t *)key;
	r.key.len = strlen(key);
	r.value.data = (uint8_t *)val;
	r.value.len = (size_t)vl;
	return mds_rpc_pack(&r.base);
}

static grpc_byte_buffer *etcd_get(void *arg, unsigned long i)
{
	struct gen_ctx *g = arg;
	Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
	char key[64];

	snprintf(key, sizeof(key), KEYFMT, pick(g, i));
	r.key.data = (uint8_t *)key;
	r.key.len = strlen(key);
	return mds_rpc_pack(&r.base);
}


/* ---- processes --------------------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();

	if (pid == 0) {
		FILE *f = freopen(log, "w", stderr);

		(void)f;
		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* no orphan server if this process dies */
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
}

/* Wait until a unary call to @method succeeds (the server is up; 60 s, for valgrind). */
static int wait_ready(grpc_channel *ch, const char *method, grpc_byte_buffer *(*gen)(void *,
		      unsigned long), void *arg)
{
	for (int i = 0; i < 1200; i++) {
		double el;
		unsigned long errs = 0;

		if (engine_run(ch, method, gen, arg, 1, 0, 1, 0, &el, &errs) == 1)
			return 0;
		usleep(50000);
	}
	return -1;
}

static grpc_byte_buffer *mds_status_req(void *arg, unsigned long i)
{
	Mds__V1__GetStatusRequest r = MDS__V1__GET_STATUS_REQUEST__INIT;

	(void)arg;
	(void)i;
	return mds_rpc_pack(&r.base);
}

static grpc_byte_buffer *mds_team_req(void *arg, unsigned long i)
{
	Mds__V1__CreateTeamRequest r = MDS__V1__CREATE_TEAM_REQUEST__INIT;

	(void)arg;
	(void)i;
	r.team = (char *)"bench";
	return mds_rpc_pack(&r.base);
}

static grpc_byte_buffer *mds_bucket_req(void *arg, unsigned long i)
{
	Mds__V1__CreateBucketRequest r = MDS__V1__CREATE_BUCKET_REQUEST__INIT;

	(void)arg;
	(void)i;
	r.bucket = (char *)"bench";
	r.team = (char *)"bench";
	return mds_rpc_pack(&r.base);
}

/* ---- measurement -------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct figures {
	double lookups, puts, listing;
	/* server CPU (user + sys) per operation, µs: all runs of a phase */
	double cpu_lookup_us, cpu_put_us, cpu_list_us;
	/* this client's CPU per operation (every thread of rpc_bench) */
	double ccpu_lookup_us, ccpu_put_us, ccpu_list_us;
};

/*
 * CPU seconds (user + system) @pid's threads have run so far, or -1: the
 * sum of each live thread's on-CPU time from /proc/PID/task/TID/schedstat
 * (nanoseconds, exact). The tick-sampled utime/stime of /proc/PID/stat
 * is not used: with short bursts between sleeps (1 call in flight) it was
 * off by an order of magnitude on this machine.
 */
static double proc_cpu_s(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	double sum = 0;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d)) != NULL) {
		char sp[300];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		if (!(f = fopen(sp, "r")))
			continue;
		if (fscanf(f, "%llu", &ns) == 1) {
			sum += (double)ns / 1e9;
			found = 1;
		}
		fclose(f);
	}
	closedir(d);
	return found ? sum : -1;
}

/* CPU seconds this process has used, threads that ended included. */
static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* µs of server CPU per op between two proc_cpu_s readings, 0 if unknown. */
static double cpu_per_op_us(double c0, double c1, double ops)
{
	return c0 < 0 || c1 < 0 || ops <= 0 ? 0 : (c1 - c0) * 1e6 / ops;
}

struct opts {
	const char *mds, *etcd;
	double seconds;
	int runs;
	unsigned inflight;
	unsigned long objects;
	int puts_only;      /* --puts-only: skip lookups and listing (profiling) */
	int list_only;      /* --list-only: skip puts and lookups (profiling) */
};

static void measure(const char *label, grpc_channel *ch, const struct opts *o,
		    struct gen_ctx *g, const char *get_m, gen_fn get, const char *put_m,
		    gen_fn put, int is_mds, pid_t pid, struct figures *out)
{
	double v[16], el, c0, k0, ops;
	unsigned long next_put = o->objects, errs;

	/* durable puts: new keys, 64 in flight */
	c0 = proc_cpu_s(pid);
	k0 = self_cpu_s();
	ops = 0;
	for (int r = 0; r < o->runs && !o->list_only; r++) {
		unsigned long n = engine_run_timed(ch, put_m, put, g, o->inflight, o->seconds,
						   next_put, &el, &errs);

		next_put += client_threads > 1 ? client_threads * PAR_STRIDE
			    : n + errs + o->inflight;
		v[r] = (double)n / el;
		ops += (double)n;
	}
	out->cpu_put_us = cpu_per_op_us(c0, proc_cpu_s(pid), ops);
	out->ccpu_put_us = cpu_per_op_us(k0, self_cpu_s(), ops);
	out->puts = o->list_only ? 0 : median(v, o->runs);
	if (o->puts_only) {
		printf("%-5s durable puts %10.0f/s   (server CPU %.1f us/put, client %.1f)\n", label,
		       out->puts, out->cpu_put_us, out->ccpu_put_us);
		fflush(stdout);
		return;
	}
	/* lookups of existing keys, 64 in flight */
	c0 = proc_cpu_s(pid);
	k0 = self_cpu_s();
	ops = 0;
	for (int r = 0; r < o->runs && !o->list_only; r++) {
		unsigned long n = engine_run_timed(ch, get_m, get, g, o->inflight, o->seconds, 0,
						   &el, &errs);

		v[r] = (double)n / el;
		ops += (double)n;
	}
	out->cpu_lookup_us = cpu_per_op_us(c0, proc_cpu_s(pid), ops);
	out->ccpu_lookup_us = cpu_per_op_us(k0, self_cpu_s(), ops);
	out->lookups = o->list_only ? 0 : median(v, o->runs);
	/* listing: every key under the prefix, one call at a time */
	c0 = proc_cpu_s(pid);
	k0 = self_cpu_s();
	ops = 0;
	for (int r = 0; r < o->runs; r++) {
		unsigned long total = 0;
		double t0 = now_s();

		do {
			grpc_byte_buffer *req;
			unsigned long n;

			if (is_mds) {
				Mds__V1__ListObjectsStreamRequest lr =
					MDS__V1__LIST_OBJECTS_STREAM_REQUEST__INIT;

				lr.bucket = (char *)"bench";
				lr.prefix = (char *)"bench/";
				req = mds_rpc_pack(&lr.base);
				/* ListObjectsStreamResponse.objects = 1 */
				n = call_counted(ch, "/mds.v1.Namespace/ListObjectsStream", req, 1);
			} else {
				Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;

				rr.key.data = (uint8_t *)"bench/";
				rr.key.len = 6;
				rr.range_end.data = (uint8_t *)"bench0";   /* '/' + 1 */
				rr.range_end.len = 6;
				req = mds_rpc_pack(&rr.base);
				/* RangeResponse.kvs = 2 */
				n = call_counted(ch, "/etcdserverpb.KV/Range", req, 2);
			}
			if (n == 0)
				break;
			total += n;
		} while (now_s() - t0 < o->seconds);
		v[r] = (double)total / (now_s() - t0);
		ops += (double)total;
	}
	out->cpu_list_us = cpu_per_op_us(c0, proc_cpu_s(pid), ops);
	out->ccpu_list_us = cpu_per_op_us(k0, self_cpu_s(), ops);
	out->listing = median(v, o->runs);
	printf("%-5s lookups %10.0f/s   durable puts %10.0f/s   listing %11.0f entries/s\n",
	       label, out->lookups, out->puts, out->listing);
	printf("%-5s server CPU: %.1f us/lookup   %.1f us/put   %.3f us/listed entry\n", label,
	       out->cpu_lookup_us, out->cpu_put_us, out->cpu_list_us);
	printf("%-5s client CPU: %.1f us/lookup   %.1f us/put   %.3f us/listed entry\n", label,
	       out->ccpu_lookup_us, out->ccpu_put_us, out->ccpu_list_us);
	fflush(stdout);
}

/* Print the writer's figures from mds's /metrics (plain HTTP/1.0 GET), and
 * the mds process's CPU time per completed mutation over the whole run. */
static void print_writer_metrics(int http_port, pid_t pid)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001),
				 .sin_port = htons((uint16_t)http_port) };
	static char body[1 << 17];
	size_t n = 0;
	ssize_t k;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	static const char *const keys[] = { "\nmds_store_write_batch_size_avg ",
					    "\nmds_store_commit_seconds_avg ",
					    "\nmds_store_write_batches_total " };

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 26) != 26) {
		close(fd);
		return;
	}
	while (n < sizeof(body) - 1 && (k = read(fd, body + n, sizeof(body) - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	body[n] = 0;
	printf("      mds writer:");
	for (size_t i = 0; i < 3; i++) {
		const char *p = strstr(body, keys[i]);

		if (p)
			printf(" %.*s=%g", (int)(strlen(keys[i]) - 12), keys[i] + 11,
			       atof(p + strlen(keys[i])));
	}
	{
		const char *sum = strstr(body, "\nmds_rpc_latency_seconds_sum{method=\"PutObject\"} ");
		const char *cnt = strstr(body, "\nmds_rpc_latency_seconds_count{method=\"PutObject\"} ");

		if (sum && cnt) {
			double sv = atof(strchr(sum + 1, ' ') + 1), cv = atof(strchr(cnt + 1, ' ') + 1);

			if (cv > 0)
				printf(" put_server_latency_avg=%.6f", sv / cv);
		}
	}
	{
		const char *ops = strstr(body, "\nmds_store_write_ops_total ");
		double cpu = proc_cpu_s(pid), nops = ops ? atof(ops + 27) : 0;

		if (cpu >= 0 && nops > 0)
			printf(" mds_cpu_per_mutation_us=%.2f", cpu * 1e6 / nops);
	}
	printf("\n");
}

/* Load @n keys with @inflight puts in flight. */
static int load(grpc_channel *ch, const char *put_m, gen_fn put, struct gen_ctx *g,
		unsigned inflight, unsigned long n)
{
	double el;
	unsigned long errs = 0;
	unsigned long done = engine_run(ch, put_m, put, g, inflight, 0, n, 0, &el, &errs);

	fprintf(stderr, "rpc_bench: loaded %lu keys in %.1f s (%lu errors)\n", done, el, errs);
	return errs ? -1 : 0;
}

/* Opens n_conns - 1 more channels to @target, each on its own connection. */
static void conns_open(const char *target, grpc_channel_credentials *creds)
{
	grpc_arg a[2] = {
		{ GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  { .integer = 512 << 20 } },
		{ GRPC_ARG_INTEGER, (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, { .integer = 1 } },
	};
	grpc_channel_args ca = { 2, a };

	for (unsigned i = 0; i < n_conns && n_conns > 1; i++)
		extra_ch[i] = grpc_channel_create(target, creds, &ca);
}

static void conns_close(void)
{
	for (unsigned i = 0; i < n_conns && n_conns > 1; i++) {
		grpc_channel_destroy(extra_ch[i]);
		extra_ch[i] = NULL;
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mds", required_argument, NULL, 'm' },
		{ "etcd", required_argument, NULL, 'e' },
		{ "seconds", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "objects", required_argument, NULL, 'n' },
		{ "skip-etcd", no_argument, NULL, 'k' },
		{ "batch-window-us", required_argument, NULL, 'w' },
		{ "puts-only", no_argument, NULL, 'p' },
		{ "list-only", no_argument, NULL, 'l' },
		{ "mds-arg", required_argument, NULL, 'a' },
		{ "connections", required_argument, NULL, 'c' },
		{ "client-threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { NULL, "/usr/bin/etcd", 3.0, 3, 64, 50000, 0, 0 };
	struct gen_ctx g;
	struct figures fm = { 0 }, fe = { 0 };
	char dir[] = "/tmp/rpc_bench.XXXXXX", buf[512], target[64], log[600];
	pid_t mds_pid = -1, etcd_pid = -1;
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	grpc_arg arg = { GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			 { .integer = 512 << 20 } };
	grpc_channel_args cargs = { 1, &arg };
	int opt, port, http_port, rc = 1, skip_etcd = 0;
	char window[16] = "0";
	char http[64];
	char *extra[8];
	int n_extra = 0;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'm': o.mds = optarg; break;
		case 'e': o.etcd = optarg; break;
		case 's': o.seconds = atof(optarg); break;
		case 'r': o.runs = atoi(optarg); break;
		case 'i': o.inflight = (unsigned)atoi(optarg); break;
		case 'n': o.objects = strtoul(optarg, NULL, 10); break;
		case 'k': skip_etcd = 1; break;
		case 'p': o.puts_only = 1; break;
		case 'l': o.list_only = 1; break;
		case 'w': snprintf(window, sizeof(window), "%s", optarg); break;
		case 'c': n_conns = (unsigned)atoi(optarg); break;
		case 't': client_threads = (unsigned)atoi(optarg); break;
		case 'a':
			if (n_extra == 8) {
				fprintf(stderr, "rpc_bench: at most 8 --mds-arg\n");
				return 2;
			}
			extra[n_extra++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: rpc_bench --mds PATH [--etcd PATH] [--seconds S] "
				"[--runs N] [--inflight N] [--objects N] [--skip-etcd] [--puts-only | --list-only] [--batch-window-us N] [--mds-arg ARG]... [--connections N] [--client-threads T]\n");
			return 2;
		}
	}
	if (n_conns < 1 || n_conns > 8) {
		fprintf(stderr, "rpc_bench: --connections takes 1-8\n");
		return 2;
	}
	if (client_threads < 1 || client_threads > 8) {
		fprintf(stderr, "rpc_bench: --client-threads takes 1-8\n");
		return 2;
	}
	if (!o.mds || o.runs < 1 || o.runs > 16 || !o.inflight || o.seconds <= 0 || !o.objects) {
		fprintf(stderr, "rpc_bench: --mds PATH is required (runs 1-16)\n");
		return 2;
	}
	memset(&g, 0, sizeof(g));
	g.n_objects = o.objects;
	snprintf(g.etag, sizeof(g.etag), "\"0123456789abcdef0123456789abcdef\"");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	grpc_init();
	printf("rpc_bench: %lu keys, %u calls in flight, %d runs of %.1f s (medians)\n",
	       o.objects, o.inflight, o.runs, o.seconds);

	/* ---- mds ---- */
	port = free_port();
	http_port = free_port();
	snprintf(http, sizeof(http), "127.0.0.1:%d", http_port);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	snprintf(buf, sizeof(buf), "%s/mds", dir);
	snprintf(log, sizeof(log), "%s/mds.log", dir);
	{
		char *av[32] = { (char *)o.mds, (char *)"serve", (char *)"--data", buf,
				 (char *)"--listen", target, (char *)"--http", http,
				 (char *)"--log-level", (char *)"warn",
				 (char *)"--batch-window-us", window,
				 (char *)"--auth-mode", (char *)"dev", NULL };
		int na = 14;

		for (int i = 0; i < n_extra; i++)
			av[na++] = extra[i];
		av[na] = NULL;
		mds_pid = spawn(av, log);
	}
	creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(target, creds, &cargs);
	if (wait_ready(ch, "/mds.v1.Admin/GetStatus", mds_status_req, NULL) != 0) {
		fprintf(stderr, "rpc_bench: mds did not start (see %s)\n", log);
		goto out;
	}
	conns_open(target, creds);
	engine_run(ch, "/mds.v1.Admin/CreateTeam", mds_team_req, NULL, 1, 0, 1, 0,
		   &(double){ 0 }, NULL);
	engine_run(ch, "/mds.v1.Namespace/CreateBucket", mds_bucket_req, NULL, 1, 0, 1, 0,
		   &(double){ 0 }, NULL);
	if (load(ch, "/mds.v1.Namespace/PutObject", mds_put, &g, o.inflight, o.objects) != 0)
		goto out;
	measure("mds", ch, &o, &g, "/mds.v1.Namespace/HeadObject", mds_head,
		"/mds.v1.Namespace/PutObject", mds_put, 1, mds_pid, &fm);
	print_writer_metrics(http_port, mds_pid);
	conns_close();
	grpc_channel_destroy(ch);
	stop(mds_pid);
	mds_pid = -1;

	if (skip_etcd) {
		rc = 0;
		goto out;
	}

	/* ---- etcd ---- */
	{
		char curl[64], purl[64], cluster[96], edir[300];
		int cport = free_port(), pport = free_port();

		snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", cport);
		snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
		snprintf(cluster, sizeof(cluster), "bench=%s", purl);
		snprintf(edir, sizeof(edir), "%s/etcd", dir);
		snprintf(log, sizeof(log), "%s/etcd.log", dir);
		snprintf(target, sizeof(target), "127.0.0.1:%d", cport);
		char *av[] = { (char *)o.etcd, (char *)"--name", (char *)"bench",
			       (char *)"--data-dir", edir,
			       (char *)"--listen-client-urls", curl,
			       (char *)"--advertise-client-urls", curl,
			       (char *)"--listen-peer-urls", purl,
			       (char *)"--initial-advertise-peer-urls", purl,
			       (char *)"--initial-cluster", cluster,
			       (char *)"--quota-backend-bytes", (char *)"8589934592",
			       (char *)"--log-level", (char *)"error", NULL };

		etcd_pid = spawn(av, log);
	}
	ch = grpc_channel_create(target, creds, &cargs);
	if (wait_ready(ch, "/etcdserverpb.KV/Range", etcd_get, &g) != 0) {
		fprintf(stderr, "rpc_bench: etcd did not start (see %s)\n", log);
		goto out;
	}
	conns_open(target, creds);
	if (load(ch, "/etcdserverpb.KV/Put", etcd_put, &g, o.inflight, o.objects) != 0)
		goto out;
	measure("etcd", ch, &o, &g, "/etcdserverpb.KV/Range", etcd_get, "/etcdserverpb.KV/Put",
		etcd_put, 0, etcd_pid, &fe);
	conns_close();
	grpc_channel_destroy(ch);
	ch = NULL;
	stop(etcd_pid);
	etcd_pid = -1;

	printf("ratio mds/etcd: lookups %.1fx   durable puts %.1fx   listing %.1fx\n",
	       fe.lookups ? fm.lookups / fe.lookups : 0, fe.puts ? fm.puts / fe.puts : 0,
	       fe.listing ? fm.listing / fe.listing : 0);
	rc = 0;
out:
	stop(mds_pid);
	stop(etcd_pid);
	grpc_channel_credentials_release(creds);
	snprintf(buf, sizeof(buf), "rm -rf '%s'", dir);
	if (rc == 0 && system(buf) != 0)
		fprintf(stderr, "rpc_bench: cannot remove %s\n", dir);
	return rc;
}
