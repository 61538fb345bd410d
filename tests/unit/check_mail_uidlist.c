/*
 * check_mail_uidlist.c - Dovecot's dovecot-uidlist (versions 1, 2, 3)
 * and Courier's courierimapuiddb (mail/uidlist.c): headers, entries,
 * base-name matching, the next UID, every malformed form refused with
 * its line named, and the text cut at every offset never crashes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mail/uidlist.h"

static Suite	*uidlist_suite(void);

static struct uidlist *
parse_ok(const char *text)
{
	struct uidlist *ul = NULL;
	int rc = uidlist_parse(text, strlen(text), &ul);

	ck_assert_msg(rc == 1 && ul != NULL, "uidlist_parse(\"%s\") = %d: %s",
	    text, rc, err_msg());
	return ul;
}

/* Dovecot 1.1+: "3 V N G" header, fields, " :name". */
START_TEST(dovecot_v3)
{
	struct uidlist *ul = parse_ok(
	    "3 V1234567890 N13 G3085f01b7f11094c501100008c4a11c1\n"
	    "5 :1180000000.M1P1.host,S=120\n"
	    "9 W1300 S1234 :1180000001.M2P1.host,S=1234\n"
	    "12 :1180000002.M3P1.host\n");

	ck_assert_uint_eq(ul->version, 3);
	ck_assert_uint_eq(ul->uidvalidity, 1234567890);
	ck_assert_uint_eq(ul->nextuid, 13);
	ck_assert_uint_eq(ul->n, 3);
	ck_assert_uint_eq(ul->last_uid, 12);
	ck_assert_uint_eq(ul->npop3_uidl, 0);
	/* The file in cur/ has an info part; it is not in the list. */
	ck_assert_uint_eq(uidlist_find(ul,
	    "1180000000.M1P1.host,S=120:2,RS"), 5);
	ck_assert_uint_eq(uidlist_find(ul,
	    "1180000001.M2P1.host,S=1234:2,"), 9);
	ck_assert_uint_eq(uidlist_find(ul, "1180000002.M3P1.host"), 12);
	ck_assert_uint_eq(uidlist_find(ul, "1180000002.M3P1.host!2,S"), 12);
	ck_assert_uint_eq(uidlist_find(ul, "1180000002.M3P1.hos"), 0);
	ck_assert_uint_eq(uidlist_find(ul, "1180000002.M3P1.hostx"), 0);
	ck_assert_uint_eq(uidlist_find(ul, "other:2,S"), 0);
	ck_assert_uint_eq(uidlist_find(NULL, "x"), 0);
	uidlist_free(&ul);
	ck_assert_ptr_null(ul);
}
END_TEST

/* Version 1 (Dovecot 1.0, Courier): whole names; CRLF; a lagging N. */
/*
 * A list courier-dovecot-migrate.pl wrote: "P<uidl>" keeps Courier's
 * POP3 UIDLs (Dovecot's POP3 shows them), "O" the POP3 order.
 */
START_TEST(dovecot_v3_pop3_uidl)
{
	struct uidlist *ul = parse_ok(
	    "3 V1234567890 N20\n"
	    "5 O1 PUID77-1111 W130 :1180000000.M1P1.host,S=120:2,S\n"
	    "9 PUID78-1111 :1180000001.M2P1.host\n"
	    "12 W99 :1180000002.M3P1.host\n");

	ck_assert_uint_eq(ul->n, 3);
	ck_assert_uint_eq(ul->npop3_uidl, 2);
	ck_assert_uint_eq(uidlist_find(ul, "1180000000.M1P1.host,S=120:2,RS"),
	    5);
	ck_assert_uint_eq(uidlist_find(ul, "1180000001.M2P1.host"), 9);
	uidlist_free(&ul);
}
END_TEST

START_TEST(courier_v1)
{
	struct uidlist *ul = parse_ok(
	    "1 1111111111 3\r\n"
	    "2 1000.a.host:2,S\r\n"
	    "\r\n"
	    "7 1001.b.host\r\n");

	ck_assert_uint_eq(ul->version, 1);
	ck_assert_uint_eq(ul->uidvalidity, 1111111111);
	/* N 3 lags behind UID 7: the next UID is 8. */
	ck_assert_uint_eq(ul->nextuid, 8);
	ck_assert_uint_eq(uidlist_find(ul, "1000.a.host:2,RS"), 2);
	ck_assert_uint_eq(uidlist_find(ul, "1001.b.host"), 7);
	uidlist_free(&ul);

	/* Version 2: a flags field before the name. */
	ul = parse_ok("2 77 10\n3 S 1000.a.host\n");
	ck_assert_uint_eq(ul->nextuid, 10);
	ck_assert_uint_eq(uidlist_find(ul, "1000.a.host:2,S"), 3);
	uidlist_free(&ul);

	/* No entries, no newline at the end, no N in version 3. */
	ul = parse_ok("3 V42");
	ck_assert_uint_eq(ul->n, 0);
	ck_assert_uint_eq(ul->nextuid, 1);
	uidlist_free(&ul);
}
END_TEST

