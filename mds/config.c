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
	c->threads = 0;   /* auto: mds_server_auto_threads() */
	c->max_message = 4u << 20;
	c->grace_ms = 5000;
	c->feed_cadence_ms = 100;
	c->feed_heartbeat_ms = 10000;
	c->peer_stale_ms = 30000;
	c->peer_idle_ms = 30000;
	c->peer_backoff_max_ms = 10000;
	c->feed_retain_ns = 7ull * 86400u * 1000000000u;
	c->feed_retain_leaves = 1000000;
	c->feed_compact_every_ns = 60ull * 1000000000u;
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
	for (size_t i = 0; i < c->n_peers; i++) {
		struct mds_config_peer *p = &c->peers[i];

		free(p->origin);
		free(p->address);
		for (size_t k = 0; k < p->n_keys; k++)
			free(p->keys[k]);
		free(p->tls_ca);
		free(p->tls_cert);
		free(p->tls_key);
		free(p->token_file);
	}
	free(c->peers);
	free(c->peer_token_file);
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

/* A new, zeroed peer at the end of c->peers (NULL: too many / no memory). */
static struct mds_config_peer *peer_new(struct mds_config *c)
{
	struct mds_config_peer *np;

	if (c->n_peers == MDS_CONFIG_PEERS_MAX)
		return NULL;
	np = realloc(c->peers, (c->n_peers + 1) * sizeof(*np));
	if (!np)
		return NULL;
	c->peers = np;
	memset(&np[c->n_peers], 0, sizeof(*np));
	return &np[c->n_peers++];
}

static int peer_add_key(struct mds_config_peer *p, const char *k, size_t len)
{
	if (len == 0 || p->n_keys == MDS_CONFIG_PEER_KEYS)
		return MDS_EINVAL;
	p->keys[p->n_keys] = strndup(k, len);
	if (!p->keys[p->n_keys])
		return MDS_ENOMEM;
	p->n_keys++;
	return 0;
}

/* --peer ORIGIN=ADDRESS=KEY[,KEY...] (plaintext; verifier keys have no '='). */
static int peer_from_flag(struct mds_config *c, const char *v, struct mds_status *st)
{
	const char *a = v ? strchr(v, '=') : NULL, *k = a ? strchr(a + 1, '=') : NULL;
	struct mds_config_peer *p;

	if (!a || !k || a == v || k == a + 1 || !k[1])
		return mds_status_set(st, MDS_EINVAL, "--peer wants ORIGIN=ADDRESS=KEY[,KEY...], "
				      "got '%s'", v ? v : "");
	p = peer_new(c);
	if (!p)
		return mds_status_set(st, MDS_EINVAL, "too many peers (at most %d)",
				      MDS_CONFIG_PEERS_MAX);
	p->insecure = 1;
	p->origin = strndup(v, (size_t)(a - v));
	p->address = strndup(a + 1, (size_t)(k - a - 1));
	if (!p->origin || !p->address)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	for (const char *s = k + 1; *s;) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (peer_add_key(p, s, len))
			return mds_status_set(st, MDS_EINVAL, "--peer '%s': 1 to %d non-empty keys",
					      p->origin, MDS_CONFIG_PEER_KEYS);
		s += len + (e ? 1 : 0);
	}
	return 0;
}

