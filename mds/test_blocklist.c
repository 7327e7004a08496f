/*
 * test_blocklist.c - Azure block blobs from staged blocks: Put Block, Put
 * Block List (Latest / Committed / Uncommitted), Get Block List, and their
 * documented failure cases as a table.
 *
 * References (learn.microsoft.com/rest/api/storageservices):
 *   [PB]   Put Block, "URI parameters" and "Remarks": block id at most 64
 *          bytes before encoding, the same length for every block of a
 *          blob; at most 100,000 uncommitted blocks; up to 4,000 MiB per
 *          block; staging an id again replaces the block.
 *   [PBL]  Put Block List, "Request body" and "Remarks": Latest searches
 *          the uncommitted list first, then the committed list; Committed
 *          and Uncommitted search only that list; 400 InvalidBlockList when
 *          a block is not found; at most 50,000 committed blocks;
 *          uncommitted blocks not in the list are discarded on commit.
 *   [GBL]  Get Block List: blocklisttype committed / uncommitted / all;
 *          uncommitted blocks of a blob that does not exist yet are listed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "test_blobutil.h"

static int put_block(struct mds_store *s, const char *name, const char *id, uint64_t size,
		     struct mds_op *op)
{
	char loc[80];

	snprintf(loc, sizeof(loc), "loc-%s-%llu", id, (unsigned long long)size);
	mds_op_init(op, MDS_OP_PUT_BLOCK);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->blob.id = tu_s(id);
	op->blob.size = size;
	op->blob.locator = tu_s(loc);
	return mds_store_exec(s, op);
}

static int put_list(struct mds_store *s, const char *name, const struct mds_block_ref *refs,
		    size_t n, struct mds_op *op)
{
	mds_op_init(op, MDS_OP_PUT_BLOCK_LIST);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->blob.blocks = refs;
	op->blob.n_blocks = n;
	op->obj.content_type = tu_s("video/mp4");
	return mds_store_exec(s, op);
}

struct gbl {
	char items[16][96];
	int n;
};

static int gbl_emit(void *arg, const struct mds_block *b)
{
	struct gbl *g = arg;

	if (g->n < 16)
		snprintf(g->items[g->n], sizeof(g->items[0]), "%c:%.*s:%llu@%llu:%.*s",
			 b->committed ? 'C' : 'U', (int)b->id.len, b->id.p,
			 (unsigned long long)b->size, (unsigned long long)b->offset,
			 (int)b->locator.len, b->locator.p);
	g->n++;
	return 0;
}

static int get_list(struct mds_store *s, const char *name, unsigned which, struct gbl *g)
{
	struct mds_reader *r;
	struct mds_status st;
	int rc;

	memset(g, 0, sizeof(*g));
	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	rc = mds_get_block_list(r, tu_s("data"), tu_s(name), which, gbl_emit, g, &st);
	mds_reader_close(r);
	return rc;
}

#define ALL (MDS_BLOCKLIST_COMMITTED | MDS_BLOCKLIST_UNCOMMITTED)

/* [PB] [PBL] [GBL]: the life of a block blob. */
static void test_stage_commit_update(void **state)
{
	struct bfx *f = *state;
	struct mds_block_ref first[] = { { tu_s("AAAA"), MDS_BLOCK_LATEST },
					 { tu_s("BBBB"), MDS_BLOCK_UNCOMMITTED },
					 { tu_s("CCCC"), MDS_BLOCK_LATEST } };
	struct mds_block_ref second[] = { { tu_s("AAAA"), MDS_BLOCK_COMMITTED },
					  { tu_s("DDDD"), MDS_BLOCK_LATEST },
					  { tu_s("BBBB"), MDS_BLOCK_LATEST } };
	struct mds_op op;
	struct gbl g;
	struct bhead h;
	uint64_t bytes, objects;

	assert_int_equal(put_block(f->s, "v", "AAAA", 100, &op), 0);
	assert_int_equal(put_block(f->s, "v", "BBBB", 5, &op), 0);
	assert_int_equal(put_block(f->s, "v", "BBBB", 200, &op), 0); /* [PB] replaces */
	assert_int_equal(put_block(f->s, "v", "CCCC", 300, &op), 0);
	assert_int_equal(put_block(f->s, "v", "ZZZZ", 1, &op), 0);   /* never committed */
	/* [GBL] uncommitted blocks of a blob that does not exist yet. */
	assert_int_equal(bhead(f->s, "data", "v").rc, MDS_ENOTFOUND);
	assert_int_equal(get_list(f->s, "v", ALL, &g), 0);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.items[1], "U:BBBB:200@0:loc-BBBB-200");
	assert_int_equal(get_list(f->s, "nothing", ALL, &g), MDS_ENOTFOUND);

	assert_int_equal(put_list(f->s, "v", first, 3, &op), 0);
	h = bhead(f->s, "data", "v");
	assert_int_equal(h.size, 600);
	assert_int_equal(h.blocks, 3);
	assert_int_equal(h.blob_type, MDS_BLOB_BLOCK);
	assert_string_equal(h.content_type, "video/mp4");
	assert_int_equal(get_list(f->s, "v", ALL, &g), 0);
	assert_int_equal(g.n, 3);                   /* ZZZZ discarded on commit */
	assert_string_equal(g.items[0], "C:AAAA:100@0:loc-AAAA-100");
	assert_string_equal(g.items[1], "C:BBBB:200@100:loc-BBBB-200");
	assert_string_equal(g.items[2], "C:CCCC:300@300:loc-CCCC-300");

	/* Update: keep A, add D, B again; C drops out. */
	assert_int_equal(put_block(f->s, "v", "DDDD", 40, &op), 0);
	assert_int_equal(put_block(f->s, "v", "BBBB", 7, &op), 0);   /* Latest: staged B wins */
	assert_int_equal(put_list(f->s, "v", second, 3, &op), 0);
	assert_int_equal(get_list(f->s, "v", MDS_BLOCKLIST_COMMITTED, &g), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.items[0], "C:AAAA:100@0:loc-AAAA-100");
	assert_string_equal(g.items[1], "C:DDDD:40@100:loc-DDDD-40");
	assert_string_equal(g.items[2], "C:BBBB:7@140:loc-BBBB-7");
	h = bhead(f->s, "data", "v");
	assert_int_equal(h.size, 147);
	assert_int_equal(h.version, 2);
	busage(f->s, "data", &bytes, &objects);
	assert_int_equal(bytes, 147);
	assert_int_equal(objects, 1);
	/* An empty list makes an empty blob. */
	assert_int_equal(put_list(f->s, "v", NULL, 0, &op), 0);
	assert_int_equal(bhead(f->s, "data", "v").size, 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* Names of the full 1,024 bytes stage under their hash like any other. */
static void test_long_name(void **state)
{
	struct bfx *f = *state;
	char name[1025];
	struct mds_block_ref one[] = { { tu_s("b1"), MDS_BLOCK_LATEST } };
	struct mds_op op;
	struct gbl g;

	memset(name, 'n', 1024);
	name[1024] = '\0';
	assert_int_equal(put_block(f->s, name, "b1", 9, &op), 0);
	name[1023] = 'm';   /* a neighbour sharing 1,023 bytes sees nothing */
	assert_int_equal(get_list(f->s, name, ALL, &g), MDS_ENOTFOUND);
	name[1023] = 'n';
	assert_int_equal(put_list(f->s, name, one, 1, &op), 0);
	assert_int_equal(bhead(f->s, "data", name).size, 9);
	assert_int_equal(tu_check(f->s), 0);
}

struct brow {
	const char *what;
	int kind;                 /* 0 put block, 1 put block list */
	const char *id;           /* put block */
	uint64_t size;
	const char *ids[3];       /* put block list */
	uint8_t lists[3];
	size_t n;
	const char *if_match;
	int rc, reason;
};

/* [PB] [PBL]: the failure table against a blob with committed "c1" and staged "s1". */
static void test_failure_table(void **state)
{
	struct bfx *f = *state;
	static const char id65[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	static const struct brow rows[] = {
		{ "[PB] empty block id", 0, "", 1, { 0 }, { 0 }, 0, NULL, MDS_EINVAL,
		  MDS_REASON_INVALID_BLOCK_LIST },
		{ "[PB] block id of 65 bytes", 0, id65, 1, { 0 }, { 0 }, 0, NULL, MDS_EINVAL,
		  MDS_REASON_INVALID_BLOCK_LIST },
		{ "[PB] block id of another length than the staged ones", 0, "s22", 1, { 0 }, { 0 }, 0,
		  NULL, MDS_EINVAL, MDS_REASON_INVALID_BLOCK_LIST },
		{ "[PB] block above 4,000 MiB", 0, "s2", (4000ull << 20) + 1, { 0 }, { 0 }, 0, NULL,
		  MDS_EINVAL, MDS_REASON_BLOCK_SIZE },
		{ "[PB] block of 4,000 MiB", 0, "s2", 4000ull << 20, { 0 }, { 0 }, 0, NULL, 0, 0 },
		{ "[PBL] Uncommitted names a committed block: InvalidBlockList", 1, NULL, 0,
		  { "c1" }, { MDS_BLOCK_UNCOMMITTED }, 1, NULL, MDS_EINVAL, MDS_REASON_INVALID_BLOCK_LIST },
		{ "[PBL] Committed names a staged block: InvalidBlockList", 1, NULL, 0, { "s1" },
		  { MDS_BLOCK_COMMITTED }, 1, NULL, MDS_EINVAL, MDS_REASON_INVALID_BLOCK_LIST },
		{ "[PBL] Latest names an unknown block: InvalidBlockList", 1, NULL, 0, { "c1", "zz" },
		  { MDS_BLOCK_LATEST, MDS_BLOCK_LATEST }, 2, NULL, MDS_EINVAL,
		  MDS_REASON_INVALID_BLOCK_LIST },
		{ "[PBL] If-Match another ETag: 412", 1, NULL, 0, { "c1" }, { MDS_BLOCK_COMMITTED }, 1,
		  "\"nope\"", MDS_EPRECOND, MDS_REASON_ETAG },
		{ "[PBL] the same block twice is fine", 1, NULL, 0, { "c1", "c1" },
		  { MDS_BLOCK_COMMITTED, MDS_BLOCK_COMMITTED }, 2, NULL, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct brow *r = &rows[i];
		struct mds_block_ref refs[3], c1[] = { { tu_s("c1"), MDS_BLOCK_LATEST } };
		char name[16];
		struct mds_op op;
		struct bhead before, after;
		int rc;

		snprintf(name, sizeof(name), "r%02zu", i);
		assert_int_equal(put_block(f->s, name, "c1", 10, &op), 0);
		assert_int_equal(put_list(f->s, name, c1, 1, &op), 0);
		assert_int_equal(put_block(f->s, name, "s1", 20, &op), 0);
		before = bhead(f->s, "data", name);
		if (r->kind == 0) {
			rc = put_block(f->s, name, r->id, r->size, &op);
		} else {
			for (size_t j = 0; j < r->n; j++)
				refs[j] = (struct mds_block_ref){ tu_s(r->ids[j]), r->lists[j] };
			mds_op_init(&op, MDS_OP_PUT_BLOCK_LIST);
			op.bucket = tu_s("data");
			op.name = tu_s(name);
			op.blob.blocks = refs;
			op.blob.n_blocks = r->n;
			if (r->if_match)
				op.cond.if_match = tu_s(r->if_match);
			rc = mds_store_exec(f->s, &op);
		}
		if (rc != r->rc || (r->reason && op.blob_out.reason != r->reason))
			fail_msg("row '%s': rc %d reason %d, expected %d reason %d (%s)", r->what, rc,
				 op.blob_out.reason, r->rc, r->reason, op.status.msg);
		after = bhead(f->s, "data", name);
		if (rc) {
			struct gbl g;

			assert_string_equal(after.etag, before.etag);
			assert_int_equal(get_list(f->s, name, MDS_BLOCKLIST_UNCOMMITTED, &g), 0);
			assert_int_equal(g.n, 1);     /* the staged block survives a failure */
		}
	}
	assert_int_equal(tu_check(f->s), 0);
}

/* [PBL]: at most 50,000 blocks in a list. */
static void test_block_list_limit(void **state)
{
	struct bfx *f = *state;
	struct mds_block_ref *refs = calloc(50001, sizeof(*refs));
	struct mds_op op;

	assert_int_equal(put_block(f->s, "lim", "b1", 1, &op), 0);
	for (size_t i = 0; i < 50001; i++)
		refs[i] = (struct mds_block_ref){ tu_s("b1"), MDS_BLOCK_LATEST };
	assert_int_equal(put_list(f->s, "lim", refs, 50001, &op), MDS_EPRECOND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_BLOCK_COUNT);
	assert_int_equal(put_list(f->s, "lim", refs, 50000, &op), 0);
	assert_int_equal(bhead(f->s, "data", "lim").blocks, 50000);
	assert_int_equal(bhead(f->s, "data", "lim").size, 50000);
	/* Recommitting 50,000 committed blocks resolves them in O(n log n). */
	for (size_t i = 0; i < 50000; i++)
		refs[i].list = MDS_BLOCK_COMMITTED;
	{
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(put_list(f->s, "lim", refs, 50000, &op), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("put block list of 50,000 committed blocks: %.0f ms\n",
		       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(tu_del(f->s, "data", tu_s("lim")), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("delete of a 50,000-block blob: %.0f ms\n",
		       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	}
	free(refs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stage_commit_update, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_long_name, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_failure_table, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_block_list_limit, bfx_setup, bfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
