/*
 * codec.c - integer keys and record encoding.
 *
 * Records are a version byte followed by fixed-width big-endian integers
 * (or, in the later versions of the records kept for every message and
 * segment, varints: pack_uv()) and length-prefixed strings, so a record
 * can grow fields at its end in a later schema without a migration of the
 * old ones.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "private.h"

void
be32enc(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

uint32_t
be32dec(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
be64enc(uint8_t *p, uint64_t v)
{
	be32enc(p, v >> 32);
	be32enc(p + 4, (uint32_t)v);
}

uint64_t
be64dec(const uint8_t *p)
{
	return (uint64_t)be32dec(p) << 32 | be32dec(p + 4);
}

void
pack_init(struct pack *p)
{
	p->cap = 128;
	p->buf = xmalloc(p->cap);
	p->len = 0;
	pack_u8(p, STORE_REC_VERSION);
}

void
pack_init_version(struct pack *p, uint8_t version)
{
	pack_init(p);
	p->buf[0] = version;
}

void
pack_free(struct pack *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

void
pack_bytes(struct pack *p, const void *data, size_t n)
{
	if (p->len + n > p->cap) {
		while (p->len + n > p->cap)
			p->cap *= 2;
		p->buf = xreallocarray(p->buf, p->cap, 1);
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
}

void
pack_u8(struct pack *p, uint8_t v)
{
	pack_bytes(p, &v, 1);
}

void
pack_u32(struct pack *p, uint32_t v)
{
	uint8_t b[4];

	be32enc(b, v);
	pack_bytes(p, b, 4);
}

void
pack_u64(struct pack *p, uint64_t v)
{
	uint8_t b[8];

	be64enc(b, v);
	pack_bytes(p, b, 8);
}

/*
 * Unsigned LEB128: 7 bits a byte, low first, the high bit set on every
 * byte but the last.  Most counts and lengths of a record then take one
 * or two bytes instead of four or eight.
 */
void
pack_uv(struct pack *p, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	pack_bytes(p, b, n);
}

void
pack_str(struct pack *p, const char *s)
{
	size_t n = strlen(s);

	pack_u32(p, (uint32_t)n);
	pack_bytes(p, s, n);
}

void
unpack_init(struct unpack *u, const MDB_val *v)
{
	u->p = v->mv_data;
	u->left = v->mv_size;
	u->bad = 0;
	if (unpack_u8(u) != STORE_REC_VERSION)
		u->bad = 1;
}

uint8_t
unpack_init_version(struct unpack *u, const MDB_val *v)
{
	u->p = v->mv_data;
	u->left = v->mv_size;
	u->bad = 0;
	return unpack_u8(u);
}

void
unpack_bytes(struct unpack *u, void *out, size_t n)
{
	if (u->bad || u->left < n) {
		u->bad = 1;
		memset(out, 0, n);
		return;
	}
	memcpy(out, u->p, n);
	u->p += n;
	u->left -= n;
}

uint8_t
unpack_u8(struct unpack *u)
{
	uint8_t v;

	unpack_bytes(u, &v, 1);
	return v;
}

uint32_t
unpack_u32(struct unpack *u)
{
	uint8_t b[4];

	unpack_bytes(u, b, 4);
	return be32dec(b);
}

uint64_t
unpack_u64(struct unpack *u)
{
	uint8_t b[8];

	unpack_bytes(u, b, 8);
	return be64dec(b);
}

uint64_t
unpack_uv(struct unpack *u)
{
	uint64_t v = 0;
	unsigned shift;
	uint8_t b;

	for (shift = 0; shift < 64; shift += 7) {
		if (u->bad || u->left == 0) {
			u->bad = 1;
			return 0;
		}
		b = *u->p++;
		u->left--;
		/* The 10th byte may only hold bit 63. */
		if (shift == 63 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	u->bad = 1;
	return 0;
}

void
unpack_str(struct unpack *u, char *buf, size_t bufsize)
{
	uint32_t n = unpack_u32(u);

	if (u->bad || n >= bufsize || n > u->left) {
		u->bad = 1;
		buf[0] = '\0';
		return;
	}
	unpack_bytes(u, buf, n);
	buf[n] = '\0';
}

int
unpack_done(struct unpack *u, const char *what)
{
	if (u->bad)
		return err_set(ERR_CORRUPT, "damaged %s record in the store "
		    "(run vellumctl store check)", what);
	return 0;
}
