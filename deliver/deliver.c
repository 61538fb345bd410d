/*
 * deliver.c - see deliver.h: the commit of begun and filtered jobs
 * (stage.c), once their recipients are resolved (resolve.c), and the
 * messages the server makes (notices, auto-replies).
 *
 * Delivery hashes and compresses before the write transaction (each
 * message once; a prefix per recipient), and inside it only checks,
 * links and counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver.h"
#include "filter/eval.h"
#include "mail/maildir.h"
#include "private.h"
#include "store/addr.h"
#include "store/domain.h"
#include "store/list.h"
#include "store/lock.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/user.h"
#include "dsn.h"
#include "batv.h"
#include "srs.h"
#include "store/secret.h"

/* Delivery ----------------------------------------------------------- */

/*
 * What one local target gets: its own prefixed message in one folder (a
 * filter's cc may give a user several).
 */
struct dtarget {
	struct deliver_rcpt	*r;
	uint32_t		 user_id;
	const char		*folder;	/* the fjob's memory, or "INBOX" */
	uint32_t		 flags;		/* STORE_F_*: a filter's FLAGS */
	const char		*keywords;	/* a filter's KEYWORDS, or NULL */
	char			*prefix;	/* own memory: prep points in */
	struct store_prepared	*vbase;		/* own: an xfilter's output */
	struct store_prepared	*prep;
	int			 result;	/* 1 stored, -1 full, 0 not */
};

/* An external address to queue: a forward or a relayed recipient. */
struct dext {
	const char	*addr;
	size_t		 rcpt;		/* index of the recipient it is for */
	int		 shared;	/* other recipients want it too */
	size_t		 sender;	/* index in djob.senders */
	uint8_t		 notify;
	char		 orcpt[DELIVER_ORCPT_MAX + 1];
};

/* An envelope sender of the job's queue entries (SRS gives several). */
struct dsender {
	char			 addr[STORE_ADDRESS_MAX + 1];
	uint64_t		 id;		/* queue id asked for */
	struct store_prepared	*msg;		/* NULL: the job's base */
};

/* A recipient that reaches a user another recipient already reaches. */
struct ddup {
	size_t	rcpt;		/* index in the job's recipients */
	size_t	target;		/* index in targets */
};

/* A user whose copy (or its filter's decision) is settled. */
struct dseen {
	uint32_t	user_id;
	size_t		rcpt;
};

struct djob {
	struct deliver_job	*job;
	struct store_prepared	*base;
	struct dtarget		*targets;
	size_t			 ntargets;
	struct dext		*ext;		/* forwards + relayed rcpts */
	size_t			 next;
	struct dsender		*senders;	/* one queue entry each */
	size_t			 nsenders;
	int			 sender_local;	/* -1 not known yet */
	struct ddup		*dups;		/* one copy per user */
	size_t			 ndups;
	int			*handled;	/* per recipient: its filter
						   left no copy to store
						   (discarded, forwarded,
						   piped): answered 250 */
	struct store_prepared	**lbase;	/* per recipient: its list's
						   copy, prepared once */
	struct dseen		*seen;		/* users handled, and by */
	size_t			 nseen;		/* which recipient */
};

struct drun {
	struct djob	*jobs;
	size_t		 njobs;
};

struct deliver_group {
	struct store			*st;
	const struct deliver_config	*cf;
	struct drun			 run;
	int				 rc;
};


int
deliver_rcpt_wanted(const struct deliver_rcpt *r)
{
	return r->kind == DELIVER_LOCAL || (r->kind == DELIVER_NOTLOCAL &&
	    r->relay);
}

/* Line end of the message: CRLF when its first line ends so. */
const char *
deliver_msg_eol(const void *data, size_t len)
{
	const char *nl = memchr(data, '\n', len);

	return nl != NULL && nl > (const char *)data && nl[-1] == '\r' ?
	    "\r\n" : "\n";
}

static void
djob_free(struct djob *d)
{
	size_t i;

	for (i = 0; i < d->ntargets; i++) {
		store_prepared_free(&d->targets[i].prep);
		store_prepared_free(&d->targets[i].vbase);
		free(d->targets[i].prefix);
	}
	store_prepared_free(&d->base);
	free(d->handled);
	for (i = 0; d->lbase != NULL && i < d->job->nrcpts; i++)
		store_prepared_free(&d->lbase[i]);
	free(d->lbase);
	free(d->seen);
	free(d->targets);
	free(d->ext);
	free(d->senders);
	free(d->dups);
}

/* The index of an envelope sender of the job's entries, added. */
static size_t
djob_sender(struct djob *d, const char *sender, struct store_prepared *msg)
{
	size_t i;

	for (i = 0; i < d->nsenders; i++)
		if (strcmp(d->senders[i].addr, sender) == 0 &&
		    d->senders[i].msg == msg)
			return i;
	d->senders = xreallocarray(d->senders, d->nsenders + 1,
	    sizeof(*d->senders));
	snprintf(d->senders[i].addr, sizeof(d->senders[i].addr), "%s",
	    sender);
	d->senders[i].msg = msg;
	/* the first keeps the job's id (smtpd's "queued as") */
	d->senders[i].id = i == 0 && d->job->queue_id != 0 ?
	    d->job->queue_id : store_queue_id_new();
	if (i == 0)
		d->job->queue_id = d->senders[i].id;
	return d->nsenders++;
}

