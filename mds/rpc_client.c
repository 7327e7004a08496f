/*
 * rpc_client.c - blocking mds.v1 calls over the gRPC C core (see
 * rpc_client.h). Each call creates a pluck completion queue, runs its
 * batches to completion and destroys the queue, so calls from different
 * threads never share state beyond the (thread-safe) channel.
 */
#include "rpc_client.h"
#include "rpc_bytes.h"

#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

struct mds_client {
	grpc_channel *ch;
	unsigned timeout_ms;
	char *auth;             /* "Bearer <token>" or NULL */
	grpc_metadata md;       /* the authorization header, when auth is set */
};

/* Attach the authorization header (if any) to a SEND_INITIAL_METADATA op. */
static void auth_md(struct mds_client *c, grpc_op *op)
{
	if (!c->auth)
		return;
	op->data.send_initial_metadata.count = 1;
	op->data.send_initial_metadata.metadata = &c->md;
}

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

/* grpc_init is reference counted; clients share one reference for the
 * process's life, taken once even when threads open clients at once. */
static void grpc_init_once(void)
{
	grpc_init();
}

int mds_client_error_code(int grpc_code)
{
	switch (grpc_code) {
	case GRPC_STATUS_OK: return 0;
	case GRPC_STATUS_NOT_FOUND: return MDS_ENOTFOUND;
	case GRPC_STATUS_ALREADY_EXISTS: return MDS_EEXIST;
	case GRPC_STATUS_FAILED_PRECONDITION: return MDS_EPRECOND;
	case GRPC_STATUS_INVALID_ARGUMENT: return MDS_EINVAL;
	case GRPC_STATUS_OUT_OF_RANGE: return MDS_EINVAL;
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return MDS_EBUSY;
	case GRPC_STATUS_UNAVAILABLE: return MDS_EUNAVAIL;
	case GRPC_STATUS_DEADLINE_EXCEEDED: return MDS_ETIMEDOUT;
	case GRPC_STATUS_PERMISSION_DENIED: return MDS_EDENIED;
	case GRPC_STATUS_UNAUTHENTICATED: return MDS_EDENIED;
	case GRPC_STATUS_DATA_LOSS: return MDS_ECORRUPT;
	default: return MDS_EINTERNAL;
	}
}

static char *slurp(const char *path, struct mds_status *st)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		mds_status_set(st, MDS_EINVAL, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - n < 4096) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > (1 << 22) || !(nb = realloc(buf, cap))) {
				mds_status_set(st, MDS_EINVAL, "cannot read '%s'", path);
				free(buf);
				buf = NULL;
				goto out;
			}
			buf = nb;
		}
		size_t k = fread(buf + n, 1, cap - n - 1, f);

		n += k;
		if (k == 0)
			break;
	}
	buf[n] = 0;
out:
	fclose(f);
	return buf;
}

int mds_client_open(struct mds_client **out, const struct mds_client_opts *o,
		    struct mds_status *st)
{
	struct mds_client *c;
	grpc_channel_credentials *creds;
	char *ca = NULL, *cert = NULL, *key = NULL;
	grpc_arg args[1];
	grpc_channel_args cargs = { 1, args };
	int rc = 0;

	*out = NULL;
	pthread_once(&grpc_once, grpc_init_once);
	if ((o->tls_cert != NULL) != (o->tls_key != NULL))
		return mds_status_set(st, MDS_EINVAL, "a client certificate needs both "
				      "--tls-cert and --tls-key");
	if (o->tls || o->tls_ca || o->tls_cert) {
		grpc_ssl_pem_key_cert_pair pair;

		if (o->tls_ca && !(ca = slurp(o->tls_ca, st)))
			return MDS_EINVAL;
		if (o->tls_cert && (!(cert = slurp(o->tls_cert, st)) ||
				    !(key = slurp(o->tls_key, st)))) {
			rc = MDS_EINVAL;
			goto out;
		}
		pair.private_key = key;
		pair.cert_chain = cert;
		creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	} else {
		creds = grpc_insecure_credentials_create();
	}
	if (!creds) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot build channel credentials");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		grpc_channel_credentials_release(creds);
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = 64 << 20;
	c->ch = grpc_channel_create(o->endpoint ? o->endpoint : "127.0.0.1:7420", creds, &cargs);
	grpc_channel_credentials_release(creds);
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	if (o->token) {
		if (asprintf(&c->auth, "Bearer %s", o->token) < 0) {
			c->auth = NULL;
			mds_client_close(c);
			c = NULL;
			rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
			goto out;
		}
		c->md.key = grpc_slice_from_static_string("authorization");
		c->md.value = grpc_slice_from_static_string(c->auth);
	}
	*out = c;
out:
	free(ca);
	free(cert);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	return rc;
}

