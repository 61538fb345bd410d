/* cmd_domain.c - vellumctl domain add|del|list|alias|set */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/domain.h"

#include "ctl.h"

/*
 * The settings of "domain set": a name, the flag it stands for, whether
 * "yes" clears the flag (a flag that turns something off), and the
 * name `domain list` shows when it is not the default.
 */
struct domain_setting {
	const char	*name;
	uint32_t	 flag;
	int		 yes_clears;
	const char	*listed;
	const char	*json;
};

static const struct domain_setting domain_settings[] = {
	{ "sender-login-match",	STORE_DOMAIN_SENDER_LOGIN, 0,
	    "sender-login-match", "sender_login_match" },
	{ "batv",		STORE_DOMAIN_BATV, 0, "batv", "batv" },
	{ "auto-forward",	STORE_DOMAIN_NO_FORWARD, 1,
	    "no-auto-forward", "auto_forward" },
	{ NULL,			0, 0, NULL, NULL },
};

struct domain_args {
	const char		*name, *target;
	uint32_t		 flag;
	int			 on;
	struct store_domain	*list;
	size_t			 n;
};

static int	cmd_domain_add_txn(struct store_txn *, void *);
static int	cmd_domain_del_txn(struct store_txn *, void *);
static int	cmd_domain_alias_txn(struct store_txn *, void *);
static int	cmd_domain_set_txn(struct store_txn *, void *);
static int	cmd_domain_set(struct ctl *, int argc, char **argv);
static int	cmd_domain_list_one(const struct store_domain *, void *);
static int	cmd_domain_list_txn(struct store_txn *, void *);
static void	cmd_domain_print(const struct store_domain *);
static int	cmd_domain_list(struct ctl *);

static int
cmd_domain_add_txn(struct store_txn *txn, void *arg)
{
	struct domain_args *a = arg;

	return store_domain_add(txn, a->name);
}

static int
cmd_domain_del_txn(struct store_txn *txn, void *arg)
{
	struct domain_args *a = arg;

	return store_domain_del(txn, a->name);
}

static int
cmd_domain_alias_txn(struct store_txn *txn, void *arg)
{
	struct domain_args *a = arg;

	return store_domain_alias(txn, a->name, a->target);
}

