/*
 * multipart.c - S3 multipart uploads: create, upload part, list parts,
 * list in-progress uploads, complete, abort.
 *
 * Layout (see docs/storage-format.md):
 *   uploads  'u' upload id(16)  -> bucket id(8 LE) initiated(8 LE)
 *                                  name len(2 LE) name, then an object record
 *                                  (content type, metadata, tags for the result)
 *   uploads  'r' bucket id(8 BE) -> root node id (8 LE) of the bucket's upload tree
 *   objects  upload tree (name tree under that root): key name ->
 *            n x (initiated(8 BE) upload id(16)), ascending
 *   parts    upload id(16) part number(4 BE) -> size(8 LE) mtime(8 LE)
 *                                  etag len(1) etag locator
 * The upload tree gives ListMultipartUploads exact key order for names of
 * any length, prefix/delimiter roll-ups by seeking, and a page cost that
 * is proportional to the page.
 *
 * Upload ids are 16 bytes from OpenSSL's RAND_bytes, shown as 32 hex
 * digits: unguessable, so knowing a bucket and key is not enough to add
 * parts to someone else's upload.
 *
 * Completing is one op: validation of the part list, the block map of the
 * new object, its record, usage, and the removal of the upload and all its
 * parts happen in one nested transaction - the object appears whole or
 * not at all, and the upload disappears with it.
 *
 * What must stay true: every 'u' upload is listed once in its bucket's
 * upload tree under its name, and every tree entry names a live upload;
 * every part belongs to a live upload.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "blobs.h"
#include "nametree.h"
#include "retention.h"
#include "record.h"
#include "util.h"

#define UPLOADS_PER_KEY_MAX 1000
#define TREE_ITEM 24
#define UPLOAD_REC_MAX (20 + MDS_OBJECT_NAME_MAX + 32 + 16384)

struct upload {
	uint8_t id[MDS_BLOB_ID_LEN];
	uint64_t bucket_id;
	uint64_t initiated_ns;
	struct mds_str name;
	struct mds_str token;    /* quota reservation held for the upload (0 or 32 hex) */
	struct mds_object obj;   /* content type, metadata, tags of the result */
};

static int set_reason(struct mds_op *op, uint8_t reason, int rc)
{
	op->blob_out.reason = reason;
	return rc;
}

static struct mds_str ukey(uint8_t buf[1 + MDS_BLOB_ID_LEN], const uint8_t id[MDS_BLOB_ID_LEN])
{
	buf[0] = 'u';
	memcpy(buf + 1, id, MDS_BLOB_ID_LEN);
	return (struct mds_str){ (char *)buf, 1 + MDS_BLOB_ID_LEN };
}

static struct mds_str rkey(uint8_t buf[9], uint64_t bucket_id)
{
	buf[0] = 'r';
	mds_be64_put(buf + 1, bucket_id);
	return (struct mds_str){ (char *)buf, 9 };
}

static struct mds_str pkey(uint8_t buf[MDS_BLOB_ID_LEN + 4], const uint8_t id[MDS_BLOB_ID_LEN],
			   uint32_t number)
{
	memcpy(buf, id, MDS_BLOB_ID_LEN);
	buf[16] = (uint8_t)(number >> 24);
	buf[17] = (uint8_t)(number >> 16);
	buf[18] = (uint8_t)(number >> 8);
	buf[19] = (uint8_t)number;
	return (struct mds_str){ (char *)buf, MDS_BLOB_ID_LEN + 4 };
}

static int upload_decode(struct mds_str v, const uint8_t id[MDS_BLOB_ID_LEN], struct upload *u)
{
	const uint8_t *p = (const uint8_t *)v.p;
	size_t nlen, tlen;

	if (v.len < 18)
		return MDS_ECORRUPT;
	nlen = (size_t)p[16] | (size_t)p[17] << 8;
	if (v.len < 18 + nlen + 1 || nlen == 0 || nlen > MDS_OBJECT_NAME_MAX)
		return MDS_ECORRUPT;
	tlen = p[18 + nlen];
	if ((tlen != 0 && tlen != MDS_BLOB_ID_HEX) || v.len < 19 + nlen + tlen)
		return MDS_ECORRUPT;
	memcpy(u->id, id, MDS_BLOB_ID_LEN);
	u->bucket_id = mds_le64_get(p);
	u->initiated_ns = mds_le64_get(p + 8);
	u->name = (struct mds_str){ v.p + 18, nlen };
	u->token = (struct mds_str){ tlen ? v.p + 19 + nlen : NULL, tlen };
	return mds_object_decode(p + 19 + nlen + tlen, v.len - 19 - nlen - tlen, &u->obj);
}

static int upload_get(struct mds_txn *t, const uint8_t id[MDS_BLOB_ID_LEN], struct upload *u)
{
	uint8_t k[1 + MDS_BLOB_ID_LEN];
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_UPLOADS, ukey(k, id), &v);

	if (rc)
		return rc;
	return upload_decode(v, id, u);
}

/*
 * Resolves @op's upload: parses blob.id, looks up the bucket, and checks
 * that the upload belongs to that bucket and key (S3: NoSuchUpload).
 */
static int upload_resolve(struct mds_txn *t, struct mds_op *op, struct mds_bucket *b,
			  struct upload *u)
{
	char q[MDS_QUOTE_MAX], q2[MDS_QUOTE_MAX];
	uint8_t id[MDS_BLOB_ID_LEN];
	int rc;

	rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->bucket, b, &op->status);
	if (rc)
		return rc;
	if (mds_blob_id_parse(op->blob.id, id))
		return set_reason(op, MDS_REASON_NO_UPLOAD,
				  mds_status_set(&op->status, MDS_ENOTFOUND,
						 "upload id '%s' is not an upload id of this island",
						 mds_quote(q, op->blob.id)));
	rc = upload_get(t, id, u);
	if (rc == 0 && (u->bucket_id != b->id || !mds_str_eq(u->name, op->name)))
		rc = MDS_ENOTFOUND;
	if (rc == MDS_ENOTFOUND)
		return set_reason(op, MDS_REASON_NO_UPLOAD,
				  mds_status_set(&op->status, rc,
						 "no upload '%s' for key '%s'; it may have been completed or aborted",
						 mds_quote(q, op->blob.id), mds_quote(q2, op->name)));
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read upload: %s", mds_strerror(rc));
	return 0;
}

/* ---- the bucket's upload tree ------------------------------------------- */

static int root_get(struct mds_txn *t, uint64_t bucket_id, uint64_t *root, int create)
{
	uint8_t k[9], v8[8];
	struct mds_str v, key = rkey(k, bucket_id);
	int rc = mds_kv_get(t, MDS_DB_UPLOADS, key, &v);

	if (rc == 0) {
		if (v.len != 8)
			return MDS_ECORRUPT;
		*root = mds_le64_get((const uint8_t *)v.p);
		return 0;
	}
	if (rc != MDS_ENOTFOUND || !create)
		return rc;
	rc = mds_blob_next_id(t, root);
	if (rc)
		return rc;
	mds_le64_put(v8, *root);
	return mds_kv_put(t, MDS_DB_UPLOADS, key, (struct mds_str){ (char *)v8, 8 });
}

/*
 * Adds (@add) or removes upload @u in the tree record of its name.
 * Returns MDS_EBUSY when the key already has UPLOADS_PER_KEY_MAX uploads.
 */
static int tree_update(struct mds_txn *t, const struct upload *u, int add)
{
	static __thread uint8_t buf[(UPLOADS_PER_KEY_MAX + 1) * TREE_ITEM];
	struct mds_bucket root_b;
	uint8_t item[TREE_ITEM];
	struct mds_str v;
	size_t n = 0, o = 0;
	uint64_t root;
	int rc, placed = 0;

	rc = root_get(t, u->bucket_id, &root, add);
	if (rc)
		return rc;
	memset(&root_b, 0, sizeof(root_b));
	root_b.id = root;
	mds_be64_put(item, u->initiated_ns);
	memcpy(item + 8, u->id, MDS_BLOB_ID_LEN);
	rc = mds_tree_get(t, root, u->name, &v);
	if (rc && rc != MDS_ENOTFOUND)
		return rc;
	if (rc == 0 && v.len % TREE_ITEM)
		return MDS_ECORRUPT;
	if (rc == 0 && v.len / TREE_ITEM >= UPLOADS_PER_KEY_MAX && add)
		return MDS_EBUSY;
	/* Merge: keep ascending (initiated, id) order. */
	for (size_t i = 0; rc == 0 && i < v.len / TREE_ITEM; i++) {
		const uint8_t *it = (const uint8_t *)v.p + i * TREE_ITEM;
		int c = memcmp(it, item, TREE_ITEM);

		if (add && !placed && c > 0) {
			memcpy(buf + o, item, TREE_ITEM);
			o += TREE_ITEM;
			placed = 1;
		}
		if (!add && c == 0) {
			placed = 1;
			continue;
		}
		memcpy(buf + o, it, TREE_ITEM);
		o += TREE_ITEM;
	}
	if (add && !placed) {
		memcpy(buf + o, item, TREE_ITEM);
		o += TREE_ITEM;
	}
	if (!add && !placed)
		return MDS_ECORRUPT;
	n = o;
	if (n == 0)
		return mds_tree_del(t, root, u->name);
	return mds_ns_object_store(t, &root_b, u->name, (struct mds_str){ (char *)buf, n });
}

/* Deletes every part of upload @id. */
static int parts_drop(struct mds_txn *t, const uint8_t id[MDS_BLOB_ID_LEN])
{
	uint8_t k[MDS_BLOB_ID_LEN + 4], kc[MDS_BLOB_ID_LEN + 4];
	struct mds_kcur *c = NULL;
	struct mds_str ck, cv;
	int rc;

	for (;;) {
		rc = mds_kv_cursor_open(t, MDS_DB_PARTS, &c);
		if (rc)
			return rc;
		rc = mds_kv_seek(c, pkey(k, id, 0), &ck, &cv);
		if (rc == 0 && (ck.len != sizeof(kc) || memcmp(ck.p, id, MDS_BLOB_ID_LEN) != 0))
			rc = MDS_ENOTFOUND;
		if (rc == 0)
			memcpy(kc, ck.p, sizeof(kc));
		mds_kv_cursor_close(c);
		if (rc == MDS_ENOTFOUND)
			return 0;
		if (rc == 0)
			rc = mds_kv_del(t, MDS_DB_PARTS, (struct mds_str){ (char *)kc, sizeof(kc) });
		if (rc)
			return rc;
	}
}

