/*
 * attach.c - the attachments of a message (see attach.h).
 *
 * The walk follows mime.c's cut of a message (same header helpers, same
 * delimiter rule: a line starting "--boundary", the line end before it
 * belongs to it), so the parts it sizes are the parts the store cuts into
 * segments.  Parameters (file names) go through mail/rfc822.c, which
 * joins RFC 2231 continuations as Dovecot does; this file only decodes
 * the joined value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"

#include "attach.h"
#include "imapmsg.h"
#include "mime.h"
#include "rfc822.h"

/* Longest Content-Type / Content-Disposition value read (cut beyond). */
#define ATTACH_FIELD_MAX	8192
/* Quoted-printable is decoded this many input bytes at a time. */
#define ATTACH_QP_CHUNK		4096

/* 1 for the bytes of the base64 alphabet (as mail/decode.c takes them) */
static const uint8_t b64_alpha[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

struct walk {
	const uint8_t	*msg;
	mail_attach_fn	*fn;
	void		*ctx;
	size_t		 n;
	/* scratch, not kept across a recursion */
	char		 val[ATTACH_FIELD_MAX];
	char		 qp[MAIL_DECODE_OUT(ATTACH_QP_CHUNK)];
};

static void	attach_entity(struct walk *, size_t, size_t, size_t, unsigned,
		    int, int);
static void	attach_multipart(struct walk *, const char *, const char *,
		    size_t, size_t, unsigned, int);
static void	attach_leaf(struct walk *, const char *, enum mail_cte,
		    size_t, size_t, size_t, unsigned, int);
static uint64_t	attach_size(struct walk *, enum mail_cte, const uint8_t *,
		    size_t);
static const struct rfc822_str *attach_param(const struct rfc822_params *,
		    const char *);
static void	attach_filename(const struct rfc822_str *, int, char *,
		    size_t);
static size_t	attach_pct_decode(const char *, size_t, char *);
static void	attach_utf8_copy(const char *, size_t, char *, size_t);
static size_t	attach_utf8_len(const unsigned char *, size_t);
static size_t	attach_line_end(const uint8_t *, size_t, size_t);

static size_t
attach_line_end(const uint8_t *data, size_t end, size_t off)
{
	const uint8_t *nl = memchr(data + off, '\n', end - off);

	return nl == NULL ? end : (size_t)(nl - data) + 1;
}

/*
 * The entity whose header is [hoff, boff) and body [boff, end).  in_digest:
 * a child of a multipart/digest, whose default type is message/rfc822.
 */
static void
attach_entity(struct walk *w, size_t hoff, size_t boff, size_t end,
    unsigned depth, int in_digest, int flags)
{
	const uint8_t *m = w->msg;
	char type[MAIL_ATTACH_TYPE_MAX], b[256];
	enum mail_cte cte = MAIL_CTE_IDENTITY;
	size_t inner;

	type[0] = b[0] = '\0';
	if (mime_header_get(m + hoff, boff - hoff, "Content-Type", w->val,
	    sizeof(w->val)))
		mime_content_type(w->val, type, sizeof(type), b, sizeof(b));
	/* RFC 2045 5.2: no (or a broken) type is the default type */
	if (strchr(type, '/') == NULL) {
		snprintf(type, sizeof(type), "%s",
		    in_digest ? "message/rfc822" : "text/plain");
		b[0] = '\0';
	}
	if (mime_header_get(m + hoff, boff - hoff,
	    "Content-Transfer-Encoding", w->val, sizeof(w->val)))
		cte = mail_cte_parse(w->val, strlen(w->val));

	if (strcmp(type, "message/rfc822") == 0 ||
	    strcmp(type, "message/global") == 0) {
		/*
		 * An encoded message cannot be walked without decoding it:
		 * it counts whole, like one too deep.
		 */
		if (depth >= MIME_DEPTH_MAX || cte == MAIL_CTE_BASE64 ||
		    cte == MAIL_CTE_QP) {
			attach_leaf(w, type, cte, hoff, boff, end, depth,
			    flags | MAIL_ATTACH_OPAQUE);
			return;
		}
		inner = boff + mime_header_end(m + boff, end - boff);
		attach_entity(w, boff, inner, end, depth + 1, 0, flags);
		return;
	}
	if (strncmp(type, "multipart/", 10) == 0) {
		if (depth >= MIME_DEPTH_MAX || b[0] == '\0') {
			attach_leaf(w, type, cte, hoff, boff, end, depth,
			    flags | MAIL_ATTACH_OPAQUE);
			return;
		}
		attach_multipart(w, type, b, boff, end, depth, flags);
		return;
	}
	attach_leaf(w, type, cte, hoff, boff, end, depth, flags);
}

/* The parts of a multipart with boundary b, body [boff, end). */
static void
attach_multipart(struct walk *w, const char *type, const char *b,
    size_t boff, size_t end, unsigned depth, int flags)
{
	const uint8_t *m = w->msg;
	size_t blen = strlen(b), off, next, pstart = 0, pend;
	int inpart = 0, digest = strcmp(type, "multipart/digest") == 0;

	for (off = boff; off < end; off = next) {
		next = attach_line_end(m, end, off);
		if (!(off + 2 + blen <= end && m[off] == '-' &&
		    m[off + 1] == '-' && memcmp(m + off + 2, b, blen) == 0))
			continue;
		if (inpart) {
			pend = off;
			if (pend > pstart && m[pend - 1] == '\n')
				pend--;
			if (pend > pstart && m[pend - 1] == '\r')
				pend--;
			attach_entity(w, pstart, pstart + mime_header_end(m +
			    pstart, pend - pstart), pend, depth + 1, digest,
			    flags);
		}
		if (off + 2 + blen + 2 <= end &&
		    m[off + 2 + blen] == '-' && m[off + 3 + blen] == '-')
			return;		/* close delimiter */
		inpart = 1;
		pstart = next;
	}
	/* No close delimiter: the last part runs to the end. */
	if (inpart && pstart < end)
		attach_entity(w, pstart, pstart + mime_header_end(m + pstart,
		    end - pstart), end, depth + 1, digest,
		    flags | MAIL_ATTACH_UNTERMINATED);
}

/* The parameter called name (any case) of a parsed field, or NULL. */
static const struct rfc822_str *
attach_param(const struct rfc822_params *ps, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < ps->n; i++)
		if (ps->v[i].name.len == len &&
		    strncasecmp(ps->v[i].name.p, name, len) == 0)
			return &ps->v[i].value;
	return NULL;
}

