/*
 * merkle.c - RFC 9162 Merkle tree hashing, proofs and verification over a
 * store of perfect-subtree hashes (see merkle.h for the addressing).
 *
 * Why every operation is O(log n) reads: every subtree that RFC 9162's
 * recursive definitions visit is a range [lo, hi) whose start lo is a
 * multiple of 2^ceil(log2(hi - lo)). Such a range is the concatenation of
 * the perfect subtrees given by the set bits of (hi - lo), largest first,
 * and its hash folds those subtree hashes from the right (range_hash()). On
 * the path from the root to a leaf (or to the end of the first tree of a
 * consistency proof) only the first sibling taken while still on the right
 * edge of the tree is imperfect; every other sibling is one stored node.
 *
 * What must stay true: the verifiers follow RFC 9162 sections 2.1.3.2 and
 * 2.1.4.2 step by step and never read the store; proofs come out in RFC
 * order (from the leaf, or from the first tree's end, towards the root).
 */
#include "merkle.h"

#include <assert.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "feed_util.h"

#define HLEN MDS_MERKLE_HASH_LEN

int mds_merkle_hash_leaf(const void *data, size_t len, uint8_t out[HLEN])
{
	static const uint8_t prefix = 0x00;
	EVP_MD_CTX *ctx;
	int rc = MDS_ENOMEM;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return MDS_ENOMEM;
	if (EVP_DigestInit_ex(ctx, mds_feed_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, &prefix, 1) != 1 ||
	    (len && EVP_DigestUpdate(ctx, data, len) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
		ERR_clear_error();
		goto out_free_ctx;
	}
	rc = 0;
out_free_ctx:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int mds_merkle_hash_node(const uint8_t left[HLEN], const uint8_t right[HLEN],
	uint8_t out[HLEN])
{
	uint8_t buf[1 + 2 * HLEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, HLEN);
	memcpy(buf + 1 + HLEN, right, HLEN);
	if (EVP_Digest(buf, sizeof(buf), out, NULL, mds_feed_sha256(),
		NULL) != 1) {
		ERR_clear_error();
		return MDS_ENOMEM;
	}
	return 0;
}

/* SHA-256 of the empty string: a constant, so it cannot fail. */
static const uint8_t empty_root[HLEN] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

void mds_merkle_empty_root(uint8_t out[HLEN])
{
	memcpy(out, empty_root, HLEN);
}

/* The largest power of two strictly below @n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	assert(n >= 2);
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

static int get_node(const struct mds_merkle_store *s, unsigned level,
	uint64_t index, uint8_t out[HLEN])
{
	int rc = s->get(s->ctx, level, index, out);

	return rc == MDS_ENOTFOUND ? MDS_ECORRUPT : rc;
}

/* The hash of the aligned range [lo, hi): popcount(hi - lo) reads. */
static int range_hash(const struct mds_merkle_store *s, uint64_t lo,
	uint64_t hi, uint8_t out[HLEN])
{
	uint8_t sub[64][HLEN];
	uint64_t len = hi - lo, pos = lo;
	int n = 0, rc;

	assert(lo < hi);
	for (int level = 63; level >= 0; level--) {
		uint64_t w = (uint64_t)1 << level;

		if (!(len & w))
			continue;
		assert(pos % w == 0);
		rc = get_node(s, (unsigned)level, pos >> level, sub[n]);
		if (rc)
			return rc;
		n++;
		pos += w;
	}
	memcpy(out, sub[n - 1], HLEN);
	for (int i = n - 2; i >= 0; i--) {
		rc = mds_merkle_hash_node(sub[i], out, out);
		if (rc)
			return rc;
	}
	return 0;
}

int mds_merkle_append(const struct mds_merkle_store *s, uint64_t size,
	const uint8_t leaf_hash[HLEN])
{
	uint8_t h[HLEN], left[HLEN];
	uint64_t index = size;
	unsigned level = 0;
	int rc;

	if (size >= MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	rc = s->put(s->ctx, 0, index, leaf_hash);
	if (rc)
		return rc;
	memcpy(h, leaf_hash, HLEN);
	/* A node at (level, index) with odd index completes its parent. */
	while (index & 1) {
		rc = get_node(s, level, index - 1, left);
		if (rc)
			return rc;
		rc = mds_merkle_hash_node(left, h, h);
		if (rc)
			return rc;
		index >>= 1;
		level++;
		rc = s->put(s->ctx, level, index, h);
		if (rc)
			return rc;
	}
	return 0;
}

int mds_merkle_root(const struct mds_merkle_store *s, uint64_t size,
	uint8_t root_out[HLEN])
{
	if (size > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	if (size == 0) {
		mds_merkle_empty_root(root_out);
		return 0;
	}
	return range_hash(s, 0, size, root_out);
}

/* Reverse the first @n hashes of @p in place. */
static void reverse_hashes(uint8_t p[][HLEN], size_t n)
{
	uint8_t t[HLEN];

	for (size_t i = 0; i < n / 2; i++) {
		memcpy(t, p[i], HLEN);
		memcpy(p[i], p[n - 1 - i], HLEN);
		memcpy(p[n - 1 - i], t, HLEN);
	}
}

int mds_merkle_inclusion_proof(const struct mds_merkle_store *s,
	uint64_t index, uint64_t size, uint8_t proof_out[][HLEN],
	size_t *n_out)
{
	uint64_t lo = 0, hi = size;
	size_t n = 0;
	int rc;

	*n_out = 0;
	if (index >= size || size > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	/* Walk down from the root, recording siblings; RFC order is upward. */
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);

		assert(n < MDS_MERKLE_PROOF_MAX);
		if (index < lo + k) {
			rc = range_hash(s, lo + k, hi, proof_out[n]);
			hi = lo + k;
		} else {
			rc = range_hash(s, lo, lo + k, proof_out[n]);
			lo += k;
		}
		if (rc)
			return rc;
		n++;
	}
	reverse_hashes(proof_out, n);
	*n_out = n;
	return 0;
}

int mds_merkle_consistency_proof(const struct mds_merkle_store *s,
	uint64_t size1, uint64_t size2, uint8_t proof_out[][HLEN],
	size_t *n_out)
{
	uint64_t lo = 0, hi = size2;
	int whole = 1;  /* RFC's b: the subtree is still the whole first tree */
	size_t n = 0;
	int rc;

	*n_out = 0;
	if (size1 > size2 || size2 > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	if (size1 == 0 || size1 == size2)
		return 0;
	/* SUBPROOF(m, D[lo:hi], b) with m = size1 - lo, unrolled. */
	for (;;) {
		uint64_t m = size1 - lo, k;

		assert(n < MDS_MERKLE_PROOF_MAX);
		if (m == hi - lo) {
			if (!whole) {
				rc = range_hash(s, lo, hi, proof_out[n]);
				if (rc)
					return rc;
				n++;
			}
			break;
		}
		k = split_point(hi - lo);
		if (m <= k) {
			rc = range_hash(s, lo + k, hi, proof_out[n]);
			hi = lo + k;
		} else {
			rc = range_hash(s, lo, lo + k, proof_out[n]);
			lo += k;
			whole = 0;
		}
		if (rc)
			return rc;
		n++;
	}
	reverse_hashes(proof_out, n);
	*n_out = n;
	return 0;
}

int mds_merkle_verify_inclusion(uint64_t index, uint64_t size,
	const uint8_t leaf_hash[HLEN], const uint8_t proof[][HLEN], size_t n,
	const uint8_t root[HLEN])
{
	uint8_t r[HLEN];
	uint64_t fn, sn;

	if (index >= size || size > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	if (n > MDS_MERKLE_PROOF_MAX)
		return MDS_EDENIED;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf_hash, HLEN);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return MDS_EDENIED;
		if ((fn & 1) || fn == sn) {
			if (mds_merkle_hash_node(proof[i], r, r))
				return MDS_ENOMEM;
			if (!(fn & 1)) {
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else if (mds_merkle_hash_node(r, proof[i], r)) {
			return MDS_ENOMEM;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || CRYPTO_memcmp(r, root, HLEN) != 0)
		return MDS_EDENIED;
	return 0;
}

int mds_merkle_verify_consistency(uint64_t size1, uint64_t size2,
	const uint8_t root1[HLEN], const uint8_t root2[HLEN],
	const uint8_t proof[][HLEN], size_t n)
{
	uint8_t fr[HLEN], sr[HLEN];
	uint64_t fn, sn;
	size_t i = 0;

	if (size1 > size2 || size2 > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	if (size1 == 0)
		return n == 0 ? 0 : MDS_EDENIED;
	if (size1 == size2) {
		if (n != 0 || CRYPTO_memcmp(root1, root2, HLEN) != 0)
			return MDS_EDENIED;
		return 0;
	}
	if (n == 0 || n > MDS_MERKLE_PROOF_MAX)
		return MDS_EDENIED;
	/* Step 2: a power-of-two first tree is itself the first proof node. */
	if ((size1 & (size1 - 1)) == 0) {
		memcpy(fr, root1, HLEN);
	} else {
		memcpy(fr, proof[0], HLEN);
		i = 1;
	}
	memcpy(sr, fr, HLEN);
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return MDS_EDENIED;
		if ((fn & 1) || fn == sn) {
			if (mds_merkle_hash_node(proof[i], fr, fr) ||
			    mds_merkle_hash_node(proof[i], sr, sr))
				return MDS_ENOMEM;
			if (!(fn & 1)) {
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else if (mds_merkle_hash_node(sr, proof[i], sr)) {
			return MDS_ENOMEM;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || CRYPTO_memcmp(fr, root1, HLEN) != 0 ||
	    CRYPTO_memcmp(sr, root2, HLEN) != 0)
		return MDS_EDENIED;
	return 0;
}

void mds_merkle_compact_init(struct mds_merkle_compact *c)
{
	memset(c, 0, sizeof(*c));
}

int mds_merkle_compact_append(struct mds_merkle_compact *c,
	const uint8_t leaf_hash[HLEN])
{
	uint8_t h[HLEN];
	int n, rc;

	if (c->size >= MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	n = __builtin_popcountll(c->size);
	memcpy(h, leaf_hash, HLEN);
	/* Like a binary counter: each trailing 1 bit of size merges. The
	 * merged hashes go to h first so a failure leaves @c unchanged. */
	for (uint64_t sz = c->size; sz & 1; sz >>= 1) {
		rc = mds_merkle_hash_node(c->hash[n - 1], h, h);
		if (rc)
			return rc;
		n--;
	}
	memcpy(c->hash[n], h, HLEN);
	c->size++;
	return 0;
}

int mds_merkle_compact_root(const struct mds_merkle_compact *c,
	uint8_t root_out[HLEN])
{
	int n = __builtin_popcountll(c->size), rc;

	if (n == 0) {
		mds_merkle_empty_root(root_out);
		return 0;
	}
	memcpy(root_out, c->hash[n - 1], HLEN);
	for (int i = n - 2; i >= 0; i--) {
		rc = mds_merkle_hash_node(c->hash[i], root_out, root_out);
		if (rc)
			return rc;
	}
	return 0;
}

int mds_merkle_compact_from_store(const struct mds_merkle_store *s,
	uint64_t size, struct mds_merkle_compact *c)
{
	uint64_t pos = 0;
	int n = 0, rc;

	if (size > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	mds_merkle_compact_init(c);
	for (int level = 63; level >= 0; level--) {
		if (!(size & ((uint64_t)1 << level)))
			continue;
		rc = get_node(s, (unsigned)level, pos >> level, c->hash[n]);
		if (rc)
			return rc;
		n++;
		pos += (uint64_t)1 << level;
	}
	c->size = size;
	return 0;
}

int mds_merkle_compact_encode(const struct mds_merkle_compact *c,
	uint8_t *buf, size_t cap, size_t *len_out)
{
	size_t n = (size_t)__builtin_popcountll(c->size);
	size_t len = 8 + n * HLEN;

	*len_out = 0;
	if (cap < len || c->size > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(c->size >> (56 - 8 * i));
	memcpy(buf + 8, c->hash, n * HLEN);
	*len_out = len;
	return 0;
}

int mds_merkle_compact_decode(const uint8_t *buf, size_t len,
	struct mds_merkle_compact *c)
{
	uint64_t size = 0;
	size_t n;

	if (len < 8)
		return MDS_EINVAL;
	for (int i = 0; i < 8; i++)
		size = size << 8 | buf[i];
	if (size > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	n = (size_t)__builtin_popcountll(size);
	if (len != 8 + n * HLEN)
		return MDS_EINVAL;
	mds_merkle_compact_init(c);
	c->size = size;
	memcpy(c->hash, buf + 8, n * HLEN);
	return 0;
}
