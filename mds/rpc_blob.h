/*
 * rpc_blob.h - the method table of the mds.v1.Blob service (rpc_blob.c:
 * append blobs, copies, multipart uploads, block lists), registered by
 * server.c next to Namespace, Admin and Quota, and the names of the
 * failure reasons it sends as trailing metadata "mds-reason".
 */
#ifndef MDS_RPC_BLOB_H
#define MDS_RPC_BLOB_H

#include <stdint.h>

#include "rpc.h"

extern const struct mds_rpc_method mds_rpc_blob_methods[];
extern const size_t mds_rpc_blob_count;

/*
 * mds_rpc_blob_reason - the mds.v1.BlobErrorReason name for core reason
 * @reason (enum mds_blob_reason), e.g. "APPEND_POSITION_CONDITION_NOT_MET";
 * a static string, or NULL for MDS_REASON_NONE and unknown values.
 */
const char *mds_rpc_blob_reason(uint8_t reason);

#endif /* MDS_RPC_BLOB_H */
