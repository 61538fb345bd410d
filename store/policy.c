/*
 * policy.c - see policy.h.
 *
 * `policy` rows, by the first byte of the key:
 *   'd' domain name          -> settings: the domain's defaults
 *   'u' user id (BE 32)      -> settings: the user's own
 *   's' user id              -> the user's counters and lock
 *   'r' user id, day (BE 64), address -> "": a recipient of that day
 * Settings: version 1, the set mask (u32), then each set value in key
 * order (a varint; the sender domain as a string).  A user's rows are
 * neighbours per kind, and a day's recipients a range that goes at once.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/size.h"
#include "domain.h"
#include "policy.h"
#include "private.h"
#include "user.h"

#define POL_KEY_MAX	(1 + 4 + 8 + STORE_ADDRESS_MAX)
#define POL_DEF_LOCK_TIME	3600
#define POL_DEF_MAX_UNLOCKS	3

enum pol_type { PT_COUNT, PT_SIZE, PT_TIME, PT_BOOL, PT_SCORE, PT_DOMAIN };

static const struct {
	const char	*name;
	enum pol_type	 type;
} pol_keys[STORE_POL_COUNT] = {
	[STORE_POL_PER_MINUTE] = { "per-minute", PT_COUNT },
	[STORE_POL_PER_HOUR] = { "per-hour", PT_COUNT },
	[STORE_POL_PER_DAY] = { "per-day", PT_COUNT },
	[STORE_POL_BYTES_PER_DAY] = { "bytes-per-day", PT_SIZE },
	[STORE_POL_RCPTS_PER_DAY] = { "recipients-per-day", PT_COUNT },
	[STORE_POL_INVALID_PER_DAY] = { "invalid-per-day", PT_COUNT },
	[STORE_POL_LOCK_TIME] = { "lock-time", PT_TIME },
	[STORE_POL_MAX_UNLOCKS] = { "max-unlocks", PT_COUNT },
	[STORE_POL_NOTIFY_USER] = { "notify-user", PT_BOOL },
	[STORE_POL_ATTACHMENT_SIZE] = { "attachment-size", PT_SIZE },
	[STORE_POL_SPAM_SCORE] = { "spam-score", PT_SCORE },
	[STORE_POL_VALID_SENDER] = { "valid-sender", PT_BOOL },
	[STORE_POL_SENDER_DOMAIN] = { "sender-domain", PT_DOMAIN },
};

static size_t	pol_key(uint8_t *, uint8_t kind, uint32_t id);
static int	pol_decode(const MDB_val *, struct store_policy *);
static int	pol_get(struct store_txn *, const void *, size_t,
		    struct store_policy *);
static int	pol_put(struct store_txn *, const void *, size_t,
		    const struct store_policy *);
static void	pol_merge(struct store_policy *, const struct store_policy *);
static int	stat_decode(const MDB_val *, struct store_sendstat *);
static int	pol_ready(struct store_txn *, int write);

const char *
store_policy_name(enum store_pol_key k)
{
	return (unsigned)k < STORE_POL_COUNT ? pol_keys[k].name : NULL;
}

int
store_policy_key(const char *name)
{
	int i;

	for (i = 0; i < STORE_POL_COUNT; i++)
		if (strcmp(pol_keys[i].name, name) == 0)
			return i;
	return -1;
}

void
store_policy_defaults(struct store_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->set = (1u << STORE_POL_COUNT) - 1;
	p->v[STORE_POL_LOCK_TIME] = POL_DEF_LOCK_TIME;
	p->v[STORE_POL_MAX_UNLOCKS] = POL_DEF_MAX_UNLOCKS;
}

int
store_policy_parse(enum store_pol_key k, const char *value,
    struct store_policy *p)
{
	const char *name = store_policy_name(k);
	uint64_t n = 0;
	char *end;

	if (name == NULL)
		return err_set(ERR_INVALID, "unknown policy setting %d", k);
	if (strcmp(value, "-") == 0) {
		p->set &= ~(1u << k);
		p->v[k] = 0;
		if (k == STORE_POL_SENDER_DOMAIN)
			p->domain[0] = '\0';
		return 0;
	}
	switch (pol_keys[k].type) {
	case PT_COUNT:
		if (!isdigit((unsigned char)value[0]))
			goto bad;
		errno = 0;
		n = strtoull(value, &end, 10);
		if (errno != 0 || *end != '\0' || n > UINT32_MAX)
			goto bad;
		break;
	case PT_SIZE:
		if (strcmp(value, "0") != 0 && size_parse(value, &n) == -1)
			goto bad;
		break;
	case PT_TIME:
		if (duration_parse(value, &n) == -1)
			goto bad;
		break;
	case PT_BOOL:
		if (strcmp(value, "yes") == 0)
			n = 1;
		else if (strcmp(value, "no") != 0)
			goto bad;
		break;
	case PT_SCORE: {
		unsigned whole = 0, tenth = 0;
		const char *s = value;

		if (!isdigit((unsigned char)*s))
			goto bad;
		for (; isdigit((unsigned char)*s) && whole < 100000; s++)
			whole = whole * 10 + (unsigned)(*s - '0');
		if (*s == '.' && isdigit((unsigned char)s[1]) && s[2] == '\0')
			tenth = (unsigned)(s[1] - '0'), s += 2;
		if (*s != '\0' || whole >= 100000)
			goto bad;
		n = whole * 10 + tenth;
		break;
	}
	case PT_DOMAIN:
		if (store_domain_normalize(value, p->domain) == -1)
			goto bad;
		break;
	}
	p->v[k] = n;
	p->set |= 1u << k;
	return 0;
bad:
	switch (pol_keys[k].type) {
	case PT_COUNT:
		return err_set(ERR_INVALID, "%s '%s': write a whole number "
		    "(0: no limit) or - (inherit)", name, value);
	case PT_SIZE:
		return err_set(ERR_INVALID, "%s '%s': write a size such as "
		    "10M (0: no limit) or - (inherit)", name, value);
	case PT_TIME:
		return err_set(ERR_INVALID, "%s '%s': write a time such as "
		    "90s, 30m, 1h or 2d (0: refuse without a lock) or - "
		    "(inherit)", name, value);
	case PT_BOOL:
		return err_set(ERR_INVALID, "%s '%s': write yes, no or - "
		    "(inherit)", name, value);
	case PT_SCORE:
		return err_set(ERR_INVALID, "%s '%s': write a score such as "
		    "5 or 6.5 (0: not scanned) or - (inherit)", name, value);
	case PT_DOMAIN:
		break;
	}
	return err_set(ERR_INVALID, "%s '%s': write a domain name or - "
	    "(inherit)", name, value);
}

void
store_policy_format(const struct store_policy *p, enum store_pol_key k,
    char *buf, size_t size)
{
	uint64_t n = p->v[k];

	if (!(p->set & (1u << k))) {
		snprintf(buf, size, "-");
		return;
	}
	switch (pol_keys[k].type) {
	case PT_COUNT:
		snprintf(buf, size, "%" PRIu64, n);
		break;
	case PT_SIZE:
		if (n == 0)
			snprintf(buf, size, "0");
		else
			size_format_exact(n, buf, size);
		break;
	case PT_TIME:
		duration_format(n, buf, size);
		break;
	case PT_BOOL:
		snprintf(buf, size, "%s", n ? "yes" : "no");
		break;
	case PT_SCORE:
		if (n % 10 == 0)
			snprintf(buf, size, "%" PRIu64, n / 10);
		else
			snprintf(buf, size, "%" PRIu64 ".%" PRIu64, n / 10,
			    n % 10);
		break;
	case PT_DOMAIN:
		snprintf(buf, size, "%s", p->domain[0] != '\0' ? p->domain :
		    "none");
		break;
	}
}

/* Rows ------------------------------------------------------------------ */

