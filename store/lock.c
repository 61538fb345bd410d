/*
 * lock.c - `locks`: name -> how it is held (flags) and its holders, each
 * a process (pid, host, owner) with its own since and lease expiry.  The
 * table is in the volatile environment (volatile.c): never synced,
 * thrown away at the next boot.
 *
 * Most locks have one holder.  A delivery lock taken shared
 * (store_lock_take_queued()) has one holder per process delivering to
 * the recipient without filters: each process keeps its own jobs' count
 * (deliver/stage.c), so the store needs only who holds it and until when,
 * and a holder that died or let its lease run out is dropped alone.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "lock.h"
#include "private.h"

/*
 * The record's own version: flags, holder count, holders.  A record of
 * the first shape (STORE_REC_VERSION: one holder, then an exclusive
 * byte) is still read, as one holder.
 */
#define LOCK_REC_V2	2

#define LOCK_EXCL	0x01	/* held alone while filters run: wait in turn */
#define LOCK_SHARED	0x02	/* taken shared: others may join it */

struct lock_holder {
	pid_t	pid;
	char	host[STORE_LOCK_HOST_MAX + 1];
	char	owner[STORE_LOCK_OWNER_MAX + 1];	/* "" = the process */
	int64_t	since;
	int64_t	expires;
	int	stale;		/* computed when read */
};

struct lock_rec {
	unsigned		flags;
	size_t			n;
	struct lock_holder	h[STORE_LOCK_HOLDERS_MAX];
};

static int	lock_holder_mine(const struct lock_holder *, const char *);

struct lock_op {
	const char	*name;
	unsigned	 lease;
	unsigned	 count;
	int		 force;
	const char	*owner;		/* "" = the process */
};

/* A process that exited but is not reaped yet (a zombie) is gone. */
static int
lock_pid_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int alive = 1;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	/* "pid (comm) S ...": the state follows the last ')'. */
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z')
		alive = 0;
	fclose(f);
	return alive;
}

/*
 * Stale: lease over, or (pids) its process on this host is gone.  A
 * process is looked for only where it matters (a lock listed, or a
 * holder in a taker's way): a shared take or a release does not look
 * for each of the other holders.
 */
static void
lock_holder_check(struct lock_holder *h, int pids)
{
	h->stale = h->stale || h->expires <= store_now() ||
	    (pids && strcmp(h->host, store_hostname()) == 0 && h->pid > 0 &&
	    !lock_pid_alive(h->pid));
}

static int
lock_rec_decode(const MDB_val *v, struct lock_rec *r)
{
	struct lock_holder *h;
	struct unpack u;
	uint64_t n;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (unpack_init_version(&u, v) == STORE_REC_VERSION) {
		h = &r->h[0];
		h->pid = (pid_t)unpack_u32(&u);
		unpack_str(&u, h->host, sizeof(h->host));
		h->since = (int64_t)unpack_u64(&u);
		h->expires = (int64_t)unpack_u64(&u);
		unpack_str(&u, h->owner, sizeof(h->owner));
		if (u.left > 0 && unpack_u8(&u) != 0)
			r->flags = LOCK_EXCL;
		r->n = 1;
	} else {
		r->flags = unpack_u8(&u);
		n = unpack_uv(&u);
		if (n == 0 || n > STORE_LOCK_HOLDERS_MAX)
			return err_set(ERR_CORRUPT, "lock with %llu holders",
			    (unsigned long long)n);
		for (i = 0; i < n; i++) {
			h = &r->h[i];
			h->pid = (pid_t)unpack_u32(&u);
			unpack_str(&u, h->host, sizeof(h->host));
			unpack_str(&u, h->owner, sizeof(h->owner));
			h->since = (int64_t)unpack_u64(&u);
			h->expires = (int64_t)unpack_u64(&u);
		}
		r->n = n;
	}
	if (unpack_done(&u, "lock") == -1)
		return -1;
	for (i = 0; i < r->n; i++)
		lock_holder_check(&r->h[i], 0);
	return 1;
}

static int
lock_rec_get(struct store_txn *t, const char *name, struct lock_rec *r)
{
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_LOCKS, name, strlen(name), &v)) != 1)
		return rc;
	return lock_rec_decode(&v, r);
}

/*
 * Drops the stale holders (pids: also those whose process is gone):
 * *nstale_r (if not NULL) gets how many.
 */
