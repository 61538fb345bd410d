/*
 * userdata.c - the rows of `userdata` that filter.c and vacation.c share:
 * keys, texts kept as pieces, deletion with the user, and their check.
 *
 * A text is cut into pieces of UD_PIECE_MAX bytes under consecutive
 * piece numbers from 0: a filter file may be 256 KiB, and one value that
 * size would be a long run of overflow pages, which LMDB's free list
 * handles badly (DESIGN.md, "The store").
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter.h"
#include "private.h"
#include "user.h"
#include "vacation.h"

size_t
ud_key(uint8_t *key, uint32_t user_id, uint8_t kind, const void *rest,
    size_t n)
{
	be32enc(key, user_id);
	key[4] = kind;
	if (n > 0)
		memcpy(key + 5, rest, n);
	return 5 + n;
}

int
ud_text_get(struct store_txn *t, uint32_t user_id, uint8_t kind,
    size_t max, char **buf_r, size_t *len_r)
{
	uint8_t key[UD_KEY_MAX], pb[4];
	size_t klen, len = 0;
	uint32_t piece;
	char *buf = NULL;
	MDB_val v;
	int rc;

	*buf_r = NULL;
	*len_r = 0;
	if (t->st->no_userdata)
		return 0;
	for (piece = 0;; piece++) {
		be32enc(pb, piece);
		klen = ud_key(key, user_id, kind, pb, 4);
		if ((rc = sdb_get(t, DB_USERDATA, key, klen, &v)) == -1) {
			free(buf);
			return -1;
		}
		if (rc == 0)
			break;
		if (v.mv_size == 0 || v.mv_size > UD_PIECE_MAX ||
		    len + v.mv_size > max) {
			free(buf);
			return err_set(ERR_CORRUPT, "user %u: stored text of "
			    "kind %u is damaged (piece %u of %zu bytes)",
			    user_id, kind, piece, v.mv_size);
		}
		buf = xreallocarray(buf, len + v.mv_size + 1, 1);
		memcpy(buf + len, v.mv_data, v.mv_size);
		len += v.mv_size;
	}
	if (buf == NULL)
		return 0;
	buf[len] = '\0';
	*buf_r = buf;
	*len_r = len;
	return 1;
}

int
ud_text_put(struct store_txn *t, uint32_t user_id, uint8_t kind,
    const void *data, size_t len)
{
	uint8_t key[UD_KEY_MAX], pb[4];
	size_t klen, off, n;
	uint32_t piece;
	MDB_val v;
	int rc;

	for (piece = 0, off = 0; off < len; piece++, off += n) {
		n = len - off < UD_PIECE_MAX ? len - off : UD_PIECE_MAX;
		be32enc(pb, piece);
		klen = ud_key(key, user_id, kind, pb, 4);
		/* An unchanged piece is not written again. */
		if ((rc = sdb_get(t, DB_USERDATA, key, klen, &v)) == -1)
			return -1;
		if (rc == 1 && v.mv_size == n &&
		    memcmp(v.mv_data, (const uint8_t *)data + off, n) == 0)
			continue;
		if (sdb_put(t, DB_USERDATA, key, klen,
		    (const uint8_t *)data + off, n, 0) == -1)
			return -1;
	}
	/* Pieces the old text had beyond the new one go. */
	for (;; piece++) {
		be32enc(pb, piece);
		klen = ud_key(key, user_id, kind, pb, 4);
		if ((rc = sdb_del(t, DB_USERDATA, key, klen)) == -1)
			return -1;
		if (rc == 0)
			return 0;
	}
}

int
ud_drop(struct store_txn *t, uint32_t user_id, uint8_t kind)
{
	uint8_t key[5];

	if (t->st->no_userdata)
		return 0;
	return sdb_del_prefix(t, DB_USERDATA, key, ud_key(key, user_id, kind,
	    NULL, 0), "userdata") == -1 ? -1 : 0;
}

int
userdata_user_del(struct store_txn *t, uint32_t user_id)
{
	uint8_t key[5];

	if (t->st->no_userdata)
		return 0;
	be32enc(key, user_id);
	if (sdb_del_prefix(t, DB_USERDATA, key, 4, "userdata") == -1 ||
	    learn_drop_user(t, user_id) == -1)
		return -1;
	return 0;
}

/* The check ------------------------------------------------------- */

struct ud_state {
	check_report_fn	*report;
	void		*ctx;
	uint32_t	 user;		/* the user of the rows being read */
	int		 user_ok;	/* it exists (or is 0, for filters) */
	uint8_t		 kind;
	uint32_t	 next_piece;
	uint64_t	 senders, bytime;
	int64_t		 count;		/* UD_VAC_COUNT, -1 none */
};

