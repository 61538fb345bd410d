/*
 * check_imap_search.c - SEARCH evaluation (imapd/search.c): keys parsed
 * by the real parser, compiled, evaluated in stages on messages built in
 * memory; the text of real MIME messages (transfer encodings, charsets,
 * RFC 2047 headers, attachments not read).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/imapmsg.h"
#include "store/message.h"
#include "imapd/search.h"

struct mem {
	const char	*p;
	size_t		 len;
	size_t		 read;	/* bytes handed out */
};

static Suite	*search_suite(void);
static struct imap_search_prog *compile(const char *,
	    const struct imap_search_env *);
static int	mem_read(void *, uint64_t, size_t, void *, size_t *);
static int	match_msg(const char *, const char *, struct mem *);

static struct imap_parser parser;
static char cmdbuf[4096];

/* Compiles " keys" as the parser sees them after the verb (8-bit
 * quoted strings allowed, as after ENABLE UTF8=ACCEPT). */
static struct imap_search_prog *
compile(const char *keys, const struct imap_search_env *env)
{
	struct imap_search s;
	struct imap_search_prog *p;
	struct imap_search_env e0;

	snprintf(cmdbuf, sizeof(cmdbuf), " %s", keys);
	imap_parser_init(&parser, cmdbuf, strlen(cmdbuf), 1);
	ck_assert_msg(imap_p_search(&parser, &s) == 0, "parse %s: %s", keys,
	    parser.err);
	if (env == NULL) {
		memset(&e0, 0, sizeof(e0));
		e0.nmsgs = 10;
		e0.max_uid = 100;
		e0.now = 1000000;
		env = &e0;
	}
	p = imap_search_compile(s.root, env);
	imap_parser_free(&parser);
	return p;
}

static int
mem_read(void *arg, uint64_t off, size_t len, void *buf, size_t *len_r)
{
	struct mem *m = arg;

	if (off > m->len)
		off = m->len;
	if (len > m->len - off)
		len = m->len - off;
	memcpy(buf, m->p + off, len);
	*len_r = len;
	m->read += len;
	return 1;
}

/* Evaluates keys on a whole message the way cmd_search.c does. */
static int
match_msg(const char *keys, const char *msg, struct mem *mr)
{
	struct imap_search_prog *p = compile(keys, NULL);
	struct imap_search_msg sm;
	struct imap_meta meta;
	struct imap_part p0;
	struct imap_buf text, body;
	void *raw;
	size_t rawlen;
	int r;

	memset(mr, 0, sizeof(*mr));
	mr->p = msg;
	mr->len = strlen(msg);
	imap_msg_meta_build(msg, mr->len, &raw, &rawlen);
	ck_assert_int_eq(imap_meta_parse(raw, rawlen, &meta), 0);
	imap_buf_init(&text);
	imap_buf_init(&body);
	memset(&sm, 0, sizeof(sm));
	sm.seq = 1;
	sm.uid = 1;
	sm.keywords = "";
	sm.size = mr->len;
	r = imap_search_match(p, &sm);
	if (r == IMAP_SM_MAYBE) {
		imap_meta_part(&meta, 0, &p0);
		sm.sent_date = imap_search_sent_local(&meta, 0);
		sm.header = msg + p0.hdr_off;
		sm.header_len = p0.body_off - p0.hdr_off;
		sm.have = IMAP_SN_DATE | IMAP_SN_HEADER;
		r = imap_search_match(p, &sm);
	}
	if (r == IMAP_SM_MAYBE) {
		ck_assert_int_eq(imap_search_text(&meta, IMAP_SN_TEXT |
		    IMAP_SN_BODY, mem_read, mr, &text, &body), 1);
		sm.text = text.p;
		sm.text_len = text.len;
		sm.body = body.p;
		sm.body_len = body.len;
		sm.have |= IMAP_SN_TEXT | IMAP_SN_BODY;
		r = imap_search_match(p, &sm);
	}
	ck_assert_int_ne(r, IMAP_SM_MAYBE);
	imap_buf_free(&text);
	imap_buf_free(&body);
	free(raw);
	imap_search_prog_free(&p);
	return r == IMAP_SM_YES;
}

