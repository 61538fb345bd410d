/* dict.c - see dict.h */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zdict.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "dict.h"
#include "private.h"
#include "trim.h"

#define DICT_SAMPLE_MAX		(64 * 1024)	/* larger segments skipped */
#define DICT_SAMPLE_BYTES	(32 * 1024 * 1024)
#define DICT_STORE_LEVEL	19	/* once per training */
#define DICT_FRAME_MAGIC_BE	0x28b52ffdU	/* a zstd frame, read BE */

struct samples {
	int	 kind;
	uint8_t	*buf;
	size_t	 len, cap;
	size_t	*sizes;
	size_t	 n;
};

static void
dict_key(char *key, size_t size, int kind)
{
	snprintf(key, size, "dict_current:%d", kind);
}

int
dict_current(struct store_txn *t, int kind, uint32_t *id_r)
{
	char key[32];
	MDB_val v;
	int rc;

	dict_key(key, sizeof(key), kind);
	if ((rc = sdb_get(t, DB_META, key, strlen(key), &v)) != 1)
		return rc;
	if (v.mv_size != 4)
		return err_set(ERR_CORRUPT, "meta %s damaged", key);
	*id_r = be32dec(v.mv_data);
	return 1;
}

/*
 * A dictionary is kept compressed (a zstd frame: most of a trained
 * dictionary is sample text, ~112 KiB -> ~35 KiB); one stored by an older
 * vellum is the dictionary itself (it starts with the dictionary magic,
 * never with a frame's).
 */
int
dict_load(struct store_txn *t, uint32_t id, void **data_r, size_t *len_r)
{
	char key[32];
	MDB_val v;
	unsigned long long n;
	size_t got;
	void *out;
	int rc;

	snprintf(key, sizeof(key), "dict:%u", id);
	if ((rc = sdb_get(t, DB_META, key, strlen(key), &v)) != 1)
		return rc;
	if (v.mv_size < 4 || be32dec(v.mv_data) != DICT_FRAME_MAGIC_BE) {
		*data_r = xmemdup(v.mv_data, v.mv_size == 0 ? 1 : v.mv_size);
		*len_r = v.mv_size;
		return 1;
	}
	n = ZSTD_getFrameContentSize(v.mv_data, v.mv_size);
	if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR ||
	    n == 0 || n > 16 * STORE_DICT_SIZE)
		return err_set(ERR_CORRUPT, "meta %s damaged", key);
	out = xmalloc((size_t)n);
	pthread_mutex_lock(&t->st->dctx_mu);
	got = ZSTD_decompressDCtx(t->st->dctx, out, (size_t)n, v.mv_data,
	    v.mv_size);
	pthread_mutex_unlock(&t->st->dctx_mu);
	if (ZSTD_isError(got) || got != n) {
		free(out);
		return err_set(ERR_CORRUPT, "meta %s does not decompress", key);
	}
	*data_r = out;
	*len_r = (size_t)n;
	return 1;
}

/* Reads up to STORE_DICT_SAMPLES blobs of one kind (in hash order: a
 * random sample). */
static int
dict_collect(struct store_txn *t, void *ctx)
{
	struct samples *s = ctx;
	struct blob_rec b;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (sdb_cursor(t, DB_BLOBS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 &&
	    s->n < STORE_DICT_SAMPLES && s->len < DICT_SAMPLE_BYTES;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 32 || blob_get(t, k.mv_data, &b) != 1 ||
		    b.kind != s->kind || b.raw_len < 64 ||
		    b.raw_len > DICT_SAMPLE_MAX)
			continue;
		if (s->len + b.raw_len > s->cap) {
			s->cap = (s->len + b.raw_len) * 2;
			s->buf = xreallocarray(s->buf, s->cap, 1);
		}
		if (blob_read(t, k.mv_data, s->buf + s->len, b.raw_len,
		    0) == -1)
			continue;
		s->sizes = xreallocarray(s->sizes, s->n + 1, sizeof(size_t));
		s->sizes[s->n++] = b.raw_len;
		s->len += b.raw_len;
	}
	mdb_cursor_close(c);
	return 0;
}

/*
 * Reads up to STORE_DICT_SAMPLES IMAP records, spread over the bodies
 * (they are in delivery order).
 */
