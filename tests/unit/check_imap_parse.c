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
	/* the verb is a whole word: "S\xc9RT" is no "S" command */
	p = tp_open(&t, S("a S\xc9RT (DATE) UTF-8 ALL"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
	tp_close(&t);
	p = tp_open(&t, S("a NOOP(x)"), 0);
	ck_assert_int_eq(imap_p_command(p, tag, verb), -1);
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
	/* at most IMAP_LITERALS_MAX literals in one command */
	{
		struct imap_buf b;
		int i, rc = 0;

		imap_buf_init(&b);
		for (i = 0; i <= IMAP_LITERALS_MAX; i++)
			imap_buf_adds(&b, "{1}\r\nx ");
		p = tp_open(&t, b.p, b.len, 0);
		for (i = 0; i <= IMAP_LITERALS_MAX && rc == 0; i++)
			if ((rc = imap_p_string(p, &s)) == 0)
				rc = imap_p_sp(p);
		ck_assert_int_eq(rc, -1);
		ck_assert_int_eq(i, IMAP_LITERALS_MAX + 1);
		ck_assert_str_eq(p->err, "Too many literals in one command");
		tp_close(&t);
		imap_buf_free(&b);
	}
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

/* FETCH, STORE ------------------------------------------------------------ */

/* Parses " ARGS" with fn; returns the rc, keeps the parser open. */
#define PARSE(t, fn, str, out, utf8)					\
	fn(tp_open(&(t), S(str), (utf8)), (out))

START_TEST(fetch_items)
{
	struct tp t;
	struct imap_fetch f;

	ck_assert_int_eq(PARSE(t, imap_p_fetch, " ALL", &f, 0), 0);
	ck_assert_uint_eq(f.items, IMAP_FI_FLAGS | IMAP_FI_INTERNALDATE |
	    IMAP_FI_RFC822_SIZE | IMAP_FI_ENVELOPE);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " fast", &f, 0), 0);
	ck_assert_uint_eq(f.items, IMAP_FI_FLAGS | IMAP_FI_INTERNALDATE |
	    IMAP_FI_RFC822_SIZE);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " FULL", &f, 0), 0);
	ck_assert_uint_eq(f.items, IMAP_FI_FLAGS | IMAP_FI_INTERNALDATE |
	    IMAP_FI_RFC822_SIZE | IMAP_FI_ENVELOPE | IMAP_FI_BODY);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " (uid Flags RFC822.SIZE "
	    "ENVELOPE BODY BODYSTRUCTURE RFC822 RFC822.HEADER RFC822.TEXT "
	    "INTERNALDATE MODSEQ)", &f, 0), 0);
	ck_assert_uint_eq(f.items, 0x7ff);
	ck_assert_uint_eq(f.nsections, 0);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " UID", &f, 0), 0);
	ck_assert_uint_eq(f.items, IMAP_FI_UID);
	tp_close(&t);
	/* macros are not items of a list; unknown and reserved items */
	static const char *bad[] = { " (ALL)", " (FLAGS", " FLAGS)",
	    " (FLAGS  UID)", " SAVEDATE", " BODY.PEEK", " BODY[", " ()",
	    " FLAGS UID", " BINARY", "FLAGS", " (FLAGS) x", " ALL[]" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_fetch(tp_open(&t, bad[i], strlen(bad[i]),
		    0), &f) == -1, "\"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(t.p.err);
		tp_close(&t);
	}
}
END_TEST

