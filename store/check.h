/*
 * check.h - integrity check, statistics and live backup of the store.
 */
#ifndef VELLUM_STORE_CHECK_H
#define VELLUM_STORE_CHECK_H

#include "store.h"

typedef void store_problem_fn(const char *problem, void *ctx);

/*
 * Verifies every invariant of DESIGN.md in one snapshot: usage and
 * mailbox counters equal the sums of the messages, body and blob
 * refcounts equal the references, no unreferenced body or blob, uidnext
 * above every uid, modseqs no higher than the mailbox's, routes pointing at
 * existing users, and the SHA-256 of every blob; for IMAP: every body has
 * a readable IMAP record (schema 2), recent_uid <= uidnext, expunge logs
 * belong to existing mailboxes and run in increasing modseq order above
 * the mailbox's expunge_floor; for the Maildir letters (schema 3): every
 * keyword in use in a mailbox is on its keyword list unless the list is
 * full, lists hold valid names once, and belong to existing mailboxes;
 * for schema 4: filter files, auto-responder records and their senders,
 * and training queue entries belong to existing users and decode, list
 * records decode, sit in local domains, share no address with a route,
 * and list member rows belong to existing lists.
 * Each problem found is
 * passed to fn (may be NULL).  Returns the number of problems (0 = clean),
 * or -1 when the check itself could not run.
 */
int	store_check(struct store *, store_problem_fn *fn, void *ctx);

struct store_stats {
	uint64_t	domains, users, mailboxes;
	uint64_t	messages;	/* rows in all mailboxes */
	uint64_t	bodies;		/* distinct messages */
	uint64_t	blobs;		/* distinct segments */
	uint64_t	raw_bytes;	/* sum of message sizes, all rows */
	uint64_t	body_bytes;	/* sum of distinct message sizes */
	uint64_t	blob_bytes;	/* sum of distinct segment sizes */
	uint64_t	stored_bytes;	/* compressed bytes of all blobs */
	uint64_t	file_bytes;	/* LMDB pages in use */
	uint64_t	map_bytes;	/* map size */
	uint64_t	dicts;		/* zstd dictionaries */
	uint64_t	imap_records;	/* bodies with an IMAP record */
	uint64_t	imap_raw_bytes;	/* their records, uncompressed */
	uint64_t	imap_stored_bytes; /* ... as stored */
};

int	store_stats(struct store *, struct store_stats *r);

/*
 * Writes a consistent copy of the live store into dest_dir/store/
 * (created; must not already hold a store), compacted.  Writers go on
 * while it runs.
 */
int	store_backup(struct store *, const char *dest_dir);

/*
 * Fault injection for tests: damages the stored bytes of one message
 * (its largest segment) so that reading it fails with CORRUPT and
 * store_check() names it.  Never called by the daemons.
 */
int	store_debug_damage(struct store *, uint32_t mailbox_id, uint32_t uid);

#endif
