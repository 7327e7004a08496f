/*
 * federation.c - the subscriber (see federation.h and docs/federation.md
 * "The subscriber").
 *
 * One thread per peer owns everything about that peer's stream: the gRPC
 * channel, the call, the in-memory copy of the stored cursor and the
 * pending checkpoint with its entries. Other threads only read a status
 * snapshot under the peer's mutex, or ask for a reset. The thread:
 *
 *   1. reads the stored cursor (size, root, compact range, note);
 *   2. Subscribe(have_size, have_root, follow) and for every checkpoint
 *      event: signature by a trusted key, origin, time not backwards, size
 *      not backwards, consistency from the cursor; then collects its entries
 *      (contiguous seqs) and, once complete, runs the whole check again with
 *      mds_feed_verify_update() over the leaf hashes and applies the
 *      entries and the new cursor as ONE writer op (MDS_OP_GLOBAL_APPLY);
 *   3. on any failure drops what is pending and resubscribes from the
 *      stored cursor after a backoff (exponential, with jitter).
 *
 * What must stay true: nothing is applied before it verified; the stored
 * cursor moves only with the entries it covers (one transaction); a fork
 * freezes the view in the store with the evidence, and only
 * mds_federation_reset() thaws it; a stream never blocks the thread for
 * longer than a poll tick and the stop flag and idle watchdog are read
 * before every wait (a busy peer completes each wait within the tick), so
 * they act promptly; a call whose cancel does not complete is abandoned,
 * never freed under a batch gRPC may still complete (struct pcall).
 *
 * The stream is driven directly on the gRPC core (not rpc_client.c)
 * because it must be cancellable from the thread's watchdog and stop flag.
 */
#include "federation.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <openssl/evp.h>

#include "feed.pb-c.h"
#include "feed/feed_util.h"
#include "feed/subscriber.h"
#include "feed_log.h"
#include "rpc_bytes.h"
#include "global_view.h"
#include "log.h"

#define TICK_MS 200
#define STOP_ABANDON_MS 1000   /* stop: give up a call this long after its cancel */
#define ABANDON_MS 10000       /* otherwise (idle watchdog, refused message) */

struct pending_leaf {
	uint8_t *p;
	size_t n;
};

struct peer {
	struct mds_federation *f;
	char origin[256];
	char address[256];
	struct mds_note_verifier keys[MDS_FED_KEYS_MAX];
	size_t n_keys;
	char *tls_ca, *tls_cert, *tls_key;
	char *token_file;
	char *auth;                     /* "Bearer <token>" for this stream, or NULL */
	int insecure;
	grpc_channel *ch;
	pthread_t th;
	int started;

	/* the peer thread's own state */
	struct mds_merkle_compact cur;  /* stored cursor's frontier */
	uint8_t cur_root[32];
	uint64_t cur_ts;                /* applied checkpoint's timestamp (ms) */
	char *cur_note;
	size_t cur_note_len;
	atomic_int frozen;              /* read by status() too */
	int have_pending;
	char *pnote;
	size_t pnote_len;
	struct mds_checkpoint pcp;
	uint64_t pts;
	uint8_t (*pproof)[32];
	size_t n_pproof;
	struct pending_leaf *pl;
	size_t n_pl, cap_pl;
	unsigned tamper_run, fork_run;
	int progressed;                 /* a checkpoint verified in this stream */
	int heartbeat_only;             /* the round brought nothing new */
	uint64_t last_msg_mono;
	int compacted;

	/* shared with readers, under mu */
	pthread_mutex_t mu;
	struct mds_peer_status st;
	uint64_t last_verified_mono;    /* 0 = none since start */
	int bootstrapping;
	unsigned reset_gen;             /* bumped by mds_federation_reset */
};

struct mds_federation {
	struct mds_store *store;
	struct peer *peers;
	size_t n;
	unsigned stale_ms, idle_ms, stream_ms, poll_ms, backoff_min, backoff_max, tamper_limit;
	unsigned batch_max;
	uint64_t start_mono;
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleep up to @ms unless stopping (or, with @gen, a reset happened). */
static void nap(struct peer *p, unsigned ms)
{
	struct mds_federation *f = p->f;
	struct timespec dl;
	unsigned gen;

	pthread_mutex_lock(&p->mu);
	gen = p->reset_gen;
	pthread_mutex_unlock(&p->mu);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->mu);
	while (!atomic_load(&f->stop)) {
		unsigned g;

		pthread_mutex_lock(&p->mu);
		g = p->reset_gen;
		pthread_mutex_unlock(&p->mu);
		if (g != gen || pthread_cond_timedwait(&f->cv, &f->mu, &dl) != 0)
			break;
	}
	pthread_mutex_unlock(&f->mu);
}

/* Under p->mu: keep @msg (cut to fit) as the last error. */
static void error_copy(struct peer *p, const char *msg)
{
	size_t n = strnlen(msg, sizeof(p->st.last_error) - 1);

	memcpy(p->st.last_error, msg, n);
	p->st.last_error[n] = 0;
}

static void set_error(struct peer *p, const char *msg)
{
	pthread_mutex_lock(&p->mu);
	error_copy(p, msg);
	pthread_mutex_unlock(&p->mu);
}

/* ---- the stored cursor ---------------------------------------------------------- */

static void pending_clear(struct peer *p)
{
	for (size_t i = 0; i < p->n_pl; i++)
		free(p->pl[i].p);
	p->n_pl = 0;
	free(p->pnote);
	p->pnote = NULL;
	free(p->pproof);
	p->pproof = NULL;
	p->n_pproof = 0;
	p->have_pending = 0;
}

static uint64_t note_timestamp(const struct mds_checkpoint *cp)
{
	const char *s = cp->ext;

	while (*s) {
		if (strncmp(s, "timestamp ", 10) == 0)
			return strtoull(s + 10, NULL, 10);
		s = strchr(s, '\n');
		if (!s)
			break;
		s++;
	}
	return 0;
}

/* Read the stored cursor into the thread's copy (and the status). */
static int cursor_load(struct peer *p)
{
	struct mds_reader *r = NULL;
	struct mds_gv_cursor c;
	struct mds_str origin = { p->origin, strlen(p->origin) };
	int rc = mds_reader_open(p->f->store, &r);

	if (rc == 0)
		rc = mds_reader_begin(r);
	if (rc)
		goto out;
	free(p->cur_note);
	p->cur_note = NULL;
	p->cur_note_len = 0;
	mds_merkle_compact_init(&p->cur);
	mds_merkle_empty_root(p->cur_root);
	p->cur_ts = 0;
	p->frozen = 0;
	rc = mds_gv_cursor_get(mds_reader_txn(r), origin, &c);
	if (rc == MDS_ENOTFOUND) {
		rc = 0;
	} else if (rc == 0) {
		p->frozen = c.frozen;
		memcpy(p->cur_root, c.root, 32);
		p->cur_ts = c.checkpoint_ms;
		if (c.range.len) {
			rc = mds_merkle_compact_decode((const uint8_t *)c.range.p, c.range.len, &p->cur);
			if (rc == 0 && p->cur.size != c.size)
				rc = MDS_ECORRUPT;
		} else if (c.size != 0) {
			rc = MDS_ECORRUPT;
		}
		if (rc == 0 && c.note.len) {
			p->cur_note = malloc(c.note.len);
			if (!p->cur_note)
				rc = MDS_ENOMEM;
			else
				memcpy(p->cur_note, c.note.p, c.note.len);
			p->cur_note_len = c.note.len;
		}
	}
out:
	mds_reader_close(r);
	if (rc == 0) {
		pthread_mutex_lock(&p->mu);
		p->st.applied_size = p->cur.size;
		memcpy(p->st.applied_root, p->cur_root, 32);
		p->st.applied_checkpoint_ms = p->cur_ts;
		pthread_mutex_unlock(&p->mu);
	}
	return rc;
}

/* ---- alarms -------------------------------------------------------------------- */

/* Freeze the view with the evidence; log at error level; count. */
static void freeze(struct peer *p, uint8_t kind, const char *note, size_t note_len,
		   const uint8_t (*proof)[32], size_t n_proof, const char *msg)
{
	struct mds_gv_evidence ev;
	struct mds_gv_update u;
	struct mds_op op;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.time_ms = wall_ms();
	ev.applied_note = (struct mds_str){ p->cur_note, p->cur_note_len };
	ev.offending_note = (struct mds_str){ note, note_len };
	ev.proof = (struct mds_str){ (const char *)proof, n_proof * 32 };
	ev.message = (struct mds_str){ msg, strlen(msg) };
	memset(&u, 0, sizeof(u));
	u.origin = (struct mds_str){ p->origin, strlen(p->origin) };
	u.action = MDS_GV_FREEZE;
	u.evidence = &ev;
	mds_op_init(&op, MDS_OP_PEER_STATE);
	op.global = &u;
	if (mds_store_exec(p->f->store, &op) != 0)
		mds_log(MDS_LOG_ERROR, "peer_freeze", "origin=\"%s\" error=\"%s\"", p->origin,
			op.status.msg);
	p->frozen = 1;
	pthread_mutex_lock(&p->mu);
	p->st.fork_alarms++;
	error_copy(p, msg);
	pthread_mutex_unlock(&p->mu);
	mds_log(MDS_LOG_ERROR, "peer_fork", "origin=\"%s\" applied_size=%llu error=\"%s\" "
		"note=\"view frozen at the last verified checkpoint; evidence stored; reset with mdsctl peers reset\"",
		p->origin, (unsigned long long)p->cur.size, msg);
}