/* A leaf part: reports it when it is an attachment (rules in attach.h). */
static void
attach_leaf(struct walk *w, const char *type, enum mail_cte cte,
    size_t hoff, size_t boff, size_t end, unsigned depth, int flags)
{
	const uint8_t *m = w->msg;
	struct mail_attachment a;
	struct rfc822_ctype f;
	const struct rfc822_str *v;

	memset(&a, 0, sizeof(a));
	if (mime_header_get(m + hoff, boff - hoff, "Content-Disposition",
	    w->val, sizeof(w->val)) &&
	    rfc822_disp_parse(w->val, strlen(w->val), &f)) {
		if (f.type.len == 10 &&
		    strncasecmp(f.type.p, "attachment", 10) == 0)
			flags |= MAIL_ATTACH_DISPOSITION;
		else if (f.type.len == 6 &&
		    strncasecmp(f.type.p, "inline", 6) == 0)
			flags |= MAIL_ATTACH_INLINE;
		if ((v = attach_param(&f.params, "filename*")) != NULL)
			attach_filename(v, 1, a.filename, sizeof(a.filename));
		else if ((v = attach_param(&f.params, "filename")) != NULL)
			attach_filename(v, 0, a.filename, sizeof(a.filename));
		rfc822_ctype_free(&f);
	}
	if (a.filename[0] == '\0' && mime_header_get(m + hoff, boff - hoff,
	    "Content-Type", w->val, sizeof(w->val)) &&
	    rfc822_ctype_parse(w->val, strlen(w->val), &f)) {
		if ((v = attach_param(&f.params, "name*")) != NULL)
			attach_filename(v, 1, a.filename, sizeof(a.filename));
		else if ((v = attach_param(&f.params, "name")) != NULL)
			attach_filename(v, 0, a.filename, sizeof(a.filename));
		rfc822_ctype_free(&f);
	}
	if (!(flags & (MAIL_ATTACH_DISPOSITION | MAIL_ATTACH_OPAQUE)) &&
	    a.filename[0] == '\0' && ((flags & MAIL_ATTACH_INLINE) ||
	    strncmp(type, "text/", 5) == 0 || strncmp(type, "message/", 8) == 0))
		return;

	snprintf(a.type, sizeof(a.type), "%s", type);
	a.off = boff;
	a.len = end - boff;
	a.cte = cte;
	a.flags = flags;
	a.depth = depth;
	/* An opaque entity counts raw: it was not decoded as a whole. */
	a.size = attach_size(w, (flags & MAIL_ATTACH_OPAQUE) &&
	    strncmp(type, "multipart/", 10) == 0 ? MAIL_CTE_IDENTITY : cte,
	    m + boff, end - boff);
	w->n++;
	if (w->fn != NULL)
		w->fn(&a, w->ctx);
}

