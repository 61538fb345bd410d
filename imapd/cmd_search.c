/*
 * cmd_search.c - SEARCH and UID SEARCH (ESEARCH RFC 4731, SEARCHRES RFC
 * 5182, CONDSTORE's MODSEQ RFC 7162), SORT (RFC 5256, RFC 5957) and
 * THREAD (RFC 5256).
 *
 * The three share one engine.  The command takes a snapshot of the view's
 * UIDs (what the client was told: results refer to it even when new mail
 * arrives meanwhile) and walks it in slices of IMAP_SEARCH_SLICE messages,
 * each in its own read transaction, yielding to the event loop between
 * slices so other sessions keep being served while a big mailbox is
 * searched.  Per message the cheap keys decide first (the msgs row); the
 * IMAP record, the header block and the decoded text are read only for
 * messages the cheap keys leave undecided (search.h).  SORT and THREAD
 * copy their keys from the IMAP record of each matching message, then
 * order them with thread.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "store/message.h"
#include "imapd/imapd.h"
#include "imapd/search.h"
#include "imapd/thread.h"

enum search_kind { K_SEARCH, K_SORT, K_THREAD };

/* Strings SORT and THREAD keep of each match (offsets into a pool). */
enum {
	S_SUBJECT, S_FROM, S_TO, S_CC, S_DFROM, S_DTO, S_MSGID, S_REFS,
	S_N
};

struct hit {
	uint32_t	 seq;
	uint32_t	 uid;
	uint64_t	 modseq;
};

struct hit_keys {
	int64_t		 arrival;
	int64_t		 date;
	uint64_t	 size;
	int		 is_reply;
	size_t		 off[S_N];
	size_t		 len[S_N];
};

struct search_state {
	enum search_kind	 kind;
	int			 uid;		/* UID SEARCH/SORT/THREAD */
	char			 tag[IMAP_TAG_MAX + 1];
	int			 esearch;	/* answer with ESEARCH */
	unsigned		 ret;		/* IMAP_SR_* */
	int			 uses_modseq;
	struct imap_sort	 sort;		/* SORT: the keys */
	enum imap_thread_alg	 alg;
	unsigned		 strs;		/* 1 << S_*: strings to keep */
	int			 keys_meta;	/* the keys need the record */

	struct imap_search_prog	*prog;
	unsigned		 needs;
	uint32_t		 mailbox_id;
	uint32_t		*uids;		/* the snapshot */
	size_t			 n;
	size_t			 pos;		/* next to look at */

	struct hit		*hits;
	struct hit_keys		*keys;		/* SORT, THREAD */
	size_t			 nhits;
	size_t			 cap;
	struct imap_buf		 pool;		/* the keys' strings */

	/* per message, reused */
	char			*hbuf;		/* header block */
	size_t			 hcap;
	struct imap_buf		 text;
	struct imap_buf		 body;
};

/* A slice being run inside one read transaction. */
struct slice {
	struct imap_session	*sess;
	struct search_state	*st;
	struct store_txn	*txn;
	size_t			 end;		/* snapshot index to stop at */
	struct timespec		 t0;
	int			 stop;		/* stopped on purpose */
};

struct reader {
	struct store_txn	*txn;
	uint32_t		 mailbox_id;
	uint32_t		 uid;
};

static void	search_start(struct imap_session *, struct imap_cmd *,
	    enum search_kind, struct imap_search *, const struct imap_sort *,
	    enum imap_thread_alg);
static int	charset_ok(const struct imap_str *);
static void	run(struct imap_session *, void *);
static void	state_free(void *);
static int	slice_txn(struct store_txn *, void *);
static int	row_fn(const struct store_msg *, void *);
static int	look_at(struct slice *, const struct store_msg *, uint32_t);
static int	read_range(void *, uint64_t, size_t, void *, size_t *);
static int	load_meta(struct slice *, const struct store_msg *, void **,
	    size_t *, struct imap_meta *);
