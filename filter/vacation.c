/*
 * vacation.c - auto-replies (RFC 3834): the rules that keep them from
 * lists, bounces and loops, and the reply message.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/textbuf.h"
#include "filter/vacation.h"
#include "mail/imapmsg.h"
#include "mail/rfc822.h"

struct field {
	const char	*name;
	size_t		 namelen;
	const char	*value;		/* raw, folded, after the colon */
	size_t		 vlen;
};

static int	field_next(const char *, size_t, size_t *, struct field *);
static int	field_is(const struct field *, const char *);
static char	*unfold(const char *, size_t, size_t *);
static void	why_set(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	sender_refused(const char *, char *, size_t);
static int	local_refused(const char *, size_t);
static int	first_word_is(const char *, size_t, const char *);
static int	addressed(const struct field *, const char *const *, size_t);
static int	addr_eq(const char *, size_t, const char *, size_t,
		    const char *);
static int	has_crlf(const char *);
static void	subject_add(struct textbuf *, const char *, size_t);
static void	ids_add(struct textbuf *, const char *, const char *);
static void	body_add(struct textbuf *, const char *);
static int	body_needs_qp(const char *);

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * The next header field from *pos: 1 (f), 0 at the blank line or the end.
 * A line without a colon (or starting with blanks where no field is open)
 * is skipped, as mail readers do.
 */
static int
field_next(const char *msg, size_t len, size_t *pos, struct field *f)
{
	size_t i = *pos;

	while (i < len) {
		size_t start = i, colon = 0, end;

		if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < len &&
		    msg[i + 1] == '\n'))
			return 0;	/* the blank line */
		/* The field: this line and the lines that start blank. */
		for (end = i; end < len; end++) {
			if (msg[end] == ':' && colon == 0)
				colon = end;
			if (msg[end] == '\n' && (end + 1 >= len ||
			    (msg[end + 1] != ' ' && msg[end + 1] != '\t'))) {
				end++;
				break;
			}
		}
		i = end;
		if (colon == 0 || msg[start] == ' ' || msg[start] == '\t')
			continue;
		f->name = msg + start;
		f->namelen = colon - start;
		while (f->namelen > 0 && (f->name[f->namelen - 1] == ' ' ||
		    f->name[f->namelen - 1] == '\t'))
			f->namelen--;
		f->value = msg + colon + 1;
		f->vlen = end - colon - 1;
		*pos = i;
		return 1;
	}
	*pos = i;
	return 0;
}

static int
field_is(const struct field *f, const char *name)
{
	return f->namelen == strlen(name) &&
	    strncasecmp(f->name, name, f->namelen) == 0;
}

/* The value without CR/LF and without blanks at either end. */
static char *
unfold(const char *v, size_t len, size_t *len_r)
{
	char *s = xmalloc(len + 1);
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (v[i] != '\r' && v[i] != '\n')
			s[n++] = v[i];
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	s[n] = '\0';
	i = strspn(s, " \t");
	memmove(s, s + i, n - i + 1);
	*len_r = n - i;
	return s;
}

static void
why_set(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

/* The local parts that are lists, robots and bounce addresses. */
static int
local_refused(const char *l, size_t n)
{
	static const char *const exact[] = { "mailer-daemon", "mailer",
	    "postmaster", "listserv", "majordomo", NULL };
	static const char *const suffix[] = { "-request", "-owner",
	    "-bounces", NULL };
	size_t i;

	for (i = 0; exact[i] != NULL; i++)
		if (n == strlen(exact[i]) && strncasecmp(l, exact[i], n) == 0)
			return 1;
	if (n >= 6 && strncasecmp(l, "owner-", 6) == 0)
		return 1;
	for (i = 0; suffix[i] != NULL; i++) {
		size_t sl = strlen(suffix[i]);

		if (n >= sl && strncasecmp(l + n - sl, suffix[i], sl) == 0)
			return 1;
	}
	return 0;
}

static int
sender_refused(const char *sender, char *why, size_t whysize)
{
	const char *s = sender != NULL ? sender : "", *at, *plus;
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n == 0) {
		why_set(why, whysize, "the null sender (a bounce)");
		return 1;
	}
	at = memrchr(s, '@', n);
	if (at == NULL) {
		why_set(why, whysize, "the sender %.*s has no domain",
		    (int)n, s);
		return 1;
	}
	plus = memchr(s, '+', (size_t)(at - s));
	if (local_refused(s, (size_t)(at - s)) || (plus != NULL &&
	    local_refused(s, (size_t)(plus - s)))) {
		why_set(why, whysize, "the sender %.*s is a list or a robot",
		    (int)n, s);
		return 1;
	}
	return 0;
}

