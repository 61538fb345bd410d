/*
 * stage.c - what happens to a job before its commit (deliver.h,
 * deliver_begin()): the recipients' delivery locks, the filter files and
 * auto-responder settings read from the store, then the filters run
 * (deliver_filter_job(), on a worker thread in the daemons) and the
 * auto-replies composed.  Nothing here holds a transaction while a
 * program runs, and deliver_filter_job() touches neither the store nor
 * the log: it only fills the job's memory, which deliver_run() reads.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "filter/lang.h"
#include "filter/listmsg.h"
#include "filter/run.h"
#include "filter/vacation.h"
#include "private.h"
#include "store/filter.h"
#include "store/list.h"
#include "store/lock.h"
#include "store/store.h"
#include "store/user.h"

#define STAGE_PATH	"/usr/local/bin:/usr/bin:/bin"
#define STAGE_DEFAULT	"./Maildir"
#define STAGE_PWBUF	4096

static int	stage_locks(struct store *, struct deliver_job *,
		    struct deliver_fjob *, int);
static size_t	held_find(const char *);
static void	held_add(const char *, time_t, int);
static int	held_put(const char *);
static int	stage_plan(struct store *, const struct deliver_config *,
		    struct deliver_job *, struct deliver_fjob *);
static void	stage_fjob_free(struct deliver_job *, struct deliver_fjob *);
static int	stage_load_txn(struct store_txn *, void *);
static void	stage_lists(struct deliver_job *, struct deliver_fjob *);
static void	stage_user(struct deliver_job *, struct deliver_fjob *,
		    const struct filter_prog *, struct deliver_fuser *);
static void	stage_log(struct deliver_fuser *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * The delivery locks this process holds (loop thread, or the only
 * thread: deliver_begin(), deliver_end() and deliver_run() are not
 * called from workers).  A lock is exclusive while a job whose filters
 * run holds it; jobs that run no filter share it (refs): their messages
 * to one recipient can then go into one group commit, in the order they
 * came, instead of one commit each.  The store's lock is taken by the
 * first holder, renewed when a holder joins after half its lease, and
 * released by the last; taken shared, other processes' jobs that run no
 * filter hold it at the same time (store_lock_take_queued()).
 */
struct held_lock {
	char	*name;
	unsigned refs;
	int	 shared;	/* no holder runs filters */
	time_t	 taken;		/* the store's lease began */
};
static struct held_lock	*held;
static size_t		 nheld;

struct deliver_fuser *
deliver_fuser_find(struct deliver_fjob *fj, uint32_t user_id)
{
	size_t i;

	for (i = 0; fj != NULL && i < fj->nusers; i++)
		if (fj->users[i].user_id == user_id)
			return &fj->users[i];
	return NULL;
}

/* The job waits with a ticket: it keeps the names it waits for. */
static void
stage_wait_keep(struct deliver_job *job, const struct deliver_fjob *fj)
{
	size_t i;

	job->wait_names = xcalloc(fj->nlocks, sizeof(*job->wait_names));
	for (i = 0; i < fj->nlocks; i++)
		job->wait_names[i] = xstrdup(fj->locks[i]);
	job->nwait = fj->nlocks;
}

/* Its wait is over (the store forgot it already, or it was never kept). */
static void
stage_wait_forget(struct deliver_job *job)
{
	size_t i;

	for (i = 0; i < job->nwait; i++)
		free(job->wait_names[i]);
	free(job->wait_names);
	job->wait_names = NULL;
	job->nwait = 0;
	job->wait_ticket = 0;
}

void
deliver_wait_end(struct store *st, struct deliver_job *job)
{
	if (job->wait_ticket != 0 && store_lock_wait_end(st,
	    (const char *const *)job->wait_names, job->nwait,
	    job->wait_ticket) == -1)
		log_warnx("delivery: ending a wait for locks: %s", err_msg());
	stage_wait_forget(job);
}

/*
 * Takes the delivery locks of a job, alone if exclusive (its filters
 * will run): 1 taken, 0 busy, -1 error.
 */
