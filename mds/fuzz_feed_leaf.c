/*
 * fuzz_feed_leaf.c - fuzz target for the feed leaf decoder
 * (mds_feed_leaf_decode), which subscribers run on another island's
 * entries, and for the object record decoder on the state a leaf carries.
 * Input: one leaf's bytes.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "feed_log.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void in_bounds(const uint8_t *data, size_t size, struct mds_str s)
{
	if (s.len)
		assert((const uint8_t *)s.p >= data && (const uint8_t *)s.p + s.len <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mds_feed_leaf lf;
	struct mds_status st;
	struct mds_object o;

	if (mds_feed_leaf_decode(data, size, &lf, &st) != 0)
		return 0;
	in_bounds(data, size, lf.origin);
	in_bounds(data, size, lf.team);
	in_bounds(data, size, lf.bucket);
	in_bounds(data, size, lf.name);
	in_bounds(data, size, lf.scope);
	in_bounds(data, size, lf.principal);
	in_bounds(data, size, lf.reservation);
	in_bounds(data, size, lf.extra);
	in_bounds(data, size, lf.record);
	assert(lf.state <= MDS_FEED_NO_STATE);
	if (lf.state == MDS_FEED_RECORD && lf.kind == MDS_OP_OBJECT_PUT)
		(void)mds_object_decode(lf.record.p, lf.record.len, &o);
	return 0;
}
