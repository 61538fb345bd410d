/*
 * ops.c - what the file view shows: lookup, attributes, directory
 * listings, reading, statfs, and the node model the writes share.
 */
#include <sys/statvfs.h>

#include <errno.h>
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
#include "store/domain.h"
#include "store/mailbox.h"
#include "store/user.h"

void
fs_owner(uint32_t fs_uid, uint32_t fs_gid, uid_t *uid_r, gid_t *gid_r)
{
	if (fs_uid != 0) {
		*uid_r = fs_uid;
		*gid_r = fs_gid;
	} else {
		*uid_r = fs.uid;
		*gid_r = fs.gid;
	}
}

/* --- nodes ----------------------------------------------------------- */

struct dom_find {
	uint32_t		 id;
	struct store_domain	*d;
	int			 found;
};

static int
dom_find_fn(const struct store_domain *d, void *ctx)
{
	struct dom_find *f = ctx;

	if (d->id != f->id)
		return 0;
	*f->d = *d;
	f->found = 1;
	return -1;
}

static int
node_count_fn(const struct store_mailbox *mb, void *ctx)
{
	if (strcasecmp(mb->name, "INBOX") != 0)
		++*(unsigned *)ctx;
	return 0;
}

/* The user and mailbox of a mailbox id; 1, or 0 when gone. */
static int
node_mbox(struct store_txn *t, uint32_t id, struct fs_node *n)
{
	if (store_mailbox_get_by_id(t, id, &n->mb) != 1)
		return 0;
	return store_user_get(t, n->mb.user_id, &n->u) == 1;
}

int
fs_node_get(struct store_txn *t, uint64_t ino, struct fs_node *n)
{
	struct dom_find f;
	char *kw = NULL;
	int rc;

	memset(n, 0, sizeof(*n));
	n->ino = ino;
	n->kind = fs_ino_kind(ino);
	switch (n->kind) {
	case FS_K_ROOT:
		return 1;
	case FS_K_DOMAIN:
		f.id = (uint32_t)fs_ino_id(ino);
		f.d = &n->d;
		f.found = 0;
		if (store_domain_list(t, dom_find_fn, &f) < 0 && !f.found)
			return -1;
		return f.found && n->d.alias_of[0] == '\0';
	case FS_K_USER:
		return store_user_get(t, (uint32_t)fs_ino_id(ino), &n->u);
	case FS_K_MAILDIR:
		if ((rc = store_user_get(t, (uint32_t)fs_ino_id(ino),
		    &n->u)) != 1)
			return rc;
		if ((rc = store_mailbox_get(t, n->u.id, "INBOX", &n->mb)) != 1)
			return rc;
		/* Its subdirectories: cur new tmp and every folder. */
		n->nsub = 3;
		if (store_mailbox_list(t, n->u.id, node_count_fn, &n->nsub) < 0)
			return -1;
		return 1;
	case FS_K_FOLDER:
	case FS_K_MDFOLDER:
		if (!node_mbox(t, (uint32_t)fs_ino_id(ino), n))
			return 0;
		return strcasecmp(n->mb.name, "INBOX") != 0;
	case FS_K_CUR:
	case FS_K_NEW:
	case FS_K_TMP:
		return node_mbox(t, (uint32_t)fs_ino_id(ino), n);
	case FS_K_KWFILE:
		if (!node_mbox(t, (uint32_t)fs_ino_id(ino), n) ||
		    store_maildir_keywords(t, n->mb.id, &kw) != 1)
			return 0;
		n->kwlen = fs_kwfile(kw, NULL, 0);
		free(kw);
		return n->kwlen > 0;
	case FS_K_MSG:
		if (!node_mbox(t, fs_ino_mbox(ino), n))
			return 0;
		return store_msg_get(t, n->mb.id, fs_ino_uid(ino), &n->m);
	case FS_K_TMPFILE:
		return fs_tmp_node(t, ino, n);
	case FS_K_FILTER:
		return fs_filter_node(t, ino, n);
	}
	return 0;
}

size_t
fs_kwfile(const char *kwlist, char *buf, size_t bufsize)
{
	const char *p = kwlist, *e;
	size_t len = 0, i = 0;
	char line[16];
	int n;

	while (*p != '\0') {
		e = p + strcspn(p, " ");
		n = snprintf(line, sizeof(line), "%zu ", i++);
		if (buf != NULL && len + (size_t)n + (size_t)(e - p) + 1 <=
		    bufsize) {
			memcpy(buf + len, line, (size_t)n);
			memcpy(buf + len + (size_t)n, p, (size_t)(e - p));
			buf[len + (size_t)n + (size_t)(e - p)] = '\n';
		}
		len += (size_t)n + (size_t)(e - p) + 1;
		p = *e == ' ' ? e + 1 : e;
	}
	return len;
}

static void
attr_time(struct stat *st, struct timespec ts)
{
	st->st_atim = st->st_mtim = st->st_ctim = ts;
}

