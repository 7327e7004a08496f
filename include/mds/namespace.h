/*
 * namespace.h - teams, buckets, object records and listings.
 *
 * Mutations are described by a struct mds_op and handed to the store's
 * writer (mds_store_submit / mds_store_exec in store.h). Reads take a
 * struct mds_reader between mds_reader_begin() and mds_reader_end(); every
 * struct mds_str they return points into that snapshot and stays valid
 * until mds_reader_end().
 *
 * Names
 *   team:   1-63 bytes of [a-z0-9_-], starting with a letter or digit.
 *   bucket: S3 rules (which also satisfy Azure container rules): 3-63 bytes
 *           of [a-z0-9.-], starting and ending with a letter or digit, no
 *           "..", not shaped like an IPv4 address, not starting "xn--" or
 *           "sthree-", not ending "-s3alias" or "--ol-s3".
 *   object: 1-1024 bytes of valid UTF-8 (no overlongs, no surrogates), no NUL.
 * Listings return object names in UTF-8 binary (memcmp) order.
 */
#ifndef MDS_NAMESPACE_H
#define MDS_NAMESPACE_H

#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"
#include "mds/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed byte string; not NUL-terminated unless said so. */
struct mds_str {
	const char *p;
	size_t len;
};

#define MDS_STR(lit) ((struct mds_str){ (lit), sizeof(lit) - 1 })
#define MDS_STR_NULL ((struct mds_str){ NULL, 0 })

/* Limits. */
#define MDS_TEAM_NAME_MAX 63
#define MDS_BUCKET_NAME_MIN 3
#define MDS_BUCKET_NAME_MAX 63
#define MDS_OBJECT_NAME_MAX 1024
#define MDS_ETAG_MAX 128
#define MDS_CONTENT_TYPE_MAX 256
#define MDS_LOCATOR_MAX 1024
#define MDS_META_MAX 2048         /* keys + values, as S3 user metadata */
#define MDS_TAGS_MAX 10
#define MDS_TAG_KEY_MAX 128
#define MDS_TAG_VALUE_MAX 256
#define MDS_LIST_S3_MAX 1000
#define MDS_LIST_AZURE_MAX 5000
#define MDS_LIST_TOKEN_MAX 2048   /* bytes of an encoded continuation token */

enum mds_blob_type {
	MDS_BLOB_BLOCK = 0,   /* S3 objects and Azure block blobs */
	MDS_BLOB_APPEND = 1,
	MDS_BLOB_PAGE = 2,
};

struct mds_pair {
	struct mds_str key;
	struct mds_str value;
};

/* An object record as stored (read side). */
struct mds_object {
	uint64_t version;       /* per-name counter: 1 on first put, +1 on each overwrite */
	uint64_t size;          /* bytes of content */
	uint64_t ctime_ns;      /* first creation of this name (kept across overwrites) */
	uint64_t mtime_ns;      /* last put */
	uint8_t blob_type;      /* enum mds_blob_type */
	struct mds_str etag;
	struct mds_str content_type;
	struct mds_str locator; /* opaque to mds; the gateway's pointer to the bytes */
	struct mds_str meta_raw; /* encoded pairs; walk with mds_pairs_next */
	uint32_t n_meta;
	struct mds_str tags_raw;
	uint32_t n_tags;

	/* Block map (tag 6): append blobs, committed block lists, completed
	 * multipart uploads. map_id 0 = none: the locator alone holds the bytes. */
	uint64_t map_id;
	uint32_t map_blocks;    /* committed blocks (append, block list) or parts */
	uint8_t map_kind;       /* enum mds_map_kind */
	uint8_t sealed;         /* append blob: 1 after SealBlob */
	uint64_t max_block_size; /* append blob: largest block accepted */

	/* Copy state (tag 7): set on the destination of an asynchronous copy. */
	uint8_t copy_status;    /* enum mds_copy_status; 0 = never a copy target */
	struct mds_str copy_id; /* 32 lower-case hex characters */
	struct mds_str copy_source;
	struct mds_str copy_failure;
	uint64_t copy_progress; /* bytes copied so far */
	uint64_t copy_total;    /* bytes of the source */
	uint64_t copy_done_ns;  /* completion time (success, failed, aborted) */

