/*
 * feed_keys.c - the feed's signing keys under DATA/feed/ (layout and rules
 * in feed_keys.h). Small text files are written under a temporary name,
 * fsync'd and renamed, so each is complete or absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feed_keys.h"

static int path_of(char *buf, size_t cap, const char *dir, const char *file)
{
	int n = snprintf(buf, cap, "%s/feed/%s", dir, file);

	return n < 0 || (size_t)n >= cap ? MDS_EINVAL : 0;
}

static int feed_dir(const char *dir, struct mds_status *st)
{
	char p[4096];

	if (snprintf(p, sizeof(p), "%s/feed", dir) >= (int)sizeof(p))
		return mds_status_set(st, MDS_EINVAL, "data directory path is too long");
	/* create DIR's missing parents too (`mds keys init --data var/a` on a
	 * fresh checkout), then DIR, then DIR/feed */
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = 0;
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			int e = errno;

			return mds_status_set(st, -e, "cannot create '%s': %s", p, strerror(e));
		}
		*q = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return mds_status_set(st, -errno, "cannot create '%s': %s", p, strerror(errno));
	return 0;
}

/* Writes @text to @path atomically (temporary file, fsync, rename). */
static int write_small(const char *path, const char *text, struct mds_status *st)
{
	char tmp[4200];
	size_t n = strlen(text);
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return mds_status_set(st, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return mds_status_set(st, rc, "cannot write '%s': %s", path, strerror(-rc));
	}
	return 0;
}

/* Reads the first line of @path into @buf (without the newline). */
static int read_line(const char *path, char *buf, size_t cap, struct mds_status *st)
{
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f)
		return mds_status_set(st, errno == ENOENT ? MDS_ENOTFOUND : -errno,
				      "cannot open '%s': %s", path, strerror(errno));
	if (!fgets(buf, (int)cap, f))
		rc = mds_status_set(st, MDS_EINVAL, "'%s' is empty", path);
	else
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return rc;
}

int mds_feed_keys_init(const char *data_dir, const char *name, struct mds_status *st)
{
	struct mds_note_signer *k = NULL;
	char kp[4096], np[4096], line[MDS_NOTE_NAME_MAX + 2];
	int rc;

	if (!mds_note_key_name_is_valid(name))
		return mds_status_set(st, MDS_EINVAL,
				      "key name '%s' is invalid: 1-%d printable ascii bytes, no '+' or space",
				      name, MDS_NOTE_NAME_MAX);
	rc = feed_dir(data_dir, st);
	if (rc)
		return rc;
	if (path_of(kp, sizeof(kp), data_dir, "key.pem") ||
	    path_of(np, sizeof(np), data_dir, "key.name"))
		return mds_status_set(st, MDS_EINVAL, "data directory path is too long");
	if (access(kp, F_OK) == 0)
		return mds_status_set(st, MDS_EEXIST,
				      "a feed key exists already in '%s'; use `mds keys rotate`", kp);
	rc = mds_note_signer_generate(name, &k, st);
	if (rc)
		goto out;
	snprintf(line, sizeof(line), "%s\n", name);
	rc = write_small(np, line, st);
	if (rc)
		goto out;
	rc = mds_note_signer_save(k, kp, st);
out:
	mds_note_signer_free(k);
	return rc;
}

int mds_feed_keys_rotate(const char *data_dir, uint64_t now_s, uint64_t overlap_s,
			 struct mds_status *st)
{
	struct mds_note_signer *k = NULL;
	char kp[4096], np[4096], op[4096], up[4096], name[MDS_NOTE_NAME_MAX + 2], line[32];
	int rc;

	if (path_of(kp, sizeof(kp), data_dir, "key.pem") ||
	    path_of(np, sizeof(np), data_dir, "key.name") ||
	    path_of(op, sizeof(op), data_dir, "old-key.pem") ||
	    path_of(up, sizeof(up), data_dir, "old-key.until"))
		return mds_status_set(st, MDS_EINVAL, "data directory path is too long");
	rc = read_line(np, name, sizeof(name), st);
	if (rc)
		return rc;
	if (access(kp, F_OK) != 0)
		return mds_status_set(st, MDS_ENOTFOUND, "no feed key in '%s': run `mds keys init`",
				      kp);
	if (read_line(up, line, sizeof(line), NULL) == 0 &&
	    strtoull(line, NULL, 10) > now_s && access(op, F_OK) == 0)
		return mds_status_set(st, MDS_EEXIST,
				      "the previous rotation's overlap lasts until %s (unix seconds); rotate after it",
				      line);
	/* New key first, in memory: a failure leaves the old layout intact. */
	rc = mds_note_signer_generate(name, &k, st);
	if (rc)
		goto out;
	snprintf(line, sizeof(line), "%" PRIu64 "\n", now_s + overlap_s);
	rc = write_small(up, line, st);
	if (rc)
		goto out;
	if (rename(kp, op) != 0) {
		rc = mds_status_set(st, -errno, "cannot move '%s' to '%s': %s", kp, op,
				    strerror(errno));
		goto out;
	}
	rc = mds_note_signer_save(k, kp, st);
out:
	mds_note_signer_free(k);
	return rc;
}

int mds_feed_keys_load(const char *data_dir, uint64_t now_s, struct mds_note_signer *out[2],
		       size_t *n, char *name_out, struct mds_status *st)
{
	char kp[4096], np[4096], op[4096], up[4096], name[MDS_NOTE_NAME_MAX + 2], line[32];
	int rc;

	*n = 0;
	if (path_of(kp, sizeof(kp), data_dir, "key.pem") ||
	    path_of(np, sizeof(np), data_dir, "key.name") ||
	    path_of(op, sizeof(op), data_dir, "old-key.pem") ||
	    path_of(up, sizeof(up), data_dir, "old-key.until"))
		return mds_status_set(st, MDS_EINVAL, "data directory path is too long");
	rc = read_line(np, name, sizeof(name), st);
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "no feed key in '%s/feed': run `mds keys init`",
				      data_dir);
	if (rc)
		return rc;
	rc = mds_note_signer_load(kp, name, &out[0], st);
	if (rc)
		return rc;
	*n = 1;
	if (read_line(up, line, sizeof(line), NULL) == 0 && strtoull(line, NULL, 10) > now_s &&
	    access(op, F_OK) == 0) {
		rc = mds_note_signer_load(op, name, &out[1], st);
		if (rc) {
			mds_note_signer_free(out[0]);
			*n = 0;
			return rc;
		}
		*n = 2;
	}
	if (name_out)
		memcpy(name_out, name, strlen(name) + 1);  /* the load checked its length */
	return 0;
}