/* Removes upload @u entirely: parts, tree entry, record. */
static int upload_remove(struct mds_txn *t, const struct upload *u)
{
	uint8_t k[1 + MDS_BLOB_ID_LEN];
	struct upload copy = *u;
	char name[MDS_OBJECT_NAME_MAX];
	int rc;

	char token[MDS_BLOB_ID_HEX];

	/* u->name and u->token point into the record deleted below. */
	memcpy(name, u->name.p, u->name.len);
	copy.name = (struct mds_str){ name, u->name.len };
	if (u->token.len)
		memcpy(token, u->token.p, u->token.len);
	rc = parts_drop(t, u->id);
	/* Whatever the upload still holds goes back (gone already after a commit). */
	if (rc == 0)
		rc = mds_blob_resv_release(t, (struct mds_str){ token, u->token.len });
	if (rc == 0)
		rc = tree_update(t, &copy, 0);
	if (rc == 0)
		rc = mds_kv_del(t, MDS_DB_UPLOADS, ukey(k, u->id));
	return rc;
}

/* ---- ops ------------------------------------------------------------------- */

static int apply_create(struct mds_txn *t, struct mds_op *op)
{
	static __thread uint8_t buf[UPLOAD_REC_MAX];
	uint8_t k[1 + MDS_BLOB_ID_LEN];
	struct mds_object_in in = op->obj;
	struct mds_bucket b;
	struct upload u;
	size_t n, o;
	int rc;

	in.size = 0;
	in.locator = MDS_STR_NULL;
	in.etag = MDS_STR_NULL;
	rc = mds_validate_object_name(op->name, &op->status);
	if (rc == 0)
		rc = mds_object_in_validate(&in, &op->status);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	if (op->reservation.len && op->reservation.len != MDS_BLOB_ID_HEX)
		return mds_status_set(&op->status, MDS_EINVAL,
				      "reservation token must be %d hex characters", MDS_BLOB_ID_HEX);
	n = mds_object_encoded_size(&in);
	if (19 + op->name.len + op->reservation.len + n > sizeof(buf))
		return mds_status_set(&op->status, MDS_EINVAL, "upload metadata is too large");
	if (mds_blob_id_new(u.id))
		return mds_status_set(&op->status, MDS_EINTERNAL, "cannot draw a random upload id");
	u.bucket_id = b.id;
	u.initiated_ns = mds_txn_now_ns(t);
	u.name = op->name;
	mds_le64_put(buf, b.id);
	mds_le64_put(buf + 8, u.initiated_ns);
	buf[16] = (uint8_t)op->name.len;
	buf[17] = (uint8_t)(op->name.len >> 8);
	memcpy(buf + 18, op->name.p, op->name.len);
	o = 18 + op->name.len;
	buf[o++] = (uint8_t)op->reservation.len;
	if (op->reservation.len)
		memcpy(buf + o, op->reservation.p, op->reservation.len);
	o += op->reservation.len;
	n = mds_object_encode(buf + o, n, &in, 0, u.initiated_ns, u.initiated_ns);
	rc = mds_kv_put(t, MDS_DB_UPLOADS, ukey(k, u.id), (struct mds_str){ (char *)buf, o + n });
	if (rc == 0)
		rc = tree_update(t, &u, 1);
	if (rc == MDS_EBUSY)
		return mds_status_set(&op->status, rc,
				      "key already has %d uploads in progress; complete or abort some",
				      UPLOADS_PER_KEY_MAX);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot create upload: %s", mds_strerror(rc));
	mds_blob_id_hex(op->blob_out.id, u.id);
	op->out_mtime_ns = u.initiated_ns;
	return 0;
}

static int apply_part(struct mds_txn *t, struct mds_op *op)
{
	static __thread uint8_t buf[17 + MDS_ETAG_MAX + MDS_LOCATOR_MAX];
	uint8_t k[MDS_BLOB_ID_LEN + 4];
	struct mds_bucket b;
	struct upload u;
	size_t o;
	int rc;

	if (op->blob.part_number < 1 || op->blob.part_number > MDS_PARTS_MAX)
		return mds_status_set(&op->status, MDS_EINVAL,
				      "part number %u is outside 1-%d", op->blob.part_number,
				      MDS_PARTS_MAX);
	if (op->blob.size > MDS_PART_SIZE_MAX)
		return mds_status_set(&op->status, MDS_EINVAL, "part of %llu bytes is above 5 GiB",
				      (unsigned long long)op->blob.size);
	if (op->blob.etag.len == 0 || op->blob.etag.len > MDS_ETAG_MAX ||
	    op->blob.locator.len > MDS_LOCATOR_MAX)
		return mds_status_set(&op->status, MDS_EINVAL,
				      "part etag must be 1-%d bytes and the locator at most %d",
				      MDS_ETAG_MAX, MDS_LOCATOR_MAX);
	rc = upload_resolve(t, op, &b, &u);
	if (rc)
		return rc;
	mds_le64_put(buf, op->blob.size);
	mds_le64_put(buf + 8, mds_txn_now_ns(t));
	buf[16] = (uint8_t)op->blob.etag.len;
	o = 17;
	memcpy(buf + o, op->blob.etag.p, op->blob.etag.len);
	o += op->blob.etag.len;
	if (op->blob.locator.len)
		memcpy(buf + o, op->blob.locator.p, op->blob.locator.len);
	o += op->blob.locator.len;
	/* Re-registering a part number replaces the part (S3 UploadPart). */
	rc = mds_kv_put(t, MDS_DB_PARTS, pkey(k, u.id, op->blob.part_number),
			(struct mds_str){ (char *)buf, o });
	if (rc)
		return mds_status_set(&op->status, rc, "cannot store part %u: %s",
				      op->blob.part_number, mds_strerror(rc));
	op->blob_out.size = op->blob.size;
	op->out_mtime_ns = mds_txn_now_ns(t);
	return 0;
}

