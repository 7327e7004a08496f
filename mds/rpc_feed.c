/*
 * rpc_feed.c - the mds.v1.Feed service: the signed change feed read over
 * gRPC (feed.proto). Every method is a read in the worker's snapshot:
 * leaves and Merkle nodes come from the snapshot (feed_log.h), the newest
 * signed checkpoint from the checkpointer (feed_publisher.h). The server
 * keeps no per-subscriber state; a Subscribe stream's position lives in
 * the call (struct mds_rpc_call's stream cursor) and ends at the newest
 * signed checkpoint.
 *
 * A checkpoint may have been signed from a snapshot newer than the one a
 * call reads; a call that needs the checkpoint's tree then answers
 * UNAVAILABLE (retry), never a proof it cannot compute.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feed.pb-c.h"
#include "feed_compact.h"
#include "feed_log.h"
#include "feed_publisher.h"
#include "feed_snapshot.h"
#include "server.h"
#include "rpc.h"

#define ENTRIES_MAX 1000

/* The newest signed checkpoint; *note owned by the caller (free()). */
static int checkpoint_latest(struct mds_rpc_call *c, char **note, size_t *len,
			     struct mds_checkpoint *cp, struct mds_status *st)
{
	struct mds_feed_publisher *p = mds_server_feed(c->server);
	int rc;

	if (!p)
		return mds_status_set(st, MDS_ENOTFOUND,
				      "this island signs no checkpoints (no feed key: mds keys init)");
	rc = mds_feed_publisher_latest(p, note, len, cp);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "no checkpoint has been signed yet; retry shortly");
	if (rc)
		return mds_status_set(st, rc, "cannot read the newest checkpoint: %s",
				      mds_strerror(rc));
	return 0;
}

static int check_origin(const char *want, const struct mds_checkpoint *cp,
			struct mds_status *st)
{
	if (want && want[0] && strcmp(want, cp->origin) != 0)
		return mds_status_set(st, MDS_EINVAL, "this island's feed origin is '%s', not '%s'",
				      cp->origin, want);
	return 0;
}

/* The log size in the call's snapshot; @need must not exceed it. */
static int snapshot_size(struct mds_rpc_call *c, uint64_t need, uint64_t *size,
			 struct mds_status *st)
{
	int rc = mds_feed_log_size(mds_reader_txn(c->reader), size);

	if (rc)
		return mds_status_set(st, rc, "cannot read the feed: %s", mds_strerror(rc));
	if (need > *size)
		return mds_status_set(st, MDS_EUNAVAIL,
				      "the checkpoint is newer than this read snapshot; retry");
	return 0;
}

static void fill_checkpoint(Mds__V1__FeedCheckpoint *m, const char *note, size_t len,
			    struct mds_checkpoint *cp)
{
	m->note.data = (uint8_t *)note;
	m->note.len = len;
	m->origin = cp->origin;
	m->size = cp->size;
	m->root.data = cp->root;
	m->root.len = 32;
}

static int get_checkpoint_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetCheckpointRequest *r = (const void *)c->req;
	Mds__V1__FeedCheckpoint resp = MDS__V1__FEED_CHECKPOINT__INIT;
	struct mds_checkpoint cp;
	char *note = NULL;
	size_t len;
	int rc = checkpoint_latest(c, &note, &len, &cp, st);

	if (rc == 0)
		rc = check_origin(r->origin, &cp, st);
	if (rc == 0) {
		fill_checkpoint(&resp, note, len, &cp);
		rc = mds_rpc_reply(c, &resp.base);
	}
	free(note);
	return rc;
}

/* MDS_EPRECOND naming the first retained leaf if leaf @seq was compacted. */
static int check_retained(struct mds_rpc_call *c, uint64_t seq, struct mds_status *st)
{
	uint64_t first;
	int rc = mds_feed_log_first(mds_reader_txn(c->reader), &first);

	if (rc)
		return mds_status_set(st, rc, "cannot read the feed: %s", mds_strerror(rc));
	if (seq < first)
		return mds_status_set(st, MDS_EPRECOND,
				      "leaf %llu is compacted: the first retained leaf is %llu; bootstrap with GetSnapshot, then subscribe from its size",
				      (unsigned long long)seq, (unsigned long long)first);
	return 0;
}

