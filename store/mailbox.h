/*
 * mailbox.h - a user's folders.
 *
 * Names use '/' as the hierarchy separator and are UTF-8 as the client
 * gave them (IMAP's modified UTF-7 is decoded by imapd).  "INBOX" is
 * matched without regard to case.  Every mailbox has its own UIDVALIDITY,
 * UIDNEXT and HIGHESTMODSEQ; counters (messages, unseen, bytes) are exact.
 */
#ifndef VELLUM_STORE_MAILBOX_H
#define VELLUM_STORE_MAILBOX_H

#include "store.h"

#define STORE_MAILBOX_NAME_MAX	512
#define STORE_MAILBOX_SEP	'/'

/* special-use attributes (RFC 6154) */
#define STORE_SPECIAL_ALL	0x01
#define STORE_SPECIAL_ARCHIVE	0x02
#define STORE_SPECIAL_DRAFTS	0x04
#define STORE_SPECIAL_FLAGGED	0x08
#define STORE_SPECIAL_JUNK	0x10
#define STORE_SPECIAL_SENT	0x20
#define STORE_SPECIAL_TRASH	0x40

struct store_mailbox {
	uint32_t	id;
	uint32_t	user_id;
	char		name[STORE_MAILBOX_NAME_MAX + 1];
	uint32_t	uidvalidity;
	uint32_t	uidnext;
	uint64_t	highestmodseq;
	uint32_t	messages;
	uint32_t	unseen;
	uint64_t	bytes;
	uint32_t	special_use;
	int		subscribed;
	/*
	 * \Recent (RFC 3501): messages with uid >= recent_uid have not been
	 * seen by any session that selected the mailbox read-write yet.
	 */
	uint32_t	recent_uid;
	/*
	 * The expunge log (store_msg_expunged_since()) holds every expunge
	 * with a modseq above this; older ones were pruned (0: none ever).
	 */
	uint64_t	expunge_floor;
	/*
	 * How POP3 spells the UIDLs of its messages (STORE_UIDL_*): a
	 * mailbox imported with the UIDs of another server keeps that
	 * server's UIDLs, so "leave on server" clients fetch nothing twice.
	 */
	unsigned	pop3_uidl;
};

/* store_mailbox.pop3_uidl */
#define STORE_UIDL_VELLUM	0	/* "<uidvalidity>.<uid>" (decimal) */
#define STORE_UIDL_DOVECOT	1	/* Dovecot's default %08Xu%08Xv */
#define STORE_UIDL_COURIER	2	/* Courier's UID%u-%v */
#define STORE_UIDL_MAX		2

/*
 * Room an import must leave (store_mailbox_set_uidvalidity(), and the
 * next UID a kept UID list gives): a mailbox needs UIDs for new mail,
 * and every mailbox created later needs a UIDVALIDITY above the highest
 * ever given, so neither may start within this many of 2^32.
 */
#define STORE_UID_HEADROOM	0x1000000u	/* 16M */
#define STORE_UIDVALIDITY_KEEP_MAX	(UINT32_MAX - STORE_UID_HEADROOM)
#define STORE_UIDNEXT_KEEP_MAX		(UINT32_MAX - STORE_UID_HEADROOM)

/*
 * The folders every user has from the start (created with the user, and
 * for older stores on upgrade): INBOX, then these, with their RFC 6154
 * attributes.  "Spam" is \Junk: the folder the hosting seeds' spam rules
 * file into.
 */
#define STORE_DEFAULT_FOLDERS	{ \
	{ "Sent", STORE_SPECIAL_SENT }, { "Drafts", STORE_SPECIAL_DRAFTS }, \
	{ "Trash", STORE_SPECIAL_TRASH }, { "Spam", STORE_SPECIAL_JUNK }, \
	{ "Archive", STORE_SPECIAL_ARCHIVE } }
/*
 * Creates INBOX and the default folders a user lacks (an existing name is
 * kept as it is, special-use included); each new one is subscribed.  0,
 * or -1 (err set).
 */
