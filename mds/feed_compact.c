/*
 * feed_compact.c - leaf retention and the compactor (see feed_compact.h).
 *
 * The deletion runs as an op on the writer thread, so it is ordered with
 * every mutation and needs no lock: the op kind MDS_OP_FEED_COMPACT is a
 * no-op for the namespace, and the feed log's post-apply hook hands it to
 * mds_feed_compact_apply() in the op's nested transaction instead of
 * appending a leaf. Each deletion rewrites one value without its leaf
 * bytes (mds_feed_log_drop_leaf): the key and the node hashes stored with
 * it stay.
 *
 * The compactor thread wakes once per interval and submits ops of at most
 * one chunk each, waiting for each to be durable, until an op removes less
 * than a chunk. Between two of its ops the writer serves whatever else is
 * queued, so a large backlog of old leaves never stalls client writes for
 * more than one chunk's deletions.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed_compact.h"
#include "feed_log.h"

#define KEY_FEED_FIRST "feed_first"

static void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int mds_feed_log_first(struct mds_txn *t, uint64_t *first)
{
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_META, MDS_STR(KEY_FEED_FIRST), &v);

	if (rc == MDS_ENOTFOUND) {
		*first = 0;
		return 0;
	}
	if (rc)
		return rc;
	if (v.len != 8)
		return MDS_ECORRUPT;
	*first = be64_get((const uint8_t *)v.p);
	return 0;
}

int mds_feed_compact_apply(struct mds_txn *t, struct mds_op *op)
{
	uint64_t first, size, bound, seq, keep = op->feed_retain.retain_leaves;
	uint32_t max = op->feed_retain.max_leaves ? op->feed_retain.max_leaves
						  : MDS_FEED_COMPACT_CHUNK;
	uint8_t fv[8];
	int rc;

	rc = mds_feed_log_first(t, &first);
	if (rc == 0)
		rc = mds_feed_log_size(t, &size);
	if (rc)
		goto out_fail;
	if (keep == 0)
		keep = 1;    /* the newest leaf carries the log's size */
	bound = size > keep ? size - keep : 0;
	for (seq = first; seq < bound && seq - first < max; seq++) {
		struct mds_str v;

		rc = mds_feed_log_leaf(t, seq, &v);
		if (rc == MDS_ENOTFOUND)
			rc = MDS_ECORRUPT;   /* a retained leaf is missing */
		if (rc)
			goto out_fail;
		/* time_ns at offset 10 of every leaf version 1 */
		if (v.len < 18 || be64_get((const uint8_t *)v.p + 10) >= op->feed_retain.keep_after_ns)
			break;
		rc = mds_feed_log_drop_leaf(t, seq);
		if (rc)
			goto out_fail;
	}
	if (seq != first) {
		be64_put(fv, seq);
		rc = mds_kv_put(t, MDS_DB_META, MDS_STR(KEY_FEED_FIRST),
				(struct mds_str){ (const char *)fv, 8 });
		if (rc)
			goto out_fail;
	}
	op->out_version = seq - first;
	op->out_mtime_ns = seq;
	return 0;

out_fail:
	return mds_status_set(&op->status, rc, "cannot compact the change feed: %s",
			      mds_strerror(rc));
}

/* ---- the compactor -------------------------------------------------------- */

struct mds_feed_compactor {
	struct mds_store *s;
	struct mds_feed_compactor_opts o;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	int thread_started;
	pthread_t thread;
	/* counters, under mu */
	uint64_t runs, removed, failed, first;
};

int mds_feed_compactor_run(struct mds_feed_compactor *c, uint64_t *removed,
			   struct mds_status *st)
{
	uint64_t now = mds_store_now_ns(c->s), total = 0, first = 0;
	uint32_t chunk = c->o.chunk ? c->o.chunk : MDS_FEED_COMPACT_CHUNK;
	int rc = 0;

