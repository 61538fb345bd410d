/*
 * bcc.c - automatic BCC rules (store/bcc.h) applied to a job whose
 * caller asked for them (deliver_job.bcc: mail accepted by smtpd on every
 * listener, LMTP and sendmail; never what the server makes itself).
 *
 * deliver_begin() calls deliver_bcc_expand() first: the sender's rule
 * (not for <>), each wanted recipient's rule and the "all" rule are read
 * in one read snapshot; each distinct target that is not already a
 * recipient is resolved like any recipient (a local mailbox, an alias, a
 * list, or queued when its domain is not ours) and added with NOTIFY=NEVER
 * (as Postfix does: the sender hears nothing about a copy it did not
 * ask for).  A target that does not resolve is logged and skipped.
 *
 * The caller's recipient array is not the caller's to grow (smtpd answers
 * LMTP per recipient it has): the job gets a new array, the caller's
 * recipients first, the BCC ones after, for as long as it is begun;
 * deliver_bcc_restore() (when its stage is freed) copies the caller's
 * recipients back, with their replies, and frees the rest.  A BCC copy is
 * only made from the recipients the client gave, so it never makes
 * another one (no rule chains, no loops).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "private.h"
#include "store/bcc.h"
#include "store/queue.h"
#include "store/store.h"

/* One message's lookups: at most one target per recipient, + 2. */
struct bcc_look {
	const struct deliver_job	*job;
	char				(*targets)[STORE_ADDRESS_MAX + 1];
	char				(*why)[STORE_ADDRESS_MAX + 16];
	size_t				 n;
};

static int	bcc_lookup_txn(struct store_txn *, void *);
static void	bcc_add(struct bcc_look *, const struct store_bcc *);
static int	bcc_is_rcpt(const struct deliver_job *, size_t n,
		    const char *addr);

static int
bcc_is_rcpt(const struct deliver_job *job, size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(job->rcpts[i].addr, addr) == 0)
			return 1;
	return 0;
}

/* A rule's target, once, unless it is a recipient already. */
static void
bcc_add(struct bcc_look *l, const struct store_bcc *b)
{
	size_t i;

	if (bcc_is_rcpt(l->job, l->job->nrcpts, b->target))
		return;
	for (i = 0; i < l->n; i++)
		if (strcmp(l->targets[i], b->target) == 0)
			return;
	snprintf(l->targets[l->n], sizeof(l->targets[0]), "%s", b->target);
	snprintf(l->why[l->n], sizeof(l->why[0]), "%s%s%s",
	    store_bcc_kind_name(b->kind), b->key[0] != '\0' ? " " : "",
	    b->key);
	l->n++;
}

static int
bcc_lookup_txn(struct store_txn *t, void *ctx)
{
	struct bcc_look *l = ctx;
	const struct deliver_job *job = l->job;
	struct store_bcc b;
	size_t i;
	int rc;

	l->n = 0;	/* store_read() may run it again */
	if (job->sender != NULL && job->sender[0] != '\0') {
		if ((rc = store_bcc_lookup(t, STORE_BCC_SENDER, job->sender,
		    &b)) == -1)
			return -1;
		if (rc == 1)
			bcc_add(l, &b);
	}
	for (i = 0; i < job->nrcpts; i++) {
		if (!deliver_rcpt_wanted(&job->rcpts[i]))
			continue;
		if ((rc = store_bcc_lookup(t, STORE_BCC_RECIPIENT,
		    job->rcpts[i].addr, &b)) == -1)
			return -1;
		if (rc == 1)
			bcc_add(l, &b);
	}
	if ((rc = store_bcc_lookup(t, STORE_BCC_ALL, NULL, &b)) == -1)
		return -1;
	if (rc == 1)
		bcc_add(l, &b);
	return 0;
}

int
deliver_bcc_expand(struct store *st, const struct deliver_config *cf,
    struct deliver_job *job, struct deliver_fjob *fj)
{
	char id[STORE_QUEUE_ID_LEN + 1];
	struct bcc_look l;
	struct deliver_rcpt *v, *r;
	size_t i, n, wanted = 0;

	if (!job->bcc || job->no_filter)
		return 0;
	for (i = 0; i < job->nrcpts; i++)
		wanted += deliver_rcpt_wanted(&job->rcpts[i]) != 0;
	if (wanted == 0)
		return 0;	/* nothing is delivered: nothing is copied */
	memset(&l, 0, sizeof(l));
	l.job = job;
	l.targets = xcalloc(job->nrcpts + 2, sizeof(*l.targets));
	l.why = xcalloc(job->nrcpts + 2, sizeof(*l.why));
	if (store_read(st, bcc_lookup_txn, &l) == -1) {
		free(l.targets);
		free(l.why);
		return -1;
	}
	if (l.n == 0) {
		free(l.targets);
		free(l.why);
		return 0;
	}
	store_queue_id_format(job->queue_id, id);
	v = xcalloc(job->nrcpts + l.n, sizeof(*v));
	memcpy(v, job->rcpts, job->nrcpts * sizeof(*v));
	n = job->nrcpts;
	for (i = 0; i < l.n; i++) {
		r = &v[n];
		if (deliver_resolve_from(st, cf, job->sender, l.targets[i],
		    job->len, r) == -1) {
			log_warnx("%s: BCC to <%s> (%s rule) skipped: %s", id,
			    l.targets[i], l.why[i], err_msg());
			deliver_rcpt_clear(r);
			memset(r, 0, sizeof(*r));
			continue;
		}
		if (r->kind == DELIVER_REFUSED) {
			log_warnx("%s: BCC to <%s> (%s rule) skipped: %d %s",
			    id, l.targets[i], l.why[i], r->code, r->text);
			deliver_rcpt_clear(r);
			memset(r, 0, sizeof(*r));
			continue;
		}
		/* Not ours: the admin's rule is the relay permission. */
		if (r->kind == DELIVER_NOTLOCAL)
			r->relay = 1;
		r->notify = STORE_NOTIFY_NEVER;
		r->orcpt[0] = '\0';
		r->bcc = 1;
		log_info("%s: BCC to <%s> (%s rule)", id, r->addr, l.why[i]);
		n++;
	}
	free(l.targets);
	free(l.why);
	if (n == job->nrcpts) {
		free(v);
		return 0;
	}
	fj->orcpts = job->rcpts;
	fj->norcpts = job->nrcpts;
	job->rcpts = v;
	job->nrcpts = n;
	return 0;
}

void
deliver_bcc_restore(struct deliver_job *job, struct deliver_fjob *fj)
{
	size_t i;

	if (fj->orcpts == NULL)
		return;
	memcpy(fj->orcpts, job->rcpts, fj->norcpts * sizeof(*fj->orcpts));
	for (i = fj->norcpts; i < job->nrcpts; i++)
		deliver_rcpt_clear(&job->rcpts[i]);
	free(job->rcpts);
	job->rcpts = fj->orcpts;
	job->nrcpts = fj->norcpts;
	fj->orcpts = NULL;
	fj->norcpts = 0;
}
