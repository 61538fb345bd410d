/*
 * check_mail_decode.c - transfer-encoding decoding (mail/decode.c).
 *
 * Vectors for base64 and quoted-printable (soft breaks, "=XX" in either
 * case, blanks before a line end, stray "=", CRLF and bare LF, a lone
 * CR); every vector decoded whole, cut in two at every offset, and one
 * byte at a time gives the same bytes ("trickle"); the output never
 * passes MAIL_DECODE_OUT(n), nor the input's length without
 * MAIL_DECODE_CRLF; the Content-Transfer-Encoding names.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/decode.h"

static Suite	*decode_suite(void);

static const struct {
	enum mail_cte	 cte;
	int		 flags;
	const char	*in;
	size_t		 inlen;		/* 0: strlen(in) */
	const char	*out;
	size_t		 outlen;	/* 0: strlen(out) */
} vec[] = {
#define C	MAIL_DECODE_CRLF
	{ MAIL_CTE_BASE64, C, "aGVsbG8=", 0, "hello", 0 },
	{ MAIL_CTE_BASE64, C, "aGVs\r\nbG8g\nd29y bGQ=\r\n", 0, "hello world",
	    0 },
	{ MAIL_CTE_BASE64, C, "AAEC/w==", 0, "\x00\x01\x02\xff", 4 },
	{ MAIL_CTE_BASE64, C, "QUJD*RA", 0, "ABCD", 0 },	/* junk skipped,
							   bits dropped */
	{ MAIL_CTE_BASE64, C, "", 0, "", 0 },
	{ MAIL_CTE_QP, C, "caf=C3=a9", 0, "caf\xc3\xa9", 0 },
	{ MAIL_CTE_QP, C, "soft=\nbreak", 0, "softbreak", 0 },
	{ MAIL_CTE_QP, C, "soft=  \t\r\nbreak", 0, "softbreak", 0 },
	{ MAIL_CTE_QP, C, "a  \nb\t\r\nc", 0, "a\r\nb\r\nc", 0 },
	{ MAIL_CTE_QP, C, "x = y", 0, "x = y", 0 },		/* stray */
	{ MAIL_CTE_QP, C, "x=G1", 0, "x=G1", 0 },
	{ MAIL_CTE_QP, C, "x=4", 0, "x=4", 0 },			/* at the end */
	{ MAIL_CTE_QP, C, "x=4z", 0, "x=4z", 0 },
	{ MAIL_CTE_QP, C, "end=", 0, "end", 0 },
	{ MAIL_CTE_QP, C, "end  ", 0, "end", 0 },
	{ MAIL_CTE_QP, C, "lone\rcr", 0, "lone\rcr", 0 },
	{ MAIL_CTE_QP, C, "a \rb", 0, "a \rb", 0 },
	{ MAIL_CTE_QP, C, "a= \rb", 0, "a= \rb", 0 },
	{ MAIL_CTE_QP, C, "=00=0D=0A", 0, "\x00\r\n", 3 },
	{ MAIL_CTE_QP, C, "l1\nl2\n\n", 0, "l1\r\nl2\r\n\r\n", 0 },
	{ MAIL_CTE_QP, C, "==3D", 0, "==", 0 },
	{ MAIL_CTE_IDENTITY, C, "as\nis=41", 0, "as\nis=41", 0 },
	/* without MAIL_DECODE_CRLF a line end stays as it came */
	{ MAIL_CTE_QP, 0, "a  \nb\t\r\nc", 0, "a\nb\r\nc", 0 },
	{ MAIL_CTE_QP, 0, "l1\nl2=\n\n", 0, "l1\nl2\n", 0 },
#undef C
};

/* Decodes in[0..n) cut at the offsets cuts[0..ncuts) (ascending). */
static char *
decode_cut(enum mail_cte cte, int flags, const char *in, size_t n,
    const size_t *cuts, size_t ncuts, size_t *len_r)
{
	struct mail_decoder d;
	size_t cap = MAIL_DECODE_OUT(n) + 16, o = 0, at = 0, k, piece, w;
	char *out = malloc(cap), *canary;

	ck_assert_ptr_nonnull(out);
	mail_decoder_init(&d, cte, flags);
	for (k = 0; k <= ncuts; k++) {
		piece = (cuts != NULL && k < ncuts ? cuts[k] : n) - at;
		canary = out + o + MAIL_DECODE_OUT(piece);
		memset(out + o, 'Z', cap - o);
		w = mail_decode(&d, in + at, piece, out + o);
		ck_assert_msg(w <= MAIL_DECODE_OUT(piece), "wrote %zu for %zu",
		    w, piece);
		if (canary < out + cap)
			ck_assert_int_eq(*canary, 'Z');
		o += w;
		at += piece;
	}
	o += mail_decode_end(&d, out + o);
	ck_assert_uint_le(o, cap);
	*len_r = o;
	return out;
}

