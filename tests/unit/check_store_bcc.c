/*
 * check_store_bcc.c - automatic BCC rules (store/bcc.h): add/get/del/list
 * round trips, key and target normalisation, the lookup order (address,
 * user without +ext, @domain), what add refuses, the Postfix map parser
 * (comments, continuations, CRLF, duplicates, errors with their line),
 * a damaged row found by store check, and stores made before the table.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/bcc.h"
#include "store/private.h"
#include "testutil.h"

static Suite	*bcc_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("bcc");
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
	struct store_bcc	 b;
	enum store_bcc_kind	 kind;
	const char		*addr;
	char			 seen[1024];
};

static int
add_fn(struct store_txn *t, void *ctx)
{
	return store_bcc_add(t, &((struct args *)ctx)->b);
}

static int
add(enum store_bcc_kind kind, const char *key, const char *target)
{
	struct args a;

	memset(&a, 0, sizeof(a));
	a.b.kind = kind;
	snprintf(a.b.key, sizeof(a.b.key), "%s", key != NULL ? key : "");
	snprintf(a.b.target, sizeof(a.b.target), "%s", target);
	return store_write(st, add_fn, &a);
}

static int
del_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_bcc_del(t, a->kind, a->addr);
}

static int
del(enum store_bcc_kind kind, const char *key)
{
	struct args a;

	memset(&a, 0, sizeof(a));
	a.kind = kind;
	a.addr = key;
	return store_write(st, del_fn, &a);
}

static int
lookup_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_bcc_lookup(t, a->kind, a->addr, &a->b);
}

/* "key>target" of the rule found, "" none, "ERR" on error. */
static const char *
lookup(enum store_bcc_kind kind, const char *addr)
{
	static char buf[700];
	struct args a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.kind = kind;
	a.addr = addr;
	rc = store_read(st, lookup_fn, &a);
	if (rc == -1)
		return "ERR";
	if (rc == 0)
		return "";
	snprintf(buf, sizeof(buf), "%s>%s", a.b.key, a.b.target);
	return buf;
}

static int
list_one(const struct store_bcc *b, void *ctx)
{
	struct args *a = ctx;
	size_t n = strlen(a->seen);

	snprintf(a->seen + n, sizeof(a->seen) - n, "%s%c:%s>%s",
	    n > 0 ? " " : "", (char)b->kind, b->key, b->target);
	return 0;
}

static int
list_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	a->seen[0] = '\0';
	return store_bcc_list(t, a->kind, list_one, a);
}

static const char *
list(struct store *s, enum store_bcc_kind kind)
{
	static struct args a;

	memset(&a, 0, sizeof(a));
	a.kind = kind;
	if (store_read(s, list_fn, &a) == -1)
		return "ERR";
	return a.seen;
}

START_TEST(test_round_trip)
{
	ck_assert_int_eq(add(STORE_BCC_SENDER, "Boss@Example.TEST",
	    "<Archive@Example.test>"), 1);
	ck_assert_int_eq(add(STORE_BCC_RECIPIENT, "@example.test",
	    "arch@example.test"), 1);
	ck_assert_int_eq(add(STORE_BCC_ALL, "", "all@remote.test"), 1);
	/* the same rule again: nothing new */
	ck_assert_int_eq(add(STORE_BCC_SENDER, "boss@example.test",
	    "archive@example.test"), 0);
	ck_assert_str_eq(list(st, 0), "a:>all@remote.test "
	    "r:@example.test>arch@example.test "
	    "s:boss@example.test>archive@example.test");
	ck_assert_str_eq(list(st, STORE_BCC_RECIPIENT),
	    "r:@example.test>arch@example.test");
	ck_assert_int_eq(del(STORE_BCC_SENDER, "BOSS@example.test"), 1);
	ck_assert_int_eq(del(STORE_BCC_SENDER, "boss@example.test"), 0);
	ck_assert_int_eq(del(STORE_BCC_ALL, NULL), 1);
	ck_assert_str_eq(list(st, 0), "r:@example.test>arch@example.test");
}
END_TEST

