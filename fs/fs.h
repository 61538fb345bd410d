/*
 * fs.h - vellum-fs internals: the store shown as Maildir++ through FUSE.
 *
 * Inode numbers are computed, not allocated: the top four bits say what
 * a node is, the rest which one (a user id, a mailbox id, a mailbox id and
 * a uid).  So the same message has the same inode number in every mount,
 * and nothing needs a table except what the kernel holds by name:
 *
 * - message files the kernel has looked up (fs/track.c): the name they
 *   were shown under, so that a change made elsewhere (an IMAP STORE, an
 *   expunge, a SELECT that empties new/) invalidates exactly that kernel
 *   dentry; per mailbox, the state those names were right for, so a
 *   notification costs only what changed.  Message files are immutable,
 *   so their data and attributes are cached by the kernel for long
 *   (vellum-fs does not implement open: the kernel then opens files
 *   itself and keeps their pages); only names move.
 * - names programs gave by a rename (aliases, fs/track.c), valid for a
 *   minute.
 * - files that are not mail (fs/tmp.c): those in tmp/ until they are
 *   renamed into new/ or cur/ and stored, and the files programs keep
 *   beside cur/ new/ tmp/; real files under DATA_DIR/fstmp/.
 *
 * Everything runs on one thread (the libevent loop of fs/main.c) except
 * the kernel cache invalidations, which go through a queue to a thread of
 * their own (fs/inval.c): the kernel may hold a lock for a request that
 * the loop has not read yet, and an invalidation waits for that lock.
 */
#ifndef VELLUM_FS_H
#define VELLUM_FS_H

#define FUSE_USE_VERSION 35

#include <sys/stat.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>
#include <stdint.h>
#include <time.h>

#include "store/maildir.h"
#include "store/message.h"

struct event_base;
struct store;

/* What a node is: the top four bits of its inode number. */
enum fs_kind {
	FS_K_ROOT = 0,		/* FUSE_ROOT_ID */
	FS_K_DOMAIN = 1,	/* <domain>: domain id */
	FS_K_USER = 2,		/* <domain>/<user>: user id */
	FS_K_MAILDIR = 3,	/* .../Mail, the INBOX Maildir: user id */
	FS_K_FOLDER = 4,	/* .../Mail/.Foo: mailbox id */
	FS_K_CUR = 5,		/* cur/ of a mailbox */
	FS_K_NEW = 6,		/* new/ */
	FS_K_TMP = 7,		/* tmp/ */
	FS_K_MSG = 8,		/* a message: mailbox id << 32 | uid */
	FS_K_TMPFILE = 9,	/* a file in tmp/: serial (fs/tmp.c) */
	FS_K_KWFILE = 10,	/* dovecot-keywords of a mailbox */
	FS_K_MDFOLDER = 11,	/* maildirfolder of a mailbox */
	FS_K_FILTER = 12,	/* Mail/.mailfilter: user id (fs/filter.c) */
};

#define FS_KIND_SHIFT	60
#define FS_ID_MASK	((1ULL << FS_KIND_SHIFT) - 1)
/* Mailbox ids above this cannot be shown (28 bits beside a 32-bit uid). */
#define FS_MBOX_MAX	((1U << 28) - 1)

#define FS_NAME_MAX	255

/* Timeouts handed to the kernel, seconds. */
#define FS_TTL_MSG	86400.0	/* message files: immutable, invalidated */
#define FS_TTL_DIR	1.0	/* directories (users and folders come and go
				   through vellumctl and IMAP) */
#define FS_TTL_TMP	1.0	/* files that are not mail (we write them) */

/* Limits of tmp/: files per folder. */
#define FS_TMP_FILES_MAX	1000

static inline uint64_t
fs_ino(enum fs_kind k, uint64_t id)
{
	return k == FS_K_ROOT ? FUSE_ROOT_ID :
	    ((uint64_t)k << FS_KIND_SHIFT) | (id & FS_ID_MASK);
}

static inline enum fs_kind
fs_ino_kind(uint64_t ino)
{
	return ino == FUSE_ROOT_ID ? FS_K_ROOT :
	    (enum fs_kind)(ino >> FS_KIND_SHIFT);
}

static inline uint64_t
fs_ino_id(uint64_t ino)
{
	return ino & FS_ID_MASK;
}

static inline uint64_t
fs_ino_msg(uint32_t mailbox, uint32_t uid)
{
	return fs_ino(FS_K_MSG, ((uint64_t)mailbox << 32) | uid);
}

static inline uint32_t
fs_ino_mbox(uint64_t ino)
{
	return fs_ino_kind(ino) == FS_K_MSG ? (uint32_t)(fs_ino_id(ino) >> 32) :
	    (uint32_t)fs_ino_id(ino);
}

static inline uint32_t
fs_ino_uid(uint64_t ino)
{
	return (uint32_t)fs_ino_id(ino);
}

/* The process's state, one per mount. */
struct fs {
	struct store		*store;
	struct fuse_session	*se;
	const char		*hostname;	/* in file names */
	const char		*tmpdir;	/* DATA_DIR/fstmp */
	int			 tmpdirfd;
	uint64_t		 max_size;	/* [smtpd] max_message_size */
	uid_t			 uid;		/* the daemon's user */
	gid_t			 gid;
	time_t			 started;	/* default directory mtime */
	struct event_base	*base;		/* the loop (fs/main.c) */
};