int	store_mailbox_create_defaults(struct store_txn *, uint32_t user_id);

/*
 * Claims the \Recent messages for a session selecting the mailbox
 * read-write (a write transaction): *first_r gets the old recent_uid,
 * and recent_uid becomes uidnext, so messages in [*first_r, uidnext) are
 * recent for this session only.  1 done, 0 no such mailbox.
 */
int	store_mailbox_take_recent(struct store_txn *, uint32_t mailbox_id,
	    uint32_t *first_r, uint32_t *uidnext_r);
/*
 * (store_mailbox_take_recent() notifies the mailbox's listeners when
 * recent_uid moves: the file view shows the messages at or above it in
 * new/, and follows an IMAP SELECT.)
 */

/*
 * Creates a mailbox (parents are not created implicitly).  1 created.
 * Errors: INVALID (empty name, empty level, too long, control bytes),
 * EXISTS.
 */
int	store_mailbox_create(struct store_txn *, uint32_t user_id,
	    const char *name, uint32_t special_use, uint32_t *id_r);
/* 1 found, 0 not. */
int	store_mailbox_get(struct store_txn *, uint32_t user_id,
	    const char *name, struct store_mailbox *r);
int	store_mailbox_get_by_id(struct store_txn *, uint32_t id,
	    struct store_mailbox *r);
/*
 * Renames a mailbox and its children (new UIDVALIDITY is not needed: the
 * id, and so the UIDs, stay).  Renaming INBOX moves its messages into a
 * new mailbox and leaves INBOX empty, as RFC 3501 asks.  Errors:
 * NOTFOUND, EXISTS, INVALID.
 */
int	store_mailbox_rename(struct store_txn *, uint32_t user_id,
	    const char *oldname, const char *newname);
/*
 * Deletes a mailbox and its messages.  INBOX cannot be deleted (PERM).
 * Children stay.  1 deleted.
 */
int	store_mailbox_delete(struct store_txn *, uint32_t user_id,
	    const char *name);
int	store_mailbox_subscribe(struct store_txn *, uint32_t user_id,
	    const char *name, int subscribed);
int	store_mailbox_set_special_use(struct store_txn *, uint32_t user_id,
	    const char *name, uint32_t special_use);

/*
 * For imports that keep another server's UIDs.  Gives an empty mailbox
 * (no messages) the UIDVALIDITY uidvalidity and POP3 UIDL style
 * pop3_uidl (STORE_UIDL_*); UIDNEXT starts again at 1, as a new
 * UIDVALIDITY allows (the mailbox may have had messages, since expunged;
 * a session that has it selected sees the change as the mailbox being
 * gone).  Later mailboxes get UIDVALIDITYs above it.  Then store_msg_append_uid() places each message at its old
 * UID, and store_mailbox_raise_uidnext() sets the next UID.  1 done.
 * Errors: NOTFOUND (no such mailbox), EXISTS (it holds messages: their
 * UIDs would change meaning), INVALID (uidvalidity 0, unknown style),
 * LIMIT (uidvalidity above STORE_UIDVALIDITY_KEEP_MAX).
 */
int	store_mailbox_set_uidvalidity(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uidvalidity, unsigned pop3_uidl);
/*
 * Raises UIDNEXT to uidnext when it is below (never lowers it).  1 done.
 * Errors: NOTFOUND.
 */
int	store_mailbox_raise_uidnext(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uidnext);

typedef int store_mailbox_fn(const struct store_mailbox *, void *ctx);
/* Every mailbox of a user, in name order (byte order of the UTF-8 name). */
int	store_mailbox_list(struct store_txn *, uint32_t user_id,
	    store_mailbox_fn *fn, void *ctx);

/* Parses "\Sent" / "Sent" etc.; 0 when unknown. */
uint32_t	store_special_use_parse(const char *);
/* Writes the attribute names ("\Sent \Junk"); returns buf. */
char	*store_special_use_format(uint32_t, char *buf, size_t bufsize);

#endif
