/*
 * session.c - one POP3 conversation.
 *
 * Lines come from the conn one at a time.  A command that cannot finish
 * at once pauses the conn (so pipelined commands wait in its buffer):
 * RETR and TOP stream the message in POP3_CHUNK pieces as the output
 * drains, each piece read in a read transaction of its own; a failed
 * login answers only after auth_failed()'s delay, on a timer.  Passwords
 * are checked on the worker threads (auth_check_start(), auth_verify()):
 * the conn is paused until the verdict comes back on the loop; a session
 * that closes meanwhile cancels its check.  Nothing here blocks the loop.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sessreg.h"
#include "common/xmalloc.h"
#include "mail/pop3dot.h"
#include "store/access.h"
#include "store/lock.h"
#include "store/store.h"
#include "store/user.h"
#include "pop3d/maildrop.h"
#include "pop3d/parse.h"
#include "pop3d/session.h"

enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_SASL,		/* AUTH: lines are SASL responses */
	POP3_TRANSACTION,
	POP3_UPDATE,
};

#define S_AUTH	(1u << POP3_AUTHORIZATION)
#define S_TRANS	(1u << POP3_TRANSACTION)

struct pop3_session {
	struct conn		*conn;
	struct sessreg_entry	*reg;		/* logged in: `vellumctl who` */
	struct pop3_server	*srv;
	unsigned long		 id;
	char			 ip[CONN_ADDR_MAX];
	enum pop3_state		 state;
	int			 closing;
	unsigned		 bad_cmds;

	/* AUTHORIZATION */
	char			 login[POP3_LINE_MAX + 1];	/* USER */
	int			 have_login;
	struct auth		*sasl;
	struct auth_check	*check;		/* a password being checked */
	const char		*check_method;	/* "USER" or "AUTH" */
	struct conn_delay	*delay;		/* a refused login's reply */

	/* TRANSACTION */
	uint32_t		 user_id;
	char			 user[STORE_ADDRESS_MAX + 1];
	char			 lock_name[STORE_LOCK_NAME_MAX + 1];
	int			 locked;
	time_t			 lock_taken;
	char			 lock_owner[32];	/* "pop3 conn ID", as in the log */
	struct pop3_maildrop	*md;

	/* RETR or TOP being sent */
	struct {
		int		 active;
		unsigned long	 n;
		uint64_t	 off;	/* next byte of the message to read */
		size_t		 have;	/* bytes read but not yet converted */
		int		 eof;
		struct pop3dot	 dot;
		char		*in;
		char		*out;
		int		 is_retr;
		int		 paused;	/* we paused the conn */
	} send;

	/* for the disconnect line */
	unsigned		 retrieved;
	unsigned		 deleted;
	uint64_t		 bytes_sent;
};

typedef void pop3_cmd_fn(struct pop3_session *, const struct pop3_cmd *);

struct pop3_command {
	const char	*verb;
	unsigned	 states;
	pop3_cmd_fn	*fn;
};

static int	session_lock(struct pop3_session *);
static void	session_enter_state(struct pop3_session *, enum pop3_state);
static const char *session_state_name(enum pop3_state);
static const char *session_resp_code(enum err_class);
static void	session_err_reply(struct pop3_session *, const char *);
static void	session_bad(struct pop3_session *, const char *);
static void	session_close(struct pop3_session *);
static void	session_cmd_done(struct pop3_session *);
static int	session_tls(struct pop3_session *);
static int	session_login_allowed(struct pop3_session *);
static void	session_login_ok(struct pop3_session *, uint32_t,
		    const char *, const char *);
static void	session_login_disabled(struct pop3_session *, const char *,
		    const char *);
static void	session_login_failed(struct pop3_session *, const char *,
		    const char *);
static void	session_reply_later(struct pop3_session *, unsigned,
		    const char *, int);
static void	session_delay_done(void *, int);
static int	session_renew_lock(struct pop3_session *);
static void	session_release(struct pop3_session *);
static struct pop3_maildrop_msg *session_msg_arg(struct pop3_session *,
		    const char *, unsigned long *);
static void	session_send_start(struct pop3_session *, unsigned long,
		    long);
static void	session_send_pump(struct pop3_session *);
static void	session_send_end(struct pop3_session *);
static void	session_sasl_line(struct pop3_session *, const char *,
		    size_t);
static void	session_sasl_result(struct pop3_session *, enum auth_result,
		    const char *);
