/*
 * test_note.c - Ed25519 keys against RFC 8032 section 7.1 (tests 1-3), the
 * signed-note format against the published golang.org/x/mod/sumdb/note
 * example (Ed25519 is deterministic, so our note must match it byte for
 * byte), roster rules, strict rejection of malformed notes, checkpoints,
 * the refusal to sign a fork, and private key files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "feed_util.h"
#include "memstore.h"
#include "merkle.h"
#include "note.h"

static void unhex(const char *s, uint8_t *out)
{
	size_t n = strlen(s) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* ---- RFC 8032 section 7.1, TEST 1-3 ---- */

static const struct {
	const char *sk, *pk, *msg, *sig;
} rfc8032[] = {
	{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	  "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	  "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
	  "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
	  "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
};

static void test_rfc8032(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc8032) / sizeof(*rfc8032); i++) {
		struct mds_note_signer *k;
		struct mds_note_verifier v;
		uint8_t sk[32], pk[32], msg[2], sig[64], got[64];
		size_t mlen = strlen(rfc8032[i].msg) / 2, glen = sizeof(got);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		EVP_PKEY *pub;

		unhex(rfc8032[i].sk, sk);
		unhex(rfc8032[i].pk, pk);
		unhex(rfc8032[i].msg, msg);
		unhex(rfc8032[i].sig, sig);
		assert_int_equal(mds_note_signer_from_seed("rfc8032", sk, &k,
			NULL), 0);
		mds_note_signer_verifier(k, &v);
		assert_memory_equal(v.pubkey, pk, 32);
		/* The one-shot, NULL-digest signing the note code uses. */
		assert_non_null(ctx);
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL,
			mds_feed_signer_pkey(k)), 1);
		assert_int_equal(EVP_DigestSign(ctx, got, &glen, msg, mlen), 1);
		assert_int_equal(glen, 64);
		assert_memory_equal(got, sig, 64);
		pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
		assert_non_null(pub);
		assert_int_equal(EVP_MD_CTX_reset(ctx), 1);
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub),
			1);
		assert_int_equal(EVP_DigestVerify(ctx, sig, 64, msg, mlen), 1);
		sig[10] ^= 1;
		assert_int_equal(EVP_MD_CTX_reset(ctx), 1);
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub),
			1);
		assert_int_not_equal(EVP_DigestVerify(ctx, sig, 64, msg, mlen), 1);
		EVP_PKEY_free(pub);
		EVP_MD_CTX_free(ctx);
		mds_note_signer_free(k);
	}
}

/* ---- the published Go sumdb/note example ---- */

#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
/* The seed inside the example's PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK... */
#define PETER_SEED "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173"
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
#define PETER_TEXT \
	"If you think cryptography is the answer to your problem,\n" \
	"then you don't know what your problem is.\n"
#define PETER_NOTE PETER_TEXT "\n" \
	"\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZI" \
	"nNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

static void parse_vkey(const char *s, struct mds_note_verifier *v)
{
	struct mds_status st = { 0 };

	if (mds_note_verifier_parse(s, strlen(s), v, &st) != 0)
		fail_msg("cannot parse %s: %s", s, st.msg);
}

