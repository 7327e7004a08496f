/*
 * test_merkle.c - the Merkle tree against RFC 6962's published vectors (as
 * used by certificate-transparency and transparency-dev/merkle) and against
 * a naive recursive reference written from RFC 9162's definitions, for
 * every pair of sizes up to N_BRUTE; verifier rejection of every single-bit
 * flip; the compact range; storage failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "memstore.h"
#include "merkle.h"

#define H MDS_MERKLE_HASH_LEN
#define N_BRUTE 200
#define N_FLIP 24

static void unhex(const char *s, uint8_t *out)
{
	size_t n = strlen(s) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* ---- the reference: RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1, literally ---- */

static uint64_t ref_k(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

static void ref_mth(uint8_t (*d)[H], uint64_t n, uint8_t out[H])
{
	uint8_t l[H], r[H];
	uint64_t k;

	if (n == 0) {
		mds_merkle_empty_root(out);
		return;
	}
	if (n == 1) {
		memcpy(out, d[0], H);
		return;
	}
	k = ref_k(n);
	ref_mth(d, k, l);
	ref_mth(d + k, n - k, r);
	assert_int_equal(mds_merkle_hash_node(l, r, out), 0);
}

static void ref_path(uint64_t m, uint8_t (*d)[H], uint64_t n,
	uint8_t (*p)[H], size_t *np)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = ref_k(n);
	if (m < k) {
		ref_path(m, d, k, p, np);
		ref_mth(d + k, n - k, p[(*np)++]);
	} else {
		ref_path(m - k, d + k, n - k, p, np);
		ref_mth(d, k, p[(*np)++]);
	}
}

static void ref_subproof(uint64_t m, uint8_t (*d)[H], uint64_t n, int b,
	uint8_t (*p)[H], size_t *np)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			ref_mth(d, n, p[(*np)++]);
		return;
	}
	k = ref_k(n);
	if (m <= k) {
		ref_subproof(m, d, k, b, p, np);
		ref_mth(d + k, n - k, p[(*np)++]);
	} else {
		ref_subproof(m - k, d + k, n - k, 0, p, np);
		ref_mth(d, k, p[(*np)++]);
	}
}

/* ---- fixtures ---- */

static uint8_t leaves[N_BRUTE][H];
static uint8_t roots[N_BRUTE + 1][H];
static struct memstore ms;
static struct mds_merkle_store st;

static int setup_log(void **state)
{
	(void)state;
	memset(&ms, 0, sizeof(ms));
	st = memstore_iface(&ms);
	for (int i = 0; i < N_BRUTE; i++) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "leaf %d", i);

		assert_int_equal(mds_merkle_hash_leaf(buf, (size_t)n, leaves[i]), 0);
		assert_int_equal(mds_merkle_append(&st, (uint64_t)i, leaves[i]), 0);
	}
	for (int n = 0; n <= N_BRUTE; n++)
		ref_mth(leaves, (uint64_t)n, roots[n]);
	return 0;
}

static int teardown_log(void **state)
{
	(void)state;
	memstore_release(&ms);
	return 0;
}

/* ---- known answers ---- */

static const char *const kat_leaves[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};
static const char *const kat_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct kat_proof {
	uint64_t a, b;          /* inclusion: index, size; consistency: sizes */
	const char *proof[4];   /* NULL-terminated */
};

