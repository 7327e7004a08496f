/*
 * store.c - the LMDB environment, the writer thread with group commit, and
 * readers. The only file that includes <lmdb.h>.
 *
 * Design
 *   Submitters append ops to one queue under a mutex. One writer thread
 *   takes up to max_batch ops at a time, opens one write transaction, and
 *   applies each op in a nested transaction of its own: an op that fails
 *   (a precondition, a full map) is rolled back alone and its neighbours
 *   go on. Then the outer transaction commits, which is the one fsync of
 *   the batch, and only then is every op's done() called. While a commit
 *   is in progress new ops pile up in the queue, so batches grow with load
 *   by themselves; ops that arrive while a batch is being applied join it
 *   before its commit; after a commit the writer waits briefly for the
 *   callers it just answered (regroup_wait), and batch_window_us can hold
 *   a small batch open a little.
 *
 *   If the outer commit fails, nothing of the batch was stored: every op
 *   that had succeeded is completed with the commit's error instead.
 *
 *   The environment is opened with MDB_NOTLS so that a reader's
 *   transaction is not tied to a thread, and with neither MDB_NOSYNC nor
 *   MDB_WRITEMAP: an acknowledged op survives kill -9 and power loss.
 *
 * What must stay true
 *   - only the writer thread writes; done() runs after the durable commit;
 *   - exactly one function (lmdb_err) turns LMDB codes into MDS_E* codes;
 *   - every op submitted with success is completed exactly once.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"
#include "record.h"
#include "retention.h"
#include "util.h"

#define STORE_FORMAT 1

static const char *const db_names[MDS_DB__COUNT] = {
	[MDS_DB_META] = "meta",
	[MDS_DB_TEAMS] = "teams",
	[MDS_DB_BUCKETS] = "buckets",
	[MDS_DB_TEAM_BUCKETS] = "team_buckets",
	[MDS_DB_OBJECTS] = "objects",
	[MDS_DB_USAGE] = "usage",
	[MDS_DB_QUOTAS] = "quotas",
	[MDS_DB_RESERVATIONS] = "reservations",
	[MDS_DB_RES_EXPIRY] = "reservation_expiry",
	[MDS_DB_QUOTA_AUDIT] = "quota_audit",
	[MDS_DB_BLOB_MAPS] = "blob_maps",
	[MDS_DB_COPIES] = "copies",
	[MDS_DB_UPLOADS] = "uploads",
	[MDS_DB_PARTS] = "parts",
	[MDS_DB_STAGED] = "staged_blocks",
	[MDS_DB_POLICY] = "policy",
	[MDS_DB_FEED] = "feed",
	[MDS_DB_GV_PEERS] = "gv_peers",
	[MDS_DB_GV_BUCKETS] = "gv_buckets",
	[MDS_DB_GV_USAGE] = "gv_usage",
	[MDS_DB_GV_EVIDENCE] = "gv_evidence",
};

struct mds_store {
	MDB_env *env;
	MDB_dbi dbi[MDS_DB__COUNT];
	struct mds_store_opts opts;

	pthread_t writer;
	int writer_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_rwlock_t resize_lock; /* read-only stores: see mds_reader_begin */
	int claimed;                  /* registered in open_envs */
	dev_t dev;
	ino_t ino;
	struct mds_op *head, *tail;
	size_t qlen;
	size_t want;    /* the writer waits for qlen to reach this; 0 = no */
	int stopping;   /* close: drain then exit */
	int refusing;   /* shutdown: submit says MDS_ESHUTDOWN */
	mds_post_apply_fn post_apply;  /* set before the first op; writer reads it */
	void *post_apply_arg;
	struct mds_batch_hooks batch_hooks;   /* same; called with post_apply_arg */

	/* stats: written by the writer under mu, read under mu */
	struct mds_store_stats stats;

	struct mds_rclock *rclock;    /* retention clock (retention.c); NULL if read-only */
};

struct mds_txn {
	MDB_txn *txn;
	struct mds_store *s;
	uint64_t now_ns;
	int write;
};

struct mds_kcur {
	MDB_cursor *cur;
};

struct mds_reader {
	struct mds_store *s;
	struct mds_txn t;
	int active;
};

/* ---- failure injection ------------------------------------------------ */

static atomic_ulong fault_countdown;
static atomic_ulong fault_calls;
static atomic_int fault_err;