START_TEST(test_cheap_keys)
{
	struct imap_search_prog *p;
	struct imap_search_msg m;

	memset(&m, 0, sizeof(m));
	m.seq = 3;
	m.uid = 30;
	m.flags = STORE_F_SEEN | STORE_F_FLAGGED;
	m.keywords = "$Forwarded Work";
	m.size = 2000;
	m.internal_date = 86400 * 10 + 5;	/* 11-Jan-1970 */
	m.modseq = 7;
	p = compile("SEEN FLAGGED UNDELETED KEYWORD work UNKEYWORD junk "
	    "LARGER 1999 SMALLER 2001 MODSEQ 7 ON 11-Jan-1970 2:4 UID 30", NULL);
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	imap_search_prog_free(&p);
	p = compile("OR DELETED NOT SEEN", NULL);
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_NO);
	imap_search_prog_free(&p);
	p = compile("(BEFORE 11-Jan-1970)", NULL);
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_NO);
	imap_search_prog_free(&p);
	p = compile("SINCE 11-Jan-1970 NEW", NULL);
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_NO);
	m.recent = 1;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_NO);	/* seen */
	m.flags = 0;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	imap_search_prog_free(&p);
	/* '*' is the last message / the highest uid */
	p = compile("5:* UID 100:*", NULL);
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_NO);
	m.seq = 10;
	m.uid = 100;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	imap_search_prog_free(&p);
	/* YOUNGER/OLDER count from now (1000000) */
	m.internal_date = 1000000 - 50;
	p = compile("YOUNGER 60 NOT OLDER 60", NULL);
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	imap_search_prog_free(&p);
}
END_TEST

START_TEST(test_saved_result)
{
	static const uint32_t saved[] = { 2, 3, 4, 9 };
	struct imap_search_env env;
	struct imap_search_prog *p;
	struct imap_search_msg m;

	memset(&env, 0, sizeof(env));
	env.nmsgs = 5;
	env.max_uid = 9;
	env.saved = saved;
	env.nsaved = 4;
	/* "$" is UIDs whether used as a sequence set or a UID set */
	p = compile("$", &env);
	memset(&m, 0, sizeof(m));
	m.seq = 1;
	m.uid = 9;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	m.uid = 5;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_NO);
	imap_search_prog_free(&p);
}
END_TEST

START_TEST(test_stages)
{
	struct imap_search_prog *p;
	struct imap_search_msg m;

	/* a flag that rules the message out decides before any text */
	p = compile("DELETED BODY hello", NULL);
	ck_assert_int_eq(imap_search_prog_needs(p), IMAP_SN_BODY);
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_NO);
	m.flags = STORE_F_DELETED;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_MAYBE);
	m.have = IMAP_SN_BODY;
	m.body = "say hello";
	m.body_len = 9;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	imap_search_prog_free(&p);
	/* OR: a cheap yes decides */
	p = compile("OR SEEN SUBJECT x", NULL);
	memset(&m, 0, sizeof(m));
	m.flags = STORE_F_SEEN;
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	imap_search_prog_free(&p);
	/* an empty BODY/TEXT string matches without reading */
	p = compile("TEXT \"\"", NULL);
	ck_assert_int_eq(imap_search_prog_needs(p), 0);
	ck_assert_int_eq(imap_search_match(p, &m), IMAP_SM_YES);
	imap_search_prog_free(&p);
}
END_TEST

static const char mime_msg[] =
	"From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <jm@example.test>\r\n"
	"To: team@example.test\r\n"
	"Subject: =?UTF-8?B?R3LDvN9l?= from the office\r\n"
	"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
	"X-Empty:\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Sch=F6ne Gr=FC=DFe aus K=F6ln, long line with a soft=\r\n"
	"break inside.\r\n"
	"--b1\r\n"
	"Content-Type: text/html; charset=\"utf-8\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"PHA+UGFzc3dvcmQ6IMOEUEZFTDwvcD4=\r\n"
	"--b1\r\n"
	"Content-Type: application/octet-stream; name=secret.bin\r\n"
	"X-Part-Header: visible-in-text\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"TkVFRExFSU5BVFRBQ0hNRU5U\r\n"
	"--b1--\r\n";

