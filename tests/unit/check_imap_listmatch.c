/*
 * check_imap_listmatch.c - LIST patterns (imapd/listmatch.c).
 *
 * What is proved: '*' and '%' match as RFC 3501 6.3.8 says (checked
 * against a plain recursive matcher on every small case), INBOX matches
 * without regard to case only as the first level, and a pathological
 * pattern of the largest size against the longest name costs name length
 * x pattern words steps (a backtracking matcher would not finish).
 * The tree LIST answers from: its order, the levels that do not exist,
 * children, and which names LIST-EXTENDED and LSUB answer (the imaptest
 * "listext" and "subscribe" scripts as cases), also for 10,000 names.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/listmatch.h"
#include "imapd/parse.h"

static Suite	*listmatch_suite(void);
static int	 ref_match(const char *, size_t, const char *, size_t, char);
static int	 m(const char *, const char *);
static int	 mi(const char *, const char *);
static void	 tree_of(struct imap_list_tree *, const char *const *);
static const struct imap_list_item *find(const struct imap_list_tree *,
		    const char *);
static void	 sel(struct imap_list_tree *, const char *const *, unsigned,
		    int);
static char	*emitted(const struct imap_list_tree *);

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

/* Names with a leading '+' are subscribed; ids are their positions + 1. */
static void
tree_of(struct imap_list_tree *t, const char *const *names)
{
	size_t i;

	imap_list_tree_init(t);
	for (i = 0; names[i] != NULL; i++) {
		const char *n = names[i];
		int sub = n[0] == '+';

		imap_list_tree_add(t, n + sub, (uint32_t)i + 1,
		    strncmp(n + sub, "Sent", 4) == 0 ? 0x20 : 0, sub);
	}
	imap_list_tree_build(t, '/');
}

static const struct imap_list_item *
find(const struct imap_list_tree *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	ck_abort_msg("'%s' is not in the tree", name);
	return NULL;
}

/* Runs a selection with the patterns (NULL-terminated). */
static void
sel(struct imap_list_tree *t, const char *const *pats, unsigned select,
    int no_childonly)
{
	struct imap_listmatch *lm[8] = { NULL };
	size_t n;

	for (n = 0; pats[n] != NULL; n++)
		lm[n] = imap_listmatch_new(pats[n], strlen(pats[n]), '/', 1);
	imap_list_tree_select(t, lm, n, select, no_childonly);
	while (n > 0)
		imap_listmatch_free(&lm[--n]);
}

/* "name name* ..." of the emitted items, '*' marking CHILDINFO. */
static char *
emitted(const struct imap_list_tree *t)
{
	static char buf[4096];
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < t->n; i++)
		if (t->v[i].emit)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s%s",
			    o > 0 ? " " : "", t->v[i].name,
			    t->v[i].childsel ? "*" : "");
	return buf;
}

START_TEST(test_tree_build)
{
	static const char *const names[] = { "b", "a/b/c", "INBOX", "a b",
	    "INBOX/x", "a", "x/y/z", "a/b/c/d", "Sent", NULL };
	static const char *const order[] = { "INBOX", "INBOX/x", "Sent", "a",
	    "a/b", "a/b/c", "a/b/c/d", "a b", "b", "x", "x/y", "x/y/z", NULL };
	struct imap_list_tree t;
	const struct imap_list_item *it;
	size_t i;

	tree_of(&t, names);
	for (i = 0; order[i] != NULL; i++) {
		ck_assert_uint_lt(i, t.n);
		ck_assert_str_eq(t.v[i].name, order[i]);
		ck_assert_uint_eq(t.v[i].len, strlen(order[i]));
	}
	ck_assert_uint_eq(t.n, i);

	it = find(&t, "a/b");
	ck_assert_uint_eq(it->id, 0);		/* a level only */
	ck_assert_uint_eq(it->children, 1);
	ck_assert_str_eq(t.v[it->parent - 1].name, "a");
	ck_assert_uint_eq(find(&t, "a/b/c")->id, 2);
	ck_assert_str_eq(t.v[find(&t, "a/b/c")->parent - 1].name, "a/b");
	ck_assert_uint_eq(find(&t, "a")->children, 1);
	ck_assert_uint_eq(find(&t, "a")->parent, 0);
	ck_assert_uint_eq(find(&t, "a b")->children, 0);
	ck_assert_uint_eq(find(&t, "a/b/c/d")->children, 0);
	ck_assert_uint_eq(find(&t, "INBOX")->children, 1);
	ck_assert_uint_eq(find(&t, "x")->id, 0);
	ck_assert_uint_eq(find(&t, "x/y")->id, 0);
	ck_assert_uint_eq(find(&t, "Sent")->special_use, 0x20);

	/* a plain LIST answers the missing levels that match */
	sel(&t, (const char *const[]){ "%", NULL }, 0, 0);
	ck_assert_str_eq(emitted(&t), "INBOX Sent a a b b x");
	sel(&t, (const char *const[]){ "x/%", NULL }, 0, 0);
	ck_assert_str_eq(emitted(&t), "x/y");
	sel(&t, (const char *const[]){ "inbox*", NULL }, 0, 0);
	ck_assert_str_eq(emitted(&t), "INBOX INBOX/x");
	/* SPECIAL-USE selection */
	sel(&t, (const char *const[]){ "*", NULL }, IMAP_LS_SPECIAL_USE, 0);
	ck_assert_str_eq(emitted(&t), "Sent");
	imap_list_tree_free(&t);
	ck_assert_ptr_null(t.v);
}
END_TEST

