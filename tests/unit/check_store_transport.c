/*
 * check_store_transport.c - transports and source addresses
 * (store/transport.h): set/get/del/list round trips, the lookup order
 * (exact, parents, "*"), what set refuses and the message it gives,
 * nexthop parsing, and stores made before the table.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/private.h"
#include "store/transport.h"
#include "testutil.h"

static Suite	*transport_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("transport");
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

static void
tr_make(struct store_transport *t, const char *domain, const char *nexthop,
    enum store_tls tls, const char *user, const char *password)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->domain, sizeof(t->domain), "%s", domain);
	snprintf(t->nexthop, sizeof(t->nexthop), "%s", nexthop);
	t->tls = tls;
	snprintf(t->user, sizeof(t->user), "%s", user);
	snprintf(t->password, sizeof(t->password), "%s", password);
}

static int
set_fn(struct store_txn *t, void *ctx)
{
	return store_transport_set(t, ctx);
}

static int
tr_set(const char *domain, const char *nexthop, enum store_tls tls,
    const char *user, const char *password)
{
	struct store_transport t;

	tr_make(&t, domain, nexthop, tls, user, password);
	return store_write(st, set_fn, &t);
}

static int
del_fn(struct store_txn *t, void *ctx)
{
	return store_transport_del(t, ctx);
}

struct get_args {
	const char		*domain;
	struct store_transport	 r;
	struct store_source	 s;
	int			 lookup;
};

static int
get_fn(struct store_txn *t, void *ctx)
{
	struct get_args *g = ctx;

	if (g->lookup)
		return store_transport_lookup(t, g->domain, &g->r);
	return store_transport_get(t, g->domain, &g->r);
}

/* The domain of the row a lookup of domain finds ("" none). */
static const char *
lookup(const char *domain)
{
	static struct get_args g;
	int rc;

	memset(&g, 0, sizeof(g));
	g.domain = domain;
	g.lookup = 1;
	rc = store_read(st, get_fn, &g);
	ck_assert_msg(rc >= 0, "lookup %s: %s", domain, tu_err());
	return rc == 1 ? g.r.domain : "";
}

static int
src_set_fn(struct store_txn *t, void *ctx)
{
	return store_source_set(t, ctx);
}

static int
src_set(const char *domain, const char *a4, const char *a6)
{
	struct store_source s;

	memset(&s, 0, sizeof(s));
	snprintf(s.domain, sizeof(s.domain), "%s", domain);
	snprintf(s.addr4, sizeof(s.addr4), "%s", a4);
	snprintf(s.addr6, sizeof(s.addr6), "%s", a6);
	return store_write(st, src_set_fn, &s);
}

static int
src_get_fn(struct store_txn *t, void *ctx)
{
	struct get_args *g = ctx;

	if (g->lookup)
		return store_source_lookup(t, g->domain, &g->s);
	return store_source_get(t, g->domain, &g->s);
}

static int
src_del_fn(struct store_txn *t, void *ctx)
{
	return store_source_del(t, ctx);
}

struct list_args {
	char	seen[512];
};

static int
tr_list_one(const struct store_transport *t, void *ctx)
{
	struct list_args *l = ctx;
	size_t n = strlen(l->seen);

	snprintf(l->seen + n, sizeof(l->seen) - n, "%s=%s ", t->domain,
	    t->nexthop);
	return 0;
}

static int
src_list_one(const struct store_source *s, void *ctx)
{
	struct list_args *l = ctx;
	size_t n = strlen(l->seen);

	snprintf(l->seen + n, sizeof(l->seen) - n, "%s=%s/%s ", s->domain,
	    s->addr4, s->addr6);
	return 0;
}

static int
list_fn(struct store_txn *t, void *ctx)
{
	struct list_args *l = ctx;

	l->seen[0] = '\0';
	if (store_transport_list(t, tr_list_one, l) == -1)
		return -1;
	strcat(l->seen, "| ");
	return store_source_list(t, src_list_one, l);
}

