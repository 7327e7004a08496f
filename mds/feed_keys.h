/*
 * feed_keys.h - the island's feed signing keys in its data directory, as
 * `mds keys init|show|rotate` and the checkpointer use them.
 *
 * Layout under DATA/feed/ (directory mode 0700):
 *   key.pem        current Ed25519 private key, PKCS#8 PEM, mode 0600
 *   key.name       its C2SP key name (one line), normally the feed origin
 *   old-key.pem    the previous key after a rotation, mode 0600
 *   old-key.until  end of the overlap window, Unix seconds (one line):
 *                  until then checkpoints are signed by both keys, so a
 *                  subscriber that trusts either key keeps verifying
 *                  while it learns the new one
 * Both keys carry the same name; their key ids differ.
 */
#ifndef MDS_FEED_KEYS_H
#define MDS_FEED_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "feed/note.h"

/* Default overlap window of a rotation: 7 days. */
#define MDS_FEED_KEYS_OVERLAP_S (7u * 24 * 3600)

/*
 * mds_feed_keys_init - create DATA/feed/key.pem and key.name for a new key
 * named @name (borrowed). Refuses (MDS_EEXIST) if a key exists. Returns 0,
 * MDS_EEXIST, MDS_EINVAL (bad name), -errno, or the note.h codes.
 */
int mds_feed_keys_init(const char *data_dir, const char *name, struct mds_status *st);

/*
 * mds_feed_keys_rotate - move the current key to old-key.pem with an
 * overlap window ending @overlap_s seconds after @now_s, and create a new
 * current key with the same name. Returns 0, MDS_ENOTFOUND (no key yet),
 * MDS_EEXIST (the previous rotation's overlap has not ended: rotating
 * again would drop a key subscribers may still rely on), -errno or the
 * note.h codes.
 */
int mds_feed_keys_rotate(const char *data_dir, uint64_t now_s, uint64_t overlap_s,
			 struct mds_status *st);

/*
 * mds_feed_keys_load - the keys that sign at time @now_s: the current key
 * first, then the old key while its overlap window lasts. @out (caller's
 * array of 2) receives owned signers (free each with
 * mds_note_signer_free), *@n their count. @name_out (caller-owned,
 * MDS_NOTE_NAME_MAX + 1 bytes, may be NULL) receives the key name.
 * Returns 0, MDS_ENOTFOUND (no key: run `mds keys init`), or load errors.
 */
int mds_feed_keys_load(const char *data_dir, uint64_t now_s, struct mds_note_signer *out[2],
		       size_t *n, char *name_out, struct mds_status *st);

#endif /* MDS_FEED_KEYS_H */
