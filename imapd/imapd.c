/*
 * imapd.c - vellum-imapd: the IMAP server (ports 143 with STARTTLS, 993).
 *
 * One event loop per process.  With [imap] workers = N the process binds
 * its listeners, then forks N - 1 workers that accept on the same
 * sockets; each process then opens the store itself (never across fork)
 * and its own store notification listener (store/notify.h), which wakes
 * the sessions idling on a mailbox another process (or this one)
 * changed: sessions never poll the store.  The first process passes
 * SIGTERM and the drain signal (CONN_DRAIN_SIGNAL: a reload replaced
 * imapd) on to the workers and waits for them; a worker ends with it.
 * Each worker holds the first process's loop (conn_hold()) until it has
 * ended, so that a drained imapd lives as long as the sessions of any of
 * its processes: vellumd watches the first one only.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/daemon.h"
#include "common/error.h"
#include "common/log.h"
#include "store/authfail.h"
#include "store/learn.h"
#include "store/notify.h"
#include "store/store.h"
#include "store/user.h"
#include "imapd/core.h"
#include "imapd/imapd.h"

#define IMAPD_REFUSE	"* BYE [UNAVAILABLE] Too many connections, try " \
	"again later.\r\n"

/* The most worker processes ([imap] workers). */
#define IMAPD_WORKERS_MAX	64
/* After the grace period, workers that still run are killed. */
#define IMAPD_WORKER_EXTRA_WAIT	5

static pid_t	 imapd_workers[IMAPD_WORKERS_MAX];
static unsigned	 imapd_nworkers;

static void	imapd_notify_cb(evutil_socket_t, short, void *);
static void	imapd_notify_one(uint32_t, void *);
static void	imapd_fork_workers(unsigned, int *);
static void	imapd_signal_cb(evutil_socket_t, short, void *);
static void	imapd_child_cb(evutil_socket_t, short, void *);
static void	imapd_reap_workers(unsigned);

static void
imapd_notify_one(uint32_t mailbox_id, void *arg)
{
	imap_session_notify(arg, mailbox_id);
}

static void
imapd_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_server *srv = arg;

	(void)fd;
	(void)what;
	if (store_notify_drain(srv->notify, imapd_notify_one, srv) == -1)
		log_warnx("store notifications: %s", err_msg());
}

/*
 * Forks n - 1 workers after the listeners are bound.  *worker_r: 1 in a
 * worker.  A worker dies with the first process (PR_SET_PDEATHSIG).
 */
static void
imapd_fork_workers(unsigned n, int *worker_r)
{
	pid_t parent = getpid(), pid;
	unsigned i;

	*worker_r = 0;
	for (i = 1; i < n && i < IMAPD_WORKERS_MAX; i++) {
		if ((pid = fork()) == -1) {
			log_warn("fork of worker %u", i);
			break;
		}
		if (pid == 0) {
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
			    getppid() != parent)
				_exit(1);
			if (event_reinit(conn_base()) == -1)
				fatalx("worker %u: event_reinit failed", i);
			imapd_nworkers = 0;
			*worker_r = 1;
			log_info("worker %u (pid %ld) started", i,
			    (long)getpid());
			return;
		}
		imapd_workers[imapd_nworkers++] = pid;
	}
}

/* SIGCHLD in the first process: collects workers that ended. */
static void
imapd_child_cb(evutil_socket_t sig, short what, void *arg)
{
	unsigned i;
	pid_t pid;
	int status;

	(void)sig;
	(void)what;
	(void)arg;
	for (i = 0; i < imapd_nworkers; i++) {
		if (imapd_workers[i] <= 0)
			continue;
		pid = waitpid(imapd_workers[i], &status, WNOHANG);
		if (pid != imapd_workers[i] && !(pid == -1 && errno == ECHILD))
			continue;
		log_info("worker (pid %ld) ended", (long)imapd_workers[i]);
		imapd_workers[i] = 0;
		conn_hold(-1);
	}
}

/*
 * SIGTERM/SIGINT in the first process: the workers stop too; the drain
 * signal: they drain too.
 */
static void
imapd_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	unsigned i;

	(void)what;
	(void)arg;
	for (i = 0; i < imapd_nworkers; i++)
		if (imapd_workers[i] > 0)
			kill(imapd_workers[i], (int)sig);
}

