/*
 * maptext.h - the lines of a Postfix lookup table as text (postmap(1)
 * input, access(5), the *_bcc_maps): what store/bcc.c and store/acl.c
 * both read, so that both take the same file the same way.
 *
 * A logical line is one physical line plus the lines after it that start
 * with white space (they continue it, joined by one space).  A line whose
 * first non-blank character is '#' is a comment (as in Postfix, '#'
 * elsewhere is data); blank lines are skipped; CRLF ends a line as LF
 * does.  Pure: no store, no I/O.
 */
#ifndef VELLUM_STORE_MAPTEXT_H
#define VELLUM_STORE_MAPTEXT_H

#include <stddef.h>

/*
 * Called with each logical line (NUL-terminated, writable, the caller's
 * to cut up in place) and the number of its first physical line: 0 go
 * on, -1 stop with the error it set.
 */
typedef int store_map_line_fn(char *line, unsigned lineno, void *ctx);

/*
 * Reads text[0..len) and calls fn per logical line.  0 done; -1 INVALID
 * at the first bad line (a NUL byte, a continuation with nothing before
 * it, or fn's error), the message "LINE: what is wrong", and *line_r
 * (may be NULL) that line.
 */
int	store_map_read(const char *text, size_t len, store_map_line_fn *fn,
	    void *ctx, unsigned *line_r);

/*
 * Splits line in place at white space into at most max words (the last
 * keeps the rest of the line, its inner spaces, with trailing blanks
 * cut).  Returns the count.
 */
size_t	store_map_words(char *line, char **words, size_t max);

#endif
