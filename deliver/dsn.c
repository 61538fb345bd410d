/*
 * dsn.c - see dsn.h.
 *
 * The three parts are built first, each in its own buffer, so the
 * boundary can be chosen to occur in none of them.  Every value that came
 * from outside (addresses, ENVID, ORCPT, a remote's reply) goes through
 * one sanitiser before it is written: no CR, LF, NUL or other control
 * byte reaches a header field or the text part, and 8-bit bytes are
 * replaced where the part is 7-bit.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "dsn.h"
#include "mail/mime.h"

#define DSN_FOLD	76	/* fold header fields past this column */
#define DSN_LINE_MAX	900	/* hard break (RFC 5322: 998) */

struct dbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static void	dbuf_add(struct dbuf *, const void *, size_t);
static void	dbuf_puts(struct dbuf *, const char *);
static void	dbuf_printf(struct dbuf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
dbuf_add(struct dbuf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		while (b->len + len + 1 > b->cap)
			b->cap = b->cap == 0 ? 4096 : b->cap * 2;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void
dbuf_puts(struct dbuf *b, const char *s)
{
	dbuf_add(b, s, strlen(s));
}

static void
dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();	/* out of memory, as the x* wrappers */
	dbuf_add(b, s, (size_t)n);
	free(s);
}

/*
 * Copies src into a malloc'd string fit for a 7-bit header field or text
 * line: runs of CR/LF/TAB become one space, other control bytes and DEL
 * '?', 8-bit bytes '?' unless keep8; at most max bytes; trailing spaces
 * trimmed.
 */
static char *
clean(const char *src, size_t max, int keep8)
{
	size_t i, n = 0, len = src != NULL ? strlen(src) : 0;
	char *out = xmalloc((len < max ? len : max) + 1);
	unsigned char c;

	for (i = 0; i < len && n < max; i++) {
		c = (unsigned char)src[i];
		if (c == '\r' || c == '\n' || c == '\t') {
			if (n > 0 && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep8))
			c = '?';
		out[n++] = (char)c;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return out;
}

/*
 * "Name: value" folded at spaces past DSN_FOLD columns; a run without
 * space longer than DSN_LINE_MAX is broken there (a folded header field
 * must never exceed RFC 5322's 998 octets).  value is clean already.
 */
static void
field(struct dbuf *b, const char *name, const char *value)
{
	size_t col, len = strlen(value), i, brk;

	dbuf_printf(b, "%s: ", name);
	col = strlen(name) + 2;
	while (len > 0) {
		if (col + len <= DSN_FOLD) {
			dbuf_add(b, value, len);
			break;
		}
		/* the last space within the fold column, else the first */
		brk = 0;
		for (i = 1; i < len && (col + i <= DSN_FOLD || brk == 0); i++) {
			if (value[i] == ' ')
				brk = i;
			if (col + i >= DSN_LINE_MAX)
				break;
		}
		if (brk == 0)
			brk = i < len ? i : len;
		dbuf_add(b, value, brk);
		value += brk;
		len -= brk;
		while (len > 0 && *value == ' ') {
			value++;
			len--;
		}
		if (len > 0) {
			dbuf_puts(b, "\r\n ");
			col = 1;
		}
	}
	dbuf_puts(b, "\r\n");
}

static void
fieldf(struct dbuf *b, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fieldf(struct dbuf *b, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *s, *c;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	c = clean(s, 2 * DSN_DIAG_MAX, 0);
	field(b, name, c);
	free(c);
	free(s);
}

/* RFC 5322 date-time in UTC, locale-independent. */
static void
rfc5322_date(int64_t t, char *buf, size_t size)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Whether s starts with an enhanced status code "c.sss.ddd" (c 2,4,5). */
static size_t
status_len(const char *s)
{
	size_t i = 1, n;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	if (s[i++] != '.')
		return 0;
	for (n = 0; isdigit((unsigned char)s[i]); i++)
		n++;
	if (n < 1 || n > 3 || s[i++] != '.')
		return 0;
	for (n = 0; isdigit((unsigned char)s[i]); i++)
		n++;
	if (n < 1 || n > 3)
		return 0;
	return i;
}

/* The basic reply code at the start of reply, or 0. */
static int
reply_code(const char *reply)
{
	if (reply == NULL || !isdigit((unsigned char)reply[0]) ||
	    !isdigit((unsigned char)reply[1]) ||
	    !isdigit((unsigned char)reply[2]) ||
	    (reply[3] != '\0' && reply[3] != ' ' && reply[3] != '-'))
		return 0;
	return (reply[0] - '0') * 100 + (reply[1] - '0') * 10 +
	    (reply[2] - '0');
}

/*
 * The Status of a recipient into buf: the given one, the reply's
 * enhanced code, or one from its basic code or the action; its class
 * made to agree with the action (a failure after temporary errors is
 * 5.x.x, RFC 3464 2.3.4).
 */
static void
rcpt_status(const struct dsn_rcpt *r, char *buf, size_t size)
{
	const char *s = NULL;
	size_t n;
	int code;

	if (r->status != NULL && (n = status_len(r->status)) > 0 &&
	    r->status[n] == '\0')
		s = r->status;
	else if ((code = reply_code(r->reply)) != 0 && r->reply[3] != '\0' &&
	    (n = status_len(r->reply + 4)) > 0 &&
	    (r->reply[4 + n] == '\0' || r->reply[4 + n] == ' '))
		snprintf(buf, size, "%.*s", (int)n, r->reply + 4);
	else if ((code = reply_code(r->reply)) >= 400)
		snprintf(buf, size, "%c.0.0", code >= 500 ? '5' : '4');
	else
		snprintf(buf, size, "%c.0.0", r->action == DSN_FAILED ? '5' :
		    r->action == DSN_DELAYED ? '4' : '2');
	if (s != NULL)
		snprintf(buf, size, "%s", s);
	switch (r->action) {
	case DSN_FAILED:
		buf[0] = '5';
		break;
	case DSN_DELAYED:
		buf[0] = '4';
		break;
	default:
		buf[0] = '2';
		break;
	}
}

static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strcasestr(hay, needle) != NULL;
}

/* Plain words for the status codes (RFC 3463, 5248, 7505) by detail. */
static const struct {
	const char	*detail;	/* ".1.1": the code without its class */
	const char	*words;
} dsn_words[] = {
	{ ".1.1", "The recipient's address does not exist there (unknown "
	    "user)." },
	{ ".1.0", "The recipient's address does not exist there (unknown "
	    "user)." },
	{ ".1.6", "The recipient's address does not exist there any more "
	    "(the mailbox has moved)." },
	{ ".1.2", "The recipient's domain does not exist or has no mail "
	    "server." },
	{ ".4.4", "The recipient's domain does not exist or has no mail "
	    "server." },
	{ ".1.10", "The recipient's domain does not accept mail at all (it "
	    "publishes a \"null MX\" record)." },
	{ ".2.1", "The recipient's mailbox is disabled and does not accept "
	    "mail." },
	{ ".2.2", "The recipient's mailbox is full." },
	{ ".2.3", "The message is larger than the recipient's server "
	    "accepts." },
	{ ".3.4", "The message is larger than the recipient's server "
	    "accepts." },
	{ ".4.6", "The message was in a mail loop (forwarded around too many "
	    "times)." },
	{ ".4.7", "The message could not be delivered in the time allowed; "
	    "the last attempt is shown below." },
	{ ".7.10", "Encryption (TLS) is required for this destination, but "
	    "the receiving server did not offer it." },
	{ ".7.11", "Encryption (TLS) is required for this destination, but "
	    "the receiving server did not offer it." },
	{ ".7.23", "The recipient's server refused the message because it "
	    "failed sender authentication checks (SPF, DKIM or DMARC)." },
	{ ".7.25", "The recipient's server refused the message because it "
	    "failed sender authentication checks (SPF, DKIM or DMARC)." },
	{ ".7.26", "The recipient's server refused the message because it "
	    "failed sender authentication checks (SPF, DKIM or DMARC)." },
	{ ".7.27", "The recipient's server refused the message because it "
	    "failed sender authentication checks (SPF, DKIM or DMARC)." },
};

/* Plain words for words servers use, when the code says little. */
static const struct {
	const char	*key;
	const char	*words;
} dsn_keys[] = {
	{ "null MX", ".1.10" },
	{ "TLS is required", ".7.10" },
	{ "did not offer STARTTLS", ".7.10" },
	{ "Host not found", ".1.2" },
	{ "NXDOMAIN", ".1.2" },
	{ "no mail server", ".1.2" },
	{ "user unknown", ".1.1" },
	{ "unknown user", ".1.1" },
	{ "no such user", ".1.1" },
	{ "mailbox full", ".2.2" },
	{ "over quota", ".2.2" },
	{ "too big", ".3.4" },
	{ "too large", ".3.4" },
};

static const char *
dsn_words_for(const char *detail)
{
	size_t i;

	for (i = 0; i < sizeof(dsn_words) / sizeof(dsn_words[0]); i++)
		if (strcmp(dsn_words[i].detail, detail) == 0)
			return dsn_words[i].words;
	return NULL;
}

const char *
dsn_explain(const char *status, const char *reply)
{
	const char *s = status != NULL ? status : "";
	const char *d = s[0] != '\0' ? s + 1 : s;	/* ".1.1" */
	const char *w;
	size_t i;

	if (s[0] == '2')
		return "The message was delivered.";
	/* the code first: it is the most precise when a server sends one */
	if ((w = dsn_words_for(d)) != NULL)
		return w;
	for (i = 0; i < sizeof(dsn_keys) / sizeof(dsn_keys[0]); i++)
		if (has(reply, dsn_keys[i].key))
			return dsn_words_for(dsn_keys[i].words);
	if (has(reply, "spam") || has(reply, "blocked") ||
	    has(reply, "blacklist") || has(reply, "blocklist"))
		return "The recipient's server refused the message as spam or "
		    "because of the sender's reputation.";
	if (strncmp(d, ".7.", 3) == 0)
		return "The recipient's server refused the message for policy "
		    "reasons.";
	if (strncmp(d, ".4.", 3) == 0 || has(reply, "connect") ||
	    has(reply, "timed out") || has(reply, "unreachable"))
		return "The recipient's mail server could not be reached.";
	if (s[0] == '4')
		return "The recipient's server reported a temporary problem.";
	return "The recipient's server refused the message.";
}

enum dsn_action
dsn_kind(const struct dsn_rcpt *rcpts, size_t n)
{
	size_t i;
	int delayed = 0;

	for (i = 0; i < n; i++) {
		if (rcpts[i].action == DSN_FAILED)
			return DSN_FAILED;
		if (rcpts[i].action == DSN_DELAYED)
			delayed = 1;
	}
	return delayed ? DSN_DELAYED : DSN_DELIVERED;
}

static const char *
action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_DELIVERED:
		return "delivered";
	case DSN_RELAYED:
		return "relayed";
	}
	return "failed";
}