	for (;;) {
		struct mds_op op;

		mds_op_init(&op, MDS_OP_FEED_COMPACT);
		op.feed_retain.retain_leaves = c->o.retain_leaves;
		op.feed_retain.keep_after_ns = now > c->o.retain_ns ? now - c->o.retain_ns : 0;
		op.feed_retain.max_leaves = chunk;
		rc = mds_store_exec(c->s, &op);
		if (rc) {
			mds_status_set(st, rc, "%s", op.status.msg);
			break;
		}
		total += op.out_version;
		first = op.out_mtime_ns;
		if (op.out_version < chunk)
			break;
		pthread_mutex_lock(&c->mu);
		rc = c->stopping;
		pthread_mutex_unlock(&c->mu);
		if (rc) {
			rc = 0;
			break;
		}
	}
	pthread_mutex_lock(&c->mu);
	c->runs++;
	c->removed += total;
	if (rc)
		c->failed++;
	else
		c->first = first;
	pthread_mutex_unlock(&c->mu);
	if (removed)
		*removed = total;
	return rc;
}

static void *compactor_main(void *arg)
{
	struct mds_feed_compactor *c = arg;
	struct mds_status st;

	pthread_setname_np(pthread_self(), "mds-compactor");
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		struct timespec ts;
		uint64_t ns, removed = 0;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ns = (uint64_t)ts.tv_nsec + c->o.interval_ns;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->mu);
		rc = mds_feed_compactor_run(c, &removed, &st);
		if (c->o.report && rc != MDS_ESHUTDOWN && (rc || removed))
			c->o.report(rc, rc ? st.msg : "", removed);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int mds_feed_compactor_start(struct mds_store *s, const struct mds_feed_compactor_opts *o,
			     struct mds_feed_compactor **out, struct mds_status *st)
{
	struct mds_feed_compactor *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (!c)
		return mds_status_set(st, MDS_ENOMEM, "cannot allocate the feed compactor");
	c->s = s;
	c->o = *o;
	if (!c->o.interval_ns)
		c->o.interval_ns = 60ull * 1000000000u;
	{
		/* the first retained leaf as stored, for /metrics before a pass */
		struct mds_reader *r;

		if (mds_reader_open(s, &r) == 0) {
			if (mds_reader_begin(r) == 0 &&
			    mds_feed_log_first(mds_reader_txn(r), &c->first) != 0)
				c->first = 0;
			mds_reader_close(r);
		}
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (!o->manual) {
		if (pthread_create(&c->thread, NULL, compactor_main, c) != 0) {
			mds_feed_compactor_stop(c);
			return mds_status_set(st, MDS_ENOMEM, "cannot start the feed compactor");
		}
		c->thread_started = 1;
	}
	*out = c;
	return 0;
}

void mds_feed_compactor_metrics(struct mds_feed_compactor *c, FILE *f)
{
	uint64_t runs, removed, failed, first;

	pthread_mutex_lock(&c->mu);
	runs = c->runs;
	removed = c->removed;
	failed = c->failed;
	first = c->first;
	pthread_mutex_unlock(&c->mu);
	fprintf(f,
		"# HELP mds_feed_compaction_runs_total compaction passes over the feed's old leaves.\n"
		"# TYPE mds_feed_compaction_runs_total counter\n"
		"mds_feed_compaction_runs_total %llu\n"
		"# HELP mds_feed_compaction_failed_total compaction passes that failed.\n"
		"# TYPE mds_feed_compaction_failed_total counter\n"
		"mds_feed_compaction_failed_total %llu\n"
		"# HELP mds_feed_compaction_leaves_removed_total leaf bytes deleted (Merkle nodes stay).\n"
		"# TYPE mds_feed_compaction_leaves_removed_total counter\n"
		"mds_feed_compaction_leaves_removed_total %llu\n"
		"# HELP mds_feed_compaction_first_retained oldest leaf kept after the last pass.\n"
		"# TYPE mds_feed_compaction_first_retained gauge\n"
		"mds_feed_compaction_first_retained %llu\n",
		(unsigned long long)runs, (unsigned long long)failed,
		(unsigned long long)removed, (unsigned long long)first);
}

void mds_feed_compactor_stop(struct mds_feed_compactor *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->mu);
		c->stopping = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
	}
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
