/*
 * record.h - the byte encodings of stored records (object, bucket, team,
 * usage). docs/storage-format.md holds the same layouts as tables; change
 * both together.
 */
#ifndef MDS_RECORD_H
#define MDS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mds/namespace.h"

#define MDS_RECORD_V1 1

/* Object record: TLV tags after the fixed header. */
enum {
	MDS_TAG_ETAG = 1,
	MDS_TAG_CONTENT_TYPE = 2,
	MDS_TAG_LOCATOR = 3,
	MDS_TAG_META = 4,
	MDS_TAG_TAGS = 5,
	MDS_TAG_BLOCKMAP = 6,   /* append / block-list / multipart block map state */
	MDS_TAG_COPY = 7,       /* asynchronous copy state */
	MDS_TAG_RETENTION = 8,  /* object lock: u8 mode, u8 flags (bit 0 legal hold), u64 LE retain-until */
};

#define MDS_RETENTION_TLV_LEN 10

#define MDS_OBJECT_HDR_SIZE 34

/* Checks sizes, counts, UTF-8 and duplicate keys of @in; MDS_EINVAL naming the field. */
int mds_object_in_validate(const struct mds_object_in *in, struct mds_status *st);

/* Bytes mds_object_encode() will write for @in. */
size_t mds_object_encoded_size(const struct mds_object_in *in);

/*
 * mds_object_encode - write the record into @buf (@cap bytes, at least
 * mds_object_encoded_size). Returns the bytes written.
 */
size_t mds_object_encode(uint8_t *buf, size_t cap, const struct mds_object_in *in,
			 uint64_t version, uint64_t ctime_ns, uint64_t mtime_ns);

/*
 * mds_object_decode - parse a record; @out's strings point into @p (borrowed,
 * valid as long as @p). Unknown TLV tags are skipped. MDS_ECORRUPT on any
 * inconsistency.
 */
int mds_object_decode(const void *p, size_t n, struct mds_object *out);

/*
 * mds_object_ext_encode - append the blob TLVs (tags 6 and 7) for the
 * map_* / sealed / max_block_size and copy_* fields of @o to @buf (NULL:
 * only measure). Returns the bytes written. Fields that are all zero are
 * not written, so plain objects keep their old encoding.
 */
size_t mds_object_ext_encode(uint8_t *buf, const struct mds_object *o);

/* Bucket: version(1) id(8 LE) ctime(8 LE) team_len(1) team. */
size_t mds_bucket_encode(uint8_t *buf, size_t cap, uint64_t id, uint64_t ctime_ns,
			 struct mds_str team);
int mds_bucket_decode(const void *p, size_t n, struct mds_bucket *out);

/* Team: version(1) ctime(8 LE). */
size_t mds_team_encode(uint8_t *buf, size_t cap, uint64_t ctime_ns);
int mds_team_decode(const void *p, size_t n, struct mds_team *out);

/* Usage counters: bytes(8 LE) objects(8 LE) buckets(8 LE). */
struct mds_usage {
	uint64_t bytes;
	uint64_t objects;
	uint64_t buckets;
};
#define MDS_USAGE_SIZE 24
void mds_usage_encode(uint8_t buf[MDS_USAGE_SIZE], const struct mds_usage *u);
int mds_usage_decode(const void *p, size_t n, struct mds_usage *u);

/* Little-endian helpers. */
static inline void mds_le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t mds_le64_get(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8); /* one load; GCC does not fold the byte loop */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* LEB128 varints. put returns bytes written (<= 10); get returns bytes read or 0 on error. */
size_t mds_varint_put(uint8_t *p, uint64_t v);
size_t mds_varint_get(const uint8_t *p, size_t n, uint64_t *v);
size_t mds_varint_len(uint64_t v);

#endif /* MDS_RECORD_H */
