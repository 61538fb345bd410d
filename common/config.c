/*
 * config.c - see config.h.
 *
 * One pass over the text, line by line.  Every key lives in a table that
 * says where it belongs, what kind of value it takes and where it goes in
 * struct config, so a key is added in one place.  Errors never stop the
 * pass: each is appended to a list and the whole list is returned, so an
 * operator fixes everything in one edit.  Checks that need the whole file
 * (required keys, [tls] pairs) run after the pass.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "dial.h"
#include "error.h"
#include "log.h"
#include "size.h"
#include "xmalloc.h"

/* Longest line of a file, without its line end. */
#define CONFIG_LINE_MAX		4096
/* Largest file read: vellum.conf is a few hundred bytes. */
#define CONFIG_FILE_MAX		(1024 * 1024)
/* "Did you mean": names compared (longer ones are not), and edits. */
#define CONFIG_SUGGEST_LEN	64
#define CONFIG_SUGGEST_DIST	3
/* After this many errors, stop listing them (a binary file, say). */
#define CONFIG_ERRORS_MAX	100

/* Defaults of a file (config.h has them next to each field). */
#define CONFIG_LOG_VERBOSE		1
#define CONFIG_AUTH_FAIL_DELAY_MS	2000
#define CONFIG_AUTH_FAIL_MAX		10
#define CONFIG_AUTH_FAIL_DELAY_MAX_MS	15000
#define CONFIG_AUTH_FAIL_WINDOW		600
#define CONFIG_AUTH_LOCKOUT		900
#define CONFIG_AUTH_FAIL_MAX_ADDRESS	100
#define CONFIG_AUTH_WORKERS		2
#define CONFIG_AUTH_QUEUE		256
#define CONFIG_POP_BEFORE_SMTP		0
#define CONFIG_MAX_CONN_PER_IP		20
#define CONFIG_MAX_CONN			5000
#define CONFIG_IDLE_TIMEOUT		600
#define CONFIG_SHUTDOWN_GRACE		30
#define CONFIG_RELOAD_DRAIN		3600
#define CONFIG_COMMAND_TIMEOUT		60
#define CONFIG_LOGIN_TIMEOUT		180
#define CONFIG_TRANSFER_RATE		500
#define CONFIG_TRANSFER_GRACE		30
#define CONFIG_IMAP_IDLE_TIMEOUT	1800
#define CONFIG_SVC_WORKERS		0	/* one per core */
#define CONFIG_QUOTA_GRACE_DAYS		5
#define CONFIG_SMTPD_BANNER		"ESMTP Vellum"
#define CONFIG_SMTPD_MAX_MESSAGE_SIZE	20480000
#define CONFIG_SMTPD_MAX_RECIPIENTS	1000
#define CONFIG_SMTPD_MAX_HOPS		50
#define CONFIG_SMTPD_MAX_BAD_COMMANDS	20
#define CONFIG_SMTPD_JUNK_COMMAND_LIMIT	100
#define CONFIG_SMTPD_MEMORY_LIMIT	(512U * 1024 * 1024)
#define CONFIG_SMTPD_SPOOL_THRESHOLD	(1024U * 1024)
#define CONFIG_MTA_PORT			25
#define CONFIG_MTA_CONNECTIONS		100
#define CONFIG_MTA_DEST_CONCURRENCY	20
#define CONFIG_MTA_DEST_RECIPIENTS	50
#define CONFIG_MTA_CONNECT_TIMEOUT	30
#define CONFIG_MTA_GREETING_TIMEOUT	300
#define CONFIG_MTA_COMMAND_TIMEOUT	300
#define CONFIG_MTA_DATA_TIMEOUT		600
#define CONFIG_MTA_REUSE_TIME		5
#define CONFIG_QUEUE_RETRY_MIN		300
#define CONFIG_QUEUE_RETRY_MAX		3600
#define CONFIG_QUEUE_MAX_AGE		(5 * 86400)
#define CONFIG_QUEUE_DELAY_WARNING	(4 * 3600)
#define CONFIG_SRS_ENABLED		1
#define CONFIG_SRS_MAX_AGE		21
#define CONFIG_BATV_MAX_AGE		7	/* = BATV_MAX_AGE (deliver/batv.h) */
#define CONFIG_POLICY_SPAMD		"127.0.0.1:783"
#define CONFIG_POLICY_SPAMD_TIMEOUT	10	/* s */
#define CONFIG_POLICY_SPAM_MAX_SIZE	512000	/* spamc's -s default */
#define CONFIG_MAILAUTH_TIMEOUT	10	/* s: = MAILAUTH_TIMEOUT_DEFAULT */
#define CONFIG_ANTIVIRUS_TIMEOUT	30	/* s: = CLAM_TIMEOUT_DEFAULT */
#define CONFIG_ANTIVIRUS_MAX_SIZE	(25U * 1024 * 1024)	/* clamd's
						   StreamMaxLength default */
#define CONFIG_HOSTNAME_FALLBACK	"localhost"
#define CONFIG_DNS_TIMEOUT		10
#define CONFIG_DNS_PORT			53
/* Debian's dns-root-data keeps the root key here. */
#define CONFIG_DNS_TRUST_ANCHOR		"/usr/share/dns/root.key"
#define CONFIG_SMTP_AUTH		0	/* [smtp] auth = no */
#define CONFIG_SVC_AUTH			1	/* other services offer AUTH */
#define CONFIG_REQUIRE_AUTH		1	/* [submission], [smtps] */
#define CONFIG_SENDMAIL_USERS		"*"
#define CONFIG_SENDMAIL_TRUSTED		"root"
#define CONFIG_FILTER_USER		"nobody"
#define CONFIG_FILTER_TIMEOUT		60
#define CONFIG_FILTER_OUTPUT_MAX	(64U * 1024 * 1024)
#define CONFIG_FILTER_MAX_PROCS		8
#define CONFIG_FILTER_WORKERS		4
#define CONFIG_FILTER_QUEUE		256
#define CONFIG_FILTER_LEARN_SPAM	"/usr/bin/sa-learn --spam"
#define CONFIG_FILTER_LEARN_HAM		"/usr/bin/sa-learn --ham"
#define CONFIG_FILTER_LEARN		1

/*
 * The embedded default of `make run` (DESIGN.md), parsed like a file so
 * that it obeys the same rules.  config_default() adds what a file
 * cannot say (path "").
 */
static const char config_embedded[] =
	"data_dir = ./var\n"
	"[smtp]\nlisten = 127.0.0.1:2525\nauth = no\n"
	"[submission]\nlisten = 127.0.0.1:2587\nrequire_auth = yes\n"
	"[smtps]\nlisten = 127.0.0.1:2465\nrequire_auth = yes\n"
	"[lmtp]\nlisten = 127.0.0.1:2424\n"
	"[imap]\nlisten = 127.0.0.1:1143\n"
	"[imaps]\nlisten = 127.0.0.1:1993\n"
	"[pop3]\nlisten = 127.0.0.1:1110\n"
	"[pop3s]\nlisten = 127.0.0.1:1995\n"
	"[auth]\nplaintext = yes\n"
	"[fs]\nmountpoint = ./var/mail\n"
	"[mta]\n";

/* Sections: the top of the file, one per service, then the others. */
enum {
	CS_TOP = 0,
	CS_SVC0 = 1,			/* CS_SVC0 + enum config_svc */
	CS_TLS = CS_SVC0 + SVC_COUNT,
	CS_AUTH,
	CS_LIMITS,
	CS_FS,
	CS_QUOTA,
	CS_SMTPD,
	CS_MTA,
	CS_QUEUE,
	CS_DNS,
	CS_SRS,
	CS_BATV,
	CS_POLICY,
	CS_ANTIVIRUS,
	CS_MAILAUTH,
	CS_SENDMAIL,
	CS_FILTER,
	CS_COUNT,
	CS_SERVICE = -2,		/* in the key table: any service */
	CS_IGNORE = -1,			/* in a bad section: skip keys */
};

static const char *const config_sect_names[CS_COUNT] = {
	"", "smtp", "submission", "smtps", "lmtp", "imap", "imaps", "pop3",
	"pop3s", "tls", "auth", "limits", "fs", "quota", "smtpd", "mta", "queue",
	"dns", "srs", "batv", "policy", "antivirus", "mailauth", "sendmail",
	"filter",
};

enum config_type {
	CT_PATH,		/* a path, not checked to exist */
	CT_HOST,		/* a host name */
	CT_LOG,			/* stderr | syslog */
	CT_LOGLEVEL,		/* info | debug */
	CT_USER,		/* a user name */
	CT_LISTEN,		/* host:port, host:port */
	CT_BOOL,
	CT_UINT,		/* decimal, in [min, max] */
	CT_PERCENT,		/* CT_UINT with an optional '%' after it */
	CT_TEXT,		/* printable text (a banner) */
	CT_NETS,		/* CIDR, CIDR (trusted_networks) */
	CT_DURATION,		/* CT_UINT seconds; s, m, h or d after it */
	CT_TLS,			/* none | may | encrypt | verify */
	CT_SOURCE,		/* IPv4 and/or IPv6 address to bind */
	CT_SECRET,		/* any printable text, never echoed */
	CT_RESOLVERS,		/* addr[:port], [addr6]:port, addr6 */
	CT_NAMES,		/* name, @group, * ([sendmail] users) */
	CT_DOMAIN,		/* a host name, or "" for the hostname */
	CT_SIZE,		/* size_t bytes, size_parse() forms (64M) */
	CT_BYTES,		/* CT_UINT bytes, size_parse() forms (50M) */
	CT_COMMAND,		/* an absolute program path and its words */
	CT_DNSBL,		/* zone[=filter][*weight], ... */
	CT_DIAL,		/* host:port or /socket/path (common/dial.h),
				   or "" for none */
	CT_CHOICE,		/* one of the key's choices: its index */
};

/* Keys, in the order of config_keys[]. */
enum {
	CK_DATA_DIR,
	CK_HOSTNAME,
	CK_LOG,
	CK_LOG_LEVEL,
	CK_USER,
	CK_LISTEN,
	CK_TLS_CERT,
	CK_TLS_KEY,
	CK_PLAINTEXT,
	CK_FAIL_DELAY,
	CK_FAIL_MAX,
	CK_FAIL_WINDOW,
	CK_LOCKOUT,
	CK_FAIL_DELAY_MAX,
	CK_FAIL_MAX_ADDRESS,
	CK_AUTH_WORKERS,
	CK_AUTH_QUEUE,
	CK_AUTH_TRUSTED,
	CK_POP_BEFORE_SMTP,
	CK_CONN_PER_IP,
	CK_CONN,
	CK_IDLE_TIMEOUT,
	CK_SHUTDOWN_GRACE,
	CK_RELOAD_DRAIN,
	CK_COMMAND_TIMEOUT,
	CK_LOGIN_TIMEOUT,
	CK_TRANSFER_RATE,
	CK_TRANSFER_GRACE,
	CK_IMAP_IDLE_TIMEOUT,
	CK_MOUNTPOINT,
	CK_GRACE_DAYS,
	CK_FULL_MARK,
	CK_SMTPD_BANNER,
	CK_SMTPD_MAX_MESSAGE_SIZE,
	CK_SMTPD_MAX_RECIPIENTS,
	CK_SMTPD_MAX_HOPS,
	CK_SMTPD_TRUSTED,
	CK_SMTPD_MAX_BAD_COMMANDS,
	CK_SMTPD_REJECT_EARLY_TALKERS,
	CK_SMTPD_JUNK_COMMAND_LIMIT,
	CK_SMTPD_CLIENT_CONNECTION_RATE,
	CK_SMTPD_CLIENT_MESSAGE_RATE,
	CK_SMTPD_UNKNOWN_RECIPIENT_LIMIT,
	CK_SMTPD_MEMORY_LIMIT,
	CK_SMTPD_SPOOL_THRESHOLD,
	CK_SMTPD_NON_FQDN_SENDER,
	CK_SMTPD_NON_FQDN_HELO,
	CK_SMTPD_DNSBL_SITES,
	CK_SMTPD_DNSBL_THRESHOLD,
	CK_SMTPD_UNKNOWN_CLIENT,
	CK_SMTPD_UNKNOWN_HELO,
	CK_SMTPD_UNKNOWN_SENDER,
	CK_MTA_RELAYHOST,
	CK_MTA_RELAY_USER,
	CK_MTA_RELAY_PASSWORD,
	CK_MTA_TLS,
	CK_MTA_TLS_CA_FILE,
	CK_MTA_SOURCE,
	CK_MTA_HELO_NAME,
	CK_MTA_PORT,
	CK_MTA_CONNECTIONS,
	CK_MTA_DEST_CONCURRENCY,
	CK_MTA_DEST_RECIPIENTS,
	CK_MTA_CONNECT_TIMEOUT,
	CK_MTA_GREETING_TIMEOUT,
	CK_MTA_COMMAND_TIMEOUT,
	CK_MTA_DATA_TIMEOUT,
	CK_MTA_REUSE_TIME,
	CK_QUEUE_RETRY_MIN,
	CK_QUEUE_RETRY_MAX,
	CK_QUEUE_MAX_AGE,
	CK_QUEUE_DELAY_WARNING,
	CK_DNS_RESOLVER,
	CK_DNS_TIMEOUT,
	CK_DNS_DNSSEC,
	CK_DNS_TRUST_ANCHOR,
	CK_DNS_IPV4,
	CK_DNS_IPV6,
	CK_SRS_ENABLED,
	CK_SRS_MAX_AGE,
	CK_SRS_SECRET_FILE,
	CK_BATV_MAX_AGE,
	CK_POLICY_SPAMD,
	CK_POLICY_SPAMD_TIMEOUT,
	CK_POLICY_SPAM_MAX_SIZE,
	CK_POLICY_SPAM_TEMPFAIL,
	CK_ANTIVIRUS_CLAMD,
	CK_ANTIVIRUS_TIMEOUT,
	CK_ANTIVIRUS_MAX_SIZE,
	CK_ANTIVIRUS_ON_ERROR,
	CK_MAILAUTH_SPF,
	CK_MAILAUTH_DKIM,
	CK_MAILAUTH_DMARC,
	CK_MAILAUTH_SPF_FAIL,
	CK_MAILAUTH_DMARC_REJECT,
	CK_MAILAUTH_DMARC_QUARANTINE,
	CK_MAILAUTH_TIMEOUT,
	CK_SMTP_AUTH,
	CK_REQUIRE_AUTH,
	CK_SVC_WORKERS,
	CK_SENDMAIL_USERS,
	CK_SENDMAIL_TRUSTED,
	CK_SENDMAIL_DOMAIN,
	CK_FILTER_USER,
	CK_FILTER_TIMEOUT,
	CK_FILTER_OUTPUT_MAX,
	CK_FILTER_MAX_PROCS,
	CK_FILTER_WORKERS,
	CK_FILTER_QUEUE,
	CK_FILTER_LEARN_SPAM,
	CK_FILTER_LEARN_HAM,
	CK_FILTER_LEARN,
	CK_COUNT
};

