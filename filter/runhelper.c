/*
 * runhelper.c - the program runner's helper process and its runner
 * children (run.c says how the three kinds of processes work together).
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "filter/run.h"

#include "filter/runpriv.h"

static const struct run_acct *run_acct_get(struct run_helper *, uid_t,
		    gid_t);
static void	run_helper_reap(struct run_helper *);
static void	run_helper_stop(struct run_helper *) __attribute__((noreturn));
static void	run_helper_request(struct run_helper *, sigset_t *);
static void	run_child_main(const struct run_helper *, struct run_wire_req *,
		    int reply, int in, int out) __attribute__((noreturn));
static int	run_child_parse(struct run_job *, char *msg, size_t msgsize);
static int	run_child_become(struct run_job *, char *msg, size_t msgsize);
static void	run_child_exec(struct run_job *, struct run_wire_reply *);
static void	run_child_read(struct run_job *, struct run_wire_reply *);
static void	run_child_append(struct run_job *, struct run_wire_reply *);
static int	run_child_chdir(const char *);
static int	run_child_home(struct run_job *, struct run_wire_reply *);
static void	run_program(struct run_job *, int outfd)
		    __attribute__((noreturn));
static void	run_kill_group(pid_t);
static int	run_env_unsafe(const char *);
static int	run_file_ok(int fd);
static size_t	run_children(pid_t, pid_t *, size_t);
static void	run_sweep(pid_t keep);
static void	run_helper_sweep(struct run_helper *, int all);

/* ------------------------------------------------------------------ */
/* The helper (a single-threaded child of the daemon, root).           */

void
run_helper_main(struct run_helper *h)
{
	struct sigaction sa;
	struct pollfd pfd[2];
	sigset_t set;
	int sfd, fd, sig;

	/* Only the control socket stays; 0, 1, 2 become /dev/null. */
	if (h->ctl != 3) {
		if (dup2(h->ctl, 3) < 0)
			_exit(1);
		h->ctl = 3;
	}
	close_range(4, ~0U, 0);
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		_exit(1);
	if (fd != 0)
		dup2(fd, 0);
	dup2(0, 1);
	dup2(0, 2);
	if (fd > 3)
		close(fd);
	fcntl(h->ctl, F_SETFD, FD_CLOEXEC);
	/* Default dispositions (the daemon's handlers mean nothing here). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		_exit(1);
	h->sigfd = sfd;
	h->self = getpid();
	if (chdir("/") != 0)
		_exit(1);
	umask(077);
	/*
	 * What a program leaves when its runner child dies (killed by the
	 * program itself, which runs as the same account) comes to us.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		_exit(1);
	for (;;) {
		int64_t now = run_now_ms(), first = -1;
		unsigned i;

		/*
		 * A runner child past its time (stopped by its program, or
		 * stuck in an open()) is killed: its slot is not lost.
		 */
		for (i = 0; i < h->max_procs; i++) {
			if (h->slots[i] <= 0)
				continue;
			if (h->deadline[i] <= now)
				kill(h->slots[i], SIGKILL);
			else if (first < 0 || h->deadline[i] < first)
				first = h->deadline[i];
		}
		pfd[0].fd = h->ctl;
		pfd[0].events = h->running < h->max_procs ? POLLIN : 0;
		pfd[0].revents = 0;
		pfd[1].fd = sfd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		if (poll(pfd, 2, first < 0 ? -1 : (int)(first - now > INT_MAX ?
		    INT_MAX : first - now)) < 0) {
			if (errno == EINTR)
				continue;
			run_helper_stop(h);
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si))
				if (si.ssi_signo == SIGTERM)
					run_helper_stop(h);
			run_helper_reap(h);
		}
		/* The daemon closed its end: stop, even with requests queued. */
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			run_helper_stop(h);
		if (pfd[0].revents & POLLIN)
			run_helper_request(h, &set);
	}
}

static void
run_helper_reap(struct run_helper *h)
{
	unsigned i;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < h->max_procs; i++)
			if (h->slots[i] == pid) {
				h->slots[i] = 0;
				h->running--;
				break;
			}
	/* Orphans of a runner child that died go now (they die: SIGCHLD). */
	run_helper_sweep(h, 0);
}

