/*
 * mta.c - vellum-mta: the outbound delivery agent.  One event loop that
 * delivers the store's queue to other servers (runner.h); started by
 * vellumd when the config has an [mta] section, or alone with -c.  It
 * listens on no port.  It also runs the store's optimize job in a child
 * (mta/optimize.h): `vellum-mta --store-optimize DATA_DIR LOG` is that
 * child.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/conn.h"
#include "common/daemon.h"
#include "common/error.h"
#include "common/log.h"
#include "mta/optimize.h"
#include "mta/runner.h"
#include "store/store.h"
#include "store/user.h"

int
main(int argc, char **argv)
{
	static struct config cfg;
	struct store *st;

	if (argc == 4 && strcmp(argv[1], MTA_OPTIMIZE_ARG) == 0)
		return mta_optimize_child(argv[2], argv[3]);
	daemon_setup("vellum-mta", argc, argv, &cfg);
	if (!cfg.mta_enabled)
		fatalx("no [mta] section in %s: outbound delivery is off",
		    cfg.path[0] != '\0' ? cfg.path : "the default config");
	if (store_open(cfg.data_dir, 0, &st) == -1)
		fatalx("store %s: %s", cfg.data_dir, err_msg());
	store_user_set_full_mark(cfg.quota_full_mark);
	if (conn_loop_init(&cfg) == -1)
		fatalx("event loop: %s", err_msg());
	/* Outbound connections live within the descriptor limit too. */
	cfg.mta_connections = conn_fd_limit("[mta] connections",
	    cfg.mta_connections);
	if (cfg.mta_dest_concurrency > cfg.mta_connections)
		cfg.mta_dest_concurrency = cfg.mta_connections;
	if (mta_runner_start(conn_base(), st, &cfg) == -1)
		fatalx("delivery agent: %s", err_msg());
	if (mta_optimize_start(conn_base(), st, cfg.data_dir) == -1)
		fatalx("store optimize job: %s", err_msg());
	log_info("delivering the queue%s%s", cfg.mta_relayhost[0] != '\0' ?
	    " through " : " to MX hosts", cfg.mta_relayhost);
	if (daemon_drop_privileges(&cfg) == -1)
		fatalx("dropping privileges: %s", err_msg());
	log_info("ready");
	if (conn_loop_run() == -1)
		log_warnx("event loop: %s", err_msg());
	mta_optimize_stop();
	mta_runner_stop();
	conn_loop_free();
	store_close(&st);
	log_info("stopped");
	return 0;
}
