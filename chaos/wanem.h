/*
 * wanem.h - the WAN emulator's internal model, shared by its three files:
 * wanem_proxy.c (links, connections, the data path), wanem_ctl.c (the
 * control socket and its command language) and wanem.c (start-up, signals,
 * shutdown, logging).
 *
 * Ownership. One struct mds_wanem owns every link; a link owns its listener
 * and its connections; a connection owns its two TCP handles, its two
 * delivery timers and the chunks queued in each direction. Everything runs on
 * the one uv loop, so nothing is locked. Memory is freed only in close
 * callbacks, after libuv has cancelled every request on the handle (libuv
 * calls write/shutdown/connect callbacks with UV_ECANCELED before the close
 * callback), so a callback never sees freed memory.
 *
 * What must stay true:
 *  - bytes of one direction are delivered in the order they were read, each
 *    exactly once (or not at all when the connection dies or a black hole
 *    swallows them): due times are monotonic per direction;
 *  - dir.queued (payload plus chunk headers) never exceeds link.buffer:
 *    reading from the source stops before it would, which is how the sender
 *    feels back-pressure;
 *  - at most one write and one shutdown are in flight per direction;
 *  - a direction's history (replay-old) holds at most MDS_WANEM_HISTORY
 *    chunk copies, kept only while replay-old > 0, freed with the connection.
 */
#ifndef MDS_WANEM_H
#define MDS_WANEM_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#define MDS_WANEM_NAME_MAX 64

/* Directions an impairment applies to (tamper-dir). */
#define MDS_WANEM_DIR_C2U 1    /* client to upstream */
#define MDS_WANEM_DIR_U2C 2    /* upstream to client */
#define MDS_WANEM_DIR_BOTH 3

/* Chunks a direction remembers for replay-old (copies, at most 64 KiB each). */
#define MDS_WANEM_HISTORY 4

/* Impairments of a link; changed atomically by `link set`. */
struct mds_wanem_params {
	uint64_t latency_ns;   /* one-way delay added to each direction */
	uint64_t jitter_ns;    /* uniform +-jitter on top, never reordering */
	uint64_t rate_bps;     /* bytes per second per direction; 0 = no cap */
	uint64_t buffer;       /* bound on dir.queued, bytes */
	double reset;          /* probability, per chunk read, of resetting the connection */
	double corrupt;        /* probability, per chunk read, of flipping one bit */
	double replay;         /* probability, per chunk read, of delivering it twice */
	double replay_old;     /* probability, per chunk read, of re-delivering an older chunk */
	uint64_t tamper_after; /* corrupt/replay spare the first N bytes of each direction */
	int tamper_dir;        /* MDS_WANEM_DIR_*: directions corrupt/replay apply to */
	int blackhole;         /* read and discard everything, forward nothing */
	int partition;         /* stall forwarding; new connections black-holed */
	int refuse;            /* reset new connections at once */
};

struct mds_wanem_stats {
	uint64_t conns_accepted, conns_refused, conns_blackholed, conns_failed;
	uint64_t resets, corrupted, replayed, replayed_old;
	uint64_t bytes_c2u, bytes_u2c;  /* delivered to the far side */
	uint64_t bytes_discarded;       /* swallowed by a black hole */
	uint64_t queued_peak;           /* highest dir.queued seen on this link */
};

struct mds_wanem_chunk {
	struct mds_wanem_chunk *next;
	uint64_t due;          /* uv_hrtime() at which it may be delivered */
	size_t len, off;       /* off = bytes already written */
	char data[];
};

struct mds_wanem_conn;

/* One direction of a connection: reads from src, delivers to dst. */
struct mds_wanem_dir {
	struct mds_wanem_conn *conn;
	uv_stream_t *src, *dst;
	struct mds_wanem_chunk *head, *tail;
	uint64_t queued;       /* bytes held: payload + chunk headers */
	uint64_t last_due;     /* due time of the newest chunk (monotonic) */
	uint64_t delivered;
	uint64_t nread;        /* bytes read from src (tamper-after counts these) */
	struct mds_wanem_chunk *history[MDS_WANEM_HISTORY]; /* older chunks, for replay-old */
	unsigned nhistory;     /* chunks ever remembered (ring index = n % HISTORY) */
	double tokens;         /* token bucket, bytes */
	uint64_t tokens_at;    /* uv_hrtime() of the last refill */
	uv_timer_t timer;      /* wakes the pump when the head becomes due */
	uv_write_t wreq;
	size_t wbytes;         /* bytes in the write in flight */
	uv_shutdown_t sreq;
	unsigned reading : 1, writing : 1, src_eof : 1, shut_sent : 1, done : 1;
	const char *name;      /* "c2u" or "u2c" */
};

