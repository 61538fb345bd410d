/*
 * cmd_mailbox.c - commands on mailboxes as a whole: LIST LSUB CREATE
 * DELETE RENAME SUBSCRIBE UNSUBSCRIBE STATUS NAMESPACE GETQUOTA
 * GETQUOTAROOT SETQUOTA.
 *
 * Where the RFCs leave room, Dovecot 2.3 is the model:
 * - CREATE "a/b/c" creates the missing "a" and "a/b" as ordinary
 *   mailboxes (RFC 3501 6.3.3 asks for the superior names); a trailing
 *   separator is dropped.  A created mailbox is not subscribed.
 * - DELETE of a mailbox with children deletes it and its messages and
 *   keeps the children; the name then lists as \Noselect \HasChildren
 *   (RFC 3501 6.3.4: "the name will acquire the \Noselect attribute").
 *   A name that lists only as such a level does not exist: DELETE of it
 *   is NO [NONEXISTENT].  DELETE of the selected mailbox leaves the
 *   Selected state first.
 * - RENAME moves the children along and of INBOX moves the messages
 *   (the store does both), and creates missing parents of the new name.
 * - Subscriptions live on the mailbox record in the store, so only an
 *   existing mailbox can be subscribed: SUBSCRIBE of an unknown name is
 *   NO [NONEXISTENT] (RFC 3501 6.3.6 lets a server refuse it; Dovecot
 *   accepts it), UNSUBSCRIBE of one is OK (it is not subscribed), and a
 *   deleted mailbox is no longer subscribed (Dovecot keeps the name).
 * - Plain LIST answers \HasChildren/\HasNoChildren and the special-use
 *   attributes; LIST-EXTENDED answers what the RETURN options ask.  A
 *   level that does not exist but has children is \Noselect in a plain
 *   LIST and \NonExistent in an extended one (or under IMAP4rev2).
 *   LSUB gives the special-use attributes as well (Outlook wants them).
 *
 * A LIST reads every mailbox of the user in one snapshot
 * (store_mailbox_list()) into the tree of listmatch.h, which derives
 * children, missing levels and RECURSIVEMATCH's CHILDINFO in one pass:
 * no lookup per mailbox.  Its output is written in pieces; when the
 * client does not read, the command yields until the output drains.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mail/utf7.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/user.h"
#include "imapd/imapd.h"
#include "imapd/listmatch.h"

/* LIST output is handed to the session in pieces of about this size. */
#define LIST_FLUSH_BYTES	(16 * 1024)
/*
 * The patterns of one LIST, collapsed, in all.  Matching costs name bytes
 * x pattern bytes / 64 word operations, on the event loop: this keeps a
 * LIST of 10,000 long names under a second whatever a client sends
 * (IMAP_LIST_PATTERNS_MAX patterns of a 64 KiB line could cost 8 times
 * more).  A pattern too long to match anything (listmatch.h) costs
 * nothing and counts nothing.  More: NO [LIMIT].
 */
#define LIST_PATTERN_BYTES_MAX	8192
/*
 * LIST-STATUS reads each mailbox's record (and for SIZE, DELETED and
 * DELETED-STORAGE its message rows): at most this many mailboxes per
 * event-loop turn, so other sessions are served in between.
 */
#define LIST_STATUS_PER_TURN	64

struct list_ctx {
	struct imap_list_tree	 tree;
	size_t			 pos;		/* next item to emit */
	int			 lsub;
	int			 ext;		/* LIST-EXTENDED syntax */
	int			 lsub_no_unsubscribed;
	unsigned		 select;	/* IMAP_LS_* */
	unsigned		 ret;		/* IMAP_LR_* */
	unsigned		 status;	/* IMAP_ST_* */
	struct imap_listmatch	*lm[IMAP_LIST_PATTERNS_MAX];
	size_t			 nlm;
	struct imap_buf		 out;
};

struct list_run {
	struct imap_session	*s;
	struct list_ctx		*ctx;
};

static int	name_arg(struct imap_session *, const struct imap_str *,
		    int trailing_sep, char *);
static int	name_only_arg(struct imap_session *, struct imap_parser *,
		    char *);
static int	mailbox_get(struct store_txn *, uint32_t, const char *,
		    struct store_mailbox *);
static int	use_utf8(const struct imap_session *);
static char	*list_pattern(struct imap_session *, const struct imap_str *,
		    const struct imap_str *, size_t *);
static int	list_read(struct store_txn *, void *);
static int	list_collect(const struct store_mailbox *, void *);
static void	list_line(struct imap_session *, struct list_ctx *,
		    const struct imap_list_item *);
static int	list_emit_txn(struct store_txn *, void *);
static void	list_run(struct imap_session *, void *);
static void	list_free(void *);
static void	list_root(struct imap_session *, const struct imap_str *);
static void	list_start(struct imap_session *, struct list_ctx *);
static void	flush(struct imap_session *, struct imap_buf *);
static int	status_write(struct imap_session *, struct store_txn *,
		    const struct store_mailbox *, unsigned, struct imap_buf *);