/* Waits for the workers (after the first process's loop ended). */
static void
imapd_reap_workers(unsigned grace)
{
	unsigned i, left, waited = 0;
	pid_t pid;
	int status;

	for (i = 0; i < imapd_nworkers; i++)
		if (imapd_workers[i] > 0)
			kill(imapd_workers[i], SIGTERM);
	for (;;) {
		left = 0;
		for (i = 0; i < imapd_nworkers; i++) {
			if (imapd_workers[i] <= 0)
				continue;
			pid = waitpid(imapd_workers[i], &status, WNOHANG);
			if (pid == imapd_workers[i] || (pid == -1 &&
			    errno == ECHILD))
				imapd_workers[i] = 0;
			else
				left++;
		}
		if (left == 0)
			return;
		if (waited >= (grace + IMAPD_WORKER_EXTRA_WAIT) * 10) {
			log_warnx("%u worker(s) still running: killed", left);
			for (i = 0; i < imapd_nworkers; i++)
				if (imapd_workers[i] > 0) {
					kill(imapd_workers[i], SIGKILL);
					waitpid(imapd_workers[i], &status, 0);
					imapd_workers[i] = 0;
				}
			return;
		}
		usleep(100 * 1000);
		waited++;
	}
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct imap_server srv;
	struct store *st;
	struct auth_backend auth_be;
	struct event *sig_term = NULL, *sig_int = NULL, *sig_drain = NULL;
	struct event *sig_chld = NULL;
	unsigned workers;
	int plain, implicit, fd, is_worker = 0;

	daemon_setup("vellum-imapd", argc, argv, &cfg);
	plain = cfg.svc[SVC_IMAP].enabled;
	implicit = cfg.svc[SVC_IMAPS].enabled;
	if (!plain && !implicit)
		fatalx("no [imap] or [imaps] section in %s: nothing to serve",
		    cfg.path[0] != '\0' ? cfg.path : "the default config");
	imap_session_idle_timeout = cfg.imap_idle_timeout;

	if (conn_loop_init(&cfg) == -1)
		fatalx("event loop: %s", err_msg());
	memset(&srv, 0, sizeof(srv));
	srv.config = &cfg;
	if (conn_tls_init(&cfg) == 0)
		srv.tls_ok = 1;
	else if (implicit)
		fatalx("TLS: %s", err_msg());
	else
		log_warnx("TLS: %s; STARTTLS is not offered", err_msg());
	if (plain && conn_listen_service(&cfg, SVC_IMAP, IMAP_LINE_MAX, 1,
	    IMAPD_REFUSE, imap_session_accept, &srv) == -1)
		fatalx("[imap] listen: %s", err_msg());
	if (implicit && conn_listen_service(&cfg, SVC_IMAPS, IMAP_LINE_MAX,
	    1, IMAPD_REFUSE, imap_session_accept, &srv) == -1)
		fatalx("[imaps] listen: %s", err_msg());

	workers = 1;
	if (plain && cfg.svc[SVC_IMAP].workers > workers)
		workers = cfg.svc[SVC_IMAP].workers;
	if (implicit && cfg.svc[SVC_IMAPS].workers > workers)
		workers = cfg.svc[SVC_IMAPS].workers;
	imapd_fork_workers(workers, &is_worker);
	if (!is_worker && imapd_nworkers > 0) {
		sig_term = evsignal_new(conn_base(), SIGTERM, imapd_signal_cb,
		    NULL);
		sig_int = evsignal_new(conn_base(), SIGINT, imapd_signal_cb,
		    NULL);
		sig_drain = evsignal_new(conn_base(), CONN_DRAIN_SIGNAL,
		    imapd_signal_cb, NULL);
		sig_chld = evsignal_new(conn_base(), SIGCHLD, imapd_child_cb,
		    NULL);
		if (sig_term == NULL || sig_int == NULL || sig_drain == NULL ||
		    sig_chld == NULL || evsignal_add(sig_term, NULL) == -1 ||
		    evsignal_add(sig_int, NULL) == -1 ||
		    evsignal_add(sig_drain, NULL) == -1 ||
		    evsignal_add(sig_chld, NULL) == -1)
			fatalx("cannot watch signals for the workers");
		conn_hold((int)imapd_nworkers);
		/* One may have ended before SIGCHLD was watched. */
		imapd_child_cb(SIGCHLD, 0, NULL);
		log_info("%u worker processes", imapd_nworkers + 1);
	}

	/* Each process opens the store itself, after the fork. */
	if (store_open(cfg.data_dir, 0, &st) == -1)
		fatalx("store %s: %s", cfg.data_dir, err_msg());
	srv.store = st;
	/* An EXPUNGE stops the grace clock below the full mark. */
	store_user_set_full_mark(cfg.quota_full_mark);
	/* moves into and out of Spam feed the training queue */
	store_learn_enable(st, cfg.filter_learn);
	store_auth_backend(st, &auth_be);
	if (auth_init("imap", &auth_be, &cfg) == -1)
		fatalx("auth: %s", err_msg());
	if (store_notify_listen(st, &srv.notify, &fd) == -1)
		fatalx("store notifications: %s", err_msg());
	srv.notify_ev = event_new(conn_base(), fd, EV_READ | EV_PERSIST,
	    imapd_notify_cb, &srv);
	if (srv.notify_ev == NULL || event_add(srv.notify_ev, NULL) == -1)
		fatalx("store notifications: cannot watch the socket");
	daemon_serve(&cfg);
	if (sig_term != NULL)
		event_free(sig_term);
	if (sig_int != NULL)
		event_free(sig_int);
	if (sig_drain != NULL)
		event_free(sig_drain);
	if (sig_chld != NULL)
		event_free(sig_chld);
	if (!is_worker)
		imapd_reap_workers(cfg.shutdown_grace);
	event_free(srv.notify_ev);
	store_notify_close(&srv.notify);
	store_close(&st);
	log_info("stopped");
	return 0;
}
