/*
 * disclaim.c - see disclaim.h.
 *
 * The message is walked once and the change kept as a list of edits
 * (offset, bytes to replace, bytes to put there): everything between
 * them is copied byte for byte, so what is not changed stays exactly
 * as it was (the user's own encoding of a quoted-printable part, the
 * attachments, the header).  Only a message wrapped in a new
 * multipart/mixed is built anew, and then its header fields are moved,
 * not rewritten.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "decode.h"
#include "disclaim.h"
#include "mime.h"
#include "rfc822.h"

#define NONE		((size_t)-1)
/* Longest quoted-printable line before a soft break (RFC 2045 6.7). */
#define QP_COLS		76
#define B64_COLS	76

struct dbuf {
	char	*p;
	size_t	 len, cap;
};

struct edit {
	size_t	 off, del;
	char	*ins;
	size_t	 inslen;
};

enum { PART_OK, PART_CANNOT, PART_NA };

struct part {
	size_t		hs, bs, be;	/* header, body start, body end */
	char		type[128];
	char		boundary[256];
	int		utf8;		/* charset UTF-8 */
	enum mail_cte	cte;
	int		eightbit;	/* 8bit or binary */
	int		attachment;
	int		nobody;		/* no blank line after the header */
};

struct kids {
	size_t	*hs, *end;
	size_t	 n;
	size_t	 close;		/* where a new part goes; NONE: no close
				   delimiter */
	size_t	 closeline;	/* the close delimiter line */
};

struct dc {
	const uint8_t	*m;
	size_t		 len;
	const char	*eol;
	const char	*plain, *html;
	size_t		 plainlen, htmllen;
	int		 plain_ascii, html_ascii;
	struct edit	*e;
	size_t		 ne;
	char		*why;
};

static void	dbuf_add(struct dbuf *, const void *, size_t);
static void	dbuf_str(struct dbuf *, const char *);
static void	dc_why(struct dc *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	is_ascii(const char *, size_t);
static void	put_lines(struct dbuf *, const char *, size_t, const char *,
		    int qp);
static void	qp_line(struct dbuf *, const char *, size_t, const char *);
static void	b64_put(struct dbuf *, const char *, size_t, const char *,
		    int final_eol);
static size_t	last_ci(const uint8_t *, size_t, size_t, const char *);
static void	part_read(const struct dc *, size_t hs, size_t end,
		    struct part *);
static void	kids_find(const struct dc *, const struct part *,
		    struct kids *);
static void	kids_free(struct kids *);
static void	edit_add(struct dc *, size_t, size_t, struct dbuf *);
static void	edits_cut(struct dc *, size_t);
static size_t	ins_make(const struct dc *, const uint8_t *, size_t, size_t,
		    int html, const char *eol, int qp, int top,
		    struct dbuf *);
static int	leaf(struct dc *, const struct part *, int html, int top);
static int	alt(struct dc *, const struct part *, int depth);
static int	related(struct dc *, const struct part *, int depth);
static int	mixed(struct dc *, const struct part *, int depth);
static int	child_apply(struct dc *, const struct part *, int depth);
static void	new_part(const struct dc *, struct dbuf *);
static int	wrap(struct dc *, const struct part *, char **, size_t *);
static int	is_type(const struct part *, const char *);
static int	edit_cmp(const void *, const void *);

static void
dbuf_add(struct dbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap == 0 ? 256 : b->cap * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
dbuf_str(struct dbuf *b, const char *s)
{
	dbuf_add(b, s, strlen(s));
}

static void
dc_why(struct dc *dc, const char *fmt, ...)
{
	va_list ap;

	if (dc->why == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(dc->why, DISCLAIM_WHY_MAX, fmt, ap);
	va_end(ap);
}

static int
is_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

static int
is_type(const struct part *p, const char *type)
{
	return strcmp(p->type, type) == 0;
}

/*
 * The lines of s (any line ends; the line breaks at its end dropped),
 * joined by eol, quoted-printable when qp.  No eol after the last.
 */
static void
put_lines(struct dbuf *b, const char *s, size_t n, const char *eol, int qp)
{
	const char *nl;
	size_t ll;
	int first = 1;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	while (n > 0 || first) {
		nl = memchr(s, '\n', n);
		ll = nl != NULL ? (size_t)(nl - s) : n;
		if (!first)
			dbuf_str(b, eol);
		first = 0;
		if (qp)
			qp_line(b, s, ll > 0 && s[ll - 1] == '\r' ? ll - 1 :
			    ll, eol);
		else
			dbuf_add(b, s, ll > 0 && s[ll - 1] == '\r' ? ll - 1 :
			    ll);
		if (nl == NULL)
			break;
		s += ll + 1;
		n -= ll + 1;
	}
}

/* One line quoted-printable, soft breaks keeping it under QP_COLS. */
static void
qp_line(struct dbuf *b, const char *s, size_t n, const char *eol)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	char tok[3];
	size_t i, col = 0, tl;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '=' || c > 126 || (c < 32 && c != '\t') ||
		    ((c == ' ' || c == '\t') && i == n - 1)) {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			tl = 3;
		} else {
			tok[0] = (char)c;
			tl = 1;
		}
		if (col + tl > QP_COLS - 1) {
			dbuf_str(b, "=");
			dbuf_str(b, eol);
			col = 0;
		}
		dbuf_add(b, tok, tl);
		col += tl;
	}
}

