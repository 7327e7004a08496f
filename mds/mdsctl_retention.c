/*
 * mdsctl_retention.c - `mdsctl object retention|legal-hold|retention-clock`:
 * object lock over the mds.v1.Namespace retention methods
 * (include/mds/v1/namespace.proto; rules in docs/security.md).
 *
 *   object retention BUCKET NAME                         show
 *   object retention BUCKET NAME MODE UNTIL [bypass-governance]
 *       MODE governance|compliance; UNTIL an RFC 3339 UTC time
 *       (2027-01-01T00:00:00Z) or +DURATION from now (+30d, +12h)
 *   object retention BUCKET NAME none bypass-governance  remove (governance only)
 *   object legal-hold BUCKET NAME [on|off]               show or set
 *   object retention-clock [confirm [TIME]]              show, or confirm the
 *       server's wall clock (TIME: what the admin believes now is)
 *
 * Arguments are positional so that mdsctl.c keeps its option table; every
 * argument is checked here before any call (a bad one is exit 2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* timegm, strptime */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mdsctl.h"
#include "namespace.pb-c.h"
#include "units.h"

static const char *mode_str(int m)
{
	return m == MDS__V1__RETENTION_MODE__RETENTION_MODE_GOVERNANCE ? "governance" :
	       m == MDS__V1__RETENTION_MODE__RETENTION_MODE_COMPLIANCE ? "compliance" : "none";
}

