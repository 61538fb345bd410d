/*
 * write.c - file operations that change the store: renames (flags,
 * moves, delivery from tmp/), unlink (expunge), folders (mkdir, rmdir,
 * rename), and the refusals of what a Maildir does not allow.
 *
 * Each change is one durable store transaction, committed before the
 * reply: when rename(2) returns 0, the message is stored.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "fs/fs.h"
#include "fs/node.h"

/* --- cur/ new/ tmp/ that are not there ------------------------------- */

/*
 * A folder made with mkdir has no cur/ new/ tmp/ until they are made
 * too (maildirmake and mutt make them and fail on EEXIST); rmdir of an
 * empty one takes it away again.  Kept in memory: after a restart every
 * folder has all three, which is what IMAP-made folders have.
 */
struct absent {
	uint32_t	mbox;
	unsigned	kinds;		/* 1 << FS_K_CUR ... */
};
static struct absent	*absents;
static size_t		 nabsents;

static struct absent *
absent_find(uint32_t mbox)
{
	size_t i;

	for (i = 0; i < nabsents; i++)
		if (absents[i].mbox == mbox)
			return &absents[i];
	return NULL;
}

int
fs_subdir_absent(uint32_t mbox, enum fs_kind k)
{
	struct absent *a = absent_find(mbox);

	return a != NULL && (a->kinds & (1U << k));
}

static void
absent_set(uint32_t mbox, enum fs_kind k, int absent)
{
	struct absent *a = absent_find(mbox);

	if (a == NULL) {
		if (!absent)
			return;
		absents = xreallocarray(absents, nabsents + 1,
		    sizeof(*absents));
		a = &absents[nabsents++];
		a->mbox = mbox;
		a->kinds = 0;
	}
	if (absent)
		a->kinds |= 1U << k;
	else
		a->kinds &= ~(1U << k);
	if (a->kinds == 0)
		*a = absents[--nabsents];
}

static int	sub_kind(const char *, enum fs_kind *);
static int	fs_root_name_ok(const char *);

/* A name a program's own file may have beside cur/ new/ tmp/. */
static int
fs_root_name_ok(const char *name)
{
	enum fs_kind k;

	return !sub_kind(name, &k) && strcmp(name, "dovecot-keywords") != 0 &&
	    strcmp(name, "maildirfolder") != 0;
}

/* --- helpers ------------------------------------------------------------ */

static int
errno_of(enum err_class c)
{
	switch (c) {
	case ERR_NOTFOUND:
		return ENOENT;
	case ERR_EXISTS:
		return EEXIST;
	case ERR_NOQUOTA:
		return EDQUOT;
	case ERR_TOOBIG:
		return EFBIG;
	case ERR_LIMIT:
		return ENOSPC;
	case ERR_INUSE:
		return EBUSY;
	case ERR_PERM:
		return EPERM;
	case ERR_INVALID:
		return EINVAL;
	default:
		return EIO;
	}
}

/* Replies with the attributes of ino as they are now. */
static void
reply_attr(fuse_req_t req, uint64_t ino)
{
	struct fs_node n;
	struct stat st;

	if (fs_node_read(ino, &n) != 1) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_node_attr(&n, &st);
	fuse_reply_attr(req, &st, fs_node_ttl(&n));
}

/* Replies with the entry of ino (a lookup for the kernel). */
static void
reply_entry(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct fs_node n;
	int rc;

	if (fs_node_read(ino, &n) != 1) {
		fuse_reply_err(req, EIO);
		return;
	}
	fs_node_entry(&n, &e);
	fs_node_track(&n);
	rc = fi != NULL ? fuse_reply_create(req, &e, fi) :
	    fuse_reply_entry(req, &e);
	if (rc != 0)
		fs_node_untrack(&n);
}

/* Two nodes of one file view: the source and the target of a rename. */
struct two {
	uint64_t	 parent, newparent;
	const char	*name, *newname;
	struct fs_node	 src, dir, ndir, dst;
	int		 src_err, has_dst;
};

