/*
 * test_gate.c - the request-path gate without a server: rate-limit specs,
 * per-team limits with retry-after, identity rules in jwt mode (no
 * credentials, bad token, gateway on behalf of a user, non-gateway naming
 * a principal, mTLS identity), bindings added and removed while running,
 * bootstrap admins, and the audit principal stamp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "authz.h"
#include "namespace.pb-c.h"
#include "policy.h"
#include "quota.pb-c.h"
#include "rpc.h"
#include "rpc_gate.h"
#include "rpc_blob.h"
#include "rpc_quota.h"
#include "testutil.h"

static void test_bad_specs(void **state)
{
	static const char *const bad[] = {
		"t1", "t1:read", "t1:read=x", "t1:reed=1/1", "t1:read=1/0", "*:read=-1",
		"t1:read=1/1/1", "t1:read=1,", "bad team!:read=1/1",
	};
	struct mds_gate_opts o;
	struct mds_gate *g;
	struct mds_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.rate_limits = bad[i];
		mds_status_clear(&st);
		if (mds_gate_new(&g, &o, &st) != MDS_EINVAL)
			fail_msg("spec accepted: %s", bad[i]);
		assert_null(g);
		assert_true(st.msg[0] != 0);
	}
	memset(&o, 0, sizeof(o));
	o.rate_limits = "t1:read=10/20,write=1;*:list=5/5";
	assert_int_equal(mds_gate_new(&g, &o, &st), 0);
	assert_false(mds_gate_is_open(g));
	mds_gate_free(g);
	memset(&o, 0, sizeof(o));
	assert_int_equal(mds_gate_new(&g, &o, &st), 0);
	assert_true(mds_gate_is_open(g));
	mds_gate_free(g);
}

struct fx {
	char dir[256];
	struct mds_store *s;
	struct mds_reader *r;
};

static void fx_open(struct fx *f)
{
	tu_tmpdir(f->dir);
	assert_int_equal(mds_store_open(&f->s, f->dir, NULL, NULL), 0);
	assert_int_equal(tu_team(f->s, "t1"), 0);
	assert_int_equal(tu_team(f->s, "t2"), 0);
	assert_int_equal(tu_bucket(f->s, "bkt-one", "t1"), 0);
	assert_int_equal(tu_bucket(f->s, "bkt-two", "t2"), 0);
	assert_int_equal(mds_reader_open(f->s, &f->r), 0);
}

static void fx_close(struct fx *f)
{
	mds_reader_close(f->r);
	mds_store_close(f->s);
	tu_rmrf(f->dir);
}

static grpc_status_code head(struct mds_gate *g, struct mds_reader *r, const char *bucket,
			     const struct mds_gate_request *base, uint32_t *retry, char *msg)
{
	Mds__V1__HeadObjectRequest rq = MDS__V1__HEAD_OBJECT_REQUEST__INIT;
	struct mds_gate_request q = *base;

	rq.bucket = (char *)bucket;
	rq.name = (char *)"x";
	q.method = "HeadObject";
	q.req = &rq.base;
	return mds_gate_check(g, &q, r, retry, NULL, 0, msg, 256);
}

static void test_rate_limit(void **state)
{
	struct fx f;
	struct mds_gate_opts o;
	struct mds_gate *g;
	struct mds_gate_request q;
	struct mds_status st;
	uint32_t retry = 0;
	char msg[256];

	(void)state;
	fx_open(&f);
	memset(&o, 0, sizeof(o));
	o.rate_limits = "t1:read=1/2";
	assert_int_equal(mds_gate_new(&g, &o, &st), 0);
	memset(&q, 0, sizeof(q));
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg), GRPC_STATUS_OK);
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg), GRPC_STATUS_OK);
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg),
			 GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_true(retry >= 1 && retry <= 1000);
	assert_non_null(strstr(msg, "t1"));
	/* another team, and a bucket that does not exist (no team: not limited) */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(head(g, f.r, "bkt-two", &q, &retry, msg), GRPC_STATUS_OK);
		assert_int_equal(head(g, f.r, "nope-bkt", &q, &retry, msg), GRPC_STATUS_OK);
	}
	mds_gate_free(g);
	fx_close(&f);
}

