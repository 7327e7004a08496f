/*
 * global_view.h - the global view's storage: every peer island's verified
 * state (its objects, buckets, per-team usage), the cursor saying which
 * prefix of that island's signed log the state is, and the evidence kept
 * when an island forks. Plain C over the key/value layer (kv.h); nothing
 * here verifies anything: mds/federation.c verifies an update with
 * mds_feed_verify_update() and only then hands it to the writer as one op.
 *
 * What must stay true
 *   - an island's applied entries and its cursor change in the SAME write
 *     transaction (one op of kind MDS_OP_GLOBAL_APPLY or _REPLACE), so a
 *     crash leaves the view at a verified checkpoint and the next run
 *     resumes exactly at the stored cursor;
 *   - an apply names the cursor size it was verified against; the op is
 *     refused (MDS_EPRECOND) if the stored size differs, so a batch can
 *     never be applied twice or onto another state (exactly once);
 *   - a frozen (forked) island's view never changes until an admin resets
 *     it (MDS_OP_PEER_STATE with MDS_GV_RESET);
 *   - usage counters change in the same transaction as the objects they
 *     count: per (team, origin) bytes and objects are exact at every commit;
 *   - these ops are not local mutations: the change feed appends no leaf
 *     for them (feed_log.c skips kinds 80-89).
 *
 * Storage (docs/storage-format.md, "Global view"):
 *   MDS_DB_GV_PEERS    origin -> cursor (struct mds_gv_cursor encoding)
 *   MDS_DB_GV_BUCKETS  origin 0x00 bucket -> tree root id, usage, team
 *   MDS_DB_GV_USAGE    team 0x00 origin -> bytes, objects, buckets
 *   MDS_DB_GV_EVIDENCE origin 0x00 n(8 BE) -> fork / tamper evidence
 *   objects            name trees (nametree.h) in MDS_DB_OBJECTS under root
 *                      ids taken from the store's id counter, so names up to
 *                      1,024 bytes keep exact byte order
 */
#ifndef MDS_GLOBAL_VIEW_H
#define MDS_GLOBAL_VIEW_H

#include <stdint.h>

#include "feed_log.h"
#include "kv.h"

#define MDS_GV_ORIGIN_MAX 255

/* An island's cursor as stored; strings borrow from the snapshot. */
struct mds_gv_cursor {
	uint64_t size;               /* leaves applied */
	uint8_t root[32];            /* root of the tree of @size leaves */
	uint64_t checkpoint_ms;      /* signing time of the checkpoint applied */
	uint64_t applied_ns;         /* local time of the apply (store clock) */
	uint8_t frozen;              /* 1: forked; the view no longer changes */
	struct mds_str range;        /* compact range, mds_merkle_compact_encode() */
	struct mds_str note;         /* the signed checkpoint note applied */
};

/* Evidence kinds (docs/federation.md "Failure handling"). */
enum mds_gv_evidence_kind {
	MDS_GV_EV_FORK = 1,        /* consistency proof failed / root differs at a size */
	MDS_GV_EV_ROLLBACK = 2,    /* a signed size below the applied size */
	MDS_GV_EV_TAMPER = 3,      /* entries repeatedly did not fold to the signed root */
	MDS_GV_EV_FORGED = 4,      /* a trusted key's signature did not verify */
	MDS_GV_EV_RESET = 5,       /* an admin reset the island's view */
};

/* One piece of evidence (write side; all borrowed). */
struct mds_gv_evidence {
	uint8_t kind;              /* enum mds_gv_evidence_kind */
	uint64_t time_ms;
	struct mds_str applied_note;  /* the checkpoint the view is frozen at */
	struct mds_str offending_note; /* the checkpoint that contradicts it */
	struct mds_str proof;      /* consistency proof hashes, 32 bytes each, concatenated */
	struct mds_str message;    /* what the subscriber found */
};

enum mds_gv_state_action {
	MDS_GV_FREEZE = 1,         /* freeze the view, store the evidence */
	MDS_GV_RESET = 2,          /* admin: drop the view and cursor, unfreeze */
};

/*
 * The payload of ops MDS_OP_GLOBAL_APPLY / _REPLACE / MDS_OP_PEER_STATE
 * (op->global points at it; everything borrowed until the op completes).
 *
 * APPLY: @leaves[i] (decoded with mds_feed_leaf_decode) are leaves
 *   @from_size + i of @origin's log; the stored cursor must be at
 *   @from_size and not frozen. The new cursor is (@size, @root, @range,
 *   @note, @checkpoint_ms); @size = @from_size + @n_leaves.
 * REPLACE: the island's view is dropped and rebuilt from @leaves (state
 *   entries of a verified snapshot, leaf-encoded; their seq is ignored),
 *   then the cursor is set as for APPLY; @from_size is not checked.
 * PEER_STATE: @action with @evidence (FREEZE) or none (RESET).
 */
