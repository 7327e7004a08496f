/*
 * mdsctl.c - the admin and operator CLI of an island (in the spirit of
 * etcdctl): teams, buckets, object records, listings and server status over
 * the mds.v1 gRPC API (rpc_client.c); quotas and usage live in
 * mdsctl_quota.c, the shared parts in mdsctl.h.
 *
 * Output: human tables on stdout, or one JSON document with --json.
 * Errors: one line on stderr naming what failed. Exit: 0 ok, 1 the
 * operation failed (or the server cannot be reached), 2 usage.
 */
#include <getopt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.pb-c.h"
#include "mdsctl.h"
#include "namespace.pb-c.h"
#include "rpc_client.h"
#include "units.h"

static const char usage_top[] =
	"usage: mdsctl [GLOBAL OPTIONS] COMMAND [ARGS] [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  team create NAME | team ls | team show NAME | team rm NAME\n"
	"  bucket create NAME --team TEAM | bucket ls [--team TEAM] | bucket show NAME\n"
	"  bucket rm NAME\n"
	"  object put BUCKET NAME --size N [--etag E] [--content-type T] [--meta k=v]...\n"
	"  object head BUCKET NAME | object rm BUCKET NAME\n"
	"  ls BUCKET[/PREFIX] [--delimiter D] [--max-keys N] [--start-after K] [--all]\n"
	"  status\n"
	"  quota set SCOPE [--max-bytes N] [--max-objects N] [--soft-bytes N]\n"
	"            [--soft-objects N] [--grace D] [--principal WHO]\n"
	"  quota get SCOPE | quota ls | quota rm SCOPE | quota audit [SCOPE] [--after SEQ]\n"
	"  usage [SCOPE]\n"
	"  upload ls BUCKET[/PREFIX] | upload parts|abort BUCKET NAME UPLOAD_ID\n"
	"  blob blocks BUCKET NAME | blob copy-status COPY_ID\n"
	"  policy bind SUBJECT ROLE SCOPE [--deny] [--condition EXPR] | policy unbind ID\n"
	"  policy ls | policy explain PRINCIPAL ACTION [BUCKET[/NAME] | team/T] [--group G]\n"
	"  global ls BUCKET [--prefix P] [--origin O]... | global get BUCKET NAME\n"
	"  global usage [TEAM] | feed status | peers | peers reset|evidence ORIGIN\n"
	"\n"
	"global options:\n"
	"  --endpoint HOST:PORT  the island's gRPC address (default 127.0.0.1:7420)\n"
	"  --tls                 use TLS with the system's roots\n"
	"  --tls-ca FILE         use TLS; the server's certificate must chain to FILE\n"
	"  --tls-cert FILE       client certificate for mutual TLS (with --tls-key)\n"
	"  --tls-key FILE        private key of --tls-cert\n"
	"  --timeout MS          per-call deadline in milliseconds (default 10000)\n"
	"  --token TOKEN         send this bearer token\n"
	"  --token-file FILE     send the bearer token in FILE's first line\n"
	"                        (default: $MDS_TOKEN; else, for the default endpoint,\n"
	"                        ./var/mds/admin.token when it exists)\n"
	"  --json                machine-readable output (one JSON document)\n"
	"  -h, --help            help (also after any command: mdsctl ls --help)\n"
	"\n"
	"Sizes accept binary units (4KiB, 1.5GiB), counts 1e9, durations 7d or 1d12h;\n"
	"scopes are team/NAME, bucket/NAME or prefix/BUCKET/PATH/.\n"
	"Exit status 0 ok, 1 failed, 2 usage.\n";

static const struct {
	const char *cmd;
	const char *text;
} usage_cmds[] = {
	{ "team", "usage: mdsctl team create NAME | team ls | team show NAME | team rm NAME\n"
		  "  create: add a team (1-63 of [a-z0-9_-]); ls: list teams with usage;\n"
		  "  show: one team; rm: delete a team that owns no buckets.\n" },
	{ "bucket", "usage: mdsctl bucket create NAME --team TEAM | bucket ls [--team TEAM]\n"
		    "       mdsctl bucket show NAME | bucket rm NAME\n"
		    "  create: add a bucket owned by TEAM (S3 naming rules); ls: list buckets\n"
		    "  (optionally of one team); show: one bucket with usage; rm: delete an\n"
		    "  empty bucket.\n" },
	{ "object", "usage: mdsctl object put BUCKET NAME --size N [--etag E] [--content-type T]\n"
		    "                         [--meta k=v]... [--if-match E] [--if-none-match E]\n"
		    "       mdsctl object head BUCKET NAME | object rm BUCKET NAME [--if-match E]\n"
		    "  Metadata records only: mds stores no content bytes. --size takes units\n"
		    "  (10MiB). --if-none-match '*' creates only if absent.\n"
		    "       mdsctl object retention BUCKET NAME [governance|compliance UNTIL | none]\n"
		    "                         [bypass-governance]   (UNTIL: 2027-01-01T00:00:00Z or +30d)\n"
		    "       mdsctl object legal-hold BUCKET NAME [on|off]\n"
		    "       mdsctl object retention-clock [confirm [TIME]]\n" },
	{ "ls", "usage: mdsctl ls BUCKET[/PREFIX] [--delimiter D] [--max-keys N]\n"
		"                 [--start-after K] [--all]\n"
		"  S3-style listing (ListObjectsV2 order: UTF-8 bytes). One page of at most\n"
		"  --max-keys (default 1000) unless --all, which streams every object (or\n"
		"  follows continuation tokens when a delimiter is given).\n" },
	{ "status", "usage: mdsctl status\n"
		    "  The server's version, uptime, store map usage, readers and write figures.\n" },
};

