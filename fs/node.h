/*
 * node.h - a node of the file view as the operations see it (fs/ops.c
 * reads them, fs/write.c and fs/tmp.c change them).
 */
#ifndef VELLUM_FS_NODE_H
#define VELLUM_FS_NODE_H

#include "fs/fs.h"
#include "store/domain.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/user.h"

struct fs_node {
	enum fs_kind		kind;
	uint64_t		ino;
	struct store_domain	d;	/* FS_K_DOMAIN */
	struct store_user	u;	/* FS_K_USER and below */
	struct store_mailbox	mb;	/* FS_K_MAILDIR (INBOX) and below */
	struct store_msg	m;	/* FS_K_MSG */
	size_t			kwlen;	/* FS_K_KWFILE: its size */
	size_t			filterlen;	/* FS_K_FILTER: its size */
	uint32_t		filterhash;	/* and a hash of its text */
	unsigned		nsub;	/* FS_K_MAILDIR: subdirectories */
	/* FS_K_MSG after fs_node_msgname(): */
	char			info[STORE_MAILDIR_INFO_MAX];
	int			in_new;
	char			name[FS_NAME_MAX + 1];
	/* FS_K_TMPFILE: the real file's attributes */
	struct stat		tmpst;
	int			tmparea;	/* FS_AREA_* */
	char			tmpname[FS_NAME_MAX + 1];
};

/*
 * The node of ino, read in t: 1 it exists, 0 not, -1 error.  A message's
 * name is not computed (fs_node_msgname()).
 */
int	fs_node_get(struct store_txn *, uint64_t ino, struct fs_node *);
/* The same in a snapshot of its own. */
int	fs_node_read(uint64_t ino, struct fs_node *);
void	fs_node_msgname(struct store_txn *, struct fs_node *);
/*
 * The node called name in directory parent: 1 found (*r), 0 not (*errno_r
 * says why: ENOENT, ENOTDIR), -1 error.
 */
int	fs_lookup(struct store_txn *, uint64_t parent, const char *name,
	    struct fs_node *r, int *errno_r);
void	fs_node_attr(const struct fs_node *, struct stat *);
double	fs_node_ttl(const struct fs_node *);
void	fs_node_entry(const struct fs_node *, struct fuse_entry_param *);
/* The kernel got an entry of n (+1 lookup); the reply failed (-1). */
void	fs_node_track(const struct fs_node *);
void	fs_node_untrack(const struct fs_node *);
void	fs_forget(uint64_t ino, uint64_t n);

/* dovecot-keywords of kwlist: its length; written into buf if it fits. */
size_t	fs_kwfile(const char *kwlist, char *buf, size_t bufsize);

/* Directory listings (ops.c), for tmp.c. */
struct rd;
int	fs_rd_fixed(struct rd *, const char *name, struct fs_node *);
const struct fs_node *fs_rd_dir(const struct rd *);

/* write.c: cur/new/tmp removed with rmdir (or not yet made after mkdir) */
int	fs_subdir_absent(uint32_t mailbox, enum fs_kind);

/*
 * tmp.c: files that are not messages, in two areas of each mailbox:
 * tmp/, and the Maildir's own directory beside cur/ new/ tmp/ (files such
 * as mbsync's .uidvalidity).
 */
#define FS_AREA_TMP	0
#define FS_AREA_ROOT	1
int	fs_tmp_node(struct store_txn *, uint64_t ino, struct fs_node *);
int	fs_tmp_lookup(struct store_txn *, const struct fs_node *dir, int area,
	    const char *name, struct fs_node *r, int *errno_r);
/* Lists the files of an area (not . and ..). */
int	fs_tmp_readdir(struct rd *, struct store_txn *, int area);
void	fs_tmp_ref(uint64_t ino, int64_t delta);
void	fs_tmp_read(fuse_req_t, uint64_t ino, size_t size, off_t off);
/* The changes; each returns 0 or an errno. */
int	fs_tmp_dirfd(uint32_t mailbox, int area, int create);
size_t	fs_tmp_count(uint32_t mailbox, int area);
int	fs_tmp_create(uint32_t mailbox, int area, const char *name, int flags,
	    uint64_t *ino_r);
