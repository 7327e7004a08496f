/*
 * test_gw_dlopen.c - libmdsgw driven the way a gateway drives it: the
 * library is dlopen()ed, only "mdsgw_get_api" is looked up, the ABI
 * handshake is checked, and then every operation runs through each
 * provider (lmdb:, grpc:) against a real `mds serve` on a loopback port:
 * conditions, paging, deadlines, a server that does not answer, the server
 * killed and restarted mid-use, many threads at once.
 *
 * usage: test_gw_dlopen LIBMDSGW.so MDS_BIN MDSCTL_BIN
 */
#include <dlfcn.h>
#include <pthread.h>
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
#include "rpc_client.h"
#include "quota.pb-c.h"

static const struct mdsgw_api *api;
static struct gw_daemon daemon_;
static const char *mdsctl_bin;
static const char *bucket = "gwbkt";

static void cfg_lmdb(char *buf, size_t n, int with_writer)
{
	if (with_writer)
		snprintf(buf, n, "lmdb:%s?mds=%s&timeout_ms=2000", daemon_.data, daemon_.endpoint);
	else
		snprintf(buf, n, "lmdb:%s", daemon_.data);
}

static void cfg_grpc(char *buf, size_t n)
{
	snprintf(buf, n, "grpc:%s?timeout_ms=2000&retries=4&backoff_ms=20", daemon_.endpoint);
}

static mdsgw_handle *open_or_fail(const char *cfg)
{
	struct mdsgw_status st;
	mdsgw_handle *h = NULL;
	int rc = api->open(MDSGW_ABI_VERSION, cfg, &h, &st);

	if (rc)
		fail_msg("open '%s': %s", cfg, st.msg);
	return h;
}

/* ---- ABI handshake --------------------------------------------------- */

static void test_abi(void **state)
{
	struct mdsgw_status st;
	const struct mdsgw_api *a = NULL;
	mdsgw_get_api_fn get;
	void *lib;
	mdsgw_handle *h = NULL;
	char cfg[512];
	struct mdsgw_object small = MDSGW_OBJECT_INIT;

	(void)state;
	lib = dlopen(getenv("GW_LIB"), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(lib);
	get = (mdsgw_get_api_fn)(uintptr_t)dlsym(lib, "mdsgw_get_api");
	assert_non_null(get);
	/* the same descriptor as the first load (the library is loaded once) */
	assert_int_equal(get(MDSGW_ABI_VERSION, &a, &st), 0);
	assert_ptr_equal(a, api);
	assert_true(a->size >= sizeof(struct mdsgw_api));
	assert_int_equal(a->abi_version, MDSGW_ABI_VERSION);
	/* internal symbols stay hidden */
	assert_null(dlsym(lib, "mds_store_open"));
	assert_null(dlsym(lib, "mds_client_open"));
	assert_null(dlsym(lib, "gw_conf_parse"));

	/* a newer major, and a newer minor, are refused with a clear message */
	assert_int_equal(get(2u << 16, &a, &st), MDSGW_EABI);
	assert_null(a);
	assert_non_null(strstr(st.msg, "abi 2.0"));
	assert_non_null(strstr(st.msg, "implements abi 1.1"));
	assert_int_equal(get(1u << 16 | 7, &a, &st), MDSGW_EABI);
	assert_non_null(strstr(st.msg, "abi 1.7"));
	assert_int_equal(get(0, &a, &st), MDSGW_EABI);
	cfg_grpc(cfg, sizeof(cfg));
	assert_int_equal(api->open(3u << 16, cfg, &h, &st), MDSGW_EABI);
	assert_null(h);
	assert_string_equal(api->error_name(MDSGW_EABI), "MDSGW_EABI");
	assert_non_null(strstr(api->strerror(MDSGW_EABI), "abi"));

	/* a struct shorter than ABI 1.0's is refused, not overrun */
	h = open_or_fail(cfg);
	small.size = offsetof(struct mdsgw_object, etag);
	assert_int_equal(api->resolve(h, bucket, "x", &small, 0, &st), MDSGW_EABI);
	assert_non_null(strstr(st.msg, "mdsgw_object"));
	api->close(h);
	dlclose(lib);   /* drops our extra reference; the first load stays */
}

static void test_config_errors(void **state)
{
	static const char *const bad[] = {
		"", "nothing", "ftp:host", "lmdb:", "grpc:127.0.0.1:1?timeout_ms=0",
		"grpc:127.0.0.1:1?timeout_ms=abc", "grpc:127.0.0.1:1?retries=11",
		"grpc:127.0.0.1:1?bogus=1", "grpc:127.0.0.1:1?tls=1&tls=1",
		"grpc:127.0.0.1:1?cert=/x", "grpc:127.0.0.1:1?mds=1.2.3.4:5",
		"grpc:127.0.0.1:1?novalue", "lmdb:/tmp%zz", "grpc:127.0.0.1:1?ca=",
	};
	struct mdsgw_status st;
	mdsgw_handle *h = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = api->open(MDSGW_ABI_VERSION, bad[i], &h, &st);

		if (rc != MDSGW_ECONFIG)
			fail_msg("config '%s': expected MDSGW_ECONFIG, got %d (%s)", bad[i], rc, st.msg);
		assert_null(h);
		assert_true(st.msg[0] != '\0');
	}
	/* global: (ABI 1.1) opens without a connection and is read-only
	 * (test_gw_global.c drives it against federated islands) */
	assert_int_equal(api->open(MDSGW_ABI_VERSION, "global:127.0.0.1:1", &h, &st), 0);
	assert_string_equal(api->provider(h), "global");
	assert_int_equal(api->del(h, "b", "n", NULL, NULL, NULL, 0, &st), MDSGW_EREADONLY);
	api->close(h);
	h = NULL;
	/* a directory without an island store */
	assert_true(api->open(MDSGW_ABI_VERSION, "lmdb:/nonexistent-mdsgw-dir", &h, &st) < 0);
	assert_null(h);
	assert_non_null(strstr(st.msg, "/nonexistent-mdsgw-dir"));
	/* a TLS file that cannot be read */
	assert_int_equal(api->open(MDSGW_ABI_VERSION, "grpc:127.0.0.1:1?ca=/nonexistent.pem",
				   &h, &st), MDSGW_EINVAL);
	assert_non_null(strstr(st.msg, "/nonexistent.pem"));
	/* percent-decoding reaches the path */
	{
		char cfg[800], enc[700];
		size_t j = 0;

		for (const char *p = daemon_.data; *p && j < sizeof(enc) - 4; p++) {
			if (*p == '/')
				j += (size_t)snprintf(enc + j, sizeof(enc) - j, "%%2F");
			else
				enc[j++] = *p;
		}
		enc[j] = '\0';
		snprintf(cfg, sizeof(cfg), "lmdb:%s", enc);
		h = open_or_fail(cfg);
		assert_string_equal(api->provider(h), "lmdb");
		api->close(h);
	}
}

