/*
 * test_quota_race.c - 64 concurrent clients race puts (and, per test,
 * reservations, commits, releases, overwrites and deletes) of random sizes
 * into nested scopes a few objects away from their hard limits.
 *
 * Every op's completion is logged in the order the writer applied it (the
 * writer completes a batch's ops in apply order, batches one after
 * another). A model then replays the log: an op must have been accepted
 * exactly when it fit at its point in that order. Finally usage never
 * exceeds a limit, the model's counters equal the store's, and the store's
 * counters equal a recount (mds_check + mds_quota_check).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <time.h>

#include "test_quota_util.h"

#define CLIENTS 64
#define OPS_PER_CLIENT 40
#define MAX_OWNED 64
#define NSCOPES 4

/* cmocka's asserts must not run off the main thread. */
#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

enum { M_PUTS = 1, M_RESERVE = 2, M_MUTATE = 4, M_NEAR = 8 };

static const char *const scope_names[NSCOPES] = { "team/t", "bucket/data", "prefix/data/a/",
						  "prefix/data/a/b/" };
static const uint64_t max_bytes[NSCOPES] = { 120000, 100000, 60000, 30000 };
static const uint64_t max_objects[NSCOPES] = { 150, UINT64_MAX, 80, 40 };

struct entry {
	int kind;
	char bucket[8];
	char name[40];
	uint64_t size;       /* put / commit: object size; reserve: bytes */
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];
	int rc;
	char msg[MDS_STATUS_MSG_MAX];
};

static struct {
	pthread_mutex_t mu;
	struct entry *v;
	size_t n, cap;
} g_log = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };

struct client {
	struct mds_store *s;
	int id, mode;
	unsigned seed;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	struct entry cur;
	struct { char bucket[8]; char name[40]; } owned[MAX_OWNED];
	int n_owned;
	struct { char tok[MDS_RESERVATION_TOKEN_LEN + 1]; char name[40]; uint64_t bytes; } pend[8];
	int n_pend;
};

struct cop {
	struct mds_op op;
	struct client *c;
};

static void op_done(struct mds_op *op)
{
	struct cop *co = (struct cop *)op;
	struct client *c = co->c;

	c->cur.rc = op->status.code;
	snprintf(c->cur.msg, sizeof(c->cur.msg), "%s", op->status.msg);
	pthread_mutex_lock(&g_log.mu);
	CHECK(g_log.n < g_log.cap);
	g_log.v[g_log.n++] = c->cur;
	pthread_mutex_unlock(&g_log.mu);
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Submits the op described by c->cur and waits for it. */
static int run(struct client *c)
{
	struct cop co;

	mds_op_init(&co.op, c->cur.kind);
	co.c = c;
	co.op.bucket = tu_s(c->cur.bucket);
	co.op.name = tu_s(c->cur.name);
	co.op.obj.size = c->cur.size;
	co.op.reservation = tu_s(c->cur.tok);
	co.op.reserve_bytes = c->cur.size;
	co.op.reserve_objects = 1;
	co.op.reserve_ttl_ns = 3600ull * 1000000000ull;
	co.op.done = op_done;
	c->done = 0;
	CHECK(mds_store_submit(c->s, &co.op) == 0);
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	return c->cur.rc;
}

static void new_name(struct client *c, int i, char bucket[8], char name[40])
{
	static const char *const pfx[] = { "a/b/", "a/", "c/", "a/b/c/", "a/bb/" };
	unsigned r = (unsigned)rand_r(&c->seed) % 6;

	snprintf(bucket, 8, "%s", r == 5 ? "side" : "data");
	snprintf(name, 40, "%sc%02d-%03d", pfx[r % 5], c->id, i);
}

static void *client_main(void *arg)
{
	struct client *c = arg;

	for (int i = 0; i < OPS_PER_CLIENT; i++) {
		unsigned r = (unsigned)rand_r(&c->seed) % 100;

		memset(&c->cur, 0, sizeof(c->cur));
		if ((c->mode & M_RESERVE) && c->n_pend && r < 30) {
			/* Commit (sometimes above the reservation) or release. */
			int k = (int)((unsigned)rand_r(&c->seed) % (unsigned)c->n_pend);
			int commit = rand_r(&c->seed) % 4 != 0;

			snprintf(c->cur.tok, sizeof(c->cur.tok), "%s", c->pend[k].tok);
			snprintf(c->cur.bucket, 8, "data");
			memcpy(c->cur.name, c->pend[k].name, 40);
			c->cur.kind = commit ? MDS_OP_RESERVE_COMMIT : MDS_OP_RESERVE_RELEASE;
			c->cur.size = c->pend[k].bytes * (50 + (unsigned)rand_r(&c->seed) % 70) / 100;
			if (run(c) == 0 || !commit) {
				if (commit && c->n_owned < MAX_OWNED) {
					snprintf(c->owned[c->n_owned].bucket, 8, "data");
					memcpy(c->owned[c->n_owned++].name, c->pend[k].name, 40);
				}
				c->pend[k] = c->pend[--c->n_pend];
			}
			continue;
		}
		if ((c->mode & M_RESERVE) && r < 50 && c->n_pend < 8) {
			char bucket[8];

			new_name(c, i, bucket, c->cur.name);
			snprintf(c->cur.bucket, 8, "data");
			c->cur.kind = MDS_OP_RESERVE;
			c->cur.size = 1 + (unsigned)rand_r(&c->seed) % 3000;
			CHECK(mds_quota_token_new(c->cur.tok) == 0);
			if (run(c) == 0) {
				snprintf(c->pend[c->n_pend].tok, sizeof(c->pend[0].tok), "%s", c->cur.tok);
				memcpy(c->pend[c->n_pend].name, c->cur.name, 40);
				c->pend[c->n_pend++].bytes = c->cur.size;
			}
			continue;
		}
		if ((c->mode & M_MUTATE) && c->n_owned && r < 80) {
			int k = (int)((unsigned)rand_r(&c->seed) % (unsigned)c->n_owned);

			snprintf(c->cur.bucket, 8, "%s", c->owned[k].bucket);
			memcpy(c->cur.name, c->owned[k].name, 40);
			if (r < 65) {
				c->cur.kind = MDS_OP_OBJECT_PUT;
				c->cur.size = (unsigned)rand_r(&c->seed) % 3000;
				run(c);
			} else {
				c->cur.kind = MDS_OP_OBJECT_DELETE;
				CHECK(run(c) == 0);
				c->owned[k] = c->owned[--c->n_owned];
			}
			continue;
		}
		c->cur.kind = MDS_OP_OBJECT_PUT;
		new_name(c, i, c->cur.bucket, c->cur.name);
		c->cur.size = (unsigned)rand_r(&c->seed) % 3000;
		if (run(c) == 0 && c->n_owned < MAX_OWNED) {
			snprintf(c->owned[c->n_owned].bucket, 8, "%s", c->cur.bucket);
			memcpy(c->owned[c->n_owned++].name, c->cur.name, 40);
		}
	}
	return NULL;
}

/* ---- the model ------------------------------------------------------------------ */

struct mobj {
	char key[48];
	uint64_t size;
};

struct mres {
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];
	unsigned mask;
	uint64_t bytes;
};

