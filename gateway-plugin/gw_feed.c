/*
 * gw_feed.c - the feed follower of the grpc: lookup cache: one thread per
 * cached handle that follows the island's change feed (mds.v1.Feed) and
 * drops the cache entry of every (bucket, name) a leaf changes.
 *
 * Rounds. The follower polls: every feed_poll_ms it calls Subscribe with
 * the size and root it has (follow = false: one round, the stream ends at
 * the newest signed checkpoint). Why not a follow stream: the cache may
 * answer only while it can prove it has seen every change up to a recent
 * moment, and a quiet follow stream carries nothing (heartbeats come every
 * feed-heartbeat-ms, 10 s by default) that tells a live stream from a dead
 * connection; a completed round does. A round that started at time R and
 * completed verified means every change committed before R minus the
 * island's checkpoint cadence has been applied; gw_cache_set_synced(R).
 *
 * Verification (always): the checkpoint's consistency proof from the
 * follower's size and root, the contiguity of sequence numbers, and that
 * the leaves fold (RFC 9162, compact range) to the checkpoint's root. With
 * feed_key, the checkpoint must also carry a valid signature of that key
 * for its origin (the key's name). Leaves are applied (invalidated) as they
 * arrive, which is always safe (an invalidation only removes); the
 * position advances only after the round verifies.
 *
 * Bootstrap. The cache starts empty, so the follower needs no history: it
 * takes the newest checkpoint (size N, root R) and the frontier at N from
 * the inclusion proof of leaf N-1 (the proof's hashes are the roots of the
 * perfect subtrees to its left), checks that the frontier folds to R, and
 * starts there. It bootstraps again (dropping every entry) when the
 * position is lost: a failed verification, compaction, a gap larger than
 * JUMP_MAX (cheaper to start over than to replay), or the island's log
 * being behind the follower's position.
 *
 * What must stay true: the cache is marked synced only by a verified
 * round; anything that could have hidden a change from the follower
 * flushes the cache first.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed.pb-c.h"
#include "feed/merkle.h"
#include "feed/note.h"
#include "feed_log.h"
#include "gw_internal.h"
#include "gw_rpc.h"

#define JUMP_MAX 100000        /* leaves: more behind than this, start over */
#define CALL_MS 2000           /* deadline of each call of the follower */
#define ROSTER_MAX 4

struct gw_feed {
	struct gw_rpc *rpc;        /* borrowed */
	struct gw_cache *cache;    /* borrowed */
	unsigned poll_ms;
	struct mds_note_verifier roster[ROSTER_MAX];
	size_t n_roster;
	char origin[MDS_NOTE_NAME_MAX + 1];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	struct gw_rpc_stream *live;   /* the round in flight (for stop) */
	/* follower state (thread only) */
	int synced;
	struct mds_merkle_compact cur;
};

static void fail(struct gw_feed *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct gw_feed *f, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_cache_feed_error(f->cache, msg);
}

/* Position lost: serve nothing and drop everything until a new bootstrap. */
static void lose(struct gw_feed *f)
{
	f->synced = 0;
	gw_cache_set_unsynced(f->cache);
	gw_cache_flush(f->cache);
}

/* Check a checkpoint: the signed note with a key, else the message's fields. */
static int open_checkpoint(struct gw_feed *f, const Mds__V1__FeedCheckpoint *ck,
			   uint64_t *size, uint8_t root[32])
{
	struct mds_checkpoint cp;
	struct mds_status ms = { 0 };
	int rc;

	if (!ck)
		return MDSGW_ECORRUPT;
	if (f->n_roster) {
		rc = mds_checkpoint_open((const char *)ck->note.data, ck->note.len, f->origin,
					 f->roster, f->n_roster, &cp, &ms);
		if (rc) {
			fail(f, "checkpoint refused: %s", ms.msg[0] ? ms.msg : mdsgw_strerror(rc));
			return rc;
		}
		*size = cp.size;
		memcpy(root, cp.root, 32);
		return 0;
	}
	if (ck->root.len != 32) {
		fail(f, "checkpoint root is %zu bytes, not 32", ck->root.len);
		return MDSGW_ECORRUPT;
	}
	*size = ck->size;
	memcpy(root, ck->root.data, 32);
	return 0;
}

