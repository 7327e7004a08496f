/*
 * config.c - settings of `mds serve` (see config.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "jwks_fetch.h"
#include "units.h"

static int set_str(char **dst, const char *v)
{
	char *p = strdup(v);

	if (!p)
		return MDS_ENOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

int mds_config_init(struct mds_config *c)
{
	memset(c, 0, sizeof(*c));
	c->threads = 2;
	c->max_message = 4u << 20;
	c->grace_ms = 5000;
	c->feed_cadence_ms = 100;
	c->feed_heartbeat_ms = 10000;
	c->log_level = MDS_LOG_INFO;
	c->auth_mode = MDS_CONFIG_AUTH_LOCAL;
	c->refusal_hold_ms = 20;
	c->token_cache = 4096;
	if (set_str(&c->data, "./var/mds") || set_str(&c->listen, "127.0.0.1:7420") ||
	    set_str(&c->http, "127.0.0.1:7421")) {
		mds_config_release(c);
		return MDS_ENOMEM;
	}
	return 0;
}

void mds_config_release(struct mds_config *c)
{
	free(c->data);
	free(c->listen);
	free(c->http);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->port_file);
	free(c->jwt_issuers);
	free(c->jwt_audience);
	free(c->jwks_file);
	free(c->jwks_url);
	free(c->jwks_ca_file);
	free(c->auth_state_file);
	free(c->gateways);
	free(c->rate_limits);
	free(c->admins);
	free(c->feed_origin);
	memset(c, 0, sizeof(*c));
}

static int parse_bool(const char *v, int *out)
{
	if (!v || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
		*out = 0;
		return 0;
	}
	return MDS_EINVAL;
}

static int parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long n;

	if (!v || !*v)
		return MDS_EINVAL;
	n = strtoul(v, &end, 10);
	if (*end || n < lo || n > hi)
		return MDS_EINVAL;
	*out = (unsigned)n;
	return 0;
}

int mds_config_set(struct mds_config *c, const char *key, const char *v,
		   struct mds_status *st)
{
	int rc = 0;
	char **s = NULL;

	if (!strcmp(key, "data"))
		s = &c->data;
	else if (!strcmp(key, "listen"))
		s = &c->listen;
	else if (!strcmp(key, "http"))
		s = &c->http;
	else if (!strcmp(key, "tls-ca"))
		s = &c->tls_ca;
	else if (!strcmp(key, "tls-cert"))
		s = &c->tls_cert;
	else if (!strcmp(key, "tls-key"))
		s = &c->tls_key;
	else if (!strcmp(key, "port-file"))
		s = &c->port_file;
	else if (!strcmp(key, "jwt-issuer"))
		s = &c->jwt_issuers;
	else if (!strcmp(key, "jwt-audience"))
		s = &c->jwt_audience;
	else if (!strcmp(key, "jwks-file"))
		s = &c->jwks_file;
	else if (!strcmp(key, "jwks-url"))
		s = &c->jwks_url;
	else if (!strcmp(key, "jwks-ca-file"))
		s = &c->jwks_ca_file;
	else if (!strcmp(key, "auth-state-file"))
		s = &c->auth_state_file;
	else if (!strcmp(key, "gateway-identities"))
		s = &c->gateways;
	else if (!strcmp(key, "rate-limits"))
		s = &c->rate_limits;
	else if (!strcmp(key, "admins"))
		s = &c->admins;
	else if (!strcmp(key, "feed-origin"))
		s = &c->feed_origin;
	if (s) {
		if (!v || !*v)
			return mds_status_set(st, MDS_EINVAL, "'%s' needs a value", key);
		rc = set_str(s, v);
		if (rc)
			return mds_status_set(st, rc, "out of memory");
	} else if (!strcmp(key, "tls-client-auth")) {
		rc = parse_bool(v, &c->tls_client_auth);
	} else if (!strcmp(key, "insecure")) {
		rc = parse_bool(v, &c->insecure);
	} else if (!strcmp(key, "threads")) {
		rc = parse_uint(v, 1, 64, &c->threads);
	} else if (!strcmp(key, "grace-ms")) {
		rc = parse_uint(v, 0, 600000, &c->grace_ms);
	} else if (!strcmp(key, "feed-cadence-ms")) {
		rc = parse_uint(v, 1, 60000, &c->feed_cadence_ms);
	} else if (!strcmp(key, "feed-heartbeat-ms")) {
		rc = parse_uint(v, 1, 3600000, &c->feed_heartbeat_ms);
	} else if (!strcmp(key, "token-cache")) {
		rc = parse_uint(v, 0, 1u << 20, &c->token_cache);
	} else if (!strcmp(key, "refusal-hold-ms")) {
		rc = parse_uint(v, 0, 1000, &c->refusal_hold_ms);
	} else if (!strcmp(key, "batch-window-us")) {
		rc = parse_uint(v, 0, 100000, &c->batch_window_us);
	} else if (!strcmp(key, "map-size")) {
		rc = v ? mds_units_parse_size(v, &c->map_size) : MDS_EINVAL;
	} else if (!strcmp(key, "max-message")) {
		rc = v ? mds_units_parse_size(v, &c->max_message) : MDS_EINVAL;
		if (rc == 0 && (c->max_message < 1024 || c->max_message > (64u << 20)))
			rc = MDS_EINVAL;
	} else if (!strcmp(key, "auth-mode")) {
		if (v && !strcmp(v, "dev"))
			c->auth_mode = MDS_CONFIG_AUTH_DEV;
		else if (v && !strcmp(v, "jwt"))
			c->auth_mode = MDS_CONFIG_AUTH_JWT;
		else if (v && !strcmp(v, "local"))
			c->auth_mode = MDS_CONFIG_AUTH_LOCAL;
		else
			rc = MDS_EINVAL;
		c->auth_mode_given = rc == 0;
	} else if (!strcmp(key, "dev")) {
		int on = 0;

		rc = parse_bool(v, &on);
		if (rc == 0 && on) {
			c->auth_mode = MDS_CONFIG_AUTH_DEV;
			c->auth_mode_given = 1;
		}
	} else if (!strcmp(key, "jwks-refresh")) {
		rc = v ? mds_units_parse_duration(v, &c->jwks_refresh_ns) : MDS_EINVAL;
		if (rc == 0 && c->jwks_refresh_ns < 1000000000u)
			rc = MDS_EINVAL;
	} else if (!strcmp(key, "offline-window")) {
		rc = v ? mds_units_parse_duration(v, &c->offline_window_ns) : MDS_EINVAL;
	} else if (!strcmp(key, "log-level")) {
		int l = v ? mds_log_parse_level(v) : -1;

		if (l < 0)
			rc = MDS_EINVAL;
		else
			c->log_level = l;
	} else {
		return mds_status_set(st, MDS_EINVAL, "unknown setting '%s'", key);
	}
	if (rc)
		return mds_status_set(st, MDS_EINVAL, "invalid value '%s' for '%s'",
				      v ? v : "", key);
	c->explicit = 1;
	return 0;
}

int mds_config_load_file(struct mds_config *c, const char *path, struct mds_status *st)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	const char *key;
	json_t *val;
	int rc = 0;

	if (!root)
		return mds_status_set(st, MDS_EINVAL, "cannot read config '%s' line %d: %s",
				      path, jerr.line, jerr.text);
	if (!json_is_object(root)) {
		rc = mds_status_set(st, MDS_EINVAL, "config '%s' is not a JSON object", path);
		goto out;
	}
	json_object_foreach(root, key, val) {
		char buf[64];
		const char *v;

		if (json_is_string(val)) {
			v = json_string_value(val);
		} else if (json_is_integer(val)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(val));
			v = buf;
		} else if (json_is_boolean(val)) {
			v = json_is_true(val) ? "true" : "false";
		} else {
			rc = mds_status_set(st, MDS_EINVAL, "config '%s': '%s' must be a string, "
					    "integer or boolean", path, key);
			goto out;
		}
		rc = mds_config_set(c, key, v, st);
		if (rc) {
			char msg[MDS_STATUS_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", st ? st->msg : "");
			mds_status_set(st, rc, "config '%s': %s", path, msg);
			goto out;
		}
	}
out:
	json_decref(root);
	return rc;
}

enum mds_config_auth_mode mds_config_auth_mode(const struct mds_config *c)
{
	if (c->auth_mode_given)
		return (enum mds_config_auth_mode)c->auth_mode;
	if (c->jwt_issuers || c->jwt_audience || c->jwks_file || c->jwks_url)
		return MDS_CONFIG_AUTH_JWT;
	return MDS_CONFIG_AUTH_LOCAL;
}

int mds_config_check(const struct mds_config *c, struct mds_status *st)
{
	enum mds_config_auth_mode mode = mds_config_auth_mode(c);
	char host[256];
	int port;

	if (mds_split_hostport(c->listen, host, sizeof(host), &port) != 0)
		return mds_status_set(st, MDS_EINVAL, "cannot parse --listen '%s': want HOST:PORT",
				      c->listen);
	if ((c->tls_cert != NULL) != (c->tls_key != NULL))
		return mds_status_set(st, MDS_EINVAL, "TLS needs both --tls-cert and --tls-key");
	if (c->tls_client_auth && !c->tls_ca)
		return mds_status_set(st, MDS_EINVAL, "--tls-client-auth needs --tls-ca");
	if (c->tls_ca && !c->tls_cert)
		return mds_status_set(st, MDS_EINVAL, "--tls-ca needs --tls-cert and --tls-key");
	if (!c->tls_cert && !c->insecure && !mds_host_is_loopback(host))
		return mds_status_set(st, MDS_EINVAL,
				      "refusing plaintext gRPC on non-loopback '%s': "
				      "give --tls-cert/--tls-key, or --insecure", c->listen);
	if (mode == MDS_CONFIG_AUTH_DEV && !c->insecure && !mds_host_is_loopback(host))
		return mds_status_set(st, MDS_EINVAL,
				      "refusing --auth-mode dev (no authentication) on non-loopback "
				      "'%s': use --auth-mode jwt, or --insecure", c->listen);
	if (mode == MDS_CONFIG_AUTH_LOCAL && (c->jwt_issuers || c->jwt_audience || c->jwks_file ||
					      c->jwks_url || c->auth_state_file))
		return mds_status_set(st, MDS_EINVAL, "--auth-mode local makes its own issuer: "
				      "--jwt-issuer, --jwt-audience, --jwks-file/--jwks-url and "
				      "--auth-state-file need --auth-mode jwt");
	if (mode == MDS_CONFIG_AUTH_JWT && (!c->jwt_issuers || !c->jwt_audience ||
				  (!c->jwks_file && !c->jwks_url)))
		return mds_status_set(st, MDS_EINVAL, "--auth-mode jwt needs --jwt-issuer, "
				      "--jwt-audience and --jwks-file or --jwks-url");
	if (c->jwks_file && c->jwks_url)
		return mds_status_set(st, MDS_EINVAL, "give --jwks-file or --jwks-url, not both");
	if (c->jwks_url) {
		struct mds_status why;

		if (mds_jwks_url_check(c->jwks_url, &why) != 0)
			return mds_status_set(st, MDS_EINVAL, "--jwks-url: %s", why.msg);
	}
	if (c->jwks_ca_file && !c->jwks_url)
		return mds_status_set(st, MDS_EINVAL, "--jwks-ca-file needs --jwks-url");
	if (strcmp(c->http, "off") != 0 &&
	    mds_split_hostport(c->http, host, sizeof(host), &port) != 0)
		return mds_status_set(st, MDS_EINVAL, "cannot parse --http '%s': want HOST:PORT",
				      c->http);
	return 0;
}
