/*
 * check_smtp_parse.c - the SMTP command parser, MAIL/RCPT arguments and
 * paths, BDAT arguments, and the DATA stream decoder.
 *
 * The decoder's central properties: every way of cutting the stream
 * gives the same message (trickle), and nothing but CRLF "." CRLF ends
 * it (the SMTP smuggling inputs never end early).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "smtpd/parse.h"

#define S(lit)	lit, sizeof(lit) - 1
#define NOLIMIT	UINT64_MAX

struct decoded {
	char	*msg;
	size_t	 len;
	size_t	 used;		/* input bytes taken */
	int	 done;
	struct smtp_data d;
};

static Suite	*smtp_parse_suite(void);
static void	 decode(const char *, size_t, uint64_t, const size_t *,
		    size_t, struct decoded *);
static void	 decode_whole(const char *, size_t, uint64_t,
		    struct decoded *);
static void	 expect_msg(const char *, size_t, const char *, size_t);
static void	 trickle(const char *, size_t);
static void	 show(char *, size_t, const char *, size_t);
static void	 path_ok(const char *, int, const char *, int);
static void	 path_bad(const char *, int);

static void
show(char *buf, size_t size, const char *p, size_t len)
{
	size_t o = 0, i;

	buf[0] = '\0';
	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r')
			o += (size_t)snprintf(buf + o, size - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(buf + o, size - o, "\\n");
		else if (c < 32 || c > 126)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
		buf[o] = '\0';
	}
}

/* Feeds in, cut at cuts[0..ncuts) (ascending offsets). */
static void
decode(const char *in, size_t len, uint64_t max, const size_t *cuts,
    size_t ncuts, struct decoded *r)
{
	size_t start = 0, end, k, olen, used;

	memset(r, 0, sizeof(*r));
	r->msg = xmalloc(SMTP_DATA_OUT_MAX(len) + 1);
	smtp_data_init(&r->d, max);
	for (k = 0; k <= ncuts && !r->done; k++) {
		end = k < ncuts ? cuts[k] : len;
		r->done = smtp_data_feed(&r->d, in + start, end - start,
		    r->msg + r->len, &olen, &used);
		ck_assert_msg(olen <= SMTP_DATA_OUT_MAX(end - start),
		    "%zu bytes out for %zu in", olen, end - start);
		ck_assert_msg(r->done || used == end - start, "took %zu of "
		    "%zu bytes without reaching the end", used, end - start);
		r->len += olen;
		r->used = start + used;
		start = end;
	}
}

static void
decode_whole(const char *in, size_t len, uint64_t max, struct decoded *r)
{
	decode(in, len, max, NULL, 0, r);
}

static void
expect_msg(const char *in, size_t len, const char *want, size_t wlen)
{
	struct decoded r;
	char a[512], b[512], c[512];

	decode_whole(in, len, NOLIMIT, &r);
	show(a, sizeof(a), in, len);
	show(b, sizeof(b), r.msg, r.len);
	show(c, sizeof(c), want, wlen);
	ck_assert_msg(r.done, "no end seen in \"%s\"", a);
	ck_assert_msg(r.len == wlen && memcmp(r.msg, want, wlen) == 0,
	    "\"%s\" decoded to \"%s\", wanted \"%s\"", a, b, c);
	ck_assert_uint_eq(r.d.size, wlen);
	free(r.msg);
}

/* Cut at every single offset and at every pair: same as whole. */
static void
trickle(const char *in, size_t len)
{
	struct decoded whole, part;
	size_t cuts[2], i, j;
	char a[512];

	decode_whole(in, len, NOLIMIT, &whole);
	show(a, sizeof(a), in, len);
	for (i = 0; i <= len; i++)
		for (j = i; j <= len; j++) {
			cuts[0] = i;
			cuts[1] = j;
			decode(in, len, NOLIMIT, cuts, 2, &part);
			ck_assert_msg(part.done == whole.done &&
			    part.len == whole.len &&
			    memcmp(part.msg, whole.msg, whole.len) == 0 &&
			    part.used == whole.used &&
			    part.d.bare_cr == whole.d.bare_cr &&
			    part.d.bare_lf == whole.d.bare_lf,
			    "\"%s\" cut at %zu and %zu differs from whole", a,
			    i, j);
			free(part.msg);
		}
	/* One byte at a time. */
	{
		size_t *one = xcalloc(len + 1, sizeof(*one));

		for (i = 0; i < len; i++)
			one[i] = i + 1;
		decode(in, len, NOLIMIT, one, len, &part);
		ck_assert_msg(part.len == whole.len && memcmp(part.msg,
		    whole.msg, whole.len) == 0 && part.done == whole.done,
		    "\"%s\" byte by byte differs from whole", a);
		free(part.msg);
		free(one);
	}
	free(whole.msg);
}

