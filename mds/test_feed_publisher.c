/*
 * test_feed_publisher.c - the checkpointer and the feed keys: what is
 * signed, when, with which keys, and what is refused (forks, shrinking
 * logs), across restarts and rotations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "feed_keys.h"
#include "feed_log.h"
#include "feed_publisher.h"
#include "testutil.h"

#define ORIGIN "island-a.example/feed"

struct fx {
	char dir[256];
	struct mds_store *s;
	struct mds_feed_log *l;
	struct mds_feed_publisher *p;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mds_status st;

	tu_tmpdir(f->dir);
	if (mds_store_open(&f->s, f->dir, NULL, &st) ||
	    mds_feed_log_open(f->s, ORIGIN, &f->l, &st))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mds_feed_publisher_stop(f->p);
	mds_store_close(f->s);
	mds_feed_log_close(f->l);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

static int start(struct fx *f, unsigned cadence_ms, unsigned heartbeat_ms, struct mds_status *st)
{
	struct mds_feed_publisher_opts o = {
		.data_dir = f->dir, .origin = ORIGIN, .cadence_ms = cadence_ms,
		.heartbeat_ms = heartbeat_ms, .manual = 1,
	};

	mds_feed_publisher_stop(f->p);
	f->p = NULL;
	return mds_feed_publisher_start(f->s, &o, &f->p, st);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The verifier of the key in @file (key.pem or old-key.pem). */
static void verifier_of(struct fx *f, const char *file, struct mds_note_verifier *v)
{
	char path[512];
	struct mds_note_signer *k;

	snprintf(path, sizeof(path), "%s/feed/%s", f->dir, file);
	assert_int_equal(mds_note_signer_load(path, ORIGIN, &k, NULL), 0);
	mds_note_signer_verifier(k, v);
	mds_note_signer_free(k);
}

/* Opens the newest note with @roster; returns its checkpoint. */
static struct mds_checkpoint latest(struct fx *f, const struct mds_note_verifier *roster,
				    size_t n, bool *verified)
{
	struct mds_checkpoint cp;
	char *note;
	size_t len;
	struct mds_status st;

	assert_int_equal(mds_feed_publisher_latest(f->p, &note, &len, NULL), 0);
	if (mds_checkpoint_open(note, len, ORIGIN, roster, n, &cp, &st) != 0)
		fail_msg("%s: %s", st.msg, note);
	if (verified)
		assert_int_equal(mds_note_verify(note, len, roster, n, NULL, verified, &st), 0);
	free(note);
	return cp;
}

static void test_no_key_no_publisher(void **state)
{
	struct fx *f = *state;
	struct mds_status st;

	assert_int_equal(start(f, 1, 1000, &st), MDS_ENOTFOUND);
	assert_non_null(strstr(st.msg, "mds keys init"));
}

