/*
 * quota.c - quota limits on team, bucket and prefix scopes, reservations,
 * their expiry sweep, the audit log of quota changes, and the reads that
 * answer usage and quota state from counters.
 *
 * Model
 *   One record per scope in the `quotas` database (layout in
 *   docs/storage-format.md) holds the scope's limits, the start of its
 *   grace periods, what live reservations hold against it and, for prefix
 *   scopes, the prefix's own usage counters (team and bucket usage is the
 *   namespace's `usage` database). A bucket's record also counts the prefix
 *   scopes under it, so a put into a bucket without prefix quotas looks up
 *   no prefix. A record exists while it has limits, holds reservations, or
 *   (bucket records) has prefix scopes under it; scope_put() deletes it
 *   when none of that is true any more.
 *
 *   Everything runs in the writer's nested transaction of one op: checks
 *   read every covering scope first and write nothing when one refuses,
 *   then the charge updates each of them, so usage, reservations and grace
 *   state change atomically with the object.
 *
 * What must stay true (mds_quota_check verifies it)
 *   - a prefix record's used counters equal a recount of its objects;
 *   - a record's reserved counters equal the sum of the live reservations
 *     that list its key; a reservation lists exactly the scopes it charged,
 *     and those records exist until it is released (they hold reserved > 0);
 *   - every reservation has one expiry index entry and vice versa;
 *   - a bucket record's n_prefix is the number of prefix records under it
 *     and max_prefix_len is at least the longest of their prefixes.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "nametree.h"
#include "ns_internal.h"
#include "quota.h"
#include "record.h"
#include "util.h"

#define QREC_VERSION 1
#define QREC_SIZE 110
#define RES_VERSION 1
#define AUDIT_VERSION 1
#define TOKEN_BYTES 16
#define SCOPE_KEY_MAX (1 + MDS_BUCKET_NAME_MAX + 1 + MDS_QUOTA_PREFIX_MAX)
#define COVER_INLINE 8
#define SWEEP_DEFAULT 256
#define SWEEP_MAX 4096
#define LIMIT_BITS (MDS_QUOTA_MAX_BYTES | MDS_QUOTA_MAX_OBJECTS | MDS_QUOTA_SOFT_BYTES | \
		    MDS_QUOTA_SOFT_OBJECTS)

/* A scope record as decoded. */
struct qrec {
	int has_limits;
	struct mds_quota_limits lim;
	uint64_t set_ns;
	uint64_t since_bytes, since_objects;   /* 0 = not over the soft limit */
	uint64_t res_bytes, res_objects;
	uint64_t used_bytes, used_objects;     /* prefix scopes only */
	uint32_t n_prefix, max_prefix_len;     /* bucket scopes only */
};

/* One covering scope of an object, loaded for a check and a charge. */
struct cover {
	uint8_t key[SCOPE_KEY_MAX];
	size_t klen;
	struct qrec rec;
	uint64_t used_bytes, used_objects;     /* from `usage` for team/bucket */
};

struct covers {
	struct cover inl[COVER_INLINE];
	struct cover *v;
	size_t n, cap;
};

/*
 * A reservation being converted by the op running now. Thread-local: each
 * store has its own writer thread, and only that thread applies ops.
 */
struct credit {
	int active;
	uint64_t bytes, objects;
	size_t n_keys;
	uint8_t (*keys)[SCOPE_KEY_MAX];
	size_t *klens;
};

static __thread struct credit g_credit;

/* ---- encodings ---------------------------------------------------------- */

static void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Scope record: see docs/storage-format.md ("Quota scope record"). */
static void qrec_encode(uint8_t buf[QREC_SIZE], const struct qrec *r)
{
	const uint64_t f[12] = { r->lim.max_bytes, r->lim.max_objects, r->lim.soft_bytes,
				 r->lim.soft_objects, r->lim.grace_ns, r->set_ns, r->since_bytes,
				 r->since_objects, r->res_bytes, r->res_objects, r->used_bytes,
				 r->used_objects };

	buf[0] = QREC_VERSION;
	buf[1] = (uint8_t)(r->has_limits ? 1 : 0);
	le32_put(buf + 2, r->lim.set);
	for (int i = 0; i < 12; i++)
		mds_le64_put(buf + 6 + 8 * i, f[i]);
	le32_put(buf + 102, r->n_prefix);
	le32_put(buf + 106, r->max_prefix_len);
}

static int qrec_decode(struct mds_str v, struct qrec *r)
{
	const uint8_t *p = (const uint8_t *)v.p;
	uint64_t f[12];

	if (v.len != QREC_SIZE || p[0] != QREC_VERSION || p[1] > 1)
		return MDS_ECORRUPT;
	for (int i = 0; i < 12; i++)
		f[i] = mds_le64_get(p + 6 + 8 * i);
	memset(r, 0, sizeof(*r));
	r->has_limits = p[1];
	r->lim.set = le32_get(p + 2);
	if (r->lim.set & ~LIMIT_BITS)
		return MDS_ECORRUPT;
	r->lim.max_bytes = f[0];
	r->lim.max_objects = f[1];
	r->lim.soft_bytes = f[2];
	r->lim.soft_objects = f[3];
	r->lim.grace_ns = f[4];
	r->set_ns = f[5];
	r->since_bytes = f[6];
	r->since_objects = f[7];
	r->res_bytes = f[8];
	r->res_objects = f[9];
	r->used_bytes = f[10];
	r->used_objects = f[11];
	r->n_prefix = le32_get(p + 102);
	r->max_prefix_len = le32_get(p + 106);
	return 0;
}

static int qrec_eq(const struct qrec *a, const struct qrec *b)
{
	uint8_t ea[QREC_SIZE], eb[QREC_SIZE];

	qrec_encode(ea, a);
	qrec_encode(eb, b);
	return memcmp(ea, eb, QREC_SIZE) == 0;
}

/* ---- scopes and their keys ------------------------------------------------ */

static int prefix_validate(struct mds_str prefix, struct mds_status *st)
{
	if (prefix.len == 0 || prefix.len > MDS_QUOTA_PREFIX_MAX)
		return mds_status_set(st, MDS_EINVAL,
				      "quota prefix is %zu bytes; it must be 1 to %d bytes", prefix.len,
				      MDS_QUOTA_PREFIX_MAX);
	if (prefix.p[prefix.len - 1] != '/')
		return mds_status_set(st, MDS_EINVAL,
				      "quota prefix must end with '/' (a directory-style subtree)");
	if (!mds_utf8_is_valid(prefix.p, prefix.len) || memchr(prefix.p, 0, prefix.len))
		return mds_status_set(st, MDS_EINVAL, "quota prefix is not valid utf-8 without nul");
	return 0;
}

int mds_quota_scope_parse(struct mds_str s, struct mds_quota_scope *out, struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];
	const char *slash = s.len ? memchr(s.p, '/', s.len) : NULL;
	struct mds_str kind, rest;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!slash)
		return mds_status_set(st, MDS_EINVAL,
				      "scope '%s' is not team/NAME, bucket/NAME or prefix/BUCKET/PATH/",
				      mds_quote(q, s));
	kind = (struct mds_str){ s.p, (size_t)(slash - s.p) };
	rest = (struct mds_str){ slash + 1, s.len - kind.len - 1 };
	if (mds_str_eq(kind, MDS_STR("team"))) {
		out->kind = MDS_SCOPE_TEAM;
		out->name = rest;
		return mds_validate_team_name(rest, st);
	}
	if (mds_str_eq(kind, MDS_STR("bucket"))) {
		out->kind = MDS_SCOPE_BUCKET;
		out->name = rest;
		return mds_validate_bucket_name(rest, st);
	}
	if (mds_str_eq(kind, MDS_STR("prefix"))) {
		const char *sl = rest.len ? memchr(rest.p, '/', rest.len) : NULL;

		if (!sl)
			return mds_status_set(st, MDS_EINVAL,
					      "prefix scope '%s' is not prefix/BUCKET/PATH/",
					      mds_quote(q, s));
		out->kind = MDS_SCOPE_PREFIX;
		out->name = (struct mds_str){ rest.p, (size_t)(sl - rest.p) };
		out->prefix = (struct mds_str){ sl + 1, rest.len - out->name.len - 1 };
		rc = mds_validate_bucket_name(out->name, st);
		if (rc == 0)
			rc = prefix_validate(out->prefix, st);
		return rc;
	}
	return mds_status_set(st, MDS_EINVAL, "scope kind '%s' is not team, bucket or prefix",
			      mds_quote(q, kind));
}

const char *mds_quota_scope_format(char buf[MDS_QUOTA_SCOPE_MAX + 1], const struct mds_quota_scope *sc)
{
	const char *kind = sc->kind == MDS_SCOPE_TEAM ? "team" :
			   sc->kind == MDS_SCOPE_BUCKET ? "bucket" : "prefix";

	if (sc->kind == MDS_SCOPE_PREFIX)
		snprintf(buf, MDS_QUOTA_SCOPE_MAX + 1, "%s/%.*s/%.*s", kind, (int)sc->name.len,
			 sc->name.p ? sc->name.p : "", (int)sc->prefix.len,
			 sc->prefix.p ? sc->prefix.p : "");
	else
		snprintf(buf, MDS_QUOTA_SCOPE_MAX + 1, "%s/%.*s", kind, (int)sc->name.len,
			 sc->name.p ? sc->name.p : "");
	return buf;
}

