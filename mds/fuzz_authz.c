/*
 * fuzz_authz.c - fuzz target for the policy text parsers (role, scope,
 * condition) and the evaluation of whatever parses.
 * Input: role \0 scope \0 condition.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 3);
	const char *role, *scope, *cond;
	struct mds_authz *a;
	struct mds_status st;
	size_t n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	role = buf;
	n = strlen(role);
	scope = buf + (n < size ? n + 1 : size);
	n = strlen(scope);
	cond = scope + (scope + n < buf + size ? n + 1 : n);
	if (mds_authz_new(&a) == 0) {
		if (mds_authz_add(a, 1, "p", role, scope, size & 1, cond, &st) == 0) {
			struct mds_pair tag = { MDS_STR("k"), MDS_STR("v") };
			struct mds_authz_subject s = { .principal = MDS_STR("p") };
			struct mds_authz_resource res = { .team = MDS_STR("t"), .bucket = MDS_STR("data"),
							  .name = MDS_STR("a/b"), .object_tags = &tag,
							  .n_object_tags = 1 };
			char explain[512];

			mds_authz_decide(a, &s, MDS_ACT_READ, &res);
			mds_authz_explain(a, &s, MDS_ACT_LIST, &res, explain, sizeof(explain));
		}
		mds_authz_free(a);
	}
	free(buf);
	return 0;
}
