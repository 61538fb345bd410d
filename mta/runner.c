/*
 * runner.c - see runner.h.  Routing, destinations and connections are
 * in dest.c; what both files share is in private.h.
 *
 * Objects:
 * - qmsg: a queue entry being worked on (a copy of the store's entry,
 *   each recipient's state and result, the message bytes once needed).
 * - job: the recipients of one qmsg that share a destination, at most
 *   [mta] destination_recipients of them: one SMTP transaction.
 * - dest: where jobs go (the MX of a domain, or a nexthop host), with
 *   its addresses, waiting jobs and connections.
 * - mconn: one connection of a dest (an mta_client), trying the dest's
 *   addresses in order until one greets us.
 * Outcomes are queued as ops and committed together within MTA_COMMIT_MS
 * (commit_cb).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "deliver/dsn.h"
#include "mta/private.h"
#include "mta/runner.h"
#include "store/message.h"
#include "store/queue.h"
#include "store/store.h"

struct mta_state mta;

static void	 qmsg_add(struct qmsg *);
static void	 qmsg_free(struct qmsg *);
static void	 poll_cb(evutil_socket_t, short, void *);
static void	 scan(void);
static int	 scan_one(const struct store_queue_entry *, void *);
static void	 job_add(struct qmsg *, struct dest *, size_t *, size_t);
static void	 msg_finish(struct qmsg *);
static void	 op_push(struct op *);
static void	 commit_cb(evutil_socket_t, short, void *);
static int	 commit_txn(struct store_txn *, void *);
static void	 log_rcpt(const struct qmsg *, size_t, const char *relay,
		    const char *status);
static void	 orig_to(const struct store_queue_rcpt *, char *, size_t);

int64_t
mta_now(void)
{
	return (int64_t)store_now();
}

unsigned
mta_runner_backoff(const struct config *cfg, unsigned attempts)
{
	uint64_t t = cfg->queue_retry_min;

	while (attempts > 1 && t < cfg->queue_retry_max) {
		t *= 2;
		attempts--;
	}
	return t > cfg->queue_retry_max ? cfg->queue_retry_max : (unsigned)t;
}

/* The in-flight set ---------------------------------------------------- */

struct qmsg *
mta_qmsg_find(uint64_t id)
{
	struct qmsg *m;

	for (m = mta.hash[id % HASH_SIZE]; m != NULL; m = m->hnext)
		if (m->e.id == id)
			return m;
	return NULL;
}

static void
qmsg_add(struct qmsg *m)
{
	m->hnext = mta.hash[m->e.id % HASH_SIZE];
	mta.hash[m->e.id % HASH_SIZE] = m;
	mta.nactive++;
	mta.nactive_rcpts += m->e.nrcpts;
}

static void
qmsg_free(struct qmsg *m)
{
	struct qmsg **pp;

	for (pp = &mta.hash[m->e.id % HASH_SIZE]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			mta.nactive--;
			mta.nactive_rcpts -= m->e.nrcpts;
			break;
		}
	mta_sign_forget(m);
	store_queue_entry_clear(&m->e);
	free(m->state);
	free(m->relay);
	free(m->relayed);
	free(m->data);
	free(m);
}

/* Scanning the queue --------------------------------------------------- */

struct scan_ctx {
	struct store_txn *txn;
	int64_t		 now;
	struct qmsg	**found;
	struct route	**routes;	/* per found message, per rcpt */
	size_t		 n;
	size_t		 nrcpts;	/* of the found messages */
	int64_t		 earliest;
};

static int
gen_txn(struct store_txn *t, void *ctx)
{
	return store_queue_generation(t, ctx);
}

static void
poll_cb(evutil_socket_t fd, short ev, void *arg)
{
	uint64_t gen = 0;
	int64_t now = mta_now();

	(void)fd;
	(void)ev;
	(void)arg;
	if (mta.stopping)
		return;
	if (store_read(mta.st, gen_txn, &gen) == -1) {
		log_warnx("queue: %s", err_msg());
		return;
	}
	if (!mta.gen_known || gen != mta.gen || (mta.earliest != 0 &&
	    now >= mta.earliest) || now - mta.last_scan >= MTA_RESCAN_S) {
		mta.gen = gen;
		mta.gen_known = 1;
		scan();
	}
	mta_dest_gc();
}

