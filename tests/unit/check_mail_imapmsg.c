/*
 * check_mail_imapmsg.c - the IMAP record of a message (mail/imapmsg.c,
 * mail/imapmeta.c, mail/rfc822.c, mail/imapheader.c, mail/imapdate.c).
 *
 * Without arguments: hand-written messages whose BODY, BODYSTRUCTURE and
 * ENVELOPE are what Dovecot 2.3 answers (multipart/alternative, nested
 * message/rfc822, missing Content-Type, bad boundaries, 8-bit headers,
 * RFC 2231 parameters, groups, no final newline, LF against CRLF), the
 * section ranges, the sort and thread keys, dates, RFC 2047, header field
 * selection, limits, and damaged records.
 *
 * With a corpus directory (../shared/corpus) as argument: every message
 * of imap-fetch-expected/ that has Dovecot's answers must give exactly
 * those, and every file of mime-torture/ must build a record that parses
 * and whose part table is consistent.  Exit 77 (skip) when the corpus is
 * absent, as on a CI clone.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "mail/imapmsg.h"

struct rec {
	void		*raw;
	size_t		 len;
	struct imap_meta m;
};

static Suite	*imapmsg_suite(void);
static void	 rec_build(struct rec *, const char *, size_t);
static void	 rec_free(struct rec *);
static char	*crlf(const char *);
static void	 expect(const char *, size_t, const char *, const char *,
		    const char *);
static void	 check_tree(const struct rec *, size_t, const char *);
static char	*slurp(const char *, size_t *);
static int	 corpus_main(const char *);
static void	 field_cb(const char *, size_t, void *);

static void
rec_build(struct rec *r, const char *msg, size_t len)
{
	ck_assert_int_eq(imap_msg_meta_build(msg, len, &r->raw, &r->len), 0);
	ck_assert_msg(imap_meta_parse(r->raw, r->len, &r->m) == 0,
	    "record does not parse: %s", err_msg());
}

static void
rec_free(struct rec *r)
{
	free(r->raw);
	r->raw = NULL;
}

/* The same text with every LF as CRLF. */
static char *
crlf(const char *s)
{
	size_t n = strlen(s), i, o = 0;
	char *r = malloc(2 * n + 1);

	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			r[o++] = '\r';
		r[o++] = s[i];
	}
	r[o] = '\0';
	return r;
}

/* BODYSTRUCTURE (and BODY, ENVELOPE when not NULL) of msg. */
static void
expect(const char *msg, size_t len, const char *bs, const char *body,
    const char *env)
{
	struct rec r;

	rec_build(&r, msg, len);
	ck_assert_msg(r.m.bodystructure_len == strlen(bs) &&
	    memcmp(r.m.bodystructure, bs, strlen(bs)) == 0,
	    "BODYSTRUCTURE\n got: %.*s\nwant: %s",
	    (int)r.m.bodystructure_len, r.m.bodystructure, bs);
	if (body != NULL)
		ck_assert_msg(r.m.body_len == strlen(body) &&
		    memcmp(r.m.body, body, strlen(body)) == 0,
		    "BODY\n got: %.*s\nwant: %s", (int)r.m.body_len, r.m.body,
		    body);
	if (env != NULL)
		ck_assert_msg(r.m.envelope_len == strlen(env) &&
		    memcmp(r.m.envelope, env, strlen(env)) == 0,
		    "ENVELOPE\n got: %.*s\nwant: %s", (int)r.m.envelope_len,
		    r.m.envelope, env);
	check_tree(&r, len, "expect");
	rec_free(&r);
}

/* The part table is a tree of ranges inside the message. */
static void
check_tree(const struct rec *r, size_t msglen, const char *what)
{
	struct imap_part p, ch;
	size_t i, n;
	uint32_t k;

	ck_assert_msg(r->m.nparts >= 1, "%s: no parts", what);
	for (i = 0; i < r->m.nparts; i++) {
		imap_meta_part(&r->m, i, &p);
		ck_assert_msg(p.hdr_off <= p.body_off && p.body_off <= p.end &&
		    p.end <= msglen, "%s: part %zu [%llu,%llu,%llu) of %zu",
		    what, i, (unsigned long long)p.hdr_off,
		    (unsigned long long)p.body_off,
		    (unsigned long long)p.end, msglen);
		ck_assert_msg(p.hdr_crlf >= p.body_off - p.hdr_off &&
		    p.body_crlf >= p.end - p.body_off, "%s: part %zu crlf "
		    "shorter than raw", what, i);
		n = 0;
		for (k = p.first_child; k != 0 && n <= p.nchildren;
		    k = ch.next) {
			imap_meta_part(&r->m, k, &ch);
			ck_assert_msg(ch.parent == i && ch.hdr_off >= p.body_off
			    && ch.end <= p.end, "%s: child %u of %zu outside",
			    what, k, i);
			n++;
		}
		ck_assert_msg(n == p.nchildren, "%s: part %zu has %zu of %u "
		    "children linked", what, i, n, p.nchildren);
	}
	imap_meta_part(&r->m, 0, &p);
	ck_assert_msg(p.hdr_off == 0 && p.end == msglen, "%s: part 0 is "
	    "not the message", what);
}

