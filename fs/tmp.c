/*
 * tmp.c - files that are not messages: those in tmp/ (real files in
 * DATA_DIR/fstmp/<mailbox id>/, so a message being written survives a
 * restart of vellum-fs like a file in a Maildir's tmp/ does; they become
 * messages when renamed into new/ or cur/, write.c), and the other files
 * programs keep beside cur/ new/ tmp/ (mbsync's .uidvalidity and
 * .isyncuidmap.db, a .mbsyncstate: DATA_DIR/fstmp/<mailbox id>.root/).
 *
 * The kernel knows them by inode numbers FS_K_TMPFILE | serial; this
 * table maps a serial to (mailbox, name) for as long as the kernel holds
 * it.  A handful per folder at a time: a list is enough.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "fs/fs.h"
#include "fs/node.h"

struct tmpf {
	uint64_t	serial;
	uint32_t	mbox;
	int		area;		/* FS_AREA_* */
	char		name[FS_NAME_MAX + 1];
	int64_t		nlookup;
	int		fd;		/* -1 until written to */
	int		gone;		/* unlinked or renamed away */
	uint32_t	dmbox, duid;	/* stored as this message */
	uint32_t	fuser;		/* became this user's filter file */
};

static struct tmpf	**tmps;
static size_t		  ntmps, tmps_cap;
static uint64_t		  tmp_serial;

/*
 * What one user may keep under fstmp, all its folders and both areas
 * together (they are not mail, so the quota does not see them; without
 * this, folders times 1000 files times max_message_size fill the disk):
 * FS_TMP_USER_MSGS messages of max_message_size being written at once,
 * plus FS_TMP_USER_SLACK bytes for programs' own files (mbsync's state),
 * and FS_TMP_USER_FILES files.  Beyond: EDQUOT.
 */
#define FS_TMP_USER_MSGS	4
#define FS_TMP_USER_SLACK	(1024 * 1024)
#define FS_TMP_USER_FILES	4000

/*
 * A user's bytes and files under fstmp: counted by a scan of its folders
 * when needed, then kept by writes and truncates; every other change
 * (create, unlink, rename, store) forgets the count, and the next write
 * counts again.
 */
struct tuse {
	uint32_t	user;
	uint64_t	bytes;
	size_t		files;
};
static struct tuse	*tuses;
static size_t		 ntuses;

static struct tmpf *
tmp_by_ino(uint64_t ino)
{
	uint64_t serial = fs_ino_id(ino);
	size_t i;

	for (i = 0; i < ntmps; i++)
		if (tmps[i]->serial == serial)
			return tmps[i];
	return NULL;
}

static struct tmpf *
tmp_by_name(uint32_t mbox, int area, const char *name)
{
	size_t i;

	for (i = 0; i < ntmps; i++)
		if (tmps[i]->mbox == mbox && tmps[i]->area == area &&
		    !tmps[i]->gone &&
		    strcmp(tmps[i]->name, name) == 0)
			return tmps[i];
	return NULL;
}

static void
tmp_free(struct tmpf *f)
{
	size_t i;

	for (i = 0; i < ntmps; i++)
		if (tmps[i] == f) {
			tmps[i] = tmps[--ntmps];
			break;
		}
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* Entries nobody holds (made by plain readdir) go at the next use. */
static void
tmp_gc(void)
{
	size_t i = 0;

	while (i < ntmps)
		if (tmps[i]->nlookup <= 0 && tmps[i]->fd < 0)
			tmp_free(tmps[i]);
		else
			i++;
}

static struct tmpf *
tmp_get(uint32_t mbox, int area, const char *name)
{
	struct tmpf *f;

	if ((f = tmp_by_name(mbox, area, name)) != NULL)
		return f;
	tmp_gc();
	if (ntmps == tmps_cap) {
		tmps_cap = tmps_cap == 0 ? 16 : tmps_cap * 2;
		tmps = xreallocarray(tmps, tmps_cap, sizeof(*tmps));
	}
	f = xcalloc(1, sizeof(*f));
	f->serial = ++tmp_serial;
	f->mbox = mbox;
	f->area = area;
	f->fd = -1;
	snprintf(f->name, sizeof(f->name), "%s", name);
	tmps[ntmps++] = f;
	return f;
}

/* The real directory of an area of a mailbox; -1 with errno. */
int
fs_tmp_dirfd(uint32_t mbox, int area, int create)
{
	char d[32];
	int fd;

	snprintf(d, sizeof(d), "%" PRIu32 "%s", mbox, area == FS_AREA_ROOT ?
	    ".root" : "");
	fd = openat(fs.tmpdirfd, d, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(fs.tmpdirfd, d, 0700) < 0 && errno != EEXIST)
			return -1;
		fd = openat(fs.tmpdirfd, d, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC | O_NOFOLLOW);
	}
	return fd;
}

