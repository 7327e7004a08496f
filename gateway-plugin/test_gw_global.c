/*
 * test_gw_global.c - the global: provider against two federated islands:
 * island-b's objects reach island-a's global view through the verified
 * feed; through global: on island-a, resolve finds either island's copy
 * (newest by default, or the one of origin=) and says which island it is
 * from; listing gives (name, origin) order across islands, with paging;
 * writes, quota calls and delimiter listings are refused clearly.
 *
 * usage: test_gw_global MDS_BIN MDSCTL_BIN
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

static struct gw_daemon a_, b_;
static const char *mds_bin, *mdsctl_bin;
static char peer_arg[512];
static const char *a_args[] = { "--peer", peer_arg, "--feed-cadence-ms", "50", NULL };
static const char *const b_args[] = { "--feed-cadence-ms", "50", NULL };

static mdsgw_handle *open_cfg(const char *fmt, ...)
{
	struct mdsgw_status st;
	mdsgw_handle *h = NULL;
	char cfg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cfg, sizeof(cfg), fmt, ap);
	va_end(ap);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &h, &st) != 0)
		fail_msg("open '%s': %s", cfg, st.msg);
	return h;
}

static void put(const struct gw_daemon *d, const char *name, const char *etag)
{
	mdsgw_handle *h = open_cfg("grpc:%s", d->endpoint);
	struct mdsgw_put p = MDSGW_PUT_INIT;
	struct mdsgw_status st;

	p.bucket = "gbk";
	p.name = name;
	p.etag = etag;
	p.content_size = 3;
	if (mdsgw_put(h, &p, NULL, NULL, 0, &st) != 0)
		fail_msg("put %s on %s: %s", name, d->endpoint, st.msg);
	mdsgw_close(h);
}

struct seen {
	char names[16][64];
	char origins[16][32];
	int n;
};

static int collect(void *arg, const struct mdsgw_entry *e)
{
	struct seen *s = arg;

	if (s->n == 16)
		return 1;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
	snprintf(s->origins[s->n], sizeof(s->origins[0]), "%s",
		 e->obj && e->obj->origin ? e->obj->origin : "?");
	s->n++;
	return 0;
}

static void test_resolve(void **state)
{
	mdsgw_handle *g = open_cfg("global:%s?timeout_ms=3000", a_.endpoint);
	mdsgw_handle *ga = open_cfg("global:%s?origin=island-a", a_.endpoint);
	mdsgw_handle *gb = open_cfg("global:%s?origin=island-b", a_.endpoint);
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	struct mdsgw_status st;

	(void)state;
	assert_string_equal(mdsgw_provider(g), "global");
	assert_int_equal(mdsgw_capabilities(g), MDSGW_CAP_RESOLVE | MDSGW_CAP_LIST);
	/* both islands hold x; island-b's is newer */
	assert_int_equal(mdsgw_resolve(g, "gbk", "x", &o, 0, &st), 0);
	assert_string_equal(o.origin, "island-b");
	assert_string_equal(o.etag, "\"eb\"");
	assert_string_equal(o.bucket, "gbk");
	assert_int_equal(o.content_size, 3);
	mdsgw_object_release(&o);
	assert_int_equal(mdsgw_resolve(ga, "gbk", "x", &o, 0, &st), 0);
	assert_string_equal(o.origin, "island-a");
	assert_string_equal(o.etag, "\"ea\"");
	mdsgw_object_release(&o);
	assert_int_equal(mdsgw_resolve(gb, "gbk", "x", &o, 0, &st), 0);
	assert_string_equal(o.origin, "island-b");
	mdsgw_object_release(&o);
	/* one island's objects only there */
	assert_int_equal(mdsgw_resolve(g, "gbk", "only-b", &o, 0, &st), 0);
	assert_string_equal(o.origin, "island-b");
	mdsgw_object_release(&o);
	assert_int_equal(mdsgw_resolve(ga, "gbk", "only-b", &o, 0, &st), MDSGW_ENOTFOUND);
	assert_int_equal(mdsgw_resolve(g, "gbk", "nowhere", &o, 0, &st), MDSGW_ENOTFOUND);
	assert_non_null(strstr(st.msg, "nowhere"));
	/* an object of a grpc: handle has no origin */
	mdsgw_close(ga);
	ga = open_cfg("grpc:%s", a_.endpoint);
	assert_int_equal(mdsgw_resolve(ga, "gbk", "x", &o, 0, &st), 0);
	assert_null(o.origin);
	mdsgw_object_release(&o);
	mdsgw_close(g);
	mdsgw_close(ga);
	mdsgw_close(gb);
}

