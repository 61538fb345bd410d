/*
 * commit.c - what happens to a finished message of an SMTP or LMTP
 * session: its recipients' locks are taken and, when a filter is to
 * run, it runs on the filter pool's threads (deliver_begin(),
 * deliver_filter_job()); then the messages ready are handed as one group
 * to the store writer thread, which hashes, compresses and commits them
 * in one transaction (deliver_group_commit()), and each session is
 * answered once that commit is synced.  A message whose recipients'
 * locks are held is retried, in the order the messages came, backing
 * off.
 *
 * Where the time went (issue 13): the loop used to run each group's
 * transaction itself, and its commit syncs the new pages (fdatasync,
 * 1.3-2.3 ms here under load): no session was read, parsed or answered
 * meanwhile, and no new group formed.  Now three threads form a pipeline
 * of at most one group each:
 *
 *	loop     reads, parses, takes locks, gathers group N+2 (pend_*)
 *	writer   begins, fills and commits group N+1 (MDB_NOMETASYNC: its
 *	         pages are synced before the meta page that names them,
 *	         so the store stays whole on power loss)
 *	sync     fdatasync for group N (sync_*): its sessions get 250
 *
 * The data sync of group N+1's commit also takes group N's meta page to
 * disk (it was written before): when N+1 put mail in a mailbox, N's
 * sessions are answered then, and the sync thread runs only when no
 * commit follows at once (or the one that followed wrote nothing).  One
 * fdatasync per group instead of two under load: loads A, C and L of
 * bench_delivery.py went from 1,921 / 2,335 / 2,189 to 2,210 / 3,745 /
 * 3,010 msgs/s (medians of 3 alternating runs, load 3-4).
 *
 * The write transaction begins and ends on the writer thread (LMDB's
 * write lock belongs to the thread that took it); the loop meanwhile
 * only reads the store (MDB_NOTLS snapshots) and writes what it must
 * (locks, an over-quota mark), which waits for the writer's commit: the
 * store serialises a process's write transactions (store.c, write_mu).
 * What the loop keeps to itself: the delivery locks held (stage.c) and
 * the sessions; a session whose connection goes while its group commits
 * is freed when the writer is done (orphan).  No session is answered 250
 * before a sync that began after its commit returned has succeeded: kill
 * -9 at any moment loses nothing acknowledged (the commit is in the page
 * cache once it returns) and neither does a power cut (it is on disk);
 * a failed commit or sync answers 451.  A user's messages keep their
 * order: groups commit one after the other, in the order they formed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/worker.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "store/slot.h"
#include "store/store.h"
#include "smtpd/session.h"
#include "smtpd/sessionpriv.h"

static void	group_events(void);
static void	group_add(struct smtp_session *);
static void	session_deliver(struct smtp_session *);
static void	filter_slot_release(struct smtp_session *);
static void	session_busy(struct smtp_session *, const struct timeval *);
static void	group_commit_cb(evutil_socket_t, short, void *);
static void	writer_work(void *);
static void	writer_done(void *, int);
static void	group_retry_cb(evutil_socket_t, short, void *);
static void	busy_insert(struct smtp_session *);
static void	session_answer(struct smtp_session *);
static int	session_stored(const struct smtp_session *);
static void	sync_add(struct smtp_session *);
static void	sync_start(void);
static void	sync_work(void *);
static void	sync_done(void *, int);
static void	sync_finish(struct sync_wait *, int);
static void	sync_answer(struct sync_wait *);
static void	sync_covered(void);
static int	group_stored(const struct commit_group *);

/*
 * Sessions whose group was committed and who wait for a sync: the one the
 * thread runs (sync_running) and the one that gathers the sessions of
 * later commits meanwhile (sync_next).
 */
struct sync_wait {
	struct smtp_session	**s;		/* NULL: the session went */
	size_t			  n, cap;
	int			  fd;		/* the store's data file */
	int			  error;	/* errno of fdatasync, or 0 */
	struct worker_job	 *job;
};
static struct sync_wait *sync_running, *sync_next;

/*
 * The group the writer thread commits: at most one at a time, while the
 * loop reads, parses and gathers the next one (pend_*).
 */
struct commit_group {
	struct smtp_server	*srv;
	struct smtp_session	*s[SMTP_GROUP_MAX];
	struct deliver_job	*jobs[SMTP_GROUP_MAX];
	size_t			 n;
	struct deliver_group	*dg;
	struct worker_job	*wjob;
	int			 rc;
	char			 err[256];	/* the thread's err_msg() */
};
static struct commit_group *committing;