/* The decoded size of n bytes in encoding cte (see attach.h). */
static uint64_t
attach_size(struct walk *w, enum mail_cte cte, const uint8_t *p, size_t n)
{
	struct mail_decoder d;
	uint64_t size = 0, chars = 0;
	size_t i, k;

	switch (cte) {
	case MAIL_CTE_BASE64:
		for (i = 0; i < n; i++)
			chars += b64_alpha[p[i]];
		return chars * 3 / 4;
	case MAIL_CTE_QP:
		mail_decoder_init(&d, MAIL_CTE_QP, 0);
		for (i = 0; i < n; i += k) {
			k = n - i < ATTACH_QP_CHUNK ? n - i : ATTACH_QP_CHUNK;
			size += mail_decode(&d, p + i, k, w->qp);
		}
		return size + mail_decode_end(&d, w->qp);
	default:
		return n;
	}
}

/*
 * A file name parameter into out (UTF-8, see attach.h).  ext: an RFC 2231
 * "name*" value, charset'language'%-encoded (the continuations already
 * joined by rfc822.c); else a plain value, which senders often fill with
 * RFC 2047 words against the rules (Outlook, Gmail): those are decoded.
 */
static void
attach_filename(const struct rfc822_str *v, int ext, char *out,
    size_t outsize)
{
	const char *s = v->p, *q1, *q2;
	char *raw, *word, *dec;
	size_t len = v->len, cslen, n, i, o, declen;

	if (!ext) {
		if (memmem(s, len, "=?", 2) != NULL) {
			imap_header_decode(s, len, &dec, &declen);
			attach_utf8_copy(dec, declen, out, outsize);
			free(dec);
		} else
			attach_utf8_copy(s, len, out, outsize);
		return;
	}
	q1 = memchr(s, '\'', len);
	q2 = q1 == NULL ? NULL : memchr(q1 + 1, '\'', len - (size_t)(q1 -
	    s) - 1);
	if (q2 == NULL) {	/* no charset'lang' prefix: take it as UTF-8 */
		cslen = 0;
		q2 = s - 1;
	} else
		cslen = (size_t)(q1 - s);
	raw = xmalloc(len + 1);
	n = attach_pct_decode(q2 + 1, len - (size_t)(q2 + 1 - s), raw);
	if (cslen == 0 || (cslen == 5 && strncasecmp(s, "utf-8", 5) == 0) ||
	    (cslen == 8 && strncasecmp(s, "us-ascii", 8) == 0)) {
		attach_utf8_copy(raw, n, out, outsize);
		free(raw);
		return;
	}
	/*
	 * Another charset: the bytes as one RFC 2047 Q word, so the
	 * converters of imap_header_decode() do it.  A charset it does not
	 * know leaves the word as it was: then the bytes as they are.
	 */
	word = xmalloc(cslen + 3 * n + 8);
	o = 0;
	word[o++] = '=';
	word[o++] = '?';
	for (i = 0; i < cslen; i++)
		word[o++] = s[i] == '?' ? '_' : s[i];
	memcpy(word + o, "?Q?", 3);
	o += 3;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-')
			word[o++] = (char)c;
		else {
			word[o++] = '=';
			word[o++] = "0123456789ABCDEF"[c >> 4];
			word[o++] = "0123456789ABCDEF"[c & 15];
		}
	}
	word[o++] = '?';
	word[o++] = '=';
	imap_header_decode(word, o, &dec, &declen);
	if (declen >= 2 && dec[0] == '=' && dec[1] == '?')
		attach_utf8_copy(raw, n, out, outsize);
	else
		attach_utf8_copy(dec, declen, out, outsize);
	free(dec);
	free(word);
	free(raw);
}

