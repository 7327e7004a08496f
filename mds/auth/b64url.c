/*
 * b64url.c - strict unpadded base64url codec (see b64url.h for what
 * "strict" promises). Table driven, no allocation except in
 * mds_b64url_decode_alloc().
 */
#include "b64url.h"

#include <stdint.h>
#include <stdlib.h>

#include <mds/error.h>

static const char enc_table[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for a valid character, -1 otherwise */
static int dec_char(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int mds_b64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
	size_t i, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 == 1)
		return MDS_EINVAL;
	for (i = 0; i < len; i++) {
		int v = dec_char((unsigned char)in[i]);

		if (v < 0)
			return MDS_EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* leftover bits (2 or 4) must be zero: one encoding per byte string */
	if (acc != 0)
		return MDS_EINVAL;
	*outlen = o;
	return 0;
}

size_t mds_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];

		out[o++] = enc_table[(v >> 18) & 63];
		out[o++] = enc_table[(v >> 12) & 63];
		out[o++] = enc_table[(v >> 6) & 63];
		out[o++] = enc_table[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = enc_table[(v >> 18) & 63];
		out[o++] = enc_table[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);

		out[o++] = enc_table[(v >> 18) & 63];
		out[o++] = enc_table[(v >> 12) & 63];
		out[o++] = enc_table[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

int mds_b64url_decode_alloc(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	int rc;

	*out = NULL;
	buf = malloc(MDS_B64URL_DECODED_MAX(len) + 1);
	if (buf == NULL)
		return MDS_ENOMEM;
	rc = mds_b64url_decode(in, len, buf, outlen);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	buf[*outlen] = '\0';
	*out = buf;
	return 0;
}
