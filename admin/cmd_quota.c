/*
 * cmd_quota.c - vellumctl quota show|set|report
 *
 * The report shows, for every user, usage against the limits and, for an
 * account over quota, since when and how many days are left before it is
 * disabled (grace days: --grace-days, else [quota] grace_days of the -c
 * config, else 5).  The report changes nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/size.h"
#include "common/xmalloc.h"
#include "store/user.h"

#include "ctl.h"

#define QUOTA_DAY	86400
/*
 * Users read per snapshot by the report: its memory and its read
 * transactions stay the same size however many users the store has.
 */
#define QUOTA_PAGE	1000

struct quota_args {
	const char		*address;
	uint64_t		 bytes, messages;
	int			 set_messages;
	struct store_user	 user;
	struct store_user	*list;	/* one page (QUOTA_PAGE) */
	size_t			 n;
	char			 after[STORE_ADDRESS_MAX + 1];
	char			 last[STORE_ADDRESS_MAX + 1];
	int			 more;	/* the page was not empty */
};

static int	cmd_quota_get_txn(struct store_txn *, void *);
static int	cmd_quota_set_txn(struct store_txn *, void *);
static int	cmd_quota_list_one(const struct store_user *, void *);
static int	cmd_quota_list_txn(struct store_txn *, void *);
static double	cmd_quota_percent(const struct store_user *);
static int64_t	cmd_quota_days_left(const struct store_user *, int grace);
static int	cmd_quota_show(struct ctl *, const char *address);
static int	cmd_quota_report(struct ctl *, int grace);
static void	cmd_quota_report_one(const struct ctl *,
		    const struct store_user *, int grace, size_t i);
static int	cmd_quota_number(const char *text, uint64_t *r);

static int
cmd_quota_get_txn(struct store_txn *txn, void *arg)
{
	struct quota_args *a = arg;
	int rc;

	if ((rc = store_user_find(txn, a->address, &a->user)) == 0)
		return err_set(ERR_NOTFOUND, "no user %s", a->address);
	return rc;
}

/* The fields of u both quota show and quota report print, in JSON. */
static void
cmd_quota_json(const struct store_user *u, double pct)
{
	ctl_json_str(stdout, u->address);
	printf(", \"used_bytes\": %" PRIu64 ", \"quota_bytes\": %" PRIu64
	    ", \"used_messages\": %" PRIu64 ", \"quota_messages\": %" PRIu64
	    ", \"percent\": ", u->used_bytes, u->quota_bytes,
	    u->used_messages, u->quota_messages);
	if (pct < 0)
		printf("null");
	else
		printf("%.1f", pct);
	printf(", \"over_quota_since\": ");
}

static int
cmd_quota_set_txn(struct store_txn *txn, void *arg)
{
	struct quota_args *a = arg;
	struct store_user u;

	if (cmd_quota_get_txn(txn, a) < 0)
		return -1;
	u = a->user;
	u.quota_bytes = a->bytes;
	if (a->set_messages)
		u.quota_messages = a->messages;
	if (store_user_update(txn, &u) < 0)
		return -1;
	/* A new limit may put the account over or back under quota. */
	if (store_user_quota_update(txn, u.id, STORE_QUOTA_BELOW_MARK) < 0)
		return -1;
	return store_user_get(txn, u.id, &a->user);
}

static int
cmd_quota_list_one(const struct store_user *u, void *arg)
{
	struct quota_args *a = arg;

	if (a->n == QUOTA_PAGE)
		fatalx("quota report: page overflow");
	a->list[a->n++] = *u;
	return 0;
}

/* One page of users after a->after (re-run from scratch on a retry). */
static int
cmd_quota_list_txn(struct store_txn *txn, void *arg)
{
	struct quota_args *a = arg;
	int rc;

	a->n = 0;
	if ((rc = store_user_list_page(txn, a->after, QUOTA_PAGE,
	    cmd_quota_list_one, a, a->last)) == -1)
		return -1;
	a->more = rc;
	return 0;
}

