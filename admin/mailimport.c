/*
 * mailimport.c - vellumctl mail import (the rest of "vellumctl mail" is
 * in cmd_mail.c)
 *
 * Import reads PATH as:
 *   - a Maildir (a directory with cur/ or new/): its messages go to the
 *     folder (INBOX unless --folder), Maildir++ subfolders ".Foo.Bar" to
 *     "Foo/Bar" (under --folder when given), created when missing.  Flags
 *     and dates come from the file names (Dovecot keyword letters through
 *     dovecot-keywords; P becomes $Forwarded), in new/ as in cur/.
 *     Folder names in modified UTF-7 are decoded.  A folder's
 *     dovecot-uidlist or courierimapuiddb (mail/uidlist.h) gives the
 *     UIDVALIDITY, UIDs and next UID that an empty target folder takes
 *     (store_mailbox_set_uidvalidity(), store_msg_append_uid()): listed
 *     messages in UID order, then the others from the next UID on; a
 *     folder with messages keeps its own (a warning says so), unless it
 *     already has the list's UIDVALIDITY (an earlier import of the same
 *     folder): then a listed message already at its UID (the same
 *     bytes) is skipped, one whose UID another message holds or that is
 *     below the folder's next UID gets a new UID, and the rest are placed
 *     at their UIDs as on the first run, so that importing again after
 *     the first pass adds only new mail and loses none.
 *   - another directory: every regular file in it (not recursive, hidden
 *     files skipped) is one message, except files named *.mbox, which are
 *     mboxes.  A leading "From " line of a message file is its envelope:
 *     it is dropped and gives the date; nothing else is changed.
 *   - a file that begins with "From ": an mbox (mail/mbox.h), flags from
 *     Status:/X-Status: lines, which are then removed; the From_ sender
 *     is kept as Return-Path when the message has none.
 *   - any other file: one message.
 * Symbolic links below PATH are never followed (see mailimport_open_under()):
 * each is skipped with a warning that names it.
 * Internal dates come from the Maildir name, else the envelope line, else
 * the file's mtime.  Messages are prepared (hashed, compressed) outside
 * the write transactions and appended MAIL_BATCH messages or MAIL_BATCH_BYTES
 * at a time; when a batch fails, its messages are retried one by one so
 * that one bad message costs only itself.  Quotas are not enforced on
 * import (the over-quota state is still updated).  Between batches, the
 * store's zstd dictionaries are trained when due and the mail imported
 * so far is compressed again with them (store_dict_optimize()), so an
 * import ends compressed with dictionaries and the rest of it is
 * compressed with them from the start.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "mail/maildir.h"
#include "mail/mbox.h"
#include "mail/uidlist.h"
#include "mail/utf7.h"
#include "store/dict.h"
#include "store/trim.h"
#include "store/mailbox.h"
#include "store/maildir.h"
#include "store/message.h"
#include "store/user.h"

#include "ctl.h"
#include "mailimport.h"

#define MAIL_BATCH		100
#define MAIL_BATCH_BYTES	(32u * 1024 * 1024)
#define MAIL_FORWARDED		"$Forwarded"
#define MAIL_KW_MAX		26	/* Dovecot keyword letters a-z */
/* Largest UID list read (~60 bytes a message: millions of messages). */
#define MAIL_UIDLIST_MAX	(256u * 1024 * 1024)

/* A Maildir folder's UID list (dovecot-uidlist or courierimapuiddb). */
struct mail_uids {
	char		*folder;	/* the store folder it is for */
	char		*file;		/* the list's path, for messages */
	struct uidlist	*ul;
	unsigned	 style;		/* STORE_UIDL_* */
};

/* Keyword names of one Maildir folder (dovecot-keywords). */
struct mail_kwmap {
	char	*names[MAIL_KW_MAX];
};

enum mail_kind { MK_MAILDIR_NEW, MK_MAILDIR_CUR, MK_FILE, MK_MBOX,
	MK_AUTO };

struct mail_job {
	char			*path;	/* as the admin wrote it + below */
	char			*rel;	/* under the root; NULL: path itself */
	char			*folder;
	enum mail_kind		 kind;
	struct maildir_name	 mn;
	struct mail_kwmap	*kw;
	off_t			 size;
	time_t			 mtime;
	uint32_t		 uid;	/* from the folder's UID list, or 0 */
};

struct mail_item {
	struct store_prepared	*p;
	char			*data;	/* p points into it until freed */
	uint32_t		 mailbox_id;
	int64_t			 date;
	uint32_t		 flags;
	char			*keywords;
	char			*label;
	uint32_t		 uid;	/* append at this UID (0: the next) */
	size_t			 box;	/* index in mail_imp.boxes */
	size_t			 job;	/* index in mail_imp.jobs */
	/* Set by the txn: 1 already there, 2 its UID is another's. */
	int			 skip;
};

struct mail_box {
	char			*name;
	uint32_t		 id;
	/* Keeping the UIDs of uids (its UIDVALIDITY was taken). */
	int			 keep;
	const struct mail_uids	*uids;
	size_t			 kept;	/* messages placed at their UID */
	/* Imported before (same UIDVALIDITY): listed UIDs may be there. */
	int			 again;
	size_t			 skipped;	/* already there */
};

struct mail_imp {
	struct ctl		*ctl;
	const char		*root;	/* PATH as given */
	int			 rootfd;	/* PATH if a directory, or -1 */
	size_t			 symlinks;	/* links skipped */
	uint32_t		 user_id;
	struct mail_box		*boxes;
	size_t			 nboxes;
	struct mail_item	 items[MAIL_BATCH];
	size_t			 n, bytes;
	size_t			 imported, failed;
	size_t			 skipped;	/* imported before */
	uint64_t		 imported_bytes;
	struct ctl_progress	 prog;
	/* for the transaction bodies */
	const char		*box_name;
	uint32_t		 box_id;
	const struct mail_uids	*box_uids;	/* to keep, or NULL */
	int			 box_keep;
	int			 box_again;
	uint32_t		 box_msgs;	/* when it could not */
	struct mail_box		*raise;
	struct mail_uids	*uids;
	size_t			 nuids;
	size_t			 first, count;
	struct mail_job		*jobs;
	size_t			 njobs;
	size_t			 cur_job;	/* the one being read */
	/* Jobs whose UID another message held: run again at the end. */
	size_t			*later;
	size_t			 nlater;
	struct mail_kwmap	**kwmaps;
	size_t			 nkwmaps;
};

