/*
 * fuzz_rpc_encode.c - libFuzzer target for the ListObjectsStream
 * transcoder (mds_encode_object_rec, rpc_encode.c), which parses stored
 * record bytes. The input is a record; the oracle is the path the
 * transcoder replaces: mds_object_decode then mds_encode_object_field.
 * Both must give the same code and, on success, the same bytes appended
 * after what the buffer held; on failure the buffer must be unchanged.
 * Any difference aborts. It must never crash or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "rpc_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pre[2] = { 0x0a, 0x00 };
	struct mds_wbuf old = { 0 }, neu = { 0 };
	struct mds_str name = MDS_STR("fuzz/name");
	struct mds_object o;
	int rc_old, rc_new;

	if (mds_wbuf_reserve(&neu, sizeof(pre)) != 0)
		abort();
	memcpy(neu.p, pre, sizeof(pre));
	neu.len = sizeof(pre);
	rc_old = mds_object_decode(data, size, &o);
	if (rc_old == 0)
		rc_old = mds_encode_object_field(&old, 1, MDS_STR("b"), name, &o);
	rc_new = mds_encode_object_rec(&neu, 1, MDS_STR("b"), name,
				       (struct mds_str){ (const char *)data, size });
	if (rc_new != rc_old || memcmp(neu.p, pre, sizeof(pre)) != 0)
		abort();
	if (rc_old == 0 && (neu.len - sizeof(pre) != old.len ||
			    memcmp(neu.p + sizeof(pre), old.p, old.len) != 0))
		abort();
	if (rc_old != 0 && neu.len != sizeof(pre))
		abort();
	mds_wbuf_release(&old);
	mds_wbuf_release(&neu);
	return 0;
}
