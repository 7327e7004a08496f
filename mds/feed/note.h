/*
 * note.h - Ed25519 keys, C2SP signed notes and C2SP tlog checkpoints: what
 * an island signs about its log and what a subscriber checks.
 *
 * Formats (docs/federation.md gives them byte by byte):
 *   verifier key   name "+" 8 lower-case hex digits of the key id "+"
 *                  base64(0x01 || 32-byte Ed25519 public key)
 *   key id         first 4 bytes (big-endian) of
 *                  SHA-256(name || 0x0A || 0x01 || public key)
 *   signed note    text (ends in "\n") "\n" then one line per signature:
 *                  U+2014 " " name " " base64(key id || 64-byte signature) "\n"
 *   checkpoint     note text: origin "\n" size "\n" base64(root) "\n"
 *                  then optional extension lines
 *
 * Private key files are PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----", the
 * format `openssl genpkey -algorithm ed25519` writes), created with mode
 * 0600; loading refuses a file that group or others can read or write. The
 * key's name is not in the file: it is configuration, passed in.
 *
 * Parsing is strict and never trusts input: every length is bounded (see the
 * MDS_NOTE_* limits), anything malformed is MDS_EINVAL with a message.
 *
 * Errors: functions return 0 or a negative code (mds/error.h) and fill
 * @st (may be NULL) with a one-line message. A failure inside OpenSSL is
 * reported with the OpenSSL error string.
 */
#ifndef MDS_FEED_NOTE_H
#define MDS_FEED_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mds/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MDS_NOTE_NAME_MAX 128       /* bytes in a key name */
#define MDS_NOTE_PUBKEY_LEN 32      /* Ed25519 public key */
#define MDS_NOTE_SIG_LEN 64         /* Ed25519 signature */
#define MDS_NOTE_MAX_LEN 65536      /* bytes in a whole signed note */
#define MDS_NOTE_MAX_SIGS 16        /* signature lines in a note */
#define MDS_NOTE_MAX_TEXT_LINES 256 /* lines in a note's text */
/* Longest verifier key string, without the NUL. */
#define MDS_NOTE_VKEY_MAX (MDS_NOTE_NAME_MAX + 1 + 8 + 1 + 44)

/* ---- keys ---- */

/* A signing key: opaque, owned by the caller, freed with
 * mds_note_signer_free(). Safe to use from several threads at once. */
struct mds_note_signer;

/* A trusted public key. Plain data: the caller allocates and copies it. */
struct mds_note_verifier {
	char name[MDS_NOTE_NAME_MAX + 1];    /* NUL-terminated */
	uint32_t key_id;
	uint8_t pubkey[MDS_NOTE_PUBKEY_LEN];
};

/*
 * mds_note_key_name_is_valid - a key name we create or trust: 1 to
 * MDS_NOTE_NAME_MAX bytes of printable ASCII (0x21..0x7E) other than '+'.
 * (C2SP allows any UTF-8 without spaces or '+'; signature lines with such
 * names are parsed, and ignored as unknown.)
 */
bool mds_note_key_name_is_valid(const char *name);

/* mds_note_key_id - the C2SP key id of Ed25519 key @pubkey named @name
 * (NUL-terminated, borrowed) into *@id_out. Returns 0 or MDS_ENOMEM. */
int mds_note_key_id(const char *name,
	const uint8_t pubkey[MDS_NOTE_PUBKEY_LEN], uint32_t *id_out);

/*
 * mds_note_signer_generate - a fresh Ed25519 key named @name (borrowed).
 * *@out is owned by the caller. Every key made or loaded here signs and
 * verifies a test message before it is returned. Returns 0, MDS_EINVAL for
 * a bad name, MDS_ENOMEM, or MDS_EINTERNAL if OpenSSL fails.
 */
int mds_note_signer_generate(const char *name, struct mds_note_signer **out,
	struct mds_status *st);

/*
 * mds_note_signer_from_seed - the Ed25519 key with private seed @seed (the
 * RFC 8032 32-byte private key), named @name. For tests and key import.
 * Returns like mds_note_signer_generate().
 */
