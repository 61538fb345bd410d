/*
 * lineread.c - see lineread.h.
 *
 * The reader never holds bytes itself: everything it needs to remember
 * between calls is whether it is inside an over-long line.  A CR at the
 * very end of the buffer may be the first half of a CRLF, so it is never
 * consumed while skipping and never counted as line content until the
 * next byte is known; that is what makes the result independent of how
 * the input is split into reads.
 */
#include <string.h>

#include "lineread.h"

static const char	*lineread_find_end(const struct lineread *,
			    const char *buf, size_t len);

void
lineread_init(struct lineread *lr, size_t max, int bare_lf)
{
	lr->max = max;
	lr->bare_lf = bare_lf != 0;
	lr->skipping = 0;
}

/*
 * The LF that ends the first line in buf, or NULL.  Without bare_lf only
 * an LF right after a CR inside buf counts: an LF at buf[0] cannot end a
 * CRLF, because a CR at the end of the previous buffer is never consumed.
 */
static const char *
lineread_find_end(const struct lineread *lr, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *lf;

	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (lr->bare_lf || (lf > buf && lf[-1] == '\r'))
			return lf;
		p = lf + 1;
	}
	return NULL;
}

enum lineread_result
lineread_next(struct lineread *lr, const char *buf, size_t len,
    size_t *consumed_r, size_t *linelen_r)
{
	const char *lf;
	size_t linelen, known;
	int cr_at_end;

	*consumed_r = 0;
	*linelen_r = 0;
	lf = lineread_find_end(lr, buf, len);
	if (lf != NULL) {
		*consumed_r = (size_t)(lf - buf) + 1;
		linelen = (size_t)(lf - buf);
		if (linelen > 0 && buf[linelen - 1] == '\r')
			linelen--;
		if (lr->skipping || linelen > lr->max) {
			lr->skipping = 0;
			return LINE_TOOLONG;
		}
		*linelen_r = linelen;
		return LINE_OK;
	}

	/* No line end yet.  A trailing CR may still turn into a line end. */
	cr_at_end = len > 0 && buf[len - 1] == '\r';
	known = len - (cr_at_end ? 1 : 0);
	if (!lr->skipping && known > lr->max)
		lr->skipping = 1;
	if (lr->skipping)
		*consumed_r = known;
	return LINE_NEED_MORE;
}