static void test_signs_growth_cadence_and_heartbeat(void **state)
{
	struct fx *f = *state;
	struct mds_note_verifier v;
	struct mds_checkpoint a, b, c;
	struct mds_merkle_compact cur;
	struct mds_status st;
	char *note;
	size_t len;
	long t_signed;
	int rc;

	assert_int_equal(mds_feed_keys_init(f->dir, ORIGIN, &st), 0);
	assert_int_equal(mds_feed_keys_init(f->dir, ORIGIN, &st), MDS_EEXIST);
	/* The "nothing due" checks hold only while less than the cadence
	 * (heartbeat) has passed since the last note; on a loaded machine the
	 * ops in between may take longer, and then only the later checks run. */
	assert_int_equal(start(f, 200, 1000, &st), 0);
	verifier_of(f, "key.pem", &v);
	assert_int_equal(mds_feed_publisher_latest(f->p, &note, &len, NULL), MDS_ENOTFOUND);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), 1);
	t_signed = now_ms();
	a = latest(f, &v, 1, NULL);
	assert_int_equal(a.size, 0);
	assert_non_null(strstr(a.ext, "timestamp "));
	/* idle head, inside the cadence and the heartbeat: nothing */
	rc = mds_feed_publisher_tick(f->p, &st);
	if (now_ms() - t_signed < 200)
		assert_int_equal(rc, 0);
	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(tu_bucket(f->s, "bkt", "t"), 0);
	assert_int_equal(tu_put(f->s, "bkt", tu_s("o"), 1, NULL), 0);
	/* the log grew, but the cadence holds the next note back */
	rc = mds_feed_publisher_tick(f->p, &st);
	if (now_ms() - t_signed < 200) {
		assert_int_equal(rc, 0);
		sleep_ms(210);
		rc = mds_feed_publisher_tick(f->p, &st);
	}
	assert_int_equal(rc, 1);
	t_signed = now_ms();
	b = latest(f, &v, 1, NULL);
	assert_int_equal(b.size, 3);
	/* the root is the one a subscriber folds from the stored leaves */
	{
		struct mds_reader *r;
		struct mds_str leaf;
		uint8_t h[32], root[32];

		mds_merkle_compact_init(&cur);
		assert_int_equal(mds_reader_open(f->s, &r), 0);
		assert_int_equal(mds_reader_begin(r), 0);
		for (uint64_t i = 0; i < 3; i++) {
			assert_int_equal(mds_feed_log_leaf(mds_reader_txn(r), i, &leaf), 0);
			assert_int_equal(mds_merkle_hash_leaf(leaf.p, leaf.len, h), 0);
			assert_int_equal(mds_merkle_compact_append(&cur, h), 0);
		}
		mds_reader_close(r);
		assert_int_equal(mds_merkle_compact_root(&cur, root), 0);
		assert_memory_equal(root, b.root, 32);
	}
	/* unchanged head: re-signed only once the heartbeat is due */
	sleep_ms(210);
	rc = mds_feed_publisher_tick(f->p, &st);
	if (now_ms() - t_signed < 1000)
		assert_int_equal(rc, 0);
	sleep_ms(1000);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), 1);
	c = latest(f, &v, 1, NULL);
	assert_int_equal(c.size, 3);
	assert_memory_equal(c.root, b.root, 32);
	assert_string_not_equal(c.ext, b.ext);
}

static void test_restart_keeps_rules_and_refuses_forks(void **state)
{
	struct fx *f = *state;
	struct mds_status st;
	struct mds_checkpoint cp;
	struct mds_note_signer *k;
	char path[512], *note;
	size_t len;
	FILE *fp;

	assert_int_equal(mds_feed_keys_init(f->dir, ORIGIN, &st), 0);
	assert_int_equal(tu_team(f->s, "t"), 0);
	assert_int_equal(start(f, 1, 1000, &st), 0);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), 1);
	/* a restart reads back the last signed checkpoint */
	assert_int_equal(start(f, 1, 1000, &st), 0);
	assert_int_equal(mds_feed_publisher_latest(f->p, &note, &len, &cp), 0);
	free(note);
	assert_int_equal(cp.size, 1);
	assert_int_equal(tu_team(f->s, "u"), 0);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), 1);

	/* someone else's root at our size (a lost or rewritten store): refused */
	snprintf(path, sizeof(path), "%s/feed/key.pem", f->dir);
	assert_int_equal(mds_note_signer_load(path, ORIGIN, &k, NULL), 0);
	memset(&cp, 0, sizeof(cp));
	strcpy(cp.origin, ORIGIN);
	cp.size = 2;
	memset(cp.root, 0xab, 32);
	assert_int_equal(mds_checkpoint_sign(&cp, NULL, NULL, 0, &k, 1, &note, &len, &st), 0);
	snprintf(path, sizeof(path), "%s/feed/checkpoint", f->dir);
	fp = fopen(path, "w");
	fwrite(note, 1, len, fp);
	fclose(fp);
	free(note);
	assert_int_equal(start(f, 1, 1, &st), 0);
	sleep_ms(2);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), MDS_EDENIED);
	/* a checkpoint beyond the log (the store went back in time): refused */
	cp.size = 50;
	assert_int_equal(mds_checkpoint_sign(&cp, NULL, NULL, 0, &k, 1, &note, &len, &st), 0);
	fp = fopen(path, "w");
	fwrite(note, 1, len, fp);
	fclose(fp);
	free(note);
	assert_int_equal(start(f, 1, 1, &st), 0);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), MDS_EDENIED);
	mds_note_signer_free(k);
	/* a damaged checkpoint file stops the start, it is not ignored */
	fp = fopen(path, "w");
	fputs("garbage\n", fp);
	fclose(fp);
	assert_int_equal(start(f, 1, 1, &st), MDS_EINVAL);
}

