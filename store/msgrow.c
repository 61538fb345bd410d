/*
 * msgrow.c - message rows: one fixed-width row per message in `messages`
 * under its mailbox id, the keywords of the few messages that have any in
 * `msgkw`; the rows of schema 5 and older (`msgs`) and their upgrade.
 *
 * `messages` is MDB_DUPSORT | MDB_DUPFIXED: LMDB keeps a mailbox's rows
 * side by side in its pages, without the node header (8 bytes) and page
 * index slot (2 bytes) each duplicate of variable size costs, so a row of
 * 20 bytes takes 20.  Schema 5's rows (varints, ~23 bytes) took ~31; a
 * message delivered to ten users is ten rows, so the rows are what each
 * more user costs.  What the message bytes determine (size, CRLF size,
 * final line end) is in its body record (body.c), read with the row.
 */
#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "message.h"
#include "private.h"

/*
 * A row: uid (big-endian: duplicates sort by uid), the flags byte, then
 * 40-bit big-endian body id, internal date (two's complement: dates
 * before 1970 from an IMAP APPEND stay exact) and modseq.
 */
#define ROW_LEN		20
#define ROW_CUR		0x40	/* flags byte: maildir_cur */
#define ROW_KW		0x80	/* flags byte: keywords in msgkw */
#define ROW_MAX40	((UINT64_C(1) << 40) - 1)
#define ROW_DATE_MIN	(-(INT64_C(1) << 39))
#define ROW_DATE_MAX	((INT64_C(1) << 39) - 1)

/* Schema 5 and older (the `msgs` table, MDB_DUPSORT only). */
#define OLD_ROW_FIXED	40	/* version 1 (STORE_REC_VERSION) */
#define OLD_ROW_V2	2
#define OLD_ROW_NOEOL	0x80
#define OLD_ROW_CUR	0x40

/* Rows moved per transaction of the upgrade. */
#define UPGRADE_ROWS_PER_TXN	8192

static void
be40enc(uint8_t *p, uint64_t v)
{
	p[0] = (uint8_t)(v >> 32);
	be32enc(p + 1, (uint32_t)v);
}

static uint64_t
be40dec(const uint8_t *p)
{
	return (uint64_t)p[0] << 32 | be32dec(p + 1);
}

static int
row_encode(const struct store_msg *m, uint8_t *out)
{
	int64_t d = m->internal_date;

	if (m->body > ROW_MAX40)
		return err_set(ERR_LIMIT, "body id %llu is above what a "
		    "message row holds", (unsigned long long)m->body);
	if (m->modseq > ROW_MAX40)
		return err_set(ERR_LIMIT, "mailbox %u has used every "
		    "modification sequence", m->mailbox_id);
	/* Beyond year +-17,000: IMAP's dates have four digits. */
	if (d < ROW_DATE_MIN)
		d = ROW_DATE_MIN;
	if (d > ROW_DATE_MAX)
		d = ROW_DATE_MAX;
	be32enc(out, m->uid);
	out[4] = (uint8_t)((m->flags & STORE_F_ALL) |
	    (m->maildir_cur ? ROW_CUR : 0) |
	    (m->keywords[0] != '\0' ? ROW_KW : 0));
	be40enc(out + 5, m->body);
	be40enc(out + 10, (uint64_t)d & ROW_MAX40);
	be40enc(out + 15, m->modseq);
	return 0;
}

static void
kw_key(uint8_t *key, uint32_t mailbox_id, uint32_t uid)
{
	be32enc(key, mailbox_id);
	be32enc(key + 4, uid);
}

static int
kw_get(struct store_txn *t, uint32_t mailbox_id, uint32_t uid, char *out)
{
	uint8_t key[8];
	MDB_val v;
	int rc;

	kw_key(key, mailbox_id, uid);
	if ((rc = sdb_get(t, DB_MSGKW, key, 8, &v)) == -1)
		return -1;
	if (rc == 0 || v.mv_size == 0 || v.mv_size > STORE_KEYWORDS_MAX ||
	    memchr(v.mv_data, '\0', v.mv_size) != NULL)
		return err_set(ERR_CORRUPT, "keywords of uid %u in mailbox "
		    "%u are %s (run vellumctl store check)", uid, mailbox_id,
		    rc == 0 ? "missing" : "damaged");
	memcpy(out, v.mv_data, v.mv_size);
	out[v.mv_size] = '\0';
	return 0;
}

