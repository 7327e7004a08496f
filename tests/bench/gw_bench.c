/*
 * gw_bench.c - what one name resolution costs a gateway, in one run:
 *
 *   lmdb:  mdsgw_resolve through the embedded LMDB reader (no RPC)
 *   grpc:  mdsgw_resolve through the grpc: provider (HeadObject on loopback)
 *   grpc: warm cache: the same with the lookup cache on (cache_entries, the
 *          island's feed followed and verified with its key), every name
 *          resolved once before the timed runs; then how long 200
 *          overwrites made through mds take to show through that cache
 *   etcd:  a plain etcd KV/Range of one key (linearizable, etcd's default),
 *          over the same gRPC transport code as grpc: (gw_rpc.c)
 *
 * Each starts from a fresh data directory under $TMPDIR (mds and etcd are
 * stopped at the end), loads --objects keys, then runs resolves of random
 * existing keys, one at a time on one thread, for --seconds, timing every
 * call; figures are resolves/s and p50/p99 latency, each the median over
 * --runs runs. lmdb: is also run on --threads threads for throughput.
 *
 * usage: gw_bench --mds PATH --mdsctl PATH [--etcd PATH] [--objects N]
 *                 [--seconds S] [--runs N] [--threads N] [--skip-etcd]
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "mds/mdsgw.h"
#include "gw_internal.h"
#include "gw_rpc.h"
#include "gw_testutil.h"
#include "etcd_kv.pb-c.h"

struct opts {
	const char *mds, *mdsctl, *etcd;
	unsigned long objects;
	double seconds;
	int runs, threads, skip_etcd;
};

static struct opts o = { NULL, NULL, "/usr/bin/etcd", 20000, 2.0, 3, 2, 0 };

static void key_of(unsigned long i, char *buf, size_t n)
{
	snprintf(buf, n, "bench/obj-%010lu", i);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return v[n / 2];
}

/* One lookup of key @i; returns 0 on success. */
typedef int (*lookup_fn)(void *arg, unsigned long i);

