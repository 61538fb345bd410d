/*
 * pop3d.c - vellum-pop3d: the POP3 server (ports 110 with STLS, 995).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/daemon.h"
#include "common/error.h"
#include "common/log.h"
#include "store/authfail.h"
#include "store/store.h"
#include "store/user.h"
#include "pop3d/parse.h"
#include "pop3d/session.h"

/* "%s": " from IP" past [limits] connections_per_ip (conn_listen()) */
#define POP3D_REFUSE	"-ERR [SYS/TEMP] too many connections%s, try again " \
	"later\r\n"

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct pop3_server srv;
	struct store *st;
	struct auth_backend auth_be;
	int plain, implicit;

	daemon_setup("vellum-pop3d", argc, argv, &cfg);
	plain = cfg.svc[SVC_POP3].enabled;
	implicit = cfg.svc[SVC_POP3S].enabled;
	if (!plain && !implicit)
		fatalx("no [pop3] or [pop3s] section in %s: nothing to serve",
		    cfg.path[0] != '\0' ? cfg.path : "the default config");

	if (conn_loop_init(&cfg) == -1)
		fatalx("event loop: %s", err_msg());
	srv.config = &cfg;
	srv.tls_ok = 0;
	if (conn_tls_init(&cfg) == 0)
		srv.tls_ok = 1;
	else if (implicit)
		fatalx("TLS: %s", err_msg());
	else
		log_warnx("TLS: %s; STLS is not offered", err_msg());

	if (plain && conn_listen_service(&cfg, SVC_POP3, POP3_LINE_MAX, 1,
	    POP3D_REFUSE, pop3_session_accept, &srv) == -1)
		fatalx("[pop3] listen: %s", err_msg());
	if (implicit && conn_listen_service(&cfg, SVC_POP3S, POP3_LINE_MAX,
	    1, POP3D_REFUSE, pop3_session_accept, &srv) == -1)
		fatalx("[pop3s] listen: %s", err_msg());
	conn_workers(conn_workers_wanted(&cfg, (1u << SVC_POP3) |
	    (1u << SVC_POP3S), 0));

	/* Each process opens the store and starts its threads itself. */
	if (store_open(cfg.data_dir, 0, &st) == -1)
		fatalx("store %s: %s", cfg.data_dir, err_msg());
	srv.store = st;
	/* DELE at QUIT stops the grace clock below the full mark. */
	store_user_set_full_mark(cfg.quota_full_mark);
	store_auth_backend(st, &auth_be);
	if (auth_init("pop", &auth_be, &cfg) == -1)
		fatalx("auth: %s", err_msg());
	daemon_serve(&cfg);
	store_close(&st);
	log_info("stopped");
	return 0;
}
