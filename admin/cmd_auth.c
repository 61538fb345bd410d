/*
 * cmd_auth.c - vellumctl auth list|unban
 *
 * The failed-login records every daemon shares (store/authfail.h): one
 * per client address (user "-") and one per (address, login).  "auth
 * unban ADDRESS" forgets every record of the address, which lifts its
 * locks at once; "auth unban --all" empties the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/authfail.h"

#include "ctl.h"

struct auth_args {
	struct store_authfail	*list;
	size_t			 n;
};

static int	cmd_auth_list_one(const struct store_authfail *, void *);
static int	cmd_auth_list_txn(struct store_txn *, void *);
static int	cmd_auth_list(struct ctl *);
static int	cmd_auth_unban(struct ctl *, const char *ip);

static int
cmd_auth_list_one(const struct store_authfail *r, void *arg)
{
	struct auth_args *a = arg;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *r;
	return 0;
}

static int
cmd_auth_list_txn(struct store_txn *txn, void *arg)
{
	struct auth_args *a = arg;

	free(a->list);
	a->list = NULL;
	a->n = 0;
	return store_authfail_list(txn, cmd_auth_list_one, a);
}

static int
cmd_auth_list(struct ctl *ctl)
{
	struct auth_args a = { NULL, 0 };
	char t1[32], t2[32];
	time_t now = store_now();
	size_t i;

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_auth_list_txn, &a) < 0)
		return ctl_fail(NULL, "auth list");
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		const struct store_authfail *r = &a.list[i];
		int locked = r->locked_until > now;

		if (ctl->json) {
			printf("%s\n  {\"address\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, r->ip);
			printf(", \"user\": ");
			if (r->user[0] != '\0')
				ctl_json_str(stdout, r->user);
			else
				printf("null");
			printf(", \"failures\": %u, \"first\": ", r->failures);
			ctl_json_str(stdout, ctl_time(r->first, t1));
			printf(", \"last\": ");
			ctl_json_str(stdout, ctl_time(r->last, t2));
			printf(", \"locked_until\": ");
			if (locked)
				ctl_json_str(stdout, ctl_time(r->locked_until,
				    t1));
			else
				printf("null");
			printf("}");
			continue;
		}
		printf("%-39s %-32s %5u failures, last %s%s%s\n", r->ip,
		    r->user[0] != '\0' ? r->user : "-", r->failures,
		    ctl_time(r->last, t1), locked ? ", locked until " : "",
		    locked ? ctl_time(r->locked_until, t2) : "");
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	else if (a.n == 0)
		fprintf(stderr, "no failed logins recorded\n");
	free(a.list);
	return CTL_OK;
}

static int
cmd_auth_unban(struct ctl *ctl, const char *ip)
{
	unsigned n = 0;

	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_authfail_unban(ctl->store, ip, &n) < 0)
		return ctl_fail(ip != NULL ? "give a client address as "
		    "`auth list` shows it, or --all" : NULL, "auth unban %s",
		    ip != NULL ? ip : "--all");
	if (ip != NULL && n == 0)
		printf("no failed logins recorded for %s\n", ip);
	else
		printf("%u record%s removed\n", n, n == 1 ? "" : "s");
	return CTL_OK;
}

int
cmd_auth(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "all", 0, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	int n, rc;

	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_auth_list(ctl);
	}
	if (strcmp(ctl->verb, "unban") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
			return rc;
		if (opts[0].seen == (n == 1))
			return ctl_usage(ctl, "give an ADDRESS or --all");
		return cmd_auth_unban(ctl, n == 1 ? argv[0] : NULL);
	}
	return ctl_usage(ctl, "unknown command 'auth %s'", ctl->verb);
}
