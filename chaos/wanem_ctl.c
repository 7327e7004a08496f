/*
 * wanem_ctl.c - the WAN emulator's control socket and command language.
 *
 * A Unix stream socket; a client sends commands, one per line, and gets one
 * line of JSON back per command, in order: {"ok":true,...} or
 * {"ok":false,"error":"..."}. Commands:
 *
 *   ping
 *   link add NAME LISTEN UPSTREAM [key=value...]
 *   link set NAME key=value...
 *   link show [NAME]          (alias: stats [NAME])
 *   link del NAME
 *
 * A command changes state only when it is valid as a whole. Lines are at
 * most CTL_LINE_MAX - 1 bytes; a longer line gets an error and the
 * connection is closed, so one client cannot make the daemon buffer without
 * bound. The daemon's start-up flags and config file go through
 * mds_wanem_ctl_exec() too, so they speak exactly this language.
 */
#include "wanem.h"
#include "wanem_parse.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CTL_LINE_MAX 4096
#define CTL_ARGS_MAX 32
#define CTL_PENDING_MAX (4 * 1024 * 1024)   /* answers queued for one client */

struct ctl_client {
	uv_pipe_t pipe;
	struct ctl_client *prev, *next;
	size_t len;
	char buf[CTL_LINE_MAX];
};

struct ctl_write {
	uv_write_t req;
	char data[];
};

static struct {
	struct mds_wanem *w;
	uv_pipe_t server;
	int open;
	char path[108];
	struct ctl_client *clients;
} ctl;

/* ---- answers ----------------------------------------------------------- */

static char *answer_error(const char *msg, int *ok)
{
	json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	*ok = 0;
	return s;
}

static char *answer_ok(json_t *o, int *ok)
{
	json_t *a = json_pack("{s:b}", "ok", 1);
	char *s = NULL;

	/* "ok" first, so a reader can tell the outcome from the line's start. */
	if (o && a && json_object_update(a, o) == 0)
		s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	json_decref(a);
	*ok = s != NULL;
	return s;
}

static json_t *conn_json(const struct mds_wanem_conn *c)
{
	return json_pack("{s:I, s:b, s:I, s:I, s:I, s:I}",
			 "id", (json_int_t)c->id, "blackholed", (int)c->blackholed,
			 "c2u_queued", (json_int_t)c->c2u.queued,
			 "u2c_queued", (json_int_t)c->u2c.queued,
			 "c2u_bytes", (json_int_t)c->c2u.delivered,
			 "u2c_bytes", (json_int_t)c->u2c.delivered);
}

static const char *tamper_dir_name(int dir)
{
	return dir == MDS_WANEM_DIR_C2U ? "c2u" : dir == MDS_WANEM_DIR_U2C ? "u2c" : "both";
}

static json_t *link_json(const struct mds_wanem_link *l)
{
	char listen[64], up[64];
	const struct mds_wanem_params *p = &l->p;
	const struct mds_wanem_stats *st = &l->st;
	json_t *conns = json_array(), *o;
	json_int_t queued = 0, active = 0;

	for (const struct mds_wanem_conn *c = l->conns; c; c = c->next) {
		if (c->closing)
			continue;
		json_array_append_new(conns, conn_json(c));
		queued += (json_int_t)(c->c2u.queued + c->u2c.queued);
		active++;
	}
	mds_wanem_format_addr((const struct sockaddr *)&l->listen_addr, listen, sizeof(listen));
	mds_wanem_format_addr((const struct sockaddr *)&l->upstream, up, sizeof(up));
	o = json_pack("{s:s, s:s, s:s, s:f, s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:s, s:b, s:b, s:b,"
		      " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
		      "name", l->name, "listen", listen, "upstream", up,
		      "latency_ms", (double)p->latency_ns / 1e6,
		      "jitter_ms", (double)p->jitter_ns / 1e6,
		      "rate_bps", (json_int_t)p->rate_bps, "buffer", (json_int_t)p->buffer,
		      "reset", p->reset, "corrupt", p->corrupt, "replay", p->replay,
		      "replay_old", p->replay_old, "tamper_after", (json_int_t)p->tamper_after,
		      "tamper_dir", tamper_dir_name(p->tamper_dir),
		      "blackhole", p->blackhole, "partition", p->partition, "refuse", p->refuse,
		      "stats",
		      "conns_active", active,
		      "conns_accepted", (json_int_t)st->conns_accepted,
		      "conns_refused", (json_int_t)st->conns_refused,
		      "conns_blackholed", (json_int_t)st->conns_blackholed,
		      "conns_failed", (json_int_t)st->conns_failed,
		      "resets", (json_int_t)st->resets,
		      "corrupted", (json_int_t)st->corrupted,
		      "replayed", (json_int_t)st->replayed,
		      "replayed_old", (json_int_t)st->replayed_old,
		      "bytes_c2u", (json_int_t)st->bytes_c2u,
		      "bytes_u2c", (json_int_t)st->bytes_u2c,
		      "bytes_discarded", (json_int_t)st->bytes_discarded,
		      "queued", queued,
		      "queued_peak", (json_int_t)st->queued_peak,
		      "conns", conns);
	return o;
}

