/*
 * gw_config.c - the config string of a handle:
 *
 *   SCHEME ':' TARGET [ '?' KEY '=' VALUE ( '&' KEY '=' VALUE )* ]
 *
 * SCHEME is lmdb, grpc or global; TARGET and VALUEs are percent-decoded
 * (%XX), so paths holding '?', '&' or '%' can be written. Every key is
 * known (an unknown one is an error, not ignored: a typo in a TLS
 * parameter must not silently give a plaintext channel), every number is
 * range-checked, and a key given twice is an error. The string comes from
 * the gateway's configuration, so nothing here asserts on it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

#define CONF_MAX 8192

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode @len bytes at @s into a new NUL-terminated string (owned). */
static int decode(const char *s, size_t len, char **out, const char *what,
		  struct mdsgw_status *st)
{
	char *d = malloc(len + 1);
	size_t j = 0;

	if (!d)
		return gw_status_set(st, MDSGW_ENOMEM, "out of memory parsing the config");
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(d);
				return gw_status_set(st, MDSGW_ECONFIG,
						     "bad percent escape in %s of the config", what);
			}
			d[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			d[j++] = s[i];
		}
	}
	d[j] = '\0';
	*out = d;
	return 0;
}

static int parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out, const char *key,
		      struct mdsgw_status *st)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || errno || v[0] == '-' || n < lo || n > hi)
		return gw_status_set(st, MDSGW_ECONFIG,
				     "config parameter %s='%s' is not a number in %u..%u", key, v,
				     lo, hi);
	*out = (unsigned)n;
	return 0;
}

static int set_str(char **slot, char *v, const char *key, struct mdsgw_status *st)
{
	if (*slot) {
		free(v);
		return gw_status_set(st, MDSGW_ECONFIG, "config parameter %s is given twice", key);
	}
	if (!*v) {
		free(v);
		return gw_status_set(st, MDSGW_ECONFIG, "config parameter %s is empty", key);
	}
	*slot = v;
	return 0;
}

/* Apply one KEY=VALUE; takes ownership of @v. */
static int apply(struct gw_conf *c, const char *key, char *v, unsigned *seen,
		 struct mdsgw_status *st)
{
	static const char *const nums[] = { "timeout_ms", "retries", "backoff_ms", "tls",
					    "cache_entries", "cache_mb", "cache_lag_ms",
					    "feed_poll_ms", "stale_ok_ms" };
	int rc = 0;

	for (unsigned i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i]) != 0)
			continue;
		if (*seen & (1u << i)) {
			rc = gw_status_set(st, MDSGW_ECONFIG, "config parameter %s is given twice", key);
		} else if (i == 0) {
			rc = parse_uint(v, 1, 3600000, &c->timeout_ms, key, st);
		} else if (i == 1) {
			rc = parse_uint(v, 0, 10, &c->retries, key, st);
		} else if (i == 2) {
			rc = parse_uint(v, 1, 10000, &c->backoff_ms, key, st);
		} else if (i == 3) {
			unsigned t = 0;

			rc = parse_uint(v, 0, 1, &t, key, st);
			c->tls = (int)t;
		} else if (strcmp(c->scheme, "grpc") != 0) {
			rc = gw_status_set(st, MDSGW_ECONFIG, "config parameter %s applies to "
					   "grpc: only (the lookup cache)", key);
		} else if (i == 4) {
			rc = parse_uint(v, 1, 10000000, &c->cache_entries, key, st);
		} else if (i == 5) {
			rc = parse_uint(v, 1, 65536, &c->cache_mb, key, st);
		} else if (i == 6) {
			rc = parse_uint(v, 10, 600000, &c->cache_lag_ms, key, st);
		} else if (i == 7) {
			rc = parse_uint(v, 1, 10000, &c->feed_poll_ms, key, st);
		} else {
			rc = parse_uint(v, 0, 86400000, &c->stale_ok_ms, key, st);
		}
		*seen |= 1u << i;
		free(v);
		return rc;
	}
	if (!strcmp(key, "mds")) {
		if (strcmp(c->scheme, "lmdb") != 0) {
			free(v);
			return gw_status_set(st, MDSGW_ECONFIG,
					     "config parameter mds= applies to lmdb: only");
		}
		return set_str(&c->mds, v, key, st);
	}
	if (!strcmp(key, "ca"))
		return set_str(&c->ca, v, key, st);
	if (!strcmp(key, "cert"))
		return set_str(&c->cert, v, key, st);
	if (!strcmp(key, "key"))
		return set_str(&c->key, v, key, st);
	if (!strcmp(key, "origin")) {
		if (strcmp(c->scheme, "global") != 0) {
			free(v);
			return gw_status_set(st, MDSGW_ECONFIG,
					     "config parameter origin applies to global: only");
		}
		return set_str(&c->origin, v, key, st);
	}
	if (!strcmp(key, "feed_key")) {
		if (strcmp(c->scheme, "grpc") != 0) {
			free(v);
			return gw_status_set(st, MDSGW_ECONFIG,
					     "config parameter feed_key applies to grpc: only");
		}
		return set_str(&c->feed_key, v, key, st);
	}
	free(v);
	return gw_status_set(st, MDSGW_ECONFIG,
			     "unknown config parameter '%s' (known: mds, timeout_ms, retries, "
			     "backoff_ms, tls, ca, cert, key, cache_entries, cache_mb, "
			     "cache_lag_ms, feed_poll_ms, feed_key, stale_ok_ms, origin)", key);
}

