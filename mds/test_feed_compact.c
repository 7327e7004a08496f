/*
 * test_feed_compact.c - leaf retention and snapshots over a real store:
 * compaction deletes exactly the leaves outside both retention bounds, in
 * chunks, keeps the newest leaf and every Merkle node (roots, inclusion
 * proofs of retained leaves and consistency proofs for every size stay
 * identical), and the log keeps growing afterwards; a snapshot is one
 * consistent view (writes during the walk are not in it) whose entries,
 * digest, root and compact range match the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "feed_compact.h"
#include "feed_log.h"
#include "feed_snapshot.h"
#include "record.h"
#include "testutil.h"

#define ORIGIN "island.example/feed"
#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)

struct fx {
	char dir[256];
	struct mds_store *s;
	struct mds_feed_log *l;
	uint64_t now;
};

static uint64_t fake_clock(void *arg)
{
	return ((struct fx *)arg)->now;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mds_store_opts so;
	struct mds_status st;

	tu_tmpdir(f->dir);
	f->now = T0;
	memset(&so, 0, sizeof(so));
	so.clock = fake_clock;
	so.clock_arg = f;
	if (mds_store_open(&f->s, f->dir, &so, &st))
		return -1;
	if (mds_feed_log_open(f->s, ORIGIN, &f->l, &st))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mds_store_close(f->s);
	mds_feed_log_close(f->l);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

/* Leaf i is written at T0 + i seconds: a team, a bucket, then puts. */
static void fill(struct fx *f, int n_puts)
{
	char name[32];

	f->now = T0;
	assert_int_equal(tu_team(f->s, "t"), 0);
	f->now += SEC;
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
	for (int i = 0; i < n_puts; i++) {
		f->now += SEC;
		snprintf(name, sizeof(name), "o/%03d", i);
		assert_int_equal(tu_put(f->s, "data", tu_s(name), (uint64_t)i, "\"e\""), 0);
	}
}

struct view {
	struct mds_reader *r;
	struct mds_txn *t;
	struct mds_merkle_store ms;
	uint64_t size, first;
};

static void view_open(struct fx *f, struct view *v)
{
	assert_int_equal(mds_reader_open(f->s, &v->r), 0);
	assert_int_equal(mds_reader_begin(v->r), 0);
	v->t = mds_reader_txn(v->r);
	mds_feed_log_merkle(v->t, &v->ms);
	assert_int_equal(mds_feed_log_size(v->t, &v->size), 0);
	assert_int_equal(mds_feed_log_first(v->t, &v->first), 0);
}

static void view_close(struct view *v)
{
	mds_reader_close(v->r);
}

/* Roots at every size 0..n into a new array. */
static uint8_t (*roots_of(struct fx *f, uint64_t *n))[32]
{
	struct view v;
	uint8_t (*roots)[32];

	view_open(f, &v);
	*n = v.size;
	roots = calloc(v.size + 1, 32);
	for (uint64_t i = 0; i <= v.size; i++)
		assert_int_equal(mds_merkle_root(&v.ms, i, roots[i]), 0);
	view_close(&v);
	return roots;
}

static struct mds_feed_compactor *compactor(struct fx *f, uint64_t retain_ns, uint64_t leaves,
					    uint32_t chunk)
{
	struct mds_feed_compactor_opts o;
	struct mds_feed_compactor *c;
	struct mds_status st;

	memset(&o, 0, sizeof(o));
	o.retain_ns = retain_ns;
	o.retain_leaves = leaves;
	o.chunk = chunk;
	o.manual = 1;
	assert_int_equal(mds_feed_compactor_start(f->s, &o, &c, &st), 0);
	return c;
}

