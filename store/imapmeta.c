/*
 * imapmeta.c - the IMAP record of a body, and the schema upgrades (2:
 * IMAP records and default folders; 3: keyword lists, maildir.c).
 *
 * The record (mail/imapmsg.h: ENVELOPE, BODYSTRUCTURE, sort and thread
 * keys, MIME part table) is built once per body by store_msg_prepare(),
 * outside any write transaction, and compressed with zstd and the IMAP
 * dictionary (meta_compress() says why).  It is kept in `imapmeta` under
 * (record id, piece number) in values of at most BLOB_FRAG_MAX bytes, so
 * no record ever needs LMDB overflow pages; the body record says how long
 * it is, how it was compressed and its id (version 3; before, the body
 * id).  Reading it is one lookup per
 * piece and one decompression: no message bytes are touched.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "dict.h"
#include "mail/imapmsg.h"
#include "mailbox.h"
#include "message.h"
#include "private.h"
#include "user.h"

/* Bodies per transaction of the upgrade (small: see store_upgrade). */
#define UPGRADE_BODIES_PER_TXN	64
#define UPGRADE_USERS_PER_TXN	64
/* zstd levels of records (see meta_compress()). */
#define META_ZSTD_LEVEL		(-1)
#define META_DICT_LEVEL		9

static void
meta_key(uint8_t *key, uint64_t id, uint32_t piece)
{
	be64enc(key, id);
	be32enc(key + 8, piece);
}

/*
 * Without a dictionary, records are compressed at a fast (negative) zstd
 * level, which leaves literals without Huffman coding: a small frame
 * then decodes several times faster (no tables to build per frame), and
 * SORT or FETCH 1:* ENVELOPE reads every record of a mailbox.  With the
 * IMAP dictionary (DICT_IMAP, trained by store optimize on the records
 * themselves) the tables come with the dictionary, so a record decodes as
 * fast and is less than half as long.  Over the spamassassin corpus (6046
 * records, 745 B each raw): level -1 without one 418 B; with a 112 KiB
 * dictionary level 3 187 B, level 9 171 B (~35 MB/s to compress, ~20 us a
 * record), level 19 164 B (2.5 MB/s: too slow for delivery, but store
 * optimize compresses old records again at STORE_ZSTD_COLD_LEVEL);
 * decoding ~800 MB/s at every level with the dictionary, as level -1
 * without.
 * A record that does not shrink is kept raw; dict_id then names the
 * dictionary tried (as for segments), so store optimize does not try it
 * again.
 */
static void
meta_compress(struct store_txn *t, const void *raw, size_t len,
    struct meta_prep *r, int cold)
{
	size_t bound = ZSTD_compressBound(len), n;
	uint32_t id = 0;

	if (dict_current(t, DICT_IMAP, &id) != 1)
		id = 0;
	r->codec = BLOB_CODEC_RAW;
	r->dict_id = id;
	r->z = xmalloc(bound == 0 ? 1 : bound);
	n = blob_zstd(t->st, t, id, id == 0 ? META_ZSTD_LEVEL : cold ?
	    STORE_ZSTD_COLD_LEVEL : META_DICT_LEVEL, raw, len, r->z, bound);
	if (n == 0 && id != 0)	/* the dictionary could not be loaded */
		n = blob_zstd(t->st, t, r->dict_id = 0, META_ZSTD_LEVEL, raw,
		    len, r->z, bound);
	if (n == 0) {
		memcpy(r->z, raw, len);
		r->zlen = len;
		return;
	}
	r->zlen = n;
	r->codec = BLOB_CODEC_ZSTD;
}

int
meta_stale(uint32_t dict_id, uint32_t current)
{
	return dict_id != current;
}

int
meta_prep_current(struct store_txn *t, const struct meta_prep *m,
    struct meta_prep *fresh, int cold)
{
	uint32_t cur = 0;

	memset(fresh, 0, sizeof(*fresh));
	if (dict_current(t, DICT_IMAP, &cur) == -1)
		return -1;
	if (!meta_stale(m->dict_id, cur))
		return 0;
	return meta_prep_again(t, m, fresh, cold);
}