static int
scan_one(const struct store_queue_entry *e, void *arg)
{
	struct scan_ctx *sc = arg;
	struct qmsg *m;
	size_t i;

	if (e->flags & STORE_QF_HOLD)
		return 0;
	if (mta_qmsg_find(e->id) != NULL)
		return 0;
	if (e->next_try > sc->now) {
		if (sc->earliest == 0 || e->next_try < sc->earliest)
			sc->earliest = e->next_try;
		return 0;
	}
	if (mta.nactive + sc->n >= MTA_ACTIVE_MAX ||
	    mta.nactive_rcpts + sc->nrcpts + e->nrcpts > MTA_ACTIVE_RCPTS_MAX) {
		if (sc->earliest == 0 || sc->now + 1 < sc->earliest)
			sc->earliest = sc->now + 1;
		return 0;
	}
	m = xcalloc(1, sizeof(*m));
	m->e = *e;
	m->e.rcpts = xreallocarray(NULL, e->nrcpts, sizeof(*e->rcpts));
	memcpy(m->e.rcpts, e->rcpts, e->nrcpts * sizeof(*e->rcpts));
	m->state = xcalloc(e->nrcpts, sizeof(*m->state));
	m->relay = xcalloc(e->nrcpts, sizeof(*m->relay));
	m->relayed = xcalloc(e->nrcpts, sizeof(*m->relayed));
	/* MAIL FROM with a BATV tag; notices still go to e.sender */
	if (deliver_batv_sender(sc->txn, &mta.dcf, e->sender,
	    m->batv_sender, sizeof(m->batv_sender)) == -1) {
		qmsg_free(m);
		return -1;
	}
	sc->found = xreallocarray(sc->found, sc->n + 1, sizeof(*sc->found));
	sc->routes = xreallocarray(sc->routes, sc->n + 1,
	    sizeof(*sc->routes));
	sc->routes[sc->n] = xcalloc(e->nrcpts, sizeof(struct route));
	for (i = 0; i < e->nrcpts; i++)
		if (mta_route_of(sc->txn, e->sender, e->rcpts[i].addr,
		    &sc->routes[sc->n][i]) == -1) {
			free(sc->routes[sc->n]);
			qmsg_free(m);
			return -1;
		}
	sc->found[sc->n++] = m;
	sc->nrcpts += e->nrcpts;
	return 0;
}

static int
scan_txn(struct store_txn *t, void *arg)
{
	struct scan_ctx *sc = arg;

	sc->txn = t;
	return store_queue_list(t, scan_one, sc);
}

static void
scan_ctx_free(struct scan_ctx *sc, int keep)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		if (!keep)
			qmsg_free(sc->found[i]);
		free(sc->routes[i]);
	}
	free(sc->found);
	free(sc->routes);
	memset(sc, 0, sizeof(*sc));
}

/*
 * Reads the due entries and hands their recipients to destinations.
 * The read transaction only copies; jobs are made after it ended.
 */
