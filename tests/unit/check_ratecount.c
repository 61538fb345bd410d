/*
 * check_ratecount.c - the per-host counters shared by a daemon's
 * processes (common/ratecount.h): hosts and kinds count apart, a counter
 * starts again in a new window, a lookup takes no slot, a full run of
 * slots gives up the stalest host's and only that one, the table stays
 * bounded under many hosts, a reset zeroes one counter of one host and
 * takes no slot, a count made in a forked process is seen by
 * its parent (the mapping is shared, not copied), and a process killed
 * while it holds the lock stops nobody.
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ratecount.h"

static Suite	*ratecount_suite(void);

START_TEST(test_hosts_and_kinds_apart)
{
	struct ratecount *r;

	ck_assert_int_eq(ratecount_new(1024, &r), 0);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 0, 7, 1, 100), 1);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 0, 7, 1, 100), 2);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.2", 0, 7, 1, 100), 1);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 1, 7, 3, 100), 3);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 0, 7, 101), 2);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.2", 0, 7, 101), 1);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 1, 7, 101), 3);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.2", 1, 7, 101), 0);
	ck_assert_uint_eq(ratecount_get(r, "2001:db8::/64", 0, 7, 101), 0);
	ratecount_free(&r);
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_window_rolls_over)
{
	struct ratecount *r;

	ck_assert_int_eq(ratecount_new(16, &r), 0);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 2, 500, 4, 30000), 4);
	/* The next minute: not 5 but 1. */
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 2, 501, 30060), 0);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 2, 501, 1, 30060), 1);
	/* The old window is gone, not kept beside. */
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 2, 500, 30061), 0);
	/* Another kind of the same host keeps its own window. */
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 3, 20261203, 1,
	    30061), 1);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 3, 20261203, 30062),
	    1);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 3, 20261204, 30062),
	    0);
	ratecount_free(&r);
}
END_TEST

START_TEST(test_saturates)
{
	struct ratecount *r;

	ck_assert_int_eq(ratecount_new(4, &r), 0);
	ck_assert_uint_eq(ratecount_add(r, "h", 0, 1, UINT32_MAX - 1, 1),
	    UINT32_MAX - 1);
	ck_assert_uint_eq(ratecount_add(r, "h", 0, 1, 5, 1), UINT32_MAX);
	ck_assert_uint_eq(ratecount_add(r, "h", 0, 1, 1, 1), UINT32_MAX);
	ratecount_free(&r);
}
END_TEST

/*
 * A reset (an administrator's lift) zeroes that counter of that host in
 * its window and the next add counts from 0; other kinds and hosts keep
 * theirs; a stranger's reset takes no slot.
 */
START_TEST(test_reset)
{
	struct ratecount *r;
	char key[32];
	int i;

	ck_assert_int_eq(ratecount_new(RATECOUNT_PROBE, &r), 0);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 2, 20261203, 5, 10),
	    5);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 0, 7, 3, 10), 3);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.2", 2, 20261203, 4, 10),
	    4);
	ratecount_reset(r, "192.0.2.1", 2);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 2, 20261203, 11), 0);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.1", 0, 7, 11), 3);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.2", 2, 20261203, 11), 4);
	ck_assert_uint_eq(ratecount_add(r, "192.0.2.1", 2, 20261203, 1, 12),
	    1);
	/* A full table: a stranger's reset would have to evict someone. */
	for (i = 3; i <= RATECOUNT_PROBE; i++) {
		snprintf(key, sizeof(key), "192.0.2.%d", i);
		ratecount_add(r, key, 2, 20261203, 1, 20 + i);
	}
	ratecount_reset(r, "10.9.9.9", 2);
	ck_assert_uint_eq(ratecount_evictions(r), 0);
	ck_assert_uint_eq(ratecount_get(r, "10.9.9.9", 2, 20261203, 40), 0);
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.2", 2, 20261203, 40), 4);
	ratecount_free(&r);
}
END_TEST

