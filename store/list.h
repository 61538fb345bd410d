/*
 * list.h - simple mailing lists: an address of a local domain that
 * expands to its members at delivery (not a listserv: no subscription
 * by mail, no archive, no moderation queue).
 *
 * A list address and a route (addr.h) never share an address: each
 * refuses the other with EXISTS.  Addresses are normalised with
 * store_address_normalize() (lower case, no catch-all).  Every function
 * works inside the caller's transaction.
 */
#ifndef VELLUM_STORE_LIST_H
#define VELLUM_STORE_LIST_H

#include <stddef.h>

#include "store.h"
#include "user.h"

#define STORE_LIST_MEMBERS_MAX	5000
#define STORE_LIST_NAME_MAX	127		/* bytes of name */

#define STORE_LIST_MEMBERS_ONLY	0x01	/* only members may post */
#define STORE_LIST_REPLY_TO	0x02	/* Reply-To: the list */
#define STORE_LIST_FLAGS	(STORE_LIST_MEMBERS_ONLY | STORE_LIST_REPLY_TO)

struct store_list {
	char		  addr[STORE_ADDRESS_MAX + 1];
	unsigned	  flags;		/* STORE_LIST_* */
	char		  name[STORE_LIST_NAME_MAX + 1];  /* the List-Id
						   phrase; "" none */
	char		  owner[STORE_ADDRESS_MAX + 1];	  /* "" none */
	size_t		  nmembers;
	char		(*members)[STORE_ADDRESS_MAX + 1]; /* malloc'd,
						   normalised, sorted */
};

/*
 * The list at addr.  1 found (free with store_list_clear()), 0 none (also
 * when addr is not an address), -1 error (TEMP, CORRUPT).
 */
int	store_list_get(struct store_txn *, const char *addr,
	    struct store_list *);
/*
 * Creates the list l->addr or replaces it whole (settings and members;
 * members are normalised, duplicates kept once).  1 done.  Errors:
 * INVALID (an address, the name with a control character or quote,
 * unknown flags), NOTFOUND (the domain is not a local domain; an alias
 * domain's lists belong in the domain it aliases), EXISTS (an address
 * route or a user's login has that address), LIMIT (more than
 * STORE_LIST_MEMBERS_MAX members), TEMP.
 */
int	store_list_put(struct store_txn *, const struct store_list *);
/* Deletes a list and its members.  1 deleted, 0 none, -1 error. */
int	store_list_delete(struct store_txn *, const char *addr);
/*
 * Adds (add 1) or removes (add 0) one member.  1 changed, 0 it already
 * was so.  Errors: NOTFOUND (no such list), INVALID (member), LIMIT (the
 * list has STORE_LIST_MEMBERS_MAX members), TEMP.
 */
int	store_list_member(struct store_txn *, const char *addr,
	    const char *member, int add);
/*
 * Calls cb with every list (of domain only, when not NULL) in address
 * order; cb returning -1 stops it with -1.  cb must not change lists.
 * 0, or -1 (cb's, or an error: INVALID domain, TEMP, CORRUPT).
 */
int	store_list_each(struct store_txn *, const char *domain,
	    int (*cb)(const struct store_list *, void *), void *ctx);
/* Frees the members; l may then be reused. */
void	store_list_clear(struct store_list *);

#endif