static uint64_t
tmp_user_cap(void)
{
	return FS_TMP_USER_MSGS * fs.max_size + FS_TMP_USER_SLACK;
}

/* Adds the files of one area of one mailbox to u. */
static void
tuse_scan_dir(struct tuse *u, uint32_t mbox, int area)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd;

	if ((dfd = fs_tmp_dirfd(mbox, area, 0)) < 0)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		u->files++;
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && st.st_size > 0)
			u->bytes += (uint64_t)st.st_size;
	}
	closedir(d);
}

struct tuse_q {
	uint32_t	 mbox, user;
	uint32_t	*ids;
	size_t		 nids;
};

static int
tuse_id_fn(const struct store_mailbox *mb, void *ctx)
{
	struct tuse_q *q = ctx;

	q->ids = xreallocarray(q->ids, q->nids + 1, sizeof(*q->ids));
	q->ids[q->nids++] = mb->id;
	return 0;
}

static int
tuse_txn(struct store_txn *t, void *ctx)
{
	struct tuse_q *q = ctx;
	struct store_mailbox mb;
	int rc;

	if ((rc = store_mailbox_get_by_id(t, q->mbox, &mb)) != 1)
		return rc;
	q->user = mb.user_id;
	q->nids = 0;
	return store_mailbox_list(t, q->user, tuse_id_fn, q) < 0 ? -1 : 1;
}

/*
 * The count of the user mailbox mbox belongs to (scanned when not
 * kept); NULL when the store cannot say (the caller then refuses).
 */
static struct tuse *
tuse_get(uint32_t mbox)
{
	struct tuse_q q;
	struct tuse *u;
	size_t i;

	memset(&q, 0, sizeof(q));
	q.mbox = mbox;
	if (store_read(fs.store, tuse_txn, &q) != 1) {
		free(q.ids);
		return NULL;
	}
	for (i = 0; i < ntuses; i++)
		if (tuses[i].user == q.user) {
			free(q.ids);
			return &tuses[i];
		}
	tuses = xreallocarray(tuses, ntuses + 1, sizeof(*tuses));
	u = &tuses[ntuses++];
	memset(u, 0, sizeof(*u));
	u->user = q.user;
	for (i = 0; i < q.nids; i++) {
		tuse_scan_dir(u, q.ids[i], FS_AREA_TMP);
		tuse_scan_dir(u, q.ids[i], FS_AREA_ROOT);
	}
	free(q.ids);
	return u;
}

/* Something other than a write changed the files of mbox's user. */
static void
tuse_forget(uint32_t mbox)
{
	struct tuse_q q;
	size_t i;

	memset(&q, 0, sizeof(q));
	q.mbox = mbox;
	if (store_read(fs.store, tuse_txn, &q) != 1) {
		/* Not known: forget every count. */
		ntuses = 0;
		free(q.ids);
		return;
	}
	free(q.ids);
	for (i = 0; i < ntuses; i++)
		if (tuses[i].user == q.user) {
			tuses[i] = tuses[--ntuses];
			return;
		}
}

/*
 * Whether the file of f may grow from size from to size to: 0, or
 * EDQUOT (the user's files would hold more than they may), or EIO.
 * *u_r: the count to add the growth to once done.
 */
