/*
 * check_mail_mbox.c - mboxrd reading and writing.
 *
 * The central property: mbox_format() of any messages, concatenated, then
 * split with mbox_next() and unescaped gives back every message byte for
 * byte, with its sender and date.  mbox_next() is not incremental (it
 * takes the whole buffer), so the trickle test cuts a valid mbox at every
 * offset and checks that each prefix parses and yields a prefix of the
 * messages.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "mail/mbox.h"

struct sb {
	char	*p;
	size_t	 len, cap;
};

struct rng {
	uint64_t s;
};

/* One message as split from a buffer. */
struct split {
	char	*msg;
	size_t	 len;
	size_t	 offset;
	size_t	 raw_off;	/* r.raw - buf */
	size_t	 raw_len;
	char	 sender[MBOX_SENDER_MAX + 1];
	time_t	 date;
};

static Suite	*mbox_suite(void);
static void	 sb_add(struct sb *, const void *, size_t);
static void	 sb_free(struct sb *);
static uint64_t	 rng_next(struct rng *);
static size_t	 split_all(const char *, size_t, struct split **,
		    const char *);
static void	 split_free(struct split *, size_t);
static void	 show(char *, size_t, const char *, size_t);

static void
sb_add(struct sb *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap == 0 ? 256 : b->cap * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_msg(b->p != NULL, "out of memory");
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
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

/* A printable rendering of bytes for failure messages (C escapes). */
static void
show(char *out, size_t outsize, const char *p, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < outsize; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n')
			o += (size_t)snprintf(out + o, outsize - o, "\\n");
		else if (c == '\r')
			o += (size_t)snprintf(out + o, outsize - o, "\\r");
		else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outsize - o, "\\x%02x",
			    c);
		else
			out[o++] = (char)c;
	}
	if (i < len)
		o += (size_t)snprintf(out + o, outsize - o, "...");
	out[o] = '\0';
}

/*
 * Splits buf with mbox_next() until it returns 0; fails the test when it
 * returns -1 or does not move forward.  Returns the number of messages.
 */
static size_t
split_all(const char *buf, size_t len, struct split **r, const char *what)
{
	struct mbox_msg m;
	struct split *v = NULL;
	size_t off = 0, prev, n = 0;
	int rc;

	for (;;) {
		prev = off;
		rc = mbox_next(buf, len, &off, &m);
		ck_assert_msg(rc == 0 || rc == 1, "%s: mbox_next at %zu "
		    "returned %d (%s)", what, prev, rc, err_msg());
		if (rc == 0)
			break;
		ck_assert_msg(off > prev && off <= len, "%s: mbox_next moved "
		    "from %zu to %zu (len %zu)", what, prev, off, len);
		v = realloc(v, (n + 1) * sizeof(*v));
		ck_assert_msg(v != NULL, "out of memory");
		v[n].msg = mbox_msg_dup(&m, &v[n].len);
		v[n].offset = m.offset;
		v[n].raw_off = (size_t)(m.raw - buf);
		v[n].raw_len = m.raw_len;
		memcpy(v[n].sender, m.sender, sizeof(m.sender));
		v[n].date = m.date;
		ck_assert_msg(m.raw >= buf && m.raw + m.raw_len <= buf + len,
		    "%s: message %zu raw [%td,+%zu) outside the buffer", what,
		    n, m.raw - buf, m.raw_len);
		n++;
	}
	*r = v;
	return n;
}

static void
split_free(struct split *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].msg);
	free(v);
}

/* ---- writing ------------------------------------------------------ */

static void
format_is(const char *sender, time_t date, const char *msg, size_t len,
    const char *want)
{
	char *out, a[512], b[512];
	size_t olen;

	out = mbox_format(sender, date, msg, len, &olen);
	show(a, sizeof(a), out, olen);
	show(b, sizeof(b), want, strlen(want));
	ck_assert_msg(olen == strlen(want) && memcmp(out, want, olen) == 0,
	    "mbox_format(%s, \"%.*s\") gave \"%s\", wanted \"%s\"",
	    sender == NULL ? "NULL" : sender, (int)len, msg, a, b);
	free(out);
}

#define T0	1031269358	/* Thu Sep  5 23:42:38 2002 UTC */