void mds_store_fault_arm(unsigned long n, int err)
{
	atomic_store(&fault_calls, 0);
	atomic_store(&fault_err, err);
	atomic_store(&fault_countdown, n);
}

unsigned long mds_store_fault_calls(void)
{
	return atomic_load(&fault_calls);
}

/* Returns the injected LMDB error for this call, or 0. */
static int fault_hit(void)
{
	unsigned long n = atomic_load_explicit(&fault_countdown, memory_order_relaxed);

	if (n == 0)
		return 0;
	atomic_fetch_add(&fault_calls, 1);
	while (n > 0) {
		if (atomic_compare_exchange_weak(&fault_countdown, &n, n - 1))
			return n == 1 ? atomic_load(&fault_err) : 0;
	}
	return 0;
}

#define LMDB(call) ({ int fault_ = fault_hit(); fault_ ? fault_ : (call); })

/* mdb_txn_commit always ends the transaction; an injected failure must too. */
static int txn_commit(MDB_txn *txn)
{
	int fault = fault_hit();

	if (fault) {
		mdb_txn_abort(txn);
		return fault;
	}
	return mdb_txn_commit(txn);
}

/* ---- the one LMDB error translation ----------------------------------- */

static int lmdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return MDS_ENOTFOUND;
	case MDB_KEYEXIST:
		return MDS_EEXIST;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT:
		return MDS_ENOSPC;
	case MDB_TXN_FULL:
	case MDB_READERS_FULL:
	case MDB_DBS_FULL:
	case MDB_CURSOR_FULL:
	case MDB_TLS_FULL:
		return MDS_EBUSY;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_PAGE_FULL:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_DBI:
		return MDS_ECORRUPT;
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		return MDS_EVERSION;
	case MDB_BAD_VALSIZE:
		return MDS_EINVAL;
	case ENOMEM:
		return MDS_ENOMEM;
	case EACCES:
	case ENOENT:
	case ENOTDIR:
	case EROFS:
		return -rc;
	default:
		return MDS_EIO;
	}
}

static MDB_val to_val(struct mds_str s)
{
	MDB_val v = { s.len, (void *)s.p };

	return v;
}

static struct mds_str from_val(MDB_val v)
{
	struct mds_str s = { v.mv_data, v.mv_size };

	return s;
}

/* ---- clock ------------------------------------------------------------- */