const char *mds_quota_state_name(enum mds_quota_state s)
{
	switch (s) {
	case MDS_QUOTA_OK:
		return "ok";
	case MDS_QUOTA_OVER_SOFT:
		return "over_soft";
	case MDS_QUOTA_BLOCKED_SOFT:
		return "blocked_soft";
	case MDS_QUOTA_BLOCKED_HARD:
		return "blocked_hard";
	}
	return "unknown";
}

/* 't' team | 'b' bucket | 'p' bucket 0x00 prefix. */
static size_t scope_key(uint8_t buf[SCOPE_KEY_MAX], enum mds_quota_scope_kind kind,
			struct mds_str name, struct mds_str prefix)
{
	size_t n = 1;

	buf[0] = kind == MDS_SCOPE_TEAM ? 't' : kind == MDS_SCOPE_BUCKET ? 'b' : 'p';
	if (name.len)
		memcpy(buf + n, name.p, name.len);
	n += name.len;
	if (kind == MDS_SCOPE_PREFIX) {
		buf[n++] = 0;
		if (prefix.len)
			memcpy(buf + n, prefix.p, prefix.len);
		n += prefix.len;
	}
	return n;
}

static int scope_from_key(struct mds_str k, struct mds_quota_scope *sc)
{
	const char *z;

	memset(sc, 0, sizeof(*sc));
	if (k.len < 2)
		return MDS_ECORRUPT;
	sc->name = (struct mds_str){ k.p + 1, k.len - 1 };
	switch (k.p[0]) {
	case 't':
		sc->kind = MDS_SCOPE_TEAM;
		return 0;
	case 'b':
		sc->kind = MDS_SCOPE_BUCKET;
		return 0;
	case 'p':
		sc->kind = MDS_SCOPE_PREFIX;
		z = memchr(k.p + 1, 0, k.len - 1);
		if (!z || z == k.p + k.len - 1)
			return MDS_ECORRUPT;
		sc->name.len = (size_t)(z - (k.p + 1));
		sc->prefix = (struct mds_str){ z + 1, k.len - 2 - sc->name.len };
		return 0;
	}
	return MDS_ECORRUPT;
}

static const char *key_format(char buf[MDS_QUOTA_SCOPE_MAX + 1], const uint8_t *key, size_t klen)
{
	struct mds_quota_scope sc;

	if (scope_from_key((struct mds_str){ (const char *)key, klen }, &sc)) {
		snprintf(buf, MDS_QUOTA_SCOPE_MAX + 1, "(bad scope key)");
		return buf;
	}
	return mds_quota_scope_format(buf, &sc);
}

/* ---- records ---------------------------------------------------------------- */

static int qrec_get(struct mds_txn *t, struct mds_str key, struct qrec *r)
{
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_QUOTAS, key, &v);

	if (rc)
		return rc;
	return qrec_decode(v, r);
}

static int usage_get(struct mds_txn *t, struct mds_str key, struct mds_usage *u)
{
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_USAGE, key, &v);

	if (rc == MDS_ENOTFOUND) {
		memset(u, 0, sizeof(*u));
		return 0;
	}
	if (rc)
		return rc;
	return mds_usage_decode(v.p, v.len, u);
}

static int usage_of_team(struct mds_txn *t, struct mds_str team, struct mds_usage *u)
{
	uint8_t k[1 + MDS_TEAM_NAME_MAX];

	k[0] = 't';
	memcpy(k + 1, team.p, team.len);
	return usage_get(t, (struct mds_str){ (char *)k, 1 + team.len }, u);
}

static int usage_of_bucket_id(struct mds_txn *t, uint64_t id, struct mds_usage *u)
{
	uint8_t k[9];

	k[0] = 'b';
	mds_be64_put(k + 1, id);
	return usage_get(t, (struct mds_str){ (char *)k, 9 }, u);
}

/* Used bytes/objects of the scope keyed @key with record @r (now, in @t). */
static int scope_used(struct mds_txn *t, const uint8_t *key, size_t klen, const struct qrec *r,
		      uint64_t *bytes, uint64_t *objects)
{
	struct mds_str name = { (const char *)key + 1, klen - 1 };
	struct mds_usage u = { 0, 0, 0 };
	struct mds_str v;
	int rc = 0;

	if (key[0] == 'p') {
		*bytes = r->used_bytes;
		*objects = r->used_objects;
		return 0;
	}
	if (key[0] == 't') {
		rc = usage_of_team(t, name, &u);
	} else {
		struct mds_bucket b;

		rc = mds_kv_get(t, MDS_DB_BUCKETS, name, &v);
		if (rc == 0)
			rc = mds_bucket_decode(v.p, v.len, &b);
		if (rc == 0)
			rc = usage_of_bucket_id(t, b.id, &u);
		else if (rc == MDS_ENOTFOUND)
			rc = 0;   /* a bucket quota outlives its bucket: usage 0 */
	}
	*bytes = u.bytes;
	*objects = u.objects;
	return rc;
}

static void grace_update(struct qrec *r, uint64_t used_bytes, uint64_t used_objects, uint64_t now)
{
	uint64_t tb = used_bytes + r->res_bytes, to = used_objects + r->res_objects;

	if (r->has_limits && (r->lim.set & MDS_QUOTA_SOFT_BYTES) && tb > r->lim.soft_bytes) {
		if (!r->since_bytes)
			r->since_bytes = now ? now : 1;
	} else {
		r->since_bytes = 0;
	}
	if (r->has_limits && (r->lim.set & MDS_QUOTA_SOFT_OBJECTS) && to > r->lim.soft_objects) {
		if (!r->since_objects)
			r->since_objects = now ? now : 1;
	} else {
		r->since_objects = 0;
	}
}

static int qrec_needed(const uint8_t *key, const struct qrec *r)
{
	return r->has_limits || r->res_bytes || r->res_objects || (key[0] == 'b' && r->n_prefix);
}

static int bucket_header_refresh(struct mds_txn *t, struct mds_str bucket, int delta);

/*
 * Writes @r under @key, or deletes the record when nothing keeps it; a
 * deleted prefix record is also taken off its bucket's record.
 */
static int scope_put(struct mds_txn *t, const uint8_t *key, size_t klen, const struct qrec *r)
{
	struct mds_str k = { (const char *)key, klen };
	uint8_t buf[QREC_SIZE];
	int rc;

	if (qrec_needed(key, r)) {
		qrec_encode(buf, r);
		return mds_kv_put(t, MDS_DB_QUOTAS, k, (struct mds_str){ (char *)buf, sizeof(buf) });
	}
	rc = mds_kv_del(t, MDS_DB_QUOTAS, k);
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	if (rc == 0 && key[0] == 'p') {
		struct mds_quota_scope sc;

		rc = scope_from_key(k, &sc);
		if (rc == 0)
			rc = bucket_header_refresh(t, sc.name, -1);
	}
	return rc;
}

/*
 * Adjusts bucket @bucket's record after a prefix record under it was
 * added (@delta = 1) or removed (-1): n_prefix and max_prefix_len, which is
 * recomputed from the prefix records (few per bucket).
 */
static int bucket_header_refresh(struct mds_txn *t, struct mds_str bucket, int delta)
{
	uint8_t key[SCOPE_KEY_MAX], seek[SCOPE_KEY_MAX];
	size_t klen = scope_key(key, MDS_SCOPE_BUCKET, bucket, MDS_STR_NULL);
	struct mds_str sk = { (char *)seek, scope_key(seek, MDS_SCOPE_PREFIX, bucket, MDS_STR_NULL) };
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	struct qrec r;
	uint32_t maxlen = 0;
	int rc;

	rc = qrec_get(t, (struct mds_str){ (char *)key, klen }, &r);
	if (rc == MDS_ENOTFOUND) {
		memset(&r, 0, sizeof(r));
		rc = 0;
	}
	if (rc)
		return rc;
	if (delta < 0 && r.n_prefix == 0)
		return MDS_ECORRUPT;
	r.n_prefix = (uint32_t)((int64_t)r.n_prefix + delta);
	rc = mds_kv_cursor_open(t, MDS_DB_QUOTAS, &c);
	if (rc)
		return rc;
	for (rc = mds_kv_seek(c, sk, &k, &v); rc == 0 && mds_str_has_prefix(k, sk);
	     rc = mds_kv_next(c, &k, &v))
		if (k.len - sk.len > maxlen)
			maxlen = (uint32_t)(k.len - sk.len);
	mds_kv_cursor_close(c);
	if (rc != 0 && rc != MDS_ENOTFOUND)
		return rc;
	r.max_prefix_len = maxlen;
	return scope_put(t, key, klen, &r);
}

/* ---- covering scopes ---------------------------------------------------------- */

static void covers_init(struct covers *cv)
{
	cv->v = cv->inl;
	cv->n = 0;
	cv->cap = COVER_INLINE;
}

static void covers_release(struct covers *cv)
{
	if (cv->v != cv->inl)
		free(cv->v);
}

