/*
 * jwks_fetch.c - the key set over HTTPS (libcurl), see jwks_fetch.h.
 *
 * One easy handle per fetch, so concurrent callers share nothing. The
 * body is collected in a buffer that refuses to grow past
 * MDS_JWKS_MAX_BYTES (the write callback aborts the transfer), so neither
 * a missing nor a lying Content-Length can make us hold more. libcurl's
 * error buffer becomes the one-line message; it is logged once, by the
 * caller that decides what the failure means (the refresher).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "auth_status.h"
#include "jwks.h"
#include "jwks_fetch.h"

struct body {
	char *buf;       /* owned until handed to the caller */
	size_t len, cap;
	int too_big;
	int nomem;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > MDS_JWKS_MAX_BYTES - b->len) {
		b->too_big = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->buf, cap);
		if (p == NULL) {
			b->nomem = 1;
			return 0;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, ptr, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

int mds_jwks_fetch_global_init(struct mds_status *st)
{
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (c != CURLE_OK)
		return mds_status_set(st, MDS_EINTERNAL, "cannot initialise libcurl: %s",
				      curl_easy_strerror(c));
	return auth_ok(st);
}

int mds_jwks_url_check(const char *url, struct mds_status *st)
{
	if (url == NULL || url[0] == '\0')
		return mds_status_set(st, MDS_EINVAL, "no key set url given");
	if (strncasecmp(url, "https://", 8) != 0)
		return mds_status_set(st, MDS_EINVAL, "key set url '%s' refused: only https:// is "
				      "fetched (key sets must come over verified TLS)", url);
	if (url[8] == '\0' || url[8] == '/')
		return mds_status_set(st, MDS_EINVAL, "key set url '%s' has no host", url);
	return auth_ok(st);
}

/* The options that make a fetch safe; returns the first failing code. */
static CURLcode set_options(CURL *h, const struct mds_jwks_source *src, struct body *b,
			    char *errbuf)
{
	long timeout = src->timeout_s > 0 ? src->timeout_s : MDS_JWKS_FETCH_TIMEOUT_S;
	CURLcode c;

#define SET(opt, val) do { if ((c = curl_easy_setopt(h, opt, val)) != CURLE_OK) return c; } while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_URL, src->url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 3L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (src->ca_file != NULL)
		SET(CURLOPT_CAINFO, src->ca_file);
	SET(CURLOPT_TIMEOUT, timeout);
	SET(CURLOPT_CONNECTTIMEOUT, timeout);
	SET(CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a threaded server */
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MDS_JWKS_MAX_BYTES);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, b);
	SET(CURLOPT_USERAGENT, "island-mds-jwks/1");
	SET(CURLOPT_HTTPHEADER, NULL);
#undef SET
	return CURLE_OK;
}

int mds_jwks_fetch(const struct mds_jwks_source *src, char **doc, size_t *len,
		   struct mds_status *st)
{
	char errbuf[CURL_ERROR_SIZE];
	struct body b = { 0 };
	long status = 0;
	CURL *h = NULL;
	CURLcode c;
	int rc;

	*doc = NULL;
	*len = 0;
	rc = mds_jwks_url_check(src->url, st);
	if (rc != 0)
		return rc;
	h = curl_easy_init();
	if (h == NULL)
		return mds_status_set(st, MDS_ENOMEM, "cannot fetch key set '%s': out of memory",
				      src->url);
	errbuf[0] = '\0';
	c = set_options(h, src, &b, errbuf);
	if (c != CURLE_OK) {
		rc = mds_status_set(st, c == CURLE_OUT_OF_MEMORY ? MDS_ENOMEM : MDS_EINTERNAL,
				    "cannot fetch key set '%s': libcurl option: %s", src->url,
				    curl_easy_strerror(c));
		goto out_free;
	}
	c = curl_easy_perform(h);
	if (b.nomem) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot fetch key set '%s': out of memory",
				    src->url);
		goto out_free;
	}
	if (b.too_big || c == CURLE_FILESIZE_EXCEEDED) {
		rc = mds_status_set(st, MDS_EIO, "cannot fetch key set '%s': larger than %d bytes",
				    src->url, MDS_JWKS_MAX_BYTES);
		goto out_free;
	}
	if (c != CURLE_OK) {
		rc = mds_status_set(st, MDS_EIO, "cannot fetch key set '%s': %s", src->url,
				    errbuf[0] ? errbuf : curl_easy_strerror(c));
		goto out_free;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		rc = mds_status_set(st, MDS_EIO, "cannot fetch key set '%s': http status %ld",
				    src->url, status);
		goto out_free;
	}
	if (b.buf == NULL) {
		rc = mds_status_set(st, MDS_EIO, "cannot fetch key set '%s': empty body", src->url);
		goto out_free;
	}
	*doc = b.buf;
	*len = b.len;
	b.buf = NULL;
	rc = auth_ok(st);
out_free:
	free(b.buf);
	curl_easy_cleanup(h);
	return rc;
}

int mds_auth_refresh_url(struct mds_auth *a, const struct mds_jwks_source *src,
			 struct mds_status *st)
{
	char *doc = NULL;
	size_t len = 0;
	int rc;

	rc = mds_jwks_fetch(src, &doc, &len, st);
	if (rc != 0)
		return rc;
	rc = mds_auth_refresh_from(a, doc, len, st);
	if (rc != 0 && rc != MDS_EIO) {
		char why[MDS_STATUS_MSG_MAX];

		snprintf(why, sizeof(why), "%s", st != NULL ? st->msg : "");
		rc = mds_status_set(st, rc, "cannot refresh key set from '%s': %s", src->url, why);
	}
	free(doc);
	return rc;
}
