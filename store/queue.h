/*
 * queue.h - outbound messages (`queue` table): one entry per message and
 * envelope sender, with the recipients still to be delivered, their DSN
 * requests (RFC 3461) and last replies, the attempts and the next try.
 * The message bytes are a body of the store like any other (its refcount
 * counts queue entries), so a message both delivered locally and queued
 * is stored once.  vellum-mta delivers the queue (mta/).
 *
 * Queue ids are 64-bit numbers shown as 16 upper-case hex digits: the
 * same id names the message in smtpd's "queued as", its Received header,
 * every log line and `vellumctl queue`.  store_queue_id_new() makes one
 * from the clock, the process id and a counter, so processes never share
 * a counter; store_queue_add() takes the next free number should two
 * ever meet.
 *
 * An entry leaves the queue when its last recipient is done: the delivery
 * agent rewrites it after every attempt (store_queue_put() with the
 * recipients still pending), in a transaction that never spans network
 * I/O.
 */
#ifndef VELLUM_STORE_QUEUE_H
#define VELLUM_STORE_QUEUE_H

#include "store.h"
#include "user.h"

#define STORE_QUEUE_RCPTS_MAX	1000
#define STORE_QUEUE_ID_LEN	16	/* hex digits */
#define STORE_QUEUE_ENVID_MAX	100	/* RFC 3461 4.4: ENVID, xtext */
#define STORE_QUEUE_ORCPT_MAX	500	/* RFC 3461 4.2: ORCPT, as given */
#define STORE_QUEUE_REPLY_MAX	512	/* a remote's last reply, kept */

/* RCPT NOTIFY= (RFC 3461 4.1); 0: not given (FAILURE,DELAY implied) */
#define STORE_NOTIFY_NEVER	0x01
#define STORE_NOTIFY_SUCCESS	0x02
#define STORE_NOTIFY_FAILURE	0x04
#define STORE_NOTIFY_DELAY	0x08

/* MAIL RET= (RFC 3461 4.3) */
enum store_queue_ret {
	STORE_RET_NONE = 0,	/* not given: the sender's server decides */
	STORE_RET_FULL,
	STORE_RET_HDRS,
};

/* Entry flags */
#define STORE_QF_HOLD		0x01	/* held by an admin: not tried */
#define STORE_QF_8BITMIME	0x02	/* BODY=8BITMIME (or 8-bit seen) */
#define STORE_QF_SMTPUTF8	0x04	/* needs SMTPUTF8 at the remote */
#define STORE_QF_NOTICE		0x08	/* a DSN we made: never bounced */
#define STORE_QF_WARNED		0x10	/* the delay notice went out */

struct store_prepared;

struct store_queue_rcpt {
	char		addr[STORE_ADDRESS_MAX + 1];
	char		orcpt[STORE_QUEUE_ORCPT_MAX + 1];  /* "" or as given */
	uint8_t		notify;			/* STORE_NOTIFY_* */
	/* the last failed attempt: 0 never tried; the reply as the remote
	   (or the agent: DNS, connection) gave it */
	uint16_t	last_code;
	char		last_reply[STORE_QUEUE_REPLY_MAX + 1];
};

struct store_queue_entry {
	uint64_t		 id;
	char			 sender[STORE_ADDRESS_MAX + 1];	/* "" <> */
	char			 envid[STORE_QUEUE_ENVID_MAX + 1];
	enum store_queue_ret	 ret;
	uint32_t		 flags;			/* STORE_QF_* */
	size_t			 nrcpts;
	struct store_queue_rcpt	*rcpts;			/* owned */
	uint64_t		 body;		/* body id */
	uint64_t		 size;
	int64_t			 queued;	/* store_now() at add */
	uint32_t		 attempts;
	int64_t			 next_try;	/* 0: as soon as possible */
};

/* A fresh queue id (never 0). */
uint64_t store_queue_id_new(void);
/* The id as 16 upper-case hex digits into buf[STORE_QUEUE_ID_LEN + 1]. */
char	*store_queue_id_format(uint64_t id, char *buf);
/* Reads 1-16 hex digits (any case).  0 done, -1 not an id (INVALID). */
int	store_queue_id_parse(const char *s, uint64_t *id_r);

/* Frees e->rcpts (e itself is the caller's). */
void	store_queue_entry_clear(struct store_queue_entry *e);

/*
 * Queues a prepared message.  From e: id (0: a new one), sender, envid,
 * ret, flags, rcpts[0..nrcpts) (external addresses); body, size, queued,
 * attempts and next_try are set here (queued now, next try now).  When
 * e->id is taken the next free id is used.  1 queued, *id_r (may be
 * NULL) the id.  Errors: LIMIT (0 or too many recipients), INVALID (an
 * empty or too long address).
 */
int	store_queue_add(struct store_txn *, const struct store_queue_entry *e,
	    struct store_prepared *, uint64_t *id_r);
/* 1 found (e_r filled: clear it), 0 no such entry. */
int	store_queue_get(struct store_txn *, uint64_t id,
	    struct store_queue_entry *e_r);
/*
 * Rewrites an existing entry: flags, rcpts, attempts, next_try (the
 * other fields are kept as stored).  With no recipients left the entry
 * is removed (and its body reference).  1 done, 0 no such entry (it was
 * removed meanwhile: nothing to do).
 */
int	store_queue_put(struct store_txn *, const struct store_queue_entry *e);
/* Removes an entry (its body reference goes too).  1 done, 0 none. */
int	store_queue_del(struct store_txn *, uint64_t id);

typedef int store_queue_fn(const struct store_queue_entry *, void *ctx);
/*
 * Every entry in id order; the entry is valid during the call only.
 * Stops when fn returns -1.  0 done, -1 error (CORRUPT: a damaged
 * record; `vellumctl store check` names it).
 */
int	store_queue_list(struct store_txn *, store_queue_fn *fn, void *ctx);

/*
 * A counter bumped by every change to the queue (add, put, del): the
 * delivery agent rescans the table only when it moved.  0 done (*gen_r
 * is 0 in a store whose queue never changed), -1 error.
 */
int	store_queue_generation(struct store_txn *, uint64_t *gen_r);

#endif