static void
lock_rec_prune(struct lock_rec *r, int pids, unsigned *nstale_r)
{
	size_t i, j = 0;

	for (i = 0; i < r->n; i++) {
		if (pids && !lock_holder_mine(&r->h[i], r->h[i].owner))
			lock_holder_check(&r->h[i], 1);
	}
	for (i = 0; i < r->n; i++)
		if (!r->h[i].stale)
			r->h[j++] = r->h[i];
	if (nstale_r != NULL)
		*nstale_r += (unsigned)(r->n - j);
	r->n = j;
	if (j == 0)
		r->flags = 0;
}

static void
lock_rec_pack(const struct lock_rec *r, struct pack *p)
{
	size_t i;

	pack_init_version(p, LOCK_REC_V2);
	pack_u8(p, (uint8_t)r->flags);
	pack_uv(p, r->n);
	for (i = 0; i < r->n; i++) {
		pack_u32(p, (uint32_t)r->h[i].pid);
		pack_str(p, r->h[i].host);
		pack_str(p, r->h[i].owner);
		pack_u64(p, (uint64_t)r->h[i].since);
		pack_u64(p, (uint64_t)r->h[i].expires);
	}
}

/* Writes r (pruned by the caller), or removes the lock if nobody holds it. */
static int
lock_rec_put(struct store_txn *t, const char *name, const struct lock_rec *r)
{
	struct pack p;
	int rc;

	if (r->n == 0)
		return sdb_del(t, DB_LOCKS, name, strlen(name)) == -1 ? -1 : 1;
	lock_rec_pack(r, &p);
	rc = sdb_put(t, DB_LOCKS, name, strlen(name), p.buf, p.len, 0);
	pack_free(&p);
	return rc == -1 ? -1 : 1;
}

static int
lock_holder_mine(const struct lock_holder *h, const char *owner)
{
	return h->pid == getpid() && strcmp(h->host, store_hostname()) == 0 &&
	    strcmp(h->owner, owner) == 0;
}

/* This owner's entry in r, or -1. */
static ssize_t
lock_rec_mine(const struct lock_rec *r, const char *owner)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (lock_holder_mine(&r->h[i], owner))
			return (ssize_t)i;
	return -1;
}

/* The first live holder that is not this owner, or NULL. */
static const struct lock_holder *
lock_rec_other(const struct lock_rec *r, const char *owner)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!r->h[i].stale && !lock_holder_mine(&r->h[i], owner))
			return &r->h[i];
	return NULL;
}

/*
 * Sets this owner's hold in r (pruned): a new one, or the lease renewed
 * (since kept).  The caller checked that there is room.
 */
static void
lock_rec_hold(struct lock_rec *r, const char *owner, unsigned lease)
{
	struct lock_holder *h;
	ssize_t i = lock_rec_mine(r, owner);
	int64_t now = store_now();

	if (i == -1) {
		h = &r->h[r->n++];
		memset(h, 0, sizeof(*h));
		h->pid = getpid();
		snprintf(h->host, sizeof(h->host), "%s", store_hostname());
		snprintf(h->owner, sizeof(h->owner), "%s", owner);
		h->since = now;
	} else
		h = &r->h[i];
	h->expires = now + lease;
}

/* A lock for this owner alone (store_lock_take_owner()). */
static int
lock_take_txn(struct store_txn *t, void *ctx)
{
	struct lock_op *op = ctx;
	const struct lock_holder *o;
	struct lock_rec r;
	int rc;

	if ((rc = lock_rec_get(t, op->name, &r)) == -1)
		return -1;
	if (rc == 0)
		memset(&r, 0, sizeof(r));
	lock_rec_prune(&r, 0, NULL);
	if (lock_rec_other(&r, op->owner) != NULL)
		lock_rec_prune(&r, 1, NULL);	/* in the way: alive? */
	if ((o = lock_rec_other(&r, op->owner)) != NULL)
		return err_set(ERR_INUSE, "%s is locked by %s%spid %d on %s "
		    "since %lld seconds%s", op->name, o->owner,
		    o->owner[0] != '\0' ? " of " : "", (int)o->pid, o->host,
		    (long long)(store_now() - o->since), r.n > 1 ?
		    " (shared with others)" : "");
	/*
	 * Only this owner holds it (or nobody): it holds it alone now;
	 * renewing keeps it exclusive if it was.
	 */
	r.flags &= LOCK_EXCL;
	lock_rec_hold(&r, op->owner, op->lease);
	return lock_rec_put(t, op->name, &r);
}

