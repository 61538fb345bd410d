/*
 * check_store_domain.c - local domains and alias domains.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/addr.h"
#include "testutil.h"

static Suite	*domain_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("domain");
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

struct dop {
	const char		*a, *b;
	struct store_domain	*d;
	char			 names[16][STORE_DOMAIN_MAX + 1];
	size_t			 n;
};

static int
alias_fn(struct store_txn *txn, void *ctx)
{
	struct dop *o = ctx;

	return store_domain_alias(txn, o->a, o->b);
}

static int
del_fn(struct store_txn *txn, void *ctx)
{
	struct dop *o = ctx;

	return store_domain_del(txn, o->a);
}

static int
get_fn(struct store_txn *txn, void *ctx)
{
	struct dop *o = ctx;

	return store_domain_get(txn, o->a, o->d);
}

static int
list_one(const struct store_domain *d, void *ctx)
{
	struct dop *o = ctx;

	if (o->n < 16)
		snprintf(o->names[o->n], sizeof(o->names[0]), "%s", d->name);
	o->n++;
	return 0;
}

static int
list_fn(struct store_txn *txn, void *ctx)
{
	return store_domain_list(txn, list_one, ctx);
}

static int
domain_alias(const char *alias, const char *target)
{
	struct dop o = { .a = alias, .b = target };

	return store_write(st, alias_fn, &o);
}

static int
domain_del(const char *name)
{
	struct dop o = { .a = name };

	return store_write(st, del_fn, &o);
}

static int
domain_get(const char *name, struct store_domain *d)
{
	struct dop o = { .a = name, .d = d };

	memset(d, 0, sizeof(*d));
	return store_read(st, get_fn, &o);
}

static void
expect_err(int rc, enum err_class want, const char *what)
{
	ck_assert_msg(rc == -1, "%s returned %d, wanted -1 (%s)", what, rc,
	    err_class_name(want));
	ck_assert_msg(err_class() == want, "%s failed with %s, wanted %s",
	    what, tu_err(), err_class_name(want));
}

START_TEST(test_add_get_case)
{
	struct store_domain d, d2;
	int rc;

	rc = tu_domain_add(st, "Example.TEST");
	ck_assert_msg(rc == 1, "domain_add returned %d: %s", rc, tu_err());
	rc = domain_get("example.test", &d);
	ck_assert_msg(rc == 1, "get lower case returned %d", rc);
	ck_assert_msg(strcmp(d.name, "example.test") == 0, "stored name \"%s\","
	    " wanted lower case", d.name);
	ck_assert_msg(d.alias_of[0] == '\0', "new domain has alias_of \"%s\"",
	    d.alias_of);
	ck_assert_msg(d.id != 0, "new domain has id 0");
	rc = domain_get("EXAMPLE.test", &d2);
	ck_assert_msg(rc == 1 && d2.id == d.id, "get in other case: rc %d id "
	    "%u (wanted %u)", rc, d2.id, d.id);
	rc = domain_get("other.test", &d2);
	ck_assert_msg(rc == 0, "get of unknown domain returned %d", rc);
}
END_TEST

START_TEST(test_add_exists_invalid)
{
	static const char *bad[] = { "", "nodot..test", "sp ace.test",
	    ".lead.test", "trail.test..", "a@b.test", "semi;colon.test",
	    "new\nline.test" };
	char longname[STORE_DOMAIN_MAX + 20];
	char what[400];
	size_t i;
	int rc;

	rc = tu_domain_add(st, "example.test");
	ck_assert_msg(rc == 1, "first add returned %d: %s", rc, tu_err());
	expect_err(tu_domain_add(st, "example.test"), ERR_EXISTS,
	    "second add of example.test");
	expect_err(tu_domain_add(st, "EXAMPLE.Test"), ERR_EXISTS,
	    "add of EXAMPLE.Test after example.test");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(what, sizeof(what), "domain_add(\"%s\")", bad[i]);
		expect_err(tu_domain_add(st, bad[i]), ERR_INVALID, what);
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname + sizeof(longname) - 6, ".test", 5);
	expect_err(tu_domain_add(st, longname), ERR_INVALID,
	    "domain_add of a 274-byte name");
}
END_TEST

START_TEST(test_list_order)
{
	struct dop o = { 0 };
	int rc;

	tu_domain_add(st, "zeta.test");
	tu_domain_add(st, "alpha.test");
	tu_domain_add(st, "mid.test");
	rc = store_read(st, list_fn, &o);
	ck_assert_msg(rc >= 0, "list returned %d: %s", rc, tu_err());
	ck_assert_msg(o.n == 3, "listed %zu domains, wanted 3", o.n);
	ck_assert_msg(strcmp(o.names[0], "alpha.test") == 0 &&
	    strcmp(o.names[1], "mid.test") == 0 &&
	    strcmp(o.names[2], "zeta.test") == 0, "order %s, %s, %s; wanted "
	    "name order", o.names[0], o.names[1], o.names[2]);
}
END_TEST

START_TEST(test_alias_domain)
{
	struct store_domain d;
	struct store_user u;
	uint32_t id;
	int rc;

	ck_assert_int_eq(tu_domain_add(st, "example.test"), 1);
	ck_assert_int_eq(tu_domain_add(st, "example.org"), 1);
	rc = domain_alias("example.org", "example.test");
	ck_assert_msg(rc == 1, "domain_alias returned %d: %s", rc, tu_err());
	rc = domain_get("example.org", &d);
	ck_assert_msg(rc == 1 && strcmp(d.alias_of, "example.test") == 0,
	    "alias domain: rc %d alias_of \"%s\"", rc, d.alias_of);

	/* Users live in the local domain; none in the alias domain. */
	rc = tu_user_add(st, "bob@example.org", NULL, 0, 0, &id);
	ck_assert_msg(rc == -1, "user_add in an alias domain returned %d", rc);
	rc = tu_user_add(st, "bob@example.test", NULL, 0, 0, &id);
	ck_assert_msg(rc == 1, "user_add returned %d: %s", rc, tu_err());
	rc = tu_user_get(st, id, &u);
	ck_assert_msg(rc == 1, "user_get returned %d", rc);

	/* An alias of an alias, of a missing domain, of itself: refused. */
	ck_assert_int_eq(tu_domain_add(st, "example.net"), 1);
	rc = domain_alias("example.net", "example.org");
	ck_assert_msg(rc == -1, "alias of an alias domain returned %d", rc);
	rc = domain_alias("example.net", "missing.test");
	expect_err(rc, ERR_NOTFOUND, "alias of a missing domain");
	rc = domain_alias("example.net", "example.net");
	ck_assert_msg(rc == -1, "alias of itself returned %d", rc);
	/* A domain with users cannot become an alias. */
	rc = domain_alias("example.test", "example.net");
	ck_assert_msg(rc == -1, "aliasing a domain that has users returned %d",
	    rc);
}
END_TEST

