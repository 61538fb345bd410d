/*
 * imapmsg.h - what IMAP needs to know about a message, computed once.
 *
 * imap_msg_meta_build() parses a message (headers, MIME tree, RFC 2047
 * words) and writes a compact, self-contained record: the ENVELOPE,
 * BODYSTRUCTURE and BODY responses exactly as FETCH sends them, the keys
 * SORT and THREAD use, and a table of MIME parts with their byte ranges,
 * so that FETCH BODY[1.2.MIME] is a range read of the stored bytes.  The
 * store keeps this record beside the body (computed at delivery, outside
 * any write transaction), so FETCH never re-parses a message.
 *
 * Pure functions over bytes: no I/O.  Line ends may be CRLF, LF or mixed:
 * every size IMAP shows (BODYSTRUCTURE sizes and line counts, section
 * lengths) counts a bare LF as CRLF, because that is how imapd sends the
 * bytes.  Malformed mail never fails: it yields what Dovecot 2.3 answers
 * for it (a missing Content-Type is text/plain us-ascii; Content-* fields
 * count only with MIME-Version or Content-Type, or inside a multipart; a
 * multipart without a boundary parameter is a leaf of its type; a
 * multipart without parts shows one empty text/plain part).
 *
 * Strings in ENVELOPE and BODYSTRUCTURE are quoted, or literals
 * ("{n}\r\n...") when they hold CR, LF, NUL or 8-bit bytes or more than
 * four characters to escape (a NUL goes as 0x80); NIL when absent.  The
 * subject and display names are "for humans": runs of white space become
 * one space, leading and trailing space go.  The record is the same for
 * every client; a UTF8=ACCEPT session may send it as it is.
 */
#ifndef VELLUM_MAIL_IMAPMSG_H
#define VELLUM_MAIL_IMAPMSG_H

#include <stddef.h>
#include <stdint.h>

/* Deepest MIME nesting described (deeper parts are leaves). */
#define IMAP_MSG_DEPTH_MAX	32
/* Most parts in the table (further parts are not addressable). */
#define IMAP_MSG_PARTS_MAX	10000
/* Longest section path ("1.2.3..."): at most this many numbers. */
#define IMAP_SECTION_DEPTH_MAX	IMAP_MSG_DEPTH_MAX

/* Record format version (first byte of a record). */
#define IMAP_META_VERSION	1

/*
 * One MIME part.  Offsets are into the stored (raw) message bytes;
 * *_crlf are the lengths of the same ranges with every bare LF counted
 * as CRLF.  Part 0 is the message itself.
 */
struct imap_part {
	uint64_t	hdr_off;	/* first byte of the part's header */
	uint64_t	body_off;	/* first byte after the blank line
					   (== hdr_off for a multipart's
					   child with no header) */
	uint64_t	end;		/* one past the part's last byte */
	uint64_t	hdr_crlf;	/* header incl. the blank line */
	uint64_t	body_crlf;	/* body */
	uint32_t	parent;		/* index of the parent, 0 for part 0 */
	uint32_t	nchildren;	/* subparts (multipart) or 1 for a
					   message/rfc822 (its message) */
	uint32_t	first_child;	/* index of the first child */
	uint32_t	next;		/* index of the next sibling, 0 none */
	uint8_t		is_multipart;
	uint8_t		is_message;	/* message/rfc822 (as Dovecot 2.3,
					   message/global is a leaf) */
};

/*
 * A parsed record: every pointer points into the record's bytes, which
 * must stay valid as long as the view is used.  Strings are not
 * NUL-terminated: use the lengths.
 */
struct imap_meta {
	/* FETCH answers, exactly as sent (parenthesised lists) */
	const char	*envelope;
	size_t		 envelope_len;
	const char	*bodystructure;	/* with extension data */
	size_t		 bodystructure_len;
	const char	*body;		/* BODY: without extension data */
	size_t		 body_len;
	/*
	 * SORT (RFC 5256) keys, UTF-8, decoded from RFC 2047.  The base
	 * subject and display names keep their case: the caller compares
	 * them with its collation (i;ascii-casemap by default).
	 */
	int64_t		 date;		/* Date: header as UTC seconds, 0 when
					   missing or unparsable */
	const char	*base_subject;	/* RFC 5256 base subject */
	size_t		 base_subject_len;
	int		 subject_is_reply; /* "Re:"/"Fwd:" or [fwd] removed */
	const char	*from_mailbox;	/* first From: addr-mailbox, lower
					   case (ASCII); "" when none */
	size_t		 from_mailbox_len;
	const char	*from_display;	/* RFC 5957 display name, else addr */
	size_t		 from_display_len;
	const char	*to_mailbox;
	size_t		 to_mailbox_len;
	const char	*to_display;
	size_t		 to_display_len;
	const char	*cc_mailbox;
	size_t		 cc_mailbox_len;
	/* THREAD (RFC 5256) */
	const char	*message_id;	/* without <>, "" when none/invalid */
	size_t		 message_id_len;
	const char	*references;	/* the message-ids of References: (or
					   In-Reply-To: when there is none),
					   without <>, separated by one
					   space, oldest first */
	size_t		 references_len;
	/* the MIME part table, in depth-first order */
	size_t		 nparts;
	const uint8_t	*parts_raw;	/* decode with imap_meta_part() */
};