static void test_compaction_bounds_and_proofs(void **state)
{
	struct fx *f = *state;
	struct mds_feed_compactor *c;
	struct mds_status st;
	struct view v;
	uint8_t (*roots)[32], (*after)[32], proof[MDS_MERKLE_PROOF_MAX][32], lh[32];
	uint64_t n, n2, removed;
	size_t np;
	struct mds_str leaf;

	fill(f, 50);                     /* leaves 0..51, leaf i at T0 + i s */
	roots = roots_of(f, &n);
	assert_int_equal(n, 52);

	/* time bound wins: keep leaves younger than 60 s at T0 + 100 s, i.e.
	 * seq >= 40; the count bound (5 newest) would allow up to 47 */
	f->now = T0 + 100 * SEC;
	c = compactor(f, 60 * SEC, 5, 7);
	assert_int_equal(mds_feed_compactor_run(c, &removed, &st), 0);
	assert_int_equal(removed, 40);
	view_open(f, &v);
	assert_int_equal(v.first, 40);
	assert_int_equal(v.size, 52);
	assert_int_equal(mds_feed_log_leaf(v.t, 39, &leaf), MDS_ENOTFOUND);
	assert_int_equal(mds_feed_log_leaf(v.t, 40, &leaf), 0);
	view_close(&v);
	/* a second pass has nothing to do */
	assert_int_equal(mds_feed_compactor_run(c, &removed, &st), 0);
	assert_int_equal(removed, 0);
	mds_feed_compactor_stop(c);

	/* count bound wins: no time bound, 5 newest kept */
	c = compactor(f, 0, 5, 7);
	assert_int_equal(mds_feed_compactor_run(c, &removed, &st), 0);
	assert_int_equal(removed, 7);

	/* the metrics say so */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		mds_feed_compactor_metrics(c, m);
		fclose(m);
		assert_non_null(strstr(buf, "mds_feed_compaction_leaves_removed_total 7\n"));
		assert_non_null(strstr(buf, "mds_feed_compaction_first_retained 47\n"));
		assert_non_null(strstr(buf, "mds_feed_compaction_runs_total 1\n"));
		free(buf);
	}
	mds_feed_compactor_stop(c);

	/* every root, every consistency proof, inclusion of retained leaves */
	after = roots_of(f, &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(after, roots, (n + 1) * 32);
	view_open(f, &v);
	assert_int_equal(v.first, 47);
	for (uint64_t a = 0; a <= n; a++) {
		assert_int_equal(mds_merkle_consistency_proof(&v.ms, a, n, proof, &np), 0);
		assert_int_equal(mds_merkle_verify_consistency(a, n, roots[a], roots[n],
							       (const uint8_t (*)[32])proof, np), 0);
	}
	for (uint64_t i = v.first; i < n; i++) {
		assert_int_equal(mds_feed_log_leaf(v.t, i, &leaf), 0);
		assert_int_equal(mds_merkle_hash_leaf(leaf.p, leaf.len, lh), 0);
		assert_int_equal(mds_merkle_inclusion_proof(&v.ms, i, n, proof, &np), 0);
		assert_int_equal(mds_merkle_verify_inclusion(i, n, lh, (const uint8_t (*)[32])proof,
							     np, roots[n]), 0);
	}
	view_close(&v);
	free(after);
	free(roots);
}

static void test_newest_leaf_kept_and_log_grows(void **state)
{
	struct fx *f = *state;
	struct mds_feed_compactor *c;
	struct mds_status st;
	struct mds_str leaf;
	struct view v;
	uint64_t removed;

	fill(f, 10);                     /* 12 leaves */
	f->now += 3600 * SEC;
	c = compactor(f, 0, 0, 0);       /* no bound at all: 0 leaves means 1 */
	assert_int_equal(mds_feed_compactor_run(c, &removed, &st), 0);
	assert_int_equal(removed, 11);
	view_open(f, &v);
	assert_int_equal(v.size, 12);
	assert_int_equal(v.first, 11);
	assert_int_equal(mds_feed_log_leaf(v.t, 11, &leaf), 0);
	view_close(&v);
	/* the log goes on from 12; the first retained index never moves back */
	assert_int_equal(tu_put(f->s, "data", tu_s("later"), 1, "\"e\""), 0);
	assert_int_equal(mds_feed_compactor_run(c, &removed, &st), 0);
	assert_int_equal(removed, 1);
	view_open(f, &v);
	assert_int_equal(v.size, 13);
	assert_int_equal(v.first, 12);
	view_close(&v);
	mds_feed_compactor_stop(c);
	/* a new compactor (a restart) reports the stored first leaf at once */
	c = compactor(f, 0, 0, 0);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		mds_feed_compactor_metrics(c, m);
		fclose(m);
		assert_non_null(strstr(buf, "mds_feed_compaction_first_retained 12\n"));
		assert_non_null(strstr(buf, "mds_feed_compaction_runs_total 0\n"));
		free(buf);
	}
	mds_feed_compactor_stop(c);
}

/* ---- snapshots ------------------------------------------------------------ */

struct snap_out {
	size_t n;
	struct mds_feed_leaf lf[64];
	char *copies[64];
	uint8_t digest[32];
};