static int
dict_collect_imap(struct store_txn *t, void *ctx)
{
	struct samples *s = ctx;
	struct body_rec b;
	MDB_cursor *c;
	MDB_stat ms;
	MDB_val k, v;
	size_t step, i = 0, len;
	void *meta;
	int rc;

	if ((rc = mdb_stat(t->txn, t->st->dbi[DB_BODIES], &ms)) != 0)
		return sdb_error(t, rc, "stat bodies");
	step = ms.ms_entries / STORE_DICT_SAMPLES + 1;
	if (sdb_cursor(t, DB_BODIES, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 &&
	    s->n < STORE_DICT_SAMPLES && s->len < DICT_SAMPLE_BYTES;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (i++ % step != 0 || k.mv_size != 8 ||
		    body_get(t, be64dec(k.mv_data), &b) != 1)
			continue;
		body_rec_clear(&b);
		if (!b.has_meta || b.meta_len < 64 ||
		    b.meta_len > DICT_SAMPLE_MAX ||
		    meta_read(t, be64dec(k.mv_data), &b, &meta, &len) == -1)
			continue;
		if (s->len + len > s->cap) {
			s->cap = (s->len + len) * 2;
			s->buf = xreallocarray(s->buf, s->cap, 1);
		}
		memcpy(s->buf + s->len, meta, len);
		free(meta);
		s->sizes = xreallocarray(s->sizes, s->n + 1, sizeof(size_t));
		s->sizes[s->n++] = len;
		s->len += len;
	}
	mdb_cursor_close(c);
	return 0;
}

struct dict_new {
	int		 kind;
	const void	*data;
	size_t		 len;
	void		*z;	/* compressed (dict_load()) */
	size_t		 zlen;
	uint32_t	 id;
};

static int
dict_save(struct store_txn *t, void *ctx)
{
	struct dict_new *d = ctx;
	uint64_t id;
	uint8_t b[4];
	char key[32], cur[32];

	if (sdb_counter_add(t, "next_dict", 1, &id) == -1)
		return -1;
	d->id = (uint32_t)id;
	snprintf(key, sizeof(key), "dict:%u", d->id);
	dict_key(cur, sizeof(cur), d->kind);
	be32enc(b, d->id);
	if (sdb_put(t, DB_META, key, strlen(key), d->z, d->zlen, 0) == -1 ||
	    sdb_put(t, DB_META, cur, strlen(cur), b, 4, 0) == -1)
		return -1;
	return 0;
}

/* Trains and saves the dictionary of one kind: 1, or 0 too few samples. */
static int
dict_train_kind(struct store *st, int kind, uint32_t *id_r)
{
	struct samples s = { 0 };
	struct dict_new d = { 0 };
	void *dict;
	size_t n;
	int rc = 0;

	s.kind = kind;
	if (store_read(st, kind == DICT_IMAP ? dict_collect_imap :
	    dict_collect, &s) == -1)
		goto out;
	if (s.n < 100)
		goto out;
	dict = xmalloc(STORE_DICT_SIZE);
	n = ZDICT_trainFromBuffer(dict, STORE_DICT_SIZE, s.buf, s.sizes,
	    (unsigned)s.n);
	if (ZDICT_isError(n)) {
		log_warnx("zstd dictionary training failed: %s",
		    ZDICT_getErrorName(n));
		free(dict);
		goto out;
	}
	d.kind = kind;
	d.data = dict;
	d.len = n;
	/* Checksummed: a damaged dictionary is an error, not bad data. */
	d.z = xmalloc(ZSTD_compressBound(n));
	pthread_mutex_lock(&st->cctx_mu);
	ZSTD_CCtx_reset(st->cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(st->cctx, ZSTD_c_compressionLevel,
	    DICT_STORE_LEVEL);
	ZSTD_CCtx_setParameter(st->cctx, ZSTD_c_checksumFlag, 1);
	d.zlen = ZSTD_compress2(st->cctx, d.z, ZSTD_compressBound(n), dict, n);
	pthread_mutex_unlock(&st->cctx_mu);
	if (ZSTD_isError(d.zlen))
		fatalx("zstd: cannot compress a dictionary: %s",
		    ZSTD_getErrorName(d.zlen));
	rc = store_write(st, dict_save, &d) == -1 ? -1 : 1;
	*id_r = d.id;
	free(d.z);
	free(dict);
	if (rc == 1)
		log_info("trained zstd dictionary %u (%zu bytes, %zu stored) "
		    "from %zu samples", d.id, n, d.zlen, s.n);
out:
	free(s.buf);
	free(s.sizes);
	return rc;
}


/* Optimize ------------------------------------------------------------ */

#define OPT_LOCK		"optimize.lock"
#define OPT_SCAN_CHUNK		4096	/* blob records per read snapshot */
#define OPT_BATCH		STORE_DICT_OPT_BATCH
#define OPT_BATCH_BYTES		(4 * 1024 * 1024)	/* raw, per batch */
#define META_TRAINED		"dict_trained_blobs"
#define META_CLEAN		"dict_clean"

/* A segment to compress again, found by the scan. */
struct opt_seg {
	uint64_t	first_frag;
	uint8_t		hash[32];
};

/* Dictionaries in use by the segments that keep them. */
struct opt_use {
	uint32_t	id;
	uint64_t	n;
};

struct opt {
	struct store		*st;
	struct store_optimize	*o;
	uint32_t		 cur[DICT_KINDS];
	int			 clean;	/* the last pass ran with cur */
	uint64_t		 bodies, blobs, trained_blobs;
	/* scan */
	uint8_t			 last[32];
	int			 started, done;
	struct opt_seg		*segs;
	size_t			 nsegs, cap;
	struct opt_use		*use;
	size_t			 nuse;
	/* one batch: compressed in a snapshot, written in a transaction */
	size_t			 first, count;
	struct opt_new {
		void		*z;
		size_t		 zlen;
		uint8_t		 codec;
		uint32_t	 dict_id;
		struct blob_rec	 old;	/* as it was when compressed */
		int		 ok, replaced;
	}			*nw;
	size_t			 written;
	uint64_t		 before, after;
};

static void
opt_use_add(struct opt *op, uint32_t id)
{
	size_t i;

	if (id == 0)
		return;
	for (i = 0; i < op->nuse; i++)
		if (op->use[i].id == id) {
			op->use[i].n++;
			return;
		}
	op->use = xreallocarray(op->use, op->nuse + 1, sizeof(*op->use));
	op->use[op->nuse].id = id;
	op->use[op->nuse++].n = 1;
}

static int
opt_is_current(const struct opt *op, uint32_t id)
{
	int k;

	for (k = 0; k < DICT_KINDS; k++)
		if (op->cur[k] == id)
			return 1;
	return 0;
}

/*
 * Whether a segment is to be compressed again: it is long enough to be
 * compressed at all and was not compressed (or found incompressible, a
 * raw segment then records the dictionary it was tried with) with the
 * current dictionary of its kind.
 */
static int
opt_stale(const struct opt *op, const struct blob_rec *b)
{
	if (b->kind >= DICT_KINDS || op->cur[b->kind] == 0)
		return 0;
	/* An older record is rewritten in the current version too. */
	return blob_dict_stale(b->raw_len, b->dict_id, op->cur[b->kind]) ||
	    b->version < BLOB_REC_CUR;
}

static int
opt_u64(struct store_txn *t, const char *key, uint64_t *v_r)
{
	MDB_val v;
	int rc;

	*v_r = 0;
	if ((rc = sdb_get(t, DB_META, key, strlen(key), &v)) != 1)
		return rc;
	if (v.mv_size != 8)
		return err_set(ERR_CORRUPT, "meta %s damaged", key);
	*v_r = be64dec(v.mv_data);
	return 1;
}

/* The state that decides whether optimize has work. */
static int
opt_state(struct store_txn *t, void *ctx)
{
	struct opt *op = ctx;
	uint8_t want[4 * DICT_KINDS];
	MDB_stat ms;
	MDB_val v;
	int k, rc;

	for (k = 0; k < DICT_KINDS; k++) {
		op->cur[k] = 0;
		if (dict_current(t, k, &op->cur[k]) == -1)
			return -1;
		be32enc(want + 4 * k, op->cur[k]);
	}
	if ((rc = mdb_stat(t->txn, t->st->dbi[DB_BODIES], &ms)) != 0)
		return sdb_error(t, rc, "stat bodies");
	op->bodies = ms.ms_entries;
	if ((rc = mdb_stat(t->txn, t->st->dbi[DB_BLOBS], &ms)) != 0)
		return sdb_error(t, rc, "stat blobs");
	op->blobs = ms.ms_entries;
	if (opt_u64(t, META_TRAINED, &op->trained_blobs) == -1)
		return -1;
	if ((rc = sdb_get(t, DB_META, META_CLEAN, strlen(META_CLEAN),
	    &v)) == -1)
		return -1;
	op->clean = rc == 1 && v.mv_size == sizeof(want) &&
	    memcmp(v.mv_data, want, sizeof(want)) == 0;
	return 0;
}

#define OPT_ALL_KINDS	((1u << DICT_KINDS) - 1)

/*
 * The kinds whose training is due (a bit each): all when there are none
 * yet and enough mail, or when the mail doubled; the IMAP one alone for
 * a store trained before it existed.
 */
static unsigned
opt_train_due(const struct opt *op)
{
	if (op->cur[DICT_HEADER] == 0 && op->cur[DICT_BODY] == 0)
		return op->bodies >= STORE_DICT_TRAIN_AFTER ? OPT_ALL_KINDS :
		    0;
	if (op->trained_blobs > 0 &&
	    op->trained_blobs < STORE_DICT_RETRAIN_UNTIL &&
	    op->blobs >= 2 * op->trained_blobs)
		return OPT_ALL_KINDS;
	if (op->cur[DICT_IMAP] == 0 && !op->st->no_imap &&
	    op->bodies >= STORE_DICT_TRAIN_AFTER)
		return 1u << DICT_IMAP;
	return 0;
}

static int
opt_any_dict(const struct opt *op)
{
	int k;

	for (k = 0; k < DICT_KINDS; k++)
		if (op->cur[k] != 0)
			return 1;
	return 0;
}

int
store_dict_due(struct store *st)
{
	struct opt op = { 0 };

	op.st = st;
	if (store_read(st, opt_state, &op) == -1)
		return -1;
	return opt_train_due(&op) != 0 || (!op.clean && opt_any_dict(&op));
}

static int
opt_save_trained(struct store_txn *t, void *ctx)
{
	struct opt *op = ctx;
	uint8_t b[8];

	be64enc(b, op->blobs);
	return sdb_put(t, DB_META, META_TRAINED, strlen(META_TRAINED), b, 8,
	    0) == -1 ? -1 : 0;
}

/* Lists the stale segments, OPT_SCAN_CHUNK records per snapshot. */
static int
opt_scan(struct store_txn *t, void *ctx)
{
	struct opt *op = ctx;
	struct blob_rec b;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	if (sdb_cursor(t, DB_BLOBS, &c) == -1)
		return -1;
	k.mv_size = 32;
	k.mv_data = op->last;
	rc = op->started ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) :
	    mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && op->started && k.mv_size == 32 &&
	    memcmp(k.mv_data, op->last, 32) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	for (; rc == 0 && n < OPT_SCAN_CHUNK;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
		if (k.mv_size != 32)
			continue;
		memcpy(op->last, k.mv_data, 32);
		if (blob_get(t, k.mv_data, &b) != 1)
			continue;
		op->o->segments++;
		if (!opt_stale(op, &b)) {
			if (b.codec == BLOB_CODEC_ZSTD)
				opt_use_add(op, b.dict_id);
			continue;
		}
		if (op->nsegs == op->cap) {
			op->cap = op->cap == 0 ? 1024 : op->cap * 2;
			op->segs = xreallocarray(op->segs, op->cap,
			    sizeof(*op->segs));
		}
		op->segs[op->nsegs].first_frag = b.first_frag;
		memcpy(op->segs[op->nsegs++].hash, k.mv_data, 32);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "scan blobs");
	op->started = 1;
	op->done = rc == MDB_NOTFOUND;
	return 0;
}

static int
opt_seg_cmp(const void *a, const void *b)
{
	const struct opt_seg *x = a, *y = b;

	return x->first_frag < y->first_frag ? -1 :
	    x->first_frag > y->first_frag;
}

static int
blob_rec_same(const struct blob_rec *a, const struct blob_rec *b)
{
	return a->codec == b->codec && a->dict_id == b->dict_id &&
	    a->stored_len == b->stored_len && a->first_frag == b->first_frag &&
	    a->nfrags == b->nfrags;
}

/*
 * Compresses one batch again with the current dictionaries, in a
 * snapshot: the write transaction that follows only moves bytes.
 */
static int
opt_compress(struct store_txn *t, void *ctx)
{
	struct opt *op = ctx;
	struct opt_new *nw;
	size_t i, bytes = 0;
	void *raw;

	for (i = 0; i < op->count; i++)
		free(op->nw[i].z);
	memset(op->nw, 0, OPT_BATCH * sizeof(*op->nw));
	for (i = 0; i < OPT_BATCH && op->first + i < op->nsegs &&
	    bytes < OPT_BATCH_BYTES; i++) {
		nw = &op->nw[i];
		if (blob_get(t, op->segs[op->first + i].hash, &nw->old) != 1 ||
		    !opt_stale(op, &nw->old))
			continue;
		raw = xmalloc(nw->old.raw_len);
		if (blob_read(t, op->segs[op->first + i].hash, raw,
		    nw->old.raw_len, 0) == -1) {
			log_warnx("store optimize: a segment cannot be read: "
			    "%s", err_msg());
			free(raw);
			continue;
		}
		if (blob_compress_level(t->st, t, nw->old.kind,
		    STORE_ZSTD_COLD_LEVEL, raw, nw->old.raw_len, &nw->z,
		    &nw->zlen, &nw->codec, &nw->dict_id) == -1) {
			free(raw);
			return -1;
		}
		free(raw);
		bytes += nw->old.raw_len;
		nw->ok = 1;
	}
	op->count = i;
	return 0;
}

/*
 * Replaces the segments of a batch that did not change since they were
 * compressed; their old fragments are freed, the new ones appended (into
 * pages the batches before freed).  May run twice (store_write()).
 */
static int
opt_write(struct store_txn *t, void *ctx)
{
	struct opt *op = ctx;
	struct opt_new *nw;
	struct blob_rec b;
	const uint8_t *hash;
	uint8_t fk[8];
	uint32_t cur, j;
	size_t i;
	int rc;

	op->written = 0;
	op->before = op->after = 0;
	for (i = 0; i < op->count; i++) {
		nw = &op->nw[i];
		hash = op->segs[op->first + i].hash;
		nw->replaced = 0;
		if (!nw->ok)
			continue;
		if ((rc = blob_get(t, hash, &b)) == -1)
			return -1;
		if (rc == 0 || !blob_rec_same(&b, &nw->old))
			continue;	/* deleted or stored anew since */
		cur = 0;
		if (dict_current(t, b.kind, &cur) == -1)
			return -1;
		if (blob_dict_stale(b.raw_len, nw->dict_id, cur))
			continue;	/* trained again meanwhile */
		/*
		 * Replaced even when the new frame is a little larger (rare):
		 * an old dictionary kept for a few segments would cost more.
		 */
		for (j = 0; j < b.nfrags; j++) {
			be64enc(fk, b.first_frag + j);
			if (sdb_del(t, DB_BLOBDATA, fk, 8) == -1)
				return -1;
		}
		op->before += b.stored_len;
		b.codec = nw->codec;
		b.dict_id = nw->dict_id;
		if (blob_write_data(t, &b, nw->z, nw->zlen) == -1 ||
		    blob_put_rec(t, hash, &b) == -1)
			return -1;
		op->after += b.stored_len;
		op->written++;
		nw->replaced = 1;
	}
	return 0;
}

/* IMAP records -------------------------------------------------------- */

/* A record to compress again, found by the scan. */
struct opt_rec {
	uint64_t	meta_id;
	uint64_t	body;
};

struct opt_meta {
	struct opt		*op;
	struct opt_rec		*recs;
	size_t			 n, cap;
	uint64_t		 after;	/* scan: last body id looked at */
	int			 done;
	size_t			 first, count;
	struct opt_meta_new {
		struct body_rec		old;	/* as it was */
		struct meta_prep	m;
		int			ok, replaced;
	}			 nw[OPT_BATCH];
	size_t			 written;
	uint64_t		 before, after_bytes;
};

/*
 * A record to compress again: its dictionary is not the current one, or
 * its body record is of an older version (rewritten in the current one).
 */
static int
opt_meta_stale(const struct opt *op, const struct body_rec *b)
{
	return b->has_meta && op->cur[DICT_IMAP] != 0 &&
	    (meta_stale(b->meta_dict, op->cur[DICT_IMAP]) ||
	    b->version < BODY_REC_V4);
}

/* Lists the stale records, OPT_SCAN_CHUNK bodies per snapshot. */
static int
opt_meta_scan(struct store_txn *t, void *ctx)
{
	struct opt_meta *om = ctx;
	struct opt *op = om->op;
	struct body_rec b;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[8];
	size_t n = 0;
	int rc;

	if (sdb_cursor(t, DB_BODIES, &c) == -1)
		return -1;
	be64enc(key, om->after + 1);
	k.mv_size = 8;
	k.mv_data = key;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    n < OPT_SCAN_CHUNK; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT),
	    n++) {
		if (k.mv_size != 8)
			continue;
		om->after = be64dec(k.mv_data);
		if (body_get(t, om->after, &b) != 1)
			continue;
		body_rec_clear(&b);
		if (!opt_meta_stale(op, &b)) {
			if (b.has_meta && b.meta_codec == BLOB_CODEC_ZSTD)
				opt_use_add(op, b.meta_dict);
			continue;
		}
		if (om->n == om->cap) {
			om->cap = om->cap == 0 ? 1024 : om->cap * 2;
			om->recs = xreallocarray(om->recs, om->cap,
			    sizeof(*om->recs));
		}
		om->recs[om->n].meta_id = b.meta_id;
		om->recs[om->n++].body = om->after;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "scan bodies");
	om->done = rc == MDB_NOTFOUND;
	return 0;
}