int
meta_prep_again(struct store_txn *t, const struct meta_prep *m,
    struct meta_prep *fresh, int cold)
{
	void *raw;

	memset(fresh, 0, sizeof(*fresh));
	/*
	 * This process compressed it, so its dictionary is loaded (they are
	 * kept until the store is closed) even if a pass deleted it since.
	 */
	raw = xmalloc(m->len == 0 ? 1 : m->len);
	if (blob_decompress(t, m->codec, m->dict_id, m->z, m->zlen, raw,
	    m->len) == -1) {
		free(raw);
		return -1;
	}
	fresh->len = m->len;
	meta_compress(t, raw, m->len, fresh, cold);
	free(raw);
	return 1;
}

int
meta_prepare_txn(struct store_txn *t, const void *msg, size_t len,
    struct meta_prep *r)
{
	void *raw;
	size_t rawlen;

	memset(r, 0, sizeof(*r));
	imap_msg_meta_build(msg, len, &raw, &rawlen);
	if (rawlen > UINT32_MAX) {
		free(raw);
		return err_set(ERR_TOOBIG, "IMAP record of %zu bytes", rawlen);
	}
	r->len = (uint32_t)rawlen;
	meta_compress(t, raw, rawlen, r, 0);
	free(raw);
	return 0;
}

struct prep_ctx {
	const void		*msg;
	size_t			 len;
	struct meta_prep	*r;
};

static int
meta_prepare_fn(struct store_txn *t, void *ctx)
{
	struct prep_ctx *p = ctx;

	return meta_prepare_txn(t, p->msg, p->len, p->r);
}

int
meta_prepare(struct store *st, const void *msg, size_t len,
    struct meta_prep *r)
{
	struct prep_ctx p = { msg, len, r };

	memset(r, 0, sizeof(*r));
	return store_read(st, meta_prepare_fn, &p) == -1 ? -1 : 0;
}

void
meta_prep_clear(struct meta_prep *m)
{
	free(m->z);
	memset(m, 0, sizeof(*m));
}

/*
 * The id after the highest key of `imapmeta` (1 when empty): records are
 * appended under increasing ids, so its pages fill (a record compressed
 * again by store optimize moves to the end, as blob fragments do).  Ids
 * of version 2 body records (their body id) are below it while they
 * exist; the id of a deleted last record may be given again.
 */
static int
meta_next_id(struct store_txn *t, uint64_t *id_r)
{
	return sdb_next_id_key(t, DB_IMAPMETA, 12, id_r);
}

int
meta_write(struct store_txn *t, uint64_t id, struct body_rec *b,
    const struct meta_prep *m)
{
	const uint8_t *p = m->z;
	uint8_t key[12];
	uint64_t mid = 0;
	size_t off, chunk;
	uint32_t piece;
	int rc;

	(void)id;
	if (t->st->no_imap)
		return 0;
	if (meta_next_id(t, &mid) == -1)
		return -1;
	for (off = 0, piece = 0; off < m->zlen; off += chunk, piece++) {
		chunk = m->zlen - off > BLOB_FRAG_MAX ? BLOB_FRAG_MAX :
		    m->zlen - off;
		meta_key(key, mid, piece);
		if ((rc = sdb_put(t, DB_IMAPMETA, key, 12, p + off, chunk,
		    MDB_APPEND)) != 1)
			return rc == -1 ? -1 : err_set(ERR_CORRUPT, "IMAP "
			    "record piece %" PRIu64 "/%u already exists",
			    mid, piece);
	}
	b->has_meta = 1;
	b->meta_codec = m->codec;
	b->meta_dict = m->dict_id;
	b->meta_len = m->len;
	b->meta_stored = (uint32_t)m->zlen;
	b->meta_id = mid;
	return 0;
}

