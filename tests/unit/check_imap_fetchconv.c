/*
 * check_imap_fetchconv.c - the FETCH byte converter (imapd/fetchconv.c):
 * bare LF out as CRLF, CRLF and lone CR kept, partial windows counted in
 * converted bytes, and trickle tests: every input cut into pieces of
 * every size gives the same bytes as a reference conversion of the whole.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/fetchconv.h"

#define EXPECT(cond, ...) do {			\
	if (!(cond))				\
		ck_abort_msg(__VA_ARGS__);	\
} while (0)

/* The whole conversion, the obvious way. */
static size_t
reference(const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = in[i];
	}
	return o;
}

/* Converts in[0..n) fed in pieces of size step, window (origin, count). */
static void
convert(const char *in, size_t n, size_t step, uint64_t origin,
    uint64_t count, struct imap_buf *out, uint64_t *len_r)
{
	struct imap_fetchconv c;
	char conv[1024];
	size_t pos = 0, took, piece;

	imap_fetchconv_init(&c, reference(in, n, conv), origin, count, len_r);
	while (pos < n && c.left > 0) {
		piece = n - pos < step ? n - pos : step;
		took = imap_fetchconv_run(&c, in + pos, piece, out);
		EXPECT(took == piece || c.left == 0, "took %zu of %zu with "
		    "%llu left", took, piece, (unsigned long long)c.left);
		pos += took;
	}
	EXPECT(c.left == 0, "%llu bytes never given",
	    (unsigned long long)c.left);
}

static void
check_all(const char *in, size_t n)
{
	char want[1024];
	struct imap_buf out;
	uint64_t len, counts[] = { 0, 1, 2, 3, 7, UINT64_MAX };
	size_t wl = reference(in, n, want), step, o, k, exp;

	imap_buf_init(&out);
	for (step = 1; step <= n + 1; step++)
		for (o = 0; o <= wl + 2; o++)
			for (k = 0; k < sizeof(counts) / sizeof(*counts); k++) {
				imap_buf_reset(&out);
				convert(in, n, step, o, counts[k], &out, &len);
				exp = o >= wl ? 0 : wl - o;
				if (exp > counts[k])
					exp = (size_t)counts[k];
				EXPECT(len == exp && out.len == exp &&
				    (exp == 0 || memcmp(out.p, want +
				    (o < wl ? o : wl), exp) == 0), "input %zu bytes, step %zu, "
				    "<%zu.%llu>: got %zu bytes (announced "
				    "%llu), want %zu", n, step, o,
				    (unsigned long long)counts[k], out.len,
				    (unsigned long long)len, exp);
			}
	imap_buf_free(&out);
}

START_TEST(test_line_ends)
{
	struct imap_buf out;
	uint64_t len;
	struct imap_fetchconv c;
	const char *in = "a\nb\r\nc\rd\n\n";

	imap_buf_init(&out);
	imap_fetchconv_init(&c, 13, 0, UINT64_MAX, &len);
	ck_assert_uint_eq(len, 13);
	imap_fetchconv_run(&c, in, strlen(in), &out);
	ck_assert_uint_eq(out.len, 13);
	ck_assert(memcmp(out.p, "a\r\nb\r\nc\rd\r\n\r\n", 13) == 0);
	imap_buf_free(&out);
}
END_TEST

START_TEST(test_fixed_inputs)
{
	static const char *const in[] = {
		"", "\n", "\r", "\r\n", "\n\n", "\r\r\n", "ab\ncd\r\nef\n",
		"From: a\nSubject: b\n\nbody\n", "x\r\n\n\r\r\n\ny",
	};
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(*in); i++)
		check_all(in[i], strlen(in[i]));
}
END_TEST

START_TEST(test_random_inputs)
{
	static const char alpha[] = "ab\r\n\n";
	char in[48];
	unsigned seed = 12345;
	size_t i, n, round;

	for (round = 0; round < 60; round++) {
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % sizeof(in);
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		check_all(in, n);
	}
}
END_TEST

static Suite *
fetchconv_suite(void)
{
	Suite *s = suite_create("imap_fetchconv");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_line_ends);
	tcase_add_test(tc, test_fixed_inputs);
	tcase_add_test(tc, test_random_inputs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fetchconv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