START_TEST(test_delete)
{
	struct store_domain d;
	uint32_t id;
	int rc;

	expect_err(domain_del("missing.test"), ERR_NOTFOUND,
	    "delete of a missing domain");

	ck_assert_int_eq(tu_domain_add(st, "empty.test"), 1);
	rc = domain_del("EMPTY.test");
	ck_assert_msg(rc == 1, "delete of an empty domain returned %d: %s",
	    rc, tu_err());
	ck_assert_msg(domain_get("empty.test", &d) == 0, "deleted domain is "
	    "still found");

	/* Users, then alias domains, keep a domain alive. */
	ck_assert_int_eq(tu_domain_add(st, "example.test"), 1);
	ck_assert_int_eq(tu_domain_add(st, "alias.test"), 1);
	ck_assert_int_eq(domain_alias("alias.test", "example.test"), 1);
	rc = tu_user_add(st, "u@example.test", NULL, 0, 0, &id);
	ck_assert_msg(rc == 1, "user_add returned %d: %s", rc, tu_err());
	expect_err(domain_del("example.test"), ERR_INUSE,
	    "delete of a domain with a user and an alias domain");
	ck_assert_msg(strlen(err_msg()) > 0, "INUSE without a message");
	ck_assert_int_eq(tu_user_del(st, id), 1);
	expect_err(domain_del("example.test"), ERR_INUSE,
	    "delete of a domain that an alias domain points at");
	rc = domain_del("alias.test");
	ck_assert_msg(rc == 1, "delete of the alias domain returned %d: %s",
	    rc, tu_err());
	rc = domain_del("example.test");
	ck_assert_msg(rc == 1, "delete of the now unused domain returned %d:"
	    " %s", rc, tu_err());
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
}
END_TEST

static int
addr_add_fn(struct store_txn *txn, void *ctx)
{
	static const char *targets[] = { "someone@elsewhere.test" };
	struct dop *o = ctx;

	return store_addr_add(txn, o->a, targets, 1);
}

static int
addr_del_fn(struct store_txn *txn, void *ctx)
{
	struct dop *o = ctx;

	return store_addr_del(txn, o->a, NULL);
}

/* A route (a forward, no user) also keeps its domain alive. */
START_TEST(test_delete_with_routes)
{
	struct dop o = { .a = "info@example.test" };
	int rc;

	ck_assert_int_eq(tu_domain_add(st, "example.test"), 1);
	rc = store_write(st, addr_add_fn, &o);
	ck_assert_msg(rc == 1, "addr_add returned %d: %s", rc, tu_err());
	expect_err(domain_del("example.test"), ERR_INUSE,
	    "delete of a domain with a forward route");
	rc = store_write(st, addr_del_fn, &o);
	ck_assert_msg(rc == 1, "addr_del returned %d: %s", rc, tu_err());
	rc = domain_del("example.test");
	ck_assert_msg(rc == 1, "delete after removing the route returned %d:"
	    " %s", rc, tu_err());
}
END_TEST

START_TEST(test_normalize)
{
	char buf[STORE_DOMAIN_MAX + 1];
	int rc;

	rc = store_domain_normalize("MiXeD.Example.TEST", buf);
	ck_assert_msg(rc >= 0 && strcmp(buf, "mixed.example.test") == 0,
	    "normalize gave rc %d \"%s\"", rc, rc >= 0 ? buf : "");
	rc = store_domain_normalize("bad domain", buf);
	expect_err(rc, ERR_INVALID, "normalize(\"bad domain\")");
}
END_TEST

static Suite *
domain_suite(void)
{
	Suite *s = suite_create("store_domain");
	TCase *tc;

	tc = tcase_create("domain");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_add_get_case);
	tcase_add_test(tc, test_add_exists_invalid);
	tcase_add_test(tc, test_list_order);
	tcase_add_test(tc, test_alias_domain);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_delete_with_routes);
	tcase_add_test(tc, test_normalize);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(domain_suite());
}
