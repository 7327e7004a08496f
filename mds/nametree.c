/*
 * nametree.c - the segmented name tree (see nametree.h for the layout and
 * its invariants).
 *
 * Why the order is exact: within one node, entries sort by segment. Take
 * an entry with segment s of full length MDS_SEG_MAX and a child; every
 * name in the child is s||x. Any other entry t in the node differs from s
 * within the first MDS_SEG_MAX bytes or is a proper prefix of s (t is at
 * most MDS_SEG_MAX long and t != s), so s||x compares with t exactly as s
 * does. And s itself (the entry's own object) is a prefix of every s||x,
 * so it comes first. Hence: entry's object, then its child subtree, then
 * the next entry.
 */
#include <assert.h>
#include <string.h>

#include "nametree.h"
#include "record.h"
#include "util.h"

#define KEY_MAX (8 + MDS_SEG_MAX)
#define VAL_MAX (1 + 8 + 65536)

struct entry {
	uint8_t flags;
	uint64_t child;
	struct mds_str rec;
};

static size_t make_key(uint8_t *key, uint64_t node, const char *seg, size_t len)
{
	mds_be64_put(key, node);
	if (len)
		memcpy(key + 8, seg, len);
	return 8 + len;
}

static int entry_decode(struct mds_str v, struct entry *e)
{
	const uint8_t *p = (const uint8_t *)v.p;
	size_t o = 1;

	if (v.len < 1)
		return MDS_ECORRUPT;
	e->flags = p[0];
	e->child = 0;
	if (!(e->flags & (MDS_ENTRY_F_OBJ | MDS_ENTRY_F_CHILD)) ||
	    (e->flags & ~(MDS_ENTRY_F_OBJ | MDS_ENTRY_F_CHILD)))
		return MDS_ECORRUPT;
	if (e->flags & MDS_ENTRY_F_CHILD) {
		if (v.len < 9)
			return MDS_ECORRUPT;
		e->child = mds_be64_get(p + 1);
		o = 9;
	}
	e->rec.p = v.p + o;
	e->rec.len = v.len - o;
	if ((e->flags & MDS_ENTRY_F_OBJ) && e->rec.len == 0)
		return MDS_ECORRUPT;
	return 0;
}

/* Writes entry @e under @key; the record is copied from e->rec. */
static int entry_put(struct mds_txn *t, struct mds_str key, const struct entry *e)
{
	static __thread uint8_t buf[VAL_MAX];
	size_t o = 1;

	if (e->rec.len > VAL_MAX - 9)
		return MDS_EINVAL;
	buf[0] = e->flags;
	if (e->flags & MDS_ENTRY_F_CHILD) {
		mds_be64_put(buf + 1, e->child);
		o = 9;
	}
	if (e->flags & MDS_ENTRY_F_OBJ) {
		memmove(buf + o, e->rec.p, e->rec.len);
		o += e->rec.len;
	}
	return mds_kv_put(t, MDS_DB_OBJECTS, key, (struct mds_str){ (const char *)buf, o });
}

static size_t seg_len(size_t remaining)
{
	return remaining > MDS_SEG_MAX ? MDS_SEG_MAX : remaining;
}

int mds_tree_get(struct mds_txn *t, uint64_t root, struct mds_str name, struct mds_str *rec)
{
	uint8_t key[KEY_MAX];
	uint64_t node = root;
	size_t off = 0;

	for (;;) {
		size_t n = seg_len(name.len - off);
		struct mds_str v;
		struct entry e;
		int rc = mds_kv_get(t, MDS_DB_OBJECTS,
				    (struct mds_str){ (char *)key, make_key(key, node, name.p + off, n) },
				    &v);

		if (rc)
			return rc;
		rc = entry_decode(v, &e);
		if (rc)
			return rc;
		off += n;
		if (off == name.len) {
			if (!(e.flags & MDS_ENTRY_F_OBJ))
				return MDS_ENOTFOUND;
			*rec = e.rec;
			return 0;
		}
		if (!(e.flags & MDS_ENTRY_F_CHILD))
			return MDS_ENOTFOUND;
		node = e.child;
	}
}

