/*
 * spamscore.c - the spam score of a message from spamd (see spamscore.h).
 *
 * One connection with one deadline (common/dial.h), so a spamd that
 * accepts and then hangs (or trickles bytes) costs at most timeout_ms,
 * however the time is split between connect, send and receive.  The
 * reply parser is pure and sees the whole reply so far on
 * every call: replies are small (SPAM_REPLY_MAX), re-parsing is cheap
 * and it keeps the parser free of state.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/dial.h"
#include "common/xmalloc.h"

#include "spamscore.h"

static int	spam_number(const char **, const char *, double *);
static int	spam_header_spam(const char *, const char *,
		    struct spam_reply *);
static int	spam_parse(const char *, size_t, int, void *, char *,
		    size_t);

/*
 * A number "-"? digits ["." digits] at *pp (before end), strictly: no
 * exponent, no "inf", whatever the locale.  1 read (*pp moved), 0 not.
 */
static int
spam_number(const char **pp, const char *end, double *v_r)
{
	const char *p = *pp;
	double v = 0, scale = 1;
	int neg = 0, ndig = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	for (; p < end && *p >= '0' && *p <= '9'; p++, ndig++)
		v = v * 10 + (*p - '0');
	if (ndig == 0 || ndig > 15)
		return 0;
	if (p < end && *p == '.') {
		for (p++, ndig = 0; p < end && *p >= '0' && *p <= '9';
		    p++, ndig++)
			if (ndig < 15)
				v += (*p - '0') * (scale /= 10);
		if (ndig == 0)
			return 0;
	}
	*v_r = neg ? -v : v;
	*pp = p;
	return 1;
}

/* The value of a Spam: header: "True ; 15.0 / 5.0".  1 ok, 0 malformed. */
static int
spam_header_spam(const char *p, const char *end, struct spam_reply *r)
{
	static const struct {
		const char	*word;
		int		 spam;
	} verdicts[] = {
		{ "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
	};
	size_t i, n;

	for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
		n = strlen(verdicts[i].word);
		if ((size_t)(end - p) >= n &&
		    strncasecmp(p, verdicts[i].word, n) == 0 &&
		    (p + n == end || p[n] == ' ' || p[n] == ';'))
			break;
	}
	if (i == sizeof(verdicts) / sizeof(verdicts[0]))
		return 0;
	r->is_spam = verdicts[i].spam;
	p += n;
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p++ != ';')
		return 0;
	while (p < end && *p == ' ')
		p++;
	if (!spam_number(&p, end, &r->score))
		return 0;
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p++ != '/')
		return 0;
	while (p < end && *p == ' ')
		p++;
	if (!spam_number(&p, end, &r->threshold))
		return 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end;
}

int
spam_reply_parse(const char *buf, size_t len, int eof, struct spam_reply *r,
    char *why, size_t whysize)
{
	const char *p = buf, *end = buf + len, *nl, *le, *q, *colon;
	char show[80];
	size_t clen = 0, namelen, lineno;
	int have_clen = 0, have_spam = 0, ndig;
	double d;

	memset(r, 0, sizeof(*r));
	r->code = -1;
	for (lineno = 0;; lineno++) {
		nl = memchr(p, '\n', (size_t)(end - p) < SPAM_LINE_MAX + 2 ?
		    (size_t)(end - p) : SPAM_LINE_MAX + 2);
		if (nl == NULL) {
			if ((size_t)(end - p) > SPAM_LINE_MAX + 1)
				return dial_why(why, whysize, "reply line %zu "
				    "longer than %d bytes", lineno + 1,
				    SPAM_LINE_MAX) - 1;
			if (!eof)
				return 0;
			if (len == 0)
				return dial_why(why, whysize, "connection "
				    "closed without a reply") - 1;
			return dial_why(why, whysize, "reply cut short in "
			    "line %zu", lineno + 1) - 1;
		}
		le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		dial_printable(p, (size_t)(le - p), show, sizeof(show));
		if (lineno == 0) {
			/* "SPAMD/1.1 0 EX_OK": version, code, text */
			q = p + 6;
			if (le - p < 6 || memcmp(p, "SPAMD/", 6) != 0 ||
			    !spam_number(&q, le, &d) ||
			    memchr(p + 6, '.', (size_t)(q - p - 6)) == NULL ||
			    q == le || *q++ != ' ')
				return dial_why(why, whysize, "not a spamd "
				    "status line: \"%s\"", show) - 1;
			/* (4 digits at most read: no overflow) */
			for (r->code = 0, ndig = 0; q < le && *q >= '0' &&
			    *q <= '9' && ndig < 4; q++, ndig++)
				r->code = r->code * 10 + (*q - '0');
			if (ndig == 0 || ndig > 3 || (q < le && *q != ' '))
				return dial_why(why, whysize, "not a spamd "
				    "status line: \"%s\"", show) - 1;
			if (r->code != 0)
				return dial_why(why, whysize, "spamd error: "
				    "\"%s\"", show) - 1;
		} else if (le == p) {
			p = nl + 1;
			break;
		} else {
			colon = memchr(p, ':', (size_t)(le - p));
			namelen = colon == NULL ? 0 : (size_t)(colon - p);
			if (namelen == 0 || memchr(p, ' ', namelen) != NULL ||
			    memchr(p, '\t', namelen) != NULL)
				return dial_why(why, whysize, "malformed "
				    "reply header line: \"%s\"", show) - 1;
			for (q = colon + 1; q < le && *q == ' '; q++)
				;
			if (namelen == 14 &&
			    strncasecmp(p, "Content-length", 14) == 0) {
				if (have_clen++ || q == le ||
				    strspn(q, "0123456789") < (size_t)(le -
				    q) || le - q > 9)
					return dial_why(why, whysize, "bad "
					    "reply header: \"%s\"", show) - 1;
				for (clen = 0; q < le; q++)
					clen = clen * 10 + (size_t)(*q - '0');
				if (clen > SPAM_REPLY_MAX)
					return dial_why(why, whysize, "reply "
					    "announces %zu bytes, more than "
					    "%d", clen, SPAM_REPLY_MAX) - 1;
			} else if (namelen == 4 &&
			    strncasecmp(p, "Spam", 4) == 0) {
				if (have_spam++ || !spam_header_spam(q, le, r))
					return dial_why(why, whysize, "bad "
					    "reply header: \"%s\"", show) - 1;
			}
		}
		p = nl + 1;
	}
	if (!have_spam)
		return dial_why(why, whysize, "reply without a Spam: "
		    "header") - 1;
	if (have_clen) {
		if ((size_t)(end - p) < clen) {
			if (!eof)
				return 0;
			return dial_why(why, whysize, "reply cut short: %zu "
			    "of %zu bytes of symbols", (size_t)(end - p),
			    clen) - 1;
		}
		if ((size_t)(end - p) > clen)
			return dial_why(why, whysize, "%zu bytes after the "
			    "reply", (size_t)(end - p) - clen) - 1;
	} else if (!eof) {
		/* without a length, the body ends with the connection */
		return 0;
	} else
		clen = (size_t)(end - p);
	r->symbols = clen > 0 ? p : NULL;
	r->symbols_len = clen;
	r->used = (size_t)(p + clen - buf);
	return 1;
}

