/*
 * imapmsg.c - see imapmsg.h.
 *
 * One pass over the message builds a table of MIME parts (offsets, the
 * header fields IMAP needs as byte ranges, flags).  A second, shorter pass
 * over that table writes the ENVELOPE, BODY and BODYSTRUCTURE strings and
 * the sort/thread keys, then everything goes into one record.
 *
 * The structure follows Dovecot 2.3's message parser, because imapd is
 * compared with it side by side:
 * - a boundary line is "--" followed by any boundary on the stack of open
 *   multiparts (a prefix match; the longest wins); "--" right after the
 *   boundary closes that multipart; a line that matches an outer boundary
 *   ends every inner part there;
 * - the line end before a boundary line belongs to the boundary;
 * - Content-* fields count only in MIME parts: children of a multipart,
 *   or a message with MIME-Version or Content-Type;
 * - a multipart without a boundary parameter is a leaf of that type.
 *
 * Every scan is forward; a part's line counts are computed from its
 * children's plus the gaps between them, so the whole thing is linear in
 * the message size (times the boundary stack depth on "--" lines only).
 *
 * The record's format is described in imapmeta.c, which reads it.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "imapmsg.h"
#include "rfc822.h"

/* Field slots kept per part (the first or last occurrence, see below). */
enum fld {
	F_CT,		/* Content-Type */
	F_CTE,		/* Content-Transfer-Encoding */
	F_CID,		/* Content-ID */
	F_CDESC,	/* Content-Description */
	F_CDISP,	/* Content-Disposition */
	F_CLANG,	/* Content-Language */
	F_CLOC,		/* Content-Location */
	F_CMD5,		/* Content-MD5 */
	F_DATE,		/* the envelope fields: the last occurrence */
	F_SUBJECT,
	F_FROM,
	F_SENDER,
	F_REPLY_TO,
	F_TO,
	F_CC,
	F_BCC,
	F_IN_REPLY_TO,
	F_MESSAGE_ID,
	F_REFERENCES,
	F_NFIELDS
};

static const struct {
	const char	*name;
	size_t		 len;
} fld_names[F_NFIELDS] = {
	{ "content-type", 12 }, { "content-transfer-encoding", 25 },
	{ "content-id", 10 }, { "content-description", 19 },
	{ "content-disposition", 19 }, { "content-language", 16 },
	{ "content-location", 16 }, { "content-md5", 11 },
	{ "date", 4 }, { "subject", 7 }, { "from", 4 }, { "sender", 6 },
	{ "reply-to", 8 }, { "to", 2 }, { "cc", 2 }, { "bcc", 3 },
	{ "in-reply-to", 11 }, { "message-id", 10 }, { "references", 10 },
};

#define PF_MULTIPART	0x01
#define PF_MESSAGE	0x02
#define PF_TEXT		0x04
#define PF_MIME		0x08	/* Content-* fields count */
#define PF_DIGEST	0x10	/* multipart/digest: children default to
				   message/rfc822 */
#define PF_HASCT	0x20	/* a usable Content-Type was seen */
#define PF_HDRCUT	0x40	/* a boundary cut the header after a line:
				   the line end goes to the parent's body */

struct range {
	uint32_t	off;	/* offset of the value (after the colon) */
	uint32_t	len;	/* 0 with off 0: absent */
	uint8_t		set;
};

struct part {
	size_t		hdr_off, body_off, end;
	uint64_t	hdr_lf, body_lf;	/* bare LFs */
	uint64_t	body_lines;		/* LFs in the body */
	uint32_t	parent, nchildren, next, last_child;
	uint8_t		flags;
	struct range	f[F_NFIELDS];
};

/* A growing output string. */
struct sbuf {
	char	*p;
	size_t	 len, cap;
};

/* The SORT and THREAD keys while building. */
struct sortkeys {
	int64_t		date;
	struct sbuf	base_subject;
	int		subject_is_reply;
	struct sbuf	from_mailbox, from_display, to_mailbox, to_display;
	struct sbuf	cc_mailbox, message_id, references;
};

struct bnd {
	char	*b;
	size_t	 len;
};

struct ctx {
	const uint8_t	*d;
	size_t		 n;
	struct part	*p;
	size_t		 np, capp;
	struct bnd	 stk[IMAP_MSG_DEPTH_MAX + 2];
	size_t		 nstk;
};

static void	sbuf_add(struct sbuf *, const void *, size_t);
static void	sbuf_addc(struct sbuf *, char);
static void	sbuf_adds(struct sbuf *, const char *);
static void	sbuf_addu(struct sbuf *, uint64_t);
static void	sbuf_varint(struct sbuf *, uint64_t);
static void	sbuf_blob(struct sbuf *, const struct sbuf *);
static void	imap_quote(struct sbuf *, const char *, size_t);
static void	imap_quote_human(struct sbuf *, const char *, size_t);
static int	imap_addr_write(struct sbuf *, const char *, size_t);
static void	imap_addr_sortkeys(const char *, size_t, struct sbuf *,
		    struct sbuf *);
static void	imap_base_subject(const char *, size_t, struct sbuf *,
		    int *);
static void	imap_msgids(const char *, size_t, int, struct sbuf *);
static uint32_t	part_new(struct ctx *, uint32_t);
static size_t	line_next(const struct ctx *, size_t);
static int	bnd_match(const struct ctx *, size_t, int *);
static int	bnd_find(const struct ctx *, size_t, size_t *, int *);
static size_t	nl_before(const struct ctx *, size_t, size_t);
static int	disp_has_params(const struct ctx *, const struct range *);
static size_t	parse_header(struct ctx *, uint32_t, size_t, int *,
		    size_t *);
static void	classify(struct ctx *, uint32_t);
static size_t	parse_part(struct ctx *, uint32_t, size_t, int, int *,
		    size_t *);
static size_t	parse_multipart(struct ctx *, uint32_t, int, int *,
		    size_t *);