static void
expect(size_t i, const char *got, size_t len, const char *how)
{
	size_t want = vec[i].outlen ? vec[i].outlen : strlen(vec[i].out);

	ck_assert_msg(len == want && memcmp(got, vec[i].out, want) == 0,
	    "vector %zu (%s): got %zu bytes \"%.*s\", want \"%s\"", i, how,
	    len, (int)len, got, vec[i].out);
}

START_TEST(vectors_whole)
{
	size_t i, n, len;
	char *out;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		n = vec[i].inlen ? vec[i].inlen : strlen(vec[i].in);
		out = decode_cut(vec[i].cte, vec[i].flags, vec[i].in, n,
		    NULL, 0, &len);
		expect(i, out, len, "whole");
		free(out);
	}
}
END_TEST

/* Cut in two at every offset, and one byte at a time. */
START_TEST(vectors_trickle)
{
	size_t i, n, c, len, *cuts;
	char *out;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		n = vec[i].inlen ? vec[i].inlen : strlen(vec[i].in);
		for (c = 0; c <= n; c++) {
			out = decode_cut(vec[i].cte, vec[i].flags,
			    vec[i].in, n, &c, 1, &len);
			expect(i, out, len, "two pieces");
			free(out);
		}
		cuts = calloc(n + 1, sizeof(*cuts));
		for (c = 0; c < n; c++)
			cuts[c] = c;
		out = decode_cut(vec[i].cte, vec[i].flags, vec[i].in, n,
		    cuts, n, &len);
		expect(i, out, len, "byte by byte");
		free(out);
		free(cuts);
	}
}
END_TEST

/*
 * Generated input (every byte value, runs of blanks longer than the
 * decoder holds, "=" before everything): byte-by-byte equals whole, and
 * the bound holds.
 */
START_TEST(generated_trickle)
{
	static const char alpha[] = "= \t\r\nA9fz=";
	enum mail_cte ctes[] = { MAIL_CTE_QP, MAIL_CTE_QP, MAIL_CTE_BASE64 };
	int flags[] = { MAIL_DECODE_CRLF, 0, 0 };
	size_t n = 4000, i, k, l1, l2, *cuts;
	unsigned seed = 12345;
	char *in = malloc(n), *a, *b;

	for (k = 0; k < 3; k++) {
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			if (i % 700 < 200)
				in[i] = ' ';	/* a long run of blanks */
			else if ((seed >> 16) % 3 == 0)
				in[i] = (char)(seed >> 8);
			else
				in[i] = alpha[(seed >> 16) % (sizeof(alpha) -
				    1)];
		}
		a = decode_cut(ctes[k], flags[k], in, n, NULL, 0, &l1);
		if (flags[k] == 0)
			ck_assert_msg(l1 <= n, "%zu bytes grew to %zu", n, l1);
		cuts = calloc(n, sizeof(*cuts));
		for (i = 0; i < n; i++)
			cuts[i] = i;
		b = decode_cut(ctes[k], flags[k], in, n, cuts, n, &l2);
		ck_assert_uint_eq(l1, l2);
		ck_assert_int_eq(memcmp(a, b, l1), 0);
		free(a);
		free(b);
		free(cuts);
	}
	free(in);
}
END_TEST

START_TEST(cte_names)
{
	ck_assert_int_eq(mail_cte_parse("base64", 6), MAIL_CTE_BASE64);
	ck_assert_int_eq(mail_cte_parse(" BASE64\r\n", 9), MAIL_CTE_BASE64);
	ck_assert_int_eq(mail_cte_parse("(c) base64 (x)", 14),
	    MAIL_CTE_BASE64);
	ck_assert_int_eq(mail_cte_parse("Quoted-Printable", 16),
	    MAIL_CTE_QP);
	ck_assert_int_eq(mail_cte_parse("7bit", 4), MAIL_CTE_IDENTITY);
	ck_assert_int_eq(mail_cte_parse("8BIT", 4), MAIL_CTE_IDENTITY);
	ck_assert_int_eq(mail_cte_parse("binary;x", 8), MAIL_CTE_IDENTITY);
	ck_assert_int_eq(mail_cte_parse("x-uuencode", 10),
	    MAIL_CTE_UNKNOWN);
	ck_assert_int_eq(mail_cte_parse("", 0), MAIL_CTE_UNKNOWN);
	ck_assert_int_eq(mail_cte_parse("  ", 2), MAIL_CTE_UNKNOWN);
	ck_assert_int_eq(mail_cte_parse("base6", 5), MAIL_CTE_UNKNOWN);
	ck_assert_int_eq(mail_cte_parse("base644", 7), MAIL_CTE_UNKNOWN);
	ck_assert_int_eq(mail_cte_parse("(unclosed base64", 16),
	    MAIL_CTE_UNKNOWN);
}
END_TEST

static Suite *
decode_suite(void)
{
	Suite *s = suite_create("mail_decode");
	TCase *tc = tcase_create("decode");

	tcase_add_test(tc, vectors_whole);
	tcase_add_test(tc, vectors_trickle);
	tcase_add_test(tc, generated_trickle);
	tcase_add_test(tc, cte_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(decode_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
