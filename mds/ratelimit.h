/*
 * ratelimit.h - per-team request-rate limits: token buckets for read,
 * write and list requests, exact across the island because every request
 * passes the one mds. A refused request learns how long until a token is
 * there (the retry-after hint the RPC layer sends in trailing metadata).
 *
 * Thread-safe: teams are spread over lock stripes, so teams do not contend
 * with each other and one team's flood does not slow another's checks.
 */
#ifndef MDS_RATELIMIT_H
#define MDS_RATELIMIT_H

#include <stdint.h>

#include "mds/error.h"
#include "mds/namespace.h"

enum mds_rate_class {
	MDS_RATE_READ = 0,
	MDS_RATE_WRITE = 1,
	MDS_RATE_LIST = 2,
	MDS_RATE__COUNT
};

/* One class's limit: @rate tokens per second refilled up to @burst. 0 rate = unlimited. */
struct mds_rate_limit {
	double rate;
	double burst;
};

struct mds_ratelimit;

/* A limiter whose teams without their own limits get @defaults (may be NULL = unlimited). */
int mds_ratelimit_new(struct mds_ratelimit **out,
		      const struct mds_rate_limit defaults[MDS_RATE__COUNT]);
void mds_ratelimit_free(struct mds_ratelimit *rl);

/*
 * mds_ratelimit_set - set @team's limits (copied). A team's bucket starts
 * full. Returns 0, MDS_EINVAL (bad team name, negative rate, burst < 1 with
 * a rate), MDS_ENOMEM.
 */
int mds_ratelimit_set(struct mds_ratelimit *rl, struct mds_str team,
		      const struct mds_rate_limit limits[MDS_RATE__COUNT], struct mds_status *st);

/*
 * mds_ratelimit_take - take one token for @team's @cls at monotonic time
 * @now_ns. Returns 0, or MDS_ERATE with *retry_after_ms (>= 1) set to when
 * the next token will be there and @st naming the team and limit.
 */
int mds_ratelimit_take(struct mds_ratelimit *rl, struct mds_str team, enum mds_rate_class cls,
		       uint64_t now_ns, uint32_t *retry_after_ms, struct mds_status *st);

#endif /* MDS_RATELIMIT_H */
