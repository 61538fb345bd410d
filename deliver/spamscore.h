/*
 * spamscore.h - the spam score of a message from spamd (SpamAssassin),
 * for the outgoing policy: outbound mail scoring over a threshold is
 * refused and counts toward the sender's lock.
 *
 * Speaks the SPAMC/SPAMD protocol 1.5 (as spamc does, see spamd(1p)):
 *   SYMBOLS SPAMC/1.5 CRLF
 *   Content-length: <bytes> CRLF
 *   [User: <name> CRLF]                per-user preferences, when set
 *   CRLF <the message>
 * to spamd over TCP or a unix socket, and reads
 *   SPAMD/1.1 0 EX_OK CRLF
 *   Content-length: <bytes> CRLF
 *   Spam: True ; 15.0 / 5.0 CRLF
 *   CRLF RULE_A,RULE_B
 * The reply is parsed strictly: a status line "SPAMD/<d>.<d> <code>
 * <text>", header lines "Name: value" (unknown ones skipped), exactly one
 * Spam: header "True|False|Yes|No ; <number> / <number>" (any case;
 * numbers "-"? digits ["." digits]), and, when Content-length is given,
 * exactly that many body bytes.  Lines end in CRLF or LF and are at most
 * SPAM_LINE_MAX bytes; the whole reply at most SPAM_REPLY_MAX.
 *
 * spam_score() BLOCKS (connect, send, receive) for up to the deadline:
 * call it from a worker thread (common/worker.h), never on an event loop
 * and never inside a store transaction.  It is thread-safe and keeps no
 * state between calls (one connection per message, as spamc does).
 */
#ifndef VELLUM_DELIVER_SPAMSCORE_H
#define VELLUM_DELIVER_SPAMSCORE_H

#include <stddef.h>

#define SPAM_ADDR_DEFAULT	"127.0.0.1:783"
#define SPAM_PORT_DEFAULT	"783"
#define SPAM_TIMEOUT_DEFAULT	10000	/* ms: connect + the whole exchange */
#define SPAM_LINE_MAX		1024	/* longest status or header line */
#define SPAM_REPLY_MAX		65536	/* longest reply (header + symbols) */
#define SPAM_USER_MAX		256	/* longest User: name sent */
#define SPAM_MAX_SIZE_DEFAULT	512000	/* bytes: spamc's -s default */

struct spam_conf {
	/*
	 * Where spamd listens: "host:port", "[v6addr]:port", "host" (port
	 * 783) or an absolute path of a unix socket.  NULL or "":
	 * SPAM_ADDR_DEFAULT.  A host name is looked up with getaddrinfo()
	 * (blocking, before the deadline starts): prefer an address.
	 */
	const char	*addr;
	/*
	 * The User: header (spamd -u/--virtual-config-dir preferences), or
	 * NULL/"" for none.  Bytes other than printable ASCII are refused.
	 */
	const char	*user;
	int		 timeout_ms;	/* 0: SPAM_TIMEOUT_DEFAULT */
	/*
	 * Larger messages are not sent (not scored), as spamc does: spamd
	 * takes seconds on megabytes.  0: SPAM_MAX_SIZE_DEFAULT; SIZE_MAX:
	 * no limit.  A sender could pad spam past it: the caller chooses.
	 */
	size_t		 max_size;
};

/* A parsed reply (spam_reply_parse()). */
struct spam_reply {
	int		code;		/* the status code, 0 EX_OK */
	int		is_spam;	/* spamd's own verdict */
	double		score;
	double		threshold;
	size_t		used;		/* bytes of the reply */
	const char	*symbols;	/* the body (rule names), not NUL-
					   terminated; NULL when none */
	size_t		symbols_len;
};

/*
 * Scores msg[len].  1 scored: *score and *threshold (spamd's required
 * score for the user) are set and why holds the rules that hit
 * ("GTUBE,MISSING_DATE", cut to whysize - 1; "" when none).  0 not
 * scored: why says why (too large, spamd down, refused, timed out, an
 * error code, a malformed reply); the caller decides between tempfail
 * and accept.
 * why may be NULL when whysize is 0.  Never -1.
 */
int	spam_score(const struct spam_conf *, const void *msg, size_t len,
	    double *score, double *threshold, char *why, size_t whysize);

/*
 * Parses a reply held in buf[len] (pure; for spam_score() and tests).
 * eof: no more bytes will come.  1 a complete, well-formed reply with
 * code 0 (r filled); 0 need more bytes (never with eof); -1 an error:
 * why says which (a non-zero code, a line too long, a malformed line,
 * the reply cut short).
 */
int	spam_reply_parse(const char *buf, size_t len, int eof,
	    struct spam_reply *r, char *why, size_t whysize);

#endif
