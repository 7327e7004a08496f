/*
 * http.c - /metrics, /healthz, /readyz over libmicrohttpd (see http.h).
 * Only GET (and HEAD) are answered; anything else is 405, unknown paths 404.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct mds_http {
	struct MHD_Daemon *d;
	struct mds_server *srv;
	int port;
};

int mds_split_hostport(const char *s, char *host, size_t n, int *port)
{
	const char *colon;
	size_t hl;
	char *end;
	long p;

	if (!s || !*s)
		return MDS_EINVAL;
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return MDS_EINVAL;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return MDS_EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= n)
		return MDS_EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 0 || p > 65535)
		return MDS_EINVAL;
	*port = (int)p;
	return 0;
}

int mds_host_is_loopback(const char *host)
{
	struct in_addr a4;

	if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return 0;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code,
			       const char *type, char *body, size_t len,
			       enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **ptr)
{
	struct mds_http *h = cls;

	(void)version;
	(void)upload_data;
	(void)ptr;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond(conn, 405, "text/plain", (char *)"method not allowed\n", 19,
			       MHD_RESPMEM_PERSISTENT);
	if (*upload_size)
		*upload_size = 0;
	if (strcmp(url, "/healthz") == 0)
		return respond(conn, 200, "text/plain", (char *)"ok\n", 3,
			       MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/readyz") == 0) {
		if (mds_server_is_serving(h->srv))
			return respond(conn, 200, "text/plain", (char *)"ready\n", 6,
				       MHD_RESPMEM_PERSISTENT);
		return respond(conn, 503, "text/plain", (char *)"not ready: shutting down\n", 25,
			       MHD_RESPMEM_PERSISTENT);
	}
	if (strcmp(url, "/metrics") == 0) {
		char *body;
		size_t len;

		if (mds_server_metrics_text(h->srv, &body, &len) != 0)
			return respond(conn, 500, "text/plain", (char *)"out of memory\n", 14,
				       MHD_RESPMEM_PERSISTENT);
		return respond(conn, 200, "text/plain; version=0.0.4", body, len,
			       MHD_RESPMEM_MUST_FREE);
	}
	return respond(conn, 404, "text/plain", (char *)"not found\n", 10,
		       MHD_RESPMEM_PERSISTENT);
}

int mds_http_start(struct mds_http **out, const char *listen, struct mds_server *srv,
		   struct mds_status *st)
{
	struct mds_http *h;
	struct addrinfo hints, *ai = NULL;
	char host[256], port_s[16];
	int port;
	const union MHD_DaemonInfo *info;

	*out = NULL;
	if (mds_split_hostport(listen, host, sizeof(host), &port) != 0)
		return mds_status_set(st, MDS_EINVAL, "cannot parse HTTP address '%s': want HOST:PORT",
				      listen);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port_s, sizeof(port_s), "%d", port);
	if (getaddrinfo(host, port_s, &hints, &ai) != 0 || !ai)
		return mds_status_set(st, MDS_EINVAL, "HTTP address '%s' is not a numeric IP:PORT",
				      listen);
	h = calloc(1, sizeof(*h));
	if (!h) {
		freeaddrinfo(ai);
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	}
	h->srv = srv;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				(ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, on_request, h,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!h->d) {
		free(h);
		return mds_status_set(st, MDS_EINVAL, "cannot listen for HTTP on '%s' (in use?)",
				      listen);
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	*out = h;
	return 0;
}

int mds_http_port(const struct mds_http *h)
{
	return h->port;
}

void mds_http_stop(struct mds_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
