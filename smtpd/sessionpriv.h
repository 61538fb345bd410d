/*
 * sessionpriv.h - what session.c (the conversation) and commit.c (the
 * delivery of finished messages: locks, filters, group commit, answers)
 * share.  Not a public header: see session.h.
 */
#ifndef VELLUM_SMTP_SESSIONPRIV_H
#define VELLUM_SMTP_SESSIONPRIV_H

#include <sys/time.h>

#include "common/config.h"
#include "common/conn.h"
#include "common/dns.h"
#include "deliver/deliver.h"
#include "smtpd/parse.h"
#include "smtpd/session.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"

struct auth;
struct auth_check;
struct event;
struct sync_wait;
struct worker_job;

enum smtp_state {
	SMTP_S_INIT,		/* greeted; no HELO/EHLO yet */
	SMTP_S_HELO,		/* no transaction */
	SMTP_S_MAIL,		/* MAIL accepted */
	SMTP_S_RCPT,		/* one recipient or more */
	SMTP_S_DATA,		/* lines are message text */
	SMTP_S_BDAT,		/* between the chunks of a BDAT message */
	SMTP_S_SASL,		/* AUTH: lines are SASL responses */
	SMTP_S_WAIT,		/* the message waits for its delivery */
};

/* Longest reply text kept for later (a BDAT chunk's, a delayed one). */
#define SMTP_REPLY_MAX		512

struct sessreg_entry;
struct smtp_dns;

struct smtp_session {
	struct conn		*conn;
	struct sessreg_entry	*reg;		/* AUTH done: `vellumctl who` */
	struct smtp_server	*srv;
	unsigned long		 id;
	char			 ip[CONN_ADDR_MAX];
	enum smtp_state		 state;
	int			 lmtp;
	enum config_svc		 svc;		/* the listener's service */
	int			 closing;
	unsigned		 bad_cmds;
	unsigned		 junk;		/* junk commands since the
						   last message (session.c) */
	unsigned		 junk_ms;	/* delay of the reply being
						   made, 0 none */
	int			 esmtp;		/* EHLO or LHLO */
	char			 helo[SMTP_HELO_MAX + 1];
	/* DNS checks (dnscheck.c): the lookups running, NULL none */
	struct smtp_dns		*dns;
	/* the client's name, forward-confirmed; "" unknown or not asked */
	char			 ptr_name[DNS_NAME_MAX + 1];

	/* AUTH */
	struct auth		*sasl;
	struct auth_check	*check;		/* a password being checked */
	uint32_t		 user_id;
	char			 user[STORE_ADDRESS_MAX + 1];	/* "" none */
	int			 domain_login;	/* user is a domain
						   (store/user.h) */
	struct conn_delay	*delay;		/* a refused login's reply */

	/* the mail transaction */
	char			 txid[SMTP_ID_LEN + 1];
	uint64_t		 queue_id;	/* txid as a number */
	char			 sender[SMTP_PATH_MAX + 1];
	struct smtp_path_args	 mail;
	struct deliver_rcpt	*rcpts;
	size_t			 nrcpts, rcpts_cap;
	char			*msg;		/* Received: + message */
	size_t			 msglen;
	size_t			 msgcap;	/* reserved in smtp_inflight */
	int			 spool_fd;	/* -1, or the message is here */
	uint64_t		 spool_len;
	void			*spool_map;	/* the file, for delivery */
	int			 noroom;	/* out of room: 452 at the end */
	const char		*mdata;		/* the whole message, at the */
	size_t			 mlen;		/* end (session_msg_ready) */
	size_t			 hdrlen;	/* our Received: */
	struct smtp_data	 data;
	/* BDAT */
	uint64_t		 bdat_size;
	int			 bdat_toobig;
	int			 chunk_last;
	char			 chunk_err[SMTP_REPLY_MAX];

