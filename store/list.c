/*
 * list.c - see list.h.
 *
 * `lists`: list address -> record (version, list id, flags, name,
 * owner).  `listmembers`: (list id big-endian 32, member address) -> "",
 * so that adding, removing or looking up one member of a large list
 * touches one row, and members come out sorted.  A list keeps its id
 * when replaced; ids come from the meta counter "list_id".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "common/error.h"
#include "common/xmalloc.h"
#include "domain.h"
#include "list.h"
#include "private.h"

#define LIST_MKEY_MAX	(4 + STORE_ADDRESS_MAX)

struct list_head {
	uint32_t	id;
	unsigned	flags;
	char		name[STORE_LIST_NAME_MAX + 1];
	char		owner[STORE_ADDRESS_MAX + 1];
};

static int	list_decode(const MDB_val *, struct list_head *);
static int	list_head_get(struct store_txn *, const char *,
		    struct list_head *);
static int	list_members_read(struct store_txn *, uint32_t,
		    struct store_list *);
static int	list_members_drop(struct store_txn *, uint32_t);
static int	list_members_count(struct store_txn *, uint32_t, size_t *);
static int	list_addr_cmp(const void *, const void *);
static int	list_name_check(const char *);
static int	list_domain_of(const char *, const char *);

void
store_list_clear(struct store_list *l)
{
	free(l->members);
	l->members = NULL;
	l->nmembers = 0;
}

static int
list_decode(const MDB_val *v, struct list_head *h)
{
	struct unpack u;

	memset(h, 0, sizeof(*h));
	unpack_init(&u, v);
	h->id = unpack_u32(&u);
	h->flags = unpack_u32(&u);
	unpack_str(&u, h->name, sizeof(h->name));
	unpack_str(&u, h->owner, sizeof(h->owner));
	if (!u.bad && (h->id == 0 || (h->flags & ~STORE_LIST_FLAGS)))
		u.bad = 1;
	return unpack_done(&u, "list");
}

/* The record of normalised addr: 1, 0, -1. */
static int
list_head_get(struct store_txn *t, const char *addr, struct list_head *h)
{
	MDB_val v;
	int rc;

	if (t->st->no_userdata)
		return 0;
	if ((rc = sdb_get(t, DB_LISTS, addr, strlen(addr), &v)) != 1)
		return rc;
	return list_decode(&v, h) == -1 ? -1 : 1;
}

int
list_exists(struct store_txn *t, const char *addr)
{
	MDB_val v;

	if (t->st->no_userdata)
		return 0;
	return sdb_get(t, DB_LISTS, addr, strlen(addr), &v);
}

static int
list_members_read(struct store_txn *t, uint32_t id, struct store_list *l)
{
	uint8_t prefix[4];
	MDB_cursor *c;
	MDB_val k, v;
	size_t n;
	int rc;

	be32enc(prefix, id);
	if (sdb_cursor(t, DB_LISTMEMBERS, &c) == -1)
		return -1;
	k.mv_size = 4;
	k.mv_data = prefix;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 4 || memcmp(k.mv_data, prefix, 4) != 0)
			break;
		n = k.mv_size - 4;
		if (n == 0 || n > STORE_ADDRESS_MAX ||
		    l->nmembers >= STORE_LIST_MEMBERS_MAX) {
			mdb_cursor_close(c);
			store_list_clear(l);
			return err_set(ERR_CORRUPT, "list %s: damaged member "
			    "rows (run vellumctl store check)", l->addr);
		}
		if ((l->nmembers & (l->nmembers - 1)) == 0)
			l->members = xreallocarray(l->members,
			    l->nmembers == 0 ? 1 : l->nmembers * 2,
			    sizeof(*l->members));
		memcpy(l->members[l->nmembers], (uint8_t *)k.mv_data + 4, n);
		l->members[l->nmembers++][n] = '\0';
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		store_list_clear(l);
		return sdb_error(t, rc, "listmembers");
	}
	return 0;
}

static int
list_members_drop(struct store_txn *t, uint32_t id)
{
	uint8_t prefix[4];

	be32enc(prefix, id);
	return sdb_del_prefix(t, DB_LISTMEMBERS, prefix, 4, "listmembers") ==
	    -1 ? -1 : 0;
}

static int
list_members_count(struct store_txn *t, uint32_t id, size_t *n_r)
{
	uint8_t prefix[4];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*n_r = 0;
	be32enc(prefix, id);
	if (sdb_cursor(t, DB_LISTMEMBERS, &c) == -1)
		return -1;
	k.mv_size = 4;
	k.mv_data = prefix;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    k.mv_size >= 4 && memcmp(k.mv_data, prefix, 4) == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		(*n_r)++;
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "listmembers");
	return 0;
}

