/*
 * user.h - mail accounts.
 *
 * A user has one primary address (its login), a password hash (yescrypt
 * when we make one; the crypt(3) and digest schemes of Dovecot's passdb
 * verify, so Dovecot and Postfix password files import: see
 * store_password_import()), quotas, exact usage
 * counters kept in the same transaction as every message change, and an
 * enabled/disabled state.
 */
#ifndef VELLUM_STORE_USER_H
#define VELLUM_STORE_USER_H

#include "common/error.h"
#include "store.h"

#define STORE_ADDRESS_MAX	320
#define STORE_PWHASH_MAX	255
#define STORE_REASON_MAX	255

struct store_user {
	uint32_t	id;
	char		address[STORE_ADDRESS_MAX + 1];
	char		pwhash[STORE_PWHASH_MAX + 1];	/* "" = no login */
	uint64_t	quota_bytes;		/* 0 = unlimited */
	uint64_t	quota_messages;		/* 0 = unlimited */
	uint64_t	used_bytes;
	uint64_t	used_messages;
	int64_t		over_quota_since;	/* the grace clock; 0 = off */
	int		disabled;
	int64_t		disabled_since;
	char		disabled_reason[STORE_REASON_MAX + 1];
	uint32_t	fs_uid, fs_gid;
	int64_t		created;
};

/*
 * Creates the user, its INBOX and the route address -> its mailbox.
 * The domain must be a local (non-alias) domain.  pwhash may be NULL.
 * Errors: INVALID, NOTFOUND (domain), EXISTS (address already routed).
 */
int	store_user_add(struct store_txn *, const char *address,
	    const char *pwhash, uint64_t quota_bytes, uint64_t quota_messages,
	    uint32_t *id_r);
/* 1 found, 0 not. */
int	store_user_get(struct store_txn *, uint32_t id, struct store_user *r);
/*
 * Finds a user by login: "user@domain" or "user#domain", any case.
 * 1 found, 0 not.
 */
int	store_user_find(struct store_txn *, const char *login,
	    struct store_user *r);
/*
 * Rewrites the settable fields of u (pwhash, quotas, disabled state,
 * reason, over_quota_since, fs ids).  Usage counters and the address are
 * kept from the stored record: they change only with the messages.  A
 * change of the fs ids notifies every mailbox of the user (notify.h): the
 * file view owns the user's tree by them.
 */
int	store_user_update(struct store_txn *, const struct store_user *u);
/*
 * Deletes the user: every mailbox and message (blob references dropped),
 * every route that delivers to it, the user record.  1 deleted.
 */
int	store_user_del(struct store_txn *, uint32_t id);

/*
 * Renames the user to new_address, in the same or another local
 * (non-alias) domain: its login and record, and its own route (moved with
 * all its targets, in order).  Every alias target naming the old address
 * names the new one (*naliases_r, may be NULL: how many routes changed).
 * Mail, quota, usage, password, filter and auto-reply are kept (they
 * belong to the id).  Every mailbox of the user is notified (the file
 * view names the user's tree by the address).  Routes of "old+ext" and
 * list memberships are left alone.  The caller holds the delivery and
 * POP3 locks of both addresses.  1 done.  Errors: NOTFOUND (user,
 * domain), INVALID (address, alias domain, the same address), EXISTS
 * (new_address is a user, a route or a list).
 */
int	store_user_rename(struct store_txn *, uint32_t id,
	    const char *new_address, unsigned *naliases_r);
typedef int store_user_fn(const struct store_user *, void *ctx);
/* Every user, in login (address) order, in this one snapshot. */
int	store_user_list(struct store_txn *, store_user_fn *fn, void *ctx);
/*
 * One page of that list: at most max users whose login sorts after
 * after ("" : from the first), in login order.  *last_r (at least
 * STORE_ADDRESS_MAX + 1 bytes) is set to the last login visited, the
 * after of the next page; pages read in separate snapshots cover every
 * user that existed throughout, each once, so a caller can list any
 * number of users in bounded memory and with short read transactions.
 * 1 when users were visited, 0 when none is left, -1 on error (fn's
 * included).
 */
