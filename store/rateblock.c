/*
 * rateblock.c - `rateblocks` (volatile): hosts blocked for a day
 * (rateblock.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "private.h"
#include "rateblock.h"

struct rateblock_op {
	const char	*host;
	uint32_t	 day;
	uint32_t	 n;
	int		 found;
};

struct rateblock_walk {
	uint32_t		 day;
	store_rateblock_fn	*fn;
	void			*ctx;
};

static int	rateblock_bad_host(const char *);
static int	rateblock_of_day(const MDB_val *, uint32_t);
static int	rateblock_count_one(const struct store_rateblock *, void *);

static int
rateblock_bad_host(const char *host)
{
	if (host[0] != '\0' && strlen(host) <= STORE_RATEBLOCK_KEY_MAX)
		return 0;
	return err_set(ERR_INVALID, "bad host key '%.64s'", host);
}

/* Whether the value v of a record is a block of day. */
static int
rateblock_of_day(const MDB_val *v, uint32_t day)
{
	return v->mv_size == 8 && be32dec(v->mv_data) == day;
}

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
		if (rateblock_of_day(&v, day))
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
	if (rateblock_of_day(&v, op->day)) {
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

	if (rateblock_bad_host(host) == -1)
		return -1;
	return store_volatile_write(st, rateblock_put_txn, &op) == -1 ?
	    -1 : 0;
}

int
store_rateblock_get(struct store *st, const char *host, uint32_t day,
    uint32_t *n_r)
{
	struct rateblock_op op = { host, day, 0, 0 };

	*n_r = 0;
	if (rateblock_bad_host(host) == -1)
		return -1;
	if (store_volatile_read(st, rateblock_get_txn, &op) == -1)
		return -1;
	*n_r = op.n;
	return op.found;
}

static int
rateblock_list_txn(struct store_txn *t, void *ctx)
{
	struct rateblock_walk *w = ctx;
	struct store_rateblock r;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (sdb_cursor(t, DB_RATEBLOCK, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!rateblock_of_day(&v, w->day) ||
		    k.mv_size > STORE_RATEBLOCK_KEY_MAX)
			continue;
		memcpy(r.host, k.mv_data, k.mv_size);
		r.host[k.mv_size] = '\0';
		r.day = w->day;
		r.n = be32dec((const uint8_t *)v.mv_data + 4);
		if ((ret = w->fn(&r, w->ctx)) == -1)
			break;
	}
	mdb_cursor_close(c);
	if (ret != -1 && rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "rateblocks");
	return ret == -1 ? -1 : 0;
}

int
store_rateblock_list(struct store *st, uint32_t day, store_rateblock_fn *fn,
    void *ctx)
{
	struct rateblock_walk w = { day, fn, ctx };

	return store_volatile_read(st, rateblock_list_txn, &w);
}

/* One host: its record, of whatever day, goes; found if of op->day. */
static int
rateblock_del_txn(struct store_txn *t, void *ctx)
{
	struct rateblock_op *op = ctx;

	op->found = 0;
	if (rateblock_get_txn(t, op) == -1)
		return -1;
	return sdb_del(t, DB_RATEBLOCK, op->host, strlen(op->host)) == -1 ?
	    -1 : 0;
}

static int
rateblock_count_one(const struct store_rateblock *r, void *ctx)
{
	unsigned *n = ctx;

	(*n)++;
	return 0;
}

/* Every host: the blocks of the day counted, then the table emptied. */
static int
rateblock_del_all_txn(struct store_txn *t, void *ctx)
{
	struct rateblock_walk *w = ctx;
	int rc;

	*(unsigned *)w->ctx = 0;
	if (rateblock_list_txn(t, w) == -1)
		return -1;
	if ((rc = mdb_drop(t->txn, t->st->dbi[DB_RATEBLOCK], 0)) != 0)
		return sdb_error(t, rc, "rateblocks");
	return 0;
}

int
store_rateblock_del(struct store *st, const char *host, uint32_t day,
    unsigned *n_r)
{
	struct rateblock_op op = { host, day, 0, 0 };
	unsigned all = 0;
	struct rateblock_walk w = { day, rateblock_count_one, &all };
	int rc;

	if (n_r != NULL)
		*n_r = 0;
	if (host != NULL && rateblock_bad_host(host) == -1)
		return -1;
	if (host != NULL)
		rc = store_volatile_write(st, rateblock_del_txn, &op);
	else
		rc = store_volatile_write(st, rateblock_del_all_txn, &w);
	if (rc == -1)
		return -1;
	if (n_r != NULL)
		*n_r = host != NULL ? (unsigned)op.found : all;
	return 0;
}

uint32_t
store_rateblock_day(time_t t, char *until, size_t size)
{
	struct tm tm;
	uint32_t day;

	localtime_r(&t, &tm);
	day = (uint32_t)(tm.tm_year + 1900) * 10000 +
	    (uint32_t)(tm.tm_mon + 1) * 100 + (uint32_t)tm.tm_mday;
	if (until == NULL)
		return day;
	/* mktime() carries the 32nd into the next month. */
	tm.tm_mday++;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	if (mktime(&tm) == (time_t)-1)
		snprintf(until, size, "tomorrow");
	else
		strftime(until, size, "%Y-%m-%d", &tm);
	return day;
}
