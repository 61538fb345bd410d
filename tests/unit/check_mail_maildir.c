/*
 * check_mail_maildir.c - Maildir file names, flags and Maildir++ folders.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mail/maildir.h"

struct rng {
	uint64_t s;
};

struct want {
	const char	*name;
	long long	 date;
	int		 has_size;
	uint64_t	 size;
	int		 has_vsize;
	uint64_t	 vsize;
	int		 has_info;
	unsigned	 flags;
	const char	*keywords;
};

static Suite	*maildir_suite(void);
static uint64_t	 rng_next(struct rng *);

static uint64_t
rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

/* ---- file names --------------------------------------------------- */

START_TEST(test_name_parse)
{
	static const struct want w[] = {
		{ "1700000000.M1P2.host,S=1234,W=1260:2,FS", 1700000000, 1,
		    1234, 1, 1260, 1, MAILDIR_F_FLAGGED | MAILDIR_F_SEEN, "" },
		{ "1700000000.M1P2.host,W=9,S=8:2,", 1700000000, 1, 8, 1, 9,
		    1, 0, "" },
		{ "1.2.h", 1, 0, 0, 0, 0, 0, 0, "" },
		{ "1.2.h:2,DFPRST", 1, 0, 0, 0, 0, 1, MAILDIR_F_ALL, "" },
		{ "1.2.h!2,S", 1, 0, 0, 0, 0, 1, MAILDIR_F_SEEN, "" },
		{ "1.2.h;2,R", 1, 0, 0, 0, 0, 1, MAILDIR_F_REPLIED, "" },
		/* Unknown letters are ignored, keywords kept once. */
		{ "5.x.y:2,XSaZbaQ9", 5, 0, 0, 0, 0, 1, MAILDIR_F_SEEN, "ab" },
		{ "5.x.y:2,zyxabc", 5, 0, 0, 0, 0, 1, 0, "zyxabc" },
		/* The last info part counts. */
		{ "5.x:2,S.y:2,F", 5, 0, 0, 0, 0, 1, MAILDIR_F_FLAGGED, "" },
		/* ",S=" after the info part is not a size. */
		{ "5.x.y:2,S,S=5", 5, 0, 0, 0, 0, 1, MAILDIR_F_SEEN, "" },
		/* Sizes must be digits up to ',' or the end of the base. */
		{ "5.x.y,S=12x", 5, 0, 0, 0, 0, 0, 0, "" },
		{ "5.x.y,S=", 5, 0, 0, 0, 0, 0, 0, "" },
		{ "5.x.y,S=-1", 5, 0, 0, 0, 0, 0, 0, "" },
		{ "5.x.y,S= 1", 5, 0, 0, 0, 0, 0, 0, "" },
		{ "5.x.y,S=7,X=1", 5, 1, 7, 0, 0, 0, 0, "" },
		{ "5.x.y,S=18446744073709551615", 5, 1, UINT64_MAX, 0, 0, 0, 0,
		    "" },
		/* Garbage names parse, with no date. */
		{ "abc", 0, 0, 0, 0, 0, 0, 0, "" },
		{ "12a.x", 0, 0, 0, 0, 0, 0, 0, "" },
		{ "123", 123, 0, 0, 0, 0, 0, 0, "" },
		{ "123:2,S", 123, 0, 0, 0, 0, 1, MAILDIR_F_SEEN, "" },
		{ ":2,", 0, 0, 0, 0, 0, 1, 0, "" },
		{ "x:3,S", 0, 0, 0, 0, 0, 0, 0, "" },
		{ "x:2S", 0, 0, 0, 0, 0, 0, 0, "" },
	};
	struct maildir_name r;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		memset(&r, 0x5a, sizeof(r));
		rc = maildir_name_parse(w[i].name, &r);
		ck_assert_msg(rc == 1, "maildir_name_parse(\"%s\") = %d (%s)",
		    w[i].name, rc, err_msg());
		ck_assert_msg((long long)r.date == w[i].date, "\"%s\": date "
		    "%lld, wanted %lld", w[i].name, (long long)r.date,
		    w[i].date);
		ck_assert_msg(r.has_size == (unsigned)w[i].has_size &&
		    (!w[i].has_size || r.size == w[i].size), "\"%s\": size "
		    "%u/%" PRIu64 ", wanted %d/%" PRIu64, w[i].name,
		    r.has_size, r.size, w[i].has_size, w[i].size);
		ck_assert_msg(r.has_vsize == (unsigned)w[i].has_vsize &&
		    (!w[i].has_vsize || r.vsize == w[i].vsize), "\"%s\": "
		    "vsize %u/%" PRIu64 ", wanted %d/%" PRIu64, w[i].name,
		    r.has_vsize, r.vsize, w[i].has_vsize, w[i].vsize);
		ck_assert_msg(r.has_info == (unsigned)w[i].has_info,
		    "\"%s\": has_info %u, wanted %d", w[i].name, r.has_info,
		    w[i].has_info);
		ck_assert_msg(r.flags == w[i].flags, "\"%s\": flags %#x, "
		    "wanted %#x", w[i].name, r.flags, w[i].flags);
		ck_assert_msg(strcmp(r.keywords, w[i].keywords) == 0,
		    "\"%s\": keywords \"%s\", wanted \"%s\"", w[i].name,
		    r.keywords, w[i].keywords);
	}
}
END_TEST

