/*
 * feed_publisher.c - the checkpointer (see feed_publisher.h).
 *
 * One thread wakes every cadence_ms, takes a read snapshot, and compares
 * the log's size with the last signed checkpoint. If the log grew, or the
 * head has been idle for heartbeat_ms, it computes the root (at most 64
 * node reads) and, when the size grew, the consistency proof from the last
 * signed size, both in that one snapshot; mds_checkpoint_sign() refuses
 * anything that is not an extension of the last signed tree. The note is
 * written to DATA/feed/checkpoint (fsync + rename) and only then becomes
 * the one readers get. On start the last signed checkpoint is read back
 * from that file, so the rules hold across restarts.
 *
 * Keys are reloaded when key.pem changes (a rotation) and when the old
 * key's overlap window ends; signing goes on with the keys in memory if a
 * reload fails (and the failure is reported).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "feed_keys.h"
#include "feed_log.h"
#include "feed_publisher.h"

struct mds_feed_publisher {
	struct mds_store *s;
	char *data_dir;
	char origin[MDS_CHECKPOINT_ORIGIN_MAX + 1];
	uint64_t cadence_ns, heartbeat_ns;
	void (*report)(int code, const char *msg);
	struct mds_reader *r;          /* signing thread only */

	/* keys: the signing thread reloads them, GetSnapshot signs with them */
	pthread_mutex_t keys_mu;
	struct mds_note_signer *keys[2];
	size_t n_keys;
	struct timespec key_mtime;
	uint64_t keys_checked_s;

	/* last signed: written by the signer under mu, read by anyone under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int have_last;
	struct mds_checkpoint last;
	char *note;
	size_t note_len;
	uint64_t last_sign_mono;
	uint64_t last_sign_wall_ms;
	uint64_t head_size;            /* log size at the last round */
	uint64_t n_signed, n_failed;
	/* called after each publication, under notify_mu (never under mu) */
	pthread_mutex_t notify_mu;
	void (*notify)(void *arg);
	void *notify_arg;
	int stopping;
	int thread_started;
	pthread_t thread;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_s(void)
{
	return (uint64_t)time(NULL);
}

static int ckpt_path(const struct mds_feed_publisher *p, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/feed/checkpoint", p->data_dir);

	return n < 0 || (size_t)n >= cap ? MDS_EINVAL : 0;
}

static void keys_free(struct mds_feed_publisher *p)
{
	for (size_t i = 0; i < p->n_keys; i++)
		mds_note_signer_free(p->keys[i]);
	p->n_keys = 0;
}

/* (Re)loads the keys if key.pem changed or an overlap window may have ended. */
static int keys_refresh(struct mds_feed_publisher *p, int force, struct mds_status *st)
{
	struct mds_note_signer *k[2];
	char path[4096];
	struct stat sb;
	size_t n;
	int rc;

	snprintf(path, sizeof(path), "%s/feed/key.pem", p->data_dir);
	if (!force) {
		if (stat(path, &sb) == 0 && sb.st_mtim.tv_sec == p->key_mtime.tv_sec &&
		    sb.st_mtim.tv_nsec == p->key_mtime.tv_nsec && wall_s() < p->keys_checked_s + 60)
			return 0;
	}
	rc = mds_feed_keys_load(p->data_dir, wall_s(), k, &n, NULL, st);
	if (rc)
		return rc;
	keys_free(p);
	memcpy(p->keys, k, n * sizeof(k[0]));
	p->n_keys = n;
	if (stat(path, &sb) == 0)
		p->key_mtime = sb.st_mtim;
	p->keys_checked_s = wall_s();
	return 0;
}

