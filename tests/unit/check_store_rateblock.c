/*
 * check_store_rateblock.c - hosts blocked for a day (store/rateblock.h):
 * a block is found for its day only, hosts are apart, it outlives the
 * store being closed and opened again (a restart of the daemon), and
 * records of other days are purged as new blocks come, so the table
 * holds about today's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/rateblock.h"
#include "store/store.h"
#include "testutil.h"

static int
get(const char *host, uint32_t day, uint32_t *n_r)
{
	int rc = store_rateblock_get(tu_st, host, day, n_r);

	ck_assert_msg(rc != -1, "get %s: %s", host, tu_err());
	return rc;
}

START_TEST(test_day_and_host)
{
	uint32_t n;

	ck_assert_int_eq(get("192.0.2.1", 20261203, &n), 0);
	ck_assert_int_eq(store_rateblock_put(tu_st, "192.0.2.1", 20261203, 5), 0);
	ck_assert_int_eq(get("192.0.2.1", 20261203, &n), 1);
	ck_assert_uint_eq(n, 5);
	/* The next day it is over; another host never was. */
	ck_assert_int_eq(get("192.0.2.1", 20261204, &n), 0);
	ck_assert_int_eq(get("192.0.2.2", 20261203, &n), 0);
	ck_assert_int_eq(store_rateblock_put(tu_st, "2001:db8:1:2::/64",
	    20261203, 7), 0);
	ck_assert_int_eq(get("2001:db8:1:2::/64", 20261203, &n), 1);
	ck_assert_uint_eq(n, 7);
	/* Bad keys are refused, not stored. */
	ck_assert_int_eq(store_rateblock_put(tu_st, "", 20261203, 1), -1);
	ck_assert_int_eq(store_rateblock_get(tu_st, "", 20261203, &n), -1);
}
END_TEST

START_TEST(test_outlives_reopen)
{
	uint32_t n;

	ck_assert_int_eq(store_rateblock_put(tu_st, "192.0.2.9", 20261203, 3), 0);
	store_close(&tu_st);
	tu_st = tu_open(tu_st_dir);
	ck_assert_int_eq(get("192.0.2.9", 20261203, &n), 1);
	ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(test_old_days_purged)
{
	char host[32];
	uint32_t n;
	int i, left = 0;

	for (i = 0; i < 50; i++) {
		snprintf(host, sizeof(host), "198.51.100.%d", i);
		ck_assert_int_eq(store_rateblock_put(tu_st, host, 20261202, 1),
		    0);
	}
	/* Three blocks today: each takes up to 16 of yesterday's away. */
	for (i = 0; i < 3; i++) {
		snprintf(host, sizeof(host), "203.0.113.%d", i);
		ck_assert_int_eq(store_rateblock_put(tu_st, host, 20261203, 1),
		    0);
	}
	for (i = 0; i < 50; i++) {
		snprintf(host, sizeof(host), "198.51.100.%d", i);
		left += get(host, 20261202, &n);
	}
	ck_assert_int_eq(left, 50 - 3 * STORE_RATEBLOCK_PURGE);
	for (i = 0; i < 3; i++) {
		snprintf(host, sizeof(host), "203.0.113.%d", i);
		ck_assert_int_eq(get(host, 20261203, &n), 1);
	}
}
END_TEST

static Suite *
rateblock_suite(void)
{
	Suite *s = suite_create("store_rateblock");
	TCase *tc = tcase_create("rateblock");

	tcase_add_checked_fixture(tc, tu_store_setup, tu_store_teardown);
	tcase_add_test(tc, test_day_and_host);
	tcase_add_test(tc, test_outlives_reopen);
	tcase_add_test(tc, test_old_days_purged);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(rateblock_suite());
}
