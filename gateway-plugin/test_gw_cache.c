/*
 * test_gw_cache.c - the grpc: lookup cache against a real island that
 * signs its feed: a put, an overwrite and a delete made through another
 * client are visible through the cache within the documented bound
 * (feed cadence + cache_lag_ms); a cached "not found" disappears after a
 * put; the handle's own writes are visible at once; memory stays within
 * cache_entries (CLOCK eviction); with the island down the cache stops
 * answering once it is no longer fresh, unless stale_ok_ms asked for it,
 * and it is fresh again after a restart; a checkpoint signed by another key
 * is refused and the cache never answers.
 *
 * usage: test_gw_cache MDS_BIN MDSCTL_BIN
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mds/mdsgw.h"
#include "gw_testutil.h"

#define CADENCE_MS 50
#define LAG_MS 500
/* The documented bound (feed cadence + cache_lag_ms) and room for the
 * island to sign late on a loaded two-core test machine. */
#define BOUND_MS (CADENCE_MS + LAG_MS + 250)

static struct gw_daemon d_;
static const char *mds_bin, *mdsctl_bin;
static char vkey[256], other_vkey[256];
static const char *const args[] = { "--feed-cadence-ms", "50", NULL };

static mdsgw_handle *open_cfg(const char *fmt, ...)
{
	struct mdsgw_status st;
	mdsgw_handle *h = NULL;
	char cfg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cfg, sizeof(cfg), fmt, ap);
	va_end(ap);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &h, &st) != 0)
		fail_msg("open '%s': %s", cfg, st.msg);
	return h;
}

static mdsgw_handle *open_cached(const char *extra)
{
	return open_cfg("grpc:%s?timeout_ms=2000&cache_entries=1000&feed_key=%s&feed_poll_ms=10"
			"&cache_lag_ms=%d%s", d_.endpoint, vkey, LAG_MS, extra ? extra : "");
}

static struct mdsgw_cache_stats stats(mdsgw_handle *h)
{
	struct mdsgw_cache_stats s = MDSGW_CACHE_STATS_INIT;

	assert_int_equal(mdsgw_cache_stats(h, &s), 0);
	return s;
}

/* Poll until the cache's state is @state (deadline @ms). */
static void wait_state(mdsgw_handle *h, uint32_t state, int ms)
{
	int64_t end = mdsgw_deadline_in_ms((uint32_t)ms);

	while (stats(h).state != state) {
		if (mdsgw_now_ns() > end)
			fail_msg("cache state %u, not %u after %d ms (feed error: %s)",
				 stats(h).state, state, ms, stats(h).feed_error);
		usleep(5000);
	}
}

static int put(mdsgw_handle *h, const char *name, const char *etag)
{
	struct mdsgw_put p = MDSGW_PUT_INIT;
	struct mdsgw_status st;
	int rc;

	p.bucket = "cbkt";
	p.name = name;
	p.etag = etag;
	p.content_size = 7;
	rc = mdsgw_put(h, &p, NULL, NULL, 0, &st);
	if (rc) {
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "tail -n 30 '%s/mds.log' >&2", d_.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "(no mds.log)\n");
		fail_msg("put %s: %s", name, st.msg);
	}
	return rc;
}

/* The etag resolve sees, or "" for not found. */
static void seen(mdsgw_handle *h, const char *name, char *etag, size_t n)
{
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	struct mdsgw_status st;
	int rc = mdsgw_resolve(h, "cbkt", name, &o, mdsgw_deadline_in_ms(2000), &st);

	if (rc == MDSGW_ENOTFOUND) {
		etag[0] = '\0';
		return;
	}
	if (rc)
		fail_msg("resolve %s: %s", name, st.msg);
	snprintf(etag, n, "%s", o.etag);
	mdsgw_object_release(&o);
}

/* Poll resolve through @h until it sees @want ("" = not found); returns ms. */
static int64_t until_seen(mdsgw_handle *h, const char *name, const char *want)
{
	int64_t t0 = mdsgw_now_ns(), end = t0 + 5000 * 1000000LL;
	char etag[128];

	for (;;) {
		seen(h, name, etag, sizeof(etag));
		if (!strcmp(etag, want))
			return (mdsgw_now_ns() - t0) / 1000000;
		if (mdsgw_now_ns() > end)
			fail_msg("%s: still '%s', not '%s' after 5 s", name, etag, want);
		usleep(1000);
	}
}

