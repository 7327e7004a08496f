/*
 * wanem_proxy.c - links, connections and the data path of the WAN emulator.
 *
 * A link is a listener plus an upstream address. Each accepted connection
 * gets an upstream connection and two directions (c2u: client to upstream,
 * u2c: upstream to client). A direction reads chunks from its source into a
 * FIFO, stamps each with a due time (now + latency +- jitter, raised to the
 * previous chunk's due time so bytes are never reordered) and a pump writes
 * due chunks to the destination, as far as the token bucket allows, one
 * uv_write at a time. A timer wakes the pump when the head becomes due or the
 * bucket has refilled.
 *
 * Back-pressure: reads land in one shared buffer (the loop is single
 * threaded and a read callback copies its bytes out before returning), sized
 * so the direction never holds more than link.buffer bytes (payload plus
 * chunk headers). When less than READ_MIN_ROOM bytes of room are left the
 * source is not read until writes drain the queue; the kernel's socket
 * buffers then fill and the sender's TCP window closes.
 *
 * Impairments, all per link and changeable at run time:
 *  - reset: drawn once per chunk read (either direction); on a hit both
 *    sockets are closed with RST;
 *  - corrupt: drawn once per chunk read; on a hit one random bit of that
 *    chunk is flipped;
 *  - replay: drawn once per chunk read; on a hit the chunk is delivered a
 *    second time right after itself (when the bound leaves room for it);
 *  - replay-old: drawn once per chunk read; on a hit a copy of one of the
 *    last MDS_WANEM_HISTORY chunks read before it on that direction is
 *    delivered after it (bytes the far side has already seen: a replayed
 *    old message). corrupt, replay and replay-old only touch the directions
 *    named by tamper-dir, and spare the first tamper-after bytes of each
 *    direction (a protocol's handshake, so that tampering hits payload);
 *  - partition: pumps stop (queues fill up to the bound, then the senders
 *    stall); new connections are black-holed for their whole life; on heal
 *    the held bytes are delivered, in order, once;
 *  - blackhole: everything read is discarded and nothing is forwarded; new
 *    connections get no upstream, for their whole life;
 *  - refuse: new connections are accepted and reset at once.
 */
#include "wanem.h"
#include "wanem_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_MAX 65536
#define READ_MIN_ROOM 4096
#define CHUNK_HDR ((uint64_t)sizeof(struct mds_wanem_chunk))
#define WRITE_BUFS 16
#define BUFFER_MIN (16 * 1024)
#define BUFFER_MAX (1024ULL * 1024 * 1024)

static char read_buf[READ_MAX];

static void dir_pump(struct mds_wanem_dir *d);
static void conn_close(struct mds_wanem_conn *c, int reset, const char *why);

void mds_wanem_params_default(struct mds_wanem_params *p)
{
	memset(p, 0, sizeof(*p));
	p->buffer = 256 * 1024;
	p->tamper_dir = MDS_WANEM_DIR_BOTH;
}

