/*
 * test_gw_cache_unit.c - the lookup cache (gw_cache.c) on its own, with a
 * clock the test moves: nothing is answered before the feed position is
 * known or after the last verified round is older than lag_ms (except
 * within stale_ok_ms); a fetch that overlapped an invalidation or a flush
 * stores nothing; CLOCK gives a referenced entry a second chance; the
 * entry and byte bounds hold; every allocation failing in turn leaks
 * nothing (cmocka's test_malloc checks) and never stores half an entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int fail_at = -1, n_alloc;

static int should_fail(void)
{
	return fail_at >= 0 && n_alloc++ == fail_at;
}

static void *gwt_malloc(size_t n)
{
	return should_fail() ? NULL : test_malloc(n);
}

static void *gwt_calloc(size_t n, size_t m)
{
	return should_fail() ? NULL : test_calloc(n, m);
}

static char *gwt_strdup(const char *s)
{
	char *d = gwt_malloc(strlen(s) + 1);

	if (d)
		strcpy(d, s);
	return d;
}

static void gwt_free(void *p)
{
	if (p)
		test_free(p);
}

#define malloc gwt_malloc
#define calloc gwt_calloc
#define strdup gwt_strdup
#define free gwt_free
#include "gw_object.c"
#include "gw_cache.c"
#undef malloc
#undef calloc
#undef strdup
#undef free

static int64_t now_ns = 1000000000;

int64_t mdsgw_now_ns(void)
{
	return now_ns;
}

void mdsgw_object_release(struct mdsgw_object *o)
{
	gwt_free(o->mem_);
	memset(o, 0, sizeof(*o));
}

#define MS 1000000LL

static struct gw_cache *new_cache(size_t entries, size_t bytes, unsigned stale_ok_ms)
{
	struct gw_cache_opts o = { entries, bytes, 500, stale_ok_ms };
	struct gw_cache *c = NULL;

	assert_int_equal(gw_cache_new(&o, &c), 0);
	return c;
}

static struct mdsgw_object obj(const char *name, uint64_t version)
{
	static struct mdsgw_kv meta[1] = { { "owner", "ops" } };
	struct mdsgw_object o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.bucket = "b";
	o.name = name;
	o.etag = "\"e\"";
	o.content_type = "text/plain";
	o.locator = (const unsigned char *)"loc";
	o.locator_len = 3;
	o.meta = meta;
	o.n_meta = 1;
	o.version = version;
	return o;
}

/* get; on a miss, put @version (0 = not found) with the ticket of that get */
static int get_or_fill(struct gw_cache *c, const char *name, uint64_t version,
		       uint64_t *seen)
{
	struct mdsgw_object out;
	struct gw_cache_ticket t;
	char msg[64];
	int rc = gw_cache_get(c, "b", name, &out, msg, sizeof(msg), &t);

	*seen = 0;
	if (rc == GW_CACHE_HIT) {
		*seen = out.version;
		assert_string_equal(out.name, name);
		assert_string_equal(out.meta[0].value, "ops");
		mdsgw_object_release(&out);
	} else if (rc == GW_CACHE_MISS) {
		struct mdsgw_object o = obj(name, version);

		gw_cache_put(c, &t, "b", name, version ? &o : NULL, "no such object");
	} else {
		assert_string_equal(msg, "no such object");
	}
	return rc;
}