START_TEST(test_round_trip)
{
	struct get_args g;
	struct list_args l;

	ck_assert_int_eq(tr_set("Example.COM", "[smtp.relay.test]:587",
	    STORE_TLS_VERIFY, "me@example.com", "s3cret pass"), 1);
	memset(&g, 0, sizeof(g));
	g.domain = "example.com";
	ck_assert_int_eq(store_read(st, get_fn, &g), 1);
	ck_assert_str_eq(g.r.domain, "example.com");
	ck_assert_str_eq(g.r.nexthop, "[smtp.relay.test]:587");
	ck_assert_int_eq(g.r.tls, STORE_TLS_VERIFY);
	ck_assert_str_eq(g.r.user, "me@example.com");
	ck_assert_str_eq(g.r.password, "s3cret pass");
	g.domain = "EXAMPLE.com";
	ck_assert_int_eq(store_read(st, get_fn, &g), 1);
	g.domain = "sub.example.com";
	ck_assert_int_eq(store_read(st, get_fn, &g), 0);

	/* replace */
	ck_assert_int_eq(tr_set("example.com", "", STORE_TLS_NONE, "", ""), 1);
	g.domain = "example.com";
	ck_assert_int_eq(store_read(st, get_fn, &g), 1);
	ck_assert_str_eq(g.r.nexthop, "");
	ck_assert_int_eq(g.r.tls, STORE_TLS_NONE);
	ck_assert_str_eq(g.r.user, "");
	ck_assert_str_eq(g.r.password, "");

	ck_assert_int_eq(tr_set("*", "[192.0.2.1]", STORE_TLS_DEFAULT, "",
	    ""), 1);
	ck_assert_int_eq(tr_set(".example.org", "mx.example.net:2525",
	    STORE_TLS_MAY, "", ""), 1);
	ck_assert_int_eq(src_set("example.com", "192.0.2.7",
	    "2001:DB8:0:0::7"), 1);
	ck_assert_int_eq(src_set("*", "", "2001:db8::8"), 1);
	ck_assert_int_eq(store_read(st, list_fn, &l), 0);
	ck_assert_msg(strcmp(l.seen, "*=[192.0.2.1] .example.org="
	    "mx.example.net:2525 example.com= | *=/2001:db8::8 "
	    "example.com=192.0.2.7/2001:db8::7 ") == 0,
	    "list in domain order, sources apart: '%s'", l.seen);

	memset(&g, 0, sizeof(g));
	g.domain = "example.com";
	ck_assert_int_eq(store_read(st, src_get_fn, &g), 1);
	ck_assert_str_eq(g.s.addr6, "2001:db8::7");

	ck_assert_int_eq(store_write(st, del_fn, "example.com"), 1);
	ck_assert_int_eq(store_write(st, del_fn, "example.com"), 0);
	ck_assert_int_eq(store_write(st, src_del_fn, "example.com"), 1);
	ck_assert_int_eq(store_write(st, src_del_fn, "example.com"), 0);
	ck_assert_int_eq(store_write(st, del_fn, "not a domain"), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(store_read(st, list_fn, &l), 0);
	ck_assert_msg(strcmp(l.seen, "*=[192.0.2.1] .example.org="
	    "mx.example.net:2525 | *=/2001:db8::8 ") == 0,
	    "after del: '%s'", l.seen);
	ck_assert_int_eq(tu_check(st), 0);
}
END_TEST

START_TEST(test_lookup_order)
{
	struct get_args g;

	ck_assert_str_eq(lookup("a.b.example.com"), "");
	ck_assert_int_eq(tr_set("*", "[relay.test]", 0, "", ""), 1);
	ck_assert_str_eq(lookup("a.b.example.com"), "*");
	ck_assert_str_eq(lookup("[192.0.2.1]"), "*");
	ck_assert_str_eq(lookup(""), "*");
	ck_assert_int_eq(tr_set(".com", "[com.relay.test]", 0, "", ""), 1);
	ck_assert_str_eq(lookup("a.b.example.com"), ".com");
	ck_assert_str_eq(lookup("com"), "*");
	ck_assert_int_eq(tr_set(".example.com", "[ex.relay.test]", 0, "",
	    ""), 1);
	ck_assert_str_eq(lookup("a.b.example.com"), ".example.com");
	ck_assert_str_eq(lookup("example.com"), ".com");
	ck_assert_int_eq(tr_set("example.com", "", 0, "", ""), 1);
	ck_assert_str_eq(lookup("example.com"), "example.com");
	ck_assert_str_eq(lookup("EXAMPLE.Com."), "example.com");
	ck_assert_int_eq(tr_set(".b.example.com", "[b.relay.test]", 0, "",
	    ""), 1);
	ck_assert_str_eq(lookup("A.B.Example.COM"), ".b.example.com");
	ck_assert_int_eq(tr_set("a.b.example.com", "[a.relay.test]", 0, "",
	    ""), 1);
	ck_assert_str_eq(lookup("a.b.example.com"), "a.b.example.com");
	ck_assert_str_eq(lookup("x.a.b.example.com"), ".b.example.com");
	ck_assert_str_eq(lookup("example.org"), "*");

	/* sources: the same order; <> is "" and finds "*" only */
	memset(&g, 0, sizeof(g));
	g.lookup = 1;
	g.domain = "";
	ck_assert_int_eq(store_read(st, src_get_fn, &g), 0);
	ck_assert_int_eq(src_set("*", "192.0.2.1", ""), 1);
	ck_assert_int_eq(src_set(".example.com", "192.0.2.2", ""), 1);
	ck_assert_int_eq(store_read(st, src_get_fn, &g), 1);
	ck_assert_str_eq(g.s.addr4, "192.0.2.1");
	g.domain = "lists.example.com";
	ck_assert_int_eq(store_read(st, src_get_fn, &g), 1);
	ck_assert_str_eq(g.s.domain, ".example.com");
	ck_assert_str_eq(g.s.addr4, "192.0.2.2");
	g.domain = "example.com";
	ck_assert_int_eq(store_read(st, src_get_fn, &g), 1);
	ck_assert_str_eq(g.s.domain, "*");
	/* a transport row is not a source row */
	g.domain = "a.b.example.com";
	ck_assert_int_eq(store_read(st, src_get_fn, &g), 1);
	ck_assert_str_eq(g.s.domain, ".example.com");
}
END_TEST

/* set refuses with INVALID and a message containing want. */
static void
refused(const char *domain, const char *nexthop, enum store_tls tls,
    const char *user, const char *password, const char *want)
{
	int rc = tr_set(domain, nexthop, tls, user, password);

	ck_assert_msg(rc == -1 && err_class() == ERR_INVALID &&
	    strstr(err_msg(), want) != NULL, "set %s %s: want INVALID "
	    "'%s', got %d %s", domain, nexthop, want, rc, tu_err());
}

START_TEST(test_set_refuses)
{
	char longhost[400];
	struct store_transport t;

	refused("", "", 0, "", "", "is not a domain");
	refused("exa mple.com", "", 0, "", "", "is not a domain");
	refused("..example.com", "", 0, "", "", "is not a domain");
	refused("**", "", 0, "", "", "is not a domain");
	refused("[192.0.2.1]", "", 0, "", "", "is not a domain");
	refused("a.test", "[relay.test", 0, "", "", "without ']'");
	refused("a.test", "[relay.test]x", 0, "", "", ":PORT");
	refused("a.test", "[relay.test]:", 0, "", "", ":PORT");
	refused("a.test", "[relay.test]:0", 0, "", "", ":PORT");
	refused("a.test", "[relay.test]:65536", 0, "", "", ":PORT");
	refused("a.test", "[relay.test]:+25", 0, "", "", ":PORT");
	refused("a.test", "relay.test:025x", 0, "", "", ":PORT");
	refused("a.test", "[2001:db8::1]:25", 0, "", "",
	    "[IPv6:2001:db8::1]");
	refused("a.test", "2001:db8::1", 0, "", "", "[IPv6:");
	refused("a.test", "[IPv6:192.0.2.1]", 0, "", "",
	    "not an IPv6 address");
	refused("a.test", "[999.0.2.1]", 0, "", "", "not an IPv4 address");
	refused("a.test", "192.0.2.1:25", 0, "", "", "write [192.0.2.1]");
	refused("a.test", "[]", 0, "", "", "not a host name");
	refused("a.test", ":25", 0, "", "", "not a host name");
	refused("a.test", "bad host", 0, "", "", "not a host name");
	refused("a.test", "[relay.test]", 9, "", "", "TLS policy");
	refused("a.test", "[relay.test]", 0, "me", "", "needs a password");
	refused("a.test", "[relay.test]", 0, "", "pw", "needs a user");
	refused("a.test", "", 0, "me", "pw", "credentials need a nexthop");
	refused("a.test", "[relay.test]", 0, "m\ne", "pw",
	    "control character");
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	tr_make(&t, "a.test", "", 0, "", "");
	memset(t.nexthop, 'a', sizeof(t.nexthop));	/* unterminated */
	ck_assert_int_eq(store_write(st, set_fn, &t), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	refused("a.test", longhost + 100, 0, "", "", "not a host name");
	tr_make(&t, "a.test", "[r.test]", 0, "u", "p");
	memset(t.password, 'p', sizeof(t.password));	/* unterminated */
	ck_assert_int_eq(store_write(st, set_fn, &t), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);

	/* sources */
	ck_assert_int_eq(src_set("a.test", "", ""), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(src_set("a.test", "2001:db8::1", ""), -1);
	ck_assert_msg(strstr(err_msg(), "not an IPv4") != NULL, "%s",
	    tu_err());
	ck_assert_int_eq(src_set("a.test", "", "192.0.2.1"), -1);
	ck_assert_msg(strstr(err_msg(), "not an IPv6") != NULL, "%s",
	    tu_err());
	ck_assert_int_eq(src_set("bad domain", "192.0.2.1", ""), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);

	/* what is accepted */
	ck_assert_int_eq(tr_set("a.test", "[IPv6:2001:DB8::1]:25", 0, "", ""),
	    1);
	ck_assert_int_eq(tr_set("a.test", "[ipv6:::1]", 0, "", ""), 1);
	ck_assert_int_eq(tr_set("a.test", "[192.0.2.1]:587",
	    STORE_TLS_ENCRYPT, "u", "p"), 1);
	ck_assert_int_eq(tr_set("a.test", "relay.test:65535", 0, "u", "p"),
	    1);
	ck_assert_int_eq(tr_set("a.test", "relay.test.", 0, "", ""), 1);
	ck_assert_str_eq(lookup("a.test"), "a.test");
}
END_TEST

START_TEST(test_nexthop_parse)
{
	struct store_nexthop n;
	enum store_tls tls;

	ck_assert_int_eq(store_nexthop_parse("", &n), 0);
	ck_assert_msg(n.mx == 1 && n.host[0] == '\0' && n.port == 25,
	    "'': the MX of the recipient domain");
	ck_assert_int_eq(store_nexthop_parse("[Relay.Test]", &n), 0);
	ck_assert_msg(n.mx == 0 && strcmp(n.host, "relay.test") == 0 &&
	    n.port == 25 && n.family == 0, "[host]: %s %d %d", n.host,
	    n.mx, n.port);
	ck_assert_int_eq(store_nexthop_parse("relay.test:2525", &n), 0);
	ck_assert_msg(n.mx == 1 && strcmp(n.host, "relay.test") == 0 &&
	    n.port == 2525, "host:port: %s %d %d", n.host, n.mx, n.port);
	ck_assert_int_eq(store_nexthop_parse("[192.0.2.1]:587", &n), 0);
	ck_assert_msg(n.mx == 0 && strcmp(n.host, "192.0.2.1") == 0 &&
	    n.port == 587 && n.family == 4, "IPv4 literal");
	ck_assert_int_eq(store_nexthop_parse("[IPv6:2001:DB8:0::1]:25", &n),
	    0);
	ck_assert_msg(n.mx == 0 && strcmp(n.host, "2001:db8::1") == 0 &&
	    n.port == 25 && n.family == 6, "IPv6 literal: %s", n.host);
	ck_assert_int_eq(store_nexthop_parse("[x]:1", &n), 0);
	ck_assert_int_eq(n.port, 1);

	ck_assert_int_eq(store_tls_parse("Verify", &tls), 0);
	ck_assert_int_eq(tls, STORE_TLS_VERIFY);
	ck_assert_int_eq(store_tls_parse("required", &tls), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_str_eq(store_tls_name(STORE_TLS_MAY), "may");
	ck_assert_str_eq(store_tls_name(STORE_TLS_DEFAULT), "default");
}
END_TEST

static int
drop_fn(struct store_txn *t, void *ctx)
{
	MDB_dbi dbi;

	(void)ctx;
	if (mdb_dbi_open(t->txn, "transports", 0, &dbi) != 0 ||
	    mdb_drop(t->txn, dbi, 1) != 0)
		return err_set(ERR_TEMP, "cannot drop the table");
	return 0;
}

/*
 * A store made before the table: read-only opens see no rows, a
 * writable open creates the table.
 */
START_TEST(test_old_store)
{
	struct store *ro;
	struct get_args g;
	struct list_args l;

	ck_assert_int_eq(tr_set("*", "[relay.test]", 0, "", ""), 1);
	ck_assert_int_eq(store_write(st, drop_fn, NULL), 0);
	store_close(&st);

	ck_assert_msg(store_open(dir, STORE_RDONLY | STORE_NOCREATE, &ro) ==
	    0, "read-only open of a store without the table: %s", tu_err());
	memset(&g, 0, sizeof(g));
	g.domain = "a.example.com";
	g.lookup = 1;
	ck_assert_int_eq(store_read(ro, get_fn, &g), 0);
	g.lookup = 0;
	ck_assert_int_eq(store_read(ro, get_fn, &g), 0);
	ck_assert_int_eq(store_read(ro, src_get_fn, &g), 0);
	ck_assert_int_eq(store_read(ro, list_fn, &l), 0);
	ck_assert_str_eq(l.seen, "| ");
	ck_assert_msg(tu_check(ro) == 0, "store check: %s %s", tu_err(),
	    tu_check_problems());
	store_close(&ro);

	st = tu_open(dir);
	ck_assert_str_eq(lookup("a.example.com"), "");
	ck_assert_int_eq(tr_set("*", "[relay.test]", 0, "", ""), 1);
	ck_assert_str_eq(lookup("a.example.com"), "*");
}
END_TEST

static Suite *
transport_suite(void)
{
	Suite *s = suite_create("store_transport");
	TCase *tc = tcase_create("transport");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_lookup_order);
	tcase_add_test(tc, test_set_refuses);
	tcase_add_test(tc, test_nexthop_parse);
	tcase_add_test(tc, test_old_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(transport_suite());
}
