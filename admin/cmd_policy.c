/*
 * cmd_policy.c - the outgoing policy (store/policy.h): vellumctl user
 * policy|usage|unlock and domain policy.
 *
 *   user policy ADDRESS [SETTING VALUE]...   a user's own settings
 *   domain policy DOMAIN [SETTING VALUE]...  the defaults of its users
 *   domain passwd DOMAIN                     its domain login's password
 *   user usage SENDER | --domain DOMAIN      counters of today, locks
 *   user unlock SENDER                       end a lock, a fresh day
 * SENDER: a user's address, a domain (its domain login) or the IP
 * address of a trusted host.
 *
 * Without pairs, policy shows every setting with the value that applies
 * and where it comes from (user, domain, default).  VALUE "-" removes
 * the setting: it inherits again.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "store/domain.h"
#include "store/policy.h"
#include "store/user.h"

#include "ctl.h"

struct pol_args {
	const char		*name;		/* address or domain */
	uint32_t		 user_id;
	char			 domain[STORE_DOMAIN_MAX + 1];
	struct store_policy	 own, dom, eff;
	int			 npairs;
	char			**pairs;
};

static int	pol_apply(struct ctl *, struct pol_args *, struct store_policy *);
static int	pol_pairs(const struct pol_args *, struct store_policy *);
static int	pol_user_txn(struct store_txn *, void *);
static int	pol_domain_txn(struct store_txn *, void *);
static void	pol_show(struct ctl *, const struct pol_args *, int user);
struct usage_args;
static int	usage_collect(const struct store_user *, void *);
static int	usage_target(struct store_txn *, struct usage_args *);
static int	usage_txn(struct store_txn *, void *);
static int	unlock_txn(struct store_txn *, void *);
static void	usage_print(struct ctl *, const struct usage_args *);

/* Parses the SETTING VALUE pairs into p: CTL_OK or CTL_USAGE. */
static int
pol_apply(struct ctl *ctl, struct pol_args *a, struct store_policy *p)
{
	int i, k;

	if (a->npairs % 2 != 0)
		return ctl_usage(ctl, "'%s' has no value (give SETTING VALUE "
		    "pairs)", a->pairs[a->npairs - 1]);
	for (i = 0; i < a->npairs; i += 2) {
		if ((k = store_policy_key(a->pairs[i])) < 0) {
			char names[512] = "";

			for (k = 0; k < STORE_POL_COUNT; k++)
				snprintf(names + strlen(names), sizeof(names) -
				    strlen(names), "%s%s", k > 0 ? ", " : "",
				    store_policy_name(k));
			return ctl_usage(ctl, "unknown setting '%s' (one of "
			    "%s)", a->pairs[i], names);
		}
		if (store_policy_parse(k, a->pairs[i + 1], p) == -1)
			return ctl_usage(ctl, "%s", err_msg());
	}
	return CTL_OK;
}

/* The pairs (checked by pol_apply()) onto p: 0, or -1. */
static int
pol_pairs(const struct pol_args *a, struct store_policy *p)
{
	int i;

	for (i = 0; i < a->npairs; i += 2)
		if (store_policy_parse(store_policy_key(a->pairs[i]),
		    a->pairs[i + 1], p) == -1)
			return -1;
	return 0;
}

