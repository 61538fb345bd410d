/*
 * learn.c - Spam training: vellum-smtpd drains the store's training queue
 * (store/learn.h: messages users moved into or out of Spam over IMAP or
 * the file view) into [filter] learn_spam / learn_ham (sa-learn by
 * default).
 *
 * One entry at a time, so a user's Bayes store never has two writers
 * (SpamAssassin's cannot take concurrent ones); a store lock "learn"
 * keeps it so across processes too.  The program runs through the
 * filter runner (filter/run.h) as the user's mapped account (or the
 * [filter] user) on the filter pool's thread, with the message on its
 * standard input, never on the event loop.  A message expunged before
 * its turn is skipped.  An entry whose program fails is logged and
 * dropped: training is best effort, mail never depends on it.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/worker.h"
#include "common/xmalloc.h"
#include "filter/eval.h"
#include "filter/run.h"
#include "smtpd/session.h"
#include "store/learn.h"
#include "store/lock.h"
#include "store/message.h"
#include "store/store.h"
#include "store/user.h"

#define LEARN_LOCK		"learn"
#define LEARN_LEASE		3600	/* s: longer than any program runs */
#define LEARN_IDLE_MS		2000	/* a look at the queue when idle */

struct learn_job {
	struct store_learn	 e;
	char			 address[STORE_ADDRESS_MAX + 1];
	uint32_t		 fs_uid, fs_gid;
	void			*msg;
	size_t			 len;
	char			**argv;
	char			*envp[6];
	char			 home[1024];
	/* result */
	int			 rc;
	struct filter_exec_result res;
	char			 err[256];
};

static struct {
	struct smtp_server	*srv;
	struct worker_job	*running;
	struct learn_job	*job;
} learn;

static void	learn_tick(evutil_socket_t, short, void *);
static void	learn_arm(int ms);
static void	learn_account(struct learn_job *);

static int
learn_first_txn(struct store_txn *t, void *ctx)
{
	struct learn_job *j = ctx;
	struct store_user u;
	int rc;

	free(j->msg);
	j->msg = NULL;
	if ((rc = store_learn_first(t, &j->e)) != 1)
		return rc;
	if ((rc = store_user_get(t, j->e.user_id, &u)) == -1)
		return -1;
	if (rc == 1) {
		snprintf(j->address, sizeof(j->address), "%s", u.address);
		j->fs_uid = u.fs_uid;
		j->fs_gid = u.fs_gid;
		if (store_msg_read(t, j->e.mailbox_id, j->e.uid, &j->msg,
		    &j->len) == -1)
			return -1;
	}
	return 1;
}

static int
learn_delete_txn(struct store_txn *t, void *ctx)
{
	const struct learn_job *j = ctx;

	return store_learn_delete(t, j->e.seq);
}

static void
learn_job_free(struct learn_job *j)
{
	size_t i;

	if (j == NULL)
		return;
	free(j->msg);
	filter_argv_free(&j->argv);
	for (i = 0; j->envp[i] != NULL; i++)
		free(j->envp[i]);
	free(j->res.out);
	free(j);
}

/* On the filter pool's thread. */
static void
learn_work(void *arg)
{
	struct learn_job *j = arg;
	struct filter_run_req req;

	/* Here, not on the loop: NSS may read files or ask a server. */
	learn_account(j);
	memset(&req, 0, sizeof(req));
	req.uid = j->fs_uid;
	req.gid = j->fs_gid;
	req.home = j->home;
	req.argv = j->argv;
	req.envp = j->envp;
	req.input = j->msg;
	req.inlen = j->len;
	req.capture = 0;
	j->rc = filter_runner_exec(learn.srv->deliver.runner, &req, &j->res);
	if (j->rc == -1)
		snprintf(j->err, sizeof(j->err), "%s", err_msg());
}