static uint64_t realtime_ns(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t mds_store_now_ns(const struct mds_store *s)
{
	return s->opts.clock(s->opts.clock_arg);
}

/* ---- key/value interface ---------------------------------------------- */

int mds_kv_get(struct mds_txn *t, enum mds_db db, struct mds_str key, struct mds_str *val)
{
	MDB_val k = to_val(key), v;
	int rc = LMDB(mdb_get(t->txn, t->s->dbi[db], &k, &v));

	if (rc)
		return lmdb_err(rc);
	*val = from_val(v);
	return 0;
}

int mds_kv_put(struct mds_txn *t, enum mds_db db, struct mds_str key, struct mds_str val)
{
	MDB_val k = to_val(key), v = to_val(val);

	return lmdb_err(LMDB(mdb_put(t->txn, t->s->dbi[db], &k, &v, 0)));
}

int mds_kv_append(struct mds_txn *t, enum mds_db db, struct mds_str key, struct mds_str val)
{
	MDB_val k = to_val(key), v = to_val(val);

	return lmdb_err(LMDB(mdb_put(t->txn, t->s->dbi[db], &k, &v, MDB_APPEND)));
}

int mds_kv_del(struct mds_txn *t, enum mds_db db, struct mds_str key)
{
	MDB_val k = to_val(key);

	return lmdb_err(LMDB(mdb_del(t->txn, t->s->dbi[db], &k, NULL)));
}

int mds_kv_count(struct mds_txn *t, enum mds_db db, uint64_t *out)
{
	MDB_stat st;
	int rc = LMDB(mdb_stat(t->txn, t->s->dbi[db], &st));

	if (rc)
		return lmdb_err(rc);
	*out = st.ms_entries;
	return 0;
}

int mds_kv_cursor_open(struct mds_txn *t, enum mds_db db, struct mds_kcur **out)
{
	struct mds_kcur *c = malloc(sizeof(*c));
	int rc;

	if (!c)
		return MDS_ENOMEM;
	rc = LMDB(mdb_cursor_open(t->txn, t->s->dbi[db], &c->cur));
	if (rc) {
		free(c);
		return lmdb_err(rc);
	}
	*out = c;
	return 0;
}

void mds_kv_cursor_close(struct mds_kcur *c)
{
	if (!c)
		return;
	mdb_cursor_close(c->cur);
	free(c);
}

static int cursor_get(struct mds_kcur *c, MDB_val *k, MDB_val *v, MDB_cursor_op op,
		      struct mds_str *ko, struct mds_str *vo)
{
	int rc = LMDB(mdb_cursor_get(c->cur, k, v, op));

	if (rc)
		return lmdb_err(rc);
	if (ko)
		*ko = from_val(*k);
	if (vo)
		*vo = from_val(*v);
	return 0;
}

int mds_kv_seek(struct mds_kcur *c, struct mds_str key, struct mds_str *k, struct mds_str *v)
{
	MDB_val kk = to_val(key), vv;

	if (key.len == 0)
		return cursor_get(c, &kk, &vv, MDB_FIRST, k, v);
	return cursor_get(c, &kk, &vv, MDB_SET_RANGE, k, v);
}

int mds_kv_first(struct mds_kcur *c, struct mds_str *k, struct mds_str *v)
{
	MDB_val kk, vv;

	return cursor_get(c, &kk, &vv, MDB_FIRST, k, v);
}

int mds_kv_last(struct mds_kcur *c, struct mds_str *k, struct mds_str *v)
{
	MDB_val kk, vv;

	return cursor_get(c, &kk, &vv, MDB_LAST, k, v);
}

int mds_kv_next(struct mds_kcur *c, struct mds_str *k, struct mds_str *v)
{
	MDB_val kk, vv;

	return cursor_get(c, &kk, &vv, MDB_NEXT, k, v);
}

int mds_kv_prev(struct mds_kcur *c, struct mds_str *k, struct mds_str *v)
{
	MDB_val kk, vv;

	return cursor_get(c, &kk, &vv, MDB_PREV, k, v);
}

struct mds_rclock *mds_txn_rclock(struct mds_txn *t)
{
	return t->s->rclock;
}

struct mds_rclock *mds_store_rclock(struct mds_store *s)
{
	return s->rclock;
}

uint64_t mds_txn_now_ns(struct mds_txn *t)
{
	return t->now_ns;
}

int mds_txn_is_write(const struct mds_txn *t)
{
	return t->write;
}

/* ---- readers ------------------------------------------------------------ */

int mds_reader_open(struct mds_store *s, struct mds_reader **out)
{
	struct mds_reader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return MDS_ENOMEM;
	r->s = s;
	r->t.s = s;
	rc = LMDB(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->t.txn));
	if (rc) {
		free(r);
		return lmdb_err(rc);
	}
	mdb_txn_reset(r->t.txn);
	*out = r;
	return 0;
}

/*
 * In a read-only process (a gateway next to mds), the writer process may
 * have grown the map since we opened it: renew then says MDB_MAP_RESIZED
 * and the map must be re-read with mdb_env_set_mapsize(env, 0), which is
 * only allowed while no transaction of this process is active. Readers of a
 * read-only store therefore hold resize_lock shared while their snapshot is
 * active, and the resize takes it exclusively. The writer's own process
 * never sees MDB_MAP_RESIZED and takes no lock.
 */
static void reader_unlock(struct mds_reader *r)
{
	if (r->s->opts.read_only)
		pthread_rwlock_unlock(&r->s->resize_lock);
}

static void reader_lock(struct mds_reader *r)
{
	if (r->s->opts.read_only)
		pthread_rwlock_rdlock(&r->s->resize_lock);
}

int mds_reader_begin(struct mds_reader *r)
{
	int rc;

	mds_reader_end(r);
	reader_lock(r);
	rc = LMDB(mdb_txn_renew(r->t.txn));
	if (rc == MDB_MAP_RESIZED && r->s->opts.read_only) {
		reader_unlock(r);
		pthread_rwlock_wrlock(&r->s->resize_lock);
		rc = mdb_env_set_mapsize(r->s->env, 0);
		pthread_rwlock_unlock(&r->s->resize_lock);
		reader_lock(r);
		if (rc == 0)
			rc = LMDB(mdb_txn_renew(r->t.txn));
	}
	if (rc) {
		reader_unlock(r);
		return lmdb_err(rc);
	}
	r->active = 1;
	r->t.now_ns = mds_store_now_ns(r->s);
	return 0;
}

