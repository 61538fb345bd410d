/*
 * worker.c - see worker.h.
 *
 * One mutex guards the queue of waiting jobs and the list of finished
 * ones.  A thread that finishes a job appends it to the finished list and,
 * when the list was empty, writes one byte to a pipe; the loop's read
 * event on the pipe drains the list and runs the done() callbacks.  The
 * loop never takes the mutex for longer than a list operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "error.h"
#include "log.h"
#include "worker.h"
#include "xmalloc.h"

#define WORKER_THREADS_MAX	64

enum job_state {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_FINISHED,
};

struct worker_job {
	struct worker_pool	*pool;
	worker_work_fn		*work;
	worker_done_fn		*done;
	void			*arg;
	enum job_state		 state;
	int			 cancelled;
	struct worker_job	*next;
};

struct job_list {
	struct worker_job	*head, *tail;
};

struct worker_pool {
	int			 stopping;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	pthread_t		 threads[WORKER_THREADS_MAX];
	unsigned		 nthreads;
	unsigned		 queue_max;
	int			 nice;		/* the threads' increment */
	unsigned		 nqueued;
	unsigned		 nrunning;
	struct job_list		 queue;
	struct job_list		 finished;
	int			 pipe[2];
	struct event_base	*base;
};

static void	*worker_main(void *);
static void	 worker_wakeup(evutil_socket_t, short, void *);
static void	 worker_arm(struct worker_pool *);
static void	 list_push(struct job_list *, struct worker_job *);
static struct worker_job *list_pop(struct job_list *);
static int	 list_remove(struct job_list *, struct worker_job *);

static void
list_push(struct job_list *l, struct worker_job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct worker_job *
list_pop(struct job_list *l)
{
	struct worker_job *j = l->head;

	if (j != NULL) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
		j->next = NULL;
	}
	return j;
}

/* 1 when j was in l (and is no longer). */
static int
list_remove(struct job_list *l, struct worker_job *j)
{
	struct worker_job **pp, *prev = NULL;

	for (pp = &l->head; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		if (*pp != j)
			continue;
		*pp = j->next;
		if (l->tail == j)
			l->tail = prev;
		j->next = NULL;
		return 1;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker_pool *pool = arg;
	struct worker_job *j;
	int wake;

	/* Per thread on Linux; failing only costs the preference. */
	if (pool->nice != 0)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
		    getpriority(PRIO_PROCESS, 0) + pool->nice);
	pthread_mutex_lock(&pool->mu);
	for (;;) {
		while (!pool->stopping && pool->queue.head == NULL)
			pthread_cond_wait(&pool->cv, &pool->mu);
		if (pool->stopping)
			break;
		j = list_pop(&pool->queue);
		pool->nqueued--;
		pool->nrunning++;
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&pool->mu);

		err_clear();
		j->work(j->arg);

		pthread_mutex_lock(&pool->mu);
		pool->nrunning--;
		j->state = JOB_FINISHED;
		wake = pool->finished.head == NULL;
		list_push(&pool->finished, j);
		if (wake) {
			/* A full pipe already holds a wake-up: EAGAIN is fine. */
			while (write(pool->pipe[1], "", 1) == -1 &&
			    errno == EINTR)
				;
		}
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

/*
 * A one-shot event, armed again each time: the loop owns and frees it,
 * so a pool may be freed before or after the loop's base is freed
 * (daemon_serve() frees the base, then stops auth).  A pool is only freed
 * when its loop no longer runs.
 */
static void
worker_arm(struct worker_pool *pool)
{
	if (event_base_once(pool->base, pool->pipe[0], EV_READ, worker_wakeup,
	    pool, NULL) == -1)
		fatalx("worker pool: cannot add the wake-up event");
}

/* On the loop: runs done() for every finished job. */
static void
worker_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct worker_pool *pool = arg;
	struct job_list done;
	struct worker_job *j;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	worker_arm(pool);
	pthread_mutex_lock(&pool->mu);
	done = pool->finished;
	pool->finished.head = pool->finished.tail = NULL;
	pthread_mutex_unlock(&pool->mu);
	while ((j = list_pop(&done)) != NULL) {
		/* cancelled is only set on the loop thread: no race here. */
		j->done(j->arg, j->cancelled);
		free(j);
	}
}

