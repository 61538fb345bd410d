/*
 * addr.c - `addresses`: normalised address -> list of targets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "common/error.h"
#include "common/xmalloc.h"
#include "domain.h"
#include "private.h"

void
store_route_clear(struct store_route *r)
{
	free(r->targets);
	r->targets = NULL;
	r->ntargets = 0;
}

static int
route_decode(const MDB_val *k, const MDB_val *v, struct store_route *r)
{
	struct unpack u;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (k->mv_size > STORE_ADDRESS_MAX)
		return err_set(ERR_CORRUPT, "address key too long");
	memcpy(r->address, k->mv_data, k->mv_size);
	unpack_init(&u, v);
	r->ntargets = unpack_u32(&u);
	if (u.bad || r->ntargets > STORE_ROUTE_TARGETS_MAX)
		return unpack_done(&(struct unpack){ .bad = 1 }, "address");
	r->targets = xcalloc(r->ntargets, sizeof(*r->targets));
	for (i = 0; i < r->ntargets; i++) {
		r->targets[i].type = unpack_u8(&u);
		r->targets[i].user_id = unpack_u32(&u);
		unpack_str(&u, r->targets[i].addr, sizeof(r->targets[i].addr));
	}
	if (unpack_done(&u, "address") == -1) {
		store_route_clear(r);
		return -1;
	}
	return 1;
}

static int
route_put(struct store_txn *t, const struct store_route *r)
{
	struct pack p;
	size_t i;
	int rc;

	if (r->ntargets == 0)
		return sdb_del(t, DB_ADDRESSES, r->address,
		    strlen(r->address)) == -1 ? -1 : 0;
	pack_init(&p);
	pack_u32(&p, (uint32_t)r->ntargets);
	for (i = 0; i < r->ntargets; i++) {
		pack_u8(&p, (uint8_t)r->targets[i].type);
		pack_u32(&p, r->targets[i].user_id);
		pack_str(&p, r->targets[i].addr);
	}
	rc = sdb_put(t, DB_ADDRESSES, r->address, strlen(r->address), p.buf,
	    p.len, 0);
	pack_free(&p);
	return rc == -1 ? -1 : 0;
}

int
store_addr_get(struct store_txn *t, const char *address,
    struct store_route *r)
{
	char addr[STORE_ADDRESS_MAX + 1];
	MDB_val k, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (store_address_normalize(address, addr, 1) == -1)
		return 0;
	if ((rc = sdb_get(t, DB_ADDRESSES, addr, strlen(addr), &v)) != 1)
		return rc;
	k.mv_size = strlen(addr);
	k.mv_data = addr;
	return route_decode(&k, &v, r);
}

/* Loads the route of a normalised address whose domain must be ours. */
static int
route_load(struct store_txn *t, const char *address, struct store_route *r)
{
	struct store_domain d;
	char addr[STORE_ADDRESS_MAX + 1];
	const char *dom;
	int rc;

	memset(r, 0, sizeof(*r));
	if (store_address_normalize(address, addr, 1) == -1)
		return -1;
	dom = strchr(addr, '@') + 1;
	if ((rc = store_domain_get(t, dom, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "domain %s is not "
		    "local: add it first (vellumctl domain add %s)", dom, dom);
	/* A list address expands to its members, not through a route. */
	if ((rc = list_exists(t, addr)) != 0)
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "%s is a mailing "
		    "list: change its members with vellumctl list member, or "
		    "delete it first (vellumctl list del %s)", addr, addr);
	if ((rc = store_addr_get(t, addr, r)) == -1)
		return -1;
	if (rc == 0)
		strcpy(r->address, addr);
	return 0;
}

static int
route_append(struct store_route *r, const struct store_target *nt)
{
	size_t i;

	for (i = 0; i < r->ntargets; i++)
		if (r->targets[i].type == nt->type &&
		    r->targets[i].user_id == nt->user_id &&
		    strcmp(r->targets[i].addr, nt->addr) == 0)
			return 0;
	if (r->ntargets >= STORE_ROUTE_TARGETS_MAX)
		return err_set(ERR_LIMIT, "%s has %d targets, the most one "
		    "address may have", r->address, STORE_ROUTE_TARGETS_MAX);
	r->targets = xreallocarray(r->targets, r->ntargets + 1,
	    sizeof(*r->targets));
	r->targets[r->ntargets++] = *nt;
	return 1;
}

int
store_addr_add(struct store_txn *t, const char *address,
    const char *const *targets, size_t ntargets)
{
	struct store_route r;
	struct store_target nt;
	struct store_domain d;
	size_t i;
	int rc;

	if (ntargets == 0)
		return err_set(ERR_INVALID, "no target for %s", address);
	if (route_load(t, address, &r) == -1)
		return -1;
	for (i = 0; i < ntargets; i++) {
		memset(&nt, 0, sizeof(nt));
		if (store_address_normalize(targets[i], nt.addr, 0) == -1)
			goto fail;
		if (strcmp(nt.addr, r.address) == 0) {
			err_set(ERR_INVALID, "%s cannot route to itself",
			    r.address);
			goto fail;
		}
		if ((rc = store_domain_get(t, strchr(nt.addr, '@') + 1,
		    &d)) == -1)
			goto fail;
		nt.type = rc == 1 ? STORE_TARGET_ALIAS : STORE_TARGET_FORWARD;
		if (route_append(&r, &nt) == -1)
			goto fail;
	}
	rc = route_put(t, &r);
	store_route_clear(&r);
	return rc == -1 ? -1 : 1;
fail:
	store_route_clear(&r);
	return -1;
}

int
store_addr_add_mailbox(struct store_txn *t, const char *address,
    uint32_t user_id)
{
	struct store_route r;
	struct store_target nt = { .type = STORE_TARGET_MAILBOX };
	int rc;

	nt.user_id = user_id;
	if (route_load(t, address, &r) == -1)
		return -1;
	if (route_append(&r, &nt) == -1) {
		store_route_clear(&r);
		return -1;
	}
	rc = route_put(t, &r);
	store_route_clear(&r);
	return rc == -1 ? -1 : 1;
}

int
store_target_format(struct store_txn *t, const struct store_target *tg,
    char *buf, size_t bufsize)
{
	struct store_user u;
	int rc;

	if (tg->type != STORE_TARGET_MAILBOX) {
		snprintf(buf, bufsize, "%s", tg->addr);
		return 0;
	}
	if ((rc = store_user_get(t, tg->user_id, &u)) == -1)
		return -1;
	if (rc == 0)
		snprintf(buf, bufsize, "<missing user %u>", tg->user_id);
	else
		snprintf(buf, bufsize, "%s", u.address);
	return 0;
}

int
store_addr_del(struct store_txn *t, const char *address, const char *target)
{
	struct store_route r;
	char text[STORE_ADDRESS_MAX + 32], want[STORE_ADDRESS_MAX + 1];
	size_t i;
	int rc;

	if ((rc = store_addr_get(t, address, &r)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no address %s",
		    address);
	if (target == NULL) {
		store_route_clear(&r);
		return sdb_del(t, DB_ADDRESSES, r.address,
		    strlen(r.address)) == -1 ? -1 : 1;
	}
	if (store_address_normalize(target, want, 0) == -1)
		snprintf(want, sizeof(want), "%s", target);
	for (i = 0; i < r.ntargets; i++) {
		if (store_target_format(t, &r.targets[i], text,
		    sizeof(text)) == -1)
			goto fail;
		if (strcmp(text, want) == 0)
			break;
	}
	if (i == r.ntargets) {
		err_set(ERR_NOTFOUND, "%s has no target %s", r.address, want);
		goto fail;
	}
	memmove(&r.targets[i], &r.targets[i + 1],
	    (r.ntargets - i - 1) * sizeof(*r.targets));
	r.ntargets--;
	rc = route_put(t, &r);
	store_route_clear(&r);
	return rc == -1 ? -1 : 1;
fail:
	store_route_clear(&r);
	return -1;
}

/* Removes every mailbox target of user_id; routes left empty go. */
int
addr_del_user_targets(struct store_txn *t, uint32_t user_id)
{
	struct store_route r, *todo = NULL;
	MDB_cursor *c;
	MDB_val k, v;
	size_t i, o, n = 0;
	int rc, ret = 0;

	/* Collect first, write after: no writes under an open cursor. */
	if (sdb_cursor(t, DB_ADDRESSES, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (route_decode(&k, &v, &r) == -1) {
			ret = -1;
			break;
		}
		for (i = o = 0; i < r.ntargets; i++)
			if (r.targets[i].type != STORE_TARGET_MAILBOX ||
			    r.targets[i].user_id != user_id)
				r.targets[o++] = r.targets[i];
		if (o == r.ntargets) {
			store_route_clear(&r);
			continue;
		}
		r.ntargets = o;
		todo = xreallocarray(todo, n + 1, sizeof(*todo));
		todo[n++] = r;
	}
	mdb_cursor_close(c);
	for (i = 0; i < n; i++) {
		if (ret == 0 && route_put(t, &todo[i]) == -1)
			ret = -1;
		store_route_clear(&todo[i]);
	}
	free(todo);
	return ret;
}

int
store_addr_list(struct store_txn *t, store_route_fn *fn, void *ctx)
{
	struct store_route r;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (sdb_cursor(t, DB_ADDRESSES, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (route_decode(&k, &v, &r) == -1) {
			ret = -1;
			break;
		}
		rc = fn(&r, ctx);
		store_route_clear(&r);
		if (rc == -1) {
			ret = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	return ret;
}