static void	count_lines(const uint8_t *, size_t, size_t, uint64_t *,
		    uint64_t *);
static void	sum_sizes(struct ctx *);
static void	sbuf_tail(struct sbuf *, const struct sbuf *, size_t);
static void	write_part(struct ctx *, struct sbuf *, struct sbuf *,
		    uint32_t);
static void	write_envelope(struct ctx *, struct sbuf *, uint32_t);
static void	value_get(const struct ctx *, const struct range *,
		    struct sbuf *);
static void	record_parts(const struct ctx *, struct sbuf *);
static void	write_params(struct sbuf *, const struct rfc822_params *,
		    int);

/*
 * Parsing the structure
 */

static uint32_t
part_new(struct ctx *c, uint32_t parent)
{
	struct part *p;
	uint32_t i = (uint32_t)c->np;

	if (c->np == c->capp) {
		c->capp = c->capp == 0 ? 8 : c->capp * 2;
		c->p = xreallocarray(c->p, c->capp, sizeof(*c->p));
	}
	p = &c->p[c->np++];
	memset(p, 0, sizeof(*p));
	p->parent = parent;
	if (i > 0) {
		struct part *par = &c->p[parent];

		if (par->nchildren > 0)
			c->p[par->last_child].next = i;
		par->last_child = i;
		par->nchildren++;
	}
	return i;
}

/* Offset of the line after the one starting at off (past its LF), or n. */
static size_t
line_next(const struct ctx *c, size_t off)
{
	const uint8_t *nl = memchr(c->d + off, '\n', c->n - off);

	return nl == NULL ? c->n : (size_t)(nl - c->d) + 1;
}

/*
 * Is the line at off a boundary line of an open multipart?  The stack
 * index (the longest boundary that is a prefix; the innermost on a tie),
 * *close_r set when "--" follows it; -1 when not.
 */
static int
bnd_match(const struct ctx *c, size_t off, int *close_r)
{
	size_t rest, k, blen;
	int best = -1;

	if (c->nstk == 0 || c->n - off < 2 || c->d[off] != '-' ||
	    c->d[off + 1] != '-')
		return -1;
	off += 2;
	rest = c->n - off;
	for (k = c->nstk; k-- > 0;) {
		blen = c->stk[k].len;
		if (blen <= rest && memcmp(c->d + off, c->stk[k].b, blen) == 0 &&
		    (best < 0 || c->stk[best].len < blen))
			best = (int)k;
	}
	if (best >= 0) {
		blen = c->stk[best].len;
		*close_r = rest >= blen + 2 && c->d[off + blen] == '-' &&
		    c->d[off + blen + 1] == '-';
	}
	return best;
}

/*
 * The first boundary line at or after the line start off: 1 with its
 * offset in *line_r and stack index in *k_r, 0 at the end of the data.
 */
static int
bnd_find(const struct ctx *c, size_t off, size_t *line_r, int *k_r)
{
	int cl;

	if (c->nstk == 0) {
		*line_r = c->n;
		return 0;
	}
	while (off < c->n) {
		if (c->d[off] == '-' && (*k_r = bnd_match(c, off, &cl)) >= 0) {
			*line_r = off;
			return 1;
		}
		off = line_next(c, off);
	}
	*line_r = c->n;
	return 0;
}

/* Where a part ends whose next line (a boundary) starts at line. */
static size_t
nl_before(const struct ctx *c, size_t from, size_t line)
{
	if (line <= from)
		return from;
	if (c->d[line - 1] != '\n')
		return line;
	line--;
	if (line > from && c->d[line - 1] == '\r')
		line--;
	return line;
}

/* Does the Content-Disposition value r have parameters? */
static int
disp_has_params(const struct ctx *c, const struct range *r)
{
	struct rfc822_ctype disp;
	struct sbuf v = { 0 };
	int has = 0;

	value_get(c, r, &v);
	if (rfc822_disp_parse(v.p, v.len, &disp) == 1) {
		has = disp.params.n > 0;
		rfc822_ctype_free(&disp);
	}
	free(v.p);
	return has;
}

/*
 * Reads the header of part i starting at off, recording the fields.
 * Returns the offset of the body.  A boundary line inside the header ends
 * the part there: *k_r (stack index, else -1) and *line_r tell.
 */
static size_t
parse_header(struct ctx *c, uint32_t i, size_t off, int *k_r,
    size_t *line_r)
{
	struct part *p = &c->p[i];
	size_t start = off, next, name_end, j, vstart, vend;
	int cur = -1, cl, envelope, ismv;
	const uint8_t *d = c->d;

	*k_r = -1;
	envelope = i == 0 || (c->p[p->parent].flags & PF_MESSAGE) != 0;
	while (off < c->n) {
		if (d[off] == '-' && (*k_r = bnd_match(c, off, &cl)) >= 0) {
			*line_r = off;
			p->body_off = p->end = nl_before(c, start, off);
			if (p->body_off < off)
				p->flags |= PF_HDRCUT;
			return p->body_off;
		}
		if (d[off] == '\n')
			return off + 1;
		if (d[off] == '\r' && off + 1 < c->n && d[off + 1] == '\n')
			return off + 2;
		next = line_next(c, off);
		vend = next;
		if (vend > off && d[vend - 1] == '\n')
			vend--;
		if (vend > off && d[vend - 1] == '\r')
			vend--;
		if (d[off] == ' ' || d[off] == '\t') {
			/* a continuation line */
			if (cur >= 0)
				p->f[cur].len = (uint32_t)(vend - p->f[cur].off);
			off = next;
			continue;
		}
		cur = -1;
		for (name_end = off; name_end < vend && d[name_end] != ':';
		    name_end++)
			;
		if (name_end == vend) {
			off = next;
			continue;
		}
		vstart = name_end + 1;
		while (name_end > off && (d[name_end - 1] == ' ' ||
		    d[name_end - 1] == '\t'))
			name_end--;
		ismv = name_end - off == 12 &&
		    strncasecmp((const char *)d + off, "mime-version", 12) == 0;
		if (ismv)
			p->flags |= PF_MIME;
		for (j = 0; j < F_NFIELDS; j++) {
			if (fld_names[j].len != name_end - off ||
			    strncasecmp((const char *)d + off, fld_names[j].name,
			    fld_names[j].len) != 0)
				continue;
			/*
			 * Content-*: the first (Content-Disposition: until
			 * one has parameters, as Dovecot); the envelope's:
			 * the last
			 */
			if (j < F_DATE ? p->f[j].set && (j != F_CDISP ||
			    disp_has_params(c, &p->f[j])) : !envelope)
				break;
			if (j == F_CT)
				p->flags |= PF_MIME;
			p->f[j].set = 1;
			p->f[j].off = (uint32_t)vstart;
			p->f[j].len = (uint32_t)(vend - vstart);
			cur = (int)j;
			break;
		}
		off = next;
	}
	return c->n;
}

