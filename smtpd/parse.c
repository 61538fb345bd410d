/*
 * parse.c - see parse.h.
 *
 * The grammar is RFC 5321 4.1.2 with the RFC 6531 extension (octets
 * >= 0x80 allowed in local parts and domains, checked for UTF-8 shape
 * only).  The DATA decoder is a small byte automaton so that it gives the
 * same message however the stream is cut.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "smtpd/parse.h"

/* Decimal digits of a BDAT or SIZE number (2^64 has 20). */
#define SMTP_NUMBER_DIGITS	20

/* DATA decoder states. */
enum {
	DS_BOL = 0,	/* at the start of a line */
	DS_DOT,		/* "." at the start of a line (held) */
	DS_DOT_CR,	/* "." CR at the start of a line (held) */
	DS_MID,		/* inside a line */
	DS_CR,		/* CR inside a line (held) */
	DS_END,		/* CRLF "." CRLF seen */
};

static int	smtp_atext(unsigned char);
static int	smtp_utf8_len(const unsigned char *, size_t);
static const char *smtp_local_part(const char *, int *);
static const char *smtp_domain(const char *, int *);
static const char *smtp_addr_literal(const char *);
static int	smtp_number(const char *, size_t, uint64_t *);
static int	smtp_perr(struct smtp_path_args *, enum smtp_perr,
		    const char *);
static const char *smtp_after_prefix(const char *, const char *);
static void	smtp_data_out(struct smtp_data *, char *, size_t *, char);

int
smtp_parse_line(const char *line, size_t len, struct smtp_cmd *r)
{
	size_t i, n;
	const char *p;

	if (len > SMTP_LINE_MAX)
		return err_set(ERR_INVALID, "Line too long");
	if (memchr(line, '\0', len) != NULL)
		return err_set(ERR_INVALID, "NUL byte in command");
	memcpy(r->line, line, len);
	r->line[len] = '\0';
	for (n = 0; n < len && isalpha((unsigned char)line[n]); n++)
		;
	if (n == 0) {
		if (len == 0 || line[0] == ' ')
			return err_set(ERR_INVALID, "Empty command");
		return err_set(ERR_INVALID, "Command unrecognized");
	}
	if (n > SMTP_VERB_MAX || (n < len && line[n] != ' '))
		return err_set(ERR_INVALID, "Command unrecognized");
	for (i = 0; i < n; i++)
		r->verb[i] = (char)toupper((unsigned char)line[i]);
	r->verb[n] = '\0';
	p = r->line + n;
	while (*p == ' ')
		p++;
	r->args = p;
	return 0;
}

/*
 * RFC 5322 atext (octets >= 0x80 are the callers' business).  The NUL
 * that ends the string is not atext: strchr() would find it in the set.
 */
static int
smtp_atext(unsigned char c)
{
	return c != '\0' && (isalnum(c) ||
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of the UTF-8 sequence at p (>= 0x80), 0 when malformed. */
static int
smtp_utf8_len(const unsigned char *p, size_t avail)
{
	int n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if ((size_t)n > avail)
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Dot-string or Quoted-string; returns the end, or NULL. */
static const char *
smtp_local_part(const char *s, int *utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	int n, atom = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\') {
				p++;
				if (*p < 32 || *p > 126)
					return NULL;
			} else if (*p >= 0x80) {
				if ((n = smtp_utf8_len(p, strlen((const char *)
				    p))) == 0)
					return NULL;
				*utf8 = 1;
				p += n - 1;
			} else if (*p < 32 || *p > 126)
				return NULL;
		}
		return (const char *)p + 1;
	}
	for (;;) {
		if (*p >= 0x80) {
			if ((n = smtp_utf8_len(p, strlen((const char *)p))) ==
			    0)
				return NULL;
			*utf8 = 1;
			p += n;
			atom = 1;
		} else if (smtp_atext(*p)) {
			p++;
			atom = 1;
		} else if (*p == '.' && atom) {
			p++;
			atom = 0;
		} else
			break;
	}
	/* Empty, or a dot at the end. */
	if (!atom)
		return NULL;
	return (const char *)p;
}