struct config_key {
	int		 sect;
	const char	*name;
	enum config_type type;
	size_t		 off;		/* in struct config */
	size_t		 size;		/* of a string field */
	unsigned	 min, max;	/* CT_UINT */
	const char	*unit;		/* CT_UINT: for messages */
	/*
	 * CS_SERVICE keys: the services that take it (1u << SVC_*; 0: all);
	 * off is then in struct config_service.
	 */
	unsigned	 svcs;
	/* CT_CHOICE: the words, in the order of their values; NULL ends */
	const char *const *choices;
};

#define CK_STR(f)	offsetof(struct config, f), \
			sizeof(((struct config *)0)->f), 0, 0, NULL
#define CK_INT(f)	offsetof(struct config, f), 0, 0, 0, NULL
#define CK_UINT(f, lo, hi, u) offsetof(struct config, f), 0, lo, hi, u
#define CK_SVC(f, mask)	offsetof(struct config_service, f), 0, 0, 0, NULL, \
			(mask)

/* [antivirus] on_error: CONFIG_AV_TEMPFAIL, CONFIG_AV_ACCEPT */
static const char *const config_av_on_error[] = { "tempfail", "accept",
	NULL };

/* [mailauth]: CONFIG_MA_TAG, _QUARANTINE, _REJECT (dmarc_quarantine
   takes the first two) */
static const char *const config_ma_action[] = { "tag", "quarantine",
	"reject", NULL };
static const char *const config_ma_quarantine[] = { "tag", "quarantine",
	NULL };

