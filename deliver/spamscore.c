/*
 * spamscore.c - the spam score of a message from spamd (see spamscore.h).
 *
 * One non-blocking socket and poll() against one monotonic deadline, so
 * a spamd that accepts and then hangs (or trickles bytes) costs at most
 * timeout_ms, however the time is split between connect, send and
 * receive.  The reply parser is pure and sees the whole reply so far on
 * every call: replies are small (SPAM_REPLY_MAX), re-parsing is cheap
 * and it keeps the parser free of state.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/xmalloc.h"

#include "spamscore.h"

struct spam_io {
	const char	*addr;		/* for messages */
	int64_t		 deadline;	/* monotonic ms */
	int		 timeout_ms;
	int		 fd;
};

static int	spam_why(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	spam_printable(const char *, size_t, char *, size_t);
static int64_t	spam_now_ms(void);
static int	spam_wait(struct spam_io *, short, const char *, char *,
		    size_t);
static int	spam_connect(struct spam_io *, char *, size_t);
static int	spam_connect_one(struct spam_io *, int, const struct sockaddr *,
		    socklen_t, char *, size_t);
static int	spam_send(struct spam_io *, const void *, size_t, char *,
		    size_t);
static int	spam_number(const char **, const char *, double *);
static int	spam_header_spam(const char *, const char *,
		    struct spam_reply *);

/* Writes a reason into why (may be NULL/0); returns 0 for "not scored". */
static int
spam_why(char *why, size_t whysize, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysize == 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(why, whysize, fmt, ap);
	va_end(ap);
	return 0;
}

/* Bytes from a peer, shown safely in a message: non-printables as '?'. */
static void
spam_printable(const char *s, size_t len, char *out, size_t outsize)
{
	size_t i;

	if (outsize == 0)
		return;
	for (i = 0; i < len && i + 1 < outsize; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

static int64_t
spam_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until fd is ready for events or the deadline passes.  1 ready,
 * 0 timed out or failed (why set; doing says what was being waited for).
 */
static int
spam_wait(struct spam_io *io, short events, const char *doing, char *why,
    size_t whysize)
{
	struct pollfd pfd;
	int64_t left;
	int r;

	for (;;) {
		left = io->deadline - spam_now_ms();
		if (left <= 0)
			return spam_why(why, whysize, "spamd %s: timed out "
			    "after %d ms %s", io->addr, io->timeout_ms, doing);
		pfd.fd = io->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return spam_why(why, whysize, "spamd %s: poll: %s",
			    io->addr, strerror(errno));
	}
}

/* One connect attempt to sa within the deadline: 1 connected, else 0. */
static int
spam_connect_one(struct spam_io *io, int family, const struct sockaddr *sa,
    socklen_t salen, char *why, size_t whysize)
{
	int err = 0;
	socklen_t errlen = sizeof(err);

	io->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (io->fd == -1)
		return spam_why(why, whysize, "spamd %s: socket: %s",
		    io->addr, strerror(errno));
	if (connect(io->fd, sa, salen) == 0)
		return 1;
	if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN)
		err = errno;
	else if (!spam_wait(io, POLLOUT, "connecting", why, whysize))
		goto fail;
	else if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err,
	    &errlen) == -1)
		err = errno;
	if (err == 0)
		return 1;
	spam_why(why, whysize, "spamd %s: connect: %s", io->addr,
	    strerror(err));
 fail:
	close(io->fd);
	io->fd = -1;
	return 0;
}

/*
 * Connects to io->addr (spamscore.h says the forms).  1 connected
 * (io->fd), 0 not (why set).
 */