int gw_conf_parse(const char *s, struct gw_conf *c, struct mdsgw_status *st)
{
	const char *colon, *q, *p;
	size_t n;
	unsigned seen = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	if (!s)
		return gw_status_set(st, MDSGW_ECONFIG, "no config string given");
	n = strnlen(s, CONF_MAX + 1);
	if (n > CONF_MAX)
		return gw_status_set(st, MDSGW_ECONFIG, "config string longer than %d bytes",
				     CONF_MAX);
	colon = strchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(c->scheme))
		return gw_status_set(st, MDSGW_ECONFIG,
				     "config '%.64s' does not start with lmdb:, grpc: or global:", s);
	memcpy(c->scheme, s, (size_t)(colon - s));
	if (strcmp(c->scheme, "lmdb") && strcmp(c->scheme, "grpc") && strcmp(c->scheme, "global"))
		return gw_status_set(st, MDSGW_ECONFIG,
				     "unknown provider '%s:' (known: lmdb:, grpc:, global:)", c->scheme);
	q = strchr(colon + 1, '?');
	if (!q)
		q = s + n;
	if (q == colon + 1)
		return gw_status_set(st, MDSGW_ECONFIG, "config '%.64s' names no %s", s,
				     strcmp(c->scheme, "lmdb") ? "endpoint" : "data directory");
	rc = decode(colon + 1, (size_t)(q - colon - 1), &c->target, "the target", st);
	if (rc)
		return rc;
	for (p = *q ? q + 1 : q; *p;) {
		const char *amp = strchr(p, '&'), *eq;
		char key[16], *v;

		if (!amp)
			amp = s + n;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (!eq || eq == p || (size_t)(eq - p) >= sizeof(key)) {
			rc = gw_status_set(st, MDSGW_ECONFIG,
					   "config parameter '%.*s' is not KEY=VALUE",
					   (int)((amp - p) > 64 ? 64 : (amp - p)), p);
			goto err;
		}
		memcpy(key, p, (size_t)(eq - p));
		key[eq - p] = '\0';
		rc = decode(eq + 1, (size_t)(amp - eq - 1), &v, key, st);
		if (rc)
			goto err;
		rc = apply(c, key, v, &seen, st);
		if (rc)
			goto err;
		p = *amp ? amp + 1 : amp;
	}
	if ((c->cert != NULL) != (c->key != NULL)) {
		rc = gw_status_set(st, MDSGW_ECONFIG, "a client certificate needs both cert= and key=");
		goto err;
	}
	if (c->ca || c->cert)
		c->tls = 1;
	if (!c->timeout_ms)
		c->timeout_ms = 5000;
	if (!(seen & 2))
		c->retries = 3;
	if (!c->backoff_ms)
		c->backoff_ms = 20;
	if (!c->cache_mb)
		c->cache_mb = 64;
	if (!c->cache_lag_ms)
		c->cache_lag_ms = 500;
	if (!c->feed_poll_ms)
		c->feed_poll_ms = 20;
	return 0;
err:
	gw_conf_release(c);
	return rc;
}

void gw_conf_release(struct gw_conf *c)
{
	free(c->target);
	free(c->mds);
	free(c->ca);
	free(c->cert);
	free(c->key);
	free(c->feed_key);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}
