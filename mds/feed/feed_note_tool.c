/*
 * feed_note_tool.c - a small command-line face of the feed primitives, for
 * the interoperability test (tests/integration/feed_verify_note.py) and for
 * poking at notes by hand. Not installed. The log it signs is always the
 * same synthetic one: leaf i is the bytes of the string "leaf-<i>".
 *
 *   feed_note_tool keygen KEYFILE NAME
 *       create an Ed25519 key (PKCS#8 PEM, mode 0600); print its verifier key
 *   feed_note_tool checkpoint ORIGIN SIZE KEYFILE NAME [KEYFILE NAME]...
 *       print the checkpoint of the synthetic log at SIZE signed by the keys
 *   feed_note_tool verify ORIGIN VKEY... < NOTE
 *       verify a signed checkpoint; print "SIZE HEXROOT"; exit 1 if rejected
 *   feed_note_tool consistency SIZE1 SIZE2 | inclusion INDEX SIZE
 *       print the two roots (or the leaf hash and root) and the proof in hex
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memstore.h"
#include "merkle.h"
#include "note.h"

static void print_hex(const uint8_t *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", h[i]);
	printf("\n");
}

static int build_log(struct memstore *m, struct mds_merkle_store *s,
	uint64_t size)
{
	*s = memstore_iface(m);
	for (uint64_t i = 0; i < size; i++) {
		uint8_t lh[MDS_MERKLE_HASH_LEN];
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "leaf-%llu",
			(unsigned long long)i);

		if (mds_merkle_hash_leaf(buf, (size_t)n, lh) != 0 ||
		    mds_merkle_append(s, i, lh) != 0)
			return -1;
	}
	return 0;
}

static int cmd_keygen(const char *path, const char *name)
{
	struct mds_status st = { 0 };
	struct mds_note_signer *k;
	struct mds_note_verifier v;
	char vkey[MDS_NOTE_VKEY_MAX + 1];

	if (mds_note_signer_generate(name, &k, &st) != 0 ||
	    mds_note_signer_save(k, path, &st) != 0) {
		fprintf(stderr, "keygen: %s\n", st.msg);
		mds_note_signer_free(k);
		return 1;
	}
	mds_note_signer_verifier(k, &v);
	mds_note_verifier_format(&v, vkey, sizeof(vkey));
	printf("%s\n", vkey);
	mds_note_signer_free(k);
	return 0;
}

static int cmd_checkpoint(const char *origin, uint64_t size, int nk,
	char **kargs)
{
	struct mds_note_signer *keys[MDS_NOTE_MAX_SIGS] = { 0 };
	struct mds_checkpoint cp = { 0 };
	struct mds_status st = { 0 };
	struct memstore m = { 0 };
	struct mds_merkle_store s;
	int n = 0, rc = 1;
	char *note = NULL;
	size_t len;

	if (nk <= 0 || nk % 2 || nk / 2 > MDS_NOTE_MAX_SIGS ||
	    strlen(origin) > MDS_CHECKPOINT_ORIGIN_MAX) {
		fprintf(stderr, "checkpoint: bad arguments\n");
		return 2;
	}
	for (; n < nk / 2; n++)
		if (mds_note_signer_load(kargs[2 * n], kargs[2 * n + 1],
			&keys[n], &st) != 0) {
			fprintf(stderr, "checkpoint: %s\n", st.msg);
			goto out;
		}
	if (build_log(&m, &s, size) != 0 ||
	    mds_merkle_root(&s, size, cp.root) != 0) {
		fprintf(stderr, "checkpoint: cannot build the log\n");
		goto out;
	}
	strcpy(cp.origin, origin);
	cp.size = size;
	if (mds_checkpoint_sign(&cp, NULL, NULL, 0, keys, (size_t)n, &note,
		&len, &st) != 0) {
		fprintf(stderr, "checkpoint: %s\n", st.msg);
		goto out;
	}
	fwrite(note, 1, len, stdout);
	rc = 0;
out:
	free(note);
	for (int i = 0; i < n; i++)
		mds_note_signer_free(keys[i]);
	memstore_release(&m);
	return rc;
}

static int cmd_verify(const char *origin, int nv, char **vkeys)
{
	struct mds_note_verifier roster[16];
	struct mds_checkpoint cp;
	struct mds_status st = { 0 };
	char buf[MDS_NOTE_MAX_LEN + 2];
	size_t len;
	int rc;

	if (nv <= 0 || nv > 16)
		return 2;
	for (int i = 0; i < nv; i++)
		if (mds_note_verifier_parse(vkeys[i], strlen(vkeys[i]),
			&roster[i], &st) != 0) {
			fprintf(stderr, "verify: %s\n", st.msg);
			return 2;
		}
	len = fread(buf, 1, sizeof(buf), stdin);
	rc = mds_checkpoint_open(buf, len, origin, roster, (size_t)nv, &cp,
		&st);
	if (rc) {
		fprintf(stderr, "verify: %s (%d)\n", st.msg, rc);
		return 1;
	}
	printf("%llu ", (unsigned long long)cp.size);
	print_hex(cp.root, 32);
	return 0;
}

static int cmd_proof(int consistency, uint64_t a, uint64_t b)
{
	uint8_t proof[MDS_MERKLE_PROOF_MAX][MDS_MERKLE_HASH_LEN], h[32];
	struct memstore m = { 0 };
	struct mds_merkle_store s;
	size_t n;
	int rc = 1;

	if (build_log(&m, &s, b) != 0)
		goto out;
	if (consistency) {
		if (mds_merkle_root(&s, a, h) != 0)
			goto out;
		print_hex(h, 32);
		rc = mds_merkle_consistency_proof(&s, a, b, proof, &n);
	} else {
		if (s.get(s.ctx, 0, a, h) != 0)
			goto out;
		print_hex(h, 32);
		rc = mds_merkle_inclusion_proof(&s, a, b, proof, &n);
	}
	if (rc || mds_merkle_root(&s, b, h) != 0)
		goto out;
	print_hex(h, 32);
	for (size_t i = 0; i < n; i++)
		print_hex(proof[i], 32);
	rc = 0;
out:
	memstore_release(&m);
	if (rc)
		fprintf(stderr, "proof: failed\n");
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "keygen"))
		return cmd_keygen(argv[2], argv[3]);
	if (argc >= 6 && !strcmp(argv[1], "checkpoint"))
		return cmd_checkpoint(argv[2], strtoull(argv[3], NULL, 10),
			argc - 4, argv + 4);
	if (argc >= 4 && !strcmp(argv[1], "verify"))
		return cmd_verify(argv[2], argc - 3, argv + 3);
	if (argc == 4 && (!strcmp(argv[1], "consistency") ||
	    !strcmp(argv[1], "inclusion")))
		return cmd_proof(argv[1][0] == 'c', strtoull(argv[2], NULL, 10),
			strtoull(argv[3], NULL, 10));
	fprintf(stderr, "usage: see the comment at the top of "
		"mds/feed/feed_note_tool.c\n");
	return 2;
}