START_TEST(fetch_sections)
{
	struct tp t;
	struct imap_fetch f;
	struct imap_section *s;

	ck_assert_int_eq(PARSE(t, imap_p_fetch, " (BODY[] BODY.PEEK[1.2.MIME] "
	    "body[header.fields (from \"To\" {2}\r\ncc)]<0.100> "
	    "BODY[3.HEADER.FIELDS.NOT (X-A)] BODY[2.TEXT]<5.7> "
	    "BINARY[1.2] BINARY.PEEK[]<0.1> BINARY.SIZE[4] BODY[4.1])", &f,
	    0), 0);
	ck_assert_uint_eq(f.nsections, 9);
	s = &f.sections[0];
	ck_assert(!s->peek && s->depth == 0 && s->kind == IMAP_SECTION_ALL);
	ck_assert_str_eq(s->reply_name, "BODY[]");
	s = &f.sections[1];
	ck_assert(s->peek && s->depth == 2 && s->path[0] == 1 && s->path[1] ==
	    2 && s->kind == IMAP_SECTION_MIME);
	ck_assert_str_eq(s->reply_name, "BODY[1.2.MIME]");
	s = &f.sections[2];
	ck_assert(s->kind == IMAP_SECTION_HEADER && s->fields &&
	    !s->fields_not && s->nnames == 3 && s->partial &&
	    s->partial_off == 0 && s->partial_len == 100);
	ck_assert(str_is(&s->names[0], S("from")));
	ck_assert(str_is(&s->names[1], S("To")));
	ck_assert(str_is(&s->names[2], S("cc")));
	ck_assert_str_eq(s->reply_name, "BODY[HEADER.FIELDS (FROM TO CC)]<0>");
	s = &f.sections[3];
	ck_assert(s->fields && s->fields_not && s->depth == 1);
	ck_assert_str_eq(s->reply_name, "BODY[3.HEADER.FIELDS.NOT (X-A)]");
	s = &f.sections[4];
	ck_assert(s->kind == IMAP_SECTION_TEXT && s->partial_off == 5);
	ck_assert_str_eq(s->reply_name, "BODY[2.TEXT]<5>");
	s = &f.sections[5];
	ck_assert(s->binary && !s->peek && s->depth == 2);
	ck_assert_str_eq(s->reply_name, "BINARY[1.2]");
	s = &f.sections[6];
	ck_assert(s->binary && s->peek);
	ck_assert_str_eq(s->reply_name, "BINARY[]<0>");
	s = &f.sections[7];
	ck_assert(s->binary_size && s->path[0] == 4);
	ck_assert_str_eq(s->reply_name, "BINARY.SIZE[4]");
	ck_assert_str_eq(f.sections[8].reply_name, "BODY[4.1]");
	tp_close(&t);

	/* a field name that needs quoting is echoed quoted */
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " BODY[HEADER.FIELDS "
	    "(\"a b\")]", &f, 0), 0);
	ck_assert_str_eq(f.sections[0].reply_name,
	    "BODY[HEADER.FIELDS (\"A B\")]");
	tp_close(&t);

	static const char *bad[] = { " BODY[0]", " BODY[1.]", " BODY[.1]",
	    " BODY[MIME]", " BODY[1.FOO]", " BODY[HEADER.FIELDS]",
	    " BODY[HEADER.FIELDS ()]", " BODY[HEADER.FIELDS (\"\")]",
	    " BODY[HEADER.FIELDS (A]", " BODY[]<1>", " BODY[]<1.0>",
	    " BODY[]<x.1>", " BODY[]<1.2", " BINARY[TEXT]",
	    " BINARY.SIZE[1]<0.1>", " BODY[1]x", " BODY[HEADER ]",
	    " BODY[]<9223372036854775808.1>", " BODY[1 2]",
	    " BODY[4294967296]" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_fetch(tp_open(&t, bad[i], strlen(bad[i]),
		    0), &f) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
}
END_TEST

/* Limits: section depth, sections in a FETCH, field names. */
START_TEST(fetch_limits)
{
	struct tp t;
	struct imap_fetch f;
	struct imap_buf b;
	size_t i;

	imap_buf_init(&b);
	imap_buf_adds(&b, " BODY[");
	for (i = 0; i < IMAP_SECTION_DEPTH_MAX; i++)
		imap_buf_adds(&b, i ? ".1" : "1");
	imap_buf_adds(&b, "]");
	ck_assert_int_eq(imap_p_fetch(tp_open(&t, b.p, b.len, 0), &f), 0);
	ck_assert_uint_eq(f.sections[0].depth, IMAP_SECTION_DEPTH_MAX);
	tp_close(&t);
	b.len -= 1;
	imap_buf_adds(&b, ".1]");
	ck_assert_int_eq(imap_p_fetch(tp_open(&t, b.p, b.len, 0), &f), -1);
	ck_assert_str_eq(t.p.err, "Section part number too deep");
	tp_close(&t);

	imap_buf_reset(&b);
	imap_buf_adds(&b, " (");
	for (i = 0; i < IMAP_FETCH_SECTIONS_MAX; i++)
		imap_buf_adds(&b, "BODY[] ");
	b.p[--b.len] = '\0';
	imap_buf_adds(&b, ")");
	ck_assert_int_eq(imap_p_fetch(tp_open(&t, b.p, b.len, 0), &f), 0);
	ck_assert_uint_eq(f.nsections, IMAP_FETCH_SECTIONS_MAX);
	tp_close(&t);
	b.len -= 1;
	imap_buf_adds(&b, " BODY[])");
	ck_assert_int_eq(imap_p_fetch(tp_open(&t, b.p, b.len, 0), &f), -1);
	ck_assert_str_eq(t.p.err, "Too many body sections in one FETCH");
	tp_close(&t);

	imap_buf_reset(&b);
	imap_buf_adds(&b, " (BODY[HEADER.FIELDS (");
	for (i = 0; i < IMAP_FETCH_FIELDS_MAX / 2; i++)
		imap_buf_printf(&b, "%sF%zu", i ? " " : "", i);
	imap_buf_adds(&b, ")] BODY[HEADER.FIELDS (");
	for (; i < IMAP_FETCH_FIELDS_MAX + 1; i++)
		imap_buf_printf(&b, "%sF%zu", i > IMAP_FETCH_FIELDS_MAX / 2 ?
		    " " : "", i);
	imap_buf_adds(&b, ")])");
	ck_assert_int_eq(imap_p_fetch(tp_open(&t, b.p, b.len, 0), &f), -1);
	ck_assert_str_eq(t.p.err, "Too many header field names");
	tp_close(&t);
	imap_buf_free(&b);
}
END_TEST

