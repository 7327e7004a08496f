/*
 * namespace.c - teams, buckets and object records: applying mutations in
 * the writer's transaction, point reads, enumerations, and the invariant
 * check behind `mds check`.
 *
 * Usage counters (per bucket and per team) are changed in the same nested
 * transaction as the object they count, so they are exact at every commit.
 * Everything here is plain C over kv.h; no LMDB types.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobs.h"
#include "global_view.h"
#include "kv.h"
#include "mds/quota.h"
#include "policy.h"
#include "nametree.h"
#include "ns_internal.h"
#include "quota.h"
#include "record.h"
#include "retention.h"
#include "util.h"

#define KEY_NEXT_ID "next_id"
#define OBJ_BUF_MAX 16384

/* ---- keys --------------------------------------------------------------- */

static struct mds_str usage_key_bucket(uint8_t buf[9], uint64_t id)
{
	buf[0] = 'b';
	mds_be64_put(buf + 1, id);
	return (struct mds_str){ (char *)buf, 9 };
}

static struct mds_str usage_key_team(uint8_t buf[1 + MDS_TEAM_NAME_MAX], struct mds_str team)
{
	buf[0] = 't';
	if (team.len)
		memcpy(buf + 1, team.p, team.len);
	return (struct mds_str){ (char *)buf, 1 + team.len };
}

static struct mds_str team_bucket_key(uint8_t *buf, struct mds_str team, struct mds_str bucket)
{
	if (team.len)
		memcpy(buf, team.p, team.len);
	buf[team.len] = 0;
	if (bucket.len)
		memcpy(buf + team.len + 1, bucket.p, bucket.len);
	return (struct mds_str){ (char *)buf, team.len + 1 + bucket.len };
}

/* ---- small helpers ------------------------------------------------------- */

static int usage_read(struct mds_txn *t, struct mds_str key, struct mds_usage *u)
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

static int usage_write(struct mds_txn *t, struct mds_str key, const struct mds_usage *u)
{
	uint8_t buf[MDS_USAGE_SIZE];

	mds_usage_encode(buf, u);
	return mds_kv_put(t, MDS_DB_USAGE, key, (struct mds_str){ (char *)buf, sizeof(buf) });
}

static int usage_add(struct mds_txn *t, struct mds_str key, int64_t bytes, int64_t objects,
		     int64_t buckets)
{
	struct mds_usage u;
	int rc = usage_read(t, key, &u);

	if (rc)
		return rc;
	u.bytes += (uint64_t)bytes;
	u.objects += (uint64_t)objects;
	u.buckets += (uint64_t)buckets;
	return usage_write(t, key, &u);
}

int mds_ns_next_id_read(struct mds_txn *t, uint64_t *id)
{
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_META, MDS_STR(KEY_NEXT_ID), &v);

	if (rc == MDS_ENOTFOUND) {
		*id = 1;
		return 0;
	}
	if (rc)
		return rc;
	if (v.len != 8)
		return MDS_ECORRUPT;
	*id = mds_le64_get((const uint8_t *)v.p);
	return 0;
}

int mds_ns_next_id_write(struct mds_txn *t, uint64_t id)
{
	uint8_t buf[8];

	mds_le64_put(buf, id);
	return mds_kv_put(t, MDS_DB_META, MDS_STR(KEY_NEXT_ID), (struct mds_str){ (char *)buf, 8 });
}

/* Looks a bucket up; fills @b (strings point into the snapshot). */
int mds_ns_bucket_lookup(struct mds_txn *t, struct mds_str name, struct mds_bucket *b,
			 struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];
	struct mds_str v;
	int rc;

	rc = mds_validate_bucket_name(name, st);
	if (rc)
		return rc;
	rc = mds_kv_get(t, MDS_DB_BUCKETS, name, &v);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "bucket '%s' does not exist", mds_quote(q, name));
	if (rc == 0)
		rc = mds_bucket_decode(v.p, v.len, b);
	if (rc)
		return mds_status_set(st, rc, "cannot read bucket '%s': %s", mds_quote(q, name),
				      mds_strerror(rc));
	b->name = name;
	return 0;
}