START_TEST(test_name_parse_keywords_all)
{
	struct maildir_name r;
	int rc;

	rc = maildir_name_parse("1.a.b:2,zyxwvutsrqponmlkjihgfedcbaabcz", &r);
	ck_assert_msg(rc == 1 && strcmp(r.keywords,
	    "zyxwvutsrqponmlkjihgfedcba") == 0, "26 keywords: rc %d, \"%s\"",
	    rc, r.keywords);
}
END_TEST

START_TEST(test_name_parse_invalid)
{
	static const char *const bad[] = { "", ".hidden", "..", ".",
	    "a/b", "1.2.h:2,S/x", "/" };
	struct maildir_name r;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear();
		rc = maildir_name_parse(bad[i], &r);
		ck_assert_msg(rc == -1 && err_class() == ERR_INVALID,
		    "maildir_name_parse(\"%s\") = %d (%s), wanted -1 INVALID",
		    bad[i], rc, err_class_name(err_class()));
	}
}
END_TEST

START_TEST(test_flags)
{
	char buf[MAILDIR_FLAGS_MAX];
	unsigned f, got;

	ck_assert_msg(strcmp(maildir_flags_format(MAILDIR_F_ALL, buf),
	    "DFPRST") == 0, "all flags: \"%s\"", buf);
	ck_assert_msg(strcmp(maildir_flags_format(0, buf), "") == 0,
	    "no flags: \"%s\"", buf);
	ck_assert_msg(strcmp(maildir_flags_format(MAILDIR_F_SEEN |
	    MAILDIR_F_DRAFT, buf), "DS") == 0, "D|S: \"%s\"", buf);
	ck_assert_msg(strcmp(maildir_flags_format(~0u, buf), "DFPRST") == 0,
	    "bits outside MAILDIR_F_ALL: \"%s\"", buf);
	for (f = 0; f <= MAILDIR_F_ALL; f++) {
		maildir_flags_format(f, buf);
		got = maildir_flags_parse(buf);
		ck_assert_msg(got == f, "flags %#x -> \"%s\" -> %#x", f, buf,
		    got);
	}
	got = maildir_flags_parse("TSRPFD");
	ck_assert_msg(got == MAILDIR_F_ALL, "\"TSRPFD\" -> %#x", got);
	got = maildir_flags_parse("sfxX,:2");
	ck_assert_msg(got == 0, "\"sfxX,:2\" -> %#x", got);
	ck_assert_msg(maildir_flags_parse("F") == MAILDIR_F_FLAGGED &&
	    maildir_flags_parse("P") == MAILDIR_F_PASSED &&
	    maildir_flags_parse("R") == MAILDIR_F_REPLIED &&
	    maildir_flags_parse("T") == MAILDIR_F_TRASHED &&
	    maildir_flags_parse("D") == MAILDIR_F_DRAFT &&
	    maildir_flags_parse("S") == MAILDIR_F_SEEN, "a letter maps to "
	    "the wrong flag");
}
END_TEST