START_TEST(fetch_modifiers)
{
	struct tp t;
	struct imap_fetch f;

	ck_assert_int_eq(PARSE(t, imap_p_fetch, " (FLAGS) (CHANGEDSINCE 12345 "
	    "VANISHED)", &f, 0), 0);
	ck_assert(f.changedsince_set && f.changedsince == 12345 &&
	    f.vanished);
	ck_assert(f.items & IMAP_FI_MODSEQ);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " FLAGS (changedsince 1)", &f,
	    0), 0);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " FLAGS (VANISHED)", &f, 0),
	    -1);
	ck_assert_str_eq(t.p.err, "VANISHED needs CHANGEDSINCE");
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " FLAGS (CHANGEDSINCE)", &f,
	    0), -1);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " FLAGS (CHANGEDSINCE "
	    "9223372036854775808)", &f, 0), -1);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_fetch, " FLAGS (FOO 1)", &f, 0), -1);
	tp_close(&t);
}
END_TEST

START_TEST(store_args)
{
	struct tp t;
	struct imap_store st;

	ck_assert_int_eq(PARSE(t, imap_p_store, " +FLAGS.SILENT (\\Seen $X)",
	    &st, 0), 0);
	ck_assert(st.mode == STORE_FLAGS_ADD && st.silent &&
	    st.flags.flags == STORE_F_SEEN && !st.unchangedsince_set);
	ck_assert_str_eq(st.flags.keywords, "$X");
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_store, " -flags \\Deleted \\Seen",
	    &st, 0), 0);
	ck_assert(st.mode == STORE_FLAGS_REMOVE && !st.silent &&
	    st.flags.flags == (STORE_F_SEEN | STORE_F_DELETED));
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_store, " (UNCHANGEDSINCE 0) FLAGS ()",
	    &st, 0), 0);
	ck_assert(st.mode == STORE_FLAGS_SET && st.unchangedsince_set &&
	    st.unchangedsince == 0 && st.flags.flags == 0);
	tp_close(&t);
	static const char *bad[] = { " FLAGS", " FLAGS ", " +FLAGS (\\Recent)",
	    " *FLAGS (\\Seen)", " FLAGS.LOUD (a)", " (UNCHANGEDSINCE) FLAGS ()",
	    " (FOO 1) FLAGS ()", " FLAGS (a) b", " FLAGS a  b",
	    " (UNCHANGEDSINCE 1)FLAGS ()", " +FLAGS \\Bogus" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_store(tp_open(&t, bad[i], strlen(bad[i]),
		    0), &st) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
}
END_TEST

/* Dates -------------------------------------------------------------------- */

START_TEST(dates)
{
	struct tp t;
	int64_t d;
	int tz;

	ck_assert_int_eq(PARSE(t, imap_p_date, "1-Feb-1994", &d, 0), 0);
	ck_assert(d == 760060800);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_date, "\"01-feb-1994\"", &d, 0), 0);
	ck_assert(d == 760060800);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_date, "29-Feb-2000", &d, 0), 0);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_date, "1-Jan-1970", &d, 0), 0);
	ck_assert(d == 0);
	tp_close(&t);
	static const char *bad[] = { "29-Feb-1900", "31-Apr-2020", "0-Jan-2020",
	    "1-Foo-2020", "1-Jan-20", "\"1-Jan-2020", "123-Jan-2020",
	    "1 Jan 2020", "" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_date(tp_open(&t, bad[i], strlen(bad[i]),
		    0), &d) == -1 || !imap_p_at_end(&t.p), "\"%s\" accepted",
		    bad[i]);
		tp_close(&t);
	}

	tp_open(&t, S("\"17-Jul-1996 02:44:25 -0700\""), 0);
	ck_assert_int_eq(imap_p_date_time(&t.p, &d, &tz), 0);
	ck_assert(d == 837596665 && tz == -420);
	tp_close(&t);
	tp_open(&t, S("\" 7-Jul-1996 02:44:25 +0130\""), 0);
	ck_assert_int_eq(imap_p_date_time(&t.p, &d, &tz), 0);
	ck_assert(d == 836707465 - 5400 && tz == 90);
	tp_close(&t);
	tp_open(&t, S("\"7-Jul-1996 02:44:25 +0000\""), 0);
	ck_assert_int_eq(imap_p_date_time(&t.p, &d, NULL), 0);
	ck_assert(d == 836707465);
	tp_close(&t);
	static const char *badt[] = { "17-Jul-1996 02:44:25 -0700",
	    "\"17-Jul-1996 24:00:00 +0000\"", "\"17-Jul-1996 02:44 +0000\"",
	    "\"17-Jul-1996 02:44:25 0700\"", "\"17-Jul-1996 02:44:25 +07\"",
	    "\"17-Jul-1996 02:44:25 +0760\"", "\"17-Jul-1996 02:44:25\"",
	    "\"17-Jul-1996  02:44:25 +0000\"" };
	for (i = 0; i < sizeof(badt) / sizeof(badt[0]); i++) {
		tp_open(&t, badt[i], strlen(badt[i]), 0);
		ck_assert_msg(imap_p_date_time(&t.p, &d, &tz) == -1,
		    "\"%s\" accepted", badt[i]);
		tp_close(&t);
	}
}
END_TEST