static int
stage_locks(struct store *st, struct deliver_job *job,
    struct deliver_fjob *fj, int exclusive)
{
	char name[DELIVER_ADDR_MAX + 16];
	const char **take, **join;
	size_t i, j, k, ntake = 0, njoin = 0;
	time_t now;
	int rc;

	/*
	 * A message the server made (a notice, an auto-reply) runs no
	 * filter and is one atomic commit: it takes no delivery lock, so
	 * it is neither lost nor held up when the recipient's own mail
	 * waits in a slow filter (an auto-reply has no retry).
	 */
	if (job->no_filter)
		return 1;
	for (i = 0; i < job->nrcpts; i++) {
		const struct deliver_rcpt *r = &job->rcpts[i];

		if (r->kind != DELIVER_LOCAL)
			continue;
		for (j = 0; j < r->ntargets; j++) {
			if (r->targets[j].user_id == 0)
				continue;
			snprintf(name, sizeof(name), "deliver:%s",
			    r->targets[j].addr);
			for (k = 0; k < fj->nlocks; k++)
				if (strcmp(fj->locks[k], name) == 0)
					break;
			if (k < fj->nlocks)
				continue;
			fj->locks = xreallocarray(fj->locks, fj->nlocks + 1,
			    sizeof(*fj->locks));
			fj->locks[fj->nlocks++] = xstrdup(name);
		}
	}
	if (fj->nlocks == 0)
		return 1;
	/*
	 * The store's locks belong to the process: two sessions of this
	 * process must not both hold one while filters run (they would run
	 * at once), so this process keeps the names it holds as well.  A
	 * job that runs no filter joins those that such jobs hold here
	 * (shared); a job whose filters run waits until this process's
	 * holders are done (busy here), as does any job while one whose
	 * filters run holds a lock here.  The others, and those whose lease
	 * is half gone, are taken (renewed) in the store.
	 */
	job->busy_here = 0;
	now = time(NULL);
	take = xcalloc(fj->nlocks, sizeof(*take));
	join = xcalloc(fj->nlocks, sizeof(*join));
	for (i = 0; i < fj->nlocks; i++) {
		if ((k = held_find(fj->locks[i])) == (size_t)-1) {
			take[ntake++] = fj->locks[i];
			continue;
		}
		if (exclusive || !held[k].shared)
			job->busy_here = 1;
		else if (now - held[k].taken >= DELIVER_LOCK_LEASE / 2)
			take[ntake++] = fj->locks[i];
		else
			join[njoin++] = fj->locks[i];
	}
	/*
	 * In turn, across processes: a job waits behind those of any
	 * process that found the locks busy before it, also to share a lock
	 * this process holds (store_lock_take_queued()).  Busy here: it
	 * waits too, with a ticket, so that jobs of other processes do not
	 * go first (nor join this process's hold while it waits to hold the
	 * lock alone).
	 */
	if (job->busy_here) {
		rc = store_lock_wait(st, (const char *const *)fj->locks,
		    fj->nlocks, &job->wait_ticket);
		if (rc != -1)
			err_set(ERR_INUSE, "a lock is held by another "
			    "delivery of this process");
	} else
		rc = store_lock_take_queued(st, (const char *const *)take,
		    ntake, (const char *const *)join, njoin,
		    DELIVER_LOCK_LEASE, exclusive, &job->wait_ticket);
	free(take);
	free(join);
	if (rc != 1) {
		if (rc == 0 && job->wait_ticket != 0 && job->wait_names == NULL)
			stage_wait_keep(job, fj);
		return rc;
	}
	stage_wait_forget(job);
	for (i = 0; i < fj->nlocks; i++) {
		if ((k = held_find(fj->locks[i])) == (size_t)-1) {
			held_add(fj->locks[i], now, !exclusive);
			continue;
		}
		held[k].refs++;
		if (now - held[k].taken >= DELIVER_LOCK_LEASE / 2)
			held[k].taken = now;
	}
	return 1;
}

static size_t
held_find(const char *name)
{
	size_t i;

	for (i = 0; i < nheld; i++)
		if (strcmp(held[i].name, name) == 0)
			return i;
	return (size_t)-1;
}

