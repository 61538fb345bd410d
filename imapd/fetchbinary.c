/*
 * fetchbinary.c - FETCH BINARY and BINARY.SIZE (see fetchbinary.h).
 *
 * A section becomes a list of segments over the stored bytes, in order:
 * RAW (sent as stored, bare LF as CRLF: headers of undecoded parts,
 * boundaries, preambles, 7bit/8bit/binary bodies), HDR (the header of a
 * base64 or quoted-printable part inside the section: its
 * Content-Transfer-Encoding field replaced by "binary") and DECODE (such
 * a part's body).  A producer walks the list a piece at a time; its output
 * is counted (the first pass: size, NUL) or sent through the <o.n> window
 * (the second).  Both passes read the same snapshot only when they run in
 * one transaction; a streamed second pass that finds fewer bytes than the
 * first counted pads the literal, as BODY[] does.
 *
 * The segment list holds at most about three segments a part, and a
 * message has at most IMAP_MSG_PARTS_MAX parts (mail/imapmsg.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "mail/decode.h"
#include "store/message.h"
#include "imapd/fetchconv.h"
#include "imapd/fetchbinary.h"

enum bin_kind {
	SEG_RAW,
	SEG_HDR,
	SEG_DECODE,
};

struct bin_seg {
	uint64_t	off, end;	/* raw range */
	uint8_t		kind;		/* enum bin_kind */
	uint8_t		cte;		/* enum mail_cte (DECODE) */
};

struct imap_fetch_binary {
	uint32_t		 mailbox_id, uid;
	struct bin_seg		*segs;
	size_t			 nsegs, cap;
	/* the producer */
	size_t			 seg;		/* current segment */
	uint64_t		 pos;		/* raw offset in it */
	int			 in_seg;	/* seg begun (pos, conv, dec) */
	struct imap_fetchconv	 conv;		/* RAW */
	struct mail_decoder	 dec;		/* DECODE */
	/* the window: output bytes to drop, then to give */
	uint64_t		 skip, left;
	/* the first pass */
	uint64_t		 total;
	uint64_t		 win_off, win_len, win_end;
	int			 nul;
	/* scratch */
	char			*raw;		/* BINARY_PIECE */
	char			*dec_out;	/* MAIL_DECODE_OUT(BINARY_PIECE) */
	struct imap_buf		 tmp;
};

static const char bin_cte_name[] = "Content-Transfer-Encoding";
static const char bin_cte_binary[] = "Content-Transfer-Encoding: binary\r\n";

static void	bin_seg_add(struct imap_fetch_binary *, enum bin_kind,
		    uint64_t, uint64_t, enum mail_cte);
static int	bin_read(struct store_txn *, struct imap_fetch_binary *,
		    uint64_t, uint64_t, char **, size_t *);
static int	bin_part_cte(struct store_txn *, struct imap_fetch_binary *,
		    const struct imap_part *, enum mail_cte *);
static int	bin_add_part(struct store_txn *, struct imap_fetch_binary *,
		    const struct imap_meta *, size_t, int, int);
static void	bin_emit(struct imap_fetch_binary *, const char *, size_t,
		    struct imap_buf *);
static int	bin_step(struct store_txn *, struct imap_fetch_binary *,
		    struct imap_buf *);
static void	bin_rewind(struct imap_fetch_binary *);

/* Building the segments ------------------------------------------------ */

static void
bin_seg_add(struct imap_fetch_binary *b, enum bin_kind kind, uint64_t off,
    uint64_t end, enum mail_cte cte)
{
	struct bin_seg *last = b->nsegs > 0 ? &b->segs[b->nsegs - 1] : NULL;

	if (kind != SEG_HDR && end <= off)
		return;
	if (kind == SEG_RAW && last != NULL && last->kind == SEG_RAW &&
	    last->end == off) {
		last->end = end;
		return;
	}
	if (b->nsegs == b->cap) {
		b->cap = b->cap == 0 ? 8 : b->cap * 2;
		b->segs = xreallocarray(b->segs, b->cap, sizeof(*b->segs));
	}
	b->segs[b->nsegs].off = off;
	b->segs[b->nsegs].end = end;
	b->segs[b->nsegs].kind = (uint8_t)kind;
	b->segs[b->nsegs].cte = (uint8_t)cte;
	b->nsegs++;
}