void
fs_node_attr(const struct fs_node *n, struct stat *st)
{
	struct timespec ts = { fs.started, 0 };

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_blksize = 4096;
	st->st_nlink = 1;
	if (n->kind == FS_K_ROOT || n->kind == FS_K_DOMAIN) {
		st->st_uid = fs.uid;
		st->st_gid = fs.gid;
	} else
		fs_owner(n->u.fs_uid, n->u.fs_gid, &st->st_uid, &st->st_gid);
	/*
	 * A directory's link count is 2 + its subdirectories, which find(1)
	 * and fts use to skip looking for more; 1 where counting them would
	 * cost a scan (the top and the domains): "unknown", as btrfs says.
	 */
	switch (n->kind) {
	case FS_K_ROOT:
	case FS_K_DOMAIN:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 1;
		break;
	case FS_K_CUR:
	case FS_K_NEW:
		ts = fs_dir_mtime(n->mb.id);
		/* FALLTHROUGH */
	case FS_K_TMP:
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
		break;
	case FS_K_USER:
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 3;
		break;
	case FS_K_MAILDIR:
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2 + n->nsub;
		break;
	case FS_K_FOLDER:
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2 + !fs_subdir_absent(n->mb.id, FS_K_CUR) +
		    !fs_subdir_absent(n->mb.id, FS_K_NEW) +
		    !fs_subdir_absent(n->mb.id, FS_K_TMP);
		break;
	case FS_K_MSG:
		st->st_mode = S_IFREG | 0600;
		st->st_size = (off_t)n->m.size;
		ts.tv_sec = (time_t)n->m.internal_date;
		break;
	case FS_K_KWFILE:
		st->st_mode = S_IFREG | 0600;
		st->st_size = (off_t)n->kwlen;
		ts = fs_dir_mtime(n->mb.id);
		break;
	case FS_K_MDFOLDER:
		st->st_mode = S_IFREG | 0600;
		break;
	case FS_K_FILTER:
		/*
		 * The mtime moves with the text (the kernel keeps the pages
		 * of a file until its size or mtime changes): vellumctl may
		 * change it behind our back.
		 */
		st->st_mode = S_IFREG | 0600;
		st->st_size = (off_t)n->filterlen;
		ts.tv_nsec = (long)(n->filterhash % 1000000000U);
		break;
	case FS_K_TMPFILE:
		*st = n->tmpst;
		st->st_ino = n->ino;
		fs_owner(n->u.fs_uid, n->u.fs_gid, &st->st_uid, &st->st_gid);
		st->st_mode = S_IFREG | (st->st_mode & 07777);
		return;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	attr_time(st, ts);
}

double
fs_node_ttl(const struct fs_node *n)
{
	switch (n->kind) {
	case FS_K_MSG:
		return FS_TTL_MSG;
	case FS_K_TMPFILE:
	case FS_K_FILTER:
		return FS_TTL_TMP;
	default:
		return FS_TTL_DIR;
	}
}

/* The info letters and place of a message. */
void
fs_node_msgname(struct store_txn *t, struct fs_node *n)
{
	char *kw = NULL;

	if (store_maildir_keywords(t, n->mb.id, &kw) != 1)
		kw = xstrdup("");
	store_maildir_info(n->m.flags, n->m.keywords, kw, n->info);
	free(kw);
	n->in_new = fs_msg_in_new(&n->m, n->mb.recent_uid);
	if (fs_msg_name(n->m.internal_date, n->m.uid, n->m.size, n->in_new,
	    n->info, n->name, sizeof(n->name)) != 1)
		n->name[0] = '\0';
}

void
fs_node_entry(const struct fs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	fs_node_attr(n, &e->attr);
	e->attr_timeout = e->entry_timeout = fs_node_ttl(n);
}

/* Remembers a message entry handed to the kernel. */
void
fs_node_track(const struct fs_node *n)
{
	if (n->kind == FS_K_MSG)
		fs_track_lookup(n->ino, fs_ino(n->in_new ? FS_K_NEW : FS_K_CUR,
		    n->mb.id), n->m.internal_date, n->m.size,
		    fs_info_bits(n->info), &n->mb, &n->u);
	else if (n->kind == FS_K_TMPFILE)
		fs_tmp_ref(n->ino, 1);
}

/* --- lookup ------------------------------------------------------------ */

struct lk {
	uint64_t	 parent;
	const char	*name;
	struct fs_node	 n;
	int		 err;		/* errno when no entry */
};

/* Whether a subdirectory cur/new/tmp of mailbox mb exists now. */
static int
lk_subdir(struct lk *l, const struct fs_node *p, enum fs_kind k)
{
	if (fs_subdir_absent(p->mb.id, k))
		return 0;
	l->n = *p;
	l->n.kind = k;
	l->n.ino = fs_ino(k, p->mb.id);
	return 1;
}

static int	fs_lookup_in(struct store_txn *, struct lk *);

int
fs_lookup(struct store_txn *t, uint64_t parent, const char *name,
    struct fs_node *r, int *errno_r)
{
	struct lk lb, *l = &lb;
	int rc;

	memset(l, 0, sizeof(*l));
	l->parent = parent;
	l->name = name;
	rc = fs_lookup_in(t, l);
	if (rc == 1)
		*r = l->n;
	*errno_r = l->err;
	return rc;
}

/* A name a program gave by a rename, while it is valid. */
static int
lk_alias(struct store_txn *t, struct lk *l)
{
	uint64_t ino, shown;
	uint32_t bits;

	if (!fs_alias_find(l->parent, l->name, &ino, &shown, &bits))
		return 0;
	if (fs_node_get(t, ino, &l->n) == 1) {
		fs_node_msgname(t, &l->n);
		if (fs_ino(l->n.in_new ? FS_K_NEW : FS_K_CUR, l->n.mb.id) ==
		    shown && fs_info_bits(l->n.info) == bits)
			return 1;
	}
	fs_alias_forget(l->parent, l->name);
	return 0;
}

static int
fs_lookup_in(struct store_txn *t, struct lk *l)
{
	char addr[STORE_ADDRESS_MAX + 1], sname[STORE_MAILBOX_NAME_MAX + 1];
	char dname[FS_NAME_MAX + 1];
	struct store_domain d;
	struct fs_node p;
	uint32_t uid;
	int rc;

	l->err = ENOENT;
	if ((rc = fs_node_get(t, l->parent, &p)) != 1)
		return rc;
	switch (p.kind) {
	case FS_K_ROOT:
		if (store_domain_get(t, l->name, &d) != 1 ||
		    d.alias_of[0] != '\0' || strcmp(d.name, l->name) != 0)
			return 0;
		return fs_node_get(t, fs_ino(FS_K_DOMAIN, d.id), &l->n);
	case FS_K_DOMAIN:
		if (strchr(l->name, '@') != NULL || (size_t)snprintf(addr,
		    sizeof(addr), "%s@%s", l->name, p.d.name) >= sizeof(addr))
			return 0;
		if (store_user_find(t, addr, &l->n.u) != 1 ||
		    strcmp(l->n.u.address, addr) != 0)
			return 0;
		return fs_node_get(t, fs_ino(FS_K_USER, l->n.u.id), &l->n);
	case FS_K_USER:
		if (strcmp(l->name, "Mail") != 0)
			return 0;
		return fs_node_get(t, fs_ino(FS_K_MAILDIR, p.u.id), &l->n);
	case FS_K_MAILDIR:
	case FS_K_FOLDER:
		if (strcmp(l->name, "cur") == 0)
			return lk_subdir(l, &p, FS_K_CUR);
		if (strcmp(l->name, "new") == 0)
			return lk_subdir(l, &p, FS_K_NEW);
		if (strcmp(l->name, "tmp") == 0)
			return lk_subdir(l, &p, FS_K_TMP);
		if (strcmp(l->name, "dovecot-keywords") == 0)
			return fs_node_get(t, fs_ino(FS_K_KWFILE, p.mb.id),
			    &l->n);
		/* The user's filter file (fs/filter.c). */
		if (p.kind == FS_K_MAILDIR && strcmp(l->name,
		    FS_FILTER_NAME) == 0)
			return fs_node_get(t, fs_ino(FS_K_FILTER, p.u.id),
			    &l->n);
		if (p.kind == FS_K_FOLDER && strcmp(l->name,
		    "maildirfolder") == 0)
			return fs_node_get(t, fs_ino(FS_K_MDFOLDER, p.mb.id),
			    &l->n);
		/*
		 * A mailbox id past FS_MBOX_MAX has no message inodes: its
		 * folder is not shown (as in listings), else a message name
		 * in it would reach the mailbox sharing its low bits.
		 */
		if (p.kind == FS_K_MAILDIR && l->name[0] == '.' &&
		    fs_folder_storename(l->name, sname, sizeof(sname)) == 1 &&
		    store_mailbox_get(t, p.u.id, sname, &l->n.mb) == 1)
			/* Only the spelling listed: a directory has one name. */
			return l->n.mb.id > FS_MBOX_MAX ||
			    fs_folder_dirname(l->n.mb.name, dname,
			    sizeof(dname)) != 1 || strcmp(dname, l->name) != 0 ?
			    0 :
			    fs_node_get(t, fs_ino(FS_K_FOLDER, l->n.mb.id),
			    &l->n);
		/* Files other programs keep in a Maildir. */
		return fs_tmp_lookup(t, &p, FS_AREA_ROOT, l->name, &l->n,
		    &l->err);
	case FS_K_CUR:
	case FS_K_NEW:
		if (p.mb.id > FS_MBOX_MAX)
			return 0;
		if (fs_name_uid(l->name, &uid) &&
		    fs_node_get(t, fs_ino_msg(p.mb.id, uid), &l->n) == 1) {
			fs_node_msgname(t, &l->n);
			if (l->n.in_new == (p.kind == FS_K_NEW) &&
			    strcmp(l->n.name, l->name) == 0)
				return 1;
		}
		return lk_alias(t, l);
	case FS_K_TMP:
		return fs_tmp_lookup(t, &p, FS_AREA_TMP, l->name, &l->n,
		    &l->err);
	default:
		l->err = ENOTDIR;
		return 0;
	}
}

static int
lk_txn(struct store_txn *t, void *ctx)
{
	return fs_lookup_in(t, ctx);
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct lk l;
	int rc;

	memset(&l, 0, sizeof(l));
	l.parent = parent;
	l.name = name;
	if (strlen(name) > FS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if ((rc = store_read(fs.store, lk_txn, &l)) < 0) {
		log_warnx("lookup %s: %s", name, err_msg());
		fuse_reply_err(req, EIO);
		return;
	}
	if (rc == 0) {
		fuse_reply_err(req, l.err);
		return;
	}
	fs_node_entry(&l.n, &e);
	fs_node_track(&l.n);
	if (fuse_reply_entry(req, &e) != 0)
		fs_node_untrack(&l.n);
}

static void
op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void
op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	size_t i;

	for (i = 0; i < count; i++)
		fs_forget(f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

void
fs_forget(uint64_t ino, uint64_t n)
{
	if (fs_ino_kind(ino) == FS_K_MSG)
		fs_track_forget(ino, n);
	else if (fs_ino_kind(ino) == FS_K_TMPFILE)
		fs_tmp_ref(ino, -(int64_t)n);
}

void
fs_node_untrack(const struct fs_node *n)
{
	fs_forget(n->ino, 1);
}

/* --- getattr ------------------------------------------------------------ */

struct ga {
	uint64_t	 ino;
	struct fs_node	*n;
};

static int
ga_txn(struct store_txn *t, void *ctx)
{
	struct ga *g = ctx;

	return fs_node_get(t, g->ino, g->n);
}

int
fs_node_read(uint64_t ino, struct fs_node *n)
{
	struct ga g = { ino, n };

	return store_read(fs.store, ga_txn, &g);
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_node n;
	struct stat st;
	int rc;

	(void)fi;
	if ((rc = fs_node_read(ino, &n)) < 0) {
		log_warnx("getattr: %s", err_msg());
		fuse_reply_err(req, EIO);
		return;
	}
	if (rc == 0 || (fs_ino_kind(ino) >= FS_K_CUR && fs_ino_kind(ino) <=
	    FS_K_TMP && fs_subdir_absent(n.mb.id, fs_ino_kind(ino)))) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_node_attr(&n, &st);
	fuse_reply_attr(req, &st, fs_node_ttl(&n));
}

/* --- readdir ------------------------------------------------------------ */

struct rd {
	fuse_req_t	 req;
	uint64_t	 ino;
	int		 plus;
	uid_t		 caller;
	char		*buf;
	size_t		 size, len;
	off_t		 off;		/* first offset wanted */
	off_t		 idx;		/* position of the next entry */
	int		 full;
	struct fs_node	 dir;
	char		*kwlist;
	const char	*domain;	/* FS_K_DOMAIN: its name */
};

/*
 * Adds one entry at position rd->idx (the offset of the next one is
 * idx + 1) when it is at or past the offset asked for.  n may be NULL
 * for "." and "..".  0 added or skipped, -1 the buffer is full.
 */
static int
rd_add(struct rd *r, const char *name, struct fs_node *n, off_t next)
{
	struct fuse_entry_param e;
	struct stat st;
	size_t need;

	if (r->full)
		return -1;
	if (n == NULL) {
		memset(&e, 0, sizeof(e));
		fs_node_attr(&r->dir, &e.attr);
	} else
		fs_node_entry(n, &e);
	if (r->plus) {
		need = fuse_add_direntry_plus(r->req, r->buf + r->len,
		    r->size - r->len, name, &e, next);
		if (n == NULL)
			e.ino = 0;
	} else {
		st = e.attr;
		need = fuse_add_direntry(r->req, r->buf + r->len,
		    r->size - r->len, name, &st, next);
	}
	if (need > r->size - r->len) {
		r->full = 1;
		return -1;
	}
	r->len += need;
	/* READDIRPLUS counts as a lookup of everything but . and .. */
	if (r->plus && n != NULL)
		fs_node_track(n);
	return 0;
}

/* A small directory: entries by position. */
static int
rd_fixed(struct rd *r, const char *name, struct fs_node *n)
{
	off_t me = r->idx++;

	if (me < r->off)
		return 0;
	return rd_add(r, name, n, me + 1);
}

/*
 * An entry at a fixed position: directories whose entries come and go
 * (folders, users, domains made and removed through IMAP or vellumctl
 * while a listing runs) place each entry by its id, not by its rank, so
 * that the offset a READDIR resumes from never skips or repeats one that
 * stayed (POSIX readdir; mbsync and mutt's folder scan rely on it).
 */
static int
rd_at(struct rd *r, off_t pos, const char *name, struct fs_node *n)
{
	if (pos < r->off)
		return 0;
	return rd_add(r, name, n, pos + 1);
}

/* Ids (and, for domains, names) collected for a listing in id order. */
struct rd_ent {
	uint32_t	 id;
	char		*name;
};

struct rd_ids {
	struct rd_ent	*v;
	size_t		 n, cap;
};

static void
rd_ids_add(struct rd_ids *ids, uint32_t id, const char *name)
{
	if (ids->n == ids->cap) {
		ids->cap = ids->cap == 0 ? 64 : ids->cap * 2;
		ids->v = xreallocarray(ids->v, ids->cap, sizeof(*ids->v));
	}
	ids->v[ids->n].id = id;
	ids->v[ids->n++].name = name != NULL ? xstrdup(name) : NULL;
}

static int
rd_ids_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct rd_ent *)a)->id;
	uint32_t y = ((const struct rd_ent *)b)->id;

	return x < y ? -1 : x > y;
}

