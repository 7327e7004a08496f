/*
 * feed_snapshot.c - state entries of a consistent snapshot, their digest
 * and the manifest (see feed_snapshot.h for the format).
 *
 * The walk is a small state machine over cursors of the one read
 * transaction: teams, then buckets, then, for each bucket (a second
 * cursor over the buckets database), a name-tree iterator over its
 * objects. The cursors stay open between chunks, which is why the
 * transaction must outlive the snapshot. Each chunk is encoded into one
 * buffer the snapshot owns; entries are recorded as offsets while the
 * buffer may still move, and turned into pointers at the end of the chunk.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "feed_log.h"
#include "feed_snapshot.h"
#include "feed_util.h"
#include "nametree.h"
#include "record.h"

enum phase { PH_TEAMS, PH_BUCKETS, PH_OBJECTS, PH_DONE };

struct mds_feed_snapshot {
	struct mds_txn *t;
	char origin[MDS_FEED_ORIGIN_MAX + 1];
	enum phase ph;
	struct mds_kcur *cur;          /* teams, then buckets (PH_TEAMS, PH_BUCKETS) */
	struct mds_kcur *bcur;         /* buckets while walking objects */
	int started;                   /* the current cursor has been positioned */
	int in_bucket;                 /* it is positioned in the current bucket */
	struct mds_tree_iter it;
	struct mds_str bucket;         /* current bucket's name (borrows from the txn) */
	uint64_t size;
	uint8_t root[MDS_MERKLE_HASH_LEN];
	struct mds_merkle_compact range;
	uint64_t count;
	EVP_MD_CTX *md;
	uint8_t digest_final[MDS_MERKLE_HASH_LEN];
	uint8_t *buf;
	size_t len, cap;
	size_t off[MDS_FEED_SNAPSHOT_CHUNK], elen[MDS_FEED_SNAPSHOT_CHUNK];
};

int mds_feed_snapshot_open(struct mds_txn *t, const char *origin,
			   struct mds_feed_snapshot **out, struct mds_status *st)
{
	struct mds_feed_snapshot *sn;
	struct mds_merkle_store ms;
	size_t n = origin ? strlen(origin) : 0;
	int rc;

	*out = NULL;
	if (n == 0 || n > MDS_FEED_ORIGIN_MAX)
		return mds_status_set(st, MDS_EINVAL, "feed origin must have 1 to %d bytes",
				      MDS_FEED_ORIGIN_MAX);
	sn = calloc(1, sizeof(*sn));
	if (!sn)
		return mds_status_set(st, MDS_ENOMEM, "cannot allocate a snapshot");
	sn->t = t;
	memcpy(sn->origin, origin, n + 1);
	mds_tree_iter_init(&sn->it, t, 0);
	sn->md = EVP_MD_CTX_new();
	if (!sn->md || EVP_DigestInit_ex(sn->md, mds_feed_sha256(), NULL) != 1) {
		rc = mds_status_set(st, MDS_ENOMEM, "cannot start the snapshot digest");
		goto out_free;
	}
	rc = mds_feed_log_size(t, &sn->size);
	if (rc == 0) {
		mds_feed_log_merkle(t, &ms);
		rc = mds_merkle_root(&ms, sn->size, sn->root);
	}
	if (rc == 0)
		rc = mds_merkle_compact_from_store(&ms, sn->size, &sn->range);
	if (rc == 0)
		rc = mds_kv_cursor_open(t, MDS_DB_TEAMS, &sn->cur);
	if (rc) {
		mds_status_set(st, rc, "cannot read the feed head for a snapshot: %s",
			       mds_strerror(rc));
		goto out_free;
	}
	*out = sn;
	return 0;

out_free:
	mds_feed_snapshot_free(sn);
	return rc;
}