static void
b64_put(struct dbuf *b, const char *s, size_t n, const char *eol,
    int final_eol)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *u = (const unsigned char *)s;
	char q[4];
	size_t i, col = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)u[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)u[i + 1] << 8;
		if (i + 2 < n)
			v |= u[i + 2];
		q[0] = al[v >> 18 & 63];
		q[1] = al[v >> 12 & 63];
		q[2] = i + 1 < n ? al[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? al[v & 63] : '=';
		if (col == B64_COLS) {
			dbuf_str(b, eol);
			col = 0;
		}
		dbuf_add(b, q, 4);
		col += 4;
	}
	if (final_eol && n > 0)
		dbuf_str(b, eol);
}

/* The last place of s (ASCII, any case) in d[from..to), or NONE. */
static size_t
last_ci(const uint8_t *d, size_t from, size_t to, const char *s)
{
	size_t n = strlen(s), i;

	if (to - from < n)
		return NONE;
	for (i = to - n + 1; i-- > from;)
		if (strncasecmp((const char *)d + i, s, n) == 0)
			return i;
	return NONE;
}

static void
part_read(const struct dc *dc, size_t hs, size_t end, struct part *p)
{
	const uint8_t *h = dc->m + hs;
	struct rfc822_ctype ct;
	char v[1024];
	const char *s;
	size_t hl, i;

	memset(p, 0, sizeof(*p));
	p->hs = hs;
	p->be = end;
	hl = mime_header_end(h, end - hs);
	/* mime_header_end() gives the end also when no blank line is. */
	p->nobody = hl == 0 || h[hl - 1] != '\n' || !(hl == 1 ||
	    h[hl - 2] == '\n' || (hl == 2 && h[0] == '\r') ||
	    (hl >= 3 && h[hl - 2] == '\r' && h[hl - 3] == '\n'));
	p->bs = hs + hl;
	snprintf(p->type, sizeof(p->type), "text/plain");
	if (mime_header_get(h, hl, "Content-Type", v, sizeof(v))) {
		mime_content_type(v, p->type, sizeof(p->type), p->boundary,
		    sizeof(p->boundary));
		if (rfc822_ctype_parse(v, strlen(v), &ct) == 1) {
			for (i = 0; i < ct.params.n; i++) {
				const struct rfc822_param *pa =
				    &ct.params.v[i];

				if (pa->name.len == 7 && strncasecmp(
				    pa->name.p, "charset", 7) == 0 &&
				    pa->value.p != NULL &&
				    ((pa->value.len == 5 && strncasecmp(
				    pa->value.p, "utf-8", 5) == 0) ||
				    (pa->value.len == 4 && strncasecmp(
				    pa->value.p, "utf8", 4) == 0)))
					p->utf8 = 1;
			}
			rfc822_ctype_free(&ct);
		}
	}
	p->cte = MAIL_CTE_IDENTITY;
	if (mime_header_get(h, hl, "Content-Transfer-Encoding", v,
	    sizeof(v))) {
		p->cte = mail_cte_parse(v, strlen(v));
		s = v + strspn(v, " \t");
		p->eightbit = strncasecmp(s, "8bit", 4) == 0 ||
		    strncasecmp(s, "binary", 6) == 0;
	}
	if (mime_header_get(h, hl, "Content-Disposition", v, sizeof(v))) {
		s = v + strspn(v, " \t");
		p->attachment = strncasecmp(s, "attachment", 10) == 0;
	}
}