/* %XX decoding (a broken escape stays as it is); returns the length. */
static size_t
attach_pct_decode(const char *s, size_t len, char *out)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len) {
			hi = s[i + 1];
			lo = s[i + 2];
			hi = hi >= '0' && hi <= '9' ? hi - '0' :
			    hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 :
			    hi >= 'A' && hi <= 'F' ? hi - 'A' + 10 : -1;
			lo = lo >= '0' && lo <= '9' ? lo - '0' :
			    lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 :
			    lo >= 'A' && lo <= 'F' ? lo - 'A' + 10 : -1;
			if (hi >= 0 && lo >= 0) {
				out[o++] = (char)(hi << 4 | lo);
				i += 2;
				continue;
			}
		}
		out[o++] = s[i];
	}
	return o;
}

/*
 * Length of the valid UTF-8 sequence at s (n bytes available), 0 when
 * there is none (bad lead, truncated, overlong, surrogate, past U+10FFFF).
 */
static size_t
attach_utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * Copies a name as UTF-8: bytes that are not valid UTF-8 and controls
 * (CR, LF, TAB, NUL...) become '?', so the name is safe in a log line or
 * an SMTP reply; cut at a character boundary to fit outsize - 1.
 */
static void
attach_utf8_copy(const char *s, size_t len, char *out, size_t outsize)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, k;

	if (outsize == 0)
		return;
	while (i < len) {
		k = attach_utf8_len(u + i, len - i);
		if (k == 0 || (k == 1 && (u[i] < 0x20 || u[i] == 0x7f))) {
			if (o + 1 >= outsize)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + k >= outsize)
			break;
		memcpy(out + o, u + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
}

size_t
mail_attach_walk(const uint8_t *msg, size_t len, mail_attach_fn *fn,
    void *ctx)
{
	struct walk wbuf, *w = &wbuf;

	w->msg = msg;
	w->fn = fn;
	w->ctx = ctx;
	w->n = 0;
	if (len > 0)
		attach_entity(w, 0, mime_header_end(msg, len), len, 0, 0, 0);
	return w->n;
}

struct collect {
	struct mail_attachment	*out;
	size_t			 max;
	size_t			 n;
};

static void	collect_one(const struct mail_attachment *, void *);
static void	collect_largest(const struct mail_attachment *, void *);

static void
collect_one(const struct mail_attachment *a, void *ctx)
{
	struct collect *c = ctx;

	if (c->n < c->max)
		c->out[c->n] = *a;
	c->n++;
}

int
mail_attachments(const uint8_t *msg, size_t len, struct mail_attachment *out,
    size_t max, size_t *n_r)
{
	struct collect c = { out, max, 0 };

	mail_attach_walk(msg, len, collect_one, &c);
	*n_r = c.n;
	return c.n <= max;
}

static void
collect_largest(const struct mail_attachment *a, void *ctx)
{
	struct collect *c = ctx;

	if (c->n == 0 || a->size > c->out->size)
		*c->out = *a;
	c->n++;
}

int
mail_attachment_largest(const uint8_t *msg, size_t len,
    struct mail_attachment *r)
{
	struct collect c = { r, 1, 0 };

	memset(r, 0, sizeof(*r));
	mail_attach_walk(msg, len, collect_largest, &c);
	return c.n > 0;
}
