/*
 * check_lineread.c - the bounded line reader: line ends with and without
 * bare LF, NUL bytes, a CR at the end of the buffer, over-long lines
 * skipped and reported once, and trickle tests (the same input split at
 * every offset and fed one byte at a time gives the same lines).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lineread.h"

/* Events of a run, as text: "L<len>:<bytes>\n" per line, "TOOLONG\n". */
#define EVENTS_MAX	65536
#define INPUT_MAX	4096
/*
 * ck_assert_msg() records a mark on every call, which is a system call
 * in fork mode: the hot loops below test first and only then fail.
 */
#define EXPECT(cond, ...) do {			\
	if (!(cond))				\
		ck_abort_msg(__VA_ARGS__);	\
} while (0)

struct feeder {
	struct lineread	lr;
	char		buf[INPUT_MAX + 1];
	size_t		len;		/* bytes held, not yet consumed */
	size_t		most;		/* largest len after a drain */
	char		ev[EVENTS_MAX];
	size_t		evlen;
};

static Suite	*lineread_suite(void);
static void	ev_add(char *ev, size_t *evlen, const char *s, size_t n);
static void	feeder_init(struct feeder *, size_t max, int bare_lf);
static void	feeder_feed(struct feeder *, const char *, size_t);
static void	reference(const char *in, size_t len, size_t max,
		    int bare_lf, char *ev, size_t *evlen);
static void	trickle(const char *in, size_t len, size_t max, int bare_lf,
		    const char *want, size_t wantlen);

static void
ev_add(char *ev, size_t *evlen, const char *s, size_t n)
{
	EXPECT(*evlen + n < EVENTS_MAX, "event log overflow");
	memcpy(ev + *evlen, s, n);
	*evlen += n;
	ev[*evlen] = '\0';
}

static void
feeder_init(struct feeder *f, size_t max, int bare_lf)
{
	f->len = 0;
	f->most = 0;
	f->evlen = 0;
	f->ev[0] = '\0';
	lineread_init(&f->lr, max, bare_lf);
}

/* Appends bytes, then takes out every line the reader finds. */
static void
feeder_feed(struct feeder *f, const char *in, size_t n)
{
	enum lineread_result r;
	size_t consumed, linelen;
	char head[32];

	EXPECT(f->len + n <= INPUT_MAX, "feeder buffer overflow "
	    "(%zu held + %zu new): the reader kept too much", f->len, n);
	memcpy(f->buf + f->len, in, n);
	f->len += n;
	for (;;) {
		consumed = linelen = 999999;
		r = lineread_next(&f->lr, f->buf, f->len, &consumed,
		    &linelen);
		EXPECT(consumed <= f->len, "consumed %zu of %zu bytes",
		    consumed, f->len);
		if (r == LINE_OK) {
			EXPECT(linelen < consumed, "line of %zu bytes "
			    "but only %zu consumed", linelen, consumed);
			snprintf(head, sizeof(head), "L%zu:", linelen);
			ev_add(f->ev, &f->evlen, head, strlen(head));
			ev_add(f->ev, &f->evlen, f->buf, linelen);
			ev_add(f->ev, &f->evlen, "\n", 1);
		} else if (r == LINE_TOOLONG) {
			EXPECT(consumed > 0, "TOOLONG consumed nothing");
			ev_add(f->ev, &f->evlen, "TOOLONG\n", 8);
		} else
			EXPECT(r == LINE_NEED_MORE, "result %d", r);
		memmove(f->buf, f->buf + consumed, f->len - consumed);
		f->len -= consumed;
		if (r == LINE_NEED_MORE)
			break;
	}
	if (f->len > f->most)
		f->most = f->len;
}

/*
 * An independent model over the whole input: a line ends at CRLF (or
 * at LF with bare_lf); its CR is not part of it; content over max is
 * TOOLONG; an unfinished tail gives nothing.
 */