/* Decides the kind of part i from its Content-Type and its parent. */
static void
classify(struct ctx *c, uint32_t i)
{
	struct part *p = &c->p[i];
	struct rfc822_ctype ct;
	struct sbuf v = { 0 };
	int parent_digest = i > 0 && (c->p[p->parent].flags & PF_DIGEST);

	if (i > 0 && (c->p[p->parent].flags & PF_MULTIPART))
		p->flags |= PF_MIME;
	if (!(p->flags & PF_MIME)) {
		/* not MIME: the Content-* fields do not count */
		memset(&p->f[F_CT], 0, sizeof(p->f[0]) * (F_CMD5 + 1));
	}
	if (p->f[F_CT].set) {
		value_get(c, &p->f[F_CT], &v);
		if (rfc822_ctype_parse(v.p, v.len, &ct) == 1 && ct.type.len > 0) {
			p->flags |= PF_HASCT;
			if (ct.type.len == 4 &&
			    strncasecmp(ct.type.p, "text", 4) == 0)
				p->flags |= PF_TEXT;
			else if (ct.type.len == 7 && ct.sub.len == 6 &&
			    strncasecmp(ct.type.p, "message", 7) == 0 &&
			    strncasecmp(ct.sub.p, "rfc822", 6) == 0)
				p->flags |= PF_MESSAGE;
			else if (ct.type.len == 9 &&
			    strncasecmp(ct.type.p, "multipart", 9) == 0 &&
			    ct.boundary.p != NULL &&
			    c->nstk < IMAP_MSG_DEPTH_MAX) {
				p->flags |= PF_MULTIPART;
				if (ct.sub.len == 6 &&
				    strncasecmp(ct.sub.p, "digest", 6) == 0)
					p->flags |= PF_DIGEST;
				c->stk[c->nstk].b = xmemdup(ct.boundary.p,
				    ct.boundary.len + 1);
				c->stk[c->nstk].len = ct.boundary.len;
			}
			rfc822_ctype_free(&ct);
		}
		free(v.p);
	}
	if (!(p->flags & PF_HASCT))
		p->flags |= parent_digest ? PF_MESSAGE : PF_TEXT;
}

/*
 * Parses part i, whose header starts at off.  Returns where the part ends;
 * *k_r is the stack index of the boundary line at *line_r that ended it,
 * -1 at the end of the data.
 */
static size_t
parse_part(struct ctx *c, uint32_t i, size_t off, int depth, int *k_r,
    size_t *line_r)
{
	struct part *p = &c->p[i];
	size_t body, end;
	uint32_t child;
	int k;

	p->hdr_off = off;
	body = parse_header(c, i, off, &k, line_r);
	p = &c->p[i];
	p->body_off = body;
	if (depth >= IMAP_MSG_DEPTH_MAX || c->np >= IMAP_MSG_PARTS_MAX) {
		/* too deep or too many: a leaf, whatever it says */
		p->flags |= PF_TEXT;
	} else
		classify(c, i);
	p = &c->p[i];
	if (k >= 0) {
		/*
		 * The header was cut by a boundary: the body is empty (a
		 * multipart without parts, a message with an empty one).
		 */
		if (p->flags & PF_MULTIPART)
			free(c->stk[c->nstk].b);
		else if (p->flags & PF_MESSAGE) {
			child = part_new(c, i);
			c->p[child].hdr_off = c->p[child].body_off =
			    c->p[child].end = body;
			c->p[child].flags = PF_TEXT;
		}
		c->p[i].end = body;
		*k_r = k;
		return body;
	}
	if (p->flags & PF_MULTIPART) {
		c->nstk++;
		end = parse_multipart(c, i, depth, k_r, line_r);
		c->p[i].end = end;
		return end;
	}
	if (p->flags & PF_MESSAGE) {
		child = part_new(c, i);
		end = parse_part(c, child, body, depth + 1, k_r, line_r);
		if ((c->p[child].flags & PF_HDRCUT) && *k_r >= 0)
			end = *line_r;
		c->p[i].end = end;
		return end;
	}
	if (bnd_find(c, body, line_r, k_r) == 0) {
		*k_r = -1;
		p->end = c->n;
	} else
		p->end = nl_before(c, body, *line_r);
	return p->end;
}

