/*
 * policy.c - role bindings in the `policy` database (see policy.h).
 *
 * What must stay true: every stored record decodes and is accepted by
 * mds_authz_add() (checked before it is written), and keys are 8-byte
 * big-endian ids so that cursor order is id order.
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "kv.h"

#define POLICY_FORMAT 1
#define FIELD_MAX 4096

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int decode(struct mds_str key, struct mds_str val, struct mds_policy_binding *b)
{
	const uint8_t *p = (const uint8_t *)val.p, *end = p + val.len;
	struct mds_str *f[4] = { &b->subject, &b->role, &b->scope, &b->condition };

	if (key.len != 8 || val.len < 10 || p[0] != POLICY_FORMAT || p[1] > 1)
		return MDS_ECORRUPT;
	b->id = get_be64((const uint8_t *)key.p);
	b->deny = p[1];
	b->ctime_ns = get_be64(p + 2);
	p += 10;
	for (int i = 0; i < 4; i++) {
		size_t n;

		if (end - p < 2)
			return MDS_ECORRUPT;
		n = (size_t)p[0] << 8 | p[1];
		p += 2;
		if ((size_t)(end - p) < n)
			return MDS_ECORRUPT;
		f[i]->p = (const char *)p;
		f[i]->len = n;
		p += n;
	}
	return p == end ? 0 : MDS_ECORRUPT;
}

/* NUL-terminated copies of the four strings, in one allocation. */
static char *cstrings(const struct mds_policy_binding *b, char *out[4])
{
	const struct mds_str *f[4] = { &b->subject, &b->role, &b->scope, &b->condition };
	size_t n = 0;
	char *buf, *p;

	for (int i = 0; i < 4; i++)
		n += f[i]->len + 1;
	buf = malloc(n);
	if (!buf)
		return NULL;
	p = buf;
	for (int i = 0; i < 4; i++) {
		memcpy(p, f[i]->p, f[i]->len);
		p[f[i]->len] = 0;
		out[i] = p;
		p += f[i]->len + 1;
	}
	return buf;
}

int mds_policy_add_to(struct mds_authz *a, const struct mds_policy_binding *b,
		      struct mds_status *st)
{
	char *s[4];
	char *buf = cstrings(b, s);
	int rc;

	if (!buf)
		return mds_status_set(st, MDS_ENOMEM, "out of memory");
	rc = mds_authz_add(a, b->id, s[0], s[1], s[2], b->deny, s[3], st);
	free(buf);
	return rc;
}

static int has_nul(struct mds_str s)
{
	return s.len && memchr(s.p, 0, s.len) != NULL;
}

static int apply_bind(struct mds_txn *t, struct mds_op *op)
{
	struct mds_policy_binding b;
	struct mds_authz *check = NULL;
	struct mds_kcur *cur = NULL;
	struct mds_str k, v;
	const struct mds_str *f[4] = { &op->policy.subject, &op->policy.role,
				       &op->policy.scope, &op->policy.condition };
	uint8_t key[8], *val = NULL;
	size_t n = 10, off;
	int rc;

	for (int i = 0; i < 4; i++) {
		if (f[i]->len > FIELD_MAX || has_nul(*f[i]))
			return mds_status_set(&op->status, MDS_EINVAL,
					      "binding %s is too long or has a NUL byte",
					      i == 0 ? "subject" : i == 1 ? "role" :
					      i == 2 ? "scope" : "condition");
		n += 2 + f[i]->len;
	}
	if (op->policy.subject.len == 0)
		return mds_status_set(&op->status, MDS_EINVAL, "binding needs a subject");
	memset(&b, 0, sizeof(b));
	b.id = 1;
	b.deny = op->policy.deny ? 1 : 0;
	b.subject = op->policy.subject;
	b.role = op->policy.role;
	b.scope = op->policy.scope;
	b.condition = op->policy.condition;
	/* Refuse what the engine would refuse: stored bindings always load. */
	rc = mds_authz_new(&check);
	if (rc)
		return mds_status_set(&op->status, rc, "out of memory");
	rc = mds_policy_add_to(check, &b, &op->status);
	mds_authz_free(check);
	if (rc)
		return rc;

	rc = mds_kv_cursor_open(t, MDS_DB_POLICY, &cur);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read the policy database");
	rc = mds_kv_last(cur, &k, &v);
	if (rc == 0 && k.len == 8)
		b.id = get_be64((const uint8_t *)k.p) + 1;
	mds_kv_cursor_close(cur);
	if (rc && rc != MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "cannot read the policy database");

	val = malloc(n);
	if (!val)
		return mds_status_set(&op->status, MDS_ENOMEM, "out of memory");
	val[0] = POLICY_FORMAT;
	val[1] = (uint8_t)b.deny;
	put_be64(val + 2, mds_txn_now_ns(t));
	off = 10;
	for (int i = 0; i < 4; i++) {
		val[off] = (uint8_t)(f[i]->len >> 8);
		val[off + 1] = (uint8_t)f[i]->len;
		memcpy(val + off + 2, f[i]->p, f[i]->len);
		off += 2 + f[i]->len;
	}
	put_be64(key, b.id);
	rc = mds_kv_put(t, MDS_DB_POLICY, (struct mds_str){ (const char *)key, 8 },
			(struct mds_str){ (const char *)val, n });
	free(val);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot store binding %llu",
				      (unsigned long long)b.id);
	op->out_version = b.id;
	return 0;
}

