/*
 * check_deliver_srs.c - the Sender Rewriting Scheme (deliver/srs.c):
 * round trips, SRS1 of SRS0 and back, tampered hashes, expiry, case
 * changes in transit, malformed forms, long addresses.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "deliver/srs.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[32] = "fedcba9876543210fedcba9876543210";
/* 2026-12-01 12:00 UTC */
#define NOW	((int64_t)1796126400)
#define DAY	((int64_t)86400)

static void
fwd_ok(const char *sender, const char *dom, int64_t now, char *out)
{
	int rc = srs_forward(key, sizeof(key), sender, dom, now, out,
	    SRS_ADDR_MAX + 1);

	ck_assert_msg(rc == 1, "srs_forward(%s, %s) = %d: %s", sender, dom,
	    rc, err_msg());
}

static void
rev_ok(const char *addr, int64_t now, const char *want)
{
	char out[SRS_ADDR_MAX + 1];
	int rc = srs_reverse(key, sizeof(key), addr, now, SRS_MAX_AGE, out,
	    sizeof(out));

	ck_assert_msg(rc == 1, "srs_reverse(%s) = %d: %s", addr, rc,
	    err_msg());
	ck_assert_msg(strcmp(out, want) == 0, "srs_reverse(%s) gave %s, "
	    "wanted %s", addr, out, want);
}

static void
rev_fails(const char *addr, int64_t now, enum err_class cls)
{
	char out[SRS_ADDR_MAX + 1];
	int rc = srs_reverse(key, sizeof(key), addr, now, SRS_MAX_AGE, out,
	    sizeof(out));

	ck_assert_msg(rc == -1 && err_class() == cls, "srs_reverse(%s) = %d "
	    "class %s (%s), wanted %s", addr, rc, err_class_name(err_class()),
	    rc == 1 ? out : err_msg(), err_class_name(cls));
}

START_TEST(test_srs0_round_trip)
{
	char a[SRS_ADDR_MAX + 1];

	fwd_ok("Alice.Smith@Example.ORG", "fwd.test", NOW, a);
	ck_assert_msg(strncmp(a, "SRS0=", 5) == 0, "got %s", a);
	ck_assert_msg(strstr(a, "=Example.ORG=Alice.Smith@fwd.test") != NULL,
	    "domain and local part kept as given: %s", a);
	ck_assert_int_eq(srs_is_srs(a), 1);
	ck_assert_int_eq(srs_is_srs("alice@example.org"), 0);
	ck_assert_int_eq(srs_is_srs("srs0x@example.org"), 0);
	rev_ok(a, NOW, "Alice.Smith@Example.ORG");
	/* a local part with '=' and '+' in it survives */
	fwd_ok("a=b+c@x.test", "fwd.test", NOW, a);
	rev_ok(a, NOW, "a=b+c@x.test");
	/* the same input the same day gives the same address */
	{
		char b[SRS_ADDR_MAX + 1];

		fwd_ok("a=b+c@x.test", "fwd.test", NOW + 3600, b);
		ck_assert_str_eq(a, b);
	}
	/* the "=" between fields: moving bytes from domain to local fails */
	fwd_ok("bc@xa.test", "fwd.test", NOW, a);
	{
		char *p = strstr(a, "=xa.test=bc@");
		char t[SRS_ADDR_MAX + 1];

		ck_assert_ptr_nonnull(p);
		snprintf(t, sizeof(t), "%.*s=xa.tes=tbc@fwd.test",
		    (int)(p - a), a);
		rev_fails(t, NOW, ERR_PERM);
	}
}
END_TEST

START_TEST(test_srs1_of_srs0)
{
	char a[SRS_ADDR_MAX + 1], b[SRS_ADDR_MAX + 1], c[SRS_ADDR_MAX + 1];

	fwd_ok("bob@origin.test", "first.test", NOW, a);
	fwd_ok(a, "second.test", NOW, b);
	ck_assert_msg(strncmp(b, "SRS1=", 5) == 0 &&
	    strstr(b, "=first.test==") != NULL &&
	    strstr(b, "@second.test") != NULL, "SRS1 form: %s", b);
	/* the second forwarder gives back the first one's address */
	rev_ok(b, NOW, a);
	rev_ok(a, NOW, "bob@origin.test");
	/* forwarded a third time: the chain does not grow */
	fwd_ok(b, "third.test", NOW, c);
	ck_assert_msg(strncmp(c, "SRS1=", 5) == 0 &&
	    strstr(c, "=first.test==") != NULL &&
	    strlen(c) == strlen(b) - strlen("second") + strlen("third"),
	    "SRS1 again: %s (from %s)", c, b);
	rev_ok(c, NOW, a);
	/* an SRS1 made by someone else's key fails here */
	{
		char o[SRS_ADDR_MAX + 1];

		ck_assert_int_eq(srs_forward(key2, sizeof(key2), a,
		    "second.test", NOW, o, sizeof(o)), 1);
		rev_fails(o, NOW, ERR_PERM);
	}
}
END_TEST

