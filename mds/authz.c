/*
 * authz.c - the authorization decision engine (see authz.h).
 *
 * A policy is a flat array of bindings; a decision walks all of them
 * (policies are small: bindings per island number in the hundreds), so
 * there is no index to keep consistent. Conditions are parsed once, when a
 * binding is added, into a small expression tree; the parser is fed
 * untrusted text (from mdsctl and the policy RPCs) and bounds its input
 * size and nesting depth.
 *
 * What must stay true: an explicit deny that matches always wins; nothing
 * is allowed without a matching allow binding.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "util.h"

#define COND_MAX_LEN 4096
#define COND_MAX_DEPTH 32

enum cond_op { C_NOT, C_AND, C_OR, C_NAME_PREFIX, C_BUCKET_EQ, C_TAG_EQ, C_REQTAG_EQ };

struct cond {
	enum cond_op op;
	struct cond *l, *r;
	char *key, *val;
	size_t key_len, val_len;
};

struct binding {
	uint64_t id;
	char *subject;        /* principal, or "group:NAME" */
	uint32_t actions;
	int deny;
	char *scope_text;     /* owns the scope's strings */
	struct mds_authz_scope scope;
	struct cond *cond;    /* NULL = always */
	char *cond_text;
};

struct mds_authz {
	struct binding *b;
	size_t n, cap;
	uint64_t epoch;
	size_t n_tag_cond;    /* bindings whose condition reads tag:KEY */
};

/* ---- actions and roles ---------------------------------------------------- */

static const struct {
	uint32_t bit;
	const char *name;
} action_names[] = {
	{ MDS_ACT_READ, "read" },
	{ MDS_ACT_LIST, "list" },
	{ MDS_ACT_PUT, "put" },
	{ MDS_ACT_DELETE, "delete" },
	{ MDS_ACT_APPEND, "append" },
	{ MDS_ACT_SET_TAGS, "set-tags" },
	{ MDS_ACT_SET_RETENTION, "set-retention" },
	{ MDS_ACT_BYPASS_GOVERNANCE, "bypass-governance" },
	{ MDS_ACT_MANAGE_BINDINGS, "manage-bindings" },
	{ MDS_ACT_CREATE_BUCKET, "create-bucket" },
	{ MDS_ACT_DELETE_BUCKET, "delete-bucket" },
	{ MDS_ACT_SET_QUOTA, "set-quota" },
	{ MDS_ACT_MANAGE_TEAMS, "manage-teams" },
};

#define N_ACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *mds_authz_action_name(uint32_t action)
{
	for (size_t i = 0; i < N_ACTIONS; i++)
		if (action_names[i].bit == action)
			return action_names[i].name;
	return NULL;
}

int64_t mds_authz_role_parse(const char *role, struct mds_status *st)
{
	static const struct {
		const char *name;
		uint32_t mask;
	} roles[] = { { "reader", MDS_ROLE_READER }, { "writer", MDS_ROLE_WRITER },
		      { "owner", MDS_ROLE_OWNER }, { "admin", MDS_ROLE_ADMIN } };
	uint32_t mask = 0;
	const char *p = role;

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(role, roles[i].name) == 0)
			return roles[i].mask;
	while (*p) {
		size_t n = strcspn(p, ",");
		size_t i;

		for (i = 0; i < N_ACTIONS; i++)
			if (strlen(action_names[i].name) == n && memcmp(p, action_names[i].name, n) == 0)
				break;
		if (i == N_ACTIONS)
			return mds_status_set(st, MDS_EINVAL,
					      "role '%.64s': '%.*s' is neither a built-in role (reader, writer, owner, admin) nor an action",
					      role, (int)(n > 64 ? 64 : n), p);
		mask |= action_names[i].bit;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!mask)
		return mds_status_set(st, MDS_EINVAL, "role is empty");
	return mask;
}

/* ---- scopes ------------------------------------------------------------------- */