/*
 * Group commit: sessions whose message is ready (pend_*), and those whose
 * recipients' locks were held elsewhere (busy_list, retried on a timer).
 */
static struct smtp_session *pend_head, *pend_tail, *busy_list;

#define FILTER_SLOT	"smtpd-filter"
static struct event *commit_ev, *retry_ev;
static int retry_kick;		/* retry_ev: locks of ours came free */
static struct smtp_server *group_srv;

/* The message is complete: wait (paused) for the next group commit. */
void
session_submit(struct smtp_session *s)
{
	s->job.sender = s->sender;
	s->job.data = s->mdata;
	s->job.len = s->mlen;
	s->job.rcpts = s->rcpts;
	s->job.nrcpts = s->nrcpts;
	s->job.all_or_nothing = !s->lmtp;
	s->job.bcc = 1;		/* the automatic BCC rules apply */
	s->job.policy = s->policed ? &s->policy : NULL;
	s->job.queue_id = s->queue_id;
	s->job.envid = s->mail.envid[0] != '\0' ? s->mail.envid : NULL;
	s->job.ret = (int)s->mail.ret;
	s->job.qflags = (s->mail.body == SMTP_BODY_8BITMIME ?
	    STORE_QF_8BITMIME : 0) | (s->mail.smtputf8 ? STORE_QF_SMTPUTF8 : 0);
	timerclear(&s->busy_since);
	s->busy_tries = 0;
	session_enter_state(s, SMTP_S_WAIT);
	conn_pause(s->conn);
	session_deliver(s);
}

/* The job's filter slot (session_deliver()) is given back. */
static void
filter_slot_release(struct smtp_session *s)
{
	if (!s->fslot)
		return;
	s->fslot = 0;
	if (store_slot_release(s->srv->store, FILTER_SLOT) == -1)
		log_warnx("conn %lu: filter slot: %s", s->id, err_msg());
}

/* On a filter thread: only the job's memory. */
static void
filter_work(void *arg)
{
	struct smtp_session *s = arg;

	deliver_filter_job(&s->job);
}

static void
filter_done(void *arg, int cancelled)
{
	struct smtp_session *s = arg;

	s->fjob = NULL;
	filter_slot_release(s);
	if (s->orphan) {
		session_free(s);	/* ends its job: the locks go */
		return;
	}
	if (cancelled) {
		/* the pool stops: the daemon does too */
		deliver_end(s->srv->store, &s->job);
		return;
	}
	group_add(s);
}

/*
 * Takes the message's locks; its filters, if any, run on the filter
 * pool; then the group commit.  Busy locks: retried on the timer.
 */
static void
session_deliver(struct smtp_session *s)
{
	struct timeval now;
	size_t i;

	switch (deliver_begin(s->srv->store, &s->srv->deliver, &s->job)) {
	case 0:
		gettimeofday(&now, NULL);
		session_busy(s, &now);
		return;
	case -1:
		session_answer(s);
		return;
	case 2:
		group_add(s);
		return;
	}
	/*
	 * [filter] workers + queue jobs at once in the whole daemon, all its
	 * processes together (a slot in the volatile store); the pool of
	 * this process holds as many.
	 */
	switch (store_slot_take(s->srv->store, FILTER_SLOT,
	    s->srv->config->filter_workers + s->srv->config->filter_queue)) {
	case 1:
		s->fslot = 1;
		s->fjob = worker_submit(s->srv->filter_pool, filter_work,
		    filter_done, s);
		if (s->fjob != NULL)
			return;
		filter_slot_release(s);
		log_warnx("conn %lu: filters: %s", s->id, err_msg());
		break;
	case 0:
		log_warnx("conn %lu: filters: %u jobs run or wait already",
		    s->id, s->srv->config->filter_workers +
		    s->srv->config->filter_queue);
		break;
	default:
		log_warnx("conn %lu: filters: %s", s->id, err_msg());
		break;
	}
	deliver_end(s->srv->store, &s->job);
	group_kick();
	for (i = 0; i < s->nrcpts; i++) {
		s->rcpts[i].code = 451;
		snprintf(s->rcpts[i].text, sizeof(s->rcpts[i].text),
		    "4.3.2 Too many messages being filtered; try again later");
	}
	session_answer(s);
}