static void	keep_keys(struct search_state *, const struct store_msg *,
	    const struct imap_meta *);
static void	keep_str(struct search_state *, struct hit_keys *, int,
	    const char *, size_t);
static int	slice_over(const struct slice *);
static void	finish(struct imap_session *, struct search_state *);
static void	answer_search(struct imap_session *, struct search_state *,
	    struct imap_buf *);
static void	answer_sort(struct imap_session *, struct search_state *,
	    struct imap_buf *);
static void	answer_thread(struct imap_session *, struct search_state *,
	    struct imap_buf *);
static void	thread_msgs(const struct search_state *,
	    struct imap_thread_msg *);
static void	save_result(struct imap_view *, const uint32_t *, size_t);

/* Handlers ---------------------------------------------------------------- */

void
imap_cmd_search(struct imap_session *sess, struct imap_cmd *cmd)
{
	struct imap_search s;

	if (imap_p_search(&cmd->p, &s) == -1) {
		/* RFC 5182: a failed SEARCH ... RETURN (SAVE) empties the
		 * saved result (when SAVE was read before the error) */
		if (s.ret & IMAP_SR_SAVE)
			save_result(sess->view, NULL, 0);
		imap_bad(sess, "%s", cmd->p.err);
		return;
	}
	search_start(sess, cmd, K_SEARCH, &s, NULL, 0);
}

void
imap_cmd_sort(struct imap_session *sess, struct imap_cmd *cmd)
{
	struct imap_sort so;

	if (imap_p_sort(&cmd->p, &so) == -1) {
		imap_bad(sess, "%s", cmd->p.err);
		return;
	}
	search_start(sess, cmd, K_SORT, &so.search, &so, 0);
}

void
imap_cmd_thread(struct imap_session *sess, struct imap_cmd *cmd)
{
	struct imap_thread th;

	if (imap_p_thread(&cmd->p, &th) == -1) {
		imap_bad(sess, "%s", cmd->p.err);
		return;
	}
	search_start(sess, cmd, K_THREAD, &th.search, NULL, th.alg);
}

/* UTF-8 and US-ASCII only (US-ASCII is a subset). */
static int
charset_ok(const struct imap_str *cs)
{
	return cs->s == NULL || imap_str_eq(cs, "UTF-8") ||
	    imap_str_eq(cs, "US-ASCII");
}

static void
search_start(struct imap_session *sess, struct imap_cmd *cmd,
    enum search_kind kind, struct imap_search *s, const struct imap_sort *so,
    enum imap_thread_alg alg)
{
	struct imap_view *v = sess->view;
	struct search_state *st;
	struct imap_search_env env;
	size_t i;

	if (!charset_ok(&s->charset)) {
		if (kind == K_SEARCH && (s->ret & IMAP_SR_SAVE))
			save_result(v, NULL, 0);
		imap_no(sess, "BADCHARSET (UTF-8 US-ASCII)",
		    "Unsupported charset");
		return;
	}
	st = xcalloc(1, sizeof(*st));
	st->kind = kind;
	st->uid = cmd->uid;
	memcpy(st->tag, cmd->tag, sizeof(st->tag));
	st->uses_modseq = s->uses_modseq;
	if (kind == K_SEARCH) {
		st->esearch = s->ret_given ||
		    (sess->enabled & IMAP_EN_REV2) != 0;
		st->ret = s->ret_given ? s->ret : IMAP_SR_ALL;
	} else if (kind == K_SORT) {
		st->sort = *so;
		for (i = 0; i < so->nkeys; i++) {
			switch (so->keys[i].key) {
			case IMAP_SORT_SUBJECT:
				st->strs |= 1u << S_SUBJECT;
				break;
			case IMAP_SORT_FROM:
				st->strs |= 1u << S_FROM;
				break;
			case IMAP_SORT_TO:
				st->strs |= 1u << S_TO;
				break;
			case IMAP_SORT_CC:
				st->strs |= 1u << S_CC;
				break;
			case IMAP_SORT_DISPLAYFROM:
				st->strs |= 1u << S_DFROM;
				break;
			case IMAP_SORT_DISPLAYTO:
				st->strs |= 1u << S_DTO;
				break;
			case IMAP_SORT_DATE:
				st->keys_meta = 1;
				break;
			default:
				break;
			}
		}
		if (st->strs != 0)
			st->keys_meta = 1;
	} else {
		st->keys_meta = 1;
		st->alg = alg;
		st->strs = 1u << S_SUBJECT;
		if (alg == IMAP_THREAD_REFERENCES)
			st->strs |= 1u << S_MSGID | 1u << S_REFS;
	}

