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
	pack_init(&p);
	pack_u32(&p, (uint32_t)getpid());
	pack_str(&p, store_hostname());
	pack_u64(&p, (uint64_t)since);
	pack_u64(&p, (uint64_t)(now + op->lease));
	pack_str(&p, op->owner);
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

struct lock_many {
	const char *const	*names;
	size_t			 n;
	unsigned		 lease;
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
	struct lock_many m = { names, n, lease };
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
	struct lock_many m = { names, n, 0 };

	return store_volatile_write(st, lock_release_many_txn, &m);
}