/* "[IPv4]" or "[IPv6:...]"; s points at '['. */
static const char *
smtp_addr_literal(const char *s)
{
	char buf[64];
	unsigned char a[16];
	const char *close = strchr(s, ']');
	size_t n;

	if (close == NULL || (n = (size_t)(close - s - 1)) >= sizeof(buf) ||
	    n == 0)
		return NULL;
	memcpy(buf, s + 1, n);
	buf[n] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, buf + 5, a) != 1)
			return NULL;
	} else if (inet_pton(AF_INET, buf, a) != 1)
		return NULL;
	return close + 1;
}

/* sub-domain *("." sub-domain) or an address literal; end or NULL. */
static const char *
smtp_domain(const char *s, int *utf8)
{
	const unsigned char *p = (const unsigned char *)s, *start = p;
	size_t label = 0;
	int n;

	if (*p == '[')
		return smtp_addr_literal(s);
	for (;;) {
		if (*p >= 0x80) {
			if ((n = smtp_utf8_len(p, strlen((const char *)p))) ==
			    0)
				return NULL;
			*utf8 = 1;
			p += n;
			label++;
		} else if (isalnum(*p)) {
			p++;
			label++;
		} else if (*p == '-' && label > 0) {
			p++;
			label++;
		} else if (*p == '.' && label > 0 && p[-1] != '-') {
			p++;
			label = 0;
		} else
			break;
	}
	if (label == 0 || p[-1] == '-' ||
	    (size_t)(p - start) > SMTP_DOMAIN_MAX)
		return NULL;
	return (const char *)p;
}

int
smtp_parse_path(const char *s, int allow_null, char *addr_r, size_t size,
    int *utf8_r, const char **end_r)
{
	const char *p, *mb, *at, *e;
	size_t n;
	int utf8 = 0, route_utf8 = 0;

	*utf8_r = 0;
	if (*s != '<')
		return err_set(ERR_INVALID, "the address must be in <>");
	p = s + 1;
	if (*p == '>') {
		if (!allow_null)
			return err_set(ERR_INVALID, "empty address");
		addr_r[0] = '\0';
		*end_r = p + 1;
		return 0;
	}
	/* A source route (A-d-l ":") is allowed and ignored (RFC 5321
	 * 4.1.2, C.1): what it holds says nothing of the address. */
	if (*p == '@') {
		while (*p == '@') {
			if ((e = smtp_domain(p + 1, &route_utf8)) == NULL)
				return err_set(ERR_INVALID, "bad source route");
			p = e;
			if (*p == ',')
				p++;
		}
		if (*p != ':')
			return err_set(ERR_INVALID, "bad source route");
		p++;
	}
	mb = p;
	if ((at = smtp_local_part(p, &utf8)) == NULL || *at != '@')
		return err_set(ERR_INVALID, "bad local part");
	if ((size_t)(at - mb) > SMTP_LOCAL_MAX)
		return err_set(ERR_INVALID, "local part longer than %d octets",
		    SMTP_LOCAL_MAX);
	if ((e = smtp_domain(at + 1, &utf8)) == NULL)
		return err_set(ERR_INVALID, "bad domain");
	if (*e != '>')
		return err_set(ERR_INVALID, "the address must end with >");
	n = (size_t)(e - mb);
	if (n > SMTP_PATH_MAX || n >= size)
		return err_set(ERR_INVALID, "address longer than %d octets",
		    SMTP_PATH_MAX);
	memcpy(addr_r, mb, n);
	addr_r[n] = '\0';
	*utf8_r = utf8;
	*end_r = e + 1;
	return 0;
}

int
smtp_fqdn(const char *s, size_t len)
{
	int utf8 = 0;

	if (len == 0 || smtp_domain(s, &utf8) != s + len)
		return 0;
	return s[0] == '[' || memchr(s, '.', len) != NULL;
}

/*
 * After smtp_parse_path() failed on s: 1 when the local part is fine and
 * only the domain is wrong or missing ("<user>", "<user@bad..test>"),
 * with what the brackets hold (printable, no space) in addr_r.
 */
