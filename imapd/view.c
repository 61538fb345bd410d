/*
 * view.c - the selected mailbox: what this session has told its client
 * (imapd.h), SELECT EXAMINE CLOSE UNSELECT EXPUNGE CHECK, mailbox names
 * and flag lists.
 *
 * The view holds one uid per message and nothing else.  Bringing it up
 * to date (imap_view_sync()) costs nothing when the mailbox's
 * HIGHESTMODSEQ and UIDNEXT have not moved; otherwise it reads, in one
 * snapshot, the expunges logged since the view's modseq and the rows
 * changed since then (store/message.h), and falls back to comparing
 * every uid with the store when the expunge log no longer reaches back
 * that far.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/conn.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mail/utf7.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/store.h"
#include "imapd/core.h"
#include "imapd/imapd.h"

/* One row that changed since the view's modseq. */
struct view_change {
	uint32_t	uid;
	uint32_t	flags;
	uint64_t	modseq;
	char		*keywords;	/* NULL when none */
};

/* What a sync (or SELECT) read in its snapshot. */
struct view_read {
	struct imap_session	*s;
	uint32_t		 user_id;
	const char		*name;		/* SELECT: by name */
	uint32_t		 mailbox_id;	/* sync: by id */
	uint64_t		 since;		/* changes above this */
	int			 found;
	struct store_mailbox	 mb;
	/* every uid (SELECT, or a sync that could not use the log) */
	int			 full;
	uint32_t		*uids;
	size_t			 nuids, capuids;
	/* expunged uids from the log (sync) */
	uint32_t		*exp;
	size_t			 nexp, capexp;
	/* changed rows (uid < the view's uidnext) and new uids */
	struct view_change	*chg;
	size_t			 nchg, capchg;
	uint32_t		 known_next;	/* uids below are known */
	/* SELECT: the first unseen uid, keywords in use */
	uint32_t		 first_unseen;
	struct imap_buf		 keywords;
	/* SELECT under IMAP4rev2: whether the mailbox has children */
	int			 want_children;
	int			 has_children;
};

static int	view_read_txn(struct store_txn *, void *);
static void	view_read_reset(struct view_read *);
static void	view_read_free(struct view_read *);
static int	view_u32_find(const uint32_t *, size_t, uint32_t);
static void	view_kw_add(struct imap_buf *, const char *);
static void	view_send_fetch(struct imap_session *, uint32_t,
		    const struct view_change *);

/* Small helpers ------------------------------------------------------- */

/* Index of x in the sorted array a[n], or -1. */
static int
view_u32_find(const uint32_t *a, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (a[mid] == x)
			return (int)mid;	/* n < 2^31 in practice */
		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void
view_u32_push(uint32_t **a, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		*cap = *cap != 0 ? *cap * 2 : 64;
		*a = xreallocarray(*a, *cap, sizeof(**a));
	}
	(*a)[(*n)++] = x;
}

/* Adds the keywords of kw (space separated) not yet in b. */
static void
view_kw_add(struct imap_buf *b, const char *kw)
{
	const char *p = kw, *q;
	size_t w, i, k;
	int seen;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		w = strcspn(p, " ");
		seen = 0;
		for (i = 0; i < b->len; i = k + 1) {
			q = b->p + i;
			for (k = i; k < b->len && b->p[k] != ' '; k++)
				;
			if (k - i == w && strncasecmp(q, p, w) == 0) {
				seen = 1;
				break;
			}
		}
		if (!seen) {
			if (b->len > 0)
				imap_buf_adds(b, " ");
			imap_buf_add(b, p, w);
		}
		p += w;
	}
}

void
imap_flags_format(struct imap_buf *b, uint32_t flags, const char *keywords,
    int recent)
{
	size_t start;

	imap_buf_adds(b, "(");
	start = b->len;
#define VIEW_FLAG(bit, name)						\
	if (flags & (bit)) {						\
		if (b->len > start)					\
			imap_buf_adds(b, " ");				\
		imap_buf_adds(b, name);					\
	}
	VIEW_FLAG(STORE_F_ANSWERED, "\\Answered");
	VIEW_FLAG(STORE_F_FLAGGED, "\\Flagged");
	VIEW_FLAG(STORE_F_DELETED, "\\Deleted");
	VIEW_FLAG(STORE_F_SEEN, "\\Seen");
	VIEW_FLAG(STORE_F_DRAFT, "\\Draft");
#undef VIEW_FLAG
	if (recent) {
		if (b->len > start)
			imap_buf_adds(b, " ");
		imap_buf_adds(b, "\\Recent");
	}
	if (keywords != NULL && keywords[0] != '\0') {
		if (b->len > start)
			imap_buf_adds(b, " ");
		imap_buf_adds(b, keywords);
	}
	imap_buf_adds(b, ")");
}

/* Mailbox names ------------------------------------------------------- */

