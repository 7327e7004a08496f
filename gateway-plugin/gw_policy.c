/*
 * gw_policy.c - access checks of the lmdb: provider, decided in the
 * gateway's process from the island's read-only LMDB environment.
 *
 * Why local and not a call to mds: the gateway asks on every request, and
 * lmdb: exists so that the request path has no network hop. The decision
 * is made by the island's own code (mds/authz.c, the bindings loaded by
 * mds/policy.c from the `policy` database), so it is the decision mds's
 * gate would make from the same snapshot: default deny, explicit deny
 * wins, scopes island > team > bucket > prefix, conditions (object tags
 * read from the same snapshot, as the gate does).
 *
 * Keeping the bindings current: parsing every binding (conditions
 * included) on every check would cost more than the check, so the parsed
 * policy (struct mds_authz) is kept and rebuilt only when the stored
 * bindings differ from the ones it was built from. Each check walks the
 * `policy` database of its snapshot (one cursor pass, no parsing) into a
 * byte string of every binding's id, deny flag and four strings, and
 * compares it with the string of the kept policy: equal strings mean
 * equal bindings (exactly; no hash), so a check never decides on bindings
 * other than its snapshot's. Binding ids may be reused after an unbind,
 * which is why the whole content is compared rather than a count or the
 * largest id.
 *
 * What must stay true: nothing read from the snapshot is used after the
 * caller ends it; a check decides on the policy of its own snapshot:
 * under the read lock when the kept one matches, else under the write
 * lock it took to install its rebuild.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "gw_internal.h"
#include "mds/namespace.h"
#include "mds/store.h"
#include "policy.h"

struct gw_policy {
	pthread_rwlock_t lock;
	struct mds_authz *authz;    /* NULL until the first check */
	char *fp;                   /* the bindings it was built from (owned) */
	size_t fp_len;
};

struct fp_buf {
	char *p;
	size_t len, cap;
	int nomem;
};