int mds_note_signer_from_seed(const char *name, const uint8_t seed[32],
	struct mds_note_signer **out, struct mds_status *st);

/*
 * mds_note_signer_save - write @k's private key as PKCS#8 PEM to a new file
 * @path, mode 0600. Refuses to overwrite (MDS_EEXIST); the file is written
 * under a temporary name and renamed, so it is complete or absent.
 * Returns 0, MDS_EEXIST, -errno or MDS_EINTERNAL.
 */
int mds_note_signer_save(const struct mds_note_signer *k, const char *path,
	struct mds_status *st);

/*
 * mds_note_signer_load - read an Ed25519 PKCS#8 PEM private key from @path
 * and name it @name. Returns 0, -errno if the file cannot be opened,
 * MDS_EDENIED if its mode lets group or others read or write it,
 * MDS_EINVAL if it is not an Ed25519 private key or @name is invalid.
 */
int mds_note_signer_load(const char *path, const char *name,
	struct mds_note_signer **out, struct mds_status *st);

/* mds_note_signer_free - free @k (owned; may be NULL). */
void mds_note_signer_free(struct mds_note_signer *k);

/* mds_note_signer_verifier - the public half of @k, into @v (caller-owned). */
void mds_note_signer_verifier(const struct mds_note_signer *k,
	struct mds_note_verifier *v);

/*
 * mds_note_verifier_format - the verifier key string of @v into @buf
 * (caller-owned, @cap bytes, NUL-terminated). Returns 0 or MDS_EINVAL if
 * @cap is below MDS_NOTE_VKEY_MAX + 1 or the name is invalid.
 */
int mds_note_verifier_format(const struct mds_note_verifier *v, char *buf,
	size_t cap);

/*
 * mds_note_verifier_parse - parse the verifier key string @s (borrowed,
 * @len bytes, no NUL needed) into @v. Checks the name, that the id has
 * exactly 8 hex digits, that the key is algorithm 0x01 (Ed25519) with 32
 * bytes in canonical base64, and that the id matches name and key.
 * Returns 0, MDS_EINVAL, or MDS_ENOMEM.
 */
int mds_note_verifier_parse(const char *s, size_t len,
	struct mds_note_verifier *v, struct mds_status *st);

/* ---- signed notes ---- */

/*
 * mds_note_sign - sign @text (borrowed, @text_len bytes, obeying the text
 * rules of mds_note_verify()) with each of the @n_signers keys in @signers (borrowed;
 * 1..MDS_NOTE_MAX_SIGS; several keys dual-sign during a rotation). *@out
 * (NUL-terminated, owned by the caller, free()) holds the note, *@out_len
 * its length. Returns 0, MDS_EINVAL (bad text or key count), MDS_ENOMEM,
 * MDS_EINTERNAL.
 */
int mds_note_sign(const char *text, size_t text_len,
	struct mds_note_signer *const *signers, size_t n_signers,
	char **out, size_t *out_len, struct mds_status *st);

/*
 * mds_note_verify - check the signed note @note (borrowed, @len bytes)
 * against the @n_roster (at most 64) trusted keys in @roster (borrowed).
 *
 * The note must be well formed: at most MDS_NOTE_MAX_LEN bytes of UTF-8
 * with no control character but "\n"; text of 1..MDS_NOTE_MAX_TEXT_LINES
 * non-empty lines, each ending in "\n"; one empty line; then
 * 1..MDS_NOTE_MAX_SIGS signature lines, each ending in "\n". A signature
 * whose (name, key id) is not in the roster is ignored. A signature by a
 * roster key that does not verify rejects the note, as does a second
 * signature by the same roster key.
 *
 * On success *@text_len (may be NULL) is the length of the text (the
 * note's first *@text_len bytes, signed data) and, if @verified is not
 * NULL, @verified[i] says whether @roster[i] signed (an array of @n_roster
 * bools, caller-owned).
 *
 * Returns 0 if at least one roster key signed and every roster signature
 * verified; MDS_EINVAL if malformed; MDS_EDENIED if a roster key's
 * signature fails (forgery or tampering: alarm); MDS_ENOTFOUND if no roster
 * key signed the note; MDS_EINTERNAL or MDS_ENOMEM if OpenSSL could not
 * give a verdict (e.g. out of memory: retry, do not alarm).
 */
