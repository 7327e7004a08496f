/*
 * merkle.h - the island's change log as an RFC 9162 (RFC 6962) Merkle tree,
 * independent of where its nodes are stored.
 *
 * Hashing (SHA-256, 32-byte hashes):
 *   leaf hash  = SHA-256(0x00 || leaf bytes)
 *   node hash  = SHA-256(0x01 || left hash || right hash)
 *   empty tree = SHA-256("")
 * A tree of n leaves is split at k, the largest power of two below n, exactly
 * as RFC 9162 section 2.1.1 says.
 *
 * Storage addressing. The log stores the hash of every *perfect* subtree,
 * named (level, index): level 0, index i is the leaf hash of leaf i; level l,
 * index j is the hash of the perfect subtree over leaves
 * [j * 2^l, (j + 1) * 2^l). Nodes are written once, at the append that
 * completes them, and never change; a log of n leaves holds fewer than 2n
 * nodes. Any tree size m <= n decomposes into at most 64 perfect subtrees,
 * so roots and proofs for any size need O(log n) reads.
 *
 * The storage is reached only through struct mds_merkle_store, a pair of
 * caller-supplied callbacks, so the same code runs over LMDB (inside the
 * mutation's write transaction), over memory in tests, or over anything else.
 *
 * Sizes are limited to MDS_MERKLE_SIZE_MAX (2^63 - 1), the largest size a
 * checkpoint may carry. No function here allocates memory.
 */
#ifndef MDS_FEED_MERKLE_H
#define MDS_FEED_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MDS_MERKLE_HASH_LEN 32
#define MDS_MERKLE_SIZE_MAX ((uint64_t)INT64_MAX)
/* Longest proof any function here produces or accepts (hashes). An
 * inclusion proof has at most 63 hashes and a consistency proof at most
 * 2 * 63; the bound leaves room. */
#define MDS_MERKLE_PROOF_MAX 128
/* Longest serialised compact range: 8-byte size + 63 hashes. */
#define MDS_MERKLE_COMPACT_MAX (8 + 63 * MDS_MERKLE_HASH_LEN)

/*
 * Node storage callbacks. Both return 0 on success or a negative code, which
 * the calling function passes through unchanged. @get must return
 * MDS_ENOTFOUND for a node that was never put (the caller turns that into
 * MDS_ECORRUPT: a node the tree needs is missing). @hash is borrowed for the
 * duration of the call; @hash_out is written in full on success.
 */
struct mds_merkle_store {
	void *ctx;  /* borrowed; passed to both callbacks */
	int (*put)(void *ctx, unsigned level, uint64_t index,
		const uint8_t hash[MDS_MERKLE_HASH_LEN]);
	int (*get)(void *ctx, unsigned level, uint64_t index,
		uint8_t hash_out[MDS_MERKLE_HASH_LEN]);
};

/* mds_merkle_hash_leaf - SHA-256(0x00 || @data[0..@len)) into @out.
 * @data (borrowed) may be NULL when @len is 0. Returns 0, or MDS_ENOMEM if
 * OpenSSL cannot allocate its digest context. */
int mds_merkle_hash_leaf(const void *data, size_t len,
	uint8_t out[MDS_MERKLE_HASH_LEN]);

/* mds_merkle_hash_node - SHA-256(0x01 || @left || @right) into @out. @out
 * may alias @left or @right. Returns 0, or MDS_ENOMEM if OpenSSL cannot
 * hash (it allocates; @out is then unspecified). */
int mds_merkle_hash_node(const uint8_t left[MDS_MERKLE_HASH_LEN],
	const uint8_t right[MDS_MERKLE_HASH_LEN],
	uint8_t out[MDS_MERKLE_HASH_LEN]);

/* mds_merkle_empty_root - the root of the empty tree, SHA-256("") (a
 * constant; cannot fail). */
void mds_merkle_empty_root(uint8_t out[MDS_MERKLE_HASH_LEN]);

/*
 * mds_merkle_append - append the leaf with hash @leaf_hash to a log of
 * @size leaves, so that it becomes leaf number @size. Calls @s->put for
 * (0, size) and for every node the leaf completes (at most 63 more), and
 * @s->get for their left siblings. Run it in the same transaction as the
 * mutation the leaf records; on error that transaction must be aborted, as
 * some nodes may have been put.
 *
 * Returns 0, MDS_EINVAL if @size >= MDS_MERKLE_SIZE_MAX, MDS_ECORRUPT if a
 * sibling node is missing, or a callback's error.
 */
int mds_merkle_append(const struct mds_merkle_store *s, uint64_t size,
	const uint8_t leaf_hash[MDS_MERKLE_HASH_LEN]);

/*
 * mds_merkle_root - the root hash of the first @size leaves of the log (any
 * @size up to the log's current size; 0 gives the empty root). At most 64
 * reads. Returns 0, MDS_EINVAL if @size > MDS_MERKLE_SIZE_MAX, MDS_ECORRUPT
 * if a node is missing (e.g. @size is beyond the log), MDS_ENOMEM if hashing
 * failed, or a callback's error. (Every function here that hashes can
 * return MDS_ENOMEM: OpenSSL 3 allocates in each digest call.)
 */
int mds_merkle_root(const struct mds_merkle_store *s, uint64_t size,
	uint8_t root_out[MDS_MERKLE_HASH_LEN]);

/*
 * mds_merkle_inclusion_proof - the RFC 9162 section 2.1.3.1 audit path of
 * leaf @index in the tree of the first @size leaves, ordered from the leaf
 * towards the root. @proof_out (caller-owned) receives up to
 * MDS_MERKLE_PROOF_MAX hashes, *@n_out their count. O(log size) reads.
 *
 * Returns 0, MDS_EINVAL unless @index < @size <= MDS_MERKLE_SIZE_MAX,
 * MDS_ECORRUPT if a node is missing, or a callback's error.
 */