static int	session_user_locked(struct pop3_session *, const char *);
static void	session_check_wait(struct pop3_session *, const char *);
static void	session_verdict(const struct auth_verdict *, void *);

static void	session_on_line(struct conn *, const char *, size_t);
static void	session_on_toolong(struct conn *);
static void	session_on_drain(struct conn *);
static void	session_on_timeout(struct conn *);
static void	session_on_shutdown(struct conn *);
static void	session_on_close(struct conn *);

static pop3_cmd_fn cmd_capa, cmd_stls, cmd_user, cmd_pass, cmd_auth,
	cmd_stat, cmd_list, cmd_uidl, cmd_retr, cmd_top, cmd_dele, cmd_noop,
	cmd_rset, cmd_quit;

static const struct pop3_command pop3_commands[] = {
	{ "CAPA", S_AUTH | S_TRANS,	cmd_capa },
	{ "STLS", S_AUTH,		cmd_stls },
	{ "USER", S_AUTH,		cmd_user },
	{ "PASS", S_AUTH,		cmd_pass },
	{ "AUTH", S_AUTH,		cmd_auth },
	{ "STAT", S_TRANS,		cmd_stat },
	{ "LIST", S_TRANS,		cmd_list },
	{ "UIDL", S_TRANS,		cmd_uidl },
	{ "RETR", S_TRANS,		cmd_retr },
	{ "TOP",  S_TRANS,		cmd_top },
	{ "DELE", S_TRANS,		cmd_dele },
	{ "NOOP", S_AUTH | S_TRANS,	cmd_noop },
	{ "RSET", S_TRANS,		cmd_rset },
	{ "QUIT", S_AUTH | S_TRANS,	cmd_quit },
};

static const struct conn_ops session_ops = {
	.on_line = session_on_line,
	.on_toolong = session_on_toolong,
	.on_drain = session_on_drain,
	.on_timeout = session_on_timeout,
	.on_shutdown = session_on_shutdown,
	.on_close = session_on_close,
};

/* States, errors, replies ---------------------------------------------- */

static const char *
session_state_name(enum pop3_state st)
{
	switch (st) {
	case POP3_AUTHORIZATION:
		return "AUTHORIZATION";
	case POP3_SASL:
		return "SASL";
	case POP3_TRANSACTION:
		return "TRANSACTION";
	case POP3_UPDATE:
		return "UPDATE";
	}
	return "?";
}

static void
session_enter_state(struct pop3_session *s, enum pop3_state st)
{
	log_debug("conn %lu: %s -> %s", s->id, session_state_name(s->state),
	    session_state_name(st));
	s->state = st;
	/* Logged in: the login deadline stops. */
	if (st == POP3_TRANSACTION)
		conn_authenticated(s->conn);
}

/* The one place where error classes become POP3 response codes. */
static const char *
session_resp_code(enum err_class ec)
{
	switch (ec) {
	case ERR_INUSE:
		return "IN-USE";
	case ERR_TEMP:
		return "SYS/TEMP";
	default:
		return "SYS/PERM";
	}
}

/* "-ERR [CODE] what" for the current error; the log gets err_msg(). */
static void
session_err_reply(struct pop3_session *s, const char *what)
{
	log_info("conn %lu: %s: %s (%s)", s->id, what, err_msg(),
	    err_class_name(err_class()));
	conn_printf(s->conn, "-ERR [%s] %s\r\n", session_resp_code(err_class()),
	    what);
}

/* A failed command; before login, too many of them end the session. */
static void
session_bad(struct pop3_session *s, const char *msg)
{
	log_info("conn %lu: failed command: %s", s->id, msg);
	if (s->state == POP3_TRANSACTION) {
		conn_printf(s->conn, "-ERR %s\r\n", msg);
		return;
	}
	if (++s->bad_cmds < POP3_BAD_CMDS_MAX) {
		conn_printf(s->conn, "-ERR %s\r\n", msg);
		return;
	}
	log_info("conn %lu: %u failed commands before login, closing",
	    s->id, s->bad_cmds);
	conn_printf(s->conn, "-ERR %s; too many errors, closing connection"
	    "\r\n", msg);
	session_close(s);
}

static void
session_close(struct pop3_session *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	conn_close(s->conn);
}

/* The command is over unless it waits (delay, streaming, closing). */
static void
session_cmd_done(struct pop3_session *s)
{
	if (s->closing || s->send.active || conn_delay_pending(s->delay) ||
	    s->check != NULL)
		return;
	conn_idle(s->conn);
}

static int
session_tls(struct pop3_session *s)
{
	return conn_is_tls(s->conn);
}

