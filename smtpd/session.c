/*
 * session.c - one SMTP or LMTP conversation.
 *
 * Commands come from the conn one line at a time.  DATA comes as a raw
 * stream (conn_read_stream()) fed to the pure decoder (parse.c), which
 * ends it only at CRLF "." CRLF; the bytes after the end go back to the
 * line reader.  BDAT chunks come as counted bytes (conn_read_bytes()).
 *
 * Memory: a message being received is kept in memory only while it is
 * under [smtpd] spool_threshold and the reservation of all sessions
 * together (smtp_inflight) stays within memory_limit; past either it goes
 * on in an unlinked file in data_dir, which is mapped for the delivery.
 * Room is reserved before bytes are copied, so the limit holds at every
 * moment.  With no spool file (spool_threshold = 0, or the file cannot be
 * written) the rest of the message is read and thrown away and the end of
 * data is answered 452 4.3.1.
 *
 * A finished message is not delivered at once: it joins the pending list
 * and the store writer thread commits it with the others that finished
 * meanwhile (one durable commit, commit.c).  The session stays paused
 * until it is answered, so pipelined commands wait.  Nothing here frees a
 * session: only on_close does, after the conn is gone (or, when its
 * message is on the writer thread or its filters run, the thread's done
 * callback).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sessreg.h"
#include "common/tmpfile.h"
#include "common/worker.h"
#include "common/xmalloc.h"
#include "store/access.h"
#include "store/domain.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"
#include "deliver/deliver.h"
#include "smtpd/parse.h"
#include "smtpd/session.h"
#include "smtpd/sessionpriv.h"

/*
 * Bytes of memory reserved for messages being received (and waiting for
 * their delivery), all sessions together: never above [smtpd]
 * memory_limit, so many clients sending large messages at once cannot
 * exhaust memory.
 */
static size_t smtp_inflight;


#define S_INIT	(1u << SMTP_S_INIT)
#define S_HELO	(1u << SMTP_S_HELO)
#define S_MAIL	(1u << SMTP_S_MAIL)
#define S_RCPT	(1u << SMTP_S_RCPT)
#define S_BDAT	(1u << SMTP_S_BDAT)
#define S_LINES	(S_INIT | S_HELO | S_MAIL | S_RCPT | S_BDAT)

/*
 * Junk commands on port 25 ([smtpd] junk_command_limit): from the
 * SMTP_JUNK_DELAY_FROM-th on, each reply waits one second more for every
 * SMTP_JUNK_DELAY_STEP of them.
 */
#define SMTP_JUNK_DELAY_FROM	10
#define SMTP_JUNK_DELAY_STEP	10



typedef void smtp_cmd_fn(struct smtp_session *, const struct smtp_cmd *);

struct smtp_command {
	const char	*verb;
	unsigned	 states;
	smtp_cmd_fn	*fn;
};

static const char *session_state_name(enum smtp_state);
static const char *session_state_error(struct smtp_session *,
		    const char *);
static void	session_class_reply(enum err_class, int *, const char **);
static void	session_reset_tx(struct smtp_session *);
static void	session_new_txid(struct smtp_session *);
static void	session_hello(struct smtp_session *, const struct smtp_cmd *,
		    int);
static int	session_msg_room(struct smtp_session *, size_t);
static int	session_spool_open(struct smtp_session *);
static int	session_spool_write(struct smtp_session *, const char *,
		    size_t);
static void	session_msg_noroom(struct smtp_session *, const char *);
static void	session_msg_put(struct smtp_session *, const char *, size_t);
static void	session_msg_free(struct smtp_session *);
static int	session_msg_ready(struct smtp_session *);
static void	session_msg_begin(struct smtp_session *);
static void	session_data_end(struct smtp_session *);
static int	session_hops_ok(struct smtp_session *);
static void	session_chunk_end(struct smtp_session *);
static void	session_accept(struct conn *, struct smtp_server *,
		    enum config_svc);
