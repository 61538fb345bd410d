/*
 * prefork.c - the worker processes of a listening daemon (conn_workers(),
 * conn.h).
 *
 * The first process forks n - 1 workers once its listeners are set up and
 * before it opens the store or starts a thread.  It alone accepts: it
 * applies [limits] connections and connections_per_ip to the daemon as a
 * whole, then hands each connection to the process with the fewest open
 * ones (itself included) over a socketpair: SOCK_SEQPACKET, one message
 * per connection with the descriptor in SCM_RIGHTS, the listener's index
 * and a token.  A worker sends the token back when the connection ends;
 * when a worker dies, its socketpair ends and its connections are
 * counted out at once.  Workers close their copies of the listening
 * sockets, so no connection is accepted where the limits are not known.
 *
 * The first process passes SIGTERM, SIGINT and the drain signal on to the
 * workers and holds its loop (conn_hold()) while one runs, so a drained
 * daemon lives as long as the sessions of any of its processes: vellumd
 * watches the first one only.  A worker dies with the first process
 * (PR_SET_PDEATHSIG).  A worker that dies is not replaced: by then the
 * first process has the store open and threads running, which a fork
 * does not carry safely; the others take its share.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "connpriv.h"
#include "error.h"
#include "log.h"
#include "xmalloc.h"

/* After the shutdown grace, workers that still run are killed. */
#define PREFORK_EXTRA_WAIT_MS	5000

/* First process -> worker: one accepted connection (its fd in SCM_RIGHTS). */
struct handoff {
	uint32_t		token;
	uint32_t		listener;	/* index in the listener list */
	uint32_t		salen;
	struct sockaddr_storage	sa;		/* the peer */
};

/* Room for the one descriptor of a hand-off. */
union handoff_ctl {
	char		buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr	align;
};

/* A worker, seen from the first process. */
struct wproc {
	pid_t		 pid;		/* 0 once reaped */
	int		 fd;		/* its socketpair; -1 once it ended */
	struct event	*ev;
	unsigned	 load;		/* handed connections still open */
};

/* A connection handed to a worker, by token. */
struct handed {
	int		 worker;	/* index in wprocs; -1: token free */
	char		 key[CONN_ADDR_MAX];	/* conn_ip_key() */
};

/* The first process. */
static struct wproc	 wprocs[CONN_WORKERS_MAX];
static unsigned		 nwprocs;
static struct handed	*handed;
static uint32_t		 nhanded;	/* tokens made */
static uint32_t		*free_tokens;
static uint32_t		 nfree;
static unsigned		 nremote;	/* open in workers */
static struct event	*chld_ev;

/* A worker. */
static unsigned		 worker_no;	/* 0: the first process */
static int		 up_fd = -1;	/* its socketpair */
static struct event	*up_ev, *flush_ev;
static uint32_t		*pending;	/* tokens not sent yet */
static size_t		 npending, pending_cap;

static void	first_read_cb(evutil_socket_t, short, void *);
static void	chld_cb(evutil_socket_t, short, void *);
static void	worker_read_cb(evutil_socket_t, short, void *);
static void	worker_flush_cb(evutil_socket_t, short, void *);
static void	worker_gone(struct wproc *);
static void	token_release(struct wproc *, uint32_t);
static void	worker_setup(unsigned);
static void	first_setup(void);

int
conn_workers(unsigned n)
{
	pid_t parent = getpid(), pid;
	unsigned i, j;
	int sv[2];

	if (n > CONN_WORKERS_MAX)
		n = CONN_WORKERS_MAX;
	for (i = 1; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		    sv) == -1) {
			log_warn("socketpair for worker %u", i);
			break;
		}
		fflush(stdout);
		fflush(stderr);
		if ((pid = fork()) == -1) {
			log_warn("fork of worker %u", i);
			close(sv[0]);
			close(sv[1]);
			break;
		}
		if (pid == 0) {
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
			    getppid() != parent)
				_exit(1);
			close(sv[0]);
			for (j = 0; j < nwprocs; j++)
				close(wprocs[j].fd);
			nwprocs = 0;
			up_fd = sv[1];
			worker_setup(i);
			return 1;
		}
		close(sv[1]);
		wprocs[nwprocs].pid = pid;
		wprocs[nwprocs].fd = sv[0];
		wprocs[nwprocs].load = 0;
		nwprocs++;
	}
	if (nwprocs > 0)
		first_setup();
	return 0;
}

