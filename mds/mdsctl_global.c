/*
 * mdsctl_global.c - the global view and the subscriber from the command
 * line, over mds.v1.Global (include/mds/v1/global.proto; semantics in
 * docs/federation.md):
 *
 *   global ls BUCKET [--prefix P] [--origin O]... [--max-keys N] [--start-after K] [--all]
 *   global get BUCKET NAME [--origin O]
 *   global usage [TEAM]
 *   feed status          this island's head and each peer's cursor, one line each
 *   peers                every peer's replication state in full
 *   peers reset ORIGIN   after a fork: drop that island's frozen view (admin)
 *   peers evidence ORIGIN  the stored fork / tamper evidence
 *
 * Every listing says what each island's part is correct as of (size,
 * checkpoint time, state), because parts of a global answer are as fresh
 * as their island's last verified checkpoint, not more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "global.pb-c.h"
#include "mdsctl.h"
#include "units.h"

#define GL "/mds.v1.Global/"

const char mdsctl_global_help[] =
	"usage: mdsctl global ls BUCKET [--prefix P] [--origin O]... [--max-keys N]\n"
	"                        [--start-after K] [--all]\n"
	"       mdsctl global get BUCKET NAME [--origin O]\n"
	"       mdsctl global usage [TEAM]\n"
	"  The read-only global view: this island's own namespace plus every peer\n"
	"  island's verified state, each entry attributed to its island (origin) and\n"
	"  each island's part labelled with the checkpoint it is correct as of.\n";

const char mdsctl_peers_help[] =
	"usage: mdsctl peers | mdsctl peers reset ORIGIN | mdsctl peers evidence ORIGIN\n"
	"       mdsctl feed status\n"
	"  peers: every configured peer island's state (live, catching_up, stale,\n"
	"  forked, bootstrapping), applied and source sizes, lag, alarms, last error.\n"
	"  peers reset ORIGIN: after a fork (state forked), drop that island's frozen\n"
	"  view and cursor (the stored evidence stays) and follow it again from the\n"
	"  start. An admin's decision: run it only once the fork is understood.\n"
	"  peers evidence ORIGIN: what froze that island's view: both signed notes,\n"
	"  the consistency proof received, the subscriber's finding.\n"
	"  feed status: this island's own feed head and one line per peer.\n";

static const char *state_name(int s)
{
	switch (s) {
	case MDS__V1__PEER_STATE__PEER_LIVE: return "live";
	case MDS__V1__PEER_STATE__PEER_CATCHING_UP: return "catching_up";
	case MDS__V1__PEER_STATE__PEER_STALE: return "stale";
	case MDS__V1__PEER_STATE__PEER_FORKED: return "forked";
	case MDS__V1__PEER_STATE__PEER_BOOTSTRAPPING: return "bootstrapping";
	case MDS__V1__PEER_STATE__PEER_LOCAL: return "local";
	default: return "unknown";
	}
}

static void hex32(const ProtobufCBinaryData *b, char out[65])
{
	static const char d[] = "0123456789abcdef";
	size_t n = b->len > 32 ? 32 : b->len;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b->data[i] >> 4];
		out[2 * i + 1] = d[b->data[i] & 15];
	}
	out[2 * n] = 0;
}

static const char *ms_time(uint64_t ms, char *buf, size_t n)
{
	if (!ms)
		return "-";
	return mdsctl_fmt_time(ms * 1000000u, buf, n);
}

static json_t *as_of_json(Mds__V1__IslandAsOf **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char root[65];

		hex32(&v[i]->root, root);
		json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:I, s:s}", "origin", v[i]->origin,
						   "size", (json_int_t)v[i]->size, "root", root,
						   "checkpoint_ms", (json_int_t)v[i]->checkpoint_ms,
						   "state", state_name(v[i]->state)));
	}
	return a;
}

static void as_of_print(Mds__V1__IslandAsOf **v, size_t n)
{
	char tb[32];

	printf("\n%-24s %-12s %12s  %s\n", "ISLAND", "STATE", "SIZE", "CORRECT AS OF");
	for (size_t i = 0; i < n; i++)
		printf("%-24s %-12s %12llu  %s\n", v[i]->origin, state_name(v[i]->state),
		       (unsigned long long)v[i]->size, ms_time(v[i]->checkpoint_ms, tb, sizeof(tb)));
}

static json_t *gobj_json(const Mds__V1__GlobalObject *g)
{
	const Mds__V1__ObjectRecord *o = g->object;

	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "origin", g->origin, "bucket",
			 o ? o->bucket : "", "name", o ? o->name : "", "version",
			 (json_int_t)(o ? o->version : 0), "size", (json_int_t)(o ? o->size : 0),
			 "mtime_ns", (json_int_t)(o ? o->mtime_ns : 0), "etag", o ? o->etag : "");
}

static void gobj_row(const Mds__V1__GlobalObject *g)
{
	char sb[32], tb[32];
	const Mds__V1__ObjectRecord *o = g->object;

	if (!o)
		return;
	printf("%-16s %10s  %s  %s\n", g->origin, mds_units_format_size(o->size, sb, sizeof(sb)),
	       mdsctl_fmt_time(o->mtime_ns, tb, sizeof(tb)), o->name);
}

static int global_ls(struct ctl *c)
{
	Mds__V1__GlobalListRequest req = MDS__V1__GLOBAL_LIST_REQUEST__INIT;
	Mds__V1__GlobalListResponse *resp = NULL;
	struct mds_client_status cs = { 0 };
	json_t *objs = NULL, *doc = NULL;
	char *token = NULL;
	int rc, first = 1, ret = 0;

	if (c->n_args != 2)
		return mdsctl_usage_err("global ls needs BUCKET%s", "");
	if (mdsctl_check_opts(c, B(O_PREFIX) | B(O_ORIGIN) | B(O_MAX_KEYS) | B(O_START_AFTER) |
			      B(O_ALL), "global ls"))
		return EXIT_USAGE;
	req.bucket = c->args[1];
	req.prefix = (char *)(c->prefix ? c->prefix : "");
	req.start_after = (char *)(c->start_after ? c->start_after : "");
	req.origins = (char **)c->origins;
	req.n_origins = c->n_origins;
	if (c->max_keys_s) {
		char *end;
		unsigned long v = strtoul(c->max_keys_s, &end, 10);

		if (*end || v == 0 || v > 1000)
			return mdsctl_usage_err("--max-keys '%s' must be 1..1000", c->max_keys_s);
		req.max_keys = (uint32_t)v;
	}
	if (c->json)
		objs = json_array();
	else
		printf("%-16s %10s  %-20s  %s\n", "ISLAND", "SIZE", "MODIFIED", "NAME");
	for (;;) {
		req.continuation_token = token ? token : (char *)"";
		rc = mds_client_call(c->cl, GL "ListObjects", &req.base,
				     &mds__v1__global_list_response__descriptor,
				     (ProtobufCMessage **)&resp, &cs);
		if (rc) {
			ret = mdsctl_fail(rc, "global ls", &cs);
			break;
		}
		for (size_t i = 0; i < resp->n_objects; i++) {
			if (c->json)
				json_array_append_new(objs, gobj_json(resp->objects[i]));
			else
				gobj_row(resp->objects[i]);
		}
		if (first && c->json) {
			doc = json_object();
			json_object_set_new(doc, "as_of", as_of_json(resp->as_of, resp->n_as_of));
		} else if (first) {
			/* printed after the rows: keep the table first */
		}
		first = 0;
		free(token);
		token = NULL;
		if (resp->truncated && c->all && resp->next_continuation_token[0]) {
			token = strdup(resp->next_continuation_token);
			protobuf_c_message_free_unpacked(&resp->base, NULL);
			resp = NULL;
			if (!token) {
				ret = 1;
				break;
			}
			continue;
		}
		if (c->json) {
			json_object_set_new(doc, "truncated", json_boolean(resp->truncated));
			json_object_set_new(doc, "next_continuation_token",
					    json_string(resp->next_continuation_token));
		} else {
			as_of_print(resp->as_of, resp->n_as_of);
			if (resp->truncated)
				printf("(truncated; more with --all or --start-after)\n");
		}
		break;
	}
	if (c->json && ret == 0) {
		json_object_set_new(doc, "objects", objs);
		objs = NULL;
		mdsctl_print_json(doc);
		doc = NULL;
	}
	json_decref(objs);
	json_decref(doc);
	free(token);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return ret;
}

