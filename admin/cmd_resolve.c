/*
 * cmd_resolve.c - vellumctl addr resolve ADDRESS [--from SENDER]
 * [--size SIZE]
 *
 * What happens to mail for an address, like Postfix's `postmap -q` and
 * `sendmail -bv` together.  The routing is deliver/'s own
 * (deliver_resolve_explain(): the resolver smtpd uses, in a read-only
 * snapshot, telling each step), so this never disagrees with a delivery.
 * Then, for each place the mail ends in: a mailbox's quota state and
 * whether a filter or an auto-reply is set; a forward's or a remote
 * address's transport (store/transport.h, as vellum-mta looks it up).
 *
 * A bare "postmaster" is what smtpd makes of RCPT TO:<postmaster> (RFC
 * 5321 4.5.1: accepted whatever the host): deliver_resolve_postmaster()
 * picks postmaster@ of a local domain, which is then explained.
 *
 * The exit status is 0 whenever the lookup ran, whatever its answer
 * ("refused" is an answer); 1 when it could not run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "deliver/deliver.h"
#include "store/filter.h"
#include "store/transport.h"
#include "store/user.h"
#include "store/vacation.h"

#include "ctl.h"

struct resolve_step {
	int	 depth;
	char	*text;
};

/* What is known of one target, read after the resolution. */
struct resolve_info {
	struct store_user	user;
	int			found;
	int			filter, vacation;
	struct store_transport	tr;
	int			has_tr;
};

struct resolve_args {
	struct resolve_step	*steps;
	size_t			 nsteps;
	/* for resolve_info_txn() */
	const struct deliver_target *target;
	const char		*domain;	/* of a remote address */
	struct resolve_info	*info;
};

static void	resolve_step_add(int depth, const char *text, void *ctx);
static int	resolve_info_txn(struct store_txn *, void *);
static const char *resolve_tls_name(enum store_tls);
static void	resolve_print_transport(struct ctl *, const char *domain,
		    const struct resolve_info *);
static void	resolve_print_mailbox(struct ctl *,
		    const struct resolve_info *);

static void
resolve_step_add(int depth, const char *text, void *ctx)
{
	struct resolve_args *a = ctx;

	a->steps = xreallocarray(a->steps, a->nsteps + 1, sizeof(*a->steps));
	a->steps[a->nsteps].depth = depth;
	a->steps[a->nsteps].text = xstrdup(text);
	a->nsteps++;
}

static int
resolve_info_txn(struct store_txn *txn, void *arg)
{
	struct resolve_args *a = arg;
	struct resolve_info *in = a->info;
	struct store_vacation v;
	char *text = NULL;
	size_t len;
	int rc;

	memset(in, 0, sizeof(*in));
	if (a->target != NULL && a->target->user_id != 0) {
		if ((rc = store_user_get(txn, a->target->user_id,
		    &in->user)) == -1)
			return -1;
		in->found = rc;
		if ((rc = store_filter_get(txn, in->user.id, &text, &len)) ==
		    -1)
			return -1;
		free(text);
		in->filter = rc == 1;
		memset(&v, 0, sizeof(v));
		if ((rc = store_vacation_get(txn, in->user.id, &v)) == -1)
			return -1;
		in->vacation = rc == 1 && v.enabled;
		if (rc == 1)
			store_vacation_clear(&v);
		return 0;
	}
	if ((rc = store_transport_lookup(txn, a->domain, &in->tr)) == -1)
		return -1;
	in->has_tr = rc == 1;
	return 0;
}

static const char *
resolve_tls_name(enum store_tls tls)
{
	switch (tls) {
	case STORE_TLS_NONE:
		return "none";
	case STORE_TLS_MAY:
		return "may";
	case STORE_TLS_ENCRYPT:
		return "encrypt";
	case STORE_TLS_VERIFY:
		return "verify";
	default:
		return "default";
	}
}

