/*
 * test_append.c - Azure Append Blob records: the documented success and
 * failure cases of Put Blob (x-ms-blob-type: AppendBlob), Append Block and
 * Append Blob Seal as a table, the 50,000-block limit, and many appenders
 * on one blob (none lost, none applied twice on a retry with the same
 * append position).
 *
 * References (learn.microsoft.com/rest/api/storageservices):
 *   [AB-H]  Append Block, "Request headers": x-ms-blob-condition-appendpos,
 *           x-ms-blob-condition-maxsize, If-Match.
 *   [AB-R]  Append Block, "Remarks": 412 AppendPositionConditionNotMet and
 *           MaxBlobSizeConditionNotMet; each block up to 4 MiB (100 MiB
 *           from version 2022-11-02); at most 50,000 blocks; 409
 *           BlockCountExceedsLimit; append to a block blob is 409
 *           InvalidBlobType; x-ms-blob-append-offset in the response.
 *   [SEAL]  Append Blob Seal: a sealed blob refuses Append Block (409
 *           BlobIsSealed); sealing again succeeds.
 *   [PUT]   Put Blob: creating an append blob makes it empty (length 0).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test_blobutil.h"

#define BLOCKS_MAX 50000 /* Azure: committed blocks per blob */

static int create_append(struct mds_store *s, const char *name, uint64_t max_block)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = tu_s("data");
	op.name = tu_s(name);
	op.obj.content_type = tu_s("text/plain");
	op.blob.max_block_size = max_block;
	return mds_store_exec(s, &op);
}

struct append_args {
	uint64_t size;
	int has_pos, has_max;
	uint64_t pos, max;
	const char *if_match;
};

static int append(struct mds_store *s, const char *name, const struct append_args *a,
		  struct mds_op *op)
{
	mds_op_init(op, MDS_OP_APPEND_BLOCK);
	op->bucket = tu_s("data");
	op->name = tu_s(name);
	op->blob.size = a->size;
	op->blob.locator = tu_s("blk");
	op->blob.if_append_pos = (uint8_t)a->has_pos;
	op->blob.append_pos = a->pos;
	op->blob.if_max_size = (uint8_t)a->has_max;
	op->blob.max_size = a->max;
	if (a->if_match)
		op->cond.if_match = tu_s(a->if_match);
	return mds_store_exec(s, op);
}

/* [PUT] and [AB-R]: create, append, and what head shows. */
static void test_create_append_head(void **state)
{
	struct bfx *f = *state;
	struct append_args a = { .size = 100 };
	struct mds_op op;
	struct bhead h;
	uint64_t bytes, objects;
	char etag0[MDS_ETAG_MAX + 1];

	assert_int_equal(create_append(f->s, "log", 0), 0);
	h = bhead(f->s, "data", "log");
	assert_int_equal(h.rc, 0);
	assert_int_equal(h.blob_type, MDS_BLOB_APPEND);
	assert_int_equal(h.size, 0);
	assert_int_equal(h.blocks, 0);
	assert_int_equal(h.sealed, 0);
	assert_string_equal(h.content_type, "text/plain");
	assert_true(strlen(h.etag) > 2);
	strcpy(etag0, h.etag);

	assert_int_equal(append(f->s, "log", &a, &op), 0);
	assert_int_equal(op.blob_out.append_offset, 0);
	assert_int_equal(op.blob_out.size, 100);
	assert_int_equal(op.blob_out.blocks, 1);
	a.size = 50;
	assert_int_equal(append(f->s, "log", &a, &op), 0);
	assert_int_equal(op.blob_out.append_offset, 100); /* x-ms-blob-append-offset */
	h = bhead(f->s, "data", "log");
	assert_int_equal(h.size, 150);
	assert_int_equal(h.blocks, 2);
	assert_string_not_equal(h.etag, etag0);              /* each append changes the ETag */
	assert_string_equal(h.etag, op.blob_out.etag);
	assert_string_equal(h.content_type, "text/plain");  /* properties survive appends */
	busage(f->s, "data", &bytes, &objects);
	assert_int_equal(bytes, 150);
	assert_int_equal(objects, 1);
	assert_int_equal(tu_check(f->s), 0);
}

