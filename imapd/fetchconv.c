/*
 * fetchconv.c - stored bytes to the bytes FETCH sends (fetchconv.h).
 */
#include <string.h>

#include "imapd/fetchconv.h"

void
imap_fetchconv_init(struct imap_fetchconv *c, uint64_t crlf_len,
    uint64_t origin, uint64_t count, uint64_t *len_r)
{
	uint64_t len = origin >= crlf_len ? 0 : crlf_len - origin;

	if (len > count)
		len = count;
	memset(c, 0, sizeof(*c));
	c->skip = len == 0 ? 0 : origin;
	c->left = len;
	*len_r = len;
}

/* Gives converted bytes p[0..n) through the window. */
static void
fetchconv_emit(struct imap_fetchconv *c, struct imap_buf *out,
    const char *p, size_t n)
{
	if (c->skip >= n) {
		c->skip -= n;
		return;
	}
	p += c->skip;
	n -= (size_t)c->skip;
	c->skip = 0;
	if (n > c->left)
		n = (size_t)c->left;
	imap_buf_add(out, p, n);
	c->left -= n;
}

size_t
imap_fetchconv_run(struct imap_fetchconv *c, const void *raw, size_t n,
    struct imap_buf *out)
{
	const char *r = raw, *nl;
	size_t i = 0, j, start = 0;
	int pcr;

	while (i < n && c->left > 0) {
		nl = memchr(r + i, '\n', n - i);
		j = nl != NULL ? (size_t)(nl - r) : n;
		pcr = j > i ? r[j - 1] == '\r' : c->prev_cr;
		if (nl == NULL) {
			c->prev_cr = pcr;
			i = n;
			break;
		}
		if (!pcr) {
			/* a bare LF: the run before it, then CR; the LF
			 * starts the next run */
			fetchconv_emit(c, out, r + start, j - start);
			fetchconv_emit(c, out, "\r", 1);
			start = j;
			if (c->left == 0)
				return j;
		}
		c->prev_cr = 0;
		i = j + 1;
	}
	fetchconv_emit(c, out, r + start, i - start);
	return i;
}
