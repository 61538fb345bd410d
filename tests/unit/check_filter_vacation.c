/*
 * check_filter_vacation.c - auto-replies (filter/vacation.c): every rule
 * of filter_vacation_wanted() with a message that trips it and one that
 * passes, and the reply of filter_vacation_compose() parsed back
 * (header fields, RFC 2047 subjects, quoted-printable bodies, the
 * In-Reply-To/References chain, header injection refused).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "filter/vacation.h"
#include "mail/decode.h"
#include "mail/imapmsg.h"

static Suite	*vacation_suite(void);
static int	 wanted(const char *, const char *, char *);
static char	*hdr(const char *, size_t, const char *);
static char	*compose(const char *, const char *, const char *,
		    size_t *);
static const char *body_of(const char *);
static size_t	 random_msg(unsigned long long *, char *, size_t);

static const char *const user_addrs[] = { "user@example.com",
    "alias@example.org" };

#define BASE	"From: Bob <bob@remote.test>\n" \
		"Subject: Hello\n" \
		"Message-ID: <m1@remote.test>\n"

/* filter_vacation_wanted() on headers + "\nbody\n" from sender. */
static int
wanted(const char *headers, const char *sender, char *why)
{
	char *msg;
	int r;

	if (asprintf(&msg, "%s\nbody text\n", headers) < 0)
		abort();
	r = filter_vacation_wanted(msg, strlen(msg), sender, user_addrs, 2,
	    why, 256);
	free(msg);
	return r;
}

/* The unfolded value of the first field name of msg (malloc'd) or NULL. */
static char *
hdr(const char *msg, size_t len, const char *name)
{
	size_t nl = strlen(name), i = 0;

	while (i < len && msg[i] != '\r' && msg[i] != '\n') {
		const char *e = strchr(msg + i, '\n');
		size_t end = (size_t)(e - msg) + 1;

		while (end < len && (msg[end] == ' ' || msg[end] == '\t'))
			end = (size_t)(strchr(msg + end, '\n') - msg) + 1;
		if (strncasecmp(msg + i, name, nl) == 0 && msg[i + nl] == ':') {
			char *v = malloc(end - i);
			size_t k, n = 0;

			for (k = i + nl + 1; k < end; k++)
				if (msg[k] != '\r' && msg[k] != '\n')
					v[n++] = msg[k];
			v[n] = '\0';
			memmove(v, v + strspn(v, " "), n + 1);
			return v;
		}
		i = end;
	}
	return NULL;
}

static const char *
body_of(const char *msg)
{
	const char *p = strstr(msg, "\r\n\r\n");

	return p != NULL ? p + 4 : NULL;
}

static char *
compose(const char *subject, const char *body, const char *orig,
    size_t *len_r)
{
	struct filter_vacation_in in = {
		.from = "user@example.com", .to = "bob@remote.test",
		.subject = subject, .body = body, .orig = orig,
		.origlen = strlen(orig), .hostname = "mx.example.com",
		.now = 1764640000,
	};
	char *out = NULL;

	ck_assert_int_eq(filter_vacation_compose(&in, &out, len_r), 1);
	ck_assert_uint_eq(strlen(out), *len_r);
	return out;
}

START_TEST(wanted_plain)
{
	char why[256];

	ck_assert_int_eq(wanted(BASE "To: user@example.com\n",
	    "bob@remote.test", why), 1);
	ck_assert_str_eq(why, "");
	ck_assert_int_eq(wanted(BASE "To: user@example.com\n",
	    "<bob@remote.test>", why), 1);
	/* CRLF messages read the same. */
	ck_assert_int_eq(filter_vacation_wanted("To: user@example.com\r\n"
	    "Subject: x\r\n\r\nbody\r\n", 43, "bob@remote.test", user_addrs,
	    2, why, sizeof(why)), 1);
}
END_TEST