int mds_wanem_params_apply(struct mds_wanem_params *p, int argc, char **argv,
			   char *err, size_t errlen)
{
	struct mds_wanem_params n = *p;

	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *k = argv[i], *v;
		int r;

		if (!eq) {
			snprintf(err, errlen, "option '%s' has no value: want key=value", argv[i]);
			return -EINVAL;
		}
		*eq = '\0';
		v = eq + 1;
		if (strcmp(k, "latency") == 0)
			r = mds_wanem_parse_duration(v, &n.latency_ns, err, errlen);
		else if (strcmp(k, "jitter") == 0)
			r = mds_wanem_parse_duration(v, &n.jitter_ns, err, errlen);
		else if (strcmp(k, "rate") == 0)
			r = mds_wanem_parse_rate(v, &n.rate_bps, err, errlen);
		else if (strcmp(k, "buffer") == 0) {
			r = mds_wanem_parse_size(v, &n.buffer, err, errlen);
			if (r == 0 && (n.buffer < BUFFER_MIN || n.buffer > BUFFER_MAX)) {
				snprintf(err, errlen, "buffer '%s' out of range: want 16KiB to 1GiB", v);
				r = -EINVAL;
			}
		} else if (strcmp(k, "reset") == 0)
			r = mds_wanem_parse_prob(v, &n.reset, err, errlen);
		else if (strcmp(k, "corrupt") == 0)
			r = mds_wanem_parse_prob(v, &n.corrupt, err, errlen);
		else if (strcmp(k, "replay") == 0)
			r = mds_wanem_parse_prob(v, &n.replay, err, errlen);
		else if (strcmp(k, "replay-old") == 0)
			r = mds_wanem_parse_prob(v, &n.replay_old, err, errlen);
		else if (strcmp(k, "tamper-after") == 0)
			r = mds_wanem_parse_size(v, &n.tamper_after, err, errlen);
		else if (strcmp(k, "tamper-dir") == 0) {
			r = 0;
			if (strcmp(v, "both") == 0)
				n.tamper_dir = MDS_WANEM_DIR_BOTH;
			else if (strcmp(v, "c2u") == 0)
				n.tamper_dir = MDS_WANEM_DIR_C2U;
			else if (strcmp(v, "u2c") == 0)
				n.tamper_dir = MDS_WANEM_DIR_U2C;
			else {
				snprintf(err, errlen, "bad tamper-dir '%s': want both, c2u or u2c", v);
				r = -EINVAL;
			}
		}
		else if (strcmp(k, "blackhole") == 0)
			r = mds_wanem_parse_bool(v, &n.blackhole, err, errlen);
		else if (strcmp(k, "partition") == 0)
			r = mds_wanem_parse_bool(v, &n.partition, err, errlen);
		else if (strcmp(k, "refuse") == 0)
			r = mds_wanem_parse_bool(v, &n.refuse, err, errlen);
		else {
			snprintf(err, errlen, "unknown option '%s': want latency, jitter, rate, buffer, "
				 "reset, corrupt, replay, replay-old, tamper-after, tamper-dir, "
				 "blackhole, partition or refuse", k);
			r = -EINVAL;
		}
		*eq = '=';
		if (r < 0)
			return r;
	}
	*p = n;
	return 0;
}

double mds_wanem_random(struct mds_wanem *w)
{
	/* xorshift64*: fast, good enough for drawing impairments. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return (double)((w->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static uint64_t burst_of(uint64_t rate)
{
	uint64_t b = rate / 100;   /* 10 ms worth of bytes */
	return b < 1500 ? 1500 : b;
}

static struct mds_wanem_dir *dir_of(struct mds_wanem_conn *c, const uv_stream_t *src)
{
	return src == (const uv_stream_t *)&c->down ? &c->c2u : &c->u2c;
}

static int discarding(const struct mds_wanem_conn *c)
{
	return c->blackholed || c->link->p.blackhole;
}

/* ---- lifetime ---------------------------------------------------------- */

static void link_maybe_free(struct mds_wanem_link *l)
{
	if (l->deleted && !l->listener_open && l->nconns == 0) {
		mds_wanem_log("info", "link_freed", "link=%s", l->name);
		free(l);
	}
}

static void free_chunks(struct mds_wanem_dir *d)
{
	while (d->head) {
		struct mds_wanem_chunk *ch = d->head;
		d->head = ch->next;
		free(ch);
	}
	d->tail = NULL;
	d->queued = 0;
	for (unsigned i = 0; i < MDS_WANEM_HISTORY; i++) {
		free(d->history[i]);
		d->history[i] = NULL;
	}
}

static void conn_handle_closed(struct mds_wanem_conn *c)
{
	struct mds_wanem_link *l = c->link;

	if (--c->handles_open)
		return;
	free_chunks(&c->c2u);
	free_chunks(&c->u2c);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	free(c);
	link_maybe_free(l);
}