static const char alt_msg[] =
    "From: a@b.c\n"
    "Subject: alt\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/alternative; boundary=\"XX\"\n"
    "\n"
    "preamble\n"
    "--XX\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "hello\n"
    "world\n"
    "--XX\n"
    "Content-Type: text/html\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "Content-Disposition: inline; filename=\"a b.html\"\n"
    "Content-Language: en, de\n"
    "Content-Location: http://x.example/a\n"
    "\n"
    "<b>hi</b>\n"
    "--XX--\n"
    "epilogue\n";

static const char alt_bs[] =
    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 1 "
    "NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
    "\"quoted-printable\" 9 0 NIL (\"inline\" (\"filename\" \"a b.html\")) "
    "(\"en\" \"de\") \"http://x.example/a\") \"alternative\" "
    "(\"boundary\" \"XX\") NIL NIL NIL)";
static const char alt_body[] =
    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 1)"
    "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
    "\"quoted-printable\" 9 0) \"alternative\")";

START_TEST(test_multipart_alternative)
{
	char *c = crlf(alt_msg);

	expect(c, strlen(c), alt_bs, alt_body, "(NIL \"alt\" ((NIL NIL \"a\" "
	    "\"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
	    "NIL NIL NIL NIL NIL)");
	free(c);
}
END_TEST

/* Bare LF counts as CRLF: the same answers and section lengths. */
START_TEST(test_lf_same_as_crlf)
{
	char *c = crlf(alt_msg);
	struct rec a, b;
	uint64_t o1, e1, l1, o2, e2, l2;
	uint32_t path[1] = { 1 };
	enum imap_section_kind kinds[] = { IMAP_SECTION_ALL,
	    IMAP_SECTION_HEADER, IMAP_SECTION_TEXT };
	size_t i;

	expect(alt_msg, strlen(alt_msg), alt_bs, alt_body, NULL);
	rec_build(&a, alt_msg, strlen(alt_msg));
	rec_build(&b, c, strlen(c));
	for (i = 0; i < 3; i++) {
		ck_assert(imap_meta_section(&a.m, NULL, 0, kinds[i], &o1, &e1,
		    &l1) == 1);
		ck_assert(imap_meta_section(&b.m, NULL, 0, kinds[i], &o2, &e2,
		    &l2) == 1);
		ck_assert_msg(l1 == l2 && l2 == e2 - o2, "kind %zu: LF %llu, "
		    "CRLF %llu, raw CRLF %llu", i, (unsigned long long)l1,
		    (unsigned long long)l2, (unsigned long long)(e2 - o2));
	}
	ck_assert(imap_meta_section(&a.m, NULL, 0, IMAP_SECTION_ALL, &o1, &e1,
	    &l1) == 1);
	ck_assert_uint_eq(l1, strlen(c));
	ck_assert_uint_eq(e1 - o1, strlen(alt_msg));
	ck_assert(imap_meta_section(&a.m, path, 1, IMAP_SECTION_ALL, &o1, &e1,
	    &l1) == 1);
	ck_assert_msg(e1 - o1 == 11 && l1 == 12 &&
	    memcmp(alt_msg + o1, "hello\nworld", 11) == 0, "BODY[1] is "
	    "[%llu,%llu) crlf %llu", (unsigned long long)o1,
	    (unsigned long long)e1, (unsigned long long)l1);
	rec_free(&a);
	rec_free(&b);
	free(c);
}
END_TEST

START_TEST(test_sections)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=b1\n"
	    "\n"
	    "--b1\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "see attached\n"
	    "--b1\n"
	    "Content-Type: message/rfc822\n"
	    "\n"
	    "From: Inner <in@x.y>\n"
	    "Subject: inner\n"
	    "Content-Type: multipart/alternative; boundary=b2\n"
	    "\n"
	    "--b2\n"
	    "\n"
	    "inner text\n"
	    "--b2--\n"
	    "\n"
	    "--b1--\n";
	struct rec r;
	uint64_t o, e, l;
	uint32_t p2[1] = { 2 }, p21[2] = { 2, 1 }, p1[1] = { 1 },
	    p3[1] = { 3 }, p11[2] = { 1, 1 }, p0[1] = { 0 };

	expect(msg, sizeof(msg) - 1,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "12 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "
	    "118 (NIL \"inner\" ((\"Inner\" NIL \"in\" \"x.y\")) ((\"Inner\" "
	    "NIL \"in\" \"x.y\")) ((\"Inner\" NIL \"in\" \"x.y\")) NIL NIL NIL "
	    "NIL NIL) ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 10 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" "
	    "\"b2\") NIL NIL NIL) 8 NIL NIL NIL NIL) \"mixed\" (\"boundary\" "
	    "\"b1\") NIL NIL NIL)", NULL, NULL);
	rec_build(&r, msg, sizeof(msg) - 1);
	ck_assert_uint_eq(r.m.nparts, 5);
	/* 2.HEADER: the encapsulated message's header */
	ck_assert(imap_meta_section(&r.m, p2, 1, IMAP_SECTION_HEADER, &o, &e,
	    &l) == 1);
	ck_assert_msg(memcmp(msg + o, "From: Inner", 11) == 0 &&
	    msg[e - 1] == '\n' && msg[e - 2] == '\n' && l == (e - o) + 4,
	    "2.HEADER [%llu,%llu)", (unsigned long long)o,
	    (unsigned long long)e);
	/* 2.1: the inner text part */
	ck_assert(imap_meta_section(&r.m, p21, 2, IMAP_SECTION_ALL, &o, &e,
	    &l) == 1);
	ck_assert_msg(e - o == 10 && memcmp(msg + o, "inner text", 10) == 0,
	    "2.1 is %.*s", (int)(e - o), msg + o);
	/* 2.1.MIME: its (empty) header block */
	ck_assert(imap_meta_section(&r.m, p21, 2, IMAP_SECTION_MIME, &o, &e,
	    &l) == 1);
	ck_assert_msg(e - o == 1 && l == 2, "2.1.MIME is %llu bytes",
	    (unsigned long long)(e - o));
	/* 1.MIME: the first part's header */
	ck_assert(imap_meta_section(&r.m, p1, 1, IMAP_SECTION_MIME, &o, &e,
	    &l) == 1);
	ck_assert(e - o == 26 && memcmp(msg + o, "Content-Type: text/plain",
	    24) == 0);
	/* 2.TEXT: the encapsulated message's body */
	ck_assert(imap_meta_section(&r.m, p2, 1, IMAP_SECTION_TEXT, &o, &e,
	    &l) == 1);
	ck_assert(memcmp(msg + o, "--b2\n", 5) == 0);
	/* nothing there: part 3, 1.1, HEADER of a text part, part 0 */
	ck_assert_int_eq(imap_meta_section(&r.m, p3, 1, IMAP_SECTION_ALL, &o,
	    &e, &l), 0);
	ck_assert_int_eq(imap_meta_section(&r.m, p11, 2, IMAP_SECTION_ALL, &o,
	    &e, &l), 0);
	ck_assert_int_eq(imap_meta_section(&r.m, p1, 1, IMAP_SECTION_HEADER,
	    &o, &e, &l), 0);
	ck_assert_int_eq(imap_meta_section(&r.m, p0, 1, IMAP_SECTION_ALL, &o,
	    &e, &l), 0);
	ck_assert_int_eq(imap_meta_section(&r.m, NULL, 0, IMAP_SECTION_MIME,
	    &o, &e, &l), 0);
	rec_free(&r);
}
END_TEST

