/*
 * listmatch.h - LIST and LSUB patterns (RFC 3501 6.3.8, RFC 9051 6.3.9)
 * and the tree of a user's mailbox names that LIST answers from, pure:
 * no I/O, no store.
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

/*
 * The names LIST answers from.  The caller adds every mailbox of the user
 * (one pass over the store), then imap_list_tree_build() sorts them so
 * that each name is directly followed by its descendants ("a", "a/b",
 * "a/b/c", "a b"; INBOX and its children first), inserts the levels that
 * do not exist ("a" when only "a/b" does: id 0) and links every item to
 * its parent, so that children and RECURSIVEMATCH's CHILDINFO come from
 * that order in one pass, with no lookup per name.  O(n log n).
 */
struct imap_list_item {
	char		*name;		/* NUL-terminated, owned by the tree */
	size_t		 len;
	uint32_t	 id;		/* 0: a level that does not exist */
	uint32_t	 special_use;
	size_t		 parent;	/* index + 1; 0 at the top level */
	unsigned	 subscribed:1;
	unsigned	 children:1;	/* has a child (existing or not) */
	unsigned	 matched:1;	/* matches one of the patterns */
	unsigned	 selected:1;	/* exists and meets the selection */
	unsigned	 childsel:1;	/* a descendant is selected, unmatched */
	unsigned	 emit:1;	/* LIST answers it */
};

struct imap_list_tree {
	struct imap_list_item	*v;
	size_t			 n, cap;
};

void	imap_list_tree_init(struct imap_list_tree *);
void	imap_list_tree_free(struct imap_list_tree *);
/* Adds an existing mailbox (before imap_list_tree_build()). */
void	imap_list_tree_add(struct imap_list_tree *, const char *name,
	    uint32_t id, uint32_t special_use, int subscribed);
/* Sorts, adds the missing levels, links parents. */
void	imap_list_tree_build(struct imap_list_tree *, char sep);
/*
 * Decides which items LIST answers (emit), as RFC 5258 3 and its table
 * say: select is IMAP_LS_* (parse.h).  Without SUBSCRIBED or SPECIAL-USE
 * every matching name is answered, the missing levels too (RFC 3501:
 * they are \Noselect).  With them, a matching name is answered when it
 * meets them, or under RECURSIVEMATCH when a descendant meets them and
 * matches no pattern (CHILDINFO; not when no_childonly, LSUB's rule for
 * a pattern that does not end with '%').
 */
void	imap_list_tree_select(struct imap_list_tree *,
	    struct imap_listmatch *const *lm, size_t nlm, unsigned select,
	    int no_childonly);

#endif
