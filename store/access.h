/*
 * access.h - client addresses the SMTP server trusts for a while.
 *
 * POP-before-SMTP: a successful POP3 (or IMAP) login records the client's
 * IP address with an expiry; the SMTP server lets that address relay until
 * then.  Kept in the store (`access` table) so that every daemon sees it.
 */
#ifndef VELLUM_STORE_ACCESS_H
#define VELLUM_STORE_ACCESS_H

#include "store.h"

/*
 * Records ip (text form) as trusted for minutes from now (own txn); now
 * and then it also removes expired entries.
 */
int	store_access_grant(struct store *, const char *ip, unsigned minutes);
/* 1 when ip is trusted now, 0 not (expired entries count as absent). */
int	store_access_check(struct store_txn *, const char *ip);
/* Removes expired entries; *n_r (may be NULL) gets how many. */
int	store_access_expire(struct store *, unsigned *n_r);

#endif
