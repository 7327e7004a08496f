/*
 * rpc_quota.h - the method table of the mds.v1.Quota service
 * (rpc_quota.c), registered by server.c next to Namespace and Admin.
 */
#ifndef MDS_RPC_QUOTA_H
#define MDS_RPC_QUOTA_H

#include "rpc.h"

extern const struct mds_rpc_method mds_rpc_quota_methods[];
extern const size_t mds_rpc_quota_count;

#endif /* MDS_RPC_QUOTA_H */
