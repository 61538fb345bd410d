/*
 * check_store_addr.c - address routes: aliases, forwards, catch-alls.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/addr.h"
#include "store/domain.h"
#include "testutil.h"

static Suite	*addr_suite(void);

static char		*dir;
static struct store	*st;
static uint32_t		 bob, carol;

static int	alias_fn(struct store_txn *, void *);

static void
setup(void)
{
	int rc;

	dir = tu_tmpdir("addr");
	st = tu_open(dir);
	bob = tu_make_user(st, "bob@example.test");
	carol = tu_make_user(st, "carol@example.test");
	ck_assert_int_eq(tu_domain_add(st, "alias.test"), 1);
	rc = store_write(st, alias_fn, NULL);
	ck_assert_msg(rc == 1, "domain_alias returned %d: %s", rc, tu_err());
}

static void
teardown(void)
{
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static int
alias_fn(struct store_txn *txn, void *ctx)
{
	return store_domain_alias(txn, "alias.test", "example.test");
}

static void
expect_err(int rc, enum err_class want, const char *what)
{
	ck_assert_msg(rc == -1, "%s returned %d, wanted -1 (%s)", what, rc,
	    err_class_name(want));
	ck_assert_msg(err_class() == want, "%s failed with %s, wanted %s",
	    what, tu_err(), err_class_name(want));
}

struct aop {
	const char		*addr, *target;
	const char *const	*targets;
	size_t			 ntargets;
	struct store_route	*route;
	/* formatted targets of the route read by route_get() */
	char			 text[8][STORE_ADDRESS_MAX + 1];
	size_t			 nlisted;
};

static int
add_fn(struct store_txn *txn, void *ctx)
{
	struct aop *o = ctx;

	return store_addr_add(txn, o->addr, o->targets, o->ntargets);
}

static int
del_fn(struct store_txn *txn, void *ctx)
{
	struct aop *o = ctx;

	return store_addr_del(txn, o->addr, o->target);
}

static int
get_fn(struct store_txn *txn, void *ctx)
{
	struct aop *o = ctx;
	size_t i;
	int rc;

	rc = store_addr_get(txn, o->addr, o->route);
	if (rc != 1)
		return rc;
	for (i = 0; i < o->route->ntargets && i < 8; i++)
		if (store_target_format(txn, &o->route->targets[i], o->text[i],
		    sizeof(o->text[i])) < 0)
			return -1;
	return rc;
}

static int
list_one(const struct store_route *r, void *ctx)
{
	struct aop *o = ctx;

	o->nlisted++;
	return 0;
}

static int
list_fn(struct store_txn *txn, void *ctx)
{
	return store_addr_list(txn, list_one, ctx);
}

static int
addr_add(const char *addr, const char *const *targets, size_t n)
{
	struct aop o = { .addr = addr, .targets = targets, .ntargets = n };

	return store_write(st, add_fn, &o);
}

static int
addr_del(const char *addr, const char *target)
{
	struct aop o = { .addr = addr, .target = target };

	return store_write(st, del_fn, &o);
}

/* Reads a route; o->text[] gets its targets as text. */
static int
route_get(const char *addr, struct store_route *r, struct aop *o)
{
	memset(o, 0, sizeof(*o));
	memset(r, 0, sizeof(*r));
	o->addr = addr;
	o->route = r;
	return store_read(st, get_fn, o);
}

static const struct store_target *
find_target(const struct store_route *r, const struct aop *o,
    const char *text)
{
	size_t i;

	for (i = 0; i < r->ntargets && i < 8; i++)
		if (strcmp(o->text[i], text) == 0)
			return &r->targets[i];
	return NULL;
}

START_TEST(test_mailbox_route_of_user)
{
	struct store_route r;
	struct aop o;
	int rc;

	rc = route_get("Bob@EXAMPLE.test", &r, &o);
	ck_assert_msg(rc == 1, "route of bob: rc %d: %s", rc, tu_err());
	ck_assert_msg(r.ntargets == 1 && r.targets[0].type ==
	    STORE_TARGET_MAILBOX && r.targets[0].user_id == bob,
	    "bob's route: %zu targets, type %d user %u (wanted mailbox of %u)",
	    r.ntargets, r.ntargets ? (int)r.targets[0].type : -1,
	    r.ntargets ? r.targets[0].user_id : 0, bob);
	ck_assert_msg(strcmp(o.text[0], "bob@example.test") == 0,
	    "mailbox target formats as \"%s\"", o.text[0]);
	ck_assert_msg(strcmp(r.address, "bob@example.test") == 0,
	    "route address \"%s\"", r.address);
	store_route_clear(&r);
	ck_assert_msg(r.targets == NULL, "store_route_clear left targets");
	ck_assert_msg(route_get("nobody@example.test", &r, &o) == 0,
	    "route of a missing address did not return 0");
}
END_TEST