static uint64_t	append_limit(const struct imap_session *);
static int	count_recent(const struct store_msg *, void *);
static int	count_all(const struct store_msg *, void *);
static int	ensure_parents(struct store_txn *, uint32_t, const char *);
static int	create_txn(struct store_txn *, void *);
static int	delete_txn(struct store_txn *, void *);
static int	rename_txn(struct store_txn *, void *);
static int	view_name_txn(struct store_txn *, void *);
static int	subscribe_txn(struct store_txn *, void *);
static int	status_txn(struct store_txn *, void *);
static int	quota_txn(struct store_txn *, void *);
static void	quota_write(struct imap_buf *, const struct store_user *);
static int	parse_create_params(struct imap_parser *, uint32_t *,
		    const char **);

/* Names ------------------------------------------------------------------ */

static int
use_utf8(const struct imap_session *s)
{
	return (s->enabled & IMAP_EN_UTF8) != 0;
}

/*
 * A mailbox argument as the store's name into out (STORE_MAILBOX_NAME_MAX
 * + 1 bytes).  trailing_sep: one trailing separator is allowed and dropped
 * (CREATE, the new name of RENAME).  Answers NO [CANNOT] itself on a bad
 * name and returns -1.
 */
static int
name_arg(struct imap_session *s, const struct imap_str *arg,
    int trailing_sep, char *out)
{
	struct imap_str a = *arg;

	if (trailing_sep && a.len > 1 && a.s[a.len - 1] == STORE_MAILBOX_SEP)
		a.len--;
	if (imap_mailbox_name(s, &a, out, STORE_MAILBOX_NAME_MAX + 1) == -1) {
		imap_no(s, "CANNOT", "%s", err_msg());
		return -1;
	}
	return 0;
}

/*
 * The one argument of DELETE, SUBSCRIBE and the like: SP mailbox, then
 * the end of the line, into out (as name_arg()).  Bad syntax gets BAD,
 * a bad name NO; either way -1.
 */
static int
name_only_arg(struct imap_session *s, struct imap_parser *p, char *out)
{
	struct imap_str arg;

	if (imap_p_sp(p) == -1 || imap_p_astring(p, &arg) == -1 ||
	    imap_p_end(p) == -1) {
		imap_bad(s, "%s", p->err != NULL ? p->err :
		    "Invalid arguments.");
		return -1;
	}
	return name_arg(s, &arg, 0, out);
}

/*
 * The mailbox name of user_id into *mb: 1, or -1 (ERR_NOTFOUND "Mailbox
 * doesn't exist" when there is none).
 */
static int
mailbox_get(struct store_txn *t, uint32_t user_id, const char *name,
    struct store_mailbox *mb)
{
	int rc;

	if ((rc = store_mailbox_get(t, user_id, name, mb)) == 1)
		return 1;
	return rc == 0 ? err_set(ERR_NOTFOUND, "Mailbox doesn't exist: %s",
	    name) : -1;
}

/*
 * reference + pattern as one pattern over the store's names (malloc'd,
 * *len_r bytes).  A separator ending the reference and one starting the
 * pattern count once.  Modified UTF-7 is decoded (unless UTF8=ACCEPT);
 * a pattern that is not valid modified UTF-7 is used as it is, as
 * Dovecot does: it then matches only names that have the same bytes.
 */
static char *
list_pattern(struct imap_session *s, const struct imap_str *ref,
    const struct imap_str *pat, size_t *len_r)
{
	size_t rl = ref->s != NULL ? ref->len : 0, pl = pat->len, n, size;
	const char *ps = pat->s;
	char *raw, *dec;

	if (rl > 0 && pl > 0 && ref->s[rl - 1] == STORE_MAILBOX_SEP &&
	    ps[0] == STORE_MAILBOX_SEP) {
		ps++;
		pl--;
	}
	n = rl + pl;
	raw = xmalloc(n + 1);
	if (rl > 0)
		memcpy(raw, ref->s, rl);
	if (pl > 0)
		memcpy(raw + rl, ps, pl);
	raw[n] = '\0';
	if (use_utf8(s) || memchr(raw, '&', n) == NULL ||
	    memchr(raw, '\0', n) != NULL) {
		*len_r = n;
		return raw;
	}
	/* 8 characters of modified base64 give at most 9 bytes of UTF-8 */
	size = 2 * n + 16;
	dec = xmalloc(size);
	if (utf7_decode(raw, n, dec, size) == -1) {
		free(dec);
		err_clear();
		*len_r = n;
		return raw;
	}
	free(raw);
	*len_r = strlen(dec);
	return dec;
}

/* LIST, LSUB ------------------------------------------------------------- */

static int
list_collect(const struct store_mailbox *mb, void *arg)
{
	struct list_ctx *ctx = arg;

	imap_list_tree_add(&ctx->tree, mb->name, mb->id, mb->special_use,
	    mb->subscribed);
	return 0;
}

