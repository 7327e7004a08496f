/*
 * memstore.h - an in-memory struct mds_merkle_store for tests, benchmarks
 * and the integration helper: one growable array of hashes per level. It
 * can be told to fail its Nth get or put, so tests can check that every
 * storage error reaches the caller. Header-only; not for production.
 */
#ifndef MDS_FEED_MEMSTORE_H
#define MDS_FEED_MEMSTORE_H

#include <stdlib.h>
#include <string.h>

#include "merkle.h"

struct memstore {
	uint8_t (*level[64])[MDS_MERKLE_HASH_LEN];
	uint8_t *present[64];   /* present[l][i]: node (l, i) was put */
	uint64_t cap[64];
	long gets, puts;        /* calls so far */
	long fail_get_at;       /* fail the call with this number (1-based); 0 = never */
	long fail_put_at;
};

static inline int memstore_put(void *ctx, unsigned level, uint64_t index,
	const uint8_t hash[MDS_MERKLE_HASH_LEN])
{
	struct memstore *m = ctx;

	if (++m->puts == m->fail_put_at)
		return MDS_EIO;
	if (index >= m->cap[level]) {
		uint64_t ncap = m->cap[level] ? m->cap[level] * 2 : 16;
		void *p;

		while (ncap <= index)
			ncap *= 2;
		p = realloc(m->level[level], ncap * MDS_MERKLE_HASH_LEN);
		if (!p)
			return MDS_ENOMEM;
		m->level[level] = p;
		p = realloc(m->present[level], ncap);
		if (!p)
			return MDS_ENOMEM;
		m->present[level] = p;
		memset(m->present[level] + m->cap[level], 0,
			ncap - m->cap[level]);
		m->cap[level] = ncap;
	}
	memcpy(m->level[level][index], hash, MDS_MERKLE_HASH_LEN);
	m->present[level][index] = 1;
	return 0;
}

static inline int memstore_get(void *ctx, unsigned level, uint64_t index,
	uint8_t out[MDS_MERKLE_HASH_LEN])
{
	struct memstore *m = ctx;

	if (++m->gets == m->fail_get_at)
		return MDS_EIO;
	if (level >= 64 || index >= m->cap[level] || !m->present[level][index])
		return MDS_ENOTFOUND;
	memcpy(out, m->level[level][index], MDS_MERKLE_HASH_LEN);
	return 0;
}

static inline struct mds_merkle_store memstore_iface(struct memstore *m)
{
	struct mds_merkle_store s = { m, memstore_put, memstore_get };

	return s;
}

static inline void memstore_release(struct memstore *m)
{
	for (int i = 0; i < 64; i++) {
		free(m->level[i]);
		free(m->present[i]);
	}
	memset(m, 0, sizeof(*m));
}

#endif /* MDS_FEED_MEMSTORE_H */
