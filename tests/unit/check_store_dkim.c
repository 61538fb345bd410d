/*
 * check_store_dkim.c - DKIM keys (store/dkim.h): put/get/list/delete
 * round trips and order, selector syntax, what put refuses and why, a
 * damaged record found by get and store check, the keys of a deleted
 * domain, and stores made before the table.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/dkim.h"
#include "store/private.h"
#include "testutil.h"

#define PEM	"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n" \
		"-----END PRIVATE KEY-----\n"

static Suite	*dkim_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("dkim");
	st = tu_open(dir);
	ck_assert_int_eq(tu_domain_add(st, "example.test"), 1);
	ck_assert_int_eq(tu_domain_add(st, "example.testx"), 1);
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
	struct store_dkim_key	 k;
	const char		*domain, *selector;
	char			 seen[1024];
	int			 n;
};

static int
put_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_dkim_put(t, &a->k);
}

static int
put(const char *domain, const char *selector, enum store_dkim_alg alg,
    const char *pem)
{
	struct args a;

	memset(&a, 0, sizeof(a));
	snprintf(a.k.domain, sizeof(a.k.domain), "%s", domain);
	snprintf(a.k.selector, sizeof(a.k.selector), "%s", selector);
	a.k.alg = alg;
	snprintf(a.k.key, sizeof(a.k.key), "%s", pem);
	return store_write(st, put_fn, &a);
}

static int
get_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_dkim_get(t, a->domain, a->selector, &a->k);
}

static int
del_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_dkim_del(t, a->domain, a->selector);
}

static int
list_one(const struct store_dkim_key *k, void *ctx)
{
	struct args *a = ctx;
	size_t n = strlen(a->seen);

	snprintf(a->seen + n, sizeof(a->seen) - n, "%s%s/%s", n > 0 ? " " :
	    "", k->domain, k->selector);
	a->n++;
	return 0;
}

static int
list_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	a->seen[0] = '\0';
	a->n = 0;
	return store_dkim_list(t, a->domain, list_one, a);
}

static const char *
list(struct store *s, const char *domain)
{
	static struct args a;

	memset(&a, 0, sizeof(a));
	a.domain = domain;
	ck_assert_msg(store_read(s, list_fn, &a) == 0, "list: %s", err_msg());
	return a.seen;
}

START_TEST(test_round_trip)
{
	struct args a;

	ck_assert_int_eq(put("Example.TEST", "Rsa.2026", STORE_DKIM_RSA, PEM),
	    1);
	ck_assert_int_eq(put("example.test", "ed", STORE_DKIM_ED25519, PEM), 1);
	ck_assert_int_eq(put("example.testx", "a", STORE_DKIM_RSA, PEM), 1);
	memset(&a, 0, sizeof(a));
	a.domain = "EXAMPLE.test";
	a.selector = "RSA.2026";
	ck_assert_int_eq(store_read(st, get_fn, &a), 1);
	ck_assert_str_eq(a.k.domain, "example.test");
	ck_assert_str_eq(a.k.selector, "rsa.2026");
	ck_assert_int_eq(a.k.alg, STORE_DKIM_RSA);
	ck_assert_str_eq(a.k.key, PEM);
	ck_assert_msg(a.k.created > 0, "created is set");
	/* one domain's keys only: example.test is a prefix of .testx */
	ck_assert_str_eq(list(st, "example.test"),
	    "example.test/ed example.test/rsa.2026");
	ck_assert_str_eq(list(st, NULL), "example.test/ed "
	    "example.test/rsa.2026 example.testx/a");
	ck_assert_str_eq(list(st, "other.test"), "");
	a.selector = "ed";
	ck_assert_int_eq(store_write(st, del_fn, &a), 1);
	ck_assert_int_eq(store_write(st, del_fn, &a), 0);
	ck_assert_int_eq(store_read(st, get_fn, &a), 0);
	ck_assert_str_eq(list(st, "example.test"), "example.test/rsa.2026");
}
END_TEST

START_TEST(test_selectors)
{
	static const char *good[] = { "a", "s1", "mail-2026", "a.b.c",
	    "0x", "ABC", NULL };
	static const char *bad[] = { "", ".", "a.", ".a", "a..b", "-a", "a-",
	    "a-.b", "a_b", "a b", "a/b", "\xc3\xa9", NULL };
	char buf[STORE_DKIM_SELECTOR_MAX + 1], longsel[200];
	size_t i;

	for (i = 0; good[i] != NULL; i++)
		ck_assert_msg(store_dkim_selector_normalize(good[i], buf) == 0,
		    "'%s' is a selector: %s", good[i], err_msg());
	for (i = 0; bad[i] != NULL; i++) {
		ck_assert_msg(store_dkim_selector_normalize(bad[i], buf) == -1,
		    "'%s' is not a selector", bad[i]);
		ck_assert_int_eq(err_class(), ERR_INVALID);
	}
	memset(longsel, 'a', 64);
	longsel[64] = '\0';
	ck_assert_int_eq(store_dkim_selector_normalize(longsel, buf), -1);
	ck_assert_msg(strstr(err_msg(), "longer than 63") != NULL, "%s",
	    err_msg());
	memset(longsel, 'a', sizeof(longsel) - 1);
	for (i = 60; i < sizeof(longsel) - 1; i += 61)
		longsel[i] = '.';
	longsel[sizeof(longsel) - 1] = '\0';
	ck_assert_int_eq(store_dkim_selector_normalize(longsel, buf), -1);
}
END_TEST