int
store_lock_take(struct store *st, const char *name, unsigned lease)
{
	return store_lock_take_owner(st, name, lease, "");
}

int
store_lock_take_owner(struct store *st, const char *name, unsigned lease,
    const char *owner)
{
	struct lock_op op = { name, lease, 0, 0, owner };

	if (name[0] == '\0' || strlen(name) > STORE_LOCK_NAME_MAX)
		return err_set(ERR_INVALID, "bad lock name");
	if (strlen(owner) > STORE_LOCK_OWNER_MAX)
		return err_set(ERR_INVALID, "bad lock owner");
	if (lease == 0)
		return err_set(ERR_INVALID, "a lock needs a lease");
	/*
	 * In the volatile environment, never synced: a lock need not
	 * outlive a crash (its owner is gone with it), and a POP3 session
	 * that only reads must not cost two fdatasyncs.
	 */
	return store_volatile_write(st, lock_take_txn, &op);
}

/* Drops this owner's hold (force: the whole lock).  1, or 0 not held. */
static int
lock_release_txn(struct store_txn *t, void *ctx)
{
	struct lock_op *op = ctx;
	struct lock_rec r;
	ssize_t i;
	int rc;

	if ((rc = lock_rec_get(t, op->name, &r)) != 1)
		return rc;
	if (op->force)
		return sdb_del(t, DB_LOCKS, op->name, strlen(op->name)) ==
		    -1 ? -1 : 1;
	if ((i = lock_rec_mine(&r, op->owner)) == -1)
		return 0;
	r.h[i] = r.h[--r.n];
	lock_rec_prune(&r, 0, NULL);
	return lock_rec_put(t, op->name, &r);
}

int
store_lock_release(struct store *st, const char *name)
{
	return store_lock_release_owner(st, name, "");
}

int
store_lock_release_owner(struct store *st, const char *name,
    const char *owner)
{
	struct lock_op op = { name, 0, 0, 0, owner };

	return store_volatile_write(st, lock_release_txn, &op);
}

int
store_lock_clear(struct store *st, const char *name)
{
	struct lock_op op = { name, 0, 0, 1, "" };

	return store_volatile_write(st, lock_release_txn, &op);
}

