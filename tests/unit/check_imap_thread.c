/*
 * check_imap_thread.c - the RFC 5256 orders and algorithms (imapd/thread.c)
 * and the case folding they compare with (imapd/fold.c).
 *
 * Each THREAD case names the rule of RFC 5256 it shows: references
 * linking parent to child, the message's own References winning over
 * what others presumed, loops refused, missing parents as dummies that
 * are pruned, roots gathered by base subject, siblings sorted by sent
 * date with mailbox order breaking ties.  A random test checks that any
 * tangle of References (cycles, self references, duplicates) yields a
 * well-formed answer naming every message exactly once.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/fold.h"
#include "imapd/thread.h"

/* A message: mailbox order is the array order, id = index + 1. */
struct tm_def {
	int64_t		 date;
	const char	*subject;	/* base subject */
	int		 reply;
	const char	*msgid;
	const char	*refs;
};

static Suite	*thread_suite(void);
static void	 fill(const struct tm_def *, size_t, struct imap_thread_msg *);
static char	*thread_refs(const struct tm_def *, size_t);
static char	*thread_subj(const struct tm_def *, size_t);
static void	 check_wellformed(const char *, size_t);
static uint64_t	 rng_next(uint64_t *);

#define N(a)	(sizeof(a) / sizeof((a)[0]))

static void
fill(const struct tm_def *d, size_t n, struct imap_thread_msg *m)
{
	size_t i;

	memset(m, 0, n * sizeof(*m));
	for (i = 0; i < n; i++) {
		m[i].id = (uint32_t)(i + 1);
		m[i].date = d[i].date;
		m[i].arrival = d[i].date;
		m[i].subject = d[i].subject != NULL ? d[i].subject : "";
		m[i].subject_len = strlen(m[i].subject);
		m[i].is_reply = d[i].reply;
		m[i].message_id = d[i].msgid != NULL ? d[i].msgid : "";
		m[i].message_id_len = strlen(m[i].message_id);
		m[i].references = d[i].refs != NULL ? d[i].refs : "";
		m[i].references_len = strlen(m[i].references);
	}
}

static char *
thread_refs(const struct tm_def *d, size_t n)
{
	struct imap_thread_msg *m = calloc(n + 1, sizeof(*m));
	struct imap_buf b;
	char *s;

	fill(d, n, m);
	imap_buf_init(&b);
	imap_thread_references(m, n, &b);
	s = strndup(b.p != NULL ? b.p : "", b.len);
	imap_buf_free(&b);
	free(m);
	return s;
}

static char *
thread_subj(const struct tm_def *d, size_t n)
{
	struct imap_thread_msg *m = calloc(n + 1, sizeof(*m));
	struct imap_buf b;
	char *s;

	fill(d, n, m);
	imap_buf_init(&b);
	imap_thread_orderedsubject(m, n, &b);
	s = strndup(b.p != NULL ? b.p : "", b.len);
	imap_buf_free(&b);
	free(m);
	return s;
}

#define EXPECT_REFS(defs, want) do {					\
	char *got_ = thread_refs(defs, N(defs));			\
	ck_assert_msg(strcmp(got_, want) == 0,				\
	    "THREAD REFERENCES gave %s, want %s", got_, want);		\
	free(got_);							\
} while (0)

#define EXPECT_SUBJ(defs, want) do {					\
	char *got_ = thread_subj(defs, N(defs));			\
	ck_assert_msg(strcmp(got_, want) == 0,				\
	    "THREAD ORDEREDSUBJECT gave %s, want %s", got_, want);	\
	free(got_);							\
} while (0)

/*
 * The thread-list grammar of RFC 5256 (parentheses balance, a list
 * starts with a number or with nested lists, nested lists come two or
 * more at a time) and every id 1..n exactly once.
 */
