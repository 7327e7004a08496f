/*
 * mdsctl_quota.c - `mdsctl quota set|get|ls|rm|audit` and `mdsctl usage`:
 * limits, usage and quota state over the mds.v1.Quota service
 * (include/mds/v1/quota.proto; semantics in docs/quotas.md).
 *
 * What must stay true:
 * - Everything the user typed is checked here before any call: a bad scope,
 *   size, count or duration is a usage error (exit 2) naming the argument;
 *   the scope grammar is the core's own parser (mds_quota_scope_parse), so
 *   mdsctl and the server never disagree on what a scope is.
 * - `quota set` replaces all limits of a scope (SetQuota semantics): a limit
 *   not given on the command line is not set afterwards.
 * - The JSON form of a scope carries plain integers (bytes, objects,
 *   limits, nanoseconds); human units and percentages are for the tables
 *   only. Percentages are of the scope's total (used + reserved), which is
 *   what enforcement compares against a limit; a limit of 0 shows 100%.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin.pb-c.h"
#include "mds/quota.h"
#include "mdsctl.h"
#include "quota.pb-c.h"
#include "units.h"

const char mdsctl_quota_help[] =
	"usage: mdsctl quota set SCOPE [--max-bytes N] [--max-objects N] [--soft-bytes N]\n"
	"                        [--soft-objects N] [--grace D] [--principal WHO]\n"
	"       mdsctl quota get SCOPE | quota ls | quota rm SCOPE [--principal WHO]\n"
	"       mdsctl quota audit [SCOPE] [--after SEQ]\n"
	"  SCOPE is team/NAME, bucket/NAME or prefix/BUCKET/PATH/ (PATH ends with '/').\n"
	"  set: create or REPLACE the limits of SCOPE (limits not given are removed);\n"
	"    sizes take binary units (2PiB, 1.5TiB), counts take 1e9, --grace a\n"
	"    duration (7d, 1d12h, 30m, 0) for which usage may stay over a soft limit.\n"
	"  get: limits, usage and state of one scope; ls: every scope with limits;\n"
	"  rm: remove the limits of SCOPE; audit: who changed which limits when\n"
	"  (oldest first; only SCOPE's records if given; records after --after SEQ).\n"
	"  --principal names who makes the change in the audit log (default $USER).\n"
	"  States: ok, over soft until T, blocked by soft (grace ended T), blocked by\n"
	"  hard; percentages are of used + reserved against each limit.\n";

const char mdsctl_usage_help[] =
	"usage: mdsctl usage [SCOPE]\n"
	"  Usage (bytes, objects, reserved), limits with percentages and quota state\n"
	"  of SCOPE (any team/NAME or bucket/NAME; a prefix/BUCKET/PATH/ with a quota),\n"
	"  or, without SCOPE, of every team and of every bucket and prefix with a quota.\n"
	"  --json gives plain integers: bytes, objects, reserved_bytes, ...\n";

/* ---- arguments ------------------------------------------------------------ */

static int scope_arg(const char *s)
{
	struct mds_quota_scope sc;
	struct mds_status st;

	mds_status_clear(&st);
	if (mds_quota_scope_parse((struct mds_str){ s, strlen(s) }, &sc, &st) != 0) {
		fprintf(stderr, "mdsctl: bad scope '%s': %s\n(scopes: team/NAME, bucket/NAME, "
			"prefix/BUCKET/PATH/; see mdsctl quota --help)\n", s,
			st.msg[0] ? st.msg : "not a scope");
		return EXIT_USAGE;
	}
	return 0;
}

static const char *principal_of(const struct ctl *c)
{
	const char *u = getenv("USER");

	if (c->principal)
		return c->principal;
	return u && *u ? u : "mdsctl";
}

