/*
 * deliver.h - the delivery pipeline (DESIGN.md, "Delivery pipeline"),
 * shared by SMTP, LMTP, the FUSE view and imports.
 *
 * 1. deliver_resolve() turns a recipient address into targets: the
 *    mailboxes of local users (through aliases, catch-alls, alias
 *    domains, user+ext) and external forwards; or an answer that says why
 *    not (unknown, disabled, not local).
 * 2. deliver_run() delivers messages (jobs): takes every recipient's
 *    delivery lock (a store lock "deliver:ADDRESS"), runs the filters (a
 *    later issue: the hook is deliver_filter()), then in ONE durable
 *    write transaction for all the jobs checks enabled + quota for every
 *    recipient, stores each message once (Return-Path and Delivered-To
 *    are added per recipient as a prefix segment of their own, so the rest
 *    dedups), links it into every target folder, queues forwards and
 *    relayed recipients, commits, then releases the locks.  Several jobs
 *    in one call is the group commit: the caller collects the messages
 *    that ended in one event-loop turn and answers each after the call.
 *
 * Replies are SMTP-style so each protocol can use them as they are:
 * `code` (250, 452, 550, ...) and `text` ("4.2.2 Mailbox full").
 */
#ifndef VELLUM_DELIVER_H
#define VELLUM_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "store/policy.h"

struct store;
struct filter_runner;
struct deliver_fjob;

#define DELIVER_ALIAS_DEPTH	10	/* alias expansion depth */
#define DELIVER_TARGETS_MAX	5000	/* mailboxes + forwards per rcpt:
					   a list's members, at most
					   STORE_LIST_MEMBERS_MAX */
#define DELIVER_ADDR_MAX	320
#define DELIVER_TEXT_MAX	256
/* Where mail the inbound checks quarantine goes (inauth.c): the folder
   that is \Junk in IMAP (store_special_use_parse()) */
#define DELIVER_QUARANTINE	"Spam"
#define DELIVER_LOCK_LEASE	300	/* s: a delivery lock's lease */
#define DELIVER_ORCPT_MAX	500	/* RFC 3461 4.2: ORCPT= as given */
#define DELIVER_ENVID_MAX	100	/* RFC 3461 4.4: ENVID= as given */
#define DELIVER_SECRET_MAX	64	/* bytes of a secret used */

enum deliver_kind {
	DELIVER_LOCAL = 1,	/* resolved to targets[] */
	DELIVER_NOTLOCAL = 2,	/* domain not ours: relay rules decide */
	DELIVER_REFUSED = 3,	/* code/text say why (550 unknown, ...) */
};

struct deliver_target {
	uint32_t	user_id;		/* 0 for a forward */
	char		addr[DELIVER_ADDR_MAX + 1];	/* user or forward */
};

struct deliver_rcpt {
	char			 addr[DELIVER_ADDR_MAX + 1];	/* normalised */
	enum deliver_kind	 kind;
	size_t			 ntargets;
	struct deliver_target	*targets;
	int			 relay;		/* NOTLOCAL but allowed: queue */
	int			 batv;		/* 1: a valid BATV tag was
						   taken off (addr is
						   without it) */
	/* RFC 3461 (RCPT parameters), kept in the queue entry */
	uint8_t			 notify;	/* STORE_NOTIFY_*, 0 not given */
	char			 orcpt[DELIVER_ORCPT_MAX + 1]; /* "" none */
	/*
	 * A simple list (store/list.h): its members are the targets and get
	 * the list's copy (filter/listmsg.h); copies that leave go with the
	 * owner as envelope sender (or the sender, rewritten by SRS).
	 */
	int			 is_list;
	unsigned		 list_flags;	/* STORE_LIST_* */
	char			 list_addr[DELIVER_ADDR_MAX + 1]; /* the list's
						   own (addr may be an alias
						   of it) */
	char			 list_name[128];
	char			 list_owner[DELIVER_ADDR_MAX + 1];
	/* added by an automatic BCC rule (bcc.c): a copy nobody asked
	   for, so its failure (a full mailbox) fails nobody else */
	int			 bcc;
	/* result: of deliver_resolve(), then of deliver_run() */
	int			 code;
	char			 text[DELIVER_TEXT_MAX];
};