static void	session_reply(struct smtp_session *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	session_reply_done(void *, int);
static int	session_junk_ok(struct smtp_session *, const char *);


static void	session_on_line(struct conn *, const char *, size_t);
static void	session_on_toolong(struct conn *);
static void	session_on_timeout(struct conn *);
static void	session_on_shutdown(struct conn *);
static void	session_on_close(struct conn *);
static void	session_on_bytes(struct conn *, const char *, size_t, int);
static size_t	session_on_stream(struct conn *, const char *, size_t);

static smtp_cmd_fn cmd_helo, cmd_ehlo, cmd_lhlo, cmd_starttls,
	cmd_mail, cmd_rcpt, cmd_data, cmd_bdat, cmd_rset, cmd_noop, cmd_quit,
	cmd_vrfy, cmd_help;

/*
 * MAIL before HELO/EHLO is accepted, as Postfix does by default
 * (smtpd_helo_required = no), unless [smtpd] reject_non_fqdn_helo
 * applies (fqdn.c); LMTP insists on LHLO.
 * BDAT is allowed everywhere: its chunk must be read (and thrown away)
 * even when it comes at the wrong time, so it checks the state itself.
 */
static const struct smtp_command smtp_commands[] = {
	{ "HELO",	S_LINES,		cmd_helo },
	{ "EHLO",	S_LINES,		cmd_ehlo },
	{ "LHLO",	S_LINES,		cmd_lhlo },
	{ "STARTTLS",	S_INIT | S_HELO,	cmd_starttls },
	{ "AUTH",	S_HELO,			cmd_auth },
	{ "MAIL",	S_INIT | S_HELO,	cmd_mail },
	{ "RCPT",	S_MAIL | S_RCPT,	cmd_rcpt },
	{ "DATA",	S_RCPT,			cmd_data },
	{ "BDAT",	S_LINES,		cmd_bdat },
	{ "RSET",	S_LINES,		cmd_rset },
	{ "NOOP",	S_LINES,		cmd_noop },
	{ "QUIT",	S_LINES,		cmd_quit },
	{ "VRFY",	S_LINES,		cmd_vrfy },
	{ "HELP",	S_LINES,		cmd_help },
};

static const struct conn_ops session_ops = {
	.on_line = session_on_line,
	.on_toolong = session_on_toolong,
	.on_timeout = session_on_timeout,
	.on_shutdown = session_on_shutdown,
	.on_close = session_on_close,
	.on_bytes = session_on_bytes,
	.on_stream = session_on_stream,
};


/* States, errors, replies ------------------------------------------------ */

static const char *
session_state_name(enum smtp_state st)
{
	switch (st) {
	case SMTP_S_INIT:
		return "INIT";
	case SMTP_S_HELO:
		return "HELO";
	case SMTP_S_MAIL:
		return "MAIL";
	case SMTP_S_RCPT:
		return "RCPT";
	case SMTP_S_DATA:
		return "DATA";
	case SMTP_S_BDAT:
		return "BDAT";
	case SMTP_S_SASL:
		return "SASL";
	case SMTP_S_WAIT:
		return "WAIT";
	}
	return "?";
}

void
session_enter_state(struct smtp_session *s, enum smtp_state st)
{
	log_debug("conn %lu: %s -> %s", s->id, session_state_name(s->state),
	    session_state_name(st));
	s->state = st;
	/*
	 * SMTP has no login on port 25: a client is past the login stage
	 * (conn.h) once a MAIL is accepted, or it authenticated.
	 */
	if (st == SMTP_S_MAIL)
		conn_authenticated(s->conn);
}

/* The reply to a command that is not allowed in the current state. */
static const char *
session_state_error(struct smtp_session *s, const char *verb)
{
	int tx = s->state == SMTP_S_MAIL || s->state == SMTP_S_RCPT;

	if (s->state == SMTP_S_INIT && s->lmtp)
		return "503 5.5.1 Error: send LHLO first";
	if (s->state == SMTP_S_INIT && strcmp(verb, "AUTH") == 0)
		return "503 5.5.1 Error: send EHLO first";
	if (s->state == SMTP_S_BDAT)
		return strcmp(verb, "DATA") == 0 ? "503 5.5.1 Error: DATA and "
		    "BDAT cannot be mixed" : "503 5.5.1 Error: BDAT "
		    "transaction in progress (send BDAT LAST or RSET)";
	if (strcmp(verb, "MAIL") == 0)
		return "503 5.5.1 Error: nested MAIL command";
	if (strcmp(verb, "AUTH") == 0 && s->user[0] != '\0')
		return "503 5.5.1 Error: already authenticated";
	if (tx && (strcmp(verb, "AUTH") == 0 || strcmp(verb, "STARTTLS") ==
	    0))
		return "503 5.5.1 Error: MAIL transaction in progress";
	if (s->state == SMTP_S_MAIL)
		return "503 5.5.1 Error: need RCPT command";
	return "503 5.5.1 Error: need MAIL command";
}

/*
 * The one place where error classes become SMTP replies (RFC 3463
 * codes).  Recipient results of the pipeline come as replies already.
 */
static void
session_class_reply(enum err_class ec, int *code_r, const char **enh_r)
{
	switch (ec) {
	case ERR_NOQUOTA:
		*code_r = 452;
		*enh_r = "4.2.2";
		return;
	case ERR_TOOBIG:
		*code_r = 552;
		*enh_r = "5.3.4";
		return;
	case ERR_LIMIT:
		*code_r = 452;
		*enh_r = "4.5.3";
		return;
	case ERR_INUSE:
		*code_r = 450;
		*enh_r = "4.2.1";
		return;
	case ERR_PERM:
		*code_r = 550;
		*enh_r = "5.7.1";
		return;
	case ERR_INVALID:
		*code_r = 501;
		*enh_r = "5.5.4";
		return;
	case ERR_NOTFOUND:
		*code_r = 550;
		*enh_r = "5.1.1";
		return;
	default:
		*code_r = 451;
		*enh_r = "4.3.0";
		return;
	}
}

/* "CODE X.Y.Z what" for the current error; the log gets err_msg(). */
void
session_err_reply(struct smtp_session *s, const char *what)
{
	const char *enh;
	int code;

	session_class_reply(err_class(), &code, &enh);
	log_info("conn %lu: %s: %s (%s)", s->id, what, err_msg(),
	    err_class_name(err_class()));
	conn_printf(s->conn, "%d %s Error: %s\r\n", code, enh, what);
}

/*
 * A refused command: the reply (a whole "CODE X.Y.Z text"), a log line,
 * and one more towards max_bad_commands, after which the session ends.
 */
void
session_fail(struct smtp_session *s, const char *fmt, ...)
{
	char reply[SMTP_REPLY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reply, sizeof(reply), fmt, ap);
	va_end(ap);
	log_info("conn %lu: failed command from %s: %s", s->id, s->ip,
	    reply);
	if (++s->bad_cmds < s->srv->config->smtpd_max_bad_commands) {
		session_reply(s, 0, "%s\r\n", reply);
		return;
	}
	log_info("conn %lu: %u failed commands, closing", s->id,
	    s->bad_cmds);
	session_reply(s, 1, "%s\r\n421 4.7.0 %s Error: too many errors, "
	    "closing connection\r\n", reply, s->srv->config->hostname);
}

/*
 * A reply (whole lines, CRLF included), then the close when close_after
 * is set.  A junk command's (s->junk_ms) is written after that delay,
 * the conn paused meanwhile.
 */
static void
session_reply(struct smtp_session *s, int close_after, const char *fmt,
    ...)
{
	char reply[2 * SMTP_REPLY_MAX];
	unsigned ms = s->junk_ms;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reply, sizeof(reply), fmt, ap);
	va_end(ap);
	s->junk_ms = 0;
	if (ms == 0) {
		conn_printf(s->conn, "%s", reply);
		if (close_after)
			session_close(s);
		return;
	}
	if (conn_delay_reply(&s->delay, s->conn, ms, reply, close_after,
	    session_reply_done, s) == -1)
		fatalx("smtp: evtimer_new failed");
}

static void
session_reply_done(void *arg, int close_after)
{
	struct smtp_session *s = arg;

	if (close_after)
		session_close(s);
}

/*
 * [smtpd] reject_early_talkers.  RFC 2920: a client may send commands
 * ahead of the replies only once EHLO advertised PIPELINING (never after
 * HELO).  Input already waiting behind this command when that was not
 * allowed means the client did not wait for the reply: 554, and the
 * session ends.  verb NULL: the greeting is due, and nothing may come
 * before it (RFC 5321 3.1; it waited for the DNS checks, dnscheck.c,
 * which is how a client can be seen talking first).  1 go on, 0 refused.
 */