static void
rd_ids_sort(struct rd_ids *ids)
{
	if (ids->n > 1)
		qsort(ids->v, ids->n, sizeof(*ids->v), rd_ids_cmp);
}

static void
rd_ids_free(struct rd_ids *ids)
{
	size_t i;

	for (i = 0; i < ids->n; i++)
		free(ids->v[i].name);
	free(ids->v);
	memset(ids, 0, sizeof(*ids));
}

/*
 * Positions: "." 0, ".." 1, then (Maildirs) cur new tmp dovecot-keywords
 * maildirfolder (folders) or .mailfilter (the INBOX) at fixed places, each folder at RD_POS_FOLDER + its
 * mailbox id, and after them the files programs keep there; (the top and
 * the domains) each domain or user at RD_POS_ID + its id.
 */
#define RD_POS_CUR	2
#define RD_POS_NEW	3
#define RD_POS_TMP	4
#define RD_POS_KW	5
#define RD_POS_MDF	6
#define RD_POS_FILTER	7
#define RD_POS_FOLDER	8
#define RD_POS_FILES	(RD_POS_FOLDER + (off_t)FS_MBOX_MAX + 1)
#define RD_POS_ID	2

struct rd_dom {
	struct rd		*r;
	struct store_txn	*t;
	struct rd_ids		 ids;
	struct rd_ids		 vis;	/* the top, for an ordinary account */
};

