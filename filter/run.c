/*
 * run.c - see run.h.
 *
 * Three kinds of processes:
 *   - the requester: any thread of the daemon.  It builds the request
 *     (memfds, a socketpair for the reply), sends it over the control
 *     socket and waits for the reply.  It never forks.
 *   - the helper: forked once by filter_runner_start() while the daemon
 *     is still root and single-threaded.  It keeps only its control
 *     socket, reads requests while fewer than max_procs are running, and
 *     forks a runner child for each.  It never touches a request's data.
 *   - the runner child: one per request.  It switches to the account
 *     first (so everything it does is done as that account: a file read
 *     for include, a logfile append, the program), then forks the program
 *     into a session of its own, pumps its stdout into the output memfd,
 *     enforces the limits and replies on the request's own socket.
 * The request's strings (argv, environment, paths, text) travel in the
 * output memfd, which the runner child reads and then empties: a
 * SOCK_SEQPACKET message could not carry FILTER_RUN_REQ_MAX bytes.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include "common/xmalloc.h"
#include "filter/run.h"

#define RUN_MAGIC	0x564c4652u	/* "VLFR" */
#define RUN_MSG_MAX	240		/* bytes of an error message */
#define RUN_PUMP_BUF	65536		/* bytes read from stdout at once */
/* Strings of one request: argv + env, or a path and a logfile text. */
#define RUN_BLOB_MAX	(FILTER_RUN_REQ_MAX + FILTER_RUN_TEXT_MAX + \
			    2 * PATH_MAX)

enum run_kind {
	RUN_EXEC = 1,
	RUN_READ,
	RUN_APPEND,
};

/* The control message (the strings are in the output memfd). */
struct run_wire_req {
	uint32_t	magic;
	uint32_t	kind;		/* enum run_kind */
	uint32_t	uid, gid;
	uint32_t	capture;
	uint32_t	has_input;
	uint32_t	nargv, nenv;
	uint64_t	bloblen;
};

enum run_reply_type {
	RUN_STARTED = 1,	/* the helper gave the request a slot */
	RUN_DONE,
};

/* The replies of the runner child, on the request's own socket. */
struct run_wire_reply {
	uint32_t	type;		/* enum run_reply_type */
	int32_t		rc;		/* as the public function returns */
	int32_t		errclass;	/* enum err_class when rc == -1 */
	int32_t		status;
	int32_t		timed_out;
	int32_t		truncated;
	uint64_t	outlen;
	char		msg[RUN_MSG_MAX];
};

struct filter_runner {
	int		 ctl;		/* SOCK_SEQPACKET to the helper */
	pid_t		 pid;		/* of the helper */
	unsigned	 timeout;
	size_t		 output_max;
};

/* What the helper knows; filled before the fork. */
/* An account's name and groups, cached by the helper. */
#define RUN_ACCTS	64		/* accounts remembered */
#define RUN_ACCT_TTL	60		/* seconds */
#define RUN_GROUPS_MAX	64		/* supplementary groups kept */

struct run_acct {
	uid_t		 uid;
	gid_t		 gid;
	time_t		 until;
	int		 named;		/* has a passwd entry */
	int		 ngroups;
	gid_t		 groups[RUN_GROUPS_MAX];
};

struct run_helper {
	int		 ctl;
	int		 sigfd;		/* SIGCHLD, SIGTERM */
	pid_t		 self;		/* the helper's pid */
	int		 root;		/* the helper runs as root */
	int		 have_fallback;
	uid_t		 fb_uid;
	gid_t		 fb_gid;
	char		 fb_name[256];
	unsigned	 timeout;
	size_t		 output_max;
	unsigned	 max_procs;
	pid_t		 slots[FILTER_RUN_PROCS_MAX];
	unsigned	 running;
	/*
	 * The accounts programs ran as lately (name, groups), looked up by
	 * the helper before it forks (NSS reads files: once a minute per
	 * account, not once per message), so the child only makes system
	 * calls.  acct is the one of the request being forked.
	 */
	struct run_acct	 accts[RUN_ACCTS];
	size_t		 naccts;
	const struct run_acct *acct;
};

