/*
 * decode.h - MIME Content-Transfer-Encoding decoding (RFC 2045 6), pure.
 *
 * For FETCH BINARY (RFC 3516) and SEARCH BODY/TEXT.  The decoder is
 * incremental: the encoded bytes come in pieces of any size (a streamed
 * FETCH reads a part a piece per store transaction) and the output is the
 * same however the input is cut.  No I/O, no allocation.
 *
 * base64: bytes outside the alphabet (line ends, blanks, '=' padding) are
 * skipped, as mail readers do; bits left over at the end are dropped.
 * quoted-printable: "=XY" (hex, either case) is the byte; "=" followed by
 * blanks and a line end is a soft line break (nothing); every hard line
 * end (LF or CRLF) stays as it is, or becomes CRLF with MAIL_DECODE_CRLF
 * (IMAP sends text with CRLF, RFC 9051 6.4.5), and the blanks before it
 * go (RFC 2045 rule 3); a stray "=" stays as it is; "=" at the very end
 * goes.  A lone CR stays a lone CR.  Without MAIL_DECODE_CRLF the output
 * is never longer than the input.
 */
#ifndef VELLUM_MAIL_DECODE_H
#define VELLUM_MAIL_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum mail_cte {
	MAIL_CTE_IDENTITY,	/* 7bit, 8bit, binary (or none): as it is */
	MAIL_CTE_BASE64,
	MAIL_CTE_QP,		/* quoted-printable */
	MAIL_CTE_UNKNOWN,	/* anything else (x-uuencode, "", ...) */
};

/* mail_decoder_init() flags */
#define MAIL_DECODE_CRLF	0x01	/* quoted-printable line ends as CRLF */

/*
 * Blanks a quoted-printable decoder holds back while it waits for the
 * line end that would drop them; a longer run is let through as it is.
 */
#define MAIL_DECODE_BLANKS_MAX	128
/*
 * Room mail_decode() needs for n input bytes: a hard LF becomes CRLF, and
 * held blanks may come out with the next byte.
 */
#define MAIL_DECODE_OUT(n)	(2 * (size_t)(n) + MAIL_DECODE_BLANKS_MAX + 4)

struct mail_decoder {
	enum mail_cte	cte;
	int		flags;
	/* base64 */
	uint32_t	acc;
	int		bits;
	/* quoted-printable */
	int		state;
	int		hex;			/* first digit of "=X" */
	size_t		nblanks;
	char		blanks[MAIL_DECODE_BLANKS_MAX];
};

/*
 * The transfer encoding named by a Content-Transfer-Encoding field value
 * (len bytes; blanks, comments and case do not matter, as Dovecot reads
 * it).  An empty or unknown value is MAIL_CTE_UNKNOWN; a message without
 * the field is MAIL_CTE_IDENTITY (the caller knows that).
 */
enum mail_cte mail_cte_parse(const char *value, size_t len);

/*
 * Starts decoding cte (MAIL_CTE_UNKNOWN decodes as IDENTITY); flags:
 * MAIL_DECODE_* or 0.
 */
void	mail_decoder_init(struct mail_decoder *, enum mail_cte cte,
	    int flags);
/*
 * Decodes the next n input bytes into out, which has room for
 * MAIL_DECODE_OUT(n) bytes.  Returns the number of bytes written.
 */
size_t	mail_decode(struct mail_decoder *, const void *in, size_t n,
	    char *out);
/*
 * Ends the input: writes what was held back (at most
 * MAIL_DECODE_OUT(0) bytes) and returns how many.  The decoder may then
 * be started again with mail_decoder_init().
 */
size_t	mail_decode_end(struct mail_decoder *, char *out);

#endif