static void
check_wellformed(const char *s, size_t n)
{
	unsigned char *seen = calloc(n + 1, 1);
	int depth = 0;
	size_t i;
	char *e;
	unsigned long v;

	for (i = 0; s[i] != '\0';) {
		if (s[i] == '(') {
			depth++;
			i++;
			ck_assert_msg(s[i] == '(' || (s[i] >= '1' && s[i] <= '9'),
			    "a list starts with %c in %s", s[i], s);
		} else if (s[i] == ')') {
			ck_assert_msg(depth > 0, "unbalanced: %s", s);
			depth--;
			i++;
		} else if (s[i] == ' ') {
			i++;
			ck_assert_msg(s[i] == '(' || (s[i] >= '1' &&
			    s[i] <= '9'), "space before %c in %s", s[i], s);
		} else {
			v = strtoul(s + i, &e, 10);
			ck_assert_msg(e > s + i && v >= 1 && v <= n,
			    "bad number at %zu in %s", i, s);
			ck_assert_msg(!seen[v], "%lu twice in %s", v, s);
			seen[v] = 1;
			i = (size_t)(e - s);
		}
		if (depth == 0)
			ck_assert_msg(s[i] == '\0' || s[i] == '(',
			    "between threads: %c in %s", s[i], s);
	}
	ck_assert_msg(depth == 0, "unbalanced at the end: %s", s);
	for (i = 1; i <= n; i++)
		ck_assert_msg(seen[i], "message %zu missing", i);
	free(seen);
}

static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* REFERENCES -------------------------------------------------------------- */

START_TEST(test_refs_chain)
{
	/* 1B/1C: each reference is the parent of the next, the last one
	 * the message's parent: one child follows its parent */
	static const struct tm_def d[] = {
		{ 10, "a", 0, "a@x", NULL },
		{ 20, "a", 1, "b@x", "a@x" },
		{ 30, "a", 1, "c@x", "a@x b@x" },
	};

	EXPECT_REFS(d, "(1 2 3)");
}
END_TEST

START_TEST(test_refs_siblings)
{
	/* two or more children are written as nested lists */
	static const struct tm_def d[] = {
		{ 10, "a", 0, "a@x", NULL },
		{ 20, "a", 1, "b@x", "a@x" },
		{ 30, "a", 1, "c@x", "a@x" },
		{ 40, "a", 1, "d@x", "a@x c@x" },
	};

	EXPECT_REFS(d, "(1 (2)(3 4))");
}
END_TEST

START_TEST(test_refs_rfc_example_shape)
{
	/* the shape of RFC 5256's example "(3 6 (4 23)(44 7 96))" */
	static const struct tm_def d[] = {
		{ 10, "s", 0, "m3", NULL },
		{ 20, "s", 1, "m6", "m3" },
		{ 30, "s", 1, "m4", "m3 m6" },
		{ 40, "s", 1, "m23", "m3 m6 m4" },
		{ 50, "s", 1, "m44", "m3 m6" },
		{ 60, "s", 1, "m7", "m3 m6 m44" },
		{ 70, "s", 1, "m96", "m3 m6 m44 m7" },
	};

	EXPECT_REFS(d, "(1 2 (3 4)(5 6 7))");
}
END_TEST

START_TEST(test_refs_missing_parent)
{
	/* 3: a missing parent is a dummy; at the root with several
	 * children it stays (written as nothing but its children) */
	static const struct tm_def two[] = {
		{ 10, "q", 1, "b@x", "gone@x" },
		{ 20, "q", 1, "c@x", "gone@x" },
	};
	/* with one child, the child takes its place */
	static const struct tm_def one[] = {
		{ 10, "q", 1, "b@x", "gone@x" },
	};
	/* inside a thread a dummy gives way to its children */
	static const struct tm_def mid[] = {
		{ 10, "q", 0, "a@x", NULL },
		{ 20, "q", 1, "c@x", "a@x gone@x" },
		{ 30, "q", 1, "d@x", "a@x gone@x" },
	};

	EXPECT_REFS(two, "((1)(2))");
	EXPECT_REFS(one, "(1)");
	EXPECT_REFS(mid, "(1 (2)(3))");
}
END_TEST