int
imap_mailbox_name(struct imap_session *s, const struct imap_str *in,
    char *out, size_t outsize)
{
	size_t len, i, lvl;
	const char *p;

	if (in->s == NULL || memchr(in->s, '\0', in->len) != NULL)
		return err_set(ERR_INVALID, "Invalid mailbox name");
	if (in->len == 0)
		return err_set(ERR_INVALID, "Empty mailbox name.");
	if (s->enabled & IMAP_EN_UTF8) {
		if (!utf8_valid(in->s, in->len))
			return err_set(ERR_INVALID, "Mailbox name is not "
			    "valid UTF-8");
		if (in->len >= outsize)
			return err_set(ERR_INVALID, "Mailbox name too long");
		memcpy(out, in->s, in->len);
		out[in->len] = '\0';
	} else if (utf7_decode(in->s, in->len, out, outsize) == -1)
		return err_set(ERR_INVALID, err_class() == ERR_TOOBIG ?
		    "Mailbox name too long" : "Mailbox name is not valid "
		    "mUTF-7");
	len = strlen(out);
	if (len > STORE_MAILBOX_NAME_MAX)
		return err_set(ERR_INVALID, "Mailbox name too long");
	/* INBOX in any case, also as the first level. */
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' ||
	    out[5] == STORE_MAILBOX_SEP))
		memcpy(out, "INBOX", 5);
	for (i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			return err_set(ERR_INVALID, "Mailbox name contains "
			    "control characters");
	if (out[0] == STORE_MAILBOX_SEP || out[len - 1] == STORE_MAILBOX_SEP)
		return err_set(ERR_INVALID, "Mailbox name begins or ends "
		    "with the hierarchy separator");
	for (p = out; *p != '\0'; p += lvl + (p[lvl] != '\0')) {
		lvl = strcspn(p, "/");
		if (lvl == 0)
			return err_set(ERR_INVALID, "Mailbox name has an "
			    "empty level");
		if ((lvl == 1 && p[0] == '.') || (lvl == 2 && p[0] == '.' &&
		    p[1] == '.'))
			return err_set(ERR_INVALID, "Mailbox name has a . or "
			    ".. level");
	}
	return 0;
}

/* The view's maps ----------------------------------------------------- */

uint32_t
imap_view_uid(const struct imap_view *v, uint32_t seq)
{
	if (v == NULL || seq == 0 || seq > v->count)
		return 0;
	return v->uids[seq - 1];
}

uint32_t
imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	int i;

	if (v == NULL || (i = view_u32_find(v->uids, v->count, uid)) < 0)
		return 0;
	return (uint32_t)i + 1;
}

int
imap_view_is_recent(const struct imap_view *v, uint32_t uid)
{
	size_t lo = 0, hi, m;

	if (v == NULL)
		return 0;
	if (uid >= v->recent_lo && uid < v->recent_hi)
		return 1;
	/* the last earlier range that starts at or below uid */
	hi = v->nrecent_more;
	while (lo < hi) {
		m = lo + (hi - lo) / 2;
		if (v->recent_more[2 * m] <= uid)
			lo = m + 1;
		else
			hi = m;
	}
	return lo > 0 && uid < v->recent_more[2 * (lo - 1) + 1];
}

int
imap_view_is_gone(const struct imap_view *v, uint32_t uid)
{
	return v != NULL && view_u32_find(v->gone, v->ngone, uid) >= 0;
}

void
imap_view_note_own(struct imap_view *v, uint64_t modseq)
{
	if (v->nown == v->owncap) {
		v->owncap = v->owncap != 0 ? v->owncap * 2 : 16;
		v->own = xreallocarray(v->own, v->owncap, sizeof(*v->own));
	}
	v->own[v->nown++] = modseq;
}

static int
view_is_own(const struct imap_view *v, uint64_t modseq)
{
	size_t i;

	for (i = 0; i < v->nown; i++)
		if (v->own[i] == modseq)
			return 1;
	return 0;
}

/* Index range [*a, *b) of the view's uids within [lo, hi]. */
static void
view_uid_range(const struct imap_view *v, uint32_t lo, uint32_t hi,
    size_t *a, size_t *b)
{
	size_t l = 0, h = v->count, m;

	while (l < h) {
		m = l + (h - l) / 2;
		if (v->uids[m] < lo)
			l = m + 1;
		else
			h = m;
	}
	*a = l;
	h = v->count;
	while (l < h) {
		m = l + (h - l) / 2;
		if (v->uids[m] <= hi)
			l = m + 1;
		else
			h = m;
	}
	*b = l;
}

int
imap_view_resolve(const struct imap_view *v, const struct imap_seqset *set,
    int uid, uint32_t **uids_r, size_t *n_r)
{
	unsigned char *mark;
	uint32_t *out, lo, hi, last, t;
	size_t i, k, a, b, n = 0;

	*uids_r = NULL;
	*n_r = 0;
	if (set->saved) {
		/* "$": the saved uids still in the view. */
		out = xreallocarray(NULL, v->nsaved + 1, sizeof(*out));
		for (i = 0; i < v->nsaved; i++)
			if (imap_view_seq(v, v->saved[i]) != 0)
				out[n++] = v->saved[i];
		*uids_r = out;
		*n_r = n;
		return 0;
	}
	if (v->count == 0) {
		/* Only "*" (and UIDs) may name nothing in an empty view. */
		for (i = 0; i < set->n && !uid; i++)
			if (set->r[i].hi != IMAP_SEQ_STAR)
				return err_set(ERR_INVALID, "Invalid "
				    "messageset");
		*uids_r = xmalloc(sizeof(uint32_t));
		return 0;
	}
	mark = xcalloc(v->count, 1);
	last = uid ? v->uids[v->count - 1] : (uint32_t)v->count;
	for (i = 0; i < set->n; i++) {
		lo = set->r[i].lo == IMAP_SEQ_STAR ? last : set->r[i].lo;
		hi = set->r[i].hi == IMAP_SEQ_STAR ? last : set->r[i].hi;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		if (!uid) {
			if (hi > v->count) {
				free(mark);
				return err_set(ERR_INVALID, "Invalid "
				    "messageset");
			}
			for (k = lo - 1; k < hi; k++)
				mark[k] = 1;
			continue;
		}
		view_uid_range(v, lo, hi, &a, &b);
		for (k = a; k < b; k++)
			mark[k] = 1;
	}
	for (k = 0; k < v->count; k++)
		n += mark[k];
	out = xreallocarray(NULL, n + 1, sizeof(*out));
	for (k = 0, n = 0; k < v->count; k++)
		if (mark[k])
			out[n++] = v->uids[k];
	free(mark);
	*uids_r = out;
	*n_r = n;
	return 0;
}

