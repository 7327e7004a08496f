/*
 * units.h - sizes in binary units (KiB ... EiB), plain counts ("1e9") and
 * durations ("7d", "1d12h") for flags and tables.
 */
#ifndef MDS_UNITS_H
#define MDS_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*
 * mds_units_parse_size - parse "1048576", "512B", "4KiB", "1.5GiB",
 * "2 MiB" (the unit is case-insensitive; "K", "KB" and "KiB" all mean 1024).
 * @s: borrowed, NUL-terminated. Returns 0 with *out set, or MDS_EINVAL
 * for anything else (negative, trailing junk, overflow beyond 2^64-1).
 */
int mds_units_parse_size(const char *s, uint64_t *out);

/*
 * mds_units_format_size - "0 B", "512 B", "1.50 KiB", "3.00 GiB" into @buf
 * (caller's, @n bytes; 16 is enough). Returns @buf.
 */
char *mds_units_format_size(uint64_t v, char *buf, size_t n);

/*
 * mds_units_parse_count - parse a count: "1000000", "1e9", "2.5e6" (decimal
 * mantissa with an optional e/E exponent; the value must be a whole
 * number). @s: borrowed. Returns 0 with *out set, or MDS_EINVAL (negative,
 * fractional result, trailing junk, beyond 2^64-1).
 */
int mds_units_parse_count(const char *s, uint64_t *out);

/*
 * mds_units_parse_duration - parse a duration into nanoseconds: "0", or one
 * or more NUMBER UNIT pairs with units ns, ms, s, m, h, d, w ("7d", "1d12h",
 * "90s", "500ms"). A bare number other than 0 is refused (no silent unit).
 * @s: borrowed. Returns 0 with *out_ns set, or MDS_EINVAL (unknown unit,
 * junk, overflow).
 */
int mds_units_parse_duration(const char *s, uint64_t *out_ns);

/*
 * mds_units_format_duration - @ns as the shortest exact form in d/h/m/s
 * ("7d", "1d12h", "1m30s", "0s"; a remainder below a second as "250ms" or,
 * below a millisecond, "NNNns") into @buf (caller's, @n bytes; 32 is
 * enough). Returns @buf.
 */
char *mds_units_format_duration(uint64_t ns, char *buf, size_t n);

#endif /* MDS_UNITS_H */
