/*
 * check_imap_listmatch.c - LIST patterns (imapd/listmatch.c).
 *
 * What is proved: '*' and '%' match as RFC 3501 6.3.8 says (checked
 * against a plain recursive matcher on every small case), INBOX matches
 * without regard to case only as the first level, and a pathological
 * pattern of the largest size against the longest name costs name length
 * x pattern words steps (a backtracking matcher would not finish).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/listmatch.h"

static Suite	*listmatch_suite(void);
static int	 ref_match(const char *, size_t, const char *, size_t, char);
static int	 m(const char *, const char *);
static int	 mi(const char *, const char *);

/* The definition, slowly: exponential, only for short inputs. */
static int
ref_match(const char *p, size_t pl, const char *s, size_t sl, char sep)
{
	size_t k;

	if (pl == 0)
		return sl == 0;
	if (p[0] == '*' || p[0] == '%') {
		for (k = 0; k <= sl; k++) {
			if (ref_match(p + 1, pl - 1, s + k, sl - k, sep))
				return 1;
			if (k < sl && p[0] == '%' && s[k] == sep)
				return 0;
		}
		return 0;
	}
	return sl > 0 && p[0] == s[0] &&
	    ref_match(p + 1, pl - 1, s + 1, sl - 1, sep);
}

static int
m(const char *pat, const char *name)
{
	struct imap_listmatch *lm;
	int r;

	lm = imap_listmatch_new(pat, strlen(pat), '/', 0);
	r = imap_listmatch(lm, name, strlen(name));
	imap_listmatch_free(&lm);
	ck_assert_ptr_null(lm);
	return r;
}

/* With INBOX matched without regard to case. */
static int
mi(const char *pat, const char *name)
{
	struct imap_listmatch *lm;
	int r;

	lm = imap_listmatch_new(pat, strlen(pat), '/', 1);
	r = imap_listmatch(lm, name, strlen(name));
	imap_listmatch_free(&lm);
	return r;
}

START_TEST(test_wildcards)
{
	ck_assert_int_eq(m("*", ""), 1);
	ck_assert_int_eq(m("*", "a/b/c"), 1);
	ck_assert_int_eq(m("%", "abc"), 1);
	ck_assert_int_eq(m("%", "a/b"), 0);
	ck_assert_int_eq(m("", ""), 1);
	ck_assert_int_eq(m("", "a"), 0);
	ck_assert_int_eq(m("abc", "abc"), 1);
	ck_assert_int_eq(m("abc", "abcd"), 0);
	ck_assert_int_eq(m("abc", "ab"), 0);
	ck_assert_int_eq(m("abc", "ABC"), 0);
	ck_assert_int_eq(m("a/%", "a/b"), 1);
	ck_assert_int_eq(m("a/%", "a/"), 1);
	ck_assert_int_eq(m("a/%", "a"), 0);
	ck_assert_int_eq(m("a/%", "a/b/c"), 0);
	ck_assert_int_eq(m("a/*", "a/b/c"), 1);
	ck_assert_int_eq(m("a/*", "a"), 0);
	ck_assert_int_eq(m("a*", "a"), 1);
	ck_assert_int_eq(m("a*", "ab/c"), 1);
	ck_assert_int_eq(m("a%", "ab/c"), 0);
	/* the imaptest "list" cases */
	ck_assert_int_eq(m("box/*test4", "box/test3/test4"), 1);
	ck_assert_int_eq(m("box/*test4", "box/test3/test4/test5"), 0);
	ck_assert_int_eq(m("box/*test*", "box/test3/test4/test5"), 1);
	ck_assert_int_eq(m("box/%3/%", "box/test3/test4"), 1);
	ck_assert_int_eq(m("box/%3/%4", "box/test3/test4"), 1);
	ck_assert_int_eq(m("box/%t*4", "box/test3/test4"), 1);
	ck_assert_int_eq(m("box/%/%", "box/test"), 0);
	ck_assert_int_eq(m("box/%/%", "box/test3/test4"), 1);
	ck_assert_int_eq(m("box/%/%", "box/test3/test4/test5"), 0);
	/* '%' at either end, and the separator as a literal */
	ck_assert_int_eq(m("%/b", "a/b"), 1);
	ck_assert_int_eq(m("%/b", "/b"), 1);
	ck_assert_int_eq(m("%/b", "x/a/b"), 0);
	ck_assert_int_eq(m("*/b", "x/a/b"), 1);
	/* bytes of UTF-8 names are plain bytes */
	ck_assert_int_eq(m("K\xc3\xa4*", "K\xc3\xa4se/Brie"), 1);
	ck_assert_int_eq(m("%\xa4se", "K\xc3\xa4se"), 1);
}
END_TEST

