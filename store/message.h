/*
 * message.h - messages in mailboxes.
 *
 * A message is a row (mailbox id, uid) pointing at a body; a body is a
 * list of content-addressed segments (header block, large MIME part
 * bodies, the rest), each a zstd-compressed, deduplicated blob.  Copy and
 * move add rows, never bytes.  The bytes read back are exactly the bytes
 * appended.
 *
 * Hashing, cutting and compressing happen in store_msg_prepare(), outside
 * any write transaction; store_msg_append() only links and counts.
 */
#ifndef VELLUM_STORE_MESSAGE_H
#define VELLUM_STORE_MESSAGE_H

#include "store.h"

/* System flags */
#define STORE_F_SEEN		0x01
#define STORE_F_ANSWERED	0x02
#define STORE_F_FLAGGED		0x04
#define STORE_F_DELETED		0x08
#define STORE_F_DRAFT		0x10
#define STORE_F_ALL		0x1f

/*
 * Keywords: space-separated atoms, at most this many bytes in all (a row
 * must fit LMDB's 511-byte limit on sorted duplicate values).
 */
#define STORE_KEYWORDS_MAX	400
/* Largest message the store accepts (a limit on memory, not policy). */
#define STORE_MSG_MAX		(1ULL << 30)

#define STORE_HASH_LEN		32
/* Segments are at most this long (larger parts are cut in pieces). */
#define STORE_SEG_MAX		(1024 * 1024)

struct store_msg {
	uint32_t	mailbox_id;
	uint32_t	uid;
	uint64_t	body;		/* body id (shared by copies) */
	int64_t		internal_date;
	uint64_t	size;
	/*
	 * Size with every bare LF written as CRLF (what IMAP's RFC822.SIZE
	 * and POP3's LIST count), and whether the message lacks a final
	 * line end (POP3 then sends one more CRLF before the ".").
	 */
	uint64_t	crlf_size;
	int		no_final_newline;
	/*
	 * The file view shows it in cur/ although no IMAP session took it as
	 * \Recent yet: a Maildir program moved it out of new/ (or stored it
	 * straight into cur/).  Nothing else looks at it.
	 */
	int		maildir_cur;
	uint32_t	flags;
	uint64_t	modseq;
	char		keywords[STORE_KEYWORDS_MAX + 1];
};

struct store_prepared;

/*
 * Cuts, hashes and compresses a message for appending.  Reads the store
 * (in its own snapshot) to skip compressing segments that already exist.
 * data is not copied: it must stay valid until store_prepared_free().
 * Never trains the zstd dictionaries: store_dict_optimize() does (dict.h).
 * Errors: TOOBIG.
 */
int	store_msg_prepare(struct store *, const void *data, size_t len,
	    struct store_prepared **r);
/*
 * The message prefix + base (both stay valid until the result is
 * freed): base's segments are reused as they are (cut, hashed and
 * compressed once), the prefix is a segment of its own.  This is how a
 * message delivered to many recipients gets per-recipient Return-Path
 * and Delivered-To lines while the rest is stored once.  The body key is
 * derived from the prefix's and base's keys.
 */
int	store_msg_prepare_prefix(struct store *, struct store_prepared *base,
	    const void *prefix, size_t prefix_len, struct store_prepared **r);
void	store_prepared_free(struct store_prepared **);
size_t	store_prepared_size(const struct store_prepared *);

/* store_msg_append() flags */
#define STORE_APPEND_QUOTA	0x01	/* refuse (NOQUOTA) when over quota */
#define STORE_APPEND_CUR	0x02	/* maildir_cur set (else clear; also
					   for copy and move) */

/*
 * Appends a prepared message to a mailbox with the next UID.  internal_date
 * 0 means now.  keywords may be NULL.  The same prepared message may be
 * appended to several mailboxes.  1 appended.  0 when STORE_APPEND_QUOTA
 * is given and the message does not fit: err is NOQUOTA and the user is
 * marked over quota in this transaction (commit it to keep the mark).
 * Errors: NOTFOUND (mailbox), INVALID (keywords), LIMIT (keywords too
 * long).
 */
int	store_msg_append(struct store_txn *, uint32_t mailbox_id,
	    struct store_prepared *, int64_t internal_date, uint32_t flags,
	    const char *keywords, unsigned append_flags, uint32_t *uid_r);
/*
 * store_msg_append() at a given UID, for imports that keep another
 * server's UIDs (mailbox.h: store_mailbox_set_uidvalidity()).  uid must
 * not be below the mailbox's UIDNEXT (UIDs are never given twice, not
 * even those of expunged messages); UIDNEXT becomes uid + 1.  1 appended
 * (or 0 for quota, as above).  Errors: those of store_msg_append(),
 * EXISTS (uid below UIDNEXT), INVALID (uid 0), LIMIT (uid UINT32_MAX).
 */
int	store_msg_append_uid(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uid, struct store_prepared *, int64_t internal_date,
	    uint32_t flags, const char *keywords, unsigned append_flags);
/*
 * Sets maildir_cur to cur (the file view moved the message from new/ to
 * cur/: 1; back into new/: 0).  Not a change IMAP sees: no modseq, no
 * notification.  1 done, 0 no such message.
 */
int	store_msg_set_maildir_cur(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uid, int cur);
/* 1 found, 0 not. */
int	store_msg_get(struct store_txn *, uint32_t mailbox_id, uint32_t uid,
	    struct store_msg *r);
