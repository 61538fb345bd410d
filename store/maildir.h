/*
 * maildir.h - what a Maildir view of the store needs: the info letters of
 * a message (":2,<letters>") and each mailbox's keyword letters.
 *
 * Letters: D draft, F flagged, P passed (the keyword $Forwarded), R
 * replied (\Answered), S seen, T trashed (\Deleted), then a-z for
 * keywords, all in ASCII order (mail/maildir.h).
 *
 * Keyword letters are Dovecot's `dovecot-keywords`: every mailbox keeps the
 * keywords ever used in it, in the order they were first used; the first
 * STORE_MAILDIR_KW_MAX of them get the letters a, b, c, ... and keep them
 * for the life of the mailbox (a letter never changes meaning, so file
 * names stay stable across restarts).  $Forwarded is never on the list (it
 * is P).  The list is kept by the message functions themselves:
 * store_msg_append(), store_msg_copy(), store_msg_move() and
 * store_msg_set_flags() add a keyword the target mailbox has not seen yet,
 * in the same transaction (one small record per mailbox, table
 * `maildirkw`, written only when a new keyword appears).  Deleting a
 * mailbox deletes its list; renaming keeps it.  Stores made before the
 * table existed get their lists built by the schema 3 upgrade (from the
 * keywords of the messages, in uid order).
 */
#ifndef VELLUM_STORE_MAILDIR_H
#define VELLUM_STORE_MAILDIR_H

#include <stdint.h>

#include "message.h"
#include "store.h"

/* Keywords that get a letter: a..z. */
#define STORE_MAILDIR_KW_MAX	26
/* Longest info string with its NUL: 6 flag letters + 26 keyword letters. */
#define STORE_MAILDIR_INFO_MAX	(6 + STORE_MAILDIR_KW_MAX + 1)

/*
 * The keyword list of a mailbox: the names space-separated in letter
 * order ("$Junk work" means a = $Junk, b = work).  *list_r is malloc'd
 * ("" when the mailbox has none yet); the caller frees it.  At most
 * STORE_MAILDIR_KW_MAX names.  1 found, 0 no such mailbox.
 */
int	store_maildir_keywords(struct store_txn *, uint32_t mailbox_id,
	    char **list_r);

/*
 * The info letters of a message with these flags (STORE_F_*) and keywords
 * (space-separated, may be NULL) in a mailbox whose list is kwlist:
 * writes them into buf in ASCII order and returns buf.  A keyword without
 * a letter (not on the list, or past the 26th) is left out.
 */
char	*store_maildir_info(uint32_t flags, const char *keywords,
	    const char *kwlist, char buf[STORE_MAILDIR_INFO_MAX]);

/*
 * The reverse: letters ("FSa") -> *flags_r (STORE_F_*) and keywords_r
 * (space-separated names, "" when none; P gives $Forwarded).  Letters that
 * mean nothing (unknown upper-case letters, a keyword letter past the end
 * of kwlist) are ignored, as Dovecot does.
 */
void	store_maildir_info_parse(const char *letters, const char *kwlist,
	    uint32_t *flags_r, char keywords_r[STORE_KEYWORDS_MAX + 1]);

#endif