/*
 * Fills m from a row of `messages` alone: the sizes and keywords are
 * left to msg_decode().  Returns the flags byte, or -1.
 */
static int
row_decode(const MDB_val *v, uint32_t mailbox_id, struct store_msg *m)
{
	const uint8_t *p = v->mv_data;
	uint64_t d;

	memset(m, 0, sizeof(*m));
	if (v->mv_size != ROW_LEN)
		return err_set(ERR_CORRUPT, "damaged message row in mailbox "
		    "%u (run vellumctl store check)", mailbox_id);
	m->mailbox_id = mailbox_id;
	m->uid = be32dec(p);
	m->flags = p[4] & STORE_F_ALL;
	m->maildir_cur = (p[4] & ROW_CUR) != 0;
	m->body = be40dec(p + 5);
	d = be40dec(p + 10);
	/* Sign-extend the 40-bit date. */
	m->internal_date = (d & (UINT64_C(1) << 39)) ?
	    (int64_t)(d | ~ROW_MAX40) : (int64_t)d;
	m->modseq = be40dec(p + 15);
	return p[4];
}

/* Schema 5 and older ------------------------------------------------- */

/* A varint at *p (end: the row's end); bad set when cut or too long. */
static uint64_t
uv_get(const uint8_t **p, const uint8_t *end, int *bad)
{
	uint64_t v = 0;
	unsigned shift;

	for (shift = 0; shift < 64 && *p < end; shift += 7) {
		v |= (uint64_t)(**p & 0x7f) << shift;
		if (!(*(*p)++ & 0x80))
			return v;
	}
	*bad = 1;
	return 0;
}

static int64_t
zz_dec(uint64_t x)
{
	return (x & 1) ? (int64_t)~(x >> 1) : (int64_t)(x >> 1);
}

static int
old_bad(uint32_t mailbox_id)
{
	return err_set(ERR_CORRUPT, "damaged message row in mailbox %u (run "
	    "vellumctl store check)", mailbox_id);
}

/* Version 1: 40 fixed-width bytes, then the keywords. */
static int
old_decode_v1(const MDB_val *v, uint32_t mailbox_id, struct store_msg *m)
{
	const uint8_t *p = v->mv_data;
	size_t kw;

	kw = (size_t)p[34] << 8 | p[35];
	if (kw > STORE_KEYWORDS_MAX || OLD_ROW_FIXED + kw != v->mv_size)
		return old_bad(mailbox_id);
	m->mailbox_id = mailbox_id;
	m->uid = be32dec(p);
	m->body = be64dec(p + 5);
	m->internal_date = (int64_t)be64dec(p + 13);
	m->size = be32dec(p + 21);
	m->flags = p[25] & STORE_F_ALL;
	m->no_final_newline = (p[25] & OLD_ROW_NOEOL) != 0;
	m->maildir_cur = (p[25] & OLD_ROW_CUR) != 0;
	m->modseq = be64dec(p + 26);
	m->crlf_size = be32dec(p + 36);
	memcpy(m->keywords, p + OLD_ROW_FIXED, kw);
	m->keywords[kw] = '\0';
	return 0;
}

/*
 * Version 2: uid, 2, the flags byte, then varints: body, internal date
 * (zigzag), size, modseq, CRLF size minus size, keyword length; then the
 * keywords.
 */