struct model {
	uint64_t used_b[NSCOPES], used_o[NSCOPES], res_b[NSCOPES], res_o[NSCOPES];
	struct mobj *objs;
	size_t n_objs;
	struct mres *res;
	size_t n_res;
};

static unsigned cover_mask(const char *bucket, const char *name)
{
	unsigned m = 1;

	if (strcmp(bucket, "data") == 0) {
		m |= 2;
		if (strncmp(name, "a/", 2) == 0)
			m |= 4;
		if (strncmp(name, "a/b/", 4) == 0)
			m |= 8;
	}
	return m;
}

static struct mobj *mobj_find(struct model *m, const char *bucket, const char *name)
{
	char key[48];

	snprintf(key, sizeof(key), "%s:%s", bucket, name);
	for (size_t i = 0; i < m->n_objs; i++)
		if (strcmp(m->objs[i].key, key) == 0)
			return &m->objs[i];
	return NULL;
}

static struct mres *mres_find(struct model *m, const char *tok)
{
	for (size_t i = 0; i < m->n_res; i++)
		if (strcmp(m->res[i].tok, tok) == 0)
			return &m->res[i];
	return NULL;
}

/* 1 if growth (db, dob) fits every scope in @mask; @credit_mask scopes may grow by cb/co unchecked. */
static int fits(const struct model *m, unsigned mask, int64_t db, int64_t dob, unsigned credit_mask,
		uint64_t cb, uint64_t co)
{
	for (int s = 0; s < NSCOPES; s++) {
		int credited = (credit_mask >> s) & 1;

		if (!((mask >> s) & 1))
			continue;
		if (db > 0 && !(credited && (uint64_t)db <= cb) &&
		    m->used_b[s] + m->res_b[s] + (uint64_t)db > max_bytes[s])
			return 0;
		if (dob > 0 && !(credited && (uint64_t)dob <= co) && max_objects[s] != UINT64_MAX &&
		    m->used_o[s] + m->res_o[s] + (uint64_t)dob > max_objects[s])
			return 0;
	}
	return 1;
}