START_TEST(test_format_exact)
{
	const char *m;

	m = "From me\n>From you\nhi\n>>From x\n>Fromage\n";
	format_is("alice@example.org", T0, m, strlen(m),
	    "From alice@example.org Thu Sep  5 23:42:38 2002\n>From me\n"
	    ">>From you\nhi\n>>>From x\n>Fromage\n\n");
	/* Not escaped: no space, not at a line start, "> From". */
	m = "Fromage\nx From y\n> From z\nFrom";
	format_is("a", T0, m, strlen(m), "From a Thu Sep  5 23:42:38 2002 "
	    "noeol\nFromage\nx From y\n> From z\nFrom\n\n");
	m = "A: b\r\n\r\nFrom here\r\n";
	format_is("a", T0, m, strlen(m), "From a Thu Sep  5 23:42:38 2002\r\n"
	    "A: b\r\n\r\n>From here\r\n\r\n");
	format_is("a", T0, "", 0, "From a Thu Sep  5 23:42:38 2002 noeol\n"
	    "\n\n");
	format_is("a", T0, "x", 1, "From a Thu Sep  5 23:42:38 2002 noeol\n"
	    "x\n\n");
	/* Bad senders become MAILER-DAEMON. */
	format_is(NULL, T0, "x\n", 2, "From MAILER-DAEMON Thu Sep  5 "
	    "23:42:38 2002\nx\n\n");
	format_is("", T0, "x\n", 2, "From MAILER-DAEMON Thu Sep  5 23:42:38 "
	    "2002\nx\n\n");
	format_is("a b", T0, "x\n", 2, "From MAILER-DAEMON Thu Sep  5 "
	    "23:42:38 2002\nx\n\n");
	format_is("a\tb", T0, "x\n", 2, "From MAILER-DAEMON Thu Sep  5 "
	    "23:42:38 2002\nx\n\n");
	format_is("a\nb", T0, "x\n", 2, "From MAILER-DAEMON Thu Sep  5 "
	    "23:42:38 2002\nx\n\n");
	format_is("a\x01", T0, "x\n", 2, "From MAILER-DAEMON Thu Sep  5 "
	    "23:42:38 2002\nx\n\n");
	format_is("a", 1709168523, "x\n", 2, "From a Thu Feb 29 01:02:03 "
	    "2024\nx\n\n");
}
END_TEST

START_TEST(test_format_sender_length)
{
	char sender[MBOX_SENDER_MAX + 2], *out;
	size_t olen;

	memset(sender, 's', sizeof(sender) - 1);
	sender[MBOX_SENDER_MAX] = '\0';
	out = mbox_format(sender, T0, "x\n", 2, &olen);
	ck_assert_msg(olen > 5 + MBOX_SENDER_MAX && memcmp(out + 5, sender,
	    MBOX_SENDER_MAX) == 0 && out[5 + MBOX_SENDER_MAX] == ' ',
	    "a sender of MBOX_SENDER_MAX bytes was not kept: \"%.40s\"", out);
	free(out);
	sender[MBOX_SENDER_MAX] = 's';
	sender[MBOX_SENDER_MAX + 1] = '\0';
	out = mbox_format(sender, T0, "x\n", 2, &olen);
	ck_assert_msg(strncmp(out, "From MAILER-DAEMON ", 19) == 0,
	    "a sender longer than MBOX_SENDER_MAX gave \"%.40s\"", out);
	free(out);
}
END_TEST

/* ---- reading ------------------------------------------------------ */

/* Splits text and compares the messages with want[] (NULL-terminated). */
static void
split_is(const char *text, size_t len, const char *const *want,
    const char *what)
{
	struct split *v;
	size_t n, i, nwant = 0;
	char a[256], b[256];

	while (want[nwant] != NULL)
		nwant++;
	n = split_all(text, len, &v, what);
	ck_assert_msg(n == nwant, "%s: %zu messages, wanted %zu", what, n,
	    nwant);
	for (i = 0; i < n; i++) {
		show(a, sizeof(a), v[i].msg, v[i].len);
		show(b, sizeof(b), want[i], strlen(want[i]));
		ck_assert_msg(v[i].len == strlen(want[i]) &&
		    memcmp(v[i].msg, want[i], v[i].len) == 0, "%s: message "
		    "%zu is \"%s\", wanted \"%s\"", what, i, a, b);
		ck_assert_msg(v[i].msg[v[i].len] == '\0', "%s: message %zu "
		    "from mbox_msg_dup() is not NUL-terminated", what, i);
	}
	split_free(v, n);
}