START_TEST(test_tampered)
{
	char a[SRS_ADDR_MAX + 1], t[SRS_ADDR_MAX + 1];
	size_t i;

	fwd_ok("carol@origin.test", "fwd.test", NOW, a);
	/* every character of the hash changed */
	for (i = 5; i < 5 + SRS_HASH_LEN; i++) {
		snprintf(t, sizeof(t), "%s", a);
		t[i] = t[i] == 'A' || t[i] == 'a' ? 'B' : 'A';
		rev_fails(t, NOW, ERR_PERM);
	}
	/* the destination changed */
	snprintf(t, sizeof(t), "%s", a);
	*strstr(t, "carol") = 'k';
	rev_fails(t, NOW, ERR_PERM);
	snprintf(t, sizeof(t), "%s", a);
	*strstr(t, "origin") = 'O' + 1;
	rev_fails(t, NOW, ERR_PERM);
	/* the timestamp changed (to yesterday: still young, but signed) */
	snprintf(t, sizeof(t), "%s", a);
	t[5 + SRS_HASH_LEN + 2] = t[5 + SRS_HASH_LEN + 2] == 'A' ? 'B' : 'A';
	rev_fails(t, NOW, ERR_PERM);
	/* another secret */
	{
		char o[SRS_ADDR_MAX + 1];

		ck_assert_int_eq(srs_reverse(key2, sizeof(key2), a, NOW,
		    SRS_MAX_AGE, o, sizeof(o)), -1);
		ck_assert_int_eq(err_class(), ERR_PERM);
	}
}
END_TEST

START_TEST(test_expiry)
{
	char a[SRS_ADDR_MAX + 1];

	fwd_ok("dave@origin.test", "fwd.test", NOW, a);
	rev_ok(a, NOW + SRS_MAX_AGE * DAY, "dave@origin.test");
	rev_fails(a, NOW + (SRS_MAX_AGE + 1) * DAY, ERR_LIMIT);
	ck_assert_msg(strstr(err_msg(), "too old") != NULL, "says why: %s",
	    err_msg());
	/* one made "tomorrow" (a clock ahead) is not young either */
	rev_fails(a, NOW - 2 * DAY, ERR_LIMIT);
	/* the timestamp wraps around after 1024 days */
	rev_ok(a, NOW + SRS_TIME_SLOTS * DAY, "dave@origin.test");
	/* max_age 0: only today */
	{
		char o[SRS_ADDR_MAX + 1];

		ck_assert_int_eq(srs_reverse(key, sizeof(key), a, NOW, 0, o,
		    sizeof(o)), 1);
		ck_assert_int_eq(srs_reverse(key, sizeof(key), a, NOW + DAY,
		    0, o, sizeof(o)), -1);
	}
}
END_TEST

static void
fold(char *s, int upper)
{
	for (; *s != '\0'; s++)
		*s = (char)(upper ? toupper((unsigned char)*s) :
		    tolower((unsigned char)*s));
}

START_TEST(test_case_in_transit)
{
	char a[SRS_ADDR_MAX + 1], t[SRS_ADDR_MAX + 1], b[SRS_ADDR_MAX + 1];

	fwd_ok("Erin@Origin.test", "fwd.test", NOW, a);
	snprintf(t, sizeof(t), "%s", a);
	fold(t, 0);
	rev_ok(t, NOW, "erin@origin.test");
	snprintf(t, sizeof(t), "%s", a);
	fold(t, 1);
	rev_ok(t, NOW, "ERIN@ORIGIN.TEST");
	/* SRS1 too, and the tag itself in lower case */
	fwd_ok(a, "second.test", NOW, b);
	snprintf(t, sizeof(t), "%s", b);
	fold(t, 0);
	ck_assert_int_eq(srs_is_srs(t), 1);
	{
		char o[SRS_ADDR_MAX + 1];

		ck_assert_int_eq(srs_reverse(key, sizeof(key), t, NOW,
		    SRS_MAX_AGE, o, sizeof(o)), 1);
		ck_assert_msg(strncmp(o, "SRS0", 4) == 0 &&
		    strcasecmp(o, a) == 0, "SRS1 lower-cased gave %s", o);
		rev_ok(o, NOW, "erin@origin.test");
	}
}
END_TEST