struct result {
	double ops_s, p50_us, p99_us;
	unsigned long failures;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Time every call for o.seconds on this thread. */
static int measure_one(lookup_fn fn, void *arg, struct result *r)
{
	size_t cap = 1 << 20, n = 0;
	int64_t *lat = malloc(cap * sizeof(*lat));
	int64_t t_end, t0 = mdsgw_now_ns(), t1 = t0;
	uint64_t seed = 88172645463325252ull;

	if (!lat)
		return -1;
	memset(r, 0, sizeof(*r));
	t_end = t0 + (int64_t)(o.seconds * 1e9);
	do {
		int64_t a = mdsgw_now_ns(), b;

		if (fn(arg, xorshift(&seed) % o.objects) != 0)
			r->failures++;
		b = mdsgw_now_ns();
		if (n == cap) {
			int64_t *nl = realloc(lat, cap * 2 * sizeof(*lat));

			if (!nl)
				break;
			lat = nl;
			cap *= 2;
		}
		lat[n++] = b - a;
		t1 = b;
	} while (t1 < t_end);
	qsort(lat, n, sizeof(*lat), cmp_i64);
	r->ops_s = (double)n / ((double)(t1 - t0) / 1e9);
	r->p50_us = (double)lat[n / 2] / 1e3;
	r->p99_us = (double)lat[n * 99 / 100] / 1e3;
	free(lat);
	return 0;
}

static void report(const char *what, lookup_fn fn, void *arg)
{
	double ops[16], p50[16], p99[16];
	unsigned long fails = 0;
	int runs = o.runs > 16 ? 16 : o.runs;

	for (int i = 0; i < runs; i++) {
		struct result r;

		measure_one(fn, arg, &r);
		ops[i] = r.ops_s;
		p50[i] = r.p50_us;
		p99[i] = r.p99_us;
		fails += r.failures;
	}
	printf("| %s | %.0f | %.2f | %.2f |%s\n", what, median(ops, runs), median(p50, runs),
	       median(p99, runs), fails ? " FAILURES" : "");
	if (fails)
		fprintf(stderr, "gw_bench: %s: %lu lookups failed\n", what, fails);
	fflush(stdout);
}

/* ---- libmdsgw ---- */

static int gw_lookup(void *arg, unsigned long i)
{
	struct mdsgw_object obj = MDSGW_OBJECT_INIT;
	char key[64];
	int rc;

	key_of(i, key, sizeof(key));
	rc = mdsgw_resolve(arg, "bench", key, &obj, 0, NULL);
	mdsgw_object_release(&obj);
	return rc;
}

struct thr_arg {
	mdsgw_handle *h;
	double ops_s;
};

static void *thr_main(void *arg)
{
	struct thr_arg *t = arg;
	struct result r;

	measure_one(gw_lookup, t->h, &r);
	t->ops_s = r.ops_s;
	return NULL;
}

struct load_arg {
	mdsgw_handle *h;
	int k, n;
	int errors;
};

static void *load_main(void *arg)
{
	struct load_arg *l = arg;
	char key[64];

	for (unsigned long i = (unsigned long)l->k; i < o.objects; i += (unsigned long)l->n) {
		struct mdsgw_put p = MDSGW_PUT_INIT;
		struct mdsgw_status st;

		key_of(i, key, sizeof(key));
		p.bucket = "bench";
		p.name = key;
		p.content_size = 1 << 20;
		p.etag = "\"d41d8cd98f00b204e9800998ecf8427e\"";
		p.content_type = "application/octet-stream";
		p.locator = (const unsigned char *)"pool-1/volume-7/extent-42";
		p.locator_len = 25;
		if (mdsgw_put(l->h, &p, NULL, NULL, mdsgw_deadline_in_ms(30000), &st) != 0 &&
		    l->errors++ == 0)
			fprintf(stderr, "gw_bench: put %s: %s\n", key, st.msg);
	}
	return NULL;
}

/* A grpc: handle with the lookup cache, fresh and filled with every name. */
static int open_cached(const struct gw_daemon *d, mdsgw_handle **out)
{
	struct mdsgw_cache_stats s = MDSGW_CACHE_STATS_INIT;
	struct mdsgw_status st;
	char cmd[700], vkey[256] = "", cfg[1024];
	int64_t end;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' keys show --data '%s'", o.mds, d->data);
	p = popen(cmd, "r");
	if (!p || !fgets(vkey, sizeof(vkey), p)) {
		if (p)
			pclose(p);
		fprintf(stderr, "gw_bench: cannot read the island's verifier key\n");
		return -1;
	}
	pclose(p);
	vkey[strcspn(vkey, "\n")] = '\0';
	snprintf(cfg, sizeof(cfg), "grpc:%s?cache_entries=%lu&feed_key=%s", d->endpoint,
		 o.objects * 2, vkey);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, out, &st) != 0) {
		fprintf(stderr, "gw_bench: %s\n", st.msg);
		return -1;
	}
	end = mdsgw_deadline_in_ms(10000);
	while (mdsgw_cache_stats(*out, &s) == 0 && s.state != MDSGW_CACHE_FRESH &&
	       mdsgw_now_ns() < end)
		usleep(10000);
	if (s.state != MDSGW_CACHE_FRESH) {
		fprintf(stderr, "gw_bench: the cache did not become fresh: %s\n", s.feed_error);
		mdsgw_close(*out);
		*out = NULL;
		return -1;
	}
	for (unsigned long i = 0; i < o.objects; i++)
		gw_lookup(*out, i);
	return 0;
}

/*
 * How long a change made through mds (@w, another client) takes to show
 * through the cache of @hc: 200 overwrites of cached names, each polled
 * (a resolve every 100 µs) until the new ETag is seen.
 */
