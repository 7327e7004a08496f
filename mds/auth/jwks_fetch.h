/*
 * jwks_fetch.h - fetch the identity provider's key set (JWKS) over HTTPS
 * with libcurl and install it in an authority (mds_auth_refresh_from()).
 *
 * What must stay true: only https:// URLs are fetched (a plain http:// URL
 * is refused before any connection, and redirects may only go to https://);
 * the server certificate and host name are always verified, against the
 * system store or, for a private provider, a PEM CA file; a document is at
 * most MDS_JWKS_MAX_BYTES and a fetch takes at most the given timeout. A
 * failed fetch never touches the current key set (auth.h: the offline window
 * keeps counting from the last good refresh).
 *
 * Thread safety: call mds_jwks_fetch_global_init() once at start, before
 * other threads exist; then fetches may run on any thread (one easy handle
 * per call, no shared state).
 */
#ifndef MDS_AUTH_JWKS_FETCH_H
#define MDS_AUTH_JWKS_FETCH_H

#include <stddef.h>

#include <mds/error.h>

#include "auth.h"

#define MDS_JWKS_FETCH_TIMEOUT_S 10

struct mds_jwks_source {
	const char *url;     /* https://... (borrowed) */
	const char *ca_file; /* PEM CA bundle to verify the server; NULL: system store (borrowed) */
	long timeout_s;      /* whole transfer, connect included; 0: MDS_JWKS_FETCH_TIMEOUT_S */
};

/*
 * mds_jwks_fetch_global_init - initialise libcurl for the process. Returns
 * 0 or MDS_EINTERNAL. Call once, before threads start; never undone (the
 * process exit releases it).
 */
int mds_jwks_fetch_global_init(struct mds_status *st);

/*
 * mds_jwks_url_check - 0 when @url (borrowed) is an https:// URL with a
 * host, else MDS_EINVAL with @st saying why (e.g. "http:// refused").
 */
int mds_jwks_url_check(const char *url, struct mds_status *st);

/*
 * mds_jwks_fetch - GET @src->url and return the body through *@doc
 * (malloc'd, NUL-terminated, owned by the caller: free()) and *@len.
 * Returns 0; MDS_EINVAL (not an https:// URL); MDS_EIO (connection, TLS or
 * certificate failure, timeout, HTTP status other than 200, body larger
 * than MDS_JWKS_MAX_BYTES — the message names the URL and the cause);
 * MDS_ENOMEM. *@doc is NULL on failure.
 */
int mds_jwks_fetch(const struct mds_jwks_source *src, char **doc, size_t *len,
		   struct mds_status *st);

/*
 * mds_auth_refresh_url - mds_jwks_fetch() then mds_auth_refresh_from() on
 * @a (borrowed). On any failure the authority keeps its key set and refresh
 * time. Returns 0 or the code of the step that failed, with @st naming the
 * URL (MDS_EIO also when the new set is in use but was not persisted).
 */
int mds_auth_refresh_url(struct mds_auth *a, const struct mds_jwks_source *src,
			 struct mds_status *st);

#endif /* MDS_AUTH_JWKS_FETCH_H */