static void test_fresh_only(void **state)
{
	struct gw_cache *c = new_cache(16, 1 << 20, 0);
	struct mdsgw_cache_stats s;
	uint64_t v;

	(void)state;
	/* position unknown: nothing stored, nothing answered */
	assert_int_equal(get_or_fill(c, "x", 1, &v), GW_CACHE_MISS);
	assert_int_equal(get_or_fill(c, "x", 1, &v), GW_CACHE_MISS);
	gw_cache_stats(c, &s);
	assert_int_equal(s.state, MDSGW_CACHE_SYNCING);
	assert_int_equal(s.entries, 0);
	/* synced: filled, then answered */
	gw_cache_set_synced(c, now_ns, 10);
	assert_int_equal(get_or_fill(c, "x", 1, &v), GW_CACHE_MISS);
	assert_int_equal(get_or_fill(c, "x", 1, &v), GW_CACHE_HIT);
	assert_int_equal(v, 1);
	assert_int_equal(get_or_fill(c, "gone", 0, &v), GW_CACHE_MISS);
	assert_int_equal(get_or_fill(c, "gone", 0, &v), GW_CACHE_HIT_NEG);
	/* the last verified round is too old: not answered */
	now_ns += 501 * MS;
	assert_int_equal(get_or_fill(c, "x", 1, &v), GW_CACHE_MISS);
	gw_cache_stats(c, &s);
	assert_int_equal(s.state, MDSGW_CACHE_STALE);
	assert_int_equal(s.feed_age_ms, 501);
	/* a new round: answered again */
	gw_cache_set_synced(c, now_ns, 11);
	assert_int_equal(get_or_fill(c, "x", 1, &v), GW_CACHE_HIT);
	gw_cache_stats(c, &s);
	assert_int_equal(s.hits, 3);
	assert_int_equal(s.negative_hits, 1);
	assert_int_equal(s.state, MDSGW_CACHE_FRESH);
	/* position lost: dropped and not answered */
	gw_cache_set_unsynced(c);
	gw_cache_flush(c);
	gw_cache_set_synced(c, now_ns, 12);
	assert_int_equal(get_or_fill(c, "x", 2, &v), GW_CACHE_MISS);
	gw_cache_free(c);
}

static void test_stale_ok(void **state)
{
	struct gw_cache *c = new_cache(16, 1 << 20, 2000);
	struct mdsgw_cache_stats s;
	uint64_t v;

	(void)state;
	gw_cache_set_synced(c, now_ns, 1);
	get_or_fill(c, "x", 7, &v);
	now_ns += 1500 * MS;             /* not fresh, within stale_ok_ms */
	assert_int_equal(get_or_fill(c, "x", 7, &v), GW_CACHE_HIT);
	assert_int_equal(get_or_fill(c, "y", 1, &v), GW_CACHE_MISS);
	assert_int_equal(get_or_fill(c, "y", 1, &v), GW_CACHE_MISS);  /* never stored stale */
	now_ns += 600 * MS;              /* beyond it */
	assert_int_equal(get_or_fill(c, "x", 7, &v), GW_CACHE_MISS);
	gw_cache_stats(c, &s);
	assert_int_equal(s.stale_hits, 1);
	gw_cache_free(c);
}

static void test_overlap(void **state)
{
	struct gw_cache *c = new_cache(16, 1 << 20, 0);
	struct mdsgw_object out, o = obj("x", 1);
	struct gw_cache_ticket t;
	char msg[64];
	uint64_t v;

	(void)state;
	gw_cache_set_synced(c, now_ns, 1);
	/* an invalidation of the name during the fetch: the answer is not kept */
	assert_int_equal(gw_cache_get(c, "b", "x", &out, msg, sizeof(msg), &t), GW_CACHE_MISS);
	gw_cache_invalidate(c, "b", 1, "x", 1);
	gw_cache_put(c, &t, "b", "x", &o, NULL);
	assert_int_equal(get_or_fill(c, "x", 2, &v), GW_CACHE_MISS);
	assert_int_equal(get_or_fill(c, "x", 2, &v), GW_CACHE_HIT);
	assert_int_equal(v, 2);
	/* an invalidation of another name does not matter (unless it hashes
	 * to the same generation slot: then the answer is only not kept) */
	assert_int_equal(gw_cache_get(c, "b", "y", &out, msg, sizeof(msg), &t), GW_CACHE_MISS);
	gw_cache_invalidate(c, "b", 1, "zz-other", 8);
	o = obj("y", 1);
	gw_cache_put(c, &t, "b", "y", &o, NULL);
	assert_int_equal(get_or_fill(c, "y", 1, &v), GW_CACHE_HIT);
	/* a flush during the fetch */
	assert_int_equal(gw_cache_get(c, "b", "z", &out, msg, sizeof(msg), &t), GW_CACHE_MISS);
	gw_cache_flush(c);
	o = obj("z", 1);
	gw_cache_put(c, &t, "b", "z", &o, NULL);
	assert_int_equal(get_or_fill(c, "z", 1, &v), GW_CACHE_MISS);
	/* the cached entry of an invalidated name is gone */
	assert_int_equal(get_or_fill(c, "z", 1, &v), GW_CACHE_HIT);
	gw_cache_invalidate(c, "b", 1, "z", 1);
	assert_int_equal(get_or_fill(c, "z", 3, &v), GW_CACHE_MISS);
	assert_int_equal(get_or_fill(c, "z", 3, &v), GW_CACHE_HIT);
	assert_int_equal(v, 3);
	gw_cache_free(c);
}