/* Decodes xtext (RFC 3461 4): "+HH" -> byte.  Malformed stays as is. */
static char *
xtext_decode(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	unsigned v;

	while (*s != '\0') {
		if (s[0] == '+' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2]) &&
		    sscanf(s + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			s += 3;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

/* Whether any byte of [p, p+len) has the high bit set. */
static int
has_8bit(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * Appends data with every line end made CRLF (bare CR or LF too).  With
 * fold (a header block), a line longer than DSN_LINE_MAX goes on in a
 * continuation line ("CRLF SP"), so no line passes RFC 5322's 998.
 */
static void
add_crlf(struct dbuf *b, const char *data, size_t len, int fold)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (fold && i - start >= DSN_LINE_MAX) {
			dbuf_add(b, data + start, i - start);
			dbuf_puts(b, "\r\n ");
			start = i;
		}
		if (data[i] != '\r' && data[i] != '\n')
			continue;
		dbuf_add(b, data + start, i - start);
		dbuf_puts(b, "\r\n");
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	dbuf_add(b, data + start, len - start);
	if (len > 0 && data[len - 1] != '\n' && data[len - 1] != '\r')
		dbuf_puts(b, "\r\n");
}

/* The longest line of data, without its line end (CR, LF or CRLF). */
static size_t
longest_line(const char *data, size_t len)
{
	size_t i, start = 0, max = 0;

	for (i = 0; i < len; i++)
		if (data[i] == '\r' || data[i] == '\n') {
			if (i - start > max)
				max = i - start;
			start = i + 1;
		}
	return len - start > max ? len - start : max;
}

/*
 * The reply quoted line by line as the remote sent it, indented; a line
 * longer than 72 columns wrapped at a space.
 */
static void
quote(struct dbuf *b, const char *reply)
{
	const char *line = reply, *nl;
	char *c, *p;
	size_t left, k, j;

	while (*line != '\0') {
		nl = line + strcspn(line, "\r\n");
		p = c = xstrndup(line, (size_t)(nl - line));
		line = nl + strspn(nl, "\r\n");
		c = clean(p, DSN_DIAG_MAX, 0);
		free(p);
		p = c;
		left = strlen(p);
		while (left > 0) {
			k = left > 72 ? 72 : left;
			if (k < left) {
				for (j = k; j > 20 && p[j] != ' '; j--)
					;
				if (j > 20)
					k = j;
			}
			dbuf_printf(b, "    %.*s\r\n", (int)k, p);
			p += k;
			left -= k;
			while (left > 0 && *p == ' ') {
				p++;
				left--;
			}
		}
		free(c);
	}
}

static void
duration(int64_t secs, char *buf, size_t size)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 2 * 86400)
		snprintf(buf, size, "%" PRId64 " days", secs / 86400);
	else if (secs >= 2 * 3600)
		snprintf(buf, size, "%" PRId64 " hours", secs / 3600);
	else
		snprintf(buf, size, "%" PRId64 " minutes", secs / 60);
}