/* ---- commands ---------------------------------------------------------- */

static char *cmd_link(struct mds_wanem *w, int argc, char **argv, int *ok)
{
	char err[256] = "";
	struct mds_wanem_link *l = NULL;
	const char *sub = argc > 1 ? argv[1] : "";

	if (strcmp(sub, "show") == 0 || strcmp(argv[0], "stats") == 0) {
		int first = strcmp(argv[0], "stats") == 0 ? 1 : 2;
		json_t *arr = json_array();
		if (argc > first + 1)
			return json_decref(arr), answer_error("too many arguments: want link show [NAME]", ok);
		if (argc == first + 1) {
			l = mds_wanem_link_find(w, argv[first]);
			if (!l) {
				snprintf(err, sizeof(err), "no link named '%s'", argv[first]);
				return json_decref(arr), answer_error(err, ok);
			}
			json_array_append_new(arr, link_json(l));
		} else {
			for (l = w->links; l; l = l->next)
				json_array_append_new(arr, link_json(l));
		}
		return answer_ok(json_pack("{s:o}", "links", arr), ok);
	}
	if (strcmp(sub, "add") == 0) {
		struct sockaddr_storage listen, up;
		struct mds_wanem_params p;
		if (argc < 5)
			return answer_error("missing arguments: want link add NAME LISTEN UPSTREAM [key=value...]", ok);
		if (mds_wanem_parse_addr(argv[3], &listen, err, sizeof(err)) < 0 ||
		    mds_wanem_parse_addr(argv[4], &up, err, sizeof(err)) < 0)
			return answer_error(err, ok);
		mds_wanem_params_default(&p);
		if (mds_wanem_params_apply(&p, argc - 5, argv + 5, err, sizeof(err)) < 0)
			return answer_error(err, ok);
		if (mds_wanem_link_add(w, argv[2], &listen, &up, &p, err, sizeof(err)) < 0)
			return answer_error(err, ok);
		l = mds_wanem_link_find(w, argv[2]);
		mds_wanem_log("info", "link_add", "link=%s listen=%s upstream=%s", l->name, argv[3], argv[4]);
		return answer_ok(json_pack("{s:o}", "link", link_json(l)), ok);
	}
	if (strcmp(sub, "set") == 0 || strcmp(sub, "del") == 0) {
		if (argc < 3) {
			snprintf(err, sizeof(err), "missing link name: want link %s NAME", sub);
			return answer_error(err, ok);
		}
		l = mds_wanem_link_find(w, argv[2]);
		if (!l) {
			snprintf(err, sizeof(err), "no link named '%s'", argv[2]);
			return answer_error(err, ok);
		}
	}
	if (strcmp(sub, "set") == 0) {
		struct mds_wanem_params p = l->p;
		if (argc < 4)
			return answer_error("nothing to set: want link set NAME key=value...", ok);
		if (mds_wanem_params_apply(&p, argc - 3, argv + 3, err, sizeof(err)) < 0)
			return answer_error(err, ok);
		mds_wanem_link_set(l, &p);
		mds_wanem_log("info", "link_set", "link=%s latency_ns=%llu jitter_ns=%llu rate_bps=%llu "
			      "buffer=%llu reset=%g corrupt=%g replay=%g replay_old=%g tamper_after=%llu "
			      "tamper_dir=%s blackhole=%d partition=%d refuse=%d",
			      l->name, (unsigned long long)p.latency_ns, (unsigned long long)p.jitter_ns,
			      (unsigned long long)p.rate_bps, (unsigned long long)p.buffer, p.reset,
			      p.corrupt, p.replay, p.replay_old, (unsigned long long)p.tamper_after,
			      tamper_dir_name(p.tamper_dir), p.blackhole, p.partition, p.refuse);
		return answer_ok(json_pack("{s:o}", "link", link_json(l)), ok);
	}
	if (strcmp(sub, "del") == 0) {
		if (argc > 3)
			return answer_error("too many arguments: want link del NAME", ok);
		mds_wanem_log("info", "link_del", "link=%s", l->name);
		mds_wanem_link_del(l);
		return answer_ok(json_object(), ok);
	}
	snprintf(err, sizeof(err), "unknown link command '%s': want add, set, show or del", sub);
	return answer_error(err, ok);
}

