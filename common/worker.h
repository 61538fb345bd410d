/*
 * worker.h - a small pool of threads for slow work (password hashing)
 * whose results come back on the libevent loop.
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
 * Starts nthreads threads (1 or more) with room for queue_max jobs
 * waiting (1 or more), completions delivered on base.  0, or -1 (TEMP:
 * no thread or pipe could be made).  A second call while running is an
 * error (INVALID).
 */
int	worker_init(struct event_base *base, unsigned nthreads,
	    unsigned queue_max);
/* Whether worker_init() has been called (and not worker_done()). */
int	worker_running(void);
/*
 * Queues a job.  The handle stays valid until done() has been called.
 * NULL with ERR_LIMIT when queue_max jobs are waiting already, ERR_TEMP
 * when the pool is not running.
 */
struct worker_job *worker_submit(worker_work_fn *work, worker_done_fn *done,
	    void *arg);
/*
 * Cancels a job: done(arg, 1) follows (at once when it had not started,
 * else when work() returns, on the loop).  *jobp is set to NULL.
 */
void	worker_cancel(struct worker_job **jobp);
/* Jobs waiting and running now (for tests and logs). */
unsigned worker_pending(void);
/*
 * Stops the pool: waits for running jobs, cancels waiting ones (done()
 * with cancelled set), joins the threads.
 */
void	worker_done(void);

#endif
