/*
 * cmd_auth.c - CAPABILITY NOOP LOGOUT ID ENABLE STARTTLS LOGIN
 * AUTHENTICATE COMPRESS IDLE.
 *
 * Logins follow pop3d: passwords are checked on the worker threads
 * (auth_check_start(), auth_verify()) while the command holds the input;
 * a failure is answered after auth_failed()'s delay, on a timer; the
 * lockout rules of common/auth.c apply as they do to POP3 and SMTP.
 * Unlike POP3, a refused login of a disabled account says why (after
 * the right password only: the store checks the password first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "store/mailbox.h"
#include "store/store.h"
#include "imapd/core.h"
#include "imapd/imapd.h"

/* Server name and version for ID (RFC 2971). */
#define IMAP_ID_NAME	"Vellum"

static void	auth_verdict_cb(const struct auth_verdict *, void *);
static void	auth_failed_reply(struct imap_session *, const char *,
		    const char *, const char *, const char *);
static void	auth_delay_cb(evutil_socket_t, short, void *);
static void	auth_sasl_result(struct imap_session *, enum auth_result,
		    const char *);
static int	auth_may_login(struct imap_session *);
static int	auth_user_locked(struct imap_session *, const char *);
static void	auth_wait(struct imap_session *, const char *);

/* CAPABILITY ------------------------------------------------------------- */

const char *
imap_capabilities(struct imap_session *s)
{
	static char caps[1024];
	const struct config *cfg = s->srv->config;
	int tls = conn_is_tls(s->conn);
	const char *p;
	size_t w, n;

	/*
	 * IMAP4rev2 includes BINARY (RFC 9051 6.4.5), which fetchbinary.c
	 * serves; a client that sees it may ENABLE it.
	 */
	n = (size_t)snprintf(caps, sizeof(caps), "IMAP4rev1 IMAP4rev2");
	if (s->state == IMAP_NOTAUTH) {
		n += (size_t)snprintf(caps + n, sizeof(caps) - n,
		    " SASL-IR ID ENABLE IDLE LITERAL-");
		if (s->srv->tls_ok && !tls)
			n += (size_t)snprintf(caps + n, sizeof(caps) - n,
			    " STARTTLS");
		if (!auth_allowed(tls))
			snprintf(caps + n, sizeof(caps) - n,
			    " LOGINDISABLED");
		else
			for (p = auth_mechs(tls); *p != '\0';) {
				w = strcspn(p, " ");
				n += (size_t)snprintf(caps + n,
				    sizeof(caps) - n, " AUTH=%.*s", (int)w, p);
				p += w;
				while (*p == ' ')
					p++;
			}
		return caps;
	}
	snprintf(caps + n, sizeof(caps) - n, " ID ENABLE IDLE LITERAL+ "
	    "NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN LIST-EXTENDED "
	    "LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE QUOTA "
	    "QUOTA=RES-STORAGE QUOTA=RES-MESSAGE CONDSTORE QRESYNC ESEARCH "
	    "SEARCHRES SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT "
	    "THREAD=REFERENCES "
	    "MULTIAPPEND APPENDLIMIT=%u STATUS=SIZE UTF8=ACCEPT BINARY%s",
	    cfg->smtpd_max_message_size, s->compress ? "" :
	    " COMPRESS=DEFLATE");
	return caps;
}

void
imap_cmd_capability(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "CAPABILITY takes no arguments.");
		return;
	}
	imap_untagged(s, "CAPABILITY %s", imap_capabilities(s));
	imap_ok(s, NULL, "Capability completed.");
}

void
imap_cmd_noop(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "NOOP takes no arguments.");
		return;
	}
	imap_ok(s, NULL, "NOOP completed.");
}

void
imap_cmd_logout(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "LOGOUT takes no arguments.");
		return;
	}
	/* Nothing more about the mailbox after BYE. */
	imap_view_free(&s->view);
	imap_untagged(s, "BYE Logging out");
	imap_ok(s, NULL, "Logout completed.");
	imap_session_close(s);
}

/* ID, ENABLE -------------------------------------------------------------- */

void
imap_cmd_id(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_id id;
	size_t i;

	memset(&id, 0, sizeof(id));
	if (imap_p_id(&cmd->p, &id) == -1) {
		imap_bad(s, "Error in IMAP command ID: %s", cmd->p.err != NULL ?
		    cmd->p.err : "Invalid parameters");
		return;
	}
	if (log_verbose() > 1)
		for (i = 0; i < id.n; i++)
			log_debug("conn %lu: ID %.*s=%.*s", s->id,
			    (int)id.keys[i].len, id.keys[i].s,
			    id.values[i].s != NULL ? (int)id.values[i].len : 3,
			    id.values[i].s != NULL ? id.values[i].s : "NIL");
	imap_untagged(s, "ID (\"name\" \"" IMAP_ID_NAME "\")");
	imap_ok(s, NULL, "ID completed.");
}

