/*
 * check_store_access.c - POP-before-SMTP grants (store/access.h): a
 * grant is trusted until it expires, and expired grants do not pile up.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/error.h"
#include "store/access.h"
#include "store/store.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static time_t fake_now;

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
	dir = tu_tmpdir("access");
	st = tu_open(dir);
}

static void
teardown(void)
{
	store_close(&st);
	store_set_clock(NULL);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

static int
check_fn(struct store_txn *t, void *ctx)
{
	return store_access_check(t, ctx);
}

START_TEST(test_grant_and_expiry)
{
	ck_assert_int_eq(store_access_grant(st, "192.0.2.1", 5), 1);
	ck_assert_msg(store_read(st, check_fn, "192.0.2.1") == 1,
	    "granted address trusted");
	ck_assert_msg(store_read(st, check_fn, "192.0.2.2") == 0,
	    "another address not trusted");
	fake_now += 5 * 60 + 1;
	ck_assert_msg(store_read(st, check_fn, "192.0.2.1") == 0,
	    "trust ends after the minutes granted");
	ck_assert_int_eq(store_access_grant(st, "", 5), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
}
END_TEST

START_TEST(test_expired_do_not_pile_up)
{
	char ip[32];
	unsigned i, n = 99;

	for (i = 0; i < 300; i++) {
		snprintf(ip, sizeof(ip), "10.0.%u.%u", i / 200, i % 200);
		ck_assert_int_eq(store_access_grant(st, ip, 1), 1);
		if (i == 200)
			fake_now += 120;	/* the first 201 expire */
	}
	/* Grants go on; the expired ones were removed along the way. */
	ck_assert_int_eq(store_access_expire(st, &n), 0);
	ck_assert_msg(n == 0, "%u expired grants were left in the table", n);
}
END_TEST

static Suite *
access_suite(void)
{
	Suite *s = suite_create("store_access");
	TCase *tc = tcase_create("access");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_grant_and_expiry);
	tcase_add_test(tc, test_expired_do_not_pile_up);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(access_suite());
}
