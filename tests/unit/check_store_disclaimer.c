/*
 * check_store_disclaimer.c - disclaimer rules (store/disclaimer.h):
 * put/get/del/list round trips with every field, name order, pattern
 * normalisation and matching (address, user+ext, @domain, any, <>),
 * what put refuses (bad names, patterns, texts: empty, NUL, not UTF-8,
 * long lines), a damaged row found by store check, and stores made
 * before the table.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/disclaimer.h"
#include "store/private.h"
#include "testutil.h"

static Suite	*disc_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("disclaimer");
	st = tu_open(dir);
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

struct args {
	struct store_disclaimer	 d;
	const char		*name;
	int			 replace;
	char			 seen[2048];
};

static int
put_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_disclaimer_put(t, &a->d, a->replace);
}

/* A rule with a text and no exceptions. */
static int
put(const char *name, const char *sender, const char *rcpt,
    const char *text, int replace)
{
	struct args a;

	memset(&a, 0, sizeof(a));
	snprintf(a.d.name, sizeof(a.d.name), "%s", name);
	snprintf(a.d.sender, sizeof(a.d.sender), "%s", sender);
	snprintf(a.d.recipient, sizeof(a.d.recipient), "%s", rcpt);
	a.d.text = (char *)text;
	a.d.textlen = strlen(text);
	a.replace = replace;
	return store_write(st, put_fn, &a);
}

static int
list_one(const struct store_disclaimer *d, void *ctx)
{
	struct args *a = ctx;
	size_t n = strlen(a->seen);

	snprintf(a->seen + n, sizeof(a->seen) - n, "%s%s:%s>%s%s", n > 0 ?
	    " " : "", d->name, d->sender, d->recipient,
	    d->not_all_local ? "!" : "");
	return 0;
}

static int
list_fn(struct store_txn *t, void *ctx)
{
	return store_disclaimer_list(t, list_one, ctx);
}

static const char *
list(struct store *s)
{
	static struct args a;

	memset(&a, 0, sizeof(a));
	if (store_read(s, list_fn, &a) == -1)
		return "ERR";
	return a.seen;
}

static int
get_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_disclaimer_get(t, a->name, &a->d);
}

static int
del_fn(struct store_txn *t, void *ctx)
{
	return store_disclaimer_del(t, ((struct args *)ctx)->name);
}

START_TEST(test_round_trip)
{
	store_disclaimer_pat es[2] = { "@Partner.Test", "boss@example.test" };
	store_disclaimer_pat er[1] = { "legal@example.test" };
	struct args a;

	memset(&a, 0, sizeof(a));
	snprintf(a.d.name, sizeof(a.d.name), "10-legal");
	snprintf(a.d.sender, sizeof(a.d.sender), "@Example.TEST");
	snprintf(a.d.recipient, sizeof(a.d.recipient), "*");
	a.d.except_sender = es;
	a.d.nexcept_sender = 2;
	a.d.except_recipient = er;
	a.d.nexcept_recipient = 1;
	a.d.not_all_local = 1;
	a.d.text = "Confidential.\r\nLine 2\n";
	a.d.textlen = strlen(a.d.text);
	a.d.html = "<p>Confidential</p>";
	a.d.htmllen = strlen(a.d.html);
	ck_assert_int_eq(store_write(st, put_fn, &a), 1);
	memset(&a, 0, sizeof(a));
	a.name = "10-legal";
	ck_assert_int_eq(store_read(st, get_fn, &a), 1);
	ck_assert_str_eq(a.d.name, "10-legal");
	ck_assert_str_eq(a.d.sender, "@example.test");
	ck_assert_str_eq(a.d.recipient, "");
	ck_assert_int_eq(a.d.nexcept_sender, 2);
	ck_assert_str_eq(a.d.except_sender[0], "@partner.test");
	ck_assert_str_eq(a.d.except_sender[1], "boss@example.test");
	ck_assert_int_eq(a.d.nexcept_recipient, 1);
	ck_assert_str_eq(a.d.except_recipient[0], "legal@example.test");
	ck_assert_int_eq(a.d.not_all_local, 1);
	ck_assert_int_eq(a.d.textlen, strlen("Confidential.\r\nLine 2\n"));
	ck_assert(memcmp(a.d.text, "Confidential.\r\nLine 2\n",
	    a.d.textlen) == 0);
	ck_assert_str_eq(a.d.html, "<p>Confidential</p>");
	store_disclaimer_clear(&a.d);
	/* without HTML; list in name order */
	ck_assert_int_eq(put("02-all", "", "", "x", 0), 1);
	ck_assert_int_eq(put("zz", "a@example.test", "@remote.test", "y", 0),
	    1);
	ck_assert_str_eq(list(st), "02-all:> 10-legal:@example.test>! "
	    "zz:a@example.test>@remote.test");
	memset(&a, 0, sizeof(a));
	a.name = "02-all";
	ck_assert_int_eq(store_read(st, get_fn, &a), 1);
	ck_assert_ptr_null(a.d.html);
	ck_assert_str_eq(a.d.text, "x");
	store_disclaimer_clear(&a.d);
	/* the same name again: EXISTS, unless replaced */
	ck_assert_int_eq(put("zz", "", "", "z", 0), -1);
	ck_assert_int_eq(err_class(), ERR_EXISTS);
	ck_assert_int_eq(put("zz", "", "", "z", 1), 1);
	ck_assert_str_eq(list(st), "02-all:> 10-legal:@example.test>! zz:>");
	a.name = "zz";
	ck_assert_int_eq(store_write(st, del_fn, &a), 1);
	ck_assert_int_eq(store_write(st, del_fn, &a), 0);
	memset(&a, 0, sizeof(a));
	a.name = "zz";
	ck_assert_int_eq(store_read(st, get_fn, &a), 0);
	ck_assert_str_eq(a.d.name, "");
	ck_assert_str_eq(list(st), "02-all:> 10-legal:@example.test>!");
}
END_TEST

