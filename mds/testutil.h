/*
 * testutil.h - helpers shared by the core's cmocka tests: a throw-away
 * store directory and one-line wrappers around common ops. Test-only.
 */
#ifndef MDS_TESTUTIL_H
#define MDS_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mds/namespace.h"
#include "mds/store.h"

static int tu_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void tu_rmrf(const char *dir)
{
	nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates a fresh directory under TMPDIR; @buf receives its path. */
static inline char *tu_tmpdir(char buf[256])
{
	const char *base = getenv("TMPDIR");

	snprintf(buf, 256, "%s/mds-test-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		abort();
	}
	return buf;
}

static inline struct mds_str tu_s(const char *s)
{
	return (struct mds_str){ s, strlen(s) };
}

static inline int tu_team(struct mds_store *s, const char *team)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_TEAM_CREATE);
	op.team = tu_s(team);
	return mds_store_exec(s, &op);
}

static inline int tu_bucket(struct mds_store *s, const char *bucket, const char *team)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_BUCKET_CREATE);
	op.bucket = tu_s(bucket);
	op.team = tu_s(team);
	return mds_store_exec(s, &op);
}

static inline int tu_put(struct mds_store *s, const char *bucket, struct mds_str name,
			 uint64_t size, const char *etag)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = tu_s(bucket);
	op.name = name;
	op.obj.size = size;
	op.obj.etag = tu_s(etag ? etag : "");
	return mds_store_exec(s, &op);
}

static inline int tu_del(struct mds_store *s, const char *bucket, struct mds_str name)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_OBJECT_DELETE);
	op.bucket = tu_s(bucket);
	op.name = name;
	return mds_store_exec(s, &op);
}

static void tu_print_problem(void *arg, const char *p)
{
	(void)arg;
	fprintf(stderr, "check: %s\n", p);
}

/* Runs mds_check in a fresh snapshot; returns problems found (printed). */
static inline long tu_check(struct mds_store *s)
{
	struct mds_reader *r;
	struct mds_status st;
	long n;

	if (mds_reader_open(s, &r) || mds_reader_begin(r))
		return -1;
	n = mds_check(r, tu_print_problem, NULL, &st);
	mds_reader_close(r);
	return n;
}

#endif /* MDS_TESTUTIL_H */
