/*
 * addr.h - address routes: mailbox routes, aliases, forwards, catch-alls.
 *
 * One table maps a normalised address ("local@domain", or "@domain" for a
 * domain's catch-all) to its targets.  A target is a user's mailbox, another
 * address in a local domain (an alias, expanded at delivery) or an external
 * address (a forward, queued at delivery).
 */
#ifndef VELLUM_STORE_ADDR_H
#define VELLUM_STORE_ADDR_H

#include "store.h"
#include "user.h"

#define STORE_ROUTE_TARGETS_MAX	1000

enum store_target_type {
	STORE_TARGET_MAILBOX = 1,	/* user_id */
	STORE_TARGET_ALIAS = 2,		/* addr: a local address */
	STORE_TARGET_FORWARD = 3,	/* addr: an external address */
};

struct store_target {
	enum store_target_type	type;
	uint32_t		user_id;
	char			addr[STORE_ADDRESS_MAX + 1];
};

struct store_route {
	char			 address[STORE_ADDRESS_MAX + 1];
	size_t			 ntargets;
	struct store_target	*targets;
};

/*
 * Adds targets (addresses as text) to the route of address, creating it.
 * The address's domain must be local (or an alias domain).  A target in a
 * local domain becomes an alias, any other a forward.  Targets already
 * present are skipped.  Returns 1.  Errors: INVALID, NOTFOUND (domain),
 * LIMIT (too many targets).
 */
int	store_addr_add(struct store_txn *, const char *address,
	    const char *const *targets, size_t ntargets);
/* Adds a mailbox target (used by store_user_add()). */
int	store_addr_add_mailbox(struct store_txn *, const char *address,
	    uint32_t user_id);
/*
 * Removes one target (text form, see store_target_format()) or, with
 * target NULL, the whole route.  1 removed, -1 NOTFOUND.
 */
int	store_addr_del(struct store_txn *, const char *address,
	    const char *target);
/* 1 found (free with store_route_clear()), 0 not. */
int	store_addr_get(struct store_txn *, const char *address,
	    struct store_route *r);
void	store_route_clear(struct store_route *);

/*
 * Text form of a target: its address for aliases and forwards, the user's
 * address for a mailbox target.
 */
int	store_target_format(struct store_txn *, const struct store_target *,
	    char *buf, size_t bufsize);

typedef int store_route_fn(const struct store_route *, void *ctx);
int	store_addr_list(struct store_txn *, store_route_fn *fn, void *ctx);

#endif
