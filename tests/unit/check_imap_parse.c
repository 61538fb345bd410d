/*
 * check_imap_parse.c - the IMAP command parser (imapd/parse.c) and the
 * response builder (imapd/buf.c).
 *
 * Every command is parsed from a malloc'd copy of exactly its length, so
 * a read past the end shows under valgrind/ASan; the trickle tests cut
 * commands at every offset: a prefix must parse or fail with a message,
 * never crash or read beyond what it was given.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "imapd/buf.h"
#include "imapd/parse.h"
#include "store/message.h"

#define S(lit)	lit, sizeof(lit) - 1

/* A parser over an exact copy of s (len bytes). */
struct tp {
	struct imap_parser	 p;
	char			*copy;
};

static Suite	*imap_parse_suite(void);
static struct imap_parser *tp_open(struct tp *, const char *, size_t, int);
static void	 tp_close(struct tp *);

static struct imap_parser *
tp_open(struct tp *t, const char *s, size_t len, int utf8)
{
	t->copy = xmalloc(len == 0 ? 1 : len);
	memcpy(t->copy, s, len);
	imap_parser_init(&t->p, t->copy, len, utf8);
	return &t->p;
}

static void
tp_close(struct tp *t)
{
	imap_parser_free(&t->p);
	free(t->copy);
	t->copy = NULL;
}

static int
str_is(const struct imap_str *s, const char *want, size_t wlen)
{
	return s->s != NULL && s->len == wlen && memcmp(s->s, want, wlen) == 0;
}

/* Literal announcements --------------------------------------------------- */

START_TEST(line_literal_forms)
{
	uint64_t n = 0;
	int ns = -1, bin = -1;

	ck_assert_int_eq(imap_line_literal(S("a LOGIN {5}"), &n, &ns, &bin),
	    1);
	ck_assert(n == 5 && ns == 0 && bin == 0);
	ck_assert_int_eq(imap_line_literal(S("a APPEND x {12+}"), &n, &ns,
	    &bin), 1);
	ck_assert(n == 12 && ns == 1 && bin == 0);
	ck_assert_int_eq(imap_line_literal(S("a APPEND x ~{7}"), &n, &ns,
	    &bin), 1);
	ck_assert(n == 7 && ns == 0 && bin == 1);
	ck_assert_int_eq(imap_line_literal(S("a APPEND x ~{0+}"), &n, NULL,
	    NULL), 1);
	ck_assert(n == 0);
	ck_assert_int_eq(imap_line_literal(S("{9223372036854775807}"), &n,
	    NULL, NULL), 1);
	ck_assert(n == INT64_MAX);
	/* not announcements */
	ck_assert_int_eq(imap_line_literal(S("a NOOP"), &n, NULL, NULL), 0);
	ck_assert_int_eq(imap_line_literal(S("a LOGIN {}"), &n, NULL, NULL),
	    0);
	ck_assert_int_eq(imap_line_literal(S("a LOGIN {+}"), &n, NULL, NULL),
	    0);
	ck_assert_int_eq(imap_line_literal(S("a LOGIN x5}"), &n, NULL, NULL),
	    0);
	ck_assert_int_eq(imap_line_literal(S("5}"), &n, NULL, NULL), 0);
	ck_assert_int_eq(imap_line_literal(S("}"), &n, NULL, NULL), 0);
	ck_assert_int_eq(imap_line_literal("", 0, &n, NULL, NULL), 0);
	/* sizes beyond 63 bits are errors, not wrapped */
	ck_assert_int_eq(imap_line_literal(S("a x {9223372036854775808}"), &n,
	    NULL, NULL), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(imap_line_literal(S("a x {18446744073709551617}"),
	    &n, NULL, NULL), -1);
	ck_assert_int_eq(imap_line_literal(S(
	    "a x {000000000000000000000000000000000000000001+}"), &n, NULL,
	    NULL), 1);
	ck_assert(n == 1);
}
END_TEST

/* Every prefix of each line: never a crash, and only the full line
 * (or a prefix that itself ends in "}") is an announcement. */
START_TEST(line_literal_trickle)
{
	static const char *lines[] = {
		"a LOGIN {5}", "a APPEND INBOX (\\Seen) ~{123+}",
		"x {99999999999999999999}", "{1}{2}", "a \"}\" {0}",
	};
	size_t i, k, len;
	uint64_t n;
	int rc;
	char *c;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		len = strlen(lines[i]);
		for (k = 0; k <= len; k++) {
			c = xmalloc(k + 1);
			memcpy(c, lines[i], k);
			rc = imap_line_literal(c, k, &n, NULL, NULL);
			ck_assert_msg(rc >= -1 && rc <= 1, "rc %d", rc);
			if (k > 0 && c[k - 1] != '}')
				ck_assert_msg(rc == 0, "\"%.*s\": %d", (int)k,
				    c, rc);
			free(c);
		}
	}
}
END_TEST