static int scope_parse(char *text, struct mds_authz_scope *sc, struct mds_status *st)
{
	size_t n = strlen(text);

	memset(sc, 0, sizeof(*sc));
	if (strcmp(text, "island") == 0) {
		sc->kind = MDS_SCOPE_ISLAND;
		return 0;
	}
	if (strncmp(text, "team/", 5) == 0) {
		sc->kind = MDS_SCOPE_TEAM;
		sc->team = (struct mds_str){ text + 5, n - 5 };
		return mds_validate_team_name(sc->team, st);
	}
	if (strncmp(text, "bucket/", 7) == 0) {
		sc->kind = MDS_SCOPE_BUCKET;
		sc->bucket = (struct mds_str){ text + 7, n - 7 };
		return mds_validate_bucket_name(sc->bucket, st);
	}
	if (strncmp(text, "prefix/", 7) == 0) {
		const char *slash = strchr(text + 7, '/');
		int rc;

		if (!slash)
			return mds_status_set(st, MDS_EINVAL,
					      "scope '%.80s': a prefix scope is prefix/BUCKET/PREFIX", text);
		sc->kind = MDS_SCOPE_PREFIX;
		sc->bucket = (struct mds_str){ text + 7, (size_t)(slash - text - 7) };
		sc->prefix = (struct mds_str){ slash + 1, n - (size_t)(slash + 1 - text) };
		rc = mds_validate_bucket_name(sc->bucket, st);
		if (rc)
			return rc;
		if (sc->prefix.len > MDS_OBJECT_NAME_MAX || !mds_utf8_is_valid(sc->prefix.p, sc->prefix.len))
			return mds_status_set(st, MDS_EINVAL,
					      "scope '%.80s': the prefix must be valid UTF-8 of at most %d bytes",
					      text, MDS_OBJECT_NAME_MAX);
		return 0;
	}
	return mds_status_set(st, MDS_EINVAL,
			      "scope '%.80s' is not island, team/T, bucket/B or prefix/B/P", text);
}

static int scope_covers(const struct mds_authz_scope *sc, uint32_t action,
			const struct mds_authz_resource *res)
{
	(void)action;
	switch (sc->kind) {
	case MDS_SCOPE_ISLAND:
		return 1;
	case MDS_SCOPE_TEAM:
		return mds_str_eq(sc->team, res->team);
	case MDS_SCOPE_BUCKET:
		return mds_str_eq(sc->bucket, res->bucket);
	case MDS_SCOPE_PREFIX:
		/* For a listing, res->name is the prefix asked for: the whole
		 * listing must lie inside the scope. */
		return mds_str_eq(sc->bucket, res->bucket) && mds_str_has_prefix(res->name, sc->prefix);
	}
	return 0;
}

/* ---- conditions: parser ---------------------------------------------------------- */

struct parser {
	const char *s;
	size_t pos, len;
	int depth;
	struct mds_status *st;
};

static void cond_free(struct cond *c)
{
	if (!c)
		return;
	cond_free(c->l);
	cond_free(c->r);
	free(c->key);
	free(c->val);
	free(c);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
		p->pos++;
}

/* Consumes keyword @kw if it stands next (followed by a non-word byte). */
static int accept_word(struct parser *p, const char *kw)
{
	size_t n = strlen(kw);
	char next;

	skip_ws(p);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, kw, n) != 0)
		return 0;
	next = p->pos + n < p->len ? p->s[p->pos + n] : ' ';
	if ((next >= 'a' && next <= 'z') || (next >= '0' && next <= '9') || next == '_' || next == ':')
		return 0;
	p->pos += n;
	return 1;
}

static int fail_at(struct parser *p, const char *what)
{
	return mds_status_set(p->st, MDS_EINVAL, "condition: %s at byte %zu", what, p->pos);
}

/* A single-quoted string with \' and \\ escapes; the result is malloc'd. */
static int parse_string(struct parser *p, char **out, size_t *out_len)
{
	char *buf;
	size_t o = 0;

	skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '\'')
		return fail_at(p, "expected a string in single quotes");
	p->pos++;
	buf = malloc(p->len - p->pos + 1);
	if (!buf)
		return MDS_ENOMEM;
	while (p->pos < p->len && p->s[p->pos] != '\'') {
		char c = p->s[p->pos++];

		if (c == '\\') {
			if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '\\')) {
				free(buf);
				return fail_at(p, "only \\' and \\\\ are escapes");
			}
			c = p->s[p->pos++];
		}
		buf[o++] = c;
	}
	if (p->pos >= p->len) {
		free(buf);
		return fail_at(p, "unterminated string");
	}
	p->pos++;
	buf[o] = '\0';
	if (!mds_utf8_is_valid(buf, o)) {
		free(buf);
		return fail_at(p, "string is not valid UTF-8");
	}
	*out = buf;
	*out_len = o;
	return 0;
}