void
imap_view_free(struct imap_view **vp)
{
	struct imap_view *v = *vp;

	if (v == NULL)
		return;
	free(v->uids);
	free(v->gone);
	free(v->own);
	free(v->saved);
	free(v->recent_more);
	free(v);
	*vp = NULL;
}

/* Reading the store --------------------------------------------------- */

static void
view_read_reset(struct view_read *r)
{
	size_t i;

	r->found = 0;
	r->full = 0;
	r->nuids = 0;
	r->nexp = 0;
	for (i = 0; i < r->nchg; i++)
		free(r->chg[i].keywords);
	r->nchg = 0;
	r->first_unseen = 0;
	imap_buf_reset(&r->keywords);
}

static void
view_read_free(struct view_read *r)
{
	view_read_reset(r);
	free(r->uids);
	free(r->exp);
	free(r->chg);
	imap_buf_free(&r->keywords);
}

static void
view_change_push(struct view_read *r, const struct store_msg *m)
{
	struct view_change *c;

	if (r->nchg == r->capchg) {
		r->capchg = r->capchg != 0 ? r->capchg * 2 : 32;
		r->chg = xreallocarray(r->chg, r->capchg, sizeof(*r->chg));
	}
	c = &r->chg[r->nchg++];
	c->uid = m->uid;
	c->flags = m->flags;
	c->modseq = m->modseq;
	c->keywords = m->keywords[0] != '\0' ? xstrdup(m->keywords) : NULL;
}

/* Every row: uids, and rows changed since r->since. */
static int
view_read_row(const struct store_msg *m, void *ctx)
{
	struct view_read *r = ctx;

	view_u32_push(&r->uids, &r->nuids, &r->capuids, m->uid);
	if (r->name != NULL) {
		/* SELECT */
		if (!(m->flags & STORE_F_SEEN) && r->first_unseen == 0)
			r->first_unseen = (uint32_t)r->nuids;
		if (m->keywords[0] != '\0')
			view_kw_add(&r->keywords, m->keywords);
	}
	if (m->modseq > r->since && m->uid < r->known_next)
		view_change_push(r, m);
	return 0;
}

/* Rows changed since r->since (the fast path of a sync). */
static int
view_read_changed(const struct store_msg *m, void *ctx)
{
	struct view_read *r = ctx;

	if (m->uid >= r->known_next)
		view_u32_push(&r->uids, &r->nuids, &r->capuids, m->uid);
	else
		view_change_push(r, m);
	return 0;
}

static int
view_read_expunged(uint32_t uid, uint64_t modseq, void *ctx)
{
	struct view_read *r = ctx;

	(void)modseq;
	view_u32_push(&r->exp, &r->nexp, &r->capexp, uid);
	return 0;
}

static int
view_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
view_read_child(const struct store_mailbox *mb, void *ctx)
{
	struct view_read *r = ctx;
	size_t n = strlen(r->mb.name);

	if (strncmp(mb->name, r->mb.name, n) == 0 &&
	    mb->name[n] == STORE_MAILBOX_SEP) {
		r->has_children = 1;
		return -1;	/* enough */
	}
	return 0;
}

static int
view_read_txn(struct store_txn *txn, void *ctx)
{
	struct view_read *r = ctx;
	int rc;

	view_read_reset(r);
	if (r->name != NULL)
		rc = store_mailbox_get(txn, r->user_id, r->name, &r->mb);
	else
		rc = store_mailbox_get_by_id(txn, r->mailbox_id, &r->mb);
	if (rc == -1)
		return -1;
	if (rc == 0)
		return 0;
	r->found = 1;
	if (r->name != NULL) {
		r->full = 1;
		r->has_children = 0;
		if (r->want_children && store_mailbox_list(txn, r->user_id,
		    view_read_child, r) == -1 && !r->has_children)
			return -1;
		return store_msg_list_rows(txn, r->mb.id, 1, view_read_row, r);
	}
	/* A sync: nothing moved is the common case. */
	if (r->mb.highestmodseq <= r->since && r->mb.uidnext <= r->known_next)
		return 0;
	rc = store_msg_expunged_since(txn, r->mb.id, r->since,
	    view_read_expunged, r);
	if (rc == -1)
		return -1;
	if (rc == 1) {
		/*
		 * Every append and every expunge moves the modseq by one:
		 * when that accounts for all of its movement, no flags
		 * changed, and only the new rows need reading (new mail
		 * waking many idlers of a big mailbox costs little).
		 */
		uint64_t moved = r->mb.highestmodseq - r->since;
		uint64_t added = r->mb.uidnext > r->known_next ?
		    r->mb.uidnext - r->known_next : 0;

		if (moved == added + r->nexp)
			return store_msg_list_rows(txn, r->mb.id, r->known_next,
			    view_read_changed, r);
		return store_msg_changed_since(txn, r->mb.id, r->since,
		    view_read_changed, r);
	}
	/* The log does not reach back: compare every uid. */
	r->nexp = 0;
	r->full = 1;
	return store_msg_list_rows(txn, r->mb.id, 1, view_read_row, r);
}

