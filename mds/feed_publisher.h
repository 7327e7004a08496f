/*
 * feed_publisher.h - the checkpointer: signs the head of the island's feed
 * (feed_log.h) as a C2SP tlog-checkpoint at a bounded cadence, re-signs an
 * idle head as a heartbeat, and keeps the newest signed note for readers.
 *
 * What must stay true
 *   - a checkpoint is signed only if the tree it names is consistent with
 *     the last one signed (mds_checkpoint_sign): never two roots for one
 *     size, never a shrinking size, across restarts too;
 *   - the last signed note is durable (DATA/feed/checkpoint, written with
 *     fsync and rename) before it is published;
 *   - during a key rotation's overlap window every note carries both
 *     signatures (feed_keys.h).
 * Every note carries one extension line "timestamp <unix ms>", the wall
 * clock at signing, so a subscriber can tell a fresh heartbeat from an
 * old note of the same size.
 */
#ifndef MDS_FEED_PUBLISHER_H
#define MDS_FEED_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mds/store.h"
#include "feed/note.h"

struct mds_feed_publisher;

struct mds_feed_publisher_opts {
	const char *data_dir;    /* borrowed: keys (feed_keys.h) and DATA/feed/checkpoint */
	const char *origin;      /* borrowed: the checkpoint origin (the feed log's origin) */
	unsigned cadence_ms;     /* at most one new checkpoint per this; 0 = 100 */
	unsigned heartbeat_ms;   /* re-sign an unchanged head after this; 0 = 10000 */
	int manual;              /* no thread: the caller drives mds_feed_publisher_tick */
	/* Called on the signing thread when a round fails (a refused fork, a
	 * key that no longer loads); @msg is borrowed for the call. May be NULL. */
	void (*report)(int code, const char *msg);
};

/*
 * mds_feed_publisher_start - load the keys and the last signed checkpoint,
 * and (unless @o->manual) start the signing thread. @s is borrowed and
 * must outlive the publisher; @o's strings are copied. *@out is owned by
 * the caller (mds_feed_publisher_stop). Returns 0, MDS_ENOTFOUND (no key:
 * `mds keys init`), MDS_EINVAL (bad origin or a corrupt checkpoint file),
 * MDS_ENOMEM, or key loading errors.
 */
int mds_feed_publisher_start(struct mds_store *s, const struct mds_feed_publisher_opts *o,
			     struct mds_feed_publisher **out, struct mds_status *st);

/*
 * mds_feed_publisher_tick - one round of the signing loop: if the log grew
 * (and the cadence allows) or the heartbeat is due, sign its head.
 * Returns 1 if a note was signed, 0 if nothing was due, or an error:
 * MDS_EDENIED if the head is not consistent with the last signed
 * checkpoint (the store lost or changed history; nothing is signed).
 */
int mds_feed_publisher_tick(struct mds_feed_publisher *p, struct mds_status *st);

/*
 * mds_feed_publisher_latest - a copy of the newest signed note: *@note
 * (NUL-terminated, owned by the caller, free()) and *@len; *@cp (may be
 * NULL) its parsed checkpoint. Thread-safe. Returns 0, MDS_ENOTFOUND
 * (nothing signed yet) or MDS_ENOMEM.
 */
int mds_feed_publisher_latest(struct mds_feed_publisher *p, char **note, size_t *len,
			      struct mds_checkpoint *cp);

/* mds_feed_publisher_latest_gen - mds_feed_publisher_latest(), and *@gen
 * (may be NULL) the number of notes signed up to that one: it changes
 * with every signature, heartbeats included. */
int mds_feed_publisher_latest_gen(struct mds_feed_publisher *p, char **note, size_t *len,
				  struct mds_checkpoint *cp, uint64_t *gen);

/* mds_feed_publisher_generation - notes signed so far (see _latest_gen). */
uint64_t mds_feed_publisher_generation(struct mds_feed_publisher *p);

/*
 * mds_feed_publisher_set_notify - call @fn(@arg) on the signing thread
 * after every note is published (follow streams wake on it); NULL
 * removes it. When this returns, no call of the previous @fn is running.
 * @fn must not call back into the publisher's notify functions.
 */
void mds_feed_publisher_set_notify(struct mds_feed_publisher *p, void (*fn)(void *arg),
				   void *arg);

/*
 * mds_feed_publisher_sign_text - sign @text (borrowed, @len bytes, the
 * note text rules of mds_note_sign) with the feed's current keys (both
 * during a rotation's overlap). *@note (NUL-terminated, owned by the
 * caller, free()) and *@note_len. Thread-safe. Returns 0, MDS_ENOTFOUND
 * (no key), or mds_note_sign()'s errors.
 */
int mds_feed_publisher_sign_text(struct mds_feed_publisher *p, const char *text, size_t len,
				 char **note, size_t *note_len, struct mds_status *st);

/* mds_feed_publisher_origin - the checkpoint origin (borrowed from @p). */
const char *mds_feed_publisher_origin(const struct mds_feed_publisher *p);

/* mds_feed_publisher_metrics - Prometheus lines (log size, newest
 * checkpoint's size and time, notes signed, failed rounds) to @f. */
void mds_feed_publisher_metrics(struct mds_feed_publisher *p, FILE *f);

/* mds_feed_publisher_stats - notes signed since start, failed rounds. */
void mds_feed_publisher_stats(struct mds_feed_publisher *p, uint64_t *signed_out,
			      uint64_t *failed_out);

/* mds_feed_publisher_stop - join the thread and free @p (owned; may be NULL). */
void mds_feed_publisher_stop(struct mds_feed_publisher *p);

#endif /* MDS_FEED_PUBLISHER_H */
