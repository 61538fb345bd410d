/*
 * track.c - the message files the kernel holds by name, and the mtime
 * of cur/ and new/.
 *
 * One open-addressing table keyed by inode number (linear probing,
 * deletion by shifting back, so no tombstones).  A record is 32 bytes:
 * an `ls -l` of a 100,000-message cur/ makes 100,000 of them (3.2 MB,
 * 8 MiB of table at most),
 * and the kernel's FORGETs take them away again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "fs/fs.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/user.h"

struct trk {
	uint64_t	ino;		/* 0: free slot */
	int64_t		date;
	uint32_t	size;		/* messages are below 4 GiB (STORE_MSG_MAX) */
	uint32_t	nlookup;
	uint32_t	bits;		/* info letters (fs_info_bits()) */
	uint8_t		in_new;		/* shown in new/ (else cur/) */
	uint8_t		named;		/* the kernel holds the name below */
};

static struct trk	*trk_tab;

/* The directory (cur/ or new/) t is shown in. */
static uint64_t
trk_parent(const struct trk *t)
{
	return fs_ino(t->in_new ? FS_K_NEW : FS_K_CUR, fs_ino_mbox(t->ino));
}

static size_t		 trk_cap, trk_n;

/*
 * Per mailbox: the mtime of cur/ and new/, and what the mailbox looked
 * like when its tracked names were last known right (known set once a
 * message of it is tracked).  Same scheme as the records.
 */
struct dmt {
	uint32_t	mbox;		/* 0: free */
	struct timespec	mtime;
	int		observed;	/* mtime was shown since it moved */
	int		known;
	uint64_t	modseq;
	uint32_t	uidnext, messages, recent;
	uint32_t	fs_uid, fs_gid;	/* its user's mapping (the owner) */
};
#define mbox_state	dmt_get
static struct dmt	*dmt_tab;
static size_t		 dmt_cap, dmt_n;

static size_t	 trk_slot(uint64_t);
static struct trk *trk_find(uint64_t);
static void	 trk_resize(size_t);
static void	 trk_del(struct trk *);
static void	 trk_name_drop(struct trk *);
static void	 dmt_touch_all(void);
static struct dmt *dmt_get(uint32_t);
static void	 dmt_del(uint32_t);
struct trk_sync;
struct store_txn;
static void	 alias_sync(struct store_txn *, struct trk_sync *);

static size_t
trk_slot(uint64_t ino)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)ino & (trk_cap - 1);
}

static struct trk *
trk_find(uint64_t ino)
{
	size_t i;

	if (trk_cap == 0)
		return NULL;
	for (i = trk_slot(ino); trk_tab[i].ino != 0; i = (i + 1) &
	    (trk_cap - 1))
		if (trk_tab[i].ino == ino)
			return &trk_tab[i];
	return NULL;
}

/* Rehashes every record into a table of cap slots (a power of 2). */
static void
trk_resize(size_t cap)
{
	struct trk *old = trk_tab;
	size_t i, j, ocap = trk_cap;

	trk_cap = cap;
	trk_tab = xcalloc(trk_cap, sizeof(*trk_tab));
	for (i = 0; i < ocap; i++) {
		if (old[i].ino == 0)
			continue;
		for (j = trk_slot(old[i].ino); trk_tab[j].ino != 0;
		    j = (j + 1) & (trk_cap - 1))
			;
		trk_tab[j] = old[i];
	}
	free(old);
}

