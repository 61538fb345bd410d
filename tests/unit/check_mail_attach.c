/*
 * check_mail_attach.c - mail_attach_walk() and friends (mail/attach.c).
 *
 * The messages are written with LF line ends; the loop tests run each
 * with LF (_i == 0) and again with CRLF (_i == 1), since both arrive.
 * Base64 bodies are encoded here from known bytes, so the decoded size
 * the walk reports is checked against the length that was encoded.
 */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/attach.h"
#include "mail/mime.h"

#define MAXATT	64

struct sb {
	char	*p;
	size_t	 len, cap;
};

static Suite	*attach_suite(void);
static void	 sb_add(struct sb *, const void *, size_t);
static void	 sb_addf(struct sb *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 b64_lines(struct sb *, const uint8_t *, size_t, size_t);
static size_t	 walk(const char *, int, struct mail_attachment *,
		    char **);

static struct mail_attachment att[MAXATT];

static void
sb_add(struct sb *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_addf(struct sb *b, const char *fmt, ...)
{
	char *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	sb_add(b, s, (size_t)n);
	free(s);
}

/* base64 of p[n] in lines of width characters (LF line ends). */
static void
b64_lines(struct sb *b, const uint8_t *p, size_t n, size_t width)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, col = 0, k;
	char q[4];
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = al[v >> 18 & 63];
		q[1] = al[v >> 12 & 63];
		q[2] = i + 1 < n ? al[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? al[v & 63] : '=';
		for (k = 0; k < 4; k++) {
			sb_add(b, &q[k], 1);
			if (++col == width) {
				sb_add(b, "\n", 1);
				col = 0;
			}
		}
	}
	if (col != 0)
		sb_add(b, "\n", 1);
}

/*
 * Runs mail_attachments() on text (LF), converted to CRLF when crlf.
 * Returns the count; *msg_r (when not NULL) gets the message walked.
 */
static size_t
walk(const char *text, int crlf, struct mail_attachment *out, char **msg_r)
{
	struct sb m = { 0 };
	size_t i, n;

	for (i = 0; text[i] != '\0'; i++) {
		if (crlf && text[i] == '\n')
			sb_add(&m, "\r", 1);
		sb_add(&m, &text[i], 1);
	}
	if (m.p == NULL)
		sb_add(&m, "", 0);
	memset(out, 0xa5, sizeof(*out) * MAXATT);
	ck_assert_int_eq(mail_attachments((const uint8_t *)m.p, m.len, out,
	    MAXATT, &n), 1);
	for (i = 0; i < n; i++) {
		ck_assert_uint_le(out[i].off + out[i].len, m.len);
		ck_assert_ptr_nonnull(memchr(out[i].filename, '\0',
		    sizeof(out[i].filename)));
	}
	if (msg_r != NULL)
		*msg_r = m.p;
	else
		free(m.p);
	return n;
}

START_TEST(test_no_attachments)
{
	static const char *msgs[] = {
		"Subject: plain\n\nHello\n",
		"",
		"Subject: only a header\n",
		"MIME-Version: 1.0\nContent-Type: multipart/alternative; "
		    "boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n"
		    "--b\nContent-Type: text/html\n\n<p>hi</p>\n--b--\n",
		/* a nameless inline picture of an HTML mail */
		"Content-Type: multipart/related; boundary=r\n\n--r\n"
		    "Content-Type: text/html\n\n<img src=cid:x>\n--r\n"
		    "Content-Type: image/png\nContent-Disposition: inline\n"
		    "Content-ID: <x>\nContent-Transfer-Encoding: base64\n\n"
		    "iVBORw0KGgo=\n--r--\n",
		/* a delivery report: message/delivery-status is text */
		"Content-Type: multipart/report; report-type=delivery-status;"
		    " boundary=d\n\n--d\n\nbounce\n--d\nContent-Type: "
		    "message/delivery-status\n\nReporting-MTA: dns; x\n--d--\n",
		/* a boundary that never occurs shows nothing */
		"Content-Type: multipart/mixed; boundary=zz\n\n--b\n"
		    "Content-Type: application/pdf\n\n%PDF\n",
	};
	size_t i;

	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		ck_assert_msg(walk(msgs[i], _i, att, NULL) == 0,
		    "message %zu: found %s", i, att[0].type);
}
END_TEST

START_TEST(test_base64_sizes)
{
	uint8_t data[3000];
	struct sb m = { 0 };
	size_t i, n, lens[] = { 0, 1, 2, 3, 4, 5, 56, 57, 58, 59, 1000,
	    2999, 3000 };
	size_t widths[] = { 76, 4, 7, 1000 };
	unsigned j, w;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
		for (w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
			m.len = 0;
			sb_addf(&m, "Content-Type: multipart/mixed; "
			    "boundary=\"=_b 1\"\n\n--=_b 1\nContent-Type: "
			    "text/plain\n\nsee attached\n--=_b 1\n"
			    "Content-Type: application/octet-stream\n"
			    "Content-Transfer-Encoding: BASE64\n\n");
			b64_lines(&m, data, lens[j], widths[w]);
			/* blanks and a stray line end do not count */
			sb_addf(&m, " \t\n--=_b 1--\nepilogue\n");
			n = walk(m.p, _i, att, NULL);
			ck_assert_uint_eq(n, 1);
			ck_assert_msg(att[0].size == lens[j], "%zu bytes in "
			    "lines of %zu: size %llu", lens[j], widths[w],
			    (unsigned long long)att[0].size);
			ck_assert_int_eq(att[0].cte, MAIL_CTE_BASE64);
			ck_assert_str_eq(att[0].type,
			    "application/octet-stream");
			ck_assert_uint_eq(att[0].depth, 1);
		}
	}
	free(m.p);
}
END_TEST