/*
 * Resolve @name until an answer comes from the cache (the feed may drop
 * the first entry when the leaf of the change that made it arrives after
 * the entry was filled). Fails after 2 s. @neg: a negative hit is wanted.
 */
static void until_hit(mdsgw_handle *h, const char *name, int neg)
{
	int64_t end = mdsgw_deadline_in_ms(2000);
	char etag[128];

	for (;;) {
		struct mdsgw_cache_stats s0 = stats(h), s1;

		seen(h, name, etag, sizeof(etag));
		s1 = stats(h);
		if (s1.hits == s0.hits + 1 && s1.negative_hits == s0.negative_hits + (neg ? 1 : 0) &&
		    s1.misses == s0.misses)
			return;
		if (mdsgw_now_ns() > end)
			fail_msg("%s: never answered from the cache", name);
		usleep(2000);
	}
}

static void test_coherence(void **state)
{
	mdsgw_handle *g = open_cached(NULL);
	mdsgw_handle *w = open_cfg("grpc:%s", d_.endpoint);   /* another gateway */
	struct mdsgw_cache_stats s1;
	char etag[128];
	int64_t ms;

	(void)state;
	wait_state(g, MDSGW_CACHE_FRESH, 5000);
	/* positive entries: a miss fills, the next resolve hits */
	put(w, "a", "\"e1\"");
	until_seen(g, "a", "\"e1\"");
	until_hit(g, "a", 0);
	seen(g, "a", etag, sizeof(etag));
	assert_string_equal(etag, "\"e1\"");
	s1 = stats(g);
	/* an overwrite through mds is visible within the bound */
	put(w, "a", "\"e2\"");
	ms = until_seen(g, "a", "\"e2\"");
	print_message("overwrite visible through the cache after %lld ms (bound %d)\n",
		      (long long)ms, BOUND_MS);
	assert_true(ms <= BOUND_MS);
	assert_true(stats(g).invalidations > s1.invalidations);
	/* a cached "not found" disappears after a put */
	seen(g, "neg", etag, sizeof(etag));
	assert_string_equal(etag, "");
	until_hit(g, "neg", 1);
	seen(g, "neg", etag, sizeof(etag));
	assert_string_equal(etag, "");
	put(w, "neg", "\"n1\"");
	ms = until_seen(g, "neg", "\"n1\"");
	print_message("put over a cached negative visible after %lld ms\n", (long long)ms);
	assert_true(ms <= BOUND_MS);
	/* a delete through mds is visible within the bound */
	seen(g, "a", etag, sizeof(etag));
	assert_string_equal(etag, "\"e2\"");
	assert_int_equal(mdsgw_delete(w, "cbkt", "a", NULL, NULL, NULL, 0, NULL), 0);
	ms = until_seen(g, "a", "");
	print_message("delete visible after %lld ms\n", (long long)ms);
	assert_true(ms <= BOUND_MS);
	/* the handle's own writes are visible at once */
	put(g, "own", "\"o1\"");
	seen(g, "own", etag, sizeof(etag));
	assert_string_equal(etag, "\"o1\"");
	seen(g, "own", etag, sizeof(etag));
	put(g, "own", "\"o2\"");
	seen(g, "own", etag, sizeof(etag));
	assert_string_equal(etag, "\"o2\"");
	s1 = stats(g);
	assert_true(s1.feed_rounds > 0);
	assert_true(s1.feed_size > 0);
	assert_true(s1.entries > 0 && s1.bytes > 0);
	assert_true(s1.feed_age_ms >= 0 && s1.feed_age_ms <= LAG_MS);
	mdsgw_close(g);
	mdsgw_close(w);
}

