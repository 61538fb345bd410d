/* mime.c - see mime.h */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "mime.h"

struct seglist {
	struct mime_segment	*v;
	size_t			 n, cap;
};

static void	mime_walk(const uint8_t *, size_t, size_t, size_t, size_t,
		    int, struct seglist *);
static void	mime_add_part(struct seglist *, size_t, size_t);
static size_t	mime_line_end(const uint8_t *, size_t, size_t);

size_t
mime_header_end(const uint8_t *data, size_t len)
{
	size_t i = 0;

	/* A message that starts with a blank line has an empty header. */
	while (i < len) {
		if (data[i] == '\n')
			return i + 1;
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			return i + 2;
		i = mime_line_end(data, len, i);
	}
	return len;
}

/* Offset just past the line starting at off (past its LF), or len. */
static size_t
mime_line_end(const uint8_t *data, size_t len, size_t off)
{
	const uint8_t *nl = memchr(data + off, '\n', len - off);

	return nl == NULL ? len : (size_t)(nl - data) + 1;
}

int
mime_header_get(const uint8_t *hdr, size_t hdrlen, const char *name,
    char *buf, size_t bufsize)
{
	size_t namelen = strlen(name), off = 0, next, o = 0;

	while (off < hdrlen) {
		next = mime_line_end(hdr, hdrlen, off);
		if (next - off > namelen && hdr[off + namelen] == ':' &&
		    strncasecmp((const char *)hdr + off, name, namelen) == 0)
			break;
		off = next;
	}
	if (off >= hdrlen)
		return 0;
	off += namelen + 1;
	/* Copy this line and its continuation lines, unfolded. */
	for (;;) {
		next = mime_line_end(hdr, hdrlen, off);
		for (; off < next; off++) {
			if (hdr[off] == '\r' || hdr[off] == '\n')
				continue;
			if (o == 0 && (hdr[off] == ' ' || hdr[off] == '\t'))
				continue;
			if (o + 1 < bufsize)
				buf[o++] = (char)hdr[off];
		}
		if (next >= hdrlen || (hdr[next] != ' ' && hdr[next] != '\t'))
			break;
	}
	if (bufsize > 0)
		buf[o < bufsize ? o : bufsize - 1] = '\0';
	return 1;
}

/* The end of the field starting at p: past its last line's end. */
static const char *
mime_field_end(const char *p, const char *end)
{
	const char *nl;

	for (;;) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return end;
		p = nl + 1;
		if (p == end || (*p != ' ' && *p != '\t'))
			return p;
	}
}

int
mime_field_is(const char *f, size_t len, const char *name, size_t *value_r)
{
	size_t nlen = strlen(name), i;

	if (len <= nlen || strncasecmp(f, name, nlen) != 0)
		return 0;
	for (i = nlen; i < len && (f[i] == ' ' || f[i] == '\t'); i++)
		;
	if (i == len || f[i] != ':')
		return 0;
	if (value_r != NULL)
		*value_r = i + 1;
	return 1;
}

int
mime_header_strip(const void *msg, size_t len, mime_field_drop *drop,
    void *arg, char **out, size_t *outlen)
{
	const char *m = msg, *end = m + len, *p, *fend;
	char *o;
	size_t n = 0;
	int removed = 0;

	*out = NULL;
	*outlen = 0;
	for (p = m; p < end; p = fend) {
		/* the blank line ends the header */
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;
		fend = mime_field_end(p, end);
		removed += drop(p, (size_t)(fend - p), arg) != 0;
	}
	if (removed == 0)
		return 0;
	/* copy every field kept, then the rest */
	o = xmalloc(len);
	for (p = m; p < end; p = fend) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;
		fend = mime_field_end(p, end);
		if (drop(p, (size_t)(fend - p), arg))
			continue;
		memcpy(o + n, p, (size_t)(fend - p));
		n += (size_t)(fend - p);
	}
	memcpy(o + n, p, (size_t)(end - p));
	n += (size_t)(end - p);
	*out = o;
	*outlen = n;
	return removed;
}

size_t
mime_header_count(const uint8_t *hdr, size_t hdrlen, const char *name)
{
	const char *p = (const char *)hdr, *end = p + hdrlen, *fend;
	size_t n = 0;

	for (; p < end; p = fend) {
		fend = mime_field_end(p, end);
		n += mime_field_is(p, (size_t)(fend - p), name, NULL);
	}
	return n;
}

/* Skips white space and (nested) comments. */
static const char *
mime_skip_cfws(const char *p)
{
	int depth;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '(')
			return p;
		for (depth = 0; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
}

/*
 * Reads a token or a quoted string at p into out (unquoted, truncated to
 * outsize - 1); returns the position after it.
 */
static const char *
mime_param_value(const char *p, char *out, size_t outsize)
{
	size_t o = 0;

	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (o + 1 < outsize)
				out[o++] = *p;
		}
		if (*p == '"')
			p++;
	} else {
		for (; *p != '\0' && *p != ';' && *p != ' ' && *p != '\t' &&
		    *p != '('; p++)
			if (o + 1 < outsize)
				out[o++] = *p;
	}
	if (outsize > 0)
		out[o] = '\0';
	return p;
}

