/*
 * fetchconv.h - the bytes FETCH sends for a stored byte range, no I/O.
 *
 * IMAP sends every line end as CRLF, so a bare LF in the stored bytes
 * goes out as CR LF (a CR LF pair stays as it is; a lone CR stays a lone
 * CR), the same rule by which mail/imapmsg.h counts sizes.  A partial
 * fetch <origin.count> counts in these converted bytes.  The converter
 * takes the raw range in pieces of any size (a streamed FETCH reads it a
 * piece per transaction) and gives the same output however the range is
 * cut.
 */
#ifndef VELLUM_IMAP_FETCHCONV_H
#define VELLUM_IMAP_FETCHCONV_H

#include <stddef.h>
#include <stdint.h>

#include "imapd/buf.h"

struct imap_fetchconv {
	uint64_t	skip;		/* converted bytes still to drop */
	uint64_t	left;		/* converted bytes still to give */
	int		prev_cr;	/* the last raw byte was CR */
};

/*
 * Starts a range whose converted length is crlf_len: origin and count
 * (count UINT64_MAX: to the end) as in <origin.count>.  *len_r is the
 * length of the literal to announce: min(count, crlf_len - origin), 0
 * when origin is at or past the end.
 */
void	imap_fetchconv_init(struct imap_fetchconv *, uint64_t crlf_len,
	    uint64_t origin, uint64_t count, uint64_t *len_r);
/*
 * Converts the next n raw bytes of the range into out (only what lies in
 * the window).  Returns how many raw bytes it took: n, or fewer once
 * nothing is left to give (then c->left is 0).
 */
size_t	imap_fetchconv_run(struct imap_fetchconv *, const void *raw,
	    size_t n, struct imap_buf *out);

#endif