static int
smtp_path_bad_domain(const char *s, char *addr_r, size_t size)
{
	const char *mb = s + 1, *at, *p;
	int utf8 = 0;

	if (*s != '<' || *mb == '@' || (at = smtp_local_part(mb, &utf8)) ==
	    NULL || (*at != '>' && *at != '@'))
		return 0;
	/* a good domain: the path failed for another reason (length) */
	if (*at == '@' && (p = smtp_domain(at + 1, &utf8)) != NULL &&
	    *p == '>')
		return 0;
	for (p = *at == '@' ? at + 1 : at; *p != '>'; p++)
		if (*p <= ' ' || *p >= 127 || *p == '<' || *p == '@')
			return 0;
	if ((size_t)(p - mb) >= size || (size_t)(p - mb) > SMTP_PATH_MAX)
		return 0;
	memcpy(addr_r, mb, (size_t)(p - mb));
	addr_r[p - mb] = '\0';
	return 1;
}

static int
smtp_number(const char *s, size_t len, uint64_t *r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > SMTP_NUMBER_DIGITS)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*r = v;
	return 0;
}

static int
smtp_perr(struct smtp_path_args *r, enum smtp_perr perr, const char *msg)
{
	r->perr = perr;
	return err_set(ERR_INVALID, "%s", msg);
}

/*
 * The next "keyword[=value]" after a path (RFC 5321 4.1.2 esmtp-param):
 * *kw_r, its length, *eq_r the '=' or NULL, *vlen_r the value's length.
 * 1 one read (*pp moves past it), 0 none left, -1 not separated by a
 * space.
 */
static int
smtp_next_param(const char **pp, const char **kw_r, size_t *kwlen_r,
    const char **eq_r, size_t *vlen_r)
{
	const char *p = *pp, *end, *eq;

	if (*p == '\0')
		return 0;
	if (*p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	*pp = p;
	if (*p == '\0')
		return 0;
	end = p + strcspn(p, " ");
	eq = memchr(p, '=', (size_t)(end - p));
	*kw_r = p;
	*kwlen_r = (size_t)((eq != NULL ? eq : end) - p);
	*eq_r = eq;
	*vlen_r = eq != NULL ? (size_t)(end - eq - 1) : 0;
	*pp = end;
	return 1;
}

/* s after "FROM:" / "TO:" (any case) and spaces, or NULL. */
static const char *
smtp_after_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncasecmp(s, prefix, n) != 0)
		return NULL;
	s += n;
	while (*s == ' ')
		s++;
	return s;
}

const char *
smtp_perr_reply(enum smtp_perr perr, int rcpt)
{
	if (perr == SMTP_PERR_PATH || perr == SMTP_PERR_DOMAIN)
		return rcpt ? "501 5.1.3" : "501 5.1.7";
	return perr == SMTP_PERR_PARAM ? "555 5.5.4" : "501 5.5.4";
}

