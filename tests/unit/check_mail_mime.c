/*
 * check_mail_mime.c - the MIME header helpers and mime_segments().
 *
 * The segment tests build messages whose large part bodies are known by
 * offset and length, then compare them with the MIME_SEG_PART segments
 * that mime_segments() returns.  A seeded generator builds random MIME
 * trees (multipart, message/rfc822, LF, CRLF and mixed line ends) and
 * checks the same property on each; the corpus test walks every file of
 * mime-torture (VELLUM_CORPUS/mime-torture) at many prefix lengths.
 */
#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mail/mime.h"

struct sb {
	uint8_t	*p;
	size_t	 len, cap;
};

struct rng {
	uint64_t s;
};

/* A random MIME tree writer and the PART segments it expects. */
struct gen {
	struct sb		*m;
	struct rng		*rng;
	size_t			 min_part;
	int			 eolmode;	/* 0 LF, 1 CRLF, 2 mixed */
	unsigned		 nextid;
	struct mime_segment	*want;
	size_t			 nwant, capwant;
};

static Suite	*mime_suite(void);
static void	 sb_add(struct sb *, const void *, size_t);
static void	 sb_adds(struct sb *, const char *);
static void	 sb_addf(struct sb *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 sb_free(struct sb *);
static uint64_t	 rng_next(struct rng *);
static uint64_t	 rng_below(struct rng *, uint64_t);
static void	 fill_text(struct sb *, struct rng *, size_t, const char *);
static size_t	 check_cover(const uint8_t *, size_t, size_t,
		    const struct mime_segment *, size_t, const char *);
static size_t	 count_parts(const struct mime_segment *, size_t);
static void	 gen_entity(struct gen *, int);
static double	 now(void);

static void
sb_add(struct sb *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap == 0 ? 256 : b->cap * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_msg(b->p != NULL, "out of memory (%zu bytes)", b->cap);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_adds(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_addf(struct sb *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < sizeof(tmp), "sb_addf overflow");
	sb_add(b, tmp, (size_t)n);
}

static void
sb_free(struct sb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static uint64_t
rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

static uint64_t
rng_below(struct rng *r, uint64_t n)
{
	return n == 0 ? 0 : rng_next(r) % n;
}

/*
 * Appends exactly n bytes of text lines.  No line starts with '-', so
 * the text never holds a delimiter; eol is the line end to use (NULL:
 * pick LF or CRLF at random for each line).  A line end is never cut in
 * half, so the text never ends in a lone CR.
 */
static void
fill_text(struct sb *b, struct rng *r, size_t n, const char *eol)
{
	static const char alpha[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t col = 0, end = b->len + n;

	while (b->len < end) {
		const char *e = eol != NULL ? eol :
		    rng_below(r, 2) ? "\r\n" : "\n";
		size_t el = strlen(e);

		if (col > 0 && rng_below(r, 60) == 0 && b->len + el <= end) {
			sb_add(b, e, el);
			col = 0;
			continue;
		}
		if (col > 0 && rng_below(r, 8) == 0) {
			sb_add(b, " ", 1);
		} else {
			char c = alpha[rng_below(r, sizeof(alpha) - 1)];

			sb_add(b, &c, 1);
		}
		col++;
	}
}

/*
 * Asserts that segs cover [0, len) exactly, in order, with no empty
 * segment, a HEADER first (of mime_header_end() bytes) and every PART at
 * least min_part long.  Returns the number of PART segments.
 */
static size_t
check_cover(const uint8_t *data, size_t len, size_t min_part,
    const struct mime_segment *segs, size_t n, const char *what)
{
	size_t i, pos = 0, hend;

	if (len == 0) {
		ck_assert_msg(n == 0 && segs == NULL, "%s: empty message gave "
		    "%zu segments", what, n);
		return 0;
	}
	ck_assert_msg(n > 0 && segs != NULL, "%s: %zu bytes gave no "
	    "segment", what, len);
	hend = mime_header_end(data, len);
	ck_assert_msg(segs[0].kind == MIME_SEG_HEADER && segs[0].off == 0 &&
	    segs[0].len == hend, "%s: first segment is kind %d [%zu,+%zu), "
	    "wanted HEADER [0,+%zu)", what, (int)segs[0].kind, segs[0].off,
	    segs[0].len, hend);
	for (i = 0; i < n; i++) {
		ck_assert_msg(segs[i].off == pos, "%s: segment %zu/%zu starts "
		    "at %zu, wanted %zu (len %zu)", what, i, n, segs[i].off,
		    pos, len);
		ck_assert_msg(segs[i].len > 0, "%s: segment %zu/%zu at %zu is "
		    "empty", what, i, n, segs[i].off);
		ck_assert_msg(segs[i].len <= len - pos, "%s: segment %zu/%zu "
		    "[%zu,+%zu) runs past the end %zu", what, i, n,
		    segs[i].off, segs[i].len, len);
		ck_assert_msg(i == 0 || segs[i].kind == MIME_SEG_PART ||
		    segs[i].kind == MIME_SEG_REST, "%s: segment %zu/%zu has "
		    "kind %d", what, i, n, (int)segs[i].kind);
		ck_assert_msg(segs[i].kind != MIME_SEG_PART ||
		    segs[i].len >= min_part, "%s: PART segment %zu [%zu,+%zu) "
		    "is smaller than min_part %zu", what, i, segs[i].off,
		    segs[i].len, min_part);
		ck_assert_msg(i == 0 || segs[i].kind != MIME_SEG_REST ||
		    segs[i - 1].kind != MIME_SEG_REST, "%s: REST segments %zu "
		    "and %zu are adjacent", what, i - 1, i);
		pos += segs[i].len;
	}
	ck_assert_msg(pos == len, "%s: segments end at %zu, message is %zu "
	    "bytes", what, pos, len);
	return count_parts(segs, n);
}

static size_t
count_parts(const struct mime_segment *segs, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (segs[i].kind == MIME_SEG_PART)
			k++;
	return k;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Segments of s, checked for cover; the caller frees *segs_r. */
static size_t
segs_of(const struct sb *m, size_t min_part, struct mime_segment **segs_r,
    const char *what)
{
	size_t n;

	mime_segments(m->p, m->len, min_part, segs_r, &n);
	check_cover(m->p, m->len, min_part, *segs_r, n, what);
	return n;
}

/* Asserts that the only PART segment is want (of wantlen bytes). */
static void
assert_one_part(const struct sb *m, const struct mime_segment *segs,
    size_t n, const char *want, size_t wantlen, const char *what)
{
	size_t i, k = count_parts(segs, n);

	ck_assert_msg(k == 1, "%s: %zu PART segments, wanted 1", what, k);
	for (i = 0; i < n; i++) {
		if (segs[i].kind != MIME_SEG_PART)
			continue;
		ck_assert_msg(segs[i].len == wantlen, "%s: PART [%zu,+%zu), "
		    "wanted %zu bytes", what, segs[i].off, segs[i].len,
		    wantlen);
		ck_assert_msg(memcmp(m->p + segs[i].off, want, wantlen) == 0,
		    "%s: PART [%zu,+%zu) is not the attachment: starts "
		    "\"%.20s\"", what, segs[i].off, segs[i].len,
		    (const char *)m->p + segs[i].off);
	}
}

/* ---- mime_header_end ---------------------------------------------- */

static void
hend_is(const char *msg, size_t want)
{
	size_t got = mime_header_end((const uint8_t *)msg, strlen(msg));

	ck_assert_msg(got == want, "mime_header_end(\"%s\") = %zu, wanted "
	    "%zu", msg, got, want);
}

START_TEST(test_header_end)
{
	hend_is("A: b\r\nC: d\r\n\r\nbody\r\n", 14);
	hend_is("A: b\nC: d\n\nbody\n", 11);
	/* Mixed: the blank line may be LF after CRLF lines and back. */
	hend_is("A: b\r\nC: d\n\nbody", 12);
	hend_is("A: b\nC: d\r\n\r\nbody", 13);
	hend_is("A: b\r\n\nbody", 7);
	/* No blank line: the whole buffer is header. */
	hend_is("A: b\r\nC: d\r\n", 12);
	hend_is("A: b\nC: d", 9);
	hend_is("A: b\r\n\r", 7);
	/* A message starting with a blank line has an empty header. */
	hend_is("\nbody\n\nmore", 1);
	hend_is("\r\nbody", 2);
	hend_is("", 0);
	/* Only the first blank line counts; a lone CR is not a line end. */
	hend_is("A: b\n\rX: y\n\nbody\n\nmore", 12);
	hend_is("A: b\n\n\n\n", 6);
	/* A folded header line is not blank. */
	hend_is("A: b\n \nC: d\n\nx", 13);
}
END_TEST

/* ---- mime_header_get ---------------------------------------------- */

static void
get_is(const char *hdr, const char *name, const char *want)
{
	char buf[256];
	int rc;

	memset(buf, 'Z', sizeof(buf));
	rc = mime_header_get((const uint8_t *)hdr, strlen(hdr), name, buf,
	    sizeof(buf));
	ck_assert_msg(rc == 1, "mime_header_get(\"%s\", %s) = %d, wanted 1",
	    hdr, name, rc);
	ck_assert_msg(strcmp(buf, want) == 0, "mime_header_get(\"%s\", %s) "
	    "gave \"%s\", wanted \"%s\"", hdr, name, buf, want);
}

static void
get_missing(const char *hdr, const char *name)
{
	char buf[64] = "untouched";
	int rc;

	rc = mime_header_get((const uint8_t *)hdr, strlen(hdr), name, buf,
	    sizeof(buf));
	ck_assert_msg(rc == 0, "mime_header_get(\"%s\", %s) = %d (\"%s\"), "
	    "wanted 0", hdr, name, rc, buf);
}

START_TEST(test_header_get)
{
	const char *h = "Subject: hello\r\nContent-Type: text/plain\r\n"
	    "X-Empty:\r\nX-Last: tail";

	get_is(h, "Subject", "hello");
	get_is(h, "Content-Type", "text/plain");
	get_is(h, "content-type", "text/plain");
	get_is(h, "CONTENT-TYPE", "text/plain");
	get_is(h, "X-Empty", "");
	get_is(h, "X-Last", "tail");
	/* Leading white space of the value goes; inner space stays. */
	get_is("A: \t  x  y \nB: z\n", "A", "x  y ");
	get_is("A:x\n", "A", "x");
	/* The first of two fields wins. */
	get_is("A: one\nA: two\n", "A", "one");
	/* A prefix or suffix of a name does not match it. */
	get_missing("Content-Type-X: a\nX-Content-Type: b\n", "Content-Type");
	get_missing("Content-Typ: a\n", "Content-Type");
	get_missing("Content-Type : a\n", "Content-Type");
	get_missing(h, "Subjec");
	get_missing(h, "From");
	get_missing("", "From");
	/* A continuation line is not a field of its own. */
	get_missing("X: a\n Subject: b\n", "Subject");
	get_missing("X: a\n\tSubject: b\n", "Subject");
}
END_TEST

START_TEST(test_header_get_folding)
{
	get_is("Content-Type: multipart/mixed;\r\n\tboundary=\"x\"\r\n"
	    "Subject: s\r\n", "Content-Type",
	    "multipart/mixed;\tboundary=\"x\"");
	get_is("Content-Type: multipart/mixed;\n boundary=x;\n  a=b\nX: y\n",
	    "content-type", "multipart/mixed; boundary=x;  a=b");
	/* A value that starts on the next line. */
	get_is("Content-Type:\r\n multipart/mixed; boundary=x\r\n",
	    "Content-Type", "multipart/mixed; boundary=x");
	/* Folding stops at the next field and at the end of the block. */
	get_is("A: 1\n 2\nB: 3\n 4", "A", "1 2");
	get_is("A: 1\n 2\nB: 3\n 4", "B", "3 4");
	get_is("A: 1\r\n 2\r\n\r\n 3", "A", "1 2");
}
END_TEST

START_TEST(test_header_get_truncates)
{
	const char *h = "Subject: abcdefghij\r\n more\r\n";
	char buf[16];
	size_t sizes[] = { 1, 2, 5, 11, 12, 16 };
	const char *want[] = { "", "a", "abcd", "abcdefghij",
	    "abcdefghij ", "abcdefghij more" };
	size_t i;
	int rc;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(buf, 'Z', sizeof(buf));
		rc = mime_header_get((const uint8_t *)h, strlen(h), "Subject",
		    buf, sizes[i]);
		ck_assert_msg(rc == 1, "bufsize %zu: rc %d", sizes[i], rc);
		ck_assert_msg(strcmp(buf, want[i]) == 0, "bufsize %zu gave "
		    "\"%.*s\", wanted \"%s\"", sizes[i], (int)sizes[i], buf,
		    want[i]);
		ck_assert_msg(sizes[i] == sizeof(buf) ||
		    buf[sizes[i]] == 'Z', "bufsize %zu: wrote byte %zu",
		    sizes[i], sizes[i]);
	}
	/* bufsize 0 writes nothing but still finds the field. */
	memset(buf, 'Z', sizeof(buf));
	rc = mime_header_get((const uint8_t *)h, strlen(h), "Subject", buf, 0);
	ck_assert_msg(rc == 1 && buf[0] == 'Z', "bufsize 0: rc %d, buf[0] "
	    "'%c'", rc, buf[0]);
}
END_TEST

/* ---- mime_content_type -------------------------------------------- */

static void
ct_is(const char *value, const char *wtype, const char *wboundary)
{
	char type[64], boundary[80];

	memset(type, 'Z', sizeof(type));
	memset(boundary, 'Z', sizeof(boundary));
	mime_content_type(value, type, sizeof(type), boundary,
	    sizeof(boundary));
	ck_assert_msg(strcmp(type, wtype) == 0, "mime_content_type(\"%s\") "
	    "type \"%s\", wanted \"%s\"", value, type, wtype);
	ck_assert_msg(strcmp(boundary, wboundary) == 0, "mime_content_type("
	    "\"%s\") boundary \"%s\", wanted \"%s\"", value, boundary,
	    wboundary);
}

START_TEST(test_content_type)
{
	ct_is("text/plain", "text/plain", "");
	ct_is("text/plain; charset=us-ascii", "text/plain", "");
	ct_is("  multipart/mixed; boundary=abc", "multipart/mixed", "abc");
	ct_is("multipart/mixed; boundary=\"a b;c\"", "multipart/mixed",
	    "a b;c");
	ct_is("multipart/mixed;boundary=\"q\\\"x\"", "multipart/mixed",
	    "q\"x");
	ct_is("multipart/mixed; boundary = \"sp\" ", "multipart/mixed", "sp");
	ct_is("multipart/mixed; boundary=tok; charset=x", "multipart/mixed",
	    "tok");
	ct_is("multipart/mixed; boundary=tok other", "multipart/mixed", "tok");
	/* Other parameters before and after, upper case everywhere. */
	ct_is("multipart/related; type=\"text/html\"; start=\"<a@b>\"; "
	    "boundary=\"----=_Part_1\"; foo=bar", "multipart/related",
	    "----=_Part_1");
	ct_is("MULTIPART/ALTERNATIVE; BOUNDARY=ABCdef", "multipart/alternative",
	    "ABCdef");
	ct_is("Multipart/Mixed;\tBoundary=\"X\"", "multipart/mixed", "X");
	/* A parameter whose name only starts with "boundary". */
	ct_is("multipart/mixed; boundaryx=no; boundary=yes",
	    "multipart/mixed", "yes");
	ct_is("multipart/mixed; xboundary=no", "multipart/mixed", "");
	ct_is("multipart/mixed; boundary", "multipart/mixed", "");
	ct_is("multipart/mixed; boundary=\"\"", "multipart/mixed", "");
	/* Comments end the type. */
	ct_is("multipart/mixed (a comment); boundary=c1", "multipart/mixed",
	    "c1");
	ct_is("text/plain(comment)", "text/plain", "");
	ct_is("", "", "");
	ct_is("; boundary=x", "", "x");
	/* An unterminated quoted boundary runs to the end. */
	ct_is("multipart/mixed; boundary=\"open", "multipart/mixed", "open");
}
END_TEST

START_TEST(test_content_type_truncates)
{
	char type[6], boundary[4];

	memset(type, 'Z', sizeof(type));
	memset(boundary, 'Z', sizeof(boundary));
	mime_content_type("multipart/mixed; boundary=\"abcdefg\"", type,
	    sizeof(type), boundary, sizeof(boundary));
	ck_assert_msg(strcmp(type, "multi") == 0, "type \"%.6s\", wanted "
	    "\"multi\"", type);
	ck_assert_msg(strcmp(boundary, "abc") == 0, "boundary \"%.4s\", "
	    "wanted \"abc\"", boundary);
	memset(boundary, 'Z', sizeof(boundary));
	mime_content_type("multipart/mixed; boundary=abcdefg", type,
	    sizeof(type), boundary, sizeof(boundary));
	ck_assert_msg(strcmp(boundary, "abc") == 0, "unquoted boundary "
	    "\"%.4s\", wanted \"abc\"", boundary);
}
END_TEST

/*
 * A ';' or "boundary=" inside a quoted parameter value is part of that
 * value, not a parameter of its own; comments may stand between
 * parameters.
 */
START_TEST(test_content_type_quoted_semicolon)
{
	ct_is("multipart/mixed; name=\"a;boundary=evil\"; boundary=good",
	    "multipart/mixed", "good");
	ct_is("multipart/mixed; x=\"; boundary=no\"; boundary=\"yes\"",
	    "multipart/mixed", "yes");
	ct_is("multipart/mixed; (c) boundary=x", "multipart/mixed", "x");
	ct_is("multipart/mixed (a comment); charset=\"x\" (more);"
	    " boundary = \"b c\"", "multipart/mixed", "b c");
}
END_TEST

/* ---- mime_segments: hand-made messages ---------------------------- */

START_TEST(test_segments_empty_and_plain)
{
	struct mime_segment *segs = (void *)1;
	struct sb m = { 0 };
	char *big;
	size_t n = 99;

	mime_segments((const uint8_t *)"", 0, MIME_PART_MIN, &segs, &n);
	ck_assert_msg(n == 0 && segs == NULL, "empty message: %zu segments",
	    n);

	sb_adds(&m, "Subject: hi\r\n\r\nshort body\r\n");
	n = segs_of(&m, MIME_PART_MIN, &segs, "small plain");
	ck_assert_msg(n == 2 && segs[1].kind == MIME_SEG_REST &&
	    segs[1].off == 15, "small plain: %zu segments, second kind %d "
	    "at %zu", n, n > 1 ? (int)segs[1].kind : 0,
	    n > 1 ? segs[1].off : 0);
	free(segs);

	/* Header only, with and without a final blank line. */
	sb_free(&m);
	sb_adds(&m, "Subject: hi\r\nX: y\r\n");
	n = segs_of(&m, MIME_PART_MIN, &segs, "header only");
	ck_assert_msg(n == 1, "header only: %zu segments", n);
	free(segs);
	sb_adds(&m, "\r\n");
	n = segs_of(&m, MIME_PART_MIN, &segs, "header and blank line");
	ck_assert_msg(n == 1, "header and blank line: %zu segments", n);
	free(segs);

	/* A large single-part body is a leaf part of its own. */
	big = malloc(MIME_PART_MIN + 10);
	memset(big, 'q', MIME_PART_MIN + 10);
	sb_free(&m);
	sb_adds(&m, "Subject: big\n\n");
	sb_add(&m, big, MIME_PART_MIN + 10);
	n = segs_of(&m, MIME_PART_MIN, &segs, "large plain");
	assert_one_part(&m, segs, n, big, MIME_PART_MIN + 10, "large plain");
	ck_assert_msg(n == 2, "large plain: %zu segments, wanted 2", n);
	free(segs);

	/* Starting with a blank line: a 1-byte header, then the body. */
	sb_free(&m);
	sb_adds(&m, "\n");
	sb_add(&m, big, MIME_PART_MIN);
	n = segs_of(&m, MIME_PART_MIN, &segs, "blank first line");
	assert_one_part(&m, segs, n, big, MIME_PART_MIN, "blank first line");
	free(segs);
	free(big);
	sb_free(&m);
}
END_TEST

START_TEST(test_segments_min_part_threshold)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, body = { 0 };
	struct rng r = { 7 };
	size_t n, k, sizes[] = { 100, 99, 0, 1 };
	const char *eols[] = { "\r\n", "\n" };
	unsigned e, i;

	for (e = 0; e < 2; e++) {
		for (i = 0; i < 4; i++) {
			sb_free(&m);
			sb_free(&body);
			fill_text(&body, &r, sizes[i], eols[e]);
			sb_addf(&m, "Content-Type: multipart/mixed; "
			    "boundary=\"zz\"%s%s--zz%s%s%s", eols[e], eols[e],
			    eols[e], eols[e], "");
			sb_add(&m, body.p, body.len);
			sb_addf(&m, "%s--zz--%s", eols[e], eols[e]);
			n = segs_of(&m, 100, &segs, "threshold");
			k = count_parts(segs, n);
			if (sizes[i] >= 100)
				assert_one_part(&m, segs, n, (char *)body.p,
				    body.len, "body of exactly min_part");
			else
				ck_assert_msg(k == 0, "part of %zu bytes < "
				    "min_part 100 got %zu PART segments",
				    sizes[i], k);
			free(segs);
		}
	}
	sb_free(&m);
	sb_free(&body);
}
END_TEST

/*
 * A multipart/mixed with a small text part, a large attachment and a
 * small trailer, with line end eol; the attachment body is in att.
 */
static void
build_mixed(struct sb *m, const char *eol, const char *boundary,
    const struct sb *att, const char *subject)
{
	sb_addf(m, "Subject: %s%sMIME-Version: 1.0%sContent-Type: "
	    "multipart/mixed;%s boundary=\"%s\"%s%s", subject, eol, eol, eol,
	    boundary, eol, eol);
	sb_addf(m, "This is a preamble.%s%s--%s%s", eol, eol, boundary, eol);
	sb_addf(m, "Content-Type: text/plain%s%sHello.%s%s--%s%s", eol, eol,
	    eol, eol, boundary, eol);
	sb_addf(m, "Content-Type: application/octet-stream%s"
	    "Content-Transfer-Encoding: base64%s%s", eol, eol, eol);
	sb_add(m, att->p, att->len);
	sb_addf(m, "%s--%s%sContent-Type: text/plain%s%sbye%s--%s--%s"
	    "epilogue%s", eol, boundary, eol, eol, eol, eol, boundary, eol,
	    eol);
}

START_TEST(test_segments_multipart_large_part)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, att = { 0 };
	struct rng r = { 11 };
	const char *eols[] = { "\r\n", "\n" };
	size_t n, i, e;

	for (e = 0; e < 2; e++) {
		sb_free(&att);
		sb_free(&m);
		fill_text(&att, &r, 3 * MIME_PART_MIN, eols[e]);
		build_mixed(&m, eols[e], "=_outer", &att, "mixed");
		n = segs_of(&m, MIME_PART_MIN, &segs, eols[e][0] == '\r' ?
		    "CRLF mixed" : "LF mixed");
		assert_one_part(&m, segs, n, (char *)att.p, att.len,
		    "mixed");
		ck_assert_msg(n == 4, "mixed: %zu segments, wanted HEADER "
		    "REST PART REST", n);
		for (i = 0; i < n; i++)
			ck_assert_msg(segs[i].kind == (i == 0 ? MIME_SEG_HEADER :
			    i == 2 ? MIME_SEG_PART : MIME_SEG_REST),
			    "segment %zu is kind %d", i, (int)segs[i].kind);
		free(segs);
	}
	sb_free(&att);
	sb_free(&m);
}
END_TEST

START_TEST(test_segments_nested_and_rfc822)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, att = { 0 }, small = { 0 };
	struct rng r = { 12 };
	const char *eols[] = { "\r\n", "\n" };
	const char *eol;
	size_t n, e;

	for (e = 0; e < 2; e++) {
		eol = eols[e];
		sb_free(&att);
		sb_free(&small);
		sb_free(&m);
		fill_text(&att, &r, MIME_PART_MIN + 333, eol);
		fill_text(&small, &r, 200, eol);
		/* multipart/mixed > multipart/alternative > large part. */
		sb_addf(&m, "Content-Type: multipart/mixed; boundary=o%s%s"
		    "--o%sContent-Type: multipart/alternative; boundary=\"i\""
		    "%s%s--i%s%s", eol, eol, eol, eol, eol, eol, eol);
		sb_add(&m, small.p, small.len);
		sb_addf(&m, "%s--i%sContent-Type: text/html%s%s", eol, eol,
		    eol, eol);
		sb_add(&m, att.p, att.len);
		sb_addf(&m, "%s--i--%s%s--o--%s", eol, eol, eol, eol);
		n = segs_of(&m, MIME_PART_MIN, &segs, "nested");
		assert_one_part(&m, segs, n, (char *)att.p, att.len, "nested");
		free(segs);

		/*
		 * multipart/mixed > message/rfc822 > multipart/mixed with
		 * a small part and a large attachment.
		 */
		sb_free(&m);
		sb_addf(&m, "Content-Type: multipart/mixed; boundary=o%s%s"
		    "--o%sContent-Type: text/plain%s%sforwarded:%s--o%s"
		    "Content-Type: message/rfc822%s%s", eol, eol, eol, eol, eol,
		    eol, eol, eol, eol);
		sb_addf(&m, "Subject: inner%sContent-Type: multipart/mixed; "
		    "boundary=\"in\"%s%s--in%s%s", eol, eol, eol, eol, eol);
		sb_add(&m, small.p, small.len);
		sb_addf(&m, "%s--in%sContent-Type: image/png%s%s", eol, eol,
		    eol, eol);
		sb_add(&m, att.p, att.len);
		sb_addf(&m, "%s--in--%s%s--o--%s", eol, eol, eol, eol);
		n = segs_of(&m, MIME_PART_MIN, &segs, "rfc822");
		assert_one_part(&m, segs, n, (char *)att.p, att.len, "rfc822");
		free(segs);

		/* message/rfc822 at the top, with a single-part body. */
		sb_free(&m);
		sb_addf(&m, "Content-Type: message/rfc822%s%sSubject: x%s%s",
		    eol, eol, eol, eol);
		sb_add(&m, att.p, att.len);
		n = segs_of(&m, MIME_PART_MIN, &segs, "top rfc822");
		assert_one_part(&m, segs, n, (char *)att.p, att.len,
		    "top rfc822");
		free(segs);
	}
	sb_free(&att);
	sb_free(&small);
	sb_free(&m);
}
END_TEST

START_TEST(test_segments_broken_boundaries)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, att = { 0 };
	struct rng r = { 13 };
	size_t n, k;

	fill_text(&att, &r, 2 * MIME_PART_MIN, "\r\n");

	/* Unterminated last part: it runs to the end of the message. */
	sb_adds(&m, "Content-Type: multipart/mixed; boundary=u\r\n\r\n--u\r\n"
	    "\r\nsmall\r\n--u\r\nContent-Type: x/y\r\n\r\n");
	sb_add(&m, att.p, att.len);
	n = segs_of(&m, MIME_PART_MIN, &segs, "unterminated");
	assert_one_part(&m, segs, n, (char *)att.p, att.len, "unterminated");
	ck_assert_msg(segs[n - 1].kind == MIME_SEG_PART, "unterminated: last "
	    "segment is kind %d", (int)segs[n - 1].kind);
	free(segs);

	/* The declared boundary never appears: no part at all. */
	sb_free(&m);
	sb_adds(&m, "Content-Type: multipart/mixed; boundary=nothere\r\n\r\n"
	    "--other\r\n\r\n");
	sb_add(&m, att.p, att.len);
	sb_adds(&m, "\r\n--other--\r\n");
	n = segs_of(&m, MIME_PART_MIN, &segs, "absent boundary");
	k = count_parts(segs, n);
	ck_assert_msg(k == 0, "absent boundary: %zu PART segments", k);
	free(segs);

	/* Text after the close delimiter is epilogue, even delimiters. */
	sb_free(&m);
	sb_adds(&m, "Content-Type: multipart/mixed; boundary=e\n\n--e\n\n"
	    "x\n--e--\n--e\n\n");
	sb_add(&m, att.p, att.len);
	sb_adds(&m, "\n--e--\n");
	n = segs_of(&m, MIME_PART_MIN, &segs, "epilogue");
	k = count_parts(segs, n);
	ck_assert_msg(k == 0, "a part after the close delimiter gave %zu "
	    "PART segments", k);
	free(segs);

	/* The delimiter line only has to start with "--boundary". */
	sb_free(&m);
	sb_adds(&m, "Content-Type: multipart/mixed; boundary=p\n\n"
	    "--p  \n\n");
	sb_add(&m, att.p, att.len);
	sb_adds(&m, "\n--p-- trailing\n");
	n = segs_of(&m, MIME_PART_MIN, &segs, "padding");
	assert_one_part(&m, segs, n, (char *)att.p, att.len, "padding");
	free(segs);

	/* Garbage: delimiters and headers with no bodies. */
	sb_free(&m);
	sb_adds(&m, "Content-Type: multipart/mixed; boundary=g\n\n--g\n--g\n"
	    "--g--g\n--\n--g\nContent-Type: multipart/mixed; boundary=g\n"
	    "--g\n\n--g--");
	n = segs_of(&m, 1, &segs, "garbage");
	free(segs);
	sb_free(&m);
	sb_free(&att);
}
END_TEST