struct part_rec {
	uint64_t size, mtime_ns;
	struct mds_str etag, locator;
};

static int part_decode(struct mds_str v, struct part_rec *p)
{
	const uint8_t *b = (const uint8_t *)v.p;

	if (v.len < 17 || v.len < 17u + b[16])
		return MDS_ECORRUPT;
	p->size = mds_le64_get(b);
	p->mtime_ns = mds_le64_get(b + 8);
	p->etag = (struct mds_str){ v.p + 17, b[16] };
	p->locator = (struct mds_str){ v.p + 17 + b[16], v.len - 17 - b[16] };
	return 0;
}

static struct mds_str unquote(struct mds_str s)
{
	if (s.len >= 2 && s.p[0] == '"' && s.p[s.len - 1] == '"')
		return (struct mds_str){ s.p + 1, s.len - 2 };
	return s;
}

static int md5_hex_parse(struct mds_str s, uint8_t out[16])
{
	return mds_blob_id_parse(unquote(s), out); /* 32 hex digits = 16 bytes */
}

static int part_load(struct mds_txn *t, const uint8_t id[MDS_BLOB_ID_LEN], uint32_t number,
		     struct part_rec *p)
{
	uint8_t k[MDS_BLOB_ID_LEN + 4];
	struct mds_str v;
	int rc = mds_kv_get(t, MDS_DB_PARTS, pkey(k, id, number), &v);

	if (rc)
		return rc;
	return part_decode(v, p);
}

