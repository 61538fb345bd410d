/*
 * filter.c - the user's filter file (store/filter.h) as Mail/.mailfilter:
 * read it, and edit it as a shell user edits any file.
 *
 * The stored text changes only as a whole and only to a text that
 * parses (filter/lang.h), so an edit collects in a draft in memory (one
 * per user: made by the first write, truncation or create, from the
 * stored text or empty) and is checked and stored when the writer is
 * done: at fsync(2) (whose error the editor sees), when an editor's new
 * copy is renamed over the name (fs_filter_rename(); rename's error),
 * when the last descriptor goes (release), or once the draft has had no
 * change for FS_FILTER_SAVE_DELAY (cp, `>`: the kernel tells a FUSE file
 * system of a close(2) only through FLUSH, and answering FLUSH would
 * cost every close of every message file on the mount a round trip).
 * A draft that does not parse is dropped and the refusal logged
 * ("FILE:LINE:COL: ..."): the stored filter stays as it was, and so does
 * the file, which shows the stored text again.  An empty draft is stored
 * the same way (the shell's `>` truncates before it writes, within the
 * delay): an empty file is no filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <event2/event.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "filter/lang.h"
#include "fs/fs.h"
#include "fs/node.h"
#include "store/filter.h"
#include "store/user.h"

/* A draft with no change for this long (seconds) is checked and stored. */
#define FS_FILTER_SAVE_DELAY	1

struct draft {
	uint32_t	 user;
	char		*buf;
	size_t		 len, size;
	int		 dirty;
	time_t		 changed;	/* the last write or truncation */
	char		 addr[STORE_ADDRESS_MAX + 1];	/* for the log */
};

static struct draft	*drafts;
static size_t		 ndrafts;
static struct event	*save_ev;

static struct draft	*draft_find(uint32_t);
static int		 draft_get(uint32_t, struct draft **);
static void		 draft_drop(uint32_t);
static int		 draft_room(struct draft *, size_t);
static int		 filter_commit(uint32_t, const char *, const char *,
			    size_t);
static uint32_t		 filter_hash(const char *, size_t);
static void		 filter_on_idle(evutil_socket_t, short, void *);
static void		 draft_changed(struct draft *);

static struct draft *
draft_find(uint32_t user)
{
	size_t i;

	for (i = 0; i < ndrafts; i++)
		if (drafts[i].user == user)
			return &drafts[i];
	return NULL;
}

static void
draft_drop(uint32_t user)
{
	struct draft *d = draft_find(user);

	if (d == NULL)
		return;
	free(d->buf);
	*d = drafts[--ndrafts];
}

static int
draft_room(struct draft *d, size_t len)
{
	if (len > STORE_FILTER_MAX)
		return EFBIG;
	if (len + 1 > d->size) {
		d->size = len + 1 < 4096 ? 4096 : len + 1;
		d->buf = xreallocarray(d->buf, d->size, 1);
	}
	return 0;
}

struct fget {
	uint32_t	 user;
	char		*text;
	size_t		 len;
	struct store_user u;
};

static int
fget_txn(struct store_txn *t, void *ctx)
{
	struct fget *q = ctx;
	int rc;

	free(q->text);
	q->text = NULL;
	q->len = 0;
	if ((rc = store_user_get(t, q->user, &q->u)) != 1)
		return rc;
	return store_filter_get(t, q->user, &q->text, &q->len) < 0 ? -1 : 1;
}

/* The draft of user, made from the stored text when there is none. */
static int
draft_get(uint32_t user, struct draft **d_r)
{
	struct fget q;
	struct draft *d;
	int rc;

	if ((*d_r = draft_find(user)) != NULL)
		return 0;
	memset(&q, 0, sizeof(q));
	q.user = user;
	if ((rc = store_read(fs.store, fget_txn, &q)) != 1) {
		free(q.text);
		if (rc < 0)
			log_warnx(".mailfilter: %s", err_msg());
		return rc < 0 ? EIO : ENOENT;
	}
	drafts = xreallocarray(drafts, ndrafts + 1, sizeof(*drafts));
	d = &drafts[ndrafts++];
	memset(d, 0, sizeof(*d));
	d->user = user;
	snprintf(d->addr, sizeof(d->addr), "%s", q.u.address);
	draft_room(d, q.len);
	if (q.len > 0)
		memcpy(d->buf, q.text, q.len);
	d->len = q.len;
	free(q.text);
	*d_r = d;
	return 0;
}