START_TEST(test_alias_and_forward_targets)
{
	static const char *t1[] = { "bob@example.test", "Ext@Remote.Test",
	    "carol@alias.test" };
	static const char *t2[] = { "bob@example.test", "new@remote.test" };
	const struct store_target *t;
	struct store_route r;
	struct aop o;
	int rc;

	rc = addr_add("Info@Example.test", t1, 3);
	ck_assert_msg(rc == 1, "addr_add returned %d: %s", rc, tu_err());
	rc = route_get("info@example.test", &r, &o);
	ck_assert_msg(rc == 1 && r.ntargets == 3, "info route: rc %d, %zu "
	    "targets (wanted 3)", rc, r.ntargets);
	t = find_target(&r, &o, "bob@example.test");
	ck_assert_msg(t != NULL && t->type == STORE_TARGET_ALIAS,
	    "bob@example.test target: %s type %d (wanted alias)",
	    t ? "found" : "missing", t ? (int)t->type : -1);
	t = find_target(&r, &o, "ext@remote.test");
	ck_assert_msg(t != NULL && t->type == STORE_TARGET_FORWARD,
	    "ext@remote.test target: %s type %d (wanted forward); targets "
	    "%s, %s, %s", t ? "found" : "missing", t ? (int)t->type : -1,
	    o.text[0], o.text[1], o.text[2]);
	t = find_target(&r, &o, "carol@alias.test");
	ck_assert_msg(t != NULL && t->type == STORE_TARGET_ALIAS,
	    "carol@alias.test (alias domain) target: %s type %d (wanted "
	    "alias)", t ? "found" : "missing", t ? (int)t->type : -1);
	store_route_clear(&r);

	/* Present targets are skipped, new ones added. */
	rc = addr_add("info@example.test", t2, 2);
	ck_assert_msg(rc == 1, "second addr_add returned %d: %s", rc,
	    tu_err());
	rc = route_get("info@example.test", &r, &o);
	ck_assert_msg(rc == 1 && r.ntargets == 4, "after adding one new and "
	    "one present target: %zu targets (wanted 4)", r.ntargets);
	store_route_clear(&r);

	/* Remove one target, then the whole route. */
	rc = addr_del("info@example.test", "ext@remote.test");
	ck_assert_msg(rc == 1, "del of one target returned %d: %s", rc,
	    tu_err());
	rc = route_get("info@example.test", &r, &o);
	ck_assert_msg(rc == 1 && r.ntargets == 3 &&
	    find_target(&r, &o, "ext@remote.test") == NULL,
	    "after removing ext@remote.test: rc %d, %zu targets", rc,
	    r.ntargets);
	store_route_clear(&r);
	expect_err(addr_del("info@example.test", "never@remote.test"),
	    ERR_NOTFOUND, "del of a target not in the route");
	rc = addr_del("info@example.test", NULL);
	ck_assert_msg(rc == 1, "del of the route returned %d: %s", rc,
	    tu_err());
	ck_assert_msg(route_get("info@example.test", &r, &o) == 0,
	    "deleted route still found");
	expect_err(addr_del("info@example.test", NULL), ERR_NOTFOUND,
	    "second del of the route");
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check: %d problems: %s", rc,
	    tu_check_problems());
}
END_TEST

START_TEST(test_catchall_and_alias_domain)
{
	static const char *tb[] = { "bob@example.test" };
	static const char *tc[] = { "carol@example.test" };
	struct store_route r;
	struct aop o;
	int rc;

	rc = addr_add("@example.test", tb, 1);
	ck_assert_msg(rc == 1, "catch-all addr_add returned %d: %s", rc,
	    tu_err());
	rc = route_get("@EXAMPLE.TEST", &r, &o);
	ck_assert_msg(rc == 1 && r.ntargets == 1 &&
	    strcmp(o.text[0], "bob@example.test") == 0, "catch-all route: rc "
	    "%d, %zu targets, first \"%s\"", rc, r.ntargets, o.text[0]);
	store_route_clear(&r);

	/* A route in an alias domain is allowed. */
	rc = addr_add("sales@alias.test", tc, 1);
	ck_assert_msg(rc == 1, "route in an alias domain returned %d: %s", rc,
	    tu_err());
	rc = route_get("Sales@Alias.Test", &r, &o);
	ck_assert_msg(rc == 1 && r.ntargets == 1, "sales@alias.test: rc %d, "
	    "%zu targets", rc, r.ntargets);
	store_route_clear(&r);

	/* An explicit user+ext route. */
	rc = addr_add("bob+lists@example.test", tc, 1);
	ck_assert_msg(rc == 1, "user+ext route returned %d: %s", rc, tu_err());
	rc = route_get("bob+lists@example.test", &r, &o);
	ck_assert_msg(rc == 1 && strcmp(o.text[0], "carol@example.test") == 0,
	    "bob+lists route: rc %d first \"%s\"", rc, o.text[0]);
	store_route_clear(&r);
}
END_TEST