struct deliver_config {
	unsigned	quota_grace_days;	/* over quota longer: disabled */
	const char	*hostname;
	/*
	 * [srs]: forwards are queued with the sender rewritten (srs.h)
	 * when srs_enabled and a secret is loaded; SRS addresses of our
	 * domains are reversed whenever a secret is loaded (bounces of mail
	 * forwarded before SRS was turned off still find their way).
	 * deliver_srs_load() fills the secret.
	 */
	int		srs_enabled;		/* enabled = yes */
	unsigned	srs_max_age;		/* max_age = 21 days */
	size_t		srs_secret_len;		/* 0: none loaded */
	unsigned char	srs_secret[DELIVER_SECRET_MAX];
	/*
	 * BATV (batv.h), a setting of each domain (STORE_DOMAIN_BATV): the
	 * outbound agent signs senders, resolving takes valid tags off and,
	 * for a null sender (""; NULL is "not known": no check), refuses
	 * untagged or badly tagged recipients of those domains.  Tags are
	 * checked whenever a secret is loaded (deliver_batv_load()).
	 */
	unsigned	batv_max_age;		/* [batv] max_age = 7 days */
	size_t		batv_secret_len;	/* 0: none loaded */
	unsigned char	batv_secret[DELIVER_SECRET_MAX];
	/*
	 * Filters (the global one, then the user's; filter/): filters is 1
	 * in what delivers mail from outside (smtpd, sendmail), 0 where
	 * only messages the server made are delivered.  runner runs their
	 * programs (deliver_runner_start()); NULL: a filter that wants a
	 * program fails (the message is kept in INBOX).
	 */
	int		filters;
	struct filter_runner *runner;
	char		filter_user[64];	/* [filter] user */
	/*
	 * [policy]: spamd for the outgoing policy's spam-score
	 * (spamscore.h; deliver_policy_scan()): where it listens, the
	 * deadline of one exchange, the largest message sent, and whether a
	 * message it cannot score is refused for now (451) or accepted.
	 */
	char		spamd[300 + 1];
	unsigned	spamd_timeout_ms;
	size_t		spam_max_size;
	int		spam_tempfail;
	/*
	 * [antivirus]: clamd for inbound mail (clamav.h; jobs with inbound
	 * set whose acl_skip lacks ACL_SKIP_AV): where it listens ("": no
	 * scan), the deadline of one scan, the largest message scanned
	 * (larger: accepted unscanned), and whether a message clamd cannot
	 * scan is delivered with "X-Virus-Status: Unchecked" (av_accept) or
	 * refused for now (451).
	 */
	char		clamd[300 + 1];
	unsigned	clamd_timeout_ms;
	size_t		av_max_size;
	int		av_accept;
	/*
	 * [mailauth]: SPF, DKIM and DMARC of the same inbound mail
	 * (mailauth.h, inauth.c), each unless whitelisted (ACL_SKIP_*); what
	 * a fail makes (CONFIG_MA_*), the deadline of one message's DNS, and
	 * the configuration whose [dns] the checks' resolver follows (NULL:
	 * no checks).
	 */
	int		ma_spf, ma_dkim, ma_dmarc;
	int		ma_spf_fail, ma_dmarc_reject, ma_dmarc_quarantine;
	unsigned	ma_timeout_ms;
	const struct config *dns;
};

/*
 * Loads the SRS secret into cf: the bytes of secret_file when it is not
 * NULL or "" (at least SRS_SECRET_MIN bytes; at most DELIVER_SECRET_MAX
 * used), else the store's "srs" secret (32 random bytes made on first
 * use: store_secret_get()).  0 done, -1 error (NOTFOUND/TEMP: the file
 * cannot be read, INVALID: too short, or a store error).
 */
int	deliver_srs_load(struct store *, struct deliver_config *cf,
	    const char *secret_file);

/*
 * Loads the BATV secret into cf: the store's "batv" secret (32 random
 * bytes made on first use: store_secret_get()).  0 done, -1 a store
 * error.
 */
int	deliver_batv_load(struct store *, struct deliver_config *cf);

struct config;
/*
 * Fills cf from the config (hostname, quota grace, [srs], [batv]) and
 * loads the SRS and BATV secrets (deliver_srs_load(),
 * deliver_batv_load()).  0 done, -1 a secret could not be loaded (err
 * set; cf is usable, without SRS or BATV).
 */