int
session_early_ok(struct smtp_session *s, const char *verb)
{
	if (!s->srv->config->smtpd_reject_early_talkers || s->esmtp ||
	    conn_in_pending(s->conn) == 0 || !session_port25_untrusted(s))
		return 1;
	if (verb == NULL)
		log_info("conn %lu: early talker %s: sent commands before the "
		    "greeting; closing", s->id, s->ip);
	else
		log_info("conn %lu: early talker %s: sent more after %s "
		    "without waiting for the reply, %s; closing", s->id,
		    s->ip, verb, s->helo[0] != '\0' ? "HELO does not allow "
		    "pipelining" : "before EHLO allowed pipelining");
	conn_printf(s->conn, "554 5.5.0 Error: improper use of SMTP command "
	    "pipelining\r\n");
	session_close(s);
	return 0;
}

/*
 * [smtpd] junk_command_limit: NOOP, VRFY, ETRN, RSET and HELP outside a
 * transaction, counted until a message is accepted.  From the
 * SMTP_JUNK_DELAY_FROM-th on the reply is delayed (s->junk_ms, for
 * session_reply()); past the limit 421 and the session ends.  1 go on,
 * 0 closing.
 */
static int
session_junk_ok(struct smtp_session *s, const char *verb)
{
	static const char *const junk[] = {
		"NOOP", "VRFY", "ETRN", "RSET", "HELP"
	};
	unsigned limit = s->srv->config->smtpd_junk_command_limit;
	size_t i, n = sizeof(junk) / sizeof(junk[0]);

	if (limit == 0 || (s->state != SMTP_S_INIT &&
	    s->state != SMTP_S_HELO) || !session_port25_untrusted(s))
		return 1;
	for (i = 0; i < n; i++)
		if (strcmp(junk[i], verb) == 0)
			break;
	if (i == n)
		return 1;
	if (++s->junk > limit) {
		log_info("conn %lu: %u junk commands from %s (limit %u), "
		    "closing", s->id, s->junk, s->ip, limit);
		conn_printf(s->conn, "421 4.7.0 %s Error: too many junk "
		    "commands, closing connection\r\n",
		    s->srv->config->hostname);
		session_close(s);
		return 0;
	}
	if (s->junk >= SMTP_JUNK_DELAY_FROM)
		s->junk_ms = s->junk / SMTP_JUNK_DELAY_STEP * 1000;
	return 1;
}

void
session_close(struct smtp_session *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	conn_close(s->conn);
}

int
session_tls(struct smtp_session *s)
{
	return conn_is_tls(s->conn);
}

/* Forgets MAIL, RCPT and the message (RSET, HELO, after delivery). */
static void
session_reset_tx(struct smtp_session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++)
		deliver_rcpt_clear(&s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = s->rcpts_cap = 0;
	session_msg_free(s);
	s->noroom = 0;
	s->hdrlen = 0;
	s->sender[0] = '\0';
	s->txid[0] = '\0';
	s->queue_id = 0;
	memset(&s->mail, 0, sizeof(s->mail));
	/* A job that waited for its locks in turn gives its place up. */
	deliver_wait_end(s->srv->store, &s->job);
	memset(&s->job, 0, sizeof(s->job));
	memset(&s->data, 0, sizeof(s->data));
	s->bdat_size = 0;
	s->bdat_toobig = 0;
}

/* The transaction is over: back to INIT or HELO (no HELO was given). */
void
session_end_tx(struct smtp_session *s)
{
	enum smtp_state st = s->helo[0] != '\0' ? SMTP_S_HELO : SMTP_S_INIT;

	session_reset_tx(s);
	if (s->state != st)
		session_enter_state(s, st);
}

/* The parser's DSN values are the queue's (RFC 3461 in both). */
_Static_assert(SMTP_NOTIFY_NEVER == STORE_NOTIFY_NEVER &&
    SMTP_NOTIFY_SUCCESS == STORE_NOTIFY_SUCCESS &&
    SMTP_NOTIFY_FAILURE == STORE_NOTIFY_FAILURE &&
    SMTP_NOTIFY_DELAY == STORE_NOTIFY_DELAY &&
    (int)SMTP_RET_FULL == (int)STORE_RET_FULL &&
    (int)SMTP_RET_HDRS == (int)STORE_RET_HDRS &&
    SMTP_ORCPT_MAX == DELIVER_ORCPT_MAX &&
    SMTP_ENVID_MAX == STORE_QUEUE_ENVID_MAX, "DSN values differ");

/*
 * The transaction's queue id (store/queue.h): the same number in the
 * Received header, "queued as", the log and the queue entry.
 */
static void
session_new_txid(struct smtp_session *s)
{
	s->queue_id = store_queue_id_new();
	store_queue_id_format(s->queue_id, s->txid);
	/* Postfix's first line of a message (no reverse DNS: "unknown") */
	log_info("%s: client=%s[%s]:%s, conn=%lu%s%s", s->txid,
	    s->ptr_name[0] != '\0' ? s->ptr_name : "unknown", s->ip,
	    conn_peer_port(s->conn), s->id, s->user[0] != '\0' ?
	    ", sasl_username=" : "", s->user);
}

/* Commands: greeting and TLS --------------------------------------------- */

static void
session_hello(struct smtp_session *s, const struct smtp_cmd *cmd, int esmtp)
{
	if (cmd->args[0] == '\0') {
		session_fail(s, "501 5.5.4 Syntax: %s hostname", cmd->verb);
		return;
	}
	/* refused: what the client said before stays as it was */
	if (!session_fqdn_helo(s, cmd->args, strcspn(cmd->args, " ")) ||
	    !session_dns_helo(s, cmd, esmtp))
		return;
	session_hello_accept(s, cmd, esmtp);
}

void
session_hello_accept(struct smtp_session *s, const struct smtp_cmd *cmd,
    int esmtp)
{
	const struct config *cf = s->srv->config;
	const char *ext[12], *mechs;
	char size[32], auth[64];
	size_t i, n = 0;
	int tls = session_tls(s);

	session_reset_tx(s);
	/* Kept for Received:, so printable and without parentheses. */
	for (i = 0; i < SMTP_HELO_MAX && cmd->args[i] != '\0' &&
	    cmd->args[i] != ' '; i++)
		s->helo[i] = cmd->args[i] > ' ' && cmd->args[i] < 127 &&
		    cmd->args[i] != '(' && cmd->args[i] != ')' ?
		    cmd->args[i] : '_';
	s->helo[i] = '\0';
	s->esmtp = esmtp;
	if (s->state != SMTP_S_HELO)
		session_enter_state(s, SMTP_S_HELO);
	if (!esmtp) {
		conn_printf(s->conn, "250 %s\r\n", cf->hostname);
		return;
	}
	snprintf(size, sizeof(size), "SIZE %u", cf->smtpd_max_message_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "CHUNKING";
	if (!s->lmtp)
		ext[n++] = "DSN";
	if (!s->lmtp && !tls && s->srv->tls_ok)
		ext[n++] = "STARTTLS";
	if (!s->lmtp && s->user[0] == '\0' && cf->svc[s->svc].auth &&
	    auth_allowed(tls) &&
	    (mechs = auth_mechs(tls))[0] != '\0') {
		snprintf(auth, sizeof(auth), "AUTH %s", mechs);
		ext[n++] = auth;
	}
	conn_printf(s->conn, "250-%s\r\n", cf->hostname);
	for (i = 0; i < n; i++)
		conn_printf(s->conn, "250%c%s\r\n", i + 1 < n ? '-' : ' ',
		    ext[i]);
}

static void
cmd_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->lmtp) {
		session_fail(s, "500 5.5.1 Error: this is LMTP, send LHLO");
		return;
	}
	session_hello(s, cmd, 0);
}

