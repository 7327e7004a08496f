/*
 * auth_status.c - the one place mds/auth translates the OpenSSL error
 * queue into text for a struct mds_status message, and the jansson
 * allocator that tells a parse run out of memory from a bad document (see
 * auth_status.h for both).
 */
#include "auth_status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/err.h>

static __thread int json_alloc_failed;
static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void *json_malloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		json_alloc_failed = 1;
	return p;
}

static void json_install(void)
{
	json_set_alloc_funcs(json_malloc, free);
}

void auth_json_begin(void)
{
	pthread_once(&json_once, json_install);
	json_alloc_failed = 0;
}

int auth_json_failed(void)
{
	return json_alloc_failed;
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
