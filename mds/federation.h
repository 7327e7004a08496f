/*
 * federation.h - the subscriber: one thread and one long-lived
 * Feed.Subscribe(follow) stream per configured peer island, verifying every
 * checkpoint and its entries (mds_feed_verify_update) before applying them
 * to the global view (global_view.h) as ONE writer op with the new cursor.
 *
 * Lifecycle: mds_federation_start() after the store is open (it reads each
 * peer's cursor and starts the threads); mds_federation_stop() before the
 * store closes (it cancels the streams and joins). Status and metrics are
 * thread-safe snapshots. Nothing here is in any local write path: a peer
 * that is slow, down or lying only changes that peer's part of the view.
 *
 * States (global.proto PeerState, docs/federation.md "States"):
 *   LIVE          applied the newest verified checkpoint, fresh
 *   CATCHING_UP   a verified checkpoint beyond the applied size exists, or
 *                 nothing verified yet since start (within the stale bound)
 *   STALE         no checkpoint verified within stale_ms
 *   FORKED        two roots for one size, a signed rollback, or a
 *                 consistency proof that failed tamper_limit times in a row:
 *                 the view is frozen (stored) until mds_federation_reset()
 *   BOOTSTRAPPING replacing the view from a snapshot after compaction
 */
#ifndef MDS_FEDERATION_H
#define MDS_FEDERATION_H

#include <stdint.h>
#include <stdio.h>

#include "mds/error.h"
#include "mds/store.h"

#define MDS_FED_KEYS_MAX 8

/* enum values equal global.proto's PeerState */
enum mds_peer_state {
	MDS_PEER_LIVE = 1,
	MDS_PEER_CATCHING_UP = 2,
	MDS_PEER_STALE = 3,
	MDS_PEER_FORKED = 4,
	MDS_PEER_BOOTSTRAPPING = 5,
	MDS_PEER_LOCAL = 6,
};

/* One peer (all borrowed during mds_federation_start; copied). */
struct mds_fed_peer_opts {
	const char *origin;          /* the peer's feed origin (its key name) */
	const char *address;         /* HOST:PORT of its gRPC service */
	const char *const *keys;     /* C2SP verifier keys ("name+id+base64") */
	size_t n_keys;               /* 1..MDS_FED_KEYS_MAX */
	const char *tls_ca;          /* PEM roots; with tls_cert/tls_key: mTLS */
	const char *tls_cert;
	const char *tls_key;
	const char *token_file;      /* bearer token for the peer's auth; re-read per
				      * connection (rotation); NULL = none */
	int insecure;                /* plaintext (loopback, tests) */
};

struct mds_federation_opts {
	const struct mds_fed_peer_opts *peers;
	size_t n_peers;
	unsigned stale_ms;           /* no verified checkpoint for this long: STALE; 0 = 30,000 */
	unsigned idle_ms;            /* no message on a stream for this long: reconnect; 0 = 30,000 */
	unsigned stream_ms;          /* deadline of one follow stream; 0 = 600,000 */
	unsigned poll_ms;            /* pause between rounds of a publisher without follow; 0 = 500 */
	unsigned backoff_min_ms;     /* first reconnect delay; 0 = 100 */
	unsigned backoff_max_ms;     /* largest reconnect delay; 0 = 10,000 */
	unsigned tamper_limit;       /* consecutive bad batches before an alarm; 0 = 3 */
	unsigned batch_max;          /* 0: all entries of a checkpoint in one op (the
				      * default); N: apply a larger checkpoint in slices of
				      * N leaves, each proven a prefix of the signed
				      * checkpoint by a consistency proof (bounded memory) */
};

struct mds_federation;

/*
 * mds_federation_start - validate the peers (origin, keys, address) and
 * start one thread per peer. @store is borrowed and must outlive
 * mds_federation_stop(). *@out is owned (mds_federation_stop frees it).
 * Zero peers is valid (status lists none). Returns 0, MDS_EINVAL (a bad
 * peer: the message names it), MDS_ENOMEM.
 */
int mds_federation_start(struct mds_store *store, const struct mds_federation_opts *o,
			 struct mds_federation **out, struct mds_status *st);

/* mds_federation_stop - cancel every stream, join, free. NULL is a no-op. */
void mds_federation_stop(struct mds_federation *f);

/* A peer's state now (a copy). */
struct mds_peer_status {
	char origin[256];
	char address[256];
	int state;                   /* enum mds_peer_state */
	uint64_t applied_size;
	uint8_t applied_root[32];
	uint64_t applied_checkpoint_ms; /* signing time of the applied checkpoint */
	uint64_t source_size;        /* newest verified checkpoint's size */
	uint64_t lag_leaves;
	uint64_t lag_ms;             /* now - applied_checkpoint_ms (0 before any) */
	uint64_t last_checkpoint_ms; /* signing time of the newest verified checkpoint */
	uint64_t last_contact_ms;    /* unix ms of the last message from the peer */
	char last_error[256];
	uint64_t tamper_alarms;
	uint64_t fork_alarms;
	uint64_t reconnects;
	uint64_t leaves_applied;     /* since start */
	uint64_t batches_applied;
	uint64_t bootstraps;
};

/* mds_federation_count - configured peers (0 for NULL). */
size_t mds_federation_count(const struct mds_federation *f);

/* mds_federation_status - peer @i (< count) into @out. */
void mds_federation_status(struct mds_federation *f, size_t i, struct mds_peer_status *out);

/*
 * mds_federation_reset - the admin's word after a fork: drop @origin's
 * view, cursor and frozen flag (the evidence stays) and resubscribe from 0.
 * Returns 0, MDS_ENOTFOUND (not a configured peer) or the op's error.
 */
int mds_federation_reset(struct mds_federation *f, const char *origin, struct mds_status *st);

/* mds_federation_metrics - Prometheus lines for every peer into @out. */
void mds_federation_metrics(struct mds_federation *f, FILE *out);

#endif /* MDS_FEDERATION_H */
