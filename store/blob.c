/*
 * blob.c - content-addressed, compressed, reference-counted segments.
 *
 * `blobs` maps SHA-256(raw bytes) to a small record; the compressed bytes
 * live in `blobdata` as fragments of at most BLOB_FRAG_MAX bytes under
 * increasing ids.  Fragments that small stay inside leaf pages (no
 * overflow pages, which LMDB's free list handles badly), and appending
 * them under increasing keys (MDB_APPEND) fills every page completely.
 * Segments are compressed with the zstd dictionary of their kind trained
 * on the store's own mail once there is one (dict.h).  A raw segment (one
 * that does not compress) records in dict_id the dictionary it was tried
 * with, so that store_dict_optimize() does not try it again.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zdict.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "check.h"
#include "dict.h"
#include "message.h"
#include "private.h"

#define BLOB_RAW_BELOW		64	/* not worth compressing */

/*
 * A loaded dictionary.  The compression side is made on first use at the
 * level asked for: two of them, for delivery's level and store
 * optimize's (an import alternates between the two).
 */
#define DICT_CLEVELS	2
struct store_dict {
	uint32_t		 id;
	void			*data;
	size_t			 len;
	ZSTD_CDict		*cdict[DICT_CLEVELS];
	int			 clevel[DICT_CLEVELS];
	int			 cnext;		/* the slot to replace */
	ZSTD_DDict		*ddict;
	struct store_dict	*next;
};

static struct store_dict *blob_dict(struct store_txn *, uint32_t);

struct damage {
	uint32_t	mailbox_id, uid;
};

