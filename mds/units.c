/*
 * units.c - binary size units, counts and durations (see units.h). Size
 * parsing is exact for integer counts of a unit; fractions are rounded down
 * to whole bytes. Counts and durations are exact or refused: a limit of
 * "1.5" objects or "1.5s" is a typo, not a request to round.
 */
#include "units.h"

#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mds/error.h"

static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

int mds_units_parse_size(const char *s, uint64_t *out)
{
	uint64_t whole = 0, frac_num = 0, frac_den = 1, mult = 1;
	const char *p = s;
	int shift = 0, digits = 0;

	while (isspace((unsigned char)*p))
		p++;
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p++ - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return MDS_EINVAL;
		whole = whole * 10 + d;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (frac_den < 1000000000000ull) {
				frac_num = frac_num * 10 + (uint64_t)(*p - '0');
				frac_den *= 10;
			}
			p++;
			digits++;
		}
	}
	if (digits == 0)
		return MDS_EINVAL;
	while (*p == ' ')
		p++;
	if (*p) {
		static const char letters[] = "BKMGTPE";
		const char *l = strchr(letters, toupper((unsigned char)*p));

		if (!l)
			return MDS_EINVAL;
		shift = (int)(l - letters) * 10;
		p++;
		if (shift && (*p == 'i' || *p == 'I'))
			p++;
		if (shift && (*p == 'b' || *p == 'B'))
			p++;
		if (*p)
			return MDS_EINVAL;
	}
	mult = (uint64_t)1 << shift;
	if (whole > UINT64_MAX / mult)
		return MDS_EINVAL;
	whole *= mult;
	/* frac_num / frac_den < 1, so the product fits when done in steps */
	if (frac_num) {
		unsigned __int128 f = (unsigned __int128)frac_num * mult / frac_den;

		if (whole > UINT64_MAX - (uint64_t)f)
			return MDS_EINVAL;
		whole += (uint64_t)f;
	}
	*out = whole;
	return 0;
}

char *mds_units_format_size(uint64_t v, char *buf, size_t n)
{
	int u = 0;
	double d = (double)v;

	if (v < 1024) {
		snprintf(buf, n, "%llu B", (unsigned long long)v);
		return buf;
	}
	while (d >= 1024.0 && u < 6) {
		d /= 1024.0;
		u++;
	}
	snprintf(buf, n, "%.2f %s", d, units[u]);
	return buf;
}

int mds_units_parse_count(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	int digits = 0, frac_digits = 0;
	long exp = 0;

	while (isspace((unsigned char)*p))
		p++;
	/* mantissa digits, with the decimal point folded into the exponent */
	for (;; p++) {
		if (isdigit((unsigned char)*p)) {
			unsigned d = (unsigned)(*p - '0');

			if (v > (UINT64_MAX - d) / 10)
				return MDS_EINVAL;
			v = v * 10 + d;
			digits++;
			if (frac_digits > 0)
				frac_digits++;
		} else if (*p == '.' && frac_digits == 0) {
			frac_digits = 1;
		} else {
			break;
		}
	}
	if (digits == 0)
		return MDS_EINVAL;
	if (*p == 'e' || *p == 'E') {
		char *end;

		p++;
		if (!isdigit((unsigned char)*p))
			return MDS_EINVAL;
		errno = 0;
		exp = strtol(p, &end, 10);
		if (errno || exp > 40)
			return MDS_EINVAL;
		p = end;
	}
	if (*p)
		return MDS_EINVAL;
	if (frac_digits > 0)
		exp -= frac_digits - 1;
	for (; exp < 0; exp++) {
		if (v % 10)
			return MDS_EINVAL;
		v /= 10;
	}
	for (; exp > 0; exp--) {
		if (v > UINT64_MAX / 10)
			return MDS_EINVAL;
		v *= 10;
	}
	*out = v;
	return 0;
}

static const struct {
	const char *name;
	uint64_t ns;
} dur_units[] = {
	{ "ns", 1ull },
	{ "ms", 1000000ull },           /* before "m": longest match first */
	{ "s", 1000000000ull },
	{ "m", 60ull * 1000000000ull },
	{ "h", 3600ull * 1000000000ull },
	{ "d", 86400ull * 1000000000ull },
	{ "w", 7ull * 86400ull * 1000000000ull },
};

int mds_units_parse_duration(const char *s, uint64_t *out_ns)
{
	uint64_t total = 0;
	const char *p = s;
	int pairs = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (!strcmp(p, "0")) {
		*out_ns = 0;
		return 0;
	}
	while (*p) {
		uint64_t v = 0;
		size_t i, len = 0;
		int digits = 0;

		while (isdigit((unsigned char)*p)) {
			unsigned d = (unsigned)(*p++ - '0');

			if (v > (UINT64_MAX - d) / 10)
				return MDS_EINVAL;
			v = v * 10 + d;
			digits++;
		}
		if (digits == 0)
			return MDS_EINVAL;
		for (i = 0; i < sizeof(dur_units) / sizeof(dur_units[0]); i++) {
			len = strlen(dur_units[i].name);
			if (!strncmp(p, dur_units[i].name, len))
				break;
		}
		if (i == sizeof(dur_units) / sizeof(dur_units[0]))
			return MDS_EINVAL;
		p += len;
		if (v > UINT64_MAX / dur_units[i].ns || total > UINT64_MAX - v * dur_units[i].ns)
			return MDS_EINVAL;
		total += v * dur_units[i].ns;
		pairs++;
	}
	if (pairs == 0)
		return MDS_EINVAL;
	*out_ns = total;
	return 0;
}

char *mds_units_format_duration(uint64_t ns, char *buf, size_t n)
{
	static const struct {
		char unit;
		uint64_t ns;
	} parts[] = {
		{ 'd', 86400ull * 1000000000ull },
		{ 'h', 3600ull * 1000000000ull },
		{ 'm', 60ull * 1000000000ull },
		{ 's', 1000000000ull },
	};
	size_t off = 0;

	if (n == 0)
		return buf;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		uint64_t q = ns / parts[i].ns;

		if (q == 0 || off >= n)
			continue;
		off += (size_t)snprintf(buf + off, n - off, "%llu%c", (unsigned long long)q,
					parts[i].unit);
		ns %= parts[i].ns;
	}
	if (off < n && ns % 1000000ull == 0 && ns)
		off += (size_t)snprintf(buf + off, n - off, "%llums",
					(unsigned long long)(ns / 1000000ull));
	else if (off < n && ns)
		off += (size_t)snprintf(buf + off, n - off, "%lluns", (unsigned long long)ns);
	if (off == 0)
		snprintf(buf, n, "0s");
	return buf;
}
