/*
 * message.c - message rows, preparing and linking bodies (body.c), and the
 * append/copy/move/expunge path.
 *
 * A body is keyed by the SHA-256 of the whole message, so the same message
 * delivered to many mailboxes is one body with a refcount; its segments
 * are blobs, so a part shared by different messages is stored once.  Every
 * function that changes rows updates, in the same transaction, the
 * mailbox counters and modseq, the user's usage and the refcounts.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mail/mime.h"
#include "dict.h"
#include "learn.h"
#include "mailbox.h"
#include "message.h"
#include "private.h"
#include "user.h"

struct prep_seg {
	uint8_t		 hash[32];
	const uint8_t	*ptr;		/* the raw bytes */
	size_t		 len;
	int		 kind;
	void		*z;		/* compressed bytes, or NULL */
	int		 borrowed;	/* z belongs to another prepared */
	size_t		 zlen;
	uint8_t		 codec;
	uint32_t	 dict_id;
};

struct store_prepared {
	struct store	*st;
	const uint8_t	*data;
	size_t		 len;
	size_t		 crlf_len;	/* with bare LFs as CRLF */
	int		 noeol;		/* no final LF */
	int		 segs_checked;	/* missing segments compressed */
	uint8_t		 body[32];
	size_t		 nsegs;		/* 0 until cut */
	struct prep_seg	*segs;
	int		 known;		/* the body existed when prepared */
	struct meta_prep meta;		/* the IMAP record (z NULL: none) */
	int		 has_meta;
};

static int	msg_append(struct store_txn *, uint32_t, uint32_t,
		    struct store_prepared *, int64_t, uint32_t, const char *,
		    unsigned, uint32_t *);
static void	prep_cut(struct store_prepared *);
static int	prep_check(struct store_txn *, void *);
static int	keywords_normalize(const char *, char *);
static int	msg_learn(struct store_txn *, uint32_t,
		    const struct store_mailbox *, uint32_t);
static int	msg_link(struct store_txn *, struct store_mailbox *,
		    struct store_msg *, unsigned);

/* Preparing ---------------------------------------------------------- */

static void
prep_cut(struct store_prepared *p)
{
	struct mime_segment *ms;
	size_t i, n, piece, off, len, k = 0, count = 0;

	if (p->nsegs > 0 || p->len == 0)
		return;
	mime_segments(p->data, p->len, MIME_PART_MIN, &ms, &n);
	/*
	 * Segments longer than STORE_SEG_MAX are cut in pieces of that size
	 * (from their start, so a repeated attachment cuts the same way):
	 * reading a range of a large message then decompresses at most one
	 * piece more than it needs.
	 */
	for (i = 0; i < n; i++)
		count += ms[i].len == 0 ? 1 :
		    (ms[i].len + STORE_SEG_MAX - 1) / STORE_SEG_MAX;
	p->segs = xcalloc(count, sizeof(*p->segs));
	for (i = 0; i < n; i++) {
		for (off = 0; off < ms[i].len || (off == 0 && ms[i].len == 0);
		    off += piece) {
			len = ms[i].len - off;
			piece = len > STORE_SEG_MAX ? STORE_SEG_MAX : len;
			p->segs[k].ptr = p->data + ms[i].off + off;
			p->segs[k].len = piece;
			p->segs[k].kind = ms[i].kind == MIME_SEG_HEADER ?
			    DICT_HEADER : DICT_BODY;
			blob_sha256(p->segs[k].ptr, piece,
			    p->segs[k].hash);
			k++;
			if (piece == 0)
				break;
		}
	}
	p->nsegs = k;
	free(ms);
}


/* The length with every LF not preceded by CR counted as CRLF. */
static size_t
prep_crlf_len(const uint8_t *data, size_t len)
{
	const uint8_t *p = data, *end = data + len, *nl;
	size_t n = len;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl == data || nl[-1] != '\r')
			n++;
		p = nl + 1;
	}
	return n;
}

/* Compresses the segments that the store does not have yet. */
static int
prep_check(struct store_txn *t, void *ctx)
{
	struct store_prepared *p = ctx;
	struct blob_rec b;
	struct prep_seg *s;
	size_t i;
	int rc;

	if (p->segs_checked)
		return 0;
	/* A known body needs nothing, unless it is cut for prefixes. */
	if ((rc = body_find(t, p->body, &(uint64_t){ 0 })) == -1)
		return -1;
	p->known = rc == 1;
	if (p->nsegs == 0 && p->known)
		return 1;
	prep_cut(p);
	for (i = 0; i < p->nsegs; i++) {
		s = &p->segs[i];
		if (s->z != NULL || (rc = blob_get(t, s->hash, &b)) == 1)
			continue;
		if (rc == -1)
			return -1;
		if (blob_compress(t->st, t, s->kind, s->ptr, s->len,
		    &s->z, &s->zlen, &s->codec, &s->dict_id) == -1)
			return -1;
	}
	p->segs_checked = 1;
	return 0;
}