/* A single-part message is its own part 1. */
START_TEST(test_single_part_sections)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct rec r;
	uint64_t o, e, l;
	uint32_t p1[1] = { 1 }, p2[1] = { 2 };

	rec_build(&r, msg, sizeof(msg) - 1);
	ck_assert(imap_meta_section(&r.m, p1, 1, IMAP_SECTION_ALL, &o, &e,
	    &l) == 1);
	ck_assert(o == 14 && e == 20 && l == 6);
	ck_assert_int_eq(imap_meta_section(&r.m, p2, 1, IMAP_SECTION_ALL, &o,
	    &e, &l), 0);
	rec_free(&r);
}
END_TEST

START_TEST(test_missing_content_type)
{
	/* no MIME-Version, no Content-Type: the Content-* fields do not
	   count, it is text/plain us-ascii 7bit */
	static const char msg[] = "Subject: x\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-ID: <x@y>\r\n\r\nhi\r\n";
	static const char mime[] = "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-ID: <x@y>\r\n\r\nhi\r\n";

	expect(msg, sizeof(msg) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 4 1 NIL NIL NIL NIL)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "4 1)", NULL);
	expect(mime, sizeof(mime) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") \"<x@y>\" NIL \"base64\" 4 1 NIL NIL NIL NIL)",
	    NULL, NULL);
}
END_TEST

START_TEST(test_bad_boundary)
{
	static const char none[] = "Content-Type: multipart/mixed; "
	    "boundary=nothere\r\n\r\n--other\r\nxx\r\n--other--\r\n";
	static const char noparam[] = "Content-Type: multipart/mixed\r\n"
	    "\r\n--other\r\nxx\r\n";
	static const char closed[] = "Content-Type: multipart/mixed; "
	    "boundary=b\r\n\r\n--b--\r\n--b\r\n\r\nlate\r\n";
	static const char nested[] = "Content-Type: multipart/mixed; "
	    "boundary=out\r\n\r\n--out\r\nContent-Type: multipart/related; "
	    "boundary=in\r\n\r\n--in\r\n\r\na\r\n--out\r\n\r\nb\r\n--out--\r\n";

	/* a multipart without parts: one empty text part */
	expect(none, sizeof(none) - 1, "((\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" "
	    "(\"boundary\" \"nothere\") NIL NIL NIL)", "((\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
	    NULL);
	/* no boundary parameter: a leaf of that type */
	expect(noparam, sizeof(noparam) - 1, "(\"multipart\" \"mixed\" NIL "
	    "NIL NIL \"7bit\" 13 NIL NIL NIL NIL)", NULL, NULL);
	/* the closing boundary first: no parts, the rest is epilogue */
	expect(closed, sizeof(closed) - 1, "((\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" "
	    "(\"boundary\" \"b\") NIL NIL NIL)", NULL, NULL);
	/* an inner multipart that never closes ends at the outer boundary */
	expect(nested, sizeof(nested) - 1, "(((\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \"related\" "
	    "(\"boundary\" \"in\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \"mixed\" "
	    "(\"boundary\" \"out\") NIL NIL NIL)", NULL, NULL);
}
END_TEST

