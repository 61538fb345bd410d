/* check_common.c - size parsing/formatting, error classes, tmpfile. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "common/conn.h"
#include "common/error.h"
#include "common/size.h"
#include "common/tmpfile.h"

static Suite	*common_suite(void);

#define KiB	1024ULL
#define MiB	(1024ULL * KiB)
#define GiB	(1024ULL * MiB)
#define TiB	(1024ULL * GiB)

static void
parse_ok(const char *text, uint64_t want)
{
	uint64_t got = 12345;
	int rc;

	err_clear();
	rc = size_parse(text, &got);
	ck_assert_msg(rc == 0, "size_parse(\"%s\") returned %d (%s: %s), "
	    "wanted 0", text, rc, err_class_name(err_class()), err_msg());
	ck_assert_msg(got == want, "size_parse(\"%s\") gave %" PRIu64
	    ", wanted %" PRIu64, text, got, want);
}

static void
parse_bad(const char *text)
{
	uint64_t got = 777;
	int rc;

	err_clear();
	rc = size_parse(text, &got);
	ck_assert_msg(rc == -1, "size_parse(\"%s\") returned %d (value %"
	    PRIu64 "), wanted -1", text, rc, got);
	ck_assert_msg(err_class() == ERR_INVALID, "size_parse(\"%s\") "
	    "error class %s, wanted INVALID", text,
	    err_class_name(err_class()));
	ck_assert_msg(strlen(err_msg()) > 0 && strcmp(err_msg(), "no error"),
	    "size_parse(\"%s\") left no error message", text);
	ck_assert_msg(got == 777, "size_parse(\"%s\") failed but wrote %"
	    PRIu64 " to the result", text, got);
}

static void
format_is(uint64_t v, const char *want)
{
	char buf[SIZE_FORMAT_MAX];
	char *r;

	memset(buf, 'x', sizeof(buf));
	r = size_format(v, buf, sizeof(buf));
	ck_assert_msg(r == buf, "size_format(%" PRIu64 ") did not return buf",
	    v);
	ck_assert_msg(strcmp(buf, want) == 0, "size_format(%" PRIu64
	    ") gave \"%s\", wanted \"%s\"", v, buf, want);
}

START_TEST(test_size_parse_suffixes)
{
	parse_ok("0", 0);
	parse_ok("1234", 1234);
	parse_ok("60K", 60 * KiB);
	parse_ok("60k", 60 * KiB);
	parse_ok("500M", 500 * MiB);
	parse_ok("500m", 500 * MiB);
	parse_ok("500MB", 500 * MiB);
	parse_ok("500mb", 500 * MiB);
	parse_ok("2G", 2 * GiB);
	parse_ok("3T", 3 * TiB);
	parse_ok("20480000", 20480000);
	parse_ok(" 5M", 5 * MiB);
}
END_TEST

START_TEST(test_size_parse_bad)
{
	parse_bad("");
	parse_bad("M");
	parse_bad("abc");
	parse_bad("-1");
	parse_bad("-5M");
	parse_bad("500X");
	parse_bad("500MX");
	parse_bad("500 M B");
	parse_bad("5MBB");
	parse_bad("12 34");
}
END_TEST

/* Issue 12: decimals with a unit, KiB/MiB/GiB, one rule for all sizes. */
START_TEST(test_size_parse_units)
{
	parse_ok("1.5G", GiB + GiB / 2);
	parse_ok("1.5g", GiB + GiB / 2);
	parse_ok("0.5M", MiB / 2);
	parse_ok("512k", 512 * KiB);
	parse_ok("10MB", 10 * MiB);
	parse_ok("1GiB", GiB);
	parse_ok("64kib", 64 * KiB);
	parse_ok("2.25T", 2 * TiB + TiB / 4);
	/* Rounded down to a whole byte: 0.1K is 102.4 bytes. */
	parse_ok("0.1K", 102);
	parse_ok("1.0000000000000000001G", GiB);
	parse_ok("0.001K", 1);
	parse_ok("0K", 0);
	parse_ok("0.0K", 0);
	parse_bad("0.0001K");	/* not 0 (unlimited for a quota) */
	parse_bad("0.0000000001G");
	parse_bad("1.5");	/* a fraction of a byte */
	parse_bad("1.G");
	parse_bad(".5G");
	parse_bad("1.5X");
	parse_bad("1,5G");
	parse_bad("1GiBB");
	parse_bad("1iB");
	parse_bad("17179869184.5G");	/* 2^64 and a half */
}
END_TEST

