/*
 * body.c - body records: a message's segments, refcount and IMAP record,
 * keyed by body id, and the index from the message's SHA-256 to its id.
 *
 * A body is keyed by the SHA-256 of the whole message, so the same message
 * delivered to many mailboxes is one body with a refcount; its segments
 * are blobs (blob.c), so a part shared by different messages is stored
 * once.  message.c links bodies to message rows.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "message.h"
#include "private.h"

/*
 * Version 3: varints where version 2 had fixed-width integers (a record
 * of two segments: 145 bytes -> about 95), and the IMAP record's own id.
 * Version 4: the same without the size, which the segments' lengths add
 * up to (store check always verified that).
 * Version 5: after the refcount, the CRLF size minus the size and the
 * final-line-end byte, which message rows carried until schema 6.
 */
static int
body_get_varint(struct unpack *u, uint8_t version, uint64_t id,
    struct body_rec *r)
{
	uint64_t n, x;
	size_t i;

	x = unpack_uv(u);
	r->refcount = (uint32_t)x;
	if (x > UINT32_MAX)
		u->bad = 1;
	if (version == BODY_REC_V3)
		r->size = unpack_uv(u);
	if (version == BODY_REC_V5) {
		r->crlf_size = unpack_uv(u);	/* the size added below */
		r->noeol = unpack_u8(u);
		r->eol_known = 1;
		if (r->noeol > 1)
			u->bad = 1;
	}
	unpack_bytes(u, r->hash, 32);
	n = unpack_uv(u);
	/* A segment takes 33 bytes at least. */
	if (!u->bad && n <= u->left / 33) {
		r->nsegs = (size_t)n;
		r->segs = xcalloc(r->nsegs, sizeof(*r->segs));
		for (i = 0; i < r->nsegs; i++) {
			unpack_bytes(u, r->segs[i].hash, 32);
			r->segs[i].len = unpack_uv(u);
			if (version >= BODY_REC_V4)
				r->size += r->segs[i].len;
		}
	} else
		u->bad = 1;
	r->crlf_size += r->size;
	r->has_meta = unpack_u8(u);
	if (r->has_meta > 1)
		u->bad = 1;
	if (r->has_meta) {
		r->meta_codec = unpack_u8(u);
		x = unpack_uv(u);
		r->meta_dict = (uint32_t)x;
		if (x > UINT32_MAX)
			u->bad = 1;
		x = unpack_uv(u);
		r->meta_len = (uint32_t)x;
		if (x > UINT32_MAX)
			u->bad = 1;
		x = unpack_uv(u);
		r->meta_stored = (uint32_t)x;
		if (x > UINT32_MAX)
			u->bad = 1;
		r->meta_id = unpack_uv(u);
	} else
		r->meta_id = id;
	if (unpack_done(u, "body") == -1) {
		body_rec_clear(r);
		return -1;
	}
	return 1;
}

int
body_get(struct store_txn *t, uint64_t id, struct body_rec *r)
{
	struct unpack u;
	uint8_t key[8], version;
	MDB_val v;
	size_t i;
	int rc;

	memset(r, 0, sizeof(*r));
	be64enc(key, id);
	if ((rc = sdb_get(t, DB_BODIES, key, 8, &v)) != 1)
		return rc;
	r->version = version = unpack_init_version(&u, &v);
	if (version >= BODY_REC_V3 && version <= BODY_REC_V5)
		return body_get_varint(&u, version, id, r);
	if (version != BODY_REC_V1 && version != BODY_REC_V2)
		u.bad = 1;
	r->refcount = unpack_u32(&u);
	r->size = unpack_u64(&u);
	unpack_bytes(&u, r->hash, 32);
	r->nsegs = unpack_u32(&u);
	if (!u.bad && r->nsegs <= u.left / 40) {
		r->segs = xcalloc(r->nsegs, sizeof(*r->segs));
		for (i = 0; i < r->nsegs; i++) {
			unpack_bytes(&u, r->segs[i].hash, 32);
			r->segs[i].len = unpack_u64(&u);
		}
	} else
		u.bad = 1;
	if (version == BODY_REC_V2) {
		r->has_meta = unpack_u8(&u);
		r->meta_codec = unpack_u8(&u);
		r->meta_dict = unpack_u32(&u);
		r->meta_len = unpack_u32(&u);
		r->meta_stored = unpack_u32(&u);
	}
	r->meta_id = id;	/* versions 1 and 2: under the body id */
	if (unpack_done(&u, "body") == -1) {
		body_rec_clear(r);
		return -1;
	}
	return 1;
}

void
body_rec_clear(struct body_rec *r)
{
	free(r->segs);
	r->segs = NULL;
	r->nsegs = 0;
}

