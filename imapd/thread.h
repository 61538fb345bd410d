/*
 * thread.h - the orders of RFC 5256 (SORT) and RFC 5957 (DISPLAYFROM,
 * DISPLAYTO) and the THREAD algorithms ORDEREDSUBJECT and REFERENCES,
 * over arrays of message keys.  Pure: no I/O, no store (the key of its
 * hash tables comes from getrandom(2), once per process).
 *
 * The caller gives the messages that matched the search criteria in
 * mailbox order (ascending sequence number): that order breaks every tie
 * (RFC 5256: "sorted according to the order in which they appear in the
 * mailbox").  Strings are UTF-8 (decoded by mail/imapmsg.h) and are
 * compared with the case folding of imap_fold() (fold.h).
 *
 * Memory is proportional to the number of messages plus the length of
 * their References; time is O(n log n) plus, for REFERENCES, the depth of
 * the reference chains it walks to refuse loops (only where a link would
 * join two existing threads: a chain of new ids costs no walk).  Nothing
 * recurses, so a deep thread cannot exhaust the stack.
 */
#ifndef VELLUM_IMAP_THREAD_H
#define VELLUM_IMAP_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "imapd/buf.h"
#include "imapd/parse.h"

/* One message: the keys SORT and THREAD use (a view, nothing owned). */
struct imap_thread_msg {
	uint32_t	 id;		/* what is written: seq number or UID */
	int64_t		 arrival;	/* INTERNALDATE (ARRIVAL) */
	/* sent date (RFC 5256 2.2): the Date: header in UTC, the internal
	 * date when there is none or it cannot be parsed */
	int64_t		 date;
	uint64_t	 size;		/* RFC822.SIZE (SIZE) */
	const char	*subject;	/* base subject (RFC 5256 2.1) */
	size_t		 subject_len;
	int		 is_reply;	/* the subject was a reply/forward */
	const char	*from;		/* first From: addr-mailbox */
	size_t		 from_len;
	const char	*to;
	size_t		 to_len;
	const char	*cc;
	size_t		 cc_len;
	const char	*display_from;	/* RFC 5957 */
	size_t		 display_from_len;
	const char	*display_to;
	size_t		 display_to_len;
	const char	*message_id;	/* without <>, "" when none */
	size_t		 message_id_len;
	const char	*references;	/* ids without <>, space separated,
					   oldest first */
	size_t		 references_len;
};

/*
 * SORT: orders the indexes 0..n-1 of msgs (written to order[n]) by the
 * keys of a parsed SORT command, each possibly REVERSE; ties by mailbox
 * order (never reversed).  Addresses compare by their addr-mailbox,
 * subjects by their base subject, DATE by the sent date.
 */
void	imap_thread_sort(const struct imap_thread_msg *msgs, size_t n,
	    const struct imap_sort *keys, size_t *order);

/*
 * THREAD: appends the thread lists of RFC 5256 (thread-list *, e.g.
 * "(1 2 (3 4)(5))(6)") to out; nothing when n is 0.  The caller writes
 * "* THREAD" and a space before them when there are any.
 */
void	imap_thread_orderedsubject(const struct imap_thread_msg *msgs,
	    size_t n, struct imap_buf *out);
void	imap_thread_references(const struct imap_thread_msg *msgs,
	    size_t n, struct imap_buf *out);

/*
 * Work done by REFERENCES so far in this process: parent links walked to
 * refuse loops and slots of the Message-ID table looked at.  Tests read
 * it to show that one message's References cost time linear in their
 * number, whatever the ids are.
 */
uint64_t imap_thread_steps(void);

#endif