int mds_tree_put(struct mds_txn *t, uint64_t root, struct mds_str name, struct mds_str rec,
		 uint64_t *next_id)
{
	uint8_t key[KEY_MAX];
	uint64_t node = root;
	size_t off = 0;

	assert(name.len > 0 && name.len <= MDS_OBJECT_NAME_MAX);
	for (;;) {
		size_t n = seg_len(name.len - off);
		struct mds_str k = { (char *)key, make_key(key, node, name.p + off, n) }, v;
		struct entry e = { 0, 0, { NULL, 0 } };
		int rc = mds_kv_get(t, MDS_DB_OBJECTS, k, &v);

		if (rc == 0)
			rc = entry_decode(v, &e);
		else if (rc == MDS_ENOTFOUND)
			rc = 0;
		if (rc)
			return rc;
		off += n;
		if (off == name.len) {
			e.flags |= MDS_ENTRY_F_OBJ;
			e.rec = rec;
			return entry_put(t, k, &e);
		}
		if (!(e.flags & MDS_ENTRY_F_CHILD)) {
			e.flags |= MDS_ENTRY_F_CHILD;
			e.child = (*next_id)++;
			rc = entry_put(t, k, &e);
			if (rc)
				return rc;
		}
		node = e.child;
	}
}

int mds_tree_is_empty(struct mds_txn *t, uint64_t node)
{
	uint8_t key[8];
	struct mds_kcur *c;
	struct mds_str k;
	int rc;

	rc = mds_kv_cursor_open(t, MDS_DB_OBJECTS, &c);
	if (rc)
		return rc;
	mds_be64_put(key, node);
	rc = mds_kv_seek(c, (struct mds_str){ (char *)key, 8 }, &k, NULL);
	if (rc == 0)
		rc = !(k.len >= 8 && memcmp(k.p, key, 8) == 0);
	else if (rc == MDS_ENOTFOUND)
		rc = 1;
	mds_kv_cursor_close(c);
	return rc;
}

int mds_tree_del(struct mds_txn *t, uint64_t root, struct mds_str name)
{
	struct {
		uint8_t key[KEY_MAX];
		size_t key_len;
		struct entry e;
	} path[MDS_TREE_DEPTH];
	uint64_t node = root;
	size_t off = 0;
	int d = 0, rc;

	for (;; d++) {
		size_t n = seg_len(name.len - off);
		struct mds_str v;

		path[d].key_len = make_key(path[d].key, node, name.p + off, n);
		rc = mds_kv_get(t, MDS_DB_OBJECTS,
				(struct mds_str){ (char *)path[d].key, path[d].key_len }, &v);
		if (rc)
			return rc;
		rc = entry_decode(v, &path[d].e);
		if (rc)
			return rc;
		off += n;
		if (off == name.len)
			break;
		if (!(path[d].e.flags & MDS_ENTRY_F_CHILD))
			return MDS_ENOTFOUND;
		node = path[d].e.child;
	}
	if (!(path[d].e.flags & MDS_ENTRY_F_OBJ))
		return MDS_ENOTFOUND;

	/* Clear the object bit; prune upwards while entries and nodes empty. */
	path[d].e.flags &= (uint8_t)~MDS_ENTRY_F_OBJ;
	for (; d >= 0; d--) {
		struct mds_str k = { (char *)path[d].key, path[d].key_len };

		if (path[d].e.flags) {
			struct mds_str v;

			/* The record pointer may be stale after writes: re-read it. */
			if (path[d].e.flags & MDS_ENTRY_F_OBJ) {
				rc = mds_kv_get(t, MDS_DB_OBJECTS, k, &v);
				if (rc == 0) {
					struct entry cur;

					rc = entry_decode(v, &cur);
					path[d].e.rec = cur.rec;
				}
				if (rc)
					return rc;
			}
			return entry_put(t, k, &path[d].e);
		}
		rc = mds_kv_del(t, MDS_DB_OBJECTS, k);
		if (rc)
			return rc;
		if (d == 0)
			return 0;
		rc = mds_tree_is_empty(t, mds_be64_get(path[d].key));
		if (rc < 0)
			return rc;
		if (!rc)
			return 0;
		path[d - 1].e.flags &= (uint8_t)~MDS_ENTRY_F_CHILD;
	}
	return 0;
}

/* ---- iteration ---------------------------------------------------------- */

void mds_tree_iter_init(struct mds_tree_iter *it, struct mds_txn *t, uint64_t root)
{
	memset(it, 0, sizeof(*it));
	it->t = t;
	it->root = root;
	it->depth = -1;
}