static int
opt_rec_cmp(const void *a, const void *b)
{
	const struct opt_rec *x = a, *y = b;

	return x->meta_id < y->meta_id ? -1 : x->meta_id > y->meta_id;
}

static void
opt_meta_clear(struct opt_meta *om)
{
	size_t i;

	for (i = 0; i < OPT_BATCH; i++) {
		meta_prep_clear(&om->nw[i].m);
		body_rec_clear(&om->nw[i].old);
	}
	memset(om->nw, 0, sizeof(om->nw));
}

/* Compresses one batch of records again, in a snapshot. */
static int
opt_meta_compress(struct store_txn *t, void *ctx)
{
	struct opt_meta *om = ctx;
	struct opt_meta_new *nw;
	struct meta_prep old;
	uint64_t body;
	size_t i, bytes = 0;
	void *raw;
	size_t len;
	int rc;

	opt_meta_clear(om);
	for (i = 0; i < OPT_BATCH && om->first + i < om->n &&
	    bytes < OPT_BATCH_BYTES; i++) {
		nw = &om->nw[i];
		body = om->recs[om->first + i].body;
		if (body_get(t, body, &nw->old) != 1)
			continue;
		body_rec_clear(&nw->old);
		if (!opt_meta_stale(om->op, &nw->old))
			continue;
		if (meta_read(t, body, &nw->old, &raw, &len) == -1) {
			log_warnx("store optimize: the IMAP record of body "
			    "%llu cannot be read: %s",
			    (unsigned long long)body, err_msg());
			continue;
		}
		/* As a record prepared with the old dictionary. */
		memset(&old, 0, sizeof(old));
		old.z = raw;
		old.zlen = len;
		old.len = (uint32_t)len;
		old.codec = BLOB_CODEC_RAW;
		old.dict_id = nw->old.meta_dict;
		rc = nw->old.version < BODY_REC_V4 ?
		    meta_prep_again(t, &old, &nw->m, 1) :
		    meta_prep_current(t, &old, &nw->m, 1);
		free(raw);
		if (rc == -1)
			return -1;
		bytes += len;
		nw->ok = rc == 1;
	}
	om->count = i;
	return 0;
}