static void staleness(mdsgw_handle *w, mdsgw_handle *hc)
{
	enum { N = 200 };
	double ms[N];
	int n = 0;

	for (int i = 0; i < N; i++) {
		struct mdsgw_put p = MDSGW_PUT_INIT;
		struct mdsgw_status st;
		char key[64], etag[32];
		int64_t t0, end;

		key_of((unsigned long)i, key, sizeof(key));
		snprintf(etag, sizeof(etag), "\"stale-%d\"", i);
		p.bucket = "bench";
		p.name = key;
		p.content_size = 1;
		p.etag = etag;
		if (mdsgw_put(w, &p, NULL, NULL, mdsgw_deadline_in_ms(5000), &st) != 0) {
			fprintf(stderr, "gw_bench: staleness put: %s\n", st.msg);
			return;
		}
		t0 = mdsgw_now_ns();
		end = t0 + 5000 * 1000000LL;
		for (;;) {
			struct mdsgw_object ob = MDSGW_OBJECT_INIT;
			int same = 0;

			if (mdsgw_resolve(hc, "bench", key, &ob, 0, NULL) == 0) {
				same = !strcmp(ob.etag, etag);
				mdsgw_object_release(&ob);
			}
			if (same) {
				ms[n++] = (double)(mdsgw_now_ns() - t0) / 1e6;
				break;
			}
			if (mdsgw_now_ns() > end) {
				fprintf(stderr, "gw_bench: %s not seen through the cache in 5 s\n", key);
				return;
			}
			usleep(100);
		}
	}
	qsort(ms, (size_t)n, sizeof(ms[0]), cmp_dbl);
	printf("\nchange through mds -> seen through the grpc: cache (%d overwrites, island "
	       "cadence 100 ms, feed_poll_ms 20): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	       n, ms[n / 2], ms[n * 99 / 100], ms[n - 1]);
	fflush(stdout);
}

/* ---- etcd ---- */

static int etcd_lookup(void *arg, unsigned long i)
{
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	char key[64], msg[256];
	uint32_t hint;
	int rc;

	key_of(i, key, sizeof(key));
	req.key.data = (uint8_t *)key;
	req.key.len = strlen(key);
	rc = gw_rpc_unary(arg, "/etcdserverpb.KV/Range", &req.base,
			  &etcdserverpb__range_response__descriptor, &resp, 5000000000LL, 0, msg,
			  sizeof(msg), &hint);
	if (rc == 0 && ((Etcdserverpb__RangeResponse *)resp)->n_kvs != 1)
		rc = -1;
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

struct etcd_load {
	struct gw_rpc *r;
	int k, n, errors;
};

static void *etcd_load_main(void *arg)
{
	struct etcd_load *l = arg;
	static const char value[] = "{\"size\":1048576,\"etag\":\"d41d8cd98f00b204e9800998ecf8427e\","
				    "\"type\":\"application/octet-stream\"}";

	for (unsigned long i = (unsigned long)l->k; i < o.objects; i += (unsigned long)l->n) {
		Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;
		char key[64], msg[256];
		uint32_t hint;

		key_of(i, key, sizeof(key));
		req.key.data = (uint8_t *)key;
		req.key.len = strlen(key);
		req.value.data = (uint8_t *)value;
		req.value.len = sizeof(value) - 1;
		if (gw_rpc_unary(l->r, "/etcdserverpb.KV/Put", &req.base,
				 &etcdserverpb__put_response__descriptor, &resp, 30000000000LL, 1, msg,
				 sizeof(msg), &hint) != 0 && l->errors++ == 0)
			fprintf(stderr, "gw_bench: etcd put: %s\n", msg);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
	return NULL;
}

static pid_t etcd_start(const char *dir, char *endpoint, size_t n)
{
	char curl[64], purl[64], cluster[96], edir[400], log[400];
	int cport, pport, fd;
	pid_t pid;

	fd = gw_blackhole_open(&cport);   /* a free port: bind, read it, close */
	close(fd);
	fd = gw_blackhole_open(&pport);
	close(fd);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "bench=%s", purl);
	snprintf(edir, sizeof(edir), "%s/etcd", dir);
	snprintf(log, sizeof(log), "%s/etcd.log", dir);
	snprintf(endpoint, n, "127.0.0.1:%d", cport);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* no orphan server if this process dies */
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(o.etcd, o.etcd, "--name", "bench", "--data-dir", edir,
		      "--listen-client-urls", curl, "--advertise-client-urls", curl,
		      "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		      "--initial-cluster", cluster, "--log-level", "error", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void run_etcd(const char *dir)
{
	struct gw_conf c;
	struct gw_rpc *r = NULL;
	struct etcd_load l[32];
	pthread_t tid[32];
	char endpoint[64];
	pid_t pid;
	int errors = 0, ok = 0;

	if (access(o.etcd, X_OK) != 0) {
		printf("| etcd KV/Range | (no %s) | | |\n", o.etcd);
		return;
	}
	pid = etcd_start(dir, endpoint, sizeof(endpoint));
	memset(&c, 0, sizeof(c));
	if (pid < 0 || gw_rpc_open(endpoint, &c, &r, NULL) != 0)
		goto out;
	for (int i = 0; i < 100 && !ok; i++) {   /* up to ~10 s for etcd to serve */
		ok = etcd_lookup(r, 0) != MDSGW_EUNAVAIL && etcd_lookup(r, 0) != MDSGW_ETIMEDOUT;
		if (!ok)
			usleep(100000);
	}
	for (int i = 0; i < 32; i++) {
		l[i] = (struct etcd_load){ r, i, 32, 0 };
		pthread_create(&tid[i], NULL, etcd_load_main, &l[i]);
	}
	for (int i = 0; i < 32; i++) {
		pthread_join(tid[i], NULL);
		errors += l[i].errors;
	}
	if (errors) {
		fprintf(stderr, "gw_bench: etcd load: %d failures\n", errors);
		goto out;
	}
	report("etcd KV/Range (linearizable), gRPC loopback", etcd_lookup, r);
out:
	gw_rpc_close(r);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mds", required_argument, NULL, 'm' }, { "mdsctl", required_argument, NULL, 'c' },
		{ "etcd", required_argument, NULL, 'e' }, { "objects", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' }, { "runs", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "skip-etcd", no_argument, NULL, 'k' }, { NULL, 0, NULL, 0 },
	};
	struct gw_daemon d;
	struct mdsgw_status st;
	mdsgw_handle *hl = NULL, *hg = NULL, *hc = NULL;
	char cfg[600];
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'm': o.mds = optarg; break;
		case 'c': o.mdsctl = optarg; break;
		case 'e': o.etcd = optarg; break;
		case 'n': o.objects = strtoul(optarg, NULL, 10); break;
		case 's': o.seconds = atof(optarg); break;
		case 'r': o.runs = atoi(optarg); break;
		case 't': o.threads = atoi(optarg); break;
		case 'k': o.skip_etcd = 1; break;
		default: goto usage;
		}
	}
	if (!o.mds || !o.mdsctl || o.objects == 0 || o.seconds <= 0 || o.runs < 1 ||
	    o.threads < 1 || o.threads > 64)
		goto usage;
	if (gw_daemon_start_ex(&d, o.mds, 0, NULL, "bench") != 0)
		return 1;
	if (gw_mdsctl(&d, o.mdsctl, "team", "create", "bench", (char *)NULL) != 0 ||
	    gw_mdsctl(&d, o.mdsctl, "bucket", "create", "bench", "--team", "bench",
		      (char *)NULL) != 0) {
		fprintf(stderr, "gw_bench: cannot create the bucket\n");
		goto out;
	}
	snprintf(cfg, sizeof(cfg), "lmdb:%s?mds=%s", d.data, d.endpoint);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &hl, &st) != 0)
		goto open_err;
	snprintf(cfg, sizeof(cfg), "grpc:%s", d.endpoint);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &hg, &st) != 0)
		goto open_err;
	{
		struct load_arg l[32];
		pthread_t tid[32];
		int64_t t0 = mdsgw_now_ns();
		int errors = 0;

		for (int i = 0; i < 32; i++) {
			l[i] = (struct load_arg){ hg, i, 32, 0 };
			pthread_create(&tid[i], NULL, load_main, &l[i]);
		}
		for (int i = 0; i < 32; i++) {
			pthread_join(tid[i], NULL);
			errors += l[i].errors;
		}
		if (errors)
			goto out;
		fprintf(stderr, "gw_bench: loaded %lu objects in %.1f s\n", o.objects,
			(double)(mdsgw_now_ns() - t0) / 1e9);
	}
	printf("%lu objects, %d runs of %.1f s each, one call at a time per thread; "
	       "medians of the runs\n\n", o.objects, o.runs, o.seconds);
	printf("| path | resolves/s | p50 µs | p99 µs |\n| --- | --- | --- | --- |\n");
	report("libmdsgw lmdb: (embedded reader), 1 thread", gw_lookup, hl);
	{
		double tot[16];
		int runs = o.runs > 16 ? 16 : o.runs;

		for (int k = 0; k < runs; k++) {
			struct thr_arg t[64];
			pthread_t tid[64];

			tot[k] = 0;
			for (int i = 0; i < o.threads; i++) {
				t[i].h = hl;
				pthread_create(&tid[i], NULL, thr_main, &t[i]);
			}
			for (int i = 0; i < o.threads; i++) {
				pthread_join(tid[i], NULL);
				tot[k] += t[i].ops_s;
			}
		}
		printf("| libmdsgw lmdb:, %d threads (sum) | %.0f | | |\n", o.threads,
		       median(tot, runs));
	}
	report("libmdsgw grpc: (HeadObject, loopback), no cache, 1 thread", gw_lookup, hg);
	if (open_cached(&d, &hc) == 0) {
		struct mdsgw_cache_stats s0 = MDSGW_CACHE_STATS_INIT, s1 = MDSGW_CACHE_STATS_INIT;

		mdsgw_cache_stats(hc, &s0);
		report("libmdsgw grpc: warm cache, 1 thread", gw_lookup, hc);
		mdsgw_cache_stats(hc, &s1);
		fprintf(stderr, "gw_bench: warm cache: %llu hits, %llu misses during the runs\n",
			(unsigned long long)(s1.hits - s0.hits),
			(unsigned long long)(s1.misses - s0.misses));
	}
	if (!o.skip_etcd)
		run_etcd(d.dir);
	if (hc)
		staleness(hg, hc);
	rc = 0;
	goto out;
open_err:
	fprintf(stderr, "gw_bench: %s\n", st.msg);
out:
	mdsgw_close(hl);
	mdsgw_close(hg);
	mdsgw_close(hc);
	gw_daemon_cleanup(&d);
	return rc;
usage:
	fprintf(stderr, "usage: gw_bench --mds PATH --mdsctl PATH [--etcd PATH] [--objects N] "
		"[--seconds S] [--runs N] [--threads N] [--skip-etcd]\n");
	return 2;
}
