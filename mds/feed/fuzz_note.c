/*
 * fuzz_note.c - libFuzzer target for every decoder of untrusted feed input
 * in mds/feed: signed notes (against a fixed roster), checkpoint bodies,
 * verifier key strings and serialised compact ranges.
 *
 * Besides "no crash, no leak, no out-of-bounds read", it checks two
 * properties and aborts if they break: an accepted note's text length lies
 * inside the input, and a checkpoint that parses formats back to exactly
 * the same bytes (one spelling per value); likewise a compact range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"
#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The verifier key of the published Go sumdb/note example, and ours for
 * the seed checkpoints (same key, our origin as name). */
static const char *const roster_keys[] = {
	"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	"EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mds_note_verifier roster[2];
	static int have_roster;
	const char *in = (const char *)data;
	struct mds_checkpoint cp;
	struct mds_note_verifier v;
	struct mds_merkle_compact c;
	size_t text_len;

	if (!have_roster) {
		for (int i = 0; i < 2; i++)
			if (mds_note_verifier_parse(roster_keys[i],
				strlen(roster_keys[i]), &roster[i], NULL) != 0)
				abort();
		have_roster = 1;
	}
	if (mds_note_verify(in, size, roster, 2, &text_len, NULL, NULL) == 0 &&
	    (text_len == 0 || text_len > size))
		abort();
	if (mds_checkpoint_parse(in, size, &cp, NULL) == 0) {
		char buf[MDS_CHECKPOINT_TEXT_MAX + 1];
		size_t len;

		if (mds_checkpoint_format(&cp, buf, sizeof(buf), &len, NULL) != 0 ||
		    len != size || memcmp(buf, in, size) != 0)
			abort();
	}
	(void)mds_checkpoint_open(in, size, "example.org/log", roster, 2, &cp,
		NULL);
	if (mds_note_verifier_parse(in, size, &v, NULL) == 0) {
		char buf[MDS_NOTE_VKEY_MAX + 1];

		if (mds_note_verifier_format(&v, buf, sizeof(buf)) != 0 ||
		    strlen(buf) != size || memcmp(buf, in, size) != 0)
			abort();
	}
	if (mds_merkle_compact_decode(data, size, &c) == 0) {
		uint8_t buf[MDS_MERKLE_COMPACT_MAX];
		size_t len;

		if (mds_merkle_compact_encode(&c, buf, sizeof(buf), &len) != 0 ||
		    len != size || memcmp(buf, data, size) != 0)
			abort();
	}
	return 0;
}