/* xtext (RFC 3461 4) of s into out; 0, or -1 when it does not fit. */
static int
xtext_encode(const char *s, char *out, size_t size)
{
	size_t n = 0;
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (n + 4 > size)
			return -1;
		if (c < '!' || c > '~' || c == '+' || c == '=')
			n += (size_t)snprintf(out + n, size - n, "+%02X", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/*
 * Adds an external address to queue under sender, once per sender.  r is
 * the recipient it came from: its NOTIFY and ORCPT go along (a forward
 * without ORCPT gets the address it was sent to, RFC 3461 5.2.1 (d)).
 */
static void
djob_ext(struct djob *d, const char *addr, const char *sender,
    const struct deliver_rcpt *r)
{
	struct dext *x;
	size_t ri = (size_t)(r - d->job->rcpts);
	size_t i, si = djob_sender(d, sender, d->lbase != NULL ?
	    d->lbase[ri] : NULL);

	for (i = 0; i < d->next; i++)
		if (d->ext[i].sender == si &&
		    strcmp(d->ext[i].addr, addr) == 0) {
			d->ext[i].shared |= d->ext[i].rcpt != ri;
			return;
		}
	d->ext = xreallocarray(d->ext, d->next + 1, sizeof(*d->ext));
	x = &d->ext[d->next++];
	memset(x, 0, sizeof(*x));
	x->addr = addr;
	x->rcpt = ri;
	x->sender = si;
	x->notify = r->notify;
	if (r->orcpt[0] != '\0')
		snprintf(x->orcpt, sizeof(x->orcpt), "%s", r->orcpt);
	else if (r->kind == DELIVER_LOCAL) {
		memcpy(x->orcpt, "rfc822;", 7);
		if (xtext_encode(r->addr, x->orcpt + 7,
		    sizeof(x->orcpt) - 7) == -1)
			x->orcpt[0] = '\0';	/* too long: none */
	}
}

/*
 * Queues the message for the external addresses: one entry per sender,
 * split into entries of at most STORE_QUEUE_RCPTS_MAX recipients (the
 * first keeps the sender's id, the others get new ones).  skip[r] set:
 * recipient r is answered 4xx (its mailbox is full), so its forwards are
 * not queued now (they are when the client tries again) unless another
 * recipient wants them too.
 */
static int
djob_queue(struct store_txn *t, struct djob *d, const int *skip)
{
	struct store_queue_entry e;
	const char *envid = d->job->envid != NULL ? d->job->envid : "";
	size_t i, s, n, cap;
	int rc;

	if (strlen(envid) >= sizeof(e.envid))
		return err_set(ERR_INVALID, "ENVID too long");
	cap = d->next < STORE_QUEUE_RCPTS_MAX ? d->next :
	    STORE_QUEUE_RCPTS_MAX;
	for (s = 0; s < d->nsenders; s++) {
		memset(&e, 0, sizeof(e));
		e.id = d->senders[s].id;
		e.rcpts = xcalloc(cap, sizeof(*e.rcpts));
		for (i = n = 0; i <= d->next; i++) {
			struct store_queue_rcpt *qr = &e.rcpts[n];

			if (i == d->next || n == cap) {
				/* full, or the last: this entry goes */
				snprintf(e.sender, sizeof(e.sender), "%s",
				    d->senders[s].addr);
				strcpy(e.envid, envid);
				e.ret = (enum store_queue_ret)d->job->ret;
				e.flags = d->job->qflags;
				e.nrcpts = n;
				rc = n > 0 ? store_queue_add(t, &e,
				    d->senders[s].msg != NULL ?
				    d->senders[s].msg : d->base, NULL) : 1;
				if (rc == -1) {
					store_queue_entry_clear(&e);
					return -1;
				}
				if (i == d->next)
					break;
				memset(e.rcpts, 0, cap * sizeof(*e.rcpts));
				e.id = store_queue_id_new();
				n = 0;
				qr = &e.rcpts[0];
			}
			if (d->ext[i].sender != s || (skip[d->ext[i].rcpt] &&
			    !d->ext[i].shared))
				continue;
			if (strlen(d->ext[i].addr) >= sizeof(qr->addr)) {
				store_queue_entry_clear(&e);
				return err_set(ERR_INVALID, "recipient address "
				    "too long");
			}
			strcpy(qr->addr, d->ext[i].addr);
			snprintf(qr->orcpt, sizeof(qr->orcpt), "%s",
			    d->ext[i].orcpt);
			qr->notify = d->ext[i].notify;
			n++;
		}
		store_queue_entry_clear(&e);
	}
	return 0;
}

struct domain_q {
	const char	*domain;
	int		 local;
};

static int
domain_local_txn(struct store_txn *t, void *ctx)
{
	struct domain_q *q = ctx;
	struct store_domain dm;
	int rc;

	if ((rc = store_domain_get(t, q->domain, &dm)) == -1)
		return -1;
	q->local = rc == 1;
	return 0;
}

int
deliver_domain_local(struct store *st, const char *addr)
{
	struct domain_q q;
	char norm[DELIVER_ADDR_MAX + 1];
	const char *at = strrchr(addr, '@');

	if (at == NULL)
		return 0;
	q.local = 0;
	q.domain = at + 1;
	if (store_address_normalize(addr, norm, 0) == 0 &&
	    strrchr(norm, '@') != NULL)
		q.domain = strrchr(norm, '@') + 1;
	if (store_read(st, domain_local_txn, &q) == -1)
		return -1;
	return q.local;
}

/*
 * The envelope sender of a forward made for r: the job's sender
 * rewritten by SRS for r's (local) domain, or as it is when SRS is off,
 * the sender is <> or in a local domain, or rewriting fails (logged).
 * buf holds the result.  -1 on a store error.
 */
static int
djob_fwd_sender(struct store *st, const struct deliver_config *cf,
    struct djob *d, const struct deliver_rcpt *r, char *buf, size_t size)
{
	const char *sender = d->job->sender, *at = strrchr(sender, '@');
	snprintf(buf, size, "%s", sender);
	if (r->is_list && r->list_owner[0] != '\0') {
		/* a list's copies: bounces go to its owner */
		snprintf(buf, size, "%s", r->list_owner);
		return 0;
	}
	if (cf == NULL || !cf->srs_enabled || cf->srs_secret_len == 0 ||
	    sender[0] == '\0' || at == NULL)
		return 0;
	if (d->sender_local == -1 &&
	    (d->sender_local = deliver_domain_local(st, sender)) == -1)
		return -1;
	if (d->sender_local)
		return 0;
	if (srs_forward(cf->srs_secret, cf->srs_secret_len, sender,
	    strrchr(r->addr, '@') + 1, (int64_t)store_now(), buf, size) == -1) {
		log_warnx("SRS: %s: sender <%s> kept", err_msg(), sender);
		snprintf(buf, size, "%s", sender);
	}
	return 0;
}

/* A recipient's result from one of its targets: stored wins. */
static void
got_merge(int *got, int result)
{
	if (result == 1)
		*got = 1;
	else if (result == -1 && *got == 0)
		*got = -1;
}

/* The prepared message a recipient's targets get. */
static struct store_prepared *
djob_base(struct djob *d, const struct deliver_rcpt *r)
{
	size_t ri = (size_t)(r - d->job->rcpts);

	return d->lbase != NULL && d->lbase[ri] != NULL ? d->lbase[ri] :
	    d->base;
}

/*
 * Adds a local target: the user gets data (a filter's xfilter output)
 * when not NULL, else the recipient's message.
 */
static int
djob_target(struct store *st, struct djob *d, struct deliver_rcpt *r,
    const struct deliver_target *tg, const char *folder, uint32_t flags,
    const char *keywords, const char *data, size_t len)
{
	struct deliver_job *job = d->job;
	const char *eol = deliver_msg_eol(job->data, job->len);
	struct dtarget *dt;

	d->targets = xreallocarray(d->targets, d->ntargets + 1,
	    sizeof(*d->targets));
	dt = &d->targets[d->ntargets++];
	memset(dt, 0, sizeof(*dt));
	dt->r = r;
	dt->user_id = tg->user_id;
	dt->folder = folder;
	dt->flags = flags;
	dt->keywords = keywords != NULL && keywords[0] != '\0' ? keywords :
	    NULL;
	/*
	 * A list's copy: its owner is the envelope sender (RFC 5321 3.9.2).
	 * The virus scan's verdict goes here too (antivirus.c): a prefix
	 * costs no copy of the message, however large.
	 */
	dt->prefix = xasprintf("Return-Path: <%s>%s"
	    "Delivered-To: %s%s%s%s", r->is_list && r->list_owner[0] != '\0' ?
	    r->list_owner : job->sender, eol, tg->addr, eol,
	    job->fj != NULL ? job->fj->auth_header : "",
	    job->fj != NULL ? job->fj->av_header : "");
	if (data != NULL && store_msg_prepare(st, data, len, &dt->vbase) == -1)
		return -1;
	return store_msg_prepare_prefix(st, dt->vbase != NULL ? dt->vbase :
	    djob_base(d, r), dt->prefix, strlen(dt->prefix), &dt->prep);
}

/*
 * A filter's forward: a remote address is queued (the sender rewritten
 * by SRS); a local one is resolved as a recipient would be and its users
 * get the message in INBOX at once (as an alias gives it: their own
 * filters do not run again, so forwards between users cannot loop; the
 * outbound agent never delivers locally).  1 done, 0 a local address
 * that takes no mail (logged: the caller keeps the message), -1 error.
 */
struct fwd_check {
	const char	*addr;
	int		 allowed;
};

static int
fwd_check_txn(struct store_txn *t, void *ctx)
{
	struct fwd_check *fc = ctx;

	return (fc->allowed = deliver_forward_allowed(t, fc->addr)) == -1 ?
	    -1 : 0;
}

static int
djob_forward(struct store *st, const struct deliver_config *cf,
    struct djob *d, struct deliver_rcpt *r, const struct deliver_target *tg,
    const struct filter_action *a, const struct filter_result *res)
{
	char fwd[STORE_ADDRESS_MAX + 1];
	struct deliver_rcpt fr;
	struct fwd_check fc = { tg->addr, 1 };
	size_t k;
	int rc = 1;

	/* The user's domain may keep its mail from leaving. */
	if (store_read(st, fwd_check_txn, &fc) == -1)
		return -1;
	memset(&fr, 0, sizeof(fr));
	if (deliver_resolve(st, cf, a->arg, 0, &fr) == -1)
		return -1;
	if (!fc.allowed && (fr.kind == DELIVER_NOTLOCAL ||
	    fr.kind == DELIVER_LOCAL)) {
		size_t nlocal = 0;

		for (k = 0; k < fr.ntargets; k++)
			nlocal += fr.targets[k].user_id != 0;
		if (fr.kind == DELIVER_NOTLOCAL || nlocal < fr.ntargets)
			log_warnx("filter of %s: forward to <%s> not sent "
			    "outside: auto-forwarding is off for the domain "
			    "of %s%s", r->addr, a->arg, tg->addr, nlocal > 0 ?
			    " (its local mailboxes get it)" : "; kept");
		if (nlocal == 0) {
			deliver_rcpt_clear(&fr);
			return 0;
		}
	}
	if (djob_fwd_sender(st, cf, d, r, fwd, sizeof(fwd)) == -1) {
		deliver_rcpt_clear(&fr);
		return -1;
	}
	switch (fr.kind) {
	case DELIVER_NOTLOCAL:
		djob_ext(d, a->arg, fwd, r);
		break;
	case DELIVER_LOCAL:
		for (k = 0; k < fr.ntargets && rc == 1; k++) {
			if (fr.targets[k].user_id == 0) {
				if (fc.allowed)
					djob_ext(d, fr.targets[k].addr, fwd,
					    r);
			} else if (djob_target(st, d, r, &fr.targets[k],
			    "INBOX", 0, NULL, a->msg > 0 && a->msg <
			    res->nmsgs ? res->msgs[a->msg] : NULL, a->msg > 0 &&
			    a->msg < res->nmsgs ? res->msglens[a->msg] : 0) ==
			    -1)
				rc = -1;
		}
		break;
	default:
		log_warnx("filter of %s: forward to <%s> refused: %d %s; "
		    "kept", r->addr, a->arg, fr.code, fr.text);
		rc = 0;
		break;
	}
	deliver_rcpt_clear(&fr);
	return rc;
}

/* Maildir FLAGS letters (a filter's) as store flags. */
static uint32_t
djob_flags(unsigned mflags)
{
	return ((mflags & MAILDIR_F_SEEN) ? STORE_F_SEEN : 0) |
	    ((mflags & MAILDIR_F_REPLIED) ? STORE_F_ANSWERED : 0) |
	    ((mflags & MAILDIR_F_FLAGGED) ? STORE_F_FLAGGED : 0) |
	    ((mflags & MAILDIR_F_DRAFT) ? STORE_F_DRAFT : 0);
}

/*
 * What the filters decided for a user becomes targets and forwards;
 * without filters (or when they failed) the message goes to INBOX too.
 */
static int
djob_user(struct store *st, const struct deliver_config *cf, struct djob *d,
    struct deliver_rcpt *r, const struct deliver_target *tg)
{
	struct deliver_fuser *fu = deliver_fuser_find(d->job->fj,
	    tg->user_id);
	const struct filter_result *res;
	const struct filter_action *a;
	size_t i, folders = 0, inbox = 0;
	int rc, bad = 0;

	/* quarantined by the inbound checks (inauth.c): no filter ran */
	if (d->job->fj != NULL && d->job->fj->quarantine)
		return djob_target(st, d, r, tg, DELIVER_QUARANTINE, 0, NULL,
		    NULL, 0);
	if (fu == NULL || !fu->ran)
		return djob_target(st, d, r, tg, "INBOX", 0, NULL, NULL, 0);
	res = &fu->res;
	for (i = 0; i < res->nactions; i++) {
		a = &res->actions[i];
		switch (a->kind) {
		case FILTER_ACT_FOLDER:
			if (djob_target(st, d, r, tg, a->arg, djob_flags(
			    a->flags), a->keywords, a->msg > 0 &&
			    a->msg < res->nmsgs ? res->msgs[a->msg] : NULL,
			    a->msg > 0 && a->msg < res->nmsgs ?
			    res->msglens[a->msg] : 0) == -1)
				return -1;
			inbox |= strcmp(a->arg, "INBOX") == 0;
			folders++;
			break;
		case FILTER_ACT_FORWARD:
			if (strlen(a->arg) > STORE_ADDRESS_MAX) {
				/* the queue cannot hold it: as a failure */
				log_warnx("filter %s: forward to \"%.40s...\": "
				    "longer than %d bytes; kept in INBOX",
				    tg->addr, a->arg, STORE_ADDRESS_MAX);
				bad = 1;
				break;
			}
			if ((rc = djob_forward(st, cf, d, r, tg, a, res)) ==
			    -1)
				return -1;
			if (rc == 0) {
				/* a local address that takes no mail */
				if (!inbox && djob_target(st, d, r, tg,
				    "INBOX", 0, NULL, NULL, 0) == -1)
					return -1;
				inbox = 1;
				folders++;
			}
			break;
		case FILTER_ACT_PIPE:
		case FILTER_ACT_DISCARD:
			break;
		}
	}
	if ((res->failed || bad) && !inbox)
		return djob_target(st, d, r, tg, "INBOX", 0, NULL, NULL, 0);
	if (folders == 0)
		d->handled[r - d->job->rcpts] = 1;
	return 0;
}

/* Everything outside the transaction: hashing, compression. */
static int
djob_prepare(struct store *st, const struct deliver_config *cf,
    struct djob *d)
{
	char fwd[STORE_ADDRESS_MAX + 1];
	struct deliver_job *job = d->job;
	struct deliver_rcpt *r;
	size_t i, j, k;

	d->handled = xcalloc(job->nrcpts + 1, sizeof(*d->handled));
	if (store_msg_prepare(st, job->data, job->len, &d->base) == -1)
		return -1;
	for (i = 0; i < job->nrcpts; i++) {
		const char *ldata;
		size_t llen;

		r = &job->rcpts[i];
		if (!deliver_rcpt_wanted(r))
			continue;
		if (job->fj != NULL && job->fj->lloop != NULL &&
		    job->fj->lloop[i]) {
			d->handled[i] = 1;	/* a list copy came back */
			continue;
		}
		if ((ldata = deliver_rcpt_msg(job, i, &llen)) != job->data) {
			if (d->lbase == NULL)
				d->lbase = xcalloc(job->nrcpts,
				    sizeof(*d->lbase));
			if (store_msg_prepare(st, ldata, llen,
			    &d->lbase[i]) == -1)
				return -1;
		}
		if (r->kind == DELIVER_NOTLOCAL) {
			djob_ext(d, r->addr, job->sender, r);
			continue;
		}
		for (j = 0; j < r->ntargets; j++) {
			if (r->targets[j].user_id == 0) {
				if (djob_fwd_sender(st, cf, d, r, fwd,
				    sizeof(fwd)) == -1)
					return -1;
				djob_ext(d, r->targets[j].addr, fwd, r);
				continue;
			}
			/*
			 * A user reached through several recipients (aliases,
			 * a repeated RCPT) gets the message once.
			 */
			for (k = 0; k < d->nseen; k++)
				if (d->seen[k].user_id == r->targets[j].user_id)
					break;
			if (k < d->nseen) {
				size_t first = d->seen[k].rcpt;

				for (k = 0; k < d->ntargets; k++)
					if (d->targets[k].user_id ==
					    r->targets[j].user_id)
						break;
				if (k < d->ntargets) {
					d->dups = xreallocarray(d->dups,
					    d->ndups + 1, sizeof(*d->dups));
					d->dups[d->ndups].rcpt = i;
					d->dups[d->ndups++].target = k;
				} else
					d->handled[i] |= d->handled[first];
				continue;
			}
			d->seen = xreallocarray(d->seen, d->nseen + 1,
			    sizeof(*d->seen));
			d->seen[d->nseen].user_id = r->targets[j].user_id;
			d->seen[d->nseen++].rcpt = i;
			if (djob_user(st, cf, d, r, &r->targets[j]) == -1)
				return -1;
		}
	}
	return 0;
}

/* Whether every local target of a job fits (summing per user). */
static int
djob_fits(struct store_txn *t, struct djob *d, struct deliver_rcpt **bad_r)
{
	struct store_user u;
	uint64_t bytes, msgs;
	size_t i, j;
	int rc;

	for (i = 0; i < d->ntargets; i++) {
		/* A BCC copy that does not fit is its own loss (bcc.c). */
		if (d->targets[i].r->bcc)
			continue;
		bytes = msgs = 0;
		for (j = 0; j < d->ntargets; j++)
			if (d->targets[j].user_id == d->targets[i].user_id) {
				bytes += store_prepared_size(
				    d->targets[j].prep);
				msgs++;
			}
		if ((rc = store_user_get(t, d->targets[i].user_id, &u)) == -1)
			return -1;
		if (rc == 1 && !u.disabled &&
		    !store_user_quota_fits(&u, bytes, msgs)) {
			if (u.over_quota_since == 0) {
				u.over_quota_since = store_now();
				if (store_user_update(t, &u) == -1)
					return -1;
			}
			*bad_r = d->targets[i].r;
			return 0;
		}
	}
	return 1;
}

/*
 * Whether a local target's account is gone or disabled since RCPT: 1
 * all there, 0 not (*bad_r says whose), -1 error.
 */
static int
djob_all_there(struct store_txn *t, struct djob *d,
    struct deliver_rcpt **bad_r)
{
	struct store_user u;
	size_t i;
	int rc;

	for (i = 0; i < d->ntargets; i++) {
		if (d->targets[i].r->bcc)
			continue;
		if ((rc = store_user_get(t, d->targets[i].user_id, &u)) == -1)
			return -1;
		if (rc == 0 || u.disabled) {
			*bad_r = d->targets[i].r;
			return 0;
		}
	}
	return 1;
}

/* The special use a default folder of that name has (Spam: \\Junk). */
static uint32_t
djob_special(const char *name)
{
	static const struct {
		const char	*name;
		uint32_t	 use;
	} defaults[] = STORE_DEFAULT_FOLDERS;
	size_t i;

	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (strcmp(defaults[i].name, name) == 0)
			return defaults[i].use;
	return 0;
}

/*
 * The folder a filter named, made when missing (with its parents, as
 * maildrop makes a Maildir++ folder), INBOX when it cannot be made.
 */
static int
djob_folder(struct store_txn *t, uint32_t user_id, const char *name,
    struct store_mailbox *mb)
{
	char part[STORE_MAILBOX_NAME_MAX + 1];
	const char *p;
	int rc;

	if ((rc = store_mailbox_get(t, user_id, name, mb)) != 0)
		return rc == 1 ? 0 : -1;
	for (p = name; (p = strchr(p, '/')) != NULL; p++) {
		snprintf(part, sizeof(part), "%.*s", (int)(p - name), name);
		if ((rc = store_mailbox_get(t, user_id, part, mb)) == -1)
			return -1;
		if (rc == 0 && store_mailbox_create(t, user_id, part,
		    djob_special(part), NULL) == -1)
			goto inbox;
	}
	if (store_mailbox_create(t, user_id, name,
	    djob_special(name), NULL) == -1 ||
	    store_mailbox_get(t, user_id, name, mb) != 1)
		goto inbox;
	return 0;
inbox:
	if (err_class() == ERR_TEMP || err_class() == ERR_CORRUPT)
		return -1;
	log_warnx("delivery: folder \"%s\" cannot be made (%s): INBOX",
	    name, err_msg());
	return store_mailbox_get(t, user_id, "INBOX", mb) == 1 ? 0 : -1;
}

/*
 * Auto-replies composed for users that got the message: each is sent
 * once per sender and interval (the note is in this transaction).
 */
static int
djob_replies(struct store_txn *t, struct djob *d)
{
	struct deliver_fjob *fj = d->job->fj;
	struct deliver_fuser *fu;
	size_t i, k;
	int rc, got;

	for (i = 0; fj != NULL && i < fj->nusers; i++) {
		fu = &fj->users[i];
		fu->reply_ok = 0;
		if (fu->reply == NULL)
			continue;
		for (k = 0, got = 0; k < d->ntargets; k++)
			got |= d->targets[k].user_id == fu->user_id &&
			    d->targets[k].result == 1;
		if (!got)
			continue;
		rc = store_vacation_note(t, fu->user_id, d->job->sender,
		    (int64_t)store_now(), fu->vac.interval_days);
		/*
		 * A sender the record cannot hold gets no reply; it must not
		 * fail the commit (every message of the group would get 451).
		 */
		if (rc == -1 && err_class() == ERR_INVALID)
			rc = 0;
		if (rc == -1)
			return -1;
		fu->reply_ok = rc == 1;
	}
	return 0;
}

static int
djob_store(struct store_txn *t, struct djob *d)
{
	struct deliver_job *job = d->job;
	struct deliver_rcpt *bad = NULL;
	struct store_mailbox mb;
	struct store_user u;
	struct dtarget *dt;
	size_t i;
	int rc, *got, *skip;

	job->delivered = 0;
	job->stored = 0;
	for (i = 0; i < job->nrcpts; i++)
		if (deliver_rcpt_wanted(&job->rcpts[i]))
			deliver_rcpt_reply(&job->rcpts[i], 550, DELIVER_UNKNOWN_FMT,
			    job->rcpts[i].addr);
	if (job->all_or_nothing) {
		/*
		 * SMTP has one reply for all: a recipient that can no longer
		 * be delivered must not turn into a bounce for mail the others
		 * got.  451 for the whole message, nothing stored (no queued
		 * forwards either): the client's retry gets the new answer
		 * for that recipient at RCPT.
		 */
		if ((rc = djob_all_there(t, d, &bad)) == -1)
			return -1;
		if (rc == 0) {
			for (i = 0; i < job->nrcpts; i++)
				if (deliver_rcpt_wanted(&job->rcpts[i]))
					deliver_rcpt_reply(&job->rcpts[i], 451,
					    "4.1.1 <%s>: Recipient address "
					    "no longer available; try again "
					    "later", bad->addr);
			return 0;
		}
		if ((rc = djob_fits(t, d, &bad)) == -1)
			return -1;
		if (rc == 0) {
			for (i = 0; i < job->nrcpts; i++)
				if (deliver_rcpt_wanted(&job->rcpts[i]))
					deliver_rcpt_reply(&job->rcpts[i], 452,
					    "4.2.2 <%s>: Mailbox full",
					    bad->addr);
			return 0;
		}
	}
	/* The sender's limits: counted only for mail that goes. */
	if (job->policy != NULL && (rc = policy_account(t, job)) != 1)
		return rc;
	got = xcalloc(job->nrcpts, sizeof(*got));
	for (i = 0; i < d->ntargets; i++) {
		dt = &d->targets[i];
		dt->result = 0;
		if ((rc = store_user_get(t, dt->user_id, &u)) == -1)
			goto fail;
		if (rc == 0 || u.disabled)
			continue;	/* mail to a disabled account is dropped */
		if (djob_folder(t, u.id, dt->folder, &mb) == -1)
			goto fail;
		rc = store_msg_append(t, mb.id, dt->prep, 0, dt->flags,
		    dt->keywords, STORE_APPEND_QUOTA, NULL);
		if (rc == -1 && dt->keywords != NULL &&
		    (err_class() == ERR_INVALID || err_class() == ERR_LIMIT))
			rc = store_msg_append(t, mb.id, dt->prep, 0,
			    dt->flags, NULL, STORE_APPEND_QUOTA, NULL);
		if (rc == -1)
			goto fail;
		dt->result = rc == 1 ? 1 : -1;
	}
	for (i = 0; i < d->ntargets; i++)
		got_merge(&got[d->targets[i].r - job->rcpts],
		    d->targets[i].result);
	for (i = 0; i < d->ndups; i++)
		got_merge(&got[d->dups[i].rcpt],
		    d->targets[d->dups[i].target].result);
	/* A recipient answered 452 (LMTP) has nothing queued either. */
	for (i = 0; i < job->nrcpts; i++)
		got[i] = got[i] == -1 && !d->handled[i] &&
		    job->rcpts[i].kind != DELIVER_NOTLOCAL ? -2 : got[i];
	skip = xcalloc(job->nrcpts, sizeof(*skip));
	for (i = 0; i < job->nrcpts; i++)
		skip[i] = got[i] == -2;
	rc = d->next > 0 ? djob_queue(t, d, skip) : 0;
	free(skip);
	if (rc == -1)
		goto fail;
	if (djob_replies(t, d) == -1)
		goto fail;
	for (i = 0; i < job->nrcpts; i++) {
		struct deliver_rcpt *r = &job->rcpts[i];

		if (!deliver_rcpt_wanted(r))
			continue;
		if (got[i] == 1)
			job->stored++;
		if (got[i] == 1 || r->kind == DELIVER_NOTLOCAL ||
		    d->handled[i]) {
			deliver_rcpt_reply(r, 250, "2.0.0 Ok");
			job->delivered += !r->bcc;
		} else if (got[i] == -2)
			deliver_rcpt_reply(r, 452, "4.2.2 <%s>: Mailbox full",
			    r->addr);
		else {
			/* forwards only, or every target gone since RCPT */
			size_t j;
			int fwd = 0;

			for (j = 0; j < r->ntargets; j++)
				fwd |= r->targets[j].user_id == 0;
			if (fwd) {
				deliver_rcpt_reply(r, 250, "2.0.0 Ok: forwarded");
				job->delivered += !r->bcc;
			}
		}
	}
	free(got);
	return 0;
fail:
	free(got);
	return -1;
}

static int
deliver_txn(struct store_txn *t, void *ctx)
{
	struct drun *run = ctx;
	size_t i;

	for (i = 0; i < run->njobs; i++)
		if (run->jobs[i].job->busy == 0 &&
		    djob_store(t, &run->jobs[i]) == -1)
			return -1;
	return 0;
}

/* One line: where a user's filters sent the message. */
static void
djob_log_actions(const struct djob *d, const struct deliver_fuser *fu)
{
	const struct filter_action *a;
	char line[1024];
	size_t i, n = 0;

	line[0] = '\0';
	for (i = 0; i < fu->res.nactions && n < sizeof(line) - 1; i++) {
		a = &fu->res.actions[i];
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s%s",
		    n > 0 ? ", " : "", a->kind == FILTER_ACT_FOLDER ?
		    "folder " : a->kind == FILTER_ACT_FORWARD ? "forward to " :
		    a->kind == FILTER_ACT_PIPE ? "pipe to " : "discarded",
		    a->kind == FILTER_ACT_DISCARD ? "" : a->arg);
	}
	log_info("filter %s: message from <%s>: %s%s%s", fu->address,
	    d->job->sender, fu->res.failed ? "failed, kept in INBOX" : "",
	    fu->res.failed && line[0] != '\0' ? "; before that: " : "",
	    line[0] != '\0' ? line : fu->res.failed ? "" :
	    "delivered nowhere");
}

/*
 * The recipient's status word, Postfix's: 2xx sent, 4xx deferred (the
 * client or the queue tries again), 5xx bounced (refused for good).
 */
static const char *
djob_status(int code)
{
	return code / 100 == 2 ? "sent" : code / 100 == 4 ? "deferred" :
	    "bounced";
}

/* The queue id of a forward of recipient ri to addr (its sender's). */
static uint64_t
djob_fwd_id(const struct djob *d, size_t ri, const char *addr)
{
	size_t i;

	for (i = 0; i < d->next; i++)
		if (d->ext[i].rcpt == ri && strcmp(d->ext[i].addr, addr) == 0)
			return d->senders[d->ext[i].sender].id;
	return d->job->queue_id;
}

/*
 * The job's outcome in the log, one line per recipient as Postfix's
 * local(8) writes them, under the job's queue id:
 *
 *	ID: from=<sender>, size=N, nrcpt=N
 *	ID: to=<user>, orig_to=<alias>, relay=local, delay=S, status=sent (...)
 *	ID: to=<fwd>, orig_to=<alias>, relay=queue, delay=S, status=sent
 *	    (forwarded as ID)
 *	ID: to=<addr>, relay=local, delay=S, status=deferred (452 ...)
 *
 * orig_to is the address the client gave when it differs (an alias, a
 * catch-all, user+ext).  Relayed recipients are the mta's to log (it
 * knows how they end); delay counts from the queue id's time (MAIL).
 */
static void
djob_log_outcome(const struct djob *d)
{
	const struct deliver_job *job = d->job;
	const struct deliver_rcpt *r;
	char id[STORE_QUEUE_ID_LEN + 1], fid[STORE_QUEUE_ID_LEN + 1];
	char orig[DELIVER_ADDR_MAX + 16];
	int64_t delay;
	size_t i, j;

	store_queue_id_format(job->queue_id, id);
	delay = (int64_t)store_now() - (int64_t)(job->queue_id >> 32);
	if (delay < 0 || delay > 10 * 365 * 86400)
		delay = 0;
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu", id, job->sender,
	    job->len, job->nrcpts);
	for (i = 0; i < job->nrcpts; i++) {
		r = &job->rcpts[i];
		if (!deliver_rcpt_wanted(r))
			continue;
		if (r->code != 250) {
			log_info("%s: to=<%s>, relay=%s, delay=%" PRId64
			    ", status=%s (%d %s)", id, r->addr,
			    r->kind == DELIVER_LOCAL ? "local" : "queue",
			    delay, djob_status(r->code), r->code, r->text);
			continue;
		}
		if (r->kind != DELIVER_LOCAL)
			continue;
		for (j = 0; j < r->ntargets; j++) {
			const struct deliver_target *t = &r->targets[j];

			if (strcasecmp(t->addr, r->addr) != 0)
				snprintf(orig, sizeof(orig), ", orig_to=<%s>",
				    r->addr);
			else
				orig[0] = '\0';
			if (t->user_id == 0)
				log_info("%s: to=<%s>%s, relay=queue, delay=%"
				    PRId64 ", status=sent (forwarded as %s)",
				    id, t->addr, orig, delay,
				    store_queue_id_format(djob_fwd_id(d, i,
				    t->addr), fid));
			else
				log_info("%s: to=<%s>%s, relay=local, delay=%"
				    PRId64 ", status=sent (%d %s)", id,
				    t->addr, orig, delay, r->code, r->text);
		}
	}
}

