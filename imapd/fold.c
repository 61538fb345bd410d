/*
 * fold.c - case folding for SEARCH, SORT and THREAD (fold.h).
 */
#include "imapd/fold.h"

static uint32_t	fold_cp(uint32_t);
static size_t	put_utf8(uint32_t, char *);

/*
 * Simple case folding for the scripts mail mostly comes in.  Bytes that
 * do not form UTF-8 are taken as Latin-1 characters, so an undeclared
 * 8-bit header still compares sensibly.
 */
static uint32_t
fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xc0 && c <= 0xde && c != 0xd7)
		return c + 32;
	if (c < 0x100)
		return c;
	if (c == 0x130)
		return 'i';
	if ((c <= 0x137 && !(c & 1)) ||
	    (c >= 0x139 && c <= 0x148 && (c & 1)) ||
	    (c >= 0x14a && c <= 0x177 && !(c & 1)) ||
	    (c >= 0x179 && c <= 0x17e && (c & 1)))
		return c + 1;
	if (c == 0x178)
		return 0xff;
	if (c >= 0x391 && c <= 0x3ab && c != 0x3a2)
		return c + 32;
	if (c == 0x3c2)
		return 0x3c3;		/* final sigma */
	if (c == 0x386)
		return 0x3ac;		/* Greek capitals with tonos */
	if (c >= 0x388 && c <= 0x38a)
		return c + 37;
	if (c == 0x38c)
		return 0x3cc;
	if (c == 0x38e || c == 0x38f)
		return c + 63;
	/* pairs, capital at the even code point: Latin Extended-B
	 * (Romanian Ș Ț ...), Cyrillic extensions (Ukrainian Ґ ...),
	 * Latin Extended Additional (Vietnamese) */
	if (!(c & 1) && ((c >= 0x200 && c <= 0x21f) ||
	    (c >= 0x222 && c <= 0x233) || (c >= 0x460 && c <= 0x481) ||
	    (c >= 0x48a && c <= 0x4bf) || (c >= 0x4d0 && c <= 0x52f) ||
	    (c >= 0x1e00 && c <= 0x1e95) || (c >= 0x1ea0 && c <= 0x1eff)))
		return c + 1;
	if (c >= 0x531 && c <= 0x556)
		return c + 48;		/* Armenian */
	if (c >= 0xff21 && c <= 0xff3a)
		return c + 32;		/* fullwidth Latin */
	if (c >= 0x410 && c <= 0x42f)
		return c + 32;
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	return c;
}

uint32_t
imap_fold_next(const char **pp, const char *end)
{
	const unsigned char *p = (const unsigned char *)*pp;
	size_t left = (size_t)(end - *pp), n, i;
	uint32_t c;

	c = p[0];
	if (c < 0x80) {
		n = 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else
		n = 0;
	if (n > left)
		n = 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			n = 0;
			break;
		}
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (n == 3 && c < 0x800)
		n = 0;		/* overlong */
	if (n == 4 && (c < 0x10000 || c > 0x10ffff))
		n = 0;
	if (n == 0) {
		*pp += 1;
		return fold_cp(p[0]);	/* Latin-1 */
	}
	*pp += n;
	return fold_cp(c);
}

/* Writes c as UTF-8 to b (room for 4 bytes); returns the length. */
static size_t
put_utf8(uint32_t c, char *b)
{
	if (c < 0x80) {
		b[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		b[0] = (char)(0xc0 | (c >> 6));
		b[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		b[0] = (char)(0xe0 | (c >> 12));
		b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	b[0] = (char)(0xf0 | (c >> 18));
	b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	b[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	b[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

void
imap_fold(const char *s, size_t len, struct imap_buf *out)
{
	const char *p = s, *end = s + len;
	char chunk[2048];
	size_t n = 0;
	unsigned char c;

	while (p < end) {
		if (n + 4 > sizeof(chunk)) {
			imap_buf_add(out, chunk, n);
			n = 0;
		}
		c = (unsigned char)*p;
		if (c < 0x80) {
			/* ASCII, the common case, without a call */
			chunk[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			p++;
			continue;
		}
		n += put_utf8(imap_fold_next(&p, end), chunk + n);
	}
	if (n > 0)
		imap_buf_add(out, chunk, n);
}

int
imap_fold_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *ae = a + alen, *be = b + blen;
	uint32_t x, y;

	while (a < ae && b < be) {
		x = imap_fold_next(&a, ae);
		y = imap_fold_next(&b, be);
		if (x != y)
			return x < y ? -1 : 1;
	}
	if (a < ae)
		return 1;
	if (b < be)
		return -1;
	return 0;
}
