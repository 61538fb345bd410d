/*
 * pop3dot.h - message bytes as POP3 RETR and TOP send them, no I/O.
 *
 * A streaming converter: the caller feeds the message in chunks of any
 * size (state is carried from one chunk to the next, so every split of
 * the input gives the same output) and sends what comes out.  Rules
 * (RFC 1939, section 3):
 * - a bare LF becomes CRLF; CR LF is kept; a CR not followed by LF is
 *   passed on as it is (the store's crlf_size counts the same way);
 * - a line that starts with '.' gets one more '.' (dot-stuffing);
 * - pop3dot_finish() ends the last line with CRLF when the message did
 *   not end with a line end, then writes the terminating ".\r\n";
 * - every other byte, NUL included, passes through unchanged.
 *
 * So the octets of message content sent (without the stuffed dots and
 * the terminator) are crlf_size, plus 2 when the message has no final
 * newline: what POP3 LIST and STAT announce.
 *
 * TOP mode (pop3dot_init() with lines >= 0) sends the header, the empty
 * line that ends it and then at most that many body lines; pop3dot_done()
 * then says the rest of the message need not be read.  A message without
 * an empty line is all header and is sent whole.
 */
#ifndef VELLUM_MAIL_POP3DOT_H
#define VELLUM_MAIL_POP3DOT_H

#include <stddef.h>

/* pop3dot_init() lines for RETR: the whole message. */
#define POP3DOT_ALL		(-1L)
/* Room pop3dot_feed() needs in out for len input bytes. */
#define POP3DOT_OUT_MAX(len)	(2 * (len))
/* Room pop3dot_finish() needs in out: CRLF and ".\r\n". */
#define POP3DOT_FINISH_MAX	5

struct pop3dot {
	int		at_bol;		/* the next byte starts a line */
	int		prev_cr;	/* the last byte was CR */
	unsigned	line_len;	/* bytes of this line so far (max 2) */
	int		in_body;	/* past the header's empty line */
	long		lines_left;	/* TOP: body lines to send; -1: all */
	int		done;		/* TOP: nothing more will be sent */
};

/* Starts a message: lines is POP3DOT_ALL (RETR) or TOP's line count. */
void	pop3dot_init(struct pop3dot *, long lines);

/*
 * Converts len bytes of the message into out, which must hold
 * POP3DOT_OUT_MAX(len) bytes.  Returns the number of bytes written.
 * Input after TOP's last line is ignored.
 */
size_t	pop3dot_feed(struct pop3dot *, const void *in, size_t len,
	    char *out);

/*
 * Ends the message: CRLF when the last line had no line end, then
 * ".\r\n".  out holds POP3DOT_FINISH_MAX bytes.  Returns the length.
 */
size_t	pop3dot_finish(struct pop3dot *, char *out);

/* 1 when TOP has sent all it will send: stop reading the message. */
int	pop3dot_done(const struct pop3dot *);

#endif
