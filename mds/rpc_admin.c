/*
 * rpc_admin.c - the mds.v1.Admin service: teams and the server's status.
 */
#include <string.h>

#include "admin.pb-c.h"
#include "rpc.h"
#include "rpc_convert.h"

#ifndef MDS_VERSION
#define MDS_VERSION "0.0.0"
#endif

static int check_team(struct mds_str s, struct mds_status *st)
{
	struct mds_status inner;
	int rc;

	mds_status_clear(&inner);
	rc = mds_validate_team_name(s, &inner);
	if (rc != 0)
		return mds_status_set(st, MDS_EINVAL, "field 'team': %s",
				      inner.msg[0] ? inner.msg : mds_strerror(rc));
	return 0;
}

static int team_reply(struct mds_rpc_call *c, struct mds_str name, struct mds_status *st)
{
	struct mds_team t;
	struct mds_arena a = { 0 };
	Mds__V1__Team pb;
	int rc;

	rc = mds_team_get(c->reader, name, &t, st);
	if (rc != 0)
		return rc;
	mds_rpc_team_to_pb(&a, &t, &pb);
	rc = a.failed ? mds_status_set(st, MDS_ENOMEM, "out of memory") :
		mds_rpc_reply(c, &pb.base);
	mds_arena_free(&a);
	return rc;
}

static int create_team_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__CreateTeamRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_team(mds_rpc_str(r->team), st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_TEAM_CREATE);
	c->op.team = mds_rpc_str(r->team);
	return 0;
}

static int create_team_written(struct mds_rpc_call *c, struct mds_status *st)
{
	return team_reply(c, c->op.team, st);
}

static int get_team_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__GetTeamRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_team(mds_rpc_str(r->team), st)))
		return rc;
	return team_reply(c, mds_rpc_str(r->team), st);
}

static int team_emit(void *arg, const struct mds_team *t)
{
	struct mds_rpc_page *pg = arg;
	Mds__V1__Team *pb;
	int stop = 0;

	pb = mds_rpc_page_slot(pg, sizeof(*pb), &stop);
	if (!pb)
		return stop;
	mds_rpc_team_to_pb(&pg->a, t, pb);
	return 0;
}

static int list_teams_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__ListTeamsRequest *r = (const void *)c->req;
	struct mds_rpc_page pg = { 0 };
	Mds__V1__ListTeamsResponse resp = MDS__V1__LIST_TEAMS_RESPONSE__INIT;
	size_t n = strlen(r->start_after);
	int rc;

	if (n > MDS_TEAM_NAME_MAX || !mds_utf8_is_valid(r->start_after, n))
		return mds_status_set(st, MDS_EINVAL, "field 'start_after' is not a team name");
	pg.limit = r->limit == 0 || r->limit > 1000 ? 1000 : r->limit;
	if (mds_rpc_page_init(&pg, pg.limit) != 0) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out;
	}
	rc = mds_team_list(c->reader, mds_rpc_str(r->start_after), pg.limit + 1, team_emit,
			   &pg, st);
	rc = mds_rpc_page_done(&pg, rc, "teams", st);
	if (rc != 0)
		goto out;
	resp.teams = (Mds__V1__Team **)pg.v;
	resp.n_teams = pg.n;
	resp.truncated = pg.truncated;
	rc = mds_rpc_reply(c, &resp.base);
out:
	mds_arena_free(&pg.a);
	return rc;
}

static int delete_team_run(struct mds_rpc_call *c, struct mds_status *st)
{
	const Mds__V1__DeleteTeamRequest *r = (const void *)c->req;
	int rc;

	if ((rc = check_team(mds_rpc_str(r->team), st)))
		return rc;
	mds_op_init(&c->op, MDS_OP_TEAM_DELETE);
	c->op.team = mds_rpc_str(r->team);
	return 0;
}

static int delete_team_written(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__DeleteTeamResponse resp = MDS__V1__DELETE_TEAM_RESPONSE__INIT;

	(void)st;
	return mds_rpc_reply(c, &resp.base);
}

static int get_status_run(struct mds_rpc_call *c, struct mds_status *st)
{
	Mds__V1__ServerStatus resp = MDS__V1__SERVER_STATUS__INIT;
	struct mds_server_info info;
	struct mds_store_stats ss;
	struct mds_store *store = mds_server_store(c->server);
	uint64_t now;

	(void)st;
	mds_server_get_info(c->server, &info);
	mds_store_stats(store, &ss);
	now = mds_store_now_ns(store);
	resp.version = (char *)MDS_VERSION;
	resp.api = (char *)"mds.v1";
	resp.start_time_ns = info.start_time_ns;
	resp.uptime_ns = now > info.start_time_ns ? now - info.start_time_ns : 0;
	resp.data_dir = (char *)info.data_dir;
	resp.serving = info.serving != 0;
	resp.map_size = ss.map_size;
	resp.map_used = ss.map_used;
	resp.readers_used = ss.readers_used;
	resp.readers_max = ss.readers_max;
	resp.write_batches = ss.batches;
	resp.write_ops = ss.ops;
	resp.write_queue = ss.queue_len;
	resp.worker_threads = info.threads;
	resp.tls = info.tls != 0;
	resp.mtls = info.mtls != 0;
	return mds_rpc_reply(c, &resp.base);
}

#define AD(m) "/mds.v1.Admin/" m

const struct mds_rpc_method mds_rpc_admin_methods[] = {
	{ AD("CreateTeam"), "CreateTeam", MDS_RPC_WRITE,
	  &mds__v1__create_team_request__descriptor, create_team_run, create_team_written, 1 },
	{ AD("GetTeam"), "GetTeam", MDS_RPC_READ,
	  &mds__v1__get_team_request__descriptor, get_team_run, NULL, 0 },
	{ AD("ListTeams"), "ListTeams", MDS_RPC_READ,
	  &mds__v1__list_teams_request__descriptor, list_teams_run, NULL, 0 },
	{ AD("DeleteTeam"), "DeleteTeam", MDS_RPC_WRITE,
	  &mds__v1__delete_team_request__descriptor, delete_team_run, delete_team_written, 0 },
	{ AD("GetStatus"), "GetStatus", MDS_RPC_READ,
	  &mds__v1__get_status_request__descriptor, get_status_run, NULL, 0 },
};
const size_t mds_rpc_admin_count =
	sizeof(mds_rpc_admin_methods) / sizeof(mds_rpc_admin_methods[0]);
