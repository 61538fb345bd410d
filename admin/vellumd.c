/*
 * vellumd.c - the supervisor (man/vellumd.8).
 *
 * vellumd reads the config and nothing else: it never opens the store,
 * never binds a port.  For each daemon that serves an enabled section it
 * forks and execs the daemon's binary with the same -c FILE, restarts a
 * child that dies (with back-off) and, on SIGTERM, SIGINT or SIGHUP,
 * stops them all and waits for them.
 *
 * vellum-fs needs a usable /dev/fuse: without one vellumd says once why
 * the file view is off and neither starts nor restarts it, while the
 * other daemons run as usual.
 *
 * The loop is sigtimedwait() on blocked signals: no handler runs
 * asynchronously, every state change happens in one place, and the only
 * timeout is the next restart or the shutdown deadline.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/daemon.h"
#include "common/log.h"

/* Back-off of restarts: first after RESTART_MIN_MS, doubling to the max. */
#define RESTART_MIN_MS		200
#define RESTART_MAX_MS		30000
/* A child that ran this long is healthy again: back-off starts over. */
#define RESTART_RESET_MS	60000
/* Extra time after shutdown_grace before the children get SIGKILL. */
#define SHUTDOWN_EXTRA_MS	5000
/* How many -v vellumd passes on to its children at most. */
#define VERBOSE_MAX		4

struct child {
	const char	*name;		/* binary: "vellum-pop3d" */
	const char	*subdir;	/* its folder in the build tree */
	char		 path[PATH_MAX];/* "" when not found */
	int		 wanted;	/* a section of it is enabled */
	pid_t		 pid;		/* 0 when not running */
	long long	 started;	/* ms, monotonic */
	long long	 restart_at;	/* ms; 0: no restart pending */
	long long	 backoff;	/* ms before the next restart */
	char		 services[128];	/* "pop3, pop3s" for the log */
};

static struct child children[] = {
	{ .name = "vellum-smtpd", .subdir = "smtpd" },
	{ .name = "vellum-imapd", .subdir = "imapd" },
	{ .name = "vellum-pop3d", .subdir = "pop3d" },
	{ .name = "vellum-fs", .subdir = "fs" },
	{ .name = "vellum-mta", .subdir = "mta" },
};
#define NCHILDREN	(sizeof(children) / sizeof(children[0]))

static struct config	 conf;
static int		 nverbose;	/* -v flags given to vellumd */
static int		 debug;		/* -d given to vellumd */
static sigset_t		 sigs_orig;	/* the mask children get back */
static char		 selfdir[PATH_MAX];	/* vellumd's folder */
static const char	*libexec;	/* $VELLUM_LIBEXEC, NULL if unset */

static long long	 vd_now(void);
static void		 vd_scan_verbose(int, char **);
static struct child	*vd_child_of_svc(enum config_svc);
static void		 vd_plan(void);
static int		 vd_find_binary(struct child *, const char *,
		    const char *);
static int		 vd_mkdirs(const char *);
static int		 vd_may_start(struct child *);
static int		 vd_start(struct child *);
static void		 vd_reap(int);
static void		 vd_exited(struct child *, int, int);
static void		 vd_status(int, char *, size_t);
static int		 vd_running(void);
static void		 vd_signal_all(int);
static const char	*vd_signame(int);
static void		 vd_nothing(int);
static void		 vd_loop(void);

static long long
vd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * daemon_setup() parses the arguments; this only notes -v and -d (also in
 * clusters like "-dv") so that the children log as much as vellumd does.
 */
static void
vd_scan_verbose(int argc, char **argv)
{
	const char *p;
	int i;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] != '-' || strcmp(argv[i], "--") == 0)
			break;
		for (p = argv[i] + 1; *p != '\0'; p++) {
			if (*p == 'c') {
				if (p[1] == '\0')
					i++;
				break;
			}
			if (*p == 'd')
				debug = 1;
			else if (*p == 'v' && nverbose < VERBOSE_MAX)
				nverbose++;
		}
	}
}