static int
rd_user_visible(const struct rd *r, const struct store_user *u)
{
	uid_t uid;
	gid_t gid;

	if (r->caller == 0 || r->caller == fs.uid)
		return 1;
	fs_owner(u->fs_uid, u->fs_gid, &uid, &gid);
	return uid == r->caller;
}

/* The domains of the users a caller may see (one scan of the users). */
static int
rd_vis_fn(const struct store_user *u, void *ctx)
{
	struct rd_dom *x = ctx;
	const char *at = strrchr(u->address, '@');

	if (at != NULL && rd_user_visible(x->r, u))
		rd_ids_add(&x->vis, 0, at + 1);
	return 0;
}

static int
rd_vis_has(const struct rd_ids *vis, const char *domain)
{
	size_t i;

	for (i = 0; i < vis->n; i++)
		if (strcmp(vis->v[i].name, domain) == 0)
			return 1;
	return 0;
}

static int
rd_domain_fn(const struct store_domain *d, void *ctx)
{
	struct rd_dom *x = ctx;

	if (d->alias_of[0] == '\0' && RD_POS_ID + (off_t)d->id >= x->r->off)
		rd_ids_add(&x->ids, d->id, d->name);
	return 0;
}

/* The top: the domains (those with a user the caller may see). */
static int
rd_domains(struct rd_dom *x)
{
	int all = x->r->caller == 0 || x->r->caller == fs.uid;
	struct fs_node n;
	size_t i;

	if (store_domain_list(x->t, rd_domain_fn, x) < 0 ||
	    (!all && store_user_list(x->t, rd_vis_fn, x) < 0))
		return -1;
	rd_ids_sort(&x->ids);
	for (i = 0; i < x->ids.n; i++) {
		memset(&n, 0, sizeof(n));
		n.kind = FS_K_DOMAIN;
		n.ino = fs_ino(FS_K_DOMAIN, x->ids.v[i].id);
		n.d.id = x->ids.v[i].id;
		snprintf(n.d.name, sizeof(n.d.name), "%s", x->ids.v[i].name);
		if (!all && !rd_vis_has(&x->vis, n.d.name))
			continue;
		if (rd_at(x->r, RD_POS_ID + (off_t)n.d.id, n.d.name, &n) < 0)
			break;
	}
	return 0;
}