static void
held_add(const char *name, time_t now, int shared)
{
	held = xreallocarray(held, nheld + 1, sizeof(*held));
	held[nheld].name = xstrdup(name);
	held[nheld].refs = 1;
	held[nheld].shared = shared;
	held[nheld].taken = now;
	nheld++;
}

/* One holder less: 1 when it was the last (the store's lock goes). */
static int
held_put(const char *name)
{
	size_t i = held_find(name);

	if (i == (size_t)-1)
		return 0;
	if (--held[i].refs > 0)
		return 0;
	free(held[i].name);
	held[i] = held[--nheld];
	if (nheld == 0) {
		free(held);
		held = NULL;
	}
	return 1;
}

const char *
deliver_rcpt_msg(const struct deliver_job *job, size_t rcpt, size_t *len_r)
{
	const struct deliver_fjob *fj = job->fj;

	if (fj != NULL && fj->lcopy != NULL && fj->lcopy[rcpt] != NULL) {
		*len_r = fj->lcopylen[rcpt];
		return fj->lcopy[rcpt];
	}
	*len_r = job->len;
	return job->data;
}

/* The copies of the lists among the recipients (filter/listmsg.h). */
static void
stage_lists(struct deliver_job *job, struct deliver_fjob *fj)
{
	struct filter_list_in in;
	size_t i;
	int rc;

	for (i = 0; i < job->nrcpts; i++) {
		const struct deliver_rcpt *r = &job->rcpts[i];

		if (r->kind != DELIVER_LOCAL || !r->is_list)
			continue;
		if (fj->lcopy == NULL) {
			fj->lcopy = xcalloc(job->nrcpts, sizeof(*fj->lcopy));
			fj->lcopylen = xcalloc(job->nrcpts,
			    sizeof(*fj->lcopylen));
			fj->lloop = xcalloc(job->nrcpts, sizeof(*fj->lloop));
		}
		memset(&in, 0, sizeof(in));
		in.list = r->list_addr;
		in.name = r->list_name;
		in.owner = r->list_owner;
		in.reply_to = (r->list_flags & STORE_LIST_REPLY_TO) != 0;
		in.msg = job->data;
		in.len = job->len;
		rc = filter_list_copy(&in, &fj->lcopy[i], &fj->lcopylen[i]);
		if (rc == 0) {
			fj->lloop[i] = 1;
			log_warnx("list %s: %s: not sent again", r->list_addr,
			    err_msg());
		} else if (rc == -1)
			log_warnx("list %s: %s: members get the message as it "
			    "came", r->list_addr, err_msg());
		if (rc != 1)
			fj->lcopy[i] = NULL;
	}
}

struct stage_load {
	struct deliver_job	*job;
	struct deliver_fjob	*fj;
};

/* Reads the filters, the mapping and the auto-responder of each user. */
static int
stage_load_txn(struct store_txn *t, void *ctx)
{
	struct stage_load *l = ctx;
	struct deliver_fjob *fj = l->fj;
	struct deliver_fuser *fu;
	struct store_user u;
	size_t i;
	int rc;

	/* Idempotent: a retried transaction starts again. */
	free(fj->global);
	fj->global = NULL;
	if ((rc = store_filter_get(t, 0, &fj->global, &fj->globallen)) == -1)
		return -1;
	for (i = 0; i < fj->nusers; i++) {
		fu = &fj->users[i];
		free(fu->text);
		fu->text = NULL;
		if (fu->has_vac)
			store_vacation_clear(&fu->vac);
		fu->has_vac = 0;
		if ((rc = store_user_get(t, fu->user_id, &u)) == -1)
			return -1;
		if (rc == 0)
			continue;	/* gone: the commit says so */
		snprintf(fu->address, sizeof(fu->address), "%s", u.address);
		fu->fs_uid = u.fs_uid;
		fu->fs_gid = u.fs_gid;
		if (store_filter_get(t, fu->user_id, &fu->text, &fu->len) ==
		    -1)
			return -1;
		/*
		 * A blind copy (bcc.c) never auto-replies: the sender would
		 * learn of the copy.
		 */
		if (l->job->rcpts[fu->rcpt].bcc)
			continue;
		if ((rc = store_vacation_get(t, fu->user_id, &fu->vac)) == -1)
			return -1;
		fu->has_vac = rc == 1;
	}
	return 0;
}

