/*
 * server.c - the gRPC runtime of mds: workers, completion queues, calls,
 * batches, metrics and graceful shutdown.
 *
 * Threads and ownership
 *   Each worker owns one completion queue and one mds_reader. Every call
 *   (struct call) is posted on a worker's queue and all of its events land
 *   there, so a call's state needs no lock. A WRITE call is handed to the
 *   store's writer; once its op is durable, the writer's done callback
 *   puts the call on its worker's answer list and, if the list was empty,
 *   wakes the worker with an empty batch on that call (TAG_ANSWER); the
 *   worker builds and sends every listed answer itself. So one wake-up
 *   serves a whole batch, and gRPC's sends for a connection happen on the
 *   thread that polls it (a separate responder thread, used before, made
 *   gRPC's transport lock contended and cost more CPU per put).
 *
 *   w->live counts calls that exist on a worker (posted slots included). A
 *   worker shuts its queue down only once stopping is set and live is 0:
 *   shutting a queue down while a call could still start a batch on it
 *   aborts the process.
 *
 * Requests are untrusted: a missing or malformed message, a string with a
 * NUL byte, a deadline already passed — each is answered with a status and
 * the server goes on.
 */
#include "server.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "log.h"
#include "rpc.h"
#include "federation.h"
#include "rpc_gate.h"
#include "rpc_pacer.h"
#include "rpc_quota.h"
#include "rpc_blob.h"
#include "feed_publisher.h"
#include "feed_compact.h"
#include "mds/quota.h"

#define N_CODES 17
static const double lat_bounds[] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
};
#define N_BOUNDS (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

struct method_stats {
	atomic_uint_fast64_t codes[N_CODES];
	atomic_uint_fast64_t lat[N_BOUNDS + 1];  /* per bucket, not cumulative */
	atomic_uint_fast64_t lat_ns_sum;
};

struct worker {
	struct mds_server *s;
	unsigned idx;
	pthread_t thread;
	int started;
	int cq_down;                  /* set by the worker once its queue is shut */
	grpc_completion_queue *cq;
	struct mds_reader *reader;
	atomic_long live;
	/* durable ops waiting for their answer (writer -> this worker) */
	pthread_mutex_t ans_mu;
	struct call *ans_head, *ans_tail;
	int ans_wake;                 /* a TAG_ANSWER is on its way */
};

enum tag_kind { TAG_NEW, TAG_DONE, TAG_SEND, TAG_CLOSE, TAG_WAKE, TAG_ANSWER };

struct call;
struct tag {
	struct call *c;
	enum tag_kind kind;
};

struct call {
	struct mds_rpc_call pub;
	struct worker *w;
	int midx;                     /* index in s->methods, -1 = generic slot */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array req_md;
	grpc_call_details details;    /* generic slot only */
	grpc_byte_buffer *payload;
	ProtobufCMessage *req;
	grpc_byte_buffer *send_buf;
	grpc_slice status_details;
	int have_details;
	grpc_metadata trailer;        /* retry-after-ms on RESOURCE_EXHAUSTED */
	char retry_buf[16];
	int have_trailer;
	int write_hint;               /* more answers follow at once: GRPC_WRITE_BUFFER_HINT */
	char *held_msg;               /* a paced refusal's message (owned) */
	uint32_t retry_ms;            /* its retry-after at refusal */
	uint64_t held_at_ns;          /* when it was put on hold */
	grpc_metadata err_md[2];      /* trailing "mds-error" and "mds-reason" (static slices) */
	int md_sent;
	int recv_cancelled;
	int pending;                  /* STREAM: outstanding tags */
	int final_sent;
	struct call *resp_next;       /* answer list link (worker->ans_mu) */
	struct call *park_prev, *park_next; /* parked streams, under s->park_mu */
	int parked;                   /* on the parked list (under s->park_mu) */
	int closed;                   /* STREAM: RECV_CLOSE completed */
	int follow_counted;           /* counted in s->follow_open */
	uint64_t t_start_ns;
	struct tag t_new, t_done, t_send, t_close, t_wake, t_answer;
	/* STREAM with pub.stream_ahead: the next chunk, produced while the
	 * previous one is on its way (its reply, code, message, flags) */
	int have_ahead;
	grpc_byte_buffer *ahead_reply;
	int ahead_rc, ahead_last, ahead_park;
	struct mds_status ahead_st;
};

struct mds_server {
	struct mds_store *store;
	const struct mds_server_opts *o;
	grpc_server *server;
	grpc_completion_queue *shutdown_cq;
	struct worker *workers;
	unsigned n_workers;
	unsigned slots;
	int port;
	const struct mds_rpc_method **methods;
	void **handles;
	size_t n_methods;
	struct method_stats *stats;   /* n_methods + 1 (the last: unknown) */
	struct mds_reader *wreader;   /* start-up (loading the gate), then the writer thread's */
	atomic_int stopping;
	atomic_int serving;
	int stopped;
	uint64_t start_ns;
	int tls, mtls;
	struct mds_quota_sweeper *sweeper;   /* releases expired quota reservations */
	/* Parked follow streams (no thread waits for them): woken by an
	 * empty batch on their own call when the publisher signs or the
	 * server stops, so the wake lands on the call's worker queue. */
	pthread_mutex_t park_mu;
	struct call *parked;
	uint64_t wake_gen;
	atomic_long follow_open;
	struct mds_gate *gate;        /* identity, policy, rate limits */
	struct mds_pacer *pacer;      /* holds rate-limit refusals; NULL = answer at once */
	uint64_t hold_min_ns;         /* a paced refusal waits at least this long */
	atomic_uint_fast64_t n_held;  /* refusals answered after a pause */
};

/* A paced refusal waits max(retry-after, hold) but never longer than this
 * nor than half the time left before the call's deadline, and at most this
 * many wait at once (beyond: answered at once). */
#define HOLD_MAX_NS (250u * 1000000u)
#define HOLD_MAX_CALLS 8192

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- status mapping ---------------------------------------------------- */

grpc_status_code mds_rpc_status_code(int err)
{
	switch (err) {
	case MDS_OK: return GRPC_STATUS_OK;
	case MDS_EINVAL: return GRPC_STATUS_INVALID_ARGUMENT;
	case MDS_ENOTFOUND: return GRPC_STATUS_NOT_FOUND;
	case MDS_EEXIST: return GRPC_STATUS_ALREADY_EXISTS;
	case MDS_EPRECOND: return GRPC_STATUS_FAILED_PRECONDITION;
	case MDS_ENOTEMPTY: return GRPC_STATUS_FAILED_PRECONDITION;
	case MDS_ENOSPC: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case MDS_EBUSY: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case MDS_EQUOTA: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case MDS_ERATE: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case MDS_ENOMEM: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case MDS_ESHUTDOWN: return GRPC_STATUS_UNAVAILABLE;
	case MDS_EUNAVAIL: return GRPC_STATUS_UNAVAILABLE;
	case MDS_EDENIED: return GRPC_STATUS_PERMISSION_DENIED;
	case MDS_ETIMEDOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
	case MDS_ELOCKED: return GRPC_STATUS_FAILED_PRECONDITION;
	case MDS_ECORRUPT: return GRPC_STATUS_DATA_LOSS;
	case MDS_EIO: return GRPC_STATUS_INTERNAL;
	case MDS_EVERSION: return GRPC_STATUS_INTERNAL;
	case MDS_EINTERNAL: return GRPC_STATUS_INTERNAL;
	default: return GRPC_STATUS_INTERNAL;
	}
}

