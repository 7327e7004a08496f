/* test_rpc_encode.c - the direct ObjectRecord encoder must produce bytes
 * that protobuf-c decodes to exactly the record protobuf-c itself would
 * send (real records from a temporary store: metadata, tags, locator,
 * every blob type, defaults omitted); and the transcoder from stored
 * record bytes (mds_encode_object_rec) must produce exactly what decoding
 * and encoding the same bytes produces, for every record, well-formed or
 * not (built records, hand-made odd shapes, random mutations). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mds/namespace.h"
#include "mds/store.h"
#include "namespace.pb-c.h"
#include "record.h"
#include "rpc_convert.h"
#include "rpc_encode.h"

static char dir[] = "/tmp/mds-encode-XXXXXX";

static void put(struct mds_store *s, const char *name, uint64_t size, int blob,
		const struct mds_pair *meta, size_t n_meta, const struct mds_pair *tags,
		size_t n_tags, const char *etag, const char *loc)
{
	struct mds_op op;

	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = MDS_STR("enc");
	op.name = (struct mds_str){ name, strlen(name) };
	op.obj.size = size;
	op.obj.blob_type = (uint8_t)blob;
	op.obj.etag = (struct mds_str){ etag, strlen(etag) };
	op.obj.content_type = MDS_STR("text/plain");
	op.obj.locator = (struct mds_str){ loc, strlen(loc) };
	op.obj.meta = meta;
	op.obj.n_meta = n_meta;
	op.obj.tags = tags;
	op.obj.n_tags = n_tags;
	assert_int_equal(mds_store_exec(s, &op), 0);
}

static void check_same(struct mds_reader *r, const char *name)
{
	struct mds_object o;
	struct mds_status st;
	struct mds_wbuf b = { 0 };
	struct mds_arena a = { 0 };
	Mds__V1__ObjectRecord ref;
	Mds__V1__ListObjectsStreamResponse want = MDS__V1__LIST_OBJECTS_STREAM_RESPONSE__INIT;
	Mds__V1__ObjectRecord *refp = &ref;
	uint8_t *ref_bytes;
	size_t ref_len;

	assert_int_equal(mds_object_head(r, MDS_STR("enc"), (struct mds_str){ name, strlen(name) },
					 &o, &st), 0);
	assert_int_equal(mds_encode_object_field(&b, 1, MDS_STR("enc"),
						 (struct mds_str){ name, strlen(name) }, &o), 0);
	assert_int_equal(mds_rpc_object_to_pb(&a, MDS_STR("enc"),
					      (struct mds_str){ name, strlen(name) }, &o, &ref), 0);
	want.objects = &refp;
	want.n_objects = 1;
	ref_len = protobuf_c_message_get_packed_size(&want.base);
	ref_bytes = malloc(ref_len);
	protobuf_c_message_pack(&want.base, ref_bytes);
	/* same field order and canonical varints: byte-identical */
	assert_int_equal(b.len, ref_len);
	assert_memory_equal(b.p, ref_bytes, ref_len);
	free(ref_bytes);
	mds_arena_free(&a);
	mds_wbuf_release(&b);
}