static int
rd_user_fn(const struct store_user *u, void *ctx)
{
	struct rd_dom *x = ctx;
	const char *at = strrchr(u->address, '@');

	if (at != NULL && strcmp(at + 1, x->r->domain) == 0 &&
	    RD_POS_ID + (off_t)u->id >= x->r->off && rd_user_visible(x->r, u))
		rd_ids_add(&x->ids, u->id, NULL);
	return 0;
}

/* A domain: its users (those the caller may see). */
static int
rd_users(struct rd_dom *x)
{
	char local[STORE_ADDRESS_MAX + 1];
	char last[STORE_ADDRESS_MAX + 1];
	struct fs_node n;
	const char *at;
	size_t i;

	/* The domain's users only (the domain index), not every user. */
	if (store_user_list_domain(x->t, x->r->domain, "", SIZE_MAX,
	    rd_user_fn, x, last) < 0)
		return -1;
	rd_ids_sort(&x->ids);
	for (i = 0; i < x->ids.n; i++) {
		memset(&n, 0, sizeof(n));
		n.kind = FS_K_USER;
		n.ino = fs_ino(FS_K_USER, x->ids.v[i].id);
		if (store_user_get(x->t, x->ids.v[i].id, &n.u) != 1 ||
		    (at = strrchr(n.u.address, '@')) == NULL)
			continue;
		memcpy(local, n.u.address, (size_t)(at - n.u.address));
		local[at - n.u.address] = '\0';
		/* A local part that is no file name has no tree ("a/b", "."). */
		if (local[0] == '\0' || strchr(local, '/') != NULL ||
		    strcmp(local, ".") == 0 || strcmp(local, "..") == 0 ||
		    strlen(local) > FS_NAME_MAX)
			continue;
		if (rd_at(x->r, RD_POS_ID + (off_t)n.u.id, local, &n) < 0)
			break;
	}
	return 0;
}