int	deliver_config_init(struct deliver_config *cf, struct store *,
	    const struct config *);
struct store_txn;
/*
 * The envelope sender mail from sender leaves with (outbound agent): its
 * BATV-tagged form (batv.h) into out[outsize] (BATV_ADDR_MAX + 1 fits)
 * when sender is in a local domain with BATV on (STORE_DOMAIN_BATV) and
 * a secret is loaded.  Not for <>, SRS addresses (forwards: their
 * bounces find their way by SRS) or senders tagged already; a sender
 * that cannot be tagged (too long, quoted) is kept (logged).  Returns 1
 * tagged, 0 keep it as it is, -1 error (store, OpenSSL).  Inside a read
 * transaction: signing is one HMAC.
 */
int	deliver_batv_sender(struct store_txn *, const struct deliver_config *,
	    const char *sender, char *out, size_t outsize);

/*
 * Starts the program runner of filters (filter/run.h) with the config's
 * [filter] settings into cf->runner: call it while still root, before
 * dropping privileges.  0, or -1 (err set; cf->runner stays NULL).
 */
int	deliver_runner_start(struct deliver_config *cf, const struct config *);

/*
 * Resolves addr into r: DELIVER_LOCAL with targets, DELIVER_NOTLOCAL, or
 * DELIVER_REFUSED with code/text (550 5.1.1 "<addr>: Recipient address
 * rejected: User unknown in virtual mailbox table" for unknown and
 * disabled accounts; 501 5.1.3 for a malformed address).  An account that
 * has been over quota longer than the grace period is disabled here (and
 * refused).  When size is not 0 (SIZE=), a recipient whose mailbox cannot
 * take it gets 452 4.2.2 Mailbox full (and is marked over quota).
 * Returns 0, or -1 on a store error (then r->code is 451).
 */
int	deliver_resolve(struct store *, const struct deliver_config *,
	    const char *addr, uint64_t size, struct deliver_rcpt *r);
/*
 * The same, knowing the envelope sender ("" for <>): a list that only
 * its members may post to refuses other senders with 550 5.7.1 (without
 * a sender, deliver_resolve(), nobody is a member).
 */
int	deliver_resolve_from(struct store *, const struct deliver_config *,
	    const char *sender, const char *addr, uint64_t size,
	    struct deliver_rcpt *r);
/*
 * What deliver_resolve_from() would answer for addr, for `vellumctl addr
 * resolve`: the same lookups in one read snapshot, but nothing is written
 * (an account at the end of its grace period is reported refused, not
 * disabled; no over-quota clock starts).  step (may be NULL) is told each
 * step of the expansion as a line of text with its depth (0 the address
 * itself).  Same results as deliver_resolve_from().
 */
typedef void deliver_step_fn(int depth, const char *text, void *ctx);
int	deliver_resolve_explain(struct store *,
	    const struct deliver_config *, const char *sender,
	    const char *addr, uint64_t size, struct deliver_rcpt *r,
	    deliver_step_fn *step, void *ctx);
void	deliver_rcpt_clear(struct deliver_rcpt *);
struct store_txn;
/*
 * Whether mail to addr may be forwarded outside (its domain, or the real
 * domain of an alias domain, is not STORE_DOMAIN_NO_FORWARD): 1 yes, 0
 * no, -1 error.  An address of no local domain: 1.
 */
int	deliver_forward_allowed(struct store_txn *, const char *addr);
/*
 * RFC 5321 4.5.1: <Postmaster> (no domain) must be accepted.  Resolves
 * postmaster@HOSTNAME, else the postmaster of the first local domain
 * (in name order) that has one.  Same results as deliver_resolve().
 */
int	deliver_resolve_postmaster(struct store *,
	    const struct deliver_config *, struct deliver_rcpt *r);

/*
 * Whether the domain of addr is one of ours (local, or an alias domain):
 * 1 yes, 0 no (or addr has no domain), -1 store error.
 */
int	deliver_domain_local(struct store *, const char *addr);

/*
 * The outgoing policy of the user a message is sent as (policy.c, the
 * settings in store/policy.h): filled when the client logs in and
 * sends, checked and counted in the commit that accepts the message.
 */
