/*
 * cmd_fetch.c - FETCH (streamed) and STORE.
 *
 * FETCH reads the store in short read transactions: one per batch of
 * messages (until about FETCH_BATCH_OUT bytes of response are built) and,
 * for a body section longer than FETCH_INLINE_MAX, one per piece of
 * FETCH_PIECE raw bytes.  After each transaction the response goes out;
 * once more than CONN_OUT_HIGH bytes wait in the connection the command
 * yields and goes on when they have drained, so a 20 MB message costs a
 * session one piece of memory, not the message.
 *
 * Every byte is sent with a bare LF written as CRLF (imapmsg.h counts
 * sizes the same way), so RFC822.SIZE, BODYSTRUCTURE sizes and literal
 * lengths agree with what is sent.  A partial fetch <o.n> counts in
 * those converted bytes.
 *
 * ENVELOPE, BODY, BODYSTRUCTURE and section ranges come from the IMAP
 * record stored with the body (store_body_meta()): nothing is parsed
 * here.
 *
 * \Seen: a FETCH of a body section without PEEK sets \Seen on its
 * messages (not in a read-only mailbox) in one write transaction before
 * anything is sent; the replies of those messages then carry FLAGS.
 *
 * Messages expunged by another session that this session still shows
 * (imap_view_is_gone(), or found missing in the store) are skipped and
 * the command ends "NO [EXPUNGEISSUED]", as Dovecot does (RFC 2180
 * 4.1.2, RFC 5530): the messages that still exist are answered.  A
 * message that leaves the mailbox while its literal is on its way is
 * finished from its body when the store still has it (moved or copied
 * elsewhere: fetch_spill_open()); otherwise the literal is padded with
 * spaces and the command ends NO [SERVERBUG].
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/tmpfile.h"
#include "common/xmalloc.h"
#include "mail/imapmsg.h"
#include "store/mailbox.h"
#include "store/message.h"
#include "store/store.h"
#include "imapd/fetchbinary.h"
#include "imapd/fetchconv.h"
#include "imapd/imapd.h"
#include "imapd/search.h"

/* Sections whose literal is at most this long are sent in one piece. */
#define FETCH_INLINE_MAX	(64 * 1024)
/* Raw bytes read per transaction when a long section is streamed. */
#define FETCH_PIECE		(64 * 1024)
/*
 * Bytes of a HEADER.FIELDS[.NOT] answer sent per transaction when it is
 * longer than that: each piece filters the header again (no
 * copy is held while the client reads), so pieces are large.
 */
#define FETCH_FIELDS_PIECE	(256 * 1024)
/* Response bytes built per read transaction before they are written. */
#define FETCH_BATCH_OUT		(128 * 1024)

/* The raw range of the section being sent and its converter. */
struct fetch_conv {
	uint64_t		raw_pos, raw_end;
	struct imap_fetchconv	fc;
};

/* A section to answer, with the name its reply carries. */
struct fetch_sec {
	const struct imap_section *sec;
	struct imap_section	 own;	/* RFC822, RFC822.HEADER/TEXT */
	const char		*name;		/* without "<o>" */
	size_t			 namelen;
	int			 sets_seen;
};

struct fetch_state {
	struct imap_fetch	 f;
	uint32_t		*uids;
	size_t			 n, i;
	struct fetch_sec	*secs;
	size_t			 nsecs;
	int			 want_meta;
	int			 set_seen;
	int			 send_uid;
	/* uids (ascending) whose \Seen this FETCH set: FLAGS added */
	uint32_t		*seen;
	size_t			 nseen;
	uint64_t		*seen_modseq;
	/* the message being answered */
	int			 in_msg;
	uint32_t		 uid, seq;
	struct store_msg	 m;
	void			*meta_raw;
	size_t			 meta_len;
	struct imap_meta	 meta;
	size_t			 sec;		/* next section */
	int			 need_sp;	/* an item was written */
	int			 streaming;
	struct fetch_conv	 conv;
	/* a long HEADER.FIELDS answer being streamed (streaming is set):
	 * its section, header range, and bytes of the literal sent/left */
	const struct imap_section *fields_sec;
	uint64_t		 fields_off, fields_end;
	uint64_t		 fields_from, fields_left;
	uint8_t			*piece;
	struct imap_fetch_binary *bin;		/* a BINARY streaming */
	/* the current message moved away (MOVE elsewhere) while it was
	 * being sent: its bytes, from its body, in an unlinked file */
	int			 spill;		/* spill_fd is open */
	int			 spill_fd;
	/* outcome */
	int			 unknown_cte;	/* BINARY: stop, NO */
	int			 expunged;	/* messages skipped: gone */
	int			 broken;	/* a literal was padded */
};

struct fetch_txn {
	struct imap_session	*s;
	struct fetch_state	*st;
};

static void	fetch_run(struct imap_session *, void *);
static void	fetch_free(void *);
static int	fetch_batch_txn(struct store_txn *, void *);
static int	fetch_piece_txn(struct store_txn *, void *);
static void	fetch_flush(struct imap_session *);

/* Helpers ---------------------------------------------------------- */

static int
fetch_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
fetch_flush(struct imap_session *s)
{
	if (s->out.len > 0) {
		imap_write(s, s->out.p, s->out.len);
		imap_buf_reset(&s->out);
	}
}