START_TEST(test_size_format_exact)
{
	char buf[SIZE_FORMAT_MAX];
	uint64_t v, back;
	static const uint64_t vals[] = { 0, 1, 1023, 1024, 1536, 1572864,
	    20480000, 52428800, 1610612736, 3 * TiB, 1025 };
	size_t i;

	ck_assert_str_eq(size_format_exact(52428800, buf, sizeof(buf)),
	    "50M");
	ck_assert_str_eq(size_format_exact(1610612736, buf, sizeof(buf)),
	    "1536M");
	ck_assert_str_eq(size_format_exact(20480000, buf, sizeof(buf)),
	    "20000K");
	ck_assert_str_eq(size_format_exact(1025, buf, sizeof(buf)), "1025");
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		v = vals[i];
		size_format_exact(v, buf, sizeof(buf));
		ck_assert_msg(size_parse(buf, &back) == 0 && back == v,
		    "%" PRIu64 " -> \"%s\" does not parse back", v, buf);
	}
}
END_TEST

START_TEST(test_size_parse_overflow)
{
	/* 2^64 and beyond, written plainly or through a suffix. */
	parse_bad("18446744073709551616");
	parse_bad("99999999999999999999999");
	parse_bad("17179869184G");	/* 2^34 * 2^30 = 2^64 */
	parse_bad("16777216T");		/* 2^24 * 2^40 = 2^64 */
	parse_bad("18446744073709551615K");
	/* The largest values that still fit. */
	parse_ok("18446744073709551615", UINT64_MAX);
	parse_ok("16777215T", 16777215ULL * TiB);
	parse_ok("17179869183G", 17179869183ULL * GiB);
}
END_TEST

START_TEST(test_size_format)
{
	format_is(0, "0");
	format_is(1, "1");
	format_is(1023, "1023");
	format_is(KiB, "1K");
	format_is(60 * KiB, "60K");
	format_is(500 * MiB, "500M");
	format_is(2 * GiB, "2G");
	format_is(3 * TiB, "3T");
	format_is(GiB + GiB / 2, "1.5G");
	format_is(MiB + MiB / 2, "1.5M");
	format_is(1000 * KiB, "1000K");
}
END_TEST

START_TEST(test_size_format_parse_round_trip)
{
	static const uint64_t units[] = { 1, KiB, MiB, GiB, TiB };
	char buf[SIZE_FORMAT_MAX];
	uint64_t v, got;
	size_t i;
	unsigned k;

	/* Whole multiples must format to a form size_parse() reads back. */
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		for (k = 1; k < 1024; k += 37) {
			v = k * units[i];
			size_format(v, buf, sizeof(buf));
			got = 0;
			ck_assert_msg(size_parse(buf, &got) == 0,
			    "size_format(%" PRIu64 ") gave \"%s\" which "
			    "size_parse rejects: %s", v, buf, err_msg());
			ck_assert_msg(got == v, "size_format(%" PRIu64
			    ") gave \"%s\" which parses back as %" PRIu64,
			    v, buf, got);
		}
	}
}
END_TEST

START_TEST(test_size_format_small_buffer)
{
	char buf[4];

	/* Truncated but terminated; never writes past bufsize. */
	memset(buf, 'x', sizeof(buf));
	size_format(123456, buf, sizeof(buf));
	ck_assert_msg(memchr(buf, '\0', sizeof(buf)) != NULL,
	    "size_format into 4 bytes left no terminator");
}
END_TEST

START_TEST(test_err_set_class_msg)
{
	int rc;

	err_clear();
	ck_assert_msg(err_class() == ERR_NONE, "after err_clear class is %s",
	    err_class_name(err_class()));
	ck_assert_msg(strcmp(err_msg(), "no error") == 0,
	    "after err_clear message is \"%s\"", err_msg());

	rc = err_set(ERR_NOTFOUND, "no user %s in %d", "bob", 42);
	ck_assert_msg(rc == -1, "err_set returned %d, wanted -1", rc);
	ck_assert_msg(err_class() == ERR_NOTFOUND, "class %s, wanted NOTFOUND",
	    err_class_name(err_class()));
	ck_assert_msg(strcmp(err_msg(), "no user bob in 42") == 0,
	    "message \"%s\"", err_msg());

	/* The last error wins. */
	err_set(ERR_INUSE, "held by pid %d", 7);
	ck_assert_msg(err_class() == ERR_INUSE, "class %s, wanted INUSE",
	    err_class_name(err_class()));
	ck_assert_msg(strcmp(err_msg(), "held by pid 7") == 0,
	    "message \"%s\"", err_msg());

	err_clear();
	ck_assert_msg(err_class() == ERR_NONE, "class %s after err_clear",
	    err_class_name(err_class()));
}
END_TEST