void
imap_cmd_enable(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_str a;
	struct imap_buf names;
	unsigned bit, added = 0;
	const char *name;

	if (imap_p_at_end(&cmd->p)) {
		imap_bad(s, "Error in IMAP command ENABLE: Missing "
		    "capabilities.");
		return;
	}
	imap_buf_init(&names);
	while (!imap_p_at_end(&cmd->p)) {
		if (imap_p_sp(&cmd->p) == -1 || imap_p_atom(&cmd->p, &a) ==
		    -1) {
			imap_buf_free(&names);
			imap_bad(s, "Error in IMAP command ENABLE: Invalid "
			    "arguments.");
			return;
		}
		if (imap_str_eq(&a, "CONDSTORE")) {
			bit = IMAP_EN_CONDSTORE;
			name = "CONDSTORE";
		} else if (imap_str_eq(&a, "QRESYNC")) {
			bit = IMAP_EN_QRESYNC | IMAP_EN_CONDSTORE;
			name = "QRESYNC";
		} else if (imap_str_eq(&a, "UTF8=ACCEPT")) {
			bit = IMAP_EN_UTF8;
			name = "UTF8=ACCEPT";
		} else if (imap_str_eq(&a, "IMAP4rev2")) {
			bit = IMAP_EN_REV2;
			name = "IMAP4rev2";
		} else
			continue;	/* unknown ones are ignored */
		/* Listed once, when this command turned it on. */
		if ((s->enabled & bit) == bit || (added & bit) == bit)
			continue;
		added |= bit;
		s->enabled |= bit;
		imap_buf_printf(&names, " %s", name);
	}
	imap_untagged(s, "ENABLED%.*s", (int)names.len,
	    names.p != NULL ? names.p : "");
	imap_buf_free(&names);
	imap_ok(s, NULL, "Enabled.");
}

/* STARTTLS, COMPRESS ------------------------------------------------ */

void
imap_cmd_starttls(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "STARTTLS takes no arguments.");
		return;
	}
	if (conn_is_tls(s->conn)) {
		imap_bad(s, "TLS is already active.");
		return;
	}
	if (!s->srv->tls_ok) {
		imap_bad(s, "TLS support isn't enabled.");
		return;
	}
	imap_ok(s, NULL, "Begin TLS negotiation now.");
	if (imap_session_starttls(s) == -1) {
		log_warnx("conn %lu: STARTTLS: %s", s->id, err_msg());
		imap_session_close(s);
	}
}

void
imap_cmd_compress(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_str a;

	if (imap_p_sp(&cmd->p) == -1 || imap_p_atom(&cmd->p, &a) == -1 ||
	    imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "Error in IMAP command COMPRESS: Invalid "
		    "arguments.");
		return;
	}
	if (!imap_str_eq(&a, "DEFLATE")) {
		imap_no(s, "CANNOT", "Unknown compression mechanism.");
		return;
	}
	if (s->compress) {
		imap_no(s, "COMPRESSIONACTIVE", "Compression already "
		    "enabled.");
		return;
	}
	imap_ok(s, NULL, "Begin compression.");
	if (imap_session_compress(s) == -1) {
		log_warnx("conn %lu: COMPRESS: %s", s->id, err_msg());
		imap_session_close(s);
	}
}

/* IDLE (RFC 2177) ---------------------------------------------------- */

void
imap_cmd_idle(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "IDLE takes no arguments.");
		return;
	}
	imap_write(s, "+ idling\r\n", 10);
	imap_session_idle_start(s);
	/* What happened before IDLE is told at once. */
	if (s->view != NULL && imap_view_sync(s, 1) == -1) {
		imap_session_idle_stop(s);
		imap_no_err(s);
	}
}

void
imap_idle_line(struct imap_session *s, const char *line, size_t len)
{
	imap_session_idle_stop(s);
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		imap_ok(s, NULL, "Idle completed.");
	else
		imap_bad(s, "Expected DONE.");
}

/* LOGIN, AUTHENTICATE ------------------------------------------------ */

/* Whether a login may be tried now (else the command is answered). */
static int
auth_may_login(struct imap_session *s)
{
	unsigned secs;

	if (!auth_allowed(conn_is_tls(s->conn))) {
		log_info("conn %lu: plaintext login refused", s->id);
		imap_no(s, "PRIVACYREQUIRED", "Plaintext authentication "
		    "disallowed on non-secure (SSL/TLS) connections.");
		return 0;
	}
	if (auth_blocked(s->ip, NULL, &secs) == AUTH_BLOCK_ADDRESS) {
		log_info("conn %lu: login refused: %s is locked out for %u s",
		    s->id, s->ip, secs);
		imap_no(s, "UNAVAILABLE", "Too many failed logins from your "
		    "address, try again in %u seconds.", secs);
		return 0;
	}
	return 1;
}

