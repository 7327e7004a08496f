/*
 * test_gw_threads.c - one handle of each provider shared by many threads,
 * built with ThreadSanitizer over libmdsgw's own sources and the island
 * core (see meson.build): a data race in the library fails the test even
 * when every answer happens to come out right.
 *
 * Threads resolve, list, put and delete through the same lmdb: and grpc:
 * handles, and resolve through a grpc: handle with the lookup cache (its
 * feed follower thread invalidating at the same time), while other threads
 * open and close handles of their own (the process-wide gRPC
 * initialisation, the reader pool growing, follower threads starting and
 * stopping, bindings added while lmdb: access checks rebuild their kept
 * policy). Every answer is checked: each thread owns its names, so it
 * knows each version (the cache may be behind within its bound, never
 * ahead).
 *
 * usage: test_gw_threads MDS_BIN MDSCTL_BIN
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mds/mdsgw.h"
#include "gw_testutil.h"

#define WORKERS 6
#define OPENERS 2
#define ROUNDS 150

static struct gw_daemon d;
static char cfg_lmdb[512], cfg_grpc[512], cfg_cache[512];
static mdsgw_handle *hl, *hg, *hc;
static const char *mdsctl;

struct worker {
	int id;
	int errors;
	char last[400];
};

static int on_entry(void *arg, const struct mdsgw_entry *e)
{
	int *n = arg;

	if (!e->is_prefix && e->obj && strcmp(e->obj->name, e->name) == 0)
		(*n)++;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct mdsgw_status st;
	char name[64], prefix[32];

	snprintf(prefix, sizeof(prefix), "w%d/", w->id);
	for (int i = 0; i < ROUNDS; i++) {
		struct mdsgw_put p = MDSGW_PUT_INIT;
		struct mdsgw_object o = MDSGW_OBJECT_INIT;
		uint64_t v = 0;
		int k = i % 3;

		snprintf(name, sizeof(name), "w%d/%d", w->id, k);
		p.bucket = "tsan";
		p.name = name;
		p.content_size = (uint64_t)i;
		p.etag = "\"x\"";
		if (mdsgw_put(i % 2 ? hl : hg, &p, &v, NULL, 0, &st) != 0 ||
		    v != (uint64_t)(i / 3 + 1)) {
			w->errors++;
			snprintf(w->last, sizeof(w->last), "put %s: v=%llu %s", name,
				 (unsigned long long)v, st.msg);
			continue;
		}
		for (int r = 0; r < 5; r++) {
			mdsgw_handle *h = r == 3 ? hg : hl;   /* mostly local reads */

			if (r == 4) {                         /* cached: never ahead */
				if (mdsgw_resolve(hc, "tsan", name, &o, 0, &st) != 0 ||
				    o.version > v || o.version == 0) {
					w->errors++;
					snprintf(w->last, sizeof(w->last), "cached resolve %s: "
						 "v=%llu %s", name, (unsigned long long)o.version,
						 st.msg);
				}
				mdsgw_object_release(&o);
				continue;
			}
			if (mdsgw_resolve(h, "tsan", name, &o, 0, &st) != 0 ||
			    o.version != v || o.content_size != (uint64_t)i) {
				w->errors++;
				snprintf(w->last, sizeof(w->last), "resolve %s: %s", name, st.msg);
			}
			mdsgw_object_release(&o);
		}
		if (i % 4 == 0) {     /* access checks share the handle's kept policy */
			struct mdsgw_access a = MDSGW_ACCESS_INIT;
			int allowed = -1;

			a.principal = "nobody";
			a.action = "read";
			a.bucket = "tsan";
			a.name = name;
			if (mdsgw_access_check(i % 8 ? hl : hg, &a, &allowed, 0, &st) != 0 ||
			    allowed != 0) {
				w->errors++;
				snprintf(w->last, sizeof(w->last), "access %s: %d %s", name, allowed,
					 st.msg);
			}
		}
		if (i % 5 == 0) {
			struct mdsgw_list_params lp = MDSGW_LIST_PARAMS_INIT;
			struct mdsgw_list_result lr = MDSGW_LIST_RESULT_INIT;
			int n = 0;

			lp.bucket = "tsan";
			lp.prefix = prefix;
			if (mdsgw_list(i % 10 ? hl : hg, &lp, on_entry, &n, &lr, 0, &st) != 0 ||
			    n != (i < 3 ? i + 1 : 3)) {
				w->errors++;
				snprintf(w->last, sizeof(w->last), "list %s: n=%d %s", prefix, n, st.msg);
			}
		}
	}
	return NULL;
}

