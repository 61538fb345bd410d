/*
 * pop3load.c - a POP3 load generator for bench_pop3_cores.py: N client
 * threads with blocking sockets, so the client costs little next to the
 * server it measures (the asyncio client of bench_pop3.py is slower than
 * the server).
 *
 *	pop3load [-c clients] [-s seconds] [-o] [-t timeout] [-v]
 *	    HOST PORT USERS DOMAIN PASSWORD stat|retr
 *
 * The users are user0@DOMAIN .. user<USERS-1>@DOMAIN, all with PASSWORD.
 * Client thread t owns users t, t+N, t+2N, ... and takes them in turn, so
 * no user has two sessions at once (the maildrop lock allows one).  A
 * session is: greeting, USER, PASS, STAT, then QUIT ("stat"), or RETR of
 * every message, each reply read to its terminating ".", then QUIT
 * ("retr").  Threads start sessions for -s seconds (default 10) and
 * finish the one they are in; -o instead makes one session per user and
 * stops (a warm-up pass).  A -ERR, a malformed or short reply, a closed
 * connection or no answer within -t seconds (default 30) counts as an
 * error: the connection is dropped and the thread goes on with its next
 * user.  -v prints the first errors.
 *
 * Prints a human summary and one line for scripts:
 *	result sessions=N messages=N bytes=N errors=N seconds=F
 * (bytes: the message lines of the RETR replies, as sent, without the
 * terminating line).  Exit status 0, 2 on bad arguments or 1 if not one
 * session succeeded.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POP3LOAD_BUF 65536  /* read buffer of one connection */
#define POP3LOAD_LINE 1024  /* longest status line we accept */
#define POP3LOAD_VERBOSE 10 /* errors -v prints */

enum mode { MODE_STAT, MODE_RETR };

struct conn {
	int fd;
	char buf[POP3LOAD_BUF];
	size_t off, len; /* unread bytes: buf[off .. off+len) */
};

struct client {
	pthread_t thread;
	unsigned index;
	unsigned long long sessions, messages, bytes, errors;
	struct conn conn;
};

static struct addrinfo *target;
static unsigned nclients = 16, nusers;
static const char *domain, *password;
static enum mode mode;
static double seconds = 10;
static int one_pass, verbose, timeout_s = 30;
static struct timespec deadline;
static atomic_int printed;

static void usage(void);
static double now(void);
static void fail(struct client *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static int conn_open(struct conn *);
static int conn_line(struct conn *, char **, size_t *);
static int conn_send(struct conn *, const char *, size_t);
static int command(struct client *, const char *, const char *, char **);
static int multiline(struct client *, const char *);
static int session(struct client *, const char *);
static void *client_main(void *);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: pop3load [-c clients] [-s seconds] [-o] "
	    "[-t timeout] [-v]\n"
	    "    HOST PORT USERS DOMAIN PASSWORD stat|retr\n");
	exit(2);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Counts an error of the client's session and says what it was (-v). */