/*
 * Replaces the records of a batch whose bodies did not change since:
 * the old pieces are freed, the new ones appended.  May run twice.
 */
static int
opt_meta_write(struct store_txn *t, void *ctx)
{
	struct opt_meta *om = ctx;
	struct opt_meta_new *nw;
	struct body_rec b;
	uint64_t body;
	uint32_t cur;
	size_t i;
	int rc;

	om->written = 0;
	om->before = om->after_bytes = 0;
	for (i = 0; i < om->count; i++) {
		nw = &om->nw[i];
		nw->replaced = 0;
		if (!nw->ok)
			continue;
		body = om->recs[om->first + i].body;
		if ((rc = body_get(t, body, &b)) == -1)
			return -1;
		if (rc == 0 || !b.has_meta || b.meta_id != nw->old.meta_id ||
		    b.meta_dict != nw->old.meta_dict ||
		    b.meta_stored != nw->old.meta_stored ||
		    memcmp(b.hash, nw->old.hash, 32) != 0) {
			body_rec_clear(&b);
			continue;	/* deleted or changed since */
		}
		cur = 0;
		if (dict_current(t, DICT_IMAP, &cur) == -1) {
			body_rec_clear(&b);
			return -1;
		}
		if (nw->m.dict_id != cur) {
			body_rec_clear(&b);
			continue;	/* trained again meanwhile */
		}
		om->before += b.meta_stored;
		/* An older store's hash index entry moves to a short key. */
		rc = meta_delete(t, body, &b) == -1 ||
		    meta_write(t, body, &b, &nw->m) == -1 ||
		    body_put(t, body, &b, 0) == -1 ||
		    bodyhash_rekey(t, b.hash, body) == -1 ? -1 : 0;
		om->after_bytes += b.meta_stored;
		body_rec_clear(&b);
		if (rc == -1)
			return -1;
		om->written++;
		nw->replaced = 1;
	}
	return 0;
}