static int
lock_clear_stale_txn(struct store_txn *t, void *ctx)
{
	struct lock_op *op = ctx;
	struct lock_rec r;
	struct pack p;
	MDB_cursor *c;
	MDB_val k, v;
	unsigned n;
	int rc;

	op->count = 0;
	if (sdb_cursor(t, DB_LOCKS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (lock_rec_decode(&v, &r) == -1) {
			mdb_cursor_close(c);
			return -1;
		}
		n = 0;
		lock_rec_prune(&r, 1, &n);
		if (n == 0)
			continue;
		op->count += n;
		if (r.n == 0)
			rc = mdb_cursor_del(c, 0);
		else {
			/* Some holders live on: the lock stays, without
			 * the others. */
			lock_rec_pack(&r, &p);
			v.mv_size = p.len;
			v.mv_data = p.buf;
			rc = mdb_cursor_put(c, &k, &v, MDB_CURRENT);
			pack_free(&p);
		}
		if (rc != 0) {
			mdb_cursor_close(c);
			return sdb_error(t, rc, "locks");
		}
	}
	mdb_cursor_close(c);
	return 0;
}

int
store_lock_clear_stale(struct store *st, unsigned *n_r)
{
	struct lock_op op = { NULL, 0, 0, 0, "" };
	int rc;

	rc = store_volatile_write(st, lock_clear_stale_txn, &op);
	if (n_r != NULL)
		*n_r = op.count;
	return rc;
}

struct lock_list {
	store_lock_fn	*fn;
	void		*ctx;
};

static int
lock_list_txn(struct store_txn *t, void *arg)
{
	struct lock_list *ll = arg;
	struct store_lock l;
	struct lock_rec r;
	MDB_cursor *c;
	MDB_val k, v;
	size_t i;
	int rc, ret = 0;

	if (sdb_cursor(t, DB_LOCKS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size > STORE_LOCK_NAME_MAX) {
			ret = err_set(ERR_CORRUPT, "lock name too long");
			break;
		}
		if (lock_rec_decode(&v, &r) == -1) {
			ret = -1;
			break;
		}
		/* One entry per holder, each naming the lock. */
		for (i = 0; i < r.n; i++) {
			lock_holder_check(&r.h[i], 1);
			memset(&l, 0, sizeof(l));
			memcpy(l.name, k.mv_data, k.mv_size);
			l.pid = r.h[i].pid;
			memcpy(l.host, r.h[i].host, sizeof(l.host));
			memcpy(l.owner, r.h[i].owner, sizeof(l.owner));
			l.since = r.h[i].since;
			l.expires = r.h[i].expires;
			l.exclusive = (r.flags & LOCK_EXCL) != 0;
			l.shared = (r.flags & LOCK_SHARED) != 0;
			l.nholders = (unsigned)r.n;
			l.stale = r.h[i].stale;
			if (ll->fn(&l, ll->ctx) == -1) {
				ret = -1;
				break;
			}
		}
	}
	mdb_cursor_close(c);
	return ret;
}

int
store_lock_list(struct store *st, store_lock_fn *fn, void *ctx)
{
	struct lock_list ll = { fn, ctx };

	return store_volatile_read(st, lock_list_txn, &ll);
}

/* Several locks at once; ticket: of the job that waits for them. */
struct lock_many {
	const char *const	*names;
	size_t			 n;
	unsigned		 lease;
	uint64_t		 ticket;
};

/* All or none: one held elsewhere fails the body (INUSE), which aborts
 * the transaction and so every lock taken before it in the loop. */
static int
lock_take_many_guard(struct store_txn *t, void *ctx)
{
	struct lock_many *m = ctx;
	struct lock_op op;
	size_t i;

	for (i = 0; i < m->n; i++) {
		op = (struct lock_op){ m->names[i], m->lease, 0, 0, "" };
		if (lock_take_txn(t, &op) == -1)
			return -1;
	}
	return 1;
}

int
store_lock_take_many(struct store *st, const char *const *names, size_t n,
    unsigned lease)
{
	struct lock_many m = { names, n, lease, 0 };
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		if (names[i][0] == '\0' ||
		    strlen(names[i]) > STORE_LOCK_NAME_MAX)
			return err_set(ERR_INVALID, "bad lock name");
	rc = store_volatile_write(st, lock_take_many_guard, &m);
	if (rc == -1 && err_class() == ERR_INUSE)
		return 0;
	return rc;
}

static int
lock_release_many_txn(struct store_txn *t, void *ctx)
{
	struct lock_many *m = ctx;
	struct lock_op op;
	size_t i;

	for (i = 0; i < m->n; i++) {
		op = (struct lock_op){ m->names[i], 0, 0, 0, "" };
		if (lock_release_txn(t, &op) == -1)
			return -1;
	}
	return 1;
}

int
store_lock_release_many(struct store *st, const char *const *names,
    size_t n)
{
	struct lock_many m = { names, n, 0, 0 };

	return store_volatile_write(st, lock_release_many_txn, &m);
}

/*
 * Waiters ("lockwait"): key lock name, NUL, ticket (big-endian, so the
 * first entry of a name is its earliest waiter); value pid, host,
 * expires.  The ticket counter is the entry whose key is one NUL byte
 * (no name is empty).
 */
struct lock_queued {
	const char *const	*take;
	size_t			 ntake;
	const char *const	*join;
	size_t			 njoin;
	unsigned		 lease;
	uint64_t		*ticket;
	int			 wait;		/* wait whatever is found */
	int			 exclusive;	/* take[] alone (filters) */
};

static size_t
wait_key(uint8_t *key, const char *name, uint64_t ticket)
{
	size_t n = strlen(name);

	memcpy(key, name, n);
	key[n] = '\0';
	be64enc(key + n + 1, ticket);
	return n + 9;
}

/*
 * The earliest live waiter for name (0: none); stale ones (owner gone,
 * wait not renewed) are removed on the way.
 */
static int
wait_first(struct store_txn *t, const char *name, uint64_t *first)
{
	uint8_t key[STORE_LOCK_NAME_MAX + 9];
	MDB_cursor *c;
	MDB_val k, v;
	struct unpack u;
	char host[STORE_LOCK_HOST_MAX + 1];
	size_t nl = strlen(name);
	pid_t pid;
	int64_t expires;
	int rc;

	*first = 0;
	if (sdb_cursor(t, DB_LOCKWAIT, &c) == -1)
		return -1;
	k.mv_size = wait_key(key, name, 0);
	k.mv_data = key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != nl + 9 || memcmp(k.mv_data, name, nl) != 0 ||
		    ((uint8_t *)k.mv_data)[nl] != '\0')
			break;
		unpack_init(&u, &v);
		pid = (pid_t)unpack_u32(&u);
		unpack_str(&u, host, sizeof(host));
		expires = (int64_t)unpack_u64(&u);
		if (unpack_done(&u, "lock waiter") == -1) {
			mdb_cursor_close(c);
			return -1;
		}
		if (expires > store_now() && (strcmp(host,
		    store_hostname()) != 0 || lock_pid_alive(pid))) {
			*first = be64dec((uint8_t *)k.mv_data + nl + 1);
			break;
		}
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			mdb_cursor_close(c);
			return sdb_error(t, rc, "lockwait");
		}
	}
	mdb_cursor_close(c);
	return 0;
}

