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
#include <stdlib.h>
#include <string.h>

#include "feed.pb-c.h"
#include "feed_log.h"
#include "feed_publisher.h"
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

/* Reads leaves [start, end) into @e / @ep (caller's arrays of n). */
static int read_entries(struct mds_rpc_call *c, uint64_t start, uint64_t end,
			Mds__V1__FeedEntry *e, Mds__V1__FeedEntry **ep, struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(c->reader);

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
 * Subscribe. The call's stream cursor holds (next seq, target size) as two
 * 8-byte native integers once the first event is sent.
 */
static int subscribe_first(struct mds_rpc_call *c, const Mds__V1__SubscribeRequest *r,
			   struct mds_status *st)
{
	Mds__V1__SubscribeEvent ev = MDS__V1__SUBSCRIBE_EVENT__INIT;
	Mds__V1__FeedCheckpoint ck = MDS__V1__FEED_CHECKPOINT__INIT;
	uint8_t proof[MDS_MERKLE_PROOF_MAX][MDS_MERKLE_HASH_LEN], root[MDS_MERKLE_HASH_LEN];
	ProtobufCBinaryData b[MDS_MERKLE_PROOF_MAX];
	struct mds_merkle_store ms;
	struct mds_checkpoint cp;
	uint64_t have, cur[2];
	char *note = NULL;
	size_t n = 0, len;
	int rc = checkpoint_latest(c, &note, &len, &cp, st);

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
		rc = mds_merkle_consistency_proof(&ms, r->have_size, cp.size, proof, &n);
	if (rc) {
		mds_status_set(st, rc, "cannot prove consistency: %s", mds_strerror(rc));
		goto out;
	}
	proof_bytes(proof, n, b);
	fill_checkpoint(&ck, note, len, &cp);
	ev.checkpoint = &ck;
	ev.consistency = b;
	ev.n_consistency = n;
	ev.heartbeat = r->have_size == cp.size;
	rc = mds_rpc_reply(c, &ev.base);
	if (rc)
		goto out;
	cur[0] = r->have_size;
	cur[1] = cp.size;
	memcpy(c->stream_cursor, cur, sizeof(cur));
	c->stream_cursor_len = sizeof(cur);
	c->stream_last = cur[0] == cur[1];
	c->stream_sent = 1;
out:
	free(note);
	return rc;
}

static int subscribe_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__SubscribeRequest *r = (const void *)c->req;
	Mds__V1__SubscribeEvent ev = MDS__V1__SUBSCRIBE_EVENT__INIT;
	Mds__V1__FeedEntry *e = NULL, **ep = NULL;
	uint64_t cur[2], end, have;
	int rc;

	if (c->stream_sent == 0)
		return subscribe_first(c, r, st);
	memcpy(cur, c->stream_cursor, sizeof(cur));
	rc = snapshot_size(c, cur[1], &have, st);
	if (rc)
		return rc;
	end = cur[1] - cur[0] > ENTRIES_MAX ? cur[0] + ENTRIES_MAX : cur[1];
	e = calloc(ENTRIES_MAX, sizeof(*e));
	ep = calloc(ENTRIES_MAX, sizeof(*ep));
	if (!e || !ep) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = read_entries(c, cur[0], end, e, ep, st);
	if (rc)
		goto out;
	ev.entries = ep;
	ev.n_entries = (size_t)(end - cur[0]);
	rc = mds_rpc_reply(c, &ev.base);
	if (rc)
		goto out;
	cur[0] = end;
	memcpy(c->stream_cursor, cur, sizeof(cur));
	c->stream_last = end == cur[1];
	c->stream_sent++;
out:
	free(e);
	free(ep);
	return rc;
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
};
const size_t mds_rpc_feed_count =
	sizeof(mds_rpc_feed_methods) / sizeof(mds_rpc_feed_methods[0]);
