/*
 * textbuf.h - a growing, always NUL-ended text the filter/ builders
 * (vacation.c, listmsg.c) write messages into.  Allocation aborts on
 * out-of-memory (common/xmalloc.h), so nothing here fails.
 */
#ifndef VELLUM_FILTER_TEXTBUF_H
#define VELLUM_FILTER_TEXTBUF_H

#include <stddef.h>

struct textbuf {
	char	*p;		/* malloc'd; NULL until the first add */
	size_t	 len;		/* bytes, without the NUL */
	size_t	 size;
};

void	textbuf_add(struct textbuf *, const void *, size_t);
void	textbuf_str(struct textbuf *, const char *);
void	textbuf_printf(struct textbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