START_TEST(test_qp_and_identity_sizes)
{
	const char *msg =
	    "Content-Type: multipart/mixed; boundary=q\n\n"
	    "--q\nContent-Type: text/csv; name=a.csv\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "abc=\ndef=3D=3d  \nx=\n--q\n"
	    "Content-Type: text/plain\nContent-Disposition: attachment\n\n"
	    "hello\nworld\n\n--q\n"
	    "Content-Type: application/x-thing\n"
	    "Content-Transfer-Encoding: x-uuencode\n\nbegin 644\n--q--\n";
	size_t n = walk(msg, _i, att, NULL);

	ck_assert_uint_eq(n, 3);
	/* "abcdef==" LF-or-CRLF "x": the soft breaks and blanks go */
	ck_assert_uint_eq(att[0].size, 8 + (_i ? 2 : 1) + 1);
	ck_assert_str_eq(att[0].filename, "a.csv");
	ck_assert_int_eq(att[0].cte, MAIL_CTE_QP);
	/* the line end before the delimiter is the delimiter's */
	ck_assert_uint_eq(att[1].size, 10 + 2 * (_i ? 2 : 1));
	ck_assert(att[1].flags & MAIL_ATTACH_DISPOSITION);
	ck_assert_str_eq(att[1].filename, "");
	ck_assert_uint_eq(att[2].size, 9);
	ck_assert_int_eq(att[2].cte, MAIL_CTE_UNKNOWN);
}
END_TEST