static int fail(struct mds_status *st, int rc, const char *what, struct mds_str name)
{
	char q[MDS_QUOTE_MAX];

	return mds_status_set(st, rc, "cannot %s '%s': %s", what, mds_quote(q, name),
			      mds_strerror(rc));
}

/* ---- shared with the other mutation modules (ns_internal.h) ---------- */

int mds_ns_object_load(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		       struct mds_object *o)
{
	struct mds_str v;
	int rc = mds_tree_get(t, b->id, name, &v);

	if (rc)
		return rc;
	return mds_object_decode(v.p, v.len, o);
}

int mds_ns_object_find(struct mds_txn *t, struct mds_str bucket, struct mds_str name,
		       const char *noun, const char *container, struct mds_bucket *b,
		       struct mds_object *o, struct mds_status *st)
{
	char q[MDS_QUOTE_MAX], q2[MDS_QUOTE_MAX];
	int rc = mds_validate_object_name(name, st);

	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, bucket, b, st);
	if (rc)
		return rc;
	rc = mds_ns_object_load(t, b, name, o);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "%s '%s' does not exist in %s '%s'", noun,
				      mds_quote(q, name), container, mds_quote(q2, bucket));
	if (rc)
		return mds_status_set(st, rc, "cannot read %s '%s': %s", noun, mds_quote(q, name),
				      mds_strerror(rc));
	return 0;
}

int mds_ns_object_store(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
			struct mds_str rec)
{
	uint64_t next_id, before;
	int rc = mds_ns_next_id_read(t, &next_id);

	if (rc)
		return rc;
	before = next_id;
	rc = mds_tree_put(t, b->id, name, rec, &next_id);
	if (rc == 0 && next_id != before)
		rc = mds_ns_next_id_write(t, next_id);
	return rc;
}

int mds_usage_charge(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		     int64_t bytes, int64_t objects, struct mds_status *st)
{
	uint8_t ukey[1 + MDS_TEAM_NAME_MAX], bkey[9];
	int rc = mds_quota_charge(t, b, name, bytes, objects, st);

	if (rc)
		return rc;   /* refused (MDS_EQUOTA) or failed; nothing written */
	rc = usage_add(t, usage_key_bucket(bkey, b->id), bytes, objects, 0);
	if (rc == 0)
		rc = usage_add(t, usage_key_team(ukey, b->team), bytes, objects, 0);
	if (rc)
		return fail(st, rc, "update usage for object", name);
	return 0;
}

/* ---- conditions ------------------------------------------------------------ */

static int is_star(struct mds_str s)
{
	return s.len == 1 && s.p[0] == '*';
}

static int cond_check(const struct mds_cond *c, const struct mds_object *cur, struct mds_str name,
		      struct mds_status *st)
{
	char q[MDS_QUOTE_MAX];

	if (c->if_match.p) {
		if (!cur)
			return mds_status_set(st, MDS_EPRECOND,
					      "if-match failed: object '%s' does not exist",
					      mds_quote(q, name));
		if (!is_star(c->if_match) && !mds_str_eq(c->if_match, cur->etag))
			return mds_status_set(st, MDS_EPRECOND,
					      "if-match failed: object '%s' has another etag",
					      mds_quote(q, name));
	}
	if (c->if_none_match.p && cur) {
		if (is_star(c->if_none_match))
			return mds_status_set(st, MDS_EPRECOND,
					      "if-none-match failed: object '%s' exists",
					      mds_quote(q, name));
		if (mds_str_eq(c->if_none_match, cur->etag))
			return mds_status_set(st, MDS_EPRECOND,
					      "if-none-match failed: object '%s' has that etag",
					      mds_quote(q, name));
	}
	return 0;
}

/* ---- mutations ------------------------------------------------------------- */