static struct cover *covers_push(struct covers *cv)
{
	if (cv->n == cv->cap) {
		size_t cap = cv->cap * 2;
		struct cover *nv = malloc(cap * sizeof(*nv));

		if (!nv)
			return NULL;
		memcpy(nv, cv->v, cv->n * sizeof(*nv));
		if (cv->v != cv->inl)
			free(cv->v);
		cv->v = nv;
		cv->cap = cap;
	}
	return &cv->v[cv->n++];
}

/* Loads the record under @key into a new cover if it exists. */
static int cover_try(struct mds_txn *t, struct covers *cv, const uint8_t *key, size_t klen,
		     struct qrec *out_rec)
{
	struct qrec r;
	struct cover *c;
	int rc = qrec_get(t, (struct mds_str){ (const char *)key, klen }, &r);

	if (rc == MDS_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	c = covers_push(cv);
	if (!c)
		return MDS_ENOMEM;
	memcpy(c->key, key, klen);
	c->klen = klen;
	c->rec = r;
	if (out_rec)
		*out_rec = r;
	return 1;
}

/*
 * Every scope record covering object @name of bucket @b: the team's, the
 * bucket's and each prefix record whose PATH/ is a prefix of @name.
 */
static int covers_load(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		       struct covers *cv)
{
	uint8_t key[SCOPE_KEY_MAX];
	struct qrec br;
	uint64_t n_records;
	size_t klen;
	int rc;

	rc = mds_kv_count(t, MDS_DB_QUOTAS, &n_records);
	if (rc || n_records == 0)
		return rc;
	klen = scope_key(key, MDS_SCOPE_TEAM, b->team, MDS_STR_NULL);
	rc = cover_try(t, cv, key, klen, NULL);
	if (rc < 0)
		return rc;
	klen = scope_key(key, MDS_SCOPE_BUCKET, b->name, MDS_STR_NULL);
	rc = cover_try(t, cv, key, klen, &br);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 1 && i < name.len && i < br.max_prefix_len; i++) {
		int prc;

		if (name.p[i] != '/')
			continue;
		klen = scope_key(key, MDS_SCOPE_PREFIX, b->name, (struct mds_str){ name.p, i + 1 });
		prc = cover_try(t, cv, key, klen, NULL);
		if (prc < 0)
			return prc;
	}
	/* Usage of each: the team's and bucket's from `usage` (the bucket's by
	 * the id we hold, saving scope_used()'s bucket lookup), a prefix's from
	 * its record. */
	for (size_t i = 0; i < cv->n; i++) {
		struct cover *c = &cv->v[i];
		struct mds_usage u;

		if (c->key[0] == 'p') {
			c->used_bytes = c->rec.used_bytes;
			c->used_objects = c->rec.used_objects;
			continue;
		}
		rc = c->key[0] == 't' ? usage_of_team(t, b->team, &u) : usage_of_bucket_id(t, b->id, &u);
		if (rc)
			return rc;
		c->used_bytes = u.bytes;
		c->used_objects = u.objects;
	}
	return 0;
}

/* How much growth of @key the active credit covers without a check. */
static void credit_for(const uint8_t *key, size_t klen, uint64_t *bytes, uint64_t *objects)
{
	*bytes = *objects = 0;
	if (!g_credit.active)
		return;
	for (size_t i = 0; i < g_credit.n_keys; i++) {
		if (g_credit.klens[i] == klen && memcmp(g_credit.keys[i], key, klen) == 0) {
			*bytes = g_credit.bytes;
			*objects = g_credit.objects;
			return;
		}
	}
}

/* MDS_EQUOTA naming the scope; @grace_end != 0 for a soft limit past its grace. */
static int refuse(struct mds_status *st, const struct cover *c, const char *unit, uint64_t limit,
		  uint64_t used, uint64_t reserved, uint64_t need, uint64_t grace_end)
{
	char sc[MDS_QUOTA_SCOPE_MAX + 1], q[MDS_QUOTE_MAX];
	struct mds_str s;

	key_format(sc, c->key, c->klen);
	s = (struct mds_str){ sc, strlen(sc) };
	if (grace_end)
		return mds_status_set(st, MDS_EQUOTA,
				      "quota '%s': soft limit %llu %s exceeded and its grace ended at %llu ns; used %llu, reserved %llu, request needs %llu",
				      mds_quote(q, s), (unsigned long long)limit, unit,
				      (unsigned long long)grace_end, (unsigned long long)used,
				      (unsigned long long)reserved, (unsigned long long)need);
	return mds_status_set(st, MDS_EQUOTA,
			      "quota '%s': hard limit %llu %s; used %llu, reserved %llu, request needs %llu",
			      mds_quote(q, s), (unsigned long long)limit, unit,
			      (unsigned long long)used, (unsigned long long)reserved,
			      (unsigned long long)need);
}

/* Checks one dimension of one scope against growth @need (> 0). */
static int dim_check(const struct cover *c, struct mds_status *st, int is_bytes, uint64_t need,
		     uint64_t now)
{
	const struct qrec *r = &c->rec;
	uint64_t used = is_bytes ? c->used_bytes : c->used_objects;
	uint64_t res = is_bytes ? r->res_bytes : r->res_objects;
	uint64_t hard = is_bytes ? r->lim.max_bytes : r->lim.max_objects;
	uint64_t soft = is_bytes ? r->lim.soft_bytes : r->lim.soft_objects;
	uint64_t since = is_bytes ? r->since_bytes : r->since_objects;
	uint32_t hbit = is_bytes ? MDS_QUOTA_MAX_BYTES : MDS_QUOTA_MAX_OBJECTS;
	uint32_t sbit = is_bytes ? MDS_QUOTA_SOFT_BYTES : MDS_QUOTA_SOFT_OBJECTS;
	const char *unit = is_bytes ? "bytes" : "objects";
	uint64_t total = used + res, after = total + need;

	if (!r->has_limits)
		return 0;
	if (after < total)   /* overflow: nothing can fit */
		after = UINT64_MAX;
	if ((r->lim.set & hbit) && after > hard)
		return refuse(st, c, unit, hard, used, res, need, 0);
	if ((r->lim.set & sbit) && after > soft && since && now >= sat_add(since, r->lim.grace_ns))
		return refuse(st, c, unit, soft, used, res, need, sat_add(since, r->lim.grace_ns));
	return 0;
}

/*
 * Checks every cover against a change of used (@du_*) and reserved (@dr_*)
 * amounts, then applies it. Growth covered by the active credit is not
 * checked. Nothing is written unless every scope allows the change.
 */
static int covers_charge(struct mds_txn *t, struct covers *cv, int64_t du_bytes, int64_t du_objects,
			 int64_t dr_bytes, int64_t dr_objects, struct mds_status *st)
{
	uint64_t now = mds_txn_now_ns(t);
	int64_t gb = du_bytes + dr_bytes, go = du_objects + dr_objects;
	int rc;

	for (size_t i = 0; i < cv->n; i++) {
		struct cover *c = &cv->v[i];
		uint64_t cb, co;

		credit_for(c->key, c->klen, &cb, &co);
		if (gb > 0 && (uint64_t)gb > cb) {
			rc = dim_check(c, st, 1, (uint64_t)gb, now);
			if (rc)
				return rc;
		}
		if (go > 0 && (uint64_t)go > co) {
			rc = dim_check(c, st, 0, (uint64_t)go, now);
			if (rc)
				return rc;
		}
	}
	for (size_t i = 0; i < cv->n; i++) {
		struct cover *c = &cv->v[i];
		struct qrec old = c->rec;

		c->used_bytes += (uint64_t)du_bytes;
		c->used_objects += (uint64_t)du_objects;
		if (c->key[0] == 'p') {
			c->rec.used_bytes = c->used_bytes;
			c->rec.used_objects = c->used_objects;
		}
		c->rec.res_bytes += (uint64_t)dr_bytes;
		c->rec.res_objects += (uint64_t)dr_objects;
		grace_update(&c->rec, c->used_bytes, c->used_objects, now);
		if (qrec_eq(&old, &c->rec))
			continue;
		rc = scope_put(t, c->key, c->klen, &c->rec);
		if (rc)
			return rc;
	}
	return 0;
}

int mds_quota_charge(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		     int64_t bytes, int64_t objects, struct mds_status *st)
{
	struct covers cv;
	int rc;

	covers_init(&cv);
	rc = covers_load(t, b, name, &cv);
	if (rc == 0 && cv.n)
		rc = covers_charge(t, &cv, bytes, objects, 0, 0, st);
	covers_release(&cv);
	if (rc && rc != MDS_EQUOTA) {
		char q[MDS_QUOTE_MAX];

		return mds_status_set(st, rc, "cannot charge quotas for object '%s': %s",
				      mds_quote(q, name), mds_strerror(rc));
	}
	return rc;
}

/* ---- reservations ------------------------------------------------------------- */

struct resv {
	uint8_t id[TOKEN_BYTES];
	uint64_t expiry_ns, created_ns, bytes, objects;
	struct mds_str bucket, name;      /* borrowed from the stored value */
	size_t n_keys;
	struct mds_str keys_raw;          /* n_keys x (klen(2 LE) key) */
};

