/*
 * rpc_bytes.h - a protobuf-c message to and from a gRPC byte buffer: the
 * two conversions every C-core client here needs (mds/rpc_client.c,
 * mds/federation.c, gateway-plugin/gw_rpc.c, tests/bench/rpc_bench.c).
 * Header-only, so they share them without linking each other.
 */
#ifndef MDS_RPC_BYTES_H
#define MDS_RPC_BYTES_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <protobuf-c/protobuf-c.h>

/* @m (borrowed) packed into a new byte buffer (owned by the caller). */
static inline grpc_byte_buffer *mds_rpc_pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

/* @bb (borrowed) unpacked as a @d message (owned by the caller, free with
 * protobuf_c_message_free_unpacked); NULL if the bytes are not one. */
static inline ProtobufCMessage *mds_rpc_unpack(const ProtobufCMessageDescriptor *d,
					       grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader rd;
	grpc_slice s;
	ProtobufCMessage *m;

	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	m = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}

#endif /* MDS_RPC_BYTES_H */
