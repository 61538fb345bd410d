/*
 * dial.c - a blocking client connection with one deadline (see dial.h).
 *
 * Taken out of the spamd client when the clamd client came: both ask a
 * local daemon about a message from a filter thread, and both must not
 * let a daemon that hangs hold that thread longer than their timeout.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dial.h"

/* A full listen queue of a unix socket is asked again this often (ms). */
#define DIAL_RETRY_MS	10

#define DIAL_HOST_MAX	256

static int64_t	dial_now_ms(void);
static int	dial_wait(struct dial *, short, const char *, char *, size_t);
static int	dial_parse(const char *, char *, const char **);
static int	dial_connect_one(struct dial *, int, const struct sockaddr *,
		    socklen_t, char *, size_t);

int
dial_why(char *why, size_t whysize, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysize == 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(why, whysize, fmt, ap);
	va_end(ap);
	return 0;
}

void
dial_printable(const char *s, size_t len, char *out, size_t outsize)
{
	size_t i;

	if (outsize == 0)
		return;
	for (i = 0; i < len && i + 1 < outsize; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

static int64_t
dial_now_ms(void)
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
dial_wait(struct dial *d, short events, const char *doing, char *why,
    size_t whysize)
{
	struct pollfd pfd;
	int64_t left;
	int r;

	for (;;) {
		left = d->deadline - dial_now_ms();
		if (left <= 0)
			return dial_why(why, whysize, "%s %s: timed out after "
			    "%d ms %s", d->what, d->addr, d->timeout_ms, doing);
		pfd.fd = d->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return dial_why(why, whysize, "%s %s: poll: %s",
			    d->what, d->addr, strerror(errno));
	}
}

/*
 * Splits a host address into host[DIAL_HOST_MAX] and *port_r (NULL when
 * it names none): 1, or 0 when it has no form of dial.h's.
 */
static int
dial_parse(const char *a, char *host, const char **port_r)
{
	const char *colon, *close_br, *port = NULL;
	size_t hlen;
	long n;

	if (a[0] == '[') {
		close_br = strchr(a, ']');
		if (close_br == NULL || (close_br[1] != '\0' &&
		    close_br[1] != ':'))
			return 0;
		hlen = (size_t)(close_br - a - 1);
		memmove(host, a + 1, hlen < DIAL_HOST_MAX ? hlen : 0);
		if (close_br[1] == ':')
			port = close_br + 2;
	} else if ((colon = strrchr(a, ':')) != NULL &&
	    strchr(a, ':') == colon) {
		hlen = (size_t)(colon - a);
		memmove(host, a, hlen < DIAL_HOST_MAX ? hlen : 0);
		port = colon + 1;
	} else {
		/* a bare host, or a bare IPv6 address */
		hlen = strlen(a);
		memmove(host, a, hlen < DIAL_HOST_MAX ? hlen : 0);
	}
	if (hlen == 0 || hlen >= DIAL_HOST_MAX)
		return 0;
	host[hlen] = '\0';
	if (port != NULL) {
		if (port[0] == '\0' || port[0] == '0' || strlen(port) > 5 ||
		    strspn(port, "0123456789") != strlen(port))
			return 0;
		n = strtol(port, NULL, 10);
		if (n < 1 || n > 65535)
			return 0;
	}
	*port_r = port;
	return 1;
}

int
dial_addr_check(const char *addr, char *why, size_t whysize)
{
	char host[DIAL_HOST_MAX];
	const char *port;
	size_t i;

	for (i = 0; addr[i] != '\0'; i++)
		if (addr[i] <= ' ' || addr[i] >= 0x7f)
			return dial_why(why, whysize, "a blank or a byte "
			    "other than printable ASCII in the address");
	if (addr[0] == '/') {
		if (strlen(addr) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return dial_why(why, whysize, "a socket path longer "
			    "than %zu bytes", sizeof(((struct sockaddr_un *)
			    0)->sun_path) - 1);
		return 1;
	}
	if (!dial_parse(addr, host, &port))
		return dial_why(why, whysize, "not host:port, "
		    "[address]:port or /socket/path");
	return 1;
}

/* One connect attempt to sa within the deadline: 1 connected, else 0. */
static int
dial_connect_one(struct dial *d, int family, const struct sockaddr *sa,
    socklen_t salen, char *why, size_t whysize)
{
	int err = 0;
	socklen_t errlen = sizeof(err);

	d->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd == -1)
		return dial_why(why, whysize, "%s %s: socket: %s", d->what,
		    d->addr, strerror(errno));
	for (;;) {
		if (connect(d->fd, sa, salen) == 0)
			return 1;
		/*
		 * A unix socket's EAGAIN is a full listen queue (a busy
		 * daemon), not a connect under way: nothing will complete,
		 * so ask again shortly, within the deadline.
		 */
		if (errno != EAGAIN || family != AF_UNIX)
			break;
		if (dial_now_ms() + DIAL_RETRY_MS >= d->deadline) {
			dial_why(why, whysize, "%s %s: connecting: timed out "
			    "(its listen queue stayed full)", d->what,
			    d->addr);
			goto fail;
		}
		(void)poll(NULL, 0, DIAL_RETRY_MS);
	}
	if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN)
		err = errno;
	else if (!dial_wait(d, POLLOUT, "connecting", why, whysize))
		goto fail;
	else if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err,
	    &errlen) == -1)
		err = errno;
	if (err == 0)
		return 1;
	dial_why(why, whysize, "%s %s: connect: %s", d->what, d->addr,
	    strerror(err));
 fail:
	dial_close(d);
	return 0;
}