static int	mailimport_box_txn(struct store_txn *, void *);
static int	mailimport_box(struct mail_imp *, const char *name,
		    size_t *box_r);
static int	mailimport_raise_txn(struct store_txn *, void *);
static struct mail_uids *mailimport_uids_find(struct mail_imp *,
		    const char *folder);
static void	mailimport_uids_read(struct mail_imp *, int dfd,
		    const char *rel, const char *folder);
static void	mailimport_warn(struct mail_imp *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
static int	mailimport_append_txn(struct store_txn *, void *);
static void	mailimport_flush(struct mail_imp *);
static void	mailimport_done(struct mail_imp *, const struct mail_item *);
static void	mailimport_text(const struct mail_imp *, const char *,
		    const char *);
static void	mailimport_json(const struct mail_imp *, const char *,
		    const char *);
static void	mailimport_add(struct mail_imp *, const char *folder,
		    const char *data, size_t len, int64_t date,
		    uint32_t flags, const char *keywords, const char *label,
		    uint32_t uid);
static int	mailimport_open_under(int rootfd, const char *rel, int dir);
static char	*mailimport_rel(const char *rel, const char *name);
static char	*mailimport_label(const struct mail_imp *, const char *rel);
static void	mailimport_symlink(struct mail_imp *, const char *rel);
static int	mailimport_read_file(struct mail_imp *, const struct mail_job *,
		    char **data_r, size_t *len_r);
static void	mailimport_fail(struct mail_imp *, const char *label,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void	mailimport_job_add(struct mail_imp *, const char *path,
		    const char *rel, const struct stat *, const char *folder,
		    enum mail_kind, struct mail_kwmap *);
static int	mailimport_is_maildir(int dfd);
static struct mail_kwmap *mailimport_kwmap_read(struct mail_imp *, int dfd,
		    const char *rel);
static DIR	*mailimport_opendir(struct mail_imp *, const char *rel);
static int	mailimport_entry(struct mail_imp *, DIR *, const char *rel,
		    const char *name, struct stat *);
static int	mailimport_scan_maildir(struct mail_imp *, const char *rel,
		    const char *folder, int recurse);
static int	mailimport_scan_dir(struct mail_imp *, const char *folder);
static int	mailimport_job_cmp(const void *, const void *);
static void	mailimport_run_job(struct mail_imp *, struct mail_job *);
static char	*mailimport_subfolder(const char *parent, const char *child);

/* --- import --------------------------------------------------------- */

static void
mailimport_fail(struct mail_imp *imp, const char *label, const char *fmt, ...)
{
	va_list ap;

	if (imp->prog.on && imp->prog.last != 0)
		fprintf(stderr, "\r%*s\r", 70, "");
	fprintf(stderr, "%s: ", label);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	imp->failed++;
}

/*
 * Gets or creates a mailbox and its parents.  A folder with a UID list
 * (imp->box_uids) takes the list's UIDVALIDITY when it is empty, in the
 * same transaction (so nothing can arrive in between).
 */
static int
mailimport_box_txn(struct store_txn *txn, void *arg)
{
	struct mail_imp *imp = arg;
	struct store_mailbox mb;
	char *name = xstrdup(imp->box_name), *p;
	int rc = 0;

	imp->box_keep = 0;
	imp->box_again = 0;
	imp->box_msgs = 0;
	for (p = name;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char c = *p;

			*p = '\0';
			if ((rc = store_mailbox_get(txn, imp->user_id, name,
			    &mb)) == 1)
				imp->box_id = mb.id;
			else if (rc == 0)
				rc = store_mailbox_create(txn, imp->user_id,
				    name, 0, &imp->box_id);
			*p = c;
			if (rc < 0 || c == '\0')
				break;
		}
	}
	free(name);
	if (rc < 0)
		return -1;
	if (imp->box_uids == NULL)
		return 1;
	if (store_mailbox_get_by_id(txn, imp->box_id, &mb) != 1)
		return err_set(ERR_CORRUPT, "folder %s vanished",
		    imp->box_name);
	if (mb.messages > 0) {
		imp->box_msgs = mb.messages;
		/* The same list imported before: go on where it stopped. */
		if (mb.uidvalidity == imp->box_uids->ul->uidvalidity &&
		    mb.pop3_uidl == imp->box_uids->style)
			imp->box_keep = imp->box_again = 1;
		return 1;
	}
	if (store_mailbox_set_uidvalidity(txn, imp->box_id,
	    imp->box_uids->ul->uidvalidity, imp->box_uids->style) < 0)
		return -1;
	imp->box_keep = 1;
	return 1;
}

static int
mailimport_box(struct mail_imp *imp, const char *name, size_t *box_r)
{
	struct mail_box *b;
	size_t i;

	for (i = 0; i < imp->nboxes; i++)
		if (strcmp(imp->boxes[i].name, name) == 0) {
			*box_r = i;
			return 0;
		}
	imp->box_name = name;
	imp->box_uids = mailimport_uids_find(imp, name);
	if (store_write(imp->ctl->store, mailimport_box_txn, imp) < 0)
		return -1;
	if (imp->box_uids != NULL && !imp->box_keep)
		mailimport_warn(imp, "folder %s already holds %" PRIu32
		    " message%s: the UIDs of %s are not kept (its messages "
		    "get new UIDs after those)", name, imp->box_msgs,
		    imp->box_msgs == 1 ? "" : "s", imp->box_uids->file);
	imp->boxes = xreallocarray(imp->boxes, imp->nboxes + 1,
	    sizeof(*imp->boxes));
	b = &imp->boxes[imp->nboxes];
	memset(b, 0, sizeof(*b));
	b->name = xstrdup(name);
	b->id = imp->box_id;
	b->keep = imp->box_keep;
	b->again = imp->box_again;
	b->uids = imp->box_keep ? imp->box_uids : NULL;
	*box_r = imp->nboxes++;
	return 0;
}

/*
 * UIDNEXT of a kept folder: the list's next UID (above every listed
 * one), before its unlisted messages and at the end.
 */
static int
mailimport_raise_txn(struct store_txn *txn, void *arg)
{
	struct mail_imp *imp = arg;

	return store_mailbox_raise_uidnext(txn, imp->raise->id,
	    imp->raise->uids->ul->nextuid);
}

static void
mailimport_warn(struct mail_imp *imp, const char *fmt, ...)
{
	va_list ap;

	if (imp->prog.on && imp->prog.last != 0)
		fprintf(stderr, "\r%*s\r", 70, "");
	fprintf(stderr, "vellumctl: mail import: warning: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static struct mail_uids *
mailimport_uids_find(struct mail_imp *imp, const char *folder)
{
	size_t i;

	for (i = 0; i < imp->nuids; i++)
		if (strcmp(imp->uids[i].folder, folder) == 0)
			return &imp->uids[i];
	return NULL;
}

/*
 * Reads the UID list of the Maildir folder at dfd (rel under the root):
 * Dovecot's dovecot-uidlist, else Courier's courierimapuiddb.  A list
 * that cannot be read or parsed is named in a warning and the folder's
 * messages get new UIDs, as before lists were read.
 */
static void
mailimport_uids_read(struct mail_imp *imp, int dfd, const char *rel,
    const char *folder)
{
	static const struct {
		const char	*name;
		unsigned	 style;
	} files[] = {
		{ "dovecot-uidlist", STORE_UIDL_DOVECOT },
		{ "courierimapuiddb", STORE_UIDL_COURIER },
	};
	struct mail_uids *u;
	struct uidlist *ul;
	struct stat st;
	char *frel, *label, *buf;
	size_t i, off = 0;
	ssize_t n;
	int fd = -1;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		fd = openat(dfd, files[i].name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0 || errno != ENOENT)
			break;
	}
	if (i == sizeof(files) / sizeof(files[0]))
		return;
	frel = mailimport_rel(rel, files[i].name);
	label = mailimport_label(imp, frel);
	if (fd < 0) {
		if (errno == ELOOP)
			mailimport_symlink(imp, frel);
		else
			mailimport_warn(imp, "%s: %s; the UIDs of folder %s "
			    "are not kept", label, strerror(errno), folder);
		goto done;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > MAIL_UIDLIST_MAX) {
		mailimport_warn(imp, "%s: not a regular file of at most %u "
		    "bytes; the UIDs of folder %s are not kept", label,
		    MAIL_UIDLIST_MAX, folder);
		goto done;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < (size_t)st.st_size)
		mailimport_warn(imp, "%s: cannot read it; the UIDs of folder "
		    "%s are not kept", label, folder);
	else if (uidlist_parse(buf, off, &ul) < 0)
		mailimport_warn(imp, "%s: %s; the UIDs of folder %s are not "
		    "kept", label, err_msg(), folder);
	else if (ul->uidvalidity > STORE_UIDVALIDITY_KEEP_MAX ||
	    ul->nextuid > STORE_UIDNEXT_KEEP_MAX) {
		/* The folder could take no new mail, or later mailboxes no
		 * UIDVALIDITY: a list from a real server never gets here. */
		mailimport_warn(imp, "%s: %s %" PRIu32 " is too close to 2^32 "
		    "(at most %u); the UIDs of folder %s are not kept", label,
		    ul->uidvalidity > STORE_UIDVALIDITY_KEEP_MAX ?
		    "UIDVALIDITY" : "the next UID", ul->uidvalidity >
		    STORE_UIDVALIDITY_KEEP_MAX ? ul->uidvalidity : ul->nextuid,
		    STORE_UIDVALIDITY_KEEP_MAX, folder);
		uidlist_free(&ul);
	}
	else if (mailimport_uids_find(imp, folder) != NULL) {
		mailimport_warn(imp, "%s: folder %s comes from two Maildirs; "
		    "only the first one's UIDs are kept", label, folder);
		uidlist_free(&ul);
	} else {
		imp->uids = xreallocarray(imp->uids, imp->nuids + 1,
		    sizeof(*imp->uids));
		u = &imp->uids[imp->nuids++];
		u->folder = xstrdup(folder);
		u->file = label;
		label = NULL;
		u->ul = ul;
		u->style = files[i].style;
		/* Dovecot's POP3 shows these instead: not kept yet. */
		if (ul->npop3_uidl > 0)
			mailimport_warn(imp, "%s: %zu message%s of folder %s "
			    "ha%s a POP3 UIDL of %s own (a P field, from an "
			    "earlier migration), which is not kept: POP3 "
			    "clients that leave mail on the server fetch %s "
			    "again", u->file,
			    ul->npop3_uidl, ul->npop3_uidl == 1 ? "" : "s",
			    folder, ul->npop3_uidl == 1 ? "s" : "ve",
			    ul->npop3_uidl == 1 ? "its" : "their",
			    ul->npop3_uidl == 1 ? "it" : "them");
	}
	free(buf);
done:
	if (fd >= 0)
		close(fd);
	free(label);
	free(frel);
}

static int
mailimport_append_txn(struct store_txn *txn, void *arg)
{
	struct mail_imp *imp = arg;
	struct mail_item *it;
	struct store_mailbox mb;
	struct store_msg m;
	uint32_t uid;
	size_t i;
	int rc;

	for (i = imp->first; i < imp->first + imp->count; i++) {
		it = &imp->items[i];
		it->skip = 0;
		if (it->uid != 0 && imp->boxes[it->box].again) {
			/*
			 * Imported before: a message at its UID is this one
			 * when it has the same bytes.  A free UID below
			 * UIDNEXT cannot be given again: deleted here since,
			 * failed the first time, or another source with the
			 * same UIDVALIDITY (Dovecot's are times, so two
			 * folders made in one second share one); never
			 * losing mail, it gets a new UID, as does a message
			 * whose UID another one holds.
			 */
			if ((rc = store_msg_get(txn, it->mailbox_id, it->uid,
			    &m)) == -1)
				return -1;
			if (rc == 1) {
				if ((rc = store_msg_same_body(txn, &m,
				    it->p)) == -1)
					return -1;
				if (rc == 1) {
					it->skip = 1;
					continue;
				}
				/*
				 * Another message holds it: a new UID, once
				 * every listed one is placed (UIDNEXT then
				 * goes past them).
				 */
				it->skip = 2;
				continue;
			} else {
				if (store_mailbox_get_by_id(txn,
				    it->mailbox_id, &mb) != 1)
					return err_set(ERR_CORRUPT, "folder "
					    "%s vanished",
					    imp->boxes[it->box].name);
				if (it->uid < mb.uidnext) {
					it->skip = 2;
					continue;
				}
				if (store_msg_append_uid(txn, it->mailbox_id,
				    it->uid, it->p, it->date, it->flags,
				    it->keywords, 0) < 0)
					return -1;
				continue;
			}
		} else if (it->uid != 0) {
			if (store_msg_append_uid(txn, it->mailbox_id, it->uid,
			    it->p, it->date, it->flags, it->keywords, 0) < 0)
				return -1;
			continue;
		}
		/* Unlisted (or displaced): from the list's next UID. */
		if (imp->boxes[it->box].keep &&
		    store_mailbox_raise_uidnext(txn, it->mailbox_id,
		    imp->boxes[it->box].uids->ul->nextuid) < 0)
			return -1;
		if (store_msg_append(txn, it->mailbox_id, it->p, it->date,
		    it->flags, it->keywords, 0, &uid) < 0)
			return -1;
	}
	return 0;
}

/* Counts an item its transaction committed. */
static void
mailimport_done(struct mail_imp *imp, const struct mail_item *it)
{
	if (it->skip == 2) {
		imp->later = xreallocarray(imp->later, imp->nlater + 1,
		    sizeof(*imp->later));
		imp->later[imp->nlater++] = it->job;
		return;
	}
	if (it->skip) {
		imp->boxes[it->box].skipped++;
		imp->skipped++;
		return;
	}
	imp->imported++;
	imp->imported_bytes += store_prepared_size(it->p);
	if (it->uid != 0)
		imp->boxes[it->box].kept++;
}

/*
 * Trains the dictionaries when due and compresses again (dict.h); a
 * daemon's or another vellumctl's optimize running already is fine.
 */
static void
mailimport_optimize(struct mail_imp *imp)
{
	struct store_optimize o = { 0 };
	int rc;

	if ((rc = store_dict_due(imp->ctl->store)) == 0)
		return;
	if (rc == 1 && store_dict_optimize(imp->ctl->store, &o) == 0)
		return;
	if (err_class() != ERR_INUSE)
		mailimport_warn(imp, "store optimize: %s (the mail is "
		    "imported; run 'vellumctl store optimize' later)",
		    err_msg());
}

static void
mailimport_trim(struct mail_imp *imp)
{
	struct store_trim tr;

	if (store_trim(imp->ctl->store, &tr) < 0)
		mailimport_warn(imp, "store trim: %s (the mail is imported)",
		    err_msg());
}

static void
mailimport_flush(struct mail_imp *imp)
{
	size_t i;

	if (imp->n == 0)
		return;
	imp->first = 0;
	imp->count = imp->n;
	if (store_write(imp->ctl->store, mailimport_append_txn, imp) >= 0) {
		for (i = 0; i < imp->n; i++)
			mailimport_done(imp, &imp->items[i]);
	} else {
		/* Retry one by one to find the messages that fail. */
		for (i = 0; i < imp->n; i++) {
			imp->first = i;
			imp->count = 1;
			if (store_write(imp->ctl->store, mailimport_append_txn,
			    imp) < 0)
				mailimport_fail(imp, imp->items[i].label, "%s",
				    err_msg());
			else
				mailimport_done(imp, &imp->items[i]);
		}
	}
	for (i = 0; i < imp->n; i++) {
		store_prepared_free(&imp->items[i].p);
		free(imp->items[i].data);
		free(imp->items[i].keywords);
		free(imp->items[i].label);
	}
	imp->n = 0;
	imp->bytes = 0;
	mailimport_optimize(imp);
}

static void
mailimport_add(struct mail_imp *imp, const char *folder, const char *data,
    size_t len, int64_t date, uint32_t flags, const char *keywords,
    const char *label, uint32_t uid)
{
	struct mail_item *it;
	struct store_prepared *p;
	char *copy;
	size_t box;

	if (mailimport_box(imp, folder, &box) < 0) {
		mailimport_fail(imp, label, "folder %s: %s", folder, err_msg());
		return;
	}
	/* The prepared message refers to its bytes until the batch ends. */
	copy = xmemdup(data, len == 0 ? 1 : len);
	if (store_msg_prepare(imp->ctl->store, copy, len, &p) < 0) {
		mailimport_fail(imp, label, "%s", err_msg());
		free(copy);
		return;
	}
	it = &imp->items[imp->n++];
	it->p = p;
	it->data = copy;
	it->mailbox_id = imp->boxes[box].id;
	it->box = box;
	it->job = imp->cur_job;
	it->uid = imp->boxes[box].keep ? uid : 0;
	it->date = date;
	it->flags = flags;
	it->keywords = keywords != NULL && *keywords != '\0' ?
	    xstrdup(keywords) : NULL;
	it->label = xstrdup(label);
	imp->bytes += len;
	if (imp->n == MAIL_BATCH || imp->bytes >= MAIL_BATCH_BYTES)
		mailimport_flush(imp);
}

/*
 * Import never follows a symbolic link below PATH: the tree may belong to
 * the user whose mail it is, and vellumctl usually runs as root, so a link
 * to /etc/shadow would put that file into a mailbox readable over POP3.
 * Every path below the root is opened one component at a time, relative
 * to the directory above it, with O_NOFOLLOW; a link found while scanning
 * is skipped with a warning that names it.  Opening by component (not by
 * checking first and opening later) also holds when the tree changes
 * between the scan and the read.  PATH itself is the admin's choice and
 * is followed.
 */
static int
mailimport_open_under(int rootfd, const char *rel, int dir)
{
	char *copy = xstrdup(rel), *p = copy, *slash;
	int fd = rootfd, next, flags, saved;

	for (;;) {
		slash = strchr(p, '/');
		if (slash != NULL)
			*slash = '\0';
		flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
		if (slash != NULL || dir)
			flags |= O_DIRECTORY;
		next = openat(fd, p, flags);
		saved = errno;
		if (fd != rootfd)
			close(fd);
		if (next < 0) {
			free(copy);
			if (saved == ELOOP)
				return err_set(ERR_PERM, "%s is a symbolic "
				    "link; not followed", slash != NULL ?
				    "a folder above it" : "it");
			return err_set(ERR_TEMP, "cannot open: %s",
			    strerror(saved));
		}
		fd = next;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	free(copy);
	return fd;
}

/* "rel/name", or "name" at the root (rel ""). */
static char *
mailimport_rel(const char *rel, const char *name)
{
	return rel[0] == '\0' ? xstrdup(name) : xasprintf("%s/%s", rel, name);
}

/* What the messages name: the path as the admin wrote it. */
static char *
mailimport_label(const struct mail_imp *imp, const char *rel)
{
	return rel[0] == '\0' ? xstrdup(imp->root) :
	    xasprintf("%s/%s", imp->root, rel);
}

static void
mailimport_symlink(struct mail_imp *imp, const char *rel)
{
	char *label = mailimport_label(imp, rel);

	if (imp->prog.on && imp->prog.last != 0)
		fprintf(stderr, "\r%*s\r", 70, "");
	fprintf(stderr, "vellumctl: mail import: warning: %s is a symbolic "
	    "link; skipped (links are never followed)\n", label);
	free(label);
	imp->symlinks++;
}

/*
 * Reads a message file: rel under the root (never through a link), or
 * with rel NULL the file the admin named.
 */
static int
mailimport_read_file(struct mail_imp *imp, const struct mail_job *j,
    char **data_r, size_t *len_r)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	ssize_t n;
	int fd;

	if (j->rel != NULL)
		fd = mailimport_open_under(imp->rootfd, j->rel, 0);
	else if ((fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		err_set(ERR_TEMP, "cannot open: %s", strerror(errno));
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(ERR_INVALID, "not a regular file");
	}
	if ((uint64_t)st.st_size >= STORE_MSG_MAX * 4ULL) {
		close(fd);
		return err_set(ERR_TOOBIG, "file too large (%lld bytes)",
		    (long long)st.st_size);
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			close(fd);
			return err_set(ERR_TEMP, "cannot read: %s", n == 0 ?
			    "file shrank" : strerror(errno));
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*data_r = buf;
	*len_r = off;
	return 0;
}

/*
 * Adds the file rel (under the root; st from lstat) or, with rel NULL,
 * the file path the admin named.  Anything but a regular file is left.
 */
static void
mailimport_job_add(struct mail_imp *imp, const char *path, const char *rel,
    const struct stat *st, const char *folder, enum mail_kind kind,
    struct mail_kwmap *kw)
{
	struct mail_job *j;
	const char *base;

	if (!S_ISREG(st->st_mode))
		return;
	imp->jobs = xreallocarray(imp->jobs, imp->njobs + 1,
	    sizeof(*imp->jobs));
	j = &imp->jobs[imp->njobs++];
	memset(j, 0, sizeof(*j));
	j->path = xstrdup(path);
	j->rel = rel != NULL ? xstrdup(rel) : NULL;
	j->folder = xstrdup(folder);
	j->kind = kind;
	j->kw = kw;
	j->size = st->st_size;
	j->mtime = st->st_mtime;
	if (kind == MK_MAILDIR_NEW || kind == MK_MAILDIR_CUR) {
		base = strrchr(path, '/');
		base = base != NULL ? base + 1 : path;
		if (maildir_name_parse(base, &j->mn) < 0)
			memset(&j->mn, 0, sizeof(j->mn));
	}
}

/*
 * Whether directory dfd has a cur/ or new/ directory.  A link named cur or
 * new counts too (without being followed), so that the scan names it as
 * skipped rather than passing over the folder in silence.
 */
static int
mailimport_is_maildir(int dfd)
{
	static const char *const subs[] = { "cur", "new" };
	struct stat st;
	size_t i;

	for (i = 0; i < 2; i++)
		if (fstatat(dfd, subs[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
			return 1;
	return 0;
}

/* Dovecot's "dovecot-keywords": lines "N name", N 0-25 -> letter a+N. */
static struct mail_kwmap *
mailimport_kwmap_read(struct mail_imp *imp, int dfd, const char *rel)
{
	struct mail_kwmap *kw;
	struct stat st;
	char *line, *krel, name[256];
	FILE *fp;
	int fd, idx;

	fd = openat(dfd, "dovecot-keywords", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP) {
			krel = mailimport_rel(rel, "dovecot-keywords");
			mailimport_symlink(imp, krel);
			free(krel);
		}
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return NULL;
	}
	kw = xcalloc(1, sizeof(*kw));
	while ((line = ctl_read_line(fp)) != NULL) {
		if (sscanf(line, "%d %255s", &idx, name) == 2 && idx >= 0 &&
		    idx < MAIL_KW_MAX && kw->names[idx] == NULL)
			kw->names[idx] = xstrdup(name);
		free(line);
	}
	fclose(fp);
	imp->kwmaps = xreallocarray(imp->kwmaps, imp->nkwmaps + 1,
	    sizeof(*imp->kwmaps));
	imp->kwmaps[imp->nkwmaps++] = kw;
	return kw;
}

static char *
mailimport_subfolder(const char *parent, const char *child)
{
	if (strcasecmp(parent, "INBOX") == 0 && strcasecmp(child, "INBOX")
	    != 0)
		return xstrdup(child);
	return xasprintf("%s/%s", parent, child);
}

/*
 * Opens directory rel under the root for reading; NULL after a failure
 * was counted.
 */
static DIR *
mailimport_opendir(struct mail_imp *imp, const char *rel)
{
	DIR *d;
	char *label;
	int fd;

	fd = rel[0] == '\0' ? openat(imp->rootfd, ".", O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC) : mailimport_open_under(imp->rootfd, rel,
	    1);
	if (fd < 0 && rel[0] == '\0')
		err_set(ERR_TEMP, "%s", strerror(errno));
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0) {
			err_set(ERR_TEMP, "%s", strerror(errno));
			close(fd);
		}
		label = mailimport_label(imp, rel);
		mailimport_fail(imp, label, "%s", err_msg());
		free(label);
		return NULL;
	}
	return d;
}

/*
 * One entry of directory d (at rel): 1 with *st filled (lstat), 0 when
 * it is a link (warned about) or gone.
 */
static int
mailimport_entry(struct mail_imp *imp, DIR *d, const char *rel,
    const char *name, struct stat *st)
{
	char *erel;

	if (fstatat(dirfd(d), name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (S_ISLNK(st->st_mode)) {
		erel = mailimport_rel(rel, name);
		mailimport_symlink(imp, erel);
		free(erel);
		return 0;
	}
	return 1;
}

static int
mailimport_scan_maildir(struct mail_imp *imp, const char *rel,
    const char *folder, int recurse)
{
	static const char *const subs[] = { "new", "cur" };
	struct mail_kwmap *kw;
	struct mail_uids *uids;
	struct dirent *de;
	struct stat st;
	DIR *top, *d;
	char *sub, *erel, *path, name[STORE_MAILBOX_NAME_MAX + 1], *child;
	char dec[STORE_MAILBOX_NAME_MAX + 1];
	size_t i, before;

	if ((top = mailimport_opendir(imp, rel)) == NULL)
		return -1;
	kw = mailimport_kwmap_read(imp, dirfd(top), rel);
	before = imp->nuids;
	mailimport_uids_read(imp, dirfd(top), rel, folder);
	uids = imp->nuids > before ? &imp->uids[imp->nuids - 1] : NULL;
	for (i = 0; i < 2; i++) {
		if (!mailimport_entry(imp, top, rel, subs[i], &st) ||
		    !S_ISDIR(st.st_mode))
			continue;
		sub = mailimport_rel(rel, subs[i]);
		if ((d = mailimport_opendir(imp, sub)) == NULL) {
			free(sub);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' ||
			    !mailimport_entry(imp, d, sub, de->d_name, &st))
				continue;
			erel = mailimport_rel(sub, de->d_name);
			path = mailimport_label(imp, erel);
			before = imp->njobs;
			mailimport_job_add(imp, path, erel, &st, folder,
			    i == 0 ? MK_MAILDIR_NEW : MK_MAILDIR_CUR, kw);
			if (uids != NULL && imp->njobs > before)
				imp->jobs[before].uid = uidlist_find(uids->ul,
				    de->d_name);
			free(path);
			free(erel);
		}
		closedir(d);
		free(sub);
	}
	if (!recurse) {
		closedir(top);
		return 0;
	}
	while ((de = readdir(top)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    !mailimport_entry(imp, top, rel, de->d_name, &st) ||
		    !S_ISDIR(st.st_mode))
			continue;
		erel = mailimport_rel(rel, de->d_name);
		path = mailimport_label(imp, erel);
		if ((d = mailimport_opendir(imp, erel)) == NULL) {
			free(path);
			free(erel);
			continue;
		}
		if (!mailimport_is_maildir(dirfd(d))) {
			closedir(d);
			free(path);
			free(erel);
			continue;
		}
		closedir(d);
		if (maildir_folder_to_name(de->d_name, name,
		    sizeof(name)) < 0) {
			mailimport_fail(imp, path, "%s", err_msg());
			free(path);
			free(erel);
			continue;
		}
		/*
		 * Dovecot and Courier keep names in IMAP's modified UTF-7
		 * (".&ANw-n&AO8-code &- folder"); the store keeps UTF-8.  A
		 * name that is not valid UTF-7 is kept as it is.
		 */
		if (strchr(name, '&') != NULL && utf7_decode(name,
		    strlen(name), dec, sizeof(dec)) == 0)
			snprintf(name, sizeof(name), "%s", dec);
		child = mailimport_subfolder(folder, name);
		mailimport_scan_maildir(imp, erel, child, 0);
		free(child);
		free(path);
		free(erel);
	}
	closedir(top);
	return 0;
}

static int
mailimport_scan_dir(struct mail_imp *imp, const char *folder)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	char *path;
	size_t l;

	if ((d = mailimport_opendir(imp, "")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    !mailimport_entry(imp, d, "", de->d_name, &st))
			continue;
		l = strlen(de->d_name);
		path = mailimport_label(imp, de->d_name);
		mailimport_job_add(imp, path, de->d_name, &st, folder, l > 5 &&
		    strcmp(de->d_name + l - 5, ".mbox") == 0 ? MK_MBOX :
		    MK_FILE, NULL);
		free(path);
	}
	closedir(d);
	return 0;
}

/*
 * Folder, then the messages of its UID list by UID, then the others by
 * date, then name (the order Dovecot gives new files UIDs in): UIDs
 * follow delivery order.
 */
static int
mailimport_job_cmp(const void *va, const void *vb)
{
	const struct mail_job *a = va, *b = vb;
	int c;
	time_t da, db;

	if ((c = strcmp(a->folder, b->folder)) != 0)
		return c;
	if ((a->uid != 0) != (b->uid != 0))
		return a->uid != 0 ? -1 : 1;
	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	da = a->mn.date != 0 ? a->mn.date : a->mtime;
	db = b->mn.date != 0 ? b->mn.date : b->mtime;
	if (a->kind != MK_MAILDIR_NEW && a->kind != MK_MAILDIR_CUR)
		da = db = 0;	/* plain files: by name */
	if (da != db)
		return da < db ? -1 : 1;
	return strcmp(a->path, b->path);
}

static void
mailimport_run_job(struct mail_imp *imp, struct mail_job *j)
{
	struct mbox_msg m;
	char *data = NULL, *msg, *label, kw[STORE_KEYWORDS_MAX + 1], *kept;
	size_t len = 0, mlen, off, nmsg, k, klen;
	uint32_t flags = 0;
	unsigned mf;
	int64_t date;

	if (mailimport_read_file(imp, j, &data, &len) < 0) {
		mailimport_fail(imp, j->path, "%s", err_msg());
		ctl_progress_step(&imp->prog, (uint64_t)j->size);
		return;
	}
	if (j->kind == MK_AUTO)
		j->kind = mbox_is_mbox(data, len) ? MK_MBOX : MK_FILE;
	kw[0] = '\0';
	switch (j->kind) {
	case MK_MAILDIR_NEW:
	case MK_MAILDIR_CUR:
		/*
		 * The info part counts in new/ too: Dovecot renames a
		 * message there to "name:2,S" when a flag changes before
		 * any session moved it to cur/ (doveadm flags, a POP3
		 * RETR); a name without one has no flags either way.
		 */
		mf = j->mn.flags;
		flags = (mf & MAILDIR_F_SEEN ? STORE_F_SEEN : 0) |
		    (mf & MAILDIR_F_REPLIED ? STORE_F_ANSWERED : 0) |
		    (mf & MAILDIR_F_FLAGGED ? STORE_F_FLAGGED : 0) |
		    (mf & MAILDIR_F_TRASHED ? STORE_F_DELETED : 0) |
		    (mf & MAILDIR_F_DRAFT ? STORE_F_DRAFT : 0);
		if (mf & MAILDIR_F_PASSED)
			snprintf(kw, sizeof(kw), "%s", MAIL_FORWARDED);
		for (k = 0; j->kw != NULL && j->mn.keywords[k] != '\0';
		    k++) {
			const char *name =
			    j->kw->names[j->mn.keywords[k] - 'a'];

			if (name != NULL && strlen(kw) + strlen(name) + 2 <
			    sizeof(kw))
				snprintf(kw + strlen(kw), sizeof(kw) -
				    strlen(kw), "%s%s", kw[0] != '\0' ? " " :
				    "", name);
		}
		date = j->mn.date != 0 ? (int64_t)j->mn.date :
		    (int64_t)j->mtime;
		mailimport_add(imp, j->folder, data, len, date, flags, kw,
		    j->path, j->uid);
		ctl_progress_step(&imp->prog, (uint64_t)j->size);
		break;
	case MK_FILE:
		msg = data;
		mlen = len;
		date = j->mtime;
		if (mbox_is_mbox(data, len)) {
			/* A leading envelope line: drop it, keep its date. */
			char sender[MBOX_SENDER_MAX + 1];
			char *nl = memchr(data, '\n', len);
			size_t skip = nl != NULL ? (size_t)(nl - data) + 1 :
			    len;
			size_t elen = skip - 5 - (nl != NULL ? 1 : 0);
			time_t t;

			if (elen > 0 && data[5 + elen - 1] == '\r')
				elen--;
			mbox_envelope_parse(data + 5, elen, sender, &t);
			if (t != 0)
				date = t;
			msg = data + skip;
			mlen = len - skip;
		}
		mf = mbox_status_flags(msg, mlen);
		flags = (mf & MBOX_F_SEEN ? STORE_F_SEEN : 0) |
		    (mf & MBOX_F_ANSWERED ? STORE_F_ANSWERED : 0) |
		    (mf & MBOX_F_FLAGGED ? STORE_F_FLAGGED : 0) |
		    (mf & MBOX_F_DELETED ? STORE_F_DELETED : 0) |
		    (mf & MBOX_F_DRAFT ? STORE_F_DRAFT : 0);
		mailimport_add(imp, j->folder, msg, mlen, date, flags, NULL,
		    j->path, 0);
		ctl_progress_step(&imp->prog, (uint64_t)j->size);
		break;
	case MK_MBOX:
	default:
		off = 0;
		nmsg = 0;
		for (;;) {
			size_t before = off;
			int rc = mbox_next(data, len, &off, &m);

			if (rc == 0)
				break;
			if (rc < 0) {
				mailimport_fail(imp, j->path, "%s", err_msg());
				break;
			}
			nmsg++;
			msg = mbox_msg_dup(&m, &mlen);
			/*
			 * Status:/X-Status: become flags and leave the
			 * message (mutt rewrites them, Dovecot drops them);
			 * the envelope sender stays as Return-Path.
			 */
			mf = mbox_status_flags(msg, mlen);
			mlen = mbox_status_strip(msg, mlen);
			if ((kept = mbox_sender_keep(m.sender, msg, mlen,
			    &klen)) != NULL) {
				free(msg);
				msg = kept;
				mlen = klen;
			}
			flags = (mf & MBOX_F_SEEN ? STORE_F_SEEN : 0) |
			    (mf & MBOX_F_ANSWERED ? STORE_F_ANSWERED : 0) |
			    (mf & MBOX_F_FLAGGED ? STORE_F_FLAGGED : 0) |
			    (mf & MBOX_F_DELETED ? STORE_F_DELETED : 0) |
			    (mf & MBOX_F_DRAFT ? STORE_F_DRAFT : 0);
			label = xasprintf("%s: message %zu (byte %zu)",
			    j->path, nmsg, m.offset);
			mailimport_add(imp, j->folder, msg, mlen, m.date != 0 ?
			    (int64_t)m.date : (int64_t)j->mtime, flags, NULL,
			    label, 0);
			free(label);
			free(msg);
			ctl_progress_step(&imp->prog, off - before);
		}
		break;
	}
	free(data);
}

/* The summary of an import: one line, then one per folder that kept UIDs. */
static void
mailimport_text(const struct mail_imp *imp, const char *path,
    const char *address)
{
	size_t i;

	printf("mail import %s: %zu messages imported (%" PRIu64 " bytes) "
	    "into %s, %zu failed", path, imp->imported,
	    imp->imported_bytes, address, imp->failed);
	if (imp->skipped > 0)
		printf(", %zu already there (imported before)", imp->skipped);
	if (imp->symlinks > 0)
		printf(", %zu symbolic link%s skipped", imp->symlinks,
		    imp->symlinks == 1 ? "" : "s");
	printf("\n");
	for (i = 0; i < imp->nboxes; i++)
		if (imp->boxes[i].keep)
			printf("mail import: folder %s keeps UIDVALIDITY %"
			    PRIu32 ", next UID %" PRIu32 " and the UIDs of "
			    "%zu message%s (%s)\n", imp->boxes[i].name,
			    imp->boxes[i].uids->ul->uidvalidity,
			    imp->boxes[i].uids->ul->nextuid,
			    imp->boxes[i].kept, imp->boxes[i].kept == 1 ? "" :
			    "s", imp->boxes[i].uids->file);
}

/* The same as one JSON object (vellumctl --json). */
static void
mailimport_json(const struct mail_imp *imp, const char *path,
    const char *address)
{
	size_t i, n = 0;

	printf("{\"command\": \"mail\", \"verb\": \"import\", \"ok\": %s, "
	    "\"source\": ", imp->failed == 0 ? "true" : "false");
	ctl_json_str(stdout, path);
	printf(", \"address\": ");
	ctl_json_str(stdout, address);
	printf(", \"imported\": %zu, \"bytes\": %" PRIu64 ", \"failed\": %zu, "
	    "\"already_there\": %zu, \"symlinks_skipped\": %zu, "
	    "\"kept_uids\": [", imp->imported, imp->imported_bytes,
	    imp->failed, imp->skipped, imp->symlinks);
	for (i = 0; i < imp->nboxes; i++) {
		if (!imp->boxes[i].keep)
			continue;
		printf("%s{\"folder\": ", n++ > 0 ? ", " : "");
		ctl_json_str(stdout, imp->boxes[i].name);
		printf(", \"uidvalidity\": %" PRIu32 ", \"uidnext\": %"
		    PRIu32 ", \"messages\": %zu, \"list\": ",
		    imp->boxes[i].uids->ul->uidvalidity,
		    imp->boxes[i].uids->ul->nextuid, imp->boxes[i].kept);
		ctl_json_str(stdout, imp->boxes[i].uids->file);
		printf("}");
	}
	printf("]}\n");
}

int
mailimport_run(struct ctl *ctl, const char *address, const char *path,
    const char *folder)
{
	struct mail_imp *imp;
	struct stat st;
	uint64_t total = 0;
	size_t i, k;
	int rc;

	if (stat(path, &st) < 0)
		return ctl_failx("mail import: cannot read %s: %s", path,
		    strerror(errno));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	imp = xcalloc(1, sizeof(*imp));
	imp->ctl = ctl;
	if ((rc = ctl_user_find(ctl, address, &imp->user_id)) <= 0) {
		free(imp);
		if (rc == 0)
			return ctl_failx("mail import: no user %s ('vellumctl "
			    "user list' shows the users)", address);
		return ctl_fail(NULL, "mail import %s", address);
	}
	imp->root = path;
	imp->rootfd = -1;
	if (S_ISDIR(st.st_mode) && (imp->rootfd = open(path, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) < 0)
		mailimport_fail(imp, path, "%s", strerror(errno));
	else if (S_ISDIR(st.st_mode)) {
		if (mailimport_is_maildir(imp->rootfd))
			mailimport_scan_maildir(imp, "", folder, 1);
		else
			mailimport_scan_dir(imp, folder);
	} else
		mailimport_job_add(imp, path, NULL, &st, folder, MK_AUTO, NULL);
	if (imp->njobs > 0)	/* qsort(NULL, 0) is undefined */
		qsort(imp->jobs, imp->njobs, sizeof(*imp->jobs),
		    mailimport_job_cmp);
	/*
	 * One base name in both new/ and cur/ matches one UID: the first
	 * file keeps it, the other is a message of its own with a new UID.
	 */
	for (i = 1, k = 0; i < imp->njobs; i++)
		if (imp->jobs[i].uid != 0 && imp->jobs[i].uid ==
		    imp->jobs[i - 1].uid && strcmp(imp->jobs[i].folder,
		    imp->jobs[i - 1].folder) == 0) {
			mailimport_warn(imp, "%s: its UID %" PRIu32 " is "
			    "%s's; it gets a new one", imp->jobs[i].path,
			    imp->jobs[i].uid, imp->jobs[i - 1].path);
			imp->jobs[i].uid = 0;
			k++;
		}
	if (k > 0)
		qsort(imp->jobs, imp->njobs, sizeof(*imp->jobs),
		    mailimport_job_cmp);
	for (i = 0; i < imp->njobs; i++)
		total += (uint64_t)imp->jobs[i].size;
	ctl_progress_start(&imp->prog, "mail import", total);
	for (i = 0; i < imp->njobs; i++) {
		imp->cur_job = i;
		mailimport_run_job(imp, &imp->jobs[i]);
	}
	mailimport_flush(imp);
	/* Listed messages whose UID was taken: after every listed one. */
	for (i = 0; i < imp->nlater; i++) {
		imp->cur_job = imp->later[i];
		imp->jobs[imp->later[i]].uid = 0;
		mailimport_run_job(imp, &imp->jobs[imp->later[i]]);
	}
	mailimport_flush(imp);
	for (i = 0; i < imp->njobs; i++) {
		free(imp->jobs[i].path);
		free(imp->jobs[i].rel);
		free(imp->jobs[i].folder);
	}
	free(imp->later);
	/* Kept folders: UIDNEXT as the list says, even past the last UID. */
	for (i = 0; i < imp->nboxes; i++) {
		if (!imp->boxes[i].keep)
			continue;
		imp->raise = &imp->boxes[i];
		if (store_write(ctl->store, mailimport_raise_txn, imp) < 0)
			mailimport_fail(imp, imp->boxes[i].uids->file, "%s",
			    err_msg());
	}
	/*
	 * The last batches' copied pages are free in the file: given back
	 * to the file system (store/trim.h), a warning when that fails.
	 */
	if (imp->imported > 0)
		mailimport_trim(imp);
	ctl_progress_end(&imp->prog);
	if (ctl->json)
		mailimport_json(imp, path, address);
	else
		mailimport_text(imp, path, address);
	if (imp->rootfd >= 0)
		close(imp->rootfd);
	rc = imp->failed > 0 ? CTL_FAIL : CTL_OK;
	for (i = 0; i < imp->nboxes; i++)
		free(imp->boxes[i].name);
	for (i = 0; i < imp->nkwmaps; i++) {
		for (k = 0; k < MAIL_KW_MAX; k++)
			free(imp->kwmaps[i]->names[k]);
		free(imp->kwmaps[i]);
	}
	free(imp->kwmaps);
	for (i = 0; i < imp->nuids; i++) {
		free(imp->uids[i].folder);
		free(imp->uids[i].file);
		uidlist_free(&imp->uids[i].ul);
	}
	free(imp->uids);
	free(imp->boxes);
	free(imp->jobs);
	free(imp);
	return rc;
}

