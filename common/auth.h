/*
 * auth.h - logins: SASL (libsasl2, server side) against the store, and
 * per-IP failure tracking.
 *
 * Mechanisms PLAIN and LOGIN; offered only over TLS unless the config
 * says plaintext = yes.  Logins "user@domain" and "user#domain", any case,
 * are the same user (store_address_normalize()).  A disabled user cannot
 * log in.
 */
#ifndef VELLUM_AUTH_H
#define VELLUM_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct auth;

/*
 * Checks a login and password against the user database (common/ does
 * not know the store: the daemon passes a checker built on
 * store_user_login()).  1 ok with *user_id_r and addr_r (the normalised
 * address) filled, 0 refused (err_msg() says why: unknown user, wrong
 * password, disabled), -1 could not check (TEMP).
 */
typedef int auth_check_fn(const char *login, const char *password,
	    uint32_t *user_id_r, char *addr_r, size_t addrsize, void *ctx);

/* service: "pop", "imap" or "smtp" (the SASL service name). */
int	auth_init(const char *service, auth_check_fn *check, void *ctx,
	    const struct config *);
void	auth_done(void);

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
	AUTH_OK = 1,
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
/* Feeds the client's next response line (base64; "*" cancels). */
/*
 * Feeds the client's next response line as received (base64; "*"
 * cancels): a line with a NUL byte, or too long, is AUTH_FAIL with
 * ERR_INVALID.  The copy made of it is wiped.
 */
enum auth_result auth_step(struct auth *, const char *line, size_t len,
	    const char **challenge_r);
/* Whether mech is one of auth_mechs(tls), any case. */
int	auth_mech_offered(const char *mech, int tls);
/* After AUTH_OK: the user's id and normalised address. */
uint32_t	auth_user_id(struct auth *);
const char	*auth_user(struct auth *);
void	auth_free(struct auth **);

/*
 * Checks a plain user + password (POP3 USER/PASS, IMAP LOGIN).
 * 1 ok (*user_id_r, addr_r filled), 0 wrong, -1 error.
 */
int	auth_password(const char *login, const char *password,
	    uint32_t *user_id_r, char *addr_r, size_t addrsize);

/*
 * Failure tracking per IP: auth_blocked() is 1 (and *secs_r the time
 * left) while an IP that failed fail_max times within fail_window is
 * locked out; auth_failed() counts a failure and returns how many ms the
 * reply should be delayed; auth_succeeded() forgets the IP's failures.
 */
int	auth_blocked(const char *ip, unsigned *secs_r);
unsigned auth_failed(const char *ip);
void	auth_succeeded(const char *ip);

#endif
