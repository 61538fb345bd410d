/*
 * trim.h - giving the store file's free pages back to the file system.
 *
 * LMDB never shrinks its data file: a page that a transaction copies or
 * frees stays in the file, on LMDB's free list, until a later transaction
 * reuses it.  Every write transaction copies the pages it changes, so the
 * pages a large transaction touched (an import batch of 100 messages
 * dirties a few hundred pages of the hash-keyed tables) are still
 * allocated, free, after it: about 10% of a freshly imported store.
 *
 * store_trim() punches holes (fallocate(FALLOC_FL_PUNCH_HOLE)) where the
 * free pages are that nothing can read any more: pages freed before a
 * durable transaction of its own (synced: no meta page that a crash can
 * leave, even after other processes' MDB_NOSYNC commits, names them) and
 * before every reader's snapshot.  It holds the
 * write lock meanwhile, so no writer reuses a page while it is punched.
 * It looks only at pages freed since the last trim (earlier ones were
 * dealt with then); in a file of 64 MiB or more, only when they are at
 * least 1/64 of the file:
 * fewer are left to LMDB, which reuses them in its next commits.  Of
 * those it punches runs of 16 pages or more, and single pages too when
 * they are at least 1/16 of the file (the end of a migration into a new
 * store, store optimize): an import into a large store frees a few
 * hundred single pages, and punching them one journalled fallocate() at
 * a time, in a file with tens of thousands of holes, cost several times
 * the import (trim.c).
 * LMDB writes a reused page whole and never reads a free one, so a hole
 * reads as zeros only where nothing looks.  Slow I/O: never call it on an
 * event loop (vellumctl, store optimize and imports do).
 */
#ifndef VELLUM_STORE_TRIM_H
#define VELLUM_STORE_TRIM_H

#include <stdint.h>

#include "store.h"

struct store_trim {
	uint64_t	free_pages;	/* on LMDB's free list */
	uint64_t	new_pages;	/* of those, freed since the last trim */
	uint64_t	pages;		/* punched */
	uint64_t	bytes_before;	/* allocated to data.mdb (st_blocks) */
	uint64_t	bytes_after;
};

/*
 * Commits one small transaction (so that the pages the last one freed
 * become old enough), syncs, and punches the free pages nobody can read
 * that no trim looked at before (see above for which); in a file of 64
 * MiB or more with fewer of those than 1/64 of it, only counts them
 * (nothing committed, no sync).
 * A file system without hole punching is no error (nothing punched).  0,
 * or -1: PERM (read-only), INVALID (inside a batch), TEMP.
 */
int	store_trim(struct store *, struct store_trim *r);

/*
 * Files smaller than this many pages have every new free page punched
 * at every trim (64 MiB of 4 KiB pages); tests lower it to see the rules
 * of larger files in a small store.
 */
extern size_t	store_trim_small_pages;

#endif