START_TEST(test_put_refuses)
{
	char sel[130];

	ck_assert_int_eq(put("nowhere.test", "s", STORE_DKIM_RSA, PEM), -1);
	ck_assert_int_eq(err_class(), ERR_NOTFOUND);
	ck_assert_msg(strstr(err_msg(), "nowhere.test") != NULL, "%s",
	    err_msg());
	ck_assert_int_eq(put("example.test", "s", STORE_DKIM_RSA, PEM), 1);
	ck_assert_int_eq(put("example.test", "S", STORE_DKIM_ED25519, PEM), -1);
	ck_assert_int_eq(err_class(), ERR_EXISTS);
	ck_assert_int_eq(put("example.test", "t", STORE_DKIM_RSA, ""), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(put("example.test", "t", STORE_DKIM_RSA, "MIIE..."),
	    -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(put("example.test", "t", (enum store_dkim_alg)7, PEM),
	    -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(put("example.test", "a_b", STORE_DKIM_RSA, PEM), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(put("not a domain", "t", STORE_DKIM_RSA, PEM), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	/* selector + "._domainkey." + domain over 253 bytes */
	memset(sel, 'a', 63);
	sel[63] = '.';
	memset(sel + 64, 'b', 63);
	sel[127] = '\0';
	ck_assert_int_eq(tu_domain_add(st, "d123456789012345678901234567890"
	    "12345678901234567890.d12345678901234567890123456789012345678"
	    "90123456789012345678.test"), 1);
	ck_assert_int_eq(put("d123456789012345678901234567890"
	    "12345678901234567890.d12345678901234567890123456789012345678"
	    "90123456789012345678.test", sel, STORE_DKIM_RSA, PEM), -1);
	ck_assert_msg(strstr(err_msg(), "longer than a DNS name") != NULL,
	    "%s", err_msg());
	ck_assert_str_eq(list(st, NULL), "example.test/s");
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
	static const char key[] = "example.test\0s";
	static const uint8_t v[] = { 1, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
	    'x' };

	(void)ctx;
	return sdb_put(t, DB_DKIM, key, sizeof(key) - 1, v, sizeof(v), 0) ==
	    -1 ? -1 : 0;
}

START_TEST(test_damaged)
{
	struct problems pr = { 0, "" };
	struct args a;

	ck_assert_int_eq(put("example.test", "s", STORE_DKIM_RSA, PEM), 1);
	ck_assert_int_eq(store_check(st, problem, &pr), 0);
	/* algorithm 9 */
	ck_assert_int_eq(store_write(st, damage_fn, NULL), 0);
	memset(&a, 0, sizeof(a));
	a.domain = "example.test";
	a.selector = "s";
	ck_assert_int_eq(store_read(st, get_fn, &a), -1);
	ck_assert_int_eq(err_class(), ERR_CORRUPT);
	ck_assert_int_eq(store_check(st, problem, &pr), 1);
	ck_assert_msg(strstr(pr.last, "dkim") != NULL, "%s", pr.last);
}
END_TEST

static int
domain_del_fn(struct store_txn *t, void *ctx)
{
	return store_domain_del(t, ctx);
}

START_TEST(test_domain_del)
{
	ck_assert_int_eq(put("example.test", "a", STORE_DKIM_RSA, PEM), 1);
	ck_assert_int_eq(put("example.test", "b", STORE_DKIM_ED25519, PEM), 1);
	ck_assert_int_eq(put("example.testx", "a", STORE_DKIM_RSA, PEM), 1);
	ck_assert_int_eq(store_write(st, domain_del_fn, "example.test"), 1);
	ck_assert_str_eq(list(st, NULL), "example.testx/a");
	ck_assert_int_eq(tu_domain_add(st, "example.test"), 1);
	ck_assert_str_eq(list(st, "example.test"), "");
}
END_TEST

static int
drop_fn(struct store_txn *t, void *ctx)
{
	MDB_dbi dbi;

	(void)ctx;
	if (mdb_dbi_open(t->txn, "dkim", 0, &dbi) != 0 ||
	    mdb_drop(t->txn, dbi, 1) != 0)
		return err_set(ERR_TEMP, "cannot drop dkim");
	return 0;
}

/*
 * A store made before the table: read-only opens see no keys, a
 * writable open creates it.
 */
START_TEST(test_old_store)
{
	struct store *ro = NULL;

	ck_assert_int_eq(put("example.test", "a", STORE_DKIM_RSA, PEM), 1);
	ck_assert_int_eq(store_write(st, drop_fn, NULL), 0);
	store_close(&st);
	ck_assert_msg(store_open(dir, STORE_RDONLY | STORE_NOCREATE, &ro) ==
	    0, "read-only open: %s", err_msg());
	ck_assert_str_eq(list(ro, NULL), "");
	store_close(&ro);
	st = tu_open(dir);
	ck_assert_str_eq(list(st, NULL), "");
	ck_assert_int_eq(put("example.test", "a", STORE_DKIM_RSA, PEM), 1);
	ck_assert_str_eq(list(st, NULL), "example.test/a");
}
END_TEST

static Suite *
dkim_suite(void)
{
	Suite *s = suite_create("store_dkim");
	TCase *tc = tcase_create("dkim");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_selectors);
	tcase_add_test(tc, test_put_refuses);
	tcase_add_test(tc, test_damaged);
	tcase_add_test(tc, test_domain_del);
	tcase_add_test(tc, test_old_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(dkim_suite());
}