/* Kills the children that are not runner children (all: every one). */
static void
run_helper_sweep(struct run_helper *h, int all)
{
	pid_t kids[RUN_KIDS_MAX];
	size_t n, k;
	unsigned i;

	n = run_children(h->self, kids, RUN_KIDS_MAX);
	for (k = 0; k < n; k++) {
		for (i = 0; !all && i < h->max_procs; i++)
			if (h->slots[i] == kids[k])
				break;
		if (all || i == h->max_procs)
			kill(kids[k], SIGKILL);
	}
}

/*
 * Every runner child kills its program's processes and exits (a SIGCONT
 * first for one its program stopped); what they leave comes to us (a
 * subreaper) and is killed; past FILTER_RUN_GRACE seconds everything
 * left is killed, runner children too.
 */
static void
run_helper_stop(struct run_helper *h)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	int64_t deadline = run_now_ms() + FILTER_RUN_GRACE * 1000;
	sigset_t chld;
	unsigned i;
	pid_t pid;

	for (i = 0; i < h->max_procs; i++)
		if (h->slots[i] > 0) {
			kill(h->slots[i], SIGCONT);
			kill(h->slots[i], SIGTERM);
		}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		run_helper_sweep(h, run_now_ms() >= deadline);
		/* Without /proc's lists of children, the slots at least. */
		for (i = 0; run_now_ms() >= deadline && i < h->max_procs; i++)
			if (h->slots[i] > 0)
				kill(h->slots[i], SIGKILL);
		pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0) {
			for (i = 0; i < h->max_procs; i++)
				if (h->slots[i] == pid)
					h->slots[i] = 0;
			continue;
		}
		if (pid < 0 && errno != EINTR)
			break;		/* ECHILD: nothing left */
		/* SIGCHLD is blocked (the signalfd's): wait for one. */
		(void)sigtimedwait(&chld, NULL, &ts);
	}
	_exit(0);
}

static void
run_helper_request(struct run_helper *h, sigset_t *set)
{
	union {
		char		buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct run_wire_req w;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	int fds[8], nfd = 0, i, ok;
	unsigned slot;
	ssize_t n;
	pid_t pid;

	memset(&mh, 0, sizeof(mh));
	memset(&w, 0, sizeof(w));
	iov.iov_base = &w;
	iov.iov_len = sizeof(w);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	n = recvmsg(h->ctl, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		run_helper_stop(h);
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int),
			    sizeof(int));
			if (nfd < 8)
				fds[nfd++] = fd;
			else
				close(fd);
		}
	}
	ok = n == (ssize_t)sizeof(w) && w.magic == RUN_MAGIC &&
	    !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    nfd == (w.has_input ? 3 : 2);
	for (slot = 0; ok && slot < h->max_procs; slot++)
		if (h->slots[slot] == 0)
			break;
	if (ok && slot < h->max_procs) {
		h->acct = run_acct_get(h, (uid_t)w.uid, (gid_t)w.gid);
		pid = fork();
		if (pid == 0) {
			close(h->ctl);
			close(h->sigfd);
			sigprocmask(SIG_UNBLOCK, set, NULL);
			run_child_main(h, &w, fds[0], w.has_input ? fds[2] :
			    -1, fds[1]);
		}
		if (pid > 0) {
			h->slots[slot] = pid;
			h->deadline[slot] = run_now_ms() +
			    ((int64_t)h->timeout + FILTER_RUN_GRACE) * 1000;
			h->running++;
		}
		/* fork failed: closing the reply socket says so. */
	}
	for (i = 0; i < nfd; i++)
		close(fds[i]);
}

/*
 * The account a request runs as, from the cache or looked up now (in
 * the helper: NSS may read files and allocate).  NULL when the helper is
 * not root (programs run as the helper's own account).
 */
