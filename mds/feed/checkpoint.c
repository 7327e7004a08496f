/*
 * checkpoint.c - C2SP tlog-checkpoint bodies: format, strict parse, open a
 * signed checkpoint, and sign only checkpoints that extend the last one.
 *
 * A checkpoint text is "origin\nsize\nbase64(root)\n" followed by optional
 * extension lines. Every value has exactly one spelling (decimal without
 * leading zeros, canonical base64), so equal checkpoints are equal bytes.
 *
 * What must stay true: mds_checkpoint_sign() is the only way this code signs
 * a checkpoint, and it never signs a tree that is not an extension of the
 * last signed tree (a shrinking size, a second root for one size, or a
 * failing consistency proof is refused before any key is touched).
 */
#include "note.h"

#include <string.h>

#include <openssl/crypto.h>

#include "feed_util.h"
#include "merkle.h"

#define ROOT_B64_LEN MDS_FEED_B64_LEN(32)

static int origin_check(const char *origin, size_t len,
	struct mds_status *st)
{
	if (len == 0 || len > MDS_CHECKPOINT_ORIGIN_MAX)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint origin must have 1-%d bytes",
			MDS_CHECKPOINT_ORIGIN_MAX);
	if (memchr(origin, '\n', len) || !mds_feed_text_ok(origin, len))
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint origin is not one line of utf-8 text");
	return 0;
}

/* Extension lines: each non-empty and ending in "\n", valid text. */
static int ext_check(const char *ext, size_t len, struct mds_status *st)
{
	if (len > MDS_CHECKPOINT_EXT_MAX)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint extension lines exceed %d bytes",
			MDS_CHECKPOINT_EXT_MAX);
	if (len && ext[len - 1] != '\n')
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint extension lines must end with a newline");
	for (size_t i = 0; i < len; i++)
		if (ext[i] == '\n' && (i == 0 || ext[i - 1] == '\n'))
			return mds_status_set(st, MDS_EINVAL,
				"checkpoint has an empty extension line");
	if (!mds_feed_text_ok(ext, len))
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint extension lines are not utf-8 text");
	return 0;
}

int mds_checkpoint_format(const struct mds_checkpoint *cp, char *buf,
	size_t cap, size_t *len_out, struct mds_status *st)
{
	size_t olen = strnlen(cp->origin, sizeof(cp->origin));
	size_t elen = strnlen(cp->ext, sizeof(cp->ext));
	int n, rc;

	*len_out = 0;
	rc = origin_check(cp->origin, olen, st);
	if (rc)
		return rc;
	rc = ext_check(cp->ext, elen, st);
	if (rc)
		return rc;
	if (cp->size > MDS_MERKLE_SIZE_MAX)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint size %llu exceeds 2^63-1",
			(unsigned long long)cp->size);
	n = snprintf(buf, cap, "%s\n%llu\n", cp->origin,
		(unsigned long long)cp->size);
	if (n < 0 || (size_t)n + ROOT_B64_LEN + 1 + elen + 1 > cap)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint does not fit in %zu bytes", cap);
	mds_feed_b64_encode(cp->root, 32, buf + n);
	n += ROOT_B64_LEN;
	buf[n++] = '\n';
	memcpy(buf + n, cp->ext, elen);
	n += (int)elen;
	buf[n] = '\0';
	*len_out = (size_t)n;
	return 0;
}

/* Parse a decimal size: no sign, no leading zeros, <= 2^63 - 1. */
static int size_parse(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 19 || (len > 1 && p[0] == '0'))
		return MDS_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return MDS_EINVAL;
		/* 19 digits fit in uint64_t; check the int64 bound below. */
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > MDS_MERKLE_SIZE_MAX)
		return MDS_EINVAL;
	*out = v;
	return 0;
}

int mds_checkpoint_parse(const char *text, size_t len,
	struct mds_checkpoint *cp, struct mds_status *st)
{
	const char *end = text + len, *l1, *l2, *l3;
	int rc;