/* In a new worker: its own loop, no listener, no readiness pipe. */
static void
worker_setup(unsigned no)
{
	const char *v;

	worker_no = no;
	if (event_reinit(conn_base()) == -1)
		fatalx("worker %u: event_reinit failed", no);
	conn_forked();
	/* Only the first process tells vellumd it is ready. */
	if ((v = getenv("VELLUM_READY_FD")) != NULL) {
		if (atoi(v) > 2)
			close(atoi(v));
		unsetenv("VELLUM_READY_FD");
	}
	if (fcntl(up_fd, F_SETFL, fcntl(up_fd, F_GETFL) | O_NONBLOCK) == -1)
		fatal("worker %u: fcntl", no);
	up_ev = event_new(conn_base(), up_fd, EV_READ | EV_PERSIST,
	    worker_read_cb, NULL);
	flush_ev = event_new(conn_base(), up_fd, EV_WRITE, worker_flush_cb,
	    NULL);
	if (up_ev == NULL || flush_ev == NULL || event_add(up_ev, NULL) == -1)
		fatalx("worker %u: cannot watch its socketpair", no);
	log_info("worker %u (pid %ld) started", no, (long)getpid());
}

static void
first_setup(void)
{
	struct wproc *w;
	unsigned i;

	for (i = 0; i < nwprocs; i++) {
		w = &wprocs[i];
		if (fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) |
		    O_NONBLOCK) == -1)
			fatal("fcntl");
		w->ev = event_new(conn_base(), w->fd, EV_READ | EV_PERSIST,
		    first_read_cb, w);
		if (w->ev == NULL || event_add(w->ev, NULL) == -1)
			fatalx("cannot watch the socketpair of a worker");
	}
	chld_ev = evsignal_new(conn_base(), SIGCHLD, chld_cb, NULL);
	if (chld_ev == NULL || evsignal_add(chld_ev, NULL) == -1)
		fatalx("cannot watch SIGCHLD for the workers");
	conn_hold((int)nwprocs);
	log_info("%u worker processes", nwprocs + 1);
}

unsigned
conn_workers_wanted(const struct config *c, unsigned svcs, unsigned dflt)
{
	unsigned n = 0;
	long cores;
	int s;

	for (s = 0; s < SVC_COUNT; s++)
		if ((svcs & (1u << s)) && c->svc[s].enabled &&
		    c->svc[s].workers > n)
			n = c->svc[s].workers;
	if (n == 0 && dflt > 0)
		n = dflt;
	if (n == 0) {
		/* One process per core. */
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores < 1 ? 1 : cores > CONN_WORKERS_MAX ?
		    CONN_WORKERS_MAX : (unsigned)cores;
	}
	return n;
}

int
workers_is_worker(void)
{
	return worker_no != 0;
}

unsigned
workers_remote(void)
{
	return nremote;
}

/* msg set up for one struct handoff and one descriptor. */
static void
handoff_msg(struct msghdr *msg, struct iovec *iov, struct handoff *h,
    union handoff_ctl *ctl)
{
	memset(msg, 0, sizeof(*msg));
	memset(ctl, 0, sizeof(*ctl));
	iov->iov_base = h;
	iov->iov_len = sizeof(*h);
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
	msg->msg_control = ctl->buf;
	msg->msg_controllen = sizeof(ctl->buf);
}