int
store_list_get(struct store_txn *t, const char *addr, struct store_list *l)
{
	struct list_head h;
	int rc;

	memset(l, 0, sizeof(*l));
	if (store_address_normalize(addr, l->addr, 0) == -1)
		return 0;
	if ((rc = list_head_get(t, l->addr, &h)) != 1)
		return rc;
	l->flags = h.flags;
	memcpy(l->name, h.name, sizeof(l->name));
	memcpy(l->owner, h.owner, sizeof(l->owner));
	return list_members_read(t, h.id, l) == -1 ? -1 : 1;
}

static int
list_addr_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* A List-Id phrase: printable, no quote or backslash (it is quoted). */
static int
list_name_check(const char *name)
{
	const unsigned char *p;

	if (memchr(name, '\0', STORE_LIST_NAME_MAX + 1) == NULL)
		return err_set(ERR_INVALID, "the list name is longer than %d "
		    "bytes", STORE_LIST_NAME_MAX);
	for (p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return err_set(ERR_INVALID, "the list name may not "
			    "hold control characters, '\"' or '\\'");
	return 0;
}

/* 1 when normalised addr is in domain (normalised). */
static int
list_domain_of(const char *addr, const char *domain)
{
	const char *at = strrchr(addr, '@');

	return at != NULL && strcmp(at + 1, domain) == 0;
}

int
store_list_put(struct store_txn *t, const struct store_list *in)
{
	char addr[STORE_ADDRESS_MAX + 1], owner[STORE_ADDRESS_MAX + 1];
	char (*m)[STORE_ADDRESS_MAX + 1] = NULL;
	uint8_t key[LIST_MKEY_MAX];
	struct store_domain d;
	struct list_head h;
	struct pack pk;
	const char *dom;
	uint64_t id;
	size_t i, n = 0, len;
	MDB_val v;
	int rc;

	if (store_address_normalize(in->addr, addr, 0) == -1)
		return -1;
	if (in->flags & ~STORE_LIST_FLAGS)
		return err_set(ERR_INVALID, "unknown list flags 0x%x",
		    in->flags & ~STORE_LIST_FLAGS);
	if (list_name_check(in->name) == -1)
		return -1;
	owner[0] = '\0';
	if (memchr(in->owner, '\0', sizeof(in->owner)) == NULL ||
	    (in->owner[0] != '\0' &&
	    store_address_normalize(in->owner, owner, 0) == -1))
		return err_set(ERR_INVALID, "the owner is not an address");
	if (in->nmembers > STORE_LIST_MEMBERS_MAX)
		return err_set(ERR_LIMIT, "%zu members, more than the %d a "
		    "list may have", in->nmembers, STORE_LIST_MEMBERS_MAX);
	if (t->st->no_userdata)
		return err_set(ERR_PERM, "the store predates lists: open it "
		    "writable once to upgrade it");
	dom = strrchr(addr, '@') + 1;
	if ((rc = store_domain_get(t, dom, &d)) == -1)
		return -1;
	if (rc == 0)
		return err_set(ERR_NOTFOUND, "domain %s is not local: add it "
		    "first (vellumctl domain add %s)", dom, dom);
	if (d.alias_of[0] != '\0')
		return err_set(ERR_NOTFOUND, "%s is an alias domain of %s: "
		    "make the list in %s", dom, d.alias_of, d.alias_of);
	if ((rc = sdb_get(t, DB_ADDRESSES, addr, strlen(addr), &v)) == -1)
		return -1;
	if (rc == 1)
		return err_set(ERR_EXISTS, "%s is already an address route "
		    "(vellumctl addr del %s first)", addr, addr);
	if ((rc = sdb_get(t, DB_LOGINS, addr, strlen(addr), &v)) == -1)
		return -1;
	if (rc == 1)
		return err_set(ERR_EXISTS, "%s is a user's login", addr);

	if (in->nmembers > 0)
		m = xcalloc(in->nmembers, sizeof(*m));
	for (i = 0; i < in->nmembers; i++) {
		if (memchr(in->members[i], '\0', sizeof(in->members[i])) ==
		    NULL || store_address_normalize(in->members[i], m[n],
		    0) == -1) {
			err_set(ERR_INVALID, "member %zu is not an address",
			    i + 1);
			goto fail;
		}
		if (strcmp(m[n], addr) == 0) {
			err_set(ERR_INVALID, "%s cannot be a member of itself",
			    addr);
			goto fail;
		}
		n++;
	}
	if (n > 1)
		qsort(m, n, sizeof(*m), list_addr_cmp);
	for (i = 0, len = 0; i < n; i++)
		if (len == 0 || strcmp(m[len - 1], m[i]) != 0)
			memmove(m[len++], m[i], sizeof(*m));
	n = len;

	if ((rc = list_head_get(t, addr, &h)) == -1)
		goto fail;
	if (rc == 1) {
		id = h.id;
		if (list_members_drop(t, h.id) == -1)
			goto fail;
	} else if (sdb_counter_add(t, "list_id", 1, &id) == -1)
		goto fail;
	if (id > UINT32_MAX) {
		err_set(ERR_LIMIT, "no list ids left");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		be32enc(key, (uint32_t)id);
		len = strlen(m[i]);
		memcpy(key + 4, m[i], len);
		if (sdb_put(t, DB_LISTMEMBERS, key, 4 + len, "", 0, 0) == -1)
			goto fail;
	}
	free(m);
	pack_init(&pk);
	pack_u32(&pk, (uint32_t)id);
	pack_u32(&pk, in->flags);
	pack_str(&pk, in->name);
	pack_str(&pk, owner);
	rc = sdb_put(t, DB_LISTS, addr, strlen(addr), pk.buf, pk.len, 0);
	pack_free(&pk);
	return rc == -1 ? -1 : 1;
fail:
	free(m);
	return -1;
}

int
store_list_delete(struct store_txn *t, const char *in)
{
	char addr[STORE_ADDRESS_MAX + 1];
	struct list_head h;
	int rc;

	if (store_address_normalize(in, addr, 0) == -1)
		return 0;
	if ((rc = list_head_get(t, addr, &h)) != 1)
		return rc;
	if (list_members_drop(t, h.id) == -1 ||
	    sdb_del(t, DB_LISTS, addr, strlen(addr)) == -1)
		return -1;
	return 1;
}

int
store_list_member(struct store_txn *t, const char *in, const char *member,
    int add)
{
	char addr[STORE_ADDRESS_MAX + 1], mem[STORE_ADDRESS_MAX + 1];
	uint8_t key[LIST_MKEY_MAX];
	struct list_head h;
	size_t klen, n;
	MDB_val v;
	int rc;

	if (store_address_normalize(in, addr, 0) == -1)
		return -1;
	if ((rc = list_head_get(t, addr, &h)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no list %s",
		    addr);
	if (store_address_normalize(member, mem, 0) == -1)
		return -1;
	be32enc(key, h.id);
	klen = strlen(mem);
	memcpy(key + 4, mem, klen);
	klen += 4;
	if ((rc = sdb_get(t, DB_LISTMEMBERS, key, klen, &v)) == -1)
		return -1;
	if (rc == (add ? 1 : 0))
		return 0;
	if (!add)
		return sdb_del(t, DB_LISTMEMBERS, key, klen) == -1 ? -1 : 1;
	if (strcmp(mem, addr) == 0)
		return err_set(ERR_INVALID, "%s cannot be a member of itself",
		    addr);
	if (list_members_count(t, h.id, &n) == -1)
		return -1;
	if (n >= STORE_LIST_MEMBERS_MAX)
		return err_set(ERR_LIMIT, "%s has %zu members, the most a list "
		    "may have", addr, n);
	return sdb_put(t, DB_LISTMEMBERS, key, klen, "", 0, 0) == -1 ? -1 : 1;
}

int
store_list_each(struct store_txn *t, const char *domain,
    int (*cb)(const struct store_list *, void *), void *ctx)
{
	char dom[STORE_DOMAIN_MAX + 1];
	struct store_list l;
	struct list_head h;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (domain != NULL && store_domain_normalize(domain, dom) == -1)
		return -1;
	if (t->st->no_userdata)
		return 0;
	if (sdb_cursor(t, DB_LISTS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		memset(&l, 0, sizeof(l));
		if (k.mv_size == 0 || k.mv_size > STORE_ADDRESS_MAX) {
			ret = err_set(ERR_CORRUPT, "a list with a bad key");
			break;
		}
		memcpy(l.addr, k.mv_data, k.mv_size);
		if (domain != NULL && !list_domain_of(l.addr, dom))
			continue;
		if (list_decode(&v, &h) == -1 ||
		    list_members_read(t, h.id, &l) == -1) {
			ret = -1;
			break;
		}
		l.flags = h.flags;
		memcpy(l.name, h.name, sizeof(l.name));
		memcpy(l.owner, h.owner, sizeof(l.owner));
		rc = cb(&l, ctx);
		store_list_clear(&l);
		if (rc == -1) {
			ret = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "lists");
	return ret;
}

/* Hooks of domain.c ------------------------------------------------ */

struct list_names {
	char	(*v)[STORE_ADDRESS_MAX + 1];
	size_t	  n;
};

static int
list_collect(const struct store_list *l, void *ctx)
{
	struct list_names *ln = ctx;

	ln->v = xreallocarray(ln->v, ln->n + 1, sizeof(*ln->v));
	memcpy(ln->v[ln->n++], l->addr, sizeof(*ln->v));
	return 0;
}

int
list_domain_drop(struct store_txn *t, const char *domain)
{
	struct list_names ln = { NULL, 0 };
	size_t i;
	int rc = 0;

	/* Collect first, delete after: no writes under the cursor. */
	if (store_list_each(t, domain, list_collect, &ln) == -1)
		rc = -1;
	for (i = 0; rc == 0 && i < ln.n; i++)
		if (store_list_delete(t, ln.v[i]) == -1)
			rc = -1;
	free(ln.v);
	return rc;
}

static int
list_count_one(const struct store_list *l, void *ctx)
{
	(void)l;
	(*(size_t *)ctx)++;
	return 0;
}

int
list_domain_count(struct store_txn *t, const char *domain, size_t *n_r)
{
	*n_r = 0;
	return store_list_each(t, domain, list_count_one, n_r);
}

/* The check -------------------------------------------------------- */

static int
list_id_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
list_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	char addr[STORE_ADDRESS_MAX + 1], buf[512];
	struct store_domain d;
	struct list_head h;
	uint32_t *ids = NULL, id, last = 0;
	size_t nids = 0, members = 0, i;
	MDB_cursor *c;
	MDB_val k, v, rv;
	int rc, ret = 0;

	if (t->st->no_userdata)
		return 0;
	if (sdb_cursor(t, DB_LISTS, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size > STORE_ADDRESS_MAX) {
			report(ctx, "a list with a bad key");
			continue;
		}
		memcpy(addr, k.mv_data, k.mv_size);
		addr[k.mv_size] = '\0';
		if (memchr(addr, '\0', k.mv_size) != NULL ||
		    store_address_normalize(addr, buf, 0) == -1 ||
		    strcmp(buf, addr) != 0) {
			snprintf(buf, sizeof(buf), "list %s: not a normalised "
			    "address", addr);
			report(ctx, buf);
			continue;
		}
		if (list_decode(&v, &h) == -1) {
			snprintf(buf, sizeof(buf), "list %s: the record does "
			    "not decode", addr);
			report(ctx, buf);
			continue;
		}
		ids = xreallocarray(ids, nids + 1, sizeof(*ids));
		ids[nids++] = h.id;
		if ((rc = store_domain_get(t, strrchr(addr, '@') + 1,
		    &d)) == -1) {
			ret = -1;
			break;
		}
		if (rc == 0 || d.alias_of[0] != '\0') {
			snprintf(buf, sizeof(buf), "list %s: its domain is %s",
			    addr, rc == 0 ? "gone" : "an alias domain");
			report(ctx, buf);
		}
		if ((rc = sdb_get(t, DB_ADDRESSES, addr, strlen(addr),
		    &rv)) == -1) {
			ret = -1;
			break;
		}
		if (rc == 1) {
			snprintf(buf, sizeof(buf), "list %s is an address "
			    "route too", addr);
			report(ctx, buf);
		}
	}
	mdb_cursor_close(c);
	if (ret == -1) {
		free(ids);
		return -1;
	}
	if (nids > 1)
		qsort(ids, nids, sizeof(*ids), list_id_cmp);
	for (i = 1; i < nids; i++)
		if (ids[i] == ids[i - 1]) {
			snprintf(buf, sizeof(buf), "two lists share the id %u",
			    ids[i]);
			report(ctx, buf);
		}
	if (sdb_cursor(t, DB_LISTMEMBERS, &c) == -1) {
		free(ids);
		return -1;
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= 4 || k.mv_size > LIST_MKEY_MAX) {
			report(ctx, "a list member row with a bad key");
			continue;
		}
		id = be32dec(k.mv_data);
		if (id != last) {
			members = 0;
			last = id;
			if (nids == 0 || bsearch(&id, ids, nids,
			    sizeof(*ids), list_id_cmp) == NULL) {
				snprintf(buf, sizeof(buf), "member rows of "
				    "missing list %u", id);
				report(ctx, buf);
			}
		}
		if (++members == STORE_LIST_MEMBERS_MAX + 1) {
			snprintf(buf, sizeof(buf), "list %u has more than %d "
			    "members", id, STORE_LIST_MEMBERS_MAX);
			report(ctx, buf);
		}
		memcpy(addr, (uint8_t *)k.mv_data + 4, k.mv_size - 4);
		addr[k.mv_size - 4] = '\0';
		if (memchr(addr, '\0', k.mv_size - 4) != NULL ||
		    store_address_normalize(addr, buf, 0) == -1 ||
		    strcmp(buf, addr) != 0) {
			snprintf(buf, sizeof(buf), "list %u: member %s is not "
			    "a normalised address", id, addr);
			report(ctx, buf);
		}
	}
	mdb_cursor_close(c);
	free(ids);
	return 0;
}