/*
 * Compresses again the IMAP records that do not use the current IMAP
 * dictionary, in record id order, OPT_BATCH per short transaction: as
 * for segments, each batch frees whole pages and the next ones append
 * into them.
 */
static int
opt_meta_pass(struct opt *op)
{
	struct store_optimize *o = op->o;
	struct opt_meta *om;
	size_t k;
	int rc = -1;

	om = xcalloc(1, sizeof(*om));
	om->op = op;
	while (!om->done)
		if (store_read(op->st, opt_meta_scan, om) == -1)
			goto out;
	if (om->n > 0)
		qsort(om->recs, om->n, sizeof(*om->recs), opt_rec_cmp);
	for (om->first = 0; om->first < om->n; om->first += om->count) {
		if (store_read(op->st, opt_meta_compress, om) == -1 ||
		    store_write(op->st, opt_meta_write, om) == -1)
			goto out;
		o->records += om->written;
		o->bytes_before += om->before;
		o->bytes_after += om->after_bytes;
		o->batches++;
		for (k = 0; k < om->count; k++)
			if (om->nw[k].old.has_meta && !om->nw[k].replaced &&
			    om->nw[k].old.meta_codec == BLOB_CODEC_ZSTD)
				opt_use_add(op, om->nw[k].old.meta_dict);
	}
	rc = 0;
out:
	opt_meta_clear(om);
	free(om->recs);
	free(om);
	return rc;
}