	/* Retention and legal hold (tag 8, see retention.c): the object may be
	 * neither deleted nor overwritten while legal_hold is 1 or while
	 * retention_mode is set and retain_until_ns is in the future. */
	uint8_t retention_mode; /* enum mds_retention_mode */
	uint8_t legal_hold;     /* 1: under legal hold */
	uint64_t retain_until_ns; /* ns since the epoch; 0 with MDS_RETENTION_NONE */
};

/* S3 Object Lock modes (Azure: unlocked / locked time-based policies). */
enum mds_retention_mode {
	MDS_RETENTION_NONE = 0,
	MDS_RETENTION_GOVERNANCE = 1, /* may be shortened, removed or bypassed with bypass_governance */
	MDS_RETENTION_COMPLIANCE = 2, /* may be extended only; no bypass */
};

enum mds_map_kind {
	MDS_MAP_NONE = 0,
	MDS_MAP_APPEND = 1,     /* Append Block */
	MDS_MAP_BLOCKLIST = 2,  /* Put Block List */
	MDS_MAP_MULTIPART = 3,  /* CompleteMultipartUpload */
};

enum mds_copy_status {
	MDS_COPY_NONE = 0,
	MDS_COPY_PENDING = 1,
	MDS_COPY_SUCCESS = 2,
	MDS_COPY_FAILED = 3,
	MDS_COPY_ABORTED = 4,
};

/*
 * mds_pairs_next - walk an encoded pair list (meta_raw / tags_raw).
 * @cur: starts as a copy of the raw string; advanced by each call.
 * Returns 1 with @out filled, 0 at the end, MDS_ECORRUPT on bad encoding.
 */
int mds_pairs_next(struct mds_str *cur, struct mds_pair *out);

struct mds_team {
	struct mds_str name;
	uint64_t ctime_ns;
	uint64_t buckets;
	uint64_t bytes;
	uint64_t objects;
};

struct mds_bucket {
	struct mds_str name;
	struct mds_str team;
	uint64_t id;
	uint64_t ctime_ns;
	uint64_t bytes;
	uint64_t objects;
};

/* ---- mutations ---------------------------------------------------------- */

enum mds_op_kind {
	MDS_OP_TEAM_CREATE = 1,    /* team */
	MDS_OP_TEAM_DELETE = 2,    /* team; refused while it owns buckets */
	MDS_OP_BUCKET_CREATE = 3,  /* bucket, team */
	MDS_OP_BUCKET_DELETE = 4,  /* bucket; refused unless empty */
	MDS_OP_OBJECT_PUT = 5,     /* bucket, name, obj, cond */
	MDS_OP_OBJECT_DELETE = 6,  /* bucket, name, cond */
	/* quotas and reservations (20-29): see quota.h */
	MDS_OP_QUOTA_SET = 20,       /* scope, limits, principal */
	MDS_OP_QUOTA_DELETE = 21,    /* scope, principal */
	MDS_OP_RESERVE = 22,         /* reservation, bucket, name, reserve_bytes/objects/ttl_ns */
	MDS_OP_RESERVE_COMMIT = 23,  /* reservation, bucket, name, obj, cond */
	MDS_OP_RESERVE_RELEASE = 24, /* reservation */
	MDS_OP_RESERVE_SWEEP = 25,   /* sweep_max */