static int apply_complete(struct mds_txn *t, struct mds_op *op)
{
	char etag[MDS_ETAG_MAX + 1], q[MDS_QUOTE_MAX];
	uint8_t *md5s = NULL, digest[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	struct mds_object cur, ext;
	struct mds_object_in in;
	struct mds_bucket b;
	struct upload u;
	uint64_t total = 0, version = 1, ctime, old_size = 0;
	size_t n = op->blob.n_parts;
	int exists, rc;

	rc = upload_resolve(t, op, &b, &u);
	if (rc)
		return rc;
	if (n == 0 || n > MDS_PARTS_MAX)
		return set_reason(op, MDS_REASON_INVALID_PART,
				  mds_status_set(&op->status, MDS_EINVAL,
						 "the part list holds %zu parts; it must hold 1-%d", n,
						 MDS_PARTS_MAX));
	md5s = malloc(n * 16);
	if (!md5s)
		return mds_status_set(&op->status, MDS_ENOMEM, "out of memory completing an upload");
	/* Pass 1, reads only: order, existence, ETags, sizes. */
	for (size_t i = 0; i < n; i++) {
		const struct mds_part_ref *pr = &op->blob.parts[i];
		struct part_rec p;

		if (i > 0 && pr->number <= op->blob.parts[i - 1].number) {
			rc = set_reason(op, MDS_REASON_PART_ORDER,
					mds_status_set(&op->status, MDS_EINVAL,
						       "part %u follows part %u; the list must be in ascending order",
						       pr->number, op->blob.parts[i - 1].number));
			goto out;
		}
		rc = part_load(t, u.id, pr->number, &p);
		if (rc == 0 && !mds_str_eq(unquote(pr->etag), unquote(p.etag)))
			rc = MDS_ENOTFOUND;
		if (rc == MDS_ENOTFOUND) {
			rc = set_reason(op, MDS_REASON_INVALID_PART,
					mds_status_set(&op->status, MDS_EINVAL,
						       "part %u was not uploaded or its etag does not match",
						       pr->number));
			goto out;
		}
		if (rc) {
			mds_status_set(&op->status, rc, "cannot read part %u: %s", pr->number,
				       mds_strerror(rc));
			goto out;
		}
		if (i + 1 < n && p.size < MDS_PART_MIN) {
			rc = set_reason(op, MDS_REASON_PART_TOO_SMALL,
					mds_status_set(&op->status, MDS_EINVAL,
						       "part %u is %llu bytes; every part but the last must be at least 5 MiB",
						       pr->number, (unsigned long long)p.size));
			goto out;
		}
		if (md5_hex_parse(p.etag, md5s + 16 * i)) {
			rc = set_reason(op, MDS_REASON_INVALID_PART,
					mds_status_set(&op->status, MDS_EINVAL,
						       "part %u etag '%s' is not an md5 in hex", pr->number,
						       mds_quote(q, p.etag)));
			goto out;
		}
		total += p.size;
	}
	/* S3's composite ETag: MD5 over the binary part MD5s, hex, "-N". */
	if (EVP_Digest(md5s, n * 16, digest, &dlen, EVP_md5(), NULL) != 1 || dlen != 16) {
		rc = mds_status_set(&op->status, MDS_EINTERNAL, "md5 of the part etags failed");
		goto out;
	}
	{
		char hex[MDS_BLOB_ID_HEX + 1];

		mds_blob_id_hex(hex, digest);
		snprintf(etag, sizeof(etag), "\"%s-%zu\"", hex, n);
	}

	/* The destination as it is now: conditions, version, what it owned. */
	rc = mds_ns_object_load(t, &b, op->name, &cur);
	if (rc && rc != MDS_ENOTFOUND) {
		mds_status_set(&op->status, rc, "cannot read object: %s", mds_strerror(rc));
		goto out;
	}
	exists = rc == 0;
	ctime = mds_txn_now_ns(t);
	rc = mds_blob_cond_check(op, &op->cond, exists ? &cur : NULL, MDS_REASON_ETAG, "key",
				 op->name);
	if (rc == 0 && exists)
		rc = mds_retention_check(t, op, op->name, &cur, "complete an upload over");
	if (rc)
		goto out;	/* the upload is kept */
	if (exists) {
		version = cur.version + 1;
		ctime = cur.ctime_ns;
		old_size = cur.size;
		rc = mds_blob_release(t, &cur);
		if (rc) {
			mds_status_set(&op->status, rc, "cannot release the old object: %s",
				       mds_strerror(rc));
			goto out;
		}
	}

	/* Pass 2: the block map of the new object, one block per part. */
	memset(&ext, 0, sizeof(ext));
	ext.map_kind = MDS_MAP_MULTIPART;
	ext.map_blocks = (uint32_t)n;
	ext.size = total;
	rc = mds_map_create(t, &b, op->name, &ext.map_id);
	for (uint64_t off = 0, i = 0; rc == 0 && i < n; i++) {
		struct part_rec p;

		rc = part_load(t, u.id, op->blob.parts[i].number, &p);
		if (rc == 0) {
			struct mds_map_entry e = { off, p.size, p.etag, p.locator };

			rc = mds_map_put(t, ext.map_id, (uint32_t)i, &e);
			off += p.size;
		}
	}
	if (rc) {
		mds_status_set(&op->status, rc, "cannot write the parts map: %s", mds_strerror(rc));
		goto out;
	}
	rc = mds_blob_in_from(&u.obj, &in);
	if (rc) {
		mds_status_set(&op->status, rc, "cannot read the upload's metadata: %s", mds_strerror(rc));
		goto out;
	}
	in.size = total;
	in.blob_type = MDS_BLOB_BLOCK;
	in.etag = (struct mds_str){ etag, strlen(etag) };
	in.locator = MDS_STR_NULL;
	rc = mds_blob_write(t, &b, op->name, &in, &ext, version, ctime, &op->status);
	if (rc)
		goto out;
	op->out_bytes_delta = (int64_t)total - (int64_t)old_size;
	op->out_objects_delta = exists ? 0 : 1;
	/* The reservation given now, or the one the upload was created with. */
	rc = mds_blob_charge(t, op, &b, op->name, op->reservation.len ? op->reservation : u.token,
			     op->out_bytes_delta, op->out_objects_delta);
	if (rc)
		goto out;
	rc = upload_remove(t, &u);
	if (rc) {
		mds_status_set(&op->status, rc, "cannot remove the completed upload: %s",
			       mds_strerror(rc));
		goto out;
	}
	op->blob_out.size = total;
	op->blob_out.blocks = (uint32_t)n;
	snprintf(op->blob_out.etag, sizeof(op->blob_out.etag), "%s", etag);
	op->out_version = version;
	op->out_mtime_ns = mds_txn_now_ns(t);
out:
	free(md5s);
	return rc;
}

static int apply_abort(struct mds_txn *t, struct mds_op *op)
{
	struct mds_bucket b;
	struct upload u;
	int rc = upload_resolve(t, op, &b, &u);

	if (rc)
		return rc;
	rc = upload_remove(t, &u);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot abort upload: %s", mds_strerror(rc));
	return 0;
}

/*
 * The lifecycle sweep (S3 AbortIncompleteMultipartUpload): aborts up to
 * max_items uploads of the bucket initiated before expire_before_ns. The
 * walk collects first and removes afterwards, since removal rewrites the
 * tree being walked. A caller repeats until fewer than max_items expire.
 */
static int apply_expire(struct mds_txn *t, struct mds_op *op)
{
	uint8_t(*ids)[MDS_BLOB_ID_LEN] = NULL;
	uint32_t max = op->blob.max_items ? op->blob.max_items : 1000, n = 0;
	struct mds_tree_iter it;
	struct mds_bucket b;
	uint64_t root;
	int rc;

	if (max > MDS_PARTS_MAX)
		return mds_status_set(&op->status, MDS_EINVAL, "max items %u is above %d", max,
				      MDS_PARTS_MAX);
	rc = mds_ns_bucket_lookup(t, op->bucket, &b, &op->status);
	if (rc)
		return rc;
	rc = root_get(t, b.id, &root, 0);
	if (rc == MDS_ENOTFOUND)
		return 0;
	if (rc)
		return mds_status_set(&op->status, rc, "cannot read uploads: %s", mds_strerror(rc));
	ids = malloc((size_t)max * sizeof(*ids));
	if (!ids)
		return mds_status_set(&op->status, MDS_ENOMEM, "out of memory expiring uploads");
	mds_tree_iter_init(&it, t, root);
	for (rc = mds_tree_iter_seek(&it, MDS_STR_NULL, 1); rc == 0 && n < max;
	     rc = mds_tree_iter_next(&it)) {
		if (it.rec.len % TREE_ITEM) {
			rc = MDS_ECORRUPT;
			break;
		}
		for (size_t i = 0; i < it.rec.len / TREE_ITEM && n < max; i++) {
			const uint8_t *item = (const uint8_t *)it.rec.p + i * TREE_ITEM;

			if (mds_be64_get(item) >= op->blob.expire_before_ns)
				break;   /* items are in initiation order */
			memcpy(ids[n++], item + 8, MDS_BLOB_ID_LEN);
		}
	}
	mds_tree_iter_release(&it);
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		struct upload u;

		rc = upload_get(t, ids[i], &u);
		if (rc == 0)
			rc = upload_remove(t, &u);
	}
	free(ids);
	if (rc)
		return mds_status_set(&op->status, rc, "cannot expire uploads: %s", mds_strerror(rc));
	op->blob_out.expired = n;
	return 0;
}