static void
fetch_date(struct imap_buf *b, int64_t t)
{
	static const char *const mon[12] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	imap_buf_printf(b, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"",
	    tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

/* Index of uid in the seen list, or -1. */
static long
fetch_seen_find(const struct fetch_state *st, uint32_t uid)
{
	const uint32_t *p;

	if (st->nseen == 0)
		return -1;
	p = bsearch(&uid, st->seen, st->nseen, sizeof(*st->seen),
	    fetch_u32_cmp);
	return p == NULL ? -1 : (long)(p - st->seen);
}

/* Reading --------------------------------------------------------- */

static void
fetch_spill_close(struct fetch_state *st)
{
	if (st->spill) {
		close(st->spill_fd);
		st->spill = 0;
	}
}

/*
 * The current message is no longer in the mailbox (another session moved
 * or expunged it) while part of it was promised: if its body is still in
 * the store (a MOVE, a COPY elsewhere), its bytes go into an unlinked
 * file in data_dir (not memory: a client that reads slowly would hold
 * them) and the rest is read from there.  1 done, -1 not possible.
 */
static int
fetch_spill_open(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st)
{
	void *data = NULL;
	size_t len = 0, done = 0;
	ssize_t w;
	int fd = -1;

	if (t == NULL || store_body_read(t, st->m.body, &data, &len) != 1)
		return -1;
	fd = tmpfile_open(s->srv->config->data_dir, "imapd-fetch.XXXXXX");
	while (fd != -1 && done < len) {
		if ((w = write(fd, (char *)data + done, len - done)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("conn %lu: writing a FETCH spill file",
			    s->id);
			close(fd);
			fd = -1;
			break;
		}
		done += (size_t)w;
	}
	free(data);
	if (fd == -1)
		return -1;
	st->spill = 1;
	st->spill_fd = fd;
	log_info("conn %lu: uid %u moved away while being sent; the rest "
	    "comes from its body", s->id, st->uid);
	return 1;
}

/*
 * Reads raw bytes [off, off + len) of the current message: from the
 * mailbox, or once it moved away from its spill.  As
 * store_msg_read_range(): 1 read, 0 gone, -1 error.
 */
static int
fetch_read(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st, uint64_t off, size_t len, void *buf,
    size_t *got)
{
	ssize_t r;
	int rc;

	*got = 0;
	if (!st->spill) {
		if (t == NULL)
			return -1;
		rc = store_msg_read_range(t, s->view->mailbox_id, st->uid,
		    off, len, buf, got);
		if (rc != 0 || fetch_spill_open(t, s, st) == -1)
			return rc;
	}
	while ((r = pread(st->spill_fd, buf, len, (off_t)off)) == -1 &&
	    errno == EINTR)
		;
	if (r == -1)
		return err_set(ERR_TEMP, "reading the FETCH spill file: %s",
		    strerror(errno));
	*got = (size_t)r;
	return 1;
}

/* Converting ------------------------------------------------------- */

static void
fetch_conv_init(struct fetch_conv *c, uint64_t off, uint64_t end,
    uint64_t crlf_len, const struct imap_section *sec, uint64_t *len_r)
{
	imap_fetchconv_init(&c->fc, crlf_len, sec->partial ?
	    sec->partial_off : 0, sec->partial ? sec->partial_len :
	    UINT64_MAX, len_r);
	c->raw_pos = off;
	c->raw_end = end;
	/* Without bare LFs the origin is a raw offset. */
	if (crlf_len == end - off) {
		c->raw_pos += c->fc.skip;
		c->fc.skip = 0;
	}
}

/*
 * Sends up to max converted bytes of the section from the store.  A
 * message that vanished, came up short or could not be read has the
 * rest of its literal padded with spaces (the literal length was
 * promised) and the command ends NO.
 */
static void
fetch_conv_run(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st, uint64_t max)
{
	struct fetch_conv *c = &st->conv;
	uint64_t want, stop = c->fc.left > max ? c->fc.left - max : 0;
	size_t got;
	int rc = 1;

	while (c->fc.left > stop) {
		if (c->raw_pos >= c->raw_end)
			goto pad;
		want = c->raw_end - c->raw_pos;
		if (want > FETCH_PIECE)
			want = FETCH_PIECE;
		rc = fetch_read(t, s, st, c->raw_pos, (size_t)want,
		    st->piece, &got);
		if (rc != 1 || got == 0)
			goto pad;
		c->raw_pos += imap_fetchconv_run(&c->fc, st->piece, got,
		    &s->out);
	}
	return;
pad:
	log_warnx("conn %lu: uid %u: message %s while being sent; "
	    "%" PRIu64 " bytes padded", s->id, st->uid, t == NULL ||
	    rc == -1 ? err_msg() : "changed", c->fc.left);
	st->broken = 1;
	while (c->fc.left > 0) {
		imap_buf_adds(&s->out, " ");
		c->fc.left--;
	}
}

/* Sections ------------------------------------------------------- */

struct fields_ctx {
	struct imap_buf	*b;
};

static void
fetch_field_cb(const char *field, size_t len, void *arg)
{
	struct fields_ctx *fc = arg;
	struct imap_fetchconv c;
	uint64_t n;

	imap_fetchconv_init(&c, UINT64_MAX, 0, UINT64_MAX, &n);
	imap_fetchconv_run(&c, field, len, fc->b);
	/*
	 * The last field of a header block without a line end (a message
	 * of header only, no final newline) still ends its line: the blank
	 * line the caller adds must stay a line of its own.
	 */
	if (len == 0 || field[len - 1] != '\n')
		imap_buf_adds(fc->b, len > 0 && field[len - 1] == '\r' ?
		    "\n" : "\r\n");
}

/*
 * The HEADER.FIELDS[.NOT] answer of the header block [off, end) of the
 * current message into res (with the blank line).  The block is read
 * whole and filtered in memory; nothing of it is kept.  -1 when the
 * message could not be read (res then holds the blank line only).
 */
static int
fetch_fields_build(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st, const struct imap_section *sec, int found,
    uint64_t off, uint64_t end, struct imap_buf *res)
{
	const char *names[IMAP_FETCH_FIELDS_MAX];
	size_t lens[IMAP_FETCH_FIELDS_MAX], i, n, got = 0;
	struct fields_ctx fc;
	char *hdr = NULL;
	int rc, ret = 0;

	imap_buf_init(res);
	if (found && end > off) {
		hdr = xmalloc((size_t)(end - off));
		rc = fetch_read(t, s, st, off, (size_t)(end - off), hdr,
		    &got);
		if (rc != 1) {
			log_warnx("conn %lu: uid %u: header not read: %s",
			    s->id, st->uid, rc == -1 ? err_msg() : "gone");
			got = 0;
			ret = -1;
		}
		n = sec->nnames < IMAP_FETCH_FIELDS_MAX ? sec->nnames :
		    IMAP_FETCH_FIELDS_MAX;
		for (i = 0; i < n; i++) {
			names[i] = sec->names[i].s;
			lens[i] = sec->names[i].len;
		}
		fc.b = res;
		imap_header_fields(hdr, got, names, lens, n, sec->fields_not,
		    fetch_field_cb, &fc);
		free(hdr);
	}
	imap_buf_add(res, "\r\n", 2);
	return ret;
}

/*
 * HEADER.FIELDS[.NOT]: the answer is built from the whole header block,
 * then sent (with <o.n>) from there.  An answer longer than
 * FETCH_FIELDS_PIECE (a huge header) is streamed: its first piece now, the
 * next ones by fetch_fields_piece(), each from the header filtered
 * again, so a client that reads slowly does not hold a copy of it.
 */
static void
fetch_section_fields(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st, const struct fetch_sec *fs, int found,
    uint64_t off, uint64_t end)
{
	const struct imap_section *sec = fs->sec;
	struct imap_buf res;
	struct imap_fetchconv c;
	uint64_t len, now;

	if (fetch_fields_build(t, s, st, sec, found, off, end, &res) == -1)
		st->broken = 1;
	imap_fetchconv_init(&c, res.len, sec->partial ? sec->partial_off : 0,
	    sec->partial ? sec->partial_len : UINT64_MAX, &len);
	imap_buf_add(&s->out, fs->name, fs->namelen);
	if (sec->partial)
		imap_buf_printf(&s->out, "<%" PRIu64 ">", sec->partial_off);
	if (len == 0)
		imap_buf_adds(&s->out, " \"\"");
	else {
		imap_buf_printf(&s->out, " {%" PRIu64 "}\r\n", len);
		now = len <= FETCH_FIELDS_PIECE ? len : FETCH_FIELDS_PIECE;
		imap_buf_add(&s->out, res.p + c.skip, (size_t)now);
		if (now < len) {
			st->fields_sec = sec;
			st->fields_off = off;
			st->fields_end = end;
			st->fields_from = c.skip + now;
			st->fields_left = len - now;
			st->streaming = 1;
		}
	}
	imap_buf_free(&res);
}

/* BINARY[...], BINARY.SIZE[...]: fetchbinary.c. */
static void
fetch_binary_start(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st, const struct fetch_sec *fs)
{
	size_t mark = s->out.len;
	uint64_t room;
	int rc;

	if (st->need_sp)
		imap_buf_adds(&s->out, " ");
	/* inline when short and still room in this batch, as BODY[] */
	room = s->out.len < FETCH_BATCH_OUT ? FETCH_BATCH_OUT - s->out.len : 0;
	rc = imap_fetch_binary_start(t, s->view->mailbox_id, st->uid,
	    &st->meta, fs->sec, fs->name, fs->namelen, room < FETCH_INLINE_MAX ?
	    room : FETCH_INLINE_MAX, &s->out, &st->bin);
	if (rc == 1 || rc == 2) {
		st->need_sp = 1;
		st->streaming = rc == 2;
		return;
	}
	s->out.len = mark;	/* the item is left out */
	if (rc == 0)
		st->unknown_cte = 1;
	else {
		log_warnx("conn %lu: uid %u: BINARY: %s", s->id, st->uid,
		    err_msg());
		st->broken = 1;
	}
}

static void
fetch_binary_piece(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st)
{
	int rc = imap_fetch_binary_run(t, st->bin, FETCH_PIECE, &s->out);

	if (rc == -1) {
		log_warnx("conn %lu: uid %u: BINARY padded: %s", s->id,
		    st->uid, err_msg());
		st->broken = 1;
	}
	if (rc != 0) {
		imap_fetch_binary_free(&st->bin);
		st->streaming = 0;
	}
}

/*
 * The next piece of a streamed HEADER.FIELDS answer.  A message that
 * vanished or changed meanwhile has the rest of its literal padded with
 * spaces (its length was promised) and the command ends NO.
 */
static void
fetch_fields_piece(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st)
{
	struct imap_buf res;
	uint64_t now = st->fields_left, have = 0;

	if (now > FETCH_FIELDS_PIECE)
		now = FETCH_FIELDS_PIECE;
	if (fetch_fields_build(t, s, st, st->fields_sec, 1, st->fields_off,
	    st->fields_end, &res) == 0 && res.len > st->fields_from)
		have = res.len - st->fields_from;
	if (have >= now)
		imap_buf_add(&s->out, res.p + st->fields_from, (size_t)now);
	else {
		/* this piece is padded; the next ones will be too */
		if (!st->broken)
			log_warnx("conn %lu: uid %u: header changed while "
			    "being sent; %" PRIu64 " bytes padded", s->id,
			    st->uid, st->fields_left);
		st->broken = 1;
		for (have = 0; have < now; have++)
			imap_buf_adds(&s->out, " ");
	}
	imap_buf_free(&res);
	st->fields_from += now;
	st->fields_left -= now;
	if (st->fields_left == 0) {
		st->fields_sec = NULL;
		st->streaming = 0;
	}
}

/*
 * Starts section st->sec of the current message: writes its name and
 * literal head and sends it when short; a long one is left streaming.
 */
static void
fetch_section_start(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st)
{
	const struct fetch_sec *fs = &st->secs[st->sec];
	const struct imap_section *sec = fs->sec;
	enum imap_section_kind kind = sec->kind;
	uint64_t off = 0, end = 0, crlf = 0, len;
	int found;

	if (sec->binary || sec->binary_size) {
		fetch_binary_start(t, s, st, fs);
		return;
	}
	if (sec->depth == 0 && kind == IMAP_SECTION_ALL) {
		off = 0;
		end = st->m.size;
		crlf = st->m.crlf_size;
		found = 1;
	} else
		found = imap_meta_section(&st->meta, sec->path, sec->depth,
		    kind, &off, &end, &crlf) == 1;
	if (st->need_sp)
		imap_buf_adds(&s->out, " ");
	st->need_sp = 1;
	if (sec->fields || sec->fields_not) {
		fetch_section_fields(t, s, st, fs, found, off, end);
		return;
	}
	imap_buf_add(&s->out, fs->name, fs->namelen);
	if (sec->partial)
		imap_buf_printf(&s->out, "<%" PRIu64 ">", sec->partial_off);
	if (!found) {
		imap_buf_adds(&s->out, " NIL");
		return;
	}
	fetch_conv_init(&st->conv, off, end, crlf, sec, &len);
	if (len == 0) {
		imap_buf_adds(&s->out, " \"\"");
		return;
	}
	imap_buf_printf(&s->out, " {%" PRIu64 "}\r\n", len);
	/*
	 * Short and still room in this batch: now.  (Many sections of one
	 * message, up to IMAP_FETCH_SECTIONS_MAX, would otherwise all be
	 * built before anything is written or the client has read.)
	 */
	if (len <= FETCH_INLINE_MAX && s->out.len + len <= FETCH_BATCH_OUT)
		fetch_conv_run(t, s, st, UINT64_MAX);
	else
		st->streaming = 1;
}

/* Messages ------------------------------------------------------- */

static void
fetch_msg_end(struct fetch_state *st)
{
	fetch_spill_close(st);
	free(st->meta_raw);
	st->meta_raw = NULL;
	st->in_msg = 0;
	st->i++;
}

/*
 * Writes the head of message st->uids[st->i] (every item that is not a
 * body section).  1 begun, 0 skipped (gone, or unchanged since
 * CHANGEDSINCE), -1 store error.
 */
static int
fetch_msg_begin(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st)
{
	struct imap_view *v = s->view;
	unsigned items = st->f.items;
	int rc, rev1 = !(s->enabled & IMAP_EN_REV2), sep = 0, flags, modseq;
	long seen;

	st->uid = st->uids[st->i];
	st->seq = imap_view_seq(v, st->uid);
	if (imap_view_is_gone(v, st->uid) || st->seq == 0) {
		st->expunged++;
		return 0;
	}
	if ((rc = store_msg_get(t, v->mailbox_id, st->uid, &st->m)) != 1) {
		if (rc == 0)
			st->expunged++;
		return rc;
	}
	if (st->f.changedsince_set && st->m.modseq <= st->f.changedsince)
		return 0;
	if (st->want_meta) {
		if ((rc = store_body_meta(t, st->m.body, &st->meta_raw,
		    &st->meta_len)) != 1)
			return rc == -1 ? -1 : err_set(ERR_CORRUPT,
			    "message uid %u has no body", st->uid);
		if (imap_meta_parse(st->meta_raw, st->meta_len,
		    &st->meta) == -1) {
			free(st->meta_raw);
			st->meta_raw = NULL;
			return -1;
		}
	}
	seen = fetch_seen_find(st, st->uid);
	flags = (items & IMAP_FI_FLAGS) || seen >= 0;
	modseq = (items & IMAP_FI_MODSEQ) || st->f.changedsince_set ||
	    (seen >= 0 && (s->enabled & IMAP_EN_CONDSTORE));
	imap_buf_printf(&s->out, "* %u FETCH (", st->seq);
#define SEP()	do { if (sep++) imap_buf_adds(&s->out, " "); } while (0)
	if (st->send_uid) {
		SEP();
		imap_buf_printf(&s->out, "UID %u", st->uid);
	}
	if (flags) {
		SEP();
		imap_buf_adds(&s->out, "FLAGS ");
		imap_flags_format(&s->out, st->m.flags, st->m.keywords,
		    rev1 && imap_view_is_recent(v, st->uid));
	}
	if (items & IMAP_FI_INTERNALDATE) {
		SEP();
		imap_buf_adds(&s->out, "INTERNALDATE ");
		fetch_date(&s->out, st->m.internal_date);
	}
	if (items & IMAP_FI_RFC822_SIZE) {
		SEP();
		imap_buf_printf(&s->out, "RFC822.SIZE %" PRIu64,
		    st->m.crlf_size);
	}
	if (items & IMAP_FI_ENVELOPE) {
		SEP();
		imap_buf_adds(&s->out, "ENVELOPE ");
		imap_buf_add(&s->out, st->meta.envelope,
		    st->meta.envelope_len);
	}
	if (items & IMAP_FI_BODY) {
		SEP();
		imap_buf_adds(&s->out, "BODY ");
		imap_buf_add(&s->out, st->meta.body, st->meta.body_len);
	}
	if (items & IMAP_FI_BODYSTRUCTURE) {
		SEP();
		imap_buf_adds(&s->out, "BODYSTRUCTURE ");
		imap_buf_add(&s->out, st->meta.bodystructure,
		    st->meta.bodystructure_len);
	}
	if (modseq) {
		SEP();
		imap_buf_printf(&s->out, "MODSEQ (%" PRIu64 ")",
		    st->m.modseq);
	}
#undef SEP
	st->need_sp = sep > 0;
	st->in_msg = 1;
	st->sec = 0;
	st->streaming = 0;
	return 1;
}

/*
 * Goes on with the current message's sections until one streams or the
 * message is done.
 */
static void
fetch_msg_sections(struct store_txn *t, struct imap_session *s,
    struct fetch_state *st)
{
	while (st->sec < st->nsecs) {
		fetch_section_start(t, s, st);
		st->sec++;
		if (st->streaming)
			return;
	}
	imap_buf_adds(&s->out, ")\r\n");
	fetch_msg_end(st);
}

static int
fetch_batch_txn(struct store_txn *t, void *arg)
{
	struct fetch_txn *ft = arg;
	struct imap_session *s = ft->s;
	struct fetch_state *st = ft->st;
	size_t mark;
	int rc;

	while (s->out.len < FETCH_BATCH_OUT && !st->streaming) {
		if (st->in_msg) {
			fetch_msg_sections(t, s, st);
			continue;
		}
		if (st->i >= st->n || st->unknown_cte)
			break;
		mark = s->out.len;
		if ((rc = fetch_msg_begin(t, s, st)) == -1) {
			s->out.len = mark;
			return -1;
		}
		if (rc == 0) {
			st->i++;
			continue;
		}
		fetch_msg_sections(t, s, st);
	}
	return 0;
}

static int
fetch_piece_txn(struct store_txn *t, void *arg)
{
	struct fetch_txn *ft = arg;

	if (ft->st->bin != NULL) {
		fetch_binary_piece(t, ft->s, ft->st);
		return 0;
	}
	if (ft->st->fields_sec != NULL) {
		fetch_fields_piece(t, ft->s, ft->st);
		return 0;
	}
	fetch_conv_run(t, ft->s, ft->st, FETCH_PIECE);
	if (ft->st->conv.fc.left == 0)
		ft->st->streaming = 0;
	return 0;
}

/* The command ----------------------------------------------------- */

static void
fetch_free(void *arg)
{
	struct fetch_state *st = arg;

	if (st == NULL)
		return;
	free(st->uids);
	free(st->secs);
	free(st->seen);
	free(st->seen_modseq);
	free(st->meta_raw);
	free(st->piece);
	imap_fetch_binary_free(&st->bin);
	fetch_spill_close(st);
	free(st);
}

static void
fetch_run(struct imap_session *s, void *arg)
{
	struct fetch_state *st = arg;
	struct fetch_txn ft = { s, st };
	int rc;

	for (;;) {
		if (st->streaming)
			rc = store_read(s->srv->store, fetch_piece_txn, &ft);
		else if (st->in_msg || (st->i < st->n && !st->unknown_cte))
			rc = store_read(s->srv->store, fetch_batch_txn, &ft);
		else
			break;
		if (rc == -1 && st->streaming) {
			/* the snapshot failed mid-literal: keep the protocol
			 * whole */
			if (st->bin != NULL)
				fetch_binary_piece(NULL, s, st);
			while (st->fields_sec != NULL)
				fetch_fields_piece(NULL, s, st);
			if (st->conv.fc.left > 0)
				fetch_conv_run(NULL, s, st, UINT64_MAX);
			st->streaming = 0;
			rc = 0;
		}
		fetch_flush(s);
		if (rc == -1) {
			log_warnx("conn %lu: FETCH: %s", s->id, err_msg());
			imap_no_err(s);
			fetch_free(st);
			return;
		}
		if (imap_pending(s) >= CONN_OUT_HIGH) {
			imap_yield(s, fetch_run, fetch_free, st);
			return;
		}
	}
	if (st->unknown_cte)
		imap_no(s, "UNKNOWN-CTE", "Unknown Content-Transfer-Encoding.");
	else if (st->broken)
		imap_no(s, "SERVERBUG", "Some messages changed while they "
		    "were being sent.");
	else if (st->expunged)
		imap_no(s, "EXPUNGEISSUED", "Some of the requested messages "
		    "no longer exist.");
	else
		imap_ok(s, NULL, "Fetch completed.");
	fetch_free(st);
}

struct seen_txn {
	struct imap_session	*s;
	struct fetch_state	*st;
};

/* Sets \Seen on every message of the FETCH that lacks it. */
static int
fetch_seen_txn(struct store_txn *t, void *arg)
{
	struct seen_txn *sx = arg;
	struct fetch_state *st = sx->st;
	uint32_t mb = sx->s->view->mailbox_id;
	struct store_msg m;
	size_t i;
	int rc;

	st->nseen = 0;
	for (i = 0; i < st->n; i++) {
		if ((rc = store_msg_get(t, mb, st->uids[i], &m)) == -1)
			return -1;
		if (rc == 0 || (m.flags & STORE_F_SEEN) ||
		    imap_view_is_gone(sx->s->view, st->uids[i]))
			continue;
		if (st->f.changedsince_set && m.modseq <= st->f.changedsince)
			continue;
		if (store_msg_set_flags(t, mb, m.uid, STORE_FLAGS_ADD,
		    STORE_F_SEEN, NULL) == -1 ||
		    store_msg_get(t, mb, m.uid, &m) != 1)
			return -1;
		st->seen[st->nseen] = m.uid;
		st->seen_modseq[st->nseen++] = m.modseq;
	}
	return 0;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT and BODY[...] as one list. */
static void
fetch_sections_build(struct fetch_state *st)
{
	static const struct {
		unsigned	item;
		const char	*name;
		enum imap_section_kind kind;
		int		peek;
	} legacy[] = {
		{ IMAP_FI_RFC822_HEADER, "RFC822.HEADER", IMAP_SECTION_HEADER,
		    1 },
		{ IMAP_FI_RFC822_TEXT, "RFC822.TEXT", IMAP_SECTION_TEXT, 0 },
		{ IMAP_FI_RFC822, "RFC822", IMAP_SECTION_ALL, 0 },
	};
	struct fetch_sec *fs;
	const char *end;
	size_t i;

	st->secs = xcalloc(st->f.nsections + 3, sizeof(*st->secs));
	for (i = 0; i < 3; i++) {
		if (!(st->f.items & legacy[i].item))
			continue;
		fs = &st->secs[st->nsecs++];
		fs->own.kind = legacy[i].kind;
		fs->own.peek = legacy[i].peek;
		fs->sec = &fs->own;
		fs->name = legacy[i].name;
		fs->namelen = strlen(fs->name);
		fs->sets_seen = !legacy[i].peek;
	}
	for (i = 0; i < st->f.nsections; i++) {
		fs = &st->secs[st->nsecs++];
		fs->sec = &st->f.sections[i];
		/*
		 * The parser names the reply ("BODY[1.HEADER.FIELDS (A B)]<5>",
		 * as long as the field list); "<o>" is written here.
		 */
		fs->name = fs->sec->reply_name != NULL ? fs->sec->reply_name :
		    "BODY[]";
		end = strrchr(fs->name, ']');
		fs->namelen = end != NULL ? (size_t)(end - fs->name) + 1 :
		    strlen(fs->name);
		fs->sets_seen = !fs->sec->peek;
	}
}

/*
 * The CONDSTORE enabling side of a command (RFC 7162 3.1): once on, the
 * client learns the mailbox's HIGHESTMODSEQ at once.
 */
static int
fetch_mbox_txn(struct store_txn *t, void *arg)
{
	struct store_mailbox *mb = arg;
	uint32_t id = mb->id;

	return store_mailbox_get_by_id(t, id, mb) == 1 ? 0 : -1;
}

static void
fetch_condstore_enable(struct imap_session *s)
{
	struct store_mailbox mb;

	if (s->enabled & IMAP_EN_CONDSTORE)
		return;
	s->enabled |= IMAP_EN_CONDSTORE;
	if (s->view == NULL)
		return;
	mb.id = s->view->mailbox_id;
	if (store_read(s->srv->store, fetch_mbox_txn, &mb) == 0)
		imap_untagged(s, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
		    mb.highestmodseq);
}

/* QRESYNC: VANISHED (EARLIER) ------------------------------------- */

/*
 * UID FETCH ... (CHANGEDSINCE n VANISHED): the UIDs of the set expunged
 * since n.  The set is sorted and merged once, so a logged expunge costs
 * a binary search; the answer is built as ranges, so a fallback over a
 * huge UID space costs the view's size, not UIDNEXT.
 */
struct vanished_ctx {
	const struct imap_view	*v;
	struct imap_seq_range	*set;	/* the set, sorted and merged */
	size_t			 nset;
	struct imap_seq_range	*out;	/* what vanished, sorted */
	size_t			 n, cap;
	uint64_t		 since;
};

static void
vanished_add(struct vanished_ctx *vc, uint32_t lo, uint32_t hi)
{
	if (vc->n > 0 && vc->out[vc->n - 1].hi != UINT32_MAX &&
	    vc->out[vc->n - 1].hi + 1 >= lo) {
		if (hi > vc->out[vc->n - 1].hi)
			vc->out[vc->n - 1].hi = hi;
		return;
	}
	if (vc->n == vc->cap) {
		vc->cap = vc->cap == 0 ? 64 : vc->cap * 2;
		vc->out = xreallocarray(vc->out, vc->cap, sizeof(*vc->out));
	}
	vc->out[vc->n].lo = lo;
	vc->out[vc->n++].hi = hi;
}

/* Adds [lo, hi] cut to the set (both sorted: i walks the set). */
static void
vanished_add_gap(struct vanished_ctx *vc, size_t *i, uint32_t lo,
    uint32_t hi)
{
	const struct imap_seq_range *r;

	while (*i < vc->nset && vc->set[*i].hi < lo)
		(*i)++;
	for (; *i < vc->nset && vc->set[*i].lo <= hi; (*i)++) {
		r = &vc->set[*i];
		vanished_add(vc, r->lo > lo ? r->lo : lo,
		    r->hi < hi ? r->hi : hi);
		if (r->hi > hi)
			break;
	}
}

static int
vanished_cb(uint32_t uid, uint64_t modseq, void *arg)
{
	struct vanished_ctx *vc = arg;

	(void)modseq;
	if (imap_ranges_have(vc->set, vc->nset, uid)) {
		if (vc->n == vc->cap) {
			vc->cap = vc->cap == 0 ? 64 : vc->cap * 2;
			vc->out = xreallocarray(vc->out, vc->cap,
			    sizeof(*vc->out));
		}
		vc->out[vc->n].lo = vc->out[vc->n].hi = uid;
		vc->n++;
	}
	return 0;
}

static int
vanished_range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int
vanished_txn(struct store_txn *t, void *arg)
{
	struct vanished_ctx *vc = arg;
	const struct imap_view *v = vc->v;
	uint32_t prev = 0;
	size_t i = 0, j;
	int rc;

	vc->n = 0;
	if ((rc = store_msg_expunged_since(t, v->mailbox_id, vc->since,
	    vanished_cb, vc)) != 0)
		return rc == 1 ? 0 : -1;
	/*
	 * The log does not reach back that far: every uid of the set below
	 * uidnext that the view lacks is reported (RFC 7162 3.2.6 allows
	 * more than what vanished since): the gaps between the view's uids.
	 */
	vc->n = 0;
	for (j = 0; j <= v->count; j++) {
		uint32_t next = j < v->count ? v->uids[j] : v->uidnext;

		if (next > prev + 1)
			vanished_add_gap(vc, &i, prev + 1, next - 1);
		prev = next;
	}
	return 0;
}

static int
fetch_vanished(struct imap_session *s, const struct imap_seqset *set,
    uint64_t since)
{
	const struct imap_view *v = s->view;
	struct vanished_ctx vc = { v, NULL, 0, NULL, 0, 0, since };
	size_t i, m;

	imap_seqset_ranges(set, v->uidnext > 0 ? v->uidnext - 1 : 0,
	    v->saved, v->nsaved, &vc.set, &vc.nset);
	if (store_read(s->srv->store, vanished_txn, &vc) == -1) {
		free(vc.set);
		free(vc.out);
		return -1;
	}
	if (vc.n > 0) {
		/* logged expunges come in modseq order: sort, merge */
		qsort(vc.out, vc.n, sizeof(*vc.out), vanished_range_cmp);
		for (i = 1, m = 0; i < vc.n; i++) {
			if (vc.out[m].hi == UINT32_MAX ||
			    vc.out[i].lo <= vc.out[m].hi + 1) {
				if (vc.out[i].hi > vc.out[m].hi)
					vc.out[m].hi = vc.out[i].hi;
			} else
				vc.out[++m] = vc.out[i];
		}
		imap_buf_adds(&s->out, "* VANISHED (EARLIER) ");
		for (i = 0; i <= m; i++) {
			if (vc.out[i].lo == vc.out[i].hi)
				imap_buf_printf(&s->out, "%s%u", i ? "," : "",
				    vc.out[i].lo);
			else
				imap_buf_printf(&s->out, "%s%u:%u",
				    i ? "," : "", vc.out[i].lo, vc.out[i].hi);
		}
		imap_buf_adds(&s->out, "\r\n");
		fetch_flush(s);
	}
	free(vc.set);
	free(vc.out);
	return 0;
}

void
imap_cmd_fetch(struct imap_session *s, struct imap_cmd *cmd)
{
	struct fetch_state *st;
	struct imap_seqset set;
	struct seen_txn sx;
	size_t i;

	if (imap_p_sp(&cmd->p) == -1 || imap_p_seqset(&cmd->p, &set) == -1) {
		imap_bad(s, "%s", cmd->p.err != NULL ? cmd->p.err :
		    "Invalid arguments.");
		return;
	}
	st = xcalloc(1, sizeof(*st));
	/* imap_p_fetch() takes the SP before the items and the end */
	if (imap_p_fetch(&cmd->p, &st->f) == -1) {
		imap_bad(s, "%s", cmd->p.err != NULL ? cmd->p.err :
		    "Invalid arguments.");
		fetch_free(st);
		return;
	}
	if (st->f.vanished && (!cmd->uid || !st->f.changedsince_set ||
	    !(s->enabled & IMAP_EN_QRESYNC))) {
		imap_bad(s, "VANISHED needs UID FETCH with CHANGEDSINCE and "
		    "QRESYNC enabled.");
		fetch_free(st);
		return;
	}
	if (imap_view_resolve(s->view, &set, cmd->uid, &st->uids,
	    &st->n) == -1) {
		imap_bad(s, "%s", err_msg());
		fetch_free(st);
		return;
	}
	if ((st->f.items & IMAP_FI_MODSEQ) || st->f.changedsince_set)
		fetch_condstore_enable(s);
	st->send_uid = cmd->uid || (st->f.items & IMAP_FI_UID);
	st->want_meta = (st->f.items & (IMAP_FI_ENVELOPE | IMAP_FI_BODY |
	    IMAP_FI_BODYSTRUCTURE | IMAP_FI_RFC822_HEADER |
	    IMAP_FI_RFC822_TEXT)) != 0;
	fetch_sections_build(st);
	for (i = 0; i < st->nsecs; i++) {
		const struct imap_section *sec = st->secs[i].sec;

		if (sec->depth > 0 || sec->kind != IMAP_SECTION_ALL ||
		    sec->binary || sec->binary_size)
			st->want_meta = 1;
		if (st->secs[i].sets_seen)
			st->set_seen = 1;
	}
	if (st->nsecs > 0)
		st->piece = xmalloc(FETCH_PIECE);
	if (st->f.vanished && fetch_vanished(s, &set, st->f.changedsince) ==
	    -1) {
		imap_no_err(s);
		fetch_free(st);
		return;
	}
	if (st->set_seen && !s->view->readonly && st->n > 0) {
		st->seen = xcalloc(st->n, sizeof(*st->seen));
		st->seen_modseq = xcalloc(st->n, sizeof(*st->seen_modseq));
		sx.s = s;
		sx.st = st;
		if (store_write(s->srv->store, fetch_seen_txn, &sx) == -1) {
			log_warnx("conn %lu: FETCH \\Seen: %s", s->id,
			    err_msg());
			imap_no_err(s);
			fetch_free(st);
			return;
		}
		for (i = 0; i < st->nseen; i++)
			imap_view_note_own(s->view, st->seen_modseq[i]);
	}
	fetch_run(s, st);
}

/* STORE ----------------------------------------------------------- */

struct store_res {
	uint32_t	uid;
	uint32_t	flags;
	uint64_t	modseq;
	int		changed;
	char		keywords[STORE_KEYWORDS_MAX + 1];
};

struct store_ctx {
	struct imap_session	*s;
	const struct imap_store	*req;
	const uint32_t		*uids;
	size_t			 n;
	struct store_res	*res;
	size_t			 nres;
	uint32_t		*failed;	/* UNCHANGEDSINCE */
	size_t			 nfailed;
	int			 expunged;
};

static int
store_cmd_txn(struct store_txn *t, void *arg)
{
	struct store_ctx *sc = arg;
	const struct imap_store *req = sc->req;
	uint32_t mb = sc->s->view->mailbox_id;
	const char *kw = req->flags.keywords;
	struct store_res *r;
	struct store_msg m;
	size_t i;
	int rc;

	sc->nres = sc->nfailed = 0;
	sc->expunged = 0;
	if (req->mode != STORE_FLAGS_SET && kw[0] == '\0')
		kw = NULL;
	for (i = 0; i < sc->n; i++) {
		if (imap_view_is_gone(sc->s->view, sc->uids[i])) {
			sc->expunged++;
			continue;
		}
		if ((rc = store_msg_get(t, mb, sc->uids[i], &m)) == -1)
			return -1;
		if (rc == 0) {
			sc->expunged++;
			continue;
		}
		if (req->unchangedsince_set && m.modseq > req->unchangedsince) {
			sc->failed[sc->nfailed++] = m.uid;
			continue;
		}
		r = &sc->res[sc->nres++];
		r->uid = m.uid;
		if (store_msg_set_flags(t, mb, m.uid, req->mode,
		    req->flags.flags, kw) == -1)
			return -1;
		r->changed = 0;
		r->modseq = m.modseq;
		if (store_msg_get(t, mb, m.uid, &m) != 1)
			return err_set(ERR_CORRUPT, "uid %u vanished in a "
			    "write transaction", r->uid);
		r->changed = m.modseq != r->modseq;
		r->modseq = m.modseq;
		r->flags = m.flags;
		memcpy(r->keywords, m.keywords, sizeof(r->keywords));
	}
	return 0;
}

void
imap_cmd_store(struct imap_session *s, struct imap_cmd *cmd)
{
	struct imap_view *v = s->view;
	struct imap_seqset set;
	struct imap_store req;
	struct store_ctx sc;
	struct store_res *r;
	uint32_t *list;
	size_t i;
	int condstore, send_uid, rev1 = !(s->enabled & IMAP_EN_REV2);

	memset(&req, 0, sizeof(req));
	if (imap_p_sp(&cmd->p) == -1 || imap_p_seqset(&cmd->p, &set) == -1 ||
	    imap_p_store(&cmd->p, &req) == -1) {
		imap_bad(s, "%s", cmd->p.err != NULL ? cmd->p.err :
		    "Invalid arguments.");
		return;
	}
	if (v->readonly) {
		imap_no(s, NULL, "Mailbox is read-only.");
		return;
	}
	memset(&sc, 0, sizeof(sc));
	sc.s = s;
	sc.req = &req;
	if (imap_view_resolve(v, &set, cmd->uid, &list, &sc.n) == -1) {
		imap_bad(s, "%s", err_msg());
		return;
	}
	sc.uids = list;
	if (req.unchangedsince_set)
		fetch_condstore_enable(s);
	sc.res = xcalloc(sc.n + 1, sizeof(*sc.res));
	sc.failed = xcalloc(sc.n + 1, sizeof(*sc.failed));
	if (sc.n > 0 && store_write(s->srv->store, store_cmd_txn, &sc) == -1) {
		log_warnx("conn %lu: STORE: %s", s->id, err_msg());
		imap_no_err(s);
		goto out;
	}
	condstore = (s->enabled & IMAP_EN_CONDSTORE) != 0;
	send_uid = cmd->uid || (s->enabled & IMAP_EN_QRESYNC);
	for (i = 0; i < sc.nres; i++) {
		r = &sc.res[i];
		if (r->changed)
			imap_view_note_own(v, r->modseq);
		if (req.silent && !(r->changed && req.unchangedsince_set))
			continue;
		imap_buf_printf(&s->out, "* %u FETCH (", imap_view_seq(v,
		    r->uid));
		if (!req.silent) {
			imap_buf_adds(&s->out, "FLAGS ");
			imap_flags_format(&s->out, r->flags, r->keywords,
			    rev1 && imap_view_is_recent(v, r->uid));
		}
		if (send_uid)
			imap_buf_printf(&s->out, "%sUID %u", req.silent ? "" :
			    " ", r->uid);
		if (condstore)
			imap_buf_printf(&s->out, "%sMODSEQ (%" PRIu64 ")",
			    req.silent && !send_uid ? "" : " ", r->modseq);
		imap_buf_adds(&s->out, ")\r\n");
		if (s->out.len >= FETCH_BATCH_OUT)
			fetch_flush(s);
	}
	fetch_flush(s);
	if (sc.nfailed > 0) {
		struct imap_buf code;

		if (!cmd->uid)
			for (i = 0; i < sc.nfailed; i++)
				sc.failed[i] = imap_view_seq(v, sc.failed[i]);
		imap_buf_init(&code);
		imap_buf_adds(&code, "MODIFIED ");
		imap_buf_uidset(&code, sc.failed, sc.nfailed);
		imap_buf_add(&code, "", 1);
		imap_ok(s, code.p, "Conditional STORE failed.");
		imap_buf_free(&code);
	} else if (sc.expunged)
		imap_no(s, "EXPUNGEISSUED", "Some of the messages no longer "
		    "exist.");
	else
		imap_ok(s, NULL, "Store completed.");
out:
	free(list);
	free(sc.res);
	free(sc.failed);
}