static void
build_is(time_t date, uint32_t uid, const char *host, uint64_t size,
    unsigned flags, const char *want)
{
	char buf[MAILDIR_NAME_MAX];
	int rc;

	rc = maildir_name_build(date, uid, host, size, flags, buf,
	    sizeof(buf));
	ck_assert_msg(rc == 1, "maildir_name_build(%s) = %d (%s)",
	    host == NULL ? "NULL" : host, rc, err_msg());
	ck_assert_msg(strcmp(buf, want) == 0, "maildir_name_build gave "
	    "\"%s\", wanted \"%s\"", buf, want);
}

START_TEST(test_name_build)
{
	build_is(1700000000, 42, "mail.example.org", 1234,
	    MAILDIR_F_FLAGGED | MAILDIR_F_SEEN,
	    "1700000000.42.mail.example.org,S=1234:2,FS");
	build_is(0, 0, "h", 0, 0, "0.0.h,S=0:2,");
	build_is(-5, UINT32_MAX, "h", UINT64_MAX, MAILDIR_F_ALL,
	    "0.4294967295.h,S=18446744073709551615:2,DFPRST");
	build_is(1, 1, NULL, 1, 0, "1.1.localhost,S=1:2,");
	build_is(1, 1, "", 1, 0, "1.1.localhost,S=1:2,");
	/* '/', ':', '\', ',' and control bytes become \ooo. */
	build_is(1, 1, "a/b:c\\d,e\x01" "f\x7f" "g.h!i;j", 1, 0,
	    "1.1.a\\057b\\072c\\134d\\054e\\001f\\177g.h!i;j,S=1:2,");
}
END_TEST

START_TEST(test_name_build_limit)
{
	char buf[MAILDIR_NAME_MAX];
	const char *want = "7.8.host,S=9:2,S";
	size_t len = strlen(want), bs;
	int rc;

	for (bs = 0; bs <= len + 1; bs++) {
		memset(buf, 'Z', sizeof(buf));
		err_clear();
		rc = maildir_name_build(7, 8, "host", 9, MAILDIR_F_SEEN, buf,
		    bs);
		if (bs < len + 1) {
			ck_assert_msg(rc == -1 && err_class() == ERR_LIMIT,
			    "bufsize %zu: rc %d (%s), wanted -1 LIMIT", bs,
			    rc, err_class_name(err_class()));
			ck_assert_msg(buf[bs] == 'Z', "bufsize %zu: wrote "
			    "past the buffer", bs);
		} else
			ck_assert_msg(rc == 1 && strcmp(buf, want) == 0,
			    "bufsize %zu: rc %d, \"%s\"", bs, rc, buf);
	}
}
END_TEST

START_TEST(test_name_round_trip)
{
	struct rng r = { 4242 };
	struct maildir_name p;
	char buf[MAILDIR_NAME_MAX], host[40];
	size_t i, j, hl;
	time_t date;
	uint64_t size;
	unsigned flags;
	int rc;

	for (i = 0; i < 20000; i++) {
		date = (time_t)(rng_next(&r) % 5000000000ULL);
		size = rng_next(&r) >> (rng_next(&r) % 64);
		flags = (unsigned)(rng_next(&r) % (MAILDIR_F_ALL + 1));
		hl = 1 + rng_next(&r) % (sizeof(host) - 2);
		for (j = 0; j < hl; j++)
			host[j] = (char)(1 + rng_next(&r) % 255);
		host[hl] = '\0';
		rc = maildir_name_build(date, (uint32_t)rng_next(&r), host,
		    size, flags, buf, sizeof(buf));
		ck_assert_msg(rc == 1, "build %zu: rc %d (%s)", i, rc,
		    err_msg());
		ck_assert_msg(strchr(buf, '/') == NULL && buf[0] != '.',
		    "built name \"%s\" is not a file name", buf);
		rc = maildir_name_parse(buf, &p);
		ck_assert_msg(rc == 1, "parse(\"%s\") = %d", buf, rc);
		ck_assert_msg(p.date == date && p.has_size && p.size == size &&
		    p.has_info && p.flags == flags && !p.has_vsize &&
		    p.keywords[0] == '\0', "\"%s\" parsed as date %lld size %"
		    PRIu64 " flags %#x vsize %u keywords \"%s\"; built from "
		    "date %lld size %" PRIu64 " flags %#x", buf,
		    (long long)p.date, p.size, p.flags, p.has_vsize,
		    p.keywords, (long long)date, size, flags);
	}
}
END_TEST

