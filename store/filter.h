/*
 * filter.h - the filter files of the store (the maildrop language,
 * filter/lang.h): one per user, and the global filter (user id 0, the
 * role of /etc/maildroprc) that runs before every user's.
 *
 * The store keeps the exact bytes it was given and does not parse them:
 * callers check a file with filter_parse() before they store it.
 * Every function works inside the caller's transaction.
 */
#ifndef VELLUM_STORE_FILTER_H
#define VELLUM_STORE_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_FILTER_MAX	(256 * 1024)	/* bytes of one file */
#define STORE_FILTER_GLOBAL	0		/* the user id of the
						   global filter */

/*
 * The filter file of user_id (STORE_FILTER_GLOBAL: the global one).
 * 1 found: *text_r malloc'd (the caller frees it), NUL-ended, *len_r
 * bytes exactly as stored; 0 none (*text_r NULL); -1 error (TEMP,
 * CORRUPT).
 */
int	store_filter_get(struct store_txn *, uint32_t user_id, char **text_r,
	    size_t *len_r);
/*
 * Stores text[len] as the filter file of user_id; len 0 deletes it.
 * 1 done.  Errors: INVALID (over STORE_FILTER_MAX bytes, or a NUL byte),
 * NOTFOUND (no such user), TEMP.
 */
int	store_filter_set(struct store_txn *, uint32_t user_id,
	    const char *text, size_t len);

#endif
