/*
 * test_durability.c - acknowledged mutations survive SIGKILL.
 *
 * A child process opens the store and runs concurrent submitters that put
 * objects and delete some of them again; every acknowledgement (done()
 * with success, which comes only after the durable commit) is written to
 * a pipe. The parent kills the child with SIGKILL at a random moment,
 * again and again, and after each kill reopens the store and checks that
 * every acknowledged put is present with its size, every acknowledged
 * delete is gone, and usage counters equal a recount (mds_check).
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

#include "testutil.h"

#define ROUNDS 12
#define CHILD_THREADS 4
#define WINDOW 16

struct child_thread {
	struct mds_store *s;
	int round, id, fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight;
};

struct child_op {
	struct mds_op op;
	struct child_thread *ct;
	char name[48];
	int is_delete;
};

static void child_done(struct mds_op *op)
{
	struct child_op *co = (struct child_op *)op;
	struct child_thread *ct = co->ct;
	char line[96];
	int n;

	if (op->status.code == 0) {
		n = co->is_delete ? snprintf(line, sizeof(line), "D %s\n", co->name)
				  : snprintf(line, sizeof(line), "P %s %llu\n", co->name,
					     (unsigned long long)op->obj.size);
		if (write(ct->fd, line, (size_t)n) != n)
			_exit(3);
	}
	pthread_mutex_lock(&ct->mu);
	ct->inflight--;
	pthread_cond_signal(&ct->cv);
	pthread_mutex_unlock(&ct->mu);
	free(co);
}

static void *child_thread_main(void *arg)
{
	struct child_thread *ct = arg;

	for (unsigned i = 0;; i++) {
		struct child_op *co = calloc(1, sizeof(*co));

		pthread_mutex_lock(&ct->mu);
		while (ct->inflight >= WINDOW)
			pthread_cond_wait(&ct->cv, &ct->mu);
		ct->inflight++;
		pthread_mutex_unlock(&ct->mu);
		co->ct = ct;
		/* Every 5th op deletes the put made 21 ops earlier (acknowledged by
		 * then, since at most WINDOW ops are in flight). */
		co->is_delete = i >= 21 && i % 5 == 0;
		snprintf(co->name, sizeof(co->name), "r%02d/t%d/%07u", ct->round, ct->id,
			 co->is_delete ? i - 21 : i);
		mds_op_init(&co->op, co->is_delete ? MDS_OP_OBJECT_DELETE : MDS_OP_OBJECT_PUT);
		co->op.bucket = tu_s("data");
		co->op.name = tu_s(co->name);
		co->op.obj.size = 1000u + i;
		co->op.done = child_done;
		if (co->is_delete) {
			/* Announce the delete first: until its ack arrives, the parent
			 * accepts the object either present or gone. */
			char line[64];
			int n = snprintf(line, sizeof(line), "d %s\n", co->name);

			if (write(ct->fd, line, (size_t)n) != n)
				_exit(3);
		}
		if (mds_store_submit(ct->s, &co->op))
			_exit(4);
	}
	return NULL;
}

static void child_main(const char *dir, int round, int fd)
{
	struct child_thread ct[CHILD_THREADS];
	pthread_t th[CHILD_THREADS];
	struct mds_store *s;
	struct mds_status st;

	if (mds_store_open(&s, dir, NULL, &st))
		_exit(2);
	tu_team(s, "t");
	tu_bucket(s, "data", "t");
	for (int i = 0; i < CHILD_THREADS; i++) {
		ct[i] = (struct child_thread){ .s = s, .round = round, .id = i, .fd = fd };
		pthread_mutex_init(&ct[i].mu, NULL);
		pthread_cond_init(&ct[i].cv, NULL);
		pthread_create(&th[i], NULL, child_thread_main, &ct[i]);
	}
	for (;;)
		pause();
}

struct ack {
	char name[48];
	uint64_t size;
	int deleted;   /* 1: delete acknowledged; 2: delete submitted, outcome unknown */
};

static int ack_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ack *)a)->name, ((const struct ack *)b)->name);
}

static void test_sigkill_loses_no_ack(void **state)
{
	static struct ack acks[400000];
	size_t nacks = 0;
	char dir[256];
	unsigned seed = (unsigned)time(NULL);
	uint64_t total_acked = 0;

	(void)state;
	srand(seed);
	printf("durability seed %u\n", seed);
	tu_tmpdir(dir);
	for (int round = 0; round < ROUNDS; round++) {
		int fds[2];
		pid_t pid;
		char buf[65536], carry[128] = "";
		size_t carry_len = 0;
		struct timespec until;
		long delay_ms = 30 + rand() % 250;
		struct mds_store *s;
		struct mds_reader *r;
		struct mds_status st;
		size_t round_start = nacks;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_main(dir, round, fds[1]);
		}
		close(fds[1]);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += delay_ms * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
		kill(pid, SIGKILL);
		{
			int wst;

			assert_int_equal(waitpid(pid, &wst, 0), pid);
			assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
		}
		/* Everything written before the kill is in the pipe. */
		for (;;) {
			ssize_t n = read(fds[0], buf, sizeof(buf));

			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] != '\n') {
					carry[carry_len++] = buf[i];
					continue;
				}
				carry[carry_len] = '\0';
				carry_len = 0;
				if (carry[0] == 'P') {
					struct ack *a = &acks[nacks++];

					assert_int_equal(sscanf(carry, "P %47s %llu", a->name,
								(unsigned long long *)&a->size), 2);
					a->deleted = 0;
				} else {
					char name[48];
					int mark = carry[0] == 'D' ? 1 : 2;

					assert_true(carry[0] == 'D' || carry[0] == 'd');
					assert_int_equal(sscanf(carry + 2, "%47s", name), 1);
					/* Its put was acknowledged earlier in this round. */
					for (size_t k = nacks; k-- > round_start;) {
						if (strcmp(acks[k].name, name) == 0) {
							acks[k].deleted = mark;
							break;
						}
					}
				}
			}
		}
		close(fds[0]);
		total_acked += nacks - round_start;

		/* Restart: every acknowledged mutation is there, counters are exact. */
		assert_int_equal(mds_store_open(&s, dir, NULL, &st), 0);
		assert_int_equal(tu_check(s), 0);
		assert_int_equal(mds_reader_open(s, &r), 0);
		assert_int_equal(mds_reader_begin(r), 0);
		for (size_t k = 0; k < nacks; k++) {
			struct mds_object o;
			int rc = mds_object_head(r, tu_s("data"), tu_s(acks[k].name), &o, &st);

			if (acks[k].deleted == 2) {
				assert_true(rc == 0 || rc == MDS_ENOTFOUND);
			} else if (acks[k].deleted) {
				if (rc != MDS_ENOTFOUND)
					fprintf(stderr, "seed %u round %d: deleted '%s' is back\n", seed, round,
						acks[k].name);
				assert_int_equal(rc, MDS_ENOTFOUND);
			} else {
				if (rc != 0)
					fprintf(stderr, "seed %u round %d: acknowledged '%s' is lost\n", seed,
						round, acks[k].name);
				assert_int_equal(rc, 0);
				assert_int_equal(o.size, acks[k].size);
			}
		}
		mds_reader_close(r);
		mds_store_close(s);
	}
	qsort(acks, nacks, sizeof(acks[0]), ack_cmp);
	for (size_t k = 1; k < nacks; k++)
		assert_int_not_equal(strcmp(acks[k - 1].name, acks[k].name), 0);
	printf("%d kills, %llu acknowledged puts, none lost\n", ROUNDS, (unsigned long long)total_acked);
	assert_true(total_acked > 0);
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_loses_no_ack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
