/*
 * worker.h - pools of threads for slow work (password hashing, filters
 * that run spamc) whose results come back on the libevent loop.  Each
 * kind of work has a pool of its own, so slow filters never hold up
 * logins.
 *
 * The loop submits a job: work() runs on one of the pool's threads, then
 * done() runs on the loop thread, in a later loop iteration, never inside
 * worker_submit().  The queue of jobs not yet started is bounded: a full
 * queue refuses the job at once (the caller answers "try again later"),
 * so the loop never waits for a thread.  A job may be cancelled (its
 * session went away): done() is then called with cancelled set, so the
 * job's memory can be freed, and must not touch the session.
 *
 * work() runs concurrently with the loop: it may only use what the job
 * owns (no logging, no store handle shared with the loop).  The error
 * state (error.h) is per thread.
 */
#ifndef VELLUM_WORKER_H
#define VELLUM_WORKER_H

struct event_base;
struct worker_job;
struct worker_pool;

/*
 * The pool's threads run this much nicer than the loop (Linux schedules
 * threads one by one): when the CPU is short, the loop's connections go
 * first and the hashes wait.
 */
#define WORKER_NICE	5

/* Runs on a worker thread. */
typedef void worker_work_fn(void *arg);
/* Runs on the loop; cancelled: worker_cancel() was called for the job. */
typedef void worker_done_fn(void *arg, int cancelled);

/*
 * Starts a pool of nthreads threads (1 to 64) with room for queue_max
 * jobs waiting (1 or more), completions delivered on base.  0 and
 * *pool_r, or -1 (INVALID counts; TEMP: no thread or pipe could be made).
 */
int	worker_pool_new(struct event_base *base, unsigned nthreads,
	    unsigned queue_max, struct worker_pool **pool_r);
/*
 * The same with the threads nice more than the loop (0: as the loop; a
 * thread whose work the loop's clients wait for, such as smtpd's store
 * writer).
 */
int	worker_pool_new_nice(struct event_base *base, unsigned nthreads,
	    unsigned queue_max, int nice, struct worker_pool **pool_r);
/*
 * Queues a job.  The handle stays valid until done() has been called.
 * NULL with ERR_LIMIT when queue_max jobs are waiting already, ERR_TEMP
 * when pool is NULL.
 */
struct worker_job *worker_submit(struct worker_pool *, worker_work_fn *work,
	    worker_done_fn *done, void *arg);
/*
 * Cancels a job: done(arg, 1) follows (at once when it had not started,
 * else when work() returns, on the loop).  *jobp is set to NULL.
 */
void	worker_cancel(struct worker_job **jobp);
/* Jobs waiting and running now (for tests and logs). */
unsigned worker_pending(struct worker_pool *);
/*
 * Stops the pool and frees it (*poolp = NULL; NULL is fine): waits for
 * running jobs, cancels waiting ones (done() with cancelled set), joins
 * the threads.  Called when the loop no longer runs.
 */
void	worker_pool_free(struct worker_pool **poolp);

#endif