/* Login commands are refused without TLS unless plaintext is allowed. */
static int
session_login_allowed(struct pop3_session *s)
{
	unsigned secs;

	if (!auth_allowed(session_tls(s))) {
		session_bad(s, "[AUTH] plaintext authentication is not "
		    "allowed here, use STLS first");
		return 0;
	}
	if (auth_blocked(s->ip, NULL, &secs) == AUTH_BLOCK_ADDRESS) {
		char msg[128];

		log_info("conn %lu: login refused: %s is locked out for %u s",
		    s->id, s->ip, secs);
		snprintf(msg, sizeof(msg), "[AUTH] too many failed logins "
		    "from your address, try again in %u seconds", secs);
		session_bad(s, msg);
		return 0;
	}
	return 1;
}

/* Login ---------------------------------------------------------------- */

static void
session_login_ok(struct pop3_session *s, uint32_t user_id,
    const char *user, const char *method)
{
	const struct config *cfg = s->srv->config;
	size_t n;
	uint64_t bytes;

	auth_succeeded(s->ip, user);
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->user_id = user_id;
	snprintf(s->lock_name, sizeof(s->lock_name), "pop3:%s", user);
	if (session_lock(s) == -1) {
		log_info("conn %lu: login ok user=%s method=%s but the "
		    "maildrop is locked: %s", s->id, user, method, err_msg());
		if (err_class() == ERR_INUSE)
			session_err_reply(s, "maildrop is locked by another "
			    "session");
		else
			session_err_reply(s, "cannot lock the maildrop");
		return;
	}
	if (pop3_maildrop_load(s->srv->store, user_id, &s->md) == -1) {
		session_err_reply(s, "cannot open the maildrop");
		session_release(s);
		return;
	}
	if (cfg->pop_before_smtp > 0 && store_access_grant(s->srv->store,
	    s->ip, cfg->pop_before_smtp) == -1)
		log_warnx("conn %lu: POP-before-SMTP for %s: %s", s->id,
		    s->ip, err_msg());
	pop3_maildrop_stat(s->md, &n, &bytes);
	log_info("conn %lu: login ok user=%s method=%s%s messages=%zu",
	    s->id, user, method, session_tls(s) ? " tls" : "", n);
	conn_printf(s->conn, "+OK maildrop has %zu messages (%" PRIu64
	    " octets)\r\n", n, bytes);
	session_enter_state(s, POP3_TRANSACTION);
	s->reg = sessreg_add(s->conn, "pop3", s->user);
}

/*
 * The right password for a disabled account (auth.h: v->disabled): said
 * as it is, RFC 3206's [AUTH] with the reason the admin gave ("account
 * disabled: unpaid invoice"); counted and delayed as a failure.
 */
static void
session_login_disabled(struct pop3_session *s, const char *who,
    const char *reason)
{
	char reply[POP3_DISABLED_REPLY_MAX];
	unsigned ms;
	size_t i;
	int last;

	log_info("conn %lu: login refused user=%s from %s: %s", s->id, who,
	    s->ip, reason);
	ms = auth_failed(s->ip, who);
	last = ++s->bad_cmds >= POP3_BAD_CMDS_MAX;
	snprintf(reply, sizeof(reply) - 2, "-ERR [AUTH] %s", reason);
	/* The admin's reason is one line of the reply, whatever it holds. */
	for (i = 0; reply[i] != '\0'; i++)
		if ((unsigned char)reply[i] < 0x20 || reply[i] == 0x7f)
			reply[i] = ' ';
	snprintf(reply + i, sizeof(reply) - i, "\r\n");
	session_reply_later(s, ms, reply, last);
}

/* A wrong password or SASL failure: counted per IP, answered late. */
static void
session_login_failed(struct pop3_session *s, const char *who,
    const char *reason)
{
	unsigned ms;
	int last;

	log_info("conn %lu: login failed user=%s from %s: %s", s->id,
	    who[0] != '\0' ? who : "(none given)", s->ip, reason);
	ms = auth_failed(s->ip, who);
	last = ++s->bad_cmds >= POP3_BAD_CMDS_MAX;
	session_reply_later(s, ms, "-ERR [AUTH] authentication failed\r\n",
	    last);
}

/* Sends reply after ms (conn paused meanwhile), then closes if asked. */
static void
session_reply_later(struct pop3_session *s, unsigned ms, const char *reply,
    int close_after)
{
	if (conn_delay_reply(&s->delay, s->conn, ms, reply, close_after,
	    session_delay_done, s) == -1)
		fatalx("pop3: evtimer_new failed");
}