char *mds_wanem_ctl_exec(struct mds_wanem *w, char *line, int *ok)
{
	char *argv[CTL_ARGS_MAX + 1];
	int argc = 0;
	char err[128];

	*ok = 0;
	for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (argc == CTL_ARGS_MAX) {
			snprintf(err, sizeof(err), "too many words: at most %d", CTL_ARGS_MAX);
			return answer_error(err, ok);
		}
		argv[argc++] = t;
	}
	if (argc == 0)
		return answer_error("empty command: want ping, link or stats", ok);
	if (strcmp(argv[0], "ping") == 0)
		return answer_ok(json_object(), ok);
	if (strcmp(argv[0], "link") == 0 || strcmp(argv[0], "stats") == 0)
		return cmd_link(w, argc, argv, ok);
	snprintf(err, sizeof(err), "unknown command '%.40s': want ping, link or stats", argv[0]);
	return answer_error(err, ok);
}

/* ---- socket ------------------------------------------------------------ */

static void on_client_closed(uv_handle_t *h)
{
	struct ctl_client *cl = h->data;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		ctl.clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	free(cl);
}

static void client_close(struct ctl_client *cl)
{
	if (!uv_is_closing((uv_handle_t *)&cl->pipe))
		uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
}

static void on_answer_written(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
}

static void send_answer(struct ctl_client *cl, char *ans)
{
	const char *text = ans ? ans : "{\"ok\":false,\"error\":\"out of memory\"}";
	size_t n = strlen(text);
	struct ctl_write *wr = malloc(sizeof(*wr) + n + 1);
	uv_buf_t b;

	if (!wr) {
		free(ans);
		client_close(cl);
		return;
	}
	memcpy(wr->data, text, n);
	wr->data[n] = '\n';
	wr->req.data = wr;
	free(ans);
	b = uv_buf_init(wr->data, (unsigned)(n + 1));
	if (uv_write(&wr->req, (uv_stream_t *)&cl->pipe, &b, 1, on_answer_written) < 0) {
		free(wr);
		client_close(cl);
	}
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *cl = h->data;

	(void)suggested;
	*buf = uv_buf_init(cl->buf + cl->len, (unsigned)(sizeof(cl->buf) - cl->len));
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *cl = s->data;
	char *nl;
	int ok;

	(void)buf;
	if (nread < 0) {
		client_close(cl);
		return;
	}
	cl->len += (size_t)nread;
	while ((nl = memchr(cl->buf, '\n', cl->len))) {
		size_t used = (size_t)(nl - cl->buf) + 1;
		*nl = '\0';
		send_answer(cl, mds_wanem_ctl_exec(ctl.w, cl->buf, &ok));
		memmove(cl->buf, cl->buf + used, cl->len - used);
		cl->len -= used;
	}
	/* A client that sends commands but never reads answers is cut off. */
	if (uv_stream_get_write_queue_size(s) > CTL_PENDING_MAX) {
		uv_read_stop(s);
		client_close(cl);
		return;
	}
	if (cl->len == sizeof(cl->buf)) {
		char err[64];
		snprintf(err, sizeof(err), "command longer than %d bytes", CTL_LINE_MAX - 1);
		send_answer(cl, answer_error(err, &ok));
		uv_read_stop(s);
		client_close(cl);
	}
}

static void on_ctl_connection(uv_stream_t *server, int status)
{
	struct ctl_client *cl;

	if (status < 0)
		return;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	uv_pipe_init(ctl.w->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	cl->next = ctl.clients;
	if (ctl.clients)
		ctl.clients->prev = cl;
	ctl.clients = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0 ||
	    uv_read_start((uv_stream_t *)&cl->pipe, on_client_alloc, on_client_read) < 0)
		client_close(cl);
}

int mds_wanem_ctl_start(struct mds_wanem *w, const char *path)
{
	size_t n = strlen(path);
	struct stat sb;
	int r;

	if (n >= sizeof(ctl.path))
		return -ENAMETOOLONG;
	memcpy(ctl.path, path, n + 1);
	ctl.w = w;
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path);
	uv_pipe_init(w->loop, &ctl.server, 0);
	ctl.open = 1;
	r = uv_pipe_bind(&ctl.server, path);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&ctl.server, 16, on_ctl_connection);
	if (r < 0) {
		uv_close((uv_handle_t *)&ctl.server, NULL);
		ctl.open = 0;
	}
	return r;
}

void mds_wanem_ctl_stop(void)
{
	if (!ctl.open)
		return;
	ctl.open = 0;
	uv_close((uv_handle_t *)&ctl.server, NULL);
	unlink(ctl.path);
	for (struct ctl_client *cl = ctl.clients; cl; cl = cl->next)
		client_close(cl);
}
