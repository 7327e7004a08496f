/*
 * test_subscriber.c - a subscriber follows an island's log through signed
 * checkpoints and detects every way the update can be wrong: unknown or
 * forged signatures, another origin, a rollback, a fork (a second tree
 * signed by the island's own key), gaps, reordered or tampered entries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "memstore.h"
#include "merkle.h"
#include "note.h"
#include "subscriber.h"

#define ORIGIN "island-a.example.org/feed"
#define N 64
#define H MDS_MERKLE_HASH_LEN

struct island {
	struct memstore ms;
	struct mds_merkle_store s;
	uint8_t leaf[N][H];
};

static struct mds_note_signer *key;
static struct mds_note_verifier trusted;

static void island_init(struct island *is, const char *seed)
{
	memset(is, 0, sizeof(*is));
	is->s = memstore_iface(&is->ms);
	for (uint64_t i = 0; i < N; i++) {
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "%s/%llu", seed,
			(unsigned long long)i);

		assert_int_equal(mds_merkle_hash_leaf(buf, (size_t)n, is->leaf[i]),
			0);
		assert_int_equal(mds_merkle_append(&is->s, i, is->leaf[i]), 0);
	}
}

/* The island signs its head at @size (no fork check: tests forge forks). */
static char *island_sign(struct island *is, uint64_t size, size_t *len)
{
	struct mds_checkpoint cp = { 0 };
	char *note;

	strcpy(cp.origin, ORIGIN);
	cp.size = size;
	assert_int_equal(mds_merkle_root(&is->s, size, cp.root), 0);
	assert_int_equal(mds_checkpoint_sign(&cp, NULL, NULL, 0, &key, 1, &note,
		len, NULL), 0);
	return note;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(mds_note_signer_generate(ORIGIN, &key, NULL), 0);
	mds_note_signer_verifier(key, &trusted);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mds_note_signer_free(key);
	return 0;
}

/* Verify the update that takes @cur to @size of @is, with @is's proof. */
static int update(struct island *is, struct island *signer,
	const struct mds_merkle_compact *cur, uint64_t size, uint64_t first,
	const uint8_t (*leaves)[H], size_t n_leaves,
	struct mds_merkle_compact *next, struct mds_status *st)
{
	uint8_t proof[MDS_MERKLE_PROOF_MAX][H];
	struct mds_checkpoint cp;
	size_t np = 0, len;
	char *note = island_sign(signer, size, &len);
	int rc;

	if (size >= cur->size)
		assert_int_equal(mds_merkle_consistency_proof(&is->s, cur->size,
			size, proof, &np), 0);
	rc = mds_feed_verify_update(cur, ORIGIN, &trusted, 1, note, len,
		(const uint8_t (*)[H])proof, np, first, leaves, n_leaves, next,
		&cp, st);
	if (rc == 0)
		assert_int_equal(cp.size, size);
	free(note);
	return rc;
}

static void test_follow_log(void **state)
{
	struct island is;
	struct mds_merkle_compact cur, next;
	uint8_t root[H];

	(void)state;
	island_init(&is, "a");
	mds_merkle_compact_init(&cur);
	/* Uneven batches from 0 to N, plus a heartbeat. */
	static const uint64_t steps[] = { 1, 1, 5, 8, 8, 21, 33, 63, N };

	for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
		uint64_t sz = steps[i];

		assert_int_equal(update(&is, &is, &cur, sz, cur.size,
			(const uint8_t (*)[H])is.leaf + cur.size,
			(size_t)(sz - cur.size), &next, NULL), 0);
		cur = next;
		assert_int_equal(mds_merkle_compact_root(&cur, root), 0);
		{
			uint8_t want[H];

			assert_int_equal(mds_merkle_root(&is.s, sz, want), 0);
			assert_memory_equal(root, want, H);
		}
	}
	memstore_release(&is.ms);
}

