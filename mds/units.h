/*
 * units.h - sizes in binary units (KiB ... EiB) for flags and tables.
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

#endif /* MDS_UNITS_H */