int	fs_tmp_write(uint64_t ino, const char *buf, size_t size, off_t off);
int	fs_tmp_setattr(uint64_t ino, const struct stat *attr, int to_set);
/* fsync(2) (datasync: fdatasync) of the real file. */
int	fs_tmp_sync(uint64_t ino, int datasync);
/* Whether the file was renamed into new/ or cur/: a message now. */
int	fs_tmp_stored_as_msg(uint64_t ino);
int	fs_tmp_unlink(uint32_t mailbox, int area, const char *name);
int	fs_tmp_rename(uint32_t mailbox, int area, const char *name,
	    uint32_t dmailbox, int darea, const char *dname);
/* Maps the file's bytes (munmap(*data_r, *len_r) after). */
int	fs_tmp_map(uint32_t mailbox, int area, const char *name,
	    void **data_r, size_t *len_r, struct stat *st_r);
/*
 * Files of folders that no longer exist (an IMAP DELETE) go; mailbox 0:
 * every folder's.
 */
void	fs_tmp_sweep(uint32_t mailbox);
/*
 * It became user's filter file (fs/filter.c): the real file goes, and
 * its inode shows the filter while the kernel holds it.  0 or an errno.
 */
int	fs_tmp_to_filter(uint32_t mailbox, int area, const char *name,
	    uint32_t user);
/* It was stored as (dmailbox, duid): the real file goes. */
void	fs_tmp_stored(uint32_t mailbox, int area, const char *name,
	    uint32_t dmailbox, uint32_t duid);

/*
 * filter.c: the user's filter file (store/filter.h) as FS_FILTER_NAME in
 * the INBOX Maildir (Mail/), 0600, present while the user has a filter
 * (or while an edit of it is open).  Edits collect in a draft that is
 * checked with filter_parse() and stored as a whole when the writer is
 * done; a text that does not parse is refused (EINVAL) and the stored
 * filter stays.  The functions returning int give 0 or an errno, except
 * fs_filter_node() and fs_filter_text() (1 / 0 none / -1 store error).
 */
#define FS_FILTER_NAME	".mailfilter"
int	fs_filter_node(struct store_txn *, uint64_t ino, struct fs_node *);
/* The text the file shows now (*text_r malloc'd, NUL-ended). */
int	fs_filter_text(struct store_txn *, uint32_t user, char **text_r,
	    size_t *len_r);
/* create(2) of the name (flags: O_TRUNC, O_EXCL matter). */
int	fs_filter_create(uint32_t user, int flags);
int	fs_filter_write(uint64_t ino, const char *buf, size_t size, off_t off);
int	fs_filter_truncate(uint64_t ino, off_t size);
/*
 * A writer is done: close(2) (last 0: an empty draft waits) or the last
 * descriptor gone (last 1), and fsync(2) (last 0).  The draft, when
 * changed, is checked and stored (or refused: EINVAL); it is dropped.
 */
int	fs_filter_flush(uint64_t ino, int last);
int	fs_filter_unlink(uint32_t user, const char *addr);
/* rename(2) of a file of fs/tmp.c (mbox, area, name) over the name. */
int	fs_filter_rename(uint32_t mbox, int area, const char *name,
	    uint32_t user, const char *addr);

/* write.c: the operations that change things */
void	fs_op_setattr(fuse_req_t, fuse_ino_t, struct stat *, int,
	    struct fuse_file_info *);
void	fs_op_write(fuse_req_t, fuse_ino_t, const char *, size_t, off_t,
	    struct fuse_file_info *);
void	fs_op_create(fuse_req_t, fuse_ino_t, const char *, mode_t,
	    struct fuse_file_info *);
void	fs_op_release(fuse_req_t, fuse_ino_t, struct fuse_file_info *);
void	fs_op_fsync(fuse_req_t, fuse_ino_t, int, struct fuse_file_info *);
void	fs_op_unlink(fuse_req_t, fuse_ino_t, const char *);
void	fs_op_rename(fuse_req_t, fuse_ino_t, const char *, fuse_ino_t,
	    const char *, unsigned int);
void	fs_op_mkdir(fuse_req_t, fuse_ino_t, const char *, mode_t);
void	fs_op_rmdir(fuse_req_t, fuse_ino_t, const char *);
void	fs_op_link(fuse_req_t, fuse_ino_t, fuse_ino_t, const char *);
void	fs_op_symlink(fuse_req_t, const char *, fuse_ino_t, const char *);
void	fs_op_mknod(fuse_req_t, fuse_ino_t, const char *, mode_t, dev_t);

#endif