START_TEST(test_8bit_headers)
{
	static const char msg[] = "Subject: R\xc3\xa9sum\xc3\xa9\r\n"
	    "From: J\xc3\xbcrgen <j@x.de>\r\n"
	    "Content-Type: text/plain; name=\"\xc3\xa9.txt\"\r\n"
	    "Content-Description: caf\xc3\xa9\r\n\r\nx";

	expect(msg, sizeof(msg) - 1, "(\"text\" \"plain\" (\"name\" "
	    "{6}\r\n\xc3\xa9.txt \"charset\" \"us-ascii\") NIL {5}\r\n"
	    "caf\xc3\xa9 \"7bit\" 1 0 NIL NIL NIL NIL)", NULL,
	    "(NIL {8}\r\nR\xc3\xa9sum\xc3\xa9 (({7}\r\nJ\xc3\xbcrgen NIL \"j\" "
	    "\"x.de\")) (({7}\r\nJ\xc3\xbcrgen NIL \"j\" \"x.de\")) "
	    "(({7}\r\nJ\xc3\xbcrgen NIL \"j\" \"x.de\")) NIL NIL NIL NIL "
	    "NIL)");
}
END_TEST

START_TEST(test_quoting)
{
	/* a few quotes are escaped; many, or CR/LF, make a literal; runs
	   of white space in a subject become one space */
	static const char msg[] = "Subject:   a  \"b\"\tc \r\n"
	    "Content-Type: text/plain; x=\"a\\\"b\"; y=\"\\\"\\\"\\\"\\\"\\\"\"\r\n"
	    "Message-ID: <m@x>\r\n\r\n";

	expect(msg, sizeof(msg) - 1, "(\"text\" \"plain\" (\"x\" \"a\\\"b\" "
	    "\"y\" {5}\r\n\"\"\"\"\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "0 0 NIL NIL NIL NIL)", NULL, "(NIL {7}\r\na \"b\" c NIL NIL NIL "
	    "NIL NIL NIL NIL \"<m@x>\")");
}
END_TEST

START_TEST(test_rfc2231)
{
	static const char msg[] = "MIME-Version: 1.0\r\n"
	    "Content-Type: application/pdf; x*=utf-8''%E2%82%AC;\r\n"
	    " name*1=\"name.pdf\"; name*0=\"long\"; a=b\r\n"
	    "Content-Disposition: attachment; filename*0*=utf-8''a%20;\r\n"
	    " filename*1*=b\r\n"
	    "\r\n%PDF";

	expect(msg, sizeof(msg) - 1, "(\"application\" \"pdf\" (\"a\" \"b\" "
	    "\"name\" \"longname.pdf\" \"x*\" \"utf-8''%E2%82%AC\") NIL NIL "
	    "\"7bit\" 4 NIL (\"attachment\" (\"filename*\" \"utf-8''a%20b\")) "
	    "NIL NIL)", NULL, NULL);
}
END_TEST

/* A Content-Disposition without parameters gives way to a later one. */
START_TEST(test_second_disposition)
{
	static const char msg[] = "MIME-Version: 1.0\r\n"
	    "Content-Disposition: inline\r\n"
	    "Content-Disposition: attachment; filename=a.txt\r\n"
	    "Content-Disposition: inline; filename=b.txt\r\n\r\nx";

	expect(msg, sizeof(msg) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 1 0 NIL (\"attachment\" "
	    "(\"filename\" \"a.txt\")) NIL NIL)", NULL, NULL);
}
END_TEST

START_TEST(test_broken_params)
{
	/* a parameter that does not parse is skipped to the next ';' */
	static const char msg[] = "MIME-Version: 1.0\r\n"
	    "Content-Type: TEXT/Plain; a=1 b=2; charset=\"ISO-8859-1\"; c=;"
	    " =d; e=\"unterminated\r\n\r\nx\r\n";

	expect(msg, sizeof(msg) - 1, "(\"TEXT\" \"Plain\" (\"a\" \"1\" "
	    "\"charset\" \"ISO-8859-1\" \"c\" \"\" \"\" \"d\") NIL NIL \"7bit\" "
	    "3 1 NIL NIL NIL NIL)", NULL, NULL);
}
END_TEST

START_TEST(test_groups)
{
	static const char msg[] =
	    "From: \"Doe, John\" <John.Doe@Example.COM>\r\n"
	    "Sender: <@route.x,@r2.y:s@z>\r\n"
	    "To: undisclosed-recipients:;, friends: a@b.c, \"Q\" <q@r.s>;,"
	    " =?utf-8?q?J=C3=BCrgen?= <j@x.de>\r\n"
	    "Cc: bare, x@y (Real Name), <>\r\n"
	    "Bcc: \r\n"
	    "\r\n";

	expect(msg, sizeof(msg) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)", NULL,
	    "(NIL NIL ((\"Doe, John\" NIL \"John.Doe\" \"Example.COM\")) "
	    "((NIL \"@route.x,@r2.y\" \"s\" \"z\")) "
	    "((\"Doe, John\" NIL \"John.Doe\" \"Example.COM\")) "
	    "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)"
	    "(NIL NIL \"friends\" NIL)(NIL NIL \"a\" \"b.c\")"
	    "(\"Q\" NIL \"q\" \"r.s\")(NIL NIL NIL NIL)"
	    "(\"=?utf-8?q?J=C3=BCrgen?=\" NIL \"j\" \"x.de\")) "
	    "((NIL NIL \"bare\" \"MISSING_DOMAIN\")(\"Real Name\" NIL \"x\" "
	    "\"y\")(NIL NIL \"MISSING_MAILBOX\" \"SYNTAX_ERROR\")) NIL NIL "
	    "NIL)");
}
END_TEST

/*
 * RFC 3501 7.4.2: Sender and Reply-To that are absent, "or are present
 * but empty", are the From (Dovecot: NVL(reply_to, from) over the parsed
 * list, so blanks or a comment alone count as empty too).
 */
