/*
 * private.h - what the delivery agent's files (runner.c, dest.c) share
 * and nobody else sees: the objects of runner.c's comment and the state.
 */
#ifndef VELLUM_MTA_PRIVATE_H
#define VELLUM_MTA_PRIVATE_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdint.h>

#include <event2/event.h>

#include "deliver/deliver.h"
#include "mta/client.h"
#include "mta/dns.h"
#include "store/queue.h"

struct config;
struct store;
struct store_txn;

#define HASH_SIZE	4096

/* Recipient states */
enum rstate {
	R_WAIT = 0,	/* routed, in a job not yet finished */
	R_SENT,		/* the remote took it (2xx) */
	R_FAILED,	/* permanent failure: bounce */
	R_DEFERRED,	/* temporary failure: retry */
};

enum dkind {
	D_MX,		/* the MX of name */
	D_HOST,		/* name itself (A/AAAA), no MX lookup */
	D_LITERAL,	/* an address literal: no DNS */
};

struct route {
	enum dkind	kind;
	char		name[256];
	unsigned	port;
	enum mta_tls	tls;
	char		user[321];
	char		pass[257];
	char		src4[46], src6[46];
	/* a routing error (bad nexthop): permanent for the recipient */
	char		error[256];
};

struct qmsg;
struct dest;

struct job {
	TAILQ_ENTRY(job)	 entry;
	struct qmsg		*m;
	struct dest		*d;
	size_t			 n;
	size_t			*idx;		/* into m->e.rcpts */
	struct mta_client_rcpt	*cr;
	struct mta_client_txn	 txn;
	int			 sent;		/* given to a connection */
};
TAILQ_HEAD(jobq, job);

/* DKIM signing of a message (sign.c) */
enum msign {
	SIGN_NONE = 0,	/* not decided yet */
	SIGN_QUEUED,	/* has keys; waits for room in the signing pool */
	SIGN_PENDING,	/* a signing thread has it */
	SIGN_DONE,	/* sig set, or NULL: sent unsigned */
};
struct sign_req;

struct qmsg {
	struct qmsg		*hnext;		/* in the id hash */
	struct store_queue_entry e;
	enum rstate		*state;
	char			(*relay)[256];	/* remote MTA of each result */
	uint8_t			*relayed;	/* sent to a server without DSN */
	unsigned		 njobs;		/* jobs not finished */
	unsigned		 inflight;	/* jobs given to a connection */
	void			*data;		/* the message, once loaded */
	char			 batv_sender[DELIVER_ADDR_MAX + 1]; /* "":
						   e.sender goes as it is */
	size_t			 len;
	int			 loaded;
	/* DKIM (sign.c): made once, before the first job is sent */
	enum msign		 sign;
	struct sign_req		*sign_req;	/* SIGN_PENDING */
	TAILQ_ENTRY(qmsg)	 sign_entry;	/* SIGN_QUEUED */
	char			*sig;		/* DKIM-Signature lines */
	size_t			 siglen;
};
TAILQ_HEAD(qmsgq, qmsg);

struct daddr {
	char			 host[256];
	struct sockaddr_storage	 sa;
	socklen_t		 len;
	int64_t			 down_until;
};

struct mconn;
TAILQ_HEAD(connq, mconn);

struct dest {
	TAILQ_ENTRY(dest)	 entry;
	struct route		 r;
	char			 key[1024];
	/* addresses */
	int			 resolving;
	uint64_t		 qid;
	int64_t			 resolved_at;	/* 0: never */
	enum mta_dns_status	 dns_status;
	char			 dns_error[600];
	struct daddr		*addrs;
	size_t			 naddrs;
	/* work */
	struct jobq		 jobs;
	size_t			 njobs;
	struct connq		 conns;
	unsigned		 nconns;
	int64_t			 idle_since;
};
TAILQ_HEAD(destq, dest);

