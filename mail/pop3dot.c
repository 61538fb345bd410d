/*
 * pop3dot.c - message bytes as POP3 RETR and TOP send them.
 *
 * The whole state is in struct pop3dot, so chunk boundaries can fall
 * anywhere (between CR and LF, right after a line end before a '.');
 * the text of a line is copied a run at a time (memchr for its LF).
 */
#include <string.h>

#include "mail/pop3dot.h"

void
pop3dot_init(struct pop3dot *st, long lines)
{
	memset(st, 0, sizeof(*st));
	st->at_bol = 1;
	st->lines_left = lines < 0 ? POP3DOT_ALL : lines;
}

size_t
pop3dot_feed(struct pop3dot *st, const void *in, size_t len, char *out)
{
	const unsigned char *p = in, *end = p + len, *nl;
	char *o = out;
	size_t n;
	int empty;

	for (; p < end && !st->done; p++) {
		if (*p != '\n') {
			/* The line's bytes up to its LF, copied at once. */
			if (st->at_bol && *p == '.')
				*o++ = '.';
			nl = memchr(p, '\n', (size_t)(end - p));
			n = (size_t)((nl != NULL ? nl : end) - p);
			memcpy(o, p, n);
			o += n;
			st->at_bol = 0;
			st->prev_cr = p[n - 1] == '\r';
			st->line_len = n >= 2 ? 2 : st->line_len + (unsigned)n > 2 ?
			    2 : st->line_len + (unsigned)n;
			p += n - 1;
			continue;
		}
		if (!st->prev_cr)
			*o++ = '\r';
		*o++ = '\n';
		/* "\n" or "\r\n" alone: the empty line after the header. */
		empty = st->line_len == 0 ||
		    (st->line_len == 1 && st->prev_cr);
		st->at_bol = 1;
		st->prev_cr = 0;
		st->line_len = 0;
		if (!st->in_body) {
			if (empty) {
				st->in_body = 1;
				if (st->lines_left == 0)
					st->done = 1;
			}
		} else if (st->lines_left > 0 && --st->lines_left == 0)
			st->done = 1;
	}
	return (size_t)(o - out);
}

size_t
pop3dot_finish(struct pop3dot *st, char *out)
{
	char *o = out;

	if (!st->at_bol) {
		*o++ = '\r';
		*o++ = '\n';
		st->at_bol = 1;
		st->prev_cr = 0;
		st->line_len = 0;
	}
	memcpy(o, ".\r\n", 3);
	o += 3;
	st->done = 1;
	return (size_t)(o - out);
}

int
pop3dot_done(const struct pop3dot *st)
{
	return st->done;
}
