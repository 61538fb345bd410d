/*
 * check_filter_run.c - the program runner of filters (filter/run.c) with
 * real programs, as root: stdin and stdout round trips, the time limit
 * (the whole process group killed), the output limit, exit statuses, the
 * account a program runs as, its environment, directory and descriptors,
 * concurrent requests from several threads, files read and appended as
 * the account, and the helper dying with the daemon.  Skipped (77) when
 * not root: switching accounts is the point.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/run.h"

#define USER_UID	1234	/* an account without a passwd entry */
#define NTHREADS	4
#define PER_THREAD	4

static Suite	*run_suite(void);
static struct filter_runner *start(unsigned timeout, size_t output_max,
		    unsigned max_procs);
static int	run(struct filter_runner *, uid_t, gid_t, const char *home,
		    const char *const *argv, const char *const *envp,
		    const void *in, size_t inlen, struct filter_exec_result *);
static int	proc_dead(pid_t);
static pid_t	only_child(void);
static char	*list_fds(pid_t);
static char	*make_dir(uid_t, mode_t);

static const char *const std_env[] = { "PATH=/usr/bin:/bin", NULL };
static uid_t nobody_uid = 65534;
static gid_t nobody_gid = 65534;

static struct filter_runner *
start(unsigned timeout, size_t output_max, unsigned max_procs)
{
	struct filter_runner_config cfg = { "nobody", timeout, output_max,
	    max_procs };
	struct filter_runner *r = NULL;

	ck_assert_msg(filter_runner_start(&cfg, &r) == 0,
	    "filter_runner_start: %s", err_msg());
	ck_assert_ptr_nonnull(r);
	return r;
}

static int
run(struct filter_runner *r, uid_t uid, gid_t gid, const char *home,
    const char *const *argv, const char *const *envp, const void *in,
    size_t inlen, struct filter_exec_result *res)
{
	struct filter_run_req q;

	memset(&q, 0, sizeof(q));
	q.uid = uid;
	q.gid = gid;
	q.home = home;
	q.argv = (char *const *)argv;
	q.envp = (char *const *)envp;
	q.input = in;
	q.inlen = inlen;
	q.capture = 1;
	return filter_runner_exec(r, &q, res);
}

/* Gone, or a zombie waiting for its (new) parent. */
static int
proc_dead(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 1;
	return p[2] == 'Z' || p[2] == 'X';
}

/* The one child of this process (the helper), found in /proc. */
static pid_t
only_child(void)
{
	struct dirent *de;
	char path[300], buf[512], *s;
	DIR *d;
	FILE *f;
	pid_t found = 0;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
		fclose(f);
		if ((s = strrchr(buf, ')')) != NULL &&
		    atoi(s + 4) == (int)getpid())
			found = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/*
 * "0:/dev/null 1:... " for the descriptors of pid, in order; sockets
 * and anonymous inodes by kind only ("socket", "anon_inode:[signalfd]").
 */
static char *
list_fds(pid_t pid)
{
	char path[64], link[256], *out = xcalloc(1, 4096), *b;
	struct dirent *de;
	int seen[1024] = { 0 }, i, n;
	size_t len = 0;
	ssize_t k;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	ck_assert_msg((d = opendir(path)) != NULL, "%s: %s", path,
	    strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && (n = atoi(de->d_name)) >= 0 &&
		    n < 1024 && n != dirfd(d))
			seen[n] = 1;
	closedir(d);
	for (i = 0; i < 1024 && len < 3800; i++) {
		if (!seen[i])
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, i);
		k = readlink(path, link, sizeof(link) - 1);
		link[k > 0 ? k : 0] = '\0';
		if ((b = strchr(link, '[')) != NULL &&
		    strncmp(link, "socket:", 7) == 0)
			*b = '\0';
		len += (size_t)snprintf(out + len, 4096 - len, "%d:%s ", i,
		    link);
	}
	return out;
}

