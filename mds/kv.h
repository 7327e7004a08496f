/*
 * kv.h - the storage layer's key/value interface to the rest of the core.
 *
 * store.c is the only file that includes <lmdb.h>; everything above it
 * (name tree, namespace, listing, and later quotas and the feed) speaks
 * this small interface: named databases, get/put/del, ordered cursors.
 * Codes are already translated to MDS_E* (one translation, in store.c).
 *
 * Memory returned through struct mds_str points into the transaction's
 * snapshot: valid until the transaction ends or, for a write transaction,
 * until the next write to that database.
 */
#ifndef MDS_KV_H
#define MDS_KV_H

#include "mds/namespace.h"
#include "mds/store.h"

/* Named databases inside the one LMDB environment (see storage-format.md). */
enum mds_db {
	MDS_DB_META = 0,      /* format version, id counters */
	MDS_DB_TEAMS,         /* team name -> team record */
	MDS_DB_BUCKETS,       /* bucket name -> bucket record */
	MDS_DB_TEAM_BUCKETS,  /* team \0 bucket -> "" (index) */
	MDS_DB_OBJECTS,       /* name tree: node id(8) segment -> entry */
	MDS_DB_USAGE,         /* 'b' bucket id(8) | 't' team -> counters */
	MDS_DB_QUOTAS,        /* scope key -> limits, grace state, reserved, prefix usage */
	MDS_DB_RESERVATIONS,  /* token(16) -> reservation */
	MDS_DB_RES_EXPIRY,    /* expiry(8 BE) token(16) -> "" (sweep index) */
	MDS_DB_QUOTA_AUDIT,   /* seq(8 BE) -> quota change record */
	MDS_DB_BLOB_MAPS,     /* map id(8) [index(4)] -> map owner | block */
	MDS_DB_COPIES,        /* copy id(16) -> destination bucket, name */
	MDS_DB_UPLOADS,       /* 'r' bucket id(8) -> upload tree root | 'u' upload id(16) -> upload */
	MDS_DB_PARTS,         /* upload id(16) part number(4) -> part */
	MDS_DB_STAGED,        /* bucket id(8) sha256(name)(32) block id -> staged block */
	MDS_DB_POLICY,        /* binding id(8 BE) -> role binding (policy.h) */
	MDS_DB_FEED,          /* seq(8 BE) -> leaf bytes + the Merkle node hashes it completed (feed_log.h) */
	MDS_DB_GV_PEERS,      /* origin -> the view's cursor of that island (global_view.h) */
	MDS_DB_GV_BUCKETS,    /* origin 0x00 bucket -> name tree root, usage, team */
	MDS_DB_GV_USAGE,      /* team 0x00 origin -> bytes, objects, buckets */
	MDS_DB_GV_EVIDENCE,   /* origin 0x00 n(8 BE) -> fork / tamper evidence */
	MDS_DB__COUNT
};

struct mds_txn;
struct mds_kcur;

/* Largest key the environment accepts (511 in Debian's LMDB build). */
#define MDS_KV_KEY_MAX 511

int mds_kv_get(struct mds_txn *t, enum mds_db db, struct mds_str key, struct mds_str *val);
/* Insert or replace. */
int mds_kv_put(struct mds_txn *t, enum mds_db db, struct mds_str key, struct mds_str val);
/* Insert @key, which must sort after every key in @db (append-only logs:
 * pages fill completely instead of splitting in half). MDS_EEXIST if not. */
int mds_kv_append(struct mds_txn *t, enum mds_db db, struct mds_str key, struct mds_str val);
/* MDS_ENOTFOUND when absent. */
int mds_kv_del(struct mds_txn *t, enum mds_db db, struct mds_str key);

/* Number of entries in @db (O(1), from the B-tree's header). */
int mds_kv_count(struct mds_txn *t, enum mds_db db, uint64_t *out);

/*
 * Cursors: positioned by seek/first/last, moved by next/prev. Each returns 0
 * with key and value filled, MDS_ENOTFOUND past either end, or an error.
 * A cursor belongs to its transaction; close it before the transaction ends.
 */
int mds_kv_cursor_open(struct mds_txn *t, enum mds_db db, struct mds_kcur **out);
void mds_kv_cursor_close(struct mds_kcur *c);
int mds_kv_seek(struct mds_kcur *c, struct mds_str key, struct mds_str *k, struct mds_str *v);
int mds_kv_first(struct mds_kcur *c, struct mds_str *k, struct mds_str *v);
int mds_kv_last(struct mds_kcur *c, struct mds_str *k, struct mds_str *v);
int mds_kv_next(struct mds_kcur *c, struct mds_str *k, struct mds_str *v);
int mds_kv_prev(struct mds_kcur *c, struct mds_str *k, struct mds_str *v);

/* The snapshot of an active reader. */
struct mds_txn *mds_reader_txn(struct mds_reader *r);

/* Wall clock for the op being applied (the store's injectable clock). */
uint64_t mds_txn_now_ns(struct mds_txn *t);

/* 1 for the writer's transaction, 0 for a read snapshot. */
int mds_txn_is_write(const struct mds_txn *t);

/*
 * The writer's call-out: apply one op inside @t (a nested transaction that
 * is committed into the batch on 0 and discarded on error). Implemented by
 * namespace.c. Must fill op->status on error.
 */
int mds_ns_apply(struct mds_txn *t, struct mds_op *op);

/*
 * The writer's post-apply hook: called after mds_ns_apply() returned 0, in
 * the SAME nested transaction, so whatever it writes (the feed's leaf) is
 * committed with the mutation or not at all. A non-zero return rolls the
 * op back and fails it (the hook fills op->status). Install it with
 * mds_store_set_post_apply() before the first op is submitted; @arg is
 * borrowed and must outlive the store. NULL removes the hook.
 */
typedef int (*mds_post_apply_fn)(void *arg, struct mds_txn *t, struct mds_op *op);
void mds_store_set_post_apply(struct mds_store *s, mds_post_apply_fn fn, void *arg);

/*
 * Batch hooks, for a post-apply hook that defers its writes to the end of
 * the batch (the feed log writes each batch's leaves with one cursor into
 * the batch's transaction instead of into every op's nested one). All run
 * on the writer thread, with the post-apply hook's @arg:
 *   op_end(arg, op, stuck)  after each op's nested transaction ended:
 *                           stuck = 1 if it was committed into the batch,
 *                           0 if it was rolled back (drop what was kept);
 *   flush(arg, t)           once, just before the batch commits, in the
 *                           batch's own transaction @t; a non-zero return
 *                           (and a message in *@st) aborts the whole batch
 *                           and fails every op in it: nothing is stored;
 *   end(arg, committed)     after the batch ended; committed = 1 if it is
 *                           durable.
 * So the writes are in the same durable transaction as the mutations: a
 * crash or a failed commit loses both or neither. Install before the
 * first op (with mds_store_set_post_apply); NULL fields are skipped.
 */
struct mds_batch_hooks {
	void (*op_end)(void *arg, struct mds_op *op, int stuck);
	int (*flush)(void *arg, struct mds_txn *t, struct mds_status *st);
	void (*end)(void *arg, int committed);
};
void mds_store_set_batch_hooks(struct mds_store *s, const struct mds_batch_hooks *h);

#endif /* MDS_KV_H */