static void
group_events(void)
{
	if (commit_ev == NULL) {
		commit_ev = event_new(conn_base(), -1, 0, group_commit_cb,
		    NULL);
		retry_ev = evtimer_new(conn_base(), group_retry_cb, NULL);
		if (commit_ev == NULL || retry_ev == NULL)
			fatalx("smtp: event_new failed");
	}
}

static void
group_add(struct smtp_session *s)
{
	group_events();
	group_srv = s->srv;
	s->pend_next = NULL;
	if (pend_tail != NULL)
		pend_tail->pend_next = s;
	else
		pend_head = s;
	pend_tail = s;
	s->listed = 1;
	if (!event_pending(commit_ev, EV_READ | EV_WRITE | EV_TIMEOUT, NULL))
		event_active(commit_ev, 0, 0);
}

/* Takes s off whichever list it is on (the session is going away). */
void
group_remove(struct smtp_session *s)
{
	struct smtp_session **pp, *prev = NULL;

	if (s->syncw != NULL) {
		s->syncw->s[s->sync_slot] = NULL;
		s->syncw = NULL;
	}
	if (!s->listed)
		return;
	for (pp = &pend_head; *pp != NULL; prev = *pp, pp = &(*pp)->pend_next)
		if (*pp == s) {
			*pp = s->pend_next;
			if (pend_tail == s)
				pend_tail = prev;
			s->listed = 0;
			return;
		}
	for (pp = &busy_list; *pp != NULL; pp = &(*pp)->pend_next)
		if (*pp == s) {
			*pp = s->pend_next;
			s->listed = 0;
			return;
		}
}

/*
 * Hands up to SMTP_GROUP_MAX waiting messages (SMTP_GROUP_BYTES) to the
 * writer thread as one group (one commit); its sessions are answered
 * after the sync that follows (sync_add()), or at once when nothing of
 * theirs was stored (writer_done()).
 */
static void
group_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct commit_group *g;
	struct smtp_session *s;
	size_t bytes = 0;

	/*
	 * One group commits; the next one gathers meanwhile.  While the
	 * sync thread syncs, the writer commits the next group, which joins
	 * the sync after (sync_next).  (Holding that group back until the
	 * sync ended, for one larger commit, was slower: its sessions then
	 * waited for a sync more; 3 runs of 3, load 7-8.)
	 */
	if (committing != NULL)
		return;
	if (pend_head == NULL)
		return;
	g = xcalloc(1, sizeof(*g));
	while (g->n < SMTP_GROUP_MAX && (s = pend_head) != NULL) {
		if (g->n > 0 && bytes + s->job.len > SMTP_GROUP_BYTES)
			break;
		bytes += s->job.len;
		pend_head = s->pend_next;
		if (pend_head == NULL)
			pend_tail = NULL;
		s->listed = 0;
		s->pend_next = NULL;
		s->cgroup = g;
		g->s[g->n] = s;
		g->jobs[g->n++] = &s->job;
	}
	log_debug("smtp: group commit of %zu message(s)", g->n);
	g->srv = group_srv;
	g->dg = deliver_group_new(group_srv->store, &group_srv->deliver,
	    g->jobs, g->n);
	committing = g;
	g->wjob = worker_submit(group_srv->writer_pool, writer_work,
	    writer_done, g);
	if (g->wjob != NULL)
		return;
	/* No thread to take it (cannot happen with one group at a time). */
	log_warnx("smtp: store writer: %s; committing on the loop",
	    err_msg());
	writer_work(g);
	writer_done(g, 0);
}

/*
 * On the writer thread: the group's transaction, begun, run and
 * committed here (LMDB's write lock stays with the thread that took it).
 * Only the group's jobs, the store and the log: the loop does not touch
 * them until writer_done().
 */
static void
writer_work(void *arg)
{
	struct commit_group *g = arg;

	g->rc = deliver_group_commit(g->dg, 1);
	if (g->rc == -1)
		snprintf(g->err, sizeof(g->err), "%s", err_msg());
}

/*
 * The group is committed (or failed: its recipients have 451): the locks
 * go, each session waits for the sync (sync_add()) or is answered; one
 * whose connection went meanwhile is freed now.  cancelled: the daemon
 * stops (the group may not have run): nobody is answered.
 */