static int
stage_vacation_due(const struct store_vacation *v, time_t now)
{
	return v->enabled && (v->start == 0 || now >= v->start) &&
	    (v->end == 0 || now < v->end);
}

/*
 * Reads what the job's filters need and whether they have anything to
 * do: 1 they run (the job must hold its locks alone), 0 not (the job is
 * filtered already).  Before the locks: a job takes them shared or alone
 * once, never one then the other (a job that found it must hold a
 * shared lock alone would have to let go of it and lose its turn to
 * the jobs that joined it meanwhile).  A filter changed in between is
 * one changed a moment later: the message counts as come before.
 */
static int
stage_plan(struct store *st, const struct deliver_config *cf,
    struct deliver_job *job, struct deliver_fjob *fj)
{
	struct stage_load l;
	size_t i, j;
	int work = 0;

	fj->filtered = 1;
	if (job->no_filter || cf == NULL || !cf->filters)
		return 0;
	/* The users the job reaches, each once (the first recipient wins). */
	for (i = 0; i < job->nrcpts; i++) {
		const struct deliver_rcpt *r = &job->rcpts[i];

		if (r->kind != DELIVER_LOCAL)
			continue;
		for (j = 0; j < r->ntargets; j++) {
			struct deliver_fuser *fu;

			if (r->targets[j].user_id == 0 ||
			    deliver_fuser_find(fj, r->targets[j].user_id) !=
			    NULL)
				continue;
			fj->users = xreallocarray(fj->users, fj->nusers + 1,
			    sizeof(*fj->users));
			fu = &fj->users[fj->nusers++];
			memset(fu, 0, sizeof(*fu));
			fu->user_id = r->targets[j].user_id;
			fu->rcpt = i;
			fu->target = j;
		}
	}
	l.job = job;
	l.fj = fj;
	if (fj->nusers > 0 && store_read(st, stage_load_txn, &l) == -1) {
		/* Filters unknown: deliver to INBOX rather than not at all. */
		log_warnx("delivery: reading the filters: %s; delivering "
		    "without them", err_msg());
		return 0;
	}
	for (i = 0; i < fj->nusers; i++)
		work |= fj->global != NULL || fj->users[i].text != NULL ||
		    (fj->users[i].has_vac &&
		    stage_vacation_due(&fj->users[i].vac, time(NULL)));
	fj->filtered = !work;
	return work;
}

int
deliver_begin(struct store *st, const struct deliver_config *cf,
    struct deliver_job *job)
{
	struct deliver_fjob *fj;
	size_t i;
	int rc, exclusive;

	if (job->fj != NULL)
		return job->fj->filtered && !job->fj->disc_pending &&
		    !job->fj->scan_pending ? 2 : 1;
	fj = xcalloc(1, sizeof(*fj));
	fj->cf = cf;
	/* A rule that cannot be read: 451 rather than a copy lost. */
	if (deliver_bcc_expand(st, cf, job, fj) == -1) {
		log_warnx("delivery: BCC rules: %s", err_msg());
		for (i = 0; i < job->nrcpts; i++)
			if (deliver_rcpt_wanted(&job->rcpts[i]))
				deliver_rcpt_reply(&job->rcpts[i], 451,
				    "4.3.0 Temporary failure; try again later");
		stage_fjob_free(job, fj);
		return -1;
	}
	if (deliver_disclaimer_plan(st, job, fj) == -1) {
		log_warnx("delivery: disclaimer rules: %s", err_msg());
		for (i = 0; i < job->nrcpts; i++)
			if (deliver_rcpt_wanted(&job->rcpts[i]))
				deliver_rcpt_reply(&job->rcpts[i], 451,
				    "4.3.0 Temporary failure; try again later");
		stage_fjob_free(job, fj);
		return -1;
	}
	exclusive = stage_plan(st, cf, job, fj);
	fj->scan_pending = policy_scan_wanted(job) ||
	    antivirus_wanted(cf, job) || inauth_wanted(cf, job);
	if ((rc = stage_locks(st, job, fj, exclusive)) != 1) {
		if (rc == -1) {
			log_warnx("delivery: %s", err_msg());
			for (i = 0; i < job->nrcpts; i++)
				if (deliver_rcpt_wanted(&job->rcpts[i]))
					deliver_rcpt_reply(&job->rcpts[i], 451,
					    "4.3.0 Temporary failure; try "
					    "again later");
		}
		for (i = 0; i < fj->nlocks; i++)
			free(fj->locks[i]);
		stage_fjob_free(job, fj);
		return rc;
	}
	job->fj = fj;
	/* The lists' copies are made of the message with its disclaimer. */
	if (!fj->disc_pending)
		stage_lists(job, fj);
	return fj->filtered && !fj->disc_pending && !fj->scan_pending ? 2 : 1;
}