/* Syncing ------------------------------------------------------------- */

struct view_recent {
	uint32_t	mailbox_id;
	uint32_t	first, next;
	int		found;
};

static int
view_recent_txn(struct store_txn *txn, void *ctx)
{
	struct view_recent *r = ctx;
	int rc;

	rc = store_mailbox_take_recent(txn, r->mailbox_id, &r->first,
	    &r->next);
	r->found = rc == 1;
	return rc;
}

/*
 * Claims \Recent for the messages no session has seen yet (a read-write
 * selection; RFC 3501 2.3.2: one session gets it).  The view keeps one
 * range: a claim that does not follow the last one replaces it.
 */
static int
view_claim_recent(struct imap_session *s, const struct store_mailbox *mb)
{
	struct imap_view *v = s->view;
	struct view_recent r;

	/* Another session took them already (the common case for all but
	 * one of the sessions woken by new mail): no write. */
	if (mb != NULL && mb->recent_uid >= mb->uidnext)
		return 0;
	memset(&r, 0, sizeof(r));
	r.mailbox_id = v->mailbox_id;
	/*
	 * \Recent needs no durability (a crash at worst shows it again),
	 * but a commit without any sync could leave the store broken after
	 * a power cut: one sync, of the data pages only.
	 */
	if (store_write_metanosync(s->srv->store, view_recent_txn, &r) == -1) {
		log_warnx("conn %lu: \\Recent of mailbox %" PRIu32 ": %s",
		    s->id, v->mailbox_id, err_msg());
		return 0;
	}
	if (!r.found || r.first >= r.next)
		return 1;
	if (r.first == v->recent_hi && v->recent_hi > v->recent_lo)
		v->recent_hi = r.next;
	else {
		/* Another session claimed the uids between: the messages
		 * claimed before stay \Recent here (RFC 3501 2.3.2). */
		if (v->recent_hi > v->recent_lo) {
			v->recent_more = xreallocarray(v->recent_more,
			    2 * (v->nrecent_more + 1), sizeof(uint32_t));
			v->recent_more[2 * v->nrecent_more] = v->recent_lo;
			v->recent_more[2 * v->nrecent_more + 1] =
			    v->recent_hi;
			v->nrecent_more++;
		}
		v->recent_lo = r.first;
		v->recent_hi = r.next;
	}
	return 1;
}

static void
view_send_fetch(struct imap_session *s, uint32_t seq,
    const struct view_change *c)
{
	struct imap_buf b;
	int rev1 = !(s->enabled & IMAP_EN_REV2);

	imap_buf_init(&b);
	imap_buf_printf(&b, "* %" PRIu32 " FETCH (", seq);
	if (s->enabled & IMAP_EN_QRESYNC)
		imap_buf_printf(&b, "UID %" PRIu32 " ", c->uid);
	imap_buf_adds(&b, "FLAGS ");
	imap_flags_format(&b, c->flags, c->keywords, rev1 &&
	    imap_view_is_recent(s->view, c->uid));
	if (s->enabled & IMAP_EN_CONDSTORE)
		imap_buf_printf(&b, " MODSEQ (%" PRIu64 ")", c->modseq);
	imap_buf_adds(&b, ")\r\n");
	imap_write(s, b.p, b.len);
	imap_buf_free(&b);
}

/* Removes the uids of dead[] from the view and tells the client. */
static void
view_announce_expunges(struct imap_session *s, const uint32_t *dead,
    size_t ndead)
{
	struct imap_view *v = s->view;
	struct imap_buf b;
	size_t i, k, out;
	int j;

	if (ndead == 0)
		return;
	if (s->enabled & IMAP_EN_QRESYNC) {
		imap_buf_init(&b);
		imap_buf_adds(&b, "* VANISHED ");
		imap_buf_uidset(&b, dead, ndead);
		imap_buf_adds(&b, "\r\n");
		imap_write(s, b.p, b.len);
		imap_buf_free(&b);
	} else {
		/* From the highest: each EXPUNGE leaves the lower numbers
		 * as they were. */
		for (i = ndead; i-- > 0;) {
			j = view_u32_find(v->uids, v->count, dead[i]);
			if (j >= 0)
				imap_untagged(s, "%d EXPUNGE", j + 1);
		}
	}
	for (i = 0, k = 0, out = 0; i < v->count; i++) {
		while (k < ndead && dead[k] < v->uids[i])
			k++;
		if (k < ndead && dead[k] == v->uids[i])
			continue;
		v->uids[out++] = v->uids[i];
	}
	v->count = out;
}