struct mconn {
	TAILQ_ENTRY(mconn)	 entry;
	struct dest		*d;
	struct mta_client	*c;
	size_t			 ai;		/* address being tried */
	unsigned		 tried;		/* addresses tried */
	int			 notls;		/* MAY fell back to plaintext */
	int			 ready;		/* idle: may take a job */
	int			 greeted;	/* READY was reached once */
	int			 quitting;	/* QUIT sent: no more jobs */
	struct job		*job;		/* in flight */
	struct event		*idle_ev;
};

/* A change to write back. */
enum opkind { OP_SENT, OP_FINAL };
struct op {
	struct op	*next;
	enum opkind	 kind;
	struct qmsg	*m;
	/* OP_SENT: these recipients were delivered */
	char		(*addrs)[STORE_ADDRESS_MAX + 1];
	size_t		 naddrs;
	/* OP_FINAL: remote 5xx locked the sender (outgoing policy) */
	struct deliver_policy *locked;
};

struct mta_state {
	struct event_base	*base;
	struct store		*st;
	const struct config	*cfg;
	struct deliver_config	 dcf;
	struct mta_dns		*dns;
	SSL_CTX			*ssl;
	struct event		*poll_ev;
	struct event		*commit_ev;
	uint64_t		 gen;
	int			 gen_known;
	int64_t			 last_scan;
	int64_t			 earliest;	/* next entry coming due */
	struct qmsg		*hash[HASH_SIZE];
	size_t			 nactive;
	size_t			 nactive_rcpts;
	struct destq		 dests;
	unsigned		 nconns;
	struct op		*ops, **opstail;
	size_t			 nops;
	int			 stopping;
	/* DKIM signing (sign.c) */
	struct worker_pool	*sign_pool;
	struct qmsgq		 sign_wait;	/* SIGN_QUEUED, in order */
	struct sign_cache	*sign_cache;
};

extern struct mta_state mta;

/* runner.c */
int64_t	 mta_now(void);
/* A job's recipients have their results (job freed). */
void	 mta_job_done(struct job *, const char *relay, int has_dsn);
/* Reads the message and fills the job's transaction.  0, -1 (err). */
int	 mta_job_load(struct job *);
void	 mta_job_free(struct job *);
/* Every recipient of the job gets this outcome (then mta_job_done()). */
void	 mta_job_fail(struct job *, int code, const char *enh,
	    const char *text, const char *relay);

/* The message bytes of m, read once.  0 done, -1 error (err set). */
int	 mta_msg_load(struct qmsg *);
struct qmsg *mta_qmsg_find(uint64_t id);

/* sign.c: DKIM signatures (mta/dkim.h) of the messages being sent */
struct sign_cache;
/* The signing pool on base, libopendkim.  0, -1 (err set). */
int	 mta_sign_start(struct event_base *);
/* Before the messages are freed: stops the pool. */
void	 mta_sign_stop(void);
/*
 * Whether m may be sent: 1 yes (m->sig, when it has keys, is its
 * signature lines), 0 not yet (signing started or waiting for room: when
 * it ends, the destinations with jobs are run again), -1 error (err set:
 * the message could not be read).
 */
int	 mta_sign_ready(struct qmsg *);
/* m is being freed: out of the waiting list, its signature freed. */
void	 mta_sign_forget(struct qmsg *);

/* dest.c */
/* Where one recipient goes.  0 done (maybe r->error), -1 store error. */
int	 mta_route_of(struct store_txn *, const char *sender,
	    const char *rcpt, struct route *);
void	 mta_route_key(const struct route *, char *, size_t);
/* The destination of a route (made when new). */
struct dest *mta_dest_get(const struct route *);
/* Looks up, opens connections and hands out the waiting jobs of d. */
void	 mta_dest_run(struct dest *);
/* Frees destinations idle for a while. */
void	 mta_dest_gc(void);
/* Closes every connection and frees every destination (jobs too). */
void	 mta_dest_free_all(void);

#endif