/* spam_reply_parse() as dial_reply() calls it. */
static int
spam_parse(const char *buf, size_t len, int eof, void *rep, char *why,
    size_t whysize)
{
	return spam_reply_parse(buf, len, eof, rep, why, whysize);
}

int
spam_score(const struct spam_conf *conf, const void *msg, size_t len,
    double *score, double *threshold, char *why, size_t whysize)
{
	struct dial d;
	struct spam_reply rep;
	char head[128 + SPAM_USER_MAX], perr[256], *buf;
	size_t hlen, i, max;
	int r;

	if (why != NULL && whysize > 0)
		why[0] = '\0';
	*score = *threshold = 0;
	memset(&d, 0, sizeof(d));
	d.what = "spamd";
	d.addr = conf->addr != NULL && conf->addr[0] != '\0' ? conf->addr :
	    SPAM_ADDR_DEFAULT;
	max = conf->max_size > 0 ? conf->max_size : SPAM_MAX_SIZE_DEFAULT;
	if (len > max)
		return dial_why(why, whysize, "spamd %s: message of %zu bytes "
		    "over the %zu-byte limit, not sent", d.addr, len, max);
	d.timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms :
	    SPAM_TIMEOUT_DEFAULT;
	hlen = (size_t)snprintf(head, sizeof(head), "SYMBOLS SPAMC/1.5\r\n"
	    "Content-length: %zu\r\n", len);
	if (conf->user != NULL && conf->user[0] != '\0') {
		for (i = 0; conf->user[i] != '\0'; i++)
			if (conf->user[i] < 0x21 || conf->user[i] > 0x7e)
				return dial_why(why, whysize, "spamd user "
				    "name with a blank or non-ASCII byte");
		if (i > SPAM_USER_MAX)
			return dial_why(why, whysize, "spamd user name longer "
			    "than %d bytes", SPAM_USER_MAX);
		hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen,
		    "User: %s\r\n", conf->user);
	}
	hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen, "\r\n");

	if (!dial_connect(&d, SPAM_PORT_DEFAULT, why, whysize))
		return 0;
	perr[0] = '\0';
	if (dial_send(&d, head, hlen, perr, sizeof(perr)) &&
	    dial_send(&d, msg, len, perr, sizeof(perr)))
		shutdown(d.fd, SHUT_WR);	/* as spamc: no more input */
	buf = xmalloc(SPAM_REPLY_MAX);
	r = dial_reply(&d, buf, SPAM_REPLY_MAX, spam_parse, &rep, perr, why,
	    whysize);
	dial_close(&d);
	if (r != 1) {
		free(buf);
		return 0;
	}
	*score = rep.score;
	*threshold = rep.threshold;
	if (why != NULL && whysize > 0)
		dial_printable(rep.symbols != NULL ? rep.symbols : "",
		    rep.symbols_len, why, whysize);
	free(buf);
	return 1;
}
