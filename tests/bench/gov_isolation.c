/*
 * gov_isolation.c - does one team flooding the island starve another?
 *
 * Starts `mds serve` (loopback) with a per-team rate limit on
 * team "flood" only, creates teams "quiet", "flood" and "free" (unlimited)
 * with one bucket and one object each, then measures, in one run, the quiet
 * team's HeadObject latency (one call in flight, sequential) in three
 * phases of --seconds each:
 *
 *   alone      nothing else runs
 *   flood      --flooders threads hammer team "flood" (rate-limited: most
 *              of their calls are answered RESOURCE_EXHAUSTED)
 *   unlimited  the same flooders hammer team "free", which has no limit
 *
 * and prints p50/p99/p999 of the quiet team, its throughput, and the
 * flooders' accepted and refused calls per second. Client and server share
 * the machine's cores, so the flood also competes for CPU: the "unlimited"
 * phase shows what the limiter saves.
 *
 * --auth local (the default, as `mds serve` runs without options): every
 * client sends the island-admin token from DATA/admin.token, so each call
 * pays bearer-token validation (or a cache lookup); --auth dev: no
 * authentication at all. --serve-arg ARG (repeatable) passes ARG to
 * `mds serve` (e.g. --refusal-hold-ms 0, --token-cache 0 to measure
 * without pacing or the token cache).
 *
 * --rounds R repeats the three phases R times and pools each phase's
 * latencies over the rounds (the shared machine's load drifts; pooling
 * makes every phase see the same drift).
 *
 * usage: gov_isolation --mds PATH [--seconds S] [--flooders N]
 *                      [--limit "read=RATE/BURST"] [--auth local|dev]
 *                      [--serve-arg ARG]... [--rounds R]
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "admin.pb-c.h"
#include "namespace.pb-c.h"
#include "rpc_client.h"
#include "types.pb-c.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static char endpoint[64];
static char token[8192];    /* bearer token; empty in dev mode */

static struct mds_client *client(void)
{
	struct mds_client_opts o;
	struct mds_client *c = NULL;
	struct mds_status st;

	memset(&o, 0, sizeof(o));
	o.endpoint = endpoint;
	o.timeout_ms = 5000;
	o.token = token[0] ? token : NULL;
	if (mds_client_open(&c, &o, &st) != 0) {
		fprintf(stderr, "gov_isolation: %s\n", st.msg);
		exit(1);
	}
	return c;
}