int mds_quota_token_new(char buf[MDS_RESERVATION_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[TOKEN_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		buf[0] = 0;
		return MDS_EINTERNAL;
	}
	for (int i = 0; i < TOKEN_BYTES; i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[MDS_RESERVATION_TOKEN_LEN] = 0;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int token_parse(struct mds_str tok, uint8_t id[TOKEN_BYTES], struct mds_status *st)
{
	if (tok.len != MDS_RESERVATION_TOKEN_LEN)
		goto bad;
	for (int i = 0; i < TOKEN_BYTES; i++) {
		int hi = hexval(tok.p[2 * i]), lo = hexval(tok.p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto bad;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
bad:
	return mds_status_set(st, MDS_EINVAL,
			      "reservation token must be %d lower-case hex characters",
			      MDS_RESERVATION_TOKEN_LEN);
}

static size_t resv_encoded_size(struct mds_str bucket, struct mds_str name, const struct covers *cv)
{
	size_t n = 1 + 4 * 8 + 1 + bucket.len + 2 + name.len + 1;

	for (size_t i = 0; i < cv->n; i++)
		n += 2 + cv->v[i].klen;
	return n;
}

static size_t resv_encode(uint8_t *buf, const struct resv *r, const struct covers *cv)
{
	size_t n = 0;

	buf[n++] = RES_VERSION;
	mds_le64_put(buf + n, r->expiry_ns);
	mds_le64_put(buf + n + 8, r->created_ns);
	mds_le64_put(buf + n + 16, r->bytes);
	mds_le64_put(buf + n + 24, r->objects);
	n += 32;
	buf[n++] = (uint8_t)r->bucket.len;
	memcpy(buf + n, r->bucket.p, r->bucket.len);
	n += r->bucket.len;
	buf[n++] = (uint8_t)r->name.len;
	buf[n++] = (uint8_t)(r->name.len >> 8);
	memcpy(buf + n, r->name.p, r->name.len);
	n += r->name.len;
	buf[n++] = (uint8_t)cv->n;
	for (size_t i = 0; i < cv->n; i++) {
		buf[n++] = (uint8_t)cv->v[i].klen;
		buf[n++] = (uint8_t)(cv->v[i].klen >> 8);
		memcpy(buf + n, cv->v[i].key, cv->v[i].klen);
		n += cv->v[i].klen;
	}
	return n;
}

static int resv_decode(struct mds_str v, struct resv *r)
{
	const uint8_t *p = (const uint8_t *)v.p;
	size_t n = 0, len;

	if (v.len < 1 + 32 + 1 || p[0] != RES_VERSION)
		return MDS_ECORRUPT;
	n = 1;
	r->expiry_ns = mds_le64_get(p + n);
	r->created_ns = mds_le64_get(p + n + 8);
	r->bytes = mds_le64_get(p + n + 16);
	r->objects = mds_le64_get(p + n + 24);
	n += 32;
	len = p[n++];
	if (n + len + 2 > v.len)
		return MDS_ECORRUPT;
	r->bucket = (struct mds_str){ v.p + n, len };
	n += len;
	len = (size_t)p[n] | (size_t)p[n + 1] << 8;
	n += 2;
	if (n + len + 1 > v.len)
		return MDS_ECORRUPT;
	r->name = (struct mds_str){ v.p + n, len };
	n += len;
	r->n_keys = p[n++];
	r->keys_raw = (struct mds_str){ v.p + n, v.len - n };
	/* Validate the key list once so walkers need not. */
	for (size_t i = 0; i < r->n_keys; i++) {
		if (n + 2 > v.len)
			return MDS_ECORRUPT;
		len = (size_t)p[n] | (size_t)p[n + 1] << 8;
		if (len == 0 || len > SCOPE_KEY_MAX || n + 2 + len > v.len)
			return MDS_ECORRUPT;
		n += 2 + len;
	}
	return n == v.len ? 0 : MDS_ECORRUPT;
}

/* Walks a validated key list: returns the key at *off and advances it. */
static struct mds_str resv_key_next(const struct resv *r, size_t *off)
{
	const uint8_t *p = (const uint8_t *)r->keys_raw.p + *off;
	size_t len = (size_t)p[0] | (size_t)p[1] << 8;

	*off += 2 + len;
	return (struct mds_str){ (const char *)p + 2, len };
}

static struct mds_str expiry_key(uint8_t buf[8 + TOKEN_BYTES], uint64_t expiry,
				 const uint8_t id[TOKEN_BYTES])
{
	mds_be64_put(buf, expiry);
	memcpy(buf + 8, id, TOKEN_BYTES);
	return (struct mds_str){ (char *)buf, 8 + TOKEN_BYTES };
}

/* Loads reservation @id; strings in @r borrow from @t until its next write. */
static int resv_load(struct mds_txn *t, const uint8_t id[TOKEN_BYTES], struct resv *r)
{
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_RESERVATIONS, (struct mds_str){ (const char *)id, TOKEN_BYTES },
			    &v);

	if (rc)
		return rc;
	memcpy(r->id, id, TOKEN_BYTES);
	return resv_decode(v, r);
}

/*
 * Gives back what reservation @id holds on each scope it lists and deletes
 * it with its expiry entry. If @credit is not NULL, records the scopes and
 * amounts as the credit of the op running now.
 */
static int resv_release(struct mds_txn *t, const uint8_t id[TOKEN_BYTES], struct credit *credit)
{
	uint8_t ekey[8 + TOKEN_BYTES], *copy = NULL;
	uint64_t now = mds_txn_now_ns(t);
	struct mds_str v;
	struct resv r;
	size_t off = 0;
	int rc;

	rc = mds_kv_get(t, MDS_DB_RESERVATIONS, (struct mds_str){ (const char *)id, TOKEN_BYTES }, &v);
	if (rc)
		return rc;
	/* Writes to `quotas` below must not move what we walk: copy it. */
	copy = malloc(v.len ? v.len : 1);
	if (!copy)
		return MDS_ENOMEM;
	memcpy(copy, v.p, v.len);
	rc = resv_decode((struct mds_str){ (char *)copy, v.len }, &r);
	if (rc)
		goto out;
	if (credit) {
		credit->bytes = r.bytes;
		credit->objects = r.objects;
		credit->n_keys = 0;
		credit->keys = malloc((r.n_keys ? r.n_keys : 1) * sizeof(*credit->keys));
		credit->klens = malloc((r.n_keys ? r.n_keys : 1) * sizeof(*credit->klens));
		if (!credit->keys || !credit->klens) {
			rc = MDS_ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < r.n_keys; i++) {
		struct mds_str k = resv_key_next(&r, &off);
		struct qrec q;
		uint64_t ub, uo;

		rc = qrec_get(t, k, &q);
		if (rc == MDS_ENOTFOUND || (rc == 0 && (q.res_bytes < r.bytes || q.res_objects < r.objects)))
			rc = MDS_ECORRUPT;   /* the record must hold what we reserved */
		if (rc == 0)
			rc = scope_used(t, (const uint8_t *)k.p, k.len, &q, &ub, &uo);
		if (rc)
			goto out;
		q.res_bytes -= r.bytes;
		q.res_objects -= r.objects;
		grace_update(&q, ub, uo, now);
		rc = scope_put(t, (const uint8_t *)k.p, k.len, &q);
		if (rc)
			goto out;
		if (credit) {
			memcpy(credit->keys[credit->n_keys], k.p, k.len);
			credit->klens[credit->n_keys++] = k.len;
		}
	}
	rc = mds_kv_del(t, MDS_DB_RES_EXPIRY, expiry_key(ekey, r.expiry_ns, id));
	if (rc == MDS_ENOTFOUND)
		rc = MDS_ECORRUPT;
	if (rc == 0)
		rc = mds_kv_del(t, MDS_DB_RESERVATIONS, (struct mds_str){ (const char *)id, TOKEN_BYTES });
out:
	free(copy);
	return rc;
}

static void credit_clear(struct credit *c)
{
	free(c->keys);
	free(c->klens);
	memset(c, 0, sizeof(*c));
}

static int apply_reserve(struct mds_txn *t, struct mds_op *op)
{
	uint8_t id[TOKEN_BYTES], ekey[8 + TOKEN_BYTES], *buf = NULL;
	struct mds_status *st = &op->status;
	uint64_t now = mds_txn_now_ns(t);
	struct covers cv;
	struct mds_bucket b;
	struct mds_str v;
	struct resv r;
	size_t n;
	int rc;

	covers_init(&cv);
	rc = token_parse(op->reservation, id, st);
	if (rc == 0)
		rc = mds_validate_object_name(op->name, st);
	if (rc)
		goto out;
	if (op->reserve_ttl_ns == 0 || (op->reserve_bytes == 0 && op->reserve_objects == 0) ||
	    op->reserve_bytes > INT64_MAX || op->reserve_objects > INT64_MAX) {
		rc = mds_status_set(st, MDS_EINVAL,
				    "a reservation needs a ttl and some bytes or objects (each below 2^63)");
		goto out;
	}
	rc = mds_ns_bucket_lookup(t, op->bucket, &b, st);
	if (rc)
		goto out;
	rc = mds_kv_get(t, MDS_DB_RESERVATIONS, (struct mds_str){ (char *)id, TOKEN_BYTES }, &v);
	if (rc == 0) {
		rc = mds_status_set(st, MDS_EEXIST, "reservation token is in use; make a new one");
		goto out;
	}
	if (rc != MDS_ENOTFOUND)
		goto out_fail;
	rc = covers_load(t, &b, op->name, &cv);
	if (rc)
		goto out_fail;
	if (cv.n > 255) {
		rc = mds_status_set(st, MDS_EINVAL, "object is covered by %zu quota scopes; at most 255",
				    cv.n);
		goto out;
	}
	rc = covers_charge(t, &cv, 0, 0, (int64_t)op->reserve_bytes, (int64_t)op->reserve_objects, st);
	if (rc == MDS_EQUOTA)
		goto out;
	if (rc)
		goto out_fail;
	memset(&r, 0, sizeof(r));
	r.expiry_ns = sat_add(now, op->reserve_ttl_ns);
	r.created_ns = now;
	r.bytes = op->reserve_bytes;
	r.objects = op->reserve_objects;
	r.bucket = op->bucket;
	r.name = op->name;
	n = resv_encoded_size(op->bucket, op->name, &cv);
	buf = malloc(n);
	if (!buf) {
		rc = MDS_ENOMEM;
		goto out_fail;
	}
	resv_encode(buf, &r, &cv);
	rc = mds_kv_put(t, MDS_DB_RESERVATIONS, (struct mds_str){ (char *)id, TOKEN_BYTES },
			(struct mds_str){ (char *)buf, n });
	if (rc == 0)
		rc = mds_kv_put(t, MDS_DB_RES_EXPIRY, expiry_key(ekey, r.expiry_ns, id), MDS_STR(""));
	if (rc)
		goto out_fail;
	op->out_mtime_ns = r.expiry_ns;
	goto out;
out_fail:
	mds_status_set(st, rc, "cannot reserve for object in bucket: %s", mds_strerror(rc));
out:
	free(buf);
	covers_release(&cv);
	return rc;
}

int mds_quota_commit_begin(struct mds_txn *t, struct mds_str token, struct mds_str bucket,
			   struct mds_str name, struct mds_status *st)
{
	uint8_t id[TOKEN_BYTES];
	struct resv r;
	int rc;

	credit_clear(&g_credit);
	rc = token_parse(token, id, st);
	if (rc)
		return rc;
	rc = resv_load(t, id, &r);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "reservation does not exist (released, committed or expired)");
	if (rc)
		return mds_status_set(st, rc, "cannot read reservation: %s", mds_strerror(rc));
	if (r.expiry_ns <= mds_txn_now_ns(t))
		return mds_status_set(st, MDS_ENOTFOUND, "reservation expired at %llu ns",
				      (unsigned long long)r.expiry_ns);
	if (!mds_str_eq(r.bucket, bucket) || !mds_str_eq(r.name, name))
		return mds_status_set(st, MDS_EINVAL,
				      "reservation was made for another bucket or object name");
	rc = resv_release(t, id, &g_credit);
	if (rc) {
		credit_clear(&g_credit);
		return mds_status_set(st, rc, "cannot release reservation: %s", mds_strerror(rc));
	}
	g_credit.active = 1;
	return 0;
}

void mds_quota_commit_end(void)
{
	credit_clear(&g_credit);
}

static int apply_commit(struct mds_txn *t, struct mds_op *op)
{
	int rc = mds_validate_object_name(op->name, &op->status);

	if (rc == 0)
		rc = mds_validate_bucket_name(op->bucket, &op->status);
	if (rc)
		return rc;
	rc = mds_quota_commit_begin(t, op->reservation, op->bucket, op->name, &op->status);
	if (rc)
		return rc;
	/* The put itself is namespace.c's; its usage charge uses the credit. */
	op->kind = MDS_OP_OBJECT_PUT;
	rc = mds_ns_apply(t, op);
	op->kind = MDS_OP_RESERVE_COMMIT;
	mds_quota_commit_end();
	return rc;
}

static int apply_release(struct mds_txn *t, struct mds_op *op)
{
	uint8_t id[TOKEN_BYTES];
	int rc = token_parse(op->reservation, id, &op->status);

	if (rc)
		return rc;
	rc = resv_release(t, id, NULL);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc,
				      "reservation does not exist (released, committed or expired)");
	if (rc)
		return mds_status_set(&op->status, rc, "cannot release reservation: %s",
				      mds_strerror(rc));
	return 0;
}

static int apply_sweep(struct mds_txn *t, struct mds_op *op)
{
	unsigned max = op->sweep_max ? op->sweep_max : SWEEP_DEFAULT;
	uint64_t now = mds_txn_now_ns(t);
	uint8_t (*ids)[TOKEN_BYTES] = NULL;
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	size_t n = 0;
	int rc;

	if (max > SWEEP_MAX)
		max = SWEEP_MAX;
	ids = malloc(max * sizeof(*ids));
	if (!ids) {
		rc = MDS_ENOMEM;
		goto out;
	}
	rc = mds_kv_cursor_open(t, MDS_DB_RES_EXPIRY, &c);
	if (rc)
		goto out;
	for (rc = mds_kv_first(c, &k, &v); rc == 0 && n < max; rc = mds_kv_next(c, &k, &v)) {
		if (k.len != 8 + TOKEN_BYTES) {
			rc = MDS_ECORRUPT;
			break;
		}
		if (mds_be64_get((const uint8_t *)k.p) > now)
			break;
		memcpy(ids[n++], k.p + 8, TOKEN_BYTES);
	}
	mds_kv_cursor_close(c);
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = resv_release(t, ids[i], NULL);
	op->out_version = n;
out:
	free(ids);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot sweep expired reservations: %s",
				      mds_strerror(rc));
	return 0;
}

/* ---- quota set / delete and the audit log ------------------------------------- */

#define LIMITS_SIZE 44
#define AUDIT_SET 1
#define AUDIT_DELETE 2

static void limits_encode(uint8_t *p, const struct mds_quota_limits *l)
{
	le32_put(p, l->set);
	mds_le64_put(p + 4, l->max_bytes);
	mds_le64_put(p + 12, l->max_objects);
	mds_le64_put(p + 20, l->soft_bytes);
	mds_le64_put(p + 28, l->soft_objects);
	mds_le64_put(p + 36, l->grace_ns);
}

static void limits_decode(const uint8_t *p, struct mds_quota_limits *l)
{
	l->set = le32_get(p);
	l->max_bytes = mds_le64_get(p + 4);
	l->max_objects = mds_le64_get(p + 12);
	l->soft_bytes = mds_le64_get(p + 20);
	l->soft_objects = mds_le64_get(p + 28);
	l->grace_ns = mds_le64_get(p + 36);
}

static int audit_append(struct mds_txn *t, int action, struct mds_str principal,
			const uint8_t *key, size_t klen, const struct mds_quota_limits *old,
			const struct mds_quota_limits *nw)
{
	uint8_t kbuf[8], buf[1 + 8 + 1 + 1 + MDS_PRINCIPAL_MAX + 2 + SCOPE_KEY_MAX + 2 * (1 + LIMITS_SIZE)];
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	uint64_t seq = 1;
	size_t n = 0;
	int rc;

	rc = mds_kv_cursor_open(t, MDS_DB_QUOTA_AUDIT, &c);
	if (rc)
		return rc;
	rc = mds_kv_last(c, &k, &v);
	if (rc == 0 && k.len == 8)
		seq = mds_be64_get((const uint8_t *)k.p) + 1;
	else if (rc == 0)
		rc = MDS_ECORRUPT;
	mds_kv_cursor_close(c);
	if (rc && rc != MDS_ENOTFOUND)
		return rc;
	buf[n++] = AUDIT_VERSION;
	mds_le64_put(buf + n, mds_txn_now_ns(t));
	n += 8;
	buf[n++] = (uint8_t)action;
	buf[n++] = (uint8_t)principal.len;
	memcpy(buf + n, principal.p, principal.len);
	n += principal.len;
	buf[n++] = (uint8_t)klen;
	buf[n++] = (uint8_t)(klen >> 8);
	memcpy(buf + n, key, klen);
	n += klen;
	buf[n++] = old ? 1 : 0;
	if (old) {
		limits_encode(buf + n, old);
		n += LIMITS_SIZE;
	}
	buf[n++] = nw ? 1 : 0;
	if (nw) {
		limits_encode(buf + n, nw);
		n += LIMITS_SIZE;
	}
	mds_be64_put(kbuf, seq);
	return mds_kv_put(t, MDS_DB_QUOTA_AUDIT, (struct mds_str){ (char *)kbuf, 8 },
			  (struct mds_str){ (char *)buf, n });
}

static int audit_decode(struct mds_str k, struct mds_str v, struct mds_quota_audit *a)
{
	const uint8_t *p = (const uint8_t *)v.p;
	size_t n = 0, len;

	memset(a, 0, sizeof(*a));
	if (k.len != 8 || v.len < 1 + 8 + 1 + 1 || p[0] != AUDIT_VERSION)
		return MDS_ECORRUPT;
	a->seq = mds_be64_get((const uint8_t *)k.p);
	a->time_ns = mds_le64_get(p + 1);
	a->is_delete = p[9] == AUDIT_DELETE;
	len = p[10];
	n = 11;
	if (n + len + 2 > v.len)
		return MDS_ECORRUPT;
	a->principal = (struct mds_str){ v.p + n, len };
	n += len;
	len = (size_t)p[n] | (size_t)p[n + 1] << 8;
	n += 2;
	if (n + len + 1 > v.len || scope_from_key((struct mds_str){ v.p + n, len }, &a->scope))
		return MDS_ECORRUPT;
	n += len;
	a->had_old = p[n++];
	if (a->had_old) {
		if (n + LIMITS_SIZE + 1 > v.len)
			return MDS_ECORRUPT;
		limits_decode(p + n, &a->old_limits);
		n += LIMITS_SIZE;
	}
	if (n + 1 > v.len)
		return MDS_ECORRUPT;
	a->has_new = p[n++];
	if (a->has_new) {
		if (n + LIMITS_SIZE > v.len)
			return MDS_ECORRUPT;
		limits_decode(p + n, &a->new_limits);
		n += LIMITS_SIZE;
	}
	return n == v.len ? 0 : MDS_ECORRUPT;
}

static int principal_validate(struct mds_str p, struct mds_status *st)
{
	if (p.len == 0 || p.len > MDS_PRINCIPAL_MAX || !mds_utf8_is_valid(p.p, p.len))
		return mds_status_set(st, MDS_EINVAL,
				      "a quota change needs a principal (who): 1 to %d bytes of utf-8",
				      MDS_PRINCIPAL_MAX);
	return 0;
}

static int limits_validate(const struct mds_quota_limits *l, struct mds_status *st)
{
	if (l->set == 0 || (l->set & ~LIMIT_BITS))
		return mds_status_set(st, MDS_EINVAL,
				      "quota limits: set at least one of max/soft bytes/objects (bits 0x%x given)",
				      l->set);
	if ((l->set & MDS_QUOTA_MAX_BYTES) && (l->set & MDS_QUOTA_SOFT_BYTES) &&
	    l->soft_bytes > l->max_bytes)
		return mds_status_set(st, MDS_EINVAL, "soft bytes %llu is above max bytes %llu",
				      (unsigned long long)l->soft_bytes, (unsigned long long)l->max_bytes);
	if ((l->set & MDS_QUOTA_MAX_OBJECTS) && (l->set & MDS_QUOTA_SOFT_OBJECTS) &&
	    l->soft_objects > l->max_objects)
		return mds_status_set(st, MDS_EINVAL, "soft objects %llu is above max objects %llu",
				      (unsigned long long)l->soft_objects,
				      (unsigned long long)l->max_objects);
	return 0;
}

/* Counts the objects of bucket @root under @prefix (the cost of a first prefix quota). */
static int prefix_recount(struct mds_txn *t, uint64_t root, struct mds_str prefix,
			  uint64_t *bytes, uint64_t *objects)
{
	struct mds_tree_iter it;
	int rc;

	*bytes = *objects = 0;
	mds_tree_iter_init(&it, t, root);
	for (rc = mds_tree_iter_seek(&it, prefix, 1); rc == 0; rc = mds_tree_iter_next(&it)) {
		struct mds_str nm = { it.name, it.name_len };
		struct mds_object o;

		if (!mds_str_has_prefix(nm, prefix))
			break;
		rc = mds_object_decode(it.rec.p, it.rec.len, &o);
		if (rc)
			break;
		*bytes += o.size;
		(*objects)++;
	}
	mds_tree_iter_release(&it);
	return rc == MDS_ENOTFOUND ? 0 : rc;
}

static int apply_quota_set(struct mds_txn *t, struct mds_op *op)
{
	struct mds_status *st = &op->status;
	uint8_t key[SCOPE_KEY_MAX];
	struct mds_quota_limits old_lim;
	struct mds_quota_scope sc;
	struct mds_bucket b;
	struct mds_str v;
	struct qrec r;
	uint64_t ub = 0, uo = 0, now = mds_txn_now_ns(t);
	char q[MDS_QUOTE_MAX];
	size_t klen;
	int rc, is_new, had_old;

	rc = mds_quota_scope_parse(op->scope, &sc, st);
	if (rc == 0)
		rc = principal_validate(op->principal, st);
	if (rc == 0)
		rc = limits_validate(&op->limits, st);
	if (rc)
		return rc;
	if (sc.kind == MDS_SCOPE_TEAM) {
		rc = mds_kv_get(t, MDS_DB_TEAMS, sc.name, &v);
		if (rc == MDS_ENOTFOUND)
			return mds_status_set(st, rc, "team '%s' does not exist", mds_quote(q, sc.name));
	} else {
		rc = mds_ns_bucket_lookup(t, sc.name, &b, st);
		if (rc == MDS_ENOTFOUND)
			return rc;
	}
	if (rc)
		goto out_fail;
	klen = scope_key(key, sc.kind, sc.name, sc.prefix);
	rc = qrec_get(t, (struct mds_str){ (char *)key, klen }, &r);
	is_new = rc == MDS_ENOTFOUND;
	if (is_new) {
		memset(&r, 0, sizeof(r));
		rc = 0;
		if (sc.kind == MDS_SCOPE_PREFIX)
			rc = prefix_recount(t, b.id, sc.prefix, &r.used_bytes, &r.used_objects);
	}
	if (rc)
		goto out_fail;
	had_old = r.has_limits;
	old_lim = r.lim;
	r.has_limits = 1;
	r.lim = op->limits;
	r.set_ns = now;
	rc = scope_used(t, key, klen, &r, &ub, &uo);
	if (rc)
		goto out_fail;
	grace_update(&r, ub, uo, now);
	rc = scope_put(t, key, klen, &r);
	if (rc == 0 && is_new && sc.kind == MDS_SCOPE_PREFIX)
		rc = bucket_header_refresh(t, sc.name, 1);
	if (rc == 0)
		rc = audit_append(t, AUDIT_SET, op->principal, key, klen, had_old ? &old_lim : NULL,
				  &op->limits);
	if (rc)
		goto out_fail;
	op->out_mtime_ns = now;
	return 0;
out_fail:
	return mds_status_set(st, rc, "cannot set quota on '%s': %s", mds_quote(q, op->scope),
			      mds_strerror(rc));
}

static int apply_quota_delete(struct mds_txn *t, struct mds_op *op)
{
	struct mds_status *st = &op->status;
	uint8_t key[SCOPE_KEY_MAX];
	struct mds_quota_limits old_lim;
	struct mds_quota_scope sc;
	struct qrec r;
	char q[MDS_QUOTE_MAX];
	size_t klen;
	int rc;

	rc = mds_quota_scope_parse(op->scope, &sc, st);
	if (rc == 0)
		rc = principal_validate(op->principal, st);
	if (rc)
		return rc;
	klen = scope_key(key, sc.kind, sc.name, sc.prefix);
	rc = qrec_get(t, (struct mds_str){ (char *)key, klen }, &r);
	if (rc == MDS_ENOTFOUND || (rc == 0 && !r.has_limits))
		return mds_status_set(st, MDS_ENOTFOUND, "no quota is set on '%s'",
				      mds_quote(q, op->scope));
	if (rc)
		goto out_fail;
	old_lim = r.lim;
	r.has_limits = 0;
	memset(&r.lim, 0, sizeof(r.lim));
	r.set_ns = 0;
	r.since_bytes = r.since_objects = 0;
	rc = scope_put(t, key, klen, &r);
	if (rc == 0)
		rc = audit_append(t, AUDIT_DELETE, op->principal, key, klen, &old_lim, NULL);
	if (rc)
		goto out_fail;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
out_fail:
	return mds_status_set(st, rc, "cannot delete quota on '%s': %s", mds_quote(q, op->scope),
			      mds_strerror(rc));
}

int mds_quota_apply(struct mds_txn *t, struct mds_op *op)
{
	switch ((int)op->kind) {
	case MDS_OP_QUOTA_SET:
		return apply_quota_set(t, op);
	case MDS_OP_QUOTA_DELETE:
		return apply_quota_delete(t, op);
	case MDS_OP_RESERVE:
		return apply_reserve(t, op);
	case MDS_OP_RESERVE_COMMIT:
		return apply_commit(t, op);
	case MDS_OP_RESERVE_RELEASE:
		return apply_release(t, op);
	case MDS_OP_RESERVE_SWEEP:
		return apply_sweep(t, op);
	}
	return mds_status_set(&op->status, MDS_EINVAL, "unknown quota op kind %d", (int)op->kind);
}

/* ---- reads -------------------------------------------------------------------- */

/* State of one dimension; *until receives the grace end for soft states. */
static enum mds_quota_state dim_state(const struct qrec *r, int is_bytes, uint64_t used,
				      uint64_t now, uint64_t *until)
{
	uint64_t total = used + (is_bytes ? r->res_bytes : r->res_objects);
	uint64_t hard = is_bytes ? r->lim.max_bytes : r->lim.max_objects;
	uint64_t soft = is_bytes ? r->lim.soft_bytes : r->lim.soft_objects;
	uint64_t since = is_bytes ? r->since_bytes : r->since_objects;
	uint32_t hbit = is_bytes ? MDS_QUOTA_MAX_BYTES : MDS_QUOTA_MAX_OBJECTS;
	uint32_t sbit = is_bytes ? MDS_QUOTA_SOFT_BYTES : MDS_QUOTA_SOFT_OBJECTS;

	*until = 0;
	if (!r->has_limits)
		return MDS_QUOTA_OK;
	if ((r->lim.set & hbit) && total >= hard)
		return MDS_QUOTA_BLOCKED_HARD;
	if ((r->lim.set & sbit) && total > soft && since) {
		*until = sat_add(since, r->lim.grace_ns);
		return now >= *until ? MDS_QUOTA_BLOCKED_SOFT : MDS_QUOTA_OVER_SOFT;
	}
	return MDS_QUOTA_OK;
}

static void info_fill(struct mds_quota_info *out, const struct qrec *r, uint64_t ub, uint64_t uo,
		      uint64_t now)
{
	enum mds_quota_state sb, so;
	uint64_t tb, to;

	out->has_limits = r->has_limits;
	out->limits = r->lim;
	out->used_bytes = ub;
	out->used_objects = uo;
	out->reserved_bytes = r->res_bytes;
	out->reserved_objects = r->res_objects;
	out->set_ns = r->set_ns;
	sb = dim_state(r, 1, ub, now, &tb);
	so = dim_state(r, 0, uo, now, &to);
	out->state = sb > so ? sb : so;
	out->grace_until_ns = sb > so ? tb : so > sb ? to : (tb && to ? (tb < to ? tb : to) : tb | to);
}

/* Fills @out for the scope keyed @key (record @r may be absent: @have_rec 0). */
static int info_from_key(struct mds_txn *t, const uint8_t *key, size_t klen, const struct qrec *r,
			 struct mds_quota_info *out)
{
	uint64_t ub, uo;
	int rc = scope_used(t, key, klen, r, &ub, &uo);

	if (rc)
		return rc;
	rc = scope_from_key((struct mds_str){ (const char *)key, klen }, &out->scope);
	if (rc)
		return rc;
	info_fill(out, r, ub, uo, mds_txn_now_ns(t));
	return 0;
}

int mds_quota_usage(struct mds_reader *r, struct mds_str scope, struct mds_quota_info *out,
		    struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	uint8_t key[SCOPE_KEY_MAX];
	struct mds_quota_scope sc;
	struct mds_bucket b;
	struct mds_str v, k;
	struct qrec q;
	char qq[MDS_QUOTE_MAX];
	size_t klen;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = mds_quota_scope_parse(scope, &sc, st);
	if (rc)
		return rc;
	if (sc.kind == MDS_SCOPE_TEAM) {
		rc = mds_kv_get(t, MDS_DB_TEAMS, sc.name, &v);
		if (rc == MDS_ENOTFOUND)
			return mds_status_set(st, rc, "team '%s' does not exist", mds_quote(qq, sc.name));
	} else {
		rc = mds_ns_bucket_lookup(t, sc.name, &b, st);
		if (rc == MDS_ENOTFOUND)
			return rc;
	}
	if (rc)
		goto out_fail;
	klen = scope_key(key, sc.kind, sc.name, sc.prefix);
	k = (struct mds_str){ (char *)key, klen };
	rc = qrec_get(t, k, &q);
	if (rc == MDS_ENOTFOUND) {
		if (sc.kind == MDS_SCOPE_PREFIX)
			return mds_status_set(st, rc,
					      "prefix '%s' has no counters; set a quota on it to count it",
					      mds_quote(qq, scope));
		memset(&q, 0, sizeof(q));
		rc = 0;
	}
	if (rc == 0)
		rc = info_from_key(t, key, klen, &q, out);
	if (rc)
		goto out_fail;
	out->scope = sc;
	return 0;
out_fail:
	return mds_status_set(st, rc, "cannot read usage of '%s': %s", mds_quote(qq, scope),
			      mds_strerror(rc));
}

int mds_quota_get(struct mds_reader *r, struct mds_str scope, struct mds_quota_info *out,
		  struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];
	int rc = mds_quota_usage(r, scope, out, st);

	if (rc == 0 && !out->has_limits)
		return mds_status_set(st, MDS_ENOTFOUND, "no quota is set on '%s'", mds_quote(q, scope));
	return rc;
}

int mds_quota_list(struct mds_reader *r, struct mds_str start_after, size_t limit,
		   mds_quota_emit_fn emit, void *arg, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	uint8_t key[SCOPE_KEY_MAX];
	struct mds_str seek = MDS_STR_NULL, k, v;
	struct mds_kcur *c = NULL;
	size_t n = 0;
	int rc;

	if (start_after.len) {
		struct mds_quota_scope sc;

		rc = mds_quota_scope_parse(start_after, &sc, st);
		if (rc)
			return rc;
		seek = (struct mds_str){ (char *)key, scope_key(key, sc.kind, sc.name, sc.prefix) };
	}
	rc = mds_kv_cursor_open(t, MDS_DB_QUOTAS, &c);
	if (rc)
		goto out;
	rc = mds_kv_seek(c, seek, &k, &v);
	if (rc == 0 && seek.len && mds_str_eq(k, seek))
		rc = mds_kv_next(c, &k, &v);
	for (; rc == 0 && (!limit || n < limit); rc = mds_kv_next(c, &k, &v)) {
		struct mds_quota_info info;
		struct qrec q;

		memset(&info, 0, sizeof(info));
		rc = qrec_decode(v, &q);
		if (rc == 0 && k.len > SCOPE_KEY_MAX)
			rc = MDS_ECORRUPT;
		if (rc)
			break;
		if (!q.has_limits)
			continue;
		rc = info_from_key(t, (const uint8_t *)k.p, k.len, &q, &info);
		if (rc)
			break;
		n++;
		rc = emit(arg, &info);
		if (rc)
			break;
	}
out:
	mds_kv_cursor_close(c);
	if (rc == 0 || rc == MDS_ENOTFOUND)
		return 0;
	if (rc < 0 && rc >= MDS_ERR_FIRST && st && st->code == 0)
		mds_status_set(st, rc, "cannot list quotas: %s", mds_strerror(rc));
	return rc;
}

int mds_quota_audit_list(struct mds_reader *r, uint64_t after_seq, size_t limit,
			 mds_quota_audit_emit_fn emit, void *arg, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	uint8_t key[8];
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	size_t n = 0;
	int rc;

	mds_be64_put(key, after_seq + 1);
	rc = mds_kv_cursor_open(t, MDS_DB_QUOTA_AUDIT, &c);
	if (rc)
		goto out;
	for (rc = mds_kv_seek(c, (struct mds_str){ (char *)key, 8 }, &k, &v);
	     rc == 0 && (!limit || n < limit); rc = mds_kv_next(c, &k, &v), n++) {
		struct mds_quota_audit a;

		rc = audit_decode(k, v, &a);
		if (rc == 0)
			rc = emit(arg, &a);
		if (rc)
			break;
	}
out:
	mds_kv_cursor_close(c);
	if (rc == 0 || rc == MDS_ENOTFOUND)
		return 0;
	if (rc < 0 && rc >= MDS_ERR_FIRST && st && st->code == 0)
		mds_status_set(st, rc, "cannot list quota audit records: %s", mds_strerror(rc));
	return rc;
}

int mds_quota_sweep_due(struct mds_reader *r, uint64_t *next_ns)
{
	struct mds_txn *t = mds_reader_txn(r);
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	uint64_t first;
	int rc;

	if (next_ns)
		*next_ns = 0;
	rc = mds_kv_cursor_open(t, MDS_DB_RES_EXPIRY, &c);
	if (rc)
		return rc;
	rc = mds_kv_first(c, &k, &v);
	mds_kv_cursor_close(c);
	if (rc == MDS_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (k.len != 8 + TOKEN_BYTES)
		return MDS_ECORRUPT;
	first = mds_be64_get((const uint8_t *)k.p);
	if (next_ns)
		*next_ns = first;
	return first <= mds_txn_now_ns(t) ? 1 : 0;
}

/* ---- the sweeper thread -------------------------------------------------------- */

struct mds_quota_sweeper {
	struct mds_store *s;
	struct mds_reader *r;
	unsigned interval_ms;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

static void *sweeper_main(void *arg)
{
	struct mds_quota_sweeper *sw = arg;

	pthread_setname_np(pthread_self(), "mds-sweeper");
	pthread_mutex_lock(&sw->mu);
	while (!sw->stop) {
		struct timespec ts;
		uint64_t ns;
		int due;

		pthread_mutex_unlock(&sw->mu);
		due = mds_reader_begin(sw->r) == 0 ? mds_quota_sweep_due(sw->r, NULL) : 0;
		mds_reader_end(sw->r);
		while (due == 1) {
			struct mds_op op;

			mds_op_init(&op, MDS_OP_RESERVE_SWEEP);
			op.sweep_max = SWEEP_DEFAULT;
			if (mds_store_exec(sw->s, &op) || op.out_version < SWEEP_DEFAULT)
				break;
		}
		pthread_mutex_lock(&sw->mu);
		if (sw->stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ns = (uint64_t)ts.tv_nsec + (uint64_t)sw->interval_ms * 1000000u;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&sw->cv, &sw->mu, &ts);
	}
	pthread_mutex_unlock(&sw->mu);
	return NULL;
}

int mds_quota_sweeper_start(struct mds_store *s, unsigned interval_ms,
			    struct mds_quota_sweeper **out)
{
	struct mds_quota_sweeper *sw = calloc(1, sizeof(*sw));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!sw)
		return MDS_ENOMEM;
	sw->s = s;
	sw->interval_ms = interval_ms ? interval_ms : 1000;
	rc = mds_reader_open(s, &sw->r);
	if (rc)
		goto out_free;
	pthread_mutex_init(&sw->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sw->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&sw->th, NULL, sweeper_main, sw);
	if (rc) {
		rc = -rc;
		goto out_sync;
	}
	*out = sw;
	return 0;
out_sync:
	pthread_cond_destroy(&sw->cv);
	pthread_mutex_destroy(&sw->mu);
	mds_reader_close(sw->r);
out_free:
	free(sw);
	return rc;
}

void mds_quota_sweeper_stop(struct mds_quota_sweeper *sw)
{
	if (!sw)
		return;
	pthread_mutex_lock(&sw->mu);
	sw->stop = 1;
	pthread_cond_signal(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
	pthread_join(sw->th, NULL);
	pthread_cond_destroy(&sw->cv);
	pthread_mutex_destroy(&sw->mu);
	mds_reader_close(sw->r);
	free(sw);
}

/* ---- check ----------------------------------------------------------------------- */

struct res_sum {
	uint8_t key[SCOPE_KEY_MAX];
	size_t klen;
	uint64_t bytes, objects;
	int seen;
};

static int res_sum_cmp(const void *a, const void *b)
{
	const struct res_sum *x = a, *y = b;

	return mds_str_cmp((struct mds_str){ (const char *)x->key, x->klen },
			   (struct mds_str){ (const char *)y->key, y->klen });
}


/* Sums what live reservations hold per scope key into *@out (sorted, merged). */
static int check_reservations(struct mds_txn *t, struct mds_check_ctx *qc, struct res_sum **out,
			      size_t *n_out)
{
	struct res_sum *v = NULL;
	size_t n = 0, cap = 0, m = 0;
	uint64_t n_res = 0, n_idx = 0;
	struct mds_kcur *c = NULL;
	struct mds_str k, val;
	int rc;

	rc = mds_kv_cursor_open(t, MDS_DB_RESERVATIONS, &c);
	if (rc)
		goto out;
	for (rc = mds_kv_first(c, &k, &val); rc == 0; rc = mds_kv_next(c, &k, &val)) {
		uint8_t ekey[8 + TOKEN_BYTES];
		struct mds_str ev;
		struct resv r;
		size_t off = 0;

		n_res++;
		if (k.len != TOKEN_BYTES || resv_decode(val, &r)) {
			mds_check_problem(qc, "reservation record does not decode");
			continue;
		}
		if (mds_kv_get(t, MDS_DB_RES_EXPIRY, expiry_key(ekey, r.expiry_ns, (const uint8_t *)k.p),
			       &ev) != 0)
			mds_check_problem(qc, "reservation expiring at %llu has no expiry index entry",
				 (unsigned long long)r.expiry_ns);
		for (size_t i = 0; i < r.n_keys; i++) {
			struct mds_str sk = resv_key_next(&r, &off);

			if (n == cap) {
				struct res_sum *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*nv));

				if (!nv) {
					rc = MDS_ENOMEM;
					goto out;
				}
				v = nv;
			}
			memcpy(v[n].key, sk.p, sk.len);
			v[n].klen = sk.len;
			v[n].bytes = r.bytes;
			v[n].objects = r.objects;
			v[n].seen = 0;
			n++;
		}
	}
	if (rc != MDS_ENOTFOUND)
		goto out;
	rc = mds_kv_count(t, MDS_DB_RES_EXPIRY, &n_idx);
	if (rc)
		goto out;
	if (n_idx != n_res)
		mds_check_problem(qc, "expiry index holds %llu entries for %llu reservations",
			 (unsigned long long)n_idx, (unsigned long long)n_res);
	if (n)
		qsort(v, n, sizeof(*v), res_sum_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && res_sum_cmp(&v[m - 1], &v[i]) == 0) {
			v[m - 1].bytes += v[i].bytes;
			v[m - 1].objects += v[i].objects;
		} else {
			v[m++] = v[i];
		}
	}
	*out = v;
	*n_out = m;
	v = NULL;
out:
	mds_kv_cursor_close(c);
	free(v);
	return rc == MDS_ENOTFOUND ? 0 : rc;
}