int
meta_write_current(struct store_txn *t, uint64_t id, struct body_rec *b,
    const struct meta_prep *m)
{
	struct meta_prep fresh;
	int rc;

	if ((rc = meta_prep_current(t, m, &fresh, 0)) == -1)
		return -1;
	rc = meta_write(t, id, b, rc == 1 ? &fresh : m);
	meta_prep_clear(&fresh);
	return rc;
}

int
meta_delete(struct store_txn *t, uint64_t id, const struct body_rec *b)
{
	uint8_t key[12];
	uint32_t piece, n;

	(void)id;
	if (!b->has_meta || t->st->no_imap)
		return 0;
	n = (b->meta_stored + BLOB_FRAG_MAX - 1) / BLOB_FRAG_MAX;
	for (piece = 0; piece < n; piece++) {
		meta_key(key, b->meta_id, piece);
		if (sdb_del(t, DB_IMAPMETA, key, 12) == -1)
			return -1;
	}
	return 0;
}

int
meta_read(struct store_txn *t, uint64_t id, const struct body_rec *b,
    void **meta_r, size_t *len_r)
{
	MDB_val v;
	uint8_t key[12], *z, *out;
	size_t off = 0;
	uint32_t piece, n;
	int rc;

	*meta_r = NULL;
	*len_r = 0;
	if (t->st->no_imap)
		return err_set(ERR_CORRUPT, "body %" PRIu64 " has an IMAP "
		    "record but the store has no imapmeta table", id);
	/* Most records are one piece: read in place, no copy. */
	n = (b->meta_stored + BLOB_FRAG_MAX - 1) / BLOB_FRAG_MAX;
	z = n > 1 ? xmalloc(b->meta_stored) : NULL;
	for (piece = 0; piece < n; piece++) {
		meta_key(key, b->meta_id, piece);
		if ((rc = sdb_get(t, DB_IMAPMETA, key, 12, &v)) != 1 ||
		    v.mv_size > b->meta_stored - off ||
		    (piece + 1 < n && v.mv_size != BLOB_FRAG_MAX)) {
			free(z);
			return rc == -1 ? -1 : err_set(ERR_CORRUPT, "IMAP "
			    "record of body %" PRIu64 " is damaged or "
			    "incomplete (run vellumctl store check)", id);
		}
		if (z != NULL)
			memcpy(z + off, v.mv_data, v.mv_size);
		off += v.mv_size;
	}
	if (off != b->meta_stored) {
		free(z);
		return err_set(ERR_CORRUPT, "IMAP record of body %" PRIu64
		    " is incomplete (run vellumctl store check)", id);
	}
	out = xmalloc(b->meta_len == 0 ? 1 : b->meta_len);
	if (blob_decompress(t, b->meta_codec, b->meta_dict, z != NULL ? z :
	    (n == 1 ? v.mv_data : (void *)""), off, out, b->meta_len) == -1) {
		free(z);
		free(out);
		return -1;
	}
	free(z);
	*meta_r = out;
	*len_r = b->meta_len;
	return 0;
}

int
store_body_meta(struct store_txn *t, uint64_t body, void **meta_r,
    size_t *len_r)
{
	struct body_rec b;
	void *data;
	size_t len;
	int rc;

	*meta_r = NULL;
	*len_r = 0;
	if ((rc = body_get(t, body, &b)) != 1)
		return rc;
	body_rec_clear(&b);
	if (b.has_meta)
		return meta_read(t, body, &b, meta_r, len_r) == -1 ? -1 : 1;
	/* A body from before records existed: computed, not stored. */
	if ((rc = store_body_read(t, body, &data, &len)) != 1)
		return rc;
	imap_msg_meta_build(data, len, meta_r, len_r);
	free(data);
	return 1;
}

/* The upgrade to schema 2 ---------------------------------------------- */

/*
 * Every step is idempotent and runs in small transactions of its own:
 * a process killed half-way (or two processes upgrading at once) leaves
 * a store that the next store_open() finishes, and the version is
 * written last.  Old records need no rewrite: mbox records without
 * recent_uid/expunge_floor and version 1 body records are read as they
 * are (mailbox.c, message.c).
 */