START_TEST(test_empty_sender_reply_to)
{
	static const char msg[] =
	    "From: Ann <ann@x.test>\r\n"
	    "Sender: \r\n"
	    "Reply-To:  (nobody)\r\n"
	    "\r\n";
	static const char msg2[] =
	    "From: \r\n"
	    "Reply-To: r@x.test\r\n"
	    "\r\n";

	expect(msg, sizeof(msg) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)", NULL,
	    "(NIL NIL ((\"Ann\" NIL \"ann\" \"x.test\")) "
	    "((\"Ann\" NIL \"ann\" \"x.test\")) "
	    "((\"Ann\" NIL \"ann\" \"x.test\")) NIL NIL NIL NIL NIL)");
	/* An empty From stays NIL; a Reply-To of its own is kept. */
	expect(msg2, sizeof(msg2) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)", NULL,
	    "(NIL NIL NIL NIL ((NIL NIL \"r\" \"x.test\")) NIL NIL NIL NIL "
	    "NIL)");
}
END_TEST

START_TEST(test_no_final_newline)
{
	static const char a[] = "Subject: x\n\nabc";
	static const char b[] = "Subject: x";
	static const char c[] = "";

	expect(a, sizeof(a) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL)", NULL, NULL);
	expect(b, sizeof(b) - 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)", NULL,
	    "(NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	expect(c, 0, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7bit\" 0 0 NIL NIL NIL NIL)", NULL,
	    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}
END_TEST

START_TEST(test_digest)
{
	/* parts of a multipart/digest default to message/rfc822 */
	static const char msg[] = "Content-Type: multipart/digest; "
	    "boundary=d\n\n--d\n\nSubject: one\n\n1\n--d--\n";

	expect(msg, sizeof(msg) - 1, "((\"message\" \"rfc822\" NIL NIL NIL "
	    "\"7bit\" 17 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "1 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) \"digest\" (\"boundary\" "
	    "\"d\") NIL NIL NIL)", NULL, NULL);
}
END_TEST

START_TEST(test_sort_keys)
{
	static const char msg[] =
	    "Date: Tue, 1 Dec 2026 10:00:00 +0100\r\n"
	    "From: =?utf-8?q?J=C3=BCrgen?= <Juergen@X.DE>\r\n"
	    "To: group: ;, <To@Y>\r\n"
	    "Cc: C@Z\r\n"
	    "Subject: Re: [list] Fwd: =?iso-8859-1?q?Gr=FC=DFe?= (fwd)\r\n"
	    "Message-ID: <abc@def> <ignored@x>\r\n"
	    "In-Reply-To: <p1@x>\r\n"
	    "References: <r1@x> junk <r2@x>\r\n   <r3@x>\r\n"
	    "\r\n";
	static const char irt[] = "In-Reply-To: <p1@x> <p2@x>\r\n"
	    "Message-ID: not an id\r\nSubject: [only]\r\n\r\n";
	struct rec r;

	rec_build(&r, msg, sizeof(msg) - 1);
	ck_assert_int_eq(r.m.date, 1796115600);
#define KEY(f, want) ck_assert_msg(r.m.f##_len == strlen(want) && \
	memcmp(r.m.f, want, strlen(want)) == 0, #f ": got [%.*s] want [%s]", \
	(int)r.m.f##_len, r.m.f, want)
	KEY(base_subject, "Gr\xc3\xbc\xc3\x9f" "e");
	ck_assert_int_eq(r.m.subject_is_reply, 1);
	KEY(from_mailbox, "juergen");
	KEY(from_display, "J\xc3\xbcrgen");
	KEY(to_mailbox, "to");
	KEY(to_display, "To@Y");
	KEY(cc_mailbox, "c");
	KEY(message_id, "abc@def");
	KEY(references, "r1@x r2@x r3@x");
	rec_free(&r);
	rec_build(&r, irt, sizeof(irt) - 1);
	KEY(references, "p1@x");
	KEY(message_id, "");
	KEY(base_subject, "[only]");
	ck_assert_int_eq(r.m.subject_is_reply, 0);
	ck_assert_int_eq(r.m.date, 0);
	KEY(from_mailbox, "");
	rec_free(&r);
#undef KEY
}
END_TEST

START_TEST(test_base_subject)
{
	static const struct {
		const char	*subj, *base;
		int		 reply;
	} t[] = {
		{ "Re: Re: re: x", "x", 1 },
		{ "[fwd: Re: hi]", "hi", 1 },
		{ "[list] hello", "hello", 0 },
		{ "[a][b] Re[c]: x", "x", 1 },
		{ "  spaced \t  out  ", "spaced out", 0 },
		{ "Fw: a (fwd) (fwd)", "a", 1 },
		{ "Re:", "", 1 },
		{ "Reply", "Reply", 0 },
		{ "=?utf-8?b?UmU6IMOp?=", "\xc3\xa9", 1 },
	};
	char buf[256];
	struct rec r;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(buf, sizeof(buf), "Subject: %s\r\n\r\n", t[i].subj);
		rec_build(&r, buf, strlen(buf));
		ck_assert_msg(r.m.base_subject_len == strlen(t[i].base) &&
		    memcmp(r.m.base_subject, t[i].base, strlen(t[i].base)) ==
		    0 && r.m.subject_is_reply == t[i].reply, "[%s]: got [%.*s] "
		    "%d, want [%s] %d", t[i].subj, (int)r.m.base_subject_len,
		    r.m.base_subject, r.m.subject_is_reply, t[i].base,
		    t[i].reply);
		rec_free(&r);
	}
}
END_TEST