static const struct run_acct *
run_acct_get(struct run_helper *h, uid_t uid, gid_t gid)
{
	struct run_acct *a = NULL;
	struct passwd *pw;
	time_t now = time(NULL);
	size_t i, k, old = 0;
	int n;

	if (!h->root)
		return NULL;
	if (uid == 0 && h->have_fallback) {
		uid = h->fb_uid;
		gid = h->fb_gid;
	}
	for (i = 0; i < h->naccts; i++) {
		if (h->accts[i].uid == uid && h->accts[i].gid == gid &&
		    h->accts[i].until > now)
			return &h->accts[i];
		if (h->accts[i].until < h->accts[old].until)
			old = i;
	}
	a = h->naccts < RUN_ACCTS ? &h->accts[h->naccts++] : &h->accts[old];
	memset(a, 0, sizeof(*a));
	a->uid = uid;
	a->gid = gid;
	a->until = now + RUN_ACCT_TTL;
	a->groups[0] = gid;
	a->ngroups = 1;
	if ((pw = getpwuid(uid)) != NULL) {
		a->named = 1;
		n = RUN_GROUPS_MAX;
		if (getgrouplist(pw->pw_name, gid, a->groups, &n) == -1)
			n = RUN_GROUPS_MAX;	/* the first ones, then */
		/* never group 0 nor the daemon's, which owns the store */
		for (i = 0, k = 0; i < (size_t)n; i++)
			if (a->groups[i] != 0 && (h->daemon_gid == 0 ||
			    a->groups[i] != h->daemon_gid))
				a->groups[k++] = a->groups[i];
		a->ngroups = (int)k;
	}
	return a;
}

/* ------------------------------------------------------------------ */
/* The runner child (one request; single-threaded).                    */

