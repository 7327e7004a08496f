/*
 * fuzz_global_view.c - fuzz target for the global view's apply op
 * (mds_gv_apply through the writer), which turns another island's leaves
 * into view state. Verification happens before apply, but a buggy or
 * compromised peer holding a trusted key can still sign any leaf bytes, so
 * the view must refuse what it cannot hold and never end inconsistent.
 *
 * Input: a byte of flags, then chunks of (u16 big-endian length, leaf
 * bytes). Chunks that decode become leaves from@cursor, in order (their
 * origin and seq are overwritten so the op reaches the view's state
 * logic); flag bit 0 applies them as a snapshot REPLACE instead of APPLY.
 *
 * What must stay true, checked after every input:
 *   - an op that succeeds moves the cursor to exactly from + n leaves; one
 *     that fails leaves the cursor where it was;
 *   - mds_check() finds no problem in the store (usage of every island's
 *     view equals a recount, every stored record decodes, the name trees
 *     are sound).
 * The view is dropped (PEER_STATE reset) every 256 inputs so checks stay fast.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_log.h"
#include "global_view.h"
#include "testutil.h"

#define ORIGIN "island-z"
#define MAX_LEAVES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mds_store *store;
static struct mds_reader *reader;
static unsigned runs;

static void report(void *arg, const char *problem)
{
	(void)arg;
	fprintf(stderr, "fuzz_global_view: check: %s\n", problem);
}

static void store_init(void)
{
	static char dir[256];
	struct mds_status st;

	if (store)
		return;
	tu_tmpdir(dir);
	if (mds_store_open(&store, dir, NULL, &st) || mds_reader_open(store, &reader))
		abort();
}

/* The view's cursor size for ORIGIN (0 when it has none). */
static uint64_t cursor_size(void)
{
	struct mds_gv_cursor c;
	uint64_t n = 0;

	if (mds_reader_begin(reader))
		abort();
	if (mds_gv_cursor_get(mds_reader_txn(reader), MDS_STR(ORIGIN), &c) == 0)
		n = c.size;
	mds_reader_end(reader);
	return n;
}

static void reset_view(void)
{
	struct mds_gv_update u;
	struct mds_op op;

	memset(&u, 0, sizeof(u));
	u.origin = MDS_STR(ORIGIN);
	u.action = MDS_GV_RESET;
	mds_op_init(&op, MDS_OP_PEER_STATE);
	op.global = &u;
	(void)mds_store_exec(store, &op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mds_feed_leaf leaves[MAX_LEAVES];
	struct mds_merkle_compact range;
	struct mds_gv_update u;
	struct mds_status st;
	struct mds_op op;
	uint8_t root[32], enc[MDS_MERKLE_COMPACT_MAX];
	size_t n = 0, off = 1, elen = 0;
	uint64_t from, after;
	long problems;
	int rc;

	if (size < 1)
		return 0;
	store_init();
	if (++runs % 256 == 0)
		reset_view();
	from = cursor_size();
	mds_merkle_compact_init(&range);
	while (n < MAX_LEAVES && off + 2 <= size) {
		size_t len = ((size_t)data[off] << 8) | data[off + 1];
		uint8_t h[32];

		off += 2;
		if (len > size - off)
			len = size - off;
		if (mds_feed_leaf_decode(data + off, len, &leaves[n], &st) == 0) {
			leaves[n].origin = MDS_STR(ORIGIN);
			leaves[n].seq = from + n;
			if (mds_merkle_hash_leaf(data + off, len, h) == 0 &&
			    mds_merkle_compact_append(&range, h) == 0)
				n++;
		}
		off += len;
	}
	if (mds_merkle_compact_root(&range, root) != 0 ||
	    mds_merkle_compact_encode(&range, enc, sizeof(enc), &elen) != 0)
		memset(root, 0, sizeof(root));
	memset(&u, 0, sizeof(u));
	u.origin = MDS_STR(ORIGIN);
	u.from_size = from;
	u.leaves = leaves;
	u.n_leaves = n;
	u.size = from + n;
	u.root = root;
	u.range = (struct mds_str){ (const char *)enc, elen };
	u.note = MDS_STR("note\n");
	u.checkpoint_ms = 1000 + runs;
	mds_op_init(&op, (data[0] & 1) ? MDS_OP_GLOBAL_REPLACE : MDS_OP_GLOBAL_APPLY);
	op.global = &u;
	rc = mds_store_exec(store, &op);
	after = cursor_size();
	if (rc == 0 && after != from + n) {
		fprintf(stderr, "fuzz_global_view: applied %zu leaves from %llu, cursor %llu\n", n,
			(unsigned long long)from, (unsigned long long)after);
		abort();
	}
	if (rc != 0 && rc != MDS_ENOSPC && after != from) {
		fprintf(stderr, "fuzz_global_view: failed op (%s) moved the cursor %llu -> %llu\n",
			op.status.msg, (unsigned long long)from, (unsigned long long)after);
		abort();
	}
	if (rc == MDS_ENOSPC)
		reset_view();
	if (mds_reader_begin(reader))
		abort();
	problems = mds_check(reader, report, NULL, &st);
	mds_reader_end(reader);
	if (problems != 0) {
		fprintf(stderr, "fuzz_global_view: mds_check: %ld (%s)\n", problems, st.msg);
		abort();
	}
	return 0;
}