void
deliver_unlock(struct store *st, struct deliver_fjob *fj)
{
	deliver_unlock_many(st, &fj, 1);
}

/*
 * The last holder of a lock in this process releases it in the store:
 * those of every job in one transaction (a group commit's jobs).
 */
void
deliver_unlock_many(struct store *st, struct deliver_fjob **fjs, size_t nfj)
{
	const char **last = NULL;
	size_t i, j, n = 0, cap = 0;

	for (j = 0; j < nfj; j++)
		cap += fjs[j]->nlocks;
	if (cap == 0)
		return;
	last = xcalloc(cap, sizeof(*last));
	for (j = 0; j < nfj; j++)
		for (i = 0; i < fjs[j]->nlocks; i++)
			if (held_put(fjs[j]->locks[i]))
				last[n++] = fjs[j]->locks[i];
	if (n > 0 && store_lock_release_many(st, last, n) == -1)
		log_warnx("releasing delivery locks: %s", err_msg());
	free(last);
	for (j = 0; j < nfj; j++) {
		for (i = 0; i < fjs[j]->nlocks; i++)
			free(fjs[j]->locks[i]);
		fjs[j]->nlocks = 0;
	}
}

void
deliver_end(struct store *st, struct deliver_job *job)
{
	struct deliver_fjob *fj = job->fj;

	deliver_wait_end(st, job);
	if (fj == NULL)
		return;
	job->fj = NULL;
	deliver_unlock(st, fj);
	stage_fjob_free(job, fj);
}

/* Frees a job's stage (its locks are released already). */
static void
stage_fjob_free(struct deliver_job *job, struct deliver_fjob *fj)
{
	struct deliver_fuser *fu;
	size_t i;

	free(fj->locks);
	for (i = 0; i < fj->nusers; i++) {
		fu = &fj->users[i];
		free(fu->text);
		if (fu->has_vac)
			store_vacation_clear(&fu->vac);
		if (fu->ran)
			filter_result_clear(&fu->res);
		free(fu->log);
		free(fu->reply);
	}
	free(fj->users);
	free(fj->global);
	for (i = 0; fj->lcopy != NULL && i < job->nrcpts; i++)
		free(fj->lcopy[i]);
	free(fj->lcopy);
	free(fj->lcopylen);
	free(fj->lloop);
	deliver_bcc_restore(job, fj);
	if (fj->scan_note[0] != '\0')
		log_info("%s", fj->scan_note);
	if (fj->av_note[0] != '\0')
		log_info("%s", fj->av_note);
	if (fj->auth_note[0] != '\0')
		log_info("%s", fj->auth_note);
	deliver_disclaimer_restore(job, fj);
	deliver_strip_restore(job, fj);
	free(fj);
}

/* Running the filters (any thread) ---------------------------------- */

/* Appends a line to the user's log (logged by deliver_run()). */
static void
stage_log(struct deliver_fuser *fu, const char *fmt, ...)
{
	char line[1024];
	char *old = fu->log;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (old != NULL && strlen(old) > 16 * 1024)
		return;		/* enough said */
	fu->log = xasprintf("%s%s%s", old != NULL ? old : "",
	    old != NULL ? "\n" : "", line);
	free(old);
}

/* What the evaluator's callbacks need. */
struct stage_ctx {
	struct deliver_fjob	*fj;
	struct deliver_fuser	*fu;
	uid_t			 uid;
	gid_t			 gid;
	const char		*home;
};

