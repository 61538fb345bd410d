/*
 * disclaimer.c - the disclaimer rules (store/disclaimer.h) applied to a
 * job whose caller asked for the client rules (deliver_job.bcc: mail
 * accepted by smtpd on every listener, LMTP and sendmail; never what the
 * server makes itself).
 *
 * deliver_begin() calls deliver_disclaimer_plan() after the BCC rules:
 * one read snapshot lists the rules in name order and keeps the first
 * that matches (its texts are copied: the snapshot ends).  The rewrite
 * itself is CPU work as long as the message, so it does not run on the
 * loop: deliver_begin() then says there is work to do and the caller runs
 * deliver_filter_job() on its filter thread, which calls
 * deliver_disclaimer_apply() before the filters (they, spamc included,
 * see what the recipients will get).  The message changes once for every
 * recipient, local copies, lists and BCC copies too; the outbound agent
 * signs (DKIM) what it sends later, so the signature covers it.
 *
 * The job's bytes are its caller's (smtpd's may be an mmapped spool
 * file): the new message is a buffer of the stage's, job->data points at
 * it while the job is begun, and deliver_disclaimer_restore() (the stage
 * is freed, on the loop) gives the caller its own bytes back, frees the
 * copy and logs what was done.
 *
 * A rule matches when the envelope sender matches its sender pattern and
 * none of its sender exceptions, at least one of the client's recipients
 * (not the BCC copies) matches its recipient pattern and none of its
 * recipient exceptions, and, with not_all_local, at least one of the
 * client's recipients is not delivered here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mail/disclaim.h"
#include "private.h"
#include "store/disclaimer.h"
#include "store/queue.h"
#include "store/store.h"

struct disc_look {
	const struct deliver_job	*job;
	size_t				 nrcpts;	/* the client's */
	struct deliver_fjob		*fj;
	int				 found;
};

static int	disc_matches(const struct disc_look *,
		    const struct store_disclaimer *);
static int	disc_one(const struct store_disclaimer *, void *);
static int	disc_txn(struct store_txn *, void *);
static int	disc_excepted(const store_disclaimer_pat *, size_t,
		    const char *);

static int
disc_excepted(const store_disclaimer_pat *v, size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (store_disclaimer_match(v[i], addr))
			return 1;
	return 0;
}

static int
disc_matches(const struct disc_look *l, const struct store_disclaimer *d)
{
	const struct deliver_job *job = l->job;
	const char *sender = job->sender != NULL ? job->sender : "";
	size_t i;
	int rcpt = 0, remote = 0;

	if (!store_disclaimer_match(d->sender, sender) ||
	    disc_excepted(d->except_sender, d->nexcept_sender, sender))
		return 0;
	for (i = 0; i < l->nrcpts; i++) {
		const struct deliver_rcpt *r = &job->rcpts[i];

		if (!deliver_rcpt_wanted(r) || r->bcc)
			continue;
		if (r->kind != DELIVER_LOCAL)
			remote = 1;
		if (store_disclaimer_match(d->recipient, r->addr) &&
		    !disc_excepted(d->except_recipient, d->nexcept_recipient,
		    r->addr))
			rcpt = 1;
	}
	return rcpt && (!d->not_all_local || remote);
}

static int
disc_one(const struct store_disclaimer *d, void *ctx)
{
	struct disc_look *l = ctx;
	struct deliver_fjob *fj = l->fj;

	if (!disc_matches(l, d))
		return 0;
	snprintf(fj->disc_name, sizeof(fj->disc_name), "%s", d->name);
	fj->disc_text = xmemdup(d->text, d->textlen + 1);
	fj->disc_textlen = d->textlen;
	if (d->html != NULL) {
		fj->disc_html = xmemdup(d->html, d->htmllen + 1);
		fj->disc_htmllen = d->htmllen;
	}
	l->found = 1;
	return -1;	/* the first in name order: stop */
}

static int
disc_txn(struct store_txn *t, void *ctx)
{
	struct disc_look *l = ctx;
	struct deliver_fjob *fj = l->fj;

	/* store_read() may run it again */
	free(fj->disc_text);
	free(fj->disc_html);
	fj->disc_text = fj->disc_html = NULL;
	l->found = 0;
	if (store_disclaimer_list(t, disc_one, l) == -1 && !l->found)
		return -1;
	return 0;
}

int
deliver_disclaimer_plan(struct store *st, struct deliver_job *job,
    struct deliver_fjob *fj)
{
	struct disc_look l;
	size_t i, wanted = 0;

	if (!job->bcc || job->no_filter || job->len == 0)
		return 0;
	memset(&l, 0, sizeof(l));
	l.job = job;
	l.fj = fj;
	l.nrcpts = fj->orcpts != NULL ? fj->norcpts : job->nrcpts;
	for (i = 0; i < l.nrcpts; i++)
		wanted += deliver_rcpt_wanted(&job->rcpts[i]) != 0;
	if (wanted == 0)
		return 0;
	if (store_read(st, disc_txn, &l) == -1)
		return -1;
	if (!l.found)
		return 0;
	fj->disc_pending = 1;
	return 1;
}

void
deliver_disclaimer_apply(struct deliver_job *job, struct deliver_fjob *fj)
{
	struct disclaim_text t;
	char *out;
	size_t outlen;

	if (!fj->disc_pending)
		return;
	fj->disc_pending = 0;
	memset(&t, 0, sizeof(t));
	t.plain = fj->disc_text;
	t.plainlen = fj->disc_textlen;
	t.html = fj->disc_html;
	t.htmllen = fj->disc_htmllen;
	if (disclaim_apply(job->data, job->len, &t, &out, &outlen,
	    fj->disc_why) != 1)
		return;
	fj->disc_odata = job->data;
	fj->disc_olen = job->len;
	fj->disc_data = out;
	job->data = out;
	job->len = outlen;
}

void
deliver_disclaimer_restore(struct deliver_job *job, struct deliver_fjob *fj)
{
	char id[STORE_QUEUE_ID_LEN + 1];

	if (fj->disc_name[0] != '\0' && !fj->disc_pending) {
		if (job->queue_id != 0)
			store_queue_id_format(job->queue_id, id);
		else
			snprintf(id, sizeof(id), "-");
		if (fj->disc_data != NULL)
			log_info("%s: disclaimer %s added (%zu -> %zu bytes)",
			    id, fj->disc_name, fj->disc_olen, job->len);
		else
			log_info("%s: disclaimer %s not added: %s", id,
			    fj->disc_name, fj->disc_why);
	}
	if (fj->disc_data != NULL) {
		job->data = fj->disc_odata;
		job->len = fj->disc_olen;
		free(fj->disc_data);
		fj->disc_data = NULL;
	}
	free(fj->disc_text);
	free(fj->disc_html);
	fj->disc_text = fj->disc_html = NULL;
	fj->disc_name[0] = '\0';
}
