/*
 * check_mail_disclaim.c - disclaim_apply() (mail/disclaim.c), byte by
 * byte: each MIME shape with its exact expected output, with LF and with
 * CRLF line ends (every case is written with LF and run a second time
 * with each LF made CRLF), quoted-printable and base64 re-encoding, the
 * charset fallback to a new part, and signed or encrypted messages left
 * as they are.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/disclaim.h"

static const char *PLAIN = "-- \nThis mail is confidential.\n";
static const char *HTML = "<p>This mail is confidential.</p>";
static const char *UPLAIN = "Vertraulich: f\xc3\xbcr den Empf\xc3\xa4nger\n";

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

/*
 * Applies (plain, html) to in; want NULL: unchanged, why containing
 * whypart.  Run with LF, then with CRLF (the disclaimer as given: its
 * line ends become the message's).
 */
static void
one(const char *in, const char *plain, const char *html, const char *want,
    const char *whypart, int eolmode)
{
	struct disclaim_text t;
	char why[DISCLAIM_WHY_MAX], *out = NULL, *m, *w = NULL;
	size_t outlen;
	int rc;

	m = eolmode ? crlf(in) : strdup(in);
	if (want != NULL)
		w = eolmode ? crlf(want) : strdup(want);
	memset(&t, 0, sizeof(t));
	t.plain = plain;
	t.plainlen = strlen(plain);
	t.html = html;
	t.htmllen = html != NULL ? strlen(html) : 0;
	rc = disclaim_apply(m, strlen(m), &t, &out, &outlen, why);
	if (w == NULL) {
		ck_assert_msg(rc == 0, "changed a message that must stay "
		    "(%s): got %.*s", eolmode ? "CRLF" : "LF", (int)outlen,
		    out != NULL ? out : "");
		ck_assert_msg(strstr(why, whypart) != NULL, "why '%s' lacks "
		    "'%s'", why, whypart);
	} else {
		ck_assert_msg(rc == 1, "unchanged (%s): %s", eolmode ? "CRLF" :
		    "LF", why);
		ck_assert_msg(outlen == strlen(w) && memcmp(out, w, outlen) ==
		    0, "%s:\n--- got (%zu)\n%.*s\n--- want (%zu)\n%s\n---",
		    eolmode ? "CRLF" : "LF", outlen, (int)outlen, out,
		    strlen(w), w);
	}
	free(out);
	free(m);
	free(w);
}

static void
both(const char *in, const char *plain, const char *html, const char *want)
{
	one(in, plain, html, want, NULL, 0);
	one(in, plain, html, want, NULL, 1);
}

static void
same(const char *in, const char *whypart)
{
	one(in, PLAIN, HTML, NULL, whypart, 0);
	one(in, PLAIN, HTML, NULL, whypart, 1);
}

START_TEST(test_plain_7bit)
{
	both("From: a@example.test\nSubject: hi\n\nHello\n", PLAIN, NULL,
	    "From: a@example.test\nSubject: hi\n\nHello\n\n-- \n"
	    "This mail is confidential.\n");
	/* no line end at the end: one is added */
	both("Subject: hi\n\nHello", PLAIN, NULL,
	    "Subject: hi\n\nHello\n\n-- \nThis mail is confidential.\n");
	/* an empty body gets only the text */
	both("Subject: hi\n\n", PLAIN, NULL,
	    "Subject: hi\n\n-- \nThis mail is confidential.\n");
	/* the disclaimer's own CRLF line ends become the message's */
	both("Subject: hi\n\nHello\n", "a\r\nb\r\n\r\n", NULL,
	    "Subject: hi\n\nHello\n\na\nb\n");
}
END_TEST

START_TEST(test_plain_8bit_utf8)
{
	both("Content-Type: text/plain; charset=\"UTF-8\"\n"
	    "Content-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9f" "e\n",
	    UPLAIN, NULL,
	    "Content-Type: text/plain; charset=\"UTF-8\"\n"
	    "Content-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9f" "e\n\n"
	    "Vertraulich: f\xc3\xbcr den Empf\xc3\xa4nger\n");
}
END_TEST

