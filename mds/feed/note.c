/*
 * note.c - C2SP signed notes: signing with one or more Ed25519 keys and
 * strict verification against a roster of trusted keys.
 *
 * A note is text, an empty line, and signature lines. The text is exactly
 * the signed bytes (its final "\n" included). We forbid empty lines inside
 * the text (C2SP's checkpoint bodies never have any), so the first "\n\n" of
 * a note is its separator: there is one way to split any note.
 *
 * What must stay true: nothing is signed or accepted that the verifier here
 * would reject; verification reads only inside [note, note + len) and never
 * asserts on input; a roster key whose signature fails makes the whole note
 * fail, whatever else signed it.
 */
#include "note.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "feed_util.h"

#define EM_DASH "\xe2\x80\x94"
#define SIG_PREFIX EM_DASH " "
#define SIG_PREFIX_LEN 4
#define SIG_RAW_LEN (4 + MDS_NOTE_SIG_LEN)
/* Base64 of a signature line from an unknown algorithm: bound it anyway. */
#define SIG_B64_MAX 1024

static int verify_raw(const uint8_t pub[MDS_NOTE_PUBKEY_LEN],
	const uint8_t *sig, const void *msg, size_t len);

/* Check a note text: non-empty lines, each ending in "\n", bounded count.
 * Characters are checked separately. */
static int text_check(const char *text, size_t len, struct mds_status *st)
{
	size_t lines = 0;

	if (len == 0 || text[len - 1] != '\n')
		return mds_status_set(st, MDS_EINVAL,
			"note text must be non-empty and end with a newline");
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n')
			continue;
		if (i == 0 || text[i - 1] == '\n')
			return mds_status_set(st, MDS_EINVAL,
				"note text has an empty line %zu", lines + 1);
		if (++lines > MDS_NOTE_MAX_TEXT_LINES)
			return mds_status_set(st, MDS_EINVAL,
				"note text has more than %d lines",
				MDS_NOTE_MAX_TEXT_LINES);
	}
	return 0;
}

int mds_note_sign(const char *text, size_t text_len,
	struct mds_note_signer *const *signers, size_t n_signers,
	char **out, size_t *out_len, struct mds_status *st)
{
	struct mds_note_verifier v[MDS_NOTE_MAX_SIGS];
	EVP_MD_CTX *ctx = NULL;
	char *buf = NULL;
	size_t cap, pos;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (n_signers == 0 || n_signers > MDS_NOTE_MAX_SIGS)
		return mds_status_set(st, MDS_EINVAL,
			"cannot sign a note with %zu keys: use 1-%d", n_signers,
			MDS_NOTE_MAX_SIGS);
	rc = text_check(text, text_len, st);
	if (rc)
		return rc;
	if (!mds_feed_text_ok(text, text_len))
		return mds_status_set(st, MDS_EINVAL,
			"note text is not utf-8 without control characters");
	cap = text_len + 1;
	for (size_t i = 0; i < n_signers; i++) {
		mds_note_signer_verifier(signers[i], &v[i]);
		for (size_t j = 0; j < i; j++)
			if (v[j].key_id == v[i].key_id &&
			    !strcmp(v[j].name, v[i].name))
				return mds_status_set(st, MDS_EINVAL,
					"key '%s' given twice", v[i].name);
		cap += SIG_PREFIX_LEN + strlen(v[i].name) + 1 +
			MDS_FEED_B64_LEN(SIG_RAW_LEN) + 1;
	}
	if (cap > MDS_NOTE_MAX_LEN)
		return mds_status_set(st, MDS_EINVAL,
			"signed note would exceed %d bytes", MDS_NOTE_MAX_LEN);
	buf = malloc(cap + 1);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		rc = mds_status_set(st, MDS_ENOMEM,
			"cannot allocate a signed note");
		goto out_free;
	}
	memcpy(buf, text, text_len);
	buf[text_len] = '\n';
	pos = text_len + 1;
	for (size_t i = 0; i < n_signers; i++) {
		uint8_t raw[SIG_RAW_LEN];
		size_t siglen = MDS_NOTE_SIG_LEN;
		size_t nl = strlen(v[i].name);

		raw[0] = (uint8_t)(v[i].key_id >> 24);
		raw[1] = (uint8_t)(v[i].key_id >> 16);
		raw[2] = (uint8_t)(v[i].key_id >> 8);
		raw[3] = (uint8_t)v[i].key_id;
		/* Ed25519 is one-shot: no digest, sign the whole text. */
		if (EVP_MD_CTX_reset(ctx) != 1 ||
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL,
			mds_feed_signer_pkey(signers[i])) != 1 ||
		    EVP_DigestSign(ctx, raw + 4, &siglen,
			(const unsigned char *)text, text_len) != 1 ||
		    siglen != MDS_NOTE_SIG_LEN) {
			rc = mds_status_set(st, MDS_EINTERNAL,
				"cannot sign with key '%s': %s", v[i].name,
				mds_feed_ossl_error());
			goto out_free;
		}
		/* Publishing a bad signature would look like forgery to
		 * every subscriber, and OpenSSL 3.0 does not report every
		 * failed allocation inside Ed25519: check it here. */
		if (verify_raw(v[i].pubkey, raw + 4, text, text_len) != 1) {
			rc = mds_status_set(st, MDS_EINTERNAL,
				"signature by key '%s' fails to verify; "
				"nothing signed", v[i].name);
			goto out_free;
		}
		memcpy(buf + pos, SIG_PREFIX, SIG_PREFIX_LEN);
		pos += SIG_PREFIX_LEN;
		memcpy(buf + pos, v[i].name, nl);
		pos += nl;
		buf[pos++] = ' ';
		mds_feed_b64_encode(raw, sizeof(raw), buf + pos);
		pos += MDS_FEED_B64_LEN(sizeof(raw));
		buf[pos++] = '\n';
	}
	buf[pos] = '\0';
	*out = buf;
	*out_len = pos;
	buf = NULL;
	rc = 0;
