/*
 * store.c - the LMDB environment, transactions and their recovery.
 *
 * store_write() is the one place that recovers from LMDB conditions:
 * MDB_MAP_FULL aborts, doubles the map and runs the body again;
 * MDB_MAP_RESIZED (another process grew the map) adopts the new size;
 * MDB_READERS_FULL clears stale reader slots and retries.  Besides the
 * tables of DESIGN.md there are three: `logins` (primary address -> user
 * id, for logins), `bodyhash` (SHA-256 of a message -> body id, for
 * dedup) and `blobdata` (compressed fragments under increasing ids,
 * appended so that leaf pages fill; see blob.c).  Bodies are keyed by an
 * increasing id for the same reason.  DESIGN.md's `msgs` is `messages`
 * since schema 6: a DUPSORT | DUPFIXED table (key mailbox id, values uid
 * + a 20-byte row) so each mailbox's rows are appended with
 * MDB_APPENDDUP into pages that fill, and packed without a node header
 * each: a row costs ~21 bytes (msgrow.c).
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "private.h"

#define STORE_RETRIES	16

const char *const store_db_names[DB_COUNT] = {
	[DB_META] = "meta",
	[DB_DOMAINS] = "domains",
	[DB_USERS] = "users",
	[DB_LOGINS] = "logins",
	[DB_ADDRESSES] = "addresses",
	[DB_MAILBOXES] = "mailboxes",
	[DB_MBOX] = "mbox",
	[DB_MSGS] = "messages",	/* schema 5 and older: "msgs" (msgrow.c) */
	[DB_BODIES] = "bodies",
	[DB_BODYHASH] = "bodyhash",
	[DB_BLOBS] = "blobs",
	[DB_BLOBDATA] = "blobdata",
	[DB_LOCKS] = "locks",
	[DB_QUEUE] = "queue",
	[DB_ACCESS] = "access",
	[DB_AUTHFAIL] = "authfail",
	[DB_TRANSPORTS] = "transports",
	[DB_EXPUNGES] = "expunges",
	[DB_IMAPMETA] = "imapmeta",
	[DB_MAILDIRKW] = "maildirkw",
	[DB_USERDATA] = "userdata",
	[DB_LISTS] = "lists",
	[DB_LISTMEMBERS] = "listmembers",
	[DB_LEARN] = "learn",
	[DB_LOCKWAIT] = "lockwait",
	[DB_SLOTS] = "slots",
	[DB_DOMUSERS] = "domusers",
	[DB_MSGKW] = "msgkw",
	[DB_DKIM] = "dkim",
	[DB_BCC] = "bcc",
	[DB_POLICY] = "policy",
	[DB_DISCLAIMER] = "disclaimer",
	[DB_ACL] = "acl",
	[DB_RATEBLOCK] = "rateblocks",
};


static uint64_t initial_mapsize = STORE_MAPSIZE_DEFAULT;
static time_t (*store_clock)(void);

static int	store_init_schema(struct store_txn *, void *);
static int	store_grow(struct store *);
static int	store_txn_begin(struct store *, int, struct store_txn *);
static int	store_write_flags(struct store *, store_txn_fn *, void *, int);
static void	store_txn_end(struct store_txn *);
static int	store_map_resize(struct store *, uint64_t);
static int	store_read_env(struct store *, MDB_env *, store_txn_fn *,
		    void *);

/* Transactions this thread has open (map_lock held shared). */
static __thread int txns_open;

void
store_set_initial_mapsize(uint64_t size)
{
	initial_mapsize = size;
}

void
store_set_clock(time_t (*clock)(void))
{
	store_clock = clock;
}

time_t
store_now(void)
{
	return store_clock != NULL ? store_clock() : time(NULL);
}

const char *
store_hostname(void)
{
	static char host[256];

	if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) == -1)
		strcpy(host, "localhost");
	return host;
}

/*
 * Root made the store (a daemon opens it before it drops privileges) in
 * a data dir of another user (the config's `user`, vellum-setup's
 * vellum): the store dir and its files become that user's, as the
 * daemons and `runuser -u vellum vellumctl` need.  Through a directory
 * descriptor opened without following links: data_dir is that user's.
 */