	/* Blob and S3 parity (30-49): fields in op->blob, results in
	 * op->blob_out; see docs/blob-parity.md for the S3/Azure mapping.
	 * Ops that grow usage take an optional quota reservation token in
	 * op->reservation (quota.h) and convert it. */
	MDS_OP_APPEND_CREATE = 30,     /* bucket, name, obj (type, meta, tags), cond, blob.max_block_size */
	MDS_OP_APPEND_BLOCK = 31,      /* AppendBlock: bucket, name, blob.size/locator, blob.if_*, cond */
	MDS_OP_SEAL_BLOB = 32,         /* SealBlob: bucket, name, cond */
	MDS_OP_COPY_OBJECT = 33,       /* CopyObject: blob.src_*, bucket, name, obj (replace), cond */
	MDS_OP_PUT_BLOB_FROM_URL = 34, /* PutBlobFromUrl / async Copy Blob: blob.source_url, blob.size (reserved), reserve_ttl_ns */
	MDS_OP_COPY_PROGRESS = 35,     /* gateway: blob.id, blob.size = bytes copied so far */
	MDS_OP_COPY_FINISH = 36,       /* gateway: blob.id, blob.copy_failed/failure, obj.etag/locator */
	MDS_OP_ABORT_COPY = 37,        /* AbortCopy: blob.id (bucket, name checked when given) */
	MDS_OP_CREATE_MULTIPART = 38,  /* CreateMultipartUpload: bucket, name, obj (type, meta, tags) */
	MDS_OP_UPLOAD_PART = 39,       /* UploadPart: bucket, name, blob.id, part_number, size, etag, locator */
	MDS_OP_COMPLETE_MULTIPART = 40, /* CompleteMultipartUpload: bucket, name, blob.id, parts, cond */
	MDS_OP_ABORT_MULTIPART = 41,   /* AbortMultipartUpload: bucket, name, blob.id */
	MDS_OP_PUT_BLOCK = 42,         /* PutBlock: bucket, name, blob.id = block id, size, locator */
	MDS_OP_PUT_BLOCK_LIST = 43,    /* PutBlockList: bucket, name, blob.blocks, obj, cond */
	MDS_OP_EXPIRE_MULTIPART = 44,  /* lifecycle sweep: bucket, blob.expire_before_ns, blob.max_items */

	/* policy (60-69): see mds/policy.h */
	MDS_OP_POLICY_BIND = 60,     /* policy: the binding; out_version = its id */
	MDS_OP_POLICY_UNBIND = 61,   /* policy.id */

	/* Retention and legal hold (70-79): see docs/security.md. Deletes and
	 * overwrites of a locked object (every kind above) fail MDS_ELOCKED;
	 * op->bypass_governance lifts governance retention only. */
	MDS_OP_RETENTION_SET = 70,     /* PutObjectRetention: bucket, name, retention_mode, retain_until_ns, bypass_governance */
	MDS_OP_LEGAL_HOLD_SET = 71,    /* PutObjectLegalHold: bucket, name, legal_hold */
	MDS_OP_CLOCK_CONFIRM = 72,     /* admin: the wall clock is right; retain_until_ns = the admin's time (0 = the server's) */

	/* Global view (80-89): another island's verified state, op->global
	 * (mds/global_view.h). Not local mutations: the change feed records
	 * no leaf for them. */
	MDS_OP_GLOBAL_APPLY = 80,      /* verified entries of one checkpoint + the new cursor */
	MDS_OP_GLOBAL_REPLACE = 81,    /* snapshot bootstrap: replace the island's view */
	MDS_OP_PEER_STATE = 82,        /* freeze a forked island's view (evidence) or reset it */

	/* Change feed upkeep (90-99): no leaf; the feed log's post-apply hook
	 * does the work (mds/feed_compact.h), a no-op without a feed. */
	MDS_OP_FEED_COMPACT = 90,      /* feed_retain: delete leaf bytes below the retention bound */
};

/* Which limits of a struct mds_quota_limits apply. */
#define MDS_QUOTA_MAX_BYTES 0x01u
#define MDS_QUOTA_MAX_OBJECTS 0x02u
#define MDS_QUOTA_SOFT_BYTES 0x04u
#define MDS_QUOTA_SOFT_OBJECTS 0x08u

/* Quota limits of one scope (quota.h); a limit applies when its bit is set. */
struct mds_quota_limits {
	uint32_t set;            /* MDS_QUOTA_* bits */
	uint64_t max_bytes;      /* hard */
	uint64_t max_objects;    /* hard */
	uint64_t soft_bytes;
	uint64_t soft_objects;
	uint64_t grace_ns;       /* how long a soft limit may be exceeded */
};