int
msg_decode_old(const MDB_val *v, uint32_t mailbox_id, struct store_msg *m)
{
	const uint8_t *p = v->mv_data, *q, *end = p + v->mv_size;
	uint64_t x, kw;
	int64_t d;
	int bad = 0;

	memset(m, 0, sizeof(*m));
	if (v->mv_size >= OLD_ROW_FIXED && p[4] == STORE_REC_VERSION)
		return old_decode_v1(v, mailbox_id, m);
	if (v->mv_size < 6 || p[4] != OLD_ROW_V2)
		return old_bad(mailbox_id);
	m->mailbox_id = mailbox_id;
	m->uid = be32dec(p);
	m->flags = p[5] & STORE_F_ALL;
	m->no_final_newline = (p[5] & OLD_ROW_NOEOL) != 0;
	m->maildir_cur = (p[5] & OLD_ROW_CUR) != 0;
	q = p + 6;
	m->body = uv_get(&q, end, &bad);
	m->internal_date = zz_dec(uv_get(&q, end, &bad));
	x = uv_get(&q, end, &bad);
	if (x > UINT32_MAX)
		bad = 1;
	m->size = x;
	m->modseq = uv_get(&q, end, &bad);
	d = (int64_t)m->size + zz_dec(uv_get(&q, end, &bad));
	if (d < 0 || d > (int64_t)UINT32_MAX * 2)
		bad = 1;
	m->crlf_size = (uint64_t)d;
	kw = uv_get(&q, end, &bad);
	if (bad || kw > STORE_KEYWORDS_MAX || kw != (uint64_t)(end - q))
		return old_bad(mailbox_id);
	memcpy(m->keywords, q, kw);
	m->keywords[kw] = '\0';
	return 0;
}

/* Rows --------------------------------------------------------------- */

int
msg_decode_row(struct store_txn *t, const MDB_val *v, uint32_t mailbox_id,
    struct store_msg *m)
{
	int flags;

	/* A read-only open of a store not upgraded yet (store_open()). */
	if (t->st->old_rows)
		return msg_decode_old(v, mailbox_id, m);
	if ((flags = row_decode(v, mailbox_id, m)) == -1)
		return -1;
	if ((flags & ROW_KW) && kw_get(t, mailbox_id, m->uid,
	    m->keywords) == -1)
		return -1;
	return 0;
}

int
msg_decode(struct store_txn *t, const MDB_val *v, uint32_t mailbox_id,
    struct store_msg *m)
{
	if (msg_decode_row(t, v, mailbox_id, m) == -1)
		return -1;
	return t->st->old_rows ? 0 : body_sizes(t, m);
}

/*
 * Positions cursor c on the row (mailbox_id, uid): 1 found, 0 not.  A
 * search value shorter than the rows finds the first at or above it.
 */
int
msg_seek(struct store_txn *t, MDB_cursor *c, uint32_t mailbox_id,
    uint32_t uid, MDB_val *v)
{
	uint8_t key[4], ub[4];
	MDB_val k = { 4, key };
	int rc;

	be32enc(key, mailbox_id);
	be32enc(ub, uid);
	v->mv_size = 4;
	v->mv_data = ub;
	rc = mdb_cursor_get(c, &k, v, MDB_GET_BOTH_RANGE);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return sdb_error(t, rc, "messages");
	return v->mv_size >= 4 && be32dec(v->mv_data) == uid;
}

/*
 * Finds row (mailbox_id, uid): 1 found (v points into the map, valid
 * until the transaction writes or ends), 0 none.
 */
static int
row_find(struct store_txn *t, uint32_t mailbox_id, uint32_t uid, MDB_val *v)
{
	MDB_cursor *c;
	int rc;

	if (sdb_cursor(t, DB_MSGS, &c) == -1)
		return -1;
	rc = msg_seek(t, c, mailbox_id, uid, v);
	mdb_cursor_close(c);
	return rc;
}

int
msg_get(struct store_txn *t, uint32_t mailbox_id, uint32_t uid,
    struct store_msg *r)
{
	MDB_val v;
	int rc;

	if ((rc = row_find(t, mailbox_id, uid, &v)) == 1 &&
	    msg_decode(t, &v, mailbox_id, r) == -1)
		rc = -1;
	return rc;
}

int
msg_kw_owned(struct store_txn *t, uint32_t mailbox_id, uint32_t uid)
{
	MDB_val v;
	int rc;

	if ((rc = row_find(t, mailbox_id, uid, &v)) == 1)
		rc = !t->st->old_rows && v.mv_size == ROW_LEN &&
		    (((const uint8_t *)v.mv_data)[4] & ROW_KW);
	return rc;
}

