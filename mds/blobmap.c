/*
 * blobmap.c - block maps: the ordered blocks of an append blob, of a block
 * blob's committed block list, or of a completed multipart upload.
 *
 * Layout (database blob_maps, see docs/storage-format.md):
 *   key map id(8 BE)             -> owner: bucket id(8 LE) || object name
 *   key map id(8 BE) index(4 BE) -> block: offset(8 LE) size(8 LE)
 *                                   idlen(1) id locator
 * The owner entry sorts before the blocks, so one range walk frees a map.
 * What must stay true: a map is named by exactly one live object record
 * (tag 6, map_id), blocks 0..n-1 exist for its n = map_blocks, and their
 * offsets are contiguous from 0 and add up to the record's size.
 */
#include <string.h>

#include "blobs.h"
#include "record.h"
#include "util.h"

#define MAP_KEY_LEN 12

static struct mds_str map_key(uint8_t buf[MAP_KEY_LEN], uint64_t id, int with_index,
			      uint32_t index)
{
	mds_be64_put(buf, id);
	if (!with_index)
		return (struct mds_str){ (char *)buf, 8 };
	buf[8] = (uint8_t)(index >> 24);
	buf[9] = (uint8_t)(index >> 16);
	buf[10] = (uint8_t)(index >> 8);
	buf[11] = (uint8_t)index;
	return (struct mds_str){ (char *)buf, MAP_KEY_LEN };
}

int mds_map_create(struct mds_txn *t, const struct mds_bucket *b, struct mds_str name,
		   uint64_t *id)
{
	static __thread uint8_t val[8 + MDS_OBJECT_NAME_MAX];
	uint8_t key[MAP_KEY_LEN];
	int rc = mds_blob_next_id(t, id);

	if (rc)
		return rc;
	if (name.len > MDS_OBJECT_NAME_MAX)
		return MDS_EINVAL;
	mds_le64_put(val, b->id);
	memcpy(val + 8, name.p, name.len);
	return mds_kv_put(t, MDS_DB_BLOB_MAPS, map_key(key, *id, 0, 0),
			  (struct mds_str){ (char *)val, 8 + name.len });
}

int mds_map_put(struct mds_txn *t, uint64_t id, uint32_t index, const struct mds_map_entry *e)
{
	static __thread uint8_t val[17 + 255 + MDS_LOCATOR_MAX];
	uint8_t key[MAP_KEY_LEN];
	size_t o = 0;

	if (e->id.len > 255 || e->locator.len > MDS_LOCATOR_MAX)
		return MDS_EINVAL;
	mds_le64_put(val, e->offset);
	mds_le64_put(val + 8, e->size);
	val[16] = (uint8_t)e->id.len;
	o = 17;
	if (e->id.len)
		memcpy(val + o, e->id.p, e->id.len);
	o += e->id.len;
	if (e->locator.len)
		memcpy(val + o, e->locator.p, e->locator.len);
	o += e->locator.len;
	return mds_kv_put(t, MDS_DB_BLOB_MAPS, map_key(key, id, 1, index),
			  (struct mds_str){ (char *)val, o });
}

int mds_map_entry_decode(struct mds_str v, struct mds_map_entry *e)
{
	const uint8_t *p = (const uint8_t *)v.p;

	if (v.len < 17 || v.len < 17u + p[16])
		return MDS_ECORRUPT;
	e->offset = mds_le64_get(p);
	e->size = mds_le64_get(p + 8);
	e->id = (struct mds_str){ v.p + 17, p[16] };
	e->locator = (struct mds_str){ v.p + 17 + p[16], v.len - 17 - p[16] };
	return 0;
}

int mds_map_get(struct mds_txn *t, uint64_t id, uint32_t index, struct mds_map_entry *e)
{
	uint8_t key[MAP_KEY_LEN];
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_BLOB_MAPS, map_key(key, id, 1, index), &v);

	if (rc)
		return rc;
	return mds_map_entry_decode(v, e);
}

int mds_map_free(struct mds_txn *t, uint64_t id)
{
	uint8_t key[MAP_KEY_LEN], kcopy[MAP_KEY_LEN];
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	int rc;

	/* Seek again after every delete: a cursor is not kept across writes. */
	for (;;) {
		rc = mds_kv_cursor_open(t, MDS_DB_BLOB_MAPS, &c);
		if (rc)
			return rc;
		rc = mds_kv_seek(c, map_key(key, id, 0, 0), &k, &v);
		if (rc == 0 && (k.len < 8 || memcmp(k.p, key, 8) != 0))
			rc = MDS_ENOTFOUND;
		if (rc == 0) {
			if (k.len > MAP_KEY_LEN)
				rc = MDS_ECORRUPT;
			else
				memcpy(kcopy, k.p, k.len);
		}
		mds_kv_cursor_close(c);
		if (rc == MDS_ENOTFOUND)
			return 0;
		if (rc)
			return rc;
		rc = mds_kv_del(t, MDS_DB_BLOB_MAPS, (struct mds_str){ (char *)kcopy, k.len });
		if (rc)
			return rc;
	}
}