static char *
make_dir(uid_t owner, mode_t mode)
{
	char tmpl[] = "/tmp/check-filter-run-XXXXXX";
	char *d = mkdtemp(tmpl);

	ck_assert_msg(d != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert_int_eq(chown(d, owner, owner), 0);
	ck_assert_int_eq(chmod(d, mode), 0);
	return xstrdup(d);
}

START_TEST(test_cat_round_trip)
{
	static const char *const argv[] = { "/bin/cat", NULL };
	struct filter_runner *r = start(60, 16 * 1024 * 1024, 4);
	struct filter_exec_result res;
	size_t n = 5 * 1024 * 1024, i;
	char *in = xmalloc(n);

	for (i = 0; i < n; i++)
		in[i] = (char)((i * 7 + i / 4096) & 0xff);
	ck_assert_msg(run(r, 0, 0, NULL, argv, NULL, in, n, &res) == 0, "%s",
	    err_msg());
	ck_assert_int_eq(res.status, 0);
	ck_assert_int_eq(res.timed_out, 0);
	ck_assert_int_eq(res.truncated, 0);
	ck_assert_msg(res.outlen == n, "cat gave %zu bytes of %zu",
	    res.outlen, n);
	ck_assert_msg(memcmp(res.out, in, n) == 0, "cat changed the bytes");
	ck_assert_int_eq(res.out[n], '\0');
	free(res.out);
	/* No input: stdin is /dev/null. */
	ck_assert_int_eq(run(r, 0, 0, NULL, argv, NULL, NULL, 0, &res), 0);
	ck_assert_uint_eq(res.outlen, 0);
	ck_assert_str_eq(res.out, "");
	free(res.out);
	free(in);
	filter_runner_stop(&r);
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_timeout_kills_group)
{
	static const char *const a1[] = { "sh", "-c", "sleep 30", NULL };
	static const char *const a2[] = { "sh", "-c",
	    "sleep 30 & echo $!; wait; echo never", NULL };
	struct filter_runner *r = start(1, 1024 * 1024, 4);
	struct filter_exec_result res;
	pid_t sleeper;
	int i;

	ck_assert_msg(run(r, 0, 0, NULL, a1, std_env, NULL, 0, &res) == 0,
	    "%s", err_msg());
	ck_assert_msg(res.timed_out == 1, "not timed out: status %d",
	    res.status);
	ck_assert_int_eq(res.status, 128 + SIGKILL);
	free(res.out);
	ck_assert_msg(run(r, 0, 0, NULL, a2, std_env, NULL, 0, &res) == 0,
	    "%s", err_msg());
	ck_assert_int_eq(res.timed_out, 1);
	sleeper = (pid_t)atoi(res.out);
	ck_assert_msg(sleeper > 1, "no pid printed: '%s'", res.out);
	ck_assert_msg(strstr(res.out, "never") == NULL, "%s", res.out);
	free(res.out);
	for (i = 0; i < 100 && !proc_dead(sleeper); i++)
		usleep(50000);
	ck_assert_msg(proc_dead(sleeper), "the grandchild sleep %d lives",
	    (int)sleeper);
	filter_runner_stop(&r);
}
END_TEST

START_TEST(test_output_limit)
{
	static const char *const argv[] = { "sh", "-c",
	    "head -c 300000 /dev/zero; sleep 30", NULL };
	struct filter_runner *r = start(60, 100000, 4);
	struct filter_exec_result res;

	ck_assert_msg(run(r, 0, 0, NULL, argv, std_env, NULL, 0, &res) == 0,
	    "%s", err_msg());
	ck_assert_int_eq(res.truncated, 1);
	ck_assert_int_eq(res.timed_out, 0);
	ck_assert_msg(res.outlen == 100000, "outlen %zu", res.outlen);
	ck_assert_int_eq(res.status, 128 + SIGKILL);
	free(res.out);
	filter_runner_stop(&r);
}
END_TEST

START_TEST(test_exit_status)
{
	static const char *const a3[] = { "sh", "-c", "exit 3", NULL };
	static const char *const miss1[] = { "/nonexistent/prog", NULL };
	static const char *const miss2[] = { "vellum-no-such-program", NULL };
	static const char *const nopath[] = { "true", NULL };
	static const char *const t[] = { "true", NULL };
	struct filter_runner *r = start(60, 1024, 4);
	struct filter_exec_result res;

	ck_assert_int_eq(run(r, 0, 0, NULL, a3, std_env, NULL, 0, &res), 0);
	ck_assert_int_eq(res.status, 3);
	free(res.out);
	ck_assert_int_eq(run(r, 0, 0, NULL, miss1, std_env, NULL, 0, &res), 0);
	ck_assert_int_eq(res.status, 127);
	free(res.out);
	ck_assert_int_eq(run(r, 0, 0, NULL, miss2, std_env, NULL, 0, &res), 0);
	ck_assert_int_eq(res.status, 127);
	free(res.out);
	/* Found along PATH of the environment given, and only there. */
	ck_assert_int_eq(run(r, 0, 0, NULL, t, std_env, NULL, 0, &res), 0);
	ck_assert_int_eq(res.status, 0);
	free(res.out);
	ck_assert_int_eq(run(r, 0, 0, NULL, nopath, NULL, NULL, 0, &res), 0);
	ck_assert_int_eq(res.status, 127);
	free(res.out);
	filter_runner_stop(&r);
}
END_TEST

START_TEST(test_accounts)
{
	static const char *const argv[] = { "id", "-u", NULL };
	static const char *const gargv[] = { "id", "-g", NULL };
	static const char *const grp[] = { "id", "-G", NULL };
	struct filter_runner *r = start(60, 1024, 4);
	struct filter_exec_result res;
	char want[32];

	ck_assert_int_eq(run(r, 0, 0, NULL, argv, std_env, NULL, 0, &res), 0);
	snprintf(want, sizeof(want), "%u\n", (unsigned)nobody_uid);
	ck_assert_str_eq(res.out, want);
	free(res.out);
	ck_assert_int_eq(run(r, USER_UID, USER_UID, NULL, argv, std_env, NULL,
	    0, &res), 0);
	ck_assert_str_eq(res.out, "1234\n");
	free(res.out);
	ck_assert_int_eq(run(r, USER_UID, USER_UID + 1, NULL, gargv, std_env,
	    NULL, 0, &res), 0);
	ck_assert_str_eq(res.out, "1235\n");
	free(res.out);
	/* No supplementary group of root's left behind. */
	ck_assert_int_eq(run(r, USER_UID, USER_UID + 1, NULL, grp, std_env,
	    NULL, 0, &res), 0);
	ck_assert_str_eq(res.out, "1235\n");
	free(res.out);
	/* Group root is refused. */
	err_clear();
	ck_assert_int_eq(run(r, USER_UID, 0, NULL, argv, std_env, NULL, 0,
	    &res), -1);
	ck_assert_int_eq(err_class(), ERR_PERM);
	filter_runner_stop(&r);
}
END_TEST

/* A fallback account that is root refuses uid 0; a missing one fails. */
START_TEST(test_fallback_checks)
{
	static const char *const argv[] = { "id", "-u", NULL };
	struct filter_runner_config cfg = { "root", 60, 1024, 4 };
	struct filter_runner *r = NULL;
	struct filter_exec_result res;

	ck_assert_int_eq(filter_runner_start(&cfg, &r), 0);
	err_clear();
	ck_assert_int_eq(run(r, 0, 0, NULL, argv, std_env, NULL, 0, &res), -1);
	ck_assert_msg(err_class() == ERR_PERM, "%s: %s",
	    err_class_name(err_class()), err_msg());
	ck_assert_ptr_null(res.out);
	ck_assert_int_eq(run(r, USER_UID, USER_UID, NULL, argv, std_env,
	    NULL, 0, &res), 0);
	ck_assert_str_eq(res.out, "1234\n");
	free(res.out);
	filter_runner_stop(&r);
	cfg.fallback_user = "vellum-no-such-user";
	err_clear();
	ck_assert_int_eq(filter_runner_start(&cfg, &r), -1);
	ck_assert_int_eq(err_class(), ERR_NOTFOUND);
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_environment_cwd_fds)
{
	static const char *const env[] = { "A=1", "PATH=/usr/bin:/bin",
	    "Z=two words", NULL };
	static const char *const eargv[] = { "env", NULL };
	static const char *const pargv[] = { "/bin/pwd", NULL };
	static const char *const fargv[] = { "sh", "-c", "ls /proc/$$/fd",
	    NULL };
	static const char *const largv[] = { "sh", "-c",
	    "ulimit -n; ulimit -c; umask", NULL };
	static const char want_fds[] = "0:/dev/null 1:/dev/null "
	    "2:/dev/null 3:socket: 4:anon_inode:[signalfd] ";
	/* Not CLOEXEC, and open when the helper is forked: must not leak. */
	int fd = open("/dev/null", O_RDONLY), i;
	struct filter_runner *r = start(60, 4096, 4);
	struct filter_exec_result res;
	char *home = make_dir(USER_UID, 0700), *fds;

	ck_assert_int_ge(fd, 0);
	/*
	 * The helper keeps /dev/null on 0-2, its control socket and its own
	 * signalfd: nothing of ours.
	 */
	/* (It closes them as it starts: look again until it has.) */
	for (i = 0; i < 200; i++) {
		fds = list_fds(only_child());
		if (strcmp(fds, want_fds) == 0)
			break;
		free(fds);
		fds = NULL;
		usleep(10 * 1000);
	}
	if (fds == NULL)
		fds = list_fds(only_child());
	ck_assert_str_eq(fds, want_fds);
	free(fds);
	ck_assert_int_eq(run(r, USER_UID, USER_UID, home, eargv, env, NULL, 0,
	    &res), 0);
	ck_assert_str_eq(res.out, "A=1\nPATH=/usr/bin:/bin\nZ=two words\n");
	free(res.out);
	ck_assert_int_eq(run(r, USER_UID, USER_UID, home, pargv, env, NULL, 0,
	    &res), 0);
	ck_assert_msg(strncmp(res.out, home, strlen(home)) == 0 &&
	    strcmp(res.out + strlen(home), "\n") == 0, "cwd '%s', wanted %s",
	    res.out, home);
	free(res.out);
	/* Another account cannot enter that home: "/" then. */
	ck_assert_int_eq(run(r, 0, 0, home, pargv, env, NULL, 0, &res), 0);
	ck_assert_str_eq(res.out, "/\n");
	free(res.out);
	ck_assert_int_eq(run(r, USER_UID, USER_UID, home, fargv, env, "x", 1,
	    &res), 0);
	ck_assert_str_eq(res.out, "0\n1\n2\n");
	free(res.out);
	ck_assert_int_eq(run(r, USER_UID, USER_UID, home, largv, env, NULL, 0,
	    &res), 0);
	ck_assert_str_eq(res.out, "64\n0\n0077\n");
	free(res.out);
	close(fd);
	rmdir(home);
	free(home);
	filter_runner_stop(&r);
}
END_TEST

struct thread_arg {
	struct filter_runner	*r;
	int			 id;
	int			 ok;
	char			 why[256];
};

static void *
thread_main(void *p)
{
	static const char *const argv[] = { "sh", "-c",
	    "cat; echo \" $(id -u)\"", NULL };
	struct thread_arg *a = p;
	struct filter_exec_result res;
	char in[64], want[96];
	int k;

	a->ok = 1;
	for (k = 0; k < PER_THREAD; k++) {
		uid_t uid = (uid_t)(USER_UID + a->id * 10 + k);

		snprintf(in, sizeof(in), "thread %d request %d", a->id, k);
		snprintf(want, sizeof(want), "%s %u\n", in, (unsigned)uid);
		if (run(a->r, uid, uid, NULL, argv, std_env, in, strlen(in),
		    &res) != 0) {
			snprintf(a->why, sizeof(a->why), "%s: %s", in,
			    err_msg());
			a->ok = 0;
			return NULL;
		}
		if (res.status != 0 || strcmp(res.out, want) != 0) {
			snprintf(a->why, sizeof(a->why), "%s: status %d, "
			    "'%s'", in, res.status, res.out);
			a->ok = 0;
		}
		free(res.out);
	}
	return NULL;
}

START_TEST(test_concurrent)
{
	struct filter_runner *r = start(60, 4096, 2);
	struct thread_arg args[NTHREADS];
	pthread_t t[NTHREADS];
	int i;

	for (i = 0; i < NTHREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].r = r;
		args[i].id = i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_main,
		    &args[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (i = 0; i < NTHREADS; i++)
		ck_assert_msg(args[i].ok, "thread %d: %s", i, args[i].why);
	filter_runner_stop(&r);
}
END_TEST

START_TEST(test_read_file)
{
	struct filter_runner *r = start(60, 4096, 4);
	char *dir = make_dir(0, 0755), path[256], *data;
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/secret", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "root only\n", 10), 10);
	close(fd);
	/* Readable by root, not by nobody (the fallback of uid 0). */
	err_clear();
	ck_assert_int_eq(filter_runner_read_file(r, 0, 0, dir, "secret",
	    &data, &len), -1);
	ck_assert_msg(err_class() == ERR_PERM, "%s: %s",
	    err_class_name(err_class()), err_msg());
	ck_assert_ptr_null(data);
	/* The same through a symbolic link of the user's. */
	snprintf(path, sizeof(path), "%s/link", dir);
	ck_assert_int_eq(symlink("secret", path), 0);
	ck_assert_int_eq(filter_runner_read_file(r, USER_UID, USER_UID, dir,
	    "link", &data, &len), -1);
	ck_assert_int_eq(err_class(), ERR_PERM);
	ck_assert_int_eq(filter_runner_read_file(r, 0, 0, dir, "missing",
	    &data, &len), 0);
	ck_assert_ptr_null(data);
	snprintf(path, sizeof(path), "%s/secret", dir);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_msg(filter_runner_read_file(r, 0, 0, dir, "link", &data,
	    &len) == 1, "%s", err_msg());
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(data, "root only\n");
	free(data);
	/* Absolute paths work too. */
	ck_assert_int_eq(filter_runner_read_file(r, USER_UID, USER_UID, "/",
	    path, &data, &len), 1);
	ck_assert_str_eq(data, "root only\n");
	free(data);
	/* Not a regular file. */
	ck_assert_int_eq(filter_runner_read_file(r, USER_UID, USER_UID, "/",
	    "/dev/zero", &data, &len), -1);
	ck_assert_int_eq(err_class(), ERR_PERM);
	/* Past FILTER_FILE_MAX. */
	snprintf(path, sizeof(path), "%s/big", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, FILTER_FILE_MAX + 1), 0);
	close(fd);
	ck_assert_int_eq(filter_runner_read_file(r, USER_UID, USER_UID, dir,
	    "big", &data, &len), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	unlink(path);
	snprintf(path, sizeof(path), "%s/link", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/secret", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
	filter_runner_stop(&r);
}
END_TEST

START_TEST(test_append)
{
	struct filter_runner *r = start(60, 4096, 4);
	char *dir = make_dir(USER_UID, 0700), path[256], buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	ck_assert_msg(filter_runner_append(r, USER_UID, USER_UID, dir,
	    "log", "one\n", 4) == 0, "%s", err_msg());
	ck_assert_int_eq(filter_runner_append(r, USER_UID, USER_UID, dir,
	    "log", "two\n", 4), 0);
	snprintf(path, sizeof(path), "%s/log", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0600, "mode %o",
	    (unsigned)(st.st_mode & 07777));
	ck_assert_int_eq(st.st_uid, USER_UID);
	ck_assert_int_eq(st.st_gid, USER_UID);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_eq(n, 8);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "one\ntwo\n");
	/* Nobody may not write into that home. */
	err_clear();
	ck_assert_int_eq(filter_runner_append(r, 0, 0, dir, "log2", "x", 1),
	    -1);
	ck_assert_int_eq(err_class(), ERR_PERM);
	unlink(path);
	rmdir(dir);
	free(dir);
	filter_runner_stop(&r);
}
END_TEST

/* A requester on a thread of its own, its program running long. */
struct stop_arg {
	struct filter_runner	*r;
	const char		*home;
	int			 rc;
};

static void *
stop_thread(void *p)
{
	static const char *const argv[] = { "sh", "-c",
	    "echo $$ > pid; sleep 60", NULL };
	struct stop_arg *a = p;
	struct filter_exec_result res;

	a->rc = run(a->r, USER_UID, USER_UID, a->home, argv, std_env, NULL, 0,
	    &res);
	if (a->rc == 0)
		free(res.out);
	return NULL;
}

/* The pid in home/pid, once the program wrote it (0: it did not). */
static pid_t
wait_pid_file(const char *home)
{
	char path[256];
	FILE *f;
	int v, i;

	snprintf(path, sizeof(path), "%s/pid", home);
	for (i = 0; i < 200; i++) {
		if ((f = fopen(path, "r")) != NULL) {
			v = 0;
			if (fscanf(f, "%d", &v) == 1 && v > 0) {
				fclose(f);
				unlink(path);
				return (pid_t)v;
			}
			fclose(f);
		}
		usleep(50000);
	}
	return 0;
}

/*
 * The daemon dies (SIGKILL, no cleanup): its helper dies with it, and a
 * program running then (as another account) dies too.  This process
 * becomes a subreaper so that the orphans are ours to reap.
 */
START_TEST(test_helper_dies_with_parent)
{
	char *dir = make_dir(USER_UID, 0700);
	int p[2], st, i;
	pid_t mid, helper = 0, prog, w = 0;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(pipe(p), 0);
	mid = fork();
	ck_assert_int_ge(mid, 0);
	if (mid == 0) {
		struct stop_arg a;
		pthread_t t;
		pid_t found;

		close(p[0]);
		a.r = start(60, 1024, 4);
		a.home = dir;
		found = only_child();
		if (write(p[1], &found, sizeof(found)) != sizeof(found))
			_exit(1);
		if (pthread_create(&t, NULL, stop_thread, &a) != 0)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &helper, sizeof(helper)),
	    (ssize_t)sizeof(helper));
	close(p[0]);
	ck_assert_msg(helper > 0, "the helper was not found");
	ck_assert_int_eq(proc_dead(helper), 0);
	prog = wait_pid_file(dir);
	ck_assert_msg(prog > 0, "the program did not start");
	ck_assert_int_eq(kill(mid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(mid, &st, 0), mid);
	for (i = 0; i < 200; i++) {
		/* Reap whatever comes to us. */
		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			;
		if (proc_dead(helper) && proc_dead(prog))
			break;
		usleep(50000);
	}
	ck_assert_msg(proc_dead(helper), "the helper %d outlived its parent",
	    (int)helper);
	ck_assert_msg(proc_dead(prog), "the program %d outlived the helper",
	    (int)prog);
	rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_stop_kills_programs)
{
	struct stop_arg a;
	char *dir = make_dir(USER_UID, 0700);
	pthread_t t;
	pid_t prog;
	int i;

	a.r = start(60, 1024, 4);
	a.home = dir;
	a.rc = 99;
	ck_assert_int_eq(pthread_create(&t, NULL, stop_thread, &a), 0);
	prog = wait_pid_file(dir);
	ck_assert_msg(prog > 0, "the program did not start");
	filter_runner_stop(&a.r);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	/* The requester got an error, not a result. */
	ck_assert_int_eq(a.rc, -1);
	for (i = 0; i < 100 && !proc_dead(prog); i++)
		usleep(50000);
	ck_assert_msg(proc_dead(prog), "program %d outlived stop()",
	    (int)prog);
	rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_requests)
{
	static const char *const empty[] = { "", NULL };
	static const char *const noeq[] = { "NOEQUALS", NULL };
	static const char *const t[] = { "true", NULL };
	struct filter_runner *r = start(60, 1024, 4);
	struct filter_exec_result res;
	char **many = xcalloc(FILTER_RUN_ARGS_MAX + 2, sizeof(char *));
	int i;

	err_clear();
	ck_assert_int_eq(run(r, 0, 0, NULL, empty, NULL, NULL, 0, &res), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	ck_assert_int_eq(run(r, 0, 0, NULL, t, noeq, NULL, 0, &res), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	for (i = 0; i < FILTER_RUN_ARGS_MAX + 1; i++)
		many[i] = (char *)"true";
	ck_assert_int_eq(run(r, 0, 0, NULL, (const char *const *)many, NULL,
	    NULL, 0, &res), -1);
	ck_assert_int_eq(err_class(), ERR_INVALID);
	many[FILTER_RUN_ARGS_MAX] = NULL;
	ck_assert_int_eq(run(r, 0, 0, NULL, (const char *const *)many,
	    std_env, NULL, 0, &res), 0);
	ck_assert_int_eq(res.status, 0);
	free(res.out);
	free(many);
	filter_runner_stop(&r);
}
END_TEST

static Suite *
run_suite(void)
{
	Suite *s = suite_create("filter_run");
	TCase *tc = tcase_create("run");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cat_round_trip);
	tcase_add_test(tc, test_timeout_kills_group);
	tcase_add_test(tc, test_output_limit);
	tcase_add_test(tc, test_exit_status);
	tcase_add_test(tc, test_accounts);
	tcase_add_test(tc, test_fallback_checks);
	tcase_add_test(tc, test_environment_cwd_fds);
	tcase_add_test(tc, test_concurrent);
	tcase_add_test(tc, test_read_file);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_helper_dies_with_parent);
	tcase_add_test(tc, test_stop_kills_programs);
	tcase_add_test(tc, test_bad_requests);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	struct passwd *pw;
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "check_filter_run: skipped: needs root to run "
		    "programs as other accounts\n");
		return 77;
	}
	if ((pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr, "check_filter_run: skipped: no user nobody\n");
		return 77;
	}
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
	sr = srunner_create(run_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