static void test_bounded(void **state)
{
	mdsgw_handle *g = open_cfg("grpc:%s?cache_entries=4&feed_poll_ms=10", d_.endpoint);
	struct mdsgw_cache_stats s;
	char etag[128], name[32];

	(void)state;
	wait_state(g, MDSGW_CACHE_FRESH, 5000);   /* no feed_key: unsigned checks only */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 10; i++) {
			snprintf(name, sizeof(name), "many-%d", i);
			seen(g, name, etag, sizeof(etag));
		}
	s = stats(g);
	assert_true(s.entries <= 4);
	assert_true(s.evictions >= 16);
	assert_int_equal(s.hits + s.misses, 20);
	mdsgw_close(g);
}

static void test_wrong_key(void **state)
{
	mdsgw_handle *g = open_cfg("grpc:%s?cache_entries=100&feed_key=%s&feed_poll_ms=10",
				   d_.endpoint, other_vkey);
	char etag[128];
	int64_t end = mdsgw_deadline_in_ms(3000);
	struct mdsgw_cache_stats s;

	(void)state;
	while (stats(g).feed_errors == 0 && mdsgw_now_ns() < end)
		usleep(5000);
	for (int i = 0; i < 3; i++)
		seen(g, "own", etag, sizeof(etag));   /* answered by mds */
	assert_string_equal(etag, "\"o2\"");
	s = stats(g);
	assert_int_equal(s.state, MDSGW_CACHE_SYNCING);
	assert_true(s.feed_errors > 0);
	assert_non_null(strstr(s.feed_error, "checkpoint"));
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.entries, 0);
	mdsgw_close(g);
}

static void test_island_down(void **state)
{
	mdsgw_handle *g = open_cached(NULL);
	mdsgw_handle *so = open_cached("&stale_ok_ms=60000");
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	struct mdsgw_status st;
	char etag[128];
	int rc;

	(void)state;
	wait_state(g, MDSGW_CACHE_FRESH, 5000);
	wait_state(so, MDSGW_CACHE_FRESH, 5000);
	seen(g, "own", etag, sizeof(etag));
	seen(so, "own", etag, sizeof(etag));
	gw_daemon_stop(&d_, 1);
	wait_state(g, MDSGW_CACHE_STALE, 3000);
	wait_state(so, MDSGW_CACHE_STALE, 3000);
	/* not fresh: the entry is not served, the read fails at its deadline */
	rc = mdsgw_resolve(g, "cbkt", "own", &o, mdsgw_deadline_in_ms(300), &st);
	assert_true(rc == MDSGW_ETIMEDOUT || rc == MDSGW_EUNAVAIL);
	/* stale_ok_ms: the gateway asked for it */
	assert_int_equal(mdsgw_resolve(so, "cbkt", "own", &o, mdsgw_deadline_in_ms(300), &st), 0);
	assert_string_equal(o.etag, "\"o2\"");
	mdsgw_object_release(&o);
	assert_true(stats(so).stale_hits > 0);
	/* back: fresh again, and answering */
	assert_int_equal(gw_daemon_restart(&d_), 0);
	wait_state(g, MDSGW_CACHE_FRESH, 10000);
	seen(g, "own", etag, sizeof(etag));
	assert_string_equal(etag, "\"o2\"");
	mdsgw_close(g);
	mdsgw_close(so);
}

/*
 * The island is replaced by another log under the same address (a store
 * restored from an old backup, or wiped): the follower's position is not
 * in the new log, so it must drop everything and start over, never keep
 * answering the old island's records.
 */