static void charge(struct model *m, unsigned mask, int64_t db, int64_t dob, int64_t rb, int64_t ro)
{
	for (int s = 0; s < NSCOPES; s++) {
		if (!((mask >> s) & 1))
			continue;
		m->used_b[s] += (uint64_t)db;
		m->used_o[s] += (uint64_t)dob;
		m->res_b[s] += (uint64_t)rb;
		m->res_o[s] += (uint64_t)ro;
	}
}

/* Applies a put to the model if it fits; returns the expected result. */
static int model_put(struct model *m, const struct entry *e, unsigned credit_mask, uint64_t cb)
{
	struct mobj *o = mobj_find(m, e->bucket, e->name);
	unsigned mask = cover_mask(e->bucket, e->name);
	int64_t db = (int64_t)e->size - (o ? (int64_t)o->size : 0), dob = o ? 0 : 1;

	if (!fits(m, mask, db, dob, credit_mask, cb, credit_mask ? 1 : 0))
		return MDS_EQUOTA;
	charge(m, mask, db, dob, 0, 0);
	if (o) {
		o->size = e->size;
	} else {
		o = &m->objs[m->n_objs++];
		snprintf(o->key, sizeof(o->key), "%s:%s", e->bucket, e->name);
		o->size = e->size;
	}
	return 0;
}

static int model_apply(struct model *m, const struct entry *e)
{
	struct mobj *o;
	struct mres *r;
	unsigned mask = cover_mask(e->bucket, e->name);
	int rc;

	switch (e->kind) {
	case MDS_OP_OBJECT_PUT:
		return model_put(m, e, 0, 0);
	case MDS_OP_OBJECT_DELETE:
		o = mobj_find(m, e->bucket, e->name);
		if (!o)
			return MDS_ENOTFOUND;
		charge(m, mask, -(int64_t)o->size, -1, 0, 0);
		*o = m->objs[--m->n_objs];
		return 0;
	case MDS_OP_RESERVE:
		if (!fits(m, mask, (int64_t)e->size, 1, 0, 0, 0))
			return MDS_EQUOTA;
		charge(m, mask, 0, 0, (int64_t)e->size, 1);
		r = &m->res[m->n_res++];
		snprintf(r->tok, sizeof(r->tok), "%s", e->tok);
		r->mask = mask;
		r->bytes = e->size;
		return 0;
	case MDS_OP_RESERVE_RELEASE:
	case MDS_OP_RESERVE_COMMIT:
		r = mres_find(m, e->tok);
		if (!r)
			return MDS_ENOTFOUND;
		charge(m, r->mask, 0, 0, -(int64_t)r->bytes, -1);
		if (e->kind == MDS_OP_RESERVE_COMMIT) {
			rc = model_put(m, e, r->mask, r->bytes);
			if (rc) {
				charge(m, r->mask, 0, 0, (int64_t)r->bytes, 1);   /* rolled back */
				return rc;
			}
		}
		*r = m->res[--m->n_res];
		return 0;
	}
	return MDS_EINVAL;
}

/*
 * Fills every scope to about five average objects (and five objects) below
 * its limits with objects the clients never touch.
 */
static void prefill(struct mds_store *s)
{
	static const struct { const char *bucket, *fmt; int n; uint64_t size; } fill[] = {
		{ "data", "a/b/pre-%02d", 35, 643 },    /* a/b/: 22,505 of 30,000 bytes, 35 of 40 objects */
		{ "data", "a/pre-%02d", 40, 750 },      /* a/: 52,505 of 60,000, 75 of 80 */
		{ "data", "pre-%02d", 20, 2000 },       /* data: 92,505 of 100,000 */
		{ "side", "pre-%02d", 50, 400 },        /* t: 112,505 of 120,000, 145 of 150 */
	};
	char name[40];

	for (size_t k = 0; k < sizeof(fill) / sizeof(fill[0]); k++)
		for (int i = 0; i < fill[k].n; i++) {
			snprintf(name, sizeof(name), fill[k].fmt, i);
			assert_int_equal(tq_put(s, fill[k].bucket, name, fill[k].size, NULL), 0);
		}
}