/* SEARCH, SORT, THREAD ---------------------------------------------------- */

START_TEST(search_keys)
{
	struct tp t;
	struct imap_search s;
	struct imap_search_key *k;

	ck_assert_int_eq(PARSE(t, imap_p_search, " RETURN (MIN COUNT SAVE) "
	    "CHARSET UTF-8 5,1:3 UID 5:* OR SEEN (UNSEEN NOT DRAFT) "
	    "FROM \"joe\" HEADER X-Spam yes SINCE 1-Feb-1994 LARGER 100 "
	    "KEYWORD $Junk MODSEQ \"/flags/\\\\draft\" all 620162338 "
	    "OLDER 3600 TEXT {3}\r\nabc", &s, 0), 0);
	ck_assert(s.ret_given && s.ret == (IMAP_SR_MIN | IMAP_SR_COUNT |
	    IMAP_SR_SAVE));
	ck_assert(str_is(&s.charset, S("UTF-8")));
	ck_assert(s.uses_modseq);
	ck_assert_int_eq(s.root->type, IMAP_SK_AND);
	k = s.root->child;
	ck_assert(k->type == IMAP_SK_SEQSET && k->set.n == 2 &&
	    k->set.r[1].lo == 1 && k->set.r[1].hi == 3);
	k = k->next;
	ck_assert(k->type == IMAP_SK_UIDSET && k->set.r[0].hi ==
	    IMAP_SEQ_STAR);
	k = k->next;
	ck_assert(k->type == IMAP_SK_OR && k->child->type == IMAP_SK_FLAG &&
	    k->child->flags == STORE_F_SEEN);
	ck_assert(k->child->next->type == IMAP_SK_AND);
	ck_assert(k->child->next->child->type == IMAP_SK_UNFLAG);
	ck_assert(k->child->next->child->next->type == IMAP_SK_NOT);
	ck_assert(k->child->next->child->next->child->flags == STORE_F_DRAFT);
	k = k->next;
	ck_assert(k->type == IMAP_SK_HEADER && str_is(&k->name, S("FROM")) &&
	    str_is(&k->str, S("joe")));
	k = k->next;
	ck_assert(k->type == IMAP_SK_HEADER && str_is(&k->name, S("X-Spam")) &&
	    str_is(&k->str, S("yes")));
	k = k->next;
	ck_assert(k->type == IMAP_SK_SINCE && k->date == 760060800);
	k = k->next;
	ck_assert(k->type == IMAP_SK_LARGER && k->num == 100);
	k = k->next;
	ck_assert(k->type == IMAP_SK_KEYWORD && str_is(&k->str, S("$Junk")));
	k = k->next;
	ck_assert(k->type == IMAP_SK_MODSEQ && k->num == 620162338);
	k = k->next;
	ck_assert(k->type == IMAP_SK_OLDER && k->num == 3600);
	k = k->next;
	ck_assert(k->type == IMAP_SK_TEXT && str_is(&k->str, S("abc")));
	ck_assert_ptr_null(k->next);
	tp_close(&t);

	ck_assert_int_eq(PARSE(t, imap_p_search, " RETURN () ALL", &s, 0), 0);
	ck_assert(s.ret == IMAP_SR_ALL && s.charset.s == NULL);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_search, " MODSEQ 0", &s, 0), 0);
	tp_close(&t);

	static const char *bad[] = { "", " ", " ALL ", " FOO", " (", " ()",
	    " (ALL", " ALL)", " NOT", " OR ALL", " SINCE 1-Foo-2000",
	    " LARGER x", " UID", " UID x", " RETURN (FOO) ALL",
	    " RETURN ALL", " CHARSET", " KEYWORD \\Seen", " YOUNGER 0",
	    " MODSEQ \"/flags/x\" foo 1", " MODSEQ \"/x\" all 1",
	    " HEADER X", " SUBJECT", " ALL  ALL", " 0", " $:1",
	    " LARGER 9223372036854775808", " RECENTX", " SEEN(ALL)" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_search(tp_open(&t, bad[i], strlen(bad[i]),
		    0), &s) == -1, "\"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(t.p.err);
		tp_close(&t);
	}
}
END_TEST