/* Percentage of the tighter limit used; -1 when unlimited. */
static double
cmd_quota_percent(const struct store_user *u)
{
	double p = -1, q;

	if (u->quota_bytes != 0)
		p = 100.0 * (double)u->used_bytes / (double)u->quota_bytes;
	if (u->quota_messages != 0) {
		q = 100.0 * (double)u->used_messages /
		    (double)u->quota_messages;
		if (q > p)
			p = q;
	}
	return p;
}

/* Whole days left before disablement (may be negative); 0 if not over. */
static int64_t
cmd_quota_days_left(const struct store_user *u, int grace)
{
	int64_t over;

	if (u->over_quota_since == 0)
		return 0;
	over = store_now() - u->over_quota_since;
	if (over < 0)
		over = 0;
	return (int64_t)grace - over / QUOTA_DAY;
}

static int
cmd_quota_show(struct ctl *ctl, const char *address)
{
	struct quota_args a;
	struct store_user *u = &a.user;
	char b1[SIZE_FORMAT_MAX], b2[SIZE_FORMAT_MAX], t[32];
	double pct;

	memset(&a, 0, sizeof(a));
	a.address = address;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_quota_get_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl user list' shows the users" : NULL,
		    "quota show %s", address);
	pct = cmd_quota_percent(u);
	if (ctl->json) {
		printf("{\"address\": ");
		cmd_quota_json(u, pct);
		if (u->over_quota_since != 0)
			ctl_json_str(stdout, ctl_time(u->over_quota_since, t));
		else
			printf("null");
		printf("}\n");
		return CTL_OK;
	}
	printf("%s: %s of %s", u->address, size_format(u->used_bytes, b1,
	    sizeof(b1)), u->quota_bytes == 0 ? "unlimited" :
	    size_format(u->quota_bytes, b2, sizeof(b2)));
	printf(", %" PRIu64 " messages", u->used_messages);
	if (u->quota_messages != 0)
		printf(" of %" PRIu64, u->quota_messages);
	if (pct >= 0)
		printf(" (%.1f%%)", pct);
	if (u->over_quota_since != 0)
		printf(", over quota since %s",
		    ctl_time(u->over_quota_since, t));
	printf("\n");
	return CTL_OK;
}

static void
cmd_quota_report_one(const struct ctl *ctl, const struct store_user *u,
    int grace, size_t i)
{
	char b1[SIZE_FORMAT_MAX], b2[SIZE_FORMAT_MAX], t[32], pbuf[16];
	char dbuf[32];
	double pct = cmd_quota_percent(u);
	int64_t left = cmd_quota_days_left(u, grace);

	if (ctl->json) {
		printf("%s\n  {\"address\": ", i > 0 ? "," : "");
		cmd_quota_json(u, pct);
		if (u->over_quota_since != 0) {
			ctl_json_str(stdout, ctl_time(u->over_quota_since, t));
			printf(", \"days_left\": %lld", (long long)left);
		} else
			printf("null, \"days_left\": null");
		printf(", \"disabled\": %s}", u->disabled ? "true" : "false");
		return;
	}
	if (pct < 0)
		snprintf(pbuf, sizeof(pbuf), "-");
	else
		snprintf(pbuf, sizeof(pbuf), "%.1f%%", pct);
	if (u->disabled)
		snprintf(dbuf, sizeof(dbuf), "disabled");
	else if (u->over_quota_since == 0)
		snprintf(dbuf, sizeof(dbuf), "-");
	else if (left <= 0)
		snprintf(dbuf, sizeof(dbuf), "0 (grace over)");
	else
		snprintf(dbuf, sizeof(dbuf), "%lld", (long long)left);
	printf("%-36s %9s %9s %7s %-20s %s\n", u->address,
	    size_format(u->used_bytes, b1, sizeof(b1)),
	    u->quota_bytes == 0 ? "unlimited" :
	    size_format(u->quota_bytes, b2, sizeof(b2)), pbuf,
	    ctl_time(u->over_quota_since, t), dbuf);
}