/* 1 the table is there, 0 an old store opened read-only (no rows). */
static int
pol_ready(struct store_txn *t, int write)
{
	if (!t->st->no_policy)
		return 1;
	if (write)
		return err_set(ERR_PERM, "the store is read-only");
	return 0;
}

static size_t
pol_key(uint8_t *key, uint8_t kind, uint32_t id)
{
	key[0] = kind;
	be32enc(key + 1, id);
	return 5;
}

static int
pol_decode(const MDB_val *v, struct store_policy *p)
{
	struct unpack u;
	int k;

	memset(p, 0, sizeof(*p));
	unpack_init(&u, v);
	p->set = unpack_u32(&u);
	if (p->set >> STORE_POL_COUNT)
		u.bad = 1;
	for (k = 0; k < STORE_POL_COUNT && !u.bad; k++) {
		if (!(p->set & (1u << k)))
			continue;
		if (k == STORE_POL_SENDER_DOMAIN)
			unpack_str(&u, p->domain, sizeof(p->domain));
		else
			p->v[k] = unpack_uv(&u);
	}
	if (!u.bad && u.left != 0)
		u.bad = 1;
	return unpack_done(&u, "sending policy");
}

static int
pol_get(struct store_txn *t, const void *key, size_t kl,
    struct store_policy *p)
{
	MDB_val v;
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = pol_ready(t, 0)) != 1)
		return rc;
	if ((rc = sdb_get(t, DB_POLICY, key, kl, &v)) != 1)
		return rc;
	return pol_decode(&v, p) == -1 ? -1 : 1;
}