const char *mds_rpc_status_name(grpc_status_code code)
{
	static const char *const names[N_CODES] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
		"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};
	if ((int)code < 0 || (int)code >= N_CODES)
		return "UNKNOWN";
	return names[code];
}

/* ---- request checks ---------------------------------------------------- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/*
 * protobuf-c hands strings over NUL-terminated, so a NUL inside one would
 * silently cut a name short. Walk the wire form and refuse such strings
 * (and structurally broken input) before unpacking. Depth-bounded.
 */
static int scan_strings(const ProtobufCMessageDescriptor *d, const uint8_t *p,
			const uint8_t *end, int depth, const char **bad_field)
{
	if (depth > 8)
		return -1;
	while (p < end) {
		uint64_t key, len;

		if (read_varint(&p, end, &key) < 0)
			return -1;
		switch (key & 7) {
		case 0:
			if (read_varint(&p, end, &len) < 0)
				return -1;
			break;
		case 1:
			if (end - p < 8)
				return -1;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return -1;
			p += 4;
			break;
		case 2: {
			if (read_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p))
				return -1;
			const ProtobufCFieldDescriptor *f =
				d ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
				  : NULL;
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, len)) {
				*bad_field = f->name;
				return -2;
			}
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				int rc = scan_strings(f->descriptor, p, p + len, depth + 1,
						      bad_field);
				if (rc < 0)
					return rc;
			}
			p += len;
			break;
		}
		default:
			return -1;
		}
	}
	return 0;
}

int mds_rpc_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		   ProtobufCMessage **out, char *msg, size_t msgsz)
{
	const char *bad_field = NULL;
	int rc = scan_strings(d, p, p + len, 0, &bad_field);

	*out = NULL;
	if (rc == -2) {
		snprintf(msg, msgsz, "field '%s' contains a NUL byte", bad_field);
		return MDS_EINVAL;
	}
	if (rc == 0)
		*out = protobuf_c_message_unpack(d, NULL, len, p);
	if (!*out) {
		snprintf(msg, msgsz, "cannot parse the request as %s: malformed protobuf", d->name);
		return MDS_EINVAL;
	}
	return 0;
}

/* ---- replies ----------------------------------------------------------- */

int mds_rpc_reply(struct mds_rpc_call *pc, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	grpc_slice slice = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
	bb = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	if (!bb)
		return MDS_ENOMEM;
	if (pc->reply)
		grpc_byte_buffer_destroy(pc->reply);
	pc->reply = bb;
	return 0;
}

int mds_rpc_reply_raw(struct mds_rpc_call *pc, void *buf, size_t len)
{
	grpc_slice slice;
	grpc_byte_buffer *bb;

	if (len == 0) {
		free(buf);
		slice = grpc_empty_slice();
	} else {
		slice = grpc_slice_new(buf, len, free);
	}
	bb = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	if (!bb)
		return MDS_ENOMEM;
	if (pc->reply)
		grpc_byte_buffer_destroy(pc->reply);
	pc->reply = bb;
	return 0;
}

static void record(struct call *c, grpc_status_code code)
{
	struct mds_server *s = c->w->s;
	size_t i = c->midx < 0 ? s->n_methods : (size_t)c->midx;
	struct method_stats *ms = &s->stats[i];
	uint64_t dt = mono_ns() - c->t_start_ns;
	double secs = (double)dt / 1e9;
	size_t b = 0;

	if ((int)code >= 0 && (int)code < N_CODES)
		atomic_fetch_add(&ms->codes[code], 1);
	while (b < N_BOUNDS && secs > lat_bounds[b])
		b++;
	atomic_fetch_add(&ms->lat[b], 1);
	atomic_fetch_add(&ms->lat_ns_sum, dt);
}

static void call_free(struct call *c)
{
	struct worker *w = c->w;

	if (c->pub.stream_free)
		c->pub.stream_free(c->pub.stream_state);
	if (c->follow_counted)
		atomic_fetch_sub(&w->s->follow_open, 1);
	if (c->req)
		protobuf_c_message_free_unpacked(c->req, NULL);
	if (c->payload)
		grpc_byte_buffer_destroy(c->payload);
	if (c->send_buf)
		grpc_byte_buffer_destroy(c->send_buf);
	if (c->pub.reply)
		grpc_byte_buffer_destroy(c->pub.reply);
	if (c->ahead_reply)
		grpc_byte_buffer_destroy(c->ahead_reply);
	free(c->pub.mem);
	free(c->held_msg);
	if (c->have_details)
		grpc_slice_unref(c->status_details);
	grpc_metadata_array_destroy(&c->req_md);
	if (c->midx < 0)
		grpc_call_details_destroy(&c->details);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
	atomic_fetch_sub(&w->live, 1);
}

/*
 * Send the final answer of a unary call: initial metadata, the reply (when
 * @err is 0), the status, and receive-close. Completion: TAG_DONE.
 * Safe from any thread.
 */
static void finish_unary(struct call *c, int err, const char *msg)
{
	grpc_op ops[4];
	size_t n = 0;
	grpc_status_code code = err ? mds_rpc_status_code(err) : GRPC_STATUS_OK;
	grpc_call_error ce;

	memset(ops, 0, sizeof(ops));
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	n++;
	if (code == GRPC_STATUS_OK && c->pub.reply) {
		c->send_buf = c->pub.reply;
		c->pub.reply = NULL;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = c->send_buf;
		if (c->write_hint)
			ops[n].flags = GRPC_WRITE_BUFFER_HINT;
		n++;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	if (code != GRPC_STATUS_OK) {
		c->status_details = grpc_slice_from_copied_string(
			msg && *msg ? msg : mds_strerror(err));
		c->have_details = 1;
		ops[n].data.send_status_from_server.status_details = &c->status_details;
		/* The island's own code, so that a client can tell apart errors
		 * that share a gRPC status (MDS_EQUOTA and MDS_EBUSY are both
		 * RESOURCE_EXHAUSTED), and the blob reason when there is one. */
		size_t nmd = 0;

		if (err >= MDS_ERR_FIRST && err <= MDS_ERR_LAST) {
			c->err_md[nmd].key = grpc_slice_from_static_string("mds-error");
			c->err_md[nmd].value = grpc_slice_from_static_string(mds_error_name(err));
			nmd++;
		}
		if (c->pub.reason) {
			c->err_md[nmd].key = grpc_slice_from_static_string("mds-reason");
			c->err_md[nmd].value = grpc_slice_from_static_string(c->pub.reason);
			nmd++;
		}
		if (nmd) {
			ops[n].data.send_status_from_server.trailing_metadata_count = nmd;
			ops[n].data.send_status_from_server.trailing_metadata = c->err_md;
		}
	}
	n++;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n].data.recv_close_on_server.cancelled = &c->recv_cancelled;
	n++;
	record(c, code);
	ce = grpc_call_start_batch(c->call, ops, n, &c->t_done, NULL);
	if (ce != GRPC_CALL_OK) {
		/* Cannot happen with a well-formed batch; the call is lost. */
		mds_log(MDS_LOG_ERROR, "rpc_batch_failed", "error=%d", (int)ce);
		abort();
	}
}

