/*
 * utf7.c - IMAP's modified UTF-7 (RFC 3501 5.1.3) to and from UTF-8.
 *
 * Decoding is strict: a name has exactly one spelling, the one
 * utf7_encode() produces, so two spellings can never name one mailbox.
 * The checks named in utf7.h are made one by one for their messages;
 * a final re-encoding catches what is left (adjacent shifts).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "mail/utf7.h"

static const char utf7_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int	utf7_b64_val(unsigned char);
static int	utf8_put(uint32_t, char *, size_t, size_t *);
static size_t	utf8_get(const unsigned char *, size_t, uint32_t *);

static int
utf7_b64_val(unsigned char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(utf7_b64, c)) == NULL)
		return -1;
	return (int)(p - utf7_b64);
}

/* Appends code point u; -1 (ERR_TOOBIG) when out (size) is full. */
static int
utf8_put(uint32_t u, char *out, size_t size, size_t *o)
{
	unsigned char b[4];
	size_t n;

	if (u < 0x80) {
		b[0] = (unsigned char)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (unsigned char)(0xc0 | (u >> 6));
		b[1] = (unsigned char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (u >> 12));
		b[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (u >> 18));
		b[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (u & 0x3f));
		n = 4;
	}
	if (size - *o <= n)	/* room for the NUL as well */
		return err_set(ERR_TOOBIG, "mailbox name too long");
	memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

/*
 * One UTF-8 sequence at s (len > 0): its length and *u, or 0 when it
 * is malformed (overlong, surrogate, beyond U+10FFFF, cut short).
 */
static size_t
utf8_get(const unsigned char *s, size_t len, uint32_t *u)
{
	size_t n, i;
	uint32_t v, min;

	if (s[0] < 0x80) {
		*u = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		v = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		v = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		v = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*u = v;
	return n;
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t c;

	while (i < len) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_get(u + i, len - i, &c)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

int
utf7_decode(const char *in, size_t len, char *out, size_t outsize)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, start;
	uint32_t bits, nbits, u, hi;
	char *again;
	int v, rc;

	if (outsize == 0)
		return err_set(ERR_TOOBIG, "mailbox name too long");
	while (i < len) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			return err_set(ERR_INVALID, "mailbox name: byte 0x%02x "
			    "in modified UTF-7", s[i]);
		}
		if (s[i] != '&') {
			if (utf8_put(s[i], out, outsize, &o) == -1)
				return -1;
			i++;
			continue;
		}
		i++;
		if (i < len && s[i] == '-') {
			if (utf8_put('&', out, outsize, &o) == -1)
				return -1;
			i++;
			continue;
		}
		bits = nbits = 0;
		hi = 0;
		start = i;
		for (; i < len && s[i] != '-'; i++) {
			if ((v = utf7_b64_val(s[i])) == -1)
				return err_set(ERR_INVALID, "mailbox name: "
				    "'%c' in a modified UTF-7 shift", s[i]);
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			u = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			if (hi != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return err_set(ERR_INVALID, "mailbox "
					    "name: a lone UTF-16 surrogate");
				u = 0x10000 + ((hi - 0xd800) << 10) +
				    (u - 0xdc00);
				hi = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				hi = u;
				continue;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return err_set(ERR_INVALID, "mailbox name: a "
				    "lone UTF-16 surrogate");
			} else if (u >= 0x20 && u <= 0x7e) {
				return err_set(ERR_INVALID, "mailbox name: "
				    "modified UTF-7 for printable ASCII");
			} else if (u == 0) {
				return err_set(ERR_INVALID, "mailbox name: NUL "
				    "in modified UTF-7");
			}
			if (utf8_put(u, out, outsize, &o) == -1)
				return -1;
		}
		if (i >= len)
			return err_set(ERR_INVALID, "mailbox name: modified "
			    "UTF-7 shift without its closing '-'");
		if (i == start)
			return err_set(ERR_INVALID, "mailbox name: empty "
			    "modified UTF-7 shift");
		if (hi != 0)
			return err_set(ERR_INVALID, "mailbox name: a lone "
			    "UTF-16 surrogate");
		if (nbits >= 6 || bits != 0)
			return err_set(ERR_INVALID, "mailbox name: modified "
			    "UTF-7 shift with stray bits");
		i++;	/* '-' */
	}
	out[o] = '\0';
	/* The one spelling: what encoding gives back (no adjacent shifts). */
	again = xmalloc(len + 1);
	rc = utf7_encode(out, again, len + 1);
	if (rc == 0 && (strlen(again) != len || memcmp(again, in, len) != 0))
		rc = -1;
	free(again);
	if (rc == -1)
		return err_set(ERR_INVALID, "mailbox name: not the canonical "
		    "modified UTF-7 spelling");
	return 0;
}

int
utf7_encode(const char *in, char *out, size_t outsize)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in), i = 0, o = 0, n;
	uint32_t u, bits, nbits, units[2];
	size_t k, nu;

#define PUT(c) do {							\
	if (o + 1 >= outsize)						\
		return err_set(ERR_TOOBIG, "mailbox name too long");	\
	out[o++] = (char)(c);						\
} while (0)

	if (outsize == 0)
		return err_set(ERR_TOOBIG, "mailbox name too long");
	while (i < len) {
		if (s[i] >= 0x20 && s[i] <= 0x7e) {
			PUT(s[i]);
			if (s[i] == '&')
				PUT('-');
			i++;
			continue;
		}
		/* A run of characters that are not printable ASCII. */
		PUT('&');
		bits = nbits = 0;
		while (i < len && (s[i] < 0x20 || s[i] > 0x7e)) {
			if ((n = utf8_get(s + i, len - i, &u)) == 0) {
				out[0] = '\0';
				return err_set(ERR_INVALID, "mailbox name: "
				    "invalid UTF-8");
			}
			i += n;
			if (u >= 0x10000) {
				units[0] = 0xd800 + ((u - 0x10000) >> 10);
				units[1] = 0xdc00 + ((u - 0x10000) & 0x3ff);
				nu = 2;
			} else {
				units[0] = u;
				nu = 1;
			}
			for (k = 0; k < nu; k++) {
				bits = (bits << 16) | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					PUT(utf7_b64[(bits >> nbits) & 0x3f]);
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits > 0)
			PUT(utf7_b64[(bits << (6 - nbits)) & 0x3f]);
		PUT('-');
	}
	out[o] = '\0';
	return 0;
#undef PUT
}
