/*
 * rpc.h - what an RPC handler sees of the server, and the method tables.
 *
 * server.c owns the gRPC machinery (completion queues, calls, batches,
 * shutdown); rpc_namespace.c and rpc_admin.c own the translation between
 * protobuf-c messages and the island core. A method is one struct
 * mds_rpc_method; its kind says how the server drives it:
 *
 *   MDS_RPC_READ    run() is called on the worker thread between
 *                   mds_reader_begin() and mds_reader_end() of that thread's
 *                   reader; it answers with mds_rpc_reply() (which packs the
 *                   message at once, so it may point into the snapshot).
 *   MDS_RPC_WRITE   run() fills call->op from the request and returns 0; the
 *                   server submits the op to the store's writer. When the op
 *                   is durable, written() runs on the call's worker thread
 *                   (with call->op's outputs, and a snapshot begun if the
 *                   method sets MDS_RPC_WRITTEN_READS) and answers with
 *                   mds_rpc_reply(); the server then starts the response
 *                   batch from there. Calls on different workers may be
 *                   answered out of commit order; a method whose written()
 *                   changes in-memory state that must follow the store
 *                   sets MDS_RPC_IN_COMMIT_ORDER, and its written() then runs on
 *                   the store's writer thread right after the commit, in
 *                   commit order (keep it short: the writer waits).
 *   MDS_RPC_STREAM  run() is called once per response message, on the worker
 *                   thread inside a snapshot; it replies with the next chunk
 *                   and sets call->stream_last when nothing follows.
 *
 * The unpacked request stays alive (and with it every string an op
 * borrows) until the call is freed. Handlers return 0 or a negative MDS_E*
 * code with @st's message; the server maps it to a gRPC status
 * (mds_rpc_status_code) and logs nothing for client errors.
 */
#ifndef MDS_RPC_H
#define MDS_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "mds/namespace.h"
#include "mds/store.h"

struct mds_server;

enum mds_rpc_kind {
	MDS_RPC_READ = 0,
	MDS_RPC_WRITE = 1,
	MDS_RPC_STREAM = 2,
};

/* The part of a call that handlers use. */
struct mds_rpc_call {
	struct mds_server *server;        /* borrowed */
	struct mds_reader *reader;        /* the current thread's reader, begun */
	const ProtobufCMessage *req;      /* owned by the server; valid until the call ends */
	struct mds_op op;                 /* WRITE: filled by run(), read by written() */
	int stream_last;                  /* STREAM: set by run() on the last chunk */
	uint64_t stream_sent;             /* STREAM: objects sent so far */
	size_t stream_cursor_len;         /* STREAM: bytes of the last name sent */
	char stream_cursor[MDS_OBJECT_NAME_MAX + 1];
	/* STREAM: handler state that lives as long as the call (e.g. a held
	 * read snapshot); the server calls stream_free(stream_state) when the
	 * call is freed, on the call's worker thread. */
	void *stream_state;
	void (*stream_free)(void *state);
	/* STREAM: run() sets stream_park (and no reply) to wait without a
	 * thread until the feed publisher signs again or the server stops;
	 * then run() is called again. stream_park_gen is the value of
	 * mds_server_wake_gen() read BEFORE run() looked at the publisher, so
	 * a signature in between is never missed. */
	int stream_park;
	uint64_t stream_park_gen;
	int stream_follow;                /* STREAM: a follow stream (counted in /metrics) */
	/* STREAM: run() sets stream_ahead to be called for the next chunk
	 * right after this one's send started, so that building it overlaps
	 * the sending (the server holds that chunk until the send completes).
	 * For streams whose chunks do not depend on the client's pace. */
	int stream_ahead;
	void *reply;                      /* packed reply (server-private grpc_byte_buffer) */
	void *mem;                        /* malloc'd by a handler (what op borrows); free()d with the call */
	const char *reason;               /* static; on failure sent as trailing metadata "mds-reason" */
};

typedef int (*mds_rpc_run_fn)(struct mds_rpc_call *c, struct mds_status *st);
typedef int (*mds_rpc_written_fn)(struct mds_rpc_call *c, struct mds_status *st);

