/*
 * reaper.c - runs one test and fails it when it leaves a process behind.
 *
 * Usage: reaper PROGRAM [ARGS...]   (meson's default test setup puts it
 * in front of every test; tests/meson.build)
 *
 * The reaper makes itself a child subreaper (prctl(2)
 * PR_SET_CHILD_SUBREAPER), so every process the test starts, however
 * deeply and even after its parent died (a daemon under `faketime`, a
 * supervised child whose supervisor was killed), is reparented to the
 * reaper instead of init.  While the test runs, orphans that exit are
 * reaped at once (as init would), so a test polling for a pid sees it go.
 * When the test has ended, whatever is still running below the reaper is
 * given REAPER_GRACE_MS to end on its own; the rest is named (pid and
 * command line) on standard error, sent SIGTERM, then SIGKILL after
 * REAPER_KILL_MS, and reaped; the reaper then exits 1 (a failed test)
 * even when the test itself passed.  Otherwise it exits with the test's
 * status (a test killed by a signal: 128 + the signal).
 *
 * SIGTERM, SIGINT and SIGHUP sent to the reaper are passed to the test.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Time the leftovers get to end by themselves before they are a leak;
 * the environment variable VELLUM_REAPER_GRACE_MS overrides it (the test
 * of the reaper itself uses a short one).
 */
#define REAPER_GRACE_MS		3000
/* Time between SIGTERM and SIGKILL for the leftovers. */
#define REAPER_KILL_MS		2000
/* How often the leftovers are looked at meanwhile. */
#define REAPER_POLL_MS		20
/* Bytes of a command line shown. */
#define REAPER_CMDLINE_MAX	400
/* Processes listed and killed at most (a fork bomb is a failure too). */
#define REAPER_PIDS_MAX		4096
/* Rounds of SIGKILL before the reaper gives up on a process. */
#define REAPER_KILL_ROUNDS	100

static volatile sig_atomic_t	test_pid;

static void	forward(int);
static void	sleep_ms(long);
static long	now_ms(void);
static void	reap_nohang(void);
static size_t	descendants(pid_t root, pid_t *out, size_t max);
static void	cmdline(pid_t, char *buf, size_t size);
static int	settle(long ms);

static void
forward(int sig)
{
	if (test_pid > 0)
		kill((pid_t)test_pid, sig);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reaps every child that has ended (orphans handed to us included). */
static void
reap_nohang(void)
{
	int status;

	while (waitpid(-1, &status, WNOHANG) > 0)
		;
}

/* The parent pid of pid from /proc/PID/stat; -1 when it is gone. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	FILE *fp;
	int ppid;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	/* A zombie is not running: it is only waiting to be reaped. */
	if (p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return -1;
	return (pid_t)ppid;
}

/*
 * Every live process below root (not root itself), parents before their
 * children; at most max.  Returns how many.
 */
static size_t
descendants(pid_t root, pid_t *out, size_t max)
{
	static pid_t pids[REAPER_PIDS_MAX], ppids[REAPER_PIDS_MAX];
	struct dirent *de;
	size_t n = 0, nout = 0, i, k;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < REAPER_PIDS_MAX) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pids[n] = (pid_t)atoi(de->d_name);
		if ((ppids[n] = parent_of(pids[n])) > 0)
			n++;
	}
	closedir(d);
	/* Breadth first from root: out[k] is done when k reaches nout. */
	for (i = 0; i < n && nout < max; i++)
		if (ppids[i] == root)
			out[nout++] = pids[i];
	for (k = 0; k < nout; k++)
		for (i = 0; i < n && nout < max; i++)
			if (ppids[i] == out[k])
				out[nout++] = pids[i];
	return nout;
}

static void
cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64];
	FILE *fp;
	size_t n = 0, i;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fp = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, size - 1, fp);
		fclose(fp);
	}
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (i = 0; i < n; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	buf[n] = '\0';
	if (n == 0)
		snprintf(buf, size, "(gone or unreadable)");
}

/* Waits up to ms for the processes below us to end; 1 when none is left. */
static int
settle(long ms)
{
	pid_t pids[1];
	long end = now_ms() + ms;

	for (;;) {
		reap_nohang();
		if (descendants(getpid(), pids, 1) == 0)
			return 1;
		if (now_ms() >= end)
			return 0;
		sleep_ms(REAPER_POLL_MS);
	}
}

int
main(int argc, char **argv)
{
	static pid_t left[REAPER_PIDS_MAX];
	struct sigaction sa;
	char cmd[REAPER_CMDLINE_MAX + 1];
	size_t n, i;
	pid_t pid;
	int status, rc, round;
	long grace = REAPER_GRACE_MS;
	const char *e;

	if (argc < 2) {
		fprintf(stderr, "usage: reaper PROGRAM [ARGS...]\n");
		return 2;
	}
	if ((e = getenv("VELLUM_REAPER_GRACE_MS")) != NULL &&
	    isdigit((unsigned char)*e))
		grace = strtol(e, NULL, 10);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1) {
		fprintf(stderr, "reaper: prctl(PR_SET_CHILD_SUBREAPER): %s\n",
		    strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if ((pid = fork()) == -1) {
		fprintf(stderr, "reaper: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: cannot run %s: %s\n", argv[1],
		    strerror(errno));
		_exit(127);
	}
	test_pid = pid;

	/* Reap everything that ends until the test itself has ended. */
	for (;;) {
		pid_t w = waitpid(-1, &status, 0);

		if (w == pid)
			break;
		if (w == -1 && errno != EINTR) {
			fprintf(stderr, "reaper: waitpid: %s\n",
			    strerror(errno));
			return 1;
		}
	}
	test_pid = 0;
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
	else
		rc = 1;

	if (settle(grace))
		return rc;

	/* Leftovers: name them, stop them, fail the test. */
	n = descendants(getpid(), left, REAPER_PIDS_MAX);
	fprintf(stderr, "reaper: FAIL: the test left %zu process%s running "
	    "after it ended (a test must stop everything it starts); the "
	    "test:", n, n == 1 ? "" : "es");
	for (i = 1; i < (size_t)argc; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
	for (i = 0; i < n; i++) {
		cmdline(left[i], cmd, sizeof(cmd));
		fprintf(stderr, "reaper:   pid %d: %s\n", (int)left[i], cmd);
	}
	for (i = 0; i < n; i++)
		kill(left[i], SIGTERM);
	if (!settle(REAPER_KILL_MS)) {
		for (round = 0; round < REAPER_KILL_ROUNDS &&
		    (n = descendants(getpid(), left, REAPER_PIDS_MAX)) > 0;
		    round++) {
			for (i = 0; i < n; i++)
				kill(left[i], SIGKILL);
			sleep_ms(REAPER_POLL_MS);
			reap_nohang();
		}
	}
	reap_nohang();
	n = descendants(getpid(), left, REAPER_PIDS_MAX);
	fprintf(stderr, "reaper: %s\n", n == 0 ? "the leftovers were stopped" :
	    "some leftovers could not be killed");
	return rc != 0 ? rc : 1;
}