/* The human-readable part. */
static void
text_part(struct dbuf *b, const struct dsn_input *in, enum dsn_action kind,
    int headers_only, int cut, int eight)
{
	char date[64], st[32], dur[32];
	size_t i, n = in->nrcpts < DSN_RCPTS_MAX ? in->nrcpts : DSN_RCPTS_MAX;
	char *host = clean(in->hostname, 255, 0);

	dbuf_puts(b, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n");
	dbuf_printf(b, "This is the mail system at host %s.\r\n\r\n", host);
	switch (kind) {
	case DSN_FAILED:
		dbuf_puts(b, "I'm sorry to have to inform you that your message "
		    "could not be delivered\r\nto one or more recipients. "
		    "The reasons are below.\r\n");
		break;
	case DSN_DELAYED:
		duration(in->now - in->arrival, dur, sizeof(dur));
		dbuf_printf(b, "This is a warning only: you do not need to send "
		    "your message again.\r\n\r\nYour message could not be "
		    "delivered to one or more recipients for %s.\r\nThe mail "
		    "system keeps trying.\r\n", in->arrival > 0 ? dur :
		    "a while");
		break;
	default:
		dbuf_puts(b, "Your message was delivered to the destinations "
		    "listed below, as you asked.\r\n");
		break;
	}
	dbuf_puts(b, "\r\n");
	for (i = 0; i < n; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];
		char *addr = clean(r->addr, 320, 0);
		char *reply = clean(r->reply, DSN_DIAG_MAX, 0);
		char *mta = clean(r->remote_mta, 255, 0);

		rcpt_status(r, st, sizeof(st));
		dbuf_printf(b, "<%s>: ", addr);
		switch (r->action) {
		case DSN_FAILED:
			dbuf_printf(b, "%s\r\n", dsn_explain(st, r->reply));
			if ((st[2] == '4' && st[1] == '.') && in->arrival > 0 &&
			    r->last_attempt > in->arrival) {
				duration(r->last_attempt - in->arrival, dur,
				    sizeof(dur));
				dbuf_printf(b, "    The mail system gave up after "
				    "trying for %s.\r\n", dur);
			}
			break;
		case DSN_DELAYED:
			dbuf_printf(b, "%s\r\n", dsn_explain(st, r->reply));
			if (r->retry_until > 0) {
				rfc5322_date(r->retry_until, date,
				    sizeof(date));
				dbuf_printf(b, "    It will be retried until "
				    "%s, then returned.\r\n", date);
			}
			break;
		case DSN_DELIVERED:
			dbuf_puts(b, "delivered to the mailbox.\r\n");
			break;
		case DSN_RELAYED:
			dbuf_printf(b, "handed to %s, a server that does not "
			    "send delivery notices;\r\n    no further report "
			    "will come from there.\r\n", mta[0] != '\0' ? mta :
			    "the next mail server");
			break;
		}
		if (reply[0] != '\0') {
			if (mta[0] != '\0')
				dbuf_printf(b, "    The mail server %s said:\r\n",
				    mta);
			else
				dbuf_puts(b, "    The reason given:\r\n");
			quote(b, r->reply);
		}
		dbuf_puts(b, "\r\n");
		free(addr);
		free(reply);
		free(mta);
	}
	if (in->nrcpts > n)
		dbuf_printf(b, "... and %zu more recipients (not listed).\r\n\r\n",
		    in->nrcpts - n);
	if (in->msglen > 0) {
		if (cut == 1)
			dbuf_printf(b, "The message was larger than %d bytes: "
			    "only its header is returned below.\r\n",
			    DSN_RETURN_MAX);
		else if (cut == 2)
			dbuf_puts(b, "The message has lines longer than mail "
			    "allows (998 characters):\r\nonly its header is "
			    "returned below.\r\n");
		else if (headers_only)
			dbuf_puts(b, "The header of your message is returned "
			    "below.\r\n");
		else
			dbuf_puts(b, "Your message is returned below.\r\n");
		if (eight)
			dbuf_puts(b, "It contains 8-bit or UTF-8 data and is "
			    "returned as it came.\r\n");
	}
	free(host);
}

