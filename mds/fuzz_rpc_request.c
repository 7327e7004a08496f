/*
 * fuzz_rpc_request.c - libFuzzer target for the server's request decoder
 * (mds_rpc_decode): the first byte picks a method of the Namespace or
 * Admin service, the rest is the request as it came off the wire. It must
 * never crash, leak or read out of bounds; a decoded request must re-encode.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = mds_rpc_namespace_count + mds_rpc_admin_count;
	const struct mds_rpc_method *m;
	ProtobufCMessage *req = NULL;
	char msg[256];

	if (size < 1)
		return 0;
	m = data[0] % n < mds_rpc_namespace_count
		? &mds_rpc_namespace_methods[data[0] % n]
		: &mds_rpc_admin_methods[data[0] % n - mds_rpc_namespace_count];
	if (mds_rpc_decode(m->request, data + 1, size - 1, &req, msg, sizeof(msg)) == 0) {
		size_t len = protobuf_c_message_get_packed_size(req);
		uint8_t *buf = malloc(len ? len : 1);

		if (buf)
			protobuf_c_message_pack(req, buf);
		free(buf);
		protobuf_c_message_free_unpacked(req, NULL);
	}
	return 0;
}