int mds_merkle_inclusion_proof(const struct mds_merkle_store *s,
	uint64_t index, uint64_t size,
	uint8_t proof_out[][MDS_MERKLE_HASH_LEN], size_t *n_out);

/*
 * mds_merkle_consistency_proof - the RFC 9162 section 2.1.4.1 proof that
 * the tree of @size1 leaves is a prefix of the tree of @size2 leaves.
 * Empty when @size1 is 0 or equals @size2. @proof_out (caller-owned)
 * receives up to MDS_MERKLE_PROOF_MAX hashes, *@n_out their count.
 *
 * Returns 0, MDS_EINVAL unless @size1 <= @size2 <= MDS_MERKLE_SIZE_MAX,
 * MDS_ECORRUPT if a node is missing, or a callback's error.
 */
int mds_merkle_consistency_proof(const struct mds_merkle_store *s,
	uint64_t size1, uint64_t size2,
	uint8_t proof_out[][MDS_MERKLE_HASH_LEN], size_t *n_out);

/*
 * mds_merkle_verify_inclusion - RFC 9162 section 2.1.3.2: does @proof
 * (borrowed, @n hashes) prove that @leaf_hash is leaf @index of the tree of
 * @size leaves with root @root? Returns 0 if it does, MDS_EINVAL if the
 * sizes are impossible (@index >= @size), MDS_EDENIED if the proof does not
 * verify (wrong length or wrong hashes), MDS_ENOMEM if hashing failed (no
 * verdict: out of memory is never reported as a bad proof).
 */
int mds_merkle_verify_inclusion(uint64_t index, uint64_t size,
	const uint8_t leaf_hash[MDS_MERKLE_HASH_LEN],
	const uint8_t proof[][MDS_MERKLE_HASH_LEN], size_t n,
	const uint8_t root[MDS_MERKLE_HASH_LEN]);

/*
 * mds_merkle_verify_consistency - RFC 9162 section 2.1.4.2: does @proof
 * (borrowed, @n hashes) prove that the tree of @size1 leaves with root
 * @root1 is a prefix of the tree of @size2 leaves with root @root2?
 *
 * Special cases, both requiring an empty proof: @size1 == @size2 holds when
 * the roots are equal; @size1 == 0 holds whatever the roots are (every tree
 * extends the empty one). Returns 0 if consistent, MDS_EINVAL if
 * @size1 > @size2 or a size exceeds MDS_MERKLE_SIZE_MAX, MDS_EDENIED if the
 * proof does not verify, MDS_ENOMEM if hashing failed (no verdict).
 */
int mds_merkle_verify_consistency(uint64_t size1, uint64_t size2,
	const uint8_t root1[MDS_MERKLE_HASH_LEN],
	const uint8_t root2[MDS_MERKLE_HASH_LEN],
	const uint8_t proof[][MDS_MERKLE_HASH_LEN], size_t n);

/*
 * Compact range: the frontier of a log of `size` leaves, i.e. the roots of
 * its perfect subtrees from left to right, one per set bit of `size`
 * (largest first). It is all a subscriber needs to fold new leaves into the
 * root without the old leaves. Plain data: copy it freely.
 */
struct mds_merkle_compact {
	uint64_t size;
	uint8_t hash[64][MDS_MERKLE_HASH_LEN];  /* hash[0 .. popcount(size)) */
};

/* mds_merkle_compact_init - @c becomes the frontier of the empty log. */
void mds_merkle_compact_init(struct mds_merkle_compact *c);

/* mds_merkle_compact_append - append the leaf with hash @leaf_hash. Returns
 * 0, MDS_EINVAL at MDS_MERKLE_SIZE_MAX or MDS_ENOMEM if hashing failed;
 * on error @c is unchanged. */
int mds_merkle_compact_append(struct mds_merkle_compact *c,
	const uint8_t leaf_hash[MDS_MERKLE_HASH_LEN]);

/* mds_merkle_compact_root - the root of the tree @c describes. Returns 0 or
 * MDS_ENOMEM if hashing failed. */
int mds_merkle_compact_root(const struct mds_merkle_compact *c,
	uint8_t root_out[MDS_MERKLE_HASH_LEN]);

/*
 * mds_merkle_compact_from_store - the frontier of the first @size leaves of
 * a stored log (popcount(@size) reads). Returns 0, MDS_EINVAL if @size is
 * too large, MDS_ECORRUPT if a node is missing, or a callback's error.
 */
int mds_merkle_compact_from_store(const struct mds_merkle_store *s,
	uint64_t size, struct mds_merkle_compact *c);

/*
 * mds_merkle_compact_encode - serialise @c into @buf (caller-owned, @cap
 * bytes): the size as 8 bytes big-endian, then the popcount(size) frontier
 * hashes in order. *@len_out is the encoded length. Returns 0 or MDS_EINVAL
 * if @cap is too small (MDS_MERKLE_COMPACT_MAX always suffices).
 */
int mds_merkle_compact_encode(const struct mds_merkle_compact *c,
	uint8_t *buf, size_t cap, size_t *len_out);

/* mds_merkle_compact_decode - the reverse; @buf (borrowed) must be exactly
 * one encoding. Returns 0 or MDS_EINVAL (@c is then unspecified). */
int mds_merkle_compact_decode(const uint8_t *buf, size_t len,
	struct mds_merkle_compact *c);

#ifdef __cplusplus
}
#endif

#endif /* MDS_FEED_MERKLE_H */
