/*
 * test_listing.c - S3 ListObjectsV2 / Azure List Blobs semantics.
 *
 * The core of it is a model-based test: thousands of random puts and
 * deletes on names built to collide on prefixes and delimiters (multi-byte
 * UTF-8, names of 490-1,024 bytes sharing long prefixes), checked after
 * every round against a sorted in-memory model for random combinations of
 * prefix, delimiter, start-after, style and page size, paginated to the
 * end. The seed is printed; set MDS_TEST_SEED to replay a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <pthread.h>
#include <time.h>

#include "testutil.h"
#include "util.h"

/* ---- the reference model ------------------------------------------------- */

struct name {
	size_t len;
	char p[MDS_OBJECT_NAME_MAX];
	uint64_t size;
};

struct model {
	struct name **v; /* sorted by memcmp order */
	size_t n, cap;
};

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	return mds_str_cmp((struct mds_str){ a, al }, (struct mds_str){ b, bl });
}

static size_t model_find(const struct model *m, const char *p, size_t len, int *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = name_cmp(m->v[mid]->p, m->v[mid]->len, p, len);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static void model_put(struct model *m, const char *p, size_t len, uint64_t size)
{
	int found;
	size_t i = model_find(m, p, len, &found);

	if (found) {
		m->v[i]->size = size;
		return;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
	}
	memmove(m->v + i + 1, m->v + i, (m->n - i) * sizeof(*m->v));
	m->v[i] = malloc(sizeof(struct name));
	m->v[i]->len = len;
	memcpy(m->v[i]->p, p, len);
	m->v[i]->size = size;
	m->n++;
}

static int model_del(struct model *m, const char *p, size_t len)
{
	int found;
	size_t i = model_find(m, p, len, &found);

	if (!found)
		return 0;
	free(m->v[i]);
	memmove(m->v + i, m->v + i + 1, (m->n - i - 1) * sizeof(*m->v));
	m->n--;
	return 1;
}

/* One expected listing result. */
struct item {
	int is_prefix;
	size_t len;
	const char *p;
	uint64_t size;
};

/* The full expected result of a listing (all pages). */
static size_t model_list(const struct model *m, struct mds_str prefix, struct mds_str delim,
			 struct mds_str after, struct item *out)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++) {
		struct mds_str nm = { m->v[i]->p, m->v[i]->len };
		const char *d = NULL;

		if (!mds_str_has_prefix(nm, prefix))
			continue;
		if (after.len && mds_str_cmp(nm, after) <= 0)
			continue;
		if (delim.len)
			d = memmem(nm.p + prefix.len, nm.len - prefix.len, delim.p, delim.len);
		if (d) {
			size_t cl = (size_t)(d - nm.p) + delim.len;

			if (n && out[n - 1].is_prefix && out[n - 1].len == cl &&
			    memcmp(out[n - 1].p, nm.p, cl) == 0)
				continue;
			out[n++] = (struct item){ 1, cl, nm.p, 0 };
		} else {
			out[n++] = (struct item){ 0, nm.len, nm.p, m->v[i]->size };
		}
	}
	return n;
}

/* ---- random names --------------------------------------------------------- */

static unsigned long long rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char *const parts[] = { "a", "b", "ab", "\xc3\xa9", "\xe6\x97\xa5", "/", "-", "x/",
				     "a/b", "\xf0\x9f\x98\x80", "z", "." };
#define NPARTS (sizeof(parts) / sizeof(parts[0]))
static char long_base[MDS_OBJECT_NAME_MAX];

static size_t random_name(char *out)
{
	size_t len = 0;

	if (rnd() % 4 == 0) {
		/* A long name: a shared long prefix of 480-1000 bytes, then parts. */
		size_t base = 480 + rnd() % 521;

		memcpy(out, long_base, base);
		len = base;
	}
	for (unsigned k = 1 + rnd() % 5; k > 0; k--) {
		const char *p = parts[rnd() % NPARTS];
		size_t pl = strlen(p);

		if (len + pl > MDS_OBJECT_NAME_MAX)
			break;
		memcpy(out + len, p, pl);
		len += pl;
	}
	if (len == 0)
		out[len++] = 'q';
	return len;
}

/* A prefix that respects UTF-8: a random cut of a random name, trimmed
 * back to a character boundary. */
static size_t random_prefix(const struct model *m, char *out)
{
	size_t len, full;

	switch (rnd() % 4) {
	case 0:
		return 0;
	case 1:
		len = random_name(out);
		break;
	default:
		if (m->n == 0)
			return 0;
	{
		const struct name *pick = m->v[rnd() % m->n];

		len = pick->len;
		memcpy(out, pick->p, len);
		break;
	}
	}
	full = len;
	len = rnd() % (len + 1);
	while (len > 0 && len < full && (out[len] & 0xc0) == 0x80)
		len--;
	return len;
}