START_TEST(test_dates)
{
	static const struct {
		const char	*s;
		int		 ok;
		int64_t		 utc;
		int		 tz;
	} t[] = {
		{ "Tue, 1 Dec 2026 10:00:00 +0100", 1, 1796115600, 60 },
		{ "1 Dec 26 09:00 GMT", 1, 1796115600, 0 },
		{ "Mon, 22 Mar 1993 09:41:09 -0800 (PST)", 1, 732822069,
		    -480 },
		{ "Fri, 14 Jun 91 19:13:14 EDT", 1, 676941194, -240 },
		{ "  Thu,  01 Jan 1970 00:00:00 +0000", 1, 0, 0 },
		{ "1-Jan-2000 00:00:00 Z", 1, 946684800, 0 },
		{ "Sat, 29 Feb 2020 12:00:00 +0000 (UTC)", 1, 1582977600, 0 },
		{ "31 Feb 2020 12:00:00 +0000", 0, 0, 0 },
		{ "garbage", 0, 0, 0 },
		{ "Tue, 1 Foo 2026 10:00:00 +0100", 0, 0, 0 },
		{ "1 Dec 2026 25:00:00 +0100", 0, 0, 0 },
		{ "1 Dec 2026 10:00:00 +01", 0, 0, 0 },
		{ "", 0, 0, 0 },
	};
	int64_t utc;
	int tz;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		utc = -1;
		tz = 99;
		ck_assert_msg(imap_date_parse(t[i].s, strlen(t[i].s), &utc,
		    &tz) == t[i].ok, "[%s] ok?", t[i].s);
		if (t[i].ok)
			ck_assert_msg(utc == t[i].utc && tz == t[i].tz,
			    "[%s]: %lld %d, want %lld %d", t[i].s,
			    (long long)utc, tz, (long long)t[i].utc, t[i].tz);
	}
}
END_TEST

START_TEST(test_header_decode)
{
	static const struct {
		const char	*in, *out;
	} t[] = {
		{ "=?utf-8?b?w6k=?= =?utf-8?q?a_b?=", "\xc3\xa9" "a b" },
		{ "x =?ISO-8859-1?Q?=E9?= y", "x \xc3\xa9 y" },
		{ "=?iso-8859-2?q?=B1?=", "\xc4\x85" },
		{ "a =?x-unknown?q?b?= c", "a =?x-unknown?q?b?= c" },
		{ "=?utf-8*en?q?hi?=", "hi" },
		{ "folded\r\n line", "folded line" },
		{ "=?utf-8?q?broken", "=?utf-8?q?broken" },
		{ "=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab" },
		{ "raw \xc3\xa9", "raw \xc3\xa9" },
	};
	/* charset names that are no token stay undecoded (a NUL made the
	   name "", which iconv_open() takes as the locale's charset, and
	   the converter leaked) */
	static const char nul[] = "=?\0x?q?a?= =?a/b?q?c?=";
	char *out;
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		imap_header_decode(t[i].in, strlen(t[i].in), &out, &n);
		ck_assert_msg(n == strlen(t[i].out) && strcmp(out, t[i].out) ==
		    0, "[%s]: got [%s]", t[i].in, out);
		free(out);
	}
	imap_header_decode(nul, sizeof(nul) - 1, &out, &n);
	ck_assert_msg(n == sizeof(nul) - 1 && memcmp(out, nul, n) == 0,
	    "a charset name with NUL or '/' decoded to [%s]", out);
	free(out);
}
END_TEST

struct fields {
	char	buf[512];
	size_t	len;
	int	calls;
};

static void
field_cb(const char *f, size_t len, void *ctx)
{
	struct fields *fs = ctx;

	ck_assert(fs->len + len < sizeof(fs->buf));
	memcpy(fs->buf + fs->len, f, len);
	fs->len += len;
	fs->buf[fs->len] = '\0';
	fs->calls++;
}

START_TEST(test_header_fields)
{
	static const char hdr[] = "From: a\r\nSubject: b\r\n c\r\n"
	    "subject : d\r\nTo: e\r\nnot a field\r\n\r\nBody: no\r\n";
	const char *names[] = { "SUBJECT", "x-none" };
	const size_t lens[] = { 7, 6 };
	struct fields fs;

	memset(&fs, 0, sizeof(fs));
	imap_header_fields(hdr, sizeof(hdr) - 1, names, lens, 2, 0, field_cb,
	    &fs);
	ck_assert_int_eq(fs.calls, 2);
	ck_assert_str_eq(fs.buf, "Subject: b\r\n c\r\nsubject : d\r\n");
	memset(&fs, 0, sizeof(fs));
	imap_header_fields(hdr, sizeof(hdr) - 1, names, lens, 2, 1, field_cb,
	    &fs);
	ck_assert_int_eq(fs.calls, 2);
	ck_assert_str_eq(fs.buf, "From: a\r\nTo: e\r\n");
}
END_TEST

/* Every prefix of a message builds a record that parses. */
START_TEST(test_prefixes)
{
	char *c = crlf(alt_msg);
	struct rec r;
	size_t n, len = strlen(c);

	for (n = 0; n <= len; n++) {
		rec_build(&r, c, n);
		check_tree(&r, n, "prefix");
		rec_free(&r);
	}
	free(c);
}
END_TEST