static void
reference(const char *in, size_t len, size_t max, int bare_lf, char *ev,
    size_t *evlen)
{
	size_t start = 0, i, n;
	char head[32];

	*evlen = 0;
	ev[0] = '\0';
	for (i = 0; i < len; i++) {
		if (in[i] != '\n')
			continue;
		if (!bare_lf && (i == start || in[i - 1] != '\r'))
			continue;
		n = i - start;
		if (n > 0 && in[i - 1] == '\r')
			n--;
		if (n > max)
			ev_add(ev, evlen, "TOOLONG\n", 8);
		else {
			snprintf(head, sizeof(head), "L%zu:", n);
			ev_add(ev, evlen, head, strlen(head));
			ev_add(ev, evlen, in + start, n);
			ev_add(ev, evlen, "\n", 1);
		}
		start = i + 1;
	}
}

/*
 * Feeds in whole, in two parts split at every offset, in three parts,
 * and one byte at a time; every run must give want.  The reader may
 * never make its caller hold more than max + 1 bytes between reads.
 */
static void
trickle(const char *in, size_t len, size_t max, int bare_lf,
    const char *want, size_t wantlen)
{
	static struct feeder f;
	size_t i, j;

	feeder_init(&f, max, bare_lf);
	feeder_feed(&f, in, len);
	EXPECT(f.evlen == wantlen && memcmp(f.ev, want, wantlen) == 0,
	    "whole input (max %zu, bare_lf %d): got\n%s\nwanted\n%s", max,
	    bare_lf, f.ev, want);

	for (i = 0; i <= len; i++) {
		feeder_init(&f, max, bare_lf);
		feeder_feed(&f, in, i);
		feeder_feed(&f, in + i, len - i);
		EXPECT(f.evlen == wantlen &&
		    memcmp(f.ev, want, wantlen) == 0, "split at %zu (max %zu, "
		    "bare_lf %d): got\n%s\nwanted\n%s", i, max, bare_lf, f.ev,
		    want);
	}
	if (len <= 64) {
		for (i = 0; i <= len; i++)
			for (j = i; j <= len; j++) {
				feeder_init(&f, max, bare_lf);
				feeder_feed(&f, in, i);
				feeder_feed(&f, in + i, j - i);
				feeder_feed(&f, in + j, len - j);
				EXPECT(f.evlen == wantlen &&
				    memcmp(f.ev, want, wantlen) == 0,
				    "split at %zu and %zu: got\n%s\nwanted\n"
				    "%s", i, j, f.ev, want);
			}
	}

	feeder_init(&f, max, bare_lf);
	for (i = 0; i < len; i++) {
		feeder_feed(&f, in + i, 1);
		EXPECT(f.len <= max + 1, "after byte %zu the caller "
		    "holds %zu bytes, over max %zu + a CR", i, f.len, max);
	}
	EXPECT(f.evlen == wantlen && memcmp(f.ev, want, wantlen) == 0,
	    "one byte at a time (max %zu, bare_lf %d): got\n%s\nwanted\n%s",
	    max, bare_lf, f.ev, want);
}

#define TRICKLE(in, max, bare, want) \
	trickle((in), sizeof(in) - 1, (max), (bare), (want), sizeof(want) - 1)

START_TEST(test_crlf_lines)
{
	TRICKLE("USER bob\r\nPASS x\r\n\r\nQUIT\r\n", 32, 0,
	    "L8:USER bob\nL6:PASS x\nL0:\nL4:QUIT\n");
	TRICKLE("USER bob\r\nPASS x\r\n\r\nQUIT\r\n", 32, 1,
	    "L8:USER bob\nL6:PASS x\nL0:\nL4:QUIT\n");
}
END_TEST

START_TEST(test_bare_lf_off)
{
	/* Without bare_lf an LF alone is part of the line. */
	TRICKLE("a\nb\r\n\nc\r\n", 32, 0, "L3:a\nb\nL2:\nc\n");
	TRICKLE("\n\n\r\n", 32, 0, "L2:\n\n\n");
	/* A CR alone is part of the line too. */
	TRICKLE("a\rb\r\r\n", 32, 0, "L4:a\rb\r\n");
}
END_TEST