/*
 * The transaction may run more than once (store_write() runs it again
 * after growing a full map), so it reads only what the last commit left
 * (after) and writes its own progress apart (done, more): the caller
 * moves it to after once the commit succeeded.
 */
struct up_users {
	uint32_t	after;		/* last user id committed */
	uint32_t	done;		/* last user id of this transaction */
	int		more;
};

static int
up_users_fn(struct store_txn *t, void *ctx)
{
	struct up_users *u = ctx;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[4];
	uint32_t ids[UPGRADE_USERS_PER_TXN], id;
	size_t n = 0, i;
	int rc;

	if (sdb_cursor(t, DB_USERS, &c) == -1)
		return -1;
	be32enc(key, u->after + 1);
	k.mv_size = 4;
	k.mv_data = key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    n < UPGRADE_USERS_PER_TXN;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (k.mv_size == 4)
			ids[n++] = be32dec(k.mv_data);
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "users");
	u->more = n == UPGRADE_USERS_PER_TXN;
	u->done = u->after;
	for (i = 0; i < n; i++) {
		id = ids[i];
		if (store_mailbox_create_defaults(t, id) == -1)
			return -1;
		u->done = id;
	}
	return 0;
}

struct up_bodies {
	uint64_t		 after;		/* last body id looked at */
	uint64_t		 ids[UPGRADE_BODIES_PER_TXN];
	uint8_t			 hashes[UPGRADE_BODIES_PER_TXN][32];
	struct meta_prep	 meta[UPGRADE_BODIES_PER_TXN];
	size_t			 n;
	int			 more;
	uint64_t		 done;
};

/* Read side: the next bodies without a record, their records built. */
static int
up_bodies_read(struct store_txn *t, void *ctx)
{
	struct up_bodies *u = ctx;
	struct body_rec b;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[8];
	uint64_t id;
	void *data;
	size_t len;
	int rc;

	u->n = 0;
	u->more = 0;
	if (sdb_cursor(t, DB_BODIES, &c) == -1)
		return -1;
	be64enc(key, u->after + 1);
	k.mv_size = 8;
	k.mv_data = key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (u->n == UPGRADE_BODIES_PER_TXN) {
			u->more = 1;
			break;
		}
		if (k.mv_size != 8)
			continue;
		id = be64dec(k.mv_data);
		u->after = id;
		if (body_get(t, id, &b) != 1) {
			mdb_cursor_close(c);
			return -1;
		}
		body_rec_clear(&b);
		if (b.has_meta)
			continue;
		if (store_body_read(t, id, &data, &len) != 1) {
			/* store check reports it; the upgrade goes on. */
			log_warnx("upgrade: body %" PRIu64 " unreadable: %s",
			    id, err_msg());
			continue;
		}
		rc = meta_prepare_txn(t, data, len, &u->meta[u->n]);
		free(data);
		if (rc == -1) {
			mdb_cursor_close(c);
			return -1;
		}
		u->ids[u->n] = id;
		memcpy(u->hashes[u->n], b.hash, 32);
		u->n++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "bodies");
	return 0;
}

/* Write side: attaches each record unless someone was first. */
static int
up_bodies_write(struct store_txn *t, void *ctx)
{
	struct up_bodies *u = ctx;
	struct body_rec b;
	size_t i;
	int rc;

	for (i = 0; i < u->n; i++) {
		if ((rc = body_get(t, u->ids[i], &b)) == -1)
			return -1;
		/* Gone, or the id now names another body, or done. */
		if (rc == 0 || b.has_meta ||
		    memcmp(b.hash, u->hashes[i], 32) != 0) {
			body_rec_clear(&b);
			continue;
		}
		rc = meta_write_current(t, u->ids[i], &b, &u->meta[i]) == -1 ||
		    body_put(t, u->ids[i], &b, 0) == -1 ? -1 : 0;
		body_rec_clear(&b);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* The schema version now in the store. */
static int
up_read_version(struct store_txn *t, void *ctx)
{
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_META, "version", 7, &v)) == -1)
		return -1;
	*(uint32_t *)ctx = rc == 1 && v.mv_size == 4 ? be32dec(v.mv_data) : 0;
	return 0;
}