int
body_put(struct store_txn *t, uint64_t id, const struct body_rec *r,
    unsigned flags)
{
	struct pack p;
	uint8_t key[8];
	size_t i;
	int rc;

	be64enc(key, id);
	pack_init_version(&p, r->eol_known ? BODY_REC_V5 : BODY_REC_V4);
	pack_uv(&p, r->refcount);
	if (r->eol_known) {
		pack_uv(&p, r->crlf_size - r->size);
		pack_u8(&p, r->noeol);
	}
	pack_bytes(&p, r->hash, 32);
	pack_uv(&p, r->nsegs);
	for (i = 0; i < r->nsegs; i++) {
		pack_bytes(&p, r->segs[i].hash, 32);
		pack_uv(&p, r->segs[i].len);
	}
	pack_u8(&p, r->has_meta ? 1 : 0);
	if (r->has_meta) {
		pack_u8(&p, r->meta_codec);
		pack_uv(&p, r->meta_dict);
		pack_uv(&p, r->meta_len);
		pack_uv(&p, r->meta_stored);
		pack_uv(&p, r->meta_id);
	}
	rc = sdb_put(t, DB_BODIES, key, 8, p.buf, p.len, flags);
	pack_free(&p);
	if (rc == 0)
		return err_set(ERR_CORRUPT, "body id %llu is already used",
		    (unsigned long long)id);
	return rc == -1 ? -1 : 0;
}

/*
 * Fills the sizes and final line end of m from its body record.  Every
 * message row read needs them (a mailbox listed is one lookup a
 * message), so a record of version 5 is read here without body_get()'s
 * copy of its segment list.
 */
int
body_sizes(struct store_txn *t, struct store_msg *m)
{
	struct unpack u;
	uint8_t key[8], hash[32];
	uint64_t n, i, size = 0, crlf;
	uint8_t noeol;
	MDB_val v;
	int rc;

	be64enc(key, m->body);
	if ((rc = sdb_get(t, DB_BODIES, key, 8, &v)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "uid %u in "
		    "mailbox %u refers to missing body %llu (run vellumctl "
		    "store check)", m->uid, m->mailbox_id,
		    (unsigned long long)m->body);
	if (unpack_init_version(&u, &v) != BODY_REC_V5)
		return err_set(ERR_CORRUPT, "body %llu has no line-end "
		    "sizes (run vellumctl store check)",
		    (unsigned long long)m->body);
	(void)unpack_uv(&u);		/* refcount */
	crlf = unpack_uv(&u);
	noeol = unpack_u8(&u);
	unpack_bytes(&u, hash, 32);
	n = unpack_uv(&u);
	for (i = 0; i < n && !u.bad; i++) {
		unpack_bytes(&u, hash, 32);
		size += unpack_uv(&u);
	}
	if (u.bad || noeol > 1)
		return err_set(ERR_CORRUPT, "damaged body record %llu (run "
		    "vellumctl store check)", (unsigned long long)m->body);
	m->size = size;
	m->crlf_size = size + crlf;
	m->no_final_newline = noeol;
	return 0;
}

/*
 * The schema 6 upgrade (msgrow.c): gives m's body the sizes m's row of
 * schema 5 carried, unless it has them.  A missing body is left to store
 * check (its row could not be read before either).
 */
int
body_set_sizes(struct store_txn *t, const struct store_msg *m)
{
	struct body_rec b;
	int rc;

	if ((rc = body_get(t, m->body, &b)) != 1)
		return rc;
	rc = 0;
	if (!b.eol_known) {
		b.crlf_size = m->crlf_size;
		b.noeol = m->no_final_newline != 0;
		b.eol_known = 1;
		rc = body_put(t, m->body, &b, 0);
	}
	body_rec_clear(&b);
	return rc;
}

/*
 * `bodyhash` keys: the first BODYHASH_SHORT bytes of the message's SHA-256
 * (a random key of 32 bytes, in a table that random inserts keep ~65%
 * full, was 32 of the ~44 bytes an entry takes).  A short key is only a
 * hint: the body record holds the whole hash, and body_find() compares
 * it.  When two messages share a prefix (by chance or made on purpose:
 * 64 bits are not collision-resistant), the second one's entry is under
 * its whole hash, as every entry was before; a lookup tries the short
 * key, then the whole one.
 */
#define BODYHASH_SHORT	8

/* The body id under key (klen bytes), whose record has this hash. */
static int
bodyhash_get(struct store_txn *t, const uint8_t *hash, size_t klen,
    uint64_t *id_r)
{
	struct body_rec b;
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_BODYHASH, hash, klen, &v)) != 1)
		return rc;
	if (bodyhash_dec(&v, id_r) == -1)
		return err_set(ERR_CORRUPT, "body hash index damaged");
	if (klen == 32)
		return 1;
	if ((rc = body_get(t, *id_r, &b)) == -1)
		return -1;
	body_rec_clear(&b);
	if (rc == 0)
		return err_set(ERR_CORRUPT, "body hash index names missing "
		    "body %llu", (unsigned long long)*id_r);
	return memcmp(b.hash, hash, 32) == 0;
}