int
store_msg_prepare(struct store *st, const void *data, size_t len,
    struct store_prepared **r)
{
	struct store_prepared *p;

	*r = NULL;
	if (len >= STORE_MSG_MAX)
		return err_set(ERR_TOOBIG, "message of %zu bytes is larger "
		    "than the store's limit", len);
	p = xcalloc(1, sizeof(*p));
	p->st = st;
	p->data = data;
	p->len = len;
	blob_sha256(data, len, p->body);
	p->crlf_len = prep_crlf_len(p->data, len);
	p->noeol = len > 0 && p->data[len - 1] != '\n';
	if (store_read(st, prep_check, p) == -1) {
		store_prepared_free(&p);
		return -1;
	}
	/* The IMAP record, unless the store has this body already. */
	if (!p->known) {
		if (meta_prepare(st, data, len, &p->meta) == -1) {
			store_prepared_free(&p);
			return -1;
		}
		p->has_meta = 1;
	}
	*r = p;
	return 0;
}

void
store_prepared_free(struct store_prepared **pp)
{
	struct store_prepared *p = *pp;
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nsegs; i++)
		if (!p->segs[i].borrowed)
			free(p->segs[i].z);
	free(p->segs);
	meta_prep_clear(&p->meta);
	free(p);
	*pp = NULL;
}

/* Compresses the prefix segment of a prefixed message if new. */
static int
prefix_check(struct store_txn *t, void *ctx)
{
	struct store_prepared *p = ctx;
	struct prep_seg *s = &p->segs[0];
	struct blob_rec b;
	int rc;

	if ((rc = blob_get(t, s->hash, &b)) != 0)
		return rc;
	return blob_compress(t->st, t, s->kind, s->ptr, s->len, &s->z,
	    &s->zlen, &s->codec, &s->dict_id);
}

int
store_msg_prepare_prefix(struct store *st, struct store_prepared *base,
    const void *prefix, size_t prefix_len, struct store_prepared **r)
{
	struct store_prepared *p;
	struct prep_seg *s;
	uint8_t keys[64];
	size_t i;

	*r = NULL;
	if (base->len + prefix_len >= STORE_MSG_MAX)
		return err_set(ERR_TOOBIG, "message of %zu bytes is larger "
		    "than the store's limit", base->len + prefix_len);
	/* The base is cut and compressed once, for the first recipient. */
	prep_cut(base);
	if (!base->segs_checked && store_read(st, prep_check, base) == -1)
		return -1;
	p = xcalloc(1, sizeof(*p));
	p->st = st;
	p->data = base->data;
	p->len = base->len + prefix_len;
	p->crlf_len = prep_crlf_len(prefix, prefix_len) + base->crlf_len;
	p->noeol = base->len > 0 ? base->noeol : (prefix_len > 0 &&
	    ((const uint8_t *)prefix)[prefix_len - 1] != '\n');
	p->nsegs = base->nsegs + (prefix_len > 0);
	p->segs = xcalloc(p->nsegs == 0 ? 1 : p->nsegs, sizeof(*p->segs));
	i = 0;
	if (prefix_len > 0) {
		s = &p->segs[i++];
		s->ptr = prefix;
		s->len = prefix_len;
		s->kind = DICT_HEADER;
		blob_sha256(prefix, prefix_len, s->hash);
	}
	memcpy(p->segs + i, base->segs, base->nsegs * sizeof(*p->segs));
	for (; i < p->nsegs; i++)
		p->segs[i].borrowed = 1;
	/* Body key: SHA-256 over the prefix's and the base's keys. */
	blob_sha256(prefix, prefix_len, keys);
	memcpy(keys + 32, base->body, 32);
	blob_sha256(keys, sizeof(keys), p->body);
	/* The prefix is compressed here too, not in the transaction. */
	if (prefix_len > 0 && store_read(st, prefix_check, p) == -1) {
		store_prepared_free(&p);
		return -1;
	}
	/*
	 * The IMAP record describes the whole message (its offsets start
	 * at the prefix), so it is built over the two joined.
	 */
	if (prefix_len == 0 && base->has_meta) {
		p->meta = base->meta;
		p->meta.z = xmemdup(base->meta.z, base->meta.zlen == 0 ? 1 :
		    base->meta.zlen);
		p->has_meta = 1;
	} else {
		uint8_t *whole = xmalloc(p->len == 0 ? 1 : p->len);
		int mrc;

		memcpy(whole, prefix, prefix_len);
		memcpy(whole + prefix_len, base->data, base->len);
		mrc = meta_prepare(st, whole, p->len, &p->meta);
		free(whole);
		if (mrc == -1) {
			store_prepared_free(&p);
			return -1;
		}
		p->has_meta = 1;
	}
	*r = p;
	return 0;
}