/* The body of multipart i (its boundary on top of the stack). */
static size_t
parse_multipart(struct ctx *c, uint32_t i, int depth, int *k_r,
    size_t *line_r)
{
	size_t body = c->p[i].body_off, line, next, end, cend;
	int own = (int)c->nstk - 1, k, cl;
	uint32_t child;
	int found;

	/* where the part before line ends, when a child ended there */
	cend = SIZE_MAX;
	found = bnd_find(c, body, &line, &k);
	for (;;) {
		if (!found) {
			end = c->n;
			k = -1;
			break;
		}
		if (k < own) {
			/* an outer boundary ends this multipart too */
			end = cend != SIZE_MAX ? cend : nl_before(c, body,
			    line);
			break;
		}
		cend = SIZE_MAX;
		(void)bnd_match(c, line, &cl);
		if (cl) {
			/* the closing boundary: the rest is the epilogue */
			free(c->stk[own].b);
			c->nstk = (size_t)own;
			next = line_next(c, line);
			found = bnd_find(c, next, &line, &k);
			end = found ? nl_before(c, next, line) : c->n;
			if (!found)
				k = -1;
			*k_r = k;
			*line_r = line;
			return end;
		}
		next = line_next(c, line);
		if (next == c->n && c->d[c->n - 1] != '\n') {
			/* a boundary line at the very end: no part */
			found = 0;
			continue;
		}
		if (c->np >= IMAP_MSG_PARTS_MAX) {
			/* no more parts: skip to the next boundary */
			found = bnd_find(c, next, &line, &k);
			body = next;
			continue;
		}
		child = part_new(c, i);
		cend = parse_part(c, child, next, depth + 1, &k, &line);
		found = k >= 0;
	}
	free(c->stk[own].b);
	c->nstk = (size_t)own;
	*k_r = k;
	*line_r = line;
	return end;
}

/* Counts LFs and bare LFs in [a, b). */
static void
count_lines(const uint8_t *d, size_t a, size_t b, uint64_t *lf_r,
    uint64_t *bare_r)
{
	const uint8_t *q, *e = d + b, *s = d + a;

	while (s < e && (q = memchr(s, '\n', (size_t)(e - s))) != NULL) {
		(*lf_r)++;
		if (q == d + a ? 1 : q[-1] != '\r')
			(*bare_r)++;
		s = q + 1;
	}
}

/*
 * Line counts and bare LFs of every part: a leaf counts its own bytes, a
 * parent sums its children and the gaps between them (children have
 * higher indexes than their parent, so a backward walk sees them first).
 */
static void
sum_sizes(struct ctx *c)
{
	struct part *p, *ch;
	uint64_t lf, bare;
	size_t i, pos;
	uint32_t k;

	for (i = c->np; i-- > 0;) {
		p = &c->p[i];
		lf = bare = 0;
		count_lines(c->d, p->hdr_off, p->body_off, &lf, &bare);
		p->hdr_lf = bare;
		lf = bare = 0;
		pos = p->body_off;
		for (k = p->nchildren > 0 ? (uint32_t)i + 1 : 0; k != 0;
		    k = ch->next) {
			ch = &c->p[k];
			count_lines(c->d, pos, ch->hdr_off, &lf, &bare);
			count_lines(c->d, ch->hdr_off, ch->body_off, &lf,
			    &bare);
			lf += ch->body_lines;
			bare += ch->body_lf;
			pos = ch->end;
		}
		count_lines(c->d, pos, p->end, &lf, &bare);
		p->body_lines = lf;
		p->body_lf = bare;
	}
}

/*
 * Writing the answers
 */

/*
 * The unfolded value of a field: CR and LF removed, the blanks after the
 * colon skipped (Dovecot's one-line header values).
 */
static void
value_get(const struct ctx *c, const struct range *r, struct sbuf *out)
{
	const uint8_t *s = c->d + r->off, *e = s + r->len;

	const uint8_t *q;

	out->len = 0;
	/* blanks after the colon go; a fold's blank stays (as Dovecot) */
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	sbuf_add(out, "", 0);
	while (s < e) {
		/* copy the runs between line ends */
		for (q = s; q < e && *q != '\r' && *q != '\n'; q++)
			;
		sbuf_add(out, s, (size_t)(q - s));
		for (s = q; s < e && (*s == '\r' || *s == '\n'); s++)
			;
	}
}

static void
write_params(struct sbuf *b, const struct rfc822_params *ps, int text)
{
	size_t i;
	int charset = 0;

	if (ps->n == 0 && !text) {
		sbuf_adds(b, "NIL");
		return;
	}
	sbuf_addc(b, '(');
	for (i = 0; i < ps->n; i++) {
		if (i > 0)
			sbuf_addc(b, ' ');
		if (ps->v[i].name.len == 7 &&
		    strncasecmp(ps->v[i].name.p, "charset", 7) == 0)
			charset = 1;
		imap_quote(b, ps->v[i].name.p, ps->v[i].name.len);
		sbuf_addc(b, ' ');
		imap_quote(b, ps->v[i].value.p, ps->v[i].value.len);
	}
	if (text && !charset) {
		if (i > 0)
			sbuf_addc(b, ' ');
		sbuf_adds(b, "\"charset\" \"us-ascii\"");
	}
	sbuf_addc(b, ')');
}

/* md5 (BODYSTRUCTURE of a leaf only), disposition, language, location */
static void
write_ext(struct ctx *c, struct sbuf *b, const struct part *p, int md5)
{
	struct sbuf v = { 0 };
	struct rfc822_ctype disp;
	size_t i;

	if (md5) {
		sbuf_addc(b, ' ');
		if (p->f[F_CMD5].set) {
			value_get(c, &p->f[F_CMD5], &v);
			imap_quote(b, v.p, v.len);
		} else
			sbuf_adds(b, "NIL");
	}
	sbuf_addc(b, ' ');
	if (p->f[F_CDISP].set) {
		value_get(c, &p->f[F_CDISP], &v);
		if (rfc822_disp_parse(v.p, v.len, &disp) == 1) {
			sbuf_addc(b, '(');
			imap_quote(b, disp.type.p, disp.type.len);
			sbuf_addc(b, ' ');
			write_params(b, &disp.params, 0);
			sbuf_addc(b, ')');
			rfc822_ctype_free(&disp);
		} else
			sbuf_adds(b, "NIL");
	} else
		sbuf_adds(b, "NIL");
	sbuf_addc(b, ' ');
	if (p->f[F_CLANG].set) {
		struct rfc822_params langs;

		value_get(c, &p->f[F_CLANG], &v);
		rfc822_lang_parse(v.p, v.len, &langs);
		if (langs.n == 0)
			sbuf_adds(b, "NIL");
		else {
			sbuf_addc(b, '(');
			for (i = 0; i < langs.n; i++) {
				if (i > 0)
					sbuf_addc(b, ' ');
				imap_quote(b, langs.v[i].name.p,
				    langs.v[i].name.len);
			}
			sbuf_addc(b, ')');
		}
		rfc822_params_free(&langs);
	} else
		sbuf_adds(b, "NIL");
	sbuf_addc(b, ' ');
	if (p->f[F_CLOC].set) {
		value_get(c, &p->f[F_CLOC], &v);
		imap_quote(b, v.p, v.len);
	} else
		sbuf_adds(b, "NIL");
	free(v.p);
}

