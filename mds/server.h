/*
 * server.h - the island's gRPC server (gRPC C core, protobuf-c).
 *
 * One completion queue per worker thread; each thread keeps request slots
 * posted for every registered method (Namespace, Admin) plus one generic
 * slot that answers unknown methods with UNIMPLEMENTED. Reads run inline on
 * the worker in a snapshot of that worker's mds_reader; mutations go to the
 * store's writer and are answered from the writer thread once durable.
 * The server borrows the store: close the store only after
 * mds_server_free().
 */
#ifndef MDS_SERVER_H
#define MDS_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"
#include "mds/store.h"

struct mds_server;
struct mds_feed_publisher;
struct mds_feed_compactor;

struct mds_server_opts {
	const char *listen;        /* "HOST:PORT"; port 0 picks a free one */
	unsigned threads;          /* worker threads; 0 = mds_server_auto_threads() */
	unsigned slots;            /* request slots per method per thread; 0 = 16 */
	size_t max_message;        /* bytes a request may have; 0 = 4 MiB */
	const char *tls_ca;        /* PEM file of client CAs (mTLS); NULL = none */
	const char *tls_cert;      /* PEM server certificate chain; NULL = plaintext */
	const char *tls_key;       /* PEM private key of tls_cert */
	int require_client_cert;   /* mTLS: refuse clients without a cert from tls_ca */
	const char *data_dir;      /* reported by Admin.GetStatus (borrowed) */
	/* governance (rpc_gate.h); all borrowed for the server's lifetime */
	int auth_mode;             /* enum mds_gate_mode: 0 dev (trust every caller), 1 jwt */
	struct mds_auth *auth;     /* jwt mode: the token authority */
	const char *gateways;      /* comma-separated mTLS identities with the gateway role */
	const char *rate_limits;   /* per-team limits, "TEAM:read=R/B,write=R/B,list=R/B;..." */
	const char *admins;        /* comma-separated subjects with admin on the island */
	unsigned refusal_hold_ms;  /* with rate_limits: answer a refusal after at least
				    * this long (rpc_pacer.h); 0 = at once */
	struct mds_feed_publisher *feed; /* signed checkpoints for the Feed service
					  * (borrowed; must outlive the server); NULL = none */
	struct mds_federation *federation; /* peers for the Global service (borrowed;
					    * must outlive the server); NULL = none */
	const char *origin;        /* this island's feed origin (borrowed); NULL = none */
	struct mds_feed_compactor *feed_compactor; /* leaf retention, for /metrics
						    * (borrowed, outlives the server); NULL = none */
};

/*
 * mds_server_start - bind, register the methods and start the workers.
 * @out: receives the server (owned; free with mds_server_free)
 * @store: borrowed; must outlive the server
 * @o: borrowed for the server's lifetime (strings included)
 * Returns 0, MDS_EINVAL (bad options, unreadable TLS files, cannot bind:
 * the message says which), MDS_ENOMEM, MDS_EBUSY (no reader slot).
 */
/*
 * Worker threads when none are configured: half the online CPUs, at least
 * 1, at most 8. Each worker is one more thread polling gRPC's shared
 * transports; on 2 CPUs, where the writer, gRPC's executor and the
 * clients need the other one, a second worker cost more than it gave
 * (docs/benchmarks.md, "Worker threads").
 */
unsigned mds_server_auto_threads(void);

int mds_server_start(struct mds_server **out, struct mds_store *store,
		     const struct mds_server_opts *o, struct mds_status *st);

/* mds_server_port - the bound gRPC port (useful with port 0). */
int mds_server_port(const struct mds_server *s);

/* mds_server_is_serving - 1 while accepting calls, 0 once stopping. */
int mds_server_is_serving(const struct mds_server *s);

/*
 * mds_server_stop - graceful stop: refuse new calls, let in-flight calls
 * finish for up to @grace_ms, then cancel the rest; join the workers.
 * Idempotent. Mutations already handed to the writer still complete.
 */
void mds_server_stop(struct mds_server *s, unsigned grace_ms);

/* mds_server_free - stop (grace 0) if needed and free. NULL is a no-op. */
void mds_server_free(struct mds_server *s);

/*
 * mds_server_metrics_text - Prometheus text exposition of the server's and
 * the store's figures. @out receives a malloc'd buffer (owned by the
 * caller, free()), @len its length. Returns 0 or MDS_ENOMEM.
 */
int mds_server_metrics_text(struct mds_server *s, char **out, size_t *len);

#endif /* MDS_SERVER_H */
