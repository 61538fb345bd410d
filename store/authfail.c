/*
 * authfail.c - `authfail`: (client IP, login) -> failed logins (see
 * authfail.h).
 *
 * Key: the address, a NUL byte, the normalised login ("" for the
 * address's own record), so that a cursor finds an address's records
 * together.  Value: version, failures u32, first, last, locked_until
 * (u64 each).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "authfail.h"
#include "private.h"

#define AUTHFAIL_KEY_MAX	(STORE_AUTHFAIL_IP_MAX + 1 + STORE_ADDRESS_MAX)
/* When the table is full of live records, drop this share of them. */
#define AUTHFAIL_EVICT_DIV	8

struct authfail_key {
	uint8_t	buf[AUTHFAIL_KEY_MAX + 1];
	size_t	len;
};

struct authfail_op {
	const struct auth_policy	*p;
	const char			*ip;
	char				 user[STORE_ADDRESS_MAX + 1];
	int				 has_user;
	unsigned			 secs;
	unsigned			 recent;
	unsigned			 n;
	int				 result;
};

static unsigned	authfail_max = STORE_AUTHFAIL_MAX;

static int	authfail_user(const char *login, char *buf);
static int	authfail_key(const char *ip, const char *user,
		    struct authfail_key *);
static int	authfail_get(struct store_txn *, const struct authfail_key *,
		    struct store_authfail *);
static int	authfail_put(struct store_txn *, const struct authfail_key *,
		    const struct store_authfail *);
static int	authfail_decode(const MDB_val *, const MDB_val *,
		    struct store_authfail *);
static int	authfail_bump(struct store_txn *, struct authfail_op *,
		    const char *user, unsigned max, unsigned *count_r);
static int	authfail_prune(struct store_txn *, const struct auth_policy *);
static void	authfail_op_init(struct authfail_op *, const struct auth_policy *,
		    const char *ip, const char *login);

/* The login as a record names it: normalised, or lower case as given. */
static int
authfail_user(const char *login, char *buf)
{
	size_t i;

	if (login == NULL || login[0] == '\0')
		return 0;
	if (store_address_normalize(login, buf, 0) == 0)
		return 1;
	err_clear();
	for (i = 0; i < STORE_ADDRESS_MAX && login[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)login[i]);
	buf[i] = '\0';
	return 1;
}

static int
authfail_key(const char *ip, const char *user, struct authfail_key *k)
{
	size_t ni = strlen(ip), nu = strlen(user);

	if (ni == 0 || ni > STORE_AUTHFAIL_IP_MAX)
		return err_set(ERR_INVALID, "bad client address '%.64s'", ip);
	memcpy(k->buf, ip, ni);
	k->buf[ni] = '\0';
	memcpy(k->buf + ni + 1, user, nu);
	k->len = ni + 1 + nu;
	return 0;
}

static int
authfail_decode(const MDB_val *k, const MDB_val *v, struct store_authfail *r)
{
	const char *key = k->mv_data, *nul;
	struct unpack u;
	size_t ni, nu;

	memset(r, 0, sizeof(*r));
	nul = memchr(key, '\0', k->mv_size);
	if (nul == NULL)
		return err_set(ERR_CORRUPT, "authfail key without a NUL");
	ni = (size_t)(nul - key);
	nu = k->mv_size - ni - 1;
	if (ni > STORE_AUTHFAIL_IP_MAX || nu > STORE_ADDRESS_MAX)
		return err_set(ERR_CORRUPT, "authfail key too long");
	memcpy(r->ip, key, ni);
	memcpy(r->user, nul + 1, nu);
	unpack_init(&u, v);
	r->failures = unpack_u32(&u);
	r->first = (int64_t)unpack_u64(&u);
	r->last = (int64_t)unpack_u64(&u);
	r->locked_until = (int64_t)unpack_u64(&u);
	return unpack_done(&u, "authfail") == -1 ? -1 : 1;
}

static int
authfail_get(struct store_txn *t, const struct authfail_key *k,
    struct store_authfail *r)
{
	MDB_val kv = { k->len, (void *)k->buf }, v;
	int rc;

	if ((rc = sdb_get(t, DB_AUTHFAIL, k->buf, k->len, &v)) != 1) {
		memset(r, 0, sizeof(*r));
		return rc;
	}
	return authfail_decode(&kv, &v, r);
}

