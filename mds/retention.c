/*
 * retention.c - object lock: retention (governance, compliance) and legal
 * hold per object, and the retention clock that decides when retention
 * has expired.
 *
 * Rules (S3 Object Lock; Azure immutability policies and legal hold):
 *   - an object under legal hold, or whose retain-until time has not
 *     passed, can be neither deleted nor overwritten by any op (put,
 *     delete, append create / append block, copy onto it, multipart
 *     completion, block-list commit): mds_retention_check, called by each
 *     of those paths where it loads the record it replaces;
 *   - governance retention yields to op->bypass_governance (the RPC layer
 *     sets it only for a caller authorized for bypass-governance who asked);
 *     it may be extended freely, shortened or removed only with the bypass;
 *   - compliance retention can be extended, never shortened, removed or
 *     turned into governance, by anyone;
 *   - legal hold is independent of retention and has no bypass.
 *
 * The retention clock. Expiry compares retain-until with an "effective"
 * time. Trusted time = wall clock at the anchor + monotonic time elapsed
 * since. While the wall clock is at most the tolerance ahead of trusted
 * time the effective time is the wall clock; once it runs further ahead
 * the clock becomes suspect and stays so until an admin confirms the
 * wall clock (MDS_OP_CLOCK_CONFIRM re-anchors): meanwhile the effective
 * time is min(wall, trusted), so a forward jump never releases early.
 * A wall clock that goes back only delays releases.
 *
 * Across a restart the monotonic clock means nothing, so the downtime
 * cannot be measured: the highest effective time is persisted (meta
 * "retention_clock"; mds_ns_apply refreshes it after every successful op,
 * writing at most once per second of effective time). On the writer's first use
 * after open, if the wall clock is more than the tolerance ahead of that
 * mark, the downtime is counted as zero: trusted time restarts at the mark
 * and the clock is suspect (restart_gap) until an admin confirms. Short
 * restarts (less than the tolerance) are not flagged.
 *
 * What must stay true: every delete or overwrite path calls
 * mds_retention_check before its nested transaction commits; the clock
 * state is only changed by the writer (readers of metrics take the mutex).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blobs.h"
#include "kv.h"
#include "ns_internal.h"
#include "record.h"
#include "retention.h"
#include "util.h"

#define KEY_RETENTION_CLOCK "retention_clock"
#define HIGH_STEP_NS 1000000000ull  /* persist the high-water mark at most once per second */
#define RET_BUF_MAX 20480

struct mds_rclock {
	pthread_mutex_t mu;
	mds_clock_fn wall;
	void *wall_arg;
	mds_clock_fn mono;
	void *mono_arg;
	uint64_t tolerance;
	uint64_t open_wall;     /* wall clock when the store was opened */
	uint64_t anchor_wall;
	uint64_t anchor_mono;
	uint64_t high;          /* highest effective time seen */
	uint64_t high_written;  /* last value committed to meta */
	uint64_t high_pending;  /* written by the op being applied (writer only) */
	int pending;            /* high_pending is set (writer only) */
	uint64_t events;
	int loaded;             /* meta read (writer's first use) */
	int suspect;
	int restart_gap;
};