START_TEST(test_plain_qp)
{
	/* appended encoded; the user's lines stay as they were */
	both("Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "Hall=C3=B6 w=\norld\n", UPLAIN, NULL,
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "Hall=C3=B6 w=\norld\n\n"
	    "Vertraulich: f=C3=BCr den Empf=C3=A4nger\n");
	/* a soft break at the end is no line end: a blank line more */
	both("Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\nabc=\n", "x=y \n",
	    NULL,
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\nabc=\n\n\n"
	    "x=3Dy=20\n");
	/* a long line gets soft breaks */
	both("Content-Transfer-Encoding: quoted-printable\n\nA\n",
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "123456789012345678901234567890", NULL,
	    "Content-Transfer-Encoding: quoted-printable\n\nA\n\n"
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "12345678901234=\n5678901234567890\n");
}
END_TEST

START_TEST(test_plain_base64)
{
	/* decoded, changed, encoded again (the text's CRLF kept) */
	both("Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n\nSGVsbG8NCg==\n", "Bye\n",
	    NULL,
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n\nSGVsbG8NCg0KQnllDQo=\n");
}
END_TEST

START_TEST(test_html)
{
	both("Content-Type: text/html\n\n<html><body><p>Hi</p>\n"
	    "</body></html>\n", PLAIN, HTML,
	    "Content-Type: text/html\n\n<html><body><p>Hi</p>\n"
	    "<p>This mail is confidential.</p>\n</body></html>\n");
	/* </BODY> in the middle of a line: a line end first */
	both("Content-Type: text/html\n\n<p>Hi</p></BODY>\n", PLAIN, HTML,
	    "Content-Type: text/html\n\n<p>Hi</p>\n"
	    "<p>This mail is confidential.</p>\n</BODY>\n");
	/* no </body>: at the end; no HTML given: the plain text in <pre> */
	both("Content-Type: text/html\n\n<p>Hi</p>\n", "a<b & \"c\"\n", NULL,
	    "Content-Type: text/html\n\n<p>Hi</p>\n\n"
	    "<pre>a&lt;b &amp; &quot;c&quot;</pre>\n");
	/* quoted-printable, mid-line: a soft break first */
	both("Content-Type: text/html\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "<p style=3D\"x\">Hi</p></body>\n", PLAIN, "<p a=\"b\">D</p>",
	    "Content-Type: text/html\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "<p style=3D\"x\">Hi</p>=\n<p a=3D\"b\">D</p>\n</body>\n");
	/* base64 */
	both("Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
	    "PGh0bWw+PGJvZHk+SGkNCjwvYm9keT48L2h0bWw+DQo=\n", PLAIN,
	    "<p>D</p>",
	    "Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
	    "PGh0bWw+PGJvZHk+SGkNCjxwPkQ8L3A+DQo8L2JvZHk+PC9odG1sPg0K\n");
}
END_TEST

START_TEST(test_alternative)
{
	both("MIME-Version: 1.0\n"
	    "Content-Type: multipart/alternative; boundary=\"b1\"\n\n"
	    "preamble\n--b1\nContent-Type: text/plain\n\nHello\n"
	    "--b1\nContent-Type: text/html\n\n<html><body>Hello</body>"
	    "</html>\n--b1--\nepilogue\n", PLAIN, HTML,
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/alternative; boundary=\"b1\"\n\n"
	    "preamble\n--b1\nContent-Type: text/plain\n\nHello\n\n-- \n"
	    "This mail is confidential.\n"
	    "--b1\nContent-Type: text/html\n\n<html><body>Hello\n"
	    "<p>This mail is confidential.</p>\n</body></html>\n--b1--\n"
	    "epilogue\n");
	/* the HTML variant inside multipart/related (inline images) */
	both("Content-Type: multipart/alternative; boundary=b1\n\n"
	    "--b1\n\nHi\n\n--b1\n"
	    "Content-Type: multipart/related; boundary=b2\n\n"
	    "--b2\nContent-Type: text/html\n\n<body>Hi</body>\n"
	    "--b2\nContent-Type: image/png\n\nPNG\n--b2--\n--b1--\n",
	    PLAIN, HTML,
	    "Content-Type: multipart/alternative; boundary=b1\n\n"
	    "--b1\n\nHi\n\n-- \nThis mail is confidential.\n\n--b1\n"
	    "Content-Type: multipart/related; boundary=b2\n\n"
	    "--b2\nContent-Type: text/html\n\n<body>Hi\n"
	    "<p>This mail is confidential.</p>\n</body>\n"
	    "--b2\nContent-Type: image/png\n\nPNG\n--b2--\n--b1--\n");
}
END_TEST

START_TEST(test_mixed)
{
	/* the first text part; the attachment untouched */
	both("Content-Type: multipart/mixed; boundary=\"m\"\n\n"
	    "--m\nContent-Type: text/plain; charset=us-ascii\n\nSee file.\n"
	    "--m\nContent-Type: text/plain; name=a.txt\n"
	    "Content-Disposition: attachment; filename=a.txt\n\nfile\n"
	    "--m--\n", PLAIN, HTML,
	    "Content-Type: multipart/mixed; boundary=\"m\"\n\n"
	    "--m\nContent-Type: text/plain; charset=us-ascii\n\nSee file.\n"
	    "\n-- \nThis mail is confidential.\n"
	    "--m\nContent-Type: text/plain; name=a.txt\n"
	    "Content-Disposition: attachment; filename=a.txt\n\nfile\n"
	    "--m--\n");
	/* recursing into an alternative */
	both("Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: multipart/alternative; boundary=a\n\n"
	    "--a\n\nHi\n--a\nContent-Type: text/html\n\n<b>Hi</b>\n--a--\n"
	    "--m\nContent-Type: application/pdf\n\nPDF\n--m--\n",
	    PLAIN, HTML,
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: multipart/alternative; boundary=a\n\n"
	    "--a\n\nHi\n\n-- \nThis mail is confidential.\n"
	    "--a\nContent-Type: text/html\n\n<b>Hi</b>\n\n"
	    "<p>This mail is confidential.</p>\n--a--\n"
	    "--m\nContent-Type: application/pdf\n\nPDF\n--m--\n");
	/* only attachments: a new part before the close delimiter */
	both("Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: image/png\n\nPNG\n--m--\n", PLAIN, HTML,
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: image/png\n\nPNG\n"
	    "--m\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 7bit\nContent-Disposition: inline\n\n"
	    "-- \nThis mail is confidential.\n--m--\n");
}
END_TEST

START_TEST(test_charset_new_part)
{
	/* Latin-1 text cannot take UTF-8 bytes: a new part, QP */
	both("Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: text/plain; charset=iso-8859-1\n"
	    "Content-Transfer-Encoding: 8bit\n\nGr\xfc\xdf" "e\n--m--\n",
	    UPLAIN, NULL,
	    "Content-Type: multipart/mixed; boundary=m\n\n"
	    "--m\nContent-Type: text/plain; charset=iso-8859-1\n"
	    "Content-Transfer-Encoding: 8bit\n\nGr\xfc\xdf" "e\n"
	    "--m\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "Content-Disposition: inline\n\n"
	    "Vertraulich: f=C3=BCr den Empf=C3=A4nger\n--m--\n");
	/* an ASCII disclaimer goes into any charset */
	both("Content-Type: text/plain; charset=iso-8859-1\n\nA\n", "B", NULL,
	    "Content-Type: text/plain; charset=iso-8859-1\n\nA\n\nB\n");
}
END_TEST

/* A single part that cannot take it: the message becomes mixed. */
START_TEST(test_wrap)
{
	const char *in = "From: a@example.test\n"
	    "Content-Type: text/plain;\n charset=iso-8859-1\n"
	    "MIME-Version: 1.0\nSubject: x\n\nGr\xfc\xdf" "e\n";
	struct disclaim_text t;
	char *out, *p, want[2048], b[64];
	size_t outlen;

	memset(&t, 0, sizeof(t));
	t.plain = UPLAIN;
	t.plainlen = strlen(UPLAIN);
	ck_assert_int_eq(disclaim_apply(in, strlen(in), &t, &out, &outlen,
	    NULL), 1);
	p = strstr(out, "vellum-disclaimer-");
	ck_assert_ptr_nonnull(p);
	snprintf(b, sizeof(b), "%.34s", p);
	snprintf(want, sizeof(want), "From: a@example.test\n"
	    "MIME-Version: 1.0\nSubject: x\n"
	    "Content-Type: multipart/mixed; boundary=\"%s\"\n\n"
	    "--%s\nContent-Type: text/plain;\n charset=iso-8859-1\n\n"
	    "Gr\xfc\xdf" "e\n\n--%s\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "Content-Disposition: inline\n\n"
	    "Vertraulich: f=C3=BCr den Empf=C3=A4nger\n--%s--\n", b, b, b, b);
	ck_assert_msg(outlen == strlen(want) && memcmp(out, want, outlen) == 0,
	    "got\n%.*s\nwant\n%s", (int)outlen, out, want);
	free(out);
	/* a PDF alone: wrapped, MIME-Version added */
	in = "Subject: y\nContent-Type: application/pdf\n"
	    "Content-Transfer-Encoding: base64\n\nUERG\n";
	ck_assert_int_eq(disclaim_apply(in, strlen(in), &t, &out, &outlen,
	    NULL), 1);
	p = strstr(out, "vellum-disclaimer-");
	ck_assert_ptr_nonnull(p);
	snprintf(b, sizeof(b), "%.34s", p);
	snprintf(want, sizeof(want), "Subject: y\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"%s\"\n\n"
	    "--%s\nContent-Type: application/pdf\n"
	    "Content-Transfer-Encoding: base64\n\nUERG\n\n--%s\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "Content-Disposition: inline\n\n"
	    "Vertraulich: f=C3=BCr den Empf=C3=A4nger\n--%s--\n", b, b, b, b);
	ck_assert_msg(outlen == strlen(want) && memcmp(out, want, outlen) == 0,
	    "got\n%.*s\nwant\n%s", (int)outlen, out, want);
	free(out);
}
END_TEST

START_TEST(test_unchanged)
{
	same("Content-Type: multipart/signed; boundary=s;\n"
	    " protocol=\"application/pgp-signature\"\n\n--s\n\nHi\n--s\n"
	    "Content-Type: application/pgp-signature\n\nSIG\n--s--\n",
	    "multipart/signed");
	same("Content-Type: multipart/encrypted; boundary=e\n\n--e\n\nX\n"
	    "--e--\n", "multipart/encrypted");
	same("Content-Type: application/pkcs7-mime; smime-type=enveloped-data"
	    "\nContent-Transfer-Encoding: base64\n\nMIAG\n",
	    "application/pkcs7-mime");
	same("Content-Type: application/x-pkcs7-mime\n\nMIAG\n",
	    "application/x-pkcs7-mime");
	same("Subject: only a header\n", "no body");
	same("Content-Type: multipart/mixed; boundary=m\n\n--m\n\nHi\n",
	    "closing delimiter");
	same("Content-Type: multipart/mixed\n\nHi\n", "without a boundary");
	same("Content-Type: message/partial; id=x\n\nHi\n", "message/partial");
}
END_TEST

static Suite *
disclaim_suite(void)
{
	Suite *s = suite_create("mail_disclaim");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_plain_7bit);
	tcase_add_test(tc, test_plain_8bit_utf8);
	tcase_add_test(tc, test_plain_qp);
	tcase_add_test(tc, test_plain_base64);
	tcase_add_test(tc, test_html);
	tcase_add_test(tc, test_alternative);
	tcase_add_test(tc, test_mixed);
	tcase_add_test(tc, test_charset_new_part);
	tcase_add_test(tc, test_wrap);
	tcase_add_test(tc, test_unchanged);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(disclaim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