START_TEST(test_malformed)
{
	static const struct {
		const char	*addr;
		enum err_class	 cls;
	} bad[] = {
		{ "SRS0=@fwd.test", ERR_INVALID },
		{ "SRS0=abc=AB=d.test=x@fwd.test", ERR_INVALID },
		{ "SRS0=abcde=AB=d.test=x@fwd.test", ERR_INVALID },
		{ "SRS0=abcd@fwd.test", ERR_INVALID },
		{ "SRS0=abcd=AB@fwd.test", ERR_INVALID },
		{ "SRS0=abcd=AB=d.test@fwd.test", ERR_INVALID },
		{ "SRS0=abcd=AB=d.test=@fwd.test", ERR_INVALID },
		{ "SRS0=abcd=AB==x@fwd.test", ERR_INVALID },
		{ "SRS0=abcd=A1=d.test=x@fwd.test", ERR_INVALID },
		{ "SRS0=abcd=ABC=d.test=x@fwd.test", ERR_INVALID },
		{ "SRS0=abcd==d.test=x@fwd.test", ERR_INVALID },
		{ "SRS0=abcd=AB=d.test=x", ERR_INVALID },
		{ "SRS0=abcd=AB=d.test=x@", ERR_INVALID },
		{ "SRS1=abcd=@fwd.test", ERR_INVALID },
		{ "SRS1=abcd=first.test=@fwd.test", ERR_INVALID },
		{ "SRS1=abcd==x@fwd.test", ERR_INVALID },
		{ "SRS1=abcd=first.test==zzzz=AB=d=x@fwd.test", ERR_PERM },
		{ "SRS0=abcd=AB=d.test=x@fwd.test", ERR_PERM },
	};
	char out[SRS_ADDR_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rev_fails(bad[i].addr, NOW, bad[i].cls);
	/* not SRS at all: 0, nothing written */
	ck_assert_int_eq(srs_reverse(key, sizeof(key), "SRS2=a@b", NOW, 21,
	    out, sizeof(out)), 0);
	ck_assert_int_eq(srs_reverse(key, sizeof(key), "SRS0", NOW, 21,
	    out, sizeof(out)), 0);
	ck_assert_int_eq(srs_reverse(key, sizeof(key), "", NOW, 21,
	    out, sizeof(out)), 0);
	/* forward: not an address, a short secret */
	ck_assert_int_eq(srs_forward(key, sizeof(key), "nodomain", "f.test",
	    NOW, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(srs_forward(key, sizeof(key), "@x.test", "f.test",
	    NOW, out, sizeof(out)), -1);
	ck_assert_int_eq(srs_forward(key, sizeof(key), "a@", "f.test",
	    NOW, out, sizeof(out)), -1);
	/* a domain with '=' would not parse back (fuzz_dsn found it) */
	ck_assert_int_eq(srs_forward(key, sizeof(key), "a@b=c.test",
	    "f.test", NOW, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(srs_forward(key, 8, "a@x.test", "f.test",
	    NOW, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	/* a quoted local part cannot go inside another local part */
	ck_assert_int_eq(srs_forward(key, sizeof(key), "\"a b\"@x.test",
	    "f.test", NOW, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	/* an SRS1 we cannot parse is rewritten as an ordinary address */
	ck_assert_int_eq(srs_forward(key, sizeof(key), "SRS1=x@y.test",
	    "f.test", NOW, out, sizeof(out)), 1);
	ck_assert_msg(strncmp(out, "SRS0=", 5) == 0, "got %s", out);
	rev_ok(out, NOW, "SRS1=x@y.test");
}
END_TEST

START_TEST(test_long_addresses)
{
	char local[80], sender[200], out[SRS_ADDR_MAX + 1], a[SRS_ADDR_MAX + 1];
	size_t room;

	/* SRS0=HHHH=TT=x.test=LOCAL: 14 + 6 octets around the local part */
	room = SRS_LOCAL_MAX - (5 + SRS_HASH_LEN + 1 + 2 + 1 + 6 + 1);
	memset(local, 'l', room);
	local[room] = '\0';
	snprintf(sender, sizeof(sender), "%s@x.test", local);
	fwd_ok(sender, "fwd.test", NOW, a);
	ck_assert_uint_eq((size_t)(strchr(a, '@') - a), SRS_LOCAL_MAX);
	rev_ok(a, NOW, sender);
	snprintf(sender, sizeof(sender), "%sl@x.test", local);
	ck_assert_int_eq(srs_forward(key, sizeof(key), sender, "fwd.test",
	    NOW, out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	ck_assert_msg(strstr(err_msg(), "64") != NULL, "says why: %s",
	    err_msg());
	/* SRS1 of a long SRS0: the first forwarder's name counts */
	fwd_ok("ab@x.test", "a-rather-long-first-forwarder-name.test", NOW,
	    a);
	ck_assert_int_eq(srs_forward(key, sizeof(key), a, "f.test", NOW,
	    out, sizeof(out)), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	/* an out buffer too small */
	ck_assert_int_eq(srs_forward(key, sizeof(key), "ab@x.test", "f.test",
	    NOW, out, 10), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
}
END_TEST

static Suite *
srs_suite(void)
{
	Suite *s = suite_create("deliver_srs");
	TCase *tc = tcase_create("srs");

	tcase_add_test(tc, test_srs0_round_trip);
	tcase_add_test(tc, test_srs1_of_srs0);
	tcase_add_test(tc, test_tampered);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_case_in_transit);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_long_addresses);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(srs_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
