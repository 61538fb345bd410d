/*
 * sign.c - DKIM signatures of the messages the agent sends (dkim.h for
 * what is signed and how; private.h for the calls).
 *
 * A message is signed once, when its first job is about to be given to
 * a connection: at send time, after every other change.  Its bytes are
 * read then anyway; the From: domain's keys are read from the store in
 * the same loop turn (one small read transaction: a deleted key stops
 * signing at once).  The RSA arithmetic runs on the signing pool
 * (common/worker.h), never on the loop: the message's bytes are lent to
 * the job and come back with the signature lines.  The pool's queue is
 * bounded; a message that finds it full waits in sign_wait, in order,
 * and is submitted when a job ends, so no message is dropped nor signed
 * on the loop.  Meanwhile its jobs stay queued at their destinations and
 * connections take the jobs of messages that are ready.
 *
 * A message whose attempt ends with recipients left is freed and read
 * again at its next attempt.  Its signature is kept in a small cache by
 * queue id, with the key set it was made with: the retry sends the same
 * signature when the domain's keys are still the same, and signs again
 * when a key was added or deleted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/worker.h"
#include "common/xmalloc.h"
#include "mta/dkim.h"
#include "mta/private.h"
#include "store/queue.h"

/* Signatures kept for retries (slots, by queue id). */
#define SIGN_CACHE_SLOTS	1024

struct sign_req {
	uint64_t		 qid;
	struct mta_dkim_keys	 keys;
	char			*keyid;
	void			*data;		/* lent by the qmsg */
	size_t			 len;
	/* results (written by the worker thread) */
	int			 rc;
	char			*hdr;
	size_t			 hdrlen;
	char			 error[512];
};

struct sign_slot {
	uint64_t	 qid;		/* 0: empty */
	char		*keyid;
	char		*sig;
	size_t		 siglen;
};

struct sign_cache {
	struct sign_slot slot[SIGN_CACHE_SLOTS];
};

static void	sign_work(void *);
static void	sign_done(void *, int);
static int	sign_submit(struct qmsg *, struct mta_dkim_keys *, char *);
static void	sign_req_free(struct sign_req *);
static void	sign_wait_run(void);
static void	sign_rerun(void);
static int	sign_cached(struct qmsg *, const char *keyid);
static void	sign_cache_put(uint64_t, const char *keyid, const char *,
		    size_t);
static void	sign_slot_clear(struct sign_slot *);

int
mta_sign_start(struct event_base *base)
{
	TAILQ_INIT(&mta.sign_wait);
	if (mta_dkim_init() == -1)
		return -1;
	mta.sign_cache = xcalloc(1, sizeof(*mta.sign_cache));
	return worker_pool_new_nice(base, MTA_DKIM_THREADS, MTA_DKIM_QUEUE,
	    MTA_DKIM_NICE, &mta.sign_pool);
}

void
mta_sign_stop(void)
{
	size_t i;

	/* Jobs not started are cancelled: their done() frees them. */
	worker_pool_free(&mta.sign_pool);
	if (mta.sign_cache != NULL) {
		for (i = 0; i < SIGN_CACHE_SLOTS; i++)
			sign_slot_clear(&mta.sign_cache->slot[i]);
		free(mta.sign_cache);
		mta.sign_cache = NULL;
	}
	mta_dkim_shutdown();
}

void
mta_sign_forget(struct qmsg *m)
{
	if (m->sign == SIGN_QUEUED)
		TAILQ_REMOVE(&mta.sign_wait, m, sign_entry);
	/* A job still running finds no qmsg for its id and frees itself. */
	m->sign_req = NULL;
	m->sign = SIGN_NONE;
	free(m->sig);
	m->sig = NULL;
	m->siglen = 0;
}

/*
 * Decides and, with keys, starts the signature: the From: domain, its
 * keys, a cached signature made with the same keys, else the pool.
 */
int
mta_sign_ready(struct qmsg *m)
{
	char dom[STORE_DOMAIN_MAX + 1], id[STORE_QUEUE_ID_LEN + 1];
	struct mta_dkim_keys keys;
	char *keyid;
	int rc;

	switch (m->sign) {
	case SIGN_DONE:
		return 1;
	case SIGN_QUEUED:
	case SIGN_PENDING:
		return 0;
	case SIGN_NONE:
		break;
	}
	if (mta_msg_load(m) == -1)
		return -1;
	store_queue_id_format(m->e.id, id);
	if (!mta_dkim_from_domain(m->data, m->len, dom)) {
		log_debug("%s: no From: domain: sent unsigned", id);
		m->sign = SIGN_DONE;
		return 1;
	}
	/* A store that cannot be read now defers the mail: it is not sent
	   unsigned for want of a read. */
	if ((rc = mta_dkim_keys_load(mta.st, dom, &keys)) == -1)
		return err_set(err_class(), "%s: the DKIM keys of %s could not "
		    "be read: %s", id, dom, err_msg());
	if (rc == 0) {
		log_debug("%s: no DKIM key for %s: sent unsigned", id, dom);
		m->sign = SIGN_DONE;
		return 1;
	}
	keyid = mta_dkim_keys_id(&keys);
	if (sign_cached(m, keyid)) {
		log_debug("%s: the DKIM signature of its last attempt again",
		    id);
		mta_dkim_keys_clear(&keys);
		free(keyid);
		m->sign = SIGN_DONE;
		return 1;
	}
	if (sign_submit(m, &keys, keyid) == 0)
		return 0;
	/* The pool is full: wait for a job to end, without the bytes. */
	mta_dkim_keys_clear(&keys);
	free(keyid);
	m->sign = SIGN_QUEUED;
	TAILQ_INSERT_TAIL(&mta.sign_wait, m, sign_entry);
	if (m->inflight == 0) {
		free(m->data);
		m->data = NULL;
		m->loaded = 0;
	}
	return 0;
}