int
smtp_parse_mail(const char *args, struct smtp_path_args *r)
{
	char msg[128];
	const char *p, *kw, *eq;
	size_t kwlen, vlen, i;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((p = smtp_after_prefix(args, "FROM:")) == NULL)
		return smtp_perr(r, SMTP_PERR_SYNTAX, "Syntax: MAIL "
		    "FROM:<address>");
	if (smtp_parse_path(p, 1, r->addr, sizeof(r->addr), &r->utf8,
	    &p) == -1) {
		snprintf(msg, sizeof(msg), "Bad sender address syntax (%s)",
		    err_msg());
		if (smtp_path_bad_domain(p, r->addr, sizeof(r->addr)))
			return smtp_perr(r, SMTP_PERR_DOMAIN, msg);
		r->addr[0] = '\0';
		return smtp_perr(r, SMTP_PERR_PATH, msg);
	}
	while ((rc = smtp_next_param(&p, &kw, &kwlen, &eq, &vlen)) == 1) {
		for (i = 0; i < kwlen; i++)
			if (!isalnum((unsigned char)kw[i]) &&
			    (i == 0 || kw[i] != '-'))
				break;
		if (kwlen == 0 || i < kwlen || (eq != NULL && vlen == 0))
			return smtp_perr(r, SMTP_PERR_PARAM, "Bad parameter "
			    "syntax");
		if (kwlen == 4 && strncasecmp(kw, "SIZE", 4) == 0) {
			if (r->has_size || eq == NULL ||
			    smtp_number(eq + 1, vlen, &r->size) == -1)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad SIZE "
				    "parameter");
			r->has_size = 1;
		} else if (kwlen == 4 && strncasecmp(kw, "BODY", 4) == 0) {
			if (r->body != SMTP_BODY_NONE || eq == NULL)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad BODY "
				    "parameter");
			if (vlen == 4 && strncasecmp(eq + 1, "7BIT", 4) == 0)
				r->body = SMTP_BODY_7BIT;
			else if (vlen == 8 && strncasecmp(eq + 1, "8BITMIME",
			    8) == 0)
				r->body = SMTP_BODY_8BITMIME;
			else
				return smtp_perr(r, SMTP_PERR_PARAM, "Unsupported "
				    "BODY type (7BIT or 8BITMIME)");
		} else if (kwlen == 8 && strncasecmp(kw, "SMTPUTF8", 8) == 0) {
			if (r->smtputf8 || eq != NULL)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad "
				    "SMTPUTF8 parameter");
			r->smtputf8 = 1;
		} else if (kwlen == 4 && strncasecmp(kw, "AUTH", 4) == 0) {
			if (r->auth[0] != '\0' || eq == NULL ||
			    vlen > SMTP_AUTHPARAM_MAX)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad AUTH "
				    "parameter");
			memcpy(r->auth, eq + 1, vlen);
			r->auth[vlen] = '\0';
		} else if (kwlen == 3 && strncasecmp(kw, "RET", 3) == 0) {
			if (r->ret != SMTP_RET_NONE || eq == NULL)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad RET "
				    "parameter");
			if (vlen == 4 && strncasecmp(eq + 1, "FULL", 4) == 0)
				r->ret = SMTP_RET_FULL;
			else if (vlen == 4 && strncasecmp(eq + 1, "HDRS",
			    4) == 0)
				r->ret = SMTP_RET_HDRS;
			else
				return smtp_perr(r, SMTP_PERR_VALUE, "Bad RET "
				    "value (FULL or HDRS)");
			r->dsn = 1;
		} else if (kwlen == 5 && strncasecmp(kw, "ENVID", 5) == 0) {
			if (r->envid[0] != '\0' || eq == NULL)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad ENVID "
				    "parameter");
			if (vlen > SMTP_ENVID_MAX ||
			    !smtp_xtext_valid(eq + 1, vlen))
				return smtp_perr(r, SMTP_PERR_VALUE, "Bad ENVID "
				    "value (xtext, at most 100 characters)");
			memcpy(r->envid, eq + 1, vlen);
			r->envid[vlen] = '\0';
			r->dsn = 1;
		} else {
			snprintf(msg, sizeof(msg), "Unsupported parameter "
			    "%.*s", (int)(kwlen > 32 ? 32 : kwlen), kw);
			return smtp_perr(r, SMTP_PERR_PARAM, msg);
		}
	}
	if (rc == -1)
		return smtp_perr(r, SMTP_PERR_SYNTAX, "Syntax: MAIL "
		    "FROM:<address> [parameters]");
	return 0;
}

int
smtp_xtext_valid(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			if (i + 2 >= len)
				return 0;
			if (!isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return 0;
			i += 2;
		} else if (s[i] < '!' || s[i] > '~' || s[i] == '=')
			return 0;
	}
	return 1;
}

/* NOTIFY= value: NEVER, or SUCCESS/FAILURE/DELAY each at most once. */
static int
smtp_notify(const char *v, size_t len, uint8_t *r)
{
	static const struct {
		const char	*name;
		uint8_t		 bit;
	} kw[] = {
		{ "NEVER", SMTP_NOTIFY_NEVER },
		{ "SUCCESS", SMTP_NOTIFY_SUCCESS },
		{ "FAILURE", SMTP_NOTIFY_FAILURE },
		{ "DELAY", SMTP_NOTIFY_DELAY },
	};
	const char *end = v + len, *comma;
	size_t n, i;
	uint8_t bits = 0;

	while (v <= end) {
		comma = memchr(v, ',', (size_t)(end - v));
		n = (size_t)((comma != NULL ? comma : end) - v);
		for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
			if (strlen(kw[i].name) == n &&
			    strncasecmp(v, kw[i].name, n) == 0)
				break;
		if (i == sizeof(kw) / sizeof(kw[0]) || (bits & kw[i].bit))
			return -1;
		bits |= kw[i].bit;
		if (comma == NULL)
			break;
		v = comma + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return -1;
	*r = bits;
	return 0;
}

/* ORCPT= value: addr-type (an atom) ";" xtext. */
static int
smtp_orcpt_valid(const char *v, size_t len)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	const char *semi = memchr(v, ';', len);
	size_t i;

	if (semi == NULL || semi == v || len > SMTP_ORCPT_MAX)
		return 0;
	for (i = 0; v + i < semi; i++)
		if (!isalnum((unsigned char)v[i]) &&
		    strchr(atext, v[i]) == NULL)
			return 0;
	return semi + 1 < v + len &&
	    smtp_xtext_valid(semi + 1, (size_t)(v + len - semi - 1));
}