extern struct fs fs;

/* --- names (fs/name.c: pure) ---------------------------------------- */

/*
 * Where a message shows: new/ (no IMAP session took it as \Recent yet, no
 * Maildir program moved it to cur/, and it has no flags and no keywords)
 * or cur/.
 */
int	fs_msg_in_new(const struct store_msg *, uint32_t recent_uid);
/*
 * The file name of a message: "<date>.<uid>.<host>,S=<size>" and, unless
 * in_new, ":2,<info>".  1 done, -1 too long (not shown).
 */
int	fs_msg_name(int64_t date, uint32_t uid, uint64_t size, int in_new,
	    const char *info, char *buf, size_t bufsize);
/*
 * The uid a message file name claims ("<date>.<uid>.": 1), or 0 when the
 * name is not of that form.
 */
int	fs_name_uid(const char *name, uint32_t *uid_r);
/*
 * The info letters of a file name (after ":2," or "!2," or ";2,"), ""
 * when it has none; returns a pointer into name.
 */
const char *fs_name_info(const char *name);
/*
 * Folder names: store name ("Ünïcode/x", UTF-8) <-> Maildir++ directory
 * name (".&ANw-n&AO8-code.x": modified UTF-7 as Dovecot writes it, '.'
 * between levels, a '.' inside a level as "\2e").  1 done, -1 not a
 * folder name (INBOX, empty levels, bad modified UTF-7, too long).
 */
int	fs_folder_dirname(const char *store_name, char *buf, size_t bufsize);
int	fs_folder_storename(const char *dirname, char *buf, size_t bufsize);
/* Info letters <-> a bit set: bits 0-5 DFPRST, 6-31 a-z. */
uint32_t fs_info_bits(const char *info);
char	*fs_info_string(uint32_t bits, char buf[STORE_MAILDIR_INFO_MAX]);

/* --- message files the kernel holds (fs/track.c) --------------------- */

/*
 * The kernel looked up (or was given by READDIRPLUS) the message ino
 * under parent (FS_K_CUR or FS_K_NEW) with these attributes (the owner
 * from u's mapping): its lookup count grows by one and the name it holds
 * is remembered.
 */
struct store_mailbox;
struct store_user;
void	fs_track_lookup(uint64_t ino, uint64_t parent, int64_t date,
	    uint64_t size, uint32_t info_bits, const struct store_mailbox *mb,
	    const struct store_user *u);
/* FORGET: the lookup count drops by n; at zero the record goes. */
void	fs_track_forget(uint64_t ino, uint64_t n);
/*
 * The kernel now holds ino under (parent, name) after a rename we did;
 * canonical says whether that is the name we would show it under (else
 * it is invalidated and forgotten as a name).
 */
void	fs_track_renamed(uint64_t ino, uint64_t parent, int64_t date,
	    uint64_t size, uint32_t info_bits, int canonical);
/*
 * Mailbox changed (from the store's notification): every message of it
 * the kernel holds by a name that is no longer right gets that name
 * invalidated.  mailbox 0: every mailbox.
 */
void	fs_track_sync(uint32_t mailbox);
/*
 * Names a program gave a message by renaming it (aliases): they resolve
 * to ino for a minute, or until the message changes (shown/bits are
 * where and how it showed then).  fs_alias_sweep() (a timer) makes the
 * kernel forget the old ones.
 */
void	fs_alias_add(uint64_t parent, const char *name, uint64_t ino,
	    uint64_t shown, uint32_t bits);
int	fs_alias_find(uint64_t parent, const char *name, uint64_t *ino_r,
	    uint64_t *shown_r, uint32_t *bits_r);
void	fs_alias_forget(uint64_t parent, const char *name);
void	fs_alias_sweep(void);

/* Directory mtime of cur/ and new/ of a mailbox (moves with changes). */
struct timespec fs_dir_mtime(uint32_t mailbox);
void	fs_dir_touch(uint32_t mailbox);
/* The kernel opened cur/ or new/ of mailbox (remembered for a resync). */
void	fs_dir_seen(uint32_t mailbox);
/* Mailboxes state is kept of (those that exist and were seen or changed). */
size_t	fs_dir_count(void);

/* --- kernel cache invalidation (fs/inval.c) -------------------------- */

int	fs_inval_start(void);
void	fs_inval_stop(void);
/* Queue: drop the dentry parent/name; drop an inode's attributes/data. */
void	fs_inval_entry(uint64_t parent, const char *name);
void	fs_inval_inode(uint64_t ino);

/* --- operations (fs/ops.c, fs/write.c, fs/tmp.c) --------------------- */

extern const struct fuse_lowlevel_ops fs_ops;

/*
 * Who may see a node: the owner of a user's tree (its mapped system
 * account, else the daemon's user).
 */
void	fs_owner(uint32_t fs_uid, uint32_t fs_gid, uid_t *uid_r,
	    gid_t *gid_r);

#endif