static void
cmd_ehlo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->lmtp) {
		session_fail(s, "500 5.5.1 Error: this is LMTP, send LHLO");
		return;
	}
	session_hello(s, cmd, 1);
}

static void
cmd_lhlo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (!s->lmtp) {
		session_fail(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	session_hello(s, cmd, 1);
}

static void
cmd_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->lmtp) {
		session_fail(s, "502 5.5.1 Error: STARTTLS is not offered "
		    "over LMTP");
		return;
	}
	if (session_tls(s)) {
		session_fail(s, "503 5.5.1 Error: TLS is already active");
		return;
	}
	if (!s->srv->tls_ok) {
		session_fail(s, "454 4.7.0 TLS not available");
		return;
	}
	if (cmd->args[0] != '\0') {
		session_fail(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	conn_printf(s->conn, "220 2.0.0 Ready to start TLS\r\n");
	if (conn_starttls(s->conn) == -1) {
		log_warnx("conn %lu: STARTTLS failed: %s", s->id, err_msg());
		session_close(s);
		return;
	}
	/* RFC 3207 4.2: forget everything the client said in plaintext. */
	session_reset_tx(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->user[0] = '\0';
	s->user_id = 0;
	s->domain_login = 0;
	session_enter_state(s, SMTP_S_INIT);
	log_info("conn %lu: TLS started (STARTTLS)", s->id);
}

/* Commands: the mail transaction ----------------------------------------- */

static void
cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const struct config *cf = s->srv->config;
	struct smtp_path_args *m = &s->mail;
	int rc;

	if (s->lmtp && s->state == SMTP_S_INIT) {
		session_fail(s, "503 5.5.1 Error: send LHLO first");
		return;
	}
	/*
	 * [submission]/[smtps] require_auth: no exception for trusted
	 * networks (Postfix's submission: permit_sasl_authenticated,
	 * reject).
	 */
	if (!s->lmtp && cf->svc[s->svc].require_auth && s->user[0] == '\0') {
		session_fail(s, "530 5.7.0 Authentication required");
		return;
	}
	rc = smtp_parse_mail(cmd->args, m);
	/* HELO first, and a domain that needs no more (fqdn.c) */
	if (!session_fqdn_mail(s)) {
		memset(m, 0, sizeof(*m));
		return;
	}
	if (rc == -1) {
		session_fail(s, "%s %s", smtp_perr_reply(m->perr, 0),
		    err_msg());
		memset(m, 0, sizeof(*m));
		return;
	}
	if (s->helo[0] != '\0' && !s->esmtp && (m->has_size || m->body != SMTP_BODY_NONE ||
	    m->smtputf8 || m->auth[0] != '\0' || m->dsn)) {
		session_fail(s, "555 5.5.4 MAIL parameters need EHLO");
		memset(m, 0, sizeof(*m));
		return;
	}
	if (s->lmtp && m->dsn) {
		/* not offered in LHLO: the MTA in front does the notices */
		session_fail(s, "555 5.5.4 DSN is not offered over LMTP");
		memset(m, 0, sizeof(*m));
		return;
	}
	if (m->has_size && m->size > cf->smtpd_max_message_size) {
		session_fail(s, "552 5.3.4 Message size exceeds fixed maximum "
		    "message size (%u bytes)", cf->smtpd_max_message_size);
		memset(m, 0, sizeof(*m));
		return;
	}
	if (m->utf8 && !m->smtputf8) {
		session_fail(s, "553 5.6.7 Sender address needs the SMTPUTF8 "
		    "parameter");
		memset(m, 0, sizeof(*m));
		return;
	}
	if (!session_acl_mail(s) || !session_rate_mail(s)) {
		memset(m, 0, sizeof(*m));
		return;
	}
	if (!session_policy_mail(s)) {
		memset(m, 0, sizeof(*m));
		return;
	}
	if ((rc = session_sender_ok(s, m->addr)) != 1) {
		if (rc == -1)
			session_err_reply(s, "cannot check the sender "
			    "address");
		else
			session_fail(s, "553 5.7.1 <%s>: Sender address "
			    "rejected: not owned by user %s", m->addr,
			    s->user);
		memset(m, 0, sizeof(*m));
		return;
	}
	/* the last, the only slow one: the sender's domain in the DNS */
	if (!session_dns_mail(s))
		return;
	session_mail_accept(s);
}

void
session_mail_accept(struct smtp_session *s)
{
	snprintf(s->sender, sizeof(s->sender), "%s", s->mail.addr);
	session_new_txid(s);
	session_enter_state(s, SMTP_S_MAIL);
	conn_printf(s->conn, "250 2.1.0 Ok\r\n");
}

static void
cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const struct config *cf = s->srv->config;
	struct smtp_path_args a;
	struct deliver_rcpt r;
	char addr[SMTP_PATH_MAX + CONFIG_HOST_MAX + 2];
	int rc;

	if (smtp_parse_rcpt(cmd->args, &a) == -1) {
		session_fail(s, "%s %s", smtp_perr_reply(a.perr, 1),
		    err_msg());
		return;
	}
	if (a.dsn && (s->lmtp || (s->helo[0] != '\0' && !s->esmtp))) {
		session_fail(s, "555 5.5.4 %s", s->lmtp ? "DSN is not offered "
		    "over LMTP" : "RCPT parameters need EHLO");
		return;
	}
	if (a.utf8 && !s->mail.smtputf8) {
		session_fail(s, "553 5.6.7 Recipient address needs the "
		    "SMTPUTF8 parameter in MAIL FROM");
		return;
	}
	if (s->nrcpts >= cf->smtpd_max_recipients) {
		session_fail(s, "452 4.5.3 Error: too many recipients (at most "
		    "%u)", cf->smtpd_max_recipients);
		return;
	}
	if (s->policed && deliver_policy_invalid_full(&s->policy)) {
		/* the next message's commit locks (policy_account()) */
		session_fail(s, "%d %s", s->policy.code, s->policy.text);
		s->policy.code = 0;
		return;
	}
	/* <Postmaster> is not refused to a blocked host either (acl.c) */
	if ((!a.postmaster && !session_rate_rcpt(s)) ||
	    !session_acl_rcpt(s, a.postmaster ? NULL : a.addr))
		return;
	snprintf(addr, sizeof(addr), "%s", a.addr);
	/* RFC 5321 4.5.1: <Postmaster> is accepted, whatever the host. */
	if ((a.postmaster ? deliver_resolve_postmaster(s->srv->store,
	    &s->srv->deliver, &r) : deliver_resolve_from(s->srv->store,
	    &s->srv->deliver, s->sender, addr, s->mail.has_size ?
	    s->mail.size : 0, &r)) == -1) {
		session_fail(s, "%d %s", r.code, r.text);
		deliver_rcpt_clear(&r);
		return;
	}
	r.notify = a.notify;
	snprintf(r.orcpt, sizeof(r.orcpt), "%s", a.orcpt);
	switch (r.kind) {
	case DELIVER_LOCAL:
		if (r.batv)
			log_info("conn %lu: <%s>: valid BATV tag, delivered "
			    "as <%s>", s->id, addr, r.addr);
		break;
	case DELIVER_NOTLOCAL:
		if ((rc = session_relay_ok(s)) == -1) {
			session_err_reply(s, "cannot check relay access");
			deliver_rcpt_clear(&r);
			return;
		}
		if (rc == 0) {
			session_fail(s, "554 5.7.1 <%s>: Relaying denied", addr);
			deliver_rcpt_clear(&r);
			return;
		}
		r.relay = 1;
		r.code = 250;
		snprintf(r.text, sizeof(r.text), "2.1.5 Ok");
		log_info("conn %lu: relay to <%s> allowed (%s)", s->id,
		    r.addr, s->user[0] != '\0' ? "authenticated" : s->lmtp ?
		    "lmtp" : "trusted address");
		break;
	default:
		/* an unknown local address, counted toward the policy */
		if (s->policed && r.code == 550)
			s->policy.invalid++;
		/* a probe for recipients, toward unknown_recipient_limit */
		if (r.code == 550 && strncmp(r.text, "5.1.1 ", 6) == 0)
			session_rate_unknown(s);
		session_fail(s, "%d %s", r.code, r.text);
		deliver_rcpt_clear(&r);
		return;
	}
	/*
	 * SMTP: a recipient given again is accepted once (its targets are
	 * not kept twice).  LMTP answers every RCPT after DATA, so keeps
	 * each.
	 */
	if (!s->lmtp) {
		size_t i;

		for (i = 0; i < s->nrcpts; i++)
			if (strcmp(s->rcpts[i].addr, r.addr) == 0)
				break;
		if (i < s->nrcpts) {
			conn_printf(s->conn, "%d %s\r\n", r.code, r.text);
			deliver_rcpt_clear(&r);
			return;
		}
	}
	if (s->nrcpts == s->rcpts_cap) {
		s->rcpts_cap = s->rcpts_cap == 0 ? 4 : s->rcpts_cap * 2;
		s->rcpts = xreallocarray(s->rcpts, s->rcpts_cap,
		    sizeof(*s->rcpts));
	}
	s->rcpts[s->nrcpts++] = r;
	session_acl_rcpt_kept(s);
	if (s->state != SMTP_S_RCPT)
		session_enter_state(s, SMTP_S_RCPT);
	conn_printf(s->conn, "%d %s\r\n", r.code, r.text);
}