static void
scan(void)
{
	struct scan_ctx sc;
	struct qmsg *m;
	struct route *r;
	size_t i, j, k, *idx;
	struct dest *d, *dn;

	memset(&sc, 0, sizeof(sc));
	sc.now = mta_now();
	mta.last_scan = sc.now;
	if (store_read(mta.st, scan_txn, &sc) == -1) {
		log_warnx("queue scan: %s", err_msg());
		scan_ctx_free(&sc, 0);
		return;
	}
	mta.earliest = sc.earliest;
	for (i = 0; i < sc.n; i++) {
		m = sc.found[i];
		qmsg_add(m);
		idx = xcalloc(m->e.nrcpts, sizeof(*idx));
		/* Group the recipients by destination, in order. */
		for (j = 0; j < m->e.nrcpts; j++) {
			if (m->state[j] != R_WAIT || idx[j] == SIZE_MAX)
				continue;
			if (m->e.rcpts[j].last_code >= 500) {
				/* failed for good before; its notice could not
				   be sent then: only the notice is tried */
				m->state[j] = R_FAILED;
				continue;
			}
			r = &sc.routes[i][j];
			if (r->error[0] != '\0') {
				m->state[j] = R_FAILED;
				m->e.rcpts[j].last_code = 554;
				snprintf(m->e.rcpts[j].last_reply,
				    sizeof(m->e.rcpts[j].last_reply),
				    "5.4.4 %s", r->error);
				log_rcpt(m, j, "none", "bounced");
				continue;
			}
			{
				size_t n = 0, *grp = xcalloc(m->e.nrcpts,
				    sizeof(*grp));
				char key[1024], key2[1024];

				mta_route_key(r, key, sizeof(key));
				for (k = j; k < m->e.nrcpts; k++) {
					if (m->state[k] != R_WAIT ||
					    idx[k] == SIZE_MAX ||
					    sc.routes[i][k].error[0] != '\0')
						continue;
					mta_route_key(&sc.routes[i][k], key2,
					    sizeof(key2));
					if (strcmp(key, key2) != 0)
						continue;
					grp[n++] = k;
					idx[k] = SIZE_MAX;
				}
				d = mta_dest_get(r);
				for (k = 0; k < n; k += mta.cfg->mta_dest_recipients)
					job_add(m, d, grp + k, n - k <
					    mta.cfg->mta_dest_recipients ? n - k :
					    mta.cfg->mta_dest_recipients);
				free(grp);
			}
		}
		free(idx);
		if (m->njobs == 0)
			msg_finish(m);
	}
	scan_ctx_free(&sc, 1);
	for (d = TAILQ_FIRST(&mta.dests); d != NULL; d = dn) {
		dn = TAILQ_NEXT(d, entry);
		if (d->njobs > 0)
			mta_dest_run(d);
	}
}

/* Jobs ----------------------------------------------------------------- */

static void
job_add(struct qmsg *m, struct dest *d, size_t *idx, size_t n)
{
	struct job *j;

	j = xcalloc(1, sizeof(*j));
	j->m = m;
	j->d = d;
	j->n = n;
	j->idx = xreallocarray(NULL, n, sizeof(*j->idx));
	memcpy(j->idx, idx, n * sizeof(*idx));
	m->njobs++;
	TAILQ_INSERT_TAIL(&d->jobs, j, entry);
	d->njobs++;
}

/*
 * The client's recipients of a job, made when it is sent or fails (a
 * waiting job holds only indexes: each result has room for a whole
 * reply).
 */
static void
job_rcpts(struct job *j)
{
	size_t i;

	if (j->cr != NULL)
		return;
	j->cr = xcalloc(j->n, sizeof(*j->cr));
	for (i = 0; i < j->n; i++) {
		j->cr[i].addr = j->m->e.rcpts[j->idx[i]].addr;
		j->cr[i].orcpt = j->m->e.rcpts[j->idx[i]].orcpt;
		j->cr[i].notify = j->m->e.rcpts[j->idx[i]].notify;
	}
}

void
mta_job_fail(struct job *j, int code, const char *enh, const char *text,
    const char *relay)
{
	size_t i;

	job_rcpts(j);
	for (i = 0; i < j->n; i++) {
		j->cr[i].code = code;
		snprintf(j->cr[i].enhanced, sizeof(j->cr[i].enhanced), "%s",
		    enh);
		snprintf(j->cr[i].reply, sizeof(j->cr[i].reply), "%s", text);
		j->cr[i].remote = 0;
	}
	mta_job_done(j, relay, 0);
}

void
mta_job_free(struct job *j)
{
	free(j->idx);
	free(j->cr);
	free(j);
}

static int
body_txn(struct store_txn *t, void *arg)
{
	struct qmsg *m = arg;

	return store_body_read(t, m->e.body, &m->data, &m->len);
}

int
mta_msg_load(struct qmsg *m)
{
	int rc;

	if (m->loaded)
		return 0;
	free(m->data);
	m->data = NULL;
	if ((rc = store_read(mta.st, body_txn, m)) == -1)
		return -1;
	if (rc == 0)
		return err_set(ERR_CORRUPT, "queue entry %016" PRIX64 ": its "
		    "message is missing from the store", m->e.id);
	m->loaded = 1;
	return 0;
}