static void
run_child_main(const struct run_helper *h, struct run_wire_req *w,
    int reply, int in, int out)
{
	struct run_wire_reply rep;
	struct run_job j;
	struct pollfd pfd;
	struct stat st;

	/* Killed with the helper: a SIGTERM kills the program's group. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != h->self)
		_exit(1);
	memset(&rep, 0, sizeof(rep));
	memset(&j, 0, sizeof(j));
	j.h = h;
	j.req = *w;
	j.reply = reply;
	j.in = in;
	j.out = out;
	/* The requester gave up while the request waited: nothing to do. */
	pfd.fd = reply;
	pfd.events = 0;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
		_exit(0);
	rep.type = RUN_STARTED;
	if (run_reply(reply, &rep) != 0)
		_exit(0);
	rep.type = RUN_DONE;
	rep.rc = -1;
	rep.errclass = ERR_INVALID;
	if (fstat(out, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (in >= 0 && (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)))) {
		snprintf(rep.msg, sizeof(rep.msg), "filter programs: the "
		    "request's descriptors are not files");
		run_reply(reply, &rep);
		_exit(0);
	}
	if (run_child_parse(&j, rep.msg, sizeof(rep.msg)) != 0) {
		run_reply(reply, &rep);
		_exit(0);
	}
	if ((rep.errclass = run_child_become(&j, rep.msg, sizeof(rep.msg))) !=
	    0) {
		run_reply(reply, &rep);
		_exit(0);
	}
	/* A change of credentials clears the parent-death signal: again. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != h->self)
		_exit(1);
	memset(rep.msg, 0, sizeof(rep.msg));
	rep.errclass = 0;
	rep.rc = 0;
	if (j.req.kind == RUN_EXEC)
		run_child_exec(&j, &rep);
	else if (j.req.kind == RUN_READ)
		run_child_read(&j, &rep);
	else
		run_child_append(&j, &rep);
	run_reply(reply, &rep);
	_exit(0);
}

/* Reads the strings out of the output memfd, then empties it. */
static int
run_child_parse(struct run_job *j, char *msg, size_t msgsize)
{
	const struct run_wire_req *w = &j->req;
	char *p, *end, *nul;
	size_t need, i;

	if ((w->kind != RUN_EXEC && w->kind != RUN_READ &&
	    w->kind != RUN_APPEND) || w->bloblen == 0 ||
	    w->bloblen > RUN_BLOB_MAX || w->nargv > FILTER_RUN_ARGS_MAX ||
	    w->nenv > FILTER_RUN_ENV_MAX ||
	    (w->kind == RUN_EXEC && w->nargv == 0)) {
		snprintf(msg, msgsize, "filter programs: a malformed request");
		return -1;
	}
	j->blob = xmalloc((size_t)w->bloblen + 1);
	if (run_pread_all(j->out, j->blob, (size_t)w->bloblen, 0) != 0) {
		snprintf(msg, msgsize, "filter programs: cannot read the "
		    "request: %s", strerror(errno));
		return -1;
	}
	j->blob[w->bloblen] = '\0';
	if (ftruncate(j->out, 0) != 0 || lseek(j->out, 0, SEEK_SET) != 0) {
		snprintf(msg, msgsize, "filter programs: cannot empty the "
		    "output: %s", strerror(errno));
		return -1;
	}
	p = j->blob;
	end = j->blob + w->bloblen;
	need = 1 + (w->kind == RUN_EXEC ? (size_t)w->nargv + w->nenv : 1);
	j->argv = xcalloc((size_t)w->nargv + 1, sizeof(char *));
	j->envp = xcalloc((size_t)w->nenv + 1, sizeof(char *));
	for (i = 0; i < need; i++) {
		if (p >= end || (nul = memchr(p, '\0', (size_t)(end - p))) ==
		    NULL) {
			snprintf(msg, msgsize, "filter programs: a "
			    "truncated request");
			return -1;
		}
		if (i == 0)
			j->home = p;
		else if (w->kind != RUN_EXEC)
			j->path = p;
		else if (i <= w->nargv)
			j->argv[i - 1] = p;
		else
			j->envp[i - 1 - w->nargv] = p;
		p = nul + 1;
	}
	if (w->kind == RUN_APPEND) {
		j->text = p;
		j->textlen = (size_t)(end - p);
	} else if (p != end) {
		snprintf(msg, msgsize, "filter programs: extra bytes in the "
		    "request");
		return -1;
	}
	if ((w->kind == RUN_EXEC && j->argv[0][0] == '\0') ||
	    (w->kind != RUN_EXEC && j->path[0] == '\0')) {
		snprintf(msg, msgsize, "filter programs: an empty program "
		    "or path");
		return -1;
	}
	return 0;
}

/*
 * Becomes the account for good: 0, or an error class with msg.  uid 0
 * is the fallback account; nothing ever runs as root.
 */
static int
run_child_become(struct run_job *j, char *msg, size_t msgsize)
{
	const struct run_helper *h = j->h;
	uid_t uid = (uid_t)j->req.uid, ru, eu, su;
	gid_t gid = (gid_t)j->req.gid, rg, eg, sg;
	const struct run_acct *a = h->acct;

	if (!h->root)
		return 0;	/* not root: we run as the helper's account */
	if (uid == 0) {
		if (!h->have_fallback || h->fb_uid == 0) {
			snprintf(msg, msgsize, "filter programs: the [filter] "
			    "user '%.64s' is root; programs never run as root",
			    h->fb_name);
			return ERR_PERM;
		}
		uid = h->fb_uid;
		gid = h->fb_gid;
	}
	if (h->have_daemon && (uid == h->daemon_uid ||
	    (h->daemon_gid != 0 && gid == h->daemon_gid))) {
		snprintf(msg, msgsize, "filter programs: uid %u gid %u: the "
		    "daemon's own account or group, which owns the store: "
		    "refused", (unsigned)uid, (unsigned)gid);
		return ERR_PERM;
	}
	if (gid == 0) {
		snprintf(msg, msgsize, "filter programs: uid %u with group 0 "
		    "(root): refused", (unsigned)uid);
		return ERR_PERM;
	}
	/*
	 * The groups of the account (looked up by the helper, without group
	 * 0 and the daemon's), or its own.
	 */
	if ((a != NULL && a->uid == uid && a->gid == gid ?
	    setgroups((size_t)a->ngroups, a->groups) : setgroups(1, &gid)) != 0 ||
	    setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
		snprintf(msg, msgsize, "filter programs: cannot become uid %u "
		    "gid %u: %s", (unsigned)uid, (unsigned)gid,
		    strerror(errno));
		return ERR_TEMP;
	}
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid || setuid(0) == 0) {
		snprintf(msg, msgsize, "filter programs: the switch to uid %u "
		    "did not hold", (unsigned)uid);
		return ERR_PERM;
	}
	return 0;
}

static void
run_kill_group(pid_t pid)
{
	/* Before its setsid() the program is no group leader yet. */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

/*
 * The children of the single-threaded process self, up to max, from
 * /proc (CONFIG_PROC_CHILDREN; none when it is missing).
 */
static size_t
run_children(pid_t self, pid_t *kids, size_t max)
{
	char path[64], buf[8192], *p, *end;
	size_t n = 0, have = 0;
	ssize_t got;
	long v;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)self,
	    (int)self);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while (have < sizeof(buf) - 1 &&
	    (got = read(fd, buf + have, sizeof(buf) - 1 - have)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		have += (size_t)got;
	}
	close(fd);
	buf[have] = '\0';
	/* A list cut short: its last number may be cut too. */
	if (have == sizeof(buf) - 1 && (p = strrchr(buf, ' ')) != NULL)
		*p = '\0';
	for (p = buf; n < max; p = end) {
		v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (v > 1)
			kids[n++] = (pid_t)v;
	}
	return n;
}