static void test_list(void **state)
{
	static const char *const want[][2] = {
		{ "only-a", "island-a" }, { "only-b", "island-b" },
		{ "x", "island-a" }, { "x", "island-b" },
	};
	mdsgw_handle *g = open_cfg("global:%s", a_.endpoint);
	struct mdsgw_list_params p = MDSGW_LIST_PARAMS_INIT;
	struct mdsgw_list_result r = MDSGW_LIST_RESULT_INIT;
	struct mdsgw_status st;
	struct seen s;
	char token[MDSGW_TOKEN_MAX + 1] = "";
	int pages = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	p.bucket = "gbk";
	assert_int_equal(mdsgw_list(g, &p, collect, &s, &r, 0, &st), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(r.key_count, 4);
	assert_false(r.truncated);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(s.names[i], want[i][0]);
		assert_string_equal(s.origins[i], want[i][1]);
	}
	/* one entry per page, through the tokens: the same sequence */
	memset(&s, 0, sizeof(s));
	p.max_keys = 1;
	do {
		p.token = token[0] ? token : NULL;
		assert_int_equal(mdsgw_list(g, &p, collect, &s, &r, 0, &st), 0);
		snprintf(token, sizeof(token), "%s", r.next_token);
		pages++;
	} while (r.truncated && pages < 10);
	assert_int_equal(s.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(s.names[i], want[i][0]);
		assert_string_equal(s.origins[i], want[i][1]);
	}
	/* prefix */
	memset(&s, 0, sizeof(s));
	p.max_keys = -1;
	p.token = NULL;
	p.prefix = "only-";
	assert_int_equal(mdsgw_list(g, &p, collect, &s, &r, 0, &st), 0);
	assert_int_equal(s.n, 2);
	/* no delimiter roll-up in the global view */
	p.delimiter = "/";
	assert_int_equal(mdsgw_list(g, &p, collect, &s, &r, 0, &st), MDSGW_EINVAL);
	assert_non_null(strstr(st.msg, "delimiter"));
	mdsgw_close(g);
}

static void test_read_only(void **state)
{
	mdsgw_handle *g = open_cfg("global:%s", a_.endpoint);
	struct mdsgw_put p = MDSGW_PUT_INIT;
	struct mdsgw_reservation r = MDSGW_RESERVATION_INIT;
	struct mdsgw_access a = MDSGW_ACCESS_INIT;
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	struct mdsgw_status st;
	int allowed = 1;

	(void)state;
	p.bucket = "gbk";
	p.name = "new";
	assert_int_equal(mdsgw_put(g, &p, NULL, NULL, 0, &st), MDSGW_EREADONLY);
	assert_non_null(strstr(st.msg, "read-only"));
	assert_string_equal(mdsgw_error_name(MDSGW_EREADONLY), "MDSGW_EREADONLY");
	assert_int_equal(mdsgw_delete(g, "gbk", "x", NULL, NULL, NULL, 0, &st), MDSGW_EREADONLY);
	r.bucket = "gbk";
	r.name = "new";
	r.bytes = 1;
	r.ttl_ms = 1000;
	assert_int_equal(mdsgw_quota_reserve(g, &r, 0, &st), MDSGW_EREADONLY);
	assert_int_equal(mdsgw_quota_release(g, "0123", 0, &st), MDSGW_EREADONLY);
	a.principal = "p";
	a.action = "read";
	a.bucket = "gbk";
	assert_int_equal(mdsgw_access_check(g, &a, &allowed, 0, &st), MDSGW_ENOTSUP);
	assert_int_equal(allowed, 0);
	/* nothing was written on either island */
	mdsgw_close(g);
	g = open_cfg("grpc:%s", a_.endpoint);
	assert_int_equal(mdsgw_resolve(g, "gbk", "new", &o, 0, &st), MDSGW_ENOTFOUND);
	mdsgw_close(g);
}

/* ---- setup: island-b, then island-a following it -------------------------- */

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

static int mk(const struct gw_daemon *d)
{
	return gw_mdsctl(d, mdsctl_bin, "team", "create", "gt", (char *)NULL) ||
	       gw_mdsctl(d, mdsctl_bin, "bucket", "create", "gbk", "--team", "gt", (char *)NULL);
}

static int group_setup(void **state)
{
	char vkey[256];
	mdsgw_handle *g = NULL;
	struct mdsgw_object o = MDSGW_OBJECT_INIT;
	struct mdsgw_status st;
	int64_t end;
	char cfg[128];
	int rc;

	(void)state;
	if (gw_daemon_start_ex(&b_, mds_bin, 0, b_args, "island-b") != 0 ||
	    read_vkey(b_.data, vkey, sizeof(vkey)) != 0)
		return -1;
	snprintf(peer_arg, sizeof(peer_arg), "island-b=%s=%s", b_.endpoint, vkey);
	if (gw_daemon_start_ex(&a_, mds_bin, 0, a_args, "island-a") != 0)
		return -1;
	if (mk(&a_) || mk(&b_))
		return -1;
	put(&a_, "x", "\"ea\"");
	put(&a_, "only-a", "\"a\"");
	usleep(2000);                     /* island-b's x is the newer copy */
	put(&b_, "x", "\"eb\"");
	put(&b_, "only-b", "\"b\"");
	/* wait for island-b's state to reach island-a's view */
	snprintf(cfg, sizeof(cfg), "global:%s?origin=island-b", a_.endpoint);
	if (mdsgw_open(MDSGW_ABI_VERSION, cfg, &g, &st) != 0)
		return -1;
	end = mdsgw_deadline_in_ms(15000);
	while ((rc = mdsgw_resolve(g, "gbk", "only-b", &o, mdsgw_deadline_in_ms(1000), &st)) != 0 &&
	       mdsgw_now_ns() < end)
		usleep(20000);
	mdsgw_close(g);
	if (rc) {
		fprintf(stderr, "island-b's objects never reached island-a's view: %s\n", st.msg);
		return -1;
	}
	mdsgw_object_release(&o);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	gw_daemon_cleanup(&a_);
	gw_daemon_cleanup(&b_);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_read_only),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: test_gw_global MDS_BIN MDSCTL_BIN\n");
		return 2;
	}
	mds_bin = argv[1];
	mdsctl_bin = argv[2];
	return cmocka_run_group_tests_name("gateway_global", tests, group_setup, group_teardown);
}