START_TEST(wanted_senders)
{
	static const char *const refused[] = { "", "<>", "MAILER-DAEMON@x.test",
	    "mailer-daemon@x.test", "Postmaster@x.test", "owner-foo@x.test",
	    "foo-request@x.test", "FOO-Owner@x.test", "LISTSERV@x.test",
	    "majordomo@x.test", "list-bounces+bob=remote.test@x.test",
	    "mailer@x.test", "nodomain", NULL };
	static const char *const passed[] = { "owner@x.test",
	    "bob-requester@x.test", "requests@x.test", "bob+tag@x.test",
	    "daemon@x.test", NULL };
	char why[256];
	size_t i;

	for (i = 0; refused[i] != NULL; i++) {
		ck_assert_msg(wanted(BASE "To: user@example.com\n", refused[i],
		    why) == 0, "sender %s was not refused", refused[i]);
		ck_assert_msg(why[0] != '\0', "no reason for %s", refused[i]);
	}
	ck_assert_int_eq(filter_vacation_wanted("To: user@example.com\n\n",
	    22, NULL, user_addrs, 2, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "null sender"));
	for (i = 0; passed[i] != NULL; i++)
		ck_assert_msg(wanted(BASE "To: user@example.com\n", passed[i],
		    why) == 1, "sender %s refused: %s", passed[i], why);
}
END_TEST

/* Each header rule: a field that trips it, a near miss that does not. */
START_TEST(wanted_fields)
{
	static const struct {
		const char	*field;
		int		 want;
	} cases[] = {
		{ "Auto-Submitted: auto-generated\n", 0 },
		{ "Auto-Submitted: auto-replied\n", 0 },
		{ "auto-submitted: Auto-Notified (x)\n", 0 },
		{ "Auto-Submitted: no\n", 1 },
		{ "Auto-Submitted: No (a person wrote it)\n", 1 },
		{ "Auto-Submitted: nothing\n", 0 },
		{ "Precedence: bulk\n", 0 },
		{ "Precedence: List\n", 0 },
		{ "precedence :junk\n", 0 },
		{ "Precedence: first-class\n", 1 },
		{ "Precedence: bulky\n", 1 },
		{ "List-Id: Foo <foo.x.test>\n", 0 },
		{ "List-Unsubscribe: <mailto:foo-leave@x.test>\n", 0 },
		{ "list-post: <mailto:foo@x.test>\n", 0 },
		{ "Listing: yes\n", 1 },
		{ "X-Loop: user@example.com\n", 0 },
		{ "X-Loopy: 1\n", 1 },
		{ "X-Spam-Flag: YES\n", 0 },
		{ "X-Spam-Flag: yes\n", 0 },
		{ "X-Spam-Flag: NO\n", 1 },
		{ "X-Auto-Response-Suppress: OOF, AutoReply\n", 0 },
		{ "X-Auto-Response-Suppress: All\n", 0 },
		{ "X-Auto-Response-Suppress: DR\n", 1 },
	};
	char why[256], h[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(h, sizeof(h), BASE "%sTo: user@example.com\n",
		    cases[i].field);
		ck_assert_msg(wanted(h, "bob@remote.test", why) ==
		    cases[i].want, "%s: want %d (%s)", cases[i].field,
		    cases[i].want, why);
		if (!cases[i].want)
			ck_assert_ptr_nonnull(strstr(why, "the message has"));
	}
	/* The same fields in the body do not count. */
	ck_assert_int_eq(wanted(BASE "To: user@example.com\n\n"
	    "Precedence: bulk\nList-Id: <x.y>\n", "bob@remote.test", why), 1);
}
END_TEST

START_TEST(wanted_addressed)
{
	static const struct {
		const char	*h;
		int		 want;
	} cases[] = {
		{ "To: other@example.com\n", 0 },
		{ "To: xuser@example.com\n", 0 },
		{ "To: user@example.com.evil\n", 0 },
		{ "To: \"user@example.com\" <other@example.com>\n", 0 },
		{ "", 0 },
		{ "To: other@example.com\nCc: Us <USER@Example.COM>\n", 1 },
		{ "Bcc: user@example.com\n", 1 },
		{ "Resent-To: alias@example.org\n", 1 },
		{ "Resent-Cc: a@b.test, alias@EXAMPLE.org\n", 1 },
		{ "Reply-To: user@example.com\n", 0 },
		{ "From: user@example.com\n", 0 },
		{ "To: Friends: a@b.test, User <user@example.com>;\n", 1 },
		{ "To: a@b.test,\n  c@d.test,\n\tuser@example.com\n", 1 },
		{ "To: user+holiday@example.com\n", 1 },
		{ "To: other@example.com\nTo: user@example.com\n", 1 },
		{ "To: (comment) user@example.com (more)\n", 1 },
	};
	char why[256], h[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(h, sizeof(h), BASE "%s", cases[i].h);
		ck_assert_msg(wanted(h, "bob@remote.test", why) ==
		    cases[i].want, "%s: want %d (%s)", cases[i].h,
		    cases[i].want, why);
		if (!cases[i].want)
			ck_assert_ptr_nonnull(strstr(why, "addresses"));
	}
	/* A To: in the body is not the header's. */
	ck_assert_int_eq(wanted(BASE "To: x@y.test\n\nTo: user@example.com\n",
	    "bob@remote.test", why), 0);
	/* Without a blank line, all of it is header. */
	ck_assert_int_eq(filter_vacation_wanted("To: user@example.com", 20,
	    "bob@remote.test", user_addrs, 2, why, sizeof(why)), 1);
}
END_TEST