/* Reads leaves [start, end) into @e / @ep (caller's arrays of n). */
static int read_entries(struct mds_rpc_call *c, uint64_t start, uint64_t end,
			Mds__V1__FeedEntry *e, Mds__V1__FeedEntry **ep, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(c->reader);

	if (start < end) {
		int rc = check_retained(c, start, st);

		if (rc)
			return rc;
	}

	for (uint64_t i = start; i < end; i++) {
		struct mds_str v;
		int rc = mds_feed_log_leaf(t, i, &v);

		if (rc)
			return mds_status_set(st, rc == MDS_ENOTFOUND ? MDS_ECORRUPT : rc,
					      "cannot read feed leaf %llu: %s",
					      (unsigned long long)i, mds_strerror(rc));
		mds__v1__feed_entry__init(&e[i - start]);
		e[i - start].seq = i;
		e[i - start].leaf.data = (uint8_t *)v.p;
		e[i - start].leaf.len = v.len;
		ep[i - start] = &e[i - start];
	}
	return 0;
}

static int get_entries_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetEntriesRequest *r = (const void *)c->req;
	Mds__V1__FeedEntries resp = MDS__V1__FEED_ENTRIES__INIT;
	Mds__V1__FeedEntry *e = NULL, **ep = NULL;
	uint64_t size, end;
	int rc = snapshot_size(c, 0, &size, st);

	if (rc)
		return rc;
	if (r->start > size || (r->end && r->end < r->start))
		return mds_status_set(st, MDS_EINVAL,
				      "entries [%llu, %llu) are not in the log of %llu leaves",
				      (unsigned long long)r->start, (unsigned long long)r->end,
				      (unsigned long long)size);
	end = r->end && r->end < size ? r->end : size;
	if (end - r->start > ENTRIES_MAX)
		end = r->start + ENTRIES_MAX;
	e = calloc(ENTRIES_MAX, sizeof(*e));
	ep = calloc(ENTRIES_MAX, sizeof(*ep));
	if (!e || !ep) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = read_entries(c, r->start, end, e, ep, st);
	if (rc)
		goto out;
	resp.entries = ep;
	resp.n_entries = (size_t)(end - r->start);
	resp.tree_size = size;
	rc = mds_rpc_reply(c, &resp.base);
out:
	free(e);
	free(ep);
	return rc;
}

/* Proof hashes as protobuf bytes (pointing into @proof). */
static void proof_bytes(uint8_t proof[][MDS_MERKLE_HASH_LEN], size_t n, ProtobufCBinaryData *b)
{
	for (size_t i = 0; i < n; i++) {
		b[i].data = proof[i];
		b[i].len = MDS_MERKLE_HASH_LEN;
	}
}

