/*
 * session.h - one SMTP or LMTP conversation (RFC 5321, 1870, 2920, 3030,
 * 6152, 2034, 3207, 4954, 6531; LMTP RFC 2033).
 *
 * A state machine INIT -> HELO -> MAIL -> RCPT -> DATA/BDAT -> WAIT ->
 * HELO (plus SASL while an AUTH exchange waits for the client) driven by
 * a command table {verb, states allowed, handler}.  The session lives on
 * a conn (conn.h) and is freed only in the conn's on_close callback.
 *
 * A finished message first takes its recipients' locks and, when a
 * filter is to run, has it run on the filter pool's threads
 * (deliver_begin(), deliver_filter_job()).  Messages ready in one
 * event-loop turn are then delivered together (deliver_run() with
 * several jobs: group commit) from a zero-delay event; each session
 * waits paused (pipelined commands stay queued) until its message is
 * committed, then answers.
 */
#ifndef VELLUM_SMTP_SESSION_H
#define VELLUM_SMTP_SESSION_H

#include "common/config.h"
#include "deliver/deliver.h"

struct conn;
struct ratecount;
struct store;
struct worker_pool;

/* Messages delivered by one deliver_run() call at most. */
#define SMTP_GROUP_MAX		256
/*
 * ... and message bytes (one message alone may be larger): hashing,
 * compressing and the write transaction hold about twice a group's bytes
 * in memory, so many large messages ending at once are stored one group
 * after the other.
 */
#define SMTP_GROUP_BYTES	(16 * 1024 * 1024)
/*
 * Group commits waiting for their sync at most (the thread syncs once for
 * all of them; more commits join the next sync).
 */
#define SMTP_SYNC_QUEUE		4
/* A message whose recipients' locks are held elsewhere is retried... */
#define SMTP_BUSY_RETRY_MS	5
/* ... backing off up to this step ... */
#define SMTP_BUSY_STEP_MAX_MS	250
/* ... at most this for a job in line for a lock (a ticket, commit.c) */
#define SMTP_BUSY_TURN_MS	20
/* ... for at most this long, then answered 451 4.2.0. */
#define SMTP_BUSY_MAX_MS	(60 * 1000)
/* Length of a queue id (hex). */
#define SMTP_ID_LEN		16
/* Longest HELO/EHLO argument kept (for Received:). */
#define SMTP_HELO_MAX		255
/* "525 5.7.13 Account disabled: REASON" (+ a 421): the reply's room. */
#define SMTP_DISABLED_REPLY_MAX	600

/* What every session of the process shares. */
struct dns;

struct smtp_server {
	struct store		*store;
	const struct config	*config;
	int			 tls_ok;	/* STARTTLS can be offered */
	struct deliver_config	 deliver;
	/* runs filters ([filter] workers, queue): never on the loop */
	struct worker_pool	*filter_pool;
	/* one thread: syncs the store after group commits (commit.c) */
	struct worker_pool	*sync_pool;
	/* one thread: the store writer, runs each group commit (commit.c) */
	struct worker_pool	*writer_pool;
	/* the resolver of the DNS checks (dnscheck.c); NULL when none is on */
	struct dns		*dns;
	/*
	 * Per-host counts shared by every process ([smtpd]
	 * client_connection_rate...; rate.c); NULL when all are off.
	 */
	struct ratecount	*rate;
};

/*
 * Makes srv->rate when a rate key is set: in the first process, before
 * the workers are forked, so they share it.  0, -1 (err: TEMP).
 */
int	smtp_rate_init(struct smtp_server *);

/*
 * What each SMTP listener passes to smtp_session_accept(): the server
 * and its service, whose keys decide whether AUTH is offered ([smtp]
 * auth) and whether MAIL needs it first ([submission]/[smtps]
 * require_auth).
 */
struct smtp_listener {
	struct smtp_server	*srv;
	enum config_svc		 svc;
};

/* conn_accept_fn for [smtp], [submission] and [smtps]: arg is a
   struct smtp_listener. */
void	smtp_session_accept(struct conn *, void *arg);
/* conn_accept_fn for [lmtp]: arg is the struct smtp_server. */
void	smtp_session_accept_lmtp(struct conn *, void *arg);

/*
 * Starts draining the store's Spam training queue (learn.c) through the
 * server's runner and filter pool.
 */
void	smtp_learn_start(struct smtp_server *);

#endif