/* Raw status answer (UNIMPLEMENTED, INVALID_ARGUMENT on bad bytes, ...). */
static void finish_status(struct call *c, grpc_status_code code, const char *msg)
{
	grpc_op ops[3];

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[1].data.send_status_from_server.status = code;
	c->status_details = grpc_slice_from_copied_string(msg);
	c->have_details = 1;
	ops[1].data.send_status_from_server.status_details = &c->status_details;
	if (c->have_trailer) {
		ops[1].data.send_status_from_server.trailing_metadata_count = 1;
		ops[1].data.send_status_from_server.trailing_metadata = &c->trailer;
	}
	ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[2].data.recv_close_on_server.cancelled = &c->recv_cancelled;
	record(c, code);
	if (grpc_call_start_batch(c->call, ops, 3, &c->t_done, NULL) != GRPC_CALL_OK)
		abort();
}

/* ---- slots ------------------------------------------------------------- */

static void post_slot(struct worker *w, int midx)
{
	struct mds_server *s = w->s;
	struct call *c = calloc(1, sizeof(*c));
	grpc_call_error ce;

	if (!c) {
		mds_log(MDS_LOG_ERROR, "rpc_slot_nomem", "worker=%u", w->idx);
		return;
	}
	c->w = w;
	c->midx = midx;
	c->pub.server = s;
	c->t_new = (struct tag){ c, TAG_NEW };
	c->t_done = (struct tag){ c, TAG_DONE };
	c->t_send = (struct tag){ c, TAG_SEND };
	c->t_close = (struct tag){ c, TAG_CLOSE };
	c->t_wake = (struct tag){ c, TAG_WAKE };
	c->t_answer = (struct tag){ c, TAG_ANSWER };
	grpc_metadata_array_init(&c->req_md);
	atomic_fetch_add(&w->live, 1);
	if (midx < 0) {
		grpc_call_details_init(&c->details);
		ce = grpc_server_request_call(s->server, &c->call, &c->details, &c->req_md,
					      w->cq, w->cq, &c->t_new);
	} else {
		ce = grpc_server_request_registered_call(s->server, s->handles[midx],
							 &c->call, &c->deadline, &c->req_md,
							 &c->payload, w->cq, w->cq, &c->t_new);
	}
	if (ce != GRPC_CALL_OK) {
		/* The server is shutting down; the slot is simply not posted. */
		c->call = NULL;
		call_free(c);
	}
}

/* ---- the writer side ---------------------------------------------------- */

/*
 * Build and send the answer of a durable op, reading with @reader (the
 * calling thread's): on the call's worker, or on the writer thread for
 * methods answered in commit order.
 */
static void answer_op(struct call *c, struct mds_reader *reader)
{
	struct mds_server *s = c->w->s;
	const struct mds_rpc_method *m = s->methods[c->midx];
	struct mds_status st;
	int rc = c->pub.op.status.code;

	mds_status_clear(&st);
	if (rc != 0) {
		if (!c->pub.reason)
			c->pub.reason = mds_rpc_blob_reason(c->pub.op.blob_out.reason);
		finish_unary(c, rc, c->pub.op.status.msg);
		return;
	}
	if (!(m->written_flags & MDS_RPC_WRITTEN_READS)) {
		rc = m->written(&c->pub, &st);
		finish_unary(c, rc, st.msg);
		return;
	}
	if (mds_reader_begin(reader) != 0) {
		finish_unary(c, MDS_EBUSY, "cannot take a snapshot to answer");
		return;
	}
	c->pub.reader = reader;
	rc = m->written(&c->pub, &st);
	c->pub.reader = NULL;
	mds_reader_end(reader);
	finish_unary(c, rc, st.msg);
}

/*
 * On the store's writer thread: put the call on its worker's answer list;
 * the first call on an empty list carries the wake-up (an empty batch
 * completes at once on the call's queue as TAG_ANSWER).
 */
static void on_op_done(struct mds_op *op)
{
	struct call *c = op->user;
	struct worker *w = c->w;
	int wake = 0;

	if (w->s->methods[c->midx]->written_flags & MDS_RPC_IN_COMMIT_ORDER) {
		/* no write transaction is open on this thread between batches */
		answer_op(c, w->s->wreader);
		return;
	}
	c->resp_next = NULL;
	pthread_mutex_lock(&w->ans_mu);
	if (w->ans_tail)
		w->ans_tail->resp_next = c;
	else
		w->ans_head = c;
	w->ans_tail = c;
	if (!w->ans_wake)
		wake = w->ans_wake = 1;
	pthread_mutex_unlock(&w->ans_mu);
	if (wake && grpc_call_start_batch(c->call, NULL, 0, &c->t_answer, NULL) != GRPC_CALL_OK) {
		/* an empty batch cannot be refused; if it were, nothing would wake */
		mds_log(MDS_LOG_ERROR, "rpc_answer_wake_failed", "worker=%u", w->idx);
		abort();
	}
}

/* On the worker (TAG_ANSWER): answer every durable op on the list. */
static void answer_all(struct worker *w)
{
	struct call *list;

	pthread_mutex_lock(&w->ans_mu);
	list = w->ans_head;
	w->ans_head = w->ans_tail = NULL;
	w->ans_wake = 0;
	pthread_mutex_unlock(&w->ans_mu);
	while (list) {
		struct call *next = list->resp_next;

		/* all but the last may wait for the next write: fewer sendmsg
		 * (measured 0.76 instead of 1.0 per put at 64 in flight) */
		list->write_hint = next != NULL;
		answer_op(list, w->reader);
		list = next;
	}
}

/* ---- streams ----------------------------------------------------------- */

/* An empty batch completes at once on the call's own queue: the wake-up
 * of a parked stream on its worker. Caller holds s->park_mu or owns the
 * call; c->pending already counts the completion. */
static void wake_call(struct call *c)
{
	if (grpc_call_start_batch(c->call, NULL, 0, &c->t_wake, NULL) != GRPC_CALL_OK)
		abort();
}

/* Park @c (on its worker): it waits for the next wake with no thread. */
static void park(struct call *c)
{
	struct mds_server *s = c->w->s;

	c->pending++;   /* the wake's completion */
	pthread_mutex_lock(&s->park_mu);
	if (s->wake_gen != c->pub.stream_park_gen || atomic_load(&s->stopping)) {
		pthread_mutex_unlock(&s->park_mu);
		wake_call(c);
		return;
	}
	c->park_prev = NULL;
	c->park_next = s->parked;
	if (s->parked)
		s->parked->park_prev = c;
	s->parked = c;
	c->parked = 1;
	pthread_mutex_unlock(&s->park_mu);
}

static void unpark_locked(struct mds_server *s, struct call *c)
{
	if (c->park_prev)
		c->park_prev->park_next = c->park_next;
	else
		s->parked = c->park_next;
	if (c->park_next)
		c->park_next->park_prev = c->park_prev;
	c->park_prev = c->park_next = NULL;
	c->parked = 0;
}

/* Wake every parked stream (the publisher signed, or the server stops). */
static void wake_all(void *arg)
{
	struct mds_server *s = arg;

	pthread_mutex_lock(&s->park_mu);
	s->wake_gen++;
	while (s->parked) {
		struct call *c = s->parked;

		unpark_locked(s, c);
		wake_call(c);
	}
	pthread_mutex_unlock(&s->park_mu);
}

