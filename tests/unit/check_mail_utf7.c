/*
 * check_mail_utf7.c - modified UTF-7 (mail/utf7.c) and the UTF-8 check.
 *
 * Vectors from RFC 3501 5.1.3 and Dovecot's example, surrogate pairs,
 * and every spelling RFC 3501 forbids; encode(decode(x)) == x for every
 * accepted x, and decoding never writes past the size it is given.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mail/utf7.h"

static Suite	*utf7_suite(void);

static const struct {
	const char	*utf7;
	const char	*utf8;
} good[] = {
	{ "INBOX", "INBOX" },
	{ "", "" },
	{ "&-", "&" },
	{ "a&-b&-", "a&b&" },
	{ "&ANw-n&AO8-code &- folder", "\xc3\x9cn\xc3\xaf" "code & folder" },
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	    "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	    "\xe8\xaa\x9e" },
	{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
	{ "&AOQA9gD8-", "\xc3\xa4\xc3\xb6\xc3\xbc" },		/* 3 units */
	{ "&AOQA9g-", "\xc3\xa4\xc3\xb6" },			/* 2 units */
	/* U+1F600 as the surrogate pair D83D DE00 */
	{ "&2D3eAA-", "\xf0\x9f\x98\x80" },
	{ "x&2D3eANg93gA-y", "x\xf0\x9f\x98\x80\xf0\x9f\x98\x80y" },
	/* control characters are not printable ASCII: they are encoded */
	{ "&AAE-", "\x01" },
	{ "&AH8-", "\x7f" },
	{ "&2,,f,w-", "\xf4\x8f\xbf\xbf" },			/* U+10FFFF */
};

static const char *bad[] = {
	"&AGE-",		/* 'a' encoded */
	"&ACY-",		/* '&' encoded: must be "&-" */
	"&ACA-",		/* space */
	"&ANw",			/* no closing '-' */
	"&",
	"a&",
	"&ANw-&AO8-",		/* adjacent shifts: one shift is the spelling */
	"&ANx-",		/* stray bits in the last character */
	"&ANwA-",		/* a character too many */
	"&2D0-",		/* high surrogate alone */
	"&2D0AYQ-",		/* high surrogate, then not a low one */
	"&3gA-",		/* low surrogate alone */
	"&AAA-",		/* NUL */
	"&A/w-",		/* '/' is ',' in modified BASE64 */
	"&A=w-",
	"\xc3\xbc",		/* 8-bit */
	"a\tb",			/* control character as itself */
	"a\x7f",
};

START_TEST(decode_good)
{
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(utf7_decode(good[i].utf7, strlen(good[i].utf7),
		    out, sizeof(out)) == 0, "\"%s\": %s", good[i].utf7,
		    err_msg());
		ck_assert_msg(strcmp(out, good[i].utf8) == 0, "\"%s\" gave "
		    "\"%s\"", good[i].utf7, out);
	}
}
END_TEST

START_TEST(encode_good)
{
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(utf7_encode(good[i].utf8, out, sizeof(out)) ==
		    0, "\"%s\": %s", good[i].utf8, err_msg());
		ck_assert_msg(strcmp(out, good[i].utf7) == 0, "\"%s\" gave "
		    "\"%s\", want \"%s\"", good[i].utf8, out, good[i].utf7);
	}
}
END_TEST

START_TEST(decode_bad)
{
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(utf7_decode(bad[i], strlen(bad[i]), out,
		    sizeof(out)) == -1, "\"%s\" accepted as \"%s\"", bad[i],
		    out);
		ck_assert_int_eq(err_class(), ERR_INVALID);
	}
}
END_TEST

START_TEST(encode_bad)
{
	char out[64];
	static const char *inv[] = { "\xc3", "\xc0\x80", "\xed\xa0\x80",
	    "\xf4\x90\x80\x80", "a\xff", "\xe2\x82" };
	size_t i;

	for (i = 0; i < sizeof(inv) / sizeof(inv[0]); i++) {
		ck_assert_msg(utf7_encode(inv[i], out, sizeof(out)) == -1,
		    "invalid UTF-8 %zu encoded", i);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		ck_assert_int_eq(utf8_valid(inv[i], strlen(inv[i])), 0);
	}
	ck_assert_int_eq(utf8_valid("\xf0\x9f\x98\x80 ok", 7), 1);
}
END_TEST