/* The value's first word (blanks, a comment or ';' end it) is word. */
static int
first_word_is(const char *v, size_t n, const char *word)
{
	size_t wl = strlen(word);

	return n >= wl && strncasecmp(v, word, wl) == 0 &&
	    (n == wl || strchr(" \t;(", v[wl]) != NULL);
}

/* a@b (from the message) is addr: any case, "+detail" of a ignored. */
static int
addr_eq(const char *local, size_t ll, const char *domain, size_t dl,
    const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *plus;
	size_t al;

	if (at == NULL || strlen(at + 1) != dl ||
	    strncasecmp(at + 1, domain, dl) != 0)
		return 0;
	al = (size_t)(at - addr);
	if (al == ll && strncasecmp(addr, local, ll) == 0)
		return 1;
	plus = memchr(local, '+', ll);
	return plus != NULL && memchr(addr, '+', al) == NULL &&
	    al == (size_t)(plus - local) && strncasecmp(addr, local, al) == 0;
}

static int
addressed(const struct field *f, const char *const *addrs, size_t naddrs)
{
	struct rfc822_addr *v;
	size_t n, i, j, vlen;
	char *val = unfold(f->value, f->vlen, &vlen);
	int found = 0;

	rfc822_addr_parse(val, vlen, &v, &n);
	for (i = 0; i < n && !found; i++) {
		if (v[i].mailbox.p == NULL || v[i].domain.p == NULL)
			continue;
		for (j = 0; j < naddrs && !found; j++)
			if (addrs[j] != NULL)
				found = addr_eq(v[i].mailbox.p,
				    v[i].mailbox.len, v[i].domain.p,
				    v[i].domain.len, addrs[j]);
	}
	rfc822_addr_free(v, n);
	free(val);
	return found;
}

int
filter_vacation_wanted(const char *msg, size_t len, const char *sender,
    const char *const *addrs, size_t naddrs, char *why, size_t whysize)
{
	static const char *const rcpt[] = { "To", "Cc", "Bcc", "Resent-To",
	    "Resent-Cc", NULL };
	struct field f;
	size_t pos = 0, i;
	int to_us = 0;

	if (whysize > 0)
		why[0] = '\0';
	if (sender_refused(sender, why, whysize))
		return 0;
	while (field_next(msg, len, &pos, &f)) {
		size_t vlen;
		char *v = unfold(f.value, f.vlen, &vlen);
		const char *no = NULL;

		if (field_is(&f, "Auto-Submitted")) {
			if (!first_word_is(v, vlen, "no"))
				no = "Auto-Submitted";
		} else if (field_is(&f, "Precedence")) {
			if (first_word_is(v, vlen, "bulk") ||
			    first_word_is(v, vlen, "list") ||
			    first_word_is(v, vlen, "junk"))
				no = "Precedence";
		} else if (f.namelen >= 5 &&
		    strncasecmp(f.name, "List-", 5) == 0) {
			no = "a List- field";
		} else if (field_is(&f, "X-Loop")) {
			no = "X-Loop";
		} else if (field_is(&f, "X-Spam-Flag")) {
			if (first_word_is(v, vlen, "yes"))
				no = "X-Spam-Flag";
		} else if (field_is(&f, "X-Auto-Response-Suppress")) {
			if (strcasestr(v, "all") != NULL ||
			    strcasestr(v, "oof") != NULL)
				no = "X-Auto-Response-Suppress";
		} else if (!to_us) {
			for (i = 0; rcpt[i] != NULL; i++)
				if (field_is(&f, rcpt[i]))
					break;
			if (rcpt[i] != NULL)
				to_us = addressed(&f, addrs, naddrs);
		}
		if (no != NULL) {
			why_set(why, whysize, "the message has %s: %.*s", no,
			    (int)(vlen > 80 ? 80 : vlen), v);
			free(v);
			return 0;
		}
		free(v);
	}
	if (!to_us) {
		why_set(why, whysize, "none of the user's addresses is in "
		    "To, Cc, Bcc, Resent-To or Resent-Cc");
		return 0;
	}
	return 1;
}

static int
has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/*
 * "Subject: " and s[n]: as it is (folded at blanks) when it is printable
 * ASCII, else UTF-8 base64 words of at most 39 bytes (52 characters, a
 * 64-character word: with "Subject: " a line of 73), cut between
 * characters.
 */
