/*
 * error.c - names and descriptions for Island MDS error codes, and the
 * struct mds_status helpers every module uses to report what failed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mds/error.h"

struct err_desc {
	int code;
	const char *name;
	const char *text;
};

static const struct err_desc err_table[] = {
	{ MDS_OK, "MDS_OK", "success" },
	{ MDS_EINVAL, "MDS_EINVAL", "invalid argument" },
	{ MDS_ENOTFOUND, "MDS_ENOTFOUND", "not found" },
	{ MDS_EEXIST, "MDS_EEXIST", "already exists" },
	{ MDS_EPRECOND, "MDS_EPRECOND", "precondition failed" },
	{ MDS_ENOTEMPTY, "MDS_ENOTEMPTY", "not empty" },
	{ MDS_ENOSPC, "MDS_ENOSPC", "store is full (map or disk)" },
	{ MDS_EIO, "MDS_EIO", "store i/o error" },
	{ MDS_ECORRUPT, "MDS_ECORRUPT", "stored data is corrupt" },
	{ MDS_ENOMEM, "MDS_ENOMEM", "out of memory" },
	{ MDS_ESHUTDOWN, "MDS_ESHUTDOWN", "shutting down" },
	{ MDS_EBUSY, "MDS_EBUSY", "resource busy" },
	{ MDS_EQUOTA, "MDS_EQUOTA", "quota exceeded" },
	{ MDS_EDENIED, "MDS_EDENIED", "permission denied" },
	{ MDS_ERATE, "MDS_ERATE", "rate limit exceeded" },
	{ MDS_EVERSION, "MDS_EVERSION", "unsupported version" },
	{ MDS_EINTERNAL, "MDS_EINTERNAL", "internal error" },
	{ MDS_ETIMEDOUT, "MDS_ETIMEDOUT", "deadline exceeded" },
	{ MDS_EUNAVAIL, "MDS_EUNAVAIL", "service unavailable" },
	{ MDS_ELOCKED, "MDS_ELOCKED", "object is locked by retention or legal hold" },
};

static const struct err_desc *err_find(int err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return &err_table[i];
	return NULL;
}

const char *mds_strerror(int err)
{
	const struct err_desc *d = err_find(err);

	if (d)
		return d->text;
	if (err >= MDS_ERR_FIRST && err <= MDS_ERR_LAST)
		return "unknown island mds error";
	if (err < 0)
		return strerror(-err);
	return "unknown error";
}

const char *mds_error_name(int err)
{
	const struct err_desc *d = err_find(err);

	if (d)
		return d->name;
	if (err >= MDS_ERR_FIRST && err <= MDS_ERR_LAST)
		return "MDS_EUNKNOWN";
	return "ERRNO";
}

int mds_error_from_name(const char *name, size_t len)
{
	for (size_t i = 1; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (strlen(err_table[i].name) == len && memcmp(err_table[i].name, name, len) == 0)
			return err_table[i].code;
	return 0;
}

int mds_status_set(struct mds_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	if (!st)
		return code;
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	return code;
}

void mds_status_clear(struct mds_status *st)
{
	if (!st)
		return;
	st->code = 0;
	st->msg[0] = '\0';
}