uint64_t mds_server_wake_gen(struct mds_server *s)
{
	uint64_t g;

	pthread_mutex_lock(&s->park_mu);
	g = s->wake_gen;
	pthread_mutex_unlock(&s->park_mu);
	return g;
}

/* Runs the handler for the next chunk in a fresh snapshot of the worker's reader. */
static int stream_produce(struct call *c, struct mds_status *st)
{
	const struct mds_rpc_method *m = c->w->s->methods[c->midx];
	int rc;

	mds_status_clear(st);
	rc = mds_reader_begin(c->w->reader);
	if (rc == 0) {
		c->pub.reader = c->w->reader;
		rc = m->run(&c->pub, st);
		c->pub.reader = NULL;
		mds_reader_end(c->w->reader);
	} else {
		mds_status_set(st, rc, "cannot take a snapshot: %s", mds_strerror(rc));
	}
	return rc;
}

static void stream_next(struct call *c)
{
	struct mds_server *s = c->w->s;
	struct mds_status st;
	grpc_op ops[3];
	size_t n = 0;
	int rc;

	if (c->have_ahead) {
		/* produced while the previous chunk was on its way */
		c->have_ahead = 0;
		rc = c->ahead_rc;
		st = c->ahead_st;
		c->pub.reply = c->ahead_reply;
		c->ahead_reply = NULL;
		c->pub.stream_last = c->ahead_last;
		c->pub.stream_park = c->ahead_park;
	} else {
		rc = stream_produce(c, &st);
	}
	if (c->pub.stream_follow && !c->follow_counted) {
		c->follow_counted = 1;
		atomic_fetch_add(&s->follow_open, 1);
	}
	if (rc == 0 && c->pub.stream_park && !c->pub.reply && c->md_sent) {
		c->pub.stream_park = 0;
		park(c);
		return;
	}
	c->pub.stream_park = 0;
	memset(ops, 0, sizeof(ops));
	if (!c->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->md_sent = 1;
	}
	if (c->send_buf) {
		grpc_byte_buffer_destroy(c->send_buf);
		c->send_buf = NULL;
	}
	if (rc == 0 && c->pub.reply) {
		c->send_buf = c->pub.reply;
		c->pub.reply = NULL;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = c->send_buf;
		n++;
	}
	if (rc != 0 || c->pub.stream_last) {
		grpc_status_code code = mds_rpc_status_code(rc);

		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = code;
		if (rc != 0) {
			c->status_details = grpc_slice_from_copied_string(
				st.msg[0] ? st.msg : mds_strerror(rc));
			c->have_details = 1;
			ops[n].data.send_status_from_server.status_details =
				&c->status_details;
		}
		n++;
		c->final_sent = 1;
		record(c, code);
	}
	c->pending++;
	if (grpc_call_start_batch(c->call, ops, n, &c->t_send, NULL) != GRPC_CALL_OK)
		abort();
	/*
	 * Run one chunk ahead (streams that ask for it): build the next chunk
	 * now, while this one is written out and read by the client, instead
	 * of after its send completed. Chunks still go out one at a time, in
	 * order, each from its own snapshot; a client that cancels costs one
	 * chunk built for nothing.
	 */
	if (c->pub.stream_ahead && !c->final_sent) {
		c->ahead_rc = stream_produce(c, &c->ahead_st);
		c->ahead_reply = c->pub.reply;
		c->pub.reply = NULL;
		c->ahead_last = c->pub.stream_last;
		c->ahead_park = c->pub.stream_park;
		c->pub.stream_park = 0;
		c->have_ahead = 1;
	}
}

static void stream_start(struct call *c)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->recv_cancelled;
	c->pending++;
	if (grpc_call_start_batch(c->call, &op, 1, &c->t_close, NULL) != GRPC_CALL_OK)
		abort();
	stream_next(c);
}

/* ---- governance ---------------------------------------------------------- */

/* The value of request metadata @key (lower case) as a C string, or NULL.
 * @buf (caller's) receives it; values that do not fit are treated as absent. */
static const char *md_value(const grpc_metadata_array *md, const char *key, char *buf,
			    size_t cap)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < md->count; i++) {
		const grpc_slice *k = &md->metadata[i].key;
		const grpc_slice *v = &md->metadata[i].value;

		if (GRPC_SLICE_LENGTH(*k) != klen ||
		    memcmp(GRPC_SLICE_START_PTR(*k), key, klen) != 0)
			continue;
		if (GRPC_SLICE_LENGTH(*v) >= cap ||
		    memchr(GRPC_SLICE_START_PTR(*v), 0, GRPC_SLICE_LENGTH(*v)))
			return NULL;
		memcpy(buf, GRPC_SLICE_START_PTR(*v), GRPC_SLICE_LENGTH(*v));
		buf[GRPC_SLICE_LENGTH(*v)] = 0;
		return buf;
	}
	return NULL;
}

#define PEER_MAX 8

/*
 * Refusal pacing (rpc_pacer.h): a call refused by its team's rate limit is
 * answered after max(retry-after, --refusal-hold-ms), at most HOLD_MAX_NS
 * and at most half the time left before the call's deadline, from the
 * pacer's thread; its retry-after-ms then counts what is left
 * (at least 1). A client honouring retry-after loses nothing; one that
 * resends at once can only make (calls in flight) / (pause) attempts per
 * second, so its refusals no longer cost the island a gRPC round each.
 * Returns 0 when held, else the caller answers at once.
 */
static int hold_refusal(struct call *c, uint32_t retry_ms, const char *msg)
{
	struct mds_server *s = c->w->s;
	uint64_t now = mds_pacer_now_ns(), hold = (uint64_t)retry_ms * 1000000u;
	gpr_timespec left = gpr_time_sub(c->deadline, gpr_now(c->deadline.clock_type));

	if (hold < s->hold_min_ns)
		hold = s->hold_min_ns;
	if (hold > HOLD_MAX_NS)
		hold = HOLD_MAX_NS;
	/* the client must still get the refusal and its hint, not a timeout */
	if (gpr_time_cmp(left, gpr_time_from_nanos(2 * (int64_t)hold, GPR_TIMESPAN)) < 0) {
		int64_t half_ns = left.tv_sec > 0 || left.tv_nsec > 0
			? (left.tv_sec * 1000000000 + left.tv_nsec) / 2 : 0;

		if (half_ns < 1000000)
			return MDS_EBUSY;     /* under 1 ms: answer at once */
		hold = (uint64_t)half_ns;
	}
	c->held_msg = strdup(msg);
	if (!c->held_msg)
		return MDS_ENOMEM;
	c->retry_ms = retry_ms;
	c->held_at_ns = now;
	if (mds_pacer_hold(s->pacer, c, now + hold) != 0) {
		free(c->held_msg);
		c->held_msg = NULL;
		return MDS_EBUSY;
	}
	return 0;
}

/* On the pacer's thread: answer a held refusal (finish_status is safe
 * from any thread; the completion comes back to the call's worker). */
