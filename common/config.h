/*
 * config.h - vellum.conf: `key = value` lines, `#` comments, `[section]`
 * headers on their own lines (DESIGN.md, "Configuration and defaults").
 *
 * A service section that is present means that service runs on the
 * addresses of its `listen` key.  Unknown sections and keys, bad values
 * and missing required keys are errors reported all at once, each as
 * "FILE:LINE: message".  config_default() is the embedded default of
 * `make run`: data in ./var, loopback-only unprivileged ports, plaintext
 * authentication allowed (loopback only).
 */
#ifndef VELLUM_CONFIG_H
#define VELLUM_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_LISTEN_MAX	8
#define CONFIG_WORKERS_MAX	64	/* [service] workers */
#define CONFIG_HOST_MAX		255
#define CONFIG_PORT_MAX		15
#define CONFIG_BANNER_MAX	200
#define CONFIG_NETS_MAX		64
#define CONFIG_NEXTHOP_MAX	300
/* [antivirus] on_error */
#define CONFIG_AV_TEMPFAIL	0
#define CONFIG_AV_ACCEPT	1
/* [mailauth] spf_fail, dmarc_reject, dmarc_quarantine: what is done */
#define CONFIG_MA_TAG		0	/* the header says so; delivered */
#define CONFIG_MA_QUARANTINE	1	/* delivered into the Spam folder */
#define CONFIG_MA_REJECT	2	/* 550 at the end of DATA */
#define CONFIG_USER_MAX		320
#define CONFIG_SECRET_MAX	256

/* TLS towards other servers ([mta] tls, transports). */
#define CONFIG_TLS_NONE		1
#define CONFIG_TLS_MAY		2
#define CONFIG_TLS_ENCRYPT	3
#define CONFIG_TLS_VERIFY	4
#define CONFIG_RESOLVERS_MAX	8	/* [dns] resolver addresses */
#define CONFIG_DNSBL_MAX	16	/* [smtpd] dnsbl_sites zones */
#define CONFIG_DNSBL_WEIGHT_MAX	1000	/* zone*N, and the threshold */
/* [sendmail] users and trusted: a comma list of names, @groups or *. */
#define CONFIG_NAMES_MAX	1024
/*
 * [quota] full_mark: usage at or above this percentage of the byte or the
 * message quota is "full".  An account whose grace clock ran out is
 * disabled only when it is full then.  Public because the store keeps the
 * mark too (store_user_set_full_mark(); this is its value until set).
 */
#define CONFIG_QUOTA_FULL_MARK	95

/* One CIDR block of trusted_networks (IPv4 as 4 bytes, IPv6 as 16). */
struct config_net {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];	/* network, host bits cleared */
	unsigned	prefix;		/* 0..32 or 0..128 */
};

/*
 * One zone of [smtpd] dnsbl_sites, Postfix's postscreen_dnsbl_sites form
 * ZONE[=FILTER][*WEIGHT]: a client is listed when an A record of its
 * reversed address under zone matches the filter (none: any), each of
 * the four octets of FILTER a number, [lo..hi] or [a;b;c] (kept as a
 * bit set per octet).  weight may be negative (an allow list).
 */
struct config_dnsbl {
	char		zone[254];		/* no final dot */
	int		filtered;		/* FILTER given */
	unsigned char	octets[4][32];		/* bit n: n matches */
	char		filter[64];		/* as written, for logs */
	int		weight;			/* *N, 1 unless given */
};

/* One address of [dns] resolver. */
struct config_resolver {
	char		addr[46];	/* IPv4 or IPv6 text (INET6_ADDRSTRLEN) */
	unsigned	port;		/* 53 unless given */
};

enum config_svc {
	SVC_SMTP,		/* [smtp]        port 25 style */
	SVC_SUBMISSION,		/* [submission]  587, STARTTLS */
	SVC_SMTPS,		/* [smtps]       465, implicit TLS */
	SVC_LMTP,		/* [lmtp] */
	SVC_IMAP,		/* [imap]        143, STARTTLS */
	SVC_IMAPS,		/* [imaps]       993, implicit TLS */
	SVC_POP3,		/* [pop3]        110, STLS */
	SVC_POP3S,		/* [pop3s]       995, implicit TLS */
	SVC_COUNT
};

struct config_listen {
	char	host[CONFIG_HOST_MAX + 1];	/* "127.0.0.1", "::1", "*" */
	char	port[CONFIG_PORT_MAX + 1];
};