	/* RFC 7162 3.1: a MODSEQ key enables CONDSTORE */
	if (s->uses_modseq && !(sess->enabled & IMAP_EN_CONDSTORE)) {
		sess->enabled |= IMAP_EN_CONDSTORE;
		imap_untagged(sess, "OK [HIGHESTMODSEQ %llu] Highest",
		    (unsigned long long)v->modseq);
	}

	memset(&env, 0, sizeof(env));
	env.nmsgs = (uint32_t)v->count;
	env.max_uid = v->count > 0 ? v->uids[v->count - 1] : 0;
	env.saved = v->saved;
	env.nsaved = v->nsaved;
	env.now = (int64_t)time(NULL);
	st->prog = imap_search_compile(s->root, &env);
	st->needs = imap_search_prog_needs(st->prog);
	st->mailbox_id = v->mailbox_id;
	st->n = v->count;
	st->uids = xreallocarray(NULL, st->n + 1, sizeof(*st->uids));
	if (st->n > 0)
		memcpy(st->uids, v->uids, st->n * sizeof(*st->uids));
	imap_buf_init(&st->pool);
	imap_buf_init(&st->text);
	imap_buf_init(&st->body);
	run(sess, st);
}

static void
state_free(void *arg)
{
	struct search_state *st = arg;

	imap_search_prog_free(&st->prog);
	free(st->uids);
	free(st->hits);
	free(st->keys);
	imap_buf_free(&st->pool);
	free(st->hbuf);
	imap_buf_free(&st->text);
	imap_buf_free(&st->body);
	free(st);
}

/* The engine --------------------------------------------------------------- */

/*
 * One slice, then either the answer or a yield: the loop serves others
 * before the next slice.
 */
static void
run(struct imap_session *sess, void *arg)
{
	struct search_state *st = arg;
	struct slice sl;

	if (sess->view == NULL || sess->view->mailbox_id != st->mailbox_id) {
		/* cannot happen while the command runs; be safe */
		imap_no(sess, NULL, "Mailbox is gone");
		state_free(st);
		return;
	}
	memset(&sl, 0, sizeof(sl));
	sl.sess = sess;
	sl.st = st;
	sl.end = st->pos + IMAP_SEARCH_SLICE;
	if (sl.end > st->n)
		sl.end = st->n;
	clock_gettime(CLOCK_MONOTONIC, &sl.t0);
	if (st->pos < st->n &&
	    store_read(sess->srv->store, slice_txn, &sl) == -1) {
		log_warnx("conn %lu: %s: %s", sess->id,
		    st->kind == K_SEARCH ? "SEARCH" : st->kind == K_SORT ?
		    "SORT" : "THREAD", err_msg());
		if (st->kind == K_SEARCH && (st->ret & IMAP_SR_SAVE))
			save_result(sess->view, NULL, 0);
		imap_no_err(sess);
		state_free(st);
		return;
	}
	if (st->pos < st->n) {
		imap_yield(sess, run, state_free, st);
		return;
	}
	finish(sess, st);
	state_free(st);
}

