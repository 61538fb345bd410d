/*
 * authres.h - the Authentication-Results header field (RFC 8601): the
 * result lines a receiving server adds, and taking away the fields a
 * sender forged in its name.
 *
 * RFC 8601 section 5: a server that adds results under its authserv-id
 * must first remove (or rename) any field already carrying that id, or
 * a sender could claim "dkim=pass" in our name and a mail client that
 * trusts our fields would believe it.  Fields of other ids are left as
 * they are: they are another server's claims, and ours never trust them.
 *
 * Pure functions over bytes, no allocation but the result.
 */
#ifndef VELLUM_MAIL_AUTHRES_H
#define VELLUM_MAIL_AUTHRES_H

#include <stddef.h>

#define AUTHRES_ID_MAX		253	/* an authserv-id: a host name */

/*
 * The authserv-id of the Authentication-Results field value v (the part
 * after the colon, folding included): comments and white space skipped,
 * then a token or a quoted string (RFC 8601 2.2, 2.5).  1 with the id in
 * id (NUL-ended, unquoted), 0 when there is none or it is too long.
 */
int	authres_id(const char *v, size_t len, char id[AUTHRES_ID_MAX + 1]);

/*
 * A mime_field_drop (mail/mime.h): whether the whole field [f, f + len)
 * is an Authentication-Results field whose authserv-id is id (a string;
 * compared without case).  mime_header_strip() with it gives the message
 * without them.
 */
int	authres_is_ours(const char *f, size_t len, void *id);

/*
 * A value for a result property (smtp.mailfrom=, header.d=, ...): s as it
 * is when it is a token or a token@domain address (RFC 8601's pvalue),
 * else as a quoted string (quotes and backslashes
 * escaped, control bytes left out).  Written NUL-ended into buf (cut to
 * size).
 */
void	authres_value(const char *s, char *buf, size_t size);

#endif
