/*
 * login.c - what a client may do once it says who it is: AUTH (SASL
 * through common/auth.c, the password checked on a worker thread), the
 * relay rules, the sender a login may use (sender-login-match) and its
 * outgoing policy (deliver/policy.c) at MAIL and at the end of data.
 * Split from session.c, whose conversation calls these.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "common/auth.h"
#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sessreg.h"
#include "common/xmalloc.h"
#include "store/access.h"
#include "store/domain.h"
#include "store/store.h"
#include "deliver/deliver.h"
#include "smtpd/parse.h"
#include "smtpd/session.h"
#include "smtpd/sessionpriv.h"

static int	session_access_txn(struct store_txn *, void *);
static int	session_domain_txn(struct store_txn *, void *);
static void	session_login_ok(struct smtp_session *, const char *);
static void	session_login_disabled(struct smtp_session *, const char *,
		    const char *);
static void	session_login_failed(struct smtp_session *, const char *,
		    const char *);
static void	session_reply_later(struct smtp_session *, unsigned,
		    const char *, int);
static void	session_delay_done(void *, int);
static void	session_verdict(const struct auth_verdict *, void *);
static int	session_user_locked(struct smtp_session *, const char *);
static void	session_sasl_result(struct smtp_session *, enum auth_result,
		    const char *);

/* Relay rules ------------------------------------------------------------ */

static int
session_access_txn(struct store_txn *t, void *ctx)
{
	return store_access_check(t, ctx);
}

/*
 * May this client send to other domains?  1 yes, 0 no, -1 error.
 * Authenticated, LMTP (trusted by the MTA in front), a trusted network,
 * or a recent POP3/IMAP login from the same address.
 */
int
session_relay_ok(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;

	if (s->user[0] != '\0' || s->lmtp)
		return 1;
	if (config_net_match(cf->smtpd_trusted, cf->smtpd_ntrusted, s->ip))
		return 1;
	if (cf->pop_before_smtp == 0)
		return 0;
	return store_read(s->srv->store, session_access_txn, s->ip);
}

struct session_domain {
	const char	*name;
	uint32_t	 flags;
	int		 local;
	char		 real[STORE_DOMAIN_MAX + 1];	/* name, or what it
							   aliases */
};

static int
session_domain_txn(struct store_txn *t, void *ctx)
{
	struct session_domain *sd = ctx;
	struct store_domain d, target;
	int rc;

	if ((rc = store_domain_get(t, sd->name, &d)) != 1)
		return rc;
	sd->local = 1;
	sd->flags = d.flags;
	snprintf(sd->real, sizeof(sd->real), "%s", d.alias_of[0] != '\0' ?
	    d.alias_of : d.name);
	/* An alias domain follows the rules of the domain it aliases. */
	if (d.alias_of[0] != '\0' && store_domain_get(t, d.alias_of,
	    &target) == 1)
		sd->flags |= target.flags;
	return 1;
}

/*
 * STORE_DOMAIN_SENDER_LOGIN: an authenticated client may only use its
 * own address, or one that routes to its mailbox.  A domain login may
 * use any address of its domain (or of an alias domain of it), and only
 * those.  1 ok, 0 refused, -1 error.
 */
int
session_sender_ok(struct smtp_session *s, const char *sender)
{
	char norm[STORE_ADDRESS_MAX + 1], dom[STORE_DOMAIN_MAX + 1];
	struct session_domain sd;
	struct deliver_rcpt r;
	const char *at;
	size_t i;
	int ok = 0;

	if (s->domain_login) {
		if ((at = strrchr(sender, '@')) == NULL ||
		    store_domain_normalize(at + 1, dom) == -1)
			return 0;
		memset(&sd, 0, sizeof(sd));
		sd.name = dom;
		if (store_read(s->srv->store, session_domain_txn, &sd) == -1)
			return -1;
		return sd.local && strcmp(sd.real, s->user) == 0;
	}
	if (s->user[0] == '\0' || sender[0] == '\0' ||
	    (at = strrchr(sender, '@')) == NULL ||
	    store_domain_normalize(at + 1, dom) == -1)
		return 1;
	memset(&sd, 0, sizeof(sd));
	sd.name = dom;
	if (store_read(s->srv->store, session_domain_txn, &sd) == -1)
		return -1;
	if (!sd.local || !(sd.flags & STORE_DOMAIN_SENDER_LOGIN))
		return 1;
	if (store_address_normalize(sender, norm, 0) == 0 &&
	    strcmp(norm, s->user) == 0)
		return 1;
	if (deliver_resolve(s->srv->store, &s->srv->deliver, sender, 0,
	    &r) == -1) {
		deliver_rcpt_clear(&r);
		return -1;
	}
	if (r.kind == DELIVER_LOCAL)
		for (i = 0; i < r.ntargets; i++)
			if (r.targets[i].user_id == s->user_id)
				ok = 1;
	deliver_rcpt_clear(&r);
	return ok;
}

