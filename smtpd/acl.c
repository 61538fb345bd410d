/*
 * acl.c - the inbound black and white lists (store/acl.h) in the SMTP
 * dialogue, each decided as early as it can be, each decision one log
 * line:
 *   connect  the client's address (ip, net): black reject is the 554
 *            greeting (RFC 5321 3.1; then QUIT gets 221, anything else
 *            503); black discard lets the client go on as anyone (its
 *            recipients still resolved: unknown ones get 550) and drops
 *            every message it sends; white skips checks
 *   MAIL     the sender (sender, domain): reject 554, or discard (the
 *            message is accepted and dropped at its end); white skips
 *   RCPT     each recipient: reject 554, or discard (that recipient is
 *            answered 250 and left out); white skips
 *
 * Only on [smtp] (port 25): never over LMTP (the MTA in front decided),
 * never for a client of [smtpd] trusted_networks, and the sender and
 * recipient lists never for an authenticated session (a client refused
 * at the greeting cannot authenticate: its users have submission).
 *
 * White beats black for the same client: a white ip or net is not
 * checked against the sender, domain or recipient lists (the address of
 * a TCP peer cannot be forged, an envelope can).  Between sender and
 * domain entries the most specific decides (store/acl.h), so a white
 * address in a black domain passes.  A white sender does not lift a
 * recipient's black entry.
 *
 * Skips (ACL_SKIP_*): the client's white entry gives the connection's,
 * the sender's the transaction's; a recipient's white entry counts for
 * the message only when every accepted recipient has one, so that mail
 * to a whitelisted and a plain recipient is checked for the plain one's
 * sake: the message's mask (job.acl_skip, for the checks to come) is
 * client | sender | AND(recipients).  The content checks of deliver/
 * (the virus scan: ACL_SKIP_AV) read it with job.inbound, set here too:
 * they apply to the sessions these lists apply to.
 *
 * Lookups are store reads of a few exact keys (RCPT resolution reads
 * more): done on the loop, no write transaction.  A store error is a
 * temporary refusal (4xx), never a silent pass.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "store/acl.h"
#include "store/store.h"
#include "smtpd/sessionpriv.h"

enum acl_what { ACL_CLIENT, ACL_SENDER, ACL_RECIPIENT };

struct acl_look {
	enum acl_what		 what;
	const char		*key;
	struct store_acl	 e;
};

static int	acl_look_txn(struct store_txn *, void *);
static int	acl_look(struct smtp_session *, enum acl_what, const char *,
		    struct store_acl *);
static void	acl_by(const struct store_acl *, char *, size_t);
static void	acl_reply(const struct store_acl *, const char *key,
		    const char *what, char *, size_t);

int
session_acl_applies(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;

	if (s->lmtp || s->svc != SVC_SMTP)
		return 0;
	return !config_net_match(cf->smtpd_trusted, cf->smtpd_ntrusted,
	    s->ip);
}

int
session_port25_untrusted(struct smtp_session *s)
{
	return s->user[0] == '\0' && session_acl_applies(s);
}

static int
acl_look_txn(struct store_txn *t, void *arg)
{
	struct acl_look *l = arg;

	switch (l->what) {
	case ACL_CLIENT:
		return store_acl_client(t, l->key, &l->e);
	case ACL_SENDER:
		return store_acl_sender(t, l->key, &l->e);
	case ACL_RECIPIENT:
		return store_acl_recipient(t, l->key, &l->e);
	}
	return 0;
}

/* 1 an entry decides (in e), 0 none, -1 store error. */
static int
acl_look(struct smtp_session *s, enum acl_what what, const char *key,
    struct store_acl *e)
{
	struct acl_look l;
	int rc;

	memset(&l, 0, sizeof(l));
	l.what = what;
	l.key = key;
	rc = store_read(s->srv->store, acl_look_txn, &l);
	*e = l.e;
	return rc;
}

/* "net 192.0.2.0/24" for the log. */
static void
acl_by(const struct store_acl *e, char *buf, size_t size)
{
	snprintf(buf, size, "%s %s", store_acl_kind_name(e->kind), e->value);
}

