/*
 * queue.h - outbound messages (`queue` table): the envelope, attempts
 * and next try of mail for external recipients.  The message bytes are a
 * body of the store like any other (its refcount counts queue entries),
 * so a message both delivered locally and queued is stored once.
 * Delivering the queue is a later issue.
 */
#ifndef VELLUM_STORE_QUEUE_H
#define VELLUM_STORE_QUEUE_H

#include "store.h"
#include "user.h"

#define STORE_QUEUE_RCPTS_MAX	1000

struct store_prepared;

struct store_queue_entry {
	uint64_t	 id;
	char		 sender[STORE_ADDRESS_MAX + 1];	/* "" for <> */
	size_t		 nrcpts;
	char		(*rcpts)[STORE_ADDRESS_MAX + 1];
	uint64_t	 body;		/* body id */
	uint64_t	 size;
	int64_t		 queued;
	uint32_t	 attempts;
	int64_t		 next_try;
};

/*
 * Queues a prepared message for rcpts[0..n) (external addresses, as
 * given).  1 queued, *id_r (may be NULL) its id.  Errors: LIMIT, INVALID.
 */
int	store_queue_add(struct store_txn *, const char *sender,
	    const char *const *rcpts, size_t n, struct store_prepared *,
	    uint64_t *id_r);
/* Removes an entry (its body reference goes too).  1 done, 0 none. */
int	store_queue_del(struct store_txn *, uint64_t id);

typedef int store_queue_fn(const struct store_queue_entry *, void *ctx);
/* Every entry in id order; the entry is valid during the call only. */
int	store_queue_list(struct store_txn *, store_queue_fn *fn, void *ctx);

#endif
