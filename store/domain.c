/* domain.c - `domains`: name -> id, alias target, creation time. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "domain.h"
#include "private.h"
#include "user.h"

int
store_domain_normalize(const char *in, char *buf)
{
	size_t n = strlen(in), i, label = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;	/* a trailing root dot */
	if (n == 0 || n > STORE_DOMAIN_MAX)
		return err_set(ERR_INVALID, "'%s' is not a domain name (empty "
		    "or longer than %d)", in, STORE_DOMAIN_MAX);
	/* Address literals ([192.0.2.1]) are not local domains. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.') {
			if (label == 0)
				return err_set(ERR_INVALID, "'%s' is not a "
				    "domain name (empty label)", in);
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_' || c >= 0x80) {
			if (++label > 63)
				return err_set(ERR_INVALID, "'%s': a label is "
				    "longer than 63", in);
		} else
			return err_set(ERR_INVALID, "'%s' is not a domain "
			    "name (character '%c')", in, c);
		buf[i] = (char)tolower(c);
	}
	if (label == 0)
		return err_set(ERR_INVALID, "'%s' is not a domain name", in);
	buf[n] = '\0';
	return 0;
}

static int	domain_check_unused(struct store_txn *,
		    const struct store_domain *);

static int
domain_put(struct store_txn *t, const struct store_domain *d, int isnew)
{
	struct pack p;
	int rc;

	pack_init(&p);
	pack_u32(&p, d->id);
	pack_str(&p, d->alias_of);
	pack_u64(&p, (uint64_t)d->created);
	pack_u32(&p, d->flags);
	rc = sdb_put(t, DB_DOMAINS, d->name, strlen(d->name), p.buf, p.len,
	    isnew ? MDB_NOOVERWRITE : 0);
	pack_free(&p);
	if (rc == 0)
		return err_set(ERR_EXISTS, "domain %s already exists",
		    d->name);
	return rc;
}

static int
domain_decode(const MDB_val *k, const MDB_val *v, struct store_domain *r)
{
	struct unpack u;

	memset(r, 0, sizeof(*r));
	if (k->mv_size > STORE_DOMAIN_MAX)
		return err_set(ERR_CORRUPT, "domain key too long");
	memcpy(r->name, k->mv_data, k->mv_size);
	unpack_init(&u, v);
	r->id = unpack_u32(&u);
	unpack_str(&u, r->alias_of, sizeof(r->alias_of));
	r->created = (int64_t)unpack_u64(&u);
	r->flags = unpack_u32(&u);
	return unpack_done(&u, "domain") == -1 ? -1 : 1;
}

int
store_domain_get(struct store_txn *t, const char *name,
    struct store_domain *r)
{
	char dom[STORE_DOMAIN_MAX + 1];
	MDB_val k, v;
	int rc;

	if (store_domain_normalize(name, dom) == -1)
		return 0;
	if ((rc = sdb_get(t, DB_DOMAINS, dom, strlen(dom), &v)) != 1)
		return rc;
	k.mv_size = strlen(dom);
	k.mv_data = dom;
	return domain_decode(&k, &v, r);
}

static int
domain_new(struct store_txn *t, const char *name, const char *alias_of)
{
	struct store_domain d;
	uint64_t id;

	memset(&d, 0, sizeof(d));
	if (store_domain_normalize(name, d.name) == -1)
		return -1;
	if (sdb_counter_add(t, "next_domain", 1, &id) == -1)
		return -1;
	d.id = (uint32_t)id;
	snprintf(d.alias_of, sizeof(d.alias_of), "%s", alias_of);
	d.created = store_now();
	return domain_put(t, &d, 1) == -1 ? -1 : 1;
}

int
store_domain_add(struct store_txn *t, const char *name)
{
	return domain_new(t, name, "");
}

struct domain_use {
	const char	*name;
	size_t		 users, routes, aliases;
};

static int
domain_count_users(const struct store_user *u, void *ctx)
{
	struct domain_use *c = ctx;

	if (strcmp(strchr(u->address, '@') + 1, c->name) == 0)
		c->users++;
	return 0;
}

static int
domain_count_aliases(const struct store_domain *d, void *ctx)
{
	struct domain_use *c = ctx;

	if (strcmp(d->alias_of, c->name) == 0)
		c->aliases++;
	return 0;
}

int
store_domain_alias(struct store_txn *t, const char *alias,
    const char *target)
{
	struct store_domain d, a;
	size_t nlists;
	int rc;

	if ((rc = store_domain_get(t, target, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "domain %s is not "
		    "local: add it first (vellumctl domain add %s)", target,
		    target);
	if (d.alias_of[0] != '\0')
		return err_set(ERR_INVALID, "%s is itself an alias of %s: "
		    "alias %s instead", d.name, d.alias_of, d.alias_of);
	if ((rc = store_domain_get(t, alias, &a)) == -1)
		return -1;
	if (rc == 0)
		return domain_new(t, alias, d.name);
	/* An existing domain may become an alias while nothing uses it. */
	if (strcmp(a.name, d.name) == 0)
		return err_set(ERR_INVALID, "a domain cannot alias itself");
	if (a.alias_of[0] != '\0')
		return err_set(ERR_EXISTS, "%s is already an alias of %s",
		    a.name, a.alias_of);
	if (domain_check_unused(t, &a) == -1)
		return -1;
	/* An alias domain has no lists of its own (list.h). */
	if (list_domain_count(t, a.name, &nlists) == -1)
		return -1;
	if (nlists > 0)
		return err_set(ERR_INUSE, "domain %s still has %zu mailing "
		    "list(s): delete them first", a.name, nlists);
	snprintf(a.alias_of, sizeof(a.alias_of), "%s", d.name);
	return domain_put(t, &a, 0) == -1 ? -1 : 1;
}

