/*
 * nametree.h - object names up to 1,024 bytes as LMDB keys of at most 511
 * bytes, in exact UTF-8 binary order.
 *
 * A name is cut into segments of MDS_SEG_MAX bytes. Segment i of a name is
 * stored under key  node_id(8, big-endian) || segment  in the objects
 * database, where node 0's id is the bucket's id and each further node's id
 * is allocated when a segment of exactly MDS_SEG_MAX bytes first gets a
 * continuation. An entry holds an object (the name ends here), a child
 * node (longer names continue there), or both. Walking entries in key
 * order and descending into a child right after its entry's own object
 * yields names in memcmp order; see docs/storage-format.md for why.
 *
 * Invariants: every entry holds an object or a child; every child node
 * holds at least one entry; every non-final segment is MDS_SEG_MAX bytes.
 */
#ifndef MDS_NAMETREE_H
#define MDS_NAMETREE_H

#include "kv.h"

#define MDS_SEG_MAX 496
#define MDS_TREE_DEPTH ((MDS_OBJECT_NAME_MAX + MDS_SEG_MAX - 1) / MDS_SEG_MAX)

/* Entry value layout: flags(1) [child id(8 BE) if F_CHILD] [record if F_OBJ]. */
#define MDS_ENTRY_F_OBJ 0x01
#define MDS_ENTRY_F_CHILD 0x02

/* Record bytes stored for @name under @root; MDS_ENOTFOUND if none. */
int mds_tree_get(struct mds_txn *t, uint64_t root, struct mds_str name, struct mds_str *rec);

/*
 * mds_tree_put - store @rec as the record of @name (write transaction).
 * @next_id: counter for new node ids; read and advanced by the call.
 */
int mds_tree_put(struct mds_txn *t, uint64_t root, struct mds_str name, struct mds_str rec,
		 uint64_t *next_id);

/* mds_tree_del - remove @name's record, pruning nodes left empty. */
int mds_tree_del(struct mds_txn *t, uint64_t root, struct mds_str name);

/* 1 if the tree under @root holds no entry, 0 if it does, or a negative code. */
int mds_tree_is_empty(struct mds_txn *t, uint64_t root);

struct mds_tree_level {
	struct mds_kcur *cur;
	uint64_t node;
	uint8_t flags;
	uint64_t child;
	struct mds_str rec;
};

/*
 * An ordered walk over the names under one root. After a successful seek
 * or next, it->name / it->name_len is the current name and it->rec its
 * record bytes (valid until the transaction ends or the next move).
 * it->name_p points to the same name bytes: it->name, or, for a name of
 * one segment, the key's own bytes in the snapshot (valid as long as
 * it->rec). Hot loops read name_p: it->name was just written, and
 * reading it back at once stalls on store forwarding.
 */
struct mds_tree_iter {
	struct mds_txn *t;
	uint64_t root;
	int depth;           /* index of the current level; -1 = not positioned */
	int at_end;
	uint64_t entries_loaded; /* entries visited so far (for mds_check) */
	struct mds_tree_level lv[MDS_TREE_DEPTH];
	char name[MDS_OBJECT_NAME_MAX];
	size_t name_len;
	const char *name_p;
	struct mds_str rec;
};

void mds_tree_iter_init(struct mds_tree_iter *it, struct mds_txn *t, uint64_t root);
void mds_tree_iter_release(struct mds_tree_iter *it);

/*
 * Position at the first name >= @target (@inclusive) or > @target.
 * Returns 0, MDS_ENOTFOUND when no such name exists, or an error.
 */
int mds_tree_iter_seek(struct mds_tree_iter *it, struct mds_str target, int inclusive);

/* Move to the next name: 0, MDS_ENOTFOUND at the end, or an error. */
int mds_tree_iter_next(struct mds_tree_iter *it);

#endif /* MDS_NAMETREE_H */