/* The machine-readable part (RFC 3464). */
static void
status_part(struct dbuf *b, const struct dsn_input *in)
{
	char date[64], st[32];
	size_t i, n = in->nrcpts < DSN_RCPTS_MAX ? in->nrcpts : DSN_RCPTS_MAX;
	char *host = clean(in->hostname, 255, 0), *s, *d;

	dbuf_puts(b, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");
	fieldf(b, "Reporting-MTA", "dns; %s", host);
	if (in->envid != NULL && in->envid[0] != '\0') {
		s = clean(in->envid, 100, 0);
		field(b, "Original-Envelope-Id", s);
		free(s);
	}
	if (in->queue_id != 0)
		fieldf(b, "X-Vellum-Queue-ID", "%016" PRIX64, in->queue_id);
	if (in->arrival > 0) {
		rfc5322_date(in->arrival, date, sizeof(date));
		field(b, "Arrival-Date", date);
	}
	for (i = 0; i < n; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];

		dbuf_puts(b, "\r\n");
		if (r->orcpt != NULL && r->orcpt[0] != '\0' &&
		    strchr(r->orcpt, ';') != NULL) {
			/* address-type ";" xtext, decoded when it stays clean */
			d = xtext_decode(r->orcpt);
			s = clean(d, 600, 0);
			if (strcmp(s, d) != 0) {
				free(s);
				s = clean(r->orcpt, 600, 0);
			}
			field(b, "Original-Recipient", s);
			free(s);
			free(d);
		}
		s = clean(r->addr, 320, 0);
		fieldf(b, "Final-Recipient", "rfc822; %s", s);
		free(s);
		field(b, "Action", action_name(r->action));
		rcpt_status(r, st, sizeof(st));
		field(b, "Status", st);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			s = clean(r->remote_mta, 255, 0);
			fieldf(b, "Remote-MTA", "dns; %s", s);
			free(s);
		}
		if (r->reply != NULL && r->reply[0] != '\0') {
			s = clean(r->reply, DSN_DIAG_MAX, 0);
			fieldf(b, "Diagnostic-Code", "%s; %s",
			    reply_code(r->reply) != 0 ? "smtp" : "X-Vellum", s);
			free(s);
		}
		if (r->last_attempt > 0) {
			rfc5322_date(r->last_attempt, date, sizeof(date));
			field(b, "Last-Attempt-Date", date);
		}
		if (r->action == DSN_DELAYED && r->retry_until > 0) {
			rfc5322_date(r->retry_until, date, sizeof(date));
			field(b, "Will-Retry-Until", date);
		}
	}
	free(host);
}

