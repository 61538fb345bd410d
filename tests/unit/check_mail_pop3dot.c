/*
 * check_mail_pop3dot.c - the POP3 RETR/TOP converter and the POP3
 * command parser.
 *
 * The converter is streaming: the central property is that every way of
 * cutting the input into chunks gives the same output as feeding it
 * whole (trickle tests), and that the content octets it sends are the
 * store's crlf_size plus 2 for a message without a final newline (the
 * size LIST announces).
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mail/pop3dot.h"
#include "pop3d/parse.h"

struct rng {
	uint64_t s;
};

static Suite	*pop3dot_suite(void);
static Suite	*pop3_parse_suite(void);
static char	*conv(const char *, size_t, long, const size_t *, size_t,
		    size_t *);
static char	*conv_whole(const char *, size_t, long, size_t *);
static void	 expect(const char *, size_t, long, const char *, size_t);
static void	 trickle(const char *, size_t, long);
static size_t	 crlf_len(const char *, size_t);
static uint64_t	 rng_next(struct rng *);
static void	 show(char *, size_t, const char *, size_t);

#define S(lit)	lit, sizeof(lit) - 1

static uint64_t
rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

/* Printable form of bytes for failure messages. */
static void
show(char *buf, size_t size, const char *p, size_t len)
{
	size_t o = 0, i;

	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			o += (size_t)snprintf(buf + o, size - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(buf + o, size - o, "\\n");
		else if (c < 32 || c > 126)
			o += (size_t)snprintf(buf + o, size - o, "\\%03o", c);
		else
			buf[o++] = (char)c;
	}
	buf[o < size ? o : size - 1] = '\0';
}

/* Feeds in as chunks of the given sizes (the last takes the rest). */
static char *
conv(const char *in, size_t len, long lines, const size_t *cuts,
    size_t ncuts, size_t *olen_r)
{
	struct pop3dot st;
	char *out = malloc(POP3DOT_OUT_MAX(len) + POP3DOT_FINISH_MAX + 1);
	size_t o = 0, off = 0, i, n;

	ck_assert_msg(out != NULL, "out of memory");
	pop3dot_init(&st, lines);
	for (i = 0; i <= ncuts; i++) {
		n = i < ncuts ? cuts[i] : len - off;
		if (n > len - off)
			n = len - off;
		o += pop3dot_feed(&st, in + off, n, out + o);
		off += n;
	}
	o += pop3dot_finish(&st, out + o);
	out[o] = '\0';
	*olen_r = o;
	return out;
}

static char *
conv_whole(const char *in, size_t len, long lines, size_t *olen_r)
{
	return conv(in, len, lines, NULL, 0, olen_r);
}

static void
expect(const char *in, size_t len, long lines, const char *want,
    size_t wlen)
{
	char a[512], b[512], c[512];
	size_t olen;
	char *out = conv_whole(in, len, lines, &olen);

	show(a, sizeof(a), in, len);
	show(b, sizeof(b), want, wlen);
	show(c, sizeof(c), out, olen);
	ck_assert_msg(olen == wlen && memcmp(out, want, wlen) == 0,
	    "input \"%s\" lines %ld: want \"%s\", got \"%s\"", a, lines, b,
	    c);
	free(out);
	trickle(in, len, lines);
}

/* Every cut into two, into three, and one byte at a time. */
static void
trickle(const char *in, size_t len, long lines)
{
	size_t wlen, olen, i, j, cuts[2];
	char *want = conv_whole(in, len, lines, &wlen), *out, *ones;
	char a[512];

	show(a, sizeof(a), in, len);
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		out = conv(in, len, lines, cuts, 1, &olen);
		ck_assert_msg(olen == wlen && memcmp(out, want, wlen) == 0,
		    "input \"%s\" lines %ld: cut at %zu changes the output",
		    a, lines, i);
		free(out);
		if (len > 64)
			continue;
		for (j = 0; i + j <= len; j++) {
			cuts[1] = j;
			out = conv(in, len, lines, cuts, 2, &olen);
			ck_assert_msg(olen == wlen &&
			    memcmp(out, want, wlen) == 0,
			    "input \"%s\" lines %ld: cuts at %zu+%zu change "
			    "the output", a, lines, i, j);
			free(out);
		}
	}
	{
		size_t *one = malloc((len + 1) * sizeof(*one));

		ck_assert_msg(one != NULL, "out of memory");
		for (i = 0; i < len; i++)
			one[i] = 1;
		ones = conv(in, len, lines, one, len, &olen);
		ck_assert_msg(olen == wlen && memcmp(ones, want, wlen) == 0,
		    "input \"%s\" lines %ld: byte-at-a-time feeding changes "
		    "the output", a, lines);
		free(ones);
		free(one);
	}
	free(want);
}