static int
pol_put(struct store_txn *t, const void *key, size_t kl,
    const struct store_policy *p)
{
	struct pack pk;
	int k, rc;

	if (pol_ready(t, 1) == -1)
		return -1;
	if ((p->set & ((1u << STORE_POL_COUNT) - 1)) == 0)
		return sdb_del(t, DB_POLICY, key, kl) == -1 ? -1 : 0;
	pack_init(&pk);
	pack_u32(&pk, p->set);
	for (k = 0; k < STORE_POL_COUNT; k++) {
		if (!(p->set & (1u << k)))
			continue;
		if (k == STORE_POL_SENDER_DOMAIN)
			pack_str(&pk, p->domain);
		else
			pack_uv(&pk, p->v[k]);
	}
	rc = sdb_put(t, DB_POLICY, key, kl, pk.buf, pk.len, 0);
	pack_free(&pk);
	return rc == -1 ? -1 : 0;
}

/* 'd', the domain: the key of its defaults.  Its length, 0 INVALID. */
static size_t
dom_key(uint8_t *key, const char *domain)
{
	size_t n = strlen(domain);

	if (n == 0 || n > STORE_DOMAIN_MAX) {
		err_set(ERR_INVALID, "'%s' is not a domain", domain);
		return 0;
	}
	key[0] = 'd';
	memcpy(key + 1, domain, n);
	return 1 + n;
}

int
store_policy_domain_get(struct store_txn *t, const char *domain,
    struct store_policy *p)
{
	uint8_t key[1 + STORE_DOMAIN_MAX];
	size_t kl = dom_key(key, domain);

	return kl == 0 ? -1 : pol_get(t, key, kl, p);
}

int
store_policy_domain_set(struct store_txn *t, const char *domain,
    const struct store_policy *p)
{
	uint8_t key[1 + STORE_DOMAIN_MAX];
	size_t kl = dom_key(key, domain);

	return kl == 0 ? -1 : pol_put(t, key, kl, p);
}

int
store_policy_user_get(struct store_txn *t, uint32_t user_id,
    struct store_policy *p)
{
	uint8_t key[5];

	return pol_get(t, key, pol_key(key, 'u', user_id), p);
}