static int
two_txn(struct store_txn *t, void *ctx)
{
	struct two *w = ctx;
	int e, rc;

	if ((rc = fs_lookup(t, w->parent, w->name, &w->src,
	    &w->src_err)) != 1)
		return rc;
	if ((rc = fs_node_get(t, w->parent, &w->dir)) != 1 ||
	    (rc = fs_node_get(t, w->newparent, &w->ndir)) != 1) {
		w->src_err = ENOENT;
		return rc == -1 ? -1 : 0;
	}
	if (w->newname != NULL) {
		rc = fs_lookup(t, w->newparent, w->newname, &w->dst, &e);
		if (rc < 0)
			return -1;
		w->has_dst = rc == 1;
	}
	return 1;
}

/* The node name in parent (and parent): 1, or 0 with the error replied. */
static int
two_read(fuse_req_t req, struct two *w, uint64_t parent, const char *name)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->parent = w->newparent = parent;
	w->name = name;
	if ((rc = store_read(fs.store, two_txn, w)) == 1)
		return 1;
	fuse_reply_err(req, rc < 0 ? EIO : w->src_err);
	return 0;
}

/* The user a node belongs to (0: above every user). */
static uint32_t
node_user(const struct fs_node *n)
{
	return n->kind == FS_K_ROOT || n->kind == FS_K_DOMAIN ? 0 : n->u.id;
}

static int
is_msgdir(enum fs_kind k)
{
	return k == FS_K_CUR || k == FS_K_NEW;
}

/* --- setattr, write, create ------------------------------------------ */

void
fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	enum fs_kind k = fs_ino_kind(ino);
	int e;

	(void)fi;
	/*
	 * A file of tmp/ renamed into new/ is a message: the kernel may
	 * still call it by its old inode for a moment (neomutt sets its
	 * times right after the rename).
	 */
	if (k == FS_K_TMPFILE && !fs_tmp_stored_as_msg(ino)) {
		if ((e = fs_tmp_setattr(ino, attr, to_set)) != 0)
			fuse_reply_err(req, e);
		else
			reply_attr(req, ino);
		return;
	}
	/* The filter file: its size (O_TRUNC, ftruncate) and times. */
	if (k == FS_K_FILTER && (to_set & FUSE_SET_ATTR_SIZE) &&
	    (e = fs_filter_truncate(ino, attr->st_size)) != 0) {
		fuse_reply_err(req, e);
		return;
	}
	to_set &= ~(k == FS_K_FILTER ? FUSE_SET_ATTR_SIZE : 0);
	/*
	 * Times may be set and are not kept: a message's mtime is its
	 * internal date.  Mail programs set the times of a message they just
	 * renamed into new/ (neomutt), and fail the save when that fails.
	 * Nothing else changes: not a message's size, mode or owner.
	 */
	if (!(to_set & ~(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
	    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW |
	    FUSE_SET_ATTR_CTIME))) {
		reply_attr(req, ino);
		return;
	}
	fuse_reply_err(req, EPERM);
}

void
fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	int e;

	(void)fi;
	if (fs_ino_kind(ino) == FS_K_FILTER)
		e = fs_filter_write(ino, buf, size, off);
	else if (fs_ino_kind(ino) != FS_K_TMPFILE) {
		fuse_reply_err(req, EPERM);
		return;
	} else
		e = fs_tmp_write(ino, buf, size, off);
	if (e != 0)
		fuse_reply_err(req, e);
	else
		fuse_reply_write(req, size);
}

