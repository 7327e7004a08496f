/*
 * fuzz_gw_config.c - fuzz target for the config string parser
 * (gw_config.c), the one decoder in libmdsgw of text that comes from
 * outside (the gateway's configuration): any bytes must parse or be
 * refused with MDSGW_ECONFIG, never crash, overrun or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mdsgw_status st;
	struct gw_conf c;
	char *s = malloc(size + 1);
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = gw_conf_parse(s, &c, &st);
	if (rc == 0) {
		/* what parsed is well formed */
		if (!c.target || !c.target[0] || !c.timeout_ms || (c.cert != NULL) != (c.key != NULL))
			abort();
		gw_conf_release(&c);
	} else if (rc != MDSGW_ECONFIG && rc != MDSGW_ENOMEM) {
		abort();
	}
	free(s);
	return 0;
}