/*
 * Reads what changed since the view's state (r is set up here).  -1:
 * a store error, or ERR_NOTFOUND when the mailbox is gone.
 */
static int
view_sync_read(struct imap_session *s, struct view_read *r)
{
	struct imap_view *v = s->view;

	memset(r, 0, sizeof(*r));
	imap_buf_init(&r->keywords);
	r->s = s;
	r->mailbox_id = v->mailbox_id;
	r->since = v->modseq;
	r->known_next = v->uidnext;
	if (store_read(s->srv->store, view_read_txn, r) == -1)
		return -1;
	if (!r->found || r->mb.uidvalidity != v->uidvalidity)
		return err_set(ERR_NOTFOUND, "the mailbox was deleted");
	/* qsort() of NULL is undefined, even of 0 items */
	if (!r->full && r->nexp > 1)
		qsort(r->exp, r->nexp, sizeof(*r->exp), view_cmp_u32);
	if (!r->full && r->nuids > 1)
		qsort(r->uids, r->nuids, sizeof(*r->uids), view_cmp_u32);
	return 0;
}

/* Recent messages in the view. */
static size_t
view_count_recent(const struct imap_view *v)
{
	size_t a, b, i, n = 0;

	for (i = 0; i < v->nrecent_more; i++) {
		view_uid_range(v, v->recent_more[2 * i],
		    v->recent_more[2 * i + 1] - 1, &a, &b);
		n += b - a;
	}
	if (v->recent_hi <= v->recent_lo)
		return n;
	view_uid_range(v, v->recent_lo, v->recent_hi - 1, &a, &b);
	return n + b - a;
}

/*
 * Tells the client what r says changed and brings the view up to date.
 * A read that compared every uid (r->full) is consumed; any other may be
 * applied to every view that had the same state (imap_view_notify()).
 */
static void
view_sync_apply(struct imap_session *s, struct view_read *r, int expunges)
{
	struct imap_view *v = s->view;
	uint32_t *dead = NULL, *newgone;
	size_t ndead = 0, capdead = 0, i, k, nnew, ngone;
	int rev1 = !(s->enabled & IMAP_EN_REV2);

	if (r->full) {
		/* Known uids that are no longer there. */
		for (i = 0, k = 0; i < v->count; i++) {
			while (k < r->nuids && r->uids[k] < v->uids[i])
				k++;
			if (k < r->nuids && r->uids[k] == v->uids[i])
				continue;
			view_u32_push(&dead, &ndead, &capdead, v->uids[i]);
		}
		/* Then r->uids keeps only the new ones. */
		for (i = 0, nnew = 0; i < r->nuids; i++)
			if (r->uids[i] >= v->uidnext)
				r->uids[nnew++] = r->uids[i];
		r->nuids = nnew;
		r->full = 0;
	} else {
		for (i = 0; i < r->nexp; i++)
			if (imap_view_seq(v, r->exp[i]) != 0 &&
			    (ndead == 0 || dead[ndead - 1] != r->exp[i]))
				view_u32_push(&dead, &ndead, &capdead,
				    r->exp[i]);
	}
	/* Expunges: announced now, or kept as gone until allowed. */
	if (ndead > 0) {
		newgone = xreallocarray(NULL, v->ngone + ndead,
		    sizeof(*newgone));
		for (i = 0, k = 0, ngone = 0; i < v->ngone || k < ndead;) {
			uint32_t x;

			if (k >= ndead || (i < v->ngone && v->gone[i] <
			    dead[k]))
				x = v->gone[i++];
			else if (i >= v->ngone || dead[k] < v->gone[i])
				x = dead[k++];
			else {
				x = dead[k++];
				i++;
			}
			newgone[ngone++] = x;
		}
		free(v->gone);
		v->gone = newgone;
		v->ngone = ngone;
	}
	if (expunges && v->ngone > 0) {
		view_announce_expunges(s, v->gone, v->ngone);
		free(v->gone);
		v->gone = NULL;
		v->ngone = 0;
	}
	/* Flags changed by others. */
	for (i = 0; i < r->nchg; i++) {
		uint32_t seq = imap_view_seq(v, r->chg[i].uid);

		if (seq == 0 || imap_view_is_gone(v, r->chg[i].uid) ||
		    view_is_own(v, r->chg[i].modseq))
			continue;
		view_send_fetch(s, seq, &r->chg[i]);
	}
	/* New messages. */
	if (r->nuids > 0) {
		qsort(r->uids, r->nuids, sizeof(*r->uids), view_cmp_u32);
		if (v->count + r->nuids > v->cap) {
			v->cap = v->count + r->nuids + 64;
			v->uids = xreallocarray(v->uids, v->cap,
			    sizeof(*v->uids));
		}
		for (i = 0; i < r->nuids; i++)
			if (v->count == 0 ||
			    r->uids[i] > v->uids[v->count - 1])
				v->uids[v->count++] = r->uids[i];
		if (!v->readonly && view_claim_recent(s, &r->mb))
			/* taken: the next view with this read needs no
			 * write */
			r->mb.recent_uid = r->mb.uidnext;
		imap_untagged(s, "%zu EXISTS", v->count);
		if (rev1)
			imap_untagged(s, "%zu RECENT", view_count_recent(v));
	}
	if (r->mb.uidnext > v->uidnext)
		v->uidnext = r->mb.uidnext;
	if (r->mb.highestmodseq > v->modseq)
		v->modseq = r->mb.highestmodseq;
	v->nown = 0;
	free(dead);
}