	/* delivery */
	struct deliver_job	 job;
	struct deliver_policy	 policy;	/* of the login (user[]) or
						   trusted host */
	int			 policed;	/* policy applies (MAIL) */
	struct worker_job	*fjob;		/* filters running */
	int			 fslot;		/* holds a filter slot */
	int			 orphan;	/* conn gone while they ran */
	struct smtp_session	*pend_next;
	int			 listed;	/* on pend_list or busy_list */
	struct commit_group	*cgroup;	/* the writer thread commits
						   its message (commit.c) */
	struct sync_wait	*syncw;		/* committed, waits for its
						   sync to be answered */
	size_t			 sync_slot;	/* its place in syncw */
	struct timeval		 busy_since;
	struct timeval		 busy_next;	/* not retried before */
	unsigned		 busy_tries;

	/*
	 * Black and white lists (acl.c): the client's decision, made at
	 * connect, and the transaction's (MAIL, RCPT), reset with it.
	 */
	struct smtp_acl_conn {
		int		 blocked;	/* 554 greeting: only QUIT */
		int		 white;		/* no black entry applies */
		int		 discard;	/* every message dropped */
		unsigned	 skip;		/* ACL_SKIP_* of the client */
		char		 by[STORE_ADDRESS_MAX + 16]; /* "net ..." */
	}			 acl;
	struct smtp_acl_tx {
		int		 discard;	/* the message is dropped */
		char		 by[STORE_ADDRESS_MAX + 16];
		unsigned	 skip;		/* of the sender (or domain) */
		unsigned	 rcpt_skip;	/* what every accepted
						   recipient allows (AND) */
		unsigned	 pending;	/* of the RCPT being taken */
		unsigned	 accepted;	/* recipients kept */
		unsigned	 dropped;	/* recipients discarded */
	}			 acl_tx;

	/* for the disconnect line */
	unsigned		 n_msgs;
	unsigned		 n_rcpts;
	unsigned		 n_failed;
};