static int
tuse_grow(struct tmpf *f, uint64_t from, uint64_t to, struct tuse **u_r)
{
	struct tuse *u;

	*u_r = NULL;
	if (to <= from)
		return 0;
	if ((u = tuse_get(f->mbox)) == NULL)
		return EIO;
	if (u->bytes + (to - from) > tmp_user_cap())
		return EDQUOT;
	*u_r = u;
	return 0;
}

/* lstat of a tmp file: 1 a regular file, 0 none (errno set). */
static int
tmp_stat(uint32_t mbox, int area, const char *name, struct stat *st)
{
	int dfd, rc;

	if ((dfd = fs_tmp_dirfd(mbox, area, 0)) < 0)
		return 0;
	rc = fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW);
	close(dfd);
	if (rc < 0)
		return 0;
	if (!S_ISREG(st->st_mode)) {
		errno = ENOENT;
		return 0;
	}
	return 1;
}

static int
tmp_fd(struct tmpf *f)
{
	int dfd;

	if (f->fd >= 0)
		return f->fd;
	if ((dfd = fs_tmp_dirfd(f->mbox, f->area, 0)) < 0)
		return -1;
	f->fd = openat(dfd, f->name, O_RDWR | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK);
	close(dfd);
	return f->fd;
}

int
fs_tmp_node(struct store_txn *t, uint64_t ino, struct fs_node *n)
{
	struct tmpf *f;
	int rc;

	if ((f = tmp_by_ino(ino)) == NULL)
		return 0;
	if (f->duid != 0 || f->fuser != 0) {
		/*
		 * Stored: it is that message (or the filter file) now, under
		 * this inode.
		 */
		if ((rc = fs_node_get(t, f->fuser != 0 ?
		    fs_ino(FS_K_FILTER, f->fuser) :
		    fs_ino_msg(f->dmbox, f->duid), n)) != 1)
			return rc;
		n->ino = ino;
		return 1;
	}
	if (f->gone || (rc = fs_node_get(t, fs_ino(FS_K_TMP, f->mbox), n)) !=
	    1)
		return 0;
	if (!tmp_stat(f->mbox, f->area, f->name, &n->tmpst))
		return 0;
	n->kind = FS_K_TMPFILE;
	n->tmparea = f->area;
	n->ino = ino;
	snprintf(n->tmpname, sizeof(n->tmpname), "%s", f->name);
	return 1;
}

int
fs_tmp_lookup(struct store_txn *t, const struct fs_node *dir, int area,
    const char *name, struct fs_node *r, int *errno_r)
{
	struct tmpf *f;

	(void)t;
	if (!tmp_stat(dir->mb.id, area, name, &r->tmpst)) {
		*errno_r = ENOENT;
		return 0;
	}
	f = tmp_get(dir->mb.id, area, name);
	memcpy(&r->d, &dir->d, sizeof(r->d));
	r->u = dir->u;
	r->mb = dir->mb;
	r->kind = FS_K_TMPFILE;
	r->tmparea = area;
	r->ino = fs_ino(FS_K_TMPFILE, f->serial);
	snprintf(r->tmpname, sizeof(r->tmpname), "%s", name);
	return 1;
}

int
fs_tmp_readdir(struct rd *r, struct store_txn *t, int area)
{
	const struct fs_node *dir = fs_rd_dir(r);
	struct fs_node n;
	struct dirent *de;
	DIR *d;
	int dfd, e;

	if ((dfd = fs_tmp_dirfd(dir->mb.id, area, 0)) < 0)
		return 0;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		n = *dir;
		if (fs_tmp_lookup(t, dir, area, de->d_name, &n, &e) != 1)
			continue;
		if (fs_rd_fixed(r, de->d_name, &n) < 0)
			break;
	}
	closedir(d);
	return 0;
}

void
fs_tmp_ref(uint64_t ino, int64_t delta)
{
	struct tmpf *f;

	if ((f = tmp_by_ino(ino)) == NULL)
		return;
	f->nlookup += delta;
	if (f->nlookup <= 0)
		tmp_free(f);
}