static const struct config_key config_keys[CK_COUNT] = {
	[CK_DATA_DIR] = { CS_TOP, "data_dir", CT_PATH, CK_STR(data_dir) },
	[CK_HOSTNAME] = { CS_TOP, "hostname", CT_HOST, CK_STR(hostname) },
	[CK_LOG] = { CS_TOP, "log", CT_LOG, CK_INT(log_syslog) },
	[CK_LOG_LEVEL] = { CS_TOP, "log_level",
	    CT_LOGLEVEL, CK_INT(log_verbose) },
	[CK_USER] = { CS_TOP, "user", CT_USER, CK_STR(user) },
	[CK_LISTEN] = { CS_SERVICE, "listen", CT_LISTEN, 0, 0, 0, 0, NULL },
	[CK_TLS_CERT] = { CS_TLS, "cert", CT_PATH, CK_STR(tls_cert) },
	[CK_TLS_KEY] = { CS_TLS, "key", CT_PATH, CK_STR(tls_key) },
	[CK_PLAINTEXT] = { CS_AUTH, "plaintext",
	    CT_BOOL, CK_INT(auth_plaintext) },
	[CK_FAIL_DELAY] = { CS_AUTH, "fail_delay", CT_UINT,
	    CK_UINT(auth_fail_delay_ms, 0, 60000, "milliseconds") },
	[CK_FAIL_MAX] = { CS_AUTH, "fail_max", CT_UINT,
	    CK_UINT(auth_fail_max, 1, 100000, "failures") },
	[CK_FAIL_WINDOW] = { CS_AUTH, "fail_window", CT_DURATION,
	    CK_UINT(auth_fail_window, 1, 86400, "seconds") },
	[CK_LOCKOUT] = { CS_AUTH, "lockout", CT_DURATION,
	    CK_UINT(auth_lockout, 0, 604800, "seconds") },
	[CK_FAIL_DELAY_MAX] = { CS_AUTH, "fail_delay_max", CT_UINT,
	    CK_UINT(auth_fail_delay_max_ms, 0, 600000, "milliseconds") },
	[CK_FAIL_MAX_ADDRESS] = { CS_AUTH, "fail_max_address", CT_UINT,
	    CK_UINT(auth_fail_max_address, 1, 10000000, "failures") },
	[CK_AUTH_WORKERS] = { CS_AUTH, "workers", CT_UINT,
	    CK_UINT(auth_workers, 1, 64, "threads") },
	[CK_AUTH_QUEUE] = { CS_AUTH, "queue", CT_UINT,
	    CK_UINT(auth_queue, 1, 100000, "logins") },
	[CK_AUTH_TRUSTED] = { CS_AUTH, "trusted_networks", CT_NETS,
	    0, 0, 0, 0, NULL },
	[CK_POP_BEFORE_SMTP] = { CS_AUTH, "pop_before_smtp", CT_UINT,
	    CK_UINT(pop_before_smtp, 0, 10080, "minutes, 0 = off") },
	[CK_CONN_PER_IP] = { CS_LIMITS, "connections_per_ip", CT_UINT,
	    CK_UINT(max_conn_per_ip, 1, 1000000, "connections") },
	[CK_CONN] = { CS_LIMITS, "connections", CT_UINT,
	    CK_UINT(max_conn, 1, 1000000, "connections") },
	[CK_IDLE_TIMEOUT] = { CS_LIMITS, "idle_timeout", CT_DURATION,
	    CK_UINT(idle_timeout, 1, 86400, "seconds") },
	[CK_SHUTDOWN_GRACE] = { CS_LIMITS, "shutdown_grace", CT_DURATION,
	    CK_UINT(shutdown_grace, 0, 3600, "seconds") },
	[CK_RELOAD_DRAIN] = { CS_LIMITS, "reload_drain", CT_DURATION,
	    CK_UINT(reload_drain, 0, 604800, "seconds") },
	[CK_COMMAND_TIMEOUT] = { CS_LIMITS, "command_timeout", CT_DURATION,
	    CK_UINT(command_timeout, 1, 86400, "seconds") },
	[CK_LOGIN_TIMEOUT] = { CS_LIMITS, "login_timeout", CT_DURATION,
	    CK_UINT(login_timeout, 1, 86400, "seconds") },
	[CK_TRANSFER_RATE] = { CS_LIMITS, "transfer_rate", CT_BYTES,
	    CK_UINT(transfer_rate, 0, 1073741824, "bytes per second, "
	    "0 = off") },
	[CK_TRANSFER_GRACE] = { CS_LIMITS, "transfer_grace", CT_DURATION,
	    CK_UINT(transfer_grace, 1, 86400, "seconds") },
	[CK_IMAP_IDLE_TIMEOUT] = { CS_LIMITS, "imap_idle_timeout", CT_DURATION,
	    CK_UINT(imap_idle_timeout, 1, 86400, "seconds") },
	[CK_MOUNTPOINT] = { CS_FS, "mountpoint",
	    CT_PATH, CK_STR(fs_mountpoint) },
	[CK_GRACE_DAYS] = { CS_QUOTA, "grace_days", CT_UINT,
	    CK_UINT(quota_grace_days, 0, 36500, "days") },
	[CK_FULL_MARK] = { CS_QUOTA, "full_mark", CT_PERCENT,
	    CK_UINT(quota_full_mark, 1, 100, "percent of a quota") },
	[CK_SMTPD_BANNER] = { CS_SMTPD, "banner", CT_TEXT,
	    CK_STR(smtpd_banner) },
	[CK_SMTPD_MAX_MESSAGE_SIZE] = { CS_SMTPD, "max_message_size",
	    CT_BYTES, CK_UINT(smtpd_max_message_size, 1, 1073741824,
	    "bytes") },
	[CK_SMTPD_MAX_RECIPIENTS] = { CS_SMTPD, "max_recipients", CT_UINT,
	    CK_UINT(smtpd_max_recipients, 1, 100000, "recipients") },
	[CK_SMTPD_MAX_HOPS] = { CS_SMTPD, "max_hops", CT_UINT,
	    CK_UINT(smtpd_max_hops, 1, 1000, "Received: headers") },
	[CK_SMTPD_TRUSTED] = { CS_SMTPD, "trusted_networks", CT_NETS,
	    0, 0, 0, 0, NULL },
	[CK_SMTPD_MAX_BAD_COMMANDS] = { CS_SMTPD, "max_bad_commands",
	    CT_UINT, CK_UINT(smtpd_max_bad_commands, 1, 100000,
	    "commands") },
	[CK_SMTPD_REJECT_EARLY_TALKERS] = { CS_SMTPD, "reject_early_talkers",
	    CT_BOOL, CK_INT(smtpd_reject_early_talkers) },
	[CK_SMTPD_JUNK_COMMAND_LIMIT] = { CS_SMTPD, "junk_command_limit",
	    CT_UINT, CK_UINT(smtpd_junk_command_limit, 0, 100000,
	    "commands, 0 = off") },
	[CK_SMTPD_CLIENT_CONNECTION_RATE] = { CS_SMTPD,
	    "client_connection_rate", CT_UINT,
	    CK_UINT(smtpd_client_connection_rate, 0, 1000000,
	    "connections a minute, 0 = off") },
	[CK_SMTPD_CLIENT_MESSAGE_RATE] = { CS_SMTPD, "client_message_rate",
	    CT_UINT, CK_UINT(smtpd_client_message_rate, 0, 1000000,
	    "messages a minute, 0 = off") },
	[CK_SMTPD_UNKNOWN_RECIPIENT_LIMIT] = { CS_SMTPD,
	    "unknown_recipient_limit", CT_UINT,
	    CK_UINT(smtpd_unknown_recipient_limit, 0, 1000000,
	    "recipients a day, 0 = off") },
	[CK_SMTPD_MEMORY_LIMIT] = { CS_SMTPD, "memory_limit", CT_BYTES,
	    CK_UINT(smtpd_memory_limit, 1, 4000000000U, "bytes") },
	[CK_SMTPD_SPOOL_THRESHOLD] = { CS_SMTPD, "spool_threshold", CT_BYTES,
	    CK_UINT(smtpd_spool_threshold, 0, 1073741824, "bytes") },
	[CK_SMTPD_NON_FQDN_SENDER] = { CS_SMTPD, "reject_non_fqdn_sender",
	    CT_BOOL, CK_INT(smtpd_reject_non_fqdn_sender) },
	[CK_SMTPD_NON_FQDN_HELO] = { CS_SMTPD, "reject_non_fqdn_helo",
	    CT_BOOL, CK_INT(smtpd_reject_non_fqdn_helo) },
	[CK_SMTPD_DNSBL_SITES] = { CS_SMTPD, "dnsbl_sites", CT_DNSBL,
	    0, 0, 0, 0, NULL },
	[CK_SMTPD_DNSBL_THRESHOLD] = { CS_SMTPD, "dnsbl_threshold", CT_UINT,
	    CK_UINT(smtpd_dnsbl_threshold, 1, CONFIG_DNSBL_WEIGHT_MAX,
	    "the weight of the listing zones") },
	[CK_SMTPD_UNKNOWN_CLIENT] = { CS_SMTPD, "reject_unknown_client",
	    CT_BOOL, CK_INT(smtpd_reject_unknown_client) },
	[CK_SMTPD_UNKNOWN_HELO] = { CS_SMTPD,
	    "reject_unknown_helo_hostname", CT_BOOL,
	    CK_INT(smtpd_reject_unknown_helo) },
	[CK_SMTPD_UNKNOWN_SENDER] = { CS_SMTPD,
	    "reject_unknown_sender_domain", CT_BOOL,
	    CK_INT(smtpd_reject_unknown_sender) },
	[CK_MTA_RELAYHOST] = { CS_MTA, "relayhost", CT_TEXT,
	    CK_STR(mta_relayhost) },
	[CK_MTA_RELAY_USER] = { CS_MTA, "relay_user", CT_TEXT,
	    CK_STR(mta_relay_user) },
	[CK_MTA_RELAY_PASSWORD] = { CS_MTA, "relay_password", CT_SECRET,
	    CK_STR(mta_relay_password) },
	[CK_MTA_TLS] = { CS_MTA, "tls", CT_TLS, CK_INT(mta_tls) },
	[CK_MTA_TLS_CA_FILE] = { CS_MTA, "tls_ca_file", CT_PATH,
	    CK_STR(mta_tls_ca_file) },
	[CK_MTA_SOURCE] = { CS_MTA, "source", CT_SOURCE, 0, 0, 0, 0, NULL },
	[CK_MTA_HELO_NAME] = { CS_MTA, "helo_name", CT_HOST,
	    CK_STR(mta_helo_name) },
	[CK_MTA_PORT] = { CS_MTA, "port", CT_UINT,
	    CK_UINT(mta_port, 1, 65535, "TCP port") },
	[CK_MTA_CONNECTIONS] = { CS_MTA, "connections", CT_UINT,
	    CK_UINT(mta_connections, 1, 10000, "connections") },
	[CK_MTA_DEST_CONCURRENCY] = { CS_MTA, "destination_concurrency",
	    CT_UINT, CK_UINT(mta_dest_concurrency, 1, 1000, "connections") },
	[CK_MTA_DEST_RECIPIENTS] = { CS_MTA, "destination_recipients",
	    CT_UINT, CK_UINT(mta_dest_recipients, 1, 1000, "recipients") },
	[CK_MTA_CONNECT_TIMEOUT] = { CS_MTA, "connect_timeout", CT_DURATION,
	    CK_UINT(mta_connect_timeout, 1, 3600, "seconds") },
	[CK_MTA_GREETING_TIMEOUT] = { CS_MTA, "greeting_timeout",
	    CT_DURATION, CK_UINT(mta_greeting_timeout, 1, 3600, "seconds") },
	[CK_MTA_COMMAND_TIMEOUT] = { CS_MTA, "command_timeout", CT_DURATION,
	    CK_UINT(mta_command_timeout, 1, 3600, "seconds") },
	[CK_MTA_DATA_TIMEOUT] = { CS_MTA, "data_timeout", CT_DURATION,
	    CK_UINT(mta_data_timeout, 1, 3600, "seconds") },
	[CK_MTA_REUSE_TIME] = { CS_MTA, "reuse_time", CT_DURATION,
	    CK_UINT(mta_reuse_time, 0, 3600, "seconds, 0 = no reuse") },
	[CK_QUEUE_RETRY_MIN] = { CS_QUEUE, "retry_min", CT_DURATION,
	    CK_UINT(queue_retry_min, 1, 86400, "seconds") },
	[CK_QUEUE_RETRY_MAX] = { CS_QUEUE, "retry_max", CT_DURATION,
	    CK_UINT(queue_retry_max, 1, 604800, "seconds") },
	[CK_QUEUE_MAX_AGE] = { CS_QUEUE, "max_age", CT_DURATION,
	    CK_UINT(queue_max_age, 0, 31536000, "seconds") },
	[CK_QUEUE_DELAY_WARNING] = { CS_QUEUE, "delay_warning", CT_DURATION,
	    CK_UINT(queue_delay_warning, 0, 31536000, "seconds, 0 = off") },
	[CK_DNS_RESOLVER] = { CS_DNS, "resolver", CT_RESOLVERS,
	    0, 0, 0, 0, NULL },
	[CK_DNS_TIMEOUT] = { CS_DNS, "timeout", CT_DURATION,
	    CK_UINT(dns_timeout, 1, 3600, "seconds") },
	[CK_DNS_DNSSEC] = { CS_DNS, "dnssec", CT_BOOL, CK_INT(dns_dnssec) },
	[CK_DNS_TRUST_ANCHOR] = { CS_DNS, "trust_anchor", CT_PATH,
	    CK_STR(dns_trust_anchor) },
	[CK_DNS_IPV4] = { CS_DNS, "ipv4", CT_BOOL, CK_INT(dns_ipv4) },
	[CK_DNS_IPV6] = { CS_DNS, "ipv6", CT_BOOL, CK_INT(dns_ipv6) },
	[CK_SRS_ENABLED] = { CS_SRS, "enabled", CT_BOOL,
	    CK_INT(srs_enabled) },
	[CK_SRS_MAX_AGE] = { CS_SRS, "max_age", CT_UINT,
	    CK_UINT(srs_max_age, 1, 1000, "days") },
	[CK_SRS_SECRET_FILE] = { CS_SRS, "secret_file", CT_PATH,
	    CK_STR(srs_secret_file) },
	/* 500: half the 1000 days a tag's 3-digit day can tell apart */
	[CK_BATV_MAX_AGE] = { CS_BATV, "max_age", CT_UINT,
	    CK_UINT(batv_max_age, 1, 500, "days") },
	[CK_POLICY_SPAMD] = { CS_POLICY, "spamd", CT_TEXT,
	    CK_STR(policy_spamd) },
	[CK_POLICY_SPAMD_TIMEOUT] = { CS_POLICY, "spamd_timeout", CT_DURATION,
	    CK_UINT(policy_spamd_timeout, 1, 300, "seconds") },
	[CK_POLICY_SPAM_MAX_SIZE] = { CS_POLICY, "spam_max_size", CT_BYTES,
	    CK_UINT(policy_spam_max_size, 1, 1073741824, "bytes") },
	[CK_POLICY_SPAM_TEMPFAIL] = { CS_POLICY, "spam_tempfail", CT_BOOL,
	    CK_INT(policy_spam_tempfail) },
	[CK_ANTIVIRUS_CLAMD] = { CS_ANTIVIRUS, "clamd", CT_DIAL,
	    CK_STR(antivirus_clamd) },
	[CK_ANTIVIRUS_TIMEOUT] = { CS_ANTIVIRUS, "timeout", CT_DURATION,
	    CK_UINT(antivirus_timeout, 1, 120, "seconds") },
	[CK_ANTIVIRUS_MAX_SIZE] = { CS_ANTIVIRUS, "max_size", CT_BYTES,
	    CK_UINT(antivirus_max_size, 1, 1073741824, "bytes") },
	[CK_ANTIVIRUS_ON_ERROR] = { CS_ANTIVIRUS, "on_error", CT_CHOICE,
	    CK_INT(antivirus_on_error), 0, config_av_on_error },
	[CK_MAILAUTH_SPF] = { CS_MAILAUTH, "spf", CT_BOOL,
	    CK_INT(mailauth_spf) },
	[CK_MAILAUTH_DKIM] = { CS_MAILAUTH, "dkim", CT_BOOL,
	    CK_INT(mailauth_dkim) },
	[CK_MAILAUTH_DMARC] = { CS_MAILAUTH, "dmarc", CT_BOOL,
	    CK_INT(mailauth_dmarc) },
	[CK_MAILAUTH_SPF_FAIL] = { CS_MAILAUTH, "spf_fail", CT_CHOICE,
	    CK_INT(mailauth_spf_fail), 0, config_ma_action },
	[CK_MAILAUTH_DMARC_REJECT] = { CS_MAILAUTH, "dmarc_reject", CT_CHOICE,
	    CK_INT(mailauth_dmarc_reject), 0, config_ma_action },
	[CK_MAILAUTH_DMARC_QUARANTINE] = { CS_MAILAUTH, "dmarc_quarantine",
	    CT_CHOICE, CK_INT(mailauth_dmarc_quarantine), 0,
	    config_ma_quarantine },
	[CK_MAILAUTH_TIMEOUT] = { CS_MAILAUTH, "timeout", CT_DURATION,
	    CK_UINT(mailauth_timeout, 1, 120, "seconds") },
	[CK_SMTP_AUTH] = { CS_SERVICE, "auth", CT_BOOL,
	    CK_SVC(auth, 1u << SVC_SMTP) },
	[CK_REQUIRE_AUTH] = { CS_SERVICE, "require_auth", CT_BOOL,
	    CK_SVC(require_auth, (1u << SVC_SUBMISSION) | (1u << SVC_SMTPS)) },
	[CK_SVC_WORKERS] = { CS_SERVICE, "workers", CT_UINT,
	    offsetof(struct config_service, workers), 0, 0, CONFIG_WORKERS_MAX,
	    "processes", 0 },
	[CK_SENDMAIL_USERS] = { CS_SENDMAIL, "users", CT_NAMES,
	    CK_STR(sendmail_users) },
	[CK_SENDMAIL_TRUSTED] = { CS_SENDMAIL, "trusted", CT_NAMES,
	    CK_STR(sendmail_trusted) },
	[CK_SENDMAIL_DOMAIN] = { CS_SENDMAIL, "domain", CT_DOMAIN,
	    CK_STR(sendmail_domain) },
	[CK_FILTER_USER] = { CS_FILTER, "user", CT_USER, CK_STR(filter_user) },
	[CK_FILTER_TIMEOUT] = { CS_FILTER, "timeout", CT_DURATION,
	    CK_UINT(filter_timeout, 1, 3600, "seconds") },
	[CK_FILTER_OUTPUT_MAX] = { CS_FILTER, "output_max", CT_SIZE,
	    offsetof(struct config, filter_output_max), 0, 1024, 1073741824,
	    "bytes" },
	[CK_FILTER_MAX_PROCS] = { CS_FILTER, "max_procs", CT_UINT,
	    CK_UINT(filter_max_procs, 1, 256, "programs") },
	[CK_FILTER_WORKERS] = { CS_FILTER, "workers", CT_UINT,
	    CK_UINT(filter_workers, 1, 64, "threads") },
	[CK_FILTER_QUEUE] = { CS_FILTER, "queue", CT_UINT,
	    CK_UINT(filter_queue, 1, 100000, "filter jobs") },
	[CK_FILTER_LEARN_SPAM] = { CS_FILTER, "learn_spam", CT_COMMAND,
	    CK_STR(filter_learn_spam) },
	[CK_FILTER_LEARN_HAM] = { CS_FILTER, "learn_ham", CT_COMMAND,
	    CK_STR(filter_learn_ham) },
	[CK_FILTER_LEARN] = { CS_FILTER, "learn", CT_BOOL,
	    CK_INT(filter_learn) },
};


struct config_parser {
	const char	*path;
	struct config	*c;
	char		*errs;
	size_t		 errlen, errcap;
	unsigned	 nerr;
	int		 sect;		/* CS_*, or CS_IGNORE */
	unsigned	 sect_line[CS_COUNT];	/* 0: not in the file */
	unsigned	 key_line[CS_COUNT][CK_COUNT];
};