START_TEST(test_segments_same_attachment_dedups)
{
	struct mime_segment *s1, *s2;
	struct sb m1 = { 0 }, m2 = { 0 }, att = { 0 };
	struct rng r = { 14 };
	size_t n1, n2, i, j;
	const uint8_t *p1 = NULL, *p2 = NULL;
	size_t l1 = 0, l2 = 0;

	fill_text(&att, &r, 5 * MIME_PART_MIN, "\r\n");
	build_mixed(&m1, "\r\n", "=_first", &att, "first message");
	/* Another message: other headers, boundary, nesting. */
	sb_adds(&m2, "From: b@example.org\r\nContent-Type: multipart/related;"
	    " boundary=\"rel\"\r\n\r\n--rel\r\nContent-Type: multipart/mixed;"
	    " boundary=zz\r\n\r\n--zz\r\nContent-Disposition: attachment\r\n"
	    "\r\n");
	sb_add(&m2, att.p, att.len);
	sb_adds(&m2, "\r\n--zz--\r\n\r\n--rel--\r\n");
	n1 = segs_of(&m1, MIME_PART_MIN, &s1, "dedup 1");
	n2 = segs_of(&m2, MIME_PART_MIN, &s2, "dedup 2");
	for (i = 0; i < n1; i++)
		if (s1[i].kind == MIME_SEG_PART) {
			p1 = m1.p + s1[i].off;
			l1 = s1[i].len;
		}
	for (j = 0; j < n2; j++)
		if (s2[j].kind == MIME_SEG_PART) {
			p2 = m2.p + s2[j].off;
			l2 = s2[j].len;
		}
	ck_assert_msg(p1 != NULL && p2 != NULL, "no PART segment (%p, %p)",
	    (const void *)p1, (const void *)p2);
	ck_assert_msg(l1 == l2 && memcmp(p1, p2, l1) == 0, "the same "
	    "attachment gave PART segments of %zu and %zu bytes that differ",
	    l1, l2);
	free(s1);
	free(s2);
	sb_free(&m1);
	sb_free(&m2);
	sb_free(&att);
}
END_TEST