/* The parts of a multipart and where its close delimiter is. */
static void
kids_find(const struct dc *dc, const struct part *p, struct kids *k)
{
	const uint8_t *m = dc->m;
	size_t blen = strlen(p->boundary), off, next, q, pend, start = NONE;
	const uint8_t *nl;
	int close;

	memset(k, 0, sizeof(*k));
	k->close = k->closeline = NONE;
	for (off = p->bs; off < p->be; off = next) {
		nl = memchr(m + off, '\n', p->be - off);
		next = nl != NULL ? (size_t)(nl - m) + 1 : p->be;
		if (next - off < 2 + blen || m[off] != '-' ||
		    m[off + 1] != '-' ||
		    memcmp(m + off + 2, p->boundary, blen) != 0)
			continue;
		q = off + 2 + blen;
		close = next - q >= 2 && m[q] == '-' && m[q + 1] == '-';
		if (close)
			q += 2;
		while (q < next && (m[q] == ' ' || m[q] == '\t' ||
		    m[q] == '\r' || m[q] == '\n'))
			q++;
		if (q != next)
			continue;
		/* The line break before a delimiter belongs to it. */
		pend = off;
		if (pend > p->bs && m[pend - 1] == '\n')
			pend--;
		if (pend > p->bs && m[pend - 1] == '\r')
			pend--;
		if (start != NONE) {
			k->hs = xreallocarray(k->hs, k->n + 1, sizeof(size_t));
			k->end = xreallocarray(k->end, k->n + 1,
			    sizeof(size_t));
			k->hs[k->n] = start;
			k->end[k->n] = pend < start ? start : pend;
			k->n++;
		}
		if (close) {
			k->close = pend;
			k->closeline = off;
			return;
		}
		start = next;
	}
}

static void
kids_free(struct kids *k)
{
	free(k->hs);
	free(k->end);
	memset(k, 0, sizeof(*k));
}

static void
edit_add(struct dc *dc, size_t off, size_t del, struct dbuf *b)
{
	dc->e = xreallocarray(dc->e, dc->ne + 1, sizeof(*dc->e));
	dc->e[dc->ne].off = off;
	dc->e[dc->ne].del = del;
	dc->e[dc->ne].ins = b->p;
	dc->e[dc->ne].inslen = b->len;
	dc->ne++;
	memset(b, 0, sizeof(*b));
}

/* Drops the edits after the first n (a part that could not take it). */
static void
edits_cut(struct dc *dc, size_t n)
{
	while (dc->ne > n)
		free(dc->e[--dc->ne].ins);
}

/*
 * What goes into d[s..e) (a body, as it is or decoded) and where: the
 * HTML before the last </body>, else the text at the end after a blank
 * line.  qp: d is quoted-printable (the text is encoded; a soft break
 * at the end is no line end).  top: the body ends the message, so the
 * text ends with a line end (in a multipart, the delimiter's line end
 * ends it).
 */