static int
rd_folder_fn(const struct store_mailbox *mb, void *ctx)
{
	struct rd_dom *x = ctx;

	if (strcasecmp(mb->name, "INBOX") != 0 && mb->id <= FS_MBOX_MAX &&
	    RD_POS_FOLDER + (off_t)mb->id >= x->r->off)
		rd_ids_add(&x->ids, mb->id, NULL);
	return 0;
}

/* The folders of a user's Maildir, in mailbox id order. */
static int
rd_folders(struct rd_dom *x)
{
	struct rd *r = x->r;
	char dname[FS_NAME_MAX + 1];
	struct fs_node n;
	size_t i;

	if (store_mailbox_list(x->t, r->dir.u.id, rd_folder_fn, x) < 0)
		return -1;
	rd_ids_sort(&x->ids);
	for (i = 0; i < x->ids.n; i++) {
		n = r->dir;
		/* A folder "mailfilter" would be the filter file's name. */
		if (store_mailbox_get_by_id(x->t, x->ids.v[i].id, &n.mb) != 1 ||
		    fs_folder_dirname(n.mb.name, dname, sizeof(dname)) != 1 ||
		    strcmp(dname, FS_FILTER_NAME) == 0)
			continue;
		n.kind = FS_K_FOLDER;
		n.ino = fs_ino(FS_K_FOLDER, n.mb.id);
		if (rd_at(r, RD_POS_FOLDER + (off_t)n.mb.id, dname, &n) < 0)
			return 1;
	}
	return 0;
}

static int
rd_maildir(struct rd *r, struct store_txn *t)
{
	static const struct {
		const char *name;
		enum fs_kind k;
		off_t pos;
	} sub[] = {
		{ "cur", FS_K_CUR, RD_POS_CUR },
		{ "new", FS_K_NEW, RD_POS_NEW },
		{ "tmp", FS_K_TMP, RD_POS_TMP },
	};
	struct rd_dom x;
	struct fs_node n;
	size_t i;
	int rc;

	for (i = 0; i < 3; i++) {
		if (fs_subdir_absent(r->dir.mb.id, sub[i].k))
			continue;
		n = r->dir;
		n.kind = sub[i].k;
		n.ino = fs_ino(sub[i].k, r->dir.mb.id);
		if (rd_at(r, sub[i].pos, sub[i].name, &n) < 0)
			return 0;
	}
	if (r->off <= RD_POS_KW && fs_node_get(t, fs_ino(FS_K_KWFILE,
	    r->dir.mb.id), &n) == 1 && rd_at(r, RD_POS_KW, "dovecot-keywords",
	    &n) < 0)
		return 0;
	if (r->dir.kind == FS_K_FOLDER) {
		n = r->dir;
		n.kind = FS_K_MDFOLDER;
		n.ino = fs_ino(FS_K_MDFOLDER, r->dir.mb.id);
		if (rd_at(r, RD_POS_MDF, "maildirfolder", &n) < 0)
			return 0;
	} else if (r->off < RD_POS_FILES) {
		if (r->off <= RD_POS_FILTER && fs_node_get(t,
		    fs_ino(FS_K_FILTER, r->dir.u.id), &n) == 1 &&
		    rd_at(r, RD_POS_FILTER, FS_FILTER_NAME, &n) < 0)
			return 0;
		memset(&x, 0, sizeof(x));
		x.r = r;
		x.t = t;
		rc = rd_folders(&x);
		rd_ids_free(&x.ids);
		if (rc != 0)
			return 0;
	}
	/* The files kept there: by rank after the folders (fs/tmp.c). */
	r->idx = RD_POS_FILES;
	return fs_tmp_readdir(r, t, FS_AREA_ROOT);
}