START_TEST(test_refs_own_references_win)
{
	/* 1C: message 2 presumed b a child of a; b's own (empty)
	 * References make it a root again */
	static const struct tm_def d[] = {
		{ 10, "one", 0, "a@x", NULL },
		{ 20, "two", 1, "c@x", "a@x b@x" },
		{ 30, "three", 0, "b@x", NULL },
	};

	EXPECT_REFS(d, "(1)(3 2)");
}
END_TEST

START_TEST(test_refs_cycles)
{
	/* a refers to b and b to a: the second link would close a loop
	 * and is not made */
	static const struct tm_def two[] = {
		{ 10, "p", 0, "a@x", "b@x" },
		{ 20, "q", 0, "b@x", "a@x" },
	};
	/* a loop inside one References field, and a self reference */
	static const struct tm_def three[] = {
		{ 10, "p", 0, "a@x", "a@x" },
		{ 20, "p", 1, "b@x", "a@x c@x a@x" },
		{ 30, "p", 1, "c@x", "b@x c@x" },
	};

	EXPECT_REFS(two, "(2 1)");
	{
		char *got = thread_refs(three, N(three));

		check_wellformed(got, N(three));
		free(got);
	}
}
END_TEST

START_TEST(test_refs_duplicate_and_missing_ids)
{
	/* 1A: a duplicate Message-ID and a missing one make unique
	 * messages; a reference finds the first holder of an id */
	static const struct tm_def d[] = {
		{ 10, "one", 0, "a@x", NULL },
		{ 20, "two", 0, "a@x", NULL },
		{ 30, "one", 1, "c@x", "a@x" },
		{ 40, "four", 0, NULL, NULL },
	};

	EXPECT_REFS(d, "(1 3)(2)(4)");
}
END_TEST

START_TEST(test_refs_subject_grouping)
{
	/* 5: roots with one base subject: neither a reply: siblings
	 * under a dummy */
	static const struct tm_def neither[] = {
		{ 10, "lunch", 0, "a@x", NULL },
		{ 20, "other", 0, "b@x", NULL },
		{ 30, "Lunch", 0, "c@x", NULL },
	};
	/* a reply becomes the child of the non-reply, whatever their
	 * order in the mailbox */
	static const struct tm_def reply[] = {
		{ 10, "lunch", 1, "a@x", NULL },
		{ 20, "lunch", 0, "b@x", NULL },
	};
	/* a dummy root takes a lone root of its subject as a child */
	static const struct tm_def dummy[] = {
		{ 10, "lunch", 1, "a@x", "gone@x" },
		{ 20, "lunch", 1, "b@x", "gone@x" },
		{ 30, "lunch", 0, "c@x", NULL },
	};
	/* an empty subject groups nothing */
	static const struct tm_def empty[] = {
		{ 10, "", 0, "a@x", NULL },
		{ 20, "", 0, "b@x", NULL },
	};

	EXPECT_REFS(neither, "((1)(3))(2)");
	EXPECT_REFS(reply, "(2 1)");
	EXPECT_REFS(dummy, "((1)(2)(3))");
	EXPECT_REFS(empty, "(1)(2)");
}
END_TEST

START_TEST(test_refs_sorted_by_date)
{
	/* 6: siblings by sent date, not mailbox order; ties by mailbox
	 * order; threads by the date of their root (a dummy: its first
	 * child) */
	static const struct tm_def d[] = {
		{ 50, "x", 0, "a@x", NULL },
		{ 90, "x", 1, "b@x", "a@x" },
		{ 70, "x", 1, "c@x", "a@x" },
		{ 70, "x", 1, "d@x", "a@x" },
		{ 10, "y", 0, "e@x", NULL },
		{ 60, "z", 1, "f@x", "gone@x" },
		{ 5, "z", 1, "g@x", "gone@x" },
	};

	EXPECT_REFS(d, "((7)(6))(5)(1 (3)(4)(2))");
}
END_TEST

