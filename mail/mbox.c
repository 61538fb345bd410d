/* mbox.c - see mbox.h */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/xmalloc.h"

#include "mbox.h"

static int	mbox_is_from_line(const char *p, const char *end);
static int	mbox_is_escaped_from(const char *p, const char *end);
static size_t	mbox_strip_separator(const char *start, size_t len);
static int	mbox_month(const char *p, size_t len);
static int	mbox_atoi(const char *p, size_t len, int *r);
static int	mbox_sender_ok(const char *s);
static int	mbox_header_has(const char *p, const char *end,
		    const char *name, const char **val, const char **vend);

#define MBOX_BOM	"\xef\xbb\xbf"

static const char *const mbox_months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};
static const char *const mbox_wdays[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};

static int
mbox_is_from_line(const char *p, const char *end)
{
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

/* ^>+From  */
static int
mbox_is_escaped_from(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && *q == '>')
		q++;
	return q > p && mbox_is_from_line(q, end);
}

int
mbox_is_mbox(const void *buf, size_t len)
{
	const char *p = buf;

	if (len >= 3 && memcmp(p, MBOX_BOM, 3) == 0)
		p += 3;
	return mbox_is_from_line(p, (const char *)buf + len);
}

/*
 * The separator is the last line of the region when that line is empty:
 * the region is "\n" / "\r\n" alone, or ends in "\n\n" / "\n\r\n".
 */
static size_t
mbox_strip_separator(const char *s, size_t len)
{
	if (len == 1 && s[0] == '\n')
		return 0;
	if (len == 2 && s[0] == '\r' && s[1] == '\n')
		return 0;
	if (len >= 2 && s[len - 1] == '\n' && s[len - 2] == '\n')
		return len - 1;
	if (len >= 3 && s[len - 1] == '\n' && s[len - 2] == '\r' &&
	    s[len - 3] == '\n')
		return len - 2;
	return len;
}

int
mbox_next(const void *vbuf, size_t len, size_t *off, struct mbox_msg *r)
{
	const char *buf = vbuf, *end = buf + len;
	const char *p, *nl, *body, *line;
	size_t elen;
	int prev_empty, noeol;

	if (*off == 0 && len >= 3 && memcmp(buf, MBOX_BOM, 3) == 0)
		*off = 3;
	if (*off >= len)
		return 0;
	p = buf + *off;
	if (!mbox_is_from_line(p, end))
		return err_set(ERR_INVALID, "no \"From \" line at offset %zu: "
		    "not an mbox file", *off);
	memset(r, 0, sizeof(*r));
	r->offset = *off;
	nl = memchr(p, '\n', (size_t)(end - p));
	body = nl != NULL ? nl + 1 : end;
	elen = (size_t)((nl != NULL ? nl : end) - (p + 5));
	if (elen > 0 && p[5 + elen - 1] == '\r')
		elen--;
	r->envelope = p + 5;
	r->envelope_len = elen;
	noeol = mbox_envelope_parse(r->envelope, elen, r->sender, &r->date);

	/* Find the next "From " line that follows an empty line. */
	prev_empty = 0;
	line = body;
	while (line < end) {
		if (prev_empty && mbox_is_from_line(line, end))
			break;
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL) {
			line = end;
			break;
		}
		prev_empty = nl == line || (nl == line + 1 && *line == '\r');
		line = nl + 1;
	}
	r->raw = body;
	r->raw_len = mbox_strip_separator(body, (size_t)(line - body));
	if (noeol && r->raw_len > 0 && body[r->raw_len - 1] == '\n')
		r->raw_len--;
	*off = (size_t)(line - buf);
	return 1;
}

size_t
mbox_unescape(const char *in, size_t len, char *out)
{
	const char *p = in, *end = in + len, *nl;
	char *o = out;
	size_t n;

	while (p < end) {
		if (*p == '>' && mbox_is_escaped_from(p, end))
			p++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl + 1 : end) - p);
		memmove(o, p, n);
		o += n;
		p += n;
	}
	return (size_t)(o - out);
}

char *
mbox_msg_dup(const struct mbox_msg *r, size_t *len_r)
{
	char *out;

	out = xmalloc(r->raw_len + 1);
	*len_r = mbox_unescape(r->raw, r->raw_len, out);
	out[*len_r] = '\0';
	return out;
}

