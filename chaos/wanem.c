/*
 * wanem.c - the WAN emulator daemon: start-up, logging, signals, shutdown.
 *
 *   wanem --control PATH [--config FILE] [--link 'NAME LISTEN UPSTREAM
 *         [key=value...]']... [--seed N] [--quiet]
 *
 * One uv loop serves every link and the control socket. Configuration given
 * at start (config file lines, then --link flags) is run through the same
 * command language as the control socket (wanem_ctl.c); any bad line stops
 * start-up with its error. SIGTERM and SIGINT close every handle; the loop
 * then runs dry and uv_loop_close() must return 0 (logged as event=stopped
 * loop_close=0), which is what the tests check for a clean shutdown.
 */
#include "wanem.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_quiet;

void mds_wanem_log(const char *level, const char *event, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char when[32];
	va_list ap;

	if (log_quiet && strcmp(level, "info") == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "ts=%s.%03ldZ level=%s event=%s ", when, ts.tv_nsec / 1000000, level, event);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static struct mds_wanem wanem;
static uv_signal_t sig_term, sig_int;

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	if (wanem.stopping)
		return;
	wanem.stopping = 1;
	mds_wanem_log("notice", "stopping", "signal=%s", strsignal(signum));
	mds_wanem_ctl_stop();
	while (wanem.links)
		mds_wanem_link_del(wanem.links);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
}

static int run_line(const char *what, char *line)
{
	int ok;
	char *ans = mds_wanem_ctl_exec(&wanem, line, &ok);

	if (!ok) {
		fprintf(stderr, "wanem: %s: %s\n", what, ans ? ans : "out of memory");
		free(ans);
		return -EINVAL;
	}
	free(ans);
	return 0;
}

static int load_config(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096], what[512];
	int n = 0, r = 0;

	if (!f) {
		fprintf(stderr, "wanem: cannot open config '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	while (r == 0 && fgets(line, sizeof(line), f)) {
		char *p = line;
		n++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		snprintf(what, sizeof(what), "config '%s' line %d", path, n);
		r = run_line(what, p);
	}
	fclose(f);
	return r;
}

static void usage(FILE *to)
{
	fputs("usage: wanem --control PATH [--config FILE] [--link 'NAME LISTEN UPSTREAM [key=value...]']...\n"
	      "             [--seed N] [--quiet]\n"
	      "options of a link: latency= jitter= rate= buffer= reset= corrupt= replay= blackhole= partition= refuse=\n"
	      "see docs/runbook.md\n", to);
}

int main(int argc, char **argv)
{
	const char *control = NULL, *config = NULL;
	uint64_t seed = 0;
	int r, rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
			log_quiet = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "wanem: option '%s' needs a value or is unknown\n", a);
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--control") == 0)
			control = argv[++i];
		else if (strcmp(a, "--config") == 0)
			config = argv[++i];
		else if (strcmp(a, "--seed") == 0)
			seed = strtoull(argv[++i], NULL, 0);
		else if (strcmp(a, "--link") == 0)
			i++;   /* run below, after the loop exists */
		else {
			fprintf(stderr, "wanem: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!control) {
		fprintf(stderr, "wanem: --control PATH is required\n");
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	wanem.loop = uv_default_loop();
	wanem.rng = seed ? seed : (uv_hrtime() ^ ((uint64_t)getpid() << 32)) | 1;
	mds_wanem_log("notice", "starting", "control=%s seed=%llu", control, (unsigned long long)wanem.rng);

	r = mds_wanem_ctl_start(&wanem, control);
	if (r < 0) {
		fprintf(stderr, "wanem: cannot listen on control socket '%s': %s\n", control, uv_strerror(r));
		goto out_stop;
	}
	if (config && load_config(config) < 0)
		goto out_stop;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--link") == 0) {
			char line[4096];
			snprintf(line, sizeof(line), "link add %s", argv[++i]);
			if (run_line("--link", line) < 0)
				goto out_stop;
		} else if (strcmp(argv[i], "--quiet") && strcmp(argv[i], "-q")) {
			i++;
		}
	}
	uv_signal_init(wanem.loop, &sig_term);
	uv_signal_init(wanem.loop, &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	mds_wanem_log("notice", "ready", "control=%s", control);
	rc = 0;
	uv_run(wanem.loop, UV_RUN_DEFAULT);
	goto out_close;

out_stop:
	mds_wanem_ctl_stop();
	while (wanem.links)
		mds_wanem_link_del(wanem.links);
	uv_run(wanem.loop, UV_RUN_DEFAULT);
out_close:
	r = uv_loop_close(wanem.loop);
	mds_wanem_log(r == 0 ? "notice" : "error", "stopped", "loop_close=%d", r);
	if (r != 0)
		rc = 1;
	return rc;
}
