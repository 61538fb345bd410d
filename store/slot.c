/*
 * slot.c - `slots` (volatile): key name, NUL, pid (big-endian) -> the
 * number of slots of name that process holds (big-endian 32 bits).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "private.h"
#include "slot.h"

struct slot_op {
	const char	*name;
	unsigned	 max;
	int		 delta;
};

static size_t
slot_key(uint8_t *key, const char *name, pid_t pid)
{
	size_t n = strlen(name);

	memcpy(key, name, n);
	key[n] = '\0';
	be32enc(key + n + 1, (uint32_t)pid);
	return n + 5;
}

/* The slots held by live processes; those of ended ones are dropped. */
static int
slot_count(struct store_txn *t, const char *name, unsigned *n_r)
{
	uint8_t key[STORE_SLOT_NAME_MAX + 5];
	size_t nl = strlen(name);
	MDB_cursor *c;
	MDB_val k, v;
	pid_t pid;
	int rc;

	*n_r = 0;
	if (sdb_cursor(t, DB_SLOTS, &c) == -1)
		return -1;
	k.mv_size = slot_key(key, name, 0);
	k.mv_data = key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != nl + 5 || memcmp(k.mv_data, name, nl) != 0 ||
		    ((uint8_t *)k.mv_data)[nl] != '\0')
			break;
		pid = (pid_t)be32dec((uint8_t *)k.mv_data + nl + 1);
		if (v.mv_size == 4 && (kill(pid, 0) == 0 || errno != ESRCH)) {
			*n_r += be32dec(v.mv_data);
			continue;
		}
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			mdb_cursor_close(c);
			return sdb_error(t, rc, "slots");
		}
	}
	mdb_cursor_close(c);
	return 0;
}

static int
slot_txn(struct store_txn *t, void *ctx)
{
	struct slot_op *op = ctx;
	uint8_t key[STORE_SLOT_NAME_MAX + 5], buf[4];
	size_t klen = slot_key(key, op->name, getpid());
	uint32_t mine = 0;
	unsigned all;
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_SLOTS, key, klen, &v)) == -1)
		return -1;
	if (rc == 1 && v.mv_size == 4)
		mine = be32dec(v.mv_data);
	if (op->delta > 0) {
		if (slot_count(t, op->name, &all) == -1)
			return -1;
		if (all >= op->max)
			return 0;
		mine++;
	} else if (mine > 0)
		mine--;
	if (mine == 0)
		return sdb_del(t, DB_SLOTS, key, klen) == -1 ? -1 : 1;
	be32enc(buf, mine);
	return sdb_put(t, DB_SLOTS, key, klen, buf, 4, 0) == -1 ? -1 : 1;
}

int
store_slot_take(struct store *st, const char *name, unsigned max)
{
	struct slot_op op = { name, max, 1 };

	if (name[0] == '\0' || strlen(name) > STORE_SLOT_NAME_MAX)
		return err_set(ERR_INVALID, "bad slot name");
	return store_volatile_write(st, slot_txn, &op);
}

int
store_slot_release(struct store *st, const char *name)
{
	struct slot_op op = { name, 0, -1 };

	if (name[0] == '\0' || strlen(name) > STORE_SLOT_NAME_MAX)
		return err_set(ERR_INVALID, "bad slot name");
	return store_volatile_write(st, slot_txn, &op) == -1 ? -1 : 0;
}