static void test_clock(void **state)
{
	struct gw_cache *c = new_cache(3, 1 << 20, 0);
	struct mdsgw_cache_stats s;
	uint64_t v;

	(void)state;
	gw_cache_set_synced(c, now_ns, 1);
	get_or_fill(c, "a", 1, &v);
	get_or_fill(c, "b", 1, &v);
	get_or_fill(c, "c", 1, &v);
	assert_int_equal(get_or_fill(c, "a", 1, &v), GW_CACHE_HIT);   /* a referenced */
	get_or_fill(c, "d", 1, &v);        /* evicts b: a had a second chance */
	assert_int_equal(get_or_fill(c, "a", 1, &v), GW_CACHE_HIT);
	assert_int_equal(get_or_fill(c, "c", 1, &v), GW_CACHE_HIT);
	assert_int_equal(get_or_fill(c, "d", 1, &v), GW_CACHE_HIT);
	gw_cache_stats(c, &s);
	assert_int_equal(s.evictions, 1);
	assert_int_equal(s.entries, 3);
	assert_int_equal(get_or_fill(c, "b", 1, &v), GW_CACHE_MISS);
	gw_cache_free(c);
}

static void test_bytes(void **state)
{
	struct gw_cache *c = new_cache(1000, 2000, 0);
	struct mdsgw_cache_stats s;
	char name[32];
	uint64_t v;

	(void)state;
	gw_cache_set_synced(c, now_ns, 1);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%03d", i);
		get_or_fill(c, name, 1, &v);
		gw_cache_stats(c, &s);
		assert_true(s.bytes <= 2000);
	}
	assert_true(s.entries > 0 && s.entries < 100);
	assert_true(s.evictions >= 100 - s.entries);
	gw_cache_free(c);
	/* an entry larger than the whole budget is not kept */
	c = new_cache(10, 100, 0);
	gw_cache_set_synced(c, now_ns, 1);
	get_or_fill(c, "x", 1, &v);
	assert_int_equal(get_or_fill(c, "x", 1, &v), GW_CACHE_MISS);
	gw_cache_free(c);
}

static void test_alloc_failures(void **state)
{
	(void)state;
	for (int k = 0; k < 40; k++) {
		struct gw_cache_opts o = { 4, 1 << 20, 500, 0 };
		struct gw_cache *c = NULL;
		uint64_t v;

		n_alloc = 0;
		fail_at = k;
		if (gw_cache_new(&o, &c) != 0) {
			assert_null(c);
			continue;
		}
		gw_cache_set_synced(c, now_ns, 1);
		for (int i = 0; i < 3; i++) {
			/* whatever fails, an answer is either whole or a miss */
			int rc = get_or_fill(c, "x", 5, &v);

			assert_true(rc == GW_CACHE_MISS || (rc == GW_CACHE_HIT && v == 5));
			rc = get_or_fill(c, "neg", 0, &v);
			assert_true(rc == GW_CACHE_MISS || rc == GW_CACHE_HIT_NEG);
		}
		gw_cache_free(c);
	}
	fail_at = -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_only),
		cmocka_unit_test(test_stale_ok),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests_name("gw_cache", tests, NULL, NULL);
}