struct user_arg {
	uint32_t		 user_id;
	struct list_ctx		*ctx;
};

static int
list_read(struct store_txn *t, void *arg)
{
	struct user_arg *a = arg;

	return store_mailbox_list(t, a->user_id, list_collect, a->ctx);
}

static void
list_line(struct imap_session *s, struct list_ctx *ctx,
    const struct imap_list_item *e)
{
	struct imap_buf *b = &ctx->out;
	char su[128];
	int first = 1;

#define ATTR(str) do {							\
	imap_buf_adds(b, first ? "" : " ");				\
	imap_buf_adds(b, (str));					\
	first = 0;							\
} while (0)

	imap_buf_adds(b, ctx->lsub ? "* LSUB (" : "* LIST (");
	if (ctx->lsub) {
		if (!e->selected)
			ATTR("\\Noselect");
	} else {
		if (e->subscribed && ((ctx->ret & IMAP_LR_SUBSCRIBED) ||
		    (ctx->select & IMAP_LS_SUBSCRIBED)))
			ATTR("\\Subscribed");
		if (e->id == 0)
			ATTR(ctx->ext || (s->enabled & IMAP_EN_REV2) ?
			    "\\NonExistent" : "\\Noselect");
		if (!ctx->ext || (ctx->ret & IMAP_LR_CHILDREN))
			ATTR(e->children ? "\\HasChildren" :
			    "\\HasNoChildren");
	}
	if (e->special_use != 0 && (ctx->lsub || !ctx->ext ||
	    (ctx->ret & IMAP_LR_SPECIAL_USE) ||
	    (ctx->select & IMAP_LS_SPECIAL_USE)))
		ATTR(store_special_use_format(e->special_use, su,
		    sizeof(su)));
#undef ATTR
	imap_buf_printf(b, ") \"%c\" ", STORE_MAILBOX_SEP);
	imap_buf_mailbox(b, e->name, use_utf8(s));
	if (!ctx->lsub && ctx->ext && (ctx->select & IMAP_LS_RECURSIVEMATCH) &&
	    e->childsel) {
		imap_buf_adds(b, " (CHILDINFO (");
		if (ctx->select & IMAP_LS_SUBSCRIBED)
			imap_buf_adds(b, "\"SUBSCRIBED\"");
		if (ctx->select & IMAP_LS_SPECIAL_USE)
			imap_buf_adds(b, (ctx->select & IMAP_LS_SUBSCRIBED) ?
			    " \"SPECIAL-USE\"" : "\"SPECIAL-USE\"");
		imap_buf_adds(b, "))");
	}
	imap_buf_adds(b, "\r\n");
}

static void
flush(struct imap_session *s, struct imap_buf *b)
{
	if (b->len > 0)
		imap_write(s, b->p, b->len);
	imap_buf_reset(b);
}

/*
 * Emits entries from ctx->pos on, in one read snapshot (for the STATUS
 * of LIST-STATUS).  1 all done, 0 paused: for the output to drain, or
 * after LIST_STATUS_PER_TURN STATUS answers.
 */
static int
list_emit_txn(struct store_txn *t, void *arg)
{
	struct list_run *r = arg;
	struct imap_session *s = r->s;
	struct list_ctx *ctx = r->ctx;
	struct store_mailbox mb;
	struct imap_list_item *e;
	int rc, statuses = 0;

	while (ctx->pos < ctx->tree.n) {
		if (statuses == LIST_STATUS_PER_TURN)
			return 0;	/* the rest on the next turn */
		e = &ctx->tree.v[ctx->pos++];
		if (!e->emit)
			continue;
		list_line(s, ctx, e);
		if ((ctx->ret & IMAP_LR_STATUS) && e->selected) {
			statuses++;
			/* a mailbox deleted since the listing has no STATUS */
			if ((rc = store_mailbox_get_by_id(t, e->id, &mb)) == -1)
				return -1;
			if (rc == 1 && mb.user_id == s->user_id &&
			    status_write(s, t, &mb, ctx->status, &ctx->out) ==
			    -1)
				return -1;
		}
		if (ctx->out.len >= LIST_FLUSH_BYTES) {
			flush(s, &ctx->out);
			if (imap_pending(s) > CONN_OUT_HIGH)
				return 0;
		}
	}
	return 1;
}

static void
list_run(struct imap_session *s, void *arg)
{
	struct list_ctx *ctx = arg;
	struct list_run r = { s, ctx };
	int rc;

	rc = store_read(s->srv->store, list_emit_txn, &r);
	flush(s, &ctx->out);
	if (rc == 0) {
		log_debug("conn %lu: LIST pauses at %zu of %zu", s->id,
		    ctx->pos, ctx->tree.n);
		imap_yield(s, list_run, list_free, ctx);
		return;
	}
	if (rc == -1)
		imap_no_err(s);
	else
		imap_ok(s, NULL, ctx->lsub ? "Lsub completed." :
		    "List completed.");
	list_free(ctx);
}