static int
slice_txn(struct store_txn *txn, void *arg)
{
	struct slice *sl = arg;
	struct search_state *st = sl->st;
	int r;

	sl->txn = txn;
	sl->stop = 0;
	r = store_msg_list(txn, st->mailbox_id, st->uids[st->pos], row_fn,
	    sl);
	if (r == -1 && !sl->stop)
		return -1;
	/* the rows ran out: the rest of the slice was expunged meanwhile */
	if (!sl->stop)
		st->pos = sl->end;
	return 0;
}

/*
 * The rows come in uid order from the slice's first uid on: a merge with
 * the snapshot.  A snapshot uid without a row was expunged (not matched);
 * a row without a snapshot uid is new mail the command did not see.
 */
static int
row_fn(const struct store_msg *m, void *arg)
{
	struct slice *sl = arg;
	struct search_state *st = sl->st;

	while (st->pos < sl->end && st->uids[st->pos] < m->uid)
		st->pos++;
	if (st->pos >= sl->end) {
		sl->stop = 1;
		return -1;
	}
	if (st->uids[st->pos] > m->uid)
		return 0;
	if (!imap_view_is_gone(sl->sess->view, m->uid) &&
	    look_at(sl, m, (uint32_t)(st->pos + 1)) == -1)
		return -1;
	st->pos++;
	if (st->pos >= sl->end || slice_over(sl)) {
		sl->stop = 1;
		return -1;
	}
	return 0;
}

/* A slice also ends when it has taken IMAP_SEARCH_SLICE_USEC. */
static int
slice_over(const struct slice *sl)
{
	struct timespec now;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - sl->t0.tv_sec) * 1000000 +
	    (now.tv_nsec - sl->t0.tv_nsec) / 1000;
	return us >= IMAP_SEARCH_SLICE_USEC;
}

static int
read_range(void *arg, uint64_t off, size_t len, void *buf, size_t *len_r)
{
	struct reader *r = arg;

	return store_msg_read_range(r->txn, r->mailbox_id, r->uid, off, len,
	    buf, len_r);
}

static int
load_meta(struct slice *sl, const struct store_msg *m, void **raw,
    size_t *rawlen, struct imap_meta *meta)
{
	int r;

	if ((r = store_body_meta(sl->txn, m->body, raw, rawlen)) != 1) {
		if (r == 0)
			err_set(ERR_CORRUPT, "message %u: no body", m->uid);
		return -1;
	}
	return imap_meta_parse(*raw, *rawlen, meta);
}