size_t
store_prepared_size(const struct store_prepared *p)
{
	return p->len;
}

/*
 * Links the prepared body: refcount + 1 when it exists, else its blobs
 * (compressing here any that vanished since store_msg_prepare()).  Does
 * not change p, so that the transaction may run again.
 */
int
body_insert(struct store_txn *t, struct store_prepared *p, uint64_t *id_r)
{
	struct body_rec body;
	struct blob_rec b;
	struct prep_seg *s;
	void *z;
	size_t i, zlen;
	uint8_t codec;
	uint32_t dict_id, cur;
	uint64_t id;
	int rc;

	if ((rc = body_find(t, p->body, &id)) == -1)
		return -1;
	if (rc == 1) {
		*id_r = id;
		if (body_ref(t, id) == -1)
			return -1;
		if (body_get(t, id, &body) != 1)
			return err_set(ERR_CORRUPT, "body %llu vanished",
			    (unsigned long long)id);
		/*
		 * A body from before IMAP records gets its record now; one
		 * only a queue entry used before schema 6, its sizes.
		 */
		rc = 0;
		if ((p->has_meta && !body.has_meta) || !body.eol_known) {
			body.crlf_size = p->crlf_len;
			body.noeol = p->noeol != 0;
			body.eol_known = 1;
			if ((p->has_meta && !body.has_meta &&
			    meta_write_current(t, id, &body, &p->meta) == -1) ||
			    body_put(t, id, &body, 0) == -1)
				rc = -1;
		}
		body_rec_clear(&body);
		return rc;
	}
	prep_cut(p);
	memset(&body, 0, sizeof(body));
	memcpy(body.hash, p->body, 32);
	body.refcount = 1;
	body.size = p->len;
	body.crlf_size = p->crlf_len;
	body.noeol = p->noeol != 0;
	body.eol_known = 1;
	body.nsegs = p->nsegs;
	body.segs = xcalloc(p->nsegs, sizeof(*body.segs));
	for (i = 0; i < p->nsegs; i++) {
		s = &p->segs[i];
		memcpy(body.segs[i].hash, s->hash, 32);
		body.segs[i].len = s->len;
		if ((rc = blob_get(t, s->hash, &b)) == -1)
			goto fail;
		if (rc == 1) {
			b.refcount++;
			if (blob_put_rec(t, s->hash, &b) == -1)
				goto fail;
			continue;
		}
		memset(&b, 0, sizeof(b));
		b.refcount = 1;
		b.raw_len = s->len;
		b.kind = (uint8_t)s->kind;
		/*
		 * Compressed before store_dict_optimize() made another
		 * dictionary current: compressed again (rare), so that no
		 * segment refers to a dictionary a pass may delete.
		 */
		cur = 0;
		if (s->z != NULL && dict_current(t, s->kind, &cur) == -1)
			goto fail;
		if (s->z != NULL && !blob_dict_stale(s->len, s->dict_id,
		    cur)) {
			b.codec = s->codec;
			b.dict_id = s->dict_id;
			rc = blob_write_data(t, &b, s->z, s->zlen);
		} else {
			if (blob_compress(t->st, t, s->kind, s->ptr,
			    s->len, &z, &zlen, &codec, &dict_id) == -1)
				goto fail;
			b.codec = codec;
			b.dict_id = dict_id;
			rc = blob_write_data(t, &b, z, zlen);
			free(z);
		}
		if (rc == -1 || blob_put_rec(t, s->hash, &b) == -1)
			goto fail;
	}
	/*
	 * Increasing ids: appended, the pages of `bodies` fill.  The id of a
	 * deleted last body may be given again: nothing refers to it then.
	 */
	if (sdb_next_id(t, DB_BODIES, &id) == -1)
		goto fail;
	if (p->has_meta) {
		if (meta_write_current(t, id, &body, &p->meta) == -1)
			goto fail;
	} else {
		/*
		 * The body existed when p was prepared (no record was built)
		 * and was expunged since: build the record now, or this body
		 * would never get one (p->data is the whole message: only
		 * prefixed messages, which always have a record, differ).
		 */
		struct meta_prep m;

		if (meta_prepare_txn(t, p->data, p->len, &m) == -1)
			goto fail;
		rc = meta_write(t, id, &body, &m);
		meta_prep_clear(&m);
		if (rc == -1)
			goto fail;
	}
	rc = body_put(t, id, &body, MDB_APPEND);
	body_rec_clear(&body);
	if (rc == -1 || bodyhash_put(t, p->body, id) == -1)
		return -1;
	*id_r = id;
	return 0;
fail:
	body_rec_clear(&body);
	return -1;
}