static void
list_free(void *arg)
{
	struct list_ctx *ctx = arg;
	size_t i;

	if (ctx == NULL)
		return;
	imap_list_tree_free(&ctx->tree);
	for (i = 0; i < ctx->nlm; i++)
		imap_listmatch_free(&ctx->lm[i]);
	imap_buf_free(&ctx->out);
	free(ctx);
}

/*
 * LIST ref "": the separator and the root of the reference (as UW-IMAP
 * and Dovecot: the reference up to its first separator).
 */
static void
list_root(struct imap_session *s, const struct imap_str *ref)
{
	struct imap_buf b;
	size_t n = 0;

	imap_buf_init(&b);
	imap_buf_printf(&b, "* LIST (\\Noselect) \"%c\" ", STORE_MAILBOX_SEP);
	if (ref->s != NULL) {
		while (n < ref->len && ref->s[n] != STORE_MAILBOX_SEP)
			n++;
		n = n < ref->len ? n + 1 : 0;
	}
	if (n == 0)
		imap_buf_adds(&b, "\"\"");
	else
		imap_buf_astring(&b, ref->s, n, use_utf8(s));
	imap_buf_adds(&b, "\r\n");
	flush(s, &b);
	imap_buf_free(&b);
	imap_ok(s, NULL, "List completed.");
}

/* Reads the names, works out what to answer, and starts the output. */
static void
list_start(struct imap_session *s, struct list_ctx *ctx)
{
	struct user_arg a = { s->user_id, ctx };

	if (store_read(s->srv->store, list_read, &a) == -1) {
		imap_no_err(s);
		list_free(ctx);
		return;
	}
	imap_list_tree_build(&ctx->tree, STORE_MAILBOX_SEP);
	imap_list_tree_select(&ctx->tree, ctx->lm, ctx->nlm, ctx->select,
	    ctx->lsub_no_unsubscribed);
	if ((ctx->ret & IMAP_LR_STATUS) &&
	    (ctx->status & IMAP_ST_HIGHESTMODSEQ))
		s->enabled |= IMAP_EN_CONDSTORE;
	list_run(s, ctx);
}