/*
 * The frontier at @size from the inclusion proof of leaf size-1 (@proof
 * bottom-up, @n hashes) and that leaf's hash. Top-down, the proof is the
 * perfect subtrees left of the leaf: one per set bit of size except the
 * lowest, then the halves that the lowest bit's block splits into.
 */
static int frontier_from_proof(uint64_t size, const uint8_t leaf_hash[32],
			       const ProtobufCBinaryData *proof, size_t n,
			       struct mds_merkle_compact *out)
{
	unsigned bits = (unsigned)__builtin_popcountll(size);
	unsigned low = (unsigned)__builtin_ctzll(size);
	uint8_t h[32];

	if (n != bits - 1 + low)
		return MDSGW_ECORRUPT;
	for (size_t i = 0; i < n; i++)
		if (proof[i].len != 32)
			return MDSGW_ECORRUPT;
	memset(out, 0, sizeof(*out));
	out->size = size;
	/* top-down index t is proof[n - 1 - t] */
	for (unsigned t = 0; t + 1 < bits; t++)
		memcpy(out->hash[t], proof[n - 1 - t].data, 32);
	memcpy(h, leaf_hash, 32);
	for (unsigned i = 0; i < low; i++)
		if (mds_merkle_hash_node(proof[i].data, h, h) != 0)
			return MDSGW_ENOMEM;
	memcpy(out->hash[bits - 1], h, 32);
	return 0;
}

static int bootstrap(struct gw_feed *f)
{
	Mds__V1__GetCheckpointRequest creq = MDS__V1__GET_CHECKPOINT_REQUEST__INIT;
	Mds__V1__GetInclusionProofRequest ireq = MDS__V1__GET_INCLUSION_PROOF_REQUEST__INIT;
	ProtobufCMessage *m = NULL, *pm = NULL;
	struct mds_merkle_compact c;
	uint8_t root[32], got[32], lh[32];
	uint64_t size;
	char msg[MDSGW_MSG_MAX];
	uint32_t hint;
	int rc;

	rc = gw_rpc_unary(f->rpc, "/mds.v1.Feed/GetCheckpoint", &creq.base,
			  &mds__v1__feed_checkpoint__descriptor, &m, (int64_t)CALL_MS * 1000000, 0,
			  msg, sizeof(msg), &hint);
	if (rc) {
		fail(f, "feed: cannot get the island's checkpoint: %s%s", msg,
		     rc == MDSGW_ENOTFOUND ? " (does the island sign checkpoints? mds keys init)"
					   : "");
		return rc;
	}
	rc = open_checkpoint(f, (const Mds__V1__FeedCheckpoint *)m, &size, root);
	if (rc)
		goto out;
	mds_merkle_compact_init(&c);
	if (size > 0) {
		const Mds__V1__InclusionProof *p;

		ireq.seq = size - 1;
		ireq.size = size;
		rc = gw_rpc_unary(f->rpc, "/mds.v1.Feed/GetInclusionProof", &ireq.base,
				  &mds__v1__inclusion_proof__descriptor, &pm,
				  (int64_t)CALL_MS * 1000000, 0, msg, sizeof(msg), &hint);
		if (rc) {
			fail(f, "feed: cannot get the frontier at %llu: %s",
			     (unsigned long long)size, msg);
			goto out;
		}
		p = (const Mds__V1__InclusionProof *)pm;
		if (mds_merkle_hash_leaf(p->leaf.data, p->leaf.len, lh) != 0 ||
		    frontier_from_proof(size, lh, p->hashes, p->n_hashes, &c) != 0 ||
		    mds_merkle_compact_root(&c, got) != 0 || memcmp(got, root, 32) != 0) {
			fail(f, "feed: the frontier at %llu does not fold to the checkpoint's root",
			     (unsigned long long)size);
			rc = MDSGW_EDENIED;
			goto out;
		}
	}
	lose(f);               /* entries from before this position are unknown */
	f->cur = c;
	f->synced = 1;
out:
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	if (pm)
		protobuf_c_message_free_unpacked(pm, NULL);
	return rc;
}