static void fp_add(struct fp_buf *b, const void *p, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->nomem = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void fp_str(struct fp_buf *b, struct mds_str s)
{
	uint32_t n = (uint32_t)s.len;

	fp_add(b, &n, sizeof(n));
	fp_add(b, s.p, s.len);
}

static int fp_emit(void *arg, const struct mds_policy_binding *pb)
{
	struct fp_buf *b = arg;
	uint8_t deny = pb->deny != 0;

	fp_add(b, &pb->id, sizeof(pb->id));
	fp_add(b, &deny, 1);
	fp_str(b, pb->subject);
	fp_str(b, pb->role);
	fp_str(b, pb->scope);
	fp_str(b, pb->condition);
	return b->nomem ? MDSGW_ENOMEM : 0;
}

int gw_policy_new(struct gw_policy **out)
{
	struct gw_policy *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return MDSGW_ENOMEM;
	pthread_rwlock_init(&p->lock, NULL);
	*out = p;
	return 0;
}

void gw_policy_free(struct gw_policy *p)
{
	if (!p)
		return;
	mds_authz_free(p->authz);
	free(p->fp);
	pthread_rwlock_destroy(&p->lock);
	free(p);
}

/*
 * Make p->authz the policy of @r's snapshot; returns 0 with the lock held
 * (read lock when the kept policy was current, write lock after a rebuild,
 * so that a concurrent rebuild from an older snapshot cannot swap its
 * policy in before this call decides). @fp is the snapshot's binding
 * string; its buffer is taken over when the policy is rebuilt.
 */
static int policy_current(struct gw_policy *p, struct mds_reader *r, struct fp_buf *fp,
			  struct mdsgw_status *st)
{
	struct mds_authz *fresh = NULL, *old = NULL;
	struct mds_status ms = { 0 };
	int rc;

	pthread_rwlock_rdlock(&p->lock);
	if (p->authz && p->fp_len == fp->len && (fp->len == 0 || !memcmp(p->fp, fp->p, fp->len)))
		return 0;
	pthread_rwlock_unlock(&p->lock);

	rc = mds_authz_new(&fresh);
	if (rc)
		return gw_status_set(st, MDSGW_ENOMEM, "access check: out of memory loading the "
				     "island's bindings");
	rc = mds_policy_load(r, fresh, &ms);
	if (rc) {
		mds_authz_free(fresh);
		return gw_status_set(st, rc, "access check: cannot load the island's bindings: %s",
				     ms.msg[0] ? ms.msg : mdsgw_strerror(rc));
	}
	pthread_rwlock_wrlock(&p->lock);
	old = p->authz;            /* no reader holds it: we hold the write lock */
	p->authz = fresh;
	free(p->fp);
	p->fp = fp->p;
	p->fp_len = fp->len;
	fp->p = NULL;
	mds_authz_free(old);
	return 0;
}

int gw_policy_check(struct gw_policy *p, struct mds_reader *r, const struct mdsgw_access *a,
		    int *allowed, struct mdsgw_status *st)
{
	struct fp_buf fp = { NULL, 0, 0, 0 };
	struct mds_status ms = { 0 };
	struct mds_authz_subject subj;
	struct mds_authz_resource res;
	struct mds_str groups[64];
	struct mds_pair otags[MDS_TAGS_MAX];
	struct mds_bucket b;
	struct mds_object o;
	struct mds_authz_decision d;
	int64_t action;
	int rc;

	*allowed = 0;
	action = mds_authz_role_parse(a->action, &ms);
	if (action < 0)
		return gw_status_set(st, MDSGW_EINVAL, "access check: %s", ms.msg);
	if (action == 0 || (action & (action - 1)))
		return gw_status_set(st, MDSGW_EINVAL, "access check: action '%.60s' is not one "
				     "action (roles and lists are refused)", a->action);
	if (a->n_groups > sizeof(groups) / sizeof(groups[0]))
		return gw_status_set(st, MDSGW_EINVAL, "access check: %zu groups, at most %zu",
				     a->n_groups, sizeof(groups) / sizeof(groups[0]));
	memset(&subj, 0, sizeof(subj));
	memset(&res, 0, sizeof(res));
	subj.principal = (struct mds_str){ a->principal, strlen(a->principal) };
	for (size_t i = 0; i < a->n_groups; i++) {
		const char *g = a->groups[i] ? a->groups[i] : "";

		groups[i] = (struct mds_str){ g, strlen(g) };
	}
	subj.groups = groups;
	subj.n_groups = a->n_groups;
	if (a->team)
		res.team = (struct mds_str){ a->team, strlen(a->team) };
	if (a->bucket) {
		res.bucket = (struct mds_str){ a->bucket, strlen(a->bucket) };
		/* The bucket's owner team, as the gate does (unknown bucket: none). */
		if (mds_bucket_get(r, res.bucket, &b, &ms) == 0)
			res.team = b.team;
		else
			res.team = (struct mds_str){ "", 0 };
	}
	if (a->name)
		res.name = (struct mds_str){ a->name, strlen(a->name) };

	rc = mds_policy_list(r, 0, 0, fp_emit, &fp, &ms);
	if (rc) {
		free(fp.p);
		return gw_status_set(st, rc, "access check: cannot read the island's bindings: %s",
				     rc == MDSGW_ENOMEM ? "out of memory" :
				     ms.msg[0] ? ms.msg : mdsgw_strerror(rc));
	}
	rc = policy_current(p, r, &fp, st);
	free(fp.p);
	if (rc)
		return rc;
	/* Object tags for tag conditions, from the same snapshot (valid until
	 * the caller ends it, after the decision). */
	if (res.bucket.len && res.name.len && action != MDS_ACT_LIST &&
	    mds_authz_uses_object_tags(p->authz) &&
	    mds_object_head(r, res.bucket, res.name, &o, &ms) == 0) {
		struct mds_str cur = o.tags_raw;

		while (res.n_object_tags < MDS_TAGS_MAX &&
		       mds_pairs_next(&cur, &otags[res.n_object_tags]) == 1)
			res.n_object_tags++;
		res.object_tags = otags;
	}
	d = mds_authz_decide(p->authz, &subj, (uint32_t)action, &res);
	pthread_rwlock_unlock(&p->lock);
	*allowed = d.effect == MDS_AUTHZ_ALLOW;
	return 0;
}