/* One binary serves every section of its protocol. */
static struct child *
vd_child_of_svc(enum config_svc svc)
{
	const char *name;
	size_t i;

	switch (svc) {
	case SVC_SMTP:
	case SVC_SUBMISSION:
	case SVC_SMTPS:
	case SVC_LMTP:
		name = "vellum-smtpd";
		break;
	case SVC_IMAP:
	case SVC_IMAPS:
		name = "vellum-imapd";
		break;
	case SVC_POP3:
	case SVC_POP3S:
		name = "vellum-pop3d";
		break;
	default:
		fatalx("vd_child_of_svc: unknown service %d", (int)svc);
	}
	for (i = 0; i < NCHILDREN; i++)
		if (strcmp(children[i].name, name) == 0)
			return &children[i];
	fatalx("vd_child_of_svc: no child named %s", name);
}

/* Marks the children that enabled sections need and finds their binaries. */
static void
vd_plan(void)
{
	char *slash;
	struct child *ch;
	ssize_t n;
	size_t i;
	int svc;

	for (svc = 0; svc < SVC_COUNT; svc++) {
		if (!conf.svc[svc].enabled)
			continue;
		ch = vd_child_of_svc((enum config_svc)svc);
		ch->wanted = 1;
		if (ch->services[0] != '\0')
			strncat(ch->services, ", ", sizeof(ch->services) -
			    strlen(ch->services) - 1);
		strncat(ch->services, config_svc_name((enum config_svc)svc),
		    sizeof(ch->services) - strlen(ch->services) - 1);
	}
	for (i = 0; i < NCHILDREN; i++)
		if (strcmp(children[i].name, "vellum-fs") == 0 &&
		    conf.fs_enabled) {
			children[i].wanted = 1;
			strncpy(children[i].services, "fs",
			    sizeof(children[i].services) - 1);
		} else if (strcmp(children[i].name, "vellum-mta") == 0 &&
		    conf.mta_enabled) {
			children[i].wanted = 1;
			strncpy(children[i].services, "outbound delivery",
			    sizeof(children[i].services) - 1);
		}

	libexec = getenv("VELLUM_LIBEXEC");
	if (libexec != NULL && *libexec == '\0')
		libexec = NULL;
	if ((n = readlink("/proc/self/exe", selfdir, sizeof(selfdir) - 1)) < 0)
		fatal("readlink /proc/self/exe");
	selfdir[n] = '\0';
	if ((slash = strrchr(selfdir, '/')) != NULL)
		*slash = '\0';
	for (i = 0; i < NCHILDREN; i++) {
		ch = &children[i];
		if (!ch->wanted)
			continue;
		if (libexec != NULL) {
			vd_find_binary(ch, libexec, NULL);
			continue;
		}
		/* Installed side by side, or the build tree's layout. */
		if (vd_find_binary(ch, selfdir, NULL) != 0)
			vd_find_binary(ch, selfdir, ch->subdir);
	}
}

/* Looks for ch's binary in dir (or dir/../sub).  0 when found. */
static int
vd_find_binary(struct child *ch, const char *dir, const char *sub)
{
	char path[PATH_MAX];
	int len;

	if (sub != NULL)
		len = snprintf(path, sizeof(path), "%s/../%s/%s", dir, sub,
		    ch->name);
	else
		len = snprintf(path, sizeof(path), "%s/%s", dir, ch->name);
	if (len < 0 || (size_t)len >= sizeof(path))
		return -1;
	if (access(path, X_OK) != 0)
		return -1;
	if (realpath(path, ch->path) == NULL)
		memcpy(ch->path, path, (size_t)len + 1);
	return 0;
}

