/*
 * dsn.h - delivery status notifications (RFC 3464 inside an RFC 6522
 * multipart/report), composed as one complete RFC 5322 message.
 *
 * Pure: no store, no I/O, no clock (the caller passes every date).  The
 * result has CRLF line ends, lines of at most 998 octets, and a MIME
 * boundary that occurs in none of its parts.  Whatever the inputs hold
 * (CR, LF, NUL or 8-bit bytes in a remote's reply, an address or the
 * ENVID) cannot break the structure: such bytes are replaced or the
 * value is folded/quoted, never copied raw into a header field.
 *
 * The notice is sent with the envelope sender <> (RFC 3461 6.2, RFC 5321
 * 4.5.5): that is the caller's job (deliver_notice() does it), so a
 * notice is never answered by another notice.
 *
 * The parts:
 * 1. text/plain (UTF-8 clean ASCII): what happened, to which addresses,
 *    why in plain words (the common status codes mapped to sentences,
 *    dsn_explain()), the remote's reply quoted verbatim (sanitised);
 * 2. message/delivery-status: the per-message fields (Reporting-MTA,
 *    Original-Envelope-Id, X-Vellum-Queue-ID, Arrival-Date) and one group
 *    per recipient (Original-Recipient, Final-Recipient, Action, Status,
 *    Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until);
 * 3. the original: RET=HDRS, a success/relayed notice, or a message
 *    larger than DSN_RETURN_MAX -> text/rfc822-headers with its header
 *    block only (the text part then says why); otherwise (RET=FULL or
 *    not given) message/rfc822 with the whole message.  No original
 *    (msglen 0) -> no third part.
 * An original whose header holds 8-bit bytes is still returned as
 * message/rfc822 (or text/rfc822-headers) with Content-Transfer-Encoding
 * 8bit and the text part says so; RFC 6533 (message/global) is not used.
 */
#ifndef VELLUM_DELIVER_DSN_H
#define VELLUM_DELIVER_DSN_H

#include <stddef.h>
#include <stdint.h>

/* Largest original returned whole; larger ones: headers only. */
#define DSN_RETURN_MAX		(1024 * 1024)
/* Longest diagnostic (remote reply) text kept per recipient. */
#define DSN_DIAG_MAX		1000
/* Most recipients listed in one notice (the rest are counted). */
#define DSN_RCPTS_MAX		1000

/* Per-recipient action (RFC 3464 2.3.3). */
enum dsn_action {
	DSN_FAILED = 1,		/* bounce */
	DSN_DELAYED,		/* still trying */
	DSN_DELIVERED,		/* delivered locally */
	DSN_RELAYED,		/* handed to a server without DSN */
};

/* MAIL RET= (same values as enum store_queue_ret) */
enum dsn_ret {
	DSN_RET_NONE = 0,	/* not given: the whole message */
	DSN_RET_FULL = 1,
	DSN_RET_HDRS = 2,
};

struct dsn_rcpt {
	const char	*addr;		/* final recipient (rfc822) */
	const char	*orcpt;		/* RCPT ORCPT= as given
					   ("rfc822;a+40b.example"), NULL or
					   "": none */
	uint8_t		 notify;	/* STORE_NOTIFY_* bits; 0 = not given
					   (deliver_notice() filters on it;
					   dsn_compose() ignores it) */
	enum dsn_action	 action;
	const char	*status;	/* "5.1.1"; NULL/"": derived from
					   the reply (its enhanced code, else
					   its basic code: 5.0.0/4.0.0) or
					   the action (2.0.0) */
	const char	*remote_mta;	/* "mx.example.org" or NULL */
	const char	*reply;		/* the remote's (or our agent's)
					   reply, "550 5.1.1 <a@b>: ..." or
					   NULL; CRLF between lines of a
					   multi-line reply is fine */
	int64_t		 last_attempt;	/* unix time; 0: none */
	int64_t		 retry_until;	/* for DSN_DELAYED; 0: not said */
};

struct dsn_input {
	const char		*hostname;	/* ours: Reporting-MTA */
	const char		*postmaster;	/* From address; NULL:
						   MAILER-DAEMON@hostname */
	const char		*sender;	/* original envelope sender:
						   the notice's To */
	const char		*envid;		/* ENVID (xtext) or NULL */
	enum dsn_ret		 ret;
	uint64_t		 queue_id;	/* the original's, 0: none */
	int64_t			 arrival;	/* when we got it; 0: unknown */
	int			 is_notice;	/* the original is a notice
						   itself (deliver_notice():
						   nothing sent) */
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpts;
	const void		*msg;		/* original message bytes */
	size_t			 msglen;
	/* the notice itself */
	int64_t			 now;		/* Date: */
	uint64_t		 notice_id;	/* its queue id, for the
						   Message-ID and boundary */
};

/*
 * The kind of notice for a set of recipients: DSN_FAILED when any failed,
 * else DSN_DELAYED when any is delayed, else DSN_DELIVERED (delivered
 * and relayed both give a success report).  Decides Subject and wording.
 */
enum dsn_action	dsn_kind(const struct dsn_rcpt *rcpts, size_t n);

/*
 * A plain-words sentence for a status code and reply ("The recipient's
 * mailbox is full.").  Never NULL; static storage.
 */
const char	*dsn_explain(const char *status, const char *reply);

/*
 * Composes the notice for in (nrcpts >= 1) into *msg_r (malloc'd, caller
 * frees; NUL-terminated, *len_r excludes the NUL).  Returns 0, or -1
 * (INVALID: no recipient, no hostname).
 */
int		dsn_compose(const struct dsn_input *in, char **msg_r,
		    size_t *len_r);
/*
 * A plain text notice of the server to one address (a sender locked by
 * the outgoing policy, ...): From the Mail Delivery System at hostname,
 * Auto-Submitted, the body's lines as given (LF or CRLF; ASCII expected,
 * other bytes are sent as 8bit).  *msg_r is malloc'd.  0, or -1.
 */
int		dsn_notice(const char *hostname, int64_t now, uint64_t id,
		    const char *to, const char *subject, const char *body,
		    char **msg_r, size_t *len_r);

#endif
