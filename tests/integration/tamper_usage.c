/*
 * tamper_usage.c - test helper: corrupt a team's usage counter in a
 * stopped island's store, so that `mds check` has something to find.
 * Opens LMDB directly (test code only; the product keeps <lmdb.h> inside
 * store.c) and follows docs/storage-format.md: database `usage`, key
 * 't' + team name, value bytes/objects/buckets u64 counters.
 * usage: tamper_usage DATA_DIR TEAM   (exit 0 when the counter was changed)
 */
#include <stdio.h>
#include <string.h>

#include <lmdb.h>

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	char key[80], val[64];
	int rc;

	if (argc != 3 || strlen(argv[2]) > 63) {
		fprintf(stderr, "usage: tamper_usage DATA_DIR TEAM\n");
		return 2;
	}
	key[0] = 't';
	memcpy(key + 1, argv[2], strlen(argv[2]));
	k.mv_data = key;
	k.mv_size = 1 + strlen(argv[2]);
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 64)) ||
	    (rc = mdb_env_set_mapsize(env, 64ull << 30)) ||
	    (rc = mdb_env_open(env, argv[1], 0, 0640)) ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, "usage", 0, &dbi)) || (rc = mdb_get(txn, dbi, &k, &v))) {
		fprintf(stderr, "tamper_usage: %s\n", mdb_strerror(rc));
		return 1;
	}
	if (v.mv_size < 8 || v.mv_size > sizeof(val)) {
		fprintf(stderr, "tamper_usage: unexpected value size %zu\n", v.mv_size);
		return 1;
	}
	memcpy(val, v.mv_data, v.mv_size);
	val[0] ^= 0x5a;   /* the bytes counter no longer equals a recount */
	v.mv_data = val;
	if ((rc = mdb_put(txn, dbi, &k, &v, 0)) || (rc = mdb_txn_commit(txn))) {
		fprintf(stderr, "tamper_usage: %s\n", mdb_strerror(rc));
		return 1;
	}
	mdb_env_close(env);
	return 0;
}
