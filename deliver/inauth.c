/*
 * inauth.c - SPF, DKIM and DMARC of inbound mail (private.h; [mailauth]
 * in vellum.conf(5)), made by mailauth.c with the libraries.
 *
 * Which mail: what an untrusted client sends on port 25 (job->inbound,
 * as for the virus scan), each check unless the message's whitelist
 * entries skip it (job->acl_skip: ACL_SKIP_SPF, _DKIM, _DMARC; a white
 * ip, net or domain skips DKIM and DMARC, a white ip, net, sender,
 * domain or recipient SPF).  Mail from our own users and hosts is not
 * checked: they are who the records are about.
 *
 * Where: on the filter thread (deliver_filter_job()), with the virus
 * scan, before the disclaimer and the filters: DKIM must see the bytes
 * the client sent.  The DNS goes through a libunbound context of the
 * thread's own, set up from [dns] like every resolver of the server
 * (common/dns.h), under one deadline for the message ([mailauth]
 * timeout): a DNS server that does not answer makes a temperror, never a
 * refusal and never a stalled thread.
 *
 * What comes of it:
 *   - one Authentication-Results field (RFC 8601) with our hostname as
 *     authserv-id in each local copy's prefix (deliver.c, as the virus
 *     scan's headers: no copy of the message); fields of that id already
 *     in the message are taken out first (RFC 8601 5: else a sender
 *     could claim our "pass");
 *   - SPF fail: spf_fail = tag (default: only the field says so),
 *     quarantine (delivered into the Spam folder) or reject (550 5.7.23,
 *     RFC 7372); softfail, neutral and errors are only tagged;
 *   - DMARC fail: what the domain's policy asks, as the admin chose:
 *     p=reject by dmarc_reject = reject (550 5.7.1), quarantine or tag;
 *     p=quarantine by dmarc_quarantine = quarantine or tag; p=none only
 *     tags.  A temperror is never a refusal: the message is accepted and
 *     the field says temperror.
 * Every checked message gets one log line with the results and what was
 * done.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "common/config.h"
#include "common/dns.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mail/authres.h"
#include "store/acl.h"
#include "store/queue.h"
#include "mailauth.h"
#include "private.h"

/* The thread's resolver context: filter threads live as long as the
   process, and so does this (libunbound's cache with it). */
static __thread struct ub_ctx *inauth_ub;
static __thread int inauth_ub_failed;

/* The libraries, set up once by the first check (the public suffix list
   costs a read: not for processes that never check, as sendmail). */
static pthread_once_t inauth_once = PTHREAD_ONCE_INIT;
static int inauth_lib_ok;

static void
inauth_init(void)
{
	if (mailauth_init(NULL) == -1)
		log_warnx("mailauth: %s; SPF, DKIM and DMARC are not checked",
		    err_msg());
	else
		inauth_lib_ok = 1;
}

static unsigned
inauth_checks(const struct deliver_config *cf, const struct deliver_job *job,
    int *spf, int *dkim, int *dmarc)
{
	*spf = cf->ma_spf && (job->acl_skip & ACL_SKIP_SPF) == 0;
	*dkim = cf->ma_dkim && (job->acl_skip & ACL_SKIP_DKIM) == 0;
	*dmarc = cf->ma_dmarc && (job->acl_skip & ACL_SKIP_DMARC) == 0;
	return *spf || *dkim || *dmarc;
}

int
inauth_wanted(const struct deliver_config *cf, const struct deliver_job *job)
{
	int spf, dkim, dmarc;

	return cf != NULL && cf->dns != NULL && job->inbound &&
	    !job->no_filter && inauth_checks(cf, job, &spf, &dkim, &dmarc);
}

/* The field with the message's own line ends (mailauth's are CRLF). */
static void
inauth_header(const struct deliver_job *job, const char *hdr, char *out,
    size_t size)
{
	const char *eol = deliver_msg_eol(job->data, job->len);
	size_t n = 0;

	for (; *hdr != '\0' && n + 2 < size; hdr++) {
		if (hdr[0] == '\r' && hdr[1] == '\n' && eol[0] == '\n')
			continue;
		out[n++] = *hdr;
	}
	out[n] = '\0';
}

/* What the results ask for: CONFIG_MA_* and why, for the reply. */
static int
inauth_action(const struct deliver_config *cf, const struct mailauth_out *o,
    char *why, size_t size)
{
	int a = CONFIG_MA_TAG, b = CONFIG_MA_TAG;

	why[0] = '\0';
	if (o->policy == MAILAUTH_P_REJECT)
		a = cf->ma_dmarc_reject;
	else if (o->policy == MAILAUTH_P_QUARANTINE)
		a = cf->ma_dmarc_quarantine;
	if (a != CONFIG_MA_TAG)
		snprintf(why, size, "DMARC policy of %s", o->from_domain);
	if (o->spf == MAILAUTH_FAIL)
		b = cf->ma_spf_fail;
	if (b > a) {
		snprintf(why, size, "SPF of %s", o->spf_domain);
		a = b;
	}
	return a;
}