void
fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode, struct fuse_file_info *fi)
{
	uint64_t ino;
	int e;

	struct fs_node g;
	int area;

	(void)mode;
	if (fs_node_read(parent, &g) != 1) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/*
	 * A message is written in tmp/ and renamed into new/ or cur/ (the
	 * Maildir way): new/ and cur/ take no new files.  Beside cur/ new/
	 * tmp/ programs keep files of their own (mbsync's .uidvalidity).
	 */
	if (g.kind == FS_K_MAILDIR && strcmp(name, FS_FILTER_NAME) == 0) {
		if ((e = fs_filter_create(g.u.id, fi->flags)) != 0) {
			fuse_reply_err(req, e);
			return;
		}
		fi->fh = 0;
		fi->keep_cache = 0;
		fi->direct_io = 0;
		reply_entry(req, fs_ino(FS_K_FILTER, g.u.id), fi);
		return;
	}
	if (g.kind == FS_K_TMP)
		area = FS_AREA_TMP;
	else if ((g.kind == FS_K_MAILDIR || g.kind == FS_K_FOLDER) &&
	    fs_root_name_ok(name))
		area = FS_AREA_ROOT;
	else {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (strlen(name) > FS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if ((e = fs_tmp_create(g.mb.id, area, name, fi->flags,
	    &ino)) != 0) {
		fuse_reply_err(req, e);
		return;
	}
	fi->fh = 0;
	fi->keep_cache = 0;
	fi->direct_io = 0;
	reply_entry(req, ino, fi);
}

void
fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	/* The filter file's last descriptor: nobody to tell of a refusal. */
	if (fs_ino_kind(ino) == FS_K_FILTER)
		fs_filter_flush(ino, 1);
	fuse_reply_err(req, 0);
}

void
fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	(void)fi;
	/*
	 * Stored messages are durable already (each change is a durable
	 * commit).  Files of tmp/ and programs' own files (mbsync's state,
	 * which it syncs before it trusts it) are synced when asked.
	 */
	if (fs_ino_kind(ino) == FS_K_TMPFILE && !fs_tmp_stored_as_msg(ino))
		fuse_reply_err(req, fs_tmp_sync(ino, datasync));
	else if (fs_ino_kind(ino) == FS_K_FILTER)
		fuse_reply_err(req, fs_filter_flush(ino, 0));
	else
		fuse_reply_err(req, 0);
}


void
fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

void
fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EPERM);
}

/* --- unlink: expunge ----------------------------------------------------- */

struct ex {
	uint32_t	mbox, uid;
};

static int
ex_txn(struct store_txn *t, void *ctx)
{
	struct ex *x = ctx;

	return store_msg_expunge(t, x->mbox, x->uid);
}

void
fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct two w;
	struct ex x;

	if (!two_read(req, &w, parent, name))
		return;
	switch (w.src.kind) {
	case FS_K_TMPFILE:
		fuse_reply_err(req, fs_tmp_unlink(w.src.mb.id,
		    w.src.tmparea, name));
		return;
	case FS_K_FILTER:
		fuse_reply_err(req, fs_filter_unlink(w.src.u.id,
		    w.src.u.address));
		return;
	case FS_K_MSG:
		break;
	default:
		fuse_reply_err(req, EPERM);
		return;
	}
	x.mbox = w.src.mb.id;
	x.uid = w.src.m.uid;
	if (store_write(fs.store, ex_txn, &x) < 0) {
		log_warnx("unlink %s: %s", name, err_msg());
		fuse_reply_err(req, errno_of(err_class()));
		return;
	}
	fuse_reply_err(req, 0);
}

/* --- rename ---------------------------------------------------------- */

struct mv {
	struct two	*w;
	uint32_t	 flags;
	char		 keywords[STORE_KEYWORDS_MAX + 1];
	int		 to_cur;
	/* delivery from tmp/ (keep: by link(2), the tmp/ file stays) */
	struct store_prepared *prep;
	int		 keep;
	int64_t		 date;
	/* result */
	uint32_t	 mbox, uid;
};

/* Flags and keywords of the target name, with the target's letters. */
static int
mv_flags(struct store_txn *t, struct mv *m, uint32_t mbox)
{
	char *kw = NULL;

	if (store_maildir_keywords(t, mbox, &kw) != 1)
		return err_set(ERR_NOTFOUND, "folder gone");
	store_maildir_info_parse(fs_name_info(m->w->newname), kw, &m->flags,
	    m->keywords);
	free(kw);
	return 0;
}