static void test_go_note_example(void **state)
{
	struct mds_note_verifier peter, enoch, v;
	struct mds_note_signer *k;
	uint8_t seed[32];
	char buf[MDS_NOTE_VKEY_MAX + 1], *note, *bad;
	size_t len, text_len;
	bool verified[2];

	(void)state;
	parse_vkey(PETER_VKEY, &peter);
	parse_vkey(ENOCH_VKEY, &enoch);
	assert_string_equal(peter.name, "PeterNeumann");
	assert_int_equal(peter.key_id, 0xc74f20a3);
	assert_int_equal(enoch.key_id, 0xaf0cfe78);
	unhex(PETER_SEED, seed);
	assert_int_equal(mds_note_signer_from_seed("PeterNeumann", seed, &k,
		NULL), 0);
	mds_note_signer_verifier(k, &v);
	assert_int_equal(mds_note_verifier_format(&v, buf, sizeof(buf)), 0);
	assert_string_equal(buf, PETER_VKEY);
	assert_int_equal(mds_note_sign(PETER_TEXT, strlen(PETER_TEXT), &k, 1,
		&note, &len, NULL), 0);
	assert_int_equal(len, strlen(PETER_NOTE));
	assert_string_equal(note, PETER_NOTE);

	struct mds_note_verifier roster[2] = { enoch, peter };

	assert_int_equal(mds_note_verify(note, len, roster, 2, &text_len,
		verified, NULL), 0);
	assert_int_equal(text_len, strlen(PETER_TEXT));
	assert_false(verified[0]);
	assert_true(verified[1]);
	assert_int_equal(mds_note_verify(note, len, &enoch, 1, NULL, NULL,
		NULL), MDS_ENOTFOUND);
	bad = strdup(note);
	assert_non_null(bad);
	bad[3] = 'Y';  /* "If You think" */
	assert_int_equal(mds_note_verify(bad, len, &peter, 1, NULL, NULL, NULL),
		MDS_EDENIED);
	free(bad);
	free(note);
	mds_note_signer_free(k);
}

static void test_verifier_parse_rejects(void **state)
{
	struct mds_note_verifier v;
	const char *vk = PETER_VKEY;
	size_t n = strlen(vk);
	static const char *const bad[] = {
		"PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"PeterNeumann+c74f20a3+AhpcZQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX",
		"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",
		"PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(mds_note_verifier_parse(bad[i], strlen(bad[i]),
			&v, NULL), MDS_EINVAL);
	/* Every proper substring of a good key is refused. */
	for (size_t i = 0; i <= n; i++)
		for (size_t j = i; j <= n; j++)
			if (i != 0 || j != n)
				assert_int_equal(mds_note_verifier_parse(vk + i,
					j - i, &v, NULL), MDS_EINVAL);
	assert_int_equal(mds_note_verifier_parse(vk, n, &v, NULL), 0);
	/* Found by fuzz_note: a NUL after a valid name prefix, where the key
	 * id is still right for the prefix, must not pass. */
	{
		char nul[128];

		memcpy(nul, "PeterNeumann\0", 13);
		memcpy(nul + 13, vk + 12, n - 12);
		assert_int_equal(mds_note_verifier_parse(nul, n + 1, &v, NULL),
			MDS_EINVAL);
	}
}

/* ---- roster rules and rotation ---- */

static struct mds_note_signer *gen(const char *name)
{
	struct mds_note_signer *k;

	assert_int_equal(mds_note_signer_generate(name, &k, NULL), 0);
	return k;
}

static char *sign1(const char *text, struct mds_note_signer *const *k,
	size_t n, size_t *len)
{
	char *note;

	assert_int_equal(mds_note_sign(text, strlen(text), k, n, &note, len,
		NULL), 0);
	return note;
}