/* Depth, parentheses and key count are bounded, whatever the nesting. */
START_TEST(search_limits)
{
	struct tp t;
	struct imap_search s;
	struct imap_buf b;
	size_t i;

	imap_buf_init(&b);
	/* NOT chains: depth IMAP_SEARCH_DEPTH_MAX is the last one allowed */
	imap_buf_adds(&b, " ");
	for (i = 1; i < IMAP_SEARCH_DEPTH_MAX; i++)
		imap_buf_adds(&b, "NOT ");
	imap_buf_adds(&b, "ALL");
	ck_assert_int_eq(imap_p_search(tp_open(&t, b.p, b.len, 0), &s), 0);
	tp_close(&t);
	imap_buf_reset(&b);
	imap_buf_adds(&b, " NOT ");
	for (i = 1; i < IMAP_SEARCH_DEPTH_MAX; i++)
		imap_buf_adds(&b, "NOT ");
	imap_buf_adds(&b, "ALL");
	ck_assert_int_eq(imap_p_search(tp_open(&t, b.p, b.len, 0), &s), -1);
	ck_assert_str_eq(t.p.err, "Search keys nested too deep");
	tp_close(&t);

	/* a million parentheses fail at IMAP_NEST_MAX, no deep recursion */
	imap_buf_reset(&b);
	imap_buf_adds(&b, " ");
	for (i = 0; i < 1000000; i++)
		imap_buf_adds(&b, "(");
	ck_assert_int_eq(imap_p_search(tp_open(&t, b.p, b.len, 0), &s), -1);
	ck_assert_str_eq(t.p.err, "Parentheses nested too deep");
	tp_close(&t);
	imap_buf_reset(&b);
	imap_buf_adds(&b, " ");
	for (i = 0; i < IMAP_NEST_MAX; i++)
		imap_buf_adds(&b, "(");
	imap_buf_adds(&b, "ALL");
	for (i = 0; i < IMAP_NEST_MAX; i++)
		imap_buf_adds(&b, ")");
	ck_assert_int_eq(imap_p_search(tp_open(&t, b.p, b.len, 0), &s), 0);
	tp_close(&t);

	/* keys in all: the root counts as one */
	imap_buf_reset(&b);
	for (i = 0; i < IMAP_SEARCH_KEYS_MAX - 1; i++)
		imap_buf_adds(&b, " SEEN");
	ck_assert_int_eq(imap_p_search(tp_open(&t, b.p, b.len, 0), &s), 0);
	tp_close(&t);
	imap_buf_adds(&b, " SEEN");
	ck_assert_int_eq(imap_p_search(tp_open(&t, b.p, b.len, 0), &s), -1);
	ck_assert_str_eq(t.p.err, "Too many search keys");
	tp_close(&t);
	imap_buf_free(&b);
}
END_TEST

START_TEST(sort_thread)
{
	struct tp t;
	struct imap_sort so;
	struct imap_thread th;

	ck_assert_int_eq(PARSE(t, imap_p_sort, " (REVERSE DATE subject "
	    "DISPLAYFROM reverse DISPLAYTO ARRIVAL CC FROM SIZE TO) UTF-8 "
	    "UNDELETED", &so, 0), 0);
	ck_assert_uint_eq(so.nkeys, 9);
	ck_assert(so.keys[0].key == IMAP_SORT_DATE && so.keys[0].reverse);
	ck_assert(so.keys[1].key == IMAP_SORT_SUBJECT && !so.keys[1].reverse);
	ck_assert(so.keys[2].key == IMAP_SORT_DISPLAYFROM);
	ck_assert(so.keys[3].key == IMAP_SORT_DISPLAYTO && so.keys[3].reverse);
	ck_assert(str_is(&so.search.charset, S("UTF-8")));
	ck_assert_int_eq(so.search.root->child->type, IMAP_SK_UNFLAG);
	tp_close(&t);
	static const char *bad[] = { " (DATE) ALL", " () UTF-8 ALL",
	    " (REVERSE) UTF-8 ALL", " (FOO) UTF-8 ALL", " DATE UTF-8 ALL",
	    " (DATE) UTF-8", " (DATE)UTF-8 ALL", " (REVERSE  DATE) UTF-8 ALL",
	    " (DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE "
	    "DATE DATE DATE DATE DATE) UTF-8 ALL" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_sort(tp_open(&t, bad[i], strlen(bad[i]),
		    0), &so) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}

	ck_assert_int_eq(PARSE(t, imap_p_thread, " references US-ASCII ALL",
	    &th, 0), 0);
	ck_assert(th.alg == IMAP_THREAD_REFERENCES);
	ck_assert(str_is(&th.search.charset, S("US-ASCII")));
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_thread, " ORDEREDSUBJECT UTF-8 "
	    "SINCE 1-Jan-2020 NOT DELETED", &th, 0), 0);
	ck_assert(th.alg == IMAP_THREAD_ORDEREDSUBJECT);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_thread, " REFS UTF-8 ALL", &th, 0),
	    -1);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_thread, " REFERENCES ALL", &th, 0),
	    -1);
	tp_close(&t);
}
END_TEST