/* Every prefix of a multipart message still segments exactly. */
START_TEST(test_segments_trickle_prefixes)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, att = { 0 };
	struct rng r = { 15 };
	size_t n, len;

	fill_text(&att, &r, 300, "\r\n");
	build_mixed(&m, "\r\n", "tr", &att, "trickle");
	for (len = 0; len <= m.len; len++) {
		char what[64];

		snprintf(what, sizeof(what), "prefix %zu/%zu", len, m.len);
		mime_segments(m.p, len, 64, &segs, &n);
		check_cover(m.p, len, 64, segs, n, what);
		free(segs);
	}
	sb_free(&m);
	sb_free(&att);
}
END_TEST

/* ---- mime_segments: random trees ---------------------------------- */

static const char *
gen_eol(struct gen *g)
{
	if (g->eolmode == 2)
		return rng_below(g->rng, 2) ? "\r\n" : "\n";
	return g->eolmode == 1 ? "\r\n" : "\n";
}

static void
gen_want(struct gen *g, size_t off, size_t len)
{
	if (len < g->min_part)
		return;
	if (g->nwant == g->capwant) {
		g->capwant = g->capwant == 0 ? 16 : g->capwant * 2;
		g->want = realloc(g->want, g->capwant * sizeof(*g->want));
		ck_assert_msg(g->want != NULL, "out of memory");
	}
	g->want[g->nwant].off = off;
	g->want[g->nwant].len = len;
	g->want[g->nwant].kind = MIME_SEG_PART;
	g->nwant++;
}