static int
mv_msg_txn(struct store_txn *t, void *ctx)
{
	struct mv *m = ctx;
	struct two *w = m->w;
	uint32_t dst = w->ndir.mb.id;

	if (mv_flags(t, m, dst) < 0)
		return -1;
	/* A different message under the target name is replaced. */
	if (w->has_dst && w->dst.kind == FS_K_MSG &&
	    w->dst.ino != w->src.ino &&
	    store_msg_expunge(t, w->dst.mb.id, w->dst.m.uid) < 0)
		return -1;
	m->mbox = w->src.mb.id;
	m->uid = w->src.m.uid;
	if (dst != m->mbox) {
		if (store_msg_move(t, m->mbox, m->uid, dst, &m->uid) != 1)
			return -1;
		m->mbox = dst;
	}
	if (store_msg_set_flags(t, m->mbox, m->uid, STORE_FLAGS_SET,
	    m->flags, m->keywords) != 1)
		return -1;
	/*
	 * Into cur/: out of new/ for good; into new/ (a program marking a
	 * message new again, as neomutt does): back in new/ when nothing
	 * else keeps it in cur/ (flags, an IMAP session that saw it).
	 */
	if (store_msg_set_maildir_cur(t, m->mbox, m->uid, m->to_cur) != 1)
		return -1;
	return 1;
}

static int
mv_store_txn(struct store_txn *t, void *ctx)
{
	struct mv *m = ctx;
	int rc;

	m->mbox = m->w->ndir.mb.id;
	if (mv_flags(t, m, m->mbox) < 0)
		return -1;
	/*
	 * rename(2) over a message's name replaces it (first, so that its
	 * room counts for the quota; a refusal keeps it).
	 */
	if (!m->keep && m->w->has_dst && m->w->dst.kind == FS_K_MSG &&
	    store_msg_expunge(t, m->w->dst.mb.id, m->w->dst.m.uid) < 0)
		return -1;
	rc = store_msg_append(t, m->mbox, m->prep, m->date, m->flags,
	    m->keywords, STORE_APPEND_QUOTA | (m->to_cur ? STORE_APPEND_CUR :
	    0), &m->uid);
	/* Over quota: nothing is kept, not even the over-quota mark. */
	return rc == 0 ? -1 : rc;
}

/* Where the kernel now has the message: right, or to be invalidated. */
struct where {
	uint32_t	mbox, uid;
	struct fs_node	n;
};

static int
where_txn(struct store_txn *t, void *ctx)
{
	struct where *x = ctx;
	int rc;

	if ((rc = fs_node_get(t, fs_ino_msg(x->mbox, x->uid), &x->n)) != 1)
		return rc;
	fs_node_msgname(t, &x->n);
	return 1;
}

static void
mv_settle(const struct two *w, const struct mv *m)
{
	struct where x;
	uint64_t shown;
	int canonical;

	memset(&x, 0, sizeof(x));
	x.mbox = m->mbox;
	x.uid = m->uid;

	if (store_read(fs.store, where_txn, &x) != 1) {
		fs_inval_entry(w->newparent, w->newname);
		return;
	}
	shown = fs_ino(x.n.in_new ? FS_K_NEW : FS_K_CUR, m->mbox);
	canonical = x.n.ino == w->src.ino && shown == w->newparent &&
	    strcmp(x.n.name, w->newname) == 0;
	if (w->src.kind == FS_K_MSG)
		fs_track_renamed(w->src.ino, shown, x.n.m.internal_date,
		    x.n.m.size, fs_info_bits(x.n.info), canonical);
	if (canonical)
		return;
	/*
	 * The program's name keeps working for a while (an alias); when
	 * the kernel holds it for another inode (a file of tmp/ stored, a
	 * message moved to a new uid), it must look it up again now.
	 */
	fs_alias_add(w->newparent, w->newname, x.n.ino, shown,
	    fs_info_bits(x.n.info));
	if (x.n.ino != w->src.ino)
		fs_inval_entry(w->newparent, w->newname);
}

static int
rename_msg(struct two *w)
{
	struct mv m;

	memset(&m, 0, sizeof(m));
	m.w = w;
	m.to_cur = fs_ino_kind(w->newparent) == FS_K_CUR;
	if (store_write(fs.store, mv_msg_txn, &m) < 0) {
		log_warnx("rename %s: %s", w->name, err_msg());
		return errno_of(err_class());
	}
	mv_settle(w, &m);
	return 0;
}