START_TEST(test_refs_long_references)
{
	/*
	 * One message whose References name 50,000 ids never seen (a
	 * spammer's header): they form one chain of dummies, and refusing
	 * loops must not walk that chain again for every link (it did:
	 * 1.25e9 steps, seconds on the event loop of every session of the
	 * process).  The chain's first id is another message: it becomes
	 * the root and the big one its child.
	 */
	enum { K = 50000 };
	struct tm_def d[2];
	struct imap_buf refs;
	uint64_t before;
	char *got;
	size_t i;

	imap_buf_init(&refs);
	for (i = 0; i < K; i++)
		imap_buf_printf(&refs, i > 0 ? " r%zu" : "r%zu", i);
	imap_buf_add(&refs, "", 1);	/* NUL */
	memset(d, 0, sizeof(d));
	d[0].date = 2;
	d[0].subject = "big";
	d[0].msgid = "self";
	d[0].refs = refs.p;
	d[1].date = 1;
	d[1].subject = "first";
	d[1].msgid = "r0";
	before = imap_thread_steps();
	got = thread_refs(d, 2);
	ck_assert_msg(imap_thread_steps() - before < 4 * (uint64_t)K,
	    "%llu steps for %d references",
	    (unsigned long long)(imap_thread_steps() - before), K);
	ck_assert_str_eq(got, "(2 1)");
	free(got);
	imap_buf_free(&refs);
}
END_TEST

START_TEST(test_refs_loop_probes)
{
	/*
	 * Message 1 makes a chain c0 ... c19999; message 2's References
	 * go "c19999 c0" 10,000 times: each c0 after c19999 would close a
	 * loop, and finding that out walked the whole chain each time.
	 */
	enum { K = 20000 };
	struct tm_def d[2];
	struct imap_buf r1, r2;
	uint64_t before;
	char *got;
	size_t i;

	imap_buf_init(&r1);
	imap_buf_init(&r2);
	for (i = 0; i < K; i++)
		imap_buf_printf(&r1, i > 0 ? " c%zu" : "c%zu", i);
	imap_buf_add(&r1, "", 1);
	for (i = 0; i < K / 2; i++)
		imap_buf_printf(&r2, i > 0 ? " c%d c0" : "c%d c0", K - 1);
	imap_buf_add(&r2, "", 1);
	memset(d, 0, sizeof(d));
	d[0].date = 1;
	d[0].subject = "one";
	d[0].msgid = "m1";
	d[0].refs = r1.p;
	d[1].date = 2;
	d[1].subject = "two";
	d[1].msgid = "m2";
	d[1].refs = r2.p;
	before = imap_thread_steps();
	got = thread_refs(d, 2);
	ck_assert_msg(imap_thread_steps() - before < 8 * (uint64_t)K,
	    "%llu steps", (unsigned long long)(imap_thread_steps() - before));
	/* both hang from the dummy c0 ... c19999: the first stays a child
	 * of c19999, the second's last reference is c0 */
	ck_assert_str_eq(got, "((1)(2))");
	free(got);
	imap_buf_free(&r1);
	imap_buf_free(&r2);
}
END_TEST

/* 64-bit FNV-1a: the unkeyed hash the Message-ID table once used. */
static uint64_t
fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