/* Drop the entries a leaf changes. */
static void apply_leaf(struct gw_feed *f, const ProtobufCBinaryData *leaf)
{
	struct mds_feed_leaf l;
	struct mds_status ms = { 0 };

	if (mds_feed_leaf_decode(leaf->data, leaf->len, &l, &ms) != 0) {
		/* An unknown leaf could be anything: drop everything. */
		gw_cache_flush(f->cache);
		return;
	}
	if (l.bucket.len && l.name.len)
		gw_cache_invalidate(f->cache, l.bucket.p, l.bucket.len, l.name.p, l.name.len);
	else if (l.bucket.len)
		gw_cache_flush(f->cache);  /* a bucket created or deleted */
}

static void set_live(struct gw_feed *f, struct gw_rpc_stream *s)
{
	pthread_mutex_lock(&f->mu);
	f->live = s;
	if (s && f->stop)
		gw_rpc_stream_cancel(s);
	pthread_mutex_unlock(&f->mu);
}

/* One Subscribe round. Returns 0 (verified: f->cur advanced) or an error. */
static int round_once(struct gw_feed *f)
{
	Mds__V1__SubscribeRequest req = MDS__V1__SUBSCRIBE_REQUEST__INIT;
	struct gw_rpc_stream *s = NULL;
	struct mds_merkle_compact work = f->cur;
	uint8_t have_root[32], cp_root[32], got[32];
	uint8_t proof[MDS_MERKLE_PROOF_MAX][32];
	uint64_t cp_size = 0;
	int64_t start = mdsgw_now_ns();
	int have_cp = 0, rc;
	char err[MDSGW_MSG_MAX];

	if (mds_merkle_compact_root(&f->cur, have_root) != 0)
		return MDSGW_ENOMEM;
	req.origin = f->n_roster ? f->origin : (char *)"";
	req.have_size = f->cur.size;
	req.have_root.data = have_root;
	req.have_root.len = f->cur.size ? 32 : 0;
	req.follow = 0;
	rc = gw_rpc_stream_open(f->rpc, "/mds.v1.Feed/Subscribe", &req.base,
				(int64_t)CALL_MS * 1000000, &s);
	if (rc)
		return rc;
	set_live(f, s);
	for (;;) {
		ProtobufCMessage *m = NULL;
		const Mds__V1__SubscribeEvent *ev;

		rc = gw_rpc_stream_next(s, &mds__v1__subscribe_event__descriptor, &m, err,
					sizeof(err));
		if (rc) {
			fail(f, "feed round from %llu: %s", (unsigned long long)f->cur.size,
			     err[0] ? err : mdsgw_strerror(rc));
			if (rc == MDSGW_EPRECOND)      /* not our history: fork or rollback */
				rc = MDSGW_EDENIED;
			break;
		}
		if (!m) {                              /* the round ended */
			if (!have_cp || work.size != cp_size) {
				fail(f, "feed round ended at %llu before the checkpoint's %llu",
				     (unsigned long long)work.size, (unsigned long long)cp_size);
				rc = MDSGW_ECORRUPT;
			}
			break;
		}
		ev = (const Mds__V1__SubscribeEvent *)m;
		if (ev->compacted) {
			fail(f, "feed compacted below %llu: starting over",
			     (unsigned long long)f->cur.size);
			rc = MDSGW_EDENIED;
		} else if (ev->checkpoint) {
			if (have_cp) {                 /* one checkpoint per round */
				rc = MDSGW_ECORRUPT;
			} else if ((rc = open_checkpoint(f, ev->checkpoint, &cp_size, cp_root)) == 0) {
				have_cp = 1;
				if (cp_size < f->cur.size || ev->n_consistency > MDS_MERKLE_PROOF_MAX) {
					rc = MDSGW_EDENIED;
				} else {
					for (size_t i = 0; i < ev->n_consistency && !rc; i++) {
						if (ev->consistency[i].len != 32)
							rc = MDSGW_ECORRUPT;
						else
							memcpy(proof[i], ev->consistency[i].data, 32);
					}
					if (!rc && mds_merkle_verify_consistency(
						f->cur.size, cp_size, have_root, cp_root,
						(const uint8_t (*)[32])proof, ev->n_consistency) != 0)
						rc = MDSGW_EDENIED;
				}
				if (rc)
					fail(f, "feed checkpoint at %llu is not consistent with ours "
					     "at %llu", (unsigned long long)cp_size,
					     (unsigned long long)f->cur.size);
				else if (cp_size - f->cur.size > JUMP_MAX) {
					fail(f, "feed: %llu leaves behind, more than %d: starting "
					     "over", (unsigned long long)(cp_size - f->cur.size),
					     JUMP_MAX);
					rc = MDSGW_EDENIED;    /* cheaper than replaying */
				}
			}
		} else if (!have_cp) {
			rc = MDSGW_ECORRUPT;
		} else {
			for (size_t i = 0; i < ev->n_entries && !rc; i++) {
				const Mds__V1__FeedEntry *e = ev->entries[i];
				uint8_t lh[32];

				if (e->seq != work.size || work.size >= cp_size) {
					fail(f, "feed entry %llu out of order (expected %llu)",
					     (unsigned long long)e->seq,
					     (unsigned long long)work.size);
					rc = MDSGW_ECORRUPT;
					break;
				}
				apply_leaf(f, &e->leaf);
				if (mds_merkle_hash_leaf(e->leaf.data, e->leaf.len, lh) != 0 ||
				    mds_merkle_compact_append(&work, lh) != 0)
					rc = MDSGW_ENOMEM;
			}
		}
		protobuf_c_message_free_unpacked(m, NULL);
		if (rc)
			break;
	}
	set_live(f, NULL);
	gw_rpc_stream_close(s);
	if (rc)
		return rc;
	if (mds_merkle_compact_root(&work, got) != 0)
		return MDSGW_ENOMEM;
	if (memcmp(got, cp_root, 32) != 0) {
		fail(f, "feed leaves up to %llu do not fold to the checkpoint's root",
		     (unsigned long long)cp_size);
		return MDSGW_EDENIED;
	}
	f->cur = work;
	gw_cache_set_synced(f->cache, start, work.size);
	return 0;
}