/* Changes one flag and keeps the others (read and write in one txn). */
static int
cmd_domain_set_txn(struct store_txn *txn, void *arg)
{
	struct domain_args *a = arg;
	struct store_domain d;
	int rc;

	if ((rc = store_domain_get(txn, a->name, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no domain %s",
		    a->name);
	if (d.alias_of[0] != '\0')
		return err_set(ERR_INVALID, "%s is an alias of %s, which "
		    "holds the settings", d.name, d.alias_of);
	if (a->on)
		d.flags |= a->flag;
	else
		d.flags &= ~a->flag;
	return store_domain_set_flags(txn, d.name, d.flags);
}

static int
cmd_domain_set(struct ctl *ctl, int argc, char **argv)
{
	const struct domain_setting *s;
	struct domain_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if ((rc = ctl_args(ctl, argc, argv, NULL, 3, 3, &n)) != 0)
		return rc;
	a.name = argv[0];
	for (s = domain_settings; s->name != NULL; s++)
		if (strcmp(s->name, argv[1]) == 0)
			break;
	if (s->name == NULL)
		return ctl_usage(ctl, "unknown setting '%s' (known: "
		    "sender-login-match, batv, auto-forward)", argv[1]);
	a.flag = s->flag;
	if (strcmp(argv[2], "yes") == 0)
		a.on = !s->yes_clears;
	else if (strcmp(argv[2], "no") == 0)
		a.on = s->yes_clears;
	else
		return ctl_usage(ctl, "%s takes yes or no, not '%s'", s->name,
		    argv[2]);
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_domain_set_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl domain list' shows the domains" :
		    err_class() == ERR_INVALID ? "set it on that domain" :
		    NULL, "domain set %s %s", a.name, s->name);
	ctl_done(ctl, "domain %s: %s %s", a.name, s->name,
	    a.on != s->yes_clears ? "yes" : "no");
	return CTL_OK;
}

static int
cmd_domain_list_one(const struct store_domain *d, void *arg)
{
	struct domain_args *a = arg;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *d;
	return 0;
}

static int
cmd_domain_list_txn(struct store_txn *txn, void *arg)
{
	struct domain_args *a = arg;

	free(a->list);
	a->list = NULL;
	a->n = 0;
	return store_domain_list(txn, cmd_domain_list_one, a);
}

/* "name", "name<TAB>alias of X" or "name<TAB>setting setting". */
static void
cmd_domain_print(const struct store_domain *d)
{
	const struct domain_setting *s;
	const char *sep = "\t";

	printf("%s", d->name);
	if (d->alias_of[0] != '\0')
		printf("\talias of %s", d->alias_of);
	else
		for (s = domain_settings; s->name != NULL; s++)
			if (d->flags & s->flag) {
				printf("%s%s", sep, s->listed);
				sep = " ";
			}
	printf("\n");
}

static int
cmd_domain_list(struct ctl *ctl)
{
	const struct domain_setting *s;
	struct domain_args a;
	char tbuf[32];
	size_t i;

	memset(&a, 0, sizeof(a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_domain_list_txn, &a) < 0)
		return ctl_fail(NULL, "domain list");
	if (ctl->json) {
		printf("[");
		for (i = 0; i < a.n; i++) {
			printf("%s\n  {\"name\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, a.list[i].name);
			printf(", \"alias_of\": ");
			if (a.list[i].alias_of[0] != '\0')
				ctl_json_str(stdout, a.list[i].alias_of);
			else
				printf("null");
			for (s = domain_settings; s->name != NULL; s++)
				printf(", \"%s\": %s", s->json,
				    ((a.list[i].flags & s->flag) != 0) !=
				    s->yes_clears ? "true" : "false");
			printf(", \"created\": ");
			ctl_json_str(stdout, ctl_time(a.list[i].created,
			    tbuf));
			printf("}");
		}
		printf("%s]\n", a.n > 0 ? "\n" : "");
	} else {
		for (i = 0; i < a.n; i++)
			cmd_domain_print(&a.list[i]);
	}
	free(a.list);
	return CTL_OK;
}

int
cmd_domain(struct ctl *ctl, int argc, char **argv)
{
	struct domain_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_domain_list(ctl);
	}
	if (strcmp(ctl->verb, "set") == 0)
		return cmd_domain_set(ctl, argc, argv);
	if (strcmp(ctl->verb, "policy") == 0)
		return cmd_policy_domain(ctl, argc, argv);
	if (strcmp(ctl->verb, "passwd") == 0)
		return cmd_policy_domain_passwd(ctl, argc, argv);
	if (strcmp(ctl->verb, "add") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		a.name = argv[0];
		if (ctl_open(ctl, 0) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_domain_add_txn, &a) < 0)
			return ctl_fail(err_class() == ERR_EXISTS ?
			    "'vellumctl domain list' shows the domains" : NULL,
			    "domain add %s", a.name);
		ctl_done(ctl, "domain %s added", a.name);
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "del") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		a.name = argv[0];
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_domain_del_txn, &a) < 0)
			return ctl_fail(err_class() == ERR_INUSE ?
			    "delete its users and addresses first" : NULL,
			    "domain del %s", a.name);
		ctl_done(ctl, "domain %s deleted", a.name);
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "alias") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 2, 2, &n)) != 0)
			return rc;
		a.name = argv[0];
		a.target = argv[1];
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_domain_alias_txn, &a) < 0)
			return ctl_fail(NULL, "domain alias %s %s", a.name,
			    a.target);
		ctl_done(ctl, "domain %s is now an alias of %s", a.name,
		    a.target);
		return CTL_OK;
	}
	return ctl_usage(ctl, "unknown command 'domain %s'", ctl->verb);
}