START_TEST(test_filenames)
{
	const char *msg =
	    "Content-Type: multipart/mixed; boundary=f\n\n"
	    "--f\nContent-Type: application/pdf\n"
	    "Content-Disposition: attachment; filename=\"a b;c.pdf\"\n\n1\n"
	    "--f\nContent-Type: application/msword; name=x.doc\n\n2\n"
	    "--f\nContent-Type: text/plain\nContent-Disposition: attachment;"
	    "\n filename*=UTF-8''%C3%A9t%C3%A9%20.txt\n\n3\n"
	    "--f\nContent-Type: text/plain\nContent-Disposition: attachment;"
	    " filename*0*=utf-8'en'%E2%82%AC;\n\tfilename*1=\".txt\"\n\n4\n"
	    "--f\nContent-Type: text/plain; name*=iso-8859-1''caf%E9.txt\n\n5\n"
	    "--f\nContent-Type: image/jpeg\nContent-Disposition: attachment;"
	    " filename=\"=?UTF-8?B?w6l0w6kuanBn?=\"\n\n6\n"
	    "--f\nContent-Type: text/plain; name=\"bad\x01\xff.txt\"\n\n7\n"
	    "--f\nContent-Type: application/zip; name=ignored.zip\n"
	    "Content-Disposition: attachment; filename=wins.zip;"
	    " filename*=us-ascii''wins%2A.zip\n\n8\n"
	    "--f\nContent-Type: text/plain; name*=x-unknown-cs''k%E9y\n\n9\n"
	    "--f--\n";
	size_t n = walk(msg, _i, att, NULL);

	ck_assert_uint_eq(n, 9);
	ck_assert_str_eq(att[0].filename, "a b;c.pdf");
	ck_assert_str_eq(att[1].filename, "x.doc");
	ck_assert_str_eq(att[2].filename, "\xc3\xa9t\xc3\xa9 .txt");
	ck_assert_str_eq(att[3].filename, "\xe2\x82\xac.txt");
	ck_assert_str_eq(att[4].filename, "caf\xc3\xa9.txt");
	ck_assert_str_eq(att[5].filename, "\xc3\xa9t\xc3\xa9.jpg");
	ck_assert_str_eq(att[6].filename, "bad??.txt");
	ck_assert_str_eq(att[7].filename, "wins*.zip");
	/* an unknown charset: the bytes, made valid UTF-8 */
	ck_assert_str_eq(att[8].filename, "k?y");
}
END_TEST

START_TEST(test_long_filename_cut)
{
	struct sb m = { 0 };
	size_t i, n;

	sb_addf(&m, "Content-Type: application/pdf\nContent-Disposition: "
	    "attachment; filename=\"");
	for (i = 0; i < 300; i++)
		sb_add(&m, "\xc3\xa9", 2);
	sb_addf(&m, ".pdf\"\n\nx\n");
	n = walk(m.p, _i, att, NULL);
	ck_assert_uint_eq(n, 1);
	/* cut at a character boundary */
	ck_assert_uint_eq(strlen(att[0].filename), MAIL_ATTACH_NAME_MAX - 2);
	ck_assert_uint_eq(att[0].depth, 0);
	free(m.p);
}
END_TEST

START_TEST(test_inline_images)
{
	const char *msg =
	    "Content-Type: multipart/related; boundary=r\n\n"
	    "--r\nContent-Type: text/html\n\n<img src=cid:a><img src=cid:b>\n"
	    "--r\nContent-Type: image/png\nContent-ID: <a>\n"
	    "Content-Disposition: inline\n\nPNGDATA\n"
	    "--r\nContent-Type: image/png\nContent-ID: <b>\n"
	    "Content-Disposition: inline; filename=IMG_0001.png\n\nPNG2\n"
	    "--r\nContent-Type: image/gif\nContent-ID: <c>\n\nGIF89a\n"
	    "--r--\n";
	size_t n = walk(msg, _i, att, NULL);

	/* nameless inline: no; inline with a name: yes; no disposition:
	   a non-text leaf, yes */
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(att[0].filename, "IMG_0001.png");
	ck_assert(att[0].flags & MAIL_ATTACH_INLINE);
	ck_assert_uint_eq(att[0].size, 4);
	ck_assert_str_eq(att[1].type, "image/gif");
	ck_assert_uint_eq(att[1].size, 6);
}
END_TEST