static void
writer_done(void *arg, int cancelled)
{
	struct commit_group *g = arg;
	struct smtp_session *s;
	struct timeval now;
	size_t i;
	int stored;

	if (committing == g)
		committing = NULL;
	deliver_group_end(&g->dg);
	if (g->rc == -1 && !cancelled)
		log_warnx("smtp: delivery of %zu message(s) failed: %s", g->n,
		    g->err);
	/*
	 * This commit wrote pages and synced them (MDB_NOMETASYNC syncs the
	 * data before writing the meta page): that sync took the meta pages
	 * of the commits before it to disk too.  Their sessions are answered
	 * now, without waiting for (or starting) a sync of their own.
	 */
	if ((stored = !cancelled && g->rc == 0 && group_stored(g)))
		sync_covered();
	gettimeofday(&now, NULL);
	for (i = 0; i < g->n; i++) {
		s = g->s[i];
		s->cgroup = NULL;
		if (s->orphan) {
			log_info("conn %lu: connection lost before the reply; "
			    "message id=%s %s", s->id, s->txid,
			    session_stored(s) ? "delivered" : "not delivered");
			session_free(s);
			continue;
		}
		if (cancelled)
			continue;
		if (s->job.busy)
			session_busy(s, &now);
		else if (session_stored(s))
			sync_add(s);
		else
			session_answer(s);
	}
	free(g);
	if (cancelled)
		return;
	group_kick();
	/*
	 * The next group commits at once: its commit syncs for these
	 * sessions (above).  Else, or when this commit wrote nothing (the
	 * next one may not either), the sync thread does.
	 */
	if (pend_head != NULL)
		event_active(commit_ev, 0, 0);
	if (sync_next != NULL && sync_running == NULL &&
	    (pend_head == NULL || !stored))
		sync_start();
}

/*
 * A copy of a message of g went into a mailbox: the commit wrote pages,
 * so LMDB synced them.  (A 250 alone does not say so: a discard or a
 * forward may write nothing, and a commit with nothing to write syncs
 * nothing.)
 */
static int
group_stored(const struct commit_group *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (g->jobs[i]->stored > 0)
			return 1;
	return 0;
}

/*
 * A later commit's sync made every earlier commit durable: the sessions
 * waiting in sync_next and sync_running are answered (the sync thread's
 * job, if it runs, then finds nobody to answer).
 */
static void
sync_covered(void)
{
	struct sync_wait *w;

	if ((w = sync_next) != NULL) {
		sync_next = NULL;
		w->error = 0;
		sync_answer(w);
		free(w->s);
		free(w);
	}
	if ((w = sync_running) != NULL) {
		w->error = 0;
		sync_answer(w);
		w->n = 0;
	}
}

/* The recipients' locks are held elsewhere: try again soon, a while. */
static void
session_busy(struct smtp_session *s, const struct timeval *now)
{
	struct timeval age, delay;
	long step;

	if (!timerisset(&s->busy_since))
		s->busy_since = *now;
	timersub(now, &s->busy_since, &age);
	if (age.tv_sec * 1000 + age.tv_usec / 1000 >= SMTP_BUSY_MAX_MS) {
		session_tx_fail(s, "451 4.2.0 Error: a recipient's mailbox is "
		    "busy, try again later");
		conn_resume(s->conn);
		return;
	}
	/*
	 * Back off (5 ms doubling up to SMTP_BUSY_STEP_MAX_MS): a recipient
	 * whose filter runs for a second must not have every waiting
	 * session take the store's lock 200 times a second.
	 */
	step = SMTP_BUSY_RETRY_MS << (s->busy_tries < 8 ? s->busy_tries : 8);
	if (step > SMTP_BUSY_STEP_MAX_MS)
		step = SMTP_BUSY_STEP_MAX_MS;
	/*
	 * In line for a lock (a ticket): its turn may come from another
	 * process, which cannot wake it; a try costs no sync.
	 */
	if (s->job.wait_ticket != 0 && step > SMTP_BUSY_TURN_MS)
		step = SMTP_BUSY_TURN_MS;
	s->busy_tries++;
	delay.tv_sec = step / 1000;
	delay.tv_usec = (step % 1000) * 1000;
	timeradd(now, &delay, &s->busy_next);
	busy_insert(s);
	group_events();
	if (!evtimer_pending(retry_ev, NULL)) {
		struct timeval tv = { 0, SMTP_BUSY_RETRY_MS * 1000 };

		evtimer_add(retry_ev, &tv);
	}
}