int
mta_job_load(struct job *j)
{
	struct qmsg *m = j->m;
	const unsigned char *p;
	size_t i;
	int eight = 0;

	job_rcpts(j);
	if (mta_msg_load(m) == -1)
		return -1;
	for (p = m->data, i = 0; i < m->len && !eight; i++)
		eight = p[i] >= 0x80;
	memset(&j->txn, 0, sizeof(j->txn));
	j->txn.sender = m->batv_sender[0] != '\0' ? m->batv_sender :
	    m->e.sender;
	j->txn.envid = m->e.envid;
	j->txn.ret = (enum mta_ret)m->e.ret;
	j->txn.smtputf8 = (m->e.flags & STORE_QF_SMTPUTF8) != 0;
	j->txn.eightbit = eight || (m->e.flags & STORE_QF_8BITMIME) != 0;
	j->txn.data = m->data;
	j->txn.len = m->len;
	j->txn.prefix = m->sig;
	j->txn.prefixlen = m->siglen;
	j->txn.rcpts = j->cr;
	j->txn.nrcpts = j->n;
	return 0;
}

/*
 * A job's recipients have their results: record them, queue the
 * delivered ones for removal, finish the message after its last job.
 */
void
mta_job_done(struct job *j, const char *relay, int has_dsn)
{
	struct qmsg *m = j->m;
	struct store_queue_rcpt *qr;
	struct mta_client_rcpt *cr;
	struct op *op = NULL;
	size_t i, k;

	for (i = 0; i < j->n; i++) {
		k = j->idx[i];
		cr = &j->cr[i];
		qr = &m->e.rcpts[k];
		snprintf(m->relay[k], sizeof(m->relay[k]), "%s", relay);
		if (cr->code == 0) {
			cr->code = 451;
			snprintf(cr->enhanced, sizeof(cr->enhanced), "4.3.0");
			snprintf(cr->reply, sizeof(cr->reply), "no result "
			    "for this recipient");
		}
		qr->last_code = (uint16_t)cr->code;
		if (cr->enhanced[0] != '\0' && strncmp(cr->reply,
		    cr->enhanced, strlen(cr->enhanced)) != 0)
			snprintf(qr->last_reply, sizeof(qr->last_reply),
			    "%.16s %.490s", cr->enhanced, cr->reply);
		else
			snprintf(qr->last_reply, sizeof(qr->last_reply),
			    "%.512s", cr->reply);
		if (cr->code >= 200 && cr->code < 300) {
			m->state[k] = R_SENT;
			if ((qr->notify & STORE_NOTIFY_SUCCESS) && !has_dsn)
				m->relayed[k] = 1;
			if (op == NULL) {
				op = xcalloc(1, sizeof(*op));
				op->kind = OP_SENT;
				op->m = m;
				op->addrs = xcalloc(j->n, sizeof(*op->addrs));
			}
			snprintf(op->addrs[op->naddrs++], sizeof(*op->addrs),
			    "%s", qr->addr);
			log_rcpt(m, k, relay, "sent");
		} else if (cr->code >= 500) {
			m->state[k] = R_FAILED;
			log_rcpt(m, k, relay, "bounced");
		} else {
			m->state[k] = R_DEFERRED;
			log_rcpt(m, k, relay, "deferred");
		}
	}
	/* The message's last job: its final update drops them anyway. */
	if (op != NULL && m->njobs > 1)
		op_push(op);
	else if (op != NULL) {
		free(op->addrs);
		free(op);
	}
	if (j->sent && --m->inflight == 0) {
		/* No copy of the bytes waits while other destinations do. */
		free(m->data);
		m->data = NULL;
		m->loaded = 0;
	}
	mta_job_free(j);
	if (--m->njobs == 0)
		msg_finish(m);
}

static void
log_rcpt(const struct qmsg *m, size_t k, const char *relay,
    const char *status)
{
	const struct store_queue_rcpt *qr = &m->e.rcpts[k];
	char id[STORE_QUEUE_ID_LEN + 1];
	char reply[STORE_QUEUE_REPLY_MAX + 1];
	char orig[STORE_QUEUE_ORCPT_MAX + 16];
	size_t i;

	/* one line per recipient, as Postfix's smtp client logs */
	snprintf(reply, sizeof(reply), "%s", qr->last_reply);
	for (i = 0; reply[i] != '\0'; i++)
		if (reply[i] == '\n' || reply[i] == '\r')
			reply[i] = ' ';
	orig_to(qr, orig, sizeof(orig));
	log_info("%s: to=<%s>%s, relay=%s, delay=%" PRId64 ", attempts=%u, "
	    "code=%u, status=%s (%s)", store_queue_id_format(m->e.id, id),
	    qr->addr, orig, relay, mta_now() - m->e.queued,
	    m->e.attempts + 1, qr->last_code, status, reply);
}

