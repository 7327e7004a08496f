/*
 * test_namespace.c - teams, buckets, object records, conditions, usage
 * counters and long names through the real store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nametree.h"
#include "testutil.h"

struct fx {
	char dir[256];
	struct mds_store *s;
	struct mds_reader *r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mds_status st;

	tu_tmpdir(f->dir);
	assert_int_equal(mds_store_open(&f->s, f->dir, NULL, &st), 0);
	assert_int_equal(mds_reader_open(f->s, &f->r), 0);
	assert_int_equal(tu_team(f->s, "ml"), 0);
	assert_int_equal(tu_bucket(f->s, "ckpt", "ml"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mds_reader_close(f->r);
	mds_store_close(f->s);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

static void test_team_bucket_lifecycle(void **state)
{
	struct fx *f = *state;
	struct mds_status st;
	struct mds_team t;
	struct mds_bucket b;
	struct mds_op op;

	assert_int_equal(tu_team(f->s, "ml"), MDS_EEXIST);
	assert_int_equal(tu_team(f->s, "Bad Name"), MDS_EINVAL);
	assert_int_equal(tu_bucket(f->s, "ckpt", "ml"), MDS_EEXIST);
	assert_int_equal(tu_bucket(f->s, "other", "nosuch"), MDS_ENOTFOUND);
	assert_int_equal(tu_bucket(f->s, "192.168.1.1", "ml"), MDS_EINVAL);

	assert_int_equal(mds_reader_begin(f->r), 0);
	assert_int_equal(mds_team_get(f->r, tu_s("ml"), &t, &st), 0);
	assert_int_equal(t.buckets, 1);
	assert_int_equal(mds_bucket_get(f->r, tu_s("ckpt"), &b, &st), 0);
	assert_int_equal(b.team.len, 2);
	assert_memory_equal(b.team.p, "ml", 2);
	assert_int_equal(mds_bucket_get(f->r, tu_s("nope"), &b, &st), MDS_ENOTFOUND);
	assert_non_null(strstr(st.msg, "'nope'"));
	mds_reader_end(f->r);

	/* A team with buckets cannot go; a bucket with objects cannot go. */
	mds_op_init(&op, MDS_OP_TEAM_DELETE);
	op.team = tu_s("ml");
	assert_int_equal(mds_store_exec(f->s, &op), MDS_ENOTEMPTY);
	assert_int_equal(tu_put(f->s, "ckpt", tu_s("a"), 10, "e1"), 0);
	mds_op_init(&op, MDS_OP_BUCKET_DELETE);
	op.bucket = tu_s("ckpt");
	assert_int_equal(mds_store_exec(f->s, &op), MDS_ENOTEMPTY);
	assert_non_null(strstr(op.status.msg, "1 objects"));
	assert_int_equal(tu_del(f->s, "ckpt", tu_s("a")), 0);
	mds_op_init(&op, MDS_OP_BUCKET_DELETE);
	op.bucket = tu_s("ckpt");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	mds_op_init(&op, MDS_OP_TEAM_DELETE);
	op.team = tu_s("ml");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(tu_check(f->s), 0);
}