/*
 * Reads the raw range [off, end) whole into a malloc'd *data_r (headers
 * only: they are small).  1 read (maybe short when the message changed),
 * 0 the message is gone, -1 store error.
 */
static int
bin_read(struct store_txn *t, struct imap_fetch_binary *b, uint64_t off,
    uint64_t end, char **data_r, size_t *len_r)
{
	size_t got = 0;
	int rc;

	*data_r = xmalloc(end > off ? (size_t)(end - off) : 1);
	*len_r = 0;
	if (end <= off)
		return 1;
	rc = store_msg_read_range(t, b->mailbox_id, b->uid, off,
	    (size_t)(end - off), *data_r, &got);
	if (rc != 1) {
		free(*data_r);
		*data_r = NULL;
		return rc;
	}
	*len_r = got;
	return 1;
}

struct cte_ctx {
	enum mail_cte	cte;
};

static void
bin_cte_field(const char *field, size_t len, void *arg)
{
	struct cte_ctx *cc = arg;
	const char *colon = memchr(field, ':', len);

	/* the last field counts, as Dovecot reads it */
	if (colon != NULL)
		cc->cte = mail_cte_parse(colon + 1, len - (size_t)(colon + 1 -
		    field));
}

/* The transfer encoding of a part, from its own header. */
static int
bin_part_cte(struct store_txn *t, struct imap_fetch_binary *b,
    const struct imap_part *p, enum mail_cte *cte_r)
{
	const char *names[1] = { bin_cte_name };
	size_t lens[1] = { sizeof(bin_cte_name) - 1 }, len;
	struct cte_ctx cc = { MAIL_CTE_IDENTITY };
	char *hdr;
	int rc;

	if ((rc = bin_read(t, b, p->hdr_off, p->body_off, &hdr, &len)) != 1)
		return rc;
	imap_header_fields(hdr, len, names, lens, 1, 0, bin_cte_field, &cc);
	free(hdr);
	*cte_r = cc.cte;
	return 1;
}

/*
 * Adds part idx (with its header when with_hdr) and every part inside
 * it.  1 added, 0 an unknown encoding (or the message is gone), -1
 * store error.
 */
static int
bin_add_part(struct store_txn *t, struct imap_fetch_binary *b,
    const struct imap_meta *m, size_t idx, int with_hdr, int depth)
{
	struct imap_part p, c;
	enum mail_cte cte;
	uint64_t pos;
	size_t ci;
	int rc;

	imap_meta_part(m, idx, &p);
	if ((rc = bin_part_cte(t, b, &p, &cte)) != 1)
		return rc;
	if (cte == MAIL_CTE_UNKNOWN)
		return 0;
	if (with_hdr)
		bin_seg_add(b, cte == MAIL_CTE_IDENTITY || p.nchildren > 0 ?
		    SEG_RAW : SEG_HDR, p.hdr_off, p.body_off, cte);
	if (p.nchildren == 0 || depth > IMAP_MSG_DEPTH_MAX + 1) {
		bin_seg_add(b, cte == MAIL_CTE_IDENTITY ? SEG_RAW :
		    SEG_DECODE, p.body_off, p.end, cte);
		return 1;
	}
	/* multipart or message/rfc822: the parts inside are decoded */
	pos = p.body_off;
	for (ci = p.first_child; ci != 0 && ci < m->nparts; ci = c.next) {
		imap_meta_part(m, ci, &c);
		if (c.hdr_off < pos || c.end > p.end)
			break;		/* not in order: the record says no */
		bin_seg_add(b, SEG_RAW, pos, c.hdr_off, MAIL_CTE_IDENTITY);
		if ((rc = bin_add_part(t, b, m, ci, 1, depth + 1)) != 1)
			return rc;
		pos = c.end;
		if (p.is_message)
			break;
	}
	bin_seg_add(b, SEG_RAW, pos, p.end, MAIL_CTE_IDENTITY);
	return 1;
}