/* Reads DATA/feed/checkpoint (our own last signed note), if any. */
static int last_load(struct mds_feed_publisher *p, struct mds_status *st)
{
	char path[4096], *buf = NULL;
	size_t len = 0;
	FILE *f;
	const char *sep;
	int rc;

	if (ckpt_path(p, path, sizeof(path)))
		return mds_status_set(st, MDS_EINVAL, "data directory path is too long");
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : mds_status_set(st, -errno, "cannot open '%s': %s",
							    path, strerror(errno));
	buf = malloc(MDS_NOTE_MAX_LEN + 1);
	if (!buf) {
		fclose(f);
		return mds_status_set(st, MDS_ENOMEM, "cannot read '%s': out of memory", path);
	}
	len = fread(buf, 1, MDS_NOTE_MAX_LEN + 1, f);
	fclose(f);
	if (len > MDS_NOTE_MAX_LEN) {
		free(buf);
		return mds_status_set(st, MDS_EINVAL, "'%s' is too large for a note", path);
	}
	buf[len] = '\0';
	sep = strstr(buf, "\n\n");
	rc = sep ? mds_checkpoint_parse(buf, (size_t)(sep - buf) + 1, &p->last, st) : MDS_EINVAL;
	if (rc) {
		free(buf);
		return mds_status_set(st, MDS_EINVAL,
				      "the last signed checkpoint '%s' does not parse; it must not be lost or edited (restore it)",
				      path);
	}
	p->have_last = 1;
	p->note = buf;
	p->note_len = len;
	return 0;
}

static int last_store(struct mds_feed_publisher *p, const char *note, size_t len,
		      struct mds_status *st)
{
	char path[4096], tmp[4200];
	int fd, rc = 0;

	if (ckpt_path(p, path, sizeof(path)))
		return mds_status_set(st, MDS_EINVAL, "data directory path is too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return mds_status_set(st, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	if (write(fd, note, len) != (ssize_t)len || fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return mds_status_set(st, rc, "cannot write '%s': %s", path, strerror(-rc));
	}
	return 0;
}