enum deliver_sender {
	DELIVER_SENDER_USER = 1,	/* logged in as user@domain */
	DELIVER_SENDER_DOMAIN,		/* logged in as a domain: any of its
					   addresses */
	DELIVER_SENDER_HOST,		/* a trusted host, by its address */
};
struct deliver_policy {
	enum deliver_sender kind;
	uint32_t	user_id;		/* the login's mailbox (USER) */
	char		login[DELIVER_ADDR_MAX + 1];	/* address, domain,
						   or "[ip]" */
	struct store_subject subject;		/* its counters */
	unsigned	invalid;		/* unknown local recipients
						   given, not counted yet */
	uint64_t	invalid_today;		/* counted when loaded */
	/* limits (0: none), from store_policy_effective() */
	uint64_t	per_minute, per_hour, per_day, bytes_per_day;
	uint64_t	rcpts_per_day, invalid_per_day;
	uint64_t	lock_time, max_unlocks, attachment_size, spam_score;
	int		notify_user, valid_sender;
	char		sender_domain[256];	/* "" none */
	/* a refusal found before the commit (content): code, text */
	int		code;
	char		text[512];		/* as deliver_rcpt_reply()
						   keeps it: DELIVER_TEXT_MAX */
	int		lock;			/* ... that counts toward a
						   lock (outgoing spam) */
	/* set by the commit: the message locked the sender (notices) */
	int		locked;
	int64_t		locked_until;
	char		reason[DELIVER_TEXT_MAX];
};

/* One message to its recipients. */
struct deliver_job {
	const char		*sender;	/* envelope; "" for <> */
	const void		*data;		/* exact bytes (CRLF for SMTP) */
	size_t			 len;
	struct deliver_rcpt	*rcpts;		/* LOCAL or relay; others skipped */
	size_t			 nrcpts;
	int			 all_or_nothing; /* SMTP yes, LMTP no */
	/*
	 * The queue entries made for its external recipients: queue_id (0:
	 * a new one, written back here) names the first; forwards whose
	 * sender SRS rewrites differently (one per forwarding domain) get
	 * entries of their own with new ids.  The same id is in smtpd's
	 * "queued as" and Received.  (store_queue_add() takes the next free
	 * id should it be taken.)
	 */
	uint64_t		 queue_id;
	const char		*envid;		/* MAIL ENVID= or NULL */
	int			 ret;		/* MAIL RET=: STORE_RET_* */
	uint32_t		 qflags;	/* STORE_QF_8BITMIME, _SMTPUTF8,
						   _NOTICE for its entries */
	int			 no_filter;	/* made by the server (a notice,
						   an auto-reply): no filter,
						   no auto-reply, and no
						   delivery lock (nothing of
						   the user's runs) */
	struct deliver_policy	*policy;	/* sent by a user whose
						   policy applies, or NULL */
	int			 bcc;		/* apply the automatic BCC
						   rules (store/bcc.h): mail
						   accepted from a client */
	unsigned		 acl_skip;	/* ACL_SKIP_* (store/acl.h):
						   the checks of the message
						   its whitelist entries skip
						   (smtpd/acl.c sets it) */
	int			 inbound;	/* from an untrusted client
						   on port 25 (not LMTP, not
						   trusted_networks, not
						   logged in): the inbound
						   content checks apply, but
						   those acl_skip names
						   (smtpd/acl.c sets it) */
	const char		*client;	/* the client's address for
						   log lines, or NULL */
	const char		*helo;		/* its HELO/EHLO name (SPF),
						   or NULL */
	struct deliver_fjob	*fj;		/* deliver_begin() .. the end
						   of deliver_run(): private */
	/* result */
	int			 busy;		/* a lock was held elsewhere:
						   run this job again soon */
	int			 busy_here;	/* ... by another job of this
						   process: free again when
						   that one ends */
	/* waiting for its locks in turn (store_lock_take_queued()) */
	uint64_t		 wait_ticket;	/* 0: not waiting */
	char			**wait_names;
	size_t			 nwait;
	int			 delivered;	/* recipients that got it (not
						   counting BCC copies) */
	int			 stored;	/* copies put in mailboxes: the
						   commit wrote (and synced)
						   pages */
};

