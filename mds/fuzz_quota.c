/*
 * fuzz_quota.c - libFuzzer target for the quota scope parser
 * (mds_quota_scope_parse), which reads scopes straight from requests. It
 * must never crash or read out of bounds; a scope it accepts must format
 * back to exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mds/quota.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[MDS_QUOTA_SCOPE_MAX + 1];
	struct mds_quota_scope sc;
	struct mds_status st;
	struct mds_str s = { (const char *)data, size };

	if (mds_quota_scope_parse(s, &sc, &st) == 0) {
		mds_quota_scope_format(buf, &sc);
		if (strlen(buf) != size || memcmp(buf, data, size) != 0)
			abort();
	} else if (st.code != MDS_EINVAL || !st.msg[0]) {
		abort();
	}
	return 0;
}