static void test_roster_rules(void **state)
{
	struct mds_note_signer *a = gen("island-a"), *b = gen("island-a"),
		*c = gen("other");
	struct mds_note_signer *ab[2] = { a, b };
	struct mds_note_verifier va, vb, vc, roster[3];
	const char *text = "example.org/island-a\n5\nroot\n";
	struct mds_status st = { 0 };
	bool verified[3];
	char *note, *dup, *sigline;
	size_t len;

	(void)state;
	mds_note_signer_verifier(a, &va);
	mds_note_signer_verifier(b, &vb);
	mds_note_signer_verifier(c, &vc);
	/* Rotation: the old and the new key of one name both sign. */
	note = sign1(text, ab, 2, &len);
	roster[0] = va;
	assert_int_equal(mds_note_verify(note, len, roster, 1, NULL, verified,
		NULL), 0);
	assert_true(verified[0]);
	roster[0] = vb;
	assert_int_equal(mds_note_verify(note, len, roster, 1, NULL, NULL,
		NULL), 0);
	roster[0] = vc;
	assert_int_equal(mds_note_verify(note, len, roster, 1, NULL, NULL,
		&st), MDS_ENOTFOUND);
	assert_non_null(strstr(st.msg, "trusted"));
	roster[0] = va;
	roster[1] = vc;
	roster[2] = vb;
	assert_int_equal(mds_note_verify(note, len, roster, 3, NULL, verified,
		NULL), 0);
	assert_true(verified[0]);
	assert_false(verified[1]);
	assert_true(verified[2]);

	/* A trusted key whose signature fails rejects the note even though
	 * another trusted key signed it. Corrupt a's signature (first line). */
	dup = strdup(note);
	assert_non_null(dup);
	sigline = strstr(dup, "\n\n") + 2;
	{
		char *ch = &sigline[strlen("\xe2\x80\x94 island-a ") + 20];

		*ch = *ch == 'A' ? 'B' : 'A';
	}
	assert_int_equal(mds_note_verify(dup, len, roster, 3, NULL, NULL, &st),
		MDS_EDENIED);
	assert_non_null(strstr(st.msg, "island-a"));
	/* ... but if a is not trusted, its line is just ignored. */
	roster[0] = vb;
	assert_int_equal(mds_note_verify(dup, len, roster, 1, NULL, NULL,
		NULL), 0);
	free(dup);

	/* The same key signing twice is malformed. */
	{
		char *n2;
		size_t l2, tl = strlen(text), sl = len - tl - 1;

		n2 = malloc(len + sl + 1);
		assert_non_null(n2);
		memcpy(n2, note, len);
		memcpy(n2 + len, note + tl + 1, sl);
		n2[len + sl] = '\0';
		l2 = len + sl;
		assert_int_equal(mds_note_verify(n2, l2, &va, 1, NULL, NULL,
			NULL), MDS_EINVAL);
		free(n2);
	}
	/* Signing with one key twice is refused. */
	{
		struct mds_note_signer *aa[2] = { a, a };
		char *o;
		size_t ol;

		assert_int_equal(mds_note_sign(text, strlen(text), aa, 2, &o,
			&ol, NULL), MDS_EINVAL);
		assert_null(o);
	}
	free(note);
	mds_note_signer_free(a);
	mds_note_signer_free(b);
	mds_note_signer_free(c);
}

/* ---- malformed notes ---- */

static void expect_invalid(const char *note, const struct mds_note_verifier *v)
{
	struct mds_status st = { 0 };
	int rc = mds_note_verify(note, strlen(note), v, 1, NULL, NULL, &st);

	if (rc != MDS_EINVAL)
		fail_msg("note %s: got %d (%s), want MDS_EINVAL", note, rc,
			st.msg);
	assert_true(st.msg[0] != '\0');
}

