/*
 * gw_rpc.c - the transport under the grpc: provider: one gRPC channel per
 * endpoint and a blocking unary call with a per-call deadline.
 *
 * Why not mds/rpc_client.c's mds_client_call: a gateway passes a deadline
 * with every call, and after mds restarts a channel must be ready again
 * within the gateway's deadlines. mds_client_call has one timeout per
 * client and default channel arguments (gRPC waits 1 s and more before it
 * reconnects). Here each call gets its own deadline and the channel is
 * created with a short reconnect backoff (first 100 ms, at most 2 s) and
 * keepalive, so that the provider's retries find the restarted server.
 * (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: gRPC also uses it as
 * the connect timeout, and a short one fails calls to a slow server with
 * UNAVAILABLE instead of letting them run to their deadline.)
 * Status codes are translated by mds_client_error_code, the project's one
 * gRPC -> MDS_E* table.
 *
 * Each call creates its own pluck completion queue and destroys it before
 * returning, so calls from many threads share nothing but the channel,
 * which gRPC makes thread-safe.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "gw_rpc.h"
#include "rpc_client.h"
#include "rpc_bytes.h"

struct gw_rpc {
	grpc_channel *ch;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_grpc(void)
{
	grpc_init();
}

/* Read a PEM file (at most 4 MiB) into a NUL-terminated string (owned). */
static int read_pem(const char *path, char **out, struct mdsgw_status *st)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	*out = NULL;
	if (!f)
		return gw_status_set(st, MDSGW_EINVAL, "cannot open TLS file '%s': %s", path,
				     strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (4L << 20) ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return gw_status_set(st, MDSGW_EINVAL, "cannot read TLS file '%s'", path);
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return gw_status_set(st, buf ? MDSGW_EINVAL : MDSGW_ENOMEM,
				     "cannot read TLS file '%s'", path);
	}
	buf[n] = '\0';
	fclose(f);
	*out = buf;
	return 0;
}

int gw_rpc_open(const char *endpoint, const struct gw_conf *c, struct gw_rpc **out,
		struct mdsgw_status *st)
{
	grpc_channel_credentials *creds = NULL;
	char *ca = NULL, *cert = NULL, *key = NULL;
	grpc_arg args[4];
	grpc_channel_args cargs = { 4, args };
	struct gw_rpc *r;
	int rc = 0;

	*out = NULL;
	pthread_once(&init_once, init_grpc);
	if (c->tls) {
		grpc_ssl_pem_key_cert_pair pair;

		if ((c->ca && (rc = read_pem(c->ca, &ca, st))) ||
		    (c->cert && (rc = read_pem(c->cert, &cert, st))) ||
		    (c->key && (rc = read_pem(c->key, &key, st))))
			goto out;
		pair.private_key = key;
		pair.cert_chain = cert;
		creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	} else {
		creds = grpc_insecure_credentials_create();
	}
	if (!creds) {
		rc = gw_status_set(st, MDSGW_EINVAL, "cannot build channel credentials for '%s'",
				   endpoint);
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = gw_status_set(st, MDSGW_ENOMEM, "out of memory opening a channel to '%s'",
				   endpoint);
		goto out;
	}
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = 64 << 20;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
	args[1].value.integer = 100;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
	args[2].value.integer = 2000;
	args[3].type = GRPC_ARG_INTEGER;
	args[3].key = (char *)GRPC_ARG_KEEPALIVE_TIME_MS;
	args[3].value.integer = 30000;
	r->ch = grpc_channel_create(endpoint, creds, &cargs);
	*out = r;
out:
	if (creds)
		grpc_channel_credentials_release(creds);
	free(ca);
	free(cert);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	return rc;
}

void gw_rpc_close(struct gw_rpc *r)
{
	if (!r)
		return;
	grpc_channel_destroy(r->ch);
	free(r);
}

/* A decimal millisecond count (at most 1 hour; anything else: 0). */
static uint32_t parse_ms(grpc_slice v)
{
	const unsigned char *p = GRPC_SLICE_START_PTR(v);
	size_t n = GRPC_SLICE_LENGTH(v);
	uint64_t ms = 0;

	if (n == 0 || n > 10)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		ms = ms * 10 + (uint64_t)(p[i] - '0');
	}
	return ms > 3600000 ? 0 : (uint32_t)ms;
}

static int has_key(const grpc_metadata_array *md, const char *key)
{
	for (size_t i = 0; i < md->count; i++)
		if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0)
			return 1;
	return 0;
}

