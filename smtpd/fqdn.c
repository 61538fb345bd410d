/*
 * fqdn.c - the syntactic name policies of port 25 (issue 15, Postfix's
 * reject_non_fqdn_helo_hostname and reject_non_fqdn_sender):
 *   HELO/EHLO  [smtpd] reject_non_fqdn_helo: a name that is not a
 *              fully-qualified domain name nor an address literal gets
 *              504 5.5.2; the session stays open for a better HELO/EHLO,
 *              and MAIL needs one first (503), else leaving HELO out
 *              would get round the check.
 *   MAIL       [smtpd] reject_non_fqdn_sender: a sender without a domain
 *              or with one that is not fully qualified gets 504 5.5.2;
 *              the null sender <> always passes.
 *
 * Only where the lists apply (acl.c: [smtp], not LMTP, not trusted) and
 * not after a login.  A whitelisted client is checked too: no ACL_SKIP_*
 * bit covers these (store/acl.h).  Whether the names resolve is
 * dnscheck.c's (reject_unknown_helo_hostname, which also makes MAIL
 * wait for a HELO/EHLO).  session_fail() logs each refusal with the
 * client's address.
 */
#include <string.h>

#include "common/config.h"
#include "smtpd/parse.h"
#include "smtpd/sessionpriv.h"

static int	fqdn_applies(struct smtp_session *, int on);

static int
fqdn_applies(struct smtp_session *s, int on)
{
	return on && session_port25_untrusted(s);
}

int
session_fqdn_helo(struct smtp_session *s, const char *name, size_t len)
{
	char shown[SMTP_DOMAIN_MAX + 1];
	size_t i;

	if (!fqdn_applies(s, s->srv->config->smtpd_reject_non_fqdn_helo) ||
	    smtp_fqdn(name, len))
		return 1;
	/* Echoed in the reply and the log: printable, cut short. */
	for (i = 0; i < len && i < sizeof(shown) - 1; i++)
		shown[i] = name[i] > ' ' && name[i] < 127 ? name[i] : '?';
	shown[i] = '\0';
	session_fail(s, "504 5.5.2 <%s>: Helo command rejected: need "
	    "fully-qualified hostname", shown);
	return 0;
}

int
session_fqdn_mail(struct smtp_session *s)
{
	const struct config *cf = s->srv->config;
	const struct smtp_path_args *m = &s->mail;
	const char *at;

	/* leaving HELO out must not get round either HELO check */
	if (fqdn_applies(s, cf->smtpd_reject_non_fqdn_helo ||
	    cf->smtpd_reject_unknown_helo) && s->helo[0] == '\0') {
		session_fail(s, "503 5.5.1 Error: send HELO/EHLO first");
		return 0;
	}
	if (!fqdn_applies(s, cf->smtpd_reject_non_fqdn_sender))
		return 1;
	if (m->perr == SMTP_PERR_NONE) {
		if (m->addr[0] == '\0')
			return 1;	/* <>: bounces must get through */
		/* the domain has no '@' (a quoted local part may) */
		if ((at = strrchr(m->addr, '@')) != NULL &&
		    smtp_fqdn(at + 1, strlen(at + 1)))
			return 1;
	} else if (m->perr != SMTP_PERR_DOMAIN)
		return 1;	/* a syntax error: the caller's 501 */
	session_fail(s, "504 5.5.2 <%s>: Sender address rejected: need "
	    "fully-qualified address", m->addr);
	return 0;
}
