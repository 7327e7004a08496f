#include "blobs.h"
int mds_blocklist_apply(struct mds_txn *t, struct mds_op *op) { (void)t; return mds_status_set(&op->status, MDS_EINVAL, "todo"); }
