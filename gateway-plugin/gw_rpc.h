/*
 * gw_rpc.h - gRPC transport of libmdsgw (gw_rpc.c): a channel per endpoint
 * and unary calls with a per-call deadline. Only gw_rpc.c and gw_grpc.c
 * know gRPC and protobuf-c types.
 */
#ifndef MDS_GW_RPC_H
#define MDS_GW_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "gw_internal.h"
#include "types.pb-c.h"

struct gw_rpc;

/*
 * gw_rpc_open - a channel to @endpoint (borrowed) with the TLS settings of
 * @c (tls, ca, cert, key). No connection is made here. Returns 0,
 * MDSGW_EINVAL (a TLS file cannot be read; @st names it), MDSGW_ENOMEM.
 */
int gw_rpc_open(const char *endpoint, const struct gw_conf *c, struct gw_rpc **out,
		struct mdsgw_status *st);
void gw_rpc_close(struct gw_rpc *r);

/*
 * gw_rpc_unary - one unary call that ends after at most @left_ns. With
 * @wait_for_ready the call waits (until its deadline) for the channel to
 * connect instead of failing at once with UNAVAILABLE while it cannot.
 * @req: borrowed; @resp: on 0, the unpacked answer (owned by the caller:
 * protobuf_c_message_free_unpacked). @msg receives the server's or the
 * transport's message. Returns 0 or the MDS_E* code of the gRPC status
 * (MDSGW_EUNAVAIL, MDSGW_ETIMEDOUT, MDSGW_ENOTFOUND, ...), MDSGW_ECORRUPT
 * for an answer that does not decode, MDSGW_ERATE for RESOURCE_EXHAUSTED
 * with a retry-after-ms hint and no island code (the gate's rate limit).
 * @retry_after_ms receives that hint of a RESOURCE_EXHAUSTED answer (0:
 * none; a hint of 0 or one that does not parse is reported as 1).
 */
int gw_rpc_unary(struct gw_rpc *r, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		 int64_t left_ns, int wait_for_ready, char *msg, size_t msg_size,
		 uint32_t *retry_after_ms);

/*
 * gw_grpc_call - one call of the grpc: client (gw_grpc.c) with the
 * caller's deadline: reads (@idempotent) wait for the connection and are
 * retried after UNAVAILABLE and after a busy answer with a retry-after
 * hint that fits; writes are sent once. @handler consumes the (borrowed)
 * answer. @what names the operation in messages. Returns 0, the island's
 * code, or what @handler returned, with @st set.
 */
typedef int (*gw_handler_fn)(void *arg, const ProtobufCMessage *resp);
int gw_grpc_call(struct gw_grpc *g, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, gw_handler_fn handler, void *harg,
		 int idempotent, int64_t deadline_ns, const char *what, struct mdsgw_status *st);

/* gw_grpc_record_to_object - @r (borrowed) as a struct mdsgw_object with
 * @origin (NULL: none); @scratch as in gw_object_build. */
int gw_grpc_record_to_object(const Mds__V1__ObjectRecord *r, const char *origin,
			     struct mdsgw_object *out, void **scratch, size_t *cap);

/*
 * A server-streaming call (the feed follower's Subscribe).
 * gw_rpc_stream_open starts @method with @req (borrowed during the call)
 * and a deadline @left_ns from now; returns 0 or MDSGW_ENOMEM (a server
 * that cannot be reached shows in the first next). gw_rpc_stream_next waits for the next message: 0 with
 * *@msg owned by the caller (protobuf_c_message_free_unpacked), 0 with
 * *@msg NULL when the stream ended with OK, or the status's code with
 * @err naming it. gw_rpc_stream_cancel may be called from any thread
 * (the pending next then fails). gw_rpc_stream_close frees the call.
 */
struct gw_rpc_stream;
int gw_rpc_stream_open(struct gw_rpc *r, const char *method, const ProtobufCMessage *req,
		       int64_t left_ns, struct gw_rpc_stream **out);
int gw_rpc_stream_next(struct gw_rpc_stream *s, const ProtobufCMessageDescriptor *d,
		       ProtobufCMessage **msg, char *err, size_t errsz);
void gw_rpc_stream_cancel(struct gw_rpc_stream *s);
void gw_rpc_stream_close(struct gw_rpc_stream *s);

#endif /* MDS_GW_RPC_H */