static void	config_file_defaults(struct config *);
static void	config_error(struct config_parser *, unsigned line,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static char	*config_trim(char *);
static const char *config_where(int sect);
static void	config_section(struct config_parser *, unsigned, char *);
static void	config_keyline(struct config_parser *, unsigned, char *);
static int	config_key_in(const struct config_key *, int sect);
static void	config_value(struct config_parser *, unsigned,
		    const struct config_key *, const char *);
static int	config_bool(const char *, int *);
static int	config_tls_mode(const char *);
static void	config_source(struct config_parser *, unsigned, const char *);
static void	config_dnsbl(struct config_parser *, unsigned, const char *);
static char	*config_list_next(struct config_parser *, unsigned,
		    const char *, char **);
static int	config_dnsbl_octet(const char *, unsigned char *);
static int	config_dnsbl_split(const char *, char [4][64]);
static int	config_hostname_ok(const char *);
static void	config_listen(struct config_parser *, unsigned, int svc,
		    const char *);
static int	config_listen_one(struct config_parser *, unsigned,
		    const char *, struct config_listen *);
static void	config_listen_clash(struct config_parser *, unsigned,
		    int svc, const struct config_listen *);
static void	config_nets(struct config_parser *, unsigned, const char *,
		    struct config_net *, size_t *);
static int	config_net_parse(const char *, struct config_net *);
static void	config_resolvers(struct config_parser *, unsigned,
		    const char *);
static int	config_resolver_parse(const char *, struct config_resolver *);
static void	config_names(struct config_parser *, unsigned,
		    const struct config_key *, const char *, char *);
static void	config_final(struct config_parser *);
static unsigned	config_distance(const char *, const char *);
static int	config_suggest(int sect, const char *key, char *buf,
		    size_t size);
static int	config_suggest_section(const char *name, int *sect_r);
static void	config_fmt_duration(unsigned, char *, size_t);
static void	config_fmt_nets(const struct config_net *, size_t, char *,
		    size_t);
static int	config_fmt(const struct config *, const struct config_key *,
		    int svc, char *, size_t);
static int	config_sect_present(const struct config *, int sect);
static void	config_key_sections(const char *name, int skip, char *buf,
		    size_t size);
static void	config_line(struct config_parser *, unsigned,
		    const char *, size_t);

const char *
config_svc_name(enum config_svc svc)
{
	if ((int)svc < 0 || svc >= SVC_COUNT)
		return "?";
	return config_sect_names[CS_SVC0 + svc];
}

int
config_svc_implicit_tls(enum config_svc svc)
{
	return svc == SVC_SMTPS || svc == SVC_IMAPS || svc == SVC_POP3S;
}

/* What a file starts from: no service runs, data_dir must be given. */
static void
config_file_defaults(struct config *c)
{
	int s;

	memset(c, 0, sizeof(*c));
	if (gethostname(c->hostname, sizeof(c->hostname)) != 0 ||
	    c->hostname[0] == '\0')
		snprintf(c->hostname, sizeof(c->hostname), "%s",
		    CONFIG_HOSTNAME_FALLBACK);
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	c->log_verbose = CONFIG_LOG_VERBOSE;
	c->auth_fail_delay_ms = CONFIG_AUTH_FAIL_DELAY_MS;
	c->auth_fail_max = CONFIG_AUTH_FAIL_MAX;
	c->auth_fail_window = CONFIG_AUTH_FAIL_WINDOW;
	c->auth_lockout = CONFIG_AUTH_LOCKOUT;
	c->auth_fail_delay_max_ms = CONFIG_AUTH_FAIL_DELAY_MAX_MS;
	c->auth_fail_max_address = CONFIG_AUTH_FAIL_MAX_ADDRESS;
	c->auth_workers = CONFIG_AUTH_WORKERS;
	c->auth_queue = CONFIG_AUTH_QUEUE;
	c->pop_before_smtp = CONFIG_POP_BEFORE_SMTP;
	c->max_conn_per_ip = CONFIG_MAX_CONN_PER_IP;
	c->max_conn = CONFIG_MAX_CONN;
	c->idle_timeout = CONFIG_IDLE_TIMEOUT;
	c->shutdown_grace = CONFIG_SHUTDOWN_GRACE;
	c->reload_drain = CONFIG_RELOAD_DRAIN;
	c->command_timeout = CONFIG_COMMAND_TIMEOUT;
	c->login_timeout = CONFIG_LOGIN_TIMEOUT;
	c->transfer_rate = CONFIG_TRANSFER_RATE;
	c->transfer_grace = CONFIG_TRANSFER_GRACE;
	c->imap_idle_timeout = CONFIG_IMAP_IDLE_TIMEOUT;
	c->quota_grace_days = CONFIG_QUOTA_GRACE_DAYS;
	c->quota_full_mark = CONFIG_QUOTA_FULL_MARK;
	snprintf(c->smtpd_banner, sizeof(c->smtpd_banner), "%s",
	    CONFIG_SMTPD_BANNER);
	c->smtpd_max_message_size = CONFIG_SMTPD_MAX_MESSAGE_SIZE;
	c->smtpd_max_recipients = CONFIG_SMTPD_MAX_RECIPIENTS;
	c->smtpd_max_hops = CONFIG_SMTPD_MAX_HOPS;
	c->smtpd_max_bad_commands = CONFIG_SMTPD_MAX_BAD_COMMANDS;
	c->smtpd_junk_command_limit = CONFIG_SMTPD_JUNK_COMMAND_LIMIT;
	c->smtpd_memory_limit = CONFIG_SMTPD_MEMORY_LIMIT;
	c->smtpd_spool_threshold = CONFIG_SMTPD_SPOOL_THRESHOLD;
	c->smtpd_reject_non_fqdn_sender = 0;
	c->smtpd_reject_non_fqdn_helo = 0;
	c->smtpd_dnsbl_threshold = 1;
	c->mta_tls = CONFIG_TLS_MAY;
	c->mta_port = CONFIG_MTA_PORT;
	c->mta_connections = CONFIG_MTA_CONNECTIONS;
	c->mta_dest_concurrency = CONFIG_MTA_DEST_CONCURRENCY;
	c->mta_dest_recipients = CONFIG_MTA_DEST_RECIPIENTS;
	c->mta_connect_timeout = CONFIG_MTA_CONNECT_TIMEOUT;
	c->mta_greeting_timeout = CONFIG_MTA_GREETING_TIMEOUT;
	c->mta_command_timeout = CONFIG_MTA_COMMAND_TIMEOUT;
	c->mta_data_timeout = CONFIG_MTA_DATA_TIMEOUT;
	c->mta_reuse_time = CONFIG_MTA_REUSE_TIME;
	c->queue_retry_min = CONFIG_QUEUE_RETRY_MIN;
	c->queue_retry_max = CONFIG_QUEUE_RETRY_MAX;
	c->queue_max_age = CONFIG_QUEUE_MAX_AGE;
	c->queue_delay_warning = CONFIG_QUEUE_DELAY_WARNING;
	c->dns_timeout = CONFIG_DNS_TIMEOUT;
	snprintf(c->dns_trust_anchor, sizeof(c->dns_trust_anchor), "%s",
	    CONFIG_DNS_TRUST_ANCHOR);
	c->dns_ipv4 = 1;
	c->dns_ipv6 = 1;
	c->srs_enabled = CONFIG_SRS_ENABLED;
	c->srs_max_age = CONFIG_SRS_MAX_AGE;
	c->batv_max_age = CONFIG_BATV_MAX_AGE;
	snprintf(c->policy_spamd, sizeof(c->policy_spamd), "%s",
	    CONFIG_POLICY_SPAMD);
	c->policy_spamd_timeout = CONFIG_POLICY_SPAMD_TIMEOUT;
	c->policy_spam_max_size = CONFIG_POLICY_SPAM_MAX_SIZE;
	c->antivirus_timeout = CONFIG_ANTIVIRUS_TIMEOUT;
	c->antivirus_max_size = CONFIG_ANTIVIRUS_MAX_SIZE;
	c->antivirus_on_error = CONFIG_AV_TEMPFAIL;
	c->mailauth_spf_fail = CONFIG_MA_TAG;
	c->mailauth_dmarc_reject = CONFIG_MA_REJECT;
	c->mailauth_dmarc_quarantine = CONFIG_MA_QUARANTINE;
	c->mailauth_timeout = CONFIG_MAILAUTH_TIMEOUT;
	for (s = 0; s < SVC_COUNT; s++) {
		c->svc[s].auth = s == SVC_SMTP ? CONFIG_SMTP_AUTH :
		    CONFIG_SVC_AUTH;
		c->svc[s].require_auth = (s == SVC_SUBMISSION ||
		    s == SVC_SMTPS) ? CONFIG_REQUIRE_AUTH : 0;
		c->svc[s].workers = CONFIG_SVC_WORKERS;
	}
	snprintf(c->sendmail_users, sizeof(c->sendmail_users), "%s",
	    CONFIG_SENDMAIL_USERS);
	snprintf(c->sendmail_trusted, sizeof(c->sendmail_trusted), "%s",
	    CONFIG_SENDMAIL_TRUSTED);
	snprintf(c->filter_user, sizeof(c->filter_user), "%s",
	    CONFIG_FILTER_USER);
	c->filter_timeout = CONFIG_FILTER_TIMEOUT;
	c->filter_output_max = CONFIG_FILTER_OUTPUT_MAX;
	c->filter_max_procs = CONFIG_FILTER_MAX_PROCS;
	c->filter_workers = CONFIG_FILTER_WORKERS;
	c->filter_queue = CONFIG_FILTER_QUEUE;
	snprintf(c->filter_learn_spam, sizeof(c->filter_learn_spam), "%s",
	    CONFIG_FILTER_LEARN_SPAM);
	snprintf(c->filter_learn_ham, sizeof(c->filter_learn_ham), "%s",
	    CONFIG_FILTER_LEARN_HAM);
	c->filter_learn = CONFIG_FILTER_LEARN;
}

void
config_default(struct config *c)
{
	char *errors = NULL;

	if (config_parse("(embedded default)", config_embedded,
	    sizeof(config_embedded) - 1, c, &errors) != 0)
		fatalx("the embedded default configuration is broken: %s",
		    errors != NULL ? errors : err_msg());
	c->path[0] = '\0';
}

static void
config_error(struct config_parser *p, unsigned line, const char *fmt, ...)
{
	char msg[CONFIG_LINE_MAX + 512], head[PATH_MAX + 32];
	va_list ap;
	size_t need;

	p->nerr++;
	if (p->nerr > CONFIG_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->nerr == CONFIG_ERRORS_MAX)
		snprintf(msg, sizeof(msg), "too many errors; fix these first "
		    "(is this the right file?)");
	if (line > 0)
		snprintf(head, sizeof(head), "%s:%u: ", p->path, line);
	else
		snprintf(head, sizeof(head), "%s: ", p->path);
	need = strlen(head) + strlen(msg) + 2;
	if (p->errlen + need > p->errcap) {
		p->errcap = (p->errlen + need) * 2;
		p->errs = xreallocarray(p->errs, p->errcap, 1);
	}
	p->errlen += (size_t)snprintf(p->errs + p->errlen,
	    p->errcap - p->errlen, "%s%s\n", head, msg);
}

static char *
config_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* "in [pop3]" or "at the top of the file", for messages. */
static const char *
config_where(int sect)
{
	static char buf[64];

	if (sect == CS_TOP)
		return "at the top of the file";
	snprintf(buf, sizeof(buf), "in [%s]", config_sect_names[sect]);
	return buf;
}

static void
config_section(struct config_parser *p, unsigned line, char *s)
{
	char *close, *name, *rest;
	int i;

	p->sect = CS_IGNORE;
	if ((close = strchr(s, ']')) == NULL) {
		config_error(p, line, "a section header reads [name]: add the "
		    "closing ]");
		return;
	}
	*close = '\0';
	rest = config_trim(close + 1);
	name = config_trim(s + 1);
	if (*rest != '\0') {
		config_error(p, line, "text after [%s]: put each key on a line "
		    "of its own", name);
		return;
	}
	if (*name == '\0') {
		config_error(p, line, "an empty section name: write [name], "
		    "e.g. [pop3]");
		return;
	}
	for (i = CS_SVC0; i < CS_COUNT; i++)
		if (strcmp(config_sect_names[i], name) == 0)
			break;
	if (i == CS_COUNT && config_suggest_section(name, &i) == 0) {
		config_error(p, line, "unknown section [%.64s]: did you mean "
		    "[%s]?", name, config_sect_names[i]);
		return;
	}
	if (i == CS_COUNT) {
		config_error(p, line, "unknown section [%.64s]: the sections "
		    "are [smtp] [submission] [smtps] [lmtp] [imap] [imaps] "
		    "[pop3] [pop3s] [tls] [auth] [limits] [fs] [quota] "
		    "[smtpd] [mta] [queue] [dns] [srs] [batv] [policy] "
		    "[sendmail] [filter]",
		    name);
		return;
	}
	if (p->sect_line[i] != 0) {
		config_error(p, line, "[%s] appears again (first on line %u): "
		    "keep its keys in one section", name, p->sect_line[i]);
		return;
	}
	p->sect_line[i] = line;
	p->sect = i;
	if (i >= CS_SVC0 && i < CS_SVC0 + SVC_COUNT)
		p->c->svc[i - CS_SVC0].enabled = 1;
	else if (i == CS_FS)
		p->c->fs_enabled = 1;
	else if (i == CS_MTA)
		p->c->mta_enabled = 1;
}

static int
config_key_in(const struct config_key *k, int sect)
{
	if (k->sect == CS_SERVICE)
		return sect >= CS_SVC0 && sect < CS_SVC0 + SVC_COUNT &&
		    (k->svcs == 0 || (k->svcs & (1u << (sect - CS_SVC0))));
	return k->sect == sect;
}

static void
config_keyline(struct config_parser *p, unsigned line, char *s)
{
	const struct config_key *k;
	char *eq, *key, *val, keys[256], hint[160];
	size_t i, n;

	if ((eq = strchr(s, '=')) == NULL) {
		config_error(p, line, "'%.64s' has no '=': write key = value",
		    s);
		return;
	}
	*eq = '\0';
	key = config_trim(s);
	val = config_trim(eq + 1);
	if (*key == '\0') {
		config_error(p, line, "a value without a key: write key = "
		    "value");
		return;
	}
	if (p->sect == CS_IGNORE)
		return;		/* the section line had the error */
	for (i = 0; i < CK_COUNT; i++)
		if (strcmp(config_keys[i].name, key) == 0 &&
		    config_key_in(&config_keys[i], p->sect))
			break;
	if (i == CK_COUNT) {
		/* Known elsewhere?  Say where it belongs. */
		for (i = 0; i < CK_COUNT; i++)
			if (strcmp(config_keys[i].name, key) == 0)
				break;
		if (i < CK_COUNT && config_keys[i].sect == CS_SERVICE &&
		    config_keys[i].svcs != 0) {
			char where[128];
			int sv;

			where[0] = '\0';
			for (sv = 0, n = 0; sv < SVC_COUNT; sv++)
				if (config_keys[i].svcs & (1u << sv))
					n += (size_t)snprintf(where + n,
					    sizeof(where) - n, "%s[%s]",
					    n ? " or " : "",
					    config_svc_name(sv));
			config_error(p, line, "%s belongs in %s, not %s", key,
			    where, config_where(p->sect));
		} else if (i < CK_COUNT && config_keys[i].sect == CS_SERVICE)
			config_error(p, line, "%s belongs in a service section "
			    "([smtp] [submission] [smtps] [lmtp] [imap] "
			    "[imaps] [pop3] [pop3s]), not %s", key,
			    config_where(p->sect));
		else if (i < CK_COUNT && config_keys[i].sect == CS_TOP)
			config_error(p, line, "%s belongs at the top of the "
			    "file, before any [section]; move it up", key);
		else if (i < CK_COUNT)
			config_error(p, line, "%s belongs in [%s], not %s; "
			    "move it there", key,
			    config_sect_names[config_keys[i].sect],
			    config_where(p->sect));
		else if (config_suggest(p->sect, key, hint,
		    sizeof(hint)) == 0)
			config_error(p, line, "unknown key '%.64s' %s: did you "
			    "mean %s?", key, config_where(p->sect), hint);
		else {
			keys[0] = '\0';
			for (i = 0, n = 0; i < CK_COUNT; i++) {
				if (!config_key_in(&config_keys[i], p->sect))
					continue;
				n += (size_t)snprintf(keys + n,
				    sizeof(keys) - n, "%s%s", n ? ", " : "",
				    config_keys[i].name);
				if (n >= sizeof(keys))
					break;
			}
			config_error(p, line, "unknown key '%.64s' %s (the "
			    "keys there: %s)", key, config_where(p->sect),
			    keys);
		}
		return;
	}
	k = &config_keys[i];
	if (p->key_line[p->sect][i] != 0) {
		config_error(p, line, "%s is set again %s (first on line %u): "
		    "keep one", key, config_where(p->sect),
		    p->key_line[p->sect][i]);
		return;
	}
	p->key_line[p->sect][i] = line;
	config_value(p, line, k, val);
}

static int
config_bool(const char *s, int *v_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v_r = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v_r = 0;
			return 0;
		}
	}
	return -1;
}