int
store_policy_user_set(struct store_txn *t, uint32_t user_id,
    const struct store_policy *p)
{
	uint8_t key[5];

	return pol_put(t, key, pol_key(key, 'u', user_id), p);
}

/* The settings of over replace those of p. */
static void
pol_merge(struct store_policy *p, const struct store_policy *over)
{
	int k;

	for (k = 0; k < STORE_POL_COUNT; k++) {
		if (!(over->set & (1u << k)))
			continue;
		p->v[k] = over->v[k];
		p->set |= 1u << k;
		if (k == STORE_POL_SENDER_DOMAIN)
			memcpy(p->domain, over->domain, sizeof(p->domain));
	}
}

int
store_policy_effective(struct store_txn *t, uint32_t user_id,
    const char *address, struct store_policy *p)
{
	struct store_policy row;
	struct store_domain d;
	const char *at = strrchr(address, '@');
	int rc;

	store_policy_defaults(p);
	if (at != NULL && (rc = store_domain_get(t, at + 1, &d)) != 0) {
		if (rc == -1)
			return -1;
		if (d.alias_of[0] != '\0' && (rc = store_policy_domain_get(t,
		    d.alias_of, &row)) != 0) {
			if (rc == -1)
				return -1;
			pol_merge(p, &row);
		}
		if ((rc = store_policy_domain_get(t, d.name, &row)) == -1)
			return -1;
		if (rc == 1)
			pol_merge(p, &row);
	}
	if ((rc = store_policy_user_get(t, user_id, &row)) == -1)
		return -1;
	if (rc == 1)
		pol_merge(p, &row);
	return 0;
}

/* Counters -------------------------------------------------------------- */

static int
stat_decode(const MDB_val *v, struct store_sendstat *s)
{
	struct unpack u;

	memset(s, 0, sizeof(*s));
	unpack_init(&u, v);
	s->minute = (int64_t)unpack_u64(&u);
	s->per_minute = unpack_u32(&u);
	s->hour = (int64_t)unpack_u64(&u);
	s->per_hour = unpack_u32(&u);
	s->day = (int64_t)unpack_u64(&u);
	s->msgs = unpack_u32(&u);
	s->bytes = unpack_u64(&u);
	s->rcpts = unpack_u32(&u);
	s->invalid = unpack_u32(&u);
	s->locked_until = (int64_t)unpack_u64(&u);
	s->locked_at = (int64_t)unpack_u64(&u);
	s->locks = unpack_u32(&u);
	s->unlocks = unpack_u32(&u);
	unpack_str(&u, s->reason, sizeof(s->reason));
	s->purge = unpack_u8(&u) != 0;
	if (!u.bad && u.left != 0)
		u.bad = 1;
	return unpack_done(&u, "sending counters");
}

void
store_subject_user(struct store_subject *sj, uint32_t user_id)
{
	sj->key[0] = STORE_SUBJ_USER;
	be32enc(sj->key + 1, user_id);
	sj->len = 5;
}

void
store_subject_named(struct store_subject *sj, enum store_subject_kind kind,
    const char *name)
{
	size_t n = strlen(name);

	if (n > STORE_SUBJECT_MAX - 1)
		n = STORE_SUBJECT_MAX - 1;
	sj->key[0] = (uint8_t)kind;
	memcpy(sj->key + 1, name, n);
	sj->len = 1 + n;
}

enum store_subject_kind
store_subject_kind(const struct store_subject *sj)
{
	return (enum store_subject_kind)sj->key[0];
}

uint32_t
store_subject_user_id(const struct store_subject *sj)
{
	return sj->key[0] == STORE_SUBJ_USER && sj->len == 5 ?
	    be32dec(sj->key + 1) : 0;
}