/* A hash of the text: the file's mtime moves when the text does. */
static uint32_t
filter_hash(const char *p, size_t len)
{
	uint32_t h = 2166136261U;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619U;
	return h;
}

int
fs_filter_node(struct store_txn *t, uint64_t ino, struct fs_node *n)
{
	uint32_t user = (uint32_t)fs_ino_id(ino);
	struct draft *d;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = store_user_get(t, user, &n->u)) != 1)
		return rc;
	if ((d = draft_find(user)) != NULL) {
		n->filterlen = d->len;
		n->filterhash = filter_hash(d->buf, d->len);
	} else {
		if ((rc = store_filter_get(t, user, &text, &len)) != 1)
			return rc;
		n->filterlen = len;
		n->filterhash = filter_hash(text, len);
		free(text);
	}
	n->kind = FS_K_FILTER;
	n->ino = ino;
	return 1;
}

int
fs_filter_text(struct store_txn *t, uint32_t user, char **text_r,
    size_t *len_r)
{
	struct draft *d;

	if ((d = draft_find(user)) != NULL) {
		*text_r = xmemdup(d->buf, d->len + 1);
		*len_r = d->len;
		return 1;
	}
	return store_filter_get(t, user, text_r, len_r);
}

int
fs_filter_create(uint32_t user, int flags)
{
	struct draft *d;
	int e;

	if ((flags & O_EXCL) && fs_node_read(fs_ino(FS_K_FILTER, user),
	    &(struct fs_node){ 0 }) == 1)
		return EEXIST;
	if ((e = draft_get(user, &d)) != 0)
		return e;
	if ((flags & O_TRUNC) && d->len > 0) {
		d->len = 0;
		draft_changed(d);
	}
	fs_inval_inode(fs_ino(FS_K_FILTER, user));
	return 0;
}

int
fs_filter_write(uint64_t ino, const char *buf, size_t size, off_t off)
{
	uint32_t user = (uint32_t)fs_ino_id(ino);
	struct draft *d;
	size_t end;
	int e;

	if (off < 0 || (uint64_t)off + size > STORE_FILTER_MAX)
		return EFBIG;
	if ((e = draft_get(user, &d)) != 0)
		return e;
	end = (size_t)off + size;
	if ((e = draft_room(d, end > d->len ? end : d->len)) != 0)
		return e;
	if ((size_t)off > d->len)
		memset(d->buf + d->len, 0, (size_t)off - d->len);
	memcpy(d->buf + off, buf, size);
	if (end > d->len)
		d->len = end;
	draft_changed(d);
	return 0;
}

int
fs_filter_truncate(uint64_t ino, off_t size)
{
	uint32_t user = (uint32_t)fs_ino_id(ino);
	struct draft *d;
	int e;

	if (size < 0 || (uint64_t)size > STORE_FILTER_MAX)
		return EFBIG;
	if ((e = draft_get(user, &d)) != 0)
		return e;
	if ((size_t)size == d->len)
		return 0;
	if ((e = draft_room(d, (size_t)size)) != 0)
		return e;
	if ((size_t)size > d->len)
		memset(d->buf + d->len, 0, (size_t)size - d->len);
	d->len = (size_t)size;
	draft_changed(d);
	return 0;
}

struct fset {
	uint32_t	 user;
	const char	*text;
	size_t		 len;
};

static int
fset_txn(struct store_txn *t, void *ctx)
{
	struct fset *q = ctx;

	return store_filter_set(t, q->user, q->text, q->len);
}

/*
 * Checks text[len] and stores it as user's filter (len 0: deletes it):
 * 0, or EINVAL (it does not parse: logged "FILE:LINE:COL: message", the
 * stored filter unchanged), or an errno of the store's error.
 */