/* LIST, STATUS, SELECT, APPEND, ID ------------------------------------------ */

START_TEST(list_args)
{
	struct tp t;
	struct imap_list l;

	ck_assert_int_eq(PARSE(t, imap_p_list, " \"\" *", &l, 0), 0);
	ck_assert(!l.extended && l.npatterns == 1 && l.reference.len == 0);
	ck_assert(str_is(&l.patterns[0], S("*")));
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_list, " ~/Mail/ %/f]o*", &l, 0), 0);
	ck_assert(str_is(&l.reference, S("~/Mail/")));
	ck_assert(str_is(&l.patterns[0], S("%/f]o*")));
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_list, " (SUBSCRIBED RECURSIVEMATCH "
	    "special-use remote) \"\" (INBOX \"Sent\" %) RETURN (CHILDREN "
	    "SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))", &l, 0),
	    0);
	ck_assert(l.extended && l.npatterns == 3);
	ck_assert_uint_eq(l.select, IMAP_LS_SUBSCRIBED | IMAP_LS_REMOTE |
	    IMAP_LS_RECURSIVEMATCH | IMAP_LS_SPECIAL_USE);
	ck_assert_uint_eq(l.ret, IMAP_LR_SUBSCRIBED | IMAP_LR_CHILDREN |
	    IMAP_LR_SPECIAL_USE | IMAP_LR_STATUS);
	ck_assert_uint_eq(l.status, IMAP_ST_MESSAGES | IMAP_ST_UNSEEN |
	    IMAP_ST_SIZE);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_list, " () \"\" \"\" RETURN ()", &l,
	    0), 0);
	ck_assert(l.extended && l.select == 0 && l.ret == 0 &&
	    l.patterns[0].len == 0);
	tp_close(&t);
	static const char *bad[] = { " \"\"", " \"\" ", " (RECURSIVEMATCH) "
	    "\"\" *", " (REMOTE RECURSIVEMATCH) \"\" *", " (FOO) \"\" *",
	    " \"\" * RETURN (FOO)", " \"\" * RETURN", " \"\" * (CHILDREN)",
	    " \"\" () ", " \"\" * RETURN (STATUS)", " \"\" * RETURN (STATUS ())",
	    " % *", " \"\" (a b", " \"\" * x" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_list(tp_open(&t, bad[i], strlen(bad[i]),
		    0), &l) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
}
END_TEST

START_TEST(status_items)
{
	struct tp t;
	unsigned items;

	ck_assert_int_eq(PARSE(t, imap_p_status_items, " (MESSAGES RECENT "
	    "UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED "
	    "APPENDLIMIT DELETED-STORAGE)", &items, 0), 0);
	ck_assert_uint_eq(items, 0x3ff);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_status_items, " (messages)", &items,
	    0), 0);
	ck_assert_uint_eq(items, IMAP_ST_MESSAGES);
	tp_close(&t);
	static const char *bad[] = { " ()", " MESSAGES", " (FOO)",
	    " (MESSAGES", " (MESSAGES) x", "(MESSAGES)" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_status_items(tp_open(&t, bad[i],
		    strlen(bad[i]), 0), &items) == -1, "\"%s\" accepted",
		    bad[i]);
		tp_close(&t);
	}
}
END_TEST

START_TEST(select_params)
{
	struct tp t;
	struct imap_select s;

	ck_assert_int_eq(PARSE(t, imap_p_select_params, "", &s, 0), 0);
	ck_assert(!s.condstore && !s.qresync);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_select_params, " (CONDSTORE)", &s, 0),
	    0);
	ck_assert(s.condstore && !s.qresync);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_select_params, " (QRESYNC "
	    "(67890007 20050715194045000 41,43:211,214:541))", &s, 0), 0);
	ck_assert(s.qresync && s.q_uidvalidity == 67890007 &&
	    s.q_modseq == 20050715194045000ULL && s.q_known_uids.n == 3 &&
	    s.q_seq_match.n == 0);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_select_params, " (QRESYNC (67890007 "
	    "90060115194045000 1:29997 (5000,7500,9000,9990:9999 "
	    "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,"
	    "29991,29994,29997)) CONDSTORE)", &s, 0), 0);
	ck_assert(s.qresync && s.condstore && s.q_known_uids.n == 1 &&
	    s.q_seq_match.n == 4 && s.q_uid_match.n == 13);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_select_params, " (QRESYNC (1 2 "
	    "(1:2 5,7)))", &s, 0), 0);
	ck_assert(s.q_known_uids.n == 0 && s.q_seq_match.n == 1 &&
	    s.q_uid_match.n == 2);
	tp_close(&t);
	static const char *bad[] = { " ()", " (FOO)", " CONDSTORE",
	    " (QRESYNC)", " (QRESYNC ())", " (QRESYNC (1))", " (QRESYNC (0 1))",
	    " (QRESYNC (1 0))", " (QRESYNC (1 2 1:*))", " (QRESYNC (1 2 $))",
	    " (QRESYNC (1 2 (1:2)))", " (QRESYNC (1 2 1 (1 2) x))",
	    " (QRESYNC (1 2)) (QRESYNC (1 2))", " (QRESYNC (1 2) QRESYNC (1 2))",
	    " (CONDSTORE) x", " (CONDSTORE" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_select_params(tp_open(&t, bad[i],
		    strlen(bad[i]), 0), &s) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
}
END_TEST