static int apply_team_create(struct mds_txn *t, struct mds_op *op)
{
	uint8_t buf[16], ukey[1 + MDS_TEAM_NAME_MAX];
	struct mds_str v;
	struct mds_usage u = { 0, 0, 0 };
	char q[MDS_QUOTE_MAX];
	int rc;

	rc = mds_validate_team_name(op->team, &op->status);
	if (rc)
		return rc;
	rc = mds_kv_get(t, MDS_DB_TEAMS, op->team, &v);
	if (rc == 0)
		return mds_status_set(&op->status, MDS_EEXIST, "team '%s' already exists",
				      mds_quote(q, op->team));
	if (rc != MDS_ENOTFOUND)
		return fail(&op->status, rc, "create team", op->team);
	rc = mds_kv_put(t, MDS_DB_TEAMS, op->team,
			(struct mds_str){ (char *)buf, mds_team_encode(buf, sizeof(buf), mds_txn_now_ns(t)) });
	if (rc == 0)
		rc = usage_write(t, usage_key_team(ukey, op->team), &u);
	if (rc)
		return fail(&op->status, rc, "create team", op->team);
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

static int apply_team_delete(struct mds_txn *t, struct mds_op *op)
{
	uint8_t ukey[1 + MDS_TEAM_NAME_MAX];
	struct mds_str v, uk;
	struct mds_usage u;
	char q[MDS_QUOTE_MAX];
	int rc;

	rc = mds_validate_team_name(op->team, &op->status);
	if (rc)
		return rc;
	rc = mds_kv_get(t, MDS_DB_TEAMS, op->team, &v);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "team '%s' does not exist",
				      mds_quote(q, op->team));
	if (rc)
		return fail(&op->status, rc, "delete team", op->team);
	uk = usage_key_team(ukey, op->team);
	rc = usage_read(t, uk, &u);
	if (rc)
		return fail(&op->status, rc, "delete team", op->team);
	if (u.buckets)
		return mds_status_set(&op->status, MDS_ENOTEMPTY,
				      "team '%s' owns %llu buckets; delete them first",
				      mds_quote(q, op->team), (unsigned long long)u.buckets);
	rc = mds_kv_del(t, MDS_DB_TEAMS, op->team);
	if (rc == 0)
		rc = mds_kv_del(t, MDS_DB_USAGE, uk);
	if (rc)
		return fail(&op->status, rc, "delete team", op->team);
	return 0;
}

static int apply_bucket_create(struct mds_txn *t, struct mds_op *op)
{
	uint8_t buf[32 + MDS_TEAM_NAME_MAX], ukey[1 + MDS_TEAM_NAME_MAX], bkey[9];
	uint8_t tbkey[MDS_TEAM_NAME_MAX + 1 + MDS_BUCKET_NAME_MAX];
	struct mds_usage u = { 0, 0, 0 };
	struct mds_str v;
	char q[MDS_QUOTE_MAX];
	uint64_t id;
	int rc;

	rc = mds_validate_bucket_name(op->bucket, &op->status);
	if (rc == 0)
		rc = mds_validate_team_name(op->team, &op->status);
	if (rc)
		return rc;
	rc = mds_kv_get(t, MDS_DB_TEAMS, op->team, &v);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc,
				      "team '%s' does not exist; create it first (mdsctl team create)",
				      mds_quote(q, op->team));
	if (rc)
		return fail(&op->status, rc, "create bucket", op->bucket);
	rc = mds_kv_get(t, MDS_DB_BUCKETS, op->bucket, &v);
	if (rc == 0)
		return mds_status_set(&op->status, MDS_EEXIST, "bucket '%s' already exists",
				      mds_quote(q, op->bucket));
	if (rc != MDS_ENOTFOUND)
		return fail(&op->status, rc, "create bucket", op->bucket);
	rc = mds_ns_next_id_read(t, &id);
	if (rc == 0)
		rc = mds_ns_next_id_write(t, id + 1);
	if (rc == 0)
		rc = mds_kv_put(t, MDS_DB_BUCKETS, op->bucket,
				(struct mds_str){ (char *)buf, mds_bucket_encode(buf, sizeof(buf), id,
										mds_txn_now_ns(t), op->team) });
	if (rc == 0)
		rc = mds_kv_put(t, MDS_DB_TEAM_BUCKETS, team_bucket_key(tbkey, op->team, op->bucket),
				MDS_STR(""));
	if (rc == 0)
		rc = usage_write(t, usage_key_bucket(bkey, id), &u);
	if (rc == 0)
		rc = usage_add(t, usage_key_team(ukey, op->team), 0, 0, 1);
	if (rc)
		return fail(&op->status, rc, "create bucket", op->bucket);
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

