/*
 * check_deliver_clamav.c - the clamd client (deliver/clamav.c): its reply
 * parser on good and hostile replies, byte by byte, and clam_scan()
 * against a fake clamd thread on a unix socket that checks the INSTREAM
 * framing (the command with its NUL, big-endian chunk lengths, the zero
 * chunk) and answers as told: a verdict, an error, garbage, nothing.
 * The real clamd is tests/integration/test_antivirus.py's.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/clamav.h"

/* Parser ------------------------------------------------------------- */

START_TEST(test_parse_good)
{
	static const char odd[] = "stream: Bad\r\nName\x80 FOUND";
	struct clam_reply r;
	char why[128];

	ck_assert_int_eq(clam_reply_parse("stream: OK", 11, 1, &r, why,
	    sizeof(why)), 1);
	ck_assert_int_eq(r.found, 0);
	ck_assert_str_eq(r.name, "");
	ck_assert_uint_eq(r.used, 11);
	ck_assert_int_eq(clam_reply_parse("stream: Eicar-Test-Signature FOUND",
	    35, 0, &r, why, sizeof(why)), 1);
	ck_assert_int_eq(r.found, 1);
	ck_assert_str_eq(r.name, "Eicar-Test-Signature");
	/* a name with bytes a reply must not carry: '?' */
	ck_assert_int_eq(clam_reply_parse(odd, sizeof(odd), 1, &r, why,
	    sizeof(why)), 1);
	ck_assert_str_eq(r.name, "Bad??Name?");
}
END_TEST

/* Every prefix of a good reply is "need more"; with eof, an error. */
START_TEST(test_parse_trickle)
{
	static const char reply[] = "stream: Win.Test.EICAR_HDB-1 FOUND";
	struct clam_reply r;
	char why[128];
	size_t len = sizeof(reply), i;

	for (i = 0; i < len; i++) {
		ck_assert_msg(clam_reply_parse(reply, i, 0, &r, why,
		    sizeof(why)) == 0, "prefix %zu: %s", i, why);
		ck_assert_msg(clam_reply_parse(reply, i, 1, &r, why,
		    sizeof(why)) == -1, "prefix %zu at eof", i);
	}
	ck_assert_int_eq(clam_reply_parse(reply, len, 0, &r, why,
	    sizeof(why)), 1);
	ck_assert_str_eq(r.name, "Win.Test.EICAR_HDB-1");
}
END_TEST

START_TEST(test_parse_hostile)
{
	static const struct {
		const char	*reply;
		size_t		 len;
		int		 eof;
		const char	*want;
	} cases[] = {
		{ "stream: OK", 10, 1, "without its NUL" },
		{ "", 0, 1, "closed without a reply" },
		{ "stream: OK\0junk", 15, 0, "bytes after the reply" },
		{ "stream: FOUND", 14, 1, "FOUND without a virus name" },
		{ "stream:  FOUND", 15, 1, "FOUND without a virus name" },
		{ "stream:    FOUND", 17, 1, "FOUND without a virus name" },
		{ "INSTREAM size limit exceeded. ERROR", 36, 1,
		    "clamd error: \"INSTREAM size limit exceeded. ERROR\"" },
		{ "stream: lstat() failed ERROR", 29, 1, "clamd error" },
		{ "HTTP/1.1 200 OK", 16, 1, "not a clamd reply" },
		{ "stream: OK ", 12, 1, "not a clamd reply" },
		{ "stream: ok", 11, 1, "not a clamd reply" },
		{ "stream:OK", 10, 1, "not a clamd reply" },
		{ "1: stream: OK", 14, 1, "not a clamd reply" },
		{ "stream: X FOUNDED", 18, 1, "not a clamd reply" },
		{ "PONG", 5, 1, "not a clamd reply" },
	};
	struct clam_reply r;
	char why[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(clam_reply_parse(cases[i].reply, cases[i].len,
		    cases[i].eof, &r, why, sizeof(why)) == -1, "case %zu "
		    "accepted", i);
		ck_assert_msg(strstr(why, cases[i].want) != NULL, "case %zu: "
		    "\"%s\", wanted \"%s\"", i, why, cases[i].want);
	}
}
END_TEST