int gw_rpc_unary(struct gw_rpc *r, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		 int64_t left_ns, int wait_for_ready, char *msg, size_t msg_size,
		 uint32_t *retry_after_ms)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice mslice = grpc_slice_from_static_string(method);
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_nanos(left_ns, GPR_TIMESPAN));
	grpc_metadata_array init_md, trail_md;
	grpc_byte_buffer *send = mds_rpc_pack(req), *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_call *call;
	grpc_op ops[6];
	grpc_event ev;
	int tag, rc;
	size_t n;

	*resp = NULL;
	msg[0] = '\0';
	*retry_after_ms = 0;
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	call = grpc_channel_create_call(r->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice, NULL,
					deadline, NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (wait_for_ready)
		ops[0].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY |
			       GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[5].data.recv_status_on_client.status = &code;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
		code = GRPC_STATUS_INTERNAL;
		snprintf(msg, msg_size, "the call could not be started");
	} else {
		/* The call's own deadline ends it; the queue needs no timeout. */
		ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
			code = GRPC_STATUS_INTERNAL;
			snprintf(msg, msg_size, "the call did not complete");
		}
	}
	if (!msg[0]) {
		n = GRPC_SLICE_LENGTH(details);
		if (n >= msg_size)
			n = msg_size - 1;
		memcpy(msg, GRPC_SLICE_START_PTR(details), n);
		msg[n] = '\0';
	}
	rc = mds_client_error_code(code);
	/* The island's own code, when the server sent it, is exact (a quota
	 * refusal and a busy writer share RESOURCE_EXHAUSTED). A rate limit
	 * refusal from the gate carries no code but a retry-after-ms hint
	 * (docs/api.md): that is MDS_ERATE. */
	for (size_t i = 0; rc != 0 && i < trail_md.count; i++) {
		const grpc_slice *k = &trail_md.metadata[i].key, *v = &trail_md.metadata[i].value;

		if (grpc_slice_str_cmp(*k, "mds-error") == 0) {
			int exact = mds_error_from_name((const char *)GRPC_SLICE_START_PTR(*v),
							GRPC_SLICE_LENGTH(*v));

			if (exact)
				rc = exact;
		} else if (grpc_slice_str_cmp(*k, "retry-after-ms") == 0 &&
			   code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
			/* 0 (a server that held the refusal until a token was due)
			 * still says "rate limited, go again": at least 1 ms */
			uint32_t ms = parse_ms(*v);

			*retry_after_ms = ms ? ms : 1;
		}
	}
	if (rc == MDSGW_EBUSY && *retry_after_ms && !has_key(&trail_md, "mds-error"))
		rc = MDSGW_ERATE;
	if (rc == 0 && (!recv || !(*resp = mds_rpc_unpack(resp_desc, recv)))) {
		rc = MDSGW_ECORRUPT;
		snprintf(msg, msg_size, "the answer is not a %s", resp_desc->name);
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(cq);
	return rc;
}

/* ---- server streaming ---- */

struct gw_rpc_stream {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_metadata_array init_md;
	int got_md, ended;
};

static int stream_batch(struct gw_rpc_stream *s, grpc_op *ops, size_t n)
{
	grpc_event ev;
	int tag;

	if (grpc_call_start_batch(s->call, ops, n, &tag, NULL) != GRPC_CALL_OK)
		return -1;
	ev = grpc_completion_queue_pluck(s->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success ? 0 : -1;
}

int gw_rpc_stream_open(struct gw_rpc *r, const char *method, const ProtobufCMessage *req,
		       int64_t left_ns, struct gw_rpc_stream **out)
{
	struct gw_rpc_stream *s = calloc(1, sizeof(*s));
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_nanos(left_ns, GPR_TIMESPAN));
	grpc_byte_buffer *send;
	grpc_op ops[3];
	int rc;

	*out = NULL;
	if (!s)
		return MDSGW_ENOMEM;
	s->cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_metadata_array_init(&s->init_md);
	s->call = grpc_channel_create_call(r->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
					   grpc_slice_from_static_string(method), NULL, deadline,
					   NULL);
	send = mds_rpc_pack(req);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	/* A failed send (server unreachable) shows in the status next reads. */
	rc = stream_batch(s, ops, 3);
	(void)rc;
	grpc_byte_buffer_destroy(send);
	*out = s;
	return 0;
}

int gw_rpc_stream_next(struct gw_rpc_stream *s, const ProtobufCMessageDescriptor *d,
		       ProtobufCMessage **msg, char *err, size_t errsz)
{
	grpc_byte_buffer *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_metadata_array trail;
	grpc_op op, ops[2];
	size_t n;
	int rc;

	*msg = NULL;
	err[0] = '\0';
	if (s->ended)
		return 0;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_MESSAGE;
	ops[0].data.recv_message.recv_message = &recv;
	ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
	if (stream_batch(s, ops, s->got_md ? 1 : 2) == 0 && recv) {
		s->got_md = 1;
		*msg = mds_rpc_unpack(d, recv);
		grpc_byte_buffer_destroy(recv);
		if (!*msg) {
			snprintf(err, errsz, "a stream message is not a %s", d->name);
			return MDSGW_ECORRUPT;
		}
		return 0;
	}
	/* End of stream (or a failure): the status says which. */
	s->ended = 1;
	grpc_metadata_array_init(&trail);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &trail;
	op.data.recv_status_on_client.status = &code;
	op.data.recv_status_on_client.status_details = &details;
	if (stream_batch(s, &op, 1) != 0)
		code = GRPC_STATUS_INTERNAL;
	rc = mds_client_error_code(code);
	n = GRPC_SLICE_LENGTH(details);
	if (n >= errsz)
		n = errsz - 1;
	memcpy(err, GRPC_SLICE_START_PTR(details), n);
	err[n] = '\0';
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&trail);
	return rc;
}

void gw_rpc_stream_cancel(struct gw_rpc_stream *s)
{
	grpc_call_cancel(s->call, NULL);
}

void gw_rpc_stream_close(struct gw_rpc_stream *s)
{
	if (!s)
		return;
	if (!s->ended) {
		grpc_status_code code;
		grpc_slice details = grpc_empty_slice();
		grpc_metadata_array trail;
		grpc_op op;

		/* cancel, and collect the status so that the call is done */
		grpc_call_cancel(s->call, NULL);
		grpc_metadata_array_init(&trail);
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		op.data.recv_status_on_client.trailing_metadata = &trail;
		op.data.recv_status_on_client.status = &code;
		op.data.recv_status_on_client.status_details = &details;
		stream_batch(s, &op, 1);
		grpc_slice_unref(details);
		grpc_metadata_array_destroy(&trail);
	}
	grpc_metadata_array_destroy(&s->init_md);
	grpc_call_unref(s->call);
	grpc_completion_queue_shutdown(s->cq);
	grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(s->cq);
	free(s);
}
