/*
 * disclaim.h - adds a disclaimer to a message, keeping its MIME structure
 * whole (what altermime and Synology MailPlus do for an organisation's
 * outgoing mail).  Pure: bytes in, bytes out; no I/O.
 *
 * Where the text goes, by the message's shape:
 *   text/plain            the plain text at the end of the text
 *   text/html             the HTML before the last </body> (else at the
 *                         end)
 *   multipart/alternative the plain text to each text/plain part, the
 *                         HTML to each text/html part (also the root of a
 *                         multipart/related in it)
 *   multipart/mixed (and any other multipart but those below): to the
 *                         first text part that is not an attachment (an
 *                         alternative or related one as above), else as
 *                         a new text/plain part before the closing
 *                         delimiter
 *   anything else (an image, application/pdf...): the message becomes
 *                         multipart/mixed, its body the first part and
 *                         the disclaimer a text/plain second one
 *   multipart/signed, multipart/encrypted, application/pkcs7-mime and
 *   message types: unchanged (a change would break the user's signature, or
 *   is not ours to make), and why says so.
 *
 * The text goes into a part in the part's own transfer encoding: as it
 * is for 7bit/8bit/binary, appended quoted-printable for
 * quoted-printable (the original lines are not re-encoded), and for
 * base64 the part is decoded, changed and encoded again (76-column
 * lines).  A part cannot take the text in place when the text is not
 * ASCII and the part's charset is not UTF-8 (us-ascii included: the part
 * would lie about its bytes) or the part is 7bit: then the text goes in
 * a new part as for a part-less message (a new part in a mixed one, the
 * message wrapped otherwise).  A new part is "text/plain;
 * charset=utf-8", 7bit when the text is ASCII, quoted-printable if not.
 *
 * In the text: a blank line, then the disclaimer, whose line ends become
 * the message's own (CRLF or LF, from its first line).  With no HTML
 * given, the HTML form is the plain text escaped (& < > ") in <pre>..</pre>,
 * so its lines stay as the admin wrote them.
 */
#ifndef VELLUM_MAIL_DISCLAIM_H
#define VELLUM_MAIL_DISCLAIM_H

#include <stddef.h>

#define DISCLAIM_WHY_MAX	160

struct disclaim_text {
	const char	*plain;		/* UTF-8, any line ends */
	size_t		 plainlen;
	const char	*html;		/* UTF-8 fragment, or NULL */
	size_t		 htmllen;
};

/*
 * Rewrites msg[0..len) with the disclaimer t.  1: *out_r (malloc'd,
 * *outlen_r bytes) is the new message; 0: the message stays as it is,
 * why (DISCLAIM_WHY_MAX bytes, may be NULL) says why.  Never fails.
 */
int	disclaim_apply(const void *msg, size_t len,
	    const struct disclaim_text *t, char **out_r, size_t *outlen_r,
	    char *why);

/* The HTML form of a plain text: escaped in <pre>; malloc'd. */
char	*disclaim_html_of_plain(const char *plain, size_t len,
	    size_t *len_r);

#endif