/* Encodes @lf as the next entry of the chunk and feeds the digest. */
static int emit(struct mds_feed_snapshot *sn, struct mds_feed_leaf *lf, size_t i)
{
	size_t need, n;
	uint8_t lenb[4];

	/* Every field that is encoded is set before the entry is sized. */
	lf->seq = sn->size;
	lf->origin = (struct mds_str){ sn->origin, strlen(sn->origin) };
	lf->state = MDS_FEED_RECORD;
	need = mds_feed_leaf_encoded_size(lf);
	if (sn->len + need > sn->cap) {
		size_t cap = sn->cap ? sn->cap : 64 * 1024;
		uint8_t *nb;

		while (cap < sn->len + need)
			cap *= 2;
		nb = realloc(sn->buf, cap);
		if (!nb)
			return MDS_ENOMEM;
		sn->buf = nb;
		sn->cap = cap;
	}
	n = mds_feed_leaf_encode(lf, sn->buf + sn->len);
	if (n != need)
		return MDS_ECORRUPT;   /* sizing and encoding disagree: never write past it */
	lenb[0] = (uint8_t)(n >> 24);
	lenb[1] = (uint8_t)(n >> 16);
	lenb[2] = (uint8_t)(n >> 8);
	lenb[3] = (uint8_t)n;
	if (EVP_DigestUpdate(sn->md, lenb, 4) != 1 ||
	    EVP_DigestUpdate(sn->md, sn->buf + sn->len, n) != 1)
		return MDS_ENOMEM;
	sn->off[i] = sn->len;
	sn->elen[i] = n;
	sn->len += n;
	sn->count++;
	return 0;
}

/* The next team or bucket entry into @lf; MDS_ENOTFOUND at the end. */
static int next_kv(struct mds_feed_snapshot *sn, struct mds_feed_leaf *lf)
{
	struct mds_str k, v;
	int rc = sn->started ? mds_kv_next(sn->cur, &k, &v) : mds_kv_first(sn->cur, &k, &v);

	sn->started = 1;
	if (rc)
		return rc;
	memset(lf, 0, sizeof(*lf));
	lf->record = v;
	if (sn->ph == PH_TEAMS) {
		lf->kind = MDS_OP_TEAM_CREATE;
		lf->team = k;
	} else {
		struct mds_bucket b;

		rc = mds_bucket_decode(v.p, v.len, &b);
		if (rc)
			return rc;
		lf->kind = MDS_OP_BUCKET_CREATE;
		lf->bucket = k;
		lf->team = b.team;
	}
	return 0;
}

/* The next object entry into @lf, moving across buckets; MDS_ENOTFOUND at
 * the end of the last bucket. */
static int next_object(struct mds_feed_snapshot *sn, struct mds_feed_leaf *lf)
{
	struct mds_object o;
	int rc;

	for (;;) {
		if (sn->in_bucket) {
			rc = mds_tree_iter_next(&sn->it);
			if (rc == 0)
				break;
			if (rc != MDS_ENOTFOUND)
				return rc;
			sn->in_bucket = 0;
		}
		/* the next bucket */
		struct mds_str k, v;
		struct mds_bucket b;

		rc = sn->started ? mds_kv_next(sn->bcur, &k, &v) : mds_kv_first(sn->bcur, &k, &v);
		sn->started = 1;
		if (rc)
			return rc;
		rc = mds_bucket_decode(v.p, v.len, &b);
		if (rc)
			return rc;
		sn->bucket = k;
		mds_tree_iter_release(&sn->it);
		mds_tree_iter_init(&sn->it, sn->t, b.id);
		rc = mds_tree_iter_seek(&sn->it, (struct mds_str){ "", 0 }, 1);
		if (rc == 0) {
			sn->in_bucket = 1;
			break;
		}
		if (rc != MDS_ENOTFOUND)
			return rc;
	}
	rc = mds_object_decode(sn->it.rec.p, sn->it.rec.len, &o);
	if (rc)
		return rc;
	memset(lf, 0, sizeof(*lf));
	lf->kind = MDS_OP_OBJECT_PUT;
	lf->bucket = sn->bucket;
	lf->name = (struct mds_str){ sn->it.name, sn->it.name_len };
	lf->key_version = o.version;
	lf->record = sn->it.rec;
	return 0;
}