void
store_owner(const char *data_dir, const char *path)
{
	static const char *files[] = { "data.mdb", "lock.mdb", "boot_id" };
	struct stat data, sb;
	size_t i;
	int dfd;

	if (geteuid() != 0 || stat(data_dir, &data) != 0 || data.st_uid == 0)
		return;
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;
	if (fstat(dfd, &sb) == 0 && sb.st_uid == 0 &&
	    fchown(dfd, data.st_uid, data.st_gid) == -1)
		log_warnx("chown %s: %s", path, strerror(errno));
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (fstatat(dfd, files[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && sb.st_uid == 0 &&
		    fchownat(dfd, files[i], data.st_uid, data.st_gid,
		    AT_SYMLINK_NOFOLLOW) == -1)
			log_warnx("chown %s/%s: %s", path, files[i],
			    strerror(errno));
	close(dfd);
}

static int
store_mkdir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return err_set(ERR_TEMP, "cannot create %s: %s", path,
		    strerror(errno));
	return 0;
}

int
store_open(const char *data_dir, unsigned flags, struct store **r)
{
	struct store *st;
	struct store_txn t;
	MDB_envinfo info;
	struct stat sb;
	char *datafile;
	int rc, dead, i;

	*r = NULL;
	st = xcalloc(1, sizeof(*st));
	st->path = xasprintf("%s/store", data_dir);
	st->flags = flags;
	st->notify_fd = st->notify_dirfd = -1;
	if (pthread_rwlock_init(&st->map_lock, NULL) != 0 ||
	    pthread_mutex_init(&st->write_mu, NULL) != 0 ||
	    pthread_mutex_init(&st->cctx_mu, NULL) != 0 ||
	    pthread_mutex_init(&st->dctx_mu, NULL) != 0 ||
	    pthread_mutex_init(&st->dict_mu, NULL) != 0)
		fatalx("store: cannot make its locks");
	datafile = xasprintf("%s/data.mdb", st->path);
	rc = stat(datafile, &sb);
	free(datafile);
	if (rc == -1 && (flags & (STORE_RDONLY | STORE_NOCREATE))) {
		err_set(ERR_NOTFOUND, "no store in %s (create one with "
		    "vellumctl -d %s domain add DOMAIN)", data_dir, data_dir);
		goto fail;
	}
	if (!(flags & STORE_RDONLY) &&
	    (store_mkdir(data_dir) == -1 || store_mkdir(st->path) == -1))
		goto fail;

	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, DB_COUNT + 4)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->env, 1024)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, initial_mapsize)) != 0) {
		err_set(ERR_TEMP, "lmdb: %s", mdb_strerror(rc));
		goto fail;
	}
	/*
	 * No read-ahead (MADV_RANDOM): a delivery or a login touches a few
	 * pages here and there in a map that may be far larger than memory,
	 * and each fault reading the next 128 KB as well filled the page
	 * cache with what nobody reads.  Measured (1.6 GB store, smtpd in a
	 * 100 MiB memory cgroup): 4 deliveries/s with read-ahead, 260-390
	 * without.  Whole-store scans turn it back on (store_read_ahead()).
	 */
	rc = mdb_env_open(st->env, st->path, MDB_NOTLS | MDB_NORDAHEAD |
	    ((flags & STORE_RDONLY) ? MDB_RDONLY : 0), 0600);
	if (rc != 0) {
		err_set(ERR_TEMP, "cannot open the store in %s: %s", st->path,
		    mdb_strerror(rc));
		goto fail;
	}
	if (!(flags & STORE_RDONLY))
		store_owner(data_dir, st->path);
	if (mdb_reader_check(st->env, &dead) == 0 && dead > 0)
		log_info("cleared %d stale reader slot(s)", dead);
	mdb_env_info(st->env, &info);
	st->mapsize = info.me_mapsize;

	st->cctx = ZSTD_createCCtx();
	st->dctx = ZSTD_createDCtx();
	if (st->cctx == NULL || st->dctx == NULL)
		fatalx("zstd: out of memory");

	/* Open (creating) every table and check the schema version. */
	for (i = 0; i < DB_COUNT; i++)
		if (store_db_names[i] == NULL)
			fatalx("store: table %zu has no name", (size_t)i);
	if (flags & STORE_RDONLY) {
		if (store_txn_begin(st, 0, &t) == -1)
			goto fail;
		for (i = 0; i < DB_COUNT; i++) {
			if (DB_IS_VOLATILE(i))
				continue;
			rc = mdb_dbi_open(t.txn, store_db_names[i],
			    DB_FLAGS(i), &st->dbi[i]);
			/* Schema 6 moved the rows; before, they are here. */
			if (rc == MDB_NOTFOUND && i == DB_MSGS) {
				rc = mdb_dbi_open(t.txn, "msgs", MDB_DUPSORT,
				    &st->dbi[i]);
				st->old_rows = 1;
			}
			if (rc == MDB_NOTFOUND && i == DB_MSGKW)
				continue;
			/* Added later: a store that has none has no entry. */
			if (rc == MDB_NOTFOUND && i == DB_TRANSPORTS) {
				st->no_transports = 1;
				continue;
			}
			if (rc == MDB_NOTFOUND && i == DB_DKIM) {
				st->no_dkim = 1;
				continue;
			}
			if (rc == MDB_NOTFOUND && i == DB_BCC) {
				st->no_bcc = 1;
				continue;
			}
			if (rc == MDB_NOTFOUND && i == DB_POLICY) {
				st->no_policy = 1;
				continue;
			}
			if (rc == MDB_NOTFOUND && i == DB_DISCLAIMER) {
				st->no_disclaimer = 1;
				continue;
			}
			if (rc == MDB_NOTFOUND && i == DB_ACL) {
				st->no_acl = 1;
				continue;
			}
			if (rc == MDB_NOTFOUND && (i == DB_EXPUNGES ||
			    i == DB_IMAPMETA)) {
				st->no_imap = 1;
				continue;
			}
			if (rc == MDB_NOTFOUND && i == DB_MAILDIRKW) {
				st->no_maildirkw = 1;
				continue;
			}
			/* Schema 4: filters, vacations, lists, training. */
			if (rc == MDB_NOTFOUND && (i == DB_USERDATA ||
			    i == DB_LISTS || i == DB_LISTMEMBERS ||
			    i == DB_LEARN)) {
				st->no_userdata = 1;
				continue;
			}
			/*
			 * Schema 5: the domain index; the readers of a store
			 * not upgraded yet scan the users instead.
			 */
			if (rc == MDB_NOTFOUND && i == DB_DOMUSERS)
				continue;
			if (rc != 0) {
				mdb_txn_abort(t.txn);
				store_txn_end(&t);
				err_set(ERR_CORRUPT, "store %s: table %s: %s",
				    st->path, store_db_names[i], mdb_strerror(rc));
				goto fail;
			}
		}
		/*
		 * Handles opened in a transaction that is aborted are closed
		 * with it, read-only or not: commit to keep them.
		 */
		if (store_init_schema(&t, NULL) == -1) {
			mdb_txn_abort(t.txn);
			store_txn_end(&t);
			goto fail;
		}
		rc = mdb_txn_commit(t.txn);
		store_txn_end(&t);
		if (rc != 0) {
			err_set(ERR_TEMP, "store %s: %s", st->path,
			    mdb_strerror(rc));
			goto fail;
		}
	} else if (store_write(st, store_init_schema, NULL) == -1)
		goto fail;
	if (volatile_open(st, data_dir) == -1)
		goto fail;
	if (!(flags & STORE_RDONLY))
		notify_store_open(st);
	/* An older store is upgraded in place (imapmeta.c). */
	if (!(flags & STORE_RDONLY) && st->schema < STORE_SCHEMA_VERSION &&
	    store_upgrade(st) == -1)
		goto fail;
	*r = st;
	return 0;