/*
 * The outgoing policy (policy.c).  deliver_policy_load() reads what
 * applies to a sender into p, and whether it is locked now: a user
 * (user_id, login its address: defaults, its domain's, its own), a
 * domain login (login the domain: defaults and the domain's) or a trusted
 * host (login its IP address; the defaults and those of domain, the
 * envelope sender's, when it is local; NULL none).  1 may send, 0 locked
 * (code/text: 451 4.7.1 until when, or 550 5.7.1 for a lock only an admin
 * ends), -1 error.
 */
int	deliver_policy_load(struct store *, enum deliver_sender,
	    uint32_t user_id, const char *login, const char *domain,
	    struct deliver_policy *p);
/*
 * The envelope sender against the FROM rules (sender-domain,
 * valid-sender): 1 ok, 0 refused (code/text set), -1 error.
 */
int	deliver_policy_sender(struct store *, const struct deliver_config *,
	    struct deliver_policy *p, const char *sender);
/*
 * The From: header of a message against sender-domain: 1 ok, 0 refused
 * (code/text set).  Pure: reads the header block only.
 */
int	deliver_policy_header(struct deliver_policy *p, const void *msg,
	    size_t len);
/*
 * For RCPT: 1 the unknown recipients of today (counted when p was
 * loaded, and p->invalid since) reached invalid-per-day (code/text set),
 * 0 not.
 */
int	deliver_policy_invalid_full(struct deliver_policy *p);
/*
 * Counts the unknown recipients p->invalid that no message carried into
 * its commit (the session ended), locking the sender at the limit (and
 * sending the notices): small durable transactions, for a worker
 * thread.  0, or -1.
 */
int	deliver_policy_add_invalid(struct store *,
	    const struct deliver_config *, struct deliver_policy *p);
/*
 * In a write transaction of the outbound agent: n recipients of mail
 * from sender were refused for good by remote servers.  Counted toward
 * invalid-per-day of the user whose address (login) sender is; p gets
 * its policy.  1 the user is locked now (send deliver_policy_notify()
 * after the commit), 0 not (or sender is no user), -1 error.
 */
int	deliver_policy_remote_failed(struct store_txn *, const char *sender,
	    unsigned n, struct deliver_policy *p);
/* The notices of a lock (to the postmaster, and the user if wanted). */
void	deliver_policy_notify(struct store *, const struct deliver_config *,
	    const struct deliver_policy *p);

/*
 * The stages before the commit, for callers that must not wait for
 * filters (smtpd: its event loop).  deliver_begin() takes the job's
 * locks and reads what its filters need (on the loop: short store
 * reads).  1: filters to run: call deliver_filter_job() on a worker
 * thread, then deliver_run() on the loop; 2: nothing to run, call
 * deliver_run() now; 0: busy, the locks are held elsewhere (nothing is
 * held: try again soon; busy_here says they are held by another job of
 * this process, so they come free when its deliver_run() or
 * deliver_end() returns); -1: error, every recipient has its reply (451),
 * nothing is held.  A begun job keeps its locks until deliver_run() ends
 * or deliver_end() is called (its session went away).
 */
int	deliver_begin(struct store *, const struct deliver_config *,
	    struct deliver_job *);
/*
 * Runs the filters of a begun job (global, then each user's: programs
 * through cf->runner, as the user's account) and composes auto-replies.
 * Any thread; uses neither the store nor the log (deliver_run() logs).
 */
void	deliver_filter_job(struct deliver_job *);
/*
 * Releases what deliver_begin() took for a job that will not be run, and
 * ends its wait for its locks (deliver_wait_end()).
 */
void	deliver_end(struct store *, struct deliver_job *);
/* A busy job gives up: later jobs no longer wait behind it. */
void	deliver_wait_end(struct store *, struct deliver_job *);

/*
 * Delivers jobs[0..n) in one durable commit (see above).  A job not begun
 * is begun here and its filters run here, in this thread (sendmail); a
 * begun one keeps its locks and filter results.  Each
 * recipient's code/text are set: 250 2.0.0 Ok, 452 4.2.2 Mailbox full
 * (the account is marked over quota), 550 5.1.1 (disabled since it was
 * resolved), 451 4.3.0 (store error).  With all_or_nothing, when any
 * recipient cannot take the message nothing is stored for anyone (no
 * forward is queued either) and every recipient gets that reply: 451
 * 4.1.1 when a mailbox a recipient resolved to was deleted or disabled
 * since (SMTP's one reply must not say 550 for mail others got), 452
 * 4.2.2 when one is full.  Without it (LMTP) such a recipient gets 550
 * 5.1.1 and the others are delivered.  A job whose locks are held by another
 * process is not run: busy is set and nothing else changes.  Returns 0,
 * or -1 when the commit failed (every recipient then has 451).
 */
