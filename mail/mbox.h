/*
 * mbox.h - reading and writing mbox files (mboxrd flavour), no I/O.
 *
 * Reading.  A message starts with a "From " envelope line at offset 0 or
 * at the start of a line that follows an empty line ("\n" or "\r\n").
 * Every other line is message content.  The message bytes are the lines
 * between its envelope line and the next envelope line (or the end of the
 * buffer), minus the separator blank line that ends them when there is
 * one, with mboxrd unescaping: a line starting with one or more '>'
 * followed by "From " loses one '>'.  CRLF files work the same way: an
 * envelope line may end in "\r\n" and a separator line may be "\r\n".
 * A UTF-8 byte order mark before the first "From " is skipped.
 *
 * Writing.  mbox_format() writes "From SENDER DATE" (asctime form, UTC),
 * the message with every line matching ^>*From  given one more '>', and a
 * blank separator line.  When the message looks like CRLF (its first line
 * ends in "\r\n") the envelope and separator lines end in "\r\n" too.
 *
 * Messages without a final newline.  An mbox message must end with a line
 * end before the separator, so the writer appends "\n" to such a message
 * and marks the envelope line with a trailing " noeol" token
 * (MBOX_NOEOL_MARK); the reader removes that one "\n" again when it sees
 * the mark.  Mail readers ignore text after the date, so such files stay
 * ordinary mbox files; with this convention mbox_format() followed by
 * mbox_next() gives back every message byte for byte.
 */
#ifndef VELLUM_MAIL_MBOX_H
#define VELLUM_MAIL_MBOX_H

#include <stddef.h>
#include <time.h>

#define MBOX_SENDER_MAX		255
#define MBOX_NOEOL_MARK		"noeol"
/* Sender written when none is known or it cannot stand in the line. */
#define MBOX_SENDER_DEFAULT	"MAILER-DAEMON"

struct mbox_msg {
	/* The envelope line after "From ", without its line end. */
	const char	*envelope;
	size_t		 envelope_len;
	/* The first word of the envelope ("" when there is none). */
	char		 sender[MBOX_SENDER_MAX + 1];
	/* The envelope date as UTC, 0 when it could not be parsed. */
	time_t		 date;
	/* The message as stored in the buffer, still escaped. */
	const char	*raw;
	size_t		 raw_len;
	/* Offset of the envelope line in the buffer. */
	size_t		 offset;
};

/*
 * Returns 1 when buf holds an mbox: it begins with "From " (after a UTF-8
 * byte order mark, if any).
 */
int	mbox_is_mbox(const void *buf, size_t len);

/*
 * Finds the message that starts at *off (0 for the first one) and moves
 * *off to the next one.  The pointers in r point into buf.  Returns 1 for
 * a message, 0 at the end of the buffer, -1 (ERR_INVALID) when *off is not
 * at a "From " line (a buffer that is not an mbox).
 */
int	mbox_next(const void *buf, size_t len, size_t *off,
	    struct mbox_msg *r);

/*
 * Unescapes r->raw into a malloc'd buffer (the message bytes); *len_r
 * gets their length.  Never fails.
 */
char	*mbox_msg_dup(const struct mbox_msg *r, size_t *len_r);
/*
 * Unescapes len bytes of mboxrd text into out (at least len bytes);
 * returns the new length.  out may equal in.
 */
size_t	mbox_unescape(const char *in, size_t len, char *out);

/*
 * Parses an envelope line (the text after "From ", without its line end)
 * into sender (at most MBOX_SENDER_MAX bytes are kept) and date (0 when
 * the date is not understood).  Returns 1 when the line carries the
 * "noeol" mark, else 0.
 */
int	mbox_envelope_parse(const char *line, size_t len,
	    char sender[MBOX_SENDER_MAX + 1], time_t *date_r);

/*
 * Parses an asctime-style date as found in envelope lines: "Thu Sep  5
 * 23:42:38 2002", with an optional numeric or "UTC"/"GMT" zone before or
 * after the year; the weekday is optional.  Returns the time (UTC), or 0
 * when the text is not such a date or falls after MBOX_DATE_LAST.
 */
#define MBOX_DATE_LAST	253402300799LL	/* 9999-12-31 23:59:59 UTC */
time_t	mbox_date_parse(const char *text, size_t len);

/* Formats t as asctime without the newline ("Thu Sep  5 23:42:38 2002"). */
#define MBOX_DATE_MAX	32
char	*mbox_date_format(time_t t, char buf[MBOX_DATE_MAX]);

/*
 * Writes one message in mboxrd form (see above) into a malloc'd buffer;
 * *len_r gets its length.  sender NULL, empty or containing white space or
 * control bytes becomes MBOX_SENDER_DEFAULT.  Never fails.
 */
char	*mbox_format(const char *sender, time_t date, const void *msg,
	    size_t len, size_t *len_r);

/*
 * Keeps an envelope sender (the first word of a "From " line) with a
 * message the way a delivery agent does: a malloc'd copy of msg with
 * "Return-Path: <sender>" and the message's own line end (CRLF when its
 * first line ends so) in front.  NULL (nothing to add) when the header
 * block has a Return-Path already, or sender is MBOX_SENDER_DEFAULT (what
 * writers put when they know no sender), empty, or holds '<', '>', white
 * space or control bytes.  *len_r gets the new length.
 */
char	*mbox_sender_keep(const char *sender, const void *msg, size_t len,
	    size_t *len_r);

/*
 * Flags that mail readers keep in "Status:" and "X-Status:" header lines
 * of mbox messages (Status: R seen; X-Status: A answered, F flagged, D
 * deleted, T draft).  Only the header block is looked at.
 */
#define MBOX_F_SEEN		0x01
#define MBOX_F_ANSWERED		0x02
#define MBOX_F_FLAGGED		0x04
#define MBOX_F_DELETED		0x08
#define MBOX_F_DRAFT		0x10
unsigned	mbox_status_flags(const void *msg, size_t len);
/*
 * Removes every "Status:" and "X-Status:" line of the header block (with
 * its continuation lines) from msg, in place, as Dovecot does when it
 * turns them into flags (mutt rewrites them when it writes the mbox
 * again).  Returns the new length; nothing else moves.
 */
size_t	mbox_status_strip(char *msg, size_t len);

#endif