/*
 * Conditions (HTTP If-Match / If-None-Match on the ETag). A NULL .p means
 * absent. "*" in if_match means "the object exists"; "*" in if_none_match
 * means "the object does not exist". Otherwise the value is compared with
 * the stored ETag byte for byte (quotes included, as the gateway sent it).
 * A condition that does not hold fails the op with MDS_EPRECOND.
 */
struct mds_cond {
	struct mds_str if_match;
	struct mds_str if_none_match;
};

/* An object record to store (write side). All strings borrowed. */
struct mds_object_in {
	uint64_t size;
	uint8_t blob_type;            /* enum mds_blob_type */
	struct mds_str etag;
	struct mds_str content_type;
	struct mds_str locator;
	const struct mds_pair *meta;  /* user metadata */
	size_t n_meta;
	const struct mds_pair *tags;
	size_t n_tags;
	/* Object lock set on creation (S3 x-amz-object-lock-*); the fields of
	 * struct mds_object. Mode and date go together; an overwrite is only
	 * possible once the old record is unlocked. */
	uint8_t retention_mode;       /* enum mds_retention_mode */
	uint8_t legal_hold;           /* 0 or 1 */
	uint64_t retain_until_ns;
};

/* Which list a Put Block List entry names (Azure's Committed/Uncommitted/Latest). */
enum mds_block_list {
	MDS_BLOCK_LATEST = 0,
	MDS_BLOCK_COMMITTED = 1,
	MDS_BLOCK_UNCOMMITTED = 2,
};

struct mds_part_ref {          /* one <Part> of CompleteMultipartUpload */
	uint32_t number;
	struct mds_str etag;
};

struct mds_block_ref {         /* one entry of Put Block List */
	struct mds_str id;         /* block id as decoded bytes, 1-64 */
	uint8_t list;              /* enum mds_block_list */
};

/* Inputs of blob ops (kinds 30-49). All strings and arrays borrowed. */
struct mds_blob_in {
	uint64_t size;              /* block / part size; bytes copied (progress); source size (from URL) */
	struct mds_str locator;     /* gateway locator of the block's / part's bytes */
	struct mds_str etag;        /* part ETag (UploadPart) */
	struct mds_str id;          /* upload id / copy id (32 hex) or block id (PutBlock) */
	uint32_t part_number;       /* 1-10,000 */
	uint8_t if_append_pos;      /* 1: append only if current size == append_pos */
	uint8_t if_max_size;        /* 1: append only if the result is <= max_size */
	uint64_t append_pos;
	uint64_t max_size;
	uint64_t max_block_size;    /* APPEND_CREATE: 0 = 4 MiB; at most 100 MiB */
	const struct mds_part_ref *parts;
	size_t n_parts;
	const struct mds_block_ref *blocks;
	size_t n_blocks;
	struct mds_str src_bucket;  /* CopyObject source */
	struct mds_str src_name;
	struct mds_cond src_cond;   /* x-amz-copy-source-if-match / -none-match */
	uint8_t replace_meta;       /* CopyObject: 1 = content type, meta, tags from obj (REPLACE) */
	struct mds_str source_url;  /* PutBlobFromUrl: what the gateway copies from */
	uint8_t copy_failed;        /* COPY_FINISH: 1 = the copy failed; failure says why */
	struct mds_str failure;
	uint64_t expire_before_ns;  /* EXPIRE_MULTIPART: abort uploads initiated before this */
	uint32_t max_items;         /* EXPIRE_MULTIPART: at most this many per op; 0 = 1,000 */
};

