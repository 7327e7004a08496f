/*
 * mds_main.c - the `mds` daemon: `mds serve` and `mds check`.
 *
 * serve: open the store, start the gRPC server and the HTTP side, then
 * wait for SIGTERM/SIGINT in the main thread (every other thread has them
 * blocked). The first signal stops gracefully: refuse new calls, let
 * in-flight calls finish (the writer completes its batch), close the store,
 * exit 0. A second signal exits at once with status 1, and so does a stop
 * still not done grace + 10 s after the first; LMDB keeps the store
 * consistent (the last durable transaction is intact).
 *
 * Exit codes: 0 ok, 1 failure (or check found problems), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "feed_keys.h"
#include "feed_compact.h"
#include "feed_log.h"
#include "feed_publisher.h"
#include "federation.h"
#include "http.h"
#include "jwks_fetch.h"
#include "local_issuer.h"
#include "log.h"
#include "mds/namespace.h"
#include "mds/store.h"
#include "rpc_gate.h"
#include "server.h"

#ifndef MDS_VERSION
#define MDS_VERSION "0.0.0"
#endif

static const char usage_main[] =
	"usage: mds COMMAND [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  serve     run the island's metadata service\n"
	"  check     verify a store's invariants (exit 1 when problems are found)\n"
	"  keys      manage the change feed's signing keys (init, show, rotate)\n"
	"  version   print the version\n"
	"\n"
	"`mds COMMAND --help` describes each command.\n";

static const char usage_serve[] =
	"usage: mds serve [OPTIONS]\n"
	"\n"
	"With no options, runs on the embedded default: data under ./var/mds, gRPC on\n"
	"127.0.0.1:7420, HTTP (metrics, health) on 127.0.0.1:7421, plaintext on loopback.\n"
	"\n"
	"  --data DIR            store directory (created if missing)\n"
	"  --listen HOST:PORT    gRPC address (port 0: pick a free one)\n"
	"  --http HOST:PORT      /metrics, /healthz, /readyz address, or \"off\"\n"
	"  --config FILE         JSON object of settings (keys are these option names);\n"
	"                        options on the command line override it\n"
	"  --tls-cert FILE       PEM certificate chain: serve gRPC over TLS\n"
	"  --tls-key FILE        PEM private key of --tls-cert\n"
	"  --tls-ca FILE         PEM CA bundle that client certificates must chain to\n"
	"  --tls-client-auth     require a client certificate (mutual TLS)\n"
	"  --insecure            allow plaintext gRPC on a non-loopback address\n"
	"  --threads N           gRPC worker threads (default 0 = auto: half the\n"
	"                        CPUs, at least 1, at most 8)\n"
	"  --map-size SIZE       LMDB map size, e.g. 64GiB (default: the store's)\n"
	"  --max-message SIZE    largest request accepted (default 4MiB)\n"
	"  --grace-ms N          on SIGTERM, wait this long for calls (default 5000)\n"
	"  --batch-window-us N   let the writer wait up to N us to grow a small batch\n"
	"                        (group commit; default 0 = commit what is queued)\n"
	"  --log-level LEVEL     debug, info, warn or error (default info)\n"
	"  --port-file FILE      write {\"grpc\":PORT,\"http\":PORT} once listening\n"
	"  --auth-mode MODE      local (default): bearer tokens from a local issuer\n"
	"                        whose key is made under DATA on first start, with an\n"
	"                        island-admin token in DATA/admin.token (mdsctl reads\n"
	"                        ./var/mds/admin.token by default);\n"
	"                        jwt: tokens from your identity provider (implied by\n"
	"                        --jwt-issuer/--jwks-file/--jwks-url);\n"
	"                        dev: NO authentication, every caller is an admin\n"
	"                        (loopback only unless --insecure; warns at start)\n"
	"  --dev                 same as --auth-mode dev\n"
	"  --jwt-issuer LIST     jwt: trusted token issuers (comma-separated)\n"
	"  --jwt-audience AUD    jwt: the audience tokens must name\n"
	"  --jwks-file FILE      jwt: the identity provider's key set\n"
	"  --jwks-url URL        jwt: or fetch the key set from this https:// URL\n"
	"                        (certificate verified; http:// refused)\n"
	"  --jwks-ca-file FILE   jwt: PEM CA bundle for --jwks-url (private provider;\n"
	"                        default: the system store)\n"
	"  --jwks-refresh DUR    jwt: re-read the key set this often (default 60s for\n"
	"                        a file, 1h for a URL; also at most once per 5 min\n"
	"                        when a token names an unknown kid)\n"
	"  --auth-state-file F   jwt: last good key set (default DATA/jwks.state)\n"
	"  --offline-window DUR  jwt: key set usable this long without a refresh (96h)\n"
	"  --gateway-identities LIST  mTLS identities (SAN/CN) with the gateway role:\n"
	"                        they may act on behalf of x-mds-on-behalf-of\n"
	"  --rate-limits SPEC    per-team token buckets, e.g.\n"
	"                        'team-a:read=500/1000,write=100/200,list=50/50;*:read=1000'\n"
	"                        (RATE per second / BURST; '*' = every other team)\n"
	"  --token-cache N       remember N bearer-token validations, so each token's\n"
	"                        signature is checked once (default 4096; 0 = none)\n"
	"  --refusal-hold-ms N   answer a call refused by its rate limit after\n"
	"                        max(retry-after, N ms), at most 250 ms, so clients that\n"
	"                        resend at once cannot flood (default 20; 0 = at once)\n"
	"  --admins LIST         jwt: principals (iss#sub) or group:NAME with admin on\n"
	"                        the island, from the config (to create the first bindings)\n"
	"  --feed-origin NAME    origin of the change feed (default: the name given to\n"
	"                        `mds keys init`, else \"mds\"); \"off\" records no feed\n"
	"  --feed-cadence-ms N   sign a new checkpoint at most every N ms (default 100)\n"
	"  --feed-heartbeat-ms N re-sign an unchanged head every N ms (default 10000)\n"
	"  --peer ORIGIN=ADDRESS=KEY[,KEY...]  follow a peer island's signed feed into the\n"
	"                        global view (plaintext; repeatable; TLS peers: \"peers\" in\n"
	"                        the --config file, docs/operations.md)\n"
	"  --peer-stale-ms N     a peer without a verified checkpoint for N ms is stale\n"
	"                        (default 30000)\n"
	"  --peer-idle-ms N      reconnect a peer stream silent for N ms (default 30000)\n"
	"  --peer-backoff-max-ms N  longest reconnect delay (default 10000)\n"
	"  --peer-token-file F   bearer token sent to peers (a principal with list on\n"
	"                        the peer island); per peer: \"token-file\" in \"peers\"\n"
	"  --peer-batch-max N    apply a checkpoint of more than N leaves in verified\n"
	"                        slices of N (bounded memory); 0 = one transaction per\n"
	"                        checkpoint (default)\n"
	"  --feed-retain DUR     keep feed leaves younger than DUR (default 7d) ...\n"
	"  --feed-retain-leaves N  ... and at least the N newest (default 1000000);\n"
	"                        older leaf bytes are deleted (Merkle nodes stay)\n"
	"  --feed-compact-every DUR  how often compaction runs (default 1m)\n"
	"                        Checkpoints are signed only once `mds keys init` ran.\n"
	"  -h, --help            this text\n";

static const char usage_check[] =
	"usage: mds check [--data DIR]\n"
	"\n"
	"Verifies the store's invariants in one snapshot (usage counters equal a\n"
	"recount, every object in an existing bucket, name index well formed).\n"
	"Prints one line per problem; exit 0 healthy, 1 problems or cannot run, 2 usage.\n"
	"Safe to run while `mds serve` is running on the same directory.\n";

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_port_file(const char *path, int grpc_port, int http_port)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\"grpc\": %d, \"http\": %d}\n", grpc_port, http_port);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}

static sigset_t stop_signals;

/*
 * Runs once the graceful stop began: a second signal exits at once, and so
 * does a stop that is still not done @arg milliseconds later (a call that
 * never finishes, a peer stream stuck on a partitioned link). Both exit
 * with status 1 and leave the store consistent (LMDB: every acknowledged
 * commit is durable, an unfinished batch was never acknowledged).
 */
