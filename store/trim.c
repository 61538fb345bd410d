/* trim.c - see trim.h */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "private.h"
#include "trim.h"

#define TRIM_META	"trimmed_at"

struct trim_ctx {
	struct store_trim	*r;
	size_t			 mark;		/* the synced transaction */
	size_t			 oldest;	/* reader snapshots: min */
	int			 unsupported;
};

/* The transaction that makes the last one's free pages old enough. */
static int
trim_mark(struct store_txn *t, void *ctx)
{
	struct trim_ctx *c = ctx;
	uint8_t b[8];

	c->mark = mdb_txn_id(t->txn);
	be64enc(b, (uint64_t)time(NULL));
	return sdb_put(t, DB_META, TRIM_META, strlen(TRIM_META), b, 8, 0) ==
	    -1 ? -1 : 0;
}

/* mdb_reader_list() line: "pid thread txnid", txnid "-" when idle. */
static int
trim_reader(const char *line, void *ctx)
{
	struct trim_ctx *c = ctx;
	char txn[32];
	unsigned long long id;
	int pid;
	size_t tid;

	if (sscanf(line, "%d %zx %31s", &pid, &tid, txn) != 3 ||
	    txn[0] == '-')
		return 0;
	id = strtoull(txn, NULL, 10);
	if (id < c->oldest)
		c->oldest = (size_t)id;
	return 0;
}

static int
pgno_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Punches pages [first, first + n) of the data file. */
static int
trim_punch(struct trim_ctx *c, int fd, size_t psize, size_t first, size_t n)
{
	if (c->unsupported)
		return 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)(first * psize), (off_t)(n * psize)) == -1) {
		if (errno == EOPNOTSUPP || errno == ENOSYS) {
			c->unsupported = 1;
			return 0;
		}
		return err_set(ERR_TEMP, "store trim: fallocate: %s",
		    strerror(errno));
	}
	c->r->pages += n;
	return 0;
}

/*
 * Under the write lock (this transaction writes nothing): reads the free
 * list in a snapshot of the last commit and punches what no snapshot
 * that can still be read names.
 */
static int
trim_free(struct store_txn *t, void *ctx)
{
	struct trim_ctx *c = ctx;
	MDB_env *env = t->st->env;
	MDB_txn *rt;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat ms;
	size_t *pg = NULL, npg = 0, cap = 0, limit, id, cnt, i, run;
	const size_t *idl;
	int fd, rc;

	c->r->free_pages = c->r->pages = 0;
	if ((rc = mdb_env_get_fd(env, &fd)) != 0 ||
	    (rc = mdb_env_stat(env, &ms)) != 0)
		return sdb_error(t, rc, "trim");
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &rt)) != 0)
		return sdb_error(t, rc, "trim: read snapshot");
	/*
	 * Pages freed by transaction X were last part of snapshot X - 1:
	 * safe to punch when X is older than the mark (synced, so no meta
	 * page a crash can leave names them, even if other processes
	 * committed without a sync since) and than every reader's snapshot
	 * (this one's is the last commit).
	 */
	c->oldest = mdb_txn_id(rt);
	mdb_reader_list(env, trim_reader, c);
	limit = c->oldest < c->mark ? c->oldest : c->mark;
	if ((rc = mdb_cursor_open(rt, 0, &cur)) != 0) {
		mdb_txn_abort(rt);
		return sdb_error(t, rc, "trim: free list");
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if (k.mv_size != sizeof(size_t) || v.mv_size < sizeof(size_t))
			continue;
		memcpy(&id, k.mv_data, sizeof(id));
		idl = v.mv_data;
		cnt = idl[0];
		if (v.mv_size != (cnt + 1) * sizeof(size_t))
			continue;
		c->r->free_pages += cnt;
		if (id >= limit)
			continue;
		if (npg + cnt > cap) {
			cap = (npg + cnt) * 2;
			pg = xreallocarray(pg, cap, sizeof(*pg));
		}
		memcpy(pg + npg, idl + 1, cnt * sizeof(size_t));
		npg += cnt;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(rt);
	if (rc != MDB_NOTFOUND) {
		free(pg);
		return sdb_error(t, rc, "trim: free list");
	}
	if (npg > 0)
		qsort(pg, npg, sizeof(*pg), pgno_cmp);
	for (i = 0; i < npg; i += run) {
		for (run = 1; i + run < npg && pg[i + run] == pg[i] + run; run++)
			;
		if (pg[i] < 2)	/* the meta pages are never free */
			continue;
		if (trim_punch(c, fd, ms.ms_psize, pg[i], run) == -1) {
			free(pg);
			return -1;
		}
	}
	free(pg);
	return 0;
}

static uint64_t
trim_allocated(struct store *st)
{
	struct stat sb;
	int fd;

	if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) == -1)
		return 0;
	return (uint64_t)sb.st_blocks * 512;
}

int
store_trim(struct store *st, struct store_trim *r)
{
	struct trim_ctx c = { 0 };
	int rc;

	memset(r, 0, sizeof(*r));
	c.r = r;
	if (st->flags & STORE_RDONLY)
		return err_set(ERR_PERM, "store opened read-only");
	if (st->batch != NULL)
		return err_set(ERR_INVALID, "store trim inside a batch");
	r->bytes_before = trim_allocated(st);
	if (store_write(st, trim_mark, &c) == -1)
		return -1;
	if ((rc = mdb_env_sync(st->env, 1)) != 0)
		return err_set(ERR_TEMP, "store sync failed: %s",
		    mdb_strerror(rc));
	if (store_write(st, trim_free, &c) == -1)
		return -1;
	r->bytes_after = trim_allocated(st);
	if (r->pages > 0)
		log_debug("store trim: %" PRIu64 " of %" PRIu64 " free pages "
		    "given back (%" PRIu64 " -> %" PRIu64 " bytes)", r->pages,
		    r->free_pages, r->bytes_before, r->bytes_after);
	return 0;
}
