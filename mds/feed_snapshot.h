/*
 * feed_snapshot.h - a consistent view of the island's live state at one
 * log size S, for a subscriber whose cursor fell below the oldest retained
 * leaf (feed_compact.h): it rebuilds its view of this island from the
 * snapshot, then follows the feed from S.
 *
 * What must stay true
 *   - everything comes from ONE read transaction: S is the log size that
 *     transaction sees, the state is the state after leaf S - 1, and the
 *     root and compact range are those of the tree of S leaves;
 *   - entries use the leaf encoding (feed_log.h), so one decoder serves
 *     leaves and snapshot entries: teams (kind MDS_OP_TEAM_CREATE, team,
 *     record), then buckets (MDS_OP_BUCKET_CREATE, bucket, team, record),
 *     then objects bucket by bucket in bucket-name order, names in binary
 *     order (MDS_OP_OBJECT_PUT, bucket, name, key_version = the object's
 *     version, record); every entry has seq = S, time_ns = 0, state
 *     MDS_FEED_RECORD and the island's origin;
 *   - digest = SHA-256 over, for each entry in stream order,
 *     u32 big-endian length || entry bytes;
 *   - the manifest note's text (docs/federation.md "Snapshots") is
 *       origin "\n" "snapshot" "\n" S "\n" base64(root) "\n"
 *       count "\n" base64(digest) "\n" "timestamp " unix-ms "\n"
 *     whose second line can never be a checkpoint's size line.
 */
#ifndef MDS_FEED_SNAPSHOT_H
#define MDS_FEED_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"
#include "feed/merkle.h"

/* Entries per chunk at most, and the bytes after which a chunk is cut. */
#define MDS_FEED_SNAPSHOT_CHUNK 1000
#define MDS_FEED_SNAPSHOT_CHUNK_BYTES (1u << 20)
/* Longest manifest note text (origin, numbers, two base64 hashes). */
#define MDS_FEED_SNAPSHOT_TEXT_MAX 512

struct mds_feed_snapshot;

struct mds_feed_snapshot_manifest {
	uint64_t size;                          /* S */
	uint8_t root[MDS_MERKLE_HASH_LEN];      /* root of the tree of S leaves */
	uint64_t entries;                       /* entries streamed */
	uint8_t digest[MDS_MERKLE_HASH_LEN];    /* see above */
	struct mds_merkle_compact range;        /* frontier at S: folds to root */
};

/*
 * mds_feed_snapshot_open - start a snapshot over the read transaction @t
 * (borrowed; it must stay open and unchanged until mds_feed_snapshot_free)
 * for origin @origin (borrowed, copied). Reads S, the root and the compact
 * range at S. *@out is owned by the caller. Returns 0, MDS_EINVAL (bad
 * origin), MDS_ENOMEM, or a storage error (MDS_ECORRUPT).
 */
int mds_feed_snapshot_open(struct mds_txn *t, const char *origin,
			   struct mds_feed_snapshot **out, struct mds_status *st);

/*
 * mds_feed_snapshot_next - the next chunk: up to @max entries (at most
 * MDS_FEED_SNAPSHOT_CHUNK), fewer once the chunk passes
 * MDS_FEED_SNAPSHOT_CHUNK_BYTES, into @entries (caller's array of @max);
 * each points into @sn's buffer, valid until the next call or free.
 * *@n = 0 means the snapshot is complete (then call _manifest). Returns 0,
 * MDS_ENOMEM or a storage error.
 */
int mds_feed_snapshot_next(struct mds_feed_snapshot *sn, struct mds_str *entries, size_t max,
			   size_t *n, struct mds_status *st);

/* mds_feed_snapshot_manifest - the manifest after the last chunk, into @m
 * (caller's). Returns 0, or MDS_EINVAL before the snapshot is complete,
 * MDS_ENOMEM if hashing failed. */
int mds_feed_snapshot_manifest(struct mds_feed_snapshot *sn,
			       struct mds_feed_snapshot_manifest *m);

/*
 * mds_feed_snapshot_note_text - the manifest note's text for @origin
 * (borrowed) and @m at wall time @time_ms into @buf (caller's, @cap
 * bytes; MDS_FEED_SNAPSHOT_TEXT_MAX suffices), NUL-terminated, *@len its
 * length. Returns 0 or MDS_EINVAL if it does not fit.
 */
int mds_feed_snapshot_note_text(const char *origin, const struct mds_feed_snapshot_manifest *m,
				uint64_t time_ms, char *buf, size_t cap, size_t *len);

/* mds_feed_snapshot_free - free @sn (owned; may be NULL); closes its cursors. */
void mds_feed_snapshot_free(struct mds_feed_snapshot *sn);

#endif /* MDS_FEED_SNAPSHOT_H */
