/*
 * run.c - see run.h; the requester's half (the helper's is runhelper.c).
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

static int	run_request(struct filter_runner *, struct run_wire_req *,
		    const void *blob, size_t bloblen, const void *input,
		    size_t inlen, struct run_wire_reply *rep, int *out_r);
static int	run_send(struct filter_runner *, const struct run_wire_req *,
		    int reply, int in, int out);
static void	run_gone(struct filter_runner *);
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
		/*
		 * The account the daemon drops to owns the store: a program
		 * running as it could read every user's mail.
		 */
		if (cfg->daemon_user != NULL && cfg->daemon_user[0] != '\0') {
			errno = 0;
			if ((pw = getpwnam(cfg->daemon_user)) == NULL)
				return err_set(ERR_NOTFOUND, "filter programs: "
				    "the user '%s' ([daemon] user) does not "
				    "exist", cfg->daemon_user);
			if (pw->pw_uid != 0) {
				h.have_daemon = 1;
				h.daemon_uid = pw->pw_uid;
				h.daemon_gid = pw->pw_gid;
			}
			if (h.have_daemon && (h.fb_uid == h.daemon_uid ||
			    (h.daemon_gid != 0 && h.fb_gid == h.daemon_gid)))
				return err_set(ERR_INVALID, "filter programs: "
				    "the [filter] user '%s' is the daemon's own "
				    "account or in its group (user = %s), which "
				    "owns the store: name another one", h.fb_name,
				    cfg->daemon_user);
		}
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
		;	/* ECHILD: run_gone() reaped it */
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

/*
 * The helper died (killed: the OOM killer, an admin): said once, with
 * how, by the first requester that finds it gone (it is reaped then);
 * it cannot come back (only root may fork it), so every program fails
 * from now on and filters keep their mail in INBOX.
 */
static void
run_gone(struct filter_runner *r)
{
	char how[64];
	int st;
	pid_t got;

	if (__atomic_exchange_n(&r->gone, 1, __ATOMIC_SEQ_CST) != 0)
		return;
	do
		got = waitpid(r->pid, &st, WNOHANG);
	while (got < 0 && errno == EINTR);
	if (got == r->pid && WIFSIGNALED(st))
		snprintf(how, sizeof(how), "killed by signal %d",
		    WTERMSIG(st));
	else if (got == r->pid && WIFEXITED(st))
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(st));
	else
		snprintf(how, sizeof(how), "its socket closed");
	log_warnx("filter programs: the helper (pid %d) died (%s): programs "
	    "of filters cannot run until a restart; their mail is kept in "
	    "INBOX", (int)r->pid, how);
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
	if (n != (ssize_t)sizeof(*w)) {
		int e = errno;

		if (n < 0 && (e == EPIPE || e == ECONNRESET))
			run_gone(r);
		return err_set(ERR_TEMP, "filter programs: the helper is "
		    "gone (%s)", n < 0 ? strerror(e) : "short send");
	}
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

int
run_reply(int fd, const struct run_wire_reply *rep)
{
	ssize_t n;

	do
		n = send(fd, rep, sizeof(*rep), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*rep) ? 0 : -1;
}

int64_t
run_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
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

int
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