START_TEST(test_split_files)
{
	static const char lf[] = "From a@b Thu Sep  5 23:42:38 2002\n"
	    "Subject: one\n\nbody\n>From quoted\n>>From twice\n"
	    "From not-a-separator\n\n"
	    "From c@d Fri Sep  6 00:00:00 2002\nSubject: two\n\nx\n\n\n";
	static const char *const lfw[] = { "Subject: one\n\nbody\n"
	    "From quoted\n>From twice\nFrom not-a-separator\n",
	    "Subject: two\n\nx\n\n", NULL };
	static const char crlf[] = "From a Thu Sep  5 23:42:38 2002\r\n"
	    "A: 1\r\n\r\n>From x\r\n\r\nFrom b Thu Sep  5 23:42:38 2002\r\n"
	    "B: 2\r\n\r\n";
	static const char *const crlfw[] = { "A: 1\r\n\r\nFrom x\r\n",
	    "B: 2\r\n", NULL };
	static const char bom[] = "\xef\xbb\xbf" "From a Thu Sep  5 23:42:38 "
	    "2002\nX: y\n\n";
	static const char *const bomw[] = { "X: y\n", NULL };
	/* Empty messages, with and without separator lines. */
	static const char empty[] = "From a x\n\nFrom b x\nFrom c x\n\n"
	    "From d x\n";
	static const char *const emptyw[] = { "", "From c x\n", "", NULL };
	/* Trailing text after the last message belongs to it. */
	static const char trail[] = "From a x\nA: b\n\nbody\n\ngarbage\x01"
	    "\x02 no newline";
	static const char *const trailw[] = { "A: b\n\nbody\n\ngarbage\x01"
	    "\x02 no newline", NULL };
	static const char *const none[] = { NULL };

	split_is(lf, strlen(lf), lfw, "LF file");
	split_is(crlf, strlen(crlf), crlfw, "CRLF file");
	split_is(bom, strlen(bom), bomw, "file with a BOM");
	split_is(empty, strlen(empty), emptyw, "empty messages");
	split_is(trail, strlen(trail), trailw, "trailing garbage");
	split_is("", 0, none, "empty file");
	split_is("\xef\xbb\xbf", 3, none, "BOM only");
}
END_TEST

START_TEST(test_split_not_mbox)
{
	static const char *const bad[] = { "Subject: no From line\n\nx\n",
	    "from lower case\n", "From\n", ">From x\n", " From x\n",
	    "\nFrom x\n", "\xef\xbb" "From x\n" };
	struct mbox_msg m;
	size_t i, off;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		off = 0;
		err_clear();
		rc = mbox_next(bad[i], strlen(bad[i]), &off, &m);
		ck_assert_msg(rc == -1 && err_class() == ERR_INVALID,
		    "mbox_next(\"%s\") = %d (%s), wanted -1 INVALID", bad[i],
		    rc, err_class_name(err_class()));
		ck_assert_msg(!mbox_is_mbox(bad[i], strlen(bad[i])),
		    "mbox_is_mbox(\"%s\") = 1", bad[i]);
	}
	ck_assert_msg(mbox_is_mbox("From x", 6), "mbox_is_mbox(\"From x\")");
	ck_assert_msg(mbox_is_mbox("\xef\xbb\xbf" "From ", 8),
	    "mbox_is_mbox(BOM \"From \")");
	ck_assert_msg(!mbox_is_mbox("From", 4), "mbox_is_mbox(\"From\")");
	/* An offset that is not at a "From " line. */
	off = 3;
	rc = mbox_next("From a x\nb\n", 11, &off, &m);
	ck_assert_msg(rc == -1, "mbox_next at offset 3 returned %d", rc);
}
END_TEST

START_TEST(test_split_envelope)
{
	static const char f[] = "From bob@example.org Thu Sep  5 23:42:38 "
	    "2002\r\nX: y\r\n";
	struct mbox_msg m;
	size_t off = 0;
	int rc;

	rc = mbox_next(f, strlen(f), &off, &m);
	ck_assert_msg(rc == 1, "mbox_next returned %d", rc);
	ck_assert_msg(m.envelope_len == 40 && memcmp(m.envelope,
	    "bob@example.org Thu Sep  5 23:42:38 2002", 40) == 0,
	    "envelope \"%.*s\" (%zu bytes)", (int)m.envelope_len, m.envelope,
	    m.envelope_len);
	ck_assert_msg(strcmp(m.sender, "bob@example.org") == 0, "sender "
	    "\"%s\"", m.sender);
	ck_assert_msg(m.date == T0, "date %lld, wanted %lld",
	    (long long)m.date, (long long)T0);
	ck_assert_msg(m.offset == 0 && off == strlen(f), "offset %zu, next "
	    "%zu", m.offset, off);
}
END_TEST

/* ---- unescaping --------------------------------------------------- */

static void
unescape_is(const char *in, const char *want)
{
	char out[256], a[512], b[512];
	size_t n, len = strlen(in);

	n = mbox_unescape(in, len, out);
	show(a, sizeof(a), out, n);
	show(b, sizeof(b), want, strlen(want));
	ck_assert_msg(n == strlen(want) && memcmp(out, want, n) == 0,
	    "mbox_unescape(\"%s\") gave \"%s\", wanted \"%s\"", in, a, b);
	/* In place. */
	memcpy(out, in, len);
	n = mbox_unescape(out, len, out);
	show(a, sizeof(a), out, n);
	ck_assert_msg(n == strlen(want) && memcmp(out, want, n) == 0,
	    "mbox_unescape(\"%s\") in place gave \"%s\", wanted \"%s\"", in,
	    a, b);
}