struct config_service {
	int			enabled;	/* the section is present */
	size_t			nlisten;
	struct config_listen	listen[CONFIG_LISTEN_MAX];
	/*
	 * [smtp] auth = no: AUTH is offered (and answered) on this SMTP
	 * listener.  Only [smtp] has the key; every other service offers
	 * AUTH (after TLS, see [auth] plaintext).
	 */
	int			auth;
	/*
	 * [submission] and [smtps] require_auth = yes: MAIL before AUTH
	 * gets 530 5.7.0.  No exception, not even trusted_networks (as
	 * Postfix's submission service).  0 on the other services.
	 */
	int			require_auth;
	/*
	 * workers = 0: processes of the section's daemon (conn_workers();
	 * the largest value of its sections; 0: one per core).
	 */
	unsigned		workers;
};

struct config {
	char	path[PATH_MAX];		/* "" for the embedded default */
	/* top level */
	char	data_dir[PATH_MAX];	/* data_dir (required in a file) */
	char	hostname[CONFIG_HOST_MAX + 1];	/* hostname, default gethostname */
	int	log_syslog;		/* log = stderr | syslog (stderr) */
	int	log_verbose;		/* log_level = info | debug (info: 1) */
	char	user[64];		/* user = NAME: drop root to it ("") */
	struct config_service svc[SVC_COUNT];
	/* [tls] cert, key: "" means a self-signed pair in data_dir */
	char	tls_cert[PATH_MAX];
	char	tls_key[PATH_MAX];
	/* [auth] */
	int	auth_plaintext;		/* plaintext = yes|no (no) */
	unsigned auth_fail_delay_ms;	/* fail_delay = 2000 ms: the reply to
					   an address's first failure waits
					   this long, doubling with each
					   recent failure ... */
	unsigned auth_fail_delay_max_ms; /* fail_delay_max = 15000 ms: ...
					   up to this */
	unsigned auth_fail_max;		/* fail_max = 10 failures of one user
					   from one address ... */
	unsigned auth_fail_window;	/* fail_window = 600 s ... */
	unsigned auth_lockout;		/* lockout = 900 s lock that user out
					   from that address */
	unsigned auth_fail_max_address;	/* fail_max_address = 100 failures
					   of any users within fail_window:
					   the whole address is refused for
					   lockout seconds */
	unsigned auth_workers;		/* workers = 2 password hashing
					   threads per process */
	unsigned auth_queue;		/* queue = 256 logins waiting for a
					   thread; more get a temporary
					   failure */
	/* trusted_networks = (none): no delay, no lockout */
	size_t	auth_ntrusted;
	struct config_net auth_trusted[CONFIG_NETS_MAX];
	unsigned pop_before_smtp;	/* pop_before_smtp = 0 minutes (off) */
	/* [limits] */
	unsigned max_conn_per_ip;	/* connections_per_ip = 20 (at most
					   half of connections: conn.h) */
	unsigned max_conn;		/* connections = 5000 (capped by the
					   descriptor limit: conn.h) */
	unsigned idle_timeout;		/* idle_timeout = 600 s */
	unsigned shutdown_grace;	/* shutdown_grace = 30 s */
	unsigned reload_drain;		/* reload_drain = 1h: how long a
					   daemon replaced by a reload keeps
					   its sessions (conn_drain()) */
	unsigned command_timeout;	/* command_timeout = 60 s for one
					   command line from its first byte */
	unsigned login_timeout;		/* login_timeout = 180 s from connect
					   to login (conn_authenticated()) */
	unsigned transfer_rate;		/* transfer_rate = 500 bytes/s: the
					   lowest average rate of a transfer
					   (DATA, BDAT, RETR); 0 = off */
	unsigned transfer_grace;	/* transfer_grace = 30 s a transfer
					   may lag behind that rate */
	unsigned imap_idle_timeout;	/* imap_idle_timeout = 1800 s: an
					   IMAP session after login (also in
					   IDLE) is logged out after this
					   long without a command (RFC 3501
					   5.4 wants at least 30 min) */
	/* [fs] */
	int	fs_enabled;
	char	fs_mountpoint[PATH_MAX];
	/* [quota] */
	unsigned quota_grace_days;	/* grace_days = 5 */
	unsigned quota_full_mark;	/* full_mark = 95% (1-100) */
	/* [smtpd]: settings of vellum-smtpd (not a listener) */
	char	smtpd_banner[CONFIG_BANNER_MAX + 1];	/* ESMTP Vellum */
	unsigned smtpd_max_message_size;	/* max_message_size = 20480000 */
	unsigned smtpd_max_recipients;	/* max_recipients = 1000 */
	unsigned smtpd_max_hops;	/* max_hops = 50 Received: headers */
	unsigned smtpd_max_bad_commands; /* max_bad_commands = 20 */
	int	smtpd_reject_early_talkers;	/* reject_early_talkers = no:
					   port 25 clients that send ahead
					   of a reply before EHLO allowed
					   PIPELINING get 554 and are closed */
	unsigned smtpd_junk_command_limit;	/* junk_command_limit = 100:
					   NOOP/VRFY/ETRN/RSET/HELP outside a
					   transaction on port 25, delayed
					   from the 10th, 421 past it;
					   0 = off */
	/*
	 * Port 25 clients not trusted, logged in nor whitelisted, per host
	 * (conn_ip_key()), counted by every process together
	 * (smtpd/rate.c); 0 = off, the default.
	 */
	unsigned smtpd_client_connection_rate;	/* client_connection_rate:
					   connections a minute; past it
					   421 at connect */
	unsigned smtpd_client_message_rate;	/* client_message_rate: MAIL
					   commands a minute; past it 450 */
	unsigned smtpd_unknown_recipient_limit;	/* unknown_recipient_limit:
					   550 5.1.1 RCPTs a day; at it the
					   host gets 554 until midnight */
	unsigned smtpd_memory_limit;	/* memory_limit = 536870912 bytes of
					   messages being received, in all */
	unsigned smtpd_spool_threshold;	/* spool_threshold = 1048576: a
					   message past it, or past
					   memory_limit, goes to an unlinked
					   file in data_dir; 0 never */
	/*
	 * Syntax of names on port 25 (not trusted, not logged in):
	 * reject_non_fqdn_sender = no: MAIL FROM without a fully-qualified
	 * domain gets 504; reject_non_fqdn_helo = no: so does a HELO/EHLO
	 * name that is not one (nor an address literal).
	 */
	int	smtpd_reject_non_fqdn_sender;
	int	smtpd_reject_non_fqdn_helo;
	/*
	 * DNS checks on port 25 (smtpd/dnscheck.c, not trusted, not logged
	 * in), all off by default: dnsbl_sites = zone[=filter][*weight],
	 * ... (none) and dnsbl_threshold = 1: a client whose listed zones
	 * weigh that much gets the 554 greeting (a white client or net,
	 * store/acl.h, skips it); reject_unknown_client = no: no PTR name
	 * that resolves back to the client: 554 greeting (421 on a
	 * temporary failure); reject_unknown_helo_hostname = no: a HELO
	 * name without A, AAAA or MX: 550; reject_unknown_sender_domain =
	 * no: a sender domain without them (or with a null MX): 550.
	 */
	size_t	smtpd_ndnsbl;
	struct config_dnsbl smtpd_dnsbl[CONFIG_DNSBL_MAX];
	unsigned smtpd_dnsbl_threshold;
	int	smtpd_reject_unknown_client;
	int	smtpd_reject_unknown_helo;
	int	smtpd_reject_unknown_sender;
	/* trusted_networks = 192.0.2.0/24, 2001:db8::/32 (none): may relay */
	size_t	smtpd_ntrusted;
	struct config_net smtpd_trusted[CONFIG_NETS_MAX];
	/* [mta]: vellum-mta, the outbound delivery agent, runs when present */
	int	mta_enabled;
	char	mta_relayhost[CONFIG_NEXTHOP_MAX + 1];	/* relayhost =
					   [host]:port: every domain without
					   a transport of its own goes there
					   ("": MX lookup) */
	char	mta_relay_user[CONFIG_USER_MAX + 1];	/* relay_user and */
	char	mta_relay_password[CONFIG_SECRET_MAX + 1]; /* relay_password
					   = AUTH at the relayhost ("") */
	int	mta_tls;		/* tls = may: none|may|encrypt|verify
					   (CONFIG_TLS_*), for destinations
					   without a transport saying else */
	char	mta_tls_ca_file[PATH_MAX];	/* tls_ca_file = (system) */
	char	mta_source4[46];	/* source = (none): addresses to */
	char	mta_source6[46];	/* send from, one per family */
	char	mta_helo_name[CONFIG_HOST_MAX + 1];	/* helo_name =
					   (hostname) */
	unsigned mta_port;		/* port = 25 of MX hosts */
	unsigned mta_connections;	/* connections = 100 in all */
	unsigned mta_dest_concurrency;	/* destination_concurrency = 20
					   connections per destination */
	unsigned mta_dest_recipients;	/* destination_recipients = 50 per
					   transaction */
	unsigned mta_connect_timeout;	/* connect_timeout = 30 s */
	unsigned mta_greeting_timeout;	/* greeting_timeout = 300 s (RFC
					   5321 4.5.3.2) */
	unsigned mta_command_timeout;	/* command_timeout = 300 s per
					   command, also the DATA 354 */
	unsigned mta_data_timeout;	/* data_timeout = 600 s for each
					   block of data and the final reply */
	unsigned mta_reuse_time;	/* reuse_time = 5 s an idle
					   connection waits for more mail */
	/* [queue] */
	unsigned queue_retry_min;	/* retry_min = 300 s after a first
					   temporary failure, doubling ... */
	unsigned queue_retry_max;	/* retry_max = 3600 s ... up to this */
	unsigned queue_max_age;		/* max_age = 5d: then bounced */
	unsigned queue_delay_warning;	/* delay_warning = 4h (0 off): a
					   delay notice to the sender */
	/* [dns]: the resolver of vellum-mta (mta/dns.h) */
	/* resolver = 127.0.0.1:5353, [::1]:53, ::1 (none: every query goes
	   to the servers of /etc/resolv.conf) */
	size_t	dns_nresolvers;
	struct config_resolver dns_resolvers[CONFIG_RESOLVERS_MAX];
	unsigned dns_timeout;		/* timeout = 10 s for one lookup */
	int	dns_dnssec;		/* dnssec = yes|no (no) */
	char	dns_trust_anchor[PATH_MAX];	/* trust_anchor =
					   /usr/share/dns/root.key */
	int	dns_ipv4;		/* ipv4 = yes|no (yes): A lookups */
	int	dns_ipv6;		/* ipv6 = yes|no (yes): AAAA lookups */
	/* [srs]: the Sender Rewriting Scheme for forwarded mail */
	int	srs_enabled;		/* enabled = yes: forwards are sent
					   with the sender rewritten */
	unsigned srs_max_age;		/* max_age = 21 days an SRS address
					   stays valid for bounces (1-1000) */
	char	srs_secret_file[PATH_MAX]; /* secret_file = (none): the key
					   is then 32 random bytes kept in
					   the store */
	/* [batv]: Bounce Address Tag Validation (deliver/batv.h); which
	   domains sign and check is a domain setting in the store */
	unsigned batv_max_age;		/* max_age = 7 days a tag stays
					   valid for bounces (1-500) */
	/* [policy]: the outgoing policy's spam check (deliver/policy.c;
	   the threshold is a setting of each sender, vellumctl) */
	char	policy_spamd[CONFIG_NEXTHOP_MAX + 1];	/* spamd =
					   127.0.0.1:783: host:port or the
					   path of spamd's unix socket */
	unsigned policy_spamd_timeout;	/* spamd_timeout = 10 s */
	unsigned policy_spam_max_size;	/* spam_max_size = 512000: larger
					   messages are not scanned */
	int	policy_spam_tempfail;	/* spam_tempfail = no: a message
					   spamd cannot score is accepted
					   (logged); yes: 451 */
	/* [antivirus]: inbound mail scanned by clamd (deliver/clamav.h):
	   port 25, untrusted clients, unless whitelisted (ACL_SKIP_AV) */
	char	antivirus_clamd[CONFIG_NEXTHOP_MAX + 1];	/* clamd =
					   (none: no scanning): the path of
					   clamd's LocalSocket or host:port
					   of its TCPSocket */
	unsigned antivirus_timeout;	/* timeout = 30 s for one scan,
					   connect to reply (1-120) */
	unsigned antivirus_max_size;	/* max_size = 25M: larger messages
					   are accepted unscanned (logged) */
	int	antivirus_on_error;	/* on_error = tempfail: a message
					   clamd cannot scan gets 451;
					   accept: delivered with
					   X-Virus-Status: Unchecked */
	/* [mailauth]: SPF, DKIM and DMARC of mail from untrusted port 25
	   clients (deliver/mailauth.h), unless whitelisted (ACL_SKIP_*):
	   an Authentication-Results field says what was found */
	int	mailauth_spf;		/* spf = no */
	int	mailauth_dkim;		/* dkim = no */
	int	mailauth_dmarc;		/* dmarc = no (yes checks SPF and
					   DKIM too, for DMARC's sake) */
	int	mailauth_spf_fail;	/* spf_fail = tag: CONFIG_MA_* for
					   an SPF fail (a softfail is only
					   tagged) */
	int	mailauth_dmarc_reject;	/* dmarc_reject = reject: for a
					   DMARC fail under p=reject */
	int	mailauth_dmarc_quarantine; /* dmarc_quarantine = quarantine:
					   under p=quarantine (tag or
					   quarantine) */
	unsigned mailauth_timeout;	/* timeout = 10 s: the DNS of one
					   message's checks in all */
	/* [sendmail]: who may use vellum-sendmail (admin/sendmail.c) */
	char	sendmail_users[CONFIG_NAMES_MAX];	/* users = *: comma
					   list of user names, @group names,
					   or * for every user */
	char	sendmail_trusted[CONFIG_NAMES_MAX];	/* trusted = root:
					   who may give any -f sender (same
					   form; others only their own) */
	char	sendmail_domain[CONFIG_HOST_MAX + 1];	/* domain = (the
					   hostname): of unqualified
					   addresses ("www-data") */
	/* [filter]: mail filters (maildrop's language) and their programs */
	char	filter_user[64];	/* user = nobody: programs of users
					   without a unix account of their
					   own run as it (must exist and not
					   be root when programs run) */
	unsigned filter_timeout;	/* timeout = 60 s a program may run
					   (1-3600) */
	size_t	filter_output_max;	/* output_max = 64M bytes of a
					   program's output (1K-1G) */
	unsigned filter_max_procs;	/* max_procs = 8 programs at once
					   (1-256) */
	unsigned filter_workers;	/* workers = 4 threads evaluating
					   filters in vellum-smtpd (1-64) */
	unsigned filter_queue;		/* queue = 256 filter jobs waiting
					   for a thread (1-100000) */
	char	filter_learn_spam[PATH_MAX];	/* learn_spam =
					   /usr/bin/sa-learn --spam */
	char	filter_learn_ham[PATH_MAX];	/* learn_ham =
					   /usr/bin/sa-learn --ham */
	int	filter_learn;		/* learn = yes|no (yes): Spam
					   training of moves to and from
					   the Spam folder */
};

