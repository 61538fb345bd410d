/*
 * check_mta_reply.c - the SMTP reply reader and the EHLO keyword parser
 * (mta/reply.c): one-line and multiline replies, enhanced status codes,
 * bare LF, every protocol error (bad code, mixed codes, too many lines, a
 * line over the limit), text cut at MTA_REPLY_MAX, and trickle tests (the
 * same input whole, split at every offset, and byte by byte gives the same
 * replies).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mta/reply.h"

#define EVENTS_MAX	(64 * 1024)
#define HOLD_MAX	(64 * 1024)

#define EXPECT(cond, ...) do {			\
	if (!(cond))				\
		ck_abort_msg(__VA_ARGS__);	\
} while (0)

/* A client's input buffer: bytes held, fed to the reader as they come. */
struct feeder {
	struct mta_reply_reader	rd;
	char			buf[HOLD_MAX];
	size_t			len;
	int			failed;
	char			ev[EVENTS_MAX];
	size_t			evlen;
};

static Suite	*reply_suite(void);
static void	feeder_init(struct feeder *);
static void	feeder_feed(struct feeder *, const char *, size_t);
static void	run(const char *, size_t, size_t, char *, size_t);
static void	check_all_splits(const char *, size_t, const char *);
static const struct mta_reply *one(const char *);

static void
feeder_init(struct feeder *f)
{
	memset(f, 0, sizeof(*f));
	mta_reply_init(&f->rd);
}

/* Adds bytes, then reads every complete reply; events go to f->ev. */
static void
feeder_feed(struct feeder *f, const char *s, size_t n)
{
	const struct mta_reply *r;
	size_t used, want;
	int rc, w;

	if (f->failed)
		return;
	EXPECT(f->len + n <= HOLD_MAX, "feeder overflow");
	memcpy(f->buf + f->len, s, n);
	f->len += n;
	for (;;) {
		want = f->len < MTA_REPLY_LINE_MAX + 2 ? f->len :
		    MTA_REPLY_LINE_MAX + 2;
		rc = mta_reply_read(&f->rd, f->buf, want, &used);
		EXPECT(used <= want, "consumed %zu of %zu", used, want);
		memmove(f->buf, f->buf + used, f->len - used);
		f->len -= used;
		if (rc < 0) {
			w = snprintf(f->ev + f->evlen, EVENTS_MAX - f->evlen,
			    "ERR\n");
			f->evlen += (size_t)w;
			f->failed = 1;
			return;
		}
		if (rc == 0 && used > 0)
			continue;
		if (rc == 0) {
			EXPECT(f->len <= MTA_REPLY_LINE_MAX + 1, "need more "
			    "with %zu bytes held", f->len);
			return;
		}
		r = &f->rd.reply;
		EXPECT(strlen(r->text) == r->textlen, "textlen %zu, strlen "
		    "%zu", r->textlen, strlen(r->text));
		w = snprintf(f->ev + f->evlen, EVENTS_MAX - f->evlen,
		    "%d|%s|%zu|%d|%zu|%.64s\n", r->code, r->enhanced,
		    r->nlines, r->truncated, r->textlen, r->text);
		EXPECT(w > 0 && (size_t)w < EVENTS_MAX - f->evlen,
		    "event overflow");
		f->evlen += (size_t)w;
	}
}

/* The events of in[] fed in pieces of `piece` bytes (0: whole). */
static void
run(const char *in, size_t len, size_t piece, char *ev, size_t evmax)
{
	static struct feeder f;
	size_t pos, n;

	feeder_init(&f);
	if (piece == 0)
		piece = len > 0 ? len : 1;
	for (pos = 0; pos < len; pos += n) {
		n = len - pos < piece ? len - pos : piece;
		feeder_feed(&f, in + pos, n);
	}
	snprintf(ev, evmax, "%s", f.ev);
}

/* Whole, split at every offset, byte by byte: the same events, = want. */
static void
check_all_splits(const char *in, size_t len, const char *want)
{
	static char whole[EVENTS_MAX], got[EVENTS_MAX];
	static struct feeder f;
	size_t cut;

	run(in, len, 0, whole, sizeof(whole));
	EXPECT(strcmp(whole, want) == 0, "whole: got\n%s\nwant\n%s", whole,
	    want);
	run(in, len, 1, got, sizeof(got));
	EXPECT(strcmp(got, whole) == 0, "byte by byte: got\n%s\nwhole\n%s",
	    got, whole);
	for (cut = 1; cut < len; cut++) {
		feeder_init(&f);
		feeder_feed(&f, in, cut);
		feeder_feed(&f, in + cut, len - cut);
		EXPECT(strcmp(f.ev, whole) == 0, "split at %zu: got\n%s\n"
		    "whole\n%s", cut, f.ev, whole);
	}
}

