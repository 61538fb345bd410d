/*
 * buf.h - building IMAP responses, no I/O.
 *
 * A growable byte buffer and the IMAP ways of writing a string: an atom
 * when that is safe, a quoted string when it can be one, a literal
 * otherwise (CR, LF, NUL, 8-bit without UTF8=ACCEPT, longer than
 * IMAP_QUOTED_MAX).  Sessions build a response here and hand it to the
 * connection in one write.
 */
#ifndef VELLUM_IMAP_BUF_H
#define VELLUM_IMAP_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Longer strings are sent as literals. */
#define IMAP_QUOTED_MAX		1024

struct imap_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

void	imap_buf_init(struct imap_buf *);
void	imap_buf_free(struct imap_buf *);
void	imap_buf_reset(struct imap_buf *);	/* len = 0, memory kept */
void	imap_buf_add(struct imap_buf *, const void *, size_t);
void	imap_buf_adds(struct imap_buf *, const char *);
void	imap_buf_printf(struct imap_buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	imap_buf_vprintf(struct imap_buf *, const char *, va_list);
/* string: quoted or literal (utf8: 8-bit may be quoted). */
void	imap_buf_string(struct imap_buf *, const char *, size_t, int utf8);
/* astring: an atom when every byte is ASTRING-CHAR, else as string. */
void	imap_buf_astring(struct imap_buf *, const char *, size_t, int utf8);
/* nstring: NIL for s == NULL. */
void	imap_buf_nstring(struct imap_buf *, const char *, size_t, int utf8);
/*
 * A mailbox name (UTF-8 in the store) as the client wants it: modified
 * UTF-7 (mail/utf7.h) unless utf8, then as astring.
 */
void	imap_buf_mailbox(struct imap_buf *, const char *name, int utf8);
/*
 * n ascending numbers (uids or message numbers) as a sequence set,
 * runs folded: 1 2 3 7 -> "1:3,7".  n == 0 writes nothing.
 */
void	imap_buf_uidset(struct imap_buf *, const uint32_t *, size_t n);

#endif