int	store_user_list_page(struct store_txn *, const char *after,
	    size_t max, store_user_fn *fn, void *ctx, char *last_r);
/*
 * The same for the users of one (local, not alias) domain, in address
 * order, read from the domain index: the cost is that of the domain's
 * users, not of every user.  after is a login of that domain or "".
 */
int	store_user_list_domain(struct store_txn *, const char *domain,
	    const char *after, size_t max, store_user_fn *fn, void *ctx,
	    char *last_r);

/*
 * Quota and the grace clock (DESIGN.md, "Delivery pipeline").
 *
 * over_quota_since is the grace clock.  It starts (when it is not running)
 * when a quota-checked delivery is refused, or when usage goes over a
 * limit some other way (an import, a lowered quota).  It stops when a
 * quota-checked delivery succeeds, and when usage goes down (or a limit
 * changes) to below the full mark.  When the clock has run for longer
 * than the grace period, the account is disabled only if it is full then:
 * usage at or above the full mark of the byte or the message quota
 * ([quota] full_mark, CONFIG_QUOTA_FULL_MARK by default).  Otherwise the
 * clock is stopped and the account stays enabled: one refused large
 * message does not lock out a mailbox with room.
 */

/* How store_user_quota_update() may stop the clock. */
#define STORE_QUOTA_KEEP	0	/* never (usage went up) */
#define STORE_QUOTA_BELOW_MARK	1	/* when usage is below the mark */
#define STORE_QUOTA_FITTED	2	/* always: a checked delivery fitted */

/*
 * Grace-clock bookkeeping after a usage or limit change: starts the clock
 * when usage exceeds a limit and it was off; stops it as how says.  The
 * message functions call it with every usage change.  1 changed, 0 not.
 */
int	store_user_quota_update(struct store_txn *, uint32_t id, int how);
/* 1 when adding (bytes, messages) stays within the user's limits. */
int	store_user_quota_fits(const struct store_user *, uint64_t bytes,
	    uint64_t messages);

/*
 * The full mark of this process, in percent (1-100); like
 * store_set_clock(), set once at start from [quota] full_mark.  Until
 * then CONFIG_QUOTA_FULL_MARK.  Values outside 1-100 are clamped.
 */
void	store_user_set_full_mark(unsigned percent);
unsigned store_user_full_mark(void);
/*
 * 1 when usage is at or above the full mark of the byte or the message
 * quota; 0 when below both (or there is no quota).
 */
int	store_user_quota_full(const struct store_user *);
/*
 * Usage as per mille of a limit (bytes when messages is 0, else messages),
 * for display; -1 when that limit is unlimited.
 */
int64_t	store_user_usage_permille(const struct store_user *, int messages);

enum store_grace {
	STORE_GRACE_OFF = 0,	/* the clock is not running */
	STORE_GRACE_RUNS,	/* running, the grace period is not over */
	STORE_GRACE_DISABLE,	/* over, and the account is full: disable */
	STORE_GRACE_CLEAR,	/* over, but not full: stop the clock */
};
/*
 * Where the grace clock of u stands at now with a grace period of
 * grace_days; *ends_r (may be NULL) gets when the period ends (0 when the
 * clock is off).  Pure: the caller writes what follows.
 */
enum store_grace store_user_grace(const struct store_user *,
	    unsigned grace_days, time_t now, int64_t *ends_r);

/*
 * A login: finds the user by login (store_user_find()), checks the
 * password and that the account is enabled.  1 ok (*r filled), 0 refused
 * (err_msg() says why: no such user, wrong password, disabled with its
 * reason), -1 error.  An unknown login is verified against a dummy hash
 * of the default scheme, so it costs the same.  The three steps below in
 * one call.
 */
int	store_user_login(struct store *, const char *login,
	    const char *password, struct store_user *r);

