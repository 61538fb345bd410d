/*
 * reply.c - see reply.h.
 *
 * The reader never holds bytes of an unfinished line: it consumes whole
 * lines only and keeps what it learnt from them in rd->reply, so the
 * result cannot depend on how the input was cut into reads.  A CR right
 * at the end of the offered bytes may be the first half of a CRLF, so a
 * line is only judged too long once more than MTA_REPLY_LINE_MAX bytes
 * other than such a CR are known not to hold its end.
 */
#include <ctype.h>
#include <string.h>

#include "common/error.h"

#include "reply.h"

static int	reply_line(struct mta_reply_reader *, const char *, size_t);
static size_t	reply_enhanced(const char *, size_t, int);
static void	reply_append(struct mta_reply *, const char *, size_t);
static int	reply_fail(struct mta_reply_reader *, const char *);
static int	ehlo_word(const char *, size_t, const char *);
static void	ehlo_auth(struct mta_reply_ehlo *, const char *, size_t);

void
mta_reply_init(struct mta_reply_reader *rd)
{
	memset(rd, 0, sizeof(*rd));
}

static int
reply_fail(struct mta_reply_reader *rd, const char *why)
{
	rd->failed = 1;
	return err_set(ERR_INVALID, "malformed SMTP reply: %s", why);
}

/*
 * The length of an RFC 3463 code "c.sss.ddd" at the start of s[0..len),
 * followed by a space or the end, whose class c is the reply code's first
 * digit; 0 if there is none.
 */
