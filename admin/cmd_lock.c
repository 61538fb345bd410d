/*
 * cmd_lock.c - vellumctl lock list|clear
 *
 * Lock names are "pop3:ADDRESS" and "deliver:ADDRESS"; "lock clear
 * ADDRESS" removes every lock whose name ends in ":ADDRESS" (the address
 * normalised), whoever holds it.  A delivery lock may have several
 * holders (processes delivering without filters share it): "lock list"
 * prints one line per holder, and clearing a lock drops them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/lock.h"
#include "store/user.h"

#include "ctl.h"

struct lock_args {
	struct store_lock	*list;
	size_t			 n;
};

static int	cmd_lock_list_one(const struct store_lock *, void *);
static int	cmd_lock_load(struct ctl *, struct lock_args *);
static int	cmd_lock_list(struct ctl *);
static int	cmd_lock_clear(struct ctl *, const char *address);

static int
cmd_lock_list_one(const struct store_lock *l, void *arg)
{
	struct lock_args *a = arg;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *l;
	return 0;
}


static int
cmd_lock_load(struct ctl *ctl, struct lock_args *a)
{
	memset(a, 0, sizeof(*a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return -1;
	if (store_lock_list(ctl->store, cmd_lock_list_one, a) < 0) {
		ctl_fail(NULL, "lock %s", ctl->verb);
		return -1;
	}
	return 0;
}

static int
cmd_lock_list(struct ctl *ctl)
{
	struct lock_args a;
	char t1[32], t2[32], how[48];
	size_t i;

	if (cmd_lock_load(ctl, &a) < 0)
		return CTL_FAIL;
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		const struct store_lock *l = &a.list[i];

		if (ctl->json) {
			printf("%s\n  {\"name\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, l->name);
			printf(", \"pid\": %ld, \"host\": ", (long)l->pid);
			ctl_json_str(stdout, l->host);
			printf(", \"owner\": ");
			ctl_json_str(stdout, l->owner);
			printf(", \"since\": ");
			ctl_json_str(stdout, ctl_time(l->since, t1));
			printf(", \"expires\": ");
			ctl_json_str(stdout, ctl_time(l->expires, t2));
			printf(", \"exclusive\": %s, \"shared\": %s, "
			    "\"holders\": %u", l->exclusive ? "true" : "false",
			    l->shared ? "true" : "false", l->nholders);
			printf(", \"stale\": %s}", l->stale ? "true" : "false");
			continue;
		}
		/* A shared lock: one line per holder, each saying so. */
		how[0] = '\0';
		if (l->exclusive)
			snprintf(how, sizeof(how), " exclusive");
		else if (l->shared)
			snprintf(how, sizeof(how), " shared (%u holder%s)",
			    l->nholders, l->nholders == 1 ? "" : "s");
		printf("%-40s pid %-7ld %-20s %s%ssince %s until %s%s%s\n",
		    l->name, (long)l->pid, l->host, l->owner,
		    l->owner[0] != '\0' ? " " : "", ctl_time(l->since, t1),
		    ctl_time(l->expires, t2), how, l->stale ? " (stale)" : "");
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	else if (a.n == 0)
		fprintf(stderr, "no locks\n");
	free(a.list);
	return CTL_OK;
}

static int
cmd_lock_clear(struct ctl *ctl, const char *address)
{
	struct lock_args a;
	char norm[STORE_ADDRESS_MAX + 1];
	size_t i, j, k, nlen, cleared = 0;
	const char *colon;
	int rc = CTL_OK;

	if (store_address_normalize(address, norm, 1) < 0)
		return ctl_fail("give an address such as user@example.test, "
		    "or --stale", "lock clear %s", address);
	if (cmd_lock_load(ctl, &a) < 0)
		return CTL_FAIL;
	nlen = strlen(norm);
	for (i = 0; i < a.n; i = j) {
		const char *name = a.list[i].name;
		char who[512];
		size_t len = 0;

		/* A lock's holders come together (name order). */
		for (j = i + 1; j < a.n && strcmp(a.list[j].name, name) == 0;
		    j++)
			;
		colon = strrchr(name, ':');
		if (colon == NULL || strlen(colon + 1) != nlen ||
		    strcasecmp(colon + 1, norm) != 0)
			continue;
		if (store_lock_clear(ctl->store, name) < 0) {
			rc = ctl_fail(NULL, "lock clear %s", name);
			continue;
		}
		who[0] = '\0';
		for (k = i; k < j && len < sizeof(who); k++)
			len += (size_t)snprintf(who + len, sizeof(who) - len,
			    "%spid %ld on %s", k > i ? ", " : "",
			    (long)a.list[k].pid, a.list[k].host);
		ctl_done(ctl, "cleared %s (%s)", name, who);
		cleared++;
	}
	free(a.list);
	if (cleared == 0 && rc == CTL_OK)
		ctl_done(ctl, "no locks for %s", norm);
	return rc;
}

int
cmd_lock(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "stale", 0, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	unsigned n_cleared = 0;
	int n, rc;

	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_lock_list(ctl);
	}
	if (strcmp(ctl->verb, "clear") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
			return rc;
		if (opts[0].seen == (n == 1))
			return ctl_usage(ctl, "give an ADDRESS or --stale");
		if (n == 1)
			return cmd_lock_clear(ctl, argv[0]);
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_lock_clear_stale(ctl->store, &n_cleared) < 0)
			return ctl_fail(NULL, "lock clear --stale");
		ctl_done(ctl, "%u stale lock%s cleared", n_cleared,
		    n_cleared == 1 ? "" : "s");
		return CTL_OK;
	}
	return ctl_usage(ctl, "unknown command 'lock %s'", ctl->verb);
}