START_TEST(test_nested_and_rfc822)
{
	const char *msg =
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
	    "preamble\n"
	    "--outer\n"
	    "Content-Type: multipart/alternative; boundary=\"inner\"\n\n"
	    "--inner\nContent-Type: text/plain\n\nplain\n"
	    "--inner\nContent-Type: text/html\n\n<b>html</b>\n"
	    "--inner--\n"
	    "--outer\n"
	    "Content-Type: message/rfc822\n"
	    "Content-Disposition: attachment; filename=fwd.eml\n\n"
	    "Subject: forwarded\n"
	    "Content-Type: multipart/mixed; boundary=fw\n\n"
	    "--fw\nContent-Type: text/plain\n\nbody\n"
	    "--fw\nContent-Type: application/pdf; name=in.pdf\n"
	    "Content-Transfer-Encoding: base64\n\nQUJDRA==\n"
	    "--fw--\n"
	    "--outer\n"
	    "Content-Type: message/rfc822\n"
	    "Content-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5\n"
	    "--outer\n"
	    "Content-Type: multipart/digest; boundary=dg\n\n"
	    "--dg\n\nContent-Type: application/zip\n\nPK\n"
	    "--dg--\n"
	    "--outer\n"
	    "Content-Type: multipart/mixed\n\nno boundary\n"
	    "--outer--\n";
	size_t n = walk(msg, _i, att, NULL);

	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(att[0].filename, "in.pdf");
	ck_assert_uint_eq(att[0].size, 4);
	ck_assert_uint_eq(att[0].depth, 3);
	/* encoded message: opaque, its decoded size */
	ck_assert_str_eq(att[1].type, "message/rfc822");
	ck_assert(att[1].flags & MAIL_ATTACH_OPAQUE);
	ck_assert_uint_eq(att[1].size, 15);
	/* a digest's parts default to message/rfc822 */
	ck_assert_str_eq(att[2].type, "application/zip");
	ck_assert_uint_eq(att[2].depth, 3);
	ck_assert_uint_eq(att[2].size, 2);
	ck_assert_str_eq(att[3].type, "multipart/mixed");
	ck_assert(att[3].flags & MAIL_ATTACH_OPAQUE);
	ck_assert_uint_eq(att[3].size, 11);
}
END_TEST

