/*
 * units.c - binary size units (see units.h). Parsing is exact for integer
 * counts of a unit; fractions are rounded down to whole bytes.
 */
#include "units.h"

#include <ctype.h>
#include <stdio.h>
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