static void on_tcp_closed(uv_handle_t *h)
{
	conn_handle_closed(h->data);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct mds_wanem_dir *d = h->data;
	conn_handle_closed(d->conn);
}

static void close_tcp(uv_tcp_t *t, int reset)
{
	if (uv_is_closing((uv_handle_t *)t))
		return;
	if (!reset || uv_tcp_close_reset(t, on_tcp_closed) != 0)
		uv_close((uv_handle_t *)t, on_tcp_closed);
}

/* Closes everything of @c; with @reset the peers see RST instead of FIN. */
static void conn_close(struct mds_wanem_conn *c, int reset, const char *why)
{
	if (c->closing)
		return;
	c->closing = 1;
	mds_wanem_log("info", "conn_close", "link=%s conn=%llu why=%s reset=%d c2u_bytes=%llu u2c_bytes=%llu",
		      c->link->name, (unsigned long long)c->id, why, reset,
		      (unsigned long long)c->c2u.delivered, (unsigned long long)c->u2c.delivered);
	close_tcp(&c->down, reset);
	if (c->up_init)
		close_tcp(&c->up, reset);
	uv_close((uv_handle_t *)&c->c2u.timer, on_timer_closed);
	uv_close((uv_handle_t *)&c->u2c.timer, on_timer_closed);
}

/* ---- reading ----------------------------------------------------------- */