/* After the commit: what the filters said, and the auto-replies. */
static void
djob_after(struct store *st, const struct deliver_config *cf, struct djob *d,
    int committed)
{
	struct deliver_fjob *fj = d->job->fj;
	struct deliver_fuser *fu;
	size_t i;

	for (i = 0; fj != NULL && i < fj->nusers; i++) {
		fu = &fj->users[i];
		if (fu->log != NULL)
			log_info("filter %s: %s", fu->address, fu->log);
		if (fu->ran && committed)
			djob_log_actions(d, fu);
		if (!committed || !fu->reply_ok)
			continue;
		if (deliver_server_message(st, cf, d->job->sender, fu->reply,
		    fu->replylen, 0, 0, NULL) == -1)
			log_warnx("auto-reply of %s to <%s>: %s", fu->address,
			    d->job->sender, err_msg());
		else
			log_info("auto-reply of %s sent to <%s>", fu->address,
			    d->job->sender);
	}
}

int
deliver_run(struct store *st, const struct deliver_config *cf,
    struct deliver_job **jobs, size_t n)
{
	struct deliver_group *g = deliver_group_new(st, cf, jobs, n);
	int rc;

	rc = deliver_group_commit(g, 0);
	deliver_group_end(&g);
	return rc;
}

int
deliver_run_unsynced(struct store *st, const struct deliver_config *cf,
    struct deliver_job **jobs, size_t n)
{
	struct deliver_group *g = deliver_group_new(st, cf, jobs, n);
	int rc;