struct mds_wanem_link;

struct mds_wanem_conn {
	struct mds_wanem_link *link;
	struct mds_wanem_conn *prev, *next;
	uint64_t id;
	uv_tcp_t down;         /* the accepted client */
	uv_tcp_t up;           /* towards the upstream */
	uv_connect_t creq;
	struct mds_wanem_dir c2u, u2c;
	unsigned handles_open;
	unsigned up_init : 1, up_connected : 1, closing : 1, blackholed : 1;
};

struct mds_wanem;

struct mds_wanem_link {
	struct mds_wanem *w;
	struct mds_wanem_link *next;
	char name[MDS_WANEM_NAME_MAX];
	struct sockaddr_storage listen_addr;   /* as bound (port filled in) */
	struct sockaddr_storage upstream;
	struct mds_wanem_params p;
	struct mds_wanem_stats st;
	uv_tcp_t listener;
	struct mds_wanem_conn *conns;
	uint64_t nconns;
	unsigned listener_open : 1, deleted : 1;
};

struct mds_wanem {
	uv_loop_t *loop;
	struct mds_wanem_link *links;
	uint64_t next_conn_id;
	uint64_t rng;          /* xorshift64* state, never 0 */
	int stopping;
};

/* Defaults for a new link: no impairment, 256 KiB per direction. */
void mds_wanem_params_default(struct mds_wanem_params *p);

/*
 * mds_wanem_params_apply - parse "key=value" words @argv[0..argc) (borrowed)
 * onto a copy of @p and store it in @p only when every word parsed, so a
 * bad word changes nothing. The words are modified during the call and
 * restored before it returns. Returns 0 or -EINVAL with a message in @err.
 */
int mds_wanem_params_apply(struct mds_wanem_params *p, int argc, char **argv,
			   char *err, size_t errlen);

/* mds_wanem_link_find - the link named @name (borrowed) or NULL. */
struct mds_wanem_link *mds_wanem_link_find(struct mds_wanem *w, const char *name);

/*
 * mds_wanem_link_add - create link @name listening on @listen towards
 * @upstream (all borrowed) with impairments @p (copied). Binds at once;
 * port 0 picks a free port (see link->listen_addr). Returns 0 or a negative
 * errno with a message in @err; on failure nothing is left behind.
 */
int mds_wanem_link_add(struct mds_wanem *w, const char *name,
		       const struct sockaddr_storage *listen,
		       const struct sockaddr_storage *upstream,
		       const struct mds_wanem_params *p, char *err, size_t errlen);

/*
 * mds_wanem_link_set - replace the impairments of @l with @p (copied).
 * Existing connections keep running; a healed partition resumes delivery.
 */
void mds_wanem_link_set(struct mds_wanem_link *l, const struct mds_wanem_params *p);

/*
 * mds_wanem_link_del - close @l's listener and reset its connections. The
 * link is unlinked at once and freed once its last handle has closed.
 */
void mds_wanem_link_del(struct mds_wanem_link *l);

/* mds_wanem_random - uniform double in [0, 1) from the emulator's generator. */
double mds_wanem_random(struct mds_wanem *w);

/*
 * mds_wanem_log - one structured line on stderr: "ts=... level=... event=..."
 * followed by the caller's key=value pairs in @fmt.
 */
void mds_wanem_log(const char *level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * mds_wanem_ctl_start - listen for control connections on the Unix socket
 * @path (borrowed; an old socket file there is replaced). Returns 0 or a
 * negative errno.
 */
int mds_wanem_ctl_start(struct mds_wanem *w, const char *path);

/* mds_wanem_ctl_stop - close the control listener and its clients, unlink the socket. */
void mds_wanem_ctl_stop(void);

/*
 * mds_wanem_ctl_exec - run one command line @line (borrowed, modified in
 * place) and return the answer as a malloc'ed one-line JSON string without
 * the newline (transferred to the caller), or NULL when out of memory.
 * Sets *@ok to 1 when the command succeeded.
 */
char *mds_wanem_ctl_exec(struct mds_wanem *w, char *line, int *ok);

#endif