static int apply_unbind(struct mds_txn *t, struct mds_op *op)
{
	uint8_t key[8];
	int rc;

	put_be64(key, op->policy.id);
	rc = mds_kv_del(t, MDS_DB_POLICY, (struct mds_str){ (const char *)key, 8 });
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(&op->status, rc, "binding %llu not found",
				      (unsigned long long)op->policy.id);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot delete binding %llu",
				      (unsigned long long)op->policy.id);
	op->out_version = op->policy.id;
	return 0;
}

int mds_policy_apply(struct mds_txn *t, struct mds_op *op)
{
	switch (op->kind) {
	case MDS_OP_POLICY_BIND:
		return apply_bind(t, op);
	case MDS_OP_POLICY_UNBIND:
		return apply_unbind(t, op);
	default:
		return mds_status_set(&op->status, MDS_EINVAL, "unknown policy op %d",
				      (int)op->kind);
	}
}

int mds_policy_get(struct mds_reader *r, uint64_t id, struct mds_policy_binding *out,
		   struct mds_status *st)
{
	uint8_t key[8];
	struct mds_str k, v;
	int rc;

	put_be64(key, id);
	k = (struct mds_str){ (const char *)key, 8 };
	rc = mds_kv_get(mds_reader_txn(r), MDS_DB_POLICY, k, &v);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "binding %llu not found", (unsigned long long)id);
	if (rc == 0)
		rc = decode(k, v, out);
	if (rc)
		return mds_status_set(st, rc, "cannot read binding %llu: %s",
				      (unsigned long long)id, mds_strerror(rc));
	return 0;
}

int mds_policy_list(struct mds_reader *r, uint64_t after_id, size_t limit,
		    mds_policy_emit_fn emit, void *arg, struct mds_status *st)
{
	struct mds_kcur *cur = NULL;
	struct mds_policy_binding b;
	struct mds_str k, v;
	uint8_t key[8];
	size_t n = 0;
	int rc;

	rc = mds_kv_cursor_open(mds_reader_txn(r), MDS_DB_POLICY, &cur);
	if (rc)
		return mds_status_set(st, rc, "cannot read the policy database");
	put_be64(key, after_id);
	rc = mds_kv_seek(cur, (struct mds_str){ (const char *)key, 8 }, &k, &v);
	if (rc == 0 && k.len == 8 && get_be64((const uint8_t *)k.p) == after_id)
		rc = mds_kv_next(cur, &k, &v);
	while (rc == 0 && (limit == 0 || n < limit)) {
		rc = decode(k, v, &b);
		if (rc) {
			mds_status_set(st, rc, "cannot decode a binding record");
			goto out;
		}
		rc = emit(arg, &b);
		if (rc)
			goto out;
		n++;
		rc = mds_kv_next(cur, &k, &v);
	}
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	else if (rc && !(limit && n >= limit))
		mds_status_set(st, rc, "cannot read the policy database");
	else
		rc = 0;
out:
	mds_kv_cursor_close(cur);
	return rc;
}

struct load_ctx {
	struct mds_authz *a;
	struct mds_status *st;
};

static int load_one(void *arg, const struct mds_policy_binding *b)
{
	struct load_ctx *lc = arg;

	return mds_policy_add_to(lc->a, b, lc->st);
}

int mds_policy_load(struct mds_reader *r, struct mds_authz *a, struct mds_status *st)
{
	struct load_ctx lc = { a, st };

	return mds_policy_list(r, 0, 0, load_one, &lc, st);
}
