/*
 * vacation.h - the auto-responder of a user (the "vacation" message):
 * its settings, and the senders it has answered, so that each sender
 * gets at most one reply per interval (RFC 3834 section 2).
 *
 * The store keeps settings and the record of replies; deliver/ decides
 * whether a message deserves a reply (no bulk, no list, no auto-reply:
 * RFC 3834) and builds it.  Every function works inside the caller's
 * transaction.
 */
#ifndef VELLUM_STORE_VACATION_H
#define VELLUM_STORE_VACATION_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_VACATION_BODY_MAX		(64 * 1024)	/* bytes */
#define STORE_VACATION_SUBJECT_MAX	255		/* bytes */
#define STORE_VACATION_INTERVAL_DEFAULT	7		/* days */
#define STORE_VACATION_INTERVAL_MAX	365		/* days */
/* Senders remembered per user; past it the oldest are forgotten. */
#define STORE_VACATION_SENDERS_MAX	10000

struct store_vacation {
	int		 enabled;
	int64_t		 start, end;	/* seconds since the epoch; 0: no
					   start / no end */
	uint32_t	 interval_days;	/* 1..365; 0 given to set: 7 */
	char		 subject[STORE_VACATION_SUBJECT_MAX + 1];
	char		*body;		/* malloc'd, NUL-ended, at most
					   STORE_VACATION_BODY_MAX bytes */
};

/*
 * The auto-responder of user_id.  1 found (free v->body with
 * store_vacation_clear()), 0 none, -1 error (TEMP, CORRUPT).
 */
int	store_vacation_get(struct store_txn *, uint32_t user_id,
	    struct store_vacation *v);
/*
 * Creates or replaces it (body NULL: empty).  When it was absent or
 * disabled and v is enabled, the record of answered senders starts
 * afresh: a new absence answers everyone once again.  1 done.  Errors:
 * INVALID (subject with a line break or control character, body too
 * large or holding a NUL, interval over 365 days, end before start,
 * negative times), NOTFOUND (no such user), TEMP.
 */
int	store_vacation_set(struct store_txn *, uint32_t user_id,
	    const struct store_vacation *v);
/* Deletes it and its record of senders.  1 deleted, 0 none, -1. */
int	store_vacation_delete(struct store_txn *, uint32_t user_id);
/* Frees v->body; v may then be reused. */
void	store_vacation_clear(struct store_vacation *v);

/*
 * Records a reply to sender at now, if one is due: 1 reply now (now is
 * recorded for that sender, normalised to lower case), 0 sender was
 * answered less than interval_days (0: the default, 7) days before now.
 * A user keeps at most STORE_VACATION_SENDERS_MAX senders: past it the
 * ones answered longest ago are forgotten.  Errors: INVALID (sender is
 * not an address), NOTFOUND (no such user), TEMP.
 */
int	store_vacation_note(struct store_txn *, uint32_t user_id,
	    const char *sender, int64_t now, uint32_t interval_days);

#endif
