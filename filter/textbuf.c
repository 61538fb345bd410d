/*
 * textbuf.c - see textbuf.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "filter/textbuf.h"

void
textbuf_add(struct textbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->size) {
		size_t size = b->size ? b->size : 1024;

		while (b->len + n + 1 > size)
			size *= 2;
		b->p = xreallocarray(b->p, size, 1);
		b->size = size;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
textbuf_str(struct textbuf *b, const char *s)
{
	textbuf_add(b, s, strlen(s));
}

void
textbuf_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatalx("out of memory");
	va_end(ap);
	textbuf_str(b, s);
	free(s);
}