/* ---- every operation through one provider ----------------------------- */

struct collect {
	char names[64][128];
	int prefix[64];
	int n;
	int stop_at;    /* return 42 at this entry (1-based); 0 = never */
};

static int collect_fn(void *arg, const struct mdsgw_entry *e)
{
	struct collect *c = arg;

	if (c->n < 64) {
		snprintf(c->names[c->n], sizeof(c->names[0]), "%s", e->name);
		c->prefix[c->n] = (int)e->is_prefix;
		if (!e->is_prefix && (!e->obj || strcmp(e->obj->name, e->name) != 0))
			c->prefix[c->n] = -1;   /* caught below */
	}
	c->n++;
	return c->stop_at && c->n == c->stop_at ? 42 : 0;
}

static int put_simple(mdsgw_handle *h, const char *name, uint64_t size,
		      struct mdsgw_status *st)
{
	struct mdsgw_put p = MDSGW_PUT_INIT;

	p.bucket = bucket;
	p.name = name;
	p.content_size = size;
	return api->put(h, &p, NULL, NULL, 0, st);
}

static void run_ops(const char *cfg, const char *pv)
{
	static const unsigned char loc[] = { 'l', 'o', 'c', 0, 'a', 't', 'o', 'r' };
	const struct mdsgw_kv meta[] = { { "owner", "alice" }, { "run", "42" } };
	const struct mdsgw_kv tags[] = { { "tier", "warm" } };
	struct mdsgw_status st;
	struct mdsgw_put p = MDSGW_PUT_INIT;
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	struct mdsgw_list_params lp = MDSGW_LIST_PARAMS_INIT;
	struct mdsgw_list_result lr = MDSGW_LIST_RESULT_INIT;
	struct collect col;
	uint64_t version = 0, mtime = 0;
	char name[128], token[MDSGW_TOKEN_MAX + 1], prefix[64];
	mdsgw_handle *h = open_or_fail(cfg);
	int pages, allowed = 1;

	assert_true(api->capabilities(h) & MDSGW_CAP_PUT);

	/* create, with every field set */
	snprintf(name, sizeof(name), "%s/dir/obj1", pv);
	p.bucket = bucket;
	p.name = name;
	p.content_size = 100;
	p.blob_type = MDSGW_BLOB_APPEND;
	p.etag = "\"e1\"";
	p.content_type = "text/plain";
	p.locator = loc;
	p.locator_len = sizeof(loc);
	p.meta = meta;
	p.n_meta = 2;
	p.tags = tags;
	p.n_tags = 1;
	p.if_none_match = "*";
	assert_int_equal(api->put(h, &p, &version, &mtime, 0, &st), 0);
	assert_int_equal(version, 1);
	assert_true(mtime > 0);

	/* read it back (for lmdb: from the local snapshot, right after the ack) */
	assert_int_equal(api->resolve(h, bucket, name, &o, 0, &st), 0);
	assert_string_equal(o.bucket, bucket);
	assert_string_equal(o.name, name);
	assert_int_equal(o.version, 1);
	assert_int_equal(o.content_size, 100);
	assert_int_equal(o.blob_type, MDSGW_BLOB_APPEND);
	assert_int_equal(o.mtime_ns, mtime);
	assert_string_equal(o.etag, "\"e1\"");
	assert_string_equal(o.content_type, "text/plain");
	assert_int_equal(o.locator_len, sizeof(loc));
	assert_memory_equal(o.locator, loc, sizeof(loc));
	assert_int_equal(o.n_meta, 2);
	assert_string_equal(o.meta[0].key, "owner");
	assert_string_equal(o.meta[0].value, "alice");
	assert_string_equal(o.meta[1].key, "run");
	assert_string_equal(o.meta[1].value, "42");
	assert_int_equal(o.n_tags, 1);
	assert_string_equal(o.tags[0].key, "tier");
	assert_string_equal(o.tags[0].value, "warm");
	assert_int_equal(o.size, sizeof(struct mdsgw_object));
	api->object_release(&o);
	assert_null(o.name);
	api->object_release(&o);   /* twice is harmless */

	/* conditions */
	assert_int_equal(api->put(h, &p, NULL, NULL, 0, &st), MDSGW_EPRECOND);
	p.if_none_match = NULL;
	p.if_match = "\"wrong\"";
	assert_int_equal(api->put(h, &p, NULL, NULL, 0, &st), MDSGW_EPRECOND);
	p.if_match = "\"e1\"";
	p.etag = "\"e2\"";
	p.n_meta = 0;
	p.n_tags = 0;
	assert_int_equal(api->put(h, &p, &version, NULL, 0, &st), 0);
	assert_int_equal(version, 2);
	assert_int_equal(api->resolve(h, bucket, name, &o, 0, &st), 0);
	assert_int_equal(o.version, 2);
	assert_string_equal(o.etag, "\"e2\"");
	assert_int_equal(o.n_meta, 0);
	assert_null(o.meta);
	api->object_release(&o);

	for (int i = 2; i <= 5; i++) {
		snprintf(name, sizeof(name), "%s/dir/obj%d", pv, i);
		assert_int_equal(put_simple(h, name, (uint64_t)i, &st), 0);
	}
	snprintf(name, sizeof(name), "%s/other/x", pv);
	assert_int_equal(put_simple(h, name, 1, &st), 0);

	/* S3 listing with a delimiter: two common prefixes */
	snprintf(prefix, sizeof(prefix), "%s/", pv);
	lp.bucket = bucket;
	lp.prefix = prefix;
	lp.delimiter = "/";
	memset(&col, 0, sizeof(col));
	assert_int_equal(api->list(h, &lp, collect_fn, &col, &lr, 0, &st), 0);
	assert_int_equal(col.n, 2);
	assert_int_equal(lr.key_count, 2);
	assert_false(lr.truncated);
	snprintf(name, sizeof(name), "%s/dir/", pv);
	assert_string_equal(col.names[0], name);
	assert_int_equal(col.prefix[0], 1);
	snprintf(name, sizeof(name), "%s/other/", pv);
	assert_string_equal(col.names[1], name);

	/* paging by 2 through the five objects with continuation tokens */
	snprintf(prefix, sizeof(prefix), "%s/dir/", pv);
	lp.prefix = prefix;
	lp.delimiter = NULL;
	lp.max_keys = 2;
	memset(&col, 0, sizeof(col));
	for (pages = 1;; pages++) {
		assert_int_equal(api->list(h, &lp, collect_fn, &col, &lr, 0, &st), 0);
		if (!lr.truncated)
			break;
		assert_true(lr.next_token[0] != '\0');
		snprintf(token, sizeof(token), "%s", lr.next_token);
		lp.token = token;
		assert_true(pages < 10);
	}
	assert_int_equal(pages, 3);
	assert_int_equal(col.n, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "%s/dir/obj%d", pv, i + 1);
		assert_string_equal(col.names[i], name);
		assert_int_equal(col.prefix[i], 0);
	}

	/* Azure style: up to 5000 per page */
	lp.token = NULL;
	lp.style = MDSGW_LIST_AZURE;
	lp.max_keys = 5000;
	memset(&col, 0, sizeof(col));
	assert_int_equal(api->list(h, &lp, collect_fn, &col, &lr, 0, &st), 0);
	assert_int_equal(col.n, 5);
	/* S3 caps max_keys at 1000 */
	lp.style = MDSGW_LIST_S3;
	lp.max_keys = 1001;
	assert_int_equal(api->list(h, &lp, collect_fn, &col, &lr, 0, &st), MDSGW_EINVAL);
	/* the callback stops the page */
	lp.max_keys = -1;
	memset(&col, 0, sizeof(col));
	col.stop_at = 2;
	assert_int_equal(api->list(h, &lp, collect_fn, &col, &lr, 0, &st), 42);
	assert_int_equal(col.n, 2);
	/* a missing bucket */
	lp.bucket = "no-such-bucket";
	assert_int_equal(api->list(h, &lp, collect_fn, &col, &lr, 0, &st), MDSGW_ENOTFOUND);
	lp.bucket = bucket;

	/* errors a gateway sees */
	assert_int_equal(api->resolve(h, bucket, "absent", &o, 0, &st), MDSGW_ENOTFOUND);
	assert_non_null(strstr(st.msg, "absent"));
	assert_int_equal(api->resolve(h, "no-such-bucket", "x", &o, 0, &st), MDSGW_ENOTFOUND);
	assert_int_equal(api->resolve(h, bucket, "bad\xff", &o, 0, &st), MDSGW_EINVAL);
	assert_int_equal(api->resolve(h, NULL, "x", &o, 0, &st), MDSGW_EINVAL);

	/* a deadline that has passed */
	{
		int64_t past = api->now_ns() - 1;

		snprintf(name, sizeof(name), "%s/dir/obj1", pv);
		assert_int_equal(api->resolve(h, bucket, name, &o, past, &st), MDSGW_ETIMEDOUT);
		assert_int_equal(api->list(h, &lp, collect_fn, &col, &lr, past, &st),
				 MDSGW_ETIMEDOUT);
		assert_int_equal(api->put(h, &p, NULL, NULL, past, &st), MDSGW_ETIMEDOUT);
		assert_int_equal(api->del(h, bucket, name, NULL, NULL, NULL, past, &st),
				 MDSGW_ETIMEDOUT);
	}

	/* delete, conditionally */
	snprintf(name, sizeof(name), "%s/dir/obj1", pv);
	assert_int_equal(api->del(h, bucket, name, "\"e1\"", NULL, NULL, 0, &st), MDSGW_EPRECOND);
	assert_int_equal(api->del(h, bucket, name, "\"e2\"", NULL, &version, 0, &st), 0);
	assert_int_equal(version, 2);
	assert_int_equal(api->resolve(h, bucket, name, &o, 0, &st), MDSGW_ENOTFOUND);
	assert_int_equal(api->del(h, bucket, name, NULL, NULL, NULL, 0, &st), MDSGW_ENOTFOUND);

	/* quota reservations, against a 1,000-byte hard limit on q<pv>/ */
	{
		struct mdsgw_reservation r = MDSGW_RESERVATION_INIT, r2 = MDSGW_RESERVATION_INIT;
		struct mdsgw_put qp = MDSGW_PUT_INIT;
		struct mdsgw_access a = MDSGW_ACCESS_INIT;
		char qname[64], tok[MDSGW_TOKEN_LEN];

		assert_true(api->capabilities(h) & MDSGW_CAP_QUOTA);
		snprintf(qname, sizeof(qname), "q%s/a", pv);
		r.bucket = bucket;
		r.name = qname;
		r.bytes = 600;
		r.objects = 1;
		r.ttl_ms = 60000;
		assert_int_equal(api->quota_reserve(h, &r, 0, &st), 0);
		assert_int_equal(strlen(r.token), 32);
		assert_true(r.expiry_ns > 0);
		snprintf(tok, sizeof(tok), "%s", r.token);
		/* a second 600 bytes would overshoot: refused, naming the scope */
		r2 = r;
		snprintf(name, sizeof(name), "q%s/b", pv);
		r2.name = name;
		assert_int_equal(api->quota_reserve(h, &r2, 0, &st), MDSGW_EQUOTA);
		assert_non_null(strstr(st.msg, "quota 'prefix/gwbkt/q"));
		/* so would a plain put of 500 bytes while 600 are reserved */
		snprintf(name, sizeof(name), "q%s/c", pv);
		assert_int_equal(put_simple(h, name, 500, &st), MDSGW_EQUOTA);
		/* commit: the reservation becomes the object */
		qp.bucket = bucket;
		qp.name = qname;
		qp.content_size = 600;
		qp.etag = "\"q\"";
		assert_int_equal(api->quota_commit(h, tok, &qp, &version, NULL, 0, &st), 0);
		assert_int_equal(version, 1);
		assert_int_equal(api->resolve(h, bucket, qname, &o, 0, &st), 0);
		assert_int_equal(o.content_size, 600);
		api->object_release(&o);
		assert_int_equal(api->quota_commit(h, tok, &qp, NULL, NULL, 0, &st),
				 MDSGW_ENOTFOUND);
		/* reserve and release: the amount is given back */
		r.bytes = 400;
		snprintf(name, sizeof(name), "q%s/d", pv);
		r.name = name;
		assert_int_equal(api->quota_reserve(h, &r, 0, &st), 0);
		r2.bytes = 1;
		assert_int_equal(api->quota_reserve(h, &r2, 0, &st), MDSGW_EQUOTA);
		assert_int_equal(api->quota_release(h, r.token, 0, &st), 0);
		assert_int_equal(api->quota_release(h, r.token, 0, &st), MDSGW_ENOTFOUND);
		assert_int_equal(api->quota_reserve(h, &r2, 0, &st), 0);
		assert_int_equal(api->quota_release(h, r2.token, 0, &st), 0);
		/* arguments */
		r.ttl_ms = 0;
		assert_int_equal(api->quota_reserve(h, &r, 0, &st), MDSGW_EINVAL);
		r.ttl_ms = 1000;
		r.size = 8;
		assert_int_equal(api->quota_reserve(h, &r, 0, &st), MDSGW_EABI);
		assert_int_equal(api->quota_release(h, "", 0, &st), MDSGW_EINVAL);

		/* access checks (ABI 1.1): no binding names alice: default deny
		 * (test_gw_access.c drives bindings) */
		a.principal = "alice";
		a.action = "read";
		a.bucket = bucket;
		allowed = 1;
		assert_int_equal(api->access_check(h, &a, &allowed, 0, &st), 0);
		assert_int_equal(allowed, 0);
		assert_true(api->capabilities(h) & MDSGW_CAP_ACCESS);
		assert_true(api->size >= offsetof(struct mdsgw_api, retry_after_ms) +
			    sizeof(api->retry_after_ms));
		assert_int_equal(api->retry_after_ms(), 0);
	}
	api->close(h);
}