out_free:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* Decode base64 of unknown length (canonical, padded) into @out (cap
 * bytes); returns the length or -1. */
static long b64_decode_any(const char *in, size_t len, uint8_t *out,
	size_t cap)
{
	size_t want;

	if (len == 0 || len % 4)
		return -1;
	want = len / 4 * 3;
	if (in[len - 1] == '=')
		want--;
	if (in[len - 2] == '=')
		want--;
	if (want > cap || mds_feed_b64_decode(in, len, out, want) != 0)
		return -1;
	return (long)want;
}

/* One Ed25519 verification: 1 valid, 0 invalid, -1 no verdict (OpenSSL
 * failed, e.g. an allocation). */
static int verify_raw(const uint8_t pub[MDS_NOTE_PUBKEY_LEN],
	const uint8_t *sig, const void *msg, size_t len)
{
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *pkey;
	int ok = -1;

	ERR_clear_error();
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
		MDS_NOTE_PUBKEY_LEN);
	ctx = EVP_MD_CTX_new();
	if (!pkey || !ctx ||
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1)
		goto out_free;
	ok = EVP_DigestVerify(ctx, sig, MDS_NOTE_SIG_LEN, msg, len);
	if (ok < 0 || (ok == 0 && ERR_peek_error() != 0))
		ok = -1;
out_free:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

/* RFC 8032 section 7.1, TEST 2: a signature that must verify. */
static const uint8_t kat_pub[32] = {
	0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a,
	0xa7, 0x4d, 0x1b, 0x7e, 0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4,
	0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c,
};
static const uint8_t kat_sig[64] = {
	0x92, 0xa0, 0x09, 0xa9, 0xf0, 0xd4, 0xca, 0xb8, 0x72, 0x0e, 0x82,
	0x0b, 0x5f, 0x64, 0x25, 0x40, 0xa2, 0xb2, 0x7b, 0x54, 0x16, 0x50,
	0x3f, 0x8f, 0xb3, 0x76, 0x22, 0x23, 0xeb, 0xdb, 0x69, 0xda, 0x08,
	0x5a, 0xc1, 0xe4, 0x3e, 0x15, 0x99, 0x6e, 0x45, 0x8f, 0x36, 0x13,
	0xd0, 0xf1, 0x1d, 0x8c, 0x38, 0x7b, 0x2e, 0xae, 0xb4, 0x30, 0x2a,
	0xee, 0xb0, 0x0d, 0x29, 0x16, 0x12, 0xbb, 0x0c, 0x00,
};

/*
 * Verify @sig by @v over the note text. A "does not verify" from OpenSSL
 * 3.0's Ed25519 can also mean that an allocation failed inside it (it
 * returns 0 and queues no error; seen with test_alloc.c). A rejection
 * raises a forgery alarm, so it is confirmed first: a known-good signature
 * must verify and the note's signature must fail a second time; otherwise
 * the answer is "no verdict" (MDS_EINTERNAL), never MDS_EDENIED.
 */
static int sig_verify(const struct mds_note_verifier *v, const uint8_t *sig,
	const char *text, size_t text_len, struct mds_status *st)
{
	static const uint8_t kat_msg = 0x72;
	int ok = verify_raw(v->pubkey, sig, text, text_len);

	if (ok == 0 && verify_raw(kat_pub, kat_sig, &kat_msg, 1) == 1)
		ok = verify_raw(v->pubkey, sig, text, text_len);
	else if (ok == 0)
		ok = -1;
	if (ok < 0)
		return mds_status_set(st, MDS_EINTERNAL,
			"cannot verify with key '%s': %s", v->name,
			mds_feed_ossl_error());
	if (ok == 0)
		return mds_status_set(st, MDS_EDENIED,
			"signature by trusted key '%s+%08x' does not verify",
			v->name, v->key_id);
	return 0;
}