/* cur/ and new/: entries in uid order, the offset is the next uid + 1. */
struct rd_msgs {
	struct rd	*r;
	int		 want_new;
};

static int
rd_msg_fn(const struct store_msg *m, void *ctx)
{
	struct rd_msgs *x = ctx;
	struct rd *r = x->r;
	struct fs_node n;

	if (fs_msg_in_new(m, r->dir.mb.recent_uid) != x->want_new)
		return 0;
	n = r->dir;
	n.kind = FS_K_MSG;
	n.ino = fs_ino_msg(r->dir.mb.id, m->uid);
	n.m = *m;
	store_maildir_info(m->flags, m->keywords, r->kwlist, n.info);
	n.in_new = x->want_new;
	if (fs_msg_name(m->internal_date, m->uid, m->size, n.in_new, n.info,
	    n.name, sizeof(n.name)) != 1)
		return 0;
	/* The entry after this one starts at uid + 1: offset uid + 2. */
	return rd_add(r, n.name, &n, (off_t)m->uid + 2);
}

static int
rd_msgs(struct rd *r, struct store_txn *t)
{
	struct rd_msgs x = { r, r->dir.kind == FS_K_NEW };
	uint32_t first;

	if (store_maildir_keywords(t, r->dir.mb.id, &r->kwlist) != 1)
		r->kwlist = xstrdup("");
	/* offset 0: ".", 1: "..", then uid u is at offset u + 1. */
	if (r->off < 1 && rd_add(r, ".", NULL, 1) < 0)
		return 0;
	if (r->off < 2 && rd_add(r, "..", NULL, 2) < 0)
		return 0;
	first = r->off < 2 ? 1 : (uint32_t)(r->off - 1);
	if (x.want_new && first < r->dir.mb.recent_uid)
		first = r->dir.mb.recent_uid;
	if (r->dir.mb.id > FS_MBOX_MAX)
		return 0;
	if (store_msg_list(t, r->dir.mb.id, first, rd_msg_fn, &x) < 0 &&
	    !r->full)
		return -1;
	return 0;
}

static int
rd_txn(struct store_txn *t, void *ctx)
{
	struct rd *r = ctx;
	struct rd_dom x;
	struct fs_node n;
	int rc;

	memset(&x, 0, sizeof(x));
	x.r = r;
	x.t = t;
	if ((rc = fs_node_get(t, r->ino, &r->dir)) != 1)
		return rc;
	r->domain = r->dir.d.name;
	switch (r->dir.kind) {
	case FS_K_CUR:
	case FS_K_NEW:
		return rd_msgs(r, t) < 0 ? -1 : 1;
	case FS_K_TMP:
		if (rd_fixed(r, ".", NULL) < 0 || rd_fixed(r, "..", NULL) < 0)
			return 1;
		return fs_tmp_readdir(r, t, FS_AREA_TMP) < 0 ? -1 : 1;
	default:
		break;
	}
	if (rd_fixed(r, ".", NULL) < 0 || rd_fixed(r, "..", NULL) < 0)
		return 1;
	switch (r->dir.kind) {
	case FS_K_ROOT:
		rd_domains(&x);
		break;
	case FS_K_DOMAIN:
		rd_users(&x);
		break;
	case FS_K_USER:
		if (fs_node_get(t, fs_ino(FS_K_MAILDIR, r->dir.u.id), &n) == 1)
			rd_fixed(r, "Mail", &n);
		break;
	case FS_K_MAILDIR:
	case FS_K_FOLDER:
		rd_maildir(r, t);
		break;
	default:
		return -2;
	}
	rd_ids_free(&x.ids);
	rd_ids_free(&x.vis);
	return 1;
}

static void
readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    int plus)
{
	struct rd r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.req = req;
	r.ino = ino;
	r.plus = plus;
	r.caller = fuse_req_ctx(req)->uid;
	r.size = size < 1024 * 1024 ? size : 1024 * 1024;
	r.buf = xmalloc(r.size);
	r.off = off;
	rc = store_read(fs.store, rd_txn, &r);
	free(r.kwlist);
	if (rc == -2)
		fuse_reply_err(req, ENOTDIR);
	else if (rc < 0) {
		log_warnx("readdir: %s", err_msg());
		fuse_reply_err(req, EIO);
	} else if (rc == 0)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_buf(req, r.buf, r.len);
	free(r.buf);
}

static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 0);
}

static void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 1);
}

/* tmp.c lists tmp/ through these. */
int
fs_rd_fixed(struct rd *r, const char *name, struct fs_node *n)
{
	return rd_fixed(r, name, n);
}

const struct fs_node *
fs_rd_dir(const struct rd *r)
{
	return &r->dir;
}

/* --- read ------------------------------------------------------------ */

struct rdm {
	uint64_t	 ino;
	uint64_t	 off;
	size_t		 size, len;
	char		*buf;
};