/*
 * Makes room in memory for n more bytes of message: 1 done, 0 not (the
 * message would pass spool_threshold, or memory_limit would be passed).
 * The buffer doubles, but never past spool_threshold, and when doubling
 * does not fit in the limit it grows by just what is needed.
 */
static int
session_msg_room(struct smtp_session *s, size_t n)
{
	const struct config *cf = s->srv->config;
	size_t want = s->msglen + n, cap = s->msgcap;

	if (want <= cap)
		return 1;
	if (cf->smtpd_spool_threshold > 0 && want > cf->smtpd_spool_threshold)
		return 0;
	while (want > cap)
		cap = cap < 4096 ? 4096 : cap * 2;
	if (cf->smtpd_spool_threshold > 0 && cap > cf->smtpd_spool_threshold)
		cap = cf->smtpd_spool_threshold;
	if (smtp_inflight + (cap - s->msgcap) > cf->smtpd_memory_limit)
		cap = want;
	if (smtp_inflight + (cap - s->msgcap) > cf->smtpd_memory_limit)
		return 0;
	s->msg = xreallocarray(s->msg, cap, 1);
	smtp_inflight += cap - s->msgcap;
	s->msgcap = cap;
	return 1;
}

/*
 * An unlinked file in data_dir takes the message from here on (what is
 * in memory so far is written to it and the memory given back).  0 done,
 * -1 error (logged).
 */
static int
session_spool_open(struct smtp_session *s)
{
	const char *dir = s->srv->config->data_dir;
	int fd;

	if ((fd = tmpfile_open(dir, "smtpd-spool.XXXXXX")) == -1) {
		log_warn("conn %lu: cannot make a spool file in %s", s->id,
		    dir);
		return -1;
	}
	s->spool_fd = fd;
	s->spool_len = 0;
	if (session_spool_write(s, s->msg, s->msglen) == -1)
		return -1;
	free(s->msg);
	smtp_inflight -= s->msgcap;
	s->msg = NULL;
	s->msglen = s->msgcap = 0;
	log_debug("conn %lu: message id=%s spooled to a file", s->id,
	    s->txid);
	return 0;
}

/* 0 written, -1 error (logged). */
static int
session_spool_write(struct smtp_session *s, const char *data, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(s->spool_fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("conn %lu: writing the spool file", s->id);
			return -1;
		}
		data += w;
		len -= (size_t)w;
		s->spool_len += (uint64_t)w;
	}
	return 0;
}

/*
 * The message cannot be kept: the rest is read and thrown away, the end
 * of data is answered 452 4.3.1.  Its memory is given back at once.
 */