static void snap_collect(struct mds_feed_snapshot *sn, struct snap_out *o, size_t per_chunk)
{
	struct mds_str e[MDS_FEED_SNAPSHOT_CHUNK];
	struct mds_status st;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int dl;
	size_t n;

	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	o->n = 0;
	for (;;) {
		assert_int_equal(mds_feed_snapshot_next(sn, e, per_chunk, &n, &st), 0);
		assert_true(n <= per_chunk);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			uint8_t lenb[4] = { (uint8_t)(e[i].len >> 24), (uint8_t)(e[i].len >> 16),
					    (uint8_t)(e[i].len >> 8), (uint8_t)e[i].len };

			assert_true(o->n < 64);
			EVP_DigestUpdate(md, lenb, 4);
			EVP_DigestUpdate(md, e[i].p, e[i].len);
			o->copies[o->n] = malloc(e[i].len);
			memcpy(o->copies[o->n], e[i].p, e[i].len);
			assert_int_equal(mds_feed_leaf_decode(o->copies[o->n], e[i].len,
							      &o->lf[o->n], &st), 0);
			o->n++;
		}
	}
	assert_int_equal(EVP_DigestFinal_ex(md, o->digest, &dl), 1);
	EVP_MD_CTX_free(md);
}

static void snap_release(struct snap_out *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->copies[i]);
}

