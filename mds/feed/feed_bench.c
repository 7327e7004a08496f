/*
 * feed_bench.c - throughput and latency of the feed primitives over the
 * in-memory node store: appends per second, then proof generation and
 * verification, root computation and checkpoint sign/verify at a log of
 * SIZE leaves (default 1,000,000). Each figure is the median of RUNS runs
 * (default 5) of OPS random operations (default 2,000).
 *
 *   feed_bench [SIZE [RUNS [OPS]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memstore.h"
#include "merkle.h"
#include "note.h"

#define H MDS_MERKLE_HASH_LEN

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	uint64_t size = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	int ops = argc > 3 ? atoi(argv[3]) : 2000;
	double t_app[32], t_leaf[32], t_root[32], t_ip[32], t_iv[32], t_cp[32],
		t_cv[32], t_sign[32], t_open[32];
	uint8_t (*leaves)[H] = malloc(size * H);
	struct mds_note_signer *key;
	struct mds_note_verifier vk;
	uint64_t seed = 88172645463325252ull;

	if (!leaves || runs < 1 || runs > 32 || ops < 1 || size < 2)
		return 2;
	for (uint64_t i = 0; i < size; i++) {
		char buf[128];

		/* A leaf about the size of a small object record. */
		int n = snprintf(buf, sizeof(buf), "bucket/some/object/name-%llu"
			"|size=4096|etag=0123456789abcdef", (unsigned long long)i);
		mds_merkle_hash_leaf(buf, (size_t)n, leaves[i]);
	}
	/* Leaf hashing alone, 100k leaves per run. */
	for (int r = 0; r < runs; r++) {
		char buf[128] = "bucket/some/object/name-0|size=4096|etag=0123456789abcdef";
		uint8_t h[H];
		double t0 = now_s();

		for (int i = 0; i < 100000; i++)
			mds_merkle_hash_leaf(buf, 60, h);
		t_leaf[r] = 100000 / (now_s() - t0);
	}
	struct memstore ms = { 0 };
	struct mds_merkle_store s = memstore_iface(&ms);

	for (int r = 0; r < runs; r++) {
		double t0;

		memstore_release(&ms);
		s = memstore_iface(&ms);
		t0 = now_s();
		for (uint64_t i = 0; i < size; i++)
			if (mds_merkle_append(&s, i, leaves[i]) != 0)
				return 1;
		t_app[r] = (double)size / (now_s() - t0);
	}
	if (mds_note_signer_generate("bench", &key, NULL) != 0)
		return 1;
	mds_note_signer_verifier(key, &vk);
	for (int r = 0; r < runs; r++) {
		uint8_t p[MDS_MERKLE_PROOF_MAX][H], root[H], r1[H];
		uint64_t *a = malloc((size_t)ops * sizeof(*a));
		size_t n;
		double t0;

		for (int i = 0; i < ops; i++)
			a[i] = rnd(&seed) % size;
		t0 = now_s();
		for (int i = 0; i < ops; i++)
			mds_merkle_root(&s, size - a[i] % 64, root);
		t_root[r] = (now_s() - t0) / ops * 1e6;
		mds_merkle_root(&s, size, root);
		t0 = now_s();
		for (int i = 0; i < ops; i++)
			mds_merkle_inclusion_proof(&s, a[i], size, p, &n);
		t_ip[r] = (now_s() - t0) / ops * 1e6;
		/* p now holds the proof of a[ops - 1]; verify it repeatedly. */
		t0 = now_s();
		for (int i = 0; i < ops; i++)
			if (mds_merkle_verify_inclusion(a[ops - 1], size,
				leaves[a[ops - 1]], (const uint8_t (*)[H])p, n,
				root) != 0)
				return 1;
		t_iv[r] = (now_s() - t0) / ops * 1e6;
		t0 = now_s();
		for (int i = 0; i < ops; i++)
			mds_merkle_consistency_proof(&s, a[i] + 1, size, p, &n);
		t_cp[r] = (now_s() - t0) / ops * 1e6;
		mds_merkle_root(&s, a[ops - 1] + 1, r1);
		t0 = now_s();
		for (int i = 0; i < ops; i++)
			if (mds_merkle_verify_consistency(a[ops - 1] + 1, size, r1,
				root, (const uint8_t (*)[H])p, n) != 0)
				return 1;
		t_cv[r] = (now_s() - t0) / ops * 1e6;
		{
			struct mds_checkpoint cp = { 0 }, got;
			char *note = NULL;
			size_t len;

			strcpy(cp.origin, "bench.example.org/feed");
			cp.size = size;
			memcpy(cp.root, root, H);
			t0 = now_s();
			for (int i = 0; i < ops; i++) {
				free(note);
				mds_checkpoint_sign(&cp, NULL, NULL, 0, &key, 1,
					&note, &len, NULL);
			}
			t_sign[r] = (now_s() - t0) / ops * 1e6;
			t0 = now_s();
			for (int i = 0; i < ops; i++)
				if (mds_checkpoint_open(note, len, cp.origin, &vk,
					1, &got, NULL) != 0)
					return 1;
			t_open[r] = (now_s() - t0) / ops * 1e6;
			free(note);
		}
		free(a);
	}
	printf("size %llu, median of %d runs (%d ops per latency run)\n",
		(unsigned long long)size, runs, ops);
	printf("append (leaf hash given)   %10.0f appends/s\n", median(t_app, runs));
	printf("leaf hash (60-byte leaf)   %10.0f hashes/s\n", median(t_leaf, runs));
	printf("root at size ~n            %10.2f us\n", median(t_root, runs));
	printf("inclusion proof, generate  %10.2f us\n", median(t_ip, runs));
	printf("inclusion proof, verify    %10.2f us\n", median(t_iv, runs));
	printf("consistency proof, generate%10.2f us\n", median(t_cp, runs));
	printf("consistency proof, verify  %10.2f us\n", median(t_cv, runs));
	printf("checkpoint sign (ed25519)  %10.2f us\n", median(t_sign, runs));
	printf("checkpoint open (verify)   %10.2f us\n", median(t_open, runs));
	mds_note_signer_free(key);
	memstore_release(&ms);
	free(leaves);
	return 0;
}