static void test_rotation_dual_signs_during_overlap(void **state)
{
	struct fx *f = *state;
	struct mds_note_verifier v[2];
	struct mds_checkpoint cp;
	struct mds_status st;
	bool verified[2];
	struct stat sb;
	char path[512];

	assert_int_equal(mds_feed_keys_rotate(f->dir, (uint64_t)time(NULL), 3600, &st),
			 MDS_ENOTFOUND);
	assert_int_equal(mds_feed_keys_init(f->dir, ORIGIN, &st), 0);
	snprintf(path, sizeof(path), "%s/feed/key.pem", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	verifier_of(f, "key.pem", &v[0]);
	assert_int_equal(start(f, 1, 1, &st), 0);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), 1);
	assert_int_equal(mds_feed_keys_rotate(f->dir, (uint64_t)time(NULL), 3600, &st), 0);
	verifier_of(f, "key.pem", &v[1]);
	assert_int_not_equal(v[0].key_id, v[1].key_id);
	/* a second rotation inside the overlap would drop a trusted key */
	assert_int_equal(mds_feed_keys_rotate(f->dir, (uint64_t)time(NULL), 3600, &st),
			 MDS_EEXIST);
	assert_int_equal(tu_team(f->s, "t"), 0);
	sleep_ms(2);
	/* the running publisher picks the rotation up and signs with both */
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), 1);
	cp = latest(f, v, 2, verified);
	assert_int_equal(cp.size, 1);
	assert_true(verified[0] && verified[1]);
	cp = latest(f, &v[0], 1, NULL);   /* old subscribers keep verifying */
	cp = latest(f, &v[1], 1, NULL);
	/* after the overlap only the new key signs */
	assert_int_equal(start(f, 1, 1, &st), 0);
	{
		char up[512];
		FILE *fp;

		snprintf(up, sizeof(up), "%s/feed/old-key.until", f->dir);
		fp = fopen(up, "w");
		fputs("1\n", fp);
		fclose(fp);
	}
	assert_int_equal(start(f, 1, 1, &st), 0);
	assert_int_equal(tu_team(f->s, "u"), 0);
	assert_int_equal(mds_feed_publisher_tick(f->p, &st), 1);
	cp = latest(f, v, 2, verified);
	assert_false(verified[0]);
	assert_true(verified[1]);
}

static void test_thread_publishes(void **state)
{
	struct fx *f = *state;
	struct mds_feed_publisher_opts o = {
		.data_dir = f->dir, .origin = ORIGIN, .cadence_ms = 10, .heartbeat_ms = 1000,
	};
	struct mds_status st;
	struct mds_checkpoint cp = { 0 };
	char *note;
	size_t len;

	assert_int_equal(mds_feed_keys_init(f->dir, ORIGIN, &st), 0);
	assert_int_equal(mds_feed_publisher_start(f->s, &o, &f->p, &st), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(tu_team(f->s, (char[]){ 'a' + (char)i, 0 }), 0);
	for (int i = 0; i < 200 && cp.size < 20; i++) {
		sleep_ms(5);
		if (mds_feed_publisher_latest(f->p, &note, &len, &cp) == 0)
			free(note);
	}
	assert_int_equal(cp.size, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_key_no_publisher, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signs_growth_cadence_and_heartbeat, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_rules_and_refuses_forks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotation_dual_signs_during_overlap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_thread_publishes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
