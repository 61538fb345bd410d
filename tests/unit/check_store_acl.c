/*
 * check_store_acl.c - inbound black and white lists (store/acl.h): the
 * whitelist skip table, value normalisation (CIDR and mask forms, host
 * bits, IPv6, v4-mapped), put/get/del/list, the lookup orders (ip before
 * the longest net, address before domain and parents before user@,
 * +ext), the network index kept by del and clear, the access(5) parser
 * (actions, keys per table, errors with their line, round trip through
 * store_acl_map_format()), a damaged row and a damaged index found by
 * store check, and stores made before the table.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/acl.h"
#include "store/private.h"
#include "testutil.h"

static Suite	*acl_suite(void);

static char		*dir;
static struct store	*st;

static void
setup(void)
{
	dir = tu_tmpdir("acl");
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
	struct store_acl	 e;
	int			 replace;
	int			 what;		/* 'c', 's', 'r' lookups */
	const char		*key;
	char			 seen[2048];
};

static int
put_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_acl_put(t, &a->e, a->replace);
}

/* The result of store_acl_put(), -1 with the error kept. */
static int
put(enum store_acl_kind kind, const char *value, enum store_acl_list list,
    enum store_acl_action action, const char *text)
{
	struct args a;

	memset(&a, 0, sizeof(a));
	a.e.kind = kind;
	a.e.list = list;
	a.e.action = action;
	snprintf(a.e.value, sizeof(a.e.value), "%s", value);
	snprintf(a.e.text, sizeof(a.e.text), "%s", text != NULL ? text : "");
	return store_write(st, put_fn, &a);
}

#define WHITE(k, v)	put(k, v, STORE_ACL_WHITE, STORE_ACL_NONE, NULL)
#define BLACK(k, v)	put(k, v, STORE_ACL_BLACK, STORE_ACL_REJECT, NULL)

static int
del_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_acl_del(t, a->e.kind, a->e.value);
}

static int
del(enum store_acl_kind kind, const char *value)
{
	struct args a;

	memset(&a, 0, sizeof(a));
	a.e.kind = kind;
	snprintf(a.e.value, sizeof(a.e.value), "%s", value);
	return store_write(st, del_fn, &a);
}

static int
look_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	switch (a->what) {
	case 'c':
		return store_acl_client(t, a->key, &a->e);
	case 's':
		return store_acl_sender(t, a->key, &a->e);
	default:
		return store_acl_recipient(t, a->key, &a->e);
	}
}

/* "kind value list" of the deciding entry, "" none, "ERR". */
static const char *
look(int what, const char *key)
{
	static char buf[512];
	struct args a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.what = what;
	a.key = key;
	rc = store_read(st, look_fn, &a);
	if (rc == -1)
		return "ERR";
	if (rc == 0)
		return "";
	snprintf(buf, sizeof(buf), "%s %s %s", store_acl_kind_name(a.e.kind),
	    a.e.value, store_acl_list_name(a.e.list));
	return buf;
}

static int
list_one(const struct store_acl *e, void *ctx)
{
	struct args *a = ctx;
	size_t n = strlen(a->seen);

	snprintf(a->seen + n, sizeof(a->seen) - n, "%s%s:%s", n > 0 ? " " :
	    "", store_acl_kind_name(e->kind), e->value);
	return 0;
}

static int
list_fn(struct store_txn *t, void *ctx)
{
	struct args *a = ctx;

	return store_acl_list(t, a->e.kind, list_one, a);
}

static const char *
list(struct store *s, enum store_acl_kind kind)
{
	static char buf[2048];
	struct args a;

	memset(&a, 0, sizeof(a));
	a.e.kind = kind;
	if (store_read(s, list_fn, &a) == -1)
		return "ERR";
	snprintf(buf, sizeof(buf), "%s", a.seen);
	return buf;
}

static const char *
norm(enum store_acl_kind kind, const char *in)
{
	static char buf[STORE_ADDRESS_MAX + 1];

	if (store_acl_normalize(kind, in, buf) == -1)
		return "ERR";
	return buf;
}

