/*
 * search.h - evaluating SEARCH criteria on one message, pure.
 *
 * A parsed search (parse.h) is compiled once per command against the
 * state of the selected mailbox ('*' in sets, the saved result "$", the
 * clock for OLDER/YOUNGER): needles are case-folded, sequence and UID sets
 * become sorted, merged ranges.  The compiled program is then evaluated
 * on one message at a time, in stages, so that the cheap keys decide
 * first: the caller fills a struct imap_search_msg with what the msgs row
 * gives (flags, uid, size, dates, modseq) and calls imap_search_match();
 * IMAP_SM_MAYBE means the answer depends on something not loaded yet (the
 * IMAP record's sent date, the header block, the decoded text), and the
 * caller loads the next stage it needs and asks again.  A message that a
 * flag or a date rules out is never read.
 *
 * Text matching (HEADER, FROM, SUBJECT, ..., BODY, TEXT) is a substring
 * search after decoding (RFC 2047 words in headers; base64 and
 * quoted-printable transfer encodings and the charset of text parts
 * converted to UTF-8 with iconv(3)) and case folding both sides with
 * imap_fold() (fold.h: ASCII, Latin, Greek and Cyrillic letters).
 *
 * What is searched: HEADER/FROM/... the named fields of the message's
 * own header block (every occurrence; an empty string matches when the
 * field exists).  BODY: the bodies of the text (text/...) leaf parts at any
 * depth (attachments of other types are not read).  TEXT: BODY plus the
 * header blocks of every part (the message's, MIME part headers and
 * those of attached messages).
 */
#ifndef VELLUM_IMAP_SEARCH_H
#define VELLUM_IMAP_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "mail/imapmsg.h"
#include "imapd/buf.h"
#include "imapd/parse.h"

/* What a program needs beyond the msgs row (imap_search_prog_needs()). */
#define IMAP_SN_DATE	0x01	/* sent_date: the IMAP record (SENT*) */
#define IMAP_SN_HEADER	0x02	/* the message's header block */
#define IMAP_SN_TEXT	0x04	/* decoded headers of every part (TEXT) */
#define IMAP_SN_BODY	0x08	/* decoded text bodies (BODY, TEXT) */

/*
 * SEARCH, SORT and THREAD walk a mailbox in slices: at most this many
 * messages, and no longer than this, per event-loop turn (each slice in
 * its own read transaction), so a search of a big mailbox does not
 * stall the other sessions of the process.
 */
#define IMAP_SEARCH_SLICE	500
#define IMAP_SEARCH_SLICE_USEC	10000

/* The state of the mailbox a program is compiled against. */
struct imap_search_env {
	uint32_t	 nmsgs;		/* '*' as a sequence number */
	uint32_t	 max_uid;	/* '*' as a UID */
	const uint32_t	*saved;		/* "$" (SEARCHRES): uids, sorted */
	size_t		 nsaved;
	int64_t		 now;		/* OLDER, YOUNGER */
};

struct imap_search_prog;

/*
 * Compiles a parsed search (root: the AND of the keys).  The program
 * copies what it needs: the parser and env may go afterwards.  Never
 * fails (the parser has checked every limit).
 */
struct imap_search_prog *imap_search_compile(
	    const struct imap_search_key *root,
	    const struct imap_search_env *env);
void	imap_search_prog_free(struct imap_search_prog **);
/* IMAP_SN_* bits for the stages some key may need. */
unsigned imap_search_prog_needs(const struct imap_search_prog *);

/* One message as far as it is loaded (have: IMAP_SN_* that are set). */
struct imap_search_msg {
	uint32_t	 seq;
	uint32_t	 uid;
	uint32_t	 flags;		/* STORE_F_* */
	const char	*keywords;	/* space-separated, "" none */
	int		 recent;
	uint64_t	 size;		/* RFC822.SIZE */
	int64_t		 internal_date;
	uint64_t	 modseq;
	unsigned	 have;
	int64_t		 sent_date;	/* IMAP_SN_DATE: imap_search_sent_local() */
	const char	*header;	/* IMAP_SN_HEADER: raw header block */
	size_t		 header_len;
	const char	*text;		/* IMAP_SN_TEXT: folded headers */
	size_t		 text_len;
	const char	*body;		/* IMAP_SN_BODY: folded bodies */
	size_t		 body_len;
};

#define IMAP_SM_NO	0
#define IMAP_SM_YES	1
#define IMAP_SM_MAYBE	2	/* load more (the stages in needs) */

/* IMAP_SM_YES, IMAP_SM_NO, or IMAP_SM_MAYBE when a stage is missing. */
int	imap_search_match(const struct imap_search_prog *,
	    const struct imap_search_msg *);

/*
 * The sent date for SENT*: the Date: header's time in its own zone
 * (UTC seconds plus the zone's offset, so that its UTC day is the day
 * written in the header), from the record's ENVELOPE; without a
 * parsable Date:, the internal date (as RFC 5256's sent date).
 */
int64_t	imap_search_sent_local(const struct imap_meta *,
	    int64_t internal_date);

/*
 * Reads len bytes of the message from offset off into buf (*len_r: how
 * many there were).  1 read, 0 the message is gone, -1 error (err set).
 */
typedef int imap_search_read_fn(void *ctx, uint64_t off, size_t len,
	    void *buf, size_t *len_r);

/*
 * Builds the searchable text of a message from its IMAP record (the
 * part table): with IMAP_SN_TEXT in want, the decoded, folded header
 * fields of every part into text ("name: value" lines); with
 * IMAP_SN_BODY, the decoded, folded bodies of the text parts into body.
 * The buffers filled are reset first; the other is left alone.  Reads only the part headers and the
 * text bodies through read.  1 done, 0 gone, -1 error (read's).
 */
int	imap_search_text(const struct imap_meta *, unsigned want,
	    imap_search_read_fn *read, void *ctx, struct imap_buf *text,
	    struct imap_buf *body);

/* Pieces, for the text builder, SORT/THREAD and the tests ------------- */

/* Decodes a transfer encoding ("base64", "quoted-printable"; any other
 * is copied) and appends the result to out. */
void	imap_search_decode_cte(const char *cte, const char *s, size_t len,
	    struct imap_buf *out);
/* Converts s from charset to UTF-8 (UTF-8, US-ASCII, unknown charsets
 * and "": copied) and appends it folded to out. */
void	imap_search_fold_charset(const char *charset, const char *s,
	    size_t len, struct imap_buf *out);

/*
 * A sequence set as sorted, merged ranges (*r_r malloc'd): '*' is star,
 * "$" the saved UIDs (sorted).  Ranges are [lo, hi] with lo <= hi.
 */
void	imap_seqset_ranges(const struct imap_seqset *, uint32_t star,
	    const uint32_t *saved, size_t nsaved, struct imap_seq_range **r_r,
	    size_t *n_r);
/* Whether v is in sorted, merged ranges: a binary search. */
int	imap_ranges_have(const struct imap_seq_range *, size_t, uint32_t v);

#endif