static int
authfail_put(struct store_txn *t, const struct authfail_key *k,
    const struct store_authfail *r)
{
	struct pack p;
	int rc;

	pack_init(&p);
	pack_u32(&p, r->failures);
	pack_u64(&p, (uint64_t)r->first);
	pack_u64(&p, (uint64_t)r->last);
	pack_u64(&p, (uint64_t)r->locked_until);
	rc = sdb_put(t, DB_AUTHFAIL, k->buf, k->len, p.buf, p.len, 0);
	pack_free(&p);
	return rc;
}

void
store_authfail_set_max(unsigned n)
{
	authfail_max = n > 2 ? n : STORE_AUTHFAIL_MAX;
}

/* Read side --------------------------------------------------------------- */

static int
authfail_blocked_txn(struct store_txn *t, void *ctx)
{
	struct authfail_op *op = ctx;
	struct authfail_key k;
	struct store_authfail r;
	int64_t now = store_now();

	if (authfail_key(op->ip, "", &k) == -1 || authfail_get(t, &k, &r) ==
	    -1)
		return -1;
	if (r.locked_until > now) {
		op->secs = (unsigned)(r.locked_until - now);
		return AUTH_BLOCK_ADDRESS;
	}
	if (!op->has_user)
		return AUTH_BLOCK_NONE;
	if (authfail_key(op->ip, op->user, &k) == -1 ||
	    authfail_get(t, &k, &r) == -1)
		return -1;
	if (r.locked_until > now) {
		op->secs = (unsigned)(r.locked_until - now);
		return AUTH_BLOCK_USER;
	}
	return AUTH_BLOCK_NONE;
}

/* An operation on ip's records and, when login is a login, its own. */
static void
authfail_op_init(struct authfail_op *op, const struct auth_policy *p,
    const char *ip, const char *login)
{
	memset(op, 0, sizeof(*op));
	op->p = p;
	op->ip = ip;
	op->has_user = authfail_user(login, op->user);
}

int
store_authfail_blocked(struct store *st, const struct auth_policy *p,
    const char *ip, const char *login, unsigned *secs_r)
{
	struct authfail_op op;
	int rc;

	authfail_op_init(&op, p, ip, login);
	rc = store_volatile_read(st, authfail_blocked_txn, &op);
	if (secs_r != NULL)
		*secs_r = rc > 0 ? op.secs : 0;
	return rc;
}

struct authfail_list {
	store_authfail_fn	*fn;
	void			*ctx;
};

