/*
 * blobs.h - what the blob and S3 parity modules share inside the core:
 * the dispatcher for op kinds 30-49, block maps (blobmap.c), record
 * rewriting, ids and ETags, and their part of `mds check`.
 *
 * Modules: append.c (Append Block, Seal), copy.c (CopyObject, Put Blob
 * From URL, copy status), multipart.c (S3 multipart uploads), blocklist.c
 * (Put Block / Put Block List). All of them run inside the writer's nested
 * transaction for one op, so each op's writes are atomic.
 *
 * A block map is an ordered list of blocks (offset, size, id, locator)
 * owned by exactly one object record, which names it by map id (record
 * tag 6). Whoever replaces or deletes a record must release its map
 * (mds_blob_release) in the same transaction.
 */
#ifndef MDS_BLOBS_H
#define MDS_BLOBS_H

#include "kv.h"
#include "ns_internal.h"

#define MDS_BLOB_ID_LEN 16                /* upload / copy ids: 16 random bytes */
#define MDS_BLOB_ID_HEX (2 * MDS_BLOB_ID_LEN)
#define MDS_APPEND_BLOCK_DEFAULT (4u << 20)   /* Azure: 4 MiB (older versions) */
#define MDS_APPEND_BLOCK_MAX (100u << 20)     /* Azure: 100 MiB (2022-11-02 and later) */
#define MDS_BLOCKS_MAX 50000                  /* committed blocks per blob (Azure) */
#define MDS_PARTS_MAX 10000                   /* parts per upload (S3) */
#define MDS_PART_MIN (5ull << 20)             /* every part but the last (S3) */
#define MDS_PART_SIZE_MAX (5ull << 30)        /* S3: 5 GiB per part */
#define MDS_BLOCK_ID_MAX 64                   /* Azure block ids, decoded */
#define MDS_BLOCK_SIZE_MAX (4000ull << 20)    /* Azure Put Block: 4,000 MiB */
#define MDS_STAGED_MAX 100000                 /* uncommitted blocks per blob (Azure) */

/* The dispatcher namespace.c calls for op kinds 30-49. */
int mds_blob_apply(struct mds_txn *t, struct mds_op *op);

int mds_append_apply(struct mds_txn *t, struct mds_op *op);
int mds_copy_apply(struct mds_txn *t, struct mds_op *op);
int mds_multipart_apply(struct mds_txn *t, struct mds_op *op);
int mds_blocklist_apply(struct mds_txn *t, struct mds_op *op);

/*
 * mds_blob_release - undo what record @old (about to be replaced or
 * deleted, in bucket @b) owns outside the name tree: its block map and,
 * for a pending copy destination, the copy id index entry (so a later
 * progress or completion report for that copy finds nothing).
 */
int mds_blob_release(struct mds_txn *t, const struct mds_object *old);

/*
 * mds_blob_bucket_drop - remove what bucket @bucket_id holds outside its
 * object tree: in-progress multipart uploads with their parts and upload
 * tree, and staged (uncommitted) blocks. Called by bucket delete, which
 * S3 and Azure allow with uploads / uncommitted blocks still present.
 */
int mds_blob_bucket_drop(struct mds_txn *t, uint64_t bucket_id);
int mds_multipart_bucket_drop(struct mds_txn *t, uint64_t bucket_id);
int mds_blocklist_bucket_drop(struct mds_txn *t, uint64_t bucket_id);

/*
 * mds_blob_cond_check - If-Match / If-None-Match of @c against @cur (NULL =
 * absent), as namespace.c applies them to puts. On failure sets
 * op->blob_out.reason to @reason and returns MDS_EPRECOND with a message
 * naming @what ("blob", "copy source") and @name.
 */
int mds_blob_cond_check(struct mds_op *op, const struct mds_cond *c, const struct mds_object *cur,
			uint8_t reason, const char *what, struct mds_str name);

/*
 * mds_blob_charge - mds_usage_charge for @name in @b, converting quota
 * reservation @token first when it is not empty (mds_quota_commit_begin:
 * growth up to the reserved amount is not checked again). Errors of the
 * reservation (unknown, expired, for another name) fail the op.
 */
int mds_blob_charge(struct mds_txn *t, struct mds_op *op, const struct mds_bucket *b,
		    struct mds_str name, struct mds_str token, int64_t bytes, int64_t objects);

/* mds_blob_resv_release - give reservation @token back (empty, gone: no-op). */
int mds_blob_resv_release(struct mds_txn *t, struct mds_str token);

/*
 * The copies index value: bucket length (1) bucket, name length (2 LE)
 * name, token length (1) token (the reservation the pending copy holds,
 * 0 or 32 hex). Decoded strings are borrowed from @v. MDS_ECORRUPT if it
 * does not decode.
 */