START_TEST(compose_fields)
{
	size_t len, i;
	char *out = compose("", "Hi,\nI am away.\n", BASE
	    "References: <r1@a.test>\n  <r2@a.test>\n"
	    "To: user@example.com\n\nbody\n", &len);
	char *v;

	/* Every line ends CRLF. */
	for (i = 0; i < len; i++)
		if (out[i] == '\n')
			ck_assert_msg(i > 0 && out[i - 1] == '\r',
			    "bare LF at %zu", i);
	ck_assert_ptr_nonnull(strstr(out, "\r\n\r\n"));
	v = hdr(out, len, "Date");
	ck_assert_str_eq(v, "Tue, 02 Dec 2025 01:46:40 +0000");
	free(v);
	v = hdr(out, len, "From");
	ck_assert_str_eq(v, "<user@example.com>");
	free(v);
	v = hdr(out, len, "To");
	ck_assert_str_eq(v, "<bob@remote.test>");
	free(v);
	v = hdr(out, len, "Subject");
	ck_assert_str_eq(v, "Auto: Hello");
	free(v);
	v = hdr(out, len, "Message-ID");
	ck_assert_msg(v[0] == '<' && strlen(v) > 20 &&
	    strcmp(v + strlen(v) - 16, "@mx.example.com>") == 0, "%s", v);
	free(v);
	v = hdr(out, len, "In-Reply-To");
	ck_assert_str_eq(v, "<m1@remote.test>");
	free(v);
	v = hdr(out, len, "References");
	ck_assert_str_eq(v, "<r1@a.test> <r2@a.test> <m1@remote.test>");
	free(v);
	v = hdr(out, len, "Auto-Submitted");
	ck_assert_str_eq(v, "auto-replied");
	free(v);
	v = hdr(out, len, "MIME-Version");
	ck_assert_str_eq(v, "1.0");
	free(v);
	v = hdr(out, len, "Content-Type");
	ck_assert_str_eq(v, "text/plain; charset=utf-8");
	free(v);
	v = hdr(out, len, "Content-Transfer-Encoding");
	ck_assert_str_eq(v, "7bit");
	free(v);
	ck_assert_str_eq(body_of(out), "Hi,\r\nI am away.\r\n");
	free(out);
}
END_TEST

START_TEST(compose_ids)
{
	size_t len;
	char *out, *out2, *v, *v2;

	/* No References: the In-Reply-To (one id) starts the chain. */
	out = compose("Away", "x", "Message-ID: <m2@r.test>\n"
	    "In-Reply-To: <p@r.test>\n\n", &len);
	v = hdr(out, len, "References");
	ck_assert_str_eq(v, "<p@r.test> <m2@r.test>");
	free(v);
	v = hdr(out, len, "Subject");
	ck_assert_str_eq(v, "Away");
	free(v);
	ck_assert_str_eq(body_of(out), "x\r\n");
	/* Two replies never share a Message-ID. */
	out2 = compose("Away", "x", "Message-ID: <m2@r.test>\n"
	    "In-Reply-To: <p@r.test>\n\n", &len);
	v = hdr(out, strlen(out), "Message-ID");
	v2 = hdr(out2, len, "Message-ID");
	ck_assert_str_ne(v, v2);
	free(v);
	free(v2);
	free(out);
	free(out2);
	/* No Message-ID: no In-Reply-To nor References, no subject. */
	out = compose("", "x", "From: a@b.test\n\nbody\n", &len);
	ck_assert_ptr_null(hdr(out, len, "In-Reply-To"));
	ck_assert_ptr_null(hdr(out, len, "References"));
	v = hdr(out, len, "Subject");
	ck_assert_str_eq(v, "Automated reply");
	free(v);
	free(out);
}
END_TEST

/* Decodes a Subject value back into UTF-8. */
static char *
subject_decoded(const char *msg, size_t len)
{
	char *raw = hdr(msg, len, "Subject"), *out;
	size_t n;

	imap_header_decode(raw, strlen(raw), &out, &n);
	free(raw);
	return out;
}