START_TEST(malformed)
{
	static const struct {
		const char	*text, *msg;
	} c[] = {
		{ "", "empty" },
		{ "4 V1 N2\n", "line 1" },
		{ "3 N5\n", "line 1: no UIDVALIDITY" },
		{ "3 V0 N5\n", "line 1: no UIDVALIDITY" },
		{ "3 Vx N5\n", "line 1: bad V" },
		{ "3 V99999999999\n", "line 1: bad V" },
		{ "1 5\n", "line 1" },
		{ "1 5 6 7\n", "line 1" },
		{ "1 abc 6\n", "line 1" },
		{ "3 V1\n0 :a\n", "line 2: UID 0" },
		{ "3 V1\n4294967295 :a\n", "line 2: UID 4294967295" },
		{ "3 V1\n5 :a\n5 :b\n", "line 3: UID 5 is not above" },
		{ "3 V1\n5 :a\n4 :b\n", "line 3: UID 4 is not above" },
		{ "3 V1\n5 a\n", "line 2: no \":<file name>\"" },
		{ "3 V1\n5 :\n", "line 2: no file name" },
		{ "3 V1\n5 :a/b\n", "line 2: a file name with '/'" },
		{ "3 V1\nx :a\n", "line 2: no UID" },
		{ "1 1 2\n5\n", "line 2: no UID" },
		{ "1 1 2\n5 :2,S\n", "line 2: an empty base name" },
		{ "2 1 2\n5 name\n", "line 2: no file name" },
		{ "3 V1\n5 :a:2,S\n6 :a:2,T\n", "listed twice" },
		{ "3 V1\n5 :a\0b\n", "NUL" },
	};
	struct uidlist *ul;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		len = strlen(c[i].text);
		if (strstr(c[i].msg, "NUL") != NULL)
			len = 13;
		ul = (struct uidlist *)1;
		rc = uidlist_parse(c[i].text, len, &ul);
		ck_assert_msg(rc == -1 && ul == NULL, "\"%s\" was accepted",
		    c[i].text);
		ck_assert_msg(err_class() == ERR_INVALID && strstr(err_msg(),
		    c[i].msg) != NULL, "\"%s\": error \"%s\", wanted one "
		    "with \"%s\"", c[i].text, err_msg(), c[i].msg);
	}
	/* A name as long as Linux allows is fine; one more is not. */
	{
		char buf[300];

		memcpy(buf, "3 V1\n5 :", 8);
		memset(buf + 8, 'n', UIDLIST_NAME_MAX);
		ck_assert_int_eq(uidlist_parse(buf, 8 + UIDLIST_NAME_MAX, &ul),
		    1);
		uidlist_free(&ul);
		buf[8 + UIDLIST_NAME_MAX] = 'n';
		ck_assert_int_eq(uidlist_parse(buf, 9 + UIDLIST_NAME_MAX, &ul),
		    -1);
	}
}
END_TEST

/* Every prefix of a valid list: a result or an error, never a crash. */
START_TEST(prefixes)
{
	static const char text[] = "3 V1234567890 N13 Gabc\n"
	    "5 :1180000000.M1P1.host,S=120\n"
	    "9 W1300 S1234 :1180000001.M2P1.host,S=1234\n";
	struct uidlist *ul;
	size_t len;
	char *copy;
	int rc;

	for (len = 0; len <= sizeof(text) - 1; len++) {
		/* An exact-size copy: a read past len is ASan's to see. */
		copy = malloc(len > 0 ? len : 1);
		memcpy(copy, text, len);
		rc = uidlist_parse(copy, len, &ul);
		ck_assert_msg(rc == 1 || rc == -1, "prefix %zu: %d", len, rc);
		if (rc == 1) {
			ck_assert_uint_ge(ul->nextuid, ul->last_uid + 1);
			uidlist_free(&ul);
		}
		free(copy);
	}
}
END_TEST

static Suite *
uidlist_suite(void)
{
	Suite *s = suite_create("mail_uidlist");
	TCase *tc = tcase_create("uidlist");

	tcase_add_test(tc, dovecot_v3);
	tcase_add_test(tc, dovecot_v3_pop3_uidl);
	tcase_add_test(tc, courier_v1);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, prefixes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(uidlist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
