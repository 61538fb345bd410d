/*
 * volatile.c - the tables that need no durability: `locks` (lock.c) and
 * `authfail` (authfail.c), in a second LMDB environment,
 * DATA_DIR/volatile/, that never syncs (MDB_NOSYNC).
 *
 * Why a second environment: a lock is taken and released around every
 * POP3 session and every delivery, and a failed login is counted on every
 * wrong password.  None of it needs to outlive a crash (a lock's owner
 * dies with it; a lost failure count is one more guess for an attacker
 * after a power cut), and a sync costs 1-2 ms here.  Committing them
 * without sync into the main store is not safe: with MDB_NOSYNC the
 * kernel may write a commit's meta page before the pages it names, so a
 * power cut could leave the main store pointing at pages never written.
 * Here the same can happen, and is harmless: the environment is thrown
 * away whenever the machine booted since it was made.
 *
 * How: DATA_DIR/volatile/boot_id holds the boot id
 * (/proc/sys/kernel/random/boot_id) of the boot that made data.mdb.
 * Each opener takes an exclusive flock on that file, and when the id in
 * it is not this boot's, removes data.mdb and lock.mdb before opening.
 * A power cut or crash of the machine is a new boot; a process that
 * opened the environment in this boot never sees a stale id.  The file
 * itself is not synced either: after a power cut it is at worst empty or
 * old, which also means "not this boot".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "private.h"

/* Sparse: the file grows only as far as it is used. */
#define VOLATILE_MAPSIZE	((uint64_t)1 << 30)
#define BOOT_ID_LEN		36

static const char *boot_id_path = "/proc/sys/kernel/random/boot_id";

/* Tests set another file (a second "boot"). */
void
store_volatile_set_boot_id_path(const char *path)
{
	boot_id_path = path;
}

static int
volatile_boot_id(char id[BOOT_ID_LEN + 1])
{
	ssize_t n;
	int fd;

	if ((fd = open(boot_id_path, O_RDONLY | O_CLOEXEC)) == -1)
		return err_set(ERR_TEMP, "cannot read %s: %s", boot_id_path,
		    strerror(errno));
	n = read(fd, id, BOOT_ID_LEN);
	close(fd);
	if (n != BOOT_ID_LEN)
		return err_set(ERR_TEMP, "%s: not a boot id", boot_id_path);
	id[BOOT_ID_LEN] = '\0';
	return 0;
}

/*
 * Under the flock of boot_id: a data.mdb of another boot is removed, and
 * the file names this boot.  Returns 1 when the environment may be
 * opened, 0 when a read-only opener finds none of this boot.
 */
static int
volatile_check_boot(int fd, const char *dir, int rdonly)
{
	char now[BOOT_ID_LEN + 1], was[BOOT_ID_LEN + 1], *p;
	static const char *files[] = { "data.mdb", "lock.mdb" };
	ssize_t n;
	size_t i;

	if (volatile_boot_id(now) == -1)
		return -1;
	n = pread(fd, was, BOOT_ID_LEN, 0);
	if (n == BOOT_ID_LEN && memcmp(was, now, BOOT_ID_LEN) == 0)
		return 1;
	if (rdonly)
		return 0;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = xasprintf("%s/%s", dir, files[i]);
		if (unlink(p) == -1 && errno != ENOENT) {
			err_set(ERR_TEMP, "cannot remove %s: %s", p,
			    strerror(errno));
			free(p);
			return -1;
		}
		free(p);
	}
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, now, BOOT_ID_LEN, 0) != BOOT_ID_LEN)
		return err_set(ERR_TEMP, "cannot write %s/boot_id: %s", dir,
		    strerror(errno));
	return 1;
}

/*
 * Opens DATA_DIR/volatile/ for st.  A read-only store opens it read-only
 * when it is there and of this boot; otherwise st->venv stays NULL: no
 * locks, no failed logins.
 */
int
volatile_open(struct store *st, const char *data_dir)
{
	char *dir, *file;
	int fd = -1, rc, ok, dead, rdonly = st->flags & STORE_RDONLY;
	int i;

	dir = xasprintf("%s/volatile", data_dir);
	file = xasprintf("%s/boot_id", dir);
	if (!rdonly && mkdir(dir, 0700) == -1 && errno != EEXIST) {
		err_set(ERR_TEMP, "cannot create %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	fd = open(file, (rdonly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1) {
		if (rdonly && errno == ENOENT) {
			free(file);
			free(dir);
			return 0;
		}
		err_set(ERR_TEMP, "cannot open %s: %s", file,
		    strerror(errno));
		goto fail;
	}
	if (flock(fd, LOCK_EX) == -1) {
		err_set(ERR_TEMP, "cannot lock %s: %s", file,
		    strerror(errno));
		goto fail;
	}
	if ((ok = volatile_check_boot(fd, dir, rdonly)) <= 0) {
		if (ok == -1)
			goto fail;
		goto done;
	}
	if ((rc = mdb_env_create(&st->venv)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->venv, 8)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->venv, 1024)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->venv, VOLATILE_MAPSIZE)) != 0 ||
	    (rc = mdb_env_open(st->venv, dir, MDB_NOTLS | MDB_NOSYNC |
	    (rdonly ? MDB_RDONLY : 0), 0600)) != 0) {
		err_set(ERR_TEMP, "cannot open %s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	if (!rdonly)
		store_owner(data_dir, dir);
	if (mdb_reader_check(st->venv, &dead) == 0 && dead > 0)
		log_info("cleared %d stale reader slot(s) in %s", dead, dir);
	for (i = 0; i < DB_COUNT; i++) {
		if (!DB_IS_VOLATILE(i))
			continue;
		if ((rc = volatile_dbi_open(st, i)) == -1)
			goto fail;
		if (rc == 1) {
			/* Read-only, and none made yet: no locks. */
			mdb_env_close(st->venv);
			st->venv = NULL;
			break;
		}
	}
done:
	close(fd);
	free(file);
	free(dir);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	if (st->venv != NULL) {
		mdb_env_close(st->venv);
		st->venv = NULL;
	}
	free(file);
	free(dir);
	return -1;
}

void
volatile_close(struct store *st)
{
	if (st->venv != NULL)
		mdb_env_close(st->venv);
	st->venv = NULL;
}