/* Evaluates one message in stages; keeps it when it matches. */
static int
look_at(struct slice *sl, const struct store_msg *m, uint32_t seq)
{
	struct search_state *st = sl->st;
	struct imap_search_msg sm;
	struct imap_meta meta;
	struct imap_part p0;
	struct reader rd;
	void *raw = NULL;
	size_t rawlen = 0, len;
	unsigned want;
	int r, have_meta = 0, rc = -1;

	memset(&sm, 0, sizeof(sm));
	sm.seq = seq;
	sm.uid = m->uid;
	sm.flags = m->flags;
	sm.keywords = m->keywords;
	sm.recent = imap_view_is_recent(sl->sess->view, m->uid);
	sm.size = m->crlf_size;
	sm.internal_date = m->internal_date;
	sm.modseq = m->modseq;
	r = imap_search_match(st->prog, &sm);
	rd.txn = sl->txn;
	rd.mailbox_id = st->mailbox_id;
	rd.uid = m->uid;
	if (r == IMAP_SM_MAYBE) {
		if (load_meta(sl, m, &raw, &rawlen, &meta) == -1)
			goto out;
		have_meta = 1;
		if (st->needs & IMAP_SN_DATE)
			sm.sent_date = imap_search_sent_local(&meta,
			    m->internal_date);
		sm.have |= IMAP_SN_DATE;
		if (st->needs & IMAP_SN_HEADER) {
			/* the header block only: part 0's header */
			imap_meta_part(&meta, 0, &p0);
			len = (size_t)(p0.body_off - p0.hdr_off);
			if (len > st->hcap) {
				st->hbuf = xreallocarray(st->hbuf, len, 1);
				st->hcap = len;
			}
			if (len > 0 && store_msg_read_range(sl->txn,
			    st->mailbox_id, m->uid, p0.hdr_off, len, st->hbuf,
			    &len) == -1)
				goto out;
			sm.header = st->hbuf;
			sm.header_len = len;
			sm.have |= IMAP_SN_HEADER;
		}
		r = imap_search_match(st->prog, &sm);
	}
	if (r == IMAP_SM_MAYBE && (st->needs & (IMAP_SN_TEXT | IMAP_SN_BODY))) {
		/*
		 * Headers and bodies in one pass: the store keeps the last
		 * segment it decompressed, and a second pass would
		 * decompress the header and the body segments again.
		 */
		want = st->needs & (IMAP_SN_TEXT | IMAP_SN_BODY);
		if (imap_search_text(&meta, want, read_range, &rd, &st->text,
		    &st->body) == -1)
			goto out;
		sm.text = st->text.p;
		sm.text_len = st->text.len;
		sm.body = st->body.p;
		sm.body_len = st->body.len;
		sm.have |= want;
		r = imap_search_match(st->prog, &sm);
	}
	if (r != IMAP_SM_YES) {
		rc = 0;
		goto out;
	}
	if (st->nhits == st->cap) {
		st->cap = st->cap == 0 ? 64 : st->cap * 2;
		st->hits = xreallocarray(st->hits, st->cap, sizeof(*st->hits));
		if (st->kind != K_SEARCH)
			st->keys = xreallocarray(st->keys, st->cap,
			    sizeof(*st->keys));
	}
	st->hits[st->nhits].seq = seq;
	st->hits[st->nhits].uid = m->uid;
	st->hits[st->nhits].modseq = m->modseq;
	if (st->kind != K_SEARCH) {
		if (!have_meta && st->keys_meta) {
			if (load_meta(sl, m, &raw, &rawlen, &meta) == -1)
				goto out;
			have_meta = 1;
		}
		keep_keys(st, m, have_meta ? &meta : NULL);
	}
	st->nhits++;
	rc = 0;
out:
	free(raw);
	return rc;
}

static void
keep_str(struct search_state *st, struct hit_keys *k, int which,
    const char *s, size_t len)
{
	k->off[which] = st->pool.len;
	k->len[which] = 0;
	if (!(st->strs & (1u << which)) || s == NULL)
		return;
	imap_buf_add(&st->pool, s, len);
	k->len[which] = len;
}

static void
keep_keys(struct search_state *st, const struct store_msg *m,
    const struct imap_meta *meta)
{
	struct hit_keys *k = &st->keys[st->nhits];

	memset(k, 0, sizeof(*k));
	k->arrival = m->internal_date;
	k->date = m->internal_date;
	k->size = m->crlf_size;
	if (meta == NULL)
		return;		/* SORT by ARRIVAL or SIZE only */
	/* RFC 5256 2.2: the internal date when Date: is missing or bad */
	if (meta->date != 0)
		k->date = meta->date;
	k->is_reply = meta->subject_is_reply;
	keep_str(st, k, S_SUBJECT, meta->base_subject, meta->base_subject_len);
	keep_str(st, k, S_FROM, meta->from_mailbox, meta->from_mailbox_len);
	keep_str(st, k, S_TO, meta->to_mailbox, meta->to_mailbox_len);
	keep_str(st, k, S_CC, meta->cc_mailbox, meta->cc_mailbox_len);
	keep_str(st, k, S_DFROM, meta->from_display, meta->from_display_len);
	keep_str(st, k, S_DTO, meta->to_display, meta->to_display_len);
	keep_str(st, k, S_MSGID, meta->message_id, meta->message_id_len);
	keep_str(st, k, S_REFS, meta->references, meta->references_len);
}