static int
stage_exec(void *arg, const struct filter_exec *x,
    struct filter_exec_result *res)
{
	struct stage_ctx *c = arg;
	struct filter_run_req req;

	if (c->fj->cf->runner == NULL)
		return err_set(ERR_PERM, "programs cannot run here (no "
		    "program runner: vellum-sendmail runs them only as "
		    "root)");
	memset(&req, 0, sizeof(req));
	req.uid = c->uid;
	req.gid = c->gid;
	req.home = c->home;
	req.argv = x->argv;
	req.envp = x->envp;
	req.input = x->input;
	req.inlen = x->inlen;
	req.capture = x->kind == FILTER_EXEC_XFILTER ||
	    x->kind == FILTER_EXEC_BACKTICK;
	return filter_runner_exec(c->fj->cf->runner, &req, res);
}

static int
stage_read_file(void *arg, const char *path, char **data_r, size_t *len_r)
{
	struct stage_ctx *c = arg;

	if (c->fj->cf->runner == NULL)
		return err_set(ERR_PERM, "files cannot be read here (no "
		    "program runner)");
	return filter_runner_read_file(c->fj->cf->runner, c->uid, c->gid,
	    c->home, path, data_r, len_r);
}

static void
stage_filter_log(void *arg, const char *logfile, const char *text)
{
	struct stage_ctx *c = arg;

	if (logfile != NULL && logfile[0] != '\0' &&
	    c->fj->cf->runner != NULL) {
		char *line = xasprintf("%s\n", text);

		if (filter_runner_append(c->fj->cf->runner, c->uid, c->gid,
		    c->home, logfile, line, strlen(line)) == -1)
			stage_log(c->fu, "logfile %s: %s", logfile, err_msg());
		free(line);
		return;
	}
	stage_log(c->fu, "log: %s", text);
}

/*
 * Whether the result leaves a copy anywhere but Spam (for auto-replies);
 * *msg_r, *len_r: the copy kept (the first; an xfilter's output, say
 * spamc's with its X-Spam-Flag), else the message as it came.
 */
static int
stage_kept(const struct deliver_job *job, const struct deliver_fuser *fu,
    const char **msg_r, size_t *len_r)
{
	size_t i;

	*msg_r = job->data;
	*len_r = job->len;
	if (!fu->ran || fu->res.failed)
		return 1;
	for (i = 0; i < fu->res.nactions; i++) {
		const struct filter_action *a = &fu->res.actions[i];

		if (a->kind == FILTER_ACT_FOLDER &&
		    strcasecmp(a->arg, "Spam") != 0 &&
		    strcasecmp(a->arg, "Junk") != 0) {
			if (a->msg > 0 && a->msg < fu->res.nmsgs) {
				*msg_r = fu->res.msgs[a->msg];
				*len_r = fu->res.msglens[a->msg];
			}
			return 1;
		}
	}
	return 0;
}

/* The account programs run as, its home and login name. */
static void
stage_account(const struct deliver_config *cf, struct deliver_fuser *fu,
    struct stage_ctx *c, char *buf, size_t bufsize, char *home,
    size_t homesize, char *logname, size_t lognamesize)
{
	struct passwd pw, *pwp = NULL;

	c->uid = fu->fs_uid;
	c->gid = fu->fs_gid;
	snprintf(home, homesize, "/");
	snprintf(logname, lognamesize, "%s", fu->address);
	if (fu->fs_uid != 0) {
		if (getpwuid_r(fu->fs_uid, &pw, buf, bufsize, &pwp) == 0 &&
		    pwp != NULL) {
			snprintf(home, homesize, "%s", pw.pw_dir);
			snprintf(logname, lognamesize, "%s", pw.pw_name);
		}
	} else if (cf->filter_user[0] != '\0' && getpwnam_r(cf->filter_user,
	    &pw, buf, bufsize, &pwp) == 0 && pwp != NULL)
		snprintf(home, homesize, "%s", pw.pw_dir);
}