/* A table of RATECOUNT_PROBE slots: every key lives in the same run. */
START_TEST(test_evicts_stalest)
{
	struct ratecount *r;
	char key[32];
	int i;

	ck_assert_int_eq(ratecount_new(RATECOUNT_PROBE, &r), 0);
	for (i = 0; i < RATECOUNT_PROBE; i++) {
		snprintf(key, sizeof(key), "10.0.0.%d", i);
		ck_assert_uint_eq(ratecount_add(r, key, 0, 1, (uint32_t)i + 1,
		    100 + i), (uint32_t)i + 1);
	}
	ck_assert_uint_eq(ratecount_evictions(r), 0);
	/* A lookup of a stranger takes nothing. */
	ck_assert_uint_eq(ratecount_get(r, "10.9.9.9", 0, 1, 150), 0);
	ck_assert_uint_eq(ratecount_evictions(r), 0);
	/* 10.0.0.0 is seen again: 10.0.0.1 is now the stalest. */
	ck_assert_uint_eq(ratecount_get(r, "10.0.0.0", 0, 1, 200), 1);
	ck_assert_uint_eq(ratecount_add(r, "10.9.9.9", 0, 1, 1, 300), 1);
	ck_assert_uint_eq(ratecount_evictions(r), 1);
	ck_assert_uint_eq(ratecount_get(r, "10.0.0.1", 0, 1, 301), 0);
	ck_assert_uint_eq(ratecount_get(r, "10.0.0.0", 0, 1, 301), 1);
	for (i = 2; i < RATECOUNT_PROBE; i++) {
		snprintf(key, sizeof(key), "10.0.0.%d", i);
		ck_assert_uint_eq(ratecount_get(r, key, 0, 1, 301),
		    (uint32_t)i + 1);
	}
	ck_assert_uint_eq(ratecount_get(r, "10.9.9.9", 0, 1, 301), 1);
	/* The evicted host comes back with a count of its own from 0. */
	ck_assert_uint_eq(ratecount_add(r, "10.0.0.1", 0, 1, 1, 400), 1);
	ratecount_free(&r);
}
END_TEST

/*
 * Hashing spreads keys: a quarter-full table of addresses that differ in
 * their last digits loses none; many more hosts than slots only evict,
 * and the newest host is always counted.
 */
START_TEST(test_spread_and_bounded)
{
	struct ratecount *r;
	char key[32];
	int i;

	ck_assert_int_eq(ratecount_new(1024, &r), 0);
	for (i = 0; i < 256; i++) {
		snprintf(key, sizeof(key), "198.51.%d.%d", i / 100, i % 100);
		ratecount_add(r, key, 0, 1, 1, i);
	}
	ck_assert_uint_eq(ratecount_evictions(r), 0);
	for (i = 0; i < 256; i++) {
		snprintf(key, sizeof(key), "198.51.%d.%d", i / 100, i % 100);
		ck_assert_uint_eq(ratecount_get(r, key, 0, 1, 1000), 1);
	}
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "2001:db8:%x:%x::/64", i >> 16,
		    i & 0xffff);
		ck_assert_uint_eq(ratecount_add(r, key, 1, 1, 1, 2000 + i),
		    1);
	}
	ck_assert_uint_ge(ratecount_evictions(r), 100000 - 1024);
	ck_assert_uint_le(ratecount_evictions(r), 100000);
	ratecount_free(&r);
}
END_TEST

START_TEST(test_shared_across_fork)
{
	struct ratecount *r;
	pid_t pid;
	int status, i;

	ck_assert_int_eq(ratecount_new(64, &r), 0);
	ratecount_add(r, "192.0.2.7", 0, 1, 1, 1);
	if ((pid = fork()) == 0) {
		for (i = 0; i < 1000; i++)
			ratecount_add(r, "192.0.2.7", 0, 1, 1, 2);
		_exit(ratecount_get(r, "192.0.2.7", 0, 1, 2) >= 1001 ? 0 : 1);
	}
	ck_assert_int_ne(pid, -1);
	for (i = 0; i < 1000; i++)
		ratecount_add(r, "192.0.2.7", 0, 1, 1, 2);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Both processes' adds, none lost under the lock. */
	ck_assert_uint_eq(ratecount_get(r, "192.0.2.7", 0, 1, 3), 2001);
	ratecount_free(&r);
}
END_TEST

/*
 * Processes killed (SIGKILL) while they count, many of them inside the
 * lock: the parent still counts, nothing waits for a dead holder (the
 * lock is robust), and the counts are whole numbers of adds.
 */
START_TEST(test_killed_holder)
{
	struct ratecount *r;
	pid_t pid;
	int status, i;

	ck_assert_int_eq(ratecount_new(64, &r), 0);
	for (i = 0; i < 20; i++) {
		if ((pid = fork()) == 0)
			for (;;)
				ratecount_add(r, "192.0.2.8", 0, 1, 1, 1);
		ck_assert_int_ne(pid, -1);
		usleep(2000);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status));
		ck_assert_uint_eq(ratecount_add(r, "192.0.2.9", 0, 1, 1, 2),
		    (uint32_t)i + 1);
	}
	ck_assert_uint_gt(ratecount_get(r, "192.0.2.8", 0, 1, 3), 0);
	ratecount_free(&r);
}
END_TEST

static Suite *
ratecount_suite(void)
{
	Suite *s = suite_create("ratecount");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, test_hosts_and_kinds_apart);
	tcase_add_test(tc, test_window_rolls_over);
	tcase_add_test(tc, test_saturates);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_evicts_stalest);
	tcase_add_test(tc, test_spread_and_bounded);
	tcase_add_test(tc, test_shared_across_fork);
	tcase_add_test(tc, test_killed_holder);
	/* A lock left to a dead process would hang: fail instead. */
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ratecount_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