int
smtp_parse_rcpt(const char *args, struct smtp_path_args *r)
{
	char msg[128];
	const char *p, *kw, *eq;
	size_t kwlen, vlen;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((p = smtp_after_prefix(args, "TO:")) == NULL)
		return smtp_perr(r, SMTP_PERR_SYNTAX, "Syntax: RCPT "
		    "TO:<address>");
	if (strncasecmp(p, "<postmaster>", 12) == 0) {
		snprintf(r->addr, sizeof(r->addr), "postmaster");
		r->postmaster = 1;
		p += 12;
	} else if (smtp_parse_path(p, 0, r->addr, sizeof(r->addr), &r->utf8,
	    &p) == -1) {
		snprintf(msg, sizeof(msg), "Bad recipient address syntax (%s)",
		    err_msg());
		return smtp_perr(r, SMTP_PERR_PATH, msg);
	}
	while ((rc = smtp_next_param(&p, &kw, &kwlen, &eq, &vlen)) == 1) {
		if (kwlen == 6 && strncasecmp(kw, "NOTIFY", 6) == 0) {
			if (r->notify != 0 || eq == NULL)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad "
				    "NOTIFY parameter");
			if (smtp_notify(eq + 1, vlen, &r->notify) == -1)
				return smtp_perr(r, SMTP_PERR_VALUE, "Bad NOTIFY "
				    "value (NEVER, or SUCCESS, FAILURE, DELAY)");
			r->dsn = 1;
		} else if (kwlen == 5 && strncasecmp(kw, "ORCPT", 5) == 0) {
			if (r->orcpt[0] != '\0' || eq == NULL)
				return smtp_perr(r, SMTP_PERR_PARAM, "Bad ORCPT "
				    "parameter");
			if (!smtp_orcpt_valid(eq + 1, vlen))
				return smtp_perr(r, SMTP_PERR_VALUE, "Bad ORCPT "
				    "value (type;xtext, at most 500 "
				    "characters)");
			memcpy(r->orcpt, eq + 1, vlen);
			r->orcpt[vlen] = '\0';
			r->dsn = 1;
		} else {
			snprintf(msg, sizeof(msg), "Unsupported parameter "
			    "%.*s", (int)(kwlen == 0 ? 1 : kwlen > 32 ? 32 :
			    kwlen), kw);
			return smtp_perr(r, SMTP_PERR_PARAM, msg);
		}
	}
	if (rc == -1)
		return smtp_perr(r, SMTP_PERR_SYNTAX, "Syntax: RCPT "
		    "TO:<address> [parameters]");
	return 0;
}

int
smtp_parse_bdat(const char *args, uint64_t *n_r, int *last_r)
{
	size_t n = strcspn(args, " ");
	const char *p = args + n;

	if (smtp_number(args, n, n_r) == -1)
		return err_set(ERR_INVALID, "Syntax: BDAT size [LAST]");
	while (*p == ' ')
		p++;
	*last_r = 0;
	if (*p == '\0')
		return 0;
	if (strncasecmp(p, "LAST", 4) != 0)
		return err_set(ERR_INVALID, "Syntax: BDAT size [LAST]");
	for (p += 4; *p == ' '; p++)
		;
	if (*p != '\0')
		return err_set(ERR_INVALID, "Syntax: BDAT size [LAST]");
	*last_r = 1;
	return 0;
}