/*
 * Deletes the dictionaries that are not current and that no segment
 * uses any more, and notes that a pass ran with the current ones.
 */
static int
opt_finish(struct store_txn *t, void *ctx)
{
	struct opt *op = ctx;
	uint8_t want[4 * DICT_KINDS];
	char key[32];
	MDB_cursor *c;
	MDB_val k, v;
	uint32_t *dead = NULL, id;
	size_t ndead = 0, i;
	int k2, rc;

	for (k2 = 0; k2 < DICT_KINDS; k2++) {
		uint32_t now = 0;

		if (dict_current(t, k2, &now) == -1)
			return -1;
		if (now != op->cur[k2])
			return 0;	/* trained again meanwhile */
		be32enc(want + 4 * k2, now);
	}
	if (sdb_cursor(t, DB_META, &c) == -1)
		return -1;
	k.mv_data = "dict:";
	k.mv_size = 5;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    k.mv_size > 5 && memcmp(k.mv_data, "dict:", 5) == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size >= sizeof(key))
			continue;
		memcpy(key, k.mv_data, k.mv_size);
		key[k.mv_size] = '\0';
		if (sscanf(key + 5, "%u", &id) != 1 || opt_is_current(op, id))
			continue;
		for (i = 0; i < op->nuse; i++)
			if (op->use[i].id == id && op->use[i].n > 0)
				break;
		if (i < op->nuse)
			continue;
		dead = xreallocarray(dead, ndead + 1, sizeof(*dead));
		dead[ndead++] = id;
	}
	mdb_cursor_close(c);
	op->o->dicts_deleted = 0;
	for (i = 0; i < ndead; i++) {
		snprintf(key, sizeof(key), "dict:%u", dead[i]);
		if (sdb_del(t, DB_META, key, strlen(key)) == -1) {
			free(dead);
			return -1;
		}
		op->o->dicts_deleted++;
	}
	free(dead);
	/*
	 * A store trained before the count was kept (an older vellum)
	 * counts from here, so that it is trained again as it grows.
	 */
	if (op->trained_blobs == 0 && opt_save_trained(t, op) == -1)
		return -1;
	return sdb_put(t, DB_META, META_CLEAN, strlen(META_CLEAN), want,
	    sizeof(want), 0) == -1 ? -1 : 0;
}