void mds_reader_end(struct mds_reader *r)
{
	if (!r->active)
		return;
	mdb_txn_reset(r->t.txn);
	r->active = 0;
	reader_unlock(r);
}

void mds_reader_close(struct mds_reader *r)
{
	if (!r)
		return;
	mds_reader_end(r);
	mdb_txn_abort(r->t.txn);
	free(r);
}

struct mds_txn *mds_reader_txn(struct mds_reader *r)
{
	return &r->t;
}

int mds_store_reap_readers(struct mds_store *s)
{
	int dead = 0;
	int rc = mdb_reader_check(s->env, &dead);

	if (rc)
		return lmdb_err(rc);
	if (dead > 0) {
		pthread_mutex_lock(&s->mu);
		s->stats.stale_readers_reaped += (uint64_t)dead;
		pthread_mutex_unlock(&s->mu);
	}
	return dead;
}

/* ---- the writer --------------------------------------------------------- */

void mds_store_set_post_apply(struct mds_store *s, mds_post_apply_fn fn, void *arg)
{
	pthread_mutex_lock(&s->mu);
	s->post_apply = fn;
	s->post_apply_arg = arg;
	pthread_mutex_unlock(&s->mu);
}

void mds_store_set_batch_hooks(struct mds_store *s, const struct mds_batch_hooks *h)
{
	pthread_mutex_lock(&s->mu);
	if (h)
		s->batch_hooks = *h;
	else
		memset(&s->batch_hooks, 0, sizeof(s->batch_hooks));
	pthread_mutex_unlock(&s->mu);
}

static void complete(struct mds_op *op)
{
	op->done(op);
}

/* Appends what to do about a full store to @st's message. */
static void explain_enospc(const struct mds_store *s, struct mds_status *st)
{
	size_t l = strlen(st->msg);

	snprintf(st->msg + l, sizeof(st->msg) - l,
		 " (map of %llu bytes or its disk is full; raise the map size or free disk space)",
		 (unsigned long long)s->opts.map_size);
}

/*
 * A commit that failed with EIO on a filesystem with (almost) no room left:
 * LMDB reports a short page write as EIO ("short write, filesystem
 * full?"). Callers must see "store is full" (MDS_ENOSPC, retryable once
 * space returns), not an internal error.
 */