static int apply_bucket_delete(struct mds_txn *t, struct mds_op *op)
{
	uint8_t ukey[1 + MDS_TEAM_NAME_MAX], bkey[9];
	uint8_t tbkey[MDS_TEAM_NAME_MAX + 1 + MDS_BUCKET_NAME_MAX];
	char team[MDS_TEAM_NAME_MAX];
	struct mds_bucket b;
	struct mds_usage u;
	struct mds_str team_s;
	char q[MDS_QUOTE_MAX];
	int rc;

	rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	memcpy(team, b.team.p, b.team.len);
	team_s = (struct mds_str){ team, b.team.len };
	rc = usage_read(t, usage_key_bucket(bkey, b.id), &u);
	if (rc)
		return fail(&op->status, rc, "delete bucket", op->bucket);
	if (u.objects)
		return mds_status_set(&op->status, MDS_ENOTEMPTY,
				      "bucket '%s' holds %llu objects; delete them first",
				      mds_quote(q, op->bucket), (unsigned long long)u.objects);
	rc = mds_tree_is_empty(t, b.id);
	if (rc == 0)
		return mds_status_set(&op->status, MDS_ECORRUPT,
				      "bucket '%s' has no objects counted but its name tree is not empty; run mds check",
				      mds_quote(q, op->bucket));
	rc = mds_blob_bucket_drop(t, b.id); /* in-progress uploads, staged blocks */
	if (rc == 0)
		rc = mds_kv_del(t, MDS_DB_BUCKETS, op->bucket);
	if (rc == 0)
		rc = mds_kv_del(t, MDS_DB_TEAM_BUCKETS, team_bucket_key(tbkey, team_s, op->bucket));
	if (rc == 0)
		rc = mds_kv_del(t, MDS_DB_USAGE, usage_key_bucket(bkey, b.id));
	if (rc == 0)
		rc = usage_add(t, usage_key_team(ukey, team_s), 0, 0, -1);
	if (rc)
		return fail(&op->status, rc, "delete bucket", op->bucket);
	return 0;
}