void
imap_cmd_list(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	struct imap_list l;
	struct list_ctx *ctx;
	size_t i, len, work = 0;
	char *pat;

	memset(&l, 0, sizeof(l));
	/* imap_p_list() reads from the SP on, through the end */
	if (imap_p_list(p, &l) == -1) {
		imap_bad(s, "%s", p->err != NULL ? p->err :
		    "Invalid arguments.");
		return;
	}
	if ((l.select & IMAP_LS_RECURSIVEMATCH) && !(l.select &
	    (IMAP_LS_SUBSCRIBED | IMAP_LS_SPECIAL_USE))) {
		imap_bad(s, "RECURSIVEMATCH must not be the only selection.");
		return;
	}
	if (!l.extended && l.npatterns == 1 && l.patterns[0].len == 0) {
		list_root(s, &l.reference);
		return;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	imap_buf_init(&ctx->out);
	ctx->ext = l.extended;
	ctx->select = l.select;
	ctx->ret = l.ret;
	ctx->status = l.status;
	for (i = 0; i < l.npatterns && i < IMAP_LIST_PATTERNS_MAX; i++) {
		pat = list_pattern(s, &l.reference, &l.patterns[i], &len);
		ctx->lm[ctx->nlm++] = imap_listmatch_new(pat, len,
		    STORE_MAILBOX_SEP, 1);
		free(pat);
		imap_listmatch_pattern(ctx->lm[i], &len);
		work += len;
	}
	if (work > LIST_PATTERN_BYTES_MAX) {
		list_free(ctx);
		imap_no(s, "LIMIT", "LIST patterns longer than %d bytes in all",
		    LIST_PATTERN_BYTES_MAX);
		return;
	}
	list_start(s, ctx);
}

void
imap_cmd_lsub(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	struct imap_str ref, pattern;
	struct list_ctx *ctx;
	size_t len;
	char *pat;

	if (imap_p_sp(p) == -1 || imap_p_astring(p, &ref) == -1 ||
	    imap_p_sp(p) == -1 || imap_p_list_mailbox(p, &pattern) == -1 ||
	    imap_p_end(p) == -1) {
		imap_bad(s, "%s", p->err != NULL ? p->err :
		    "Invalid arguments.");
		return;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	imap_buf_init(&ctx->out);
	ctx->lsub = 1;
	ctx->select = IMAP_LS_SUBSCRIBED | IMAP_LS_RECURSIVEMATCH;
	/* a level with subscribed children shows (\Noselect) only when the
	 * pattern ends with '%' (RFC 3501 6.3.9) */
	ctx->lsub_no_unsubscribed = pattern.len == 0 ||
	    pattern.s[pattern.len - 1] != '%';
	pat = list_pattern(s, &ref, &pattern, &len);
	ctx->lm[ctx->nlm++] = imap_listmatch_new(pat, len, STORE_MAILBOX_SEP,
	    1);
	free(pat);
	list_start(s, ctx);
}

/* STATUS ----------------------------------------------------------------- */

/* The items read from the message rows. */
#define ST_NEEDS_ROWS	(IMAP_ST_SIZE | IMAP_ST_DELETED | \
			    IMAP_ST_DELETED_STORAGE)

/*
 * The APPENDLIMIT of every mailbox: what SMTP accepts, as the
 * APPENDLIMIT= capability says (cmd_auth.c) and APPEND enforces
 * (cmd_append.c).
 */
static uint64_t
append_limit(const struct imap_session *s)
{
	uint64_t lim = s->srv->config->smtpd_max_message_size;

	return lim < STORE_MSG_MAX ? lim : STORE_MSG_MAX;
}

struct count {
	uint32_t	lo;		/* RECENT: uids from here on */
	uint64_t	n;
	uint64_t	size;
	uint64_t	deleted;
	uint64_t	deleted_size;	/* bytes of the \Deleted ones */
};

static int
count_recent(const struct store_msg *m, void *arg)
{
	struct count *c = arg;

	(void)m;
	c->n++;
	return 0;
}

static int
count_all(const struct store_msg *m, void *arg)
{
	struct count *c = arg;

	c->size += m->crlf_size;
	if (m->flags & STORE_F_DELETED) {
		c->deleted++;
		c->deleted_size += m->size;
	}
	return 0;
}

/*
 * "* STATUS name (...)" for mb into b.  RECENT counts the messages no
 * session has claimed yet, plus, for the mailbox this session has
 * selected, the ones it holds as \Recent.  SIZE is the sum of RFC822.SIZE
 * (as Dovecot's); SIZE and DELETED read the message rows.
 */
static int
status_write(struct imap_session *s, struct store_txn *t,
    const struct store_mailbox *mb, unsigned items, struct imap_buf *b)
{
	struct imap_view *v = s->view;
	struct count rc = { 0 }, all = { 0 };
	const char *sp = "";
	size_t i;

	if (items & IMAP_ST_RECENT) {
		rc.lo = mb->recent_uid;
		if (v != NULL && v->mailbox_id == mb->id) {
			for (i = 0; i < v->count; i++)
				if (imap_view_is_recent(v, v->uids[i]))
					rc.n++;
			if (v->recent_hi > rc.lo)
				rc.lo = v->recent_hi;
		}
		if (rc.lo < mb->uidnext && store_msg_list(t, mb->id,
		    rc.lo > 0 ? rc.lo : 1, count_recent, &rc) == -1)
			return -1;
	}
	if ((items & ST_NEEDS_ROWS) && mb->messages > 0 &&
	    store_msg_list(t, mb->id, 1, count_all, &all) == -1)
		return -1;

	imap_buf_adds(b, "* STATUS ");
	imap_buf_mailbox(b, mb->name, use_utf8(s));
	imap_buf_adds(b, " (");
#define ITEM(bit, fmt, val) do {					\
	if (items & (bit)) {						\
		imap_buf_printf(b, "%s" fmt, sp, (val));		\
		sp = " ";						\
	}								\
} while (0)
	ITEM(IMAP_ST_MESSAGES, "MESSAGES %" PRIu32, mb->messages);
	ITEM(IMAP_ST_RECENT, "RECENT %" PRIu64, rc.n);
	ITEM(IMAP_ST_UIDNEXT, "UIDNEXT %" PRIu32, mb->uidnext);
	ITEM(IMAP_ST_UIDVALIDITY, "UIDVALIDITY %" PRIu32, mb->uidvalidity);
	ITEM(IMAP_ST_UNSEEN, "UNSEEN %" PRIu32, mb->unseen);
	ITEM(IMAP_ST_HIGHESTMODSEQ, "HIGHESTMODSEQ %" PRIu64,
	    mb->highestmodseq);
	ITEM(IMAP_ST_SIZE, "SIZE %" PRIu64, all.size);
	ITEM(IMAP_ST_DELETED, "DELETED %" PRIu64, all.deleted);
	/* RFC 9208 5.1: what EXPUNGE would free, in the KiB of STORAGE */
	ITEM(IMAP_ST_DELETED_STORAGE, "DELETED-STORAGE %" PRIu64,
	    all.deleted_size / 1024);
	/* RFC 7889: the same limit for every mailbox, as the capability */
	ITEM(IMAP_ST_APPENDLIMIT, "APPENDLIMIT %" PRIu64, append_limit(s));
#undef ITEM
	imap_buf_adds(b, ")\r\n");
	return 0;
}

struct status_arg {
	struct imap_session	*s;
	const char		*name;
	unsigned		 items;
	struct imap_buf		*b;
};

static int
status_txn(struct store_txn *t, void *arg)
{
	struct status_arg *a = arg;
	struct store_mailbox mb;

	if (mailbox_get(t, a->s->user_id, a->name, &mb) == -1)
		return -1;
	return status_write(a->s, t, &mb, a->items, a->b) == -1 ? -1 : 1;
}