/* Producing ------------------------------------------------------------ */

/*
 * Output of the producer: counted (out NULL: the first pass) or sent
 * through the window.
 */
static void
bin_emit(struct imap_fetch_binary *b, const char *d, size_t n,
    struct imap_buf *out)
{
	uint64_t lo;

	if (out == NULL) {
		uint64_t at = b->total, hi;

		b->total += n;
		if (b->nul || n == 0 || at + n <= b->win_off ||
		    at >= b->win_end)
			return;
		lo = at < b->win_off ? b->win_off - at : 0;
		hi = b->win_end >= at + n ? n : b->win_end - at;
		if (hi > lo && memchr(d + lo, '\0', (size_t)(hi - lo)) != NULL)
			b->nul = 1;
		return;
	}
	if (b->skip > 0) {
		lo = b->skip < n ? b->skip : n;
		b->skip -= lo;
		d += lo;
		n -= (size_t)lo;
	}
	if (n > b->left)
		n = (size_t)b->left;
	imap_buf_add(out, d, n);
	b->left -= n;
}

static void
bin_field_cb(const char *field, size_t len, void *arg)
{
	struct imap_fetchconv c;
	uint64_t n;

	imap_fetchconv_init(&c, UINT64_MAX, 0, UINT64_MAX, &n);
	imap_fetchconv_run(&c, field, len, arg);
}

/*
 * One step: a piece of the current segment (a whole header for HDR).
 * 1 a step was made, 0 every segment is done, -1 the message could not
 * be read (err set) or is shorter than the record says.
 */
static int
bin_step(struct store_txn *t, struct imap_fetch_binary *b,
    struct imap_buf *out)
{
	size_t got, want, n;
	struct bin_seg *sg;
	uint64_t unused;
	char *hdr;
	int rc;

	if (b->seg >= b->nsegs)
		return 0;
	sg = &b->segs[b->seg];
	if (!b->in_seg) {
		b->in_seg = 1;
		b->pos = sg->off;
		imap_fetchconv_init(&b->conv, UINT64_MAX, 0, UINT64_MAX,
		    &unused);
		mail_decoder_init(&b->dec, (enum mail_cte)sg->cte,
		    MAIL_DECODE_CRLF);
	}
	if (t == NULL)
		return err_set(ERR_TEMP, "no transaction");
	imap_buf_reset(&b->tmp);
	if (sg->kind == SEG_HDR) {
		const char *names[1] = { bin_cte_name };
		size_t lens[1] = { sizeof(bin_cte_name) - 1 };

		if ((rc = bin_read(t, b, sg->off, sg->end, &hdr, &got)) != 1)
			return rc == 0 ? err_set(ERR_NOTFOUND, "message gone") :
			    -1;
		imap_header_fields(hdr, got, names, lens, 1, 1, bin_field_cb,
		    &b->tmp);
		free(hdr);
		imap_buf_add(&b->tmp, bin_cte_binary,
		    sizeof(bin_cte_binary) - 1);
		imap_buf_add(&b->tmp, "\r\n", 2);
		bin_emit(b, b->tmp.p, b->tmp.len, out);
		b->pos = sg->end;
	} else if (b->pos < sg->end) {
		want = sg->end - b->pos > BINARY_PIECE ? BINARY_PIECE :
		    (size_t)(sg->end - b->pos);
		rc = store_msg_read_range(t, b->mailbox_id, b->uid, b->pos,
		    want, b->raw, &got);
		if (rc != 1 || got == 0)
			return rc == -1 ? -1 : err_set(ERR_NOTFOUND,
			    "message gone or shorter");
		b->pos += got;
		if (sg->kind == SEG_RAW) {
			imap_fetchconv_run(&b->conv, b->raw, got, &b->tmp);
			bin_emit(b, b->tmp.p, b->tmp.len, out);
		} else {
			n = mail_decode(&b->dec, b->raw, got, b->dec_out);
			bin_emit(b, b->dec_out, n, out);
		}
	}
	if (b->pos >= sg->end) {
		if (sg->kind == SEG_DECODE) {
			n = mail_decode_end(&b->dec, b->dec_out);
			bin_emit(b, b->dec_out, n, out);
		}
		b->seg++;
		b->in_seg = 0;
	}
	return 1;
}