int mds_feed_publisher_tick(struct mds_feed_publisher *p, struct mds_status *st)
{
	struct mds_checkpoint next;
	struct mds_merkle_store ms;
	struct mds_txn *t;
	uint8_t (*proof)[MDS_MERKLE_HASH_LEN] = NULL;
	size_t n_proof = 0, len = 0;
	uint64_t now = mono_ns(), size;
	struct timespec wall;
	char *note = NULL;
	int rc, began = 0;

	if (p->have_last && now - p->last_sign_mono < p->cadence_ns && p->last_sign_mono)
		return 0;
	rc = mds_reader_begin(p->r);
	if (rc) {
		mds_status_set(st, rc, "cannot read the feed: %s", mds_strerror(rc));
		goto out;
	}
	began = 1;
	t = mds_reader_txn(p->r);
	rc = mds_feed_log_size(t, &size);
	if (rc) {
		mds_status_set(st, rc, "cannot read the feed size: %s", mds_strerror(rc));
		goto out;
	}
	pthread_mutex_lock(&p->mu);
	p->head_size = size;
	pthread_mutex_unlock(&p->mu);
	if (p->have_last && size == p->last.size && p->last_sign_mono &&
	    now - p->last_sign_mono < p->heartbeat_ns)
		goto out;   /* rc = 0: nothing due */
	memset(&next, 0, sizeof(next));
	memcpy(next.origin, p->origin, sizeof(next.origin));
	next.size = size;
	clock_gettime(CLOCK_REALTIME, &wall);
	snprintf(next.ext, sizeof(next.ext), "timestamp %" PRIu64 "\n",
		 (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u);
	mds_feed_log_merkle(t, &ms);
	rc = mds_merkle_root(&ms, size, next.root);
	if (rc) {
		mds_status_set(st, rc, "cannot compute the feed root at size %" PRIu64 ": %s", size,
			       mds_strerror(rc));
		goto out;
	}
	if (p->have_last && p->last.size < size) {
		proof = malloc(MDS_MERKLE_PROOF_MAX * sizeof(*proof));
		if (!proof) {
			rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
			goto out;
		}
		rc = mds_merkle_consistency_proof(&ms, p->last.size, size, proof, &n_proof);
		if (rc) {
			mds_status_set(st, rc, "cannot prove the feed consistent from size %" PRIu64
				       ": %s", p->last.size, mds_strerror(rc));
			goto out;
		}
	}
	mds_reader_end(p->r);
	began = 0;
	pthread_mutex_lock(&p->keys_mu);
	rc = keys_refresh(p, 0, st);
	if (rc) {
		if (p->report)
			p->report(rc, st->msg);
		if (p->n_keys == 0) {
			pthread_mutex_unlock(&p->keys_mu);
			goto out;
		}
	}
	rc = mds_checkpoint_sign(&next, p->have_last ? &p->last : NULL,
				 (const uint8_t (*)[32])proof, n_proof, p->keys, p->n_keys, &note,
				 &len, st);
	pthread_mutex_unlock(&p->keys_mu);
	if (rc)
		goto out;
	rc = last_store(p, note, len, st);
	if (rc)
		goto out;
	pthread_mutex_lock(&p->mu);
	free(p->note);
	p->note = note;
	p->note_len = len;
	p->last = next;
	p->have_last = 1;
	p->last_sign_mono = now;
	p->last_sign_wall_ms = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
	p->n_signed++;
	pthread_mutex_unlock(&p->mu);
	note = NULL;
	rc = 1;
	pthread_mutex_lock(&p->notify_mu);
	if (p->notify)
		p->notify(p->notify_arg);
	pthread_mutex_unlock(&p->notify_mu);
out:
	if (began)
		mds_reader_end(p->r);
	if (rc < 0) {
		pthread_mutex_lock(&p->mu);
		p->n_failed++;
		pthread_mutex_unlock(&p->mu);
	}
	free(proof);
	free(note);
	return rc;
}

static void *signer_main(void *arg)
{
	struct mds_feed_publisher *p = arg;
	struct mds_status st;
	uint64_t reported = 0;

	pthread_setname_np(pthread_self(), "mds-feed-signer");
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		struct timespec ts;
		uint64_t ns;
		int rc;

		pthread_mutex_unlock(&p->mu);
		rc = mds_feed_publisher_tick(p, &st);
		/* A failing round is reported once per heartbeat, not per tick. */
		if (rc < 0 && p->report && mono_ns() - reported >= p->heartbeat_ns) {
			p->report(rc, st.msg);
			reported = mono_ns();
		}
		pthread_mutex_lock(&p->mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ns = (uint64_t)ts.tv_nsec + p->cadence_ns;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		if (!p->stopping)
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int mds_feed_publisher_start(struct mds_store *s, const struct mds_feed_publisher_opts *o,
			     struct mds_feed_publisher **out, struct mds_status *st)
{
	struct mds_feed_publisher *p;
	pthread_condattr_t ca;
	size_t n = o->origin ? strlen(o->origin) : 0;
	int rc;

	if (n == 0 || n > MDS_CHECKPOINT_ORIGIN_MAX)
		return mds_status_set(st, MDS_EINVAL, "feed origin must have 1 to %d bytes",
				      MDS_CHECKPOINT_ORIGIN_MAX);
	p = calloc(1, sizeof(*p));
	if (!p)
		return mds_status_set(st, MDS_ENOMEM, "cannot allocate the feed publisher");
	p->s = s;
	memcpy(p->origin, o->origin, n + 1);
	p->cadence_ns = (uint64_t)(o->cadence_ms ? o->cadence_ms : 100) * 1000000u;
	p->heartbeat_ns = (uint64_t)(o->heartbeat_ms ? o->heartbeat_ms : 10000) * 1000000u;
	p->report = o->report;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->keys_mu, NULL);
	pthread_mutex_init(&p->notify_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->data_dir = strdup(o->data_dir);
	if (!p->data_dir) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot allocate the feed publisher");
		goto out_free;
	}
	rc = keys_refresh(p, 1, st);
	if (rc)
		goto out_free;
	rc = last_load(p, st);
	if (rc)
		goto out_free;
	if (p->have_last && strcmp(p->last.origin, p->origin) != 0) {
		rc = mds_status_set(st, MDS_EINVAL,
				    "the last signed checkpoint has origin '%s', not '%s': a log's origin never changes",
				    p->last.origin, p->origin);
		goto out_free;
	}
	rc = mds_reader_open(s, &p->r);
	if (rc) {
		mds_status_set(st, rc, "cannot open a reader for the feed: %s", mds_strerror(rc));
		goto out_free;
	}
	if (!o->manual) {
		if (pthread_create(&p->thread, NULL, signer_main, p) != 0) {
			rc = mds_status_set(st, MDS_ENOMEM, "cannot start the feed signing thread");
			goto out_free;
		}
		p->thread_started = 1;
	}
	*out = p;
	return 0;

out_free:
	mds_feed_publisher_stop(p);
	return rc;
}

int mds_feed_publisher_latest(struct mds_feed_publisher *p, char **note, size_t *len,
			      struct mds_checkpoint *cp)
{
	return mds_feed_publisher_latest_gen(p, note, len, cp, NULL);
}

int mds_feed_publisher_latest_gen(struct mds_feed_publisher *p, char **note, size_t *len,
				  struct mds_checkpoint *cp, uint64_t *gen)
{
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	if (!p->have_last) {
		rc = MDS_ENOTFOUND;
	} else {
		*note = malloc(p->note_len + 1);
		if (!*note) {
			rc = MDS_ENOMEM;
		} else {
			memcpy(*note, p->note, p->note_len);
			(*note)[p->note_len] = '\0';
			*len = p->note_len;
			if (cp)
				*cp = p->last;
			if (gen)
				*gen = p->n_signed;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void mds_feed_publisher_stats(struct mds_feed_publisher *p, uint64_t *signed_out,
			      uint64_t *failed_out)
{
	pthread_mutex_lock(&p->mu);
	*signed_out = p->n_signed;
	*failed_out = p->n_failed;
	pthread_mutex_unlock(&p->mu);
}

uint64_t mds_feed_publisher_generation(struct mds_feed_publisher *p)
{
	uint64_t g;

	pthread_mutex_lock(&p->mu);
	g = p->n_signed;
	pthread_mutex_unlock(&p->mu);
	return g;
}

void mds_feed_publisher_set_notify(struct mds_feed_publisher *p, void (*fn)(void *arg),
				   void *arg)
{
	pthread_mutex_lock(&p->notify_mu);
	p->notify = fn;
	p->notify_arg = arg;
	pthread_mutex_unlock(&p->notify_mu);
}

int mds_feed_publisher_sign_text(struct mds_feed_publisher *p, const char *text, size_t len,
				 char **note, size_t *note_len, struct mds_status *st)
{
	int rc;

	pthread_mutex_lock(&p->keys_mu);
	if (p->n_keys == 0)
		rc = mds_status_set(st, MDS_ENOTFOUND, "no feed key to sign with");
	else
		rc = mds_note_sign(text, len, p->keys, p->n_keys, note, note_len, st);
	pthread_mutex_unlock(&p->keys_mu);
	return rc;
}

const char *mds_feed_publisher_origin(const struct mds_feed_publisher *p)
{
	return p->origin;
}

void mds_feed_publisher_metrics(struct mds_feed_publisher *p, FILE *f)
{
	uint64_t head, size = 0, wall = 0, n_signed, n_failed;

	pthread_mutex_lock(&p->mu);
	head = p->head_size;
	if (p->have_last) {
		size = p->last.size;
		wall = p->last_sign_wall_ms;
	}
	n_signed = p->n_signed;
	n_failed = p->n_failed;
	pthread_mutex_unlock(&p->mu);
	fprintf(f,
		"# HELP mds_feed_log_size leaves in the change feed at the last signing round.\n"
		"# TYPE mds_feed_log_size gauge\n"
		"mds_feed_log_size %llu\n"
		"# HELP mds_feed_checkpoint_size size of the newest signed checkpoint.\n"
		"# TYPE mds_feed_checkpoint_size gauge\n"
		"mds_feed_checkpoint_size %llu\n"
		"# HELP mds_feed_checkpoint_timestamp_seconds wall time the newest checkpoint was signed (0: none since start).\n"
		"# TYPE mds_feed_checkpoint_timestamp_seconds gauge\n"
		"mds_feed_checkpoint_timestamp_seconds %.3f\n"
		"# HELP mds_feed_notes_signed_total checkpoints signed since start (heartbeats included).\n"
		"# TYPE mds_feed_notes_signed_total counter\n"
		"mds_feed_notes_signed_total %llu\n"
		"# HELP mds_feed_sign_failed_total signing rounds that failed.\n"
		"# TYPE mds_feed_sign_failed_total counter\n"
		"mds_feed_sign_failed_total %llu\n",
		(unsigned long long)head, (unsigned long long)size, (double)wall / 1000.0,
		(unsigned long long)n_signed, (unsigned long long)n_failed);
}

void mds_feed_publisher_stop(struct mds_feed_publisher *p)
{
	if (!p)
		return;
	if (p->thread_started) {
		pthread_mutex_lock(&p->mu);
		p->stopping = 1;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	if (p->r)
		mds_reader_close(p->r);
	keys_free(p);
	free(p->note);
	free(p->data_dir);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->keys_mu);
	pthread_mutex_destroy(&p->notify_mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