/*
 * Puts s on busy_list, which is kept in the order the sessions first
 * found their locks busy: retries go oldest first, so messages waiting
 * for one user's lock are delivered in the order they came.
 */
static void
busy_insert(struct smtp_session *s)
{
	struct smtp_session **pp;

	for (pp = &busy_list; *pp != NULL; pp = &(*pp)->pend_next)
		if (timercmp(&s->busy_since, &(*pp)->busy_since, <))
			break;
	s->pend_next = *pp;
	*pp = s;
	s->listed = 1;
}

/*
 * Delivery locks of this process were released (a commit, a session
 * gone): the sessions that wait for them try now, oldest first, before
 * a newer message can take them.
 */
void
group_kick(void)
{
	struct timeval tv = { 0, 0 };

	if (busy_list == NULL || retry_ev == NULL)
		return;
	retry_kick = 1;
	evtimer_del(retry_ev);
	evtimer_add(retry_ev, &tv);
}

static void
group_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s, *due = busy_list, *wait = NULL, **tail = &wait;
	struct timeval now;
	int kick = retry_kick;

	/*
	 * Those due (after a release in this process: those that wait for
	 * a lock of this process) try again, in order, and may come back;
	 * the others wait.
	 */
	retry_kick = 0;
	gettimeofday(&now, NULL);
	busy_list = NULL;
	while ((s = due) != NULL) {
		due = s->pend_next;
		s->pend_next = NULL;
		if (!(kick && s->job.busy_here) &&
		    timercmp(&now, &s->busy_next, <)) {
			*tail = s;
			tail = &s->pend_next;
			continue;
		}
		s->listed = 0;
		session_deliver(s);
	}
	while ((s = wait) != NULL) {
		wait = s->pend_next;
		busy_insert(s);
	}
	if (busy_list != NULL && !evtimer_pending(retry_ev, NULL)) {
		struct timeval tv = { 0, SMTP_BUSY_RETRY_MS * 1000 };

		evtimer_add(retry_ev, &tv);
	}
}

/* The delivery's result: one reply (SMTP) or one per recipient (LMTP). */
static void
session_answer(struct smtp_session *s)
{
	const struct deliver_rcpt *bad = NULL, *r;
	size_t i;

	for (i = 0; i < s->nrcpts; i++)
		if (s->rcpts[i].code != 250 && bad == NULL)
			bad = &s->rcpts[i];
	log_info("conn %lu: message id=%s from=<%s> size=%zu rcpts=%zu "
	    "delivered=%d result=%d %s", s->id, s->txid, s->sender,
	    s->mlen - s->hdrlen, s->nrcpts, s->job.delivered,
	    bad != NULL ? bad->code : 250, bad != NULL ? bad->text :
	    "2.0.0 Ok");
	if (s->lmtp) {
		for (i = 0; i < s->nrcpts; i++) {
			r = &s->rcpts[i];
			if (r->code == 250)
				conn_printf(s->conn, "250 2.0.0 <%s> Ok: "
				    "delivered as %s\r\n", r->addr, s->txid);
			else
				conn_printf(s->conn, "%d %s\r\n", r->code,
				    r->text);
		}
	} else if (bad != NULL)
		conn_printf(s->conn, "%d %s\r\n", bad->code, bad->text);
	else
		conn_printf(s->conn, "250 2.0.0 Ok: queued as %s\r\n",
		    s->txid);
	if (bad == NULL || s->lmtp) {
		s->n_msgs++;
		s->junk = 0;
	} else
		s->n_failed++;
	s->n_rcpts += (unsigned)s->job.delivered;
	session_end_tx(s);
	conn_resume(s->conn);
}


/* Syncs ------------------------------------------------------------- */

/*
 * A recipient got 250: the commit holds the message for it (or a forward
 * queued, or a filter's discard that the commit may record): wait.
 */
static int
session_stored(const struct smtp_session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++)
		if (s->rcpts[i].code == 250)
			return 1;
	return 0;
}

/* s's message is committed: it is answered after the next sync. */
static void
sync_add(struct smtp_session *s)
{
	struct sync_wait *w = sync_next;

	if (w == NULL) {
		w = sync_next = xcalloc(1, sizeof(*w));
		w->fd = store_sync_fd(s->srv->store);
	}
	if (w->n == w->cap) {
		w->cap = w->cap == 0 ? 16 : w->cap * 2;
		w->s = xreallocarray(w->s, w->cap, sizeof(*w->s));
	}
	s->syncw = w;
	s->sync_slot = w->n;
	w->s[w->n++] = s;
}