/* One request inside the runner child. */
struct run_job {
	const struct run_helper	*h;
	struct run_wire_req	 req;
	int			 reply, in, out;
	char			*blob;
	char			*home;
	char			**argv;
	char			**envp;
	const char		*path;	/* RUN_READ, RUN_APPEND */
	const char		*text;
	size_t			 textlen;
};

static void	run_helper_main(struct run_helper *) __attribute__((noreturn));
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
static void	run_program(struct run_job *, int outfd)
		    __attribute__((noreturn));
static void	run_kill_group(pid_t);
static int	run_reply(int fd, const struct run_wire_reply *);
static int64_t	run_now_ms(void);
static int	run_write_all(int fd, const void *, size_t);
static int	run_pread_all(int fd, void *, size_t, off_t);
static int	run_request(struct filter_runner *, struct run_wire_req *,
		    const void *blob, size_t bloblen, const void *input,
		    size_t inlen, struct run_wire_reply *rep, int *out_r);
static int	run_send(struct filter_runner *, const struct run_wire_req *,
		    int reply, int in, int out);
static int	run_wait(int fd, unsigned secs, struct run_wire_reply *);
static int	run_memfd(const char *name, const void *, size_t);
static void	run_blob_add(char **blob, size_t *len, size_t *cap,
		    const void *, size_t);

/* ------------------------------------------------------------------ */
/* The requester (any thread of the daemon).                          */

int
filter_runner_start(const struct filter_runner_config *cfg,
    struct filter_runner **r_p)
{
	struct run_helper h;
	struct filter_runner *r;
	struct passwd *pw;
	int sv[2];
	pid_t parent, pid;

