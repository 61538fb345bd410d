/*
 * check_store_format.c - record formats: varints, and a store whose blob
 * and body records are in the older layouts (blob versions 1 and 2, body
 * versions 2 and 3 with the IMAP record under the body id, the body hash
 * index under whole hashes) reads, checks,
 * changes and optimizes as a new one; store_trim() gives free pages back
 * and the store goes on working.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/dict.h"
#include "store/private.h"
#include "store/trim.h"
#include "testutil.h"

static Suite	*format_suite(void);

#define NMSGS	(STORE_DICT_TRAIN_AFTER + 50)

static char		*dir;
static struct store	*st;
static uint32_t		 inbox;
static char		*msgs[NMSGS + 8];
static size_t		 lens[NMSGS + 8];
static uint32_t		 uids[NMSGS + 8];

static char *
make_msg(struct tu_rng *r, unsigned i, size_t *len_r)
{
	char *buf = xmalloc(8192);
	size_t n = 0, k, nw;

#define ADD(...) (n += (size_t)snprintf(buf + n, 8192 - n, __VA_ARGS__))
	ADD("Received: from mail%u.example.net ([10.%u.%u.%u])\n\tby "
	    "mx.example.test with ESMTP id %08llX\n",
	    (unsigned)tu_rng_below(r, 50), (unsigned)tu_rng_below(r, 256),
	    (unsigned)tu_rng_below(r, 256), (unsigned)tu_rng_below(r, 256),
	    (unsigned long long)tu_rng_next(r) & 0xffffffffULL);
	ADD("From: \"Sender %u\" <user%u@example.org>\nTo: "
	    "format@example.test\nSubject: the format of record %u\n"
	    "Message-ID: <%llx.%u@example.org>\nMIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n",
	    (unsigned)tu_rng_below(r, 300), (unsigned)tu_rng_below(r, 300), i,
	    (unsigned long long)tu_rng_next(r), i);
	nw = 30 + tu_rng_below(r, 150);
	for (k = 0; k < nw; k++)
		ADD("word%u%s", (unsigned)tu_rng_below(r, 60),
		    k % 10 == 9 ? "\n" : " ");
	ADD("\n-- \nThe format list\n");
#undef ADD
	*len_r = n;
	return buf;
}

static void
setup(void)
{
	struct store_prepared *p;
	struct tu_rng r;
	size_t i;

	dir = tu_tmpdir("format");
	st = tu_open(dir);
	inbox = tu_inbox(st, tu_make_user(st, "format@example.test"));
	tu_rng_seed(&r, 13);
	for (i = 0; i < NMSGS; i++)
		msgs[i] = make_msg(&r, (unsigned)i, &lens[i]);
	for (i = 0; i < NMSGS; i += 100) {
		size_t j;

		ck_assert_int_eq(store_batch_begin(st), 0);
		for (j = i; j < i + 100 && j < NMSGS; j++) {
			ck_assert_int_eq(store_msg_prepare(st, msgs[j],
			    lens[j], &p), 0);
			ck_assert_int_eq(tu_append_prepared(st, inbox, p, 0,
			    &uids[j]), 1);
			store_prepared_free(&p);
		}
		ck_assert_int_eq(store_batch_commit(st), 0);
	}
}

static void
teardown(void)
{
	size_t i;

	for (i = 0; i < sizeof(msgs) / sizeof(*msgs); i++) {
		free(msgs[i]);
		msgs[i] = NULL;
	}
	store_close(&st);
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

struct meta_ctx {
	uint64_t	 body;
	size_t		 len;
};

static int
meta_txn(struct store_txn *t, void *ctx)
{
	struct meta_ctx *c = ctx;
	void *meta;
	int rc;

	if ((rc = store_body_meta(t, c->body, &meta, &c->len)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no body");
	free(meta);
	return 0;
}

/* Messages [from, to) read back byte-exact, with readable IMAP records. */
static void
all_exact(unsigned from, unsigned to)
{
	struct store_msg m;
	struct meta_ctx mc;
	void *data;
	size_t len;
	unsigned i;

	for (i = from; i < to; i++) {
		ck_assert_msg(tu_read(st, inbox, uids[i], &data, &len) == 1,
		    "message %u: %s", i, err_msg());
		ck_assert_uint_eq(len, lens[i]);
		ck_assert_msg(memcmp(data, msgs[i], len) == 0,
		    "message %u differs", i);
		free(data);
		ck_assert_int_eq(tu_msg_get(st, inbox, uids[i], &m), 1);
		mc.body = m.body;
		ck_assert_msg(store_read(st, meta_txn, &mc) == 0,
		    "message %u: IMAP record: %s", i, err_msg());
		ck_assert_uint_gt(mc.len, 0);
	}
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}

