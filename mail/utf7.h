/*
 * utf7.h - IMAP's modified UTF-7 for mailbox names (RFC 3501 5.1.3).
 *
 * The store keeps names in UTF-8; clients that did not ENABLE
 * UTF8=ACCEPT send and receive them in modified UTF-7.  Pure functions.
 */
#ifndef VELLUM_MAIL_UTF7_H
#define VELLUM_MAIL_UTF7_H

#include <stddef.h>

/*
 * Decodes modified UTF-7 into NUL-terminated UTF-8.  0 ok; -1 with
 * ERR_INVALID when the input is not valid modified UTF-7 (an unclosed
 * "&", bad base64, a shift that encodes printable ASCII or nothing but
 * "&-", a bad surrogate, non-ASCII bytes) or ERR_TOOBIG when it does not
 * fit in outsize.
 */
int	utf7_decode(const char *in, size_t len, char *out, size_t outsize);
/*
 * Encodes NUL-terminated UTF-8 into modified UTF-7.  0 ok; -1 with
 * ERR_INVALID for malformed UTF-8 or ERR_TOOBIG.
 */
int	utf7_encode(const char *in, char *out, size_t outsize);
/* Whether s (len bytes) is valid UTF-8 (no overlongs, no surrogates). */
int	utf8_valid(const char *s, size_t len);

#endif