/*
 * Gives m's bytes and the keys (taken over: cleared in *keys) to the
 * pool: 0 queued (SIGN_PENDING), -1 the queue is full (nothing taken).
 */
static int
sign_submit(struct qmsg *m, struct mta_dkim_keys *keys, char *keyid)
{
	struct sign_req *r;

	if (mta.sign_pool == NULL)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->qid = m->e.id;
	r->keys = *keys;
	r->keyid = keyid;
	r->data = m->data;
	r->len = m->len;
	if (worker_submit(mta.sign_pool, sign_work, sign_done, r) == NULL) {
		free(r);
		return -1;
	}
	memset(keys, 0, sizeof(*keys));
	m->data = NULL;
	m->loaded = 0;
	m->sign = SIGN_PENDING;
	m->sign_req = r;
	return 0;
}

/* On a signing thread: only the request is touched. */
static void
sign_work(void *arg)
{
	struct sign_req *r = arg;

	r->rc = mta_dkim_sign(&r->keys, r->data, r->len, &r->hdr, &r->hdrlen);
	if (r->rc == -1)
		snprintf(r->error, sizeof(r->error), "%s", err_msg());
}

static void
sign_done(void *arg, int cancelled)
{
	struct sign_req *r = arg;
	struct qmsg *m = mta_qmsg_find(r->qid);
	char id[STORE_QUEUE_ID_LEN + 1];

	if (m == NULL || m->sign_req != r) {
		/* the message went meanwhile (deleted, failed, stopped) */
		sign_req_free(r);
		if (!cancelled && !mta.stopping) {
			sign_wait_run();
			sign_rerun();
		}
		return;
	}
	m->sign_req = NULL;
	if (!m->loaded) {
		m->data = r->data;
		m->len = r->len;
		m->loaded = 1;
		r->data = NULL;
	}
	store_queue_id_format(m->e.id, id);
	if (cancelled)
		m->sign = SIGN_NONE;
	else if (r->rc == 0) {
		m->sign = SIGN_DONE;
		m->sig = r->hdr;
		m->siglen = r->hdrlen;
		r->hdr = NULL;
		sign_cache_put(m->e.id, r->keyid, m->sig, m->siglen);
		log_info("%s: DKIM-signed for %s with %zu key(s)", id,
		    r->keys.domain, r->keys.n);
	} else {
		/* A key libopendkim refuses must not hold the mail up. */
		m->sign = SIGN_DONE;
		log_warnx("%s: DKIM signing failed, sent unsigned: %s", id,
		    r->error);
	}
	sign_req_free(r);
	if (cancelled || mta.stopping)
		return;
	sign_wait_run();
	sign_rerun();
}

static void
sign_req_free(struct sign_req *r)
{
	mta_dkim_keys_clear(&r->keys);
	free(r->keyid);
	free(r->data);
	free(r->hdr);
	free(r);
}

/* Messages that waited for room, in order, while there is room. */
static void
sign_wait_run(void)
{
	struct qmsg *m;
	int rc;

	while ((m = TAILQ_FIRST(&mta.sign_wait)) != NULL &&
	    worker_pending(mta.sign_pool) < MTA_DKIM_THREADS +
	    MTA_DKIM_QUEUE) {
		TAILQ_REMOVE(&mta.sign_wait, m, sign_entry);
		m->sign = SIGN_NONE;
		/* keys are read again: one may have gone meanwhile */
		if ((rc = mta_sign_ready(m)) == 0 && m->sign == SIGN_QUEUED) {
			/* full after all: it keeps its place */
			TAILQ_REMOVE(&mta.sign_wait, m, sign_entry);
			TAILQ_INSERT_HEAD(&mta.sign_wait, m, sign_entry);
			break;
		}
		if (rc == -1) {
			/* its jobs meet the read error when given out */
			log_warnx("%s", err_msg());
		}
	}
}

/* Destinations with jobs get their connections' attention again. */
static void
sign_rerun(void)
{
	struct dest *d, *dn;

	for (d = TAILQ_FIRST(&mta.dests); d != NULL; d = dn) {
		dn = TAILQ_NEXT(d, entry);
		if (d->njobs > 0)
			mta_dest_run(d);
	}
}

/* Signature cache ------------------------------------------------------ */

static void
sign_slot_clear(struct sign_slot *s)
{
	free(s->keyid);
	free(s->sig);
	memset(s, 0, sizeof(*s));
}

static int
sign_cached(struct qmsg *m, const char *keyid)
{
	struct sign_slot *s = &mta.sign_cache->slot[m->e.id %
	    SIGN_CACHE_SLOTS];

	if (s->qid != m->e.id || strcmp(s->keyid, keyid) != 0)
		return 0;
	m->sig = xmalloc(s->siglen + 1);
	memcpy(m->sig, s->sig, s->siglen + 1);
	m->siglen = s->siglen;
	return 1;
}

static void
sign_cache_put(uint64_t qid, const char *keyid, const char *sig,
    size_t siglen)
{
	struct sign_slot *s = &mta.sign_cache->slot[qid % SIGN_CACHE_SLOTS];

	sign_slot_clear(s);
	s->qid = qid;
	s->keyid = xstrdup(keyid);
	s->sig = xmalloc(siglen + 1);
	memcpy(s->sig, sig, siglen);
	s->sig[siglen] = '\0';
	s->siglen = siglen;
}