static void tamper(struct peer *p, const char *msg)
{
	int alarm = ++p->tamper_run >= p->f->tamper_limit;

	pthread_mutex_lock(&p->mu);
	if (alarm)
		p->st.tamper_alarms++;
	error_copy(p, msg);
	pthread_mutex_unlock(&p->mu);
	if (alarm) {
		p->tamper_run = 0;
		mds_log(MDS_LOG_ERROR, "peer_tamper", "origin=\"%s\" applied_size=%llu error=\"%s\" "
			"note=\"%u batches in a row failed verification; nothing was applied\"",
			p->origin, (unsigned long long)p->cur.size, msg, p->f->tamper_limit);
	} else {
		mds_log(MDS_LOG_WARN, "peer_reject", "origin=\"%s\" error=\"%s\"", p->origin, msg);
	}
}

/* ---- checking one checkpoint ------------------------------------------------------- */

/*
 * Everything about a checkpoint that does not need its entries: trusted
 * signature and origin, time and size not backwards, consistency with the
 * cursor. Returns 0 (fill *@cp, *@ts) or an error after raising what it
 * means (fork: frozen; forged signature: tamper; replay/gap: error only).
 */
static int check_checkpoint(struct peer *p, const char *note, size_t len,
			    const uint8_t (*proof)[32], size_t n_proof,
			    struct mds_checkpoint *cp, uint64_t *ts)
{
	struct mds_status st;
	char msg[512];
	int rc;