/* Appends to to what from got since mark (BODY shares most of it). */
static void
sbuf_tail(struct sbuf *to, const struct sbuf *from, size_t mark)
{
	sbuf_add(to, from->p + mark, from->len - mark);
}

/*
 * Part i, without parentheses, as BODYSTRUCTURE into bs and as BODY (the
 * same without extension data) into body: one pass, one parse of each
 * field.
 */
static void
write_part(struct ctx *c, struct sbuf *bs, struct sbuf *body, uint32_t i)
{
	const struct part *p = &c->p[i];
	struct rfc822_ctype ct;
	struct sbuf v = { 0 };
	const char *enc;
	size_t enclen, mark;
	int have_ct = 0, text;
	uint32_t k;

	if (p->flags & PF_HASCT) {
		value_get(c, &p->f[F_CT], &v);
		have_ct = rfc822_ctype_parse(v.p, v.len, &ct) == 1;
	}
	if (p->flags & PF_MULTIPART) {
		/* no parts (not allowed): one empty text part, as Dovecot */
		if (p->nchildren == 0) {
			sbuf_adds(bs, "(\"text\" \"plain\" (\"charset\" "
			    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL "
			    "NIL)");
			sbuf_adds(body, "(\"text\" \"plain\" (\"charset\" "
			    "\"us-ascii\") NIL NIL \"7bit\" 0 0)");
		}
		for (k = p->nchildren > 0 ? i + 1 : 0; k != 0;
		    k = c->p[k].next) {
			sbuf_addc(bs, '(');
			sbuf_addc(body, '(');
			write_part(c, bs, body, k);
			sbuf_addc(bs, ')');
			sbuf_addc(body, ')');
		}
		p = &c->p[i];
		mark = bs->len;
		sbuf_addc(bs, ' ');
		imap_quote(bs, ct.sub.p, ct.sub.len);
		sbuf_tail(body, bs, mark);
		sbuf_addc(bs, ' ');
		write_params(bs, &ct.params, 0);
		write_ext(c, bs, p, 0);
		rfc822_ctype_free(&ct);
		free(v.p);
		return;
	}
	mark = bs->len;
	if (p->flags & PF_MESSAGE) {
		sbuf_adds(bs, "\"message\" \"rfc822\"");
		text = 0;
	} else if (!have_ct) {
		sbuf_adds(bs, "\"text\" \"plain\"");
		text = 1;
	} else {
		text = ct.type.len == 4 && strncasecmp(ct.type.p, "text", 4) == 0;
		imap_quote(bs, ct.type.p, ct.type.len);
		sbuf_addc(bs, ' ');
		if (ct.sub.p != NULL)
			imap_quote(bs, ct.sub.p, ct.sub.len);
		else
			sbuf_adds(bs, text ? "\"plain\"" : "\"unknown\"");
	}
	sbuf_addc(bs, ' ');
	if (have_ct)
		write_params(bs, &ct.params, text);
	else
		sbuf_adds(bs, text ? "(\"charset\" \"us-ascii\")" : "NIL");
	sbuf_addc(bs, ' ');
	if (p->f[F_CID].set) {
		value_get(c, &p->f[F_CID], &v);
		imap_quote(bs, v.p, v.len);
	} else
		sbuf_adds(bs, "NIL");
	sbuf_addc(bs, ' ');
	if (p->f[F_CDESC].set) {
		value_get(c, &p->f[F_CDESC], &v);
		imap_quote(bs, v.p, v.len);
	} else
		sbuf_adds(bs, "NIL");
	sbuf_addc(bs, ' ');
	if (p->f[F_CTE].set) {
		value_get(c, &p->f[F_CTE], &v);
		if (rfc822_token_only(v.p, v.len, &enc, &enclen))
			imap_quote(bs, enc, enclen);
		else
			sbuf_adds(bs, "\"7bit\"");
	} else
		sbuf_adds(bs, "\"7bit\"");
	sbuf_addc(bs, ' ');
	sbuf_addu(bs, (p->end - p->body_off) + p->body_lf);
	if (text) {
		sbuf_addc(bs, ' ');
		sbuf_addu(bs, p->body_lines);
	} else if (p->flags & PF_MESSAGE) {
		sbuf_adds(bs, " (");
		write_envelope(c, bs, i + 1);
		sbuf_adds(bs, ") (");
		sbuf_tail(body, bs, mark);
		write_part(c, bs, body, i + 1);
		p = &c->p[i];
		mark = bs->len;
		sbuf_adds(bs, ") ");
		sbuf_addu(bs, p->body_lines);
	}
	sbuf_tail(body, bs, mark);
	if (have_ct)
		rfc822_ctype_free(&ct);
	free(v.p);
	write_ext(c, bs, p, 1);
}

