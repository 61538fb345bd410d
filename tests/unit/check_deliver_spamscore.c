/*
 * check_deliver_spamscore.c - spam_score() against a fake spamd, and the
 * reply parser byte by byte.
 *
 * The fake spamd is a thread on 127.0.0.1 (a free port the kernel picks)
 * or on a unix socket in a temporary directory.  It reads one request as
 * spamd does (request line, headers, Content-length bytes), keeps what it
 * got for the test to check, and answers as its mode says: spam, ham, an
 * error code, garbage, nothing (until the client gives up), a close, a
 * huge line, a reply one byte at a time...
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/spamscore.h"

enum fake_mode {
	FAKE_SPAM,
	FAKE_HAM,
	FAKE_ERROR,
	FAKE_GARBAGE,
	FAKE_SILENT,		/* reads the request, never answers */
	FAKE_CLOSE,		/* closes at once, reading nothing */
	FAKE_HUGE_LINE,
	FAKE_HUGE_REPLY,
	FAKE_TRICKLE,		/* the spam reply a byte at a time */
	FAKE_BAD_SCORE,
	FAKE_CUT,		/* fewer symbol bytes than announced */
	FAKE_NO_SPAM,		/* EX_OK without a Spam: header */
	FAKE_EARLY_ERROR,	/* an error before reading the message */
};

struct fake {
	enum fake_mode	 mode;
	int		 lfd;
	int		 unix_sock;
	char		 dir[64];
	char		 addr[128];
	pthread_t	 th;
	int		 stop[2];	/* written when the test is done */
	/* what it received */
	char		 request[64];
	long		 clen;
	char		 user[1024];
	char		*body;
	size_t		 bodylen;
	int		 complete;	/* read all Content-length bytes */
};

static const char spam_reply[] = "SPAMD/1.1 0 EX_OK\r\n"
    "Content-length: 17\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
    "GTUBE,NO_RECEIVED";

static Suite	*spamscore_suite(void);
static void	*fake_main(void *);
static void	 fake_start(struct fake *, enum fake_mode, int);
static void	 fake_stop(struct fake *);
static void	 send_all(int, const void *, size_t);
static int	 read_line(int, char *, size_t);
static int	 score(struct fake *, const char *, size_t, const char *,
		    int, double *, double *, char *, size_t);

static void
send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t k;

	while (n > 0) {
		k = send(fd, c, n, MSG_NOSIGNAL);
		if (k <= 0)
			return;	/* the client went away: its business */
		c += k;
		n -= (size_t)k;
	}
}