struct tmp_rd {
	uint32_t	 fuser;
	uint32_t	 mbox, uid;
	uint64_t	 off;
	size_t		 size, len;
	char		*buf;
};

static int
tmp_rd_txn(struct store_txn *t, void *ctx)
{
	struct tmp_rd *x = ctx;
	char *text = NULL;
	size_t len;
	int rc;

	if (x->fuser != 0) {
		if ((rc = fs_filter_text(t, x->fuser, &text, &len)) != 1)
			return rc;
		x->len = 0;
		if (x->off < len) {
			x->len = len - x->off < x->size ? len - x->off :
			    x->size;
			memcpy(x->buf, text + x->off, x->len);
		}
		free(text);
		return 1;
	}
	return store_msg_read_range(t, x->mbox, x->uid, x->off, x->size,
	    x->buf, &x->len);
}

void
fs_tmp_read(fuse_req_t req, uint64_t ino, size_t size, off_t off)
{
	struct tmp_rd x;
	struct tmpf *f;
	ssize_t n;
	char *buf;
	int fd;

	if ((f = tmp_by_ino(ino)) == NULL || off < 0) {
		fuse_reply_err(req, f == NULL ? ESTALE : EINVAL);
		return;
	}
	if (size > 4 * 1024 * 1024)
		size = 4 * 1024 * 1024;
	buf = xmalloc(size > 0 ? size : 1);
	if (f->duid != 0 || f->fuser != 0) {
		memset(&x, 0, sizeof(x));
		x.fuser = f->fuser;
		x.mbox = f->dmbox;
		x.uid = f->duid;
		x.off = (uint64_t)off;
		x.size = size;
		x.buf = buf;
		if (store_read(fs.store, tmp_rd_txn, &x) == 1)
			fuse_reply_buf(req, buf, x.len);
		else
			fuse_reply_err(req, ENOENT);
	} else if ((fd = tmp_fd(f)) < 0)
		fuse_reply_err(req, errno);
	else if ((n = pread(fd, buf, size, off)) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* --- changes (write.c) ---------------------------------------------- */

size_t
fs_tmp_count(uint32_t mbox, int area)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int dfd;

	if ((dfd = fs_tmp_dirfd(mbox, area, 0)) < 0)
		return 0;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int
fs_tmp_create(uint32_t mbox, int area, const char *name, int flags,
    uint64_t *ino_r)
{
	struct tmpf *f;
	struct tuse *u;
	int dfd, fd;


	if (fs_tmp_count(mbox, area) >= FS_TMP_FILES_MAX)
		return EDQUOT;
	if ((u = tuse_get(mbox)) == NULL)
		return EIO;
	if (u->files >= FS_TMP_USER_FILES)
		return EDQUOT;
	tuse_forget(mbox);
	if ((dfd = fs_tmp_dirfd(mbox, area, 1)) < 0)
		return errno;
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | (flags & O_EXCL) | (flags & O_TRUNC), 0600);
	close(dfd);
	if (fd < 0)
		return errno;
	f = tmp_get(mbox, area, name);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	*ino_r = fs_ino(FS_K_TMPFILE, f->serial);
	return 0;
}

int
fs_tmp_write(uint64_t ino, const char *buf, size_t size, off_t off)
{
	struct tuse *u;
	struct tmpf *f;
	struct stat st;
	ssize_t n;
	int fd, e;

	if ((f = tmp_by_ino(ino)) == NULL || f->duid != 0 || f->fuser != 0)
		return f == NULL ? ESTALE : EPERM;
	if (off < 0 || (uint64_t)off + size > fs.max_size)
		return EFBIG;
	if ((fd = tmp_fd(f)) < 0)
		return errno;
	if (fstat(fd, &st) < 0)
		return errno;
	if ((e = tuse_grow(f, (uint64_t)st.st_size, (uint64_t)off + size,
	    &u)) != 0)
		return e;
	if ((n = pwrite(fd, buf, size, off)) < 0 || (size_t)n != size) {
		tuse_forget(f->mbox);
		return n < 0 ? errno : EIO;
	}
	if (u != NULL)
		u->bytes += (uint64_t)off + size - (uint64_t)st.st_size;
	return 0;
}

int
fs_tmp_sync(uint64_t ino, int datasync)
{
	struct tmpf *f;
	int fd;

	if ((f = tmp_by_ino(ino)) == NULL)
		return ESTALE;
	if ((fd = tmp_fd(f)) < 0)
		return errno;
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		return errno;
	return 0;
}

int
fs_tmp_stored_as_msg(uint64_t ino)
{
	struct tmpf *f = tmp_by_ino(ino);

	return f != NULL && (f->duid != 0 || f->fuser != 0);
}

int
fs_tmp_setattr(uint64_t ino, const struct stat *attr, int to_set)
{
	struct timespec ts[2];
	struct tuse *u;
	struct tmpf *f;
	struct stat st;
	int fd, e;

	if ((f = tmp_by_ino(ino)) == NULL || f->duid != 0 || f->fuser != 0)
		return f == NULL ? ESTALE : EPERM;
	if ((fd = tmp_fd(f)) < 0)
		return errno;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0 || (uint64_t)attr->st_size >
		    fs.max_size)
			return EFBIG;
		if (fstat(fd, &st) < 0)
			return errno;
		if ((e = tuse_grow(f, (uint64_t)st.st_size,
		    (uint64_t)attr->st_size, &u)) != 0)
			return e;
		if (ftruncate(fd, attr->st_size) < 0)
			return errno;
		if (u != NULL)
			u->bytes += (uint64_t)attr->st_size -
			    (uint64_t)st.st_size;
		else if (attr->st_size < st.st_size)
			tuse_forget(f->mbox);
	}
	if ((to_set & FUSE_SET_ATTR_MODE) &&
	    fchmod(fd, attr->st_mode & 0777) < 0)
		return errno;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		if (futimens(fd, ts) < 0)
			return errno;
	}
	return 0;
}