/* Why an op failed with MDS_EPRECOND, for the gateway's error code. */
enum mds_blob_reason {
	MDS_REASON_NONE = 0,
	MDS_REASON_ETAG = 1,          /* If-Match / If-None-Match (412 ConditionNotMet / PreconditionFailed) */
	MDS_REASON_APPEND_POS = 2,    /* 412 AppendPositionConditionNotMet */
	MDS_REASON_MAX_SIZE = 3,      /* 412 MaxBlobSizeConditionNotMet */
	MDS_REASON_SOURCE_ETAG = 4,   /* copy source condition (412 PreconditionFailed / SourceConditionNotMet) */
	MDS_REASON_SEALED = 5,        /* 409 BlobIsSealed */
	MDS_REASON_BLOCK_COUNT = 6,   /* 409 BlockCountExceedsLimit */
	MDS_REASON_NOT_APPEND = 7,    /* 409 InvalidBlobType */
	MDS_REASON_BLOCK_SIZE = 8,    /* 413 RequestBodyTooLarge / InvalidBlobOrBlock */
	MDS_REASON_INVALID_PART = 9,  /* 400 InvalidPart */
	MDS_REASON_PART_ORDER = 10,   /* 400 InvalidPartOrder */
	MDS_REASON_PART_TOO_SMALL = 11, /* 400 EntityTooSmall */
	MDS_REASON_NO_UPLOAD = 12,    /* 404 NoSuchUpload */
	MDS_REASON_INVALID_BLOCK_LIST = 13, /* 400 InvalidBlockList */
	MDS_REASON_COPY_ID = 14,      /* 409 NoPendingCopyOperation / CopyIdMismatch */
};

/* Outputs of blob ops. */
struct mds_blob_out {
	uint8_t reason;                 /* enum mds_blob_reason; set with MDS_EPRECOND and others */
	uint64_t size;                  /* the blob's size after the op */
	uint64_t append_offset;         /* AppendBlock: offset of the block (x-ms-blob-append-offset) */
	uint32_t blocks;                /* committed block / part count after the op */
	char id[33];                    /* new upload id / copy id, 32 hex + NUL */
	char etag[MDS_ETAG_MAX + 1];    /* the record's new ETag, NUL-terminated */
	uint32_t expired;               /* EXPIRE_MULTIPART: uploads aborted (< max_items: done) */
};

typedef void (*mds_op_done_fn)(struct mds_op *op);
struct mds_gv_update;

struct mds_op {
	/* in: set by the caller, borrowed until done */
	enum mds_op_kind kind;
	struct mds_str team;
	struct mds_str bucket;
	struct mds_str name;          /* object name */
	struct mds_object_in obj;
	struct mds_cond cond;
	mds_op_done_fn done;          /* called on the writer thread */
	void *user;                   /* for the caller */
	/* quotas and reservations (kinds 20-29, see quota.h); borrowed */
	struct mds_str scope;         /* "team/T", "bucket/B" or "prefix/B/PATH/" */
	struct mds_quota_limits limits;
	struct mds_str principal;     /* who changes a quota (audit) */
	struct mds_str reservation;   /* token from mds_quota_token_new() */
	uint64_t reserve_bytes;
	uint64_t reserve_objects;
	uint64_t reserve_ttl_ns;
	uint32_t sweep_max;           /* 0 = 256 */
	struct mds_blob_in blob;      /* blob ops (kinds 30-49) */
	/* retention and legal hold (kinds 70-79) */
	uint8_t bypass_governance;    /* 1: the caller asked to bypass governance retention
				       * (x-amz-bypass-governance-retention); the RPC layer sets it
				       * only for a principal authorized for bypass-governance */
	uint8_t retention_mode;       /* RETENTION_SET: enum mds_retention_mode */
	uint8_t legal_hold;           /* LEGAL_HOLD_SET: 1 on, 0 off */
	uint64_t retain_until_ns;     /* RETENTION_SET: retain-until; CLOCK_CONFIRM: admin's time */
	/* policy (kinds 60-69, see mds/policy.h); borrowed */
	struct {
		uint64_t id;                  /* unbind: the binding */
		struct mds_str subject;       /* principal or "group:NAME" */
		struct mds_str role;
		struct mds_str scope;
		struct mds_str condition;
		int deny;
	} policy;
	/* global view (kinds 80-89): struct mds_gv_update (mds/global_view.h); borrowed */
	const struct mds_gv_update *global;
	/* FEED_COMPACT (mds/feed_compact.h): keep every leaf of the last
	 * retain_leaves and every leaf written at or after keep_after_ns;
	 * delete at most max_leaves older ones. out_version = leaves removed,
	 * out_mtime_ns = the first retained leaf after the op. */
	struct {
		uint64_t retain_leaves;
		uint64_t keep_after_ns;
		uint32_t max_leaves;
	} feed_retain;