static int get_inclusion_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetInclusionProofRequest *r = (const void *)c->req;
	Mds__V1__InclusionProof resp = MDS__V1__INCLUSION_PROOF__INIT;
	uint8_t proof[MDS_MERKLE_PROOF_MAX][MDS_MERKLE_HASH_LEN], root[MDS_MERKLE_HASH_LEN];
	ProtobufCBinaryData b[MDS_MERKLE_PROOF_MAX];
	struct mds_merkle_store ms;
	struct mds_checkpoint cp;
	struct mds_str leaf;
	char *note = NULL;
	uint64_t size = r->size, have;
	size_t n, len = 0;
	int rc = 0;

	if (size == 0) {
		rc = checkpoint_latest(c, &note, &len, &cp, st);
		size = cp.size;
	}
	if (rc == 0)
		rc = snapshot_size(c, size, &have, st);
	if (rc)
		goto out;
	if (r->seq >= size) {
		rc = mds_status_set(st, MDS_EINVAL, "leaf %llu is not in the tree of %llu leaves",
				    (unsigned long long)r->seq, (unsigned long long)size);
		goto out;
	}
	rc = check_retained(c, r->seq, st);
	if (rc)
		goto out;
	mds_feed_log_merkle(mds_reader_txn(c->reader), &ms);
	rc = mds_merkle_inclusion_proof(&ms, r->seq, size, proof, &n);
	if (rc == 0)
		rc = mds_merkle_root(&ms, size, root);
	if (rc == 0)
		rc = mds_feed_log_leaf(mds_reader_txn(c->reader), r->seq, &leaf);
	if (rc) {
		mds_status_set(st, rc, "cannot prove leaf %llu: %s", (unsigned long long)r->seq,
			       mds_strerror(rc));
		goto out;
	}
	proof_bytes(proof, n, b);
	resp.seq = r->seq;
	resp.size = size;
	resp.leaf.data = (uint8_t *)leaf.p;
	resp.leaf.len = leaf.len;
	resp.hashes = b;
	resp.n_hashes = n;
	resp.root.data = root;
	resp.root.len = MDS_MERKLE_HASH_LEN;
	resp.checkpoint_note.data = (uint8_t *)note;
	resp.checkpoint_note.len = len;
	rc = mds_rpc_reply(c, &resp.base);
out:
	free(note);
	return rc;
}

static int get_consistency_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetConsistencyProofRequest *r = (const void *)c->req;
	Mds__V1__ConsistencyProof resp = MDS__V1__CONSISTENCY_PROOF__INIT;
	uint8_t proof[MDS_MERKLE_PROOF_MAX][MDS_MERKLE_HASH_LEN];
	uint8_t r1[MDS_MERKLE_HASH_LEN], r2[MDS_MERKLE_HASH_LEN];
	ProtobufCBinaryData b[MDS_MERKLE_PROOF_MAX];
	struct mds_merkle_store ms;
	struct mds_checkpoint cp;
	char *note = NULL;
	uint64_t to = r->to_size, have;
	size_t n, len = 0;
	int rc = 0;

	if (to == 0) {
		rc = checkpoint_latest(c, &note, &len, &cp, st);
		to = cp.size;
	}
	if (rc == 0)
		rc = snapshot_size(c, to, &have, st);
	if (rc)
		goto out;
	if (r->from_size > to) {
		rc = mds_status_set(st, MDS_EINVAL, "from_size %llu is above to_size %llu",
				    (unsigned long long)r->from_size, (unsigned long long)to);
		goto out;
	}
	mds_feed_log_merkle(mds_reader_txn(c->reader), &ms);
	rc = mds_merkle_consistency_proof(&ms, r->from_size, to, proof, &n);
	if (rc == 0)
		rc = mds_merkle_root(&ms, r->from_size, r1);
	if (rc == 0)
		rc = mds_merkle_root(&ms, to, r2);
	if (rc) {
		mds_status_set(st, rc, "cannot prove consistency: %s", mds_strerror(rc));
		goto out;
	}
	proof_bytes(proof, n, b);
	resp.from_size = r->from_size;
	resp.to_size = to;
	resp.hashes = b;
	resp.n_hashes = n;
	resp.from_root.data = r1;
	resp.from_root.len = MDS_MERKLE_HASH_LEN;
	resp.to_root.data = r2;
	resp.to_root.len = MDS_MERKLE_HASH_LEN;
	resp.checkpoint_note.data = (uint8_t *)note;
	resp.checkpoint_note.len = len;
	rc = mds_rpc_reply(c, &resp.base);
out:
	free(note);
	return rc;
}

/*
 * Subscribe. The call's stream cursor holds a struct sub_cursor once the
 * first event is sent: the next leaf to send, the size of the checkpoint
 * being delivered, and the publisher generation of the last checkpoint
 * sent (a follow stream sends the next one when it changes).
 */