static void
subject_add(struct textbuf *b, const char *s, size_t n)
{
	size_t i, col;
	int ascii = 1;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x7f ||
		    ((unsigned char)s[i] < 0x20 && s[i] != '\t'))
			ascii = 0;
	/* Encoded-word look-alikes are encoded too, so they show as they are. */
	if (ascii && memmem(s, n, "=?", 2) != NULL)
		ascii = 0;
	textbuf_str(b, "Subject:");
	col = 8;
	if (ascii) {
		i = 0;
		while (i < n) {
			size_t w = i;

			while (w < n && (s[w] == ' ' || s[w] == '\t'))
				w++;
			while (w < n && s[w] != ' ' && s[w] != '\t')
				w++;
			if (i > 0 && col + (w - i) > 78 &&
			    (s[i] == ' ' || s[i] == '\t')) {
				textbuf_str(b, "\r\n");
				col = 0;
			} else if (i == 0) {
				textbuf_str(b, " ");
				col++;
			}
			textbuf_add(b, s + i, w - i);
			col += w - i;
			i = w;
		}
		textbuf_str(b, "\r\n");
		return;
	}
	i = 0;
	while (i < n) {
		size_t take = n - i > 39 ? 39 : n - i, k;
		const unsigned char *p = (const unsigned char *)s + i;

		/* Do not cut a UTF-8 sequence (continuation bytes 10xxxxxx). */
		if (i + take < n) {
			size_t back = take;

			while (back > take - 4 && back > 0 &&
			    (p[back] & 0xc0) == 0x80)
				back--;
			if (back > 0)
				take = back;
		}
		textbuf_str(b, i == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		for (k = 0; k < take; k += 3) {
			uint32_t v = (uint32_t)p[k] << 16;
			char o[4];

			if (k + 1 < take)
				v |= (uint32_t)p[k + 1] << 8;
			if (k + 2 < take)
				v |= p[k + 2];
			o[0] = b64chars[(v >> 18) & 63];
			o[1] = b64chars[(v >> 12) & 63];
			o[2] = k + 1 < take ? b64chars[(v >> 6) & 63] : '=';
			o[3] = k + 2 < take ? b64chars[v & 63] : '=';
			textbuf_add(b, o, 4);
		}
		textbuf_str(b, "?=");
		i += take;
	}
	textbuf_str(b, "\r\n");
}

/*
 * In-Reply-To and References from the original's Message-ID, References
 * and In-Reply-To (RFC 5322 3.6.4); nothing when it has no Message-ID.
 */
static void
ids_add(struct textbuf *b, const char *refs, const char *msgid)
{
	const char *ids[FILTER_VACATION_REFS_MAX + 1];
	size_t n = 0, i, col;
	char *copy = xstrdup(refs), *tok, *save = NULL;

	textbuf_printf(b, "In-Reply-To: <%s>\r\n", msgid);
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if (n == FILTER_VACATION_REFS_MAX) {
			/* Keep the first (the thread's root) and the newest. */
			memmove(ids + 1, ids + 2, (n - 2) * sizeof(*ids));
			n--;
		}
		ids[n++] = tok;
	}
	textbuf_str(b, "References:");
	col = 11;
	for (i = 0; i <= n; i++) {
		const char *id = i < n ? ids[i] : msgid;

		if (id == NULL)		/* never: keeps GCC's -O2 checks quiet */
			continue;
		if (i > 0 && col + strlen(id) + 3 > 78) {
			textbuf_str(b, "\r\n");
			col = 0;
		}
		textbuf_printf(b, " <%s>", id);
		col += strlen(id) + 3;
	}
	textbuf_str(b, "\r\n");
	free(copy);
}

static int
body_needs_qp(const char *s)
{
	size_t col = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n') {
			col = 0;
			continue;
		}
		if (c == '\r' && s[1] == '\n')
			continue;
		if (c >= 0x7f || (c < 0x20 && c != '\t'))
			return 1;
		if (++col > FILTER_VACATION_LINE_MAX)
			return 1;
	}
	return 0;
}

/*
 * The body, every line ended by CRLF: as it is, or quoted-printable
 * (RFC 2045 6.7: '=' and bytes outside printable ASCII as =XX, blanks at
 * a line end too, soft breaks keep lines at most 76 characters).
 */
static void
body_add(struct textbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int qp = body_needs_qp(s);
	const char *line = s;

	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
		size_t i, col = 0;

		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (!qp) {
			textbuf_add(b, line, n);
		} else {
			for (i = 0; i < n; i++) {
				unsigned char c = (unsigned char)line[i];
				int enc = c == '=' || c >= 0x7f ||
				    (c < 0x20 && c != '\t') ||
				    ((c == ' ' || c == '\t') && i + 1 == n);
				size_t w = enc ? 3 : 1;

				/* Room for the soft break's '=' on the line. */
				if (col + w > 75) {
					textbuf_str(b, "=\r\n");
					col = 0;
				}
				if (enc) {
					char e[3] = { '=', hex[c >> 4],
					    hex[c & 15] };

					textbuf_add(b, e, 3);
				} else {
					textbuf_add(b, line + i, 1);
				}
				col += w;
			}
		}
		textbuf_str(b, "\r\n");
		if (nl == NULL)
			break;
		line = nl + 1;
	}
}