int
store_domain_set_flags(struct store_txn *t, const char *name,
    uint32_t flags)
{
	struct store_domain d;
	int rc;

	if ((rc = store_domain_get(t, name, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no domain %s",
		    name);
	d.flags = flags;
	return domain_put(t, &d, 0) == -1 ? -1 : 1;
}

int
store_domain_del(struct store_txn *t, const char *name)
{
	struct store_domain d;
	int rc;

	if ((rc = store_domain_get(t, name, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no domain %s",
		    name);
	/* Its lists, DKIM keys and sending policy go with it. */
	if (domain_check_unused(t, &d) == -1 ||
	    list_domain_drop(t, d.name) == -1 ||
	    dkim_domain_drop(t, d.name) == -1 ||
	    policy_domain_drop(t, d.name) == -1)
		return -1;
	return sdb_del(t, DB_DOMAINS, d.name, strlen(d.name)) == -1 ? -1 : 1;
}

/* -1 INUSE when users, routes or alias domains refer to domain d. */
static int
domain_check_unused(struct store_txn *t, const struct store_domain *dp)
{
	const struct store_domain d = *dp;
	struct domain_use use = { 0 };
	char last[STORE_ADDRESS_MAX + 1];
	MDB_cursor *c;
	MDB_val k, v;
	const char *at;
	size_t dl;
	int rc;

	use.name = d.name;
	dl = strlen(d.name);
	if (store_user_list_domain(t, d.name, "", SIZE_MAX, domain_count_users,
	    &use, last) == -1 ||
	    store_domain_list(t, domain_count_aliases, &use) == -1)
		return -1;
	if (sdb_cursor(t, DB_ADDRESSES, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		at = memchr(k.mv_data, '@', k.mv_size);
		if (at != NULL && (size_t)((const char *)k.mv_data +
		    k.mv_size - at - 1) == dl && memcmp(at + 1, d.name, dl) == 0)
			use.routes++;
	}
	mdb_cursor_close(c);
	if (use.users > 0 || use.aliases > 0 || use.routes > use.users)
		return err_set(ERR_INUSE, "domain %s still has %zu user(s), "
		    "%zu other address(es) and %zu alias domain(s): delete "
		    "them first", d.name, use.users, use.routes - use.users,
		    use.aliases);
	return sdb_del(t, DB_DOMAINS, d.name, dl) == -1 ? -1 : 1;
}

int
store_domain_list(struct store_txn *t, store_domain_fn *fn, void *ctx)
{
	struct store_domain d;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (sdb_cursor(t, DB_DOMAINS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (domain_decode(&k, &v, &d) == -1 || fn(&d, ctx) == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	return r;
}