/* The one reply in s (which must be complete). */
static const struct mta_reply *
one(const char *s)
{
	static struct mta_reply_reader rd;
	size_t used;
	int rc;

	mta_reply_init(&rd);
	rc = mta_reply_read(&rd, s, strlen(s), &used);
	ck_assert_msg(rc == 1, "no reply from %s: rc %d (%s)", s, rc,
	    rc < 0 ? err_msg() : "");
	ck_assert_msg(used == strlen(s), "consumed %zu of %zu", used,
	    strlen(s));
	return &rd.reply;
}

START_TEST(test_single_line)
{
	const struct mta_reply *r;

	r = one("250 ok\r\n");
	ck_assert_int_eq(r->code, 250);
	ck_assert_str_eq(r->enhanced, "");
	ck_assert_str_eq(r->text, "ok");
	ck_assert_uint_eq(r->nlines, 1);
	r = one("250\r\n");
	ck_assert_int_eq(r->code, 250);
	ck_assert_str_eq(r->text, "");
	r = one("354 \r\n");
	ck_assert_int_eq(r->code, 354);
	ck_assert_str_eq(r->text, "");
	/* a bare LF ends a line too */
	r = one("221 bye\n");
	ck_assert_int_eq(r->code, 221);
	ck_assert_str_eq(r->text, "bye");
}
END_TEST

START_TEST(test_multiline)
{
	const struct mta_reply *r;

	r = one("250-mx.example.test hi\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
	ck_assert_int_eq(r->code, 250);
	ck_assert_str_eq(r->text, "mx.example.test hi\nPIPELINING\nSIZE 1000");
	ck_assert_uint_eq(r->nlines, 3);
	r = one("550-5.1.1 first\r\n550-5.1.1 second\r\n550 5.1.1 third\r\n");
	ck_assert_str_eq(r->enhanced, "5.1.1");
	ck_assert_str_eq(r->text, "first\nsecond\nthird");
	/* "250-" alone, then the last line "250" alone */
	r = one("250-\r\n250\r\n");
	ck_assert_str_eq(r->text, "\n");
	ck_assert_uint_eq(r->nlines, 2);
}
END_TEST

START_TEST(test_enhanced)
{
	const struct mta_reply *r;

	r = one("550 5.1.1 <a@b>: Recipient address rejected\r\n");
	ck_assert_str_eq(r->enhanced, "5.1.1");
	ck_assert_str_eq(r->text, "<a@b>: Recipient address rejected");
	r = one("452 4.2.2 Mailbox full\r\n");
	ck_assert_str_eq(r->enhanced, "4.2.2");
	r = one("250 2.0.0\r\n");
	ck_assert_str_eq(r->enhanced, "2.0.0");
	ck_assert_str_eq(r->text, "");
	r = one("250 2.100.999 x\r\n");
	ck_assert_str_eq(r->enhanced, "2.100.999");
	/* not one: class differs from the code, a fourth digit, no dot */
	r = one("550 2.1.1 x\r\n");
	ck_assert_str_eq(r->enhanced, "");
	ck_assert_str_eq(r->text, "2.1.1 x");
	r = one("550 5.1.1000 x\r\n");
	ck_assert_str_eq(r->enhanced, "");
	r = one("550 5.1 x\r\n");
	ck_assert_str_eq(r->enhanced, "");
	r = one("550 5.1.1x\r\n");
	ck_assert_str_eq(r->enhanced, "");
	/* a later line with another code keeps it in its text */
	r = one("550-5.1.1 a\r\n550 5.7.1 b\r\n");
	ck_assert_str_eq(r->text, "a\n5.7.1 b");
}
END_TEST

START_TEST(test_controls)
{
	static const char in[] = "250 a\0b\x01" "c\td\x7f\r\n";
	struct mta_reply_reader rd;
	size_t used;

	mta_reply_init(&rd);
	ck_assert_int_eq(mta_reply_read(&rd, in, sizeof(in) - 1, &used), 1);
	ck_assert_str_eq(rd.reply.text, "a?b?c\td?");
	/* a bare CR inside a line is text, not a line end */
	ck_assert_str_eq(one("250 a\rb\r\n")->text, "a?b");
}
END_TEST

START_TEST(test_errors)
{
	static const char *const bad[] = {
		"25 x\r\n", "abc\r\n", "250x\r\n", "2500\r\n", "600 x\r\n",
		"150 x\r\n", "260 x\r\n", "\r\n", "250-a\r\n251 b\r\n",
		"250-a\r\nxyz\r\n", " 250 a\r\n",
	};
	struct mta_reply_reader rd;
	size_t i, used;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mta_reply_init(&rd);
		ck_assert_msg(mta_reply_read(&rd, bad[i], strlen(bad[i]),
		    &used) == -1, "no error for \"%s\"", bad[i]);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		/* and it stays failed */
		ck_assert_int_eq(mta_reply_read(&rd, "250 ok\r\n", 8, &used),
		    -1);
	}
}
END_TEST