/* The ENVELOPE fields of message part i, without parentheses. */
static void
write_envelope(struct ctx *c, struct sbuf *b, uint32_t i)
{
	const struct part *p = &c->p[i];
	struct sbuf v = { 0 };
	static const int addrs[] = { F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC,
	    F_BCC };
	size_t j;
	int f;

	if (p->f[F_DATE].set) {
		value_get(c, &p->f[F_DATE], &v);
		imap_quote(b, v.p, v.len);
	} else
		sbuf_adds(b, "NIL");
	sbuf_addc(b, ' ');
	if (p->f[F_SUBJECT].set) {
		value_get(c, &p->f[F_SUBJECT], &v);
		imap_quote_human(b, v.p, v.len);
	} else
		sbuf_adds(b, "NIL");
	for (j = 0; j < sizeof(addrs) / sizeof(addrs[0]); j++) {
		f = addrs[j];
		sbuf_addc(b, ' ');
		if (p->f[f].set) {
			value_get(c, &p->f[f], &v);
			if (imap_addr_write(b, v.p, v.len))
				continue;
		}
		/*
		 * Sender and Reply-To absent "or present but empty" (RFC
		 * 3501 7.4.2; no address in it, as Dovecot) are the From.
		 */
		if ((f == F_SENDER || f == F_REPLY_TO) && p->f[F_FROM].set) {
			value_get(c, &p->f[F_FROM], &v);
			if (imap_addr_write(b, v.p, v.len))
				continue;
		}
		sbuf_adds(b, "NIL");
	}
	sbuf_addc(b, ' ');
	if (p->f[F_IN_REPLY_TO].set) {
		value_get(c, &p->f[F_IN_REPLY_TO], &v);
		imap_quote(b, v.p, v.len);
	} else
		sbuf_adds(b, "NIL");
	sbuf_addc(b, ' ');
	if (p->f[F_MESSAGE_ID].set) {
		value_get(c, &p->f[F_MESSAGE_ID], &v);
		imap_quote(b, v.p, v.len);
	} else
		sbuf_adds(b, "NIL");
	free(v.p);
}

/*
 * The record
 */

int
imap_msg_meta_build(const void *msg, size_t len, void **meta_r,
    size_t *metalen_r)
{
	struct ctx c;
	struct sbuf env = { 0 }, bs = { 0 }, body = { 0 }, rec = { 0 };
	struct sbuf v = { 0 };
	struct sortkeys sk;
	int k;
	size_t line, i;

	memset(&c, 0, sizeof(c));
	c.d = msg;
	c.n = len;
	(void)part_new(&c, 0);
	(void)parse_part(&c, 0, 0, 0, &k, &line);
	for (i = 0; i < c.nstk; i++)
		free(c.stk[i].b);
	c.p[0].end = len;
	sum_sizes(&c);

	sbuf_addc(&env, '(');
	write_envelope(&c, &env, 0);
	sbuf_addc(&env, ')');
	sbuf_addc(&bs, '(');
	sbuf_addc(&body, '(');
	write_part(&c, &bs, &body, 0);
	sbuf_addc(&bs, ')');
	sbuf_addc(&body, ')');

	memset(&sk, 0, sizeof(sk));
	if (c.p[0].f[F_DATE].set) {
		value_get(&c, &c.p[0].f[F_DATE], &v);
		if (!imap_date_parse(v.p, v.len, &sk.date, NULL))
			sk.date = 0;
	}
	if (c.p[0].f[F_SUBJECT].set) {
		value_get(&c, &c.p[0].f[F_SUBJECT], &v);
		imap_base_subject(v.p, v.len, &sk.base_subject,
		    &sk.subject_is_reply);
	}
	if (c.p[0].f[F_FROM].set) {
		value_get(&c, &c.p[0].f[F_FROM], &v);
		imap_addr_sortkeys(v.p, v.len, &sk.from_mailbox,
		    &sk.from_display);
	}
	if (c.p[0].f[F_TO].set) {
		value_get(&c, &c.p[0].f[F_TO], &v);
		imap_addr_sortkeys(v.p, v.len, &sk.to_mailbox,
		    &sk.to_display);
	}
	if (c.p[0].f[F_CC].set) {
		value_get(&c, &c.p[0].f[F_CC], &v);
		imap_addr_sortkeys(v.p, v.len, &sk.cc_mailbox, NULL);
	}
	if (c.p[0].f[F_MESSAGE_ID].set) {
		value_get(&c, &c.p[0].f[F_MESSAGE_ID], &v);
		imap_msgids(v.p, v.len, 1, &sk.message_id);
	}
	if (c.p[0].f[F_REFERENCES].set) {
		value_get(&c, &c.p[0].f[F_REFERENCES], &v);
		imap_msgids(v.p, v.len, 0, &sk.references);
	}
	if (sk.references.len == 0 && c.p[0].f[F_IN_REPLY_TO].set) {
		value_get(&c, &c.p[0].f[F_IN_REPLY_TO], &v);
		imap_msgids(v.p, v.len, 1, &sk.references);
	}
	free(v.p);

	sbuf_addc(&rec, IMAP_META_VERSION);
	sbuf_blob(&rec, &env);
	sbuf_blob(&rec, &bs);
	sbuf_blob(&rec, &body);
	sbuf_varint(&rec, sk.date < 0 ? ((uint64_t)-(sk.date + 1) << 1) | 1 :
	    (uint64_t)sk.date << 1);
	sbuf_blob(&rec, &sk.base_subject);
	sbuf_addc(&rec, (char)(sk.subject_is_reply != 0));
	sbuf_blob(&rec, &sk.from_mailbox);
	sbuf_blob(&rec, &sk.from_display);
	sbuf_blob(&rec, &sk.to_mailbox);
	sbuf_blob(&rec, &sk.to_display);
	sbuf_blob(&rec, &sk.cc_mailbox);
	sbuf_blob(&rec, &sk.message_id);
	sbuf_blob(&rec, &sk.references);
	record_parts(&c, &rec);
	free(sk.base_subject.p);
	free(sk.from_mailbox.p);
	free(sk.from_display.p);
	free(sk.to_mailbox.p);
	free(sk.to_display.p);
	free(sk.cc_mailbox.p);
	free(sk.message_id.p);
	free(sk.references.p);
	free(env.p);
	free(bs.p);
	free(body.p);
	free(c.p);
	*meta_r = rec.p;
	*metalen_r = rec.len;
	return 0;
}