static void *second_signal(void *arg)
{
	unsigned long limit_ms = (unsigned long)(uintptr_t)arg;
	struct timespec ts = { (time_t)(limit_ms / 1000), (long)(limit_ms % 1000) * 1000000L };
	int sig;

	for (;;) {
		sig = sigtimedwait(&stop_signals, NULL, &ts);
		if (sig > 0) {
			mds_log(MDS_LOG_WARN, "exit_now", "signal=%d reason=\"second signal\"", sig);
			_exit(1);
		}
		if (errno == EAGAIN) {
			mds_log(MDS_LOG_ERROR, "exit_now",
				"reason=\"shutdown still not done after %lu ms\" note=\"the store is consistent; look for calls or peer streams that do not end\"",
				limit_ms);
			_exit(1);
		}
		/* EINTR: wait again */
	}
	return NULL;
}

enum { OPT_BOOL = 1, OPT_VAL = 2 };

static const struct option serve_opts[] = {
	{ "data", required_argument, NULL, OPT_VAL },
	{ "listen", required_argument, NULL, OPT_VAL },
	{ "http", required_argument, NULL, OPT_VAL },
	{ "config", required_argument, NULL, 'c' },
	{ "tls-cert", required_argument, NULL, OPT_VAL },
	{ "tls-key", required_argument, NULL, OPT_VAL },
	{ "tls-ca", required_argument, NULL, OPT_VAL },
	{ "tls-client-auth", no_argument, NULL, OPT_BOOL },
	{ "insecure", no_argument, NULL, OPT_BOOL },
	{ "threads", required_argument, NULL, OPT_VAL },
	{ "map-size", required_argument, NULL, OPT_VAL },
	{ "max-message", required_argument, NULL, OPT_VAL },
	{ "grace-ms", required_argument, NULL, OPT_VAL },
	{ "batch-window-us", required_argument, NULL, OPT_VAL },
	{ "log-level", required_argument, NULL, OPT_VAL },
	{ "port-file", required_argument, NULL, OPT_VAL },
	{ "auth-mode", required_argument, NULL, OPT_VAL },
	{ "dev", no_argument, NULL, OPT_BOOL },
	{ "jwt-issuer", required_argument, NULL, OPT_VAL },
	{ "jwt-audience", required_argument, NULL, OPT_VAL },
	{ "jwks-file", required_argument, NULL, OPT_VAL },
	{ "jwks-url", required_argument, NULL, OPT_VAL },
	{ "jwks-ca-file", required_argument, NULL, OPT_VAL },
	{ "auth-state-file", required_argument, NULL, OPT_VAL },
	{ "offline-window", required_argument, NULL, OPT_VAL },
	{ "jwks-refresh", required_argument, NULL, OPT_VAL },
	{ "gateway-identities", required_argument, NULL, OPT_VAL },
	{ "rate-limits", required_argument, NULL, OPT_VAL },
	{ "refusal-hold-ms", required_argument, NULL, OPT_VAL },
	{ "token-cache", required_argument, NULL, OPT_VAL },
	{ "admins", required_argument, NULL, OPT_VAL },
	{ "feed-origin", required_argument, NULL, OPT_VAL },
	{ "feed-cadence-ms", required_argument, NULL, OPT_VAL },
	{ "feed-heartbeat-ms", required_argument, NULL, OPT_VAL },
	{ "peer", required_argument, NULL, OPT_VAL },
	{ "peer-stale-ms", required_argument, NULL, OPT_VAL },
	{ "peer-idle-ms", required_argument, NULL, OPT_VAL },
	{ "peer-backoff-max-ms", required_argument, NULL, OPT_VAL },
	{ "peer-token-file", required_argument, NULL, OPT_VAL },
	{ "peer-batch-max", required_argument, NULL, OPT_VAL },
	{ "feed-retain", required_argument, NULL, OPT_VAL },
	{ "feed-retain-leaves", required_argument, NULL, OPT_VAL },
	{ "feed-compact-every", required_argument, NULL, OPT_VAL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Parse serve's flags into @c: --config first, then the rest over it. */
static int parse_serve(int argc, char **argv, struct mds_config *c)
{
	struct mds_status st;
	int opt, idx;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", serve_opts, &idx)) != -1) {
		if (opt == 'h') {
			fputs(usage_serve, stdout);
			return 1;
		}
		if (opt == '?') {
			fprintf(stderr, "mds serve: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], usage_serve);
			return 2;
		}
		if (opt == 'c' && mds_config_load_file(c, optarg, &st) != 0) {
			fprintf(stderr, "mds serve: %s\n", st.msg);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mds serve: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", serve_opts, &idx)) != -1) {
		if (opt != OPT_VAL && opt != OPT_BOOL)
			continue;
		if (mds_config_set(c, serve_opts[idx].name, opt == OPT_VAL ? optarg : NULL,
				   &st) != 0) {
			fprintf(stderr, "mds serve: %s\n", st.msg);
			return 2;
		}
	}
	if (mds_config_check(c, &st) != 0) {
		fprintf(stderr, "mds serve: %s\n", st.msg);
		return 2;
	}
	return 0;
}

/*
 * jwt mode: the refresher thread re-reads the key set (--jwks-file, or
 * --jwks-url over HTTPS) every --jwks-refresh (default 60 s for a file, 1 h
 * for a URL), so the key set follows the provider's rotation and the
 * offline window restarts with each good read. A failed read keeps the
 * current set (auth.h) and is logged with the authority's state, so an SRE
 * sees the window run.
 *
 * Unknown kid. A provider token whose kid is not in the set makes the
 * authority call refresher_kick() (auth.h, on_unknown_kid): the request
 * itself is refused at once (fail closed; the validation path never waits
 * for the network), and the refresher fetches the set now unless it already
 * did so for an unknown kid within the last JWKS_KID_REFRESH_MIN_S, so a
 * flood of made-up kids costs the provider at most one fetch per 5 minutes.
 * A client whose token was refused retries after a moment and is accepted
 * once the new key is in.
 */
#define JWKS_KID_REFRESH_MIN_S 300

struct refresher {
	struct mds_auth *auth;
	time_t every_s;
	const char *file;           /* borrowed from the config; NULL with a URL */
	struct mds_jwks_source src; /* src.url NULL with a file */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int kick;                   /* an unknown kid was seen */
	int kicked_before;
	struct timespec last_kick;  /* CLOCK_MONOTONIC of the last kid-driven fetch */
	pthread_t th;
	int started;
};

/* One refresh from the configured source; logs a failure (once, here). */
static void refresh_once(struct refresher *rf, const char *reason)
{
	struct mds_status st;
	int rc;

	mds_status_clear(&st);
	if (rf->src.url)
		rc = mds_auth_refresh_url(rf->auth, &rf->src, &st);
	else
		rc = mds_auth_refresh(rf->auth, &st);
	if (rc != 0)
		mds_log(MDS_LOG_WARN, "jwks_refresh", "source=\"%s\" reason=%s error=\"%s\" state=%s",
			rf->src.url ? rf->src.url : rf->file, reason, st.msg,
			mds_auth_state_name(mds_auth_get_state(rf->auth, NULL)));
	else
		mds_log(strcmp(reason, "periodic") ? MDS_LOG_INFO : MDS_LOG_DEBUG, "jwks_refreshed",
			"source=\"%s\" reason=%s", rf->src.url ? rf->src.url : rf->file, reason);
}

/* auth.h on_unknown_kid: wake the refresher; never blocks for long. */
static void refresher_kick(void *arg)
{
	struct refresher *rf = arg;

	pthread_mutex_lock(&rf->mu);
	rf->kick = 1;
	pthread_cond_signal(&rf->cv);
	pthread_mutex_unlock(&rf->mu);
}

/* Under rf->mu: may a kid-driven fetch run now? Records it when so. */
static int kick_allowed_locked(struct refresher *rf)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (rf->kicked_before && now.tv_sec - rf->last_kick.tv_sec < JWKS_KID_REFRESH_MIN_S)
		return 0;
	rf->kicked_before = 1;
	rf->last_kick = now;
	return 1;
}

static void *refresher_main(void *arg)
{
	struct refresher *rf = arg;
	struct timespec deadline;

	pthread_setname_np(pthread_self(), "mds-jwks");
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += rf->every_s;
	pthread_mutex_lock(&rf->mu);
	while (!rf->stop) {
		const char *reason = NULL;
		int rc = 0;

		if (!rf->kick)
			rc = pthread_cond_timedwait(&rf->cv, &rf->mu, &deadline);
		if (rf->stop)
			break;
		if (rf->kick) {
			rf->kick = 0;
			if (kick_allowed_locked(rf))
				reason = "unknown-kid";
		} else if (rc == ETIMEDOUT) {
			reason = "periodic";
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_sec += rf->every_s;
		}
		if (reason == NULL)
			continue;
		pthread_mutex_unlock(&rf->mu);
		refresh_once(rf, reason);
		pthread_mutex_lock(&rf->mu);
	}
	pthread_mutex_unlock(&rf->mu);
	return NULL;
}

static void refresher_stop(struct refresher *rf)
{
	if (!rf->started)
		return;
	pthread_mutex_lock(&rf->mu);
	rf->stop = 1;
	pthread_cond_signal(&rf->cv);
	pthread_mutex_unlock(&rf->mu);
	pthread_join(rf->th, NULL);
	rf->started = 0;
}

/* jwt mode: the token authority, its key set loaded (persisted or fresh). */
static int open_auth(const struct mds_config *c, const char *state_name, struct refresher *rf,
		     struct mds_auth **out)
{
	struct mds_auth_config ac;
	struct mds_status st;
	char *issuers = strdup(c->jwt_issuers), *save = NULL, state[4096];
	const char *iss[16];
	size_t n = 0;
	int rc;

	if (!issuers)
		return MDS_ENOMEM;
	for (char *t = strtok_r(issuers, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
		iss[n++] = t;
	snprintf(state, sizeof(state), "%s/%s", c->data, state_name);
	mds_auth_config_init(&ac);
	ac.issuers = iss;
	ac.n_issuers = n;
	ac.audience = c->jwt_audience;
	ac.jwks_file = c->jwks_file;
	ac.state_file = c->auth_state_file ? c->auth_state_file : state;
	ac.on_unknown_kid = refresher_kick;
	/* verify each token once, not on every call (docs/security.md) */
	ac.cache_entries = c->token_cache;
	ac.unknown_kid_arg = rf;
	if (c->offline_window_ns)
		ac.offline_window_s = (int64_t)(c->offline_window_ns / 1000000000u);
	if (ac.offline_alarm_s > ac.offline_window_s)
		ac.offline_alarm_s = ac.offline_window_s;
	mds_status_clear(&st);
	rc = mds_auth_open(&ac, out, &st);
	free(issuers);
	if (rc != 0) {
		mds_log(MDS_LOG_ERROR, "auth_open", "error=\"%s\"", st.msg);
		return rc;
	}
	rf->auth = *out;
	rf->file = c->jwks_file;
	rf->src.url = c->jwks_url;
	rf->src.ca_file = c->jwks_ca_file;
	rf->every_s = (time_t)(c->jwks_refresh_ns / 1000000000u);
	if (rf->every_s == 0)
		rf->every_s = c->jwks_url ? 3600 : 60;
	/* Not fatal when it fails: a persisted key set within the offline
	 * window still works. */
	refresh_once(rf, "start");
	mds_log(MDS_LOG_INFO, "auth_jwt", "issuers=\"%s\" audience=\"%s\" gateways=\"%s\" "
		"jwks=\"%s\" refresh_s=%lld state=%s", c->jwt_issuers, c->jwt_audience,
		c->gateways ? c->gateways : "", c->jwks_url ? c->jwks_url : c->jwks_file,
		(long long)rf->every_s, mds_auth_state_name(mds_auth_get_state(*out, NULL)));
	return 0;
}

static void compact_report(int code, const char *msg, uint64_t removed)
{
	if (code)
		mds_log(MDS_LOG_ERROR, "feed_compact", "code=%s error=\"%s\"",
			mds_error_name(code), msg);
	else
		mds_log(MDS_LOG_INFO, "feed_compact", "removed=%llu", (unsigned long long)removed);
}

/* Leaf retention (feed_compact.h), whenever the feed is recorded. */
static int start_compactor(const struct mds_config *c, struct mds_store *store,
			   struct mds_feed_compactor **out)
{
	struct mds_feed_compactor_opts co;
	struct mds_status st;
	int rc;

	memset(&co, 0, sizeof(co));
	co.retain_ns = c->feed_retain_ns;
	co.retain_leaves = c->feed_retain_leaves;
	co.interval_ns = c->feed_compact_every_ns;
	co.report = compact_report;
	rc = mds_feed_compactor_start(store, &co, out, &st);
	if (rc)
		mds_log(MDS_LOG_ERROR, "feed_compact", "error=\"%s\"", st.msg);
	return rc;
}

static void feed_report(int code, const char *msg)
{
	mds_log(MDS_LOG_ERROR, "feed_checkpoint", "code=%s error=\"%s\"", mds_error_name(code),
		msg);
}

/*
 * The change feed: every mutation appends its leaf (unless the origin is
 * "off"); checkpoints are signed once the data directory has a key.
 */
static int start_feed(const struct mds_config *c, struct mds_store *store,
		      struct mds_feed_log **feed, struct mds_feed_publisher **pub,
		      char origin[MDS_NOTE_NAME_MAX + 1])
{
	struct mds_note_signer *keys[2];
	struct mds_feed_publisher_opts po;
	char name[MDS_NOTE_NAME_MAX + 1] = "mds";
	struct mds_status st;
	size_t n = 0;
	int have_key, rc;

	if (c->feed_origin && !strcmp(c->feed_origin, "off")) {
		mds_log(MDS_LOG_WARN, "feed_off", "note=\"mutations are not recorded in the change feed\"");
		return 0;
	}
	have_key = mds_feed_keys_load(c->data, (uint64_t)time(NULL), keys, &n, name, &st) == 0;
	for (size_t i = 0; i < n; i++)
		mds_note_signer_free(keys[i]);
	snprintf(origin, MDS_NOTE_NAME_MAX + 1, "%s", c->feed_origin ? c->feed_origin : name);
	rc = mds_feed_log_open(store, c->feed_origin ? c->feed_origin : name, feed, &st);
	if (rc != 0) {
		mds_log(MDS_LOG_ERROR, "feed", "error=\"%s\"", st.msg);
		return rc;
	}
	if (!have_key) {
		mds_log(MDS_LOG_DEBUG, "feed_unsigned",
			"origin=\"%s\" note=\"no feed key: leaves are recorded but no checkpoint is signed; run mds keys init\"",
			c->feed_origin ? c->feed_origin : name);
		return 0;
	}
	memset(&po, 0, sizeof(po));
	po.data_dir = c->data;
	po.origin = c->feed_origin ? c->feed_origin : name;
	po.cadence_ms = c->feed_cadence_ms;
	po.heartbeat_ms = c->feed_heartbeat_ms;
	po.report = feed_report;
	rc = mds_feed_publisher_start(store, &po, pub, &st);
	if (rc != 0) {
		mds_log(MDS_LOG_ERROR, "feed_publisher", "code=%s error=\"%s\"", mds_error_name(rc),
			st.msg);
		return rc;
	}
	mds_log(MDS_LOG_INFO, "feed", "origin=\"%s\" cadence_ms=%u heartbeat_ms=%u", po.origin,
		po.cadence_ms, po.heartbeat_ms);
	return 0;
}

/*
 * Federation: one subscriber thread per configured peer, following its
 * signed feed into the global view. Nothing here is in a write path; a
 * peer that cannot be reached only leaves its part of the view stale.
 */
static int start_federation(const struct mds_config *c, struct mds_store *store,
			    const char *self, struct mds_federation **out)
{
	struct mds_fed_peer_opts *po = NULL;
	struct mds_federation_opts fo;
	struct mds_status st;
	int rc;

	*out = NULL;
	if (c->n_peers == 0)
		return 0;
	for (size_t i = 0; i < c->n_peers; i++)
		if (self[0] && !strcmp(c->peers[i].origin, self)) {
			mds_log(MDS_LOG_ERROR, "federation",
				"error=\"peer '%s' is this island's own feed origin\"", self);
			return MDS_EINVAL;
		}
	po = calloc(c->n_peers, sizeof(*po));
	if (!po)
		return MDS_ENOMEM;
	for (size_t i = 0; i < c->n_peers; i++) {
		po[i].origin = c->peers[i].origin;
		po[i].address = c->peers[i].address;
		po[i].keys = (const char *const *)c->peers[i].keys;
		po[i].n_keys = c->peers[i].n_keys;
		po[i].tls_ca = c->peers[i].tls_ca;
		po[i].tls_cert = c->peers[i].tls_cert;
		po[i].tls_key = c->peers[i].tls_key;
		po[i].insecure = c->peers[i].insecure;
		po[i].token_file = c->peers[i].token_file ? c->peers[i].token_file
							  : c->peer_token_file;
	}
	memset(&fo, 0, sizeof(fo));
	fo.peers = po;
	fo.n_peers = c->n_peers;
	fo.stale_ms = c->peer_stale_ms;
	fo.idle_ms = c->peer_idle_ms;
	fo.backoff_max_ms = c->peer_backoff_max_ms;
	fo.batch_max = c->peer_batch_max;
	mds_status_clear(&st);
	rc = mds_federation_start(store, &fo, out, &st);
	free(po);
	if (rc) {
		mds_log(MDS_LOG_ERROR, "federation", "code=%s error=\"%s\"", mds_error_name(rc), st.msg);
		return rc;
	}
	mds_log(MDS_LOG_INFO, "federation", "peers=%zu stale_ms=%u", c->n_peers, c->peer_stale_ms);
	return 0;
}

/*
 * The embedded default (--auth-mode local): make or load the local issuer
 * under DATA, write a fresh admin token, and point the jwt settings at it
 * (issuer, audience, key set file; the admin principal joins --admins).
 * From here on the island runs exactly as in jwt mode.
 */
static int setup_local_auth(struct mds_config *c)
{
	struct mds_local_issuer li;
	struct mds_status st;
	char *admins = NULL, exp[32];
	time_t t;
	struct tm tm;
	int rc;

	mds_status_clear(&st);
	rc = mds_local_issuer_setup(c->data, (int64_t)time(NULL), MDS_LOCAL_TOKEN_TTL_S, &li, &st);
	if (rc != 0) {
		mds_log(MDS_LOG_ERROR, "auth_local", "data=\"%s\" error=\"%s\"", c->data, st.msg);
		return rc;
	}
	if (asprintf(&admins, "%s%s%s", c->admins ? c->admins : "", c->admins ? "," : "",
		     MDS_LOCAL_ADMIN) < 0)
		return MDS_ENOMEM;
	free(c->admins);
	c->admins = admins;
	if (mds_config_set(c, "jwt-issuer", MDS_LOCAL_ISSUER, &st) != 0 ||
	    mds_config_set(c, "jwt-audience", MDS_LOCAL_AUDIENCE, &st) != 0 ||
	    mds_config_set(c, "jwks-file", li.jwks_file, &st) != 0)
		return MDS_ENOMEM;
	t = (time_t)li.token_exp;
	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	mds_log(MDS_LOG_INFO, "auth_local",
		"issuer=%s kid=%s key=\"%s\" key_state=%s admin=\"%s\" token_file=\"%s\" "
		"token_expires=%s note=\"callers need a bearer token; the island-admin token "
		"is in token_file (mode 0600): mdsctl reads ./var/mds/admin.token by default, "
		"else --token-file; --auth-mode dev turns authentication off\"",
		MDS_LOCAL_ISSUER, li.kid, li.key_file, li.key_created ? "created" : "loaded",
		MDS_LOCAL_ADMIN, li.token_file, exp);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	struct mds_config c;
	struct mds_status st;
	struct mds_store_opts so;
	struct mds_server_opts sv;
	struct mds_store *store = NULL;
	struct mds_server *srv = NULL;
	struct mds_http *http = NULL;
	struct mds_auth *auth = NULL;
	struct refresher rf = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	struct mds_feed_log *feed = NULL;
	struct mds_feed_publisher *pub = NULL;
	struct mds_federation *fed = NULL;
	char origin[MDS_NOTE_NAME_MAX + 1] = "";
	struct mds_feed_compactor *compactor = NULL;
	pthread_t second;
	enum mds_config_auth_mode mode;
	int rc, sig, ret = 1;

	if (mds_config_init(&c) != 0) {
		fprintf(stderr, "mds serve: out of memory\n");
		return 1;
	}
	rc = parse_serve(argc, argv, &c);
	if (rc != 0) {
		mds_config_release(&c);
		return rc == 1 ? 0 : rc;
	}
	mds_log_min_level = c.log_level;
	mode = mds_config_auth_mode(&c);

	/* Signals are taken by sigwait in this thread only. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	mds_log(MDS_LOG_INFO, "start", "version=%s pid=%d data=\"%s\" listen=%s http=%s tls=%s",
		MDS_VERSION, (int)getpid(), c.data, c.listen, c.http,
		c.tls_cert ? (c.tls_client_auth ? "mtls" : "tls") : "off");
	if (!c.explicit)
		mds_log(MDS_LOG_INFO, "embedded_default",
			"note=\"no options given: data under ./var/mds, plaintext gRPC on "
			"loopback only, bearer tokens from a local issuer; see mds serve --help "
			"for TLS, other addresses and authentication\"");
	else if (!c.tls_cert && c.insecure)
		mds_log(MDS_LOG_WARN, "plaintext", "listen=%s note=\"gRPC without TLS (--insecure)\"",
			c.listen);

	/* before the store starts its writer thread (jwks_fetch.h) */
	if (mode == MDS_CONFIG_AUTH_JWT && c.jwks_url && mds_jwks_fetch_global_init(&st) != 0) {
		mds_log(MDS_LOG_ERROR, "jwks_fetch", "error=\"%s\"", st.msg);
		goto out;
	}
	rc = mkdir_p(c.data);
	if (rc != 0) {
		mds_log(MDS_LOG_ERROR, "data_dir", "data=\"%s\" error=\"%s\"", c.data,
			strerror(-rc));
		goto out;
	}
	if (mode == MDS_CONFIG_AUTH_LOCAL && setup_local_auth(&c) != 0)
		goto out;
	memset(&so, 0, sizeof(so));
	so.map_size = c.map_size;
	so.batch_window_us = c.batch_window_us;
	mds_status_clear(&st);
	rc = mds_store_open(&store, c.data, &so, &st);
	if (rc != 0) {
		mds_log(MDS_LOG_ERROR, "store_open", "data=\"%s\" code=%s error=\"%s\"", c.data,
			mds_error_name(rc), st.msg[0] ? st.msg : mds_strerror(rc));
		goto out;
	}
	if (start_feed(&c, store, &feed, &pub, origin) != 0)
		goto out;
	if (start_federation(&c, store, origin, &fed) != 0)
		goto out;
	if (feed && start_compactor(&c, store, &compactor) != 0)
		goto out;

	if (mode != MDS_CONFIG_AUTH_DEV) {
		if (open_auth(&c, mode == MDS_CONFIG_AUTH_LOCAL ? "local-issuer.state" : "jwks.state",
			      &rf, &auth) != 0)
			goto out;
		rf.started = pthread_create(&rf.th, NULL, refresher_main, &rf) == 0;
	}

	memset(&sv, 0, sizeof(sv));
	sv.auth_mode = mode == MDS_CONFIG_AUTH_DEV ? MDS_GATE_DEV : MDS_GATE_JWT;
	sv.auth = auth;
	sv.gateways = c.gateways;
	sv.rate_limits = c.rate_limits;
	sv.refusal_hold_ms = c.refusal_hold_ms;
	sv.admins = c.admins;
	sv.listen = c.listen;
	sv.threads = c.threads;
	sv.max_message = (size_t)c.max_message;
	sv.tls_ca = c.tls_ca;
	sv.tls_cert = c.tls_cert;
	sv.tls_key = c.tls_key;
	sv.require_client_cert = c.tls_client_auth;
	sv.data_dir = c.data;
	sv.feed = pub;
	sv.federation = fed;
	sv.origin = origin;
	sv.feed_compactor = compactor;
	rc = mds_server_start(&srv, store, &sv, &st);
	if (rc != 0) {
		mds_log(MDS_LOG_ERROR, "grpc_listen", "listen=%s error=\"%s\"", c.listen, st.msg);
		goto out;
	}
	if (strcmp(c.http, "off") != 0) {
		rc = mds_http_start(&http, c.http, srv, &st);
		if (rc != 0) {
			mds_log(MDS_LOG_ERROR, "http_listen", "http=%s error=\"%s\"", c.http,
				st.msg);
			goto out;
		}
	}
	mds_log(MDS_LOG_INFO, "serving", "grpc_port=%d http_port=%d threads=%u",
		mds_server_port(srv), http ? mds_http_port(http) : 0,
		c.threads ? c.threads : mds_server_auto_threads());
	if (mode == MDS_CONFIG_AUTH_DEV)
		mds_log(MDS_LOG_WARN, "auth_dev_mode",
			"listen=%s note=\"no authentication: every caller is trusted as an "
			"admin (--auth-mode dev); use --auth-mode jwt beyond a dev machine\"",
			c.listen);
	if (c.port_file) {
		rc = write_port_file(c.port_file, mds_server_port(srv),
				     http ? mds_http_port(http) : 0);
		if (rc != 0) {
			mds_log(MDS_LOG_ERROR, "port_file", "path=\"%s\" error=\"%s\"",
				c.port_file, strerror(-rc));
			goto out;
		}
	}

	if (sigwait(&stop_signals, &sig) != 0)
		sig = 0;
	mds_log(MDS_LOG_INFO, "stopping", "signal=%d grace_ms=%u", sig, c.grace_ms);
	if (pthread_create(&second, NULL, second_signal,
			   (void *)(uintptr_t)(c.grace_ms + 10000ul)) == 0)
		pthread_detach(second);
	mds_server_stop(srv, c.grace_ms);
	ret = 0;

out:
	mds_http_stop(http);
	mds_server_free(srv);
	mds_federation_stop(fed);
	mds_feed_compactor_stop(compactor);
	mds_feed_publisher_stop(pub);
	if (store) {
		mds_store_close(store);
		if (ret == 0)
			mds_log(MDS_LOG_INFO, "stopped", "data=\"%s\"", c.data);
	}
	refresher_stop(&rf);
	mds_auth_close(auth);
	mds_feed_log_close(feed);
	mds_config_release(&c);
	return ret;
}

static void report_problem(void *arg, const char *problem)
{
	(void)arg;
	printf("problem: %s\n", problem);
}

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = "./var/mds";
	struct mds_store_opts so;
	struct mds_store *store = NULL;
	struct mds_reader *r = NULL;
	struct mds_status st;
	struct stat sb;
	long n;
	int opt, rc, ret = 1;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_check, stdout);
			return 0;
		}
		if (opt == 'd') {
			data = optarg;
			continue;
		}
		fprintf(stderr, "mds check: unknown or incomplete option '%s'\n%s",
			argv[optind - 1], usage_check);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "mds check: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (stat(data, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "mds check: no store directory '%s'\n", data);
		return 1;
	}
	memset(&so, 0, sizeof(so));
	so.read_only = 1;
	mds_status_clear(&st);
	rc = mds_store_open(&store, data, &so, &st);
	if (rc != 0) {
		fprintf(stderr, "mds check: cannot open store '%s': %s\n", data,
			st.msg[0] ? st.msg : mds_strerror(rc));
		return 1;
	}
	rc = mds_reader_open(store, &r);
	if (rc == 0)
		rc = mds_reader_begin(r);
	if (rc != 0) {
		fprintf(stderr, "mds check: cannot read store '%s': %s\n", data, mds_strerror(rc));
		goto out;
	}
	n = mds_check(r, report_problem, NULL, &st);
	mds_reader_end(r);
	if (n < 0) {
		fprintf(stderr, "mds check: the check could not run on '%s': %s\n", data,
			st.msg[0] ? st.msg : mds_strerror((int)n));
	} else if (n > 0) {
		fprintf(stderr, "mds check: %ld problem%s in '%s'\n", n, n == 1 ? "" : "s", data);
	} else {
		printf("ok: store '%s' is consistent\n", data);
		ret = 0;
	}
out:
	if (r)
		mds_reader_close(r);
	mds_store_close(store);
	return ret;
}