/* MailPlus's table, exactly. */
START_TEST(test_skip_table)
{
	char buf[64];

	ck_assert_uint_eq(store_acl_skips(STORE_ACL_IP), ACL_SKIP_DNSBL |
	    ACL_SKIP_SPF | ACL_SKIP_AV | ACL_SKIP_DKIM | ACL_SKIP_DMARC);
	ck_assert_uint_eq(store_acl_skips(STORE_ACL_NET), ACL_SKIP_DNSBL |
	    ACL_SKIP_SPF | ACL_SKIP_DKIM | ACL_SKIP_DMARC);
	ck_assert_uint_eq(store_acl_skips(STORE_ACL_SENDER), ACL_SKIP_SPF |
	    ACL_SKIP_AV);
	ck_assert_uint_eq(store_acl_skips(STORE_ACL_RECIPIENT), ACL_SKIP_SPF |
	    ACL_SKIP_AV);
	ck_assert_uint_eq(store_acl_skips(STORE_ACL_DOMAIN), ACL_SKIP_SPF |
	    ACL_SKIP_AV | ACL_SKIP_DKIM | ACL_SKIP_DMARC);
	ck_assert_uint_eq(store_acl_skips(0), 0);
	store_acl_skip_names(store_acl_skips(STORE_ACL_NET), buf, sizeof(buf));
	ck_assert_str_eq(buf, "DNSBL, SPF, DKIM, DMARC");
	store_acl_skip_names(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "nothing");
}
END_TEST

START_TEST(test_normalize)
{
	ck_assert_str_eq(norm(STORE_ACL_IP, "192.0.2.7"), "192.0.2.7");
	ck_assert_str_eq(norm(STORE_ACL_IP, "2001:DB8:0:0::7"), "2001:db8::7");
	ck_assert_str_eq(norm(STORE_ACL_IP, "::ffff:192.0.2.7"), "192.0.2.7");
	ck_assert_str_eq(norm(STORE_ACL_IP, "192.0.2.0/24"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_IP, "mx.example.com"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_NET, "192.0.2.0/24"), "192.0.2.0/24");
	ck_assert_str_eq(norm(STORE_ACL_NET, "192.0.2.0/255.255.255.0"),
	    "192.0.2.0/24");
	ck_assert_str_eq(norm(STORE_ACL_NET, "10.0.0.0/255.0.0.0"),
	    "10.0.0.0/8");
	ck_assert_str_eq(norm(STORE_ACL_NET, "0.0.0.0/0"), "0.0.0.0/0");
	ck_assert_str_eq(norm(STORE_ACL_NET, "2001:DB8::/32"), "2001:db8::/32");
	ck_assert_str_eq(norm(STORE_ACL_NET, "[2001:db8::]/32"),
	    "2001:db8::/32");
	ck_assert_str_eq(norm(STORE_ACL_NET, "192.0.2.1/24"), "ERR");
	ck_assert_msg(strstr(err_msg(), "host bits set (the network is "
	    "192.0.2.0/24)") != NULL, "%s", err_msg());
	ck_assert_str_eq(norm(STORE_ACL_NET, "2001:db8::1/32"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_NET, "192.0.2.0/255.0.255.0"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_NET, "192.0.2.0/33"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_NET, "192.0.2.0/"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_NET, "192.0.2.0"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_NET, "2001:db8::/255.255.0.0"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_SENDER, "Boss@Example.COM"),
	    "boss@example.com");
	ck_assert_str_eq(norm(STORE_ACL_SENDER, "Bulk@"), "bulk@");
	ck_assert_str_eq(norm(STORE_ACL_SENDER, "example.com"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_SENDER, "a@b@c.test"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_DOMAIN, "Example.COM"), "example.com");
	ck_assert_str_eq(norm(STORE_ACL_DOMAIN, "@example.com"),
	    "example.com");
	ck_assert_str_eq(norm(STORE_ACL_DOMAIN, ".example.com"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_DOMAIN, "a@example.com"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_RECIPIENT, "A@Example.test"),
	    "a@example.test");
	ck_assert_str_eq(norm(STORE_ACL_RECIPIENT, "a@"), "ERR");
	ck_assert_str_eq(norm(STORE_ACL_RECIPIENT, ""), "ERR");
}
END_TEST

struct get_args {
	enum store_acl_kind	 kind;
	const char		*value;
	struct store_acl	 e;
};

