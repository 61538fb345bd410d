/*
 * vellumd.c - the supervisor (man/vellumd.8).
 *
 * vellumd reads the config and never opens the store.  It binds the
 * listening sockets of every enabled section itself (so that a port in use
 * is a start-up error) and, for each daemon that serves an enabled
 * section, forks and execs the daemon's binary with the same -c FILE,
 * passing it the sockets of its sections (VELLUM_LISTEN_FDS, conn.h).  It
 * restarts a child that dies (with back-off; connections that arrive
 * meanwhile wait in the socket's queue) and, on SIGTERM or SIGINT, stops
 * them all and waits for them.  Before starting anything it checks the
 * [tls] files and locks data_dir/vellumd.pid, so that a second vellumd on
 * the same data refuses to start.
 *
 * SIGHUP (also `vellumd reload`, `vellumctl reload`) reloads: the config
 * is read again and refused, with every error logged, if it has any (the
 * running daemons are left alone).  Else daemons whose sections vanished
 * get SIGTERM, those whose sections appeared start, and the listening
 * daemons (smtpd, imapd, pop3d) are replaced without a gap: the new
 * process gets the same sockets (new addresses are bound first, and one
 * that cannot be refuses the reload) while the old one still listens; it
 * says it is ready over a pipe (VELLUM_READY_FD, daemon_serve()), and only
 * then does the old one get the drain signal (CONN_DRAIN_SIGNAL,
 * conn_drain()): it closes its copies of the sockets at once (the new
 * process takes what waits in their queues), says nothing to its
 * sessions, which go on (an IMAP
 * IDLE, an SMTP transaction, a POP3 session between commands) until they
 * end, and exits with the last one, or after [limits] reload_drain turns
 * into a SIGTERM shutdown.  Old processes still draining are reaped,
 * never restarted, and get SIGTERM when vellumd stops.  vellum-mta and
 * vellum-fs, which listen on nothing, are stopped and started again once
 * stopped.  The outcome of
 * each reload goes to the log and to data_dir/vellumd.status, where the
 * reload command reads it.
 *
 * vellum-fs needs a usable /dev/fuse: without one vellumd says once why
 * the file view is off and neither starts nor restarts it, while the
 * other daemons run as usual.
 *
 * The loop is poll() on a signalfd of the blocked signals and on the
 * readiness pipes: no handler runs asynchronously, every state change
 * happens in one place, and the only timeouts are the next restart, a
 * readiness deadline and the shutdown deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/conn.h"
#include "common/daemon.h"
#include "common/error.h"
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
/* A new daemon not ready this long after its start counts as ready. */
#define READY_TIMEOUT_MS	30000
/* Old daemons still finishing their sessions after reloads. */
#define DRAIN_MAX		64
/* Exit status for bad arguments. */
#define VD_EXIT_USAGE		2

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
	int		 listens;	/* replaced with an overlap on reload */
	int		 ready_fd;	/* readiness pipe, -1 when none */
	long long	 ready_by;	/* ms: deadline of ready_fd */
	pid_t		 old_pid;	/* predecessor waiting for ready_fd */
	int		 restart_now;	/* reload: start again once it ends */
};

/*
 * A listening socket vellumd holds for a daemon (conn_bind()), passed to
 * it in VELLUM_LISTEN_FDS.
 */
struct vlisten {
	char		 host[CONFIG_HOST_MAX + 1];
	char		 port[CONFIG_PORT_MAX + 1];
	struct child	*ch;
	int		 fds[CONN_BIND_MAX];
	int		 nfds;
	int		 keep;		/* in the config being applied */
};

/* An old daemon finishing its sessions after a reload. */
struct drain {
	const char	*name;
	pid_t		 pid;
};

static struct child children[] = {
	{ .name = "vellum-smtpd", .subdir = "smtpd", .listens = 1,
	    .ready_fd = -1 },
	{ .name = "vellum-imapd", .subdir = "imapd", .listens = 1,
	    .ready_fd = -1 },
	{ .name = "vellum-pop3d", .subdir = "pop3d", .listens = 1,
	    .ready_fd = -1 },
	{ .name = "vellum-fs", .subdir = "fs", .ready_fd = -1 },
	{ .name = "vellum-mta", .subdir = "mta", .ready_fd = -1 },
};
#define NCHILDREN	(sizeof(children) / sizeof(children[0]))