/* The conformance table: each row one Append Block against a blob of 100 bytes. */
struct row {
	const char *what;
	struct append_args a;
	int blob;            /* 0 append blob, 1 block blob, 2 absent, 3 sealed */
	int rc;
	int reason;
};

static void test_append_table(void **state)
{
	struct bfx *f = *state;
	static const struct row rows[] = {
		{ "[AB-H] appendpos equal to the size succeeds", { 10, 1, 0, 100, 0, NULL }, 0, 0, 0 },
		{ "[AB-H] appendpos below the size: 412 AppendPositionConditionNotMet",
		  { 10, 1, 0, 99, 0, NULL }, 0, MDS_EPRECOND, MDS_REASON_APPEND_POS },
		{ "[AB-H] appendpos above the size: 412 AppendPositionConditionNotMet",
		  { 10, 1, 0, 101, 0, NULL }, 0, MDS_EPRECOND, MDS_REASON_APPEND_POS },
		{ "[AB-H] maxsize reached exactly succeeds", { 10, 0, 1, 0, 110, NULL }, 0, 0, 0 },
		{ "[AB-H] maxsize exceeded: 412 MaxBlobSizeConditionNotMet",
		  { 11, 0, 1, 0, 110, NULL }, 0, MDS_EPRECOND, MDS_REASON_MAX_SIZE },
		{ "[AB-H] maxsize below the current size", { 1, 0, 1, 0, 50, NULL }, 0, MDS_EPRECOND,
		  MDS_REASON_MAX_SIZE },
		{ "[AB-H] both conditions, appendpos fails first", { 11, 1, 1, 5, 110, NULL }, 0,
		  MDS_EPRECOND, MDS_REASON_APPEND_POS },
		{ "[AB-H] If-Match another ETag: 412 ConditionNotMet", { 10, 0, 0, 0, 0, "\"nope\"" }, 0,
		  MDS_EPRECOND, MDS_REASON_ETAG },
		{ "[AB-H] If-Match * on an existing blob succeeds", { 10, 0, 0, 0, 0, "*" }, 0, 0, 0 },
		{ "[AB-R] block above 4 MiB: 413 RequestBodyTooLarge", { (4u << 20) + 1, 0, 0, 0, 0, NULL },
		  0, MDS_EINVAL, MDS_REASON_BLOCK_SIZE },
		{ "[AB-R] block of exactly 4 MiB succeeds", { 4u << 20, 0, 0, 0, 0, NULL }, 0, 0, 0 },
		{ "[AB-R] empty block: 400", { 0, 0, 0, 0, 0, NULL }, 0, MDS_EINVAL, 0 },
		{ "[AB-R] append to a block blob: 409 InvalidBlobType", { 10, 0, 0, 0, 0, NULL }, 1,
		  MDS_EPRECOND, MDS_REASON_NOT_APPEND },
		{ "[AB-R] append to a missing blob: 404 BlobNotFound", { 10, 0, 0, 0, 0, NULL }, 2,
		  MDS_ENOTFOUND, 0 },
		{ "[SEAL] append to a sealed blob: 409 BlobIsSealed", { 10, 0, 0, 0, 0, NULL }, 3,
		  MDS_EPRECOND, MDS_REASON_SEALED },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char name[32];
		struct append_args base = { .size = 100 };
		struct mds_op op;
		struct bhead before, after;
		uint64_t bytes0, bytes1, objects;
		int rc;

		snprintf(name, sizeof(name), "row%02zu", i);
		if (r->blob == 1) {
			assert_int_equal(tu_put(f->s, "data", tu_s(name), 100, "\"e\""), 0);
		} else if (r->blob != 2) {
			assert_int_equal(create_append(f->s, name, 0), 0);
			assert_int_equal(append(f->s, name, &base, &op), 0);
		}
		if (r->blob == 3) {
			mds_op_init(&op, MDS_OP_SEAL_BLOB);
			op.bucket = tu_s("data");
			op.name = tu_s(name);
			assert_int_equal(mds_store_exec(f->s, &op), 0);
		}
		before = bhead(f->s, "data", name);
		busage(f->s, "data", &bytes0, &objects);
		rc = append(f->s, name, &r->a, &op);
		after = bhead(f->s, "data", name);
		busage(f->s, "data", &bytes1, &objects);
		if (rc != r->rc || (r->rc && op.blob_out.reason != r->reason))
			fail_msg("row '%s': rc %d reason %d, expected %d reason %d (%s)", r->what, rc,
				 op.blob_out.reason, r->rc, r->reason, op.status.msg);
		if (rc == 0) {
			assert_int_equal(after.size, before.size + r->a.size);
			assert_int_equal(after.blocks, before.blocks + 1);
			assert_int_equal(bytes1, bytes0 + r->a.size);
		} else {
			/* A failed append changes nothing a client can see. */
			assert_int_equal(after.size, before.size);
			assert_int_equal(after.blocks, before.blocks);
			assert_string_equal(after.etag, before.etag);
			assert_int_equal(bytes1, bytes0);
		}
	}
	assert_int_equal(tu_check(f->s), 0);
}