static void test_jwt_identity(void **state)
{
	struct fx f;
	struct mds_auth_config ac;
	struct mds_auth *auth;
	struct mds_gate_opts o;
	struct mds_gate *g;
	struct mds_gate_request q;
	struct mds_status st;
	struct mds_policy_binding b;
	const char *iss[] = { "https://idp" };
	const char *gw[] = { "gateway-1" }, *app[] = { "app-1" };
	uint32_t retry;
	char msg[256];

	(void)state;
	fx_open(&f);
	mds_auth_config_init(&ac);
	ac.issuers = iss;
	ac.n_issuers = 1;
	ac.audience = "mds";
	assert_int_equal(mds_auth_open(&ac, &auth, &st), 0);
	memset(&o, 0, sizeof(o));
	o.mode = MDS_GATE_JWT;
	o.auth = auth;
	o.gateways = "gateway-1, gw-2";
	o.admins = "root@x";
	assert_int_equal(mds_gate_new(&g, &o, &st), 0);

	memset(&q, 0, sizeof(q));
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg), GRPC_STATUS_UNAUTHENTICATED);
	q.authorization = "Bearer a.b.c";
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg), GRPC_STATUS_UNAUTHENTICATED);
	assert_non_null(strstr(msg, "invalid bearer token"));

	/* a gateway acting for alice: judged as alice */
	memset(&q, 0, sizeof(q));
	q.peer = gw;
	q.n_peer = 1;
	q.on_behalf_of = "alice";
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg),
			 GRPC_STATUS_PERMISSION_DENIED);
	assert_non_null(strstr(msg, "'alice' may not read on bucket 'bkt-one'"));
	memset(&b, 0, sizeof(b));
	b.id = 7;
	b.subject = tu_s("alice");
	b.role = tu_s("reader");
	b.scope = tu_s("team/t1");
	b.condition = tu_s("");
	assert_int_equal(mds_gate_policy_added(g, &b, &st), 0);
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg), GRPC_STATUS_OK);
	assert_int_equal(head(g, f.r, "bkt-two", &q, &retry, msg),
			 GRPC_STATUS_PERMISSION_DENIED);
	/* a group named by the gateway */
	q.on_behalf_of = "bob";
	q.on_behalf_groups = "x,ops";
	b.id = 8;
	b.subject = tu_s("group:ops");
	b.scope = tu_s("bucket/bkt-two");
	assert_int_equal(mds_gate_policy_added(g, &b, &st), 0);
	assert_int_equal(head(g, f.r, "bkt-two", &q, &retry, msg), GRPC_STATUS_OK);
	assert_int_equal(mds_gate_policy_removed(g, 8), 0);
	assert_int_equal(head(g, f.r, "bkt-two", &q, &retry, msg),
			 GRPC_STATUS_PERMISSION_DENIED);

	/* not a gateway: may not name a principal, even one that is allowed */
	q.peer = app;
	q.on_behalf_of = "alice";
	q.on_behalf_groups = NULL;
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg),
			 GRPC_STATUS_PERMISSION_DENIED);
	assert_non_null(strstr(msg, "gateway"));
	/* its own identity is mtls:app-1 */
	q.on_behalf_of = NULL;
	assert_int_equal(head(g, f.r, "bkt-one", &q, &retry, msg),
			 GRPC_STATUS_PERMISSION_DENIED);
	assert_non_null(strstr(msg, "'mtls:app-1'"));
	/* the bootstrap admin from configuration */
	q.peer = gw;
	q.on_behalf_of = "root@x";
	assert_int_equal(head(g, f.r, "bkt-two", &q, &retry, msg), GRPC_STATUS_OK);

	/* audit principal stamp: SetQuota only */
	{
		Mds__V1__SetQuotaRequest *sq = malloc(sizeof(*sq));
		Mds__V1__HeadObjectRequest hq = MDS__V1__HEAD_OBJECT_REQUEST__INIT;

		mds__v1__set_quota_request__init(sq);
		assert_int_equal(mds_gate_stamp_principal(g, "SetQuota", &sq->base, "alice"), 0);
		assert_string_equal(sq->principal, "alice");
		assert_int_equal(mds_gate_stamp_principal(g, "SetQuota", &sq->base, "bob"), 0);
		assert_string_equal(sq->principal, "bob");
		assert_int_equal(mds_gate_stamp_principal(g, "HeadObject", &hq.base, "bob"), 0);
		protobuf_c_message_free_unpacked(&sq->base, NULL);
	}
	mds_gate_free(g);
	mds_auth_close(auth);
	fx_close(&f);
}

/* Every registered method has an authorization rule (else jwt mode refuses it). */
static void test_every_method_routed(void **state)
{
	const struct {
		const struct mds_rpc_method *m;
		size_t n;
	} tables[] = {
		{ mds_rpc_namespace_methods, mds_rpc_namespace_count },
		{ mds_rpc_admin_methods, mds_rpc_admin_count },
		{ mds_rpc_quota_methods, mds_rpc_quota_count },
		{ mds_rpc_blob_methods, mds_rpc_blob_count },
		{ mds_rpc_policy_methods, mds_rpc_policy_count },
		{ mds_rpc_feed_methods, mds_rpc_feed_count },
		{ mds_rpc_global_methods, mds_rpc_global_count },
	};
	size_t n = 0;

	(void)state;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < tables[t].n; i++, n++)
			if (!mds_gate_has_route(tables[t].m[i].name))
				fail_msg("method %s has no route in rpc_gate.c", tables[t].m[i].name);
	assert_true(n > 40);
	assert_false(mds_gate_has_route("NoSuchMethod"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_method_routed),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_jwt_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