static int
get_fn(struct store_txn *t, void *ctx)
{
	struct get_args *g = ctx;

	return store_acl_get(t, g->kind, g->value, &g->e);
}

START_TEST(test_put_get)
{
	struct get_args g = { .kind = STORE_ACL_NET,
	    .value = "192.0.2.0/255.255.255.0" };

	ck_assert_int_eq(put(STORE_ACL_NET, "192.0.2.0/24", STORE_ACL_BLACK,
	    STORE_ACL_DISCARD, "go away"), 1);
	ck_assert_int_eq(store_read(st, get_fn, &g), 1);
	ck_assert_str_eq(g.e.value, "192.0.2.0/24");
	ck_assert_int_eq(g.e.list, STORE_ACL_BLACK);
	ck_assert_int_eq(g.e.action, STORE_ACL_DISCARD);
	ck_assert_str_eq(g.e.text, "go away");
	ck_assert_int_ne(g.e.created, 0);
	/* the same again: 0; something else: EXISTS, replace: 1 */
	ck_assert_int_eq(put(STORE_ACL_NET, "192.0.2.0/24", STORE_ACL_BLACK,
	    STORE_ACL_DISCARD, "go away"), 0);
	ck_assert_int_eq(WHITE(STORE_ACL_NET, "192.0.2.0/24"), -1);
	ck_assert_int_eq(err_class(), ERR_EXISTS);
	/* bad entries */
	ck_assert_int_eq(put(STORE_ACL_IP, "192.0.2.1", STORE_ACL_WHITE,
	    STORE_ACL_REJECT, NULL), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(put(STORE_ACL_IP, "192.0.2.1", STORE_ACL_BLACK,
	    STORE_ACL_NONE, NULL), -1);
	ck_assert_int_eq(put(STORE_ACL_IP, "192.0.2.1", STORE_ACL_BLACK,
	    STORE_ACL_REJECT, "two\nlines"), -1);
	ck_assert_int_eq(put(STORE_ACL_IP, "192.0.2.1", 'x', STORE_ACL_NONE,
	    NULL), -1);
	ck_assert_int_eq(BLACK(STORE_ACL_SENDER, "bulk@"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_DOMAIN, "example.com"), 1);
	ck_assert_int_eq(WHITE(STORE_ACL_RECIPIENT, "a@example.test"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_IP, "2001:db8::1"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_IP, "192.0.2.9"), 1);
	ck_assert_str_eq(list(st, 0), "domain:example.com ip:192.0.2.9 "
	    "ip:2001:db8::1 net:192.0.2.0/24 recipient:a@example.test "
	    "sender:bulk@");
	ck_assert_str_eq(list(st, STORE_ACL_IP), "ip:192.0.2.9 ip:2001:db8::1");
	ck_assert_int_eq(del(STORE_ACL_IP, "2001:DB8::1"), 1);
	ck_assert_int_eq(del(STORE_ACL_IP, "2001:DB8::1"), 0);
	ck_assert_int_eq(del(STORE_ACL_IP, "nonsense"), -1);
	ck_assert_str_eq(list(st, STORE_ACL_IP), "ip:192.0.2.9");
}
END_TEST

START_TEST(test_client_lookup)
{
	ck_assert_str_eq(look('c', "192.0.2.9"), "");
	ck_assert_int_eq(BLACK(STORE_ACL_NET, "192.0.0.0/16"), 1);
	ck_assert_int_eq(WHITE(STORE_ACL_NET, "192.0.2.0/24"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_NET, "192.0.2.8/29"), 1);
	ck_assert_int_eq(WHITE(STORE_ACL_IP, "192.0.2.9"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_NET, "2001:db8::/32"), 1);
	ck_assert_int_eq(WHITE(STORE_ACL_NET, "0.0.0.0/0"), 1);
	/* the ip, then the longest prefix */
	ck_assert_str_eq(look('c', "192.0.2.9"), "ip 192.0.2.9 white");
	ck_assert_str_eq(look('c', "192.0.2.10"), "net 192.0.2.8/29 black");
	ck_assert_str_eq(look('c', "192.0.2.200"), "net 192.0.2.0/24 white");
	ck_assert_str_eq(look('c', "192.0.77.1"), "net 192.0.0.0/16 black");
	ck_assert_str_eq(look('c', "::ffff:192.0.2.10"),
	    "net 192.0.2.8/29 black");
	ck_assert_str_eq(look('c', "198.51.100.1"), "net 0.0.0.0/0 white");
	ck_assert_str_eq(look('c', "2001:db8:ffff::1"),
	    "net 2001:db8::/32 black");
	ck_assert_str_eq(look('c', "2001:db9::1"), "");
	ck_assert_str_eq(look('c', "not an ip"), "");
	ck_assert_str_eq(look('c', ""), "");
	/* del keeps the index: a length whose last net goes is not tried */
	ck_assert_int_eq(del(STORE_ACL_NET, "192.0.2.8/29"), 1);
	ck_assert_str_eq(look('c', "192.0.2.10"), "net 192.0.2.0/24 white");
	ck_assert_int_eq(BLACK(STORE_ACL_NET, "10.0.0.0/24"), 1);
	ck_assert_int_eq(del(STORE_ACL_NET, "192.0.2.0/24"), 1);
	ck_assert_str_eq(look('c', "10.0.0.1"), "net 10.0.0.0/24 black");
	ck_assert_str_eq(look('c', "192.0.2.10"), "net 192.0.0.0/16 black");
}
END_TEST

START_TEST(test_sender_lookup)
{
	ck_assert_int_eq(BLACK(STORE_ACL_DOMAIN, "example.com"), 1);
	ck_assert_int_eq(WHITE(STORE_ACL_SENDER, "boss@example.com"), 1);
	ck_assert_int_eq(WHITE(STORE_ACL_DOMAIN, "good.example.com"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_SENDER, "bulk@"), 1);
	ck_assert_int_eq(WHITE(STORE_ACL_SENDER, "news@other.test"), 1);
	ck_assert_str_eq(look('s', "Boss@Example.com"),
	    "sender boss@example.com white");
	ck_assert_str_eq(look('s', "boss+x@example.com"),
	    "sender boss@example.com white");
	ck_assert_str_eq(look('s', "x@example.com"),
	    "domain example.com black");
	ck_assert_str_eq(look('s', "x@a.b.example.com"),
	    "domain example.com black");
	ck_assert_str_eq(look('s', "x@mx.good.example.com"),
	    "domain good.example.com white");
	/* the domain comes before user@ (Postfix's order) */
	ck_assert_str_eq(look('s', "bulk@example.com"),
	    "domain example.com black");
	ck_assert_str_eq(look('s', "bulk@other.test"), "sender bulk@ black");
	ck_assert_str_eq(look('s', "bulk+tag@other.test"),
	    "sender bulk@ black");
	ck_assert_str_eq(look('s', "x@example.community"), "");
	ck_assert_str_eq(look('s', ""), "");
	ck_assert_str_eq(look('s', "noat"), "");
	/* a whole TLD */
	ck_assert_int_eq(BLACK(STORE_ACL_DOMAIN, "zip"), 1);
	ck_assert_str_eq(look('s', "x@a.zip"), "domain zip black");
	/* recipients: exact, then without +ext; never a domain */
	ck_assert_int_eq(BLACK(STORE_ACL_RECIPIENT, "old@example.test"), 1);
	ck_assert_str_eq(look('r', "Old@Example.TEST"),
	    "recipient old@example.test black");
	ck_assert_str_eq(look('r', "old+x@example.test"),
	    "recipient old@example.test black");
	ck_assert_str_eq(look('r', "other@example.test"), "");
	ck_assert_str_eq(look('r', "x@example.com"), "");
}
END_TEST

static const char *
parse(enum store_acl_map_kind kind, const char *text, unsigned *line)
{
	static char buf[2048];
	char one[600];
	struct store_acl_map map;
	size_t i, n = 0;

	buf[0] = '\0';
	if (store_acl_map_parse(kind, text, strlen(text), &map, line) == -1)
		return "ERR";
	for (i = 0; i < map.n; i++) {
		store_acl_map_format(&map.e[i].acl, one, sizeof(one));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u%s:%s",
		    i > 0 ? "|" : "", map.e[i].lineno, map.e[i].dup_of ?
		    "dup" : "", one);
	}
	store_acl_map_free(&map);
	return buf;
}