static void
session_delay_done(void *arg, int close_after)
{
	struct pop3_session *s = arg;

	if (close_after)
		session_close(s);
	else
		session_cmd_done(s);
}

/*
 * Takes the maildrop lock in the store, owned by this session: another
 * session, of this process or another, gets INUSE.
 */
static int
session_lock(struct pop3_session *s)
{
	snprintf(s->lock_owner, sizeof(s->lock_owner), "pop3 conn %lu", s->id);
	if (store_lock_take_owner(s->srv->store, s->lock_name,
	    POP3_LOCK_LEASE, s->lock_owner) == -1)
		return -1;
	s->locked = 1;
	s->lock_taken = time(NULL);
	return 1;
}

/* Keeps the maildrop lock's lease running while the session is used. */
static int
session_renew_lock(struct pop3_session *s)
{
	if (!s->locked || time(NULL) - s->lock_taken < POP3_LOCK_RENEW)
		return 1;
	if (store_lock_take_owner(s->srv->store, s->lock_name,
	    POP3_LOCK_LEASE, s->lock_owner) == -1)
		return -1;
	s->lock_taken = time(NULL);
	return 1;
}

static void
session_release(struct pop3_session *s)
{
	if (s->locked && store_lock_release_owner(s->srv->store,
	    s->lock_name, s->lock_owner) == -1)
		log_warnx("conn %lu: releasing %s: %s", s->id, s->lock_name,
		    err_msg());
	s->locked = 0;
	pop3_maildrop_free(&s->md);
}

/* Commands: AUTHORIZATION ------------------------------------------------ */

static void
cmd_capa(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	int tls = session_tls(s);
	const char *mechs;

	conn_printf(s->conn, "+OK capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == POP3_AUTHORIZATION) {
		if (auth_allowed(tls)) {
			conn_printf(s->conn, "USER\r\n");
			mechs = auth_mechs(tls);
			if (mechs[0] != '\0')
				conn_printf(s->conn, "SASL %s\r\n", mechs);
		}
		if (!tls && s->srv->tls_ok)
			conn_printf(s->conn, "STLS\r\n");
	}
	conn_printf(s->conn, "IMPLEMENTATION Vellum\r\n.\r\n");
}

static void
cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (session_tls(s)) {
		session_bad(s, "TLS is already active");
		return;
	}
	if (!s->srv->tls_ok) {
		session_bad(s, "TLS is not available");
		return;
	}
	if (cmd->nargs != 0) {
		session_bad(s, "STLS takes no arguments");
		return;
	}
	conn_printf(s->conn, "+OK Begin TLS negotiation\r\n");
	if (conn_starttls(s->conn) == -1) {
		log_warnx("conn %lu: STLS failed: %s", s->id, err_msg());
		session_close(s);
		return;
	}
	/* RFC 2595: forget what was said in plaintext. */
	s->have_login = 0;
	explicit_bzero(s->login, sizeof(s->login));
	log_info("conn %lu: TLS started (STLS)", s->id);
}

static void
cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (!session_login_allowed(s))
		return;
	if (cmd->nargs != 1) {
		session_bad(s, "usage: USER name");
		return;
	}
	snprintf(s->login, sizeof(s->login), "%s", cmd->args[0]);
	s->have_login = 1;
	conn_printf(s->conn, "+OK send PASS\r\n");
}

static void
cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (!s->have_login) {
		session_bad(s, "USER first");
		return;
	}
	s->have_login = 0;
	if (!session_login_allowed(s))
		return;
	if (cmd->rest[0] == '\0') {
		session_bad(s, "usage: PASS password");
		return;
	}
	if (session_user_locked(s, s->login))
		return;
	err_clear();
	s->check = auth_check_start(s->login, cmd->rest, session_verdict, s);
	session_check_wait(s, "USER");
}

/* -ERR when login is locked out from this address (1), else 0. */
static int
session_user_locked(struct pop3_session *s, const char *login)
{
	char msg[160];
	unsigned secs;

	if (auth_blocked(s->ip, login, &secs) != AUTH_BLOCK_USER)
		return 0;
	log_info("conn %lu: login refused: user=%s is locked out from %s "
	    "for %u s", s->id, login, s->ip, secs);
	snprintf(msg, sizeof(msg), "[AUTH] too many failed logins, try "
	    "again in %u seconds", secs);
	session_bad(s, msg);
	return 1;
}