static void
gen_headers(struct gen *g)
{
	unsigned i, n = (unsigned)rng_below(g->rng, 3);

	for (i = 0; i < n; i++)
		sb_addf(g->m, "X-H%u: value %u%s", i, i, gen_eol(g));
}

/*
 * Writes an entity (header and body) at depth; its body ends where the
 * caller's next delimiter line break starts (or at the end).
 */
static void
gen_entity(struct gen *g, int depth)
{
	unsigned kind = (unsigned)rng_below(g->rng, 10), i, nparts, id;
	size_t size, start;
	char b[32];

	if (depth >= 6)
		kind = 9;
	if (kind < 3) {
		/* multipart */
		id = g->nextid++;
		snprintf(b, sizeof(b), "vb%05ux", id);
		gen_headers(g);
		switch (rng_below(g->rng, 4)) {
		case 0:
			sb_addf(g->m, "Content-Type: multipart/mixed; "
			    "boundary=\"%s\"%s", b, gen_eol(g));
			break;
		case 1:
			sb_addf(g->m, "content-type: Multipart/Alternative; "
			    "BOUNDARY=%s%s", b, gen_eol(g));
			break;
		case 2:
			sb_addf(g->m, "Content-Type: multipart/related;%s"
			    "\tboundary=\"%s\";%s type=\"text/html\"%s",
			    gen_eol(g), b, gen_eol(g), gen_eol(g));
			break;
		default:
			sb_addf(g->m, "Content-Type: multipart/mixed (nested)"
			    "; charset=x; boundary=\"%s\"%s", b, gen_eol(g));
			break;
		}
		sb_adds(g->m, gen_eol(g));
		if (rng_below(g->rng, 2)) {
			fill_text(g->m, g->rng, 1 + rng_below(g->rng, 50),
			    NULL);
			sb_adds(g->m, gen_eol(g));
		}
		nparts = 1 + (unsigned)rng_below(g->rng, 4);
		for (i = 0; i < nparts; i++) {
			sb_addf(g->m, "--%s%s%s", b, rng_below(g->rng, 4) ?
			    "" : " \t", gen_eol(g));
			gen_entity(g, depth + 1);
			if (i + 1 < nparts)
				sb_adds(g->m, gen_eol(g));
		}
		/* One multipart in eight is left unterminated. */
		if (rng_below(g->rng, 8) != 0) {
			sb_addf(g->m, "%s--%s--", gen_eol(g), b);
			if (rng_below(g->rng, 2)) {
				sb_adds(g->m, gen_eol(g));
				fill_text(g->m, g->rng,
				    rng_below(g->rng, 40), NULL);
			}
		}
		return;
	}
	if (kind == 3) {
		gen_headers(g);
		sb_addf(g->m, "Content-Type: message/rfc822%s%s", gen_eol(g),
		    gen_eol(g));
		sb_addf(g->m, "Subject: inner%s", gen_eol(g));
		gen_entity(g, depth + 1);
		return;
	}
	/* A leaf: a header (maybe empty), then a small or large body. */
	gen_headers(g);
	if (rng_below(g->rng, 2))
		sb_addf(g->m, "Content-Type: text/plain; charset=utf-8%s",
		    gen_eol(g));
	sb_adds(g->m, gen_eol(g));
	size = rng_below(g->rng, 3) == 0 ?
	    g->min_part + rng_below(g->rng, 2 * g->min_part) :
	    rng_below(g->rng, g->min_part);
	start = g->m->len;
	fill_text(g->m, g->rng, size, NULL);
	gen_want(g, start, size);
}