static int
authfail_list_txn(struct store_txn *t, void *arg)
{
	struct authfail_list *l = arg;
	struct store_authfail r;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (sdb_cursor(t, DB_AUTHFAIL, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (authfail_decode(&k, &v, &r) == -1 ||
		    l->fn(&r, l->ctx) == -1) {
			ret = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	return ret;
}

int
store_authfail_list(struct store *st, store_authfail_fn *fn, void *ctx)
{
	struct authfail_list l = { fn, ctx };

	return store_volatile_read(st, authfail_list_txn, &l);
}

/* Write side -------------------------------------------------------------- */

/* Counts one failure in the record of (op->ip, user). */
static int
authfail_bump(struct store_txn *t, struct authfail_op *op, const char *user,
    unsigned max, unsigned *count_r)
{
	struct authfail_key k;
	struct store_authfail r;
	int64_t now = store_now();
	int rc;

	if (authfail_key(op->ip, user, &k) == -1 ||
	    (rc = authfail_get(t, &k, &r)) == -1)
		return -1;
	if (rc == 0 || now - r.first >= (int64_t)op->p->fail_window) {
		r.failures = 0;
		r.first = now;
	}
	r.failures++;
	r.last = now;
	if (r.failures >= max && r.locked_until <= now &&
	    op->p->lockout > 0) {
		r.locked_until = now + (int64_t)op->p->lockout;
		op->result = 1;
	}
	*count_r = r.failures;
	return authfail_put(t, &k, &r);
}

static int
authfail_record_txn(struct store_txn *t, void *ctx)
{
	struct authfail_op *op = ctx;
	unsigned n;
	MDB_stat ms;
	int rc;

	op->result = 0;
	if ((rc = mdb_stat(t->txn, t->st->dbi[DB_AUTHFAIL], &ms)) != 0)
		return sdb_error(t, rc, "authfail");
	/* Two records may be added below. */
	if (ms.ms_entries + 2 > authfail_max &&
	    authfail_prune(t, op->p) == -1)
		return -1;
	if (authfail_bump(t, op, "", op->p->fail_max_address,
	    &op->recent) == -1)
		return -1;
	if (op->has_user && authfail_bump(t, op, op->user, op->p->fail_max,
	    &n) == -1)
		return -1;
	return op->result;
}

int
store_authfail_record(struct store *st, const struct auth_policy *p,
    const char *ip, const char *login, unsigned *recent_r)
{
	struct authfail_op op;
	int rc;

	authfail_op_init(&op, p, ip, login);
	rc = store_volatile_write(st, authfail_record_txn, &op);
	if (recent_r != NULL)
		*recent_r = rc == -1 ? 1 : op.recent;
	return rc;
}

struct authfail_last {
	int64_t	*v;
	size_t	 n;
};

static int
authfail_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Makes room: drops records that neither count nor lock any more; when
 * that leaves less than 1/AUTHFAIL_EVICT_DIV of the table free, the least
 * recently failed 1/AUTHFAIL_EVICT_DIV too.  So the full scans are at
 * least authfail_max / AUTHFAIL_EVICT_DIV failures apart, whatever an
 * attacker does (they run inside a write transaction on a daemon's loop).
 */
static int
authfail_prune(struct store_txn *t, const struct auth_policy *p)
{
	struct store_authfail r;
	struct authfail_last all = { NULL, 0 };
	MDB_cursor *c;
	MDB_val k, v;
	MDB_stat ms;
	int64_t now = store_now(), cut;
	size_t quota = 0, deleted;
	int pass, rc;

	for (pass = 0; pass < 2; pass++) {
		if (sdb_cursor(t, DB_AUTHFAIL, &c) == -1)
			goto fail;
		cut = 0;
		deleted = 0;
		if (pass == 1) {
			if ((rc = mdb_stat(t->txn, t->st->dbi[DB_AUTHFAIL],
			    &ms)) != 0) {
				mdb_cursor_close(c);
				sdb_error(t, rc, "authfail");
				goto fail;
			}
			/* Room for 1/AUTHFAIL_EVICT_DIV more: a table kept
			   full does not cost a scan per failure. */
			if (ms.ms_entries + 2 + authfail_max /
			    AUTHFAIL_EVICT_DIV <= authfail_max) {
				mdb_cursor_close(c);
				break;
			}
			all.v = xreallocarray(NULL, ms.ms_entries + 1,
			    sizeof(*all.v));
			for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
			    rc == 0 && all.n < ms.ms_entries;
			    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
				if (authfail_decode(&k, &v, &r) == 1)
					all.v[all.n++] = r.last;
			if (all.n == 0) {
				mdb_cursor_close(c);
				break;
			}
			qsort(all.v, all.n, sizeof(*all.v), authfail_cmp);
			quota = all.n / AUTHFAIL_EVICT_DIV > 0 ?
			    all.n / AUTHFAIL_EVICT_DIV : 1;
			cut = all.v[quota - 1];
		}
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (authfail_decode(&k, &v, &r) == 1) {
				if (pass == 0 && (r.locked_until > now ||
				    now - r.first < (int64_t)p->fail_window))
					continue;
				/* The quota oldest; ties at the cut: the
				   first ones met. */
				if (pass == 1 && (r.last > cut ||
				    deleted >= quota))
					continue;
			}
			if ((rc = mdb_cursor_del(c, 0)) != 0) {
				mdb_cursor_close(c);
				sdb_error(t, rc, "authfail");
				goto fail;
			}
			deleted++;
		}
		mdb_cursor_close(c);
	}
	free(all.v);
	return 0;
fail:
	free(all.v);
	return -1;
}

static int
authfail_clear_txn(struct store_txn *t, void *ctx)
{
	struct authfail_op *op = ctx;
	struct authfail_key k;

	if (authfail_key(op->ip, op->user, &k) == -1)
		return -1;
	return sdb_del(t, DB_AUTHFAIL, k.buf, k.len) == -1 ? -1 : 0;
}

static int
authfail_exists_txn(struct store_txn *t, void *ctx)
{
	struct authfail_op *op = ctx;
	struct authfail_key k;
	struct store_authfail r;

	if (authfail_key(op->ip, op->user, &k) == -1)
		return -1;
	return authfail_get(t, &k, &r);
}

int
store_authfail_clear(struct store *st, const char *ip, const char *login)
{
	struct authfail_op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.ip = ip;
	if (!authfail_user(login, op.user))
		return 0;
	/* Most good logins have no record: look before writing. */
	if ((rc = store_volatile_read(st, authfail_exists_txn, &op)) <= 0)
		return rc;
	return store_volatile_write(st, authfail_clear_txn, &op);
}

static int
authfail_unban_txn(struct store_txn *t, void *ctx)
{
	struct authfail_op *op = ctx;
	size_t ni = op->ip != NULL ? strlen(op->ip) : 0;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	op->n = 0;
	if (sdb_cursor(t, DB_AUTHFAIL, &c) == -1)
		return -1;
	if (op->ip != NULL) {
		k.mv_size = ni + 1;
		k.mv_data = (void *)op->ip;	/* the ip and its NUL */
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (op->ip != NULL && (k.mv_size < ni + 1 ||
		    memcmp(k.mv_data, op->ip, ni + 1) != 0))
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			mdb_cursor_close(c);
			return sdb_error(t, rc, "authfail");
		}
		op->n++;
	}
	mdb_cursor_close(c);
	return 0;
}

int
store_authfail_unban(struct store *st, const char *ip, unsigned *n_r)
{
	struct authfail_op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.ip = ip;
	if (ip != NULL && (ip[0] == '\0' || strlen(ip) > STORE_AUTHFAIL_IP_MAX))
		return err_set(ERR_INVALID, "bad client address '%.64s'", ip);
	rc = store_volatile_write(st, authfail_unban_txn, &op);
	if (n_r != NULL)
		*n_r = rc == -1 ? 0 : op.n;
	return rc == -1 ? -1 : 0;
}

/* The backend of common/auth.h ------------------------------------------- */

static void *
authfail_be_begin(void *st, const char *login, const char *password)
{
	return store_login_begin(st, login, password);
}

static void *
authfail_be_begin_domains(void *st, const char *login, const char *password)
{
	return store_login_begin_domains(st, login, password, 1);
}

static void
authfail_be_verify(void *state)
{
	store_login_verify(state);
}

static int
authfail_be_end(void *st, void *state, uint32_t *user_id_r, char *addr_r,
    size_t addrsize)
{
	struct store_user u;
	int rc;

	memset(&u, 0, sizeof(u));
	rc = store_login_end(st, state, &u);
	if (rc == 1) {
		*user_id_r = u.id;
		snprintf(addr_r, addrsize, "%s", u.address);
	}
	explicit_bzero(u.pwhash, sizeof(u.pwhash));
	return rc;
}

/* Refused after the right password: the account is disabled. */
static int
authfail_be_disabled(void *state)
{
	const struct store_login *l = state;

	return l->rc != -1 && l->found && (l->cached || l->verified) &&
	    l->u.disabled;
}

static void
authfail_be_free(void *state)
{
	struct store_login *l = state;

	store_login_free(&l);
}

static int
authfail_be_blocked(void *st, const struct auth_policy *p, const char *ip,
    const char *login, unsigned *secs_r)
{
	return store_authfail_blocked(st, p, ip, login, secs_r);
}

static int
authfail_be_failed(void *st, const struct auth_policy *p, const char *ip,
    const char *login, unsigned *recent_r)
{
	return store_authfail_record(st, p, ip, login, recent_r);
}

static int
authfail_be_succeeded(void *st, const char *ip, const char *login)
{
	return store_authfail_clear(st, ip, login);
}

void
store_auth_backend(struct store *st, struct auth_backend *r)
{
	memset(r, 0, sizeof(*r));
	r->ctx = st;
	r->begin = authfail_be_begin;
	r->verify = authfail_be_verify;
	r->end = authfail_be_end;
	r->free = authfail_be_free;
	r->disabled = authfail_be_disabled;
	r->blocked = authfail_be_blocked;
	r->failed = authfail_be_failed;
	r->succeeded = authfail_be_succeeded;
}

void
store_auth_backend_domains(struct store *st, struct auth_backend *r)
{
	store_auth_backend(st, r);
	r->begin = authfail_be_begin_domains;
}
