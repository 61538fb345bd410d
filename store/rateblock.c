/*
 * rateblock.c - `rateblocks` (volatile): hosts blocked for a day
 * (rateblock.h).
 */
#include <string.h>

#include "common/error.h"
#include "private.h"
#include "rateblock.h"

struct rateblock_op {
	const char	*host;
	uint32_t	 day;
	uint32_t	 n;
	int		 found;
};

/*
 * Removes up to STORE_RATEBLOCK_PURGE records of days other than day,
 * looking at most at four times that many: the walk runs in a write
 * transaction on smtpd's loop, and a day of many blocks must not make
 * every new block read them all (stale records left are only read as
 * "not blocked", and go with later walks).
 */
static int
rateblock_purge(struct store_txn *t, uint32_t day)
{
	MDB_cursor *c;
	MDB_val k, v;
	unsigned done = 0, seen = 0;
	int rc;

	if (sdb_cursor(t, DB_RATEBLOCK, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	    rc == 0 && done < STORE_RATEBLOCK_PURGE &&
	    seen++ < 4 * STORE_RATEBLOCK_PURGE;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (v.mv_size == 8 && be32dec(v.mv_data) == day)
			continue;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		done++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "rateblocks");
	return 0;
}

static int
rateblock_put_txn(struct store_txn *t, void *ctx)
{
	struct rateblock_op *op = ctx;
	uint8_t buf[8];

	if (rateblock_purge(t, op->day) == -1)
		return -1;
	be32enc(buf, op->day);
	be32enc(buf + 4, op->n);
	return sdb_put(t, DB_RATEBLOCK, op->host, strlen(op->host), buf,
	    sizeof(buf), 0) == -1 ? -1 : 0;
}

static int
rateblock_get_txn(struct store_txn *t, void *ctx)
{
	struct rateblock_op *op = ctx;
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_RATEBLOCK, op->host, strlen(op->host),
	    &v)) != 1)
		return rc;
	if (v.mv_size == 8 && be32dec(v.mv_data) == op->day) {
		op->found = 1;
		op->n = be32dec((const uint8_t *)v.mv_data + 4);
	}
	return 0;
}

int
store_rateblock_put(struct store *st, const char *host, uint32_t day,
    uint32_t n)
{
	struct rateblock_op op = { host, day, n, 0 };

	if (host[0] == '\0' || strlen(host) > STORE_RATEBLOCK_KEY_MAX)
		return err_set(ERR_INVALID, "bad host key");
	return store_volatile_write(st, rateblock_put_txn, &op) == -1 ?
	    -1 : 0;
}

int
store_rateblock_get(struct store *st, const char *host, uint32_t day,
    uint32_t *n_r)
{
	struct rateblock_op op = { host, day, 0, 0 };

	*n_r = 0;
	if (host[0] == '\0' || strlen(host) > STORE_RATEBLOCK_KEY_MAX)
		return err_set(ERR_INVALID, "bad host key");
	if (store_volatile_read(st, rateblock_get_txn, &op) == -1)
		return -1;
	*n_r = op.n;
	return op.found;
}