struct sub_cursor {
	uint64_t next;
	uint64_t target;
	uint64_t sent_gen;
	int follow;
};

static void cursor_save(struct mds_rpc_call *c, const struct sub_cursor *cur)
{
	memcpy(c->stream_cursor, cur, sizeof(*cur));
	c->stream_cursor_len = sizeof(*cur);
	c->stream_last = !cur->follow && cur->next == cur->target;
}

/* One event with @cp (the note @note) and the consistency proof from
 * @from to cp->size; @heartbeat says nothing is new. */
static int send_checkpoint(struct mds_rpc_call *c, const char *note, size_t len,
			   struct mds_checkpoint *cp, uint64_t from, int heartbeat,
			   struct mds_status *st)
{
	Mds__V1__SubscribeEvent ev = MDS__V1__SUBSCRIBE_EVENT__INIT;
	Mds__V1__FeedCheckpoint ck = MDS__V1__FEED_CHECKPOINT__INIT;
	uint8_t proof[MDS_MERKLE_PROOF_MAX][MDS_MERKLE_HASH_LEN];
	ProtobufCBinaryData b[MDS_MERKLE_PROOF_MAX];
	struct mds_merkle_store ms;
	size_t n = 0;
	int rc;

	mds_feed_log_merkle(mds_reader_txn(c->reader), &ms);
	rc = mds_merkle_consistency_proof(&ms, from, cp->size, proof, &n);
	if (rc)
		return mds_status_set(st, rc, "cannot prove consistency: %s", mds_strerror(rc));
	proof_bytes(proof, n, b);
	fill_checkpoint(&ck, note, len, cp);
	ev.checkpoint = &ck;
	ev.consistency = b;
	ev.n_consistency = n;
	ev.heartbeat = heartbeat;
	return mds_rpc_reply(c, &ev.base);
}

static int send_compacted(struct mds_rpc_call *c, uint64_t first, uint64_t size)
{
	Mds__V1__SubscribeEvent ev = MDS__V1__SUBSCRIBE_EVENT__INIT;
	Mds__V1__FeedCompacted fc = MDS__V1__FEED_COMPACTED__INIT;

	fc.first_retained = first;
	fc.tree_size = size;
	ev.compacted = &fc;
	return mds_rpc_reply(c, &ev.base);
}

static int subscribe_first(struct mds_rpc_call *c, const Mds__V1__SubscribeRequest *r,
			   struct mds_status *st)
{
	uint8_t root[MDS_MERKLE_HASH_LEN];
	struct mds_merkle_store ms;
	struct mds_checkpoint cp;
	struct sub_cursor cur;
	uint64_t have, first, gen = 0;
	char *note = NULL;
	size_t len;
	struct mds_feed_publisher *p = mds_server_feed(c->server);
	int rc;

	if (!p)
		return mds_status_set(st, MDS_ENOTFOUND,
				      "this island signs no checkpoints (no feed key: mds keys init)");
	rc = mds_feed_publisher_latest_gen(p, &note, &len, &cp, &gen);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "no checkpoint has been signed yet; retry shortly");
	if (rc)
		return mds_status_set(st, rc, "cannot read the newest checkpoint: %s",
				      mds_strerror(rc));
	if (rc == 0)
		rc = check_origin(r->origin, &cp, st);
	if (rc == 0)
		rc = snapshot_size(c, cp.size, &have, st);
	if (rc)
		goto out;
	if (r->have_size > cp.size) {
		rc = mds_status_set(st, MDS_EPRECOND,
				    "you have %llu leaves but the newest checkpoint has %llu: not this island's log, or it rolled back",
				    (unsigned long long)r->have_size, (unsigned long long)cp.size);
		goto out;
	}
	mds_feed_log_merkle(mds_reader_txn(c->reader), &ms);
	rc = mds_merkle_root(&ms, r->have_size, root);
	if (rc == 0 && r->have_size > 0 &&
	    (r->have_root.len != MDS_MERKLE_HASH_LEN || memcmp(root, r->have_root.data, 32))) {
		rc = mds_status_set(st, MDS_EPRECOND,
				    "your root at size %llu is not this island's: the logs forked",
				    (unsigned long long)r->have_size);
		goto out;
	}
	if (rc == 0)
		rc = mds_feed_log_first(mds_reader_txn(c->reader), &first);
	if (rc) {
		mds_status_set(st, rc, "cannot read the feed: %s", mds_strerror(rc));
		goto out;
	}
	if (r->have_size < first) {
		/* the leaves the subscriber needs are gone: the only event */
		rc = send_compacted(c, first, have);
		c->stream_last = 1;
		c->stream_sent = 1;
		goto out;
	}
	rc = send_checkpoint(c, note, len, &cp, r->have_size, r->have_size == cp.size, st);
	if (rc)
		goto out;
	cur.next = r->have_size;
	cur.target = cp.size;
	cur.sent_gen = gen;
	cur.follow = r->follow;
	c->stream_follow = r->follow;
	cursor_save(c, &cur);
	c->stream_sent = 1;