/* No NUL within CLAM_REPLY_MAX bytes: an error at once, not "more". */
START_TEST(test_parse_huge)
{
	struct clam_reply r;
	char *buf = malloc(CLAM_REPLY_MAX * 4), why[128];

	memset(buf, 'A', CLAM_REPLY_MAX * 4);
	memcpy(buf, "stream: ", 8);
	ck_assert_int_eq(clam_reply_parse(buf, CLAM_REPLY_MAX - 1, 0, &r, why,
	    sizeof(why)), 0);
	ck_assert_int_eq(clam_reply_parse(buf, CLAM_REPLY_MAX, 0, &r, why,
	    sizeof(why)), -1);
	ck_assert_msg(strstr(why, "longer than") != NULL, "%s", why);
	/* a NUL past the limit does not count either */
	buf[CLAM_REPLY_MAX * 2] = '\0';
	ck_assert_int_eq(clam_reply_parse(buf, CLAM_REPLY_MAX * 4, 1, &r, why,
	    sizeof(why)), -1);
	/* a long name is cut to CLAM_NAME_MAX */
	memcpy(buf + CLAM_REPLY_MAX - 7, " FOUND", 7);
	ck_assert_int_eq(clam_reply_parse(buf, CLAM_REPLY_MAX, 1, &r, why,
	    sizeof(why)), 1);
	ck_assert_uint_eq(strlen(r.name), CLAM_NAME_MAX);
	/* blanks before the name are not what is kept of it (the cut
	   would leave only blanks: found by fuzz_clamreply) */
	memset(buf + 8, ' ', CLAM_NAME_MAX + 10);
	ck_assert_int_eq(clam_reply_parse(buf, CLAM_REPLY_MAX, 1, &r, why,
	    sizeof(why)), 1);
	ck_assert_int_eq(r.name[0], 'A');
	free(buf);
}
END_TEST

/* A fake clamd ------------------------------------------------------- */

enum fake_mode { FAKE_FOUND, FAKE_OK, FAKE_ERROR, FAKE_GARBAGE, FAKE_SILENT,
	FAKE_CLOSE };

struct fake {
	enum fake_mode	 mode;
	int		 lfd;
	char		 path[108];
	pthread_t	 th;
	/* what it got */
	char		*got;
	size_t		 gotlen;
	size_t		 chunks;
	int		 framing_ok;
};

static int
read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, p, n)) <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void *
fake_run(void *arg)
{
	struct fake *f = arg;
	unsigned char len[4];
	char cmd[10];
	const char *reply = NULL;
	size_t n;
	int fd;

	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		return NULL;
	if (f->mode == FAKE_CLOSE) {
		close(fd);
		return NULL;
	}
	if (read_full(fd, cmd, sizeof(cmd)) == -1 ||
	    memcmp(cmd, "zINSTREAM", 10) != 0)
		goto out;
	for (;;) {
		if (read_full(fd, len, 4) == -1)
			goto out;
		n = (size_t)len[0] << 24 | (size_t)len[1] << 16 |
		    (size_t)len[2] << 8 | len[3];
		if (n == 0)
			break;
		if (n > CLAM_CHUNK)
			goto out;
		f->got = realloc(f->got, f->gotlen + n);
		if (read_full(fd, f->got + f->gotlen, n) == -1)
			goto out;
		f->gotlen += n;
		f->chunks++;
	}
	f->framing_ok = 1;
	switch (f->mode) {
	case FAKE_FOUND:
		reply = "stream: Eicar-Test-Signature FOUND";
		break;
	case FAKE_OK:
		reply = "stream: OK";
		break;
	case FAKE_ERROR:
		reply = "INSTREAM size limit exceeded. ERROR";
		break;
	case FAKE_GARBAGE:
		reply = "220 mail.example ESMTP";
		break;
	case FAKE_SILENT:
		sleep(2);
		goto out;
	case FAKE_CLOSE:
		break;
	}
	if (reply != NULL && write(fd, reply, strlen(reply) + 1) == -1)
		fprintf(stderr, "fake clamd: write failed\n");
 out:
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sun;

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	snprintf(f->path, sizeof(f->path), "/tmp/check-clamav-%d.sock",
	    (int)getpid());
	unlink(f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ne(f->lfd, -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, f->path, strlen(f->path) + 1);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	ck_assert_int_eq(listen(f->lfd, 1), 0);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_run, f), 0);
}

/* Waits for the fake to end; what it got stays (the test frees it). */
static void
fake_end(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
	unlink(f->path);
}

static int
scan(struct fake *f, const char *msg, size_t len, int timeout_ms,
    int *found, char *name, size_t namesize, char *why, size_t whysize)
{
	struct clam_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.addr = f->path;
	conf.timeout_ms = timeout_ms;
	return clam_scan(&conf, msg, len, found, name, namesize, why,
	    whysize);
}

/* A message of several chunks arrives whole, framed; FOUND names it. */
START_TEST(test_scan_found)
{
	struct fake f;
	size_t len = CLAM_CHUNK * 2 + 1000, i;
	char *msg = malloc(len), name[64], why[256];
	int found = -1;

	for (i = 0; i < len; i++)
		msg[i] = (char)('a' + i % 26);
	fake_start(&f, FAKE_FOUND);
	ck_assert_int_eq(scan(&f, msg, len, 5000, &found, name, sizeof(name),
	    why, sizeof(why)), 1);
	fake_end(&f);
	ck_assert_int_eq(found, 1);
	ck_assert_str_eq(name, "Eicar-Test-Signature");
	ck_assert(f.framing_ok);
	ck_assert_uint_eq(f.chunks, 3);
	ck_assert_uint_eq(f.gotlen, len);
	ck_assert(memcmp(f.got, msg, len) == 0);
	free(f.got);
	free(msg);
}
END_TEST