static void	ud_problem(struct ud_state *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	ud_user_end(struct ud_state *);
static void	ud_text_check(struct store_txn *, struct ud_state *);

static void
ud_problem(struct ud_state *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->report(s->ctx, buf);
}

/* The sender rows of the user just read agree with its count. */
static void
ud_user_end(struct ud_state *s)
{
	if (s->senders != s->bytime)
		ud_problem(s, "user %u: %" PRIu64 " auto-reply senders but %"
		    PRIu64 " entries in their time index", s->user,
		    s->senders, s->bytime);
	if ((s->count >= 0 || s->senders > 0) &&
	    (uint64_t)(s->count < 0 ? 0 : s->count) != s->senders)
		ud_problem(s, "user %u: auto-reply sender count %" PRId64
		    " but %" PRIu64 " senders", s->user, s->count < 0 ? 0 :
		    s->count, s->senders);
	if (s->senders > STORE_VACATION_SENDERS_MAX)
		ud_problem(s, "user %u: %" PRIu64 " auto-reply senders, more "
		    "than %d", s->user, s->senders,
		    STORE_VACATION_SENDERS_MAX);
	s->senders = s->bytime = 0;
	s->count = -1;
}

/* A filter file or vacation record, read whole, is valid. */
static void
ud_text_check(struct store_txn *t, struct ud_state *s)
{
	struct store_vacation vac;
	char *text;
	size_t len;
	int rc;

	if (s->kind == UD_FILTER) {
		rc = store_filter_get(t, s->user, &text, &len);
		if (rc == 1 && memchr(text, '\0', len) != NULL)
			ud_problem(s, "user %u: the filter file holds a NUL "
			    "byte", s->user);
		if (rc == 1)
			free(text);
	} else
		rc = store_vacation_get(t, s->user, &vac);
	if (rc == -1)
		ud_problem(s, "user %u: %s", s->user, err_msg());
	else if (rc == 1 && s->kind == UD_VACATION)
		store_vacation_clear(&vac);
}

int
userdata_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	struct ud_state s = { report, ctx, 0, 0, 0, 0, 0, 0, -1 };
	struct store_user u;
	const uint8_t *kp;
	MDB_cursor *c;
	MDB_val k, v;
	uint32_t user, piece;
	int rc, first = 1;

	if (t->st->no_userdata)
		return 0;
	if (sdb_cursor(t, DB_USERDATA, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		kp = k.mv_data;
		if (k.mv_size < 5) {
			ud_problem(&s, "user data row with a short key");
			continue;
		}
		user = be32dec(kp);
		if (first || user != s.user) {
			if (!first)
				ud_user_end(&s);
			first = 0;
			s.user = user;
			s.kind = 0;
			s.user_ok = user == 0 ? 1 :
			    store_user_get(t, user, &u) == 1;
			if (!s.user_ok)
				ud_problem(&s, "user data rows of missing "
				    "user %u", user);
		}
		if (user == 0 && kp[4] != UD_FILTER) {
			ud_problem(&s, "user data of kind %u for user 0 "
			    "(only the global filter is)", kp[4]);
			continue;
		}
		switch (kp[4]) {
		case UD_FILTER:
		case UD_VACATION:
			if (k.mv_size != 9) {
				ud_problem(&s, "user %u: text row with a key "
				    "of %zu bytes", user, k.mv_size);
				break;
			}
			piece = be32dec(kp + 5);
			if (kp[4] != s.kind)
				s.next_piece = 0;
			s.kind = kp[4];
			if (piece != s.next_piece)
				ud_problem(&s, "user %u: %s piece %u where "
				    "%u was due", user, kp[4] == UD_FILTER ?
				    "filter" : "auto-reply", piece,
				    s.next_piece);
			else if (piece == 0)
				ud_text_check(t, &s);
			s.next_piece = piece + 1;
			break;
		case UD_VAC_SENDER:
			if (v.mv_size != 8 || k.mv_size == 5)
				ud_problem(&s, "user %u: damaged auto-reply "
				    "sender row", user);
			s.senders++;
			break;
		case UD_VAC_BYTIME:
			if (k.mv_size <= 13)
				ud_problem(&s, "user %u: damaged auto-reply "
				    "time row", user);
			s.bytime++;
			break;
		case UD_VAC_COUNT:
			if (v.mv_size != 4 || k.mv_size != 5)
				ud_problem(&s, "user %u: damaged auto-reply "
				    "sender count", user);
			else
				s.count = be32dec(v.mv_data);
			break;
		default:
			ud_problem(&s, "user %u: user data row of unknown "
			    "kind %u", user, kp[4]);
		}
	}
	if (!first)
		ud_user_end(&s);
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "userdata");
	return 0;
}
