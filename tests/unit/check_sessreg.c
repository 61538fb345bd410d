/*
 * check_sessreg.c - the readers of the session registry (common/sessreg.h,
 * `vellumctl who` and `kick`): a live process's file is listed field by
 * field, a file whose pid is gone or names another process (its start
 * time differs) is skipped and removed, a file that is not a registry is
 * skipped, and a kick request goes only to a live registered process (a
 * request file, then SIGUSR2), never to a reused pid nor through a link
 * planted in the registry dir.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sessreg.h"

static Suite	*sessreg_suite(void);
static unsigned long long self_start(void);
static void	make_dirs(char *data, size_t size);
static void	write_file(const char *data, const char *name,
		    const char *text);
static int	collect(const struct sessreg_session *, void *);
static void	remove_dirs(const char *data);

struct got {
	struct sessreg_session	s[8];
	int			n;
};

/* Field 22 of /proc/self/stat, as the daemons write it. */
static unsigned long long
self_start(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;
	int i;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')') + 1;
	for (i = 3; i < 22; i++)
		p = strchr(p + 1, ' ');
	ck_assert_int_eq(sscanf(p, " %llu", &v), 1);
	return v;
}

static void
make_dirs(char *data, size_t size)
{
	char path[PATH_MAX];

	snprintf(data, size, "/tmp/check_sessreg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(data));
	snprintf(path, sizeof(path), "%s/run", data);
	ck_assert_int_eq(mkdir(path, 0750), 0);
	snprintf(path, sizeof(path), "%s/%s", data, SESSREG_DIR);
	ck_assert_int_eq(mkdir(path, 0750), 0);
}

static void
write_file(const char *data, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", data, SESSREG_DIR, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
remove_dirs(const char *data)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
	ck_assert_int_eq(system(cmd), 0);
}

static int
collect(const struct sessreg_session *s, void *arg)
{
	struct got *g = arg;

	if (g->n < 8)
		g->s[g->n++] = *s;
	return 0;
}

START_TEST(test_pid_is)
{
	unsigned long long st = self_start();

	ck_assert(sessreg_pid_is(getpid(), st));
	ck_assert(!sessreg_pid_is(getpid(), st + 1));
	ck_assert(!sessreg_pid_is(0, st));
	ck_assert(!sessreg_pid_is(-1, st));
}
END_TEST

START_TEST(test_list_live_stale_garbage)
{
	char data[256], name[64], text[512], path[PATH_MAX];
	unsigned long long st = self_start();
	struct got g;

	make_dirs(data, sizeof(data));
	snprintf(name, sizeof(name), "%ld.sess", (long)getpid());
	snprintf(text, sizeof(text), "%s %ld %llu\n"
	    "a@example.test\timap\t192.0.2.1\t51234\t7\t1700000000\n"
	    "b@example.test\tpop3\t2001:db8::1\t4000\t9\t1700000100\n"
	    "broken line without tabs\n", SESSREG_MAGIC, (long)getpid(), st);
	write_file(data, name, text);
	/* our pid, another start time: a reused pid */
	write_file(data, "1.sess", "vellum-sessions 1 1 999999999999\n"
	    "ghost@example.test\timap\t192.0.2.9\t1\t1\t0\n");
	snprintf(text, sizeof(text), "%s %ld %llu\nx@example.test\tsmtp\t"
	    "192.0.2.2\t1\t1\t0\n", SESSREG_MAGIC, (long)getpid(), st + 1);
	write_file(data, "2.sess", text);
	write_file(data, "3.sess", "not a registry\n");
	write_file(data, ".4.sess.tmp", text);

	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(sessreg_list(data, collect, &g), 1);
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.s[0].user, "a@example.test");
	ck_assert_str_eq(g.s[0].service, "imap");
	ck_assert_str_eq(g.s[0].ip, "192.0.2.1");
	ck_assert_uint_eq(g.s[0].port, 51234);
	ck_assert_uint_eq(g.s[0].conn, 7);
	ck_assert_int_eq(g.s[0].since, 1700000000);
	ck_assert_int_eq(g.s[0].pid, getpid());
	ck_assert_str_eq(g.s[1].ip, "2001:db8::1");
	ck_assert_str_eq(g.s[1].service, "pop3");
	/* the stale ones are gone, the others stay */
	snprintf(path, sizeof(path), "%s/%s/2.sess", data, SESSREG_DIR);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s/3.sess", data, SESSREG_DIR);
	ck_assert_int_eq(access(path, F_OK), 0);
	remove_dirs(data);
}
END_TEST

START_TEST(test_list_no_dir)
{
	struct got g;

	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(sessreg_list("/nonexistent/check_sessreg", collect,
	    &g), 1);
	ck_assert_int_eq(g.n, 0);
}
END_TEST