int
dsn_compose(const struct dsn_input *in, char **msg_r, size_t *len_r)
{
	struct dbuf text = { 0 }, status = { 0 }, orig = { 0 }, out = { 0 };
	enum dsn_action kind;
	char date[64], boundary[80], *host, *to, *from;
	const char *subject;
	size_t hdrlen = 0;
	int headers_only, cut = 0, eight = 0, tries;
	struct tm tm;
	time_t now;

	*msg_r = NULL;
	*len_r = 0;
	if (in->nrcpts == 0 || in->rcpts == NULL)
		return err_set(ERR_INVALID, "DSN: no recipient");
	if (in->hostname == NULL || in->hostname[0] == '\0')
		return err_set(ERR_INVALID, "DSN: no hostname");
	kind = dsn_kind(in->rcpts, in->nrcpts);

	if (in->msglen > 0) {
		hdrlen = mime_header_end(in->msg, in->msglen);
		headers_only = kind == DSN_DELIVERED || in->ret == DSN_RET_HDRS;
		if (!headers_only && in->msglen > DSN_RETURN_MAX)
			headers_only = cut = 1;
		else if (!headers_only && longest_line(in->msg, in->msglen) >
		    998) {
			headers_only = 1;
			cut = 2;
		}
		eight = has_8bit(in->msg, headers_only ? hdrlen : in->msglen);
		if (headers_only) {
			dbuf_printf(&orig, "Content-Description: Undelivered "
			    "message headers\r\nContent-Type: "
			    "text/rfc822-headers\r\n%s\r\n", eight ?
			    "Content-Transfer-Encoding: 8bit\r\n" : "");
			add_crlf(&orig, in->msg, hdrlen, 1);
		} else {
			dbuf_printf(&orig, "Content-Description: %s message\r\n"
			    "Content-Type: message/rfc822\r\n%s\r\n",
			    kind == DSN_DELAYED ? "Delayed" : "Undelivered",
			    eight ? "Content-Transfer-Encoding: 8bit\r\n" : "");
			add_crlf(&orig, in->msg, in->msglen, 0);
		}
	} else
		headers_only = 1;
	text_part(&text, in, kind, headers_only, cut, eight);
	status_part(&status, in);

	host = clean(in->hostname, 255, 0);
	to = clean(in->sender, 320, 1);
	if (in->postmaster != NULL && in->postmaster[0] != '\0')
		from = clean(in->postmaster, 320, 0);
	else
		from = xasprintf("MAILER-DAEMON@%s", host);

	/* a boundary that neither the parts nor the header fields hold */
	for (tries = 0;; tries++) {
		snprintf(boundary, sizeof(boundary), "=_vellum-%016" PRIX64
		    "-%d=", in->notice_id, tries);
		if (memmem(text.p, text.len, boundary, strlen(boundary)) ==
		    NULL && memmem(status.p, status.len, boundary,
		    strlen(boundary)) == NULL && (orig.len == 0 ||
		    memmem(orig.p, orig.len, boundary, strlen(boundary)) ==
		    NULL) && strstr(to, boundary) == NULL &&
		    strstr(from, boundary) == NULL &&
		    strstr(host, boundary) == NULL)
			break;
	}

	switch (kind) {
	case DSN_FAILED:
		subject = "Undelivered Mail Returned to Sender";
		break;
	case DSN_DELAYED:
		subject = "Delayed Mail (still being retried)";
		break;
	default:
		subject = "Successful Mail Delivery Report";
		break;
	}
	fieldf(&out, "From", "Mail Delivery System <%s>", from);
	field(&out, "Subject", subject);
	dbuf_printf(&out, "To: <%s>\r\n", to);
	rfc5322_date(in->now, date, sizeof(date));
	field(&out, "Date", date);
	now = (time_t)in->now;
	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	fieldf(&out, "Message-ID", "<%04d%02d%02d%02d%02d%02d.%016" PRIX64
	    "@%s>", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, in->notice_id, host);
	field(&out, "Auto-Submitted", "auto-replied");
	field(&out, "MIME-Version", "1.0");
	dbuf_printf(&out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", boundary);
	dbuf_printf(&out, "Content-Transfer-Encoding: %s\r\n\r\n",
	    eight ? "8bit" : "7bit");
	dbuf_puts(&out, "This is a MIME-encapsulated message.\r\n\r\n");
	dbuf_printf(&out, "--%s\r\n", boundary);
	dbuf_add(&out, text.p, text.len);
	dbuf_printf(&out, "\r\n--%s\r\n", boundary);
	dbuf_add(&out, status.p, status.len);
	if (orig.len > 0) {
		dbuf_printf(&out, "\r\n--%s\r\n", boundary);
		dbuf_add(&out, orig.p, orig.len);
	}
	dbuf_printf(&out, "\r\n--%s--\r\n", boundary);

	free(host);
	free(to);
	free(from);
	free(text.p);
	free(status.p);
	free(orig.p);
	*msg_r = out.p;
	*len_r = out.len;
	return 0;
}

int
dsn_notice(const char *hostname, int64_t now, uint64_t id, const char *to,
    const char *subject, const char *body, char **msg_r, size_t *len_r)
{
	struct dbuf out = { 0 };
	char date[64], *host, *rcpt;
	struct tm tm;
	time_t t = (time_t)now;

	*msg_r = NULL;
	*len_r = 0;
	if (hostname == NULL || hostname[0] == '\0')
		return err_set(ERR_INVALID, "notice: no hostname");
	host = clean(hostname, 255, 0);
	rcpt = clean(to, 320, 1);
	fieldf(&out, "From", "Mail Delivery System <MAILER-DAEMON@%s>", host);
	field(&out, "Subject", subject);
	dbuf_printf(&out, "To: <%s>\r\n", rcpt);
	rfc5322_date(now, date, sizeof(date));
	field(&out, "Date", date);
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	fieldf(&out, "Message-ID", "<%04d%02d%02d%02d%02d%02d.%016" PRIX64
	    "@%s>", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, id, host);
	field(&out, "Auto-Submitted", "auto-generated");
	field(&out, "MIME-Version", "1.0");
	field(&out, "Content-Type", "text/plain; charset=utf-8");
	dbuf_printf(&out, "Content-Transfer-Encoding: %s\r\n\r\n",
	    has_8bit(body, strlen(body)) ? "8bit" : "7bit");
	add_crlf(&out, body, strlen(body), 0);
	free(host);
	free(rcpt);
	*msg_r = out.p;
	*len_r = out.len;
	return 0;
}