int
store_msg_get(struct store_txn *t, uint32_t mailbox_id, uint32_t uid,
    struct store_msg *r)
{
	return msg_get(t, mailbox_id, uid, r);
}

int
store_msg_same_body(struct store_txn *t, const struct store_msg *m,
    const struct store_prepared *p)
{
	uint64_t id = 0;
	int rc;

	if ((rc = body_find(t, p->body, &id)) != 1)
		return rc;
	return id == m->body;
}

/*
 * Keywords: atoms (RFC 3501 flag-keyword, no '\\') separated by single
 * spaces, duplicates dropped.  out holds STORE_KEYWORDS_MAX + 1 bytes.
 */
static int
keywords_normalize(const char *in, char *out)
{
	const char *p = in, *w;
	size_t o = 0, n, i;
	char word[STORE_KEYWORDS_MAX + 1];

	out[0] = '\0';
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (w = p; *p != '\0' && *p != ' '; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f ||
			    strchr("(){%*\"\\]", *p) != NULL)
				return err_set(ERR_INVALID, "invalid keyword "
				    "'%.*s'", (int)(strcspn(w, " ")), w);
		n = (size_t)(p - w);
		if (n > STORE_KEYWORDS_MAX)
			return err_set(ERR_LIMIT, "keyword too long");
		memcpy(word, w, n);
		word[n] = '\0';
		/* skip duplicates (keywords compare case-insensitively) */
		for (i = 0; i < o;) {
			size_t len = strcspn(out + i, " ");

			if (len == n && strncasecmp(out + i, word, n) == 0)
				break;
			i += len + 1;
		}
		if (i < o)
			continue;
		if (o + n + (o > 0) > STORE_KEYWORDS_MAX)
			return err_set(ERR_LIMIT, "too many keywords on one "
			    "message (%d bytes at most)", STORE_KEYWORDS_MAX);
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, word, n);
		o += n;
		out[o] = '\0';
	}
	return 0;
}

/* Removes the keywords of rm from kw (both normalised). */
static void
keywords_remove(char *kw, const char *rm)
{
	char out[STORE_KEYWORDS_MAX + 1];
	const char *p = kw, *q;
	size_t o = 0, n, m;

	out[0] = '\0';
	while (*p != '\0') {
		n = strcspn(p, " ");
		for (q = rm; *q != '\0'; q += m + (q[m] == ' ')) {
			m = strcspn(q, " ");
			if (m == n && strncasecmp(p, q, n) == 0)
				break;
		}
		if (*q == '\0') {
			if (o > 0)
				out[o++] = ' ';
			memcpy(out + o, p, n);
			o += n;
			out[o] = '\0';
		}
		p += n + (p[n] == ' ');
	}
	memcpy(kw, out, o + 1);
}

/*
 * 1 when a message of size bytes fits the quota of mailbox mb's user.
 * Otherwise starts the user's grace clock when it is off (in this
 * transaction, so the caller should commit) and returns 0 with NOQUOTA.
 */