START_TEST(append_heads)
{
	struct tp t;
	struct imap_append_msg m;

	ck_assert_int_eq(PARSE(t, imap_p_append_msg, " (\\Seen $X) "
	    "\"17-Jul-1996 02:44:25 -0700\" {310}", &m, 0), 0);
	ck_assert(m.have_flags && m.flags.flags == STORE_F_SEEN &&
	    m.have_date && m.date == 837596665 && m.size == 310 &&
	    !m.nonsync && !m.binary);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_append_msg, " ~{12+}", &m, 0), 0);
	ck_assert(!m.have_flags && !m.have_date && m.size == 12 && m.nonsync &&
	    m.binary);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_append_msg, " () {0}", &m, 0), 0);
	ck_assert(m.have_flags && m.size == 0);
	tp_close(&t);
	/* UTF8=ACCEPT: UTF8 (~{N} ... ) */
	ck_assert_int_eq(PARSE(t, imap_p_append_msg, " (\\Seen) UTF8 (~{42}",
	    &m, 1), 0);
	ck_assert(m.utf8 && m.binary && m.size == 42 && m.have_flags);
	tp_close(&t);
	tp_open(&t, S(") (\\Draft) {5}"), 1);
	ck_assert_int_eq(imap_p_append_utf8_end(&t.p), 0);
	ck_assert_int_eq(imap_p_append_msg(&t.p, &m), 0);
	ck_assert(!m.utf8 && m.size == 5);
	tp_close(&t);
	tp_open(&t, S(")"), 1);
	ck_assert_int_eq(imap_p_append_utf8_end(&t.p), 0);
	ck_assert_int_eq(imap_p_append_msg(&t.p, &m), 1);
	tp_close(&t);
	tp_open(&t, S(" {5}"), 1);
	ck_assert_int_eq(imap_p_append_utf8_end(&t.p), -1);
	tp_close(&t);
	/* the end of a MULTIAPPEND */
	ck_assert_int_eq(PARSE(t, imap_p_append_msg, "", &m, 0), 1);
	tp_close(&t);
	static const char *bad[] = { " ", "{1}", " {1} x", " {x}", " {1",
	    " (\\Recent) {1}", " \"17-Jul-1996\" {1}", " {1}{2}", " x {1}",
	    " ({1}", " (\\Seen){1}", " {99999999999999999999}", " ~{1+",
	    " ~ {1}", " {1+1}", " UTF8 ({1}", " UTF8 ~{1}", " UTF8 (~{1}) x",
	    " UTF8(~{1}" };
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_append_msg(tp_open(&t, bad[i],
		    strlen(bad[i]), 0), &m) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
}
END_TEST

START_TEST(id_args)
{
	struct tp t;
	struct imap_id id;
	struct imap_buf b;
	size_t i;

	ck_assert_int_eq(PARSE(t, imap_p_id, " NIL", &id, 0), 0);
	ck_assert_uint_eq(id.n, 0);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_id, " (\"name\" \"Thunderbird\" "
	    "\"version\" NIL)", &id, 0), 0);
	ck_assert_uint_eq(id.n, 2);
	ck_assert(str_is(&id.keys[0], S("name")));
	ck_assert(str_is(&id.values[0], S("Thunderbird")));
	ck_assert_ptr_null(id.values[1].s);
	tp_close(&t);
	ck_assert_int_eq(PARSE(t, imap_p_id, " ()", &id, 0), 0);
	tp_close(&t);
	static const char *bad[] = { " NILL", " (\"a\")", " (a b)",
	    " (\"a\" \"b\"", " \"a\"", " (\"a\" \"b\") x" };
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(imap_p_id(tp_open(&t, bad[i], strlen(bad[i]), 0),
		    &id) == -1, "\"%s\" accepted", bad[i]);
		tp_close(&t);
	}
	imap_buf_init(&b);
	imap_buf_adds(&b, " (");
	for (i = 0; i <= IMAP_ID_PAIRS_MAX; i++)
		imap_buf_printf(&b, "%s\"k%zu\" \"v\"", i ? " " : "", i);
	imap_buf_adds(&b, ")");
	ck_assert_int_eq(imap_p_id(tp_open(&t, b.p, b.len, 0), &id), -1);
	ck_assert_str_eq(t.p.err, "Too many ID parameters");
	tp_close(&t);
	imap_buf_free(&b);
}
END_TEST

/*
 * Whole commands cut at every offset through the argument parsers: a
 * prefix parses or fails with a message, and the parser never moves
 * beyond what it was given.
 */