/* The thread syncs for the sessions gathered in sync_next. */
static void
sync_start(void)
{
	struct sync_wait *w = sync_next;

	sync_next = NULL;
	sync_running = w;
	w->job = worker_submit(group_srv->sync_pool, sync_work, sync_done,
	    w);
	if (w->job != NULL)
		return;
	/* No thread to take it (cannot happen with one job at a time). */
	log_warnx("smtp: sync thread: %s; syncing on the loop", err_msg());
	sync_work(w);
	sync_finish(w, 0);
}

/* On the sync thread: only the job's descriptor. */
static void
sync_work(void *arg)
{
	struct sync_wait *w = arg;

	w->error = 0;
	if (w->fd == -1)
		w->error = EBADF;
	else if (fdatasync(w->fd) == -1)
		w->error = errno;
}

static void
sync_done(void *arg, int cancelled)
{
	sync_finish(arg, cancelled);
}

/*
 * The sync is over: each session still there is answered.  A failed sync
 * leaves the commit where a power cut may lose it: its recipients get 451
 * rather than a 250 that may not hold (the client sends again: a copy may
 * be stored twice, none is lost).  cancelled: the daemon stops, nobody is
 * answered.
 */
static void
sync_finish(struct sync_wait *w, int cancelled)
{
	size_t i;

	if (sync_running == w)
		sync_running = NULL;
	if (cancelled) {
		for (i = 0; i < w->n; i++)
			if (w->s[i] != NULL)
				w->s[i]->syncw = NULL;
	} else
		sync_answer(w);
	free(w->s);
	free(w);
	if (cancelled)
		return;
	if (sync_next != NULL && sync_running == NULL && committing == NULL &&
	    pend_head == NULL)
		sync_start();
	if (pend_head != NULL)
		event_active(commit_ev, 0, 0);
}

/* Each session of w still there is answered after w's sync. */
static void
sync_answer(struct sync_wait *w)
{
	struct smtp_session *s;
	size_t i, j;

	if (w->error != 0 && w->n > 0)
		log_warnx("smtp: syncing the store: %s; %zu message(s) "
		    "answered 451", strerror(w->error), w->n);
	for (i = 0; i < w->n; i++) {
		if ((s = w->s[i]) == NULL)
			continue;
		w->s[i] = NULL;
		s->syncw = NULL;
		for (j = 0; w->error != 0 && j < s->nrcpts; j++)
			if (s->rcpts[j].code == 250) {
				s->rcpts[j].code = 451;
				snprintf(s->rcpts[j].text,
				    sizeof(s->rcpts[j].text), "4.3.0 "
				    "Temporary failure; try again later");
			}
		session_answer(s);
	}
}

/* session_policy_flush(): what a filter thread writes, then frees. */
struct invalid_flush {
	struct store			*st;
	const struct deliver_config	*cf;
	struct deliver_policy		 p;
	int				 rc;
	char				 err[256];
};

static void
invalid_work(void *arg)
{
	struct invalid_flush *f = arg;

	f->rc = deliver_policy_add_invalid(f->st, f->cf, &f->p);
	if (f->rc == -1)
		snprintf(f->err, sizeof(f->err), "%s", err_msg());
}

static void
invalid_done(void *arg, int cancelled)
{
	struct invalid_flush *f = arg;

	if (!cancelled && f->rc == -1)
		log_warnx("policy: %u unknown recipients of %s not counted: "
		    "%s", f->p.invalid, f->p.login, f->err);
	free(f);
}

/*
 * Unknown recipients are counted with the next message's commit; those
 * of a session that ends without one get a small transaction of their
 * own on a filter thread (a write waits for the writer's commit).
 */
void
session_policy_flush(struct smtp_session *s)
{
	struct invalid_flush *f = xcalloc(1, sizeof(*f));

	f->st = s->srv->store;
	f->cf = &s->srv->deliver;
	f->p = s->policy;
	s->policy.invalid = 0;
	if (worker_submit(s->srv->filter_pool, invalid_work, invalid_done,
	    f) != NULL)
		return;
	log_warnx("policy: %u unknown recipients of %s not counted: %s",
	    f->p.invalid, f->p.login, err_msg());
	free(f);
}