static void pace_release(void *item, void *arg)
{
	struct call *c = item;
	struct mds_server *s = arg;
	uint64_t held_ms = (mds_pacer_now_ns() - c->held_at_ns) / 1000000u;
	uint32_t left = held_ms >= c->retry_ms ? 1 : c->retry_ms - (uint32_t)held_ms;
	int n = snprintf(c->retry_buf, sizeof(c->retry_buf), "%u", left);

	c->trailer.key = grpc_slice_from_static_string("retry-after-ms");
	c->trailer.value = grpc_slice_from_static_buffer(c->retry_buf, (size_t)n);
	c->have_trailer = 1;
	atomic_fetch_add(&s->n_held, 1);
	finish_status(c, GRPC_STATUS_RESOURCE_EXHAUSTED, c->held_msg);
}

/*
 * Identity, authorization and rate limit of a new call (rpc_gate.h).
 * Returns 1 when the call may go on, 0 when it has been answered.
 */
static int gate_call(struct call *c, const struct mds_rpc_method *m)
{
	struct mds_server *s = c->w->s;
	struct mds_gate_request rq;
	grpc_auth_context *ctx = NULL;
	const char *peer[PEER_MAX];
	char authz_buf[8192], obo_buf[512], grp_buf[1024], msg[MDS_STATUS_MSG_MAX];
	char who[320];
	uint32_t retry_ms = 0;
	grpc_status_code code;

	if (mds_gate_is_open(s->gate))
		return 1;    /* dev mode without limits: nothing to look at */
	memset(&rq, 0, sizeof(rq));
	rq.method = m->name;
	rq.req = c->req;
	rq.authorization = md_value(&c->req_md, "authorization", authz_buf, sizeof(authz_buf));
	rq.on_behalf_of = md_value(&c->req_md, "x-mds-on-behalf-of", obo_buf, sizeof(obo_buf));
	rq.on_behalf_groups = md_value(&c->req_md, "x-mds-on-behalf-of-groups", grp_buf,
				       sizeof(grp_buf));
	rq.peer = peer;
	if (s->tls && (ctx = grpc_call_auth_context(c->call)) != NULL) {
		grpc_auth_property_iterator it = grpc_auth_context_peer_identity(ctx);
		const grpc_auth_property *p;

		while ((p = grpc_auth_property_iterator_next(&it)) && rq.n_peer < PEER_MAX)
			if (p->value && p->value_length && !memchr(p->value, 0, p->value_length) &&
			    p->value[p->value_length] == 0)
				peer[rq.n_peer++] = p->value;
	}
	code = mds_gate_check(s->gate, &rq, mds_gate_needs_reader(s->gate) ? c->w->reader : NULL,
			      &retry_ms, who, sizeof(who), msg, sizeof(msg));
	if (ctx)
		grpc_auth_context_release(ctx);
	if (code == GRPC_STATUS_OK && mds_gate_stamp_principal(s->gate, m->name, c->req, who) != 0) {
		code = GRPC_STATUS_RESOURCE_EXHAUSTED;
		snprintf(msg, sizeof(msg), "out of memory");
	}
	if (code == GRPC_STATUS_OK)
		return 1;
	if (code == GRPC_STATUS_RESOURCE_EXHAUSTED && retry_ms && s->pacer &&
	    hold_refusal(c, retry_ms, msg) == 0)
		return 0;    /* answered by the pacer (pace_release) */
	if (code == GRPC_STATUS_RESOURCE_EXHAUSTED && retry_ms) {
		int n = snprintf(c->retry_buf, sizeof(c->retry_buf), "%u", retry_ms);

		c->trailer.key = grpc_slice_from_static_string("retry-after-ms");
		c->trailer.value = grpc_slice_from_static_buffer(c->retry_buf, (size_t)n);
		c->have_trailer = 1;
	}
	finish_status(c, code, msg);
	return 0;
}

/* ---- new calls ---------------------------------------------------------- */

static int read_payload(grpc_byte_buffer *bb, grpc_slice *out)
{
	grpc_byte_buffer_reader rd;

	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return -1;
	*out = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	return 0;
}

static void on_new_call(struct call *c)
{
	struct worker *w = c->w;
	struct mds_server *s = w->s;
	const struct mds_rpc_method *m;
	struct mds_status st;
	grpc_slice raw;
	int rc;
	char msg[MDS_STATUS_MSG_MAX];

	c->t_start_ns = mono_ns();
	if (!atomic_load(&s->stopping))
		post_slot(w, c->midx);
	if (c->midx < 0) {
		char *method = grpc_slice_to_c_string(c->details.method);

		snprintf(msg, sizeof(msg), "unknown method '%s'", method);
		mds_log(MDS_LOG_DEBUG, "rpc_unimplemented", "method=%s", method);
		gpr_free(method);
		finish_status(c, GRPC_STATUS_UNIMPLEMENTED, msg);
		return;
	}
	m = s->methods[c->midx];
	if (gpr_time_cmp(c->deadline, gpr_now(c->deadline.clock_type)) <= 0) {
		finish_status(c, GRPC_STATUS_DEADLINE_EXCEEDED,
			      "the call's deadline passed before it was served");
		return;
	}
	if (!c->payload) {
		finish_status(c, GRPC_STATUS_INVALID_ARGUMENT, "missing request message");
		return;
	}
	if (read_payload(c->payload, &raw) < 0) {
		finish_status(c, GRPC_STATUS_INVALID_ARGUMENT,
			      "cannot read the request message (compressed?)");
		return;
	}
	rc = mds_rpc_decode(m->request, GRPC_SLICE_START_PTR(raw), GRPC_SLICE_LENGTH(raw),
			    &c->req, msg, sizeof(msg));
	grpc_slice_unref(raw);
	if (rc != 0) {
		finish_status(c, GRPC_STATUS_INVALID_ARGUMENT, msg);
		return;
	}
	c->pub.req = c->req;
	if (!gate_call(c, m))
		return;
	mds_status_clear(&st);

	switch (m->kind) {
	case MDS_RPC_READ:
		rc = mds_reader_begin(w->reader);
		if (rc != 0) {
			mds_status_set(&st, rc, "cannot take a snapshot: %s", mds_strerror(rc));
		} else {
			c->pub.reader = w->reader;
			rc = m->run(&c->pub, &st);
			c->pub.reader = NULL;
			mds_reader_end(w->reader);
		}
		finish_unary(c, rc, st.msg);
		break;
	case MDS_RPC_WRITE:
		rc = m->run(&c->pub, &st);
		if (rc != 0) {
			finish_unary(c, rc, st.msg);
			break;
		}
		c->pub.op.done = on_op_done;
		c->pub.op.user = c;
		rc = mds_store_submit(s->store, &c->pub.op);
		if (rc != 0)
			finish_unary(c, rc, c->pub.op.status.msg[0] ? c->pub.op.status.msg
				     : "the store refused the mutation");
		/* else: on_op_done (writer thread) hands it back to this worker */
		break;
	case MDS_RPC_STREAM:
		stream_start(c);
		break;
	}
}