START_TEST(test_unescape)
{
	unescape_is(">From x\n", "From x\n");
	unescape_is(">>From x\n", ">From x\n");
	unescape_is(">>>From x", ">>From x");
	unescape_is("a\n>From x\r\n>From y\n", "a\nFrom x\r\nFrom y\n");
	unescape_is(">Fromage\n", ">Fromage\n");
	unescape_is("> From x\n", "> From x\n");
	unescape_is("x >From y\n", "x >From y\n");
	unescape_is(">From", ">From");
	unescape_is(">\n>\n", ">\n>\n");
	unescape_is("From x\n", "From x\n");
	unescape_is("", "");
}
END_TEST

/* ---- envelope and date parsing ------------------------------------ */

static void
date_is(const char *text, time_t want)
{
	time_t got = mbox_date_parse(text, strlen(text));

	ck_assert_msg(got == want, "mbox_date_parse(\"%s\") = %lld, wanted "
	    "%lld", text, (long long)got, (long long)want);
}

START_TEST(test_date_parse)
{
	date_is("Thu Sep  5 23:42:38 2002", T0);
	date_is("Thu Sep 5 23:42:38 2002", T0);
	date_is("Sep  5 23:42:38 2002", T0);
	date_is("thu sep  5 23:42:38 2002", T0);
	date_is("Thu, Sep 5, 23:42:38 2002", T0);
	date_is("Thu Sep  5 23:42 2002", T0 - 38);
	date_is("Thu Sep  5 23:42:38 2002 UTC", T0);
	date_is("Thu Sep  5 23:42:38 GMT 2002", T0);
	date_is("Thu Sep  5 23:42:38 2002 +0200", T0 - 7200);
	date_is("Thu Sep  5 23:42:38 -0130 2002", T0 + 5400);
	date_is("Thu Sep  5 23:42:38 CEST 2002", T0);
	date_is("Thu Sep  5 23:42:38 2002 remote from x", T0);
	date_is("Thu Feb 29 01:02:03 2024", 1709168523);
	/* Not dates. */
	date_is("", 0);
	date_is("Xyz Sep  5 23:42:38 2002", 0);
	date_is("Thu Foo  5 23:42:38 2002", 0);
	date_is("Thu Sep  5 23-42-38 2002", 0);
	date_is("Thu Sep  5 24:00:00 2002", 0);
	date_is("Thu Sep  5 23:60:00 2002", 0);
	date_is("Thu Sep 32 23:42:38 2002", 0);
	date_is("Thu Sep  0 23:42:38 2002", 0);
	date_is("Thu Sep  5 23:42:38", 0);
	date_is("Thu Sep  5 23:42:38 1969", 0);
	date_is("Thu Sep  5", 0);
	date_is("Thu Sep  5 23:42:38 1234567", 0);
	/* The last second that reads back; a leap second or a zone past it
	   would need a fifth year digit (fuzz_mbox found it). */
	date_is("Fri Dec 31 23:59:59 9999", MBOX_DATE_LAST);
	date_is("Fri Dec 31 23:59:60 9999 +0000", 0);
	date_is("Fri Dec 31 23:30:00 9999 -0100", 0);
}
END_TEST

START_TEST(test_date_format_round_trip)
{
	struct rng r = { 99 };
	char buf[MBOX_DATE_MAX];
	time_t t, got;
	int i;

	ck_assert_msg(strcmp(mbox_date_format(T0, buf),
	    "Thu Sep  5 23:42:38 2002") == 0, "T0 formatted as \"%s\"", buf);
	ck_assert_msg(strcmp(mbox_date_format(0, buf),
	    "Thu Jan  1 00:00:00 1970") == 0, "0 formatted as \"%s\"", buf);
	for (i = 0; i < 10000; i++) {
		t = 1 + (time_t)(rng_next(&r) % 253402300799ULL);
		mbox_date_format(t, buf);
		got = mbox_date_parse(buf, strlen(buf));
		ck_assert_msg(got == t, "%lld formatted as \"%s\" parsed as "
		    "%lld", (long long)t, buf, (long long)got);
	}
}
END_TEST