/* Parse an optional limit flag into a fresh Limit; @out stays NULL if absent. */
static int limit_arg(const char *flag, const char *s, int is_size, Mds__V1__Limit *buf,
		     Mds__V1__Limit **out)
{
	uint64_t v;
	int rc;

	if (!s)
		return 0;
	rc = is_size ? mds_units_parse_size(s, &v) : mds_units_parse_count(s, &v);
	if (rc != 0) {
		fprintf(stderr, "mdsctl: cannot parse --%s '%s' (%s)\n(see mdsctl quota --help)\n",
			flag, s, is_size ? "a size: 1048576, 4KiB, 1.5TiB, 2PiB"
					 : "a whole count: 1000000, 1e9, 2.5e6");
		return EXIT_USAGE;
	}
	mds__v1__limit__init(buf);
	buf->value = v;
	*out = buf;
	return 0;
}

/* ---- forms ------------------------------------------------------------------ */

static const char *state_name(Mds__V1__QuotaState s)
{
	switch (s) {
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_OK: return "ok";
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_OVER_SOFT: return "over_soft";
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_BLOCKED_SOFT: return "blocked_soft";
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_BLOCKED_HARD: return "blocked_hard";
	default: return "unknown";
	}
}

/* "ok", "over soft until T", "blocked by soft (grace ended T)", "blocked by hard". */
static const char *state_text(const Mds__V1__QuotaInfo *q, char *buf, size_t n)
{
	char tb[32];

	switch (q->state) {
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_OK:
		snprintf(buf, n, "ok");
		break;
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_OVER_SOFT:
		snprintf(buf, n, "over soft until %s",
			 mdsctl_fmt_time(q->grace_until_ns, tb, sizeof(tb)));
		break;
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_BLOCKED_SOFT:
		snprintf(buf, n, "blocked by soft (grace ended %s)",
			 mdsctl_fmt_time(q->grace_until_ns, tb, sizeof(tb)));
		break;
	case MDS__V1__QUOTA_STATE__QUOTA_STATE_BLOCKED_HARD:
		snprintf(buf, n, "blocked by hard");
		break;
	default:
		snprintf(buf, n, "unknown state %d", (int)q->state);
		break;
	}
	return buf;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static double percent(uint64_t total, uint64_t limit)
{
	if (limit == 0)
		return 100.0;
	return (double)total * 100.0 / (double)limit;
}

/*
 * A uint64 as JSON: an integer up to INT64_MAX (every realistic value), a
 * real above it, so a 16 EiB limit never prints as a negative number.
 */
static json_t *u64_json(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *limits_json(const Mds__V1__QuotaLimits *l)
{
	json_t *o;

	if (!l)
		return json_null();
	o = json_object();
	if (l->max_bytes)
		json_object_set_new(o, "max_bytes", u64_json(l->max_bytes->value));
	if (l->max_objects)
		json_object_set_new(o, "max_objects",
				    u64_json(l->max_objects->value));
	if (l->soft_bytes)
		json_object_set_new(o, "soft_bytes", u64_json(l->soft_bytes->value));
	if (l->soft_objects)
		json_object_set_new(o, "soft_objects",
				    u64_json(l->soft_objects->value));
	json_object_set_new(o, "grace_ns", u64_json(l->grace_ns));
	return o;
}

static json_t *info_json(const Mds__V1__QuotaInfo *q)
{
	uint64_t tb = sat_add(q->used_bytes, q->reserved_bytes);
	uint64_t to = sat_add(q->used_objects, q->reserved_objects);
	const Mds__V1__QuotaLimits *l = q->has_limits ? q->limits : NULL;
	json_t *j = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:b}", "scope", q->scope, "bytes",
			      u64_json(q->used_bytes), "objects", u64_json(q->used_objects),
			      "reserved_bytes", u64_json(q->reserved_bytes), "reserved_objects",
			      u64_json(q->reserved_objects), "state", state_name(q->state),
			      "has_limits", q->has_limits);
	json_t *pct = json_object();

	json_object_set_new(j, "limits", limits_json(l));
	if (l && l->max_bytes)
		json_object_set_new(pct, "max_bytes", json_real(percent(tb, l->max_bytes->value)));
	if (l && l->soft_bytes)
		json_object_set_new(pct, "soft_bytes", json_real(percent(tb, l->soft_bytes->value)));
	if (l && l->max_objects)
		json_object_set_new(pct, "max_objects",
				    json_real(percent(to, l->max_objects->value)));
	if (l && l->soft_objects)
		json_object_set_new(pct, "soft_objects",
				    json_real(percent(to, l->soft_objects->value)));
	json_object_set_new(j, "percent", pct);
	if (q->grace_until_ns)
		json_object_set_new(j, "grace_until_ns", json_integer((json_int_t)q->grace_until_ns));
	if (q->set_ns)
		json_object_set_new(j, "set_ns", json_integer((json_int_t)q->set_ns));
	return j;
}