START_TEST(test_too_many_lines)
{
	static char in[MTA_REPLY_LINES_MAX * 8 + 16];
	struct mta_reply_reader rd;
	size_t i, o = 0, used;

	for (i = 0; i + 1 < MTA_REPLY_LINES_MAX; i++)
		o += (size_t)sprintf(in + o, "250-x\r\n");
	o += (size_t)sprintf(in + o, "250 x\r\n");
	mta_reply_init(&rd);
	ck_assert_int_eq(mta_reply_read(&rd, in, o, &used), 1);
	ck_assert_uint_eq(rd.reply.nlines, MTA_REPLY_LINES_MAX);
	/* one more line than allowed */
	o = 0;
	for (i = 0; i < MTA_REPLY_LINES_MAX; i++)
		o += (size_t)sprintf(in + o, "250-x\r\n");
	o += (size_t)sprintf(in + o, "250 x\r\n");
	mta_reply_init(&rd);
	ck_assert_int_eq(mta_reply_read(&rd, in, o, &used), -1);
}
END_TEST

START_TEST(test_line_limit)
{
	static char in[2 * MTA_REPLY_LINE_MAX + 16];
	static char ev[EVENTS_MAX];
	static char want[256];
	size_t o;

	/* exactly the limit: fine, also fed byte by byte */
	memcpy(in, "250 ", 4);
	memset(in + 4, 'x', MTA_REPLY_LINE_MAX - 4);
	memcpy(in + MTA_REPLY_LINE_MAX, "\r\n", 2);
	o = MTA_REPLY_LINE_MAX + 2;
	snprintf(want, sizeof(want), "250||1|0|%d|%.64s\n",
	    MTA_REPLY_LINE_MAX - 4, in + 4);
	run(in, o, 1, ev, sizeof(ev));
	ck_assert_str_eq(ev, want);
	run(in, o, 0, ev, sizeof(ev));
	ck_assert_str_eq(ev, want);
	/* one byte more: an error, whole or byte by byte, also without
	   its line end ever arriving */
	memcpy(in, "250 ", 4);
	memset(in + 4, 'x', MTA_REPLY_LINE_MAX - 3);
	memcpy(in + MTA_REPLY_LINE_MAX + 1, "\r\n", 2);
	run(in, MTA_REPLY_LINE_MAX + 3, 0, ev, sizeof(ev));
	ck_assert_str_eq(ev, "ERR\n");
	run(in, MTA_REPLY_LINE_MAX + 3, 1, ev, sizeof(ev));
	ck_assert_str_eq(ev, "ERR\n");
	run(in, MTA_REPLY_LINE_MAX + 1, 1, ev, sizeof(ev));
	ck_assert_str_eq(ev, "ERR\n");
	/* the limit plus a CR that may start the CRLF: still waiting */
	run(in, MTA_REPLY_LINE_MAX, 1, ev, sizeof(ev));
	ck_assert_str_eq(ev, "");
}
END_TEST