static uint64_t monotonic_ns(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct mds_rclock *mds_rclock_new(const struct mds_store_opts *opts)
{
	struct mds_rclock *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->wall = opts->clock;
	c->wall_arg = opts->clock_arg;
	c->mono = opts->mono_clock ? opts->mono_clock : monotonic_ns;
	c->mono_arg = opts->mono_clock ? opts->mono_clock_arg : NULL;
	c->tolerance = opts->clock_tolerance_ns ? opts->clock_tolerance_ns
						: MDS_CLOCK_TOLERANCE_DEFAULT_NS;
	c->open_wall = c->anchor_wall = c->wall(c->wall_arg);
	c->anchor_mono = c->mono(c->mono_arg);
	return c;
}

void mds_rclock_free(struct mds_rclock *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Under c->mu: trusted and effective time for @wall / @mono; may turn suspect. */
static uint64_t clock_eval(struct mds_rclock *c, uint64_t wall, uint64_t mono, uint64_t *trusted)
{
	uint64_t tr = c->anchor_wall + (mono > c->anchor_mono ? mono - c->anchor_mono : 0);
	uint64_t eff;

	if (!c->suspect && wall > tr && wall - tr > c->tolerance) {
		c->suspect = 1;
		c->events++;
	}
	eff = c->suspect && wall > tr ? tr : wall;
	if (c->loaded && eff > c->high)
		c->high = eff;
	if (trusted)
		*trusted = tr;
	return eff;
}

/* Under c->mu, writer only: read the persisted mark once; apply the restart rule. */
static int clock_load(struct mds_txn *t, struct mds_rclock *c)
{
	struct mds_str v;
	uint64_t high = 0;
	int rc;

	if (c->loaded)
		return 0;
	rc = mds_kv_get(t, MDS_DB_META, MDS_STR(KEY_RETENTION_CLOCK), &v);
	if (rc == 0 && v.len != 8)
		return MDS_ECORRUPT;
	if (rc == 0)
		high = mds_le64_get((const uint8_t *)v.p);
	else if (rc != MDS_ENOTFOUND)
		return rc;
	if (high && c->open_wall > high && c->open_wall - high > c->tolerance) {
		/* Downtime cannot be measured: count it as zero until confirmed. */
		c->anchor_wall = high;
		c->suspect = 1;
		c->restart_gap = 1;
		c->events++;
	}
	c->high = c->high_written = high;
	c->loaded = 1;
	return 0;
}

static int high_write(struct mds_txn *t, uint64_t v)
{
	uint8_t buf[8];

	mds_le64_put(buf, v);
	return mds_kv_put(t, MDS_DB_META, MDS_STR(KEY_RETENTION_CLOCK),
			  (struct mds_str){ (char *)buf, sizeof(buf) });
}

int mds_retention_now(struct mds_txn *t, uint64_t *now_ns)
{
	struct mds_rclock *c = mds_txn_rclock(t);
	uint64_t eff;
	int rc;

	if (!c) {
		*now_ns = mds_txn_now_ns(t);
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	rc = clock_load(t, c);
	if (rc)
		goto out;
	eff = clock_eval(c, mds_txn_now_ns(t), c->mono(c->mono_arg), NULL);
	if (eff >= c->high_written + HIGH_STEP_NS &&
	    (!c->pending || eff >= c->high_pending + HIGH_STEP_NS)) {
		rc = high_write(t, eff);
		if (rc)
			goto out;
		c->high_pending = eff;   /* committed only if the op succeeds: mds_retention_settle */
		c->pending = 1;
	}
	*now_ns = eff;
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int mds_retention_tick(struct mds_txn *t)
{
	struct mds_rclock *c = mds_txn_rclock(t);
	uint64_t now;

	/* Effective time never exceeds the wall clock, so while the wall clock
	 * is within a step of the mark there is nothing to write: no lock, no
	 * monotonic read. loaded and high_written change only on this thread. */
	if (!c || (c->loaded && mds_txn_now_ns(t) < c->high_written + HIGH_STEP_NS))
		return 0;
	return mds_retention_now(t, &now);
}

void mds_retention_settle(struct mds_txn *t, int rc)
{
	struct mds_rclock *c = mds_txn_rclock(t);

	if (!c || !c->pending)
		return;
	pthread_mutex_lock(&c->mu);
	if (rc == 0 && c->high_pending > c->high_written)
		c->high_written = c->high_pending;
	c->pending = 0;
	pthread_mutex_unlock(&c->mu);
}

int mds_retention_clock_get(struct mds_store *s, struct mds_retention_clock *out)
{
	struct mds_rclock *c = mds_store_rclock(s);
	uint64_t wall;

	memset(out, 0, sizeof(*out));
	if (!c)
		return MDS_EINVAL;
	wall = mds_store_now_ns(s);
	pthread_mutex_lock(&c->mu);
	out->wall_ns = wall;
	out->effective_ns = clock_eval(c, wall, c->mono(c->mono_arg), &out->trusted_ns);
	out->high_ns = c->high_written;
	out->tolerance_ns = c->tolerance;
	out->suspect = c->suspect;
	out->restart_gap = c->restart_gap;
	out->suspect_events = c->events;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int clock_is_suspect(struct mds_txn *t)
{
	struct mds_rclock *c = mds_txn_rclock(t);
	int s;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->mu);
	s = c->suspect;
	pthread_mutex_unlock(&c->mu);
	return s;
}

/* ---- the check ------------------------------------------------------------ */

/* RFC 3339 UTC, second precision: "2026-11-21T08:00:00Z". */
static const char *fmt_time(char buf[32], uint64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, 32, "%llu ns", (unsigned long long)ns);
	return buf;
}

static const char *mode_name(uint8_t mode)
{
	return mode == MDS_RETENTION_COMPLIANCE ? "compliance" :
	       mode == MDS_RETENTION_GOVERNANCE ? "governance" : "no";
}

int mds_retention_check(struct mds_txn *t, struct mds_op *op, struct mds_str name,
			const struct mds_object *cur, const char *what)
{
	char q[MDS_QUOTE_MAX], when[32];
	uint64_t now;
	int rc;

	if (!cur->legal_hold && cur->retention_mode == MDS_RETENTION_NONE)
		return 0;   /* the common case: no clock, no write */
	if (cur->legal_hold)
		return mds_status_set(&op->status, MDS_ELOCKED,
				      "cannot %s object '%s': it is under legal hold", what,
				      mds_quote(q, name));
	rc = mds_retention_now(t, &now);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read the retention clock: %s",
				      mds_strerror(rc));
	if (cur->retain_until_ns <= now)
		return 0;
	if (cur->retention_mode == MDS_RETENTION_GOVERNANCE && op->bypass_governance)
		return 0;
	return mds_status_set(&op->status, MDS_ELOCKED,
			      "cannot %s object '%s': %s retention until %s%s%s", what,
			      mds_quote(q, name), mode_name(cur->retention_mode),
			      fmt_time(when, cur->retain_until_ns),
			      cur->retention_mode == MDS_RETENTION_GOVERNANCE
				      ? " (bypass-governance not asked)" : "",
			      clock_is_suspect(t) && mds_txn_now_ns(t) >= cur->retain_until_ns
				      ? "; the clock is suspect: expiry waits for mdsctl object retention-clock confirm" : "");
}

int mds_retention_validate_new(struct mds_txn *t, struct mds_op *op,
			       const struct mds_object_in *in)
{
	char when[32];
	uint64_t now;
	int rc;

	if (in->retention_mode == MDS_RETENTION_NONE)
		return 0;
	rc = mds_retention_now(t, &now);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read the retention clock: %s",
				      mds_strerror(rc));
	if (in->retain_until_ns <= now)
		return mds_status_set(&op->status, MDS_EINVAL,
				      "retain-until date %s is not in the future",
				      fmt_time(when, in->retain_until_ns));
	return 0;
}

/* ---- ops ------------------------------------------------------------------ */

/* Loads the object @op names; refuses a pending copy destination. */
static int load_target(struct mds_txn *t, struct mds_op *op, struct mds_bucket *b,
		       struct mds_object *cur)
{
	char q[MDS_QUOTE_MAX];
	int rc = mds_ns_object_find(t, op->bucket, op->name, "object", "bucket", b, cur,
				    &op->status);

	if (rc)
		return rc;
	if (cur->copy_status == MDS_COPY_PENDING)
		return mds_status_set(&op->status, MDS_EPRECOND,
				      "object '%s' is the target of a pending copy; lock it after the copy completes",
				      mds_quote(q, op->name));
	return 0;
}

/*
 * Rewrites @cur with new lock fields; version, ETag and mtime stay (S3:
 * PutObjectRetention / PutObjectLegalHold do not create a version).
 */
static int rewrite_lock(struct mds_txn *t, struct mds_op *op, const struct mds_bucket *b,
			const struct mds_object *cur, uint8_t mode, uint64_t until, uint8_t hold)
{
	static __thread uint8_t buf[RET_BUF_MAX];
	struct mds_object_in in;
	char q[MDS_QUOTE_MAX];
	size_t n, x;
	int rc = mds_blob_in_from(cur, &in);

	if (rc)
		return mds_status_set(&op->status, rc, "cannot read object '%s': %s",
				      mds_quote(q, op->name), mds_strerror(rc));
	in.retention_mode = mode;
	in.retain_until_ns = until;
	in.legal_hold = hold;
	n = mds_object_encoded_size(&in);
	x = mds_object_ext_encode(NULL, cur);
	if (n + x > sizeof(buf))
		return mds_status_set(&op->status, MDS_EINVAL, "record of '%s' would be %zu bytes",
				      mds_quote(q, op->name), n + x);
	n = mds_object_encode(buf, sizeof(buf), &in, cur->version, cur->ctime_ns, cur->mtime_ns);
	n += mds_object_ext_encode(buf + n, cur);
	rc = mds_ns_object_store(t, b, op->name, (struct mds_str){ (char *)buf, n });
	if (rc)
		return mds_status_set(&op->status, rc, "cannot store object '%s': %s",
				      mds_quote(q, op->name), mds_strerror(rc));
	op->out_version = cur->version;
	op->out_mtime_ns = cur->mtime_ns;
	return 0;
}

static int apply_retention_set(struct mds_txn *t, struct mds_op *op)
{
	char q[MDS_QUOTE_MAX], when[32];
	struct mds_object cur;
	struct mds_bucket b;
	uint64_t now, until = op->retain_until_ns;
	uint8_t mode = op->retention_mode;
	int rc;

	if (mode > MDS_RETENTION_COMPLIANCE)
		return mds_status_set(&op->status, MDS_EINVAL, "retention mode %u is unknown", mode);
	if ((mode == MDS_RETENTION_NONE) != (until == 0))
		return mds_status_set(&op->status, MDS_EINVAL,
				      "retention mode and retain-until date must be given together");
	rc = load_target(t, op, &b, &cur);
	if (rc)
		return rc;
	rc = mds_retention_now(t, &now);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read the retention clock: %s",
				      mds_strerror(rc));
	if (mode != MDS_RETENTION_NONE && until <= now)
		return mds_status_set(&op->status, MDS_EINVAL,
				      "retain-until date %s is not in the future", fmt_time(when, until));
	if (cur.retention_mode != MDS_RETENTION_NONE && cur.retain_until_ns > now) {
		int weaker = mode == MDS_RETENTION_NONE || until < cur.retain_until_ns;

		if (cur.retention_mode == MDS_RETENTION_COMPLIANCE &&
		    (weaker || mode != MDS_RETENTION_COMPLIANCE))
			return mds_status_set(&op->status, MDS_ELOCKED,
					      "object '%s' has compliance retention until %s: it can be extended, never shortened, removed or changed to governance",
					      mds_quote(q, op->name), fmt_time(when, cur.retain_until_ns));
		if (cur.retention_mode == MDS_RETENTION_GOVERNANCE && weaker && !op->bypass_governance)
			return mds_status_set(&op->status, MDS_ELOCKED,
					      "object '%s' has governance retention until %s: shortening or removing it needs bypass-governance",
					      mds_quote(q, op->name), fmt_time(when, cur.retain_until_ns));
	}
	return rewrite_lock(t, op, &b, &cur, mode, until, cur.legal_hold);
}