static int
rdm_txn(struct store_txn *t, void *ctx)
{
	struct rdm *x = ctx;
	struct fs_node n;
	char *kw = NULL;
	size_t klen;
	int rc;

	switch (fs_ino_kind(x->ino)) {
	case FS_K_MSG:
		return store_msg_read_range(t, fs_ino_mbox(x->ino),
		    fs_ino_uid(x->ino), x->off, x->size, x->buf, &x->len);
	case FS_K_KWFILE:
		if ((rc = store_maildir_keywords(t, (uint32_t)fs_ino_id(x->ino),
		    &kw)) != 1)
			return rc;
		klen = fs_kwfile(kw, NULL, 0);
		if (klen > 0) {
			char *all = xmalloc(klen);

			fs_kwfile(kw, all, klen);
			if (x->off < klen) {
				x->len = klen - x->off < x->size ?
				    klen - x->off : x->size;
				memcpy(x->buf, all + x->off, x->len);
			}
			free(all);
		}
		free(kw);
		return 1;
	case FS_K_MDFOLDER:
		return fs_node_get(t, x->ino, &n);
	case FS_K_FILTER:
		if ((rc = fs_filter_text(t, (uint32_t)fs_ino_id(x->ino), &kw,
		    &klen)) != 1)
			return rc;
		if (x->off < klen) {
			x->len = klen - x->off < x->size ? klen - x->off :
			    x->size;
			memcpy(x->buf, kw + x->off, x->len);
		}
		free(kw);
		return 1;
	default:
		return -2;
	}
}

static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct rdm x;
	int rc;

	(void)fi;
	if (fs_ino_kind(ino) == FS_K_TMPFILE) {
		fs_tmp_read(req, ino, size, off);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memset(&x, 0, sizeof(x));
	x.ino = ino;
	x.off = (uint64_t)off;
	x.size = size < 4 * 1024 * 1024 ? size : 4 * 1024 * 1024;
	x.buf = xmalloc(x.size > 0 ? x.size : 1);
	rc = store_read(fs.store, rdm_txn, &x);
	if (rc == -2)
		fuse_reply_err(req, EISDIR);
	else if (rc < 0) {
		log_warnx("read: %s", err_msg());
		fuse_reply_err(req, EIO);
	} else if (rc == 0)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_buf(req, x.buf, x.len);
	free(x.buf);
}

/*
 * No open: the kernel then opens files itself and keeps their pages
 * cached (FOPEN_KEEP_CACHE), so reading a message a second time never
 * reaches us.  Writes and truncation come to us by inode (write.c).
 */
static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

/*
 * cur/ and new/ listings may stay in the kernel's cache: every change to
 * a mailbox invalidates them (fs_track_sync(), and the kernel itself for
 * changes made through the mount), so a second `ls` or glob costs
 * nothing.  Other directories are small and change without notice.
 */
static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	enum fs_kind k = fs_ino_kind(ino);

	fi->fh = 0;
	if (k == FS_K_CUR || k == FS_K_NEW) {
		fs_dir_seen(fs_ino_mbox(ino));
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

/* --- statfs ------------------------------------------------------------ */

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	struct fs_node n;
	const struct store_user *u;
	uint64_t used;

	memset(&sv, 0, sizeof(sv));
	if (statvfs(fs.tmpdir, &sv) < 0)
		memset(&sv, 0, sizeof(sv));
	sv.f_namemax = FS_NAME_MAX;
	if (fs_ino_kind(ino) != FS_K_ROOT && fs_ino_kind(ino) !=
	    FS_K_DOMAIN && fs_node_read(ino, &n) == 1) {
		u = &n.u;
		if (u->quota_bytes != 0) {
			sv.f_bsize = sv.f_frsize = 4096;
			sv.f_blocks = (u->quota_bytes + 4095) / 4096;
			used = (u->used_bytes + 4095) / 4096;
			sv.f_bfree = sv.f_bavail = used < sv.f_blocks ?
			    sv.f_blocks - used : 0;
		}
		if (u->quota_messages != 0) {
			sv.f_files = u->quota_messages;
			sv.f_ffree = sv.f_favail = u->used_messages <
			    u->quota_messages ? u->quota_messages -
			    u->used_messages : 0;
		}
	}
	fuse_reply_statfs(req, &sv);
}

/* --- init ------------------------------------------------------------ */

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_READDIRPLUS) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	}
	conn->want &= ~(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_EXPORT_SUPPORT |
	    FUSE_CAP_WRITEBACK_CACHE);
	if (!(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT))
		log_warnx("the kernel cannot skip open: every open of a "
		    "message file is a round trip");
	conn->max_readahead = conn->max_readahead > 1024 * 1024 ?
	    1024 * 1024 : conn->max_readahead;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.open = op_open,
	.opendir = op_opendir,
	.read = op_read,
	.statfs = op_statfs,
	/* write.c */
	.setattr = fs_op_setattr,
	.write = fs_op_write,
	.create = fs_op_create,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.unlink = fs_op_unlink,
	.rename = fs_op_rename,
	.mkdir = fs_op_mkdir,
	.rmdir = fs_op_rmdir,
	.link = fs_op_link,
	.symlink = fs_op_symlink,
	.mknod = fs_op_mknod,
};