START_TEST(test_collapse)
{
	struct imap_listmatch *lm;
	size_t len;

	lm = imap_listmatch_new("a**%*b%%c%*%d", 13, '/', 0);
	ck_assert_str_eq(imap_listmatch_pattern(lm, &len), "a*b%c*d");
	ck_assert_uint_eq(len, 7);
	ck_assert_int_eq(imap_listmatch(lm, "a/xb-c/y/d", 10), 1);
	ck_assert_int_eq(imap_listmatch(lm, "a/xb/c/y/d", 10), 0);
	imap_listmatch_free(&lm);

	lm = imap_listmatch_new("%%%", 3, '/', 0);
	ck_assert_str_eq(imap_listmatch_pattern(lm, NULL), "%");
	ck_assert_int_eq(imap_listmatch(lm, "a/b", 3), 0);
	imap_listmatch_free(&lm);
	imap_listmatch_free(&lm);	/* NULL is fine */
}
END_TEST

START_TEST(test_nul_bytes)
{
	struct imap_listmatch *lm;

	/* A NUL in a literal pattern is a byte like any other. */
	lm = imap_listmatch_new("a\0b", 3, '/', 0);
	ck_assert_int_eq(imap_listmatch(lm, "a\0b", 3), 1);
	ck_assert_int_eq(imap_listmatch(lm, "a", 1), 0);
	ck_assert_int_eq(imap_listmatch(lm, "ab", 2), 0);
	imap_listmatch_free(&lm);
}
END_TEST

START_TEST(test_inbox_case)
{
	ck_assert_int_eq(mi("inbox", "INBOX"), 1);
	ck_assert_int_eq(mi("Inbox/%", "INBOX/Sub"), 1);
	ck_assert_int_eq(mi("Inbox/%", "INBOX/sub/x"), 0);
	ck_assert_int_eq(mi("inbox/sub", "INBOX/Sub"), 0);	/* level 2 */
	ck_assert_int_eq(mi("in%", "INBOX"), 1);
	ck_assert_int_eq(mi("inbox*", "INBOXES"), 0);	/* not INBOX */
	ck_assert_int_eq(mi("INBOX*", "INBOXES"), 1);
	ck_assert_int_eq(mi("inbox", "inbox"), 1);
	ck_assert_int_eq(m("inbox", "INBOX"), 0);	/* inboxcase off */
}
END_TEST

/* Every pattern of up to 6 symbols from {a, /, *, %} against every name
 * of up to 5 symbols from {a, b, /}: the same answer as the definition. */
START_TEST(test_against_definition)
{
	static const char pa[] = "a/*%", na[] = "ab/";
	char pat[8], name[8];
	unsigned pi, ni, pn, nn, k, x;
	unsigned long checked = 0;

	for (pn = 0; pn <= 6; pn++) {
		unsigned ptotal = 1;

		for (k = 0; k < pn; k++)
			ptotal *= 4;
		for (pi = 0; pi < ptotal; pi++) {
			struct imap_listmatch *lm;

			for (k = 0, x = pi; k < pn; k++, x /= 4)
				pat[k] = pa[x % 4];
			pat[pn] = '\0';
			lm = imap_listmatch_new(pat, pn, '/', 0);
			for (nn = 0; nn <= 5; nn++) {
				unsigned ntotal = 1;

				for (k = 0; k < nn; k++)
					ntotal *= 3;
				for (ni = 0; ni < ntotal; ni++) {
					for (k = 0, x = ni; k < nn;
					    k++, x /= 3)
						name[k] = na[x % 3];
					name[nn] = '\0';
					ck_assert_msg(imap_listmatch(lm, name,
					    nn) == ref_match(pat, pn, name, nn,
					    '/'), "pattern '%s' name '%s': "
					    "%d, the definition says %d", pat,
					    name, imap_listmatch(lm, name, nn),
					    ref_match(pat, pn, name, nn, '/'));
					checked++;
				}
			}
			imap_listmatch_free(&lm);
		}
	}
	ck_assert_uint_gt(checked, 1000000);
}
END_TEST