int	deliver_run(struct store *, const struct deliver_config *,
	    struct deliver_job **jobs, size_t n);
/*
 * As deliver_run(), but the commit syncs the new pages and not the meta
 * page (store_write_metanosync()): the store stays whole on power loss,
 * but the commit is not durable until a store_sync() (or fdatasync() of
 * store_sync_fd()) begun after this returned.  The caller sends no reply
 * that promises delivery (250) before that sync.  The locks are released
 * and the outcome logged at once, as with deliver_run().
 */
int	deliver_run_unsynced(struct store *, const struct deliver_config *,
	    struct deliver_job **jobs, size_t n);

/*
 * deliver_run() in three steps, for a caller whose loop must not wait for
 * the commit (smtpd: the store's writer thread commits while the loop
 * gathers the next group):
 *
 * deliver_group_new(), on the loop (the thread that begins jobs: the
 * delivery locks of this process are its own), begins each job as
 * deliver_run() does and returns the group.
 *
 * deliver_group_commit(), on any one thread at a time (the writer): the
 * hashing and compression, the one write transaction and its commit
 * (unsynced: as deliver_run_unsynced(), the caller syncs before a 250),
 * the outcome logged, the auto-replies sent.  Sets every recipient's
 * code/text; returns 0, or -1 when the commit failed (every recipient
 * then has 451).  It uses the store, the log and the jobs only: the loop
 * may meanwhile read the store, resolve recipients, begin other jobs and
 * commit other writes (they wait for this commit), but must not touch
 * these jobs.
 *
 * deliver_group_end(), on the loop: releases the jobs' locks, ends their
 * stages and frees the group (*gp = NULL; NULL is fine).  Busy jobs are
 * left as deliver_run() leaves them (busy set).
 */
struct deliver_group;
struct deliver_group *deliver_group_new(struct store *,
	    const struct deliver_config *, struct deliver_job **jobs,
	    size_t n);
int	deliver_group_commit(struct deliver_group *, int unsynced);
void	deliver_group_end(struct deliver_group **gp);


struct dsn_input;

/*
 * Sends a delivery status notification (dsn.h) about in's message to its
 * original sender in->sender: composes it with dsn_compose() and
 * delivers it through deliver_run() with the envelope sender <>, so a
 * local sender gets it in INBOX and a remote one has it queued with
 * STORE_QF_NOTICE set.  Only the recipients whose NOTIFY asks for it are
 * reported: none with NEVER; failed with FAILURE or NOTIFY not given;
 * delayed with DELAY or not given; delivered/relayed only with SUCCESS.
 * Never a notice for a notice: when in->sender is "" or in->is_notice is
 * set, or no recipient is left, nothing is sent and 0 is returned (the
 * caller logs it).  A zero in->now is the store's clock, a zero
 * in->notice_id a new queue id (the notice's own).
 * Returns 1 sent (*queue_id_r, may be NULL, the notice's id), 0 nothing
 * to send, -1 error (TEMP: try again later, lock busy or store error;
 * PERM: the sender's address refused the notice, err_msg() says why).
 */
int	deliver_notice(struct store *, const struct deliver_config *,
	    const struct dsn_input *in, uint64_t *queue_id_r);

/*
 * Delivers a message the server made (a notice, an auto-reply) to one
 * address with the envelope sender <>: a local address gets it in INBOX,
 * without filters and without its delivery lock (never busy); a remote one has it queued (queue_id 0: a new id,
 * qflags for its entry).  1 sent (*queue_id_r, may be NULL, its id),
 * -1 error (TEMP; PERM when the address refuses it: err_msg() says why).
 */
int	deliver_server_message(struct store *, const struct deliver_config *,
	    const char *to, const char *msg, size_t len, uint64_t queue_id,
	    uint32_t qflags, uint64_t *queue_id_r);

#endif
