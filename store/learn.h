/*
 * learn.h - the Spam training queue: messages a user moved into a Junk
 * folder (spam) or out of one (ham), waiting for vellum-mta to feed them
 * to the Spam filter (sa-learn) and delete them.
 *
 * store_msg_copy() and store_msg_move() (message.h) add the entries, in
 * the transaction of the copy, when this process enabled learning: a
 * message that goes from a mailbox that is not \Junk into one that is
 * (spam 1), or out of a \Junk one into one that is neither \Junk nor
 * \Trash (spam 0).  An entry names the message's new mailbox and uid.
 * The queue holds at most STORE_LEARN_MAX entries: past it new ones are
 * dropped and counted.  Deleting a user deletes its entries.  Every
 * function but store_learn_enable() works inside the caller's
 * transaction.
 */
#ifndef VELLUM_STORE_LEARN_H
#define VELLUM_STORE_LEARN_H

#include <stdint.h>

#include "store.h"

#define STORE_LEARN_MAX		100000	/* entries queued */

struct store_learn {
	uint64_t	seq;		/* increasing: the queue's order */
	uint32_t	user_id, mailbox_id, uid;
	int		spam;		/* 1 spam, 0 ham */
	int64_t		when;		/* queued (store_now()) */
};

/*
 * Whether copies and moves of this process queue entries (off by
 * default; like store_user_set_full_mark(), a per-process setting: the
 * daemons that serve users turn it on from the config).
 */
void	store_learn_enable(struct store *, int on);
/*
 * Queues an entry (spam 1 or 0).  1 queued, 0 dropped because the queue
 * is full (counted, see store_learn_stats()), -1 error (TEMP).
 */
int	store_learn_add(struct store_txn *, uint32_t user_id,
	    uint32_t mailbox_id, uint32_t uid, int spam);
/* The oldest entry: 1 (*r filled), 0 the queue is empty, -1 (CORRUPT). */
int	store_learn_first(struct store_txn *, struct store_learn *r);
/* Removes entry seq: 1 removed, 0 there was none, -1 error. */
int	store_learn_delete(struct store_txn *, uint64_t seq);
/* Entries queued now, and dropped since the store was made.  0 or -1. */
int	store_learn_stats(struct store_txn *, uint64_t *queued_r,
	    uint64_t *dropped_r);

#endif
