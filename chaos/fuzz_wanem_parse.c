/*
 * fuzz_wanem_parse.c - libFuzzer target for the WAN emulator's value
 * parsers (wanem_parse.c), which read control-socket and config input.
 * Every parser must either refuse the input with -EINVAL and a message, or
 * return a value inside its documented range; none may read past the string.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wanem_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char err[256], out[64];
	struct sockaddr_storage ss;
	uint64_t u;
	double p;
	int b, r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	err[0] = '\0';
	r = mds_wanem_parse_duration(s, &u, err, sizeof(err));
	assert(r == 0 ? u <= 3600000000000ULL : (r == -EINVAL && err[0]));
	r = mds_wanem_parse_rate(s, &u, err, sizeof(err));
	assert(r == 0 ? u <= 1000000000000ULL : r == -EINVAL);
	r = mds_wanem_parse_size(s, &u, err, sizeof(err));
	assert(r == 0 ? u <= 1099511627776ULL : r == -EINVAL);
	r = mds_wanem_parse_prob(s, &p, err, sizeof(err));
	assert(r == 0 ? (p >= 0 && p <= 1) : r == -EINVAL);
	r = mds_wanem_parse_bool(s, &b, err, sizeof(err));
	assert(r == 0 ? (b == 0 || b == 1) : r == -EINVAL);
	r = mds_wanem_parse_addr(s, &ss, err, sizeof(err));
	if (r == 0)
		assert(mds_wanem_format_addr((struct sockaddr *)&ss, out, sizeof(out)) == 0);
	else
		assert(r == -EINVAL);
	free(s);
	return 0;
}
