/*
 * auth_status.h - how mds/auth reports failures (internal).
 *
 * Every failure is a negative Island MDS code plus a one-line, lower-case
 * message naming what failed (the key's kid or index, the claim, the file),
 * set with mds_status_set() from the core's error.c. This header adds the
 * success shorthand and the one translation of OpenSSL's error queue.
 *
 * Codes used by the auth module:
 *   MDS_EINVAL   a token or key set is malformed (bad base64url, JSON, shape)
 *   MDS_EDENIED  a well-formed token is refused (signature, alg, kid, iss,
 *                aud, exp/nbf/iat, forbidden header)
 *   MDS_EUNAVAIL no usable key set: none loaded yet, or the offline window
 *                since the last good refresh has passed (fail closed)
 *   MDS_EIO      a key-set or state file cannot be read or written
 *   MDS_ENOMEM   out of memory
 *   MDS_EINTERNAL an OpenSSL call failed where it must not
 */
#ifndef MDS_AUTH_STATUS_H
#define MDS_AUTH_STATUS_H

#include <mds/error.h>

/* auth_ok - clear @st (may be NULL); returns 0. */
static inline int auth_ok(struct mds_status *st)
{
	mds_status_clear(st);
	return 0;
}

/*
 * JSON parsing under memory pressure. jansson's lexer ignores failed
 * buffer appends: a string can come back with bytes missing (seen in
 * test_alloc_fail.c) or the parse can fail as a "syntax error". So every
 * parse of ours runs between auth_json_begin() and auth_json_failed(): the
 * first installs, once per process, a jansson allocator (malloc/free plus a
 * thread-local "an allocation failed" flag) and clears the flag; the second
 * says whether any jansson allocation on this thread failed since, in which
 * case the parse result must be thrown away and MDS_ENOMEM returned.
 * (Code that later calls json_set_alloc_funcs() itself disables this.)
 */
void auth_json_begin(void);
int auth_json_failed(void);

/*
 * auth_ossl_reason - the reason string of the newest OpenSSL error (or
 * "unknown openssl error"), and clears the OpenSSL error queue of this
 * thread. Returns a pointer to a static or thread-local string, valid until
 * the next call on this thread.
 */
const char *auth_ossl_reason(void);

#endif /* MDS_AUTH_STATUS_H */