static int global_get(struct ctl *c)
{
	Mds__V1__GlobalGetRequest req = MDS__V1__GLOBAL_GET_REQUEST__INIT;
	Mds__V1__GlobalGetResponse *resp = NULL;
	struct mds_client_status cs = { 0 };
	int rc;

	if (c->n_args != 3)
		return mdsctl_usage_err("global get needs BUCKET NAME%s", "");
	if (mdsctl_check_opts(c, B(O_ORIGIN), "global get"))
		return EXIT_USAGE;
	if (c->n_origins > 1)
		return mdsctl_usage_err("global get takes one --origin%s", "");
	req.bucket = c->args[1];
	req.name = c->args[2];
	req.origin = (char *)(c->n_origins ? c->origins[0] : "");
	rc = mds_client_call(c->cl, GL "GetObject", &req.base, &mds__v1__global_get_response__descriptor,
			     (ProtobufCMessage **)&resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "global get", &cs);
	if (c->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < resp->n_objects; i++)
			json_array_append_new(a, gobj_json(resp->objects[i]));
		mdsctl_print_json(json_pack("{s:o, s:o}", "objects", a, "as_of",
					    as_of_json(resp->as_of, resp->n_as_of)));
	} else {
		printf("%-16s %10s  %-20s  %s\n", "ISLAND", "SIZE", "MODIFIED", "NAME");
		for (size_t i = 0; i < resp->n_objects; i++)
			gobj_row(resp->objects[i]);
		as_of_print(resp->as_of, resp->n_as_of);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

static int global_usage(struct ctl *c)
{
	Mds__V1__GlobalUsageRequest req = MDS__V1__GLOBAL_USAGE_REQUEST__INIT;
	Mds__V1__GlobalUsageResponse *resp = NULL;
	struct mds_client_status cs = { 0 };
	char sb[32];
	int rc;

	if (c->n_args > 2)
		return mdsctl_usage_err("global usage takes at most one TEAM%s", "");
	if (mdsctl_check_opts(c, 0, "global usage"))
		return EXIT_USAGE;
	req.team = c->n_args == 2 ? c->args[1] : (char *)"";
	rc = mds_client_call(c->cl, GL "Usage", &req.base, &mds__v1__global_usage_response__descriptor,
			     (ProtobufCMessage **)&resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "global usage", &cs);
	if (c->json) {
		json_t *teams = json_array();

		for (size_t i = 0; i < resp->n_teams; i++) {
			const Mds__V1__GlobalTeamUsage *t = resp->teams[i];
			json_t *isl = json_array();

			for (size_t k = 0; k < t->n_islands; k++)
				json_array_append_new(isl, json_pack("{s:s, s:I, s:I}", "origin",
								     t->islands[k]->origin, "bytes",
								     (json_int_t)t->islands[k]->bytes,
								     "objects",
								     (json_int_t)t->islands[k]->objects));
			json_array_append_new(teams, json_pack("{s:s, s:I, s:I, s:o}", "team", t->team,
							       "bytes", (json_int_t)t->bytes, "objects",
							       (json_int_t)t->objects, "islands", isl));
		}
		mdsctl_print_json(json_pack("{s:o, s:o}", "teams", teams, "as_of",
					    as_of_json(resp->as_of, resp->n_as_of)));
	} else {
		printf("%-24s %-16s %12s %12s\n", "TEAM", "ISLAND", "OBJECTS", "BYTES");
		for (size_t i = 0; i < resp->n_teams; i++) {
			const Mds__V1__GlobalTeamUsage *t = resp->teams[i];

			for (size_t k = 0; k < t->n_islands; k++)
				printf("%-24s %-16s %12llu %12s\n", t->team, t->islands[k]->origin,
				       (unsigned long long)t->islands[k]->objects,
				       mds_units_format_size(t->islands[k]->bytes, sb, sizeof(sb)));
			printf("%-24s %-16s %12llu %12s\n", t->team, "(all)",
			       (unsigned long long)t->objects,
			       mds_units_format_size(t->bytes, sb, sizeof(sb)));
		}
		as_of_print(resp->as_of, resp->n_as_of);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int mdsctl_cmd_global(struct ctl *c)
{
	const char *sub = c->n_args ? c->args[0] : "";

	if (!strcmp(sub, "ls"))
		return global_ls(c);
	if (!strcmp(sub, "get"))
		return global_get(c);
	if (!strcmp(sub, "usage"))
		return global_usage(c);
	return mdsctl_usage_err("global wants ls, get or usage, not '%s'", sub);
}

/* ---- peers and feed status ------------------------------------------------------ */

static json_t *peer_json(const Mds__V1__PeerStatus *p)
{
	char root[65];

	hex32(&p->applied_root, root);
	return json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I}",
			 "origin", p->origin, "address", p->address, "state", state_name(p->state),
			 "applied_size", (json_int_t)p->applied_size, "applied_root", root,
			 "source_size", (json_int_t)p->source_size, "lag_leaves",
			 (json_int_t)p->lag_leaves, "lag_ms", (json_int_t)p->lag_ms,
			 "last_checkpoint_ms", (json_int_t)p->last_checkpoint_ms, "last_contact_ms",
			 (json_int_t)p->last_contact_ms, "last_error", p->last_error,
			 "tamper_alarms", (json_int_t)p->tamper_alarms, "fork_alarms",
			 (json_int_t)p->fork_alarms, "reconnects", (json_int_t)p->reconnects);
}

static int peers_fetch(struct ctl *c, const char *what, Mds__V1__PeersResponse **resp)
{
	Mds__V1__PeersRequest req = MDS__V1__PEERS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	int rc = mds_client_call(c->cl, GL "Peers", &req.base, &mds__v1__peers_response__descriptor,
				 (ProtobufCMessage **)resp, &cs);

	return rc ? mdsctl_fail(rc, what, &cs) : 0;
}

static int peers_reset(struct ctl *c)
{
	Mds__V1__ResetPeerRequest req = MDS__V1__RESET_PEER_REQUEST__INIT;
	Mds__V1__ResetPeerResponse *resp = NULL;
	struct mds_client_status cs = { 0 };
	int rc;

	if (c->n_args != 2)
		return mdsctl_usage_err("peers reset needs ORIGIN%s", "");
	req.origin = c->args[1];
	rc = mds_client_call(c->cl, GL "ResetPeer", &req.base, &mds__v1__reset_peer_response__descriptor,
			     (ProtobufCMessage **)&resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "peers reset", &cs);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	if (c->json)
		mdsctl_print_json(json_pack("{s:s, s:b}", "origin", c->args[1], "reset", 1));
	else
		printf("reset the view of %s: following it again from size 0\n", c->args[1]);
	return 0;
}

/* A note's text as one line ("a | b | c"), for the human table. */
static void note_line(const ProtobufCBinaryData *b)
{
	size_t n = b->len;
	const char *p = (const char *)b->data, *sep = memmem(p, n, "\n\n", 2);

	if (sep)
		n = (size_t)(sep - p);
	for (size_t i = 0; i < n; i++)
		putchar(p[i] == '\n' ? '|' : (p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?'));
	putchar('\n');
}

static int peers_evidence(struct ctl *c)
{
	Mds__V1__EvidenceRequest req = MDS__V1__EVIDENCE_REQUEST__INIT;
	Mds__V1__EvidenceResponse *resp = NULL;
	struct mds_client_status cs = { 0 };
	char tb[32];
	int rc;

	if (c->n_args != 2)
		return mdsctl_usage_err("peers evidence needs ORIGIN%s", "");
	req.origin = c->args[1];
	rc = mds_client_call(c->cl, GL "Evidence", &req.base, &mds__v1__evidence_response__descriptor,
			     (ProtobufCMessage **)&resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "peers evidence", &cs);
	if (c->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < resp->n_records; i++) {
			const Mds__V1__EvidenceRecord *r = resp->records[i];
			json_t *proof = json_array();

			for (size_t k = 0; k < r->n_proof; k++) {
				char h[65];

				hex32(&r->proof[k], h);
				json_array_append_new(proof, json_string(h));
			}
			json_array_append_new(a, json_pack("{s:I, s:s, s:I, s:s%, s:s%, s:o, s:s}",
							   "n", (json_int_t)r->n, "kind", r->kind,
							   "time_ms", (json_int_t)r->time_ms,
							   "applied_note", (const char *)r->applied_note.data,
							   r->applied_note.len, "offending_note",
							   (const char *)r->offending_note.data,
							   r->offending_note.len, "proof", proof,
							   "message", r->message));
		}
		mdsctl_print_json(json_pack("{s:s, s:o}", "origin", c->args[1], "records", a));
	} else {
		if (resp->n_records == 0)
			printf("no evidence stored for %s\n", c->args[1]);
		for (size_t i = 0; i < resp->n_records; i++) {
			const Mds__V1__EvidenceRecord *r = resp->records[i];

			printf("#%llu %s at %s: %s\n", (unsigned long long)r->n, r->kind,
			       ms_time(r->time_ms, tb, sizeof(tb)), r->message);
			printf("  applied:   ");
			note_line(&r->applied_note);
			printf("  offending: ");
			note_line(&r->offending_note);
			printf("  proof:     %zu hashes\n", r->n_proof);
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int mdsctl_cmd_peers(struct ctl *c)
{
	Mds__V1__PeersResponse *resp = NULL;
	char tb[32], tc[32];

	if (mdsctl_check_opts(c, 0, "peers"))
		return EXIT_USAGE;
	if (c->n_args >= 1 && !strcmp(c->args[0], "reset"))
		return peers_reset(c);
	if (c->n_args >= 1 && !strcmp(c->args[0], "evidence"))
		return peers_evidence(c);
	if (c->n_args)
		return mdsctl_usage_err("peers takes no argument but reset ORIGIN, not '%s'", c->args[0]);
	if (peers_fetch(c, "cannot list peers", &resp))
		return 1;
	if (c->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < resp->n_peers; i++)
			json_array_append_new(a, peer_json(resp->peers[i]));
		mdsctl_print_json(json_pack("{s:o, s:o}", "peers", a, "self",
					    as_of_json(&resp->self, resp->self ? 1 : 0)));
	} else {
		if (resp->n_peers == 0)
			printf("no peers configured (mds serve --peer or \"peers\" in the config)\n");
		for (size_t i = 0; i < resp->n_peers; i++) {
			const Mds__V1__PeerStatus *p = resp->peers[i];
			char root[65];

			hex32(&p->applied_root, root);
			printf("%s (%s)\n", p->origin, p->address);
			printf("  state           %s\n", state_name(p->state));
			printf("  applied         %llu leaves, root %s\n",
			       (unsigned long long)p->applied_size, root);
			printf("  source          %llu leaves (newest verified checkpoint, signed %s)\n",
			       (unsigned long long)p->source_size,
			       ms_time(p->last_checkpoint_ms, tb, sizeof(tb)));
			printf("  lag             %llu leaves, %.1f s\n", (unsigned long long)p->lag_leaves,
			       (double)p->lag_ms / 1000.0);
			printf("  last contact    %s\n", ms_time(p->last_contact_ms, tc, sizeof(tc)));
			printf("  alarms          %llu fork, %llu tamper; %llu reconnects\n",
			       (unsigned long long)p->fork_alarms, (unsigned long long)p->tamper_alarms,
			       (unsigned long long)p->reconnects);
			if (p->last_error[0])
				printf("  last error      %s\n", p->last_error);
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int mdsctl_cmd_feed(struct ctl *c)
{
	Mds__V1__PeersResponse *resp = NULL;
	char tb[32];

	if (c->n_args != 1 || strcmp(c->args[0], "status"))
		return mdsctl_usage_err("feed wants status%s", "");
	if (mdsctl_check_opts(c, 0, "feed status"))
		return EXIT_USAGE;
	if (peers_fetch(c, "cannot get the feed status", &resp))
		return 1;
	if (c->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < resp->n_peers; i++)
			json_array_append_new(a, peer_json(resp->peers[i]));
		json_t *self = json_null();

		if (resp->self) {
			json_t *one = as_of_json(&resp->self, 1);

			self = json_incref(json_array_get(one, 0));
			json_decref(one);
		}
		mdsctl_print_json(json_pack("{s:o, s:o}", "self", self, "peers", a));
	} else {
		printf("%-24s %-12s %12s %12s %10s  %s\n", "ISLAND", "STATE", "APPLIED", "SOURCE",
		       "LAG", "CHECKPOINT");
		if (resp->self)
			printf("%-24s %-12s %12llu %12s %10s  %s\n", resp->self->origin, "local",
			       (unsigned long long)resp->self->size, "-", "-", "(live store)");
		for (size_t i = 0; i < resp->n_peers; i++) {
			const Mds__V1__PeerStatus *p = resp->peers[i];
			char lag[32];

			snprintf(lag, sizeof(lag), "%.1fs", (double)p->lag_ms / 1000.0);
			printf("%-24s %-12s %12llu %12llu %10s  %s\n", p->origin, state_name(p->state),
			       (unsigned long long)p->applied_size, (unsigned long long)p->source_size,
			       lag, ms_time(p->last_checkpoint_ms, tb, sizeof(tb)));
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}
