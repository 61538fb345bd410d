/*
 * smtpd.c - vellum-smtpd: the SMTP server ([smtp] 25, [submission] 587
 * with STARTTLS, [smtps] 465 with TLS from the first byte) and the LMTP
 * server ([lmtp]), all delivering through the pipeline (deliver.h).
 *
 * AUTH is offered wherever auth_allowed() says so: over TLS, or also in
 * plaintext with [auth] plaintext = yes; on [smtp] only with auth = yes
 * (port 25 is for other servers; users submit on 587/465).  On
 * [submission] and [smtps], require_auth (default yes) refuses MAIL
 * before AUTH.  LMTP offers neither STARTTLS nor AUTH: its clients are
 * trusted MTAs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/daemon.h"
#include "common/dns.h"
#include "common/error.h"
#include "common/log.h"
#include "common/ratecount.h"
#include "common/worker.h"
#include "filter/run.h"
#include "store/authfail.h"
#include "store/store.h"
#include "store/user.h"
#include "smtpd/parse.h"
#include "smtpd/session.h"

/* "%s": " from IP" past [limits] connections_per_ip (conn_listen()) */
#define SMTPD_REFUSE	"421 4.7.0 Too many connections%s, try again " \
	"later\r\n"

int
main(int argc, char **argv)
{
	static const int plain_svcs[] = { SVC_SMTP, SVC_SUBMISSION };
	static struct config cfg;
	static struct smtp_server srv;
	static struct smtp_listener lsn[SVC_COUNT];
	static struct deliver_config runcf;	/* the filter runner */
	struct store *st;
	struct auth_backend auth_be;
	int smtps, lmtp, any_plain = 0, worker;
	long cores;
	size_t i;

	daemon_setup("vellum-smtpd", argc, argv, &cfg);
	for (i = 0; i < sizeof(plain_svcs) / sizeof(plain_svcs[0]); i++)
		any_plain |= cfg.svc[plain_svcs[i]].enabled;
	smtps = cfg.svc[SVC_SMTPS].enabled;
	lmtp = cfg.svc[SVC_LMTP].enabled;
	if (!any_plain && !smtps && !lmtp)
		fatalx("no [smtp], [submission], [smtps] or [lmtp] section in "
		    "%s: nothing to serve", cfg.path[0] != '\0' ? cfg.path :
		    "the default config");

	if (conn_loop_init(&cfg) == -1)
		fatalx("event loop: %s", err_msg());
	srv.config = &cfg;
	srv.tls_ok = 0;
	if (any_plain || smtps) {
		if (conn_tls_init(&cfg) == 0)
			srv.tls_ok = 1;
		else if (smtps)
			fatalx("TLS: %s", err_msg());
		else
			log_warnx("TLS: %s; STARTTLS is not offered",
			    err_msg());
	}

	for (i = 0; i < SVC_COUNT; i++) {
		lsn[i].srv = &srv;
		lsn[i].svc = (enum config_svc)i;
	}
	for (i = 0; i < sizeof(plain_svcs) / sizeof(plain_svcs[0]); i++)
		if (cfg.svc[plain_svcs[i]].enabled &&
		    conn_listen_service(&cfg, plain_svcs[i], SMTP_LINE_MAX, 0,
		    SMTPD_REFUSE, smtp_session_accept,
		    &lsn[plain_svcs[i]]) == -1)
			fatalx("[%s] listen: %s",
			    config_svc_name(plain_svcs[i]), err_msg());
	if (smtps && conn_listen_service(&cfg, SVC_SMTPS, SMTP_LINE_MAX, 0,
	    SMTPD_REFUSE, smtp_session_accept, &lsn[SVC_SMTPS]) == -1)
		fatalx("[smtps] listen: %s", err_msg());
	if (lmtp && conn_listen_service(&cfg, SVC_LMTP, SMTP_LINE_MAX, 0,
	    SMTPD_REFUSE, smtp_session_accept_lmtp, &srv) == -1)
		fatalx("[lmtp] listen: %s", err_msg());
	/*
	 * While still root and one thread: filters' programs run as their
	 * users.  Before the workers are forked, so that every process
	 * hands its programs to the one helper: [filter] max_procs holds
	 * for the daemon as a whole.  (The helper dies with the first
	 * process; the first process stops it after its workers ended.)
	 */
	if (deliver_runner_start(&runcf, &cfg) == -1)
		log_warnx("[filter]: %s; filters that run programs will "
		    "keep their mail in INBOX", err_msg());
	/* Shared by the workers: made before they are forked. */
	if (smtp_rate_init(&srv) == -1)
		fatalx("[smtpd] client rates: %s", err_msg());
	/*
	 * One process per two cores unless told: each keeps two busy, its
	 * loop and its store-writer thread (commit.c), and each groups its
	 * own commits, so two processes make about twice the commits of
	 * one (load C of tests/bench, 2 cores, load 3: 4,405 msgs/s with
	 * one process, 3,143 with two).  What must hold for all of them
	 * goes through the store: a recipient's delivery lock, which
	 * processes delivering without filters share and a delivery whose
	 * filters run holds alone, the others waiting in turn
	 * (store_lock_take_queued()); the number of filter jobs (commit.c,
	 * a slot); failed logins.
	 */
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	worker = conn_workers(conn_workers_wanted(&cfg, (1u << SVC_SMTP) |
	    (1u << SVC_SUBMISSION) | (1u << SVC_SMTPS) | (1u << SVC_LMTP),
	    cores >= 4 ? (unsigned)(cores / 2) : 1));

	/* Each process opens the store and starts its threads itself. */
	if (store_open(cfg.data_dir, 0, &st) == -1)
		fatalx("store %s: %s", cfg.data_dir, err_msg());
	store_auth_backend_domains(st, &auth_be);
	if (auth_init("smtp", &auth_be, &cfg) == -1)
		fatalx("auth: %s", err_msg());

	srv.store = st;
	store_user_set_full_mark(cfg.quota_full_mark);
	if (deliver_config_init(&srv.deliver, st, &cfg) == -1)
		fatalx("[srs]/[batv] secrets: %s", err_msg());
	srv.deliver.runner = runcf.runner;
	memcpy(srv.deliver.filter_user, runcf.filter_user,
	    sizeof(srv.deliver.filter_user));
	if (worker_pool_new(conn_base(), cfg.filter_workers, cfg.filter_queue,
	    &srv.filter_pool) == -1)
		fatalx("[filter] workers: %s", err_msg());
	if (worker_pool_new(conn_base(), 1, SMTP_SYNC_QUEUE,
	    &srv.sync_pool) == -1)
		fatalx("sync thread: %s", err_msg());
	/* Not nicer than the loop: its sessions wait for its commits. */
	if (worker_pool_new_nice(conn_base(), 1, 1, 0, &srv.writer_pool) == -1)
		fatalx("store writer thread: %s", err_msg());
	/*
	 * The resolver of the DNS checks (dnscheck.c), in each process
	 * (libunbound's thread does not survive fork), only when one is
	 * on: a server without them starts no thread and sends no query.
	 */
	if ((cfg.smtpd_ndnsbl > 0 || cfg.smtpd_reject_unknown_client ||
	    cfg.smtpd_reject_unknown_helo || cfg.smtpd_reject_unknown_sender) &&
	    cfg.svc[SVC_SMTP].enabled && dns_new(conn_base(), &cfg,
	    &srv.dns) == -1)
		fatalx("[dns]: %s", err_msg());
	smtp_learn_start(&srv);
	daemon_serve(&cfg);
	/*
	 * Programs still running are killed, so the pool's threads end: by
	 * the first process only, once its workers ended (a worker that
	 * ends first must not kill the programs of the others' sessions).
	 */
	if (!worker)
		filter_runner_cancel(srv.deliver.runner);
	worker_pool_free(&srv.filter_pool);
	/* before the sync thread: a group that ends joins a sync */
	worker_pool_free(&srv.writer_pool);
	worker_pool_free(&srv.sync_pool);
	filter_runner_stop(&srv.deliver.runner);
	dns_free(&srv.dns);
	store_close(&st);
	ratecount_free(&srv.rate);
	log_info("stopped");
	return 0;
}
