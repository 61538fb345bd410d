/*
 * bcc.h - automatic BCC rules (`bcc` table), what Postfix does with
 * sender_bcc_maps, recipient_bcc_maps and always_bcc: a message accepted
 * from a sender, or for a recipient, that a rule names, or any message
 * when an "all" rule exists, is also delivered to the rule's target
 * address (deliver/bcc.c applies them; `vellumctl bcc` writes them).
 *
 * A rule is keyed by its kind and a normalised address or "@domain":
 *   sender    "user@domain" or "@domain" (every sender of that domain)
 *   recipient the same, for each recipient of the envelope
 *   all       no address: every message
 * and has one target address (one per key, as a Postfix map has one
 * value per key).  The lookup for an address user+ext@domain tries, as
 * Postfix does with recipient_delimiter = +: "user+ext@domain", then
 * "user@domain", then "@domain"; the first rule found wins.  Bare local
 * parts ("user", Postfix's form for its own domains) are not taken: write
 * the domain.
 *
 * A store made before this table opens as usual: a writable open creates
 * it, read-only opens of such a store see no rules.
 */
#ifndef VELLUM_STORE_BCC_H
#define VELLUM_STORE_BCC_H

#include <stddef.h>

#include "store.h"
#include "user.h"

enum store_bcc_kind {
	STORE_BCC_SENDER = 's',
	STORE_BCC_RECIPIENT = 'r',
	STORE_BCC_ALL = 'a',
};

struct store_bcc {
	enum store_bcc_kind	kind;
	char			key[STORE_ADDRESS_MAX + 1];  /* "" for all */
	char			target[STORE_ADDRESS_MAX + 1];
};

/* "sender", "recipient", "all" ("?" for anything else). */
const char *store_bcc_kind_name(enum store_bcc_kind);

/*
 * Normalises a rule's key into buf (STORE_ADDRESS_MAX + 1): an address
 * or "@domain", lower case; "" for STORE_BCC_ALL (which takes in NULL or
 * "").  0, or -1 INVALID saying why.
 */
int	store_bcc_key_normalize(enum store_bcc_kind, const char *in,
	    char *buf);

/*
 * Adds a rule (key and target normalised).  1 added, 0 the same rule was
 * there already.  Errors: INVALID (kind, key, target), EXISTS (the key
 * has another target: the message names it), PERM (read-only store).
 */
int	store_bcc_add(struct store_txn *, const struct store_bcc *);
/*
 * Sets the rule of key to target, whatever was there (imports).  1 done.
 * Errors as store_bcc_add() but EXISTS.
 */
int	store_bcc_set(struct store_txn *, const struct store_bcc *);
/* 1 deleted, 0 none.  Errors: INVALID. */
int	store_bcc_del(struct store_txn *, enum store_bcc_kind,
	    const char *key);
/* The rule of exactly that key: 1 found (r filled), 0 none.  INVALID. */
int	store_bcc_get(struct store_txn *, enum store_bcc_kind,
	    const char *key, struct store_bcc *r);
/*
 * Calls fn for every rule of kind (0: of every kind, sender rules first,
 * then recipient, then all... in key byte order: 'a', 'r', 's'), in key
 * order; stops when fn returns -1 (the result then).  0, or -1.
 */
typedef int store_bcc_fn(const struct store_bcc *, void *ctx);
int	store_bcc_list(struct store_txn *, enum store_bcc_kind kind,
	    store_bcc_fn *fn, void *ctx);
/* Deletes every rule of kind (import --replace).  The count, or -1. */
long	store_bcc_clear(struct store_txn *, enum store_bcc_kind);

/*
 * The rule for an address (any form store_address_normalize() takes) in
 * the order above: 1 found (r filled: r->key says which), 0 none (also
 * for "" and for what is not an address: a lookup never fails on the
 * envelope), -1 store error.
 */
int	store_bcc_lookup(struct store_txn *, enum store_bcc_kind,
	    const char *addr, struct store_bcc *r);

/*
 * A Postfix map as text (postmap(1) input): "key value" per line, '#'
 * comment lines, blank lines, and lines starting with white space that
 * continue the one before.  Pure: no store.
 */
struct store_bcc_entry {
	unsigned	lineno;		/* where the entry starts */
	char		key[STORE_ADDRESS_MAX + 1];	/* normalised */
	char		target[STORE_ADDRESS_MAX + 1];
	unsigned	dup_of;		/* 0, or the line of the same key
					   earlier: postmap keeps the first,
					   so this one is skipped */
};
struct store_bcc_map {
	struct store_bcc_entry	*e;
	size_t			 n;
};
/*
 * Parses text[0..len) as a map of kind (sender or recipient).  0 done;
 * -1 INVALID at the first bad line, the message "LINE: what is wrong"
 * (*line_r, may be NULL, gets the line) and nothing in map.  Free with
 * store_bcc_map_free().
 */
int	store_bcc_map_parse(enum store_bcc_kind, const char *text, size_t len,
	    struct store_bcc_map *map, unsigned *line_r);
void	store_bcc_map_free(struct store_bcc_map *);

#endif