/* "2027-01-01T00:00:00Z" or "+30d" (from the local clock). 0 or -1. */
static int parse_when(const char *s, uint64_t *out_ns)
{
	struct tm tm;
	const char *end;
	time_t t;

	if (s[0] == '+') {
		struct timespec now;
		uint64_t d;

		if (mds_units_parse_duration(s + 1, &d) != 0 || d == 0)
			return -1;
		clock_gettime(CLOCK_REALTIME, &now);
		*out_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec + d;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -1;
	t = timegm(&tm);
	if (t <= 0)
		return -1;
	*out_ns = (uint64_t)t * 1000000000u;
	return 0;
}

static void print_retention(const struct ctl *c, const Mds__V1__ObjectRetention *r)
{
	char tb[32];

	if (c->json)
		mdsctl_print_json(json_pack("{s:s, s:s, s:s, s:I}", "bucket", r->bucket, "name", r->name,
					    "mode", mode_str(r->mode), "retain_until_ns",
					    (json_int_t)r->retain_until_ns));
	else if (r->mode == MDS__V1__RETENTION_MODE__RETENTION_MODE_NONE)
		printf("%s/%s: no retention\n", r->bucket, r->name);
	else
		printf("%s/%s: %s retention until %s\n", r->bucket, r->name, mode_str(r->mode),
		       mdsctl_fmt_time(r->retain_until_ns, tb, sizeof(tb)));
}

static int cmd_retention(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	int rc;

	if (c->n_args < 3 || c->n_args > 6)
		return mdsctl_usage_err("object retention needs BUCKET NAME [MODE UNTIL | none] [bypass-governance]%s", "");
	if (c->n_args == 3) {
		Mds__V1__GetObjectRetentionRequest r = MDS__V1__GET_OBJECT_RETENTION_REQUEST__INIT;

		r.bucket = c->args[1];
		r.name = c->args[2];
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/GetObjectRetention", &r.base,
				     &mds__v1__object_retention__descriptor, &resp, &cs);
	} else {
		Mds__V1__PutObjectRetentionRequest r = MDS__V1__PUT_OBJECT_RETENTION_REQUEST__INIT;
		const char *mode = c->args[3];
		int i = 4;

		r.bucket = c->args[1];
		r.name = c->args[2];
		if (!strcmp(mode, "governance") || !strcmp(mode, "compliance")) {
			r.mode = mode[0] == 'g' ? MDS__V1__RETENTION_MODE__RETENTION_MODE_GOVERNANCE
						: MDS__V1__RETENTION_MODE__RETENTION_MODE_COMPLIANCE;
			if (c->n_args < 5 || parse_when(c->args[4], &r.retain_until_ns))
				return mdsctl_usage_err("retention %s needs UNTIL: 2027-01-01T00:00:00Z or +30d",
							mode);
			i = 5;
		} else if (strcmp(mode, "none")) {
			return mdsctl_usage_err("unknown retention mode '%s' (governance, compliance, none)",
						mode);
		}
		if (i < c->n_args) {
			if (strcmp(c->args[i], "bypass-governance") || i + 1 != c->n_args)
				return mdsctl_usage_err("unexpected argument '%s' (bypass-governance?)",
							c->args[i]);
			r.bypass_governance_retention = 1;
		}
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/PutObjectRetention", &r.base,
				     &mds__v1__object_retention__descriptor, &resp, &cs);
	}
	if (rc)
		return mdsctl_fail(rc, "object retention", &cs);
	print_retention(c, (const void *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static int cmd_legal_hold(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	const Mds__V1__ObjectLegalHold *h;
	int rc;

	if (c->n_args != 3 && c->n_args != 4)
		return mdsctl_usage_err("object legal-hold needs BUCKET NAME [on|off]%s", "");
	if (c->n_args == 3) {
		Mds__V1__GetObjectLegalHoldRequest r = MDS__V1__GET_OBJECT_LEGAL_HOLD_REQUEST__INIT;

		r.bucket = c->args[1];
		r.name = c->args[2];
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/GetObjectLegalHold", &r.base,
				     &mds__v1__object_legal_hold__descriptor, &resp, &cs);
	} else {
		Mds__V1__PutObjectLegalHoldRequest r = MDS__V1__PUT_OBJECT_LEGAL_HOLD_REQUEST__INIT;

		if (strcmp(c->args[3], "on") && strcmp(c->args[3], "off"))
			return mdsctl_usage_err("legal-hold wants on or off, not '%s'", c->args[3]);
		r.bucket = c->args[1];
		r.name = c->args[2];
		r.on = !strcmp(c->args[3], "on");
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/PutObjectLegalHold", &r.base,
				     &mds__v1__object_legal_hold__descriptor, &resp, &cs);
	}
	if (rc)
		return mdsctl_fail(rc, "object legal-hold", &cs);
	h = (const void *)resp;
	if (c->json)
		mdsctl_print_json(json_pack("{s:s, s:s, s:b}", "bucket", h->bucket, "name", h->name,
					    "legal_hold", h->on));
	else
		printf("%s/%s: legal hold %s\n", h->bucket, h->name, h->on ? "on" : "off");
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static int cmd_clock(struct ctl *c)
{
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	const Mds__V1__RetentionClock *k;
	char t1[32], t2[32], t3[32];
	int rc;

	if (c->n_args == 1) {
		Mds__V1__GetRetentionClockRequest r = MDS__V1__GET_RETENTION_CLOCK_REQUEST__INIT;

		rc = mds_client_call(c->cl, "/mds.v1.Namespace/GetRetentionClock", &r.base,
				     &mds__v1__retention_clock__descriptor, &resp, &cs);
	} else if (!strcmp(c->args[1], "confirm") && c->n_args <= 3) {
		Mds__V1__ConfirmRetentionClockRequest r = MDS__V1__CONFIRM_RETENTION_CLOCK_REQUEST__INIT;

		if (c->n_args == 3 && parse_when(c->args[2], &r.admin_time_ns))
			return mdsctl_usage_err("cannot parse TIME '%s' (2027-01-01T00:00:00Z)",
						c->args[2]);
		rc = mds_client_call(c->cl, "/mds.v1.Namespace/ConfirmRetentionClock", &r.base,
				     &mds__v1__retention_clock__descriptor, &resp, &cs);
	} else {
		return mdsctl_usage_err("object retention-clock takes nothing or 'confirm [TIME]'%s", "");
	}
	if (rc)
		return mdsctl_fail(rc, "retention clock", &cs);
	k = (const void *)resp;
	if (c->json)
		mdsctl_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:I}",
					    "wall_ns", (json_int_t)k->wall_ns,
					    "trusted_ns", (json_int_t)k->trusted_ns,
					    "effective_ns", (json_int_t)k->effective_ns,
					    "high_ns", (json_int_t)k->high_ns,
					    "tolerance_ns", (json_int_t)k->tolerance_ns,
					    "suspect", k->suspect, "restart_gap", k->restart_gap,
					    "suspect_events", (json_int_t)k->suspect_events));
	else
		printf("wall:       %s\ntrusted:    %s\neffective:  %s\nstate:      %s\n",
		       mdsctl_fmt_time(k->wall_ns, t1, sizeof(t1)),
		       mdsctl_fmt_time(k->trusted_ns, t2, sizeof(t2)),
		       mdsctl_fmt_time(k->effective_ns, t3, sizeof(t3)),
		       !k->suspect ? "ok" : k->restart_gap
			       ? "SUSPECT (wall clock moved across a restart; confirm with mdsctl object retention-clock confirm)"
			       : "SUSPECT (wall clock jumped ahead; confirm with mdsctl object retention-clock confirm)");
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

int mdsctl_object_lock(struct ctl *c)
{
	const char *sub = c->n_args > 0 ? c->args[0] : "";

	if (mdsctl_check_opts(c, 0, sub))
		return EXIT_USAGE;
	if (!strcmp(sub, "retention"))
		return cmd_retention(c);
	if (!strcmp(sub, "legal-hold"))
		return cmd_legal_hold(c);
	return cmd_clock(c);
}
