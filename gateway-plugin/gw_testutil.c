/*
 * gw_testutil.c - daemons and listeners for the gateway tests (see
 * gw_testutil.h).
 */
#include "gw_testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int spawn(struct gw_daemon *d, int port)
{
	char listen_arg[64], pf[300], log[300], buf[256];
	int tries;

	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", port);
	snprintf(pf, sizeof(pf), "%s/ports.json", d->dir);
	snprintf(log, sizeof(log), "%s/mds.log", d->dir);
	unlink(pf);
	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* no orphan server if this process dies */
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		const char *argv[64] = { d->mds_bin, "serve", "--data", d->data, "--listen",
					 listen_arg, "--port-file", pf, "--http", "off",
					 "--log-level", "warn", "--auth-mode", "dev" };
		int argc = 14;

		for (int i = 0; d->extra && d->extra[i] && argc < 63; i++)
			argv[argc++] = d->extra[i];
		argv[argc] = NULL;
		execv(d->mds_bin, (char *const *)argv);
		_exit(127);
	}
	for (tries = 0; tries < 1000; tries++) {   /* up to 10 s */
		FILE *f = fopen(pf, "r");
		const char *g;
		int status;

		if (f) {
			size_t n = fread(buf, 1, sizeof(buf) - 1, f);

			fclose(f);
			buf[n] = '\0';
			if ((g = strstr(buf, "\"grpc\":")) && sscanf(g + 7, "%d", &d->port) == 1 &&
			    d->port > 0) {
				snprintf(d->endpoint, sizeof(d->endpoint), "127.0.0.1:%d", d->port);
				return 0;
			}
		}
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			fprintf(stderr, "mds exited early (status %d), see %s\n", status, log);
			d->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	fprintf(stderr, "mds did not start in 10 s, see %s\n", log);
	gw_daemon_stop(d, 1);
	return -1;
}

int gw_daemon_start(struct gw_daemon *d, const char *mds_bin, int port)
{
	memset(d, 0, sizeof(*d));
	d->mds_bin = mds_bin;
	snprintf(d->dir, sizeof(d->dir), "%s/mdsgw-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(d->dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(d->data, sizeof(d->data), "%s/data", d->dir);
	return spawn(d, port);
}

int gw_daemon_start_ex(struct gw_daemon *d, const char *mds_bin, int port,
		       const char *const *extra, const char *feed_name)
{
	memset(d, 0, sizeof(*d));
	d->mds_bin = mds_bin;
	d->extra = extra;
	snprintf(d->dir, sizeof(d->dir), "%s/mdsgw-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(d->dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(d->data, sizeof(d->data), "%s/data", d->dir);
	if (feed_name) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0)
				dup2(fd, 1);
			execl(mds_bin, mds_bin, "keys", "init", "--name", feed_name, "--data",
			      d->data, (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "mds keys init failed in %s\n", d->data);
			return -1;
		}
	}
	return spawn(d, port);
}

int gw_daemon_restart(struct gw_daemon *d)
{
	int port = d->port;

	if (d->pid)
		gw_daemon_stop(d, 0);
	/* The old listener may linger for a moment; retry the bind briefly. */
	for (int i = 0; i < 50; i++) {
		if (spawn(d, port) == 0)
			return 0;
		usleep(100000);
	}
	return -1;
}

void gw_daemon_stop(struct gw_daemon *d, int hard)
{
	int status;

	if (!d->pid)
		return;
	kill(d->pid, hard ? SIGKILL : SIGTERM);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
}

void gw_daemon_cleanup(struct gw_daemon *d)
{
	char cmd[400];

	gw_daemon_stop(d, 1);
	if (d->dir[0] && strstr(d->dir, "mdsgw-test-")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", d->dir);
	}
}

int gw_mdsctl(const struct gw_daemon *d, const char *mdsctl_bin, ...)
{
	const char *argv[32];
	int argc = 0, status;
	va_list ap;
	pid_t pid;

	argv[argc++] = mdsctl_bin;
	argv[argc++] = "--endpoint";
	argv[argc++] = d->endpoint;
	va_start(ap, mdsctl_bin);
	while (argc < 31 && (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		execv(mdsctl_bin, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int gw_blackhole_open(int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}