int mds_multipart_bucket_drop(struct mds_txn *t, uint64_t bucket_id)
{
	uint8_t k[9];
	uint64_t root;
	int rc = root_get(t, bucket_id, &root, 0);

	if (rc == MDS_ENOTFOUND)
		return 0;
	/* Remove the first upload in key order until none is left. */
	while (rc == 0) {
		struct mds_tree_iter it;
		uint8_t id[MDS_BLOB_ID_LEN];
		struct upload u;

		mds_tree_iter_init(&it, t, root);
		rc = mds_tree_iter_seek(&it, MDS_STR_NULL, 1);
		if (rc == 0 && (it.rec.len < TREE_ITEM || it.rec.len % TREE_ITEM))
			rc = MDS_ECORRUPT;
		if (rc == 0)
			memcpy(id, it.rec.p + 8, MDS_BLOB_ID_LEN);
		mds_tree_iter_release(&it);
		if (rc == 0)
			rc = upload_get(t, id, &u);
		if (rc == 0)
			rc = upload_remove(t, &u);
	}
	if (rc != MDS_ENOTFOUND)
		return rc;
	return mds_kv_del(t, MDS_DB_UPLOADS, rkey(k, bucket_id));
}

int mds_multipart_apply(struct mds_txn *t, struct mds_op *op)
{
	switch (op->kind) {
	case MDS_OP_CREATE_MULTIPART:
		return apply_create(t, op);
	case MDS_OP_UPLOAD_PART:
		return apply_part(t, op);
	case MDS_OP_COMPLETE_MULTIPART:
		return apply_complete(t, op);
	case MDS_OP_ABORT_MULTIPART:
		return apply_abort(t, op);
	case MDS_OP_EXPIRE_MULTIPART:
		return apply_expire(t, op);
	default:
		break;
	}
	return mds_status_set(&op->status, MDS_EINVAL, "op kind %d is not a multipart op",
			      (int)op->kind);
}

/* ---- reads ------------------------------------------------------------------ */

int mds_list_parts(struct mds_reader *r, struct mds_str bucket, struct mds_str name,
		   struct mds_str upload_id, uint32_t part_marker, uint32_t max_parts,
		   mds_part_emit_fn emit, void *arg, uint32_t *next_marker, int *truncated,
		   struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	uint8_t id[MDS_BLOB_ID_LEN], k[MDS_BLOB_ID_LEN + 4];
	char q[MDS_QUOTE_MAX], q2[MDS_QUOTE_MAX];
	struct mds_kcur *c = NULL;
	struct mds_str ck, cv;
	struct mds_bucket b;
	struct upload u;
	uint32_t n = 0;
	int rc;

	*truncated = 0;
	*next_marker = 0;
	if (max_parts == 0)
		max_parts = MDS_LIST_PARTS_MAX;
	if (max_parts > MDS_LIST_PARTS_MAX)
		return mds_status_set(st, MDS_EINVAL, "max-parts %u is above %d", max_parts,
				      MDS_LIST_PARTS_MAX);
	rc = mds_validate_object_name(name, st);
	if (rc == 0)
		rc = mds_ns_bucket_lookup(t, bucket, &b, st);
	if (rc)
		return rc;
	rc = mds_blob_id_parse(upload_id, id) ? MDS_ENOTFOUND : upload_get(t, id, &u);
	if (rc == 0 && (u.bucket_id != b.id || !mds_str_eq(u.name, name)))
		rc = MDS_ENOTFOUND;
	if (rc == MDS_ENOTFOUND)
		return mds_status_set(st, rc, "no upload '%s' for key '%s'", mds_quote(q, upload_id),
				      mds_quote(q2, name));
	if (rc)
		return mds_status_set(st, rc, "cannot read upload: %s", mds_strerror(rc));
	if (part_marker >= MDS_PARTS_MAX)
		return 0;
	rc = mds_kv_cursor_open(t, MDS_DB_PARTS, &c);
	if (rc)
		return mds_status_set(st, rc, "cannot list parts: %s", mds_strerror(rc));
	for (rc = mds_kv_seek(c, pkey(k, id, part_marker + 1), &ck, &cv); rc == 0;
	     rc = mds_kv_next(c, &ck, &cv)) {
		const uint8_t *kp = (const uint8_t *)ck.p;
		struct part_rec p;
		struct mds_part out;

		if (ck.len != sizeof(k) || memcmp(kp, id, MDS_BLOB_ID_LEN) != 0)
			break;
		if (n == max_parts) {
			*truncated = 1;
			break;
		}
		rc = part_decode(cv, &p);
		if (rc)
			break;
		out.number = (uint32_t)kp[16] << 24 | (uint32_t)kp[17] << 16 | (uint32_t)kp[18] << 8 |
			     kp[19];
		out.size = p.size;
		out.mtime_ns = p.mtime_ns;
		out.etag = p.etag;
		out.locator = p.locator;
		rc = emit(arg, &out);
		if (rc)
			break;
		*next_marker = out.number;
		n++;
	}
	mds_kv_cursor_close(c);
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	if (rc < 0 && rc >= MDS_ERR_FIRST && st && st->code == 0)
		mds_status_set(st, rc, "cannot list parts: %s", mds_strerror(rc));
	return rc;
}

