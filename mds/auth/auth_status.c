/*
 * auth_status.c - the one place mds/auth formats a failure into a
 * struct mds_status, and translates the OpenSSL error queue into text.
 * See auth_status.h for the codes the module uses.
 */
#include "auth_status.h"

#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

int auth_fail(struct mds_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	if (st == NULL)
		return code;
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	return code;
}

int auth_ok(struct mds_status *st)
{
	if (st != NULL) {
		st->code = 0;
		st->msg[0] = '\0';
	}
	return 0;
}

const char *auth_ossl_reason(void)
{
	static __thread char buf[160];
	unsigned long e = ERR_peek_last_error();

	if (e == 0) {
		snprintf(buf, sizeof(buf), "unknown openssl error");
	} else {
		const char *r = ERR_reason_error_string(e);
		snprintf(buf, sizeof(buf), "%s", r != NULL ? r : "unknown openssl error");
	}
	ERR_clear_error();
	return buf;
}