static void
bin_rewind(struct imap_fetch_binary *b)
{
	b->seg = 0;
	b->in_seg = 0;
}

/* The item ------------------------------------------------------------- */

void
imap_fetch_binary_free(struct imap_fetch_binary **bp)
{
	struct imap_fetch_binary *b = *bp;

	if (b == NULL)
		return;
	free(b->segs);
	free(b->raw);
	free(b->dec_out);
	imap_buf_free(&b->tmp);
	free(b);
	*bp = NULL;
}

int
imap_fetch_binary_start(struct store_txn *t, uint32_t mailbox_id,
    uint32_t uid, const struct imap_meta *m,
    const struct imap_section *sec, const char *name, size_t namelen,
    uint64_t inline_max, struct imap_buf *out,
    struct imap_fetch_binary **bin_r)
{
	struct imap_fetch_binary *b;
	size_t idx;
	int rc, found;

	*bin_r = NULL;
	b = xcalloc(1, sizeof(*b));
	b->mailbox_id = mailbox_id;
	b->uid = uid;
	imap_buf_init(&b->tmp);
	found = imap_meta_find(m, sec->path, sec->depth, &idx) == 1;
	/* BINARY[] is the whole message; BINARY[n] a part's body */
	if (found && (rc = bin_add_part(t, b, m, idx, sec->depth == 0,
	    0)) != 1) {
		imap_fetch_binary_free(&b);
		return rc;
	}
	b->raw = xmalloc(BINARY_PIECE);
	b->dec_out = xmalloc(MAIL_DECODE_OUT(BINARY_PIECE));
	b->win_off = sec->partial ? sec->partial_off : 0;
	b->win_len = sec->partial ? sec->partial_len : UINT64_MAX;
	b->win_end = b->win_len > UINT64_MAX - b->win_off ? UINT64_MAX :
	    b->win_off + b->win_len;
	while ((rc = bin_step(t, b, NULL)) == 1)
		;
	if (rc == -1) {
		imap_fetch_binary_free(&b);
		return -1;
	}
	imap_buf_add(out, name, namelen);
	if (sec->binary_size) {
		imap_buf_printf(out, " %" PRIu64, b->total);
		imap_fetch_binary_free(&b);
		return 1;
	}
	if (sec->partial)
		imap_buf_printf(out, "<%" PRIu64 ">", sec->partial_off);
	if (!found) {
		imap_buf_adds(out, " NIL");
		imap_fetch_binary_free(&b);
		return 1;
	}
	b->skip = b->win_off;
	b->left = b->win_off >= b->total ? 0 : b->total - b->win_off;
	if (b->left > b->win_len)
		b->left = b->win_len;
	if (b->left == 0) {
		imap_buf_adds(out, " \"\"");
		imap_fetch_binary_free(&b);
		return 1;
	}
	imap_buf_printf(out, " %s{%" PRIu64 "}\r\n", b->nul ? "~" : "",
	    b->left);
	bin_rewind(b);
	if (b->left > inline_max) {
		*bin_r = b;
		return 2;
	}
	(void)imap_fetch_binary_run(t, b, UINT64_MAX, out);
	imap_fetch_binary_free(&b);
	return 1;
}

int
imap_fetch_binary_run(struct store_txn *t, struct imap_fetch_binary *b,
    uint64_t max, struct imap_buf *out)
{
	uint64_t stop = b->left > max ? b->left - max : 0;
	int rc = 1;

	while (b->left > stop && (rc = bin_step(t, b, out)) == 1)
		;
	if (b->left == 0)
		return 1;
	if (rc == 1)
		return 0;
	if (rc == 0)
		err_set(ERR_CORRUPT, "fewer decoded bytes than counted");
	while (b->left > 0) {
		imap_buf_adds(out, " ");
		b->left--;
	}
	return -1;
}