static size_t
reply_enhanced(const char *s, size_t len, int cls)
{
	size_t i = 0, n;
	int part;

	if (len < 5 || s[0] != '0' + cls || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < len && n < 4 && isdigit((unsigned char)s[i]);
		    n++)
			i++;
		if (n < 1 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

/* Adds text to the reply, cut at MTA_REPLY_MAX - 1; controls become '?'. */
static void
reply_append(struct mta_reply *r, const char *s, size_t len)
{
	size_t room, i;
	unsigned char c;

	room = MTA_REPLY_MAX - 1 - r->textlen;
	if (len > room) {
		len = room;
		r->truncated = 1;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		r->text[r->textlen++] = (c < 0x20 && c != '\t') || c == 0x7f ?
		    '?' : (char)c;
	}
	r->text[r->textlen] = '\0';
}

/* One line without its end: 1 the reply is complete, 0 more lines. */
static int
reply_line(struct mta_reply_reader *rd, const char *s, size_t len)
{
	struct mta_reply *r = &rd->reply;
	size_t enh, skip;
	int code, last;

	if (len < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' ||
	    s[1] > '5' || !isdigit((unsigned char)s[2]))
		return reply_fail(rd, "a line without a reply code");
	if (len > 3 && s[3] != ' ' && s[3] != '-')
		return reply_fail(rd, "no space or '-' after the reply code");
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	last = len == 3 || s[3] == ' ';
	if (!rd->inside) {
		memset(r, 0, sizeof(*r));
		r->code = code;
		rd->inside = 1;
	} else if (code != r->code)
		return reply_fail(rd, "different codes in one reply");
	if (++r->nlines > MTA_REPLY_LINES_MAX)
		return reply_fail(rd, "too many lines in one reply");
	skip = len > 3 ? 4 : 3;
	s += skip;
	len -= skip;
	/* The enhanced code is the first line's; later lines repeat it. */
	enh = reply_enhanced(s, len, code / 100);
	if (r->nlines == 1 && enh > 0) {
		memcpy(r->enhanced, s, enh);
		r->enhanced[enh] = '\0';
	}
	if (enh > 0 && r->enhanced[0] != '\0' &&
	    strlen(r->enhanced) == enh && memcmp(r->enhanced, s, enh) == 0) {
		s += enh;
		len -= enh;
		if (len > 0) {
			s++;
			len--;
		}
	}
	if (r->nlines > 1 && r->textlen < MTA_REPLY_MAX - 1) {
		r->text[r->textlen++] = '\n';
		r->text[r->textlen] = '\0';
	} else if (r->nlines > 1)
		r->truncated = 1;
	reply_append(r, s, len);
	if (last)
		rd->inside = 0;
	return last;
}

int
mta_reply_read(struct mta_reply_reader *rd, const char *buf, size_t len,
    size_t *consumed_r)
{
	const char *lf;
	size_t linelen, known;
	int rc;

	*consumed_r = 0;
	if (rd->failed)
		return err_set(ERR_INVALID, "malformed SMTP reply: the reader "
		    "already failed");
	while (*consumed_r < len) {
		lf = memchr(buf + *consumed_r, '\n', len - *consumed_r);
		if (lf == NULL) {
			known = len - *consumed_r;
			if (buf[len - 1] == '\r')
				known--;
			if (known > MTA_REPLY_LINE_MAX)
				return reply_fail(rd, "a line over 2048 bytes");
			return 0;
		}
		linelen = (size_t)(lf - (buf + *consumed_r));
		if (linelen > 0 && lf[-1] == '\r')
			linelen--;
		if (linelen > MTA_REPLY_LINE_MAX)
			return reply_fail(rd, "a line over 2048 bytes");
		rc = reply_line(rd, buf + *consumed_r, linelen);
		*consumed_r = (size_t)(lf - buf) + 1;
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Whether the keyword s[0..len) is word (case-insensitive). */
static int
ehlo_word(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* Mechanisms in s[0..len), separated by spaces. */
static void
ehlo_auth(struct mta_reply_ehlo *r, const char *s, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		while (i < len && s[i] == ' ')
			i++;
		for (n = 0; i + n < len && s[i + n] != ' '; n++)
			;
		if (n == 0)
			break;
		if (ehlo_word(s + i, n, "PLAIN"))
			r->auth |= MTA_AUTH_PLAIN;
		else if (ehlo_word(s + i, n, "LOGIN"))
			r->auth |= MTA_AUTH_LOGIN;
		else if (ehlo_word(s + i, n, "CRAM-MD5"))
			r->auth |= MTA_AUTH_CRAM_MD5;
		else
			r->auth |= MTA_AUTH_OTHER;
		i += n;
	}
}

void
mta_reply_ehlo_parse(const struct mta_reply *rep, struct mta_reply_ehlo *r)
{
	const char *p, *end, *nl, *kw, *arg;
	size_t kwlen, arglen, i;
	uint64_t v;
	int ok;

	memset(r, 0, sizeof(*r));
	r->esmtp = 1;
	p = rep->text;
	end = rep->text + rep->textlen;
	/* The first line is the server's name and greeting. */
	nl = memchr(p, '\n', (size_t)(end - p));
	p = nl == NULL ? end : nl + 1;
	for (; p < end; p = nl == NULL ? end : nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		kw = p;
		while (kw < (nl ? nl : end) && *kw == ' ')
			kw++;
		for (kwlen = 0; kw + kwlen < (nl ? nl : end) &&
		    kw[kwlen] != ' ' && kw[kwlen] != '='; kwlen++)
			;
		arg = kw + kwlen;
		if (arg < (nl ? nl : end))
			arg++;
		arglen = (size_t)((nl ? nl : end) - arg);
		if (ehlo_word(kw, kwlen, "SIZE")) {
			r->size = 1;
			v = 0;
			ok = arglen > 0;
			for (i = 0; i < arglen && ok; i++) {
				if (!isdigit((unsigned char)arg[i]) ||
				    v > (UINT64_MAX - 9) / 10)
					ok = 0;
				else
					v = v * 10 + (uint64_t)(arg[i] - '0');
			}
			r->size_max = ok ? v : 0;
		} else if (ehlo_word(kw, kwlen, "PIPELINING"))
			r->pipelining = 1;
		else if (ehlo_word(kw, kwlen, "8BITMIME"))
			r->eightbitmime = 1;
		else if (ehlo_word(kw, kwlen, "SMTPUTF8"))
			r->smtputf8 = 1;
		else if (ehlo_word(kw, kwlen, "STARTTLS"))
			r->starttls = 1;
		else if (ehlo_word(kw, kwlen, "DSN"))
			r->dsn = 1;
		else if (ehlo_word(kw, kwlen, "ENHANCEDSTATUSCODES"))
			r->enhancedstatuscodes = 1;
		else if (ehlo_word(kw, kwlen, "CHUNKING"))
			r->chunking = 1;
		else if (ehlo_word(kw, kwlen, "AUTH"))
			ehlo_auth(r, arg, arglen);
	}
}