static size_t
ins_make(const struct dc *dc, const uint8_t *d, size_t s, size_t e,
    int html, const char *eol, int qp, int top, struct dbuf *b)
{
	const char *t = html ? dc->html : dc->plain;
	size_t tl = html ? dc->htmllen : dc->plainlen, q, x;
	int ends_nl;

	if (html && (q = last_ci(d, s, e, "</body")) != NONE) {
		if (q > s && d[q - 1] != '\n') {
			if (qp)
				dbuf_str(b, "=");
			dbuf_str(b, eol);
		}
		put_lines(b, t, tl, eol, qp);
		dbuf_str(b, eol);
		return q;
	}
	ends_nl = e > s && d[e - 1] == '\n';
	if (ends_nl && qp) {
		/* "=" then blanks then the line end: a soft break */
		x = e - 1;
		if (x > s && d[x - 1] == '\r')
			x--;
		while (x > s && (d[x - 1] == ' ' || d[x - 1] == '\t'))
			x--;
		if (x > s && d[x - 1] == '=')
			ends_nl = 0;
	}
	if (e > s) {
		dbuf_str(b, eol);
		if (!ends_nl)
			dbuf_str(b, eol);
	}
	put_lines(b, t, tl, eol, qp);
	if (ends_nl || top)
		dbuf_str(b, eol);
	return e;
}

/* The text into one text/plain or text/html part. */
static int
leaf(struct dc *dc, const struct part *p, int html, int top)
{
	struct mail_decoder d;
	struct dbuf b, enc, all;
	const char *deol;
	char *dec;
	size_t n, at;
	int ascii = html ? dc->html_ascii : dc->plain_ascii;

	if (p->nobody || p->cte == MAIL_CTE_UNKNOWN)
		return PART_CANNOT;
	if (!ascii && (!p->utf8 || (p->cte == MAIL_CTE_IDENTITY &&
	    !p->eightbit)))
		return PART_CANNOT;
	memset(&b, 0, sizeof(b));
	if (p->cte != MAIL_CTE_BASE64) {
		at = ins_make(dc, dc->m, p->bs, p->be, html, dc->eol,
		    p->cte == MAIL_CTE_QP, top, &b);
		edit_add(dc, at, 0, &b);
		return PART_OK;
	}
	/* base64: decode, change, encode again */
	dec = xmalloc(MAIL_DECODE_OUT(p->be - p->bs));
	mail_decoder_init(&d, MAIL_CTE_BASE64, 0);
	n = mail_decode(&d, dc->m + p->bs, p->be - p->bs, dec);
	n += mail_decode_end(&d, dec + n);
	deol = memchr(dec, '\n', n) == NULL ? "\r\n" :
	    memmem(dec, n, "\r\n", 2) != NULL ? "\r\n" : "\n";
	at = ins_make(dc, (const uint8_t *)dec, 0, n, html, deol, 0, 0, &b);
	memset(&all, 0, sizeof(all));
	dbuf_add(&all, dec, at);
	dbuf_add(&all, b.p, b.len);
	dbuf_add(&all, dec + at, n - at);
	memset(&enc, 0, sizeof(enc));
	b64_put(&enc, all.p, all.len, dc->eol, top ||
	    (p->be > p->bs && dc->m[p->be - 1] == '\n'));
	free(all.p);
	free(b.p);
	free(dec);
	edit_add(dc, p->bs, p->be - p->bs, &enc);
	return PART_OK;
}

/* A child of an alternative or mixed one: the text into it, as it is. */
static int
child_apply(struct dc *dc, const struct part *c, int depth)
{
	if (c->attachment)
		return PART_NA;
	if (is_type(c, "text/plain"))
		return leaf(dc, c, 0, 0);
	if (is_type(c, "text/html"))
		return leaf(dc, c, 1, 0);
	if (depth >= MIME_DEPTH_MAX || c->boundary[0] == '\0')
		return PART_NA;
	if (is_type(c, "multipart/alternative"))
		return alt(dc, c, depth + 1);
	if (is_type(c, "multipart/related"))
		return related(dc, c, depth + 1);
	if (is_type(c, "multipart/mixed"))
		return mixed(dc, c, depth + 1);
	return PART_NA;
}