START_TEST(test_refs_hash_flood)
{
	/*
	 * 4,000 References chosen so that an unkeyed FNV-1a puts them all
	 * in slot 0 of the table (8,192 slots for 4,001 ids): each new id
	 * then walked the whole cluster, 8e6 probes (a 1 MB header of such
	 * ids: 5e9).  Under a keyed hash they spread.
	 */
	enum { K = 4000 };
	struct tm_def d[1];
	struct imap_buf refs;
	char id[32];
	uint64_t before;
	uint32_t c = 0;
	size_t found = 0, len;
	char *got;

	imap_buf_init(&refs);
	while (found < K) {
		/* "f" + 8 hex digits of c + "@x", without snprintf (slow) */
		id[0] = 'f';
		for (len = 1; len < 9; len++)
			id[len] = "0123456789abcdef"[(c >> (4 * (8 - len))) &
			    15];
		memcpy(id + 9, "@x", 3);
		len = 11;
		c++;
		if ((fnv1a(id, len) & 8191) != 0)
			continue;
		imap_buf_printf(&refs, found > 0 ? " %s" : "%s", id);
		found++;
	}
	imap_buf_add(&refs, "", 1);
	memset(d, 0, sizeof(d));
	d[0].date = 1;
	d[0].subject = "flood";
	d[0].msgid = "self";
	d[0].refs = refs.p;
	before = imap_thread_steps();
	got = thread_refs(d, 1);
	ck_assert_msg(imap_thread_steps() - before < 20 * (uint64_t)K,
	    "%llu steps", (unsigned long long)(imap_thread_steps() - before));
	ck_assert_str_eq(got, "(1)");
	free(got);
	imap_buf_free(&refs);
}
END_TEST

START_TEST(test_refs_deep)
{
	/* a 20,000-message reply chain: nothing recurses */
	enum { DEPTH = 20000 };
	struct tm_def *d = calloc(DEPTH, sizeof(*d));
	char (*ids)[16] = calloc(DEPTH, 16);
	struct imap_buf want;
	char *got;
	size_t i;

	imap_buf_init(&want);
	imap_buf_add(&want, "(", 1);
	for (i = 0; i < DEPTH; i++) {
		snprintf(ids[i], 16, "m%zu", i);
		d[i].date = (int64_t)i;
		d[i].subject = "deep";
		d[i].msgid = ids[i];
		d[i].refs = i > 0 ? ids[i - 1] : NULL;
		imap_buf_printf(&want, i > 0 ? " %zu" : "%zu", i + 1);
	}
	imap_buf_add(&want, ")", 1);
	got = thread_refs(d, DEPTH);
	ck_assert_msg(strlen(got) == want.len &&
	    memcmp(got, want.p, want.len) == 0, "deep chain differs");
	free(got);
	imap_buf_free(&want);
	free(ids);
	free(d);
}
END_TEST

START_TEST(test_refs_random_tangles)
{
	/* random References over a small id space: cycles, self and
	 * duplicate references, missing parents */
	static const char *subjects[] = { "", "a", "b", "A" };
	struct tm_def d[40];
	char ids[40][8], refs[40][64];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t round, i, k, nrefs, len;
	char *got;

	for (round = 0; round < 300; round++) {
		for (i = 0; i < 40; i++) {
			snprintf(ids[i], sizeof(ids[i]), "i%u",
			    (unsigned)(rng_next(&seed) % 30));
			len = 0;
			nrefs = rng_next(&seed) % 5;
			refs[i][0] = '\0';
			for (k = 0; k < nrefs; k++)
				len += (size_t)snprintf(refs[i] + len,
				    sizeof(refs[i]) - len, "%si%u",
				    k > 0 ? " " : "",
				    (unsigned)(rng_next(&seed) % 30));
			d[i].date = (int64_t)(rng_next(&seed) % 10);
			d[i].subject = subjects[rng_next(&seed) % 4];
			d[i].reply = (int)(rng_next(&seed) % 2);
			d[i].msgid = rng_next(&seed) % 8 ? ids[i] : NULL;
			d[i].refs = refs[i];
		}
		got = thread_refs(d, 40);
		check_wellformed(got, 40);
		free(got);
	}
}
END_TEST

START_TEST(test_refs_empty)
{
	char *got = thread_refs(NULL, 0);

	ck_assert_str_eq(got, "");
	free(got);
}
END_TEST

