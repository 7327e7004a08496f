/*
 * gw_testutil.h - what the gateway tests share: a real `mds serve` started
 * on a loopback port in a fresh directory (and restarted on the same port),
 * mdsctl for setting up teams and buckets, and a "black hole" listener
 * that accepts TCP but never speaks, to test deadlines against a server
 * that does not answer. Every process started here is stopped by
 * gw_daemon_stop / at exit.
 */
#ifndef MDS_GW_TESTUTIL_H
#define MDS_GW_TESTUTIL_H

#include <sys/types.h>

struct gw_daemon {
	const char *mds_bin;   /* borrowed */
	char dir[256];         /* temp directory; data in DIR/data */
	char data[300];
	char endpoint[64];     /* 127.0.0.1:PORT */
	int port;
	pid_t pid;             /* 0 when stopped */
	const char *const *extra; /* more `mds serve` arguments (borrowed), or NULL */
};

/* Start mds on @port (0 = any free port); returns 0 or -1 (message on stderr). */
int gw_daemon_start(struct gw_daemon *d, const char *mds_bin, int port);
/*
 * gw_daemon_start_ex - as gw_daemon_start, with @extra (NULL-terminated,
 * borrowed until the daemon is cleaned up) appended to `mds serve`, and,
 * when @feed_name is not NULL, `mds keys init --name @feed_name` run first
 * so that the feed signs checkpoints (origin @feed_name).
 */
int gw_daemon_start_ex(struct gw_daemon *d, const char *mds_bin, int port,
		       const char *const *extra, const char *feed_name);
/* Restart on the same data directory and port. */
int gw_daemon_restart(struct gw_daemon *d);
/* Stop: @hard = SIGKILL (a crash), else SIGTERM; waits for the process. */
void gw_daemon_stop(struct gw_daemon *d, int hard);
/* Stop if running and remove the temp directory. */
void gw_daemon_cleanup(struct gw_daemon *d);
/* Run mdsctl --endpoint d->endpoint ARGS... (NULL-terminated); returns its exit status. */
int gw_mdsctl(const struct gw_daemon *d, const char *mdsctl_bin, ...);

/* A listener on 127.0.0.1 that never accepts; returns the fd and fills @port. */
int gw_blackhole_open(int *port);

#endif /* MDS_GW_TESTUTIL_H */