/* The store's crlf_size: every LF not preceded by CR counts 2. */
static size_t
crlf_len(const char *p, size_t len)
{
	size_t n = len, i;

	for (i = 0; i < len; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			n++;
	return n;
}

START_TEST(test_crlf_kept_bare_lf_converted)
{
	expect(S("a\r\nb\r\n"), POP3DOT_ALL, S("a\r\nb\r\n.\r\n"));
	expect(S("a\nb\n"), POP3DOT_ALL, S("a\r\nb\r\n.\r\n"));
	expect(S("a\nb\r\nc\n"), POP3DOT_ALL, S("a\r\nb\r\nc\r\n.\r\n"));
	expect(S("\n\n"), POP3DOT_ALL, S("\r\n\r\n.\r\n"));
	/* A CR not followed by LF is content. */
	expect(S("a\rb\n"), POP3DOT_ALL, S("a\rb\r\n.\r\n"));
	expect(S("a\r\r\n"), POP3DOT_ALL, S("a\r\r\n.\r\n"));
}
END_TEST

START_TEST(test_dot_stuffing)
{
	expect(S(".\n"), POP3DOT_ALL, S("..\r\n.\r\n"));
	expect(S(".x\r\n..y\n"), POP3DOT_ALL, S("..x\r\n...y\r\n.\r\n"));
	expect(S("a.\n.b"), POP3DOT_ALL, S("a.\r\n..b\r\n.\r\n"));
	/* A dot after a bare CR is not at the start of a line. */
	expect(S("a\r.b\n"), POP3DOT_ALL, S("a\r.b\r\n.\r\n"));
	/* The famous end-of-data line inside a message. */
	expect(S("x\r\n.\r\ny\r\n"), POP3DOT_ALL,
	    S("x\r\n..\r\ny\r\n.\r\n"));
}
END_TEST

START_TEST(test_no_final_newline)
{
	expect(S(""), POP3DOT_ALL, S(".\r\n"));
	expect(S("a"), POP3DOT_ALL, S("a\r\n.\r\n"));
	expect(S("a\nb"), POP3DOT_ALL, S("a\r\nb\r\n.\r\n"));
	expect(S("."), POP3DOT_ALL, S("..\r\n.\r\n"));
	expect(S("a\r"), POP3DOT_ALL, S("a\r\r\n.\r\n"));
}
END_TEST

START_TEST(test_nul_passes)
{
	expect(S("a\0b\n\0\n"), POP3DOT_ALL, S("a\0b\r\n\0\r\n.\r\n"));
	expect(S("\0"), POP3DOT_ALL, S("\0\r\n.\r\n"));
}
END_TEST

START_TEST(test_top)
{
	static const char msg[] = "A: 1\nB: 2\n\nl1\n.l2\nl3\n";

	expect(S(msg), 0, S("A: 1\r\nB: 2\r\n\r\n.\r\n"));
	expect(S(msg), 1, S("A: 1\r\nB: 2\r\n\r\nl1\r\n.\r\n"));
	expect(S(msg), 2, S("A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n"));
	expect(S(msg), 3,
	    S("A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n"));
	expect(S(msg), 100,
	    S("A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n"));
	/* CRLF message, body without final newline. */
	expect(S("A: 1\r\n\r\nx\r\ny"), 0, S("A: 1\r\n\r\n.\r\n"));
	expect(S("A: 1\r\n\r\nx\r\ny"), 5, S("A: 1\r\n\r\nx\r\ny\r\n.\r\n"));
	/* No empty line: all of it is header. */
	expect(S("A: 1\nB: 2"), 0, S("A: 1\r\nB: 2\r\n.\r\n"));
	/* A header line of only CR is not the end of the header. */
	expect(S("A\n\r\r\nB\n\nb\n"), 0, S("A\r\n\r\r\nB\r\n\r\n.\r\n"));
	/* Empty message, empty header. */
	expect(S(""), 0, S(".\r\n"));
	expect(S("\nbody\nmore\n"), 1, S("\r\nbody\r\n.\r\n"));
}
END_TEST

START_TEST(test_top_done)
{
	struct pop3dot st;
	char out[64];

	pop3dot_init(&st, 0);
	ck_assert_int_eq(pop3dot_done(&st), 0);
	pop3dot_feed(&st, "A\n", 2, out);
	ck_assert_int_eq(pop3dot_done(&st), 0);
	ck_assert_uint_eq(pop3dot_feed(&st, "\nbody", 5, out), 2);
	ck_assert_msg(pop3dot_done(&st) == 1, "TOP 0 not done after the "
	    "header");
	/* Later input is ignored. */
	ck_assert_uint_eq(pop3dot_feed(&st, "more\n", 5, out), 0);

	pop3dot_init(&st, POP3DOT_ALL);
	pop3dot_feed(&st, "A\n\nb\n", 5, out);
	ck_assert_int_eq(pop3dot_done(&st), 0);
}
END_TEST

/* Random messages: trickle, size and the output bound. */
START_TEST(test_random_sizes)
{
	static const char alphabet[] = { 'a', '.', '\r', '\n', '\0', ' ' };
	struct rng r = { 0x9e3779b97f4a7c15ULL };
	char in[200], a[512];
	size_t len, olen, dots, i, k, content;
	char *out;
	int noeol;

	for (k = 0; k < 300; k++) {
		len = (size_t)(rng_next(&r) % sizeof(in));
		for (i = 0; i < len; i++)
			in[i] = alphabet[rng_next(&r) % sizeof(alphabet)];
		out = conv_whole(in, len, POP3DOT_ALL, &olen);
		show(a, sizeof(a), in, len);
		ck_assert_msg(olen >= 3 &&
		    memcmp(out + olen - 3, ".\r\n", 3) == 0,
		    "input \"%s\": output does not end in .CRLF", a);
		/* Dots stuffed: one per line that starts with '.'. */
		dots = 0;
		for (i = 0; i < len; i++)
			if (in[i] == '.' && (i == 0 || in[i - 1] == '\n'))
				dots++;
		noeol = len > 0 && in[len - 1] != '\n';
		content = olen - 3 - dots;
		ck_assert_msg(content == crlf_len(in, len) + (noeol ? 2 : 0),
		    "input \"%s\": %zu content octets sent, LIST would say "
		    "%zu", a, content, crlf_len(in, len) + (noeol ? 2 : 0));
		ck_assert_msg(olen - 3 <= POP3DOT_OUT_MAX(len) + 2,
		    "input \"%s\": output over the bound", a);
		free(out);
		if (k % 10 == 0) {
			trickle(in, len, POP3DOT_ALL);
			trickle(in, len, (long)(rng_next(&r) % 4));
		}
	}
}
END_TEST

/* A big message in uneven chunks, as RETR streams it. */
START_TEST(test_large_chunks)
{
	size_t len = 300000, i, olen, olen2, cuts[64], n;
	char *in = malloc(len), *a, *b;
	struct rng r = { 42 };

	ck_assert_msg(in != NULL, "out of memory");
	for (i = 0; i < len; i++) {
		uint64_t x = rng_next(&r) % 40;

		in[i] = x == 0 ? '\n' : x == 1 ? '.' : x == 2 ? '\r' :
		    (char)('a' + x % 26);
	}
	a = conv_whole(in, len, POP3DOT_ALL, &olen);
	for (n = 0; n < 64; n++)
		cuts[n] = (size_t)(rng_next(&r) % 9000) + 1;
	b = conv(in, len, POP3DOT_ALL, cuts, 64, &olen2);
	ck_assert_msg(olen == olen2 && memcmp(a, b, olen) == 0,
	    "uneven chunks change the output of a 300 KB message");
	free(a);
	free(b);
	free(in);
}
END_TEST

/* Parser ------------------------------------------------------------- */

START_TEST(test_parse_verbs)
{
	struct pop3_cmd c;

	ck_assert_int_eq(pop3_parse_line(S("stat"), &c), 0);
	ck_assert_str_eq(c.verb, "STAT");
	ck_assert_uint_eq(c.nargs, 0);
	ck_assert_str_eq(c.rest, "");
	ck_assert_int_eq(pop3_parse_line(S("Top 1 10"), &c), 0);
	ck_assert_str_eq(c.verb, "TOP");
	ck_assert_uint_eq(c.nargs, 2);
	ck_assert_str_eq(c.args[0], "1");
	ck_assert_str_eq(c.args[1], "10");
	/* Extra spaces are tolerated. */
	ck_assert_int_eq(pop3_parse_line(S("LIST  3 "), &c), 0);
	ck_assert_uint_eq(c.nargs, 1);
	ck_assert_str_eq(c.args[0], "3");
	/* More arguments than kept are counted. */
	ck_assert_int_eq(pop3_parse_line(S("RETR 1 2 3 4"), &c), 0);
	ck_assert_uint_eq(c.nargs, 4);
}
END_TEST

START_TEST(test_parse_pass_rest)
{
	struct pop3_cmd c;

	ck_assert_int_eq(pop3_parse_line(S("PASS  my secret  pw "), &c), 0);
	ck_assert_str_eq(c.verb, "PASS");
	ck_assert_str_eq(c.rest, " my secret  pw ");
	ck_assert_uint_eq(c.nargs, 3);
}
END_TEST

START_TEST(test_parse_errors)
{
	struct pop3_cmd c;
	char big[POP3_LINE_MAX + 2];

	ck_assert_int_eq(pop3_parse_line(S("ST\0T"), &c), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "NUL byte in command");
	ck_assert_int_eq(pop3_parse_line(S("USER a\0b"), &c), -1);
	ck_assert_int_eq(pop3_parse_line(S(""), &c), -1);
	ck_assert_int_eq(pop3_parse_line(S(" STAT"), &c), -1);
	ck_assert_int_eq(pop3_parse_line(S("ST"), &c), -1);
	ck_assert_int_eq(pop3_parse_line(S("STATS"), &c), -1);
	ck_assert_int_eq(pop3_parse_line(S("ST4T"), &c), -1);
	ck_assert_str_eq(err_msg(), "unknown command");
	memset(big, 'A', sizeof(big));
	ck_assert_int_eq(pop3_parse_line(big, sizeof(big), &c), -1);
	ck_assert_str_eq(err_msg(), "line too long");
	memcpy(big, "USER ", 5);
	ck_assert_int_eq(pop3_parse_line(big, POP3_LINE_MAX, &c), 0);
	ck_assert_uint_eq(strlen(c.args[0]), POP3_LINE_MAX - 5);
}
END_TEST

START_TEST(test_parse_number)
{
	unsigned long n;

	ck_assert_int_eq(pop3_parse_number("1", ULONG_MAX, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(pop3_parse_number("0", ULONG_MAX, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(pop3_parse_number("007", ULONG_MAX, &n), 0);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_eq(pop3_parse_number("", ULONG_MAX, &n), -1);
	ck_assert_int_eq(pop3_parse_number("+1", ULONG_MAX, &n), -1);
	ck_assert_int_eq(pop3_parse_number("-1", ULONG_MAX, &n), -1);
	ck_assert_int_eq(pop3_parse_number("1x", ULONG_MAX, &n), -1);
	ck_assert_int_eq(pop3_parse_number("99999999999999999999999",
	    ULONG_MAX, &n), -1);
	ck_assert_int_eq(pop3_parse_number("10", 10, &n), 0);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(pop3_parse_number("11", 10, &n), -1);
	ck_assert_int_eq(pop3_parse_number("5", 3, &n), -1);
}
END_TEST

static Suite *
pop3dot_suite(void)
{
	Suite *s = suite_create("mail_pop3dot");
	TCase *tc = tcase_create("convert");

	tcase_add_test(tc, test_crlf_kept_bare_lf_converted);
	tcase_add_test(tc, test_dot_stuffing);
	tcase_add_test(tc, test_no_final_newline);
	tcase_add_test(tc, test_nul_passes);
	tcase_add_test(tc, test_top);
	tcase_add_test(tc, test_top_done);
	tcase_add_test(tc, test_random_sizes);
	tcase_add_test(tc, test_large_chunks);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
pop3_parse_suite(void)
{
	Suite *s = suite_create("pop3_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_verbs);
	tcase_add_test(tc, test_parse_pass_rest);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_number);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pop3dot_suite());
	int failed;

	srunner_add_suite(sr, pop3_parse_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
