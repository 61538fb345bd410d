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
 * (PR_SET_PDEATHSIG).
 *
 * A worker that dies is replaced, but not by the first process: by then
 * it has the store open and threads running, which a fork does not carry
 * safely, and it may have given up root (a worker made again from the
 * binary could not read the TLS key).  So with the workers it forks a
 * spawner, a copy of itself as it is then (root, the configuration and
 * TLS contexts loaded, one thread, no store), which does nothing but fork
 * a new worker when the first process asks, and send it its end of the
 * new socketpair.  A worker that dies within SPAWN_MIN_MS of its start is
 * replaced only after that much time (no fork loop), none while the
 * daemon shuts down or drains.  The spawner ends with the first process.
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
/* A worker that dies this soon after its start is replaced this late. */
#define SPAWN_MIN_MS		1000

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

/* First process -> spawner: make worker slot (its index in wprocs). */
struct spawn_req {
	uint32_t		slot;
};

/* Spawner -> first process: made, with its socketpair end in SCM_RIGHTS. */
struct spawn_reply {
	uint32_t		slot;
	int32_t			pid;
};

/* A worker, seen from the first process. */
struct wproc {
	pid_t		 pid;		/* 0 once reaped */
	int		 fd;		/* its socketpair; -1 once it ended */
	int		 child;		/* forked here, not by the spawner */
	int		 spawning;	/* asked the spawner for a new one */
	struct event	*ev;
	struct event	*respawn_ev;	/* a replacement waits for time */
	struct timespec	 started;
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
static pid_t		 reap[CONN_WORKERS_MAX];	/* ended workers of ours
						   not reaped yet */
static int		 spawn_fd = -1;	/* the spawner's socketpair */
static pid_t		 spawn_pid;
static struct event	*spawn_ev;

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
static int	spawner_fork(pid_t);
static int	spawner_main(int, pid_t);
static void	spawn_read_cb(evutil_socket_t, short, void *);
static void	respawn_cb(evutil_socket_t, short, void *);
static void	wproc_watch(struct wproc *);
static void	worker_replace(struct wproc *);
static ssize_t	fd_send(int, void *, size_t, int, int);
static ssize_t	fd_recv(int, void *, size_t, int *);

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
		wprocs[nwprocs].child = 1;
		wprocs[nwprocs].load = 0;
		clock_gettime(CLOCK_MONOTONIC, &wprocs[nwprocs].started);
		nwprocs++;
	}
	if (nwprocs > 0 && spawner_fork(parent) == 1)
		return 1;	/* a replacement worker, made by the spawner */
	if (nwprocs > 0)
		first_setup();
	return 0;
}

/*
 * Forks the spawner.  Returns 0 in the first process (also when there is
 * no spawner: workers that die are then not replaced), 1 in a worker the
 * spawner made later.
 */
