/*
 * fetchbinary.h - FETCH BINARY[section]<o.n>, BINARY.PEEK and
 * BINARY.SIZE (RFC 3516, RFC 9051 6.4.5), the part cmd_fetch.c hands
 * over to.
 *
 * What is sent, as Dovecot 2.3 sends it: the part's body with its
 * Content-Transfer-Encoding undone (base64, quoted-printable; 7bit, 8bit
 * and binary as they are, a bare LF sent as CRLF like BODY[]).  A
 * multipart or message/rfc822 part is sent as it is stored except that
 * every part inside it is decoded the same way, and the header of each
 * decoded part inside loses its Content-Transfer-Encoding field and
 * gains "Content-Transfer-Encoding: binary".  BINARY[] is the whole
 * message so, with its header.  An unknown encoding anywhere in the
 * section fails the item (the command then ends NO [UNKNOWN-CTE]).
 *
 * <o.n> counts in the decoded bytes.  The answer is a literal8 "~{n}"
 * when the bytes sent hold a NUL, else a plain literal (RFC 3516 4.3
 * SHOULD; Dovecot 2.3 sends ~{n} for every decoded part), "" when empty,
 * NIL when the part does not exist.  BINARY.SIZE is the decoded size (0
 * for no such part).
 *
 * Nothing is held whole: the size (and the NUL check) is a first pass
 * over the part that decodes and counts, a piece of BINARY_PIECE raw
 * bytes at a time; the bytes are a second pass, streamed a piece per
 * call by the caller like BODY[] (one read transaction per piece), so a
 * 20 MB base64 part costs a session a few pieces of memory.
 */
#ifndef VELLUM_IMAP_FETCHBINARY_H
#define VELLUM_IMAP_FETCHBINARY_H

#include <stdint.h>

#include "mail/imapmsg.h"
#include "store/store.h"
#include "imapd/buf.h"
#include "imapd/parse.h"

/* Raw (stored) bytes read per step of a BINARY item. */
#define BINARY_PIECE	(64 * 1024)

struct imap_fetch_binary;

/*
 * Answers sec (binary or binary_size set) of message uid of mailbox
 * mailbox_id; meta is the message's parsed IMAP record and name/namelen
 * the item as the reply names it ("BINARY[1.2]", without "<o>").
 * Appends to out the name, "<o>" for a partial BINARY, and the value: the
 * whole item when the literal is at most inline_max bytes (1), else only
 * the literal head, the bytes being left to imap_fetch_binary_run() on
 * *bin_r (2).  0: an unknown transfer encoding in the section, nothing
 * appended.  -1: the store failed (err set), nothing appended.
 */
int	imap_fetch_binary_start(struct store_txn *, uint32_t mailbox_id,
	    uint32_t uid, const struct imap_meta *,
	    const struct imap_section *sec, const char *name, size_t namelen,
	    uint64_t inline_max, struct imap_buf *out,
	    struct imap_fetch_binary **bin_r);
/*
 * Appends about max more bytes of the literal to out (t: a read
 * transaction).  1 the literal is complete, 0 more to come.  -1: the
 * message could not be read or changed (t NULL, a store error, or fewer
 * bytes than announced): the rest of the literal is padded with spaces,
 * so the reply stays well-formed, and the literal is complete.
 */
int	imap_fetch_binary_run(struct store_txn *, struct imap_fetch_binary *,
	    uint64_t max, struct imap_buf *out);
void	imap_fetch_binary_free(struct imap_fetch_binary **);

#endif