	/* out: valid when done runs */
	struct mds_status status;
	uint64_t out_version;         /* put: the new version; delete: the deleted one */
	uint64_t out_mtime_ns;        /* put: the record's mtime */
	int64_t out_bytes_delta;      /* change to usage bytes */
	int64_t out_objects_delta;    /* change to usage objects */
	struct mds_blob_out blob_out; /* blob ops (kinds 30-49) */

	/* private to the store */
	struct mds_op *next_;
	void *wait_;
};

/* mds_op_init - zero @op and set its kind. */
void mds_op_init(struct mds_op *op, enum mds_op_kind kind);

/* ---- reads -------------------------------------------------------------- */

/* Each returns 0, MDS_ENOTFOUND (message names what), MDS_EINVAL, MDS_ECORRUPT. */
int mds_team_get(struct mds_reader *r, struct mds_str team, struct mds_team *out,
		 struct mds_status *st);
int mds_bucket_get(struct mds_reader *r, struct mds_str bucket, struct mds_bucket *out,
		   struct mds_status *st);
int mds_object_head(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		    struct mds_object *out, struct mds_status *st);

/*
 * Enumerations. @emit is called for each item in name order, strictly after
 * @start_after (empty = from the start), at most @limit times (0 = no
 * limit); a non-zero return from @emit stops the walk and is returned.
 * mds_bucket_list with a non-empty @team lists only that team's buckets.
 */
typedef int (*mds_team_emit_fn)(void *arg, const struct mds_team *t);
typedef int (*mds_bucket_emit_fn)(void *arg, const struct mds_bucket *b);
int mds_team_list(struct mds_reader *r, struct mds_str start_after, size_t limit,
		  mds_team_emit_fn emit, void *arg, struct mds_status *st);
int mds_bucket_list(struct mds_reader *r, struct mds_str team, struct mds_str start_after,
		    size_t limit, mds_bucket_emit_fn emit, void *arg, struct mds_status *st);

/* ---- listing ------------------------------------------------------------ */

enum mds_list_style {
	MDS_LIST_S3 = 0,     /* ListObjectsV2: max-keys <= 1000, continuation token, start-after */
	MDS_LIST_AZURE = 1,  /* List Blobs: maxresults <= 5000, marker */
};

struct mds_list_params {
	enum mds_list_style style;
	struct mds_str bucket;
	struct mds_str prefix;
	struct mds_str delimiter;    /* empty = no roll-up */
	struct mds_str start_after;  /* S3 only; ignored when a token is given */
	struct mds_str token;        /* S3 continuation token / Azure marker, as returned */
	int64_t max_keys;            /* < 0 = default (the style's cap); 0 allowed */
};

struct mds_list_entry {
	int is_prefix;                  /* 1: a CommonPrefix / BlobPrefix; obj is NULL */
	struct mds_str name;
	const struct mds_object *obj;
};

/* Return non-zero to stop; the value is returned by the listing call. */
typedef int (*mds_list_emit_fn)(void *arg, const struct mds_list_entry *e);

struct mds_list_result {
	uint32_t key_count;           /* keys + common prefixes emitted */
	int truncated;                /* more results exist */
	char next_token[MDS_LIST_TOKEN_MAX + 1]; /* NUL-terminated; "" unless truncated */
};

/*
 * mds_list - one page of a listing. Cost is proportional to the page: a
 * delimiter roll-up jumps past the rolled-up subtree.
 * Errors: MDS_ENOTFOUND (bucket), MDS_EINVAL (max_keys above the cap, a
 * token that does not decode or belongs to another bucket/prefix/delimiter,
 * invalid prefix), or what @emit returned.
 */