START_TEST(test_segments_random_trees)
{
	struct rng r = { 0x5eed0001ULL + (uint64_t)_i };
	struct sb m = { 0 };
	struct gen g;
	struct mime_segment *segs;
	size_t n, i, k, iter, total = 0;
	char what[64];

	for (iter = 0; iter < 400; iter++) {
		memset(&g, 0, sizeof(g));
		sb_free(&m);
		g.m = &m;
		g.rng = &r;
		g.min_part = iter % 4 == 0 ? MIME_PART_MIN :
		    32 + rng_below(&r, 200);
		g.eolmode = (int)(iter % 3);
		gen_entity(&g, 0);
		snprintf(what, sizeof(what), "random tree %zu (%zu bytes)",
		    iter, m.len);
		mime_segments(m.p, m.len, g.min_part, &segs, &n);
		k = check_cover(m.p, m.len, g.min_part, segs, n, what);
		ck_assert_msg(k == g.nwant, "%s: %zu PART segments, wanted "
		    "%zu", what, k, g.nwant);
		for (i = 0, k = 0; i < n; i++) {
			if (segs[i].kind != MIME_SEG_PART)
				continue;
			ck_assert_msg(segs[i].off == g.want[k].off &&
			    segs[i].len == g.want[k].len, "%s: PART %zu is "
			    "[%zu,+%zu), wanted [%zu,+%zu)", what, k,
			    segs[i].off, segs[i].len, g.want[k].off,
			    g.want[k].len);
			k++;
		}
		total += g.nwant;
		free(segs);
		free(g.want);
	}
	/* The generator must have made large parts for this to prove much. */
	ck_assert_msg(total >= 200, "only %zu large parts in 400 trees", total);
	sb_free(&m);
}
END_TEST