static const char usage_keys[] =
	"usage: mds keys init --name NAME [--data DIR]\n"
	"       mds keys show [--data DIR]\n"
	"       mds keys rotate [--overlap-s N] [--data DIR]\n"
	"\n"
	"The change feed's Ed25519 signing keys, under DIR/feed/ (private key files\n"
	"mode 0600). init creates the key, named NAME (normally the feed origin);\n"
	"show prints the verifier key(s) in C2SP note format, name+keyid+base64key,\n"
	"one per line, current key first; rotate makes a new current key and keeps\n"
	"signing with the old one too for N seconds (default 604800, 7 days), so\n"
	"subscribers can move to the new key. A running `mds serve` picks the\n"
	"rotation up within its cadence. Exit 0 ok, 1 failure, 2 usage.\n";

static int cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "overlap-s", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = "./var/mds", *name = NULL, *verb;
	unsigned long long overlap = MDS_FEED_KEYS_OVERLAP_S;
	struct mds_note_signer *keys[2];
	struct mds_status st;
	char *end;
	size_t n = 0;
	int opt, rc;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			fputs(usage_keys, stdout);
			return 0;
		}
		fputs(usage_keys, stderr);
		return 2;
	}
	verb = argv[1];
	opterr = 0;
	optind = 2;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(usage_keys, stdout);
			return 0;
		case 'd':
			data = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'o':
			errno = 0;
			overlap = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-') {
				fprintf(stderr, "mds keys: --overlap-s needs seconds, not '%s'\n", optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "mds keys: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], usage_keys);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mds keys: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	mds_status_clear(&st);
	if (!strcmp(verb, "init")) {
		if (!name) {
			fprintf(stderr, "mds keys init: --name NAME is required (the feed origin)\n");
			return 2;
		}
		rc = mds_feed_keys_init(data, name, &st);
	} else if (!strcmp(verb, "rotate")) {
		rc = mds_feed_keys_rotate(data, (uint64_t)time(NULL), overlap, &st);
	} else if (!strcmp(verb, "show")) {
		rc = 0;
	} else {
		fprintf(stderr, "mds keys: unknown command '%s'\n%s", verb, usage_keys);
		return 2;
	}
	if (rc == 0)
		rc = mds_feed_keys_load(data, (uint64_t)time(NULL), keys, &n, NULL, &st);
	if (rc != 0) {
		fprintf(stderr, "mds keys %s: %s\n", verb, st.msg[0] ? st.msg : mds_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct mds_note_verifier v;
		char buf[MDS_NOTE_VKEY_MAX + 1];

		mds_note_signer_verifier(keys[i], &v);
		if (mds_note_verifier_format(&v, buf, sizeof(buf)) == 0)
			printf("%s\n", buf);
		mds_note_signer_free(keys[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "keys"))
		return cmd_keys(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("mds %s (api mds.v1)\n", MDS_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	fprintf(stderr, "mds: unknown command '%s'\n%s", argv[1], usage_main);
	return 2;
}