static const struct option long_opts[] = {
	{ "endpoint", required_argument, NULL, O_ENDPOINT },
	{ "tls", no_argument, NULL, O_TLS },
	{ "tls-ca", required_argument, NULL, O_TLS_CA },
	{ "tls-cert", required_argument, NULL, O_TLS_CERT },
	{ "tls-key", required_argument, NULL, O_TLS_KEY },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "json", no_argument, NULL, O_JSON },
	{ "team", required_argument, NULL, O_TEAM },
	{ "size", required_argument, NULL, O_SIZE },
	{ "etag", required_argument, NULL, O_ETAG },
	{ "content-type", required_argument, NULL, O_CTYPE },
	{ "meta", required_argument, NULL, O_META },
	{ "if-match", required_argument, NULL, O_IF_MATCH },
	{ "if-none-match", required_argument, NULL, O_IF_NONE_MATCH },
	{ "delimiter", required_argument, NULL, O_DELIM },
	{ "max-keys", required_argument, NULL, O_MAX_KEYS },
	{ "start-after", required_argument, NULL, O_START_AFTER },
	{ "all", no_argument, NULL, O_ALL },
	{ "max-bytes", required_argument, NULL, O_MAX_BYTES },
	{ "max-objects", required_argument, NULL, O_MAX_OBJECTS },
	{ "soft-bytes", required_argument, NULL, O_SOFT_BYTES },
	{ "soft-objects", required_argument, NULL, O_SOFT_OBJECTS },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "principal", required_argument, NULL, O_PRINCIPAL },
	{ "after", required_argument, NULL, O_AFTER },
	{ "deny", no_argument, NULL, O_DENY },
	{ "condition", required_argument, NULL, O_CONDITION },
	{ "group", required_argument, NULL, O_GROUP },
	{ "prefix", required_argument, NULL, O_PREFIX },
	{ "origin", required_argument, NULL, O_ORIGIN },
	{ "token-file", required_argument, NULL, O_TOKEN_FILE },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int mdsctl_usage_err(const char *fmt, const char *arg)
{
	fputs("mdsctl: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\n(see mdsctl --help)\n", stderr);
	return EXIT_USAGE;
}

int mdsctl_check_opts(const struct ctl *c, unsigned long allowed, const char *cmd)
{
	for (int o = O_TEAM; o <= O_LAST; o++)
		if ((c->given & B(o)) && !(allowed & B(o))) {
			for (const struct option *lo = long_opts; lo->name; lo++)
				if (lo->val == o)
					return mdsctl_usage_err("option --%s does not apply here", lo->name);
			return mdsctl_usage_err("unexpected option for '%s'", cmd);
		}
	return 0;
}

/* gRPC status code names, as grpc_status_code numbers them. */
static const char *const grpc_code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

int mdsctl_fail(int rc, const char *what, const struct mds_client_status *cs)
{
	const char *msg = cs->msg[0] ? cs->msg : mds_strerror(rc);

	if (cs->grpc_code == 14 /* UNAVAILABLE */)
		fprintf(stderr, "mdsctl: %s: cannot reach mds (%s)\n", what, cs->msg);
	else if (cs->grpc_code > 0 &&
		 (size_t)cs->grpc_code < sizeof(grpc_code_names) / sizeof(grpc_code_names[0]))
		fprintf(stderr, "mdsctl: %s: %s: %s\n", what, grpc_code_names[cs->grpc_code], msg);
	else
		fprintf(stderr, "mdsctl: %s: %s\n", what, msg);
	return 1;
}

void mdsctl_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);

	if (s) {
		puts(s);
		free(s);
	}
	json_decref(j);
}

const char *mdsctl_fmt_time(uint64_t ns, char *buf, size_t n)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* ---- JSON forms ---------------------------------------------------------- */

static json_t *team_json(const Mds__V1__Team *t)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", t->name, "ctime_ns",
			 (json_int_t)t->ctime_ns, "buckets", (json_int_t)t->buckets, "bytes",
			 (json_int_t)t->bytes, "objects", (json_int_t)t->objects);
}

static json_t *bucket_json(const Mds__V1__Bucket *b)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "name", b->name, "team", b->team,
			 "id", (json_int_t)b->id, "ctime_ns", (json_int_t)b->ctime_ns, "bytes",
			 (json_int_t)b->bytes, "objects", (json_int_t)b->objects);
}

static json_t *pairs_json(Mds__V1__KeyValue **kv, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, kv[i]->key, json_string(kv[i]->value));
	return o;
}

static json_t *object_json(const Mds__V1__ObjectRecord *o)
{
	static const char *const types[] = { "block", "append", "page" };
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s}", "bucket",
			      o->bucket, "name", o->name, "version", (json_int_t)o->version,
			      "size", (json_int_t)o->size, "ctime_ns", (json_int_t)o->ctime_ns,
			      "mtime_ns", (json_int_t)o->mtime_ns, "blob_type",
			      (unsigned)o->blob_type < 3 ? types[o->blob_type] : "unknown",
			      "etag", o->etag, "content_type", o->content_type);

	json_object_set_new(j, "metadata", pairs_json(o->metadata, o->n_metadata));
	json_object_set_new(j, "tags", pairs_json(o->tags, o->n_tags));
	return j;
}