/* One table cell for a limit: "2.00 PiB 60.0%", "1000000000 0.1%" or "-". */
static const char *limit_cell(const Mds__V1__Limit *lim, uint64_t total, int is_size, char *buf,
			      size_t n)
{
	char v[32];

	if (!lim) {
		snprintf(buf, n, "-");
		return buf;
	}
	if (is_size)
		mds_units_format_size(lim->value, v, sizeof(v));
	else
		snprintf(v, sizeof(v), "%llu", (unsigned long long)lim->value);
	snprintf(buf, n, "%s %.1f%%", v, percent(total, lim->value));
	return buf;
}

static const char table_head[] = "%-32s %12s %12s %20s %20s %18s %18s  %s\n";

static void table_header(void)
{
	printf(table_head, "SCOPE", "BYTES", "OBJECTS", "MAX-BYTES", "SOFT-BYTES", "MAX-OBJECTS",
	       "SOFT-OBJECTS", "STATE");
}

static void table_row(const Mds__V1__QuotaInfo *q)
{
	const Mds__V1__QuotaLimits *l = q->has_limits ? q->limits : NULL;
	uint64_t tb = sat_add(q->used_bytes, q->reserved_bytes);
	uint64_t to = sat_add(q->used_objects, q->reserved_objects);
	char ub[32], uo[32], c1[48], c2[48], c3[48], c4[48], st[96];

	mds_units_format_size(q->used_bytes, ub, sizeof(ub));
	snprintf(uo, sizeof(uo), "%llu", (unsigned long long)q->used_objects);
	printf(table_head, q->scope, ub, uo,
	       limit_cell(l ? l->max_bytes : NULL, tb, 1, c1, sizeof(c1)),
	       limit_cell(l ? l->soft_bytes : NULL, tb, 1, c2, sizeof(c2)),
	       limit_cell(l ? l->max_objects : NULL, to, 0, c3, sizeof(c3)),
	       limit_cell(l ? l->soft_objects : NULL, to, 0, c4, sizeof(c4)),
	       state_text(q, st, sizeof(st)));
}

/* The detail view of one scope (quota get/set, usage SCOPE). */
static void detail(const Mds__V1__QuotaInfo *q)
{
	const Mds__V1__QuotaLimits *l = q->has_limits ? q->limits : NULL;
	uint64_t tb = sat_add(q->used_bytes, q->reserved_bytes);
	uint64_t to = sat_add(q->used_objects, q->reserved_objects);
	char a[32], b[32], cell[48], st[96];

	printf("scope:         %s\n", q->scope);
	printf("state:         %s\n", state_text(q, st, sizeof(st)));
	printf("bytes:         %s (%llu), reserved %s\n",
	       mds_units_format_size(q->used_bytes, a, sizeof(a)),
	       (unsigned long long)q->used_bytes,
	       mds_units_format_size(q->reserved_bytes, b, sizeof(b)));
	if (l && l->max_bytes)
		printf("  max:         %s\n", limit_cell(l->max_bytes, tb, 1, cell, sizeof(cell)));
	if (l && l->soft_bytes)
		printf("  soft:        %s\n", limit_cell(l->soft_bytes, tb, 1, cell, sizeof(cell)));
	printf("objects:       %llu, reserved %llu\n", (unsigned long long)q->used_objects,
	       (unsigned long long)q->reserved_objects);
	if (l && l->max_objects)
		printf("  max:         %s\n", limit_cell(l->max_objects, to, 0, cell, sizeof(cell)));
	if (l && l->soft_objects)
		printf("  soft:        %s\n", limit_cell(l->soft_objects, to, 0, cell, sizeof(cell)));
	if (!l) {
		printf("limits:        none\n");
		return;
	}
	if (l->soft_bytes || l->soft_objects)
		printf("grace:         %s\n", mds_units_format_duration(l->grace_ns, a, sizeof(a)));
	if (q->set_ns)
		printf("limits set:    %s\n", mdsctl_fmt_time(q->set_ns, a, sizeof(a)));
}