static int apply_object_put(struct mds_txn *t, struct mds_op *op)
{
	static __thread uint8_t buf[OBJ_BUF_MAX];
	struct mds_object cur;
	struct mds_bucket b;
	uint64_t version = 1, ctime = mds_txn_now_ns(t), old_size = 0;
	int exists, rc;
	size_t n;

	rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0)
		rc = mds_object_in_validate(&op->obj, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	rc = mds_ns_object_load(t, &b, op->name, &cur);
	if (rc && rc != MDS_ENOTFOUND)
		return fail(&op->status, rc, "read existing object", op->name);
	exists = rc == 0;
	if (exists) {
		version = cur.version + 1;
		ctime = cur.ctime_ns;
		old_size = cur.size;
	}
	rc = cond_check(&op->cond, exists ? &cur : NULL, op->name, &op->status);
	if (rc == 0 && exists)
		rc = mds_retention_check(t, op, op->name, &cur, "overwrite");
	if (rc == 0)
		rc = mds_retention_validate_new(t, op, &op->obj);
	if (rc)
		return rc;
	n = mds_object_encoded_size(&op->obj);
	if (n > sizeof(buf))
		return mds_status_set(&op->status, MDS_EINVAL, "object record is %zu bytes; the limit is %d",
				      n, OBJ_BUF_MAX);
	n = mds_object_encode(buf, sizeof(buf), &op->obj, version, ctime, mds_txn_now_ns(t));
	op->out_bytes_delta = (int64_t)op->obj.size - (int64_t)old_size;
	op->out_objects_delta = exists ? 0 : 1;
	rc = mds_usage_charge(t, &b, op->name, op->out_bytes_delta, op->out_objects_delta,
			      &op->status);
	if (rc)
		return rc;
	if (exists && (rc = mds_blob_release(t, &cur)) != 0) /* block map, pending copy */
		return fail(&op->status, rc, "release old record of", op->name);
	rc = mds_ns_object_store(t, &b, op->name, (struct mds_str){ (char *)buf, n });
	if (rc)
		return fail(&op->status, rc, "put object", op->name);
	op->out_version = version;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

static int apply_object_delete(struct mds_txn *t, struct mds_op *op)
{
	struct mds_object cur;
	struct mds_bucket b;
	int rc;

	rc = mds_ns_object_find(t, op->bucket, op->name, "object", "bucket", &b, &cur, &op->status);
	if (rc)
		return rc;
	rc = cond_check(&op->cond, &cur, op->name, &op->status);
	if (rc == 0)
		rc = mds_retention_check(t, op, op->name, &cur, "delete");
	if (rc)
		return rc;
	op->out_version = cur.version;
	op->out_bytes_delta = -(int64_t)cur.size;
	op->out_objects_delta = -1;
	rc = mds_usage_charge(t, &b, op->name, op->out_bytes_delta, -1, &op->status);
	if (rc)
		return rc;
	rc = mds_blob_release(t, &cur); /* block map, pending copy */
	if (rc)
		return fail(&op->status, rc, "release record of", op->name);
	rc = mds_tree_del(t, b.id, op->name);
	if (rc)
		return fail(&op->status, rc, "delete object", op->name);
	return 0;
}

static int ns_apply_kind(struct mds_txn *t, struct mds_op *op)
{
	switch (op->kind) {
	case MDS_OP_TEAM_CREATE:
		return apply_team_create(t, op);
	case MDS_OP_TEAM_DELETE:
		return apply_team_delete(t, op);
	case MDS_OP_BUCKET_CREATE:
		return apply_bucket_create(t, op);
	case MDS_OP_BUCKET_DELETE:
		return apply_bucket_delete(t, op);
	case MDS_OP_OBJECT_PUT:
		return apply_object_put(t, op);
	case MDS_OP_OBJECT_DELETE:
		return apply_object_delete(t, op);
	case MDS_OP_QUOTA_SET ... MDS_OP_RESERVE_SWEEP:
		return mds_quota_apply(t, op);
	case MDS_OP_APPEND_CREATE ... MDS_OP_EXPIRE_MULTIPART:
		return mds_blob_apply(t, op);
	case MDS_OP_RETENTION_SET ... MDS_OP_CLOCK_CONFIRM:
		return mds_retention_apply(t, op);
	case MDS_OP_POLICY_BIND ... MDS_OP_POLICY_UNBIND:
		return mds_policy_apply(t, op);
	case MDS_OP_GLOBAL_APPLY ... MDS_OP_PEER_STATE:
		return mds_gv_apply(t, op);
	case MDS_OP_FEED_COMPACT:
		return 0;   /* the feed log's post-apply hook deletes (feed_compact.c) */
	}
	return mds_status_set(&op->status, MDS_EINVAL, "unknown op kind %d", (int)op->kind);
}

int mds_ns_apply(struct mds_txn *t, struct mds_op *op)
{
	int rc = ns_apply_kind(t, op);

	/* Keep the retention clock's high-water mark at most 1 s behind the
	 * last committed op (one meta write per second at most), so that a
	 * restart can tell how far the wall clock moved (retention.c). */
	if (rc == 0 && (rc = mds_retention_tick(t)) != 0)
		mds_status_set(&op->status, rc, "cannot persist the retention clock: %s",
			       mds_strerror(rc));
	mds_retention_settle(t, rc);   /* a mark written by a failed op is not persisted */
	return rc;
}

/* ---- reads ------------------------------------------------------------------ */

int mds_team_get(struct mds_reader *r, struct mds_str team, struct mds_team *out,
		 struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	uint8_t ukey[1 + MDS_TEAM_NAME_MAX];
	struct mds_usage u;
	struct mds_str v;
	char q[MDS_QUOTE_MAX];
	int rc;

	rc = mds_validate_team_name(team, st);
	if (rc)
		return rc;
	rc = mds_kv_get(t, MDS_DB_TEAMS, team, &v);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "team '%s' does not exist", mds_quote(q, team));
	if (rc == 0)
		rc = mds_team_decode(v.p, v.len, out);
	if (rc == 0)
		rc = usage_read(t, usage_key_team(ukey, team), &u);
	if (rc)
		return fail(st, rc, "read team", team);
	out->name = team;
	out->buckets = u.buckets;
	out->bytes = u.bytes;
	out->objects = u.objects;
	return 0;
}

static int bucket_fill_usage(struct mds_txn *t, struct mds_bucket *b)
{
	uint8_t bkey[9];
	struct mds_usage u;
	int rc = usage_read(t, usage_key_bucket(bkey, b->id), &u);

	if (rc)
		return rc;
	b->bytes = u.bytes;
	b->objects = u.objects;
	return 0;
}

