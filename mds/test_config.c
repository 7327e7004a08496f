/* test_config.c - `mds serve` settings: defaults, flag/file values, the
 * cross-field rules an operator relies on (no plaintext off loopback
 * without --insecure, TLS pieces together), and the gRPC status mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "rpc.h"

static void test_defaults(void **state)
{
	struct mds_config c;
	struct mds_status st;

	(void)state;
	assert_int_equal(mds_config_init(&c), 0);
	assert_string_equal(c.data, "./var/mds");
	assert_string_equal(c.listen, "127.0.0.1:7420");
	assert_string_equal(c.http, "127.0.0.1:7421");
	assert_int_equal(c.explicit, 0);
	/* secure by default: the local issuer, never dev mode */
	assert_int_equal(mds_config_auth_mode(&c), MDS_CONFIG_AUTH_LOCAL);
	assert_int_equal(mds_config_check(&c, &st), 0);
	mds_config_release(&c);
}

static void test_rules(void **state)
{
	struct mds_config c;
	struct mds_status st;

	(void)state;
	mds_config_init(&c);
	assert_int_equal(mds_config_set(&c, "listen", "0.0.0.0:7420", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "--insecure"));
	assert_int_equal(mds_config_set(&c, "insecure", NULL, &st), 0);
	assert_int_equal(mds_config_check(&c, &st), 0);
	assert_int_equal(mds_config_set(&c, "insecure", "false", &st), 0);
	/* the default (local issuer) is fine off loopback with TLS ... */
	assert_int_equal(mds_config_set(&c, "tls-cert", "s.pem", &st), 0);
	assert_int_equal(mds_config_set(&c, "tls-key", "s.key", &st), 0);
	assert_int_equal(mds_config_auth_mode(&c), MDS_CONFIG_AUTH_LOCAL);
	assert_int_equal(mds_config_check(&c, &st), 0);
	/* ... dev mode (no authentication) is loopback-only unless --insecure */
	assert_int_equal(mds_config_set(&c, "dev", NULL, &st), 0);
	assert_int_equal(mds_config_auth_mode(&c), MDS_CONFIG_AUTH_DEV);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "auth-mode dev"));
	assert_int_equal(mds_config_set(&c, "auth-mode", "local", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), 0);
	assert_int_equal(mds_config_set(&c, "auth-mode", "dev", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	assert_int_equal(mds_config_set(&c, "auth-mode", "jwt", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);   /* no issuer... */
	assert_non_null(strstr(st.msg, "--jwt-issuer"));
	assert_int_equal(mds_config_set(&c, "jwt-issuer", "https://idp", &st), 0);
	assert_int_equal(mds_config_set(&c, "jwt-audience", "mds", &st), 0);
	assert_int_equal(mds_config_set(&c, "jwks-file", "jwks.json", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), 0);
	/* a key set URL: https only, not together with a file */
	assert_int_equal(mds_config_set(&c, "jwks-url", "https://idp/jwks", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "not both"));
	free(c.jwks_file);
	c.jwks_file = NULL;
	assert_int_equal(mds_config_check(&c, &st), 0);
	assert_int_equal(mds_config_set(&c, "jwks-url", "http://idp/jwks", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "only https://"));
	assert_int_equal(mds_config_set(&c, "jwks-url", "https:///jwks", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	assert_int_equal(mds_config_set(&c, "jwks-url", "HTTPS://idp/jwks", &st), 0);
	assert_int_equal(mds_config_set(&c, "jwks-ca-file", "idp-ca.pem", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), 0);
	free(c.jwks_url);
	c.jwks_url = NULL;
	assert_int_equal(mds_config_set(&c, "jwks-file", "jwks.json", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL); /* CA file without URL */
	free(c.jwks_ca_file);
	c.jwks_ca_file = NULL;
	assert_int_equal(mds_config_check(&c, &st), 0);
	assert_int_equal(mds_config_set(&c, "auth-mode", "none", &st), MDS_EINVAL);
	/* provider settings without --auth-mode mean jwt, never dev; local
	 * mode makes its own issuer and refuses them */
	c.auth_mode_given = 0;
	assert_int_equal(mds_config_auth_mode(&c), MDS_CONFIG_AUTH_JWT);
	assert_int_equal(mds_config_check(&c, &st), 0);
	assert_int_equal(mds_config_set(&c, "auth-mode", "local", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "--auth-mode local makes its own issuer"));
	assert_int_equal(mds_config_set(&c, "auth-mode", "jwt", &st), 0);
	free(c.tls_cert);
	free(c.tls_key);
	c.tls_cert = c.tls_key = NULL;
	assert_int_equal(mds_config_set(&c, "tls-cert", "s.pem", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);   /* no key */
	assert_int_equal(mds_config_set(&c, "tls-key", "s.key", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), 0);
	assert_int_equal(mds_config_set(&c, "tls-client-auth", "true", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);   /* no CA */
	assert_int_equal(mds_config_set(&c, "tls-ca", "ca.pem", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), 0);
	assert_int_equal(c.explicit, 1);
	mds_config_release(&c);
}

static void test_values(void **state)
{
	struct mds_config c;
	struct mds_status st;

	(void)state;
	mds_config_init(&c);
	assert_int_equal(mds_config_set(&c, "map-size", "2GiB", &st), 0);
	assert_int_equal(c.map_size, 2ull << 30);
	assert_int_equal(mds_config_set(&c, "max-message", "512", &st), MDS_EINVAL);
	assert_int_equal(c.threads, 0);   /* auto */
	assert_int_equal(mds_config_set(&c, "threads", "65", &st), MDS_EINVAL);
	assert_int_equal(mds_config_set(&c, "threads", "4", &st), 0);
	assert_int_equal(c.threads, 4);
	assert_int_equal(mds_config_set(&c, "threads", "0", &st), 0);
	assert_int_equal(c.threads, 0);
	assert_int_equal(mds_config_set(&c, "log-level", "loud", &st), MDS_EINVAL);
	assert_int_equal(mds_config_set(&c, "lissten", "x", &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "lissten"));
	assert_int_equal(mds_config_set(&c, "data", "", &st), MDS_EINVAL);
	assert_int_equal(mds_config_set(&c, "http", "not-an-address", &st), 0);
	assert_int_equal(mds_config_check(&c, &st), MDS_EINVAL);
	mds_config_release(&c);
}

/* Feed retention: 7 days and 1,000,000 leaves by default; never 0 leaves. */
static void test_feed_retention(void **state)
{
	struct mds_config c;
	struct mds_status st;

	(void)state;
	mds_config_init(&c);
	assert_int_equal(c.feed_retain_ns, 7ull * 86400 * 1000000000);
	assert_int_equal(c.feed_retain_leaves, 1000000);
	assert_int_equal(c.feed_compact_every_ns, 60ull * 1000000000);
	assert_int_equal(mds_config_set(&c, "feed-retain", "36h", &st), 0);
	assert_int_equal(c.feed_retain_ns, 36ull * 3600 * 1000000000);
	assert_int_equal(mds_config_set(&c, "feed-retain", "0", &st), 0);
	assert_int_equal(c.feed_retain_ns, 0);
	assert_int_equal(mds_config_set(&c, "feed-retain", "7", &st), MDS_EINVAL);
	assert_int_equal(mds_config_set(&c, "feed-retain-leaves", "2e6", &st), 0);
	assert_int_equal(c.feed_retain_leaves, 2000000);
	assert_int_equal(mds_config_set(&c, "feed-retain-leaves", "0", &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "feed-retain-leaves"));
	assert_int_equal(mds_config_set(&c, "feed-compact-every", "1ms", &st), MDS_EINVAL);
	assert_int_equal(mds_config_set(&c, "feed-compact-every", "250ms", &st), 0);
	assert_int_equal(c.feed_compact_every_ns, 250000000);
	mds_config_release(&c);
}

static void test_file(void **state)
{
	char path[] = "/tmp/mds-config-XXXXXX";
	int fd = mkstemp(path);
	struct mds_config c;
	struct mds_status st;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("{\"listen\": \"127.0.0.1:9000\", \"threads\": 3, \"tls-client-auth\": false}", f);
	fclose(f);
	mds_config_init(&c);
	assert_int_equal(mds_config_load_file(&c, path, &st), 0);
	assert_string_equal(c.listen, "127.0.0.1:9000");
	assert_int_equal(c.threads, 3);
	f = fopen(path, "w");
	fputs("{\"threads\": [1]}", f);
	fclose(f);
	assert_int_equal(mds_config_load_file(&c, path, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "threads"));
	mds_config_release(&c);
	unlink(path);
}

static void test_hostport(void **state)
{
	char host[64];
	int port;

	(void)state;
	assert_int_equal(mds_split_hostport("127.0.0.1:7420", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7420);
	assert_int_equal(mds_split_hostport("[::1]:80", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(mds_split_hostport("nohost", host, sizeof(host), &port), MDS_EINVAL);
	assert_int_equal(mds_split_hostport("h:99999", host, sizeof(host), &port), MDS_EINVAL);
	assert_int_equal(mds_split_hostport(":80", host, sizeof(host), &port), MDS_EINVAL);
	assert_true(mds_host_is_loopback("127.0.0.1"));
	assert_true(mds_host_is_loopback("127.9.9.9"));
	assert_true(mds_host_is_loopback("::1"));
	assert_false(mds_host_is_loopback("0.0.0.0"));
	assert_false(mds_host_is_loopback("10.1.2.3"));
}

static void test_status_map(void **state)
{
	(void)state;
	assert_int_equal(mds_rpc_status_code(0), GRPC_STATUS_OK);
	assert_int_equal(mds_rpc_status_code(MDS_EINVAL), GRPC_STATUS_INVALID_ARGUMENT);
	assert_int_equal(mds_rpc_status_code(MDS_ENOTFOUND), GRPC_STATUS_NOT_FOUND);
	assert_int_equal(mds_rpc_status_code(MDS_EEXIST), GRPC_STATUS_ALREADY_EXISTS);
	assert_int_equal(mds_rpc_status_code(MDS_EPRECOND), GRPC_STATUS_FAILED_PRECONDITION);
	assert_int_equal(mds_rpc_status_code(MDS_ENOTEMPTY), GRPC_STATUS_FAILED_PRECONDITION);
	assert_int_equal(mds_rpc_status_code(MDS_ENOSPC), GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_int_equal(mds_rpc_status_code(MDS_EBUSY), GRPC_STATUS_RESOURCE_EXHAUSTED);
	assert_int_equal(mds_rpc_status_code(MDS_ESHUTDOWN), GRPC_STATUS_UNAVAILABLE);
	assert_int_equal(mds_rpc_status_code(MDS_ECORRUPT), GRPC_STATUS_DATA_LOSS);
	assert_int_equal(mds_rpc_status_code(-5 /* -EIO */), GRPC_STATUS_INTERNAL);
	assert_string_equal(mds_rpc_status_name(GRPC_STATUS_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(mds_rpc_status_name((grpc_status_code)99), "UNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),  cmocka_unit_test(test_rules),
		cmocka_unit_test(test_values),    cmocka_unit_test(test_file),
		cmocka_unit_test(test_feed_retention),
		cmocka_unit_test(test_hostport),  cmocka_unit_test(test_status_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
