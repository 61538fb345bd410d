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
/*
 * Free-list records below this transaction id were punched by an earlier
 * trim (see trim_mark()).  Absent (a store older than it): all are
 * punched once.
 */
#define TRIM_FROM	"trimmed_txn"
/*
 * What a trim punches is chosen by what it costs and gives back.  On
 * ext4 each fallocate() is a journalled change of the file's extent tree,
 * 0.04 ms in a new store and 0.3-0.8 ms in one of 1,000,000 messages
 * whose file has ~50,000 holes (under the write lock, on a busy disk),
 * and LMDB's next writes to a punched page allocate its block again.
 * The pages an import or a delivery frees in a large store are single
 * pages scattered over the hash-keyed tables (~600 for 100 messages, of
 * 400,000): punching them one by one cost several times the import.  So:
 *   - a file of fewer than store_trim_small_pages (64 MiB): every new free
 *     page is punched, at every trim (cheap there, and a page is a larger
 *     share of the store: bench_dict.py's stores stay as small);
 *   - fewer new free pages (freed since the last trim) than 1/TRIM_SHARE
 *     of the file: nothing (no commit, no sync); LMDB reuses them;
 *   - else runs of at least TRIM_RUN contiguous pages are punched (one
 *     call per 64 KiB or more), and single pages and short runs only
 *     when the new free pages are at least 1/TRIM_ALL of the file: a
 *     large release such as the end of a migration into a new store (its
 *     last batches' copied pages are ~10% of it) or store optimize.
 * Pages left unpunched are LMDB's usual free pages, reused by its next
 * commits; at most 1/TRIM_SHARE of the file waits for the next trim.
 */
#define TRIM_SHARE	64
#define TRIM_ALL	16
#define TRIM_RUN	16
size_t	store_trim_small_pages = (64u << 20) / 4096;

struct trim_ctx {
	struct store_trim	*r;
	size_t			 mark;		/* the synced transaction */
	size_t			 from;		/* punched below this before */
	size_t			 oldest;	/* reader snapshots: min */
	int			 unsupported;
	int			 skip;		/* too few new free pages */
	size_t			 min_run;	/* pages: shorter runs stay */
};

static int	trim_count(struct store_txn *, struct trim_ctx *);

/*
 * One record of LMDB's free list: the transaction id that freed the
 * pages (*id_r) and the pages (*pages_r); their number, or -1 when the
 * record is not of the form LMDB writes (left alone).
 */
static ssize_t
trim_freelist_rec(const MDB_val *k, const MDB_val *v, size_t *id_r,
    const size_t **pages_r)
{
	const size_t *idl = v->mv_data;

	if (k->mv_size != sizeof(size_t) || v->mv_size < sizeof(size_t) ||
	    v->mv_size != (idl[0] + 1) * sizeof(size_t))
		return -1;
	memcpy(id_r, k->mv_data, sizeof(*id_r));
	*pages_r = idl + 1;
	return (ssize_t)idl[0];
}

static int
trim_from_get(struct store_txn *t, size_t *from_r)
{
	MDB_val v;
	int rc;

	*from_r = 0;
	if ((rc = sdb_get(t, DB_META, TRIM_FROM, strlen(TRIM_FROM), &v)) ==
	    -1)
		return -1;
	if (rc == 1 && v.mv_size == 8)
		*from_r = (size_t)be64dec(v.mv_data);
	return 0;
}

static int
trim_from_put(struct store_txn *t, size_t from)
{
	uint8_t b[8];

	be64enc(b, (uint64_t)from);
	return sdb_put(t, DB_META, TRIM_FROM, strlen(TRIM_FROM), b, 8, 0);
}

/*
 * The transaction that makes the last one's free pages old enough, when
 * there are enough new ones (else it writes nothing).  It also says
 * where the next trim starts: every free-list record below it is dealt
 * with by this trim (trim_free() moves the start back down when a reader
 * keeps it from reaching them all).  Reading only the records freed
 * since the last trim keeps a trim short: LMDB's free list of a large
 * store holds tens of thousands of pages, punched before, and punching
 * them again (43,785 fallocate() calls at 1,000,000 messages, under the
 * write lock) cost more than the import itself.  A record a trim skips
 * is never a risk (a free page left allocated is only space, reused by
 * LMDB); the free list's leftovers that LMDB saves again under older ids
 * were dealt with along with the records they came from.
 */
