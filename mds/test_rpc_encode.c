/* test_rpc_encode.c - the direct ObjectRecord encoder must produce bytes
 * that protobuf-c decodes to exactly the record protobuf-c itself would
 * send (real records from a temporary store: metadata, tags, locator,
 * every blob type, defaults omitted). */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
