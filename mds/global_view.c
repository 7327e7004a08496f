/*
 * global_view.c - storage and apply op of the global view (see
 * global_view.h for the layout and what must stay true).
 *
 * Everything here runs either on the store's writer thread, inside the
 * nested transaction of one op of kind 80-82 (mds_gv_apply), or in a read
 * snapshot (the getters, iterators and the check). The op trusts its
 * payload to be verified already; it still refuses what would corrupt the
 * view (a leaf of another island, out of sequence, an undecodable record,
 * an object of a bucket it does not hold), so a bug upstream fails the op
 * instead of leaving wrong counters behind.
 */
#include <stdlib.h>
#include <string.h>

#include "global_view.h"
#include "nametree.h"
#include "ns_internal.h"
#include "record.h"
#include "util.h"

#define GV_VERSION 1
#define KEY_NEXT_ID "next_id"
#define OBJ_HDR 17           /* version(1) key_version(8) seq(8) */
#define BUCKET_FIXED 32      /* root(8) bytes(8) objects(8) ctime(8) */
#define USAGE_LEN 24

static const uint8_t empty_root[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

static int fail(struct mds_op *op, int rc, const char *fmt, struct mds_str a)
{
	char q[MDS_QUOTE_MAX];

	mds_quote(q, a);
	return mds_status_set(&op->status, rc, fmt, q, mds_strerror(rc));
}

static int origin_valid(struct mds_str o)
{
	if (o.len == 0 || o.len > MDS_GV_ORIGIN_MAX)
		return 0;
	for (size_t i = 0; i < o.len; i++)
		if ((unsigned char)o.p[i] < 0x21 || (unsigned char)o.p[i] > 0x7e)
			return 0;
	return 1;
}

/* ---- keys ------------------------------------------------------------------ */

/* a 0x00 b: both parts are free of NUL (names and origins never hold one). */
static struct mds_str pair_key(uint8_t *buf, struct mds_str a, struct mds_str b)
{
	memcpy(buf, a.p, a.len);
	buf[a.len] = 0;
	if (b.len)
		memcpy(buf + a.len + 1, b.p, b.len);
	return (struct mds_str){ (const char *)buf, a.len + 1 + b.len };
}

#define PAIR_KEY_MAX (MDS_GV_ORIGIN_MAX + 1 + MDS_BUCKET_NAME_MAX + 1)

/* ---- id counter (meta/next_id, shared with the namespace) ------------------- */

static int next_id_read(struct mds_txn *t, uint64_t *id)
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

static int next_id_write(struct mds_txn *t, uint64_t id)
{
	uint8_t buf[8];

	mds_le64_put(buf, id);
	return mds_kv_put(t, MDS_DB_META, MDS_STR(KEY_NEXT_ID), (struct mds_str){ (char *)buf, 8 });
}

/* ---- cursor ------------------------------------------------------------------ */

/*
 * Value: version(1) flags(1, bit 0 frozen) size(8) root(32) checkpoint_ms(8)
 * applied_ns(8) range_len(2) range note_len(4) note; integers big-endian.
 */
static int cursor_decode(struct mds_str v, struct mds_gv_cursor *c)
{
	const uint8_t *p = (const uint8_t *)v.p;
	size_t n = v.len, rl, nl;

	memset(c, 0, sizeof(*c));
	if (n < 60 || p[0] != GV_VERSION)
		return MDS_ECORRUPT;
	c->frozen = p[1] & 1;
	c->size = mds_be64_get(p + 2);
	memcpy(c->root, p + 10, 32);
	c->checkpoint_ms = mds_be64_get(p + 42);
	c->applied_ns = mds_be64_get(p + 50);
	rl = (size_t)p[58] << 8 | p[59];
	if (n < 60 + rl + 4)
		return MDS_ECORRUPT;
	c->range = (struct mds_str){ (const char *)p + 60, rl };
	p += 60 + rl;
	nl = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (n != 60 + rl + 4 + nl)
		return MDS_ECORRUPT;
	c->note = (struct mds_str){ (const char *)p + 4, nl };
	return 0;
}

static int cursor_put(struct mds_txn *t, struct mds_str origin, const struct mds_gv_cursor *c)
{
	size_t n = 60 + c->range.len + 4 + c->note.len;
	uint8_t *buf, *p;
	int rc;

	if (c->range.len > 0xffff || c->note.len > 0xffffffffu)
		return MDS_EINVAL;
	buf = malloc(n);
	if (!buf)
		return MDS_ENOMEM;
	buf[0] = GV_VERSION;
	buf[1] = c->frozen ? 1 : 0;
	mds_be64_put(buf + 2, c->size);
	memcpy(buf + 10, c->root, 32);
	mds_be64_put(buf + 42, c->checkpoint_ms);
	mds_be64_put(buf + 50, c->applied_ns);
	buf[58] = (uint8_t)(c->range.len >> 8);
	buf[59] = (uint8_t)c->range.len;
	p = buf + 60;
	if (c->range.len)
		memcpy(p, c->range.p, c->range.len);
	p += c->range.len;
	p[0] = (uint8_t)(c->note.len >> 24);
	p[1] = (uint8_t)(c->note.len >> 16);
	p[2] = (uint8_t)(c->note.len >> 8);
	p[3] = (uint8_t)c->note.len;
	if (c->note.len)
		memcpy(p + 4, c->note.p, c->note.len);
	rc = mds_kv_put(t, MDS_DB_GV_PEERS, origin, (struct mds_str){ (const char *)buf, n });
	free(buf);
	return rc;
}

int mds_gv_cursor_get(struct mds_txn *t, struct mds_str origin, struct mds_gv_cursor *out)
{
	struct mds_str v;
	int rc;

	if (!origin_valid(origin))
		return MDS_EINVAL;
	rc = mds_kv_get(t, MDS_DB_GV_PEERS, origin, &v);
	if (rc)
		return rc;
	return cursor_decode(v, out);
}

int mds_gv_cursor_list(struct mds_txn *t, mds_gv_cursor_fn fn, void *arg)
{
	struct mds_kcur *cur;
	struct mds_str k, v;
	int rc = mds_kv_cursor_open(t, MDS_DB_GV_PEERS, &cur);

	if (rc)
		return rc;
	for (rc = mds_kv_first(cur, &k, &v); rc == 0; rc = mds_kv_next(cur, &k, &v)) {
		struct mds_gv_cursor c;

		rc = cursor_decode(v, &c);
		if (rc == 0)
			rc = fn(arg, k, &c);
		if (rc)
			break;
	}
	mds_kv_cursor_close(cur);
	return rc == MDS_ENOTFOUND ? 0 : rc;
}

/* ---- buckets and usage ------------------------------------------------------ */

static int bucket_decode(struct mds_str v, struct mds_gv_bucket *b)
{
	const uint8_t *p = (const uint8_t *)v.p;

	if (v.len < BUCKET_FIXED + 1 || v.len != (size_t)BUCKET_FIXED + 1 + p[BUCKET_FIXED])
		return MDS_ECORRUPT;
	b->root = mds_be64_get(p);
	b->bytes = mds_be64_get(p + 8);
	b->objects = mds_be64_get(p + 16);
	b->ctime_ns = mds_be64_get(p + 24);
	b->team = (struct mds_str){ (const char *)p + BUCKET_FIXED + 1, p[BUCKET_FIXED] };
	return 0;
}

static int bucket_put(struct mds_txn *t, struct mds_str key, const struct mds_gv_bucket *b)
{
	uint8_t buf[BUCKET_FIXED + 1 + 255];

	if (b->team.len > 255)
		return MDS_EINVAL;
	mds_be64_put(buf, b->root);
	mds_be64_put(buf + 8, b->bytes);
	mds_be64_put(buf + 16, b->objects);
	mds_be64_put(buf + 24, b->ctime_ns);
	buf[BUCKET_FIXED] = (uint8_t)b->team.len;
	if (b->team.len)
		memcpy(buf + BUCKET_FIXED + 1, b->team.p, b->team.len);
	return mds_kv_put(t, MDS_DB_GV_BUCKETS, key,
			  (struct mds_str){ (const char *)buf, BUCKET_FIXED + 1 + b->team.len });
}

int mds_gv_bucket_get(struct mds_txn *t, struct mds_str origin, struct mds_str bucket,
		      struct mds_gv_bucket *out)
{
	uint8_t kb[PAIR_KEY_MAX];
	struct mds_str v;
	int rc;

	if (!origin_valid(origin) || bucket.len == 0 || bucket.len > MDS_BUCKET_NAME_MAX)
		return MDS_ENOTFOUND;
	rc = mds_kv_get(t, MDS_DB_GV_BUCKETS, pair_key(kb, origin, bucket), &v);
	if (rc)
		return rc;
	return bucket_decode(v, out);
}

/* Add to the (team, origin) usage entry, creating it. */
static int usage_add(struct mds_txn *t, struct mds_str team, struct mds_str origin,
		     int64_t bytes, int64_t objects, int64_t buckets)
{
	uint8_t kb[MDS_TEAM_NAME_MAX + 1 + MDS_GV_ORIGIN_MAX + 1], buf[USAGE_LEN];
	struct mds_str key, v;
	uint64_t u[3] = { 0, 0, 0 };
	int rc;

	if (team.len > MDS_TEAM_NAME_MAX)
		return MDS_EINVAL;
	key = pair_key(kb, team, origin);
	rc = mds_kv_get(t, MDS_DB_GV_USAGE, key, &v);
	if (rc == 0) {
		if (v.len != USAGE_LEN)
			return MDS_ECORRUPT;
		for (int i = 0; i < 3; i++)
			u[i] = mds_be64_get((const uint8_t *)v.p + 8 * i);
	} else if (rc != MDS_ENOTFOUND) {
		return rc;
	}
	u[0] += (uint64_t)bytes;
	u[1] += (uint64_t)objects;
	u[2] += (uint64_t)buckets;
	for (int i = 0; i < 3; i++)
		mds_be64_put(buf + 8 * i, u[i]);
	return mds_kv_put(t, MDS_DB_GV_USAGE, key, (struct mds_str){ (const char *)buf, USAGE_LEN });
}

/* ---- objects ------------------------------------------------------------------ */

static int obj_decode(struct mds_str v, struct mds_gv_object *o)
{
	const uint8_t *p = (const uint8_t *)v.p;

	if (v.len < OBJ_HDR || p[0] != GV_VERSION)
		return MDS_ECORRUPT;
	o->key_version = mds_be64_get(p + 1);
	o->seq = mds_be64_get(p + 9);
	o->record = (struct mds_str){ v.p + OBJ_HDR, v.len - OBJ_HDR };
	return 0;
}

/* The size of the object stored as @v (view value), for usage. */
static int obj_size(struct mds_str v, uint64_t *size)
{
	struct mds_gv_object o;
	struct mds_object rec;
	int rc = obj_decode(v, &o);

	if (rc == 0)
		rc = mds_object_decode(o.record.p, o.record.len, &rec);
	if (rc == 0)
		*size = rec.size;
	return rc;
}

int mds_gv_object_get(struct mds_txn *t, struct mds_str origin, struct mds_str bucket,
		      struct mds_str name, struct mds_gv_object *out)
{
	struct mds_gv_bucket b;
	struct mds_str v;
	int rc = mds_gv_bucket_get(t, origin, bucket, &b);

	if (rc)
		return rc;
	if (name.len == 0 || name.len > MDS_OBJECT_NAME_MAX)
		return MDS_ENOTFOUND;
	rc = mds_tree_get(t, b.root, name, &v);
	if (rc)
		return rc;
	out->name = name;
	return obj_decode(v, out);
}

/* ---- apply ------------------------------------------------------------------- */

struct apply_ctx {
	struct mds_txn *t;
	struct mds_op *op;
	struct mds_str origin;
	uint64_t next_id;
	int id_dirty;
};

static int is_object_kind(uint8_t kind)
{
	switch (kind) {
	case MDS_OP_OBJECT_PUT:
	case MDS_OP_OBJECT_DELETE:
	case MDS_OP_RESERVE_COMMIT:
	case MDS_OP_APPEND_CREATE:
	case MDS_OP_APPEND_BLOCK:
	case MDS_OP_SEAL_BLOB:
	case MDS_OP_COPY_OBJECT:
	case MDS_OP_PUT_BLOB_FROM_URL:
	case MDS_OP_COPY_FINISH:
	case MDS_OP_COPY_PROGRESS:
	case MDS_OP_ABORT_COPY:
	case MDS_OP_COMPLETE_MULTIPART:
	case MDS_OP_PUT_BLOCK_LIST:
	case MDS_OP_RETENTION_SET:
	case MDS_OP_LEGAL_HOLD_SET:
		return 1;
	default:
		return 0;
	}
}

/* Delete every object of a view bucket (its tree), returning the totals. */
static int tree_drop(struct apply_ctx *a, uint64_t root)
{
	char *name = malloc(MDS_OBJECT_NAME_MAX);
	int rc;

	if (!name)
		return MDS_ENOMEM;
	for (;;) {
		struct mds_tree_iter it;
		size_t len;

		mds_tree_iter_init(&it, a->t, root);
		rc = mds_tree_iter_seek(&it, MDS_STR_NULL, 1);
		if (rc == 0) {
			len = it.name_len;
			memcpy(name, it.name, len);
		}
		mds_tree_iter_release(&it);
		if (rc)
			break;
		rc = mds_tree_del(a->t, root, (struct mds_str){ name, len });
		if (rc)
			break;
	}
	free(name);
	return rc == MDS_ENOTFOUND ? 0 : rc;
}

static int apply_team(struct apply_ctx *a, const struct mds_feed_leaf *l)
{
	uint8_t kb[MDS_TEAM_NAME_MAX + 1 + MDS_GV_ORIGIN_MAX + 1];
	struct mds_str key, v;
	int rc;

	if (l->team.len == 0 || l->team.len > MDS_TEAM_NAME_MAX)
		return mds_status_set(&a->op->status, MDS_EINVAL,
				      "leaf %llu of '%.*s': team name of %zu bytes",
				      (unsigned long long)l->seq, (int)a->origin.len, a->origin.p,
				      l->team.len);
	if (l->state == MDS_FEED_RECORD)
		return usage_add(a->t, l->team, a->origin, 0, 0, 0);
	if (l->state != MDS_FEED_TOMBSTONE)
		return 0;
	key = pair_key(kb, l->team, a->origin);
	rc = mds_kv_get(a->t, MDS_DB_GV_USAGE, key, &v);
	if (rc == MDS_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	/* A team is deleted only when it owns nothing; keep counters that
	 * say otherwise rather than lose them. */
	if (v.len == USAGE_LEN && mds_be64_get((const uint8_t *)v.p) == 0 &&
	    mds_be64_get((const uint8_t *)v.p + 8) == 0 &&
	    mds_be64_get((const uint8_t *)v.p + 16) == 0)
		return mds_kv_del(a->t, MDS_DB_GV_USAGE, key);
	return 0;
}

static int bucket_remove(struct apply_ctx *a, struct mds_str key, const struct mds_gv_bucket *b)
{
	int rc = tree_drop(a, b->root);

	if (rc == 0)
		rc = usage_add(a->t, b->team, a->origin, -(int64_t)b->bytes,
			       -(int64_t)b->objects, -1);
	if (rc == 0)
		rc = mds_kv_del(a->t, MDS_DB_GV_BUCKETS, key);
	return rc;
}

static int apply_bucket(struct apply_ctx *a, const struct mds_feed_leaf *l)
{
	uint8_t kb[PAIR_KEY_MAX];
	struct mds_gv_bucket old, nb;
	struct mds_bucket rec;
	struct mds_str key, v;
	int rc, have;

	if (l->bucket.len == 0 || l->bucket.len > MDS_BUCKET_NAME_MAX)
		return mds_status_set(&a->op->status, MDS_EINVAL,
				      "leaf %llu of '%.*s': bucket name of %zu bytes",
				      (unsigned long long)l->seq, (int)a->origin.len, a->origin.p,
				      l->bucket.len);
	key = pair_key(kb, a->origin, l->bucket);
	rc = mds_kv_get(a->t, MDS_DB_GV_BUCKETS, key, &v);
	have = rc == 0;
	if (rc && rc != MDS_ENOTFOUND)
		return rc;
	if (have && (rc = bucket_decode(v, &old)) != 0)
		return rc;
	if (l->state == MDS_FEED_TOMBSTONE)
		return have ? bucket_remove(a, key, &old) : 0;
	if (l->state != MDS_FEED_RECORD)
		return 0;
	if (mds_bucket_decode(l->record.p, l->record.len, &rec) != 0 ||
	    mds_validate_team_name(rec.team, &a->op->status) != 0)
		return mds_status_set(&a->op->status, MDS_EINVAL,
				      "leaf %llu of '%.*s': bucket record does not decode",
				      (unsigned long long)l->seq, (int)a->origin.len, a->origin.p);
	if (have && mds_str_eq(old.team, rec.team)) {
		old.ctime_ns = rec.ctime_ns;   /* same bucket: state is absolute, keep objects */
		return bucket_put(a->t, key, &old);
	}
	if (have && (rc = bucket_remove(a, key, &old)) != 0)
		return rc;
	memset(&nb, 0, sizeof(nb));
	nb.root = a->next_id++;
	a->id_dirty = 1;
	nb.ctime_ns = rec.ctime_ns;
	nb.team = rec.team;
	rc = bucket_put(a->t, key, &nb);
	if (rc == 0)
		rc = usage_add(a->t, rec.team, a->origin, 0, 0, 1);
	return rc;
}

static int apply_object(struct apply_ctx *a, const struct mds_feed_leaf *l)
{
	uint8_t kb[PAIR_KEY_MAX];
	struct mds_gv_bucket b;
	struct mds_str key, v;
	uint64_t old_size = 0, new_size = 0;
	int64_t dbytes, dobj;
	int rc, had;
	char q[MDS_QUOTE_MAX];

	if (l->name.len == 0 || l->name.len > MDS_OBJECT_NAME_MAX ||
	    l->bucket.len == 0 || l->bucket.len > MDS_BUCKET_NAME_MAX)
		return mds_status_set(&a->op->status, MDS_EINVAL,
				      "leaf %llu of '%.*s': object or bucket name out of range",
				      (unsigned long long)l->seq, (int)a->origin.len, a->origin.p);
	key = pair_key(kb, a->origin, l->bucket);
	rc = mds_kv_get(a->t, MDS_DB_GV_BUCKETS, key, &v);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(&a->op->status, MDS_ECORRUPT,
				      "leaf %llu of '%.*s' names bucket '%s', which the view does not hold",
				      (unsigned long long)l->seq, (int)a->origin.len, a->origin.p,
				      mds_quote(q, l->bucket));
	if (rc == 0)
		rc = bucket_decode(v, &b);
	if (rc)
		return rc;
	rc = mds_tree_get(a->t, b.root, l->name, &v);
	had = rc == 0;
	if (rc && rc != MDS_ENOTFOUND)
		return rc;
	if (had && (rc = obj_size(v, &old_size)) != 0)
		return rc;
	if (l->state == MDS_FEED_RECORD) {
		struct mds_object rec;
		uint8_t *buf;

		if (mds_object_decode(l->record.p, l->record.len, &rec) != 0)
			return mds_status_set(&a->op->status, MDS_EINVAL,
					      "leaf %llu of '%.*s': object record does not decode",
					      (unsigned long long)l->seq, (int)a->origin.len,
					      a->origin.p);
		new_size = rec.size;
		buf = malloc(OBJ_HDR + l->record.len);
		if (!buf)
			return MDS_ENOMEM;
		buf[0] = GV_VERSION;
		mds_be64_put(buf + 1, l->key_version);
		mds_be64_put(buf + 9, l->seq);
		memcpy(buf + OBJ_HDR, l->record.p, l->record.len);
		rc = mds_tree_put(a->t, b.root, l->name,
				  (struct mds_str){ (const char *)buf, OBJ_HDR + l->record.len },
				  &a->next_id);
		free(buf);
		a->id_dirty = 1;
		if (rc)
			return rc;
		dobj = had ? 0 : 1;
	} else if (l->state == MDS_FEED_TOMBSTONE) {
		if (!had)
			return 0;
		rc = mds_tree_del(a->t, b.root, l->name);
		if (rc)
			return rc;
		dobj = -1;
	} else {
		return 0;
	}
	dbytes = (int64_t)new_size - (int64_t)old_size;
	/* re-read: the tree put may have moved the bucket value's page */
	rc = mds_kv_get(a->t, MDS_DB_GV_BUCKETS, key, &v);
	if (rc == 0)
		rc = bucket_decode(v, &b);
	if (rc)
		return rc;
	b.bytes += (uint64_t)dbytes;
	b.objects += (uint64_t)dobj;
	{
		/* b.team borrows the value bucket_put replaces: copy it */
		char team[MDS_TEAM_NAME_MAX];

		if (b.team.len > sizeof(team))
			return MDS_ECORRUPT;
		memcpy(team, b.team.p, b.team.len);
		b.team.p = team;
		rc = bucket_put(a->t, key, &b);
		if (rc == 0)
			rc = usage_add(a->t, b.team, a->origin, dbytes, dobj, 0);
	}
	return rc;
}

/*
 * The names a leaf carries come from another island: a sound publisher
 * only writes names its own validation accepted, but the view must not
 * trust that (a NUL inside a name would alias the view's composite keys).
 * Every name the view stores is checked with the island's own rules.
 */
static int leaf_names_valid(struct apply_ctx *a, const struct mds_feed_leaf *l)
{
	struct mds_status st;
	const char *what = NULL;
	int team = 0, bucket = 0, name = 0;

	switch (l->kind) {
	case MDS_OP_TEAM_CREATE:
	case MDS_OP_TEAM_DELETE:
		team = 1;
		break;
	case MDS_OP_BUCKET_CREATE:
	case MDS_OP_BUCKET_DELETE:
		bucket = 1;
		break;
	default:
		bucket = name = is_object_kind(l->kind) && l->bucket.len && l->name.len;
		break;
	}
	if (team && mds_validate_team_name(l->team, &st) != 0)
		what = "team";
	else if (bucket && mds_validate_bucket_name(l->bucket, &st) != 0)
		what = "bucket";
	else if (name && mds_validate_object_name(l->name, &st) != 0)
		what = "object";
	if (!what)
		return 0;
	return mds_status_set(&a->op->status, MDS_EINVAL, "leaf %llu of '%.*s': %s name: %s",
			      (unsigned long long)l->seq, (int)a->origin.len, a->origin.p, what,
			      st.msg);
}

static int apply_leaf(struct apply_ctx *a, const struct mds_feed_leaf *l)
{
	int rc;

	if (!mds_str_eq(l->origin, a->origin))
		return mds_status_set(&a->op->status, MDS_EINVAL,
				      "leaf %llu carries origin '%.*s', not '%.*s'",
				      (unsigned long long)l->seq, (int)(l->origin.len > 255 ? 255 : l->origin.len),
				      l->origin.p, (int)a->origin.len, a->origin.p);
	rc = leaf_names_valid(a, l);
	if (rc)
		return rc;
	switch (l->kind) {
	case MDS_OP_TEAM_CREATE:
	case MDS_OP_TEAM_DELETE:
		return apply_team(a, l);
	case MDS_OP_BUCKET_CREATE:
	case MDS_OP_BUCKET_DELETE:
		return apply_bucket(a, l);
	default:
		if (is_object_kind(l->kind) && l->state != MDS_FEED_NO_STATE &&
		    l->bucket.len && l->name.len)
			return apply_object(a, l);
		return 0;   /* quotas, reservations, policy: not part of the view */
	}
}

/* Drop @origin's buckets, objects and usage entries (not its evidence). */
static int view_drop(struct apply_ctx *a)
{
	uint8_t kb[PAIR_KEY_MAX];
	struct mds_kcur *cur = NULL;
	struct mds_str k, v, start = pair_key(kb, a->origin, MDS_STR_NULL);
	int rc;

	for (;;) {
		struct mds_gv_bucket b;
		uint8_t key[PAIR_KEY_MAX];
		size_t klen;

		rc = mds_kv_cursor_open(a->t, MDS_DB_GV_BUCKETS, &cur);
		if (rc)
			return rc;
		rc = mds_kv_seek(cur, start, &k, &v);
		if (rc == 0 && !mds_str_has_prefix(k, start))
			rc = MDS_ENOTFOUND;
		if (rc == 0 && k.len > sizeof(key))
			rc = MDS_ECORRUPT;
		if (rc == 0) {
			klen = k.len;
			memcpy(key, k.p, k.len);
			rc = bucket_decode(v, &b);
		}
		mds_kv_cursor_close(cur);
		if (rc)
			break;
		rc = tree_drop(a, b.root);
		if (rc == 0)
			rc = mds_kv_del(a->t, MDS_DB_GV_BUCKETS, (struct mds_str){ (char *)key, klen });
		if (rc)
			return rc;
	}
	if (rc != MDS_ENOTFOUND)
		return rc;
	/* usage: team 0x00 origin; every team's entries are scanned */
	rc = mds_kv_cursor_open(a->t, MDS_DB_GV_USAGE, &cur);
	if (rc)
		return rc;
	for (rc = mds_kv_first(cur, &k, &v); rc == 0;) {
		const char *z = memchr(k.p, 0, k.len);
		uint8_t key[MDS_TEAM_NAME_MAX + 1 + MDS_GV_ORIGIN_MAX + 1];
		size_t klen = k.len;

		if (z && mds_str_eq((struct mds_str){ z + 1, k.len - (size_t)(z + 1 - k.p) }, a->origin) &&
		    k.len <= sizeof(key)) {
			memcpy(key, k.p, k.len);
			mds_kv_cursor_close(cur);
			rc = mds_kv_del(a->t, MDS_DB_GV_USAGE, (struct mds_str){ (char *)key, klen });
			if (rc == 0)
				rc = mds_kv_cursor_open(a->t, MDS_DB_GV_USAGE, &cur);
			if (rc)
				return rc;
			rc = mds_kv_seek(cur, (struct mds_str){ (char *)key, klen }, &k, &v);
			continue;
		}
		rc = mds_kv_next(cur, &k, &v);
	}
	mds_kv_cursor_close(cur);
	return rc == MDS_ENOTFOUND ? 0 : rc;
}

static int evidence_add(struct mds_txn *t, struct mds_str origin, const struct mds_gv_evidence *e)
{
	uint8_t kb[MDS_GV_ORIGIN_MAX + 1 + 8], *buf, *p;
	struct mds_str prefix = pair_key(kb, origin, MDS_STR_NULL), k, v;
	struct mds_str parts[4] = { e->applied_note, e->offending_note, e->proof, e->message };
	struct mds_kcur *cur;
	uint64_t n = 0;
	size_t len = 9;
	int rc;

	/* the next number: one past the last key under the prefix */
	rc = mds_kv_cursor_open(t, MDS_DB_GV_EVIDENCE, &cur);
	if (rc)
		return rc;
	memcpy(kb + prefix.len, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	rc = mds_kv_seek(cur, (struct mds_str){ (char *)kb, prefix.len + 8 }, &k, &v);
	if (rc == 0)
		rc = mds_kv_prev(cur, &k, &v);
	else if (rc == MDS_ENOTFOUND)
		rc = mds_kv_last(cur, &k, &v);
	if (rc == 0 && k.len == prefix.len + 8 && mds_str_has_prefix(k, prefix))
		n = mds_be64_get((const uint8_t *)k.p + prefix.len) + 1;
	mds_kv_cursor_close(cur);
	if (rc && rc != MDS_ENOTFOUND)
		return rc;
	for (int i = 0; i < 4; i++)
		len += 4 + parts[i].len;
	buf = malloc(len);
	if (!buf)
		return MDS_ENOMEM;
	buf[0] = e->kind;
	mds_be64_put(buf + 1, e->time_ms);
	p = buf + 9;
	for (int i = 0; i < 4; i++) {
		uint32_t l = (uint32_t)parts[i].len;

		p[0] = (uint8_t)(l >> 24);
		p[1] = (uint8_t)(l >> 16);
		p[2] = (uint8_t)(l >> 8);
		p[3] = (uint8_t)l;
		if (l)
			memcpy(p + 4, parts[i].p, l);
		p += 4 + l;
	}
	mds_be64_put(kb + prefix.len, n);
	rc = mds_kv_put(t, MDS_DB_GV_EVIDENCE, (struct mds_str){ (char *)kb, prefix.len + 8 },
			(struct mds_str){ (char *)buf, len });
	free(buf);
	return rc;
}

int mds_gv_apply(struct mds_txn *t, struct mds_op *op)
{
	const struct mds_gv_update *u = op->global;
	struct apply_ctx a = { t, op, MDS_STR_NULL, 0, 0 };
	struct mds_gv_cursor cur, next;
	int rc, have;

	if (!u || !origin_valid(u->origin))
		return mds_status_set(&op->status, MDS_EINVAL, "global view op without a valid origin");
	a.origin = u->origin;
	rc = mds_gv_cursor_get(t, u->origin, &cur);
	have = rc == 0;
	if (rc && rc != MDS_ENOTFOUND)
		return fail(op, rc, "cannot read the cursor of '%s': %s", u->origin);
	if (!have)
		memset(&cur, 0, sizeof(cur));
	if (op->kind == MDS_OP_PEER_STATE) {
		if (u->action == MDS_GV_FREEZE) {
			if (!have)   /* frozen before anything applied: SHA-256("") */
				memcpy(cur.root, empty_root, 32);
			cur.frozen = 1;
			if (u->evidence && (rc = evidence_add(t, u->origin, u->evidence)) != 0)
				return fail(op, rc, "cannot store the evidence of '%s': %s", u->origin);
			rc = cursor_put(t, u->origin, &cur);
			return rc ? fail(op, rc, "cannot freeze '%s': %s", u->origin) : 0;
		}
		if (u->action == MDS_GV_RESET) {
			rc = view_drop(&a);
			if (rc == 0 && have)
				rc = mds_kv_del(t, MDS_DB_GV_PEERS, u->origin);
			if (rc == 0 && u->evidence)
				rc = evidence_add(t, u->origin, u->evidence);
			return rc ? fail(op, rc, "cannot reset '%s': %s", u->origin) : 0;
		}
		return mds_status_set(&op->status, MDS_EINVAL, "unknown peer state action %u", u->action);
	}
	if (cur.frozen)
		return mds_status_set(&op->status, MDS_EDENIED,
				      "the view of '%.*s' is frozen (forked); an admin must reset it",
				      (int)u->origin.len, u->origin.p);
	if (!u->root || u->size != (op->kind == MDS_OP_GLOBAL_APPLY ? u->from_size + u->n_leaves : u->size))
		return mds_status_set(&op->status, MDS_EINVAL, "global view update of '%.*s' is inconsistent",
				      (int)u->origin.len, u->origin.p);
	if (op->kind == MDS_OP_GLOBAL_APPLY && cur.size != u->from_size)
		return mds_status_set(&op->status, MDS_EPRECOND,
				      "the view of '%.*s' is at size %llu, not %llu",
				      (int)u->origin.len, u->origin.p, (unsigned long long)cur.size,
				      (unsigned long long)u->from_size);
	rc = next_id_read(t, &a.next_id);
	if (rc)
		return fail(op, rc, "cannot read the id counter for '%s': %s", u->origin);
	if (op->kind == MDS_OP_GLOBAL_REPLACE) {
		rc = view_drop(&a);
		if (rc)
			return fail(op, rc, "cannot drop the view of '%s': %s", u->origin);
	}
	for (size_t i = 0; i < u->n_leaves; i++) {
		const struct mds_feed_leaf *l = &u->leaves[i];

		if (op->kind == MDS_OP_GLOBAL_APPLY && l->seq != u->from_size + i)
			return mds_status_set(&op->status, MDS_EINVAL,
					      "leaf %llu of '%.*s' arrived as entry %llu",
					      (unsigned long long)l->seq, (int)u->origin.len,
					      u->origin.p, (unsigned long long)(u->from_size + i));
		op->status.code = 0;
		rc = apply_leaf(&a, l);
		if (rc) {
			if (op->status.code == 0)
				mds_status_set(&op->status, rc,
					       "cannot apply leaf %llu of '%.*s': %s",
					       (unsigned long long)l->seq, (int)u->origin.len,
					       u->origin.p, mds_strerror(rc));
			return rc;
		}
	}
	if (a.id_dirty && (rc = next_id_write(t, a.next_id)) != 0)
		return fail(op, rc, "cannot write the id counter for '%s': %s", u->origin);
	memset(&next, 0, sizeof(next));
	next.size = u->size;
	memcpy(next.root, u->root, 32);
	next.checkpoint_ms = u->checkpoint_ms;
	next.applied_ns = mds_txn_now_ns(t);
	next.range = u->range;
	next.note = u->note;
	rc = cursor_put(t, u->origin, &next);
	if (rc)
		return fail(op, rc, "cannot store the cursor of '%s': %s", u->origin);
	return 0;
}

/* ---- iteration ------------------------------------------------------------------ */

struct mds_gv_iter {
	struct mds_tree_iter it;
	struct mds_str prefix;
	char pbuf[MDS_OBJECT_NAME_MAX];
	int at_end;
};

static int iter_settle(struct mds_gv_iter *g, int rc)
{
	if (rc == 0 && !mds_str_has_prefix((struct mds_str){ g->it.name, g->it.name_len }, g->prefix))
		rc = MDS_ENOTFOUND;
	if (rc == MDS_ENOTFOUND)
		g->at_end = 1;
	return rc;
}

int mds_gv_iter_open(struct mds_txn *t, struct mds_str origin, struct mds_str bucket,
		     struct mds_str prefix, struct mds_str after, int inclusive,
		     struct mds_gv_iter **out)
{
	struct mds_gv_bucket b;
	struct mds_gv_iter *g;
	int rc;

	*out = NULL;
	if (prefix.len > MDS_OBJECT_NAME_MAX)
		return MDS_EINVAL;
	rc = mds_gv_bucket_get(t, origin, bucket, &b);
	if (rc)
		return rc;
	g = calloc(1, sizeof(*g));
	if (!g)
		return MDS_ENOMEM;
	if (prefix.len)
		memcpy(g->pbuf, prefix.p, prefix.len);
	g->prefix = (struct mds_str){ g->pbuf, prefix.len };
	mds_tree_iter_init(&g->it, t, b.root);
	if (mds_str_cmp(after, prefix) >= 0)
		rc = mds_tree_iter_seek(&g->it, after, inclusive);
	else
		rc = mds_tree_iter_seek(&g->it, prefix, 1);
	rc = iter_settle(g, rc);
	if (rc && rc != MDS_ENOTFOUND) {
		mds_gv_iter_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

int mds_gv_iter_get(struct mds_gv_iter *g, struct mds_gv_object *out)
{
	if (g->at_end)
		return MDS_ENOTFOUND;
	out->name = (struct mds_str){ g->it.name, g->it.name_len };
	return obj_decode(g->it.rec, out);
}

int mds_gv_iter_next(struct mds_gv_iter *g)
{
	if (g->at_end)
		return MDS_ENOTFOUND;
	return iter_settle(g, mds_tree_iter_next(&g->it));
}

void mds_gv_iter_close(struct mds_gv_iter *g)
{
	if (!g)
		return;
	mds_tree_iter_release(&g->it);
	free(g);
}

/* ---- usage and evidence reads ------------------------------------------------ */

int mds_gv_usage_list(struct mds_txn *t, struct mds_str team, mds_gv_usage_fn fn, void *arg)
{
	uint8_t kb[MDS_TEAM_NAME_MAX + 2];
	struct mds_kcur *cur;
	struct mds_str k, v, start = MDS_STR_NULL;
	int rc;

	if (team.len > MDS_TEAM_NAME_MAX)
		return MDS_EINVAL;
	if (team.len)
		start = pair_key(kb, team, MDS_STR_NULL);
	rc = mds_kv_cursor_open(t, MDS_DB_GV_USAGE, &cur);
	if (rc)
		return rc;
	rc = start.len ? mds_kv_seek(cur, start, &k, &v) : mds_kv_first(cur, &k, &v);
	for (; rc == 0; rc = mds_kv_next(cur, &k, &v)) {
		struct mds_gv_usage u;
		const char *z;

		if (start.len && !mds_str_has_prefix(k, start))
			break;
		z = memchr(k.p, 0, k.len);
		if (!z || v.len != USAGE_LEN) {
			rc = MDS_ECORRUPT;
			break;
		}
		u.team = (struct mds_str){ k.p, (size_t)(z - k.p) };
		u.origin = (struct mds_str){ z + 1, k.len - u.team.len - 1 };
		u.bytes = mds_be64_get((const uint8_t *)v.p);
		u.objects = mds_be64_get((const uint8_t *)v.p + 8);
		u.buckets = mds_be64_get((const uint8_t *)v.p + 16);
		rc = fn(arg, &u);
		if (rc)
			break;
	}
	mds_kv_cursor_close(cur);
	return rc == MDS_ENOTFOUND ? 0 : rc;
}

static int get_part(const uint8_t **p, const uint8_t *end, struct mds_str *out)
{
	uint32_t n;

	if (end - *p < 4)
		return MDS_ECORRUPT;
	n = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	if ((size_t)(end - *p) < n)
		return MDS_ECORRUPT;
	*out = (struct mds_str){ (const char *)*p, n };
	*p += n;
	return 0;
}

int mds_gv_evidence_list(struct mds_txn *t, struct mds_str origin, mds_gv_evidence_fn fn,
			 void *arg)
{
	uint8_t kb[MDS_GV_ORIGIN_MAX + 1];
	struct mds_str prefix, k, v;
	struct mds_kcur *cur;
	int rc;

	if (!origin_valid(origin))
		return MDS_EINVAL;
	prefix = pair_key(kb, origin, MDS_STR_NULL);
	rc = mds_kv_cursor_open(t, MDS_DB_GV_EVIDENCE, &cur);
	if (rc)
		return rc;
	for (rc = mds_kv_seek(cur, prefix, &k, &v); rc == 0; rc = mds_kv_next(cur, &k, &v)) {
		struct mds_gv_evidence_rec e;
		const uint8_t *p = (const uint8_t *)v.p, *end = p + v.len;

		if (!mds_str_has_prefix(k, prefix))
			break;
		if (k.len != prefix.len + 8 || v.len < 9) {
			rc = MDS_ECORRUPT;
			break;
		}
		memset(&e, 0, sizeof(e));
		e.n = mds_be64_get((const uint8_t *)k.p + prefix.len);
		e.ev.kind = p[0];
		e.ev.time_ms = mds_be64_get(p + 1);
		p += 9;
		if (get_part(&p, end, &e.ev.applied_note) || get_part(&p, end, &e.ev.offending_note) ||
		    get_part(&p, end, &e.ev.proof) || get_part(&p, end, &e.ev.message) || p != end) {
			rc = MDS_ECORRUPT;
			break;
		}
		rc = fn(arg, &e);
		if (rc)
			break;
	}
	mds_kv_cursor_close(cur);
	return rc == MDS_ENOTFOUND ? 0 : rc;
}

/* ---- check ------------------------------------------------------------------ */

struct sum {
	char key[MDS_TEAM_NAME_MAX + 1 + MDS_GV_ORIGIN_MAX + 1];
	size_t len;
	uint64_t u[3];
};

long mds_gv_check(struct mds_txn *t, struct mds_check_ctx *c, uint64_t *entries)
{
	struct sum *sums = NULL;
	size_t n = 0, cap = 0;
	struct mds_kcur *cur = NULL;
	struct mds_str k, v;
	long before = c->problems;
	char q[MDS_QUOTE_MAX];
	int rc;

	rc = mds_kv_cursor_open(t, MDS_DB_GV_BUCKETS, &cur);
	if (rc)
		goto out;
	for (rc = mds_kv_first(cur, &k, &v); rc == 0; rc = mds_kv_next(cur, &k, &v)) {
		struct mds_gv_bucket b;
		struct mds_tree_iter it;
		uint64_t bytes = 0, objects = 0;
		const char *z = memchr(k.p, 0, k.len);
		struct mds_str origin;
		uint8_t ukey[sizeof(sums->key)];
		struct mds_str uk;
		size_t i;
		int irc;

		if (!z || bucket_decode(v, &b) || b.team.len > MDS_TEAM_NAME_MAX) {
			mds_check_problem(c, "global view bucket '%s': bad key or record", mds_quote(q, k));
			continue;
		}
		origin = (struct mds_str){ k.p, (size_t)(z - k.p) };
		mds_tree_iter_init(&it, t, b.root);
		for (irc = mds_tree_iter_seek(&it, MDS_STR_NULL, 1); irc == 0; irc = mds_tree_iter_next(&it)) {
			uint64_t sz;

			if (obj_size(it.rec, &sz)) {
				mds_check_problem(c, "global view bucket '%s': object record does not decode",
						  mds_quote(q, k));
				continue;
			}
			bytes += sz;
			objects++;
		}
		*entries += it.entries_loaded;
		mds_tree_iter_release(&it);
		if (irc != MDS_ENOTFOUND)
			mds_check_problem(c, "global view bucket '%s': walk failed: %s", mds_quote(q, k),
					  mds_strerror(irc));
		if (bytes != b.bytes || objects != b.objects)
			mds_check_problem(c, "global view bucket '%s': counters say %llu bytes / %llu objects, recount finds %llu / %llu",
					  mds_quote(q, k), (unsigned long long)b.bytes,
					  (unsigned long long)b.objects, (unsigned long long)bytes,
					  (unsigned long long)objects);
		uk = pair_key(ukey, b.team, origin);
		for (i = 0; i < n; i++)
			if (sums[i].len == uk.len && memcmp(sums[i].key, uk.p, uk.len) == 0)
				break;
		if (i == n) {
			if (n == cap) {
				struct sum *ns = realloc(sums, (cap = cap ? 2 * cap : 16) * sizeof(*ns));

				if (!ns) {
					rc = MDS_ENOMEM;
					goto out;
				}
				sums = ns;
			}
			memcpy(sums[n].key, uk.p, uk.len);
			sums[n].len = uk.len;
			memset(sums[n].u, 0, sizeof(sums[n].u));
			n++;
		}
		sums[i].u[0] += bytes;
		sums[i].u[1] += objects;
		sums[i].u[2] += 1;
	}
	if (rc != MDS_ENOTFOUND)
		goto out;
	mds_kv_cursor_close(cur);
	cur = NULL;
	rc = mds_kv_cursor_open(t, MDS_DB_GV_USAGE, &cur);
	if (rc)
		goto out;
	for (rc = mds_kv_first(cur, &k, &v); rc == 0; rc = mds_kv_next(cur, &k, &v)) {
		uint64_t u[3] = { 0, 0, 0 }, want[3] = { 0, 0, 0 };

		if (v.len != USAGE_LEN) {
			mds_check_problem(c, "global view usage '%s': bad record", mds_quote(q, k));
			continue;
		}
		for (int j = 0; j < 3; j++)
			u[j] = mds_be64_get((const uint8_t *)v.p + 8 * j);
		for (size_t i = 0; i < n; i++)
			if (sums[i].len == k.len && memcmp(sums[i].key, k.p, k.len) == 0) {
				memcpy(want, sums[i].u, sizeof(want));
				sums[i].len = 0;   /* matched */
			}
		if (memcmp(u, want, sizeof(u)) != 0)
			mds_check_problem(c, "global view usage '%s': counters say %llu bytes / %llu objects / %llu buckets, recount finds %llu / %llu / %llu",
					  mds_quote(q, k), (unsigned long long)u[0], (unsigned long long)u[1],
					  (unsigned long long)u[2], (unsigned long long)want[0],
					  (unsigned long long)want[1], (unsigned long long)want[2]);
	}
	if (rc != MDS_ENOTFOUND)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (sums[i].len)
			mds_check_problem(c, "global view usage '%s': missing",
					  mds_quote(q, (struct mds_str){ sums[i].key, sums[i].len }));
	rc = 0;
out:
	mds_kv_cursor_close(cur);
	free(sums);
	return rc ? rc : c->problems - before;
}