/* mkdir -p, for the embedded default's ./var. */
static int
vd_mkdirs(const char *dir)
{
	char buf[PATH_MAX], *p;

	if (strlen(dir) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(buf, dir);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0750) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * 1 when ch may be (re)started now.  vellum-fs may not without a usable
 * /dev/fuse, nor without root, which it needs to mount (it drops to the
 * config's user itself once mounted): that is said once here, and the
 * child is forgotten rather than restarted in a loop that cannot work.
 */
static int
vd_may_start(struct child *ch)
{
	char why[PATH_MAX + 256];

	if (strcmp(ch->name, "vellum-fs") != 0)
		return 1;
	if (!daemon_fuse_available(why, sizeof(why)))
		;
	else if (geteuid() != 0)
		snprintf(why, sizeof(why), "vellum-fs needs root to mount %s "
		    "(vellumd runs as uid %lu): start vellumd as root",
		    conf.fs_mountpoint, (unsigned long)geteuid());
	else
		return 1;
	log_warnx("file view off: %s", why);
	ch->wanted = 0;
	return 0;
}

/* Forks and execs ch.  0 when the child runs (or at least was forked). */
static int
vd_start(struct child *ch)
{
	char *argv[5 + VERBOSE_MAX];
	char vflag[] = "-v", dflag[] = "-d";
	int argc = 0, i;
	pid_t pid, parent = getpid();

	argv[argc++] = ch->path;
	if (conf.path[0] != '\0') {
		argv[argc++] = (char *)"-c";
		argv[argc++] = conf.path;
	}
	if (debug)
		argv[argc++] = dflag;
	for (i = 0; i < nverbose; i++)
		argv[argc++] = vflag;
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		log_warn("fork for %s", ch->name);
		return -1;
	}
	if (pid == 0) {
		/* A child must not outlive a vellumd killed with SIGKILL. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(1);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, &sigs_orig, NULL);
		execv(ch->path, argv);
		fprintf(stderr, "vellumd: exec %s: %s\n", ch->path,
		    strerror(errno));
		_exit(127);
	}
	log_info("%s %s (pid %ld) for %s", ch->restart_at != 0 ?
	    "restarted" : "started", ch->name, (long)pid, ch->services);
	ch->pid = pid;
	ch->started = vd_now();
	ch->restart_at = 0;
	return 0;
}

static void
vd_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "status 0x%x", (unsigned)status);
}

/* Collects every child that ended; schedules restarts unless stopping. */
static void
vd_reap(int stopping)
{
	pid_t pid;
	int status;
	size_t i;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		for (i = 0; i < NCHILDREN; i++)
			if (children[i].pid == pid)
				break;
		if (i == NCHILDREN) {
			log_debug("reaped unknown pid %ld", (long)pid);
			continue;
		}
		vd_exited(&children[i], status, stopping);
	}
}

static void
vd_exited(struct child *ch, int status, int stopping)
{
	char how[128];
	long long now = vd_now(), ran = now - ch->started;

	vd_status(status, how, sizeof(how));
	ch->pid = 0;
	if (stopping) {
		log_info("%s %s", ch->name, how);
		return;
	}
	if (ran >= RESTART_RESET_MS || ch->backoff == 0)
		ch->backoff = RESTART_MIN_MS;
	ch->restart_at = now + ch->backoff;
	log_warnx("%s (ran %lld.%03lld s) %s; restarting it in %lld.%03lld s",
	    ch->name, ran / 1000, ran % 1000, how, ch->backoff / 1000,
	    ch->backoff % 1000);
	ch->backoff *= 2;
	if (ch->backoff > RESTART_MAX_MS)
		ch->backoff = RESTART_MAX_MS;
}

static int
vd_running(void)
{
	size_t i;
	int n = 0;

	for (i = 0; i < NCHILDREN; i++)
		if (children[i].pid > 0)
			n++;
	return n;
}

static void
vd_signal_all(int sig)
{
	size_t i;

	for (i = 0; i < NCHILDREN; i++)
		if (children[i].pid > 0 && kill(children[i].pid, sig) != 0 &&
		    errno != ESRCH)
			log_warn("kill %s (pid %ld)", children[i].name,
			    (long)children[i].pid);
}

static const char *
vd_signame(int sig)
{
	switch (sig) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "signal";
	}
}

/* SIGCHLD must not be ignored, or the kernel would not queue it. */
static void
vd_nothing(int sig)
{
	(void)sig;
}

static void
vd_loop(void)
{
	sigset_t set;
	siginfo_t info;
	struct timespec ts, *tsp;
	long long deadline = 0;
	int sig, stopping = 0, killed = 0;
	size_t i;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);

	for (;;) {
		long long now, next = -1;

		vd_reap(stopping);
		now = vd_now();
		if (!stopping) {
			for (i = 0; i < NCHILDREN; i++) {
				struct child *ch = &children[i];

				if (ch->restart_at == 0)
					continue;
				if (ch->restart_at <= now) {
					if (!vd_may_start(ch)) {
						ch->restart_at = 0;
						continue;
					}
					if (vd_start(ch) != 0)
						ch->restart_at = now +
						    RESTART_MIN_MS;
					else
						continue;
				}
				if (next < 0 || ch->restart_at < next)
					next = ch->restart_at;
			}
		} else {
			if (vd_running() == 0)
				return;
			if (!killed && now >= deadline) {
				log_warnx("children still running %u s after "
				    "SIGTERM: sending SIGKILL",
				    conf.shutdown_grace +
				    SHUTDOWN_EXTRA_MS / 1000);
				vd_signal_all(SIGKILL);
				killed = 1;
			}
			if (!killed)
				next = deadline;
		}

		tsp = NULL;
		if (next >= 0) {
			long long wait = next - vd_now();

			if (wait < 0)
				wait = 0;
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (wait % 1000) * 1000000;
			tsp = &ts;
		}
		sig = sigtimedwait(&set, &info, tsp);
		if (sig < 0) {
			if (errno != EAGAIN && errno != EINTR)
				fatal("sigtimedwait");
			continue;
		}
		if (sig == SIGCHLD)
			continue;
		if (stopping) {
			log_info("%s while stopping: still waiting for %d "
			    "daemon(s)", vd_signame(sig), vd_running());
			continue;
		}
		log_info("%s: stopping %d daemon(s)", vd_signame(sig),
		    vd_running());
		stopping = 1;
		for (i = 0; i < NCHILDREN; i++)
			children[i].restart_at = 0;
		vd_signal_all(SIGTERM);
		deadline = vd_now() + (long long)conf.shutdown_grace * 1000 +
		    SHUTDOWN_EXTRA_MS;
	}
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t set;
	size_t i;
	int started = 0;

	vd_scan_verbose(argc, argv);
	daemon_setup("vellumd", argc, argv, &conf);

	vd_plan();
	if (conf.path[0] == '\0' && vd_mkdirs(conf.data_dir) != 0)
		fatal("cannot make the data dir %s", conf.data_dir);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vd_nothing;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL) != 0)
		fatal("sigaction SIGCHLD");
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, &sigs_orig) != 0)
		fatal("sigprocmask");

	for (i = 0; i < NCHILDREN; i++) {
		struct child *ch = &children[i];

		if (!ch->wanted || !vd_may_start(ch))
			continue;
		if (ch->path[0] == '\0') {
			if (libexec != NULL)
				log_warnx("%s not found in $VELLUM_LIBEXEC "
				    "(%s): not starting %s", ch->name,
				    libexec, ch->services);
			else
				log_warnx("%s not found in %s or %s/../%s: "
				    "not starting %s", ch->name, selfdir,
				    selfdir, ch->subdir, ch->services);
			continue;
		}
		if (vd_start(ch) == 0)
			started++;
	}
	if (started == 0) {
		log_warnx("no daemon to run%s", conf.path[0] != '\0' ?
		    ": enable a service section in the config" : "");
		return 1;
	}
	vd_loop();
	log_info("all daemons stopped");
	return 0;
}