	rc = deliver_group_commit(g, 1);
	deliver_group_end(&g);
	return rc;
}

/*
 * The loop's part before the commit: each job begun (its locks; a job
 * not begun by the caller runs its filters here, in this thread).
 */
struct deliver_group *
deliver_group_new(struct store *st, const struct deliver_config *cf,
    struct deliver_job **jobs, size_t n)
{
	struct deliver_group *g;
	size_t i;
	int rc;

	g = xcalloc(1, sizeof(*g));
	g->st = st;
	g->cf = cf;
	g->run.jobs = xcalloc(n == 0 ? 1 : n, sizeof(*g->run.jobs));
	g->run.njobs = n;
	for (i = 0; i < n; i++) {
		struct djob *d = &g->run.jobs[i];

		d->job = jobs[i];
		/* One id names the message in every log line. */
		if (d->job->queue_id == 0)
			d->job->queue_id = store_queue_id_new();
		d->sender_local = -1;
		d->job->busy = 0;
		d->job->delivered = 0;
		d->job->stored = 0;
		if ((rc = deliver_begin(st, cf, d->job)) == 0) {
			d->job->busy = 1;
			continue;
		}
		if (rc == -1) {
			djob_log_outcome(d);	/* 451 to each */
			d->job->busy = -1;	/* answered: skipped */
			continue;
		}
		/* Not begun by the caller: the filters run here. */
		deliver_filter_job(d->job);
	}
	return g;
}