/*
 * Stores the file of tmp/ w->src as a message of w->ndir.  keep: it stays
 * in tmp/ too (a link(2): the program unlinks it after), else it goes.
 * *where_r (when not NULL): which message it is now.
 */
static int
rename_store(struct two *w, int keep, struct where *where_r)
{
	struct stat st;
	struct mv m;
	void *data;
	size_t len;
	int e;

	memset(&m, 0, sizeof(m));
	m.w = w;
	m.keep = keep;
	m.to_cur = fs_ino_kind(w->newparent) == FS_K_CUR;
	if ((e = fs_tmp_map(w->src.mb.id, w->src.tmparea, w->name, &data,
	    &len, &st)) != 0)
		return e;
	m.date = st.st_mtime > 0 ? (int64_t)st.st_mtime : 0;
	if (store_msg_prepare(fs.store, len > 0 ? data : "", len,
	    &m.prep) < 0) {
		e = errno_of(err_class());
		goto out;
	}
	if (store_write(fs.store, mv_store_txn, &m) < 0) {
		e = errno_of(err_class());
		if (e != EDQUOT)
			log_warnx("storing %s: %s", w->name, err_msg());
		goto out;
	}
	log_info("stored %s as uid %" PRIu32 " of %s (%s)", w->name, m.uid,
	    w->ndir.mb.name, w->ndir.u.address);
	if (!keep)
		fs_tmp_stored(w->src.mb.id, w->src.tmparea, w->name, m.mbox,
		    m.uid);
	mv_settle(w, &m);
	if (where_r != NULL) {
		memset(where_r, 0, sizeof(*where_r));
		where_r->mbox = m.mbox;
		where_r->uid = m.uid;
	}
	e = 0;
out:
	store_prepared_free(&m.prep);
	if (data != NULL)
		munmap(data, len);
	return e;
}

struct rnf {
	uint32_t	 user;
	const char	*from, *to;
};

static int
rnf_txn(struct store_txn *t, void *ctx)
{
	struct rnf *r = ctx;

	return store_mailbox_rename(t, r->user, r->from, r->to);
}

static int
rename_folder(struct two *w)
{
	char to[STORE_MAILBOX_NAME_MAX + 1];
	struct rnf r;

	if (w->newname[0] != '.' || fs_folder_storename(w->newname, to,
	    sizeof(to)) != 1)
		return EINVAL;
	if (strcmp(w->newname, FS_FILTER_NAME) == 0)
		return EPERM;
	if (w->has_dst)
		return w->dst.ino == w->src.ino ? 0 : EEXIST;
	r.user = w->src.u.id;
	r.from = w->src.mb.name;
	r.to = to;
	if (store_write(fs.store, rnf_txn, &r) < 0)
		return errno_of(err_class());
	return 0;
}

void
fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	enum fs_kind nk = fs_ino_kind(newparent);
	struct two w;
	int rc, e;

	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (strlen(newname) > FS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	memset(&w, 0, sizeof(w));
	w.parent = parent;
	w.newparent = newparent;
	w.name = name;
	w.newname = newname;
	if ((rc = store_read(fs.store, two_txn, &w)) != 1) {
		fuse_reply_err(req, rc < 0 ? EIO : w.src_err);
		return;
	}
	if ((flags & RENAME_NOREPLACE) && w.has_dst) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	/* Another user's mail is another file system. */
	if (node_user(&w.src) != node_user(&w.ndir)) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	switch (w.src.kind) {
	case FS_K_MSG:
		e = is_msgdir(nk) ? rename_msg(&w) : EXDEV;
		break;
	case FS_K_TMPFILE:
		/* An editor's new copy of the filter file. */
		if (nk == FS_K_MAILDIR && strcmp(newname,
		    FS_FILTER_NAME) == 0)
			e = fs_filter_rename(w.src.mb.id, w.src.tmparea, name,
			    w.ndir.u.id, w.ndir.u.address);
		else if (nk == FS_K_TMP)
			e = fs_tmp_rename(w.src.mb.id, w.src.tmparea, name,
			    w.ndir.mb.id, FS_AREA_TMP, newname);
		else if ((nk == FS_K_MAILDIR || nk == FS_K_FOLDER) &&
		    fs_root_name_ok(newname))
			e = fs_tmp_rename(w.src.mb.id, w.src.tmparea, name,
			    w.ndir.mb.id, FS_AREA_ROOT, newname);
		else if (is_msgdir(nk))
			e = rename_store(&w, 0, NULL);
		else
			e = EXDEV;
		break;
	case FS_K_FOLDER:
		e = nk == FS_K_MAILDIR && w.ndir.u.id == w.src.u.id ?
		    rename_folder(&w) : EXDEV;
		break;
	case FS_K_FILTER:
		/* mv copies it, then unlinks it: the filter goes. */
		e = EXDEV;
		break;
	default:
		e = EPERM;
		break;
	}
	fuse_reply_err(req, e);
}