/*
 * In the runner child (a subreaper): kills every child but keep (the
 * program, reaped by the caller) and reaps them, round after round,
 * since their own children come to us when they die, until none is left.
 */
static void
run_sweep(pid_t keep)
{
	pid_t kids[RUN_KIDS_MAX], self = getpid();
	size_t n, k, killed;
	int round;

	for (round = 0; round < RUN_SWEEP_ROUNDS; round++) {
		n = run_children(self, kids, RUN_KIDS_MAX);
		killed = 0;
		for (k = 0; k < n; k++)
			if (kids[k] != keep) {
				kill(kids[k], SIGKILL);
				killed++;
			}
		if (killed == 0)
			return;
		for (k = 0; k < n; k++)
			if (kids[k] != keep)
				while (waitpid(kids[k], NULL, 0) < 0 &&
				    errno == EINTR)
					;
	}
}

static void
run_child_exec(struct run_job *j, struct run_wire_reply *rep)
{
	char *buf;
	struct pollfd pfd[3];
	sigset_t set;
	int p[2] = { -1, -1 }, pidfd, sfd, st, exited = 0, n = 0, npfd;
	int64_t deadline, left;
	size_t total = 0, room;
	ssize_t got;
	pid_t pid;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    (j->req.capture && pipe2(p, O_CLOEXEC) != 0) ||
	    (j->in >= 0 && lseek(j->in, 0, SEEK_SET) != 0)) {
		rep->rc = -1;
		rep->errclass = ERR_TEMP;
		snprintf(rep->msg, sizeof(rep->msg), "filter programs: %s",
		    strerror(errno));
		return;
	}
	/* What the program leaves (a daemon) comes to us, to be killed. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		rep->rc = -1;
		rep->errclass = ERR_TEMP;
		snprintf(rep->msg, sizeof(rep->msg), "filter programs: "
		    "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return;
	}
	deadline = run_now_ms() + (int64_t)j->h->timeout * 1000;
	if ((pid = fork()) < 0) {
		rep->rc = -1;
		rep->errclass = ERR_TEMP;
		snprintf(rep->msg, sizeof(rep->msg), "filter programs: fork: "
		    "%s", strerror(errno));
		return;
	}
	if (pid == 0)
		run_program(j, p[1]);
	if (p[1] >= 0)
		close(p[1]);
	if ((pidfd = pidfd_open(pid, 0)) < 0) {
		/* Cannot watch it: do not let it run unwatched. */
		run_kill_group(pid);
		waitpid(pid, NULL, 0);
		rep->rc = -1;
		rep->errclass = ERR_TEMP;
		snprintf(rep->msg, sizeof(rep->msg), "filter programs: "
		    "pidfd_open: %s", strerror(errno));
		return;
	}
	buf = xmalloc(RUN_PUMP_BUF);
	while (p[0] >= 0 || !exited) {
		npfd = 0;
		pfd[npfd].fd = sfd;
		pfd[npfd++].events = POLLIN;
		if (!exited) {
			pfd[npfd].fd = pidfd;
			pfd[npfd++].events = POLLIN;
		}
		if (p[0] >= 0) {
			pfd[npfd].fd = p[0];
			pfd[npfd++].events = POLLIN;
		}
		left = deadline - run_now_ms();
		if (left <= 0) {
			/* Past the time limit: the whole group goes. */
			if (!exited)
				rep->timed_out = 1;
			run_kill_group(pid);
			run_sweep(pid);
			break;
		}
		n = poll(pfd, (nfds_t)npfd, (int)(left > INT_MAX ? INT_MAX :
		    left));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (pfd[0].revents & POLLIN) {
			/* The helper stops (or died): kill and leave. */
			run_kill_group(pid);
			run_sweep(pid);
			waitpid(pid, NULL, 0);
			_exit(0);
		}
		if (!exited && (pfd[1].revents & POLLIN)) {
			exited = 1;
			/*
			 * Whatever it left behind goes too: its group, and
			 * the daemons that left the group (our orphans
			 * now), which would hold stdout open till the end.
			 */
			kill(-pid, SIGKILL);
			run_sweep(pid);
		}
		if (p[0] >= 0 && (pfd[npfd - 1].revents &
		    (POLLIN | POLLHUP | POLLERR))) {
			got = read(p[0], buf, RUN_PUMP_BUF);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				close(p[0]);
				p[0] = -1;
				continue;
			}
			room = j->h->output_max - total;
			if ((size_t)got > room) {
				got = (ssize_t)room;
				rep->truncated = 1;
			}
			if (got > 0 && run_write_all(j->out, buf,
			    (size_t)got) != 0) {
				rep->rc = -1;
				rep->errclass = ERR_TEMP;
				snprintf(rep->msg, sizeof(rep->msg), "filter "
				    "programs: writing the output: %s",
				    strerror(errno));
				run_kill_group(pid);
				run_sweep(pid);
				break;
			}
			total += (size_t)got;
			if (rep->truncated) {
				run_kill_group(pid);
				close(p[0]);
				p[0] = -1;
			}
		}
	}
	free(buf);
	if (n < 0) {
		run_kill_group(pid);
		run_sweep(pid);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 0;
			break;
		}
	}
	if (p[0] >= 0)
		close(p[0]);
	close(pidfd);
	rep->outlen = total;
	if (WIFEXITED(st))
		rep->status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		rep->status = 128 + WTERMSIG(st);
}