static void
fail(struct client *c, const char *user, const char *fmt, ...)
{
	va_list ap;

	c->errors++;
	if (!verbose || atomic_fetch_add(&printed, 1) >= POP3LOAD_VERBOSE)
		return;
	flockfile(stderr);
	fprintf(stderr, "pop3load: %s: ", user);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* Connects; 1 done, -1 error (errno set). */
static int
conn_open(struct conn *cn)
{
	struct timeval tv = {.tv_sec = timeout_s};
	int one = 1;

	cn->off = cn->len = 0;
	cn->fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cn->fd == -1)
		return -1;
	setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(cn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(cn->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(cn->fd, target->ai_addr, target->ai_addrlen) == -1) {
		int e = errno;

		close(cn->fd);
		cn->fd = -1;
		errno = e;
		return -1;
	}
	return 1;
}

/*
 * The next line, CRLF included, in place (valid until the next call):
 * 1 done, 0 the peer closed or timed out first, -1 a read error or a
 * line longer than the buffer.
 */
static int
conn_line(struct conn *cn, char **line_r, size_t *len_r)
{
	char *p, *nl;
	size_t scanned = 0;
	ssize_t n;

	for (;;) {
		p = cn->buf + cn->off;
		nl = memchr(p + scanned, '\n', cn->len - scanned);
		if (nl != NULL) {
			*line_r = p;
			*len_r = (size_t)(nl - p) + 1;
			cn->off += *len_r;
			cn->len -= *len_r;
			return 1;
		}
		scanned = cn->len;
		if (cn->off > 0) {
			memmove(cn->buf, p, cn->len);
			cn->off = 0;
		}
		if (cn->len == sizeof(cn->buf)) {
			errno = EMSGSIZE;
			return -1;
		}
		n = recv(
		    cn->fd, cn->buf + cn->len, sizeof(cn->buf) - cn->len, 0);
		if (n > 0)
			cn->len += (size_t)n;
		else if (n == 0)
			return 0;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		else if (errno != EINTR)
			return -1;
	}
}

static int
conn_send(struct conn *cn, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(cn->fd, p, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/*
 * Sends cmd (NULL: only read, for the greeting) and reads a +OK status
 * line; its text after "+OK" in *rest_r if wanted.  1 +OK, -1 anything
 * else (counted and said).
 */
static int
command(struct client *c, const char *user, const char *cmd, char **rest_r)
{
	char *line, verb[16], out[POP3LOAD_LINE + 32];
	size_t len;
	int r, n = 0;

	if (cmd == NULL)
		snprintf(verb, sizeof(verb), "greeting");
	else
		snprintf(
		    verb, sizeof(verb), "%.*s", (int)strcspn(cmd, " "), cmd);
	/* One write: a command in two segments waits for a delayed ACK. */
	if (cmd != NULL)
		n = snprintf(out, sizeof(out), "%s\r\n", cmd);
	if (cmd != NULL && conn_send(&c->conn, out, (size_t)n) == -1) {
		fail(c, user, "%s: send: %s", verb, strerror(errno));
		return -1;
	}
	r = conn_line(&c->conn, &line, &len);
	if (r <= 0) {
		fail(c, user, "%s: %s", verb,
		    r == 0 ? "connection closed or no answer"
			   : strerror(errno));
		return -1;
	}
	if (len < 3 || strncmp(line, "+OK", 3) != 0) {
		while (
		    len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		fail(c, user, "%s: %.*s", verb,
		    (int)(len > POP3LOAD_LINE ? POP3LOAD_LINE : len), line);
		return -1;
	}
	if (rest_r != NULL) {
		line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		*rest_r = line + 3;
	}
	return 1;
}

/* Reads a multi-line body to its "." line; 1 done, -1 error. */
static int
multiline(struct client *c, const char *user)
{
	char *line;
	size_t len;
	int r;

	for (;;) {
		r = conn_line(&c->conn, &line, &len);
		if (r <= 0) {
			fail(c, user, "RETR: %s in the message",
			    r == 0 ? "connection closed or no answer"
				   : strerror(errno));
			return -1;
		}
		if (line[0] == '.' &&
		    (len == 2 || (len == 3 && line[1] == '\r')))
			return 1;
		c->bytes += len;
	}
}

/* One session of user; 1 done, -1 error (counted). */
static int
session(struct client *c, const char *user)
{
	char cmd[POP3LOAD_LINE + 16], *rest, *end;
	unsigned long count, i;

	if (conn_open(&c->conn) == -1) {
		fail(c, user, "connect: %s", strerror(errno));
		/* No busy loop against a server that is not there. */
		usleep(10000);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "USER %s", user);
	if (command(c, user, NULL, NULL) == -1 ||
	    command(c, user, cmd, NULL) == -1)
		goto err;
	snprintf(cmd, sizeof(cmd), "PASS %s", password);
	if (command(c, user, cmd, NULL) == -1 ||
	    command(c, user, "STAT", &rest) == -1)
		goto err;
	errno = 0;
	count = strtoul(rest, &end, 10);
	if (end == rest || errno != 0 || (*end != ' ' && *end != '\0')) {
		fail(c, user, "STAT: no count in \"+OK%s\"", rest);
		goto err;
	}
	if (mode == MODE_RETR) {
		for (i = 1; i <= count; i++) {
			snprintf(cmd, sizeof(cmd), "RETR %lu", i);
			if (command(c, user, cmd, NULL) == -1 ||
			    multiline(c, user) == -1)
				goto err;
			c->messages++;
		}
	}
	if (command(c, user, "QUIT", NULL) == -1)
		goto err;
	close(c->conn.fd);
	c->sessions++;
	return 1;
err:
	close(c->conn.fd);
	return -1;
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	char user[POP3LOAD_LINE];
	unsigned u = c->index;
	double end = deadline.tv_sec + deadline.tv_nsec / 1e9;

	for (;;) {
		if (one_pass ? u >= nusers : now() >= end)
			break;
		snprintf(user, sizeof(user), "user%u@%s", u, domain);
		session(c, user);
		u += nclients;
		if (u >= nusers && !one_pass)
			u = c->index;
	}
	return NULL;
}

static unsigned long
number(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v == 0 || v > max) {
		fprintf(stderr,
		    "pop3load: %s: not a number from 1 to %lu: "
		    "%s\n",
		    what, max, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char *argv[])
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct client *clients;
	unsigned long long sessions = 0, messages = 0, bytes = 0, errors = 0;
	char *end;
	double t0, dt;
	unsigned i;
	int ch, e;

	while ((ch = getopt(argc, argv, "c:os:t:v")) != -1) {
		switch (ch) {
		case 'c':
			nclients = (unsigned)number(optarg, "-c", 10000);
			break;
		case 'o':
			one_pass = 1;
			break;
		case 's':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    !(seconds > 0 && seconds <= 86400)) {
				fprintf(stderr,
				    "pop3load: -s: not a number "
				    "of seconds (0 to 86400): %s\n",
				    optarg);
				exit(2);
			}
			break;
		case 't':
			timeout_s = (int)number(optarg, "-t", 3600);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 6)
		usage();
	nusers = (unsigned)number(argv[2], "USERS", 10000000);
	domain = argv[3];
	password = argv[4];
	if (strcmp(argv[5], "stat") == 0)
		mode = MODE_STAT;
	else if (strcmp(argv[5], "retr") == 0)
		mode = MODE_RETR;
	else {
		fprintf(stderr, "pop3load: mode is stat or retr, not %s\n",
		    argv[5]);
		exit(2);
	}
	if (strpbrk(domain, "\r\n ") || strpbrk(password, "\r\n") ||
	    strlen(domain) > 500 || strlen(password) > 500) {
		fprintf(stderr,
		    "pop3load: DOMAIN and PASSWORD: up to 500 "
		    "bytes, no CR, LF (or space in the domain)\n");
		exit(2);
	}
	if ((e = getaddrinfo(argv[0], argv[1], &hints, &target)) != 0) {
		fprintf(stderr, "pop3load: %s port %s: %s\n", argv[0], argv[1],
		    gai_strerror(e));
		exit(2);
	}
	if (nclients > nusers) {
		fprintf(stderr,
		    "pop3load: %u clients for %u users: running "
		    "%u (one session per user at a time)\n",
		    nclients, nusers, nusers);
		nclients = nusers;
	}
	signal(SIGPIPE, SIG_IGN);

	clients = calloc(nclients, sizeof(*clients));
	if (clients == NULL) {
		perror("pop3load: calloc");
		exit(1);
	}
	t0 = now();
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)seconds;
	deadline.tv_nsec += (long)((seconds - (time_t)seconds) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	for (i = 0; i < nclients; i++) {
		clients[i].index = i;
		clients[i].conn.fd = -1;
		if ((e = pthread_create(&clients[i].thread, NULL, client_main,
			 &clients[i])) != 0) {
			fprintf(stderr, "pop3load: pthread_create: %s\n",
			    strerror(e));
			exit(1);
		}
	}
	for (i = 0; i < nclients; i++) {
		pthread_join(clients[i].thread, NULL);
		sessions += clients[i].sessions;
		messages += clients[i].messages;
		bytes += clients[i].bytes;
		errors += clients[i].errors;
	}
	dt = now() - t0;

	printf("pop3load: %s, %u clients, %u users, %.2f s\n",
	    mode == MODE_STAT ? "login+STAT+QUIT" : "login+STAT+RETR all+QUIT",
	    nclients, nusers, dt);
	printf("  sessions/s %.1f  messages/s %.0f  MB/s %.1f  errors %llu\n",
	    sessions / dt, messages / dt, bytes / dt / 1e6, errors);
	printf("result sessions=%llu messages=%llu bytes=%llu errors=%llu "
	       "seconds=%.3f\n",
	    sessions, messages, bytes, errors, dt);
	free(clients);
	freeaddrinfo(target);
	return sessions > 0 ? 0 : 1;
}