int
imap_view_sync(struct imap_session *s, int expunges)
{
	struct view_read r;

	if (s->view == NULL)
		return 0;
	if (view_sync_read(s, &r) == -1) {
		view_read_free(&r);
		return -1;
	}
	view_sync_apply(s, &r, expunges);
	view_read_free(&r);
	return 0;
}

/*
 * A mailbox changed (0: anything may have): every idling session with it
 * selected is told now.  Idlers whose views stood at the same modseq and
 * UIDNEXT share one read of the store (many clients idling on one
 * mailbox cost one snapshot, not one each).
 */
void
imap_view_notify(struct imap_server *srv, uint32_t mailbox_id)
{
	struct imap_session *s, *next;
	struct view_read r;
	int have = 0, r_full = 0;
	uint32_t r_box = 0, r_next = 0;
	uint64_t r_since = 0;

	for (s = srv->idlers; s != NULL; s = next) {
		next = s->idle_next;
		if (s->closing || s->view == NULL)
			continue;
		if (mailbox_id != 0 && s->view->mailbox_id != mailbox_id)
			continue;
		/*
		 * A client that does not read what it was told: nothing more
		 * is queued for it until its output drains (session.c then
		 * syncs it, the changes coalesced), or memory would grow
		 * with every change another session makes.
		 */
		if (imap_pending(s) > CONN_OUT_HIGH) {
			imap_session_idle_defer(s);
			continue;
		}
		if (have && (r_box != s->view->mailbox_id ||
		    r_since != s->view->modseq ||
		    r_next != s->view->uidnext || r_full)) {
			view_read_free(&r);
			have = 0;
		}
		if (!have) {
			r_box = s->view->mailbox_id;
			r_since = s->view->modseq;
			r_next = s->view->uidnext;
			if (view_sync_read(s, &r) == -1) {
				view_read_free(&r);
				imap_untagged(s, "BYE Selected mailbox was "
				    "deleted, have to disconnect.");
				imap_session_idle_stop(s);
				imap_session_close(s);
				continue;
			}
			have = 1;
		}
		/* A read of every uid is consumed by the apply (it keeps
		 * only the new ones, without the expunges): the next idler
		 * reads again. */
		r_full = r.full;
		view_sync_apply(s, &r, 1);
	}
	if (have)
		view_read_free(&r);
}

/* SELECT, EXAMINE ----------------------------------------------------- */

struct view_vanished {
	uint32_t	 mailbox_id;
	uint64_t	 since;
	uint32_t	*uids;
	size_t		 n, cap;
	int		 reaches;
};

static int
view_vanished_cb(uint32_t uid, uint64_t modseq, void *ctx)
{
	struct view_vanished *x = ctx;

	(void)modseq;
	view_u32_push(&x->uids, &x->n, &x->cap, uid);
	return 0;
}

static int
view_vanished_txn(struct store_txn *txn, void *ctx)
{
	struct view_vanished *x = ctx;
	int rc;

	x->n = 0;
	rc = store_msg_expunged_since(txn, x->mailbox_id, x->since,
	    view_vanished_cb, x);
	x->reaches = rc == 1;
	return rc == -1 ? -1 : 0;
}

