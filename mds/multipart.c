#include "blobs.h"
int mds_multipart_apply(struct mds_txn *t, struct mds_op *op) { (void)t; return mds_status_set(&op->status, MDS_EINVAL, "todo"); }
long mds_multipart_check(struct mds_txn *t, mds_check_report_fn report, void *arg, uint64_t *tree_entries) { (void)t; (void)report; (void)arg; *tree_entries = 0; return 0; }