/*
 * ", orig_to=<alias>" when the recipient's ORCPT (RFC 3461: "rfc822;"
 * and the address in xtext; deliver/ writes the alias a forward came
 * from there) names another address than the one delivered to; else "".
 */
static void
orig_to(const struct store_queue_rcpt *qr, char *buf, size_t size)
{
	char addr[STORE_QUEUE_ORCPT_MAX + 1];
	const char *p;
	size_t n = 0;
	unsigned v;

	buf[0] = '\0';
	if (strncasecmp(qr->orcpt, "rfc822;", 7) != 0)
		return;
	for (p = qr->orcpt + 7; *p != '\0' && n + 1 < sizeof(addr); p++) {
		if (*p == '+' && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2]) &&
		    sscanf(p + 1, "%2x", &v) == 1) {
			addr[n++] = (char)v;
			p += 2;
		} else
			addr[n++] = *p;
	}
	addr[n] = '\0';
	/* only printable text goes into a log line */
	for (p = addr; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			return;
	if (n > 0 && strcasecmp(addr, qr->addr) != 0)
		snprintf(buf, size, ", orig_to=<%s>", addr);
}

/* Finishing a message: notices, then the queue update ------------------- */

/* The status code of a result ("5.1.1"), from its reply or its code. */
static void
rcpt_status(const struct store_queue_rcpt *qr, char *buf, size_t size)
{
	const char *s = qr->last_reply;

	if ((s[0] == '2' || s[0] == '4' || s[0] == '5') && s[1] == '.' &&
	    isdigit((unsigned char)s[2])) {
		size_t n = strcspn(s, " ");

		snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), s);
		return;
	}
	snprintf(buf, size, "%c.0.0", qr->last_code >= 500 ? '5' : '4');
}

/*
 * Sends one notice about m's recipients in state st (action act).
 * 1 sent or nothing to send, 0 could not (try again later).
 */
static int
msg_notice(struct qmsg *m, enum rstate st, int relayed_only,
    enum dsn_action act)
{
	struct dsn_input in;
	struct dsn_rcpt *dr;
	char (*status)[16], (*reply)[STORE_QUEUE_REPLY_MAX + 8];
	char (*mtaname)[256];
	char id[STORE_QUEUE_ID_LEN + 1], nid[STORE_QUEUE_ID_LEN + 1];
	uint64_t notice_id = 0;
	size_t i, n = 0;
	int rc;