static int
view_cmp_range(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Whether uid is in the ranges r[n] (sorted by lo, disjoint). */
static int
view_in_ranges(const struct imap_seq_range *r, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n, m;

	/* the last range with r.lo <= uid */
	while (lo < hi) {
		m = lo + (hi - lo) / 2;
		if (r[m].lo <= uid)
			lo = m + 1;
		else
			hi = m;
	}
	return lo > 0 && r[lo - 1].hi >= uid;
}

/*
 * QRESYNC (RFC 7162 3.2.5): the uids the client may still have that are
 * gone (VANISHED (EARLIER)), then the flags changed since its modseq.
 */
static void
view_qresync(struct imap_session *s, const struct imap_select *sel,
    struct view_read *r)
{
	struct imap_view *v = s->view;
	struct view_vanished x;
	struct imap_seq_range *known = NULL;
	struct imap_buf b;
	uint32_t *out = NULL, u;
	size_t nout = 0, capout = 0, i, k, nknown = sel->q_known_uids.n;

	if (nknown > 0) {
		known = xreallocarray(NULL, nknown, sizeof(*known));
		memcpy(known, sel->q_known_uids.r, nknown * sizeof(*known));
		for (i = 0; i < nknown; i++)
			if (known[i].hi == IMAP_SEQ_STAR)
				known[i].hi = v->uidnext > 0 ? v->uidnext - 1 :
				    0;
		qsort(known, nknown, sizeof(*known), view_cmp_range);
		/* merged, so that one range answers a lookup */
		for (i = 1, k = 0; i < nknown; i++) {
			if (known[i].lo <= known[k].hi ||
			    known[i].lo == known[k].hi + 1) {
				if (known[i].hi > known[k].hi)
					known[k].hi = known[i].hi;
			} else
				known[++k] = known[i];
		}
		nknown = k + 1;
	}
	memset(&x, 0, sizeof(x));
	x.mailbox_id = v->mailbox_id;
	x.since = sel->q_modseq;
	if (store_read(s->srv->store, view_vanished_txn, &x) == -1)
		x.reaches = 0;
	if (x.reaches) {
		if (x.n > 1)
			qsort(x.uids, x.n, sizeof(*x.uids), view_cmp_u32);
		for (i = 0; i < x.n; i++)
			if ((known == NULL || view_in_ranges(known, nknown,
			    x.uids[i])) && imap_view_seq(v, x.uids[i]) == 0 &&
			    (nout == 0 || out[nout - 1] != x.uids[i]))
				view_u32_push(&out, &nout, &capout,
				    x.uids[i]);
	} else {
		/* No log that far back: every uid not there now. */
		for (u = 1; u < v->uidnext; u++) {
			if (known != NULL && !view_in_ranges(known, nknown, u))
				continue;
			if (imap_view_seq(v, u) == 0)
				view_u32_push(&out, &nout, &capout, u);
		}
	}
	if (nout > 0) {
		imap_buf_init(&b);
		imap_buf_adds(&b, "* VANISHED (EARLIER) ");
		imap_buf_uidset(&b, out, nout);
		imap_buf_adds(&b, "\r\n");
		imap_write(s, b.p, b.len);
		imap_buf_free(&b);
	}
	for (i = 0; i < r->nchg; i++) {
		uint32_t seq = imap_view_seq(v, r->chg[i].uid);

		if (seq != 0)
			view_send_fetch(s, seq, &r->chg[i]);
	}
	free(out);
	free(x.uids);
	free(known);
}

/*
 * IMAP4rev2 (RFC 9051 6.3.2): SELECT tells the mailbox's name as LIST
 * would, with accurate attributes.
 */
static void
view_send_list(struct imap_session *s, const struct view_read *r)
{
	struct imap_buf b;
	char special[128];

	store_special_use_format(r->mb.special_use, special, sizeof(special));
	imap_buf_init(&b);
	imap_buf_printf(&b, "* LIST (%s%s%s) \"/\" ", special,
	    special[0] != '\0' ? " " : "", r->has_children ?
	    "\\HasChildren" : "\\HasNoChildren");
	imap_buf_mailbox(&b, r->mb.name, (s->enabled & IMAP_EN_UTF8) != 0);
	imap_buf_adds(&b, "\r\n");
	imap_write(s, b.p, b.len);
	imap_buf_free(&b);
}

void
imap_cmd_select(struct imap_session *s, struct imap_cmd *cmd)
{
	int examine = strcmp(cmd->verb, "EXAMINE") == 0;
	int rev1 = !(s->enabled & IMAP_EN_REV2);
	char name[STORE_MAILBOX_NAME_MAX + 1];
	struct imap_select sel;
	struct imap_str arg;
	struct view_read r;
	struct imap_view *v;
	size_t nrec;
	const char *kw;

	memset(&sel, 0, sizeof(sel));
	if (imap_p_sp(&cmd->p) == -1 || imap_p_astring(&cmd->p, &arg) == -1 ||
	    imap_p_select_params(&cmd->p, &sel) == -1) {
		imap_bad(s, "Error in IMAP command %s: %s", cmd->verb,
		    cmd->p.err != NULL ? cmd->p.err : "Invalid arguments");
		return;
	}
	if (sel.qresync && !(s->enabled & IMAP_EN_QRESYNC)) {
		imap_bad(s, "Error in IMAP command %s: QRESYNC isn't "
		    "enabled", cmd->verb);
		return;
	}
	/* Leaving the old mailbox, successful or not (RFC 3501 6.3.1). */
	if (s->view != NULL) {
		imap_view_free(&s->view);
		imap_session_set_selected(s, 0);
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed.");
	}
	if (imap_mailbox_name(s, &arg, name, sizeof(name)) == -1) {
		imap_no(s, "CANNOT", "%s", err_msg());
		return;
	}
	if (sel.condstore || sel.qresync)
		s->enabled |= IMAP_EN_CONDSTORE;
	memset(&r, 0, sizeof(r));
	imap_buf_init(&r.keywords);
	r.s = s;
	r.user_id = s->user_id;
	r.name = name;
	r.since = sel.qresync ? sel.q_modseq : UINT64_MAX;
	r.known_next = UINT32_MAX;
	r.want_children = !rev1;
	if (store_read(s->srv->store, view_read_txn, &r) == -1) {
		log_warnx("conn %lu: %s %s: %s", s->id, cmd->verb, name,
		    err_msg());
		view_read_free(&r);
		imap_no_err(s);
		return;
	}
	if (!r.found) {
		view_read_free(&r);
		imap_no(s, "NONEXISTENT", "Mailbox doesn't exist: %s", name);
		return;
	}
	v = xcalloc(1, sizeof(*v));
	v->mailbox_id = r.mb.id;
	v->uidvalidity = r.mb.uidvalidity;
	snprintf(v->name, sizeof(v->name), "%s", r.mb.name);
	v->readonly = examine;
	v->uids = r.uids;
	v->count = r.nuids;
	v->cap = r.capuids;
	r.uids = NULL;
	r.nuids = r.capuids = 0;
	v->uidnext = r.mb.uidnext;
	v->modseq = r.mb.highestmodseq;
	s->view = v;
	imap_session_set_selected(s, 1);
	if (!examine)
		view_claim_recent(s, &r.mb);

	kw = r.keywords.len > 0 ? r.keywords.p : "";
	imap_untagged(s, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft%s%.*s)", kw[0] != '\0' ? " " : "", (int)r.keywords.len,
	    kw);
	if (examine)
		imap_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox.");
	else
		imap_untagged(s, "OK [PERMANENTFLAGS (\\Answered \\Flagged "
		    "\\Deleted \\Seen \\Draft%s%.*s \\*)] Flags permitted.",
		    kw[0] != '\0' ? " " : "", (int)r.keywords.len, kw);
	imap_untagged(s, "%zu EXISTS", v->count);
	if (rev1) {
		nrec = view_count_recent(v);
		imap_untagged(s, "%zu RECENT", nrec);
		if (r.first_unseen != 0)
			imap_untagged(s, "OK [UNSEEN %" PRIu32 "] First "
			    "unseen.", r.first_unseen);
	}
	imap_untagged(s, "OK [UIDVALIDITY %" PRIu32 "] UIDs valid",
	    v->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %" PRIu32 "] Predicted next UID",
	    v->uidnext);
	imap_untagged(s, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest", v->modseq);
	if (!rev1)
		view_send_list(s, &r);
	if (sel.qresync && sel.q_uidvalidity == v->uidvalidity)
		view_qresync(s, &sel, &r);
	view_read_free(&r);
	imap_ok(s, examine ? "READ-ONLY" : "READ-WRITE", "%s completed.",
	    examine ? "Examine" : "Select");
}

