/*
 * vacation.h - auto-replies (RFC 3834), pure: whether a message may get
 * one, and the reply itself.  No I/O, no store: the caller (deliver/)
 * reads the user's settings (store/vacation.h), asks
 * filter_vacation_wanted(), records the sender with store_vacation_note()
 * (one reply per sender per interval) and queues what
 * filter_vacation_compose() built, with the null sender "<>" as its
 * envelope sender (RFC 3834 3.3).
 */
#ifndef VELLUM_FILTER_VACATION_H
#define VELLUM_FILTER_VACATION_H

#include <stddef.h>
#include <time.h>

/* Longest subject taken (bytes, before encoding); the rest is cut. */
#define FILTER_VACATION_SUBJECT_MAX	998
/* Most ids of the original's References carried over (the newest). */
#define FILTER_VACATION_REFS_MAX	32
/* Longest body line sent as 7bit; longer lines make it quoted-printable. */
#define FILTER_VACATION_LINE_MAX	76

/*
 * Whether an auto-reply may go to sender (the envelope sender of msg, with
 * or without <>) for the message msg[len] (CRLF or LF; only its header is
 * read) sent to the user whose addresses are addrs[naddrs].  Returns 1
 * when it may, 0 when not, with the rule that said no in why (always
 * NUL-ended when whysize > 0; "" when 1).  The rules, first match wins:
 *   - the sender is "" (the null sender: a bounce), has no '@', or its
 *     local part (any case; also the part before a '+') is MAILER-DAEMON,
 *     mailer, postmaster, LISTSERV, majordomo, or starts with "owner-" or
 *     ends with "-request", "-owner", "-bounces" (list and system
 *     senders, as vacation(1) and Pigeonhole's vacation skip them);
 *   - an Auto-Submitted field whose value is not "no" (RFC 3834 5);
 *   - Precedence: bulk, list or junk;
 *   - any List-* field (List-Id, List-Unsubscribe, ... RFC 2369, 2919);
 *   - an X-Loop field (procmail and list managers mark loops with it);
 *   - X-Spam-Flag: YES (SpamAssassin);
 *   - X-Auto-Response-Suppress: All or OOF (Exchange);
 *   - none of addrs is in To, Cc, Bcc, Resent-To or Resent-Cc (RFC 5322
 *     address lists, groups included, compared without case; "u+x@d" in
 *     the message matches "u@d" of addrs): the message came by Bcc or
 *     through a list or an alias the user does not answer for.
 */
int	filter_vacation_wanted(const char *msg, size_t len, const char *sender,
	    const char *const *addrs, size_t naddrs, char *why,
	    size_t whysize);

struct filter_vacation_in {
	const char	*from;		/* the user's address */
	const char	*to;		/* the sender */
	const char	*subject;	/* "" -> "Auto: " + the original
					   subject ("Automated reply" when
					   it has none) */
	const char	*body;		/* the user's text (UTF-8; LF or
					   CRLF line ends) */
	const void	*orig;		/* the original message */
	size_t		 origlen;
	const char	*hostname;	/* the Message-ID's right part */
	time_t		 now;		/* the Date */
};

/*
 * Builds the reply: a complete RFC 5322 message with CRLF line ends:
 *   Date (UTC), From: <from>, To: <to>, Subject (RFC 2047 base64 words in
 *   UTF-8 when it is not ASCII; folded), Message-ID: <...@hostname> (made
 *   of now, a hash of the input and a per-process counter),
 *   In-Reply-To: the original's Message-ID, References: the original's
 *   References (or its In-Reply-To when that is one id) and Message-ID,
 *   Auto-Submitted: auto-replied, MIME-Version: 1.0,
 *   Content-Type: text/plain; charset=utf-8, Content-Transfer-Encoding:
 *   7bit, or quoted-printable when the body has 8-bit or control bytes or
 *   a line longer than FILTER_VACATION_LINE_MAX;
 * then the body, every line ended by CRLF.  Returns 1 with *msg_r
 * (malloc'd, NUL-ended) and *len_r, or -1 (INVALID: from, to, subject or
 * hostname has a CR or LF, so a header would be injected, or from, to or
 * hostname is empty).
 */
int	filter_vacation_compose(const struct filter_vacation_in *in,
	    char **msg_r, size_t *len_r);

#endif
