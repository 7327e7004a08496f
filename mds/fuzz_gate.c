/*
 * fuzz_gate.c - fuzz target for the gate's configuration parsers: the
 * per-team rate-limit spec, the gateway identity list and the bootstrap
 * admin list (operator input, but parsed by a daemon that must not crash
 * on any of it). Input: rate_limits \0 gateways \0 admins.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 3);
	struct mds_gate_opts o = { .mode = MDS_GATE_DEV };
	struct mds_gate *g = NULL;
	struct mds_status st;
	size_t n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = buf[size + 2] = '\0';
	o.rate_limits = buf;
	n = strlen(o.rate_limits);
	o.gateways = buf + (n < size ? n + 1 : size);
	n = strlen(o.gateways);
	o.admins = o.gateways + (o.gateways + n < buf + size ? n + 1 : n);
	if (mds_gate_new(&g, &o, &st) == 0)
		mds_gate_free(g);
	free(buf);
	return 0;
}