/* ORDEREDSUBJECT ---------------------------------------------------------- */

START_TEST(test_orderedsubject)
{
	/* runs of one base subject (any case), the oldest the parent of
	 * the rest; threads by the date of their first message */
	static const struct tm_def d[] = {
		{ 30, "x", 0, NULL, NULL },
		{ 20, "y", 0, NULL, NULL },
		{ 10, "X", 1, NULL, NULL },
		{ 40, "x", 1, NULL, NULL },
		{ 25, "z", 0, NULL, NULL },
		{ 26, "z", 1, NULL, NULL },
	};
	/* ties of date by mailbox order */
	static const struct tm_def tie[] = {
		{ 10, "s", 0, NULL, NULL },
		{ 10, "s", 0, NULL, NULL },
	};

	EXPECT_SUBJ(d, "(3 (1)(4))(2)(5 6)");
	EXPECT_SUBJ(tie, "(1 2)");
}
END_TEST

/* SORT -------------------------------------------------------------------- */

static void
expect_sort(const struct imap_thread_msg *m, size_t n,
    const struct imap_sort *keys, const size_t *want)
{
	size_t order[16], i;

	imap_thread_sort(m, n, keys, order);
	for (i = 0; i < n; i++)
		ck_assert_msg(order[i] == want[i],
		    "position %zu: message %zu, want %zu", i, order[i] + 1,
		    want[i] + 1);
}

START_TEST(test_sort_keys)
{
	struct imap_thread_msg m[4];
	struct imap_sort s;
	static const size_t by_subject[] = { 1, 3, 2, 0 };
	static const size_t by_rev_date[] = { 2, 0, 3, 1 };
	static const size_t by_from_size[] = { 3, 2, 1, 0 };
	static const size_t by_arrival[] = { 0, 1, 2, 3 };
	static const size_t by_display[] = { 1, 0, 2, 3 };

	memset(m, 0, sizeof(m));
	m[0].subject = "Zebra";
	m[1].subject = "apple";
	m[2].subject = "mango";
	m[3].subject = "Apple";
	m[0].date = 20;
	m[1].date = 10;
	m[2].date = 30;
	m[3].date = 20;
	m[0].from = "zed";
	m[1].from = "amy";
	m[2].from = "Amy";
	m[3].from = "";
	m[0].size = 1;
	m[1].size = 5;
	m[2].size = 7;
	m[0].display_from = "Zed";
	m[1].display_from = "bob";
	m[2].display_from = "\xc3\xa1ngel-b";	/* ángel-b */
	m[3].display_from = "\xc3\x81NGEL-C";	/* ÁNGEL-C */
	for (size_t i = 0; i < 4; i++) {
		m[i].arrival = 100;
		m[i].subject_len = strlen(m[i].subject);
		m[i].from_len = strlen(m[i].from);
		m[i].display_from_len = strlen(m[i].display_from);
	}
	memset(&s, 0, sizeof(s));
	/* SUBJECT, ties (apple/Apple) by mailbox order */
	s.nkeys = 1;
	s.keys[0].key = IMAP_SORT_SUBJECT;
	expect_sort(m, 4, &s, by_subject);
	/* REVERSE DATE: the tie (20) keeps mailbox order */
	s.keys[0].key = IMAP_SORT_DATE;
	s.keys[0].reverse = 1;
	expect_sort(m, 4, &s, by_rev_date);
	/* FROM then REVERSE SIZE: "" first, amy/Amy by size, larger first */
	s.nkeys = 2;
	s.keys[0].key = IMAP_SORT_FROM;
	s.keys[0].reverse = 0;
	s.keys[1].key = IMAP_SORT_SIZE;
	s.keys[1].reverse = 1;
	expect_sort(m, 4, &s, by_from_size);
	/* ARRIVAL all equal: mailbox order */
	s.nkeys = 1;
	s.keys[0].key = IMAP_SORT_ARRIVAL;
	expect_sort(m, 4, &s, by_arrival);
	/* DISPLAYFROM folds non-ASCII capitals: ángel-b < ÁNGEL-C
	 * (unfolded, Á would sort before á); then by code point: "bob" <
	 * "zed" < "á..." */
	s.keys[0].key = IMAP_SORT_DISPLAYFROM;
	expect_sort(m, 4, &s, by_display);
}
END_TEST