static struct config	 conf;
static int		 nverbose;	/* -v flags given to vellumd */
static int		 debug;		/* -d given to vellumd */
static sigset_t		 sigs_orig;	/* the mask children get back */
static char		 selfdir[PATH_MAX];	/* vellumd's folder */
static const char	*libexec;	/* $VELLUM_LIBEXEC, NULL if unset */
static const char	*conf_arg;	/* -c FILE, NULL: embedded default */
static struct vlisten	 vlistens[CONN_INHERIT_MAX];
static size_t		 nvlistens;
static struct drain	 drains[DRAIN_MAX];
static size_t		 ndrains;
static int		 reloading;	/* a reload waits for new daemons */
static int		 reload_failed;	/* ... and one of them failed */
static int		 reload_again;	/* SIGHUP during a reload */
static int		 announced;	/* "ready" was said */
static unsigned		 nreloads;

static long long	 vd_now(void);
static struct child	*vd_child_of_svc(enum config_svc);
static void		 vd_plan(void);
static int		 vd_find_binary(struct child *, const char *,
		    const char *);
static int		 vd_mkdirs(const char *);
static int		 vd_data_dir(void);
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
static void		 vd_usage(FILE *);
static void		 vd_path(char *, size_t, const char *);
static void		 vd_status_write(const char *state, const char *text);
static void		 vd_drain_add(struct child *, pid_t, int);
static int		 vd_drain_reaped(pid_t, int);
static void		 vd_ready(struct child *, int);
static void		 vd_check_ready(void);
static void		 vd_reload(void);
static int		 vd_start_all(void);
static int		 vd_reload_client(void);
static int		 vd_listen_bind(const struct config *);
static void		 vd_listen_prune(void);
static int		 vd_listen_env(const struct child *, char *, size_t);
static void		 vd_listen_pass(const struct child *);

static long long
vd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

	for (i = 0; i < NCHILDREN; i++) {
		children[i].wanted = 0;
		children[i].services[0] = '\0';
		children[i].path[0] = '\0';
	}
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
 * The pid file lives in data_dir, so it must exist: made like the
 * embedded default's ./var when missing, owned by the config's user when
 * we are root (the daemons make the store in it as that user).
 */
static int
vd_data_dir(void)
{
	struct passwd *pw;
	struct stat st;

	if (stat(conf.data_dir, &st) == 0)
		return 0;
	if (errno != ENOENT || vd_mkdirs(conf.data_dir) != 0)
		return -1;
	log_info("made the data dir %s", conf.data_dir);
	if (geteuid() == 0 && conf.user[0] != '\0' &&
	    (pw = getpwnam(conf.user)) != NULL &&
	    chown(conf.data_dir, pw->pw_uid, pw->pw_gid) != 0)
		return -1;
	return 0;
}

/*
 * Binds what c's enabled sections listen on and vellumd does not hold
 * yet, and marks what c keeps.  On an error (an address in use, say)
 * the sockets bound for c are closed, the held ones stay as they were,
 * and -1 says why.
 */
