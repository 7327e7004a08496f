/*
 * feed_util.h - helpers private to mds/feed: status messages, strict
 * base64, OpenSSL error text. Not part of any public API.
 */
#ifndef MDS_FEED_UTIL_H
#define MDS_FEED_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "mds/error.h"

struct mds_note_signer;

/* mds_feed_signer_pkey - @k's OpenSSL key (borrowed from @k). In key.c. */
EVP_PKEY *mds_feed_signer_pkey(const struct mds_note_signer *k);


/* mds_feed_sha256 - SHA-256 for EVP_Digest*(): fetched once per process
 * (an explicit fetch avoids OpenSSL 3's per-call implicit fetch), or
 * EVP_sha256() if that fetch failed. Never NULL; never freed. */
const EVP_MD *mds_feed_sha256(void);

/* mds_feed_ossl_error - the oldest queued OpenSSL error as text (static
 * storage per thread), and the queue cleared; "unknown error" if none. */
const char *mds_feed_ossl_error(void);

/* Length of the standard, padded base64 encoding of @n bytes. */
#define MDS_FEED_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* mds_feed_b64_encode - standard padded base64 of @in (borrowed, @n
 * bytes) into @out (MDS_FEED_B64_LEN(n) bytes, not NUL-terminated). */
void mds_feed_b64_encode(const uint8_t *in, size_t n, char *out);

/*
 * mds_feed_b64_decode - decode exactly @want bytes from @in (borrowed, @len
 * characters) into @out. Accepts only the canonical standard encoding: the
 * alphabet A-Z a-z 0-9 + /, padding '=' to a multiple of 4, unused bits
 * zero. Returns 0 or MDS_EINVAL.
 */
int mds_feed_b64_decode(const char *in, size_t len, uint8_t *out,
	size_t want);

/* mds_feed_text_ok - is @p (borrowed, @n bytes) well-formed UTF-8 with no
 * control character (C0, DEL, C1) other than "\n"? */
bool mds_feed_text_ok(const char *p, size_t n);

#endif /* MDS_FEED_UTIL_H */