int mds_list(struct mds_reader *r, const struct mds_list_params *p,
	     mds_list_emit_fn emit, void *arg, struct mds_list_result *res,
	     struct mds_status *st);

/*
 * mds_list_stream - every object under @prefix in order, strictly after
 * @start_after, at most @limit (0 = all) in this snapshot. For inventories:
 * call again in a fresh snapshot with start_after = the last name to
 * resume. Returns the number emitted (>= 0) or a negative code.
 */
long mds_list_stream(struct mds_reader *r, struct mds_str bucket, struct mds_str prefix,
		     struct mds_str start_after, size_t limit,
		     mds_list_emit_fn emit, void *arg, struct mds_status *st);

/* ---- blob and S3 parity reads ------------------------------------------- */

/*
 * A block of a blob's block map: an append blob's blocks in append order, a
 * block blob's committed block list, or a completed multipart object's
 * parts. Strings are borrowed from the reader's snapshot.
 */
struct mds_block {
	uint32_t index;          /* 0-based position in the map */
	uint64_t offset;         /* byte offset of the block in the blob */
	uint64_t size;
	struct mds_str id;       /* block id (block list), part ETag (multipart), empty (append) */
	struct mds_str locator;  /* the gateway's pointer to the block's bytes */
	uint8_t committed;       /* mds_get_block_list: 1 committed, 0 uncommitted */
};

/* Return non-zero to stop; the value is returned by the walk. */
typedef int (*mds_block_emit_fn)(void *arg, const struct mds_block *b);

/*
 * mds_blob_blocks - the block map of object @name, from block @start, at
 * most @limit blocks (0 = all). An object without a map emits nothing.
 * Errors: MDS_ENOTFOUND (bucket or object), MDS_EINVAL, MDS_ECORRUPT, or
 * what @emit returned.
 */
int mds_blob_blocks(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		    uint32_t start, size_t limit, mds_block_emit_fn emit, void *arg,
		    struct mds_status *st);

#define MDS_BLOCKLIST_COMMITTED 0x1
#define MDS_BLOCKLIST_UNCOMMITTED 0x2

/*
 * mds_get_block_list - Azure Get Block List: the committed list (in order)
 * and/or the uncommitted staged blocks (in block-id order) of @name, as
 * @which asks (MDS_BLOCKLIST_* bits). An absent blob with staged blocks is
 * not an error (Azure lists uncommitted blocks of a blob that does not
 * exist yet); with neither, MDS_ENOTFOUND.
 */
int mds_get_block_list(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		       unsigned which, mds_block_emit_fn emit, void *arg, struct mds_status *st);

struct mds_copy_info {
	uint8_t status;            /* enum mds_copy_status */
	struct mds_str bucket;     /* destination */
	struct mds_str name;
	struct mds_str source;
	struct mds_str failure;
	uint64_t progress;
	uint64_t total;
	uint64_t done_ns;
};

/*
 * mds_get_copy_status - state of the copy with id @copy_id (32 hex). The
 * destination's head (struct mds_object copy_* fields) carries the same
 * state and keeps it after completion; this lookup by id answers while the
 * destination record still belongs to that copy. MDS_ENOTFOUND otherwise.
 */
int mds_get_copy_status(struct mds_reader *r, struct mds_str copy_id, struct mds_copy_info *out,
			struct mds_status *st);

struct mds_part {
	uint32_t number;
	uint64_t size;
	uint64_t mtime_ns;
	struct mds_str etag;
	struct mds_str locator;
};

typedef int (*mds_part_emit_fn)(void *arg, const struct mds_part *p);

#define MDS_LIST_PARTS_MAX 1000

/*
 * mds_list_parts - S3 ListParts: parts of upload @upload_id (which must be
 * an upload of @name in @bucket) with numbers above @part_marker, at most
 * @max_parts (<= 1000; 0 = 1000). *@truncated says whether more follow,
 * *@next_marker is the last number emitted. MDS_ENOTFOUND (NoSuchUpload).
 */
