/*
 * store.h - the island's store: one LMDB environment, one writer thread
 * with group commit, and per-thread readers.
 *
 * Ownership and threads
 *   A struct mds_store is opened once per process and shared by every
 *   thread. Mutations (struct mds_op, see namespace.h) are submitted from any
 *   thread; exactly one writer thread owned by the store applies them in
 *   batches, one LMDB write transaction and one fsync per batch, and then
 *   completes each op with its own result. An op's completion is reported
 *   only after the transaction holding it is durable. A failing op (a
 *   precondition, say) is rolled back alone: each op runs in a nested
 *   transaction inside the batch, so its neighbours are not affected.
 *
 *   Reads go through a struct mds_reader, which belongs to one thread at a
 *   time and holds one LMDB read transaction that is renewed per request.
 *   Readers never wait for the writer.
 *
 * Memory returned by read functions points into the reader's snapshot and is
 * valid until mds_reader_end() (or the next mds_reader_begin()).
 */
#ifndef MDS_STORE_H
#define MDS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mds_store;
struct mds_reader;
struct mds_op;

/* Wall clock in nanoseconds since the Unix epoch; injectable for tests. */
typedef uint64_t (*mds_clock_fn)(void *arg);

struct mds_store_opts {
	uint64_t map_size;         /* bytes of LMDB map; 0 = 64 GiB (sparse) */
	unsigned max_readers;      /* LMDB reader slots; 0 = 1024 */
	unsigned max_batch;        /* ops per write transaction; 0 = 1024, 1 = no grouping */
	unsigned batch_window_us;  /* wait this long for more ops when a batch is small; 0 = none */
	unsigned queue_max;        /* ops waiting before submit says MDS_EBUSY; 0 = 1,000,000 */
	unsigned reaper_interval_ms; /* stale reader check period; 0 = 10,000 */
	int read_only;             /* no writer thread; submit answers MDS_EINVAL */
	mds_clock_fn clock;        /* NULL = CLOCK_REALTIME */
	void *clock_arg;
	/* Retention's trusted time (docs/security.md): monotonic ns, any epoch. */
	mds_clock_fn mono_clock;   /* NULL = CLOCK_MONOTONIC */
	void *mono_clock_arg;
	uint64_t clock_tolerance_ns; /* wall ahead of trusted time by more = suspect; 0 = 5 min */
};

/* Counters a server exports as metrics; read with mds_store_stats(). */
struct mds_store_stats {
	uint64_t batches;          /* committed write transactions */
	uint64_t ops;              /* ops completed by the writer (any result) */
	uint64_t ops_failed;       /* ops completed with an error */
	uint64_t commit_ns_total;  /* time spent in mdb_txn_commit (fsync included) */
	uint64_t commit_ns_max;
	uint64_t batch_max;        /* largest batch so far */
	uint64_t queue_len;        /* ops waiting now */
	uint64_t map_size;         /* bytes */
	uint64_t map_used;         /* bytes (last page number * page size) */
	uint32_t readers_used;
	uint32_t readers_max;
	uint64_t stale_readers_reaped;
};

/*
 * mds_store_open - open (creating if needed) the store in directory @dir.
 * @out: receives the store (owned by the caller; free with mds_store_close)
 * @dir: existing or creatable directory; data.mdb and lock.mdb live there
 * @opts: may be NULL for defaults
 * @st: filled on failure (may be NULL)
 * Returns 0, MDS_EINVAL (bad options), MDS_EVERSION (unknown store format),
 * MDS_EBUSY (this process has the store open already: LMDB allows one open
 * per process, so share the struct mds_store), MDS_EIO / -errno (cannot
 * open), MDS_ENOMEM. Stale reader slots left by dead processes are reaped
 * here and then periodically by the writer. A read-only store follows the
 * writer process growing the map (MDB_MAP_RESIZED is handled in
 * mds_reader_begin).
 */
int mds_store_open(struct mds_store **out, const char *dir,
		   const struct mds_store_opts *opts, struct mds_status *st);

/*
 * mds_store_close - stop taking ops, let the writer finish every op already
 * queued (each is completed, durable or with an error), join it and close
 * the environment. Every reader must be closed first. NULL is a no-op.
 */
void mds_store_close(struct mds_store *s);

/*
 * mds_store_shutdown - refuse new ops from now on (submit answers
 * MDS_ESHUTDOWN) without waiting; ops already queued still complete.
 * Thread-safe; used by a server on SIGTERM before draining.
 */
void mds_store_shutdown(struct mds_store *s);

/*
 * mds_store_submit - queue @op for the writer thread. Thread-safe.
 * On 0, op->done(op) will be called exactly once, on the writer thread,
 * after the op's transaction is durable (or with op->status set to the
 * error); the op and everything it points to must stay valid until then.
 * On error (MDS_ESHUTDOWN, MDS_EBUSY, MDS_EINVAL for a read-only store)
 * done is never called and op->status holds the error.
 */
int mds_store_submit(struct mds_store *s, struct mds_op *op);

/*
 * mds_store_exec - submit @op and wait for its completion. Returns
 * op->status.code. op->done must be NULL (the store installs its own).
 */
int mds_store_exec(struct mds_store *s, struct mds_op *op);

/* mds_store_now_ns - the store's clock (injectable through the options). */
uint64_t mds_store_now_ns(const struct mds_store *s);

/* mds_store_stats - copy the current counters. Thread-safe. */
void mds_store_stats(struct mds_store *s, struct mds_store_stats *out);

/*
 * mds_store_reap_readers - free reader slots held by dead processes now;
 * returns how many were freed or a negative code.
 */
int mds_store_reap_readers(struct mds_store *s);

/*
 * Readers. A reader belongs to one thread at a time.
 * mds_reader_open: allocate a reader (no snapshot yet). MDS_EBUSY when all
 *   LMDB reader slots are taken.
 * mds_reader_begin: take a fresh snapshot (renews the read transaction).
 * mds_reader_end: release the snapshot; memory from reads becomes invalid.
 * mds_reader_close: free the reader (ends it first if needed).
 */
int mds_reader_open(struct mds_store *s, struct mds_reader **out);
int mds_reader_begin(struct mds_reader *r);
void mds_reader_end(struct mds_reader *r);
void mds_reader_close(struct mds_reader *r);

/*
 * Failure injection for tests: make the @n-th LMDB call from now (1 = the
 * next one) fail with @err (an LMDB or errno code, e.g. MDB_MAP_FULL or
 * EIO). Process-wide; n = 0 disarms. Returns the calls made since arming.
 */
void mds_store_fault_arm(unsigned long n, int err);
unsigned long mds_store_fault_calls(void);

#ifdef __cplusplus
}
#endif

#endif /* MDS_STORE_H */