START_TEST(commands_trickle)
{
	static const struct {
		const char	*args;
		int		 which;
	} cmds[] = {
		{ " (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From {2}\r\nTo)]<0.50> "
		    "BINARY.SIZE[1]) (CHANGEDSINCE 5 VANISHED)", 0 },
		{ " (UNCHANGEDSINCE 7) +FLAGS.SILENT (\\Seen $Fwd)", 1 },
		{ " RETURN (MIN MAX) CHARSET UTF-8 OR (1:3 UNSEEN) NOT "
		    "SINCE \"1-Feb-1994\" HEADER {4}\r\nX-Ab {1+}\r\nz MODSEQ "
		    "\"/flags/\\\\Seen\" priv 5 YOUNGER 60", 2 },
		{ " (REVERSE ARRIVAL DISPLAYTO) UTF-8 TEXT \"x y\"", 3 },
		{ " REFERENCES UTF-8 ALL", 4 },
		{ " (SUBSCRIBED) \"\" (INBOX* %) RETURN (STATUS (SIZE "
		    "DELETED) CHILDREN)", 5 },
		{ " (QRESYNC (1 2 1:9 (1,3 4,7)) CONDSTORE)", 6 },
		{ " (\\Seen) \" 1-Jan-2000 00:00:00 +0000\" ~{100+}", 7 },
		{ " (\"name\" {3}\r\nabc \"os\" NIL)", 8 },
	};
	struct tp t;
	struct imap_fetch f;
	struct imap_store st;
	struct imap_search s;
	struct imap_sort so;
	struct imap_thread th;
	struct imap_list l;
	struct imap_select se;
	struct imap_append_msg m;
	struct imap_id id;
	size_t i, k, len;
	int rc = 0;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		len = strlen(cmds[i].args);
		for (k = 0; k <= len; k++) {
			struct imap_parser *p = tp_open(&t, cmds[i].args, k,
			    0);

			switch (cmds[i].which) {
			case 0: rc = imap_p_fetch(p, &f); break;
			case 1: rc = imap_p_store(p, &st); break;
			case 2: rc = imap_p_search(p, &s); break;
			case 3: rc = imap_p_sort(p, &so); break;
			case 4: rc = imap_p_thread(p, &th); break;
			case 5: rc = imap_p_list(p, &l); break;
			case 6: rc = imap_p_select_params(p, &se); break;
			case 7: rc = imap_p_append_msg(p, &m); break;
			case 8: rc = imap_p_id(p, &id); break;
			}
			ck_assert(p->pos <= k);
			ck_assert_msg(rc == 0 || rc == 1 || (rc == -1 &&
			    p->err != NULL), "rc %d", rc);
			if (k == len)
				ck_assert_msg(rc == 0, "\"%s\": %s",
				    cmds[i].args, p->err);
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
	imap_buf_reset(&b);
	imap_buf_mailbox(&b, "a b&", 0);
	ck_assert_str_eq(b.p, "\"a b&-\"");
	imap_buf_reset(&b);
	/* not UTF-8 (cannot be in the store, but never crash): as bytes */
	imap_buf_mailbox(&b, "a\xff", 0);
	ck_assert_str_eq(b.p, "{2}\r\na\xff");
	imap_buf_free(&b);
}
END_TEST

/* imap_buf_uidset: runs fold, singles stay, nothing for none. */
START_TEST(buf_uidset)
{
	static const uint32_t u[] = { 1, 2, 3, 7, 9, 10, 4294967295U };
	struct imap_buf b;

	imap_buf_init(&b);
	imap_buf_uidset(&b, u, 0);
	ck_assert_uint_eq(b.len, 0);
	imap_buf_uidset(&b, u, 1);
	imap_buf_adds(&b, "|");
	imap_buf_uidset(&b, u, sizeof(u) / sizeof(u[0]));
	imap_buf_add(&b, "", 1);
	ck_assert_str_eq(b.p, "1|1:3,7,9:10,4294967295");
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
	tc = tcase_create("commands");
	tcase_add_test(tc, fetch_items);
	tcase_add_test(tc, fetch_sections);
	tcase_add_test(tc, fetch_limits);
	tcase_add_test(tc, fetch_modifiers);
	tcase_add_test(tc, store_args);
	tcase_add_test(tc, dates);
	tcase_add_test(tc, search_keys);
	tcase_add_test(tc, search_limits);
	tcase_add_test(tc, sort_thread);
	tcase_add_test(tc, list_args);
	tcase_add_test(tc, status_items);
	tcase_add_test(tc, select_params);
	tcase_add_test(tc, append_heads);
	tcase_add_test(tc, id_args);
	tcase_add_test(tc, commands_trickle);
	suite_add_tcase(s, tc);
	tc = tcase_create("buf");
	tcase_add_test(tc, buf_strings);
	tcase_add_test(tc, buf_mailboxes);
	tcase_add_test(tc, buf_uidset);
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