START_TEST(test_scan_clean)
{
	struct fake f;
	char name[64], why[256];
	int found = -1, ok;

	fake_start(&f, FAKE_OK);
	ok = scan(&f, "hello\r\n", 7, 5000, &found, name, sizeof(name), why,
	    sizeof(why));
	fake_end(&f);
	ck_assert_int_eq(ok, 1);
	ck_assert_int_eq(found, 0);
	ck_assert_str_eq(name, "");
	ck_assert(f.framing_ok);
	ck_assert_uint_eq(f.gotlen, 7);
	ck_assert_mem_eq(f.got, "hello\r\n", 7);
	free(f.got);
}
END_TEST

/* Every way of not being scanned says why, in words a log reader gets. */
START_TEST(test_scan_not)
{
	static const struct {
		enum fake_mode	 mode;
		int		 timeout_ms;
		const char	*want;
	} cases[] = {
		{ FAKE_ERROR, 5000, "clamd error: \"INSTREAM size limit "
		    "exceeded. ERROR\"" },
		{ FAKE_GARBAGE, 5000, "not a clamd reply: \"220 mail" },
		{ FAKE_SILENT, 300, "timed out after 300 ms waiting for the "
		    "reply" },
		{ FAKE_CLOSE, 5000, "" },
	};
	struct fake f;
	char name[64], why[256];
	size_t i;
	int found;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_start(&f, cases[i].mode);
		memset(why, 'x', sizeof(why));
		found = -1;
		ck_assert_msg(scan(&f, "hello\r\n", 7, cases[i].timeout_ms,
		    &found, name, sizeof(name), why, sizeof(why)) == 0,
		    "case %zu scanned", i);
		fake_end(&f);
		free(f.got);
		ck_assert_int_eq(found, 0);
		ck_assert_msg(strncmp(why, "clamd ", 6) == 0 &&
		    strstr(why, cases[i].want) != NULL, "case %zu: \"%s\", "
		    "wanted \"%s\"", i, why, cases[i].want);
	}
}
END_TEST

START_TEST(test_scan_refused)
{
	struct clam_conf conf;
	char why[256];
	int found;

	memset(&conf, 0, sizeof(conf));
	conf.addr = "/nonexistent/clamd.sock";
	ck_assert_int_eq(clam_scan(&conf, "x", 1, &found, NULL, 0, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "clamd /nonexistent/clamd.sock: connect: ")
	    != NULL, "%s", why);
	conf.addr = "127.0.0.1:notaport";
	ck_assert_int_eq(clam_scan(&conf, "x", 1, &found, NULL, 0, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "not host:port") != NULL, "%s", why);
	conf.addr = "";
	ck_assert_int_eq(clam_scan(&conf, "x", 1, &found, NULL, 0, why,
	    sizeof(why)), 0);
}
END_TEST

/*
 * A clamd that does not accept: once its listen queue is full, connect()
 * on the unix socket says EAGAIN.  That is asked again until the
 * deadline, then a timeout, not a connection taken for made.
 */
START_TEST(test_scan_queue_full)
{
	struct sockaddr_un sun;
	struct clam_conf conf;
	char path[64], why[256];
	int lfd, c[8], found, i, n = 0;

	snprintf(path, sizeof(path), "/tmp/check-clamav-q.%d", (int)getpid());
	unlink(path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert(lfd != -1);
	ck_assert(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	ck_assert(listen(lfd, 0) == 0);
	/* fill the queue: connects that would block say so */
	for (i = 0; i < 8; i++) {
		c[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(c[n], (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			close(c[n]);
			break;
		}
		n++;
	}
	ck_assert_msg(i < 8, "the listen queue never filled");
	memset(&conf, 0, sizeof(conf));
	conf.addr = path;
	conf.timeout_ms = 200;
	ck_assert_int_eq(clam_scan(&conf, "x", 1, &found, NULL, 0, why,
	    sizeof(why)), 0);
	ck_assert_msg(strstr(why, "connecting: timed out (its listen queue "
	    "stayed full)") != NULL, "%s", why);
	for (i = 0; i < n; i++)
		close(c[i]);
	close(lfd);
	unlink(path);
}
END_TEST

static Suite *
clamav_suite(void)
{
	Suite *s = suite_create("deliver_clamav");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_trickle);
	tcase_add_test(tc, test_parse_hostile);
	tcase_add_test(tc, test_parse_huge);
	suite_add_tcase(s, tc);

	tc = tcase_create("fake clamd");
	tcase_add_test(tc, test_scan_found);
	tcase_add_test(tc, test_scan_clean);
	tcase_add_test(tc, test_scan_not);
	tcase_add_test(tc, test_scan_refused);
	tcase_add_test(tc, test_scan_queue_full);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(clamav_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