START_TEST(test_text_decoding)
{
	struct mem mr;

	/* RFC 2047 in headers, any case */
	ck_assert(match_msg("FROM \"jörg müller\"", mime_msg, &mr));
	ck_assert(match_msg("FROM JM@EXAMPLE", mime_msg, &mr));
	ck_assert(match_msg("SUBJECT \"GRÜSSE\"", mime_msg, &mr) == 0);
	ck_assert(match_msg("SUBJECT \"grüße from\"", mime_msg, &mr));
	ck_assert(match_msg("HEADER X-Empty \"\"", mime_msg, &mr));
	ck_assert(!match_msg("HEADER X-Missing \"\"", mime_msg, &mr));
	ck_assert(!match_msg("TO jm@", mime_msg, &mr));
	/* quoted-printable Latin-1, soft line break */
	ck_assert(match_msg("BODY \"schöne grüße aus köln\"", mime_msg, &mr));
	ck_assert(match_msg("BODY softbreak", mime_msg, &mr));
	/* base64 UTF-8 HTML, folded Ä */
	ck_assert(match_msg("BODY \"password: äpfel\"", mime_msg, &mr));
	/* a non-text attachment is not searched, nor read */
	ck_assert(!match_msg("BODY needleinattachment", mime_msg, &mr));
	ck_assert(!match_msg("TEXT needleinattachment", mime_msg, &mr));
	ck_assert_msg(strstr(mime_msg, "TkVFRE") != NULL &&
	    mr.read < strlen(mime_msg) - 30, "read %zu of %zu bytes", mr.read,
	    strlen(mime_msg));
	/* TEXT: headers of the message and of its parts too; BODY not */
	ck_assert(match_msg("TEXT \"jörg\"", mime_msg, &mr));
	ck_assert(match_msg("TEXT visible-in-text", mime_msg, &mr));
	ck_assert(!match_msg("BODY \"jörg\"", mime_msg, &mr));
	/* SENT* use the Date: header */
	ck_assert(match_msg("SENTON 1-Dec-2026", mime_msg, &mr));
	ck_assert(!match_msg("SENTBEFORE 1-Dec-2026", mime_msg, &mr));
	/* ... its day in its own zone: 30 Nov 23:30 UTC is 1 Dec here */
	ck_assert(match_msg("SENTON 1-Dec-2026",
	    "Date: Tue, 01 Dec 2026 01:30:00 +0200\r\n\r\nx\r\n", &mr));
	ck_assert(match_msg("SENTSINCE 1-Dec-2026 SENTBEFORE 2-Dec-2026",
	    "Date: Tue, 01 Dec 2026 22:30:00 -0500\r\n\r\nx\r\n", &mr));
	ck_assert(!match_msg("SENTON 30-Nov-2026",
	    "Date: Tue, 01 Dec 2026 01:30:00 +0200\r\n\r\nx\r\n", &mr));
}
END_TEST

static const char fwd_msg[] =
	"From: a@example.test\n"
	"Subject: fwd\n"
	"Content-Type: multipart/mixed; boundary=o\n"
	"\n"
	"--o\n"
	"Content-Type: text/plain\n"
	"\n"
	"see below\n"
	"--o\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: inner@example.test\n"
	"Subject: =?UTF-8?Q?caf=C3=A9?=\n"
	"Content-Type: text/plain; charset=koi8-r\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"\xf0\xd2\xc9\xd7\xc5\xd4\n"
	"--o--\n";