/* Letters, digits, '-', '_' and '.', at most CONFIG_HOST_MAX. */
static int
config_hostname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_HOST_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return 0;
	return 1;
}

static void
config_value(struct config_parser *p, unsigned line,
    const struct config_key *k, const char *v)
{
	char *field = k->sect == CS_SERVICE ?
	    (char *)&p->c->svc[p->sect - CS_SVC0] + k->off :
	    (char *)p->c + k->off;
	int *ip = (int *)(void *)field;
	unsigned *up = (unsigned *)(void *)field;
	unsigned long n, mult;
	const char *s;
	char why[128];
	size_t i;
	char *end;

	switch (k->type) {
	case CT_PATH:
		if (*v == '\0')
			config_error(p, line, "%s needs a path", k->name);
		else if (strlen(v) >= k->size)
			config_error(p, line, "%s is longer than %zu bytes",
			    k->name, k->size - 1);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_HOST:
		if (!config_hostname_ok(v))
			config_error(p, line, "%s = '%.64s': write a host name "
			    "such as mail.example.test (letters, digits, '-', "
			    "'.', at most %d bytes)", k->name, v,
			    CONFIG_HOST_MAX);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_LOG:
		if (strcmp(v, "stderr") == 0)
			*ip = 0;
		else if (strcmp(v, "syslog") == 0)
			*ip = 1;
		else
			config_error(p, line, "%s = '%.64s': write stderr or "
			    "syslog", k->name, v);
		return;
	case CT_LOGLEVEL:
		if (strcmp(v, "info") == 0)
			*ip = 1;
		else if (strcmp(v, "debug") == 0)
			*ip = 2;
		else
			config_error(p, line, "%s = '%.64s': write info or "
			    "debug", k->name, v);
		return;
	case CT_USER:
		for (s = v; *s != '\0'; s++)
			if (isspace((unsigned char)*s) || *s == ':' ||
			    *s == '/')
				break;
		if (*v == '\0' || *s != '\0' || strlen(v) >= k->size)
			config_error(p, line, "%s = '%.64s': write the name of "
			    "a system user (at most %zu bytes), or remove the "
			    "line to keep running as the starting user",
			    k->name, v, k->size - 1);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_LISTEN:
		config_listen(p, line, p->sect - CS_SVC0, v);
		return;
	case CT_TEXT:
		for (s = v; *s != '\0'; s++)
			if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
				break;
		if (*v == '\0' || *s != '\0' || strlen(v) >= k->size)
			config_error(p, line, "%s = '%.64s': write printable "
			    "ASCII text of 1 to %zu bytes", k->name, v,
			    k->size - 1);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_NAMES:
		config_names(p, line, k, v, field);
		return;
	case CT_SIZE:
	case CT_BYTES: {
		uint64_t bytes = 0;

		if ((size_parse(v, &bytes) != 0 || bytes < k->min ||
		    bytes > k->max) && k->type == CT_SIZE)
			config_error(p, line, "%s = '%.64s': write a size from "
			    "%u to %u bytes, as bytes or with K, M or G after "
			    "the number (64M, 1.5G)", k->name, v, k->min,
			    k->max);
		else if (size_parse(v, &bytes) != 0 || bytes < k->min ||
		    bytes > k->max)
			config_error(p, line, "%s = '%.64s': write a number "
			    "from %u to %u (%s), or a size with K, M or G after "
			    "it (64M, 1.5G)", k->name, v, k->min, k->max,
			    k->unit != NULL ? k->unit : "bytes");
		else if (k->type == CT_SIZE)
			*(size_t *)(void *)field = (size_t)bytes;
		else
			*up = (unsigned)bytes;
		return;
	}
	case CT_COMMAND:
		for (s = v; *s != '\0'; s++)
			if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
				break;
		if (v[0] != '/' || *s != '\0' || strlen(v) >= k->size)
			config_error(p, line, "%s = '%.64s': write the absolute "
			    "path of a program and its arguments, as "
			    "/usr/bin/sa-learn --spam (printable ASCII, at "
			    "most %zu bytes)", k->name, v, k->size - 1);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_DOMAIN:
		if (*v != '\0' && !config_hostname_ok(v))
			config_error(p, line, "%s = '%.64s': write a domain "
			    "such as example.test (letters, digits, '-', '.'), "
			    "or nothing for the hostname", k->name, v);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_NETS:
		if (k->sect == CS_AUTH)
			config_nets(p, line, v, p->c->auth_trusted,
			    &p->c->auth_ntrusted);
		else
			config_nets(p, line, v, p->c->smtpd_trusted,
			    &p->c->smtpd_ntrusted);
		return;
	case CT_SECRET:
		for (s = v; *s != '\0'; s++)
			if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
				break;
		if (*v == '\0' || *s != '\0' || strlen(v) >= k->size)
			config_error(p, line, "%s: write printable ASCII text of "
			    "1 to %zu bytes (the value is not shown)", k->name,
			    k->size - 1);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_DIAL:
		if (strlen(v) >= k->size)
			config_error(p, line, "%s = '%.64s': at most %zu bytes",
			    k->name, v, k->size - 1);
		else if (*v != '\0' && !dial_addr_check(v, why, sizeof(why)))
			config_error(p, line, "%s = '%.64s': %s: write "
			    "host:port, [address]:port, a host or the absolute "
			    "path of a unix socket", k->name, v, why);
		else
			memcpy(field, v, strlen(v) + 1);
		return;
	case CT_CHOICE:
		for (i = 0; k->choices[i] != NULL; i++)
			if (strcmp(v, k->choices[i]) == 0)
				break;
		if (k->choices[i] != NULL) {
			*ip = (int)i;
			return;
		}
		why[0] = '\0';
		for (i = 0; k->choices[i] != NULL; i++)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
			    "%s%s", i == 0 ? "" : k->choices[i + 1] == NULL ?
			    " or " : ", ", k->choices[i]);
		config_error(p, line, "%s = '%.64s': write %s", k->name, v,
		    why);
		return;
	case CT_TLS:
		if ((*ip = config_tls_mode(v)) == 0)
			config_error(p, line, "%s = '%.64s': write none, may, "
			    "encrypt or verify", k->name, v);
		return;
	case CT_SOURCE:
		config_source(p, line, v);
		return;
	case CT_RESOLVERS:
		config_resolvers(p, line, v);
		return;
	case CT_DNSBL:
		config_dnsbl(p, line, v);
		return;
	case CT_BOOL:
		if (config_bool(v, ip) != 0)
			config_error(p, line, "%s = '%.64s': write yes or no",
			    k->name, v);
		return;
	case CT_UINT:
	case CT_PERCENT:
	case CT_DURATION:
		errno = 0;
		n = 0;
		end = NULL;
		if (isdigit((unsigned char)*v))
			n = strtoul(v, &end, 10);
		if (end != NULL && k->type == CT_PERCENT && *end == '%')
			end++;
		if (end != NULL && k->type == CT_DURATION && *end != '\0' &&
		    end[1] == '\0' && strchr("smhd", *end) != NULL) {
			mult = *end == 's' ? 1 : *end == 'm' ? 60 :
			    *end == 'h' ? 3600 : 86400;
			n = n > ULONG_MAX / mult ? ULONG_MAX : n * mult;
			end++;
		}
		if (end == NULL || *end != '\0' || errno != 0 ||
		    n < k->min || n > k->max) {
			if (k->type == CT_PERCENT)
				config_error(p, line, "%s = '%.64s': write a "
				    "percentage from %u%% to %u%% (%s)",
				    k->name, v, k->min, k->max, k->unit);
			else if (k->type == CT_DURATION)
				config_error(p, line, "%s = '%.64s': write a "
				    "time from %u to %u seconds, as seconds or "
				    "with s, m, h or d after the number (5m, 4h, "
				    "5d)", k->name, v, k->min, k->max);
			else
				config_error(p, line, "%s = '%.64s': write a "
				    "number from %u to %u (%s)", k->name, v,
				    k->min, k->max, k->unit);
		} else
			*up = (unsigned)n;
		return;
	}
}

/* none|may|encrypt|verify -> CONFIG_TLS_*, 0 when none of them. */
static int
config_tls_mode(const char *v)
{
	static const char *const names[] = { "none", "may", "encrypt",
	    "verify" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0)
			return (int)i + CONFIG_TLS_NONE;
	return 0;
}

/* "source = 192.0.2.1, 2001:db8::1": at most one address per family. */
static void
config_source(struct config_parser *p, unsigned line, const char *v)
{
	char buf[256], *item, *save = NULL;
	unsigned char addr[16];
	char *dst;

	p->c->mta_source4[0] = p->c->mta_source6[0] = '\0';
	if (strlen(v) >= sizeof(buf)) {
		config_error(p, line, "source is too long: write at most one "
		    "IPv4 and one IPv6 address");
		return;
	}
	memcpy(buf, v, strlen(v) + 1);
	for (item = strtok_r(buf, ", \t", &save); item != NULL;
	    item = strtok_r(NULL, ", \t", &save)) {
		if (inet_pton(AF_INET, item, addr) == 1)
			dst = p->c->mta_source4;
		else if (inet_pton(AF_INET6, item, addr) == 1)
			dst = p->c->mta_source6;
		else {
			config_error(p, line, "source = '%.64s': write an IPv4 "
			    "and/or an IPv6 address of this host, e.g. "
			    "192.0.2.1, 2001:db8::1", item);
			return;
		}
		if (dst[0] != '\0') {
			config_error(p, line, "source: two addresses of one "
			    "family; write at most one IPv4 and one IPv6");
			return;
		}
		snprintf(dst, sizeof(p->c->mta_source4), "%s", item);
	}
}

/*
 * One "host:port": IPv4 address, host name, "*" (every address) or an
 * IPv6 address in brackets.  1 when good, else 0 after an error.
 */
static int
config_listen_one(struct config_parser *p, unsigned line, const char *item,
    struct config_listen *l)
{
	unsigned char addr[16];
	const char *colon, *port, *h;
	size_t hlen;
	unsigned long n;
	char *end;