/* Varints ------------------------------------------------------------- */

START_TEST(test_varint_round_trip)
{
	static const uint64_t v[] = { 0, 1, 127, 128, 255, 16383, 16384,
	    UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX / 2,
	    UINT64_MAX };
	static const size_t bytes[] = { 1, 1, 1, 2, 2, 2, 3, 5, 5, 9, 10 };
	struct pack p;
	struct unpack u;
	MDB_val m;
	size_t i, before;

	pack_init(&p);
	for (i = 0; i < sizeof(v) / sizeof(*v); i++) {
		before = p.len;
		pack_uv(&p, v[i]);
		ck_assert_msg(p.len - before == bytes[i], "%llu took %zu "
		    "bytes", (unsigned long long)v[i], p.len - before);
	}
	m.mv_data = p.buf;
	m.mv_size = p.len;
	unpack_init(&u, &m);
	for (i = 0; i < sizeof(v) / sizeof(*v); i++)
		ck_assert_uint_eq(unpack_uv(&u), v[i]);
	ck_assert_int_eq(u.bad, 0);
	ck_assert_uint_eq(u.left, 0);
	/* Past the end: bad, not a read out of bounds. */
	(void)unpack_uv(&u);
	ck_assert_int_eq(u.bad, 1);
	pack_free(&p);
}
END_TEST

