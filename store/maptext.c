/*
 * maptext.c - see maptext.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "maptext.h"

/*
 * The white space before a line's first word: what store_map_words()
 * skips, so that a comment or blank line is one whose first word would
 * start with '#' or be missing (a key never starts with '#').
 */
static size_t
map_space(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0' && isspace((unsigned char)s[n]))
		n++;
	return n;
}

/* "LINE: " before the current error's message; -1 INVALID. */
static int
map_fail(unsigned lineno, unsigned *line_r)
{
	char msg[512];

	if (line_r != NULL)
		*line_r = lineno;
	snprintf(msg, sizeof(msg), "%s", err_msg());
	return err_set(ERR_INVALID, "%u: %s", lineno, msg);
}

int
store_map_read(const char *text, size_t len, store_map_line_fn *fn,
    void *ctx, unsigned *line_r)
{
	const char *p = text, *end = text + len, *nl;
	char *logical = NULL, *line, *s;
	unsigned lineno = 0, start = 0;
	size_t n, ll;
	int rc;

	if (line_r != NULL)
		*line_r = 0;
	for (;;) {
		line = NULL;
		if (p < end) {
			nl = memchr(p, '\n', (size_t)(end - p));
			n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
			if (n > 0 && p[n - 1] == '\r')
				n--;
			line = xstrndup(p, n);
			p = nl != NULL ? nl + 1 : end;
			lineno++;
			if (strlen(line) != n) {
				free(line);
				free(logical);
				err_set(ERR_INVALID, "a NUL byte in the line");
				return map_fail(lineno, line_r);
			}
			/* As in Postfix, '#' starts a comment line only. */
			s = line + map_space(line);
			if (*s == '#')
				*s = '\0';
		}
		/* White space first: the line continues the last one. */
		if (line != NULL && logical != NULL &&
		    isspace((unsigned char)line[0]) &&
		    line[map_space(line)] != '\0') {
			s = xasprintf("%s %s", logical, line);
			free(logical);
			free(line);
			logical = s;
			continue;
		}
		if (logical != NULL) {
			rc = fn(logical, start, ctx);
			free(logical);
			logical = NULL;
			if (rc == -1) {
				free(line);
				return map_fail(start, line_r);
			}
		}
		if (line == NULL)
			break;
		ll = map_space(line);
		if (line[ll] == '\0') {
			free(line);
			continue;
		}
		if (ll > 0 && start == 0) {
			/* a continuation of nothing: postmap says the same */
			free(line);
			err_set(ERR_INVALID, "a continuation line (starting "
			    "with white space) with no line before it");
			return map_fail(lineno, line_r);
		}
		logical = line;
		start = lineno;
	}
	return 0;
}

size_t
store_map_words(char *line, char **words, size_t max)
{
	char *p = line, *e;
	size_t n = 0;

	while (n < max) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		words[n++] = p;
		if (n == max) {
			/* the rest of the line, its end trimmed */
			e = p + strlen(p);
			while (e > p && isspace((unsigned char)e[-1]))
				e--;
			*e = '\0';
			break;
		}
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}
