/*
 * subscriber.c - the subscriber's check of one feed update (see
 * subscriber.h). The order of the checks is the order of the doc comment;
 * every check runs before anything is returned as verified.
 *
 * What must stay true: *next is filled only when every check passed; the
 * caller's cursor is never written; the consistency proof is checked even
 * though folding the entries onto the frontier proves the same thing, so
 * a fork is reported as a fork even when the entries are missing or wrong.
 */
#include "subscriber.h"

#include <string.h>

#include <openssl/crypto.h>

#include "feed_util.h"

int mds_feed_verify_update(const struct mds_merkle_compact *cur,
	const char *origin,
	const struct mds_note_verifier *roster, size_t n_roster,
	const char *note, size_t note_len,
	const uint8_t proof[][MDS_MERKLE_HASH_LEN], size_t n_proof,
	uint64_t first_seq,
	const uint8_t leaf_hashes[][MDS_MERKLE_HASH_LEN], size_t n_leaves,
	struct mds_merkle_compact *next, struct mds_checkpoint *cp,
	struct mds_status *st)
{
	uint8_t cur_root[MDS_MERKLE_HASH_LEN], root[MDS_MERKLE_HASH_LEN];
	int rc;

	mds_merkle_compact_init(next);
	rc = mds_checkpoint_open(note, note_len, origin, roster, n_roster, cp,
		st);
	if (rc)
		return rc;
	if (cp->size < cur->size) {
		rc = mds_status_set(st, MDS_EDENIED,
			"island '%s' went back from size %llu to %llu", origin,
			(unsigned long long)cur->size,
			(unsigned long long)cp->size);
		goto out_fail;
	}
	rc = mds_merkle_compact_root(cur, cur_root);
	if (rc) {
		mds_status_set(st, rc, "cannot hash the cursor of '%s'",
			origin);
		goto out_fail;
	}
	rc = mds_merkle_verify_consistency(cur->size, cp->size, cur_root,
		cp->root, proof, n_proof);
	if (rc == MDS_ENOMEM) {
		mds_status_set(st, rc, "out of memory verifying '%s'", origin);
		goto out_fail;
	}
	if (rc) {
		rc = mds_status_set(st, MDS_EDENIED,
			"island '%s' forked: size %llu is not consistent with "
			"the applied size %llu", origin,
			(unsigned long long)cp->size,
			(unsigned long long)cur->size);
		goto out_fail;
	}
	if (first_seq != cur->size || cp->size - cur->size != n_leaves) {
		rc = mds_status_set(st, MDS_EINVAL,
			"island '%s' sent entries %llu..+%zu, but the cursor "
			"is at %llu and the checkpoint at %llu", origin,
			(unsigned long long)first_seq, n_leaves,
			(unsigned long long)cur->size,
			(unsigned long long)cp->size);
		goto out_fail;
	}
	*next = *cur;
	for (size_t i = 0; i < n_leaves; i++) {
		rc = mds_merkle_compact_append(next, leaf_hashes[i]);
		if (rc) {
			mds_status_set(st, rc, "island '%s': cannot fold "
				"entry %llu", origin,
				(unsigned long long)(first_seq + i));
			goto out_fail;
		}
	}
	rc = mds_merkle_compact_root(next, root);
	if (rc) {
		mds_status_set(st, rc, "cannot hash the entries of '%s'",
			origin);
		goto out_fail;
	}
	if (CRYPTO_memcmp(root, cp->root, MDS_MERKLE_HASH_LEN) != 0) {
		rc = mds_status_set(st, MDS_EDENIED,
			"island '%s': entries %llu..%llu do not fold to the "
			"signed root", origin, (unsigned long long)first_seq,
			(unsigned long long)cp->size);
		goto out_fail;
	}
	return 0;
out_fail:
	mds_merkle_compact_init(next);
	memset(cp, 0, sizeof(*cp));
	return rc;
}