static void test_malformed_notes(void **state)
{
	struct mds_note_verifier peter;
	const char *sig = "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
	char buf[8192];
	size_t len = strlen(PETER_NOTE);

	(void)state;
	parse_vkey(PETER_VKEY, &peter);
	assert_int_equal(mds_note_verify(PETER_NOTE, len, &peter, 1, NULL,
		NULL, NULL), 0);
	expect_invalid("", &peter);
	expect_invalid("\n", &peter);
	expect_invalid("\n\n", &peter);
	expect_invalid(PETER_TEXT, &peter);
	expect_invalid(PETER_TEXT "\n", &peter);
	/* No final newline after the signature. */
	snprintf(buf, sizeof(buf), "%s", PETER_NOTE);
	buf[len - 1] = '\0';
	expect_invalid(buf, &peter);
	/* Hyphen, or em dash without its space, instead of "— ". */
	expect_invalid(PETER_TEXT "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", &peter);
	expect_invalid(PETER_TEXT "\n\xe2\x80\x94PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", &peter);
	/* Empty name, missing signature, non-canonical or short base64. */
	expect_invalid(PETER_TEXT "\n\xe2\x80\x94  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", &peter);
	expect_invalid(PETER_TEXT "\n\xe2\x80\x94 PeterNeumann\n", &peter);
	expect_invalid(PETER_TEXT "\n\xe2\x80\x94 PeterNeumann \n", &peter);
	expect_invalid(PETER_TEXT "\n\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n", &peter);
	expect_invalid(PETER_TEXT "\n\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n", &peter);
	expect_invalid(PETER_TEXT "\n\xe2\x80\x94 PeterNeumann AAA=\n", &peter);
	/* An empty line among the signatures, or text after them. */
	snprintf(buf, sizeof(buf), "%s\n%s\n", PETER_TEXT, sig);
	expect_invalid(buf, &peter);
	/* An empty line inside the text. */
	snprintf(buf, sizeof(buf), "a\n\nb\n\n%s", sig);
	expect_invalid(buf, &peter);
	/* Control characters and invalid UTF-8 anywhere. */
	snprintf(buf, sizeof(buf), "a\rb\n\n%s", sig);
	expect_invalid(buf, &peter);
	snprintf(buf, sizeof(buf), "a\tb\n\n%s", sig);
	expect_invalid(buf, &peter);
	snprintf(buf, sizeof(buf), "a\xc0\xafz\n\n%s", sig);
	expect_invalid(buf, &peter);
	snprintf(buf, sizeof(buf), "a\xed\xa0\x80z\n\n%s", sig);
	expect_invalid(buf, &peter);
	snprintf(buf, sizeof(buf), "a\xe2\x80z\n\n%s", sig);
	expect_invalid(buf, &peter);
	/* Too many signatures (unknown ones count too) and text lines. */
	{
		size_t pos = (size_t)snprintf(buf, sizeof(buf), "%s\n", PETER_TEXT);

		for (int i = 0; i <= MDS_NOTE_MAX_SIGS; i++)
			pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos,
				"\xe2\x80\x94 k%d AAAAAA==\n", i);
		expect_invalid(buf, &peter);
		pos = 0;
		for (int i = 0; i <= MDS_NOTE_MAX_TEXT_LINES; i++)
			pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos,
				"l\n");
		snprintf(buf + pos, sizeof(buf) - pos, "\n%s", sig);
		expect_invalid(buf, &peter);
	}
	/* A note over the size limit. */
	{
		char *big = malloc(MDS_NOTE_MAX_LEN + 200);

		assert_non_null(big);
		memset(big, 'x', MDS_NOTE_MAX_LEN);
		big[0] = 'x';
		big[MDS_NOTE_MAX_LEN - 1] = '\n';
		snprintf(big + MDS_NOTE_MAX_LEN, 200, "\n%s", sig);
		expect_invalid(big, &peter);
		free(big);
	}
	/* Every truncation and every single-byte change of a good note is
	 * refused; none is accepted. */
	for (size_t i = 0; i < len; i++) {
		char tmp[512];

		assert_int_not_equal(mds_note_verify(PETER_NOTE, i, &peter, 1,
			NULL, NULL, NULL), 0);
		memcpy(tmp, PETER_NOTE, len);
		for (int bit = 0; bit < 8; bit++) {
			tmp[i] ^= (char)(1 << bit);
			assert_int_not_equal(mds_note_verify(tmp, len, &peter, 1,
				NULL, NULL, NULL), 0);
			tmp[i] ^= (char)(1 << bit);
		}
	}
}

/* ---- checkpoints ---- */