int
fs_tmp_unlink(uint32_t mbox, int area, const char *name)
{
	struct tmpf *f;
	int dfd, rc;

	if ((dfd = fs_tmp_dirfd(mbox, area, 0)) < 0)
		return ENOENT;
	rc = unlinkat(dfd, name, 0);
	close(dfd);
	if (rc < 0)
		return errno;
	tuse_forget(mbox);
	if ((f = tmp_by_name(mbox, area, name)) != NULL)
		f->gone = 1;
	return 0;
}

int
fs_tmp_rename(uint32_t mbox, int area, const char *name, uint32_t dmbox,
    int darea, const char *dname)
{
	struct tmpf *f, *g;
	int sfd, dfd, rc;

	if ((sfd = fs_tmp_dirfd(mbox, area, 0)) < 0)
		return ENOENT;
	if ((dfd = fs_tmp_dirfd(dmbox, darea, 1)) < 0) {
		close(sfd);
		return errno;
	}
	rc = renameat(sfd, name, dfd, dname);
	close(sfd);
	close(dfd);
	if (rc < 0)
		return errno;
	tuse_forget(mbox);
	if ((g = tmp_by_name(dmbox, darea, dname)) != NULL)
		g->gone = 1;
	if ((f = tmp_by_name(mbox, area, name)) != NULL) {
		f->mbox = dmbox;
		f->area = darea;
		snprintf(f->name, sizeof(f->name), "%s", dname);
	}
	return 0;
}

int
fs_tmp_map(uint32_t mbox, int area, const char *name, void **data_r,
    size_t *len_r, struct stat *st_r)
{
	int dfd, fd;

	*data_r = NULL;
	*len_r = 0;
	if ((dfd = fs_tmp_dirfd(mbox, area, 0)) < 0)
		return ENOENT;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK);
	close(dfd);
	if (fd < 0)
		return errno;
	if (fstat(fd, st_r) < 0 || !S_ISREG(st_r->st_mode)) {
		close(fd);
		return EINVAL;
	}
	if ((uint64_t)st_r->st_size > fs.max_size) {
		close(fd);
		return EFBIG;
	}
	if (st_r->st_size > 0) {
		*data_r = mmap(NULL, (size_t)st_r->st_size, PROT_READ,
		    MAP_PRIVATE, fd, 0);
		if (*data_r == MAP_FAILED) {
			*data_r = NULL;
			close(fd);
			return ENOMEM;
		}
		*len_r = (size_t)st_r->st_size;
	}
	close(fd);
	return 0;
}

