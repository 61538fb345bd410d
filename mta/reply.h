/*
 * reply.h - SMTP replies as a client reads them (RFC 5321 4.2), and the
 * EHLO keywords a server offers.  Pure: bytes in, a result out; no I/O.
 *
 * The reader takes bytes the caller holds, in any pieces, and says when a
 * whole reply (one line "250 x", or several "250-a" ... "250 z") is
 * complete.  Lines end in CRLF; a bare LF is tolerated.  What a server
 * sends is input: an over-long line, a bad code, different codes inside
 * one multiline reply or too many lines are a protocol error (-1 with
 * ERR_INVALID), never a crash.  Text past MTA_REPLY_MAX bytes is cut, the
 * reply still ends where the server ends it.
 */
#ifndef VELLUM_MTA_REPLY_H
#define VELLUM_MTA_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define MTA_REPLY_MAX		4096	/* text bytes kept of one reply, +NUL */
#define MTA_REPLY_LINE_MAX	2048	/* one line without its CRLF */
#define MTA_REPLY_LINES_MAX	100	/* lines of one multiline reply */
#define MTA_REPLY_ENH_MAX	16	/* "x.yyy.zzz" + NUL, with room */

/* One complete reply. */
struct mta_reply {
	int	code;			/* 200..599 (first digit 2-5) */
	/* RFC 3463 enhanced status code of the first line, "5.1.1", or ""
	   when the first line does not start with one ("x.y.z " where x is
	   2, 4 or 5 and agrees with the code's first digit) */
	char	enhanced[MTA_REPLY_ENH_MAX];
	/* the lines' text after "NNN-"/"NNN " (and after the enhanced code
	   when a line starts with the same one), joined with "\n"; NUL
	   terminated; at most MTA_REPLY_MAX - 1 bytes */
	char	text[MTA_REPLY_MAX];
	size_t	textlen;
	size_t	nlines;			/* lines the reply had */
	int	truncated;		/* text was cut at MTA_REPLY_MAX - 1 */
};

/* Reader state between calls; mta_reply_init() before the first. */
struct mta_reply_reader {
	struct mta_reply reply;		/* being filled; complete after 1 */
	int	inside;			/* a multiline reply has started */
	int	failed;			/* a protocol error was reported */
};

void	mta_reply_init(struct mta_reply_reader *);

/*
 * Looks at buf[0..len).  *consumed_r (always set) is how many bytes the
 * caller must drop from the front of its buffer: only whole lines are
 * consumed.  Returns
 *   1  a reply is complete: rd->reply, valid until the next call;
 *   0  no complete reply in what was offered: when *consumed_r > 0 the
 *      caller calls again with the rest it holds (the offer was cut at
 *      MTA_REPLY_LINE_MAX + 2 bytes); when it is 0, more bytes are
 *      needed (the caller keeps them, adds more and calls again);
 *  -1  protocol error (ERR_INVALID, err_msg() says which): a line over
 *      MTA_REPLY_LINE_MAX without its end, a line without a valid code
 *      ("NNN" alone, "NNN " or "NNN-" then text), a code that differs
 *      from the first line's, more than MTA_REPLY_LINES_MAX lines.  The
 *      reader stays failed until mta_reply_init().
 * A caller must offer at least MTA_REPLY_LINE_MAX + 2 bytes (or all it
 * has) so that a line of the maximal length can be seen whole.
 */
int	mta_reply_read(struct mta_reply_reader *rd, const char *buf,
	    size_t len, size_t *consumed_r);

/* AUTH mechanisms we know (mta_reply_ehlo.auth bits) */
#define MTA_AUTH_PLAIN		0x01
#define MTA_AUTH_LOGIN		0x02
#define MTA_AUTH_CRAM_MD5	0x04
#define MTA_AUTH_OTHER		0x80	/* some mechanism we do not use */

/* What a server offered in its EHLO reply (RFC 5321 4.1.1.1). */
struct mta_reply_ehlo {
	int		esmtp;		/* 1: an EHLO reply; 0: HELO was used */
	int		size;		/* SIZE offered (RFC 1870) */
	uint64_t	size_max;	/* its limit; 0: none given / no limit */
	int		pipelining;	/* RFC 2920 */
	int		eightbitmime;	/* RFC 6152 */
	int		smtputf8;	/* RFC 6531 */
	int		starttls;	/* RFC 3207 */
	int		dsn;		/* RFC 3461 */
	int		enhancedstatuscodes;	/* RFC 2034 */
	int		chunking;	/* RFC 3030 */
	unsigned	auth;		/* MTA_AUTH_* offered, "AUTH" or "AUTH=" */
};

/*
 * Fills *r from a 250 reply to EHLO: the first line is the server's
 * name, each later line a keyword with parameters (case-insensitive).
 * Unknown keywords and bad parameters (a SIZE that is not a number) are
 * ignored, so this cannot fail.  r->esmtp is set to 1.
 */
void	mta_reply_ehlo_parse(const struct mta_reply *, struct mta_reply_ehlo *r);

#endif