START_TEST(test_refuses)
{
	char big[STORE_DISCLAIMER_LINE_MAX + 2];

	ck_assert_int_eq(put("", "", "", "x", 0), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(put("a b", "", "", "x", 0), -1);
	ck_assert_int_eq(put("-x", "", "", "x", 0), -1);
	ck_assert_int_eq(put("ok", "user", "", "x", 0), -1);
	ck_assert_msg(strstr(err_msg(), "'user'") != NULL, "%s", err_msg());
	ck_assert_int_eq(put("ok", "", "a@b@c", "x", 0), -1);
	ck_assert_int_eq(put("ok", "", "a@", "x", 0), -1);
	ck_assert_int_eq(put("ok", "", "", "", 0), -1);
	ck_assert_msg(strstr(err_msg(), "empty") != NULL, "%s", err_msg());
	ck_assert_int_eq(put("ok", "", "", "caf\xe9\n", 0), -1);
	ck_assert_msg(strstr(err_msg(), "UTF-8") != NULL, "%s", err_msg());
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(put("ok", "", "", big, 0), -1);
	ck_assert_msg(strstr(err_msg(), "line 1") != NULL, "%s", err_msg());
	big[STORE_DISCLAIMER_LINE_MAX] = '\n';
	ck_assert_int_eq(put("ok", "", "", big, 0), 1);
	ck_assert_int_eq(store_disclaimer_text_check("text", "a\nb\0c", 5),
	    -1);
	ck_assert_msg(strstr(err_msg(), "NUL byte (line 2)") != NULL, "%s",
	    err_msg());
	ck_assert_str_eq(list(st), "ok:>");
}
END_TEST

START_TEST(test_match)
{
	ck_assert_int_eq(store_disclaimer_match("", "a@example.test"), 1);
	ck_assert_int_eq(store_disclaimer_match("", ""), 1);
	ck_assert_int_eq(store_disclaimer_match("@example.test", ""), 0);
	ck_assert_int_eq(store_disclaimer_match("@example.test",
	    "Who@EXAMPLE.test"), 1);
	ck_assert_int_eq(store_disclaimer_match("@example.test",
	    "who@sub.example.test"), 0);
	ck_assert_int_eq(store_disclaimer_match("a@example.test",
	    "A@example.test"), 1);
	ck_assert_int_eq(store_disclaimer_match("a@example.test",
	    "a+news@example.test"), 1);
	ck_assert_int_eq(store_disclaimer_match("a@example.test",
	    "ab@example.test"), 0);
	ck_assert_int_eq(store_disclaimer_match("a@example.test",
	    "a@example.testx"), 0);
	ck_assert_int_eq(store_disclaimer_match("a@example.test", "junk"), 0);
}
END_TEST

struct problems {
	int	n;
	char	last[512];
};

static void
problem(const char *msg, void *ctx)
{
	struct problems *p = ctx;

	p->n++;
	snprintf(p->last, sizeof(p->last), "%s", msg);
}

static int
damage_fn(struct store_txn *t, void *ctx)
{
	static const uint8_t v[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 7 };

	(void)ctx;
	return sdb_put(t, DB_DISCLAIMER, "bad", 3, v, sizeof(v), 0) == -1 ?
	    -1 : 0;
}

START_TEST(test_damaged)
{
	struct problems pr = { 0, "" };

	ck_assert_int_eq(put("good", "", "", "x", 0), 1);
	ck_assert_int_eq(store_check(st, problem, &pr), 0);
	ck_assert_int_eq(store_write(st, damage_fn, NULL), 0);
	ck_assert_str_eq(list(st), "ERR");
	ck_assert_int_eq(err_class(), ERR_CORRUPT);
	ck_assert_int_eq(store_check(st, problem, &pr), 1);
	ck_assert_msg(strstr(pr.last, "disclaimer bad") != NULL, "%s",
	    pr.last);
}
END_TEST

static int
drop_fn(struct store_txn *t, void *ctx)
{
	MDB_dbi dbi;

	(void)ctx;
	if (mdb_dbi_open(t->txn, "disclaimer", 0, &dbi) != 0 ||
	    mdb_drop(t->txn, dbi, 1) != 0)
		return err_set(ERR_TEMP, "cannot drop disclaimer");
	return 0;
}

/*
 * A store made before the table: read-only opens see no rules, a
 * writable open creates it.
 */
START_TEST(test_old_store)
{
	struct store *ro = NULL;

	ck_assert_int_eq(put("a", "", "", "x", 0), 1);
	ck_assert_int_eq(store_write(st, drop_fn, NULL), 0);
	store_close(&st);
	ck_assert_msg(store_open(dir, STORE_RDONLY | STORE_NOCREATE, &ro) ==
	    0, "read-only open: %s", err_msg());
	ck_assert_str_eq(list(ro), "");
	store_close(&ro);
	st = tu_open(dir);
	ck_assert_str_eq(list(st), "");
	ck_assert_int_eq(put("a", "", "", "x", 0), 1);
	ck_assert_str_eq(list(st), "a:>");
}
END_TEST

static Suite *
disc_suite(void)
{
	Suite *s = suite_create("store_disclaimer");
	TCase *tc = tcase_create("disclaimer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_refuses);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_damaged);
	tcase_add_test(tc, test_old_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(disc_suite());
}