int
fs_tmp_to_filter(uint32_t mbox, int area, const char *name, uint32_t user)
{
	struct tmpf *f = tmp_by_name(mbox, area, name);
	int e;

	if ((e = fs_tmp_unlink(mbox, area, name)) != 0)
		return e;
	if (f != NULL) {
		f->fuser = user;
		if (f->fd >= 0) {
			close(f->fd);
			f->fd = -1;
		}
	}
	return 0;
}

void
fs_tmp_stored(uint32_t mbox, int area, const char *name, uint32_t dmbox,
    uint32_t duid)
{
	struct tmpf *f;
	int dfd;

	if ((dfd = fs_tmp_dirfd(mbox, area, 0)) >= 0) {
		if (unlinkat(dfd, name, 0) < 0)
			log_warn("cannot remove stored tmp file %s", name);
		close(dfd);
	}
	tuse_forget(mbox);
	if ((f = tmp_by_name(mbox, area, name)) != NULL) {
		f->gone = 1;
		f->dmbox = dmbox;
		f->duid = duid;
		if (f->fd >= 0) {
			close(f->fd);
			f->fd = -1;
		}
	}
}

/* --- folders that are gone ------------------------------------------- */

struct exists_q {
	uint32_t	mbox;
};

static int
exists_txn(struct store_txn *t, void *ctx)
{
	struct exists_q *q = ctx;
	struct store_mailbox mb;

	return store_mailbox_get_by_id(t, q->mbox, &mb);
}

/* Removes the files of directory d (a name under fstmp), then d. */
static void
tmp_rmdir(const char *d)
{
	struct dirent *de;
	DIR *dir;
	int dfd;

	if ((dfd = openat(fs.tmpdirfd, d, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    unlinkat(dirfd(dir), de->d_name, 0) < 0)
			log_warn("removing %s/%s/%s", fs.tmpdir, d, de->d_name);
	closedir(dir);
	if (unlinkat(fs.tmpdirfd, d, AT_REMOVEDIR) < 0)
		log_warn("removing %s/%s", fs.tmpdir, d);
}

/* The areas of mbox, when the mailbox no longer exists: 1 removed. */
static int
tmp_sweep_one(uint32_t mbox)
{
	struct exists_q q = { mbox };
	char d[2][32];
	struct stat st;
	int i, have = 0;
	size_t j;

	for (i = 0; i < 2; i++) {
		snprintf(d[i], sizeof(d[i]), "%" PRIu32 "%s", mbox,
		    i == FS_AREA_ROOT ? ".root" : "");
		if (fstatat(fs.tmpdirfd, d[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			have = 1;
	}
	if (!have || store_read(fs.store, exists_txn, &q) != 0)
		return 0;
	for (i = 0; i < 2; i++)
		tmp_rmdir(d[i]);
	for (j = 0; j < ntmps; j++)
		if (tmps[j]->mbox == mbox && tmps[j]->duid == 0)
			tmps[j]->gone = 1;
	return 1;
}

void
fs_tmp_sweep(uint32_t mbox)
{
	struct dirent *de;
	unsigned long id;
	char *end;
	DIR *dir;
	int dfd, any = 0;

	if (mbox != 0) {
		if (tmp_sweep_one(mbox))
			ntuses = 0;
		return;
	}
	/* Its own open: a dup would share (and move) the position. */
	if ((dfd = openat(fs.tmpdirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return;
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		id = strtoul(de->d_name, &end, 10);
		if (end == de->d_name || id == 0 || id > UINT32_MAX ||
		    (*end != '\0' && strcmp(end, ".root") != 0))
			continue;
		any |= tmp_sweep_one((uint32_t)id);
	}
	closedir(dir);
	if (any)
		ntuses = 0;
}