	if (item[0] == '[') {
		if ((h = strchr(item, ']')) == NULL) {
			config_error(p, line, "listen '%.64s': add the ] that "
			    "closes the IPv6 address", item);
			return 0;
		}
		hlen = (size_t)(h - item - 1);
		colon = h + 1;
		if (*colon != ':') {
			config_error(p, line, "listen '%.64s': write a port "
			    "after the address, as [::1]:110", item);
			return 0;
		}
		h = item + 1;
	} else {
		if ((colon = strrchr(item, ':')) == NULL) {
			config_error(p, line, "listen '%.64s' has no port: "
			    "write host:port, as 127.0.0.1:110", item);
			return 0;
		}
		h = item;
		hlen = (size_t)(colon - item);
		if (memchr(h, ':', hlen) != NULL) {
			config_error(p, line, "listen '%.64s': write IPv6 "
			    "addresses in brackets, as [::1]:110", item);
			return 0;
		}
	}
	if (hlen == 0 || hlen > CONFIG_HOST_MAX) {
		config_error(p, line, "listen '%.64s': %s", item, hlen == 0 ?
		    "no host; write *:PORT for every address" :
		    "the host name is too long");
		return 0;
	}
	memcpy(l->host, h, hlen);
	l->host[hlen] = '\0';
	if (item[0] == '[') {
		if (inet_pton(AF_INET6, l->host, addr) != 1) {
			config_error(p, line, "listen '%.64s': [%s] is not an "
			    "IPv6 address", item, l->host);
			return 0;
		}
	} else if (strcmp(l->host, "*") != 0) {
		if (!config_hostname_ok(l->host)) {
			config_error(p, line, "listen '%.64s': '%s' is not an "
			    "address or host name", item, l->host);
			return 0;
		}
		if (strspn(l->host, "0123456789.") == hlen &&
		    inet_pton(AF_INET, l->host, addr) != 1) {
			config_error(p, line, "listen '%.64s': '%s' is not an "
			    "IPv4 address", item, l->host);
			return 0;
		}
	}
	port = colon + 1;
	errno = 0;
	n = 0;
	end = NULL;
	if (isdigit((unsigned char)*port))
		n = strtoul(port, &end, 10);
	if (end == NULL || *end != '\0' || errno != 0 || n < 1 ||
	    n > 65535) {
		config_error(p, line, "listen '%.64s': the port must be a "
		    "number from 1 to 65535", item);
		return 0;
	}
	snprintf(l->port, sizeof(l->port), "%lu", n);
	return 1;
}

/* The same host:port twice can serve only one service. */
static void
config_listen_clash(struct config_parser *p, unsigned line, int svc,
    const struct config_listen *l)
{
	const struct config_service *o;
	int s;
	size_t i;

	for (s = 0; s < SVC_COUNT; s++) {
		o = &p->c->svc[s];
		for (i = 0; i < o->nlisten; i++) {
			if (strcmp(o->listen[i].host, l->host) != 0 ||
			    strcmp(o->listen[i].port, l->port) != 0)
				continue;
			if (s == svc)
				config_error(p, line, "listen: %s:%s is "
				    "listed twice; remove one", l->host,
				    l->port);
			else
				config_error(p, line, "listen: %s:%s is "
				    "already the address of [%s] (line %u); "
				    "give each service its own port",
				    l->host, l->port, config_svc_name(s),
				    p->key_line[CS_SVC0 + s][CK_LISTEN]);
			return;
		}
	}
}

static void
config_listen(struct config_parser *p, unsigned line, int svc, const char *v)
{
	struct config_service *sv = &p->c->svc[svc];
	struct config_listen l;
	char buf[CONFIG_LINE_MAX + 1], *item, *next;
	unsigned nerr = p->nerr;

	snprintf(buf, sizeof(buf), "%s", v);
	sv->nlisten = 0;
	if (buf[0] == '\0') {
		config_error(p, line, "listen needs an address: write "
		    "host:port, as 127.0.0.1:%s", svc == SVC_POP3 ? "110" :
		    "PORT");
		return;
	}
	for (item = buf; item != NULL; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		item = config_trim(item);
		if (*item == '\0') {
			config_error(p, line, "listen: an empty address in "
			    "the list; remove the extra ','");
			continue;
		}
		if (sv->nlisten == CONFIG_LISTEN_MAX) {
			config_error(p, line, "listen: more than %d addresses",
			    CONFIG_LISTEN_MAX);
			break;
		}
		if (!config_listen_one(p, line, item, &l))
			continue;
		config_listen_clash(p, line, svc, &l);
		sv->listen[sv->nlisten++] = l;
	}
	if (p->nerr != nerr)
		sv->nlisten = 0;
}

/*
 * "name, @group, *": each item a user or group name (no blanks, ':',
 * '/' or ','); stored without the blanks.  "" is an empty list.
 */
static void
config_names(struct config_parser *p, unsigned line,
    const struct config_key *k, const char *v, char *field)
{
	char buf[CONFIG_LINE_MAX + 1], out[CONFIG_NAMES_MAX], *item, *next;
	const char *s;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", v);
	out[0] = '\0';
	for (item = buf; *v != '\0' && item != NULL; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		item = config_trim(item);
		s = item[0] == '@' ? item + 1 : item;
		if (*s == '\0' || strcspn(s, " \t:/") != strlen(s) ||
		    (strchr(s, '*') != NULL && strcmp(item, "*") != 0)) {
			config_error(p, line, "%s: '%.64s' is not a user name, "
			    "@group or *; write a comma list such as "
			    "root, @mail, www-data", k->name, item);
			return;
		}
		if (n + strlen(item) + 2 > sizeof(out)) {
			config_error(p, line, "%s: the list is longer than "
			    "%d bytes", k->name, CONFIG_NAMES_MAX - 1);
			return;
		}
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s",
		    n ? "," : "", item);
	}
	memcpy(field, out, n + 1);
}