static void
session_msg_noroom(struct smtp_session *s, const char *why)
{
	log_warnx("conn %lu: message id=%s: %s (%zu bytes of messages in "
	    "memory): 452 at its end", s->id, s->txid, why, smtp_inflight);
	session_msg_free(s);
	s->noroom = 1;
}

/* Appends message bytes: in memory while there is room, else spooled. */
static void
session_msg_put(struct smtp_session *s, const char *data, size_t len)
{
	if (s->noroom || len == 0)
		return;
	if (s->spool_fd == -1) {
		if (session_msg_room(s, len)) {
			memcpy(s->msg + s->msglen, data, len);
			s->msglen += len;
			return;
		}
		if (s->srv->config->smtpd_spool_threshold == 0) {
			session_msg_noroom(s, "over memory_limit");
			return;
		}
		if (session_spool_open(s) == -1) {
			session_msg_noroom(s, "no spool file");
			return;
		}
	}
	if (session_spool_write(s, data, len) == -1)
		session_msg_noroom(s, "spool file not written");
}

/* Forgets the message bytes and gives their room back. */
static void
session_msg_free(struct smtp_session *s)
{
	free(s->msg);
	smtp_inflight -= s->msgcap;
	s->msg = NULL;
	s->msglen = s->msgcap = 0;
	if (s->spool_map != NULL)
		munmap(s->spool_map, s->spool_len);
	s->spool_map = NULL;
	if (s->spool_fd != -1)
		close(s->spool_fd);
	s->spool_fd = -1;
	s->spool_len = 0;
	s->mdata = NULL;
	s->mlen = 0;
}

/*
 * The whole message in one piece (mdata, mlen): the memory buffer, or
 * the spool file mapped read-only (the store reads it from the page
 * cache).  1 ready; 0 refused and answered.
 */
static int
session_msg_ready(struct smtp_session *s)
{
	void *p;

	if (s->spool_fd == -1) {
		s->mdata = s->msg;
		s->mlen = s->msglen;
		return 1;
	}
	if (s->spool_len > SIZE_MAX ||
	    (p = mmap(NULL, (size_t)s->spool_len, PROT_READ, MAP_SHARED,
	    s->spool_fd, 0)) == MAP_FAILED) {
		log_warn("conn %lu: cannot map the spool file", s->id);
		session_tx_fail(s, "451 4.3.0 Error: local error in "
		    "processing");
		return 0;
	}
	s->spool_map = p;
	s->mdata = p;
	s->mlen = (size_t)s->spool_len;
	return 1;
}

/* 1 when a new message may start while spooling is off (memory left). */
static int
session_inflight_ok(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;

	if (cf->smtpd_spool_threshold > 0 ||
	    smtp_inflight < cf->smtpd_memory_limit)
		return 1;
	log_warnx("conn %lu: %zu bytes of messages in memory: 452", s->id,
	    smtp_inflight);
	return 0;
}

/*
 * Starts the message with our trace header (RFC 5321 4.4):
 * "Received: from HELO ([IP]) by HOST (Vellum) with PROTO id ID
 * for <rcpt>; DATE".  PROTO follows RFC 3848 / 6531.
 */