/* How mail to domain leaves (the password is never shown). */
static void
resolve_print_transport(struct ctl *ctl, const char *domain,
    const struct resolve_info *in)
{
	if (ctl->json) {
		printf(", \"transport\": ");
		if (!in->has_tr) {
			printf("{\"row\": null, \"nexthop\": ");
			ctl_json_str(stdout, "");
			printf(", \"via\": \"mx\", \"tls\": \"default\"}");
			return;
		}
		printf("{\"row\": ");
		ctl_json_str(stdout, in->tr.domain);
		printf(", \"nexthop\": ");
		ctl_json_str(stdout, in->tr.nexthop);
		printf(", \"via\": \"%s\", \"tls\": \"%s\", \"auth\": %s}",
		    in->tr.nexthop[0] == '\0' ? "mx" : "nexthop",
		    resolve_tls_name(in->tr.tls),
		    in->tr.user[0] != '\0' ? "true" : "false");
		return;
	}
	if (!in->has_tr) {
		printf("    queued for vellum-mta: to the MX of %s (no "
		    "transport row)\n", domain);
		return;
	}
	printf("    queued for vellum-mta: transport '%s': %s%s, tls=%s%s\n",
	    in->tr.domain, in->tr.nexthop[0] != '\0' ? "via " : "to the MX "
	    "of ", in->tr.nexthop[0] != '\0' ? in->tr.nexthop : domain,
	    resolve_tls_name(in->tr.tls), in->tr.user[0] != '\0' ?
	    ", with AUTH" : "");
}

static void
resolve_print_mailbox(struct ctl *ctl, const struct resolve_info *in)
{
	const struct store_user *u = &in->user;
	char b1[SIZE_FORMAT_MAX], b2[SIZE_FORMAT_MAX], t[32];

	if (ctl->json) {
		printf(", \"used_bytes\": %" PRIu64 ", \"quota_bytes\": %"
		    PRIu64 ", \"used_messages\": %" PRIu64 ", \"quota_messages"
		    "\": %" PRIu64 ", \"full\": %s, \"over_quota_since\": ",
		    u->used_bytes, u->quota_bytes, u->used_messages,
		    u->quota_messages, store_user_quota_full(u) ? "true" :
		    "false");
		if (u->over_quota_since != 0)
			ctl_json_str(stdout, ctl_time(u->over_quota_since, t));
		else
			printf("null");
		printf(", \"filter\": %s, \"vacation\": %s", in->filter ?
		    "true" : "false", in->vacation ? "true" : "false");
		return;
	}
	printf("    quota: %s of %s, %" PRIu64 " message%s%s%s%s\n",
	    size_format(u->used_bytes, b1, sizeof(b1)), u->quota_bytes == 0 ?
	    "unlimited" : size_format(u->quota_bytes, b2, sizeof(b2)),
	    u->used_messages, u->used_messages == 1 ? "" : "s",
	    store_user_quota_full(u) ? " (full)" : "",
	    u->over_quota_since != 0 ? ", over quota since " : "",
	    u->over_quota_since != 0 ? ctl_time(u->over_quota_since, t) : "");
	printf("    filter: %s; vacation auto-reply: %s\n", in->filter ?
	    "yes (vellumctl filter get)" : "none", in->vacation ? "on" :
	    "off");
}