static void test_same_bytes(void **state)
{
	struct mds_store *s;
	struct mds_reader *r;
	struct mds_status st;
	struct mds_op op;
	const struct mds_pair meta[] = { { MDS_STR("owner"), MDS_STR("alice") },
					 { MDS_STR("e"), MDS_STR("") } };
	const struct mds_pair tags[] = { { MDS_STR("tier"), MDS_STR("hot") } };
	char longname[1025];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(mds_store_open(&s, dir, NULL, &st), 0);
	mds_op_init(&op, MDS_OP_TEAM_CREATE);
	op.team = MDS_STR("t");
	assert_int_equal(mds_store_exec(s, &op), 0);
	mds_op_init(&op, MDS_OP_BUCKET_CREATE);
	op.team = MDS_STR("t");
	op.bucket = MDS_STR("enc");
	assert_int_equal(mds_store_exec(s, &op), 0);
	memset(longname, 'x', 1024);
	longname[1024] = 0;
	put(s, "plain", 0, MDS_BLOB_BLOCK, NULL, 0, NULL, 0, "", "");
	put(s, "full", 1ull << 40, MDS_BLOB_APPEND, meta, 2, tags, 1, "\"etag\"", "loc\x01");
	put(s, "page \xe2\x98\x83", 300, MDS_BLOB_PAGE, meta, 1, NULL, 0, "e", "l");
	put(s, longname, 7, MDS_BLOB_BLOCK, NULL, 0, tags, 1, "x", "");
	/* Blob, copy and lock state (fields 13-24). */
	mds_op_init(&op, MDS_OP_APPEND_CREATE);
	op.bucket = MDS_STR("enc");
	op.name = MDS_STR("appended");
	op.obj.blob_type = MDS_BLOB_APPEND;
	assert_int_equal(mds_store_exec(s, &op), 0);
	for (int i = 0; i < 3; i++) {
		mds_op_init(&op, MDS_OP_APPEND_BLOCK);
		op.bucket = MDS_STR("enc");
		op.name = MDS_STR("appended");
		op.blob.size = 100;
		op.blob.locator = MDS_STR("blk");
		assert_int_equal(mds_store_exec(s, &op), 0);
	}
	mds_op_init(&op, MDS_OP_SEAL_BLOB);
	op.bucket = MDS_STR("enc");
	op.name = MDS_STR("appended");
	assert_int_equal(mds_store_exec(s, &op), 0);
	mds_op_init(&op, MDS_OP_PUT_BLOB_FROM_URL);
	op.bucket = MDS_STR("enc");
	op.name = MDS_STR("copied");
	op.blob.source_url = MDS_STR("https://elsewhere.example/c/b");
	op.blob.size = 4096;
	assert_int_equal(mds_store_exec(s, &op), 0);
	mds_op_init(&op, MDS_OP_OBJECT_PUT);
	op.bucket = MDS_STR("enc");
	op.name = MDS_STR("locked");
	op.obj.size = 9;
	op.obj.retention_mode = 2;
	op.obj.retain_until_ns = 4102444800ull * 1000000000ull;
	op.obj.legal_hold = 1;
	assert_int_equal(mds_store_exec(s, &op), 0);
	assert_int_equal(mds_reader_open(s, &r), 0);
	assert_int_equal(mds_reader_begin(r), 0);
	check_same(r, "appended");
	check_same(r, "copied");
	check_same(r, "locked");
	check_same(r, "plain");
	check_same(r, "full");
	check_same(r, "page \xe2\x98\x83");
	check_same(r, longname);
	mds_reader_end(r);
	mds_reader_close(r);
	mds_store_close(s);
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- the transcoder against decode + encode ---------------------------- */

#define PRE_LEN 3

/*
 * mds_encode_object_rec on @rec must agree with mds_object_decode +
 * mds_encode_object_field: the same code, and on success the same bytes
 * appended after what the buffer held; on failure nothing appended. With
 * @pb, the bytes must also equal protobuf-c's packing (only for strings
 * without NUL bytes: the protobuf-c conversion makes C strings). Returns
 * the code.
 */
static int check_rec_pb(const uint8_t *rec, size_t n, struct mds_str name, int pb)
{
	static const uint8_t pre[PRE_LEN] = { 0xa5, 0x5a, 0x01 };
	struct mds_wbuf old = { 0 }, neu = { 0 };
	struct mds_object o;
	int rc_old, rc_new;

	/* something already in the buffer, as in a chunk */
	assert_int_equal(mds_wbuf_reserve(&neu, PRE_LEN), 0);
	memcpy(neu.p, pre, PRE_LEN);
	neu.len = PRE_LEN;
	rc_old = mds_object_decode(rec, n, &o);
	if (rc_old == 0)
		rc_old = mds_encode_object_field(&old, 1, MDS_STR("bkt"), name, &o);
	rc_new = mds_encode_object_rec(&neu, 1, MDS_STR("bkt"), name,
				       (struct mds_str){ (const char *)rec, n });
	assert_int_equal(rc_new, rc_old);
	assert_memory_equal(neu.p, pre, PRE_LEN);
	if (rc_old == 0)
		assert_int_equal(neu.len - PRE_LEN, old.len);
	if (rc_old == 0 && pb) {
		struct mds_arena a = { 0 };
		Mds__V1__ObjectRecord ref;
		Mds__V1__ObjectRecord *refp = &ref;
		Mds__V1__ListObjectsStreamResponse want =
			MDS__V1__LIST_OBJECTS_STREAM_RESPONSE__INIT;
		uint8_t *ref_bytes;
		size_t ref_len;

		assert_int_equal(mds_rpc_object_to_pb(&a, MDS_STR("bkt"), name, &o, &ref), 0);
		want.objects = &refp;
		want.n_objects = 1;
		ref_len = protobuf_c_message_get_packed_size(&want.base);
		ref_bytes = malloc(ref_len);
		assert_non_null(ref_bytes);
		protobuf_c_message_pack(&want.base, ref_bytes);
		assert_int_equal(ref_len, old.len);
		assert_memory_equal(ref_bytes, old.p, ref_len);
		free(ref_bytes);
		mds_arena_free(&a);
	}
	if (rc_old == 0)
		assert_memory_equal(neu.p + PRE_LEN, old.p, old.len);
	else
		assert_int_equal(neu.len, PRE_LEN);
	mds_wbuf_release(&old);
	mds_wbuf_release(&neu);
	return rc_new;
}

static int check_rec(const uint8_t *rec, size_t n, struct mds_str name)
{
	return check_rec_pb(rec, n, name, 1);
}

static size_t build(uint8_t *buf, const struct mds_object_in *in, uint64_t version,
		    uint64_t ctime, uint64_t mtime)
{
	assert_true(mds_object_encoded_size(in) <= 8192);
	return mds_object_encode(buf, 8192, in, version, ctime, mtime);
}

/* Every varint width, in each of the header's integers. */
static const uint64_t widths[] = {
	0, 1, 127, 128, 16383, 16384, (1ull << 21) - 1, 1ull << 21, (1ull << 28) - 1,
	1ull << 28, (1ull << 35) - 1, 1ull << 35, (1ull << 42) - 1, 1ull << 42,
	(1ull << 49) - 1, 1ull << 49, (1ull << 56) - 1, 1ull << 56, 1763000000123456789ull,
	(1ull << 63) - 1, 1ull << 63, UINT64_MAX,
};

static void test_transcode_built(void **state)
{
	static uint8_t buf[8192];
	static char big[2048];
	const struct mds_pair meta[] = { { MDS_STR("owner"), MDS_STR("alice") },
					 { MDS_STR("e"), MDS_STR("") } };
	const struct mds_pair tags[] = { { MDS_STR("tier"), MDS_STR("hot") },
					 { MDS_STR("k"), MDS_STR("v") } };
	const size_t lens[] = { 0, 1, 34, 127, 128, 129, 255, 256 };
	size_t nl = sizeof(lens) / sizeof(lens[0]);
	struct mds_object_in in;
	size_t n;

	(void)state;
	memset(big, 'q', sizeof(big));
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		memset(&in, 0, sizeof(in));
		in.size = widths[i];
		in.etag = MDS_STR("\"e\"");
		n = build(buf, &in, widths[i], widths[i], widths[(i + 5) % 22]);
		assert_int_equal(check_rec(buf, n, MDS_STR("w")), 0);
	}
	/* etag, content type, locator: each absent or of a length around
	 * the one- / two-byte varint boundary; blob types; metadata, tags
	 * and retention (the slow path) on some */
	for (size_t e = 0; e < nl; e++)
		for (size_t c = 0; c < nl; c++)
			for (size_t l = 0; l < nl + 2; l++) {
				memset(&in, 0, sizeof(in));
				in.size = 1 << 20;
				in.blob_type = (uint8_t)((e + c + l) % 3);
				in.etag = (struct mds_str){ big, lens[e] < 128 ? lens[e] : 128 };
				in.content_type = (struct mds_str){ big, lens[c] };
				in.locator = (struct mds_str){
					big, l < nl ? lens[l] : l == nl ? 1000 : MDS_LOCATOR_MAX
				};
				if (l % 3 == 1) {
					in.meta = meta;
					in.n_meta = 2;
				}
				if (c % 4 == 2) {
					in.tags = tags;
					in.n_tags = 2;
				}
				if (e % 5 == 3) {
					in.retention_mode = 1;
					in.retain_until_ns = 1ull << 61;
					in.legal_hold = 1;
				}
				n = build(buf, &in, 3, 1763000000000000000ull, 1763000000000000001ull);
				assert_int_equal(check_rec(buf, n, (struct mds_str){ big, 1 + e * c }), 0);
			}
	/* blob map and copy TLVs after the plain ones */
	{
		struct mds_object ext;

		memset(&in, 0, sizeof(in));
		in.etag = MDS_STR("x");
		n = build(buf, &in, 1, 2, 3);
		memset(&ext, 0, sizeof(ext));
		ext.map_id = 77;
		ext.map_blocks = 3;
		ext.map_kind = MDS_MAP_APPEND;
		ext.sealed = 1;
		n += mds_object_ext_encode(buf + n, &ext);
		assert_int_equal(check_rec(buf, n, MDS_STR("m")), 0);
		ext.copy_status = MDS_COPY_PENDING;
		ext.copy_id = MDS_STR("0123456789abcdef0123456789abcdef");
		ext.copy_source = MDS_STR("https://x/y");
		ext.copy_total = 99;
		n = build(buf, &in, 1, 2, 3);
		n += mds_object_ext_encode(buf + n, &ext);
		assert_int_equal(check_rec(buf, n, MDS_STR("c")), 0);
	}
}