/* "192.0.2.0/24", "2001:db8::/32", or an address alone (a host). */
static int
config_net_parse(const char *item, struct config_net *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long prefix;
	unsigned i, max;

	if (strlen(item) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", item);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else
		return -1;
	prefix = max;
	if (slash != NULL) {
		errno = 0;
		end = NULL;
		if (isdigit((unsigned char)*slash))
			prefix = strtoul(slash, &end, 10);
		if (end == NULL || *end != '\0' || errno != 0 || prefix > max)
			return -1;
	}
	n->prefix = (unsigned)prefix;
	/* Clear the host bits so that matching compares networks. */
	for (i = n->prefix; i < max; i++)
		n->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	return 0;
}

static void
config_nets(struct config_parser *p, unsigned line, const char *v,
    struct config_net *nets, size_t *n_r)
{
	char buf[CONFIG_LINE_MAX + 1], *item, *next;
	unsigned nerr = p->nerr;

	snprintf(buf, sizeof(buf), "%s", v);
	*n_r = 0;
	if (buf[0] == '\0')
		return;		/* empty: nobody is trusted */
	for (item = buf; item != NULL; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		item = config_trim(item);
		if (*item == '\0') {
			config_error(p, line, "trusted_networks: an empty "
			    "entry in the list; remove the extra ','");
			continue;
		}
		if (*n_r == CONFIG_NETS_MAX) {
			config_error(p, line, "trusted_networks: more than %d "
			    "networks", CONFIG_NETS_MAX);
			break;
		}
		if (config_net_parse(item, &nets[*n_r]) == -1) {
			config_error(p, line, "trusted_networks: '%.64s' is "
			    "not a network; write address/prefix, as "
			    "192.0.2.0/24 or 2001:db8::/32", item);
			continue;
		}
		(*n_r)++;
	}
	if (p->nerr != nerr)
		*n_r = 0;
}

/*
 * One resolver: "192.0.2.1", "192.0.2.1:5353", "2001:db8::1" (port 53),
 * "[2001:db8::1]:5353".  Addresses only: the resolver is what turns names
 * into addresses.
 */
static int
config_resolver_parse(const char *item, struct config_resolver *r)
{
	char buf[64], *host, *port = NULL, *end, *colon;
	unsigned char addr[16];
	unsigned long n;
	int fam;

	if (strlen(item) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", item);
	host = buf;
	if (buf[0] == '[') {
		if ((end = strchr(buf, ']')) == NULL)
			return -1;
		*end = '\0';
		host = buf + 1;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else if ((colon = strchr(buf, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		/* One colon: IPv4 and a port.  More: a bare IPv6 address. */
		*colon = '\0';
		port = colon + 1;
	}
	if (inet_pton(AF_INET, host, addr) == 1 && buf[0] != '[')
		fam = AF_INET;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		fam = AF_INET6;
	else
		return -1;
	n = CONFIG_DNS_PORT;
	if (port != NULL) {
		errno = 0;
		end = NULL;
		if (isdigit((unsigned char)*port))
			n = strtoul(port, &end, 10);
		if (end == NULL || *end != '\0' || errno != 0 || n < 1 ||
		    n > 65535)
			return -1;
	}
	if (inet_ntop(fam, addr, r->addr, sizeof(r->addr)) == NULL)
		return -1;
	r->port = (unsigned)n;
	return 0;
}

/*
 * The next entry of a comma list cut up in place (*rest; NULL at the
 * end), trimmed; NULL when none is left.  An empty entry (",,") is an
 * error of key, and skipped.
 */
static char *
config_list_next(struct config_parser *p, unsigned line, const char *key,
    char **rest)
{
	char *item, *next;

	while ((item = *rest) != NULL) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		*rest = next;
		item = config_trim(item);
		if (*item != '\0')
			return item;
		config_error(p, line, "%s: an empty entry in the list; remove "
		    "the extra ','", key);
	}
	return NULL;
}

static void
config_resolvers(struct config_parser *p, unsigned line, const char *v)
{
	struct config *c = p->c;
	char buf[CONFIG_LINE_MAX + 1], *item, *rest;
	unsigned nerr = p->nerr;

	snprintf(buf, sizeof(buf), "%s", v);
	c->dns_nresolvers = 0;
	if (buf[0] == '\0') {
		config_error(p, line, "resolver needs an address, as "
		    "127.0.0.1 or [::1]:5353; remove the line to use the "
		    "servers of /etc/resolv.conf");
		return;
	}
	rest = buf;
	while ((item = config_list_next(p, line, "resolver", &rest)) != NULL) {
		if (c->dns_nresolvers == CONFIG_RESOLVERS_MAX) {
			config_error(p, line, "resolver: more than %d "
			    "addresses", CONFIG_RESOLVERS_MAX);
			break;
		}
		if (config_resolver_parse(item,
		    &c->dns_resolvers[c->dns_nresolvers]) == -1) {
			config_error(p, line, "resolver: '%.64s' is not an "
			    "address; write an IP address with an optional "
			    "port, as 127.0.0.1, 127.0.0.1:5353, ::1 or "
			    "[::1]:5353", item);
			continue;
		}
		c->dns_nresolvers++;
	}
	if (p->nerr != nerr)
		c->dns_nresolvers = 0;
}

/*
 * One octet of a DNSBL filter: N, [lo..hi] or [a;b;c] (values 0..255)
 * into the bit set: 0, or -1 when malformed.
 */
static int
config_dnsbl_octet(const char *s, unsigned char *set)
{
	unsigned long lo, hi, n;
	char *end;

	memset(set, 0, 32);
	if (*s != '[') {
		if (!isdigit((unsigned char)*s))
			return -1;
		n = strtoul(s, &end, 10);
		if (*end != '\0' || n > 255)
			return -1;
		set[n / 8] |= (unsigned char)(1u << (n % 8));
		return 0;
	}
	for (s++;; s = end + 1) {
		if (!isdigit((unsigned char)*s))
			return -1;
		lo = hi = strtoul(s, &end, 10);
		if (end[0] == '.' && end[1] == '.') {
			if (!isdigit((unsigned char)end[2]))
				return -1;
			hi = strtoul(end + 2, &end, 10);
		}
		if (lo > hi || hi > 255)
			return -1;
		for (n = lo; n <= hi; n++)
			set[n / 8] |= (unsigned char)(1u << (n % 8));
		if (*end == ']')
			return end[1] == '\0' ? 0 : -1;
		if (*end != ';')
			return -1;
	}
}

/*
 * A filter into its four octets at the dots outside brackets ("[2..4]"
 * has dots of its own): how many there were (4 is right).
 */
static int
config_dnsbl_split(const char *f, char oct[4][64])
{
	size_t o = 0;
	int n = 0, depth = 0;

	for (; *f != '\0'; f++) {
		if (*f == '.' && depth == 0) {
			oct[n][o] = '\0';
			if (++n == 4)
				return 5;
			o = 0;
			continue;
		}
		if (*f == '[')
			depth++;
		else if (*f == ']')
			depth--;
		if (o + 1 >= sizeof(oct[0]))
			return 0;
		oct[n][o++] = *f;
	}
	oct[n][o] = '\0';
	return n + 1;
}

static void
config_dnsbl(struct config_parser *p, unsigned line, const char *v)
{
	struct config *c = p->c;
	struct config_dnsbl *d;
	char buf[CONFIG_LINE_MAX + 1], oct[4][64], *item, *rest, *w, *f;
	unsigned nerr = p->nerr;
	long weight;
	char *end;
	int i, n;

	snprintf(buf, sizeof(buf), "%s", v);
	c->smtpd_ndnsbl = 0;
	/* "dnsbl_sites =" is none, as when the key is absent */
	rest = *config_trim(buf) != '\0' ? buf : NULL;
	while ((item = config_list_next(p, line, "dnsbl_sites", &rest)) !=
	    NULL) {
		if (c->smtpd_ndnsbl == CONFIG_DNSBL_MAX) {
			config_error(p, line, "dnsbl_sites: more than %d "
			    "zones", CONFIG_DNSBL_MAX);
			break;
		}
		d = &c->smtpd_dnsbl[c->smtpd_ndnsbl];
		memset(d, 0, sizeof(*d));
		d->weight = 1;
		if ((w = strchr(item, '*')) != NULL) {
			*w++ = '\0';
			errno = 0;
			weight = strtol(w, &end, 10);
			if (*w == '\0' || *end != '\0' || errno != 0 ||
			    weight == 0 || weight > CONFIG_DNSBL_WEIGHT_MAX ||
			    weight < -CONFIG_DNSBL_WEIGHT_MAX) {
				config_error(p, line, "dnsbl_sites: weight "
				    "'%.32s' is not a number from -%d to %d, "
				    "not 0", w, CONFIG_DNSBL_WEIGHT_MAX,
				    CONFIG_DNSBL_WEIGHT_MAX);
				continue;
			}
			d->weight = (int)weight;
		}
		if ((f = strchr(item, '=')) != NULL) {
			*f++ = '\0';
			d->filtered = 1;
			snprintf(d->filter, sizeof(d->filter), "%s", f);
			n = config_dnsbl_split(f, oct);
			for (i = 0; i < 4 && n == 4; i++)
				if (config_dnsbl_octet(oct[i],
				    d->octets[i]) == -1)
					break;
			if (n != 4 || i < 4 || strlen(f) >= sizeof(d->filter)) {
				config_error(p, line, "dnsbl_sites: filter "
				    "'%.64s' is not an address pattern, as "
				    "127.0.0.2, 127.0.0.[2..11] or "
				    "127.0.[0;1].[2..255]", f);
				continue;
			}
		}
		if (!config_hostname_ok(item) ||
		    strlen(item) >= sizeof(d->zone)) {
			config_error(p, line, "dnsbl_sites: '%.64s' is not a "
			    "zone; write zone[=filter][*weight], as "
			    "zen.spamhaus.org*2 or bl.example=127.0.0.2",
			    item);
			continue;
		}
		snprintf(d->zone, sizeof(d->zone), "%s", item);
		c->smtpd_ndnsbl++;
	}
	if (p->nerr != nerr)
		c->smtpd_ndnsbl = 0;
}

int
config_net_match(const struct config_net *nets, size_t n, const char *ip)
{
	unsigned char a4[4], a6[16];
	const unsigned char *a;
	unsigned bits, full, rest;
	int v4, v6;
	size_t i;

	v4 = inet_pton(AF_INET, ip, a4) == 1;
	v6 = !v4 && inet_pton(AF_INET6, ip, a6) == 1;
	if (!v4 && !v6)
		return 0;
	/* An IPv4 client on an IPv6 socket: ::ffff:a.b.c.d. */
	if (v6 && memcmp(a6, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memcpy(a4, a6 + 12, 4);
		v4 = 1;
		v6 = 0;
	}
	for (i = 0; i < n; i++) {
		if (nets[i].family != (v4 ? AF_INET : AF_INET6))
			continue;
		a = v4 ? a4 : a6;
		bits = nets[i].prefix;
		full = bits / 8;
		rest = bits % 8;
		if (memcmp(a, nets[i].addr, full) != 0)
			continue;
		if (rest != 0 && ((a[full] ^ nets[i].addr[full]) &
		    (0xffu << (8 - rest)) & 0xffu) != 0)
			continue;
		return 1;
	}
	return 0;
}

/*
 * Names other mail servers use for a key of ours (Postfix main.cf,
 * Dovecot), for "did you mean".  sect is where ours lives.
 */
static const struct config_alias {
	const char	*theirs;
	int		 sect;
	const char	*ours;
} config_aliases[] = {
	{ "mynetworks", CS_SMTPD, "trusted_networks" },
	{ "message_size_limit", CS_SMTPD, "max_message_size" },
	{ "smtpd_recipient_limit", CS_SMTPD, "max_recipients" },
	{ "hopcount_limit", CS_SMTPD, "max_hops" },
	{ "smtpd_hard_error_limit", CS_SMTPD, "max_bad_commands" },
	{ "smtpd_junk_command_limit", CS_SMTPD, "junk_command_limit" },
	{ "smtpd_client_connection_rate_limit", CS_SMTPD,
	    "client_connection_rate" },
	{ "smtpd_client_message_rate_limit", CS_SMTPD, "client_message_rate" },
	{ "smtpd_banner", CS_SMTPD, "banner" },
	{ "reject_non_fqdn_helo_hostname", CS_SMTPD, "reject_non_fqdn_helo" },
	{ "postscreen_dnsbl_sites", CS_SMTPD, "dnsbl_sites" },
	{ "postscreen_dnsbl_threshold", CS_SMTPD, "dnsbl_threshold" },
	{ "reject_unknown_client_hostname", CS_SMTPD,
	    "reject_unknown_client" },
	{ "myhostname", CS_TOP, "hostname" },
	{ "mail_location", CS_TOP, "data_dir" },
	{ "mail_home", CS_TOP, "data_dir" },
	{ "queue_directory", CS_TOP, "data_dir" },
	{ "mail_owner", CS_TOP, "user" },
	{ "mail_uid", CS_TOP, "user" },
	{ "default_internal_user", CS_TOP, "user" },
	{ "ssl_cert", CS_TLS, "cert" },
	{ "ssl_key", CS_TLS, "key" },
	{ "smtpd_tls_cert_file", CS_TLS, "cert" },
	{ "smtpd_tls_key_file", CS_TLS, "key" },
	{ "smtpd_tls_chain_files", CS_TLS, "cert" },
	{ "disable_plaintext_auth", CS_AUTH, "plaintext" },
	{ "auth_allow_cleartext", CS_AUTH, "plaintext" },
	{ "auth_failure_delay", CS_AUTH, "fail_delay" },
	{ "login_trusted_networks", CS_AUTH, "trusted_networks" },
	{ "mail_max_userip_connections", CS_LIMITS, "connections_per_ip" },
	{ "smtpd_client_connection_count_limit", CS_LIMITS,
	    "connections_per_ip" },
	{ "default_process_limit", CS_LIMITS, "connections" },
	{ "smtpd_timeout", CS_LIMITS, "command_timeout" },
	{ "imap_idle_notify_interval", CS_LIMITS, "imap_idle_timeout" },
	{ "relay_host", CS_MTA, "relayhost" },
	{ "smtp_helo_name", CS_MTA, "helo_name" },
	{ "smtp_bind_address", CS_MTA, "source" },
	{ "smtp_tls_security_level", CS_MTA, "tls" },
	{ "smtp_tls_cafile", CS_MTA, "tls_ca_file" },
	{ "smtp_sasl_password_maps", CS_MTA, "relay_password" },
	{ "default_destination_concurrency_limit", CS_MTA,
	    "destination_concurrency" },
	{ "default_destination_recipient_limit", CS_MTA,
	    "destination_recipients" },
	{ "smtp_connect_timeout", CS_MTA, "connect_timeout" },
	{ "smtp_helo_timeout", CS_MTA, "greeting_timeout" },
	{ "smtp_data_done_timeout", CS_MTA, "data_timeout" },
	{ "maximal_queue_lifetime", CS_QUEUE, "max_age" },
	{ "bounce_queue_lifetime", CS_QUEUE, "max_age" },
	{ "delay_warning_time", CS_QUEUE, "delay_warning" },
	{ "minimal_backoff_time", CS_QUEUE, "retry_min" },
	{ "maximal_backoff_time", CS_QUEUE, "retry_max" },
	{ "quota_grace", CS_QUOTA, "grace_days" },
	{ "quota_warning", CS_QUOTA, "full_mark" },
	{ "dnssec_validation", CS_DNS, "dnssec" },
	{ "inet_protocols", CS_DNS, "ipv6" },
	{ "syslog_facility", CS_TOP, "log" },
	{ "log_path", CS_TOP, "log" },
	{ "mail_debug", CS_TOP, "log_level" },
};

/* Section names of other servers (Dovecot's ssl, protocols). */
static const struct config_sect_alias {
	const char	*theirs;
	int		 sect;
} config_sect_aliases[] = {
	{ "ssl", CS_TLS },
	{ "submissions", CS_SVC0 + SVC_SMTPS },
	{ "imap4", CS_SVC0 + SVC_IMAP },
	{ "pop", CS_SVC0 + SVC_POP3 },
	{ "pop3d", CS_SVC0 + SVC_POP3 },
	{ "imapd", CS_SVC0 + SVC_IMAP },
	{ "smtp_client", CS_MTA },
	{ "relay", CS_MTA },
	{ "resolver", CS_DNS },
	{ "maildrop", CS_FILTER },
	{ "sieve", CS_FILTER },
};

/* Levenshtein distance, case-insensitive, of two short names. */
static unsigned
config_distance(const char *a, const char *b)
{
	unsigned row[CONFIG_SUGGEST_LEN + 1], diag, up, i, j, la, lb;

	la = (unsigned)strlen(a);
	lb = (unsigned)strlen(b);
	if (la > CONFIG_SUGGEST_LEN || lb > CONFIG_SUGGEST_LEN)
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			row[j] = diag + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (up + 1 < row[j])
				row[j] = up + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			diag = up;
		}
	}
	return row[lb];
}

/* "[smtpd] or [auth]": the sections that hold a key called name. */
static void
config_key_sections(const char *name, int skip, char *buf, size_t size)
{
	size_t i, n = 0;
	int s;

	buf[0] = '\0';
	for (s = 0; s < CS_COUNT && n < size; s++) {
		if (s == skip)
			continue;
		for (i = 0; i < CK_COUNT; i++)
			if (strcmp(config_keys[i].name, name) == 0 &&
			    config_key_in(&config_keys[i], s))
				break;
		if (i == CK_COUNT)
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s%s%s%s",
		    n ? " or " : "", s == CS_TOP ? "" : "[",
		    s == CS_TOP ? "the top of the file" : config_sect_names[s],
		    s == CS_TOP ? "" : "]");
	}
}

/*
 * A key we have for an unknown one: the alias table, else the closest
 * name within CONFIG_SUGGEST_DIST edits (a third of the name at most),
 * preferring keys of sect.  0 with "name" or "name (in [x])" in buf,
 * -1 when nothing is close.
 */
static int
config_suggest(int sect, const char *key, char *buf, size_t size)
{
	const char *best = NULL;
	char where[128];
	unsigned d, bestd = UINT_MAX, limit;
	size_t i;

	for (i = 0; i < sizeof(config_aliases) / sizeof(config_aliases[0]);
	    i++)
		if (strcasecmp(config_aliases[i].theirs, key) == 0) {
			best = config_aliases[i].ours;
			break;
		}
	if (best == NULL) {
		limit = (unsigned)strlen(key) / 3;
		if (limit > CONFIG_SUGGEST_DIST)
			limit = CONFIG_SUGGEST_DIST;
		if (limit == 0)
			limit = 1;
		for (i = 0; i < CK_COUNT; i++) {
			d = config_distance(key, config_keys[i].name);
			/* A key of this section wins a tie. */
			if (d <= limit && (d < bestd || (d == bestd &&
			    config_key_in(&config_keys[i], sect)))) {
				bestd = d;
				best = config_keys[i].name;
			}
		}
	}
	if (best == NULL)
		return -1;
	for (i = 0; i < CK_COUNT; i++)
		if (strcmp(config_keys[i].name, best) == 0 &&
		    config_key_in(&config_keys[i], sect))
			break;
	if (i < CK_COUNT) {
		snprintf(buf, size, "%s", best);
		return 0;
	}
	config_key_sections(best, -1, where, sizeof(where));
	snprintf(buf, size, "%s (in %s)", best, where);
	return 0;
}

/* A section for an unknown one: alias table, else one edit away. */
static int
config_suggest_section(const char *name, int *sect_r)
{
	size_t i;
	int s;

	for (i = 0; i < sizeof(config_sect_aliases) /
	    sizeof(config_sect_aliases[0]); i++)
		if (strcasecmp(config_sect_aliases[i].theirs, name) == 0) {
			*sect_r = config_sect_aliases[i].sect;
			return 0;
		}
	for (s = CS_SVC0; s < CS_COUNT; s++)
		if (config_distance(name, config_sect_names[s]) <= 1) {
			*sect_r = s;
			return 0;
		}
	return -1;
}

/* Checks that need the whole file. */
static void
config_final(struct config_parser *p)
{
	struct config *c = p->c;
	int s;

	for (s = 0; s < SVC_COUNT; s++)
		if (p->sect_line[CS_SVC0 + s] != 0 &&
		    p->key_line[CS_SVC0 + s][CK_LISTEN] == 0)
			config_error(p, p->sect_line[CS_SVC0 + s], "[%s] has "
			    "no listen key: add listen = host:port, or remove "
			    "the section if the service should not run",
			    config_svc_name(s));
	if (p->sect_line[CS_TLS] != 0 &&
	    (p->key_line[CS_TLS][CK_TLS_CERT] == 0) !=
	    (p->key_line[CS_TLS][CK_TLS_KEY] == 0))
		config_error(p, p->sect_line[CS_TLS], "[tls] needs both cert "
		    "and key (or neither: then a self-signed pair is made in "
		    "data_dir)");
	if (p->sect_line[CS_FS] != 0 && p->key_line[CS_FS][CK_MOUNTPOINT] == 0)
		config_error(p, p->sect_line[CS_FS], "[fs] has no mountpoint "
		    "key: add mountpoint = /path, or remove the section if "
		    "the file system should not be mounted");
	if ((c->mta_relay_user[0] == '\0') != (c->mta_relay_password[0] == '\0'))
		config_error(p, p->sect_line[CS_MTA], "[mta] relay_user and "
		    "relay_password go together: give both, or neither");
	if (c->mta_relay_user[0] != '\0' && c->mta_relayhost[0] == '\0')
		config_error(p, p->sect_line[CS_MTA], "[mta] relay_user needs "
		    "a relayhost = [host]:port to log in to");
	if (c->queue_retry_min > c->queue_retry_max)
		config_error(p, p->key_line[CS_QUEUE][CK_QUEUE_RETRY_MIN],
		    "[queue] retry_min (%u s) is over retry_max (%u s)",
		    c->queue_retry_min, c->queue_retry_max);
	if (!c->dns_ipv4 && !c->dns_ipv6)
		config_error(p, p->key_line[CS_DNS][CK_DNS_IPV4] >
		    p->key_line[CS_DNS][CK_DNS_IPV6] ?
		    p->key_line[CS_DNS][CK_DNS_IPV4] :
		    p->key_line[CS_DNS][CK_DNS_IPV6], "[dns] ipv4 = no and "
		    "ipv6 = no leave no address to deliver to; keep one");
	if (c->data_dir[0] == '\0' && p->key_line[CS_TOP][CK_DATA_DIR] == 0)
		config_error(p, 0, "data_dir is required: add a line "
		    "data_dir = /var/lib/vellum before any [section]");
}

static void
config_line(struct config_parser *p, unsigned line, const char *text,
    size_t len)
{
	char buf[CONFIG_LINE_MAX + 1], *s, *hash;

	if (len > 0 && text[len - 1] == '\r')
		len--;
	if (len > CONFIG_LINE_MAX) {
		config_error(p, line, "the line is longer than %d bytes; "
		    "shorten it", CONFIG_LINE_MAX);
		return;
	}
	if (memchr(text, '\0', len) != NULL) {
		config_error(p, line, "a NUL byte: the file must be text");
		return;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	/* '#' starts a comment at the start of a line or after a blank. */
	for (hash = buf; (hash = strchr(hash, '#')) != NULL; hash++)
		if (hash == buf || hash[-1] == ' ' || hash[-1] == '\t') {
			*hash = '\0';
			break;
		}
	s = config_trim(buf);
	if (*s == '\0')
		return;
	if (*s == '[')
		config_section(p, line, s);
	else
		config_keyline(p, line, s);
}

int
config_parse(const char *path, const char *text, size_t len,
    struct config *c, char **errors_r)
{
	struct config_parser *p;
	const char *t = text, *end = text + len, *nl;
	unsigned line = 0;
	int rc = 0;

	if (errors_r != NULL)
		*errors_r = NULL;
	config_file_defaults(c);
	snprintf(c->path, sizeof(c->path), "%s", path);
	p = xcalloc(1, sizeof(*p));
	p->path = path;
	p->c = c;
	p->sect = CS_TOP;
	/* A UTF-8 byte order mark, as some editors write. */
	if (len >= 3 && memcmp(t, "\xef\xbb\xbf", 3) == 0)
		t += 3;
	while (t < end) {
		nl = memchr(t, '\n', (size_t)(end - t));
		line++;
		config_line(p, line, t, nl != NULL ? (size_t)(nl - t) :
		    (size_t)(end - t));
		t = nl != NULL ? nl + 1 : end;
	}
	config_final(p);
	if (p->nerr > 0) {
		rc = err_set(ERR_INVALID, "%s: %u error%s in the "
		    "configuration", path, p->nerr, p->nerr == 1 ? "" : "s");
		if (errors_r != NULL)
			*errors_r = p->errs;
		else
			free(p->errs);
	}
	free(p);
	return rc;
}

int
config_load(const char *path, struct config *c, char **errors_r)
{
	char *text, *errs;
	size_t len = 0, cap = 4096;
	ssize_t n;
	int fd, rc;

	if (errors_r != NULL)
		*errors_r = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(errno == ENOENT || errno == ENOTDIR ?
		    ERR_NOTFOUND : ERR_TEMP, "cannot read %s: %s (give the "
		    "path of vellum.conf)", path, strerror(errno));
	text = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_FILE_MAX)
				break;
			cap *= 2;
			text = xreallocarray(text, cap, 1);
		}
		n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(ERR_TEMP, "cannot read %s: %s", path,
			    strerror(errno));
			close(fd);
			free(text);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > CONFIG_FILE_MAX) {
		free(text);
		config_file_defaults(c);
		snprintf(c->path, sizeof(c->path), "%s", path);
		errs = xasprintf("%s: larger than %d bytes: is this "
		    "vellum.conf?\n", path, CONFIG_FILE_MAX);
		if (errors_r != NULL)
			*errors_r = errs;
		else
			free(errs);
		return err_set(ERR_INVALID, "%s: not a configuration file",
		    path);
	}
	rc = config_parse(path, text, len, c, errors_r);
	free(text);
	return rc < 0 ? -1 : 0;
}