static void
learn_done(void *arg, int cancelled)
{
	struct learn_job *j = arg;
	struct store *st = learn.srv->store;
	const char *const lock[1] = { LEARN_LOCK };

	learn.running = NULL;
	learn.job = NULL;
	if (!cancelled) {
		if (j->rc == -1)
			log_warnx("learn %s for %s: %s", j->e.spam ? "spam" :
			    "ham", j->address, j->err);
		else if (j->res.status != 0 || j->res.timed_out)
			log_warnx("learn %s for %s: %s %s", j->e.spam ?
			    "spam" : "ham", j->address, j->argv[0],
			    j->res.timed_out ? "timed out" : "failed");
		else
			log_info("learn %s for %s: done", j->e.spam ? "spam" :
			    "ham", j->address);
		if (store_write(st, learn_delete_txn, j) == -1)
			log_warnx("learn: %s", err_msg());
	}
	store_lock_release_many(st, lock, 1);
	learn_job_free(j);
	if (!cancelled)
		learn_arm(0);
}

/* Sets the program's account, home and environment. */
static void
learn_account(struct learn_job *j)
{
	const struct config *cf = learn.srv->config;
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	size_t n = 0;

	snprintf(j->home, sizeof(j->home), "/");
	if ((j->fs_uid != 0 && getpwuid_r(j->fs_uid, &pw, buf, sizeof(buf),
	    &pwp) == 0 && pwp != NULL) || (j->fs_uid == 0 &&
	    getpwnam_r(cf->filter_user, &pw, buf, sizeof(buf), &pwp) == 0 &&
	    pwp != NULL))
		snprintf(j->home, sizeof(j->home), "%s", pw.pw_dir);
	j->envp[n++] = xasprintf("HOME=%s", j->home);
	j->envp[n++] = xasprintf("USER=%s", j->address);
	j->envp[n++] = xasprintf("LOGNAME=%s", j->address);
	j->envp[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	j->envp[n] = NULL;
}

static void
learn_tick(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = learn.srv->store;
	const struct config *cf = learn.srv->config;
	const char *const lock[1] = { LEARN_LOCK };
	struct learn_job *j;
	int rc;

	if (learn.running != NULL)
		return;
	j = xcalloc(1, sizeof(*j));
	if ((rc = store_read(st, learn_first_txn, j)) != 1) {
		if (rc == -1)
			log_warnx("learn: %s", err_msg());
		learn_job_free(j);
		learn_arm(LEARN_IDLE_MS);
		return;
	}
	if ((rc = store_lock_take_many(st, lock, 1, LEARN_LEASE)) != 1) {
		learn_job_free(j);	/* another process trains now */
		learn_arm(LEARN_IDLE_MS);
		return;
	}
	if (j->msg == NULL || !cf->filter_learn ||
	    learn.srv->deliver.runner == NULL) {
		/* expunged since, or training is off: nothing to learn */
		if (store_write(st, learn_delete_txn, j) == -1)
			log_warnx("learn: %s", err_msg());
		store_lock_release_many(st, lock, 1);
		learn_job_free(j);
		learn_arm(0);
		return;
	}
	if (filter_argv_split(j->e.spam ? cf->filter_learn_spam :
	    cf->filter_learn_ham, &j->argv) != 1) {
		/*
		 * The command will not split better next time: the entry
		 * goes (a retry would block the queue behind it for good).
		 */
		log_warnx("learn %s for %s: [filter] learn_%s: %s; not "
		    "trained", j->e.spam ? "spam" : "ham", j->address,
		    j->e.spam ? "spam" : "ham", err_msg());
		if (store_write(st, learn_delete_txn, j) == -1)
			log_warnx("learn: %s", err_msg());
		store_lock_release_many(st, lock, 1);
		learn_job_free(j);
		learn_arm(0);
		return;
	}
	learn.job = j;
	learn.running = worker_submit(learn.srv->filter_pool, learn_work,
	    learn_done, j);
	if (learn.running == NULL) {
		learn.job = NULL;
		store_lock_release_many(st, lock, 1);
		learn_job_free(j);
		learn_arm(LEARN_IDLE_MS);
	}
}

/*
 * One timer at a time, a one-shot the loop owns (so nothing is left to
 * free when the loop goes): armed at start, after each tick that started
 * no program, and when a program is done.
 */
static void
learn_arm(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (event_base_once(conn_base(), -1, EV_TIMEOUT, learn_tick, NULL,
	    &tv) == -1)
		log_warnx("learn: cannot arm the timer; training stops");
}

void
smtp_learn_start(struct smtp_server *srv)
{
	learn.srv = srv;
	learn_arm(LEARN_IDLE_MS);
}
