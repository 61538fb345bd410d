/*
 * lock.c - `locks`: name -> owner pid, host, since, lease expiry.  The
 * table is in the volatile environment (volatile.c): never synced,
 * thrown away at the next boot.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "lock.h"
#include "private.h"

struct lock_op {
	const char	*name;
	unsigned	 lease;
	unsigned	 count;
	int		 force;
	const char	*owner;		/* "" = the process */
	int		 exclusive;	/* mark it so (store_lock_exclusive()) */
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

static int
lock_decode(const MDB_val *k, const MDB_val *v, struct store_lock *l)
{
	struct unpack u;

	memset(l, 0, sizeof(*l));
	if (k->mv_size > STORE_LOCK_NAME_MAX)
		return err_set(ERR_CORRUPT, "lock name too long");
	memcpy(l->name, k->mv_data, k->mv_size);
	unpack_init(&u, v);
	l->pid = (pid_t)unpack_u32(&u);
	unpack_str(&u, l->host, sizeof(l->host));
	l->since = (int64_t)unpack_u64(&u);
	l->expires = (int64_t)unpack_u64(&u);
	unpack_str(&u, l->owner, sizeof(l->owner));
	if (u.left > 0)		/* added later: absent means shared */
		l->exclusive = unpack_u8(&u) != 0;
	if (unpack_done(&u, "lock") == -1)
		return -1;
	/* Stale: lease over, or its owner on this host is gone. */
	l->stale = l->expires <= store_now() ||
	    (strcmp(l->host, store_hostname()) == 0 && l->pid > 0 &&
	    !lock_pid_alive(l->pid));
	return 1;
}

static int
lock_get(struct store_txn *t, const char *name, struct store_lock *l)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	int rc;

	if ((rc = sdb_get(t, DB_LOCKS, name, strlen(name), &v)) != 1)
		return rc;
	return lock_decode(&k, &v, l);
}

static int
lock_mine(const struct store_lock *l, const char *owner)
{
	return l->pid == getpid() && strcmp(l->host, store_hostname()) == 0 &&
	    strcmp(l->owner, owner) == 0;
}

