/*
 * check_deliver_batv.c - Bounce Address Tag Validation (deliver/batv.c):
 * a known answer, round trips of odd local parts, a wrong key, altered
 * tags, expiry across the wrap of the day count (mod 1000), case changes
 * in transit, malformed tags.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "deliver/batv.h"
#include "testutil.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[32] = "fedcba9876543210fedcba9876543210";
/* 2026-12-01 12:00 UTC: day 20788, 788 mod 1000 */
#define NOW	((int64_t)1796126400)
#define DAY	((int64_t)86400)

static void
sign_ok(const char *sender, int64_t now, char *out)
{
	int rc = batv_sign(key, sizeof(key), sender, now, BATV_MAX_AGE, out,
	    BATV_ADDR_MAX + 1);

	ck_assert_msg(rc == 1, "batv_sign(%s) = %d: %s", sender, rc,
	    err_msg());
}

/* batv_check() of addr at now: want the address out, or (want NULL)
   an error of class cls. */
static void
expect(const char *addr, int64_t now, const char *want, enum err_class cls)
{
	char out[BATV_ADDR_MAX + 1];
	int rc = batv_check(key, sizeof(key), addr, now, BATV_MAX_AGE, out,
	    sizeof(out));

	if (want != NULL)
		ck_assert_msg(rc == 1 && strcmp(out, want) == 0, "batv_check(%s)"
		    " = %d (%s), wanted %s", addr, rc, rc == 1 ? out :
		    err_msg(), want);
	else
		ck_assert_msg(rc == -1 && err_class() == cls, "batv_check(%s) "
		    "= %d class %s (%s), wanted %s", addr, rc,
		    err_class_name(err_class()), rc == 1 ? out : err_msg(),
		    err_class_name(cls));
}

#define check_ok(a, now, want)		expect((a), (now), (want), 0)
#define check_fails(a, now, cls)	expect((a), (now), NULL, (cls))

START_TEST(test_known_answer)
{
	char a[BATV_ADDR_MAX + 1];

	/* day 788 + 7; HMAC-SHA1(key, "0795alice@example.test") starts
	   1156c5 (Python's hmac module) */
	sign_ok("alice@example.test", NOW, a);
	ck_assert_str_eq(a, "prvs=07951156c5=alice@example.test");
	check_ok(a, NOW, "alice@example.test");
}
END_TEST

START_TEST(test_round_trip_odd_locals)
{
	static const char *senders[] = {
		"a@x.test", "first.last@example.test", "a=b@example.test",
		"user+ext@example.test", "=x=@example.test", "a+b=c@d.test",
		"prvsfoo@example.test", "Mixed.Case@Example.TEST",
		"a@b@example.test",
	};
	char a[BATV_ADDR_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
		sign_ok(senders[i], NOW, a);
		ck_assert_msg(strncmp(a, "prvs=0", 6) == 0 && strlen(a) ==
		    strlen(senders[i]) + 16, "%s signed as %s", senders[i], a);
		check_ok(a, NOW, senders[i]);
		ck_assert_int_eq(batv_is_tagged(a), 1);
		ck_assert_int_eq(batv_is_tagged(senders[i]), 0);
	}
	/* an untagged address is not BATV's */
	ck_assert_int_eq(batv_check(key, sizeof(key), "bob@example.test",
	    NOW, BATV_MAX_AGE, a, sizeof(a)), 0);
}
END_TEST