static int parse_or(struct parser *p, struct cond **out);

static struct cond *node(enum cond_op op)
{
	struct cond *c = calloc(1, sizeof(struct cond));

	if (c)
		c->op = op;
	return c;
}

static int parse_term(struct parser *p, struct cond **out)
{
	struct cond *c;
	int rc;

	if (++p->depth > COND_MAX_DEPTH)
		return fail_at(p, "nested too deeply");
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '(') {
		p->pos++;
		rc = parse_or(p, out);
		if (rc)
			return rc;
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ')') {
			cond_free(*out);
			*out = NULL;
			return fail_at(p, "expected ')'");
		}
		p->pos++;
		p->depth--;
		return 0;
	}
	if (accept_word(p, "not")) {
		struct cond *inner;

		rc = parse_term(p, &inner);
		if (rc)
			return rc;
		c = node(C_NOT);
		if (!c) {
			cond_free(inner);
			return MDS_ENOMEM;
		}
		c->op = C_NOT;
		c->l = inner;
		*out = c;
		p->depth--;
		return 0;
	}
	c = node(C_NAME_PREFIX);
	if (!c)
		return MDS_ENOMEM;
	if (accept_word(p, "name")) {
		c->op = C_NAME_PREFIX;
		if (!accept_word(p, "startswith")) {
			cond_free(c);
			return fail_at(p, "expected 'startswith' after 'name'");
		}
	} else if (accept_word(p, "bucket")) {
		c->op = C_BUCKET_EQ;
	} else {
		skip_ws(p);
		if (p->len - p->pos > 4 && memcmp(p->s + p->pos, "tag:", 4) == 0) {
			c->op = C_TAG_EQ;
			p->pos += 4;
		} else if (p->len - p->pos > 7 && memcmp(p->s + p->pos, "reqtag:", 7) == 0) {
			c->op = C_REQTAG_EQ;
			p->pos += 7;
		} else {
			cond_free(c);
			return fail_at(p, "expected name, bucket, tag:KEY, reqtag:KEY, not or '('");
		}
		{
			size_t start = p->pos;

			while (p->pos < p->len && p->s[p->pos] != ' ' && p->s[p->pos] != '=' &&
			       p->s[p->pos] != ')' && p->s[p->pos] != '(')
				p->pos++;
			if (p->pos == start || p->pos - start > MDS_TAG_KEY_MAX) {
				cond_free(c);
				return fail_at(p, "tag key must be 1 to 128 bytes");
			}
			c->key_len = p->pos - start;
			c->key = strndup(p->s + start, c->key_len);
			if (!c->key) {
				cond_free(c);
				return MDS_ENOMEM;
			}
		}
	}
	if (c->op != C_NAME_PREFIX) {
		skip_ws(p);
		if (p->len - p->pos < 2 || memcmp(p->s + p->pos, "==", 2) != 0) {
			cond_free(c);
			return fail_at(p, "expected '=='");
		}
		p->pos += 2;
	}
	rc = parse_string(p, &c->val, &c->val_len);
	if (rc) {
		cond_free(c);
		return rc;
	}
	*out = c;
	p->depth--;
	return 0;
}

static int parse_and(struct parser *p, struct cond **out)
{
	struct cond *l, *r, *c;
	int rc = parse_term(p, &l);

	if (rc)
		return rc;
	while (accept_word(p, "and")) {
		rc = parse_term(p, &r);
		if (rc) {
			cond_free(l);
			return rc;
		}
		c = node(C_AND);
		if (!c) {
			cond_free(l);
			cond_free(r);
			return MDS_ENOMEM;
		}
		c->op = C_AND;
		c->l = l;
		c->r = r;
		l = c;
	}
	*out = l;
	return 0;
}

static int parse_or(struct parser *p, struct cond **out)
{
	struct cond *l, *r, *c;
	int rc = parse_and(p, &l);

	if (rc)
		return rc;
	while (accept_word(p, "or")) {
		rc = parse_and(p, &r);
		if (rc) {
			cond_free(l);
			return rc;
		}
		c = node(C_OR);
		if (!c) {
			cond_free(l);
			cond_free(r);
			return MDS_ENOMEM;
		}
		c->op = C_OR;
		c->l = l;
		c->r = r;
		l = c;
	}
	*out = l;
	return 0;
}