/* Moves to the next phase; opens the cursor it needs. */
static int next_phase(struct mds_feed_snapshot *sn)
{
	int rc = 0;

	sn->started = 0;
	if (sn->ph == PH_TEAMS) {
		mds_kv_cursor_close(sn->cur);
		sn->cur = NULL;
		rc = mds_kv_cursor_open(sn->t, MDS_DB_BUCKETS, &sn->cur);
		sn->ph = PH_BUCKETS;
	} else if (sn->ph == PH_BUCKETS) {
		mds_kv_cursor_close(sn->cur);
		sn->cur = NULL;
		rc = mds_kv_cursor_open(sn->t, MDS_DB_BUCKETS, &sn->bcur);
		sn->ph = PH_OBJECTS;
	} else {
		sn->ph = PH_DONE;
	}
	return rc;
}

int mds_feed_snapshot_next(struct mds_feed_snapshot *sn, struct mds_str *entries, size_t max,
			   size_t *n, struct mds_status *st)
{
	size_t i = 0;
	int rc = 0;

	if (max > MDS_FEED_SNAPSHOT_CHUNK)
		max = MDS_FEED_SNAPSHOT_CHUNK;
	sn->len = 0;
	while (i < max && sn->len < MDS_FEED_SNAPSHOT_CHUNK_BYTES && sn->ph != PH_DONE) {
		struct mds_feed_leaf lf;

		rc = sn->ph == PH_OBJECTS ? next_object(sn, &lf) : next_kv(sn, &lf);
		if (rc == MDS_ENOTFOUND) {
			rc = next_phase(sn);
			if (rc)
				break;
			continue;
		}
		if (rc)
			break;
		rc = emit(sn, &lf, i);
		if (rc)
			break;
		i++;
	}
	if (rc) {
		*n = 0;
		return mds_status_set(st, rc, "cannot read the state for a snapshot: %s",
				      mds_strerror(rc));
	}
	for (size_t j = 0; j < i; j++)
		entries[j] = (struct mds_str){ (const char *)sn->buf + sn->off[j], sn->elen[j] };
	*n = i;
	return 0;
}

int mds_feed_snapshot_manifest(struct mds_feed_snapshot *sn,
			       struct mds_feed_snapshot_manifest *m)
{
	unsigned int dl = 0;

	if (sn->ph != PH_DONE)
		return MDS_EINVAL;
	memset(m, 0, sizeof(*m));
	m->size = sn->size;
	memcpy(m->root, sn->root, sizeof(m->root));
	m->entries = sn->count;
	m->range = sn->range;
	if (sn->md) {
		if (EVP_DigestFinal_ex(sn->md, sn->digest_final, &dl) != 1)
			return MDS_ENOMEM;
		EVP_MD_CTX_free(sn->md);
		sn->md = NULL;
	}
	memcpy(m->digest, sn->digest_final, sizeof(m->digest));
	return 0;
}

int mds_feed_snapshot_note_text(const char *origin, const struct mds_feed_snapshot_manifest *m,
				uint64_t time_ms, char *buf, size_t cap, size_t *len)
{
	char root[MDS_FEED_B64_LEN(32) + 1], dig[MDS_FEED_B64_LEN(32) + 1];
	int n;

	mds_feed_b64_encode(m->root, 32, root);
	root[MDS_FEED_B64_LEN(32)] = 0;
	mds_feed_b64_encode(m->digest, 32, dig);
	dig[MDS_FEED_B64_LEN(32)] = 0;
	n = snprintf(buf, cap, "%s\nsnapshot\n%" PRIu64 "\n%s\n%" PRIu64 "\n%s\ntimestamp %" PRIu64 "\n",
		     origin, m->size, root, m->entries, dig, time_ms);
	if (n < 0 || (size_t)n >= cap)
		return MDS_EINVAL;
	*len = (size_t)n;
	return 0;
}

void mds_feed_snapshot_free(struct mds_feed_snapshot *sn)
{
	if (!sn)
		return;
	mds_tree_iter_release(&sn->it);
	if (sn->cur)
		mds_kv_cursor_close(sn->cur);
	if (sn->bcur)
		mds_kv_cursor_close(sn->bcur);
	if (sn->md)
		EVP_MD_CTX_free(sn->md);
	free(sn->buf);
	free(sn);
}