	*r_p = NULL;
	memset(&h, 0, sizeof(h));
	h.root = geteuid() == 0;
	h.timeout = cfg->timeout > 0 ? cfg->timeout : 1;
	h.output_max = cfg->output_max;
	h.max_procs = cfg->max_procs;
	if (h.max_procs < 1)
		h.max_procs = 1;
	if (h.max_procs > FILTER_RUN_PROCS_MAX)
		h.max_procs = FILTER_RUN_PROCS_MAX;
	if (h.root) {
		/* getpwnam() before the fork: nothing of libc after it. */
		errno = 0;
		pw = getpwnam(cfg->fallback_user != NULL ?
		    cfg->fallback_user : "");
		if (pw == NULL)
			return err_set(errno == 0 || errno == ENOENT ?
			    ERR_NOTFOUND : ERR_TEMP, "filter programs: the "
			    "user '%s' ([filter] user) does not exist%s%s",
			    cfg->fallback_user != NULL ? cfg->fallback_user :
			    "", errno != 0 ? ": " : "",
			    errno != 0 ? strerror(errno) : "");
		if (strlen(pw->pw_name) >= sizeof(h.fb_name))
			return err_set(ERR_INVALID, "filter programs: the user "
			    "name '%s' is too long", pw->pw_name);
		h.have_fallback = 1;
		h.fb_uid = pw->pw_uid;
		h.fb_gid = pw->pw_gid;
		memcpy(h.fb_name, pw->pw_name, strlen(pw->pw_name) + 1);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return err_set(ERR_TEMP, "filter programs: socketpair: %s",
		    strerror(errno));
	/* A requester waits for room in a full queue, but not forever. */
	{
		struct timeval tv = { (time_t)h.timeout + FILTER_RUN_GRACE, 0 };

		setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	r = xcalloc(1, sizeof(*r));
	r->timeout = h.timeout;
	r->output_max = h.output_max;
	h.ctl = sv[1];
	parent = getpid();
	if ((pid = fork()) < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		free(r);
		return err_set(ERR_TEMP, "filter programs: fork: %s",
		    strerror(e));
	}
	if (pid == 0) {
		close(sv[0]);	/* else the helper never sees the daemon go */
		/* Dies with the thread that started it (the main one). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
		    getppid() != parent)
			_exit(1);
		run_helper_main(&h);
	}
	close(sv[1]);
	r->ctl = sv[0];
	r->pid = pid;
	*r_p = r;
	return 0;
}

void
filter_runner_cancel(struct filter_runner *r)
{
	/*
	 * shutdown(2), not close(2): other threads may be sending on the
	 * descriptor; it stays valid, they get EPIPE, and the helper sees
	 * the end of its socket, kills every program and exits, so the
	 * requests waiting for one get their reply socket closed.
	 */
	if (r != NULL)
		(void)shutdown(r->ctl, SHUT_RDWR);
}

void
filter_runner_stop(struct filter_runner **r_p)
{
	struct filter_runner *r = *r_p;
	int st;

	if (r == NULL)
		return;
	*r_p = NULL;
	/* The helper sees the socket close, kills every program and exits. */
	close(r->ctl);
	while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
		;
	free(r);
}

int
filter_runner_exec(struct filter_runner *r, const struct filter_run_req *q,
    struct filter_exec_result *res)
{
	struct run_wire_req w;
	struct run_wire_reply rep;
	char *blob = NULL, *out;
	size_t len = 0, cap = 0, n;
	int outfd = -1, rc;

	memset(res, 0, sizeof(*res));
	if (q->argv == NULL || q->argv[0] == NULL || q->argv[0][0] == '\0')
		return err_set(ERR_INVALID, "filter programs: no program "
		    "given");
	memset(&w, 0, sizeof(w));
	w.magic = RUN_MAGIC;
	w.kind = RUN_EXEC;
	w.uid = (uint32_t)q->uid;
	w.gid = (uint32_t)q->gid;
	w.capture = q->capture != 0;
	w.has_input = q->input != NULL;
	run_blob_add(&blob, &len, &cap, q->home != NULL ? q->home : "",
	    strlen(q->home != NULL ? q->home : "") + 1);
	for (n = 0; q->argv[n] != NULL; n++) {
		if (n == FILTER_RUN_ARGS_MAX || len > FILTER_RUN_REQ_MAX) {
			free(blob);
			return err_set(ERR_INVALID, "filter programs: more "
			    "than %d words or %d bytes in '%.64s'",
			    FILTER_RUN_ARGS_MAX, FILTER_RUN_REQ_MAX,
			    q->argv[0]);
		}
		run_blob_add(&blob, &len, &cap, q->argv[n],
		    strlen(q->argv[n]) + 1);
	}
	w.nargv = (uint32_t)n;
	for (n = 0; q->envp != NULL && q->envp[n] != NULL; n++) {
		if (n == FILTER_RUN_ENV_MAX || len > FILTER_RUN_REQ_MAX ||
		    strchr(q->envp[n], '=') == NULL) {
			free(blob);
			return err_set(ERR_INVALID, "filter programs: more "
			    "than %d variables or %d bytes, or an entry "
			    "without '=', for '%.64s'", FILTER_RUN_ENV_MAX,
			    FILTER_RUN_REQ_MAX, q->argv[0]);
		}
		run_blob_add(&blob, &len, &cap, q->envp[n],
		    strlen(q->envp[n]) + 1);
	}
	w.nenv = (uint32_t)n;
	if (len > FILTER_RUN_REQ_MAX) {
		free(blob);
		return err_set(ERR_INVALID, "filter programs: more than %d "
		    "bytes of arguments and environment for '%.64s'",
		    FILTER_RUN_REQ_MAX, q->argv[0]);
	}
	w.bloblen = len;
	rc = run_request(r, &w, blob, len, q->input, q->inlen, &rep, &outfd);
	free(blob);
	if (rc < 0)
		return -1;
	if (rep.outlen > r->output_max) {
		close(outfd);
		return err_set(ERR_TEMP, "filter programs: the helper "
		    "answered %llu bytes of output",
		    (unsigned long long)rep.outlen);
	}
	res->status = rep.status;
	res->timed_out = rep.timed_out != 0;
	res->truncated = rep.truncated != 0;
	if (q->capture) {
		out = xmalloc((size_t)rep.outlen + 1);
		if (run_pread_all(outfd, out, (size_t)rep.outlen, 0) != 0) {
			rc = err_set(ERR_TEMP, "filter programs: reading the "
			    "output of '%.64s': %s", q->argv[0],
			    strerror(errno));
			free(out);
			close(outfd);
			return rc;
		}
		out[rep.outlen] = '\0';
		res->out = out;
		res->outlen = (size_t)rep.outlen;
	}
	close(outfd);
	return 0;
}

int
filter_runner_read_file(struct filter_runner *r, uid_t uid, gid_t gid,
    const char *home, const char *path, char **data_r, size_t *len_r)
{
	struct run_wire_req w;
	struct run_wire_reply rep;
	char *blob = NULL, *data;
	size_t len = 0, cap = 0;
	int outfd = -1, rc;

	*data_r = NULL;
	*len_r = 0;
	if (path == NULL || path[0] == '\0' || strlen(path) >= PATH_MAX ||
	    (home != NULL && strlen(home) >= PATH_MAX))
		return err_set(ERR_INVALID, "filter files: an empty or too "
		    "long path");
	memset(&w, 0, sizeof(w));
	w.magic = RUN_MAGIC;
	w.kind = RUN_READ;
	w.uid = (uint32_t)uid;
	w.gid = (uint32_t)gid;
	run_blob_add(&blob, &len, &cap, home != NULL ? home : "",
	    strlen(home != NULL ? home : "") + 1);
	run_blob_add(&blob, &len, &cap, path, strlen(path) + 1);
	w.bloblen = len;
	rc = run_request(r, &w, blob, len, NULL, 0, &rep, &outfd);
	free(blob);
	if (rc < 0)
		return -1;
	if (rep.rc != 1) {
		close(outfd);
		return 0;
	}
	if (rep.outlen > FILTER_FILE_MAX) {
		close(outfd);
		return err_set(ERR_TEMP, "filter files: the helper answered "
		    "%llu bytes", (unsigned long long)rep.outlen);
	}
	data = xmalloc((size_t)rep.outlen + 1);
	if (run_pread_all(outfd, data, (size_t)rep.outlen, 0) != 0) {
		rc = err_set(ERR_TEMP, "filter files: reading %s: %s", path,
		    strerror(errno));
		free(data);
		close(outfd);
		return rc;
	}
	close(outfd);
	data[rep.outlen] = '\0';
	*data_r = data;
	*len_r = (size_t)rep.outlen;
	return 1;
}

int
filter_runner_append(struct filter_runner *r, uid_t uid, gid_t gid,
    const char *home, const char *path, const char *text, size_t textlen)
{
	struct run_wire_req w;
	struct run_wire_reply rep;
	char *blob = NULL;
	size_t len = 0, cap = 0;
	int outfd = -1, rc;

	if (path == NULL || path[0] == '\0' || strlen(path) >= PATH_MAX ||
	    (home != NULL && strlen(home) >= PATH_MAX))
		return err_set(ERR_INVALID, "filter files: an empty or too "
		    "long path");
	if (textlen > FILTER_RUN_TEXT_MAX)
		return err_set(ERR_LIMIT, "filter files: more than %d bytes "
		    "to append to %s", FILTER_RUN_TEXT_MAX, path);
	memset(&w, 0, sizeof(w));
	w.magic = RUN_MAGIC;
	w.kind = RUN_APPEND;
	w.uid = (uint32_t)uid;
	w.gid = (uint32_t)gid;
	run_blob_add(&blob, &len, &cap, home != NULL ? home : "",
	    strlen(home != NULL ? home : "") + 1);
	run_blob_add(&blob, &len, &cap, path, strlen(path) + 1);
	run_blob_add(&blob, &len, &cap, text, textlen);
	w.bloblen = len;
	rc = run_request(r, &w, blob, len, NULL, 0, &rep, &outfd);
	free(blob);
	if (rc < 0)
		return -1;
	close(outfd);
	return 0;
}

static void
run_blob_add(char **blob, size_t *len, size_t *cap, const void *p, size_t n)
{
	size_t want = *len + n;

	if (want > *cap) {
		*cap = want < 4096 ? 4096 : want * 2;
		*blob = xreallocarray(*blob, *cap, 1);
	}
	if (n > 0)
		memcpy(*blob + *len, p, n);
	*len = want;
}

/*
 * Sends one request and waits for its reply.  0 with *rep (rc >= 0) and
 * *out_r (the output memfd, to close), or -1 with err set (also when the
 * runner child answered an error).
 */
static int
run_request(struct filter_runner *r, struct run_wire_req *w,
    const void *blob, size_t bloblen, const void *input, size_t inlen,
    struct run_wire_reply *rep, int *out_r)
{
	int sv[2], in = -1, out, rc;

	*out_r = -1;
	if ((out = run_memfd("vellum-filter-out", blob, bloblen)) < 0)
		return -1;
	if (input != NULL &&
	    (in = run_memfd("vellum-filter-in", input, inlen)) < 0) {
		close(out);
		return -1;
	}
	w->has_input = in >= 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = err_set(ERR_TEMP, "filter programs: socketpair: %s",
		    strerror(errno));
		goto fail;
	}
	rc = run_send(r, w, sv[1], in, out);
	close(sv[1]);
	if (in >= 0)
		close(in);
	in = -1;
	if (rc == 0)
		rc = run_wait(sv[0], r->timeout, rep);
	close(sv[0]);
	if (rc < 0)
		goto fail;
	if (rep->rc < 0) {
		rc = err_set(rep->errclass > ERR_NONE &&
		    rep->errclass <= ERR_CORRUPT ?
		    (enum err_class)rep->errclass : ERR_TEMP, "%s", rep->msg);
		goto fail;
	}
	*out_r = out;
	return 0;
fail:
	if (in >= 0)
		close(in);
	close(out);
	return -1;
}

static int
run_memfd(const char *name, const void *p, size_t n)
{
	int fd, e;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) < 0)
		return err_set(ERR_TEMP, "filter programs: memfd_create: %s",
		    strerror(errno));
	if (run_write_all(fd, p, n) != 0) {
		e = errno;
		close(fd);
		return err_set(ERR_TEMP, "filter programs: writing %zu bytes "
		    "to a memfd: %s", n, strerror(e));
	}
	return fd;
}

