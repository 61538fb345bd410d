/*
 * imapmeta.c - reading the IMAP record of a message (see imapmsg.h);
 * imapmsg.c writes it.
 *
 * The record (version IMAP_META_VERSION = 1):
 *   byte     version
 *   blob     ENVELOPE, BODYSTRUCTURE, BODY     (blob = varint length, bytes)
 *   varint   date, zigzag-encoded
 *   blob     base subject; byte: subject is a reply (0/1)
 *   blob     from mailbox, from display, to mailbox, to display,
 *            cc mailbox, message-id, references
 *   varint   number of parts (1..IMAP_MSG_PARTS_MAX); byte W (2, 4 or 8)
 *   parts    per part, W-byte little-endian numbers: header offset,
 *            header length, body length, bare LFs in the header, bare
 *            LFs in the body, parent, number of children, next sibling;
 *            then a flags byte (1 multipart, 2 message/rfc822).  A part's
 *            first child is the part after it (depth-first order), so
 *            any part is one multiplication away.
 * imap_meta_parse() checks every length and every link (parents before
 * children, siblings forward, ranges ordered), so a damaged record is
 * refused rather than followed.
 */
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "imapmsg.h"

struct rd {
	const uint8_t	*p, *e;
	int		 bad;
};

static uint64_t	rd_varint(struct rd *);
static const char *rd_blob(struct rd *, size_t *);
static uint64_t	rd_fixed(const uint8_t *, uint8_t);