void mds_tree_iter_release(struct mds_tree_iter *it)
{
	for (int i = 0; i < MDS_TREE_DEPTH; i++) {
		mds_kv_cursor_close(it->lv[i].cur);
		it->lv[i].cur = NULL;
	}
	it->depth = -1;
}

/* Loads the entry the cursor of level @d returned (@k, @v); MDS_ENOTFOUND
 * when the key belongs to another node. */
static int level_load(struct mds_tree_iter *it, int d, struct mds_str k, struct mds_str v)
{
	struct mds_tree_level *lv = &it->lv[d];
	struct entry e;
	size_t seg;
	int rc;

	if (k.len < 8 || mds_be64_get((const uint8_t *)k.p) != lv->node)
		return MDS_ENOTFOUND;
	seg = k.len - 8;
	if (seg == 0 || seg > MDS_SEG_MAX)
		return MDS_ECORRUPT;
	rc = entry_decode(v, &e);
	if (rc)
		return rc;
	if ((e.flags & MDS_ENTRY_F_CHILD) && (seg != MDS_SEG_MAX || d + 1 >= MDS_TREE_DEPTH))
		return MDS_ECORRUPT;
	it->entries_loaded++;
	lv->flags = e.flags;
	lv->child = e.child;
	lv->rec = e.rec;
	memcpy(it->name + (size_t)d * MDS_SEG_MAX, k.p + 8, seg);
	it->name_len = (size_t)d * MDS_SEG_MAX + seg;
	it->name_p = d == 0 ? k.p + 8 : it->name;
	it->depth = d;
	return 0;
}

static int level_open(struct mds_tree_iter *it, int d, uint64_t node)
{
	struct mds_tree_level *lv = &it->lv[d];

	lv->node = node;
	if (lv->cur)
		return 0;
	return mds_kv_cursor_open(it->t, MDS_DB_OBJECTS, &lv->cur);
}

/* Seeks level @d's cursor to the first entry of its node with segment >= seg. */
static int level_seek(struct mds_tree_iter *it, int d, const char *seg, size_t n)
{
	uint8_t key[KEY_MAX];
	struct mds_str k, v;
	int rc;

	rc = mds_kv_seek(it->lv[d].cur, (struct mds_str){ (char *)key, make_key(key, it->lv[d].node, seg, n) },
			 &k, &v);
	if (rc)
		return rc;
	return level_load(it, d, k, v);
}

static int settle(struct mds_tree_iter *it);

/* Moves past the current entry of level @d (and its subtree). */
static int advance(struct mds_tree_iter *it, int d)
{
	for (; d >= 0; d--) {
		struct mds_str k, v;
		int rc = mds_kv_next(it->lv[d].cur, &k, &v);

		if (rc == 0)
			rc = level_load(it, d, k, v);
		if (rc == 0)
			return settle(it);
		if (rc != MDS_ENOTFOUND)
			return rc;
	}
	it->at_end = 1;
	it->depth = -1;
	return MDS_ENOTFOUND;
}

/* Descends from the current entry (level it->depth) into its child's first entry. */
static int descend_first(struct mds_tree_iter *it)
{
	int d = it->depth;
	int rc = level_open(it, d + 1, it->lv[d].child);

	if (rc)
		return rc;
	rc = level_seek(it, d + 1, NULL, 0);
	if (rc == MDS_ENOTFOUND)
		return MDS_ECORRUPT; /* a child node must not be empty */
	return rc;
}

/* From a freshly loaded entry, reach the first name at or below it. */
static int settle(struct mds_tree_iter *it)
{
	for (;;) {
		struct mds_tree_level *lv = &it->lv[it->depth];
		int rc;

		if (lv->flags & MDS_ENTRY_F_OBJ) {
			it->rec = lv->rec;
			return 0;
		}
		rc = descend_first(it);
		if (rc)
			return rc;
	}
}

/*
 * A hint for the walk's memory stalls, which dominate it (the first touch
 * of each entry's bytes in the LMDB page; with this hint bench_stream's
 * CPU time fell by ~40 %, docs/benchmarks.md). LMDB packs a leaf page's
 * nodes downwards from its end, so entries written in key order (the
 * common case: pages filled by appends or rebuilt by splits) sit at
 * falling addresses, each node (8-byte header, key, value) right below
 * the previous one. Fetch the lines of the entry two ahead, assuming it
 * is about as big as this one. A prefetch never faults, so a wrong guess
 * (another layout, the page's start) costs a wasted line, not
 * correctness.
 */