/* Parses @text (may be "" = no condition, *out = NULL). */
static int cond_parse(const char *text, struct cond **out, struct mds_status *st)
{
	struct parser p = { text, 0, strlen(text), 0, st };
	int rc;

	*out = NULL;
	if (p.len > COND_MAX_LEN)
		return mds_status_set(st, MDS_EINVAL, "condition is %zu bytes; the limit is %d", p.len,
				      COND_MAX_LEN);
	skip_ws(&p);
	if (p.pos == p.len)
		return 0;
	rc = parse_or(&p, out);
	if (rc)
		return rc;
	skip_ws(&p);
	if (p.pos != p.len) {
		cond_free(*out);
		*out = NULL;
		return fail_at(&p, "expected 'and', 'or' or the end");
	}
	return 0;
}

/* ---- conditions: evaluation ---------------------------------------------------------- */

static int pairs_have(const struct mds_pair *pairs, size_t n, const char *k, size_t kl,
		      const char *v, size_t vl)
{
	for (size_t i = 0; i < n; i++)
		if (pairs[i].key.len == kl && pairs[i].value.len == vl &&
		    memcmp(pairs[i].key.p, k, kl) == 0 && (vl == 0 || memcmp(pairs[i].value.p, v, vl) == 0))
			return 1;
	return 0;
}

static int cond_eval(const struct cond *c, uint32_t action, const struct mds_authz_resource *res)
{
	if (!c)
		return 1;
	switch (c->op) {
	case C_NOT:
		return !cond_eval(c->l, action, res);
	case C_AND:
		return cond_eval(c->l, action, res) && cond_eval(c->r, action, res);
	case C_OR:
		return cond_eval(c->l, action, res) || cond_eval(c->r, action, res);
	case C_NAME_PREFIX:
		/* For a listing, res->name is the prefix asked for. */
		return mds_str_has_prefix(res->name, (struct mds_str){ c->val, c->val_len });
	case C_BUCKET_EQ:
		return mds_str_eq(res->bucket, (struct mds_str){ c->val, c->val_len });
	case C_TAG_EQ:
		return pairs_have(res->object_tags, res->n_object_tags, c->key, c->key_len, c->val,
				  c->val_len);
	case C_REQTAG_EQ:
		return pairs_have(res->request_tags, res->n_request_tags, c->key, c->key_len, c->val,
				  c->val_len);
	}
	return 0;
}

/* ---- the policy ------------------------------------------------------------------------ */

int mds_authz_new(struct mds_authz **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : MDS_ENOMEM;
}

static void binding_release(struct binding *b)
{
	free(b->subject);
	free(b->scope_text);
	free(b->cond_text);
	cond_free(b->cond);
}

void mds_authz_free(struct mds_authz *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		binding_release(&a->b[i]);
	free(a->b);
	free(a);
}

uint64_t mds_authz_epoch(const struct mds_authz *a)
{
	return a->epoch;
}

/* Does @c (NULL allowed) read an object tag anywhere? */
static int cond_reads_object_tags(const struct cond *c)
{
	if (!c)
		return 0;
	return c->op == C_TAG_EQ || cond_reads_object_tags(c->l) || cond_reads_object_tags(c->r);
}

int mds_authz_uses_object_tags(const struct mds_authz *a)
{
	return a->n_tag_cond > 0;
}