static int
lock_take_txn(struct store_txn *t, void *ctx)
{
	struct lock_op *op = ctx;
	struct store_lock l;
	struct pack p;
	int64_t now = store_now(), since = now;
	int rc;

	if ((rc = lock_get(t, op->name, &l)) == -1)
		return -1;
	if (rc == 1 && !l.stale && !lock_mine(&l, op->owner))
		return err_set(ERR_INUSE, "%s is locked by %s%spid %d on %s "
		    "since %lld seconds", op->name, l.owner, l.owner[0] !=
		    '\0' ? " of " : "", (int)l.pid, l.host,
		    (long long)(now - l.since));
	if (rc == 1 && lock_mine(&l, op->owner) && !l.stale)
		since = l.since;
	else
		l.exclusive = 0;
	pack_init(&p);
	pack_u32(&p, (uint32_t)getpid());
	pack_str(&p, store_hostname());
	pack_u64(&p, (uint64_t)since);
	pack_u64(&p, (uint64_t)(now + op->lease));
	pack_str(&p, op->owner);
	pack_u8(&p, (uint8_t)(op->exclusive || (rc == 1 && l.exclusive)));
	rc = sdb_put(t, DB_LOCKS, op->name, strlen(op->name), p.buf, p.len,
	    0);
	pack_free(&p);
	return rc == -1 ? -1 : 1;
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
	struct lock_op op = { name, lease, 0, 0, owner, 0 };

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

static int
lock_release_txn(struct store_txn *t, void *ctx)
{
	struct lock_op *op = ctx;
	struct store_lock l;
	int rc;

	if ((rc = lock_get(t, op->name, &l)) != 1)
		return rc;
	if (!op->force && !lock_mine(&l, op->owner))
		return 0;
	return sdb_del(t, DB_LOCKS, op->name, strlen(op->name));
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
	struct lock_op op = { name, 0, 0, 0, owner, 0 };

	return store_volatile_write(st, lock_release_txn, &op);
}

int
store_lock_clear(struct store *st, const char *name)
{
	struct lock_op op = { name, 0, 0, 1, "", 0 };

	return store_volatile_write(st, lock_release_txn, &op);
}

static int
lock_clear_stale_txn(struct store_txn *t, void *ctx)
{
	struct lock_op *op = ctx;
	struct store_lock l;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	op->count = 0;
	if (sdb_cursor(t, DB_LOCKS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (lock_decode(&k, &v, &l) == -1) {
			mdb_cursor_close(c);
			return -1;
		}
		if (!l.stale)
			continue;
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			mdb_cursor_close(c);
			return sdb_error(t, rc, "locks");
		}
		op->count++;
	}
	mdb_cursor_close(c);
	return 0;
}

int
store_lock_clear_stale(struct store *st, unsigned *n_r)
{
	struct lock_op op = { NULL, 0, 0, 0, "", 0 };
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
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (sdb_cursor(t, DB_LOCKS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (lock_decode(&k, &v, &l) == -1 || ll->fn(&l, ll->ctx) == -1) {
			r = -1;
			break;
		}
	mdb_cursor_close(c);
	return r;
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
		op = (struct lock_op){ m->names[i], m->lease, 0, 0, "", 0 };
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
		op = (struct lock_op){ m->names[i], 0, 0, 0, "", 0 };
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

static int
lock_take_queued_txn(struct store_txn *t, void *ctx)
{
	struct lock_queued *q = ctx;
	struct store_lock l;
	struct lock_op op;
	uint64_t first;
	size_t i;
	int rc, wait = q->wait, busy = 0;

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
		if ((rc = lock_get(t, name, &l)) == -1)
			return -1;
		if (rc == 1 && !l.stale && !lock_mine(&l, "")) {
			if (l.exclusive)
				wait = 1;
			else
				busy = 1;
		}
	}
	if (busy && !wait && *q->ticket == 0)
		return 0;	/* held, shared: plain retry, no place */
	if (wait || busy) {
		if (*q->ticket == 0 && wait_ticket_new(t, q->ticket) == -1)
			return -1;
		for (i = 0; i < q->ntake + q->njoin; i++)
			if (wait_put(t, i < q->ntake ? q->take[i] :
			    q->join[i - q->ntake], *q->ticket) == -1)
				return -1;
		return 0;
	}
	for (i = 0; i < q->ntake; i++) {
		op = (struct lock_op){ q->take[i], q->lease, 0, 0, "", 0 };
		if (lock_take_txn(t, &op) == -1)
			return -1;
	}
	for (i = 0; *q->ticket != 0 && i < q->ntake + q->njoin; i++)
		if (wait_del(t, i < q->ntake ? q->take[i] :
		    q->join[i - q->ntake], *q->ticket) == -1)
			return -1;
	return 1;
}

int
store_lock_take_queued(struct store *st, const char *const *take,
    size_t ntake, const char *const *join, size_t njoin, unsigned lease,
    uint64_t *ticket)
{
	struct lock_queued q = { take, ntake, join, njoin, lease, ticket, 0 };
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

static int
lock_exclusive_txn(struct store_txn *t, void *ctx)
{
	struct lock_many *w = ctx;
	struct store_lock l;
	struct lock_op op;
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++) {
		if ((rc = lock_get(t, w->names[i], &l)) == -1)
			return -1;
		if (rc == 0 || l.stale || !lock_mine(&l, "") || l.exclusive)
			continue;
		op = (struct lock_op){ w->names[i],
		    (unsigned)(l.expires - store_now()), 0, 0, "", 1 };
		if (l.expires <= store_now())
			continue;
		if (lock_take_txn(t, &op) == -1)
			return -1;
	}
	return 0;
}

int
store_lock_exclusive(struct store *st, const char *const *names, size_t n)
{
	struct lock_many w = { names, n, 0, 0 };

	return store_volatile_write(st, lock_exclusive_txn, &w);
}

int
store_lock_wait(struct store *st, const char *const *names, size_t n,
    uint64_t *ticket)
{
	struct lock_queued q = { NULL, 0, names, n, 0, ticket, 1 };
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
