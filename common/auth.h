/*
 * auth.h - logins: SASL (libsasl2, server side) and plain user/password
 * checks, verified off the event loop, and the failed-login policy.
 *
 * Mechanisms PLAIN and LOGIN; offered only over TLS unless the config
 * says plaintext = yes.  Logins "user@domain" and "user#domain", any case,
 * are the same user (store_address_normalize()).  A disabled user cannot
 * log in.
 *
 * Password checks never run on the loop: a check is split into begin
 * (on the loop: read what is needed, e.g. the stored hash), verify (on a
 * thread of the worker pool, common/worker.h: the slow hash) and end (on
 * the loop: the verdict).  The daemon gets the verdict as a callback on
 * the loop.  common/ does not know the store: the daemon passes a backend
 * (store_auth_backend() in store/authfail.h).
 *
 * Failed logins (shared by every daemon through the backend):
 *  - per client address, the reply to a failure is delayed fail_delay ms,
 *    doubled for each earlier failure of the address within fail_window,
 *    up to fail_delay_max;
 *  - per (address, user), fail_max failures within fail_window lock that
 *    user out from that address for lockout seconds;
 *  - per address, fail_max_address failures within fail_window (of any
 *    users) refuse every login from the address for lockout seconds;
 *  - a success clears only its own (address, user) count;
 *  - addresses in [auth] trusted_networks are exempt from all of it.
 */
#ifndef VELLUM_AUTH_H
#define VELLUM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct config;
struct auth;
struct auth_check;

#define AUTH_LOGIN_MAX		320	/* longest login kept */

/* The failure policy, from [auth] (config.h has the defaults). */
struct auth_policy {
	unsigned	delay_ms;
	unsigned	delay_max_ms;
	unsigned	fail_max;
	unsigned	fail_window;
	unsigned	lockout;
	unsigned	fail_max_address;
};

/* auth_blocked() results. */
enum auth_block {
	AUTH_BLOCK_NONE = 0,
	AUTH_BLOCK_USER = 1,	/* this user from this address */
	AUTH_BLOCK_ADDRESS = 2,	/* every login from this address */
};

/*
 * What the daemon plugs in.  Every function but verify runs on the loop
 * thread; verify runs on a worker thread and may only use its state.
 */
struct auth_backend {
	void	*ctx;
	/* Starts a check: the state (never NULL) to give to the others. */
	void	*(*begin)(void *ctx, const char *login, const char *password);
	/* The slow part (the hash). */
	void	 (*verify)(void *state);
	/*
	 * The verdict: 1 ok (*user_id_r, addr_r: the normalised address),
	 * 0 refused (err_set() says why), -1 could not check (TEMP).
	 */
	int	 (*end)(void *ctx, void *state, uint32_t *user_id_r,
		    char *addr_r, size_t addrsize);
	/* Wipes and frees the state. */
	void	 (*free)(void *state);
	/*
	 * Failure records.  blocked: an enum auth_block (*secs_r: time
	 * left), -1 error; login may be NULL (address only).  failed: counts
	 * one failure of login (may be NULL or "") from ip, *recent_r the
	 * address's failures within the window including this one; 1 when it
	 * locked the user or the address now, 0 otherwise, -1 error.
	 * succeeded: clears (ip, login); 0 or -1.
	 */
	int	 (*blocked)(void *ctx, const struct auth_policy *,
		    const char *ip, const char *login, unsigned *secs_r);
	int	 (*failed)(void *ctx, const struct auth_policy *,
		    const char *ip, const char *login, unsigned *recent_r);
	int	 (*succeeded)(void *ctx, const char *ip, const char *login);
	/*
	 * After end() gave 0: 1 when the password was verified and the
	 * account is disabled, else 0.  May be NULL (never disabled).
	 */
	int	 (*disabled)(void *state);
};

/*
 * service: "pop", "imap" or "smtp" (the SASL service name).  The backend
 * is copied.  The worker pool is started on the first check (on
 * conn_base(), [auth] workers and queue).
 */
int	auth_init(const char *service, const struct auth_backend *,
	    const struct config *);
/* Stops the worker pool (pending checks are dropped) and SASL. */
void	auth_done(void);
/* Password checks waiting and running (tests, logs). */
unsigned auth_pending(void);

/* Mechanisms to announce ("PLAIN LOGIN"), or "" when none may be used. */
const char *auth_mechs(int tls);
/* Whether any login (USER/PASS, LOGIN, AUTH) is allowed now. */
int	auth_allowed(int tls);