/* Postfix's reply: "554 5.7.1 <key>: WHAT rejected: TEXT". */
static void
acl_reply(const struct store_acl *e, const char *key, const char *what,
    char *buf, size_t size)
{
	snprintf(buf, size, "%u 5.7.1 <%s>: %s rejected: %s", e->code != 0 ?
	    e->code : 554, key, what, e->text[0] != '\0' ? e->text :
	    "blacklisted");
}

int
session_acl_connect(struct smtp_session *s)
{
	struct store_acl e;
	char skips[64], reply[SMTP_REPLY_MAX];
	int rc;

	if (!session_acl_applies(s))
		return 0;
	if ((rc = acl_look(s, ACL_CLIENT, s->ip, &e)) == 0)
		return 0;
	if (rc == -1) {
		log_warnx("conn %lu: acl: cannot read the black/white lists "
		    "for %s: %s", s->id, s->ip, err_msg());
		conn_printf(s->conn, "421 4.3.0 %s Error: cannot read the "
		    "access lists, try again later\r\n",
		    s->srv->config->hostname);
		session_close(s);
		return 1;
	}
	acl_by(&e, s->acl.by, sizeof(s->acl.by));
	if (e.list == STORE_ACL_WHITE) {
		s->acl.white = 1;
		s->acl.skip = store_acl_skips(e.kind);
		store_acl_skip_names(s->acl.skip, skips, sizeof(skips));
		log_info("conn %lu: acl: client %s whitelisted by %s: skips "
		    "%s", s->id, s->ip, s->acl.by, skips);
		return 0;
	}
	if (e.action == STORE_ACL_DISCARD) {
		s->acl.discard = 1;
		log_info("conn %lu: acl: client %s black by %s: its messages "
		    "are accepted and discarded%s%s", s->id, s->ip, s->acl.by,
		    e.text[0] != '\0' ? ": " : "", e.text);
		return 0;
	}
	s->acl.blocked = 1;
	acl_reply(&e, s->ip, "Client host", reply, sizeof(reply));
	log_info("conn %lu: acl: client %s rejected by %s: %s", s->id, s->ip,
	    s->acl.by, reply);
	conn_printf(s->conn, "%s\r\n", reply);
	return 1;
}

void
session_acl_refused(struct smtp_session *s, const char *verb)
{
	if (strcmp(verb, "QUIT") == 0) {
		conn_printf(s->conn, "221 2.0.0 Bye\r\n");
		session_close(s);
		return;
	}
	session_fail(s, "503 5.5.1 Error: access denied for %s (send QUIT)",
	    s->ip);
}

int
session_acl_mail(struct smtp_session *s)
{
	struct store_acl e;
	char skips[64], reply[SMTP_REPLY_MAX];
	const char *addr = s->mail.addr;
	int rc;

	memset(&s->acl_tx, 0, sizeof(s->acl_tx));
	if (!session_acl_applies(s) || s->user[0] != '\0' ||
	    s->acl.white)
		return 1;
	if ((rc = acl_look(s, ACL_SENDER, addr, &e)) == 0)
		return 1;
	if (rc == -1) {
		session_err_reply(s, "cannot read the access lists");
		return 0;
	}
	acl_by(&e, s->acl_tx.by, sizeof(s->acl_tx.by));
	if (e.list == STORE_ACL_WHITE) {
		s->acl_tx.skip = store_acl_skips(e.kind);
		store_acl_skip_names(s->acl_tx.skip, skips, sizeof(skips));
		log_info("conn %lu: acl: sender <%s> whitelisted by %s: skips "
		    "%s", s->id, addr, s->acl_tx.by, skips);
		return 1;
	}
	if (e.action == STORE_ACL_DISCARD) {
		s->acl_tx.discard = 1;
		log_info("conn %lu: acl: sender <%s> black by %s: the message "
		    "will be accepted and discarded%s%s", s->id, addr,
		    s->acl_tx.by, e.text[0] != '\0' ? ": " : "", e.text);
		return 1;
	}
	acl_reply(&e, addr, "Sender address", reply, sizeof(reply));
	log_info("conn %lu: acl: sender <%s> rejected by %s", s->id, addr,
	    s->acl_tx.by);
	session_fail(s, "%s", reply);
	return 0;
}