/* ---- team ---------------------------------------------------------------- */

static void team_row(const Mds__V1__Team *t)
{
	char b[32];

	printf("%-24s %8llu %10llu %12s\n", t->name, (unsigned long long)t->buckets,
	       (unsigned long long)t->objects, mds_units_format_size(t->bytes, b, sizeof(b)));
}

static int cmd_team(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	const char *sub = c->n_args > 0 ? c->args[0] : "";
	int rc;

	if (mdsctl_check_opts(c, 0, "team"))
		return EXIT_USAGE;
	if (!strcmp(sub, "create") || !strcmp(sub, "show") || !strcmp(sub, "rm")) {
		if (c->n_args != 2)
			return mdsctl_usage_err("team %s needs exactly one NAME", sub);
		if (!strcmp(sub, "rm")) {
			Mds__V1__DeleteTeamRequest r = MDS__V1__DELETE_TEAM_REQUEST__INIT;

			r.team = c->args[1];
			rc = mds_client_call(c->cl, "/mds.v1.Admin/DeleteTeam", &r.base,
					     &mds__v1__delete_team_response__descriptor, &resp, &cs);
			if (rc)
				return mdsctl_fail(rc, "cannot delete team", &cs);
			protobuf_c_message_free_unpacked(resp, NULL);
			if (c->json)
				mdsctl_print_json(json_pack("{s:s, s:b}", "team", c->args[1], "deleted", 1));
			else
				printf("deleted team %s\n", c->args[1]);
			return 0;
		}
		if (!strcmp(sub, "create")) {
			Mds__V1__CreateTeamRequest r = MDS__V1__CREATE_TEAM_REQUEST__INIT;

			r.team = c->args[1];
			rc = mds_client_call(c->cl, "/mds.v1.Admin/CreateTeam", &r.base,
					     &mds__v1__team__descriptor, &resp, &cs);
		} else {
			Mds__V1__GetTeamRequest r = MDS__V1__GET_TEAM_REQUEST__INIT;

			r.team = c->args[1];
			rc = mds_client_call(c->cl, "/mds.v1.Admin/GetTeam", &r.base,
					     &mds__v1__team__descriptor, &resp, &cs);
		}
		if (rc)
			return mdsctl_fail(rc, !strcmp(sub, "create") ? "cannot create team"
				    : "cannot show team", &cs);
		const Mds__V1__Team *t = (const void *)resp;

		if (c->json) {
			mdsctl_print_json(team_json(t));
		} else if (!strcmp(sub, "create")) {
			printf("created team %s\n", t->name);
		} else {
			char b[32], tb[32];

			printf("name:     %s\ncreated:  %s\nbuckets:  %llu\nobjects:  %llu\n"
			       "bytes:    %s (%llu)\n", t->name, mdsctl_fmt_time(t->ctime_ns, tb, sizeof(tb)),
			       (unsigned long long)t->buckets, (unsigned long long)t->objects,
			       mds_units_format_size(t->bytes, b, sizeof(b)),
			       (unsigned long long)t->bytes);
		}
		protobuf_c_message_free_unpacked(resp, NULL);
		return 0;
	}
	if (!strcmp(sub, "ls")) {
		Mds__V1__ListTeamsRequest r = MDS__V1__LIST_TEAMS_REQUEST__INIT;
		json_t *arr = c->json ? json_array() : NULL;
		char after[128] = "";

		if (c->n_args != 1)
			return mdsctl_usage_err("team ls takes no arguments%s", "");
		for (;;) {
			r.start_after = after;
			rc = mds_client_call(c->cl, "/mds.v1.Admin/ListTeams", &r.base,
					     &mds__v1__list_teams_response__descriptor, &resp, &cs);
			if (rc) {
				json_decref(arr);
				return mdsctl_fail(rc, "cannot list teams", &cs);
			}
			const Mds__V1__ListTeamsResponse *lr = (const void *)resp;
			int more = lr->truncated && lr->n_teams > 0;

			if (!c->json && !after[0])
				printf("%-24s %8s %10s %12s\n", "TEAM", "BUCKETS", "OBJECTS", "BYTES");

			for (size_t i = 0; i < lr->n_teams; i++) {
				if (arr)
					json_array_append_new(arr, team_json(lr->teams[i]));
				else
					team_row(lr->teams[i]);
			}
			if (more)
				snprintf(after, sizeof(after), "%s", lr->teams[lr->n_teams - 1]->name);
			protobuf_c_message_free_unpacked(resp, NULL);
			if (!more)
				break;
		}
		if (arr)
			mdsctl_print_json(json_pack("{s:o}", "teams", arr));
		return 0;
	}
	return mdsctl_usage_err("unknown team command '%s' (create, ls, show, rm)", sub);
}

/* ---- bucket -------------------------------------------------------------- */

