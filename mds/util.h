/*
 * util.h - small helpers shared inside the core: big-endian integers,
 * varints, quoting names for messages. Header-only, no state.
 */
#ifndef MDS_UTIL_H
#define MDS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mds/namespace.h"

static inline void mds_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* One load and a byte swap: GCC does not fold the byte loop into one. */
static inline uint64_t mds_be64_get(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline int mds_str_eq(struct mds_str a, struct mds_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* memcmp order of two byte strings, shorter first on a common prefix. */
static inline int mds_str_cmp(struct mds_str a, struct mds_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static inline int mds_str_has_prefix(struct mds_str s, struct mds_str prefix)
{
	return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.p, prefix.p, prefix.len) == 0);
}

/* Buffer size for mds_quote(): enough for a 64-byte excerpt fully escaped. */
#define MDS_QUOTE_MAX 300

/*
 * mds_quote - write a printable excerpt of @s into @buf (NUL-terminated):
 * non-printable bytes as \xHH, at most 64 input bytes then "..." and the
 * total length. Returns @buf. For error messages only.
 */
const char *mds_quote(char buf[MDS_QUOTE_MAX], struct mds_str s);

#endif /* MDS_UTIL_H */