static int
trim_mark(struct store_txn *t, void *ctx)
{
	struct trim_ctx *c = ctx;
	MDB_envinfo info;
	size_t pages;
	uint8_t b[8];

	c->mark = mdb_txn_id(t->txn);
	c->skip = 0;
	if (trim_from_get(t, &c->from) == -1)
		return -1;
	/* Ids start again in a compacted copy (store backup). */
	if (c->from > c->mark)
		c->from = 0;
	if (trim_count(t, c) == -1)
		return -1;
	mdb_env_info(t->st->env, &info);
	pages = info.me_last_pgno + 1;
	if (c->r->new_pages == 0 || (pages >= store_trim_small_pages &&
	    c->r->new_pages < pages / TRIM_SHARE)) {
		/* Nothing written: the commit is no commit (no sync). */
		c->skip = 1;
		return 0;
	}
	c->min_run = pages < store_trim_small_pages ||
	    c->r->new_pages >= pages / TRIM_ALL ? 1 : TRIM_RUN;
	be64enc(b, (uint64_t)time(NULL));
	if (sdb_put(t, DB_META, TRIM_META, strlen(TRIM_META), b, 8, 0) ==
	    -1 || trim_from_put(t, c->mark) == -1)
		return -1;
	return 0;
}

/*
 * Free pages on the list, and in records from c->from on (not punched),
 * in a snapshot of the last commit: LMDB lets only read transactions
 * open the free list.
 */
static int
trim_count(struct store_txn *t, struct trim_ctx *c)
{
	MDB_txn *rt;
	MDB_cursor *cur;
	MDB_val k, v;
	const size_t *pages;
	size_t id;
	ssize_t cnt;
	int rc;

	c->r->free_pages = c->r->new_pages = 0;
	if ((rc = mdb_txn_begin(t->st->env, NULL, MDB_RDONLY, &rt)) != 0)
		return sdb_error(t, rc, "trim: read snapshot");
	if ((rc = mdb_cursor_open(rt, 0, &cur)) != 0) {
		mdb_txn_abort(rt);
		return sdb_error(t, rc, "trim: free list");
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if ((cnt = trim_freelist_rec(&k, &v, &id, &pages)) == -1)
			continue;
		c->r->free_pages += (size_t)cnt;
		if (id >= c->from)
			c->r->new_pages += (size_t)cnt;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(rt);
	if (rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "trim: free list");
	return 0;
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
 * Under the write lock: reads the free list in a snapshot of the last
 * commit and punches what no snapshot that can still be read names and
 * no earlier trim punched.  It writes only when a reader older than the
 * mark kept records from being punched: the next trim starts at them.
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
	const size_t *pages;
	ssize_t n;
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
	if (limit < c->mark) {
		size_t from;

		if (trim_from_get(t, &from) == -1) {
			mdb_txn_abort(rt);
			return -1;
		}
		if (from > limit && trim_from_put(t, limit) == -1) {
			mdb_txn_abort(rt);
			return -1;
		}
	}
	if ((rc = mdb_cursor_open(rt, 0, &cur)) != 0) {
		mdb_txn_abort(rt);
		return sdb_error(t, rc, "trim: free list");
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		if ((n = trim_freelist_rec(&k, &v, &id, &pages)) == -1)
			continue;
		cnt = (size_t)n;
		c->r->free_pages += cnt;
		if (id >= limit || id < c->from)
			continue;
		if (npg + cnt > cap) {
			cap = (npg + cnt) * 2;
			pg = xreallocarray(pg, cap, sizeof(*pg));
		}
		memcpy(pg + npg, pages, cnt * sizeof(size_t));
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
		/* The meta pages (0, 1) are never free. */
		if (pg[i] < 2 || run < c->min_run)
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
	if (c.skip) {
		r->bytes_after = r->bytes_before;
		return 0;
	}
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