static void test_checkpoint_format_parse(void **state)
{
	struct mds_checkpoint cp = { 0 }, back;
	char buf[MDS_CHECKPOINT_TEXT_MAX + 1];
	size_t len;
	static const char *const bad[] = {
		"",
		"origin\n",
		"origin\n5\n",
		"\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n05\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n+5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n-5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n 5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n9223372036854775808\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
		"origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		"origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",
		"origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next",
		"origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
		"origin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\na\n\nb\n",
		"ori\tgin\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	};

	(void)state;
	strcpy(cp.origin, "island-a.example.org/feed");
	cp.size = 1234567;
	for (int i = 0; i < 32; i++)
		cp.root[i] = (uint8_t)i;
	assert_int_equal(mds_checkpoint_format(&cp, buf, sizeof(buf), &len,
		NULL), 0);
	assert_string_equal(buf, "island-a.example.org/feed\n1234567\n"
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	assert_int_equal(mds_checkpoint_parse(buf, len, &back, NULL), 0);
	assert_string_equal(back.origin, cp.origin);
	assert_int_equal(back.size, cp.size);
	assert_memory_equal(back.root, cp.root, 32);
	assert_string_equal(back.ext, "");
	/* Extension lines survive a round trip. */
	strcpy(cp.ext, "Timestamp: 1700000000\nwitness x\n");
	assert_int_equal(mds_checkpoint_format(&cp, buf, sizeof(buf), &len,
		NULL), 0);
	assert_int_equal(mds_checkpoint_parse(buf, len, &back, NULL), 0);
	assert_string_equal(back.ext, cp.ext);
	/* Limits: size 0 and 2^63 - 1 are fine. */
	{
		const char *t = "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

		assert_int_equal(mds_checkpoint_parse(t, strlen(t), &back, NULL),
			0);
		assert_int_equal(back.size, 0);
		t = "o\n9223372036854775807\n"
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

		assert_int_equal(mds_checkpoint_parse(t, strlen(t), &back, NULL),
			0);
		assert_int_equal(back.size, MDS_MERKLE_SIZE_MAX);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct mds_status st = { 0 };

		if (mds_checkpoint_parse(bad[i], strlen(bad[i]), &back, &st) !=
		    MDS_EINVAL)
			fail_msg("checkpoint %zu accepted: %s", i, bad[i]);
	}
	/* Format refuses what parse would refuse. */
	cp.ext[0] = '\0';
	cp.size = MDS_MERKLE_SIZE_MAX + 1;
	assert_int_equal(mds_checkpoint_format(&cp, buf, sizeof(buf), &len,
		NULL), MDS_EINVAL);
	cp.size = 1;
	strcpy(cp.origin, "two\nlines");
	assert_int_equal(mds_checkpoint_format(&cp, buf, sizeof(buf), &len,
		NULL), MDS_EINVAL);
	cp.origin[0] = '\0';
	assert_int_equal(mds_checkpoint_format(&cp, buf, sizeof(buf), &len,
		NULL), MDS_EINVAL);
	strcpy(cp.origin, "o");
	strcpy(cp.ext, "no newline");
	assert_int_equal(mds_checkpoint_format(&cp, buf, sizeof(buf), &len,
		NULL), MDS_EINVAL);
	cp.ext[0] = '\0';
	assert_int_equal(mds_checkpoint_format(&cp, buf, 20, &len, NULL),
		MDS_EINVAL);
}

static void test_checkpoint_sign_open(void **state)
{
	struct memstore m = { 0 };
	struct mds_merkle_store s = memstore_iface(&m);
	struct mds_note_signer *k = gen("island-a.example.org/feed");
	struct mds_note_verifier v;
	struct mds_checkpoint last = { 0 }, next = { 0 }, got;
	uint8_t proof[MDS_MERKLE_PROOF_MAX][32];
	struct mds_status st = { 0 };
	size_t np, len;
	char *note;

	(void)state;
	mds_note_signer_verifier(k, &v);
	for (uint64_t i = 0; i < 20; i++) {
		uint8_t lh[32];

		assert_int_equal(mds_merkle_hash_leaf(&i, sizeof(i), lh), 0);
		assert_int_equal(mds_merkle_append(&s, i, lh), 0);
	}
	strcpy(last.origin, "island-a.example.org/feed");
	last.size = 7;
	assert_int_equal(mds_merkle_root(&s, 7, last.root), 0);
	next = last;
	next.size = 20;
	assert_int_equal(mds_merkle_root(&s, 20, next.root), 0);
	assert_int_equal(mds_merkle_consistency_proof(&s, 7, 20, proof, &np), 0);

	/* First checkpoint ever, then an extension, then a heartbeat. */
	assert_int_equal(mds_checkpoint_sign(&last, NULL, NULL, 0, &k, 1, &note,
		&len, NULL), 0);
	free(note);
	assert_int_equal(mds_checkpoint_sign(&next, &last,
		(const uint8_t (*)[32])proof, np, &k, 1, &note, &len, &st), 0);
	assert_int_equal(mds_checkpoint_open(note, len,
		"island-a.example.org/feed", &v, 1, &got, NULL), 0);
	assert_int_equal(got.size, 20);
	assert_memory_equal(got.root, next.root, 32);
	assert_int_equal(mds_checkpoint_open(note, len, "island-b", &v, 1, &got,
		&st), MDS_EINVAL);
	assert_non_null(strstr(st.msg, "origin"));
	free(note);
	assert_int_equal(mds_checkpoint_sign(&next, &next, NULL, 0, &k, 1, &note,
		&len, NULL), 0);
	free(note);

	/* Forks are refused and nothing is signed. */
	note = (char *)1;
	assert_int_equal(mds_checkpoint_sign(&last, &next, NULL, 0, &k, 1, &note,
		&len, &st), MDS_EDENIED);
	assert_null(note);
	assert_non_null(strstr(st.msg, "shrink"));
	{
		struct mds_checkpoint forked = next;

		forked.root[0] ^= 1;
		assert_int_equal(mds_checkpoint_sign(&forked, &next, NULL, 0, &k,
			1, &note, &len, &st), MDS_EDENIED);
		assert_non_null(strstr(st.msg, "second root"));
		assert_int_equal(mds_checkpoint_sign(&forked, &last,
			(const uint8_t (*)[32])proof, np, &k, 1, &note, &len,
			&st), MDS_EDENIED);
		proof[1][5] ^= 1;
		assert_int_equal(mds_checkpoint_sign(&next, &last,
			(const uint8_t (*)[32])proof, np, &k, 1, &note, &len,
			&st), MDS_EDENIED);
		assert_int_equal(mds_checkpoint_sign(&next, &last, NULL, 0, &k,
			1, &note, &len, &st), MDS_EDENIED);
		strcpy(forked.origin, "elsewhere");
		assert_int_equal(mds_checkpoint_sign(&forked, &forked, NULL, 0, &k,
			1, &note, &len, &st), 0);
		free(note);
		assert_int_equal(mds_checkpoint_sign(&forked, &next, NULL, 0, &k,
			1, &note, &len, &st), MDS_EINVAL);
	}
	mds_note_signer_free(k);
	memstore_release(&m);
}

/* ---- key files ---- */

static void test_key_files(void **state)
{
	char dir[] = "/tmp/feed_keys_XXXXXX", path[256], other[256];
	struct mds_note_signer *k, *l;
	struct mds_note_verifier vk, vl;
	struct mds_status st = { 0 };
	struct stat sb;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/island.key", dir);
	snprintf(other, sizeof(other), "%s/garbage.key", dir);
	k = gen("island-a");
	assert_int_equal(mds_note_signer_save(k, path, &st), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(mds_note_signer_save(k, path, &st), MDS_EEXIST);
	assert_int_equal(mds_note_signer_load(path, "island-a", &l, &st), 0);
	mds_note_signer_verifier(k, &vk);
	mds_note_signer_verifier(l, &vl);
	assert_memory_equal(&vk, &vl, sizeof(vk));
	mds_note_signer_free(l);
	/* A loaded key under another name gets another key id. */
	assert_int_equal(mds_note_signer_load(path, "island-b", &l, &st), 0);
	mds_note_signer_verifier(l, &vl);
	assert_memory_equal(vk.pubkey, vl.pubkey, 32);
	assert_int_not_equal(vk.key_id, vl.key_id);
	mds_note_signer_free(l);
	assert_int_equal(mds_note_signer_load(path, "bad+name", &l, &st),
		MDS_EINVAL);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(mds_note_signer_load(path, "island-a", &l, &st),
		MDS_EDENIED);
	assert_non_null(strstr(st.msg, "chmod 600"));
	assert_null(l);
	f = fopen(other, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	assert_int_equal(chmod(other, 0600), 0);
	assert_int_equal(mds_note_signer_load(other, "island-a", &l, &st),
		MDS_EINVAL);
	assert_true(mds_note_signer_load("/nonexistent/x", "a", &l, &st) < 0);
	unlink(path);
	unlink(other);
	rmdir(dir);
	mds_note_signer_free(k);
	assert_int_equal(mds_note_signer_generate("", &k, NULL), MDS_EINVAL);
	assert_int_equal(mds_note_signer_generate("a b", &k, NULL), MDS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8032),
		cmocka_unit_test(test_go_note_example),
		cmocka_unit_test(test_verifier_parse_rejects),
		cmocka_unit_test(test_roster_rules),
		cmocka_unit_test(test_malformed_notes),
		cmocka_unit_test(test_checkpoint_format_parse),
		cmocka_unit_test(test_checkpoint_sign_open),
		cmocka_unit_test(test_key_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