void
imap_cmd_status(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	struct imap_str arg;
	struct imap_buf b;
	struct status_arg a;
	unsigned items = 0;

	/* imap_p_status_items() reads from the SP on, through the end */
	if (imap_p_sp(p) == -1 || imap_p_astring(p, &arg) == -1 ||
	    imap_p_status_items(p, &items) == -1) {
		imap_bad(s, "%s", p->err != NULL ? p->err :
		    "Invalid arguments.");
		return;
	}
	if (name_arg(s, &arg, 0, name) == -1)
		return;
	if (items & IMAP_ST_HIGHESTMODSEQ)
		s->enabled |= IMAP_EN_CONDSTORE;	/* RFC 7162 3.1 */
	imap_buf_init(&b);
	a.s = s;
	a.name = name;
	a.items = items;
	a.b = &b;
	if (store_read(s->srv->store, status_txn, &a) == -1) {
		imap_buf_free(&b);
		imap_no_err(s);
		return;
	}
	flush(s, &b);
	imap_buf_free(&b);
	imap_ok(s, NULL, "Status completed.");
}

/* CREATE, DELETE, RENAME, SUBSCRIBE ---------------------------------------- */

/*
 * Creates every missing superior name of name ("a" and "a/b" for
 * "a/b/c"), unsubscribed.
 */
static int
ensure_parents(struct store_txn *t, uint32_t user_id, const char *name)
{
	char parent[STORE_MAILBOX_NAME_MAX + 1];
	struct store_mailbox mb;
	const char *p;
	int rc;

	for (p = strchr(name, STORE_MAILBOX_SEP); p != NULL;
	    p = strchr(p + 1, STORE_MAILBOX_SEP)) {
		memcpy(parent, name, (size_t)(p - name));
		parent[p - name] = '\0';
		if ((rc = store_mailbox_get(t, user_id, parent, &mb)) == -1)
			return -1;
		if (rc == 1)
			continue;
		if (store_mailbox_create(t, user_id, parent, 0, NULL) == -1 ||
		    store_mailbox_subscribe(t, user_id, parent, 0) == -1)
			return -1;
	}
	return 0;
}

struct mbox_arg {
	uint32_t	 user_id;
	const char	*name;
	const char	*newname;
	uint32_t	 special_use;
	int		 on;
	uint32_t	 id;		/* DELETE: the mailbox deleted */
};

static int
create_txn(struct store_txn *t, void *arg)
{
	struct mbox_arg *a = arg;
	struct store_mailbox mb;
	int rc;

	if ((rc = store_mailbox_get(t, a->user_id, a->name, &mb)) != 0)
		return rc == 1 ? err_set(ERR_EXISTS, "Mailbox already "
		    "exists") : -1;
	if (ensure_parents(t, a->user_id, a->name) == -1 ||
	    store_mailbox_create(t, a->user_id, a->name, a->special_use,
	    NULL) == -1 ||
	    store_mailbox_subscribe(t, a->user_id, a->name, 0) == -1)
		return -1;
	return 1;
}

/*
 * [SP "(" create-param *(SP create-param) ")"] with the one parameter
 * known, USE (RFC 6154): "(" [use-attr *(SP use-attr)] ")".  -1 with
 * p->err for bad syntax; 0 with *badattr set to an attribute that cannot
 * be used (NO [USEATTR]); 0.
 */
static int
parse_create_params(struct imap_parser *p, uint32_t *special_r,
    const char **badattr)
{
	struct imap_str a;
	char attr[64];
	uint32_t bit;

	*special_r = 0;
	*badattr = NULL;
	if (imap_p_at_end(p))
		return 0;
	if (imap_p_sp(p) == -1 || imap_p_char(p, '(') == -1)
		return -1;
	for (;;) {
		if (imap_p_atom(p, &a) == -1)
			return -1;
		if (!imap_str_eq(&a, "USE")) {
			p->err = "Unknown CREATE parameter";
			return -1;
		}
		if (imap_p_sp(p) == -1 || imap_p_char(p, '(') == -1)
			return -1;
		while (imap_p_peek(p) != ')') {
			if (imap_p_char(p, '\\') == -1 ||
			    imap_p_atom(p, &a) == -1)
				return -1;
			attr[0] = '\\';
			if (imap_str_copy(attr + 1, sizeof(attr) - 1, &a) ==
			    -1)
				bit = 0;
			else
				bit = store_special_use_parse(attr);
			/* \All and \Flagged are virtual mailboxes */
			if (bit == 0 || bit == STORE_SPECIAL_ALL ||
			    bit == STORE_SPECIAL_FLAGGED) {
				if (*badattr == NULL)
					*badattr = bit == 0 ? "Invalid "
					    "SPECIAL-USE attribute" :
					    "\\All and \\Flagged are not "
					    "available for new mailboxes";
			}
			*special_r |= bit;
			if (imap_p_peek(p) == ' ' && imap_p_sp(p) == -1)
				return -1;
		}
		if (imap_p_char(p, ')') == -1)
			return -1;
		if (imap_p_peek(p) == ')')
			break;
		if (imap_p_sp(p) == -1)
			return -1;
	}
	if (imap_p_char(p, ')') == -1)
		return -1;
	return 0;
}