/*
 * link(2) of a file of tmp/ into new/ or cur/ is how qmail-local,
 * procmail, maildrop and fdm deliver (link, then unlink the tmp/ name):
 * the message is stored as a rename would store it, and the tmp/ file
 * stays until the program removes it.  Nothing else can be linked: a
 * message has one name.
 */
void
fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
    const char *newname)
{
	struct fuse_entry_param ent;
	struct fs_node src;
	struct where x;
	struct two w;
	int rc, e;

	if (!is_msgdir(fs_ino_kind(newparent)) ||
	    fs_ino_kind(ino) != FS_K_TMPFILE || fs_tmp_stored_as_msg(ino) ||
	    fs_node_read(ino, &src) != 1 || src.kind != FS_K_TMPFILE ||
	    src.tmparea != FS_AREA_TMP) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (strlen(newname) > FS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	memset(&w, 0, sizeof(w));
	w.parent = fs_ino(FS_K_TMP, src.mb.id);
	w.newparent = newparent;
	w.name = src.tmpname;
	w.newname = newname;
	if ((rc = store_read(fs.store, two_txn, &w)) != 1) {
		fuse_reply_err(req, rc < 0 ? EIO : w.src_err);
		return;
	}
	if (w.src.ino != ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (w.has_dst) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	if (node_user(&w.src) != node_user(&w.ndir)) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	if ((e = rename_store(&w, 1, &x)) != 0) {
		fuse_reply_err(req, e);
		return;
	}
	/* The new name is the message (with its name, for the tracking). */
	if (store_read(fs.store, where_txn, &x) != 1) {
		fuse_reply_err(req, EIO);
		return;
	}
	fs_node_entry(&x.n, &ent);
	fs_node_track(&x.n);
	if (fuse_reply_entry(req, &ent) != 0)
		fs_node_untrack(&x.n);
}

/* --- folders ------------------------------------------------------------- */

struct mkf {
	uint32_t	 user;
	const char	*name;
	uint32_t	 id;
};

static int
mkf_txn(struct store_txn *t, void *ctx)
{
	struct mkf *m = ctx;

	return store_mailbox_create(t, m->user, m->name, 0, &m->id);
}

static int
sub_kind(const char *name, enum fs_kind *k)
{
	if (strcmp(name, "cur") == 0)
		*k = FS_K_CUR;
	else if (strcmp(name, "new") == 0)
		*k = FS_K_NEW;
	else if (strcmp(name, "tmp") == 0)
		*k = FS_K_TMP;
	else
		return 0;
	return 1;
}

void
fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
    mode_t mode)
{
	char sname[STORE_MAILBOX_NAME_MAX + 1];
	struct fs_node g;
	struct mkf m;
	enum fs_kind k;

	(void)mode;
	if (fs_node_read(parent, &g) != 1) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((g.kind == FS_K_MAILDIR || g.kind == FS_K_FOLDER) &&
	    sub_kind(name, &k)) {
		if (!fs_subdir_absent(g.mb.id, k)) {
			fuse_reply_err(req, EEXIST);
			return;
		}
		absent_set(g.mb.id, k, 0);
		reply_entry(req, fs_ino(k, g.mb.id), NULL);
		return;
	}
	/* .mailfilter is the filter file's name, not a folder's. */
	if (g.kind != FS_K_MAILDIR || name[0] != '.' ||
	    strcmp(name, FS_FILTER_NAME) == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (fs_folder_storename(name, sname, sizeof(sname)) != 1) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	m.user = g.u.id;
	m.name = sname;
	m.id = 0;
	if (store_write(fs.store, mkf_txn, &m) < 0) {
		fuse_reply_err(req, errno_of(err_class()));
		return;
	}
	if (m.id > FS_MBOX_MAX) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	/* Empty, as mkdir(2) makes it: cur/ new/ tmp/ come when made. */
	absent_set(m.id, FS_K_CUR, 1);
	absent_set(m.id, FS_K_NEW, 1);
	absent_set(m.id, FS_K_TMP, 1);
	reply_entry(req, fs_ino(FS_K_FOLDER, m.id), NULL);
}

struct rmf {
	uint32_t	 user;
	const char	*name;
};

static int
rmf_txn(struct store_txn *t, void *ctx)
{
	struct rmf *r = ctx;

	return store_mailbox_delete(t, r->user, r->name);
}

/* Whether cur/ or new/ of mailbox mb shows any message. */
struct anyin {
	uint32_t	 recent;
	int		 want_new, found;
};

static int
anyin_fn(const struct store_msg *m, void *ctx)
{
	struct anyin *a = ctx;

	if (fs_msg_in_new(m, a->recent) == a->want_new) {
		a->found = 1;
		return -1;
	}
	return 0;
}

struct anyin_q {
	struct fs_node	*n;
	struct anyin	 a;
};

static int
anyin_txn(struct store_txn *t, void *ctx)
{
	struct anyin_q *q = ctx;

	store_msg_list(t, q->n->mb.id, 1, anyin_fn, &q->a);
	return 1;
}

void
fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct anyin_q q;
	struct two w;
	struct rmf r;
	enum fs_kind k;

	if (!two_read(req, &w, parent, name))
		return;
	k = w.src.kind;
	if (k == FS_K_CUR || k == FS_K_NEW || k == FS_K_TMP) {
		/* The INBOX Maildir keeps its own. */
		if (w.dir.kind != FS_K_FOLDER) {
			fuse_reply_err(req, EBUSY);
			return;
		}
		if (k == FS_K_TMP) {
			if (fs_tmp_count(w.src.mb.id, FS_AREA_TMP) > 0) {
				fuse_reply_err(req, ENOTEMPTY);
				return;
			}
		} else {
			memset(&q, 0, sizeof(q));
			q.n = &w.src;
			q.a.recent = w.src.mb.recent_uid;
			q.a.want_new = k == FS_K_NEW;
			store_read(fs.store, anyin_txn, &q);
			if (q.a.found) {
				fuse_reply_err(req, ENOTEMPTY);
				return;
			}
		}
		absent_set(w.src.mb.id, k, 1);
		fuse_reply_err(req, 0);
		return;
	}
	if (k != FS_K_FOLDER) {
		fuse_reply_err(req, k == FS_K_MSG || k == FS_K_TMPFILE ||
		    k == FS_K_KWFILE || k == FS_K_MDFOLDER ? ENOTDIR : EPERM);
		return;
	}
	if (w.src.mb.messages > 0 || fs_tmp_count(w.src.mb.id,
	    FS_AREA_TMP) > 0 || fs_tmp_count(w.src.mb.id, FS_AREA_ROOT) > 0) {
		fuse_reply_err(req, ENOTEMPTY);
		return;
	}
	r.user = w.src.u.id;
	r.name = w.src.mb.name;
	if (store_write(fs.store, rmf_txn, &r) < 0) {
		fuse_reply_err(req, errno_of(err_class()));
		return;
	}
	absent_set(w.src.mb.id, FS_K_CUR, 0);
	absent_set(w.src.mb.id, FS_K_NEW, 0);
	absent_set(w.src.mb.id, FS_K_TMP, 0);
	fuse_reply_err(req, 0);
}