static int
spam_connect(struct spam_io *io, char *why, size_t whysize)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sun;
	const char *a = io->addr, *colon, *port = SPAM_PORT_DEFAULT;
	char host[256];
	size_t hlen;
	int r;

	if (a[0] == '/') {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(a) >= sizeof(sun.sun_path))
			return spam_why(why, whysize, "spamd %s: socket path "
			    "longer than %zu bytes", a,
			    sizeof(sun.sun_path) - 1);
		memcpy(sun.sun_path, a, strlen(a) + 1);
		return spam_connect_one(io, AF_UNIX,
		    (const struct sockaddr *)&sun, sizeof(sun), why, whysize);
	}
	if (a[0] == '[') {
		const char *close_br = strchr(a, ']');

		if (close_br == NULL || (close_br[1] != '\0' &&
		    close_br[1] != ':') || (close_br[1] == ':' &&
		    close_br[2] == '\0'))
			return spam_why(why, whysize, "spamd %s: not "
			    "[address]:port", a);
		hlen = (size_t)(close_br - a - 1);
		memmove(host, a + 1, hlen < sizeof(host) ? hlen : 0);
		if (close_br[1] == ':')
			port = close_br + 2;
	} else if ((colon = strrchr(a, ':')) != NULL &&
	    strchr(a, ':') == colon) {
		hlen = (size_t)(colon - a);
		memmove(host, a, hlen < sizeof(host) ? hlen : 0);
		port = colon + 1;
	} else {
		/* a bare host, or a bare IPv6 address */
		hlen = strlen(a);
		memmove(host, a, hlen < sizeof(host) ? hlen : 0);
	}
	if (hlen == 0 || hlen >= sizeof(host) || port[0] == '\0' ||
	    strspn(port, "0123456789") != strlen(port))
		return spam_why(why, whysize, "spamd %s: not host:port, "
		    "[address]:port or /socket/path", a);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0)
		return spam_why(why, whysize, "spamd %s: %s", a,
		    gai_strerror(r));
	/* The deadline starts now: name lookups are not counted. */
	io->deadline = spam_now_ms() + io->timeout_ms;
	r = 0;
	for (ai = res; ai != NULL && r == 0; ai = ai->ai_next)
		r = spam_connect_one(io, ai->ai_family, ai->ai_addr,
		    ai->ai_addrlen, why, whysize);
	freeaddrinfo(res);
	return r;
}

/*
 * Sends buf[len].  1 sent; 0 failed (why set).  A peer that closed early
 * may still have sent a reply (an error line): the caller reads on.
 */