static const char *const delims[] = { "", "", "/", "/", "-", "\xc3\xa9", "a/", "b", "//" };

/* ---- the store side --------------------------------------------------------- */

struct batch_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left;
};

static void batch_done(struct mds_op *op)
{
	struct batch_wait *w = op->user;

	pthread_mutex_lock(&w->mu);
	if (--w->left == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

struct page_ctx {
	struct item *got;
	size_t n;
	char (*buf)[MDS_OBJECT_NAME_MAX];
};

static int page_emit(void *arg, const struct mds_list_entry *e)
{
	struct page_ctx *c = arg;

	memcpy(c->buf[c->n], e->name.p, e->name.len);
	c->got[c->n] = (struct item){ e->is_prefix, e->name.len, c->buf[c->n],
				      e->obj ? e->obj->size : 0 };
	c->n++;
	return 0;
}

static void check_listing(struct mds_reader *r, const struct model *m, unsigned seed)
{
	static struct item expect[20000], got[20000];
	static char bufs[20000][MDS_OBJECT_NAME_MAX];
	char prefix[MDS_OBJECT_NAME_MAX], after[MDS_OBJECT_NAME_MAX];
	struct mds_list_params p = { 0 };
	struct page_ctx ctx = { got, 0, bufs };
	struct mds_list_result res;
	struct mds_status st;
	size_t ne, pages = 0;
	int rc;

	p.style = rnd() % 4 == 0 ? MDS_LIST_AZURE : MDS_LIST_S3;
	p.bucket = tu_s("data");
	p.prefix = (struct mds_str){ prefix, random_prefix(m, prefix) };
	p.delimiter = tu_s(delims[rnd() % (sizeof(delims) / sizeof(delims[0]))]);
	if (p.style == MDS_LIST_S3 && rnd() % 3 == 0) {
		size_t al = random_prefix(m, after);

		p.start_after = (struct mds_str){ after, al };
	}
	ne = model_list(m, p.prefix, p.delimiter, p.start_after, expect);

	for (;;) {
		size_t before = ctx.n;

		p.max_keys = rnd() % 3 == 0 ? -1 : (int64_t)(1 + rnd() % 40);
		assert_int_equal(mds_reader_begin(r), 0);
		rc = mds_list(r, &p, page_emit, &ctx, &res, &st);
		if (rc)
			fprintf(stderr, "seed %u: list failed: %s\n", seed, st.msg);
		assert_int_equal(rc, 0);
		mds_reader_end(r);
		pages++;
		assert_int_equal(res.key_count, ctx.n - before);
		if (p.max_keys > 0 && res.truncated)
			assert_int_equal(res.key_count, p.max_keys);
		if (!res.truncated)
			break;
		assert_true(ctx.n < ne);
		assert_true(strlen(res.next_token) > 0);
		p.token = tu_s(res.next_token);
		{
			static char tok[MDS_LIST_TOKEN_MAX + 1];

			strcpy(tok, res.next_token);
			p.token = tu_s(tok);
		}
	}
	if (ctx.n != ne)
		fprintf(stderr, "seed %u: expected %zu results, got %zu (prefix %zu bytes, delim '%s', %zu pages)\n",
			seed, ne, ctx.n, p.prefix.len, (const char *)p.delimiter.p, pages);
	assert_int_equal(ctx.n, ne);
	for (size_t i = 0; i < ne; i++) {
		if (expect[i].is_prefix != got[i].is_prefix || expect[i].len != got[i].len ||
		    memcmp(expect[i].p, got[i].p, got[i].len) != 0 || expect[i].size != got[i].size)
			fprintf(stderr, "seed %u: result %zu differs\n", seed, i);
		assert_int_equal(expect[i].is_prefix, got[i].is_prefix);
		assert_int_equal(expect[i].len, got[i].len);
		assert_memory_equal(expect[i].p, got[i].p, got[i].len);
		assert_int_equal(expect[i].size, got[i].size);
	}
}

struct stream_ctx {
	const struct model *m;
	size_t i;
	char last[MDS_OBJECT_NAME_MAX];
	size_t last_len;
};

static int stream_emit(void *arg, const struct mds_list_entry *e)
{
	struct stream_ctx *c = arg;

	assert_true(c->i < c->m->n);
	assert_int_equal(e->name.len, c->m->v[c->i]->len);
	assert_memory_equal(e->name.p, c->m->v[c->i]->p, e->name.len);
	memcpy(c->last, e->name.p, e->name.len);
	c->last_len = e->name.len;
	c->i++;
	return 0;
}

static void check_stream(struct mds_reader *r, const struct model *m)
{
	struct stream_ctx c = { m, 0, { 0 }, 0 };
	struct mds_status st;
	long got;

	do {
		assert_int_equal(mds_reader_begin(r), 0);
		got = mds_list_stream(r, tu_s("data"), MDS_STR_NULL, (struct mds_str){ c.last, c.last_len },
				      1 + rnd() % 100, stream_emit, &c, &st);
		mds_reader_end(r);
		assert_true(got >= 0);
	} while (got > 0);
	assert_int_equal(c.i, m->n);
}

static void test_model(void **state)
{
	char dir[256];
	struct mds_store *s;
	struct mds_reader *r;
	struct mds_status st;
	struct model m = { 0 };
	const char *env = getenv("MDS_TEST_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	int rounds = 60, per_round = 60;
	static char names[64][MDS_OBJECT_NAME_MAX];

	(void)state;
	printf("model test seed %u (replay with MDS_TEST_SEED=%u)\n", seed, seed);
	rng_state = seed * 2654435761ull + 1;
	for (size_t i = 0; i < sizeof(long_base); i++)
		long_base[i] = "abc/\xc3\xa9"[i % 4 == 3 && i % 7 == 0 ? 3 : i % 3];
	tu_tmpdir(dir);
	assert_int_equal(mds_store_open(&s, dir, NULL, &st), 0);
	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(tu_team(s, "t"), 0);
	assert_int_equal(tu_bucket(s, "data", "t"), 0);

	for (int round = 0; round < rounds; round++) {
		struct batch_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, per_round };
		static struct mds_op ops[64];
		int expect_rc[64];

		for (int i = 0; i < per_round; i++) {
			size_t len;
			int del = m.n > 0 && rnd() % 3 == 0;

			if (del && rnd() % 2) {
				struct name *pick = m.v[rnd() % m.n];

				len = pick->len;
				memcpy(names[i], pick->p, len);
			} else {
				len = random_name(names[i]);
			}
			mds_op_init(&ops[i], del ? MDS_OP_OBJECT_DELETE : MDS_OP_OBJECT_PUT);
			ops[i].bucket = tu_s("data");
			ops[i].name = (struct mds_str){ names[i], len };
			ops[i].obj.size = rnd() % 100000;
			ops[i].done = batch_done;
			ops[i].user = &w;
			/* The model applies in queue order, as the writer does. */
			if (del)
				expect_rc[i] = model_del(&m, names[i], len) ? 0 : MDS_ENOTFOUND;
			else {
				model_put(&m, names[i], len, ops[i].obj.size);
				expect_rc[i] = 0;
			}
			assert_int_equal(mds_store_submit(s, &ops[i]), 0);
		}
		pthread_mutex_lock(&w.mu);
		while (w.left)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		for (int i = 0; i < per_round; i++)
			assert_int_equal(ops[i].status.code, expect_rc[i]);
		for (int k = 0; k < 25; k++)
			check_listing(r, &m, seed);
		if (round % 10 == 9) {
			check_stream(r, &m);
			assert_int_equal(tu_check(s), 0);
		}
	}
	printf("model: %d ops, %zu names at the end\n", rounds * per_round, m.n);
	for (size_t i = 0; i < m.n; i++)
		free(m.v[i]);
	free(m.v);
	mds_reader_close(r);
	mds_store_close(s);
	tu_rmrf(dir);
}

/* ---- fixed cases -------------------------------------------------------------- */

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
	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "data", "t"), 0);
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