/* Checks a bucket record's prefix count and longest prefix. */
static int check_bucket_header(struct mds_txn *t, struct mds_check_ctx *qc, struct mds_str bucket,
			       const struct qrec *r, const char *sc)
{
	uint8_t seek[SCOPE_KEY_MAX];
	struct mds_str sk = { (char *)seek, scope_key(seek, MDS_SCOPE_PREFIX, bucket, MDS_STR_NULL) };
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	uint32_t n = 0, maxlen = 0;
	int rc = mds_kv_cursor_open(t, MDS_DB_QUOTAS, &c);

	if (rc)
		return rc;
	for (rc = mds_kv_seek(c, sk, &k, &v); rc == 0 && mds_str_has_prefix(k, sk);
	     rc = mds_kv_next(c, &k, &v)) {
		n++;
		if (k.len - sk.len > maxlen)
			maxlen = (uint32_t)(k.len - sk.len);
	}
	mds_kv_cursor_close(c);
	if (rc && rc != MDS_ENOTFOUND)
		return rc;
	if (n != r->n_prefix || maxlen > r->max_prefix_len)
		mds_check_problem(qc, "quota %s: records %u prefix scopes (longest %u) but %u exist (longest %u)",
			 sc, r->n_prefix, r->max_prefix_len, n, maxlen);
	return 0;
}