/*
 * The writer's part: hashing and compression, the one transaction, its
 * commit, the outcome in the log and the auto-replies.  Touches the
 * jobs, the store and the log, never the locks this process keeps
 * (stage.c's, the loop's): a job that fails here keeps them until
 * deliver_group_end().
 */
int
deliver_group_commit(struct deliver_group *g, int unsynced)
{
	struct store *st = g->st;
	const struct deliver_config *cf = g->cf;
	size_t i, j, ready = 0;
	int rc = 0;

	for (i = 0; i < g->run.njobs; i++) {
		struct djob *d = &g->run.jobs[i];

		if (d->job->busy != 0)
			continue;
		if (d->job->fj != NULL && d->job->fj->refuse_code != 0) {
			/* refused by a content check (a virus): not stored */
			for (j = 0; j < d->job->nrcpts; j++)
				if (deliver_rcpt_wanted(&d->job->rcpts[j]))
					deliver_rcpt_reply(&d->job->rcpts[j],
					    d->job->fj->refuse_code, "%s",
					    d->job->fj->refuse_text);
			djob_log_outcome(d);
			d->job->busy = -1;	/* skipped by the txn */
			djob_after(st, cf, d, 0);
			continue;
		}
		if (djob_prepare(st, cf, d) == -1) {
			/* Nothing stored: every recipient gets the reason. */
			int big = err_class() == ERR_TOOBIG;

			log_warnx("delivery: %s", err_msg());
			for (j = 0; j < d->job->nrcpts; j++)
				if (deliver_rcpt_wanted(&d->job->rcpts[j]))
					deliver_rcpt_reply(&d->job->rcpts[j],
					    big ? 552 : 451, big ? "5.3.4 "
					    "Message too big" : "4.3.0 "
					    "Temporary failure; try again "
					    "later");
			djob_log_outcome(d);
			d->job->busy = -1;	/* skipped by the txn */
			djob_after(st, cf, d, 0);
			continue;
		}
		ready++;
	}
	if (ready > 0 && (unsynced ? store_write_metanosync(st, deliver_txn,
	    &g->run) : store_write(st, deliver_txn, &g->run)) == -1) {
		log_warnx("delivery commit failed: %s", err_msg());
		for (i = 0; i < g->run.njobs; i++) {
			struct deliver_job *job = g->run.jobs[i].job;

			if (job->busy != 0)
				continue;
			for (j = 0; j < job->nrcpts; j++)
				if (deliver_rcpt_wanted(&job->rcpts[j]))
					deliver_rcpt_reply(&job->rcpts[j],
					    451, "4.3.0 Temporary failure; "
					    "try again later");
			job->delivered = 0;
			job->stored = 0;
		}
		rc = -1;
	}
	for (i = 0; i < g->run.njobs; i++) {
		struct djob *d = &g->run.jobs[i];

		if (d->job->busy == 0 && d->job->fj != NULL) {
			djob_log_outcome(d);
			djob_after(st, cf, d, rc == 0);
		}
		if (d->job->busy != 0 || rc != 0 || d->job->policy == NULL)
			continue;
		d->job->policy->invalid = 0;	/* counted */
		if (d->job->policy->locked)
			policy_notices(st, cf, d->job->policy,
			    d->job->queue_id, d->job->sender);
	}
	g->rc = rc;
	return rc;
}