/*
 * The report reads the users a page at a time, each page in its own
 * snapshot, and prints it before reading the next: a store with 100,000
 * users needs no more memory than one with 1,000, and no read
 * transaction stays open while the output waits on a slow pipe.  A user
 * added or deleted meanwhile may or may not be listed.
 */
static int
cmd_quota_report(struct ctl *ctl, int grace)
{
	struct quota_args a;
	size_t i, total = 0;

	memset(&a, 0, sizeof(a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	a.list = xreallocarray(NULL, QUOTA_PAGE, sizeof(*a.list));
	if (ctl->json)
		printf("[");
	else
		printf("%-36s %9s %9s %7s %-20s %s\n", "ADDRESS", "USED",
		    "LIMIT", "PERCENT", "OVER-SINCE", "DAYS-LEFT");
	for (;;) {
		if (store_read(ctl->store, cmd_quota_list_txn, &a) < 0) {
			free(a.list);
			fflush(stdout);
			return ctl_fail(NULL, "quota report");
		}
		for (i = 0; i < a.n; i++)
			cmd_quota_report_one(ctl, &a.list[i], grace, total++);
		if (!a.more || a.n < QUOTA_PAGE)
			break;
		memcpy(a.after, a.last, sizeof(a.after));
	}
	if (ctl->json)
		printf("%s]\n", total > 0 ? "\n" : "");
	free(a.list);
	return CTL_OK;
}

static int
cmd_quota_number(const char *text, uint64_t *r)
{
	char *end;

	errno = 0;
	*r = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
		return -1;
	return 0;
}

int
cmd_quota(struct ctl *ctl, int argc, char **argv)
{
	struct quota_args a;
	int n, rc;
	uint64_t v;

	memset(&a, 0, sizeof(a));
	if (strcmp(ctl->verb, "show") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		return cmd_quota_show(ctl, argv[0]);
	}
	if (strcmp(ctl->verb, "report") == 0) {
		struct ctl_opt opts[] = {
			{ "grace-days", 1, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};
		struct ctl_opt *o = &opts[0];

		if ((rc = ctl_args(ctl, argc, argv, opts, 0, 0, &n)) != 0)
			return rc;
		if (o->seen) {
			if (cmd_quota_number(o->value, &v) < 0 || v > 36500)
				return ctl_usage(ctl, "--grace-days: '%s' is "
				    "not a number of days", o->value);
			ctl->grace_days = (int)v;
		}
		return cmd_quota_report(ctl, ctl->grace_days);
	}
	if (strcmp(ctl->verb, "set") == 0) {
		struct ctl_opt opts[] = {
			{ "messages", 1, NULL, 0 },
			{ NULL, 0, NULL, 0 },
		};
		char b1[SIZE_FORMAT_MAX], b2[64];

		if ((rc = ctl_args(ctl, argc, argv, opts, 2, 2, &n)) != 0)
			return rc;
		a.address = argv[0];
		if (strcmp(argv[1], "unlimited") == 0)
			a.bytes = 0;
		else if (size_parse(argv[1], &a.bytes) < 0)
			return ctl_usage(ctl, "%s", err_msg());
		if (opts[0].seen) {
			if (cmd_quota_number(opts[0].value, &a.messages) < 0)
				return ctl_usage(ctl, "--messages: '%s' is "
				    "not a number", opts[0].value);
			a.set_messages = 1;
		}
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_quota_set_txn, &a) < 0)
			return ctl_fail(err_class() == ERR_NOTFOUND ?
			    "'vellumctl user list' shows the users" : NULL,
			    "quota set %s", a.address);
		if (a.user.quota_messages != 0)
			snprintf(b2, sizeof(b2), ", %" PRIu64 " messages",
			    a.user.quota_messages);
		else
			b2[0] = '\0';
		ctl_done(ctl, "%s: quota %s%s", a.user.address,
		    a.user.quota_bytes == 0 ? "unlimited" :
		    size_format(a.user.quota_bytes, b1, sizeof(b1)), b2);
		return CTL_OK;
	}
	return ctl_usage(ctl, "unknown command 'quota %s'", ctl->verb);
}
