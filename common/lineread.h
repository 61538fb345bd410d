/*
 * lineread.h - a bounded line reader over a byte buffer.
 *
 * Pure: it looks at bytes the caller holds and says where the next line
 * is.  A line longer than the limit is reported once as LINE_TOOLONG and
 * its bytes are skipped up to and including its line end, so the session
 * can answer with its protocol's error and go on.
 */
#ifndef VELLUM_LINEREAD_H
#define VELLUM_LINEREAD_H

#include <stddef.h>

enum lineread_result {
	LINE_NEED_MORE = 0,	/* no complete line yet: read more */
	LINE_OK = 1,		/* buf[0..*linelen_r): a line without its end */
	LINE_TOOLONG = 2,	/* a line over the limit was skipped */
};

struct lineread {
	size_t	max;		/* longest line, without its CRLF/LF */
	int	bare_lf;	/* accept LF alone as a line end */
	int	skipping;	/* inside an over-long line */
};

void	lineread_init(struct lineread *, size_t max, int bare_lf);

/*
 * Looks at buf[0..len).  *consumed_r is how many bytes the caller must
 * drop from its buffer (also for NEED_MORE while skipping an over-long
 * line).  With LINE_OK, the line is buf[0..*linelen_r): the CR before
 * the LF is excluded.  Without bare_lf, an LF not preceded by CR is part
 * of the line (protocols that require CRLF).
 */
enum lineread_result lineread_next(struct lineread *, const char *buf,
	    size_t len, size_t *consumed_r, size_t *linelen_r);

#endif