static void
trk_del(struct trk *t)
{
	size_t i = (size_t)(t - trk_tab), j = i, k;

	trk_tab[i].ino = 0;
	trk_n--;
	for (;;) {
		j = (j + 1) & (trk_cap - 1);
		if (trk_tab[j].ino == 0)
			break;
		k = trk_slot(trk_tab[j].ino);
		/* Move j back to i when its home slot is not in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		trk_tab[i] = trk_tab[j];
		trk_tab[j].ino = 0;
		i = j;
	}
	/* Shrink when mostly empty (an ls -l of a big folder went away). */
	if (trk_cap > 1024 && trk_n < trk_cap / 8)
		trk_resize(trk_cap / 4);
}

void
fs_track_lookup(uint64_t ino, uint64_t parent, int64_t date, uint64_t size,
    uint32_t bits, const struct store_mailbox *mb, const struct store_user *u)
{
	struct dmt *d = dmt_get(mb->id);
	struct trk *t;
	size_t i;

	/*
	 * The first name of a mailbox: its state as of the snapshot the
	 * name came from (a later state would hide changes in between).
	 */
	if (!d->known) {
		d->known = 1;
		d->modseq = mb->highestmodseq;
		d->uidnext = mb->uidnext;
		d->messages = mb->messages;
		d->recent = mb->recent_uid;
		d->fs_uid = u->fs_uid;
		d->fs_gid = u->fs_gid;
	}

	if ((t = trk_find(ino)) == NULL) {
		if ((trk_n + 1) * 4 > trk_cap * 3)
			trk_resize(trk_cap == 0 ? 1024 : trk_cap * 2);
		for (i = trk_slot(ino); trk_tab[i].ino != 0;
		    i = (i + 1) & (trk_cap - 1))
			;
		t = &trk_tab[i];
		memset(t, 0, sizeof(*t));
		t->ino = ino;
		trk_n++;
	} else if (t->named && (trk_parent(t) != parent || t->bits != bits)) {
		/* Shown under a name that is stale now: drop that one. */
		trk_name_drop(t);
	}
	if (t->nlookup < UINT32_MAX)
		t->nlookup++;
	t->in_new = fs_ino_kind(parent) == FS_K_NEW;
	t->date = date;
	t->size = (uint32_t)size;
	t->bits = bits;
	t->named = 1;
}

void
fs_track_forget(uint64_t ino, uint64_t n)
{
	struct trk *t;

	if ((t = trk_find(ino)) == NULL)
		return;
	if (t->nlookup <= n)
		trk_del(t);
	else
		t->nlookup -= n;
}

void
fs_track_renamed(uint64_t ino, uint64_t parent, int64_t date, uint64_t size,
    uint32_t bits, int canonical)
{
	struct trk *t;

	if ((t = trk_find(ino)) == NULL)
		return;
	t->in_new = fs_ino_kind(parent) == FS_K_NEW;
	t->date = date;
	t->size = (uint32_t)size;
	t->bits = bits;
	t->named = canonical;
}

/* Invalidates the name the kernel holds for t. */
static void
trk_name_drop(struct trk *t)
{
	char name[FS_NAME_MAX + 1], info[STORE_MAILDIR_INFO_MAX];

	if (!t->named)
		return;
	t->named = 0;
	if (fs_msg_name(t->date, fs_ino_uid(t->ino), t->size,
	    t->in_new, fs_info_string(t->bits, info),
	    name, sizeof(name)) == 1)
		fs_inval_entry(trk_parent(t), name);
}

struct trk_sync {
	uint32_t	 mbox;		/* the mailbox being synced */
	uint32_t	 cur_mbox;	/* whose list kwlist is */
	uint32_t	 recent;
	int		 exists;
	int		 gone;		/* s->mbox no longer exists */
	char		*kwlist;
};

/* Loads the mailbox of t for comparisons; 1 it exists, 0 not. */
static int
trk_sync_mbox(struct store_txn *txn, struct trk_sync *s, uint32_t mbox)
{
	struct store_mailbox mb;

	if (s->cur_mbox == mbox)
		return s->exists;
	free(s->kwlist);
	s->kwlist = NULL;
	s->cur_mbox = mbox;
	s->exists = store_mailbox_get_by_id(txn, mbox, &mb) == 1 &&
	    store_maildir_keywords(txn, mbox, &s->kwlist) == 1;
	s->recent = s->exists ? mb.recent_uid : 0;
	return s->exists;
}

/* The name the kernel holds for row m, if any, still right? */
static int
trk_check_row(const struct store_msg *m, void *ctx)
{
	struct trk_sync *s = ctx;
	char info[STORE_MAILDIR_INFO_MAX];
	struct trk *t;

	if ((t = trk_find(fs_ino_msg(m->mailbox_id, m->uid))) == NULL ||
	    !t->named)
		return 0;
	if (fs_ino(fs_msg_in_new(m, s->recent) ? FS_K_NEW : FS_K_CUR,
	    m->mailbox_id) != trk_parent(t) || fs_info_bits(store_maildir_info(
	    m->flags, m->keywords, s->kwlist, info)) != t->bits)
		trk_name_drop(t);
	return 0;
}

/* Rows in [from, to): for a move of recent_uid. */
struct trk_range {
	struct trk_sync	*s;
	uint32_t	 to;
	int		 stopped;
};

static int
trk_range_row(const struct store_msg *m, void *ctx)
{
	struct trk_range *r = ctx;

	if (m->uid >= r->to) {
		r->stopped = 1;
		return -1;
	}
	return trk_check_row(m, r->s);
}

static int
trk_expunged(uint32_t uid, uint64_t modseq, void *ctx)
{
	struct trk_sync *s = ctx;
	struct trk *t;

	(void)modseq;
	if ((t = trk_find(fs_ino_msg(s->mbox, uid))) != NULL)
		trk_name_drop(t);
	return 0;
}

/* The kernel's attributes of every message of mbox it holds. */
static void
trk_inval_attrs(uint32_t mbox)
{
	size_t i;

	for (i = 0; i < trk_cap; i++)
		if (trk_tab[i].ino != 0 && fs_ino_mbox(trk_tab[i].ino) == mbox)
			fs_inval_inode(trk_tab[i].ino);
}

/* Every record of s->mbox, one by one (when nothing narrower works). */
static void
trk_sync_all(struct store_txn *txn, struct trk_sync *s)
{
	struct store_msg m;
	size_t i;

	for (i = 0; i < trk_cap; i++) {
		struct trk *t = &trk_tab[i];

		if (t->ino == 0 || !t->named || fs_ino_mbox(t->ino) != s->mbox)
			continue;
		if (!s->exists || store_msg_get(txn, s->mbox,
		    fs_ino_uid(t->ino), &m) != 1)
			trk_name_drop(t);
		else
			trk_check_row(&m, s);
	}
}

/*
 * What changed in a mailbox since the state kept for it, found the cheap
 * way: appends alone (the modseq, UIDNEXT and the message count all moved
 * by the same amount) rename nothing; a move of recent_uid renames only
 * the rows between its old and new value; flag changes and expunges are
 * the rows changed since the old modseq and the expunge log.  So a
 * delivery into a listed 100,000-message folder costs no scan at all.
 */
static int
trk_sync_txn(struct store_txn *txn, void *ctx)
{
	struct trk_sync *s = ctx;
	struct store_mailbox mb;
	struct store_user u;
	struct trk_range r;
	struct dmt *d;
	uint64_t dmod;
	int64_t dnext, dmsg;
	int rc;

	d = mbox_state(s->mbox);
	if (!trk_sync_mbox(txn, s, s->mbox) ||
	    store_mailbox_get_by_id(txn, s->mbox, &mb) != 1) {
		trk_sync_all(txn, s);
		d->known = 0;
		s->gone = 1;
		goto aliases;
	}
	if (store_user_get(txn, mb.user_id, &u) != 1)
		memset(&u, 0, sizeof(u));
	if (!d->known)
		goto done;
	/*
	 * The owner of every file of the mailbox follows its user's mapping
	 * (vellumctl user set ... unix-user): the attributes the kernel
	 * keeps go, whatever else came in the same batch of notifications.
	 */
	if (u.fs_uid != d->fs_uid || u.fs_gid != d->fs_gid)
		trk_inval_attrs(s->mbox);
	if (mb.recent_uid != d->recent) {
		r.s = s;
		r.stopped = 0;
		r.to = mb.recent_uid > d->recent ? mb.recent_uid : d->recent;
		if (store_msg_list(txn, s->mbox, mb.recent_uid > d->recent ?
		    d->recent : mb.recent_uid, trk_range_row, &r) < 0 &&
		    !r.stopped)
			return -1;
	}
	dmod = mb.highestmodseq - d->modseq;
	dnext = (int64_t)mb.uidnext - (int64_t)d->uidnext;
	dmsg = (int64_t)mb.messages - (int64_t)d->messages;
	/* Nothing a name shows moved, or only messages came. */
	if (dmod == 0 || ((int64_t)dmod == dnext && dmsg == dnext))
		goto done;
	if (store_msg_changed_since(txn, s->mbox, d->modseq, trk_check_row,
	    s) < 0)
		return -1;
	if ((rc = store_msg_expunged_since(txn, s->mbox, d->modseq,
	    trk_expunged, s)) < 0)
		return -1;
	if (rc == 0)
		trk_sync_all(txn, s);
done:
	d->known = 1;
	d->modseq = mb.highestmodseq;
	d->uidnext = mb.uidnext;
	d->messages = mb.messages;
	d->recent = mb.recent_uid;
	d->fs_uid = u.fs_uid;
	d->fs_gid = u.fs_gid;
aliases:
	alias_sync(txn, s);
	return 0;
}

static void
trk_sync_one(uint32_t mailbox)
{
	struct trk_sync s;

	memset(&s, 0, sizeof(s));
	s.mbox = mailbox;
	if (store_read(fs.store, trk_sync_txn, &s) < 0)
		log_warnx("file view: cannot read mailbox %u for changes: %s",
		    mailbox, err_msg());
	free(s.kwlist);
	/*
	 * A mailbox that is gone keeps no state: mailbox ids are never used
	 * again, and folders made and deleted in a loop must not grow the
	 * table (nor the work of a resync) for the life of the mount.
	 */
	if (s.gone)
		dmt_del(mailbox);
}

void
fs_track_sync(uint32_t mailbox)
{
	uint32_t *ids;
	size_t i, n = 0;

	if (mailbox != 0) {
		fs_dir_touch(mailbox);
		fs_inval_inode(fs_ino(FS_K_CUR, mailbox));
		fs_inval_inode(fs_ino(FS_K_NEW, mailbox));
		fs_inval_inode(fs_ino(FS_K_KWFILE, mailbox));
		trk_sync_one(mailbox);
		return;
	}
	/*
	 * Notifications were lost: every mailbox we keep state of (listed
	 * first: a sync drops the state of a mailbox that is gone).
	 */
	dmt_touch_all();
	ids = xreallocarray(NULL, dmt_n > 0 ? dmt_n : 1, sizeof(*ids));
	for (i = 0; i < dmt_cap; i++)
		if (dmt_tab[i].mbox != 0 && n < dmt_n)
			ids[n++] = dmt_tab[i].mbox;
	for (i = 0; i < n; i++)
		trk_sync_one(ids[i]);
	free(ids);
}

size_t
fs_dir_count(void)
{
	return dmt_n;
}

/* --- directory mtimes ------------------------------------------------ */

static size_t
dmt_slot(uint32_t mbox)
{
	return (size_t)(mbox * 2654435761U) & (dmt_cap - 1);
}

/*
 * The mtime of cur/ and new/, as shown: from now on it is "observed".  A
 * change after an observation moves it to a later second even when the
 * clock has not got there yet: Maildir readers (neomutt) compare whole
 * seconds with what they saw, and would miss a message delivered in the
 * second they last looked.  Unobserved changes take the clock as it is,
 * so the mtime runs ahead of it by a second at most per look.
 */
struct timespec
fs_dir_mtime(uint32_t mbox)
{
	struct dmt *d = dmt_get(mbox);

	d->observed = 1;
	return d->mtime;
}

/* The slot of mbox, added (with the default mtime) when missing. */
static struct dmt *
dmt_get(uint32_t mbox)
{
	size_t i;

	if ((dmt_n + 1) * 2 > dmt_cap) {
		struct dmt *old = dmt_tab;
		size_t ocap = dmt_cap, a;

		dmt_cap = ocap == 0 ? 256 : ocap * 2;
		dmt_tab = xcalloc(dmt_cap, sizeof(*dmt_tab));
		for (a = 0; a < ocap; a++) {
			if (old[a].mbox == 0)
				continue;
			for (i = dmt_slot(old[a].mbox); dmt_tab[i].mbox != 0;
			    i = (i + 1) & (dmt_cap - 1))
				;
			dmt_tab[i] = old[a];
		}
		free(old);
	}
	for (i = dmt_slot(mbox); dmt_tab[i].mbox != 0 &&
	    dmt_tab[i].mbox != mbox; i = (i + 1) & (dmt_cap - 1))
		;
	if (dmt_tab[i].mbox == 0) {
		dmt_tab[i].mbox = mbox;
		dmt_tab[i].mtime.tv_sec = fs.started;
		dmt_tab[i].mtime.tv_nsec = 0;
		dmt_n++;
	}
	return &dmt_tab[i];
}

/* Removes mbox's slot (shifting back those after it, as trk_del()). */
static void
dmt_del(uint32_t mbox)
{
	size_t i, j, k;

	if (dmt_cap == 0)
		return;
	for (i = dmt_slot(mbox); dmt_tab[i].mbox != mbox; i = (i + 1) &
	    (dmt_cap - 1))
		if (dmt_tab[i].mbox == 0)
			return;
	dmt_tab[i].mbox = 0;
	dmt_n--;
	for (j = i;;) {
		j = (j + 1) & (dmt_cap - 1);
		if (dmt_tab[j].mbox == 0)
			break;
		k = dmt_slot(dmt_tab[j].mbox);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		dmt_tab[i] = dmt_tab[j];
		dmt_tab[j].mbox = 0;
		i = j;
	}
}

static void
dmt_touch(struct dmt *d)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec < d->mtime.tv_sec || (now.tv_sec == d->mtime.tv_sec &&
	    now.tv_nsec <= d->mtime.tv_nsec)) {
		now = d->mtime;
		if (++now.tv_nsec == 1000000000) {
			now.tv_sec++;
			now.tv_nsec = 0;
		}
	}
	if (d->observed && now.tv_sec <= d->mtime.tv_sec) {
		now.tv_sec = d->mtime.tv_sec + 1;
		now.tv_nsec = 0;
	}
	d->mtime = now;
	d->observed = 0;
}