START_TEST(test_kick_request)
{
	char data[256], name[64], text[256], path[PATH_MAX];
	char line[128];
	unsigned long long st = self_start();
	sigset_t set;
	FILE *f;
	int sig;

	make_dirs(data, sizeof(data));
	/* not registered: nothing is sent */
	ck_assert_int_eq(sessreg_kick_request(data, getpid(), "a@example.test",
	    NULL), 0);
	/* registered with another start time (a reused pid): nothing */
	snprintf(name, sizeof(name), "%ld.sess", (long)getpid());
	snprintf(text, sizeof(text), "%s %ld %llu\n", SESSREG_MAGIC,
	    (long)getpid(), st + 1);
	write_file(data, name, text);
	ck_assert_int_eq(sessreg_kick_request(data, getpid(), "a@example.test",
	    NULL), 0);
	/* registered: a request file, then SIGUSR2 (caught here) */
	snprintf(text, sizeof(text), "%s %ld %llu\n", SESSREG_MAGIC,
	    (long)getpid(), st);
	write_file(data, name, text);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	ck_assert_int_eq(sessreg_kick_request(data, getpid(), "a@example.test",
	    "imap"), 1);
	ck_assert_int_eq(sigwait(&set, &sig), 0);
	ck_assert_int_eq(sig, SIGUSR2);
	snprintf(path, sizeof(path), "%s/%s/%ld.kick.%ld.0", data,
	    SESSREG_DIR, (long)getpid(), (long)getpid());
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "no request file %s", path);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_str_eq(line, "a@example.test\timap\n");
	remove_dirs(data);
}
END_TEST

/*
 * vellumctl may run as root in a directory the daemons' user writes: a
 * link planted where the request's temp file used to be (a predictable
 * name) is never written through; the request is readable by the daemon
 * whatever the umask; a registry file naming a process of another user
 * than its owner is not signalled (root only: chown).
 */
START_TEST(test_kick_request_hostile)
{
	char data[256], name[64], text[256], path[PATH_MAX];
	char victim[PATH_MAX], link[PATH_MAX], buf[64];
	unsigned long long st = self_start();
	struct stat sb;
	sigset_t set, pend;
	FILE *f;
	size_t n;
	int i, sig;

	make_dirs(data, sizeof(data));
	snprintf(victim, sizeof(victim), "%s/victim", data);
	f = fopen(victim, "w");
	ck_assert_ptr_nonnull(f);
	fputs("precious\n", f);
	fclose(f);
	for (i = 0; i < 4; i++) {
		snprintf(link, sizeof(link), "%s/%s/.%ld.kick.%ld.%d.tmp",
		    data, SESSREG_DIR, (long)getpid(), (long)getpid(), i);
		ck_assert_int_eq(symlink(victim, link), 0);
	}
	snprintf(name, sizeof(name), "%ld.sess", (long)getpid());
	snprintf(text, sizeof(text), "%s %ld %llu\n", SESSREG_MAGIC,
	    (long)getpid(), st);
	write_file(data, name, text);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	umask(077);
	ck_assert_int_eq(sessreg_kick_request(data, getpid(), "a@example.test",
	    NULL), 1);
	ck_assert_int_eq(sigwait(&set, &sig), 0);
	f = fopen(victim, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "precious\n");
	snprintf(path, sizeof(path), "%s/%s/%ld.kick.%ld.0", data,
	    SESSREG_DIR, (long)getpid(), (long)getpid());
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert_msg(S_ISREG(sb.st_mode), "the request is a regular file");
	ck_assert_int_eq(sb.st_mode & 0777, 0644);
	ck_assert_int_eq(unlink(path), 0);
	if (geteuid() == 0) {
		snprintf(path, sizeof(path), "%s/%s/%s", data, SESSREG_DIR,
		    name);
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		ck_assert_int_eq(sessreg_kick_request(data, getpid(),
		    "a@example.test", NULL), -1);
		ck_assert_int_eq(sigpending(&pend), 0);
		ck_assert_msg(!sigismember(&pend, SIGUSR2), "a pid of "
		    "another user than the file's owner was signalled");
	}
	remove_dirs(data);
}
END_TEST

static Suite *
sessreg_suite(void)
{
	Suite *s = suite_create("sessreg");
	TCase *tc = tcase_create("readers");

	tcase_add_test(tc, test_pid_is);
	tcase_add_test(tc, test_list_live_stale_garbage);
	tcase_add_test(tc, test_list_no_dir);
	tcase_add_test(tc, test_kick_request);
	tcase_add_test(tc, test_kick_request_hostile);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sessreg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