static void test_island_replaced(void **state)
{
	mdsgw_handle *g = open_cfg("grpc:%s?timeout_ms=2000&cache_entries=100&feed_poll_ms=10",
				   d_.endpoint);
	char etag[128], cmd[2048];
	int64_t ms;

	(void)state;
	wait_state(g, MDSGW_CACHE_FRESH, 5000);
	seen(g, "own", etag, sizeof(etag));
	assert_string_equal(etag, "\"o2\"");
	until_hit(g, "own", 0);
	gw_daemon_stop(&d_, 1);
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s.old' && '%s' keys init --name island-t "
		 "--data '%s' >/dev/null", d_.data, d_.data, mds_bin, d_.data);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(gw_daemon_restart(&d_), 0);
	assert_int_equal(gw_mdsctl(&d_, mdsctl_bin, "team", "create", "ct", (char *)NULL), 0);
	assert_int_equal(gw_mdsctl(&d_, mdsctl_bin, "bucket", "create", "cbkt", "--team", "ct",
				   (char *)NULL), 0);
	{
		mdsgw_handle *w = open_cfg("grpc:%s", d_.endpoint);

		/* gRPC shares the connection to an address between the channels of
		 * a process: a read (which waits for it) first, so that the write
		 * does not fail closed on the connection refused while mds was down */
		seen(w, "own", etag, sizeof(etag));
		assert_string_equal(etag, "");
		put(w, "own", "\"new-island\"");
		mdsgw_close(w);
	}
	ms = until_seen(g, "own", "\"new-island\"");
	print_message("replaced island's record seen after %lld ms\n", (long long)ms);
	assert_true(ms <= 10000);
	until_hit(g, "own", 0);
	seen(g, "own", etag, sizeof(etag));
	assert_string_equal(etag, "\"new-island\"");
	mdsgw_close(g);
}

static void test_no_cache(void **state)
{
	mdsgw_handle *g = open_cfg("grpc:%s", d_.endpoint);
	mdsgw_handle *l = open_cfg("lmdb:%s", d_.data);
	struct mdsgw_cache_stats s = MDSGW_CACHE_STATS_INIT;
	struct mdsgw_status st;
	mdsgw_handle *h = NULL;

	(void)state;
	assert_int_equal(mdsgw_cache_stats(g, &s), MDSGW_ENOTSUP);
	assert_int_equal(mdsgw_cache_stats(l, &s), MDSGW_ENOTSUP);
	s.size = 8;
	assert_int_equal(mdsgw_cache_stats(g, &s), MDSGW_EABI);
	assert_int_equal(mdsgw_open(MDSGW_ABI_VERSION, "lmdb:/tmp?cache_entries=10", &h, &st),
			 MDSGW_ECONFIG);
	assert_int_equal(mdsgw_open(MDSGW_ABI_VERSION, "grpc:127.0.0.1:1?cache_entries=10&"
				    "feed_key=nonsense", &h, &st), MDSGW_ECONFIG);
	assert_non_null(strstr(st.msg, "feed_key"));
	mdsgw_close(g);
	mdsgw_close(l);
}

/* ---- setup ---------------------------------------------------------------- */

static int read_vkey(const char *data, char *out, size_t n)
{
	char cmd[700];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' keys show --data '%s'", mds_bin, data);
	p = popen(cmd, "r");
	if (!p || !fgets(out, (int)n, p)) {
		if (p)
			pclose(p);
		return -1;
	}
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
	return out[0] ? 0 : -1;
}

static int group_setup(void **state)
{
	char cmd[700], dir[300];

	(void)state;
	if (gw_daemon_start_ex(&d_, mds_bin, 0, args, "island-t") != 0)
		return -1;
	if (gw_mdsctl(&d_, mdsctl_bin, "team", "create", "ct", (char *)NULL) ||
	    gw_mdsctl(&d_, mdsctl_bin, "bucket", "create", "cbkt", "--team", "ct", (char *)NULL))
		return -1;
	if (read_vkey(d_.data, vkey, sizeof(vkey)) != 0)
		return -1;
	/* a key of the same name that the island does not hold */
	snprintf(dir, sizeof(dir), "%s/otherkey", d_.dir);
	snprintf(cmd, sizeof(cmd), "'%s' keys init --name island-t --data '%s' >/dev/null",
		 mds_bin, dir);
	if (system(cmd) != 0 || read_vkey(dir, other_vkey, sizeof(other_vkey)) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	gw_daemon_cleanup(&d_);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coherence),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_no_cache),
		cmocka_unit_test(test_island_down),
		cmocka_unit_test(test_island_replaced),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: test_gw_cache MDS_BIN MDSCTL_BIN\n");
		return 2;
	}
	mds_bin = argv[1];
	mdsctl_bin = argv[2];
	return cmocka_run_group_tests_name("gateway_cache", tests, group_setup, group_teardown);
}
