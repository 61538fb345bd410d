/*
 * domain.h - local domains and alias domains.
 *
 * A domain name is stored lower case.  An alias domain (alias_of set) has
 * no users of its own: addresses under it resolve to the same local part in
 * the domain it aliases.
 */
#ifndef VELLUM_STORE_DOMAIN_H
#define VELLUM_STORE_DOMAIN_H

#include "store.h"

#define STORE_DOMAIN_MAX	255

struct store_domain {
	uint32_t	id;
	char		name[STORE_DOMAIN_MAX + 1];
	char		alias_of[STORE_DOMAIN_MAX + 1];	/* "" when local */
	int64_t		created;
	uint32_t	flags;		/* STORE_DOMAIN_* */
};

/*
 * Authenticated senders must use an address of their own in MAIL FROM
 * (their login, or an address that routes to their mailbox): SMTP
 * answers 553 5.7.1 otherwise.
 */
#define STORE_DOMAIN_SENDER_LOGIN	0x01
/*
 * BATV (deliver/batv.h): mail from the domain's addresses leaves with a
 * prvs= tagged envelope sender, and a bounce (null sender) to one of its
 * addresses must carry a valid tag: SMTP answers 553 5.7.1 otherwise.
 */
#define STORE_DOMAIN_BATV		0x02
/*
 * Auto-forwarding disabled ("domain set D auto-forward no"): mail to the
 * domain's addresses never leaves through their routes' external
 * forwards nor their users' filter forwards (deliver/resolve.c,
 * deliver/deliver.c); local targets still get it.
 */
#define STORE_DOMAIN_NO_FORWARD		0x04

/* 1 added.  Errors: INVALID (not a domain name), EXISTS. */
int	store_domain_add(struct store_txn *, const char *name);
/*
 * Makes alias an alias domain of target (a local, non-alias domain):
 * creates it, or turns an existing domain nothing uses yet into an alias.
 * 1 done.  Errors: NOTFOUND (target), INVALID, EXISTS (already an alias),
 * INUSE (alias has users or addresses).
 */
int	store_domain_alias(struct store_txn *, const char *alias,
	    const char *target);
/*
 * 1 deleted.  Errors: NOTFOUND, INUSE (users, addresses or alias domains
 * still refer to it; the message says which and how many).
 */
int	store_domain_del(struct store_txn *, const char *name);
/* 1 found, 0 not found. */
int	store_domain_get(struct store_txn *, const char *name,
	    struct store_domain *r);

/* Sets the flags of a domain.  1 done.  Errors: NOTFOUND. */
int	store_domain_set_flags(struct store_txn *, const char *name,
	    uint32_t flags);

typedef int store_domain_fn(const struct store_domain *, void *ctx);
/* Calls fn for every domain in name order; stops when fn returns -1. */
int	store_domain_list(struct store_txn *, store_domain_fn *fn, void *ctx);

/* Lower-cases and checks a domain name into buf (STORE_DOMAIN_MAX + 1). */
int	store_domain_normalize(const char *in, char *buf);

#endif
