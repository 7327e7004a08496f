/*
 * mdsgw.c - the public entry points of libmdsgw (include/mds/mdsgw.h): the
 * ABI handshake, handles, the checks every provider needs, and the
 * descriptor that dlopen()ing gateways fetch.
 *
 * A handle is the parsed config, the provider table chosen by its scheme
 * and the provider's state; it is immutable after mdsgw_open, so calls
 * need no lock here (providers lock what they share).
 *
 * ABI rules kept here: a call is refused with MDSGW_EABI when a struct's
 * `size` is below the size it had in the ABI version that introduced the
 * call (all structs are at their 1.0 sizes today); a caller's shorter
 * struct is copied into a zeroed full-size one before a provider sees it,
 * and results are copied back only up to the caller's `size`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_internal.h"
#include "mds/error.h"

#ifndef MDSGW_VERSION
#define MDSGW_VERSION "unknown"
#endif

/* The island's codes are passed through unchanged: keep the tables equal. */
#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(MDSGW_EINVAL, MDS_EINVAL) && SAME(MDSGW_ENOTFOUND, MDS_ENOTFOUND) &&
	       SAME(MDSGW_EEXIST, MDS_EEXIST) && SAME(MDSGW_EPRECOND, MDS_EPRECOND) &&
	       SAME(MDSGW_ENOTEMPTY, MDS_ENOTEMPTY) && SAME(MDSGW_ENOSPC, MDS_ENOSPC) &&
	       SAME(MDSGW_EIO, MDS_EIO) && SAME(MDSGW_ECORRUPT, MDS_ECORRUPT) &&
	       SAME(MDSGW_ENOMEM, MDS_ENOMEM) && SAME(MDSGW_ESHUTDOWN, MDS_ESHUTDOWN) &&
	       SAME(MDSGW_EBUSY, MDS_EBUSY) && SAME(MDSGW_EQUOTA, MDS_EQUOTA) &&
	       SAME(MDSGW_EDENIED, MDS_EDENIED) && SAME(MDSGW_ERATE, MDS_ERATE) &&
	       SAME(MDSGW_EVERSION, MDS_EVERSION) && SAME(MDSGW_EINTERNAL, MDS_EINTERNAL) &&
	       SAME(MDSGW_ETIMEDOUT, MDS_ETIMEDOUT) && SAME(MDSGW_EUNAVAIL, MDS_EUNAVAIL) &&
	       SAME(MDSGW_ELOCKED, MDS_ELOCKED),
	       "mdsgw.h codes must equal mds/error.h codes");

/* Sizes of the structs as ABI 1.0 defined them. */
#define OBJECT_V1_SIZE offsetof(struct mdsgw_object, origin)
#define LIST_PARAMS_V1_SIZE sizeof(struct mdsgw_list_params)
#define LIST_RESULT_V1_SIZE sizeof(struct mdsgw_list_result)
#define PUT_V1_SIZE sizeof(struct mdsgw_put)
#define RESERVATION_V1_SIZE sizeof(struct mdsgw_reservation)
#define ACCESS_V1_SIZE offsetof(struct mdsgw_access, team)

struct mdsgw_handle {
	const struct gw_provider *p;
	void *state;
	struct gw_conf conf;
	uint32_t caps;
};

/* ---- status, time ---- */

