/*
 * imapheader.c - header helpers of imapmsg.h: the fields of a header
 * block by name (FETCH BODY[HEADER.FIELDS ...]) and RFC 2047 decoding
 * (SEARCH on headers, the sort keys).
 */
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "imapmsg.h"

/* Longest encoded word decoded (RFC 2047 says 75; mail says more). */
#define IMAP_HEADER_WORD_MAX	4096
/* Charset converters kept by the process. */
#define IMAP_HEADER_CONV_CACHE	4

struct obuf {
	char	*p;
	size_t	 len, cap;
};

/* The charset converters (see conv_get()). */
static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char	name[64];
	iconv_t	cd;
	int	used;
} conv_cache[IMAP_HEADER_CONV_CACHE];
static unsigned conv_next;

static void	ob_add(struct obuf *, const void *, size_t);
static size_t	word_decode(const char *, size_t, struct obuf *);
static size_t	b64_decode(const char *, size_t, uint8_t *);
static size_t	q_decode(const char *, size_t, uint8_t *);
static void	charset_to_utf8(const char *, size_t, const uint8_t *,
		    size_t, struct obuf *, int *);
static int	hexval(int);
static iconv_t	conv_get(const char *);

static void
ob_add(struct obuf *o, const void *p, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->p = xreallocarray(o->p, o->cap, 1);
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static size_t
b64_decode(const char *s, size_t n, uint8_t *out)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0;
	const char *q;

	for (i = 0; i < n; i++) {
		if (s[i] == '=')
			break;
		if ((q = memchr(al, s[i], 64)) == NULL)
			continue;
		acc = (acc << 6) | (uint32_t)(q - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

static size_t
q_decode(const char *s, size_t n, uint8_t *out)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		if (s[i] == '_')
			out[o++] = ' ';
		else if (s[i] == '=' && i + 2 < n &&
		    (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
			out[o++] = (uint8_t)(h * 16 + l);
			i += 2;
		} else
			out[o++] = (uint8_t)s[i];
	}
	return o;
}

/* Appends bytes in charset cs as UTF-8; *ok_r 0 when cs is unknown. */
static void
charset_to_utf8(const char *cs, size_t cslen, const uint8_t *in, size_t n,
    struct obuf *o, int *ok_r)
{
	char name[64], outb[1024], *ip, *op;
	size_t il, ol, i;
	iconv_t cd;

	*ok_r = 1;
	if ((cslen == 5 && strncasecmp(cs, "utf-8", 5) == 0) ||
	    (cslen == 8 && strncasecmp(cs, "us-ascii", 8) == 0) ||
	    (cslen == 4 && strncasecmp(cs, "utf8", 4) == 0)) {
		ob_add(o, in, n);
		return;
	}
	if ((cslen == 10 && strncasecmp(cs, "iso-8859-1", 10) == 0) ||
	    (cslen == 6 && strncasecmp(cs, "latin1", 6) == 0)) {
		for (i = 0; i < n; i++) {
			uint8_t u[2];

			if (in[i] < 0x80)
				ob_add(o, &in[i], 1);
			else {
				u[0] = (uint8_t)(0xc0 | (in[i] >> 6));
				u[1] = (uint8_t)(0x80 | (in[i] & 0x3f));
				ob_add(o, u, 2);
			}
		}
		return;
	}
	if (cslen == 0 || cslen >= sizeof(name)) {
		*ok_r = 0;
		return;
	}
	/*
	 * A charset name is a token: a NUL would make it "" (the locale's
	 * charset to iconv_open()), '/' a gconv path.
	 */
	for (i = 0; i < cslen; i++) {
		uint8_t ch = (uint8_t)cs[i];

		if (ch <= ' ' || ch >= 0x7f || ch == '/') {
			*ok_r = 0;
			return;
		}
	}
	memcpy(name, cs, cslen);
	name[cslen] = '\0';
	pthread_mutex_lock(&conv_lock);
	if ((cd = conv_get(name)) == (iconv_t)-1) {
		pthread_mutex_unlock(&conv_lock);
		*ok_r = 0;
		return;
	}
	ip = (char *)(uintptr_t)in;
	il = n;
	while (il > 0) {
		op = outb;
		ol = sizeof(outb);
		if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 &&
		    errno != E2BIG) {
			/* a bad byte: skip it, keep going */
			ob_add(o, outb, (size_t)(op - outb));
			ob_add(o, "?", 1);
			ip++;
			il--;
			continue;
		}
		ob_add(o, outb, (size_t)(op - outb));
	}
	/* flush a stateful decoder (ISO-2022-JP escapes) */
	op = outb;
	ol = sizeof(outb);
	if (iconv(cd, NULL, NULL, &op, &ol) != (size_t)-1)
		ob_add(o, outb, (size_t)(op - outb));
	pthread_mutex_unlock(&conv_lock);
}

/*
 * A converter from charset name to UTF-8, (iconv_t)-1 when there is
 * none.  iconv_open() costs about 100 us (it loads a gconv module), and
 * this runs at delivery: the process keeps the last few converters, and
 * the names that have none.  An iconv_t is not for two threads at once:
 * the caller holds conv_lock from here until it is done converting.
 */
static iconv_t
conv_get(const char *name)
{
	unsigned i;

	for (i = 0; i < IMAP_HEADER_CONV_CACHE; i++) {
		if (conv_cache[i].used &&
		    strcasecmp(conv_cache[i].name, name) == 0) {
			if (conv_cache[i].cd != (iconv_t)-1)
				(void)iconv(conv_cache[i].cd, NULL, NULL, NULL,
				    NULL);
			return conv_cache[i].cd;
		}
	}
	i = conv_next++ % IMAP_HEADER_CONV_CACHE;
	if (conv_cache[i].used && conv_cache[i].cd != (iconv_t)-1)
		iconv_close(conv_cache[i].cd);
	conv_cache[i].used = 1;
	snprintf(conv_cache[i].name, sizeof(conv_cache[i].name), "%s", name);
	conv_cache[i].cd = iconv_open("UTF-8", name);
	return conv_cache[i].cd;
}

/*
 * An encoded word "=?cs?e?text?=" at s: its length, with the decoded
 * text appended to o; 0 when s does not start one (o unchanged).
 */
static size_t
word_decode(const char *s, size_t n, struct obuf *o)
{
	const char *cs, *q1, *q2, *end, *star;
	size_t cslen, tlen, dl, lim = n < IMAP_HEADER_WORD_MAX ? n :
	    IMAP_HEADER_WORD_MAX;
	uint8_t *tmp;
	char enc;
	int ok;

	if (lim < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	cs = s + 2;
	if ((q1 = memchr(cs, '?', lim - 2)) == NULL || q1 + 3 >= s + lim ||
	    q1[2] != '?')
		return 0;
	enc = q1[1];
	if (enc != 'b' && enc != 'B' && enc != 'q' && enc != 'Q')
		return 0;
	q2 = q1 + 3;
	for (end = q2; end + 1 < s + lim; end++) {
		if (end[0] == '?' && end[1] == '=')
			break;
		if (*end == ' ' || *end == '\t')
			return 0;
	}
	if (end + 1 >= s + lim)
		return 0;
	cslen = (size_t)(q1 - cs);
	/* RFC 2231: charset*language */
	if ((star = memchr(cs, '*', cslen)) != NULL)
		cslen = (size_t)(star - cs);
	tlen = (size_t)(end - q2);
	tmp = xmalloc(tlen + 1);
	dl = enc == 'b' || enc == 'B' ? b64_decode(q2, tlen, tmp) :
	    q_decode(q2, tlen, tmp);
	charset_to_utf8(cs, cslen, tmp, dl, o, &ok);
	free(tmp);
	if (!ok)
		return 0;
	return (size_t)(end + 2 - s);
}

void
imap_header_decode(const char *value, size_t len, char **out_r,
    size_t *outlen_r)
{
	struct obuf o = { 0 }, un = { 0 };
	size_t i, w, ws_start = 0, save;
	int last_word = 0;

	ob_add(&o, "", 0);
	/* unfold: drop CR and LF */
	ob_add(&un, "", 0);
	for (i = 0; i < len;) {
		for (w = i; w < len && value[w] != '\r' && value[w] != '\n'; w++)
			;
		ob_add(&un, value + i, w - i);
		for (i = w; i < len && (value[i] == '\r' || value[i] == '\n');
		    i++)
			;
	}
	for (i = 0; i < un.len;) {
		if (un.p[i] == '=' && un.p[i + 1] == '?') {
			save = o.len;
			if (last_word) {
				/* white space between two words goes */
				o.len = ws_start;
			}
			if ((w = word_decode(un.p + i, un.len - i, &o)) > 0) {
				i += w;
				last_word = 1;
				ws_start = o.len;
				continue;
			}
			o.len = save;
			o.p[o.len] = '\0';
		}
		if (un.p[i] != ' ' && un.p[i] != '\t')
			last_word = 0;
		else if (!last_word)
			ws_start = o.len;
		ob_add(&o, &un.p[i], 1);
		i++;
	}
	free(un.p);
	*out_r = o.p;
	*outlen_r = o.len;
}

void
imap_header_fields(const char *hdr, size_t len, const char *const *names,
    const size_t *namelens, size_t n, int exclude, imap_field_fn *fn,
    void *ctx)
{
	size_t off = 0, start, next, name_end, j;
	const char *nl;
	int match;

	while (off < len) {
		if (hdr[off] == '\n' || (hdr[off] == '\r' && off + 1 < len &&
		    hdr[off + 1] == '\n'))
			break;
		start = off;
		/* the field: its line and the continuation lines */
		do {
			nl = memchr(hdr + off, '\n', len - off);
			off = nl == NULL ? len : (size_t)(nl - hdr) + 1;
		} while (off < len && (hdr[off] == ' ' || hdr[off] == '\t'));
		next = off;
		for (name_end = start; name_end < next &&
		    hdr[name_end] != ':' && hdr[name_end] != '\n'; name_end++)
			;
		if (name_end == next || hdr[name_end] != ':')
			continue;
		while (name_end > start && (hdr[name_end - 1] == ' ' ||
		    hdr[name_end - 1] == '\t'))
			name_end--;
		match = 0;
		for (j = 0; j < n && !match; j++)
			match = namelens[j] == name_end - start &&
			    strncasecmp(hdr + start, names[j], namelens[j]) == 0;
		if (match != exclude)
			fn(hdr + start, next - start, ctx);
	}
}