void
imap_cmd_create(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	struct imap_str arg;
	struct mbox_arg a = { 0 };
	const char *badattr;

	if (imap_p_sp(p) == -1 || imap_p_astring(p, &arg) == -1 ||
	    parse_create_params(p, &a.special_use, &badattr) == -1 ||
	    imap_p_end(p) == -1) {
		imap_bad(s, "%s", p->err != NULL ? p->err :
		    "Invalid arguments.");
		return;
	}
	if (badattr != NULL) {
		imap_no(s, "USEATTR", "%s", badattr);
		return;
	}
	if (name_arg(s, &arg, 1, name) == -1)
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_no(s, "ALREADYEXISTS", "Mailbox already exists");
		return;
	}
	a.user_id = s->user_id;
	a.name = name;
	if (store_write(s->srv->store, create_txn, &a) == -1) {
		imap_no_err(s);
		return;
	}
	imap_ok(s, NULL, "Create completed.");
}

static int
delete_txn(struct store_txn *t, void *arg)
{
	struct mbox_arg *a = arg;
	struct store_mailbox mb;

	if (mailbox_get(t, a->user_id, a->name, &mb) == -1)
		return -1;
	a->id = mb.id;
	return store_mailbox_delete(t, a->user_id, a->name);
}

void
imap_cmd_delete(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	struct mbox_arg a = { 0 };

	if (name_only_arg(s, p, name) == -1)
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_no(s, "CANNOT", "INBOX can't be deleted.");
		return;
	}
	a.user_id = s->user_id;
	a.name = name;
	if (store_write(s->srv->store, delete_txn, &a) == -1) {
		imap_no_err(s);
		return;
	}
	/*
	 * The selected mailbox was deleted: leave it, as Dovecot (by id:
	 * another session may have renamed it since it was selected).
	 */
	if (s->view != NULL && s->view->mailbox_id == a.id) {
		imap_view_free(&s->view);
		imap_session_set_selected(s, 0);
	}
	imap_ok(s, NULL, "Delete completed.");
}

static int
rename_txn(struct store_txn *t, void *arg)
{
	struct mbox_arg *a = arg;
	struct store_mailbox mb;
	int rc;

	if (mailbox_get(t, a->user_id, a->name, &mb) == -1)
		return -1;
	if ((rc = store_mailbox_get(t, a->user_id, a->newname, &mb)) != 0)
		return rc == 1 ? err_set(ERR_EXISTS, "Mailbox already "
		    "exists") : -1;
	if (store_mailbox_rename(t, a->user_id, a->name, a->newname) == -1 ||
	    ensure_parents(t, a->user_id, a->newname) == -1)
		return -1;
	/* INBOX stays; its messages went into a new mailbox */
	if (strcmp(a->name, "INBOX") == 0 &&
	    store_mailbox_subscribe(t, a->user_id, a->newname, 0) == -1)
		return -1;
	return 1;
}

/* The selected mailbox's name as the store has it now. */
static int
view_name_txn(struct store_txn *t, void *arg)
{
	struct imap_view *v = arg;
	struct store_mailbox mb;
	int rc;

	if ((rc = store_mailbox_get_by_id(t, v->mailbox_id, &mb)) == 1)
		memcpy(v->name, mb.name, sizeof(v->name));
	return rc;
}

void
imap_cmd_rename(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	char from[STORE_MAILBOX_NAME_MAX + 1], to[STORE_MAILBOX_NAME_MAX + 1];
	struct imap_str arg1, arg2;
	struct mbox_arg a = { 0 };

	if (imap_p_sp(p) == -1 || imap_p_astring(p, &arg1) == -1 ||
	    imap_p_sp(p) == -1 || imap_p_astring(p, &arg2) == -1 ||
	    imap_p_end(p) == -1) {
		imap_bad(s, "%s", p->err != NULL ? p->err :
		    "Invalid arguments.");
		return;
	}
	if (name_arg(s, &arg1, 0, from) == -1 ||
	    name_arg(s, &arg2, 1, to) == -1)
		return;
	a.user_id = s->user_id;
	a.name = from;
	a.newname = to;
	if (store_write(s->srv->store, rename_txn, &a) == -1) {
		imap_no_err(s);
		return;
	}
	/* The selected mailbox keeps its id, and so its UIDs; its name
	 * may have changed (it or a parent was renamed). */
	if (s->view != NULL && store_read(s->srv->store, view_name_txn,
	    s->view) == -1)
		log_warnx("conn %lu: RENAME: %s", s->id, err_msg());
	imap_ok(s, NULL, "Rename completed.");
}

