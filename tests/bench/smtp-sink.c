/*
 * smtp-sink.c - a fast SMTP server that accepts everything and keeps
 * nothing, for the outbound delivery benchmark (bench_mta.py): the
 * remote end of the agent's connections, on loopback.
 *
 *	smtp-sink HOST PORT
 *
 * Prints "listening" when ready; on SIGUSR1 prints
 * "messages N recipients N connections N" (what it got so far), on
 * SIGTERM or SIGINT the same line, and exits.  Speaks ESMTP with
 * PIPELINING, 8BITMIME, SIZE, DSN; every command gets its 2xx/354.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

struct sess {
	int	data;		/* inside DATA */
	int	state;		/* end-of-data matcher: bytes of CRLF.CRLF */
};

static unsigned long long nmsgs, nrcpts, nconns;

static void
sess_close(struct bufferevent *bev, struct sess *s)
{
	bufferevent_free(bev);
	free(s);
}

/* Feeds DATA bytes; returns how many were taken (up to the end). */
static size_t
data_feed(struct sess *s, const char *p, size_t len, int *done)
{
	static const char end[] = "\r\n.\r\n";
	size_t i;

	*done = 0;
	for (i = 0; i < len; i++) {
		if (p[i] == end[s->state])
			s->state++;
		else
			s->state = p[i] == '\r' ? 1 : 0;
		if (s->state == 5) {
			*done = 1;
			return i + 1;
		}
	}
	return len;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	struct evbuffer_iovec v;
	char *line;
	size_t n, used;
	int done;

	for (;;) {
		if (s->data) {
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 ||
			    v.iov_len == 0)
				return;
			used = data_feed(s, v.iov_base, v.iov_len, &done);
			evbuffer_drain(in, used);
			if (done) {
				s->data = 0;
				nmsgs++;
				evbuffer_add_printf(out, "250 2.0.0 Ok: "
				    "queued as %llu\r\n", nmsgs);
			}
			continue;
		}
		if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) ==
		    NULL)
			return;
		if (strncasecmp(line, "EHLO", 4) == 0)
			evbuffer_add_printf(out, "250-sink\r\n250-PIPELINING\r\n"
			    "250-8BITMIME\r\n250-SIZE 100000000\r\n"
			    "250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n");
		else if (strncasecmp(line, "HELO", 4) == 0)
			evbuffer_add_printf(out, "250 sink\r\n");
		else if (strncasecmp(line, "MAIL", 4) == 0)
			evbuffer_add_printf(out, "250 2.1.0 Ok\r\n");
		else if (strncasecmp(line, "RCPT", 4) == 0) {
			nrcpts++;
			evbuffer_add_printf(out, "250 2.1.5 Ok\r\n");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			s->data = 1;
			s->state = 2;	/* as if after CRLF */
			evbuffer_add_printf(out, "354 End data with "
			    "<CR><LF>.<CR><LF>\r\n");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			evbuffer_add_printf(out, "221 2.0.0 Bye\r\n");
			free(line);
			bufferevent_disable(bev, EV_READ);
			bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
			s->data = -1;
			return;
		} else
			evbuffer_add_printf(out, "250 2.0.0 Ok\r\n");
		free(line);
	}
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;

	if (s->data == -1)
		sess_close(bev, s);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	sess_close(bev, arg);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct event_base *base = arg;
	struct bufferevent *bev;
	struct sess *s;

	(void)l;
	(void)sa;
	(void)salen;
	nconns++;
	s = calloc(1, sizeof(*s));
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s == NULL || bev == NULL)
		abort();
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "220 sink ESMTP\r\n");
}

static void
counts(void)
{
	printf("messages %llu recipients %llu connections %llu\n", nmsgs,
	    nrcpts, nconns);
	fflush(stdout);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	(void)ev;
	if (sig == SIGUSR1)
		counts();
	else
		event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evconnlistener *l;
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct event *sigterm, *sigint, *sigusr1;
	socklen_t len;

	if (argc != 3) {
		fprintf(stderr, "usage: smtp-sink HOST PORT\n");
		return 2;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, argv[1], &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((unsigned short)atoi(argv[2]));
		len = sizeof(*in);
	} else if (inet_pton(AF_INET6, argv[1], &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)atoi(argv[2]));
		len = sizeof(*in6);
	} else {
		fprintf(stderr, "smtp-sink: %s is not an address\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	l = evconnlistener_new_bind(base, accept_cb, base,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 256,
	    (struct sockaddr *)&ss, (int)len);
	if (l == NULL) {
		perror("smtp-sink: listen");
		return 1;
	}
	sigterm = evsignal_new(base, SIGTERM, signal_cb, base);
	sigint = evsignal_new(base, SIGINT, signal_cb, base);
	sigusr1 = evsignal_new(base, SIGUSR1, signal_cb, base);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sigusr1, NULL);
	printf("listening\n");
	fflush(stdout);
	event_base_dispatch(base);
	counts();
	evconnlistener_free(l);
	event_free(sigusr1);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	return 0;
}
