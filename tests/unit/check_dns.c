/*
 * check_dns.c - the pure parts of the resolver (common/dns.c): names
 * checked and copied (dns_name_ok), wire-format names (PTR, MX rdata:
 * dns_wire_name), TXT strings (dns_txt_text) and reverse names of IPv4
 * and IPv6 addresses (dns_reverse_name, PTR and DNSBL).  Malformed input
 * is refused without reading past its length: each parser is also run on
 * every prefix of good input, in a buffer exactly that long.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"

static Suite	*dns_suite(void);
static int	wire(const char *, size_t, char *, size_t, size_t *);
static int	txt(const char *, size_t, char *, size_t);

/* The parsers on a heap copy of exactly len bytes (ASan, valgrind). */
static int
wire(const char *d, size_t len, char *out, size_t outsz, size_t *used)
{
	unsigned char *p = malloc(len ? len : 1);
	int rc;

	memcpy(p, d, len);
	rc = dns_wire_name(p, len, out, outsz, used);
	free(p);
	return rc;
}

static int
txt(const char *d, size_t len, char *out, size_t outsz)
{
	unsigned char *p = malloc(len ? len : 1);
	int rc;

	memcpy(p, d, len);
	rc = dns_txt_text(p, len, out, outsz);
	free(p);
	return rc;
}

START_TEST(test_name_ok)
{
	char out[DNS_NAME_MAX + 1], big[300];

	ck_assert_int_eq(dns_name_ok("Mail.Example.test.", out, sizeof(out)),
	    1);
	ck_assert_str_eq(out, "Mail.Example.test");
	ck_assert_int_eq(dns_name_ok("_dmarc.x-y.test", out, sizeof(out)), 1);
	ck_assert_int_eq(dns_name_ok("", out, sizeof(out)), 0);
	ck_assert_int_eq(dns_name_ok(".", out, sizeof(out)), 0);
	ck_assert_int_eq(dns_name_ok("a..b", out, sizeof(out)), 0);
	ck_assert_int_eq(dns_name_ok("a b.test", out, sizeof(out)), 0);
	ck_assert_int_eq(dns_name_ok("a.test..", out, sizeof(out)), 0);
	ck_assert_int_eq(dns_name_ok("[1.2.3.4]", out, sizeof(out)), 0);
	ck_assert_int_eq(dns_name_ok("a\\.b", out, sizeof(out)), 0);
	/* a label of 64 */
	memset(big, 'a', 64);
	strcpy(big + 64, ".test");
	ck_assert_int_eq(dns_name_ok(big, out, sizeof(out)), 0);
	strcpy(big + 63, ".test");
	ck_assert_int_eq(dns_name_ok(big, out, sizeof(out)), 1);
	/* 254 octets in all */
	memset(big, 'a', 254);
	for (size_t i = 50; i < 254; i += 50)
		big[i] = '.';
	big[254] = '\0';
	ck_assert_int_eq(dns_name_ok(big, out, sizeof(out)), 0);
	big[253] = '\0';
	ck_assert_int_eq(dns_name_ok(big, out, sizeof(out)), 1);
	/* does not fit out */
	ck_assert_int_eq(dns_name_ok("mail.test", out, 9), 0);
	ck_assert_int_eq(dns_name_ok("mail.test", out, 10), 1);
}
END_TEST

START_TEST(test_wire_name)
{
	static const char good[] = "\4mail\7example\4test\0";
	char out[DNS_NAME_MAX + 1];
	size_t used = 0, n;

	ck_assert_int_eq(wire(good, sizeof(good) - 1, out, sizeof(out),
	    &used), 0);
	ck_assert_str_eq(out, "mail.example.test");
	ck_assert_uint_eq(used, sizeof(good) - 1);
	/* trailing bytes are the caller's (MX after the name, none) */
	ck_assert_int_eq(wire("\1a\0xyz", 6, out, sizeof(out), &used), 0);
	ck_assert_str_eq(out, "a");
	ck_assert_uint_eq(used, 3);
	/* the root */
	ck_assert_int_eq(wire("\0", 1, out, sizeof(out), NULL), 0);
	ck_assert_str_eq(out, "");
	/* every cut of a good name is malformed */
	for (n = 0; n < sizeof(good) - 1; n++)
		ck_assert_msg(wire(good, n, out, sizeof(out), NULL) == -1,
		    "a name cut at %zu was taken", n);
	/* compression pointers, reserved label types */
	ck_assert_int_eq(wire("\xc0\x0c", 2, out, sizeof(out), NULL), -1);
	ck_assert_int_eq(wire("\x40x\0", 3, out, sizeof(out), NULL), -1);
	/* bytes no host name has */
	ck_assert_int_eq(wire("\3a.b\0", 5, out, sizeof(out), NULL), -1);
	ck_assert_int_eq(wire("\3a b\0", 5, out, sizeof(out), NULL), -1);
	ck_assert_int_eq(wire("\3a\\b\0", 5, out, sizeof(out), NULL), -1);
	ck_assert_int_eq(wire("\3a\x80z\0", 5, out, sizeof(out), NULL), -1);
	ck_assert_int_eq(wire("\3a\0z\0", 5, out, sizeof(out), NULL), -1);
	/* out too small: refused, never overrun */
	ck_assert_int_eq(wire(good, sizeof(good) - 1, out, 17, NULL), -1);
	ck_assert_int_eq(wire(good, sizeof(good) - 1, out, 18, NULL), 0);
	ck_assert_int_eq(wire(good, sizeof(good) - 1, out, 0, NULL), -1);
}
END_TEST