START_TEST(compose_subject_encoded)
{
	char long_subj[400], *out, *s;
	const char *p, *line;
	size_t len, i;

	out = compose("Abwesend: Grüße", "x", BASE "\n", &len);
	s = hdr(out, len, "Subject");
	ck_assert_msg(strncmp(s, "=?UTF-8?B?", 10) == 0, "%s", s);
	free(s);
	s = subject_decoded(out, len);
	ck_assert_str_eq(s, "Abwesend: Grüße");
	free(s);
	free(out);
	/* The original's encoded words are decoded, then encoded again. */
	out = compose("", "x", "Message-ID: <a@b>\n"
	    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\n\n", &len);
	s = subject_decoded(out, len);
	ck_assert_str_eq(s, "Auto: Grüße aus");
	free(s);
	free(out);
	/* Long: words of at most 75 characters, characters never cut. */
	long_subj[0] = '\0';
	for (i = 0; i < 60; i++)
		strcat(long_subj, i % 3 ? "ä" : "€");
	out = compose(long_subj, "x", BASE "\n", &len);
	s = subject_decoded(out, len);
	ck_assert_str_eq(s, long_subj);
	free(s);
	p = strstr(out, "Subject:");
	for (line = p; line < body_of(out); line = strchr(line, '\n') + 1) {
		size_t ll = (size_t)(strchr(line, '\n') - line);

		if (line != p && line[0] != ' ')
			break;
		ck_assert_msg(ll <= 78, "subject line of %zu", ll);
	}
	free(out);
	/* A long ASCII subject is folded at blanks, unfolded the same. */
	long_subj[0] = '\0';
	for (i = 0; i < 30; i++)
		strcat(long_subj, "word ");
	strcat(long_subj, "end");
	out = compose(long_subj, "x", BASE "\n", &len);
	s = hdr(out, len, "Subject");
	ck_assert_str_eq(s, long_subj);
	free(s);
	ck_assert_ptr_nonnull(strstr(out, "\r\n word"));
	free(out);
}
END_TEST

/* Decodes a quoted-printable body. */
static char *
qp_decode(const char *s)
{
	struct mail_decoder d;
	size_t n = strlen(s), o;
	char *out = malloc(MAIL_DECODE_OUT(n) + MAIL_DECODE_OUT(0) + 1);

	mail_decoder_init(&d, MAIL_CTE_QP, 0);
	o = mail_decode(&d, s, n, out);
	o += mail_decode_end(&d, out + o);
	out[o] = '\0';
	return out;
}

START_TEST(compose_body_qp)
{
	char body[300], *out, *v, *dec;
	const char *p;
	size_t len, i;

	out = compose("x", "Grüße,\nbis bald = später.\n", BASE "\n", &len);
	v = hdr(out, len, "Content-Transfer-Encoding");
	ck_assert_str_eq(v, "quoted-printable");
	free(v);
	dec = qp_decode(body_of(out));
	ck_assert_str_eq(dec, "Grüße,\r\nbis bald = später.\r\n");
	free(dec);
	free(out);
	/* A long ASCII line: quoted-printable, lines of at most 76. */
	memset(body, 'a', 200);
	memcpy(body + 200, " tail \n", 8);
	out = compose("x", body, BASE "\n", &len);
	v = hdr(out, len, "Content-Transfer-Encoding");
	ck_assert_str_eq(v, "quoted-printable");
	free(v);
	for (p = body_of(out); *p != '\0'; p = strchr(p, '\n') + 1)
		ck_assert_msg(strchr(p, '\n') - p <= 77, "long QP line");
	dec = qp_decode(body_of(out));
	body[206] = '\0';
	strcat(body, "\r\n");
	ck_assert_str_eq(dec, body);
	free(dec);
	free(out);
	/* '=' alone keeps 7bit; CRLF input stays one CRLF. */
	out = compose("x", "a=b\r\nc\r\n", BASE "\n", &len);
	v = hdr(out, len, "Content-Transfer-Encoding");
	ck_assert_str_eq(v, "7bit");
	free(v);
	ck_assert_str_eq(body_of(out), "a=b\r\nc\r\n");
	for (i = 0; i < len; i++)
		ck_assert(out[i] != '\n' || out[i - 1] == '\r');
	free(out);
}
END_TEST

START_TEST(compose_injection)
{
	struct filter_vacation_in in = {
		.from = "user@example.com", .to = "bob@remote.test",
		.subject = "Away\r\nBcc: victim@x.test", .body = "x",
		.orig = "", .origlen = 0, .hostname = "mx.example.com",
		.now = 0,
	};
	char *out = NULL;
	size_t len;

	ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_ptr_null(out);
	in.subject = "Away\nBcc: victim@x.test";
	ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), -1);
	in.subject = "";
	in.to = "bob@remote.test\rBcc: v@x.test";
	ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), -1);
	in.to = "bob@remote.test";
	in.from = "user@example.com\n";
	ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), -1);
	in.from = "";
	ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), -1);
	in.from = "user@example.com";
	ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), 1);
	free(out);
	/* The original's folded subject brings no line end along. */
	in.orig = "Message-ID: <a@b>\nSubject: one\n two\n\n";
	in.origlen = strlen(in.orig);
	ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), 1);
	ck_assert_ptr_nonnull(strstr(out, "Subject: Auto: one two\r\n"));
	free(out);
}
END_TEST