/* After auth_check_start()/auth_verify(): wait for the verdict. */
static void
session_check_wait(struct pop3_session *s, const char *method)
{
	if (s->check == NULL) {
		/* Every worker busy and the queue full: try again later. */
		err_set(ERR_TEMP, "%s", err_msg());
		session_err_reply(s, "cannot check the password now, try "
		    "again later");
		return;
	}
	s->check_method = method;
	conn_pause(s->conn);
}

/* The verdict of a password check, on the loop. */
static void
session_verdict(const struct auth_verdict *v, void *arg)
{
	struct pop3_session *s = arg;

	s->check = NULL;
	conn_resume(s->conn);
	if (s->closing)
		return;
	if (v->rc == 1)
		session_login_ok(s, v->user_id, v->user, s->check_method);
	else if (v->rc == 0 && v->disabled)
		session_login_disabled(s, v->login, v->why);
	else if (v->rc == 0)
		session_login_failed(s, v->login, v->why);
	else {
		err_set(ERR_TEMP, "%s", v->why);
		session_err_reply(s, "cannot check the password now");
	}
	session_cmd_done(s);
}

static void
cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const char *mechs, *challenge = NULL, *p;
	enum auth_result res = AUTH_FAIL;
	size_t w;

	if (!session_login_allowed(s))
		return;
	if (cmd->nargs == 0) {
		/* The pre-CAPA listing some clients still ask for. */
		conn_printf(s->conn, "+OK\r\n");
		for (p = mechs = auth_mechs(session_tls(s)); *p != '\0';) {
			w = strcspn(p, " ");
			conn_printf(s->conn, "%.*s\r\n", (int)w, p);
			p += w;
			while (*p == ' ')
				p++;
		}
		conn_printf(s->conn, ".\r\n");
		return;
	}
	if (cmd->nargs > 2) {
		session_bad(s, "usage: AUTH mechanism [initial-response]");
		return;
	}
	if (!auth_mech_offered(cmd->args[0], session_tls(s))) {
		session_bad(s, "unknown authentication mechanism");
		return;
	}
	err_clear();
	s->sasl = auth_start(cmd->args[0], cmd->nargs == 2 ? cmd->args[1] :
	    NULL, session_tls(s), &res, &challenge);
	session_sasl_result(s, res, challenge);
}

static void
session_sasl_line(struct pop3_session *s, const char *line, size_t len)
{
	const char *challenge = NULL;
	enum auth_result res;

	err_clear();
	res = auth_step(s->sasl, line, len, &challenge);
	session_sasl_result(s, res, challenge);
}

static void
session_sasl_result(struct pop3_session *s, enum auth_result res,
    const char *challenge)
{
	char who[AUTH_LOGIN_MAX + 1];

	switch (res) {
	case AUTH_CONTINUE:
		if (s->state != POP3_SASL)
			session_enter_state(s, POP3_SASL);
		conn_printf(s->conn, "+ %s\r\n",
		    challenge != NULL ? challenge : "");
		return;
	case AUTH_VERIFY:
		if (s->state != POP3_AUTHORIZATION)
			session_enter_state(s, POP3_AUTHORIZATION);
		if (session_user_locked(s, auth_login(s->sasl))) {
			auth_free(&s->sasl);
			return;
		}
		err_clear();
		s->check = auth_verify(s->sasl, session_verdict, s);
		auth_free(&s->sasl);
		session_check_wait(s, "AUTH");
		return;
	case AUTH_CANCELLED:
		if (s->state != POP3_AUTHORIZATION)
			session_enter_state(s, POP3_AUTHORIZATION);
		auth_free(&s->sasl);
		session_bad(s, "authentication cancelled");
		return;
	case AUTH_FAIL:
		if (s->state != POP3_AUTHORIZATION)
			session_enter_state(s, POP3_AUTHORIZATION);
		/* Who, when the mechanism got that far. */
		snprintf(who, sizeof(who), "%s", s->sasl != NULL ?
		    auth_login(s->sasl) : "");
		auth_free(&s->sasl);
		/* A malformed response is a protocol error, not a login. */
		if (err_class() == ERR_INVALID || err_class() == ERR_LIMIT) {
			session_bad(s, "invalid authentication response");
			return;
		}
		session_login_failed(s, who, err_class() != ERR_NONE ?
		    err_msg() : "SASL exchange failed");
		return;
	}
}

/* Commands: TRANSACTION -------------------------------------------------- */