int
filter_vacation_compose(const struct filter_vacation_in *in, char **msg_r,
    size_t *len_r)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static atomic_uint serial;
	const char *subject = in->subject != NULL ? in->subject : "";
	char *origsubj = NULL, *msgid = NULL, *refs = NULL, *irt = NULL;
	const char *orig = in->orig != NULL ? in->orig : "";
	struct textbuf b = { 0 };
	struct field f;
	struct tm tm;
	size_t pos = 0, n, slen;
	uint64_t h = 14695981039346656037ULL;
	const char *p;

	if (in->from == NULL || in->to == NULL || in->hostname == NULL ||
	    in->from[0] == '\0' || in->to[0] == '\0' ||
	    in->hostname[0] == '\0')
		return err_set(ERR_INVALID, "auto-reply: no sender, "
		    "recipient or host name");
	if (has_crlf(in->from) || has_crlf(in->to) || has_crlf(subject) ||
	    has_crlf(in->hostname))
		return err_set(ERR_INVALID, "auto-reply: a line end in "
		    "From, To, Subject or the host name");

	while (field_next(orig, in->origlen, &pos, &f)) {
		char **dst = NULL;

		if (field_is(&f, "Subject") && origsubj == NULL) {
			char *raw = unfold(f.value, f.vlen, &n);

			imap_header_decode(raw, n, &origsubj, &n);
			free(raw);
			continue;
		}
		if (field_is(&f, "Message-ID") && msgid == NULL)
			dst = &msgid;
		else if (field_is(&f, "References") && refs == NULL)
			dst = &refs;
		else if (field_is(&f, "In-Reply-To") && irt == NULL)
			dst = &irt;
		if (dst != NULL) {
			char *raw = unfold(f.value, f.vlen, &n);

			rfc822_msgids(raw, n, dst == &msgid, dst, &n);
			free(raw);
		}
	}
	if (msgid != NULL && msgid[0] != '\0') {
		if (refs == NULL || refs[0] == '\0') {
			free(refs);
			refs = irt != NULL && strchr(irt, ' ') == NULL ?
			    xstrdup(irt) : xstrdup("");
		}
	}

	/* Date */
	gmtime_r(&in->now, &tm);
	textbuf_printf(&b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	textbuf_printf(&b, "From: <%s>\r\n", in->from);
	textbuf_printf(&b, "To: <%s>\r\n", in->to);

	/* Subject: the user's, or "Auto: " and the original's. */
	if (subject[0] != '\0') {
		char *s = xstrdup(subject);

		slen = strlen(s);
		if (slen > FILTER_VACATION_SUBJECT_MAX)
			slen = FILTER_VACATION_SUBJECT_MAX;
		subject_add(&b, s, slen);
		free(s);
	} else {
		char *s;
		size_t i;

		if (origsubj == NULL || origsubj[0] == '\0')
			s = xstrdup("Automated reply");
		else
			s = xasprintf("Auto: %s", origsubj);
		/* Decoded words may hold line ends or controls: blanks. */
		for (i = 0; s[i] != '\0'; i++)
			if ((unsigned char)s[i] < 0x20)
				s[i] = ' ';
		slen = strlen(s);
		if (slen > FILTER_VACATION_SUBJECT_MAX)
			slen = FILTER_VACATION_SUBJECT_MAX;
		subject_add(&b, s, slen);
		free(s);
	}

	/* Message-ID: unique enough without I/O. */
	for (p = in->to; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (n = 0; n < in->origlen; n++)
		h = (h ^ (unsigned char)orig[n]) * 1099511628211ULL;
	textbuf_printf(&b, "Message-ID: <vacation.%llx.%lx.%x.%016llx@%s>\r\n",
	    (unsigned long long)in->now, (unsigned long)getpid(),
	    atomic_fetch_add(&serial, 1), (unsigned long long)h,
	    in->hostname);
	if (msgid != NULL && msgid[0] != '\0')
		ids_add(&b, refs, msgid);
	textbuf_str(&b, "Auto-Submitted: auto-replied\r\n");
	textbuf_str(&b, "MIME-Version: 1.0\r\n");
	textbuf_str(&b, "Content-Type: text/plain; charset=utf-8\r\n");
	textbuf_printf(&b, "Content-Transfer-Encoding: %s\r\n",
	    body_needs_qp(in->body != NULL ? in->body : "") ?
	    "quoted-printable" : "7bit");
	textbuf_str(&b, "\r\n");
	body_add(&b, in->body != NULL ? in->body : "");

	free(origsubj);
	free(msgid);
	free(refs);
	free(irt);
	*msg_r = b.p;
	*len_r = b.len;
	return 1;
}
