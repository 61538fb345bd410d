/*
 * authfail.h - failed logins, per client address and per (address,
 * user), shared by every daemon (`authfail` table; common/auth.h has the
 * policy).
 *
 * Each address has one record for all its failures (user "") and one per
 * login it failed with.  A record counts the failures since `first`
 * (a failure more than fail_window after `first` starts a new count) and
 * is locked until `locked_until`.  Failures need no durability: the
 * table is in the volatile environment (store/volatile.c).  The table holds at most
 * STORE_AUTHFAIL_MAX records (store_authfail_set_max()): when full,
 * records that neither count nor lock any more are dropped, then the
 * least recently failed ones.
 */
#ifndef VELLUM_STORE_AUTHFAIL_H
#define VELLUM_STORE_AUTHFAIL_H

#include <stdint.h>

#include "common/auth.h"
#include "store.h"
#include "user.h"

#define STORE_AUTHFAIL_MAX	100000	/* records in the table */
#define STORE_AUTHFAIL_IP_MAX	63	/* longest client address */

struct store_authfail {
	char		ip[STORE_AUTHFAIL_IP_MAX + 1];
	char		user[STORE_ADDRESS_MAX + 1];	/* "": the address */
	uint32_t	failures;
	int64_t		first;		/* of the current count */
	int64_t		last;
	int64_t		locked_until;	/* 0: never locked */
};

/*
 * Whether a login from ip may be tried: AUTH_BLOCK_ADDRESS (the address
 * is refused), AUTH_BLOCK_USER (login is locked out from ip), or
 * AUTH_BLOCK_NONE; *secs_r (may be NULL) the time left.  login may be
 * NULL: the address alone.  -1 error.
 */
int	store_authfail_blocked(struct store *, const struct auth_policy *,
	    const char *ip, const char *login, unsigned *secs_r);
/*
 * Counts a failed login (login NULL or "": for the address alone) and
 * locks what went over its limit.  *recent_r (may be NULL): the address's
 * failures within the window, this one included.  1 when this failure
 * locked the user or the address, 0 otherwise, -1 error.
 */
int	store_authfail_record(struct store *, const struct auth_policy *,
	    const char *ip, const char *login, unsigned *recent_r);
/* A good login: forgets (ip, login), not the address's other records. */
int	store_authfail_clear(struct store *, const char *ip,
	    const char *login);
/*
 * Removes every record of ip (NULL: of every address); *n_r (may be
 * NULL) gets how many.  0 or -1.
 */
int	store_authfail_unban(struct store *, const char *ip, unsigned *n_r);

/* The table's bound (tests use a small one); 0 restores the default. */
void	store_authfail_set_max(unsigned);

typedef int store_authfail_fn(const struct store_authfail *, void *ctx);
/* Calls fn for each record, by address then user; fn -1 stops. */
int	store_authfail_list(struct store *, store_authfail_fn *fn,
	    void *ctx);

/*
 * The backend of common/auth.h on st: logins with store_login_*(),
 * failures with the functions above.
 */
void	store_auth_backend(struct store *st, struct auth_backend *r);
/*
 * The same for SMTP submission, where a domain login (a local domain and
 * its login password, store/policy.h) is a login too: its verdict has
 * user id 0 and the domain as the user.
 */
void	store_auth_backend_domains(struct store *st, struct auth_backend *r);

#endif