/* The message named by arg, or NULL after an -ERR. */
static struct pop3_maildrop_msg *
session_msg_arg(struct pop3_session *s, const char *arg, unsigned long *n_r)
{
	struct pop3_maildrop_msg *m;
	unsigned long n;

	if (pop3_parse_number(arg, ULONG_MAX, &n) == -1) {
		session_bad(s, "invalid message number");
		return NULL;
	}
	if ((m = pop3_maildrop_get(s->md, n)) == NULL) {
		conn_printf(s->conn, "-ERR no such message\r\n");
		return NULL;
	}
	if (m->deleted) {
		conn_printf(s->conn, "-ERR message %lu already deleted\r\n",
		    n);
		return NULL;
	}
	*n_r = n;
	return m;
}

static void
cmd_stat(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t n;
	uint64_t bytes;

	if (cmd->nargs != 0) {
		session_bad(s, "STAT takes no arguments");
		return;
	}
	pop3_maildrop_stat(s->md, &n, &bytes);
	conn_printf(s->conn, "+OK %zu %" PRIu64 "\r\n", n, bytes);
}

static void
cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct pop3_maildrop_msg *m;
	unsigned long n;
	size_t count, i;
	uint64_t bytes;

	if (cmd->nargs > 1) {
		session_bad(s, "usage: LIST [message]");
		return;
	}
	if (cmd->nargs == 1) {
		if ((m = session_msg_arg(s, cmd->args[0], &n)) != NULL)
			conn_printf(s->conn, "+OK %lu %" PRIu64 "\r\n", n,
			    m->size);
		return;
	}
	pop3_maildrop_stat(s->md, &count, &bytes);
	conn_printf(s->conn, "+OK %zu messages (%" PRIu64 " octets)\r\n",
	    count, bytes);
	for (i = 0; i < s->md->count; i++)
		if (!s->md->msgs[i].deleted)
			conn_printf(s->conn, "%zu %" PRIu64 "\r\n", i + 1,
			    s->md->msgs[i].size);
	conn_printf(s->conn, ".\r\n");
}

static void
cmd_uidl(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	char uidl[POP3_UIDL_MAX + 1];
	unsigned long n;
	size_t i;

	if (cmd->nargs > 1) {
		session_bad(s, "usage: UIDL [message]");
		return;
	}
	if (cmd->nargs == 1) {
		if (session_msg_arg(s, cmd->args[0], &n) == NULL)
			return;
		pop3_maildrop_uidl(s->md, n, uidl, sizeof(uidl));
		conn_printf(s->conn, "+OK %lu %s\r\n", n, uidl);
		return;
	}
	conn_printf(s->conn, "+OK unique-id listing follows\r\n");
	for (i = 0; i < s->md->count; i++) {
		if (s->md->msgs[i].deleted)
			continue;
		pop3_maildrop_uidl(s->md, i + 1, uidl, sizeof(uidl));
		conn_printf(s->conn, "%zu %s\r\n", i + 1, uidl);
	}
	conn_printf(s->conn, ".\r\n");
}

static void
cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned long n;

	if (cmd->nargs != 1) {
		session_bad(s, "usage: RETR message");
		return;
	}
	if (session_msg_arg(s, cmd->args[0], &n) != NULL)
		session_send_start(s, n, POP3DOT_ALL);
}

static void
cmd_top(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned long n, lines;

	if (cmd->nargs != 2) {
		session_bad(s, "usage: TOP message lines");
		return;
	}
	if (pop3_parse_number(cmd->args[1], LONG_MAX, &lines) == -1) {
		session_bad(s, "invalid number of lines");
		return;
	}
	if (session_msg_arg(s, cmd->args[0], &n) != NULL)
		session_send_start(s, n, (long)lines);
}

static void
cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned long n;

	if (cmd->nargs != 1) {
		session_bad(s, "usage: DELE message");
		return;
	}
	if (session_msg_arg(s, cmd->args[0], &n) == NULL)
		return;
	pop3_maildrop_delete(s->md, n);
	conn_printf(s->conn, "+OK message %lu deleted\r\n", n);
}

static void
cmd_noop(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	conn_printf(s->conn, "+OK\r\n");
}

static void
cmd_rset(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	size_t n;
	uint64_t bytes;

	pop3_maildrop_reset(s->md);
	pop3_maildrop_stat(s->md, &n, &bytes);
	conn_printf(s->conn, "+OK maildrop has %zu messages (%" PRIu64
	    " octets)\r\n", n, bytes);
}