/* Commands: AUTH ---------------------------------------------------------- */

void
cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	char mech[32];
	const char *challenge = NULL, *initial;
	enum auth_result res = AUTH_FAIL;
	unsigned secs;
	size_t n;

	if (s->lmtp) {
		session_fail(s, "502 5.5.1 Error: AUTH is not offered over "
		    "LMTP");
		return;
	}
	if (!s->srv->config->svc[s->svc].auth) {
		session_fail(s, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (s->user[0] != '\0') {
		session_fail(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (!auth_allowed(session_tls(s))) {
		session_fail(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism (send STARTTLS first)");
		return;
	}
	if (auth_blocked(s->ip, NULL, &secs) == AUTH_BLOCK_ADDRESS) {
		log_info("conn %lu: auth refused: %s is locked out for %u s",
		    s->id, s->ip, secs);
		conn_printf(s->conn, "421 4.7.0 %s Too many failed logins from "
		    "your address, try again in %u seconds\r\n",
		    s->srv->config->hostname, secs);
		session_close(s);
		return;
	}
	n = strcspn(cmd->args, " ");
	if (n == 0 || n >= sizeof(mech)) {
		session_fail(s, "501 5.5.4 Syntax: AUTH mechanism "
		    "[initial-response]");
		return;
	}
	memcpy(mech, cmd->args, n);
	mech[n] = '\0';
	initial = cmd->args + n;
	while (*initial == ' ')
		initial++;
	if (strchr(initial, ' ') != NULL) {
		session_fail(s, "501 5.5.4 Syntax: AUTH mechanism "
		    "[initial-response]");
		return;
	}
	if (!auth_mech_offered(mech, session_tls(s))) {
		session_fail(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	err_clear();
	s->sasl = auth_start(mech, initial[0] != '\0' ? initial : NULL,
	    session_tls(s), &res, &challenge);
	session_sasl_result(s, res, challenge);
}

void
session_sasl_line(struct smtp_session *s, const char *line, size_t len)
{
	const char *challenge = NULL;
	enum auth_result res;

	err_clear();
	res = auth_step(s->sasl, line, len, &challenge);
	session_sasl_result(s, res, challenge);
}

/* 535 when login is locked out from this address (1), else 0. */
static int
session_user_locked(struct smtp_session *s, const char *login)
{
	unsigned secs;

	if (auth_blocked(s->ip, login, &secs) != AUTH_BLOCK_USER)
		return 0;
	log_info("conn %lu: auth refused: user=%s is locked out from %s for "
	    "%u s", s->id, login, s->ip, secs);
	session_fail(s, "535 5.7.8 Too many failed logins, try again in %u "
	    "seconds", secs);
	return 1;
}

static void
session_sasl_result(struct smtp_session *s, enum auth_result res,
    const char *challenge)
{
	char who[AUTH_LOGIN_MAX + 1];

	switch (res) {
	case AUTH_CONTINUE:
		if (s->state != SMTP_S_SASL)
			session_enter_state(s, SMTP_S_SASL);
		conn_printf(s->conn, "334 %s\r\n",
		    challenge != NULL ? challenge : "");
		return;
	case AUTH_VERIFY:
		if (s->state != SMTP_S_HELO)
			session_enter_state(s, SMTP_S_HELO);
		if (session_user_locked(s, auth_login(s->sasl))) {
			auth_free(&s->sasl);
			return;
		}
		err_clear();
		s->check = auth_verify(s->sasl, session_verdict, s);
		auth_free(&s->sasl);
		if (s->check == NULL) {
			/* Every worker busy and the queue full. */
			log_info("conn %lu: auth not checked: %s", s->id,
			    err_msg());
			conn_printf(s->conn, "454 4.7.0 Temporary "
			    "authentication failure, try again later\r\n");
			return;
		}
		/* Pipelined commands wait for the verdict. */
		conn_pause(s->conn);
		return;
	case AUTH_CANCELLED:
		if (s->state != SMTP_S_HELO)
			session_enter_state(s, SMTP_S_HELO);
		auth_free(&s->sasl);
		session_fail(s, "501 5.7.0 Authentication cancelled");
		return;
	case AUTH_FAIL:
		if (s->state != SMTP_S_HELO)
			session_enter_state(s, SMTP_S_HELO);
		/* Who, when the mechanism got that far. */
		snprintf(who, sizeof(who), "%s", s->sasl != NULL ?
		    auth_login(s->sasl) : "");
		auth_free(&s->sasl);
		/* A malformed response is a protocol error, not a login. */
		if (err_class() == ERR_INVALID || err_class() == ERR_LIMIT) {
			session_fail(s, "501 5.5.2 Invalid authentication response");
			return;
		}
		if (err_class() == ERR_TEMP) {
			session_err_reply(s, "temporary authentication "
			    "failure");
			return;
		}
		session_login_failed(s, who, err_class() != ERR_NONE ?
		    err_msg() : "SASL exchange failed");
		return;
	}
}

/* The verdict of a password check, on the loop. */
static void
session_verdict(const struct auth_verdict *v, void *arg)
{
	struct smtp_session *s = arg;

	s->check = NULL;
	conn_resume(s->conn);
	if (s->closing)
		return;
	if (v->rc == 1) {
		s->user_id = v->user_id;
		s->domain_login = v->user_id == 0;	/* store/user.h */
		session_login_ok(s, v->user);
	} else if (v->rc == 0 && v->disabled)
		session_login_disabled(s, v->login, v->why);
	else if (v->rc == 0)
		session_login_failed(s, v->login, v->why);
	else {
		log_info("conn %lu: auth not checked: %s", s->id, v->why);
		conn_printf(s->conn, "454 4.7.0 Temporary authentication "
		    "failure, try again later\r\n");
	}
}

static void
session_login_ok(struct smtp_session *s, const char *user)
{
	auth_succeeded(s->ip, user);
	snprintf(s->user, sizeof(s->user), "%s", user);
	log_info("conn %lu: auth ok user=%s from %s%s", s->id, s->user,
	    s->ip, session_tls(s) ? " tls" : "");
	conn_printf(s->conn, "235 2.7.0 Authentication successful\r\n");
	conn_authenticated(s->conn);
	s->reg = sessreg_add(s->conn, "smtp", s->user);
}

/*
 * The right password for a disabled account (auth.h: v->disabled): 525
 * 5.7.13 "User Account Disabled" (RFC 5248's registry), with the reason
 * the admin gave; counted and delayed as a failure.
 */
static void
session_login_disabled(struct smtp_session *s, const char *who,
    const char *reason)
{
	char reply[SMTP_DISABLED_REPLY_MAX], text[SMTP_DISABLED_REPLY_MAX];
	unsigned ms;
	size_t i;
	int last;

	log_info("conn %lu: auth refused user=%s from %s: %s", s->id, who,
	    s->ip, reason);
	ms = auth_failed(s->ip, who);
	last = ++s->bad_cmds >= s->srv->config->smtpd_max_bad_commands;
	/* The admin's reason is one line of the reply, whatever it holds. */
	snprintf(text, sizeof(text), "%s", reason);
	for (i = 0; text[i] != '\0'; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	snprintf(reply, sizeof(reply), "525 5.7.13 %c%s\r\n%s",
	    toupper((unsigned char)text[0]), text + (text[0] != '\0'),
	    last ? "421 4.7.0 Error: too many errors, closing "
	    "connection\r\n" : "");
	session_reply_later(s, ms, reply, last);
}

/* Counted per IP and towards max_bad_commands; answered late. */
static void
session_login_failed(struct smtp_session *s, const char *who,
    const char *reason)
{
	unsigned ms;
	int last;

	log_info("conn %lu: auth failed user=%s from %s: %s", s->id,
	    who[0] != '\0' ? who : "(none given)", s->ip, reason);
	ms = auth_failed(s->ip, who);
	last = ++s->bad_cmds >= s->srv->config->smtpd_max_bad_commands;
	session_reply_later(s, ms, last ? "535 5.7.8 Authentication "
	    "credentials invalid\r\n421 4.7.0 Error: too many errors, "
	    "closing connection\r\n" : "535 5.7.8 Authentication "
	    "credentials invalid\r\n", last);
}

/* Sends reply after ms (conn paused meanwhile), then closes if asked. */
static void
session_reply_later(struct smtp_session *s, unsigned ms, const char *reply,
    int close_after)
{
	if (conn_delay_reply(&s->delay, s->conn, ms, reply, close_after,
	    session_delay_done, s) == -1)
		fatalx("smtp: evtimer_new failed");
}

static void
session_delay_done(void *arg, int close_after)
{
	struct smtp_session *s = arg;

	if (close_after)
		session_close(s);
}

/*
 * MAIL of a logged-in client: its outgoing policy (store/policy.h) is
 * read again (a lock may have come since the last message) and the
 * sender checked against its FROM rules.  1 go on, 0 refused (replied).
 * Unknown recipients given and not yet counted are kept.
 */
int
session_policy_mail(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;
	unsigned invalid = s->policy.invalid;
	char dom[STORE_DOMAIN_MAX + 1];
	const char *at;
	int rc;

	/*
	 * Who sends: a login (a user or a domain), or a client of
	 * [smtpd] trusted_networks sending without one (by its address,
	 * with the defaults of the sender's domain).
	 */
	s->policed = 0;
	if (s->lmtp)
		return 1;
	if (s->user[0] != '\0')
		rc = deliver_policy_load(s->srv->store, s->domain_login ?
		    DELIVER_SENDER_DOMAIN : DELIVER_SENDER_USER, s->user_id,
		    s->user, NULL, &s->policy);
	else if (config_net_match(cf->smtpd_trusted, cf->smtpd_ntrusted,
	    s->ip)) {
		dom[0] = '\0';
		if ((at = strrchr(s->mail.addr, '@')) != NULL &&
		    store_domain_normalize(at + 1, dom) == -1)
			dom[0] = '\0';
		rc = deliver_policy_load(s->srv->store, DELIVER_SENDER_HOST, 0,
		    s->ip, dom, &s->policy);
	} else
		return 1;
	s->policed = 1;
	s->policy.invalid = invalid;
	if (rc == 1)
		rc = deliver_policy_sender(s->srv->store, &s->srv->deliver,
		    &s->policy, s->mail.addr);
	if (rc == -1) {
		session_err_reply(s, "cannot read the sending policy");
		return 0;
	}
	if (rc == 0) {
		log_info("conn %lu: policy: %s: %d %s", s->id,
		    s->policy.login, s->policy.code, s->policy.text);
		session_fail(s, "%d %s", s->policy.code, s->policy.text);
		return 0;
	}
	return 1;
}

/* End of data: the From: rule of the policy.  1 go on, 0 refused. */
int
session_policy_ok(struct smtp_session *s)
{
	if (!s->policed)
		return 1;
	if (deliver_policy_header(&s->policy, s->mdata + s->hdrlen,
	    s->mlen - s->hdrlen))
		return 1;
	log_info("conn %lu: policy: %s: %d %s", s->id, s->policy.login,
	    s->policy.code, s->policy.text);
	session_tx_fail(s, "%d %s", s->policy.code, s->policy.text);
	return 0;
}