static int cmd_bucket(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	const char *sub = c->n_args > 0 ? c->args[0] : "";
	int rc;

	if (!strcmp(sub, "create")) {
		Mds__V1__CreateBucketRequest r = MDS__V1__CREATE_BUCKET_REQUEST__INIT;

		if (mdsctl_check_opts(c, B(O_TEAM), "bucket create"))
			return EXIT_USAGE;
		if (c->n_args != 2)
			return mdsctl_usage_err("bucket create needs exactly one NAME%s", "");
		if (!c->team)
			return mdsctl_usage_err("bucket create needs --team TEAM%s", "");
		r.bucket = c->args[1];
		r.team = (char *)c->team;
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/CreateBucket", &r.base,
				     &mds__v1__bucket__descriptor, &resp, &cs);
		if (rc)
			return mdsctl_fail(rc, "cannot create bucket", &cs);
		if (c->json)
			mdsctl_print_json(bucket_json((const void *)resp));
		else
			printf("created bucket %s (team %s)\n", r.bucket, r.team);
		protobuf_c_message_free_unpacked(resp, NULL);
		return 0;
	}
	if (!strcmp(sub, "show") || !strcmp(sub, "rm")) {
		if (mdsctl_check_opts(c, 0, "bucket"))
			return EXIT_USAGE;
		if (c->n_args != 2)
			return mdsctl_usage_err("bucket %s needs exactly one NAME", sub);
		if (!strcmp(sub, "rm")) {
			Mds__V1__DeleteBucketRequest r = MDS__V1__DELETE_BUCKET_REQUEST__INIT;

			r.bucket = c->args[1];
			rc = mds_client_call(c->cl, "/mds.v1.Namespace/DeleteBucket", &r.base,
					     &mds__v1__delete_bucket_response__descriptor, &resp,
					     &cs);
			if (rc)
				return mdsctl_fail(rc, "cannot delete bucket", &cs);
			protobuf_c_message_free_unpacked(resp, NULL);
			if (c->json)
				mdsctl_print_json(json_pack("{s:s, s:b}", "bucket", c->args[1], "deleted", 1));
			else
				printf("deleted bucket %s\n", c->args[1]);
			return 0;
		}
		Mds__V1__GetBucketRequest r = MDS__V1__GET_BUCKET_REQUEST__INIT;

		r.bucket = c->args[1];
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/GetBucket", &r.base,
				     &mds__v1__bucket__descriptor, &resp, &cs);
		if (rc)
			return mdsctl_fail(rc, "cannot show bucket", &cs);
		const Mds__V1__Bucket *b = (const void *)resp;

		if (c->json) {
			mdsctl_print_json(bucket_json(b));
		} else {
			char sb[32], tb[32];

			printf("name:     %s\nteam:     %s\nid:       %llu\ncreated:  %s\n"
			       "objects:  %llu\nbytes:    %s (%llu)\n", b->name, b->team,
			       (unsigned long long)b->id, mdsctl_fmt_time(b->ctime_ns, tb, sizeof(tb)),
			       (unsigned long long)b->objects,
			       mds_units_format_size(b->bytes, sb, sizeof(sb)),
			       (unsigned long long)b->bytes);
		}
		protobuf_c_message_free_unpacked(resp, NULL);
		return 0;
	}
	if (!strcmp(sub, "ls")) {
		Mds__V1__ListBucketsRequest r = MDS__V1__LIST_BUCKETS_REQUEST__INIT;
		json_t *arr = c->json ? json_array() : NULL;
		char after[128] = "";

		if (mdsctl_check_opts(c, B(O_TEAM), "bucket ls"))
			return EXIT_USAGE;
		if (c->n_args != 1)
			return mdsctl_usage_err("bucket ls takes no arguments%s", "");
		r.team = (char *)(c->team ? c->team : "");
		for (;;) {
			r.start_after = after;
			rc = mds_client_call(c->cl, "/mds.v1.Namespace/ListBuckets", &r.base,
					     &mds__v1__list_buckets_response__descriptor, &resp, &cs);
			if (rc) {
				json_decref(arr);
				return mdsctl_fail(rc, "cannot list buckets", &cs);
			}
			const Mds__V1__ListBucketsResponse *lr = (const void *)resp;
			int more = lr->truncated && lr->n_buckets > 0;

			if (!c->json && !after[0])
				printf("%-32s %-20s %10s %12s\n", "BUCKET", "TEAM", "OBJECTS", "BYTES");

			for (size_t i = 0; i < lr->n_buckets; i++) {
				const Mds__V1__Bucket *b = lr->buckets[i];
				char sb[32];

				if (arr)
					json_array_append_new(arr, bucket_json(b));
				else
					printf("%-32s %-20s %10llu %12s\n", b->name, b->team,
					       (unsigned long long)b->objects,
					       mds_units_format_size(b->bytes, sb, sizeof(sb)));
			}
			if (more)
				snprintf(after, sizeof(after), "%s",
					 lr->buckets[lr->n_buckets - 1]->name);
			protobuf_c_message_free_unpacked(resp, NULL);
			if (!more)
				break;
		}
		if (arr)
			mdsctl_print_json(json_pack("{s:o}", "buckets", arr));
		return 0;
	}
	return mdsctl_usage_err("unknown bucket command '%s' (create, ls, show, rm)", sub);
}

/* ---- object -------------------------------------------------------------- */