int mds_authz_add(struct mds_authz *a, uint64_t id, const char *subject, const char *role,
		  const char *scope, int deny, const char *condition, struct mds_status *st)
{
	struct binding b = { .id = id, .deny = !!deny };
	int64_t mask;
	int rc;

	if (id == 0)
		return mds_status_set(st, MDS_EINVAL, "binding id must be > 0");
	for (size_t i = 0; i < a->n; i++)
		if (a->b[i].id == id)
			return mds_status_set(st, MDS_EEXIST, "binding %llu exists already",
					      (unsigned long long)id);
	if (!subject[0] || strlen(subject) > 1024 || !mds_utf8_is_valid(subject, strlen(subject)) ||
	    (strncmp(subject, "group:", 6) == 0 && !subject[6]))
		return mds_status_set(st, MDS_EINVAL,
				      "subject must be a principal or group:NAME (1 to 1024 bytes of UTF-8)");
	mask = mds_authz_role_parse(role, st);
	if (mask < 0)
		return (int)mask;
	b.actions = (uint32_t)mask;
	b.subject = strdup(subject);
	b.scope_text = strdup(scope);
	b.cond_text = strdup(condition ? condition : "");
	if (!b.subject || !b.scope_text || !b.cond_text) {
		rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
		goto out_release;
	}
	rc = scope_parse(b.scope_text, &b.scope, st);
	if (rc)
		goto out_release;
	rc = cond_parse(b.cond_text, &b.cond, st);
	if (rc)
		goto out_release;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct binding *nb = realloc(a->b, cap * sizeof(*nb));

		if (!nb) {
			rc = mds_status_set(st, MDS_ENOMEM, "out of memory");
			goto out_release;
		}
		a->b = nb;
		a->cap = cap;
	}
	a->b[a->n++] = b;
	a->n_tag_cond += cond_reads_object_tags(b.cond);
	a->epoch++;
	return 0;

out_release:
	binding_release(&b);
	return rc;
}

int mds_authz_remove(struct mds_authz *a, uint64_t id)
{
	for (size_t i = 0; i < a->n; i++) {
		if (a->b[i].id != id)
			continue;
		a->n_tag_cond -= cond_reads_object_tags(a->b[i].cond);
		binding_release(&a->b[i]);
		a->b[i] = a->b[--a->n];
		a->epoch++;
		return 0;
	}
	return MDS_ENOTFOUND;
}

static int subject_matches(const struct binding *b, const struct mds_authz_subject *subj)
{
	if (strncmp(b->subject, "group:", 6) == 0) {
		struct mds_str g = { b->subject + 6, strlen(b->subject + 6) };

		for (size_t i = 0; i < subj->n_groups; i++)
			if (mds_str_eq(subj->groups[i], g))
				return 1;
		return 0;
	}
	return mds_str_eq(subj->principal, (struct mds_str){ b->subject, strlen(b->subject) });
}

static struct mds_authz_decision decide(const struct mds_authz *a,
					const struct mds_authz_subject *subj, uint32_t action,
					const struct mds_authz_resource *res, char *buf, size_t cap)
{
	struct mds_authz_decision d = { MDS_AUTHZ_DEFAULT_DENY, 0 };
	size_t o = 0;

	if (buf && cap)
		buf[0] = '\0';
	for (size_t i = 0; i < a->n; i++) {
		const struct binding *b = &a->b[i];
		int subj_ok = subject_matches(b, subj);
		int act_ok = subj_ok && (b->actions & action);
		int scope_ok = act_ok && scope_covers(&b->scope, action, res);
		int cond_ok = scope_ok && cond_eval(b->cond, action, res);

		if (buf && o < cap)
			o += (size_t)snprintf(buf + o, cap - o,
					      "binding %llu %s %s on %s%s%s: subject %s, action %s, scope %s, condition %s\n",
					      (unsigned long long)b->id, b->deny ? "deny" : "allow", b->subject,
					      b->scope_text, b->cond_text[0] ? " if " : "", b->cond_text,
					      subj_ok ? "matches" : "differs", act_ok ? "included" : "-",
					      scope_ok ? "covers" : "-", cond_ok ? "holds" : "-");
		if (!cond_ok)
			continue;
		if (b->deny) {
			if (d.effect != MDS_AUTHZ_DENY || b->id < d.binding_id) {
				d.effect = MDS_AUTHZ_DENY;
				d.binding_id = b->id;
			}
		} else if (d.effect == MDS_AUTHZ_DEFAULT_DENY ||
			   (d.effect == MDS_AUTHZ_ALLOW && b->id < d.binding_id)) {
			d.effect = MDS_AUTHZ_ALLOW;
			d.binding_id = b->id;
		}
	}
	if (buf && o < cap)
		snprintf(buf + o, cap - o, "decision: %s%s%llu\n",
			 d.effect == MDS_AUTHZ_ALLOW ? "allow" : d.effect == MDS_AUTHZ_DENY ? "deny" : "deny (no binding matched)",
			 d.binding_id ? " by binding " : "", (unsigned long long)d.binding_id);
	return d;
}