/* ---- mime_segments: size and depth -------------------------------- */

START_TEST(test_segments_deep_nesting)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, att = { 0 };
	struct rng r = { 16 };
	size_t n;
	double t0, dt;
	int i, rfc822 = _i;

	fill_text(&att, &r, 2 * MIME_PART_MIN, "\n");
	for (i = 0; i < 10000; i++) {
		if (rfc822)
			sb_adds(&m, "Content-Type: message/rfc822\n\n");
		else
			sb_addf(&m, "Content-Type: multipart/mixed; "
			    "boundary=\"n%05d\"\n\n--n%05d\n", i, i);
	}
	sb_adds(&m, "Content-Type: text/plain\n\n");
	sb_add(&m, att.p, att.len);
	if (!rfc822)
		for (i = 9999; i >= 0; i--)
			sb_addf(&m, "\n--n%05d--", i);
	t0 = now();
	n = segs_of(&m, MIME_PART_MIN, &segs, rfc822 ?
	    "10,000 nested message/rfc822" : "10,000 nested multiparts");
	dt = now() - t0;
	ck_assert_msg(dt < 10.0, "deep nesting (%zu bytes) took %.1f s", m.len,
	    dt);
	ck_assert_msg(count_parts(segs, n) <= 1, "deep nesting: %zu PART "
	    "segments", count_parts(segs, n));
	free(segs);
	sb_free(&m);
	sb_free(&att);
}
END_TEST