/* Flips a byte inside the largest segment of a message (tests only). */
static int
blob_damage_txn(struct store_txn *t, void *ctx)
{
	struct damage *d = ctx;
	struct store_msg m;
	struct body_rec b;
	struct blob_rec bl;
	uint8_t key[8], *copy;
	MDB_val v;
	size_t i, big = 0;
	int rc;

	if ((rc = store_msg_get(t, d->mailbox_id, d->uid, &m)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no message");
	if (body_get(t, m.body, &b) != 1 || b.nsegs == 0)
		return err_set(ERR_CORRUPT, "no body");
	for (i = 1; i < b.nsegs; i++)
		if (b.segs[i].len > b.segs[big].len)
			big = i;
	rc = blob_get(t, b.segs[big].hash, &bl);
	body_rec_clear(&b);
	if (rc != 1 || bl.nfrags == 0)
		return err_set(ERR_CORRUPT, "no blob data");
	be64enc(key, bl.first_frag);
	if (sdb_get(t, DB_BLOBDATA, key, 8, &v) != 1)
		return err_set(ERR_CORRUPT, "no fragment");
	copy = xmemdup(v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x5a;
	rc = sdb_put(t, DB_BLOBDATA, key, 8, copy, v.mv_size, 0);
	free(copy);
	return rc == -1 ? -1 : 1;
}

void
blob_sha256(const void *data, size_t len, uint8_t *out)
{
	unsigned int n = 32;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		fatalx("SHA-256 failed");
}

static void
blob_key(uint8_t *key, uint64_t frag)
{
	be64enc(key, frag);
}


/* Fragments of BLOB_FRAG_MAX bytes (the last one shorter) for len. */
static uint64_t
blob_nfrags(uint64_t len)
{
	return (len + BLOB_FRAG_MAX - 1) / BLOB_FRAG_MAX;
}

int
blob_get(struct store_txn *t, const uint8_t *hash, struct blob_rec *r)
{
	struct unpack u;
	MDB_val v;
	uint64_t x;
	uint8_t version;
	int rc;

	if ((rc = sdb_get(t, DB_BLOBS, hash, 32, &v)) != 1)
		return rc;
	version = unpack_init_version(&u, &v);
	r->version = version;
	if (version == BLOB_REC_V2 || version == BLOB_REC_V3) {
		x = unpack_uv(&u);
		r->refcount = (uint32_t)x;
		if (x > UINT32_MAX)
			u.bad = 1;
		r->raw_len = unpack_uv(&u);
		x = unpack_u8(&u);	/* codec << 4 | kind */
		r->codec = (uint8_t)(x >> 4);
		r->kind = (uint8_t)(x & 0x0f);
		x = unpack_uv(&u);
		r->dict_id = (uint32_t)x;
		if (x > UINT32_MAX)
			u.bad = 1;
		r->stored_len = unpack_uv(&u);
		r->first_frag = unpack_uv(&u);
		x = version == BLOB_REC_V3 ? blob_nfrags(r->stored_len) :
		    unpack_uv(&u);
		r->nfrags = (uint32_t)x;
		if (x > UINT32_MAX)
			u.bad = 1;
	} else {
		if (version != BLOB_REC_V1)
			u.bad = 1;
		r->refcount = unpack_u32(&u);
		r->raw_len = unpack_u64(&u);
		r->codec = unpack_u8(&u);
		r->dict_id = unpack_u32(&u);
		r->stored_len = unpack_u64(&u);
		r->first_frag = unpack_u64(&u);
		r->nfrags = unpack_u32(&u);
		r->kind = unpack_u8(&u);
	}
	if (unpack_done(&u, "blob") == -1)
		return -1;
	return 1;
}

int
blob_put_rec(struct store_txn *t, const uint8_t *hash,
    const struct blob_rec *b)
{
	struct pack p;
	int rc;

	if (b->codec > 15 || b->kind > 15)
		fatalx("blob_put_rec: codec %u, kind %u", b->codec, b->kind);
	if (b->nfrags != blob_nfrags(b->stored_len))
		fatalx("blob_put_rec: %u fragments for %llu bytes", b->nfrags,
		    (unsigned long long)b->stored_len);
	pack_init_version(&p, BLOB_REC_CUR);
	pack_uv(&p, b->refcount);
	pack_uv(&p, b->raw_len);
	pack_u8(&p, (uint8_t)(b->codec << 4 | b->kind));
	pack_uv(&p, b->dict_id);
	pack_uv(&p, b->stored_len);
	pack_uv(&p, b->first_frag);
	rc = sdb_put(t, DB_BLOBS, hash, 32, p.buf, p.len, 0);
	pack_free(&p);
	return rc == -1 ? -1 : 0;
}

int
blob_write_data(struct store_txn *t, struct blob_rec *b, const void *data,
    size_t len)
{
	const uint8_t *p = data;
	uint8_t key[8];
	uint64_t first, i, n;
	size_t chunk;

	n = blob_nfrags(len);
	b->nfrags = (uint32_t)n;
	b->stored_len = len;
	b->first_frag = 0;
	if (n == 0)
		return 0;
	if (sdb_next_id(t, DB_BLOBDATA, &first) == -1)
		return -1;
	b->first_frag = first;
	for (i = 0; i < n; i++) {
		chunk = len - i * BLOB_FRAG_MAX;
		if (chunk > BLOB_FRAG_MAX)
			chunk = BLOB_FRAG_MAX;
		blob_key(key, first + i);
		if (sdb_put(t, DB_BLOBDATA, key, 8, p + i * BLOB_FRAG_MAX,
		    chunk, MDB_APPEND) != 1)
			return err_class() == ERR_NONE ? err_set(ERR_CORRUPT,
			    "blob fragment %llu already exists",
			    (unsigned long long)(first + i)) : -1;
	}
	return 0;
}

int
blob_unref(struct store_txn *t, const uint8_t *hash)
{
	struct blob_rec b;
	uint8_t key[8];
	uint32_t i;
	int rc;

	if ((rc = blob_get(t, hash, &b)) == -1)
		return -1;
	if (rc == 0)
		return err_set(ERR_CORRUPT, "a body refers to a missing blob");
	if (b.refcount > 1) {
		b.refcount--;
		return blob_put_rec(t, hash, &b);
	}
	for (i = 0; i < b.nfrags; i++) {
		blob_key(key, b.first_frag + i);
		if (sdb_del(t, DB_BLOBDATA, key, 8) == -1)
			return -1;
	}
	return sdb_del(t, DB_BLOBS, hash, 32) == -1 ? -1 : 0;
}

size_t
blob_zstd(struct store *st, struct store_txn *t, uint32_t dict_id, int level,
    const void *data, size_t len, void *out, size_t cap)
{
	struct store_dict *d = NULL;
	size_t n;
	int i;

	if (dict_id != 0 && (t == NULL ||
	    (d = blob_dict(t, dict_id)) == NULL))
		return 0;
	/*
	 * Frames carry a checksum (4 bytes), so damaged data is an error
	 * when it is read, not wrong bytes sent to a client.  cctx_mu: the
	 * context and the dictionaries' compression tables are shared by
	 * the threads that write (smtpd's writer thread, its loop).
	 */
	pthread_mutex_lock(&st->cctx_mu);
	ZSTD_CCtx_reset(st->cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(st->cctx, ZSTD_c_checksumFlag, 1);
	if (d != NULL) {
		for (i = 0; i < DICT_CLEVELS; i++)
			if (d->cdict[i] != NULL && d->clevel[i] == level)
				break;
		if (i == DICT_CLEVELS) {
			i = d->cnext;
			d->cnext = (d->cnext + 1) % DICT_CLEVELS;
			ZSTD_freeCDict(d->cdict[i]);
			d->cdict[i] = ZSTD_createCDict(d->data, d->len, level);
			if (d->cdict[i] == NULL)
				fatalx("zstd: cannot load dictionary %u",
				    d->id);
			d->clevel[i] = level;
		}
		ZSTD_CCtx_refCDict(st->cctx, d->cdict[i]);
	} else
		ZSTD_CCtx_setParameter(st->cctx, ZSTD_c_compressionLevel,
		    level);
	n = ZSTD_compress2(st->cctx, out, cap, data, len);
	pthread_mutex_unlock(&st->cctx_mu);
	if (ZSTD_isError(n) || n >= len)
		return 0;
	return n;
}

int
blob_compress(struct store *st, struct store_txn *t, int kind,
    const void *data, size_t len, void **out_r, size_t *outlen_r,
    uint8_t *codec_r, uint32_t *dict_id_r)
{
	return blob_compress_level(st, t, kind, STORE_ZSTD_LEVEL, data, len,
	    out_r, outlen_r, codec_r, dict_id_r);
}

int
blob_compress_level(struct store *st, struct store_txn *t, int kind,
    int level, const void *data, size_t len, void **out_r,
    size_t *outlen_r, uint8_t *codec_r, uint32_t *dict_id_r)
{
	size_t bound, n;
	void *out;
	uint32_t id = 0;

	*codec_r = BLOB_CODEC_RAW;
	*dict_id_r = 0;
	if (len < BLOB_RAW_BELOW) {
		*out_r = len == 0 ? NULL : xmemdup(data, len);
		*outlen_r = len;
		return 0;
	}
	if (t != NULL && dict_current(t, kind, &id) == 1 &&
	    blob_dict(t, id) == NULL)
		id = 0;
	bound = ZSTD_compressBound(len);
	out = xmalloc(bound);
	n = blob_zstd(st, t, id, level, data, len, out, bound);
	*dict_id_r = id;	/* a raw segment: the one tried */
	if (n == 0) {
		memcpy(out, data, len);
		*out_r = out;
		*outlen_r = len;
		return 0;
	}
	*out_r = out;
	*outlen_r = n;
	*codec_r = BLOB_CODEC_ZSTD;
	return 0;
}

int
blob_dict_stale(uint64_t raw_len, uint32_t dict_id, uint32_t current)
{
	return raw_len >= BLOB_RAW_BELOW && dict_id != current;
}

/* The loaded dictionary id, loading it from `meta` on first use. */
static struct store_dict *
blob_dict(struct store_txn *t, uint32_t id)
{
	struct store *st = t->st;
	struct store_dict *d;
	void *data;
	size_t len;

	/* held while loading too: one load of a dictionary, not two */
	pthread_mutex_lock(&st->dict_mu);
	for (d = st->dicts; d != NULL; d = d->next)
		if (d->id == id)
			goto done;
	if (dict_load(t, id, &data, &len) != 1)
		goto done;		/* d is NULL */
	d = xcalloc(1, sizeof(*d));
	d->id = id;
	d->data = data;
	d->len = len;
	d->ddict = ZSTD_createDDict(data, len);
	if (d->ddict == NULL)
		fatalx("zstd: cannot load dictionary %u", id);
	d->next = st->dicts;
	st->dicts = d;
done:
	pthread_mutex_unlock(&st->dict_mu);
	return d;
}

const uint8_t *
blob_cached(struct store_txn *t, const uint8_t *hash, size_t len)
{
	struct store *st = t->st;

	if (st->cache_buf != NULL && st->cache_len == len &&
	    memcmp(st->cache_hash, hash, 32) == 0)
		return st->cache_buf;
	free(st->cache_buf);
	st->cache_buf = xmalloc(len == 0 ? 1 : len);
	st->cache_len = 0;
	if (blob_read(t, hash, st->cache_buf, len, 0) == -1) {
		free(st->cache_buf);
		st->cache_buf = NULL;
		return NULL;
	}
	memcpy(st->cache_hash, hash, 32);
	st->cache_len = len;
	return st->cache_buf;
}

void
store_dicts_free(struct store *st)
{
	struct store_dict *d, *next;

	for (d = st->dicts; d != NULL; d = next) {
		next = d->next;
		ZSTD_freeCDict(d->cdict[0]);
		ZSTD_freeCDict(d->cdict[1]);
		ZSTD_freeDDict(d->ddict);
		free(d->data);
		free(d);
	}
	st->dicts = NULL;
	free(st->cache_buf);
	st->cache_buf = NULL;
}

int
blob_read(struct store_txn *t, const uint8_t *hash, uint8_t *out,
    size_t outlen, int verify)
{
	struct store_dict *d = NULL;
	struct blob_rec b;
	uint8_t key[8], sum[32], *buf = NULL;
	const uint8_t *src;
	MDB_val v;
	size_t off = 0, n;
	uint32_t i;
	int rc;

	if ((rc = blob_get(t, hash, &b)) == -1)
		return -1;
	if (rc == 0)
		return err_set(ERR_CORRUPT, "message segment missing from "
		    "the store (run vellumctl store check)");
	if (b.raw_len != outlen)
		return err_set(ERR_CORRUPT, "message segment has length %llu, "
		    "expected %zu", (unsigned long long)b.raw_len, outlen);
	if (b.codec != BLOB_CODEC_RAW && b.codec != BLOB_CODEC_ZSTD)
		return err_set(ERR_CORRUPT, "unknown codec %u", b.codec);
	if (b.codec == BLOB_CODEC_ZSTD && b.dict_id != 0 &&
	    (d = blob_dict(t, b.dict_id)) == NULL)
		return err_set(ERR_CORRUPT, "zstd dictionary %u missing",
		    b.dict_id);
	/* Raw data is gathered straight into out; compressed into buf. */
	if (b.codec == BLOB_CODEC_ZSTD && b.nfrags > 1)
		buf = xmalloc(b.stored_len);
	src = NULL;
	for (i = 0; i < b.nfrags; i++) {
		blob_key(key, b.first_frag + i);
		if ((rc = sdb_get(t, DB_BLOBDATA, key, 8, &v)) != 1) {
			free(buf);
			return rc == -1 ? -1 : err_set(ERR_CORRUPT,
			    "message segment fragment missing");
		}
		if (off + v.mv_size > b.stored_len) {
			free(buf);
			return err_set(ERR_CORRUPT, "message segment longer "
			    "than recorded");
		}
		if (b.codec == BLOB_CODEC_RAW)
			memcpy(out + off, v.mv_data, v.mv_size);
		else if (buf != NULL)
			memcpy(buf + off, v.mv_data, v.mv_size);
		else
			src = v.mv_data;
		off += v.mv_size;
	}
	if (off != b.stored_len) {
		free(buf);
		return err_set(ERR_CORRUPT, "message segment shorter than "
		    "recorded");
	}
	if (b.codec == BLOB_CODEC_ZSTD) {
		if (buf != NULL)
			src = buf;
		pthread_mutex_lock(&t->st->dctx_mu);
		if (d != NULL)
			n = ZSTD_decompress_usingDDict(t->st->dctx, out,
			    outlen, src, off, d->ddict);
		else
			n = ZSTD_decompressDCtx(t->st->dctx, out, outlen,
			    src, off);
		pthread_mutex_unlock(&t->st->dctx_mu);
		free(buf);
		if (ZSTD_isError(n) || n != outlen)
			return err_set(ERR_CORRUPT, "message segment does not "
			    "decompress: %s", ZSTD_isError(n) ?
			    ZSTD_getErrorName(n) : "wrong length");
	}
	/* Raw segments have no frame checksum: their SHA-256 is it. */
	if (verify || b.codec == BLOB_CODEC_RAW) {
		blob_sha256(out, outlen, sum);
		if (memcmp(sum, hash, 32) != 0)
			return err_set(ERR_CORRUPT, "message segment fails "
			    "its SHA-256 checksum");
	}
	return 0;
}

int
blob_decompress(struct store_txn *t, uint8_t codec, uint32_t dict_id,
    const void *src, size_t srclen, void *out, size_t outlen)
{
	struct store_dict *d = NULL;
	size_t n;

	if (codec == BLOB_CODEC_RAW) {
		if (srclen != outlen)
			return err_set(ERR_CORRUPT, "stored record has %zu "
			    "bytes, expected %zu", srclen, outlen);
		memcpy(out, src, srclen);
		return 0;
	}
	if (codec != BLOB_CODEC_ZSTD)
		return err_set(ERR_CORRUPT, "unknown codec %u", codec);
	if (dict_id != 0 && (d = blob_dict(t, dict_id)) == NULL)
		return err_set(ERR_CORRUPT, "zstd dictionary %u missing",
		    dict_id);
	pthread_mutex_lock(&t->st->dctx_mu);
	if (d != NULL)
		n = ZSTD_decompress_usingDDict(t->st->dctx, out, outlen, src,
		    srclen, d->ddict);
	else
		n = ZSTD_decompressDCtx(t->st->dctx, out, outlen, src, srclen);
	pthread_mutex_unlock(&t->st->dctx_mu);
	if (ZSTD_isError(n) || n != outlen)
		return err_set(ERR_CORRUPT, "stored record does not "
		    "decompress: %s", ZSTD_isError(n) ? ZSTD_getErrorName(n) :
		    "wrong length");
	return 0;
}

int
store_debug_damage(struct store *st, uint32_t mailbox_id, uint32_t uid)
{
	return store_write(st, blob_damage_txn,
	    &(struct damage){ mailbox_id, uid });
}