static void on_event(struct tag *t, int ok)
{
	struct call *c = t->c;

	switch (t->kind) {
	case TAG_NEW:
		if (!ok) {            /* slot cancelled by shutdown */
			call_free(c);
			return;
		}
		on_new_call(c);
		return;
	case TAG_DONE:
		call_free(c);
		return;
	case TAG_CLOSE:
		c->closed = 1;
		if (c->parked) {
			/* cancelled or past its deadline while parked: no wake will come */
			struct mds_server *s = c->w->s;

			pthread_mutex_lock(&s->park_mu);
			if (c->parked) {
				unpark_locked(s, c);
				c->pending--;
			}
			pthread_mutex_unlock(&s->park_mu);
			if (!c->final_sent)
				record(c, GRPC_STATUS_CANCELLED);
			c->final_sent = 1;
		}
		if (--c->pending == 0)
			call_free(c);
		return;
	case TAG_ANSWER:
		answer_all(c->w);   /* @c is on the list: it is answered, not freed, here */
		return;
	case TAG_WAKE:
		c->pending--;
		if (!c->closed && !c->final_sent) {
			stream_next(c);
			return;
		}
		if (!c->final_sent)
			record(c, GRPC_STATUS_CANCELLED);
		c->final_sent = 1;
		if (c->pending == 0)
			call_free(c);
		return;
	case TAG_SEND:
		c->pending--;
		if (ok && !c->final_sent && !c->recv_cancelled) {
			stream_next(c);
			return;
		}
		if (!c->final_sent)
			record(c, GRPC_STATUS_CANCELLED);
		c->final_sent = 1;
		if (c->pending == 0)
			call_free(c);
		else if (!ok)
			grpc_call_cancel(c->call, NULL);
		return;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct mds_server *s = w->s;

	{
		char name[16];

		snprintf(name, sizeof(name), "mds-worker%u", w->idx);
		pthread_setname_np(pthread_self(), name);
	}
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			w->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					    gpr_time_from_millis(100, GPR_TIMESPAN)),
			NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			on_event(ev.tag, ev.success);
		if (!w->cq_down && atomic_load(&s->stopping) && atomic_load(&w->live) == 0) {
			grpc_completion_queue_shutdown(w->cq);
			w->cq_down = 1;
		}
	}
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static char *slurp(const char *path, struct mds_status *st, const char *what)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f) {
		mds_status_set(st, MDS_EINVAL, "cannot open %s '%s': %s", what, path,
			       strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) != 0) {
		mds_status_set(st, MDS_EINVAL, "cannot read %s '%s'", what, path);
		goto out_close;
	}
	buf = malloc((size_t)n + 1);
	if (!buf) {
		mds_status_set(st, MDS_ENOMEM, "out of memory reading '%s'", path);
		goto out_close;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		mds_status_set(st, MDS_EINVAL, "cannot read %s '%s'", what, path);
		free(buf);
		buf = NULL;
		goto out_close;
	}
	buf[n] = 0;
out_close:
	fclose(f);
	return buf;
}

static grpc_server_credentials *make_creds(const struct mds_server_opts *o,
					   struct mds_status *st)
{
	grpc_server_credentials *creds = NULL;
	char *ca = NULL, *cert = NULL, *key = NULL;
	grpc_ssl_pem_key_cert_pair pair;

	if (!o->tls_cert && !o->tls_key && !o->tls_ca)
		return grpc_insecure_server_credentials_create();
	if (!o->tls_cert || !o->tls_key) {
		mds_status_set(st, MDS_EINVAL, "TLS needs both --tls-cert and --tls-key");
		return NULL;
	}
	if (o->require_client_cert && !o->tls_ca) {
		mds_status_set(st, MDS_EINVAL, "--tls-client-auth needs --tls-ca");
		return NULL;
	}
	if (!(cert = slurp(o->tls_cert, st, "certificate")))
		goto out;
	if (!(key = slurp(o->tls_key, st, "private key")))
		goto out;
	if (o->tls_ca && !(ca = slurp(o->tls_ca, st, "CA bundle")))
		goto out;
	pair.private_key = key;
	pair.cert_chain = cert;
	creds = grpc_ssl_server_credentials_create_ex(
		ca, &pair, 1,
		o->require_client_cert
			? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
			: (ca ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
			      : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE),
		NULL);
	if (!creds)
		mds_status_set(st, MDS_EINVAL, "cannot build TLS credentials from '%s' and '%s'",
			       o->tls_cert, o->tls_key);
out:
	free(ca);
	if (key) {
		/* Key material: wipe before freeing. */
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	return creds;
}

static void server_release(struct mds_server *s)
{
	/* The server first (it is shut down or was never started), then the
	 * queues, each shut down and drained unless its worker did that. */
	mds_quota_sweeper_stop(s->sweeper);
	s->sweeper = NULL;
	/* every held refusal is answered before the queues go away */
	mds_pacer_stop(s->pacer);
	s->pacer = NULL;
	mds_gate_free(s->gate);
	s->gate = NULL;
	if (s->server)
		grpc_server_destroy(s->server);
	if (s->workers) {
		for (unsigned i = 0; i < s->n_workers; i++) {
			struct worker *w = &s->workers[i];

			if (w->cq && !w->cq_down) {
				grpc_event ev;

				grpc_completion_queue_shutdown(w->cq);
				do {
					ev = grpc_completion_queue_next(
						w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
					if (ev.type == GRPC_OP_COMPLETE)
						on_event(ev.tag, 0);
				} while (ev.type != GRPC_QUEUE_SHUTDOWN);
			}
			if (w->cq)
				grpc_completion_queue_destroy(w->cq);
			if (w->reader)
				mds_reader_close(w->reader);
			pthread_mutex_destroy(&w->ans_mu);
		}
	}
	if (s->shutdown_cq) {
		grpc_completion_queue_shutdown(s->shutdown_cq);
		grpc_completion_queue_pluck(s->shutdown_cq, NULL,
					    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		grpc_completion_queue_destroy(s->shutdown_cq);
	}
	pthread_mutex_destroy(&s->park_mu);
	if (s->wreader)
		mds_reader_close(s->wreader);
	free(s->workers);
	free(s->methods);
	free(s->handles);
	free(s->stats);
	free(s);
}

/* The gate, with the stored bindings loaded (before any call is served). */
static int gate_start(struct mds_server *s, const struct mds_server_opts *o,
		      struct mds_status *st)
{
	struct mds_gate_opts go;
	int rc;

	memset(&go, 0, sizeof(go));
	go.mode = o->auth_mode == MDS_GATE_JWT ? MDS_GATE_JWT : MDS_GATE_DEV;
	go.auth = o->auth;
	go.gateways = o->gateways;
	go.rate_limits = o->rate_limits;
	go.admins = o->admins;
	rc = mds_gate_new(&s->gate, &go, st);
	if (rc != 0)
		return rc;
	rc = mds_reader_begin(s->wreader);
	if (rc != 0)
		return mds_status_set(st, rc, "cannot take a snapshot to load the policy");
	rc = mds_gate_load(s->gate, s->wreader, st);
	mds_reader_end(s->wreader);
	return rc;
}

static int grpc_inited;

unsigned mds_server_auto_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 2)
		return 1;
	return n / 2 > 8 ? 8 : (unsigned)(n / 2);
}

int mds_server_start(struct mds_server **out, struct mds_store *store,
		     const struct mds_server_opts *o, struct mds_status *st)
{
	struct mds_server *s;
	grpc_server_credentials *creds = NULL;
	grpc_arg args[3];
	grpc_channel_args cargs;
	int rc;
	size_t k = 0;

	*out = NULL;
	if (!o->listen || !*o->listen)
		return mds_status_set(st, MDS_EINVAL, "no listen address");
	if (!grpc_inited) {
		grpc_init();
		grpc_inited = 1;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	s->store = store;
	s->o = o;
	s->n_workers = o->threads ? o->threads : mds_server_auto_threads();
	s->slots = o->slots ? o->slots : 16;
	s->start_ns = real_ns();
	s->tls = o->tls_cert != NULL;
	s->mtls = s->tls && o->require_client_cert;
	s->n_methods = mds_rpc_namespace_count + mds_rpc_admin_count + mds_rpc_quota_count +
		       mds_rpc_blob_count + mds_rpc_policy_count +
		       mds_rpc_feed_count + mds_rpc_global_count;
	s->methods = calloc(s->n_methods, sizeof(*s->methods));
	s->handles = calloc(s->n_methods, sizeof(*s->handles));
	s->stats = calloc(s->n_methods + 1, sizeof(*s->stats));
	s->workers = calloc(s->n_workers, sizeof(*s->workers));
	if (!s->methods || !s->handles || !s->stats || !s->workers) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out_free;
	}
	for (unsigned i = 0; i < s->n_workers; i++)
		pthread_mutex_init(&s->workers[i].ans_mu, NULL);
	for (size_t i = 0; i < mds_rpc_namespace_count; i++)
		s->methods[k++] = &mds_rpc_namespace_methods[i];
	for (size_t i = 0; i < mds_rpc_admin_count; i++)
		s->methods[k++] = &mds_rpc_admin_methods[i];
	for (size_t i = 0; i < mds_rpc_quota_count; i++)
		s->methods[k++] = &mds_rpc_quota_methods[i];
	for (size_t i = 0; i < mds_rpc_blob_count; i++)
		s->methods[k++] = &mds_rpc_blob_methods[i];
	for (size_t i = 0; i < mds_rpc_policy_count; i++)
		s->methods[k++] = &mds_rpc_policy_methods[i];
	for (size_t i = 0; i < mds_rpc_feed_count; i++)
		s->methods[k++] = &mds_rpc_feed_methods[i];
	for (size_t i = 0; i < mds_rpc_global_count; i++)
		s->methods[k++] = &mds_rpc_global_methods[i];

	pthread_mutex_init(&s->park_mu, NULL);
	rc = mds_reader_open(store, &s->wreader);
	if (rc != 0) {
		mds_status_set(st, rc, "cannot open a store reader: %s", mds_strerror(rc));
		goto out_free;
	}
	rc = gate_start(s, o, st);
	if (rc != 0)
		goto out_free;

	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = o->max_message ? (int)o->max_message : 4 << 20;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_ALLOW_REUSEPORT;
	args[1].value.integer = 0;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[2].value.integer = 64 << 20;
	cargs.num_args = 3;
	cargs.args = args;
	s->server = grpc_server_create(&cargs, NULL);
	for (size_t i = 0; i < s->n_methods; i++) {
		s->handles[i] = grpc_server_register_method(
			s->server, s->methods[i]->path, NULL,
			GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		if (!s->handles[i]) {
			rc = mds_status_set(st, MDS_EINTERNAL, "cannot register '%s'",
					    s->methods[i]->path);
			goto out_free;
		}
	}
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

		w->s = s;
		w->idx = i;
		w->cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(s->server, w->cq, NULL);
		rc = mds_reader_open(store, &w->reader);
		if (rc != 0) {
			mds_status_set(st, rc, "cannot open a store reader: %s",
				       mds_strerror(rc));
			goto out_free;
		}
	}
	s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);