	memset(cp, 0, sizeof(*cp));
	l1 = memchr(text, '\n', len);
	if (!l1)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint has no origin line");
	rc = origin_check(text, (size_t)(l1 - text), st);
	if (rc)
		return rc;
	l2 = memchr(l1 + 1, '\n', (size_t)(end - l1 - 1));
	if (!l2)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint has no size line");
	if (size_parse(l1 + 1, (size_t)(l2 - l1 - 1), &cp->size) != 0)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint size is not a decimal number without "
			"leading zeros up to 2^63-1");
	l3 = memchr(l2 + 1, '\n', (size_t)(end - l2 - 1));
	if (!l3)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint has no root hash line");
	if (mds_feed_b64_decode(l2 + 1, (size_t)(l3 - l2 - 1), cp->root,
		32) != 0)
		return mds_status_set(st, MDS_EINVAL,
			"checkpoint root is not canonical base64 of 32 bytes");
	rc = ext_check(l3 + 1, (size_t)(end - l3 - 1), st);
	if (rc)
		return rc;
	memcpy(cp->origin, text, (size_t)(l1 - text));
	memcpy(cp->ext, l3 + 1, (size_t)(end - l3 - 1));
	return 0;
}

int mds_checkpoint_open(const char *note, size_t len, const char *origin,
	const struct mds_note_verifier *roster, size_t n_roster,
	struct mds_checkpoint *cp, struct mds_status *st)
{
	size_t text_len;
	int rc;

	memset(cp, 0, sizeof(*cp));
	rc = mds_note_verify(note, len, roster, n_roster, &text_len, NULL, st);
	if (rc)
		return rc;
	rc = mds_checkpoint_parse(note, text_len, cp, st);
	if (rc)
		return rc;
	if (strcmp(cp->origin, origin) != 0) {
		rc = mds_status_set(st, MDS_EINVAL,
			"checkpoint origin '%s' is not the expected '%s'",
			cp->origin, origin);
		memset(cp, 0, sizeof(*cp));
		return rc;
	}
	return 0;
}

int mds_checkpoint_sign(const struct mds_checkpoint *next,
	const struct mds_checkpoint *last,
	const uint8_t proof[][32], size_t n_proof,
	struct mds_note_signer *const *signers, size_t n_signers,
	char **out, size_t *out_len, struct mds_status *st)
{
	char text[MDS_CHECKPOINT_TEXT_MAX + 1];
	size_t len;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = mds_checkpoint_format(next, text, sizeof(text), &len, st);
	if (rc)
		return rc;
	if (last) {
		if (strcmp(last->origin, next->origin) != 0)
			return mds_status_set(st, MDS_EINVAL,
				"checkpoint origin '%s' differs from the last "
				"signed origin '%s'", next->origin,
				last->origin);
		if (next->size < last->size)
			return mds_status_set(st, MDS_EDENIED,
				"refusing to sign size %llu after size %llu: "
				"the log would shrink",
				(unsigned long long)next->size,
				(unsigned long long)last->size);
		if (next->size == last->size &&
		    CRYPTO_memcmp(next->root, last->root, 32) != 0)
			return mds_status_set(st, MDS_EDENIED,
				"refusing to sign a second root for size %llu",
				(unsigned long long)next->size);
		rc = mds_merkle_verify_consistency(last->size, next->size,
			last->root, next->root, proof, n_proof);
		if (rc == MDS_ENOMEM)
			return mds_status_set(st, rc,
				"out of memory checking size %llu",
				(unsigned long long)next->size);
		if (rc)
			return mds_status_set(st, MDS_EDENIED,
				"refusing to sign size %llu: not consistent "
				"with the last signed size %llu",
				(unsigned long long)next->size,
				(unsigned long long)last->size);
	}
	return mds_note_sign(text, len, signers, n_signers, out, out_len, st);
}