static void *opener_main(void *arg)
{
	struct worker *w = arg;
	struct mdsgw_status st;

	for (int i = 0; i < 20; i++) {
		mdsgw_handle *h = NULL;
		struct mdsgw_object o = MDSGW_OBJECT_INIT;
		const char *cfg = i % 3 == 0 ? cfg_lmdb : i % 3 == 1 ? cfg_grpc : cfg_cache;

		if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &h, &st) != 0) {
			w->errors++;
			snprintf(w->last, sizeof(w->last), "open: %s", st.msg);
			continue;
		}
		if (mdsgw_resolve(h, "tsan", "fixed", &o, 0, &st) != 0) {
			w->errors++;
			snprintf(w->last, sizeof(w->last), "resolve fixed: %s", st.msg);
		}
		mdsgw_object_release(&o);
		mdsgw_close(h);
		/* change the bindings while the workers check access (their
		 * lmdb: policy is rebuilt under them; "nobody" stays denied) */
		if (w->id == WORKERS && i % 5 == 0 &&
		    gw_mdsctl(&d, mdsctl, "policy", "bind", "someone", "reader", "bucket/tsan",
			      (char *)NULL) != 0) {
			w->errors++;
			snprintf(w->last, sizeof(w->last), "policy bind failed");
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct worker w[WORKERS + OPENERS];
	pthread_t tid[WORKERS + OPENERS];
	struct mdsgw_status st;
	struct mdsgw_put p = MDSGW_PUT_INIT;
	int failed = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: test_gw_threads MDS_BIN MDSCTL_BIN\n");
		return 2;
	}
	mdsctl = argv[2];
	if (gw_daemon_start_ex(&d, argv[1], 0, NULL, "tsan") != 0 ||
	    gw_mdsctl(&d, argv[2], "team", "create", "t", (char *)NULL) != 0 ||
	    gw_mdsctl(&d, argv[2], "bucket", "create", "tsan", "--team", "t", (char *)NULL) != 0) {
		fprintf(stderr, "cannot set up the daemon\n");
		gw_daemon_cleanup(&d);
		return 1;
	}
	snprintf(cfg_lmdb, sizeof(cfg_lmdb), "lmdb:%s?mds=%s&timeout_ms=10000", d.data, d.endpoint);
	snprintf(cfg_grpc, sizeof(cfg_grpc), "grpc:%s?timeout_ms=10000", d.endpoint);
	snprintf(cfg_cache, sizeof(cfg_cache), "grpc:%s?timeout_ms=10000&cache_entries=16&"
		 "feed_poll_ms=5", d.endpoint);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg_lmdb, &hl, &st) ||
	    mdsgw_open(MDSGW_ABI_VERSION, cfg_grpc, &hg, &st) ||
	    mdsgw_open(MDSGW_ABI_VERSION, cfg_cache, &hc, &st)) {
		fprintf(stderr, "open: %s\n", st.msg);
		gw_daemon_cleanup(&d);
		return 1;
	}
	p.bucket = "tsan";
	p.name = "fixed";
	if (mdsgw_put(hg, &p, NULL, NULL, 0, &st) != 0) {
		fprintf(stderr, "put fixed: %s\n", st.msg);
		failed = 1;
	}
	for (int i = 0; i < WORKERS + OPENERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		pthread_create(&tid[i], NULL, i < WORKERS ? worker_main : opener_main, &w[i]);
	}
	for (int i = 0; i < WORKERS + OPENERS; i++) {
		pthread_join(tid[i], NULL);
		if (w[i].errors) {
			fprintf(stderr, "thread %d: %d errors, last: %s\n", i, w[i].errors, w[i].last);
			failed = 1;
		}
	}
	{
		struct mdsgw_cache_stats cs = MDSGW_CACHE_STATS_INIT;

		if (mdsgw_cache_stats(hc, &cs) == 0)
			printf("cache: %llu hits, %llu misses, %llu evictions, %llu invalidations, "
			       "%llu feed rounds\n", (unsigned long long)cs.hits,
			       (unsigned long long)cs.misses, (unsigned long long)cs.evictions,
			       (unsigned long long)cs.invalidations,
			       (unsigned long long)cs.feed_rounds);
	}
	mdsgw_close(hl);
	mdsgw_close(hg);
	mdsgw_close(hc);
	gw_daemon_cleanup(&d);
	if (!failed)
		printf("ok: %d workers x %d rounds, %d openers\n", WORKERS, ROUNDS, OPENERS);
	return failed;
}