	creds = make_creds(o, st);
	if (!creds) {
		rc = st ? st->code : MDS_EINVAL;
		goto out_free;
	}
	s->port = grpc_server_add_http2_port(s->server, o->listen, creds);
	grpc_server_credentials_release(creds);
	if (s->port <= 0) {
		rc = mds_status_set(st, MDS_EINVAL,
				    "cannot listen on '%s' (address in use or invalid)",
				    o->listen);
		goto out_free;
	}
	if (o->refusal_hold_ms && o->rate_limits && *o->rate_limits) {
		rc = mds_pacer_start(&s->pacer, HOLD_MAX_CALLS, pace_release, s);
		if (rc != 0) {
			mds_status_set(st, rc, "cannot start the refusal pacer");
			goto out_free;
		}
		s->hold_min_ns = (uint64_t)o->refusal_hold_ms * 1000000u;
	}
	rc = mds_quota_sweeper_start(store, 1000, &s->sweeper);
	if (rc != 0) {
		mds_status_set(st, rc, "cannot start the reservation sweeper: %s", mds_strerror(rc));
		goto out_free;
	}
	grpc_server_start(s->server);
	atomic_store(&s->serving, 1);
	if (o->feed)
		mds_feed_publisher_set_notify(o->feed, wake_all, s);
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

		for (size_t m = 0; m < s->n_methods; m++)
			for (unsigned j = 0; j < s->slots; j++)
				post_slot(w, (int)m);
		post_slot(w, -1);
		post_slot(w, -1);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			rc = mds_status_set(st, MDS_ENOMEM, "cannot start worker thread");
			mds_server_stop(s, 0);
			goto out_free;   /* server_release drains the unstarted queues */
		}
		w->started = 1;
	}
	*out = s;
	return 0;

out_free:
	server_release(s);
	return rc;
}

int mds_server_port(const struct mds_server *s)
{
	return s->port;
}

int mds_server_is_serving(const struct mds_server *s)
{
	return atomic_load(&s->serving);
}

void mds_server_stop(struct mds_server *s, unsigned grace_ms)
{
	static int tag;
	grpc_event ev;

	if (s->stopped)
		return;
	s->stopped = 1;
	atomic_store(&s->serving, 0);
	if (s->o->feed)
		mds_feed_publisher_set_notify(s->o->feed, NULL, NULL);
	grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, &tag);
	atomic_store(&s->stopping, 1);
	mds_pacer_flush(s->pacer);   /* a stopping server does not wait for pauses */
	wake_all(s);   /* parked follow streams end now, not at the grace limit */
	ev = grpc_completion_queue_pluck(
		s->shutdown_cq, &tag,
		gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			     gpr_time_from_millis(grace_ms, GPR_TIMESPAN)),
		NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		mds_log(MDS_LOG_WARN, "shutdown_cancel_calls", "grace_ms=%u refusals_held=%zu",
			grace_ms, mds_pacer_held(s->pacer));
		grpc_server_cancel_all_calls(s->server);
		grpc_completion_queue_pluck(s->shutdown_cq, &tag,
					    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	}
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		w->started = 0;
	}
	mds_quota_sweeper_stop(s->sweeper);
	s->sweeper = NULL;
}

void mds_server_free(struct mds_server *s)
{
	if (!s)
		return;
	mds_server_stop(s, 0);
	server_release(s);
}

void mds_server_get_info(struct mds_server *s, struct mds_server_info *out)
{
	out->start_time_ns = s->start_ns;
	out->data_dir = s->o->data_dir ? s->o->data_dir : "";
	out->serving = atomic_load(&s->serving);
	out->threads = s->n_workers;
	out->tls = s->tls;
	out->mtls = s->mtls;
}

struct mds_store *mds_server_store(struct mds_server *s)
{
	return s->store;
}

