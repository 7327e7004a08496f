/*
 * feed_util.c - status messages, strict base64 and OpenSSL error text for
 * the feed primitives (see feed_util.h). Base64 is written here rather than
 * taken from OpenSSL's EVP_DecodeBlock, which skips whitespace and does not
 * reject non-canonical padding bits: a signed format must have exactly one
 * spelling of every value.
 */
#include "feed_util.h"

#include <stdbool.h>
#include <stdio.h>

#include <pthread.h>

#include <openssl/err.h>
#include <openssl/evp.h>


static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md)
		ERR_clear_error();
}

const EVP_MD *mds_feed_sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md ? sha256_md : EVP_sha256();
}

const char *mds_feed_ossl_error(void)
{
	static __thread char buf[160];
	unsigned long e = ERR_get_error();

	if (!e) {
		ERR_clear_error();
		return "unknown error";
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void mds_feed_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			in[i + 2];

		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = b64_alphabet[v >> 18];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = b64_alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int mds_feed_b64_decode(const char *in, size_t len, uint8_t *out,
	size_t want)
{
	size_t pad = want % 3 ? 3 - want % 3 : 0;
	size_t o = 0;

	if (len != MDS_FEED_B64_LEN(want))
		return MDS_EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		int v[4];
		uint32_t w;

		for (int j = 0; j < 4; j++) {
			if (last && j >= 4 - (int)pad) {
				if (in[i + j] != '=')
					return MDS_EINVAL;
				v[j] = 0;
				continue;
			}
			v[j] = b64_value(in[i + j]);
			if (v[j] < 0)
				return MDS_EINVAL;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			(uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Unused low bits of the last group must be zero. */
		if (last && pad == 2 && (w & 0xffff))
			return MDS_EINVAL;
		if (last && pad == 1 && (w & 0xff))
			return MDS_EINVAL;
		out[o++] = (uint8_t)(w >> 16);
		if (o < want)
			out[o++] = (uint8_t)(w >> 8);
		if (o < want)
			out[o++] = (uint8_t)w;
	}
	return o == want ? 0 : MDS_EINVAL;
}

/* Length of the valid UTF-8 sequence at @p (@n bytes left), 0 if invalid
 * or a control character other than "\n". */
static size_t utf8_char(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return (p[0] >= 0x20 && p[0] != 0x7f) || p[0] == '\n' ? 1 : 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

/* See feed_util.h. Is @p[0..n) UTF-8 without control characters other than "\n"? */
bool mds_feed_text_ok(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_char(u + i, n - i);

		if (!l)
			return false;
		i += l;
	}
	return true;
}