/* One optimize at a time (flock: a killed one lets go).  -1 busy. */
static int
opt_lock(struct store *st, int *fd_r)
{
	char *path;
	int fd;

	path = xasprintf("%s/%s", st->path, OPT_LOCK);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		err_set(ERR_TEMP, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return err_set(ERR_INUSE, "another store optimize "
			    "is running");
		return err_set(ERR_TEMP, "optimize lock: %s",
		    strerror(errno));
	}
	*fd_r = fd;
	return 0;
}

static int
opt_run(struct opt *op)
{
	struct store_optimize *o = op->o;
	unsigned due;
	int k, rc;

	if (store_read(op->st, opt_state, op) == -1)
		return -1;
	due = o->retrain ? OPT_ALL_KINDS : opt_train_due(op);
	if (due != 0) {
		for (k = 0; k < DICT_KINDS; k++) {
			if (!(due & (1u << k)))
				continue;
			if ((rc = dict_train_kind(op->st, k, &o->dict_ids[k]))
			    == -1)
				return -1;
			o->trained += rc;
		}
		if (o->trained > 0 && (store_write(op->st, opt_save_trained,
		    op) == -1 || store_read(op->st, opt_state, op) == -1))
			return -1;
	}
	for (k = 0; k < DICT_KINDS; k++)
		o->dict_ids[k] = op->cur[k];
	if (o->train_only || (op->clean && o->trained == 0) ||
	    !opt_any_dict(op))
		return 0;
	while (!op->done)
		if (store_read(op->st, opt_scan, op) == -1)
			return -1;
	/* In fragment order: each batch frees whole pages. */
	if (op->nsegs > 0)
		qsort(op->segs, op->nsegs, sizeof(*op->segs), opt_seg_cmp);
	op->nw = xcalloc(OPT_BATCH, sizeof(*op->nw));
	for (op->first = 0; op->first < op->nsegs; op->first += op->count) {
		if (store_read(op->st, opt_compress, op) == -1 ||
		    store_write(op->st, opt_write, op) == -1)
			return -1;
		o->recompressed += op->written;
		o->bytes_before += op->before;
		o->bytes_after += op->after;
		o->batches++;
		for (k = 0; k < (int)op->count; k++) {
			struct opt_new *nw = &op->nw[k];

			/* Not replaced: the old dictionary stays in use. */
			if (nw->old.codec == BLOB_CODEC_ZSTD && !nw->replaced)
				opt_use_add(op, nw->old.dict_id);
		}
	}
	if (!op->st->no_imap && opt_meta_pass(op) == -1)
		return -1;
	return store_write(op->st, opt_finish, op) == -1 ? -1 : 0;
}