START_TEST(test_envelope_parse)
{
	char sender[MBOX_SENDER_MAX + 1], line[600];
	time_t d;
	int rc;

	rc = mbox_envelope_parse("a@b Thu Sep  5 23:42:38 2002", 28, sender,
	    &d);
	ck_assert_msg(rc == 0 && strcmp(sender, "a@b") == 0 && d == T0,
	    "plain envelope: rc %d, sender \"%s\", date %lld", rc, sender,
	    (long long)d);
	rc = mbox_envelope_parse("a@b Thu Sep  5 23:42:38 2002 noeol \r", 36,
	    sender, &d);
	ck_assert_msg(rc == 1 && strcmp(sender, "a@b") == 0 && d == T0,
	    "noeol envelope: rc %d, sender \"%s\", date %lld", rc, sender,
	    (long long)d);
	rc = mbox_envelope_parse("a@b Thu Sep  5 23:42:38 2002xnoeol", 34,
	    sender, &d);
	ck_assert_msg(rc == 0, "\"...2002xnoeol\" carries the mark: rc %d",
	    rc);
	rc = mbox_envelope_parse(" Thu Sep  5 23:42:38 2002", 25, sender,
	    &d);
	ck_assert_msg(rc == 0 && sender[0] == '\0' && d == T0,
	    "empty sender: rc %d, sender \"%s\", date %lld", rc, sender,
	    (long long)d);
	rc = mbox_envelope_parse("", 0, sender, &d);
	ck_assert_msg(rc == 0 && sender[0] == '\0' && d == 0, "empty line: "
	    "rc %d, sender \"%s\", date %lld", rc, sender, (long long)d);
	/* A long sender is cut to MBOX_SENDER_MAX bytes. */
	memset(line, 'q', 400);
	memcpy(line + 400, " Thu Sep  5 23:42:38 2002", 25);
	rc = mbox_envelope_parse(line, 425, sender, &d);
	ck_assert_msg(strlen(sender) == MBOX_SENDER_MAX && d == T0, "long "
	    "sender kept %zu bytes, date %lld", strlen(sender), (long long)d);
}
END_TEST

START_TEST(test_status_flags)
{
	static const struct {
		const char	*msg;
		unsigned	 want;
	} c[] = {
		{ "Status: RO\nX-Status: AF\n\nbody", MBOX_F_SEEN |
		    MBOX_F_ANSWERED | MBOX_F_FLAGGED },
		{ "status: O\r\nx-status: DT\r\n\r\n", MBOX_F_DELETED |
		    MBOX_F_DRAFT },
		{ "Subject: x\n\nStatus: R\nX-Status: F\n", 0 },
		{ "X-Status: ADFT\nStatus: R", MBOX_F_SEEN | MBOX_F_ANSWERED |
		    MBOX_F_DELETED | MBOX_F_FLAGGED | MBOX_F_DRAFT },
		{ "Statusx: R\nX-Status-Old: A\n\n", 0 },
		{ "", 0 },
	};
	size_t i;
	unsigned got;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		got = mbox_status_flags(c[i].msg, strlen(c[i].msg));
		ck_assert_msg(got == c[i].want, "mbox_status_flags(\"%s\") = "
		    "%#x, wanted %#x", c[i].msg, got, c[i].want);
	}
}
END_TEST

/*
 * mbox_status_strip(): the flag lines leave the header block (and their
 * continuation lines with them); the body and every other byte stay.
 */
START_TEST(test_status_strip)
{
	static const struct {
		const char	*in, *want;
	} c[] = {
		{ "From: a\nStatus: RO\nX-Status: AF\nSubject: s\n\nbody\n",
		    "From: a\nSubject: s\n\nbody\n" },
		{ "status: O\r\nx-status: DT\r\n\r\nStatus: R\r\n",
		    "\r\nStatus: R\r\n" },
		{ "Status: R\n\tcontinued\nTo: b\n\n", "To: b\n\n" },
		{ "Statusx: R\nX-Status-Old: A\n\n",
		    "Statusx: R\nX-Status-Old: A\n\n" },
		{ "Subject: x\n\nStatus: R\nX-Status: F\n",
		    "Subject: x\n\nStatus: R\nX-Status: F\n" },
		{ "X-Status: A", "" },
		{ "", "" },
	};
	char buf[128];
	size_t i, n;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		memcpy(buf, c[i].in, strlen(c[i].in) + 1);
		n = mbox_status_strip(buf, strlen(c[i].in));
		ck_assert_msg(n == strlen(c[i].want) && memcmp(buf, c[i].want,
		    n) == 0, "mbox_status_strip(\"%s\") = \"%.*s\", wanted "
		    "\"%s\"", c[i].in, (int)n, buf, c[i].want);
	}
}
END_TEST

/*
 * mbox_sender_keep(): "Return-Path: <sender>" in front, with the
 * message's line end, unless it has one or the sender says nothing.
 */
