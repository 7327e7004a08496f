/*
 * rpc_client.h - a small blocking client for the mds.v1 services over the
 * gRPC C core, shared by mdsctl, the integration tests and the benchmark
 * (and, later, libmdsgw's remote provider).
 *
 * One struct mds_client holds one channel. Calls are thread-safe: each call
 * uses its own completion queue, so several threads may call through one
 * client at once. Every call has a deadline (the client's timeout).
 */
#ifndef MDS_RPC_CLIENT_H
#define MDS_RPC_CLIENT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "mds/error.h"

struct mds_client;

struct mds_client_opts {
	const char *endpoint;   /* "HOST:PORT"; NULL = 127.0.0.1:7420 */
	int tls;                /* use TLS (implied by any tls_* file) */
	const char *tls_ca;     /* PEM roots that the server's certificate must chain to */
	const char *tls_cert;   /* PEM client certificate (mutual TLS) */
	const char *tls_key;    /* PEM key of tls_cert */
	unsigned timeout_ms;    /* per call; 0 = 10,000 */
	const char *token;      /* bearer token sent as `authorization: Bearer ...` on
				 * every call (copied); NULL = none */
};

/* Result of a call beyond the return code: the gRPC status and message. */
struct mds_client_status {
	int grpc_code;                 /* grpc_status_code; 0 = OK */
	char msg[MDS_STATUS_MSG_MAX];  /* the server's message (or the transport's) */
};

/*
 * mds_client_open - create a channel (no connection is made until the first
 * call). @o and its strings are borrowed during the call only.
 * Returns 0, MDS_EINVAL (unreadable TLS file; message says which), MDS_ENOMEM.
 */
int mds_client_open(struct mds_client **out, const struct mds_client_opts *o,
		    struct mds_status *st);

/* mds_client_close - close the channel. NULL is a no-op. */
void mds_client_close(struct mds_client *c);

/*
 * mds_client_call - one unary call.
 * @method: "/mds.v1.Namespace/HeadObject" (borrowed)
 * @req: borrowed request message
 * @resp_desc: the response type
 * @resp: on 0, receives the unpacked response (owned by the caller; free
 *   with protobuf_c_message_free_unpacked(*resp, NULL))
 * @cs: filled with the gRPC status and message (may be NULL)
 * Returns 0 or the MDS_E* code matching the gRPC status (NOT_FOUND ->
 * MDS_ENOTFOUND, ALREADY_EXISTS -> MDS_EEXIST, FAILED_PRECONDITION ->
 * MDS_EPRECOND, INVALID_ARGUMENT -> MDS_EINVAL, RESOURCE_EXHAUSTED ->
 * MDS_EBUSY, UNAVAILABLE -> MDS_EUNAVAIL, DEADLINE_EXCEEDED ->
 * MDS_ETIMEDOUT, PERMISSION_DENIED/UNAUTHENTICATED -> MDS_EDENIED,
 * anything else -> MDS_EINTERNAL; a response that does not decode ->
 * MDS_ECORRUPT).
 */
int mds_client_call(struct mds_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		    struct mds_client_status *cs);

/*
 * mds_client_stream - a server-streaming call; @on_msg is called for each
 * response message (borrowed: freed after the callback returns). A non-zero
 * return from @on_msg cancels the call and is returned. Otherwise returns
 * as mds_client_call. The deadline covers the whole stream, so pass a
 * @timeout_ms large enough for it (0 = the client's).
 */
typedef int (*mds_client_msg_fn)(void *arg, const ProtobufCMessage *msg);
int mds_client_stream(struct mds_client *c, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
		      mds_client_msg_fn on_msg, void *arg, struct mds_client_status *cs);

/* mds_client_error_code - the MDS_E* code for a gRPC status code. */
int mds_client_error_code(int grpc_code);

#endif /* MDS_RPC_CLIENT_H */