/* Small outputs: exactly-fitting sizes work, one less is ERR_TOOBIG. */
START_TEST(sizes)
{
	char out[64];
	size_t i, n;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		n = strlen(good[i].utf8) + 1;
		memset(out, 'Z', sizeof(out));
		ck_assert_int_eq(utf7_decode(good[i].utf7,
		    strlen(good[i].utf7), out, n), 0);
		ck_assert_int_eq(out[n], 'Z');
		if (n > 1) {
			ck_assert_int_eq(utf7_decode(good[i].utf7,
			    strlen(good[i].utf7), out, n - 1), -1);
			ck_assert_int_eq(err_class(), ERR_TOOBIG);
		}
		n = strlen(good[i].utf7) + 1;
		memset(out, 'Z', sizeof(out));
		ck_assert_int_eq(utf7_encode(good[i].utf8, out, n), 0);
		ck_assert_int_eq(out[n], 'Z');
		if (n > 1) {
			ck_assert_int_eq(utf7_encode(good[i].utf8, out, n - 1),
			    -1);
			ck_assert_int_eq(err_class(), ERR_TOOBIG);
		}
	}
}
END_TEST

/* Every prefix of every vector: decoded or refused, and what is
 * accepted encodes back to itself. */
START_TEST(prefixes_round_trip)
{
	char out[256], back[256], *in;
	size_t i, k, len;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		len = strlen(good[i].utf7);
		for (k = 0; k <= len; k++) {
			in = malloc(k + 1);
			memcpy(in, good[i].utf7, k);
			if (utf7_decode(in, k, out, sizeof(out)) == 0) {
				ck_assert_int_eq(utf7_encode(out, back,
				    sizeof(back)), 0);
				ck_assert_msg(strlen(back) == k &&
				    memcmp(back, in, k) == 0, "\"%.*s\" came "
				    "back as \"%s\"", (int)k, in, back);
			}
			free(in);
		}
	}
}
END_TEST

/* Every code point of the BMP's non-ASCII part and some astral ones. */
START_TEST(all_code_points)
{
	char u8[8], u7[32], back[8];
	uint32_t u;
	size_t n;

	for (u = 0x80; u <= 0x10ffff; u += (u < 0x10000 ? 1 : 97)) {
		if (u >= 0xd800 && u <= 0xdfff)
			continue;
		if (u < 0x800) {
			u8[0] = (char)(0xc0 | (u >> 6));
			u8[1] = (char)(0x80 | (u & 0x3f));
			n = 2;
		} else if (u < 0x10000) {
			u8[0] = (char)(0xe0 | (u >> 12));
			u8[1] = (char)(0x80 | ((u >> 6) & 0x3f));
			u8[2] = (char)(0x80 | (u & 0x3f));
			n = 3;
		} else {
			u8[0] = (char)(0xf0 | (u >> 18));
			u8[1] = (char)(0x80 | ((u >> 12) & 0x3f));
			u8[2] = (char)(0x80 | ((u >> 6) & 0x3f));
			u8[3] = (char)(0x80 | (u & 0x3f));
			n = 4;
		}
		u8[n] = '\0';
		ck_assert_int_eq(utf7_encode(u8, u7, sizeof(u7)), 0);
		ck_assert_msg(utf7_decode(u7, strlen(u7), back, sizeof(back))
		    == 0, "U+%04X as \"%s\": %s", u, u7, err_msg());
		ck_assert_msg(strcmp(back, u8) == 0, "U+%04X", u);
	}
}
END_TEST

static Suite *
utf7_suite(void)
{
	Suite *s = suite_create("mail_utf7");
	TCase *tc = tcase_create("utf7");

	tcase_add_test(tc, decode_good);
	tcase_add_test(tc, encode_good);
	tcase_add_test(tc, decode_bad);
	tcase_add_test(tc, encode_bad);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, prefixes_round_trip);
	tcase_add_test(tc, all_code_points);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(utf7_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
