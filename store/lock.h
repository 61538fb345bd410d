/*
 * lock.h - named locks with owner and lease, kept in the store.
 *
 * Used for per-recipient delivery locks ("deliver:ADDRESS") and POP3
 * maildrop locks ("pop3:ADDRESS").  A lock is stale when its lease ran out
 * or its owner process (on this host) no longer exists; a stale lock is
 * reclaimed by the next taker, so a crashed daemon never blocks anyone for
 * long.  Each call is its own short transaction in the volatile
 * environment (store/volatile.c): never synced, gone after a reboot.
 *
 * A lock has one holder (an owner of a process), except a delivery lock
 * taken shared (store_lock_take_queued()): processes that deliver to the
 * recipient without filters hold it together, each with its own lease,
 * and one that died or whose lease ran out is dropped alone.
 */
#ifndef VELLUM_STORE_LOCK_H
#define VELLUM_STORE_LOCK_H

#include <sys/types.h>

#include "store.h"

#define STORE_LOCK_NAME_MAX	400
#define STORE_LOCK_HOST_MAX	64
#define STORE_LOCK_OWNER_MAX	64
/* Processes holding one shared lock at most; past it, takers wait. */
#define STORE_LOCK_HOLDERS_MAX	32

/* One holder of a lock (store_lock_list() gives one per holder). */
struct store_lock {
	char	name[STORE_LOCK_NAME_MAX + 1];
	pid_t	pid;
	char	host[STORE_LOCK_HOST_MAX + 1];
	char	owner[STORE_LOCK_OWNER_MAX + 1];	/* "" = the process */
	int64_t	since;
	int64_t	expires;
	int	exclusive;	/* a delivery that runs filters holds it */
	int	shared;		/* taken shared: others may join it */
	unsigned nholders;	/* holders of this lock, stale ones too */
	int	stale;		/* this holder's: computed when read */
};

/*
 * Takes the lock for this process alone for lease seconds (dropping
 * stale holders).  1 taken (or renewed if we held it).  Errors: INUSE
 * (held by another, even shared; the message names a holder), INVALID.
 * Locks need no durability (a crash leaves only stale locks): this and
 * store_lock_release_owner() commit without a sync, as
 * store_lock_take_many() does.  A job of store_lock_take_queued() that
 * finds a lock held so waits in turn.
 */
int	store_lock_take(struct store *, const char *name, unsigned lease);
/*
 * The same for one owner inside this process (a session: "pop3 conn 12"):
 * another owner of the same process gets INUSE too.
 */
int	store_lock_take_owner(struct store *, const char *name,
	    unsigned lease, const char *owner);
/* Releases a lock this owner of this process holds.  1, or 0 not held. */
int	store_lock_release_owner(struct store *, const char *name,
	    const char *owner);
/*
 * Takes every lock of names[0..n) for this process, or none: 1 all
 * taken, 0 one is held by another process (nothing taken; err INUSE
 * names it), -1 error.  One transaction; locks need no durability (a
 * crash leaves stale locks), so it commits without a sync.
 */
int	store_lock_take_many(struct store *, const char *const *names,
	    size_t n, unsigned lease);
/*
 * store_lock_take_many() for jobs that must get locks in the order they
 * asked (deliveries to one recipient, from any process).  The take[0..
 * ntake) locks are taken shared, or alone if exclusive (the job runs
 * filters: those who find them so wait in turn).  A job waits if another
 * process holds one of take[] exclusively, or alone (a lock not taken
 * shared), or at all when exclusive is set; or if a live waiter with an
 * earlier ticket is in line for one of take[] or join[0..njoin) (locks
 * this process holds already and the job would share): shared takers
 * queue behind a job that waits to hold them alone.  A job that waits
 * gets a ticket (*ticket, from one increasing counter; 0 = none yet), is
 * written down as waiting for all of them, and 0 is returned: it tries
 * again later with the same *ticket.  1: the take[] locks are taken
 * (renewed if held) and the job's waits are over (*ticket = 0).  A wait
 * lasts STORE_LOCK_WAIT_LEASE seconds unless renewed by a try, and ends
 * when its process does.
 */
#define STORE_LOCK_WAIT_LEASE	30
int	store_lock_take_queued(struct store *, const char *const *take,
	    size_t ntake, const char *const *join, size_t njoin,
	    unsigned lease, int exclusive, uint64_t *ticket);
/*
 * Writes the job down as waiting for names[0..n) (held by a job of this
 * process), with a ticket if it has none yet: 0, or -1.
 */
int	store_lock_wait(struct store *, const char *const *names, size_t n,
	    uint64_t *ticket);
/* A job that waited with ticket gives up: its waits end. */
int	store_lock_wait_end(struct store *, const char *const *names,
	    size_t n, uint64_t ticket);
/* Releases those of names[0..n) that this process holds (no sync). */
int	store_lock_release_many(struct store *, const char *const *names,
	    size_t n);
/*
 * Releases a lock this process holds (its hold, if others share it).  1
 * released, 0 not held by us.
 */
int	store_lock_release(struct store *, const char *name);
/* Removes a lock whoever holds it, every holder.  1 removed, 0 none. */
int	store_lock_clear(struct store *, const char *name);
/*
 * Drops every stale hold (a lock whose holders all are stale goes);
 * *n_r gets how many holds.
 */
int	store_lock_clear_stale(struct store *, unsigned *n_r);

/* Calls fn for each holder of each lock, in name order. */
typedef int store_lock_fn(const struct store_lock *, void *ctx);
int	store_lock_list(struct store *, store_lock_fn *fn, void *ctx);

#endif
