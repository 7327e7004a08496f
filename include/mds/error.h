/*
 * error.h - error codes shared by every Island MDS component.
 *
 * Every function returns an int: 0 on success or a negative code. Codes
 * from -30999 to -30900 are Island MDS's own (the range sits beside LMDB's
 * -30799..-30780 and never collides with errno); any other negative value
 * is -errno. mds_strerror() names both kinds.
 *
 * Functions that can fail for a reason a user must act on also fill a
 * struct mds_status: the code plus a one-line, lower-case message that says
 * what failed, on which name, and what to do. The message is what reaches a
 * client (gRPC status message, mdsctl stderr); the code is what programs
 * branch on.
 */
#ifndef MDS_ERROR_H
#define MDS_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum mds_error {
	MDS_OK = 0,
	MDS_EINVAL = -30900,     /* an argument is malformed; the message names it */
	MDS_ENOTFOUND = -30901,  /* team, bucket, object or token does not exist */
	MDS_EEXIST = -30902,     /* the thing to create exists already */
	MDS_EPRECOND = -30903,   /* If-Match / If-None-Match condition not met */
	MDS_ENOTEMPTY = -30904,  /* bucket (or team) still holds objects (buckets) */
	MDS_ENOSPC = -30905,     /* LMDB map full or disk full: writes refused, reads go on */
	MDS_EIO = -30906,        /* I/O error from the store */
	MDS_ECORRUPT = -30907,   /* a stored record does not decode */
	MDS_ENOMEM = -30908,     /* out of memory */
	MDS_ESHUTDOWN = -30909,  /* the store or server is shutting down */
	MDS_EBUSY = -30910,      /* a bounded resource (queue, reader slots) is full */
	MDS_EQUOTA = -30911,     /* a quota limit refuses the change */
	MDS_EDENIED = -30912,    /* the caller is not allowed to do this */
	MDS_ERATE = -30913,      /* rate limit exceeded; retry later */
	MDS_EVERSION = -30914,   /* store format or ABI version not supported */
	MDS_EINTERNAL = -30915,  /* a bug: an invariant of our own code broke */
	MDS_ETIMEDOUT = -30916,  /* a deadline passed */
	MDS_EUNAVAIL = -30917,   /* a remote service cannot be reached */
	MDS_ELOCKED = -30918,    /* retention or legal hold forbids the change */
	MDS_ERR_FIRST = -30999,
	MDS_ERR_LAST = -30900,
};

/* Longest message in a struct mds_status, including the NUL. */
#define MDS_STATUS_MSG_MAX 256

struct mds_status {
	int code;                       /* 0 or a negative code */
	char msg[MDS_STATUS_MSG_MAX];   /* "" when code is 0 */
};

/*
 * mds_strerror - a static, lower-case description of an error code.
 * Accepts Island MDS codes and -errno values. Never returns NULL.
 */
const char *mds_strerror(int err);

/*
 * mds_error_name - the symbolic name of a code ("MDS_ENOTFOUND"), for logs
 * and --json output. Returns "MDS_OK" for 0 and "ERRNO" for -errno values.
 */
const char *mds_error_name(int err);

/*
 * mds_error_from_name - the code for a symbolic name (@len bytes, not
 * NUL-terminated), as sent in the "mds-error" trailing metadata; 0 when the
 * name is unknown.
 */
int mds_error_from_name(const char *name, size_t len);

/*
 * mds_status_set - set @st to @code with a printf-style message and return
 * @code, so callers can write `return mds_status_set(st, MDS_EINVAL, ...)`.
 * @st may be NULL (the code is still returned). Messages are truncated to
 * MDS_STATUS_MSG_MAX - 1 bytes.
 */
int mds_status_set(struct mds_status *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* mds_status_clear - set @st (may be NULL) to success. */
void mds_status_clear(struct mds_status *st);

#ifdef __cplusplus
}
#endif

#endif /* MDS_ERROR_H */