static int
vd_listen_bind(const struct config *c)
{
	struct child *was[CONN_INHERIT_MAX];
	const struct config_listen *l;
	struct vlisten *v;
	size_t i, j, start = nvlistens;
	int svc, n;

	for (i = 0; i < nvlistens; i++) {
		was[i] = vlistens[i].ch;
		vlistens[i].keep = 0;
	}
	for (svc = 0; svc < SVC_COUNT; svc++) {
		if (!c->svc[svc].enabled)
			continue;
		for (j = 0; j < c->svc[svc].nlisten; j++) {
			l = &c->svc[svc].listen[j];
			for (i = 0, v = NULL; i < nvlistens && v == NULL; i++)
				if (strcmp(vlistens[i].host, l->host) == 0 &&
				    strcmp(vlistens[i].port, l->port) == 0)
					v = &vlistens[i];
			if (v == NULL) {
				if (nvlistens == CONN_INHERIT_MAX) {
					err_set(ERR_LIMIT, "more than %d "
					    "listening addresses",
					    CONN_INHERIT_MAX);
					goto fail;
				}
				v = &vlistens[nvlistens];
				n = conn_bind(l->host, l->port, v->fds,
				    CONN_BIND_MAX);
				if (n == -1)
					goto fail;
				v->nfds = n;
				snprintf(v->host, sizeof(v->host), "%s",
				    l->host);
				snprintf(v->port, sizeof(v->port), "%s",
				    l->port);
				nvlistens++;
			}
			v->keep = 1;
			v->ch = vd_child_of_svc((enum config_svc)svc);
		}
	}
	return 0;
fail:
	while (nvlistens > start)
		for (v = &vlistens[--nvlistens]; v->nfds > 0;)
			close(v->fds[--v->nfds]);
	for (i = 0; i < nvlistens; i++) {
		vlistens[i].ch = was[i];
		vlistens[i].keep = 1;
	}
	return -1;
}

/*
 * Closes the sockets the config no longer has, and those of a daemon
 * that is not found (nothing would ever answer there).  A daemon still
 * serving on one keeps its copy until it drains or stops.
 */
static void
vd_listen_prune(void)
{
	size_t i, n = 0;

	for (i = 0; i < nvlistens; i++) {
		if (vlistens[i].ch->path[0] == '\0')
			vlistens[i].keep = 0;
		if (vlistens[i].keep) {
			vlistens[n++] = vlistens[i];
			continue;
		}
		log_info("%s:%s closed", vlistens[i].host, vlistens[i].port);
		while (vlistens[i].nfds > 0)
			close(vlistens[i].fds[--vlistens[i].nfds]);
	}
	nvlistens = n;
}

/* VELLUM_LISTEN_FDS for ch into buf; -1 when it does not fit. */
static int
vd_listen_env(const struct child *ch, char *buf, size_t size)
{
	size_t i;
	int j;

	buf[0] = '\0';
	for (i = 0; i < nvlistens; i++)
		for (j = 0; vlistens[i].ch == ch && vlistens[i].keep &&
		    j < vlistens[i].nfds; j++)
			if (conn_inherit_entry(buf, size, vlistens[i].fds[j],
			    vlistens[i].host, vlistens[i].port) == -1)
				return -1;
	return 0;
}