START_TEST(test_wrong_key_and_altered)
{
	char a[BATV_ADDR_MAX + 1], b[BATV_ADDR_MAX + 1], out[BATV_ADDR_MAX + 1];
	size_t i;

	sign_ok("alice@example.test", NOW, a);
	/* another secret */
	ck_assert_int_eq(batv_check(key2, sizeof(key2), a, NOW, BATV_MAX_AGE,
	    out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_PERM);
	/* another key number */
	snprintf(b, sizeof(b), "%s", a);
	b[5] = '1';
	check_fails(b, NOW, ERR_PERM);
	/* every hash digit and day digit changed in turn */
	for (i = 6; i < 5 + BATV_TAG_LEN; i++) {
		snprintf(b, sizeof(b), "%s", a);
		b[i] = b[i] == '0' ? '1' : '0';
		ck_assert_msg(batv_check(key, sizeof(key), b, NOW,
		    BATV_MAX_AGE, out, sizeof(out)) == -1, "%s accepted", b);
	}
	/* the tag moved to another address */
	snprintf(b, sizeof(b), "%.16smallory@example.test", a);
	check_fails(b, NOW, ERR_PERM);
	snprintf(b, sizeof(b), "%.16salice@other.test", a);
	check_fails(b, NOW, ERR_PERM);
	/* a secret too short is refused both ways */
	ck_assert_int_eq(batv_sign(key, 8, "a@b.test", NOW, 7, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(batv_check(key, 8, a, NOW, 7, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
}
END_TEST

/* A tag lives from its signing day to max_age days later, not after. */
START_TEST(test_expiry)
{
	char a[BATV_ADDR_MAX + 1];
	int64_t d;

	sign_ok("alice@example.test", NOW, a);
	for (d = 0; d <= BATV_MAX_AGE; d++)
		check_ok(a, NOW + d * DAY, "alice@example.test");
	check_fails(a, NOW + (BATV_MAX_AGE + 1) * DAY, ERR_LIMIT);
	check_fails(a, NOW + 400 * DAY, ERR_LIMIT);
	/* from before it was made: the expiry day is too far ahead */
	check_fails(a, NOW - DAY, ERR_LIMIT);
	/* 1000 days on the day count is the same again: the tag's own
	   day cannot tell (the draft's 3 digits); 999 days on it is past */
	check_fails(a, NOW + 999 * DAY, ERR_LIMIT);
}
END_TEST

/* Signed on day 997 (mod 1000): expires on day 4, across the wrap. */
START_TEST(test_expiry_wraps)
{
	int64_t t = (20997 * DAY) + 3600;	/* day 20997: 997 */
	char a[BATV_ADDR_MAX + 1];
	int64_t d;

	sign_ok("bob@example.test", t, a);
	ck_assert_msg(strncmp(a, "prvs=0004", 9) == 0, "day 997 + 7 is 004: "
	    "%s", a);
	for (d = 0; d <= BATV_MAX_AGE; d++)
		check_ok(a, t + d * DAY, "bob@example.test");
	check_fails(a, t + 8 * DAY, ERR_LIMIT);
	check_fails(a, t + 12 * DAY, ERR_LIMIT);
	check_fails(a, t - DAY, ERR_LIMIT);
}
END_TEST

START_TEST(test_case_in_transit)
{
	char a[BATV_ADDR_MAX + 1], b[BATV_ADDR_MAX + 1];
	size_t i;

	sign_ok("Alice.Smith@Example.ORG", NOW, a);
	for (i = 0; a[i] != '\0'; i++)
		b[i] = (char)toupper((unsigned char)a[i]);
	b[i] = '\0';
	check_ok(b, NOW, "ALICE.SMITH@EXAMPLE.ORG");
	for (i = 0; a[i] != '\0'; i++)
		b[i] = (char)tolower((unsigned char)a[i]);
	check_ok(b, NOW, "alice.smith@example.org");
}
END_TEST

START_TEST(test_malformed)
{
	static const char *bad[] = {
		"prvs=@example.test", "prvs=0795@example.test",
		"prvs=07951156c5@example.test",		/* no local part */
		"prvs=07951156c5=@example.test",
		"prvs=07951156c5xalice@example.test",	/* no '=' */
		"prvs=0x951156c5=alice@example.test",	/* day not digits */
		"prvs=0795115gc5=alice@example.test",	/* hash not hex */
		"prvs=0795115=alice@example.test",	/* short */
		"prvs=07951156c5=alice",		/* no domain */
		"prvs=07951156c5=alice@",
	};
	char out[BATV_ADDR_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(batv_check(key, sizeof(key), bad[i], NOW,
		    BATV_MAX_AGE, out, sizeof(out)) == -1 && (err_class() ==
		    ERR_INVALID || err_class() == ERR_PERM), "%s: class %s",
		    bad[i], err_class_name(err_class()));
}
END_TEST

START_TEST(test_sign_refuses)
{
	char a[BATV_ADDR_MAX + 1], out[BATV_ADDR_MAX + 1];
	char local[80];

	/* not local@domain, quoted, tagged already */
	ck_assert_int_eq(batv_sign(key, sizeof(key), "alice", NOW, 7, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(batv_sign(key, sizeof(key), "@x.test", NOW, 7, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(batv_sign(key, sizeof(key), "\"a b\"@x.test", NOW,
	    7, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	sign_ok("alice@example.test", NOW, a);
	ck_assert_int_eq(batv_sign(key, sizeof(key), a, NOW, 7, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	/* max_age out of range */
	ck_assert_int_eq(batv_sign(key, sizeof(key), "a@x.test", NOW, 0, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(batv_sign(key, sizeof(key), "a@x.test", NOW, 501,
	    out, sizeof(out)), -1);
	/* 48 octets fit in 64 with the tag; 49 do not */
	memset(local, 'l', 48);
	snprintf(local + 48, sizeof(local) - 48, "@x.test");
	sign_ok(local, NOW, a);
	check_ok(a, NOW, local);
	memset(local, 'l', 49);
	snprintf(local + 49, sizeof(local) - 49, "@x.test");
	ck_assert_int_eq(batv_sign(key, sizeof(key), local, NOW, 7, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	/* an out buffer too small */
	ck_assert_int_eq(batv_sign(key, sizeof(key), "ab@x.test", NOW, 7,
	    out, 10), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
}
END_TEST

static Suite *
batv_suite(void)
{
	Suite *s = suite_create("deliver_batv");
	TCase *tc = tcase_create("batv");

	tcase_add_test(tc, test_known_answer);
	tcase_add_test(tc, test_round_trip_odd_locals);
	tcase_add_test(tc, test_wrong_key_and_altered);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_expiry_wraps);
	tcase_add_test(tc, test_case_in_transit);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_sign_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(batv_suite());
}