static void race(int mode, unsigned seed)
{
	static struct client cl[CLIENTS];
	pthread_t th[CLIENTS];
	struct mds_store *s;
	struct mds_status st;
	struct mds_quota_info start[NSCOPES];
	struct model m;
	size_t accepted = 0, refused = 0;
	char dir[256];

	printf("race mode %d seed %u\n", mode, seed);
	tu_tmpdir(dir);
	assert_int_equal(mds_store_open(&s, dir, NULL, &st), 0);
	assert_int_equal(tu_team(s, "t"), 0);
	assert_int_equal(tu_bucket(s, "data", "t"), 0);
	assert_int_equal(tu_bucket(s, "side", "t"), 0);
	for (int i = 0; i < NSCOPES; i++)
		assert_int_equal(tq_set(s, scope_names[i],
					MDS_QUOTA_MAX_BYTES |
						(max_objects[i] != UINT64_MAX ? MDS_QUOTA_MAX_OBJECTS : 0),
					max_bytes[i], max_objects[i] != UINT64_MAX ? max_objects[i] : 0,
					0, 0, 0), 0);
	if (mode & M_NEAR)
		prefill(s);
	for (int i = 0; i < NSCOPES; i++)
		assert_int_equal(tq_usage(s, scope_names[i], &start[i]), 0);
	g_log.cap = CLIENTS * OPS_PER_CLIENT;
	g_log.n = 0;
	g_log.v = calloc(g_log.cap, sizeof(*g_log.v));
	for (int i = 0; i < CLIENTS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].s = s;
		cl[i].id = i;
		cl[i].mode = mode;
		cl[i].seed = seed * 131u + (unsigned)i;
		pthread_mutex_init(&cl[i].mu, NULL);
		pthread_cond_init(&cl[i].cv, NULL);
		assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
	}
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(g_log.n, CLIENTS * OPS_PER_CLIENT);

	/* Replay in commit order, from the usage the race started with. */
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < NSCOPES; i++) {
		m.used_b[i] = start[i].used_bytes;
		m.used_o[i] = start[i].used_objects;
	}
	m.objs = calloc(g_log.n, sizeof(*m.objs));
	m.res = calloc(g_log.n, sizeof(*m.res));
	for (size_t i = 0; i < g_log.n; i++) {
		const struct entry *e = &g_log.v[i];
		int want = model_apply(&m, e);

		if ((want == 0) != (e->rc == 0) || (want != 0 && want != e->rc)) {
			fprintf(stderr, "op %zu (kind %d %s:%s size %llu): store said %d '%s', model %d\n",
				i, e->kind, e->bucket, e->name, (unsigned long long)e->size, e->rc,
				e->msg, want);
			fail();
		}
		if (e->rc == 0)
			accepted++;
		else
			refused++;
	}
	printf("%zu ops accepted, %zu refused\n", accepted, refused);
	assert_true(refused > 20);                          /* the limits were hit */
	/* and work still went through (near the limits, any two puts fit) */
	assert_true(accepted >= ((mode & M_NEAR) ? 2 : 50));

	for (int i = 0; i < NSCOPES; i++) {
		struct mds_quota_info qi;

		assert_int_equal(tq_usage(s, scope_names[i], &qi), 0);
		assert_int_equal(qi.used_bytes, m.used_b[i]);
		assert_int_equal(qi.used_objects, m.used_o[i]);
		assert_int_equal(qi.reserved_bytes, m.res_b[i]);
		assert_int_equal(qi.reserved_objects, m.res_o[i]);
		assert_true(qi.used_bytes + qi.reserved_bytes <= max_bytes[i]);
		if (max_objects[i] != UINT64_MAX)
			assert_true(qi.used_objects + qi.reserved_objects <= max_objects[i]);
		printf("%s: %llu/%llu bytes used, %llu reserved\n", scope_names[i],
		       (unsigned long long)qi.used_bytes, (unsigned long long)max_bytes[i],
		       (unsigned long long)qi.reserved_bytes);
	}
	assert_int_equal(tq_check(s), 0);
	mds_store_close(s);
	for (int i = 0; i < CLIENTS; i++) {
		pthread_mutex_destroy(&cl[i].mu);
		pthread_cond_destroy(&cl[i].cv);
	}
	free(m.objs);
	free(m.res);
	free(g_log.v);
	g_log.v = NULL;
	tu_rmrf(dir);
}

static unsigned seed_of(void)
{
	const char *e = getenv("MDS_TEST_SEED");

	return e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
}

static void test_race_puts(void **state)
{
	(void)state;
	race(M_PUTS, seed_of());
}

static void test_race_puts_reservations(void **state)
{
	(void)state;
	race(M_PUTS | M_RESERVE, seed_of());
}

static void test_race_everything(void **state)
{
	(void)state;
	race(M_PUTS | M_RESERVE | M_MUTATE, seed_of());
}

static void test_race_near_limits_puts(void **state)
{
	(void)state;
	race(M_NEAR | M_PUTS, seed_of());
}

static void test_race_near_limits_everything(void **state)
{
	(void)state;
	race(M_NEAR | M_PUTS | M_RESERVE | M_MUTATE, seed_of());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_race_puts),
		cmocka_unit_test(test_race_puts_reservations),
		cmocka_unit_test(test_race_everything),
		cmocka_unit_test(test_race_near_limits_puts),
		cmocka_unit_test(test_race_near_limits_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