long mds_quota_check(struct mds_reader *rd, mds_check_report_fn report, void *arg,
		     struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(rd);
	struct mds_check_ctx qc = { report, arg, 0 };
	struct res_sum *sums = NULL;
	size_t n_sums = 0;
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	int rc;

	rc = check_reservations(t, &qc, &sums, &n_sums);
	if (rc)
		goto out_err;
	rc = mds_kv_cursor_open(t, MDS_DB_QUOTAS, &c);
	if (rc)
		goto out_err;
	for (rc = mds_kv_first(c, &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v)) {
		char sc[MDS_QUOTA_SCOPE_MAX + 1];
		struct mds_quota_scope scope;
		struct res_sum probe, *hit;
		uint64_t hb = 0, ho = 0;
		struct qrec r;

		if (k.len > SCOPE_KEY_MAX || scope_from_key(k, &scope) || qrec_decode(v, &r)) {
			mds_check_problem(&qc, "quota record does not decode");
			continue;
		}
		mds_quota_scope_format(sc, &scope);
		if (!qrec_needed((const uint8_t *)k.p, &r))
			mds_check_problem(&qc, "quota %s: record has no limits, reservations or prefixes", sc);
		memcpy(probe.key, k.p, k.len);
		probe.klen = k.len;
		hit = n_sums ? bsearch(&probe, sums, n_sums, sizeof(*sums), res_sum_cmp) : NULL;
		if (hit) {
			hit->seen = 1;
			hb = hit->bytes;
			ho = hit->objects;
		}
		if (r.res_bytes != hb || r.res_objects != ho)
			mds_check_problem(&qc, "quota %s: reserved %llu bytes / %llu objects, reservations hold %llu / %llu",
				 sc, (unsigned long long)r.res_bytes, (unsigned long long)r.res_objects,
				 (unsigned long long)hb, (unsigned long long)ho);
		if (scope.kind == MDS_SCOPE_BUCKET) {
			rc = check_bucket_header(t, &qc, scope.name, &r, sc);
			if (rc)
				goto out_err;
		} else if (scope.kind == MDS_SCOPE_PREFIX) {
			uint8_t bkey[SCOPE_KEY_MAX];
			struct mds_str bv;
			struct mds_bucket b;
			uint64_t cb = 0, co = 0;
			struct qrec br;

			if (qrec_get(t, (struct mds_str){ (char *)bkey,
					 scope_key(bkey, MDS_SCOPE_BUCKET, scope.name, MDS_STR_NULL) },
				     &br) != 0)
				mds_check_problem(&qc, "quota %s: its bucket has no quota record", sc);
			rc = mds_kv_get(t, MDS_DB_BUCKETS, scope.name, &bv);
			if (rc == 0 && mds_bucket_decode(bv.p, bv.len, &b) == 0)
				rc = prefix_recount(t, b.id, scope.prefix, &cb, &co);
			else if (rc == MDS_ENOTFOUND)
				rc = 0;
			if (rc)
				goto out_err;
			if (r.used_bytes != cb || r.used_objects != co)
				mds_check_problem(&qc, "quota %s: counters say %llu bytes / %llu objects, recount finds %llu / %llu",
					 sc, (unsigned long long)r.used_bytes,
					 (unsigned long long)r.used_objects, (unsigned long long)cb,
					 (unsigned long long)co);
		}
	}
	if (rc != MDS_ENOTFOUND)
		goto out_err;
	for (size_t i = 0; i < n_sums; i++) {
		char sc[MDS_QUOTA_SCOPE_MAX + 1];

		if (!sums[i].seen)
			mds_check_problem(&qc, "reservations hold %llu bytes on %s, which has no quota record",
				 (unsigned long long)sums[i].bytes, key_format(sc, sums[i].key, sums[i].klen));
	}
	mds_kv_cursor_close(c);
	free(sums);
	return qc.problems;
out_err:
	mds_kv_cursor_close(c);
	free(sums);
	return mds_status_set(st, rc, "the quota check could not run: %s", mds_strerror(rc));
}