static void
cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	unsigned n;

	if (s->state == POP3_AUTHORIZATION) {
		conn_printf(s->conn, "+OK Vellum POP3 server signing off\r\n");
		session_close(s);
		return;
	}
	session_enter_state(s, POP3_UPDATE);
	if (pop3_maildrop_expunge(s->srv->store, s->md, &n) == -1)
		session_err_reply(s, "cannot delete the messages, none "
		    "was deleted");
	else {
		s->deleted = n;
		conn_printf(s->conn, "+OK Vellum POP3 server signing off "
		    "(%u messages deleted)\r\n", n);
	}
	session_release(s);
	session_close(s);
}

/* RETR and TOP: streaming ------------------------------------------------- */

/*
 * The first chunk is read before "+OK" so that a damaged message gets a
 * clean -ERR; a failure after that can only close the connection.
 */
static void
session_send_start(struct pop3_session *s, unsigned long n, long lines)
{
	struct pop3_maildrop_msg *m = pop3_maildrop_get(s->md, n);
	size_t got;
	int rc;

	s->send.in = xmalloc(POP3_CHUNK);
	rc = pop3_maildrop_read(s->srv->store, s->md, n, 0, s->send.in,
	    POP3_CHUNK, &got);
	if (rc != 1) {
		free(s->send.in);
		s->send.in = NULL;
		if (rc == 0) {
			log_info("conn %lu: message %lu (uid %" PRIu32
			    ") is gone", s->id, n, m->uid);
			conn_printf(s->conn, "-ERR message %lu no longer "
			    "exists\r\n", n);
		} else if (err_class() == ERR_CORRUPT) {
			log_warnx("conn %lu: user %s message %lu (uid %"
			    PRIu32 ") cannot be read: %s", s->id, s->user, n,
			    m->uid, err_msg());
			conn_printf(s->conn, "-ERR message %lu cannot be "
			    "read\r\n", n);
		} else
			session_err_reply(s, "cannot read the message");
		return;
	}
	s->send.out = xmalloc(POP3DOT_OUT_MAX(POP3_CHUNK) +
	    POP3DOT_FINISH_MAX);
	s->send.active = 1;
	s->send.paused = 0;
	s->send.n = n;
	s->send.off = got;
	s->send.have = got;
	s->send.eof = got < POP3_CHUNK;
	s->send.is_retr = lines == POP3DOT_ALL;
	pop3dot_init(&s->send.dot, lines);
	if (s->send.is_retr)
		conn_printf(s->conn, "+OK %" PRIu64 " octets\r\n", m->size);
	else
		conn_printf(s->conn, "+OK top of message follows\r\n");
	/* The client must read it at the transfer rate. */
	conn_sending(s->conn);
	session_send_pump(s);
	/*
	 * Wait for on_drain with the conn paused so pipelined commands wait.
	 * A message sent at once never pauses: conn_resume() would run the
	 * next pipelined command from inside this one, and a long pipeline
	 * would nest that deep.
	 */
	if (s->send.active && !s->closing) {
		conn_pause(s->conn);
		s->send.paused = 1;
	}
}

/* Converts and writes until the output is full or the message ends. */
static void
session_send_pump(struct pop3_session *s)
{
	size_t got, olen;
	int rc;

	while (conn_out_pending(s->conn) < CONN_OUT_HIGH) {
		if (s->send.have > 0) {
			olen = pop3dot_feed(&s->send.dot, s->send.in,
			    s->send.have, s->send.out);
			s->send.have = 0;
			conn_write(s->conn, s->send.out, olen);
			s->bytes_sent += olen;
			continue;
		}
		if (s->send.eof || pop3dot_done(&s->send.dot)) {
			session_send_end(s);
			return;
		}
		rc = pop3_maildrop_read(s->srv->store, s->md, s->send.n,
		    s->send.off, s->send.in, POP3_CHUNK, &got);
		if (rc != 1) {
			log_warnx("conn %lu: user %s message %lu failed at "
			    "offset %" PRIu64 ", closing: %s", s->id, s->user,
			    s->send.n, s->send.off, rc == 0 ? "message gone" :
			    err_msg());
			session_close(s);
			return;
		}
		s->send.off += got;
		s->send.have = got;
		s->send.eof = got < POP3_CHUNK;
	}
	/* on_drain calls again. */
}