START_TEST(test_wire_name_long)
{
	/* 5 labels of 63: 319 octets of text, over DNS_NAME_MAX */
	char d[5 * 64 + 1], out[1024];
	size_t i;

	for (i = 0; i < 5; i++) {
		d[i * 64] = 63;
		memset(d + i * 64 + 1, 'x', 63);
	}
	d[5 * 64] = '\0';
	ck_assert_int_eq(wire(d, sizeof(d), out, sizeof(out), NULL), -1);
	/* 4 of them, 255 octets of text: still too long */
	d[4 * 64] = '\0';
	ck_assert_int_eq(wire(d, 4 * 64 + 1, out, sizeof(out), NULL), -1);
	/* 3 of them and one of 61: 253 */
	d[3 * 64] = 61;
	memset(d + 3 * 64 + 1, 'y', 61);
	d[3 * 64 + 62] = '\0';
	ck_assert_int_eq(wire(d, 3 * 64 + 63, out, sizeof(out), NULL), 0);
	ck_assert_uint_eq(strlen(out), 253);
}
END_TEST

START_TEST(test_txt)
{
	static const char two[] = "\5Spam \10listed\x01\x7f";
	char out[64];

	ck_assert_int_eq(txt("\14Blocked, see", 13, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Blocked, see");
	/* strings joined; bytes outside printable ASCII shown as '?' */
	ck_assert_int_eq(txt(two, sizeof(two) - 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Spam listed??");
}
END_TEST

START_TEST(test_txt_bad)
{
	static const char two[] = "\5Spam \6listed";
	char out[64];
	size_t n;

	ck_assert_int_eq(txt(two, sizeof(two) - 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Spam listed");
	for (n = 0; n < sizeof(two) - 1; n++) {
		if (n == 6)
			continue;	/* one whole string */
		ck_assert_msg(txt(two, n, out, sizeof(out)) == -1,
		    "TXT cut at %zu was taken", n);
	}
	ck_assert_int_eq(txt(two, 6, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Spam ");
	/* an empty string is a string */
	ck_assert_int_eq(txt("\0", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	/* cut to out, NUL-terminated */
	ck_assert_int_eq(txt(two, sizeof(two) - 1, out, 5), 0);
	ck_assert_str_eq(out, "Spam");
	ck_assert_int_eq(txt(two, sizeof(two) - 1, out, 1), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(txt(two, sizeof(two) - 1, out, 0), -1);
}
END_TEST

START_TEST(test_reverse)
{
	char out[DNS_REVERSE_MAX + 1];

	ck_assert_int_eq(dns_reverse_name("192.0.2.10", NULL, out,
	    sizeof(out)), 1);
	ck_assert_str_eq(out, "10.2.0.192.in-addr.arpa");
	ck_assert_int_eq(dns_reverse_name("127.0.0.2", "zen.example.test",
	    out, sizeof(out)), 1);
	ck_assert_str_eq(out, "2.0.0.127.zen.example.test");
	ck_assert_int_eq(dns_reverse_name("::ffff:192.0.2.10", "bl.test",
	    out, sizeof(out)), 1);
	ck_assert_str_eq(out, "10.2.0.192.bl.test");
	ck_assert_int_eq(dns_reverse_name("2001:db8::567:89ab", NULL, out,
	    sizeof(out)), 1);
	ck_assert_str_eq(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	ck_assert_int_eq(dns_reverse_name("::1", "bl.test", out,
	    sizeof(out)), 1);
	ck_assert_str_eq(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.0.0.bl.test");
	ck_assert_int_eq(dns_reverse_name("mail.test", NULL, out,
	    sizeof(out)), 0);
	ck_assert_int_eq(dns_reverse_name("1.2.3", NULL, out,
	    sizeof(out)), 0);
	ck_assert_int_eq(dns_reverse_name("", NULL, out, sizeof(out)), 0);
	/* does not fit */
	ck_assert_int_eq(dns_reverse_name("192.0.2.10", NULL, out, 23), 0);
	ck_assert_int_eq(dns_reverse_name("192.0.2.10", NULL, out, 24), 1);
	ck_assert_int_eq(dns_reverse_name("::1", NULL, out, 40), 0);
}
END_TEST

static Suite *
dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_name_ok);
	tcase_add_test(tc, test_wire_name);
	tcase_add_test(tc, test_wire_name_long);
	tcase_add_test(tc, test_txt);
	tcase_add_test(tc, test_txt_bad);
	tcase_add_test(tc, test_reverse);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dns_suite());
	int nfail;

	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