static int apply_legal_hold_set(struct mds_txn *t, struct mds_op *op)
{
	struct mds_object cur;
	struct mds_bucket b;
	int rc;

	if (op->legal_hold > 1)
		return mds_status_set(&op->status, MDS_EINVAL, "legal hold must be 0 or 1, not %u",
				      op->legal_hold);
	rc = load_target(t, op, &b, &cur);
	if (rc)
		return rc;
	return rewrite_lock(t, op, &b, &cur, cur.retention_mode, cur.retain_until_ns, op->legal_hold);
}

static int apply_clock_confirm(struct mds_txn *t, struct mds_op *op)
{
	struct mds_rclock *c = mds_txn_rclock(t);
	uint64_t wall = mds_txn_now_ns(t), mono, diff, high;
	char w1[32], w2[32];
	int rc;

	if (!c)
		return mds_status_set(&op->status, MDS_EINVAL, "this store has no retention clock");
	if (op->retain_until_ns) {
		diff = wall > op->retain_until_ns ? wall - op->retain_until_ns : op->retain_until_ns - wall;
		if (diff > c->tolerance)
			return mds_status_set(&op->status, MDS_EPRECOND,
					      "the server's wall clock says %s, you confirmed %s; fix the clock first",
					      fmt_time(w1, wall), fmt_time(w2, op->retain_until_ns));
	}
	pthread_mutex_lock(&c->mu);
	rc = clock_load(t, c);
	high = c->high > wall ? c->high : wall;
	if (rc == 0)
		rc = high_write(t, high);
	if (rc == 0) {
		mono = c->mono(c->mono_arg);
		c->anchor_wall = wall;
		c->anchor_mono = mono;
		c->suspect = 0;
		c->restart_gap = 0;
		c->high = c->high_written = high;
		c->pending = 0;
	}
	pthread_mutex_unlock(&c->mu);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot confirm the clock: %s", mds_strerror(rc));
	op->out_mtime_ns = wall;
	return 0;
}

int mds_retention_apply(struct mds_txn *t, struct mds_op *op)
{
	switch (op->kind) {
	case MDS_OP_RETENTION_SET:
		return apply_retention_set(t, op);
	case MDS_OP_LEGAL_HOLD_SET:
		return apply_legal_hold_set(t, op);
	case MDS_OP_CLOCK_CONFIRM:
		return apply_clock_confirm(t, op);
	default:
		break;
	}
	return mds_status_set(&op->status, MDS_EINVAL, "op kind %d is not a retention op",
			      (int)op->kind);
}