/* Sleep @ms unless stopped; returns 1 when stopped. */
static int pause_ms(struct gw_feed *f, unsigned ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->mu);
	while (!f->stop && pthread_cond_timedwait(&f->cv, &f->mu, &ts) == 0)
		;
	stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	return stop;
}

static void *feed_main(void *arg)
{
	struct gw_feed *f = arg;
	unsigned backoff = f->poll_ms;

	for (;;) {
		int rc, was_synced = f->synced;

		pthread_mutex_lock(&f->mu);
		rc = f->stop;
		pthread_mutex_unlock(&f->mu);
		if (rc)
			break;
		rc = was_synced ? round_once(f) : bootstrap(f);
		if (rc == MDSGW_EDENIED && f->synced)
			lose(f);                       /* bootstrap again next time */
		if (rc)
			backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
		else
			backoff = f->poll_ms;
		/* right after a bootstrap, the first round at once */
		if (pause_ms(f, rc == 0 && !was_synced ? 0 : backoff))
			break;
	}
	return NULL;
}

int gw_feed_start(struct gw_rpc *rpc, struct gw_cache *c, const struct gw_conf *conf,
		  struct gw_feed **out, struct mdsgw_status *st)
{
	struct gw_feed *f;
	pthread_condattr_t ca;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return gw_status_set(st, MDSGW_ENOMEM, "out of memory starting the feed follower");
	f->rpc = rpc;
	f->cache = c;
	f->poll_ms = conf->feed_poll_ms;
	if (conf->feed_key) {
		const char *p = conf->feed_key;

		while (*p) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			struct mds_status ms = { 0 };

			if (f->n_roster == ROSTER_MAX ||
			    mds_note_verifier_parse(p, len, &f->roster[f->n_roster], &ms) != 0) {
				int full = f->n_roster == ROSTER_MAX;

				free(f);
				return gw_status_set(st, MDSGW_ECONFIG, "config parameter feed_key: "
						     "%s", full ? "at most 4 keys" : ms.msg);
			}
			f->n_roster++;
			p += len + (comma ? 1 : 0);
		}
		snprintf(f->origin, sizeof(f->origin), "%s", f->roster[0].name);
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return gw_status_set(st, MDSGW_ENOMEM, "cannot start the feed follower thread");
	}
	*out = f;
	return 0;
}

void gw_feed_stop(struct gw_feed *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	if (f->live)
		gw_rpc_stream_cancel(f->live);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