static void show_info(const struct ctl *c, const Mds__V1__QuotaInfo *q)
{
	if (c->json)
		mdsctl_print_json(info_json(q));
	else
		detail(q);
}

/* ---- quota set / get / rm ----------------------------------------------- */

static int quota_set(struct ctl *c)
{
	Mds__V1__SetQuotaRequest r = MDS__V1__SET_QUOTA_REQUEST__INIT;
	Mds__V1__QuotaLimits lim = MDS__V1__QUOTA_LIMITS__INIT;
	Mds__V1__Limit mb, mo, sb, so;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	int rc;

	if (mdsctl_check_opts(c, B(O_MAX_BYTES) | B(O_MAX_OBJECTS) | B(O_SOFT_BYTES) |
			      B(O_SOFT_OBJECTS) | B(O_GRACE) | B(O_PRINCIPAL), "quota set"))
		return EXIT_USAGE;
	if (c->n_args != 2)
		return mdsctl_usage_err("quota set needs exactly one SCOPE%s", "");
	if (scope_arg(c->args[1]))
		return EXIT_USAGE;
	if (limit_arg("max-bytes", c->max_bytes_s, 1, &mb, &lim.max_bytes) ||
	    limit_arg("max-objects", c->max_objects_s, 0, &mo, &lim.max_objects) ||
	    limit_arg("soft-bytes", c->soft_bytes_s, 1, &sb, &lim.soft_bytes) ||
	    limit_arg("soft-objects", c->soft_objects_s, 0, &so, &lim.soft_objects))
		return EXIT_USAGE;
	if (!lim.max_bytes && !lim.max_objects && !lim.soft_bytes && !lim.soft_objects)
		return mdsctl_usage_err("quota set needs at least one of --max-bytes, --max-objects, "
					"--soft-bytes, --soft-objects%s", "");
	if (c->grace_s) {
		if (mds_units_parse_duration(c->grace_s, &lim.grace_ns) != 0)
			return mdsctl_usage_err("cannot parse --grace '%s' (a duration: 7d, 1d12h, "
						"30m, 90s, 0)", c->grace_s);
		if (!lim.soft_bytes && !lim.soft_objects)
			return mdsctl_usage_err("--grace%s applies only with --soft-bytes or "
						"--soft-objects", "");
	}
	if (lim.max_bytes && lim.soft_bytes && lim.soft_bytes->value > lim.max_bytes->value)
		return mdsctl_usage_err("--soft-bytes '%s' is above --max-bytes", c->soft_bytes_s);
	if (lim.max_objects && lim.soft_objects &&
	    lim.soft_objects->value > lim.max_objects->value)
		return mdsctl_usage_err("--soft-objects '%s' is above --max-objects",
					c->soft_objects_s);
	r.scope = c->args[1];
	r.limits = &lim;
	r.principal = (char *)principal_of(c);
	rc = mds_client_call(c->cl, "/mds.v1.Quota/SetQuota", &r.base,
			     &mds__v1__quota_info__descriptor, &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot set quota", &cs);
	if (!c->json)
		printf("set quota on %s\n", r.scope);
	show_info(c, (const void *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static int quota_get(struct ctl *c)
{
	Mds__V1__GetQuotaRequest r = MDS__V1__GET_QUOTA_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	int rc;

	if (mdsctl_check_opts(c, 0, "quota get"))
		return EXIT_USAGE;
	if (c->n_args != 2)
		return mdsctl_usage_err("quota get needs exactly one SCOPE%s", "");
	if (scope_arg(c->args[1]))
		return EXIT_USAGE;
	r.scope = c->args[1];
	rc = mds_client_call(c->cl, "/mds.v1.Quota/GetQuota", &r.base,
			     &mds__v1__quota_info__descriptor, &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot get quota", &cs);
	show_info(c, (const void *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static int quota_rm(struct ctl *c)
{
	Mds__V1__DeleteQuotaRequest r = MDS__V1__DELETE_QUOTA_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	int rc;

	if (mdsctl_check_opts(c, B(O_PRINCIPAL), "quota rm"))
		return EXIT_USAGE;
	if (c->n_args != 2)
		return mdsctl_usage_err("quota rm needs exactly one SCOPE%s", "");
	if (scope_arg(c->args[1]))
		return EXIT_USAGE;
	r.scope = c->args[1];
	r.principal = (char *)principal_of(c);
	rc = mds_client_call(c->cl, "/mds.v1.Quota/DeleteQuota", &r.base,
			     &mds__v1__delete_quota_response__descriptor, &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot remove quota", &cs);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (c->json)
		mdsctl_print_json(json_pack("{s:s, s:b}", "scope", r.scope, "deleted", 1));
	else
		printf("removed quota on %s\n", r.scope);
	return 0;
}

/* ---- quota ls, and the scopes part of usage ------------------------------ */

/*
 * Walk every scope with limits, page by page; @skip_teams leaves out team
 * scopes (usage lists teams itself). Rows go to @arr, or to the table.
 */
static int list_quotas(struct ctl *c, json_t *arr, int skip_teams, const char *what)
{
	Mds__V1__ListQuotasRequest r = MDS__V1__LIST_QUOTAS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	char after[MDS_QUOTA_SCOPE_MAX + 1] = "";
	int rc;

	for (;;) {
		ProtobufCMessage *resp = NULL;

		r.start_after = after;
		rc = mds_client_call(c->cl, "/mds.v1.Quota/ListQuotas", &r.base,
				     &mds__v1__list_quotas_response__descriptor, &resp, &cs);
		if (rc)
			return mdsctl_fail(rc, what, &cs);
		const Mds__V1__ListQuotasResponse *lr = (const void *)resp;
		int more = lr->truncated && lr->n_quotas > 0;

		for (size_t i = 0; i < lr->n_quotas; i++) {
			const Mds__V1__QuotaInfo *q = lr->quotas[i];

			if (skip_teams && !strncmp(q->scope, "team/", 5))
				continue;
			if (arr)
				json_array_append_new(arr, info_json(q));
			else
				table_row(q);
		}
		if (more)
			snprintf(after, sizeof(after), "%s", lr->quotas[lr->n_quotas - 1]->scope);
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!more)
			return 0;
	}
}

static int quota_ls(struct ctl *c)
{
	json_t *arr = c->json ? json_array() : NULL;
	int rc;

	if (mdsctl_check_opts(c, 0, "quota ls"))
		return EXIT_USAGE;
	if (c->n_args != 1)
		return mdsctl_usage_err("quota ls takes no arguments%s", "");
	if (!arr)
		table_header();
	rc = list_quotas(c, arr, 0, "cannot list quotas");
	if (arr) {
		if (rc == 0)
			mdsctl_print_json(json_pack("{s:o}", "quotas", arr));
		else
			json_decref(arr);
	}
	return rc;
}

/* ---- quota audit ---------------------------------------------------------- */

static const char *limits_text(const Mds__V1__QuotaLimits *l, char *buf, size_t n)
{
	char v[32];
	size_t off = 0;

	buf[0] = 0;
	if (!l) {
		snprintf(buf, n, "none");
		return buf;
	}
#define ADD(...) \
	do { \
		if (off < n) \
			off += (size_t)snprintf(buf + off, n - off, __VA_ARGS__); \
	} while (0)
	if (l->max_bytes)
		ADD("%smax-bytes=%s", off ? " " : "",
		    mds_units_format_size(l->max_bytes->value, v, sizeof(v)));
	if (l->max_objects)
		ADD("%smax-objects=%llu", off ? " " : "", (unsigned long long)l->max_objects->value);
	if (l->soft_bytes)
		ADD("%ssoft-bytes=%s", off ? " " : "",
		    mds_units_format_size(l->soft_bytes->value, v, sizeof(v)));
	if (l->soft_objects)
		ADD("%ssoft-objects=%llu", off ? " " : "",
		    (unsigned long long)l->soft_objects->value);
	if (l->soft_bytes || l->soft_objects)
		ADD("%sgrace=%s", off ? " " : "",
		    mds_units_format_duration(l->grace_ns, v, sizeof(v)));
#undef ADD
	if (!buf[0])
		snprintf(buf, n, "none");
	return buf;
}

static int quota_audit(struct ctl *c)
{
	Mds__V1__ListQuotaAuditRequest r = MDS__V1__LIST_QUOTA_AUDIT_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	json_t *arr = NULL;
	const char *scope = NULL;
	uint64_t after = 0;
	int rc, ret = 0;

	if (mdsctl_check_opts(c, B(O_AFTER), "quota audit"))
		return EXIT_USAGE;
	if (c->n_args > 2)
		return mdsctl_usage_err("quota audit takes at most one SCOPE%s", "");
	if (c->n_args == 2) {
		scope = c->args[1];
		if (scope_arg(scope))
			return EXIT_USAGE;
	}
	if (c->after_s && mds_units_parse_count(c->after_s, &after) != 0)
		return mdsctl_usage_err("cannot parse --after '%s' (an audit sequence number)",
					c->after_s);
	if (c->json)
		arr = json_array();
	else
		printf("%6s  %-20s  %-16s  %-32s  %s\n", "SEQ", "TIME", "PRINCIPAL", "SCOPE",
		       "CHANGE");
	for (;;) {
		ProtobufCMessage *resp = NULL;

		r.after_seq = after;
		rc = mds_client_call(c->cl, "/mds.v1.Quota/ListQuotaAudit", &r.base,
				     &mds__v1__list_quota_audit_response__descriptor, &resp, &cs);
		if (rc) {
			ret = mdsctl_fail(rc, "cannot list the quota audit log", &cs);
			goto out;
		}
		const Mds__V1__ListQuotaAuditResponse *lr = (const void *)resp;
		int more = lr->truncated && lr->n_records > 0;

		for (size_t i = 0; i < lr->n_records; i++) {
			const Mds__V1__QuotaAuditRecord *a = lr->records[i];
			char tb[32], ob[256], nb[256];

			after = a->seq;
			if (scope && strcmp(scope, a->scope))
				continue;
			if (arr) {
				json_array_append_new(
					arr, json_pack("{s:I, s:I, s:s, s:s, s:b, s:o, s:o}", "seq",
						       (json_int_t)a->seq, "time_ns",
						       (json_int_t)a->time_ns, "principal",
						       a->principal, "scope", a->scope, "deleted",
						       a->deleted, "old_limits",
						       limits_json(a->old_limits), "new_limits",
						       limits_json(a->new_limits)));
				continue;
			}
			limits_text(a->old_limits, ob, sizeof(ob));
			limits_text(a->new_limits, nb, sizeof(nb));
			printf("%6llu  %-20s  %-16s  %-32s  %s%s -> %s\n", (unsigned long long)a->seq,
			       mdsctl_fmt_time(a->time_ns, tb, sizeof(tb)), a->principal, a->scope,
			       a->deleted ? "removed: " : "", ob, a->deleted ? "none" : nb);
		}
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!more)
			break;
	}
	if (arr) {
		mdsctl_print_json(json_pack("{s:o}", "records", arr));
		arr = NULL;
	}
out:
	json_decref(arr);
	return ret;
}

int mdsctl_cmd_quota(struct ctl *c)
{
	const char *sub = c->n_args > 0 ? c->args[0] : "";

	if (!strcmp(sub, "set"))
		return quota_set(c);
	if (!strcmp(sub, "get"))
		return quota_get(c);
	if (!strcmp(sub, "ls"))
		return quota_ls(c);
	if (!strcmp(sub, "rm"))
		return quota_rm(c);
	if (!strcmp(sub, "audit"))
		return quota_audit(c);
	return mdsctl_usage_err("unknown quota command '%s' (set, get, ls, rm, audit)", sub);
}

/* ---- usage ---------------------------------------------------------------- */

static int usage_one(struct ctl *c, const char *scope, json_t *arr, Mds__V1__QuotaInfo **out)
{
	Mds__V1__GetUsageRequest r = MDS__V1__GET_USAGE_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	char what[MDS_QUOTA_SCOPE_MAX + 32];
	int rc;

	r.scope = (char *)scope;
	rc = mds_client_call(c->cl, "/mds.v1.Quota/GetUsage", &r.base,
			     &mds__v1__quota_info__descriptor, &resp, &cs);
	if (rc) {
		snprintf(what, sizeof(what), "cannot get usage of '%s'", scope);
		return mdsctl_fail(rc, what, &cs);
	}
	if (out) {
		*out = (void *)resp;
		return 0;
	}
	if (arr)
		json_array_append_new(arr, info_json((const void *)resp));
	else
		table_row((const void *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

int mdsctl_cmd_usage(struct ctl *c)
{
	Mds__V1__ListTeamsRequest r = MDS__V1__LIST_TEAMS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	json_t *arr = NULL;
	char after[128] = "";
	int rc, ret = 0;

	if (mdsctl_check_opts(c, 0, "usage"))
		return EXIT_USAGE;
	if (c->n_args > 1)
		return mdsctl_usage_err("usage takes at most one SCOPE%s", "");
	if (c->n_args == 1) {
		Mds__V1__QuotaInfo *q = NULL;

		if (scope_arg(c->args[0]))
			return EXIT_USAGE;
		rc = usage_one(c, c->args[0], NULL, &q);
		if (rc)
			return rc;
		show_info(c, q);
		protobuf_c_message_free_unpacked(&q->base, NULL);
		return 0;
	}
	/* every team, then every bucket and prefix scope with limits */
	if (c->json)
		arr = json_array();
	else
		table_header();
	for (;;) {
		ProtobufCMessage *resp = NULL;

		r.start_after = after;
		rc = mds_client_call(c->cl, "/mds.v1.Admin/ListTeams", &r.base,
				     &mds__v1__list_teams_response__descriptor, &resp, &cs);
		if (rc) {
			ret = mdsctl_fail(rc, "cannot list teams", &cs);
			goto out;
		}
		const Mds__V1__ListTeamsResponse *lr = (const void *)resp;
		int more = lr->truncated && lr->n_teams > 0;

		for (size_t i = 0; i < lr->n_teams && ret == 0; i++) {
			char scope[128];

			snprintf(scope, sizeof(scope), "team/%s", lr->teams[i]->name);
			ret = usage_one(c, scope, arr, NULL);
		}
		if (more)
			snprintf(after, sizeof(after), "%s", lr->teams[lr->n_teams - 1]->name);
		protobuf_c_message_free_unpacked(resp, NULL);
		if (ret)
			goto out;
		if (!more)
			break;
	}
	ret = list_quotas(c, arr, 1, "cannot list quotas");
	if (ret == 0 && arr) {
		mdsctl_print_json(json_pack("{s:o}", "usage", arr));
		arr = NULL;
	}
out:
	json_decref(arr);
	return ret;
}
