/*
 * b64url.h - strict base64url (RFC 4648 section 5) without padding, as JWS
 * compact serialization and JWK members use it (RFC 7515 section 2).
 *
 * Strict means: only the 64 URL-safe characters; no '=' padding, no
 * whitespace; a length of 1 mod 4 is refused; the unused low bits of the last
 * character must be zero, so every byte string has exactly one encoding (a
 * token cannot be altered in its encoding without changing its bytes).
 */
#ifndef MDS_AUTH_B64URL_H
#define MDS_AUTH_B64URL_H

#include <stddef.h>

/* Number of bytes mds_b64url_decode() writes for @len input characters
 * (an upper bound when the input is invalid). */
#define MDS_B64URL_DECODED_MAX(len) (((len) / 4) * 3 + 2)

/* Number of characters mds_b64url_encode() writes for @len bytes, without
 * the terminating NUL. */
#define MDS_B64URL_ENCODED_LEN(len) (((len) / 3) * 4 + (((len) % 3) ? ((len) % 3) + 1 : 0))

/*
 * mds_b64url_decode - decode @len characters at @in (borrowed, need not be
 * NUL-terminated) into @out (borrowed, caller-allocated, at least
 * MDS_B64URL_DECODED_MAX(@len) bytes).
 *
 * Returns 0 and sets *@outlen to the number of bytes written, or MDS_EINVAL
 * when the input is not strict unpadded base64url (bad character, padding,
 * length 1 mod 4, non-zero trailing bits). @out may be partly written then.
 */
int mds_b64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

/*
 * mds_b64url_encode - encode @len bytes at @in (borrowed) into @out
 * (borrowed, caller-allocated, at least MDS_B64URL_ENCODED_LEN(@len) + 1
 * bytes) and NUL-terminate it. Returns the number of characters written.
 */
size_t mds_b64url_encode(const unsigned char *in, size_t len, char *out);

/*
 * mds_b64url_decode_alloc - like mds_b64url_decode() into a newly malloc'd
 * buffer, returned through *@out (owned by the caller, free() it; a NUL byte
 * follows the decoded bytes so text can be used as a C string). Returns 0,
 * MDS_EINVAL, or MDS_ENOMEM; *@out is NULL on failure.
 */
int mds_b64url_decode_alloc(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif /* MDS_AUTH_B64URL_H */