/* Each text/plain and text/html variant; all of them or none. */
static int
alt(struct dc *dc, const struct part *p, int depth)
{
	struct kids k;
	struct part c;
	size_t i, saved = dc->ne;
	int rc, ok = 0;

	kids_find(dc, p, &k);
	for (i = 0; i < k.n; i++) {
		part_read(dc, k.hs[i], k.end[i], &c);
		if (c.attachment)
			continue;
		if (is_type(&c, "text/plain"))
			rc = leaf(dc, &c, 0, 0);
		else if (is_type(&c, "text/html"))
			rc = leaf(dc, &c, 1, 0);
		else if (depth < MIME_DEPTH_MAX && c.boundary[0] != '\0' &&
		    is_type(&c, "multipart/related"))
			rc = related(dc, &c, depth + 1);
		else
			continue;
		if (rc == PART_CANNOT) {
			edits_cut(dc, saved);
			kids_free(&k);
			return PART_CANNOT;
		}
		ok |= rc == PART_OK;
	}
	kids_free(&k);
	return ok ? PART_OK : PART_NA;
}

/* RFC 2387: the root (the first part) is what is shown. */
static int
related(struct dc *dc, const struct part *p, int depth)
{
	struct kids k;
	struct part c;
	int rc = PART_NA;

	kids_find(dc, p, &k);
	if (k.n > 0) {
		part_read(dc, k.hs[0], k.end[0], &c);
		if (is_type(&c, "text/html"))
			rc = leaf(dc, &c, 1, 0);
		else if (depth < MIME_DEPTH_MAX && c.boundary[0] != '\0' &&
		    is_type(&c, "multipart/alternative"))
			rc = alt(dc, &c, depth + 1);
	}
	kids_free(&k);
	return rc;
}

/* The first text part that takes it, else a new part at the end. */
static int
mixed(struct dc *dc, const struct part *p, int depth)
{
	struct kids k;
	struct part c;
	struct dbuf b;
	size_t i;
	int rc = PART_NA;

	kids_find(dc, p, &k);
	if (k.close == NONE) {
		kids_free(&k);
		dc_why(dc, "%s without its closing delimiter", p->type);
		return PART_CANNOT;
	}
	for (i = 0; i < k.n; i++) {
		part_read(dc, k.hs[i], k.end[i], &c);
		if (c.attachment)
			continue;
		if (strncmp(c.type, "text/", 5) == 0 ||
		    strncmp(c.type, "multipart/", 10) == 0) {
			/* the first body part decides; signed: left alone */
			rc = child_apply(dc, &c, depth);
			break;
		}
	}
	if (rc != PART_OK) {
		memset(&b, 0, sizeof(b));
		if (k.close != k.closeline)
			dbuf_str(&b, dc->eol);
		dbuf_str(&b, "--");
		dbuf_str(&b, p->boundary);
		dbuf_str(&b, dc->eol);
		new_part(dc, &b);
		if (k.close == k.closeline)
			dbuf_str(&b, dc->eol);
		edit_add(dc, k.close, 0, &b);
	}
	kids_free(&k);
	return PART_OK;
}

/* A new text/plain part, header and body (no line end after it). */
static void
new_part(const struct dc *dc, struct dbuf *b)
{
	dbuf_str(b, "Content-Type: text/plain; charset=utf-8");
	dbuf_str(b, dc->eol);
	dbuf_str(b, "Content-Transfer-Encoding: ");
	dbuf_str(b, dc->plain_ascii ? "7bit" : "quoted-printable");
	dbuf_str(b, dc->eol);
	dbuf_str(b, "Content-Disposition: inline");
	dbuf_str(b, dc->eol);
	dbuf_str(b, dc->eol);
	put_lines(b, dc->plain, dc->plainlen, dc->eol, !dc->plain_ascii);
}