static int cmd_object(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	const char *sub = c->n_args > 0 ? c->args[0] : "";
	int rc;

	if (!strcmp(sub, "retention") || !strcmp(sub, "legal-hold") || !strcmp(sub, "retention-clock"))
		return mdsctl_object_lock(c);   /* mdsctl_retention.c */
	if (strcmp(sub, "put") && strcmp(sub, "head") && strcmp(sub, "rm"))
		return mdsctl_usage_err("unknown object command '%s' (put, head, rm)", sub);
	if (c->n_args != 3)
		return mdsctl_usage_err("object %s needs BUCKET NAME", sub);
	if (!strcmp(sub, "put")) {
		Mds__V1__PutObjectRequest r = MDS__V1__PUT_OBJECT_REQUEST__INIT;
		Mds__V1__KeyValue kvs[MAX_META], *kvp[MAX_META];
		char *meta_copy[MAX_META] = { 0 };
		uint64_t size;

		if (mdsctl_check_opts(c, B(O_SIZE) | B(O_ETAG) | B(O_CTYPE) | B(O_META) | B(O_IF_MATCH) |
			       B(O_IF_NONE_MATCH), "object put"))
			return EXIT_USAGE;
		if (!c->size_s)
			return mdsctl_usage_err("object put needs --size N%s", "");
		if (mds_units_parse_size(c->size_s, &size) != 0)
			return mdsctl_usage_err("cannot parse --size '%s' (e.g. 1048576, 4KiB, 1.5GiB)",
					 c->size_s);
		for (size_t i = 0; i < c->n_meta; i++) {
			char *eq;

			meta_copy[i] = strdup(c->meta[i]);
			if (!meta_copy[i] || !(eq = strchr(meta_copy[i], '=')) || eq == meta_copy[i]) {
				for (size_t k = 0; k <= i; k++)
					free(meta_copy[k]);
				return mdsctl_usage_err("--meta wants KEY=VALUE, got '%s'", c->meta[i]);
			}
			*eq = 0;
			mds__v1__key_value__init(&kvs[i]);
			kvs[i].key = meta_copy[i];
			kvs[i].value = eq + 1;
			kvp[i] = &kvs[i];
		}
		r.bucket = c->args[1];
		r.name = c->args[2];
		r.size = size;
		r.etag = (char *)(c->etag ? c->etag : "");
		r.content_type = (char *)(c->ctype ? c->ctype : "");
		r.if_match = (char *)(c->if_match ? c->if_match : "");
		r.if_none_match = (char *)(c->if_none_match ? c->if_none_match : "");
		r.metadata = kvp;
		r.n_metadata = c->n_meta;
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/PutObject", &r.base,
				     &mds__v1__put_object_response__descriptor, &resp, &cs);
		for (size_t i = 0; i < c->n_meta; i++)
			free(meta_copy[i]);
		if (rc)
			return mdsctl_fail(rc, "cannot put object", &cs);
		const Mds__V1__PutObjectResponse *pr = (const void *)resp;

		if (c->json)
			mdsctl_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I}", "bucket", r.bucket, "name",
					     r.name, "size", (json_int_t)size, "version",
					     (json_int_t)pr->version, "mtime_ns",
					     (json_int_t)pr->mtime_ns));
		else
			printf("put %s/%s version %llu\n", r.bucket, r.name,
			       (unsigned long long)pr->version);
		protobuf_c_message_free_unpacked(resp, NULL);
		return 0;
	}
	if (!strcmp(sub, "rm")) {
		Mds__V1__DeleteObjectRequest r = MDS__V1__DELETE_OBJECT_REQUEST__INIT;

		if (mdsctl_check_opts(c, B(O_IF_MATCH) | B(O_IF_NONE_MATCH), "object rm"))
			return EXIT_USAGE;
		r.bucket = c->args[1];
		r.name = c->args[2];
		r.if_match = (char *)(c->if_match ? c->if_match : "");
		r.if_none_match = (char *)(c->if_none_match ? c->if_none_match : "");
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/DeleteObject", &r.base,
				     &mds__v1__delete_object_response__descriptor, &resp, &cs);
		if (rc)
			return mdsctl_fail(rc, "cannot delete object", &cs);
		const Mds__V1__DeleteObjectResponse *dr = (const void *)resp;

		if (c->json)
			mdsctl_print_json(json_pack("{s:s, s:s, s:I, s:b}", "bucket", r.bucket, "name", r.name,
					     "version", (json_int_t)dr->version, "deleted", 1));
		else
			printf("deleted %s/%s (version %llu)\n", r.bucket, r.name,
			       (unsigned long long)dr->version);
		protobuf_c_message_free_unpacked(resp, NULL);
		return 0;
	}
	Mds__V1__HeadObjectRequest r = MDS__V1__HEAD_OBJECT_REQUEST__INIT;

	if (mdsctl_check_opts(c, 0, "object head"))
		return EXIT_USAGE;
	r.bucket = c->args[1];
	r.name = c->args[2];
	rc = mds_client_call(c->cl, "/mds.v1.Namespace/HeadObject", &r.base,
			     &mds__v1__object_record__descriptor, &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot head object", &cs);
	const Mds__V1__ObjectRecord *o = (const void *)resp;

	if (c->json) {
		mdsctl_print_json(object_json(o));
	} else {
		char sb[32], tb[32];

		printf("bucket:        %s\nname:          %s\nsize:          %s (%llu)\n"
		       "etag:          %s\ncontent-type:  %s\nversion:       %llu\n"
		       "modified:      %s\n", o->bucket, o->name,
		       mds_units_format_size(o->size, sb, sizeof(sb)), (unsigned long long)o->size,
		       o->etag, o->content_type, (unsigned long long)o->version,
		       mdsctl_fmt_time(o->mtime_ns, tb, sizeof(tb)));
		for (size_t i = 0; i < o->n_metadata; i++)
			printf("meta:          %s=%s\n", o->metadata[i]->key, o->metadata[i]->value);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/* ---- ls ------------------------------------------------------------------ */

struct ls_state {
	struct ctl *c;
	json_t *arr;
	unsigned long long n;
};

static void ls_row(struct ls_state *ls, const char *name, int is_prefix,
		   const Mds__V1__ObjectRecord *o)
{
	char sb[32], tb[32];

	ls->n++;
	if (ls->arr) {
		if (is_prefix)
			json_array_append_new(ls->arr, json_pack("{s:s, s:b}", "prefix", name,
								  "is_prefix", 1));
		else
			json_array_append_new(ls->arr, object_json(o));
		return;
	}
	if (is_prefix)
		printf("%-20s %12s  %s\n", "", "PRE", name);
	else
		printf("%-20s %12s  %s\n", mdsctl_fmt_time(o->mtime_ns, tb, sizeof(tb)),
		       mds_units_format_size(o->size, sb, sizeof(sb)), name);
}

static int ls_stream_msg(void *arg, const ProtobufCMessage *m)
{
	struct ls_state *ls = arg;
	const Mds__V1__ListObjectsStreamResponse *r = (const void *)m;

	for (size_t i = 0; i < r->n_objects; i++)
		ls_row(ls, r->objects[i]->name, 0, r->objects[i]);
	fflush(stdout);
	return 0;
}

static int cmd_ls(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	struct ls_state ls = { c, NULL, 0 };
	char *bucket, *prefix = (char *)"", *slash;
	char *token = NULL;
	int rc = 0, truncated = 0, ret = 0;
	long long max_keys = -1;

	if (mdsctl_check_opts(c, B(O_DELIM) | B(O_MAX_KEYS) | B(O_START_AFTER) | B(O_ALL), "ls"))
		return EXIT_USAGE;
	if (c->n_args != 1)
		return mdsctl_usage_err("ls needs exactly one BUCKET[/PREFIX]%s", "");
	if (c->max_keys_s) {
		char *end;

		max_keys = strtoll(c->max_keys_s, &end, 10);
		if (*end || end == c->max_keys_s || max_keys < 0)
			return mdsctl_usage_err("cannot parse --max-keys '%s'", c->max_keys_s);
	}
	if (c->all && c->max_keys_s)
		return mdsctl_usage_err("--all and --max-keys%s exclude each other", "");
	bucket = c->args[0];
	slash = strchr(bucket, '/');
	if (slash) {
		*slash = 0;
		prefix = slash + 1;
	}
	if (c->json)
		ls.arr = json_array();
	else
		printf("%-20s %12s  %s\n", "MODIFIED", "SIZE", "NAME");

	if (c->all && !c->delim) {
		Mds__V1__ListObjectsStreamRequest r = MDS__V1__LIST_OBJECTS_STREAM_REQUEST__INIT;

		r.bucket = bucket;
		r.prefix = prefix;
		r.start_after = (char *)(c->start_after ? c->start_after : "");
		rc = mds_client_stream(c->cl, "/mds.v1.Namespace/ListObjectsStream", &r.base,
				       &mds__v1__list_objects_stream_response__descriptor,
				       3600 * 1000, ls_stream_msg, &ls, &cs);
		if (rc)
			ret = mdsctl_fail(rc, "cannot list", &cs);
		goto out;
	}
	for (;;) {
		Mds__V1__ListObjectsRequest r = MDS__V1__LIST_OBJECTS_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;

		r.bucket = bucket;
		r.prefix = prefix;
		r.delimiter = (char *)(c->delim ? c->delim : "");
		r.start_after = (char *)(c->start_after ? c->start_after : "");
		r.continuation_token = token ? token : (char *)"";
		if (max_keys >= 0) {
			r.max_keys_set_case = MDS__V1__LIST_OBJECTS_REQUEST__MAX_KEYS_SET_MAX_KEYS;
			r.max_keys = max_keys;
		}
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/ListObjects", &r.base,
				     &mds__v1__list_objects_response__descriptor, &resp, &cs);
		if (rc) {
			ret = mdsctl_fail(rc, "cannot list", &cs);
			goto out;
		}
		const Mds__V1__ListObjectsResponse *lr = (const void *)resp;

		for (size_t i = 0; i < lr->n_entries; i++)
			ls_row(&ls, lr->entries[i]->name, lr->entries[i]->is_prefix,
			       lr->entries[i]->object);
		truncated = lr->truncated;
		free(token);
		token = truncated ? strdup(lr->next_continuation_token) : NULL;
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!truncated || !c->all)
			break;
		if (!token) {
			ret = mdsctl_fail(MDS_ENOMEM, "cannot list", &cs);
			goto out;
		}
	}
out:
	if (ls.arr) {
		if (ret == 0) {
			json_t *doc = json_pack("{s:s, s:s, s:o, s:I, s:b}", "bucket", bucket, "prefix",
						prefix, "entries", ls.arr, "count", (json_int_t)ls.n,
						"truncated", truncated && !c->all);

			if (truncated && !c->all && token)
				json_object_set_new(doc, "next_continuation_token", json_string(token));
			mdsctl_print_json(doc);
		} else {
			json_decref(ls.arr);
		}
	} else if (ret == 0 && truncated && !c->all) {
		fprintf(stderr, "mdsctl: listing truncated after %llu entries; use --all for "
			"everything\n", ls.n);
	}
	free(token);
	return ret;
}

