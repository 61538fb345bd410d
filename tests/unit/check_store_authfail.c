/*
 * check_store_authfail.c - failed-login records (store/authfail.h): a
 * lockout per (address, user), a refusal per address, a success that
 * clears only its own count, time windows, unban, and a bounded table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "store/authfail.h"
#include "store/store.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static time_t fake_now;
static const struct auth_policy pol = {
	.delay_ms = 10, .delay_max_ms = 100, .fail_max = 5,
	.fail_window = 600, .lockout = 900, .fail_max_address = 20,
};

static time_t
fake_clock(void)
{
	return fake_now;
}

static void
setup(void)
{
	fake_now = 1700000000;
	store_set_clock(fake_clock);
	dir = tu_tmpdir("authfail");
	st = tu_open(dir);
}

static void
teardown(void)
{
	store_close(&st);
	store_set_clock(NULL);
	store_authfail_set_max(0);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static void
fail_n(const char *ip, const char *user, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		ck_assert_msg(store_authfail_record(st, &pol, ip, user, NULL)
		    != -1, "record: %s", tu_err());
}

static int
blocked(const char *ip, const char *user)
{
	int rc = store_authfail_blocked(st, &pol, ip, user, NULL);

	ck_assert_msg(rc != -1, "blocked: %s", tu_err());
	return rc;
}

struct collect {
	struct store_authfail	r[64];
	size_t			n;
	size_t			total;	/* all, also past the 64 kept */
};

static int
collect_one(const struct store_authfail *r, void *ctx)
{
	struct collect *c = ctx;

	if (c->n < 64)
		c->r[c->n++] = *r;
	c->total++;
	return 0;
}

static int
collect(struct collect *c)
{
	c->n = c->total = 0;
	return store_authfail_list(st, collect_one, c);
}

static unsigned
failures_of(const char *ip, const char *user)
{
	static struct collect c;
	size_t i;

	ck_assert_int_eq(collect(&c), 0);
	for (i = 0; i < c.n; i++)
		if (strcmp(c.r[i].ip, ip) == 0 && strcmp(c.r[i].user, user) ==
		    0)
			return c.r[i].failures;
	return 0;
}

static unsigned
records(void)
{
	static struct collect c;

	ck_assert_int_eq(collect(&c), 0);
	return (unsigned)c.total;
}

START_TEST(test_user_lockout_is_per_user)
{
	unsigned secs = 0;

	fail_n("192.0.2.1", "alice@example.test", pol.fail_max - 1);
	ck_assert_int_eq(blocked("192.0.2.1", "alice@example.test"),
	    AUTH_BLOCK_NONE);
	ck_assert_int_eq(store_authfail_record(st, &pol, "192.0.2.1",
	    "Alice#Example.test", NULL), 1);	/* the same login */
	ck_assert_int_eq(store_authfail_blocked(st, &pol, "192.0.2.1",
	    "alice@example.test", &secs), AUTH_BLOCK_USER);
	ck_assert_uint_eq(secs, pol.lockout);
	/* bob from the same address, alice from another: not blocked. */
	ck_assert_int_eq(blocked("192.0.2.1", "bob@example.test"),
	    AUTH_BLOCK_NONE);
	ck_assert_int_eq(blocked("192.0.2.1", NULL), AUTH_BLOCK_NONE);
	ck_assert_int_eq(blocked("192.0.2.2", "alice@example.test"),
	    AUTH_BLOCK_NONE);
	/* The lock ends after lockout seconds. */
	fake_now += pol.lockout;
	ck_assert_int_eq(blocked("192.0.2.1", "alice@example.test"),
	    AUTH_BLOCK_NONE);
}
END_TEST

START_TEST(test_success_clears_only_its_own_count)
{
	fail_n("192.0.2.1", "alice@example.test", 4);
	fail_n("192.0.2.1", "mallory@example.test", 1);
	ck_assert_int_eq(store_authfail_clear(st, "192.0.2.1",
	    "mallory@example.test"), 0);
	ck_assert_uint_eq(failures_of("192.0.2.1", "alice@example.test"), 4);
	ck_assert_uint_eq(failures_of("192.0.2.1", "mallory@example.test"), 0);
	ck_assert_uint_eq(failures_of("192.0.2.1", ""), 5);
	/* A good login with no record writes nothing. */
	ck_assert_int_eq(store_authfail_clear(st, "192.0.2.9",
	    "bob@example.test"), 0);
	ck_assert_uint_eq(records(), 2);
}
END_TEST