static int
subscribe_txn(struct store_txn *t, void *arg)
{
	struct mbox_arg *a = arg;

	if (store_mailbox_subscribe(t, a->user_id, a->name, a->on) != -1)
		return 1;
	if (err_class() != ERR_NOTFOUND)
		return -1;
	if (!a->on)
		return 0;	/* not there: not subscribed either */
	return err_set(ERR_NOTFOUND, "Mailbox doesn't exist: %s", a->name);
}

/* SUBSCRIBE and UNSUBSCRIBE: the verb tells. */
void
imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	struct mbox_arg a = { 0 };

	if (name_only_arg(s, p, name) == -1)
		return;
	a.user_id = s->user_id;
	a.name = name;
	a.on = strcmp(cmd->verb, "UNSUBSCRIBE") != 0;
	if (store_write(s->srv->store, subscribe_txn, &a) == -1) {
		imap_no_err(s);
		return;
	}
	imap_ok(s, NULL, a.on ? "Subscribe completed." :
	    "Unsubscribe completed.");
}

/* NAMESPACE, QUOTA ------------------------------------------------------- */

void
imap_cmd_namespace(struct imap_session *s, struct imap_cmd *cmd)
{
	if (imap_p_end(&cmd->p) == -1) {
		imap_bad(s, "%s", cmd->p.err);
		return;
	}
	imap_untagged(s, "NAMESPACE ((\"\" \"%c\")) NIL NIL",
	    STORE_MAILBOX_SEP);
	imap_ok(s, NULL, "Namespace completed.");
}

/*
 * The one quota root "" (RFC 9208) holds the limits the user has: STORAGE
 * in KiB and MESSAGE.  With neither, there is no root (as Dovecot).
 */
static void
quota_write(struct imap_buf *b, const struct store_user *u)
{
	const char *sp = "";

	imap_buf_adds(b, "* QUOTA \"\" (");
	if (u->quota_bytes != 0) {
		imap_buf_printf(b, "STORAGE %" PRIu64 " %" PRIu64,
		    u->used_bytes / 1024, u->quota_bytes / 1024);
		sp = " ";
	}
	if (u->quota_messages != 0)
		imap_buf_printf(b, "%sMESSAGE %" PRIu64 " %" PRIu64, sp,
		    u->used_messages, u->quota_messages);
	imap_buf_adds(b, ")\r\n");
}

struct quota_arg {
	uint32_t		 user_id;
	const char		*mailbox;	/* GETQUOTAROOT: must exist */
	struct store_user	 u;
};

static int
quota_txn(struct store_txn *t, void *arg)
{
	struct quota_arg *a = arg;
	struct store_mailbox mb;
	int rc;

	if (a->mailbox != NULL &&
	    mailbox_get(t, a->user_id, a->mailbox, &mb) == -1)
		return -1;
	if ((rc = store_user_get(t, a->user_id, &a->u)) != 1)
		return rc == 0 ? err_set(ERR_NOTFOUND, "no such user") : -1;
	return 1;
}

void
imap_cmd_getquotaroot(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	struct quota_arg a;
	struct imap_buf b;
	int limited;

	if (name_only_arg(s, p, name) == -1)
		return;
	memset(&a, 0, sizeof(a));
	a.user_id = s->user_id;
	a.mailbox = name;
	if (store_read(s->srv->store, quota_txn, &a) == -1) {
		imap_no_err(s);
		return;
	}
	limited = a.u.quota_bytes != 0 || a.u.quota_messages != 0;
	imap_buf_init(&b);
	imap_buf_adds(&b, "* QUOTAROOT ");
	imap_buf_mailbox(&b, name, use_utf8(s));
	imap_buf_adds(&b, limited ? " \"\"\r\n" : "\r\n");
	if (limited)
		quota_write(&b, &a.u);
	flush(s, &b);
	imap_buf_free(&b);
	imap_ok(s, NULL, "Getquotaroot completed.");
}

void
imap_cmd_getquota(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_parser *p = &cmd->p;
	struct imap_str root;
	struct quota_arg a;
	struct imap_buf b;

	if (imap_p_sp(p) == -1 || imap_p_astring(p, &root) == -1 ||
	    imap_p_end(p) == -1) {
		imap_bad(s, "%s", p->err != NULL ? p->err :
		    "Invalid arguments.");
		return;
	}
	memset(&a, 0, sizeof(a));
	a.user_id = s->user_id;
	if (store_read(s->srv->store, quota_txn, &a) == -1) {
		imap_no_err(s);
		return;
	}
	if (root.len != 0 ||
	    (a.u.quota_bytes == 0 && a.u.quota_messages == 0)) {
		imap_no(s, "NONEXISTENT", "Quota root doesn't exist.");
		return;
	}
	imap_buf_init(&b);
	quota_write(&b, &a.u);
	flush(s, &b);
	imap_buf_free(&b);
	imap_ok(s, NULL, "Getquota completed.");
}

/* Quotas are the administrator's (vellumctl). */
void
imap_cmd_setquota(struct imap_session *s, struct imap_cmd *cmd)
{
	imap_no(s, "NOPERM", "Quota can be changed only by the "
	    "administrator.");
}