START_TEST(test_single_part_and_largest)
{
	struct mail_attachment a;
	const char *pdf = "Content-Type: application/pdf\n"
	    "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n";
	const char *three =
	    "Content-Type: multipart/mixed; boundary=x\n\n"
	    "--x\nContent-Type: image/png; name=a\n\n12345\n"
	    "--x\nContent-Type: image/png; name=b\n\n1234567\n"
	    "--x\nContent-Type: image/png; name=c\n\n1234567\n"
	    "--x--\n";
	size_t n;

	n = walk(pdf, _i, att, NULL);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(att[0].depth, 0);
	ck_assert_uint_eq(att[0].size, 9);

	ck_assert_int_eq(mail_attachment_largest((const uint8_t *)three,
	    strlen(three), &a), 1);
	ck_assert_str_eq(a.filename, "b");
	ck_assert_uint_eq(a.size, 7);
	ck_assert_int_eq(mail_attachments((const uint8_t *)three,
	    strlen(three), att, 2, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(att[1].filename, "b");
	ck_assert_int_eq(mail_attachments((const uint8_t *)three,
	    strlen(three), NULL, 0, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(mail_attach_walk((const uint8_t *)three,
	    strlen(three), NULL, NULL), 3);
	ck_assert_int_eq(mail_attachment_largest((const uint8_t *)"a: b\n\n"
	    "text\n", 11, &a), 0);
	ck_assert_uint_eq(a.size, 0);
}
END_TEST

/* Every prefix of a message walks; a part cut short says so. */
START_TEST(test_truncated)
{
	uint8_t data[200];
	struct sb m = { 0 };
	struct mail_attachment *big = calloc(MAXATT, sizeof(*big));
	char *msg;
	size_t i, j, n, len, cut;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	sb_addf(&m, "Content-Type: multipart/mixed; boundary=t\n\n"
	    "--t\nContent-Type: text/plain\n\nhi\n--t\n"
	    "Content-Type: message/rfc822\n\n"
	    "Content-Type: multipart/mixed; boundary=u\n\n--u\n"
	    "Content-Type: application/pdf; name=p.pdf\n"
	    "Content-Transfer-Encoding: base64\n\n");
	b64_lines(&m, data, sizeof(data), 76);
	sb_addf(&m, "--u--\n--t--\n");
	ck_assert_uint_eq(walk(m.p, _i, big, &msg), 1);
	ck_assert_uint_eq(big[0].size, sizeof(data));
	ck_assert(!(big[0].flags & MAIL_ATTACH_UNTERMINATED));
	len = strlen(msg);
	for (cut = 0; cut <= len; cut++) {
		ck_assert_int_eq(mail_attachments((const uint8_t *)msg, cut,
		    att, MAXATT, &n), 1);
		ck_assert_uint_le(n, 2);
		for (j = 0; j < n; j++) {
			ck_assert_uint_le(att[j].off + att[j].len, cut);
			ck_assert_uint_le(att[j].size, sizeof(data));
		}
	}
	/* cut inside the base64: what arrived, flagged */
	cut = big[0].off + 100;
	ck_assert_int_eq(mail_attachments((const uint8_t *)msg, cut, att,
	    MAXATT, &n), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert(att[0].flags & MAIL_ATTACH_UNTERMINATED);
	ck_assert_str_eq(att[0].filename, "p.pdf");
	ck_assert_uint_lt(att[0].size, sizeof(data));
	ck_assert_uint_gt(att[0].size, 60);
	free(msg);
	free(m.p);
	free(big);
}
END_TEST

/*
 * 1000 nested multiparts (or messages): the walk stops at MIME_DEPTH_MAX
 * and the rest counts whole as one opaque attachment, so nesting cannot
 * hide an attachment from the size limit.
 */
START_TEST(test_deep_nesting)
{
	struct sb m = { 0 };
	size_t i, n;
	int rfc822 = _i >= 2, crlf = _i & 1;

	/* (no boundary is a prefix of another: "--b0001x" is not "--b0") */

	for (i = 0; i < 1000; i++) {
		if (rfc822)
			sb_addf(&m, "Content-Type: message/rfc822\n\n");
		else
			sb_addf(&m, "Content-Type: multipart/mixed; "
			    "boundary=b%04zux\n\n--b%04zux\n", i, i);
	}
	sb_addf(&m, "Content-Type: application/pdf\n\n%%PDF-1.4\n");
	for (i = 1000; !rfc822 && i-- > 0;)
		sb_addf(&m, "--b%04zux--\n", i);
	n = walk(m.p, crlf, att, NULL);
	ck_assert_uint_eq(n, 1);
	ck_assert(att[0].flags & MAIL_ATTACH_OPAQUE);
	ck_assert_uint_eq(att[0].depth, MIME_DEPTH_MAX);
	ck_assert_str_eq(att[0].type, rfc822 ? "message/rfc822" :
	    "multipart/mixed");
	ck_assert_uint_gt(att[0].size, 1000);
	free(m.p);
}
END_TEST

/* 5000 sibling attachments: all reported, the array takes the first. */
START_TEST(test_many_parts)
{
	struct sb m = { 0 };
	size_t i, n;

	sb_addf(&m, "Content-Type: multipart/mixed; boundary=m\n\n");
	for (i = 0; i < 5000; i++)
		sb_addf(&m, "--m\nContent-Type: image/png; name=%zu.png\n\n"
		    "%zu\n", i, i);
	sb_addf(&m, "--m--\n");
	ck_assert_uint_eq(mail_attach_walk((const uint8_t *)m.p, m.len,
	    NULL, NULL), 5000);
	ck_assert_int_eq(mail_attachments((const uint8_t *)m.p, m.len, att,
	    MAXATT, &n), 0);
	ck_assert_uint_eq(n, 5000);
	ck_assert_str_eq(att[MAXATT - 1].filename, "63.png");
	free(m.p);
}
END_TEST

static Suite *
attach_suite(void)
{
	Suite *s = suite_create("mail_attach");
	TCase *tc;

	tc = tcase_create("attach");
	tcase_add_loop_test(tc, test_no_attachments, 0, 2);
	tcase_add_loop_test(tc, test_base64_sizes, 0, 2);
	tcase_add_loop_test(tc, test_qp_and_identity_sizes, 0, 2);
	tcase_add_loop_test(tc, test_filenames, 0, 2);
	tcase_add_loop_test(tc, test_long_filename_cut, 0, 2);
	tcase_add_loop_test(tc, test_inline_images, 0, 2);
	tcase_add_loop_test(tc, test_nested_and_rfc822, 0, 2);
	tcase_add_loop_test(tc, test_single_part_and_largest, 0, 2);
	tcase_add_loop_test(tc, test_truncated, 0, 2);
	tcase_add_loop_test(tc, test_deep_nesting, 0, 4);
	tcase_add_test(tc, test_many_parts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(attach_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