START_TEST(test_map_parse)
{
	unsigned line;

	ck_assert_str_eq(parse(STORE_ACL_MAP_CLIENT,
	    "# comment\r\n192.0.2.1 OK\r\n\r\n192.0.2.0/255.255.255.0\r\n"
	    "  reject   Go away  \r\n10.1 554 5.7.1 no\n2001:db8::/32 discard\n"
	    "192.0.2.1 REJECT\n172.16.0.0/12 1234\n", &line),
	    "2:192.0.2.1\tOK|4:192.0.2.0/24\tREJECT Go away|"
	    "6:10.1.0.0/16\t554 5.7.1 no|7:2001:db8::/32\tDISCARD|"
	    "8dup:192.0.2.1\tREJECT|9:172.16.0.0/12\tOK");
	ck_assert_str_eq(parse(STORE_ACL_MAP_SENDER, "a@b.test OK\nb.test "
	    "REJECT\n@c.test DISCARD x y\nbulk@ 550 no bulk\n", &line),
	    "1:a@b.test\tOK|2:b.test\tREJECT|3:c.test\tDISCARD x y|"
	    "4:bulk@\t550 5.7.1 no bulk");
	ck_assert_str_eq(parse(STORE_ACL_MAP_RECIPIENT, "a@b.test OK\n",
	    &line), "1:a@b.test\tOK");
	ck_assert_str_eq(parse(STORE_ACL_MAP_CLIENT, "", &line), "");
}
END_TEST