/* Printing (config show) ------------------------------------------------ */

static void
config_fmt_duration(unsigned secs, char *buf, size_t size)
{
	duration_format(secs, buf, size);
}

static void
config_fmt_nets(const struct config_net *nets, size_t n, char *buf,
    size_t size)
{
	char a[INET6_ADDRSTRLEN];
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < n && len < size; i++) {
		if (inet_ntop(nets[i].family, nets[i].addr, a, sizeof(a)) ==
		    NULL)
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s%s/%u",
		    len ? ", " : "", a, nets[i].prefix);
	}
}

/*
 * The value of key k in c (svc: the service, for CS_SERVICE keys) as
 * config_value() reads it back.  1 when it has one, 0 when it is unset
 * and cannot be written as a value (no cert, no relayhost).
 */
static int
config_fmt(const struct config *c, const struct config_key *k, int svc,
    char *buf, size_t size)
{
	static const char *const tls[] = { "", "none", "may", "encrypt",
	    "verify" };
	const char *field = k->sect == CS_SERVICE ?
	    (const char *)&c->svc[svc] + k->off : (const char *)c + k->off;
	const int *ip = (const void *)field;
	const unsigned *up = (const void *)field;
	const struct config_service *sv;
	size_t i, len = 0;

	buf[0] = '\0';
	switch (k->type) {
	case CT_LISTEN:
		sv = &c->svc[svc];
		for (i = 0; i < sv->nlisten && len < size; i++)
			len += (size_t)snprintf(buf + len, size - len,
			    strchr(sv->listen[i].host, ':') != NULL ?
			    "%s[%s]:%s" : "%s%s:%s", len ? ", " : "",
			    sv->listen[i].host, sv->listen[i].port);
		return 1;
	case CT_LOG:
		snprintf(buf, size, "%s", *ip ? "syslog" : "stderr");
		return 1;
	case CT_LOGLEVEL:
		snprintf(buf, size, "%s", *ip >= 2 ? "debug" : "info");
		return 1;
	case CT_BOOL:
		snprintf(buf, size, "%s", *ip ? "yes" : "no");
		return 1;
	case CT_CHOICE:
		for (i = 0; k->choices[i] != NULL && i < (size_t)*ip; i++)
			;
		snprintf(buf, size, "%s", k->choices[i] != NULL ?
		    k->choices[i] : k->choices[0]);
		return 1;
	case CT_TLS:
		snprintf(buf, size, "%s", *ip >= CONFIG_TLS_NONE &&
		    *ip <= CONFIG_TLS_VERIFY ? tls[*ip] : "may");
		return 1;
	case CT_UINT:
		snprintf(buf, size, "%u", *up);
		return 1;
	case CT_PERCENT:
		snprintf(buf, size, "%u%%", *up);
		return 1;
	case CT_DURATION:
		config_fmt_duration(*up, buf, size);
		return 1;
	case CT_BYTES:
		size_format_exact(*up, buf, size);
		return 1;
	case CT_SIZE:
		size_format_exact(*(const size_t *)(const void *)field, buf,
		    size);
		return 1;
	case CT_NETS:
		if (k->sect == CS_AUTH)
			config_fmt_nets(c->auth_trusted, c->auth_ntrusted, buf,
			    size);
		else
			config_fmt_nets(c->smtpd_trusted, c->smtpd_ntrusted,
			    buf, size);
		return 1;
	case CT_DNSBL:
		for (i = 0; i < c->smtpd_ndnsbl && len < size; i++)
			len += (size_t)snprintf(buf + len, size - len,
			    "%s%s%s%s*%d", len ? ", " : "",
			    c->smtpd_dnsbl[i].zone,
			    c->smtpd_dnsbl[i].filtered ? "=" : "",
			    c->smtpd_dnsbl[i].filter,
			    c->smtpd_dnsbl[i].weight);
		return len > 0;
	case CT_RESOLVERS:
		for (i = 0; i < c->dns_nresolvers && len < size; i++)
			len += (size_t)snprintf(buf + len, size - len,
			    strchr(c->dns_resolvers[i].addr, ':') != NULL ?
			    "%s[%s]:%u" : "%s%s:%u", len ? ", " : "",
			    c->dns_resolvers[i].addr, c->dns_resolvers[i].port);
		return len > 0;
	case CT_SOURCE:
		snprintf(buf, size, "%s%s%s", c->mta_source4,
		    c->mta_source4[0] && c->mta_source6[0] ? ", " : "",
		    c->mta_source6);
		return buf[0] != '\0';
	case CT_NAMES:
	case CT_DOMAIN:
		snprintf(buf, size, "%s", field);
		return 1;
	case CT_PATH:
	case CT_HOST:
	case CT_USER:
	case CT_TEXT:
	case CT_SECRET:
	case CT_COMMAND:
	case CT_DIAL:
		snprintf(buf, size, "%s", field);
		return buf[0] != '\0';
	}
	return 0;
}

/* Whether section s is printed at all, and whether its header must be. */
static int
config_sect_present(const struct config *c, int s)
{
	if (s >= CS_SVC0 && s < CS_SVC0 + SVC_COUNT)
		return c->svc[s - CS_SVC0].enabled;
	if (s == CS_FS)
		return c->fs_enabled;
	if (s == CS_MTA)
		return c->mta_enabled;
	return 0;
}

int
config_print(FILE *fp, const struct config *c, int flags)
{
	int all = (flags & CONFIG_PRINT_ALL) != 0;
	struct config *d;
	char val[CONFIG_LINE_MAX + 1], def[CONFIG_LINE_MAX + 1];
	size_t i;
	int s, svc, have, dhave, header, present;

	d = xmalloc(sizeof(*d));
	config_file_defaults(d);
	for (s = 0; s < CS_COUNT; s++) {
		svc = s - CS_SVC0;
		present = config_sect_present(c, s);
		/* A service, [fs] or [mta] runs when its section is there. */
		if (!present && ((s >= CS_SVC0 && s < CS_SVC0 + SVC_COUNT) ||
		    s == CS_FS || s == CS_MTA))
			continue;
		header = s != CS_TOP;
		for (i = 0; i < CK_COUNT; i++) {
			const struct config_key *k = &config_keys[i];

			if (!config_key_in(k, s))
				continue;
			have = config_fmt(c, k, svc, val, sizeof(val));
			dhave = config_fmt(d, k, svc, def, sizeof(def));
			if (!all && have == dhave && strcmp(val, def) == 0 &&
			    k->type != CT_LISTEN)
				continue;
			if (header)
				fprintf(fp, "\n[%s]\n", config_sect_names[s]);
			header = 0;
			if (have && k->type == CT_SECRET &&
			    !(flags & CONFIG_PRINT_SECRETS))
				fprintf(fp, "# %s = (hidden)\n", k->name);
			else if (have)
				fprintf(fp, "%s = %s\n", k->name, val);
			else
				fprintf(fp, "# %s = (not set)\n", k->name);
		}
		if (header && (present || all))
			fprintf(fp, "\n[%s]\n", config_sect_names[s]);
	}
	free(d);
	if (fflush(fp) != 0 || ferror(fp))
		return err_set(ERR_TEMP, "writing the configuration: %s",
		    strerror(errno));
	return 0;
}