int
mbox_envelope_parse(const char *line, size_t len,
    char sender[MBOX_SENDER_MAX + 1], time_t *date_r)
{
	size_t i = 0, n, mlen = sizeof(MBOX_NOEOL_MARK) - 1;
	int noeol = 0;

	/* The sender: the first word; "From  date" has an empty one. */
	while (i < len && line[i] != ' ' && line[i] != '\t')
		i++;
	n = i < MBOX_SENDER_MAX ? i : MBOX_SENDER_MAX;
	memcpy(sender, line, n);
	sender[n] = '\0';
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && isspace((unsigned char)line[len - 1]))
		len--;
	if (len - i > mlen && memcmp(line + len - mlen, MBOX_NOEOL_MARK,
	    mlen) == 0 && line[len - mlen - 1] == ' ') {
		noeol = 1;
		len -= mlen + 1;
	}
	*date_r = mbox_date_parse(line + i, len - i);
	return noeol;
}

static int
mbox_month(const char *p, size_t len)
{
	int m;

	if (len != 3)
		return -1;
	for (m = 0; m < 12; m++)
		if (strncasecmp(p, mbox_months[m], 3) == 0)
			return m;
	return -1;
}

static int
mbox_atoi(const char *p, size_t len, int *r)
{
	size_t i;
	int v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*r = v;
	return 0;
}

time_t
mbox_date_parse(const char *text, size_t len)
{
	const char *tok[8], *p = text, *end = text + len;
	size_t tlen[8], ntok = 0, i;
	int mon = -1, day = -1, hh = -1, mm = -1, ss = 0, year = -1;
	long zone = 0;
	struct tm tm;
	time_t t;

	while (p < end && ntok < 8) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		tok[ntok] = p;
		while (p < end && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		tlen[ntok] = (size_t)(p - tok[ntok]);
		ntok++;
	}
	i = 0;
	if (i < ntok && tlen[i] == 3 && mbox_month(tok[i], 3) < 0) {
		int w, ok = 0;

		for (w = 0; w < 7; w++)
			if (strncasecmp(tok[i], mbox_wdays[w], 3) == 0)
				ok = 1;
		if (!ok)
			return 0;
		i++;
	}
	if (i + 3 > ntok || (mon = mbox_month(tok[i], tlen[i])) < 0 ||
	    mbox_atoi(tok[i + 1], tlen[i + 1], &day) < 0)
		return 0;
	i += 2;
	/* hh:mm[:ss] */
	{
		const char *q = tok[i];
		size_t l = tlen[i];

		if (l != 5 && l != 8)
			return 0;
		if (q[2] != ':' || mbox_atoi(q, 2, &hh) < 0 ||
		    mbox_atoi(q + 3, 2, &mm) < 0)
			return 0;
		if (l == 8 && (q[5] != ':' || mbox_atoi(q + 6, 2, &ss) < 0))
			return 0;
	}
	for (i++; i < ntok; i++) {
		const char *q = tok[i];
		size_t l = tlen[i];
		int v;

		if ((q[0] == '+' || q[0] == '-') && l == 5 &&
		    mbox_atoi(q + 1, 4, &v) == 0) {
			zone = (v / 100) * 3600L + (v % 100) * 60L;
			if (q[0] == '-')
				zone = -zone;
		} else if (year < 0 && l == 4 && mbox_atoi(q, 4, &v) == 0)
			year = v;
		else if ((l == 3 && (strncasecmp(q, "UTC", 3) == 0 ||
		    strncasecmp(q, "GMT", 3) == 0)) || (l == 1 && *q == 'Z'))
			continue;
		else if (year >= 0)
			break;	/* text after the date */
		else if (isalpha((unsigned char)q[0]))
			continue;	/* a named zone before the year */
		else
			return 0;
	}
	if (year < 1970 || day < 1 || day > 31 || hh > 23 || mm > 59 ||
	    ss > 60)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	t -= zone;
	/* Past 9999-12-31 23:59:59 UTC (a leap second or a zone can carry
	   "9999" over) the year no longer has the four digits a From line
	   is read with: such a date is no date, as it would read back. */
	if (t > MBOX_DATE_LAST)
		return 0;
	return t > 0 ? t : 0;
}

char *
mbox_date_format(time_t t, char buf[MBOX_DATE_MAX])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	snprintf(buf, MBOX_DATE_MAX, "%s %s %2d %02d:%02d:%02d %d",
	    mbox_wdays[tm.tm_wday % 7], mbox_months[tm.tm_mon % 12],
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    tm.tm_year + 1900);
	return buf;
}

static int
mbox_sender_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > MBOX_SENDER_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return 0;
	return 1;
}

