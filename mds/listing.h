/*
 * listing.h - the streaming inventory walk with the stored record bytes,
 * for the RPC layer's transcoder (rpc_encode.c) on the ListObjectsStream
 * hot path.
 *
 * mds_list_stream() (include/mds/namespace.h) decodes every record into a
 * struct mds_object before its callback sees it; a caller that only turns
 * records into wire bytes can skip that step and read each record's bytes
 * once. The bytes are in the layout of docs/storage-format.md ("object
 * record"); only code that already knows that layout (record.h) should
 * take them.
 */
#ifndef MDS_LISTING_H
#define MDS_LISTING_H

#include <stddef.h>

#include "mds/namespace.h"
#include "mds/store.h"

/*
 * Called once per object, in name order. @name and @rec are borrowed: they
 * point into the walk's buffer and the reader's snapshot, valid until the
 * callback returns. A non-zero return stops the walk, which then returns
 * that value.
 */
typedef int (*mds_list_raw_fn)(void *arg, struct mds_str name, struct mds_str rec);

/*
 * mds_list_stream_raw - mds_list_stream() with the stored record bytes
 * instead of the decoded record: the same names, the same order, the same
 * arguments and checks (@prefix, @start_after, @limit; messages in @st),
 * the same return: the number emitted (>= 0) or a negative code. Records
 * are not checked here; the callback decides (mds_object_decode() accepts
 * exactly what mds_list_stream() would).
 */
long mds_list_stream_raw(struct mds_reader *r, struct mds_str bucket, struct mds_str prefix,
			 struct mds_str start_after, size_t limit, mds_list_raw_fn emit,
			 void *arg, struct mds_status *st);

#endif /* MDS_LISTING_H */