/*
 * Whether an environment entry names a variable that makes the dynamic
 * linker, libc or an interpreter load code or change how it runs (what
 * glibc drops for setuid programs, and the like of shells, Perl, Python,
 * Ruby and Node): maildrop exports every variable, these never are.
 */
static int
run_env_unsafe(const char *e)
{
	static const char *const prefix[] = { "LD_", "MALLOC_", "BASH_FUNC_",
	    NULL };
	static const char *const name[] = { "GCONV_PATH", "GETCONF_DIR",
	    "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
	    "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS",
	    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS",
	    "CDPATH", "PERL5OPT", "PERL5LIB", "PERLLIB", "PERL5DB",
	    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT",
	    "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", NULL };
	size_t i, len = strcspn(e, "=");

	for (i = 0; prefix[i] != NULL; i++)
		if (strncmp(e, prefix[i], strlen(prefix[i])) == 0)
			return 1;
	for (i = 0; name[i] != NULL; i++)
		if (strlen(name[i]) == len && strncmp(e, name[i], len) == 0)
			return 1;
	return 0;
}

/* The program's process: never returns. */
static void
run_program(struct run_job *j, int outfd)
{
	static const char *const dflt_path = "";
	struct rlimit rl;
	struct sigaction sa;
	sigset_t none;
	const char *path = dflt_path, *dir, *colon;
	char cand[PATH_MAX];
	size_t dlen, alen, i, k;
	int nullfd, sig;

	setsid();
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd < 0)
		_exit(127);
	/* 0, 1, 2 and nothing else. */
	if (dup2(j->in >= 0 ? j->in : nullfd, 0) < 0 ||
	    dup2(outfd >= 0 ? outfd : nullfd, 1) < 0 ||
	    dup2(nullfd, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	if (run_child_chdir(j->home) != 0)
		_exit(127);
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	rl.rlim_cur = rl.rlim_max = FILTER_RUN_NOFILE;
	setrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max = j->h->timeout;
	setrlimit(RLIMIT_CPU, &rl);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (i = k = 0; j->envp[i] != NULL; i++)
		if (!run_env_unsafe(j->envp[i]))
			j->envp[k++] = j->envp[i];
	j->envp[k] = NULL;
	if (strchr(j->argv[0], '/') != NULL) {
		execve(j->argv[0], j->argv, j->envp);
		_exit(127);
	}
	for (i = 0; j->envp[i] != NULL; i++)
		if (strncmp(j->envp[i], "PATH=", 5) == 0)
			path = j->envp[i] + 5;
	alen = strlen(j->argv[0]);
	for (dir = path; *dir != '\0'; dir = *colon ? colon + 1 : colon) {
		if ((colon = strchr(dir, ':')) == NULL)
			colon = dir + strlen(dir);
		dlen = (size_t)(colon - dir);
		/* An empty entry is the current directory, as for a shell. */
		if (dlen == 0)
			dir = ".", dlen = 1;
		if (dlen + 1 + alen + 1 > sizeof(cand))
			continue;
		memcpy(cand, dir, dlen);
		cand[dlen] = '/';
		memcpy(cand + dlen + 1, j->argv[0], alen + 1);
		execve(cand, j->argv, j->envp);
	}
	_exit(127);
}

/*
 * Whether a file opened for include, lookup or logfile may be used: not
 * one of /proc, where "self" is this runner child, a copy of the daemon
 * (its environment, command line, memory map, descriptors), not the
 * account's own process.
 */
static int
run_file_ok(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type != PROC_SUPER_MAGIC;
}

/*
 * A child works in the account's home, or in / when it has none or it
 * cannot be entered.  0 done, -1 neither (errno set).
 */
static int
run_child_chdir(const char *home)
{
	if (home != NULL && home[0] != '\0' && chdir(home) == 0)
		return 0;
	return chdir("/");
}

/* run_child_chdir() for a file request: -1 with rep filled when it fails. */
static int
run_child_home(struct run_job *j, struct run_wire_reply *rep)
{
	if (run_child_chdir(j->home) == 0)
		return 0;
	rep->rc = -1;
	rep->errclass = ERR_TEMP;
	snprintf(rep->msg, sizeof(rep->msg), "cannot change to the account's "
	    "home or to /: %s", strerror(errno));
	return -1;
}

static void
run_child_read(struct run_job *j, struct run_wire_reply *rep)
{
	char buf[RUN_PUMP_BUF];
	struct stat st;
	size_t total = 0;
	ssize_t n;
	int fd;

	if (run_child_home(j, rep) != 0)
		return;
	fd = open(j->path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			rep->rc = 0;
			return;
		}
		rep->rc = -1;
		rep->errclass = errno == EACCES || errno == EPERM ||
		    errno == ELOOP ? ERR_PERM : ERR_TEMP;
		snprintf(rep->msg, sizeof(rep->msg), "cannot read %.150s: %s",
		    j->path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !run_file_ok(fd)) {
		rep->rc = -1;
		rep->errclass = ERR_PERM;
		snprintf(rep->msg, sizeof(rep->msg), "cannot read %.150s: not "
		    "a regular file of the account's", j->path);
		close(fd);
		return;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rep->rc = -1;
			rep->errclass = ERR_TEMP;
			snprintf(rep->msg, sizeof(rep->msg), "cannot read "
			    "%.150s: %s", j->path, strerror(errno));
			close(fd);
			return;
		}
		if (n == 0)
			break;
		if (total + (size_t)n > FILTER_FILE_MAX) {
			rep->rc = -1;
			rep->errclass = ERR_LIMIT;
			snprintf(rep->msg, sizeof(rep->msg), "%.150s is larger "
			    "than %d bytes", j->path, FILTER_FILE_MAX);
			close(fd);
			return;
		}
		if (run_write_all(j->out, buf, (size_t)n) != 0) {
			rep->rc = -1;
			rep->errclass = ERR_TEMP;
			snprintf(rep->msg, sizeof(rep->msg), "cannot copy "
			    "%.150s: %s", j->path, strerror(errno));
			close(fd);
			return;
		}
		total += (size_t)n;
	}
	close(fd);
	rep->rc = 1;
	rep->outlen = total;
}

static void
run_child_append(struct run_job *j, struct run_wire_reply *rep)
{
	struct stat st;
	int fd;

	if (run_child_home(j, rep) != 0)
		return;
	fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		rep->rc = -1;
		rep->errclass = errno == EACCES || errno == EPERM ||
		    errno == ELOOP || errno == EROFS ? ERR_PERM : ERR_TEMP;
		snprintf(rep->msg, sizeof(rep->msg), "cannot append to "
		    "%.150s: %s", j->path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !run_file_ok(fd)) {
		rep->rc = -1;
		rep->errclass = ERR_PERM;
		snprintf(rep->msg, sizeof(rep->msg), "cannot append to "
		    "%.150s: not a regular file of the account's", j->path);
		close(fd);
		return;
	}
	if (run_write_all(fd, j->text, j->textlen) != 0) {
		rep->rc = -1;
		rep->errclass = errno == ENOSPC || errno == EDQUOT ?
		    ERR_NOQUOTA : ERR_TEMP;
		snprintf(rep->msg, sizeof(rep->msg), "cannot append to "
		    "%.150s: %s", j->path, strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	rep->rc = 0;
}