static inline void prefetch_ahead(struct mds_str k, struct mds_str v)
{
	/* integer arithmetic: the address may lie outside the page */
	uintptr_t p = (uintptr_t)k.p - 2 * (8 + k.len + v.len);

	__builtin_prefetch((const void *)p);
	__builtin_prefetch((const void *)(p - 64));
}

/*
 * The common step, inlined: the current entry has no child and the next
 * key of its level is a plain object entry (flags exactly F_OBJ, a
 * record) of the same node. This is level_load() and settle() for that
 * case, with the same checks; anything else takes the general path.
 */
int mds_tree_iter_next(struct mds_tree_iter *it)
{
	int d = it->depth;
	struct mds_tree_level *lv;
	struct mds_str k, v;
	int rc;

	if (it->at_end || d < 0)
		return MDS_ENOTFOUND;
	lv = &it->lv[d];
	if (lv->flags & MDS_ENTRY_F_CHILD) {
		rc = descend_first(it);
		if (rc)
			return rc;
		return settle(it);
	}
	rc = mds_kv_next(lv->cur, &k, &v);
	if (rc == 0 && k.len > 8 && k.len <= 8 + MDS_SEG_MAX && v.len > 1 &&
	    (uint8_t)v.p[0] == MDS_ENTRY_F_OBJ && mds_be64_get((const uint8_t *)k.p) == lv->node) {
		size_t seg = k.len - 8;
		struct mds_str rec = { v.p + 1, v.len - 1 };

		prefetch_ahead(k, v);
		/* Hide seg's known bound (<= MDS_SEG_MAX) from GCC, which would
		 * otherwise inline the copy as `rep movsq`: its start-up cost
		 * was a third of this function's time in a profile. */
		__asm__("" : "+r"(seg));
		it->entries_loaded++;
		lv->flags = MDS_ENTRY_F_OBJ;
		lv->child = 0;
		/* both from registers: a 16-byte reload of lv->rec right after
		 * its two 8-byte stores stalled (store forwarding fails) */
		lv->rec = rec;
		it->rec = rec;
		memcpy(it->name + (size_t)d * MDS_SEG_MAX, k.p + 8, seg);
		it->name_len = (size_t)d * MDS_SEG_MAX + seg;
		it->name_p = d == 0 ? k.p + 8 : it->name;
		return 0;
	}
	if (rc == 0)
		rc = level_load(it, d, k, v);
	if (rc == 0)
		return settle(it);
	if (rc != MDS_ENOTFOUND)
		return rc;
	return advance(it, d - 1);
}

int mds_tree_iter_seek(struct mds_tree_iter *it, struct mds_str target, int inclusive)
{
	size_t off = 0;
	uint64_t node = it->root;
	int rc;

	it->at_end = 0;
	for (int d = 0; d < MDS_TREE_DEPTH; d++) {
		size_t n = seg_len(target.len - off);
		int more = target.len - off > MDS_SEG_MAX;
		struct mds_tree_level *lv;

		rc = level_open(it, d, node);
		if (rc)
			return rc;
		rc = level_seek(it, d, target.len ? target.p + off : target.p, n);
		if (rc == MDS_ENOTFOUND)
			return d == 0 ? (it->at_end = 1, it->depth = -1, MDS_ENOTFOUND) : advance(it, d - 1);
		if (rc)
			return rc;
		lv = &it->lv[d];
		if (it->name_len - (size_t)d * MDS_SEG_MAX != n ||
		    memcmp(it->name + (size_t)d * MDS_SEG_MAX, target.p + off, n) != 0)
			return settle(it); /* the entry is past the target */
		if (!more) {
			/* This entry's own name equals the target. */
			if ((lv->flags & MDS_ENTRY_F_OBJ) && inclusive) {
				it->rec = lv->rec;
				return 0;
			}
			if (lv->flags & MDS_ENTRY_F_OBJ)
				return mds_tree_iter_next(it);
			return settle(it);
		}
		/* The target continues below this entry; its own object is smaller. */
		if (!(lv->flags & MDS_ENTRY_F_CHILD))
			return advance(it, d);
		node = lv->child;
		off += n;
	}
	return MDS_ECORRUPT;
}