static const struct kat_proof kat_inclusion[] = {
	{ 0, 8, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const struct kat_proof kat_consistency[] = {
	{ 1, 1, { NULL } },
	{ 1, 8, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static void check_kat_proof(const struct kat_proof *k,
	uint8_t got[][H], size_t n)
{
	size_t want = 0;
	uint8_t h[H];

	while (want < 4 && k->proof[want])
		want++;
	assert_int_equal(n, want);
	for (size_t i = 0; i < n; i++) {
		unhex(k->proof[i], h);
		assert_memory_equal(got[i], h, H);
	}
}

static void test_known_answers(void **state)
{
	struct memstore m = { 0 };
	struct mds_merkle_store s = memstore_iface(&m);
	uint8_t lh[8][H], root[H], want[H], proof[MDS_MERKLE_PROOF_MAX][H];
	size_t n;

	(void)state;
	for (int i = 0; i < 8; i++) {
		uint8_t data[16];
		size_t len = strlen(kat_leaves[i]) / 2;

		unhex(kat_leaves[i], data);
		assert_int_equal(mds_merkle_hash_leaf(data, len, lh[i]), 0);
		assert_int_equal(mds_merkle_append(&s, (uint64_t)i, lh[i]), 0);
	}
	for (int size = 0; size <= 8; size++) {
		assert_int_equal(mds_merkle_root(&s, (uint64_t)size, root), 0);
		unhex(kat_roots[size], want);
		assert_memory_equal(root, want, H);
	}
	for (size_t i = 0; i < sizeof(kat_inclusion) / sizeof(*kat_inclusion); i++) {
		const struct kat_proof *k = &kat_inclusion[i];

		assert_int_equal(mds_merkle_inclusion_proof(&s, k->a, k->b,
			proof, &n), 0);
		check_kat_proof(k, proof, n);
		unhex(kat_roots[k->b], want);
		assert_int_equal(mds_merkle_verify_inclusion(k->a, k->b,
			lh[k->a], (const uint8_t (*)[H])proof, n, want), 0);
	}
	for (size_t i = 0; i < sizeof(kat_consistency) / sizeof(*kat_consistency); i++) {
		const struct kat_proof *k = &kat_consistency[i];
		uint8_t r1[H];

		assert_int_equal(mds_merkle_consistency_proof(&s, k->a, k->b,
			proof, &n), 0);
		check_kat_proof(k, proof, n);
		unhex(kat_roots[k->a], r1);
		unhex(kat_roots[k->b], want);
		assert_int_equal(mds_merkle_verify_consistency(k->a, k->b, r1,
			want, (const uint8_t (*)[H])proof, n), 0);
	}
	memstore_release(&m);
}

/* ---- brute force against the reference ---- */

static void test_roots_all_sizes(void **state)
{
	uint8_t root[H];

	(void)state;
	for (uint64_t n = 0; n <= N_BRUTE; n++) {
		assert_int_equal(mds_merkle_root(&st, n, root), 0);
		assert_memory_equal(root, roots[n], H);
	}
	/* Beyond the log: a node is missing, reported as corruption. */
	assert_int_equal(mds_merkle_root(&st, N_BRUTE + 1, root), MDS_ECORRUPT);
}

static void test_inclusion_all_pairs(void **state)
{
	uint8_t p[MDS_MERKLE_PROOF_MAX][H], r[MDS_MERKLE_PROOF_MAX][H];
	size_t np, nr;

	(void)state;
	for (uint64_t n = 1; n <= N_BRUTE; n++) {
		for (uint64_t i = 0; i < n; i++) {
			const uint8_t (*cp)[H] = (const uint8_t (*)[H])p;

			assert_int_equal(mds_merkle_inclusion_proof(&st, i, n, p,
				&np), 0);
			nr = 0;
			ref_path(i, leaves, n, r, &nr);
			assert_int_equal(np, nr);
			assert_memory_equal(p, r, np * H);
			assert_int_equal(mds_merkle_verify_inclusion(i, n,
				leaves[i], cp, np, roots[n]), 0);
			/* Wrong leaf, index, size, root, length: rejected. */
			assert_int_not_equal(mds_merkle_verify_inclusion(i, n,
				leaves[(i + 1) % N_BRUTE], cp, np, roots[n]), 0);
			if (n > 1)
				assert_int_not_equal(mds_merkle_verify_inclusion(
					(i + 1) % n, n, leaves[i], cp, np,
					roots[n]), 0);
			/* A proof for size n passed off as one for another
			 * size (against that size's real root). */
			if (n < N_BRUTE)
				assert_int_not_equal(mds_merkle_verify_inclusion(
					i, n + 1, leaves[i], cp, np,
					roots[n + 1]), 0);
			if (i < n - 1)
				assert_int_not_equal(mds_merkle_verify_inclusion(
					i, n - 1, leaves[i], cp, np,
					roots[n - 1]), 0);
			assert_int_not_equal(mds_merkle_verify_inclusion(i, n,
				leaves[i], cp, np, roots[n - 1]), 0);
			if (np > 0)
				assert_int_not_equal(mds_merkle_verify_inclusion(
					i, n, leaves[i], cp, np - 1, roots[n]),
					0);
			memcpy(p[np], roots[0], H);
			assert_int_not_equal(mds_merkle_verify_inclusion(i, n,
				leaves[i], cp, np + 1, roots[n]), 0);
		}
	}
	assert_int_equal(mds_merkle_inclusion_proof(&st, 5, 5, p, &np),
		MDS_EINVAL);
	assert_int_equal(mds_merkle_verify_inclusion(5, 5, leaves[0],
		(const uint8_t (*)[H])p, 0, roots[5]), MDS_EINVAL);
}

static void test_consistency_all_pairs(void **state)
{
	uint8_t p[MDS_MERKLE_PROOF_MAX][H], r[MDS_MERKLE_PROOF_MAX][H];
	size_t np, nr;

	(void)state;
	for (uint64_t n = 1; n <= N_BRUTE; n++) {
		for (uint64_t m = 0; m <= n; m++) {
			const uint8_t (*cp)[H] = (const uint8_t (*)[H])p;

			assert_int_equal(mds_merkle_consistency_proof(&st, m, n,
				p, &np), 0);
			nr = 0;
			if (m > 0 && m < n)
				ref_subproof(m, leaves, n, 1, r, &nr);
			assert_int_equal(np, nr);
			assert_memory_equal(p, r, np * H);
			assert_int_equal(mds_merkle_verify_consistency(m, n,
				roots[m], roots[n], cp, np), 0);
			if (m == 0)
				continue;
			/* Wrong roots, sizes and lengths: rejected. */
			assert_int_not_equal(mds_merkle_verify_consistency(m, n,
				roots[m - 1], roots[n], cp, np), 0);
			if (m < n) {
				assert_int_not_equal(mds_merkle_verify_consistency(
					m, n, roots[m], roots[n - 1], cp, np),
					0);
				assert_int_not_equal(mds_merkle_verify_consistency(
					m, n - 1, roots[m], roots[n - 1], cp,
					np), 0);
				assert_int_not_equal(mds_merkle_verify_consistency(
					m, n, roots[m], roots[n], cp, np - 1),
					0);
				if (m > 1)
					assert_int_not_equal(
						mds_merkle_verify_consistency(m - 1, n,
							roots[m - 1], roots[n], cp, np), 0);
			}
			if (n < N_BRUTE)
				assert_int_not_equal(mds_merkle_verify_consistency(
					m, n + 1, roots[m], roots[n + 1], cp,
					np), 0);
			memcpy(p[np], roots[0], H);
			assert_int_not_equal(mds_merkle_verify_consistency(m, n,
				roots[m], roots[n], cp, np + 1), 0);
		}
	}
	assert_int_equal(mds_merkle_consistency_proof(&st, 6, 5, p, &np),
		MDS_EINVAL);
	assert_int_equal(mds_merkle_verify_consistency(6, 5, roots[6],
		roots[5], (const uint8_t (*)[H])p, 0), MDS_EINVAL);
}

static void test_bit_flips_rejected(void **state)
{
	uint8_t p[MDS_MERKLE_PROOF_MAX][H];
	size_t np;

	(void)state;
	for (uint64_t n = 1; n <= N_FLIP; n++) {
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(mds_merkle_inclusion_proof(&st, i, n, p,
				&np), 0);
			for (size_t bit = 0; bit < np * H * 8; bit++) {
				p[bit / (H * 8)][bit / 8 % H] ^= (uint8_t)(1 << (bit % 8));
				assert_int_equal(mds_merkle_verify_inclusion(i, n,
					leaves[i], (const uint8_t (*)[H])p, np,
					roots[n]), MDS_EDENIED);
				p[bit / (H * 8)][bit / 8 % H] ^= (uint8_t)(1 << (bit % 8));
			}
		}
		for (uint64_t m = 1; m < n; m++) {
			assert_int_equal(mds_merkle_consistency_proof(&st, m, n,
				p, &np), 0);
			for (size_t bit = 0; bit < np * H * 8; bit++) {
				p[bit / (H * 8)][bit / 8 % H] ^= (uint8_t)(1 << (bit % 8));
				assert_int_equal(mds_merkle_verify_consistency(m, n,
					roots[m], roots[n],
					(const uint8_t (*)[H])p, np), MDS_EDENIED);
				p[bit / (H * 8)][bit / 8 % H] ^= (uint8_t)(1 << (bit % 8));
			}
		}
	}
}

/* ---- compact range ---- */

static void test_compact_range(void **state)
{
	struct mds_merkle_compact c, d;
	uint8_t root[H], buf[MDS_MERKLE_COMPACT_MAX];
	size_t len;

	(void)state;
	mds_merkle_compact_init(&c);
	assert_int_equal(mds_merkle_compact_root(&c, root), 0);
	assert_memory_equal(root, roots[0], H);
	for (uint64_t n = 1; n <= N_BRUTE; n++) {
		assert_int_equal(mds_merkle_compact_append(&c, leaves[n - 1]), 0);
		assert_int_equal(c.size, n);
		assert_int_equal(mds_merkle_compact_root(&c, root), 0);
		assert_memory_equal(root, roots[n], H);
		/* The same frontier read from the store, and a round trip. */
		assert_int_equal(mds_merkle_compact_from_store(&st, n, &d), 0);
		assert_int_equal(d.size, n);
		assert_memory_equal(d.hash, c.hash,
			(size_t)__builtin_popcountll(n) * H);
		assert_int_equal(mds_merkle_compact_encode(&c, buf, sizeof(buf),
			&len), 0);
		assert_int_equal(len, 8 + (size_t)__builtin_popcountll(n) * H);
		assert_int_equal(mds_merkle_compact_decode(buf, len, &d), 0);
		assert_int_equal(mds_merkle_compact_root(&d, root), 0);
		assert_memory_equal(root, roots[n], H);
		/* Truncated or padded encodings are refused. */
		assert_int_equal(mds_merkle_compact_decode(buf, len - 1, &d),
			MDS_EINVAL);
		assert_int_equal(mds_merkle_compact_decode(buf, len + 1, &d),
			MDS_EINVAL);
	}
	assert_int_equal(mds_merkle_compact_encode(&c, buf, 8, &len),
		MDS_EINVAL);
	memset(buf, 0xff, 8);
	assert_int_equal(mds_merkle_compact_decode(buf, 8, &d), MDS_EINVAL);
	c.size = MDS_MERKLE_SIZE_MAX;
	assert_int_equal(mds_merkle_compact_append(&c, leaves[0]), MDS_EINVAL);
}

/* ---- storage errors reach the caller ---- */

static void test_store_failures(void **state)
{
	uint8_t p[MDS_MERKLE_PROOF_MAX][H], root[H];
	size_t np;
	int rc;

	(void)state;
	/* Fail the kth get of each operation until it succeeds: every
	 * failure must come back as the store's error, never as success. */
	for (int op = 0; op < 3; op++) {
		for (long k = 1;; k++) {
			ms.gets = 0;
			ms.fail_get_at = k;
			if (op == 0)
				rc = mds_merkle_root(&st, 199, root);
			else if (op == 1)
				rc = mds_merkle_inclusion_proof(&st, 100, 199, p,
					&np);
			else
				rc = mds_merkle_consistency_proof(&st, 77, 199, p,
					&np);
			if (rc == 0) {
				assert_true(ms.gets < k);
				break;
			}
			assert_int_equal(rc, MDS_EIO);
		}
	}
	ms.fail_get_at = 0;
	/* An append whose put or sibling get fails reports it. */
	{
		struct memstore m = { 0 };
		struct mds_merkle_store s = memstore_iface(&m);

		for (uint64_t i = 0; i < 7; i++)
			assert_int_equal(mds_merkle_append(&s, i, leaves[i]), 0);
		m.fail_put_at = m.puts + 3;  /* leaf 7 completes 3 nodes */
		assert_int_equal(mds_merkle_append(&s, 7, leaves[7]), MDS_EIO);
		m.fail_put_at = 0;
		m.fail_get_at = m.gets + 2;
		assert_int_equal(mds_merkle_append(&s, 7, leaves[7]), MDS_EIO);
		m.fail_get_at = 0;
		assert_int_equal(mds_merkle_append(&s, 7, leaves[7]), 0);
		assert_int_equal(mds_merkle_root(&s, 8, root), 0);
		assert_memory_equal(root, roots[8], H);
		/* A missing sibling is corruption. */
		assert_int_equal(mds_merkle_append(&s, 9, leaves[9]),
			MDS_ECORRUPT);
		memstore_release(&m);
	}
	assert_int_equal(mds_merkle_append(&st, MDS_MERKLE_SIZE_MAX, leaves[0]),
		MDS_EINVAL);
}

/* The O(log n) contract: reads per operation, at a size with many set
 * bits, stay within the bounds the header promises. */
static void test_read_counts(void **state)
{
	const uint64_t n = 200000 + 12345;  /* 0b110100001011111001 */
	uint8_t p[MDS_MERKLE_PROOF_MAX][H], h[H];
	struct memstore m = { 0 };
	struct mds_merkle_store s = memstore_iface(&m);
	uint64_t seed = 12345;
	size_t np;

	(void)state;
	for (uint64_t i = 0; i < n; i++) {
		long before = m.gets;

		assert_int_equal(mds_merkle_append(&s, i, leaves[i % N_BRUTE]),
			0);
		assert_true(m.gets - before <= 63);
	}
	for (int t = 0; t < 2000; t++) {
		uint64_t a, b;
		long before;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		b = 1 + (seed >> 11) % n;
		a = (seed >> 3) % b;
		before = m.gets;
		assert_int_equal(mds_merkle_root(&s, b, h), 0);
		assert_true(m.gets - before <= 64);
		before = m.gets;
		assert_int_equal(mds_merkle_inclusion_proof(&s, a, b, p, &np), 0);
		assert_true(m.gets - before <= 2 * 64);
		before = m.gets;
		assert_int_equal(mds_merkle_consistency_proof(&s, a, b, p, &np),
			0);
		assert_true(m.gets - before <= 2 * 64);
	}
	memstore_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_roots_all_sizes),
		cmocka_unit_test(test_inclusion_all_pairs),
		cmocka_unit_test(test_consistency_all_pairs),
		cmocka_unit_test(test_bit_flips_rejected),
		cmocka_unit_test(test_compact_range),
		cmocka_unit_test(test_store_failures),
		cmocka_unit_test(test_read_counts),
	};

	return cmocka_run_group_tests(tests, setup_log, teardown_log);
}