static void
session_msg_begin(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;
	char date[64], proto[16], fmt_for[DELIVER_ADDR_MAX + 16] = "";
	char hdr[1024 + sizeof(fmt_for)];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(proto, sizeof(proto), "%s%s%s%s",
	    s->mail.smtputf8 ? "UTF8" : s->esmtp && !s->lmtp ? "E" : "",
	    s->lmtp ? "LMTP" : "SMTP", session_tls(s) ? "S" : "",
	    s->user[0] != '\0' ? "A" : "");
	if (s->nrcpts == 1)
		snprintf(fmt_for, sizeof(fmt_for), "\r\n\tfor <%s>",
		    s->rcpts[0].addr);
	session_msg_free(s);
	s->noroom = 0;
	/* the client's name when reverse DNS confirmed it (dnscheck.c) */
	n = snprintf(hdr, sizeof(hdr), "Received: from %s (%s%s[%s%s])\r\n"
	    "\tby %s (Vellum) with %s id %s%s;\r\n\t%s\r\n",
	    s->helo[0] != '\0' ? s->helo : "unknown", s->ptr_name,
	    s->ptr_name[0] != '\0' ? " " : "",
	    strchr(s->ip, ':') != NULL ? "IPv6:" : "", s->ip, cf->hostname,
	    proto, s->txid, fmt_for, date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		fatalx("smtp: Received: header does not fit");
	session_msg_put(s, hdr, (size_t)n);
	s->hdrlen = (size_t)n;
}

static void
cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (cmd->args[0] != '\0') {
		session_fail(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!session_inflight_ok(s)) {
		session_fail(s, "452 4.3.1 Insufficient system storage, try "
		    "again later");
		return;
	}
	session_msg_begin(s);
	smtp_data_init(&s->data, s->srv->config->smtpd_max_message_size);
	session_enter_state(s, SMTP_S_DATA);
	conn_printf(s->conn, "354 End data with <CR><LF>.<CR><LF>\r\n");
	/*
	 * The message is a byte stream up to its end: no line of it waits
	 * whole in a buffer.  It is one command: a shutdown waits for it.
	 */
	conn_read_stream(s->conn, 1);
	conn_busy(s->conn);
}

/* Bytes after DATA; returns how many were message (up to its end). */
static size_t
session_on_stream(struct conn *c, const char *data, size_t len)
{
	static char out[SMTP_DATA_OUT_MAX(CONN_RAW_PIECE)];
	struct smtp_session *s = conn_ctx(c);
	size_t olen, used;
	int end;

	if (s->closing)
		return len;
	if (s->state != SMTP_S_DATA || len > CONN_RAW_PIECE)
		fatalx("conn %lu: DATA stream of %zu bytes in state %s",
		    s->id, len, session_state_name(s->state));
	end = smtp_data_feed(&s->data, data, len, out, &olen, &used);
	session_msg_put(s, out, olen);
	if (end) {
		conn_read_stream(c, 0);
		session_data_end(s);
	}
	return used;
}

/*
 * A refusal of the whole message: once for SMTP, once per accepted
 * recipient for LMTP (RFC 2033 4.2).  The transaction is over.
 */
void
session_tx_fail(struct smtp_session *s, const char *fmt, ...)
{
	char reply[SMTP_REPLY_MAX];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(reply, sizeof(reply), fmt, ap);
	va_end(ap);
	log_info("conn %lu: message id=%s from=<%s> size=%" PRIu64
	    " rcpts=%zu refused: %s", s->id, s->txid, s->sender,
	    s->data.size > s->bdat_size ? s->data.size : s->bdat_size,
	    s->nrcpts, reply);
	s->n_failed++;
	for (i = 0; i < (s->lmtp ? s->nrcpts : 1); i++)
		conn_printf(s->conn, "%s\r\n", reply);
	session_end_tx(s);
}

/* RFC 5321 6.3: too many Received: fields means a loop. */
static int
session_hops_ok(struct smtp_session *s)
{
	unsigned hops = smtp_count_received(s->mdata + s->hdrlen,
	    s->mlen - s->hdrlen);

	if (hops < s->srv->config->smtpd_max_hops)
		return 1;
	session_tx_fail(s, "554 5.4.6 Error: too many hops (%u Received: "
	    "headers), mail loop?", hops);
	return 0;
}

/* The "." line: refuse, or hand the message to the group commit. */
static void
session_data_end(struct smtp_session *s)
{
	if (s->data.toobig) {
		session_tx_fail(s, "552 5.3.4 Error: message too big (over %u "
		    "bytes)", s->srv->config->smtpd_max_message_size);
		goto refused;
	}
	if (s->data.toolong) {
		session_tx_fail(s, "554 5.6.0 Error: a line of the message is "
		    "longer than %d bytes", SMTP_DATA_LINE_MAX);
		goto refused;
	}
	if (s->data.bare_cr || s->data.bare_lf) {
		session_tx_fail(s, "554 5.6.11 Error: bare %s in message text; "
		    "lines must end with CRLF", s->data.bare_lf ? "<LF>" :
		    "<CR>");
		goto refused;
	}
	if (s->noroom) {
		session_tx_fail(s, "452 4.3.1 Error: insufficient system "
		    "storage, try again later");
		goto refused;
	}
	/* a discarded message ends here, answered (not refused) */
	if (session_acl_data(s))
		goto refused;
	if (!session_msg_ready(s) || !session_hops_ok(s) ||
	    !session_policy_ok(s))
		goto refused;
	/* session_submit() pauses the conn until the delivery is answered;
	 * conn_resume() then ends the command. */
	session_submit(s);
	return;
refused:
	conn_idle(s->conn);	/* the DATA command ends with its refusal */
}

static void
cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	uint64_t n;
	int last;

	if (smtp_parse_bdat(cmd->args, &n, &last) == -1) {
		session_fail(s, "501 5.5.4 %s", err_msg());
		return;
	}
	s->chunk_err[0] = '\0';
	s->chunk_last = last;
	if (s->state != SMTP_S_RCPT && s->state != SMTP_S_BDAT)
		snprintf(s->chunk_err, sizeof(s->chunk_err), "%s",
		    session_state_error(s, "BDAT"));
	else if (n > SIZE_MAX / 2)
		snprintf(s->chunk_err, sizeof(s->chunk_err), "552 5.3.4 "
		    "Error: chunk too big");
	else if (s->state == SMTP_S_RCPT) {
		/*
		 * No room for a new message: its first chunk is refused and
		 * so is every later one, up to LAST.  (Refusing only this
		 * chunk and staying in RCPT made the next chunk start the
		 * message again: a message without its first part was
		 * stored.)
		 */
		int room = session_inflight_ok(s);

		session_msg_begin(s);
		s->bdat_size = 0;
		s->bdat_toobig = 0;
		session_enter_state(s, SMTP_S_BDAT);
		if (!room)
			session_msg_noroom(s, "no room for a new message");
	}
	if (n > 0) {
		/* The chunk is read even when refused (RFC 3030 2). */
		conn_read_bytes(s->conn, (size_t)n);
		return;
	}
	session_chunk_end(s);
}

static void
session_on_bytes(struct conn *c, const char *data, size_t len, int last)
{
	struct smtp_session *s = conn_ctx(c);
	uint64_t max = s->srv->config->smtpd_max_message_size;

	if (s->closing)
		return;
	if (s->chunk_err[0] == '\0' && s->state == SMTP_S_BDAT) {
		s->bdat_size += len;
		if (s->bdat_size > max)
			s->bdat_toobig = 1;
		if (!s->bdat_toobig)
			session_msg_put(s, data, len);
	}
	if (last)
		session_chunk_end(s);
}

/* The reply to a BDAT chunk, once all of it has been read. */
static void
session_chunk_end(struct smtp_session *s)
{
	if (s->chunk_err[0] != '\0') {
		session_fail(s, "%s", s->chunk_err);
		return;
	}
	if (s->bdat_toobig) {
		if (s->chunk_last)
			session_tx_fail(s, "552 5.3.4 Error: message too big "
			    "(over %u bytes)",
			    s->srv->config->smtpd_max_message_size);
		else
			conn_printf(s->conn, "552 5.3.4 Error: message too "
			    "big (over %u bytes)\r\n",
			    s->srv->config->smtpd_max_message_size);
		return;
	}
	if (s->noroom) {
		/* As for a message too big: refused chunk by chunk. */
		if (s->chunk_last)
			session_tx_fail(s, "452 4.3.1 Error: insufficient "
			    "system storage, try again later");
		else
			conn_printf(s->conn, "452 4.3.1 Error: insufficient "
			    "system storage, try again later\r\n");
		return;
	}
	if (!s->chunk_last) {
		conn_printf(s->conn, "250 2.0.0 %" PRIu64 " octets received\r\n",
		    s->bdat_size);
		return;
	}
	if (session_acl_data(s) || !session_msg_ready(s) ||
	    !session_hops_ok(s) || !session_policy_ok(s))
		return;
	session_submit(s);
}

static void
cmd_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	session_end_tx(s);
	session_reply(s, 0, "250 2.0.0 Ok\r\n");
}

static void
cmd_noop(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	session_reply(s, 0, "250 2.0.0 Ok\r\n");
}

static void
cmd_quit(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	conn_printf(s->conn, "221 2.0.0 Bye\r\n");
	session_close(s);
}

static void
cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	session_reply(s, 0, "252 2.5.2 Cannot VRFY user, but will accept "
	    "message and attempt delivery\r\n");
}

static void
cmd_help(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	session_reply(s, 0, "214 2.0.0 Commands: %s MAIL RCPT DATA BDAT "
	    "RSET NOOP QUIT VRFY HELP%s; see RFC %s\r\n", s->lmtp ? "LHLO" :
	    "HELO EHLO", s->lmtp ? "" : " STARTTLS AUTH", s->lmtp ? "2033" :
	    "5321");
}