int
cmd_addr_resolve(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "from", 1, NULL, 0 },
		{ "size", 1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	struct deliver_config cf;
	struct deliver_rcpt r;
	struct resolve_args a;
	struct resolve_info in;
	const char *result, *at, *addr0;
	char pm[DELIVER_ADDR_MAX + 1];
	uint64_t size = 0;
	size_t i;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	if (opts[1].value != NULL && size_parse(opts[1].value, &size) < 0)
		return ctl_usage(ctl, "--size: '%s' is not a size (like 10M)",
		    opts[1].value);
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	memset(&cf, 0, sizeof(cf));
	cf.quota_grace_days = (unsigned)ctl->grace_days;
	cf.hostname = "localhost";
	/*
	 * The SRS and BATV secrets only for an SRS or a prvs= address:
	 * loading one makes it in a store that has none, and a lookup
	 * writes nothing it need not.
	 */
	if ((strncasecmp(argv[0], "SRS0=", 5) == 0 ||
	    strncasecmp(argv[0], "SRS1=", 5) == 0) &&
	    deliver_srs_load(ctl->store, &cf, NULL) == -1)
		return ctl_fail(NULL, "addr resolve %s: the SRS secret",
		    argv[0]);
	if (strncasecmp(argv[0], "prvs=", 5) == 0 &&
	    deliver_batv_load(ctl->store, &cf) == -1)
		return ctl_fail(NULL, "addr resolve %s: the BATV secret",
		    argv[0]);
	addr0 = argv[0];
	if (strcasecmp(argv[0], "postmaster") == 0) {
		memset(&r, 0, sizeof(r));
		if (deliver_resolve_postmaster(ctl->store, &cf, &r) == -1) {
			deliver_rcpt_clear(&r);
			return ctl_fail(NULL, "addr resolve %s", argv[0]);
		}
		snprintf(pm, sizeof(pm), "%s", r.addr);
		deliver_rcpt_clear(&r);
		addr0 = pm;
		if (!ctl->json)
			printf("<postmaster> (RFC 5321: taken for any host) "
			    "is %s\n", pm);
	}
	memset(&a, 0, sizeof(a));
	rc = deliver_resolve_explain(ctl->store, &cf, opts[0].value, addr0,
	    size, &r, resolve_step_add, &a);
	explicit_bzero(&cf, sizeof(cf));
	if (rc == -1) {
		for (i = 0; i < a.nsteps; i++)
			free(a.steps[i].text);
		free(a.steps);
		deliver_rcpt_clear(&r);
		return ctl_fail(NULL, "addr resolve %s", argv[0]);
	}
	result = r.kind == DELIVER_LOCAL ? "local" : r.kind ==
	    DELIVER_NOTLOCAL ? "remote" : "refused";
	if (ctl->json) {
		printf("{\"address\": ");
		ctl_json_str(stdout, r.addr);
		printf(", \"result\": \"%s\", \"code\": ", result);
		if (r.kind == DELIVER_NOTLOCAL)
			printf("null, \"reply\": null");
		else {
			printf("%d, \"reply\": ", r.code);
			ctl_json_str(stdout, r.text);
		}
		printf(", \"list\": ");
		if (r.is_list) {
			printf("{\"address\": ");
			ctl_json_str(stdout, r.list_addr);
			printf(", \"name\": ");
			ctl_json_str(stdout, r.list_name);
			printf(", \"owner\": ");
			ctl_json_str(stdout, r.list_owner);
			printf("}");
		} else
			printf("null");
		printf(", \"steps\": [");
		for (i = 0; i < a.nsteps; i++) {
			printf("%s{\"depth\": %d, \"text\": ", i > 0 ? ", " :
			    "", a.steps[i].depth);
			ctl_json_str(stdout, a.steps[i].text);
			printf("}");
		}
		printf("], \"targets\": [");
	} else {
		if (r.kind == DELIVER_LOCAL)
			printf("%s: delivered here (%d %s)\n", r.addr, r.code,
			    r.text);
		else if (r.kind == DELIVER_NOTLOCAL)
			printf("%s: not a local domain: relayed only for "
			    "authenticated or trusted senders (others get "
			    "554 5.7.1 Relaying denied)\n", r.addr);
		else
			printf("%s: refused: %d %s\n", r.addr, r.code, r.text);
		for (i = 0; i < a.nsteps; i++)
			printf("  %*s%s\n", a.steps[i].depth * 2, "",
			    a.steps[i].text);
		if (r.is_list)
			printf("  as the list %s (\"%s\", owner %s)\n",
			    r.list_addr, r.list_name, r.list_owner[0] != '\0' ?
			    r.list_owner : "none");
	}
	for (i = 0; i < r.ntargets || (r.kind == DELIVER_NOTLOCAL && i == 0);
	    i++) {
		const struct deliver_target *tg = r.kind == DELIVER_NOTLOCAL ?
		    NULL : &r.targets[i];
		const char *addr = tg != NULL ? tg->addr : r.addr;

		at = strrchr(addr, '@');
		a.target = tg;
		a.domain = at != NULL ? at + 1 : addr;
		a.info = &in;
		if (store_read(ctl->store, resolve_info_txn, &a) == -1) {
			if (ctl->json)
				printf("]}\n");
			rc = ctl_fail(NULL, "addr resolve %s: %s", argv[0],
			    addr);
			goto out;
		}
		if (ctl->json) {
			printf("%s{\"type\": \"%s\", \"address\": ", i > 0 ?
			    ", " : "", tg == NULL ? "remote" : tg->user_id != 0 ?
			    "mailbox" : "forward");
			ctl_json_str(stdout, addr);
			if (tg != NULL && tg->user_id != 0)
				resolve_print_mailbox(ctl, &in);
			else
				resolve_print_transport(ctl, a.domain, &in);
			printf("}");
			continue;
		}
		if (tg != NULL && tg->user_id != 0) {
			printf("  -> mailbox %s\n", addr);
			resolve_print_mailbox(ctl, &in);
		} else {
			printf("  -> %s %s\n", tg == NULL ? "remote" :
			    "forward to", addr);
			resolve_print_transport(ctl, a.domain, &in);
		}
	}
	if (ctl->json)
		printf("]}\n");
	rc = CTL_OK;
out:
	for (i = 0; i < a.nsteps; i++)
		free(a.steps[i].text);
	free(a.steps);
	deliver_rcpt_clear(&r);
	return rc;
}