/*
 * The loop's part after the commit: the locks go (all in one store
 * transaction), each job's stage ends.
 */
void
deliver_group_end(struct deliver_group **gp)
{
	struct deliver_group *g = *gp;
	struct deliver_fjob **fjs;
	size_t i, nfj = 0;

	if (g == NULL)
		return;
	*gp = NULL;
	fjs = xcalloc(g->run.njobs == 0 ? 1 : g->run.njobs, sizeof(*fjs));
	for (i = 0; i < g->run.njobs; i++)
		if (g->run.jobs[i].job->busy == 0 &&
		    g->run.jobs[i].job->fj != NULL)
			fjs[nfj++] = g->run.jobs[i].job->fj;
	deliver_unlock_many(g->st, fjs, nfj);
	free(fjs);
	for (i = 0; i < g->run.njobs; i++) {
		struct djob *d = &g->run.jobs[i];

		if (d->job->busy != 1)
			deliver_end(g->st, d->job);
		if (d->job->busy == -1)
			d->job->busy = 0;	/* answered, not to retry */
		djob_free(d);
	}
	free(g->run.jobs);
	free(g);
}

/* SRS and notices ----------------------------------------------------- */

int
deliver_config_init(struct deliver_config *cf, struct store *st,
    const struct config *cfg)
{
	memset(cf, 0, sizeof(*cf));
	cf->filters = 1;
	cf->hostname = cfg->hostname;
	cf->quota_grace_days = cfg->quota_grace_days;
	cf->srs_enabled = cfg->srs_enabled;
	cf->srs_max_age = cfg->srs_max_age;
	cf->batv_max_age = cfg->batv_max_age;
	_Static_assert(sizeof(cf->spamd) >= sizeof(cfg->policy_spamd),
	    "[policy] spamd fits in deliver_config");
	memcpy(cf->spamd, cfg->policy_spamd, sizeof(cfg->policy_spamd));
	cf->spamd_timeout_ms = cfg->policy_spamd_timeout * 1000;
	cf->spam_max_size = cfg->policy_spam_max_size;
	cf->spam_tempfail = cfg->policy_spam_tempfail;
	_Static_assert(sizeof(cf->clamd) >= sizeof(cfg->antivirus_clamd),
	    "[antivirus] clamd fits in deliver_config");
	memcpy(cf->clamd, cfg->antivirus_clamd, sizeof(cfg->antivirus_clamd));
	cf->clamd_timeout_ms = cfg->antivirus_timeout * 1000;
	cf->av_max_size = cfg->antivirus_max_size;
	cf->av_accept = cfg->antivirus_on_error == CONFIG_AV_ACCEPT;
	cf->ma_spf = cfg->mailauth_spf;
	cf->ma_dkim = cfg->mailauth_dkim;
	cf->ma_dmarc = cfg->mailauth_dmarc;
	cf->ma_spf_fail = cfg->mailauth_spf_fail;
	cf->ma_dmarc_reject = cfg->mailauth_dmarc_reject;
	cf->ma_dmarc_quarantine = cfg->mailauth_dmarc_quarantine;
	cf->ma_timeout_ms = cfg->mailauth_timeout * 1000;
	cf->dns = cfg;
	/* BATV's secret is the store's: load it even without SRS's */
	if (deliver_srs_load(st, cf, cfg->srs_secret_file) == -1) {
		(void)deliver_batv_load(st, cf);
		return -1;
	}
	return deliver_batv_load(st, cf);
}