void mds_client_close(struct mds_client *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->ch);
	if (c->auth) {
		explicit_bzero(c->auth, strlen(c->auth));
		free(c->auth);
	}
	free(c);
}

static gpr_timespec deadline_in(unsigned ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
			    gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Run one batch on @call and wait for it on @cq. */
static int run_batch(grpc_call *call, grpc_completion_queue *cq, const grpc_op *ops,
		     size_t n, void *tag)
{
	grpc_event ev;

	if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return -1;
	ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success ? 0 : -1;
}

static void finish_status(struct mds_client_status *cs, grpc_status_code code,
			  grpc_slice details)
{
	if (!cs)
		return;
	cs->grpc_code = code;
	size_t n = GRPC_SLICE_LENGTH(details);

	if (n >= sizeof(cs->msg))
		n = sizeof(cs->msg) - 1;
	memcpy(cs->msg, GRPC_SLICE_START_PTR(details), n);
	cs->msg[n] = 0;
}

static void destroy_cq(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_completion_queue_destroy(cq);
}

int mds_client_call(struct mds_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
		    struct mds_client_status *cs)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice mslice = grpc_slice_from_static_string(method);
	grpc_call *call;
	grpc_op ops[6];
	grpc_metadata_array init_md, trail_md;
	grpc_byte_buffer *send = mds_rpc_pack(req), *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	int tag, rc;

	*resp = NULL;
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice, NULL,
					deadline_in(c->timeout_ms), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	auth_md(c, &ops[0]);
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
	if (run_batch(call, cq, ops, 6, &tag) != 0) {
		code = GRPC_STATUS_INTERNAL;
		grpc_slice_unref(details);
		details = grpc_slice_from_static_string("the call could not be run");
	}
	finish_status(cs, code, details);
	rc = mds_client_error_code(code);
	if (rc == 0) {
		if (!recv || !(*resp = mds_rpc_unpack(resp_desc, recv))) {
			rc = MDS_ECORRUPT;
			if (cs)
				snprintf(cs->msg, sizeof(cs->msg), "the response is not a %s",
					 resp_desc->name);
		}
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_call_unref(call);
	destroy_cq(cq);
	return rc;
}

int mds_client_stream(struct mds_client *c, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_desc, unsigned timeout_ms,
		      mds_client_msg_fn on_msg, void *arg, struct mds_client_status *cs)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_slice mslice = grpc_slice_from_static_string(method);
	grpc_call *call;
	grpc_op ops[4];
	grpc_metadata_array init_md, trail_md;
	grpc_byte_buffer *send = mds_rpc_pack(req), *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	int tag, rc = 0, cb_rc = 0;

	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice, NULL,
					deadline_in(timeout_ms ? timeout_ms : c->timeout_ms),
					NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	auth_md(c, &ops[0]);
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	run_batch(call, cq, ops, 4, &tag);   /* failure shows in the status below */
	for (;;) {
		ProtobufCMessage *m;

		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_RECV_MESSAGE;
		ops[0].data.recv_message.recv_message = &recv;
		if (run_batch(call, cq, ops, 1, &tag) != 0 || !recv)
			break;
		m = mds_rpc_unpack(resp_desc, recv);
		grpc_byte_buffer_destroy(recv);
		recv = NULL;
		if (!m) {
			cb_rc = MDS_ECORRUPT;
			grpc_call_cancel(call, NULL);
			break;
		}
		cb_rc = on_msg(arg, m);
		protobuf_c_message_free_unpacked(m, NULL);
		if (cb_rc) {
			grpc_call_cancel(call, NULL);
			break;
		}
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[0].data.recv_status_on_client.status = &code;
	ops[0].data.recv_status_on_client.status_details = &details;
	run_batch(call, cq, ops, 1, &tag);
	finish_status(cs, code, details);
	if (cb_rc) {
		rc = cb_rc;
		if (cs && cb_rc == MDS_ECORRUPT)
			snprintf(cs->msg, sizeof(cs->msg), "a response is not a %s", resp_desc->name);
	} else {
		rc = mds_client_error_code(code);
	}
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_call_unref(call);
	destroy_cq(cq);
	return rc;
}