/* Tokens: indexes into handed, reused through a free list. */
static uint32_t
token_get(void)
{
	uint32_t t, i, grow;

	if (nfree == 0) {
		grow = nhanded < 64 ? 64 : nhanded;
		handed = xreallocarray(handed, (size_t)nhanded + grow,
		    sizeof(*handed));
		free_tokens = xreallocarray(free_tokens, (size_t)nhanded +
		    grow, sizeof(*free_tokens));
		for (i = 0; i < grow; i++) {
			handed[nhanded + i].worker = -1;
			free_tokens[nfree++] = nhanded + grow - 1 - i;
		}
		nhanded += grow;
	}
	t = free_tokens[--nfree];
	return t;
}

static void
token_put(uint32_t t)
{
	handed[t].worker = -1;
	free_tokens[nfree++] = t;
}

int
workers_handoff(int fd, const struct sockaddr *sa, socklen_t salen,
    unsigned listener, const char *key, unsigned here)
{
	struct wproc *best = NULL;
	struct handoff h;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union handoff_ctl ctl;
	unsigned i, least = here;
	uint32_t t;

	for (i = 0; i < nwprocs; i++)
		if (wprocs[i].fd != -1 && wprocs[i].load < least) {
			least = wprocs[i].load;
			best = &wprocs[i];
		}
	if (best == NULL || salen > sizeof(h.sa))
		return 0;
	t = token_get();
	memset(&h, 0, sizeof(h));
	h.token = t;
	h.listener = listener;
	h.salen = (uint32_t)salen;
	memcpy(&h.sa, sa, salen);
	handoff_msg(&msg, &iov, &h, &ctl);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(best->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(h)) {
		/* Full or gone: this process serves it. */
		token_put(t);
		return 0;
	}
	handed[t].worker = (int)(best - wprocs);
	snprintf(handed[t].key, sizeof(handed[t].key), "%s", key);
	best->load++;
	nremote++;
	conn_ip_add(key, 1);
	close(fd);
	return 1;
}

static void
token_release(struct wproc *w, uint32_t t)
{
	if (t >= nhanded || handed[t].worker != (int)(w - wprocs)) {
		log_warnx("worker (pid %ld) ended connection %u, which it "
		    "does not have", (long)w->pid, t);
		return;
	}
	conn_ip_add(handed[t].key, -1);
	if (w->load > 0)
		w->load--;
	if (nremote > 0)
		nremote--;
	token_put(t);
}

/* In the first process: tokens of ended connections, or the end. */
static void
first_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wproc *w = arg;
	uint32_t t;
	ssize_t n;

	(void)what;
	for (;;) {
		n = recv(fd, &t, sizeof(t), MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(t)) {
			token_release(w, t);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0) {
			log_warnx("worker (pid %ld): a message of %zd bytes "
			    "ignored", (long)w->pid, n);
			continue;
		}
		worker_gone(w);
		return;
	}
}

/* Its socketpair ended: the worker exited (or is about to). */
static void
worker_gone(struct wproc *w)
{
	uint32_t t;
	int idx = (int)(w - wprocs);

	event_free(w->ev);
	w->ev = NULL;
	close(w->fd);
	w->fd = -1;
	for (t = 0; t < nhanded; t++)
		if (handed[t].worker == idx)
			token_release(w, t);
	w->load = 0;
	conn_hold(-1);
}

static void
chld_cb(evutil_socket_t sig, short what, void *arg)
{
	unsigned i;
	pid_t pid;
	int status;

	(void)sig;
	(void)what;
	(void)arg;
	for (i = 0; i < nwprocs; i++) {
		if (wprocs[i].pid <= 0)
			continue;
		pid = waitpid(wprocs[i].pid, &status, WNOHANG);
		if (pid != wprocs[i].pid && !(pid == -1 && errno == ECHILD))
			continue;
		if (pid > 0 && WIFSIGNALED(status))
			log_warnx("worker (pid %ld) killed by signal %d",
			    (long)wprocs[i].pid, WTERMSIG(status));
		else
			log_info("worker (pid %ld) ended", (long)wprocs[i].pid);
		wprocs[i].pid = 0;
	}
}

void
workers_signal(int sig)
{
	unsigned i;

	for (i = 0; i < nwprocs; i++)
		if (wprocs[i].pid > 0)
			kill(wprocs[i].pid, sig);
}