char *
mbox_format(const char *sender, time_t date, const void *vmsg, size_t len,
    size_t *len_r)
{
	const char *msg = vmsg, *p, *end = msg + len, *nl;
	char datebuf[MBOX_DATE_MAX], *out, *o;
	const char *eol;
	size_t lines = 1, cap, n;
	int crlf, noeol;

	if (!mbox_sender_ok(sender))
		sender = MBOX_SENDER_DEFAULT;
	nl = len > 0 ? memchr(msg, '\n', len) : NULL;
	crlf = nl != NULL && nl > msg && nl[-1] == '\r';
	eol = crlf ? "\r\n" : "\n";
	noeol = len == 0 || msg[len - 1] != '\n';
	for (p = msg; p < end &&
	    (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		lines++;
	mbox_date_format(date, datebuf);
	cap = 5 + strlen(sender) + 1 + strlen(datebuf) +
	    sizeof(MBOX_NOEOL_MARK) + 2 + len + lines + 1 + 2 + 1;
	out = o = xmalloc(cap);
	o += snprintf(o, cap, "From %s %s%s%s%s", sender, datebuf,
	    noeol ? " " : "", noeol ? MBOX_NOEOL_MARK : "", eol);
	for (p = msg; p < end; p += n) {
		if (mbox_is_from_line(p, end) || mbox_is_escaped_from(p, end))
			*o++ = '>';
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl + 1 : end) - p);
		memcpy(o, p, n);
		o += n;
	}
	if (noeol)
		*o++ = '\n';
	memcpy(o, eol, strlen(eol));
	o += strlen(eol);
	*len_r = (size_t)(o - out);
	return out;
}

/*
 * Finds header "name:" in the header block [p, end) and returns its value
 * (first line only; Status lines are never folded in practice).
 */
static int
mbox_header_has(const char *p, const char *end, const char *name,
    const char **val, const char **vend)
{
	size_t nlen = strlen(name);
	const char *nl;

	while (p < end) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			return 0;	/* end of the header block */
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			*val = p + nlen + 1;
			*vend = nl;
			return 1;
		}
		p = nl + 1;
	}
	return 0;
}

unsigned
mbox_status_flags(const void *vmsg, size_t len)
{
	const char *msg = vmsg, *v, *vend;
	unsigned flags = 0;

	if (mbox_header_has(msg, msg + len, "Status", &v, &vend))
		for (; v < vend; v++)
			if (*v == 'R')
				flags |= MBOX_F_SEEN;
	if (mbox_header_has(msg, msg + len, "X-Status", &v, &vend))
		for (; v < vend; v++) {
			if (*v == 'A')
				flags |= MBOX_F_ANSWERED;
			else if (*v == 'F')
				flags |= MBOX_F_FLAGGED;
			else if (*v == 'D')
				flags |= MBOX_F_DELETED;
			else if (*v == 'T')
				flags |= MBOX_F_DRAFT;
		}
	return flags;
}

size_t
mbox_status_strip(char *msg, size_t len)
{
	char *p = msg, *end = msg + len, *nl, *next;
	size_t n;
	int drop = 0;

	while (p < end) {
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;		/* end of the header block */
		nl = memchr(p, '\n', (size_t)(end - p));
		next = nl != NULL ? nl + 1 : end;
		/* A continuation line goes with the line it continues. */
		if (*p != ' ' && *p != '\t')
			drop = (next - p >= 7 && strncasecmp(p, "Status:", 7)
			    == 0) || (next - p >= 9 && strncasecmp(p,
			    "X-Status:", 9) == 0);
		if (drop) {
			n = (size_t)(end - next);
			memmove(p, next, n);
			end -= next - p;
			continue;
		}
		p = next;
	}
	return (size_t)(end - msg);
}

char *
mbox_sender_keep(const char *sender, const void *vmsg, size_t len,
    size_t *len_r)
{
	const char *msg = vmsg, *v, *vend, *nl, *eol, *s;
	char *out;
	size_t hlen;

	if (sender == NULL || *sender == '\0' || strlen(sender) >
	    MBOX_SENDER_MAX)
		return NULL;
	for (s = sender; *s != '\0'; s++)
		if (*s == '<' || *s == '>' || isspace((unsigned char)*s) ||
		    iscntrl((unsigned char)*s))
			return NULL;
	/*
	 * MBOX_SENDER_DEFAULT is what writers (mbox_format() too) put when
	 * they know no sender: it says nothing, and adding "<>" would
	 * change the bytes of every export -> import round trip.
	 */
	if (strcmp(sender, MBOX_SENDER_DEFAULT) == 0 ||
	    mbox_header_has(msg, msg + len, "Return-Path", &v, &vend))
		return NULL;
	nl = len > 0 ? memchr(msg, '\n', len) : NULL;
	eol = nl != NULL && nl > msg && nl[-1] == '\r' ? "\r\n" : "\n";
	hlen = strlen("Return-Path: <>") + strlen(sender) + strlen(eol);
	out = xmalloc(hlen + len + 1);
	snprintf(out, hlen + 1, "Return-Path: <%s>%s", sender, eol);
	if (len > 0)
		memcpy(out + hlen, msg, len);
	out[hlen + len] = '\0';
	*len_r = hlen + len;
	return out;
}