/* A request line without its CRLF; 1 read, 0 EOF or too long. */
static int
read_line(int fd, char *buf, size_t size)
{
	size_t o = 0;
	char c;

	while (recv(fd, &c, 1, 0) == 1) {
		if (c == '\n') {
			if (o > 0 && buf[o - 1] == '\r')
				o--;
			buf[o] = '\0';
			return 1;
		}
		if (o + 1 >= size)
			return 0;
		buf[o++] = c;
	}
	return 0;
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = { f->lfd, POLLIN, 0 };
	char line[1024], big[8192], *reply = NULL;
	size_t i;
	ssize_t k;
	int fd;

	if (poll(&pfd, 1, 30000) != 1 || (fd = accept(f->lfd, NULL,
	    NULL)) == -1)
		return NULL;
	if (f->mode == FAKE_CLOSE) {
		close(fd);
		return NULL;
	}
	if (f->mode == FAKE_EARLY_ERROR) {
		/*
		 * As spamd refusing a request line it does not know, before
		 * the message; then it reads on until the client closes, so
		 * no reset (unread data at close) races the error line.
		 */
		static const char e[] = "SPAMD/1.0 76 Bad header line: "
		    "(EOF)\r\n";

		read_line(fd, f->request, sizeof(f->request));
		send_all(fd, e, strlen(e));
		shutdown(fd, SHUT_WR);
		pfd.fd = fd;
		while (poll(&pfd, 1, 30000) == 1 && recv(fd, line,
		    sizeof(line), 0) > 0)
			;
		close(fd);
		return NULL;
	}
	if (!read_line(fd, f->request, sizeof(f->request)))
		goto out;
	f->clen = -1;
	while (read_line(fd, line, sizeof(line)) && line[0] != '\0') {
		if (strncasecmp(line, "Content-length: ", 16) == 0)
			f->clen = atol(line + 16);
		else if (strncasecmp(line, "User: ", 6) == 0)
			snprintf(f->user, sizeof(f->user), "%s", line + 6);
	}
	if (f->clen >= 0) {
		f->body = malloc((size_t)f->clen + 1);
		while (f->body != NULL && f->bodylen < (size_t)f->clen &&
		    (k = recv(fd, f->body + f->bodylen, (size_t)f->clen -
		    f->bodylen, 0)) > 0)
			f->bodylen += (size_t)k;
		f->complete = f->body != NULL &&
		    f->bodylen == (size_t)f->clen;
	}
	switch (f->mode) {
	case FAKE_SPAM:
		send_all(fd, spam_reply, strlen(spam_reply));
		break;
	case FAKE_HAM:
		snprintf(line, sizeof(line), "SPAMD/1.1 0 EX_OK\r\n"
		    "Content-length: 0\r\nSpam: False ; -0.5 / 5.0\r\n\r\n");
		send_all(fd, line, strlen(line));
		break;
	case FAKE_ERROR:
		snprintf(line, sizeof(line), "SPAMD/1.1 74 EX_IOERR\r\n\r\n");
		send_all(fd, line, strlen(line));
		break;
	case FAKE_GARBAGE:
		snprintf(line, sizeof(line), "HTTP/1.1 200 OK\r\n"
		    "Content-Length: 2\r\n\r\nhi");
		send_all(fd, line, strlen(line));
		break;
	case FAKE_SILENT:
		/*
		 * Until the test is over (the client half-closes after the
		 * message, so its EOF says nothing), or 30 s.
		 */
		pfd.fd = f->stop[0];
		poll(&pfd, 1, 30000);
		break;
	case FAKE_HUGE_LINE:
		send_all(fd, "SPAMD/1.1 0 EX_OK\r\nX-Junk: ", 27);
		memset(big, 'a', sizeof(big));
		for (i = 0; i < 16; i++)
			send_all(fd, big, sizeof(big));
		send_all(fd, "\r\n", 2);
		break;
	case FAKE_HUGE_REPLY:
		snprintf(line, sizeof(line), "SPAMD/1.1 0 EX_OK\r\n"
		    "Spam: True ; 6.0 / 5.0\r\n\r\n");
		send_all(fd, line, strlen(line));
		memset(big, 'R', sizeof(big));
		for (i = 0; i < 16; i++)
			send_all(fd, big, sizeof(big));
		break;
	case FAKE_TRICKLE:
		for (i = 0; spam_reply[i] != '\0'; i++) {
			send_all(fd, &spam_reply[i], 1);
			usleep(1000);
		}
		break;
	case FAKE_BAD_SCORE:
		snprintf(line, sizeof(line), "SPAMD/1.1 0 EX_OK\r\n"
		    "Spam: True ; 1e3 / 5.0\r\n\r\n");
		send_all(fd, line, strlen(line));
		break;
	case FAKE_CUT:
		snprintf(line, sizeof(line), "SPAMD/1.1 0 EX_OK\r\n"
		    "Content-length: 40\r\nSpam: True ; 6.0 / 5.0\r\n\r\n"
		    "ABC");
		send_all(fd, line, strlen(line));
		break;
	case FAKE_NO_SPAM:
		snprintf(line, sizeof(line), "SPAMD/1.1 0 EX_OK\r\n"
		    "Content-length: 0\r\n\r\n");
		send_all(fd, line, strlen(line));
		break;
	default:
		break;
	}
 out:
	free(reply);
	close(fd);
	return NULL;
}

/* Starts a fake spamd in mode, on a unix socket when unix_sock. */
static void
fake_start(struct fake *f, enum fake_mode mode, int unix_sock)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;
	socklen_t slen = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->unix_sock = unix_sock;
	if (unix_sock) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/vellum-spamd-XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(f->dir));
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/spamd.sock",
		    f->dir);
		snprintf(f->addr, sizeof(f->addr), "%s", sun.sun_path);
		f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(f->lfd, 0);
		ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sun,
		    sizeof(sun)), 0);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(f->lfd, 0);
		ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
		ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sin,
		    &slen), 0);
		snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u",
		    ntohs(sin.sin_port));
	}
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(pipe(f->stop), 0);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