/*
 * One upgrader at a time: every process that opens the store writable
 * upgrades it (imapd's workers all at once, smtpd, pop3d), and each
 * would build every record itself, the first to write winning.  The
 * others wait on STORE/upgrade.lock (flock: a killed upgrader lets go)
 * and then find the version written.  -1 when there is no lock to be
 * had (a read-only dir): the upgrade still runs, only not alone.
 */
static int
up_lock(struct store *st)
{
	char *path;
	int fd;

	path = xasprintf("%s/upgrade.lock", st->path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		log_warnx("%s: %s", path, strerror(errno));
	free(path);
	if (fd == -1)
		return -1;
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

static int
up_version_fn(struct store_txn *t, void *ctx)
{
	uint8_t ver[4];

	(void)ctx;
	be32enc(ver, STORE_SCHEMA_VERSION);
	return sdb_put(t, DB_META, "version", 7, ver, 4, 0) == -1 ? -1 : 0;
}

/*
 * Schema 1 -> 2: the default folders every user has, and the IMAP
 * record of every body.
 */
static int
store_upgrade_v2(struct store *st)
{
	struct up_users uu = { 0, 0, 1 };
	struct up_bodies *ub;
	size_t i;
	int rc = 0, kill_after, batches = 1;

	while (uu.more) {
		if (store_write(st, up_users_fn, &uu) == -1)
			return -1;
		uu.after = uu.done;
	}
	/*
	 * Fault injection for the tests: VELLUM_TEST_UPGRADE_KILL=N kills
	 * this process (SIGKILL) after N committed batches of bodies.
	 */
	kill_after = getenv("VELLUM_TEST_UPGRADE_KILL") != NULL ?
	    atoi(getenv("VELLUM_TEST_UPGRADE_KILL")) : -1;
	ub = xcalloc(1, sizeof(*ub));
	do {
		rc = store_read(st, up_bodies_read, ub);
		if (rc != -1 && ub->n > 0)
			rc = store_write(st, up_bodies_write, ub);
		ub->done += ub->n;
		for (i = 0; i < ub->n; i++)
			meta_prep_clear(&ub->meta[i]);
		if (kill_after >= 0 && batches++ == kill_after)
			raise(SIGKILL);
	} while (rc != -1 && ub->more);
	if (rc != -1)
		log_info("store %s: IMAP records built for %" PRIu64
		    " message bodies", st->path, ub->done);
	free(ub);
	return rc == -1 ? -1 : 0;
}

int
store_upgrade(struct store *st)
{
	uint32_t version = 0;
	int rc = 0, lock;

	lock = up_lock(st);
	if (store_read(st, up_read_version, &version) == -1) {
		if (lock != -1)
			close(lock);
		return -1;
	}
	if (version >= STORE_SCHEMA_VERSION) {
		/* Another process did it while we waited. */
		if (lock != -1)
			close(lock);
		st->schema = version;
		return 0;
	}
	log_info("store %s: upgrading from schema %u to %d", st->path,
	    version, STORE_SCHEMA_VERSION);
	/* First: what follows reads message rows. */
	if (version < 6)
		rc = msgrow_upgrade(st);
	if (rc != -1 && version < 2)
		rc = store_upgrade_v2(st);
	/* Schema 4 only adds empty tables (store_open() made them). */
	if (rc != -1 && version < 3)
		rc = maildir_upgrade(st);
	if (rc != -1 && version < 5)
		rc = user_upgrade_domains(st);
	if (rc != -1 && store_write(st, up_version_fn, NULL) == -1)
		rc = -1;
	if (rc != -1)
		st->schema = STORE_SCHEMA_VERSION;
	if (lock != -1)
		close(lock);
	return rc == -1 ? -1 : 0;
}