/* ---- status -------------------------------------------------------------- */

static int cmd_status(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	Mds__V1__GetStatusRequest r = MDS__V1__GET_STATUS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	if (mdsctl_check_opts(c, 0, "status"))
		return EXIT_USAGE;
	if (c->n_args != 0)
		return mdsctl_usage_err("status takes no arguments%s", "");
	rc = mds_client_call(c->cl, "/mds.v1.Admin/GetStatus", &r.base,
			     &mds__v1__server_status__descriptor, &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot get status", &cs);
	const Mds__V1__ServerStatus *s = (const void *)resp;

	if (c->json) {
		mdsctl_print_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:b, s:I, s:I, s:i, s:i, "
				     "s:I, s:I, s:I, s:i, s:b, s:b}",
				     "endpoint", c->co.endpoint, "version", s->version, "api", s->api,
				     "start_time_ns", (json_int_t)s->start_time_ns, "uptime_ns",
				     (json_int_t)s->uptime_ns, "data_dir", s->data_dir, "serving",
				     s->serving, "map_size", (json_int_t)s->map_size, "map_used",
				     (json_int_t)s->map_used, "readers_used", (int)s->readers_used,
				     "readers_max", (int)s->readers_max, "write_batches",
				     (json_int_t)s->write_batches, "write_ops",
				     (json_int_t)s->write_ops, "write_queue",
				     (json_int_t)s->write_queue, "worker_threads",
				     (int)s->worker_threads, "tls", s->tls, "mtls", s->mtls));
	} else {
		char a[32], b[32];

		printf("endpoint:      %s\nversion:       %s (api %s)\nserving:       %s\n"
		       "uptime:        %llus\ndata:          %s\nmap:           %s used of %s\n"
		       "readers:       %u of %u\nwrites:        %llu ops in %llu batches, "
		       "%llu queued\nthreads:       %u\ntls:           %s\n",
		       c->co.endpoint, s->version, s->api, s->serving ? "yes" : "no (stopping)",
		       (unsigned long long)(s->uptime_ns / 1000000000u), s->data_dir,
		       mds_units_format_size(s->map_used, a, sizeof(a)),
		       mds_units_format_size(s->map_size, b, sizeof(b)), s->readers_used,
		       s->readers_max, (unsigned long long)s->write_ops,
		       (unsigned long long)s->write_batches, (unsigned long long)s->write_queue,
		       s->worker_threads, s->mtls ? "mutual" : (s->tls ? "yes" : "no"));
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

#define DEFAULT_ENDPOINT "127.0.0.1:7420"
/* What `mds serve` with no options writes (mds/auth/local_issuer.h). */
#define DEFAULT_TOKEN_FILE "./var/mds/admin.token"

/*
 * The bearer token, first found of: --token @arg, the first line of
 * --token-file @file, $MDS_TOKEN, and, only when talking to the default
 * endpoint, the embedded default's ./var/mds/admin.token if it exists.
 * None is fine (dev mode, or mTLS identities). @buf (caller's) holds it;
 * c->co.token borrows it. Returns 0, or 1 with the error printed.
 */
static int mdsctl_token(struct ctl *c, const char *arg, const char *file, char *buf, size_t cap)
{
	const char *env = getenv("MDS_TOKEN");
	int implicit = 0;
	size_t n;

	buf[0] = 0;
	if (!arg && !file && !(env && *env) && !strcmp(c->co.endpoint, DEFAULT_ENDPOINT) &&
	    access(DEFAULT_TOKEN_FILE, F_OK) == 0) {
		file = DEFAULT_TOKEN_FILE;
		implicit = 1;
	}
	if (arg) {
		snprintf(buf, cap, "%s", arg);
	} else if (file) {
		FILE *f = fopen(file, "r");

		if (!f || !fgets(buf, (int)cap, f)) {
			fprintf(stderr, "mdsctl: cannot read %s '%s': %s\n",
				implicit ? "the default token file" : "--token-file", file,
				f ? "empty file" : strerror(errno));
			if (f)
				fclose(f);
			return 1;
		}
		fclose(f);
	} else if (env && *env) {
		snprintf(buf, cap, "%s", env);
	}
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = 0;
	c->co.token = n ? buf : NULL;
	return 0;
}

static int print_help(const char *cmd)
{
	if (cmd && !strcmp(cmd, "quota")) {
		fputs(mdsctl_quota_help, stdout);
		return 0;
	}
	if (cmd && !strcmp(cmd, "usage")) {
		fputs(mdsctl_usage_help, stdout);
		return 0;
	}
	if (cmd && (!strcmp(cmd, "upload") || !strcmp(cmd, "blob"))) {
		fputs(!strcmp(cmd, "upload") ? mdsctl_upload_help : mdsctl_blob_help, stdout);
		return 0;
	}
	if (cmd && !strcmp(cmd, "policy")) {
		fputs(mdsctl_policy_help, stdout);
		return 0;
	}
	if (cmd && !strcmp(cmd, "global")) {
		fputs(mdsctl_global_help, stdout);
		return 0;
	}
	if (cmd && (!strcmp(cmd, "peers") || !strcmp(cmd, "feed"))) {
		fputs(mdsctl_peers_help, stdout);
		return 0;
	}
	for (size_t i = 0; cmd && i < sizeof(usage_cmds) / sizeof(usage_cmds[0]); i++)
		if (!strcmp(cmd, usage_cmds[i].cmd)) {
			fputs(usage_cmds[i].text, stdout);
			return 0;
		}
	fputs(usage_top, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c;
	struct mds_status st;
	const char *cmd, *token_file = NULL, *token_arg = NULL;
	int opt, rc;
	char *end, token[8192];

	memset(&c, 0, sizeof(c));
	c.co.endpoint = DEFAULT_ENDPOINT;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (opt >= O_TEAM && opt <= O_LAST)
			c.given |= B(opt);
		switch (opt) {
		case 'h': c.help = 1; break;
		case O_ENDPOINT: c.co.endpoint = optarg; break;
		case O_TLS: c.co.tls = 1; break;
		case O_TLS_CA: c.co.tls_ca = optarg; break;
		case O_TLS_CERT: c.co.tls_cert = optarg; break;
		case O_TLS_KEY: c.co.tls_key = optarg; break;
		case O_TIMEOUT:
			c.co.timeout_ms = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !c.co.timeout_ms)
				return mdsctl_usage_err("cannot parse --timeout '%s' (milliseconds)", optarg);
			break;
		case O_JSON: c.json = 1; break;
		case O_TEAM: c.team = optarg; break;
		case O_SIZE: c.size_s = optarg; break;
		case O_ETAG: c.etag = optarg; break;
		case O_CTYPE: c.ctype = optarg; break;
		case O_META:
			if (c.n_meta == MAX_META)
				return mdsctl_usage_err("at most 64 --meta options%s", "");
			c.meta[c.n_meta++] = optarg;
			break;
		case O_IF_MATCH: c.if_match = optarg; break;
		case O_IF_NONE_MATCH: c.if_none_match = optarg; break;
		case O_DELIM: c.delim = optarg; break;
		case O_MAX_KEYS: c.max_keys_s = optarg; break;
		case O_START_AFTER: c.start_after = optarg; break;
		case O_ALL: c.all = 1; break;
		case O_MAX_BYTES: c.max_bytes_s = optarg; break;
		case O_MAX_OBJECTS: c.max_objects_s = optarg; break;
		case O_SOFT_BYTES: c.soft_bytes_s = optarg; break;
		case O_SOFT_OBJECTS: c.soft_objects_s = optarg; break;
		case O_GRACE: c.grace_s = optarg; break;
		case O_PRINCIPAL: c.principal = optarg; break;
		case O_AFTER: c.after_s = optarg; break;
		case O_DENY: c.deny = 1; break;
		case O_CONDITION: c.condition = optarg; break;
		case O_GROUP:
			if (c.n_groups == 16)
				return mdsctl_usage_err("at most 16 --group options%s", "");
			c.groups[c.n_groups++] = optarg;
			break;
		case O_PREFIX: c.prefix = optarg; break;
		case O_ORIGIN:
			if (c.n_origins == 16)
				return mdsctl_usage_err("at most 16 --origin options%s", "");
			c.origins[c.n_origins++] = optarg;
			break;
		case O_TOKEN_FILE: token_file = optarg; break;
		case O_TOKEN: token_arg = optarg; break;
		default:
			return mdsctl_usage_err("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		if (c.help)
			return print_help(NULL);
		fputs(usage_top, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	c.args = argv + optind + 1;
	c.n_args = argc - optind - 1;
	if (c.help)
		return print_help(cmd);
	if (strcmp(cmd, "team") && strcmp(cmd, "bucket") && strcmp(cmd, "object") &&
	    strcmp(cmd, "ls") && strcmp(cmd, "status") && strcmp(cmd, "quota") &&
	    strcmp(cmd, "usage") && strcmp(cmd, "upload") && strcmp(cmd, "blob") &&
	    strcmp(cmd, "policy") && strcmp(cmd, "global") && strcmp(cmd, "peers") &&
	    strcmp(cmd, "feed"))
		return mdsctl_usage_err("unknown command '%s'", cmd);
	if (mdsctl_token(&c, token_arg, token_file, token, sizeof(token)) != 0)
		return 1;

	mds_status_clear(&st);
	if (mds_client_open(&c.cl, &c.co, &st) != 0) {
		fprintf(stderr, "mdsctl: %s\n", st.msg);
		return 1;
	}
	if (!strcmp(cmd, "team"))
		rc = cmd_team(&c);
	else if (!strcmp(cmd, "bucket"))
		rc = cmd_bucket(&c);
	else if (!strcmp(cmd, "object"))
		rc = cmd_object(&c);
	else if (!strcmp(cmd, "ls"))
		rc = cmd_ls(&c);
	else if (!strcmp(cmd, "quota"))
		rc = mdsctl_cmd_quota(&c);
	else if (!strcmp(cmd, "usage"))
		rc = mdsctl_cmd_usage(&c);
	else if (!strcmp(cmd, "upload") || !strcmp(cmd, "blob"))
		rc = !strcmp(cmd, "upload") ? mdsctl_cmd_upload(&c) : mdsctl_cmd_blob(&c);
	else if (!strcmp(cmd, "policy"))
		rc = mdsctl_cmd_policy(&c);
	else if (!strcmp(cmd, "global"))
		rc = mdsctl_cmd_global(&c);
	else if (!strcmp(cmd, "peers"))
		rc = mdsctl_cmd_peers(&c);
	else if (!strcmp(cmd, "feed"))
		rc = mdsctl_cmd_feed(&c);
	else
		rc = cmd_status(&c);
	mds_client_close(c.cl);
	return rc;
}