	dr = xcalloc(m->e.nrcpts, sizeof(*dr));
	status = xcalloc(m->e.nrcpts, sizeof(*status));
	reply = xcalloc(m->e.nrcpts, sizeof(*reply));
	mtaname = xcalloc(m->e.nrcpts, sizeof(*mtaname));
	for (i = 0; i < m->e.nrcpts; i++) {
		if (m->state[i] != st || (relayed_only && !m->relayed[i]))
			continue;
		/* A delay notice is about what is still being tried. */
		if (act == DSN_DELAYED && m->e.rcpts[i].last_code >= 500)
			continue;
		rcpt_status(&m->e.rcpts[i], status[n], sizeof(status[n]));
		if (m->e.rcpts[i].last_code != 0)
			snprintf(reply[n], sizeof(reply[n]), "%u %s",
			    m->e.rcpts[i].last_code,
			    m->e.rcpts[i].last_reply);
		dr[n].addr = m->e.rcpts[i].addr;
		dr[n].orcpt = m->e.rcpts[i].orcpt;
		dr[n].notify = m->e.rcpts[i].notify;
		dr[n].action = act;
		dr[n].status = act == DSN_RELAYED ? "2.0.0" : status[n];
		/* Remote-MTA names the host (RFC 3464 2.3.5), not the
		   "host[address]:port" of the logs. */
		snprintf(mtaname[n], sizeof(mtaname[n]), "%.*s",
		    (int)strcspn(m->relay[i], "["), m->relay[i]);
		dr[n].remote_mta = strcmp(mtaname[n], "none") != 0 &&
		    mtaname[n][0] != '\0' ? mtaname[n] : NULL;
		dr[n].reply = reply[n][0] != '\0' ? reply[n] : NULL;
		dr[n].last_attempt = mta_now();
		if (act == DSN_DELAYED)
			dr[n].retry_until = m->e.queued +
			    (int64_t)mta.cfg->queue_max_age;
		n++;
	}
	rc = 1;
	if (n > 0) {
		if (mta_msg_load(m) == -1)
			log_warnx("%s: notice without the original: %s",
			    store_queue_id_format(m->e.id, id), err_msg());
		memset(&in, 0, sizeof(in));
		in.hostname = mta.cfg->hostname;
		in.sender = m->e.sender;
		in.envid = m->e.envid[0] != '\0' ? m->e.envid : NULL;
		in.ret = (enum dsn_ret)m->e.ret;
		in.queue_id = m->e.id;
		in.arrival = m->e.queued;
		in.is_notice = (m->e.flags & STORE_QF_NOTICE) != 0;
		in.rcpts = dr;
		in.nrcpts = n;
		in.msg = m->loaded ? m->data : NULL;
		in.msglen = m->loaded ? m->len : 0;
		switch (deliver_notice(mta.st, &mta.dcf, &in, &notice_id)) {
		case 1:
			log_info("%s: sender %s notice: %s",
			    store_queue_id_format(m->e.id, id),
			    act == DSN_FAILED ? "non-delivery" : act ==
			    DSN_DELAYED ? "delay" : "delivery",
			    store_queue_id_format(notice_id, nid));
			break;
		case 0:
			if (act == DSN_FAILED)
				log_info("%s: no non-delivery notice (%s)",
				    store_queue_id_format(m->e.id, id),
				    m->e.sender[0] == '\0' || in.is_notice ?
				    "the message is a notice itself" :
				    "NOTIFY does not ask for one");
			break;
		default:
			log_warnx("%s: notice to <%s> failed: %s",
			    store_queue_id_format(m->e.id, id),
			    m->e.sender, err_msg());
			rc = err_class() == ERR_TEMP ? 0 : 1;
			break;
		}
	}
	free(dr);
	free(status);
	free(reply);
	free(mtaname);
	return rc;
}

static void
msg_finish(struct qmsg *m)
{
	struct op *op;
	int64_t now = mta_now();
	size_t i, ndef = 0, nfail = 0;
	char id[STORE_QUEUE_ID_LEN + 1];

	for (i = 0; i < m->e.nrcpts; i++) {
		if (m->state[i] == R_WAIT)
			m->state[i] = R_DEFERRED;
		ndef += m->state[i] == R_DEFERRED;
	}
	/* Too old: what is left bounces with its last reply. */
	if (ndef > 0 && mta.cfg->queue_max_age > 0 &&
	    now - m->e.queued >= (int64_t)mta.cfg->queue_max_age) {
		for (i = 0; i < m->e.nrcpts; i++) {
			char last[STORE_QUEUE_REPLY_MAX + 1];

			if (m->state[i] != R_DEFERRED)
				continue;
			m->state[i] = R_FAILED;
			snprintf(last, sizeof(last), "%s",
			    m->e.rcpts[i].last_reply);
			snprintf(m->e.rcpts[i].last_reply,
			    sizeof(m->e.rcpts[i].last_reply), "5.4.7 "
			    "delivery time expired after %u days; the last "
			    "attempt said: %.400s", mta.cfg->queue_max_age /
			    86400, last);
			m->e.rcpts[i].last_code = 554;
			log_rcpt(m, i, m->relay[i][0] != '\0' ? m->relay[i] :
			    "none", "expired");
		}
		ndef = 0;
	}
	for (i = 0; i < m->e.nrcpts; i++)
		nfail += m->state[i] == R_FAILED;
	if (nfail > 0 && !msg_notice(m, R_FAILED, 0, DSN_FAILED)) {
		if (((int64_t)mta.cfg->queue_max_age > 0 && now - m->e.queued >= 2 * (int64_t)mta.cfg->queue_max_age))
			log_warnx("%s: the non-delivery notice to <%s> could "
			    "not be delivered for %" PRId64 " s; dropped",
			    store_queue_id_format(m->e.id, id), m->e.sender,
			    now - m->e.queued);
		else {
			/* Kept with their 5xx: only the notice is tried
			   again, the message is never sent again. */
			for (i = 0; i < m->e.nrcpts; i++)
				if (m->state[i] == R_FAILED)
					m->state[i] = R_DEFERRED;
			ndef += nfail;
		}
	}
	for (i = 0; i < m->e.nrcpts; i++)
		if (m->relayed[i]) {
			(void)msg_notice(m, R_SENT, 1, DSN_RELAYED);
			break;
		}
	if (ndef > 0 && mta.cfg->queue_delay_warning > 0 &&
	    !(m->e.flags & STORE_QF_WARNED) &&
	    now - m->e.queued >= (int64_t)mta.cfg->queue_delay_warning) {
		if (msg_notice(m, R_DEFERRED, 0, DSN_DELAYED))
			m->e.flags |= STORE_QF_WARNED;
		log_info("%s: delay notice due after %" PRId64 " s",
		    store_queue_id_format(m->e.id, id), now - m->e.queued);
	}
	free(m->data);
	m->data = NULL;
	m->loaded = 0;
	op = xcalloc(1, sizeof(*op));
	op->kind = OP_FINAL;
	op->m = m;
	op_push(op);
}

