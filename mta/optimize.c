/* optimize.c - see optimize.h */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mta/optimize.h"
#include "store/dict.h"
#include "store/store.h"

static struct {
	long		 check_s, min_s;
	struct event	*ev;
	struct store	*st;
	char		*data_dir;
	pid_t		 pid;		/* the running child, or 0 */
	time_t		 last;		/* when the last one started */
} opt;

static void	opt_timer(evutil_socket_t, short, void *);

/* Collects the child when it has ended. */
static void
opt_reap(int wait)
{
	int status;
	pid_t r;

	if (opt.pid == 0)
		return;
	while ((r = waitpid(opt.pid, &status, wait ? 0 : WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	if (r == 0)
		return;
	if (r == -1)
		log_warn("store optimize: waitpid %ld", (long)opt.pid);
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warnx("store optimize: the job exited %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
		log_warnx("store optimize: the job died of signal %d",
		    WTERMSIG(status));
	opt.pid = 0;
}

/* vellum-mta MTA_OPTIMIZE_ARG DATA_DIR, as a child. */
static void
opt_spawn(void)
{
	char logspec[32];
	char *argv[] = { "vellum-mta", MTA_OPTIMIZE_ARG, opt.data_dir, logspec,
	    NULL };
	sigset_t all;
	pid_t pid;
	int fd;

	/* The child logs where and as much as this process does. */
	snprintf(logspec, sizeof(logspec), "%s:%d", log_target() ==
	    LOG_TO_SYSLOG ? "syslog" : "stderr", log_verbose());

	if ((pid = fork()) == -1) {
		log_warn("store optimize: fork");
		return;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls until execv(). */
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		/* The parent's LMDB and event descriptors stay behind. */
		if (close_range(3, ~0U, 0) == -1)
			for (fd = 3; fd < 65536; fd++)
				close(fd);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	opt.pid = pid;
	opt.last = time(NULL);
}

static void
opt_timer(evutil_socket_t fd, short what, void *arg)
{
	int rc;

	(void)fd;
	(void)what;
	(void)arg;
	opt_reap(0);
	if (opt.pid != 0 || (opt.last != 0 &&
	    time(NULL) - opt.last < opt.min_s))
		return;
	if ((rc = store_dict_due(opt.st)) == -1)
		log_warnx("store optimize: %s", err_msg());
	else if (rc == 1)
		opt_spawn();
}

int
mta_optimize_start(struct event_base *base, struct store *st,
    const char *data_dir)
{
	struct timeval tv = { 0, 0 };
	const char *v = getenv("VELLUM_TEST_OPTIMIZE_S");

	/* Tests shorten both intervals to v seconds. */
	opt.check_s = MTA_OPTIMIZE_CHECK_S;
	opt.min_s = MTA_OPTIMIZE_MIN_S;
	if (v != NULL && atol(v) > 0)
		opt.check_s = opt.min_s = atol(v);
	tv.tv_sec = opt.check_s;
	opt.st = st;
	opt.data_dir = xstrdup(data_dir);
	opt.ev = event_new(base, -1, EV_PERSIST, opt_timer, NULL);
	if (opt.ev == NULL || event_add(opt.ev, &tv) != 0)
		return err_set(ERR_TEMP, "cannot add the optimize timer");
	return 0;
}

void
mta_optimize_stop(void)
{
	if (opt.ev != NULL)
		event_free(opt.ev);
	opt.ev = NULL;
	if (opt.pid != 0) {
		kill(opt.pid, SIGTERM);
		opt_reap(1);
	}
	free(opt.data_dir);
	opt.data_dir = NULL;
}

int
mta_optimize_child(const char *data_dir, const char *logspec)
{
	struct store_optimize o = { 0 };
	struct store *st;
	const char *colon = strchr(logspec, ':');

	if (strncmp(logspec, "syslog:", 7) == 0)
		log_init("vellum-mta", LOG_TO_SYSLOG, atoi(colon + 1));
	else {
		log_init("vellum-mta", LOG_TO_STDERR, colon != NULL ?
		    atoi(colon + 1) : 1);
		log_timestamps(1);
	}
	if (store_open(data_dir, STORE_NOCREATE, &st) == -1) {
		log_warnx("store optimize: store %s: %s", data_dir, err_msg());
		return 1;
	}
	if (store_dict_optimize(st, &o) == -1 && err_class() != ERR_INUSE) {
		log_warnx("store optimize: %s", err_msg());
		store_close(&st);
		return 1;
	}
	store_close(&st);
	return 0;
}
