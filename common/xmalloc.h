/*
 * xmalloc.h - allocation that never returns NULL.
 *
 * Every function aborts the process (fatalx) when memory runs out, so callers
 * never check for NULL.  Sizes that overflow are treated the same way.
 */
#ifndef VELLUM_XMALLOC_H
#define VELLUM_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
void	*xmemdup(const void *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
