/*
 * auth_status.c - the one place mds/auth translates the OpenSSL error
 * queue into text for a struct mds_status message (see auth_status.h for
 * the codes the module uses).
 */
#include "auth_status.h"

#include <stdio.h>

#include <openssl/err.h>

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
