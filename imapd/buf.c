/*
 * buf.c - building IMAP responses (buf.h): a growable buffer and the
 * choice between atom, quoted string and literal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "imapd/buf.h"
#include "mail/utf7.h"

static void	buf_grow(struct imap_buf *, size_t);
static int	buf_astring_char(unsigned char);

static void
buf_grow(struct imap_buf *b, size_t more)
{
	size_t cap;

	if (b->cap - b->len > more)
		return;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap - b->len <= more) {
		if (cap > SIZE_MAX / 2)
			cap = b->len + more + 1;
		else
			cap *= 2;
	}
	b->p = xreallocarray(b->p, cap, 1);
	b->cap = cap;
}

void
imap_buf_init(struct imap_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
imap_buf_free(struct imap_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void
imap_buf_reset(struct imap_buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* The buffer stays NUL-terminated after its len bytes (for debugging). */
void
imap_buf_add(struct imap_buf *b, const void *s, size_t len)
{
	buf_grow(b, len);
	if (len > 0)
		memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void
imap_buf_adds(struct imap_buf *b, const char *s)
{
	imap_buf_add(b, s, strlen(s));
}

void
imap_buf_printf(struct imap_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
imap_buf_vprintf(struct imap_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	buf_grow(b, 128);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	if (n < 0) {
		va_end(ap2);
		b->p[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		(void)vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap2);
	}
	va_end(ap2);
	b->len += (size_t)n;
}

void
imap_buf_string(struct imap_buf *b, const char *s, size_t len, int utf8)
{
	size_t i;
	int quoted = len <= IMAP_QUOTED_MAX, eight = 0;
	unsigned char c;

	for (i = 0; i < len && quoted; i++) {
		c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n')
			quoted = 0;
		else if (c >= 0x80)
			eight = 1;
	}
	if (quoted && eight && (!utf8 || !utf8_valid(s, len)))
		quoted = 0;
	if (!quoted) {
		imap_buf_printf(b, "{%zu}\r\n", len);
		imap_buf_add(b, s, len);
		return;
	}
	buf_grow(b, 2 * len + 2);
	b->p[b->len++] = '"';
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			b->p[b->len++] = '\\';
		b->p[b->len++] = s[i];
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

/* ASTRING-CHAR: ATOM-CHAR or ']' (see parse.c). */
static int
buf_astring_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\", c) == NULL;
}

void
imap_buf_astring(struct imap_buf *b, const char *s, size_t len, int utf8)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!buf_astring_char((unsigned char)s[i]))
			break;
	if (len == 0 || i < len || (len == 3 && strncasecmp(s, "NIL", 3) ==
	    0)) {
		imap_buf_string(b, s, len, utf8);
		return;
	}
	imap_buf_add(b, s, len);
}

void
imap_buf_nstring(struct imap_buf *b, const char *s, size_t len, int utf8)
{
	if (s == NULL)
		imap_buf_adds(b, "NIL");
	else
		imap_buf_string(b, s, len, utf8);
}

void
imap_buf_mailbox(struct imap_buf *b, const char *name, int utf8)
{
	size_t len = strlen(name), size;
	char *out;

	if (utf8) {
		imap_buf_astring(b, name, len, 1);
		return;
	}
	/* Worst case: each byte a control character, "&AAE-" for one. */
	size = 5 * len + 8;
	out = xmalloc(size);
	if (utf7_encode(name, out, size) == 0)
		imap_buf_astring(b, out, strlen(out), 0);
	else	/* not UTF-8 in the store: show the bytes, as a literal */
		imap_buf_astring(b, name, len, 0);
	free(out);
}

void
imap_buf_uidset(struct imap_buf *b, const uint32_t *u, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && u[j] == u[j - 1] + 1; j++)
			;
		if (i > 0)
			imap_buf_adds(b, ",");
		if (j - 1 == i)
			imap_buf_printf(b, "%u", u[i]);
		else
			imap_buf_printf(b, "%u:%u", u[i], u[j - 1]);
	}
}