struct mds_gate *mds_server_gate(struct mds_server *s)
{
	return s->gate;
}

struct mds_feed_publisher *mds_server_feed(struct mds_server *s)
{
	return s->o->feed;
}

struct mds_federation *mds_server_federation(struct mds_server *s)
{
	return s->o->federation;
}

const char *mds_server_origin(struct mds_server *s)
{
	return s->o->origin ? s->o->origin : "";
}

/* ---- metrics ------------------------------------------------------------ */

int mds_server_metrics_text(struct mds_server *s, char **out, size_t *len)
{
	struct mds_store_stats ss;
	FILE *f;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (!f)
		return MDS_ENOMEM;
	fprintf(f, "# HELP mds_rpc_requests_total gRPC calls answered, by method and status code.\n"
		   "# TYPE mds_rpc_requests_total counter\n");
	for (size_t i = 0; i <= s->n_methods; i++) {
		const char *name = i < s->n_methods ? s->methods[i]->name : "unknown";

		for (int code = 0; code < N_CODES; code++) {
			uint64_t v = atomic_load(&s->stats[i].codes[code]);

			if (v || code == 0)
				fprintf(f, "mds_rpc_requests_total{method=\"%s\",code=\"%s\"} %llu\n",
					name, mds_rpc_status_name(code),
					(unsigned long long)v);
		}
	}
	fprintf(f, "# HELP mds_rpc_latency_seconds time from a call's arrival to its answer.\n"
		   "# TYPE mds_rpc_latency_seconds histogram\n");
	for (size_t i = 0; i < s->n_methods; i++) {
		const char *name = s->methods[i]->name;
		uint64_t cum = 0;

		for (size_t b = 0; b <= N_BOUNDS; b++) {
			cum += atomic_load(&s->stats[i].lat[b]);
			if (b < N_BOUNDS)
				fprintf(f, "mds_rpc_latency_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
					name, lat_bounds[b], (unsigned long long)cum);
			else
				fprintf(f, "mds_rpc_latency_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n",
					name, (unsigned long long)cum);
		}
		fprintf(f, "mds_rpc_latency_seconds_sum{method=\"%s\"} %.9f\n", name,
			(double)atomic_load(&s->stats[i].lat_ns_sum) / 1e9);
		fprintf(f, "mds_rpc_latency_seconds_count{method=\"%s\"} %llu\n", name,
			(unsigned long long)cum);
	}
	mds_store_stats(s->store, &ss);
	fprintf(f,
		"# HELP mds_store_write_batches_total committed write transactions (one fsync each).\n"
		"# TYPE mds_store_write_batches_total counter\n"
		"mds_store_write_batches_total %llu\n"
		"# HELP mds_store_write_ops_total mutations completed by the writer.\n"
		"# TYPE mds_store_write_ops_total counter\n"
		"mds_store_write_ops_total %llu\n"
		"# HELP mds_store_write_ops_failed_total mutations completed with an error.\n"
		"# TYPE mds_store_write_ops_failed_total counter\n"
		"mds_store_write_ops_failed_total %llu\n"
		"# HELP mds_store_write_batch_size_avg mean mutations per write transaction.\n"
		"# TYPE mds_store_write_batch_size_avg gauge\n"
		"mds_store_write_batch_size_avg %.3f\n"
		"# HELP mds_store_write_batch_size_max largest batch so far.\n"
		"# TYPE mds_store_write_batch_size_max gauge\n"
		"mds_store_write_batch_size_max %llu\n"
		"# HELP mds_store_commit_seconds_total time in commit, fsync included.\n"
		"# TYPE mds_store_commit_seconds_total counter\n"
		"mds_store_commit_seconds_total %.9f\n"
		"# HELP mds_store_commit_seconds_avg mean commit (fsync) latency.\n"
		"# TYPE mds_store_commit_seconds_avg gauge\n"
		"mds_store_commit_seconds_avg %.9f\n"
		"# HELP mds_store_commit_seconds_max slowest commit (fsync) so far.\n"
		"# TYPE mds_store_commit_seconds_max gauge\n"
		"mds_store_commit_seconds_max %.9f\n"
		"# HELP mds_store_write_queue_length mutations waiting for the writer.\n"
		"# TYPE mds_store_write_queue_length gauge\n"
		"mds_store_write_queue_length %llu\n"
		"# HELP mds_store_map_size_bytes size of the LMDB map.\n"
		"# TYPE mds_store_map_size_bytes gauge\n"
		"mds_store_map_size_bytes %llu\n"
		"# HELP mds_store_map_used_bytes bytes of the LMDB map in use.\n"
		"# TYPE mds_store_map_used_bytes gauge\n"
		"mds_store_map_used_bytes %llu\n"
		"# HELP mds_store_readers_used LMDB reader slots in use.\n"
		"# TYPE mds_store_readers_used gauge\n"
		"mds_store_readers_used %u\n"
		"# HELP mds_store_readers_max LMDB reader slots in all.\n"
		"# TYPE mds_store_readers_max gauge\n"
		"mds_store_readers_max %u\n"
		"# HELP mds_store_stale_readers_reaped_total reader slots of dead processes freed.\n"
		"# TYPE mds_store_stale_readers_reaped_total counter\n"
		"mds_store_stale_readers_reaped_total %llu\n"
		"# HELP mds_up 1 while the server accepts calls.\n"
		"# TYPE mds_up gauge\n"
		"mds_up %d\n",
		(unsigned long long)ss.batches, (unsigned long long)ss.ops,
		(unsigned long long)ss.ops_failed,
		ss.batches ? (double)ss.ops / (double)ss.batches : 0.0,
		(unsigned long long)ss.batch_max, (double)ss.commit_ns_total / 1e9,
		ss.batches ? (double)ss.commit_ns_total / 1e9 / (double)ss.batches : 0.0,
		(double)ss.commit_ns_max / 1e9, (unsigned long long)ss.queue_len,
		(unsigned long long)ss.map_size, (unsigned long long)ss.map_used,
		ss.readers_used, ss.readers_max,
		(unsigned long long)ss.stale_readers_reaped, atomic_load(&s->serving));
	mds_gate_metrics(s->gate, f);
	fprintf(f, "# HELP mds_rate_limit_paced_total rate-limit refusals answered after a pause.\n"
		   "# TYPE mds_rate_limit_paced_total counter\n"
		   "mds_rate_limit_paced_total %llu\n"
		   "# HELP mds_rate_limit_held refusals waiting for their pause now.\n"
		   "# TYPE mds_rate_limit_held gauge\n"
		   "mds_rate_limit_held %zu\n",
		   (unsigned long long)atomic_load(&s->n_held), mds_pacer_held(s->pacer));
	mds_federation_metrics(s->o->federation, f);
	if (s->o->feed)
		mds_feed_publisher_metrics(s->o->feed, f);
	if (s->o->feed_compactor)
		mds_feed_compactor_metrics(s->o->feed_compactor, f);
	fprintf(f, "# HELP mds_feed_follow_streams open Subscribe streams in follow mode.\n"
		   "# TYPE mds_feed_follow_streams gauge\n"
		   "mds_feed_follow_streams %ld\n", atomic_load(&s->follow_open));
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return MDS_ENOMEM;
	}
	return 0;
}