/* Folding ----------------------------------------------------------------- */

START_TEST(test_fold)
{
	struct imap_buf b;
	const char *in;

	imap_buf_init(&b);
	in = "Hello \xc3\x84\xc3\x96\xc3\x9c \xce\xa3\xce\xbf\xcf\x82"
	    " \xd0\x9c\xd0\x98\xd0\xa0 \xc4\xb0 \xc5\xb8";
	imap_fold(in, strlen(in), &b);
	/* hello äöü σοσ мир i ÿ: one byte fewer (İ becomes i) */
	ck_assert_int_eq(b.len, strlen(in) - 1);
	ck_assert(memcmp(b.p, "hello \xc3\xa4\xc3\xb6\xc3\xbc "
	    "\xcf\x83\xce\xbf\xcf\x83 \xd0\xbc\xd0\xb8\xd1\x80 i "
	    "\xc3\xbf", b.len) == 0);
	/* not UTF-8: Latin-1 */
	imap_buf_reset(&b);
	imap_fold("\xc4pfel", 5, &b);
	ck_assert_int_eq(b.len, 6);
	ck_assert(memcmp(b.p, "\xc3\xa4pfel", 6) == 0);
	imap_buf_free(&b);
	ck_assert_int_eq(imap_fold_cmp("ABC", 3, "abc", 3), 0);
	ck_assert_int_lt(imap_fold_cmp("abc", 3, "abcd", 4), 0);
	ck_assert_int_eq(imap_fold_cmp("\xc3\x89t\xc3\xa9", 5,
	    "\xc3\xa9T\xc3\x89", 5), 0);
	ck_assert_int_gt(imap_fold_cmp("b", 1, "A", 1), 0);
	/* Romanian Ș, Vietnamese Ạ, Greek Ά, Ukrainian Ґ, fullwidth Ａ */
	in = "\xc8\x98\xe1\xba\xa0\xce\x86\xd2\x90\xef\xbc\xa1";
	ck_assert_int_eq(imap_fold_cmp(in, strlen(in),
	    "\xc8\x99\xe1\xba\xa1\xce\xac\xd2\x91\xef\xbd\x81", 12), 0);
}
END_TEST

static Suite *
thread_suite(void)
{
	Suite *s = suite_create("imap_thread");
	TCase *tc = tcase_create("thread");

	tcase_add_test(tc, test_refs_chain);
	tcase_add_test(tc, test_refs_siblings);
	tcase_add_test(tc, test_refs_rfc_example_shape);
	tcase_add_test(tc, test_refs_missing_parent);
	tcase_add_test(tc, test_refs_own_references_win);
	tcase_add_test(tc, test_refs_cycles);
	tcase_add_test(tc, test_refs_duplicate_and_missing_ids);
	tcase_add_test(tc, test_refs_subject_grouping);
	tcase_add_test(tc, test_refs_sorted_by_date);
	tcase_add_test(tc, test_refs_deep);
	tcase_add_test(tc, test_refs_long_references);
	tcase_add_test(tc, test_refs_loop_probes);
	tcase_add_test(tc, test_refs_hash_flood);
	tcase_add_test(tc, test_refs_random_tangles);
	tcase_add_test(tc, test_refs_empty);
	tcase_add_test(tc, test_orderedsubject);
	tcase_add_test(tc, test_sort_keys);
	tcase_add_test(tc, test_fold);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(thread_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