int mds_bucket_get(struct mds_reader *r, struct mds_str bucket, struct mds_bucket *out,
		   struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	int rc = mds_ns_bucket_lookup(t, bucket, out, st);

	if (rc)
		return rc;
	rc = bucket_fill_usage(t, out);
	if (rc)
		return fail(st, rc, "read bucket", bucket);
	return 0;
}

int mds_object_head(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		    struct mds_object *out, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	struct mds_bucket b;

	return mds_ns_object_find(t, bucket, name, "object", "bucket", &b, out, st);
}

int mds_team_list(struct mds_reader *r, struct mds_str start_after, size_t limit,
		  mds_team_emit_fn emit, void *arg, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	size_t n = 0;
	int rc;

	rc = mds_kv_cursor_open(t, MDS_DB_TEAMS, &c);
	if (rc)
		return mds_status_set(st, rc, "cannot list teams: %s", mds_strerror(rc));
	rc = mds_kv_seek(c, start_after, &k, &v);
	if (rc == 0 && start_after.len && mds_str_eq(k, start_after))
		rc = mds_kv_next(c, &k, &v);
	for (; rc == 0 && (!limit || n < limit); rc = mds_kv_next(c, &k, &v), n++) {
		uint8_t ukey[1 + MDS_TEAM_NAME_MAX];
		struct mds_team tm;
		struct mds_usage u;

		if (k.len > MDS_TEAM_NAME_MAX) {
			rc = MDS_ECORRUPT;
			break;
		}
		rc = mds_team_decode(v.p, v.len, &tm);
		if (rc == 0)
			rc = usage_read(t, usage_key_team(ukey, k), &u);
		if (rc)
			break;
		tm.name = k;
		tm.buckets = u.buckets;
		tm.bytes = u.bytes;
		tm.objects = u.objects;
		rc = emit(arg, &tm);
		if (rc)
			break;
	}
	mds_kv_cursor_close(c);
	if (rc == MDS_ENOTFOUND || (rc == 0))
		return 0;
	if (rc < 0 && rc >= MDS_ERR_FIRST && st && st->code == 0)
		mds_status_set(st, rc, "cannot list teams: %s", mds_strerror(rc));
	return rc;
}

int mds_bucket_list(struct mds_reader *r, struct mds_str team, struct mds_str start_after,
		    size_t limit, mds_bucket_emit_fn emit, void *arg, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	uint8_t key[MDS_TEAM_NAME_MAX + 1 + MDS_BUCKET_NAME_MAX + 1];
	struct mds_kcur *c = NULL;
	struct mds_str k, v, seek;
	size_t n = 0;
	int by_team = team.len > 0, rc;

	if (by_team) {
		rc = mds_validate_team_name(team, st);
		if (rc)
			return rc;
		if (start_after.len > MDS_BUCKET_NAME_MAX)
			start_after.len = MDS_BUCKET_NAME_MAX;
		seek = team_bucket_key(key, team, start_after);
	} else {
		seek = start_after;
	}
	rc = mds_kv_cursor_open(t, by_team ? MDS_DB_TEAM_BUCKETS : MDS_DB_BUCKETS, &c);
	if (rc)
		return mds_status_set(st, rc, "cannot list buckets: %s", mds_strerror(rc));
	rc = mds_kv_seek(c, seek, &k, &v);
	if (rc == 0 && start_after.len && mds_str_eq(k, seek))
		rc = mds_kv_next(c, &k, &v);
	for (; rc == 0 && (!limit || n < limit); rc = mds_kv_next(c, &k, &v), n++) {
		struct mds_bucket b;
		struct mds_str name = k;

		if (by_team) {
			if (k.len <= team.len + 1 || memcmp(k.p, team.p, team.len) != 0 ||
			    k.p[team.len] != 0)
				break;
			name.p = k.p + team.len + 1;
			name.len = k.len - team.len - 1;
			rc = mds_kv_get(t, MDS_DB_BUCKETS, name, &v);
			if (rc) {
				rc = MDS_ECORRUPT;
				break;
			}
		}
		rc = mds_bucket_decode(v.p, v.len, &b);
		if (rc == 0)
			rc = bucket_fill_usage(t, &b);
		if (rc)
			break;
		b.name = name;
		rc = emit(arg, &b);
		if (rc)
			break;
	}
	mds_kv_cursor_close(c);
	if (rc == MDS_ENOTFOUND || rc == 0)
		return 0;
	if (rc >= MDS_ERR_FIRST && rc < 0 && st && st->code == 0)
		mds_status_set(st, rc, "cannot list buckets: %s", mds_strerror(rc));
	return rc;
}

