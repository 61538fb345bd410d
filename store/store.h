/*
 * store.h - the Vellum message store: environment and transactions.
 *
 * One LMDB environment under DATA_DIR/store/ holds every domain, user,
 * address route, mailbox and message (see DESIGN.md, "The store").  Every
 * process opens it itself (never across fork); reads are MVCC snapshots,
 * writes are short transactions serialised by LMDB.
 *
 * Conventions of every store function: -1 is an error with err_set()
 * called (common/error.h gives the class), 0 is "not found" where a third
 * case exists, 1 (or 0 where there is none) is success.  Structures filled
 * through _r parameters are owned by the caller.  A function that fails
 * inside a write transaction may have changed it already: return -1 from
 * the transaction body so that store_write() aborts it.
 *
 * Threads: one store handle may be used by several threads of a process
 * at once (smtpd's loop reads while its writer thread commits).  Write
 * transactions of the process run one at a time (a store_write() waits
 * for another thread's to end); growing the map waits for the other
 * threads' transactions to end (they must be short).  A transaction body
 * runs on the thread that called, which must not be inside another
 * transaction of the same store when the map has to grow (TEMP then).
 */
#ifndef VELLUM_STORE_H
#define VELLUM_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;
struct store_txn;

/* store_open() flags */
#define STORE_RDONLY	0x01	/* open read-only; never creates */
#define STORE_NOCREATE	0x02	/* fail with NOTFOUND when no store exists */

/* Default initial map size; MDB_MAP_FULL doubles it. */
#define STORE_MAPSIZE_DEFAULT	(1ULL << 30)

/*
 * Opens (creating when needed) the store under data_dir/store/.  As
 * root, a writable open gives root's store dir and files to data_dir's
 * owner when that is not root (the daemons' user).  Clears stale reader
 * slots.  A writable open of a store of an older schema
 * upgrades it in place first (small transactions, idempotent, the
 * version written last; see store/imapmeta.c); a read-only open reads
 * it as it is.  Errors: NOTFOUND (no store, with STORE_NOCREATE or
 * STORE_RDONLY), CORRUPT (schema version unknown), TEMP (I/O).
 */
int	store_open(const char *data_dir, unsigned flags, struct store **r);
void	store_close(struct store **);

/* The initial map size of stores opened later (tests use a tiny one). */
/*
 * The file that names this boot (/proc/sys/kernel/random/boot_id): the
 * volatile tables (locks, failed logins) of another boot are thrown away
 * when the store opens (store/volatile.c).  Tests set another file.
 */
void	store_volatile_set_boot_id_path(const char *);
void	store_set_initial_mapsize(uint64_t);
/*
 * Drops this process's resident pages of the store's map (they stay in
 * the page cache; touching them again costs a minor fault, no I/O).  For
 * a long-lived reader of much mail (the file view) whose resident size
 * would otherwise grow with every message read.
 */
void	store_release_pages(struct store *);
/*
 * The store's map is read without read-ahead (mostly a few scattered
 * pages at a time); a scan of the whole store (check, backup, stats,
 * recompression) turns it on for its duration in this process.
 */
void	store_read_ahead(struct store *, int on);
/* Current map size of an open store. */
uint64_t store_mapsize(struct store *);

/*
 * A transaction body.  It returns -1 (err set) to abort, anything else to
 * commit.  store_write() may run it again after growing the map, so it must
 * not change anything outside the transaction before it returns.
 */
typedef int store_txn_fn(struct store_txn *, void *ctx);

/*
 * Runs fn inside one write transaction and commits durably.  Returns fn's
 * result, or -1 when fn or the commit failed (nothing changed then).
 */
int	store_write(struct store *, store_txn_fn *fn, void *ctx);
/*
 * As store_write(), but only the data pages are synced before the commit
 * is written (LMDB's MDB_NOMETASYNC for this commit): the store stays
 * whole on power loss (the meta page that names the new pages is written
 * after they are on disk), but until a sync the commit itself may be lost
 * to a power cut, never to a killed process.  Whoever promises
 * durability waits for store_sync() (or fdatasync() of store_sync_fd(),
 * on any thread) begun after this returned; any later durable commit
 * makes it durable too.  (smtpd: the group commit, whose answers wait for
 * its sync thread.)
 */
int	store_write_metanosync(struct store *, store_txn_fn *fn, void *ctx);
/*
 * Makes every commit that returned before durable (fdatasync of the data
 * file).  0, or -1 (TEMP).
 */
int	store_sync(struct store *);
/*
 * The data file's descriptor, for a thread that syncs it (fdatasync()):
 * valid until store_close().  -1 for a read-only store.
 */
int	store_sync_fd(struct store *);
/* Runs fn inside a read-only snapshot.  Returns fn's result. */
int	store_read(struct store *, store_txn_fn *fn, void *ctx);

/*
 * Group commit: several store_write() bodies inside one durable commit.
 * Between store_batch_begin() and store_batch_commit() each store_write()
 * runs in the shared transaction; a body that fails aborts the whole batch
 * (every later store_write() then fails too, until the batch ends).
 */
int	store_batch_begin(struct store *);
int	store_batch_commit(struct store *);
void	store_batch_abort(struct store *);

/*
 * The clock of the store (internal dates, over-quota times, lock leases).
 * Tests replace it to move time forward; NULL restores time(3).
 */
void	store_set_clock(time_t (*clock)(void));
time_t	store_now(void);

#endif