int gw_status_set(struct mdsgw_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	if (!st)
		return code;
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* The retry-after hint of the last call on this thread (mdsgw_retry_after_ms). */
static __thread uint32_t retry_after_hint;

void gw_retry_after_set(uint32_t ms)
{
	retry_after_hint = ms;
}

uint32_t mdsgw_retry_after_ms(void)
{
	return retry_after_hint;
}

/* Every entry point starts here: no message, no hint from an earlier call. */
static void status_clear(struct mdsgw_status *st)
{
	retry_after_hint = 0;
	if (st) {
		st->code = 0;
		st->msg[0] = '\0';
	}
}

int64_t mdsgw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mdsgw_deadline_in_ms(uint32_t ms)
{
	return mdsgw_now_ns() + (int64_t)ms * 1000000;
}

unsigned gw_ms_left(int64_t deadline_ns)
{
	int64_t left = deadline_ns - mdsgw_now_ns();

	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > 0x7fffffff ? 0x7fffffff : (unsigned)left;
}

static int64_t deadline_of(const mdsgw_handle *h, int64_t deadline_ns)
{
	return deadline_ns ? deadline_ns : mdsgw_deadline_in_ms(h->conf.timeout_ms);
}

/* ---- errors ---- */

const char *mdsgw_strerror(int err)
{
	switch (err) {
	case MDSGW_ENOTSUP:
		return "operation or provider not supported by this version of libmdsgw";
	case MDSGW_EABI:
		return "incompatible libmdsgw abi version or struct size";
	case MDSGW_ECONFIG:
		return "invalid libmdsgw config string";
	case MDSGW_EREADONLY:
		return "the provider is read-only (the global view): write to an island";
	default:
		return mds_strerror(err);
	}
}

const char *mdsgw_error_name(int err)
{
	static const char *const island[] = {
		"MDSGW_EINVAL", "MDSGW_ENOTFOUND", "MDSGW_EEXIST", "MDSGW_EPRECOND",
		"MDSGW_ENOTEMPTY", "MDSGW_ENOSPC", "MDSGW_EIO", "MDSGW_ECORRUPT", "MDSGW_ENOMEM",
		"MDSGW_ESHUTDOWN", "MDSGW_EBUSY", "MDSGW_EQUOTA", "MDSGW_EDENIED", "MDSGW_ERATE",
		"MDSGW_EVERSION", "MDSGW_EINTERNAL", "MDSGW_ETIMEDOUT", "MDSGW_EUNAVAIL",
		"MDSGW_ELOCKED",
	};

	if (err == 0)
		return "MDSGW_OK";
	if (err <= MDSGW_EINVAL && err >= MDSGW_ELOCKED)
		return island[MDSGW_EINVAL - err];
	switch (err) {
	case MDSGW_ENOTSUP: return "MDSGW_ENOTSUP";
	case MDSGW_EABI: return "MDSGW_EABI";
	case MDSGW_ECONFIG: return "MDSGW_ECONFIG";
	case MDSGW_EREADONLY: return "MDSGW_EREADONLY";
	default: break;
	}
	if (err >= MDSGW_ERR_FIRST && err <= (int)MDS_ERR_LAST)
		return "MDSGW_UNKNOWN";
	return "ERRNO";
}

/* ---- ABI ---- */

static int abi_check(uint32_t v, struct mdsgw_status *st)
{
	uint32_t major = v >> 16, minor = v & 0xffff;

	if (major != MDSGW_ABI_MAJOR || minor > MDSGW_ABI_MINOR)
		return gw_status_set(st, MDSGW_EABI,
				     "the caller was built for libmdsgw abi %u.%u, this library "
				     "(%s) implements abi %d.%d; rebuild against this mdsgw.h or "
				     "install a matching library", major, minor, MDSGW_VERSION,
				     MDSGW_ABI_MAJOR, MDSGW_ABI_MINOR);
	return 0;
}

static int size_check(uint32_t have, size_t need, const char *what, struct mdsgw_status *st)
{
	if (have < need)
		return gw_status_set(st, MDSGW_EABI, "struct %s has size %u, abi %d.%d needs at "
				     "least %zu (set .size with the *_INIT macro)", what, have,
				     MDSGW_ABI_MAJOR, MDSGW_ABI_MINOR, need);
	return 0;
}

/* ---- handles ---- */

int mdsgw_open(uint32_t abi_version, const char *config, mdsgw_handle **out,
	       struct mdsgw_status *st)
{
	mdsgw_handle *h;
	int rc;

	status_clear(st);
	if (!out)
		return gw_status_set(st, MDSGW_EINVAL, "mdsgw_open: out is NULL");
	*out = NULL;
	rc = abi_check(abi_version, st);
	if (rc)
		return rc;
	h = calloc(1, sizeof(*h));
	if (!h)
		return gw_status_set(st, MDSGW_ENOMEM, "out of memory opening a handle");
	rc = gw_conf_parse(config, &h->conf, st);
	if (rc)
		goto err;
	if (!strcmp(h->conf.scheme, "lmdb"))
		h->p = &gw_provider_lmdb;
	else if (!strcmp(h->conf.scheme, "grpc"))
		h->p = &gw_provider_grpc;
	else
		h->p = &gw_provider_global;
	h->caps = h->p->caps;
	if (h->p == &gw_provider_lmdb && !h->conf.mds)
		h->caps &= ~(MDSGW_CAP_PUT | MDSGW_CAP_QUOTA);
	rc = h->p->open(&h->conf, &h->state, st);
	if (rc)
		goto err;
	*out = h;
	return 0;
err:
	gw_conf_release(&h->conf);
	free(h);
	return rc;
}

void mdsgw_close(mdsgw_handle *h)
{
	if (!h)
		return;
	h->p->close(h->state);
	gw_conf_release(&h->conf);
	free(h);
}

uint32_t mdsgw_capabilities(const mdsgw_handle *h)
{
	return h ? h->caps : 0;
}

const char *mdsgw_provider(const mdsgw_handle *h)
{
	return h ? h->p->name : "none";
}

/* ---- operations ---- */

#define NEED_HANDLE(h, st)                                                              \
	do {                                                                            \
		if (!(h))                                                               \
			return gw_status_set((st), MDSGW_EINVAL, "%s: handle is NULL", __func__); \
	} while (0)

int mdsgw_resolve(mdsgw_handle *h, const char *bucket, const char *name,
		  struct mdsgw_object *out, int64_t deadline_ns, struct mdsgw_status *st)
{
	struct mdsgw_object full;
	uint32_t size;
	int rc;

	status_clear(st);
	NEED_HANDLE(h, st);
	if (!out)
		return gw_status_set(st, MDSGW_EINVAL, "resolve: out is NULL");
	size = out->size;
	rc = size_check(size, OBJECT_V1_SIZE, "mdsgw_object", st);
	if (rc)
		return rc;
	if (!bucket || !name)
		return gw_status_set(st, MDSGW_EINVAL, "resolve: bucket and name are required");
	memset(&full, 0, sizeof(full));
	rc = h->p->resolve(h->state, bucket, name, &full, deadline_of(h, deadline_ns), st);
	if (rc)
		return rc;
	full.size = size;
	memcpy(out, &full, size < sizeof(full) ? size : sizeof(full));
	return 0;
}

void mdsgw_object_release(struct mdsgw_object *o)
{
	if (!o)
		return;
	free(o->mem_);
	o->mem_ = NULL;
	o->bucket = o->name = o->etag = o->content_type = NULL;
	o->locator = NULL;
	o->meta = o->tags = NULL;
	o->n_meta = o->n_tags = 0;
	o->locator_len = 0;
}

int mdsgw_list(mdsgw_handle *h, const struct mdsgw_list_params *p, mdsgw_entry_fn emit,
	       void *arg, struct mdsgw_list_result *res, int64_t deadline_ns,
	       struct mdsgw_status *st)
{
	struct mdsgw_list_params fp;
	struct mdsgw_list_result fr;
	uint32_t rsize;
	int rc;

	status_clear(st);
	NEED_HANDLE(h, st);
	if (!p || !emit || !res)
		return gw_status_set(st, MDSGW_EINVAL, "list: params, callback and result are required");
	if ((rc = size_check(p->size, LIST_PARAMS_V1_SIZE, "mdsgw_list_params", st)) ||
	    (rc = size_check(res->size, LIST_RESULT_V1_SIZE, "mdsgw_list_result", st)))
		return rc;
	memset(&fp, 0, sizeof(fp));
	memcpy(&fp, p, p->size < sizeof(fp) ? p->size : sizeof(fp));
	if (!fp.bucket)
		return gw_status_set(st, MDSGW_EINVAL, "list: bucket is required");
	if (fp.style != MDSGW_LIST_S3 && fp.style != MDSGW_LIST_AZURE)
		return gw_status_set(st, MDSGW_EINVAL, "list: unknown style %u", fp.style);
	/* The same answer from every provider (the core clamps, the server refuses). */
	if (fp.max_keys > (fp.style == MDSGW_LIST_S3 ? 1000 : 5000))
		return gw_status_set(st, MDSGW_EINVAL, "list '%.60s': max_keys %lld is above the %s "
				     "cap of %d", fp.bucket, (long long)fp.max_keys,
				     fp.style == MDSGW_LIST_S3 ? "S3" : "Azure",
				     fp.style == MDSGW_LIST_S3 ? 1000 : 5000);
	rsize = res->size;
	memset(&fr, 0, sizeof(fr));
	rc = h->p->list(h->state, &fp, emit, arg, &fr, deadline_of(h, deadline_ns), st);
	if (rc)
		return rc;
	fr.size = rsize;
	memcpy(res, &fr, rsize < sizeof(fr) ? rsize : sizeof(fr));
	return 0;
}

/* Copy the caller's put into the zeroed full-size @fp and check it. */
static int put_in(const struct mdsgw_put *p, struct mdsgw_put *fp, const char *what,
		  struct mdsgw_status *st)
{
	int rc;

	if (!p)
		return gw_status_set(st, MDSGW_EINVAL, "%s: the record is NULL", what);
	rc = size_check(p->size, PUT_V1_SIZE, "mdsgw_put", st);
	if (rc)
		return rc;
	memset(fp, 0, sizeof(*fp));
	memcpy(fp, p, p->size < sizeof(*fp) ? p->size : sizeof(*fp));
	if (!fp->bucket || !fp->name)
		return gw_status_set(st, MDSGW_EINVAL, "%s: bucket and name are required", what);
	if ((fp->n_meta && !fp->meta) || (fp->n_tags && !fp->tags) ||
	    (fp->locator_len && !fp->locator))
		return gw_status_set(st, MDSGW_EINVAL, "%s '%.60s': a count is set but its array "
				     "is NULL", what, fp->name);
	return 0;
}

int mdsgw_put(mdsgw_handle *h, const struct mdsgw_put *p, uint64_t *version_out,
	      uint64_t *mtime_ns_out, int64_t deadline_ns, struct mdsgw_status *st)
{
	struct mdsgw_put fp;
	int rc;

	status_clear(st);
	NEED_HANDLE(h, st);
	rc = put_in(p, &fp, "put", st);
	if (rc)
		return rc;
	return h->p->put(h->state, &fp, version_out, mtime_ns_out, deadline_of(h, deadline_ns),
			 st);
}

int mdsgw_delete(mdsgw_handle *h, const char *bucket, const char *name,
		 const char *if_match, const char *if_none_match, uint64_t *version_out,
		 int64_t deadline_ns, struct mdsgw_status *st)
{
	status_clear(st);
	NEED_HANDLE(h, st);
	if (!bucket || !name)
		return gw_status_set(st, MDSGW_EINVAL, "delete: bucket and name are required");
	return h->p->del(h->state, bucket, name, if_match, if_none_match, version_out,
			 deadline_of(h, deadline_ns), st);
}

/* ---- quota reservations ---- */

int mdsgw_quota_reserve(mdsgw_handle *h, struct mdsgw_reservation *r, int64_t deadline_ns,
			struct mdsgw_status *st)
{
	struct mdsgw_reservation fr;
	uint32_t size;
	int rc;

	status_clear(st);
	NEED_HANDLE(h, st);
	if (!r)
		return gw_status_set(st, MDSGW_EINVAL, "reserve: the reservation is NULL");
	size = r->size;
	rc = size_check(size, RESERVATION_V1_SIZE, "mdsgw_reservation", st);
	if (rc)
		return rc;
	memset(&fr, 0, sizeof(fr));
	memcpy(&fr, r, size < sizeof(fr) ? size : sizeof(fr));
	if (!fr.bucket || !fr.name || !fr.ttl_ms)
		return gw_status_set(st, MDSGW_EINVAL, "reserve: bucket, name and ttl_ms are required");
	fr.token[0] = '\0';
	fr.expiry_ns = 0;
	rc = h->p->reserve(h->state, &fr, deadline_of(h, deadline_ns), st);
	if (rc)
		return rc;
	fr.size = size;
	memcpy(r, &fr, size < sizeof(fr) ? size : sizeof(fr));
	return 0;
}

int mdsgw_quota_commit(mdsgw_handle *h, const char *token, const struct mdsgw_put *p,
		       uint64_t *version_out, uint64_t *mtime_ns_out, int64_t deadline_ns,
		       struct mdsgw_status *st)
{
	struct mdsgw_put fp;
	int rc;

	status_clear(st);
	NEED_HANDLE(h, st);
	if (!token || !*token)
		return gw_status_set(st, MDSGW_EINVAL, "commit: the reservation token is required");
	rc = put_in(p, &fp, "commit", st);
	if (rc)
		return rc;
	return h->p->commit(h->state, token, &fp, version_out, mtime_ns_out,
			    deadline_of(h, deadline_ns), st);
}

int mdsgw_quota_release(mdsgw_handle *h, const char *token, int64_t deadline_ns,
			struct mdsgw_status *st)
{
	status_clear(st);
	NEED_HANDLE(h, st);
	if (!token || !*token)
		return gw_status_set(st, MDSGW_EINVAL, "release: the reservation token is required");
	return h->p->release(h->state, token, deadline_of(h, deadline_ns), st);
}

/* ---- access checks ---- */

int mdsgw_access_check(mdsgw_handle *h, const struct mdsgw_access *a, int *allowed,
		       int64_t deadline_ns, struct mdsgw_status *st)
{
	struct mdsgw_access fa;
	int rc;

	status_clear(st);
	if (allowed)
		*allowed = 0;   /* default deny, even for a caller that ignores the code */
	NEED_HANDLE(h, st);
	if (!a || !allowed)
		return gw_status_set(st, MDSGW_EINVAL, "access check: request and allowed are "
				     "required");
	rc = size_check(a->size, ACCESS_V1_SIZE, "mdsgw_access", st);
	if (rc)
		return rc;
	memset(&fa, 0, sizeof(fa));
	memcpy(&fa, a, a->size < sizeof(fa) ? a->size : sizeof(fa));
	if (!fa.principal || !*fa.principal || !fa.action || !*fa.action)
		return gw_status_set(st, MDSGW_EINVAL, "access check: principal and action are "
				     "required");
	if (fa.n_groups && !fa.groups)
		return gw_status_set(st, MDSGW_EINVAL, "access check: n_groups is set but groups "
				     "is NULL");
	if (!h->p->access)
		return gw_status_set(st, MDSGW_ENOTSUP, "access check is not available through "
				     "the %s: provider", h->p->name);
	rc = h->p->access(h->state, &fa, allowed, deadline_of(h, deadline_ns), st);
	if (rc)
		*allowed = 0;
	return rc;
}

/* ---- the grpc: lookup cache ---- */

int mdsgw_cache_stats(mdsgw_handle *h, struct mdsgw_cache_stats *out)
{
	struct mdsgw_cache_stats full;
	uint32_t size;
	int rc;

	status_clear(NULL);
	if (!h || !out)
		return MDSGW_EINVAL;
	size = out->size;
	if (size < sizeof(struct mdsgw_cache_stats))   /* introduced whole in 1.1 */
		return MDSGW_EABI;
	if (!h->p->cache_stats)
		return MDSGW_ENOTSUP;
	memset(&full, 0, sizeof(full));
	rc = h->p->cache_stats(h->state, &full);
	if (rc)
		return rc;
	full.size = size;
	memcpy(out, &full, size < sizeof(full) ? size : sizeof(full));
	return 0;
}

/* ---- descriptor ---- */

static const struct mdsgw_api api = {
	.size = sizeof(struct mdsgw_api),
	.abi_version = MDSGW_ABI_VERSION,
	.version = MDSGW_VERSION,
	.open = mdsgw_open,
	.close = mdsgw_close,
	.capabilities = mdsgw_capabilities,
	.provider = mdsgw_provider,
	.resolve = mdsgw_resolve,
	.object_release = mdsgw_object_release,
	.list = mdsgw_list,
	.put = mdsgw_put,
	.del = mdsgw_delete,
	.quota_reserve = mdsgw_quota_reserve,
	.quota_commit = mdsgw_quota_commit,
	.quota_release = mdsgw_quota_release,
	.access_check = mdsgw_access_check,
	.strerror = mdsgw_strerror,
	.error_name = mdsgw_error_name,
	.now_ns = mdsgw_now_ns,
	.deadline_in_ms = mdsgw_deadline_in_ms,
	.retry_after_ms = mdsgw_retry_after_ms,
	.cache_stats = mdsgw_cache_stats,
};

int mdsgw_get_api(uint32_t abi_version, const struct mdsgw_api **out, struct mdsgw_status *st)
{
	int rc;

	status_clear(st);
	if (out)
		*out = NULL;
	rc = abi_check(abi_version, st);
	if (rc)
		return rc;
	if (!out)
		return gw_status_set(st, MDSGW_EINVAL, "mdsgw_get_api: out is NULL");
	*out = &api;
	return 0;
}
