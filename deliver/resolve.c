/*
 * resolve.c - the first step of the pipeline (deliver.h,
 * deliver_resolve()): a recipient address becomes the users it reaches
 * (aliases, catch-alls, alias domains, user+ext, lists) and the external
 * addresses it is forwarded to, or a refusal that says why.
 *
 * Resolution reads in one snapshot and writes only when it must (an
 * account full at the end of its grace period is disabled, a grace clock
 * that ran out while the account had room is stopped, a refusal starts
 * one).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver.h"
#include "private.h"
#include "batv.h"
#include "srs.h"
#include "store/addr.h"
#include "store/domain.h"
#include "store/list.h"
#include "store/store.h"
#include "store/user.h"

_Static_assert(DELIVER_TARGETS_MAX >= STORE_LIST_MEMBERS_MAX,
    "a list's members must fit in a recipient's targets");

/* Dropped targets named in the log per recipient; the rest are counted. */
#define RESOLVE_DROPS_LOGGED	8

struct resolve_drop {
	char	target[DELIVER_ADDR_MAX + 1];
	char	via[DELIVER_ADDR_MAX + 1];	/* the alias that named it */
	char	why[STORE_REASON_MAX + 1];
};

struct resolve {
	const struct deliver_config	*cf;
	const char			*addr;
	struct deliver_rcpt		*r;
	/* addresses seen while expanding (loop detection) */
	char				(*seen)[DELIVER_ADDR_MAX + 1];
	size_t				 nseen;
	int				 loop;
	/*
	 * users whose grace period is over (disabled when full, else their
	 * clock stopped) and users to mark, written after the snapshot
	 */
	uint32_t			 disable[DELIVER_TARGETS_MAX];
	size_t				 ndisable;
	uint64_t			 size;
	uint32_t			 full[DELIVER_TARGETS_MAX];
	size_t				 nfull;
	/* an SRS address of ours that did not reverse: why */
	char				 srs_bad[DELIVER_TEXT_MAX];
	const char			*sender;	/* NULL: unknown */
	/*
	 * BATV: batv 1 a valid tag was taken off, -1 a tag that did not
	 * check (batv_bad says why), 0 none; batv_refused: the domain has
	 * BATV on and the null sender's recipient has no good tag.
	 */
	int				 batv;
	char				 batv_bad[DELIVER_TEXT_MAX];
	int				 batv_refused;
	int				 not_member;	/* a members-only list */
	int				 no_forward;	/* a forward left out:
							   auto-forwarding off */
	/* deliver_resolve_explain(): each step told */
	deliver_step_fn			*step;
	void				*step_ctx;
	/* targets left out, logged after the snapshot (the first few) */
	struct resolve_drop		 drops[RESOLVE_DROPS_LOGGED];
	size_t				 ndrops;	/* all, also unlogged */
};

