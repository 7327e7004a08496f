/*
 * key.c - Ed25519 signing keys and C2SP verifier keys for signed notes.
 *
 * A struct mds_note_signer holds an OpenSSL EVP_PKEY plus the name, key id
 * and raw public key derived from it once, at creation. It is never changed
 * after creation, so several threads may sign with it at once (each
 * signature uses its own EVP_MD_CTX).
 *
 * What must stay true: the key id is always computed from (name, public
 * key), never read from input without recomputing it; a private key file is
 * never readable by anyone but its owner.
 */
#include "note.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "feed_util.h"

struct mds_note_signer {
	char name[MDS_NOTE_NAME_MAX + 1];
	uint32_t key_id;
	uint8_t pubkey[MDS_NOTE_PUBKEY_LEN];
	EVP_PKEY *pkey;  /* owned */
};

/* Is @name[0..len) a valid key name? (NUL is not printable: a name with
 * an embedded NUL is refused.) */
static bool name_is_valid(const char *name, size_t len)
{
	if (len == 0 || len > MDS_NOTE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x21 || c > 0x7e || c == '+')
			return false;
	}
	return true;
}

bool mds_note_key_name_is_valid(const char *name)
{
	return name_is_valid(name, strnlen(name, MDS_NOTE_NAME_MAX + 1));
}

int mds_note_key_id(const char *name,
	const uint8_t pubkey[MDS_NOTE_PUBKEY_LEN], uint32_t *id_out)
{
	uint8_t buf[MDS_NOTE_NAME_MAX + 2 + MDS_NOTE_PUBKEY_LEN];
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t n = strnlen(name, MDS_NOTE_NAME_MAX);

	*id_out = 0;
	memcpy(buf, name, n);
	buf[n] = 0x0a;
	buf[n + 1] = 0x01;  /* algorithm: Ed25519 */
	memcpy(buf + n + 2, pubkey, MDS_NOTE_PUBKEY_LEN);
	/* Not SHA256(): in OpenSSL 3 it allocates and can fail silently. */
	if (EVP_Digest(buf, n + 2 + MDS_NOTE_PUBKEY_LEN, h, NULL,
		mds_feed_sha256(), NULL) != 1) {
		ERR_clear_error();
		return MDS_ENOMEM;
	}
	*id_out = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
		(uint32_t)h[2] << 8 | h[3];
	return 0;
}

/*
 * Sign a fixed message with @pkey and verify it with the raw public key
 * @pub. OpenSSL 3.0 can report a generated Ed25519 key as good although an
 * allocation failed while it derived the public half (seen with failure
 * injection in test_alloc.c); publishing that public key would make every
 * signature look forged to subscribers, so every key is checked once.
 */
static int self_test(EVP_PKEY *pkey, const uint8_t pub[MDS_NOTE_PUBKEY_LEN])
{
	static const unsigned char msg[] = "island mds key self-test\n";
	unsigned char sig[MDS_NOTE_SIG_LEN];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	int ok = 0;

	ctx = EVP_MD_CTX_new();
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
		MDS_NOTE_PUBKEY_LEN);
	if (!ctx || !pk)
		goto out_free;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg) - 1) != 1 ||
	    EVP_MD_CTX_reset(ctx) != 1 ||
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg) - 1) != 1)
		goto out_free;
	ok = 1;
out_free:
	EVP_PKEY_free(pk);
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Wrap @pkey (ownership transferred, freed on error) as a signer. */
static int signer_wrap(const char *name, EVP_PKEY *pkey,
	struct mds_note_signer **out, struct mds_status *st)
{
	struct mds_note_signer *k = NULL;
	size_t publen = MDS_NOTE_PUBKEY_LEN;
	int rc;

	*out = NULL;
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		rc = mds_status_set(st, MDS_EINVAL,
			"key '%s' is not an ed25519 key", name);
		goto out_free_pkey;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		rc = mds_status_set(st, MDS_ENOMEM,
			"cannot allocate key '%s'", name);
		goto out_free_pkey;
	}
	if (EVP_PKEY_get_raw_public_key(pkey, k->pubkey, &publen) != 1 ||
	    publen != MDS_NOTE_PUBKEY_LEN) {
		rc = mds_status_set(st, MDS_EINTERNAL,
			"cannot read public key of '%s': %s", name,
			mds_feed_ossl_error());
		goto out_free_k;
	}
	if (!self_test(pkey, k->pubkey)) {
		rc = mds_status_set(st, MDS_EINTERNAL,
			"key '%s' fails its sign/verify self-test: %s", name,
			mds_feed_ossl_error());
		goto out_free_k;
	}
	if (mds_note_key_id(name, k->pubkey, &k->key_id) != 0) {
		rc = mds_status_set(st, MDS_ENOMEM,
			"cannot compute the key id of '%s'", name);
		goto out_free_k;
	}
	strcpy(k->name, name);  /* length checked by the caller */
	k->pkey = pkey;
	*out = k;
	return 0;