/*
 * The message becomes multipart/mixed: its Content-* fields move to the
 * first part, with its body; the disclaimer is the second.
 */
static int
wrap(struct dc *dc, const struct part *top, char **out_r, size_t *len_r)
{
	const uint8_t *m = dc->m;
	struct dbuf o, moved;
	char bnd[64];
	size_t off, next, fend, hend;
	uint64_t h = 1469598103934665603ULL;
	const uint8_t *nl;
	int mimever = 0, tries;

	for (off = 0; off < dc->len; off++)
		h = (h ^ m[off]) * 1099511628211ULL;
	for (tries = 0;; tries++) {
		snprintf(bnd, sizeof(bnd), "vellum-disclaimer-%016llx",
		    (unsigned long long)(h + (uint64_t)tries));
		if (memmem(m, dc->len, bnd, strlen(bnd)) == NULL)
			break;
	}
	/* The header's fields end where its blank line starts. */
	hend = top->bs;
	if (hend > 0 && m[hend - 1] == '\n')
		hend--;
	if (hend > 0 && m[hend - 1] == '\r')
		hend--;
	memset(&o, 0, sizeof(o));
	memset(&moved, 0, sizeof(moved));
	for (off = 0; off < hend; off = fend) {
		/* one field: its line and the folded lines after it */
		fend = off;
		do {
			nl = memchr(m + fend, '\n', hend - fend);
			fend = nl != NULL ? (size_t)(nl - m) + 1 : hend;
		} while (fend < hend && (m[fend] == ' ' || m[fend] == '\t'));
		next = fend;
		if (next - off >= 8 && strncasecmp((const char *)m + off,
		    "Content-", 8) == 0)
			dbuf_add(&moved, m + off, next - off);
		else {
			if (next - off >= 13 && strncasecmp((const char *)m +
			    off, "MIME-Version:", 13) == 0)
				mimever = 1;
			dbuf_add(&o, m + off, next - off);
		}
	}
	/* the last field may lack its line end (a header-only message) */
	if (o.len > 0 && o.p[o.len - 1] != '\n')
		dbuf_str(&o, dc->eol);
	if (moved.len > 0 && moved.p[moved.len - 1] != '\n')
		dbuf_str(&moved, dc->eol);
	if (!mimever) {
		dbuf_str(&o, "MIME-Version: 1.0");
		dbuf_str(&o, dc->eol);
	}
	dbuf_str(&o, "Content-Type: multipart/mixed; boundary=\"");
	dbuf_str(&o, bnd);
	dbuf_str(&o, "\"");
	dbuf_str(&o, dc->eol);
	dbuf_str(&o, dc->eol);
	dbuf_str(&o, "--");
	dbuf_str(&o, bnd);
	dbuf_str(&o, dc->eol);
	dbuf_add(&o, moved.p, moved.len);
	free(moved.p);
	dbuf_str(&o, dc->eol);
	dbuf_add(&o, m + top->bs, dc->len - top->bs);
	dbuf_str(&o, dc->eol);
	dbuf_str(&o, "--");
	dbuf_str(&o, bnd);
	dbuf_str(&o, dc->eol);
	new_part(dc, &o);
	dbuf_str(&o, dc->eol);
	dbuf_str(&o, "--");
	dbuf_str(&o, bnd);
	dbuf_str(&o, "--");
	dbuf_str(&o, dc->eol);
	*out_r = o.p;
	*len_r = o.len;
	return 1;
}

static int
edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

char *
disclaim_html_of_plain(const char *plain, size_t len, size_t *len_r)
{
	struct dbuf b;
	size_t i;

	while (len > 0 && (plain[len - 1] == '\n' || plain[len - 1] == '\r'))
		len--;
	memset(&b, 0, sizeof(b));
	dbuf_str(&b, "<pre>");
	for (i = 0; i < len; i++)
		switch (plain[i]) {
		case '&':
			dbuf_str(&b, "&amp;");
			break;
		case '<':
			dbuf_str(&b, "&lt;");
			break;
		case '>':
			dbuf_str(&b, "&gt;");
			break;
		case '"':
			dbuf_str(&b, "&quot;");
			break;
		default:
			dbuf_add(&b, plain + i, 1);
		}
	dbuf_str(&b, "</pre>");
	*len_r = b.len;
	return b.p;
}

