/*
 * test_record.c - object record encoding: round trip, limits, and that
 * every truncation or corruption of a stored record decodes to
 * MDS_ECORRUPT instead of crashing (run under ASan in CI).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "record.h"
#include "testutil.h"

static void test_round_trip(void **state)
{
	struct mds_pair meta[] = { { MDS_STR("a"), MDS_STR("1") }, { MDS_STR("bb"), MDS_STR("") } };
	struct mds_pair tags[] = { { MDS_STR("k"), MDS_STR("v\xc3\xa9") } };
	struct mds_object_in in = { .size = 1ull << 40, .blob_type = MDS_BLOB_APPEND,
				    .etag = MDS_STR("\"e\""), .content_type = MDS_STR("text/plain"),
				    .locator = MDS_STR("loc"), .meta = meta, .n_meta = 2,
				    .tags = tags, .n_tags = 1 };
	uint8_t buf[1024];
	struct mds_object o;
	struct mds_pair p;
	struct mds_str cur;
	size_t n;

	(void)state;
	assert_int_equal(mds_object_in_validate(&in, NULL), 0);
	n = mds_object_encode(buf, sizeof(buf), &in, 7, 100, 200);
	assert_int_equal(n, mds_object_encoded_size(&in));
	assert_int_equal(mds_object_decode(buf, n, &o), 0);
	assert_int_equal(o.size, 1ull << 40);
	assert_int_equal(o.version, 7);
	assert_int_equal(o.ctime_ns, 100);
	assert_int_equal(o.mtime_ns, 200);
	assert_int_equal(o.blob_type, MDS_BLOB_APPEND);
	assert_int_equal(o.etag.len, 3);
	assert_int_equal(o.n_meta, 2);
	assert_int_equal(o.n_tags, 1);
	cur = o.tags_raw;
	assert_int_equal(mds_pairs_next(&cur, &p), 1);
	assert_int_equal(p.value.len, 3);
	assert_int_equal(mds_pairs_next(&cur, &p), 0);

	/* Every truncation is refused cleanly (or, at a field boundary, decodes
	 * to fewer fields); every single-byte corruption never crashes. */
	for (size_t k = 0; k < n; k++) {
		int rc = mds_object_decode(buf, k, &o);

		assert_true(rc == 0 || rc == MDS_ECORRUPT);
		if (k < MDS_OBJECT_HDR_SIZE)
			assert_int_equal(rc, MDS_ECORRUPT);
	}
	for (size_t k = 0; k < n; k++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			buf[k] ^= (uint8_t)(1 << bit);
			rc = mds_object_decode(buf, n, &o);
			assert_true(rc == 0 || rc == MDS_ECORRUPT);
			if (rc == 0) {
				struct mds_str c = o.meta_raw;
				struct mds_pair pp;

				while (mds_pairs_next(&c, &pp) == 1)
					;
			}
			buf[k] ^= (uint8_t)(1 << bit);
		}
	}
}

static void test_unknown_tag_skipped(void **state)
{
	struct mds_object_in in = { .size = 5, .etag = MDS_STR("x") };
	uint8_t buf[256];
	struct mds_object o;
	size_t n;

	(void)state;
	n = mds_object_encode(buf, sizeof(buf), &in, 1, 1, 1);
	buf[n++] = 200; /* a tag from a future format */
	buf[n++] = 2;
	buf[n++] = 'h';
	buf[n++] = 'i';
	assert_int_equal(mds_object_decode(buf, n, &o), 0);
	assert_int_equal(o.etag.len, 1);
	buf[n - 3] = 9; /* length past the end */
	assert_int_equal(mds_object_decode(buf, n, &o), MDS_ECORRUPT);
}

static void test_limits(void **state)
{
	char big[3000];
	struct mds_pair meta[2] = { { MDS_STR("k"), { big, 2048 } }, { MDS_STR("k2"), MDS_STR("v") } };
	struct mds_pair dup[2] = { { MDS_STR("k"), MDS_STR("1") }, { MDS_STR("k"), MDS_STR("2") } };
	struct mds_pair badkey[1] = { { MDS_STR("a b"), MDS_STR("1") } };
	struct mds_object_in in = { 0 };
	struct mds_status st;

	(void)state;
	memset(big, 'v', sizeof(big));
	in.meta = meta;
	in.n_meta = 2;
	assert_int_equal(mds_object_in_validate(&in, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "metadata"));
	in.meta = dup;
	assert_int_equal(mds_object_in_validate(&in, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "twice"));
	in.meta = badkey;
	in.n_meta = 1;
	assert_int_equal(mds_object_in_validate(&in, &st), MDS_EINVAL);
	in.n_meta = 0;
	in.locator = (struct mds_str){ big, MDS_LOCATOR_MAX + 1 };
	assert_int_equal(mds_object_in_validate(&in, &st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "locator"));
	in.locator = MDS_STR_NULL;
	in.blob_type = 9;
	assert_int_equal(mds_object_in_validate(&in, &st), MDS_EINVAL);
}

static void test_varint(void **state)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, 300, 1ull << 35, UINT64_MAX };
	uint8_t buf[16];
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		size_t n = mds_varint_put(buf, vals[i]);

		assert_int_equal(n, mds_varint_len(vals[i]));
		assert_int_equal(mds_varint_get(buf, n, &v), n);
		assert_int_equal(v, vals[i]);
		assert_int_equal(mds_varint_get(buf, n - 1, &v), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_unknown_tag_skipped),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_varint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