void
inauth_check(const struct deliver_config *cf, struct deliver_job *job,
    struct deliver_fjob *fj)
{
	static const char *done[] = { "tagged", "quarantined", "refused" };
	struct mailauth_in in;
	struct mailauth_out *o;
	char id[STORE_QUEUE_ID_LEN + 1], why[300], dk[200];
	const char *client = job->client != NULL ? job->client : "unknown";
	size_t i, n;
	int spf, dkim, dmarc, action, removed;

	fj->auth_note[0] = fj->auth_header[0] = '\0';
	if (!inauth_wanted(cf, job))
		return;
	inauth_checks(cf, job, &spf, &dkim, &dmarc);
	store_queue_id_format(job->queue_id, id);
	pthread_once(&inauth_once, inauth_init);
	if (inauth_ub == NULL && !inauth_ub_failed &&
	    dns_ub_new(cf->dns, &inauth_ub) == -1) {
		inauth_ub_failed = 1;
		log_warnx("mailauth: no resolver for SPF, DKIM and DMARC: %s",
		    err_msg());
	}
	if (inauth_ub == NULL || !inauth_lib_ok) {
		snprintf(fj->auth_note, sizeof(fj->auth_note), "%s: mailauth: "
		    "message from <%s> client [%s] not checked: %s", id,
		    job->sender, client, !inauth_lib_ok ? "the libraries did "
		    "not start" : "no resolver");
		return;
	}
	/* Forged fields in our name go before anything reads the message. */
	removed = deliver_strip(job, fj, authres_is_ours, (void *)(uintptr_t)
	    cf->hostname);
	memset(&in, 0, sizeof(in));
	in.authserv_id = cf->hostname;
	in.ip = client;
	in.helo = job->helo != NULL ? job->helo : "";
	in.sender = job->sender;
	in.msg = job->data;
	in.len = job->len;
	in.spf = spf;
	in.dkim = dkim;
	in.dmarc = dmarc;
	in.timeout_ms = (int)cf->ma_timeout_ms;
	o = xmalloc(sizeof(*o));
	if (mailauth_check(inauth_ub, &in, o) == -1) {
		snprintf(fj->auth_note, sizeof(fj->auth_note), "%s: mailauth: "
		    "message from <%s> client [%s] not checked: %s", id,
		    job->sender, client, err_msg());
		free(o);
		return;
	}
	inauth_header(job, o->header, fj->auth_header,
	    sizeof(fj->auth_header));
	action = inauth_action(cf, o, why, sizeof(why));
	if (action == CONFIG_MA_REJECT) {
		fj->refuse_code = 550;
		if (o->spf == MAILAUTH_FAIL && cf->ma_spf_fail ==
		    CONFIG_MA_REJECT && strncmp(why, "SPF", 3) == 0)
			snprintf(fj->refuse_text, sizeof(fj->refuse_text),
			    "5.7.23 Message refused: SPF of %.120s does not "
			    "allow [%.60s] to send its mail", o->spf_domain,
			    client);
		else
			snprintf(fj->refuse_text, sizeof(fj->refuse_text),
			    "5.7.1 Message refused: the DMARC policy of "
			    "%.120s rejects mail that fails authentication",
			    o->from_domain);
	} else if (action == CONFIG_MA_QUARANTINE)
		fj->quarantine = 1;
	for (i = 0, n = 0, dk[0] = '\0'; i < o->ndkim && n < sizeof(dk);
	    i++)
		n += (size_t)snprintf(dk + n, sizeof(dk) - n, "%s%s(%s)",
		    i > 0 ? "," : "", mailauth_res_name(o->dkim[i].res),
		    o->dkim[i].domain);
	snprintf(fj->auth_note, sizeof(fj->auth_note), "%s: mailauth: "
	    "message from <%s> client [%s]: spf=%s dkim=%s dmarc=%s%s%s%s; "
	    "%s%s%s%s", id, job->sender, client,
	    spf || dmarc ? mailauth_res_name(o->spf) : "-",
	    !dkim && !dmarc ? "-" : o->ndkim == 0 ? "none" : dk,
	    dmarc ? mailauth_res_name(o->dmarc) : "-",
	    o->policy == MAILAUTH_P_REJECT ? " (p=reject)" :
	    o->policy == MAILAUTH_P_QUARANTINE ? " (p=quarantine)" : "",
	    removed > 0 ? "; " : "", removed > 0 ? "forged "
	    "Authentication-Results removed" : "", done[action],
	    action != CONFIG_MA_TAG ? " (" : "", action != CONFIG_MA_TAG ?
	    why : "", action != CONFIG_MA_TAG ? ")" : "");
	free(o);
}