/*
 * Strings
 */

static void
sbuf_add(struct sbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if (b->cap < 64)
			b->cap = 64;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_addc(struct sbuf *b, char ch)
{
	if (b->len + 2 <= b->cap) {
		b->p[b->len++] = ch;
		b->p[b->len] = '\0';
	} else
		sbuf_add(b, &ch, 1);
}

static void
sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static void
sbuf_addu(struct sbuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	sbuf_add(b, tmp + i, sizeof(tmp) - i);
}

static void
sbuf_varint(struct sbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	sbuf_add(b, tmp, n);
}

static void
sbuf_blob(struct sbuf *b, const struct sbuf *s)
{
	sbuf_varint(b, s->len);
	sbuf_add(b, s->p, s->len);
}

/*
 * An IMAP string as Dovecot writes one: quoted, unless it holds CR, LF,
 * NUL or 8-bit bytes, or more than four characters to escape: then a
 * literal (NUL goes as 0x80, a literal may not hold NUL).
 */
static void
imap_quote(struct sbuf *b, const char *s, size_t n)
{
	size_t i, esc = 0, start;
	int lit = 0;

	if (s == NULL) {
		sbuf_adds(b, "NIL");
		return;
	}
	for (i = 0; i < n && !lit; i++) {
		uint8_t ch = (uint8_t)s[i];

		if (ch == '"' || ch == '\\')
			lit = ++esc > 4;
		else if (ch == '\r' || ch == '\n' || ch == 0 || ch >= 0x80)
			lit = 1;
	}
	if (lit) {
		sbuf_addc(b, '{');
		sbuf_addu(b, n);
		sbuf_adds(b, "}\r\n");
		start = b->len;
		sbuf_add(b, s, n);
		for (i = 0; i < n; i++)
			if (b->p[start + i] == 0)
				b->p[start + i] = (char)0x80;
		return;
	}
	sbuf_addc(b, '"');
	if (esc == 0)
		sbuf_add(b, s, n);
	else {
		for (i = 0; i < n; i++) {
			if (s[i] == '"' || s[i] == '\\')
				sbuf_addc(b, '\\');
			sbuf_addc(b, s[i]);
		}
	}
	sbuf_addc(b, '"');
}

/*
 * A string for people (the subject, display names), as Dovecot writes
 * it: white space runs become one space, leading and trailing space go;
 * anything that needs changing or escaping goes as a literal.
 */
static void
imap_quote_human(struct sbuf *b, const char *s, size_t n)
{
	size_t i, start;
	int modify = 0, lwsp = 1, any = 0;

	for (i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)s[i];

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			if (lwsp || ch != ' ')
				modify = 1;
			lwsp = 1;
			continue;
		}
		if (ch == 0 || ch == '"' || ch == '\\' || ch >= 0x80)
			modify = 1;
		lwsp = 0;
		any = 1;
	}
	if (n > 0 && lwsp)
		modify = 1;
	if (!modify) {
		sbuf_addc(b, '"');
		sbuf_add(b, s, n);
		sbuf_addc(b, '"');
		return;
	}
	if (!any) {
		sbuf_adds(b, "\"\"");
		return;
	}
	{
		struct sbuf t = { 0 };

		lwsp = 1;
		for (i = 0; i < n; i++) {
			uint8_t ch = (uint8_t)s[i];

			if (ch == ' ' || ch == '\t' || ch == '\r' ||
			    ch == '\n') {
				if (!lwsp)
					sbuf_addc(&t, ' ');
				lwsp = 1;
				continue;
			}
			sbuf_addc(&t, ch == 0 ? (char)0x80 : (char)ch);
			lwsp = 0;
		}
		if (lwsp && t.len > 0)
			t.len--;
		sbuf_addc(b, '{');
		sbuf_addu(b, t.len);
		sbuf_adds(b, "}\r\n");
		start = b->len;
		sbuf_add(b, t.p, t.len);
		(void)start;
		free(t.p);
	}
}

/*
 * An address list as ENVELOPE shows it, ((name route mbox dom)...): 1, or
 * 0 with nothing written when it holds no address (the caller writes NIL
 * or what stands in for it).
 */
static int
imap_addr_write(struct sbuf *b, const char *s, size_t n)
{
	struct rfc822_addr *v;
	size_t nv, i;

	rfc822_addr_parse(s, n, &v, &nv);
	if (nv == 0) {
		free(v);
		return 0;
	}
	sbuf_addc(b, '(');
	for (i = 0; i < nv; i++) {
		sbuf_addc(b, '(');
		if (v[i].name.p == NULL)
			sbuf_adds(b, "NIL");
		else
			imap_quote_human(b, v[i].name.p, v[i].name.len);
		sbuf_addc(b, ' ');
		imap_quote(b, v[i].route.p, v[i].route.len);
		sbuf_addc(b, ' ');
		imap_quote(b, v[i].mailbox.p, v[i].mailbox.len);
		sbuf_addc(b, ' ');
		imap_quote(b, v[i].domain.p, v[i].domain.len);
		sbuf_addc(b, ')');
	}
	sbuf_addc(b, ')');
	rfc822_addr_free(v, nv);
	return 1;
}

/*
 * The first address's mailbox (lower case) and its RFC 5957 display name
 * (the decoded display name, else "mailbox@domain").
 */
static void
imap_addr_sortkeys(const char *s, size_t n, struct sbuf *mbox,
    struct sbuf *disp)
{
	struct rfc822_addr *v;
	size_t nv, i, j, dlen;
	char *d;