static uint64_t
rd_varint(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (r->p < r->e && shift < 64) {
		uint8_t b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	r->bad = 1;
	return 0;
}

static const char *
rd_blob(struct rd *r, size_t *len_r)
{
	uint64_t n = rd_varint(r);
	const char *s = (const char *)r->p;

	if (r->bad || n > (uint64_t)(r->e - r->p)) {
		r->bad = 1;
		*len_r = 0;
		return "";
	}
	r->p += n;
	*len_r = (size_t)n;
	return s;
}

static uint64_t
rd_fixed(const uint8_t *p, uint8_t w)
{
	uint64_t v = 0;
	uint8_t k;

	for (k = 0; k < w; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

int
imap_meta_parse(const void *meta, size_t len, struct imap_meta *m)
{
	struct rd r = { meta, (const uint8_t *)meta + len, 0 };
	uint64_t np, zz, i, width;
	struct imap_part ip;
	uint8_t w;

	memset(m, 0, sizeof(*m));
	if (len < 1 || *r.p != IMAP_META_VERSION)
		return err_set(ERR_CORRUPT, "imap record: version %u, not %u",
		    len < 1 ? 0 : *r.p, IMAP_META_VERSION);
	r.p++;
	m->envelope = rd_blob(&r, &m->envelope_len);
	m->bodystructure = rd_blob(&r, &m->bodystructure_len);
	m->body = rd_blob(&r, &m->body_len);
	zz = rd_varint(&r);
	m->date = (zz & 1) ? -(int64_t)(zz >> 1) - 1 : (int64_t)(zz >> 1);
	m->base_subject = rd_blob(&r, &m->base_subject_len);
	if (r.p >= r.e || *r.p > 1)
		r.bad = 1;
	else
		m->subject_is_reply = *r.p++;
	m->from_mailbox = rd_blob(&r, &m->from_mailbox_len);
	m->from_display = rd_blob(&r, &m->from_display_len);
	m->to_mailbox = rd_blob(&r, &m->to_mailbox_len);
	m->to_display = rd_blob(&r, &m->to_display_len);
	m->cc_mailbox = rd_blob(&r, &m->cc_mailbox_len);
	m->message_id = rd_blob(&r, &m->message_id_len);
	m->references = rd_blob(&r, &m->references_len);
	np = rd_varint(&r);
	if (r.bad || r.p >= r.e)
		return err_set(ERR_CORRUPT, "imap record: truncated");
	w = *r.p++;
	if ((w != 2 && w != 4 && w != 8) || np < 1 ||
	    np > IMAP_MSG_PARTS_MAX)
		return err_set(ERR_CORRUPT, "imap record: bad part table");
	width = 8 * (uint64_t)w + 1;
	if ((uint64_t)(r.e - r.p) != np * width)
		return err_set(ERR_CORRUPT, "imap record: part table of %zu "
		    "bytes for %llu parts", (size_t)(r.e - r.p),
		    (unsigned long long)np);
	if (m->envelope_len < 2 || m->bodystructure_len < 2 ||
	    m->body_len < 2)
		return err_set(ERR_CORRUPT, "imap record: empty answers");
	m->nparts = (size_t)np;
	m->parts_raw = r.p;
	/* every link must stay inside the table and go forward */
	for (i = 0; i < np; i++) {
		const uint8_t *q = r.p + i * width;

		imap_meta_part(m, (size_t)i, &ip);
		if (q[8 * w] > 3 || q[8 * w] == 3 ||
		    ip.body_off < ip.hdr_off || ip.end < ip.body_off ||
		    rd_fixed(q + 1 * w, w) > UINT64_MAX - ip.hdr_off ||
		    (i == 0 ? ip.parent != 0 : ip.parent >= i) ||
		    (ip.next != 0 && (ip.next <= i || ip.next >= np)) ||
		    (ip.nchildren > 0 && i + 1 >= np) ||
		    ip.nchildren > np ||
		    (ip.is_message && ip.nchildren != 1) ||
		    (!ip.is_message && !ip.is_multipart && ip.nchildren > 0))
			return err_set(ERR_CORRUPT, "imap record: part %llu "
			    "is inconsistent", (unsigned long long)i);
	}
	return 0;
}

void
imap_meta_part(const struct imap_meta *m, size_t i, struct imap_part *r)
{
	uint8_t w = m->parts_raw[-1];
	const uint8_t *q = m->parts_raw + i * (8 * (size_t)w + 1);
	uint64_t f[8];
	size_t j;

	for (j = 0; j < 8; j++)
		f[j] = rd_fixed(q + j * w, w);
	memset(r, 0, sizeof(*r));
	r->hdr_off = f[0];
	r->body_off = f[0] + f[1];
	r->end = r->body_off + f[2];
	r->hdr_crlf = f[1] + f[3];
	r->body_crlf = f[2] + f[4];
	r->parent = (uint32_t)f[5];
	r->nchildren = (uint32_t)f[6];
	r->first_child = f[6] > 0 ? (uint32_t)i + 1 : 0;
	r->next = (uint32_t)f[7];
	r->is_multipart = (q[8 * w] & 1) != 0;
	r->is_message = (q[8 * w] & 2) != 0;
}

/*
 * Walks a section path (depth >= 1) to its part: *idx_r its index.  1
 * found, 0 not.
 */
static int
meta_walk(const struct imap_meta *m, const uint32_t *path, size_t depth,
    size_t *idx_r)
{
	struct imap_part cont, t, ch;
	size_t d, steps;
	uint32_t idx, n, ci = 0, ti = 0;

	if (depth == 0 || depth > IMAP_SECTION_DEPTH_MAX)
		return 0;
	imap_meta_part(m, 0, &cont);
	t = cont;
	for (d = 0; d < depth; d++) {
		n = path[d];
		if (n == 0)
			return 0;
		if (cont.is_multipart) {
			if (cont.nchildren == 0)
				return 0;
			idx = cont.first_child;
			for (steps = 1; steps < n; steps++) {
				imap_meta_part(m, idx, &ch);
				if (ch.next == 0)
					return 0;
				idx = ch.next;
			}
			ti = idx;
			imap_meta_part(m, ti, &t);
		} else {
			/* a single part is its own part 1 */
			if (n != 1)
				return 0;
			ti = ci;
			t = cont;
		}
		if (d + 1 == depth)
			break;
		if (t.is_message) {
			ci = t.first_child;
			imap_meta_part(m, ci, &cont);
		} else if (t.is_multipart && ti != ci) {
			ci = ti;
			cont = t;
		} else
			return 0;
	}
	*idx_r = ti;
	return 1;
}

int
imap_meta_find(const struct imap_meta *m, const uint32_t *path,
    size_t depth, size_t *idx_r)
{
	if (depth == 0) {
		*idx_r = 0;
		return 1;
	}
	return meta_walk(m, path, depth, idx_r);
}

int
imap_meta_section(const struct imap_meta *m, const uint32_t *path,
    size_t depth, enum imap_section_kind kind, uint64_t *off_r,
    uint64_t *end_r, uint64_t *crlf_len_r)
{
	struct imap_part cont, t, ch;
	size_t ti;

	imap_meta_part(m, 0, &cont);
	if (depth == 0) {
		switch (kind) {
		case IMAP_SECTION_ALL:
			*off_r = cont.hdr_off;
			*end_r = cont.end;
			*crlf_len_r = cont.hdr_crlf + cont.body_crlf;
			return 1;
		case IMAP_SECTION_HEADER:
			*off_r = cont.hdr_off;
			*end_r = cont.body_off;
			*crlf_len_r = cont.hdr_crlf;
			return 1;
		case IMAP_SECTION_TEXT:
			*off_r = cont.body_off;
			*end_r = cont.end;
			*crlf_len_r = cont.body_crlf;
			return 1;
		default:
			return 0;
		}
	}
	if (meta_walk(m, path, depth, &ti) != 1)
		return 0;
	imap_meta_part(m, ti, &t);
	switch (kind) {
	case IMAP_SECTION_ALL:
		*off_r = t.body_off;
		*end_r = t.end;
		*crlf_len_r = t.body_crlf;
		return 1;
	case IMAP_SECTION_MIME:
		*off_r = t.hdr_off;
		*end_r = t.body_off;
		*crlf_len_r = t.hdr_crlf;
		return 1;
	case IMAP_SECTION_HEADER:
	case IMAP_SECTION_TEXT:
		if (!t.is_message)
			return 0;
		imap_meta_part(m, t.first_child, &ch);
		if (kind == IMAP_SECTION_HEADER) {
			*off_r = ch.hdr_off;
			*end_r = ch.body_off;
			*crlf_len_r = ch.hdr_crlf;
		} else {
			*off_r = ch.body_off;
			*end_r = ch.end;
			*crlf_len_r = ch.body_crlf;
		}
		return 1;
	}
	return 0;
}