static int
spawner_fork(pid_t parent)
{
	unsigned j;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for the spawner");
		return 0;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_warn("fork of the spawner: workers that end are not "
		    "replaced");
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	if (pid == 0) {
		prctl(PR_SET_NAME, "spawner");
		close(sv[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			_exit(1);
		for (j = 0; j < nwprocs; j++)
			close(wprocs[j].fd);
		nwprocs = 0;
		return spawner_main(sv[1], getpid());
	}
	close(sv[1]);
	spawn_fd = sv[0];
	spawn_pid = pid;
	return 0;
}

/*
 * The spawner: one thread, blocking.  Returns only in a new worker (1);
 * the spawner itself exits when the first process's end closes.
 */
static int
spawner_main(int fd, pid_t self)
{
	struct spawn_req req;
	struct spawn_reply rep;
	struct sigaction sa;
	const char *v;
	ssize_t n;
	pid_t pid;
	int sv[2];

	/*
	 * No listener, no readiness pipe; its children are reaped at once.
	 * The epoll instance is shared with the first process until
	 * event_reinit(): removing the listeners before would remove them
	 * from the first process's loop.
	 */
	if (event_reinit(conn_base()) == -1)
		fatalx("spawner: event_reinit failed");
	conn_forked();
	if ((v = getenv("VELLUM_READY_FD")) != NULL) {
		if (atoi(v) > 2)
			close(atoi(v));
		unsetenv("VELLUM_READY_FD");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = SA_NOCLDWAIT;
	sigaction(SIGCHLD, &sa, NULL);
	/* The first process decides when to stop: it closes our socket. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	for (;;) {
		n = recv(fd, &req, sizeof(req), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(req) || req.slot >= CONN_WORKERS_MAX)
			_exit(0);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
		    sv) == -1) {
			log_warn("spawner: socketpair");
			continue;
		}
		if ((pid = fork()) == -1) {
			log_warn("spawner: fork");
			close(sv[0]);
			close(sv[1]);
			continue;
		}
		if (pid == 0) {
			close(fd);
			close(sv[0]);
			sa.sa_flags = 0;
			sigaction(SIGCHLD, &sa, NULL);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGHUP, SIG_DFL);
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
			    getppid() != self)
				_exit(1);
			up_fd = sv[1];
			worker_setup(req.slot + 1);
			return 1;
		}
		close(sv[1]);
		rep.slot = req.slot;
		rep.pid = (int32_t)pid;
		if (fd_send(fd, &rep, sizeof(rep), sv[0], 0) !=
		    (ssize_t)sizeof(rep)) {
			/* The first process is gone: so is the worker. */
			kill(pid, SIGKILL);
			_exit(0);
		}
		close(sv[0]);
	}
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

/* The first process watches w's socketpair. */
static void
wproc_watch(struct wproc *w)
{
	if (fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK) == -1)
		fatal("fcntl");
	w->ev = event_new(conn_base(), w->fd, EV_READ | EV_PERSIST,
	    first_read_cb, w);
	if (w->ev == NULL || event_add(w->ev, NULL) == -1)
		fatalx("cannot watch the socketpair of a worker");
}

static void
first_setup(void)
{
	unsigned i;

	for (i = 0; i < nwprocs; i++)
		wproc_watch(&wprocs[i]);
	if (spawn_fd != -1) {
		spawn_ev = event_new(conn_base(), spawn_fd,
		    EV_READ | EV_PERSIST, spawn_read_cb, NULL);
		if (spawn_ev == NULL || event_add(spawn_ev, NULL) == -1)
			fatalx("cannot watch the spawner's socketpair");
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

/* msg set up for len bytes at buf and one descriptor. */
static void
fd_msg(struct msghdr *msg, struct iovec *iov, void *buf, size_t len,
    union handoff_ctl *ctl)
{
	memset(msg, 0, sizeof(*msg));
	memset(ctl, 0, sizeof(*ctl));
	iov->iov_base = buf;
	iov->iov_len = len;
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
	msg->msg_control = ctl->buf;
	msg->msg_controllen = sizeof(ctl->buf);
}

/* Sends len bytes at buf and descriptor fd: sendmsg()'s result. */
static ssize_t
fd_send(int sock, void *buf, size_t len, int fd, int flags)
{
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union handoff_ctl ctl;

	fd_msg(&msg, &iov, buf, len, &ctl);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
}

/*
 * Receives up to len bytes into buf without waiting, and the descriptor
 * that came with them (*fd_r; -1: none, or cut off): recvmsg()'s result.
 */
static ssize_t
fd_recv(int sock, void *buf, size_t len, int *fd_r)
{
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union handoff_ctl ctl;
	ssize_t n;

	*fd_r = -1;
	fd_msg(&msg, &iov, buf, len, &ctl);
	n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return n;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd_r, CMSG_DATA(cm), sizeof(int));
	if ((msg.msg_flags & MSG_CTRUNC) && *fd_r >= 0) {
		close(*fd_r);
		*fd_r = -1;
	}
	return n;
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
	if (fd_send(best->fd, &h, sizeof(h), fd, MSG_DONTWAIT) !=
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
	if (!w->child)
		/*
		 * Not ours to reap (the spawner does): its pid stays until a
		 * new one takes the slot, so that workers_end() waits for it.
		 */
		log_info("worker (pid %ld) ended", (long)w->pid);
	else if (w->pid > 0) {
		/* Its slot is for the next one: reaped from reap[]. */
		reap[idx] = w->pid;
		w->pid = 0;
	}
	worker_replace(w);
}

/*
 * Asks the spawner for a worker in w's place: at once, or when w has
 * lived less than SPAWN_MIN_MS, that much later.
 */
static void
worker_replace(struct wproc *w)
{
	struct spawn_req req;
	struct timespec now;
	struct timeval tv;
	long lived;

	if (spawn_fd == -1 || conn_stopping() || w->spawning)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	lived = (now.tv_sec - w->started.tv_sec) * 1000 +
	    (now.tv_nsec - w->started.tv_nsec) / 1000000;
	if (lived < SPAWN_MIN_MS && (w->respawn_ev == NULL ||
	    !evtimer_pending(w->respawn_ev, NULL))) {
		if (w->respawn_ev == NULL)
			w->respawn_ev = evtimer_new(conn_base(), respawn_cb, w);
		tv.tv_sec = 0;
		tv.tv_usec = (SPAWN_MIN_MS - lived) * 1000;
		if (w->respawn_ev != NULL)
			evtimer_add(w->respawn_ev, &tv);
		return;
	}
	if (lived < SPAWN_MIN_MS)
		return;
	req.slot = (uint32_t)(w - wprocs);
	if (send(spawn_fd, &req, sizeof(req), MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(req)) {
		log_warn("cannot ask the spawner for a worker");
		return;
	}
	w->spawning = 1;
}

static void
respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wproc *w = arg;

	(void)fd;
	(void)what;
	if (w->fd == -1)
		worker_replace(w);
}

/* In the first process: a new worker from the spawner, or its end. */
static void
spawn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_reply rep;
	struct wproc *w;
	ssize_t n;
	int wfd;

	(void)what;
	(void)arg;
	for (;;) {
		n = fd_recv(fd, &rep, sizeof(rep), &wfd);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			log_warnx("the spawner ended: workers that end are "
			    "no longer replaced");
			event_free(spawn_ev);
			spawn_ev = NULL;
			close(spawn_fd);
			spawn_fd = -1;
			return;
		}
		if (n != (ssize_t)sizeof(rep) || wfd < 0 ||
		    rep.slot >= nwprocs || wprocs[rep.slot].fd != -1 ||
		    rep.pid <= 0) {
			log_warnx("the spawner sent a bad reply: ignored");
			if (wfd >= 0)
				close(wfd);
			continue;
		}
		w = &wprocs[rep.slot];
		w->pid = (pid_t)rep.pid;
		w->fd = wfd;
		w->child = 0;
		w->spawning = 0;
		w->load = 0;
		clock_gettime(CLOCK_MONOTONIC, &w->started);
		wproc_watch(w);
		conn_hold(1);
		log_info("worker %u (pid %ld) replaces the one that ended",
		    rep.slot + 1, (long)w->pid);
		/* Asked to stop meanwhile: it stops too. */
		if (conn_stopping())
			kill(w->pid, SIGTERM);
	}
}

/* Reaps pid if it ended: 1 (logged how), else 0. */
static int
worker_reap(pid_t pid)
{
	pid_t r;
	int status;

	r = waitpid(pid, &status, WNOHANG);
	if (r != pid && !(r == -1 && errno == ECHILD))
		return 0;
	if (r > 0 && WIFSIGNALED(status))
		log_warnx("worker (pid %ld) killed by signal %d", (long)pid,
		    WTERMSIG(status));
	else
		log_info("worker (pid %ld) ended", (long)pid);
	return 1;
}

static void
chld_cb(evutil_socket_t sig, short what, void *arg)
{
	unsigned i;
	int status;

	(void)sig;
	(void)what;
	(void)arg;
	if (spawn_pid > 0 && waitpid(spawn_pid, &status, WNOHANG) ==
	    spawn_pid) {
		log_warnx("the spawner (pid %ld) ended", (long)spawn_pid);
		spawn_pid = 0;
	}
	for (i = 0; i < CONN_WORKERS_MAX; i++)
		if (reap[i] > 0 && worker_reap(reap[i]))
			reap[i] = 0;
	for (i = 0; i < nwprocs; i++)
		if (wprocs[i].pid > 0 && wprocs[i].child &&
		    worker_reap(wprocs[i].pid))
			wprocs[i].pid = 0;
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
	ssize_t n;
	int cfd;

	(void)what;
	(void)arg;
	for (;;) {
		n = fd_recv(fd, &h, sizeof(h), &cfd);
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
		if (n != (ssize_t)sizeof(h) || cfd < 0 ||
		    h.salen > sizeof(h.sa)) {
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

/* Whether worker w still runs (one of ours is reaped when it ended). */
static int
worker_alive(struct wproc *w)
{
	if (w->pid <= 0)
		return 0;
	if (w->child ? worker_reap(w->pid) : kill(w->pid, 0) == -1 &&
	    errno == ESRCH) {
		w->pid = 0;
		return 0;
	}
	return 1;
}

void
workers_end(unsigned grace)
{
	unsigned i, left;
	long waited = 0;
	int status;

	if (chld_ev != NULL) {
		event_free(chld_ev);
		chld_ev = NULL;
	}
	/* No new worker (the spawner goes once the workers are gone). */
	if (spawn_ev != NULL)
		event_free(spawn_ev);
	spawn_ev = NULL;
	for (i = 0; i < nwprocs; i++) {
		if (wprocs[i].respawn_ev != NULL)
			event_free(wprocs[i].respawn_ev);
		wprocs[i].respawn_ev = NULL;
		if (wprocs[i].pid > 0)
			kill(wprocs[i].pid, SIGTERM);
	}
	for (;;) {
		left = 0;
		for (i = 0; i < nwprocs; i++)
			if (worker_alive(&wprocs[i]))
				left++;
		if (left == 0)
			break;
		if (waited >= (long)grace * 1000 + PREFORK_EXTRA_WAIT_MS) {
			log_warnx("%u worker(s) still running: killed", left);
			for (i = 0; i < nwprocs; i++)
				if (wprocs[i].pid > 0) {
					kill(wprocs[i].pid, SIGKILL);
					if (wprocs[i].child)
						waitpid(wprocs[i].pid, &status,
						    0);
					wprocs[i].pid = 0;
				}
			break;
		}
		usleep(100 * 1000);
		waited += 100;
	}
	for (i = 0; i < CONN_WORKERS_MAX; i++)
		if (reap[i] > 0) {
			waitpid(reap[i], &status, 0);
			reap[i] = 0;
		}
	/*
	 * The spawner ends when its socket closes; only now, so that the
	 * workers it made were its children (reaped at once) to the end.
	 */
	if (spawn_fd != -1)
		close(spawn_fd);
	spawn_fd = -1;
	if (spawn_pid > 0) {
		waitpid(spawn_pid, &status, 0);
		spawn_pid = 0;
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