START_TEST(test_varint_malformed)
{
	/* version byte, then the varint */
	static const uint8_t cut[] = { 1, 0x80, 0x80 };
	static const uint8_t too_long[] = { 1, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0x02 };
	static const uint8_t eleven[] = { 1, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	struct unpack u;
	MDB_val m;

	m.mv_data = (void *)cut;
	m.mv_size = sizeof(cut);
	unpack_init(&u, &m);
	ck_assert_uint_eq(unpack_uv(&u), 0);
	ck_assert_int_eq(u.bad, 1);
	m.mv_data = (void *)too_long;
	m.mv_size = sizeof(too_long);
	unpack_init(&u, &m);
	(void)unpack_uv(&u);
	ck_assert_int_eq(u.bad, 1);
	m.mv_data = (void *)eleven;
	m.mv_size = sizeof(eleven);
	unpack_init(&u, &m);
	(void)unpack_uv(&u);
	ck_assert_int_eq(u.bad, 1);
}
END_TEST

/* Old formats --------------------------------------------------------- */

struct old_body {
	uint64_t	 id;
	struct body_rec	 b;
	uint8_t		*meta;	/* the stored (compressed) record */
};

/*
 * The body hash index as before short keys: every entry under the
 * message's whole SHA-256 (from its body record), the body id 8 bytes
 * big-endian.
 */
static void
make_old_bodyhash(struct store_txn *t)
{
	struct body_rec b;
	uint8_t (*keys)[32] = NULL, be[8];
	uint64_t *ids = NULL;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, i;

	ck_assert_int_eq(sdb_cursor(t, DB_BODYHASH, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		ck_assert_uint_lt(v.mv_size, 8);
		ck_assert_uint_eq(k.mv_size, 8);	/* short keys */
		keys = xreallocarray(keys, n + 1, 32);
		ids = xreallocarray(ids, n + 1, sizeof(*ids));
		ck_assert_int_eq(bodyhash_dec(&v, &ids[n]), 0);
		n++;
	}
	mdb_cursor_close(c);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(body_get(t, ids[i], &b), 1);
		memcpy(keys[i], b.hash, 32);
		body_rec_clear(&b);
		ck_assert_int_eq(sdb_del(t, DB_BODYHASH, keys[i], 8), 1);
	}
	for (i = 0; i < n; i++) {
		be64enc(be, ids[i]);
		ck_assert_int_eq(sdb_put(t, DB_BODYHASH, keys[i], 32, be, 8,
		    0), 1);
	}
	free(keys);
	free(ids);
}

static size_t
old_uv(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

static uint64_t
old_zz(int64_t v)
{
	return v < 0 ? ((uint64_t)~v << 1) | 1 : (uint64_t)v << 1;
}

/*
 * The message rows as schema 5 kept them: in `msgs` (DUPSORT, variable
 * rows), alternately version 1 (40 fixed-width bytes, then the keywords)
 * and version 2 (varints), with the keywords in the row; `messages` and
 * `msgkw` gone, schema version 5.
 */
static void
make_old_rows(struct store_txn *t)
{
	struct store_msg *m = NULL;
	uint8_t key[4], row[40 + STORE_KEYWORDS_MAX], ver[4];
	MDB_cursor *c;
	MDB_dbi old;
	MDB_val k, v;
	size_t n = 0, i, kw, len;

	ck_assert_int_eq(sdb_cursor(t, DB_MSGS, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		ck_assert_uint_eq(v.mv_size, 20);
		m = xreallocarray(m, n + 1, sizeof(*m));
		ck_assert_int_eq(msg_decode(t, &v, be32dec(k.mv_data),
		    &m[n]), 0);
		n++;
	}
	mdb_cursor_close(c);
	ck_assert_int_eq(mdb_drop(t->txn, t->st->dbi[DB_MSGS], 1), 0);
	ck_assert_int_eq(mdb_drop(t->txn, t->st->dbi[DB_MSGKW], 1), 0);
	ck_assert_int_eq(mdb_dbi_open(t->txn, "msgs", MDB_CREATE |
	    MDB_DUPSORT, &old), 0);
	for (i = 0; i < n; i++) {
		kw = strlen(m[i].keywords);
		be32enc(row, m[i].uid);
		if (i % 2 == 0) {
			row[4] = 1;
			be64enc(row + 5, m[i].body);
			be64enc(row + 13, (uint64_t)m[i].internal_date);
			be32enc(row + 21, (uint32_t)m[i].size);
			row[25] = (uint8_t)(m[i].flags |
			    (m[i].no_final_newline ? 0x80 : 0) |
			    (m[i].maildir_cur ? 0x40 : 0));
			be64enc(row + 26, m[i].modseq);
			row[34] = (uint8_t)(kw >> 8);
			row[35] = (uint8_t)kw;
			be32enc(row + 36, (uint32_t)m[i].crlf_size);
			len = 40;
		} else {
			row[4] = 2;
			row[5] = (uint8_t)(m[i].flags |
			    (m[i].no_final_newline ? 0x80 : 0) |
			    (m[i].maildir_cur ? 0x40 : 0));
			len = 6;
			len += old_uv(row + len, m[i].body);
			len += old_uv(row + len, old_zz(m[i].internal_date));
			len += old_uv(row + len, m[i].size);
			len += old_uv(row + len, m[i].modseq);
			len += old_uv(row + len, old_zz((int64_t)m[i].crlf_size -
			    (int64_t)m[i].size));
			len += old_uv(row + len, kw);
		}
		memcpy(row + len, m[i].keywords, kw);
		be32enc(key, m[i].mailbox_id);
		k.mv_size = 4;
		k.mv_data = key;
		v.mv_size = len + kw;
		v.mv_data = row;
		ck_assert_int_eq(mdb_put(t->txn, old, &k, &v, 0), 0);
	}
	free(m);
	be32enc(ver, 5);
	ck_assert_int_eq(sdb_put(t, DB_META, "version", 7, ver, 4, 0), 1);
}

/*
 * Rewrites every message row as schema 5 did, the body hash index with
 * 8-byte ids under whole hashes, every blob record as version 1 or 2 and
 * every body record as version 2 or 3 (alternately), its IMAP record moved
 * under the body id: the store as an older vellum left it.
 */
static int
make_old_txn(struct store_txn *t, void *ctx)
{
	struct old_body *ob = NULL;
	uint8_t (*hashes)[32] = NULL;
	struct blob_rec br;
	struct pack p;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[12];
	size_t n = 0, nb = 0, i, off, chunk;
	uint32_t piece;

	(void)ctx;
	/* First: reading a row of schema 6 needs the body's sizes. */
	make_old_rows(t);
	ck_assert_int_eq(sdb_cursor(t, DB_BLOBS, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		hashes = xreallocarray(hashes, n + 1, 32);
		memcpy(hashes[n++], k.mv_data, 32);
	}
	mdb_cursor_close(c);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(blob_get(t, hashes[i], &br), 1);
		if (i % 2 == 0) {
			pack_init_version(&p, BLOB_REC_V1);
			pack_u32(&p, br.refcount);
			pack_u64(&p, br.raw_len);
			pack_u8(&p, br.codec);
			pack_u32(&p, br.dict_id);
			pack_u64(&p, br.stored_len);
			pack_u64(&p, br.first_frag);
			pack_u32(&p, br.nfrags);
			pack_u8(&p, br.kind);
			ck_assert_int_eq(p.len, 39);
		} else {
			/* Version 2: varints, the number of fragments. */
			pack_init_version(&p, BLOB_REC_V2);
			pack_uv(&p, br.refcount);
			pack_uv(&p, br.raw_len);
			pack_u8(&p, (uint8_t)(br.codec << 4 | br.kind));
			pack_uv(&p, br.dict_id);
			pack_uv(&p, br.stored_len);
			pack_uv(&p, br.first_frag);
			pack_uv(&p, br.nfrags);
		}
		ck_assert_int_eq(sdb_put(t, DB_BLOBS, hashes[i], 32, p.buf,
		    p.len, 0), 1);
		pack_free(&p);
	}
	free(hashes);
	ck_assert_int_eq(sdb_cursor(t, DB_BODIES, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		ck_assert_uint_eq(((uint8_t *)v.mv_data)[0], BODY_REC_CUR);
		ob = xreallocarray(ob, nb + 1, sizeof(*ob));
		memset(&ob[nb], 0, sizeof(*ob));
		ob[nb++].id = be64dec(k.mv_data);
	}
	mdb_cursor_close(c);
	/* Every record read (and deleted) before any is written back. */
	for (i = 0; i < nb; i++) {
		ck_assert_int_eq(body_get(t, ob[i].id, &ob[i].b), 1);
		ck_assert(ob[i].b.has_meta);
		ob[i].meta = xmalloc(ob[i].b.meta_stored);
		for (off = 0, piece = 0; off < ob[i].b.meta_stored;
		    off += chunk, piece++) {
			be64enc(key, ob[i].b.meta_id);
			be32enc(key + 8, piece);
			ck_assert_int_eq(sdb_get(t, DB_IMAPMETA, key, 12, &v),
			    1);
			chunk = v.mv_size;
			memcpy(ob[i].meta + off, v.mv_data, chunk);
			ck_assert_int_eq(sdb_del(t, DB_IMAPMETA, key, 12), 1);
		}
	}
	for (i = 0; i < nb; i++) {
		struct body_rec *b = &ob[i].b;
		size_t s;

		if (i % 2 == 0) {
			pack_init_version(&p, BODY_REC_V2);
			pack_u32(&p, b->refcount);
			pack_u64(&p, b->size);
			pack_bytes(&p, b->hash, 32);
			pack_u32(&p, (uint32_t)b->nsegs);
			for (s = 0; s < b->nsegs; s++) {
				pack_bytes(&p, b->segs[s].hash, 32);
				pack_u64(&p, b->segs[s].len);
			}
			pack_u8(&p, b->has_meta);
			pack_u8(&p, b->meta_codec);
			pack_u32(&p, b->meta_dict);
			pack_u32(&p, b->meta_len);
			pack_u32(&p, b->meta_stored);
		} else {
			/* Version 3: varints, the size, the record's id. */
			pack_init_version(&p, BODY_REC_V3);
			pack_uv(&p, b->refcount);
			pack_uv(&p, b->size);
			pack_bytes(&p, b->hash, 32);
			pack_uv(&p, b->nsegs);
			for (s = 0; s < b->nsegs; s++) {
				pack_bytes(&p, b->segs[s].hash, 32);
				pack_uv(&p, b->segs[s].len);
			}
			pack_u8(&p, b->has_meta);
			pack_u8(&p, b->meta_codec);
			pack_uv(&p, b->meta_dict);
			pack_uv(&p, b->meta_len);
			pack_uv(&p, b->meta_stored);
			pack_uv(&p, ob[i].id);	/* pieces as version 2's */
		}
		be64enc(key, ob[i].id);
		ck_assert_int_eq(sdb_put(t, DB_BODIES, key, 8, p.buf, p.len,
		    0), 1);
		pack_free(&p);
		for (off = 0, piece = 0; off < b->meta_stored; off += chunk,
		    piece++) {
			chunk = b->meta_stored - off > BLOB_FRAG_MAX ?
			    BLOB_FRAG_MAX : b->meta_stored - off;
			be64enc(key, ob[i].id);
			be32enc(key + 8, piece);
			ck_assert_int_eq(sdb_put(t, DB_IMAPMETA, key, 12,
			    ob[i].meta + off, chunk, 0), 1);
		}
		free(ob[i].meta);
		body_rec_clear(b);
	}
	free(ob);
	make_old_bodyhash(t);
	return 0;
}

/*
 * Counts records by version byte: blobs [0] older [1] newest, bodies [2] older
 * [3] newest; body hash index entries [4] under the whole hash [5] under
 * a short key.
 */
static int
count_versions_txn(struct store_txn *t, void *ctx)
{
	size_t *n = ctx;
	MDB_cursor *c;
	MDB_val k, v;

	memset(n, 0, 6 * sizeof(*n));
	ck_assert_int_eq(sdb_cursor(t, DB_BLOBS, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
		n[((uint8_t *)v.mv_data)[0] == BLOB_REC_CUR]++;
	mdb_cursor_close(c);
	ck_assert_int_eq(sdb_cursor(t, DB_BODIES, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
		n[2 + (((uint8_t *)v.mv_data)[0] == BODY_REC_CUR)]++;
	mdb_cursor_close(c);
	ck_assert_int_eq(sdb_cursor(t, DB_BODYHASH, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
		n[4 + (k.mv_size < 32)]++;
	mdb_cursor_close(c);
	return 0;
}

static void
versions(size_t *n)
{
	ck_assert_int_eq(store_read(st, count_versions_txn, n), 0);
}

/* The rows in `messages` (20 bytes each) and `msgkw`; no `msgs` left. */
static int
rows_txn(struct store_txn *t, void *ctx)
{
	size_t *n = ctx;
	MDB_cursor *c;
	MDB_dbi old;
	MDB_val k, v;

	n[0] = n[1] = 0;
	ck_assert_int_eq(mdb_dbi_open(t->txn, "msgs", MDB_DUPSORT, &old),
	    MDB_NOTFOUND);
	ck_assert_int_eq(sdb_cursor(t, DB_MSGS, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
		ck_assert_uint_eq(v.mv_size, 20);
		n[0]++;
	}
	mdb_cursor_close(c);
	ck_assert_int_eq(sdb_cursor(t, DB_MSGKW, &c), 0);
	while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
		n[1]++;
	mdb_cursor_close(c);
	return 0;
}

static void
same_msg(const struct store_msg *a, const struct store_msg *b)
{
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->modseq, b->modseq);
	ck_assert_int_eq(a->internal_date, b->internal_date);
	ck_assert_uint_eq(a->size, b->size);
	ck_assert_uint_eq(a->crlf_size, b->crlf_size);
	ck_assert_int_eq(a->no_final_newline, b->no_final_newline);
	ck_assert_int_eq(a->maildir_cur, b->maildir_cur);
	ck_assert_uint_eq(a->body, b->body);
	ck_assert_str_eq(a->keywords, b->keywords);
}

/*
 * A store of old records (schema 5: variable rows of both versions in
 * `msgs`, older blob, body and index records): a read-only open reads
 * the old rows as they are; a writable one moves the rows into
 * `messages` (the bodies get the sizes the rows carried) and everything
 * reads and checks (rows keep their flags, dates and keywords); new mail
 * is written in the new formats beside the old records; expunges
 * (refcounts through old records) and optimize (which rewrites them) keep
 * it exact.
 */
START_TEST(test_old_records)
{
	struct store_optimize o = { 0 };
	struct store_msg before, after, nokw;
	struct store *ro;
	struct tu_rng r;
	size_t n[6];
	unsigned i;

	ck_assert_int_eq(tu_set_flags(st, inbox, uids[5], STORE_FLAGS_SET, STORE_F_SEEN |
	    STORE_F_FLAGGED, "$Label1"), 1);
	ck_assert_int_eq(tu_msg_get(st, inbox, uids[5], &before), 1);
	ck_assert_int_eq(tu_msg_get(st, inbox, uids[6], &nokw), 1);
	ck_assert_str_eq(before.keywords, "$Label1");
	ck_assert_int_eq(store_write(st, make_old_txn, NULL), 0);
	store_close(&st);
	ck_assert_int_eq(store_open(dir, STORE_RDONLY, &ro), 0);
	ck_assert_int_eq(tu_msg_get(ro, inbox, uids[5], &after), 1);
	same_msg(&after, &before);
	ck_assert_int_eq(tu_msg_get(ro, inbox, uids[6], &after), 1);
	same_msg(&after, &nokw);
	store_close(&ro);
	st = tu_open(dir);
	ck_assert_int_eq(tu_msg_get(st, inbox, uids[5], &after), 1);
	same_msg(&after, &before);
	ck_assert_int_eq(tu_msg_get(st, inbox, uids[6], &after), 1);
	same_msg(&after, &nokw);
	ck_assert_int_eq(store_read(st, rows_txn, n), 0);
	ck_assert_uint_eq(n[0], NMSGS);
	ck_assert_uint_eq(n[1], 1);
	/* A flag change rewrites the row; no keywords: no msgkw entry. */
	ck_assert_int_eq(tu_set_flags(st, inbox, uids[5], STORE_FLAGS_SET, STORE_F_SEEN,
	    NULL), 1);
	ck_assert_int_eq(tu_msg_get(st, inbox, uids[5], &after), 1);
	ck_assert_uint_eq(after.flags, STORE_F_SEEN);
	ck_assert_int_eq(store_read(st, rows_txn, n), 0);
	ck_assert_uint_eq(n[0], NMSGS);
	ck_assert_uint_eq(n[1], after.keywords[0] != '\0');
	versions(n);
	ck_assert_uint_eq(n[1], 0);
	/* The upgrade wrote every body again, with the sizes. */
	ck_assert_uint_eq(n[2], 0);
	ck_assert_uint_eq(n[3], NMSGS);
	ck_assert_uint_eq(n[4], NMSGS);
	ck_assert_uint_eq(n[5], 0);
	all_exact(0, NMSGS);
	/* New mail beside the old: new formats. */
	tu_rng_seed(&r, 77);
	for (i = NMSGS; i < NMSGS + 4; i++) {
		msgs[i] = make_msg(&r, i, &lens[i]);
		ck_assert_int_eq(tu_append(st, inbox, msgs[i], lens[i], 0,
		    NULL, &uids[i]), 1);
	}
	versions(n);
	ck_assert_uint_eq(n[3], NMSGS + 4);
	ck_assert_uint_eq(n[5], 4);
	/* A copy references old records (body refcount + 1). */
	ck_assert_int_eq(tu_expunge(st, inbox, uids[0]), 1);
	ck_assert_int_eq(tu_expunge(st, inbox, uids[1]), 1);
	all_exact(2, NMSGS + 4);
	/* Optimize trains and rewrites the old records in the new form. */
	ck_assert_int_eq(store_dict_optimize(st, &o), 0);
	ck_assert_int_eq(o.trained, DICT_KINDS);
	ck_assert_uint_gt(o.records, NMSGS / 2);
	store_close(&st);
	st = tu_open(dir);
	all_exact(2, NMSGS + 4);
	versions(n);
	ck_assert_uint_eq(n[0], 0);	/* every record rewritten */
	ck_assert_uint_gt(n[1], 0);
	ck_assert_uint_eq(n[2], 0);
	ck_assert_uint_eq(n[3], NMSGS + 2);
	ck_assert_uint_eq(n[4], 0);	/* every index entry rekeyed */
	ck_assert_uint_eq(n[5], NMSGS + 2);
}
END_TEST

/*
 * Two messages whose SHA-256 share the bytes of the short index key: the
 * index never answers with the other's body, the second one's entry goes
 * under its whole hash, and each entry is removed by its own body.
 */
static int
collide_txn(struct store_txn *t, void *ctx)
{
	struct store_msg m;
	struct body_rec a;
	uint8_t other[32];
	uint64_t id, aid;
	MDB_val v;

	(void)ctx;
	ck_assert_int_eq(store_msg_get(t, inbox, uids[3], &m), 1);
	aid = m.body;
	ck_assert_int_eq(body_get(t, aid, &a), 1);
	body_rec_clear(&a);
	memcpy(other, a.hash, 32);
	other[31] ^= 0x01;	/* same prefix, another message */
	ck_assert_int_eq(body_find(t, other, &id), 0);
	ck_assert_int_eq(bodyhash_put(t, other, 999999), 0);
	ck_assert_int_eq(sdb_get(t, DB_BODYHASH, other, 32, &v), 1);
	ck_assert_int_eq(body_find(t, other, &id), 1);
	ck_assert_uint_eq(id, 999999);
	ck_assert_int_eq(body_find(t, a.hash, &id), 1);
	ck_assert_uint_eq(id, aid);
	/* The first one's entry goes: the second one's stays findable. */
	ck_assert_int_eq(bodyhash_del(t, a.hash, aid), 0);
	ck_assert_int_eq(body_find(t, a.hash, &id), 0);
	ck_assert_int_eq(body_find(t, other, &id), 1);
	ck_assert_uint_eq(id, 999999);
	/* Back as it was (the other one's entry removed by its own id). */
	ck_assert_int_eq(bodyhash_put(t, a.hash, aid), 0);
	ck_assert_int_eq(bodyhash_del(t, other, 999999), 0);
	ck_assert_int_eq(sdb_get(t, DB_BODYHASH, other, 32, &v), 0);
	ck_assert_int_eq(body_find(t, a.hash, &id), 1);
	ck_assert_uint_eq(id, aid);
	ck_assert_int_eq(body_find(t, other, &id), 0);
	return 0;
}

START_TEST(test_bodyhash_collision)
{
	ck_assert_int_eq(store_write(st, collide_txn, NULL), 0);
	all_exact(0, NMSGS);
	/* The message delivered again is the same body (refcount 2). */
	ck_assert_int_eq(tu_append(st, inbox, msgs[3], lens[3], 0, NULL,
	    &uids[NMSGS]), 1);
	msgs[NMSGS] = xmemdup(msgs[3], lens[3]);
	lens[NMSGS] = lens[3];
	all_exact(0, NMSGS + 1);
}
END_TEST

/*
 * store_trim(): after expunging most mail, free pages are punched (the
 * data file's allocated size falls), and the store then reads, checks
 * and takes new mail that reuses them.
 */
START_TEST(test_trim)
{
	struct store_trim tr;
	struct tu_rng r;
	unsigned i;

	for (i = 0; i < NMSGS - 100; i++)
		ck_assert_int_eq(tu_expunge(st, inbox, uids[i]), 1);
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_uint_gt(tr.free_pages, 0);
	if (tr.pages == 0) {
		/* A file system without hole punching: nothing to see. */
		all_exact(NMSGS - 100, NMSGS);
		return;
	}
	ck_assert_msg(tr.bytes_after + tr.pages * 4096 / 2 <= tr.bytes_before,
	    "%llu pages punched but %llu -> %llu bytes",
	    (unsigned long long)tr.pages,
	    (unsigned long long)tr.bytes_before,
	    (unsigned long long)tr.bytes_after);
	all_exact(NMSGS - 100, NMSGS);
	/* A reader open while trimming keeps its snapshot readable. */
	tu_rng_seed(&r, 5);
	for (i = NMSGS; i < NMSGS + 8; i++) {
		msgs[i] = make_msg(&r, i, &lens[i]);
		ck_assert_int_eq(tu_append(st, inbox, msgs[i], lens[i], 0,
		    NULL, &uids[i]), 1);
	}
	ck_assert_int_eq(store_trim(st, &tr), 0);
	store_close(&st);
	st = tu_open(dir);
	all_exact(NMSGS - 100, NMSGS + 8);
}
END_TEST

/* Pages a snapshot still reads are not punched while it is open. */
START_TEST(test_trim_keeps_readers)
{
	struct store_trim tr;
	struct store_txn t = { 0 };
	void *data;
	size_t len;
	unsigned i;

	/* A snapshot held open, as another process's reader would. */
	t.st = st;
	ck_assert_int_eq(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t.txn), 0);
	for (i = 0; i < NMSGS - 1; i++)
		ck_assert_int_eq(tu_expunge(st, inbox, uids[i]), 1);
	ck_assert_int_eq(store_trim(st, &tr), 0);
	/* The old snapshot still sees every message, byte-exact. */
	for (i = 0; i < NMSGS; i += 37) {
		ck_assert_int_eq(store_msg_read(&t, inbox, uids[i], &data,
		    &len), 1);
		ck_assert_uint_eq(len, lens[i]);
		ck_assert(memcmp(data, msgs[i], len) == 0);
		free(data);
	}
	mdb_txn_abort(t.txn);
	ck_assert_int_eq(store_trim(st, &tr), 0);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
}
END_TEST

/* Fixed-width rows ---------------------------------------------------- */

struct rows_ctx {
	int		 step;
	uint32_t	 uid;
};

static int
rows_edit_txn(struct store_txn *t, void *ctx)
{
	struct rows_ctx *r = ctx;
	struct store_prepared *p;
	struct store_msg m;
	uint8_t key[8];
	static const char msg[] = "Subject: old\n\nfrom 1931\n";

	switch (r->step) {
	case 0:	/* an APPEND dated before 1970, with keywords */
		ck_assert_int_eq(store_msg_prepare(t->st, msg,
		    sizeof(msg) - 1, &p), 0);
		ck_assert_int_eq(store_msg_append(t, inbox, p,
		    -(INT64_C(39) * 365 * 86400), STORE_F_ANSWERED,
		    "$Old  Work", 0, &r->uid), 1);
		store_prepared_free(&p);
		break;
	case 1:	/* keywords of a row without any */
		be32enc(key, inbox);
		be32enc(key + 4, uids[7]);
		ck_assert_int_eq(sdb_put(t, DB_MSGKW, key, 8, "stray", 5, 0),
		    1);
		break;
	case 2:
		be32enc(key, inbox);
		be32enc(key + 4, uids[7]);
		ck_assert_int_eq(sdb_del(t, DB_MSGKW, key, 8), 1);
		/* a row whose keywords are gone */
		be32enc(key + 4, r->uid);
		ck_assert_int_eq(sdb_del(t, DB_MSGKW, key, 8), 1);
		break;
	case 3:	/* past what 40 bits hold: refused, nothing written */
		ck_assert_int_eq(store_msg_get(t, inbox, uids[8], &m), 1);
		m.modseq = UINT64_C(1) << 40;
		ck_assert_int_eq(msg_put(t, &m, 0), -1);
		ck_assert_int_eq(err_class(), ERR_LIMIT);
		m.modseq = 1;
		m.body = UINT64_C(1) << 40;
		ck_assert_int_eq(msg_put(t, &m, 0), -1);
		ck_assert_int_eq(err_class(), ERR_LIMIT);
		break;
	}
	return 0;
}

struct rows_seen {
	uint32_t	uid;
	int		found;
};

static int
rows_seen_fn(const struct store_msg *m, void *ctx)
{
	struct rows_seen *rs = ctx;

	ck_assert_uint_eq(m->size, 0);	/* rows only: no body read */
	if (m->uid == rs->uid) {
		ck_assert_str_eq(m->keywords, "$Old Work");
		ck_assert_int_eq(m->internal_date,
		    -(INT64_C(39) * 365 * 86400));
		rs->found = 1;
	}
	return 0;
}

static int
rows_list_txn(struct store_txn *t, void *ctx)
{
	return store_msg_list_rows(t, inbox, 1, rows_seen_fn, ctx);
}

/*
 * Rows keep a date before 1970 and keywords (in msgkw) exactly; store
 * check finds keywords without their row and a row without its keywords;
 * values past 40 bits are refused.
 */
START_TEST(test_rows)
{
	struct rows_ctx r = { 0, 0 };
	struct rows_seen rs = { 0, 0 };
	struct store_msg m;

	ck_assert_int_eq(store_write(st, rows_edit_txn, &r), 0);
	ck_assert_int_eq(tu_msg_get(st, inbox, r.uid, &m), 1);
	ck_assert_int_eq(m.internal_date, -(INT64_C(39) * 365 * 86400));
	ck_assert_str_eq(m.keywords, "$Old Work");
	ck_assert_uint_eq(m.flags, STORE_F_ANSWERED);
	ck_assert_uint_eq(m.size, 24);
	ck_assert_uint_eq(m.crlf_size, 27);
	ck_assert_int_eq(m.no_final_newline, 0);
	rs.uid = r.uid;
	ck_assert_int_eq(store_read(st, rows_list_txn, &rs), 0);
	ck_assert(rs.found);
	ck_assert_msg(tu_check(st) == 0, "store check: %s",
	    tu_check_problems());
	r.step = 1;
	ck_assert_int_eq(store_write(st, rows_edit_txn, &r), 0);
	ck_assert_int_eq(tu_check(st), 1);
	ck_assert_ptr_nonnull(strstr(tu_check_problems(),
	    "belong to no message row"));
	r.step = 2;
	ck_assert_int_eq(store_write(st, rows_edit_txn, &r), 0);
	ck_assert_int_eq(tu_msg_get(st, inbox, r.uid, &m), -1);
	ck_assert_ptr_nonnull(strstr(err_msg(), "are missing"));
	ck_assert_int_gt(tu_check(st), 0);
	ck_assert_int_eq(tu_expunge(st, inbox, r.uid), -1);
	r.step = 3;
	ck_assert_int_eq(store_write(st, rows_edit_txn, &r), 0);
	ck_assert_int_eq(tu_msg_get(st, inbox, uids[8], &m), 1);
	ck_assert_uint_lt(m.modseq, UINT64_C(1) << 40);
}
END_TEST

static Suite *
format_suite(void)
{
	Suite *s = suite_create("store_format");
	TCase *tc = tcase_create("varint");
	TCase *tc2 = tcase_create("format");

	tcase_add_test(tc, test_varint_round_trip);
	tcase_add_test(tc, test_varint_malformed);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tc2, setup, teardown);
	tcase_set_timeout(tc2, 300);
	tcase_add_test(tc2, test_old_records);
	tcase_add_test(tc2, test_bodyhash_collision);
	tcase_add_test(tc2, test_trim);
	tcase_add_test(tc2, test_trim_keeps_readers);
	tcase_add_test(tc2, test_rows);
	suite_add_tcase(s, tc2);
	return s;
}

int
main(void)
{
	tu_init();
	return tu_run(format_suite());
}