/* ---- Maildir++ folders -------------------------------------------- */

static void
to_name_is(const char *dir, const char *want)
{
	char buf[256];
	int rc;

	rc = maildir_folder_to_name(dir, buf, sizeof(buf));
	ck_assert_msg(rc == 1, "maildir_folder_to_name(\"%s\") = %d (%s)", dir,
	    rc, err_msg());
	ck_assert_msg(strcmp(buf, want) == 0, "maildir_folder_to_name(\"%s\") "
	    "gave \"%s\", wanted \"%s\"", dir, buf, want);
}

static void
from_name_is(const char *name, const char *want)
{
	char buf[256];
	int rc;

	rc = maildir_folder_from_name(name, buf, sizeof(buf));
	ck_assert_msg(rc == 1, "maildir_folder_from_name(\"%s\") = %d (%s)",
	    name, rc, err_msg());
	ck_assert_msg(strcmp(buf, want) == 0, "maildir_folder_from_name("
	    "\"%s\") gave \"%s\", wanted \"%s\"", name, buf, want);
}

START_TEST(test_folder_names)
{
	to_name_is(".Foo", "Foo");
	to_name_is(".Foo.Bar", "Foo/Bar");
	to_name_is(".a.b.c", "a/b/c");
	to_name_is(".a\\2eb", "a.b");
	to_name_is(".a\\2Eb", "a.b");
	to_name_is(".a\\5cb", "a\\b");
	to_name_is(".a\\5Cb.c", "a\\b/c");
	to_name_is(".\\2e", ".");
	to_name_is(".\\2e\\2e", "..");
	/* A backslash not followed by two hex digits is itself. */
	to_name_is(".a\\zz", "a\\zz");
	to_name_is(".a\\", "a\\");
	to_name_is(".a\\2", "a\\2");
	to_name_is(".Entw\xc3\xbc" "rfe", "Entw\xc3\xbc" "rfe");

	from_name_is("Foo", ".Foo");
	from_name_is("Foo/Bar", ".Foo.Bar");
	from_name_is("a.b", ".a\\2eb");
	from_name_is("a\\b/c", ".a\\5cb.c");
	from_name_is(".", ".\\2e");
	from_name_is("..", ".\\2e\\2e");
	from_name_is("INBOX", "");
	from_name_is("inbox", "");
	from_name_is("InBoX", "");
	from_name_is("INBOX/sub", ".INBOX.sub");
	from_name_is("INBOXES", ".INBOXES");
}
END_TEST

START_TEST(test_folder_invalid)
{
	static const char *const baddirs[] = { "Foo", "", ".", "..", ".a..b",
	    ".a.", "..a", ".a/b", "./",
	    /* escapes other than \2e and \5c: a level or a NUL */
	    ".a\\2fb", ".a\\00b", ".a\\41" };
	static const char *const badnames[] = { "", "/a", "a/", "a//b", "/" };
	char buf[64];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(baddirs) / sizeof(baddirs[0]); i++) {
		err_clear();
		rc = maildir_folder_to_name(baddirs[i], buf, sizeof(buf));
		ck_assert_msg(rc == -1 && err_class() == ERR_INVALID,
		    "maildir_folder_to_name(\"%s\") = %d (%s), wanted -1 "
		    "INVALID", baddirs[i], rc, err_class_name(err_class()));
	}
	for (i = 0; i < sizeof(badnames) / sizeof(badnames[0]); i++) {
		err_clear();
		rc = maildir_folder_from_name(badnames[i], buf, sizeof(buf));
		ck_assert_msg(rc == -1 && err_class() == ERR_INVALID,
		    "maildir_folder_from_name(\"%s\") = %d (%s), wanted -1 "
		    "INVALID", badnames[i], rc, err_class_name(err_class()));
	}
}
END_TEST