/* ---- check ---------------------------------------------------------------------- */

void mds_check_problem(struct mds_check_ctx *c, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report)
		c->report(c->arg, line);
}

struct team_sum {
	char name[MDS_TEAM_NAME_MAX];
	size_t len;
	struct mds_usage u;
};

long mds_check(struct mds_reader *r, mds_check_report_fn report, void *arg, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	struct mds_check_ctx c = { report, arg, 0 };
	struct team_sum *teams = NULL;
	size_t nteams = 0, cap = 0;
	uint64_t entries = 0, db_entries = 0, n_buckets = 0, n_index = 0, max_id = 0, next_id;
	struct mds_kcur *cur = NULL;
	struct mds_str k, v;
	char q[MDS_QUOTE_MAX];
	int rc;

	rc = mds_ns_next_id_read(t, &next_id);
	if (rc)
		goto out_err;
	/* Teams. */
	rc = mds_kv_cursor_open(t, MDS_DB_TEAMS, &cur);
	if (rc)
		goto out_err;
	for (rc = mds_kv_first(cur, &k, &v); rc == 0; rc = mds_kv_next(cur, &k, &v)) {
		struct mds_team tm;

		if (nteams == cap) {
			struct team_sum *nt = realloc(teams, (cap = cap ? cap * 2 : 16) * sizeof(*nt));

			if (!nt) {
				rc = MDS_ENOMEM;
				goto out_err;
			}
			teams = nt;
		}
		if (mds_validate_team_name(k, NULL) || mds_team_decode(v.p, v.len, &tm)) {
			mds_check_problem(&c, "team '%s': bad name or record", mds_quote(q, k));
			continue;
		}
		memcpy(teams[nteams].name, k.p, k.len);
		teams[nteams].len = k.len;
		memset(&teams[nteams].u, 0, sizeof(teams[nteams].u));
		nteams++;
	}
	if (rc != MDS_ENOTFOUND)
		goto out_err;
	mds_kv_cursor_close(cur);
	cur = NULL;

	/* Buckets: recount each tree, compare with its counters. */
	rc = mds_kv_cursor_open(t, MDS_DB_BUCKETS, &cur);
	if (rc)
		goto out_err;
	for (rc = mds_kv_first(cur, &k, &v); rc == 0; rc = mds_kv_next(cur, &k, &v)) {
		struct mds_bucket b;
		struct mds_tree_iter it;
		struct mds_usage counted = { 0, 0, 0 };
		struct team_sum *ts = NULL;
		uint8_t key[MDS_TEAM_NAME_MAX + 1 + MDS_BUCKET_NAME_MAX];
		struct mds_str iv;
		int irc;

		n_buckets++;
		if (mds_validate_bucket_name(k, NULL) || mds_bucket_decode(v.p, v.len, &b)) {
			mds_check_problem(&c, "bucket '%s': bad name or record", mds_quote(q, k));
			continue;
		}
		if (b.id >= next_id)
			mds_check_problem(&c, "bucket '%s': id %llu is not below the id counter %llu",
				mds_quote(q, k), (unsigned long long)b.id, (unsigned long long)next_id);
		if (b.id > max_id)
			max_id = b.id;
		for (size_t i = 0; i < nteams; i++)
			if (teams[i].len == b.team.len && memcmp(teams[i].name, b.team.p, b.team.len) == 0)
				ts = &teams[i];
		if (!ts)
			mds_check_problem(&c, "bucket '%s': owner team does not exist", mds_quote(q, k));
		else
			ts->u.buckets++;
		if (b.team.len <= MDS_TEAM_NAME_MAX &&
		    mds_kv_get(t, MDS_DB_TEAM_BUCKETS, team_bucket_key(key, b.team, k), &iv) != 0)
			mds_check_problem(&c, "bucket '%s': missing from its team's bucket index", mds_quote(q, k));
		mds_tree_iter_init(&it, t, b.id);
		for (irc = mds_tree_iter_seek(&it, MDS_STR_NULL, 1); irc == 0; irc = mds_tree_iter_next(&it)) {
			struct mds_object o;
			struct mds_str nm = { it.name, it.name_len };

			if (mds_validate_object_name(nm, NULL))
				mds_check_problem(&c, "bucket '%s': object name '%s' is not valid", mds_quote(q, k),
					mds_quote(q, nm));
			if (mds_object_decode(it.rec.p, it.rec.len, &o)) {
				mds_check_problem(&c, "bucket '%s': object record does not decode", mds_quote(q, k));
				continue;
			}
			counted.bytes += o.size;
			counted.objects++;
		}
		entries += it.entries_loaded;
		mds_tree_iter_release(&it);
		if (irc != MDS_ENOTFOUND)
			mds_check_problem(&c, "bucket '%s': name tree walk failed: %s", mds_quote(q, k),
				mds_strerror(irc));
		bucket_fill_usage(t, &b);
		if (b.bytes != counted.bytes || b.objects != counted.objects)
			mds_check_problem(&c,
				"bucket '%s': usage counters say %llu bytes / %llu objects, recount finds %llu / %llu",
				mds_quote(q, k), (unsigned long long)b.bytes, (unsigned long long)b.objects,
				(unsigned long long)counted.bytes, (unsigned long long)counted.objects);
		if (ts) {
			ts->u.bytes += counted.bytes;
			ts->u.objects += counted.objects;
		}
	}
	if (rc != MDS_ENOTFOUND)
		goto out_err;
	mds_kv_cursor_close(cur);
	cur = NULL;

	for (size_t i = 0; i < nteams; i++) {
		struct mds_str name = { teams[i].name, teams[i].len };
		uint8_t ukey[1 + MDS_TEAM_NAME_MAX];
		struct mds_usage u;

		if (usage_read(t, usage_key_team(ukey, name), &u)) {
			mds_check_problem(&c, "team '%s': usage counters do not decode", mds_quote(q, name));
			continue;
		}
		if (u.bytes != teams[i].u.bytes || u.objects != teams[i].u.objects ||
		    u.buckets != teams[i].u.buckets)
			mds_check_problem(&c,
				"team '%s': usage counters say %llu bytes / %llu objects / %llu buckets, recount finds %llu / %llu / %llu",
				mds_quote(q, name), (unsigned long long)u.bytes,
				(unsigned long long)u.objects, (unsigned long long)u.buckets,
				(unsigned long long)teams[i].u.bytes, (unsigned long long)teams[i].u.objects,
				(unsigned long long)teams[i].u.buckets);
	}
	{
		uint64_t blob_entries = 0;
		long bp = mds_blob_check(t, report, arg, &blob_entries);

		if (bp < 0) {
			rc = (int)bp;
			goto out_err;
		}
		c.problems += bp;
		entries += blob_entries;
	}
	{
		/* The global view's name trees share the objects database. */
		long gp = mds_gv_check(t, &c, &entries);

		if (gp < 0) {
			rc = (int)gp;
			goto out_err;
		}
	}
	rc = mds_kv_count(t, MDS_DB_OBJECTS, &db_entries);
	if (rc)
		goto out_err;
	if (db_entries != entries)
		mds_check_problem(&c, "name tree: %llu entries stored but %llu reachable from buckets",
			(unsigned long long)db_entries, (unsigned long long)entries);
	rc = mds_kv_count(t, MDS_DB_TEAM_BUCKETS, &n_index);
	if (rc)
		goto out_err;
	if (n_index != n_buckets)
		mds_check_problem(&c, "team bucket index holds %llu entries for %llu buckets",
			(unsigned long long)n_index, (unsigned long long)n_buckets);
	free(teams);
	{
		/* Quota counters, reservations and their expiry index. */
		long qp = mds_quota_check(r, report, arg, st);

		if (qp < 0)
			return qp;
		c.problems += qp;
	}
	return c.problems;

out_err:
	mds_kv_cursor_close(cur);
	free(teams);
	return mds_status_set(st, rc, "the check could not run: %s", mds_strerror(rc));
}