START_TEST(test_attached_message)
{
	struct mem mr;

	/* an attached message: its header is TEXT (not BODY), its text
	 * body is BODY, converted from its charset (KOI8-R "Привет") */
	ck_assert(match_msg("TEXT inner@example", fwd_msg, &mr));
	ck_assert(match_msg("TEXT \"café\"", fwd_msg, &mr));
	ck_assert(!match_msg("BODY inner@example", fwd_msg, &mr));
	ck_assert(match_msg("BODY \"привет\"", fwd_msg, &mr));
	ck_assert(match_msg("BODY \"see below\"", fwd_msg, &mr));
	/* HEADER looks at the message's own header only */
	ck_assert(!match_msg("FROM inner", fwd_msg, &mr));
	ck_assert(match_msg("FROM a@example", fwd_msg, &mr));
}
END_TEST

static const char addr_msg[] =
	"From: <jo.doe (at work)@ (main site) example.org>\r\n"
	"To: jo@example.org (Jo Example)\r\n"
	"Cc: team: a1@example.org,\r\n a2@example.org;, b@example.org\r\n"
	"Bcc: =?UTF-8?Q?J=C3=B6?= <jo@example.org>\r\n"
	"Subject: x\r\n"
	"\r\n"
	"body\r\n";

START_TEST(test_addresses)
{
	struct mem mr;

	/* FROM/TO/CC/BCC also match the address as parsed and written
	 * back: comments and spaces inside it do not hide it, a trailing
	 * comment is its name, groups keep their name */
	ck_assert(match_msg("FROM jo.doe@example.org", addr_msg, &mr));
	ck_assert(match_msg("HEADER From jo.doe@example.org", addr_msg, &mr));
	ck_assert(match_msg("TO \"jo example <jo@\"", addr_msg, &mr));
	ck_assert(match_msg("CC team", addr_msg, &mr));
	ck_assert(match_msg("CC \"a2@example.org;, b@\"", addr_msg, &mr));
	ck_assert(!match_msg("CC a3@example.org", addr_msg, &mr));
	ck_assert(match_msg("BCC \"jö <jo@example.org>\"", addr_msg, &mr));
	/* not for other fields */
	ck_assert(!match_msg("SUBJECT \"x <\"", addr_msg, &mr));
}
END_TEST

START_TEST(test_decoders)
{
	struct imap_buf b;
	const char *in;

	imap_buf_init(&b);
	imap_search_decode_cte("BASE64", "aGVs\r\nbG8=\r\n", 12, &b);
	ck_assert_int_eq(b.len, 5);
	ck_assert(memcmp(b.p, "hello", 5) == 0);
	imap_buf_reset(&b);
	/* =XX, soft breaks (with trailing blanks), a stray '=' kept */
	in = "a=3Db=\nc= \r\nd=zz=";
	imap_search_decode_cte("quoted-printable", in, strlen(in), &b);
	ck_assert_int_eq(b.len, 8);
	ck_assert(memcmp(b.p, "a=bcd=zz", 8) == 0);
	imap_buf_reset(&b);
	imap_search_decode_cte("7bit", "As Is", 5, &b);
	ck_assert(b.len == 5 && memcmp(b.p, "As Is", 5) == 0);
	/* a charset iconv knows; one it does not (kept, folded) */
	imap_buf_reset(&b);
	imap_search_fold_charset("windows-1252", "\x80 \xc4", 3, &b);
	ck_assert_int_eq(b.len, 6);
	ck_assert(memcmp(b.p, "\xe2\x82\xac \xc3\xa4", 6) == 0);
	imap_buf_reset(&b);
	imap_search_fold_charset("x-no-such-charset", "ABC", 3, &b);
	ck_assert(b.len == 3 && memcmp(b.p, "abc", 3) == 0);
	imap_buf_free(&b);
}
END_TEST

static Suite *
search_suite(void)
{
	Suite *s = suite_create("imap_search");
	TCase *tc = tcase_create("search");

	tcase_add_test(tc, test_cheap_keys);
	tcase_add_test(tc, test_saved_result);
	tcase_add_test(tc, test_stages);
	tcase_add_test(tc, test_text_decoding);
	tcase_add_test(tc, test_attached_message);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_decoders);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(search_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