/* session.c */
void	session_enter_state(struct smtp_session *, enum smtp_state);
void	session_tx_fail(struct smtp_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	session_end_tx(struct smtp_session *);
void	session_free(struct smtp_session *);
void	session_fail(struct smtp_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	session_err_reply(struct smtp_session *, const char *);
void	session_close(struct smtp_session *);
int	session_tls(struct smtp_session *);
/* The 220 greeting (the connect checks passed). */
void	session_greet(struct smtp_session *);
/*
 * [smtpd] reject_early_talkers: 1 go on, 0 the client sent ahead of the
 * reply to verb (NULL: of the greeting) and was refused (closing).
 */
int	session_early_ok(struct smtp_session *, const char *verb);
/* HELO/EHLO whose checks passed: the reply, the new state. */
void	session_hello_accept(struct smtp_session *, const struct smtp_cmd *,
	    int esmtp);
/* MAIL whose checks passed (s->mail): the transaction starts, 250. */
void	session_mail_accept(struct smtp_session *);

/* login.c */
void	cmd_auth(struct smtp_session *, const struct smtp_cmd *);
/* A line of a SASL exchange (state SMTP_S_SASL). */
void	session_sasl_line(struct smtp_session *, const char *, size_t);
/* May this client send to other domains?  1 yes, 0 no, -1 error. */
int	session_relay_ok(struct smtp_session *);
/* sender-login-match: 1 ok, 0 refused, -1 error. */
int	session_sender_ok(struct smtp_session *, const char *sender);
/* The outgoing policy at MAIL, and at the end of data: 1 go on, 0 no. */
int	session_policy_mail(struct smtp_session *);
int	session_policy_ok(struct smtp_session *);

/* acl.c: the black and white lists on port 25 (store/acl.h) */
/*
 * 1 when the port 25 policies apply to the client: [smtp], not LMTP,
 * not in [smtpd] trusted_networks (a login is checked by each caller).
 */
int	session_acl_applies(struct smtp_session *);
/* At connect: 1 the client was refused (the 554 greeting is sent). */
int	session_acl_connect(struct smtp_session *);
/*
 * Port 25, not a trusted network, not logged in: the client whose
 * pipelining, junk commands (session.c) and names (fqdn.c) are watched.
 */
int	session_port25_untrusted(struct smtp_session *);
/* A command of a refused client: QUIT 221, others 503. */
void	session_acl_refused(struct smtp_session *, const char *verb);
/* MAIL (the sender in s->mail): 1 go on, 0 refused (answered). */
int	session_acl_mail(struct smtp_session *);
/*
 * RCPT of addr (NULL: <Postmaster>, never refused): 1 go on, 0 answered
 * (refused, or accepted and dropped).
 */
int	session_acl_rcpt(struct smtp_session *, const char *addr);
/* The recipient was kept (its skips count for the message). */
void	session_acl_rcpt_kept(struct smtp_session *);
/* End of data: 1 the message was dropped (answered 250), 0 go on. */
int	session_acl_data(struct smtp_session *);

/*
 * fqdn.c: [smtpd] reject_non_fqdn_helo and reject_non_fqdn_sender, on
 * port 25 for clients not trusted nor logged in.
 */
/* HELO/EHLO name (len octets): 1 go on, 0 refused (answered 504). */
int	session_fqdn_helo(struct smtp_session *, const char *name,
	    size_t len);
/*
 * MAIL (the parsed arguments in s->mail, perr set when they failed):
 * 1 go on, 0 refused (answered 503 without a good HELO/EHLO, or 504).
 */
int	session_fqdn_mail(struct smtp_session *);

/*
 * dnscheck.c: [smtpd] dnsbl_sites, reject_unknown_client,
 * reject_unknown_helo_hostname and reject_unknown_sender_domain on port
 * 25 for clients not trusted nor logged in, with srv->dns.  While
 * lookups run the conn is paused and s->dns is set.
 */
/*
 * At connect, after acl.c and rate.c: 1 the lookups started (or
 * decided at once): the greeting is dnscheck.c's (session_greet(), or a
 * refusal); 0 no check applies: the caller greets.
 */
int	session_dns_connect(struct smtp_session *);
/*
 * HELO/EHLO cmd (its name checked by fqdn.c): 1 go on now; 0 the
 * command is dnscheck.c's: refused, or session_hello_accept() later.
 */
int	session_dns_helo(struct smtp_session *, const struct smtp_cmd *,
	    int esmtp);
/*
 * MAIL (s->mail, every other check passed): 1 go on now; 0 the command
 * is dnscheck.c's: refused (s->mail cleared), or session_mail_accept()
 * later.
 */
int	session_dns_mail(struct smtp_session *);
/* The session ends: its lookups are cancelled. */
void	session_dns_cancel(struct smtp_session *);
/*
 * rate.c: [smtpd] client_connection_rate, client_message_rate and
 * unknown_recipient_limit, per client host on port 25, for clients not
 * trusted, logged in nor whitelisted by address.
 */
/*
 * At connect, after acl.c: 1 the client was refused (a blocked host:
 * 554 greeting, then only QUIT; too many connections: 421, closing).
 */
int	session_rate_connect(struct smtp_session *);
/* MAIL: 1 go on, 0 refused (answered 450: too many messages). */
int	session_rate_mail(struct smtp_session *);
/* RCPT: 1 go on, 0 refused (answered 554: the host is blocked). */
int	session_rate_rcpt(struct smtp_session *);
/* A RCPT was answered 550 5.1.1 (unknown): counted toward the block. */
void	session_rate_unknown(struct smtp_session *);

/* commit.c */
/* The message is complete: deliver it (the session waits, paused). */
void	session_submit(struct smtp_session *);
/* The unknown recipients of a session that ends, counted (commit.c). */
void	session_policy_flush(struct smtp_session *);
/* Takes s off the waiting lists (the session is going away). */
void	group_remove(struct smtp_session *);
/* Delivery locks of this process came free: waiters try at once. */
void	group_kick(void);

#endif