START_TEST(test_refuses)
{
	ck_assert_int_eq(add(STORE_BCC_SENDER, "a@example.test",
	    "one@example.test"), 1);
	ck_assert_int_eq(add(STORE_BCC_SENDER, "a@example.test",
	    "two@example.test"), -1);
	ck_assert_int_eq(err_class(), ERR_EXISTS);
	ck_assert_msg(strstr(err_msg(), "one@example.test") != NULL, "%s",
	    err_msg());
	ck_assert_int_eq(add(STORE_BCC_SENDER, "", "x@example.test"), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(add(STORE_BCC_SENDER, "justuser", "x@example.test"),
	    -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_msg(strstr(err_msg(), "user@domain") != NULL, "%s",
	    err_msg());
	ck_assert_int_eq(add(STORE_BCC_RECIPIENT, "b@bad..domain",
	    "x@example.test"), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	/* a target is an address, never @domain */
	ck_assert_int_eq(add(STORE_BCC_RECIPIENT, "b@example.test",
	    "@example.test"), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(add(STORE_BCC_RECIPIENT, "b@example.test", "nobody"),
	    -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(add(STORE_BCC_ALL, "a@example.test",
	    "x@example.test"), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(add((enum store_bcc_kind)'x', "a@example.test",
	    "x@example.test"), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_str_eq(list(st, 0), "s:a@example.test>one@example.test");
}
END_TEST

/* Postfix's order: user+ext@domain, user@domain, @domain. */
START_TEST(test_lookup_order)
{
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "bob@example.test"), "");
	ck_assert_int_eq(add(STORE_BCC_RECIPIENT, "@example.test",
	    "dom@arch.test"), 1);
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "Bob+Tag@EXAMPLE.test"),
	    "@example.test>dom@arch.test");
	ck_assert_int_eq(add(STORE_BCC_RECIPIENT, "bob@example.test",
	    "bob@arch.test"), 1);
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "bob+tag@example.test"),
	    "bob@example.test>bob@arch.test");
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "<bob@example.test>"),
	    "bob@example.test>bob@arch.test");
	ck_assert_int_eq(add(STORE_BCC_RECIPIENT, "bob+tag@example.test",
	    "tag@arch.test"), 1);
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "bob+tag@example.test"),
	    "bob+tag@example.test>tag@arch.test");
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "bob+other@example.test"),
	    "bob@example.test>bob@arch.test");
	/* "+x@domain" has no user part to fall back to */
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "+x@example.test"),
	    "@example.test>dom@arch.test");
	/* other domains, subdomains, kinds: no rule */
	ck_assert_str_eq(lookup(STORE_BCC_RECIPIENT, "bob@sub.example.test"),
	    "");
	ck_assert_str_eq(lookup(STORE_BCC_SENDER, "bob@example.test"), "");
	/* <> and junk never fail a delivery */
	ck_assert_str_eq(lookup(STORE_BCC_SENDER, ""), "");
	ck_assert_str_eq(lookup(STORE_BCC_SENDER, "not an address"), "");
	ck_assert_str_eq(lookup(STORE_BCC_ALL, NULL), "");
	ck_assert_int_eq(add(STORE_BCC_ALL, NULL, "all@arch.test"), 1);
	ck_assert_str_eq(lookup(STORE_BCC_ALL, NULL), ">all@arch.test");
}
END_TEST

static int
parse(enum store_bcc_kind kind, const char *text, struct store_bcc_map *m,
    unsigned *line)
{
	return store_bcc_map_parse(kind, text, strlen(text), m, line);
}

START_TEST(test_map_parse)
{
	struct store_bcc_map m;
	unsigned line;

	ck_assert_int_eq(parse(STORE_BCC_SENDER,
	    "# sender_bcc_maps\n"
	    "\n"
	    "Boss@Example.test\tarchive@example.test\r\n"
	    "   # an indented comment\n"
	    "@sales.test\n"
	    "\t  sales-archive@example.test\n"
	    "boss@example.test other@example.test\n"
	    "last@example.test last-bcc@example.test", &m, &line), 0);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_uint_eq(m.e[0].lineno, 3);
	ck_assert_str_eq(m.e[0].key, "boss@example.test");
	ck_assert_str_eq(m.e[0].target, "archive@example.test");
	ck_assert_uint_eq(m.e[0].dup_of, 0);
	ck_assert_uint_eq(m.e[1].lineno, 5);
	ck_assert_str_eq(m.e[1].key, "@sales.test");
	ck_assert_str_eq(m.e[1].target, "sales-archive@example.test");
	/* postmap keeps the first of a key */
	ck_assert_uint_eq(m.e[2].lineno, 7);
	ck_assert_uint_eq(m.e[2].dup_of, 3);
	ck_assert_str_eq(m.e[3].target, "last-bcc@example.test");
	store_bcc_map_free(&m);

	ck_assert_int_eq(parse(STORE_BCC_RECIPIENT, "", &m, &line), 0);
	ck_assert_uint_eq(m.n, 0);
	store_bcc_map_free(&m);
}
END_TEST