/* 1 (answered) when login is locked out from this address. */
static int
auth_user_locked(struct imap_session *s, const char *login)
{
	unsigned secs;

	if (auth_blocked(s->ip, login, &secs) != AUTH_BLOCK_USER)
		return 0;
	log_info("conn %lu: login refused: user=%s is locked out from %s "
	    "for %u s", s->id, login, s->ip, secs);
	imap_no(s, "UNAVAILABLE", "Too many failed logins, try again in %u "
	    "seconds.", secs);
	return 1;
}

/* After auth_check_start()/auth_verify(): the verdict comes later. */
static void
auth_wait(struct imap_session *s, const char *method)
{
	if (imap_core(s)->check == NULL) {
		log_warnx("conn %lu: cannot check a password now: %s", s->id,
		    err_msg());
		imap_no(s, "UNAVAILABLE", "Temporary authentication failure.");
		return;
	}
	imap_core(s)->check_method = method;
}

void
imap_cmd_login(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_str u, p;
	char login[AUTH_LOGIN_MAX + 1], *pw;

	if (imap_p_sp(&cmd->p) == -1 || imap_p_astring(&cmd->p, &u) == -1 ||
	    imap_p_sp(&cmd->p) == -1 || imap_p_astring(&cmd->p, &p) == -1 ||
	    imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "Error in IMAP command LOGIN: %s",
		    cmd->p.err != NULL ? cmd->p.err : "Invalid arguments");
		return;
	}
	if (!auth_may_login(s))
		return;
	if (imap_str_copy(login, sizeof(login), &u) == -1 ||
	    memchr(p.s, '\0', p.len) != NULL) {
		auth_failed_reply(s, "", "invalid user name or password",
		    "AUTHENTICATIONFAILED", "Authentication failed.");
		return;
	}
	if (auth_user_locked(s, login))
		return;
	pw = xmemdup(p.s, p.len + 1);
	pw[p.len] = '\0';
	err_clear();
	imap_core(s)->check = auth_check_start(login, pw, auth_verdict_cb, s);
	explicit_bzero(pw, p.len);
	free(pw);
	auth_wait(s, "LOGIN");
}

void
imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_str mech, ir;
	char mname[32], *initial = NULL;
	const char *challenge = NULL;
	enum auth_result res = AUTH_FAIL;

	memset(&ir, 0, sizeof(ir));
	if (imap_p_sp(&cmd->p) == -1 || imap_p_atom(&cmd->p, &mech) == -1 ||
	    (!imap_p_at_end(&cmd->p) && (imap_p_sp(&cmd->p) == -1 ||
	    imap_p_astring(&cmd->p, &ir) == -1)) ||
	    imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "Error in IMAP command AUTHENTICATE: %s",
		    cmd->p.err != NULL ? cmd->p.err : "Invalid arguments");
		return;
	}
	if (!auth_may_login(s))
		return;
	if (imap_str_copy(mname, sizeof(mname), &mech) == -1 ||
	    !auth_mech_offered(mname, conn_is_tls(s->conn))) {
		imap_no(s, NULL, "Unsupported authentication mechanism.");
		return;
	}
	if (ir.s != NULL) {
		if (memchr(ir.s, '\0', ir.len) != NULL) {
			imap_bad(s, "Invalid base64 data in initial "
			    "response.");
			return;
		}
		initial = xmemdup(ir.s, ir.len + 1);
		initial[ir.len] = '\0';
	}
	err_clear();
	imap_core(s)->sasl = auth_start(mname, initial, conn_is_tls(s->conn),
	    &res, &challenge);
	if (initial != NULL) {
		explicit_bzero(initial, ir.len);
		free(initial);
	}
	auth_sasl_result(s, res, challenge);
}

void
imap_auth_sasl_line(struct imap_session *s, const char *line, size_t len)
{
	const char *challenge = NULL;
	enum auth_result res;

	err_clear();
	res = auth_step(imap_core(s)->sasl, line, len, &challenge);
	auth_sasl_result(s, res, challenge);
}