/* Ends the fake; f->body stays for the test to check and free. */
static void
fake_stop(struct fake *f)
{
	char path[128];

	ck_assert_int_eq(write(f->stop[1], "x", 1), 1);
	pthread_join(f->th, NULL);
	close(f->lfd);
	close(f->stop[0]);
	close(f->stop[1]);
	if (f->unix_sock) {
		snprintf(path, sizeof(path), "%s/spamd.sock", f->dir);
		unlink(path);
		rmdir(f->dir);
	}
}

static int
score(struct fake *f, const char *msg, size_t len, const char *user,
    int timeout_ms, double *s, double *t, char *why, size_t whysize)
{
	struct spam_conf conf = { f->addr, user, timeout_ms, SIZE_MAX };

	return spam_score(&conf, msg, len, s, t, why, whysize);
}

static const char msg[] = "From: a@example.org\r\nTo: b@example.com\r\n"
    "Subject: test\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-"
    "UBE-TEST-EMAIL*C.34X\r\n";

START_TEST(test_spam)
{
	struct fake f;
	double s, t;
	char why[256];

	fake_start(&f, FAKE_SPAM, _i);
	ck_assert_int_eq(score(&f, msg, strlen(msg), "alice@example.org", 0,
	    &s, &t, why, sizeof(why)), 1);
	fake_stop(&f);
	ck_assert(s == 1000.0 && t == 5.0);
	ck_assert_str_eq(why, "GTUBE,NO_RECEIVED");
	/* the request as spamc sends it */
	ck_assert_str_eq(f.request, "SYMBOLS SPAMC/1.5");
	ck_assert_int_eq(f.clen, (long)strlen(msg));
	ck_assert(f.complete);
	ck_assert_str_eq(f.user, "alice@example.org");
	ck_assert_mem_eq(f.body, msg, strlen(msg));
	free(f.body);
}
END_TEST

START_TEST(test_ham_no_user)
{
	struct fake f;
	double s, t;
	char why[256];

	fake_start(&f, FAKE_HAM, 0);
	ck_assert_int_eq(score(&f, msg, strlen(msg), NULL, 0, &s, &t, why,
	    sizeof(why)), 1);
	fake_stop(&f);
	ck_assert(s == -0.5 && t == 5.0);
	ck_assert_str_eq(why, "");
	ck_assert_str_eq(f.user, "");
	free(f.body);
}
END_TEST

/* A 5 MB message: sent whole through the non-blocking loop. */
START_TEST(test_big_message)
{
	struct fake f;
	double s, t;
	char why[256], *big;
	size_t i, n = 5 << 20;

	big = malloc(n);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	fake_start(&f, FAKE_HAM, 0);
	ck_assert_int_eq(score(&f, big, n, NULL, 0, &s, &t, why,
	    sizeof(why)), 1);
	fake_stop(&f);
	ck_assert(f.complete);
	ck_assert_uint_eq(f.bodylen, n);
	ck_assert_mem_eq(f.body, big, n);
	free(f.body);
	free(big);
}
END_TEST

/* Every way of not being scored says why, in words a log reader gets. */
START_TEST(test_not_scored)
{
	static const struct {
		enum fake_mode	 mode;
		int		 timeout_ms;
		const char	*want;
	} cases[] = {
		{ FAKE_ERROR, 0, "spamd error: \"SPAMD/1.1 74 EX_IOERR\"" },
		{ FAKE_EARLY_ERROR, 0, "spamd error: \"SPAMD/1.0 76 Bad "
		    "header line: (EOF)\"" },
		{ FAKE_GARBAGE, 0, "not a spamd status line: \"HTTP/1.1 200 "
		    "OK\"" },
		{ FAKE_SILENT, 300, "timed out after 300 ms waiting for the "
		    "reply" },
		{ FAKE_CLOSE, 0, "" },
		{ FAKE_HUGE_LINE, 0, "reply line 2 longer than 1024 bytes" },
		{ FAKE_HUGE_REPLY, 0, "reply longer than 65536 bytes" },
		{ FAKE_BAD_SCORE, 0, "bad reply header: \"Spam: True ; 1e3 / "
		    "5.0\"" },
		{ FAKE_CUT, 0, "reply cut short: 3 of 40 bytes of symbols" },
		{ FAKE_NO_SPAM, 0, "reply without a Spam: header" },
	};
	struct fake f;
	double s = 1, t = 1;
	char why[256];
	unsigned i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_start(&f, cases[i].mode, 0);
		memset(why, 'x', sizeof(why));
		ck_assert_msg(score(&f, msg, strlen(msg), NULL,
		    cases[i].timeout_ms, &s, &t, why, sizeof(why)) == 0,
		    "case %u scored", i);
		fake_stop(&f);
		free(f.body);
		ck_assert(s == 0 && t == 0);
		ck_assert_msg(strncmp(why, "spamd ", 6) == 0 &&
		    strstr(why, cases[i].want) != NULL, "case %u: \"%s\", "
		    "wanted \"%s\"", i, why, cases[i].want);
		if (cases[i].mode == FAKE_CLOSE)
			ck_assert_msg(strstr(why, "closed") != NULL ||
			    strstr(why, "reset") != NULL || strstr(why,
			    "Broken pipe") != NULL, "close: \"%s\"", why);
	}
}
END_TEST