void
fs_dir_touch(uint32_t mbox)
{
	dmt_touch(dmt_get(mbox));
}

void
fs_dir_seen(uint32_t mbox)
{
	dmt_get(mbox);
}

/* Every cur/ and new/ the kernel may have cached: changed, invalidated. */
static void
dmt_touch_all(void)
{
	size_t i;

	for (i = 0; i < dmt_cap; i++) {
		if (dmt_tab[i].mbox == 0)
			continue;
		dmt_touch(&dmt_tab[i]);
		fs_inval_inode(fs_ino(FS_K_CUR, dmt_tab[i].mbox));
		fs_inval_inode(fs_ino(FS_K_NEW, dmt_tab[i].mbox));
		fs_inval_inode(fs_ino(FS_K_KWFILE, dmt_tab[i].mbox));
	}
}

/* --- names a program gave (aliases) ---------------------------------- */

/*
 * A program that renames tmp/X to new/Y (or cur/A to cur/B with info
 * letters we would write differently) uses Y right after: neomutt sets
 * its times, others stat it.  The message shows under our name in
 * listings; the program's name stays valid for FS_ALIAS_TTL seconds or
 * until the message changes, then the kernel is told to forget it.
 */
#define FS_ALIAS_MAX	1024
#define FS_ALIAS_TTL	60