out_free_k:
	free(k);
out_free_pkey:
	EVP_PKEY_free(pkey);
	return rc;
}

int mds_note_signer_generate(const char *name, struct mds_note_signer **out,
	struct mds_status *st)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	*out = NULL;
	if (!mds_note_key_name_is_valid(name))
		return mds_status_set(st, MDS_EINVAL,
			"invalid key name '%.*s': use 1-%d printable ascii "
			"characters other than '+'", MDS_NOTE_NAME_MAX, name,
			MDS_NOTE_NAME_MAX);
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_keygen(ctx, &pkey) != 1) {
		rc = mds_status_set(st, MDS_EINTERNAL,
			"cannot generate key '%s': %s", name,
			mds_feed_ossl_error());
		goto out_free_ctx;
	}
	rc = signer_wrap(name, pkey, out, st);
out_free_ctx:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int mds_note_signer_from_seed(const char *name, const uint8_t seed[32],
	struct mds_note_signer **out, struct mds_status *st)
{
	EVP_PKEY *pkey;

	*out = NULL;
	if (!mds_note_key_name_is_valid(name))
		return mds_status_set(st, MDS_EINVAL,
			"invalid key name '%.*s'", MDS_NOTE_NAME_MAX, name);
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	if (!pkey)
		return mds_status_set(st, MDS_EINTERNAL,
			"cannot import key '%s': %s", name,
			mds_feed_ossl_error());
	return signer_wrap(name, pkey, out, st);
}

int mds_note_signer_save(const struct mds_note_signer *k, const char *path,
	struct mds_status *st)
{
	char tmp[4096];
	FILE *f = NULL;
	int fd = -1, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return mds_status_set(st, MDS_EINVAL,
			"key file path '%s' is too long", path);
	if (access(path, F_OK) == 0)
		return mds_status_set(st, MDS_EEXIST,
			"key file '%s' exists already; remove it first to "
			"replace the key", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return mds_status_set(st, -errno,
			"cannot create key file '%s': %s", tmp, strerror(errno));
	/* The umask can only clear bits; make sure nothing else is set. */
	if (fchmod(fd, 0600) != 0) {
		rc = mds_status_set(st, -errno, "cannot chmod '%s': %s", tmp,
			strerror(errno));
		goto out_close;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = mds_status_set(st, -errno, "cannot open '%s': %s", tmp,
			strerror(errno));
		goto out_close;
	}
	fd = -1;
	if (PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = mds_status_set(st, MDS_EINTERNAL,
			"cannot write key '%s' to '%s': %s", k->name, tmp,
			mds_feed_ossl_error());
		goto out_close;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = mds_status_set(st, -errno, "cannot write '%s': %s", tmp,
			strerror(errno));
		goto out_close;
	}
	rc = fclose(f);
	f = NULL;
	if (rc != 0) {
		rc = mds_status_set(st, -errno, "cannot write '%s': %s", tmp,
			strerror(errno));
		goto out_unlink;
	}
	/* link() refuses to replace an existing file, unlike rename(). */
	if (link(tmp, path) != 0) {
		rc = mds_status_set(st, errno == EEXIST ? MDS_EEXIST : -errno,
			"cannot create key file '%s': %s", path,
			strerror(errno));
		goto out_unlink;
	}
	unlink(tmp);
	return 0;
out_close:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
out_unlink:
	unlink(tmp);
	return rc;
}

int mds_note_signer_load(const char *path, const char *name,
	struct mds_note_signer **out, struct mds_status *st)
{
	EVP_PKEY *pkey = NULL;
	struct stat sb;
	FILE *f;
	int rc;