/* DATA stream -------------------------------------------------------- */

void
smtp_data_init(struct smtp_data *d, uint64_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
	d->state = DS_BOL;
}

/* One message byte: counted always, written while under the limit. */
static void
smtp_data_out(struct smtp_data *d, char *out, size_t *o, char c)
{
	d->size++;
	if (d->size > d->max)
		d->toobig = 1;
	if (!d->toobig)
		out[(*o)++] = c;
}

/* Bytes at p before the first CR or LF (the whole of len if none). */
static size_t
smtp_data_run(const char *p, size_t len)
{
	const char *cr, *lf;
	size_t n;

	cr = memchr(p, '\r', len);
	n = cr != NULL ? (size_t)(cr - p) : len;
	lf = memchr(p, '\n', n);
	return lf != NULL ? (size_t)(lf - p) : n;
}

int
smtp_data_feed(struct smtp_data *d, const char *in, size_t len, char *out,
    size_t *outlen_r, size_t *used_r)
{
	size_t i, n, w, o = 0;
	char c;

	for (i = 0; i < len && d->state != DS_END; i++) {
		c = in[i];
		/*
		 * Line text up to the next CR or LF, all at once (most of a
		 * message): what the byte steps below would do for each.
		 */
		if ((d->state == DS_MID || (d->state == DS_BOL && c != '.')) &&
		    c != '\r' && c != '\n') {
			n = smtp_data_run(in + i, len - i);
			d->linelen += n;
			if (d->linelen > SMTP_DATA_LINE_MAX + 1)
				d->toolong = 1;
			/* Written up to max, as the byte steps would. */
			w = d->toobig || d->size >= d->max ? 0 :
			    d->max - d->size < n ? (size_t)(d->max - d->size) :
			    n;
			memcpy(out + o, in + i, w);
			o += w;
			d->size += n;
			if (d->size > d->max)
				d->toobig = 1;
			d->state = DS_MID;
			i += n - 1;
			continue;
		}
		/*
		 * Line length as the old line reader saw it: every byte up
		 * to the CRLF (the CR is taken back when the LF comes).
		 */
		if (c == '\n' && (d->state == DS_CR || d->state ==
		    DS_DOT_CR)) {
			if (d->linelen - 1 > SMTP_DATA_LINE_MAX)
				d->toolong = 1;
			d->linelen = 0;
		} else if (++d->linelen > SMTP_DATA_LINE_MAX + 1)
			d->toolong = 1;
		switch (d->state) {
		case DS_BOL:
			if (c == '.') {
				d->state = DS_DOT;
				continue;
			}
			break;
		case DS_DOT:
			if (c == '\r') {
				d->state = DS_DOT_CR;
				continue;
			}
			/* A stuffed dot: dropped; c is line text. */
			d->state = DS_MID;
			break;
		case DS_DOT_CR:
			if (c == '\n') {
				d->state = DS_END;
				continue;
			}
			/* "." CR x: the dot was stuffing, the CR is bare. */
			d->bare_cr = 1;
			smtp_data_out(d, out, &o, '\r');
			d->state = DS_MID;
			break;
		case DS_CR:
			if (c == '\n') {
				smtp_data_out(d, out, &o, '\r');
				smtp_data_out(d, out, &o, '\n');
				d->state = DS_BOL;
				continue;
			}
			d->bare_cr = 1;
			smtp_data_out(d, out, &o, '\r');
			d->state = DS_MID;
			break;
		default:
			break;
		}
		/* c as line text. */
		if (c == '\r') {
			d->state = DS_CR;
			continue;
		}
		if (c == '\n')
			d->bare_lf = 1;
		smtp_data_out(d, out, &o, c);
		d->state = DS_MID;
	}
	*outlen_r = o;
	*used_r = i;
	if (d->state == DS_END) {
		d->done = 1;
		return 1;
	}
	return 0;
}

unsigned
smtp_count_received(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len, *nl;
	unsigned n = 0;

	while (p < end) {
		/* The empty line ends the header. */
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;
		if ((size_t)(end - p) >= 9 && strncasecmp(p, "Received:", 9) ==
		    0)
			n++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		p = nl + 1;
	}
	return n;
}