/* conn callbacks ---------------------------------------------------------- */

static void
session_on_line(struct conn *c, const char *line, size_t len)
{
	struct smtp_session *s = conn_ctx(c);
	struct smtp_cmd cmd;
	size_t i, n = sizeof(smtp_commands) / sizeof(smtp_commands[0]);

	if (s->closing)
		return;
	switch (s->state) {
	case SMTP_S_SASL:
		session_sasl_line(s, line, len);
		return;
	case SMTP_S_DATA:	/* the conn streams meanwhile */
	case SMTP_S_WAIT:	/* the conn is paused meanwhile */
		/* A bug, not input. */
		log_warnx("conn %lu: a line in state %s (ignored)", s->id,
		    session_state_name(s->state));
		return;
	default:
		break;
	}
	if (memchr(line, '\0', len) != NULL) {
		session_fail(s, "500 5.5.2 Error: NUL byte in command");
		return;
	}
	if (smtp_parse_line(line, len, &cmd) == -1) {
		session_fail(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	for (i = 0; i < n; i++)
		if (strcmp(smtp_commands[i].verb, cmd.verb) == 0)
			break;
	if (s->acl.blocked)
		session_acl_refused(s, cmd.verb);
	else if (!session_early_ok(s, cmd.verb) ||
	    !session_junk_ok(s, cmd.verb))
		;	/* refused, closing */
	else if (i == n)
		session_fail(s, "500 5.5.2 Error: command not recognized");
	else if (!(smtp_commands[i].states & (1u << s->state)))
		session_fail(s, "%s", session_state_error(s, cmd.verb));
	else
		smtp_commands[i].fn(s, &cmd);
	s->junk_ms = 0;		/* a reply that did not use it */
	/* AUTH lines hold secrets. */
	explicit_bzero(&cmd, sizeof(cmd));
}

static void
session_on_toolong(struct conn *c)
{
	struct smtp_session *s = conn_ctx(c);

	if (s->closing)
		return;
	switch (s->state) {
	case SMTP_S_SASL:
		auth_free(&s->sasl);
		session_enter_state(s, SMTP_S_HELO);
		break;
	default:
		break;
	}
	session_fail(s, "500 5.5.2 Error: line too long");
}

static void
session_on_timeout(struct conn *c)
{
	struct smtp_session *s = conn_ctx(c);

	/* conn logs the timeout once; the state is for debugging. */
	log_debug("conn %lu: %s timeout in state %s", s->id,
	    conn_timeout_reason(c), session_state_name(s->state));
	if (!s->closing)
		conn_printf(c, "421 4.4.2 %s Error: timeout exceeded\r\n",
		    s->srv->config->hostname);
	s->closing = 1;
}

static void
session_on_shutdown(struct conn *c)
{
	struct smtp_session *s = conn_ctx(c);

	if (s->closing)
		return;
	if (conn_kicked(c))
		conn_printf(c, "421 4.7.0 %s Session closed by the "
		    "administrator\r\n", s->srv->config->hostname);
	else
		conn_printf(c, "421 4.3.2 %s Service shutting down, closing "
		    "connection\r\n", s->srv->config->hostname);
	session_close(s);
}

static void
session_on_close(struct conn *c)
{
	struct smtp_session *s = conn_ctx(c);

	if (s == NULL)
		return;
	session_dns_cancel(s);
	if (s->syncw != NULL)
		log_info("conn %lu: connection lost before the reply; message "
		    "id=%s delivered, its sync not awaited", s->id, s->txid);
	else if (s->cgroup != NULL)
		;	/* the writer thread commits it: logged when done */
	else if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT ||
	    s->state == SMTP_S_WAIT)
		log_info("conn %lu: connection lost in state %s; message "
		    "id=%s not delivered", s->id, session_state_name(s->state),
		    s->txid);
	group_remove(s);
	log_info("conn %lu: disconnect from %s user=%s messages=%u "
	    "rcpts=%u failed=%u bad_commands=%u", s->id, s->ip,
	    s->user[0] != '\0' ? s->user : "-", s->n_msgs, s->n_rcpts,
	    s->n_failed, s->bad_cmds);
	sessreg_remove(&s->reg);
	auth_check_cancel(&s->check);
	if (s->fjob != NULL) {
		/* Its filters still read the message: free it after them. */
		s->orphan = 1;
		worker_cancel(&s->fjob);
		return;
	}
	if (s->cgroup != NULL) {
		/* The writer thread commits its message: freed after. */
		s->orphan = 1;
		return;
	}
	session_free(s);
}

void
session_free(struct smtp_session *s)
{
	int held = s->job.fj != NULL;

	deliver_end(s->srv->store, &s->job);
	if (held)
		group_kick();	/* its locks came free */
	if (s->policed && s->policy.invalid > 0)
		session_policy_flush(s);
	session_reset_tx(s);
	auth_free(&s->sasl);
	conn_delay_free(&s->delay);
	free(s);
}

static void
session_accept(struct conn *c, struct smtp_server *srv,
    enum config_svc svc)
{
	struct smtp_session *s;
	int lmtp = svc == SVC_LMTP;

	s = xcalloc(1, sizeof(*s));
	s->conn = c;
	s->srv = srv;
	s->lmtp = lmtp;
	s->svc = svc;
	s->id = conn_id(c);
	snprintf(s->ip, sizeof(s->ip), "%s", conn_peer(c));
	s->state = SMTP_S_INIT;
	s->spool_fd = -1;
	conn_set_ops(c, &session_ops, s);
	log_info("conn %lu: connect from %s port %s to port %s%s%s", s->id, s->ip,
	    conn_peer_port(c), conn_local_port(c), conn_is_tls(c) ? " tls" : "",
	    lmtp ? " lmtp" : "");
	if (session_acl_connect(s) || session_rate_connect(s) ||
	    session_dns_connect(s))
		return;
	session_greet(s);
}

void
session_greet(struct smtp_session *s)
{
	conn_printf(s->conn, "220 %s %s\r\n", s->srv->config->hostname,
	    s->srv->config->smtpd_banner);
}

void
smtp_session_accept(struct conn *c, void *arg)
{
	struct smtp_listener *l = arg;

	session_accept(c, l->srv, l->svc);
}

void
smtp_session_accept_lmtp(struct conn *c, void *arg)
{
	session_accept(c, arg, SVC_LMTP);
}