/*
 * "*a*a*a...*a*b" of the largest size kept against 512 'a's: a
 * backtracking matcher tries every way to place hundreds of '*' (it would
 * not finish); this one takes 512 x words steps for each name.  Done
 * 10,000 times, as for a user with 10,000 mailboxes.
 */
START_TEST(test_pathological)
{
	size_t plen = IMAP_LISTMATCH_PATTERN_MAX, nlen =
	    IMAP_LISTMATCH_NAME_MAX, i, words, len;
	char *pat = malloc(plen + 1), *name = malloc(nlen + 1);
	struct imap_listmatch *lm;
	uint64_t before, steps;
	const char *kinds = "*%";
	int kind, n;

	ck_assert_ptr_nonnull(pat);
	ck_assert_ptr_nonnull(name);
	memset(name, 'a', nlen);
	name[nlen] = '\0';
	for (kind = 0; kind < 2; kind++) {
		for (i = 0; i < plen; i++)
			pat[i] = i % 2 == 0 ? kinds[kind] : 'a';
		pat[plen - 2] = 'b';	/* ... "*b*": no match */
		lm = imap_listmatch_new(pat, plen, '/', 1);
		imap_listmatch_pattern(lm, &len);
		ck_assert_uint_eq(len, plen);
		words = (plen + 1 + 63) / 64;
		before = imap_listmatch_steps();
		for (n = 0; n < 10000; n++)
			ck_assert_int_eq(imap_listmatch(lm, name, nlen), 0);
		steps = imap_listmatch_steps() - before;
		ck_assert_msg(steps <= (uint64_t)10000 * nlen * words,
		    "%llu steps for 10,000 names of %zu bytes, pattern of "
		    "%zu", (unsigned long long)steps, nlen, plen);
		/* and with the 'b' the name needs, it matches */
		name[nlen - 1] = 'b';
		ck_assert_int_eq(imap_listmatch(lm, name, nlen), 1);
		name[nlen - 1] = 'a';
		imap_listmatch_free(&lm);
	}

	/* Longer than IMAP_LISTMATCH_PATTERN_MAX: matches nothing. */
	free(pat);
	pat = malloc(plen + 3);
	ck_assert_ptr_nonnull(pat);
	for (i = 0; i < plen + 2; i++)
		pat[i] = i % 2 == 0 ? '*' : 'a';
	lm = imap_listmatch_new(pat, plen + 2, '/', 0);
	ck_assert_str_eq(imap_listmatch_pattern(lm, NULL), "");
	ck_assert_int_eq(imap_listmatch(lm, name, nlen), 0);
	ck_assert_int_eq(imap_listmatch(lm, "", 0), 0);
	imap_listmatch_free(&lm);

	/* A million '*' collapse to one. */
	free(pat);
	pat = malloc(1000000);
	ck_assert_ptr_nonnull(pat);
	memset(pat, '*', 1000000);
	lm = imap_listmatch_new(pat, 1000000, '/', 0);
	ck_assert_str_eq(imap_listmatch_pattern(lm, NULL), "*");
	ck_assert_int_eq(imap_listmatch(lm, name, nlen), 1);
	imap_listmatch_free(&lm);
	free(pat);
	free(name);
}
END_TEST

static Suite *
listmatch_suite(void)
{
	Suite *s = suite_create("imap_listmatch");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_wildcards);
	tcase_add_test(tc, test_collapse);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_inbox_case);
	tcase_add_test(tc, test_against_definition);
	tcase_add_test(tc, test_pathological);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(listmatch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
