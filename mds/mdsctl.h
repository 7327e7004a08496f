/*
 * mdsctl.h - what the mdsctl command files share: the parsed command line
 * (struct ctl), the option ids, and the output/error helpers that keep every
 * command's conventions identical (one JSON document with --json, errors as
 * one "mdsctl: ..." line on stderr, exit 0 ok / 1 failed / 2 usage).
 *
 * mdsctl.c owns main(), option parsing and the team/bucket/object/ls/status
 * commands; mdsctl_quota.c owns quota and usage; mdsctl_policy.c owns
 * policy.
 */
#ifndef MDS_MDSCTL_H
#define MDS_MDSCTL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rpc_client.h"

#define EXIT_USAGE 2
#define MAX_META 64

/* Command option ids; every id in [O_TEAM, O_LAST] has a bit in ctl.given. */
enum {
	O_ENDPOINT = 256, O_TLS, O_TLS_CA, O_TLS_CERT, O_TLS_KEY, O_TIMEOUT, O_JSON,
	O_TOKEN_FILE, O_TOKEN,
	O_TEAM, O_SIZE, O_ETAG, O_CTYPE, O_META, O_IF_MATCH, O_IF_NONE_MATCH,
	O_DELIM, O_MAX_KEYS, O_START_AFTER, O_ALL,
	O_MAX_BYTES, O_MAX_OBJECTS, O_SOFT_BYTES, O_SOFT_OBJECTS, O_GRACE, O_PRINCIPAL,
	O_AFTER,
	O_DENY, O_CONDITION, O_GROUP,
	O_PREFIX, O_ORIGIN,
	O_LAST = O_ORIGIN,
};

/* Allowed command options as a mask of bits (O_x - O_TEAM). */
#define B(o) (1ul << ((o) - O_TEAM))

/* The parsed command line. Every string is borrowed from argv. */
struct ctl {
	struct mds_client_opts co;
	struct mds_client *cl;
	int json;
	int help;
	const char *team, *etag, *ctype, *if_match, *if_none_match, *delim, *start_after;
	const char *size_s, *max_keys_s;
	const char *meta[MAX_META];
	size_t n_meta;
	int all;
	/* quota set / quota audit */
	const char *max_bytes_s, *max_objects_s, *soft_bytes_s, *soft_objects_s, *grace_s;
	const char *principal, *after_s;
	/* policy bind / explain */
	int deny;
	const char *condition;
	const char *groups[16];
	size_t n_groups;
	/* global ls / get */
	const char *prefix;
	const char *origins[16];
	size_t n_origins;
	unsigned long given;   /* bit (opt - O_TEAM) for command options */
	char **args;
	int n_args;
};

/*
 * mdsctl_usage_err - print "mdsctl: <fmt with arg>" and a hint on stderr.
 * @fmt: a printf format with exactly one %s, filled with @arg (borrowed).
 * Returns EXIT_USAGE.
 */
int mdsctl_usage_err(const char *fmt, const char *arg);

/*
 * mdsctl_check_opts - refuse command options outside @allowed (a mask of
 * B(O_x)) with a usage error naming the option. @cmd names the command.
 * Returns 0 or EXIT_USAGE (already printed).
 */
int mdsctl_check_opts(const struct ctl *c, unsigned long allowed, const char *cmd);

/*
 * mdsctl_fail - print "mdsctl: WHAT: [GRPC_CODE: ]message" for a failed
 * call (@cs borrowed; @rc its MDS_E* code). Returns 1.
 */
int mdsctl_fail(int rc, const char *what, const struct mds_client_status *cs);

/* mdsctl_print_json - print @j (ownership transferred: it is released). */
void mdsctl_print_json(json_t *j);

/*
 * mdsctl_object_lock - `object retention|legal-hold|retention-clock`
 * (mdsctl_retention.c). Returns the exit status.
 */
int mdsctl_object_lock(struct ctl *c);

/* mdsctl_fmt_time - @ns since the epoch as UTC ISO 8601 into @buf (caller's). */
const char *mdsctl_fmt_time(uint64_t ns, char *buf, size_t n);

/* The quota commands (mdsctl_quota.c); return the exit status. */
int mdsctl_cmd_quota(struct ctl *c);
int mdsctl_cmd_usage(struct ctl *c);

/* The policy commands (mdsctl_policy.c); return the exit status. */
int mdsctl_cmd_policy(struct ctl *c);
extern const char mdsctl_policy_help[];

/* Help texts of quota and usage, for `mdsctl quota --help`. */
extern const char mdsctl_quota_help[];
extern const char mdsctl_usage_help[];

/* The upload and blob commands (mdsctl_blob.c) and their help texts. */
int mdsctl_cmd_upload(struct ctl *c);
int mdsctl_cmd_blob(struct ctl *c);
extern const char mdsctl_upload_help[];
extern const char mdsctl_blob_help[];

/* The global view and subscriber commands (mdsctl_global.c). */
int mdsctl_cmd_global(struct ctl *c);
int mdsctl_cmd_peers(struct ctl *c);
int mdsctl_cmd_feed(struct ctl *c);
extern const char mdsctl_global_help[];
extern const char mdsctl_peers_help[];

#endif /* MDS_MDSCTL_H */
