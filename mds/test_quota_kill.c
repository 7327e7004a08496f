/*
 * test_quota_kill.c - SIGKILL between reserve and commit leaks nothing.
 *
 * A child process runs clients that reserve bytes (short TTL), then commit
 * or release them, reporting every acknowledgement on a pipe. The parent
 * kills it with SIGKILL at a random moment, reopens the store and checks:
 * every acknowledged reservation that was not being converted is still
 * held (reservations are durable); once their TTL has passed, the sweeper
 * gives everything back, so the full remaining limit can be reserved
 * again; acknowledged commits are present; counters equal a recount.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "test_quota_util.h"

#define ROUNDS 3
#define CHILD_THREADS 4
#define TTL_NS (700ull * 1000000ull)
#define LIMIT 100000000ull

struct child {
	struct mds_store *s;
	int round, id, fd;
};

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(int fd, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(fd, line, (size_t)n) != n)
		_exit(3);
}

static void *child_thread(void *arg)
{
	struct child *c = arg;

	for (unsigned i = 0;; i++) {
		char tok[MDS_RESERVATION_TOKEN_LEN + 1], name[48];
		uint64_t bytes = 1000 + i;

		snprintf(name, sizeof(name), "r%d/t%d/%06u", c->round, c->id, i);
		if (tq_reserve(c->s, "data", name, bytes, TTL_NS, tok, NULL))
			_exit(4);
		say(c->fd, "R %s %llu\n", tok, (unsigned long long)bytes);
		/* Announce the conversion before submitting it: from here the
		 * parent accepts the reservation either held or converted. */
		say(c->fd, "c %s\n", tok);
		if (i % 3 == 0) {
			if (tq_release(c->s, tok))
				_exit(5);
			say(c->fd, "D %s\n", tok);
		} else {
			if (tq_commit(c->s, tok, "data", name, bytes / 2, NULL))
				_exit(6);
			say(c->fd, "C %s %s\n", tok, name);
		}
	}
	return NULL;
}

static void child_main(const char *dir, int round, int fd)
{
	struct child c[CHILD_THREADS];
	pthread_t th[CHILD_THREADS];
	struct mds_store *s;
	struct mds_status st;

	if (mds_store_open(&s, dir, NULL, &st))
		_exit(2);
	for (int i = 0; i < CHILD_THREADS; i++) {
		c[i] = (struct child){ .s = s, .round = round, .id = i, .fd = fd };
		pthread_create(&th[i], NULL, child_thread, &c[i]);
	}
	for (;;)
		pause();
}

struct tok {
	char tok[MDS_RESERVATION_TOKEN_LEN + 1];
	char name[48];
	uint64_t bytes;
	int state;   /* 0 reserved, 1 conversion announced, 2 released, 3 committed */
};

static struct tok *tok_find(struct tok *v, size_t n, const char *t)
{
	for (size_t i = n; i-- > 0;)
		if (strcmp(v[i].tok, t) == 0)
			return &v[i];
	return NULL;
}