int
worker_pool_new(struct event_base *base, unsigned nthreads,
    unsigned queue_max, struct worker_pool **pool_r)
{
	return worker_pool_new_nice(base, nthreads, queue_max, WORKER_NICE,
	    pool_r);
}

int
worker_pool_new_nice(struct event_base *base, unsigned nthreads,
    unsigned queue_max, int nice, struct worker_pool **pool_r)
{
	struct worker_pool *pool;
	unsigned i;
	int rc, fl, k;

	*pool_r = NULL;
	if (nthreads == 0 || nthreads > WORKER_THREADS_MAX || queue_max == 0)
		return err_set(ERR_INVALID, "worker pool: %u threads, queue "
		    "%u (1 to %d threads, queue at least 1)", nthreads,
		    queue_max, WORKER_THREADS_MAX);
	pool = xcalloc(1, sizeof(*pool));
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cv, NULL);
	if (pipe(pool->pipe) == -1) {
		err_set(ERR_TEMP, "worker pool: pipe: %s", strerror(errno));
		free(pool);
		return -1;
	}
	for (k = 0; k < 2; k++) {
		fl = fcntl(pool->pipe[k], F_GETFL);
		fcntl(pool->pipe[k], F_SETFL, fl | O_NONBLOCK);
		fcntl(pool->pipe[k], F_SETFD, FD_CLOEXEC);
	}
	pool->base = base;
	worker_arm(pool);
	pool->stopping = 0;
	pool->queue_max = queue_max;
	pool->nice = nice;
	pool->nthreads = 0;
	for (i = 0; i < nthreads; i++) {
		rc = pthread_create(&pool->threads[i], NULL, worker_main, pool);
		if (rc != 0) {
			err_set(ERR_TEMP, "worker pool: thread: %s",
			    strerror(rc));
			worker_pool_free(&pool);
			return -1;
		}
		pool->nthreads++;
	}
	*pool_r = pool;
	return 0;
}

struct worker_job *
worker_submit(struct worker_pool *pool, worker_work_fn *work,
    worker_done_fn *done, void *arg)
{
	struct worker_job *j;

	if (pool == NULL) {
		err_set(ERR_TEMP, "the worker pool is not running");
		return NULL;
	}
	pthread_mutex_lock(&pool->mu);
	if (pool->nqueued >= pool->queue_max) {
		pthread_mutex_unlock(&pool->mu);
		err_set(ERR_LIMIT, "%u jobs wait for a worker thread already",
		    pool->queue_max);
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->pool = pool;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->state = JOB_QUEUED;
	list_push(&pool->queue, j);
	pool->nqueued++;
	pthread_cond_signal(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	return j;
}

void
worker_cancel(struct worker_job **jobp)
{
	struct worker_job *j = *jobp;
	struct worker_pool *pool;
	int dequeued = 0;

	if (j == NULL)
		return;
	pool = j->pool;
	*jobp = NULL;
	pthread_mutex_lock(&pool->mu);
	if (j->state == JOB_QUEUED && list_remove(&pool->queue, j)) {
		pool->nqueued--;
		dequeued = 1;
	} else
		j->cancelled = 1;
	pthread_mutex_unlock(&pool->mu);
	if (dequeued) {
		j->done(j->arg, 1);
		free(j);
	}
}

unsigned
worker_pending(struct worker_pool *pool)
{
	unsigned n;

	pthread_mutex_lock(&pool->mu);
	n = pool->nqueued + pool->nrunning;
	pthread_mutex_unlock(&pool->mu);
	return n;
}

void
worker_pool_free(struct worker_pool **poolp)
{
	struct worker_pool *pool = *poolp;
	struct worker_job *j;
	unsigned i;

	if (pool == NULL)
		return;
	*poolp = NULL;
	pthread_mutex_lock(&pool->mu);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->nthreads = 0;
	/* Nobody waits for these any more: free them as cancelled. */
	while ((j = list_pop(&pool->queue)) != NULL) {
		j->done(j->arg, 1);
		free(j);
	}
	while ((j = list_pop(&pool->finished)) != NULL) {
		j->done(j->arg, 1);
		free(j);
	}
	pool->nqueued = pool->nrunning = 0;
	close(pool->pipe[0]);
	close(pool->pipe[1]);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
	free(pool);
}