fail:
	store_close(&st);
	return -1;
}

/* Opens the tables and writes the schema version of a new store. */
static int
store_init_schema(struct store_txn *t, void *ctx)
{
	uint8_t ver[4], id[16];
	MDB_val v;
	int i, rc;

	(void)ctx;
	if (t->write) {
		for (i = 0; i < DB_COUNT; i++) {
			if (DB_IS_VOLATILE(i))
				continue;
			rc = mdb_dbi_open(t->txn, store_db_names[i], MDB_CREATE |
			    DB_FLAGS(i), &t->st->dbi[i]);
			if (rc != 0)
				return sdb_error(t, rc, store_db_names[i]);
		}
	}
	if ((rc = sdb_get(t, DB_META, "version", 7, &v)) == -1)
		return -1;
	if (rc == 0) {
		if (!t->write)
			return err_set(ERR_CORRUPT, "store has no version");
		be32enc(ver, STORE_SCHEMA_VERSION);
		if (RAND_bytes(id, sizeof(id)) != 1)
			return err_set(ERR_TEMP, "no random bytes for the "
			    "store id");
		if (sdb_put(t, DB_META, "version", 7, ver, 4, 0) == -1 ||
		    sdb_put(t, DB_META, "store_id", 8, id, 16, 0) == -1)
			return -1;
		t->st->schema = STORE_SCHEMA_VERSION;
		return 0;
	}
	if (v.mv_size != 4 || be32dec(v.mv_data) < STORE_SCHEMA_OLDEST ||
	    be32dec(v.mv_data) > STORE_SCHEMA_VERSION)
		return err_set(ERR_CORRUPT, "store schema version %u is not "
		    "%u: this vellumctl cannot read it", v.mv_size == 4 ?
		    be32dec(v.mv_data) : 0, STORE_SCHEMA_VERSION);
	t->st->schema = be32dec(v.mv_data);
	return 0;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;

	if (st == NULL)
		return;
	if (st->batch != NULL)
		store_batch_abort(st);
	store_dicts_free(st);
	store_login_cache_free(st);
	notify_store_free(st);
	ZSTD_freeCCtx(st->cctx);
	ZSTD_freeDCtx(st->dctx);
	volatile_close(st);
	if (st->env != NULL)
		mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->map_lock);
	pthread_mutex_destroy(&st->write_mu);
	pthread_mutex_destroy(&st->cctx_mu);
	pthread_mutex_destroy(&st->dctx_mu);
	pthread_mutex_destroy(&st->dict_mu);
	free(st->path);
	free(st);
	*stp = NULL;
}