static int
wait_put(struct store_txn *t, const char *name, uint64_t ticket)
{
	uint8_t key[STORE_LOCK_NAME_MAX + 9];
	struct pack p;
	int rc;

	pack_init(&p);
	pack_u32(&p, (uint32_t)getpid());
	pack_str(&p, store_hostname());
	pack_u64(&p, (uint64_t)(store_now() + STORE_LOCK_WAIT_LEASE));
	rc = sdb_put(t, DB_LOCKWAIT, key, wait_key(key, name, ticket), p.buf,
	    p.len, 0);
	pack_free(&p);
	return rc;
}

static int
wait_del(struct store_txn *t, const char *name, uint64_t ticket)
{
	uint8_t key[STORE_LOCK_NAME_MAX + 9];

	return sdb_del(t, DB_LOCKWAIT, key, wait_key(key, name, ticket));
}

static int
wait_ticket_new(struct store_txn *t, uint64_t *ticket)
{
	uint8_t buf[8];
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_LOCKWAIT, "", 1, &v)) == -1)
		return -1;
	*ticket = rc == 1 && v.mv_size == 8 ? be64dec(v.mv_data) + 1 : 1;
	be64enc(buf, *ticket);
	return sdb_put(t, DB_LOCKWAIT, "", 1, buf, 8, 0);
}

/*
 * Takes (or renews) this process's hold on name, found free enough by
 * lock_may_take() in this transaction: alone and exclusive, or shared.
 */
static int
lock_hold_txn(struct store_txn *t, const char *name, unsigned lease,
    int exclusive)
{
	struct lock_rec r;
	int rc;

	if ((rc = lock_rec_get(t, name, &r)) == -1)
		return -1;
	if (rc == 0)
		memset(&r, 0, sizeof(r));
	lock_rec_prune(&r, exclusive || (r.n >= STORE_LOCK_HOLDERS_MAX &&
	    lock_rec_mine(&r, "") == -1), NULL);
	/* A holder comes back to life only if the clock went back. */
	if ((exclusive && lock_rec_other(&r, "") != NULL) ||
	    (r.n >= STORE_LOCK_HOLDERS_MAX && lock_rec_mine(&r, "") == -1))
		return err_set(ERR_TEMP, "lock %s: another holder appeared "
		    "(the clock went back?)", name);
	r.flags = exclusive ? LOCK_EXCL : LOCK_SHARED;
	lock_rec_hold(&r, "", lease);
	return lock_rec_put(t, name, &r);
}

/*
 * Whether a job may take name now, or must wait: 1 it may, 0 it waits
 * (another live process holds it exclusively, holds it as a lock nobody
 * may join, or holds it at all when the job wants it alone; or the
 * record is full).  Joining a shared lock looks for no holder's process.
 */