/* [AB-R]: the largest block is configurable up to 100 MiB, not beyond. */
static void test_block_size_config(void **state)
{
	struct bfx *f = *state;
	struct append_args a = { .size = 100u << 20 };
	struct mds_op op;

	assert_int_equal(create_append(f->s, "big", 100u << 20), 0);
	assert_int_equal(append(f->s, "big", &a, &op), 0);
	a.size++;
	assert_int_equal(append(f->s, "big", &a, &op), MDS_EINVAL);
	assert_int_equal(op.blob_out.reason, MDS_REASON_BLOCK_SIZE);
	assert_int_equal(create_append(f->s, "huge", (100u << 20) + 1), MDS_EINVAL);
}

/* [SEAL]: seal is idempotent, shows in head, and If-Match guards it. */
static void test_seal(void **state)
{
	struct bfx *f = *state;
	struct append_args a = { .size = 7 };
	struct mds_op op;
	struct bhead h;

	assert_int_equal(create_append(f->s, "s", 0), 0);
	assert_int_equal(append(f->s, "s", &a, &op), 0);
	mds_op_init(&op, MDS_OP_SEAL_BLOB);
	op.bucket = tu_s("data");
	op.name = tu_s("s");
	op.cond.if_match = tu_s("\"other\"");
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EPRECOND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_ETAG);
	assert_int_equal(bhead(f->s, "data", "s").sealed, 0);
	mds_op_init(&op, MDS_OP_SEAL_BLOB);
	op.bucket = tu_s("data");
	op.name = tu_s("s");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	h = bhead(f->s, "data", "s");
	assert_int_equal(h.sealed, 1);
	assert_int_equal(h.size, 7);
	mds_op_init(&op, MDS_OP_SEAL_BLOB);
	op.bucket = tu_s("data");
	op.name = tu_s("s");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_string_equal(bhead(f->s, "data", "s").etag, h.etag);
	/* Overwriting a sealed blob with Put Blob makes a new, unsealed one. */
	assert_int_equal(create_append(f->s, "s", 0), 0);
	h = bhead(f->s, "data", "s");
	assert_int_equal(h.sealed, 0);
	assert_int_equal(h.size, 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* The block map read back: offsets, sizes, locators in append order. */
struct collect {
	uint32_t n;
	uint64_t next_offset;
	int bad;
	char locs[8][16];
};

static int collect_block(void *arg, const struct mds_block *b)
{
	struct collect *c = arg;

	if (b->offset != c->next_offset || b->index != c->n)
		c->bad = 1;
	if (c->n < 8)
		snprintf(c->locs[c->n], sizeof(c->locs[0]), "%.*s", (int)b->locator.len, b->locator.p);
	c->next_offset += b->size;
	c->n++;
	return 0;
}

static void test_blocks_read_back(void **state)
{
	struct bfx *f = *state;
	struct mds_reader *r;
	struct mds_status st;
	struct collect c = { 0 };
	char loc[16];

	assert_int_equal(create_append(f->s, "b", 0), 0);
	for (int i = 0; i < 5; i++) {
		struct mds_op op;

		mds_op_init(&op, MDS_OP_APPEND_BLOCK);
		op.bucket = tu_s("data");
		op.name = tu_s("b");
		op.blob.size = 10u + (unsigned)i;
		snprintf(loc, sizeof(loc), "loc-%d", i);
		op.blob.locator = tu_s(loc);
		assert_int_equal(mds_store_exec(f->s, &op), 0);
	}
	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_blob_blocks(r, tu_s("data"), tu_s("b"), 0, 0, collect_block, &c, &st), 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.bad, 0);
	assert_int_equal(c.next_offset, 10 + 11 + 12 + 13 + 14);
	assert_string_equal(c.locs[0], "loc-0");
	assert_string_equal(c.locs[4], "loc-4");
	memset(&c, 0, sizeof(c));
	c.n = 3;
	c.next_offset = 10 + 11 + 12;
	assert_int_equal(mds_blob_blocks(r, tu_s("data"), tu_s("b"), 3, 1, collect_block, &c, &st), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.bad, 0);
	mds_reader_close(r);
	/* Deleting the blob frees its map (mds check finds no leaked map). */
	assert_int_equal(tu_del(f->s, "data", tu_s("b")), 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* [AB-R]: 50,000 committed blocks at most; the 50,001st is 409 BlockCountExceedsLimit. */
struct bulk {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight, failed;
};

static void bulk_done(struct mds_op *op)
{
	struct bulk *b = op->user;

	pthread_mutex_lock(&b->mu);
	if (op->status.code)
		b->failed++;
	b->inflight--;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static void test_block_count_limit(void **state)
{
	struct bfx *f = *state;
	struct bulk bk = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct mds_op *ops = calloc(BLOCKS_MAX, sizeof(*ops));
	struct append_args a = { .size = 1 };
	struct mds_op op;

	struct timespec t0, t1;

	assert_int_equal(create_append(f->s, "full", 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < BLOCKS_MAX; i++) {
		mds_op_init(&ops[i], MDS_OP_APPEND_BLOCK);
		ops[i].bucket = tu_s("data");
		ops[i].name = tu_s("full");
		ops[i].blob.size = 1;
		ops[i].done = bulk_done;
		ops[i].user = &bk;
		pthread_mutex_lock(&bk.mu);
		bk.inflight++;
		pthread_mutex_unlock(&bk.mu);
		assert_int_equal(mds_store_submit(f->s, &ops[i]), 0);
	}
	pthread_mutex_lock(&bk.mu);
	while (bk.inflight)
		pthread_cond_wait(&bk.cv, &bk.mu);
	pthread_mutex_unlock(&bk.mu);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("50,000 appends to one blob, one submitter, group commit: %.0f ms\n",
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_int_equal(bk.failed, 0);
	assert_int_equal(bhead(f->s, "data", "full").blocks, 50000);
	assert_int_equal(append(f->s, "full", &a, &op), MDS_EPRECOND);
	assert_int_equal(op.blob_out.reason, MDS_REASON_BLOCK_COUNT);
	assert_int_equal(bhead(f->s, "data", "full").size, 50000);
	free(ops);
}

/*
 * Many appenders on one blob, each a careful client: read the size, append
 * with appendpos = size, on AppendPositionConditionNotMet read again. After
 * each success it replays the same request once (a retry after a lost
 * answer), which must be refused. Every block lands exactly once.
 */
#define APPENDERS 8
#define PER_APPENDER 60

struct appender {
	struct mds_store *s;
	int id;
	int ok, dup_applied, conflicts;
};

static void *appender_main(void *arg)
{
	struct appender *ap = arg;
	char loc[32];

	for (int i = 0; i < PER_APPENDER; i++) {
		snprintf(loc, sizeof(loc), "a%d-%d", ap->id, i);
		for (;;) {
			struct bhead h = bhead(ap->s, "data", "shared");
			struct mds_op op;
			int rc;

			mds_op_init(&op, MDS_OP_APPEND_BLOCK);
			op.bucket = tu_s("data");
			op.name = tu_s("shared");
			op.blob.size = 3;
			op.blob.locator = tu_s(loc);
			op.blob.if_append_pos = 1;
			op.blob.append_pos = h.size;
			rc = mds_store_exec(ap->s, &op);
			if (rc == 0) {
				ap->ok++;
				/* The retry of the same request. */
				if (mds_store_exec(ap->s, &op) == 0)
					ap->dup_applied++;
				break;
			}
			if (rc != MDS_EPRECOND || op.blob_out.reason != MDS_REASON_APPEND_POS)
				return (void *)1;
			ap->conflicts++;
		}
	}
	return NULL;
}

struct seen {
	unsigned char hit[APPENDERS][PER_APPENDER];
	int dups, bad;
};

static int seen_block(void *arg, const struct mds_block *b)
{
	struct seen *sn = arg;
	int id, i;
	char loc[32];

	snprintf(loc, sizeof(loc), "%.*s", (int)b->locator.len, b->locator.p);
	if (sscanf(loc, "a%d-%d", &id, &i) != 2 || id < 0 || id >= APPENDERS || i < 0 ||
	    i >= PER_APPENDER || b->offset != (uint64_t)b->index * 3) {
		sn->bad++;
		return 0;
	}
	if (sn->hit[id][i]++)
		sn->dups++;
	return 0;
}

static void test_concurrent_appenders(void **state)
{
	struct bfx *f = *state;
	struct appender ap[APPENDERS];
	pthread_t th[APPENDERS];
	struct mds_reader *r;
	struct mds_status st;
	struct seen *sn = calloc(1, sizeof(*sn));
	int conflicts = 0;

	assert_int_equal(create_append(f->s, "shared", 0), 0);
	for (int i = 0; i < APPENDERS; i++) {
		ap[i] = (struct appender){ .s = f->s, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, appender_main, &ap[i]), 0);
	}
	for (int i = 0; i < APPENDERS; i++) {
		void *ret;

		pthread_join(th[i], &ret);
		assert_null(ret);
		assert_int_equal(ap[i].ok, PER_APPENDER);
		assert_int_equal(ap[i].dup_applied, 0);
		conflicts += ap[i].conflicts;
	}
	printf("%d appenders x %d blocks, %d appendpos conflicts retried\n", APPENDERS,
	       PER_APPENDER, conflicts);
	assert_int_equal(bhead(f->s, "data", "shared").size, APPENDERS * PER_APPENDER * 3);
	assert_int_equal(bhead(f->s, "data", "shared").blocks, APPENDERS * PER_APPENDER);
	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_blob_blocks(r, tu_s("data"), tu_s("shared"), 0, 0, seen_block, sn, &st),
			 0);
	mds_reader_close(r);
	assert_int_equal(sn->bad, 0);
	assert_int_equal(sn->dups, 0);
	for (int i = 0; i < APPENDERS; i++)
		for (int j = 0; j < PER_APPENDER; j++)
			assert_int_equal(sn->hit[i][j], 1);
	free(sn);
	assert_int_equal(tu_check(f->s), 0);
}

/* Listing shows blob type, committed block count and sealed state. */
struct list_seen {
	int found;
	uint8_t type, sealed;
	uint32_t blocks;
};

static int list_emit(void *arg, const struct mds_list_entry *e)
{
	struct list_seen *ls = arg;

	if (e->obj && e->name.len == 3 && memcmp(e->name.p, "lst", 3) == 0) {
		ls->found = 1;
		ls->type = e->obj->blob_type;
		ls->sealed = e->obj->sealed;
		ls->blocks = e->obj->map_blocks;
	}
	return 0;
}

static void test_listing_shows_state(void **state)
{
	struct bfx *f = *state;
	struct append_args a = { .size = 5 };
	struct mds_list_params p = { .style = MDS_LIST_AZURE, .bucket = tu_s("data"), .max_keys = -1 };
	struct mds_list_result res;
	struct list_seen ls = { 0 };
	struct mds_reader *r;
	struct mds_status st;
	struct mds_op op;

	assert_int_equal(create_append(f->s, "lst", 0), 0);
	assert_int_equal(append(f->s, "lst", &a, &op), 0);
	assert_int_equal(append(f->s, "lst", &a, &op), 0);
	mds_op_init(&op, MDS_OP_SEAL_BLOB);
	op.bucket = tu_s("data");
	op.name = tu_s("lst");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(mds_reader_open(f->s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	assert_int_equal(mds_list(r, &p, list_emit, &ls, &res, &st), 0);
	mds_reader_close(r);
	assert_true(ls.found);
	assert_int_equal(ls.type, MDS_BLOB_APPEND);
	assert_int_equal(ls.sealed, 1);
	assert_int_equal(ls.blocks, 2);
}

/*
 * SIGKILL while appenders run: every acknowledged append is in the blob
 * after a restart, exactly once, at the offset its answer gave, and mds
 * check finds the map consistent with the record.
 */
#define KILL_ROUNDS 6
#define KILL_THREADS 4

struct kapp {
	struct mds_store *s;
	int fd, id;
};

static void *kill_appender(void *arg)
{
	struct kapp *k = arg;
	char loc[32], line[64];

	for (unsigned i = 0;; i++) {
		struct mds_op op;
		int n;

		snprintf(loc, sizeof(loc), "k%d-%u", k->id, i);
		mds_op_init(&op, MDS_OP_APPEND_BLOCK);
		op.bucket = tu_s("data");
		op.name = tu_s("killed");
		op.blob.size = 1 + (uint64_t)(i % 7);
		op.blob.locator = tu_s(loc);
		if (mds_store_exec(k->s, &op))
			_exit(3);
		n = snprintf(line, sizeof(line), "%s %llu\n", loc,
			     (unsigned long long)op.blob_out.append_offset);
		if (write(k->fd, line, (size_t)n) != n)
			_exit(4);
	}
	return NULL;
}

struct kseen {
	char (*locs)[32];
	uint64_t *offs;
	size_t n;
	unsigned char *hit;
	int bad;
};

static int kseen_block(void *arg, const struct mds_block *b)
{
	struct kseen *ks = arg;
	char loc[32];

	snprintf(loc, sizeof(loc), "%.*s", (int)b->locator.len, b->locator.p);
	for (size_t i = 0; i < ks->n; i++) {
		if (strcmp(ks->locs[i], loc) == 0) {
			if (ks->hit[i]++ || ks->offs[i] != b->offset)
				ks->bad++;
			break;
		}
	}
	return 0;
}

static void test_sigkill_appenders(void **state)
{
	struct bfx *f = *state;
	static char locs[200000][32];
	static uint64_t offs[200000];
	size_t n = 0;
	unsigned seed = (unsigned)time(NULL);

	printf("append kill seed %u\n", seed);
	srand(seed);
	assert_int_equal(create_append(f->s, "killed", 0), 0);
	mds_store_close(f->s);
	f->s = NULL;
	for (int round = 0; round < KILL_ROUNDS; round++) {
		struct kseen ks = { locs, offs, 0, NULL, 0 };
		struct mds_reader *r;
		struct mds_status st;
		char buf[65536], line[64];
		size_t ll = 0;
		int fds[2], wst;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			static struct kapp ka[KILL_THREADS];
			pthread_t th;
			struct mds_store *s;

			close(fds[0]);
			if (mds_store_open(&s, f->dir, NULL, &st))
				_exit(2);
			for (int i = 0; i < KILL_THREADS; i++) {
				ka[i] = (struct kapp){ s, fds[1], round * 10 + i };
				pthread_create(&th, NULL, kill_appender, &ka[i]);
			}
			for (;;)
				pause();
		}
		close(fds[1]);
		{
			struct timespec d = { 0, (long)(20 + rand() % 150) * 1000000L };

			nanosleep(&d, NULL);
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &wst, 0), pid);
		for (;;) {
			ssize_t got = read(fds[0], buf, sizeof(buf));

			if (got <= 0)
				break;
			for (ssize_t i = 0; i < got; i++) {
				if (buf[i] != '\n') {
					if (ll < sizeof(line) - 1)
						line[ll++] = buf[i];
					continue;
				}
				line[ll] = '\0';
				ll = 0;
				assert_true(n < 200000);
				assert_int_equal(sscanf(line, "%31s %llu", locs[n],
							(unsigned long long *)&offs[n]), 2);
				n++;
			}
		}
		close(fds[0]);
		assert_int_equal(mds_store_open(&f->s, f->dir, NULL, &st), 0);
		assert_int_equal(tu_check(f->s), 0);
		ks.n = n;
		ks.hit = calloc(n ? n : 1, 1);
		assert_int_equal(mds_reader_open(f->s, &r), 0);
		assert_int_equal(mds_reader_begin(r), 0);
		assert_int_equal(mds_blob_blocks(r, tu_s("data"), tu_s("killed"), 0, 0, kseen_block, &ks,
						 &st), 0);
		mds_reader_close(r);
		for (size_t i = 0; i < n; i++)
			if (ks.hit[i] != 1)
				fail_msg("seed %u: acknowledged append %s seen %d times", seed, locs[i],
					 ks.hit[i]);
		assert_int_equal(ks.bad, 0);
		free(ks.hit);
		mds_store_close(f->s);
		f->s = NULL;
	}
	printf("%d kills, %zu acknowledged appends, none lost or doubled\n", KILL_ROUNDS, n);
	assert_true(n > 0);
	assert_int_equal(mds_store_open(&f->s, f->dir, NULL, NULL), 0);
}

/* Deletes @key from database @db of the store in @dir, behind mds's back. */
static void raw_delete(const char *dir, const char *db, const void *key, size_t klen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 1ull << 30), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* mds check notices a block map that lost a block (it can fail). */
static void test_check_finds_damage(void **state)
{
	struct bfx *f = *state;
	struct append_args a = { .size = 10 };
	struct mds_status st;
	struct mds_op op;
	uint8_t key[12];
	uint64_t map;

	assert_int_equal(create_append(f->s, "dmg", 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(append(f->s, "dmg", &a, &op), 0);
	assert_int_equal(tu_check(f->s), 0);
	map = bhead(f->s, "data", "dmg").map_id;
	assert_true(map != 0);
	mds_store_close(f->s);
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(map >> (56 - 8 * i));
	key[8] = key[9] = key[10] = 0;
	key[11] = 1;   /* block 1 */
	raw_delete(f->dir, "blob_maps", key, sizeof(key));
	assert_int_equal(mds_store_open(&f->s, f->dir, NULL, &st), 0);
	assert_true(tu_check(f->s) > 0);
	/* Repair for the teardown's check: deleting the blob frees what is left. */
	assert_int_equal(tu_del(f->s, "data", tu_s("dmg")), 0);
	assert_int_equal(tu_check(f->s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_append_head, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_append_table, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_block_size_config, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_seal, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_blocks_read_back, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_block_count_limit, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_appenders, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_listing_shows_state, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_check_finds_damage, bfx_setup, bfx_teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_appenders, bfx_setup, bfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