static void test_put_head_overwrite_usage(void **state)
{
	struct fx *f = *state;
	struct mds_pair meta[2] = { { MDS_STR("owner"), MDS_STR("alice") },
				    { MDS_STR("step"), MDS_STR("1200") } };
	struct mds_pair tags[1] = { { MDS_STR("tier"), MDS_STR("warm") } };
	struct mds_status st;
	struct mds_object o;
	struct mds_bucket b;
	struct mds_team t;
	struct mds_pair p;
	struct mds_str cur;
	struct mds_op op;
	uint64_t ctime;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("ckpt");
	op.name = tu_s("run1/step-1200/shard-0");
	op.obj.size = 1000;
	op.obj.etag = tu_s("\"abc\"");
	op.obj.content_type = tu_s("application/octet-stream");
	op.obj.locator = tu_s("pool7:0xdeadbeef");
	op.obj.meta = meta;
	op.obj.n_meta = 2;
	op.obj.tags = tags;
	op.obj.n_tags = 1;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(op.out_version, 1);
	assert_int_equal(op.out_bytes_delta, 1000);

	assert_int_equal(mds_reader_begin(f->r), 0);
	assert_int_equal(mds_object_head(f->r, tu_s("ckpt"), tu_s("run1/step-1200/shard-0"), &o, &st), 0);
	assert_int_equal(o.size, 1000);
	assert_int_equal(o.version, 1);
	assert_int_equal(o.n_meta, 2);
	assert_int_equal(o.n_tags, 1);
	assert_int_equal(o.locator.len, strlen("pool7:0xdeadbeef"));
	cur = o.meta_raw;
	assert_int_equal(mds_pairs_next(&cur, &p), 1);
	assert_memory_equal(p.key.p, "owner", 5);
	assert_memory_equal(p.value.p, "alice", 5);
	assert_int_equal(mds_pairs_next(&cur, &p), 1);
	assert_int_equal(mds_pairs_next(&cur, &p), 0);
	ctime = o.ctime_ns;
	mds_reader_end(f->r);

	/* Overwrite smaller: version 2, ctime kept, usage shrinks by the delta. */
	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("ckpt");
	op.name = tu_s("run1/step-1200/shard-0");
	op.obj.size = 400;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(op.out_version, 2);
	assert_int_equal(op.out_bytes_delta, -600);
	assert_int_equal(op.out_objects_delta, 0);
	assert_int_equal(tu_put(f->s, "ckpt", tu_s("other"), 5, NULL), 0);

	assert_int_equal(mds_reader_begin(f->r), 0);
	assert_int_equal(mds_object_head(f->r, tu_s("ckpt"), tu_s("run1/step-1200/shard-0"), &o, &st), 0);
	assert_int_equal(o.version, 2);
	assert_int_equal(o.ctime_ns, ctime);
	assert_true(o.mtime_ns >= ctime);
	assert_int_equal(o.n_meta, 0);
	assert_int_equal(mds_bucket_get(f->r, tu_s("ckpt"), &b, &st), 0);
	assert_int_equal(b.bytes, 405);
	assert_int_equal(b.objects, 2);
	assert_int_equal(mds_team_get(f->r, tu_s("ml"), &t, &st), 0);
	assert_int_equal(t.bytes, 405);
	assert_int_equal(t.objects, 2);
	assert_int_equal(mds_object_head(f->r, tu_s("ckpt"), tu_s("missing"), &o, &st), MDS_ENOTFOUND);
	mds_reader_end(f->r);

	assert_int_equal(tu_del(f->s, "ckpt", tu_s("missing")), MDS_ENOTFOUND);
	assert_int_equal(tu_put(f->s, "nosuchbucket", tu_s("x"), 1, NULL), MDS_ENOTFOUND);
	assert_int_equal(tu_check(f->s), 0);
}

static int put_cond(struct mds_store *s, const char *name, const char *etag, const char *if_match,
		    const char *if_none_match)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("ckpt");
	op.name = tu_s(name);
	op.obj.size = 1;
	op.obj.etag = tu_s(etag);
	if (if_match)
		op.cond.if_match = tu_s(if_match);
	if (if_none_match)
		op.cond.if_none_match = tu_s(if_none_match);
	return mds_store_exec(s, &op);
}

static void test_conditions(void **state)
{
	struct fx *f = *state;
	struct mds_op op;

	assert_int_equal(put_cond(f->s, "k", "e1", "*", NULL), MDS_EPRECOND);   /* must exist */
	assert_int_equal(put_cond(f->s, "k", "e1", "e0", NULL), MDS_EPRECOND);
	assert_int_equal(put_cond(f->s, "k", "e1", NULL, "*"), 0);              /* create-only */
	assert_int_equal(put_cond(f->s, "k", "e2", NULL, "*"), MDS_EPRECOND);
	assert_int_equal(put_cond(f->s, "k", "e2", "e0", NULL), MDS_EPRECOND);
	assert_int_equal(put_cond(f->s, "k", "e2", "e1", NULL), 0);             /* compare-and-swap */
	assert_int_equal(put_cond(f->s, "k", "e3", NULL, "e2"), MDS_EPRECOND);
	assert_int_equal(put_cond(f->s, "k", "e3", NULL, "e1"), 0);
	assert_int_equal(put_cond(f->s, "k", "e4", "*", NULL), 0);

	mds_op_init(&op, MDS_OP_OBJECT_DELETE);
	op.bucket = tu_s("ckpt");
	op.name = tu_s("k");
	op.cond.if_match = tu_s("e3");
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EPRECOND);
	assert_non_null(strstr(op.status.msg, "if-match"));
	mds_op_init(&op, MDS_OP_OBJECT_DELETE);
	op.bucket = tu_s("ckpt");
	op.name = tu_s("k");
	op.cond.if_match = tu_s("e4");
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(op.out_version, 4);
	assert_int_equal(tu_check(f->s), 0);
}

