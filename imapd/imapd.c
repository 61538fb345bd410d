/*
 * imapd.c - vellum-imapd: the IMAP server (ports 143 with STARTTLS, 993).
 *
 * One event loop per process.  With [imap] workers = N (default: one
 * per core) the process sets up its listeners, then forks N - 1 workers
 * (conn_workers(): the first process accepts and hands the connections
 * out); each process then opens the store itself (never across fork) and
 * its own store notification listener (store/notify.h), which wakes the
 * sessions idling on a mailbox another process (or this one) changed:
 * sessions never poll the store.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
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

/* "%s": " from IP" past [limits] connections_per_ip (conn_listen()) */
#define IMAPD_REFUSE	"* BYE [UNAVAILABLE] Too many connections%s, try " \
	"again later.\r\n"

static void	imapd_notify_cb(evutil_socket_t, short, void *);
static void	imapd_notify_one(uint32_t, void *);

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

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct imap_server srv;
	struct store *st;
	struct auth_backend auth_be;
	int plain, implicit, fd;

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

	conn_workers(conn_workers_wanted(&cfg, (1u << SVC_IMAP) |
	    (1u << SVC_IMAPS), 0));

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
	event_free(srv.notify_ev);
	store_notify_close(&srv.notify);
	store_close(&st);
	log_info("stopped");
	return 0;
}