int
dial_connect(struct dial *d, const char *dport, char *why, size_t whysize)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sun;
	const char *a = d->addr, *port;
	char host[DIAL_HOST_MAX];
	int r;

	d->fd = -1;
	d->deadline = dial_now_ms() + d->timeout_ms;
	if (a[0] == '/') {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(a) >= sizeof(sun.sun_path))
			return dial_why(why, whysize, "%s %s: socket path "
			    "longer than %zu bytes", d->what, a,
			    sizeof(sun.sun_path) - 1);
		memcpy(sun.sun_path, a, strlen(a) + 1);
		return dial_connect_one(d, AF_UNIX,
		    (const struct sockaddr *)&sun, sizeof(sun), why, whysize);
	}
	if (!dial_parse(a, host, &port))
		return dial_why(why, whysize, "%s %s: not host:port, "
		    "[address]:port or /socket/path", d->what, a);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port != NULL ? port : dport, &hints,
	    &res)) != 0)
		return dial_why(why, whysize, "%s %s: %s", d->what, a,
		    gai_strerror(r));
	/* The deadline starts now: name lookups are not counted. */
	d->deadline = dial_now_ms() + d->timeout_ms;
	r = 0;
	for (ai = res; ai != NULL && r == 0; ai = ai->ai_next)
		r = dial_connect_one(d, ai->ai_family, ai->ai_addr,
		    ai->ai_addrlen, why, whysize);
	freeaddrinfo(res);
	return r;
}

int
dial_send(struct dial *d, const void *buf, size_t len, char *why,
    size_t whysize)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(d->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!dial_wait(d, POLLOUT, "sending the message",
			    why, whysize))
				return 0;
			continue;
		}
		return dial_why(why, whysize, "%s %s: send: %s", d->what,
		    d->addr, strerror(errno));
	}
	return 1;
}

int
dial_recv(struct dial *d, void *buf, size_t size, size_t *got_r,
    const char *doing, char *why, size_t whysize)
{
	ssize_t n;

	*got_r = 0;
	for (;;) {
		n = recv(d->fd, buf, size, 0);
		if (n >= 0) {
			*got_r = (size_t)n;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return dial_why(why, whysize, "%s %s: %s", d->what,
			    d->addr, strerror(errno));
		if (!dial_wait(d, POLLIN, doing, why, whysize))
			return 0;
	}
}

int
dial_reply(struct dial *d, char *buf, size_t size, dial_parse_fn *parse,
    void *arg, const char *perr, char *why, size_t whysize)
{
	char rwhy[256];
	size_t got = 0, n;
	int r, eof = 0;

	for (;;) {
		r = parse(buf, got, eof, arg, rwhy, sizeof(rwhy));
		if (r == 1)
			break;
		if (r == -1) {
			/* closed at once after a failed send: say that */
			if (got == 0 && perr[0] != '\0')
				return dial_why(why, whysize, "%s", perr);
			return dial_why(why, whysize, "%s %s: %s", d->what,
			    d->addr, rwhy);
		}
		/* the parser wants more, and the peer has closed */
		if (eof && perr[0] != '\0')
			return dial_why(why, whysize, "%s", perr);
		if (eof)
			return dial_why(why, whysize, "%s %s: connection "
			    "closed within the reply", d->what, d->addr);
		if (got == size)
			return dial_why(why, whysize, "%s %s: reply longer "
			    "than %zu bytes", d->what, d->addr, size);
		if (!dial_recv(d, buf + got, size - got, &n,
		    "waiting for the reply", rwhy, sizeof(rwhy))) {
			/* a reset after a refused send: say why it failed */
			return dial_why(why, whysize, "%s", perr[0] != '\0' &&
			    strstr(rwhy, "timed out") == NULL ? perr : rwhy);
		}
		got += n;
		eof = n == 0;
	}
	/* a reply to a request it did not all get is no verdict */
	if (perr[0] != '\0')
		return dial_why(why, whysize, "%s", perr);
	return 1;
}

void
dial_close(struct dial *d)
{
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
}