struct alias {
	uint64_t	parent;		/* 0: free */
	uint64_t	ino;
	uint64_t	shown;		/* cur/ or new/ the message shows in */
	uint32_t	bits;
	time_t		expires;
	char		name[FS_NAME_MAX + 1];
};
static struct alias	aliases[FS_ALIAS_MAX];
static size_t		alias_next;

static void
alias_drop(struct alias *a)
{
	if (a->parent == 0)
		return;
	fs_inval_entry(a->parent, a->name);
	a->parent = 0;
}

void
fs_alias_add(uint64_t parent, const char *name, uint64_t ino,
    uint64_t shown, uint32_t bits)
{
	struct alias *a = &aliases[alias_next];
	size_t i;

	for (i = 0; i < FS_ALIAS_MAX; i++)
		if (aliases[i].parent == parent &&
		    strcmp(aliases[i].name, name) == 0)
			aliases[i].parent = 0;
	alias_next = (alias_next + 1) % FS_ALIAS_MAX;
	alias_drop(a);
	a->parent = parent;
	a->ino = ino;
	a->shown = shown;
	a->bits = bits;
	a->expires = time(NULL) + FS_ALIAS_TTL;
	snprintf(a->name, sizeof(a->name), "%s", name);
}

int
fs_alias_find(uint64_t parent, const char *name, uint64_t *ino_r,
    uint64_t *shown_r, uint32_t *bits_r)
{
	size_t i;

	for (i = 0; i < FS_ALIAS_MAX; i++) {
		struct alias *a = &aliases[i];

		if (a->parent != parent || strcmp(a->name, name) != 0)
			continue;
		*ino_r = a->ino;
		*shown_r = a->shown;
		*bits_r = a->bits;
		return 1;
	}
	return 0;
}

