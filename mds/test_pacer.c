/*
 * test_pacer.c - refusal pacing's queue: items come out no earlier than
 * their time and in time order, a full pacer refuses (the caller answers
 * at once), flush releases everything at once and refuses later holds,
 * stop releases what is left exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "rpc_pacer.h"

struct rec {
	pthread_mutex_t mu;
	int order[64];
	uint64_t at[64];
	int n;
};

struct item {
	int id;
	uint64_t due;
	int released;
};

static void on_release(void *it, void *arg)
{
	struct item *i = it;
	struct rec *r = arg;

	pthread_mutex_lock(&r->mu);
	i->released++;
	r->order[r->n] = i->id;
	r->at[r->n] = mds_pacer_now_ns();
	r->n++;
	pthread_mutex_unlock(&r->mu);
}

static int released(struct rec *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* Poll until @want items were released or 5 s passed. */
static void wait_for(struct rec *r, int want)
{
	uint64_t end = mds_pacer_now_ns() + 5000000000u;
	struct timespec ts = { 0, 1000000 };

	while (released(r) < want && mds_pacer_now_ns() < end)
		nanosleep(&ts, NULL);
}

static void test_order_and_time(void **state)
{
	struct rec r = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct item it[4];
	struct mds_pacer *p = NULL;
	uint64_t now = mds_pacer_now_ns();
	static const int delays_ms[4] = { 40, 10, 30, 20 };

	(void)state;
	assert_int_equal(mds_pacer_start(&p, 3, on_release, &r), 0);
	for (int i = 0; i < 3; i++) {
		it[i] = (struct item){ i, now + (uint64_t)delays_ms[i] * 1000000u, 0 };
		assert_int_equal(mds_pacer_hold(p, &it[i], it[i].due), 0);
	}
	/* full: the caller keeps the item and answers it itself */
	it[3] = (struct item){ 3, now + 20000000u, 0 };
	assert_int_equal(mds_pacer_hold(p, &it[3], it[3].due), MDS_EBUSY);
	wait_for(&r, 3);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.order[0], 1);   /* 10 ms */
	assert_int_equal(r.order[1], 2);   /* 30 ms */
	assert_int_equal(r.order[2], 0);   /* 40 ms */
	for (int k = 0; k < 3; k++)
		assert_true(r.at[k] >= it[r.order[k]].due);
	assert_int_equal(mds_pacer_held(p), 0);
	mds_pacer_stop(p);
	for (int i = 0; i < 3; i++)
		assert_int_equal(it[i].released, 1);
	assert_int_equal(it[3].released, 0);
}

static void test_flush_and_stop(void **state)
{
	struct rec r = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct item a = { 1, 0, 0 }, b = { 2, 0, 0 }, c = { 3, 0, 0 };
	struct mds_pacer *p = NULL;
	uint64_t now = mds_pacer_now_ns();

	(void)state;
	assert_int_equal(mds_pacer_start(&p, 8, on_release, &r), 0);
	assert_int_equal(mds_pacer_hold(p, &a, now + 60000000000u), 0);   /* a minute */
	assert_int_equal(mds_pacer_held(p), 1);
	mds_pacer_flush(p);
	wait_for(&r, 1);
	assert_int_equal(a.released, 1);
	assert_true(r.at[0] - now < 5000000000u);     /* not after its minute */
	assert_int_equal(mds_pacer_hold(p, &b, now), MDS_EBUSY);
	mds_pacer_stop(p);
	assert_int_equal(b.released, 0);

	/* stop alone releases what is still held, exactly once */
	r.n = 0;
	assert_int_equal(mds_pacer_start(&p, 8, on_release, &r), 0);
	assert_int_equal(mds_pacer_hold(p, &c, mds_pacer_now_ns() + 60000000000u), 0);
	mds_pacer_stop(p);
	assert_int_equal(c.released, 1);
	assert_int_equal(mds_pacer_hold(NULL, &c, 0), MDS_EBUSY);
	assert_int_equal(mds_pacer_start(&p, 0, on_release, &r), MDS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_time),
		cmocka_unit_test(test_flush_and_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