/*
 * Exactly MIME_DEPTH_MAX levels are followed: the leaf is still found
 * (multiparts, multiparts and message/rfc822 in turn, message/rfc822).
 */
START_TEST(test_segments_depth_max)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, att = { 0 };
	struct rng r = { 17 };
	size_t n;
	int i;

	fill_text(&att, &r, MIME_PART_MIN, "\r\n");
	for (i = 0; i < MIME_DEPTH_MAX; i++)
		if (_i == 1 && i % 2 == 1)
			sb_adds(&m, "Content-Type: message/rfc822\r\n\r\n");
		else if (_i == 2)
			sb_adds(&m, "Content-Type: message/rfc822\r\n\r\n");
		else
			sb_addf(&m, "Content-Type: multipart/mixed; "
			    "boundary=d%02d\r\n\r\n--d%02d\r\n", i, i);
	sb_adds(&m, "\r\n");
	sb_add(&m, att.p, att.len);
	for (i = MIME_DEPTH_MAX - 1; i >= 0; i--)
		if (_i == 0 || (_i == 1 && i % 2 == 0))
			sb_addf(&m, "\r\n--d%02d--", i);
	n = segs_of(&m, MIME_PART_MIN, &segs, "MIME_DEPTH_MAX levels");
	assert_one_part(&m, segs, n, (char *)att.p, att.len,
	    "MIME_DEPTH_MAX levels");
	free(segs);
	sb_free(&m);
	sb_free(&att);
}
END_TEST

