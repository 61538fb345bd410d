/*
 * attach.h - the attachments of a message and their decoded sizes, for
 * the outgoing policy's per-attachment size limit.
 *
 * What counts as an attachment (what a Thunderbird, Outlook or amavis
 * user would call one): a leaf part of the MIME tree (multiparts are
 * followed at any depth up to MIME_DEPTH_MAX, and so are message/rfc822
 * and message/global parts: a forwarded message is not an attachment
 * itself, its attachments are) that
 *   1. has "Content-Disposition: attachment", or
 *   2. has a file name (Content-Disposition filename= or filename*=,
 *      else Content-Type name= or name*=), inline or not: an image
 *      pasted with its name is shown as an attachment by every mail
 *      reader, or
 *   3. is not text/ * nor message/ * (delivery reports) and is not
 *      marked "Content-Disposition: inline": an application/pdf with no
 *      header but its type is an attachment, a nameless inline image of
 *      an HTML mail (multipart/related) is not.
 * A single-part message whose type makes it an attachment (a bare
 * application/pdf message) is one.  Structure that is not followed
 * counts whole, so nothing can hide a large attachment from the limit:
 * a multipart nested deeper than MIME_DEPTH_MAX, a multipart without a
 * boundary, an encoded (base64/QP) message/rfc822 are each one opaque
 * attachment of their raw size (MAIL_ATTACH_OPAQUE).  A multipart whose
 * boundary never occurs shows nothing, as in mail readers.
 *
 * The size is the DECODED size: base64 is 3/4 of the base64 characters
 * (line ends, blanks, '=' padding and other bytes outside the alphabet
 * do not count, leftover bits are dropped, as mail/decode.c decodes);
 * quoted-printable is the decoded byte count (soft line breaks and the
 * blanks before a hard line end go, "=XY" is one byte); 7bit, 8bit,
 * binary and unknown encodings are the body's bytes without the line
 * end before the next boundary.
 *
 * Pure functions over bytes: no I/O.  Line ends may be CRLF, LF or
 * mixed.  Malformed or truncated input never fails: it yields the
 * attachments that could be found (an unterminated part runs to the end
 * of the message).  The header parsers used (mail/rfc822.c, RFC 2047
 * words through imap_header_decode()) allocate temporarily; the results
 * live in the caller's memory.  Thread-safe.  Cost: each nesting level
 * scans its bytes once for its boundary, so at most MIME_DEPTH_MAX
 * passes, and every attachment body is read once to size it.
 */
#ifndef VELLUM_MAIL_ATTACH_H
#define VELLUM_MAIL_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"

/* File names longer than this (bytes of UTF-8, NUL included) are cut. */
#define MAIL_ATTACH_NAME_MAX	256
/* Content types longer than this are cut. */
#define MAIL_ATTACH_TYPE_MAX	128

/* struct mail_attachment flags */
#define MAIL_ATTACH_DISPOSITION	0x01	/* Content-Disposition: attachment */
#define MAIL_ATTACH_INLINE	0x02	/* Content-Disposition: inline */
#define MAIL_ATTACH_OPAQUE	0x04	/* structure not followed (see above) */
#define MAIL_ATTACH_UNTERMINATED 0x08	/* its multipart was not closed: the
					   part ran to the end of its parent */

struct mail_attachment {
	/*
	 * UTF-8 (invalid bytes and controls become '?'), RFC 2231 and
	 * RFC 2047 decoded, NUL-terminated; "" when it has none.
	 */
	char		filename[MAIL_ATTACH_NAME_MAX];
	/* lower-case "type/subtype", NUL-terminated */
	char		type[MAIL_ATTACH_TYPE_MAX];
	uint64_t	size;		/* decoded bytes */
	uint64_t	off;		/* raw body: [off, off + len) of msg */
	uint64_t	len;
	enum mail_cte	cte;		/* its Content-Transfer-Encoding */
	int		flags;		/* MAIL_ATTACH_* */
	unsigned	depth;		/* 0: the message itself is one */
};

/* Called for each attachment, in the order of the message. */
typedef void mail_attach_fn(const struct mail_attachment *, void *ctx);

/*
 * Walks the message of len bytes and calls fn for each attachment.
 * Returns how many there were.
 */
size_t	mail_attach_walk(const uint8_t *msg, size_t len, mail_attach_fn *fn,
	    void *ctx);

/*
 * The attachments of the message into out[max].  *n_r is how many the
 * message has.  1 when all of them are in out, 0 when there were more
 * than max (the first max are in out).
 */
int	mail_attachments(const uint8_t *msg, size_t len,
	    struct mail_attachment *out, size_t max, size_t *n_r);

/*
 * The largest attachment (by decoded size; the first of equal ones) into
 * *r.  1 found, 0 the message has none (*r zeroed).
 */
int	mail_attachment_largest(const uint8_t *msg, size_t len,
	    struct mail_attachment *r);

#endif
