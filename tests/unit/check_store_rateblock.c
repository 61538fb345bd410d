/*
 * check_store_rateblock.c - hosts blocked for a day (store/rateblock.h):
 * a block is found for its day only, hosts are apart, it outlives the
 * store being closed and opened again (a restart of the daemon), and
 * records of other days are purged as new blocks come, so the table
 * holds about today's.  The list walks one day's blocks only; del lifts
 * one host's block or every host's and counts only the day's; the day of
 * a block and the date it ends are the local calendar's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/*
 * Blocks of yesterday, 20261202, as a daemon leaves them: 60 hosts
 * 198.51.100.N, and 203.0.113.9, which sorts after them, so the purges of
 * three blocks of today (16 each, from the first key) leave it.
 */
static void
yesterday(void)
{
	char host[32];
	int i;

	ck_assert_int_eq(store_rateblock_put(tu_st, "203.0.113.9", 20261202,
	    9), 0);
	for (i = 0; i < 60; i++) {
		snprintf(host, sizeof(host), "198.51.100.%d", i);
		ck_assert_int_eq(store_rateblock_put(tu_st, host, 20261202, 1),
		    0);
	}
}

/* What store_rateblock_list() gave: "host=n " each, in order. */
struct seen {
	uint32_t day;
	char	text[1024];
	int	stop_after;	/* 0: never */
	int	calls;
};

static int
list_one(const struct store_rateblock *r, void *ctx)
{
	struct seen *w = ctx;
	size_t len = strlen(w->text);

	ck_assert_uint_eq(r->day, w->day);
	snprintf(w->text + len, sizeof(w->text) - len, "%s=%u ", r->host,
	    r->n);
	return ++w->calls == w->stop_after ? -1 : 0;
}

static const char *
list(uint32_t day, int stop_after, int want_rc)
{
	static struct seen w;

	memset(&w, 0, sizeof(w));
	w.day = day;
	w.stop_after = stop_after;
	ck_assert_int_eq(store_rateblock_list(tu_st, day, list_one, &w),
	    want_rc);
	return w.text;
}

START_TEST(test_list_one_day)
{
	uint32_t c;

	ck_assert_str_eq(list(20261203, 0, 0), "");
	yesterday();
	ck_assert_int_eq(store_rateblock_put(tu_st, "192.0.2.2", 20261203, 4),
	    0);
	ck_assert_int_eq(store_rateblock_put(tu_st, "2001:db8::/64", 20261203,
	    3), 0);
	ck_assert_int_eq(store_rateblock_put(tu_st, "192.0.2.1", 20261203, 5),
	    0);
	/* Yesterday's records left are not blocks today. */
	ck_assert_int_eq(get("203.0.113.9", 20261202, &c), 1);
	ck_assert_str_eq(list(20261203, 0, 0),
	    "192.0.2.1=5 192.0.2.2=4 2001:db8::/64=3 ");
	ck_assert_ptr_nonnull(strstr(list(20261202, 0, 0), "203.0.113.9=9 "));
	/* The callback's -1 stops the walk and is the result. */
	ck_assert_str_eq(list(20261203, 1, -1), "192.0.2.1=5 ");
}
END_TEST

START_TEST(test_del_one)
{
	unsigned n = 99;
	uint32_t c;

	yesterday();
	ck_assert_int_eq(store_rateblock_put(tu_st, "192.0.2.1", 20261203, 5),
	    0);
	ck_assert_int_eq(store_rateblock_put(tu_st, "192.0.2.2", 20261203, 4),
	    0);
	ck_assert_int_eq(store_rateblock_del(tu_st, "192.0.2.1", 20261203, &n),
	    0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(get("192.0.2.1", 20261203, &c), 0);
	ck_assert_int_eq(get("192.0.2.2", 20261203, &c), 1);
	/* Again, a host never blocked, one blocked another day: none. */
	ck_assert_int_eq(store_rateblock_del(tu_st, "192.0.2.1", 20261203, &n),
	    0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(store_rateblock_del(tu_st, "192.0.2.9", 20261203, &n),
	    0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(get("203.0.113.9", 20261202, &c), 1);
	ck_assert_int_eq(store_rateblock_del(tu_st, "203.0.113.9", 20261203,
	    &n), 0);
	ck_assert_uint_eq(n, 0);
	/* ... but that record is gone too. */
	ck_assert_int_eq(get("203.0.113.9", 20261202, &c), 0);
	ck_assert_str_eq(list(20261203, 0, 0), "192.0.2.2=4 ");
	n = 99;
	ck_assert_int_eq(store_rateblock_del(tu_st, "", 20261203, &n), -1);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_del_all)
{
	unsigned n = 99;
	uint32_t c;

	ck_assert_int_eq(store_rateblock_del(tu_st, NULL, 20261203, &n), 0);
	ck_assert_uint_eq(n, 0);
	yesterday();
	ck_assert_int_eq(store_rateblock_put(tu_st, "192.0.2.1", 20261203, 5),
	    0);
	ck_assert_int_eq(store_rateblock_put(tu_st, "2001:db8::/64", 20261203,
	    3), 0);
	ck_assert_int_eq(store_rateblock_del(tu_st, NULL, 20261203, &n), 0);
	/* Two of today lifted; yesterday's are removed, not counted. */
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(get("192.0.2.1", 20261203, &c), 0);
	ck_assert_int_eq(get("2001:db8::/64", 20261203, &c), 0);
	ck_assert_str_eq(list(20261203, 0, 0), "");
	ck_assert_str_eq(list(20261202, 0, 0), "");
	ck_assert_int_eq(store_rateblock_del(tu_st, NULL, 20261203, NULL), 0);
}
END_TEST

START_TEST(test_day)
{
	char until[16];
	struct tm tm;
	time_t t;

	setenv("TZ", "UTC", 1);
	tzset();
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 2026 - 1900;
	tm.tm_mon = 11;
	tm.tm_mday = 31;
	tm.tm_hour = 23;
	tm.tm_min = 59;
	tm.tm_sec = 59;
	t = timegm(&tm);
	ck_assert_uint_eq(store_rateblock_day(t, NULL, 0), 20261231);
	/* The 32nd of December is the first of January. */
	ck_assert_uint_eq(store_rateblock_day(t, until, sizeof(until)),
	    20261231);
	ck_assert_str_eq(until, "2027-01-01");
	ck_assert_uint_eq(store_rateblock_day(t + 1, until, sizeof(until)),
	    20270101);
	ck_assert_str_eq(until, "2027-01-02");
	/* Local time: an hour east, 23:59:59 UTC is already the next day. */
	setenv("TZ", "CET-1", 1);
	tzset();
	ck_assert_uint_eq(store_rateblock_day(t, NULL, 0), 20270101);
	setenv("TZ", "UTC", 1);
	tzset();
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
	tcase_add_test(tc, test_list_one_day);
	tcase_add_test(tc, test_del_one);
	tcase_add_test(tc, test_del_all);
	tcase_add_test(tc, test_day);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(rateblock_suite());
}