START_TEST(test_errors)
{
	static const char *tb[] = { "bob@example.test" };
	static const char *bad[] = { "not an address" };
	const char **many;
	char *buf;
	size_t i;
	uint32_t id;
	int rc;

	expect_err(addr_add("x@unknown.test", tb, 1), ERR_NOTFOUND,
	    "route in an unknown domain");
	expect_err(addr_add("no-at-sign", tb, 1), ERR_INVALID,
	    "route for \"no-at-sign\"");
	expect_err(addr_add("x@example.test", bad, 1), ERR_INVALID,
	    "route to \"not an address\"");
	expect_err(addr_del("nothing@example.test", NULL), ERR_NOTFOUND,
	    "del of a missing route");

	/* An aliased address cannot then become a user. */
	ck_assert_int_eq(addr_add("info@example.test", tb, 1), 1);
	expect_err(tu_user_add(st, "info@example.test", NULL, 0, 0, &id),
	    ERR_EXISTS, "user_add of an address that has a route");

	/* Too many targets. */
	many = xcalloc(STORE_ROUTE_TARGETS_MAX + 1, sizeof(*many));
	buf = xcalloc(STORE_ROUTE_TARGETS_MAX + 1, 32);
	for (i = 0; i <= STORE_ROUTE_TARGETS_MAX; i++) {
		snprintf(buf + i * 32, 32, "r%zu@remote.test", i);
		many[i] = buf + i * 32;
	}
	rc = addr_add("list@example.test", many, STORE_ROUTE_TARGETS_MAX + 1);
	expect_err(rc, ERR_LIMIT, "route with 1001 targets");
	rc = addr_add("list@example.test", many, STORE_ROUTE_TARGETS_MAX);
	ck_assert_msg(rc == 1, "route with exactly 1000 targets returned %d: "
	    "%s", rc, tu_err());
	rc = addr_add("list@example.test", many + STORE_ROUTE_TARGETS_MAX, 1);
	expect_err(rc, ERR_LIMIT, "adding a 1001st target");
	free(many);
	free(buf);
}
END_TEST

START_TEST(test_user_delete_removes_routes)
{
	static const char *tb[] = { "bob@example.test" };
	struct store_route r;
	struct aop o, lo;
	int rc;

	memset(&lo, 0, sizeof(lo));
	ck_assert_int_eq(store_read(st, list_fn, &lo) >= 0, 1);
	ck_assert_msg(lo.nlisted == 2, "%zu routes with two users, wanted 2",
	    lo.nlisted);
	ck_assert_int_eq(addr_add("team@example.test", tb, 1), 1);
	rc = tu_user_del(st, bob);
	ck_assert_msg(rc == 1, "user_del returned %d: %s", rc, tu_err());
	ck_assert_msg(route_get("bob@example.test", &r, &o) == 0,
	    "bob's mailbox route survived his deletion");
	rc = tu_check(st);
	ck_assert_msg(rc == 0, "store_check after user_del: %d problems: %s",
	    rc, tu_check_problems());
	memset(&lo, 0, sizeof(lo));
	ck_assert_int_eq(store_read(st, list_fn, &lo) >= 0, 1);
	ck_assert_msg(lo.nlisted >= 1 && lo.nlisted <= 2, "%zu routes after "
	    "deleting bob (carol's, maybe the team alias)", lo.nlisted);
	(void)carol;
}
END_TEST

START_TEST(test_address_normalize)
{
	char buf[STORE_ADDRESS_MAX + 1];
	int rc;

	rc = store_address_normalize("Bob#Example.TEST", buf, 0);
	ck_assert_msg(rc >= 0 && strcmp(buf, "bob@example.test") == 0,
	    "normalize(Bob#Example.TEST): rc %d \"%s\"", rc,
	    rc >= 0 ? buf : "");
	rc = store_address_normalize("@Example.TEST", buf, 1);
	ck_assert_msg(rc >= 0 && strcmp(buf, "@example.test") == 0,
	    "normalize(@Example.TEST, catch-all): rc %d \"%s\"", rc,
	    rc >= 0 ? buf : "");
	expect_err(store_address_normalize("@example.test", buf, 0),
	    ERR_INVALID, "normalize(@example.test) without catch-all");
	expect_err(store_address_normalize("bob", buf, 0), ERR_INVALID,
	    "normalize(bob)");
}
END_TEST

static Suite *
addr_suite(void)
{
	Suite *s = suite_create("store_addr");
	TCase *tc;

	tc = tcase_create("addr");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mailbox_route_of_user);
	tcase_add_test(tc, test_alias_and_forward_targets);
	tcase_add_test(tc, test_catchall_and_alias_domain);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_user_delete_removes_routes);
	tcase_add_test(tc, test_address_normalize);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(addr_suite());
}