int mds_note_verify(const char *note, size_t len,
	const struct mds_note_verifier *roster, size_t n_roster,
	size_t *text_len_out, bool *verified, struct mds_status *st)
{
	bool seen[64] = { false };
	const char *sep, *p, *end = note + len;
	size_t text_len, n_sigs = 0, n_ok = 0;
	int rc;

	if (text_len_out)
		*text_len_out = 0;
	if (verified)
		for (size_t i = 0; i < n_roster; i++)
			verified[i] = false;
	if (n_roster > 64)
		return mds_status_set(st, MDS_EINVAL,
			"trust roster has %zu keys: at most 64", n_roster);
	if (len == 0 || len > MDS_NOTE_MAX_LEN)
		return mds_status_set(st, MDS_EINVAL,
			"note has %zu bytes: must have 1-%d", len,
			MDS_NOTE_MAX_LEN);
	if (!mds_feed_text_ok(note, len))
		return mds_status_set(st, MDS_EINVAL,
			"note is not utf-8 without control characters");
	sep = memmem(note, len, "\n\n", 2);
	if (!sep)
		return mds_status_set(st, MDS_EINVAL,
			"note has no empty line before its signatures");
	text_len = (size_t)(sep - note) + 1;
	rc = text_check(note, text_len, st);
	if (rc)
		return rc;
	p = sep + 2;
	if (p == end)
		return mds_status_set(st, MDS_EINVAL, "note has no signatures");
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *name, *sp;
		uint8_t raw[SIG_B64_MAX / 4 * 3];
		const struct mds_note_verifier *v = NULL;
		size_t name_len, ri = 0;
		uint32_t id;
		long n;

		if (!eol)
			return mds_status_set(st, MDS_EINVAL,
				"signature line %zu does not end with a "
				"newline", n_sigs + 1);
		if (++n_sigs > MDS_NOTE_MAX_SIGS)
			return mds_status_set(st, MDS_EINVAL,
				"note has more than %d signatures",
				MDS_NOTE_MAX_SIGS);
		if ((size_t)(eol - p) < SIG_PREFIX_LEN ||
		    memcmp(p, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
			return mds_status_set(st, MDS_EINVAL,
				"signature line %zu does not start with an em "
				"dash and a space", n_sigs);
		name = p + SIG_PREFIX_LEN;
		sp = memchr(name, ' ', (size_t)(eol - name));
		if (!sp || sp == name)
			return mds_status_set(st, MDS_EINVAL,
				"signature line %zu has no key name", n_sigs);
		name_len = (size_t)(sp - name);
		if ((size_t)(eol - sp - 1) > SIG_B64_MAX)
			return mds_status_set(st, MDS_EINVAL,
				"signature line %zu is too long", n_sigs);
		n = b64_decode_any(sp + 1, (size_t)(eol - sp - 1), raw,
			sizeof(raw));
		if (n < 4)
			return mds_status_set(st, MDS_EINVAL,
				"signature line %zu is not canonical base64 "
				"of a key id and a signature", n_sigs);
		id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
			(uint32_t)raw[2] << 8 | raw[3];
		for (ri = 0; ri < n_roster; ri++) {
			if (roster[ri].key_id == id &&
			    strlen(roster[ri].name) == name_len &&
			    !memcmp(roster[ri].name, name, name_len)) {
				v = &roster[ri];
				break;
			}
		}
		p = eol + 1;
		if (!v)
			continue;  /* not a key we trust: ignore */
		if (seen[ri])
			return mds_status_set(st, MDS_EINVAL,
				"note has two signatures by key '%s'", v->name);
		seen[ri] = true;
		if (n != SIG_RAW_LEN)
			return mds_status_set(st, MDS_EDENIED,
				"signature by trusted key '%s+%08x' has %ld "
				"bytes, not %d", v->name, v->key_id, n - 4,
				MDS_NOTE_SIG_LEN);
		rc = sig_verify(v, raw + 4, note, text_len, st);
		if (rc)
			return rc;
		n_ok++;
	}
	if (n_ok == 0)
		return mds_status_set(st, MDS_ENOTFOUND,
			"note has no signature by a trusted key");
	if (verified)
		for (size_t i = 0; i < n_roster; i++)
			verified[i] = seen[i];
	if (text_len_out)
		*text_len_out = text_len;
	return 0;
}