/* Answers ------------------------------------------------------------------ */

static void
finish(struct imap_session *sess, struct search_state *st)
{
	struct imap_buf out;

	imap_buf_init(&out);
	switch (st->kind) {
	case K_SEARCH:
		answer_search(sess, st, &out);
		break;
	case K_SORT:
		answer_sort(sess, st, &out);
		break;
	case K_THREAD:
		answer_thread(sess, st, &out);
		break;
	}
	if (out.len > 0)
		imap_write(sess, out.p, out.len);
	imap_buf_free(&out);
	imap_ok(sess, NULL, "%s completed",
	    st->kind == K_SEARCH ? "Search" : st->kind == K_SORT ? "Sort" :
	    "Thread");
}

static void
save_result(struct imap_view *v, const uint32_t *uids, size_t n)
{
	if (v == NULL)
		return;
	free(v->saved);
	v->saved = NULL;
	v->nsaved = 0;
	if (n == 0)
		return;
	v->saved = xreallocarray(NULL, n, sizeof(*v->saved));
	memcpy(v->saved, uids, n * sizeof(*v->saved));
	v->nsaved = n;
}

static void
answer_search(struct imap_session *sess, struct search_state *st,
    struct imap_buf *out)
{
	uint32_t *ids, *uids;
	uint64_t modseq = 0;
	size_t i, n = st->nhits, mm[2], nmm = 0;
	unsigned ret = st->ret;

	ids = xreallocarray(NULL, n + 1, sizeof(*ids));
	uids = xreallocarray(NULL, n + 1, sizeof(*uids));
	for (i = 0; i < n; i++) {
		ids[i] = st->uid ? st->hits[i].uid : st->hits[i].seq;
		uids[i] = st->hits[i].uid;
	}
	if (n > 0) {
		mm[nmm++] = 0;
		if (n > 1)
			mm[nmm++] = n - 1;
	}
	/* RFC 7162 3.1.5: the highest modseq of what is returned; with
	 * only MIN/MAX, of those messages */
	if (st->uses_modseq) {
		if (st->esearch && !(ret & (IMAP_SR_ALL | IMAP_SR_COUNT))) {
			for (i = 0; i < nmm; i++)
				if (((i == 0 && (ret & IMAP_SR_MIN)) ||
				    ((i == 1 || nmm == 1) &&
				    (ret & IMAP_SR_MAX))) &&
				    st->hits[mm[i]].modseq > modseq)
					modseq = st->hits[mm[i]].modseq;
		} else {
			for (i = 0; i < n; i++)
				if (st->hits[i].modseq > modseq)
					modseq = st->hits[i].modseq;
		}
	}
	if (ret & IMAP_SR_SAVE) {
		/* RFC 5182: with MIN or MAX but not ALL or COUNT, only
		 * those are saved */
		if (!(ret & (IMAP_SR_ALL | IMAP_SR_COUNT)) &&
		    (ret & (IMAP_SR_MIN | IMAP_SR_MAX)) && n > 0) {
			uint32_t keep[2];
			size_t nk = 0;

			if (ret & IMAP_SR_MIN)
				keep[nk++] = uids[0];
			if ((ret & IMAP_SR_MAX) && (nk == 0 ||
			    uids[n - 1] != keep[0]))
				keep[nk++] = uids[n - 1];
			save_result(sess->view, keep, nk);
		} else
			save_result(sess->view, uids, n);
	}
	if (!st->esearch) {
		imap_buf_adds(out, "* SEARCH");
		for (i = 0; i < n; i++)
			imap_buf_printf(out, " %u", ids[i]);
		if (modseq != 0)
			imap_buf_printf(out, " (MODSEQ %llu)",
			    (unsigned long long)modseq);
		imap_buf_adds(out, "\r\n");
	} else if (ret != IMAP_SR_SAVE) {
		/* RFC 5182: SAVE alone answers no ESEARCH */
		imap_buf_adds(out, "* ESEARCH (TAG ");
		imap_buf_string(out, st->tag, strlen(st->tag), 0);
		imap_buf_adds(out, ")");
		if (st->uid)
			imap_buf_adds(out, " UID");
		if ((ret & IMAP_SR_MIN) && n > 0)
			imap_buf_printf(out, " MIN %u", ids[0]);
		if ((ret & IMAP_SR_MAX) && n > 0)
			imap_buf_printf(out, " MAX %u", ids[n - 1]);
		if ((ret & IMAP_SR_ALL) && n > 0) {
			imap_buf_adds(out, " ALL ");
			imap_buf_uidset(out, ids, n);
		}
		if (ret & IMAP_SR_COUNT)
			imap_buf_printf(out, " COUNT %zu", n);
		if (modseq != 0)
			imap_buf_printf(out, " MODSEQ %llu",
			    (unsigned long long)modseq);
		imap_buf_adds(out, "\r\n");
	}
	free(ids);
	free(uids);
}