	mds_status_clear(&st);
	rc = mds_checkpoint_open(note, len, p->origin, p->keys, p->n_keys, cp, &st);
	if (rc == MDS_EDENIED) {
		snprintf(msg, sizeof(msg), "forged or damaged signature: %s", st.msg);
		tamper(p, msg);
		return rc;
	}
	if (rc) {
		snprintf(msg, sizeof(msg), "checkpoint refused: %s", st.msg);
		set_error(p, msg);
		return rc;
	}
	*ts = note_timestamp(cp);
	if (*ts < p->cur_ts) {
		snprintf(msg, sizeof(msg), "replayed checkpoint: signed at %llu, before the applied one (%llu)",
			 (unsigned long long)*ts, (unsigned long long)p->cur_ts);
		set_error(p, msg);
		return MDS_EINVAL;
	}
	if (cp->size < p->cur.size) {
		snprintf(msg, sizeof(msg), "island signed size %llu after size %llu (rollback)",
			 (unsigned long long)cp->size, (unsigned long long)p->cur.size);
		freeze(p, MDS_GV_EV_ROLLBACK, note, len, proof, n_proof, msg);
		return MDS_EDENIED;
	}
	if (cp->size == p->cur.size && memcmp(cp->root, p->cur_root, 32) != 0) {
		snprintf(msg, sizeof(msg), "two roots for size %llu", (unsigned long long)cp->size);
		freeze(p, MDS_GV_EV_FORK, note, len, proof, n_proof, msg);
		return MDS_EDENIED;
	}
	rc = mds_merkle_verify_consistency(p->cur.size, cp->size, p->cur_root, cp->root, proof,
					   n_proof);
	if (rc == MDS_ENOMEM)
		return rc;
	if (rc) {
		/* A proof can be damaged on the way: only a repeated failure
		 * against a validly signed checkpoint is a fork. */
		snprintf(msg, sizeof(msg), "size %llu is not consistent with the applied size %llu",
			 (unsigned long long)cp->size, (unsigned long long)p->cur.size);
		if (++p->fork_run >= p->f->tamper_limit) {
			p->fork_run = 0;
			freeze(p, MDS_GV_EV_FORK, note, len, proof, n_proof, msg);
		} else {
			set_error(p, msg);
		}
		return MDS_EDENIED;
	}
	p->fork_run = 0;
	pthread_mutex_lock(&p->mu);
	if (cp->size > p->st.source_size)
		p->st.source_size = cp->size;
	if (*ts > p->st.last_checkpoint_ms)
		p->st.last_checkpoint_ms = *ts;
	p->last_verified_mono = mono_ms();
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* ---- applying ----------------------------------------------------------------------- */

/* Verify the pending checkpoint with its entries and apply it (one op). */
static int commit(struct peer *p)
{
	struct mds_merkle_compact next;
	struct mds_checkpoint cp;
	struct mds_status st;
	struct mds_feed_leaf *leaves = NULL;
	uint8_t (*hashes)[32] = NULL, enc[MDS_MERKLE_COMPACT_MAX];
	struct mds_gv_update u;
	struct mds_op op;
	size_t elen;
	uint64_t t0 = mono_ms();
	int rc;

	if (p->pcp.size == p->cur.size && p->pts <= p->cur_ts) {
		pending_clear(p);   /* the same heartbeat again: nothing to store */
		return 0;
	}
	hashes = malloc((p->n_pl ? p->n_pl : 1) * sizeof(*hashes));
	leaves = calloc(p->n_pl ? p->n_pl : 1, sizeof(*leaves));
	if (!hashes || !leaves) {
		rc = MDS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n_pl; i++) {
		rc = mds_merkle_hash_leaf(p->pl[i].p, p->pl[i].n, hashes[i]);
		if (rc)
			goto out;
	}
	mds_status_clear(&st);
	rc = mds_feed_verify_update(&p->cur, p->origin, p->keys, p->n_keys, p->pnote, p->pnote_len,
				    (const uint8_t (*)[32])p->pproof, p->n_pproof, p->cur.size,
				    (const uint8_t (*)[32])hashes, p->n_pl, &next, &cp, &st);
	if (rc == MDS_EDENIED) {
		/* the checkpoint itself passed check_checkpoint: the entries lie */
		tamper(p, st.msg);
		goto out;
	}
	if (rc) {
		set_error(p, st.msg);
		goto out;
	}
	for (size_t i = 0; i < p->n_pl; i++) {
		rc = mds_feed_leaf_decode(p->pl[i].p, p->pl[i].n, &leaves[i], &st);
		if (rc) {
			char msg[400];

			snprintf(msg, sizeof(msg), "signed leaf %llu does not decode: %s",
				 (unsigned long long)(p->cur.size + i), st.msg);
			set_error(p, msg);
			goto out;
		}
	}
	rc = mds_merkle_compact_encode(&next, enc, sizeof(enc), &elen);
	if (rc)
		goto out;
	memset(&u, 0, sizeof(u));
	u.origin = (struct mds_str){ p->origin, strlen(p->origin) };
	u.from_size = p->cur.size;
	u.leaves = leaves;
	u.n_leaves = p->n_pl;
	u.size = cp.size;
	u.root = cp.root;
	u.range = (struct mds_str){ (const char *)enc, elen };
	u.note = (struct mds_str){ p->pnote, p->pnote_len };
	u.checkpoint_ms = p->pts;
	mds_op_init(&op, MDS_OP_GLOBAL_APPLY);
	op.global = &u;
	rc = mds_store_exec(p->f->store, &op);
	if (rc) {
		set_error(p, op.status.msg);
		mds_log(MDS_LOG_WARN, "peer_apply", "origin=\"%s\" error=\"%s\"", p->origin,
			op.status.msg);
		if (rc == MDS_EPRECOND || rc == MDS_EDENIED)
			cursor_load(p);   /* the stored cursor moved: start over from it */
		goto out;
	}
	p->cur = next;
	memcpy(p->cur_root, cp.root, 32);
	p->cur_ts = p->pts;
	free(p->cur_note);
	p->cur_note = p->pnote;
	p->cur_note_len = p->pnote_len;
	p->pnote = NULL;
	p->tamper_run = 0;
	pthread_mutex_lock(&p->mu);
	p->st.applied_size = cp.size;
	memcpy(p->st.applied_root, cp.root, 32);
	p->st.applied_checkpoint_ms = p->pts;
	p->st.leaves_applied += p->n_pl;
	p->st.batches_applied++;
	p->st.last_error[0] = 0;
	pthread_mutex_unlock(&p->mu);
	if (p->n_pl)
		mds_log(MDS_LOG_DEBUG, "peer_applied", "origin=\"%s\" size=%llu leaves=%zu ms=%llu",
			p->origin, (unsigned long long)cp.size, p->n_pl,
			(unsigned long long)(mono_ms() - t0));
out:
	pending_clear(p);
	free(hashes);
	free(leaves);
	return rc;
}

/* ---- a slice of a large checkpoint ------------------------------------------------------ */

typedef int (*msg_fn)(struct peer *p, const ProtobufCMessage *m, void *arg);
static int peer_call(struct peer *p, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *d, unsigned deadline_ms, msg_fn fn,
		     void *arg, char *err, size_t errsz);
static int peer_channel(struct peer *p, struct mds_status *st);
static int keep_msg(struct peer *p, const ProtobufCMessage *m, void *arg);

/*
 * --peer-batch-max: the pending entries (a prefix of the checkpoint's) are
 * folded onto the cursor and proven a prefix of the signed checkpoint by a
 * consistency proof from their end to it (fetched from the peer), then
 * applied with their cursor as one op. The proof becomes the pending
 * checkpoint's proof from the new cursor, so the rest is checked as usual.
 */
static int commit_slice(struct peer *p)
{
	Mds__V1__GetConsistencyProofRequest preq = MDS__V1__GET_CONSISTENCY_PROOF_REQUEST__INIT;
	Mds__V1__ConsistencyProof *pf = NULL;
	struct mds_merkle_compact next = p->cur;
	struct mds_feed_leaf *leaves = NULL;
	uint8_t root[32], enc[MDS_MERKLE_COMPACT_MAX], (*proof)[32] = NULL;
	uint64_t end = p->cur.size + p->n_pl;
	char err[300], msg[400];
	size_t elen, n = 0;
	uint64_t t0 = mono_ms();
	int rc;

	for (size_t i = 0; i < p->n_pl; i++) {
		uint8_t h[32];

		rc = mds_merkle_hash_leaf(p->pl[i].p, p->pl[i].n, h);
		if (rc == 0)
			rc = mds_merkle_compact_append(&next, h);
		if (rc)
			return rc;
	}
	rc = mds_merkle_compact_root(&next, root);
	if (rc)
		return rc;
	preq.from_size = end;
	preq.to_size = p->pcp.size;
	rc = peer_call(p, "/mds.v1.Feed/GetConsistencyProof", &preq.base,
		       &mds__v1__consistency_proof__descriptor, 10000, keep_msg, &pf, err, sizeof(err));
	if (rc == 0 && (!pf || pf->n_hashes > MDS_MERKLE_PROOF_MAX))
		rc = MDS_EINVAL;
	if (rc) {
		snprintf(msg, sizeof(msg), "cannot get a consistency proof for a slice: %s", err);
		set_error(p, msg);
		goto out;
	}
	n = pf->n_hashes;
	proof = malloc((n ? n : 1) * 32);
	if (!proof) {
		rc = MDS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (pf->hashes[i].len != 32) {
			rc = MDS_EINVAL;
			goto out;
		}
		memcpy(proof[i], pf->hashes[i].data, 32);
	}
	if (mds_merkle_verify_consistency(end, p->pcp.size, root, p->pcp.root,
					  (const uint8_t (*)[32])proof, n) != 0) {
		snprintf(msg, sizeof(msg), "island '%s': entries %llu..%llu are not a prefix of the signed checkpoint %llu",
			 p->origin, (unsigned long long)p->cur.size, (unsigned long long)end,
			 (unsigned long long)p->pcp.size);
		tamper(p, msg);
		rc = MDS_EDENIED;
		goto out;
	}
	leaves = calloc(p->n_pl, sizeof(*leaves));
	if (!leaves) {
		rc = MDS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n_pl; i++) {
		struct mds_status st;

		rc = mds_feed_leaf_decode(p->pl[i].p, p->pl[i].n, &leaves[i], &st);
		if (rc) {
			snprintf(msg, sizeof(msg), "signed leaf %llu does not decode: %s",
				 (unsigned long long)(p->cur.size + i), st.msg);
			set_error(p, msg);
			goto out;
		}
	}
	rc = mds_merkle_compact_encode(&next, enc, sizeof(enc), &elen);
	if (rc)
		goto out;
	{
		struct mds_gv_update u;
		struct mds_op op;

		memset(&u, 0, sizeof(u));
		u.origin = (struct mds_str){ p->origin, strlen(p->origin) };
		u.from_size = p->cur.size;
		u.leaves = leaves;
		u.n_leaves = p->n_pl;
		u.size = end;
		u.root = root;
		u.range = (struct mds_str){ (const char *)enc, elen };
		u.note = (struct mds_str){ p->pnote, p->pnote_len };
		u.checkpoint_ms = p->pts;
		mds_op_init(&op, MDS_OP_GLOBAL_APPLY);
		op.global = &u;
		rc = mds_store_exec(p->f->store, &op);
		if (rc) {
			set_error(p, op.status.msg);
			if (rc == MDS_EPRECOND || rc == MDS_EDENIED)
				cursor_load(p);
			goto out;
		}
	}
	/* applied: the cursor moves; the proof now runs from it */
	p->cur = next;
	memcpy(p->cur_root, root, 32);
	p->cur_ts = p->pts;
	free(p->cur_note);
	p->cur_note = malloc(p->pnote_len);
	if (p->cur_note)
		memcpy(p->cur_note, p->pnote, p->pnote_len);
	p->cur_note_len = p->cur_note ? p->pnote_len : 0;
	free(p->pproof);
	p->pproof = proof;
	p->n_pproof = n;
	proof = NULL;
	pthread_mutex_lock(&p->mu);
	p->st.applied_size = end;
	memcpy(p->st.applied_root, root, 32);
	p->st.applied_checkpoint_ms = p->pts;
	p->st.leaves_applied += p->n_pl;
	p->st.batches_applied++;
	pthread_mutex_unlock(&p->mu);
	mds_log(MDS_LOG_DEBUG, "peer_applied", "origin=\"%s\" size=%llu leaves=%zu ms=%llu slice_of=%llu",
		p->origin, (unsigned long long)end, p->n_pl, (unsigned long long)(mono_ms() - t0),
		(unsigned long long)p->pcp.size);
	for (size_t i = 0; i < p->n_pl; i++)
		free(p->pl[i].p);
	p->n_pl = 0;
out:
	if (pf)
		protobuf_c_message_free_unpacked(&pf->base, NULL);
	free(proof);
	free(leaves);
	return rc;
}

/* ---- one Subscribe event -------------------------------------------------------------- */

static int on_event(struct peer *p, const Mds__V1__SubscribeEvent *ev)
{
	char msg[300];
	int rc;

	if (ev->compacted) {
		p->compacted = 1;
		snprintf(msg, sizeof(msg), "feed compacted below leaf %llu (we have %llu): bootstrap needed",
			 (unsigned long long)ev->compacted->first_retained,
			 (unsigned long long)p->cur.size);
		set_error(p, msg);
		return MDS_ENOTFOUND;
	}
	if (ev->checkpoint) {
		const Mds__V1__FeedCheckpoint *ck = ev->checkpoint;
		uint64_t ts;

		if (p->have_pending) {
			set_error(p, "a checkpoint arrived before the entries of the previous one");
			return MDS_EINVAL;
		}
		if (ck->note.len == 0 || ck->note.len > MDS_NOTE_MAX_LEN ||
		    ev->n_consistency > MDS_MERKLE_PROOF_MAX) {
			tamper(p, "a checkpoint event is malformed");
			return MDS_EINVAL;
		}
		p->pnote = malloc(ck->note.len);
		p->pproof = malloc((ev->n_consistency ? ev->n_consistency : 1) * 32);
		if (!p->pnote || !p->pproof) {
			pending_clear(p);
			return MDS_ENOMEM;
		}
		memcpy(p->pnote, ck->note.data, ck->note.len);
		p->pnote_len = ck->note.len;
		for (size_t i = 0; i < ev->n_consistency; i++) {
			if (ev->consistency[i].len != 32) {
				pending_clear(p);
				tamper(p, "a consistency proof hash is not 32 bytes");
				return MDS_EINVAL;
			}
			memcpy(p->pproof[i], ev->consistency[i].data, 32);
		}
		p->n_pproof = ev->n_consistency;
		rc = check_checkpoint(p, p->pnote, p->pnote_len, (const uint8_t (*)[32])p->pproof,
				      p->n_pproof, &p->pcp, &ts);
		if (rc) {
			pending_clear(p);
			return rc;
		}
		p->pts = ts;
		p->have_pending = 1;
		p->progressed = 1;
		if (p->pcp.size == p->cur.size)
			return commit(p);   /* heartbeat: store the newer note */
		p->heartbeat_only = 0;
	}
	for (size_t i = 0; i < ev->n_entries; i++) {
		const Mds__V1__FeedEntry *e = ev->entries[i];
		uint64_t want = p->cur.size + p->n_pl;

		if (!p->have_pending) {
			set_error(p, "entries arrived without a checkpoint");
			return MDS_EINVAL;
		}
		if (e->seq != want || want >= p->pcp.size) {
			snprintf(msg, sizeof(msg), "entry %llu arrived where %llu was due (checkpoint %llu): gap or reorder",
				 (unsigned long long)e->seq, (unsigned long long)want,
				 (unsigned long long)p->pcp.size);
			set_error(p, msg);
			pending_clear(p);
			return MDS_EINVAL;
		}
		if (p->n_pl == p->cap_pl) {
			size_t nc = p->cap_pl ? p->cap_pl * 2 : 1024;
			struct pending_leaf *np = realloc(p->pl, nc * sizeof(*np));

			if (!np)
				return MDS_ENOMEM;
			p->pl = np;
			p->cap_pl = nc;
		}
		p->pl[p->n_pl].p = malloc(e->leaf.len ? e->leaf.len : 1);
		if (!p->pl[p->n_pl].p)
			return MDS_ENOMEM;
		memcpy(p->pl[p->n_pl].p, e->leaf.data, e->leaf.len);
		p->pl[p->n_pl].n = e->leaf.len;
		p->n_pl++;
		if (p->f->batch_max && p->n_pl >= p->f->batch_max &&
		    p->cur.size + p->n_pl < p->pcp.size) {
			rc = commit_slice(p);
			if (rc) {
				pending_clear(p);
				return rc;
			}
		}
	}
	if (p->have_pending && p->cur.size + p->n_pl == p->pcp.size)
		return commit(p);
	return 0;
}

/* ---- gRPC call driven with a watchdog -------------------------------------------------- */

/*
 * One call's memory. Every buffer a pending batch may still write (the
 * received message, metadata arrays, status, details) and every slice it
 * may still read lives here, never on the peer thread's stack: a call
 * whose batch does not complete within ABANDON_MS of its cancel is
 * abandoned with this block and its queue (see abandon()), and a
 * completion that arrives later then lands in live memory.
 */
struct pcall {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata md;
	grpc_metadata_array init_md, trail_md;
	grpc_status_code code;
	grpc_slice details;
	int tag1, tag2, tag3;
	int cancelled;
	uint64_t cancel_mono;
	struct pcall *next;
};

/* Abandoned calls: kept (reachable, never freed) for the process' life. */
static pthread_mutex_t abandoned_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pcall *abandoned;

#define WAIT_ABANDON (-2)

/* Test-only fault (MDS_FED_FAULT=ignore-cancel): wait_tag does not cancel,
 * i.e. behaves as when a cancel does not complete the pending batch. */
static int fault_ignore_cancel(void)
{
	static int v = -1;

	if (v < 0) {
		const char *e = getenv("MDS_FED_FAULT");

		v = e && strcmp(e, "ignore-cancel") == 0;
	}
	return v;
}

/*
 * Wait for @tag of @pc; cancel the call when stopping or idle too long.
 * Returns 0 (batch succeeded), -1 (batch failed) or WAIT_ABANDON: the call
 * was cancelled ABANDON_MS ago (STOP_ABANDON_MS when stopping) and the batch
 * still has not completed; the caller must then give up @pc (abandon()).
 */
static int wait_tag(struct peer *p, struct pcall *pc, void *tag)
{
	for (;;) {
		/* checked before every wait, not only after a quiet tick: a busy
		 * peer completes each batch within the tick, forever */
		uint64_t now = mono_ms();
		int stop = atomic_load(&p->f->stop);
		gpr_timespec dl;
		grpc_event ev;

		if (!pc->cancelled && (stop || now - p->last_msg_mono > p->f->idle_ms)) {
			pc->cancelled = 1;
			pc->cancel_mono = now;
			if (!fault_ignore_cancel())
				grpc_call_cancel(pc->call, NULL);
		} else if (pc->cancelled &&
			   now - pc->cancel_mono >= (stop ? STOP_ABANDON_MS : ABANDON_MS)) {
			return WAIT_ABANDON;
		}
		dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
				  gpr_time_from_millis(pc->cancelled ? 50 : TICK_MS, GPR_TIMESPAN));
		ev = grpc_completion_queue_pluck(pc->cq, tag, dl, NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			return ev.success ? 0 : -1;
	}
}

static void pcall_free(struct pcall *pc)
{
	if (pc->recv)
		grpc_byte_buffer_destroy(pc->recv);
	if (pc->send)
		grpc_byte_buffer_destroy(pc->send);
	grpc_slice_unref(pc->details);
	grpc_slice_unref(pc->md.value);
	grpc_metadata_array_destroy(&pc->init_md);
	grpc_metadata_array_destroy(&pc->trail_md);
	if (pc->call)
		grpc_call_unref(pc->call);
	grpc_completion_queue_shutdown(pc->cq);
	grpc_completion_queue_pluck(pc->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(pc->cq);
	free(pc);
}

/*
 * Give up @pc (transferred): its batch was cancelled and did not complete.
 * Destroying its queue or buffers now would be a use after free when the
 * batch completes later (and shutting the queue down would wait for it), so
 * the block is parked for the life of the process. Also replaces the peer's
 * channel (when not stopping), so that the next call does not queue behind
 * the stuck transport.
 */
static void abandon(struct peer *p, struct pcall *pc, const char *method)
{
	struct mds_status st = { 0 };

	mds_log(MDS_LOG_WARN, "peer_call_abandoned",
		"origin=\"%s\" method=%s stopping=%d note=\"a cancelled batch did not complete; the call is left to gRPC\"",
		p->origin, method, atomic_load(&p->f->stop));
	pthread_mutex_lock(&abandoned_mu);
	pc->next = abandoned;
	abandoned = pc;
	pthread_mutex_unlock(&abandoned_mu);
	if (atomic_load(&p->f->stop))
		return;
	grpc_channel_destroy(p->ch);
	p->ch = NULL;
	if (peer_channel(p, &st) != 0)
		mds_log(MDS_LOG_ERROR, "peer_channel", "origin=\"%s\" error=\"%s\"", p->origin,
			st.msg);
}

static int grpc_code_rc(grpc_status_code code)
{
	switch (code) {
	case GRPC_STATUS_OK:
		return 0;
	case GRPC_STATUS_FAILED_PRECONDITION:
		return MDS_EPRECOND;
	case GRPC_STATUS_NOT_FOUND:
		return MDS_ENOTFOUND;
	case GRPC_STATUS_INVALID_ARGUMENT:
		return MDS_EINVAL;
	case GRPC_STATUS_UNAUTHENTICATED:
	case GRPC_STATUS_PERMISSION_DENIED:
		return MDS_EDENIED;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
	case GRPC_STATUS_CANCELLED:
		return MDS_ETIMEDOUT;
	default:
		return MDS_EUNAVAIL;
	}
}

/*
 * One call of @method: each response message goes to @fn (a non-zero
 * return cancels the call and is returned). Returns 0 when the server
 * ended the call with OK, the MDS_E* code of its status, or @fn's code;
 * @err receives the status message. A call whose cancel does not complete
 * is abandoned (MDS_ETIMEDOUT, within STOP_ABANDON_MS when stopping).
 */
static int peer_call(struct peer *p, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *d, unsigned deadline_ms, msg_fn fn,
		     void *arg, char *err, size_t errsz)
{
	struct pcall *pc;
	grpc_op ops[4];
	int cb_rc = 0, w = 0, rc;
	size_t n;

	err[0] = 0;
	if (!p->ch) {
		snprintf(err, errsz, "no channel to the peer");
		return MDS_EUNAVAIL;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		snprintf(err, errsz, "out of memory");
		return MDS_ENOMEM;
	}
	pc->cq = grpc_completion_queue_create_for_pluck(NULL);
	pc->send = mds_rpc_pack(req);
	pc->code = GRPC_STATUS_UNKNOWN;
	pc->details = grpc_empty_slice();
	pc->md.value = grpc_empty_slice();
	grpc_metadata_array_init(&pc->init_md);
	grpc_metadata_array_init(&pc->trail_md);
	p->last_msg_mono = mono_ms();
	pc->call = grpc_channel_create_call(p->ch, NULL, GRPC_PROPAGATE_DEFAULTS, pc->cq,
					    grpc_slice_from_static_string(method), NULL,
					    gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
							 gpr_time_from_millis(deadline_ms,
									      GPR_TIMESPAN)),
					    NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (p->auth) {
		/* a copy: p->auth is freed at stop, an abandoned batch may outlive it */
		pc->md.key = grpc_slice_from_static_string("authorization");
		pc->md.value = grpc_slice_from_copied_string(p->auth);
		ops[0].data.send_initial_metadata.count = 1;
		ops[0].data.send_initial_metadata.metadata = &pc->md;
	}
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = pc->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &pc->init_md;
	if (grpc_call_start_batch(pc->call, ops, 4, &pc->tag1, NULL) == GRPC_CALL_OK &&
	    (w = wait_tag(p, pc, &pc->tag1)) == WAIT_ABANDON)
		goto abandoned;
	for (;;) {
		ProtobufCMessage *m;

		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &pc->recv;
		if (grpc_call_start_batch(pc->call, ops, 1, &pc->tag2, NULL) != GRPC_CALL_OK)
			break;
		w = wait_tag(p, pc, &pc->tag2);
		if (w == WAIT_ABANDON)
			goto abandoned;
		if (w != 0 || !pc->recv)
			break;
		p->last_msg_mono = mono_ms();
		pthread_mutex_lock(&p->mu);
		p->st.last_contact_ms = wall_ms();
		pthread_mutex_unlock(&p->mu);
		m = mds_rpc_unpack(d, pc->recv);
		grpc_byte_buffer_destroy(pc->recv);
		pc->recv = NULL;
		if (!m) {
			cb_rc = MDS_ECORRUPT;
			snprintf(err, errsz, "a response is not a %s", d->name);
		} else {
			cb_rc = fn(p, m, arg);
			protobuf_c_message_free_unpacked(m, NULL);
		}
		if (cb_rc) {
			pc->cancelled = 1;
			pc->cancel_mono = mono_ms();
			grpc_call_cancel(pc->call, NULL);
			break;
		}
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &pc->trail_md;
	ops[0].data.recv_status_on_client.status = &pc->code;
	ops[0].data.recv_status_on_client.status_details = &pc->details;
	if (grpc_call_start_batch(pc->call, ops, 1, &pc->tag3, NULL) == GRPC_CALL_OK &&
	    wait_tag(p, pc, &pc->tag3) == WAIT_ABANDON)
		goto abandoned;
	if (cb_rc) {
		rc = cb_rc;
	} else {
		n = GRPC_SLICE_LENGTH(pc->details);
		if (n >= errsz)
			n = errsz - 1;
		memcpy(err, GRPC_SLICE_START_PTR(pc->details), n);
		err[n] = 0;
		rc = grpc_code_rc(pc->code);
		if (pc->cancelled && rc == MDS_ETIMEDOUT && !atomic_load(&p->f->stop))
			snprintf(err, errsz, "no message from the peer for %u ms", p->f->idle_ms);
	}
	pcall_free(pc);
	return rc;
abandoned:
	if (!cb_rc)
		snprintf(err, errsz, "the cancelled call did not end (abandoned)");
	abandon(p, pc, method);
	return cb_rc ? cb_rc : MDS_ETIMEDOUT;
}

static int subscribe_msg(struct peer *p, const ProtobufCMessage *m, void *arg)
{
	(void)arg;
	return on_event(p, (const Mds__V1__SubscribeEvent *)m);
}

static int keep_msg(struct peer *p, const ProtobufCMessage *m, void *arg)
{
	ProtobufCMessage **out = arg;

	(void)p;
	if (*out)
		return MDS_EINVAL;
	/* keep a copy: the caller owns it */
	{
		size_t n = protobuf_c_message_get_packed_size(m);
		uint8_t *buf = malloc(n ? n : 1);

		if (!buf)
			return MDS_ENOMEM;
		protobuf_c_message_pack(m, buf);
		*out = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
		free(buf);
		return *out ? 0 : MDS_ENOMEM;
	}
}

/*
 * The publisher said our root is not its root at our size: fetch its newest
 * signed checkpoint and a consistency proof from our size, and judge them
 * like any checkpoint (a real fork freezes; anything unsigned is ignored).
 */
static void fork_probe(struct peer *p)
{
	Mds__V1__GetCheckpointRequest creq = MDS__V1__GET_CHECKPOINT_REQUEST__INIT;
	Mds__V1__GetConsistencyProofRequest preq = MDS__V1__GET_CONSISTENCY_PROOF_REQUEST__INIT;
	Mds__V1__FeedCheckpoint *ck = NULL;
	Mds__V1__ConsistencyProof *pf = NULL;
	uint8_t proof[MDS_MERKLE_PROOF_MAX][32];
	struct mds_checkpoint cp;
	size_t n = 0;
	uint64_t ts;
	char err[256];

	creq.origin = p->origin;
	if (peer_call(p, "/mds.v1.Feed/GetCheckpoint", &creq.base,
		      &mds__v1__feed_checkpoint__descriptor, 10000, keep_msg, &ck, err,
		      sizeof(err)) != 0 || !ck)
		goto out;
	if (ck->size > p->cur.size) {
		preq.from_size = p->cur.size;
		preq.to_size = ck->size;
		if (peer_call(p, "/mds.v1.Feed/GetConsistencyProof", &preq.base,
			      &mds__v1__consistency_proof__descriptor, 10000, keep_msg, &pf, err,
			      sizeof(err)) != 0 || !pf || pf->n_hashes > MDS_MERKLE_PROOF_MAX)
			goto out;
		for (size_t i = 0; i < pf->n_hashes; i++) {
			if (pf->hashes[i].len != 32)
				goto out;
			memcpy(proof[i], pf->hashes[i].data, 32);
		}
		n = pf->n_hashes;
	}
	if (ck->note.len == 0 || ck->note.len > MDS_NOTE_MAX_LEN)
		goto out;
	check_checkpoint(p, (const char *)ck->note.data, ck->note.len,
			 (const uint8_t (*)[32])proof, n, &cp, &ts);
out:
	if (ck)
		protobuf_c_message_free_unpacked(&ck->base, NULL);
	if (pf)
		protobuf_c_message_free_unpacked(&pf->base, NULL);
}


/* ---- snapshot bootstrap ------------------------------------------------------------------ */

struct snap {
	struct pending_leaf *v;
	size_t n, cap;
	size_t bytes;
	Mds__V1__SnapshotManifest *manifest;   /* a copy, owned */
};

#define SNAPSHOT_BYTES_MAX ((size_t)4 << 30)

static int snap_msg(struct peer *p, const ProtobufCMessage *m, void *arg)
{
	const Mds__V1__SnapshotChunk *ch = (const void *)m;
	struct snap *sn = arg;

	(void)p;
	if (sn->manifest)
		return MDS_EINVAL;           /* nothing may follow the manifest */
	for (size_t i = 0; i < ch->n_entries; i++) {
		if (sn->n == sn->cap) {
			size_t nc = sn->cap ? sn->cap * 2 : 1024;
			struct pending_leaf *nv = realloc(sn->v, nc * sizeof(*nv));

			if (!nv)
				return MDS_ENOMEM;
			sn->v = nv;
			sn->cap = nc;
		}
		sn->bytes += ch->entries[i].len;
		if (sn->bytes > SNAPSHOT_BYTES_MAX)
			return MDS_ENOMEM;
		sn->v[sn->n].p = malloc(ch->entries[i].len ? ch->entries[i].len : 1);
		if (!sn->v[sn->n].p)
			return MDS_ENOMEM;
		memcpy(sn->v[sn->n].p, ch->entries[i].data, ch->entries[i].len);
		sn->v[sn->n].n = ch->entries[i].len;
		sn->n++;
	}
	if (ch->manifest) {
		ProtobufCMessage *copy = NULL;
		int rc = keep_msg(p, &ch->manifest->base, &copy);

		if (rc)
			return rc;
		sn->manifest = (Mds__V1__SnapshotManifest *)copy;
	}
	return 0;
}

static void snap_free(struct snap *sn)
{
	for (size_t i = 0; i < sn->n; i++)
		free(sn->v[i].p);
	free(sn->v);
	if (sn->manifest)
		protobuf_c_message_free_unpacked(&sn->manifest->base, NULL);
}

/* SHA-256 over (u32 BE length || entry) for every entry, in order. */
static int snap_digest(const struct snap *sn, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, mds_feed_sha256(), NULL);

	for (size_t i = 0; ok && i < sn->n; i++) {
		uint8_t len[4] = { (uint8_t)(sn->v[i].n >> 24), (uint8_t)(sn->v[i].n >> 16),
				   (uint8_t)(sn->v[i].n >> 8), (uint8_t)sn->v[i].n };

		ok = EVP_DigestUpdate(ctx, len, 4) && EVP_DigestUpdate(ctx, sn->v[i].p, sn->v[i].n);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : MDS_ENOMEM;
}

/* Line @i (0-based) of @text into (*s, *n); 0 or -1. */
static int text_line(const char *text, size_t len, int i, const char **s, size_t *n)
{
	const char *p = text, *end = text + len;

	for (int k = 0; k < i; k++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			return -1;
		p = nl + 1;
	}
	{
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			return -1;
		*s = p;
		*n = (size_t)(nl - p);
	}
	return 0;
}

static int line_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(s, want, n) == 0;
}

static int line_u64(const char *s, size_t n, uint64_t *v)
{
	char buf[24];
	char *end;

	if (n == 0 || n >= sizeof(buf) || (n > 1 && s[0] == '0'))
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
	*v = strtoull(buf, &end, 10);
	return 0;
}

static int line_b64(const char *s, size_t n, const uint8_t *bytes, size_t len)
{
	char enc[MDS_FEED_B64_LEN(64)];

	if (len > 64 || n != MDS_FEED_B64_LEN(len))
		return -1;
	mds_feed_b64_encode(bytes, len, enc);
	return memcmp(enc, s, n) == 0 ? 0 : -1;
}

/*
 * Check a snapshot: the manifest note signed by a trusted key, its seven
 * lines equal to the fields, the digest and count of the entries received,
 * the compact range folding to the root. Fills @range and *@ts.
 */
static int snap_check(struct peer *p, const struct snap *sn, struct mds_merkle_compact *range,
		      uint64_t *ts, char *msg, size_t msgsz)
{
	const Mds__V1__SnapshotManifest *m = sn->manifest;
	struct mds_status st;
	uint8_t digest[32], root[32];
	size_t tlen, n;
	uint64_t v;
	const char *s;
	int rc;

	if (!m || m->note.len == 0 || m->note.len > MDS_NOTE_MAX_LEN) {
		snprintf(msg, msgsz, "the snapshot has no manifest");
		return MDS_EINVAL;
	}
	mds_status_clear(&st);
	rc = mds_note_verify((const char *)m->note.data, m->note.len, p->keys, p->n_keys, &tlen,
			     NULL, &st);
	if (rc) {
		snprintf(msg, msgsz, "snapshot manifest refused: %s", st.msg);
		return rc;
	}
	s = (const char *)m->note.data;
	rc = MDS_EDENIED;
	if (m->root.len != 32 || m->digest.len != 32 || m->size > MDS_MERKLE_SIZE_MAX) {
		snprintf(msg, msgsz, "snapshot manifest fields are malformed");
		return rc;
	}
	{
		const char *l;

		if (text_line(s, tlen, 0, &l, &n) || !line_is(l, n, p->origin) ||
		    text_line(s, tlen, 1, &l, &n) || !line_is(l, n, "snapshot") ||
		    text_line(s, tlen, 2, &l, &n) || line_u64(l, n, &v) || v != m->size ||
		    text_line(s, tlen, 3, &l, &n) || line_b64(l, n, m->root.data, 32) ||
		    text_line(s, tlen, 4, &l, &n) || line_u64(l, n, &v) || v != m->entries ||
		    text_line(s, tlen, 5, &l, &n) || line_b64(l, n, m->digest.data, 32) ||
		    text_line(s, tlen, 6, &l, &n) || n <= 10 || memcmp(l, "timestamp ", 10) ||
		    line_u64(l + 10, n - 10, ts)) {
			snprintf(msg, msgsz, "the snapshot manifest's text does not match its fields");
			return rc;
		}
	}
	if (sn->n != m->entries) {
		snprintf(msg, msgsz, "the snapshot sent %zu entries, its manifest says %llu", sn->n,
			 (unsigned long long)m->entries);
		return rc;
	}
	if (snap_digest(sn, digest))
		return MDS_ENOMEM;
	if (memcmp(digest, m->digest.data, 32) != 0) {
		snprintf(msg, msgsz, "the snapshot's entries do not match the signed digest");
		return rc;
	}
	range->size = m->size;
	n = (size_t)__builtin_popcountll(m->size);
	if (m->n_compact_range != n) {
		snprintf(msg, msgsz, "the snapshot's compact range has %zu hashes, not %zu",
			 m->n_compact_range, n);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (m->compact_range[i].len != 32) {
			snprintf(msg, msgsz, "a compact range hash is not 32 bytes");
			return rc;
		}
		memcpy(range->hash[i], m->compact_range[i].data, 32);
	}
	if (mds_merkle_compact_root(range, root))
		return MDS_ENOMEM;
	if (memcmp(root, m->root.data, 32) != 0) {
		snprintf(msg, msgsz, "the snapshot's compact range does not fold to its signed root");
		return rc;
	}
	return 0;
}

/*
 * FeedCompacted: the leaves after our cursor are gone. Fetch a snapshot,
 * verify it, check that its root extends what we applied, and replace
 * the island's view with it in one op (MDS_OP_GLOBAL_REPLACE).
 */
static int bootstrap(struct peer *p)
{
	Mds__V1__GetSnapshotRequest req = MDS__V1__GET_SNAPSHOT_REQUEST__INIT;
	struct snap sn;
	struct mds_merkle_compact range;
	struct mds_feed_leaf *leaves = NULL;
	uint8_t enc[MDS_MERKLE_COMPACT_MAX];
	char err[300], msg[400];
	uint64_t ts = 0;
	size_t elen;
	int rc;

	memset(&sn, 0, sizeof(sn));
	pthread_mutex_lock(&p->mu);
	p->bootstrapping = 1;
	pthread_mutex_unlock(&p->mu);
	mds_log(MDS_LOG_WARN, "peer_bootstrap", "origin=\"%s\" applied_size=%llu note=\"feed compacted below our cursor: replacing the view from a snapshot\"",
		p->origin, (unsigned long long)p->cur.size);
	req.origin = p->origin;
	err[0] = 0;
	rc = peer_call(p, "/mds.v1.Feed/GetSnapshot", &req.base, &mds__v1__snapshot_chunk__descriptor,
		       p->f->stream_ms, snap_msg, &sn, err, sizeof(err));
	if (rc) {
		snprintf(msg, sizeof(msg), "snapshot: %s: %s", mds_error_name(rc), err);
		set_error(p, msg);
		goto out;
	}
	rc = snap_check(p, &sn, &range, &ts, msg, sizeof(msg));
	if (rc) {
		if (rc == MDS_EDENIED)
			tamper(p, msg);
		else
			set_error(p, msg);
		goto out;
	}
	if (ts < p->cur_ts) {
		snprintf(msg, sizeof(msg), "replayed snapshot: signed at %llu, before the applied checkpoint (%llu)",
			 (unsigned long long)ts, (unsigned long long)p->cur_ts);
		set_error(p, msg);
		rc = MDS_EINVAL;
		goto out;
	}
	/* the snapshot must extend what we applied: a consistency proof */
	if (p->cur.size > 0) {
		Mds__V1__GetConsistencyProofRequest preq = MDS__V1__GET_CONSISTENCY_PROOF_REQUEST__INIT;
		Mds__V1__ConsistencyProof *pf = NULL;
		uint8_t proof[MDS_MERKLE_PROOF_MAX][32];
		struct mds_checkpoint cp;
		size_t n = 0;

		if (range.size > p->cur.size) {
			preq.from_size = p->cur.size;
			preq.to_size = range.size;
			rc = peer_call(p, "/mds.v1.Feed/GetConsistencyProof", &preq.base,
				       &mds__v1__consistency_proof__descriptor, 10000, keep_msg, &pf, err,
				       sizeof(err));
			if (rc == 0 && (!pf || pf->n_hashes > MDS_MERKLE_PROOF_MAX))
				rc = MDS_EINVAL;
			for (size_t i = 0; rc == 0 && i < pf->n_hashes; i++) {
				if (pf->hashes[i].len != 32)
					rc = MDS_EINVAL;
				else
					memcpy(proof[i], pf->hashes[i].data, 32);
			}
			n = pf ? pf->n_hashes : 0;
			if (pf)
				protobuf_c_message_free_unpacked(&pf->base, NULL);
			if (rc) {
				set_error(p, "snapshot: cannot get a consistency proof from the applied size");
				goto out;
			}
		}
		/* judged like a checkpoint of (S, root): fork handling included */
		memset(&cp, 0, sizeof(cp));
		if (range.size < p->cur.size ||
		    (range.size == p->cur.size && memcmp(sn.manifest->root.data, p->cur_root, 32)) ||
		    mds_merkle_verify_consistency(p->cur.size, range.size, p->cur_root,
						  sn.manifest->root.data, (const uint8_t (*)[32])proof, n)) {
			snprintf(msg, sizeof(msg), "snapshot at size %llu is not consistent with the applied size %llu",
				 (unsigned long long)range.size, (unsigned long long)p->cur.size);
			if (++p->fork_run >= p->f->tamper_limit) {
				p->fork_run = 0;
				freeze(p, MDS_GV_EV_FORK, (const char *)sn.manifest->note.data,
				       sn.manifest->note.len, (const uint8_t (*)[32])proof, n, msg);
			} else {
				set_error(p, msg);
			}
			rc = MDS_EDENIED;
			goto out;
		}
	}
	leaves = calloc(sn.n ? sn.n : 1, sizeof(*leaves));
	if (!leaves) {
		rc = MDS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < sn.n; i++) {
		struct mds_status st;

		rc = mds_feed_leaf_decode(sn.v[i].p, sn.v[i].n, &leaves[i], &st);
		if (rc) {
			snprintf(msg, sizeof(msg), "snapshot entry %zu does not decode: %s", i, st.msg);
			set_error(p, msg);
			goto out;
		}
	}
	rc = mds_merkle_compact_encode(&range, enc, sizeof(enc), &elen);
	if (rc)
		goto out;
	{
		struct mds_gv_update u;
		struct mds_op op;

		memset(&u, 0, sizeof(u));
		u.origin = (struct mds_str){ p->origin, strlen(p->origin) };
		u.leaves = leaves;
		u.n_leaves = sn.n;
		u.size = range.size;
		u.root = sn.manifest->root.data;
		u.range = (struct mds_str){ (const char *)enc, elen };
		u.note = (struct mds_str){ (const char *)sn.manifest->note.data, sn.manifest->note.len };
		u.checkpoint_ms = ts;
		mds_op_init(&op, MDS_OP_GLOBAL_REPLACE);
		op.global = &u;
		rc = mds_store_exec(p->f->store, &op);
		if (rc) {
			set_error(p, op.status.msg);
			goto out;
		}
	}
	cursor_load(p);
	p->fork_run = 0;
	pthread_mutex_lock(&p->mu);
	p->st.bootstraps++;
	if (range.size > p->st.source_size)
		p->st.source_size = range.size;
	p->st.last_error[0] = 0;
	p->last_verified_mono = mono_ms();
	pthread_mutex_unlock(&p->mu);
	mds_log(MDS_LOG_INFO, "peer_bootstrapped", "origin=\"%s\" size=%llu entries=%zu",
		p->origin, (unsigned long long)range.size, sn.n);
out:
	pthread_mutex_lock(&p->mu);
	p->bootstrapping = 0;
	pthread_mutex_unlock(&p->mu);
	free(leaves);
	snap_free(&sn);
	return rc;
}

/* ---- the peer thread -------------------------------------------------------------------- */

static char *slurp(const char *path);

/* (Re)read the peer's token file: a rotated token is used from the next stream. */
static void token_load(struct peer *p)
{
	char *tok;
	size_t n;

	if (!p->token_file)
		return;
	tok = slurp(p->token_file);
	if (!tok) {
		set_error(p, "cannot read the peer's token file");
		return;
	}
	n = strlen(tok);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
		tok[--n] = 0;
	if (p->auth) {
		explicit_bzero(p->auth, strlen(p->auth));
		free(p->auth);
		p->auth = NULL;
	}
	if (n && asprintf(&p->auth, "Bearer %s", tok) < 0)
		p->auth = NULL;
	explicit_bzero(tok, n);
	free(tok);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct mds_federation *f = p->f;
	unsigned backoff = f->backoff_min, seen_gen = 0;
	char err[300];

	pthread_setname_np(pthread_self(), "mds-peer");
	if (cursor_load(p) != 0)
		mds_log(MDS_LOG_ERROR, "peer_cursor", "origin=\"%s\" error=\"cannot read the stored cursor\"",
			p->origin);
	mds_log(MDS_LOG_INFO, "peer_start", "origin=\"%s\" address=%s applied_size=%llu frozen=%d",
		p->origin, p->address, (unsigned long long)p->cur.size, p->frozen);
	while (!atomic_load(&f->stop)) {
		Mds__V1__SubscribeRequest req = MDS__V1__SUBSCRIBE_REQUEST__INIT;
		unsigned gen;
		int rc;

		pthread_mutex_lock(&p->mu);
		gen = p->reset_gen;
		pthread_mutex_unlock(&p->mu);
		if (gen != seen_gen) {
			seen_gen = gen;
			cursor_load(p);
			p->tamper_run = p->fork_run = 0;
		}
		if (p->frozen) {
			nap(p, 1000);
			continue;
		}
		token_load(p);
		req.origin = p->origin;
		req.have_size = p->cur.size;
		req.have_root.data = p->cur_root;
		req.have_root.len = p->cur.size ? 32 : 0;
		req.follow = 1;
		p->progressed = 0;
		p->heartbeat_only = 1;
		p->compacted = 0;
		err[0] = 0;
		rc = peer_call(p, "/mds.v1.Feed/Subscribe", &req.base,
			       &mds__v1__subscribe_event__descriptor, f->stream_ms, subscribe_msg, NULL,
			       err, sizeof(err));
		if (p->have_pending && rc == 0) {
			set_error(p, "the stream ended before the entries of its checkpoint were complete (gap)");
			rc = MDS_EINVAL;
		}
		pending_clear(p);
		if (atomic_load(&f->stop))
			break;
		if (rc == MDS_EPRECOND) {
			char msg[400];

			snprintf(msg, sizeof(msg), "the peer refused our cursor: %s", err);
			set_error(p, msg);
			fork_probe(p);
		} else if (rc && err[0]) {
			char msg[400];

			snprintf(msg, sizeof(msg), "%s: %s", mds_error_name(rc), err);
			set_error(p, msg);
		}
		if (p->compacted && !atomic_load(&f->stop) && bootstrap(p) == 0) {
			backoff = f->backoff_min;
			continue;
		}
		if (p->progressed)
			backoff = f->backoff_min;
		if (rc == 0 && p->progressed) {
			/* a publisher without follow ends each round: poll */
			if (p->heartbeat_only)
				nap(p, f->poll_ms);
			continue;
		}
		pthread_mutex_lock(&p->mu);
		p->st.reconnects++;
		pthread_mutex_unlock(&p->mu);
		/* exponential backoff with jitter in [backoff/2, backoff] */
		nap(p, backoff / 2 + (unsigned)(rand() % (int)(backoff / 2 + 1)));
		backoff = backoff * 2 > f->backoff_max ? f->backoff_max : backoff * 2;
	}
	pending_clear(p);
	return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

static void grpc_init_once(void)
{
	grpc_init();
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && n < (1 << 22) &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = 0;
		}
	}
	fclose(fp);
	return buf;
}

static int peer_channel(struct peer *p, struct mds_status *st)
{
	grpc_channel_credentials *creds;
	grpc_arg args[4];
	grpc_channel_args cargs = { 4, args };
	char *ca = NULL, *cert = NULL, *key = NULL;
	int rc = 0;

	if (p->tls_ca || p->tls_cert) {
		grpc_ssl_pem_key_cert_pair pair;

		if ((p->tls_cert != NULL) != (p->tls_key != NULL))
			return mds_status_set(st, MDS_EINVAL, "peer '%s': tls-cert needs tls-key",
					      p->origin);
		if ((p->tls_ca && !(ca = slurp(p->tls_ca))) ||
		    (p->tls_cert && (!(cert = slurp(p->tls_cert)) || !(key = slurp(p->tls_key))))) {
			rc = mds_status_set(st, MDS_EINVAL, "peer '%s': cannot read its TLS files",
					    p->origin);
			goto out;
		}
		pair.private_key = key;
		pair.cert_chain = cert;
		creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	} else if (p->insecure) {
		creds = grpc_insecure_credentials_create();
	} else {
		return mds_status_set(st, MDS_EINVAL,
				      "peer '%s': give tls-ca (and tls-cert/tls-key) or insecure",
				      p->origin);
	}
	if (!creds) {
		rc = mds_status_set(st, MDS_EINVAL, "peer '%s': cannot build credentials", p->origin);
		goto out;
	}
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = 64 << 20;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
	args[1].value.integer = 2000;
	/* HTTP/2 keepalive: a ping every 60 s, the connection is dead after 20 s
	 * without an answer. Rare enough for the server's ping policy (the
	 * stream carries heartbeats in between); the idle watchdog (idle_ms)
	 * covers a peer that answers pings but sends nothing. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_KEEPALIVE_TIME_MS;
	args[2].value.integer = 60000;
	args[3].type = GRPC_ARG_INTEGER;
	args[3].key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
	args[3].value.integer = 20000;
	p->ch = grpc_channel_create(p->address, creds, &cargs);
	grpc_channel_credentials_release(creds);
	if (!p->ch)
		rc = mds_status_set(st, MDS_ENOMEM, "peer '%s': cannot create a channel", p->origin);
out:
	free(ca);
	free(cert);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	return rc;
}

static char *dup_opt(const char *s, int *bad)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*bad = 1;
	return d;
}

int mds_federation_start(struct mds_store *store, const struct mds_federation_opts *o,
			 struct mds_federation **out, struct mds_status *st)
{
	struct mds_federation *f;
	int rc = 0;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	f->store = store;
	f->stale_ms = o->stale_ms ? o->stale_ms : 30000;
	f->idle_ms = o->idle_ms ? o->idle_ms : 30000;
	f->stream_ms = o->stream_ms ? o->stream_ms : 600000;
	f->poll_ms = o->poll_ms ? o->poll_ms : 500;
	f->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 100;
	f->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 10000;
	if (f->backoff_max < f->backoff_min)
		f->backoff_max = f->backoff_min;
	f->tamper_limit = o->tamper_limit ? o->tamper_limit : 3;
	f->batch_max = o->batch_max;
	f->start_mono = mono_ms();
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->peers = calloc(o->n_peers ? o->n_peers : 1, sizeof(*f->peers));
	if (!f->peers) {
		free(f);
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	}
	if (o->n_peers)
		pthread_once(&grpc_once, grpc_init_once);
	for (size_t i = 0; i < o->n_peers && rc == 0; i++) {
		const struct mds_fed_peer_opts *po = &o->peers[i];
		struct peer *p = &f->peers[i];
		int bad = 0;

		p->f = f;
		pthread_mutex_init(&p->mu, NULL);
		f->n++;
		if (!po->origin || !po->origin[0] || strlen(po->origin) > MDS_GV_ORIGIN_MAX ||
		    strchr(po->origin, ' ')) {
			rc = mds_status_set(st, MDS_EINVAL, "peer %zu: origin must have 1 to 255 bytes", i);
			break;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->peers[j].origin, po->origin) == 0)
				rc = mds_status_set(st, MDS_EINVAL, "peer '%s' is configured twice",
						    po->origin);
		if (rc)
			break;
		snprintf(p->origin, sizeof(p->origin), "%s", po->origin);
		if (!po->address || !po->address[0] || strlen(po->address) >= sizeof(p->address)) {
			rc = mds_status_set(st, MDS_EINVAL, "peer '%s': address HOST:PORT is required",
					    po->origin);
			break;
		}
		snprintf(p->address, sizeof(p->address), "%s", po->address);
		snprintf(p->st.origin, sizeof(p->st.origin), "%s", p->origin);
		snprintf(p->st.address, sizeof(p->st.address), "%s", p->address);
		if (po->n_keys == 0 || po->n_keys > MDS_FED_KEYS_MAX) {
			rc = mds_status_set(st, MDS_EINVAL, "peer '%s': give 1 to %d verifier keys",
					    po->origin, MDS_FED_KEYS_MAX);
			break;
		}
		for (size_t k = 0; k < po->n_keys && rc == 0; k++) {
			struct mds_status kst;

			if (mds_note_verifier_parse(po->keys[k], strlen(po->keys[k]), &p->keys[k], &kst))
				rc = mds_status_set(st, MDS_EINVAL, "peer '%s': key %zu: %s",
						    po->origin, k + 1, kst.msg);
			else if (strcmp(p->keys[k].name, po->origin) != 0)
				rc = mds_status_set(st, MDS_EINVAL,
						    "peer '%s': key %zu is named '%s', not the origin",
						    po->origin, k + 1, p->keys[k].name);
		}
		if (rc)
			break;
		p->n_keys = po->n_keys;
		p->insecure = po->insecure;
		p->tls_ca = dup_opt(po->tls_ca, &bad);
		p->tls_cert = dup_opt(po->tls_cert, &bad);
		p->tls_key = dup_opt(po->tls_key, &bad);
		p->token_file = dup_opt(po->token_file, &bad);
		if (bad) {
			rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
			break;
		}
		rc = peer_channel(p, st);
	}
	if (rc) {
		mds_federation_stop(f);
		return rc;
	}
	srand((unsigned)mono_ms());
	for (size_t i = 0; i < f->n; i++) {
		struct peer *p = &f->peers[i];

		if (pthread_create(&p->th, NULL, peer_main, p) != 0) {
			mds_federation_stop(f);
			return mds_status_set(st, MDS_ENOMEM, "cannot start the thread of peer '%s'",
					      p->origin);
		}
		p->started = 1;
	}
	*out = f;
	return 0;
}

void mds_federation_stop(struct mds_federation *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	atomic_store(&f->stop, 1);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	for (size_t i = 0; i < f->n; i++) {
		struct peer *p = &f->peers[i];

		if (p->started) {
			mds_log(MDS_LOG_DEBUG, "peer_stopping", "origin=\"%s\"", p->origin);
			pthread_join(p->th, NULL);
		}
		pending_clear(p);
		free(p->pl);
		free(p->cur_note);
		if (p->ch)
			grpc_channel_destroy(p->ch);
		free(p->tls_ca);
		free(p->tls_cert);
		free(p->tls_key);
		free(p->token_file);
		if (p->auth) {
			explicit_bzero(p->auth, strlen(p->auth));
			free(p->auth);
		}
		pthread_mutex_destroy(&p->mu);
	}
	free(f->peers);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}

size_t mds_federation_count(const struct mds_federation *f)
{
	return f ? f->n : 0;
}

void mds_federation_status(struct mds_federation *f, size_t i, struct mds_peer_status *out)
{
	struct peer *p = &f->peers[i];
	uint64_t now = mono_ms(), wall = wall_ms(), since;

	pthread_mutex_lock(&p->mu);
	*out = p->st;
	since = p->last_verified_mono ? p->last_verified_mono : f->start_mono;
	if (p->frozen)
		out->state = MDS_PEER_FORKED;
	else if (p->bootstrapping)
		out->state = MDS_PEER_BOOTSTRAPPING;
	else if (now - since > f->stale_ms)
		out->state = MDS_PEER_STALE;
	else if (!p->last_verified_mono || out->source_size > out->applied_size)
		out->state = MDS_PEER_CATCHING_UP;
	else
		out->state = MDS_PEER_LIVE;
	pthread_mutex_unlock(&p->mu);
	out->lag_leaves = out->source_size > out->applied_size ? out->source_size - out->applied_size : 0;
	out->lag_ms = out->applied_checkpoint_ms && wall > out->applied_checkpoint_ms ?
		      wall - out->applied_checkpoint_ms : 0;
}

int mds_federation_reset(struct mds_federation *f, const char *origin, struct mds_status *st)
{
	struct mds_gv_evidence ev;
	struct mds_gv_update u;
	struct mds_op op;
	struct peer *p = NULL;
	int rc;

	for (size_t i = 0; f && i < f->n; i++)
		if (strcmp(f->peers[i].origin, origin) == 0)
			p = &f->peers[i];
	if (!p)
		return mds_status_set(st, MDS_ENOTFOUND, "'%s' is not a configured peer", origin);
	memset(&ev, 0, sizeof(ev));
	ev.kind = MDS_GV_EV_RESET;
	ev.time_ms = wall_ms();
	ev.message = MDS_STR("view reset by an admin");
	memset(&u, 0, sizeof(u));
	u.origin = (struct mds_str){ p->origin, strlen(p->origin) };
	u.action = MDS_GV_RESET;
	u.evidence = &ev;
	mds_op_init(&op, MDS_OP_PEER_STATE);
	op.global = &u;
	rc = mds_store_exec(f->store, &op);
	if (rc)
		return mds_status_set(st, rc, "%s", op.status.msg);
	pthread_mutex_lock(&p->mu);
	p->reset_gen++;
	p->st.source_size = 0;
	p->st.last_error[0] = 0;
	p->last_verified_mono = 0;
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_lock(&f->mu);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	mds_log(MDS_LOG_WARN, "peer_reset", "origin=\"%s\" note=\"view dropped by an admin; resubscribing from 0\"",
		origin);
	return 0;
}

static const char *state_name(int s)
{
	switch (s) {
	case MDS_PEER_LIVE: return "live";
	case MDS_PEER_CATCHING_UP: return "catching_up";
	case MDS_PEER_STALE: return "stale";
	case MDS_PEER_FORKED: return "forked";
	case MDS_PEER_BOOTSTRAPPING: return "bootstrapping";
	default: return "local";
	}
}

void mds_federation_metrics(struct mds_federation *f, FILE *out)
{
	static const int states[] = { MDS_PEER_LIVE, MDS_PEER_CATCHING_UP, MDS_PEER_STALE,
				      MDS_PEER_FORKED, MDS_PEER_BOOTSTRAPPING };

	if (!f || f->n == 0)
		return;
	fprintf(out,
		"# HELP mds_peer_applied_size leaves of the peer's log applied to the global view.\n"
		"# TYPE mds_peer_applied_size gauge\n"
		"# HELP mds_peer_source_size size of the peer's newest verified checkpoint.\n"
		"# TYPE mds_peer_source_size gauge\n"
		"# HELP mds_peer_lag_leaves verified leaves not applied yet.\n"
		"# TYPE mds_peer_lag_leaves gauge\n"
		"# HELP mds_peer_lag_seconds now minus the signing time of the applied checkpoint.\n"
		"# TYPE mds_peer_lag_seconds gauge\n"
		"# HELP mds_peer_last_checkpoint_timestamp_seconds signing time of the newest verified checkpoint.\n"
		"# TYPE mds_peer_last_checkpoint_timestamp_seconds gauge\n"
		"# HELP mds_peer_state 1 for the peer's current state.\n"
		"# TYPE mds_peer_state gauge\n"
		"# HELP mds_peer_tamper_alarms_total batches that failed verification tamper-limit times in a row.\n"
		"# TYPE mds_peer_tamper_alarms_total counter\n"
		"# HELP mds_peer_fork_alarms_total forks detected (view frozen).\n"
		"# TYPE mds_peer_fork_alarms_total counter\n"
		"# HELP mds_peer_reconnects_total streams that ended in an error and were retried.\n"
		"# TYPE mds_peer_reconnects_total counter\n"
		"# HELP mds_peer_leaves_applied_total leaves applied since start.\n"
		"# TYPE mds_peer_leaves_applied_total counter\n");
	for (size_t i = 0; i < f->n; i++) {
		struct mds_peer_status s;
		const char *o;

		mds_federation_status(f, i, &s);
		o = s.origin;
		fprintf(out, "mds_peer_applied_size{origin=\"%s\"} %llu\n", o, (unsigned long long)s.applied_size);
		fprintf(out, "mds_peer_source_size{origin=\"%s\"} %llu\n", o, (unsigned long long)s.source_size);
		fprintf(out, "mds_peer_lag_leaves{origin=\"%s\"} %llu\n", o, (unsigned long long)s.lag_leaves);
		fprintf(out, "mds_peer_lag_seconds{origin=\"%s\"} %.3f\n", o, (double)s.lag_ms / 1000.0);
		fprintf(out, "mds_peer_last_checkpoint_timestamp_seconds{origin=\"%s\"} %.3f\n", o,
			(double)s.last_checkpoint_ms / 1000.0);
		for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++)
			fprintf(out, "mds_peer_state{origin=\"%s\",state=\"%s\"} %d\n", o,
				state_name(states[k]), s.state == states[k]);
		fprintf(out, "mds_peer_tamper_alarms_total{origin=\"%s\"} %llu\n", o, (unsigned long long)s.tamper_alarms);
		fprintf(out, "mds_peer_fork_alarms_total{origin=\"%s\"} %llu\n", o, (unsigned long long)s.fork_alarms);
		fprintf(out, "mds_peer_reconnects_total{origin=\"%s\"} %llu\n", o, (unsigned long long)s.reconnects);
		fprintf(out, "mds_peer_leaves_applied_total{origin=\"%s\"} %llu\n", o, (unsigned long long)s.leaves_applied);
	}
}