static void	resolve_step(struct resolve *, int depth, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
static int	domain_flags(struct store_txn *, const struct store_domain *,
		    uint32_t *);
static int	resolve_batv(struct store_txn *, struct resolve *,
		    const struct store_domain *);
static const char *resolve_untag(struct resolve *, const char *addr,
		    char *buf);
static int	resolve_run(struct store *, const struct deliver_config *,
		    const char *sender, const char *addr, uint64_t size,
		    struct deliver_rcpt *, int readonly, deliver_step_fn *,
		    void *);

/* Tells the explain callback one step; nothing when delivering. */
static void
resolve_step(struct resolve *rs, int depth, const char *fmt, ...)
{
	char text[DELIVER_TEXT_MAX + DELIVER_ADDR_MAX];
	va_list ap;

	if (rs->step == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rs->step(depth, text, rs->step_ctx);
}

void
deliver_rcpt_reply(struct deliver_rcpt *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static int
target_add(struct deliver_rcpt *r, uint32_t user_id, const char *addr)
{
	size_t i;

	for (i = 0; i < r->ntargets; i++)
		if (r->targets[i].user_id == user_id && (user_id != 0 ||
		    strcmp(r->targets[i].addr, addr) == 0))
			return 0;
	if (r->ntargets >= DELIVER_TARGETS_MAX)
		return err_set(ERR_LIMIT, "more than %d targets",
		    DELIVER_TARGETS_MAX);
	r->targets = xreallocarray(r->targets, r->ntargets + 1,
	    sizeof(*r->targets));
	r->targets[r->ntargets].user_id = user_id;
	snprintf(r->targets[r->ntargets].addr, sizeof(r->targets[0].addr),
	    "%s", addr);
	r->ntargets++;
	return 1;
}

/*
 * Whether the user is (or, full at the end of the grace period, must now
 * be) disabled.  A grace period that ended while the account had room
 * only stops the clock: the user is queued for resolve_write_txn() either
 * way, which decides again in the write transaction.
 */
static int
user_refused(struct resolve *rs, const struct store_user *u, int depth)
{
	enum store_grace g;

	if (u->disabled) {
		resolve_step(rs, depth, "mailbox %s is disabled (%s): skipped",
		    u->address, u->disabled_reason[0] != '\0' ?
		    u->disabled_reason : "no reason given");
		return 1;
	}
	g = store_user_grace(u, rs->cf->quota_grace_days, store_now(), NULL);
	if (g == STORE_GRACE_DISABLE || g == STORE_GRACE_CLEAR) {
		if (rs->ndisable < DELIVER_TARGETS_MAX)
			rs->disable[rs->ndisable++] = u->id;
	}
	if (g == STORE_GRACE_DISABLE)
		resolve_step(rs, depth, "mailbox %s has been full for more "
		    "than %u days: a delivery disables it", u->address,
		    rs->cf->quota_grace_days);
	return g == STORE_GRACE_DISABLE;
}

static int	list_expand(struct store_txn *, struct resolve *,
		    const struct store_list *, int);

/*
 * Notes a target that expansion leaves out (a mailbox whose account is
 * gone or disabled, an alias to a local address that does not exist, a
 * loop).  Logged by resolve_log_drops() once the snapshot is over: the
 * transaction body may run again and must not log.
 */
static void
resolve_drop(struct resolve *rs, const char *target, const char *via,
    const char *why)
{
	struct resolve_drop *d;

	if (rs->ndrops++ >= RESOLVE_DROPS_LOGGED)
		return;
	d = &rs->drops[rs->ndrops - 1];
	snprintf(d->target, sizeof(d->target), "%s", target);
	snprintf(d->via, sizeof(d->via), "%s", via);
	snprintf(d->why, sizeof(d->why), "%s", why);
}

static void
resolve_log_drops(const struct resolve *rs)
{
	const struct resolve_drop *d;
	size_t i;

	for (i = 0; i < rs->ndrops && i < RESOLVE_DROPS_LOGGED; i++) {
		d = &rs->drops[i];
		/* the address whose route named it, when another one */
		if (strcasecmp(d->via, d->target) != 0 &&
		    strcasecmp(d->via, rs->r->addr) != 0)
			log_info("resolve <%s>: target <%s> (named by <%s>) "
			    "dropped: %s", rs->r->addr, d->target, d->via,
			    d->why);
		else
			log_info("resolve <%s>: target <%s> dropped: %s",
			    rs->r->addr, d->target, d->why);
	}
	if (rs->ndrops > RESOLVE_DROPS_LOGGED)
		log_info("resolve <%s>: %zu more targets dropped", rs->r->addr,
		    rs->ndrops - RESOLVE_DROPS_LOGGED);
}

/*
 * The route of addr: exact, then without +ext, then the catch-all.
 * *how_r: which of the three matched.
 */
static int
route_find(struct store_txn *t, const char *addr, struct store_route *route,
    const char **how_r)
{
	char base[DELIVER_ADDR_MAX + 1], *plus, *at;
	int rc;

	*how_r = "route";
	if ((rc = store_addr_get(t, addr, route)) != 0)
		return rc;
	snprintf(base, sizeof(base), "%s", addr);
	at = strrchr(base, '@');
	if ((plus = memchr(base, '+', (size_t)(at - base))) != NULL &&
	    plus > base) {
		memmove(plus, at, strlen(at) + 1);
		*how_r = "route without the +extension";
		if ((rc = store_addr_get(t, base, route)) != 0)
			return rc;
		at = strrchr(base, '@');
	}
	*how_r = "catch-all";
	return store_addr_get(t, at, route);	/* "@domain" */
}

/*
 * Expands addr (normalised, in a local domain) into rs->r's targets.
 * Returns 1 when something was found, 0 not, -1 error.
 */
static int
expand(struct store_txn *t, struct resolve *rs, const char *addr, int depth)
{
	struct store_route route;
	struct store_domain d;
	struct store_list l;
	struct store_user u;
	char real[DELIVER_ADDR_MAX + 1];
	const char *dom, *how;
	size_t i;
	int rc, found = 0;

	for (i = 0; i < rs->nseen; i++)
		if (strcmp(rs->seen[i], addr) == 0) {
			rs->loop = 1;
			resolve_step(rs, depth, "%s: seen before (alias loop): "
			    "skipped", addr);
			resolve_drop(rs, addr, rs->r->addr, "alias loop (the "
			    "address is reached twice)");
			return 0;
		}
	if (depth > DELIVER_ALIAS_DEPTH) {
		rs->loop = 1;
		resolve_step(rs, depth, "%s: more than %d aliases deep: "
		    "skipped", addr, DELIVER_ALIAS_DEPTH);
		resolve_drop(rs, addr, rs->r->addr, "aliases nested too "
		    "deep (DELIVER_ALIAS_DEPTH)");
		return 0;
	}
	rs->seen = xreallocarray(rs->seen, rs->nseen + 1, sizeof(*rs->seen));
	snprintf(rs->seen[rs->nseen++], sizeof(rs->seen[0]), "%s", addr);

	/* A list named by a list or an alias: its members. */
	if ((rc = store_list_get(t, addr, &l)) == -1)
		return -1;
	if (rc == 1) {
		resolve_step(rs, depth, "%s: mailing list \"%s\", %zu "
		    "member%s%s", addr, l.name, l.nmembers,
		    l.nmembers == 1 ? "" : "s",
		    (l.flags & STORE_LIST_MEMBERS_ONLY) ? ", members only" : "");
		rc = list_expand(t, rs, &l, depth);
		store_list_clear(&l);
		return rc;
	}
	if ((rc = route_find(t, addr, &route, &how)) == -1)
		return -1;
	if (rc == 0) {
		/* An alias domain: the same local part in the real one. */
		dom = strrchr(addr, '@') + 1;
		if ((rc = store_domain_get(t, dom, &d)) != 1 ||
		    d.alias_of[0] == '\0') {
			if (rc == 0 || (rc == 1 && d.alias_of[0] == '\0'))
				resolve_step(rs, depth, "%s: no route, no "
				    "catch-all", addr);
			if (rc != -1 && depth > 0)
				resolve_drop(rs, addr, rs->r->addr, "no such "
				    "local address");
			return rc == -1 ? -1 : 0;
		}
		snprintf(real, sizeof(real), "%.*s@%s",
		    (int)(dom - 1 - addr), addr, d.alias_of);
		resolve_step(rs, depth, "%s: %s is an alias domain of %s: "
		    "%s", addr, dom, d.alias_of, real);
		return expand(t, rs, real, depth + 1);
	}
	resolve_step(rs, depth, "%s: %s %s, %zu target%s", addr, how,
	    route.address, route.ntargets, route.ntargets == 1 ? "" : "s");
	for (i = 0; i < route.ntargets; i++) {
		const struct store_target *tg = &route.targets[i];

		switch (tg->type) {
		case STORE_TARGET_MAILBOX:
			if ((rc = store_user_get(t, tg->user_id, &u)) == -1)
				goto fail;
			if (rc == 0) {
				resolve_step(rs, depth + 1, "a mailbox whose "
				    "account no longer exists: skipped");
				resolve_drop(rs, "(a deleted account)", addr,
				    "the mailbox's account no longer exists");
				continue;
			}
			if (user_refused(rs, &u, depth + 1)) {
				resolve_drop(rs, u.address, addr, u.disabled &&
				    u.disabled_reason[0] != '\0' ?
				    u.disabled_reason : "account disabled");
				continue;
			}
			if (rs->size > 0 &&
			    !store_user_quota_fits(&u, rs->size, 1)) {
				resolve_step(rs, depth + 1, "mailbox %s: a "
				    "message of %llu bytes does not fit",
				    u.address, (unsigned long long)rs->size);
				if (rs->nfull < DELIVER_TARGETS_MAX)
					rs->full[rs->nfull++] = u.id;
				found = 1;
				continue;
			}
			resolve_step(rs, depth + 1, "mailbox %s", u.address);
			if (target_add(rs->r, u.id, u.address) == -1)
				goto fail;
			found = 1;
			break;
		case STORE_TARGET_ALIAS:
			resolve_step(rs, depth + 1, "alias %s", tg->addr);
			if ((rc = expand(t, rs, tg->addr, depth + 1)) == -1)
				goto fail;
			found |= rc;
			break;
		case STORE_TARGET_FORWARD:
			if ((rc = deliver_forward_allowed(t, addr)) == -1)
				goto fail;
			if (rc == 0) {
				resolve_step(rs, depth + 1, "forward to %s: "
				    "skipped, auto-forwarding is off for the "
				    "domain of %s", tg->addr, addr);
				resolve_drop(rs, tg->addr, addr, "auto-"
				    "forwarding is off for the domain");
				rs->no_forward = 1;
				continue;
			}
			resolve_step(rs, depth + 1, "forward to %s", tg->addr);
			if (target_add(rs->r, 0, tg->addr) == -1)
				goto fail;
			found = 1;
			break;
		}
	}
	store_route_clear(&route);
	return found;
fail:
	store_route_clear(&route);
	return -1;
}

/*
 * An SRS address at one of our domains (a bounce of mail we forwarded):
 * the address it reverses to is the target, external as a forward, or
 * expanded when it is local.  1 found, 0 refused (rs->srs_bad says why),
 * -1 error.
 */
static int
resolve_srs(struct store_txn *t, struct resolve *rs)
{
	char orig[SRS_ADDR_MAX + 1], norm[DELIVER_ADDR_MAX + 1];
	struct store_domain d;
	int rc;

	rc = srs_reverse(rs->cf->srs_secret, rs->cf->srs_secret_len,
	    rs->addr, (int64_t)store_now(), rs->cf->srs_max_age != 0 ?
	    rs->cf->srs_max_age : SRS_MAX_AGE, orig, sizeof(orig));
	if (rc == -1 && err_class() == ERR_TEMP)
		return -1;
	if (rc == -1 || store_address_normalize(orig, norm, 0) == -1) {
		snprintf(rs->srs_bad, sizeof(rs->srs_bad), "%s", rc == -1 ?
		    err_msg() : "SRS address of a malformed address");
		resolve_step(rs, 0, "SRS address that does not reverse: %s",
		    rs->srs_bad);
		return 0;
	}
	resolve_step(rs, 0, "SRS address of ours (a bounce of forwarded "
	    "mail): back to %s", orig);
	if ((rc = store_domain_get(t, strrchr(norm, '@') + 1, &d)) == -1)
		return -1;
	if (rc == 1)
		return expand(t, rs, norm, 1);
	return target_add(rs->r, 0, orig) == -1 ? -1 : 1;
}

/* Whether addr is one of the list's members (both normalised). */
static int
list_member(const struct store_list *l, const char *addr)
{
	char norm[DELIVER_ADDR_MAX + 1];
	size_t i;

	for (i = 0; i < l->nmembers; i++)
		if (store_address_normalize(l->members[i], norm, 0) == 0 &&
		    strcmp(norm, addr) == 0)
			return 1;
	return 0;
}

/*
 * The members of list l become rs->r's targets (local ones expanded as
 * aliases are, others forwarded).  The recipient takes the identity of
 * the first list it meets (its copy, List-Id, owner): a list named by an
 * alias or by another list works as the list itself would.  A
 * members-only list refuses a sender who is not a member, also behind an
 * alias.  depth: of the list's own address.  1 found, 0 nothing (or
 * refused: rs->not_member), -1 error.
 */
static int
list_expand(struct store_txn *t, struct resolve *rs,
    const struct store_list *l, int depth)
{
	struct deliver_rcpt *r = rs->r;
	struct store_domain d;
	char norm[DELIVER_ADDR_MAX + 1], snorm[DELIVER_ADDR_MAX + 1];
	size_t i;
	int rc, found = 0;

	if (l->flags & STORE_LIST_MEMBERS_ONLY) {
		if (rs->sender == NULL || rs->sender[0] == '\0' ||
		    store_address_normalize(rs->sender, snorm, 0) == -1 ||
		    !list_member(l, snorm)) {
			rs->not_member = 1;
			resolve_step(rs, depth, "members only: the sender %s "
			    "is not a member", rs->sender != NULL &&
			    rs->sender[0] != '\0' ? rs->sender : "(none given)");
			return 0;
		}
	}
	if (!r->is_list) {
		r->is_list = 1;
		r->list_flags = l->flags;
		snprintf(r->list_addr, sizeof(r->list_addr), "%s", l->addr);
		snprintf(r->list_name, sizeof(r->list_name), "%s", l->name);
		snprintf(r->list_owner, sizeof(r->list_owner), "%s",
		    l->owner);
	}
	for (i = 0; i < l->nmembers; i++) {
		if (store_address_normalize(l->members[i], norm, 0) == -1) {
			resolve_drop(rs, l->members[i], l->addr, "malformed "
			    "member address");
			continue;
		}
		if ((rc = store_domain_get(t, strrchr(norm, '@') + 1, &d)) ==
		    -1)
			return -1;
		if (rc == 1) {
			if ((rc = expand(t, rs, norm, depth + 1)) == -1)
				return -1;
			found |= rc;
		} else {
			resolve_step(rs, depth + 1, "member %s: forward",
			    l->members[i]);
			if (target_add(r, 0, l->members[i]) == -1)
				return -1;
			found = 1;
		}
	}
	return found;
}

static int
resolve_txn(struct store_txn *t, void *ctx)
{
	struct resolve *rs = ctx;
	struct store_domain d;
	const char *dom = strrchr(rs->r->addr, '@') + 1;
	int rc;

	rs->nseen = rs->ndisable = rs->nfull = rs->ndrops = 0;
	rs->loop = 0;
	rs->r->ntargets = 0;
	if ((rc = store_domain_get(t, dom, &d)) == -1)
		return -1;
	if (rc == 0) {
		rs->r->kind = DELIVER_NOTLOCAL;
		resolve_step(rs, 0, "%s is not a local domain", dom);
		return 0;
	}
	rs->r->kind = DELIVER_LOCAL;
	rs->srs_bad[0] = '\0';
	rs->not_member = 0;
	rs->r->is_list = 0;
	rs->batv_refused = 0;
	if ((rc = resolve_batv(t, rs, &d)) != 1)
		return rc;
	if (rs->cf->srs_secret_len > 0 && srs_is_srs(rs->addr))
		return resolve_srs(t, rs);
	return expand(t, rs, rs->r->addr, 0);
}

/* d's flags, with those of the domain it aliases.  0, -1 error. */
static int
domain_flags(struct store_txn *t, const struct store_domain *d,
    uint32_t *flags_r)
{
	struct store_domain target;
	int rc;

	*flags_r = d->flags;
	if (d->alias_of[0] == '\0')
		return 0;
	if ((rc = store_domain_get(t, d->alias_of, &target)) == -1)
		return -1;
	if (rc == 1)
		*flags_r |= target.flags;
	return 0;
}

/*
 * BATV at a local domain d: a tag that did not check is refused (like a
 * bad SRS address: as an unknown address, or for a bounce to a domain
 * with BATV on, as a bounce to mail we did not send), and so is a
 * bounce's untagged recipient in such a domain, but postmaster's.  1 go
 * on resolving, 0 refused, -1 error.
 */
static int
resolve_batv(struct store_txn *t, struct resolve *rs,
    const struct store_domain *d)
{
	uint32_t flags;
	int bounce = rs->sender != NULL && rs->sender[0] == '\0';

	if (domain_flags(t, d, &flags) == -1)
		return -1;
	if (rs->batv == 1) {
		resolve_step(rs, 0, "valid BATV tag: resolved as %s",
		    rs->r->addr);
		return 1;
	}
	if (rs->batv == -1) {
		rs->batv_refused = bounce && (flags & STORE_DOMAIN_BATV);
		resolve_step(rs, 0, "BATV tag that does not check: %s%s",
		    rs->batv_bad, rs->batv_refused ? " (a bounce, BATV on)" :
		    "");
		return 0;
	}
	/* RFC 5321 4.5.1: postmaster takes mail, bounces too (it sends
	   none, so a bounce to it could never carry a tag) */
	if (bounce && (flags & STORE_DOMAIN_BATV) &&
	    strncmp(rs->r->addr, "postmaster@", 11) != 0) {
		rs->batv_refused = 1;
		resolve_step(rs, 0, "a bounce (null sender) to an address "
		    "without a BATV tag, in a domain with BATV on: refused");
		return 0;
	}
	return 1;
}

/*
 * Takes a valid BATV tag off addr (into buf[DELIVER_ADDR_MAX + 1]) and
 * notes a bad one (rs->batv).  Returns the address to resolve, or NULL
 * on an error (TEMP: OpenSSL).
 */
static const char *
resolve_untag(struct resolve *rs, const char *addr, char *buf)
{
	const struct deliver_config *cf = rs->cf;
	int rc;

	rs->batv = 0;
	if (cf->batv_secret_len == 0 || !batv_is_tagged(addr))
		return addr;
	rc = batv_check(cf->batv_secret, cf->batv_secret_len, addr,
	    (int64_t)store_now(), cf->batv_max_age != 0 ? cf->batv_max_age :
	    BATV_MAX_AGE, buf, DELIVER_ADDR_MAX + 1);
	if (rc == 1) {
		rs->batv = 1;
		return buf;
	}
	if (rc == -1 && err_class() == ERR_TEMP)
		return NULL;
	rs->batv = -1;
	snprintf(rs->batv_bad, sizeof(rs->batv_bad), "%s", err_msg());
	return addr;
}

/*
 * Ends the grace periods that are over: disables the accounts still full,
 * stops the clock of the others; then starts the clock of the accounts a
 * message did not fit.
 */
static int
resolve_write_txn(struct store_txn *t, void *ctx)
{
	struct resolve *rs = ctx;
	struct store_user u;
	size_t i;
	int rc;

	for (i = 0; i < rs->ndisable; i++) {
		if ((rc = store_user_get(t, rs->disable[i], &u)) != 1)
			continue;
		if (u.disabled)
			continue;
		switch (store_user_grace(&u, rs->cf->quota_grace_days,
		    store_now(), NULL)) {
		case STORE_GRACE_DISABLE:
			u.disabled = 1;
			snprintf(u.disabled_reason, sizeof(u.disabled_reason),
			    "full (at or above %u%% of its quota) for more "
			    "than %u days", store_user_full_mark(),
			    rs->cf->quota_grace_days);
			log_info("%s disabled: %s", u.address,
			    u.disabled_reason);
			break;
		case STORE_GRACE_CLEAR:
			u.over_quota_since = 0;
			log_info("%s: grace period over with usage under %u%% "
			    "of its quota; clock stopped, not disabled",
			    u.address, store_user_full_mark());
			break;
		default:
			continue;
		}
		if (store_user_update(t, &u) == -1)
			return -1;
	}
	for (i = 0; i < rs->nfull; i++) {
		if ((rc = store_user_get(t, rs->full[i], &u)) != 1 ||
		    u.over_quota_since != 0)
			continue;
		u.over_quota_since = store_now();
		if (store_user_update(t, &u) == -1)
			return -1;
	}
	return 0;
}

int
deliver_resolve(struct store *st, const struct deliver_config *cf,
    const char *addr, uint64_t size, struct deliver_rcpt *r)
{
	return deliver_resolve_from(st, cf, NULL, addr, size, r);
}

int
deliver_resolve_from(struct store *st, const struct deliver_config *cf,
    const char *sender, const char *addr, uint64_t size,
    struct deliver_rcpt *r)
{
	return resolve_run(st, cf, sender, addr, size, r, 0, NULL, NULL);
}

int
deliver_resolve_explain(struct store *st, const struct deliver_config *cf,
    const char *sender, const char *addr, uint64_t size,
    struct deliver_rcpt *r, deliver_step_fn *step, void *ctx)
{
	return resolve_run(st, cf, sender, addr, size, r, 1, step, ctx);
}

static int
resolve_run(struct store *st, const struct deliver_config *cf,
    const char *sender, const char *addr, uint64_t size,
    struct deliver_rcpt *r, int readonly, deliver_step_fn *step, void *ctx)
{
	struct resolve rs;
	char untagged[DELIVER_ADDR_MAX + 1];
	int rc;

	memset(r, 0, sizeof(*r));
	memset(&rs, 0, sizeof(rs));
	rs.cf = cf;
	if ((addr = resolve_untag(&rs, addr, untagged)) == NULL) {
		r->kind = DELIVER_REFUSED;
		deliver_rcpt_reply(r, 451, "4.3.0 Temporary lookup failure");
		log_warnx("resolve: %s", err_msg());
		return -1;
	}
	r->batv = rs.batv == 1;
	if (store_address_normalize(addr, r->addr, 0) == -1) {
		snprintf(r->addr, sizeof(r->addr), "%.*s", DELIVER_ADDR_MAX,
		    addr);
		r->kind = DELIVER_REFUSED;
		deliver_rcpt_reply(r, 501, "5.1.3 <%.200s>: Bad recipient address "
		    "syntax", addr);
		return 0;
	}
	rs.addr = addr;
	rs.r = r;
	rs.size = size;
	rs.sender = sender;
	rs.step = step;
	rs.step_ctx = ctx;
	rc = store_read(st, resolve_txn, &rs);
	/* Explaining (readonly) tells the drops as steps and logs nothing. */
	if (rc != -1 && !readonly)
		resolve_log_drops(&rs);
	if (rc != -1 && !readonly && (rs.ndisable > 0 || rs.nfull > 0) &&
	    store_write(st, resolve_write_txn, &rs) == -1)
		rc = -1;
	free(rs.seen);
	if (rc == -1) {
		r->kind = DELIVER_REFUSED;
		deliver_rcpt_reply(r, 451, "4.3.0 <%s>: Temporary lookup failure",
		    r->addr);
		log_warnx("resolve %s: %s", r->addr, err_msg());
		return -1;
	}
	if (r->kind == DELIVER_NOTLOCAL)
		return 0;
	if (r->ntargets > 0) {
		deliver_rcpt_reply(r, 250, "2.1.5 Ok");
		return 0;
	}
	r->kind = DELIVER_REFUSED;
	deliver_rcpt_clear(r);
	if (rs.batv_refused && rs.batv == -1)
		deliver_rcpt_reply(r, 553, "5.7.1 <%s>: invalid or expired "
		    "BATV tag (%s)", r->addr, rs.batv_bad);
	else if (rs.batv_refused)
		deliver_rcpt_reply(r, 553, "5.7.1 <%s>: bounce to an address "
		    "that sent no mail (BATV: no tag)", r->addr);
	else if (rs.batv == -1)
		deliver_rcpt_reply(r, 550, "5.1.1 <%s>: Recipient address "
		    "rejected: %s", r->addr, rs.batv_bad);
	else if (rs.nfull > 0)
		deliver_rcpt_reply(r, 452, "4.2.2 <%s>: Mailbox full", r->addr);
	else if (rs.not_member)
		deliver_rcpt_reply(r, 550, "5.7.1 <%s>: Only members of the "
		    "list may post to it", r->addr);
	else if (rs.srs_bad[0] != '\0')
		deliver_rcpt_reply(r, 550, "5.1.1 <%s>: Recipient address rejected: %s",
		    r->addr, rs.srs_bad);
	else if (rs.no_forward)
		deliver_rcpt_reply(r, 550, "5.7.1 <%s>: Recipient address "
		    "rejected: forwarding to external addresses is disabled "
		    "for its domain", r->addr);
	else if (rs.loop && rc == 0)
		deliver_rcpt_reply(r, 550, "5.4.6 <%s>: Alias expansion loop",
		    r->addr);
	else
		deliver_rcpt_reply(r, 550, DELIVER_UNKNOWN_FMT, r->addr);
	return 0;
}

int
deliver_forward_allowed(struct store_txn *t, const char *addr)
{
	struct store_domain d;
	const char *at = strrchr(addr, '@');
	int rc;

	if (at == NULL)
		return 1;
	if ((rc = store_domain_get(t, at + 1, &d)) != 1)
		return rc == -1 ? -1 : 1;
	/* An alias domain has the settings of its real one. */
	if (d.alias_of[0] != '\0' &&
	    (rc = store_domain_get(t, d.alias_of, &d)) != 1)
		return rc == -1 ? -1 : 1;
	return !(d.flags & STORE_DOMAIN_NO_FORWARD);
}

struct domains {
	char	(*v)[STORE_DOMAIN_MAX + 1];
	size_t	 n;
};

static int
postmaster_domain(const struct store_domain *d, void *ctx)
{
	struct domains *l = ctx;

	if (d->alias_of[0] != '\0')
		return 0;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", d->name);
	return 0;
}

static int
postmaster_domains_txn(struct store_txn *t, void *ctx)
{
	return store_domain_list(t, postmaster_domain, ctx);
}

int
deliver_resolve_postmaster(struct store *st, const struct deliver_config *cf,
    struct deliver_rcpt *r)
{
	struct domains l = { NULL, 0 };
	char addr[DELIVER_ADDR_MAX + 1];
	size_t i;
	int rc;

	snprintf(addr, sizeof(addr), "postmaster@%s", cf->hostname);
	if ((rc = deliver_resolve(st, cf, addr, 0, r)) == -1 ||
	    r->kind == DELIVER_LOCAL)
		return rc;
	if (store_read(st, postmaster_domains_txn, &l) == -1) {
		free(l.v);
		return 0;	/* keep the first answer */
	}
	for (i = 0; i < l.n; i++) {
		snprintf(addr, sizeof(addr), "postmaster@%s", l.v[i]);
		deliver_rcpt_clear(r);
		if ((rc = deliver_resolve(st, cf, addr, 0, r)) == -1 ||
		    r->kind == DELIVER_LOCAL)
			break;
	}
	free(l.v);
	return rc;
}

void
deliver_rcpt_clear(struct deliver_rcpt *r)
{
	free(r->targets);
	r->targets = NULL;
	r->ntargets = 0;
}

int
deliver_batv_sender(struct store_txn *t, const struct deliver_config *cf,
    const char *sender, char *out, size_t outsize)
{
	char norm[DELIVER_ADDR_MAX + 1];
	struct store_domain d;
	uint32_t flags;
	int rc;

	if (cf->batv_secret_len == 0 || sender[0] == '\0' ||
	    srs_is_srs(sender) || batv_is_tagged(sender) ||
	    store_address_normalize(sender, norm, 0) == -1)
		return 0;
	if ((rc = store_domain_get(t, strrchr(norm, '@') + 1, &d)) != 1)
		return rc;
	if (domain_flags(t, &d, &flags) == -1)
		return -1;
	if (!(flags & STORE_DOMAIN_BATV))
		return 0;
	if (batv_sign(cf->batv_secret, cf->batv_secret_len, sender,
	    (int64_t)store_now(), cf->batv_max_age != 0 ? cf->batv_max_age :
	    BATV_MAX_AGE, out, outsize) == -1) {
		if (err_class() == ERR_TEMP)
			return -1;
		log_info("BATV: %s: sender <%s> sent untagged", err_msg(),
		    sender);
		return 0;
	}
	return 1;
}