static int
filter_commit(uint32_t user, const char *addr, const char *text, size_t len)
{
	struct filter_prog *prog = NULL;
	struct filter_error fe;
	struct fset q = { user, text, len };
	char msg[FILTER_ERROR_MAX + 300];
	int rc;

	if (len > 0) {
		memset(&fe, 0, sizeof(fe));
		rc = filter_parse("Mail/" FS_FILTER_NAME, text, len, &prog,
		    &fe);
		filter_prog_free(&prog);
		if (rc != 1) {
			filter_error_format(&fe, msg, sizeof(msg));
			log_warnx("%s: filter refused: %s", addr, msg);
			return EINVAL;
		}
	}
	if (store_write(fs.store, fset_txn, &q) < 0) {
		log_warnx("%s: storing the filter: %s", addr, err_msg());
		switch (err_class()) {
		case ERR_INVALID:
			return EINVAL;
		case ERR_NOTFOUND:
			return ENOENT;
		case ERR_TOOBIG:
			return EFBIG;
		default:
			return EIO;
		}
	}
	log_info("%s: filter %s (%zu bytes)", addr, len > 0 ? "stored" :
	    "deleted", len);
	return 0;
}

/* A change to a draft: it is saved once it has had none for a while. */
static void
draft_changed(struct draft *d)
{
	struct timeval tv = { FS_FILTER_SAVE_DELAY, 0 };

	d->dirty = 1;
	d->changed = time(NULL);
	if (save_ev == NULL && (save_ev = evtimer_new(fs.base, filter_on_idle,
	    NULL)) == NULL)
		fatalx("event loop: cannot add a timer");
	if (!evtimer_pending(save_ev, NULL))
		evtimer_add(save_ev, &tv);
}

int
fs_filter_flush(uint64_t ino, int last)
{
	uint32_t user = (uint32_t)fs_ino_id(ino);
	struct draft *d = draft_find(user);
	size_t len;
	int e = 0;

	if (d == NULL)
		return 0;
	len = d->len;
	if (d->dirty)
		e = filter_commit(user, d->addr, d->buf, len);
	else if (!last)
		return 0;
	/* Stored, refused or unchanged: the file is the stored text again. */
	draft_drop(user);
	fs_inval_inode(ino);
	if (len == 0 || e != 0)
		fs_inval_entry(fs_ino(FS_K_MAILDIR, user), FS_FILTER_NAME);
	return e;
}

/* The drafts that had no change for FS_FILTER_SAVE_DELAY: saved. */
static void
filter_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { FS_FILTER_SAVE_DELAY, 0 };
	time_t now = time(NULL);
	size_t i = 0;
	int wait = 0;

	(void)fd;
	(void)what;
	(void)arg;
	while (i < ndrafts) {
		struct draft *d = &drafts[i];

		if (d->dirty && now - d->changed >= FS_FILTER_SAVE_DELAY) {
			/* fs_filter_flush() drops it: drafts[i] is another. */
			fs_filter_flush(fs_ino(FS_K_FILTER, d->user), 1);
			continue;
		}
		wait |= d->dirty;
		i++;
	}
	if (wait)
		evtimer_add(save_ev, &tv);
}

int
fs_filter_unlink(uint32_t user, const char *addr)
{
	int e;

	draft_drop(user);
	e = filter_commit(user, addr, "", 0);
	fs_inval_inode(fs_ino(FS_K_FILTER, user));
	return e;
}

int
fs_filter_rename(uint32_t mbox, int area, const char *name, uint32_t user,
    const char *addr)
{
	struct stat st;
	void *data;
	size_t len;
	int e;

	if ((e = fs_tmp_map(mbox, area, name, &data, &len, &st)) != 0)
		return e;
	if (len > STORE_FILTER_MAX)
		e = EFBIG;
	else
		e = filter_commit(user, addr, len > 0 ? data : "", len);
	if (data != NULL)
		munmap(data, len);
	if (e != 0)
		return e;
	/*
	 * The new text is the file: the copy goes, as rename(2) moves it
	 * (the kernel holds its inode under the name for a moment: it shows
	 * the filter).
	 */
	draft_drop(user);
	if ((e = fs_tmp_to_filter(mbox, area, name, user)) != 0)
		log_warnx("%s: removing %s after storing it as the filter: "
		    "%s", addr, name, strerror(e));
	fs_inval_inode(fs_ino(FS_K_FILTER, user));
	fs_inval_entry(fs_ino(FS_K_MAILDIR, user), FS_FILTER_NAME);
	return 0;
}
