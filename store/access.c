/* access.c - `access`: client IP (text) -> trusted until (see access.h). */
#include <string.h>

#include "access.h"
#include "common/error.h"
#include "private.h"

#define ACCESS_IP_MAX		64
#define ACCESS_EXPIRE_EVERY	256

struct grant {
	const char	*ip;
	unsigned	 minutes;
	unsigned	 count;
};

static int
access_grant_txn(struct store_txn *t, void *ctx)
{
	struct grant *g = ctx;
	uint8_t until[8];

	be64enc(until, (uint64_t)(store_now() + 60 * (int64_t)g->minutes));
	return sdb_put(t, DB_ACCESS, g->ip, strlen(g->ip), until, 8, 0) ==
	    -1 ? -1 : 1;
}

int
store_access_grant(struct store *st, const char *ip, unsigned minutes)
{
	struct grant g = { ip, minutes, 0 };

	if (ip[0] == '\0' || strlen(ip) > ACCESS_IP_MAX)
		return err_set(ERR_INVALID, "bad client address '%s'", ip);
	/*
	 * Every address that ever logged in would stay in the table: expired
	 * ones are removed now and then (one scan per ACCESS_EXPIRE_EVERY
	 * grants of this process), so it holds about the live ones.
	 */
	if (++st->access_grants % ACCESS_EXPIRE_EVERY == 0 &&
	    store_access_expire(st, NULL) == -1)
		return -1;
	return store_write(st, access_grant_txn, &g);
}

int
store_access_check(struct store_txn *t, const char *ip)
{
	MDB_val v;
	int rc;

	if (ip[0] == '\0' || strlen(ip) > ACCESS_IP_MAX)
		return 0;
	if ((rc = sdb_get(t, DB_ACCESS, ip, strlen(ip), &v)) != 1)
		return rc;
	return v.mv_size == 8 && (int64_t)be64dec(v.mv_data) > store_now();
}

static int
access_expire_txn(struct store_txn *t, void *ctx)
{
	struct grant *g = ctx;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	g->count = 0;
	if (sdb_cursor(t, DB_ACCESS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (v.mv_size == 8 &&
		    (int64_t)be64dec(v.mv_data) > store_now())
			continue;
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			mdb_cursor_close(c);
			return sdb_error(t, rc, "access");
		}
		g->count++;
	}
	mdb_cursor_close(c);
	return 0;
}

int
store_access_expire(struct store *st, unsigned *n_r)
{
	struct grant g = { NULL, 0, 0 };
	int rc;

	rc = store_write(st, access_expire_txn, &g);
	if (n_r != NULL)
		*n_r = g.count;
	return rc;
}