static int
pol_user_txn(struct store_txn *t, void *arg)
{
	struct pol_args *a = arg;
	struct store_user u;
	const char *at;
	int rc;

	if ((rc = store_user_get(t, a->user_id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user %s",
		    a->name);
	at = strrchr(u.address, '@');
	snprintf(a->domain, sizeof(a->domain), "%s", at != NULL ? at + 1 : "");
	if (store_policy_user_get(t, a->user_id, &a->own) == -1 ||
	    store_policy_domain_get(t, a->domain, &a->dom) == -1)
		return -1;
	/* the pairs on the row read in this transaction */
	if (a->npairs > 0 && (pol_pairs(a, &a->own) == -1 ||
	    store_policy_user_set(t, a->user_id, &a->own) == -1))
		return -1;
	return store_policy_effective(t, a->user_id, u.address, &a->eff);
}

static int
pol_domain_txn(struct store_txn *t, void *arg)
{
	struct pol_args *a = arg;
	struct store_domain d;
	int rc, i;

	if ((rc = store_domain_get(t, a->domain, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no domain %s",
		    a->domain);
	if (d.alias_of[0] != '\0')
		return err_set(ERR_INVALID, "%s is an alias of %s, which "
		    "holds the settings", d.name, d.alias_of);
	if (store_policy_domain_get(t, d.name, &a->dom) == -1)
		return -1;
	if (a->npairs > 0 && (pol_pairs(a, &a->dom) == -1 ||
	    store_policy_domain_set(t, d.name, &a->dom) == -1))
		return -1;
	store_policy_defaults(&a->eff);
	for (i = 0; i < STORE_POL_COUNT; i++)
		if (a->dom.set & (1u << i))
			a->eff.v[i] = a->dom.v[i];
	if (a->dom.set & (1u << STORE_POL_SENDER_DOMAIN))
		memcpy(a->eff.domain, a->dom.domain, sizeof(a->eff.domain));
	return 0;
}

static void
pol_show(struct ctl *ctl, const struct pol_args *a, int user)
{
	char val[STORE_POL_DOMAIN_MAX + 32];
	const char *from;
	int k;

	if (ctl->json) {
		printf("{\"%s\": ", user ? "address" : "domain");
		ctl_json_str(stdout, user ? a->name : a->domain);
		printf(", \"settings\": [");
	}
	for (k = 0; k < STORE_POL_COUNT; k++) {
		store_policy_format(&a->eff, k, val, sizeof(val));
		from = user && (a->own.set & (1u << k)) ? "user" :
		    (a->dom.set & (1u << k)) ? "domain" : "default";
		if (ctl->json) {
			printf("%s\n  {\"setting\": \"%s\", \"value\": ",
			    k > 0 ? "," : "", store_policy_name(k));
			ctl_json_str(stdout, val);
			printf(", \"from\": \"%s\"}", from);
		} else
			printf("%-20s %-12s (%s)\n", store_policy_name(k), val,
			    from);
	}
	if (ctl->json)
		printf("\n]}\n");
}

/*
 * user policy ADDRESS [SETTING VALUE]... and domain policy DOMAIN [...]:
 * the pairs checked before the store is opened, then read (and changed)
 * in one transaction.
 */
static int
cmd_policy_show_set(struct ctl *ctl, int argc, char **argv, int user)
{
	struct pol_args a;
	struct store_policy scratch;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 1, -1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.name = argv[0];
	a.pairs = argv + 1;
	a.npairs = n - 1;
	if (!user && store_domain_normalize(argv[0], a.domain) == -1)
		return ctl_usage(ctl, "%s", err_msg());
	memset(&scratch, 0, sizeof(scratch));
	if ((rc = pol_apply(ctl, &a, &scratch)) != CTL_OK)
		return rc;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (user && (rc = ctl_user_find(ctl, a.name, &a.user_id)) != 1)
		return rc == -1 ? ctl_fail(NULL, "user policy %s", a.name) :
		    ctl_failx("no user %s", a.name);
	if ((a.npairs > 0 ? store_write : store_read)(ctl->store, user ?
	    pol_user_txn : pol_domain_txn, &a) < 0)
		return ctl_fail(NULL, "%s policy %s", user ? "user" : "domain",
		    a.name);
	if (a.npairs > 0 && !ctl->json) {
		ctl_done(ctl, "sending policy of %s%s changed", user ? "" :
		    "domain ", user ? a.name : a.domain);
		return CTL_OK;
	}
	pol_show(ctl, &a, user);
	return CTL_OK;
}

int
cmd_policy_user(struct ctl *ctl, int argc, char **argv)
{
	return cmd_policy_show_set(ctl, argc, argv, 1);
}

int
cmd_policy_domain(struct ctl *ctl, int argc, char **argv)
{
	return cmd_policy_show_set(ctl, argc, argv, 0);
}

/* One line of usage: a user, a domain login or a trusted host. */
struct usage_row {
	char			 name[STORE_ADDRESS_MAX + 3];
	struct store_subject	 subject;
	struct store_sendstat	 s;
};

struct usage_args {
	const char		*target;	/* ADDRESS, DOMAIN or IP */
	char			 domain[STORE_DOMAIN_MAX + 1]; /* --domain */
	struct usage_row	*rows;
	size_t			 n;
	int			 was_locked;	/* unlock */
	int64_t			 now;
};

static void
usage_add(struct usage_args *a, const char *name,
    const struct store_subject *sj)
{
	struct usage_row *r;

	a->rows = xreallocarray(a->rows, a->n + 1, sizeof(*a->rows));
	r = &a->rows[a->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->subject = *sj;
}

static int
usage_collect(const struct store_user *u, void *arg)
{
	struct store_subject sj;

	store_subject_user(&sj, u->id);
	usage_add(arg, u->address, &sj);
	return 0;
}

/*
 * The subject a target names: an address (a user), an IP address (a
 * trusted host) or a domain (its domain login).  1, 0 no such user or
 * domain, -1.
 */
static int
usage_target(struct store_txn *t, struct usage_args *a)
{
	struct store_subject sj;
	struct store_domain d;
	struct store_user u;
	char norm[STORE_DOMAIN_MAX + 1], ip[64];
	unsigned char bin[16];
	int rc;

	if (strchr(a->target, '@') != NULL) {
		if ((rc = store_user_find(t, a->target, &u)) != 1)
			return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no "
			    "user %s", a->target);
		return usage_collect(&u, a) == 0 ? 1 : -1;
	}
	snprintf(ip, sizeof(ip), "%s", a->target[0] == '[' ? a->target + 1 :
	    a->target);
	if (ip[0] != '\0' && ip[strlen(ip) - 1] == ']')
		ip[strlen(ip) - 1] = '\0';
	if (inet_pton(AF_INET, ip, bin) == 1 ||
	    inet_pton(AF_INET6, ip, bin) == 1) {
		store_subject_named(&sj, STORE_SUBJ_HOST, ip);
		snprintf(norm, sizeof(norm), "[%s]", ip);
		usage_add(a, norm, &sj);
		return 1;
	}
	if (store_domain_normalize(a->target, norm) == -1)
		return -1;
	if ((rc = store_domain_get(t, norm, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user, domain "
		    "or IP address %s", a->target);
	store_subject_named(&sj, STORE_SUBJ_DOMAIN, d.name);
	usage_add(a, d.name, &sj);
	return 1;
}

static int
usage_txn(struct store_txn *t, void *arg)
{
	struct usage_args *a = arg;
	char last[STORE_ADDRESS_MAX + 1] = "";
	struct store_subject sj;
	size_t i;
	int rc;

	free(a->rows);
	a->rows = NULL;
	a->n = 0;
	if (a->domain[0] != '\0') {
		struct store_domain d;

		if ((rc = store_domain_get(t, a->domain, &d)) != 1)
			return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no "
			    "domain %s", a->domain);
		while ((rc = store_user_list_domain(t, d.name, last, 1000,
		    usage_collect, a, last)) == 1)
			;
		if (rc == -1)
			return -1;
		/* and the domain login, when it has counters */
		store_subject_named(&sj, STORE_SUBJ_DOMAIN, d.name);
		usage_add(a, d.name, &sj);
		if ((rc = store_sendstat_get(t, &sj, &a->rows[a->n - 1].s)) ==
		    -1)
			return -1;
		if (rc == 0)
			a->n--;
	} else if (usage_target(t, a) == -1)
		return -1;
	for (i = 0; i < a->n; i++)
		if (store_sendstat_get(t, &a->rows[i].subject,
		    &a->rows[i].s) == -1)
			return -1;
	return 0;
}

static void
usage_print(struct ctl *ctl, const struct usage_args *a)
{
	int64_t today = a->now / 86400;
	char until[32], at[32];
	size_t i;

	if (ctl->json)
		printf("[");
	else
		printf("%-32s %6s %10s %6s %7s %4s %4s  %s\n", "sender",
		    "sent", "bytes", "rcpts", "invalid", "/min", "/h",
		    "lock");
	for (i = 0; i < a->n; i++) {
		const struct store_sendstat *s = &a->rows[i].s;
		int day = s->day == today;
		int locked = s->locked_until != 0 &&
		    (s->locked_until == STORE_LOCK_FOREVER ||
		    a->now < s->locked_until);
		uint32_t msgs = day ? s->msgs : 0, rcpts = day ? s->rcpts : 0;
		uint32_t inval = day ? s->invalid : 0;
		uint32_t pm = s->minute == a->now / 60 ? s->per_minute : 0;
		uint32_t ph = s->hour == a->now / 3600 ? s->per_hour : 0;
		uint64_t bytes = day ? s->bytes : 0;
		const char *kind;

		switch (store_subject_kind(&a->rows[i].subject)) {
		case STORE_SUBJ_DOMAIN:
			kind = "domain";
			break;
		case STORE_SUBJ_HOST:
			kind = "host";
			break;
		default:
			kind = "user";
			break;
		}
		if (s->locked_until == STORE_LOCK_FOREVER)
			snprintf(until, sizeof(until), "permanent");
		else
			ctl_time(locked ? s->locked_until : 0, until);
		if (ctl->json) {
			printf("%s\n  {\"sender\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, a->rows[i].name);
			printf(", \"kind\": \"%s\", \"sent_today\": %" PRIu32
			    ", \"bytes_today\": %" PRIu64 ", "
			    "\"recipients_today\": %" PRIu32 ", "
			    "\"invalid_today\": %" PRIu32 ", \"this_minute\": %"
			    PRIu32 ", \"this_hour\": %" PRIu32 ", \"locked\": "
			    "%s, \"locked_until\": ", kind, msgs, bytes, rcpts,
			    inval, pm, ph, locked ? "true" : "false");
			if (!locked)
				printf("null");
			else
				ctl_json_str(stdout, until);
			printf(", \"locked_at\": ");
			if (s->locked_at == 0)
				printf("null");
			else
				ctl_json_str(stdout, ctl_time(s->locked_at,
				    at));
			printf(", \"reason\": ");
			ctl_json_str(stdout, s->reason);
			printf(", \"locks\": %" PRIu32 ", \"automatic_unlocks\":"
			    " %" PRIu32 "}", s->locks, s->unlocks);
			continue;
		}
		printf("%-32s %6" PRIu32 " %10" PRIu64 " %6" PRIu32 " %7"
		    PRIu32 " %4" PRIu32 " %4" PRIu32 "  %s", a->rows[i].name,
		    msgs, bytes, rcpts, inval, pm, ph, locked ? until : "-");
		if (locked)
			printf(" (%s)", s->reason);
		if (s->locks > 0)
			printf("%s%" PRIu32 " lock%s, %" PRIu32 " automatic "
			    "unlock%s", locked ? "; " : " ", s->locks,
			    s->locks == 1 ? "" : "s", s->unlocks,
			    s->unlocks == 1 ? "" : "s");
		printf("\n");
	}
	if (ctl->json)
		printf("%s]\n", a->n > 0 ? "\n" : "");
}

/* user usage ADDRESS|DOMAIN|IP | --domain DOMAIN */
int
cmd_policy_usage(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "domain", 1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	struct usage_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
		return rc;
	if ((n == 1) == opts[0].seen)
		return ctl_usage(ctl, "give an ADDRESS (or a domain login, or "
		    "a trusted host's IP address) or --domain DOMAIN");
	memset(&a, 0, sizeof(a));
	if (opts[0].seen && store_domain_normalize(opts[0].value,
	    a.domain) == -1)
		return ctl_usage(ctl, "--domain: %s", err_msg());
	a.target = n == 1 ? argv[0] : NULL;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	a.now = (int64_t)store_now();
	rc = store_read(ctl->store, usage_txn, &a);
	if (rc >= 0)
		usage_print(ctl, &a);
	free(a.rows);
	return rc < 0 ? ctl_fail(NULL, "user usage") : CTL_OK;
}

static int
unlock_txn(struct store_txn *t, void *arg)
{
	struct usage_args *a = arg;
	struct store_sendstat s;
	const struct store_subject *sj;
	int64_t now = (int64_t)store_now();

	if (usage_txn(t, a) == -1)
		return -1;
	sj = &a->rows[0].subject;
	if (store_sendstat_get(t, sj, &s) == -1)
		return -1;
	a->was_locked = s.locked_until != 0 && (s.locked_until ==
	    STORE_LOCK_FOREVER || now < s.locked_until);
	/* A fresh start: no lock, no automatic unlocks, today's counts. */
	s.locked_until = 0;
	s.unlocks = 0;
	s.reason[0] = '\0';
	s.per_minute = s.per_hour = 0;
	s.msgs = s.rcpts = s.invalid = 0;
	s.bytes = 0;
	s.purge = 0;
	if (store_sendstat_newday(t, sj, INT64_MAX, SIZE_MAX) == -1)
		return -1;
	return store_sendstat_put(t, sj, &s);
}

/* user unlock ADDRESS|DOMAIN|IP */
int
cmd_policy_unlock(struct ctl *ctl, int argc, char **argv)
{
	struct usage_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.target = argv[0];
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	rc = store_write(ctl->store, unlock_txn, &a);
	if (rc >= 0)
		ctl_done(ctl, "%s %s; today's counters start again",
		    a.rows[0].name, a.was_locked ? "unlocked" :
		    "was not locked");
	free(a.rows);
	return rc < 0 ? ctl_fail(NULL, "user unlock %s", argv[0]) : CTL_OK;
}

struct pw_args {
	char		 domain[STORE_DOMAIN_MAX + 1];
	const char	*hash;
};

static int
pw_txn(struct store_txn *t, void *arg)
{
	struct pw_args *a = arg;
	struct store_domain d;
	int rc;

	if ((rc = store_domain_get(t, a->domain, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no domain %s",
		    a->domain);
	if (d.alias_of[0] != '\0')
		return err_set(ERR_INVALID, "%s is an alias of %s: give the "
		    "password to %s", d.name, d.alias_of, d.alias_of);
	return store_domain_pw_set(t, d.name, a->hash);
}

/* domain passwd DOMAIN [--hash HASH|-] [--clear] */
int
cmd_policy_domain_passwd(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "hash", 1, NULL, 0 },
		{ "password-stdin", 0, NULL, 0 },
		{ "clear", 0, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	struct pw_args a;
	char *hash = NULL;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	if (opts[0].seen + opts[1].seen + opts[2].seen > 1)
		return ctl_usage(ctl, "give one of --hash, --password-stdin, "
		    "--clear");
	memset(&a, 0, sizeof(a));
	if (store_domain_normalize(argv[0], a.domain) == -1)
		return ctl_usage(ctl, "%s", err_msg());
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (opts[2].seen)
		a.hash = "";
	else if ((opts[0].seen ? cmd_user_hash(a.domain, opts[0].value,
	    &hash) : cmd_user_password(a.domain, &hash)) < 0)
		return CTL_FAIL;
	else
		a.hash = hash;
	rc = store_write(ctl->store, pw_txn, &a);
	free(hash);
	if (rc < 0)
		return ctl_fail(NULL, "domain passwd %s", a.domain);
	ctl_done(ctl, "domain %s: %s", a.domain, opts[2].seen ? "no domain "
	    "login any more" : "domain login password set (it may send as "
	    "any address of the domain)");
	return CTL_OK;
}