static void
stage_user(struct deliver_job *job, struct deliver_fjob *fj,
    const struct filter_prog *global, struct deliver_fuser *fu)
{
	const struct deliver_config *cf = fj->cf;
	const struct deliver_rcpt *r = &job->rcpts[fu->rcpt];
	const struct filter_prog *progs[2];
	struct filter_prog *mine = NULL;
	struct filter_error perr;
	struct filter_env env;
	struct stage_ctx c;
	char pwbuf[STAGE_PWBUF], home[1024], logname[DELIVER_ADDR_MAX + 1];
	char ext[DELIVER_ADDR_MAX + 1], msg[FILTER_ERROR_MAX + 300];
	const char *plus, *at, *kept;
	size_t n = 0, keptlen;
	time_t now = time(NULL);

	memset(&c, 0, sizeof(c));
	c.fj = fj;
	c.fu = fu;
	stage_account(cf, fu, &c, pwbuf, sizeof(pwbuf), home, sizeof(home),
	    logname, sizeof(logname));
	c.home = home;
	if (global != NULL)
		progs[n++] = global;
	if (fu->text != NULL) {
		if (filter_parse(".mailfilter", fu->text, fu->len, &mine,
		    &perr) != 1) {
			filter_error_format(&perr, msg, sizeof(msg));
			stage_log(fu, "filter failed: %s; kept in INBOX", msg);
			fu->ran = 1;
			memset(&fu->res, 0, sizeof(fu->res));
			fu->res.failed = 1;
			snprintf(fu->res.error, sizeof(fu->res.error), "%s",
			    msg);
			n = 0;
		} else
			progs[n++] = mine;
	}
	if (n > 0) {
		/* EXTENSION: what follows '+' in the address sent to */
		ext[0] = '\0';
		at = strrchr(r->addr, '@');
		plus = strchr(r->addr, '+');
		if (plus != NULL && at != NULL && plus < at)
			snprintf(ext, sizeof(ext), "%.*s", (int)(at - plus - 1),
			    plus + 1);
		memset(&env, 0, sizeof(env));
		env.msg = deliver_rcpt_msg(job, fu->rcpt, &env.msglen);
		env.home = home;
		env.logname = logname;
		env.recipient = r->addr;
		/* a list's copy comes from its owner (as it leaves) */
		env.sender = r->is_list && r->list_owner[0] != '\0' ?
		    r->list_owner : job->sender;
		env.extension = ext;
		env.hostname = cf->hostname;
		env.deflt = STAGE_DEFAULT;
		env.path = STAGE_PATH;
		env.exec = stage_exec;
		env.read_file = stage_read_file;
		env.log = stage_filter_log;
		env.arg = &c;
		fu->ran = 1;
		if (filter_eval(progs, n, &env, &fu->res) == -1)
			stage_log(fu, "filter failed: %s; kept in INBOX",
			    fu->res.error);
	}
	filter_prog_free(&mine);
	if (fu->has_vac && stage_vacation_due(&fu->vac, now) &&
	    job->sender[0] != '\0' && stage_kept(job, fu, &kept, &keptlen) &&
	    strcasecmp(job->sender, fu->address) != 0) {
		const char *addrs[2] = { r->addr, fu->address };
		struct filter_vacation_in in;
		char why[256], snorm[STORE_ADDRESS_MAX + 1];

		/* the rules see the copy kept (spamc's flag on it too) */
		if (r->is_list || store_address_normalize(job->sender, snorm,
		    0) == -1 || filter_vacation_wanted(kept, keptlen,
		    job->sender, addrs, 2, why, sizeof(why)) != 1) {
			if (r->is_list)
				snprintf(why, sizeof(why), "sent to a list");
			else if (store_address_normalize(job->sender, snorm,
			    0) == -1)
				snprintf(why, sizeof(why), "the sender is not "
				    "a mailbox address");
			stage_log(fu, "no auto-reply to <%s>: %s", job->sender,
			    why);
			return;
		}
		memset(&in, 0, sizeof(in));
		in.from = fu->address;
		in.to = job->sender;
		in.subject = fu->vac.subject;
		in.body = fu->vac.body != NULL ? fu->vac.body : "";
		in.orig = job->data;
		in.origlen = job->len;
		in.hostname = cf->hostname;
		in.now = now;
		if (filter_vacation_compose(&in, &fu->reply,
		    &fu->replylen) != 1) {
			stage_log(fu, "auto-reply to <%s> not made: %s",
			    job->sender, err_msg());
			fu->reply = NULL;
		}
	}
}