static void
thread_msgs(const struct search_state *st, struct imap_thread_msg *tm)
{
	const struct hit_keys *k;
	const char *pool = st->pool.p != NULL ? st->pool.p : "";
	size_t i;

	for (i = 0; i < st->nhits; i++) {
		k = &st->keys[i];
		memset(&tm[i], 0, sizeof(tm[i]));
		tm[i].id = st->uid ? st->hits[i].uid : st->hits[i].seq;
		tm[i].arrival = k->arrival;
		tm[i].date = k->date;
		tm[i].size = k->size;
		tm[i].is_reply = k->is_reply;
#define STR(f, w)	do { tm[i].f = pool + k->off[w];		\
			     tm[i].f##_len = k->len[w]; } while (0)
		STR(subject, S_SUBJECT);
		STR(from, S_FROM);
		STR(to, S_TO);
		STR(cc, S_CC);
		STR(display_from, S_DFROM);
		STR(display_to, S_DTO);
		STR(message_id, S_MSGID);
		STR(references, S_REFS);
#undef STR
	}
}

static uint64_t
max_modseq(const struct search_state *st)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < st->nhits; i++)
		if (st->hits[i].modseq > m)
			m = st->hits[i].modseq;
	return m;
}

static void
answer_sort(struct imap_session *sess, struct search_state *st,
    struct imap_buf *out)
{
	struct imap_thread_msg *tm;
	size_t *order, i;

	tm = xreallocarray(NULL, st->nhits + 1, sizeof(*tm));
	order = xreallocarray(NULL, st->nhits + 1, sizeof(*order));
	thread_msgs(st, tm);
	imap_thread_sort(tm, st->nhits, &st->sort, order);
	imap_buf_adds(out, "* SORT");
	for (i = 0; i < st->nhits; i++)
		imap_buf_printf(out, " %u", tm[order[i]].id);
	if (st->uses_modseq && st->nhits > 0)
		imap_buf_printf(out, " (MODSEQ %llu)",
		    (unsigned long long)max_modseq(st));
	imap_buf_adds(out, "\r\n");
	free(tm);
	free(order);
}

static void
answer_thread(struct imap_session *sess, struct search_state *st,
    struct imap_buf *out)
{
	struct imap_thread_msg *tm;

	tm = xreallocarray(NULL, st->nhits + 1, sizeof(*tm));
	thread_msgs(st, tm);
	imap_buf_adds(out, "* THREAD");
	if (st->nhits > 0) {
		imap_buf_adds(out, " ");
		if (st->alg == IMAP_THREAD_REFERENCES)
			imap_thread_references(tm, st->nhits, out);
		else
			imap_thread_orderedsubject(tm, st->nhits, out);
	}
	imap_buf_adds(out, "\r\n");
	free(tm);
}
