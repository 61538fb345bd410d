/*
 * policy.h - the outgoing policy of sending users (issue 14): limits and
 * rules per user, with defaults per domain, and each user's sending
 * counters and lock, all in the `policy` table.
 *
 * A setting has a value in the user's row, else in its domain's row,
 * else the built-in default (store_policy_defaults(): no limits, locks
 * of one hour, three automatic unlocks).  The rules that use them live in
 * deliver/policy.c; this file only keeps them.
 */
#ifndef VELLUM_STORE_POLICY_H
#define VELLUM_STORE_POLICY_H

#include <stdint.h>

#include "store.h"

enum store_pol_key {
	STORE_POL_PER_MINUTE,	/* messages per minute (0: no limit) */
	STORE_POL_PER_HOUR,	/* messages per hour */
	STORE_POL_PER_DAY,	/* messages per day (UTC) */
	STORE_POL_BYTES_PER_DAY, /* bytes per day */
	STORE_POL_RCPTS_PER_DAY, /* distinct recipient addresses per day */
	STORE_POL_INVALID_PER_DAY, /* unknown local recipients + remote 5xx */
	STORE_POL_LOCK_TIME,	/* seconds a limit locks the sender (0: the
				   message is refused, no lock) */
	STORE_POL_MAX_UNLOCKS,	/* automatic unlocks before a lock stays */
	STORE_POL_NOTIFY_USER,	/* 1: a lock is told to the user too */
	STORE_POL_ATTACHMENT_SIZE, /* bytes of one attachment, decoded */
	STORE_POL_SPAM_SCORE,	/* tenths: spamd's score at which outgoing
				   mail is refused (0: not scanned) */
	STORE_POL_VALID_SENDER,	/* 1: the envelope sender must exist */
	STORE_POL_SENDER_DOMAIN, /* sender and From: in this domain ("") */
	STORE_POL_COUNT
};

#define STORE_POL_DOMAIN_MAX	255

struct store_policy {
	uint32_t	set;		/* bit 1 << key: has a value here */
	uint64_t	v[STORE_POL_COUNT];
	char		domain[STORE_POL_DOMAIN_MAX + 1]; /* SENDER_DOMAIN */
};

/* The name of a setting in vellumctl and JSON ("per-minute"), or NULL. */
const char	*store_policy_name(enum store_pol_key);
/* The key of a name; -1 unknown. */
int		 store_policy_key(const char *name);
/* The built-in defaults, every bit of set on. */
void		 store_policy_defaults(struct store_policy *);
/*
 * Parses value for key into p (and sets its bit): numbers, sizes (1M),
 * durations (90s, 30m, 1h, 2d), yes|no, a score (5 or 5.5), a domain.
 * "-" clears the setting (it inherits again).  0, or -1 INVALID with a
 * message that names the setting and what it takes.
 */
int		 store_policy_parse(enum store_pol_key, const char *value,
		    struct store_policy *p);
/* The value as vellumctl prints it (and store_policy_parse() reads). */
void		 store_policy_format(const struct store_policy *,
		    enum store_pol_key, char *buf, size_t size);

/*
 * A domain's defaults and a user's own settings: 1 found, 0 none (p is
 * empty), -1.  set/del replace or remove the row (a row without any
 * setting is removed).
 */
int	store_policy_domain_get(struct store_txn *, const char *domain,
	    struct store_policy *p);
int	store_policy_domain_set(struct store_txn *, const char *domain,
	    const struct store_policy *p);
int	store_policy_user_get(struct store_txn *, uint32_t user_id,
	    struct store_policy *p);
int	store_policy_user_set(struct store_txn *, uint32_t user_id,
	    const struct store_policy *p);
/*
 * What applies to a user: the defaults, then its domain's row (the
 * domain of address; an alias domain's own row, else its real domain's),
 * then its own.  0, or -1.
 */
int	store_policy_effective(struct store_txn *, uint32_t user_id,
	    const char *address, struct store_policy *p);

/* A lock that no automatic unlock ends (only vellumctl user unlock). */
#define STORE_LOCK_FOREVER	INT64_MAX
#define STORE_LOCK_REASON_MAX	200

/*
 * Who sends, for the counters: a user (its id), a domain login (a domain
 * and its password: any address of the domain), or a trusted host (its
 * IP address).  key is what the counters are filed under.
 */
enum store_subject_kind {
	STORE_SUBJ_USER = 'u',
	STORE_SUBJ_DOMAIN = 'd',
	STORE_SUBJ_HOST = 'h',
};
#define STORE_SUBJECT_MAX	(1 + STORE_POL_DOMAIN_MAX)
struct store_subject {
	uint8_t		key[STORE_SUBJECT_MAX];
	size_t		len;
};
void	store_subject_user(struct store_subject *, uint32_t user_id);
/* name: a domain (normalised) or an IP address as text. */
void	store_subject_named(struct store_subject *, enum store_subject_kind,
	    const char *name);
enum store_subject_kind store_subject_kind(const struct store_subject *);
/* The user id of a user subject (0 for the others). */
uint32_t store_subject_user_id(const struct store_subject *);
/* The domain or address of the others into buf ("" for a user). */
void	store_subject_name(const struct store_subject *, char *buf,
	    size_t size);

/* A subject's counters: fixed windows (UTC), so each resets by itself. */
struct store_sendstat {
	int64_t		minute;		/* the window (time / 60) ... */
	uint32_t	per_minute;	/* ... and messages in it */
	int64_t		hour;		/* time / 3600 */
	uint32_t	per_hour;
	int64_t		day;		/* time / 86400 */
	uint32_t	msgs;		/* that day */
	uint64_t	bytes;
	uint32_t	rcpts;		/* distinct addresses */
	uint32_t	invalid;
	int64_t		locked_until;	/* 0 none, STORE_LOCK_FOREVER */
	int64_t		locked_at;
	uint32_t	locks;		/* locks so far */
	uint32_t	unlocks;	/* automatic unlocks since the admin's */
	char		reason[STORE_LOCK_REASON_MAX + 1];
	int		purge;		/* recipient rows of days before may
					   be left (store_sendstat_newday()) */
};

/* 1 found, 0 none (s zeroed), -1. */
int	store_sendstat_get(struct store_txn *, const struct store_subject *,
	    struct store_sendstat *s);
int	store_sendstat_put(struct store_txn *, const struct store_subject *,
	    const struct store_sendstat *s);
/*
 * Notes that the subject sent to addr (normalised) on day: 1 the first
 * time that day, 0 seen already, -1.
 */
int	store_sendstat_rcpt(struct store_txn *, const struct store_subject *,
	    int64_t day, const char *addr);
/* 1 the subject sent to addr on day already, 0 not, -1. */
int	store_sendstat_seen(struct store_txn *, const struct store_subject *,
	    int64_t day, const char *addr);
/*
 * Drops the recipient rows of the subject of days before day, at most
 * max of them (a sender of many recipients a day must not make one
 * commit long): 1 when some may be left, 0 all gone, -1.
 */
int	store_sendstat_newday(struct store_txn *,
	    const struct store_subject *, int64_t day, size_t max);

/*
 * A domain login's password (a crypt(3) hash, "" none): 1 found, 0
 * none, -1.  set with "" removes it.
 */
int	store_domain_pw_get(struct store_txn *, const char *domain,
	    char *hash, size_t size);
int	store_domain_pw_set(struct store_txn *, const char *domain,
	    const char *hash);

#endif
