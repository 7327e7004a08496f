/*
 * rpc_convert.h - island core records to mds.v1 protobuf-c messages.
 *
 * protobuf-c wants NUL-terminated strings, the core hands out borrowed
 * (p, len) slices into an LMDB snapshot. The conversion copies strings into
 * a per-request arena; the messages built here point into the arena (and,
 * for locators, into the snapshot), so they must be packed before either
 * the arena is freed or the snapshot ends.
 */
#ifndef MDS_RPC_CONVERT_H
#define MDS_RPC_CONVERT_H

#include <stddef.h>

#include "mds/namespace.h"
#include "types.pb-c.h"

/* A bump allocator of malloc'd blocks; zero-initialise, then use. */
struct mds_arena {
	struct mds_arena_block *head;
	int failed;   /* an allocation failed: the result is incomplete */
};

/* mds_arena_alloc - @n zeroed bytes owned by @a, or NULL (sets failed). */
void *mds_arena_alloc(struct mds_arena *a, size_t n);

/*
 * A page of protobuf messages for a paged List* answer, all in one arena.
 * The core's enumerators are asked for limit + 1 items: the extra one only
 * marks the page truncated. mds_rpc_page_init allocates the slots
 * (MDS_ENOMEM); mds_rpc_page_slot returns the next zeroed message of @size
 * bytes, or NULL with *@stop set to 1 (page full: truncated) or MDS_ENOMEM
 * — what an emit callback returns to stop the walk.
 */
struct mds_rpc_page {
	struct mds_arena a;
	void **v;
	size_t n, limit;
	int truncated;
};

int mds_rpc_page_init(struct mds_rpc_page *pg, size_t limit);
void *mds_rpc_page_slot(struct mds_rpc_page *pg, size_t size, int *stop);

/*
 * mds_rpc_page_done - the result of the enumeration that filled @pg: @rc
 * 1 (page full) is success; an arena allocation that failed makes it
 * MDS_ENOMEM; an error @st says nothing about gets "cannot list @what".
 */
int mds_rpc_page_done(struct mds_rpc_page *pg, int rc, const char *what, struct mds_status *st);
/* mds_arena_str - NUL-terminated copy of @s owned by @a ("" on failure). */
char *mds_arena_str(struct mds_arena *a, struct mds_str s);
/* mds_arena_free - free every block; @a can be reused afterwards. */
void mds_arena_free(struct mds_arena *a);

/* Fill @out (initialised here) from a core record; strings go to @a. */
void mds_rpc_team_to_pb(struct mds_arena *a, const struct mds_team *t, Mds__V1__Team *out);
void mds_rpc_bucket_to_pb(struct mds_arena *a, const struct mds_bucket *b,
			  Mds__V1__Bucket *out);
/* Returns 0 or MDS_ECORRUPT (metadata does not decode). */
int mds_rpc_object_to_pb(struct mds_arena *a, struct mds_str bucket, struct mds_str name,
			 const struct mds_object *o, Mds__V1__ObjectRecord *out);

#endif /* MDS_RPC_CONVERT_H */