static void
op_push(struct op *op)
{
	struct timeval tv = { 0, MTA_COMMIT_MS * 1000 };

	*mta.opstail = op;
	mta.opstail = &op->next;
	if (++mta.nops >= MTA_COMMIT_OPS)
		event_active(mta.commit_ev, EV_TIMEOUT, 0);
	else if (!evtimer_pending(mta.commit_ev, NULL))
		evtimer_add(mta.commit_ev, &tv);
}

/* Applies one op to the stored entry (the body may run again). */
static int
op_apply(struct store_txn *t, struct op *op)
{
	struct store_queue_entry e;
	struct qmsg *m = op->m;
	size_t i, j, keep = 0;
	int rc, drop;

	if ((rc = store_queue_get(t, m->e.id, &e)) != 1)
		return rc;	/* removed meanwhile (queue del) */
	for (i = 0; i < e.nrcpts; i++) {
		drop = 0;
		if (op->kind == OP_SENT) {
			for (j = 0; j < op->naddrs; j++)
				if (strcmp(op->addrs[j], e.rcpts[i].addr) == 0)
					drop = 1;
		} else {
			for (j = 0; j < m->e.nrcpts; j++) {
				if (strcmp(m->e.rcpts[j].addr,
				    e.rcpts[i].addr) != 0)
					continue;
				if (m->state[j] == R_SENT ||
				    m->state[j] == R_FAILED)
					drop = 1;
				else if (m->state[j] == R_DEFERRED) {
					e.rcpts[i].last_code =
					    m->e.rcpts[j].last_code;
					memcpy(e.rcpts[i].last_reply,
					    m->e.rcpts[j].last_reply,
					    sizeof(e.rcpts[i].last_reply));
				}
				break;
			}
		}
		if (!drop)
			e.rcpts[keep++] = e.rcpts[i];
	}
	e.nrcpts = keep;
	if (op->kind == OP_FINAL) {
		unsigned bad = 0;

		/* Recipients remote servers refused for good count toward
		   the sender's invalid-per-day (deliver/policy.c). */
		for (j = 0; j < m->e.nrcpts; j++)
			bad += m->state[j] == R_FAILED &&
			    m->relay[j][0] != '\0' &&
			    strcmp(m->relay[j], "none") != 0 &&
			    m->e.rcpts[j].last_code >= 500;
		if (bad > 0 && !(e.flags & STORE_QF_NOTICE)) {
			struct deliver_policy *p = op->locked != NULL ?
			    op->locked : xcalloc(1, sizeof(*p));

			op->locked = p;
			if ((rc = deliver_policy_remote_failed(t, e.sender,
			    bad, p)) == -1) {
				store_queue_entry_clear(&e);
				return -1;
			}
		}
		e.attempts++;
		e.next_try = mta_now() + (int64_t)mta_runner_backoff(mta.cfg,
		    e.attempts);
		e.flags |= m->e.flags & STORE_QF_WARNED;
		/* No rescan follows our own commit: remember when it is due. */
		if (e.nrcpts > 0 && (mta.earliest == 0 ||
		    e.next_try < mta.earliest))
			mta.earliest = e.next_try;
	}
	rc = store_queue_put(t, &e);
	store_queue_entry_clear(&e);
	return rc == -1 ? -1 : 0;
}

