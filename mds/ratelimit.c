/*
 * ratelimit.c - per-team token buckets (see ratelimit.h).
 *
 * Each team has one bucket per request class; tokens refill continuously
 * at the class's rate up to its burst. Teams live in a hash table split
 * into lock stripes; the table only grows (teams are few).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "util.h"

#define STRIPES 16

struct bucket {
	double tokens;
	uint64_t last_ns;
	int started;
};

struct team_rl {
	struct team_rl *next;
	char name[MDS_TEAM_NAME_MAX];
	size_t len;
	struct mds_rate_limit lim[MDS_RATE__COUNT];
	struct bucket b[MDS_RATE__COUNT];
};

struct stripe {
	pthread_mutex_t mu;
	struct team_rl *head;
};

struct mds_ratelimit {
	struct mds_rate_limit defaults[MDS_RATE__COUNT];
	struct stripe s[STRIPES];
};

static const char *const class_names[MDS_RATE__COUNT] = { "read", "write", "list" };

int mds_ratelimit_new(struct mds_ratelimit **out,
		      const struct mds_rate_limit defaults[MDS_RATE__COUNT])
{
	struct mds_ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return MDS_ENOMEM;
	if (defaults)
		memcpy(rl->defaults, defaults, sizeof(rl->defaults));
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&rl->s[i].mu, NULL);
	*out = rl;
	return 0;
}

void mds_ratelimit_free(struct mds_ratelimit *rl)
{
	if (!rl)
		return;
	for (int i = 0; i < STRIPES; i++) {
		struct team_rl *t = rl->s[i].head, *n;

		for (; t; t = n) {
			n = t->next;
			free(t);
		}
		pthread_mutex_destroy(&rl->s[i].mu);
	}
	free(rl);
}

static struct stripe *stripe_of(struct mds_ratelimit *rl, struct mds_str team)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < team.len; i++)
		h = (h ^ (uint8_t)team.p[i]) * 16777619u;
	return &rl->s[h % STRIPES];
}

/* Finds or creates @team in @s (locked). */
static struct team_rl *team_get(struct mds_ratelimit *rl, struct stripe *s, struct mds_str team)
{
	struct team_rl *t;

	for (t = s->head; t; t = t->next)
		if (t->len == team.len && memcmp(t->name, team.p, team.len) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	memcpy(t->name, team.p, team.len);
	t->len = team.len;
	memcpy(t->lim, rl->defaults, sizeof(t->lim));
	t->next = s->head;
	s->head = t;
	return t;
}

int mds_ratelimit_set(struct mds_ratelimit *rl, struct mds_str team,
		      const struct mds_rate_limit limits[MDS_RATE__COUNT], struct mds_status *st)
{
	struct stripe *s;
	struct team_rl *t;
	int rc = mds_validate_team_name(team, st);

	if (rc)
		return rc;
	for (int c = 0; c < MDS_RATE__COUNT; c++) {
		if (!(limits[c].rate >= 0) || !isfinite(limits[c].rate) || !isfinite(limits[c].burst))
			return mds_status_set(st, MDS_EINVAL, "%s rate for team '%.*s' must be a finite number >= 0",
					      class_names[c], (int)team.len, team.p);
		if (limits[c].rate > 0 && limits[c].burst < 1)
			return mds_status_set(st, MDS_EINVAL, "%s burst for team '%.*s' must be at least 1",
					      class_names[c], (int)team.len, team.p);
	}
	s = stripe_of(rl, team);
	pthread_mutex_lock(&s->mu);
	t = team_get(rl, s, team);
	if (t) {
		memcpy(t->lim, limits, sizeof(t->lim));
		memset(t->b, 0, sizeof(t->b)); /* restart full */
	}
	pthread_mutex_unlock(&s->mu);
	return t ? 0 : mds_status_set(st, MDS_ENOMEM, "out of memory");
}

int mds_ratelimit_take(struct mds_ratelimit *rl, struct mds_str team, enum mds_rate_class cls,
		       uint64_t now_ns, uint32_t *retry_after_ms, struct mds_status *st)
{
	struct stripe *s = stripe_of(rl, team);
	struct team_rl *t;
	struct bucket *b;
	struct mds_rate_limit lim;
	int rc = 0;

	if ((unsigned)cls >= MDS_RATE__COUNT || team.len > MDS_TEAM_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "bad rate class or team name");
	pthread_mutex_lock(&s->mu);
	t = team_get(rl, s, team);
	if (!t) {
		pthread_mutex_unlock(&s->mu);
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	}
	lim = t->lim[cls];
	b = &t->b[cls];
	if (lim.rate <= 0)
		goto out; /* unlimited */
	if (!b->started) {
		b->tokens = lim.burst;
		b->last_ns = now_ns;
		b->started = 1;
	} else if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) / 1e9 * lim.rate;
		if (b->tokens > lim.burst)
			b->tokens = lim.burst;
		b->last_ns = now_ns;
	}
	if (b->tokens >= 1) {
		b->tokens -= 1;
	} else {
		double wait_ms = (1 - b->tokens) / lim.rate * 1e3;

		*retry_after_ms = wait_ms < 1 ? 1 : (uint32_t)ceil(wait_ms - 1e-6);
		rc = mds_status_set(st, MDS_ERATE,
				    "team '%.*s' is over its %s rate of %.6g/s (burst %.6g); retry after %u ms",
				    (int)team.len, team.p, class_names[cls], lim.rate, lim.burst,
				    *retry_after_ms);
	}
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}