START_TEST(test_sender_keep)
{
	static const struct {
		const char	*sender, *in, *want;	/* want NULL: none */
	} c[] = {
		{ "a@example.org", "Subject: s\n\nbody\n",
		    "Return-Path: <a@example.org>\nSubject: s\n\nbody\n" },
		{ "a@example.org", "Subject: s\r\n\r\nbody\r\n",
		    "Return-Path: <a@example.org>\r\nSubject: s\r\n\r\n"
		    "body\r\n" },
		{ "a@example.org", "", "Return-Path: <a@example.org>\n" },
		{ "a@example.org", "return-path: <b@x>\nS: s\n\n", NULL },
		{ "a@example.org", "S: s\n\nReturn-Path: <b@x>\n",
		    "Return-Path: <a@example.org>\nS: s\n\nReturn-Path: "
		    "<b@x>\n" },
		{ MBOX_SENDER_DEFAULT, "Subject: s\n\n", NULL },
		{ "", "Subject: s\n\n", NULL },
		{ "a<b", "Subject: s\n\n", NULL },
		{ "a>b", "Subject: s\n\n", NULL },
		{ "a\tb", "Subject: s\n\n", NULL },
	};
	size_t i, n;
	char *out;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		n = 12345;
		out = mbox_sender_keep(c[i].sender, c[i].in, strlen(c[i].in),
		    &n);
		if (c[i].want == NULL) {
			ck_assert_msg(out == NULL, "sender \"%s\", \"%s\": "
			    "got \"%s\", wanted nothing", c[i].sender,
			    c[i].in, out);
			continue;
		}
		ck_assert_msg(out != NULL && n == strlen(c[i].want) &&
		    memcmp(out, c[i].want, n) == 0, "sender \"%s\", \"%s\": "
		    "got \"%s\", wanted \"%s\"", c[i].sender, c[i].in,
		    out != NULL ? out : "(null)", c[i].want);
		free(out);
	}
}
END_TEST

/* ---- round trips -------------------------------------------------- */

/* Formats msgs, splits the result and compares every message. */
static void
round_trip(const char *const *msgs, const size_t *lens, size_t n,
    const time_t *dates, const char *what, struct sb *out)
{
	struct split *v;
	struct sb all = { 0 };
	size_t i, got, olen;
	char *one, a[256], b[256], sender[64];

	for (i = 0; i < n; i++) {
		snprintf(sender, sizeof(sender), "s%zu@example.org", i);
		one = mbox_format(sender, dates[i], msgs[i], lens[i], &olen);
		sb_add(&all, one, olen);
		free(one);
	}
	ck_assert_msg(mbox_is_mbox(all.p, all.len) || n == 0, "%s: "
	    "formatted output is not an mbox", what);
	got = split_all(all.p, all.len, &v, what);
	ck_assert_msg(got == n, "%s: %zu messages in, %zu out", what, n, got);
	for (i = 0; i < n; i++) {
		show(a, sizeof(a), v[i].msg, v[i].len);
		show(b, sizeof(b), msgs[i], lens[i]);
		ck_assert_msg(v[i].len == lens[i] && memcmp(v[i].msg, msgs[i],
		    lens[i]) == 0, "%s: message %zu came back as \"%s\", "
		    "wanted \"%s\"", what, i, a, b);
		snprintf(sender, sizeof(sender), "s%zu@example.org", i);
		ck_assert_msg(strcmp(v[i].sender, sender) == 0, "%s: message "
		    "%zu sender \"%s\", wanted \"%s\"", what, i, v[i].sender,
		    sender);
		ck_assert_msg(v[i].date == dates[i], "%s: message %zu date "
		    "%lld, wanted %lld", what, i, (long long)v[i].date,
		    (long long)dates[i]);
	}
	split_free(v, got);
	if (out != NULL)
		*out = all;
	else
		sb_free(&all);
}

static const char *const tricky[] = {
	"Subject: plain\n\nbody\n",
	"From the start\nFrom again\n",
	">From\n>From x\n>>From y\n>>>From z\n",
	"a\n\nFrom x\n\n>From y\n\n>>From z\n",
	"no final newline",
	"",
	"\n",
	"\n\n",
	"\r\n",
	"\r",
	"x\r",
	"A: b\r\n\r\nFrom crlf\r\n\r\nend\r\n",
	"A: b\r\n\r\nno final crlf",
	"A: b\r\n\r\nends in lf\n",
	"A: b\r\n\r\nends in blank lf\n\n",
	"lf first\nends crlf\r\n",
	"lf first\n\r\n",
	"ends with blank lines\n\n\n\n",
	"From ",
	"From",
	">",
	"trailing noeol noeol\n",
	"\nFrom x\n",
	"\r\nFrom x\r\n",
	"x\n\r\nFrom y\n",
	"\xef\xbb\xbf" "From bom\n",
	"line\0with nul\n",
};