START_TEST(test_depth_limit)
{
	char *msg = malloc(64 * 1024), *p = msg;
	struct rec r;
	size_t i, depth = 0, maxdepth = 0;
	int j;

	/* 100 nested message/rfc822, then 100 nested multiparts */
	for (j = 0; j < 100; j++)
		p += sprintf(p, "Content-Type: message/rfc822\n\n");
	for (j = 0; j < 100; j++)
		p += sprintf(p, "Content-Type: multipart/mixed; boundary=b%d\n"
		    "\n--b%d\n", j, j);
	p += sprintf(p, "\ntext\n");
	rec_build(&r, msg, (size_t)(p - msg));
	check_tree(&r, (size_t)(p - msg), "deep");
	ck_assert_msg(r.m.nparts <= IMAP_MSG_DEPTH_MAX + 1, "%zu parts",
	    r.m.nparts);
	for (i = 0; i < r.m.bodystructure_len; i++) {
		if (r.m.bodystructure[i] == '(' && ++depth > maxdepth)
			maxdepth = depth;
		else if (r.m.bodystructure[i] == ')')
			depth--;
	}
	ck_assert_msg(depth == 0 && maxdepth < 3 * IMAP_MSG_DEPTH_MAX + 4,
	    "BODYSTRUCTURE nests %zu deep, %zu left open", maxdepth, depth);
	rec_free(&r);
	free(msg);
}
END_TEST

START_TEST(test_parts_limit)
{
	size_t n = IMAP_MSG_PARTS_MAX + 50, i;
	char *msg = malloc(n * 20 + 100), *p = msg;
	struct rec r;
	uint32_t path[1];
	uint64_t o, e, l;

	p += sprintf(p, "Content-Type: multipart/mixed; boundary=z\n\n");
	for (i = 0; i < n; i++)
		p += sprintf(p, "--z\n\n%zu\n", i);
	p += sprintf(p, "--z--\n");
	rec_build(&r, msg, (size_t)(p - msg));
	check_tree(&r, (size_t)(p - msg), "many");
	ck_assert_uint_eq(r.m.nparts, IMAP_MSG_PARTS_MAX);
	path[0] = IMAP_MSG_PARTS_MAX - 1;
	ck_assert(imap_meta_section(&r.m, path, 1, IMAP_SECTION_ALL, &o, &e,
	    &l) == 1);
	path[0] = IMAP_MSG_PARTS_MAX;
	ck_assert(imap_meta_section(&r.m, path, 1, IMAP_SECTION_ALL, &o, &e,
	    &l) == 0);
	rec_free(&r);
	free(msg);
}
END_TEST

/* A huge address list: the envelope keeps the first 10,000. */
START_TEST(test_many_addresses)
{
	size_t n = 12000, i, count = 0;
	char *msg = malloc(n * 16 + 64), *p = msg;
	struct rec r;
	const char *q;

	p += sprintf(p, "To: ");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%sa%zu@b", i > 0 ? ",\r\n " : "", i);
	p += sprintf(p, "\r\n\r\n");
	rec_build(&r, msg, (size_t)(p - msg));
	for (q = r.m.envelope; (q = strstr(q, "(NIL NIL \"a")) != NULL; q++)
		count++;
	ck_assert_uint_eq(count, 10000);
	ck_assert(r.m.to_mailbox_len == 2 && memcmp(r.m.to_mailbox, "a0", 2)
	    == 0);
	rec_free(&r);
	free(msg);
}
END_TEST

/* A damaged record is CORRUPT, never a crash. */
START_TEST(test_corrupt_records)
{
	char *c = crlf(alt_msg);
	struct rec r;
	struct imap_meta m;
	uint8_t *copy;
	size_t i, n, ok = 0;
	uint64_t o, e, l;
	uint32_t path[3] = { 1, 1, 1 };
	int v;

	rec_build(&r, c, strlen(c));
	copy = malloc(r.len);
	for (n = 0; n < r.len; n++) {
		memcpy(copy, r.raw, n);
		ck_assert_msg(imap_meta_parse(copy, n, &m) == -1 &&
		    err_class() == ERR_CORRUPT, "a record cut to %zu of %zu "
		    "bytes parses", n, r.len);
	}
	for (i = 0; i < r.len; i++) {
		for (v = 0; v < 256; v += 17) {
			memcpy(copy, r.raw, r.len);
			copy[i] ^= (uint8_t)(v | 1);
			if (imap_meta_parse(copy, r.len, &m) != 0) {
				ck_assert_int_eq(err_class(), ERR_CORRUPT);
				continue;
			}
			ok++;
			for (n = 0; n <= 3; n++) {
				(void)imap_meta_section(&m, path, n,
				    IMAP_SECTION_ALL, &o, &e, &l);
				(void)imap_meta_section(&m, path, n,
				    IMAP_SECTION_TEXT, &o, &e, &l);
			}
		}
	}
	ck_assert(ok > 0);
	copy[0] = IMAP_META_VERSION + 1;
	ck_assert_int_eq(imap_meta_parse(copy, r.len, &m), -1);
	free(copy);
	rec_free(&r);
	free(c);
}
END_TEST