void
store_subject_name(const struct store_subject *sj, char *buf, size_t size)
{
	if (sj->key[0] == STORE_SUBJ_USER)
		snprintf(buf, size, "%s", "");
	else
		snprintf(buf, size, "%.*s", (int)(sj->len - 1),
		    (const char *)sj->key + 1);
}

/* 's', the subject: the key of its counters.  Its length. */
static size_t
stat_key(uint8_t *key, const struct store_subject *sj)
{
	key[0] = 's';
	memcpy(key + 1, sj->key, sj->len);
	return 1 + sj->len;
}

int
store_sendstat_get(struct store_txn *t, const struct store_subject *sj,
    struct store_sendstat *s)
{
	uint8_t key[1 + STORE_SUBJECT_MAX];
	MDB_val v;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = pol_ready(t, 0)) != 1)
		return rc;
	if ((rc = sdb_get(t, DB_POLICY, key, stat_key(key, sj), &v)) != 1)
		return rc;
	return stat_decode(&v, s) == -1 ? -1 : 1;
}

int
store_sendstat_put(struct store_txn *t, const struct store_subject *sj,
    const struct store_sendstat *s)
{
	uint8_t key[1 + STORE_SUBJECT_MAX];
	struct pack pk;
	int rc;

	if (pol_ready(t, 1) == -1)
		return -1;
	pack_init(&pk);
	pack_u64(&pk, (uint64_t)s->minute);
	pack_u32(&pk, s->per_minute);
	pack_u64(&pk, (uint64_t)s->hour);
	pack_u32(&pk, s->per_hour);
	pack_u64(&pk, (uint64_t)s->day);
	pack_u32(&pk, s->msgs);
	pack_u64(&pk, s->bytes);
	pack_u32(&pk, s->rcpts);
	pack_u32(&pk, s->invalid);
	pack_u64(&pk, (uint64_t)s->locked_until);
	pack_u64(&pk, (uint64_t)s->locked_at);
	pack_u32(&pk, s->locks);
	pack_u32(&pk, s->unlocks);
	pack_str(&pk, s->reason);
	pack_u8(&pk, s->purge ? 1 : 0);
	rc = sdb_put(t, DB_POLICY, key, stat_key(key, sj), pk.buf, pk.len, 0);
	pack_free(&pk);
	return rc == -1 ? -1 : 0;
}

/*
 * 'r', the subject's length and bytes: the prefix of its recipient rows;
 * then the day (BE 64) and the address.  Its length.
 */
static size_t
rcpt_prefix(uint8_t *key, const struct store_subject *sj)
{
	key[0] = 'r';
	key[1] = (uint8_t)sj->len;
	memcpy(key + 2, sj->key, sj->len);
	return 2 + sj->len;
}

static size_t
rcpt_key(uint8_t *key, const struct store_subject *sj, int64_t day,
    const char *addr)
{
	size_t n = strlen(addr), kl = rcpt_prefix(key, sj);

	if (n > STORE_ADDRESS_MAX)
		n = STORE_ADDRESS_MAX;
	be64enc(key + kl, (uint64_t)day);
	memcpy(key + kl + 8, addr, n);
	return kl + 8 + n;
}

int
store_sendstat_seen(struct store_txn *t, const struct store_subject *sj,
    int64_t day, const char *addr)
{
	uint8_t key[POL_KEY_MAX];
	MDB_val v;
	int rc;

	if ((rc = pol_ready(t, 0)) != 1)
		return rc;
	return sdb_get(t, DB_POLICY, key, rcpt_key(key, sj, day, addr), &v);
}

int
store_sendstat_rcpt(struct store_txn *t, const struct store_subject *sj,
    int64_t day, const char *addr)
{
	uint8_t key[POL_KEY_MAX];
	size_t kl;
	MDB_val v;
	int rc;

	if (pol_ready(t, 1) == -1)
		return -1;
	kl = rcpt_key(key, sj, day, addr);
	if ((rc = sdb_get(t, DB_POLICY, key, kl, &v)) != 0)
		return rc == -1 ? -1 : 0;
	return sdb_put(t, DB_POLICY, key, kl, "", 0, 0) == -1 ? -1 : 1;
}