/* The smallest string greater than every string starting with @p (UTF-8: no 0xff bytes). */
static size_t prefix_successor(char *out, struct mds_str p)
{
	size_t n = p.len;

	memcpy(out, p.p, n);
	while (n > 0 && (uint8_t)out[n - 1] == 0xff)
		n--;
	if (n > 0)
		out[n - 1] = (char)((uint8_t)out[n - 1] + 1);
	return n;
}

static int uploads_emit_key(const struct mds_uploads_params *p, struct mds_str name,
			    struct mds_str rec, int skip_marker, mds_upload_emit_fn emit, void *arg,
			    struct mds_uploads_result *res, uint32_t max, int *stop)
{
	uint8_t marker[MDS_BLOB_ID_LEN];
	size_t start = 0, items = rec.len / TREE_ITEM;
	int rc, filter = 0;

	if (rec.len % TREE_ITEM)
		return MDS_ECORRUPT;
	if (skip_marker && mds_blob_id_parse(p->upload_id_marker, marker) == 0) {
		size_t i;

		/* After the marker's upload in initiation order; a marker that is
		 * not (or no longer) there keeps the uploads whose id sorts after it,
		 * as S3 words it. */
		for (i = 0; i < items; i++)
			if (memcmp(rec.p + i * TREE_ITEM + 8, marker, MDS_BLOB_ID_LEN) == 0)
				break;
		if (i < items)
			start = i + 1;
		else
			filter = 1;
	}
	for (size_t i = start; i < items; i++) {
		const uint8_t *it = (const uint8_t *)rec.p + i * TREE_ITEM;
		struct mds_upload_entry e;

		if (filter && memcmp(it + 8, marker, MDS_BLOB_ID_LEN) <= 0)
			continue;
		if (res->count == max) {
			res->truncated = 1;
			*stop = 1;
			return 0;
		}
		memset(&e, 0, sizeof(e));
		e.name = name;
		e.initiated_ns = mds_be64_get(it);
		mds_blob_id_hex(e.upload_id, it + 8);
		rc = emit(arg, &e);
		if (rc)
			return rc;
		res->count++;
		snprintf(res->next_key_marker, sizeof(res->next_key_marker), "%.*s", (int)name.len,
			 name.p);
		memcpy(res->next_upload_id_marker, e.upload_id, sizeof(e.upload_id));
	}
	return 0;
}

int mds_list_multipart_uploads(struct mds_reader *r, const struct mds_uploads_params *p,
			       mds_upload_emit_fn emit, void *arg, struct mds_uploads_result *res,
			       struct mds_status *st)
{
	struct mds_txn *t = mds_reader_txn(r);
	char seek_buf[MDS_OBJECT_NAME_MAX], last_cp[MDS_OBJECT_NAME_MAX];
	size_t last_cp_len = 0;
	struct mds_tree_iter it;
	struct mds_bucket b;
	struct mds_str target;
	uint32_t max = p->max_uploads ? p->max_uploads : MDS_LIST_S3_MAX;
	uint64_t root;
	int rc, stop = 0, inclusive = 1, skip_marker = 0;

	memset(res, 0, sizeof(*res));
	if (max > MDS_LIST_S3_MAX)
		return mds_status_set(st, MDS_EINVAL, "max-uploads %u is above %d", max, MDS_LIST_S3_MAX);
	if (p->prefix.len > MDS_OBJECT_NAME_MAX || p->key_marker.len > MDS_OBJECT_NAME_MAX ||
	    p->delimiter.len > MDS_OBJECT_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL, "prefix, delimiter or key-marker is too long");
	rc = mds_ns_bucket_lookup(t, p->bucket, &b, st);
	if (rc)
		return rc;
	rc = root_get(t, b.id, &root, 0);
	if (rc == MDS_ENOTFOUND)
		return 0;
	if (rc)
		return mds_status_set(st, rc, "cannot list uploads: %s", mds_strerror(rc));
	/* Start at max(prefix, key-marker). */
	target = p->prefix;
	if (p->key_marker.len && mds_str_cmp(p->key_marker, p->prefix) >= 0) {
		target = p->key_marker;
		if (p->upload_id_marker.len)
			skip_marker = 1;
		else
			inclusive = 0;
	}
	mds_tree_iter_init(&it, t, root);
	for (rc = mds_tree_iter_seek(&it, target, inclusive); rc == 0 && !stop;) {
		struct mds_str name = { it.name, it.name_len };
		const char *d = NULL;

		if (!mds_str_has_prefix(name, p->prefix))
			break;
		if (p->delimiter.len) {
			d = memmem(name.p + p->prefix.len, name.len - p->prefix.len, p->delimiter.p,
				   p->delimiter.len);
		}
		if (d) {
			struct mds_str cp = { name.p, (size_t)(d - name.p) + p->delimiter.len };
			struct mds_upload_entry e;

			if (!(last_cp_len == cp.len && memcmp(last_cp, cp.p, cp.len) == 0) &&
			    !(p->key_marker.len && mds_str_cmp(cp, p->key_marker) <= 0 &&
			      mds_str_has_prefix(p->key_marker, cp))) {
				if (res->count == max) {
					res->truncated = 1;
					break;
				}
				memset(&e, 0, sizeof(e));
				e.is_prefix = 1;
				e.name = cp;
				rc = emit(arg, &e);
				if (rc)
					break;
				res->count++;
				snprintf(res->next_key_marker, sizeof(res->next_key_marker), "%.*s",
					 (int)cp.len, cp.p);
				res->next_upload_id_marker[0] = '\0';
			}
			memcpy(last_cp, cp.p, cp.len);
			last_cp_len = cp.len;
			/* Jump past everything under the common prefix. */
			rc = mds_tree_iter_seek(&it,
						(struct mds_str){ seek_buf,
								  prefix_successor(seek_buf, cp) },
						1);
			continue;
		}
		rc = uploads_emit_key(p, name, it.rec,
				      skip_marker && mds_str_eq(name, p->key_marker), emit, arg, res,
				      max, &stop);
		if (rc || stop)
			break;
		rc = mds_tree_iter_next(&it);
	}
	mds_tree_iter_release(&it);
	if (rc == MDS_ENOTFOUND)
		rc = 0;
	if (!res->truncated) {
		res->next_key_marker[0] = '\0';
		res->next_upload_id_marker[0] = '\0';
	}
	if (rc < 0 && rc >= MDS_ERR_FIRST && st && st->code == 0)
		mds_status_set(st, rc, "cannot list uploads: %s", mds_strerror(rc));
	return rc;
}