int
store_dict_optimize(struct store *st, struct store_optimize *o)
{
	struct store_trim tr;
	struct opt op = { 0 };
	size_t i;
	int fd = -1, rc;

	o->trained = 0;
	o->segments = o->recompressed = o->batches = o->records = 0;
	o->bytes_before = o->bytes_after = 0;
	o->dicts_deleted = 0;
	memset(o->dict_ids, 0, sizeof(o->dict_ids));
	if (st->flags & STORE_RDONLY)
		return err_set(ERR_PERM, "store opened read-only");
	if (st->batch != NULL)
		return err_set(ERR_INVALID, "store optimize inside a batch");
	if (opt_lock(st, &fd) == -1)
		return -1;
	op.st = st;
	op.o = o;
	/* It reads every segment in storage order: a scan. */
	store_read_ahead(st, 1);
	rc = opt_run(&op);
	store_read_ahead(st, 0);
	if (op.nw != NULL)
		for (i = 0; i < op.count; i++)
			free(op.nw[i].z);
	free(op.nw);
	free(op.segs);
	free(op.use);
	close(fd);
	if (rc == 0 && (o->trained > 0 || o->recompressed > 0 ||
	    o->records > 0))
		log_info("store optimize: %d new dictionar%s, %zu of %zu "
		    "segments and %zu IMAP records compressed again (%llu -> "
		    "%llu bytes) in %zu transactions, %zu old dictionar%s "
		    "deleted", o->trained, o->trained == 1 ? "y" : "ies",
		    o->recompressed, o->segments, o->records,
		    (unsigned long long)o->bytes_before,
		    (unsigned long long)o->bytes_after, o->batches,
		    o->dicts_deleted, o->dicts_deleted == 1 ? "y" : "ies");
	/* What the passes freed goes back to the file system. */
	if (rc == 0 && (o->recompressed > 0 || o->records > 0) &&
	    store_trim(st, &tr) == -1)
		log_warnx("store optimize: trim: %s", err_msg());
	return rc;
}
