/*
 * inval.c - kernel cache invalidations, on a thread of their own.
 *
 * fuse_lowlevel_notify_inval_*() may wait for a lock the kernel holds
 * while a request of ours is pending; the event loop must keep reading
 * requests meanwhile, so it only queues and this thread writes them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "fs/fs.h"

struct inval {
	struct inval	*next;
	uint64_t	 ino;		/* the inode, or the parent of name */
	char		*name;		/* NULL: the inode itself */
};

static pthread_t	 inval_thread;
static pthread_mutex_t	 inval_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 inval_cv = PTHREAD_COND_INITIALIZER;
static struct inval	*inval_head, **inval_tail = &inval_head;
static int		 inval_stopping, inval_running;

static void	*inval_main(void *);
static void	 inval_push(uint64_t, const char *);

static void *
inval_main(void *arg)
{
	struct inval *q;
	int rc;

	(void)arg;
	pthread_mutex_lock(&inval_mu);
	for (;;) {
		while (inval_head == NULL && !inval_stopping)
			pthread_cond_wait(&inval_cv, &inval_mu);
		if (inval_head == NULL)
			break;
		q = inval_head;
		if ((inval_head = q->next) == NULL)
			inval_tail = &inval_head;
		pthread_mutex_unlock(&inval_mu);
		if (q->name != NULL)
			rc = fuse_lowlevel_notify_inval_entry(fs.se, q->ino,
			    q->name, strlen(q->name));
		else
			rc = fuse_lowlevel_notify_inval_inode(fs.se, q->ino,
			    0, 0);
		/* ENOENT: the kernel did not hold it; fine. */
		if (rc < 0 && rc != -ENOENT && rc != -ENOTCONN)
			log_warnx("cache invalidation of %s: %s",
			    q->name != NULL ? q->name : "an inode",
			    strerror(-rc));
		free(q->name);
		free(q);
		pthread_mutex_lock(&inval_mu);
	}
	pthread_mutex_unlock(&inval_mu);
	return NULL;
}

int
fs_inval_start(void)
{
	int rc;

	if ((rc = pthread_create(&inval_thread, NULL, inval_main,
	    NULL)) != 0) {
		log_warnx("cannot start the invalidation thread: %s",
		    strerror(rc));
		return -1;
	}
	inval_running = 1;
	return 0;
}

void
fs_inval_stop(void)
{
	if (!inval_running)
		return;
	pthread_mutex_lock(&inval_mu);
	inval_stopping = 1;
	/* Whatever is queued no longer matters: the mount goes. */
	while (inval_head != NULL) {
		struct inval *q = inval_head;

		inval_head = q->next;
		free(q->name);
		free(q);
	}
	inval_tail = &inval_head;
	pthread_cond_signal(&inval_cv);
	pthread_mutex_unlock(&inval_mu);
	pthread_join(inval_thread, NULL);
	inval_running = 0;
}

static void
inval_push(uint64_t ino, const char *name)
{
	struct inval *q;

	if (!inval_running)
		return;
	q = xcalloc(1, sizeof(*q));
	q->ino = ino;
	q->name = name != NULL ? xstrdup(name) : NULL;
	pthread_mutex_lock(&inval_mu);
	*inval_tail = q;
	inval_tail = &q->next;
	pthread_cond_signal(&inval_cv);
	pthread_mutex_unlock(&inval_mu);
}

void
fs_inval_entry(uint64_t parent, const char *name)
{
	inval_push(parent, name);
}

void
fs_inval_inode(uint64_t ino)
{
	inval_push(ino, NULL);
}