/* In a worker: connections from the first process, or its end. */
static void
worker_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct handoff h;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union handoff_ctl ctl;
	ssize_t n;
	int cfd;

	(void)what;
	(void)arg;
	for (;;) {
		handoff_msg(&msg, &iov, &h, &ctl);
		n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* The first process is gone: so are we. */
			event_del(up_ev);
			log_info("worker %u: the first process ended",
			    worker_no);
			conn_shutdown();
			return;
		}
		cfd = -1;
		cm = CMSG_FIRSTHDR(&msg);
		if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&cfd, CMSG_DATA(cm), sizeof(int));
		if (n != (ssize_t)sizeof(h) || cfd < 0 ||
		    h.salen > sizeof(h.sa) || (msg.msg_flags & MSG_CTRUNC)) {
			log_warnx("worker %u: a bad hand-off ignored",
			    worker_no);
			if (cfd >= 0)
				close(cfd);
			continue;
		}
		conn_accept_handed(h.listener, cfd,
		    (const struct sockaddr *)&h.sa, (socklen_t)h.salen,
		    h.token);
	}
}

static void
worker_flush(void)
{
	size_t i = 0;
	ssize_t n;

	while (i < npending) {
		n = send(up_fd, &pending[i], sizeof(pending[i]),
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(pending[i])) {
			i++;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		/* The first process is gone: nothing to tell. */
		i = npending;
	}
	memmove(pending, pending + i, (npending - i) * sizeof(*pending));
	npending -= i;
	if (npending > 0)
		event_add(flush_ev, NULL);
}

static void
worker_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	worker_flush();
}

void
workers_closed(uint32_t token)
{
	if (up_fd == -1)
		return;
	if (npending == pending_cap) {
		pending_cap = pending_cap == 0 ? 64 : pending_cap * 2;
		pending = xreallocarray(pending, pending_cap,
		    sizeof(*pending));
	}
	pending[npending++] = token;
	worker_flush();
}

void
workers_end(unsigned grace)
{
	unsigned i, left;
	long waited = 0;
	pid_t pid;
	int status;

	if (chld_ev != NULL) {
		event_free(chld_ev);
		chld_ev = NULL;
	}
	for (i = 0; i < nwprocs; i++)
		if (wprocs[i].pid > 0)
			kill(wprocs[i].pid, SIGTERM);
	for (;;) {
		left = 0;
		for (i = 0; i < nwprocs; i++) {
			if (wprocs[i].pid <= 0)
				continue;
			pid = waitpid(wprocs[i].pid, &status, WNOHANG);
			if (pid == wprocs[i].pid || (pid == -1 &&
			    errno == ECHILD))
				wprocs[i].pid = 0;
			else
				left++;
		}
		if (left == 0)
			break;
		if (waited >= (long)grace * 1000 + PREFORK_EXTRA_WAIT_MS) {
			log_warnx("%u worker(s) still running: killed", left);
			for (i = 0; i < nwprocs; i++)
				if (wprocs[i].pid > 0) {
					kill(wprocs[i].pid, SIGKILL);
					waitpid(wprocs[i].pid, &status, 0);
					wprocs[i].pid = 0;
				}
			break;
		}
		usleep(100 * 1000);
		waited += 100;
	}
	for (i = 0; i < nwprocs; i++) {
		if (wprocs[i].ev != NULL)
			event_free(wprocs[i].ev);
		if (wprocs[i].fd != -1)
			close(wprocs[i].fd);
	}
	nwprocs = 0;
	if (up_ev != NULL)
		event_free(up_ev);
	if (flush_ev != NULL)
		event_free(flush_ev);
	up_ev = flush_ev = NULL;
	if (up_fd != -1)
		close(up_fd);
	up_fd = -1;
	free(handed);
	free(free_tokens);
	free(pending);
	handed = NULL;
	free_tokens = pending = NULL;
	nhanded = nfree = 0;
	npending = pending_cap = 0;
	nremote = 0;
}