/* Odd shapes that decode (or not) and must take the slow path. */
static void test_transcode_odd(void **state)
{
	uint8_t hdr[MDS_OBJECT_HDR_SIZE] = { MDS_RECORD_V1, 1 };
	uint8_t buf[512];
	struct {
		const char *what;
		const char *tlv;
		size_t len;
		int rc;
	} cases[] = {
		{ "header only", "", 0, 0 },
		{ "tags out of order", "\x02\x01" "a\x01\x01" "b", 6, 0 },
		{ "duplicate tag", "\x01\x01" "a\x01\x01" "b", 6, 0 },
		{ "empty etag", "\x01\x00\x02\x01" "b", 5, 0 },
		{ "unknown tag", "\x01\x01" "a\x09\x02" "zz", 7, 0 },
		{ "tag 0", "\x00\x01" "a", 3, 0 },
		{ "non-canonical length", "\x01\x81\x00" "a", 4, 0 },
		{ "three-byte length", "\x01\x81\x80\x00" "a", 5, 0 },
		{ "length past the end", "\x01\x05" "ab", 4, MDS_ECORRUPT },
		{ "length byte missing", "\x01", 1, MDS_ECORRUPT },
		{ "two-byte length past the end", "\x03\x80\x01" "ab", 5, MDS_ECORRUPT },
		{ "bad retention", "\x08\x02\x01\x00", 4, MDS_ECORRUPT },
		{ "bad meta count", "\x04\x01\x05", 3, MDS_ECORRUPT },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(buf, hdr, sizeof(hdr));
		memcpy(buf + sizeof(hdr), cases[i].tlv, cases[i].len);
		print_message("%s\n", cases[i].what);
		assert_int_equal(check_rec(buf, sizeof(hdr) + cases[i].len, MDS_STR("o")),
				 cases[i].rc);
	}
	/* short or of another version */
	assert_int_equal(check_rec(hdr, MDS_OBJECT_HDR_SIZE - 1, MDS_STR("o")), MDS_ECORRUPT);
	hdr[0] = 2;
	assert_int_equal(check_rec(hdr, MDS_OBJECT_HDR_SIZE, MDS_STR("o")), MDS_ECORRUPT);
	assert_int_equal(check_rec(hdr, 0, MDS_STR("o")), MDS_ECORRUPT);
}

