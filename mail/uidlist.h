/*
 * uidlist.h - the UID lists other IMAP servers keep in a Maildir folder,
 * no I/O.
 *
 * Dovecot's "dovecot-uidlist":
 *   version 3 (Dovecot 1.1 and later)
 *     header  "3 V<uidvalidity> N<nextuid> G<guid> ..." (any order; only
 *             V is required, unknown fields are ignored)
 *     entry   "<uid> [<key><value> ...] :<file name>"
 *   version 2 (a few development versions)
 *     header  "2 <uidvalidity> <nextuid>"
 *     entry   "<uid> <flags> <file name>"
 *   version 1 (Dovecot 1.0 and Courier-IMAP's "courierimapuiddb")
 *     header  "1 <uidvalidity> <nextuid>"
 *     entry   "<uid> <file name>"
 * Lines end in "\n" or "\r\n"; empty lines are skipped.  Entries are in
 * strictly increasing UID order, as both servers write them.
 *
 * A message file is matched by its base name: the name up to its info
 * part (the first ':', or where ':' is awkward "!2," / ";2,"), on both sides,
 * so "1234.M1P2.host,S=300:2,RS" matches an entry
 * "1234.M1P2.host,S=300" (version 3) or "1234.M1P2.host,S=300:2,S"
 * (version 1, which wrote whole names).
 */
#ifndef VELLUM_MAIL_UIDLIST_H
#define VELLUM_MAIL_UIDLIST_H

#include <stddef.h>
#include <stdint.h>

/* Longest file name accepted in an entry (NAME_MAX of Linux). */
#define UIDLIST_NAME_MAX	255

struct uidlist_entry {
	uint32_t	 uid;
	char		*base;		/* the base name (see above) */
};

struct uidlist {
	unsigned		 version;	/* 1, 2 or 3 */
	uint32_t		 uidvalidity;	/* never 0 */
	/*
	 * The next UID to give: the header's value, raised to the last
	 * entry's UID + 1 when the header lags behind.
	 */
	uint32_t		 nextuid;
	/* Sorted by base name (for uidlist_find()); n may be 0. */
	struct uidlist_entry	*v;
	size_t			 n;
	/* The highest UID listed (0 when none). */
	uint32_t		 last_uid;
	/*
	 * Version 3 entries with a "P<uidl>" field: a POP3 UIDL of their
	 * own (from an earlier migration), which Dovecot's POP3 shows
	 * instead of the one made of UID and UIDVALIDITY.
	 */
	size_t			 npop3_uidl;
};

/*
 * Parses the text of a UID list (len bytes; NULs are errors).  1 with *r
 * set (free it with uidlist_free()); -1 with ERR_INVALID and a message
 * that names the line ("line 3: ...") when the text is not such a list:
 * an unknown version, a missing or zero UIDVALIDITY, a UID of 0 or
 * UINT32_MAX, a UID not above the one before, an entry without a name or
 * with a '/' in it, a base name listed twice.
 */
int	uidlist_parse(const char *buf, size_t len, struct uidlist **r);

/* The UID of a message file name (a path's last component), 0 if none. */
uint32_t	uidlist_find(const struct uidlist *, const char *filename);

/* The length of the base name of a file name (see above). */
size_t	uidlist_base_len(const char *filename);

void	uidlist_free(struct uidlist **);

#endif
