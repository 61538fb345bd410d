/*
 * check_mail_authres.c - the Authentication-Results field (mail/authres.c):
 * the authserv-id read through comments and quotes, our fields taken out
 * of a header and nothing else, property values quoted when they must be.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/authres.h"
#include "mail/mime.h"

/* The message without Authentication-Results fields of id. */
static int
strip(const void *msg, size_t len, const char *id, char **out,
    size_t *outlen)
{
	return mime_header_strip(msg, len, authres_is_ours,
	    (void *)(uintptr_t)id, out, outlen);
}


static int
id_of(const char *v, char *id)
{
	return authres_id(v, strlen(v), id);
}

START_TEST(test_id)
{
	char id[AUTHRES_ID_MAX + 1], big[400];

	ck_assert_int_eq(id_of(" mx.example.org; spf=pass", id), 1);
	ck_assert_str_eq(id, "mx.example.org");
	ck_assert_int_eq(id_of(" (a (nested) comment)\r\n\tMX.Example.org 1;"
	    " none", id), 1);
	ck_assert_str_eq(id, "MX.Example.org");
	ck_assert_int_eq(id_of(" \"mx.example.org\"; none", id), 1);
	ck_assert_str_eq(id, "mx.example.org");
	ck_assert_int_eq(id_of(" \"mx\\\".x\"; none", id), 1);
	ck_assert_str_eq(id, "mx\".x");
	ck_assert_int_eq(id_of(" ; spf=pass", id), 0);
	ck_assert_int_eq(id_of("", id), 0);
	ck_assert_int_eq(id_of(" (unclosed comment mx.example.org", id), 0);
	ck_assert_int_eq(id_of(" \"unclosed", id), 0);
	ck_assert_int_eq(authres_id(" \"a\0b\";", 6, id), 0);
	ck_assert_int_eq(id_of(" \"a\x01\";", id), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(id_of(big, id), 0);
}
END_TEST

static const char msg[] =
    "Received: from x\r\n"
    "Authentication-Results: mx.vellum.test; dkim=pass\r\n"
    "\theader.d=forged.test\r\n"
    "Authentication-Results: other.example; spf=fail\r\n"
    "authentication-results : (c) MX.VELLUM.TEST; spf=pass\r\n"
    "Authentication-Results-Extra: mx.vellum.test\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "Authentication-Results: mx.vellum.test; in the body\r\n";

START_TEST(test_strip)
{
	static const char want[] =
	    "Received: from x\r\n"
	    "Authentication-Results: other.example; spf=fail\r\n"
	    "Authentication-Results-Extra: mx.vellum.test\r\n"
	    "Subject: hi\r\n"
	    "\r\n"
	    "Authentication-Results: mx.vellum.test; in the body\r\n";
	char *out;
	size_t outlen;

	ck_assert_int_eq(strip(msg, strlen(msg), "mx.vellum.test",
	    &out, &outlen), 2);
	ck_assert_uint_eq(outlen, strlen(want));
	ck_assert(memcmp(out, want, outlen) == 0);
	free(out);
	ck_assert_int_eq(strip(msg, strlen(msg), "nobody.test", &out,
	    &outlen), 0);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_strip_edges)
{
	static const char lf[] = "Authentication-Results: me; x\n\nbody\n";
	static const char last[] = "A: b\r\nAuthentication-Results: me; x";
	char *out;
	size_t outlen;

	ck_assert_int_eq(strip(lf, strlen(lf), "me", &out, &outlen),
	    1);
	ck_assert_uint_eq(outlen, 6);
	ck_assert(memcmp(out, "\nbody\n", 6) == 0);
	free(out);
	/* a header without an end, the field the last thing in it */
	ck_assert_int_eq(strip(last, strlen(last), "me", &out,
	    &outlen), 1);
	ck_assert_uint_eq(outlen, 6);
	ck_assert(memcmp(out, "A: b\r\n", 6) == 0);
	free(out);
	ck_assert_int_eq(strip("", 0, "me", &out, &outlen), 0);
}
END_TEST

START_TEST(test_value)
{
	char buf[64];

	authres_value("example.org", buf, sizeof(buf));
	ck_assert_str_eq(buf, "example.org");
	authres_value("alice@example.org", buf, sizeof(buf));
	ck_assert_str_eq(buf, "alice@example.org");
	authres_value("a b@example.org", buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"a b@example.org\"");
	authres_value("x\"y\\z;", buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"x\\\"y\\\\z;\"");
	authres_value("@example.org", buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"@example.org\"");
	authres_value("a@b@c", buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"a@b@c\"");
	authres_value("ctl\r\nx", buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"ctlx\"");
	authres_value("", buf, sizeof(buf));
	ck_assert_str_eq(buf, "\"\"");
	authres_value("a very long value with spaces", buf, 10);
	ck_assert_uint_lt(strlen(buf), 10);
}
END_TEST

static Suite *
authres_suite(void)
{
	Suite *s = suite_create("mail_authres");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_id);
	tcase_add_test(tc, test_strip);
	tcase_add_test(tc, test_strip_edges);
	tcase_add_test(tc, test_value);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(authres_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