static void test_ops_lmdb(void **state)
{
	char cfg[512];

	(void)state;
	cfg_lmdb(cfg, sizeof(cfg), 1);
	run_ops(cfg, "lmdb");
}

static void test_ops_grpc(void **state)
{
	char cfg[512];

	(void)state;
	cfg_grpc(cfg, sizeof(cfg));
	run_ops(cfg, "grpc");
}

/* lmdb: without mds= reads, and refuses writes (fail closed) */
static void test_lmdb_read_only(void **state)
{
	struct mdsgw_status st;
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	char cfg[512];
	mdsgw_handle *h;

	(void)state;
	cfg_lmdb(cfg, sizeof(cfg), 0);
	h = open_or_fail(cfg);
	assert_false(api->capabilities(h) & (MDSGW_CAP_PUT | MDSGW_CAP_QUOTA));
	assert_true(api->capabilities(h) & MDSGW_CAP_LOCAL);
	{
		struct mdsgw_reservation r = MDSGW_RESERVATION_INIT;

		r.bucket = bucket;
		r.name = "ro/r";
		r.bytes = 1;
		r.ttl_ms = 1000;
		assert_int_equal(api->quota_reserve(h, &r, 0, &st), MDSGW_EUNAVAIL);
		assert_non_null(strstr(st.msg, "fail closed"));
	}
	assert_int_equal(put_simple(h, "ro/x", 1, &st), MDSGW_EUNAVAIL);
	assert_non_null(strstr(st.msg, "fail closed"));
	assert_int_equal(api->del(h, bucket, "lmdb/dir/obj2", NULL, NULL, NULL, 0, &st),
			 MDSGW_EUNAVAIL);
	assert_int_equal(api->resolve(h, bucket, "lmdb/dir/obj2", &o, 0, &st), 0);
	assert_int_equal(o.content_size, 2);
	api->object_release(&o);
	/* a second handle on the same environment (LMDB allows one per process:
	 * the library shares it), closed first: the first handle still reads */
	{
		char cfg2[600];
		mdsgw_handle *h2;

		snprintf(cfg2, sizeof(cfg2), "lmdb:%s/.?mds=%s", daemon_.data, daemon_.endpoint);
		h2 = open_or_fail(cfg2);
		assert_int_equal(api->resolve(h2, bucket, "lmdb/dir/obj2", &o, 0, &st), 0);
		api->object_release(&o);
		api->close(h2);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(api->resolve(h, bucket, "lmdb/dir/obj3", &o, 0, &st), 0);
			api->object_release(&o);
		}
	}
	api->close(h);
}