	rfc822_addr_parse_n(s, n, 1, &v, &nv);
	for (i = 0; i < nv; i++)
		if (v[i].domain.p != NULL)
			break;
	if (i < nv) {
		for (j = 0; j < v[i].mailbox.len; j++)
			sbuf_addc(mbox, (char)tolower(
			    (unsigned char)v[i].mailbox.p[j]));
		if (disp != NULL && v[i].name.p != NULL) {
			imap_header_decode(v[i].name.p, v[i].name.len, &d,
			    &dlen);
			sbuf_add(disp, d, dlen);
			free(d);
		}
		if (disp != NULL && disp->len == 0) {
			sbuf_add(disp, v[i].mailbox.p, v[i].mailbox.len);
			if (v[i].domain.len > 0) {
				sbuf_addc(disp, '@');
				sbuf_add(disp, v[i].domain.p, v[i].domain.len);
			}
		}
	}
	rfc822_addr_free(v, nv);
}

static void
imap_msgids(const char *s, size_t n, int first, struct sbuf *out)
{
	char *ids;
	size_t len;

	rfc822_msgids(s, n, first, &ids, &len);
	out->len = 0;
	sbuf_add(out, ids, len);
	free(ids);
}

/*
 * RFC 5256 base subject
 */

static int	subj_blob(const char *, size_t, size_t);
static int	subj_leader(const char *, size_t, size_t);

/* Length of a subj-blob ("[...]" *WSP) at i, or -1. */
static int
subj_blob(const char *s, size_t i, size_t e)
{
	size_t j;

	if (i >= e || s[i] != '[')
		return -1;
	for (j = i + 1; j < e && s[j] != '[' && s[j] != ']'; j++)
		;
	if (j >= e || s[j] != ']')
		return -1;
	for (j++; j < e && s[j] == ' '; j++)
		;
	return (int)(j - i);
}

/* Length of a subj-leader at i (blobs then re/fw/fwd ":"), or -1. */
static int
subj_leader(const char *s, size_t i, size_t e)
{
	size_t j = i;
	int bl;

	if (i < e && s[i] == ' ')
		return 1;
	while ((bl = subj_blob(s, j, e)) > 0)
		j += (size_t)bl;
	if (e - j >= 2 && strncasecmp(s + j, "re", 2) == 0)
		j += 2;
	else if (e - j >= 3 && strncasecmp(s + j, "fwd", 3) == 0)
		j += 3;
	else if (e - j >= 2 && strncasecmp(s + j, "fw", 2) == 0)
		j += 2;
	else
		return -1;
	while (j < e && s[j] == ' ')
		j++;
	if ((bl = subj_blob(s, j, e)) > 0)
		j += (size_t)bl;
	if (j >= e || s[j] != ':')
		return -1;
	return (int)(j + 1 - i);
}

static void
imap_base_subject(const char *raw, size_t rawlen, struct sbuf *out,
    int *reply_r)
{
	char *dec, *s;
	size_t declen, i, e, n = 0;
	int changed, l;

	*reply_r = 0;
	imap_header_decode(raw, rawlen, &dec, &declen);
	/* (1) white space runs to one space */
	s = xmalloc(declen + 1);
	for (i = 0; i < declen; i++) {
		char ch = dec[i] == '\t' || dec[i] == '\r' || dec[i] == '\n' ?
		    ' ' : dec[i];

		if (ch == ' ' && n > 0 && s[n - 1] == ' ')
			continue;
		s[n++] = ch;
	}
	free(dec);
	i = 0;
	e = n;
	for (;;) {
		/* (2) trailers: "(fwd)" and white space */
		for (;;) {
			if (e > i && s[e - 1] == ' ')
				e--;
			else if (e - i >= 5 &&
			    strncasecmp(s + e - 5, "(fwd)", 5) == 0) {
				e -= 5;
				*reply_r = 1;
			} else
				break;
		}
		/* (3)-(5) leaders and blobs */
		do {
			changed = 0;
			while ((l = subj_leader(s, i, e)) > 0) {
				if (s[i] != ' ')
					*reply_r = 1;
				i += (size_t)l;
				changed = 1;
			}
			l = subj_blob(s, i, e);
			if (l > 0 && i + (size_t)l < e) {
				i += (size_t)l;
				changed = 1;
			}
		} while (changed);
		/* (6) "[fwd:" ... "]" */
		if (e - i >= 6 && strncasecmp(s + i, "[fwd:", 5) == 0 &&
		    s[e - 1] == ']') {
			i += 5;
			e--;
			*reply_r = 1;
			continue;
		}
		break;
	}
	out->len = 0;
	sbuf_add(out, s + i, e - i);
	free(s);
}

/*
 * The record
 */

/* Bytes per number in the part table: the fewest that hold every one. */
static void
record_parts(const struct ctx *c, struct sbuf *rec)
{
	uint64_t max = 0, f[8];
	size_t i, j, k;
	uint8_t w, tmp[8];

	for (i = 0; i < c->np; i++) {
		const struct part *p = &c->p[i];

		if (p->end > max)
			max = p->end;
		if (p->hdr_lf > max)
			max = p->hdr_lf;
		if (p->body_lf > max)
			max = p->body_lf;
		if (c->np > max)
			max = c->np;
	}
	w = max <= 0xffff ? 2 : max <= 0xffffffffULL ? 4 : 8;
	sbuf_varint(rec, c->np);
	sbuf_addc(rec, (char)w);
	for (i = 0; i < c->np; i++) {
		const struct part *p = &c->p[i];

		f[0] = p->hdr_off;
		f[1] = p->body_off - p->hdr_off;
		f[2] = p->end - p->body_off;
		f[3] = p->hdr_lf;
		f[4] = p->body_lf;
		f[5] = p->parent;
		f[6] = p->nchildren;
		f[7] = p->next;
		for (j = 0; j < 8; j++) {
			for (k = 0; k < w; k++)
				tmp[k] = (uint8_t)(f[j] >> (8 * k));
			sbuf_add(rec, tmp, w);
		}
		sbuf_addc(rec, (char)(((p->flags & PF_MULTIPART) ? 1 : 0) |
		    ((p->flags & PF_MESSAGE) ? 2 : 0)));
	}
}