/*
 * madvise() over this process's map of the data file.  LMDB does not
 * say where the map is (me_mapaddr is only set with MDB_FIXEDMAP), so it
 * is found by its file in /proc/self/maps.
 */
static void
store_map_advise(struct store *st, int advice)
{
	char line[PATH_MAX + 128], *path, *p;
	unsigned long lo, hi;
	FILE *fp;

	path = xasprintf("%s/data.mdb", st->path);
	if ((fp = fopen("/proc/self/maps", "r")) == NULL) {
		free(path);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if ((p = strchr(line, '/')) == NULL)
			continue;
		p[strcspn(p, "\n")] = '\0';
		if (strcmp(p, path) != 0 ||
		    sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (madvise((void *)lo, hi - lo, advice) != 0)
			log_warn("madvise of the store's map");
	}
	fclose(fp);
	free(path);
}

void
store_release_pages(struct store *st)
{
	/*
	 * The map is a shared read-only mapping of the data file: dropping
	 * our page-table entries leaves the pages in the page cache, and
	 * the next read faults them back in without I/O.
	 */
	store_map_advise(st, MADV_DONTNEED);
}

void
store_read_ahead(struct store *st, int on)
{
	store_map_advise(st, on ? MADV_NORMAL : MADV_RANDOM);
}

uint64_t
store_mapsize(struct store *st)
{
	uint64_t size;

	pthread_rwlock_rdlock(&st->map_lock);
	size = st->mapsize;
	pthread_rwlock_unlock(&st->map_lock);
	return size;
}

/*
 * Sets the map size (0: adopts the size another process gave the file).
 * LMDB wants no transaction open in the process: map_lock taken alone
 * waits for the other threads' transactions to end (they are short: a
 * loop turn's read, one commit); one of this thread's would never end,
 * so that is an error rather than a wait.
 */
static int
store_map_resize(struct store *st, uint64_t size)
{
	MDB_envinfo info;
	int rc;

	if (txns_open > 0)
		return err_set(ERR_TEMP, "cannot resize the store map: this "
		    "thread has a transaction open");
	pthread_rwlock_wrlock(&st->map_lock);
	rc = mdb_env_set_mapsize(st->env, size);
	mdb_env_info(st->env, &info);
	st->mapsize = info.me_mapsize;
	pthread_rwlock_unlock(&st->map_lock);
	if (rc != 0)
		return err_set(ERR_TEMP, "cannot set the store map to %"
		    PRIu64 " bytes: %s", size, mdb_strerror(rc));
	return 0;
}

/* Doubles the map (no transaction of this thread open). */
static int
store_grow(struct store *st)
{
	if (store_map_resize(st, store_mapsize(st) * 2) == -1)
		return -1;
	log_info("store map grown to %" PRIu64 " bytes", store_mapsize(st));
	return 0;
}

/* The transaction t is committed or aborted: map_lock is let go. */
static void
store_txn_end(struct store_txn *t)
{
	txns_open--;
	pthread_rwlock_unlock(&t->st->map_lock);
}

/*
 * Begins a transaction in env (the store's, or the volatile one),
 * recovering from a resized map or full readers.  Either holds map_lock
 * shared until store_txn_end().
 */
static int
store_txn_begin_env(struct store *st, MDB_env *env, int write,
    struct store_txn *t)
{
	int rc, i, dead;

	memset(t, 0, sizeof(*t));
	t->st = st;
	t->write = write;
	for (i = 0; i < STORE_RETRIES; i++) {
		pthread_rwlock_rdlock(&st->map_lock);
		txns_open++;
		rc = mdb_txn_begin(env, NULL, write ? 0 : MDB_RDONLY,
		    &t->txn);
		if (rc == 0)
			return 0;
		store_txn_end(t);
		if (rc == MDB_MAP_RESIZED) {
			/* Another process grew the map: adopt its size. */
			if (env != st->env)
				mdb_env_set_mapsize(env, 0);
			else if (store_map_resize(st, 0) == -1)
				return -1;
			continue;
		}
		if (rc == MDB_READERS_FULL) {
			mdb_reader_check(env, &dead);
			log_warnx("store reader table full; cleared %d stale "
			    "slot(s)", dead);
			usleep(1000 << (i < 8 ? i : 8));
			continue;
		}
		break;
	}
	return err_set(ERR_TEMP, "cannot begin a store transaction: %s",
	    mdb_strerror(rc));
}

static int
store_txn_begin(struct store *st, int write, struct store_txn *t)
{
	return store_txn_begin_env(st, st->env, write, t);
}

int
store_write(struct store *st, store_txn_fn *fn, void *ctx)
{
	return store_write_flags(st, fn, ctx, 0);
}

int
store_write_metanosync(struct store *st, store_txn_fn *fn, void *ctx)
{
	return store_write_flags(st, fn, ctx, MDB_NOMETASYNC);
}

int
store_sync(struct store *st)
{
	int rc;

	if (st->flags & STORE_RDONLY)
		return 0;
	if ((rc = mdb_env_sync(st->env, 1)) != 0)
		return err_set(ERR_TEMP, "store sync failed: %s",
		    mdb_strerror(rc));
	return 0;
}

int
store_sync_fd(struct store *st)
{
	int fd;

	if ((st->flags & STORE_RDONLY) || mdb_env_get_fd(st->env, &fd) != 0)
		return -1;
	return fd;
}

/*
 * store_grow() from store_write_flags(): write_mu is let go meanwhile, so
 * that a thread that must end its read transaction first is not held up
 * by it (its read body may write).
 */
static int
store_write_grow(struct store *st)
{
	int rc;

	pthread_mutex_unlock(&st->write_mu);
	rc = store_grow(st);
	pthread_mutex_lock(&st->write_mu);
	return rc;
}

/*
 * The one write path of the store.  nosync: 0 (a durable commit), or
 * LMDB's MDB_NOMETASYNC, set for this commit only.  LMDB 0.9.24 takes it
 * from the env's flags when the transaction commits (it ignores it as an
 * mdb_txn_begin() flag), and env flags are per process: write_mu, held
 * from the begin to after the flags are cleared, keeps any other
 * thread's commit from seeing them (or a flag update lost).
 *
 * Power loss (lmdb.h): a commit writes its new pages, syncs them, then
 * writes the meta page that names them, and syncs that.  MDB_NOMETASYNC
 * leaves out the second sync only: the pages a meta page names are on
 * disk before it, so a power cut loses at most the commits since the last
 * sync, whole.  MDB_NOSYNC, which leaves out both, is never used here:
 * until the next sync the kernel may write the meta page before the pages
 * it names.  What needs no sync at all lives in the volatile environment
 * (volatile.c).
 */
static int
store_write_flags(struct store *st, store_txn_fn *fn, void *ctx, int nosync)
{
	struct store_txn t;
	int i, r, rc;

	if (st->flags & STORE_RDONLY)
		return err_set(ERR_PERM, "store opened read-only");
	if (st->batch != NULL) {
		if (st->batch_failed)
			return err_set(ERR_TEMP, "an earlier write of this "
			    "batch failed; the batch is being rolled back");
		if ((r = fn(st->batch, ctx)) == -1)
			st->batch_failed = 1;
		return r;
	}
	pthread_mutex_lock(&st->write_mu);
	for (i = 0; i < STORE_RETRIES; i++) {
		if (store_txn_begin(st, 1, &t) == -1)
			goto fail;
		r = fn(&t, ctx);
		if (r == -1) {
			mdb_txn_abort(t.txn);
			store_txn_end(&t);
			notify_txn_clear(&t);
			if (t.mapfull && store_write_grow(st) == 0)
				continue;
			goto fail;
		}
		if (nosync)
			mdb_env_set_flags(st->env, (unsigned)nosync, 1);
		rc = mdb_txn_commit(t.txn);
		if (nosync)
			mdb_env_set_flags(st->env, (unsigned)nosync, 0);
		store_txn_end(&t);
		if (rc == 0) {
			/* Only now may others see it: tell them. */
			notify_txn_commit(&t);
			pthread_mutex_unlock(&st->write_mu);
			return r;
		}
		notify_txn_clear(&t);
		if (rc == MDB_MAP_FULL && store_write_grow(st) == 0)
			continue;
		err_set(ERR_TEMP, "store commit failed: %s", mdb_strerror(rc));
		goto fail;
	}
	err_set(ERR_TEMP, "store write failed after %d retries",
	    STORE_RETRIES);
fail:
	pthread_mutex_unlock(&st->write_mu);
	return -1;
}

int
store_read(struct store *st, store_txn_fn *fn, void *ctx)
{
	if (st->batch != NULL)
		return fn(st->batch, ctx);
	return store_read_env(st, st->env, fn, ctx);
}

/* fn in a read transaction of env (the store's or the volatile one). */
static int
store_read_env(struct store *st, MDB_env *env, store_txn_fn *fn, void *ctx)
{
	struct store_txn t;
	int r;

	if (store_txn_begin_env(st, env, 0, &t) == -1)
		return -1;
	r = fn(&t, ctx);
	mdb_txn_abort(t.txn);
	store_txn_end(&t);
	return r;
}

/*
 * The volatile tables (volatile.c): their own transactions, never part
 * of a batch, never synced.  Without the environment (a read-only store
 * with none of this boot) reads see empty tables.
 */
int
store_volatile_read(struct store *st, store_txn_fn *fn, void *ctx)
{
	if (st->venv == NULL)
		return 0;
	return store_read_env(st, st->venv, fn, ctx);
}

int
store_volatile_write(struct store *st, store_txn_fn *fn, void *ctx)
{
	struct store_txn t;
	int r, rc;

	if (st->venv == NULL || (st->flags & STORE_RDONLY))
		return err_set(ERR_PERM, "store opened read-only");
	if (store_txn_begin_env(st, st->venv, 1, &t) == -1)
		return -1;
	if ((r = fn(&t, ctx)) == -1) {
		mdb_txn_abort(t.txn);
		store_txn_end(&t);
		return -1;
	}
	rc = mdb_txn_commit(t.txn);
	store_txn_end(&t);
	if (rc != 0)
		return err_set(ERR_TEMP, "volatile tables: commit failed: %s",
		    mdb_strerror(rc));
	return r;
}

/*
 * Opens (creating unless read-only) volatile table i: 0, or 1 when a
 * read-only store finds none.
 */
int
volatile_dbi_open(struct store *st, int i)
{
	struct store_txn t;
	int rc, rdonly = st->flags & STORE_RDONLY;

	if (store_txn_begin_env(st, st->venv, !rdonly, &t) == -1)
		return -1;
	rc = mdb_dbi_open(t.txn, store_db_names[i], rdonly ? 0 : MDB_CREATE,
	    &st->dbi[i]);
	if (rc == MDB_NOTFOUND) {
		/* Read-only, and no process made it yet. */
		mdb_txn_abort(t.txn);
		store_txn_end(&t);
		return 1;
	}
	if (rc != 0) {
		mdb_txn_abort(t.txn);
		store_txn_end(&t);
		return err_set(ERR_CORRUPT, "volatile table %s: %s",
		    store_db_names[i], mdb_strerror(rc));
	}
	/* Handles opened in an aborted transaction close with it. */
	rc = mdb_txn_commit(t.txn);
	store_txn_end(&t);
	if (rc != 0)
		return err_set(ERR_TEMP, "volatile table %s: %s",
		    store_db_names[i], mdb_strerror(rc));
	return 0;
}

int
store_batch_begin(struct store *st)
{
	if (st->batch != NULL)
		fatalx("store_batch_begin: a batch is already open");
	st->batch = xcalloc(1, sizeof(*st->batch));
	st->batch_failed = 0;
	/* held until the batch ends (store_write_flags()) */
	pthread_mutex_lock(&st->write_mu);
	if (store_txn_begin(st, 1, st->batch) == -1) {
		pthread_mutex_unlock(&st->write_mu);
		free(st->batch);
		st->batch = NULL;
		return -1;
	}
	return 0;
}

int
store_batch_commit(struct store *st)
{
	struct store_txn *t = st->batch;
	int rc, mapfull;

	if (t == NULL)
		fatalx("store_batch_commit: no batch open");
	st->batch = NULL;
	mapfull = t->mapfull;
	if (st->batch_failed) {
		mdb_txn_abort(t->txn);
		store_txn_end(t);
		notify_txn_clear(t);
		pthread_mutex_unlock(&st->write_mu);
		free(t);
		if (mapfull)
			store_grow(st);
		return err_set(ERR_TEMP, "batch rolled back: %s%s",
		    mapfull ? "the map was full and has been grown; " : "",
		    "write it again");
	}
	rc = mdb_txn_commit(t->txn);
	store_txn_end(t);
	if (rc == 0)
		notify_txn_commit(t);
	notify_txn_clear(t);
	pthread_mutex_unlock(&st->write_mu);
	free(t);
	if (rc == MDB_MAP_FULL)
		store_grow(st);
	if (rc != 0)
		return err_set(ERR_TEMP, "batch commit failed: %s; write it "
		    "again", mdb_strerror(rc));
	return 0;
}

void
store_batch_abort(struct store *st)
{
	if (st->batch == NULL)
		return;
	mdb_txn_abort(st->batch->txn);
	store_txn_end(st->batch);
	notify_txn_clear(st->batch);
	pthread_mutex_unlock(&st->write_mu);
	free(st->batch);
	st->batch = NULL;
}

int
sdb_error(struct store_txn *t, int rc, const char *what)
{
	if (rc == MDB_MAP_FULL) {
		t->mapfull = 1;
		return err_set(ERR_TEMP, "store map full");
	}
	if (rc == MDB_TXN_FULL)
		return err_set(ERR_LIMIT, "transaction too large (%s)", what);
	if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
		return err_set(ERR_CORRUPT, "store damaged (%s): %s", what,
		    mdb_strerror(rc));
	return err_set(ERR_TEMP, "store error (%s): %s", what,
	    mdb_strerror(rc));
}

int
sdb_get(struct store_txn *t, enum store_db db, const void *key,
    size_t klen, MDB_val *v)
{
	MDB_val k = { klen, (void *)key };
	int rc;

	rc = mdb_get(t->txn, t->st->dbi[db], &k, v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return sdb_error(t, rc, store_db_names[db]);
	return 1;
}

int
sdb_put(struct store_txn *t, enum store_db db, const void *key,
    size_t klen, const void *val, size_t vlen, unsigned flags)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	int rc;

	if (!t->write)
		fatalx("store: write to %s in a read transaction",
		    store_db_names[db]);
	rc = mdb_put(t->txn, t->st->dbi[db], &k, &v, flags);
	if (rc == MDB_KEYEXIST)
		return 0;
	if (rc != 0)
		return sdb_error(t, rc, store_db_names[db]);
	return 1;
}

int
sdb_del(struct store_txn *t, enum store_db db, const void *key,
    size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc;

	rc = mdb_del(t->txn, t->st->dbi[db], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return sdb_error(t, rc, store_db_names[db]);
	return 1;
}

int
sdb_cursor(struct store_txn *t, enum store_db db, MDB_cursor **c)
{
	int rc;

	if ((rc = mdb_cursor_open(t->txn, t->st->dbi[db], c)) != 0)
		return sdb_error(t, rc, store_db_names[db]);
	return 0;
}

/* The first row of the range each time: what is left of it after a del. */
long
sdb_del_prefix(struct store_txn *t, enum store_db db, const void *prefix,
    size_t len, const char *what)
{
	MDB_cursor *c;
	MDB_val k, v;
	long n = 0;
	int rc;

	if (sdb_cursor(t, db, &c) == -1)
		return -1;
	for (;;) {
		k.mv_size = len;
		k.mv_data = (void *)prefix;
		if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) != 0)
			break;
		if (k.mv_size < len || memcmp(k.mv_data, prefix, len) != 0)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, what);
	return n;
}