static int
run_send(struct filter_runner *r, const struct run_wire_req *w, int reply,
    int in, int out)
{
	union {
		char		buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr	align;
	} u;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	int fds[3], nfd = 0;
	ssize_t n;

	fds[nfd++] = reply;
	fds[nfd++] = out;
	if (in >= 0)
		fds[nfd++] = in;
	memset(&u, 0, sizeof(u));
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)w;
	iov.iov_len = sizeof(*w);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	do
		n = sendmsg(r->ctl, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*w))
		return err_set(ERR_TEMP, "filter programs: the helper is "
		    "gone (%s)", n < 0 ? strerror(errno) : "short send");
	return 0;
}

/*
 * Waits for RUN_STARTED (a request may wait in the helper's queue for
 * as long as a program may run), then for RUN_DONE (the time limit and
 * FILTER_RUN_GRACE).
 */
static int
run_wait(int fd, unsigned secs, struct run_wire_reply *rep)
{
	struct pollfd pfd;
	int64_t deadline;
	int started = 0, n, left;
	ssize_t got;

	deadline = run_now_ms() + ((int64_t)secs + FILTER_RUN_GRACE) * 1000;
	for (;;) {
		left = (int)(deadline - run_now_ms());
		if (left <= 0)
			return err_set(ERR_TEMP, "filter programs: no answer "
			    "from the helper within %u s (%s)", secs +
			    FILTER_RUN_GRACE, started ? "running" :
			    "too many programs running");
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(ERR_TEMP, "filter programs: poll: %s",
			    strerror(errno));
		if (n == 0)
			continue;
		memset(rep, 0, sizeof(*rep));
		got = recv(fd, rep, sizeof(*rep), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof(*rep))
			return err_set(ERR_TEMP, "filter programs: the helper "
			    "went away before answering");
		rep->msg[sizeof(rep->msg) - 1] = '\0';
		if (rep->type == RUN_DONE)
			return 0;
		if (rep->type != RUN_STARTED || started)
			return err_set(ERR_TEMP, "filter programs: a bad "
			    "answer from the helper");
		started = 1;
		deadline = run_now_ms() +
		    ((int64_t)secs + FILTER_RUN_GRACE) * 1000;
	}
}