/*
 * Whether message m holds exactly the prepared bytes (bodies are
 * content-addressed: the same SHA-256): 1 yes, 0 no.  For an import run
 * again, to tell a message it placed before from another one.
 */
int	store_msg_same_body(struct store_txn *, const struct store_msg *m,
	    const struct store_prepared *);

typedef int store_msg_fn(const struct store_msg *, void *ctx);
/* Messages with uid >= first_uid in uid order; stops when fn returns -1. */
int	store_msg_list(struct store_txn *, uint32_t mailbox_id,
	    uint32_t first_uid, store_msg_fn *fn, void *ctx);
/*
 * The same without size, crlf_size and no_final_newline (0): they are
 * in the body record, one more lookup a message (SELECT of 37,000
 * messages: 2 ms without, 9 ms with).
 */
int	store_msg_list_rows(struct store_txn *, uint32_t mailbox_id,
	    uint32_t first_uid, store_msg_fn *fn, void *ctx);

/*
 * Reads the whole message into a malloc'd buffer.  1 read, 0 no such
 * message.  Errors: CORRUPT (a blob is missing or fails its checksum).
 */
int	store_msg_read(struct store_txn *, uint32_t mailbox_id, uint32_t uid,
	    void **data_r, size_t *len_r);
/*
 * Reads len bytes from offset off into buf; *len_r gets how many were
 * read (less at the end of the message).  Decompresses only the segments
 * the range touches.  1 read, 0 no such message.
 */
int	store_msg_read_range(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uid, uint64_t off, size_t len, void *buf, size_t *len_r);
/* Reads a body by key (store check, export). */
int	store_body_read(struct store_txn *, uint64_t body,
	    void **data_r, size_t *len_r);

enum store_flag_mode { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
/*
 * Changes flags and keywords (keywords NULL: leave them alone in ADD and
 * REMOVE mode, clear them in SET mode).  Bumps the modseq when anything
 * changed.  1 done, 0 no such message.
 */
int	store_msg_set_flags(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uid, enum store_flag_mode, uint32_t flags,
	    const char *keywords);
/*
 * Copies a message (a new row, the body's refcount + 1, no bytes).  The
 * target may belong to another user; its usage grows.  1 done, 0 no such
 * message.  With STORE_APPEND_QUOTA a copy that does not fit fails with
 * NOQUOTA (-1: nothing is kept, not even the over-quota mark).
 */
int	store_msg_copy(struct store_txn *, uint32_t src_mailbox, uint32_t uid,
	    uint32_t dst_mailbox, unsigned append_flags, uint32_t *uid_r);
/*
 * Copy then expunge the source, in the same transaction.  Errors:
 * INVALID (source and target are the same mailbox).
 */
int	store_msg_move(struct store_txn *, uint32_t src_mailbox, uint32_t uid,
	    uint32_t dst_mailbox, uint32_t *uid_r);
/*
 * Removes a message; its body and blobs go when nothing refers to them.
 * The mailbox's modseq moves and the expunge is logged with it (for
 * QRESYNC's VANISHED and for sessions catching up).
 */
int	store_msg_expunge(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uid);

/* IMAP ------------------------------------------------------------ */

/*
 * The IMAP record of a message's body (mail/imapmsg.h: ENVELOPE,
 * BODYSTRUCTURE, sort keys, part table), computed by store_msg_prepare()
 * and stored with the body (zstd at a fast level, in pieces of table
 * `imapmeta`: one cursor walk and one decompression, ~3 us).  *meta_r is malloc'd (caller frees).  For a
 * body stored before records existed it is computed from the bytes now
 * (and not stored: this may run in a read transaction).  1 done, 0 no
 * such body.  Errors: CORRUPT.
 */
int	store_body_meta(struct store_txn *, uint64_t body, void **meta_r,
	    size_t *len_r);

/*
 * Rows whose modseq is above since, in uid order (CONDSTORE CHANGEDSINCE,
 * a session catching up on flag changes).  fn returning -1 stops (and
 * -1 is returned).  Cost: nothing when the mailbox's highestmodseq is not
 * above since; otherwise one scan of all the mailbox's rows (~45 bytes
 * each; no body, record or message bytes are read).
 */
int	store_msg_changed_since(struct store_txn *, uint32_t mailbox_id,
	    uint64_t since, store_msg_fn *fn, void *ctx);

/*
 * Expunges logged with a modseq above since, in modseq order: fn(uid,
 * modseq, ctx); -1 from fn stops.  1 done; 0 when the log no longer
 * reaches back to since (since < the mailbox's expunge_floor): the
 * caller must then compare UIDs itself.  The log keeps at least the last
 * STORE_EXPUNGE_LOG_MIN expunges of each mailbox and everything younger
 * than STORE_EXPUNGE_LOG_DAYS days; older entries are pruned as new
 * expunges are logged (the horizon RFC 7162 lets a server have).
 */
#define STORE_EXPUNGE_LOG_MIN	10000
#define STORE_EXPUNGE_LOG_DAYS	30
typedef int store_expunged_fn(uint32_t uid, uint64_t modseq, void *ctx);
int	store_msg_expunged_since(struct store_txn *, uint32_t mailbox_id,
	    uint64_t since, store_expunged_fn *fn, void *ctx);

#endif