static void
session_send_end(struct pop3_session *s)
{
	size_t olen;

	olen = pop3dot_finish(&s->send.dot, s->send.out);
	conn_write(s->conn, s->send.out, olen);
	s->bytes_sent += olen;
	if (s->send.is_retr)
		s->retrieved++;
	s->send.active = 0;
	free(s->send.in);
	free(s->send.out);
	s->send.in = s->send.out = NULL;
	if (s->send.paused) {
		s->send.paused = 0;
		conn_resume(s->conn);
	}
	session_cmd_done(s);
}

/* conn callbacks ---------------------------------------------------------- */

static void
session_on_line(struct conn *c, const char *line, size_t len)
{
	struct pop3_session *s = conn_ctx(c);
	struct pop3_cmd cmd;
	size_t i;

	if (s->closing)
		return;
	if (s->state == POP3_SASL) {
		session_sasl_line(s, line, len);
		session_cmd_done(s);
		return;
	}
	if (pop3_parse_line(line, len, &cmd) == -1) {
		session_bad(s, err_msg());
		session_cmd_done(s);
		return;
	}
	for (i = 0; i < sizeof(pop3_commands) / sizeof(pop3_commands[0]);
	    i++)
		if (strcmp(pop3_commands[i].verb, cmd.verb) == 0)
			break;
	if (i == sizeof(pop3_commands) / sizeof(pop3_commands[0]))
		session_bad(s, "unknown command");
	else if (!(pop3_commands[i].states & (1u << s->state)))
		session_bad(s, "command not valid in this state");
	else if (s->state == POP3_TRANSACTION &&
	    session_renew_lock(s) == -1) {
		session_err_reply(s, "lost the maildrop lock");
		session_close(s);
	} else
		pop3_commands[i].fn(s, &cmd);
	/* PASS and AUTH lines hold secrets. */
	explicit_bzero(&cmd, sizeof(cmd));
	session_cmd_done(s);
}

static void
session_on_toolong(struct conn *c)
{
	struct pop3_session *s = conn_ctx(c);

	if (s->closing)
		return;
	if (s->state == POP3_SASL) {
		auth_free(&s->sasl);
		session_enter_state(s, POP3_AUTHORIZATION);
	}
	session_bad(s, "line too long");
	session_cmd_done(s);
}

static void
session_on_drain(struct conn *c)
{
	struct pop3_session *s = conn_ctx(c);

	if (s->send.active && !s->closing)
		session_send_pump(s);
}

static void
session_on_timeout(struct conn *c)
{
	struct pop3_session *s = conn_ctx(c);

	/* conn logged which deadline; mid-message a line would be text. */
	if (!s->closing && !s->send.active)
		conn_printf(c, "-ERR [SYS/TEMP] %s timeout\r\n",
		    conn_timeout_reason(c));
	s->closing = 1;
}

static void
session_on_shutdown(struct conn *c)
{
	struct pop3_session *s = conn_ctx(c);

	if (s->closing)
		return;
	if (conn_kicked(c))
		conn_printf(c, "-ERR session closed by the administrator\r\n");
	else
		conn_printf(c, "-ERR [SYS/TEMP] server shutting down\r\n");
	session_close(s);
}

static void
session_on_close(struct conn *c)
{
	struct pop3_session *s = conn_ctx(c);

	if (s == NULL)
		return;
	log_info("conn %lu: disconnect from %s user=%s retrieved=%u "
	    "deleted=%u bytes=%" PRIu64, s->id, s->ip,
	    s->user[0] != '\0' ? s->user : "-", s->retrieved, s->deleted,
	    s->bytes_sent);
	sessreg_remove(&s->reg);
	session_release(s);
	auth_free(&s->sasl);
	auth_check_cancel(&s->check);
	conn_delay_free(&s->delay);
	free(s->send.in);
	free(s->send.out);
	explicit_bzero(s->login, sizeof(s->login));
	free(s);
}

void
pop3_session_accept(struct conn *c, void *arg)
{
	struct pop3_session *s;
	struct pop3_server *srv = arg;

	s = xcalloc(1, sizeof(*s));
	s->conn = c;
	s->srv = srv;
	s->id = conn_id(c);
	snprintf(s->ip, sizeof(s->ip), "%s", conn_peer(c));
	s->state = POP3_AUTHORIZATION;
	conn_set_ops(c, &session_ops, s);
	log_info("conn %lu: connect from %s port %s to port %s%s", s->id, s->ip,
	    conn_peer_port(c), conn_local_port(c), conn_is_tls(c) ? " tls" : "");
	conn_printf(c, "+OK %s Vellum POP3 ready\r\n",
	    srv->config->hostname);
}