START_TEST(test_round_trip_tricky)
{
	size_t n = sizeof(tricky) / sizeof(tricky[0]), i, j;
	size_t lens[sizeof(tricky) / sizeof(tricky[0])];
	time_t dates[sizeof(tricky) / sizeof(tricky[0])];
	const char *one[1];
	char what[64];

	for (i = 0; i < n; i++) {
		lens[i] = strlen(tricky[i]);
		dates[i] = T0 + (time_t)i * 86401;
	}
	lens[n - 1] = 14;	/* the one with a NUL byte */
	/* Each alone, each pair in both orders, then all of them. */
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "message %zu alone", i);
		one[0] = tricky[i];
		round_trip(one, &lens[i], 1, &dates[i], what, NULL);
		for (j = 0; j < n; j++) {
			const char *two[2] = { tricky[i], tricky[j] };
			size_t l2[2] = { lens[i], lens[j] };
			time_t d2[2] = { dates[i], dates[j] };

			snprintf(what, sizeof(what), "messages %zu, %zu", i, j);
			round_trip(two, l2, 2, d2, what, NULL);
		}
	}
	round_trip(tricky, lens, n, dates, "all tricky messages", NULL);
}
END_TEST

/* Random messages built from the bytes that matter to mboxrd. */
START_TEST(test_round_trip_random)
{
	static const char *const atoms[] = { "From ", ">", ">From ", "\n",
	    "\r\n", "\r", "x", " ", "From", "\n\n", "\xef\xbb\xbf" };
	struct rng r = { 0xb0b0ULL + (uint64_t)_i };
	char *msgs[8];
	size_t lens[8], i, n, k, iter;
	time_t dates[8];
	struct sb b;

	for (iter = 0; iter < 2000; iter++) {
		n = 1 + rng_next(&r) % 8;
		for (i = 0; i < n; i++) {
			memset(&b, 0, sizeof(b));
			sb_add(&b, "", 0);
			for (k = rng_next(&r) % 24; k > 0; k--) {
				const char *a = atoms[rng_next(&r) %
				    (sizeof(atoms) / sizeof(atoms[0]))];

				sb_add(&b, a, strlen(a));
			}
			msgs[i] = b.p;
			lens[i] = b.len;
			dates[i] = (time_t)(rng_next(&r) % 4000000000ULL);
		}
		round_trip((const char *const *)msgs, lens, n, dates,
		    "random messages", NULL);
		for (i = 0; i < n; i++)
			free(msgs[i]);
	}
}
END_TEST

/*
 * Trickle: mbox_next() takes the whole buffer, so cut a valid mbox at
 * every offset.  Each prefix must parse; the messages that start before
 * the cut come back with the same offsets, all but the last one byte
 * for byte, and the last one is a prefix of its region in the full file.
 */
START_TEST(test_trickle_prefixes)
{
	size_t n = sizeof(tricky) / sizeof(tricky[0]), i, len, nfull, np, k;
	size_t lens[sizeof(tricky) / sizeof(tricky[0])];
	time_t dates[sizeof(tricky) / sizeof(tricky[0])];
	struct split *full, *v;
	struct sb all;
	char what[64], *cut;

	for (i = 0; i < n; i++) {
		lens[i] = strlen(tricky[i]);
		dates[i] = T0;
	}
	lens[n - 1] = 14;
	round_trip(tricky, lens, n, dates, "trickle source", &all);
	nfull = split_all(all.p, all.len, &full, "full file");
	for (len = 0; len <= all.len; len++) {
		snprintf(what, sizeof(what), "prefix %zu/%zu", len, all.len);
		/* An exact-size copy, so reads past the cut are caught. */
		cut = malloc(len + 1);
		ck_assert_msg(cut != NULL, "out of memory");
		memcpy(cut, all.p, len);
		if (len > 0 && len < 5) {
			/* "From" cut short is not an mbox (yet). */
			size_t off = 0;
			struct mbox_msg m;
			int rc = mbox_next(cut, len, &off, &m);

			ck_assert_msg(rc == -1, "%s: mbox_next returned %d, "
			    "wanted -1", what, rc);
			free(cut);
			continue;
		}
		np = split_all(cut, len, &v, what);
		for (k = 0; k < nfull && full[k].offset + 5 <= len; k++)
			;
		ck_assert_msg(np == k, "%s: %zu messages, wanted %zu", what,
		    np, k);
		for (i = 0; i < np; i++) {
			ck_assert_msg(v[i].offset == full[i].offset, "%s: "
			    "message %zu at %zu, wanted %zu", what, i,
			    v[i].offset, full[i].offset);
			if (i + 1 < np) {
				ck_assert_msg(v[i].len == full[i].len &&
				    memcmp(v[i].msg, full[i].msg,
				    v[i].len) == 0, "%s: message %zu differs "
				    "from the full parse", what, i);
				continue;
			}
			if (len < full[i].raw_off) {
				/* The envelope line itself is cut. */
				ck_assert_msg(v[i].raw_off == len &&
				    v[i].raw_len == 0, "%s: message with a "
				    "cut envelope has raw [%zu,+%zu)", what,
				    v[i].raw_off, v[i].raw_len);
				continue;
			}
			/*
			 * The last message runs to the cut, less at most a
			 * separator line end and the noeol newline.
			 */
			ck_assert_msg(v[i].raw_off == full[i].raw_off &&
			    v[i].raw_off + v[i].raw_len <= len &&
			    v[i].raw_off + v[i].raw_len + 3 >= len,
			    "%s: last message raw [%zu,+%zu), wanted it to "
			    "start at %zu and end near the cut", what,
			    v[i].raw_off, v[i].raw_len, full[i].raw_off);
			if (len == all.len || (i + 1 < nfull &&
			    len == full[i + 1].offset))
				ck_assert_msg(v[i].len == full[i].len &&
				    memcmp(v[i].msg, full[i].msg,
				    v[i].len) == 0, "%s: complete last "
				    "message %zu differs", what, i);
		}
		split_free(v, np);
		free(cut);
	}
	split_free(full, nfull);
	sb_free(&all);
}
END_TEST

