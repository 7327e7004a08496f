/*
 * subscriber.h - what a subscriber checks before it applies a batch of
 * another island's feed: the whole verification, as one pure function.
 *
 * A subscriber keeps, per island, the frontier (struct mds_merkle_compact)
 * of the prefix of that island's log it has applied, in the same LMDB
 * transaction as the applied entries. An update is a signed checkpoint, a
 * consistency proof from the subscriber's size to the checkpoint's size,
 * and the leaf hashes of the entries in between. Nothing in the update is
 * trusted until mds_feed_verify_update() returns 0; it never changes the
 * caller's cursor, it fills a new one to store with the applied entries.
 */
#ifndef MDS_FEED_SUBSCRIBER_H
#define MDS_FEED_SUBSCRIBER_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mds_feed_verify_update - verify an update against the cursor @cur
 * (borrowed) of the island whose checkpoints carry origin @origin
 * (borrowed). In order, it checks:
 *   1. @note (borrowed, @note_len bytes) is a checkpoint signed by a key in
 *      @roster (unknown signatures ignored, a failing trusted one rejects)
 *      whose origin is @origin;
 *   2. its size is not below @cur->size;
 *   3. @proof (@n_proof hashes, borrowed) proves the tree of @cur->size
 *      leaves with @cur's root consistent with the checkpoint (at equal
 *      sizes: the roots are equal and the proof is empty);
 *   4. the entries are contiguous: @first_seq is @cur->size and the
 *      @n_leaves leaf hashes in @leaf_hashes (borrowed) reach exactly the
 *      checkpoint's size;
 *   5. folding them onto @cur gives the checkpoint's root.
 * On success *@next (caller-owned; may not alias @cur) is the new cursor
 * and *@cp the checkpoint; on failure both are zeroed.
 *
 * Returns 0; mds_checkpoint_open()'s codes for step 1 (MDS_EDENIED for a
 * forged signature, MDS_ENOTFOUND for no trusted signature, MDS_EINVAL for
 * a malformed note or another origin); MDS_EDENIED for steps 2, 3 and 5
 * (the island's log rolled back, forked, or its entries were tampered
 * with: raise an alarm and freeze the island's view); MDS_EINVAL for step 4
 * (a gap or overlap in the stream: resubscribe from @cur); MDS_ENOMEM if
 * hashing ran out of memory (no verdict: retry).
 */
int mds_feed_verify_update(const struct mds_merkle_compact *cur,
	const char *origin,
	const struct mds_note_verifier *roster, size_t n_roster,
	const char *note, size_t note_len,
	const uint8_t proof[][MDS_MERKLE_HASH_LEN], size_t n_proof,
	uint64_t first_seq,
	const uint8_t leaf_hashes[][MDS_MERKLE_HASH_LEN], size_t n_leaves,
	struct mds_merkle_compact *next, struct mds_checkpoint *cp,
	struct mds_status *st);

#ifdef __cplusplus
}
#endif

#endif /* MDS_FEED_SUBSCRIBER_H */
