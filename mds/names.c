/*
 * names.c - validation of team, bucket and object names, and UTF-8.
 *
 * Every check returns MDS_EINVAL with a message that quotes the name and
 * says which rule it broke, because that message reaches the user as is.
 */
#include <stdio.h>

#include "mds/namespace.h"
#include "util.h"

const char *mds_quote(char buf[MDS_QUOTE_MAX], struct mds_str s)
{
	size_t n = s.len > 64 ? 64 : s.len;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, MDS_QUOTE_MAX - o, "\\x%02x", c);
	}
	if (s.len > n)
		snprintf(buf + o, MDS_QUOTE_MAX - o, "...(%zu bytes)", s.len);
	else
		buf[o] = '\0';
	return buf;
}

int mds_utf8_is_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i - 1 < n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

int mds_validate_team_name(struct mds_str name, struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];

	if (name.len == 0)
		return mds_status_set(st, MDS_EINVAL, "team name is empty");
	if (name.len > MDS_TEAM_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "team name '%s' is %zu bytes; the limit is %d",
				      mds_quote(q, name), name.len, MDS_TEAM_NAME_MAX);
	for (size_t i = 0; i < name.len; i++) {
		char c = name.p[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 (i > 0 && (c == '-' || c == '_'));

		if (!ok)
			return mds_status_set(st, MDS_EINVAL,
					      "team name '%s' has '%c' at byte %zu; use a-z, 0-9, '-' and '_' (not first)",
					      mds_quote(q, name), (c >= 0x20 && c < 0x7f) ? c : '?', i);
	}
	return 0;
}

static int is_ipv4_shaped(struct mds_str n)
{
	int dots = 0, digits = 0;

	for (size_t i = 0; i < n.len; i++) {
		if (n.p[i] == '.') {
			if (digits == 0 || digits > 3)
				return 0;
			dots++;
			digits = 0;
		} else if (n.p[i] >= '0' && n.p[i] <= '9') {
			digits++;
		} else {
			return 0;
		}
	}
	return dots == 3 && digits >= 1 && digits <= 3;
}

static int has_prefix_lit(struct mds_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len >= n && memcmp(s.p, lit, n) == 0;
}

static int has_suffix_lit(struct mds_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len >= n && memcmp(s.p + s.len - n, lit, n) == 0;
}

int mds_validate_bucket_name(struct mds_str name, struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];

	if (name.len < MDS_BUCKET_NAME_MIN || name.len > MDS_BUCKET_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "bucket name '%s' is %zu bytes; it must be %d to %d",
				      mds_quote(q, name), name.len, MDS_BUCKET_NAME_MIN,
				      MDS_BUCKET_NAME_MAX);
	for (size_t i = 0; i < name.len; i++) {
		char c = name.p[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '-' && c != '.')
			return mds_status_set(st, MDS_EINVAL,
					      "bucket name '%s' has a bad character at byte %zu; use a-z, 0-9, '-' and '.'",
					      mds_quote(q, name), i);
		if (!alnum && (i == 0 || i == name.len - 1))
			return mds_status_set(st, MDS_EINVAL,
					      "bucket name '%s' must start and end with a letter or digit",
					      mds_quote(q, name));
		if (c == '.' && name.p[i - 1] == '.')
			return mds_status_set(st, MDS_EINVAL, "bucket name '%s' has two adjacent periods",
					      mds_quote(q, name));
	}
	if (is_ipv4_shaped(name))
		return mds_status_set(st, MDS_EINVAL, "bucket name '%s' is formatted as an ip address",
				      mds_quote(q, name));
	if (has_prefix_lit(name, "xn--") || has_prefix_lit(name, "sthree-") ||
	    has_suffix_lit(name, "-s3alias") || has_suffix_lit(name, "--ol-s3"))
		return mds_status_set(st, MDS_EINVAL,
				      "bucket name '%s' uses a reserved prefix or suffix (xn--, sthree-, -s3alias, --ol-s3)",
				      mds_quote(q, name));
	return 0;
}

int mds_validate_object_name(struct mds_str name, struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];

	if (name.len == 0)
		return mds_status_set(st, MDS_EINVAL, "object name is empty");
	if (name.len > MDS_OBJECT_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "object name '%s' is %zu bytes; the limit is %d",
				      mds_quote(q, name), name.len, MDS_OBJECT_NAME_MAX);
	if (memchr(name.p, '\0', name.len))
		return mds_status_set(st, MDS_EINVAL, "object name '%s' contains a NUL byte",
				      mds_quote(q, name));
	if (!mds_utf8_is_valid(name.p, name.len))
		return mds_status_set(st, MDS_EINVAL, "object name '%s' is not valid UTF-8",
				      mds_quote(q, name));
	return 0;
}