static void test_bad_updates(void **state)
{
	struct island is, evil;
	struct mds_merkle_compact cur, next;
	struct mds_status st = { 0 };
	uint8_t tampered[N][H];
	const uint8_t (*L)[H];

	(void)state;
	island_init(&is, "a");
	island_init(&evil, "b");
	L = (const uint8_t (*)[H])is.leaf;
	mds_merkle_compact_init(&cur);
	for (int i = 0; i < 10; i++)
		assert_int_equal(mds_merkle_compact_append(&cur, is.leaf[i]), 0);

	/* Gap, overlap, short and long batches: a stream problem. */
	assert_int_equal(update(&is, &is, &cur, 20, 11, L + 11, 9, &next, &st),
		MDS_EINVAL);
	assert_int_equal(update(&is, &is, &cur, 20, 9, L + 9, 11, &next, &st),
		MDS_EINVAL);
	assert_int_equal(update(&is, &is, &cur, 20, 10, L + 10, 9, &next, &st),
		MDS_EINVAL);
	assert_int_equal(update(&is, &is, &cur, 20, 10, L + 10, 11, &next, &st),
		MDS_EINVAL);
	assert_int_equal(next.size, 0);

	/* Tampered or reordered entries do not fold to the signed root. */
	memcpy(tampered, is.leaf, sizeof(tampered));
	tampered[15][0] ^= 1;
	assert_int_equal(update(&is, &is, &cur, 20, 10,
		(const uint8_t (*)[H])tampered + 10, 10, &next, &st),
		MDS_EDENIED);
	assert_non_null(strstr(st.msg, "fold"));
	memcpy(tampered, is.leaf, sizeof(tampered));
	memcpy(tampered[12], is.leaf[13], H);
	memcpy(tampered[13], is.leaf[12], H);
	assert_int_equal(update(&is, &is, &cur, 20, 10,
		(const uint8_t (*)[H])tampered + 10, 10, &next, &st),
		MDS_EDENIED);

	/* A rollback. */
	assert_int_equal(update(&is, &is, &cur, 9, 10, L, 0, &next, &st),
		MDS_EDENIED);
	assert_non_null(strstr(st.msg, "back"));

	/* A fork: the island's own key signs another history at size 20;
	 * the proof from the honest log cannot reconcile it. */
	assert_int_equal(update(&is, &evil, &cur, 20, 10, L + 10, 10, &next,
		&st), MDS_EDENIED);
	assert_non_null(strstr(st.msg, "forked"));
	/* ... and the forked history's own proof and entries neither, since
	 * the subscriber's frontier pins the first 10 leaves. */
	assert_int_equal(update(&evil, &evil, &cur, 20, 10,
		(const uint8_t (*)[H])evil.leaf + 10, 10, &next, &st),
		MDS_EDENIED);
	/* A second root at the applied size. */
	assert_int_equal(update(&evil, &evil, &cur, 10, 10, L, 0, &next, &st),
		MDS_EDENIED);

	/* Signatures: unknown key, forged signature, other origin. */
	{
		struct mds_note_signer *other;
		struct mds_checkpoint cp = { 0 };
		char *note;
		size_t len;

		assert_int_equal(mds_note_signer_generate(ORIGIN, &other, NULL),
			0);
		strcpy(cp.origin, ORIGIN);
		cp.size = 10;
		assert_int_equal(mds_merkle_compact_root(&cur, cp.root), 0);
		assert_int_equal(mds_checkpoint_sign(&cp, NULL, NULL, 0, &other,
			1, &note, &len, NULL), 0);
		assert_int_equal(mds_feed_verify_update(&cur, ORIGIN, &trusted,
			1, note, len, NULL, 0, 10, NULL, 0, &next, &cp, &st),
			MDS_ENOTFOUND);
		free(note);
		mds_note_signer_free(other);

		strcpy(cp.origin, "island-b");
		assert_int_equal(mds_checkpoint_sign(&cp, NULL, NULL, 0, &key,
			1, &note, &len, NULL), 0);
		assert_int_equal(mds_feed_verify_update(&cur, ORIGIN, &trusted,
			1, note, len, NULL, 0, 10, NULL, 0, &next, &cp, &st),
			MDS_EINVAL);
		free(note);

		note = island_sign(&is, 10, &len);
		note[2] ^= 1;  /* the origin line, under the signature */
		assert_int_equal(mds_feed_verify_update(&cur, ORIGIN,
			&trusted, 1, note, len, NULL, 0, 10, NULL, 0, &next, &cp,
			&st), MDS_EDENIED);
		free(note);
	}
	/* And the honest update still goes through. */
	assert_int_equal(update(&is, &is, &cur, 20, 10, L + 10, 10, &next, &st),
		0);
	memstore_release(&is.ms);
	memstore_release(&evil.ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follow_log),
		cmocka_unit_test(test_bad_updates),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
