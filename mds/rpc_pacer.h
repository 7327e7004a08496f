/*
 * rpc_pacer.h - refusal pacing: calls refused by a rate limit are answered
 * after a pause instead of at once.
 *
 * Why: a client that ignores retry-after-ms and resends at once turns each
 * refusal into the next request; with one call in flight it can make
 * thousands of refused calls per second, and each costs the server a full
 * gRPC round (HTTP/2 frames, a completion, a status batch) and the machine
 * the client's own CPU. Holding the refusal until the client could have had
 * a token anyway bounds such a client to (calls in flight) / (pause)
 * attempts per second, without a worker thread waiting: the held calls sit
 * in this queue and one timer thread sends their answers.
 *
 * A pacer is a min-heap of (release time, item) with one thread; release()
 * is called for each item at or after its time, on that thread, with no
 * lock held, exactly once. Items are opaque to the pacer.
 *
 * What must stay true: every item handed to mds_pacer_hold() with a 0
 * return is released exactly once, before mds_pacer_stop() returns; after
 * mds_pacer_flush() every held item is released promptly and new holds are
 * refused (the caller answers at once), so a stopping server never waits
 * for a pause.
 */
#ifndef MDS_RPC_PACER_H
#define MDS_RPC_PACER_H

#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"

struct mds_pacer;

/* Called on the pacer's thread for each item whose time has come. */
typedef void (*mds_pacer_release_fn)(void *item, void *arg);

/*
 * mds_pacer_start - a pacer holding at most @max_held items, calling
 * @release(item, @arg) (@arg borrowed for the pacer's life). *@out owned:
 * mds_pacer_stop(). Returns 0, MDS_EINVAL (@max_held 0 or @release NULL),
 * MDS_ENOMEM (or no thread could be started).
 */
int mds_pacer_start(struct mds_pacer **out, size_t max_held, mds_pacer_release_fn release,
		    void *arg);

/*
 * mds_pacer_hold - release @item (transferred to the pacer until released)
 * at CLOCK_MONOTONIC time @release_at_ns. Returns 0 (held), MDS_EBUSY
 * (max_held items are already held, or the pacer is flushing): the item
 * stays the caller's, who answers it at once. @p NULL: MDS_EBUSY.
 */
int mds_pacer_hold(struct mds_pacer *p, void *item, uint64_t release_at_ns);

/* mds_pacer_flush - release everything held now; refuse later holds. */
void mds_pacer_flush(struct mds_pacer *p);

/* mds_pacer_held - how many items are held now (metrics, tests). */
size_t mds_pacer_held(struct mds_pacer *p);

/* mds_pacer_stop - flush, join the thread, free. NULL is a no-op. */
void mds_pacer_stop(struct mds_pacer *p);

/* mds_pacer_now_ns - CLOCK_MONOTONIC in ns (the pacer's clock). */
uint64_t mds_pacer_now_ns(void);

#endif /* MDS_RPC_PACER_H */
