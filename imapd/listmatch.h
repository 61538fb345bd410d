/*
 * listmatch.h - LIST and LSUB patterns (RFC 3501 6.3.8, RFC 9051 6.3.9),
 * pure: no I/O, no store.
 *
 * In a pattern '*' matches any run of bytes and '%' any run without the
 * hierarchy separator; every other byte matches itself.  A pattern is
 * compiled once per command and then matched against every name of the
 * user.  Matching runs the pattern as a set of states over the name, one
 * step per byte of the name, with the states as a bit set: time is
 * O(name length x pattern length / 64), never exponential, whatever mix
 * of wildcards the client sends (consecutive wildcards are collapsed
 * first: "**" and "%*" are "*", "%%" is "%").
 *
 * Names and patterns are compared as bytes (the store's UTF-8 with '/';
 * the caller decodes modified UTF-7 first).  With inboxcase, a name whose
 * first level is "INBOX" matches that level without regard to case, so
 * "inbox" and "Inbox/%" find INBOX as every IMAP server does.
 */
#ifndef VELLUM_IMAP_LISTMATCH_H
#define VELLUM_IMAP_LISTMATCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Longest pattern kept, in bytes after collapsing wildcards.  A collapsed
 * pattern has at most one wildcard more than it has other bytes, so one
 * longer than 2 * 512 + 1 has more than 512 literal bytes and can match no
 * name of at most 512 bytes (STORE_MAILBOX_NAME_MAX): it compiles to a
 * matcher that matches nothing, and costs nothing.
 */
#define IMAP_LISTMATCH_NAME_MAX		512
#define IMAP_LISTMATCH_PATTERN_MAX	(2 * IMAP_LISTMATCH_NAME_MAX + 1)

struct imap_listmatch;

/*
 * Compiles pattern (len bytes; NUL bytes are literal bytes).  sep is the
 * hierarchy separator.  Never fails (memory aborts); the result goes with
 * imap_listmatch_free().
 */
struct imap_listmatch *imap_listmatch_new(const char *pattern, size_t len,
	    char sep, int inboxcase);
void	imap_listmatch_free(struct imap_listmatch **);

/* 1 when name (len bytes) matches the whole pattern, else 0. */
int	imap_listmatch(const struct imap_listmatch *, const char *name,
	    size_t len);

/*
 * The collapsed pattern (NUL-terminated; its length in *len_r, may be
 * NULL), for tests and logs.  "" for a pattern that matches nothing
 * because it is too long.
 */
const char *imap_listmatch_pattern(const struct imap_listmatch *,
	    size_t *len_r);

/*
 * Work done by imap_listmatch() in this process: bit-set word operations
 * summed over every call.  Tests read it to show that matching is
 * bounded by name length x pattern length.
 */
uint64_t imap_listmatch_steps(void);

#endif