START_TEST(test_address_refusal_and_recent_count)
{
	char user[64];
	unsigned i, recent = 0, secs = 0;

	for (i = 0; i < pol.fail_max_address; i++) {
		snprintf(user, sizeof(user), "u%u@example.test", i);
		ck_assert_int_ne(store_authfail_record(st, &pol, "2001:db8::1",
		    user, &recent), -1);
		ck_assert_uint_eq(recent, i + 1);
	}
	ck_assert_int_eq(store_authfail_blocked(st, &pol, "2001:db8::1", NULL,
	    &secs), AUTH_BLOCK_ADDRESS);
	ck_assert_uint_eq(secs, pol.lockout);
	ck_assert_int_eq(blocked("2001:db8::1", "bob@example.test"),
	    AUTH_BLOCK_ADDRESS);
	ck_assert_int_eq(blocked("2001:db8::2", NULL), AUTH_BLOCK_NONE);
}
END_TEST

START_TEST(test_window_restarts_the_count)
{
	unsigned recent = 0;

	fail_n("192.0.2.1", "alice@example.test", pol.fail_max - 1);
	fake_now += pol.fail_window;
	ck_assert_int_eq(store_authfail_record(st, &pol, "192.0.2.1",
	    "alice@example.test", &recent), 0);
	ck_assert_uint_eq(recent, 1);
	ck_assert_uint_eq(failures_of("192.0.2.1", "alice@example.test"), 1);
	ck_assert_int_eq(blocked("192.0.2.1", "alice@example.test"),
	    AUTH_BLOCK_NONE);
}
END_TEST

START_TEST(test_unban)
{
	unsigned n = 0;

	fail_n("10.0.0.1", "alice@example.test", pol.fail_max);
	fail_n("10.0.0.10", "alice@example.test", pol.fail_max);
	ck_assert_int_eq(blocked("10.0.0.1", "alice@example.test"),
	    AUTH_BLOCK_USER);
	ck_assert_int_eq(store_authfail_unban(st, "10.0.0.1", &n), 0);
	ck_assert_uint_eq(n, 2);	/* the address's and alice's */
	ck_assert_int_eq(blocked("10.0.0.1", "alice@example.test"),
	    AUTH_BLOCK_NONE);
	/* 10.0.0.10 starts with "10.0.0.1" but is another address. */
	ck_assert_int_eq(blocked("10.0.0.10", "alice@example.test"),
	    AUTH_BLOCK_USER);
	ck_assert_int_eq(store_authfail_unban(st, NULL, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(records(), 0);
	ck_assert_int_eq(store_authfail_unban(st, "", &n), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
}
END_TEST

START_TEST(test_table_is_bounded)
{
	char ip[32];
	unsigned i;

	store_authfail_set_max(40);
	/* Old records that neither count nor lock go first ... */
	for (i = 0; i < 15; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%u", i);
		fail_n(ip, "old@example.test", 1);
	}
	fake_now += pol.fail_window + pol.lockout;
	fail_n("192.0.2.1", "alice@example.test", pol.fail_max);
	for (i = 0; i < 200; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%u", i);
		fail_n(ip, NULL, 1);
		fake_now++;
		ck_assert_msg(records() <= 40, "%u records after %u new "
		    "addresses", records(), i + 1);
	}
	ck_assert_uint_eq(failures_of("198.51.100.0", "old@example.test"), 0);
	/* ... then the least recently failed: the newest are kept. */
	ck_assert_uint_eq(failures_of("203.0.113.199", ""), 1);
}
END_TEST

/*
 * A table kept full by failures that arrive as fast as old ones expire:
 * each prune must make room for 1/8 of the table, not for the next one
 * only, or every failure would scan the whole table inside a write
 * transaction on the daemon's loop.
 */
START_TEST(test_full_table_has_headroom_after_a_prune)
{
	struct auth_policy p = pol;
	char ip[32];
	unsigned i, n, last = 0, prunes = 0;

	store_authfail_set_max(80);
	/* Records expire about as fast as the table fills: each full
	   table has only two or three expired ones. */
	p.fail_window = 77;
	for (i = 0; i < 500; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%u", i % 250);
		ck_assert_int_ne(store_authfail_record(st, &p, ip, NULL, NULL),
		    -1);
		fake_now++;
		n = records();
		ck_assert_msg(n <= 80, "%u records", n);
		if (i >= 200 && n < last)
			prunes++;
		last = n;
	}
	/* 300 failures, at least 80 / 8 - 2 of them between two prunes. */
	ck_assert_msg(prunes <= 300 / (80 / 8 - 2), "%u prunes (full scans "
	    "of the table) for 300 failures", prunes);
}
END_TEST

static Suite *
authfail_suite(void)
{
	Suite *s = suite_create("store_authfail");
	TCase *tc = tcase_create("authfail");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_user_lockout_is_per_user);
	tcase_add_test(tc, test_success_clears_only_its_own_count);
	tcase_add_test(tc, test_address_refusal_and_recent_count);
	tcase_add_test(tc, test_window_restarts_the_count);
	tcase_add_test(tc, test_unban);
	tcase_add_test(tc, test_table_is_bounded);
	tcase_add_test(tc, test_full_table_has_headroom_after_a_prune);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(authfail_suite());
}