static Suite *
imapmsg_suite(void)
{
	Suite *s = suite_create("mail_imapmsg");
	TCase *tc;

	tc = tcase_create("structure");
	tcase_add_test(tc, test_multipart_alternative);
	tcase_add_test(tc, test_lf_same_as_crlf);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_single_part_sections);
	tcase_add_test(tc, test_missing_content_type);
	tcase_add_test(tc, test_bad_boundary);
	tcase_add_test(tc, test_8bit_headers);
	tcase_add_test(tc, test_quoting);
	tcase_add_test(tc, test_rfc2231);
	tcase_add_test(tc, test_broken_params);
	tcase_add_test(tc, test_second_disposition);
	tcase_add_test(tc, test_groups);
	tcase_add_test(tc, test_empty_sender_reply_to);
	tcase_add_test(tc, test_no_final_newline);
	tcase_add_test(tc, test_digest);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_sort_keys);
	tcase_add_test(tc, test_base_subject);
	tcase_add_test(tc, test_dates);
	tcase_add_test(tc, test_header_decode);
	tcase_add_test(tc, test_header_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_prefixes);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_parts_limit);
	tcase_add_test(tc, test_many_addresses);
	tcase_add_test(tc, test_corrupt_records);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * The corpus run
 */

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n + 65536 > cap) {
			cap = (n + 65536) * 2;
			buf = realloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	buf[n] = '\0';
	*len_r = n;
	return buf;
}

static size_t	corpus_compared, corpus_failed, corpus_built;

/* One .eml against expected/NAME.dovecot.{body,bodystructure}. */
static void
corpus_expected(const char *dir, const char *name)
{
	static const char *const kinds[] = { "bodystructure", "body" };
	char path[2048], base[512];
	char *msg, *want;
	size_t len, wlen, plen, i, o;
	struct rec r;
	const char *got;
	size_t gotlen;
	int k;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((msg = slurp(path, &len)) == NULL)
		return;
	/*
	 * Some files of the set have "\r\r\n" line ends: they were converted
	 * to CRLF twice after the servers had them (both Dovecot and Cyrus
	 * count those lines as CRLF lines).  Give us what the servers got.
	 */
	for (i = o = 0; i < len; i++) {
		if (msg[i] == '\r' && i + 2 < len && msg[i + 1] == '\r' &&
		    msg[i + 2] == '\n')
			continue;
		msg[o++] = msg[i];
	}
	len = o;
	snprintf(base, sizeof(base), "%.*s", (int)(strlen(name) - 4), name);
	rec_build(&r, msg, len);
	check_tree(&r, len, name);
	for (k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/expected/%s.dovecot.%s", dir,
		    base, kinds[k]);
		if ((want = slurp(path, &wlen)) == NULL)
			continue;
		while (wlen > 0 && (want[wlen - 1] == '\n' ||
		    want[wlen - 1] == '\r'))
			wlen--;
		plen = k == 0 ? strlen("(BODYSTRUCTURE ") : strlen("(BODY ");
		got = k == 0 ? r.m.bodystructure : r.m.body;
		gotlen = k == 0 ? r.m.bodystructure_len : r.m.body_len;
		corpus_compared++;
		if (wlen < plen + 1 || wlen - plen - 1 != gotlen ||
		    memcmp(want + plen, got, gotlen) != 0) {
			corpus_failed++;
			printf("%s/%s %s differs from Dovecot's\n got: %.*s\n"
			    "want: %.*s\n", dir, name, kinds[k], (int)gotlen,
			    got, (int)(wlen - plen - 1), want + plen);
		}
		free(want);
	}
	rec_free(&r);
	free(msg);
}

static void
corpus_walk(const char *dir, int expected)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[2048];
	char *msg;
	size_t len;
	struct rec r;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "expected") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			corpus_walk(path, expected);
			continue;
		}
		if (expected) {
			size_t n = strlen(de->d_name);

			if (n > 4 && strcmp(de->d_name + n - 4, ".eml") == 0)
				corpus_expected(dir, de->d_name);
			continue;
		}
		if ((msg = slurp(path, &len)) == NULL)
			continue;
		rec_build(&r, msg, len);
		check_tree(&r, len, path);
		rec_free(&r);
		corpus_built++;
		free(msg);
	}
	closedir(d);
}

START_TEST(test_corpus)
{
	const char *base = getenv("IMAPMSG_CORPUS");
	char dir[1024];

	snprintf(dir, sizeof(dir), "%s/imap-fetch-expected", base);
	corpus_walk(dir, 1);
	snprintf(dir, sizeof(dir), "%s/mime-torture", base);
	corpus_walk(dir, 0);
	printf("check_mail_imapmsg: %zu answers compared with Dovecot's, %zu "
	    "differ; %zu mime-torture files built\n", corpus_compared,
	    corpus_failed, corpus_built);
	ck_assert_msg(corpus_compared > 0, "no Dovecot answers under %s",
	    base);
	ck_assert_msg(corpus_failed == 0, "%zu of %zu answers differ from "
	    "Dovecot's", corpus_failed, corpus_compared);
}
END_TEST

static int
corpus_main(const char *base)
{
	char dir[1024];
	struct stat st;
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	snprintf(dir, sizeof(dir), "%s/imap-fetch-expected", base);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "check_mail_imapmsg: %s absent, skipped\n",
		    dir);
		return 77;
	}
	setenv("IMAPMSG_CORPUS", base, 1);
	s = suite_create("mail_imapmsg_corpus");
	tc = tcase_create("corpus");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_corpus);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	if (argc > 1)
		return corpus_main(argv[1]);
	sr = srunner_create(imapmsg_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