out:
	free(note);
	return rc;
}

/* Follow mode, caught up: the next checkpoint if one was signed since the
 * last one sent, else park until the publisher signs. */
static int subscribe_follow(struct mds_rpc_call *c, struct sub_cursor *cur,
			    struct mds_status *st)
{
	struct mds_checkpoint cp;
	uint64_t gen = mds_server_wake_gen(c->server), pgen, have;
	char *note = NULL;
	size_t len;
	int rc;

	if (!mds_server_is_serving(c->server))
		return mds_status_set(st, MDS_ESHUTDOWN,
				      "the island is shutting down; subscribe again from your size");
	rc = mds_feed_publisher_latest_gen(mds_server_feed(c->server), &note, &len, &cp, &pgen);
	if (rc)
		return mds_status_set(st, rc, "cannot read the newest checkpoint: %s",
				      mds_strerror(rc));
	if (pgen == cur->sent_gen) {
		c->stream_park = 1;
		c->stream_park_gen = gen;
		goto out;
	}
	rc = mds_feed_log_size(mds_reader_txn(c->reader), &have);
	if (rc) {
		mds_status_set(st, rc, "cannot read the feed: %s", mds_strerror(rc));
		goto out;
	}
	if (have < cp.size) {
		/* signed from a newer snapshot than this one: come back at once */
		c->stream_park = 1;
		c->stream_park_gen = gen - 1;
		goto out;
	}
	if (cp.size < cur->target) {
		rc = mds_status_set(st, MDS_EINTERNAL, "the newest checkpoint shrank the log");
		goto out;
	}
	rc = send_checkpoint(c, note, len, &cp, cur->target, cp.size == cur->target, st);
	if (rc)
		goto out;
	cur->target = cp.size;
	cur->sent_gen = pgen;
	cursor_save(c, cur);
	c->stream_sent++;
out:
	free(note);
	return rc;
}

static int subscribe_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__SubscribeRequest *r = (const void *)c->req;
	Mds__V1__SubscribeEvent ev = MDS__V1__SUBSCRIBE_EVENT__INIT;
	Mds__V1__FeedEntry *e = NULL, **ep = NULL;
	struct sub_cursor cur;
	uint64_t end, have, first;
	int rc;

	if (c->stream_sent == 0)
		return subscribe_first(c, r, st);
	memcpy(&cur, c->stream_cursor, sizeof(cur));
	if (cur.next == cur.target)
		return subscribe_follow(c, &cur, st);
	rc = snapshot_size(c, cur.target, &have, st);
	if (rc == 0)
		rc = mds_feed_log_first(mds_reader_txn(c->reader), &first);
	if (rc)
		return rc == MDS_EUNAVAIL ? rc : mds_status_set(st, rc, "cannot read the feed: %s",
								   mds_strerror(rc));
	if (cur.next < first) {
		/* compacted while this (slow) stream was on its way: the
		 * subscriber must bootstrap, as if it had subscribed now */
		rc = send_compacted(c, first, have);
		c->stream_last = 1;
		return rc;
	}
	end = cur.target - cur.next > ENTRIES_MAX ? cur.next + ENTRIES_MAX : cur.target;
	e = calloc(ENTRIES_MAX, sizeof(*e));
	ep = calloc(ENTRIES_MAX, sizeof(*ep));
	if (!e || !ep) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = read_entries(c, cur.next, end, e, ep, st);
	if (rc)
		goto out;
	ev.entries = ep;
	ev.n_entries = (size_t)(end - cur.next);
	rc = mds_rpc_reply(c, &ev.base);
	if (rc)
		goto out;
	cur.next = end;
	cursor_save(c, &cur);
	c->stream_sent++;