int mds_list_parts(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		   struct mds_str upload_id, uint32_t part_marker, uint32_t max_parts,
		   mds_part_emit_fn emit, void *arg, uint32_t *next_marker, int *truncated,
		   struct mds_status *st);

struct mds_upload_entry {
	int is_prefix;             /* 1: a CommonPrefix; the other fields are empty */
	struct mds_str name;       /* key, or the common prefix */
	char upload_id[33];
	uint64_t initiated_ns;
};

typedef int (*mds_upload_emit_fn)(void *arg, const struct mds_upload_entry *e);

struct mds_uploads_params {
	struct mds_str bucket;
	struct mds_str prefix;
	struct mds_str delimiter;
	struct mds_str key_marker;
	struct mds_str upload_id_marker;  /* only with key_marker */
	uint32_t max_uploads;             /* <= 1000; 0 = 1000 */
};

struct mds_uploads_result {
	uint32_t count;                   /* uploads + common prefixes emitted */
	int truncated;
	char next_key_marker[MDS_OBJECT_NAME_MAX + 1];  /* NUL-terminated */
	char next_upload_id_marker[33];
};

/*
 * mds_list_multipart_uploads - S3 ListMultipartUploads: in-progress
 * uploads of @p->bucket in key order, and for one key in initiation order;
 * prefix, delimiter (CommonPrefixes), key-marker and upload-id-marker as S3
 * defines them. Cost is proportional to the page.
 */
int mds_list_multipart_uploads(struct mds_reader *r, const struct mds_uploads_params *p,
			       mds_upload_emit_fn emit, void *arg, struct mds_uploads_result *res,
			       struct mds_status *st);

/* ---- retention clock ----------------------------------------------------- */

/*
 * The time retention expiry is measured against (docs/security.md): the
 * wall clock, unless it runs ahead of the trusted time (wall clock at the
 * anchor + monotonic time elapsed since) by more than the store's
 * tolerance; then the clock is "suspect" and expiry uses the trusted time
 * until an admin confirms the wall clock (MDS_OP_CLOCK_CONFIRM).
 */
struct mds_retention_clock {
	uint64_t wall_ns;        /* the store's wall clock now */
	uint64_t trusted_ns;     /* anchor wall + monotonic elapsed */
	uint64_t effective_ns;   /* what retention expiry uses now */
	uint64_t high_ns;        /* highest effective time persisted (meta "retention_clock") */
	uint64_t tolerance_ns;
	int suspect;             /* 1: releases paused until confirmed */
	int restart_gap;         /* 1: suspect because the wall clock moved too far across a restart */
	uint64_t suspect_events; /* times the clock became suspect since open */
};

/*
 * mds_retention_clock_get - the store's retention clock now. Thread-safe.
 * Returns 0, or MDS_EINVAL for a read-only store (no writer, no clock).
 */
int mds_retention_clock_get(struct mds_store *s, struct mds_retention_clock *out);

/* ---- consistency check ------------------------------------------------ */

/*
 * mds_check - verify the store's invariants in one snapshot: every bucket's
 * and team's usage counters equal a recount of its objects, every object
 * belongs to an existing bucket, every bucket to an existing team, the name
 * tree is well formed (no empty interior nodes, keys within limits), every
 * record decodes. @report is called once per problem with a lower-case
 * one-line description (may be NULL). Returns the number of problems found
 * (0 = healthy) or a negative code if the check itself could not run.
 */
typedef void (*mds_check_report_fn)(void *arg, const char *problem);
long mds_check(struct mds_reader *r, mds_check_report_fn report, void *arg,
	       struct mds_status *st);

/* ---- validation (exported for the RPC layer and tests) ----------------- */

int mds_validate_team_name(struct mds_str name, struct mds_status *st);
int mds_validate_bucket_name(struct mds_str name, struct mds_status *st);
int mds_validate_object_name(struct mds_str name, struct mds_status *st);
/* 1 if @s is valid UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
int mds_utf8_is_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MDS_NAMESPACE_H */