/* A server that accepts TCP and never answers: reads end at the deadline. */
static void test_deadline_blackhole(void **state)
{
	struct mdsgw_status st;
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	char cfg[256];
	mdsgw_handle *h;
	int port, fd = gw_blackhole_open(&port);
	int64_t t0, ms;

	(void)state;
	assert_true(fd >= 0);
	snprintf(cfg, sizeof(cfg), "grpc:127.0.0.1:%d", port);
	h = open_or_fail(cfg);
	t0 = api->now_ns();
	assert_int_equal(api->resolve(h, bucket, "x", &o, api->deadline_in_ms(300), &st),
			 MDSGW_ETIMEDOUT);
	ms = (api->now_ns() - t0) / 1000000;
	if (ms < 250 || ms > 1500)
		fail_msg("deadline of 300 ms ended after %lld ms", (long long)ms);
	assert_non_null(strstr(st.msg, "deadline"));
	/* writes too, and they say the outcome is unknown */
	assert_int_equal(put_simple(h, "bh", 1, &st), MDSGW_ETIMEDOUT);
	api->close(h);
	close(fd);
}

/* mds killed: lmdb: reads go on, remote reads and all writes fail (closed);
 * mds restarted on the same port: the same handles work again. */
static void test_unreachable_and_restart(void **state)
{
	struct mdsgw_status st;
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	char cl[512], cg[512];
	mdsgw_handle *hl, *hg;
	int64_t t0, ms;
	uint64_t version = 0;

	(void)state;
	cfg_lmdb(cl, sizeof(cl), 1);
	cfg_grpc(cg, sizeof(cg));
	hl = open_or_fail(cl);
	hg = open_or_fail(cg);
	assert_int_equal(api->resolve(hg, bucket, "grpc/dir/obj3", &o, 0, &st), 0);
	api->object_release(&o);

	gw_daemon_stop(&daemon_, 1);   /* kill -9 */

	assert_int_equal(api->resolve(hl, bucket, "grpc/dir/obj3", &o, 0, &st), 0);
	assert_int_equal(o.content_size, 3);
	api->object_release(&o);
	{
		struct mdsgw_list_params lp = MDSGW_LIST_PARAMS_INIT;
		struct mdsgw_list_result lr = MDSGW_LIST_RESULT_INIT;
		struct collect col;

		memset(&col, 0, sizeof(col));
		lp.bucket = bucket;
		lp.prefix = "grpc/dir/";
		assert_int_equal(api->list(hl, &lp, collect_fn, &col, &lr, 0, &st), 0);
		assert_int_equal(col.n, 4);
	}
	/* a remote read fails when its deadline passes, not before, not much after */
	t0 = api->now_ns();
	assert_int_equal(api->resolve(hg, bucket, "grpc/dir/obj3", &o,
				      api->deadline_in_ms(400), &st), MDSGW_ETIMEDOUT);
	ms = (api->now_ns() - t0) / 1000000;
	if (ms < 350 || ms > 1500)
		fail_msg("a read with a 400 ms deadline ended after %lld ms", (long long)ms);
	assert_non_null(strstr(st.msg, "unreachable"));
	assert_int_equal(put_simple(hl, "lmdb/while-down", 1, &st), MDSGW_EUNAVAIL);
	assert_non_null(strstr(st.msg, "fail closed"));
	assert_int_equal(put_simple(hg, "grpc/while-down", 1, &st), MDSGW_EUNAVAIL);
	assert_non_null(strstr(st.msg, "fail closed"));
	{
		struct mdsgw_reservation r = MDSGW_RESERVATION_INIT;

		r.bucket = bucket;
		r.name = "grpc/while-down";
		r.bytes = 1;
		r.ttl_ms = 1000;
		assert_int_equal(api->quota_reserve(hl, &r, 0, &st), MDSGW_EUNAVAIL);
		assert_int_equal(api->quota_reserve(hg, &r, 0, &st), MDSGW_EUNAVAIL);
		assert_non_null(strstr(st.msg, "fail closed"));
	}

	assert_int_equal(gw_daemon_restart(&daemon_), 0);

	/* remote reads are retried with backoff across the reconnect */
	assert_int_equal(api->resolve(hg, bucket, "grpc/dir/obj3", &o, 0, &st), 0);
	api->object_release(&o);
	/* writes are not retried by the library; the gateway retries its request */
	{
		int rc = -1;

		for (int i = 0; i < 50 && rc != 0; i++) {
			rc = put_simple(hl, "lmdb/after-restart", 7, &st);
			if (rc)
				usleep(50000);
		}
		assert_int_equal(rc, 0);
	}
	assert_int_equal(api->resolve(hl, bucket, "lmdb/after-restart", &o, 0, &st), 0);
	assert_int_equal(o.content_size, 7);
	api->object_release(&o);
	assert_int_equal(api->resolve(hg, bucket, "lmdb/while-down", &o, 0, &st), MDSGW_ENOTFOUND);
	version = 0;
	assert_int_equal(api->del(hg, bucket, "lmdb/after-restart", NULL, NULL, &version, 0, &st), 0);
	assert_int_equal(version, 1);
	api->close(hl);
	api->close(hg);
}