int mds_note_verify(const char *note, size_t len,
	const struct mds_note_verifier *roster, size_t n_roster,
	size_t *text_len, bool *verified, struct mds_status *st);

/* ---- checkpoints ---- */

#define MDS_CHECKPOINT_ORIGIN_MAX 255
#define MDS_CHECKPOINT_EXT_MAX 1024
#define MDS_CHECKPOINT_TEXT_MAX \
	(MDS_CHECKPOINT_ORIGIN_MAX + 1 + 20 + 1 + 44 + 1 + MDS_CHECKPOINT_EXT_MAX)

struct mds_checkpoint {
	char origin[MDS_CHECKPOINT_ORIGIN_MAX + 1];  /* NUL-terminated */
	uint64_t size;                               /* <= 2^63 - 1 */
	uint8_t root[32];
	/* Extension lines, each ending in "\n", concatenated; "" if none. */
	char ext[MDS_CHECKPOINT_EXT_MAX + 1];
};

/*
 * mds_checkpoint_format - the note text of @cp into @buf (caller-owned,
 * @cap bytes, NUL-terminated; MDS_CHECKPOINT_TEXT_MAX + 1 suffices),
 * *@len_out its length. Returns 0 or MDS_EINVAL if @cp breaks a rule that
 * mds_checkpoint_parse() enforces or @cap is too small.
 */
int mds_checkpoint_format(const struct mds_checkpoint *cp, char *buf,
	size_t cap, size_t *len_out, struct mds_status *st);

/*
 * mds_checkpoint_parse - parse the checkpoint text @text (borrowed, @len
 * bytes) into @cp: origin (1..MDS_CHECKPOINT_ORIGIN_MAX bytes, printable,
 * no control characters), size in decimal without sign or leading zeros
 * ("0" alone is zero) and at most 2^63 - 1, root in canonical base64 of
 * exactly 32 bytes, then extension lines (non-empty, at most
 * MDS_CHECKPOINT_EXT_MAX bytes together). Returns 0 or MDS_EINVAL.
 */
int mds_checkpoint_parse(const char *text, size_t len,
	struct mds_checkpoint *cp, struct mds_status *st);

/*
 * mds_checkpoint_open - verify the signed checkpoint @note (borrowed) with
 * mds_note_verify() against @roster, parse it, and check that its origin is
 * @origin (borrowed, NUL-terminated). Returns 0, mds_note_verify()'s codes,
 * or MDS_EINVAL (malformed or another origin).
 */
int mds_checkpoint_open(const char *note, size_t len, const char *origin,
	const struct mds_note_verifier *roster, size_t n_roster,
	struct mds_checkpoint *cp, struct mds_status *st);

/*
 * mds_checkpoint_sign - sign @next as a checkpoint note, but only if it
 * extends @last, the last checkpoint this log signed (NULL if none):
 * same origin, @next->size >= @last->size, and if the sizes are equal the
 * roots are equal (a heartbeat re-signs the same head; two roots for one
 * size are never signed), otherwise @proof (@n_proof hashes, borrowed, from
 * mds_merkle_consistency_proof(last->size, next->size)) must verify.
 * *@out and *@out_len as for mds_note_sign().
 *
 * Returns 0, MDS_EINVAL (malformed @next), MDS_EDENIED (would fork: the
 * size shrinks, the roots differ, or the proof fails; nothing is signed),
 * or mds_note_sign()'s codes.
 */
int mds_checkpoint_sign(const struct mds_checkpoint *next,
	const struct mds_checkpoint *last,
	const uint8_t proof[][32], size_t n_proof,
	struct mds_note_signer *const *signers, size_t n_signers,
	char **out, size_t *out_len, struct mds_status *st);

#ifdef __cplusplus
}
#endif

#endif /* MDS_FEED_NOTE_H */