/* Command lines ------------------------------------------------------ */

START_TEST(test_line)
{
	struct smtp_cmd c;

	ck_assert_int_eq(smtp_parse_line(S("ehlo client.example"), &c), 0);
	ck_assert_str_eq(c.verb, "EHLO");
	ck_assert_str_eq(c.args, "client.example");
	ck_assert_int_eq(smtp_parse_line(S("QUIT"), &c), 0);
	ck_assert_str_eq(c.verb, "QUIT");
	ck_assert_str_eq(c.args, "");
	ck_assert_int_eq(smtp_parse_line(S("MAIL  FROM:<a@b.example>"), &c),
	    0);
	ck_assert_str_eq(c.verb, "MAIL");
	ck_assert_str_eq(c.args, "FROM:<a@b.example>");
	ck_assert_int_eq(smtp_parse_line(S("StartTLS"), &c), 0);
	ck_assert_str_eq(c.verb, "STARTTLS");

	ck_assert_int_eq(smtp_parse_line(S(""), &c), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(smtp_parse_line(S("  NOOP"), &c), -1);
	ck_assert_int_eq(smtp_parse_line(S("NO\0OP"), &c), -1);
	ck_assert_ptr_nonnull(strstr(err_msg(), "NUL"));
	ck_assert_int_eq(smtp_parse_line(S("TOOLONGVERB x"), &c), -1);
	ck_assert_int_eq(smtp_parse_line(S("MAIL:FROM"), &c), -1);
	ck_assert_int_eq(smtp_parse_line(S("123"), &c), -1);
}
END_TEST

START_TEST(test_line_too_long)
{
	struct smtp_cmd c;
	char *line = xmalloc(SMTP_LINE_MAX + 2);

	memset(line, 'a', SMTP_LINE_MAX + 1);
	memcpy(line, "NOOP ", 5);
	ck_assert_int_eq(smtp_parse_line(line, SMTP_LINE_MAX, &c), 0);
	ck_assert_int_eq(smtp_parse_line(line, SMTP_LINE_MAX + 1, &c), -1);
	ck_assert_ptr_nonnull(strstr(err_msg(), "too long"));
	free(line);
}
END_TEST

/* Paths --------------------------------------------------------------- */

static void
path_ok(const char *in, int allow_null, const char *want, int utf8)
{
	char addr[SMTP_PATH_MAX + 1];
	const char *end;
	int u;

	ck_assert_msg(smtp_parse_path(in, allow_null, addr, sizeof(addr), &u,
	    &end) == 0, "path %s refused: %s", in, err_msg());
	ck_assert_msg(strcmp(addr, want) == 0, "path %s gave %s, wanted %s",
	    in, addr, want);
	ck_assert_msg(u == utf8, "path %s: utf8 %d", in, u);
	ck_assert_msg(*end == '\0', "path %s: end not at the '>'", in);
}

static void
path_bad(const char *in, int allow_null)
{
	char addr[SMTP_PATH_MAX + 1];
	const char *end;
	int u;

	ck_assert_msg(smtp_parse_path(in, allow_null, addr, sizeof(addr), &u,
	    &end) == -1, "path %s accepted as %s", in, addr);
	ck_assert_int_eq(err_class(), ERR_INVALID);
}

START_TEST(test_paths)
{
	char local[SMTP_LOCAL_MAX + 2], path[600];

	path_ok("<a@b.example>", 0, "a@b.example", 0);
	path_ok("<>", 1, "", 0);
	path_ok("<first.last+tag@sub.b-c.example>", 0,
	    "first.last+tag@sub.b-c.example", 0);
	path_ok("<!#$%&'*+-/=?^_`{|}~@x.example>", 0,
	    "!#$%&'*+-/=?^_`{|}~@x.example", 0);
	path_ok("<\"john doe\"@x.example>", 0, "\"john doe\"@x.example", 0);
	path_ok("<\"a\\\"b@c\"@x.example>", 0, "\"a\\\"b@c\"@x.example", 0);
	path_ok("<@relay.example,@r2.example:u@x.example>", 0, "u@x.example",
	    0);
	path_ok("<u@[192.0.2.1]>", 0, "u@[192.0.2.1]", 0);
	path_ok("<u@[IPv6:2001:db8::1]>", 0, "u@[IPv6:2001:db8::1]", 0);
	path_ok("<j\xc3\xb6rg@b\xc3\xbc" "cher.example>", 0,
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 1);
	path_ok("<x@localhost>", 0, "x@localhost", 0);

	path_bad("<>", 0);
	path_bad("a@b.example", 0);
	path_bad("<a@b.example", 0);
	path_bad("<a.@b.example>", 0);
	path_bad("<.a@b.example>", 0);
	path_bad("<a..b@b.example>", 0);
	path_bad("<a@>", 0);
	path_bad("<@b.example>", 0);
	path_bad("<a@b..example>", 0);
	path_bad("<a@-b.example>", 0);
	path_bad("<a@b-.example>", 0);
	path_bad("<a@b.example.>", 0);
	path_bad("<a b@b.example>", 0);
	path_bad("<a@[300.1.1.1]>", 0);
	path_bad("<a@[IPv6:zz]>", 0);
	path_bad("<\"unterminated@b.example>", 0);
	path_bad("<a@b.example", 0);
	path_bad("<a\xc3@b.example>", 0);	/* broken UTF-8 */
	path_bad("<a\xff@b.example>", 0);
	path_bad("<a\x01@b.example>", 0);
	/* Length limits. */
	memset(local, 'l', SMTP_LOCAL_MAX + 1);
	local[SMTP_LOCAL_MAX + 1] = '\0';
	snprintf(path, sizeof(path), "<%s@b.example>", local);
	path_bad(path, 0);
	local[SMTP_LOCAL_MAX] = '\0';
	snprintf(path, sizeof(path), "<%s@b.example>", local);
	{
		char want[600];

		snprintf(want, sizeof(want), "%s@b.example", local);
		path_ok(path, 0, want, 0);
	}
}
END_TEST

START_TEST(test_path_end)
{
	char addr[SMTP_PATH_MAX + 1];
	const char *end;
	int u;

	/* The "<a@b.example>x" case: the path ends at '>', the caller sees
	 * what follows. */
	ck_assert_int_eq(smtp_parse_path("<a@b.example> SIZE=1", 0, addr,
	    sizeof(addr), &u, &end), 0);
	ck_assert_str_eq(end, " SIZE=1");
}
END_TEST

/* MAIL and RCPT ------------------------------------------------------- */

START_TEST(test_mail)
{
	struct smtp_path_args a;

	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example>", &a), 0);
	ck_assert_str_eq(a.addr, "a@b.example");
	ck_assert_int_eq(a.has_size, 0);
	ck_assert_int_eq(a.body, SMTP_BODY_NONE);
	ck_assert_int_eq(smtp_parse_mail("from: <>", &a), 0);
	ck_assert_str_eq(a.addr, "");
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> SIZE=12345 "
	    "BODY=8BITMIME SMTPUTF8 AUTH=<>", &a), 0);
	ck_assert_int_eq(a.has_size, 1);
	ck_assert_uint_eq(a.size, 12345);
	ck_assert_int_eq(a.body, SMTP_BODY_8BITMIME);
	ck_assert_int_eq(a.smtputf8, 1);
	ck_assert_str_eq(a.auth, "<>");
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> body=7bit "
	    "size=0", &a), 0);
	ck_assert_int_eq(a.body, SMTP_BODY_7BIT);
	ck_assert_uint_eq(a.size, 0);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> "
	    "SIZE=18446744073709551615", &a), 0);
	ck_assert_uint_eq(a.size, UINT64_MAX);

	ck_assert_int_eq(smtp_parse_mail("TO:<a@b.example>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_SYNTAX);
	ck_assert_int_eq(smtp_parse_mail("FROM:a@b.example", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PATH);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@@b>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PATH);
	/* Only the domain wrong: SMTP_PERR_DOMAIN, the address kept. */
	ck_assert_int_eq(smtp_parse_mail("FROM:<user>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_DOMAIN);
	ck_assert_str_eq(a.addr, "user");
	ck_assert_int_eq(smtp_parse_mail("FROM:<user@bad..test> SIZE=1",
	    &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_DOMAIN);
	ck_assert_str_eq(a.addr, "user@bad..test");
	ck_assert_int_eq(smtp_parse_mail("FROM:<\"a b\"@-x.test>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_DOMAIN);
	ck_assert_str_eq(a.addr, "\"a b\"@-x.test");
	ck_assert_int_eq(smtp_parse_mail("FROM:<user@>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_DOMAIN);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a b@x.test>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PATH);
	ck_assert_int_eq(smtp_parse_mail("FROM:<user@x.test", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PATH);
	ck_assert_str_eq(a.addr, "");
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example>SIZE=1", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_SYNTAX);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> SIZE=x", &a),
	    -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> "
	    "SIZE=18446744073709551616", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> SIZE=1 SIZE=2",
	    &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> "
	    "BODY=BINARYMIME", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> SMTPUTF8=x",
	    &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> MT-PRIORITY=3",
	    &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_ptr_nonnull(strstr(err_msg(), "MT-PRIORITY"));
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> SIZE=", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> =1", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
}
END_TEST

START_TEST(test_fqdn)
{
	static const char *const good[] = {
		"mx.example.test", "a.b", "x-1.example", "[127.0.0.1]",
		"[IPv6:2001:db8::1]", "xn--bcher-kva.example",
		"b\xc3\xbc" "cher.example",
	};
	static const char *const bad[] = {
		"", "localhost", "example.", ".example", "bad..test",
		"-x.test", "x-.test", "x.test-", "under_score.test",
		"[127.0.0.1", "[300.0.0.1]", "[IPv6:nope]", "a.b ",
		"mx.example.test]",
	};
	char big[300];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(smtp_fqdn(good[i], strlen(good[i])) == 1,
		    "'%s' not taken as an FQDN", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(smtp_fqdn(bad[i], strlen(bad[i])) == 0,
		    "'%s' taken as an FQDN", bad[i]);
	/* the length is the name's: what follows is not looked at */
	ck_assert_int_eq(smtp_fqdn("mx.example.test extra", 15), 1);
	ck_assert_int_eq(smtp_fqdn("mx.example.test extra", 10), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = '.';
	ck_assert_int_eq(smtp_fqdn(big, strlen(big)), 0);
	big[255] = '\0';
	ck_assert_int_eq(smtp_fqdn(big, strlen(big)), 1);
}
END_TEST

START_TEST(test_rcpt)
{
	struct smtp_path_args a;

	ck_assert_int_eq(smtp_parse_rcpt("TO:<u@x.example>", &a), 0);
	ck_assert_str_eq(a.addr, "u@x.example");
	ck_assert_int_eq(a.postmaster, 0);
	ck_assert_int_eq(smtp_parse_rcpt("to: <u@x.example>  ", &a), 0);
	ck_assert_int_eq(smtp_parse_rcpt("TO:<PostMaster>", &a), 0);
	ck_assert_int_eq(a.postmaster, 1);
	ck_assert_str_eq(a.addr, "postmaster");
	ck_assert_int_eq(smtp_parse_rcpt("TO:<>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PATH);
	ck_assert_int_eq(smtp_parse_rcpt("FROM:<u@x.example>", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_SYNTAX);
	ck_assert_int_eq(smtp_parse_rcpt("TO:<u@x.example> RRVS=2026-01-01",
	    &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_rcpt("TO:<j\xc3\xb6rg@x.example>", &a),
	    0);
	ck_assert_int_eq(a.utf8, 1);
}
END_TEST


/* RFC 3461: RET, ENVID on MAIL; NOTIFY, ORCPT on RCPT. */
START_TEST(test_dsn_params)
{
	struct smtp_path_args a;
	char big[700];
	static const char *const bad_mail[] = {
		"FROM:<a@b.example> RET=ALL",
		"FROM:<a@b.example> RET=",
		"FROM:<a@b.example> ENVID=a=b",
		"FROM:<a@b.example> ENVID=a+4",
		"FROM:<a@b.example> ENVID=a+4G",
		"FROM:<a@b.example> ENVID=\xc3\xa9t\xc3\xa9",
	};
	static const char *const bad_rcpt[] = {
		"TO:<u@x.example> NOTIFY=NEVER,SUCCESS",
		"TO:<u@x.example> NOTIFY=SUCCESS,NEVER",
		"TO:<u@x.example> NOTIFY=SUCCESS,SUCCESS",
		"TO:<u@x.example> NOTIFY=ALWAYS",
		"TO:<u@x.example> NOTIFY=SUCCESS,",
		"TO:<u@x.example> NOTIFY=,DELAY",
		"TO:<u@x.example> ORCPT=u@x.example",
		"TO:<u@x.example> ORCPT=;u@x.example",
		"TO:<u@x.example> ORCPT=rfc822;",
		"TO:<u@x.example> ORCPT=rfc822;a=b@x.example",
		"TO:<u@x.example> ORCPT=rfc 822;a",
		"TO:<u@x.example> ORCPT=rfc822;a+2",
	};
	size_t i;

	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> RET=FULL "
	    "ENVID=QQ314159+2B1", &a), 0);
	ck_assert_int_eq(a.ret, SMTP_RET_FULL);
	ck_assert_str_eq(a.envid, "QQ314159+2B1");
	ck_assert_int_eq(a.dsn, 1);
	ck_assert_int_eq(smtp_parse_mail("FROM:<> ret=hdrs envid=x", &a), 0);
	ck_assert_int_eq(a.ret, SMTP_RET_HDRS);
	ck_assert_str_eq(a.envid, "x");
	ck_assert_int_eq(smtp_parse_mail("FROM:<a@b.example> SIZE=10", &a), 0);
	ck_assert_int_eq(a.ret, SMTP_RET_NONE);
	ck_assert_int_eq(a.dsn, 0);
	/* bad values: 501 (SMTP_PERR_VALUE) */
	for (i = 0; i < sizeof(bad_mail) / sizeof(bad_mail[0]); i++) {
		ck_assert_msg(smtp_parse_mail(bad_mail[i], &a) == -1 &&
		    a.perr == (i == 1 ? SMTP_PERR_PARAM : SMTP_PERR_VALUE),
		    "%s: perr %d", bad_mail[i], a.perr);
	}
	/* ENVID: 100 characters, not 101 */
	memset(big, 'e', sizeof(big));
	memcpy(big, "FROM:<> ENVID=", 14);
	big[14 + 100] = '\0';
	ck_assert_int_eq(smtp_parse_mail(big, &a), 0);
	ck_assert_uint_eq(strlen(a.envid), 100);
	big[14 + 100] = 'e';
	big[14 + 101] = '\0';
	ck_assert_int_eq(smtp_parse_mail(big, &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_VALUE);
	/* duplicates: like the other parameters (555) */
	ck_assert_int_eq(smtp_parse_mail("FROM:<> RET=FULL RET=FULL", &a),
	    -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_mail("FROM:<> ENVID=a ENVID=b", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);

	ck_assert_int_eq(smtp_parse_rcpt("TO:<u@x.example> NOTIFY=NEVER", &a),
	    0);
	ck_assert_uint_eq(a.notify, SMTP_NOTIFY_NEVER);
	ck_assert_int_eq(smtp_parse_rcpt("TO:<u@x.example> "
	    "notify=delay,Success,FAILURE ORCPT=rfc822;U+2Bx@x.example", &a),
	    0);
	ck_assert_uint_eq(a.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |
	    SMTP_NOTIFY_DELAY);
	ck_assert_str_eq(a.orcpt, "rfc822;U+2Bx@x.example");
	ck_assert_str_eq(a.addr, "u@x.example");
	ck_assert_int_eq(a.dsn, 1);
	ck_assert_int_eq(smtp_parse_rcpt("TO:<Postmaster> NOTIFY=FAILURE",
	    &a), 0);
	ck_assert_int_eq(a.postmaster, 1);
	ck_assert_uint_eq(a.notify, SMTP_NOTIFY_FAILURE);
	ck_assert_int_eq(smtp_parse_rcpt("TO:<u@x.example> ORCPT=utf-8;"
	    "x@y", &a), 0);
	for (i = 0; i < sizeof(bad_rcpt) / sizeof(bad_rcpt[0]); i++)
		ck_assert_msg(smtp_parse_rcpt(bad_rcpt[i], &a) == -1,
		    "%s accepted", bad_rcpt[i]);
	ck_assert_int_eq(smtp_parse_rcpt(bad_rcpt[0], &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_VALUE);
	/* "ORCPT=rfc 822;a": the space ends the value, "822;a" is unknown */
	ck_assert_int_eq(smtp_parse_rcpt("TO:<u@x.example> ORCPT=x;a "
	    "ORCPT=x;b", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	ck_assert_int_eq(smtp_parse_rcpt("TO:<u@x.example> NOTIFY=DELAY "
	    "NOTIFY=DELAY", &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_PARAM);
	/* ORCPT: 500 characters, not 501 */
	memset(big, 'o', sizeof(big));
	memcpy(big, "TO:<u@x.example> ORCPT=rfc822;", 30);
	big[23 + 500] = '\0';
	ck_assert_int_eq(smtp_parse_rcpt(big, &a), 0);
	ck_assert_uint_eq(strlen(a.orcpt), 500);
	big[23 + 500] = 'o';
	big[23 + 501] = '\0';
	ck_assert_int_eq(smtp_parse_rcpt(big, &a), -1);
	ck_assert_int_eq(a.perr, SMTP_PERR_VALUE);
}
END_TEST

/* The DSN parameters give the same result however the line is cut. */
START_TEST(test_dsn_trickle)
{
	static const char line[] = "RCPT TO:<u@x.example> NOTIFY=SUCCESS,DELAY "
	    "ORCPT=rfc822;u+2Bv@x.example";
	struct smtp_cmd cmd;
	struct smtp_path_args a;
	char buf[sizeof(line)];
	size_t cut;

	/* every prefix of the line either parses or is refused, never more */
	for (cut = 0; cut <= sizeof(line) - 1; cut++) {
		memcpy(buf, line, cut);
		buf[cut] = '\0';
		if (smtp_parse_line(buf, cut, &cmd) == -1)
			continue;
		if (smtp_parse_rcpt(cmd.args, &a) == 0 && a.orcpt[0] != '\0')
			ck_assert_msg(strncmp(a.orcpt, "rfc822;u", 8) == 0,
			    "cut %zu: orcpt %s", cut, a.orcpt);
	}
	ck_assert_int_eq(smtp_parse_line(line, sizeof(line) - 1, &cmd), 0);
	ck_assert_int_eq(smtp_parse_rcpt(cmd.args, &a), 0);
	ck_assert_uint_eq(a.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	ck_assert_str_eq(a.orcpt, "rfc822;u+2Bv@x.example");
}
END_TEST

/*
 * A source route is dropped, so 8-bit bytes in it do not make an ASCII
 * address need SMTPUTF8 (fuzz_smtp: the address parsed again alone came
 * out without the flag).
 */
START_TEST(test_route_utf8_ignored)
{
	char addr[SMTP_PATH_MAX + 1];
	const char *end;
	int utf8 = -1;

	ck_assert_int_eq(smtp_parse_path("<@r\xc3\xa9.example,@r2.example:"
	    "u@x.example>", 0, addr, sizeof(addr), &utf8, &end), 0);
	ck_assert_str_eq(addr, "u@x.example");
	ck_assert_msg(utf8 == 0, "an 8-bit source route made <%s> need "
	    "SMTPUTF8", addr);
	ck_assert_int_eq(smtp_parse_path("<@r.example:"
	    "\xc3\xa9@x.example>", 0, addr, sizeof(addr), &utf8, &end), 0);
	ck_assert_int_eq(utf8, 1);
}
END_TEST

/*
 * Found by fuzz_smtp: the NUL that ends the arguments counted as atext, so
 * "RCPT TO:<" read on past it, into what an earlier, longer command had
 * left in the line buffer, and was accepted with an empty address.
 */
START_TEST(test_path_stops_at_nul)
{
	static const char stale[] = "TO:<\0bob@example.net>";
	struct smtp_path_args a;
	struct smtp_cmd *cmd = xcalloc(1, sizeof(*cmd));
	char addr[SMTP_PATH_MAX + 1], *exact;
	const char *end;
	int utf8;

	/* As the session does: one smtp_cmd for every line. */
	ck_assert_int_eq(smtp_parse_line(S("RCPT TO:<bob@example.net>"), cmd),
	    0);
	ck_assert_int_eq(smtp_parse_rcpt(cmd->args, &a), 0);
	ck_assert_int_eq(smtp_parse_line(S("RCPT TO:<"), cmd), 0);
	ck_assert_msg(smtp_parse_rcpt(cmd->args, &a) == -1, "\"RCPT TO:<\" "
	    "after a longer RCPT accepted as <%s>", a.addr);
	ck_assert_int_eq(a.perr, SMTP_PERR_PATH);
	ck_assert_int_eq(smtp_parse_line(S("MAIL FROM:<"), cmd), 0);
	ck_assert_int_eq(smtp_parse_mail(cmd->args, &a), -1);
	free(cmd);

	/* Bytes after the NUL are never part of the address. */
	ck_assert_int_eq(smtp_parse_rcpt(stale, &a), -1);
	ck_assert_int_eq(smtp_parse_mail("FROM:<\0a@b.example>", &a), -1);
	ck_assert_int_eq(smtp_parse_path("<\0a@b.example>", 0, addr,
	    sizeof(addr), &utf8, &end), -1);
	ck_assert_int_eq(smtp_parse_path("<a\0@b.example>", 0, addr,
	    sizeof(addr), &utf8, &end), -1);
	/* Exactly sized, so the sanitizer build sees a read past the end. */
	exact = xstrdup("TO:<a");
	ck_assert_int_eq(smtp_parse_rcpt(exact, &a), -1);
	free(exact);
}
END_TEST

START_TEST(test_bdat)
{
	uint64_t n;
	int last;

	ck_assert_int_eq(smtp_parse_bdat("100", &n, &last), 0);
	ck_assert_uint_eq(n, 100);
	ck_assert_int_eq(last, 0);
	ck_assert_int_eq(smtp_parse_bdat("0 LAST", &n, &last), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(last, 1);
	ck_assert_int_eq(smtp_parse_bdat("7 last ", &n, &last), 0);
	ck_assert_int_eq(last, 1);
	ck_assert_int_eq(smtp_parse_bdat("", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("-1", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("1 FIRST", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("1 LASTX", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("1 LAST x", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("123456789012345678901", &n, &last),
	    -1);
}
END_TEST

/* DATA stream ------------------------------------------------------- */

START_TEST(test_data_plain)
{
	expect_msg(S(".\r\n"), S(""));
	expect_msg(S("Subject: x\r\n\r\nbody\r\n.\r\n"),
	    S("Subject: x\r\n\r\nbody\r\n"));
	/* Dot-unstuffing. */
	expect_msg(S("..\r\n.\r\n"), S(".\r\n"));
	expect_msg(S("a\r\n..b\r\n...\r\n.\r\n"), S("a\r\n.b\r\n..\r\n"));
	expect_msg(S(".x\r\n.\r\n"), S("x\r\n"));
	/* A dot inside a line stays. */
	expect_msg(S("a.b\r\n a .\r\n.\r\n"), S("a.b\r\n a .\r\n"));
}
END_TEST

START_TEST(test_data_end_only_crlf_dot_crlf)
{
	struct decoded r;
	static const struct {
		const char	*in;
		size_t		 len;
	} smuggle[] = {
		{ S("a\n.\nMAIL FROM:<x@evil>\r\n") },
		{ S("a\r.\r\nMAIL FROM:<x@evil>\r\n") },
		{ S("a\n.\r\nMAIL FROM:<x@evil>\r\n") },
		{ S("a\r\n.\nMAIL FROM:<x@evil>\r\n") },
		{ S("a\r\n.\r.\r\n") },
		{ S("a\r\n.\r\r\n") },
		{ S("a\r\n. \r\n") },
		{ S("a\r\n.\n\r\n") },
	};
	size_t i;
	char a[256];

	for (i = 0; i < sizeof(smuggle) / sizeof(smuggle[0]); i++) {
		decode_whole(smuggle[i].in, smuggle[i].len, NOLIMIT, &r);
		show(a, sizeof(a), smuggle[i].in, smuggle[i].len);
		ck_assert_msg(!r.done, "\"%s\" ended the data", a);
		ck_assert_msg(r.used == smuggle[i].len, "\"%s\": took %zu "
		    "bytes", a, r.used);
		free(r.msg);
	}
	/* What follows the end is not taken. */
	decode_whole(S("a\r\n.\r\nQUIT\r\n"), NOLIMIT, &r);
	ck_assert(r.done);
	ck_assert_uint_eq(r.used, 6);
	ck_assert_uint_eq(r.len, 3);
	free(r.msg);
}
END_TEST

START_TEST(test_data_bare_flags)
{
	struct decoded r;

	decode_whole(S("a\r\nb\r\n.\r\n"), NOLIMIT, &r);
	ck_assert(!r.d.bare_cr && !r.d.bare_lf);
	free(r.msg);
	decode_whole(S("a\nb\r\n.\r\n"), NOLIMIT, &r);
	ck_assert(r.done && r.d.bare_lf && !r.d.bare_cr);
	ck_assert_uint_eq(r.len, 5);
	ck_assert(memcmp(r.msg, "a\nb\r\n", 5) == 0);
	free(r.msg);
	decode_whole(S("a\rb\r\n.\r\n"), NOLIMIT, &r);
	ck_assert(r.done && r.d.bare_cr && !r.d.bare_lf);
	ck_assert(memcmp(r.msg, "a\rb\r\n", 5) == 0);
	free(r.msg);
	decode_whole(S("a\r\r\n.\r\n"), NOLIMIT, &r);
	ck_assert(r.done && r.d.bare_cr && !r.d.bare_lf);
	ck_assert_uint_eq(r.len, 4);
	free(r.msg);
	decode_whole(S("\n.\r\n"), NOLIMIT, &r);
	ck_assert(!r.done && r.d.bare_lf);
	free(r.msg);
	decode_whole(S(".\rx\r\n.\r\n"), NOLIMIT, &r);
	ck_assert(r.done && r.d.bare_cr);
	ck_assert_uint_eq(r.len, 4);
	ck_assert(memcmp(r.msg, "\rx\r\n", 4) == 0);
	free(r.msg);
	/* A bare CR at the very end of a line, before the final CRLF. */
	decode_whole(S("x\r\r\n.\r\n"), NOLIMIT, &r);
	ck_assert(r.done && r.d.bare_cr);
	free(r.msg);
}
END_TEST

START_TEST(test_data_trickle)
{
	trickle(S("Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\n"));
	trickle(S("a\n.\nb\r.\r\nc\n.\r\n..\r\n.\r\nafter"));
	trickle(S(".\r.\r\n.\r\r\n.\r\n"));
	trickle(S("\r\r\r\n\n\n.\r\n"));
	trickle(S("no end here\r\n.x"));
	trickle(S("..\r\n...\r\n.\r\n"));
}
END_TEST

START_TEST(test_data_size)
{
	struct decoded r;

	/* Exactly at the limit is fine. */
	decode_whole(S("12345678\r\n.\r\n"), 10, &r);
	ck_assert(r.done && !r.d.toobig);
	ck_assert_uint_eq(r.len, 10);
	free(r.msg);
	/* One over: flagged, the data is still read to its end, and the
	 * excess is not output. */
	decode_whole(S("123456789\r\nmore lines\r\n.\r\n"), 10, &r);
	ck_assert(r.done && r.d.toobig);
	ck_assert_uint_eq(r.d.size, 23);
	ck_assert_uint_le(r.len, 10);
	ck_assert_uint_eq(r.used, 26);
	free(r.msg);
	/* Stuffing dots do not count. */
	decode_whole(S("..\r\n.\r\n"), 3, &r);
	ck_assert(r.done && !r.d.toobig);
	free(r.msg);
}
END_TEST

/*
 * A line of SMTP_DATA_LINE_MAX bytes (a stuffing dot counts, the CRLF
 * does not) is fine, one byte more flags toolong; bare CR/LF count as line
 * bytes.  The flag is the same however the stream is cut.
 */
static void
line_case(size_t n, const char *lead, int want)
{
	static const size_t cuts[] = { 1, 2, 3, 1000, 70000, 1048575,
	    1048576, 1048577, 1048578 };
	size_t len = strlen(lead) + n + 7, k, nc = 0;
	char *in = xmalloc(len + 1);
	struct decoded r;

	snprintf(in, len + 1, "%s", lead);
	memset(in + strlen(lead), 'x', n);
	memcpy(in + strlen(lead) + n, "\r\n.\r\nQ", 7);
	for (k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++)
		if (cuts[k] < len - 1)
			nc = k + 1;
	decode(in, len - 1, NOLIMIT, cuts, nc, &r);
	ck_assert_msg(r.done, "end seen after a line of %zu", n);
	ck_assert_msg(r.d.toolong == want, "line of %s+%zu bytes: toolong %d",
	    lead, n, r.d.toolong);
	free(r.msg);
	decode_whole(in, len - 1, NOLIMIT, &r);
	ck_assert_int_eq(r.d.toolong, want);
	free(r.msg);
	free(in);
}

START_TEST(test_data_line_max)
{
	line_case(SMTP_DATA_LINE_MAX, "", 0);
	line_case(SMTP_DATA_LINE_MAX + 1, "", 1);
	line_case(SMTP_DATA_LINE_MAX - 1, ".", 0);
	line_case(SMTP_DATA_LINE_MAX, ".", 1);
	line_case(SMTP_DATA_LINE_MAX - 2, "a\r\n\nb", 0);
	line_case(SMTP_DATA_LINE_MAX - 2, "a\r\nb\rc", 1);
	line_case(10, "short\r\n", 0);
}
END_TEST

START_TEST(test_count_received)
{
	ck_assert_uint_eq(smtp_count_received(S("")), 0);
	ck_assert_uint_eq(smtp_count_received(S("Received: a\r\n"
	    "received: b\r\n\tcont\r\nRECEIVED:c\r\nSubject: x\r\n\r\n"
	    "Received: in the body\r\n")), 3);
	ck_assert_uint_eq(smtp_count_received(S("\r\nReceived: x\r\n")), 0);
	ck_assert_uint_eq(smtp_count_received(S("Received: x\n\nReceived: "
	    "y\n")), 1);
	ck_assert_uint_eq(smtp_count_received(S("X-Received: x\r\n")), 0);
	ck_assert_uint_eq(smtp_count_received(S("Received: x")), 1);
}
END_TEST

static Suite *
smtp_parse_suite(void)
{
	Suite *s = suite_create("smtp_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_line);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_path_end);
	tcase_add_test(tc, test_mail);
	tcase_add_test(tc, test_rcpt);
	tcase_add_test(tc, test_fqdn);
	tcase_add_test(tc, test_path_stops_at_nul);
	tcase_add_test(tc, test_route_utf8_ignored);
	tcase_add_test(tc, test_bdat);
	tcase_add_test(tc, test_data_plain);
	tcase_add_test(tc, test_data_end_only_crlf_dot_crlf);
	tcase_add_test(tc, test_data_bare_flags);
	tcase_add_test(tc, test_data_trickle);
	tcase_add_test(tc, test_dsn_params);
	tcase_add_test(tc, test_dsn_trickle);
	tcase_add_test(tc, test_data_size);
	tcase_add_test(tc, test_data_line_max);
	tcase_add_test(tc, test_count_received);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(smtp_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