static int
spam_send(struct spam_io *io, const void *buf, size_t len, char *why,
    size_t whysize)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(io->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!spam_wait(io, POLLOUT, "sending the message",
			    why, whysize))
				return 0;
			continue;
		}
		return spam_why(why, whysize, "spamd %s: send: %s",
		    io->addr, strerror(errno));
	}
	return 1;
}

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
				return spam_why(why, whysize, "reply line %zu "
				    "longer than %d bytes", lineno + 1,
				    SPAM_LINE_MAX) - 1;
			if (!eof)
				return 0;
			if (len == 0)
				return spam_why(why, whysize, "connection "
				    "closed without a reply") - 1;
			return spam_why(why, whysize, "reply cut short in "
			    "line %zu", lineno + 1) - 1;
		}
		le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		spam_printable(p, (size_t)(le - p), show, sizeof(show));
		if (lineno == 0) {
			/* "SPAMD/1.1 0 EX_OK": version, code, text */
			q = p + 6;
			if (le - p < 6 || memcmp(p, "SPAMD/", 6) != 0 ||
			    !spam_number(&q, le, &d) ||
			    memchr(p + 6, '.', (size_t)(q - p - 6)) == NULL ||
			    q == le || *q++ != ' ')
				return spam_why(why, whysize, "not a spamd "
				    "status line: \"%s\"", show) - 1;
			/* (4 digits at most read: no overflow) */
			for (r->code = 0, ndig = 0; q < le && *q >= '0' &&
			    *q <= '9' && ndig < 4; q++, ndig++)
				r->code = r->code * 10 + (*q - '0');
			if (ndig == 0 || ndig > 3 || (q < le && *q != ' '))
				return spam_why(why, whysize, "not a spamd "
				    "status line: \"%s\"", show) - 1;
			if (r->code != 0)
				return spam_why(why, whysize, "spamd error: "
				    "\"%s\"", show) - 1;
		} else if (le == p) {
			p = nl + 1;
			break;
		} else {
			colon = memchr(p, ':', (size_t)(le - p));
			namelen = colon == NULL ? 0 : (size_t)(colon - p);
			if (namelen == 0 || memchr(p, ' ', namelen) != NULL ||
			    memchr(p, '\t', namelen) != NULL)
				return spam_why(why, whysize, "malformed "
				    "reply header line: \"%s\"", show) - 1;
			for (q = colon + 1; q < le && *q == ' '; q++)
				;
			if (namelen == 14 &&
			    strncasecmp(p, "Content-length", 14) == 0) {
				if (have_clen++ || q == le ||
				    strspn(q, "0123456789") < (size_t)(le -
				    q) || le - q > 9)
					return spam_why(why, whysize, "bad "
					    "reply header: \"%s\"", show) - 1;
				for (clen = 0; q < le; q++)
					clen = clen * 10 + (size_t)(*q - '0');
				if (clen > SPAM_REPLY_MAX)
					return spam_why(why, whysize, "reply "
					    "announces %zu bytes, more than "
					    "%d", clen, SPAM_REPLY_MAX) - 1;
			} else if (namelen == 4 &&
			    strncasecmp(p, "Spam", 4) == 0) {
				if (have_spam++ || !spam_header_spam(q, le, r))
					return spam_why(why, whysize, "bad "
					    "reply header: \"%s\"", show) - 1;
			}
		}
		p = nl + 1;
	}
	if (!have_spam)
		return spam_why(why, whysize, "reply without a Spam: "
		    "header") - 1;
	if (have_clen) {
		if ((size_t)(end - p) < clen) {
			if (!eof)
				return 0;
			return spam_why(why, whysize, "reply cut short: %zu "
			    "of %zu bytes of symbols", (size_t)(end - p),
			    clen) - 1;
		}
		if ((size_t)(end - p) > clen)
			return spam_why(why, whysize, "%zu bytes after the "
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

int
spam_score(const struct spam_conf *conf, const void *msg, size_t len,
    double *score, double *threshold, char *why, size_t whysize)
{
	struct spam_io io;
	struct spam_reply rep;
	char head[128 + SPAM_USER_MAX], perr[256], rwhy[256], *buf = NULL;
	size_t hlen, got = 0, i, max;
	ssize_t n;
	int r, sent, eof = 0;

	if (why != NULL && whysize > 0)
		why[0] = '\0';
	*score = *threshold = 0;
	io.addr = conf->addr != NULL && conf->addr[0] != '\0' ? conf->addr :
	    SPAM_ADDR_DEFAULT;
	max = conf->max_size > 0 ? conf->max_size : SPAM_MAX_SIZE_DEFAULT;
	if (len > max)
		return spam_why(why, whysize, "spamd %s: message of %zu bytes "
		    "over the %zu-byte limit, not sent", io.addr, len, max);
	io.timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms :
	    SPAM_TIMEOUT_DEFAULT;
	io.deadline = spam_now_ms() + io.timeout_ms;
	io.fd = -1;
	hlen = (size_t)snprintf(head, sizeof(head), "SYMBOLS SPAMC/1.5\r\n"
	    "Content-length: %zu\r\n", len);
	if (conf->user != NULL && conf->user[0] != '\0') {
		for (i = 0; conf->user[i] != '\0'; i++)
			if (conf->user[i] < 0x21 || conf->user[i] > 0x7e)
				return spam_why(why, whysize, "spamd user "
				    "name with a blank or non-ASCII byte");
		if (i > SPAM_USER_MAX)
			return spam_why(why, whysize, "spamd user name longer "
			    "than %d bytes", SPAM_USER_MAX);
		hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen,
		    "User: %s\r\n", conf->user);
	}
	hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen, "\r\n");

	if (!spam_connect(&io, why, whysize))
		return 0;
	perr[0] = '\0';
	sent = spam_send(&io, head, hlen, perr, sizeof(perr)) &&
	    spam_send(&io, msg, len, perr, sizeof(perr));
	if (sent)
		shutdown(io.fd, SHUT_WR);	/* as spamc: no more input */
	buf = xmalloc(SPAM_REPLY_MAX + 1);
	for (;;) {
		r = spam_reply_parse(buf, got, eof, &rep, rwhy, sizeof(rwhy));
		if (r == 1)
			break;
		if (r == -1) {
			/* closed at once after a failed send: say that */
			if (got == 0 && perr[0] != '\0')
				spam_why(why, whysize, "%s", perr);
			else
				spam_why(why, whysize, "spamd %s: %s",
				    io.addr, rwhy);
			break;
		}
		if (got == SPAM_REPLY_MAX) {
			r = spam_why(why, whysize, "spamd %s: reply longer "
			    "than %d bytes", io.addr, SPAM_REPLY_MAX) - 1;
			break;
		}
		n = recv(io.fd, buf + got, SPAM_REPLY_MAX - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			eof = 1;
		else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!spam_wait(&io, POLLIN, "waiting for the reply",
			    why, whysize)) {
				r = -1;
				break;
			}
		} else if (errno != EINTR) {
			/* a reset after a refused send: say why it failed */
			r = spam_why(why, whysize, "spamd %s: %s", io.addr,
			    perr[0] != '\0' ? perr : strerror(errno)) - 1;
			break;
		}
	}
	close(io.fd);
	if (r == 1 && !sent) {
		/* a reply to a message it did not all get */
		r = spam_why(why, whysize, "%s", perr) - 1;
	}
	if (r != 1) {
		free(buf);
		return 0;
	}
	*score = rep.score;
	*threshold = rep.threshold;
	if (why != NULL && whysize > 0)
		spam_printable(rep.symbols != NULL ? rep.symbols : "",
		    rep.symbols_len, why, whysize);
	free(buf);
	return 1;
}
