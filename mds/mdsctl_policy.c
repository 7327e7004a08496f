/*
 * mdsctl_policy.c - `mdsctl policy bind|unbind|ls|explain`: role bindings
 * over the mds.v1.Policy service (include/mds/v1/policy.proto; semantics in
 * docs/security.md).
 *
 * What must stay true: the server is the one judge of what a binding
 * means (mdsctl passes subject, role, scope and condition through as
 * typed, and prints the server's INVALID_ARGUMENT message); `explain`
 * prints the server's trace unchanged, so what an admin reads is what the
 * request path decided.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mdsctl.h"
#include "policy.pb-c.h"

const char mdsctl_policy_help[] =
	"usage: mdsctl policy bind SUBJECT ROLE SCOPE [--deny] [--condition EXPR]\n"
	"       mdsctl policy unbind ID | policy ls\n"
	"       mdsctl policy explain PRINCIPAL ACTION [BUCKET[/NAME] | team/T] [--group G]...\n"
	"  SUBJECT is a principal (iss#sub, tid/oid, mtls:IDENTITY) or group:NAME.\n"
	"  ROLE is reader, writer, owner, admin or actions: read,list,put,delete,...\n"
	"  SCOPE is island, team/T, bucket/B or prefix/B/PATH.\n"
	"  --deny makes an explicit deny binding (wins over every allow);\n"
	"  --condition e.g. \"name startswith 'logs/' and not reqtag:env == 'prod'\".\n"
	"  explain: which binding allows or denies PRINCIPAL doing ACTION on the\n"
	"  resource (for ACTION list, NAME is the prefix), with the trace.\n";

static json_t *binding_json(const Mds__V1__Binding *b)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:b, s:s, s:I}", "id", (json_int_t)b->id,
			 "subject", b->subject, "role", b->role, "scope", b->scope, "deny",
			 b->deny, "condition", b->condition, "ctime_ns", (json_int_t)b->ctime_ns);
}

static void binding_row(const Mds__V1__Binding *b)
{
	printf("%-6llu %-5s %-32s %-16s %-28s %s\n", (unsigned long long)b->id,
	       b->deny ? "deny" : "allow", b->subject, b->role, b->scope, b->condition);
}

static int parse_id(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v == 0)
		return -1;
	*out = v;
	return 0;
}

static int cmd_bind(struct ctl *c)
{
	Mds__V1__BindRequest r = MDS__V1__BIND_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	int rc;

	if (mdsctl_check_opts(c, B(O_DENY) | B(O_CONDITION), "policy bind"))
		return EXIT_USAGE;
	if (c->n_args != 4)
		return mdsctl_usage_err("policy bind takes SUBJECT ROLE SCOPE%s", "");
	r.subject = c->args[1];
	r.role = c->args[2];
	r.scope = c->args[3];
	r.deny = c->deny;
	r.condition = (char *)(c->condition ? c->condition : "");
	rc = mds_client_call(c->cl, "/mds.v1.Policy/Bind", &r.base, &mds__v1__binding__descriptor,
			     &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot bind", &cs);
	if (c->json)
		mdsctl_print_json(binding_json((const void *)resp));
	else
		printf("binding %llu: %s %s %s on %s\n",
		       (unsigned long long)((const Mds__V1__Binding *)resp)->id,
		       c->deny ? "deny" : "allow", r.subject, r.role, r.scope);
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

static int cmd_unbind(struct ctl *c)
{
	Mds__V1__UnbindRequest r = MDS__V1__UNBIND_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	int rc;

	if (mdsctl_check_opts(c, 0, "policy unbind"))
		return EXIT_USAGE;
	if (c->n_args != 2 || parse_id(c->args[1], &r.id) != 0)
		return mdsctl_usage_err("policy unbind takes a binding ID (a number > 0)%s", "");
	rc = mds_client_call(c->cl, "/mds.v1.Policy/Unbind", &r.base,
			     &mds__v1__unbind_response__descriptor, &resp, &cs);
	if (rc)
		return mdsctl_fail(rc, "cannot unbind", &cs);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (c->json)
		mdsctl_print_json(json_pack("{s:I, s:b}", "id", (json_int_t)r.id, "removed", 1));
	else
		printf("binding %llu removed\n", (unsigned long long)r.id);
	return 0;
}

static int cmd_ls(struct ctl *c)
{
	Mds__V1__ListBindingsRequest r = MDS__V1__LIST_BINDINGS_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	json_t *arr = c->json ? json_array() : NULL;
	int rc = 0;

	if (mdsctl_check_opts(c, 0, "policy ls"))
		return EXIT_USAGE;
	if (c->n_args != 1) {
		json_decref(arr);
		return mdsctl_usage_err("policy ls takes no arguments%s", "");
	}
	if (!c->json)
		printf("%-6s %-5s %-32s %-16s %-28s %s\n", "ID", "EFFECT", "SUBJECT", "ROLE", "SCOPE",
		       "CONDITION");
	for (;;) {
		ProtobufCMessage *resp = NULL;
		const Mds__V1__ListBindingsResponse *l;
		int more;

		rc = mds_client_call(c->cl, "/mds.v1.Policy/ListBindings", &r.base,
				     &mds__v1__list_bindings_response__descriptor, &resp, &cs);
		if (rc) {
			json_decref(arr);
			return mdsctl_fail(rc, "cannot list bindings", &cs);
		}
		l = (const void *)resp;
		for (size_t i = 0; i < l->n_bindings; i++) {
			if (arr)
				json_array_append_new(arr, binding_json(l->bindings[i]));
			else
				binding_row(l->bindings[i]);
			r.after_id = l->bindings[i]->id;
		}
		more = l->truncated && l->n_bindings > 0;
		protobuf_c_message_free_unpacked(resp, NULL);
		if (!more)
			break;
	}
	if (arr)
		mdsctl_print_json(json_pack("{s:o}", "bindings", arr));
	return 0;
}

static int cmd_explain(struct ctl *c)
{
	Mds__V1__ExplainRequest r = MDS__V1__EXPLAIN_REQUEST__INIT;
	struct mds_client_status cs = { 0 };
	ProtobufCMessage *resp = NULL;
	const Mds__V1__ExplainResponse *e;
	char *res = NULL, *slash;
	int rc;

	if (mdsctl_check_opts(c, B(O_GROUP), "policy explain"))
		return EXIT_USAGE;
	if (c->n_args != 3 && c->n_args != 4)
		return mdsctl_usage_err("policy explain takes PRINCIPAL ACTION "
					"[BUCKET[/NAME] | team/T]%s", "");
	r.principal = c->args[1];
	r.action = c->args[2];
	r.groups = (char **)c->groups;
	r.n_groups = c->n_groups;
	r.bucket = r.name = r.team = (char *)"";
	if (c->n_args == 4) {
		res = strdup(c->args[3]);
		if (!res)
			return 1;
		if (!strncmp(res, "team/", 5)) {
			r.team = res + 5;
		} else {
			r.bucket = res;
			if ((slash = strchr(res, '/')) != NULL) {
				*slash = 0;
				r.name = slash + 1;
			}
		}
	}
	rc = mds_client_call(c->cl, "/mds.v1.Policy/Explain", &r.base,
			     &mds__v1__explain_response__descriptor, &resp, &cs);
	if (rc) {
		free(res);
		return mdsctl_fail(rc, "cannot explain", &cs);
	}
	e = (const void *)resp;
	if (c->json)
		mdsctl_print_json(json_pack("{s:s, s:I, s:s}", "effect", e->effect, "binding_id",
					    (json_int_t)e->binding_id, "trace", e->trace));
	else if (e->binding_id)
		printf("%s by binding %llu\n%s", e->effect, (unsigned long long)e->binding_id,
		       e->trace);
	else
		printf("%s (no binding matched)\n%s", e->effect, e->trace);
	protobuf_c_message_free_unpacked(resp, NULL);
	free(res);
	return 0;
}

int mdsctl_cmd_policy(struct ctl *c)
{
	const char *sub = c->n_args > 0 ? c->args[0] : "";

	if (!strcmp(sub, "bind"))
		return cmd_bind(c);
	if (!strcmp(sub, "unbind"))
		return cmd_unbind(c);
	if (!strcmp(sub, "ls"))
		return cmd_ls(c);
	if (!strcmp(sub, "explain"))
		return cmd_explain(c);
	fputs(mdsctl_policy_help, stderr);
	return EXIT_USAGE;
}