/* ---- check ---------------------------------------------------------------- */

long mds_multipart_check(struct mds_txn *t, mds_check_report_fn report, void *arg,
			 uint64_t *tree_entries)
{
	struct mds_kcur *c = NULL;
	struct mds_str k, v;
	uint64_t uploads = 0, listed = 0;
	uint8_t last[MDS_BLOB_ID_LEN];
	int have_last = 0, last_ok = 0;
	long problems = 0;
	char line[256];
	int rc;

#define PROBLEM(...)                                              \
	do {                                                      \
		snprintf(line, sizeof(line), __VA_ARGS__);        \
		problems++;                                       \
		if (report)                                       \
			report(arg, line);                        \
	} while (0)

	*tree_entries = 0;
	rc = mds_kv_cursor_open(t, MDS_DB_UPLOADS, &c);
	if (rc)
		return rc;
	for (rc = mds_kv_first(c, &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v)) {
		struct mds_tree_iter it;
		int irc;

		if (k.len == 1 + MDS_BLOB_ID_LEN && k.p[0] == 'u') {
			struct upload u;

			uploads++;
			if (upload_decode(v, (const uint8_t *)k.p + 1, &u))
				PROBLEM("upload record does not decode");
			continue;
		}
		if (k.len != 9 || k.p[0] != 'r' || v.len != 8) {
			PROBLEM("uploads: malformed key or value");
			continue;
		}
		{
			struct mds_bucket b, none;

			memset(&none, 0, sizeof(none));
			if (mds_blob_bucket_by_id(t, mds_be64_get((const uint8_t *)k.p + 1), &b, &none))
				PROBLEM("uploads of bucket id %llu outlive their bucket",
					(unsigned long long)mds_be64_get((const uint8_t *)k.p + 1));
		}
		mds_tree_iter_init(&it, t, mds_le64_get((const uint8_t *)v.p));
		for (irc = mds_tree_iter_seek(&it, MDS_STR_NULL, 1); irc == 0; irc = mds_tree_iter_next(&it)) {
			struct mds_str name = { it.name, it.name_len };

			if (it.rec.len == 0 || it.rec.len % TREE_ITEM) {
				PROBLEM("upload tree entry of bad length %zu", it.rec.len);
				continue;
			}
			for (size_t i = 0; i < it.rec.len / TREE_ITEM; i++) {
				struct upload u;
				char hex[MDS_BLOB_ID_HEX + 1];
				const uint8_t *id = (const uint8_t *)it.rec.p + i * TREE_ITEM + 8;

				listed++;
				mds_blob_id_hex(hex, id);
				if (upload_get(t, id, &u) != 0 || !mds_str_eq(u.name, name) ||
				    u.bucket_id != mds_be64_get((const uint8_t *)k.p + 1))
					PROBLEM("upload %s is listed in the upload tree but does not exist there", hex);
			}
		}
		*tree_entries += it.entries_loaded;
		mds_tree_iter_release(&it);
		if (irc != MDS_ENOTFOUND)
			PROBLEM("upload tree walk failed: %s", mds_strerror(irc));
	}
	mds_kv_cursor_close(c);
	if (rc != MDS_ENOTFOUND)
		return rc;
	if (uploads != listed)
		PROBLEM("%llu uploads stored but %llu listed in upload trees",
			(unsigned long long)uploads, (unsigned long long)listed);

	/* Every part belongs to a live upload. */
	rc = mds_kv_cursor_open(t, MDS_DB_PARTS, &c);
	if (rc)
		return rc;
	for (rc = mds_kv_first(c, &k, &v); rc == 0; rc = mds_kv_next(c, &k, &v)) {
		struct upload u;

		if (k.len != MDS_BLOB_ID_LEN + 4) {
			PROBLEM("parts: key of %zu bytes", k.len);
			continue;
		}
		if (!have_last || memcmp(last, k.p, MDS_BLOB_ID_LEN) != 0) {
			memcpy(last, k.p, MDS_BLOB_ID_LEN);
			have_last = 1;
			last_ok = upload_get(t, last, &u) == 0;
			if (!last_ok) {
				char hex[MDS_BLOB_ID_HEX + 1];

				mds_blob_id_hex(hex, last);
				PROBLEM("parts of upload %s outlive their upload", hex);
			}
		}
	}
	mds_kv_cursor_close(c);
	if (rc != MDS_ENOTFOUND)
		return rc;
#undef PROBLEM
	return problems;
}