START_TEST(test_trickled_reply)
{
	struct fake f;
	double s, t;
	char why[256];

	fake_start(&f, FAKE_TRICKLE, 0);
	ck_assert_int_eq(score(&f, msg, strlen(msg), NULL, 0, &s, &t, why,
	    sizeof(why)), 1);
	fake_stop(&f);
	free(f.body);
	ck_assert(s == 1000.0 && t == 5.0);
	ck_assert_str_eq(why, "GTUBE,NO_RECEIVED");
}
END_TEST

START_TEST(test_refused_and_bad_conf)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct spam_conf conf = { 0 };
	char addr[64], why[256];
	double s, t;
	int fd;

	/* a port nobody listens on: bound, then closed */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	conf.addr = addr;
	ck_assert_int_eq(spam_score(&conf, msg, strlen(msg), &s, &t, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "connect: Connection refused") != NULL,
	    "%s", why);

	conf.addr = "127.0.0.1:notaport";
	ck_assert_int_eq(spam_score(&conf, msg, 1, &s, &t, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "not host:port") != NULL, "%s", why);
	conf.addr = "[::1";
	ck_assert_int_eq(spam_score(&conf, msg, 1, &s, &t, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "[address]:port") != NULL, "%s", why);
	conf.addr = "/nonexistent/vellum/spamd.sock";
	ck_assert_int_eq(spam_score(&conf, msg, 1, &s, &t, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "No such file") != NULL, "%s", why);
	conf.addr = addr;
	conf.user = "bad user";
	ck_assert_int_eq(spam_score(&conf, msg, 1, &s, &t, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "user name") != NULL, "%s", why);
	/* over the size limit: not even connected */
	conf.user = NULL;
	conf.max_size = 10;
	ck_assert_int_eq(spam_score(&conf, msg, 11, &s, &t, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "message of 11 bytes over the 10-byte "
	    "limit") != NULL, "%s", why);
	conf.max_size = 0;	/* the default; msg is refused before it is read */
	ck_assert_int_eq(spam_score(&conf, msg, SPAM_MAX_SIZE_DEFAULT + 1, &s,
	    &t, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "over the 512000-byte limit") != NULL, "%s",
	    why);
	/* why may be absent */
	conf.user = NULL;
	ck_assert_int_eq(spam_score(&conf, msg, 1, &s, &t, NULL, 0), 0);
}
END_TEST