int
disclaim_apply(const void *msg, size_t len, const struct disclaim_text *t,
    char **out_r, size_t *outlen_r, char *why)
{
	struct dc dc;
	struct part top;
	struct dbuf o;
	const uint8_t *nl;
	char *html = NULL;
	size_t i, at;
	int rc;

	*out_r = NULL;
	*outlen_r = 0;
	if (why != NULL)
		why[0] = '\0';
	memset(&dc, 0, sizeof(dc));
	dc.m = msg;
	dc.len = len;
	dc.why = why;
	dc.plain = t->plain;
	dc.plainlen = t->plainlen;
	if (t->html != NULL) {
		dc.html = t->html;
		dc.htmllen = t->htmllen;
	} else
		dc.html = html = disclaim_html_of_plain(t->plain, t->plainlen,
		    &dc.htmllen);
	dc.plain_ascii = is_ascii(dc.plain, dc.plainlen);
	dc.html_ascii = is_ascii(dc.html, dc.htmllen);
	if (len == 0 || (nl = memchr(msg, '\n', len)) == NULL) {
		dc_why(&dc, "no body");
		free(html);
		return 0;
	}
	dc.eol = nl > dc.m && nl[-1] == '\r' ? "\r\n" : "\n";
	part_read(&dc, 0, len, &top);
	rc = PART_NA;
	if (top.nobody) {
		dc_why(&dc, "no body");
		goto unchanged;
	}
	if (is_type(&top, "multipart/signed") ||
	    is_type(&top, "multipart/encrypted") ||
	    is_type(&top, "application/pkcs7-mime") ||
	    is_type(&top, "application/x-pkcs7-mime")) {
		dc_why(&dc, "signed or encrypted (%s): a change would break "
		    "it", top.type);
		goto unchanged;
	}
	if (strncmp(top.type, "message/", 8) == 0) {
		dc_why(&dc, "a %s message", top.type);
		goto unchanged;
	}
	if (is_type(&top, "text/plain"))
		rc = leaf(&dc, &top, 0, 1);
	else if (is_type(&top, "text/html"))
		rc = leaf(&dc, &top, 1, 1);
	else if (strncmp(top.type, "multipart/", 10) == 0) {
		if (top.boundary[0] == '\0') {
			dc_why(&dc, "%s without a boundary", top.type);
			goto unchanged;
		}
		if (is_type(&top, "multipart/alternative"))
			rc = alt(&dc, &top, 1);
		else if (is_type(&top, "multipart/related"))
			rc = related(&dc, &top, 1);
		else if ((rc = mixed(&dc, &top, 1)) != PART_OK)
			goto unchanged;
	}
	if (rc != PART_OK) {
		edits_cut(&dc, 0);
		free(dc.e);
		rc = wrap(&dc, &top, out_r, outlen_r);
		free(html);
		return rc;
	}
	qsort(dc.e, dc.ne, sizeof(*dc.e), edit_cmp);
	memset(&o, 0, sizeof(o));
	for (i = 0, at = 0; i < dc.ne; i++) {
		dbuf_add(&o, dc.m + at, dc.e[i].off - at);
		dbuf_add(&o, dc.e[i].ins, dc.e[i].inslen);
		at = dc.e[i].off + dc.e[i].del;
	}
	dbuf_add(&o, dc.m + at, len - at);
	edits_cut(&dc, 0);
	free(dc.e);
	free(html);
	*out_r = o.p;
	*outlen_r = o.len;
	return 1;
unchanged:
	edits_cut(&dc, 0);
	free(dc.e);
	free(html);
	return 0;
}