int
session_acl_rcpt(struct smtp_session *s, const char *addr)
{
	struct store_acl e;
	char by[STORE_ADDRESS_MAX + 16], skips[64], reply[SMTP_REPLY_MAX];
	int rc;

	s->acl_tx.pending = 0;
	/* <Postmaster> (addr NULL) is never refused: RFC 5321 4.5.1 */
	if (addr == NULL || !session_acl_applies(s) ||
	    s->user[0] != '\0' || s->acl.white)
		return 1;
	if ((rc = acl_look(s, ACL_RECIPIENT, addr, &e)) == 0)
		return 1;
	if (rc == -1) {
		session_err_reply(s, "cannot read the access lists");
		return 0;
	}
	acl_by(&e, by, sizeof(by));
	if (e.list == STORE_ACL_WHITE) {
		s->acl_tx.pending = store_acl_skips(e.kind);
		store_acl_skip_names(s->acl_tx.pending, skips, sizeof(skips));
		log_info("conn %lu: acl: recipient <%s> whitelisted by %s: "
		    "skips %s (when every recipient does)", s->id, addr, by,
		    skips);
		return 1;
	}
	if (e.action == STORE_ACL_DISCARD) {
		log_info("conn %lu: acl: recipient <%s> discarded by %s%s%s",
		    s->id, addr, by, e.text[0] != '\0' ? ": " : "", e.text);
		s->acl_tx.dropped++;
		if (s->state != SMTP_S_RCPT)
			session_enter_state(s, SMTP_S_RCPT);
		conn_printf(s->conn, "250 2.1.5 Ok\r\n");
		return 0;
	}
	acl_reply(&e, addr, "Recipient address", reply, sizeof(reply));
	log_info("conn %lu: acl: recipient <%s> rejected by %s", s->id, addr,
	    by);
	session_fail(s, "%s", reply);
	return 0;
}

void
session_acl_rcpt_kept(struct smtp_session *s)
{
	if (s->acl_tx.accepted++ == 0)
		s->acl_tx.rcpt_skip = s->acl_tx.pending;
	else
		s->acl_tx.rcpt_skip &= s->acl_tx.pending;
	s->acl_tx.pending = 0;
}

int
session_acl_data(struct smtp_session *s)
{
	const char *by = NULL;
	char skips[64];
	uint64_t size = s->data.size > s->bdat_size ? s->data.size :
	    s->bdat_size;

	if (s->acl.discard && s->user[0] == '\0')
		by = s->acl.by;
	else if (s->acl_tx.discard)
		by = s->acl_tx.by;
	else if (s->nrcpts == 0 && s->acl_tx.dropped > 0)
		by = "recipients";
	if (by != NULL) {
		/* Nothing is stored, so there is nothing to wait for. */
		log_info("conn %lu: message id=%s from=<%s> size=%" PRIu64
		    " rcpts=%zu discarded by %s", s->id, s->txid, s->sender,
		    size, s->nrcpts + s->acl_tx.dropped, by);
		conn_printf(s->conn, "250 2.0.0 Ok: queued as %s\r\n",
		    s->txid);
		s->n_msgs++;
		s->junk = 0;
		session_end_tx(s);
		return 1;
	}
	s->job.acl_skip = s->acl.skip | s->acl_tx.skip |
	    (s->acl_tx.accepted > 0 ? s->acl_tx.rcpt_skip : 0);
	/* the inbound content checks (the virus scan) watch the same
	   clients as the port 25 checks above */
	s->job.inbound = session_port25_untrusted(s);
	s->job.client = s->ip;
	s->job.helo = s->helo;
	if (s->job.acl_skip != 0) {
		store_acl_skip_names(s->job.acl_skip, skips, sizeof(skips));
		log_info("conn %lu: message id=%s whitelisted: skips %s", s->id,
		    s->txid, skips);
	}
	return 0;
}