static void test_bad_inputs(void **state)
{
	struct fx *f = *state;
	char big[MDS_OBJECT_NAME_MAX + 2];
	struct mds_pair tags[MDS_TAGS_MAX + 1];
	struct mds_op op;

	memset(big, 'a', sizeof(big));
	assert_int_equal(tu_put(f->s, "ckpt", (struct mds_str){ big, MDS_OBJECT_NAME_MAX + 1 }, 1, NULL),
			 MDS_EINVAL);
	assert_int_equal(tu_put(f->s, "ckpt", (struct mds_str){ big, MDS_OBJECT_NAME_MAX }, 1, NULL), 0);
	assert_int_equal(tu_put(f->s, "ckpt", tu_s(""), 1, NULL), MDS_EINVAL);
	assert_int_equal(tu_put(f->s, "ckpt", (struct mds_str){ "a\0b", 3 }, 1, NULL), MDS_EINVAL);
	assert_int_equal(tu_put(f->s, "ckpt", tu_s("\xc0\xaf"), 1, NULL), MDS_EINVAL);     /* overlong */
	assert_int_equal(tu_put(f->s, "ckpt", tu_s("\xed\xa0\x80"), 1, NULL), MDS_EINVAL); /* surrogate */
	assert_int_equal(tu_put(f->s, "ckpt", tu_s("caf\xc3\xa9"), 1, NULL), 0);

	for (int i = 0; i <= MDS_TAGS_MAX; i++) {
		static char keys[MDS_TAGS_MAX + 1][8];

		snprintf(keys[i], sizeof(keys[i]), "t%d", i);
		tags[i].key = tu_s(keys[i]);
		tags[i].value = tu_s("v");
	}
	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s("ckpt");
	op.name = tu_s("tagged");
	op.obj.tags = tags;
	op.obj.n_tags = MDS_TAGS_MAX + 1;
	assert_int_equal(mds_store_exec(f->s, &op), MDS_EINVAL);
	assert_non_null(strstr(op.status.msg, "tags"));
	op.obj.n_tags = MDS_TAGS_MAX;
	op.done = NULL;
	assert_int_equal(mds_store_exec(f->s, &op), 0);
	assert_int_equal(tu_check(f->s), 0);
}

/* Names around the segment boundaries, sharing long prefixes. */
static void test_long_names(void **state)
{
	struct fx *f = *state;
	static const size_t lens[] = { 1, 495, 496, 497, 991, 992, 993, 1023, 1024 };
	char name[MDS_OBJECT_NAME_MAX];
	struct mds_status st;
	struct mds_object o;
	struct mds_bucket b;
	size_t n = sizeof(lens) / sizeof(lens[0]);

	memset(name, 'p', sizeof(name));
	for (size_t i = 0; i < n; i++) {
		name[lens[i] - 1] = 'z';
		assert_int_equal(tu_put(f->s, "ckpt", (struct mds_str){ name, lens[i] }, lens[i], NULL), 0);
		name[lens[i] - 1] = 'p';
		assert_int_equal(tu_put(f->s, "ckpt", (struct mds_str){ name, lens[i] }, lens[i], NULL), 0);
	}
	assert_int_equal(tu_check(f->s), 0);
	assert_int_equal(mds_reader_begin(f->r), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(mds_object_head(f->r, tu_s("ckpt"), (struct mds_str){ name, lens[i] }, &o, &st), 0);
		assert_int_equal(o.size, lens[i]);
	}
	assert_int_equal(mds_bucket_get(f->r, tu_s("ckpt"), &b, &st), 0);
	assert_int_equal(b.objects, 2 * n);
	mds_reader_end(f->r);

	/* Delete all; the tree must prune back to nothing. */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(tu_del(f->s, "ckpt", (struct mds_str){ name, lens[i] }), 0);
		name[lens[i] - 1] = 'z';
		assert_int_equal(tu_del(f->s, "ckpt", (struct mds_str){ name, lens[i] }), 0);
		name[lens[i] - 1] = 'p';
		assert_int_equal(tu_check(f->s), 0);
	}
	assert_int_equal(mds_reader_begin(f->r), 0);
	assert_int_equal(mds_bucket_get(f->r, tu_s("ckpt"), &b, &st), 0);
	assert_int_equal(b.objects, 0);
	assert_int_equal(b.bytes, 0);
	mds_reader_end(f->r);
}

struct collect {
	char names[16][64];
	int n;
};

static int collect_bucket(void *arg, const struct mds_bucket *b)
{
	struct collect *c = arg;

	snprintf(c->names[c->n++], 64, "%.*s", (int)b->name.len, b->name.p);
	return 0;
}

static void test_bucket_listing(void **state)
{
	struct fx *f = *state;
	struct collect c = { .n = 0 };
	struct mds_status st;

	assert_int_equal(tu_team(f->s, "vision"), 0);
	assert_int_equal(tu_bucket(f->s, "aaa", "vision"), 0);
	assert_int_equal(tu_bucket(f->s, "zzz", "ml"), 0);
	assert_int_equal(tu_bucket(f->s, "mmm", "vision"), 0);
	assert_int_equal(mds_reader_begin(f->r), 0);
	assert_int_equal(mds_bucket_list(f->r, tu_s("vision"), MDS_STR_NULL, 0, collect_bucket, &c, &st), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[0], "aaa");
	assert_string_equal(c.names[1], "mmm");
	c.n = 0;
	assert_int_equal(mds_bucket_list(f->r, MDS_STR_NULL, tu_s("aaa"), 2, collect_bucket, &c, &st), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[0], "ckpt");
	assert_string_equal(c.names[1], "mmm");
	mds_reader_end(f->r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_team_bucket_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_head_overwrite_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conditions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_listing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
