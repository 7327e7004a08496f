/*
 * fuzz_rpc_request.c - libFuzzer target for the server's request decoder
 * (mds_rpc_decode): the first byte picks a method of any registered
 * service, the rest is the request as it came off the wire. It must
 * never crash, leak or read out of bounds; a decoded request must re-encode.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rpc.h"
#include "rpc_blob.h"
#include "rpc_quota.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct {
		const struct mds_rpc_method *m;
		size_t n;
	} svc[] = {
		{ mds_rpc_namespace_methods, mds_rpc_namespace_count },
		{ mds_rpc_admin_methods, mds_rpc_admin_count },
		{ mds_rpc_quota_methods, mds_rpc_quota_count },
		{ mds_rpc_blob_methods, mds_rpc_blob_count },
		{ mds_rpc_policy_methods, mds_rpc_policy_count },
		{ mds_rpc_feed_methods, mds_rpc_feed_count },
		{ mds_rpc_global_methods, mds_rpc_global_count },
	};
	const struct mds_rpc_method *m = NULL;
	ProtobufCMessage *req = NULL;
	size_t total = 0, pick;
	char msg[256];

	if (size < 1)
		return 0;
	for (size_t i = 0; i < sizeof(svc) / sizeof(svc[0]); i++)
		total += svc[i].n;
	pick = data[0] % total;
	for (size_t i = 0; i < sizeof(svc) / sizeof(svc[0]); i++) {
		if (pick < svc[i].n) {
			m = &svc[i].m[pick];
			break;
		}
		pick -= svc[i].n;
	}
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