void
fs_alias_forget(uint64_t parent, const char *name)
{
	size_t i;

	for (i = 0; i < FS_ALIAS_MAX; i++)
		if (aliases[i].parent == parent &&
		    strcmp(aliases[i].name, name) == 0)
			alias_drop(&aliases[i]);
}

void
fs_alias_sweep(void)
{
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < FS_ALIAS_MAX; i++)
		if (aliases[i].parent != 0 && aliases[i].expires <= now)
			alias_drop(&aliases[i]);
}

/* The aliases of mailbox (0: all) whose message changed or went. */
static void
alias_sync(struct store_txn *txn, struct trk_sync *s)
{
	char info[STORE_MAILDIR_INFO_MAX];
	struct store_msg m;
	uint32_t mbox;
	size_t i;

	for (i = 0; i < FS_ALIAS_MAX; i++) {
		struct alias *a = &aliases[i];

		if (a->parent == 0)
			continue;
		mbox = fs_ino_mbox(a->ino);
		if (s->mbox != 0 && mbox != s->mbox)
			continue;
		if (!trk_sync_mbox(txn, s, mbox) ||
		    store_msg_get(txn, mbox, fs_ino_uid(a->ino), &m) != 1 ||
		    fs_ino(fs_msg_in_new(&m, s->recent) ? FS_K_NEW : FS_K_CUR,
		    mbox) != a->shown || fs_info_bits(store_maildir_info(
		    m.flags, m.keywords, s->kwlist, info)) != a->bits)
			alias_drop(a);
	}
}