int
deliver_batv_load(struct store *st, struct deliver_config *cf)
{
	_Static_assert(BATV_SECRET_LEN <= DELIVER_SECRET_MAX,
	    "the BATV secret fits in deliver_config");

	/* its own key: a BATV tag and an SRS hash never vouch for each
	   other */
	if (store_secret_get(st, "batv", cf->batv_secret,
	    BATV_SECRET_LEN) == -1)
		return err_set(err_class(), "the BATV secret: %s", err_msg());
	cf->batv_secret_len = BATV_SECRET_LEN;
	return 0;
}

int
deliver_srs_load(struct store *st, struct deliver_config *cf,
    const char *secret_file)
{
	unsigned char buf[DELIVER_SECRET_MAX];
	size_t n;
	FILE *f;

	if (secret_file == NULL || secret_file[0] == '\0') {
		if (store_secret_get(st, "srs", cf->srs_secret,
		    SRS_SECRET_LEN) == -1)
			return -1;
		cf->srs_secret_len = SRS_SECRET_LEN;
		return 0;
	}
	if ((f = fopen(secret_file, "rb")) == NULL)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_TEMP,
		    "[srs] secret_file %s: %s", secret_file, strerror(errno));
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		fclose(f);
		return err_set(ERR_TEMP, "[srs] secret_file %s: read error",
		    secret_file);
	}
	fclose(f);
	/* a text file's final newline is not part of the secret */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < SRS_SECRET_MIN)
		return err_set(ERR_INVALID, "[srs] secret_file %s: fewer than "
		    "%d bytes", secret_file, SRS_SECRET_MIN);
	memcpy(cf->srs_secret, buf, n);
	cf->srs_secret_len = n;
	return 0;
}

