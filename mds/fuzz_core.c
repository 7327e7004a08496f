/*
 * fuzz_core.c - fuzz target for the core's decoders of untrusted bytes:
 * object names (UTF-8 validation), stored object records, and listing
 * continuation tokens (decoded by mds_list against a small real store).
 *
 * Input: first byte selects the decoder, the rest is its input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mds_store *store;
static struct mds_reader *reader;

static int ignore(void *arg, const struct mds_list_entry *e)
{
	(void)arg;
	(void)e;
	return 0;
}

static void store_init(void)
{
	static char dir[256];
	struct mds_status st;
	static const char *const names[] = { "a/1", "a/2", "b", "c/d/e" };

	if (store)
		return;
	tu_tmpdir(dir);
	if (mds_store_open(&store, dir, NULL, &st) || mds_reader_open(store, &reader))
		abort();
	tu_team(store, "t");
	tu_bucket(store, "data", "t");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		tu_put(store, "data", tu_s(names[i]), 1, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mds_str in;
	struct mds_status st;

	if (size < 1)
		return 0;
	in = (struct mds_str){ (const char *)data + 1, size - 1 };
	switch (data[0] % 3) {
	case 0:
		mds_validate_object_name(in, &st);
		mds_validate_bucket_name(in, &st);
		mds_validate_team_name(in, &st);
		break;
	case 1: {
		struct mds_object o;

		if (mds_object_decode(in.p, in.len, &o) == 0) {
			struct mds_str cur = o.meta_raw;
			struct mds_pair p;

			while (mds_pairs_next(&cur, &p) == 1)
				;
			cur = o.tags_raw;
			while (mds_pairs_next(&cur, &p) == 1)
				;
		}
		break;
	}
	default: {
		struct mds_list_params p = { .style = MDS_LIST_S3, .bucket = MDS_STR("data"),
					     .delimiter = MDS_STR("/"), .token = in, .max_keys = 2 };
		struct mds_list_result res;

		store_init();
		if (mds_reader_begin(reader))
			abort();
		mds_list(reader, &p, ignore, NULL, &res, &st);
		mds_reader_end(reader);
		break;
	}
	}
	return 0;
}