static int
lock_may_take(struct store_txn *t, const char *name, int exclusive)
{
	struct lock_rec r;
	int rc;

	if ((rc = lock_rec_get(t, name, &r)) != 1)
		return rc == -1 ? -1 : 1;
	lock_rec_prune(&r, 0, NULL);
	if (lock_rec_other(&r, "") == NULL)
		return 1;
	if (!exclusive && !(r.flags & LOCK_EXCL) && (r.flags & LOCK_SHARED) &&
	    (r.n < STORE_LOCK_HOLDERS_MAX || lock_rec_mine(&r, "") != -1))
		return 1;
	/* In the way: are they alive? */
	lock_rec_prune(&r, 1, NULL);
	if (lock_rec_other(&r, "") == NULL)
		return 1;
	if (exclusive || (r.flags & LOCK_EXCL) || !(r.flags & LOCK_SHARED))
		return 0;
	return r.n < STORE_LOCK_HOLDERS_MAX || lock_rec_mine(&r, "") != -1;
}

static int
lock_take_queued_txn(struct store_txn *t, void *ctx)
{
	struct lock_queued *q = ctx;
	uint64_t first;
	size_t i;
	int rc, wait = q->wait;

	/*
	 * In line behind an earlier waiter on any of the names (the job's
	 * ticket, or any waiter when it has none): it waits, even for a lock
	 * it could share, so that a job that wants it alone is not starved.
	 */
	for (i = 0; i < q->ntake + q->njoin && !wait; i++) {
		const char *name = i < q->ntake ? q->take[i] :
		    q->join[i - q->ntake];

		if (wait_first(t, name, &first) == -1)
			return -1;
		if (first != 0 && first != *q->ticket &&
		    (*q->ticket == 0 || first < *q->ticket))
			wait = 1;
		if (i >= q->ntake || wait)
			continue;
		if ((rc = lock_may_take(t, name, q->exclusive)) == -1)
			return -1;
		wait = rc == 0;
	}
	if (wait) {
		if (*q->ticket == 0 && wait_ticket_new(t, q->ticket) == -1)
			return -1;
		for (i = 0; i < q->ntake + q->njoin; i++)
			if (wait_put(t, i < q->ntake ? q->take[i] :
			    q->join[i - q->ntake], *q->ticket) == -1)
				return -1;
		return 0;
	}
	for (i = 0; i < q->ntake; i++)
		if (lock_hold_txn(t, q->take[i], q->lease, q->exclusive) == -1)
			return -1;
	for (i = 0; *q->ticket != 0 && i < q->ntake + q->njoin; i++)
		if (wait_del(t, i < q->ntake ? q->take[i] :
		    q->join[i - q->ntake], *q->ticket) == -1)
			return -1;
	return 1;
}

int
store_lock_take_queued(struct store *st, const char *const *take,
    size_t ntake, const char *const *join, size_t njoin, unsigned lease,
    int exclusive, uint64_t *ticket)
{
	struct lock_queued q = { take, ntake, join, njoin, lease, ticket, 0,
	    exclusive };
	uint64_t was = *ticket;
	size_t i;
	int rc;

	for (i = 0; i < ntake + njoin; i++) {
		const char *name = i < ntake ? take[i] : join[i - ntake];

		if (name[0] == '\0' || strlen(name) > STORE_LOCK_NAME_MAX)
			return err_set(ERR_INVALID, "bad lock name");
	}
	rc = store_volatile_write(st, lock_take_queued_txn, &q);
	if (rc == -1)
		*ticket = was;		/* nothing was written */
	else if (rc == 1)
		*ticket = 0;
	else
		err_set(ERR_INUSE, "a delivery lock is held or waited for");
	return rc;
}

int
store_lock_wait(struct store *st, const char *const *names, size_t n,
    uint64_t *ticket)
{
	struct lock_queued q = { NULL, 0, names, n, 0, ticket, 1, 0 };
	uint64_t was = *ticket;
	int rc;

	rc = store_volatile_write(st, lock_take_queued_txn, &q);
	if (rc == -1)
		*ticket = was;
	return rc;
}

static int
lock_wait_end_txn(struct store_txn *t, void *ctx)
{
	struct lock_many *w = ctx;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (wait_del(t, w->names[i], w->ticket) == -1)
			return -1;
	return 0;
}

int
store_lock_wait_end(struct store *st, const char *const *names, size_t n,
    uint64_t ticket)
{
	struct lock_many w = { names, n, 0, ticket };

	if (ticket == 0 || n == 0)
		return 0;
	return store_volatile_write(st, lock_wait_end_txn, &w);
}