/* ------------------------------------------------------------------ */
/* The helper (a single-threaded child of the daemon, root).           */

static void
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
	for (;;) {
		pfd[0].fd = h->ctl;
		pfd[0].events = h->running < h->max_procs ? POLLIN : 0;
		pfd[0].revents = 0;
		pfd[1].fd = sfd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		if (poll(pfd, 2, -1) < 0) {
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
}

/* Every runner child kills its program's group and exits. */
static void
run_helper_stop(struct run_helper *h)
{
	unsigned i;

	for (i = 0; i < h->max_procs; i++)
		if (h->slots[i] > 0)
			kill(h->slots[i], SIGTERM);
	while (h->running > 0) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		for (i = 0; i < h->max_procs; i++)
			if (h->slots[i] == pid) {
				h->slots[i] = 0;
				h->running--;
			}
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
	size_t i, old = 0;
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
		a->ngroups = n;
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
	if (gid == 0) {
		snprintf(msg, msgsize, "filter programs: uid %u with group 0 "
		    "(root): refused", (unsigned)uid);
		return ERR_PERM;
	}
	/* The groups of the account (looked up by the helper), or its own. */
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

static void
run_child_exec(struct run_job *j, struct run_wire_reply *rep)
{
	char *buf;
	struct pollfd pfd[3];
	sigset_t set;
	int p[2] = { -1, -1 }, pidfd, sfd, st, exited = 0, n, npfd;
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
			waitpid(pid, NULL, 0);
			_exit(0);
		}
		if (!exited && (pfd[1].revents & POLLIN)) {
			exited = 1;
			/* Whatever it left behind in its group goes too. */
			kill(-pid, SIGKILL);
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
	size_t dlen, alen, i;
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
	if (j->home == NULL || j->home[0] == '\0' || chdir(j->home) != 0)
		if (chdir("/") != 0)
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

static void
run_child_read(struct run_job *j, struct run_wire_reply *rep)
{
	char buf[RUN_PUMP_BUF];
	struct stat st;
	size_t total = 0;
	ssize_t n;
	int fd;

	if (j->home[0] == '\0' || chdir(j->home) != 0)
		(void)chdir("/");
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
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rep->rc = -1;
		rep->errclass = ERR_PERM;
		snprintf(rep->msg, sizeof(rep->msg), "cannot read %.150s: not "
		    "a regular file", j->path);
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

	if (j->home[0] == '\0' || chdir(j->home) != 0)
		(void)chdir("/");
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
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rep->rc = -1;
		rep->errclass = ERR_PERM;
		snprintf(rep->msg, sizeof(rep->msg), "cannot append to "
		    "%.150s: not a regular file", j->path);
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

/* ------------------------------------------------------------------ */

static int
run_reply(int fd, const struct run_wire_reply *rep)
{
	ssize_t n;

	do
		n = send(fd, rep, sizeof(*rep), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*rep) ? 0 : -1;
}

static int64_t
run_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
run_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
run_pread_all(int fd, void *p, size_t n, off_t off)
{
	char *c = p;
	ssize_t r;

	while (n > 0) {
		r = pread(fd, c, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		c += r;
		off += r;
		n -= (size_t)r;
	}
	return 0;
}