START_TEST(test_bare_lf_on)
{
	TRICKLE("a\nb\r\n\nc\n", 32, 1, "L1:a\nL1:b\nL0:\nL1:c\n");
	/* Only the one CR right before the LF is dropped. */
	TRICKLE("a\r\r\nb\rc\n", 32, 1, "L2:a\r\nL3:b\rc\n");
	TRICKLE("\r\n\n", 32, 1, "L0:\nL0:\n");
}
END_TEST

START_TEST(test_nul_bytes)
{
	TRICKLE("a\0b\r\n\0\r\n\0\0\0\n\r\n", 32, 0,
	    "L3:a\0b\nL1:\0\nL4:\0\0\0\n\n");
	TRICKLE("a\0b\n\0\n", 32, 1, "L3:a\0b\nL1:\0\n");
}
END_TEST

START_TEST(test_cr_at_buffer_end)
{
	struct lineread lr;
	size_t consumed, linelen;
	enum lineread_result r;

	lineread_init(&lr, 3, 0);
	/* "abc" + CR: exactly the limit, the LF may still come. */
	r = lineread_next(&lr, "abc\r", 4, &consumed, &linelen);
	ck_assert_msg(r == LINE_NEED_MORE && consumed == 0, "abc<CR>: result "
	    "%d consumed %zu, wanted NEED_MORE and 0", r, consumed);
	ck_assert_int_eq(lr.skipping, 0);
	r = lineread_next(&lr, "abc\r\n", 5, &consumed, &linelen);
	ck_assert_msg(r == LINE_OK && consumed == 5 && linelen == 3,
	    "abc<CR><LF>: result %d consumed %zu len %zu", r, consumed,
	    linelen);
	/* The CR was content after all: now the line is too long. */
	r = lineread_next(&lr, "abc\rx", 5, &consumed, &linelen);
	ck_assert_msg(r == LINE_NEED_MORE && consumed == 5 && lr.skipping,
	    "abc<CR>x: result %d consumed %zu skipping %d", r, consumed,
	    lr.skipping);
	/* While skipping, a final CR is kept for the next call. */
	r = lineread_next(&lr, "yy\r", 3, &consumed, &linelen);
	ck_assert_msg(r == LINE_NEED_MORE && consumed == 2, "skipping yy<CR>: "
	    "result %d consumed %zu, wanted NEED_MORE and 2", r, consumed);
	r = lineread_next(&lr, "\r\nok\r\n", 6, &consumed, &linelen);
	ck_assert_msg(r == LINE_TOOLONG && consumed == 2, "<CR><LF> ends the "
	    "skipped line: result %d consumed %zu", r, consumed);
	ck_assert_int_eq(lr.skipping, 0);
	r = lineread_next(&lr, "ok\r\n", 4, &consumed, &linelen);
	ck_assert_msg(r == LINE_OK && linelen == 2, "then ok: %d", r);

	/* An empty buffer and a lone CR. */
	lineread_init(&lr, 0, 0);
	r = lineread_next(&lr, "", 0, &consumed, &linelen);
	ck_assert_msg(r == LINE_NEED_MORE && consumed == 0, "empty: %d", r);
	r = lineread_next(&lr, "\r", 1, &consumed, &linelen);
	ck_assert_msg(r == LINE_NEED_MORE && consumed == 0, "CR: %d %zu", r,
	    consumed);
	r = lineread_next(&lr, "\r\n", 2, &consumed, &linelen);
	ck_assert_msg(r == LINE_OK && linelen == 0 && consumed == 2,
	    "max 0 takes empty lines: %d", r);

	TRICKLE("abc\r\rd\r\n", 8, 0, "L6:abc\r\rd\n");
	TRICKLE("abc\r\r\n", 4, 1, "L4:abc\r\n");
}
END_TEST

