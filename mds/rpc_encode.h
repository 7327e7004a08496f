/*
 * rpc_encode.h - a direct protobuf encoder for the hot listing path.
 *
 * ListObjectsStream sends millions of records; building protobuf-c
 * messages for them (NUL-terminated copies, a size pass and a pack pass
 * through descriptors) cost about half of the server's CPU. This encoder
 * writes mds.v1.ObjectRecord wire bytes straight from the core's borrowed
 * (p, len) strings into one growing buffer. Its output must decode with any
 * protobuf library to the same record as protobuf-c's encoding of the same
 * values (test_rpc_encode.c checks this); proto3 defaults (0, "") are
 * omitted, as protobuf does. mds_encode_object_rec() goes one step
 * further for the stream: from the stored record's bytes, without
 * decoding them into a struct first.
 */
#ifndef MDS_RPC_ENCODE_H
#define MDS_RPC_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "mds/namespace.h"

/* A growing output buffer; zero-initialise, then append. */
struct mds_wbuf {
	uint8_t *p;     /* malloc'd, owned; hand it on with mds_wbuf_take */
	size_t len, cap;
	int failed;     /* an allocation failed: the contents are incomplete */
};

/*
 * mds_encode_object_field - append one ObjectRecord as field @field of the
 * enclosing message (e.g. 1 = ListObjectsStreamResponse.objects).
 * Returns 0, MDS_ENOMEM, or MDS_ECORRUPT (the record's pairs do not decode).
 */
int mds_encode_object_field(struct mds_wbuf *b, unsigned field, struct mds_str bucket,
			    struct mds_str name, const struct mds_object *o);

/*
 * mds_encode_object_rec - the same bytes as mds_encode_object_field() on
 * the record mds_object_decode() makes of @rec (stored object record
 * bytes, docs/storage-format.md; borrowed, read once), without the
 * decoded struct. The common shape (the header, then any of etag, content
 * type and locator in tag order, non-empty, with canonical one- or
 * two-byte lengths) is transcoded directly: those TLVs are ObjectRecord
 * fields 8-10 byte for byte but for the tag byte. Any other shape
 * (metadata, tags, blob or lock state, anything odd) is decoded and
 * encoded. Returns 0, MDS_ENOMEM, or MDS_ECORRUPT (@rec does not decode);
 * on an error nothing is appended (b->len is unchanged).
 */
int mds_encode_object_rec(struct mds_wbuf *b, unsigned field, struct mds_str bucket,
			  struct mds_str name, struct mds_str rec);

/*
 * mds_wbuf_reserve - make room for @n more bytes after b->len (the buffer
 * starts at 64 KiB and doubles). Returns 0 or MDS_ENOMEM (b->failed set).
 */
int mds_wbuf_reserve(struct mds_wbuf *b, size_t n);

/* mds_wbuf_release - free the buffer and reset it. */
void mds_wbuf_release(struct mds_wbuf *b);

#endif /* MDS_RPC_ENCODE_H */