/* One element of the "peers" list of a config file. */
static int peer_from_json(struct mds_config *c, json_t *o, size_t i, struct mds_status *st)
{
	struct mds_config_peer *p;
	const char *key;
	json_t *val;

	if (!json_is_object(o))
		return mds_status_set(st, MDS_EINVAL, "peers[%zu] must be an object", i);
	p = peer_new(c);
	if (!p)
		return mds_status_set(st, MDS_EINVAL, "too many peers (at most %d)",
				      MDS_CONFIG_PEERS_MAX);
	json_object_foreach(o, key, val) {
		char **dst = NULL;

		if (!strcmp(key, "origin"))
			dst = &p->origin;
		else if (!strcmp(key, "address"))
			dst = &p->address;
		else if (!strcmp(key, "tls-ca"))
			dst = &p->tls_ca;
		else if (!strcmp(key, "tls-cert"))
			dst = &p->tls_cert;
		else if (!strcmp(key, "tls-key"))
			dst = &p->tls_key;
		else if (!strcmp(key, "token-file"))
			dst = &p->token_file;
		if (dst) {
			if (!json_is_string(val) || !json_string_value(val)[0])
				return mds_status_set(st, MDS_EINVAL, "peers[%zu].%s must be a non-empty string",
						      i, key);
			if (set_str(dst, json_string_value(val)))
				return mds_status_set(st, MDS_ENOMEM, "out of memory");
		} else if (!strcmp(key, "insecure")) {
			if (!json_is_boolean(val))
				return mds_status_set(st, MDS_EINVAL, "peers[%zu].insecure must be a boolean", i);
			p->insecure = json_is_true(val);
		} else if (!strcmp(key, "keys")) {
			size_t k;
			json_t *kv;

			if (!json_is_array(val))
				return mds_status_set(st, MDS_EINVAL, "peers[%zu].keys must be a list", i);
			json_array_foreach(val, k, kv) {
				if (!json_is_string(kv) ||
				    peer_add_key(p, json_string_value(kv), strlen(json_string_value(kv))))
					return mds_status_set(st, MDS_EINVAL,
							      "peers[%zu].keys: 1 to %d non-empty strings",
							      i, MDS_CONFIG_PEER_KEYS);
			}
		} else {
			return mds_status_set(st, MDS_EINVAL, "peers[%zu]: unknown setting '%s'", i, key);
		}
	}
	if (!p->origin || !p->address || p->n_keys == 0)
		return mds_status_set(st, MDS_EINVAL, "peers[%zu] needs origin, address and keys", i);
	if (!p->insecure && !p->tls_ca)
		return mds_status_set(st, MDS_EINVAL, "peers[%zu] ('%s'): give tls-ca or insecure",
				      i, p->origin);
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
	else if (!strcmp(key, "peer-token-file"))
		s = &c->peer_token_file;
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
		rc = parse_uint(v, 0, 64, &c->threads);
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
	} else if (!strcmp(key, "peer")) {
		rc = peer_from_flag(c, v, st);
		if (rc)
			return rc;
	} else if (!strcmp(key, "peer-stale-ms")) {
		rc = parse_uint(v, 100, 86400000, &c->peer_stale_ms);
	} else if (!strcmp(key, "peer-idle-ms")) {
		rc = parse_uint(v, 100, 3600000, &c->peer_idle_ms);
	} else if (!strcmp(key, "peer-backoff-max-ms")) {
		rc = parse_uint(v, 10, 3600000, &c->peer_backoff_max_ms);
	} else if (!strcmp(key, "peer-batch-max")) {
		rc = parse_uint(v, 0, 10000000, &c->peer_batch_max);
	} else if (!strcmp(key, "feed-retain")) {
		rc = v ? mds_units_parse_duration(v, &c->feed_retain_ns) : MDS_EINVAL;
	} else if (!strcmp(key, "feed-retain-leaves")) {
		rc = v ? mds_units_parse_count(v, &c->feed_retain_leaves) : MDS_EINVAL;
		if (rc == 0 && c->feed_retain_leaves == 0)
			rc = MDS_EINVAL;   /* the newest leaf is always kept */
	} else if (!strcmp(key, "feed-compact-every")) {
		rc = v ? mds_units_parse_duration(v, &c->feed_compact_every_ns) : MDS_EINVAL;
		if (rc == 0 && c->feed_compact_every_ns < 10000000u)
			rc = MDS_EINVAL;   /* at least 10 ms */
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

		if (!strcmp(key, "peers")) {
			size_t i;
			json_t *po;

			if (!json_is_array(val)) {
				rc = mds_status_set(st, MDS_EINVAL, "config '%s': 'peers' must be a list",
						    path);
				goto out;
			}
			json_array_foreach(val, i, po) {
				rc = peer_from_json(c, po, i, st);
				if (rc) {
					char msg[MDS_STATUS_MSG_MAX];

					snprintf(msg, sizeof(msg), "%s", st ? st->msg : "");
					mds_status_set(st, rc, "config '%s': %s", path, msg);
					goto out;
				}
			}
			c->explicit = 1;
			continue;
		}
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