/* The parser: complete replies, prefixes of them, and broken ones. */
START_TEST(test_parse)
{
	static const struct {
		const char	*reply;
		int		 eof;
		int		 want;
		const char	*why;
	} cases[] = {
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\n", 1,
		    1, NULL },
		{ "SPAMD/1.1 0 EX_OK\nSpam: yes;7.25/5\n\nA,B", 1, 1, NULL },
		{ "SPAMD/1.5 0 EX_OK\r\nspam: TRUE ; -3 / 5.0\r\n"
		    "X-Other: whatever\r\n\r\n", 1, 1, NULL },
		{ "SPAMD/1.1 0 EX_OK\r\nContent-length: 3\r\n"
		    "Spam: False ; 0.0 / 5.0\r\n\r\nA,B", 0, 1, NULL },
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\n", 0,
		    0, NULL },
		{ "", 1, -1, "connection closed without a reply" },
		{ "SPAMD/1.1 0", 1, -1, "reply cut short in line 1" },
		{ "SPAMD/1.1 0 EX_OK\r\n", 1, -1, "reply cut short in line 2" },
		{ "SPAMD/x 0 EX_OK\r\n", 0, -1, "not a spamd status line" },
		{ "SPAMD/1 0 EX_OK\r\n", 0, -1, "not a spamd status line" },
		{ "SPAMD/1.1 0x EX_OK\r\n", 0, -1, "not a spamd status line" },
		{ "SPAMD/1.1 1234 X\r\n", 0, -1, "not a spamd status line" },
		/* found by fuzz_spamreply: the code overflowed an int */
		{ "SPAMD/1.1 066666666666666666666 X\r\n", 0, -1,
		    "not a spamd status line" },
		{ "SPAMD/1.1 69 EX_UNAVAILABLE\r\n", 0, -1, "spamd error: "
		    "\"SPAMD/1.1 69 EX_UNAVAILABLE\"" },
		{ "SPAMD/1.1 0 EX_OK\r\nno colon\r\n", 0, -1, "malformed" },
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n", 0, -1,
		    "bad reply header" },
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / \r\n", 0, -1,
		    "bad reply header" },
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1. / 5\r\n", 0, -1,
		    "bad reply header" },
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5 x\r\n", 0, -1,
		    "bad reply header" },
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: True ; nan / 5\r\n", 0, -1,
		    "bad reply header" },
		{ "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\n"
		    "Spam: False ; 1 / 5\r\n", 0, -1, "bad reply header" },
		{ "SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\n", 0, -1,
		    "bad reply header" },
		{ "SPAMD/1.1 0 EX_OK\r\nContent-length: 99999999\r\n", 0, -1,
		    "more than 65536" },
		{ "SPAMD/1.1 0 EX_OK\r\nContent-length: 1\r\n"
		    "Spam: True ; 1 / 5\r\n\r\nAB", 0, -1, "1 bytes after" },
		{ "SPAMD/1.1 0 EX_OK\r\n\r\n", 1, -1, "without a Spam:" },
	};
	struct spam_reply r;
	char why[256];
	unsigned i;
	int got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		got = spam_reply_parse(cases[i].reply, strlen(cases[i].reply),
		    cases[i].eof, &r, why, sizeof(why));
		ck_assert_msg(got == cases[i].want, "case %u: %d, wanted %d "
		    "(%s)", i, got, cases[i].want, why);
		if (cases[i].why != NULL)
			ck_assert_msg(strstr(why, cases[i].why) != NULL,
			    "case %u: \"%s\", wanted \"%s\"", i, why,
			    cases[i].why);
	}
	ck_assert_int_eq(spam_reply_parse(cases[1].reply,
	    strlen(cases[1].reply), 1, &r, why, sizeof(why)), 1);
	ck_assert(r.is_spam && r.score == 7.25 && r.threshold == 5.0);
	ck_assert_uint_eq(r.symbols_len, 3);
	ck_assert_mem_eq(r.symbols, "A,B", 3);
	ck_assert_int_eq(spam_reply_parse(cases[2].reply,
	    strlen(cases[2].reply), 1, &r, why, sizeof(why)), 1);
	ck_assert(r.is_spam && r.score == -3.0 && r.symbols == NULL);
}
END_TEST

/* Every prefix of a good reply is "need more", the whole is the reply. */
START_TEST(test_parse_trickle)
{
	struct spam_reply r;
	char why[128];
	size_t len = strlen(spam_reply), i;

	for (i = 0; i < len; i++)
		ck_assert_msg(spam_reply_parse(spam_reply, i, 0, &r, why,
		    sizeof(why)) == 0, "prefix %zu: %s", i, why);
	ck_assert_int_eq(spam_reply_parse(spam_reply, len, 0, &r, why,
	    sizeof(why)), 1);
	ck_assert_uint_eq(r.used, len);
	ck_assert(r.score == 1000.0 && r.is_spam);
}
END_TEST

static Suite *
spamscore_suite(void)
{
	Suite *s = suite_create("deliver_spamscore");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_parse_trickle);
	suite_add_tcase(s, tc);

	tc = tcase_create("fake spamd");
	tcase_add_loop_test(tc, test_spam, 0, 2);
	tcase_add_test(tc, test_ham_no_user);
	tcase_add_test(tc, test_big_message);
	tcase_add_test(tc, test_not_scored);
	tcase_add_test(tc, test_trickled_reply);
	tcase_add_test(tc, test_refused_and_bad_conf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spamscore_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