static int dir_has_room(const struct mds_wanem_dir *d)
{
	return d->queued + CHUNK_HDR + READ_MIN_ROOM <= d->conn->link->p.buffer;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void dir_read_start(struct mds_wanem_dir *d)
{
	struct mds_wanem_conn *c = d->conn;

	if (d->reading || d->src_eof || c->closing)
		return;
	if (d == &c->u2c && !c->up_connected)
		return;
	if (!discarding(c) && !dir_has_room(d))
		return;
	if (uv_read_start(d->src, on_alloc, on_read) == 0)
		d->reading = 1;
}

static void dir_read_stop(struct mds_wanem_dir *d)
{
	if (!d->reading)
		return;
	uv_read_stop(d->src);
	d->reading = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct mds_wanem_conn *c = h->data;
	struct mds_wanem_dir *d = dir_of(c, (uv_stream_t *)h);
	uint64_t room = READ_MAX;

	(void)suggested;
	if (!discarding(c)) {
		uint64_t limit = c->link->p.buffer;
		room = d->queued + CHUNK_HDR < limit ? limit - d->queued - CHUNK_HDR : 0;
		if (room > READ_MAX)
			room = READ_MAX;
	}
	/* A zero-length buffer makes libuv report UV_ENOBUFS: we stop reading. */
	*buf = uv_buf_init(read_buf, (unsigned)room);
}

static uint64_t due_time(struct mds_wanem_dir *d, uint64_t now, int with_jitter)
{
	const struct mds_wanem_params *p = &d->conn->link->p;
	double delay = (double)p->latency_ns;
	uint64_t due;

	if (with_jitter && p->jitter_ns)
		delay += (mds_wanem_random(d->conn->link->w) * 2 - 1) * (double)p->jitter_ns;
	if (delay < 0)
		delay = 0;
	due = now + (uint64_t)delay;
	if (due < d->last_due)
		due = d->last_due;   /* never overtake earlier bytes */
	d->last_due = due;
	return due;
}

static void dir_append(struct mds_wanem_dir *d, struct mds_wanem_chunk *ch)
{
	if (d->tail)
		d->tail->next = ch;
	else
		d->head = ch;
	d->tail = ch;
	d->queued += CHUNK_HDR + ch->len;
}

/*
 * Whether corrupt/replay/replay-old may touch a chunk of @len bytes read
 * next on @d: its direction is named by tamper-dir and it ends beyond the
 * first tamper-after bytes of the direction.
 */
static int tamper_allowed(const struct mds_wanem_dir *d, size_t len)
{
	const struct mds_wanem_params *p = &d->conn->link->p;
	int bit = d == &d->conn->c2u ? MDS_WANEM_DIR_C2U : MDS_WANEM_DIR_U2C;

	return (p->tamper_dir & bit) && d->nread + len > p->tamper_after;
}

/*
 * Queues a copy of @src (borrowed) after everything queued on @d, with the
 * due time of the newest chunk, when the bound leaves room; counts it in
 * *@counter.
 */
static void replay_chunk(struct mds_wanem_dir *d, const struct mds_wanem_chunk *src,
			 uint64_t *counter)
{
	struct mds_wanem_chunk *dup;

	if (d->queued + CHUNK_HDR + src->len > d->conn->link->p.buffer)
		return;
	dup = malloc(sizeof(*dup) + src->len);
	if (!dup)
		return;
	memcpy(dup->data, src->data, src->len);
	dup->len = src->len;
	dup->off = 0;
	dup->next = NULL;
	dup->due = d->last_due;
	dir_append(d, dup);
	(*counter)++;
}

/* Keeps a copy of @ch (borrowed) in @d's history ring for replay-old. */
static void remember(struct mds_wanem_dir *d, const struct mds_wanem_chunk *ch)
{
	unsigned slot = d->nhistory % MDS_WANEM_HISTORY;
	struct mds_wanem_chunk *copy = malloc(sizeof(*copy) + ch->len);

	if (!copy)
		return;
	memcpy(copy->data, ch->data, ch->len);
	copy->len = ch->len;
	copy->off = 0;
	copy->next = NULL;
	copy->due = 0;
	free(d->history[slot]);
	d->history[slot] = copy;
	d->nhistory++;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct mds_wanem_conn *c = s->data;
	struct mds_wanem_dir *d = dir_of(c, s);
	struct mds_wanem_link *l = c->link;
	struct mds_wanem_chunk *ch;
	int tamper;

	if (nread == 0 || c->closing)
		return;
	if (nread == UV_ENOBUFS) {
		dir_read_stop(d);
		return;
	}
	if (nread == UV_EOF) {
		d->src_eof = 1;
		dir_read_stop(d);
		if (c->blackholed) {
			conn_close(c, 0, "eof_blackholed");
			return;
		}
		due_time(d, uv_hrtime(), 0);
		dir_pump(d);
		return;
	}
	if (nread < 0) {
		mds_wanem_log("info", "conn_error", "link=%s conn=%llu dir=%s op=read error=%s",
			      l->name, (unsigned long long)c->id, d->name, uv_err_name((int)nread));
		conn_close(c, 1, "read_error");
		return;
	}
	if (l->p.reset > 0 && mds_wanem_random(l->w) < l->p.reset) {
		l->st.resets++;
		conn_close(c, 1, "reset_injected");
		return;
	}
	if (discarding(c)) {
		l->st.bytes_discarded += (uint64_t)nread;
		return;
	}
	ch = malloc(sizeof(*ch) + (size_t)nread);
	if (!ch) {
		mds_wanem_log("error", "conn_error", "link=%s conn=%llu error=out_of_memory",
			      l->name, (unsigned long long)c->id);
		conn_close(c, 1, "out_of_memory");
		return;
	}
	memcpy(ch->data, buf->base, (size_t)nread);
	ch->len = (size_t)nread;
	ch->off = 0;
	ch->next = NULL;
	tamper = tamper_allowed(d, (size_t)nread);
	d->nread += (uint64_t)nread;
	if (tamper && l->p.corrupt > 0 && mds_wanem_random(l->w) < l->p.corrupt) {
		size_t at = (size_t)(mds_wanem_random(l->w) * (double)ch->len);
		ch->data[at] ^= (char)(1u << (unsigned)(mds_wanem_random(l->w) * 8));
		l->st.corrupted++;
	}
	ch->due = due_time(d, uv_hrtime(), 1);
	dir_append(d, ch);
	if (tamper && l->p.replay > 0 && mds_wanem_random(l->w) < l->p.replay)
		replay_chunk(d, ch, &l->st.replayed);
	if (tamper && l->p.replay_old > 0 && d->nhistory > 0 &&
	    mds_wanem_random(l->w) < l->p.replay_old) {
		unsigned have = d->nhistory < MDS_WANEM_HISTORY ? d->nhistory : MDS_WANEM_HISTORY;
		unsigned back = 1 + (unsigned)(mds_wanem_random(l->w) * have);
		replay_chunk(d, d->history[(d->nhistory - back) % MDS_WANEM_HISTORY],
			     &l->st.replayed_old);
	}
	if (l->p.replay_old > 0)
		remember(d, ch);
	if (d->queued > l->st.queued_peak)
		l->st.queued_peak = d->queued;
	if (!dir_has_room(d))
		dir_read_stop(d);
	dir_pump(d);
}

/* ---- delivery ---------------------------------------------------------- */

static void on_write(uv_write_t *req, int status);
static void on_shutdown(uv_shutdown_t *req, int status);

static void on_timer(uv_timer_t *t)
{
	dir_pump(t->data);
}

static void dir_pump(struct mds_wanem_dir *d)
{
	struct mds_wanem_conn *c = d->conn;
	const struct mds_wanem_params *p = &c->link->p;
	uv_buf_t bufs[WRITE_BUFS];
	unsigned nb = 0;
	uint64_t now, wait = 0, burst = burst_of(p->rate_bps);
	double total = 0;

	if (c->closing || d->writing || d->shut_sent || p->partition || p->blackhole)
		return;
	if (d == &c->c2u && !c->up_connected)
		return;
	now = uv_hrtime();
	if (p->rate_bps) {
		d->tokens += (double)(now - d->tokens_at) * (double)p->rate_bps / 1e9;
		if (d->tokens > (double)burst)
			d->tokens = (double)burst;
	}
	d->tokens_at = now;

	for (struct mds_wanem_chunk *ch = d->head; ch && nb < WRITE_BUFS; ch = ch->next) {
		size_t avail = ch->len - ch->off;

		if (ch->due > now) {
			if (nb == 0)
				wait = ch->due - now;
			break;
		}
		if (p->rate_bps) {
			double allow = d->tokens - total;
			double need = (double)(avail < burst ? avail : burst);
			if (allow < need) {
				if (nb == 0)
					wait = (uint64_t)((need - allow) * 1e9 / (double)p->rate_bps) + 1;
				break;
			}
			if ((double)avail > allow)
				avail = (size_t)allow;
		}
		bufs[nb++] = uv_buf_init(ch->data + ch->off, (unsigned)avail);
		total += (double)avail;
		if (avail < ch->len - ch->off)
			break;
	}
	if (nb) {
		int r;
		if (p->rate_bps)
			d->tokens -= total;
		d->wbytes = (size_t)total;
		d->writing = 1;
		r = uv_write(&d->wreq, d->dst, bufs, nb, on_write);
		if (r < 0) {
			d->writing = 0;
			conn_close(c, 1, "write_failed");
		}
		return;
	}
	if (!d->head && d->src_eof) {
		if (d->last_due > now) {
			wait = d->last_due - now;
		} else {
			d->shut_sent = 1;
			if (uv_shutdown(&d->sreq, d->dst, on_shutdown) < 0)
				conn_close(c, 1, "shutdown_failed");
			return;
		}
	}
	if (wait)
		uv_timer_start(&d->timer, on_timer, (wait + 999999) / 1000000, 0);
}

static void on_write(uv_write_t *req, int status)
{
	struct mds_wanem_dir *d = req->data;
	struct mds_wanem_conn *c = d->conn;
	struct mds_wanem_link *l = c->link;
	size_t n = d->wbytes;

	d->writing = 0;
	if (status == UV_ECANCELED || c->closing)
		return;
	if (status < 0) {
		mds_wanem_log("info", "conn_error", "link=%s conn=%llu dir=%s op=write error=%s",
			      l->name, (unsigned long long)c->id, d->name, uv_err_name(status));
		conn_close(c, 1, "write_error");
		return;
	}
	while (n) {
		struct mds_wanem_chunk *ch = d->head;
		size_t take = ch->len - ch->off < n ? ch->len - ch->off : n;

		ch->off += take;
		n -= take;
		if (ch->off == ch->len) {
			d->head = ch->next;
			if (!d->head)
				d->tail = NULL;
			d->queued -= CHUNK_HDR + ch->len;
			free(ch);
		}
	}
	d->delivered += d->wbytes;
	if (d == &c->c2u)
		l->st.bytes_c2u += d->wbytes;
	else
		l->st.bytes_u2c += d->wbytes;
	dir_read_start(d);
	dir_pump(d);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct mds_wanem_dir *d = req->data;
	struct mds_wanem_conn *c = d->conn;

	d->done = 1;
	if (status == UV_ECANCELED || c->closing)
		return;
	if (status < 0) {
		conn_close(c, 1, "shutdown_error");
		return;
	}
	if (c->c2u.done && c->u2c.done)
		conn_close(c, 0, "eof");
}

/* ---- accepting --------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
	struct mds_wanem_conn *c = req->data;

	if (status == UV_ECANCELED || c->closing)
		return;
	if (status < 0) {
		c->link->st.conns_failed++;
		mds_wanem_log("warn", "upstream_failed", "link=%s conn=%llu error=%s",
			      c->link->name, (unsigned long long)c->id, uv_err_name(status));
		conn_close(c, 1, "upstream_failed");
		return;
	}
	c->up_connected = 1;
	uv_tcp_nodelay(&c->up, 1);
	dir_read_start(&c->u2c);
	dir_pump(&c->c2u);
}

static void dir_init(struct mds_wanem_conn *c, struct mds_wanem_dir *d, const char *name,
		     uv_stream_t *src, uv_stream_t *dst)
{
	d->conn = c;
	d->name = name;
	d->src = src;
	d->dst = dst;
	d->wreq.data = d;
	d->sreq.data = d;
	d->timer.data = d;
	d->tokens = (double)burst_of(c->link->p.rate_bps);
	d->tokens_at = uv_hrtime();
	uv_timer_init(c->link->w->loop, &d->timer);
	c->handles_open++;
}

static void on_accept(uv_stream_t *server, int status)
{
	struct mds_wanem_link *l = server->data;
	struct mds_wanem_conn *c;
	int r;

	if (status < 0) {
		mds_wanem_log("warn", "accept_failed", "link=%s error=%s", l->name, uv_err_name(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		mds_wanem_log("error", "accept_failed", "link=%s error=out_of_memory", l->name);
		return;
	}
	c->link = l;
	c->id = ++l->w->next_conn_id;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	uv_tcp_init(l->w->loop, &c->down);
	c->down.data = c;
	c->up.data = c;
	c->creq.data = c;
	c->handles_open++;
	dir_init(c, &c->c2u, "c2u", (uv_stream_t *)&c->down, (uv_stream_t *)&c->up);
	dir_init(c, &c->u2c, "u2c", (uv_stream_t *)&c->up, (uv_stream_t *)&c->down);
	r = uv_accept(server, (uv_stream_t *)&c->down);
	if (r < 0) {
		mds_wanem_log("warn", "accept_failed", "link=%s error=%s", l->name, uv_err_name(r));
		conn_close(c, 0, "accept_failed");
		return;
	}
	l->st.conns_accepted++;
	if (l->p.refuse) {
		l->st.conns_refused++;
		conn_close(c, 1, "refused");
		return;
	}
	uv_tcp_nodelay(&c->down, 1);
	if (l->p.partition || l->p.blackhole) {
		c->blackholed = 1;
		l->st.conns_blackholed++;
		mds_wanem_log("info", "conn_open", "link=%s conn=%llu blackholed=1",
			      l->name, (unsigned long long)c->id);
		dir_read_start(&c->c2u);
		return;
	}
	mds_wanem_log("info", "conn_open", "link=%s conn=%llu blackholed=0",
		      l->name, (unsigned long long)c->id);
	uv_tcp_init(l->w->loop, &c->up);
	c->up_init = 1;
	c->handles_open++;
	r = uv_tcp_connect(&c->creq, &c->up, (const struct sockaddr *)&l->upstream, on_connect);
	if (r < 0) {
		l->st.conns_failed++;
		conn_close(c, 1, "upstream_failed");
		return;
	}
	dir_read_start(&c->c2u);
}

/* ---- links ------------------------------------------------------------- */

struct mds_wanem_link *mds_wanem_link_find(struct mds_wanem *w, const char *name)
{
	for (struct mds_wanem_link *l = w->links; l; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	return NULL;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct mds_wanem_link *l = h->data;
	l->listener_open = 0;
	link_maybe_free(l);
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= MDS_WANEM_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

int mds_wanem_link_add(struct mds_wanem *w, const char *name,
		       const struct sockaddr_storage *listen,
		       const struct sockaddr_storage *upstream,
		       const struct mds_wanem_params *p, char *err, size_t errlen)
{
	struct mds_wanem_link *l;
	char addr[64];
	int len = sizeof(l->listen_addr);
	int r;

	if (!name_ok(name)) {
		snprintf(err, errlen, "bad link name '%s': want 1-63 of A-Z a-z 0-9 - _ .", name);
		return -EINVAL;
	}
	if (mds_wanem_link_find(w, name)) {
		snprintf(err, errlen, "link '%s' exists already", name);
		return -EEXIST;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "cannot add link '%s': out of memory", name);
		return -ENOMEM;
	}
	l->w = w;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->upstream = *upstream;
	l->p = *p;
	uv_tcp_init(w->loop, &l->listener);
	l->listener.data = l;
	l->listener_open = 1;
	mds_wanem_format_addr((const struct sockaddr *)listen, addr, sizeof(addr));
	r = uv_tcp_bind(&l->listener, (const struct sockaddr *)listen, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->listener, 128, on_accept);
	if (r == 0)
		r = uv_tcp_getsockname(&l->listener, (struct sockaddr *)&l->listen_addr, &len);
	if (r < 0) {
		snprintf(err, errlen, "cannot listen on '%s' for link '%s': %s", addr, name, uv_strerror(r));
		goto out_close;
	}
	l->next = w->links;
	w->links = l;
	return 0;

out_close:
	l->deleted = 1;
	uv_close((uv_handle_t *)&l->listener, on_listener_closed);
	return r;
}

void mds_wanem_link_set(struct mds_wanem_link *l, const struct mds_wanem_params *p)
{
	l->p = *p;
	for (struct mds_wanem_conn *c = l->conns; c; c = c->next) {
		struct mds_wanem_dir *dirs[2] = { &c->c2u, &c->u2c };
		if (c->closing)
			continue;
		for (int i = 0; i < 2; i++) {
			/* Re-plan from scratch: rate, partition or buffer may have changed. */
			uv_timer_stop(&dirs[i]->timer);
			dir_read_start(dirs[i]);
			dir_pump(dirs[i]);
		}
	}
}

void mds_wanem_link_del(struct mds_wanem_link *l)
{
	struct mds_wanem_link **pp = &l->w->links;

	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
	l->deleted = 1;
	for (struct mds_wanem_conn *c = l->conns; c; c = c->next)
		conn_close(c, 1, "link_deleted");
	if (!uv_is_closing((uv_handle_t *)&l->listener))
		uv_close((uv_handle_t *)&l->listener, on_listener_closed);
}