struct mds_authz_decision mds_authz_decide(const struct mds_authz *a,
					   const struct mds_authz_subject *subj, uint32_t action,
					   const struct mds_authz_resource *res)
{
	return decide(a, subj, action, res, NULL, 0);
}

struct mds_authz_decision mds_authz_explain(const struct mds_authz *a,
					    const struct mds_authz_subject *subj, uint32_t action,
					    const struct mds_authz_resource *res, char *buf,
					    size_t cap)
{
	return decide(a, subj, action, res, buf, cap);
}

/* ---- decision cache ------------------------------------------------------------------- */

struct cache_slot {
	uint64_t epoch;
	uint64_t hash;
	char *key;
	size_t key_len;
	struct mds_authz_decision d;
};

struct mds_authz_cache {
	pthread_mutex_t mu;
	struct cache_slot *slots;
	size_t n;
	uint64_t hits, misses;
};

int mds_authz_cache_new(struct mds_authz_cache **out, size_t slots)
{
	struct mds_authz_cache *c = calloc(1, sizeof(*c));

	if (!c || !slots)
		goto out_free;
	c->slots = calloc(slots, sizeof(*c->slots));
	if (!c->slots)
		goto out_free;
	c->n = slots;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;

out_free:
	free(c);
	return slots ? MDS_ENOMEM : MDS_EINVAL;
}

void mds_authz_cache_free(struct mds_authz_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->slots[i].key);
	free(c->slots);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void mds_authz_cache_stats(struct mds_authz_cache *c, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&c->mu);
	*hits = c->hits;
	*misses = c->misses;
	pthread_mutex_unlock(&c->mu);
}

/* The exact request as bytes: length-prefixed fields, so no two differ. */
static char *cache_key(const struct mds_authz_subject *subj, uint32_t action,
		       const struct mds_authz_resource *res, size_t *len)
{
	const struct mds_str *f[4] = { &subj->principal, &res->team, &res->bucket, &res->name };
	size_t n = 4 + 4 * 8, o = 0;
	char *k;

	for (int i = 0; i < 4; i++)
		n += f[i]->len;
	for (size_t i = 0; i < subj->n_groups; i++)
		n += 8 + subj->groups[i].len;
	k = malloc(n);
	if (!k)
		return NULL;
	memcpy(k, &action, 4);
	o = 4;
	for (int i = 0; i < 4; i++) {
		uint64_t l = f[i]->len;

		memcpy(k + o, &l, 8);
		o += 8;
		if (l)
			memcpy(k + o, f[i]->p, l);
		o += l;
	}
	for (size_t i = 0; i < subj->n_groups; i++) {
		uint64_t l = subj->groups[i].len;

		memcpy(k + o, &l, 8);
		o += 8;
		if (l)
			memcpy(k + o, subj->groups[i].p, l);
		o += l;
	}
	*len = o;
	return k;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

struct mds_authz_decision mds_authz_cache_decide(struct mds_authz_cache *c,
						 const struct mds_authz *a,
						 const struct mds_authz_subject *subj,
						 uint32_t action,
						 const struct mds_authz_resource *res)
{
	struct mds_authz_decision d;
	struct cache_slot *s;
	size_t klen;
	uint64_t h, epoch = a->epoch;
	char *k;

	/* Tag conditions depend on attributes outside the key: not cached. */
	if (res->n_object_tags || res->n_request_tags)
		return mds_authz_decide(a, subj, action, res);
	k = cache_key(subj, action, res, &klen);
	if (!k)
		return mds_authz_decide(a, subj, action, res);
	h = hash_bytes(k, klen);
	s = &c->slots[h % c->n];
	pthread_mutex_lock(&c->mu);
	if (s->key && s->epoch == epoch && s->hash == h && s->key_len == klen &&
	    memcmp(s->key, k, klen) == 0) {
		d = s->d;
		c->hits++;
		pthread_mutex_unlock(&c->mu);
		free(k);
		return d;
	}
	c->misses++;
	pthread_mutex_unlock(&c->mu);
	d = mds_authz_decide(a, subj, action, res);
	pthread_mutex_lock(&c->mu);
	free(s->key);
	s->key = k;
	s->key_len = klen;
	s->hash = h;
	s->epoch = epoch;
	s->d = d;
	pthread_mutex_unlock(&c->mu);
	return d;
}