/* Random mutations (a fixed seed) of built records: both paths agree. */
static void test_transcode_mutations(void **state)
{
	static uint8_t base[4096], buf[4096];
	const struct mds_pair meta[] = { { MDS_STR("a"), MDS_STR("b") } };
	struct mds_object_in in;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t n;
	int ok = 0;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.size = 12345;
	in.etag = MDS_STR("\"0123456789abcdef\"");
	in.content_type = MDS_STR("application/octet-stream");
	in.locator = MDS_STR("loc:1");
	for (int round = 0; round < 20000; round++) {
		if (round == 10000) {
			in.meta = meta;
			in.n_meta = 1;
		}
		n = build(base, &in, 2, 1763000000000000000ull, 1763000000000000009ull);
		memcpy(buf, base, n);
		for (int k = 0; k < 1 + round % 3; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* mostly the TLV area, where the shapes differ */
			buf[MDS_OBJECT_HDR_SIZE - 4 + (x >> 8) % (n - MDS_OBJECT_HDR_SIZE + 4)] =
				(uint8_t)(round % 5 ? x : x % 12);
		}
		if (round % 7 == 0)
			n -= (x >> 20) % 8;
		ok += check_rec_pb(buf, n, MDS_STR("mut"), 0) == 0;
	}
	/* the loop must have exercised both outcomes */
	assert_true(ok > 1000 && ok < 19000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes),
		cmocka_unit_test(test_transcode_built),
		cmocka_unit_test(test_transcode_odd),
		cmocka_unit_test(test_transcode_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