	*out = NULL;
	if (!mds_note_key_name_is_valid(name))
		return mds_status_set(st, MDS_EINVAL,
			"invalid key name '%.*s'", MDS_NOTE_NAME_MAX, name);
	f = fopen(path, "re");
	if (!f)
		return mds_status_set(st, -errno,
			"cannot open key file '%s': %s", path, strerror(errno));
	if (fstat(fileno(f), &sb) != 0) {
		rc = mds_status_set(st, -errno, "cannot stat '%s': %s", path,
			strerror(errno));
		goto out_close;
	}
	if (sb.st_mode & 077) {
		rc = mds_status_set(st, MDS_EDENIED,
			"key file '%s' has mode %04o; run chmod 600 on it",
			path, (unsigned)(sb.st_mode & 07777));
		goto out_close;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!pkey) {
		rc = mds_status_set(st, MDS_EINVAL,
			"cannot read key file '%s' as a pem private key: %s",
			path, mds_feed_ossl_error());
		goto out_close;
	}
	rc = signer_wrap(name, pkey, out, st);
out_close:
	fclose(f);
	return rc;
}

EVP_PKEY *mds_feed_signer_pkey(const struct mds_note_signer *k)
{
	return k->pkey;
}

void mds_note_signer_free(struct mds_note_signer *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

void mds_note_signer_verifier(const struct mds_note_signer *k,
	struct mds_note_verifier *v)
{
	memset(v, 0, sizeof(*v));
	strcpy(v->name, k->name);
	v->key_id = k->key_id;
	memcpy(v->pubkey, k->pubkey, MDS_NOTE_PUBKEY_LEN);
}

int mds_note_verifier_format(const struct mds_note_verifier *v, char *buf,
	size_t cap)
{
	uint8_t raw[1 + MDS_NOTE_PUBKEY_LEN];
	size_t n;

	if (cap < MDS_NOTE_VKEY_MAX + 1 || !mds_note_key_name_is_valid(v->name))
		return MDS_EINVAL;
	raw[0] = 0x01;
	memcpy(raw + 1, v->pubkey, MDS_NOTE_PUBKEY_LEN);
	n = (size_t)snprintf(buf, cap, "%s+%08x+", v->name, v->key_id);
	mds_feed_b64_encode(raw, sizeof(raw), buf + n);
	buf[n + MDS_FEED_B64_LEN(sizeof(raw))] = '\0';
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int mds_note_verifier_parse(const char *s, size_t len,
	struct mds_note_verifier *v, struct mds_status *st)
{
	uint8_t raw[1 + MDS_NOTE_PUBKEY_LEN];
	const char *p1, *p2;
	size_t name_len;
	uint32_t id = 0;

	memset(v, 0, sizeof(*v));
	p1 = memchr(s, '+', len);
	if (!p1)
		return mds_status_set(st, MDS_EINVAL,
			"cannot parse verifier key: no '+' after the name");
	name_len = (size_t)(p1 - s);
	if (name_len == 0 || name_len > MDS_NOTE_NAME_MAX)
		return mds_status_set(st, MDS_EINVAL,
			"cannot parse verifier key: name must have 1-%d bytes",
			MDS_NOTE_NAME_MAX);
	if (!name_is_valid(s, name_len))
		return mds_status_set(st, MDS_EINVAL,
			"cannot parse verifier key: invalid name '%.*s'",
			(int)name_len, s);
	memcpy(v->name, s, name_len);
	v->name[name_len] = '\0';
	p2 = p1 + 1;
	if ((size_t)(s + len - p2) < 9 || p2[8] != '+')
		return mds_status_set(st, MDS_EINVAL,
			"cannot parse verifier key '%s': key id must be 8 "
			"lower-case hex digits", v->name);
	for (int i = 0; i < 8; i++) {
		int h = hex_value(p2[i]);

		if (h < 0)
			return mds_status_set(st, MDS_EINVAL,
				"cannot parse verifier key '%s': key id must "
				"be 8 lower-case hex digits", v->name);
		id = id << 4 | (uint32_t)h;
	}
	p2 += 9;
	if (mds_feed_b64_decode(p2, (size_t)(s + len - p2), raw,
		sizeof(raw)) != 0)
		return mds_status_set(st, MDS_EINVAL,
			"cannot parse verifier key '%s': key is not canonical "
			"base64 of 33 bytes", v->name);
	if (raw[0] != 0x01)
		return mds_status_set(st, MDS_EINVAL,
			"cannot parse verifier key '%s': algorithm %u is not "
			"ed25519 (1)", v->name, raw[0]);
	memcpy(v->pubkey, raw + 1, MDS_NOTE_PUBKEY_LEN);
	if (mds_note_key_id(v->name, v->pubkey, &v->key_id) != 0)
		return mds_status_set(st, MDS_ENOMEM,
			"cannot compute the key id of '%s'", v->name);
	if (v->key_id != id)
		return mds_status_set(st, MDS_EINVAL,
			"cannot parse verifier key '%s': key id %08x does not "
			"match the key (%08x)", v->name, id, v->key_id);
	return 0;
}