enum auth_result {
	AUTH_CANCELLED = -2,	/* the client answered "*" */
	AUTH_FAIL = -1,		/* err_msg(): why (for the log); ERR_INVALID
				   for a malformed response, ERR_TEMP when
				   the password could not be checked */
	AUTH_CONTINUE = 0,	/* send the challenge, wait for more */
	AUTH_VERIFY = 2,	/* credentials complete: auth_login() names
				   the user; check them with auth_verify() */
};

/*
 * Starts a SASL exchange.  mech: "PLAIN" or "LOGIN" (any case).
 * initial: the client's initial response, base64 (may be NULL; "=" is
 * an empty one).  *challenge_r: base64 to send (static until the next
 * call) for AUTH_CONTINUE.  NULL (with *res_r AUTH_FAIL) when the
 * exchange cannot start: ERR_INVALID for an unknown mechanism.
 */
struct auth *auth_start(const char *mech, const char *initial, int tls,
	    enum auth_result *res_r, const char **challenge_r);
/*
 * Feeds the client's next response line as received (base64; "*"
 * cancels): a line with a NUL byte, or too long, is AUTH_FAIL with
 * ERR_INVALID.  The copy made of it is wiped.
 */
enum auth_result auth_step(struct auth *, const char *line, size_t len,
	    const char **challenge_r);
/* Whether mech is one of auth_mechs(tls), any case. */
int	auth_mech_offered(const char *mech, int tls);
/*
 * The login the client gave (authentication id) once the mechanism has
 * it: always after AUTH_VERIFY; after AUTH_FAIL the name its response
 * tried even when malformed (PLAIN with one NUL: the first field; never
 * a field that may be the password); "" before, or when it gave none.
 */
const char *auth_login(struct auth *);
void	auth_free(struct auth **);

/* The outcome of a check, given to the daemon on the loop. */
struct auth_verdict {
	int		 rc;		/* 1 ok, 0 refused, -1 could not check */
	enum err_class	 err;		/* rc != 1: the class ... */
	const char	*why;		/* ... and the reason, for the log */
	uint32_t	 user_id;	/* rc 1 */
	const char	*user;		/* rc 1: the normalised address */
	const char	*login;		/* as the client gave it */
	/*
	 * rc 0 only: the password was right but the account is disabled
	 * (backend disabled()); the daemon says so (IMAP NO [CONTACTADMIN],
	 * POP3 -ERR [AUTH] account disabled, SMTP 525 5.7.13).  Never set
	 * after a wrong password: it tells nothing to someone without it.
	 */
	int		 disabled;
};
typedef void auth_verdict_fn(const struct auth_verdict *, void *ctx);

/*
 * Checks login + password (POP3 USER/PASS, IMAP LOGIN) off the loop:
 * fn(verdict, ctx) follows on the loop, never from inside this call.
 * The password is copied (and wiped when done).  NULL when the check
 * cannot be queued: ERR_LIMIT (every worker busy and the queue full) or
 * ERR_TEMP; answer a temporary failure then.
 */
struct auth_check *auth_check_start(const char *login, const char *password,
	    auth_verdict_fn *fn, void *ctx);
/*
 * The same for the credentials of a SASL exchange that gave AUTH_VERIFY
 * (they move into the check; the exchange may be freed at once).
 */
struct auth_check *auth_verify(struct auth *, auth_verdict_fn *fn,
	    void *ctx);
/* Drops a check whose owner goes away: fn is never called. */
void	auth_check_cancel(struct auth_check **);

/*
 * The failure policy (see the top).  auth_blocked(): an enum auth_block,
 * *secs_r the time left (login NULL: the address alone); backend errors
 * count as not blocked (logged).  auth_failed() counts a failure and
 * returns how many ms the reply should wait.  auth_succeeded() clears
 * the (address, user) count.
 */
int	auth_blocked(const char *ip, const char *login, unsigned *secs_r);
unsigned auth_failed(const char *ip, const char *login);
void	auth_succeeded(const char *ip, const char *login);
/* Whether ip is in [auth] trusted_networks. */
int	auth_trusted(const char *ip);
/* The policy of the config (for vellumctl and tests). */
void	auth_policy_from_config(const struct config *, struct auth_policy *);
/* The delay (ms) after the recent-th failure of an address. */
unsigned auth_delay_ms(const struct auth_policy *, unsigned recent);

#endif