START_TEST(test_err_long_message)
{
	char big[5000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(ERR_INVALID, "%s", big);
	ck_assert_msg(err_class() == ERR_INVALID, "class %s",
	    err_class_name(err_class()));
	ck_assert_msg(strlen(err_msg()) > 100 && strlen(err_msg()) < 5000,
	    "a 4999-byte message was kept as %zu bytes", strlen(err_msg()));
	ck_assert_msg(strncmp(err_msg(), big, 100) == 0,
	    "truncated message does not start with the text given");
}
END_TEST

START_TEST(test_err_class_names)
{
	static const struct {
		enum err_class	c;
		const char	*name;
	} names[] = {
		{ ERR_NONE, "NONE" }, { ERR_TEMP, "TEMP" },
		{ ERR_NOTFOUND, "NOTFOUND" }, { ERR_EXISTS, "EXISTS" },
		{ ERR_NOQUOTA, "NOQUOTA" }, { ERR_TOOBIG, "TOOBIG" },
		{ ERR_LIMIT, "LIMIT" }, { ERR_INUSE, "INUSE" },
		{ ERR_PERM, "PERM" }, { ERR_INVALID, "INVALID" },
		{ ERR_CORRUPT, "CORRUPT" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(strcmp(err_class_name(names[i].c),
		    names[i].name) == 0, "err_class_name(%d) is \"%s\", "
		    "wanted \"%s\"", (int)names[i].c,
		    err_class_name(names[i].c), names[i].name);
	ck_assert_msg(err_class_name((enum err_class)999) != NULL,
	    "err_class_name of an unknown class returned NULL");
}
END_TEST

/*
 * vellumd starts every daemon at once; each may find the self-signed
 * pair being made by another.  Whoever returns from tls_selfsigned()
 * must find a whole certificate and key, never a half-written file.
 */
START_TEST(test_tls_selfsigned_concurrent)
{
	enum { ROUNDS = 20, PROCS = 6 };
	char tmpl[] = "/tmp/vellum-tls-XXXXXX", dir[64], cmd[128];
	int round, i, status, bad = 0;
	pid_t pids[PROCS];

	for (round = 0; round < ROUNDS; round++) {
		ck_assert_ptr_nonnull(mkdtemp(strcpy(tmpl,
		    "/tmp/vellum-tls-XXXXXX")));
		snprintf(dir, sizeof(dir), "%s/data", tmpl);
		for (i = 0; i < PROCS; i++) {
			if ((pids[i] = fork()) == 0) {
				char cert[512], key[512];
				FILE *f;
				X509 *x = NULL;
				EVP_PKEY *k = NULL;

				if (tls_selfsigned(dir, "mail.example.test",
				    cert, key, sizeof(cert)) == -1)
					_exit(2);
				if ((f = fopen(cert, "r")) == NULL ||
				    (x = PEM_read_X509(f, NULL, NULL,
				    NULL)) == NULL)
					_exit(3);
				fclose(f);
				if ((f = fopen(key, "r")) == NULL ||
				    (k = PEM_read_PrivateKey(f, NULL, NULL,
				    NULL)) == NULL)
					_exit(4);
				fclose(f);
				_exit(0);
			}
			ck_assert_int_ne(pids[i], -1);
		}
		for (i = 0; i < PROCS; i++) {
			ck_assert_int_eq(waitpid(pids[i], &status, 0),
			    pids[i]);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				bad++;
		}
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
		ck_assert_int_eq(system(cmd), 0);
		ck_assert_msg(bad == 0, "round %d: %d of %d processes found "
		    "no usable pair (exit 2: tls_selfsigned failed, 3: the "
		    "certificate did not parse, 4: the key did not)", round,
		    bad, PROCS);
	}
}
END_TEST

/* tmpfile_open: a readable, writable file no name in dir reaches. */
START_TEST(test_tmpfile_open)
{
	char dir[] = "/tmp/vellum-tmpfile-XXXXXX", buf[8];
	struct dirent *de;
	DIR *d;
	int fd, names = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fd = tmpfile_open(dir, "t.XXXXXX");
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "spool", 5), 5);
	ck_assert_int_eq(pread(fd, buf, 5, 0), 5);
	ck_assert_int_eq(memcmp(buf, "spool", 5), 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			names++;
	closedir(d);
	ck_assert_int_eq(names, 0);
	close(fd);
	ck_assert_int_eq(rmdir(dir), 0);
	/* the directory is gone: no file, and errno says why */
	errno = 0;
	ck_assert_int_eq(tmpfile_open(dir, "t.XXXXXX"), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

static Suite *
common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc;

	tc = tcase_create("size");
	tcase_add_test(tc, test_size_parse_suffixes);
	tcase_add_test(tc, test_size_parse_bad);
	tcase_add_test(tc, test_size_parse_overflow);
	tcase_add_test(tc, test_size_parse_units);
	tcase_add_test(tc, test_size_format_exact);
	tcase_add_test(tc, test_size_format);
	tcase_add_test(tc, test_size_format_parse_round_trip);
	tcase_add_test(tc, test_size_format_small_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("error");
	tcase_add_test(tc, test_err_set_class_msg);
	tcase_add_test(tc, test_err_long_message);
	tcase_add_test(tc, test_err_class_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("tmpfile");
	tcase_add_test(tc, test_tmpfile_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("tls");
	tcase_add_test(tc, test_tls_selfsigned_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(common_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