struct mds_rpc_method {
	const char *path;                          /* "/mds.v1.Namespace/HeadObject" */
	const char *name;                          /* "HeadObject", the metrics label */
	enum mds_rpc_kind kind;
	const ProtobufCMessageDescriptor *request; /* type of the request message */
	mds_rpc_run_fn run;
	mds_rpc_written_fn written;                /* WRITE only */
	int written_flags;                         /* MDS_RPC_WRITTEN_* */
};

/* written_flags: */
#define MDS_RPC_WRITTEN_READS 1       /* written() reads the store (a snapshot is begun) */
#define MDS_RPC_IN_COMMIT_ORDER 2     /* written() runs on the writer thread, in commit order */

extern const struct mds_rpc_method mds_rpc_namespace_methods[];
extern const size_t mds_rpc_namespace_count;
extern const struct mds_rpc_method mds_rpc_admin_methods[];
extern const size_t mds_rpc_admin_count;
extern const struct mds_rpc_method mds_rpc_policy_methods[];
extern const size_t mds_rpc_policy_count;

/*
 * mds_rpc_reply - pack @msg (borrowed; may point into the snapshot) as the
 * call's response message. Returns 0 or MDS_ENOMEM. Calling it again
 * replaces the previous reply (stream chunks).
 */
int mds_rpc_reply(struct mds_rpc_call *c, const ProtobufCMessage *msg);

/*
 * mds_rpc_reply_raw - use @len bytes at @buf (already protobuf-encoded) as
 * the response message. @buf is transferred: malloc'd memory that the call
 * frees (also on error). Returns 0 or MDS_ENOMEM.
 */
int mds_rpc_reply_raw(struct mds_rpc_call *c, void *buf, size_t len);

/*
 * mds_rpc_decode - check and unpack an untrusted request of type @d.
 * Refuses structurally broken protobuf and string fields with a NUL byte
 * (protobuf-c would cut them short silently). On 0, *out is owned by the
 * caller (protobuf_c_message_free_unpacked); on MDS_EINVAL, @msg (caller's,
 * @msgsz bytes) says what is wrong and *out is NULL.
 */
int mds_rpc_decode(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
		   ProtobufCMessage **out, char *msg, size_t msgsz);

/* mds_rpc_status_code - the gRPC status code for an MDS_E* / -errno code. */
grpc_status_code mds_rpc_status_code(int err);

/* mds_rpc_status_name - "NOT_FOUND" etc. for a gRPC status code. */
const char *mds_rpc_status_name(grpc_status_code code);

/* Server facts the Admin service reports (server.c). */
struct mds_server_info {
	uint64_t start_time_ns;
	const char *data_dir;     /* borrowed from the server's options */
	int serving;
	unsigned threads;
	int tls;
	int mtls;
};
void mds_server_get_info(struct mds_server *s, struct mds_server_info *out);
struct mds_store *mds_server_store(struct mds_server *s);
/* The server's gate (rpc_gate.h): identity, policy, rate limits. */
struct mds_gate *mds_server_gate(struct mds_server *s);
/* The checkpointer the Feed service reads, or NULL (server.c). */
struct mds_feed_publisher *mds_server_feed(struct mds_server *s);
/* Changes every time the feed publisher signs and when the server starts
 * stopping: parked streams are woken on each change (see stream_park). */
uint64_t mds_server_wake_gen(struct mds_server *s);

extern const struct mds_rpc_method mds_rpc_feed_methods[];
extern const size_t mds_rpc_feed_count;

/* The Global service (rpc_global.c) and what it reads (server.c). */
extern const struct mds_rpc_method mds_rpc_global_methods[];
extern const size_t mds_rpc_global_count;
struct mds_federation;
/* The subscriber threads, or NULL when no peer is configured. */
struct mds_federation *mds_server_federation(struct mds_server *s);
/* This island's own feed origin (never NULL; "" when the feed is off). */
const char *mds_server_origin(struct mds_server *s);

/* Strings from protobuf-c (NUL-terminated, never NULL) as mds_str. */
static inline struct mds_str mds_rpc_str(const char *s)
{
	struct mds_str r = { s ? s : "", 0 };

	while (r.p[r.len])
		r.len++;
	return r;
}

#endif /* MDS_RPC_H */
