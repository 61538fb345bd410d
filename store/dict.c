/* dict.c - see dict.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zdict.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "dict.h"
#include "private.h"

#define DICT_SAMPLE_BYTES	(16 * 1024 * 1024)
#define DICT_RECOMPRESS_BATCH	500

struct samples {
	uint8_t	*buf;
	size_t	 len, cap;
	size_t	*sizes;
	size_t	 n;
};

struct recompress {
	uint8_t	 last[32];	/* resume after this body key */
	int	 started, done;
	size_t	 count;
};

static int	dict_collect(struct store_txn *, void *);
static int	dict_save(struct store_txn *, void *);
static int	dict_recompress_batch(struct store_txn *, void *);

int
dict_current(struct store_txn *t, uint32_t *id_r)
{
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_META, "dict_current", 12, &v)) != 1)
		return rc;
	if (v.mv_size != 4)
		return err_set(ERR_CORRUPT, "meta dict_current damaged");
	*id_r = be32dec(v.mv_data);
	return 1;
}

int
dict_load(struct store_txn *t, uint32_t id, void **data_r, size_t *len_r)
{
	char key[32];
	MDB_val v;
	int rc;

	snprintf(key, sizeof(key), "dict:%u", id);
	if ((rc = sdb_get(t, DB_META, key, strlen(key), &v)) != 1)
		return rc;
	*data_r = xmemdup(v.mv_data, v.mv_size);
	*len_r = v.mv_size;
	return 1;
}

/* Reads the header segment of up to STORE_DICT_SAMPLES bodies. */
static int
dict_collect(struct store_txn *t, void *ctx)
{
	struct samples *s = ctx;
	struct body_rec b;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (sdb_cursor(t, DB_BODIES, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 &&
	    s->n < STORE_DICT_SAMPLES && s->len < DICT_SAMPLE_BYTES;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (body_get(t, k.mv_data, &b) != 1)
			continue;
		if (b.nsegs > 0 && b.segs[0].len > 0 &&
		    b.segs[0].len < 64 * 1024) {
			if (s->len + b.segs[0].len > s->cap) {
				s->cap = (s->len + b.segs[0].len) * 2;
				s->buf = xreallocarray(s->buf, s->cap, 1);
			}
			if (blob_read(t, b.segs[0].hash, s->buf + s->len,
			    b.segs[0].len, 0) == 0) {
				s->sizes = xreallocarray(s->sizes, s->n + 1,
				    sizeof(size_t));
				s->sizes[s->n++] = b.segs[0].len;
				s->len += b.segs[0].len;
			}
		}
		body_rec_clear(&b);
	}
	mdb_cursor_close(c);
	return 0;
}

struct dict_new {
	const void	*data;
	size_t		 len;
	uint32_t	 id;
};

static int
dict_save(struct store_txn *t, void *ctx)
{
	struct dict_new *d = ctx;
	uint64_t id;
	uint8_t b[4];
	char key[32];

	if (sdb_counter_add(t, "next_dict", 1, &id) == -1)
		return -1;
	d->id = (uint32_t)id;
	snprintf(key, sizeof(key), "dict:%u", d->id);
	be32enc(b, d->id);
	if (sdb_put(t, DB_META, key, strlen(key), d->data, d->len, 0) == -1 ||
	    sdb_put(t, DB_META, "dict_current", 12, b, 4, 0) == -1)
		return -1;
	return 0;
}

/* Compresses again, with the current dictionary, some header blobs. */
static int
dict_recompress_batch(struct store_txn *t, void *ctx)
{
	struct recompress *r = ctx;
	struct body_rec b;
	struct blob_rec blob;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t key[8], codec;
	uint32_t dict_id, i;
	size_t n = 0, zlen;
	void *raw, *z;
	int rc;

	if (sdb_cursor(t, DB_BODIES, &c) == -1)
		return -1;
	k.mv_size = 32;
	k.mv_data = r->last;
	rc = r->started ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) :
	    mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && r->started && memcmp(k.mv_data, r->last, 32) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	r->started = 1;
	for (; rc == 0 && n < DICT_RECOMPRESS_BATCH;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
		memcpy(r->last, k.mv_data, 32);
		if (body_get(t, k.mv_data, &b) != 1)
			continue;
		if (b.nsegs == 0 || blob_get(t, b.segs[0].hash, &blob) != 1 ||
		    blob.dict_id != 0 || blob.raw_len < 64) {
			body_rec_clear(&b);
			continue;
		}
		raw = xmalloc(blob.raw_len);
		if (blob_read(t, b.segs[0].hash, raw, blob.raw_len, 1) == 0 &&
		    blob_compress(t->st, t, 1, raw, blob.raw_len, &z, &zlen,
		    &codec, &dict_id) == 0) {
			if (dict_id != 0 && zlen < blob.stored_len) {
				for (i = 0; i < blob.nfrags; i++) {
					be64enc(key, blob.first_frag + i);
					if (sdb_del(t, DB_BLOBDATA, key, 8) == -1)
						goto fail;
				}
				blob.codec = codec;
				blob.dict_id = dict_id;
				if (blob_write_data(t, &blob, z, zlen) == -1 ||
				    blob_put_rec(t, b.segs[0].hash, &blob) == -1)
					goto fail;
				r->count++;
			}
			free(z);
		}
		free(raw);
		body_rec_clear(&b);
	}
	r->done = rc != 0;
	mdb_cursor_close(c);
	return 0;
fail:
	free(z);
	free(raw);
	body_rec_clear(&b);
	mdb_cursor_close(c);
	return -1;
}

int
store_dict_train(struct store *st, int recompress, uint32_t *id_r)
{
	struct samples s = { 0 };
	struct dict_new d = { 0 };
	struct recompress r = { 0 };
	void *dict;
	size_t n;

	if (store_read(st, dict_collect, &s) == -1)
		goto fail;
	if (s.n < 100) {
		free(s.buf);
		free(s.sizes);
		return 0;
	}
	dict = xmalloc(STORE_DICT_SIZE);
	n = ZDICT_trainFromBuffer(dict, STORE_DICT_SIZE, s.buf, s.sizes,
	    (unsigned)s.n);
	free(s.buf);
	free(s.sizes);
	if (ZDICT_isError(n)) {
		free(dict);
		log_warnx("zstd dictionary training failed: %s",
		    ZDICT_getErrorName(n));
		return 0;
	}
	d.data = dict;
	d.len = n;
	if (store_write(st, dict_save, &d) == -1) {
		free(dict);
		return -1;
	}
	free(dict);
	log_info("trained zstd dictionary %u (%zu bytes) from %zu headers",
	    d.id, n, s.n);
	if (id_r != NULL)
		*id_r = d.id;
	while (recompress && !r.done)
		if (store_write(st, dict_recompress_batch, &r) == -1)
			return -1;
	return 1;
fail:
	free(s.buf);
	free(s.sizes);
	return -1;
}