out:
	free(e);
	free(ep);
	return rc;
}

/*
 * GetSnapshot. The call holds its own reader with one read transaction
 * for its whole life (struct snap_call in stream_state), so every chunk
 * and the manifest come from the same view. At most SNAPSHOTS_MAX run at
 * once: each pins the pages of its view and one LMDB reader slot.
 */
#define SNAPSHOTS_MAX 4
static atomic_int snapshots_open;

struct snap_call {
	struct mds_reader *r;
	struct mds_feed_snapshot *sn;
};

static void snap_free(void *arg)
{
	struct snap_call *sc = arg;

	mds_feed_snapshot_free(sc->sn);
	if (sc->r)
		mds_reader_close(sc->r);
	free(sc);
	atomic_fetch_sub(&snapshots_open, 1);
}

static int snapshot_begin(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetSnapshotRequest *r = (const void *)c->req;
	struct mds_feed_publisher *p = mds_server_feed(c->server);
	struct snap_call *sc;
	int rc;

	if (!p)
		return mds_status_set(st, MDS_ENOTFOUND,
				      "this island signs no snapshots (no feed key: mds keys init)");
	if (r->origin && r->origin[0] && strcmp(r->origin, mds_feed_publisher_origin(p)) != 0)
		return mds_status_set(st, MDS_EINVAL, "this island's feed origin is '%s', not '%s'",
				      mds_feed_publisher_origin(p), r->origin);
	if (atomic_fetch_add(&snapshots_open, 1) >= SNAPSHOTS_MAX) {
		atomic_fetch_sub(&snapshots_open, 1);
		return mds_status_set(st, MDS_EBUSY, "%d snapshots are already being sent; retry later",
				      SNAPSHOTS_MAX);
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		atomic_fetch_sub(&snapshots_open, 1);
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	}
	c->stream_state = sc;
	c->stream_free = snap_free;
	rc = mds_reader_open(mds_server_store(c->server), &sc->r);
	if (rc == 0)
		rc = mds_reader_begin(sc->r);
	if (rc)
		return mds_status_set(st, rc, "cannot open a read view for the snapshot: %s",
				      mds_strerror(rc));
	return mds_feed_snapshot_open(mds_reader_txn(sc->r), mds_feed_publisher_origin(p),
				      &sc->sn, st);
}

/* The last chunk: the manifest, signed with the feed keys. */
static int snapshot_manifest(struct mds_rpc_call *c, struct snap_call *sc,
			     struct mds_status *st)
{
	struct mds_feed_publisher *p = mds_server_feed(c->server);
	Mds__V1__SnapshotChunk ch = MDS__V1__SNAPSHOT_CHUNK__INIT;
	Mds__V1__SnapshotManifest mf = MDS__V1__SNAPSHOT_MANIFEST__INIT;
	struct mds_feed_snapshot_manifest m;
	ProtobufCBinaryData b[64];
	char text[MDS_FEED_SNAPSHOT_TEXT_MAX], *note = NULL;
	size_t tlen, nlen;
	struct timespec ts;
	unsigned n_range = 0;
	int rc = mds_feed_snapshot_manifest(sc->sn, &m);

