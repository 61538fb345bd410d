/*
 * ratecount.c - per-host counters in shared memory (ratecount.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "log.h"
#include "ratecount.h"

struct rc_counter {
	int64_t		window;
	uint32_t	n;
};

struct rc_slot {
	char			key[RATECOUNT_KEY_MAX];	/* "": free */
	int64_t			seen;
	struct rc_counter	c[RATECOUNT_KINDS];
};

/* The whole mapping: header, then the slots. */
struct ratecount {
	pthread_mutex_t	lock;
	unsigned	nslots;
	size_t		size;		/* of the mapping */
	uint64_t	evictions;
	struct rc_slot	slot[];
};

static void	rc_lock(struct ratecount *);
static struct rc_slot *rc_find(struct ratecount *, const char *, int);

int
ratecount_new(unsigned nslots, struct ratecount **r_r)
{
	pthread_mutexattr_t ma;
	struct ratecount *r;
	size_t size;
	void *p;

	*r_r = NULL;
	if (nslots == 0)
		nslots = 1;
	size = offsetof(struct ratecount, slot) +
	    (size_t)nslots * sizeof(struct rc_slot);
	/* Zero-filled: every slot is free, every window 0. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return err_set(ERR_TEMP, "shared counters (%zu bytes): mmap: "
		    "%s", size, strerror(errno));
	r = p;
	if (pthread_mutexattr_init(&ma) != 0 ||
	    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&r->lock, &ma) != 0) {
		munmap(p, size);
		return err_set(ERR_TEMP, "shared counters: cannot make a "
		    "process-shared mutex");
	}
	pthread_mutexattr_destroy(&ma);
	r->nslots = nslots;
	r->size = size;
	*r_r = r;
	return 0;
}

void
ratecount_free(struct ratecount **rp)
{
	struct ratecount *r = *rp;

	if (r == NULL)
		return;
	/* The other processes still use the mutex: it is not destroyed. */
	munmap(r, r->size);
	*rp = NULL;
}

/*
 * A process that died holding the lock left the counts as they were
 * (each store is one whole field): take it over and go on.
 */
static void
rc_lock(struct ratecount *r)
{
	int rc = pthread_mutex_lock(&r->lock);

	if (rc == EOWNERDEAD) {
		log_warnx("shared counters: a process died holding their "
		    "lock; taken over");
		pthread_mutex_consistent(&r->lock);
	} else if (rc != 0)
		fatalx("shared counters: lock: %s", strerror(rc));
}

/*
 * The slot of key among its RATECOUNT_PROBE (or, in a small table, all
 * of them); with take, a free one or the stalest is made key's.  NULL:
 * no slot (without take).  Under the lock.
 */
static struct rc_slot *
rc_find(struct ratecount *r, const char *key, int take)
{
	struct rc_slot *s, *stalest = NULL;
	uint32_t h = 2166136261u;	/* FNV-1a */
	unsigned i, n, first;
	const char *p;

	/* A key as long as a slot's would never be found again. */
	if (strlen(key) >= RATECOUNT_KEY_MAX)
		fatalx("shared counters: key of %zu bytes", strlen(key));
	for (p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	first = h % r->nslots;
	n = r->nslots > RATECOUNT_PROBE ? RATECOUNT_PROBE : r->nslots;
	for (i = 0; i < n; i++) {
		s = &r->slot[(first + i) % r->nslots];
		if (strcmp(s->key, key) == 0 && s->key[0] != '\0')
			return s;
		if (stalest == NULL || (stalest->key[0] != '\0' &&
		    (s->key[0] == '\0' || s->seen < stalest->seen)))
			stalest = s;
	}
	if (!take)
		return NULL;
	if (stalest->key[0] != '\0')
		r->evictions++;
	memset(stalest, 0, sizeof(*stalest));
	snprintf(stalest->key, sizeof(stalest->key), "%s", key);
	return stalest;
}

uint32_t
ratecount_add(struct ratecount *r, const char *key, unsigned kind,
    int64_t window, uint32_t delta, int64_t now)
{
	struct rc_slot *s;
	struct rc_counter *c;
	uint32_t n;

	if (kind >= RATECOUNT_KINDS)
		fatalx("ratecount_add: kind %u of %d", kind, RATECOUNT_KINDS);
	rc_lock(r);
	s = rc_find(r, key, 1);
	s->seen = now;
	c = &s->c[kind];
	if (c->window != window) {
		c->window = window;
		c->n = 0;
	}
	c->n = delta > UINT32_MAX - c->n ? UINT32_MAX : c->n + delta;
	n = c->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

uint32_t
ratecount_get(struct ratecount *r, const char *key, unsigned kind,
    int64_t window, int64_t now)
{
	struct rc_slot *s;
	uint32_t n = 0;

	if (kind >= RATECOUNT_KINDS)
		fatalx("ratecount_get: kind %u of %d", kind, RATECOUNT_KINDS);
	rc_lock(r);
	if ((s = rc_find(r, key, 0)) != NULL) {
		s->seen = now;
		if (s->c[kind].window == window)
			n = s->c[kind].n;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

void
ratecount_reset(struct ratecount *r, const char *key, unsigned kind)
{
	struct rc_slot *s;

	if (kind >= RATECOUNT_KINDS)
		fatalx("ratecount_reset: kind %u of %d", kind, RATECOUNT_KINDS);
	rc_lock(r);
	if ((s = rc_find(r, key, 0)) != NULL)
		s->c[kind].n = 0;
	pthread_mutex_unlock(&r->lock);
}

uint64_t
ratecount_evictions(struct ratecount *r)
{
	uint64_t n;

	rc_lock(r);
	n = r->evictions;
	pthread_mutex_unlock(&r->lock);
	return n;
}