#define MDS_COPY_INDEX_MAX (1 + MDS_BUCKET_NAME_MAX + 2 + MDS_OBJECT_NAME_MAX + 1 + 64)
size_t mds_copy_index_encode(uint8_t buf[MDS_COPY_INDEX_MAX], struct mds_str bucket,
			     struct mds_str name, struct mds_str token);
int mds_copy_index_decode(struct mds_str v, struct mds_str *bucket, struct mds_str *name,
			  struct mds_str *token);

/* ---- block maps (blobmap.c) --------------------------------------------- */

struct mds_map_entry {
	uint64_t offset;
	uint64_t size;
	struct mds_str id;       /* <= MDS_BLOCK_ID_MAX bytes (or an ETag <= 128) */
	struct mds_str locator;  /* <= MDS_LOCATOR_MAX */
};

/* A new, empty map owned by @name in bucket @b; *@id receives its id. */
int mds_map_create(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		   uint64_t *id);
/* Store block @index of map @id. */
int mds_map_put(struct mds_txn *t, uint64_t id, uint32_t index, const struct mds_map_entry *e);
/* Block @index of map @id (strings borrowed from @t). MDS_ENOTFOUND if absent. */
int mds_map_get(struct mds_txn *t, uint64_t id, uint32_t index, struct mds_map_entry *e);
/* Remove map @id with its owner entry and every block. Absent is fine. */
int mds_map_free(struct mds_txn *t, uint64_t id);
/* Decode a block value. */
int mds_map_entry_decode(struct mds_str v, struct mds_map_entry *e);

/* ---- records ------------------------------------------------------------ */

/*
 * mds_blob_in_from - the write-side view of stored record @o: @in gets its
 * size, type, ETag, content type, locator, metadata and tags (strings
 * borrowed from @o; pair arrays are thread-local, valid until the next
 * call on this thread).
 */
int mds_blob_in_from(const struct mds_object *o, struct mds_object_in *in);

/*
 * mds_blob_write - encode @in plus the blob fields of @ext (tags 6, 7) with
 * @version / @ctime_ns / the op's time as mtime, and store it as @name's
 * record in @b. Everything is copied before the write, so @in and @ext
 * may point into the record being replaced.
 */
int mds_blob_write(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		   const struct mds_object_in *in, const struct mds_object *ext,
		   uint64_t version, uint64_t ctime_ns, struct mds_status *st);

/* An ETag for a record mds changes itself: "0x<mtime hex><version hex>", quoted. */
void mds_blob_etag(char out[MDS_ETAG_MAX + 1], uint64_t mtime_ns, uint64_t version);

/* ---- ids ------------------------------------------------------------------ */

/* 16 bytes from OpenSSL's RAND_bytes; MDS_EINTERNAL if it fails. */
int mds_blob_id_new(uint8_t id[MDS_BLOB_ID_LEN]);
/* Parse 32 hex digits (either case). MDS_EINVAL otherwise. */
int mds_blob_id_parse(struct mds_str hex, uint8_t id[MDS_BLOB_ID_LEN]);
/* 32 lower-case hex digits and a NUL. */
void mds_blob_id_hex(char out[MDS_BLOB_ID_HEX + 1], const uint8_t id[MDS_BLOB_ID_LEN]);

/* A fresh id from the store's shared counter (meta/next_id). */
int mds_blob_next_id(struct mds_txn *t, uint64_t *id);

/* ---- check ------------------------------------------------------------------ */

/*
 * mds_blob_check - verify the blob databases: every block map's owner holds
 * it and its blocks are contiguous and sum to the owner's size; every copy
 * index entry points at a pending destination; every upload's index entry,
 * tree and parts agree. @tree_entries receives the name-tree entries that
 * belong to upload trees (mds_check counts them as reachable). Returns the
 * number of problems reported or a negative code.
 */
long mds_blob_check(struct mds_txn *t, mds_check_report_fn report, void *arg,
		    uint64_t *tree_entries);

/*
 * mds_blob_bucket_by_id - the bucket whose id is @id (a scan of the
 * buckets; for mds check). @last caches the previous answer (zero it
 * before the first call). MDS_ENOTFOUND if no bucket has that id.
 */
int mds_blob_bucket_by_id(struct mds_txn *t, uint64_t id, struct mds_bucket *b,
			  struct mds_bucket *last);

/* Multipart part of the check (multipart.c). */
long mds_multipart_check(struct mds_txn *t, mds_check_report_fn report, void *arg,
			 uint64_t *tree_entries);

/* Staged-block part of the check (blocklist.c). */
long mds_blocklist_check(struct mds_txn *t, mds_check_report_fn report, void *arg);

#endif /* MDS_BLOBS_H */