int
body_find(struct store_txn *t, const uint8_t *hash, uint64_t *id_r)
{
	int rc;

	if ((rc = bodyhash_get(t, hash, BODYHASH_SHORT, id_r)) != 0)
		return rc;
	return bodyhash_get(t, hash, 32, id_r);
}

int
bodyhash_put(struct store_txn *t, const uint8_t *hash, uint64_t id)
{
	uint8_t v[8];
	size_t n = bodyhash_enc(v, id);
	int rc;

	if ((rc = sdb_put(t, DB_BODYHASH, hash, BODYHASH_SHORT, v, n,
	    MDB_NOOVERWRITE)) != 0)
		return rc == -1 ? -1 : 0;
	/* Another body has the prefix. */
	return sdb_put(t, DB_BODYHASH, hash, 32, v, n, 0) == -1 ? -1 : 0;
}

int
bodyhash_del(struct store_txn *t, const uint8_t *hash, uint64_t id)
{
	uint64_t other;
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_BODYHASH, hash, BODYHASH_SHORT, &v)) == -1)
		return -1;
	if (rc == 1 && bodyhash_dec(&v, &other) == 0 && other == id)
		return sdb_del(t, DB_BODYHASH, hash, BODYHASH_SHORT) == -1 ?
		    -1 : 0;
	return sdb_del(t, DB_BODYHASH, hash, 32) == -1 ? -1 : 0;
}

int
bodyhash_rekey(struct store_txn *t, const uint8_t *hash, uint64_t id)
{
	uint8_t v[8];
	size_t n = bodyhash_enc(v, id);
	MDB_val old;
	uint64_t other;
	int rc;

	if ((rc = sdb_get(t, DB_BODYHASH, hash, 32, &old)) != 1)
		return rc;
	if (bodyhash_dec(&old, &other) == -1 || other != id)
		return 0;
	if ((rc = sdb_put(t, DB_BODYHASH, hash, BODYHASH_SHORT, v, n,
	    MDB_NOOVERWRITE)) != 1)
		return rc;
	return sdb_del(t, DB_BODYHASH, hash, 32) == -1 ? -1 : 1;
}

/*
 * A `bodyhash` value: the body id as a varint of 1 to 7 bytes (an id of
 * 2^49 or more, or an entry from before: 8 bytes big-endian).
 */
size_t
bodyhash_enc(uint8_t *out, uint64_t id)
{
	size_t n = 0;

	if (id >= (uint64_t)1 << 49) {
		be64enc(out, id);
		return 8;
	}
	while (id >= 0x80) {
		out[n++] = (uint8_t)(id | 0x80);
		id >>= 7;
	}
	out[n++] = (uint8_t)id;
	return n;
}

int
bodyhash_dec(const MDB_val *v, uint64_t *id_r)
{
	const uint8_t *p = v->mv_data, *end = p + v->mv_size;
	unsigned shift;

	if (v->mv_size == 8) {
		*id_r = be64dec(p);
		return 0;
	}
	if (v->mv_size == 0 || v->mv_size > 7)
		return -1;
	*id_r = 0;
	for (shift = 0; p < end; shift += 7) {
		*id_r |= (uint64_t)(*p & 0x7f) << shift;
		if (!(*p++ & 0x80))
			break;
	}
	return p == end && !(end[-1] & 0x80) ? 0 : -1;
}

int
body_ref(struct store_txn *t, uint64_t id)
{
	struct body_rec b;
	int rc;

	if ((rc = body_get(t, id, &b)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "a message "
		    "refers to missing body %llu", (unsigned long long)id);
	b.refcount++;
	rc = body_put(t, id, &b, 0);
	body_rec_clear(&b);
	return rc;
}

int
body_unref(struct store_txn *t, uint64_t id)
{
	struct body_rec b;
	uint8_t key[8];
	size_t i;
	int rc;

	if ((rc = body_get(t, id, &b)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "a message "
		    "refers to missing body %llu", (unsigned long long)id);
	if (b.refcount > 1) {
		b.refcount--;
		rc = body_put(t, id, &b, 0);
		body_rec_clear(&b);
		return rc;
	}
	for (i = 0; i < b.nsegs; i++)
		if (blob_unref(t, b.segs[i].hash) == -1) {
			body_rec_clear(&b);
			return -1;
		}
	body_rec_clear(&b);
	if (meta_delete(t, id, &b) == -1)
		return -1;
	be64enc(key, id);
	if (bodyhash_del(t, b.hash, id) == -1 ||
	    sdb_del(t, DB_BODIES, key, 8) == -1)
		return -1;
	return 0;
}