static int
msg_quota(struct store_txn *t, const struct store_mailbox *mb, uint64_t size)
{
	struct store_user u;
	int rc;

	if ((rc = store_user_get(t, mb->user_id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "mailbox %u "
		    "belongs to missing user %u", mb->id, mb->user_id);
	if (store_user_quota_fits(&u, size, 1))
		return 1;
	if (u.over_quota_since == 0) {
		u.over_quota_since = store_now();
		if (store_user_update(t, &u) == -1)
			return -1;
	}
	err_set(ERR_NOQUOTA, "%s is over quota", u.address);
	return 0;
}

/*
 * Inserts row m into mailbox mb with the next uid and modseq, counting it
 * in the mailbox and the user's usage.  The body must already be
 * referenced.
 */
static int
msg_link(struct store_txn *t, struct store_mailbox *mb, struct store_msg *m,
    unsigned flags)
{
	if (mb->uidnext == UINT32_MAX)
		return err_set(ERR_LIMIT, "mailbox %s has used every UID",
		    mb->name);
	m->mailbox_id = mb->id;
	m->uid = mb->uidnext++;
	m->maildir_cur = (flags & STORE_APPEND_CUR) != 0;
	m->modseq = ++mb->highestmodseq;
	mb->messages++;
	mb->bytes += m->size;
	if (!(m->flags & STORE_F_SEEN))
		mb->unseen++;
	/*
	 * A quota-checked message that fitted stops the grace clock.  Its
	 * keywords join the mailbox's list (maildir.h) when new there.
	 */
	if (msg_put(t, m, 1) == -1 || mbox_put(t, mb) == -1 ||
	    maildir_kw_register(t, mb->id, m->keywords) == -1 ||
	    user_usage_add(t, mb->user_id, (int64_t)m->size, 1,
	    (flags & STORE_APPEND_QUOTA) ? STORE_QUOTA_FITTED :
	    STORE_QUOTA_KEEP) == -1)
		return -1;
	return 1;
}

static int
mailbox_must_get(struct store_txn *t, uint32_t id, struct store_mailbox *mb)
{
	int rc;

	if ((rc = store_mailbox_get_by_id(t, id, mb)) == 0)
		return err_set(ERR_NOTFOUND, "no mailbox with id %u", id);
	return rc;
}

int
store_msg_append(struct store_txn *t, uint32_t mailbox_id,
    struct store_prepared *p, int64_t internal_date, uint32_t flags,
    const char *keywords, unsigned append_flags, uint32_t *uid_r)
{
	return msg_append(t, mailbox_id, 0, p, internal_date, flags,
	    keywords, append_flags, uid_r);
}

int
store_msg_append_uid(struct store_txn *t, uint32_t mailbox_id, uint32_t uid,
    struct store_prepared *p, int64_t internal_date, uint32_t flags,
    const char *keywords, unsigned append_flags)
{
	if (uid == 0)
		return err_set(ERR_INVALID, "UID 0");
	return msg_append(t, mailbox_id, uid, p, internal_date, flags,
	    keywords, append_flags, NULL);
}

/* Appends with the next UID (uid 0) or with uid (not below UIDNEXT). */
static int
msg_append(struct store_txn *t, uint32_t mailbox_id, uint32_t uid,
    struct store_prepared *p, int64_t internal_date, uint32_t flags,
    const char *keywords, unsigned append_flags, uint32_t *uid_r)
{
	struct store_mailbox mb;
	struct store_msg m;
	int rc;

	if (mailbox_must_get(t, mailbox_id, &mb) != 1)
		return -1;
	/*
	 * A UID below UIDNEXT is taken or was taken by a message since
	 * expunged: IMAP never gives a UID twice.  msg_link() takes the
	 * UID from UIDNEXT and moves UIDNEXT past it.
	 */
	if (uid != 0) {
		if (uid < mb.uidnext)
			return err_set(ERR_EXISTS, "UID %u is not above the "
			    "UIDs mailbox %s gave (UIDNEXT %u)", uid, mb.name,
			    mb.uidnext);
		mb.uidnext = uid;
	}
	memset(&m, 0, sizeof(m));
	if (keywords != NULL && keywords_normalize(keywords, m.keywords) == -1)
		return -1;
	m.internal_date = internal_date != 0 ? internal_date : store_now();
	m.size = p->len;
	m.crlf_size = p->crlf_len;
	m.no_final_newline = p->noeol;
	m.flags = flags & STORE_F_ALL;
	/* Quota first, so a refused message links nothing. */
	if ((append_flags & STORE_APPEND_QUOTA) &&
	    (rc = msg_quota(t, &mb, m.size)) != 1)
		return rc;
	if (body_insert(t, p, &m.body) == -1 ||
	    msg_link(t, &mb, &m, append_flags) == -1)
		return -1;
	if (uid_r != NULL)
		*uid_r = m.uid;
	return 1;
}

static int	msg_list(struct store_txn *, uint32_t, uint32_t, int,
		    store_msg_fn *, void *);

int
store_msg_list(struct store_txn *t, uint32_t mailbox_id, uint32_t first_uid,
    store_msg_fn *fn, void *ctx)
{
	return msg_list(t, mailbox_id, first_uid, 1, fn, ctx);
}

int
store_msg_list_rows(struct store_txn *t, uint32_t mailbox_id,
    uint32_t first_uid, store_msg_fn *fn, void *ctx)
{
	return msg_list(t, mailbox_id, first_uid, 0, fn, ctx);
}

static int
msg_list(struct store_txn *t, uint32_t mailbox_id, uint32_t first_uid,
    int sizes, store_msg_fn *fn, void *ctx)
{
	struct store_msg m;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[4], ub[4];
	int rc, r = 0;

	if (sdb_cursor(t, DB_MSGS, &c) == -1)
		return -1;
	/* The first row at or above first_uid, then the following ones. */
	be32enc(key, mailbox_id);
	be32enc(ub, first_uid);
	k.mv_size = 4;
	k.mv_data = key;
	v.mv_size = 4;
	v.mv_data = ub;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		if ((sizes ? msg_decode(t, &v, mailbox_id, &m) :
		    msg_decode_row(t, &v, mailbox_id, &m)) == -1 ||
		    fn(&m, ctx) == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "messages");
	return r;
}

/* Reading ------------------------------------------------------------ */

int
store_body_read(struct store_txn *t, uint64_t key, void **data_r,
    size_t *len_r)
{
	struct body_rec b;
	uint8_t *out;
	size_t i, off = 0;
	int rc;

	*data_r = NULL;
	*len_r = 0;
	if ((rc = body_get(t, key, &b)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "message body "
		    "missing from the store");
	out = xmalloc(b.size == 0 ? 1 : b.size);
	for (i = 0; i < b.nsegs; i++) {
		if (off + b.segs[i].len > b.size ||
		    blob_read(t, b.segs[i].hash, out + off, b.segs[i].len,
		    0) == -1) {
			if (off + b.segs[i].len > b.size)
				err_set(ERR_CORRUPT, "message segments exceed "
				    "its size");
			free(out);
			body_rec_clear(&b);
			return -1;
		}
		off += b.segs[i].len;
	}
	body_rec_clear(&b);
	if (off != b.size) {
		free(out);
		return err_set(ERR_CORRUPT, "message segments are shorter "
		    "than its size");
	}
	*data_r = out;
	*len_r = off;
	return 1;
}

int
store_msg_read(struct store_txn *t, uint32_t mailbox_id, uint32_t uid,
    void **data_r, size_t *len_r)
{
	struct store_msg m;
	int rc;

	if ((rc = msg_get(t, mailbox_id, uid, &m)) != 1)
		return rc;
	return store_body_read(t, m.body, data_r, len_r);
}

int
store_msg_read_range(struct store_txn *t, uint32_t mailbox_id, uint32_t uid,
    uint64_t off, size_t len, void *buf, size_t *len_r)
{
	struct store_msg m;
	struct body_rec b;
	const uint8_t *seg;
	uint64_t pos = 0, from, to;
	size_t i, done = 0;
	int rc;

	*len_r = 0;
	if ((rc = msg_get(t, mailbox_id, uid, &m)) != 1)
		return rc;
	if ((rc = body_get(t, m.body, &b)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "message body "
		    "missing from the store");
	for (i = 0; i < b.nsegs && done < len; pos += b.segs[i].len, i++) {
		if (off + done >= pos + b.segs[i].len)
			continue;
		from = off + done - pos;
		to = b.segs[i].len;
		if (to - from > len - done)
			to = from + (len - done);
		if ((seg = blob_cached(t, b.segs[i].hash, b.segs[i].len)) ==
		    NULL) {
			body_rec_clear(&b);
			return -1;
		}
		memcpy((uint8_t *)buf + done, seg + from, to - from);
		done += to - from;
	}
	body_rec_clear(&b);
	*len_r = done;
	return 1;
}

/* Changing ----------------------------------------------------------- */

int
store_msg_set_flags(struct store_txn *t, uint32_t mailbox_id, uint32_t uid,
    enum store_flag_mode mode, uint32_t flags, const char *keywords)
{
	struct store_mailbox mb;
	struct store_msg m;
	char kw[STORE_KEYWORDS_MAX + 1], merged[2 * STORE_KEYWORDS_MAX + 2];
	uint32_t old;
	int rc, kwnew;

	if ((rc = msg_get(t, mailbox_id, uid, &m)) != 1)
		return rc;
	kw[0] = '\0';
	if (keywords != NULL && keywords_normalize(keywords, kw) == -1)
		return -1;
	old = m.flags;
	strcpy(merged, m.keywords);
	switch (mode) {
	case STORE_FLAGS_SET:
		m.flags = flags & STORE_F_ALL;
		strcpy(merged, kw);
		break;
	case STORE_FLAGS_ADD:
		m.flags |= flags & STORE_F_ALL;
		if (kw[0] != '\0') {
			if (merged[0] != '\0')
				strcat(merged, " ");
			strcat(merged, kw);
		}
		break;
	case STORE_FLAGS_REMOVE:
		m.flags &= ~(flags & STORE_F_ALL);
		keywords_remove(merged, kw);
		break;
	}
	if (keywords_normalize(merged, kw) == -1)
		return -1;
	kwnew = mode != STORE_FLAGS_REMOVE && strcmp(kw, m.keywords) != 0;
	if (m.flags == old && strcmp(kw, m.keywords) == 0)
		return 1;
	strcpy(m.keywords, kw);
	if (mailbox_must_get(t, mailbox_id, &mb) != 1)
		return -1;
	m.modseq = ++mb.highestmodseq;
	if ((old & STORE_F_SEEN) && !(m.flags & STORE_F_SEEN))
		mb.unseen++;
	else if (!(old & STORE_F_SEEN) && (m.flags & STORE_F_SEEN))
		mb.unseen--;
	if (msg_put(t, &m, 0) == -1 || mbox_put(t, &mb) == -1)
		return -1;
	/* Only setting or adding can bring a keyword new to the mailbox. */
	if (kwnew && maildir_kw_register(t, mailbox_id, m.keywords) == -1)
		return -1;
	return 1;
}

int
store_msg_set_maildir_cur(struct store_txn *t, uint32_t mailbox_id,
    uint32_t uid, int cur)
{
	struct store_msg m;
	int rc;

	if ((rc = msg_get(t, mailbox_id, uid, &m)) != 1 ||
	    m.maildir_cur == (cur != 0))
		return rc;
	m.maildir_cur = cur != 0;
	return msg_put(t, &m, 0) == -1 ? -1 : 1;
}

int
store_msg_copy(struct store_txn *t, uint32_t src_mailbox, uint32_t uid,
    uint32_t dst_mailbox, unsigned append_flags, uint32_t *uid_r)
{
	struct store_mailbox mb;
	struct store_msg m;
	int rc;

	if ((rc = msg_get(t, src_mailbox, uid, &m)) != 1)
		return rc;
	if (mailbox_must_get(t, dst_mailbox, &mb) != 1)
		return -1;
	/*
	 * A copy over quota is refused outright (IMAP NO [OVERQUOTA]): -1,
	 * with the NOQUOTA error msg_quota() set.
	 */
	if ((append_flags & STORE_APPEND_QUOTA) &&
	    msg_quota(t, &mb, m.size) != 1)
		return -1;
	if (body_ref(t, m.body) == -1 ||
	    msg_link(t, &mb, &m, append_flags) == -1)
		return -1;
	if (t->st->learn_on && msg_learn(t, src_mailbox, &mb, m.uid) == -1)
		return -1;
	if (uid_r != NULL)
		*uid_r = m.uid;
	return 1;
}

/*
 * Queues Spam training (learn.h) for a message copied from src into dst
 * (as uid there): into \Junk from elsewhere is spam, out of \Junk into
 * a mailbox that is neither \Junk nor \Trash is ham.  A full queue only
 * counts the entry it drops.
 */
static int
msg_learn(struct store_txn *t, uint32_t src, const struct store_mailbox *dst,
    uint32_t uid)
{
	struct store_mailbox from;
	int from_junk, to_junk;

	if (mailbox_must_get(t, src, &from) != 1)
		return -1;
	from_junk = (from.special_use & STORE_SPECIAL_JUNK) != 0;
	to_junk = (dst->special_use & STORE_SPECIAL_JUNK) != 0;
	if (!from_junk && to_junk)
		return store_learn_add(t, dst->user_id, dst->id, uid, 1) ==
		    -1 ? -1 : 0;
	if (from_junk && !to_junk &&
	    !(dst->special_use & STORE_SPECIAL_TRASH))
		return store_learn_add(t, dst->user_id, dst->id, uid, 0) ==
		    -1 ? -1 : 0;
	return 0;
}

/* The expunge log ------------------------------------------------- */

/*
 * `expunges` is a DUPSORT table: key the mailbox id, values modseq (8,
 * big-endian, so duplicates sort in modseq order), uid (4), time (8).
 * Each expunge appends one value (MDB_APPENDDUP: modseqs only grow) and
 * prunes the oldest ones past the horizon of message.h, moving the
 * mailbox's expunge_floor up to the newest modseq it pruned.
 */
#define EXPUNGE_VAL	20

static int
expunge_log_add(struct store_txn *t, struct store_mailbox *mb, uint32_t uid,
    uint64_t modseq)
{
	uint8_t key[4], val[EXPUNGE_VAL];
	MDB_val k = { 4, key }, v = { EXPUNGE_VAL, val };
	MDB_cursor *c;
	size_t count;
	int64_t now = store_now(), horizon;
	int rc, i;

	if (t->st->no_imap)
		return 0;
	be32enc(key, mb->id);
	be64enc(val, modseq);
	be32enc(val + 8, uid);
	be64enc(val + 12, (uint64_t)now);
	if (sdb_cursor(t, DB_EXPUNGES, &c) == -1)
		return -1;
	rc = mdb_cursor_put(c, &k, &v, MDB_APPENDDUP);
	if (rc == MDB_KEYEXIST)
		rc = mdb_cursor_put(c, &k, &v, 0);
	if (rc != 0) {
		mdb_cursor_close(c);
		return sdb_error(t, rc, "expunges");
	}
	if ((rc = mdb_cursor_count(c, &count)) != 0) {
		mdb_cursor_close(c);
		return sdb_error(t, rc, "expunges");
	}
	horizon = now - (int64_t)STORE_EXPUNGE_LOG_DAYS * 86400;
	for (i = 0; i < EXPUNGE_PRUNE_STEP && count > STORE_EXPUNGE_LOG_MIN;
	    i++, count--) {
		k.mv_size = 4;
		k.mv_data = key;
		if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY)) != 0 ||
		    (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST_DUP)) != 0)
			break;
		if (v.mv_size != EXPUNGE_VAL ||
		    (int64_t)be64dec((uint8_t *)v.mv_data + 12) >= horizon)
			break;
		mb->expunge_floor = be64dec(v.mv_data);
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "expunges");
	return 0;
}