int
store_sendstat_newday(struct store_txn *t, const struct store_subject *sj,
    int64_t day, size_t max)
{
	uint8_t key[2 + STORE_SUBJECT_MAX];
	size_t kl, n = 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (pol_ready(t, 1) == -1)
		return -1;
	kl = rcpt_prefix(key, sj);
	if (sdb_cursor(t, DB_POLICY, &c) == -1)
		return -1;
	k.mv_data = key;
	k.mv_size = kl;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < kl + 8 || memcmp(k.mv_data, key, kl) != 0 ||
		    (int64_t)be64dec((const uint8_t *)k.mv_data + kl) >= day)
			break;
		if (n == max) {
			mdb_cursor_close(c);
			return 1;
		}
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "policy recipients");
	return 0;
}

/* 'p', the domain: its login's password hash. */
static size_t
pw_key(uint8_t *key, const char *domain)
{
	size_t n = strlen(domain);

	if (n > STORE_DOMAIN_MAX)
		n = STORE_DOMAIN_MAX;
	key[0] = 'p';
	memcpy(key + 1, domain, n);
	return 1 + n;
}

int
store_domain_pw_get(struct store_txn *t, const char *domain, char *hash,
    size_t size)
{
	uint8_t key[1 + STORE_DOMAIN_MAX];
	MDB_val v;
	int rc;

	hash[0] = '\0';
	if ((rc = pol_ready(t, 0)) != 1)
		return rc;
	if ((rc = sdb_get(t, DB_POLICY, key, pw_key(key, domain), &v)) != 1)
		return rc;
	if (v.mv_size == 0 || v.mv_size >= size ||
	    memchr(v.mv_data, '\0', v.mv_size) != NULL)
		return err_set(ERR_CORRUPT, "domain %s: damaged login "
		    "password (run vellumctl store check)", domain);
	memcpy(hash, v.mv_data, v.mv_size);
	hash[v.mv_size] = '\0';
	return 1;
}

int
store_domain_pw_set(struct store_txn *t, const char *domain,
    const char *hash)
{
	uint8_t key[1 + STORE_DOMAIN_MAX];
	size_t kl;

	if (pol_ready(t, 1) == -1)
		return -1;
	kl = pw_key(key, domain);
	if (hash[0] == '\0')
		return sdb_del(t, DB_POLICY, key, kl) == -1 ? -1 : 0;
	if (strlen(hash) > STORE_PWHASH_MAX)
		return err_set(ERR_INVALID, "password hash too long");
	return sdb_put(t, DB_POLICY, key, kl, hash, strlen(hash), 0) == -1 ?
	    -1 : 0;
}

/* With the user (store_user_del()) and the domain (store_domain_del()). */
static int
subject_drop(struct store_txn *t, const struct store_subject *sj)
{
	uint8_t key[1 + STORE_SUBJECT_MAX];

	if (sdb_del(t, DB_POLICY, key, stat_key(key, sj)) == -1)
		return -1;
	return store_sendstat_newday(t, sj, INT64_MAX, SIZE_MAX) == -1 ? -1 :
	    0;
}

int
policy_user_drop(struct store_txn *t, uint32_t user_id)
{
	struct store_subject sj;
	uint8_t key[5];

	if (t->st->no_policy)
		return 0;
	store_subject_user(&sj, user_id);
	if (sdb_del(t, DB_POLICY, key, pol_key(key, 'u', user_id)) == -1)
		return -1;
	return subject_drop(t, &sj);
}

