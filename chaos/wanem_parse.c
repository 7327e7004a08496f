/*
 * wanem_parse.c - option value parsers for the WAN emulator.
 *
 * Each parser reads a whole token: trailing garbage is an error, never
 * silently ignored, so "200 ms" or "1mbitx" is refused instead of becoming
 * something the operator did not ask for. Numbers go through strtod, so
 * decimals ("1.5s", "0.5mbit") work; results are range checked before they
 * are converted to integers.
 */
#include "wanem_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Splits @s into a finite, non-negative number and its unit suffix. */
static int split_number(const char *s, double *v, const char **unit)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || errno || !isfinite(*v) || *v < 0)
		return -EINVAL;
	/* strtod accepts "inf", "nan" and hex; only plain decimals are wanted. */
	for (const char *p = s; p < end; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			return -EINVAL;
	*unit = end;
	return 0;
}

int mds_wanem_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen)
{
	static const struct { const char *u; double mul; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 },
	};
	const char *unit;
	double v;

	if (split_number(s, &v, &unit) < 0)
		return fail(err, errlen, "cannot parse duration '%s': want a number with ns, us, ms, s or m", s ? s : "");
	if (!*unit) {
		if (v != 0)
			return fail(err, errlen, "cannot parse duration '%s': unit missing (ns, us, ms, s or m)", s);
		*ns = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].u) == 0) {
			double r = v * units[i].mul;
			if (r > 3600e9)
				return fail(err, errlen, "duration '%s' is above the limit of one hour", s);
			*ns = (uint64_t)llround(r);
			return 0;
		}
	}
	return fail(err, errlen, "cannot parse duration '%s': unknown unit '%s' (ns, us, ms, s or m)", s, unit);
}

int mds_wanem_parse_rate(const char *s, uint64_t *bps, char *err, size_t errlen)
{
	static const struct { const char *u; double bytes; int icase; } units[] = {
		{ "bit", 1.0 / 8, 1 }, { "kbit", 1e3 / 8, 1 }, { "mbit", 1e6 / 8, 1 },
		{ "gbit", 1e9 / 8, 1 }, { "B/s", 1, 0 }, { "kB/s", 1e3, 0 },
		{ "MB/s", 1e6, 0 }, { "GB/s", 1e9, 0 },
	};
	const char *unit;
	double v;

	if (s && (strcmp(s, "off") == 0 || strcmp(s, "unlimited") == 0)) {
		*bps = 0;
		return 0;
	}
	if (split_number(s, &v, &unit) < 0)
		return fail(err, errlen, "cannot parse rate '%s': want e.g. 10mbit, 512kbit or 2MB/s", s ? s : "");
	if (!*unit) {
		if (v != 0)
			return fail(err, errlen, "cannot parse rate '%s': unit missing (bit, kbit, mbit, gbit, B/s, kB/s, MB/s, GB/s)", s);
		*bps = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int same = units[i].icase ? strcasecmp(unit, units[i].u) == 0
					  : strcmp(unit, units[i].u) == 0;
		if (same) {
			double r = v * units[i].bytes;
			if (v == 0) {
				*bps = 0;
				return 0;
			}
			if (r < 1)
				return fail(err, errlen, "rate '%s' is below one byte per second", s);
			if (r > 1e12)
				return fail(err, errlen, "rate '%s' is above the limit of 1 TB/s", s);
			*bps = (uint64_t)llround(r);
			return 0;
		}
	}
	return fail(err, errlen, "cannot parse rate '%s': unknown unit '%s' (bit, kbit, mbit, gbit, B/s, kB/s, MB/s, GB/s)", s, unit);
}

int mds_wanem_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	static const struct { const char *u; double mul; } units[] = {
		{ "", 1 }, { "b", 1 }, { "B", 1 },
		{ "k", 1024 }, { "K", 1024 }, { "KiB", 1024 },
		{ "m", 1048576 }, { "M", 1048576 }, { "MiB", 1048576 },
		{ "g", 1073741824 }, { "G", 1073741824 }, { "GiB", 1073741824 },
	};
	const char *unit;
	double v;

	if (split_number(s, &v, &unit) < 0)
		return fail(err, errlen, "cannot parse size '%s': want e.g. 4096, 64k or 1MiB", s ? s : "");
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].u) == 0) {
			double r = v * units[i].mul;
			if (r > 1099511627776.0)
				return fail(err, errlen, "size '%s' is above the limit of 1 TiB", s);
			*bytes = (uint64_t)llround(r);
			return 0;
		}
	}
	return fail(err, errlen, "cannot parse size '%s': unknown unit '%s' (k, KiB, m, MiB, g, GiB)", s, unit);
}

int mds_wanem_parse_prob(const char *s, double *p, char *err, size_t errlen)
{
	const char *unit;
	double v;

	if (split_number(s, &v, &unit) < 0)
		return fail(err, errlen, "cannot parse probability '%s': want a number in [0, 1] or a percentage", s ? s : "");
	if (strcmp(unit, "%") == 0)
		v /= 100;
	else if (*unit)
		return fail(err, errlen, "cannot parse probability '%s': unexpected '%s'", s, unit);
	if (v > 1)
		return fail(err, errlen, "probability '%s' is above 1", s);
	*p = v;
	return 0;
}

int mds_wanem_parse_bool(const char *s, int *b, char *err, size_t errlen)
{
	static const char *yes[] = { "on", "true", "yes", "1" };
	static const char *no[] = { "off", "false", "no", "0" };

	for (size_t i = 0; s && i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*b = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*b = 0;
			return 0;
		}
	}
	return fail(err, errlen, "cannot parse switch '%s': want on or off", s ? s : "");
}

int mds_wanem_parse_addr(const char *s, struct sockaddr_storage *ss, char *err,
			 size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs, *he;
	char *end;
	unsigned long port;

	if (!s || !*s)
		return fail(err, errlen, "cannot parse address '': want IP:PORT");
	if (s[0] == '[') {
		hs = s + 1;
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return fail(err, errlen, "cannot parse address '%s': want [IPv6]:PORT", s);
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return fail(err, errlen, "cannot parse address '%s': port missing, want IP:PORT", s);
		hs = s;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs)
		return fail(err, errlen, "cannot parse address '%s': bad host part", s);
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (!colon[1] || colon[1] == '-' || colon[1] == '+')
		return fail(err, errlen, "cannot parse address '%s': bad port", s);
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535)
		return fail(err, errlen, "cannot parse address '%s': port must be 0..65535", s);

	memset(ss, 0, sizeof(*ss));
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return fail(err, errlen, "cannot parse address '%s': '%s' is not a numeric IPv4 address", s, host);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return fail(err, errlen, "cannot parse address '%s': '%s' is not a numeric IPv6 address", s, host);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
	}
	return 0;
}

int mds_wanem_format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
		return 0;
	}
	return -EINVAL;
}
