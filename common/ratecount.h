/*
 * ratecount.h - counters per client host shared by every process of a
 * daemon (smtpd's rates per minute and per day, smtpd/rate.c).
 *
 * Why shared memory: the first process of a daemon accepts every
 * connection, but its workers (prefork.c) serve them, so a count of what
 * one host did in the last minute must be one count for all of them.
 * The table is an anonymous MAP_SHARED mapping made before
 * conn_workers() forks: every worker, and every worker the spawner makes
 * later (a fork of the first process as it was then), has the same
 * pages.  Nothing is written to disk; the counts end with the daemon.
 *
 * Shape: a fixed number of slots (ratecount_new()), each one key (a
 * conn_ip_key(), at most RATECOUNT_KEY_MAX - 1 bytes) with
 * RATECOUNT_KINDS counters.  A key hashes to a run of RATECOUNT_PROBE
 * slots; it takes a free one of them, or else the one seen least
 * recently (the stalest host is forgotten, its counts with it).  So
 * memory is bounded whatever the number of hosts, and no call allocates.
 *
 * Windows: a counter belongs to a window, a number the caller picks (the
 * minute, now / 60; the day).  A counter asked about in another window
 * starts again at 0: a count rolls over at the window's end without a
 * timer.
 *
 * Locking: one process-shared robust mutex around each call (a few dozen
 * instructions under it).  A process that dies holding it (kill -9) does
 * not stop the others: the next one takes it over (EOWNERDEAD), the
 * counts as they were.
 */
#ifndef VELLUM_RATECOUNT_H
#define VELLUM_RATECOUNT_H

#include <stdint.h>

#define RATECOUNT_KEY_MAX	64	/* = CONN_ADDR_MAX, with the NUL */
#define RATECOUNT_KINDS		4	/* counters per key */
#define RATECOUNT_PROBE		8	/* slots a key may live in */

struct ratecount;

/*
 * A shared table of nslots slots (1 or more).  Call it before forking the
 * processes that share it.  0, -1 (err: TEMP, mmap or the mutex failed).
 */
int	ratecount_new(unsigned nslots, struct ratecount **r_r);
/* Unmaps this process's view; sets *r = NULL. */
void	ratecount_free(struct ratecount **r);
/*
 * Adds delta to counter kind (< RATECOUNT_KINDS) of key in window, now
 * seconds (any clock; the stalest slot is the one with the lowest) being
 * the time the host is seen; the counter starts at 0 when it was last
 * used in another window.  Takes a slot for a key that has none (maybe
 * the stalest's).  Returns the count after adding (capped at UINT32_MAX).
 */
uint32_t ratecount_add(struct ratecount *, const char *key, unsigned kind,
	    int64_t window, uint32_t delta, int64_t now);
/*
 * The count of kind for key in window: 0 when key has no slot or the
 * counter is of another window.  Never takes a slot; a key found is seen
 * at now (a host that keeps coming is not the stalest).
 */
uint32_t ratecount_get(struct ratecount *, const char *key, unsigned kind,
	    int64_t window, int64_t now);
/*
 * Sets counter kind of key to 0, whatever its window (an administrator
 * lifted what it counted: smtpd's block, vellumctl rate unblock).  Never
 * takes a slot; the key is not seen (resetting is not the host coming).
 */
void	ratecount_reset(struct ratecount *, const char *key, unsigned kind);
/* Slots taken from another key since the table was made. */
uint64_t ratecount_evictions(struct ratecount *);

#endif
