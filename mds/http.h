/*
 * http.h - the daemon's HTTP side (libmicrohttpd): /metrics (Prometheus
 * text), /healthz (the process is alive) and /readyz (the store is open and
 * the gRPC server accepts calls). Served by one internal thread; answers
 * are small and computed per request.
 */
#ifndef MDS_HTTP_H
#define MDS_HTTP_H

#include "mds/error.h"
#include "server.h"

struct mds_http;

/*
 * mds_http_start - listen on @listen ("HOST:PORT", numeric host, port 0
 * picks one). @srv is borrowed and must outlive the HTTP side (stop HTTP
 * first). Returns 0, MDS_EINVAL (bad address, cannot bind; message says).
 */
int mds_http_start(struct mds_http **out, const char *listen, struct mds_server *srv,
		   struct mds_status *st);

/* mds_http_port - the bound port. */
int mds_http_port(const struct mds_http *h);

/* mds_http_stop - stop and free. NULL is a no-op. */
void mds_http_stop(struct mds_http *h);

/*
 * mds_split_hostport - split "HOST:PORT" / "[V6]:PORT" into @host (caller's
 * buffer of @n bytes) and @port. Returns 0 or MDS_EINVAL.
 */
int mds_split_hostport(const char *s, char *host, size_t n, int *port);

/* mds_host_is_loopback - 1 for 127.0.0.0/8, ::1 and "localhost". */
int mds_host_is_loopback(const char *host);

#endif /* MDS_HTTP_H */