/* Deletes row (mailbox_id, uid) and its keywords: 1 deleted, 0 none. */
int
msg_del(struct store_txn *t, uint32_t mailbox_id, uint32_t uid)
{
	MDB_cursor *c;
	MDB_val v;
	uint8_t key[8];
	int rc, kw = 0;

	if (sdb_cursor(t, DB_MSGS, &c) == -1)
		return -1;
	if ((rc = msg_seek(t, c, mailbox_id, uid, &v)) == 1) {
		kw = v.mv_size == ROW_LEN &&
		    (((const uint8_t *)v.mv_data)[4] & ROW_KW);
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			rc = sdb_error(t, rc, "messages");
		else
			rc = 1;
	}
	mdb_cursor_close(c);
	if (rc == 1 && kw) {
		kw_key(key, mailbox_id, uid);
		if (sdb_del(t, DB_MSGKW, key, 8) == -1)
			return -1;
	}
	return rc;
}

/* Writes a row; a new row (uid above every other) is appended. */
int
msg_put(struct store_txn *t, const struct store_msg *m, int isnew)
{
	uint8_t key[8], row[ROW_LEN];
	MDB_val k = { 4, key }, v = { ROW_LEN, row };
	MDB_cursor *c;
	size_t kwlen = strlen(m->keywords);
	int rc;

	if (m->size > UINT32_MAX)
		return err_set(ERR_TOOBIG, "message too large");
	if (row_encode(m, row) == -1)
		return -1;
	if (!isnew && msg_del(t, m->mailbox_id, m->uid) == -1)
		return -1;
	be32enc(key, m->mailbox_id);
	if (sdb_cursor(t, DB_MSGS, &c) == -1)
		return -1;
	rc = mdb_cursor_put(c, &k, &v, isnew ? MDB_APPENDDUP : 0);
	if (rc == MDB_KEYEXIST && isnew)	/* not the highest uid */
		rc = mdb_cursor_put(c, &k, &v, 0);
	mdb_cursor_close(c);
	if (rc != 0)
		return sdb_error(t, rc, "messages");
	if (kwlen > 0) {
		kw_key(key, m->mailbox_id, m->uid);
		if (sdb_put(t, DB_MSGKW, key, 8, m->keywords, kwlen, 0) == -1)
			return -1;
	}
	return 0;
}

/* The upgrade from schema 5 ------------------------------------------ */

struct up_rows {
	MDB_dbi		 old;
	uint64_t	 moved;
	int		 more;
};

/*
 * Moves the first UPGRADE_ROWS_PER_TXN rows of `msgs` into `messages`,
 * giving their bodies the sizes the rows carried; drops `msgs` once
 * empty.  Each batch commits on its own: a killed upgrade goes on where
 * it stopped (nobody reads the rows before the schema version says they
 * are all moved: store_upgrade() holds its lock).
 */
static int
up_rows_fn(struct store_txn *t, void *ctx)
{
	struct up_rows *u = ctx;
	struct store_msg m;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n;
	int rc;

	u->more = 0;
	if ((rc = mdb_dbi_open(t->txn, "msgs", MDB_DUPSORT, &u->old)) ==
	    MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return sdb_error(t, rc, "msgs");
	if ((rc = mdb_cursor_open(t->txn, u->old, &c)) != 0)
		return sdb_error(t, rc, "msgs");
	for (n = 0; n < UPGRADE_ROWS_PER_TXN; n++) {
		if ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) != 0)
			break;
		if (k.mv_size != 4 || msg_decode_old(&v, be32dec(k.mv_data),
		    &m) == -1) {
			/* Nothing could read it before either. */
			log_warnx("store upgrade: a damaged message row "
			    "dropped: %s", k.mv_size != 4 ? "bad key" :
			    err_msg());
		} else if (body_set_sizes(t, &m) == -1 ||
		    msg_put(t, &m, 1) == -1) {
			mdb_cursor_close(c);
			return -1;
		}
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			mdb_cursor_close(c);
			return sdb_error(t, rc, "msgs");
		}
		u->moved++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "msgs");
	if (rc == 0) {
		u->more = 1;
		return 0;
	}
	if ((rc = mdb_drop(t->txn, u->old, 1)) != 0)
		return sdb_error(t, rc, "msgs");
	return 0;
}

int
msgrow_upgrade(struct store *st)
{
	struct up_rows u = { 0, 0, 1 };

	while (u.more)
		if (store_write(st, up_rows_fn, &u) == -1)
			return -1;
	if (u.moved > 0)
		log_info("store %s: %" PRIu64 " message rows moved to the "
		    "fixed-width table", st->path, u.moved);
	return 0;
}