/* Whether a recipient's NOTIFY asks for a notice about its action. */
static int
notify_wants(uint8_t notify, enum dsn_action action)
{
	if (notify & STORE_NOTIFY_NEVER)
		return 0;
	switch (action) {
	case DSN_FAILED:
		return notify == 0 || (notify & STORE_NOTIFY_FAILURE);
	case DSN_DELAYED:
		return notify == 0 || (notify & STORE_NOTIFY_DELAY);
	case DSN_DELIVERED:
	case DSN_RELAYED:
		return (notify & STORE_NOTIFY_SUCCESS) != 0;
	}
	return 0;
}

int
deliver_notice(struct store *st, const struct deliver_config *cf,
    const struct dsn_input *in, uint64_t *queue_id_r)
{
	struct dsn_input din;
	struct dsn_rcpt *keep;
	size_t i, n = 0;
	char *msg = NULL;
	size_t len;
	int rc = -1;

	if (in->sender == NULL || in->sender[0] == '\0' || in->is_notice)
		return 0;
	keep = xcalloc(in->nrcpts == 0 ? 1 : in->nrcpts, sizeof(*keep));
	for (i = 0; i < in->nrcpts; i++)
		if (notify_wants(in->rcpts[i].notify, in->rcpts[i].action))
			keep[n++] = in->rcpts[i];
	if (n == 0) {
		free(keep);
		return 0;
	}
	din = *in;
	din.rcpts = keep;
	din.nrcpts = n;
	if (din.hostname == NULL || din.hostname[0] == '\0')
		din.hostname = cf->hostname;
	if (din.now == 0)
		din.now = (int64_t)store_now();
	if (din.notice_id == 0)
		din.notice_id = store_queue_id_new();
	if (dsn_compose(&din, &msg, &len) == -1)
		goto done;

	rc = deliver_server_message(st, cf, in->sender, msg, len,
	    din.notice_id, STORE_QF_NOTICE, queue_id_r);
done:
	free(msg);
	free(keep);
	return rc;
}

/*
 * Delivers a message the server made (a notice, an auto-reply) to one
 * address with the envelope sender <>: a local one gets it in INBOX
 * without filters, a remote one has it queued.  1 sent, -1 error (TEMP,
 * or PERM when the address refuses it).
 */
int
deliver_server_message(struct store *st, const struct deliver_config *cf,
    const char *to, const char *msg, size_t len, uint64_t queue_id,
    uint32_t qflags, uint64_t *queue_id_r)
{
	struct deliver_rcpt r;
	struct deliver_job job, *jobs[1] = { &job };
	int rc = -1;

	memset(&r, 0, sizeof(r));
	if (deliver_resolve(st, cf, to, len, &r) == -1) {
		err_set(ERR_TEMP, "message to <%s>: %s", to, r.text);
		goto done;
	}
	if (r.kind == DELIVER_REFUSED) {
		err_set(r.code >= 500 ? ERR_PERM : ERR_TEMP, "message to "
		    "<%s>: %d %s", to, r.code, r.text);
		goto done;
	}
	if (r.kind == DELIVER_NOTLOCAL)
		r.relay = 1;
	r.notify = STORE_NOTIFY_NEVER;	/* no notice about it */
	memset(&job, 0, sizeof(job));
	job.sender = "";
	job.data = msg;
	job.len = len;
	job.rcpts = &r;
	job.nrcpts = 1;
	job.all_or_nothing = 1;
	job.queue_id = queue_id;
	job.ret = STORE_RET_HDRS;
	job.qflags = qflags;
	job.no_filter = 1;
	if (deliver_run(st, cf, jobs, 1) == -1) {
		err_set(ERR_TEMP, "message to <%s>: %s", to, r.text);
		goto done;
	}
	if (job.busy) {
		err_set(ERR_TEMP, "message to <%s>: mailbox busy", to);
		goto done;
	}
	if (r.code != 250) {
		err_set(r.code >= 500 ? ERR_PERM : ERR_TEMP, "message to "
		    "<%s>: %d %s", to, r.code, r.text);
		goto done;
	}
	if (queue_id_r != NULL)
		*queue_id_r = job.queue_id;
	rc = 1;
done:
	deliver_rcpt_clear(&r);
	return rc;
}

