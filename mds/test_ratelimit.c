/*
 * test_ratelimit.c - token buckets with an injected clock: burst, refill,
 * retry-after, per-class and per-team isolation, exactness under threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "ratelimit.h"
#include "testutil.h"

#define MS 1000000ull

static void test_burst_refill_retry_after(void **state)
{
	struct mds_ratelimit *rl;
	struct mds_rate_limit lim[MDS_RATE__COUNT] = { { 10, 5 }, { 0, 0 }, { 1, 1 } };
	struct mds_status st;
	uint32_t ra = 0;
	uint64_t t = 1000 * MS;

	(void)state;
	assert_int_equal(mds_ratelimit_new(&rl, NULL), 0);
	assert_int_equal(mds_ratelimit_set(rl, tu_s("ml"), lim, &st), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_READ, t, &ra, &st), 0);
	assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_READ, t, &ra, &st), MDS_ERATE);
	assert_int_equal(ra, 100);   /* 10/s: the next token in 100 ms */
	assert_non_null(strstr(st.msg, "team 'ml'"));
	assert_non_null(strstr(st.msg, "read rate of 10/s"));
	assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_READ, t + 99 * MS, &ra, &st), MDS_ERATE);
	assert_int_equal(ra, 1);
	assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_READ, t + 100 * MS, &ra, &st), 0);
	/* A long pause refills only up to the burst. */
	t += 3600000 * MS;
	for (int i = 0; i < 5; i++)
		assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_READ, t, &ra, &st), 0);
	assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_READ, t, &ra, &st), MDS_ERATE);
	/* Classes are separate; rate 0 means unlimited. */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_WRITE, t, &ra, &st), 0);
	assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_LIST, t, &ra, &st), 0);
	assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_LIST, t, &ra, &st), MDS_ERATE);
	assert_int_equal(ra, 1000);
	/* A clock that goes backwards gives nothing away. */
	assert_int_equal(mds_ratelimit_take(rl, tu_s("ml"), MDS_RATE_LIST, t - 5000 * MS, &ra, &st), MDS_ERATE);
	/* Other teams have the defaults (none: unlimited). */
	for (int i = 0; i < 100; i++)
		assert_int_equal(mds_ratelimit_take(rl, tu_s("vision"), MDS_RATE_READ, t, &ra, &st), 0);
	mds_ratelimit_free(rl);
}

static void test_bad_limits(void **state)
{
	struct mds_ratelimit *rl;
	struct mds_rate_limit neg[MDS_RATE__COUNT] = { { -1, 5 }, { 0, 0 }, { 0, 0 } };
	struct mds_rate_limit noburst[MDS_RATE__COUNT] = { { 5, 0 }, { 0, 0 }, { 0, 0 } };
	struct mds_status st;

	(void)state;
	assert_int_equal(mds_ratelimit_new(&rl, NULL), 0);
	assert_int_equal(mds_ratelimit_set(rl, tu_s("ml"), neg, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "read rate"));
	assert_int_equal(mds_ratelimit_set(rl, tu_s("ml"), noburst, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "burst"));
	assert_int_equal(mds_ratelimit_set(rl, tu_s("Bad"), noburst, &st), MDS_EINVAL);
	mds_ratelimit_free(rl);
}

struct racer {
	struct mds_ratelimit *rl;
	const char *team;
	int granted;
};

static void *race_main(void *arg)
{
	struct racer *r = arg;
	struct mds_status st;
	uint32_t ra;

	for (int i = 0; i < 20000; i++)
		if (mds_ratelimit_take(r->rl, tu_s(r->team), MDS_RATE_WRITE, 42 * MS, &ra, &st) == 0)
			r->granted++;
	return NULL;
}

/* Many threads at one instant: exactly the burst is granted, per team. */
static void test_exact_under_threads(void **state)
{
	struct mds_rate_limit def[MDS_RATE__COUNT] = { { 0, 0 }, { 1, 777 }, { 0, 0 } };
	struct mds_ratelimit *rl;
	pthread_t th[8];
	struct racer r[8];
	int a = 0, b = 0;

	(void)state;
	assert_int_equal(mds_ratelimit_new(&rl, def), 0);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){ rl, i % 2 ? "flood" : "quiet", 0 };
		pthread_create(&th[i], NULL, race_main, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		if (i % 2)
			a += r[i].granted;
		else
			b += r[i].granted;
	}
	assert_int_equal(a, 777);
	assert_int_equal(b, 777);
	mds_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_refill_retry_after),
		cmocka_unit_test(test_bad_limits),
		cmocka_unit_test(test_exact_under_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