int
expunge_log_drop(struct store_txn *t, uint32_t mailbox_id)
{
	uint8_t key[4];

	if (t->st->no_imap)
		return 0;
	be32enc(key, mailbox_id);
	return sdb_del(t, DB_EXPUNGES, key, 4) == -1 ? -1 : 0;
}

int
store_msg_expunged_since(struct store_txn *t, uint32_t mailbox_id,
    uint64_t since, store_expunged_fn *fn, void *ctx)
{
	struct store_mailbox mb;
	uint8_t key[4], from[8];
	MDB_val k = { 4, key }, v = { 8, from };
	MDB_cursor *c;
	int rc, r = 1;

	if ((rc = store_mailbox_get_by_id(t, mailbox_id, &mb)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no mailbox "
		    "with id %u", mailbox_id);
	if (since < mb.expunge_floor)
		return 0;
	if (t->st->no_imap || since >= mb.highestmodseq)
		return 1;
	be32enc(key, mailbox_id);
	be64enc(from, since + 1);
	if (sdb_cursor(t, DB_EXPUNGES, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != EXPUNGE_VAL) {
			r = err_set(ERR_CORRUPT, "damaged expunge log of "
			    "mailbox %u", mailbox_id);
			break;
		}
		if (fn(be32dec((uint8_t *)v.mv_data + 8),
		    be64dec(v.mv_data), ctx) == -1)
			break;
	}
	mdb_cursor_close(c);
	if (r == 1 && rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "expunges");
	return r;
}

struct changed {
	uint64_t	 since;
	store_msg_fn	*fn;
	void		*ctx;
};

static int
changed_one(const struct store_msg *m, void *ctx)
{
	struct changed *ch = ctx;

	return m->modseq > ch->since ? ch->fn(m, ch->ctx) : 0;
}

int
store_msg_changed_since(struct store_txn *t, uint32_t mailbox_id,
    uint64_t since, store_msg_fn *fn, void *ctx)
{
	struct store_mailbox mb;
	struct changed ch = { since, fn, ctx };
	int rc;

	/* Nothing moved since then: no need to read a single row. */
	if ((rc = store_mailbox_get_by_id(t, mailbox_id, &mb)) != 1)
		return rc == -1 ? -1 : 0;
	if (mb.highestmodseq <= since)
		return 0;
	return store_msg_list(t, mailbox_id, 1, changed_one, &ch);
}

int
store_msg_expunge(struct store_txn *t, uint32_t mailbox_id, uint32_t uid)
{
	struct store_mailbox mb;
	struct store_msg m;
	int rc;

	if ((rc = msg_get(t, mailbox_id, uid, &m)) != 1)
		return rc;
	if (mailbox_must_get(t, mailbox_id, &mb) != 1)
		return -1;
	if (msg_del(t, mailbox_id, uid) == -1 || body_unref(t, m.body) == -1)
		return -1;
	mb.messages--;
	mb.bytes -= m.size;
	if (!(m.flags & STORE_F_SEEN))
		mb.unseen--;
	mb.highestmodseq++;
	if (expunge_log_add(t, &mb, uid, mb.highestmodseq) == -1 ||
	    mbox_put(t, &mb) == -1 ||
	    user_usage_add(t, mb.user_id, -(int64_t)m.size, -1,
	    STORE_QUOTA_BELOW_MARK) == -1)
		return -1;
	return 1;
}

int
store_msg_move(struct store_txn *t, uint32_t src_mailbox, uint32_t uid,
    uint32_t dst_mailbox, uint32_t *uid_r)
{
	int rc;

	if (src_mailbox == dst_mailbox)
		return err_set(ERR_INVALID, "cannot move a message into its "
		    "own mailbox");
	if ((rc = store_msg_copy(t, src_mailbox, uid, dst_mailbox, 0,
	    uid_r)) != 1)
		return rc;
	return store_msg_expunge(t, src_mailbox, uid);
}

int
mailbox_delete_messages(struct store_txn *t, uint32_t mailbox_id)
{
	struct store_msg m;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[4];
	int rc;

	/* Expunge one at a time: each keeps every counter exact. */
	be32enc(key, mailbox_id);
	for (;;) {
		if (sdb_cursor(t, DB_MSGS, &c) == -1)
			return -1;
		k.mv_size = 4;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
		if (rc == 0)
			rc = msg_decode(t, &v, mailbox_id, &m) == -1 ? -2 : 0;
		mdb_cursor_close(c);
		if (rc == -2)
			return -1;
		if (rc != 0)
			return rc == MDB_NOTFOUND ? 0 :
			    sdb_error(t, rc, "messages");
		if (store_msg_expunge(t, mailbox_id, m.uid) == -1)
			return -1;
	}
}