/* Fills c with the embedded default (see above). */
void	config_default(struct config *c);

/*
 * Parses the file at path into c (defaults first, then the file).
 * 0 on success.  -1 when the file cannot be read (ERR_NOTFOUND/ERR_TEMP,
 * err_msg() says why) or holds errors: then *errors_r (malloc'd, caller
 * frees) is every problem, one "FILE:LINE: message" per line, and the
 * error class is ERR_INVALID.  errors_r may be NULL.
 */
int	config_load(const char *path, struct config *c, char **errors_r);

/*
 * Parses text as if it were the file named path (for tests and the
 * embedded default).  Same results as config_load().
 */
int	config_parse(const char *path, const char *text, size_t len,
	    struct config *c, char **errors_r);

/*
 * Whether ip (text form; "::ffff:192.0.2.1" counts as IPv4) lies in one
 * of nets[0..n).  1 yes, 0 no (also for text that is not an address).
 */
int	config_net_match(const struct config_net *nets, size_t n,
	    const char *ip);

/*
 * Writes c to fp as a vellum.conf that config_parse() reads back into the
 * same settings: with all = 0 only what differs from a file's defaults
 * (like postconf -n; data_dir and every present section are always
 * there), with all = 1 every key of every section (like doveconf), keys
 * without a value as "# key = (not set)" comments.  A secret
 * (relay_password) is printed as the comment "# key = (hidden)" unless
 * flags has CONFIG_PRINT_SECRETS (doveconf -P), so that the output can be
 * shown to others.  Sizes and durations use their largest exact unit
 * (50M, 4h).  0, or -1 (ERR_TEMP) when fp fails.
 */
#define CONFIG_PRINT_ALL	0x1	/* every key, not only non-defaults */
#define CONFIG_PRINT_SECRETS	0x2	/* secrets in clear */
int	config_print(FILE *fp, const struct config *c, int flags);

/* The section name of a service ("pop3s"). */
const char *config_svc_name(enum config_svc);
/* Whether a service speaks TLS from the first byte (smtps, imaps, pop3s). */
int	config_svc_implicit_tls(enum config_svc);

#endif