struct mds_gv_update {
	struct mds_str origin;
	uint64_t from_size;
	const struct mds_feed_leaf *leaves;
	size_t n_leaves;
	uint64_t size;
	const uint8_t *root;        /* 32 bytes */
	struct mds_str range;
	struct mds_str note;
	uint64_t checkpoint_ms;
	uint8_t action;             /* PEER_STATE: enum mds_gv_state_action */
	const struct mds_gv_evidence *evidence;
};

/*
 * mds_gv_apply - the writer's body for kinds 80-89 (called by
 * mds_ns_apply inside the op's nested transaction). Returns 0 or:
 * MDS_EPRECOND (the stored cursor is not at from_size: already applied or
 * another state), MDS_EDENIED (the island is frozen), MDS_EINVAL (a leaf of
 * another origin, out of sequence, or a record that does not decode),
 * MDS_ECORRUPT (an object of a bucket the view does not hold), or a
 * storage error; op->status says which.
 */
int mds_gv_apply(struct mds_txn *t, struct mds_op *op);

/* ---- reads (any transaction) ---------------------------------------------- */

/* mds_gv_cursor_get - @origin's cursor into @out; MDS_ENOTFOUND if none. */
int mds_gv_cursor_get(struct mds_txn *t, struct mds_str origin, struct mds_gv_cursor *out);

/* Walk every stored cursor in origin order; non-zero from @fn stops. */
typedef int (*mds_gv_cursor_fn)(void *arg, struct mds_str origin, const struct mds_gv_cursor *c);
int mds_gv_cursor_list(struct mds_txn *t, mds_gv_cursor_fn fn, void *arg);

/* One object of the view (strings borrow from the snapshot). */
struct mds_gv_object {
	struct mds_str name;
	uint64_t key_version;      /* the leaf's per-key version */
	uint64_t seq;              /* the leaf that wrote it */
	struct mds_str record;     /* record bytes as the leaf carried them */
};

/* A bucket of an island in the view. */
struct mds_gv_bucket {
	uint64_t root;             /* name tree root id */
	uint64_t bytes;
	uint64_t objects;
	uint64_t ctime_ns;
	struct mds_str team;
};

/* mds_gv_bucket_get - bucket @bucket of island @origin; MDS_ENOTFOUND. */
int mds_gv_bucket_get(struct mds_txn *t, struct mds_str origin, struct mds_str bucket,
		      struct mds_gv_bucket *out);

/* mds_gv_object_get - one object; MDS_ENOTFOUND for no bucket or no object. */
int mds_gv_object_get(struct mds_txn *t, struct mds_str origin, struct mds_str bucket,
		      struct mds_str name, struct mds_gv_object *out);

/* An ordered walk over the objects of one island's bucket. */
struct mds_gv_iter;

/*
 * mds_gv_iter_open - position at the first name of @origin's @bucket that
 * is > @after (or >= when @inclusive) and starts with @prefix. *@out is
 * owned (mds_gv_iter_close), valid while @t is. Returns 0, MDS_ENOTFOUND
 * (no such bucket: *@out is NULL), MDS_ENOMEM or a storage error.
 */
int mds_gv_iter_open(struct mds_txn *t, struct mds_str origin, struct mds_str bucket,
		     struct mds_str prefix, struct mds_str after, int inclusive,
		     struct mds_gv_iter **out);
/* mds_gv_iter_get - the current object: 0, MDS_ENOTFOUND at the end. */
int mds_gv_iter_get(struct mds_gv_iter *it, struct mds_gv_object *out);
/* mds_gv_iter_next - advance: 0, MDS_ENOTFOUND at the end, or an error. */
int mds_gv_iter_next(struct mds_gv_iter *it);
void mds_gv_iter_close(struct mds_gv_iter *it);

/* Usage of one team on one island. */
struct mds_gv_usage {
	struct mds_str team;
	struct mds_str origin;
	uint64_t bytes;
	uint64_t objects;
	uint64_t buckets;
};

/*
 * mds_gv_usage_list - every (team, origin) usage entry of the view in team
 * then origin order; only team @team when it is not empty. Non-zero from
 * @fn stops the walk and is returned.
 */
typedef int (*mds_gv_usage_fn)(void *arg, const struct mds_gv_usage *u);
int mds_gv_usage_list(struct mds_txn *t, struct mds_str team, mds_gv_usage_fn fn, void *arg);

/* Evidence as read back. */
struct mds_gv_evidence_rec {
	uint64_t n;                /* its number within the island */
	struct mds_gv_evidence ev;
};
typedef int (*mds_gv_evidence_fn)(void *arg, const struct mds_gv_evidence_rec *e);
int mds_gv_evidence_list(struct mds_txn *t, struct mds_str origin, mds_gv_evidence_fn fn,
			 void *arg);

/*
 * mds_gv_check - recount every island's view: each bucket's and each
 * (team, origin) usage entry against its objects, every record decodes.
 * Adds the name-tree entries it visited to *@entries (mds_check compares
 * the objects database's size with the entries reachable). Returns the
 * number of problems (reported through @c) or a negative code.
 */
struct mds_check_ctx;
long mds_gv_check(struct mds_txn *t, struct mds_check_ctx *c, uint64_t *entries);

#endif /* MDS_GLOBAL_VIEW_H */