int
deliver_strip(struct deliver_job *job, struct deliver_fjob *fj,
    mime_field_drop *drop, void *arg)
{
	char *out;
	size_t outlen;
	int n;

	if ((n = mime_header_strip(job->data, job->len, drop, arg, &out,
	    &outlen)) == 0)
		return 0;
	/* a second strip works on the first's copy: the caller's bytes stay
	   what strip_odata keeps */
	if (fj->strip_data == NULL) {
		fj->strip_odata = job->data;
		fj->strip_olen = job->len;
	}
	free(fj->strip_data);
	fj->strip_data = out;
	job->data = out;
	job->len = outlen;
	return n;
}

void
deliver_strip_restore(struct deliver_job *job, struct deliver_fjob *fj)
{
	if (fj->strip_data == NULL)
		return;
	job->data = fj->strip_odata;
	job->len = fj->strip_olen;
	free(fj->strip_data);
	fj->strip_data = NULL;
}

void
deliver_filter_job(struct deliver_job *job)
{
	struct deliver_fjob *fj = job->fj;
	struct filter_prog *global = NULL;
	struct filter_error perr;
	char msg[FILTER_ERROR_MAX + 300];
	size_t i;
	int gbad = 0;

	if (fj == NULL)
		return;
	/*
	 * The content checks, on the message as it was sent: the sender's
	 * policy, the virus scan, SPF, DKIM and DMARC (these last only when
	 * no virus was found).  A message they refuse goes nowhere: no
	 * disclaimer, no filter (no program sees a virus), no auto-reply.
	 */
	if (fj->scan_pending) {
		fj->scan_pending = 0;
		policy_scan(fj->cf, job, fj->scan_note, sizeof(fj->scan_note));
		antivirus_scan(fj->cf, job, fj);
		if (fj->refuse_code == 0)
			inauth_check(fj->cf, job, fj);
		if (fj->refuse_code != 0) {
			fj->filtered = 1;
			if (fj->disc_pending) {
				fj->disc_pending = 0;
				snprintf(fj->disc_why, sizeof(fj->disc_why),
				    "the message was refused");
			}
			return;
		}
		/* quarantined: no user's filter sorts it elsewhere */
		if (fj->quarantine)
			fj->filtered = 1;
	}
	/* First: the filters see what the recipients get. */
	if (fj->disc_pending) {
		deliver_disclaimer_apply(job, fj);
		stage_lists(job, fj);
	}
	if (fj->filtered)
		return;
	if (fj->global != NULL && filter_parse("maildroprc", fj->global,
	    fj->globallen, &global, &perr) != 1) {
		filter_error_format(&perr, msg, sizeof(msg));
		gbad = 1;
	}
	for (i = 0; i < fj->nusers; i++) {
		struct deliver_fuser *fu = &fj->users[i];

		if (gbad) {
			/* A broken global filter: INBOX, for everyone. */
			fu->ran = 1;
			memset(&fu->res, 0, sizeof(fu->res));
			fu->res.failed = 1;
			snprintf(fu->res.error, sizeof(fu->res.error), "%s",
			    msg);
			stage_log(fu, "filter failed: %s; kept in INBOX", msg);
			continue;
		}
		stage_user(job, fj, global, fu);
	}
	filter_prog_free(&global);
	fj->filtered = 1;
}

int
deliver_runner_start(struct deliver_config *cf, const struct config *c)
{
	struct filter_runner_config rc;

	memset(&rc, 0, sizeof(rc));
	rc.fallback_user = c->filter_user;
	rc.timeout = c->filter_timeout;
	rc.output_max = c->filter_output_max;
	rc.max_procs = c->filter_max_procs;
	rc.daemon_user = c->user;
	snprintf(cf->filter_user, sizeof(cf->filter_user), "%s",
	    c->filter_user);
	return filter_runner_start(&rc, &cf->runner);
}
