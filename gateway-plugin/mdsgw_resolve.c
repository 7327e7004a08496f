/*
 * mdsgw_resolve.c - mdsgw-resolve, a small CLI over libmdsgw that shows an
 * operator exactly what a gateway configured with the same config string
 * sees: the provider, its capabilities, a resolved record, a listing page,
 * a quota reservation (and its release), an access decision. It uses only include/mds/mdsgw.h.
 *
 * Exit status: 0 success, 1 the operation failed (the message names the
 * error code), 2 usage error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mds/mdsgw.h"

static const char usage[] =
	"usage: mdsgw-resolve [--config CFG] [--timeout MS] [--json] COMMAND ...\n"
	"\n"
	"  info                       provider, capabilities and abi of the handle\n"
	"  resolve BUCKET NAME        the object record a gateway would read\n"
	"  list BUCKET [--prefix P] [--delimiter D] [--max-keys N] [--start-after S]\n"
	"       [--token T] [--azure] [--all]   one page (or every page with --all)\n"
	"  reserve BUCKET NAME --bytes N [--objects N] [--ttl MS]\n"
	"                             reserve quota for an upload (prints the token)\n"
	"  release TOKEN              give a reservation back\n"
	"  access PRINCIPAL ACTION BUCKET [NAME]\n"
	"                             would the island allow it? (allow / deny)\n"
	"\n"
	"  --config CFG   e.g. lmdb:/var/lib/mds?mds=127.0.0.1:7420 or grpc:HOST:PORT\n"
	"                 (default: $MDSGW_CONFIG, else grpc:127.0.0.1:7420)\n"
	"  --timeout MS   deadline of each call (default: the handle's, 5000)\n"
	"  --json         one JSON object per record / page\n";

enum { O_CONFIG = 1, O_TIMEOUT, O_JSON, O_PREFIX, O_DELIM, O_MAXKEYS, O_START, O_TOKEN,
       O_AZURE, O_ALL, O_BYTES, O_OBJECTS, O_TTL, O_HELP };

struct cli {
	const char *config, *prefix, *delimiter, *start_after, *token;
	long long max_keys;
	unsigned long long bytes, objects, ttl_ms;
	unsigned timeout_ms;
	int json, azure, all, have_bytes;
};

static void json_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_object(const struct cli *c, const struct mdsgw_object *o)
{
	if (c->json) {
		printf("{\"bucket\":");
		json_str(o->bucket, strlen(o->bucket));
		printf(",\"name\":");
		json_str(o->name, strlen(o->name));
		printf(",\"version\":%" PRIu64 ",\"size\":%" PRIu64 ",\"mtime_ns\":%" PRIu64
		       ",\"blob_type\":%u,\"etag\":", o->version, o->content_size, o->mtime_ns,
		       o->blob_type);
		json_str(o->etag, strlen(o->etag));
		printf(",\"content_type\":");
		json_str(o->content_type, strlen(o->content_type));
		printf(",\"locator\":");
		json_str((const char *)o->locator, o->locator_len);
		printf(",\"metadata\":{");
		for (size_t i = 0; i < o->n_meta; i++) {
			printf(i ? "," : "");
			json_str(o->meta[i].key, strlen(o->meta[i].key));
			putchar(':');
			json_str(o->meta[i].value, strlen(o->meta[i].value));
		}
		printf("},\"tags\":{");
		for (size_t i = 0; i < o->n_tags; i++) {
			printf(i ? "," : "");
			json_str(o->tags[i].key, strlen(o->tags[i].key));
			putchar(':');
			json_str(o->tags[i].value, strlen(o->tags[i].value));
		}
		printf("}}\n");
		return;
	}
	printf("bucket:        %s\nname:          %s\nversion:       %" PRIu64
	       "\nsize:          %" PRIu64 "\nmtime_ns:      %" PRIu64 "\netag:          %s\n"
	       "content-type:  %s\nblob-type:     %s\nlocator:       %.*s\n", o->bucket, o->name,
	       o->version, o->content_size, o->mtime_ns, o->etag, o->content_type,
	       o->blob_type == MDSGW_BLOB_APPEND ? "append" :
	       o->blob_type == MDSGW_BLOB_PAGE ? "page" : "block",
	       (int)o->locator_len, (const char *)o->locator);
	for (size_t i = 0; i < o->n_meta; i++)
		printf("meta:          %s=%s\n", o->meta[i].key, o->meta[i].value);
	for (size_t i = 0; i < o->n_tags; i++)
		printf("tag:           %s=%s\n", o->tags[i].key, o->tags[i].value);
}

static int fail(const char *what, const struct mdsgw_status *st)
{
	fprintf(stderr, "mdsgw-resolve: %s: %s (%s)\n", what, st->msg[0] ? st->msg :
		mdsgw_strerror(st->code), mdsgw_error_name(st->code));
	return 1;
}

static int64_t deadline(const struct cli *c)
{
	return c->timeout_ms ? mdsgw_deadline_in_ms(c->timeout_ms) : 0;
}

struct page_ctx {
	const struct cli *c;
	int first;
};

static int on_entry(void *arg, const struct mdsgw_entry *e)
{
	struct page_ctx *x = arg;

	if (x->c->json) {
		printf(x->first ? "" : ",");
		x->first = 0;
		if (e->is_prefix) {
			printf("{\"prefix\":");
			json_str(e->name, strlen(e->name));
			printf("}");
		} else {
			printf("{\"name\":");
			json_str(e->name, strlen(e->name));
			printf(",\"size\":%" PRIu64 ",\"version\":%" PRIu64 ",\"etag\":",
			       e->obj->content_size, e->obj->version);
			json_str(e->obj->etag, strlen(e->obj->etag));
			printf("}");
		}
	} else if (e->is_prefix) {
		printf("%12s  %s\n", "PRE", e->name);
	} else {
		printf("%12" PRIu64 "  %s\n", e->obj->content_size, e->name);
	}
	return 0;
}

static int cmd_list(const struct cli *c, mdsgw_handle *h, const char *bucket)
{
	struct mdsgw_list_params p = MDSGW_LIST_PARAMS_INIT;
	struct mdsgw_list_result r = MDSGW_LIST_RESULT_INIT;
	struct mdsgw_status st;
	char token[MDSGW_TOKEN_MAX + 1] = "";

	p.style = c->azure ? MDSGW_LIST_AZURE : MDSGW_LIST_S3;
	p.bucket = bucket;
	p.prefix = c->prefix;
	p.delimiter = c->delimiter;
	p.start_after = c->start_after;
	p.token = c->token;
	p.max_keys = c->max_keys;
	for (;;) {
		struct page_ctx x = { c, 1 };

		if (c->json)
			printf("{\"entries\":[");
		if (mdsgw_list(h, &p, on_entry, &x, &r, deadline(c), &st) != 0) {
			if (c->json)
				printf("]}\n");
			return fail("list", &st);
		}
		if (c->json) {
			printf("],\"key_count\":%u,\"truncated\":%s,\"next_token\":", r.key_count,
			       r.truncated ? "true" : "false");
			json_str(r.next_token, strlen(r.next_token));
			printf("}\n");
		} else if (r.truncated && !c->all) {
			printf("(truncated; next token: %s)\n", r.next_token);
		}
		if (!c->all || !r.truncated)
			return 0;
		snprintf(token, sizeof(token), "%s", r.next_token);
		p.token = token;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "json", no_argument, NULL, O_JSON },
		{ "prefix", required_argument, NULL, O_PREFIX },
		{ "delimiter", required_argument, NULL, O_DELIM },
		{ "max-keys", required_argument, NULL, O_MAXKEYS },
		{ "start-after", required_argument, NULL, O_START },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "azure", no_argument, NULL, O_AZURE },
		{ "all", no_argument, NULL, O_ALL },
		{ "bytes", required_argument, NULL, O_BYTES },
		{ "objects", required_argument, NULL, O_OBJECTS },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c = { 0 };
	struct mdsgw_status st;
	mdsgw_handle *h = NULL;
	const char *cmd;
	char *end;
	int opt, rc = 1;

	c.config = getenv("MDSGW_CONFIG");
	if (!c.config)
		c.config = "grpc:127.0.0.1:7420";
	c.max_keys = -1;
	c.objects = 1;
	c.ttl_ms = 60000;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case O_CONFIG: c.config = optarg; break;
		case O_TIMEOUT:
			c.timeout_ms = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !c.timeout_ms) {
				fprintf(stderr, "mdsgw-resolve: cannot parse --timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case O_JSON: c.json = 1; break;
		case O_PREFIX: c.prefix = optarg; break;
		case O_DELIM: c.delimiter = optarg; break;
		case O_MAXKEYS:
			c.max_keys = strtoll(optarg, &end, 10);
			if (*end || c.max_keys < 0) {
				fprintf(stderr, "mdsgw-resolve: cannot parse --max-keys '%s'\n", optarg);
				return 2;
			}
			break;
		case O_START: c.start_after = optarg; break;
		case O_TOKEN: c.token = optarg; break;
		case O_AZURE: c.azure = 1; break;
		case O_ALL: c.all = 1; break;
		case O_BYTES:
			c.bytes = strtoull(optarg, &end, 10);
			if (*end) {
				fprintf(stderr, "mdsgw-resolve: cannot parse --bytes '%s'\n", optarg);
				return 2;
			}
			c.have_bytes = 1;
			break;
		case O_OBJECTS:
		case O_TTL: {
			unsigned long long v = strtoull(optarg, &end, 10);

			if (*end || optarg[0] == '-' || (opt == O_TTL && v == 0)) {
				fprintf(stderr, "mdsgw-resolve: cannot parse --%s '%s'\n",
					opt == O_TTL ? "ttl" : "objects", optarg);
				return 2;
			}
			if (opt == O_TTL)
				c.ttl_ms = v;
			else
				c.objects = v;
			break;
		}
		case O_HELP:
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	if (!((!strcmp(cmd, "info") && argc == 0) || (!strcmp(cmd, "resolve") && argc == 2) ||
	      (!strcmp(cmd, "list") && argc == 1) ||
	      (!strcmp(cmd, "reserve") && argc == 2 && c.have_bytes) ||
	      (!strcmp(cmd, "release") && argc == 1) ||
	      (!strcmp(cmd, "access") && (argc == 3 || argc == 4)))) {
		fprintf(stderr, "mdsgw-resolve: bad arguments for '%s'\n%s", cmd, usage);
		return 2;
	}
	if (mdsgw_open(MDSGW_ABI_VERSION, c.config, &h, &st) != 0)
		return fail("open", &st);
	if (!strcmp(cmd, "info")) {
		uint32_t caps = mdsgw_capabilities(h);

		printf(c.json ? "{\"provider\":\"%s\",\"abi\":\"%d.%d\",\"resolve\":%s,\"list\":%s,"
		       "\"put\":%s,\"quota\":%s,\"access\":%s,\"local\":%s}\n" :
		       "provider:   %s\nabi:        %d.%d\nresolve:    %s\nlist:       %s\n"
		       "put:        %s\nquota:      %s\naccess:     %s\nlocal:      %s\n",
		       mdsgw_provider(h), MDSGW_ABI_MAJOR, MDSGW_ABI_MINOR,
		       caps & MDSGW_CAP_RESOLVE ? (c.json ? "true" : "yes") : (c.json ? "false" : "no"),
		       caps & MDSGW_CAP_LIST ? (c.json ? "true" : "yes") : (c.json ? "false" : "no"),
		       caps & MDSGW_CAP_PUT ? (c.json ? "true" : "yes") : (c.json ? "false" : "no"),
		       caps & MDSGW_CAP_QUOTA ? (c.json ? "true" : "yes") : (c.json ? "false" : "no"),
		       caps & MDSGW_CAP_ACCESS ? (c.json ? "true" : "yes") : (c.json ? "false" : "no"),
		       caps & MDSGW_CAP_LOCAL ? (c.json ? "true" : "yes") : (c.json ? "false" : "no"));
		rc = 0;
	} else if (!strcmp(cmd, "resolve")) {
		struct mdsgw_object o = MDSGW_OBJECT_INIT;

		if (mdsgw_resolve(h, argv[0], argv[1], &o, deadline(&c), &st) != 0) {
			rc = fail("resolve", &st);
		} else {
			print_object(&c, &o);
			mdsgw_object_release(&o);
			rc = 0;
		}
	} else if (!strcmp(cmd, "list")) {
		rc = cmd_list(&c, h, argv[0]);
	} else if (!strcmp(cmd, "reserve")) {
		struct mdsgw_reservation r = MDSGW_RESERVATION_INIT;

		r.bucket = argv[0];
		r.name = argv[1];
		r.bytes = c.bytes;
		r.objects = c.objects;
		r.ttl_ms = c.ttl_ms;
		if (mdsgw_quota_reserve(h, &r, deadline(&c), &st) != 0) {
			rc = fail("reserve", &st);
		} else {
			printf(c.json ? "{\"token\":\"%s\",\"expiry_ns\":%" PRIu64 "}\n" :
			       "token:      %s\nexpiry_ns:  %" PRIu64 "\n", r.token, r.expiry_ns);
			rc = 0;
		}
	} else if (!strcmp(cmd, "access")) {
		struct mdsgw_access a = MDSGW_ACCESS_INIT;
		int allowed = 0;

		a.principal = argv[0];
		a.action = argv[1];
		a.bucket = argv[2];
		a.name = argc == 4 ? argv[3] : NULL;
		if (mdsgw_access_check(h, &a, &allowed, deadline(&c), &st) != 0) {
			rc = fail("access", &st);
		} else {
			printf(c.json ? "{\"allowed\":%s}\n" : "%s\n",
			       c.json ? (allowed ? "true" : "false") : (allowed ? "allow" : "deny"));
			rc = 0;
		}
	} else {
		if (mdsgw_quota_release(h, argv[0], deadline(&c), &st) != 0) {
			rc = fail("release", &st);
		} else {
			printf(c.json ? "{\"released\":true}\n" : "released\n");
			rc = 0;
		}
	}
	mdsgw_close(h);
	return rc;
}