/*
 * Builds the record for a message of len bytes.  *meta_r is malloc'd
 * (the caller frees it), *metalen_r its length.  Never fails on content;
 * 0 always (allocation failure aborts).
 */
int	imap_msg_meta_build(const void *msg, size_t len, void **meta_r,
	    size_t *metalen_r);

/*
 * Parses a record into a view.  0 ok, -1 (err ERR_CORRUPT) when the
 * bytes are not a record of a version this code reads.
 */
int	imap_meta_parse(const void *meta, size_t len, struct imap_meta *r);

/* Part i (0 <= i < nparts) of a parsed record. */
void	imap_meta_part(const struct imap_meta *, size_t i,
	    struct imap_part *r);

/* The kinds of body section of RFC 3501 FETCH BODY[...]. */
enum imap_section_kind {
	IMAP_SECTION_ALL,	/* BODY[] or BODY[1.2]: the part's content */
	IMAP_SECTION_HEADER,	/* HEADER (and HEADER.FIELDS[.NOT]) */
	IMAP_SECTION_TEXT,	/* TEXT */
	IMAP_SECTION_MIME,	/* MIME: the part's own header */
};

/*
 * Resolves a section: path holds depth part numbers (depth 0 is the
 * whole message).  For a numbered part ALL is the part body; HEADER and
 * TEXT apply to the message a message/rfc822 part encapsulates (or to the
 * whole message at depth 0).  Fills the raw byte range [*off_r, *end_r)
 * and its CRLF length *crlf_len_r.  1 found; 0 no such part (IMAP answers
 * an empty string then), also for HEADER/TEXT of a part that is not a
 * message, and MIME at depth 0.
 */
int	imap_meta_section(const struct imap_meta *, const uint32_t *path,
	    size_t depth, enum imap_section_kind, uint64_t *off_r,
	    uint64_t *end_r, uint64_t *crlf_len_r);

/*
 * The part a section path names (depth 0: the message, part 0), as
 * imap_meta_section() resolves it: *idx_r is its index for
 * imap_meta_part().  1 found, 0 no such part.  For FETCH BINARY, which
 * decodes the part and the parts inside it.
 */
int	imap_meta_find(const struct imap_meta *, const uint32_t *path,
	    size_t depth, size_t *idx_r);

/*
 * The ranges of a header block (from imap_meta_section(HEADER or MIME))
 * whose field names are (not, when exclude) in the list names[n] (any
 * case; blanks before the colon allowed): calls fn for each whole field
 * (name through the line end of its last continuation line, raw: the
 * line ends are as stored) in order, then the caller adds the blank line.
 * Lines without a colon are no field; the blank line ends the block.
 * Pure over the header bytes.
 */
typedef void imap_field_fn(const char *field, size_t len, void *ctx);
void	imap_header_fields(const char *hdr, size_t len,
	    const char *const *names, const size_t *namelens, size_t n,
	    int exclude, imap_field_fn *fn, void *ctx);

/*
 * Decodes RFC 2047 encoded words of a header value into UTF-8, unfolding
 * it (CR and LF removed); white space between two encoded words goes.
 * Words in an unknown charset, or broken, are kept as they are; bytes
 * outside words are copied.  *out_r is malloc'd and NUL-terminated.  For
 * SEARCH on headers and for the sort keys.  Thread-safe: the process
 * keeps a few iconv converters (opening one costs ~100 us), one thread
 * at a time uses them.
 */
void	imap_header_decode(const char *value, size_t len, char **out_r,
	    size_t *outlen_r);

/*
 * Parses an RFC 5322 date (with the obsolete forms: two-digit years,
 * named zones, missing seconds, comments, '-' between the date fields)
 * into UTC seconds.  1 ok, 0 unparsable.  *tz_r (may be NULL) gets the
 * zone offset in minutes; military and unknown zones are -0000 (0).
 */
int	imap_date_parse(const char *s, size_t len, int64_t *utc_r,
	    int *tz_r);
/*
 * The month (0 for January .. 11) whose English three-letter name, in
 * any case, is the 3 bytes at s (s must have 3); -1 when none is.
 */
int	imap_date_month(const char *s);
/* Days since 1970-01-01 of the proleptic Gregorian y-m-d (m 1..12). */
int64_t	imap_date_days(int64_t y, unsigned m, unsigned d);

#endif