int
sdb_counter_add(struct store_txn *t, const char *name, uint64_t n,
    uint64_t *first_r)
{
	uint8_t b[8];
	MDB_val v;
	uint64_t last = 0;
	int rc;

	if ((rc = sdb_get(t, DB_META, name, strlen(name), &v)) == -1)
		return -1;
	if (rc == 1 && v.mv_size == 8)
		last = be64dec(v.mv_data);
	be64enc(b, last + n);
	if (sdb_put(t, DB_META, name, strlen(name), b, 8, 0) == -1)
		return -1;
	*first_r = last + 1;
	return 0;
}

int
sdb_next_id(struct store_txn *t, enum store_db db, uint64_t *next_r)
{
	return sdb_next_id_key(t, db, 8, next_r);
}

int
sdb_next_id_key(struct store_txn *t, enum store_db db, size_t keylen,
    uint64_t *next_r)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (sdb_cursor(t, db, &c) == -1)
		return -1;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND) {
		*next_r = 1;
		return 0;
	}
	if (rc != 0)
		return sdb_error(t, rc, store_db_names[db]);
	if (k.mv_size != keylen)
		return err_set(ERR_CORRUPT, "%s: key of %zu bytes, not %zu",
		    store_db_names[db], k.mv_size, keylen);
	*next_r = be64dec(k.mv_data) + 1;
	return 0;
}