START_TEST(test_folder_limit)
{
	char buf[32];
	size_t bs;
	int rc;

	/* ".a\2eb.c" is 9 bytes with its NUL; "a.b/c" is 6. */
	for (bs = 0; bs <= 9; bs++) {
		memset(buf, 'Z', sizeof(buf));
		err_clear();
		rc = maildir_folder_from_name("a.b/c", buf, bs);
		if (bs < 9)
			ck_assert_msg(rc == -1 && err_class() == ERR_LIMIT &&
			    buf[bs] == 'Z', "from_name bufsize %zu: rc %d "
			    "(%s), byte %zu '%c'", bs, rc,
			    err_class_name(err_class()), bs, buf[bs]);
		else
			ck_assert_msg(rc == 1 && strcmp(buf, ".a\\2eb.c") == 0,
			    "from_name bufsize %zu: rc %d \"%s\"", bs, rc, buf);
	}
	for (bs = 0; bs <= 6; bs++) {
		memset(buf, 'Z', sizeof(buf));
		err_clear();
		rc = maildir_folder_to_name(".a\\2eb.c", buf, bs);
		if (bs < 6)
			ck_assert_msg(rc == -1 && err_class() == ERR_LIMIT &&
			    buf[bs] == 'Z', "to_name bufsize %zu: rc %d (%s), "
			    "byte %zu '%c'", bs, rc,
			    err_class_name(err_class()), bs, buf[bs]);
		else
			ck_assert_msg(rc == 1 && strcmp(buf, "a.b/c") == 0,
			    "to_name bufsize %zu: rc %d \"%s\"", bs, rc, buf);
	}
	rc = maildir_folder_from_name("INBOX", buf, 0);
	ck_assert_msg(rc == -1 && err_class() == ERR_LIMIT, "INBOX in 0 "
	    "bytes: rc %d", rc);
}
END_TEST

/*
 * Every store name maps to one directory name and back: random names
 * of random levels over the bytes that matter ('.', '\', hex digits,
 * UTF-8) survive from_name + to_name, and the directory holds exactly
 * one unescaped '.' per level.
 */
START_TEST(test_folder_round_trip)
{
	static const char alpha[] = ".\\2e5cEC/xZ\xc3\xa9~ !";
	struct rng r = { 777 };
	char name[64], dir[256], back[256];
	size_t i, j, len, dots, levels;
	int rc;

	for (i = 0; i < 50000; i++) {
		len = 1 + rng_next(&r) % 20;
		for (j = 0; j < len; j++)
			name[j] = alpha[rng_next(&r) % (sizeof(alpha) - 1)];
		name[len] = '\0';
		rc = maildir_folder_from_name(name, dir, sizeof(dir));
		if (name[0] == '/' || name[len - 1] == '/' ||
		    strstr(name, "//") != NULL) {
			ck_assert_msg(rc == -1, "from_name(\"%s\") = %d, gave "
			    "\"%s\"", name, rc, dir);
			continue;
		}
		ck_assert_msg(rc == 1, "from_name(\"%s\") = %d (%s)", name, rc,
		    err_msg());
		for (j = 0, dots = 0; dir[j] != '\0'; j++)
			if (dir[j] == '.')
				dots++;
		for (j = 0, levels = 1; name[j] != '\0'; j++)
			if (name[j] == '/')
				levels++;
		ck_assert_msg(dots == levels && strchr(dir, '/') == NULL,
		    "\"%s\" (%zu levels) became \"%s\" (%zu dots)", name,
		    levels, dir, dots);
		rc = maildir_folder_to_name(dir, back, sizeof(back));
		ck_assert_msg(rc == 1 && strcmp(back, name) == 0, "\"%s\" -> "
		    "\"%s\" -> \"%s\" (rc %d)", name, dir, back, rc);
	}
}
END_TEST

static Suite *
maildir_suite(void)
{
	Suite *s = suite_create("mail_maildir");
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_test(tc, test_name_parse);
	tcase_add_test(tc, test_name_parse_keywords_all);
	tcase_add_test(tc, test_name_parse_invalid);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_name_build);
	tcase_add_test(tc, test_name_build_limit);
	tcase_add_test(tc, test_name_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("folders");
	tcase_add_test(tc, test_folder_names);
	tcase_add_test(tc, test_folder_invalid);
	tcase_add_test(tc, test_folder_limit);
	tcase_add_test(tc, test_folder_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(maildir_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