static void
auth_sasl_result(struct imap_session *s, enum auth_result res,
    const char *challenge)
{
	struct imap_core *core = s->core;
	char who[AUTH_LOGIN_MAX + 1];

	switch (res) {
	case AUTH_CONTINUE:
		core->mode = IMAP_MODE_SASL;
		conn_printf(s->conn, "+ %s\r\n", challenge != NULL ?
		    challenge : "");
		return;
	case AUTH_VERIFY:
		core->mode = IMAP_MODE_CMD;
		if (auth_user_locked(s, auth_login(core->sasl))) {
			auth_free(&core->sasl);
			return;
		}
		err_clear();
		core->check = auth_verify(core->sasl, auth_verdict_cb, s);
		auth_free(&core->sasl);
		auth_wait(s, "AUTHENTICATE");
		return;
	case AUTH_CANCELLED:
		core->mode = IMAP_MODE_CMD;
		auth_free(&core->sasl);
		imap_bad(s, "Authentication aborted by client.");
		return;
	case AUTH_FAIL:
		core->mode = IMAP_MODE_CMD;
		snprintf(who, sizeof(who), "%s", core->sasl != NULL ?
		    auth_login(core->sasl) : "");
		auth_free(&core->sasl);
		if (err_class() == ERR_INVALID || err_class() == ERR_LIMIT) {
			imap_bad(s, "Invalid base64 data in continued "
			    "response.");
			return;
		}
		auth_failed_reply(s, who, err_class() != ERR_NONE ?
		    err_msg() : "SASL exchange failed",
		    "AUTHENTICATIONFAILED", "Authentication failed.");
		return;
	}
}

/* The verdict of a password check, on the loop. */
static void
auth_verdict_cb(const struct auth_verdict *v, void *arg)
{
	struct imap_session *s = arg;
	struct imap_core *core = s->core;
	const char *method = core->check_method;
	char text[300];

	core->check = NULL;
	if (s->closing)
		return;
	if (v->rc == 1) {
		auth_succeeded(s->ip, v->user);
		snprintf(s->user, sizeof(s->user), "%s", v->user);
		s->user_id = v->user_id;
		log_info("conn %lu: login ok user=%s method=%s%s", s->id,
		    s->user, method, conn_is_tls(s->conn) ? " tls" : "");
		imap_session_logged_in(s);
		imap_ok(s, NULL, "[CAPABILITY %s] Logged in",
		    imap_capabilities(s));
		return;
	}
	if (v->rc == 0) {
		/* The store says "account disabled: reason" only after the
		 * right password. */
		if (v->disabled && strncmp(v->why, "account disabled",
		    16) == 0) {
			snprintf(text, sizeof(text), "Account disabled%s",
			    v->why + 16);
			auth_failed_reply(s, v->login, v->why, "CONTACTADMIN",
			    text);
		} else
			auth_failed_reply(s, v->login, v->why,
			    "AUTHENTICATIONFAILED", "Authentication failed.");
		return;
	}
	log_warnx("conn %lu: login of %s not checked: %s", s->id, v->login,
	    v->why);
	imap_no(s, "UNAVAILABLE", "Temporary authentication failure.");
}

/*
 * A refused login: counted per address and user, answered after the
 * delay of common/auth.c, and after IMAP_BAD_CMDS_MAX of them the
 * connection closes.
 */
static void
auth_failed_reply(struct imap_session *s, const char *who,
    const char *reason, const char *code, const char *text)
{
	struct imap_core *core = s->core;
	struct timeval tv;
	unsigned ms;

	log_info("conn %lu: login failed user=%s from %s: %s", s->id,
	    who != NULL && who[0] != '\0' ? who : "(none given)", s->ip,
	    reason);
	ms = auth_failed(s->ip, who);
	core->delay_close = ++core->auth_failures >= IMAP_BAD_CMDS_MAX;
	free(core->delay_reply);
	core->delay_reply = xasprintf("%s\n%s", code, text);
	if (ms == 0) {
		auth_delay_cb(-1, 0, s);
		return;
	}
	if (core->delay_ev == NULL &&
	    (core->delay_ev = evtimer_new(conn_base(), auth_delay_cb, s)) ==
	    NULL)
		fatalx("imap: evtimer_new failed");
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(core->delay_ev, &tv);
}

static void
auth_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;
	struct imap_core *core = s->core;
	char *reply = core->delay_reply, *text;

	(void)fd;
	(void)what;
	core->delay_reply = NULL;
	if (reply == NULL || s->closing) {
		free(reply);
		return;
	}
	text = strchr(reply, '\n');
	*text++ = '\0';
	imap_no(s, reply, "%s", text);
	free(reply);
	if (core->delay_close && !s->closing) {
		log_info("conn %lu: %u failed logins, closing", s->id,
		    core->auth_failures);
		imap_untagged(s, "BYE Too many failed logins.");
		imap_session_close(s);
	}
}

void
imap_auth_free(struct imap_session *s)
{
	struct imap_core *core = s->core;

	auth_free(&core->sasl);
	auth_check_cancel(&core->check);
	if (core->delay_ev != NULL) {
		event_free(core->delay_ev);
		core->delay_ev = NULL;
	}
	free(core->delay_reply);
	core->delay_reply = NULL;
}