/*
 * A login in three steps, so that the hash runs on another thread:
 * store_login_begin() (the caller's thread: reads the record in its own
 * snapshot, consults the per-process cache of recent good logins; never
 * fails: a read error is kept for the end), store_login_verify() (any
 * thread: only the hash, touching nothing but l and, for an unknown
 * login, the process's dummy hash, made once under pthread_once()), store_login_end() (the
 * store's thread again: the verdict as store_user_login(), r may be NULL;
 * a good login is remembered in the cache).  store_login_free() wipes.
 */
struct store_login {
	struct store_user	 u;
	int			 found;
	int			 cached;	/* verified lately: no hash */
	int			 verified;
	int			 rc;		/* -1: the read failed */
	enum err_class		 err;
	char			 why[256];
	char			 hash[STORE_PWHASH_MAX + 1];
	char			*password;
};
struct store_login *store_login_begin(struct store *, const char *login,
	    const char *password);
/*
 * The same; with domains, a domain login (a local domain's name and the
 * password `vellumctl domain passwd` gave it; SMTP submission only) ends
 * as a user with id 0 and the domain as its address.
 */
struct store_login *store_login_begin_domains(struct store *,
	    const char *login, const char *password, int domains);
void	store_login_verify(struct store_login *);
int	store_login_end(struct store *, struct store_login *,
	    struct store_user *r);
void	store_login_free(struct store_login **);

/*
 * Password hashes.  A stored pwhash is "" (no login), a crypt(3) string
 * that libxcrypt checks ($y$ yescrypt, $gy$, $7$, $6$, $5$, $2b$/$2y$/$2a$,
 * $1$, DES and the rarer ones it enables), or "{SCHEME}base64" of a digest
 * [+ salt] for SSHA512, SSHA256, SSHA, SHA512, SHA256, SHA (SHA1), SMD5,
 * LDAP-MD5, PLAIN-MD5 (Dovecot's passdb schemes, checked with OpenSSL's
 * EVP and a constant-time compare).
 */

/* Hashes password with yescrypt; *hash_r is malloc'd. */
int	store_password_hash(const char *password, char **hash_r);
/* 1 the password matches, 0 it does not (or hash is empty/invalid). */
int	store_password_verify(const char *hash, const char *password);

/* How store_password_import() takes text without a {SCHEME} prefix. */
#define STORE_PW_BARE_CRYPT	0	/* a crypt(3) hash (passwd-file) */
#define STORE_PW_BARE_PLAIN	1	/* a password, unless it starts '$' */

/*
 * Turns a password field as Dovecot's passdb and crypt(3) hold it into a
 * stored pwhash (*hash_r, malloc'd): "{CRYPT}", "{SHA512-CRYPT}",
 * "{SHA256-CRYPT}", "{MD5-CRYPT}" ("{MD5}"), "{BLF-CRYPT}", "{DES-CRYPT}"
 * and a bare crypt(3) string are checked (the prefix the scheme names,
 * what libxcrypt verifies, the checksum's length) and kept as the crypt
 * string; "{PLAIN}", "{CLEAR}", "{CLEARTEXT}" are hashed with the default
 * scheme (store_password_hash()), never stored; the digest schemes above
 * (names in any case, ".HEX"/".B64" suffixes and Dovecot's hex form read)
 * are kept as "{SCHEME}base64".  With STORE_PW_BARE_PLAIN, text that
 * starts neither "$" nor "{...}" is a password and is hashed.  0 done; -1 ERR_INVALID for any other
 * scheme (ARGON2ID, SCRYPT, PBKDF2, CRAM-MD5...) or a malformed hash: the
 * message names the scheme, never the hash; ERR_TEMP when hashing fails.
 */
int	store_password_import(const char *in, int bare, char **hash_r);

/*
 * Normalises a login or address into buf (STORE_ADDRESS_MAX + 1): lower
 * case, '#' as the domain separator accepted (user#domain).  "@domain"
 * (catch-all) is allowed when allow_catchall is set.  0 done.  Errors:
 * INVALID.
 */
int	store_address_normalize(const char *in, char *buf, int allow_catchall);

#endif