START_TEST(test_segments_many_parts)
{
	struct mime_segment *segs;
	struct sb m = { 0 }, att = { 0 }, small = { 0 };
	struct rng r = { 18 };
	size_t n, i, k, nlarge = 0;
	double t0, dt;

	fill_text(&att, &r, MIME_PART_MIN + 100, "\r\n");
	fill_text(&small, &r, 500, "\r\n");
	sb_adds(&m, "Subject: many\r\nContent-Type: multipart/mixed; "
	    "boundary=\"many\"\r\n\r\n");
	for (i = 0; m.len < 2 * 1024 * 1024; i++) {
		sb_addf(&m, "--many\r\nContent-Type: text/plain; name=p%zu\r\n"
		    "\r\n", i);
		if (i % 20 == 19) {
			sb_add(&m, att.p, att.len);
			nlarge++;
		} else
			sb_add(&m, small.p, small.len);
		sb_adds(&m, "\r\n");
	}
	sb_adds(&m, "--many--\r\n");
	ck_assert_msg(i > 2000, "only %zu parts", i);
	t0 = now();
	n = segs_of(&m, MIME_PART_MIN, &segs, "2 MB, thousands of parts");
	dt = now() - t0;
	ck_assert_msg(dt < 5.0, "%zu parts in %zu bytes took %.1f s", i, m.len,
	    dt);
	k = count_parts(segs, n);
	ck_assert_msg(k == nlarge, "%zu PART segments, wanted %zu", k, nlarge);
	for (i = 0; i < n; i++)
		if (segs[i].kind == MIME_SEG_PART)
			ck_assert_msg(segs[i].len == att.len &&
			    memcmp(m.p + segs[i].off, att.p, att.len) == 0,
			    "PART [%zu,+%zu) is not the attachment",
			    segs[i].off, segs[i].len);
	free(segs);
	sb_free(&m);
	sb_free(&att);
	sb_free(&small);
}
END_TEST

/* ---- the mime-torture corpus -------------------------------------- */

static size_t	corpus_files;

static void
corpus_check_file(const char *path)
{
	struct mime_segment *segs;
	struct sb m = { 0 };
	FILE *f;
	char buf[65536], what[1200];
	size_t got, n, step, len;
	uint8_t *copy;

	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&m, buf, got);
	fclose(f);
	corpus_files++;
	/* The whole file, then prefixes: a truncated message is input. */
	step = m.len / 48 + 1;
	for (len = m.len;; len = len > step ? len - step : 0) {
		/* A copy of exactly len bytes, so ASan sees over-reads. */
		copy = malloc(len + 1);
		ck_assert_msg(copy != NULL, "out of memory");
		if (len > 0)
			memcpy(copy, m.p, len);
		snprintf(what, sizeof(what), "%s (prefix %zu/%zu)", path, len,
		    m.len);
		mime_segments(copy, len, MIME_PART_MIN, &segs, &n);
		check_cover(copy, len, MIME_PART_MIN, segs, n, what);
		free(segs);
		if (len == m.len) {
			mime_segments(copy, len, 1, &segs, &n);
			check_cover(copy, len, 1, segs, n, what);
			free(segs);
		}
		free(copy);
		if (len == 0)
			break;
	}
	sb_free(&m);
}

static void
corpus_walk(const char *dir)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char path[1024];

	d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			corpus_walk(path);
		else if (S_ISREG(st.st_mode))
			corpus_check_file(path);
	}
	closedir(d);
}

START_TEST(test_segments_corpus)
{
	const char *base = getenv("VELLUM_CORPUS");
	char dir[1024];
	struct stat st;

	if (base == NULL || *base == '\0')
		base = VELLUM_SOURCE_ROOT "/../shared/corpus";
	snprintf(dir, sizeof(dir), "%s/mime-torture", base);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "check_mail_mime: %s absent, corpus test "
		    "skipped\n", dir);
		return;
	}
	corpus_files = 0;
	corpus_walk(dir);
	ck_assert_msg(corpus_files > 0, "no file found under %s", dir);
	fprintf(stderr, "check_mail_mime: %zu corpus files segmented\n",
	    corpus_files);
}
END_TEST

static Suite *
mime_suite(void)
{
	Suite *s = suite_create("mail_mime");
	TCase *tc;

	tc = tcase_create("header");
	tcase_add_test(tc, test_header_end);
	tcase_add_test(tc, test_header_get);
	tcase_add_test(tc, test_header_get_folding);
	tcase_add_test(tc, test_header_get_truncates);
	tcase_add_test(tc, test_content_type);
	tcase_add_test(tc, test_content_type_truncates);
	tcase_add_test(tc, test_content_type_quoted_semicolon);
	suite_add_tcase(s, tc);

	tc = tcase_create("segments");
	tcase_add_test(tc, test_segments_empty_and_plain);
	tcase_add_test(tc, test_segments_min_part_threshold);
	tcase_add_test(tc, test_segments_multipart_large_part);
	tcase_add_test(tc, test_segments_nested_and_rfc822);
	tcase_add_test(tc, test_segments_broken_boundaries);
	tcase_add_test(tc, test_segments_same_attachment_dedups);
	tcase_add_test(tc, test_segments_trickle_prefixes);
	tcase_add_loop_test(tc, test_segments_random_trees, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_loop_test(tc, test_segments_deep_nesting, 0, 2);
	tcase_add_loop_test(tc, test_segments_depth_max, 0, 3);
	tcase_add_test(tc, test_segments_many_parts);
	tcase_add_test(tc, test_segments_corpus);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mime_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