/* Random bytes from header-ish pieces (a fixed seed: reproducible). */
static size_t
random_msg(unsigned long long *seed, char *buf, size_t size)
{
	static const char *const parts[] = { "To: ", "Cc: ", "Subject: ",
	    "Message-ID: ", "References: ", "In-Reply-To: ", "List-Id: ",
	    "Auto-Submitted: ", "Precedence: ", "user@example.com", "<", ">",
	    ",", ";", ":", "\"", "(", ")", " ", "\t", "\r", "\n", "\r\n",
	    "\n ", "=?UTF-8?B?w6Q=?=", "=?", "?=", "\xc3\xa4", "\xff", "\0",
	    "a", "bob", "@", "no", "bulk", "Bcc:", "\n\n" };
	size_t n = 0, k = (size_t)(*seed % 60);

	while (k-- > 0) {
		const char *p;
		size_t l;

		*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
		p = parts[(*seed >> 33) % (sizeof(parts) / sizeof(parts[0]))];
		l = p[0] == '\0' ? 1 : strlen(p);
		if (n + l > size)
			break;
		memcpy(buf + n, p, l);
		n += l;
	}
	return n;
}

/*
 * Any original: the reply is well formed (CRLF only, every header line a
 * field or a continuation: the original's subject injects nothing).
 */
START_TEST(random_inputs)
{
	unsigned long long seed = 12345;
	char buf[2048], why[64];
	size_t i, n, len, k;
	int r;

	for (i = 0; i < 3000; i++) {
		struct filter_vacation_in in = {
			.from = "user@example.com", .to = "bob@remote.test",
			.subject = "", .body = "x", .orig = buf,
			.hostname = "mx.example.com", .now = 0,
		};
		char *out = NULL;
		const char *line;

		n = random_msg(&seed, buf, sizeof(buf));
		r = filter_vacation_wanted(buf, n, "bob@remote.test",
		    user_addrs, 2, why, sizeof(why));
		ck_assert(r == 0 || r == 1);
		in.origlen = n;
		ck_assert_int_eq(filter_vacation_compose(&in, &out, &len), 1);
		for (k = 0; k < len; k++) {
			ck_assert_msg(out[k] != '\n' || (k > 0 &&
			    out[k - 1] == '\r'), "bare LF in reply %zu", i);
			ck_assert_msg(out[k] != '\r' || out[k + 1] == '\n',
			    "bare CR in reply %zu", i);
		}
		for (line = out; strncmp(line, "\r\n", 2) != 0;
		    line = strstr(line, "\r\n") + 2) {
			const char *colon = strchr(line, ':');
			const char *eol = strstr(line, "\r\n");

			ck_assert_msg(line[0] == ' ' || (colon != NULL &&
			    colon < eol && strcspn(line, " :") ==
			    (size_t)(colon - line)), "reply %zu: header line "
			    "%.*s", i, (int)(eol - line), line);
		}
		free(out);
	}
}
END_TEST

static Suite *
vacation_suite(void)
{
	Suite *s = suite_create("filter_vacation");
	TCase *tc = tcase_create("wanted");

	tcase_add_test(tc, wanted_plain);
	tcase_add_test(tc, wanted_senders);
	tcase_add_test(tc, wanted_fields);
	tcase_add_test(tc, wanted_addressed);
	suite_add_tcase(s, tc);
	tc = tcase_create("compose");
	tcase_add_test(tc, compose_fields);
	tcase_add_test(tc, compose_ids);
	tcase_add_test(tc, compose_subject_encoded);
	tcase_add_test(tc, compose_body_qp);
	tcase_add_test(tc, compose_injection);
	tcase_add_test(tc, random_inputs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(vacation_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