/* Each bad line fails the whole map, naming its line and the fault. */
START_TEST(test_map_errors)
{
	static const struct {
		const char	*text;
		unsigned	 line;
		const char	*says;
	} bad[] = {
		{ "a@x.test b@x.test\n\nc@x.test\n", 3, "has no BCC address" },
		{ "a@x.test b@x.test c@x.test\n", 1, "one BCC address" },
		{ "a@x.test b@x.test,c@x.test\n", 1, "one BCC address" },
		{ "# c\nuser b@x.test\n", 2, "user@domain" },
		{ "a@x.test\n b@x.test\n c@x.test\n", 1, "one BCC address" },
		{ "a@x.test nobody\n", 1, "not an address" },
		{ "a@x.test @x.test\n", 1, "empty local part" },
		{ "ok@x.test b@x.test\na@bad..test b@x.test\n", 2, "a@bad..test" },
		{ "  a@x.test b@x.test\n", 1, "continuation" },
		{ "a@x.test b@c@x.test\n", 1, "more than one '@'" },
		{ "a@b@x.test c@x.test\n", 1, "more than one '@'" },
	};
	struct store_bcc_map m;
	unsigned line;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		line = 99;
		ck_assert_msg(parse(STORE_BCC_SENDER, bad[i].text, &m, &line) ==
		    -1, "case %zu parsed", i);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		ck_assert_msg(line == bad[i].line, "case %zu: line %u, not %u "
		    "(%s)", i, line, bad[i].line, err_msg());
		ck_assert_msg(strstr(err_msg(), bad[i].says) != NULL,
		    "case %zu: %s", i, err_msg());
		ck_assert_uint_eq(m.n, 0);
		ck_assert_ptr_null(m.e);
	}
	/* a NUL byte */
	ck_assert_int_eq(store_bcc_map_parse(STORE_BCC_SENDER,
	    "a@x.test b@x.test\nc@x\0.test d@x.test\n", 37, &m, &line), -1);
	ck_assert_uint_eq(line, 2);
	/* all is no map */
	ck_assert_int_eq(parse(STORE_BCC_ALL, "a@x.test b@x.test\n", &m,
	    &line), -1);
}
END_TEST

struct problems {
	int	n;
	char	last[512];
};

static void
problem(const char *p, void *ctx)
{
	struct problems *pr = ctx;

	pr->n++;
	snprintf(pr->last, sizeof(pr->last), "%s", p);
}

static int
damage_fn(struct store_txn *t, void *ctx)
{
	static const char key[] = "sa@example.test";
	static const uint8_t v[] = { 1, 0, 0, 0, 3, 'x', 'y', 'z' };

	(void)ctx;
	return sdb_put(t, DB_BCC, key, sizeof(key) - 1, v, sizeof(v), 0) ==
	    -1 ? -1 : 0;
}

START_TEST(test_damaged)
{
	struct problems pr = { 0, "" };

	ck_assert_int_eq(add(STORE_BCC_SENDER, "a@example.test",
	    "b@example.test"), 1);
	ck_assert_int_eq(store_check(st, problem, &pr), 0);
	/* a target that is no address */
	ck_assert_int_eq(store_write(st, damage_fn, NULL), 0);
	ck_assert_str_eq(lookup(STORE_BCC_SENDER, "a@example.test"), "ERR");
	ck_assert_int_eq(err_class(), ERR_CORRUPT);
	ck_assert_int_eq(store_check(st, problem, &pr), 1);
	ck_assert_msg(strstr(pr.last, "bcc") != NULL, "%s", pr.last);
}
END_TEST

static int
drop_fn(struct store_txn *t, void *ctx)
{
	MDB_dbi dbi;

	(void)ctx;
	if (mdb_dbi_open(t->txn, "bcc", 0, &dbi) != 0 ||
	    mdb_drop(t->txn, dbi, 1) != 0)
		return err_set(ERR_TEMP, "cannot drop bcc");
	return 0;
}

/*
 * A store made before the table: read-only opens see no rules, a
 * writable open creates it.
 */
START_TEST(test_old_store)
{
	struct store *ro = NULL;

	ck_assert_int_eq(add(STORE_BCC_ALL, NULL, "a@example.test"), 1);
	ck_assert_int_eq(store_write(st, drop_fn, NULL), 0);
	store_close(&st);
	ck_assert_msg(store_open(dir, STORE_RDONLY | STORE_NOCREATE, &ro) ==
	    0, "read-only open: %s", err_msg());
	ck_assert_str_eq(list(ro, 0), "");
	store_close(&ro);
	st = tu_open(dir);
	ck_assert_str_eq(list(st, 0), "");
	ck_assert_str_eq(lookup(STORE_BCC_ALL, NULL), "");
	ck_assert_int_eq(add(STORE_BCC_ALL, NULL, "a@example.test"), 1);
	ck_assert_str_eq(list(st, 0), "a:>a@example.test");
}
END_TEST

static Suite *
bcc_suite(void)
{
	Suite *s = suite_create("store_bcc");
	TCase *tc = tcase_create("bcc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_refuses);
	tcase_add_test(tc, test_lookup_order);
	tcase_add_test(tc, test_map_parse);
	tcase_add_test(tc, test_map_errors);
	tcase_add_test(tc, test_damaged);
	tcase_add_test(tc, test_old_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(bcc_suite());
}