START_TEST(test_limit_edges)
{
	/* Exactly max is fine, max + 1 is not, with either line end. */
	TRICKLE("12345678\r\n123456789\r\nok\r\n", 8, 0,
	    "L8:12345678\nTOOLONG\nL2:ok\n");
	TRICKLE("12345678\n123456789\nok\n", 8, 1,
	    "L8:12345678\nTOOLONG\nL2:ok\n");
	TRICKLE("12345678\r\n123456789\r\n", 8, 1,
	    "L8:12345678\nTOOLONG\n");
	/* A bare LF counts toward the length when it is content. */
	TRICKLE("1234567\n\r\n", 8, 0, "L8:1234567\n\n");
	TRICKLE("12345678\n\r\n", 8, 0, "TOOLONG\n");
	TRICKLE("\r\n\r\nx\r\n", 0, 0, "L0:\nL0:\nTOOLONG\n");
}
END_TEST

START_TEST(test_long_lines_skipped_once)
{
	static char in[3000];
	static struct feeder f;
	size_t n, i;

	/* Two long lines in a row, then a good one. */
	TRICKLE("aaaaaaaaaaaaaaaaaaaa\r\nbbbbbbbbbbbbbbbbbbbbbbbbb\r\nok\r\n",
	    4, 0, "TOOLONG\nTOOLONG\nL2:ok\n");
	/* A long line full of CRs and bare LFs that do not end it. */
	TRICKLE("x\rx\nx\r\rx\n\nxxxx\r\r\r\r\nok\r\n", 4, 0,
	    "TOOLONG\nL2:ok\n");
	TRICKLE("x\rx\rx\r\rx\r\rxxxx\r\r\r\r\nok\n", 4, 1,
	    "TOOLONG\nL2:ok\n");

	/* 2000 bytes against a limit of 10, in reads of 7: one report. */
	memset(in, 'z', 2000);
	n = 2000;
	memcpy(in + n, "\r\nnext\r\n", 8);
	n += 8;
	feeder_init(&f, 10, 0);
	for (i = 0; i < n; i += 7)
		feeder_feed(&f, in + i, n - i < 7 ? n - i : 7);
	ck_assert_msg(strcmp(f.ev, "TOOLONG\nL4:next\n") == 0, "2000-byte "
	    "line in reads of 7: got\n%s", f.ev);
	ck_assert_msg(f.most <= 11, "the caller had to hold %zu bytes",
	    f.most);
}
END_TEST

START_TEST(test_random_against_model)
{
	static const char alphabet[] = { 'a', 'a', 'b', '\r', '\n', '\0' };
	static char in[200], want[EVENTS_MAX];
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	size_t round, i, len, max, wantlen;
	int bare_lf;

	for (round = 0; round < 300; round++) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		len = (size_t)(s % 120);
		max = (size_t)((s >> 8) % 12);
		bare_lf = (int)((s >> 16) & 1);
		for (i = 0; i < len; i++) {
			s ^= s >> 12;
			s ^= s << 25;
			s ^= s >> 27;
			in[i] = alphabet[(s >> 33) % sizeof(alphabet)];
		}
		reference(in, len, max, bare_lf, want, &wantlen);
		trickle(in, len, max, bare_lf, want, wantlen);
	}
}
END_TEST

static Suite *
lineread_suite(void)
{
	Suite *s = suite_create("lineread");
	TCase *tc = tcase_create("lineread");

	tcase_add_test(tc, test_crlf_lines);
	tcase_add_test(tc, test_bare_lf_off);
	tcase_add_test(tc, test_bare_lf_on);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_cr_at_buffer_end);
	tcase_add_test(tc, test_limit_edges);
	tcase_add_test(tc, test_long_lines_skipped_once);
	tcase_add_test(tc, test_random_against_model);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lineread_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