	if (rc)
		return mds_status_set(st, rc, "cannot finish the snapshot digest");
	clock_gettime(CLOCK_REALTIME, &ts);
	rc = mds_feed_snapshot_note_text(mds_feed_publisher_origin(p), &m,
					 (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u,
					 text, sizeof(text), &tlen);
	if (rc)
		return mds_status_set(st, rc, "cannot format the snapshot manifest");
	rc = mds_feed_publisher_sign_text(p, text, tlen, &note, &nlen, st);
	if (rc)
		return rc;
	for (uint64_t v = m.size; v; v &= v - 1)
		n_range++;
	for (unsigned i = 0; i < n_range; i++) {
		b[i].data = m.range.hash[i];
		b[i].len = MDS_MERKLE_HASH_LEN;
	}
	mf.note.data = (uint8_t *)note;
	mf.note.len = nlen;
	mf.size = m.size;
	mf.root.data = m.root;
	mf.root.len = MDS_MERKLE_HASH_LEN;
	mf.entries = m.entries;
	mf.digest.data = m.digest;
	mf.digest.len = MDS_MERKLE_HASH_LEN;
	mf.compact_range = b;
	mf.n_compact_range = n_range;
	ch.manifest = &mf;
	rc = mds_rpc_reply(c, &ch.base);
	free(note);
	c->stream_last = 1;
	return rc;
}

static int get_snapshot_run(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__SnapshotChunk ch = MDS__V1__SNAPSHOT_CHUNK__INIT;
	struct mds_str ent[MDS_FEED_SNAPSHOT_CHUNK];
	ProtobufCBinaryData b[MDS_FEED_SNAPSHOT_CHUNK];
	struct snap_call *sc;
	size_t n;
	int rc;

	if (c->stream_sent == 0) {
		rc = snapshot_begin(c, st);
		if (rc)
			return rc;
	}
	sc = c->stream_state;
	rc = mds_feed_snapshot_next(sc->sn, ent, MDS_FEED_SNAPSHOT_CHUNK, &n, st);
	if (rc)
		return rc;
	c->stream_sent++;
	if (n == 0)
		return snapshot_manifest(c, sc, st);
	for (size_t i = 0; i < n; i++) {
		b[i].data = (uint8_t *)ent[i].p;
		b[i].len = ent[i].len;
	}
	ch.entries = b;
	ch.n_entries = n;
	return mds_rpc_reply(c, &ch.base);
}

#define FD(m) "/mds.v1.Feed/" m

const struct mds_rpc_method mds_rpc_feed_methods[] = {
	{ FD("GetCheckpoint"), "GetCheckpoint", MDS_RPC_READ,
	  &mds__v1__get_checkpoint_request__descriptor, get_checkpoint_run, NULL, 0 },
	{ FD("GetEntries"), "GetEntries", MDS_RPC_READ,
	  &mds__v1__get_entries_request__descriptor, get_entries_run, NULL, 0 },
	{ FD("GetInclusionProof"), "GetInclusionProof", MDS_RPC_READ,
	  &mds__v1__get_inclusion_proof_request__descriptor, get_inclusion_run, NULL, 0 },
	{ FD("GetConsistencyProof"), "GetConsistencyProof", MDS_RPC_READ,
	  &mds__v1__get_consistency_proof_request__descriptor, get_consistency_run, NULL, 0 },
	{ FD("Subscribe"), "Subscribe", MDS_RPC_STREAM,
	  &mds__v1__subscribe_request__descriptor, subscribe_run, NULL, 0 },
	{ FD("GetSnapshot"), "GetSnapshot", MDS_RPC_STREAM,
	  &mds__v1__get_snapshot_request__descriptor, get_snapshot_run, NULL, 0 },
};
const size_t mds_rpc_feed_count =
	sizeof(mds_rpc_feed_methods) / sizeof(mds_rpc_feed_methods[0]);