/* ---- many threads through one handle of each kind ----------------------- */

#define THREADS 8
#define ROUNDS 60

struct thr {
	mdsgw_handle *hl, *hg;
	int id;
	int errors;
	char msg[600];
};

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	struct mdsgw_status st;
	char name[64];

	for (int i = 0; i < ROUNDS; i++) {
		struct mdsgw_object o = MDSGW_OBJECT_INIT;
		struct mdsgw_put p = MDSGW_PUT_INIT;
		mdsgw_handle *w = i % 2 ? t->hl : t->hg;
		uint64_t v = 0;

		snprintf(name, sizeof(name), "thr/%d/%d", t->id, i % 5);
		p.bucket = bucket;
		p.name = name;
		p.content_size = (uint64_t)i;
		if (api->put(w, &p, &v, NULL, 0, &st) != 0 || v != (uint64_t)(i / 5 + 1)) {
			snprintf(t->msg, sizeof(t->msg), "put %s: v=%llu %s", name,
				 (unsigned long long)v, st.msg);
			t->errors++;
			continue;
		}
		for (int k = 0; k < 2; k++) {
			mdsgw_handle *r = k ? t->hg : t->hl;

			if (api->resolve(r, bucket, name, &o, 0, &st) != 0 ||
			    o.content_size != (uint64_t)i || o.version != v) {
				snprintf(t->msg, sizeof(t->msg), "resolve %s via %s: %s", name,
					 api->provider(r), st.msg);
				t->errors++;
			}
			api->object_release(&o);
		}
		if (i % 10 == 0) {
			struct mdsgw_list_params lp = MDSGW_LIST_PARAMS_INIT;
			struct mdsgw_list_result lr = MDSGW_LIST_RESULT_INIT;
			struct collect col;

			memset(&col, 0, sizeof(col));
			snprintf(name, sizeof(name), "thr/%d/", t->id);
			lp.bucket = bucket;
			lp.prefix = name;
			if (api->list(i % 20 ? t->hg : t->hl, &lp, collect_fn, &col, &lr, 0, &st) ||
			    col.n != (i < 5 ? i + 1 : 5)) {
				snprintf(t->msg, sizeof(t->msg), "list %s: n=%d %s", name, col.n,
					 st.msg);
				t->errors++;
			}
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct thr t[THREADS];
	pthread_t tid[THREADS];
	char cl[512], cg[512];
	mdsgw_handle *hl, *hg;

	(void)state;
	cfg_lmdb(cl, sizeof(cl), 1);
	cfg_grpc(cg, sizeof(cg));
	hl = open_or_fail(cl);
	hg = open_or_fail(cg);
	for (int i = 0; i < THREADS; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].hl = hl;
		t[i].hg = hg;
		t[i].id = i;
		assert_int_equal(pthread_create(&tid[i], NULL, thread_main, &t[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(tid[i], NULL);
		if (t[i].errors)
			fail_msg("thread %d: %d errors, last: %s", i, t[i].errors, t[i].msg);
	}
	api->close(hl);
	api->close(hg);
}

/* ---- main ---------------------------------------------------------------- */

/* A 1,000-byte hard limit on prefix q<pv>/ (set with the project's client). */
static int set_quota(const char *scope)
{
	struct mds_client_opts co = { 0 };
	struct mds_client_status cs;
	struct mds_status ms;
	struct mds_client *c;
	Mds__V1__SetQuotaRequest req = MDS__V1__SET_QUOTA_REQUEST__INIT;
	Mds__V1__QuotaLimits lim = MDS__V1__QUOTA_LIMITS__INIT;
	Mds__V1__Limit max = MDS__V1__LIMIT__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	co.endpoint = daemon_.endpoint;
	if (mds_client_open(&c, &co, &ms) != 0)
		return -1;
	max.value = 1000;
	lim.max_bytes = &max;
	req.scope = (char *)scope;
	req.limits = &lim;
	req.principal = (char *)"test_gw_dlopen";
	rc = mds_client_call(c, "/mds.v1.Quota/SetQuota", &req.base,
			     &mds__v1__quota_info__descriptor, &resp, &cs);
	if (rc)
		fprintf(stderr, "SetQuota %s: %s\n", scope, cs.msg);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	mds_client_close(c);
	return rc;
}

static int group_setup(void **state)
{
	(void)state;
	if (gw_daemon_start(&daemon_, getenv("GW_MDS"), 0) != 0)
		return -1;
	if (gw_mdsctl(&daemon_, mdsctl_bin, "team", "create", "gwteam", (char *)NULL) != 0 ||
	    gw_mdsctl(&daemon_, mdsctl_bin, "bucket", "create", bucket, "--team", "gwteam",
		      (char *)NULL) != 0) {
		fprintf(stderr, "cannot create the test team and bucket\n");
		return -1;
	}
	if (set_quota("prefix/gwbkt/qlmdb/") != 0 || set_quota("prefix/gwbkt/qgrpc/") != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	gw_daemon_cleanup(&daemon_);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_ops_lmdb),
		cmocka_unit_test(test_ops_grpc),
		cmocka_unit_test(test_lmdb_read_only),
		cmocka_unit_test(test_deadline_blackhole),
		cmocka_unit_test(test_unreachable_and_restart),
		cmocka_unit_test(test_threads),
	};
	struct mdsgw_status st;
	mdsgw_get_api_fn get;
	void *lib;

	if (argc != 4) {
		fprintf(stderr, "usage: test_gw_dlopen LIBMDSGW.so MDS_BIN MDSCTL_BIN\n");
		return 2;
	}
	setenv("GW_LIB", argv[1], 1);
	setenv("GW_MDS", argv[2], 1);
	mdsctl_bin = argv[3];
	/* exactly what a gateway does: dlopen, one dlsym, the handshake */
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	get = (mdsgw_get_api_fn)(uintptr_t)dlsym(lib, "mdsgw_get_api");
	if (!get || get(MDSGW_ABI_VERSION, &api, &st) != 0) {
		fprintf(stderr, "mdsgw_get_api: %s\n", get ? st.msg : dlerror());
		return 1;
	}
	return cmocka_run_group_tests_name("gateway_dlopen", tests, group_setup, group_teardown);
}