/* In the child, before exec: ch's sockets stay open across it. */
static void
vd_listen_pass(const struct child *ch)
{
	size_t i;
	int j;

	for (i = 0; i < nvlistens; i++)
		for (j = 0; vlistens[i].ch == ch && vlistens[i].keep &&
		    j < vlistens[i].nfds; j++)
			fcntl(vlistens[i].fds[j], F_SETFD, 0);
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

/*
 * Forks and execs ch.  0 when the child runs (or at least was forked).
 * A listening daemon gets the write end of a readiness pipe.
 */
static int
vd_start(struct child *ch)
{
	char *argv[5 + VERBOSE_MAX], fdbuf[16];
	char lenv[CONN_INHERIT_MAX * (CONFIG_HOST_MAX + CONFIG_PORT_MAX + 16)];
	char vflag[] = "-v", dflag[] = "-d";
	int argc = 0, i, pfd[2] = { -1, -1 };
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

	if (vd_listen_env(ch, lenv, sizeof(lenv)) != 0) {
		log_warnx("%s: %s", ch->name, err_msg());
		return -1;
	}
	if (ch->listens && pipe2(pfd, O_CLOEXEC) != 0) {
		log_warn("pipe for %s", ch->name);
		pfd[0] = pfd[1] = -1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		log_warn("fork for %s", ch->name);
		if (pfd[0] != -1) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -1;
	}
	if (pid == 0) {
		/* A child must not outlive a vellumd killed with SIGKILL. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(1);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, &sigs_orig, NULL);
		unsetenv("VELLUM_READY_FD");
		if (pfd[1] != -1 && fcntl(pfd[1], F_SETFD, 0) == 0) {
			snprintf(fdbuf, sizeof(fdbuf), "%d", pfd[1]);
			setenv("VELLUM_READY_FD", fdbuf, 1);
		}
		vd_listen_pass(ch);
		if (lenv[0] != '\0')
			setenv(CONN_INHERIT_ENV, lenv, 1);
		else
			unsetenv(CONN_INHERIT_ENV);
		execv(ch->path, argv);
		fprintf(stderr, "vellumd: exec %s: %s\n", ch->path,
		    strerror(errno));
		_exit(127);
	}
	log_info("%s %s (pid %ld) for %s", ch->old_pid != 0 ? "reloading:" :
	    ch->restart_at != 0 ? "restarted" : "started", ch->name,
	    (long)pid, ch->services);
	if (pfd[1] != -1)
		close(pfd[1]);
	if (ch->ready_fd != -1)
		close(ch->ready_fd);
	ch->ready_fd = pfd[0];
	ch->ready_by = vd_now() + READY_TIMEOUT_MS;
	ch->pid = pid;
	ch->started = vd_now();
	ch->restart_at = 0;
	ch->restart_now = 0;
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

/* data_dir/name */
static void
vd_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", conf.data_dir, name);
}

/*
 * data_dir/vellumd.status: "PID SEQ STATE" and the details, replaced
 * whole (rename) so that a reader never sees half of it.  data_dir
 * belongs to the config's user, and we may be root: the temporary file
 * is made anew (O_EXCL, O_NOFOLLOW), so that a link planted there by
 * that user never makes root write to another file.
 */
static void
vd_status_write(const char *state, const char *text)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
	FILE *fp;
	int fd;

	vd_path(path, sizeof(path), DAEMON_STATUS_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (unlink(tmp) != 0 && errno != ENOENT) {
		log_warn("%s", tmp);
		return;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) < 0) {
		log_warn("%s", tmp);
		return;
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		log_warn("%s", tmp);
		close(fd);
		unlink(tmp);
		return;
	}
	fprintf(fp, "%ld %u %s\n%s", (long)getpid(), nreloads, state,
	    text != NULL ? text : "");
	if (text != NULL && *text != '\0' && text[strlen(text) - 1] != '\n')
		fputc('\n', fp);
	if (fclose(fp) != 0 || rename(tmp, path) != 0)
		log_warn("%s", path);
}

/*
 * pid (of ch) is on its way out: sig is SIGTERM (its section is gone) or
 * CONN_DRAIN_SIGNAL (a reload replaced it); it is reaped, never restarted.
 */
static void
vd_drain_add(struct child *ch, pid_t pid, int sig)
{
	if (kill(pid, sig) != 0 && errno != ESRCH)
		log_warn("kill %s (pid %ld)", ch->name, (long)pid);
	if (ndrains == DRAIN_MAX) {
		log_warnx("too many old daemons finishing their sessions: not "
		    "waiting for %s (pid %ld)", ch->name, (long)pid);
		return;
	}
	drains[ndrains].name = ch->name;
	drains[ndrains].pid = pid;
	ndrains++;
}

/* 1 when pid was an old daemon finishing its sessions. */
static int
vd_drain_reaped(pid_t pid, int status)
{
	char how[128];
	size_t i;

	for (i = 0; i < ndrains; i++)
		if (drains[i].pid == pid)
			break;
	if (i == ndrains)
		return 0;
	vd_status(status, how, sizeof(how));
	log_info("old %s (pid %ld) finished its sessions: %s",
	    drains[i].name, (long)pid, how);
	drains[i] = drains[--ndrains];
	return 1;
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
		if (vd_drain_reaped(pid, status))
			continue;
		for (i = 0; i < NCHILDREN; i++)
			if (children[i].pid == pid ||
			    children[i].old_pid == pid)
				break;
		if (i == NCHILDREN) {
			log_debug("reaped unknown pid %ld", (long)pid);
			continue;
		}
		if (children[i].old_pid == pid) {
			char how[128];

			vd_status(status, how, sizeof(how));
			log_warnx("old %s (pid %ld) %s while its successor "
			    "started", children[i].name, (long)pid, how);
			children[i].old_pid = 0;
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
	if (ch->ready_fd != -1) {
		close(ch->ready_fd);
		ch->ready_fd = -1;
	}
	if (stopping) {
		log_info("%s %s", ch->name, how);
		return;
	}
	if (ch->old_pid != 0) {
		/* The new one died before it was ready: keep the old one. */
		log_warnx("reload: the new %s %s before it was ready; the old "
		    "one (pid %ld) keeps serving", ch->name, how,
		    (long)ch->old_pid);
		ch->pid = ch->old_pid;
		ch->old_pid = 0;
		reload_failed = 1;
		return;
	}
	if (ch->restart_now && ch->wanted) {
		log_info("reload: %s (pid stopped) %s; starting it again",
		    ch->name, how);
		if (vd_start(ch) != 0)
			ch->restart_at = now + RESTART_MIN_MS;
		return;
	}
	if (!ch->wanted) {
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

/*
 * ch said it is ready (or its pipe ended, or its deadline passed: ok 0).
 * Its predecessor now drains: it keeps its sessions until they end.
 */
static void
vd_ready(struct child *ch, int ok)
{
	if (ch->ready_fd != -1) {
		close(ch->ready_fd);
		ch->ready_fd = -1;
	}
	if (!ok && ch->pid > 0)
		log_warnx("%s (pid %ld) did not say it was ready within %d s",
		    ch->name, (long)ch->pid, READY_TIMEOUT_MS / 1000);
	if (ch->old_pid != 0 && ch->pid > 0) {
		log_info("reload: new %s (pid %ld) is ready; the old one (pid "
		    "%ld) keeps its sessions until they end (at most its "
		    "[limits] reload_drain)", ch->name, (long)ch->pid,
		    (long)ch->old_pid);
		vd_drain_add(ch, ch->old_pid, CONN_DRAIN_SIGNAL);
		ch->old_pid = 0;
	}
}

/* Says "ready" (at start) or how a reload ended, once nothing waits. */
static void
vd_check_ready(void)
{
	size_t i;
	int n = 0;

	for (i = 0; i < NCHILDREN; i++) {
		if (children[i].ready_fd != -1 || children[i].old_pid != 0 ||
		    (children[i].restart_now && children[i].wanted))
			return;
		if (children[i].pid > 0)
			n++;
	}
	if (!announced) {
		announced = 1;
		log_info("ready: %d daemon(s) running", n);
		if (!reloading) {
			vd_status_write("ready", NULL);
			return;
		}
	}
	if (!reloading)
		return;
	reloading = 0;
	if (reload_failed) {
		log_warnx("reload %u failed: see the messages above; the old "
		    "daemons keep serving where the new ones failed",
		    nreloads);
		vd_status_write("failed", "a new daemon failed to start; see "
		    "the log\n");
	} else {
		log_info("reload %u done: %d daemon(s) running", nreloads, n);
		vd_status_write("reloaded", NULL);
	}
	if (reload_again) {
		reload_again = 0;
		vd_reload();
	}
}

/* SIGHUP: see the top of the file. */
static void
vd_reload(void)
{
	static struct config nc;
	char *errors = NULL, *line, *nl, msg[1024];
	int was[NCHILDREN];
	size_t i;

	if (reloading) {
		log_info("SIGHUP during a reload: reloading again after it");
		reload_again = 1;
		return;
	}
	nreloads++;
	log_info("SIGHUP: reloading %s", conf_arg != NULL ? conf_arg :
	    "the embedded default");
	if (conf_arg == NULL)
		config_default(&nc);
	else if (config_load(conf_arg, &nc, &errors) != 0) {
		for (line = errors; line != NULL && *line != '\0';
		    line = nl + 1) {
			if ((nl = strchr(line, '\n')) == NULL)
				break;
			log_warnx("reload refused: %.*s", (int)(nl - line),
			    line);
		}
		log_warnx("reload refused: %s; the running configuration "
		    "stays", err_msg());
		snprintf(msg, sizeof(msg), "%s\n", err_msg());
		vd_status_write("refused", errors != NULL ? errors : msg);
		free(errors);
		return;
	}
	if (daemon_check_tls(&nc) != 0) {
		log_warnx("reload refused: %s; the running configuration "
		    "stays", err_msg());
		snprintf(msg, sizeof(msg), "%s\n", err_msg());
		vd_status_write("refused", msg);
		return;
	}
	if (strcmp(nc.data_dir, conf.data_dir) != 0) {
		snprintf(msg, sizeof(msg), "data_dir changed (%.400s to %.400s): "
		    "restart vellumd to move to another data dir\n",
		    conf.data_dir, nc.data_dir);
		log_warnx("reload refused: %.*s", (int)strlen(msg) - 1, msg);
		vd_status_write("refused", msg);
		return;
	}

	if (vd_listen_bind(&nc) != 0) {
		log_warnx("reload refused: %s; the running configuration "
		    "stays", err_msg());
		snprintf(msg, sizeof(msg), "%s\n", err_msg());
		vd_status_write("refused", msg);
		return;
	}
	for (i = 0; i < NCHILDREN; i++)
		was[i] = children[i].wanted;
	conf = nc;
	vd_plan();
	reloading = 1;
	reload_failed = 0;
	for (i = 0; i < NCHILDREN; i++) {
		struct child *ch = &children[i];

		if (!ch->wanted) {
			ch->restart_at = 0;
			ch->restart_now = 0;
			if (ch->pid > 0) {
				log_info("reload: stopping %s (pid %ld): no "
				    "section of it is left", ch->name,
				    (long)ch->pid);
				vd_drain_add(ch, ch->pid, SIGTERM);
				ch->pid = 0;
				if (ch->ready_fd != -1) {
					close(ch->ready_fd);
					ch->ready_fd = -1;
				}
			}
			continue;
		}
		if (ch->path[0] == '\0') {
			log_warnx("reload: %s not found: not starting %s",
			    ch->name, ch->services);
			continue;
		}
		ch->backoff = 0;
		if (ch->pid == 0) {
			/* New, or waiting for a restart: start it now. */
			if (!vd_may_start(ch))
				continue;
			if (!was[i])
				log_info("reload: %s now has %s", ch->name,
				    ch->services);
			if (vd_start(ch) != 0)
				ch->restart_at = vd_now() + RESTART_MIN_MS;
		} else if (ch->listens && ch->old_pid == 0) {
			ch->old_pid = ch->pid;
			ch->pid = 0;
			if (vd_start(ch) != 0) {
				ch->pid = ch->old_pid;
				ch->old_pid = 0;
				reload_failed = 1;
			} else if (ch->ready_fd == -1)
				vd_ready(ch, 1);
		} else if (!ch->listens) {
			log_info("reload: stopping %s (pid %ld) to start it "
			    "again", ch->name, (long)ch->pid);
			ch->restart_now = 1;
			if (kill(ch->pid, SIGTERM) != 0 && errno != ESRCH)
				log_warn("kill %s", ch->name);
		}
	}
	vd_listen_prune();
	vd_check_ready();
}

static int
vd_running(void)
{
	size_t i;
	int n = (int)ndrains;

	for (i = 0; i < NCHILDREN; i++) {
		if (children[i].pid > 0)
			n++;
		if (children[i].old_pid > 0)
			n++;
	}
	return n;
}

static void
vd_signal_all(int sig)
{
	size_t i;

	for (i = 0; i < NCHILDREN; i++) {
		if (children[i].pid > 0 && kill(children[i].pid, sig) != 0 &&
		    errno != ESRCH)
			log_warn("kill %s (pid %ld)", children[i].name,
			    (long)children[i].pid);
		if (children[i].old_pid > 0)
			kill(children[i].old_pid, sig);
	}
	for (i = 0; i < ndrains; i++)
		kill(drains[i].pid, sig);
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
	struct pollfd pfd[1 + NCHILDREN];
	struct child *who[1 + NCHILDREN];
	struct signalfd_siginfo si;
	sigset_t set;
	long long deadline = 0;
	int sfd, sig, stopping = 0, killed = 0, npfd, timeout;
	ssize_t n;
	char byte;
	size_t i;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		fatal("signalfd");

	for (;;) {
		long long now, next = -1;

		vd_reap(stopping);
		now = vd_now();
		if (!stopping) {
			for (i = 0; i < NCHILDREN; i++) {
				struct child *ch = &children[i];

				if (ch->ready_fd != -1) {
					if (ch->ready_by <= now)
						vd_ready(ch, 0);
					else if (next < 0 ||
					    ch->ready_by < next)
						next = ch->ready_by;
				}
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
			vd_check_ready();
		} else {
			if (vd_running() == 0)
				break;
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

		npfd = 0;
		pfd[npfd].fd = sfd;
		pfd[npfd].events = POLLIN;
		who[npfd++] = NULL;
		for (i = 0; !stopping && i < NCHILDREN; i++)
			if (children[i].ready_fd != -1) {
				pfd[npfd].fd = children[i].ready_fd;
				pfd[npfd].events = POLLIN;
				who[npfd++] = &children[i];
			}
		timeout = -1;
		if (next >= 0) {
			long long wait = next - vd_now();

			timeout = wait < 0 ? 0 : wait > INT_MAX ? INT_MAX :
			    (int)wait;
		}
		if (poll(pfd, (nfds_t)npfd, timeout) < 0) {
			if (errno != EINTR)
				fatal("poll");
			continue;
		}
		for (i = 1; i < (size_t)npfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, &byte, 1);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			/* EOF: it died before it was ready; vd_reap says. */
			if (n > 0)
				vd_ready(who[i], 1);
			else if (who[i]->ready_fd != -1) {
				close(who[i]->ready_fd);
				who[i]->ready_fd = -1;
			}
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		while ((n = read(sfd, &si, sizeof(si))) == sizeof(si)) {
			sig = (int)si.ssi_signo;
			if (sig == SIGCHLD)
				continue;
			if (stopping) {
				log_info("%s while stopping: still waiting "
				    "for %d daemon(s)", vd_signame(sig),
				    vd_running());
				continue;
			}
			if (sig == SIGHUP) {
				vd_reap(0);
				vd_reload();
				continue;
			}
			log_info("%s: stopping %d daemon(s)", vd_signame(sig),
			    vd_running());
			stopping = 1;
			for (i = 0; i < NCHILDREN; i++) {
				children[i].restart_at = 0;
				children[i].restart_now = 0;
			}
			vd_signal_all(SIGTERM);
			deadline = vd_now() +
			    (long long)conf.shutdown_grace * 1000 +
			    SHUTDOWN_EXTRA_MS;
		}
	}
	close(sfd);
}

static void
vd_usage(FILE *fp)
{
	fprintf(fp, "usage: vellumd [-dv] [-c vellum.conf]\n"
	    "       vellumd [-c vellum.conf] -n | -a [-P]\n"
	    "       vellumd [-c vellum.conf] reload\n"
	    "  -c FILE  read FILE (default: the embedded default of "
	    "`make run`)\n"
	    "  -d       log everything (debug), also in the daemons\n"
	    "  -v       log more (debug messages too)\n"
	    "  -n       check the config and print what differs from the "
	    "defaults\n"
	    "  -a       check the config and print every setting\n"
	    "  -P       with -n or -a, print secrets (relay_password) too\n"
	    "  reload   make the running vellumd read its config again "
	    "(SIGHUP)\n"
	    "           and print the outcome\n"
	    "  -h, --help  show this help\n"
	    "See vellumd(8) and vellum.conf(5).\n");
}

/* `vellumd reload`: SIGHUP to the vellumd of this data dir. */
static int
vd_reload_client(void)
{
	char *msg = NULL;
	int rc;

	/*
	 * Only data_dir is needed: a config with errors is still sent on,
	 * so that the running vellumd lists them and refuses it.
	 */
	if (conf_arg == NULL)
		config_default(&conf);
	else if (config_load(conf_arg, &conf, NULL) != 0 &&
	    conf.data_dir[0] == '\0') {
		fprintf(stderr, "vellumd: %s\n", err_msg());
		return 1;
	}
	rc = daemon_reload_request(&conf, &msg);
	if (msg != NULL)
		fputs(msg, rc == 0 ? stdout : stderr);
	free(msg);
	return rc == 0 ? 0 : 1;
}

/* Starts every wanted child at start-up.  The number started. */
static int
vd_start_all(void)
{
	size_t i;
	int started = 0;

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
	return started;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t set;
	char pidpath[PATH_MAX + 32];
	int ch, print = -1, secrets = 0, verbose = 0, pidfd;

	for (ch = 1; ch < argc && strcmp(argv[ch], "--") != 0; ch++)
		if (strcmp(argv[ch], "--help") == 0) {
			vd_usage(stdout);
			return 0;
		}
	opterr = 0;
	while ((ch = getopt(argc, argv, ":c:dvnaPh")) != -1) {
		switch (ch) {
		case 'c':
			conf_arg = optarg;
			break;
		case 'd':
			debug = 1;
			verbose = 2;
			break;
		case 'v':
			if (nverbose < VERBOSE_MAX)
				nverbose++;
			verbose++;
			break;
		case 'n':
			print = 0;
			break;
		case 'a':
			print = 1;
			break;
		case 'P':
			secrets = 1;
			break;
		case 'h':
			vd_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "vellumd: -%c needs an argument\n",
			    optopt);
			vd_usage(stderr);
			return VD_EXIT_USAGE;
		default:
			/* "--bogus": name it, not its second dash. */
			if (optopt == '-' && optind < argc &&
			    strncmp(argv[optind], "--", 2) == 0)
				fprintf(stderr, "vellumd: unknown option %s\n",
				    argv[optind]);
			else
				fprintf(stderr, "vellumd: unknown option -%c\n",
				    optopt);
			vd_usage(stderr);
			return VD_EXIT_USAGE;
		}
	}
	if (optind < argc && (strcmp(argv[optind], "reload") != 0 ||
	    optind + 1 < argc || print >= 0)) {
		fprintf(stderr, "vellumd: unexpected argument '%s'\n",
		    strcmp(argv[optind], "reload") == 0 && print < 0 ?
		    argv[optind + 1] : argv[optind]);
		vd_usage(stderr);
		return VD_EXIT_USAGE;
	}
	if (optind < argc)
		return vd_reload_client();
	/* Exits 1 with the errors (each FILE:LINE) on a bad config. */
	daemon_load("vellumd", conf_arg, verbose, &conf);
	if (print >= 0)
		return config_print(stdout, &conf, (print ? CONFIG_PRINT_ALL :
		    0) | (secrets ? CONFIG_PRINT_SECRETS : 0)) == 0 ? 0 : 1;

	vd_plan();
	if (vd_data_dir() != 0)
		fatal("cannot make the data dir %s", conf.data_dir);
	vd_path(pidpath, sizeof(pidpath), DAEMON_PID_FILE);
	if (daemon_pidfile(pidpath, &pidfd) != 0) {
		fprintf(stderr, "vellumd: %s\n", err_msg());
		return 1;
	}

	if (vd_listen_bind(&conf) != 0) {
		fprintf(stderr, "vellumd: %s\n", err_msg());
		return 1;
	}
	vd_listen_prune();

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

	if (vd_start_all() == 0) {
		log_warnx("no daemon to run%s", conf.path[0] != '\0' ?
		    ": enable a service section in the config" : "");
		return 1;
	}
	vd_loop();
	vd_status_write("stopped", NULL);
	log_info("all daemons stopped");
	close(pidfd);
	return 0;
}