/*
 * The spamassassin corpus: every file is one mbox message.  A sample of
 * each folder must split into one message that survives a format/split
 * round trip unchanged.
 */
static size_t
corpus_round_trip(const char *path)
{
	char buf[65536], *out;
	struct sb f = { 0 };
	struct split *v, *w;
	size_t n, m, got, olen;
	FILE *fp;

	fp = fopen(path, "rb");
	if (fp == NULL)
		return 0;
	while ((got = fread(buf, 1, sizeof(buf), fp)) > 0)
		sb_add(&f, buf, got);
	fclose(fp);
	if (!mbox_is_mbox(f.p, f.len)) {
		sb_free(&f);
		return 0;	/* MANIFEST.tsv and the like */
	}
	n = split_all(f.p, f.len, &v, path);
	ck_assert_msg(n >= 1, "%s: %zu messages", path, n);
	out = mbox_format(v[0].sender, v[0].date, v[0].msg, v[0].len, &olen);
	m = split_all(out, olen, &w, path);
	ck_assert_msg(m == 1 && w[0].len == v[0].len && memcmp(w[0].msg,
	    v[0].msg, v[0].len) == 0 && w[0].date == v[0].date &&
	    strcmp(w[0].sender, v[0].sender) == 0, "%s: message changed on "
	    "a format/split round trip (%zu messages, %zu -> %zu bytes)",
	    path, m, v[0].len, m > 0 ? w[0].len : 0);
	split_free(w, m);
	split_free(v, n);
	free(out);
	sb_free(&f);
	return 1;
}

START_TEST(test_corpus_sample)
{
	static const char *const sets[] = { "easy-ham-1", "easy-ham-2",
	    "hard-ham-1", "spam-1", "spam-2" };
	const char *base = getenv("VELLUM_CORPUS");
	char dir[1024], path[1400];
	struct dirent *de;
	size_t files = 0, k;
	unsigned s;
	DIR *d;

	if (base == NULL || *base == '\0')
		base = VELLUM_SOURCE_ROOT "/../shared/corpus";
	for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		snprintf(dir, sizeof(dir), "%s/spamassassin-public/%s", base,
		    sets[s]);
		if ((d = opendir(dir)) == NULL)
			continue;
		for (k = 0; k < 200 && (de = readdir(d)) != NULL;) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (corpus_round_trip(path))
				k++;
		}
		files += k;
		closedir(d);
	}
	if (files == 0)
		fprintf(stderr, "check_mail_mbox: no spamassassin corpus "
		    "under %s, corpus test skipped\n", base);
}
END_TEST

static Suite *
mbox_suite(void)
{
	Suite *s = suite_create("mail_mbox");
	TCase *tc;

	tc = tcase_create("write");
	tcase_add_test(tc, test_format_exact);
	tcase_add_test(tc, test_format_sender_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_test(tc, test_split_files);
	tcase_add_test(tc, test_split_not_mbox);
	tcase_add_test(tc, test_split_envelope);
	tcase_add_test(tc, test_unescape);
	tcase_add_test(tc, test_date_parse);
	tcase_add_test(tc, test_date_format_round_trip);
	tcase_add_test(tc, test_envelope_parse);
	tcase_add_test(tc, test_status_flags);
	tcase_add_test(tc, test_status_strip);
	tcase_add_test(tc, test_sender_keep);
	suite_add_tcase(s, tc);

	tc = tcase_create("round_trip");
	tcase_add_test(tc, test_round_trip_tricky);
	tcase_add_loop_test(tc, test_round_trip_random, 0, 4);
	tcase_add_test(tc, test_trickle_prefixes);
	tcase_add_test(tc, test_corpus_sample);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mbox_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