START_TEST(test_map_errors)
{
	static const struct {
		enum store_acl_map_kind	 kind;
		const char		*text;
		unsigned		 line;
		const char		*says;
	} bad[] = {
		{ STORE_ACL_MAP_CLIENT, "1.2.3.4 OK\n1.2.3.5 HOLD\n", 2,
		  "2: 1.2.3.5: 'HOLD' is not an action vellum takes" },
		{ STORE_ACL_MAP_CLIENT, "1.2.3.4 PREPEND X-A: b\n", 1,
		  "'PREPEND' is not an action" },
		{ STORE_ACL_MAP_CLIENT, "1.2.3.4 421 later\n", 1,
		  "temporary refusal" },
		{ STORE_ACL_MAP_CLIENT, "host.example REJECT\n", 1,
		  "no host names" },
		{ STORE_ACL_MAP_CLIENT, "1.2.3.0/16 REJECT\n", 1,
		  "host bits set" },
		{ STORE_ACL_MAP_CLIENT, "1.2.3.4 OK yes\n", 1,
		  "OK takes no text" },
		{ STORE_ACL_MAP_CLIENT, "# x\n1.2.3.4\n", 2, "has no action" },
		{ STORE_ACL_MAP_CLIENT, " 1.2.3.4 OK\n", 1,
		  "continuation line" },
		{ STORE_ACL_MAP_CLIENT, "1.2.3.4 OK\n1.2.3.5 REJECT a\0b\n",
		  2, "NUL byte" },
		{ STORE_ACL_MAP_SENDER, "a@b@c.test OK\n", 1,
		  "more than one '@'" },
		{ STORE_ACL_MAP_SENDER, ".b.test OK\n", 1, "without the dot" },
		{ STORE_ACL_MAP_RECIPIENT, "b.test OK\n", 1,
		  "whole addresses" },
		{ STORE_ACL_MAP_RECIPIENT, "bulk@ OK\n", 1, "whole addresses" },
	};
	struct store_acl_map map;
	unsigned line;
	size_t i, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = strlen(bad[i].text);
		if (strstr(bad[i].says, "NUL") != NULL)
			len += 1 + strlen(bad[i].text + len + 1);
		ck_assert_int_eq(store_acl_map_parse(bad[i].kind, bad[i].text,
		    len, &map, &line), -1);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		ck_assert_uint_eq(line, bad[i].line);
		ck_assert_msg(strstr(err_msg(), bad[i].says) != NULL,
		    "case %zu: %s", i, err_msg());
		ck_assert_ptr_null(map.e);
	}
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
	static const char key[] = "sx@example.test";
	static const uint8_t v[] = { 1, 'b', 'x', 0 };
	static const uint8_t bits[2] = { 'N', 4 };
	uint8_t idx[17] = { 0 };

	if (ctx != NULL)
		return sdb_put(t, DB_ACL, bits, 2, idx, 16, 0) == -1 ? -1 : 0;
	return sdb_put(t, DB_ACL, key, sizeof(key) - 1, v, sizeof(v), 0) ==
	    -1 ? -1 : 0;
}

