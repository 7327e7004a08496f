/*
 * test_blobutil.h - helpers shared by the blob and S3 parity tests
 * (test_append.c, test_copy.c, test_multipart.c, test_blocklist.c): a
 * fixture with one team and bucket, and reads that copy what they need out
 * of a snapshot. Test-only.
 */
#ifndef MDS_TEST_BLOBUTIL_H
#define MDS_TEST_BLOBUTIL_H

#include "testutil.h"

struct bfx {
	char dir[256];
	struct mds_store *s;
};

static inline int bfx_setup(void **state)
{
	struct bfx *f = calloc(1, sizeof(*f));
	struct mds_status st;

	tu_tmpdir(f->dir);
	if (mds_store_open(&f->s, f->dir, NULL, &st) || tu_team(f->s, "t") ||
	    tu_bucket(f->s, "data", "t") || tu_bucket(f->s, "other", "t"))
		abort();
	*state = f;
	return 0;
}

static inline int bfx_teardown(void **state)
{
	struct bfx *f = *state;

	if (tu_check(f->s) != 0) {
		fprintf(stderr, "mds check found problems at teardown\n");
		abort();
	}
	mds_store_close(f->s);
	tu_rmrf(f->dir);
	free(f);
	return 0;
}

/* What a head returns, copied out of the snapshot. */
struct bhead {
	int rc;
	uint64_t size, version, map_id, copy_progress, copy_total;
	uint32_t blocks;
	uint8_t blob_type, sealed, map_kind, copy_status;
	char etag[MDS_ETAG_MAX + 1];
	char locator[MDS_LOCATOR_MAX + 1];
	char content_type[MDS_CONTENT_TYPE_MAX + 1];
	char copy_id[64], copy_failure[256];
	uint32_t n_meta;
};

static inline struct bhead bhead(struct mds_store *s, const char *bucket, const char *name)
{
	struct bhead h;
	struct mds_reader *r;
	struct mds_status st;
	struct mds_object o;

	memset(&h, 0, sizeof(h));
	if (mds_reader_open(s, &r) || mds_reader_begin(r))
		abort();
	h.rc = mds_object_head(r, tu_s(bucket), tu_s(name), &o, &st);
	if (h.rc == 0) {
		h.size = o.size;
		h.version = o.version;
		h.map_id = o.map_id;
		h.blocks = o.map_blocks;
		h.blob_type = o.blob_type;
		h.sealed = o.sealed;
		h.map_kind = o.map_kind;
		h.copy_status = o.copy_status;
		h.copy_progress = o.copy_progress;
		h.copy_total = o.copy_total;
		h.n_meta = o.n_meta;
		snprintf(h.etag, sizeof(h.etag), "%.*s", (int)o.etag.len, o.etag.p);
		snprintf(h.locator, sizeof(h.locator), "%.*s", (int)o.locator.len, o.locator.p);
		snprintf(h.content_type, sizeof(h.content_type), "%.*s", (int)o.content_type.len,
			 o.content_type.p);
		snprintf(h.copy_id, sizeof(h.copy_id), "%.*s", (int)o.copy_id.len, o.copy_id.p);
		snprintf(h.copy_failure, sizeof(h.copy_failure), "%.*s", (int)o.copy_failure.len,
			 o.copy_failure.p);
	}
	mds_reader_close(r);
	return h;
}

/* Usage counters of bucket @bucket. */
static inline void busage(struct mds_store *s, const char *bucket, uint64_t *bytes,
			  uint64_t *objects)
{
	struct mds_reader *r;
	struct mds_status st;
	struct mds_bucket b;

	if (mds_reader_open(s, &r) || mds_reader_begin(r) ||
	    mds_bucket_get(r, tu_s(bucket), &b, &st))
		abort();
	*bytes = b.bytes;
	*objects = b.objects;
	mds_reader_close(r);
}

#endif /* MDS_TEST_BLOBUTIL_H */