int
policy_domain_drop(struct store_txn *t, const char *domain)
{
	struct store_policy none;
	struct store_subject sj;

	if (t->st->no_policy)
		return 0;
	memset(&none, 0, sizeof(none));
	store_subject_named(&sj, STORE_SUBJ_DOMAIN, domain);
	if (store_policy_domain_set(t, domain, &none) == -1 ||
	    store_domain_pw_set(t, domain, "") == -1)
		return -1;
	return subject_drop(t, &sj);
}

/* The subject of a counters key (after 's') exists: 1, 0, -1. */
static int
subject_exists(struct store_txn *t, const uint8_t *sk, size_t n)
{
	struct store_domain d;
	struct store_user u;
	char name[STORE_SUBJECT_MAX];

	if (n < 2)
		return 0;
	switch (sk[0]) {
	case STORE_SUBJ_USER:
		return n == 5 ? store_user_get(t, be32dec(sk + 1), &u) : 0;
	case STORE_SUBJ_DOMAIN:
		snprintf(name, sizeof(name), "%.*s", (int)(n - 1),
		    (const char *)sk + 1);
		return store_domain_get(t, name, &d);
	case STORE_SUBJ_HOST:
		return memchr(sk + 1, '\0', n - 1) == NULL;
	}
	return 0;
}

/* store check: every row decodes and belongs to someone. */
int
policy_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	struct store_policy p;
	struct store_sendstat s;
	struct store_domain d;
	struct store_user u;
	const uint8_t *kp;
	char buf[512], name[STORE_DOMAIN_MAX + 1];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (t->st->no_policy)
		return 0;
	if (sdb_cursor(t, DB_POLICY, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		kp = k.mv_data;
		buf[0] = '\0';
		if (k.mv_size >= 2 && (kp[0] == 'd' || kp[0] == 'p') &&
		    k.mv_size <= 1 + STORE_DOMAIN_MAX) {
			memcpy(name, kp + 1, k.mv_size - 1);
			name[k.mv_size - 1] = '\0';
			if (kp[0] == 'd' && pol_decode(&v, &p) == -1)
				snprintf(buf, sizeof(buf), "domain %s: %s",
				    name, err_msg());
			else if (kp[0] == 'p' && (v.mv_size == 0 ||
			    v.mv_size > STORE_PWHASH_MAX ||
			    memchr(v.mv_data, '\0', v.mv_size) != NULL))
				snprintf(buf, sizeof(buf), "domain %s: damaged "
				    "login password", name);
			else if (store_domain_get(t, name, &d) != 1)
				snprintf(buf, sizeof(buf), "sending policy of "
				    "missing domain %s", name);
		} else if (k.mv_size == 5 && kp[0] == 'u') {
			if (pol_decode(&v, &p) == -1)
				snprintf(buf, sizeof(buf), "user %u: %s",
				    be32dec(kp + 1), err_msg());
			else if (store_user_get(t, be32dec(kp + 1), &u) != 1)
				snprintf(buf, sizeof(buf), "sending policy of "
				    "missing user %u", be32dec(kp + 1));
		} else if (k.mv_size >= 3 && kp[0] == 's') {
			if (stat_decode(&v, &s) == -1)
				snprintf(buf, sizeof(buf), "sending counters: "
				    "%s", err_msg());
			else if (subject_exists(t, kp + 1, k.mv_size - 1) != 1)
				snprintf(buf, sizeof(buf), "sending counters of "
				    "a missing %s", kp[1] == 'u' ? "user" :
				    kp[1] == 'd' ? "domain" : "sender");
		} else if (k.mv_size >= 2 && kp[0] == 'r' &&
		    k.mv_size > 2u + kp[1] + 8) {
			if (v.mv_size != 0 || subject_exists(t, kp + 2,
			    kp[1]) != 1)
				snprintf(buf, sizeof(buf), "damaged sending "
				    "recipient row");
		} else
			snprintf(buf, sizeof(buf), "policy row with a damaged "
			    "key (%zu bytes)", k.mv_size);
		if (buf[0] != '\0')
			report(ctx, buf);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "policy");
	return 0;
}