static void test_sigkill_between_reserve_and_commit(void **state)
{
	static struct tok toks[200000];
	unsigned seed = (unsigned)time(NULL);
	struct mds_store *s;
	struct mds_status st;
	char dir[256];

	(void)state;
	srand(seed);
	printf("quota kill seed %u\n", seed);
	tu_tmpdir(dir);
	assert_int_equal(mds_store_open(&s, dir, NULL, &st), 0);
	assert_int_equal(tu_team(s, "t"), 0);
	assert_int_equal(tu_bucket(s, "data", "t"), 0);
	assert_int_equal(tq_max_bytes(s, "bucket/data", LIMIT), 0);
	assert_int_equal(tq_max_bytes(s, "prefix/data/r1/", LIMIT), 0);
	mds_store_close(s);

	for (int round = 0; round < ROUNDS; round++) {
		struct mds_quota_sweeper *sw;
		struct mds_quota_info qi;
		uint64_t held = 0, maybe = 0, n_held = 0, n_maybe = 0;
		char buf[65536], line[160];
		size_t n = 0, ll = 0, committed = 0;
		struct timespec ts = { 0, (30 + rand() % 200) * 1000000L };
		char tok[MDS_RESERVATION_TOKEN_LEN + 1];
		int fds[2], wst;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_main(dir, round, fds[1]);
		}
		close(fds[1]);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &wst, 0), pid);
		assert_true(WIFSIGNALED(wst));
		for (;;) {
			ssize_t got = read(fds[0], buf, sizeof(buf));

			if (got <= 0)
				break;
			for (ssize_t i = 0; i < got; i++) {
				struct tok *t;
				char a[33], b[48];
				unsigned long long x;

				if (buf[i] != '\n') {
					line[ll++] = buf[i];
					continue;
				}
				line[ll] = 0;
				ll = 0;
				if (line[0] == 'R') {
					assert_int_equal(sscanf(line, "R %32s %llu", a, &x), 2);
					t = &toks[n++];
					snprintf(t->tok, sizeof(t->tok), "%s", a);
					t->bytes = x;
					t->state = 0;
					continue;
				}
				assert_int_equal(sscanf(line + 2, "%32s %47s", a, b) >= 1, 1);
				t = tok_find(toks, n, a);
				assert_non_null(t);
				t->state = line[0] == 'c' ? 1 : line[0] == 'D' ? 2 : 3;
				if (line[0] == 'C')
					snprintf(t->name, sizeof(t->name), "%s", b);
			}
		}
		close(fds[0]);

		assert_int_equal(mds_store_open(&s, dir, NULL, &st), 0);
		assert_int_equal(tq_check(s), 0);
		for (size_t i = 0; i < n; i++) {
			if (toks[i].state == 0) {
				held += toks[i].bytes;
				n_held++;
			} else if (toks[i].state == 1) {
				maybe += toks[i].bytes;
				n_maybe++;
			}
			else if (toks[i].state == 3)
				committed++;
		}
		/* Acknowledged reservations survived the kill (their TTL has not passed). */
		assert_int_equal(tq_usage(s, "bucket/data", &qi), 0);
		printf("round %d: %zu reservations acknowledged, %zu committed, %llu bytes held at the kill\n",
		       round, n, committed, (unsigned long long)qi.reserved_bytes);
		assert_true(qi.reserved_bytes >= held);
		assert_true(qi.reserved_objects >= n_held);
		/* Plus at most one reserve per client thread durable but not yet acknowledged. */
		assert_true(qi.reserved_objects <= n_held + n_maybe + CHILD_THREADS);
		for (size_t i = 0; i < n; i++) {
			struct mds_reader *r;
			struct mds_object o;

			if (toks[i].state != 3)
				continue;
			assert_int_equal(mds_reader_open(s, &r), 0);
			assert_int_equal(mds_reader_begin(r), 0);
			assert_int_equal(mds_object_head(r, tu_s("data"), tu_s(toks[i].name), &o, &st), 0);
			assert_int_equal(o.size, toks[i].bytes / 2);
			mds_reader_close(r);
		}
		/* After the TTL the sweeper gives everything back. */
		assert_int_equal(mds_quota_sweeper_start(s, 20, &sw), 0);
		for (int i = 0; i < 400; i++) {
			assert_int_equal(tq_usage(s, "bucket/data", &qi), 0);
			if (qi.reserved_bytes == 0)
				break;
			usleep(10000);
		}
		mds_quota_sweeper_stop(sw);
		assert_int_equal(qi.reserved_bytes, 0);
		assert_int_equal(qi.reserved_objects, 0);
		assert_int_equal(tq_check(s), 0);
		for (size_t i = 0; i < n; i++)
			if (toks[i].state == 0)
				assert_int_equal(tq_release(s, toks[i].tok), MDS_ENOTFOUND);
		/* Nothing leaked: the whole rest of the limit can be reserved. */
		assert_int_equal(tq_reserve(s, "data", "r1/all", LIMIT - qi.used_bytes, TTL_NS, tok, &st), 0);
		assert_int_equal(tq_reserve(s, "data", "r1/one-more", 1, TTL_NS, tok, &st), MDS_EQUOTA);
		assert_int_equal(tq_sweep(s, 0, NULL), 0);
		mds_store_close(s);
		assert_int_equal(mds_store_open(&s, dir, NULL, &st), 0);
		/* Let the full reservation expire so the next round starts clean. */
		for (int i = 0; i < 400; i++) {
			uint64_t released;

			assert_int_equal(tq_sweep(s, 0, &released), 0);
			if (released)
				break;
			usleep(10000);
		}
		assert_int_equal(tq_usage(s, "bucket/data", &qi), 0);
		assert_int_equal(qi.reserved_bytes, 0);
		mds_store_close(s);
	}
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_between_reserve_and_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