static int head(struct mds_client *c, const char *bucket, struct mds_client_status *cs)
{
	Mds__V1__HeadObjectRequest rq = MDS__V1__HEAD_OBJECT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	rq.bucket = (char *)bucket;
	rq.name = (char *)"obj";
	rc = mds_client_call(c, "/mds.v1.Namespace/HeadObject", &rq.base,
			     &mds__v1__object_record__descriptor, &resp, cs);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static void setup(struct mds_client *c, const char *team, const char *bucket)
{
	Mds__V1__CreateTeamRequest t = MDS__V1__CREATE_TEAM_REQUEST__INIT;
	Mds__V1__CreateBucketRequest b = MDS__V1__CREATE_BUCKET_REQUEST__INIT;
	Mds__V1__PutObjectRequest p = MDS__V1__PUT_OBJECT_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct mds_client_status cs;

	t.team = (char *)team;
	b.bucket = (char *)bucket;
	b.team = (char *)team;
	p.bucket = (char *)bucket;
	p.name = (char *)"obj";
	p.size = 1;
	if (mds_client_call(c, "/mds.v1.Admin/CreateTeam", &t.base, &mds__v1__team__descriptor,
			    &resp, &cs) != 0 ||
	    (protobuf_c_message_free_unpacked(resp, NULL), resp = NULL,
	     mds_client_call(c, "/mds.v1.Namespace/CreateBucket", &b.base,
			     &mds__v1__bucket__descriptor, &resp, &cs)) != 0 ||
	    (protobuf_c_message_free_unpacked(resp, NULL), resp = NULL,
	     mds_client_call(c, "/mds.v1.Namespace/PutObject", &p.base,
			     &mds__v1__put_object_response__descriptor, &resp, &cs)) != 0) {
		fprintf(stderr, "gov_isolation: setup of %s failed: %s\n", team, cs.msg);
		exit(1);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
}

static atomic_int flood_on, flood_stop;
static atomic_ulong flood_ok, flood_refused;
static const char *_Atomic flood_bucket;

static void *flooder(void *arg)
{
	struct mds_client *c = client();
	struct mds_client_status cs;

	(void)arg;
	while (!atomic_load(&flood_stop)) {
		if (!atomic_load(&flood_on)) {
			usleep(1000);
			continue;
		}
		if (head(c, atomic_load(&flood_bucket), &cs) == 0)
			atomic_fetch_add(&flood_ok, 1);
		else
			atomic_fetch_add(&flood_refused, 1);
	}
	mds_client_close(c);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One phase's latencies, pooled over every round (--rounds), so that a
 * slow drift of the shared machine's load hits every phase alike. */
struct pool {
	const char *label;
	double *lat;
	size_t n, cap;
	double secs;
	unsigned long ok, refused;
	double server_cpu, client_cpu;   /* CPU seconds used during the phase */
};

static pid_t server_pid;

/* CPU seconds (user + system) used so far by the server process. */
static double server_cpu_s(void)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)server_pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	p = strrchr(buf, ')');   /* fields after the command name */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds used so far by this process (the quiet client and flooders). */
static double client_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void phase(struct pool *p, struct mds_client *c, double seconds, const char *bucket)
{
	double t0, end, scpu0, ccpu0;
	unsigned long ok0, ref0;
	struct mds_client_status cs;

	if (bucket) {
		atomic_store(&flood_bucket, bucket);
		atomic_store(&flood_on, 1);
		usleep(200000);   /* let the flood ramp up */
	}
	ok0 = atomic_load(&flood_ok);
	ref0 = atomic_load(&flood_refused);
	scpu0 = server_cpu_s();
	ccpu0 = client_cpu_s();
	t0 = now_s();
	end = t0 + seconds;
	while (now_s() < end) {
		double a = now_s();

		if (head(c, "quiet-bkt", &cs) != 0) {
			fprintf(stderr, "gov_isolation: quiet call failed: %s\n", cs.msg);
			exit(1);
		}
		if (p->n == p->cap) {
			p->cap = p->cap ? 2 * p->cap : 1 << 16;
			p->lat = realloc(p->lat, p->cap * sizeof(double));
			if (!p->lat)
				exit(1);
		}
		p->lat[p->n++] = (now_s() - a) * 1e6;
	}
	p->secs += now_s() - t0;
	p->server_cpu += server_cpu_s() - scpu0;
	p->client_cpu += client_cpu_s() - ccpu0;
	p->ok += atomic_load(&flood_ok) - ok0;
	p->refused += atomic_load(&flood_refused) - ref0;
	atomic_store(&flood_on, 0);
	usleep(100000);
}

static void report(struct pool *p)
{
	size_t n = p->n;

	qsort(p->lat, n, sizeof(double), cmp_double);
	printf("%-10s quiet: %7.0f calls/s  p50 %7.1f us  p99 %7.1f us  p99.9 %8.1f us | "
	       "flood: %8.0f ok/s %8.0f refused/s | cpu: server %5.2f client %5.2f cores\n",
	       p->label, (double)n / p->secs, p->lat[n / 2], p->lat[(size_t)((double)n * 0.99)],
	       p->lat[(size_t)((double)n * 0.999)], (double)p->ok / p->secs,
	       (double)p->refused / p->secs, p->server_cpu / p->secs, p->client_cpu / p->secs);
	free(p->lat);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mds", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 's' },
		{ "flooders", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ "auth", required_argument, NULL, 'a' },
		{ "serve-arg", required_argument, NULL, 'x' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *auth = "local", *extra[16];
	int n_extra = 0, rounds = 1;
	struct pool pools[3] = { { .label = "alone" }, { .label = "flood" },
				 { .label = "unlimited" } };
	const char *mds = NULL, *limit = "read=1000/100";
	double seconds = 5;
	int flooders = 3, opt, port;
	char dir[] = "/tmp/gov_isolation.XXXXXX", listen[64], limits[256], data[128], log[160];
	pthread_t th[64];
	struct mds_client *c;
	pid_t pid;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'm')
			mds = optarg;
		else if (opt == 's')
			seconds = atof(optarg);
		else if (opt == 'f')
			flooders = atoi(optarg);
		else if (opt == 'l')
			limit = optarg;
		else if (opt == 'a')
			auth = optarg;
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'x' && n_extra < 16)
			extra[n_extra++] = optarg;
		else
			return 2;
	}
	if (!mds || flooders < 1 || flooders > 64 || rounds < 1 ||
	    (strcmp(auth, "local") && strcmp(auth, "dev"))) {
		fprintf(stderr, "usage: gov_isolation --mds PATH [--seconds S] [--flooders N] "
			"[--limit read=RATE/BURST] [--auth local|dev] [--serve-arg ARG]... "
			"[--rounds R]\n");
		return 2;
	}
	if (!mkdtemp(dir))
		return 1;
	port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", port);
	snprintf(limits, sizeof(limits), "flood:%s", limit);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log, sizeof(log), "%s/mds.log", dir);
	pid = server_pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);   /* no orphan server if this process dies */
		if (!freopen(log, "w", stderr))
			_exit(127);
		const char *av[40] = { mds, "serve", "--data", data, "--listen", listen, "--http",
				       "off", "--rate-limits", limits, "--auth-mode", auth };
		int n = 12;

		for (int i = 0; i < n_extra; i++)
			av[n++] = extra[i];
		av[n] = NULL;
		execv(mds, (char *const *)av);
		_exit(127);
	}
	grpc_init();
	if (!strcmp(auth, "local")) {
		char tf[160];
		FILE *f = NULL;

		snprintf(tf, sizeof(tf), "%s/admin.token", data);
		for (int i = 0; i < 200 && !(f = fopen(tf, "r")); i++)
			usleep(50000);
		if (!f || !fgets(token, sizeof(token), f)) {
			fprintf(stderr, "gov_isolation: no admin token in %s\n", tf);
			return 1;
		}
		fclose(f);
		token[strcspn(token, "\n")] = 0;
	}
	c = client();
	for (int i = 0; i < 100; i++) {
		Mds__V1__GetStatusRequest rq = MDS__V1__GET_STATUS_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;

		if (mds_client_call(c, "/mds.v1.Admin/GetStatus", &rq.base,
				    &mds__v1__server_status__descriptor, &resp, NULL) == 0) {
			protobuf_c_message_free_unpacked(resp, NULL);
			break;
		}
		usleep(50000);
	}
	setup(c, "quiet", "quiet-bkt");
	setup(c, "flood", "flood-bkt");
	setup(c, "free", "free-bkt");
	for (int i = 0; i < flooders; i++)
		pthread_create(&th[i], NULL, flooder, NULL);
	printf("gov_isolation: HeadObject, quiet team 1 call in flight; %d flooders; "
	       "limit flood:%s; auth %s", flooders, limit, auth);
	for (int i = 0; i < n_extra; i++)
		printf(" %s", extra[i]);
	printf("; %d round(s) of %.1f s per phase\n", rounds, seconds);
	for (int i = 0; i < rounds; i++) {
		phase(&pools[0], c, seconds, NULL);
		phase(&pools[1], c, seconds, "flood-bkt");
		phase(&pools[2], c, seconds, "free-bkt");
	}
	for (int i = 0; i < 3; i++)
		report(&pools[i]);
	atomic_store(&flood_stop, 1);
	for (int i = 0; i < flooders; i++)
		pthread_join(th[i], NULL);
	mds_client_close(c);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "gov_isolation: cannot remove %s\n", dir);
	}
	return 0;
}
