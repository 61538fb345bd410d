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

#define DICT_SAMPLE_MAX		(64 * 1024)	/* larger segments skipped */
#define DICT_SAMPLE_BYTES	(32 * 1024 * 1024)
#define DICT_BATCH		256

struct samples {
	int	 kind;
	uint8_t	*buf;
	size_t	 len, cap;
	size_t	*sizes;
	size_t	 n;
};

struct recompress {
	uint8_t	 last[32];	/* resume after this blob key */
	int	 started, done;
	size_t	 count;
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

struct dict_new {
	int		 kind;
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
	char key[32], cur[32];

	if (sdb_counter_add(t, "next_dict", 1, &id) == -1)
		return -1;
	d->id = (uint32_t)id;
	snprintf(key, sizeof(key), "dict:%u", d->id);
	dict_key(cur, sizeof(cur), d->kind);
	be32enc(b, d->id);
	if (sdb_put(t, DB_META, key, strlen(key), d->data, d->len, 0) == -1 ||
	    sdb_put(t, DB_META, cur, strlen(cur), b, 4, 0) == -1)
		return -1;
	return 0;
}

/* Trains and saves the dictionary of one kind: 1, or 0 too few samples. */
static int
dict_train_kind(struct store *st, int kind)
{
	struct samples s = { 0 };
	struct dict_new d = { 0 };
	void *dict;
	size_t n;
	int rc = 0;

	s.kind = kind;
	if (store_read(st, dict_collect, &s) == -1)
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
	rc = store_write(st, dict_save, &d) == -1 ? -1 : 1;
	free(dict);
	if (rc == 1)
		log_info("trained zstd dictionary %u (%zu bytes) from %zu "
		    "segments", d.id, n, s.n);
out:
	free(s.buf);
	free(s.sizes);
	return rc;
}

/* Compresses again, with the current dictionaries, some blobs that have
 * none. */
static int
dict_recompress_batch(struct store_txn *t, void *ctx)
{
	struct recompress *r = ctx;
	struct blob_rec b;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t keys[DICT_BATCH][32], fk[8], codec;
	uint32_t dict_id, i;
	size_t n = 0, j, zlen;
	void *raw, *z;
	int rc;

	/* Collect a batch of keys first: no writes under an open cursor. */
	if (sdb_cursor(t, DB_BLOBS, &c) == -1)
		return -1;
	k.mv_size = 32;
	k.mv_data = r->last;
	rc = r->started ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) :
	    mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && r->started && memcmp(k.mv_data, r->last, 32) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	for (; rc == 0 && n < DICT_BATCH;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (k.mv_size == 32)
			memcpy(keys[n++], k.mv_data, 32);
	mdb_cursor_close(c);
	r->started = 1;
	r->done = n < DICT_BATCH;
	if (n > 0)
		memcpy(r->last, keys[n - 1], 32);

	for (j = 0; j < n; j++) {
		if (blob_get(t, keys[j], &b) != 1 || b.dict_id != 0 ||
		    b.raw_len < 64)
			continue;
		raw = xmalloc(b.raw_len);
		if (blob_read(t, keys[j], raw, b.raw_len, 1) == -1 ||
		    blob_compress(t->st, t, b.kind, raw, b.raw_len, &z, &zlen,
		    &codec, &dict_id) == -1) {
			free(raw);
			continue;
		}
		free(raw);
		if (dict_id == 0 || zlen >= b.stored_len) {
			free(z);
			continue;
		}
		for (i = 0; i < b.nfrags; i++) {
			be64enc(fk, b.first_frag + i);
			if (sdb_del(t, DB_BLOBDATA, fk, 8) == -1)
				goto fail;
		}
		b.codec = codec;
		b.dict_id = dict_id;
		if (blob_write_data(t, &b, z, zlen) == -1 ||
		    blob_put_rec(t, keys[j], &b) == -1)
			goto fail;
		free(z);
		r->count++;
	}
	return 0;
fail:
	free(z);
	return -1;
}

int
store_dict_train(struct store *st, int recompress)
{
	struct recompress r = { 0 };
	int kind, rc, trained = 0;

	for (kind = 0; kind < DICT_KINDS; kind++) {
		if ((rc = dict_train_kind(st, kind)) == -1)
			return -1;
		trained += rc;
	}
	if (trained == 0)
		return 0;
	while (recompress && !r.done)
		if (store_write(st, dict_recompress_batch, &r) == -1)
			return -1;
	if (recompress)
		log_info("compressed %zu stored segments again with the new "
		    "dictionaries", r.count);
	return 1;
}