START_TEST(test_damaged)
{
	struct problems pr = { 0, "" };

	ck_assert_int_eq(BLACK(STORE_ACL_NET, "192.0.2.0/24"), 1);
	ck_assert_int_eq(store_check(st, problem, &pr), 0);
	ck_assert_int_eq(store_write(st, damage_fn, NULL), 0);
	ck_assert_str_eq(look('s', "x@example.test"), "ERR");
	ck_assert_int_eq(err_class(), ERR_CORRUPT);
	ck_assert_int_eq(store_check(st, problem, &pr), 1);
	ck_assert_msg(strstr(pr.last, "acl") != NULL, "%s", pr.last);
	/* an index that lost the /24 */
	ck_assert_int_eq(store_write(st, damage_fn, "bits"), 0);
	pr.n = 0;
	/* the row, the index row, the index not matching the /24 */
	ck_assert_int_eq(store_check(st, problem, &pr), 3);
	ck_assert_msg(pr.n == 3 && strstr(pr.last, "IPv4 network index") !=
	    NULL, "%d %s", pr.n, pr.last);
}
END_TEST

static int
clear_fn(struct store_txn *t, void *ctx)
{
	return store_acl_clear(t, STORE_ACL_NET) == 2 ? 0 : -1;
}

START_TEST(test_clear)
{
	struct problems pr = { 0, "" };

	ck_assert_int_eq(BLACK(STORE_ACL_NET, "192.0.2.0/24"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_NET, "2001:db8::/32"), 1);
	ck_assert_int_eq(BLACK(STORE_ACL_IP, "192.0.2.1"), 1);
	ck_assert_int_eq(store_write(st, clear_fn, NULL), 0);
	ck_assert_str_eq(list(st, 0), "ip:192.0.2.1");
	ck_assert_str_eq(look('c', "192.0.2.2"), "");
	ck_assert_int_eq(store_check(st, problem, &pr), 0);
}
END_TEST

static int
drop_fn(struct store_txn *t, void *ctx)
{
	MDB_dbi dbi;

	(void)ctx;
	if (mdb_dbi_open(t->txn, "acl", 0, &dbi) != 0 ||
	    mdb_drop(t->txn, dbi, 1) != 0)
		return err_set(ERR_TEMP, "cannot drop acl");
	return 0;
}

/* Read-only opens of a store without the table see no entries. */
START_TEST(test_old_store)
{
	struct store *ro = NULL;

	ck_assert_int_eq(BLACK(STORE_ACL_IP, "192.0.2.1"), 1);
	ck_assert_int_eq(store_write(st, drop_fn, NULL), 0);
	store_close(&st);
	ck_assert_msg(store_open(dir, STORE_RDONLY | STORE_NOCREATE, &ro) ==
	    0, "read-only open: %s", err_msg());
	ck_assert_str_eq(list(ro, 0), "");
	store_close(&ro);
	st = tu_open(dir);
	ck_assert_str_eq(list(st, 0), "");
	ck_assert_str_eq(look('c', "192.0.2.1"), "");
	ck_assert_int_eq(BLACK(STORE_ACL_IP, "192.0.2.1"), 1);
	ck_assert_str_eq(look('c', "192.0.2.1"), "ip 192.0.2.1 black");
}
END_TEST

static Suite *
acl_suite(void)
{
	Suite *s = suite_create("store_acl");
	TCase *tc = tcase_create("acl");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_skip_table);
	tcase_add_test(tc, test_normalize);
	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_client_lookup);
	tcase_add_test(tc, test_sender_lookup);
	tcase_add_test(tc, test_map_parse);
	tcase_add_test(tc, test_map_errors);
	tcase_add_test(tc, test_damaged);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_old_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(acl_suite());
}
