/*
 * auth_persist.c - files of the authority: the persisted last good key set
 * and the atomic write every file of ours goes through.
 *
 * State file format (JSON, one object):
 *   {"format": "mds-auth-state/1", "refreshed_at": <int seconds>,
 *    "jwks": <the key set document as an object>}
 * It is written only after a key set parsed completely, through a temp
 * file, fsync, rename and directory fsync, so a crash leaves the old or the
 * new file, never a mix. On load the key set is parsed again with the same
 * rules, and a refresh time in the future (beyond the clock skew) is
 * refused: it would stretch the offline window.
 */
#include "auth_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "auth_status.h"

#define STATE_FORMAT "mds-auth-state/1"
#define STATE_MAX_BYTES (2 * MDS_JWKS_MAX_BYTES)

/* fsync the directory holding @path: 0, -1 with errno set, or MDS_ENOMEM */
static int fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL)
		return MDS_ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

int auth_write_atomic(const char *path, const void *data, size_t len, int mode,
		      struct mds_status *st)
{
	char *tmp = NULL;
	const char *p = data;
	int fd = -1, rc;
	size_t off = 0;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return mds_status_set(st, MDS_ENOMEM, "cannot write '%s': out of memory", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = mds_status_set(st, MDS_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mds_status_set(st, MDS_EIO, "cannot write '%s': %s", tmp, strerror(errno));
			goto out_unlink;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = mds_status_set(st, MDS_EIO, "cannot fsync '%s': %s", tmp, strerror(errno));
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = mds_status_set(st, MDS_EIO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		goto out_unlink;
	}
	rc = fsync_dir_of(path);
	if (rc != 0) {
		rc = rc == MDS_ENOMEM
			? mds_status_set(st, MDS_ENOMEM, "cannot fsync the directory of '%s': out of memory", path)
			: mds_status_set(st, MDS_EIO, "cannot fsync the directory of '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = auth_ok(st);
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	return rc;
}

int auth_read_file(const char *path, size_t max, char **out, size_t *len,
		   struct mds_status *st)
{
	char *buf = NULL;
	size_t off = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return mds_status_set(st, MDS_ENOTFOUND, "file '%s' does not exist", path);
		return mds_status_set(st, MDS_EIO, "cannot open '%s': %s", path, strerror(errno));
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot read '%s': out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + off, max + 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mds_status_set(st, MDS_EIO, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > max) {
			rc = mds_status_set(st, MDS_EINVAL, "file '%s' is larger than %zu bytes", path, max);
			goto out;
		}
	}
	buf[off] = '\0';
	*out = buf;
	*len = off;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int auth_state_save(const struct mds_auth *a, const struct mds_jwks *keys, int64_t when,
		    struct mds_status *st)
{
	json_t *jwks = NULL, *root = NULL;
	char *text = NULL;
	int rc;

	if (a->state_file == NULL)
		return 0;
	auth_json_begin();  /* checked after the dump: one check covers all */
	jwks = json_loadb(keys->json, keys->json_len, 0, NULL);
	root = jwks != NULL ? json_pack("{s:s, s:I, s:O}", "format", STATE_FORMAT,
					"refreshed_at", (json_int_t)when, "jwks", jwks) : NULL;
	text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
	if (text == NULL || auth_json_failed()) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot persist key set to '%s': out of memory", a->state_file);
		goto out;
	}
	rc = auth_write_atomic(a->state_file, text, strlen(text), 0600, st);
out:
	free(text);
	json_decref(root);
	json_decref(jwks);
	return rc;
}

int auth_state_load(const struct mds_auth *a, struct mds_jwks **keys, int64_t *when,
		    struct mds_status *st)
{
	char *text = NULL, *doc = NULL;
	size_t len;
	json_t *root = NULL, *jw, *ra;
	const char *fmt;
	int rc;

	*keys = NULL;
	if (a->state_file == NULL)
		return MDS_ENOTFOUND;
	rc = auth_read_file(a->state_file, STATE_MAX_BYTES, &text, &len, st);
	if (rc != 0)
		return rc;
	auth_json_begin();
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (auth_json_failed()) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot load key set state '%s': out of memory", a->state_file);
		goto out;
	}
	fmt = json_string_value(json_object_get(root, "format"));
	ra = json_object_get(root, "refreshed_at");
	jw = json_object_get(root, "jwks");
	if (fmt == NULL || strcmp(fmt, STATE_FORMAT) != 0 || !json_is_integer(ra) ||
	    !json_is_object(jw)) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot load key set state '%s': not a %s file; remove it and refresh",
			       a->state_file, STATE_FORMAT);
		goto out;
	}
	*when = (int64_t)json_integer_value(ra);
	if (*when <= 0 || *when > auth_now(a) + a->cfg.clock_skew_s) {
		rc = mds_status_set(st, MDS_EINVAL, "cannot load key set state '%s': refresh time %lld is in the future or invalid",
			       a->state_file, (long long)*when);
		goto out;
	}
	doc = json_dumps(jw, JSON_COMPACT);
	if (doc == NULL || auth_json_failed()) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot load key set state '%s': out of memory", a->state_file);
		goto out;
	}
	rc = mds_jwks_parse(doc, strlen(doc), keys, st);
	if (rc != 0) {
		char why[MDS_STATUS_MSG_MAX];

		snprintf(why, sizeof(why), "%s", st != NULL ? st->msg : "");
		rc = mds_status_set(st, rc, "cannot load key set state '%s': %s", a->state_file, why);
	}
out:
	free(doc);
	json_decref(root);
	free(text);
	return rc;
}