struct names_out {
	char s[64][80];
	int is_prefix[64];
	int n;
};

static int names_emit(void *arg, const struct mds_list_entry *e)
{
	struct names_out *o = arg;

	snprintf(o->s[o->n], 80, "%.*s", (int)e->name.len, e->name.p);
	o->is_prefix[o->n++] = e->is_prefix;
	return 0;
}

static int list_simple(struct fx *f, struct mds_list_params *p, struct names_out *o,
		       struct mds_list_result *res, struct mds_status *st)
{
	int rc;

	memset(o, 0, sizeof(*o));
	p->bucket = tu_s("data");
	assert_int_equal(mds_reader_begin(f->r), 0);
	rc = mds_list(f->r, p, names_emit, o, res, st);
	mds_reader_end(f->r);
	return rc;
}

static void test_s3_semantics(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d" };
	struct mds_list_params p = { 0 };
	struct mds_list_result res;
	struct mds_status st;
	struct names_out o;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(tu_put(f->s, "data", tu_s(names[i]), 1, NULL), 0);

	/* Keys and common prefixes interleave and both count against max-keys. */
	p.delimiter = tu_s("/");
	p.max_keys = 3;
	assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.s[0], "a/");
	assert_true(o.is_prefix[0]);
	assert_string_equal(o.s[1], "b");
	assert_false(o.is_prefix[1]);
	assert_string_equal(o.s[2], "c/");
	assert_true(res.truncated);
	{
		char tok[MDS_LIST_TOKEN_MAX + 1];

		strcpy(tok, res.next_token);
		p.token = tu_s(tok);
		assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
		assert_int_equal(o.n, 1);
		assert_string_equal(o.s[0], "d");
		assert_false(res.truncated);
		assert_string_equal(res.next_token, "");

		/* The token is bound to its listing. */
		p.prefix = tu_s("a/");
		assert_int_equal(list_simple(f, &p, &o, &res, &st), MDS_EINVAL);
		assert_non_null(strstr(st.msg, "another"));
		p.prefix = MDS_STR_NULL;
		tok[3] ^= 1;
		assert_int_equal(list_simple(f, &p, &o, &res, &st), MDS_EINVAL);
		p.token = tu_s("not a token!");
		assert_int_equal(list_simple(f, &p, &o, &res, &st), MDS_EINVAL);
		assert_non_null(strstr(st.msg, "token"));
	}
	p.token = MDS_STR_NULL;

	/* start-after inside a rolled-up prefix still yields that prefix. */
	p.max_keys = -1;
	p.start_after = tu_s("a/1");
	assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
	assert_int_equal(o.n, 4);
	assert_string_equal(o.s[0], "a/");

	/* Prefix and delimiter together. */
	p.start_after = MDS_STR_NULL;
	p.prefix = tu_s("a/");
	assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.s[0], "a/1");
	assert_string_equal(o.s[1], "a/2");
	assert_string_equal(o.s[2], "a/b/");

	/* max-keys 0 returns nothing; above the cap is capped. */
	p.prefix = MDS_STR_NULL;
	p.max_keys = 0;
	assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
	assert_int_equal(o.n, 0);
	assert_false(res.truncated);
	p.max_keys = 1001;
	assert_int_equal(list_simple(f, &p, &o, &res, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "cap of 1000"));
	p.style = MDS_LIST_AZURE;
	p.max_keys = 5000;
	assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
	assert_int_equal(o.n, 4);
	p.style = MDS_LIST_S3;

	/* A multi-byte delimiter. */
	p.delimiter = tu_s("/2");
	p.max_keys = -1;
	assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
	assert_int_equal(o.n, 7);
	assert_string_equal(o.s[1], "a/2");
	assert_true(o.is_prefix[1]);
	assert_string_equal(o.s[5], "c/2");
	assert_true(o.is_prefix[5]);

	p.bucket = tu_s("nosuch");
	assert_int_equal(mds_reader_begin(f->r), 0);
	assert_int_equal(mds_list(f->r, &p, names_emit, &o, &res, &st), MDS_ENOTFOUND);
	mds_reader_end(f->r);
	p.prefix = tu_s("\xff");
	assert_int_equal(list_simple(f, &p, &o, &res, &st), MDS_EINVAL);
}