/* The mailboxes of imaptest's "listext" script after its CREATEs (with
 * their parents), SUBSCRIBEs and the DELETE of test6. */
START_TEST(test_tree_listext)
{
	static const char *const names[] = { "box", "+box/test1",
	    "box/test2", "+box/test2/test1", "box/test3", "box/test4",
	    "box/test4/test5", "box/test4/test52", "box/test7",
	    "+box/test7/test7", "box/test8", "+box/test8/test8",
	    "+box/test8/test9", NULL };
	unsigned sr = IMAP_LS_SUBSCRIBED | IMAP_LS_RECURSIVEMATCH;
	struct imap_list_tree t;

	tree_of(&t, names);
	sel(&t, (const char *const[]){ "box/*2", "box/test3", NULL }, 0, 0);
	ck_assert_str_eq(emitted(&t), "box/test2 box/test3 box/test4/test52");
	sel(&t, (const char *const[]){ "box/*", NULL }, IMAP_LS_SUBSCRIBED,
	    0);
	ck_assert_str_eq(emitted(&t), "box/test1 box/test2/test1 "
	    "box/test7/test7 box/test8/test8 box/test8/test9");
	sel(&t, (const char *const[]){ "box/test2%", NULL }, sr, 0);
	ck_assert_str_eq(emitted(&t), "box/test2*");
	sel(&t, (const char *const[]){ "*test7", NULL }, sr, 0);
	ck_assert_str_eq(emitted(&t), "box/test7/test7");
	sel(&t, (const char *const[]){ "*test8", NULL }, sr, 0);
	ck_assert_str_eq(emitted(&t), "box/test8* box/test8/test8");
	sel(&t, (const char *const[]){ "box/test2", NULL }, sr, 0);
	ck_assert_str_eq(emitted(&t), "box/test2*");
	sel(&t, (const char *const[]){ "box/test2", "box/test2/test1", NULL },
	    sr, 0);
	ck_assert_str_eq(emitted(&t), "box/test2/test1");
	/* box's descendants box/test1 ... are selected and unmatched */
	sel(&t, (const char *const[]){ "box", NULL }, sr, 0);
	ck_assert_str_eq(emitted(&t), "box*");
	imap_list_tree_free(&t);
}
END_TEST

/* imaptest's "subscribe" script: LSUB is SUBSCRIBED + RECURSIVEMATCH, and
 * shows an unsubscribed level only when the pattern ends with '%'. */
START_TEST(test_tree_lsub)
{
	static const char *const names[] = { "box", "+box/test",
	    "box/test2", "+box/test2/test", "box/test3", "+box/test3/test3",
	    NULL };
	unsigned sr = IMAP_LS_SUBSCRIBED | IMAP_LS_RECURSIVEMATCH;
	struct imap_list_tree t;

	tree_of(&t, names);
	sel(&t, (const char *const[]){ "box/%", NULL }, sr, 0);
	ck_assert_str_eq(emitted(&t), "box/test box/test2* box/test3*");
	ck_assert_uint_eq(find(&t, "box/test2")->selected, 0);
	ck_assert_uint_eq(find(&t, "box/test")->selected, 1);
	sel(&t, (const char *const[]){ "*test", NULL }, sr, 1);
	ck_assert_str_eq(emitted(&t), "box/test box/test2/test");
	imap_list_tree_free(&t);
}
END_TEST

/*
 * 10,000 mailboxes, 100 with 99 children each, added in reverse order:
 * one build and one selection over all of them.  Matching costs at most
 * name length x pattern words steps per name.
 */
START_TEST(test_tree_10000)
{
	struct imap_list_tree t;
	const struct imap_list_item *it;
	struct imap_listmatch *lm;
	uint64_t before;
	char name[64];
	size_t i, n = 0, bytes = 0;

	imap_list_tree_init(&t);
	for (i = 10000; i-- > 0; ) {
		if (i % 100 == 0)
			snprintf(name, sizeof(name), "folder%03zu", i / 100);
		else
			snprintf(name, sizeof(name), "folder%03zu/sub%02zu",
			    i / 100, i % 100);
		imap_list_tree_add(&t, name, (uint32_t)i + 1, 0, i % 2);
		bytes += strlen(name);
	}
	imap_list_tree_build(&t, '/');
	ck_assert_uint_eq(t.n, 10000);	/* no level is missing */
	for (i = 0; i < t.n; i++) {
		it = &t.v[i];
		ck_assert_uint_eq(it->children, strchr(it->name, '/') == NULL);
		if (i > 0)
			ck_assert_int_lt(strcmp(t.v[i - 1].name, it->name), 0);
	}
	lm = imap_listmatch_new("*", 1, '/', 1);
	before = imap_listmatch_steps();
	imap_list_tree_select(&t, &lm, 1, 0, 0);
	ck_assert_uint_le(imap_listmatch_steps() - before, bytes);
	for (i = 0; i < t.n; i++)
		n += t.v[i].emit;
	ck_assert_uint_eq(n, 10000);
	imap_listmatch_free(&lm);
	imap_list_tree_free(&t);
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
	tcase_add_test(tc, test_tree_build);
	tcase_add_test(tc, test_tree_listext);
	tcase_add_test(tc, test_tree_lsub);
	tcase_add_test(tc, test_tree_10000);
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