static int commit_err(const struct mds_store *s, int rc)
{
	const char *path = NULL;
	struct statvfs v;

	if (rc == EIO && mdb_env_get_path(s->env, &path) == 0 && path &&
	    statvfs(path, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize < (8u << 20))
		return MDS_ENOSPC;
	return lmdb_err(rc);
}

/* Applies @op in a nested transaction of @parent; returns 1 if it stuck. */
static int apply_one(struct mds_store *s, MDB_txn *parent, struct mds_op *op)
{
	struct mds_txn t = { .s = s, .write = 1 };
	int rc;

	mds_status_clear(&op->status);
	rc = LMDB(mdb_txn_begin(s->env, parent, 0, &t.txn));
	if (rc) {
		rc = lmdb_err(rc);
		mds_status_set(&op->status, rc, "cannot begin a nested transaction: %s",
			       mds_strerror(rc));
		return 0;
	}
	t.now_ns = mds_store_now_ns(s);
	rc = mds_ns_apply(&t, op);
	if (rc == 0 && s->post_apply)
		rc = s->post_apply(s->post_apply_arg, &t, op);
	if (rc == 0)
		rc = lmdb_err(txn_commit(t.txn));
	else
		mdb_txn_abort(t.txn);
	if (s->post_apply && s->batch_hooks.op_end)
		s->batch_hooks.op_end(s->post_apply_arg, op, rc == 0);
	if (rc) {
		if (op->status.code == 0 || op->status.code != rc)
			mds_status_set(&op->status, rc, "%s", mds_strerror(rc));
		if (rc == MDS_ENOSPC)
			explain_enospc(s, &op->status);
		return 0;
	}
	return 1;
}

/*
 * Takes up to @max queued ops (at least one must be queued) as a list;
 * @n_out gets the count. Called with s->mu held.
 */
static struct mds_op *take_ops(struct mds_store *s, size_t max, size_t *n_out)
{
	struct mds_op *first = s->head, *last = s->head;
	size_t n = 1;

	while (n < max && last->next_) {
		last = last->next_;
		n++;
	}
	s->head = last->next_;
	if (!s->head)
		s->tail = NULL;
	last->next_ = NULL;
	s->qlen -= n;
	*n_out = n;
	return first;
}

/*
 * Applies @batch (a list of *@np ops) in one durable transaction. Ops that
 * were queued while the batch was being applied join it before the commit
 * (up to max_batch): they cost no extra fsync. *@np is updated; *@commit_ns
 * gets the commit's duration (0 when nothing was committed), *@queued the
 * ops that were waiting before the batch's ops were completed.
 */
static void run_batch(struct mds_store *s, struct mds_op *batch, size_t *np, uint64_t *commit_ns,
		      size_t *queued)
{
	MDB_txn *parent = NULL;
	uint64_t ok = 0, failed = 0, t0, dt = 0;
	struct mds_op *op, *next;
	size_t n = *np;
	int rc;

	rc = LMDB(mdb_txn_begin(s->env, NULL, 0, &parent));
	if (rc) {
		rc = lmdb_err(rc);
		for (op = batch; op; op = op->next_)
			mds_status_set(&op->status, rc, "cannot begin a write transaction: %s",
				       mds_strerror(rc));
		goto out_complete;
	}
	for (op = batch; op; op = op->next_) {
		ok += (uint64_t)apply_one(s, parent, op);
		if (op->next_ || n >= s->opts.max_batch)
			continue;
		/* the list is done: let late arrivals join before the commit */
		pthread_mutex_lock(&s->mu);
		if (s->head) {
			size_t k;

			op->next_ = take_ops(s, s->opts.max_batch - n, &k);
			n += k;
		}
		pthread_mutex_unlock(&s->mu);
	}
	if (ok == 0) {
		mdb_txn_abort(parent);
		goto out_complete;
	}
	if (s->post_apply && s->batch_hooks.flush) {
		struct mds_txn bt = { .txn = parent, .s = s, .now_ns = mds_store_now_ns(s),
				      .write = 1 };
		struct mds_status fst;

		mds_status_clear(&fst);
		rc = s->batch_hooks.flush(s->post_apply_arg, &bt, &fst);
		if (rc) {
			mdb_txn_abort(parent);
			ok = 0;
			for (op = batch; op; op = op->next_)
				if (op->status.code == 0)
					mds_status_set(&op->status, rc, "%s", fst.msg[0] ? fst.msg
						       : mds_strerror(rc));
			goto out_complete;
		}
	}
	t0 = mono_ns();
	rc = txn_commit(parent);
	dt = mono_ns() - t0;
	if (rc) {
		rc = commit_err(s, rc);
		for (op = batch; op; op = op->next_)
			if (op->status.code == 0)
			{
				mds_status_set(&op->status, rc,
					       "the batch commit failed, nothing of it was stored: %s",
					       mds_strerror(rc));
				if (rc == MDS_ENOSPC)
					explain_enospc(s, &op->status);
			}
	}

out_complete:
	if (s->post_apply && s->batch_hooks.end)
		s->batch_hooks.end(s->post_apply_arg, ok && rc == 0);
	pthread_mutex_lock(&s->mu);
	for (op = batch; op; op = op->next_)
		if (op->status.code)
			failed++;
	s->stats.ops += n;
	s->stats.ops_failed += failed;
	if (ok && rc == 0) {
		s->stats.batches++;
		s->stats.commit_ns_total += dt;
		if (dt > s->stats.commit_ns_max)
			s->stats.commit_ns_max = dt;
	}
	if (n > s->stats.batch_max)
		s->stats.batch_max = n;
	*queued = s->qlen;
	pthread_mutex_unlock(&s->mu);
	for (op = batch; op; op = next) {
		next = op->next_;
		op->next_ = NULL;
		complete(op);
	}
	*np = n;
	*commit_ns = ok && rc == 0 ? dt : 0;
}

static void deadline_after(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ns += (uint64_t)ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

/*
 * After a commit that answered some ops, called with s->mu held; @want is
 * those ops plus the ones that were already waiting when they were
 * answered (callers that resubmit from done() are back already).
 *
 * Callers in a closed loop (a gateway with a window of requests in flight)
 * send their next op as soon as they have their answer. If the writer
 * began the next transaction with only the ops that queued up during the
 * commit, batches would alternate between the two halves of the window and
 * every fsync would carry half of what it could. So the writer gives the
 * answered callers a little time to come back, for as long as waiting
 * pays: one more op is worth waiting for while it arrives within its share
 * of the batch's time, (commit + waited) / ops queued. The wait ends when
 * the queue holds @want, when a share of time passes without an arrival,
 * or after one commit's duration (at most REGROUP_MAX_NS). A caller that
 * does not come back thus costs the others at most one commit's time.
 */
#define REGROUP_MAX_NS 2000000u

static void regroup_wait(struct mds_store *s, size_t want, uint64_t commit_ns)
{
	uint64_t t0 = mono_ns(), waited = 0;

	if (want > s->opts.max_batch)
		want = s->opts.max_batch;
	if (commit_ns > REGROUP_MAX_NS)
		commit_ns = REGROUP_MAX_NS;
	s->want = want;
	while (s->qlen < want && !s->stopping && waited < commit_ns) {
		size_t had = s->qlen;
		uint64_t share = (commit_ns + waited) / (had ? had : 1);
		struct timespec ts;

		if (share > commit_ns - waited)
			share = commit_ns - waited;
		deadline_after(&ts, share);
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		waited = mono_ns() - t0;
		if (s->qlen == had && had > 0)
			break;
	}
	s->want = 0;
}

static void *writer_main(void *arg)
{
	struct mds_store *s = arg;
	uint64_t reap_every = (uint64_t)s->opts.reaper_interval_ms * 1000000u;
	uint64_t next_reap = mono_ns() + reap_every;

	pthread_setname_np(pthread_self(), "mds-writer");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct mds_op *batch;
		uint64_t commit_ns;
		size_t n, queued;

		while (!s->head && !s->stopping) {
			struct timespec ts;

			deadline_after(&ts, reap_every);
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			if (mono_ns() >= next_reap)
				break;
		}
		if (mono_ns() >= next_reap) {
			pthread_mutex_unlock(&s->mu);
			mds_store_reap_readers(s);
			pthread_mutex_lock(&s->mu);
			next_reap = mono_ns() + reap_every;
		}
		if (!s->head) {
			if (s->stopping)
				break;
			continue;
		}
		if (s->opts.batch_window_us && s->qlen < s->opts.max_batch && !s->stopping) {
			struct timespec ts;

			deadline_after(&ts, (uint64_t)s->opts.batch_window_us * 1000u);
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		}
		batch = take_ops(s, s->opts.max_batch, &n);
		pthread_mutex_unlock(&s->mu);
		run_batch(s, batch, &n, &commit_ns, &queued);
		pthread_mutex_lock(&s->mu);
		if (commit_ns)
			regroup_wait(s, n + queued, commit_ns);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int mds_store_submit(struct mds_store *s, struct mds_op *op)
{
	int rc = 0;

	if (!op->done)
		return mds_status_set(&op->status, MDS_EINVAL, "op has no completion callback");
	if (s->opts.read_only)
		return mds_status_set(&op->status, MDS_EINVAL, "the store is open read-only");
	op->next_ = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->refusing || s->stopping) {
		rc = mds_status_set(&op->status, MDS_ESHUTDOWN,
				    "the store is shutting down; retry on another server or later");
	} else if (s->qlen >= s->opts.queue_max) {
		rc = mds_status_set(&op->status, MDS_EBUSY,
				    "the write queue holds %zu ops; retry with backoff", s->qlen);
	} else {
		if (s->tail)
			s->tail->next_ = op;
		else
			s->head = op;
		s->tail = op;
		s->qlen++;
		if (s->qlen == 1 || s->qlen == s->want)
			pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

struct exec_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void exec_done(struct mds_op *op)
{
	struct exec_wait *w = op->wait_;

	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int mds_store_exec(struct mds_store *s, struct mds_op *op)
{
	struct exec_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	int rc;

	if (op->done)
		return mds_status_set(&op->status, MDS_EINVAL, "mds_store_exec: op->done must be NULL");
	op->done = exec_done;
	op->wait_ = &w;
	rc = mds_store_submit(s, op);
	if (rc == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		rc = op->status.code;
	}
	op->done = NULL;
	op->wait_ = NULL;
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}

void mds_op_init(struct mds_op *op, enum mds_op_kind kind)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
}

void mds_store_stats(struct mds_store *s, struct mds_store_stats *out)
{
	MDB_envinfo info;
	MDB_stat st;

	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	out->queue_len = s->qlen;
	pthread_mutex_unlock(&s->mu);
	if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0) {
		out->map_size = info.me_mapsize;
		out->map_used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
		out->readers_used = info.me_numreaders;
		out->readers_max = info.me_maxreaders;
	}
}

void mds_store_shutdown(struct mds_store *s)
{
	pthread_mutex_lock(&s->mu);
	s->refusing = 1;
	pthread_mutex_unlock(&s->mu);
}

/* ---- open / close ------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0750) != 0 && errno != EEXIST)
			return -errno;
		path[i] = i < n ? '/' : '\0';
	}
	return 0;
}

/* Opens the databases and checks or writes the format version. */
static int open_dbs(struct mds_store *s, struct mds_status *st)
{
	unsigned flags = s->opts.read_only ? MDB_RDONLY : 0;
	MDB_txn *txn;
	MDB_val k = { 6, "format" }, v;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, flags, &txn);
	if (rc)
		return mds_status_set(st, lmdb_err(rc), "cannot begin transaction: %s",
				      mdb_strerror(rc));
	for (int i = 0; i < MDS_DB__COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], s->opts.read_only ? 0 : MDB_CREATE, &s->dbi[i]);
		if (rc) {
			mdb_txn_abort(txn);
			if (rc == MDB_NOTFOUND)
				return mds_status_set(st, MDS_ENOTFOUND,
						      "the store has no '%s' database: it was never opened by this version of mds; start mds on it once (writable) to create it",
						      db_names[i]);
			return mds_status_set(st, lmdb_err(rc), "cannot open database '%s': %s",
					      db_names[i], mdb_strerror(rc));
		}
	}
	rc = mdb_get(txn, s->dbi[MDS_DB_META], &k, &v);
	if (rc == MDB_NOTFOUND && !s->opts.read_only) {
		uint8_t buf[4] = { STORE_FORMAT, 0, 0, 0 };

		v.mv_data = buf;
		v.mv_size = sizeof(buf);
		rc = mdb_put(txn, s->dbi[MDS_DB_META], &k, &v, 0);
	} else if (rc == 0) {
		if (v.mv_size != 4 || ((const uint8_t *)v.mv_data)[0] != STORE_FORMAT) {
			mdb_txn_abort(txn);
			return mds_status_set(st, MDS_EVERSION,
					      "store format %u is not supported by this mds (it reads format %d)",
					      v.mv_size ? ((const uint8_t *)v.mv_data)[0] : 0,
					      STORE_FORMAT);
		}
	}
	if (rc && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return mds_status_set(st, lmdb_err(rc), "cannot initialise the store: %s",
				      mdb_strerror(rc));
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return mds_status_set(st, lmdb_err(rc), "cannot initialise the store: %s",
				      mdb_strerror(rc));
	return 0;
}

/*
 * LMDB allows one open of an environment per process: a second
 * mdb_env_open of the same files, closed later, breaks the first one's
 * locks. Stores open in this process are remembered by the data
 * directory's device and inode, and a second open is refused.
 */
struct open_env {
	struct open_env *next;
	dev_t dev;
	ino_t ino;
	pid_t pid;  /* a child after fork() inherits the list but not the opens */
};

static pthread_mutex_t open_envs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct open_env *open_envs;

static int open_env_claim(struct mds_store *s, const char *dir, struct mds_status *st)
{
	struct open_env *e;
	struct stat sb;

	if (stat(dir, &sb) != 0)
		return mds_status_set(st, -errno, "cannot open store in '%s': %s", dir, strerror(errno));
	pthread_mutex_lock(&open_envs_mu);
	for (e = open_envs; e; e = e->next) {
		if (e->dev == sb.st_dev && e->ino == sb.st_ino && e->pid == getpid()) {
			pthread_mutex_unlock(&open_envs_mu);
			return mds_status_set(st, MDS_EBUSY,
					      "store '%s' is already open in this process; share that struct mds_store",
					      dir);
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		pthread_mutex_unlock(&open_envs_mu);
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	}
	e->dev = sb.st_dev;
	e->ino = sb.st_ino;
	e->pid = getpid();
	e->next = open_envs;
	open_envs = e;
	pthread_mutex_unlock(&open_envs_mu);
	s->claimed = 1;
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	return 0;
}

static void open_env_release(struct mds_store *s)
{
	struct open_env **pp, *e;

	if (!s->claimed)
		return;
	pthread_mutex_lock(&open_envs_mu);
	for (pp = &open_envs; (e = *pp); pp = &e->next) {
		if (e->dev == s->dev && e->ino == s->ino && e->pid == getpid()) {
			*pp = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&open_envs_mu);
	s->claimed = 0;
}

int mds_store_open(struct mds_store **out, const char *dir, const struct mds_store_opts *opts,
		   struct mds_status *st)
{
	struct mds_store *s;
	unsigned flags = MDB_NOTLS;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return mds_status_set(st, MDS_ENOMEM, "cannot allocate the store");
	if (opts)
		s->opts = *opts;
	if (!s->opts.map_size)
		s->opts.map_size = 64ull << 30;
	if (!s->opts.max_readers)
		s->opts.max_readers = 1024;
	if (!s->opts.max_batch)
		s->opts.max_batch = 1024;
	if (!s->opts.queue_max)
		s->opts.queue_max = 1000000;
	if (!s->opts.reaper_interval_ms)
		s->opts.reaper_interval_ms = 10000;
	if (!s->opts.clock)
		s->opts.clock = realtime_ns;
	pthread_mutex_init(&s->mu, NULL);
	pthread_rwlock_init(&s->resize_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cv, &ca);
		pthread_condattr_destroy(&ca);
	}

	if (!s->opts.read_only) {
		rc = mkdir_p(dir);
		if (rc) {
			mds_status_set(st, rc, "cannot create data directory '%s': %s", dir,
				       strerror(-rc));
			goto out_free;
		}
	}
	rc = open_env_claim(s, dir, st);
	if (rc)
		goto out_free;
	rc = mdb_env_create(&s->env);
	if (rc) {
		rc = mds_status_set(st, lmdb_err(rc), "cannot create lmdb env: %s", mdb_strerror(rc));
		goto out_free;
	}
	mdb_env_set_maxdbs(s->env, 32);
	mdb_env_set_maxreaders(s->env, s->opts.max_readers);
	rc = mdb_env_set_mapsize(s->env, s->opts.map_size);
	if (rc) {
		rc = mds_status_set(st, MDS_EINVAL, "map size %llu is not usable: %s",
				    (unsigned long long)s->opts.map_size, mdb_strerror(rc));
		goto out_env;
	}
	if (s->opts.read_only)
		flags |= MDB_RDONLY;
	rc = mdb_env_open(s->env, dir, flags, 0640);
	if (rc) {
		rc = mds_status_set(st, lmdb_err(rc), "cannot open store in '%s': %s", dir,
				    mdb_strerror(rc));
		goto out_env;
	}
	{
		MDB_envinfo info;

		if (mdb_env_info(s->env, &info) == 0)
			s->opts.map_size = info.me_mapsize;
	}
	mds_store_reap_readers(s);
	rc = open_dbs(s, st);
	if (rc)
		goto out_env;
	if (!s->opts.read_only) {
		s->rclock = mds_rclock_new(&s->opts);
		if (!s->rclock) {
			rc = mds_status_set(st, MDS_ENOMEM, "cannot allocate the retention clock");
			goto out_env;
		}
		rc = pthread_create(&s->writer, NULL, writer_main, s);
		if (rc) {
			rc = mds_status_set(st, -rc, "cannot start the writer thread: %s", strerror(rc));
			goto out_env;
		}
		s->writer_started = 1;
	}
	*out = s;
	mds_status_clear(st);
	return 0;

out_env:
	mdb_env_close(s->env);
	mds_rclock_free(s->rclock);
out_free:
	open_env_release(s);
	pthread_rwlock_destroy(&s->resize_lock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return rc;
}

void mds_store_close(struct mds_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->writer_started)
		pthread_join(s->writer, NULL);
	mdb_env_close(s->env);
	open_env_release(s);
	mds_rclock_free(s->rclock);
	pthread_rwlock_destroy(&s->resize_lock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
