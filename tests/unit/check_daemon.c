/*
 * check_daemon.c - daemon start-up: -c/-v/-h and their exit codes, config
 * errors printed with exit 1, and dropping root to the config's user.
 * Each test runs in its own forked process (Check's default), so exits
 * and privilege changes stay there.
 */
#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/daemon.h"
#include "common/error.h"
#include "common/log.h"

static Suite	*daemon_suite(void);
static const char *conf_file(const char *text);
static void	setup(const char *arg1, const char *arg2, const char *arg3);
static void	bad_conf_make(void);
static void	bad_conf_remove(void);

static char conf_path[64];
static char bad_conf[64];
static struct config cfg;

/* Made in the runner's process, so it is removed even after an exit. */
static void
bad_conf_make(void)
{
	snprintf(bad_conf, sizeof(bad_conf), "%s", conf_file("nonsense\n"
	    "[pop3]\n"));
}

static void
bad_conf_remove(void)
{
	unlink(bad_conf);
}

/* Writes text to a temporary file; its path stays until the test ends. */
static const char *
conf_file(const char *text)
{
	FILE *fp;
	int fd;

	snprintf(conf_path, sizeof(conf_path), "/tmp/check-daemon-XXXXXX");
	fd = mkstemp(conf_path);
	ck_assert_msg(fd >= 0, "mkstemp");
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	return conf_path;
}

static void
setup(const char *arg1, const char *arg2, const char *arg3)
{
	char *argv[5];
	int argc = 0;

	argv[argc++] = (char *)"vellum-test";
	if (arg1 != NULL)
		argv[argc++] = (char *)arg1;
	if (arg2 != NULL)
		argv[argc++] = (char *)arg2;
	if (arg3 != NULL)
		argv[argc++] = (char *)arg3;
	argv[argc] = NULL;
	daemon_setup("vellum-test", argc, argv, &cfg);
}

START_TEST(test_setup_reads_config)
{
	const char *path = conf_file("data_dir = /srv/v\n[pop3]\n"
	    "listen = *:110\n");

	setup("-c", path, NULL);
	ck_assert_str_eq(cfg.path, path);
	ck_assert_str_eq(cfg.data_dir, "/srv/v");
	ck_assert_int_eq(cfg.svc[SVC_POP3].enabled, 1);
	ck_assert_int_eq(log_verbose(), 1);
	unlink(path);

	path = conf_file("data_dir = /srv/v\nlog_level = debug\n");
	setup("-c", path, NULL);
	ck_assert_int_eq(log_verbose(), 2);
	unlink(path);
}
END_TEST

START_TEST(test_setup_default_and_verbose)
{
	setup("-v", NULL, NULL);
	ck_assert_str_eq(cfg.path, "");
	ck_assert_str_eq(cfg.data_dir, "./var");
	ck_assert_int_eq(log_verbose(), 2);
	setup(NULL, NULL, NULL);
	ck_assert_int_eq(log_verbose(), 1);
	setup("-d", NULL, NULL);
	ck_assert_int_eq(log_verbose(), 2);
}
END_TEST

START_TEST(test_setup_bad_option)
{
	setup("-x", NULL, NULL);
}
END_TEST

START_TEST(test_setup_missing_argument)
{
	setup("-c", NULL, NULL);
}
END_TEST

START_TEST(test_setup_extra_argument)
{
	setup("-v", "extra", NULL);
}
END_TEST

START_TEST(test_setup_help)
{
	setup("-h", NULL, NULL);
}
END_TEST

START_TEST(test_setup_config_errors)
{
	setup("-c", bad_conf, NULL);
}
END_TEST

START_TEST(test_setup_missing_file)
{
	setup("-c", "/nonexistent/vellum.conf", NULL);
}
END_TEST

START_TEST(test_drop_nothing_to_do)
{
	struct config c;
	uid_t uid = getuid();

	config_default(&c);
	ck_assert_int_eq(daemon_drop_privileges(&c), 0);
	ck_assert_msg(getuid() == uid, "uid changed without a user");
}
END_TEST

START_TEST(test_drop_unknown_user)
{
	struct config c;

	config_default(&c);
	snprintf(c.user, sizeof(c.user), "vellum-no-such-user");
	if (geteuid() != 0) {
		/* Not root: nothing to drop, whoever the user is. */
		ck_assert_int_eq(daemon_drop_privileges(&c), 0);
		return;
	}
	ck_assert_int_eq(daemon_drop_privileges(&c), -1);
	ck_assert_int_eq(err_class(), ERR_NOTFOUND);
	ck_assert_msg(strstr(err_msg(), "vellum-no-such-user") != NULL, "%s",
	    err_msg());
}
END_TEST

START_TEST(test_drop_to_nobody)
{
	struct config c;
	struct passwd *pw = getpwnam("nobody");

	if (geteuid() != 0 || pw == NULL)
		return;		/* needs root and a "nobody" */
	config_default(&c);
	snprintf(c.user, sizeof(c.user), "nobody");
	ck_assert_msg(daemon_drop_privileges(&c) == 0, "%s", err_msg());
	ck_assert_msg(getuid() == pw->pw_uid && geteuid() == pw->pw_uid,
	    "uid %d euid %d, wanted %d", (int)getuid(), (int)geteuid(),
	    (int)pw->pw_uid);
	ck_assert_msg(getgid() == pw->pw_gid && getegid() == pw->pw_gid,
	    "gid %d", (int)getgid());
	ck_assert_msg(setuid(0) != 0, "could become root again");
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("daemon");

	tcase_add_unchecked_fixture(tc, bad_conf_make, bad_conf_remove);
	tcase_add_test(tc, test_setup_reads_config);
	tcase_add_test(tc, test_setup_default_and_verbose);
	tcase_add_exit_test(tc, test_setup_bad_option, 2);
	tcase_add_exit_test(tc, test_setup_missing_argument, 2);
	tcase_add_exit_test(tc, test_setup_extra_argument, 2);
	tcase_add_exit_test(tc, test_setup_help, 0);
	tcase_add_exit_test(tc, test_setup_config_errors, 1);
	tcase_add_exit_test(tc, test_setup_missing_file, 1);
	tcase_add_test(tc, test_drop_nothing_to_do);
	tcase_add_test(tc, test_drop_unknown_user);
	tcase_add_test(tc, test_drop_to_nobody);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(daemon_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