static int str_is(struct mds_str s, const char *c)
{
	return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

static void test_snapshot_view_digest_and_manifest(void **state)
{
	struct fx *f = *state;
	struct mds_feed_snapshot *sn;
	struct mds_feed_snapshot_manifest m;
	struct mds_status st;
	struct snap_out o;
	struct view v;
	struct mds_object obj;
	char longname[1025], text[MDS_FEED_SNAPSHOT_TEXT_MAX];
	uint8_t root[32];
	size_t tlen;

	memset(longname, 'z', 1024);
	longname[1024] = 0;
	assert_int_equal(tu_team(f->s, "alpha"), 0);
	assert_int_equal(tu_team(f->s, "beta"), 0);
	assert_int_equal(tu_bucket(f->s, "bkt-b", "beta"), 0);
	assert_int_equal(tu_bucket(f->s, "bkt-a", "alpha"), 0);
	assert_int_equal(tu_bucket(f->s, "bkt-empty", "alpha"), 0);
	assert_int_equal(tu_put(f->s, "bkt-b", tu_s("y"), 1, "\"e\""), 0);
	assert_int_equal(tu_put(f->s, "bkt-a", tu_s("x/2"), 2, "\"e\""), 0);
	assert_int_equal(tu_put(f->s, "bkt-a", tu_s("x/1"), 3, "\"e\""), 0);
	assert_int_equal(tu_put(f->s, "bkt-a", tu_s("x/1"), 4, "\"e2\""), 0);
	assert_int_equal(tu_put(f->s, "bkt-a", tu_s(longname), 5, "\"e\""), 0);
	assert_int_equal(tu_put(f->s, "bkt-a", tu_s("gone"), 6, "\"e\""), 0);
	assert_int_equal(tu_del(f->s, "bkt-a", tu_s("gone")), 0);

	view_open(f, &v);
	assert_int_equal(mds_feed_snapshot_open(v.t, ORIGIN, &sn, &st), 0);
	/* writes after the view began are not in the snapshot */
	assert_int_equal(tu_put(f->s, "bkt-a", tu_s("after"), 1, "\"e\""), 0);
	assert_int_equal(tu_team(f->s, "gamma"), 0);
	assert_int_equal(mds_feed_snapshot_manifest(sn, &m), MDS_EINVAL);   /* not done */
	snap_collect(sn, &o, 2);
	assert_int_equal(mds_feed_snapshot_manifest(sn, &m), 0);

	/* teams, buckets (name order), objects (bucket order, name order) */
	assert_int_equal(o.n, 2 + 3 + 4);
	assert_int_equal(o.lf[0].kind, MDS_OP_TEAM_CREATE);
	assert_true(str_is(o.lf[0].team, "alpha"));
	assert_true(str_is(o.lf[1].team, "beta"));
	assert_int_equal(o.lf[2].kind, MDS_OP_BUCKET_CREATE);
	assert_true(str_is(o.lf[2].bucket, "bkt-a"));
	assert_true(str_is(o.lf[2].team, "alpha"));
	assert_true(str_is(o.lf[4].bucket, "bkt-empty"));
	assert_true(str_is(o.lf[3].team, "beta"));
	assert_int_equal(o.lf[5].kind, MDS_OP_OBJECT_PUT);
	assert_true(str_is(o.lf[5].bucket, "bkt-a"));
	assert_true(str_is(o.lf[5].name, "x/1"));
	assert_int_equal(o.lf[5].key_version, 2);
	assert_int_equal(mds_object_decode(o.lf[5].record.p, o.lf[5].record.len, &obj), 0);
	assert_int_equal(obj.size, 4);
	assert_true(str_is(o.lf[6].name, "x/2"));
	assert_int_equal(o.lf[7].name.len, 1024);
	assert_true(str_is(o.lf[8].bucket, "bkt-b"));
	assert_true(str_is(o.lf[8].name, "y"));
	for (size_t i = 0; i < o.n; i++) {
		assert_int_equal(o.lf[i].seq, v.size);
		assert_int_equal(o.lf[i].state, MDS_FEED_RECORD);
		assert_int_equal(o.lf[i].time_ns, 0);
		assert_true(str_is(o.lf[i].origin, ORIGIN));
	}

	/* the manifest binds the view's size, root, count and digest */
	assert_int_equal(m.size, v.size);
	assert_int_equal(m.entries, o.n);
	assert_memory_equal(m.digest, o.digest, 32);
	assert_int_equal(mds_merkle_root(&v.ms, v.size, root), 0);
	assert_memory_equal(m.root, root, 32);
	assert_int_equal(m.range.size, v.size);
	{
		uint8_t folded[32];

		assert_int_equal(mds_merkle_compact_root(&m.range, folded), 0);
		assert_memory_equal(folded, root, 32);
	}
	assert_int_equal(mds_feed_snapshot_note_text(ORIGIN, &m, 1234, text, sizeof(text), &tlen),
			 0);
	assert_int_equal(tlen, strlen(text));
	assert_int_equal(strncmp(text, ORIGIN "\nsnapshot\n", strlen(ORIGIN) + 10), 0);
	assert_non_null(strstr(text, "\ntimestamp 1234\n"));
	assert_int_equal(mds_feed_snapshot_note_text(ORIGIN, &m, 1, text, 40, &tlen), MDS_EINVAL);
	mds_feed_snapshot_free(sn);
	view_close(&v);
	snap_release(&o);

	/* a new view sees the later writes; chunk size does not change the digest */
	view_open(f, &v);
	assert_int_equal(mds_feed_snapshot_open(v.t, ORIGIN, &sn, &st), 0);
	snap_collect(sn, &o, MDS_FEED_SNAPSHOT_CHUNK);
	assert_int_equal(o.n, 3 + 3 + 5);
	mds_feed_snapshot_free(sn);
	view_close(&v);
	snap_release(&o);
}

/* Entries that fill a chunk's buffer many times over (1,000-byte names):
 * every entry decodes, none is lost, the buffer grows without overrun
 * (the unit suite runs under ASan in CI). */
static void test_snapshot_chunks_past_buffer(void **state)
{
	struct fx *f = *state;
	struct mds_feed_snapshot *sn;
	struct mds_str e[MDS_FEED_SNAPSHOT_CHUNK];
	struct mds_status st;
	struct view v;
	char name[1001], origin[256];
	size_t n, objects = 0, total = 0;

	assert_int_equal(tu_team(f->s, "alpha"), 0);
	assert_int_equal(tu_bucket(f->s, "bkt-a", "alpha"), 0);
	/* a long origin and names of varied length: entries land at every
	 * offset of the buffer, near its end too */
	memset(origin, 'o', 255);
	origin[255] = 0;
	for (int i = 0; i < 300; i++) {
		size_t len = 600 + (size_t)(i * 37) % 400;

		memset(name, 'a' + i % 26, len);
		snprintf(name + len - 10, sizeof(name) - (len - 10), "%010d", i);
		assert_int_equal(tu_put(f->s, "bkt-a", tu_s(name), (uint64_t)i, "\"e\""), 0);
	}
	view_open(f, &v);
	assert_int_equal(mds_feed_snapshot_open(v.t, origin, &sn, &st), 0);
	for (;;) {
		assert_int_equal(mds_feed_snapshot_next(sn, e, MDS_FEED_SNAPSHOT_CHUNK, &n, &st), 0);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			struct mds_feed_leaf lf;

			assert_int_equal(mds_feed_leaf_decode(e[i].p, e[i].len, &lf, &st), 0);
			assert_true(str_is(lf.origin, origin));
			if (lf.name.len >= 600)
				objects++;
			total++;
		}
	}
	assert_int_equal(objects, 300);
	assert_int_equal(total, 1 + 1 + 300);
	mds_feed_snapshot_free(sn);
	view_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compaction_bounds_and_proofs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newest_leaf_kept_and_log_grows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_view_digest_and_manifest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_chunks_past_buffer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