START_TEST(test_truncated)
{
	static char in[4 * MTA_REPLY_LINE_MAX];
	const struct mta_reply *r;
	size_t o = 0;
	int i;

	for (i = 0; i < 3; i++) {
		o += (size_t)sprintf(in + o, "550%c", i < 2 ? '-' : ' ');
		memset(in + o, 'a' + i, 2000);
		o += 2000;
		memcpy(in + o, "\r\n", 2);
		o += 2;
	}
	in[o] = '\0';
	r = one(in);
	ck_assert_int_eq(r->code, 550);
	ck_assert_int_eq(r->truncated, 1);
	ck_assert_uint_eq(r->textlen, MTA_REPLY_MAX - 1);
	ck_assert_uint_eq(r->nlines, 3);
	ck_assert_int_eq(r->text[2000], '\n');
	ck_assert_int_eq(r->text[MTA_REPLY_MAX - 2], 'c');
	/* offered in pieces of at most a line's limit, as a client does */
	check_all_splits(in, o, "550||3|1|4095|aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
}
END_TEST

START_TEST(test_trickle)
{
	static const char in[] =
	    "220 mx.example.test ESMTP\r\n"
	    "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\n"
	    "250 8BITMIME\r\n"
	    "250 2.1.0 Ok\r\n"
	    "550-5.1.1 <x@y>: no\r\n550 5.1.1 such user\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250\r\n";
	static const char want[] =
	    "220||1|0|21|mx.example.test ESMTP\n"
	    "250||4|0|49|mx.example.test\nPIPELINING\nSIZE 10240000\n8BITMIME\n"
	    "250|2.1.0|1|0|2|Ok\n"
	    "550|5.1.1|2|0|19|<x@y>: no\nsuch user\n"
	    "354||1|0|31|End data with <CR><LF>.<CR><LF>\n"
	    "250||1|0|0|\n";
	static const char bad[] =
	    "250 first\r\n250-a\r\n251 b\r\n250 never\r\n";

	check_all_splits(in, sizeof(in) - 1, want);
	check_all_splits(bad, sizeof(bad) - 1, "250||1|0|5|first\nERR\n");
}
END_TEST

START_TEST(test_ehlo)
{
	struct mta_reply_ehlo e;

	mta_reply_ehlo_parse(one("250-mx.example.test Hello\r\n"
	    "250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
	    "250-smtputf8\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN XOAUTH2\r\n"
	    "250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n"), &e);
	ck_assert_int_eq(e.esmtp, 1);
	ck_assert_int_eq(e.pipelining, 1);
	ck_assert_int_eq(e.size, 1);
	ck_assert_uint_eq(e.size_max, 10240000);
	ck_assert_int_eq(e.eightbitmime, 1);
	ck_assert_int_eq(e.smtputf8, 1);
	ck_assert_int_eq(e.starttls, 1);
	ck_assert_uint_eq(e.auth, MTA_AUTH_PLAIN | MTA_AUTH_LOGIN |
	    MTA_AUTH_OTHER);
	ck_assert_int_eq(e.dsn, 1);
	ck_assert_int_eq(e.enhancedstatuscodes, 1);
	ck_assert_int_eq(e.chunking, 1);

	/* the old AUTH= form; SIZE alone; the name line is no keyword */
	mta_reply_ehlo_parse(one("250-PIPELINING\r\n250-AUTH=LOGIN\r\n"
	    "250 SIZE\r\n"), &e);
	ck_assert_int_eq(e.pipelining, 0);
	ck_assert_uint_eq(e.auth, MTA_AUTH_LOGIN);
	ck_assert_int_eq(e.size, 1);
	ck_assert_uint_eq(e.size_max, 0);

	/* bad SIZE values: offered, no limit known */
	mta_reply_ehlo_parse(one("250-x\r\n250 SIZE 99999999999999999999999"
	    "\r\n"), &e);
	ck_assert_int_eq(e.size, 1);
	ck_assert_uint_eq(e.size_max, 0);
	mta_reply_ehlo_parse(one("250-x\r\n250 SIZE 12k\r\n"), &e);
	ck_assert_uint_eq(e.size_max, 0);

	/* a one-line reply offers nothing; near misses are not keywords */
	mta_reply_ehlo_parse(one("250 mx.example.test\r\n"), &e);
	ck_assert_int_eq(e.pipelining + e.size + e.starttls + e.dsn, 0);
	mta_reply_ehlo_parse(one("250-x\r\n250-PIPELININGX\r\n250-DSNX\r\n"
	    "250 STARTTLS2\r\n"), &e);
	ck_assert_int_eq(e.pipelining + e.dsn + e.starttls, 0);
}
END_TEST

static Suite *
reply_suite(void)
{
	Suite *s = suite_create("mta_reply");
	TCase *tc = tcase_create("reply");

	tcase_add_test(tc, test_single_line);
	tcase_add_test(tc, test_multiline);
	tcase_add_test(tc, test_enhanced);
	tcase_add_test(tc, test_controls);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_too_many_lines);
	tcase_add_test(tc, test_line_limit);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_trickle);
	tcase_add_test(tc, test_ehlo);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reply_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