/* Tokens ------------------------------------------------------------------ */

START_TEST(command_head)
{
	struct tp t;
	struct imap_parser *p;
	char tag[IMAP_TAG_MAX + 1], verb[IMAP_VERB_MAX + 1];
	char big[IMAP_TAG_MAX + 20];

	p = tp_open(&t, S("a1 login user pass"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), 0);
	ck_assert_str_eq(tag, "a1");
	ck_assert_str_eq(verb, "LOGIN");
	/* positioned at the SP before the arguments */
	ck_assert_int_eq(imap_p_peek(p), ' ');
	tp_close(&t);

	p = tp_open(&t, S("A.b]c Noop"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), 0);
	ck_assert_str_eq(tag, "A.b]c");
	ck_assert_str_eq(verb, "NOOP");
	ck_assert_int_eq(imap_p_at_end(p), 1);
	ck_assert_int_eq(imap_p_end(p), 0);
	tp_close(&t);

	/* bad tags: '+', '*', '(', empty, nothing after */
	p = tp_open(&t, S("+ NOOP"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	ck_assert_ptr_nonnull(p->err);
	tp_close(&t);
	p = tp_open(&t, S("a+b NOOP"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	tp_close(&t);
	p = tp_open(&t, S("* NOOP"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	tp_close(&t);
	p = tp_open(&t, S(" NOOP"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	tp_close(&t);
	p = tp_open(&t, S("abc"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	ck_assert_str_eq(tag, "abc");	/* the tag is known for the BAD */
	tp_close(&t);
	p = tp_open(&t, S("abc  NOOP"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	tp_close(&t);

	/* limits: tag and verb length */
	memset(big, 'x', sizeof(big));
	memcpy(big + IMAP_TAG_MAX + 1, " NOOP", 5);
	p = tp_open(&t, big, IMAP_TAG_MAX + 6, 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	ck_assert_str_eq(p->err, "Tag too long");
	tp_close(&t);
	p = tp_open(&t, big + 1, IMAP_TAG_MAX + 5, 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), 0);
	ck_assert_uint_eq(strlen(tag), IMAP_TAG_MAX);
	tp_close(&t);
	p = tp_open(&t, S("a ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	tp_close(&t);
}
END_TEST

START_TEST(strings)
{
	struct tp t;
	struct imap_parser *p;
	struct imap_str s;

	/* quoted with escapes, unescaped in place */
	p = tp_open(&t, S("\"a\\\"b\\\\c\" rest"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), 0);
	ck_assert(str_is(&s, S("a\"b\\c")));
	ck_assert_int_eq(imap_p_peek(p), ' ');
	tp_close(&t);
	/* bad escapes, CR/LF, unterminated */
	p = tp_open(&t, S("\"a\\b\""), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);
	p = tp_open(&t, S("\"a\rb\""), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);
	p = tp_open(&t, S("\"abc"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	ck_assert_str_eq(p->err, "Unterminated quoted string");
	tp_close(&t);
	p = tp_open(&t, S("\"abc\\"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);
	/* 8-bit only with UTF8=ACCEPT, and then valid UTF-8 only */
	p = tp_open(&t, S("\"\xc3\xa9t\xc3\xa9\""), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);
	p = tp_open(&t, S("\"\xc3\xa9t\xc3\xa9\""), 1);
	ck_assert_int_eq(imap_p_string(p, &s), 0);
	ck_assert(str_is(&s, S("\xc3\xa9t\xc3\xa9")));
	tp_close(&t);
	p = tp_open(&t, S("\"\xc3\""), 1);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);

	/* literals: sync, non-sync, with NUL and CRLF inside */
	p = tp_open(&t, S("{5}\r\na\0b\r\n x"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), 0);
	ck_assert(str_is(&s, S("a\0b\r\n")));
	ck_assert_int_eq(imap_p_sp(p), 0);
	tp_close(&t);
	p = tp_open(&t, S("{3+}\r\nabc"), 0);
	ck_assert_int_eq(imap_p_astring(p, &s), 0);
	ck_assert(str_is(&s, S("abc")));
	ck_assert_int_eq(imap_p_end(p), 0);
	tp_close(&t);
	p = tp_open(&t, S("{0}\r\n"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), 0);
	ck_assert_uint_eq(s.len, 0);
	tp_close(&t);
	/* announced more than there is; no CRLF; huge */
	p = tp_open(&t, S("{6}\r\nabc"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);
	p = tp_open(&t, S("{3}abc"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);
	p = tp_open(&t, S("{18446744073709551615}\r\nabc"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);
	/* literal8 is APPEND's only */
	p = tp_open(&t, S("~{3}\r\nabc"), 0);
	ck_assert_int_eq(imap_p_string(p, &s), -1);
	tp_close(&t);

	/* astring: atom with ']' */
	p = tp_open(&t, S("a]b c"), 0);
	ck_assert_int_eq(imap_p_astring(p, &s), 0);
	ck_assert(str_is(&s, S("a]b")));
	tp_close(&t);
	p = tp_open(&t, S("(x"), 0);
	ck_assert_int_eq(imap_p_astring(p, &s), -1);
	tp_close(&t);
	p = tp_open(&t, S(""), 0);
	ck_assert_int_eq(imap_p_astring(p, &s), -1);
	ck_assert_str_eq(p->err, "Missing arguments");
	tp_close(&t);
	/* atoms stop at specials */
	p = tp_open(&t, S("abc]"), 0);
	ck_assert_int_eq(imap_p_atom(p, &s), 0);
	ck_assert(str_is(&s, S("abc")));
	tp_close(&t);
	/* nstring */
	p = tp_open(&t, S("nil \"NIL\" NILx"), 0);
	ck_assert_int_eq(imap_p_nstring(p, &s), 0);
	ck_assert_ptr_null(s.s);
	ck_assert_int_eq(imap_p_sp(p), 0);
	ck_assert_int_eq(imap_p_nstring(p, &s), 0);
	ck_assert(str_is(&s, S("NIL")));
	ck_assert_int_eq(imap_p_sp(p), 0);
	ck_assert_int_eq(imap_p_nstring(p, &s), -1);
	tp_close(&t);
	/* list-mailbox: wildcards and ']' */
	p = tp_open(&t, S("Fo%o/*]x \"a b\""), 0);
	ck_assert_int_eq(imap_p_list_mailbox(p, &s), 0);
	ck_assert(str_is(&s, S("Fo%o/*]x")));
	ck_assert_int_eq(imap_p_sp(p), 0);
	ck_assert_int_eq(imap_p_list_mailbox(p, &s), 0);
	ck_assert(str_is(&s, S("a b")));
	tp_close(&t);
}
END_TEST

START_TEST(numbers)
{
	struct tp t;
	struct imap_parser *p;
	uint32_t n;
	uint64_t m;

	p = tp_open(&t, S("4294967295"), 0);
	ck_assert_int_eq(imap_p_number(p, &n), 0);
	ck_assert_uint_eq(n, UINT32_MAX);
	tp_close(&t);
	p = tp_open(&t, S("4294967296"), 0);
	ck_assert_int_eq(imap_p_number(p, &n), -1);
	ck_assert_str_eq(p->err, "Number too large");
	tp_close(&t);
	p = tp_open(&t, S("99999999999999999999999"), 0);
	ck_assert_int_eq(imap_p_number(p, &n), -1);
	tp_close(&t);
	p = tp_open(&t, S("0"), 0);
	ck_assert_int_eq(imap_p_nz_number(p, &n), -1);
	tp_close(&t);
	p = tp_open(&t, S("0"), 0);
	ck_assert_int_eq(imap_p_number(p, &n), 0);
	ck_assert_uint_eq(n, 0);
	tp_close(&t);
	p = tp_open(&t, S("x"), 0);
	ck_assert_int_eq(imap_p_number(p, &n), -1);
	tp_close(&t);
	p = tp_open(&t, S("9223372036854775807"), 0);
	ck_assert_int_eq(imap_p_number64(p, &m), 0);
	ck_assert(m == INT64_MAX);
	tp_close(&t);
	p = tp_open(&t, S("9223372036854775808"), 0);
	ck_assert_int_eq(imap_p_number64(p, &m), -1);
	tp_close(&t);
}
END_TEST

START_TEST(str_helpers)
{
	struct imap_str s = { "Hello", 5 }, z = { "a\0b", 3 }, nil = { NULL,
	    0 };
	char buf[6];

	ck_assert_int_eq(imap_str_eq(&s, "HELLO"), 1);
	ck_assert_int_eq(imap_str_eq(&s, "HELL"), 0);
	ck_assert_int_eq(imap_str_eq(&nil, ""), 0);
	ck_assert_int_eq(imap_str_copy(buf, sizeof(buf), &s), 0);
	ck_assert_str_eq(buf, "Hello");
	ck_assert_int_eq(imap_str_copy(buf, 5, &s), -1);
	ck_assert_int_eq(imap_str_copy(buf, sizeof(buf), &z), -1);
}
END_TEST

START_TEST(seqsets)
{
	struct tp t;
	struct imap_parser *p;
	struct imap_seqset set;
	char *big;
	size_t i, len;

	p = tp_open(&t, S("1,4:2,*,5:*,*:7 x"), 0);
	ck_assert_int_eq(imap_p_seqset(p, &set), 0);
	ck_assert_uint_eq(set.n, 5);
	ck_assert(set.r[0].lo == 1 && set.r[0].hi == 1);
	ck_assert(set.r[1].lo == 2 && set.r[1].hi == 4);
	ck_assert(set.r[2].lo == IMAP_SEQ_STAR && set.r[2].hi ==
	    IMAP_SEQ_STAR);
	ck_assert(set.r[3].lo == 5 && set.r[3].hi == IMAP_SEQ_STAR);
	ck_assert(set.r[4].lo == 7 && set.r[4].hi == IMAP_SEQ_STAR);
	ck_assert_int_eq(imap_p_peek(p), ' ');
	tp_close(&t);

	p = tp_open(&t, S("$"), 0);
	ck_assert_int_eq(imap_p_seqset(p, &set), 0);
	ck_assert_int_eq(set.saved, 1);
	tp_close(&t);
	static const char *bad[] = { "0", "1,", ",1", "1:", "1::2", ":2",
	    "4294967296", "1:0", "", "a", "1,,2" };
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = tp_open(&t, bad[i], strlen(bad[i]), 0);
		ck_assert_msg(imap_p_seqset(p, &set) == -1 ||
		    !imap_p_at_end(p), "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
	/* the range limit */
	len = 2 * (IMAP_SEQSET_MAX + 1) - 1;
	big = xmalloc(len);
	for (i = 0; i < len; i++)
		big[i] = i % 2 ? ',' : '1';
	p = tp_open(&t, big, len, 0);
	ck_assert_int_eq(imap_p_seqset(p, &set), -1);
	ck_assert_str_eq(p->err, "Sequence set has too many ranges");
	tp_close(&t);
	p = tp_open(&t, big, len - 2, 0);
	ck_assert_int_eq(imap_p_seqset(p, &set), 0);
	ck_assert_uint_eq(set.n, IMAP_SEQSET_MAX);
	tp_close(&t);
	free(big);
}
END_TEST

START_TEST(flag_lists)
{
	struct tp t;
	struct imap_parser *p;
	struct imap_flags f;
	char *big;
	size_t i, len;

	p = tp_open(&t, S("(\\Seen \\answered \\FLAGGED \\Deleted \\Draft "
	    "$Forwarded Junk $Forwarded)"), 0);
	ck_assert_int_eq(imap_p_flag_list(p, &f), 0);
	ck_assert_uint_eq(f.flags, STORE_F_ALL);
	ck_assert_str_eq(f.keywords, "$Forwarded Junk");
	ck_assert_int_eq(imap_p_end(p), 0);
	tp_close(&t);
	p = tp_open(&t, S("()"), 0);
	ck_assert_int_eq(imap_p_flag_list(p, &f), 0);
	ck_assert_uint_eq(f.flags, 0);
	ck_assert_str_eq(f.keywords, "");
	tp_close(&t);
	static const char *bad[] = { "(\\Recent)", "(\\Foo)", "(a  b)",
	    "( a)", "(a", "a", "(\\)", "(a)b" };
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = tp_open(&t, bad[i], strlen(bad[i]), 0);
		ck_assert_msg(imap_p_flag_list(p, &f) == -1 ||
		    imap_p_end(p) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
	/* keywords beyond the store's 400 bytes */
	len = 1 + 100 * 5;
	big = xmalloc(len + 1);
	big[0] = '(';
	for (i = 0; i < 100; i++)
		snprintf(big + 1 + 5 * i, 6, "k%03zu%c", i, i == 99 ? ')' :
		    ' ');
	p = tp_open(&t, big, len, 0);
	ck_assert_int_eq(imap_p_flag_list(p, &f), -1);
	ck_assert_str_eq(p->err, "Too many keywords");
	tp_close(&t);
	free(big);
}
END_TEST

/* Commands cut at every offset parse or fail cleanly (never beyond len). */
START_TEST(tokens_trickle)
{
	static const char *cmds[] = {
		"a1 LOGIN {4}\r\nuser \"pa\\\"ss\"",
		"t FLAGS (\\Seen kw) 1:4,7,*:9 NIL \"x\" {2+}\r\nab",
	};
	struct tp t;
	struct imap_parser *p;
	char tag[IMAP_TAG_MAX + 1], verb[IMAP_VERB_MAX + 1];
	struct imap_str s;
	struct imap_flags f;
	struct imap_seqset set;
	size_t i, k, len;
	int rc;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		len = strlen(cmds[i]);
		for (k = 0; k <= len; k++) {
			p = tp_open(&t, cmds[i], k, 0);
			rc = imap_p_command(p, tag, verb);
			while (rc == 0 && !imap_p_at_end(p)) {
				if ((rc = imap_p_sp(p)) == -1)
					break;
				switch (imap_p_peek(p)) {
				case '(':
					rc = imap_p_flag_list(p, &f);
					break;
				case '*':
				case '1':
					rc = imap_p_seqset(p, &set);
					break;
				default:
					rc = imap_p_nstring(p, &s);
					if (rc == -1)
						rc = imap_p_astring(p, &s);
				}
				ck_assert(p->pos <= k);
			}
			ck_assert(rc == 0 || (rc == -1 && p->err != NULL));
			if (k == len)
				ck_assert_msg(rc == 0, "\"%s\": %s", cmds[i],
				    p->err);
			tp_close(&t);
		}
	}
}
END_TEST

/* Responses --------------------------------------------------------------- */

START_TEST(buf_strings)
{
	struct imap_buf b;
	char big[IMAP_QUOTED_MAX + 1];

	imap_buf_init(&b);
	imap_buf_string(&b, S("a\"b\\c"), 0);
	ck_assert_str_eq(b.p, "\"a\\\"b\\\\c\"");
	imap_buf_reset(&b);
	imap_buf_string(&b, S("a\r\nb"), 0);
	ck_assert_str_eq(b.p, "{4}\r\na\r\nb");
	imap_buf_reset(&b);
	imap_buf_string(&b, S("\xc3\xa9"), 0);
	ck_assert_str_eq(b.p, "{2}\r\n\xc3\xa9");
	imap_buf_reset(&b);
	imap_buf_string(&b, S("\xc3\xa9"), 1);
	ck_assert_str_eq(b.p, "\"\xc3\xa9\"");
	imap_buf_reset(&b);
	imap_buf_string(&b, S("\xc3"), 1);	/* not UTF-8 */
	ck_assert_str_eq(b.p, "{1}\r\n\xc3");
	imap_buf_reset(&b);
	imap_buf_string(&b, S("a\0b"), 1);
	ck_assert_uint_eq(b.len, 8);
	ck_assert(memcmp(b.p, "{3}\r\na\0b", 8) == 0);
	imap_buf_reset(&b);
	imap_buf_string(&b, S(""), 0);
	ck_assert_str_eq(b.p, "\"\"");
	imap_buf_reset(&b);
	memset(big, 'x', sizeof(big));
	imap_buf_string(&b, big, IMAP_QUOTED_MAX, 0);
	ck_assert_uint_eq(b.len, IMAP_QUOTED_MAX + 2);
	imap_buf_reset(&b);
	imap_buf_string(&b, big, IMAP_QUOTED_MAX + 1, 0);
	ck_assert(strncmp(b.p, "{1025}\r\nxx", 10) == 0);
	imap_buf_reset(&b);

	imap_buf_astring(&b, S("INBOX/a]b"), 0);
	ck_assert_str_eq(b.p, "INBOX/a]b");
	imap_buf_reset(&b);
	imap_buf_astring(&b, S("nIl"), 0);
	ck_assert_str_eq(b.p, "\"nIl\"");
	imap_buf_reset(&b);
	imap_buf_astring(&b, S("NILS"), 0);
	ck_assert_str_eq(b.p, "NILS");
	imap_buf_reset(&b);
	imap_buf_astring(&b, S(""), 0);
	ck_assert_str_eq(b.p, "\"\"");
	imap_buf_reset(&b);
	imap_buf_astring(&b, S("a b"), 0);
	ck_assert_str_eq(b.p, "\"a b\"");
	imap_buf_reset(&b);
	imap_buf_astring(&b, S("a%"), 0);
	ck_assert_str_eq(b.p, "\"a%\"");
	imap_buf_reset(&b);
	imap_buf_astring(&b, S("{1}"), 0);
	ck_assert_str_eq(b.p, "\"{1}\"");
	imap_buf_reset(&b);
	imap_buf_nstring(&b, NULL, 0, 0);
	ck_assert_str_eq(b.p, "NIL");
	imap_buf_reset(&b);
	imap_buf_nstring(&b, S("NIL"), 0);
	ck_assert_str_eq(b.p, "\"NIL\"");
	imap_buf_reset(&b);
	imap_buf_printf(&b, "%s %0500d|", "x", 7);
	ck_assert_uint_eq(b.len, 503);
	ck_assert_int_eq(b.p[502], '|');
	imap_buf_free(&b);
}
END_TEST

START_TEST(buf_mailboxes)
{
	struct imap_buf b;

	imap_buf_init(&b);
	imap_buf_mailbox(&b, "\xc3\x9cn\xc3\xaf" "code & folder", 0);
	ck_assert_str_eq(b.p, "\"&ANw-n&AO8-code &- folder\"");
	imap_buf_reset(&b);
	imap_buf_mailbox(&b, "\xc3\x9cn\xc3\xaf" "code & folder", 1);
	ck_assert_str_eq(b.p, "\"\xc3\x9cn\xc3\xaf" "code & folder\"");
	imap_buf_reset(&b);
	imap_buf_mailbox(&b, "INBOX/Sent", 0);
	ck_assert_str_eq(b.p, "INBOX/Sent");
	imap_buf_reset(&b);
	imap_buf_mailbox(&b, "Entw\xc3\xbcrfe", 0);
	ck_assert_str_eq(b.p, "Entw&APw-rfe");
	imap_buf_free(&b);
}
END_TEST

static Suite *
imap_parse_suite(void)
{
	Suite *s = suite_create("imap_parse");
	TCase *tc = tcase_create("tokens");

	tcase_add_test(tc, line_literal_forms);
	tcase_add_test(tc, line_literal_trickle);
	tcase_add_test(tc, command_head);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, str_helpers);
	tcase_add_test(tc, seqsets);
	tcase_add_test(tc, flag_lists);
	tcase_add_test(tc, tokens_trickle);
	suite_add_tcase(s, tc);
	tc = tcase_create("buf");
	tcase_add_test(tc, buf_strings);
	tcase_add_test(tc, buf_mailboxes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(imap_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
