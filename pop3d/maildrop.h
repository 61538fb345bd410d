/*
 * maildrop.h - a POP3 session's view of the user's INBOX.
 *
 * Taken once at login (RFC 1939: the maildrop does not change during a
 * session): the messages, numbered 1..N in UID order, with the size RETR
 * sends and a deleted mark.  Messages delivered later are seen by the
 * next session.  DELE only marks; pop3_maildrop_expunge() removes every
 * marked message in one store transaction.
 */
#ifndef VELLUM_POP3_MAILDROP_H
#define VELLUM_POP3_MAILDROP_H

#include <stddef.h>
#include <stdint.h>

struct store;

/*
 * "<uidvalidity>.<uid>" (at most 10 + 1 + 10 characters); in a mailbox
 * imported with another server's UIDs that server's form
 * (store/mailbox.h: STORE_UIDL_*), the longest being Courier's
 * "UID<uid>-<uidvalidity>" (3 + 10 + 1 + 10).
 */
#define POP3_UIDL_MAX		24

struct pop3_maildrop_msg {
	uint32_t	uid;
	/* Octets RETR sends: crlf_size, +2 without a final newline. */
	uint64_t	size;
	int		deleted;
};

struct pop3_maildrop {
	uint32_t			 user_id;
	uint32_t			 mailbox_id;
	uint32_t			 uidvalidity;
	unsigned			 uidl_style;	/* STORE_UIDL_* */
	struct pop3_maildrop_msg	*msgs;
	size_t				 count;
	size_t				 ndeleted;
	uint64_t			 deleted_bytes;
	uint64_t			 total_bytes;
};

/*
 * Takes the snapshot of the user's INBOX (one read transaction).
 * 1 done (*r is the caller's: pop3_maildrop_free()).  Errors: NOTFOUND
 * (no INBOX), TEMP, CORRUPT.
 */
int	pop3_maildrop_load(struct store *, uint32_t user_id,
	    struct pop3_maildrop **r);
void	pop3_maildrop_free(struct pop3_maildrop **);

/* Message n (1-based), or NULL when there is no such message. */
struct pop3_maildrop_msg *pop3_maildrop_get(struct pop3_maildrop *,
	    unsigned long n);
/* Messages and octets not marked deleted (STAT). */
void	pop3_maildrop_stat(const struct pop3_maildrop *, size_t *count_r,
	    uint64_t *bytes_r);
/* Marks message n deleted.  1 marked, 0 no such or already marked. */
int	pop3_maildrop_delete(struct pop3_maildrop *, unsigned long n);
/* Unmarks every message (RSET). */
void	pop3_maildrop_reset(struct pop3_maildrop *);
/* Writes message n's unique id into buf (POP3_UIDL_MAX + 1 bytes). */
void	pop3_maildrop_uidl(const struct pop3_maildrop *, unsigned long n,
	    char *buf, size_t size);

/*
 * Reads up to len bytes of message n from offset off, in its own read
 * transaction.  1 read (*len_r may be less at the end), 0 the message is
 * gone (expunged by another client).  Errors: CORRUPT (damaged blob),
 * TEMP.
 */
int	pop3_maildrop_read(struct store *, const struct pop3_maildrop *,
	    unsigned long n, uint64_t off, void *buf, size_t len,
	    size_t *len_r);

/*
 * Expunges every marked message in one write transaction (a message
 * already gone is skipped).  1 done, *n_r the number removed; -1 and
 * nothing removed when the transaction failed.
 */
int	pop3_maildrop_expunge(struct store *, struct pop3_maildrop *,
	    unsigned *n_r);

#endif