/*
 * A roll-up must jump over the subtree: with many objects under "a/" and
 * one "b", a delimiter listing makes a handful of LMDB calls, not one per
 * object. The failure-injection counter counts calls when armed far away.
 */
static void test_rollup_is_cheap(void **state)
{
	struct fx *f = *state;
	struct batch_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	static struct mds_op ops[5000];
	static char names[5000][16];
	struct mds_list_params p = { 0 };
	struct mds_list_result res;
	struct mds_status st;
	struct names_out o;
	unsigned long calls;

	w.left = 5000;
	for (int i = 0; i < 5000; i++) {
		snprintf(names[i], sizeof(names[i]), "a/%06d", i);
		mds_op_init(&ops[i], MDS_OP_OBJECT_PUT);
		ops[i].bucket = tu_s("data");
		ops[i].name = tu_s(names[i]);
		ops[i].done = batch_done;
		ops[i].user = &w;
		assert_int_equal(mds_store_submit(f->s, &ops[i]), 0);
	}
	pthread_mutex_lock(&w.mu);
	while (w.left)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(ops[i].status.code, 0);
	assert_int_equal(tu_put(f->s, "data", tu_s("b"), 1, NULL), 0);

	p.delimiter = tu_s("/");
	p.max_keys = -1;
	mds_store_fault_arm(ULONG_MAX, 0);
	assert_int_equal(list_simple(f, &p, &o, &res, &st), 0);
	calls = mds_store_fault_calls();
	if (o.n != 2)
		fprintf(stderr, "got %d results: %s\n", o.n, st.msg);
	mds_store_fault_arm(0, 0);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.s[0], "a/");
	assert_string_equal(o.s[1], "b");
	printf("delimiter listing over 5001 objects: %lu lmdb calls\n", calls);
	assert_true(calls < 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_s3_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollup_is_cheap, setup, teardown),
		cmocka_unit_test(test_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
