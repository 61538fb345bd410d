/*
 * check_daemon.c - daemon start-up: -c/-v/-h and their exit codes, config
 * errors printed with exit 1, dropping root to the config's user, and
 * the /dev/fuse check (on stand-in nodes: a missing path, /dev/null, a
 * file, a directory; the real device as whoever runs the test).
 * Each test runs in its own forked process (Check's default), so exits
 * and privilege changes stay there.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
static int	fuse_usable_here(void);
static int	starts_with(const char *s, const char *prefix);

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

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* What the check should say about the real /dev/fuse, found by hand. */
static int
fuse_usable_here(void)
{
	struct stat st;
	int fd;

	if (stat("/dev/fuse", &st) != 0 || !S_ISCHR(st.st_mode) ||
	    major(st.st_rdev) != 10 || minor(st.st_rdev) != 229)
		return 0;
	if ((fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0)
		return 0;
	close(fd);
	return 1;
}

START_TEST(test_fuse_missing)
{
	char why[256];

	memset(why, 'x', sizeof(why));
	ck_assert_int_eq(daemon_fuse_check("/nonexistent/fuse", why,
	    sizeof(why)), 0);
	ck_assert_str_eq(why, "no /nonexistent/fuse: load the fuse module "
	    "(modprobe fuse) or run the container with --device /dev/fuse");
}
END_TEST

START_TEST(test_fuse_wrong_device)
{
	char why[256];

	ck_assert_int_eq(daemon_fuse_check("/dev/null", why, sizeof(why)), 0);
	ck_assert_msg(starts_with(why, "/dev/null is not the FUSE device "
	    "(char 1:3)"), "%s", why);
	ck_assert_msg(strstr(why, "char 10:229") != NULL, "%s", why);
}
END_TEST

START_TEST(test_fuse_not_a_device)
{
	char why[256], dir[] = "/tmp/check-daemon-XXXXXX", file[300];
	int fd;

	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp");
	ck_assert_int_eq(daemon_fuse_check(dir, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "is not the FUSE device (a directory)") !=
	    NULL, "%s", why);
	snprintf(file, sizeof(file), "%s/fuse", dir);
	fd = open(file, O_CREAT | O_WRONLY | O_EXCL, 0666);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* A regular file opens read-write, yet is no FUSE device. */
	ck_assert_int_eq(daemon_fuse_check(file, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, "is not the FUSE device (a regular file)")
	    != NULL, "%s", why);
	ck_assert_msg(starts_with(why, file), "%s", why);
	unlink(file);
	rmdir(dir);
}
END_TEST

START_TEST(test_fuse_small_buffer)
{
	char why[8];

	memset(why, 'x', sizeof(why));
	ck_assert_int_eq(daemon_fuse_check("/nonexistent/fuse", why,
	    sizeof(why)), 0);
	ck_assert_str_eq(why, "no /non");
	ck_assert_int_eq(daemon_fuse_check("/dev/null", NULL, 0), 0);
	ck_assert_int_eq(daemon_fuse_check("/dev/null", why, 0), 0);
	ck_assert_str_eq(why, "no /non");
}
END_TEST

START_TEST(test_fuse_real_device)
{
	char why[256];
	int want = fuse_usable_here();

	memset(why, 'x', sizeof(why));
	ck_assert_int_eq(daemon_fuse_available(why, sizeof(why)), want);
	if (want)
		ck_assert_str_eq(why, "");
	else
		ck_assert_msg(why[0] != '\0' && strstr(why, "/dev/fuse") !=
		    NULL, "no reason given: %s", why);
	ck_assert_int_eq(daemon_fuse_available(NULL, 0), want);
}
END_TEST

/*
 * A user who may not open the device: as root (forked by Check, so the
 * change stays in this test) drop to nobody when the device is closed
 * to others (0600, as Debian's udev rule leaves it without fuse3's).
 */
START_TEST(test_fuse_permission_denied)
{
	struct passwd *pw = getpwnam("nobody");
	struct stat st;
	char why[256];
	int fd;

	if (geteuid() == 0) {
		if (pw == NULL || pw->pw_uid == 0 || !fuse_usable_here() ||
		    stat("/dev/fuse", &st) != 0 || (st.st_mode & 0006) != 0)
			return;
		ck_assert_int_eq(setgid(pw->pw_gid), 0);
		ck_assert_int_eq(setuid(pw->pw_uid), 0);
	}
	errno = 0;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != EACCES) {
		if (fd >= 0)
			close(fd);
		return;		/* this user may open it, or it is missing */
	}
	ck_assert_int_eq(daemon_fuse_available(why, sizeof(why)), 0);
	ck_assert_msg(starts_with(why, "cannot open /dev/fuse: Permission "
	    "denied: "), "%s", why);
	ck_assert_msg(strstr(why, "root") != NULL, "no advice: %s", why);
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
	tcase_add_test(tc, test_fuse_missing);
	tcase_add_test(tc, test_fuse_wrong_device);
	tcase_add_test(tc, test_fuse_not_a_device);
	tcase_add_test(tc, test_fuse_small_buffer);
	tcase_add_test(tc, test_fuse_real_device);
	tcase_add_test(tc, test_fuse_permission_denied);
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