void
mime_content_type(const char *value, char *type, size_t typesize,
    char *boundary, size_t boundarysize)
{
	const char *p, *name;
	char scratch[2];
	size_t o = 0, namelen;

	if (boundarysize > 0)
		boundary[0] = '\0';
	p = mime_skip_cfws(value);
	while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t' &&
	    *p != '(') {
		if (o + 1 < typesize)
			type[o++] = (char)tolower((unsigned char)*p);
		p++;
	}
	if (typesize > 0)
		type[o] = '\0';
	/*
	 * Parameters: name = value, where a value may be a quoted string
	 * holding ';' or '=' (which must not end it), with comments
	 * anywhere between.  The first boundary wins.
	 */
	for (;;) {
		p = mime_skip_cfws(p);
		if (*p == '"') {	/* stray quoted text: skip it whole */
			p = mime_param_value(p, scratch, sizeof(scratch));
			continue;
		}
		if (*p != ';' && *p != '\0') {
			p++;
			continue;
		}
		if (*p == '\0')
			return;
		p = mime_skip_cfws(p + 1);
		name = p;
		while (*p != '\0' && *p != '=' && *p != ';' && *p != ' ' &&
		    *p != '\t' && *p != '(' && *p != '"')
			p++;
		namelen = (size_t)(p - name);
		p = mime_skip_cfws(p);
		if (*p != '=')
			continue;
		p = mime_skip_cfws(p + 1);
		if (namelen == 8 && strncasecmp(name, "boundary", 8) == 0 &&
		    boundarysize > 0) {
			p = mime_param_value(p, boundary, boundarysize);
			if (boundary[0] != '\0')
				return;
		} else
			p = mime_param_value(p, scratch, sizeof(scratch));
	}
}

static void
mime_add_part(struct seglist *l, size_t off, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 8 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].off = off;
	l->v[l->n].len = len;
	l->v[l->n].kind = MIME_SEG_PART;
	l->n++;
}

/* Is the line at off a delimiter "--boundary" (or close "--boundary--")? */
static int
mime_is_delimiter(const uint8_t *data, size_t end, size_t off,
    const char *b, size_t blen)
{
	return off + 2 + blen <= end && data[off] == '-' &&
	    data[off + 1] == '-' && memcmp(data + off + 2, b, blen) == 0;
}

/*
 * Walks the entity whose header is [hoff, boff) and body [boff, end),
 * collecting large leaf part bodies in order.
 */
static void
mime_walk(const uint8_t *data, size_t hoff, size_t boff, size_t end,
    size_t min_part, int depth, struct seglist *l)
{
	char ct[512], type[128], b[256];
	size_t blen, off, next, pstart = 0, pend, phend;
	int inpart = 0;

	if (!mime_header_get(data + hoff, boff - hoff, "Content-Type", ct,
	    sizeof(ct)))
		ct[0] = '\0';
	mime_content_type(ct, type, sizeof(type), b, sizeof(b));

	if (depth < MIME_DEPTH_MAX && strcmp(type, "message/rfc822") == 0) {
		phend = boff + mime_header_end(data + boff, end - boff);
		mime_walk(data, boff, phend, end, min_part, depth + 1, l);
		return;
	}
	if (depth >= MIME_DEPTH_MAX || strncmp(type, "multipart/", 10) != 0 ||
	    b[0] == '\0') {
		if (end - boff >= min_part)
			mime_add_part(l, boff, end - boff);
		return;
	}
	blen = strlen(b);
	for (off = boff; off < end; off = next) {
		next = mime_line_end(data, end, off);
		if (!mime_is_delimiter(data, end, off, b, blen))
			continue;
		if (inpart) {
			/* The line break before a delimiter belongs to it. */
			pend = off;
			if (pend > pstart && data[pend - 1] == '\n')
				pend--;
			if (pend > pstart && data[pend - 1] == '\r')
				pend--;
			phend = pstart + mime_header_end(data + pstart,
			    pend - pstart);
			mime_walk(data, pstart, phend, pend, min_part,
			    depth + 1, l);
		}
		if (off + 2 + blen + 2 <= end &&
		    data[off + 2 + blen] == '-' && data[off + 3 + blen] == '-')
			return;	/* close delimiter: the epilogue is rest */
		inpart = 1;
		pstart = next;
	}
	/* An unterminated last part runs to the end. */
	if (inpart && pstart < end) {
		phend = pstart + mime_header_end(data + pstart, end - pstart);
		mime_walk(data, pstart, phend, end, min_part, depth + 1, l);
	}
}

void
mime_segments(const uint8_t *data, size_t len, size_t min_part,
    struct mime_segment **segs_r, size_t *nsegs_r)
{
	struct seglist parts = { 0 };
	struct mime_segment *out;
	size_t hend, i, n = 0, pos;

	*segs_r = NULL;
	*nsegs_r = 0;
	if (len == 0)
		return;
	hend = mime_header_end(data, len);
	if (hend < len)
		mime_walk(data, 0, hend, len, min_part, 0, &parts);

	out = xcalloc(2 * parts.n + 2, sizeof(*out));
	out[n++] = (struct mime_segment){ 0, hend, MIME_SEG_HEADER };
	pos = hend;
	for (i = 0; i < parts.n; i++) {
		if (parts.v[i].off < pos || parts.v[i].len == 0)
			continue;	/* overlapping: malformed nesting */
		if (parts.v[i].off > pos)
			out[n++] = (struct mime_segment){ pos,
			    parts.v[i].off - pos, MIME_SEG_REST };
		out[n++] = parts.v[i];
		pos = parts.v[i].off + parts.v[i].len;
	}
	if (pos < len)
		out[n++] = (struct mime_segment){ pos, len - pos,
		    MIME_SEG_REST };
	free(parts.v);
	*segs_r = out;
	*nsegs_r = n;
}
