/*
 * filter.c - see filter.h.  The file is a text of `userdata` (kind
 * UD_FILTER, userdata.c): pieces of at most UD_PIECE_MAX bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "filter.h"
#include "private.h"
#include "user.h"

int
store_filter_get(struct store_txn *t, uint32_t user_id, char **text_r,
    size_t *len_r)
{
	return ud_text_get(t, user_id, UD_FILTER, STORE_FILTER_MAX, text_r,
	    len_r);
}

int
store_filter_set(struct store_txn *t, uint32_t user_id, const char *text,
    size_t len)
{
	struct store_user u;
	int rc;

	if (len > STORE_FILTER_MAX)
		return err_set(ERR_INVALID, "the filter file has %zu bytes, "
		    "more than %d", len, STORE_FILTER_MAX);
	if (len > 0 && memchr(text, '\0', len) != NULL)
		return err_set(ERR_INVALID, "the filter file holds a NUL byte "
		    "(at offset %zu)", (size_t)((const char *)memchr(text,
		    '\0', len) - text));
	if (t->st->no_userdata)
		return err_set(ERR_PERM, "the store predates filters: open it "
		    "writable once to upgrade it");
	if (user_id != STORE_FILTER_GLOBAL &&
	    (rc = store_user_get(t, user_id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user with "
		    "id %u", user_id);
	return ud_text_put(t, user_id, UD_FILTER, text, len) == -1 ? -1 : 1;
}