/* CLOSE, UNSELECT, EXPUNGE, CHECK ------------------------------------- */

struct view_expunge {
	uint32_t	 mailbox_id;
	const uint32_t	*only;	/* UID EXPUNGE: these uids only */
	size_t		 nonly;
	uint32_t	*uids;
	size_t		 n, cap;
};

static int
view_expunge_row(const struct store_msg *m, void *ctx)
{
	struct view_expunge *x = ctx;

	if (!(m->flags & STORE_F_DELETED))
		return 0;
	if (x->only != NULL && view_u32_find(x->only, x->nonly, m->uid) < 0)
		return 0;
	view_u32_push(&x->uids, &x->n, &x->cap, m->uid);
	return 0;
}

static int
view_expunge_txn(struct store_txn *txn, void *ctx)
{
	struct view_expunge *x = ctx;
	size_t i;

	x->n = 0;
	if (store_msg_list_rows(txn, x->mailbox_id, 1, view_expunge_row, x) == -1)
		return -1;
	for (i = 0; i < x->n; i++)
		if (store_msg_expunge(txn, x->mailbox_id, x->uids[i]) == -1)
			return -1;
	return 0;
}

/* Removes the \Deleted messages (of only[], when given). */
static int
view_expunge(struct imap_session *s, const uint32_t *only, size_t nonly)
{
	struct view_expunge x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.mailbox_id = s->view->mailbox_id;
	x.only = only;
	x.nonly = nonly;
	rc = store_write(s->srv->store, view_expunge_txn, &x);
	if (rc != -1 && x.n > 0)
		log_info("conn %lu: user %s mailbox %s: %zu expunged", s->id,
		    s->user, s->view->name, x.n);
	free(x.uids);
	return rc == -1 ? -1 : 0;
}

void
imap_cmd_close(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "CLOSE takes no arguments.");
		return;
	}
	/* Expunged without EXPUNGE responses (RFC 3501 6.4.2). */
	if (!s->view->readonly && view_expunge(s, NULL, 0) == -1)
		log_warnx("conn %lu: CLOSE: %s", s->id, err_msg());
	imap_view_free(&s->view);
	imap_session_set_selected(s, 0);
	imap_ok(s, NULL, "Close completed.");
}

void
imap_cmd_unselect(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "UNSELECT takes no arguments.");
		return;
	}
	imap_view_free(&s->view);
	imap_session_set_selected(s, 0);
	imap_ok(s, NULL, "Unselect completed.");
}

void
imap_cmd_check(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "CHECK takes no arguments.");
		return;
	}
	imap_ok(s, NULL, "Check completed.");
}

void
imap_cmd_expunge(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_seqset set;
	uint32_t *only = NULL;
	size_t nonly = 0;

	if (cmd->uid && (imap_p_sp(&cmd->p) == -1 ||
	    imap_p_seqset(&cmd->p, &set) == -1)) {
		imap_bad(s, "Error in IMAP command UID EXPUNGE: %s",
		    cmd->p.err != NULL ? cmd->p.err : "Invalid arguments");
		return;
	}
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "Error in IMAP command %sEXPUNGE: Extra "
		    "arguments.", cmd->uid ? "UID " : "");
		return;
	}
	if (s->view->readonly) {
		imap_no(s, NULL, "Mailbox is read-only.");
		return;
	}
	if (cmd->uid && imap_view_resolve(s->view, &set, 1, &only, &nonly) ==
	    -1) {
		imap_bad(s, "Error in IMAP command UID EXPUNGE: %s",
		    err_msg());
		return;
	}
	if (cmd->uid && nonly == 0) {
		free(only);
		imap_ok(s, NULL, "Expunge completed.");
		return;
	}
	if (view_expunge(s, only, nonly) == -1) {
		free(only);
		imap_no_err(s);
		return;
	}
	free(only);
	imap_ok(s, NULL, "Expunge completed.");
}