/* The queue generation before and after the agent's own commit. */
struct commit_gen {
	uint64_t	before, after;
};

static int
commit_txn(struct store_txn *t, void *arg)
{
	struct commit_gen *g = arg;
	struct op *op;

	if (store_queue_generation(t, &g->before) == -1)
		return -1;
	for (op = mta.ops; op != NULL; op = op->next)
		if (op_apply(t, op) == -1)
			return -1;
	return store_queue_generation(t, &g->after) == -1 ? -1 : 0;
}

static void
commit_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct op *op, *next;
	struct timeval tv = { 1, 0 };
	struct commit_gen g = { 0, 0 };

	(void)fd;
	(void)ev;
	(void)arg;
	if (mta.ops == NULL)
		return;
	if (store_write(mta.st, commit_txn, &g) == -1) {
		log_warnx("queue update failed (tried again in 1 s): %s",
		    err_msg());
		evtimer_add(mta.commit_ev, &tv);
		return;
	}
	for (op = mta.ops; op != NULL; op = next) {
		next = op->next;
		if (op->locked != NULL && op->locked->locked)
			deliver_policy_notify(mta.st, &mta.dcf, op->locked);
		free(op->locked);
		if (op->kind == OP_FINAL)
			qmsg_free(op->m);
		free(op->addrs);
		free(op);
	}
	mta.ops = NULL;
	mta.opstail = &mta.ops;
	mta.nops = 0;
	evtimer_del(mta.commit_ev);
	/* Our own changes need no rescan; anybody else's since the last
	   scan still do (the generation had moved before we wrote). */
	if (mta.gen_known && g.before == mta.gen)
		mta.gen = g.after;
}

/* Start and stop ------------------------------------------------------- */

int
mta_runner_start(struct event_base *base, struct store *st,
    const struct config *cfg)
{
	struct timeval tv = { 0, MTA_POLL_MS * 1000 };

	memset(&mta, 0, sizeof(mta));
	mta.base = base;
	mta.st = st;
	mta.cfg = cfg;
	/* Notices to forwarded mail's senders (SRS0=...@ours) need the
	   secret to find their way back. */
	if (deliver_config_init(&mta.dcf, st, cfg) == -1)
		return err_set(err_class(), "[srs]/[batv] secrets: %s",
		    err_msg());
	mta.ops = NULL;
	mta.opstail = &mta.ops;
	TAILQ_INIT(&mta.dests);
	if ((mta.ssl = mta_client_ssl_ctx(cfg->mta_tls_ca_file[0] != '\0' ?
	    cfg->mta_tls_ca_file : NULL)) == NULL)
		return -1;
	if (mta_dns_new(base, cfg, &mta.dns) == -1)
		return -1;
	if (mta_sign_start(base) == -1)
		return -1;
	mta.poll_ev = event_new(base, -1, EV_PERSIST, poll_cb, NULL);
	mta.commit_ev = evtimer_new(base, commit_cb, NULL);
	event_add(mta.poll_ev, &tv);
	event_active(mta.poll_ev, EV_TIMEOUT, 0);
	return 0;
}

void
mta_runner_stop(void)
{
	size_t i;

	mta.stopping = 1;
	/* What finished is written; what is in flight is sent again. */
	commit_cb(-1, 0, NULL);
	mta_sign_stop();
	mta_dest_free_all();
	for (i = 0; i < HASH_SIZE; i++)
		while (mta.hash[i] != NULL)
			qmsg_free(mta.hash[i]);
	mta_dns_free(&mta.dns);
	if (mta.poll_ev != NULL)
		event_free(mta.poll_ev);
	if (mta.commit_ev != NULL)
		event_free(mta.commit_ev);
	SSL_CTX_free(mta.ssl);
	memset(&mta, 0, sizeof(mta));
}
