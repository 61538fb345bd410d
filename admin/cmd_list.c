/*
 * cmd_list.c - vellumctl list add|set|del|show|ls|member|members: simple
 * mailing lists (store/list.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/list.h"

#include "ctl.h"

struct list_args {
	const char		 *addr;
	int			  create;	/* add: refuse an existing one */
	/* options given to add/set */
	const char		 *name, *owner;
	int			  members_only, reply_to;	/* -1 unset */
	/* member add|del */
	int			  add;
	char			**members;
	int			  nmembers;
	int			  changed;
	/* show / ls */
	const char		 *domain;
	struct store_list	  one;
	struct store_list	 *all;
	size_t			  nall;
};

static int	cmd_list_yesno(struct ctl *, struct ctl_opt *, int *);
static int	cmd_list_opts(struct ctl *, int, char **, struct list_args *);
static int	cmd_list_put_txn(struct store_txn *, void *);
static int	cmd_list_get_txn(struct store_txn *, void *);
static int	cmd_list_del_txn(struct store_txn *, void *);
static int	cmd_list_member_txn(struct store_txn *, void *);
static int	cmd_list_collect(const struct store_list *, void *);
static int	cmd_list_all_txn(struct store_txn *, void *);
static void	cmd_list_json(const struct store_list *);
static char	*cmd_list_flags(unsigned, char *, size_t);
static int	cmd_list_show(struct ctl *, const char *, int);
static int	cmd_list_ls(struct ctl *, const char *);
static int	cmd_list_member(struct ctl *, int, char **);

static int
cmd_list_yesno(struct ctl *ctl, struct ctl_opt *o, int *r)
{
	if (!o->seen)
		return 0;
	if (strcmp(o->value, "yes") == 0)
		*r = 1;
	else if (strcmp(o->value, "no") == 0)
		*r = 0;
	else
		return ctl_usage(ctl, "--%s: yes or no, not '%s'", o->name,
		    o->value);
	return 0;
}

/* The options of add and set into a; the list address in argv[0]. */
static int
cmd_list_opts(struct ctl *ctl, int argc, char **argv, struct list_args *a)
{
	struct ctl_opt opts[] = {
		{ "name", 1, NULL, 0 },
		{ "owner", 1, NULL, 0 },
		{ "members-only", 1, NULL, 0 },
		{ "reply-to-list", 1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	a->addr = argv[0];
	a->members_only = a->reply_to = -1;
	if (cmd_list_yesno(ctl, ctl_opt(opts, "members-only"),
	    &a->members_only) != 0 ||
	    cmd_list_yesno(ctl, ctl_opt(opts, "reply-to-list"),
	    &a->reply_to) != 0)
		return CTL_USAGE;
	if (ctl_opt(opts, "name")->seen) {
		a->name = ctl_opt(opts, "name")->value;
		if (strlen(a->name) > STORE_LIST_NAME_MAX)
			return ctl_usage(ctl, "--name: longer than %d bytes",
			    STORE_LIST_NAME_MAX);
	}
	if (ctl_opt(opts, "owner")->seen) {
		a->owner = ctl_opt(opts, "owner")->value;
		if (strlen(a->owner) > STORE_ADDRESS_MAX)
			return ctl_usage(ctl, "--owner: not an address");
	}
	return CTL_OK;
}

/* add and set: a read-modify-write of the list. */
static int
cmd_list_put_txn(struct store_txn *txn, void *arg)
{
	struct list_args *a = arg;
	struct store_list l;
	int rc;

	if ((rc = store_list_get(txn, a->addr, &l)) == -1)
		return -1;
	if (rc == 1 && a->create) {
		store_list_clear(&l);
		return err_set(ERR_EXISTS, "the list %s exists (vellumctl "
		    "list set changes it)", l.addr);
	}
	if (rc == 0 && !a->create)
		return err_set(ERR_NOTFOUND, "no list %s", a->addr);
	if (rc == 0)
		snprintf(l.addr, sizeof(l.addr), "%s", a->addr);
	if (a->name != NULL)
		snprintf(l.name, sizeof(l.name), "%s", a->name);
	if (a->owner != NULL)
		snprintf(l.owner, sizeof(l.owner), "%s", a->owner);
	if (a->members_only >= 0)
		l.flags = a->members_only ? l.flags | STORE_LIST_MEMBERS_ONLY :
		    l.flags & ~STORE_LIST_MEMBERS_ONLY;
	if (a->reply_to >= 0)
		l.flags = a->reply_to ? l.flags | STORE_LIST_REPLY_TO :
		    l.flags & ~STORE_LIST_REPLY_TO;
	rc = store_list_put(txn, &l);
	store_list_clear(&l);
	return rc;
}

static int
cmd_list_get_txn(struct store_txn *txn, void *arg)
{
	struct list_args *a = arg;

	return store_list_get(txn, a->addr, &a->one);
}

static int
cmd_list_del_txn(struct store_txn *txn, void *arg)
{
	struct list_args *a = arg;

	return store_list_delete(txn, a->addr);
}

/* Every member in one transaction: all or none. */
static int
cmd_list_member_txn(struct store_txn *txn, void *arg)
{
	struct list_args *a = arg;
	char why[512];
	int i, rc;

	a->changed = 0;
	for (i = 0; i < a->nmembers; i++) {
		if ((rc = store_list_member(txn, a->addr, a->members[i],
		    a->add)) == -1) {
			/* err_msg() is the buffer err_set() writes. */
			snprintf(why, sizeof(why), "%s", err_msg());
			err_set(err_class(), "%s: %s", a->members[i], why);
			return -1;
		}
		a->changed += rc;
	}
	return 1;
}

static int
cmd_list_collect(const struct store_list *l, void *arg)
{
	struct list_args *a = arg;
	struct store_list *c;

	a->all = xreallocarray(a->all, a->nall + 1, sizeof(*a->all));
	c = &a->all[a->nall++];
	*c = *l;
	c->members = NULL;
	if (l->nmembers > 0) {
		c->members = xcalloc(l->nmembers, sizeof(*c->members));
		memcpy(c->members, l->members, l->nmembers *
		    sizeof(*c->members));
	}
	return 0;
}

static int
cmd_list_all_txn(struct store_txn *txn, void *arg)
{
	struct list_args *a = arg;
	size_t i;

	for (i = 0; i < a->nall; i++)
		store_list_clear(&a->all[i]);
	a->nall = 0;
	return store_list_each(txn, a->domain, cmd_list_collect, a);
}

static char *
cmd_list_flags(unsigned flags, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", flags & STORE_LIST_MEMBERS_ONLY ?
	    "members-only" : "", (flags & STORE_LIST_FLAGS) ==
	    STORE_LIST_FLAGS ? "," : "", flags & STORE_LIST_REPLY_TO ?
	    "reply-to-list" : "");
	if (buf[0] == '\0')
		snprintf(buf, size, "-");
	return buf;
}

static void
cmd_list_json(const struct store_list *l)
{
	size_t i;

	printf("{\"list\": ");
	ctl_json_str(stdout, l->addr);
	printf(", \"name\": ");
	ctl_json_str(stdout, l->name);
	printf(", \"owner\": ");
	if (l->owner[0] != '\0')
		ctl_json_str(stdout, l->owner);
	else
		printf("null");
	printf(", \"members_only\": %s, \"reply_to_list\": %s, "
	    "\"members\": [", l->flags & STORE_LIST_MEMBERS_ONLY ? "true" :
	    "false", l->flags & STORE_LIST_REPLY_TO ? "true" : "false");
	for (i = 0; i < l->nmembers; i++) {
		if (i > 0)
			printf(", ");
		ctl_json_str(stdout, l->members[i]);
	}
	printf("]}");
}

/* show (members 0) or members (members 1). */
static int
cmd_list_show(struct ctl *ctl, const char *addr, int members)
{
	struct list_args a;
	size_t i;
	int rc;

	memset(&a, 0, sizeof(a));
	a.addr = addr;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if ((rc = store_read(ctl->store, cmd_list_get_txn, &a)) < 0)
		return ctl_fail(NULL, "list %s %s", ctl->verb, addr);
	if (rc == 0)
		return ctl_failx("no list %s", addr);
	if (members && ctl->json) {
		printf("[");
		for (i = 0; i < a.one.nmembers; i++) {
			printf("%s", i > 0 ? ", " : "");
			ctl_json_str(stdout, a.one.members[i]);
		}
		printf("]\n");
	} else if (members) {
		for (i = 0; i < a.one.nmembers; i++)
			printf("%s\n", a.one.members[i]);
	} else if (ctl->json) {
		cmd_list_json(&a.one);
		printf("\n");
	} else {
		printf("list:      %s\n", a.one.addr);
		printf("name:      %s\n", a.one.name[0] != '\0' ? a.one.name :
		    "(none)");
		printf("owner:     %s\n", a.one.owner[0] != '\0' ?
		    a.one.owner : "(none)");
		printf("posting:   %s\n", a.one.flags &
		    STORE_LIST_MEMBERS_ONLY ? "members only" : "anyone");
		printf("reply-to:  %s\n", a.one.flags & STORE_LIST_REPLY_TO ?
		    "the list" : "the sender");
		printf("members:   %zu\n", a.one.nmembers);
		for (i = 0; i < a.one.nmembers; i++)
			printf("  %s\n", a.one.members[i]);
	}
	store_list_clear(&a.one);
	return CTL_OK;
}

static int
cmd_list_ls(struct ctl *ctl, const char *domain)
{
	struct list_args a;
	char f[64];
	size_t i;
	int rc;

	memset(&a, 0, sizeof(a));
	a.domain = domain;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	rc = store_read(ctl->store, cmd_list_all_txn, &a);
	if (rc < 0) {
		for (i = 0; i < a.nall; i++)
			store_list_clear(&a.all[i]);
		free(a.all);
		return ctl_fail(NULL, "list ls");
	}
	if (ctl->json) {
		printf("[");
		for (i = 0; i < a.nall; i++) {
			printf("%s\n  ", i > 0 ? "," : "");
			cmd_list_json(&a.all[i]);
		}
		printf("%s]\n", a.nall > 0 ? "\n" : "");
	} else if (a.nall == 0)
		printf("no lists\n");
	else
		printf("%-32s  %7s  %-26s  %s\n", "LIST", "MEMBERS", "FLAGS",
		    "NAME");
	for (i = 0; i < a.nall; i++) {
		if (!ctl->json)
			printf("%-32s  %7zu  %-26s  %s\n", a.all[i].addr,
			    a.all[i].nmembers, cmd_list_flags(a.all[i].flags,
			    f, sizeof(f)), a.all[i].name);
		store_list_clear(&a.all[i]);
	}
	free(a.all);
	return CTL_OK;
}

/* list member add|del LIST ADDR... */
static int
cmd_list_member(struct ctl *ctl, int argc, char **argv)
{
	struct list_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if ((rc = ctl_args(ctl, argc, argv, NULL, 3, -1, &n)) != 0)
		return rc;
	if (strcmp(argv[0], "add") == 0)
		a.add = 1;
	else if (strcmp(argv[0], "del") != 0)
		return ctl_usage(ctl, "list member add or del, not '%s'",
		    argv[0]);
	a.addr = argv[1];
	a.members = argv + 2;
	a.nmembers = n - 2;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_list_member_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_LIMIT ? "nothing was "
		    "changed" : NULL, "list member %s %s", argv[0], a.addr);
	ctl_done(ctl, "%s: %d member%s %s, %d %s so", a.addr, a.changed,
	    a.changed == 1 ? "" : "s", a.add ? "added" : "removed",
	    a.nmembers - a.changed, a.add ? "already" : "not");
	return CTL_OK;
}

int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	struct list_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(ctl->verb, "add") == 0 || strcmp(ctl->verb, "set") == 0) {
		if ((rc = cmd_list_opts(ctl, argc, argv, &a)) != 0)
			return rc;
		a.create = ctl->verb[0] == 'a';
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_list_put_txn, &a) < 0)
			return ctl_fail(NULL, "list %s %s", ctl->verb,
			    a.addr);
		ctl_done(ctl, "list %s %s", a.addr, a.create ? "added" :
		    "changed");
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "del") == 0 || strcmp(ctl->verb, "show") == 0 ||
	    strcmp(ctl->verb, "members") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		if (ctl->verb[0] == 's' || ctl->verb[0] == 'm')
			return cmd_list_show(ctl, argv[0],
			    ctl->verb[0] == 'm');
		a.addr = argv[0];
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if ((rc = store_write(ctl->store, cmd_list_del_txn, &a)) < 0)
			return ctl_fail(NULL, "list del %s", a.addr);
		if (rc == 0)
			return ctl_failx("no list %s", a.addr);
		ctl_done(ctl, "list %s deleted", a.addr);
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "ls") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 1, &n)) != 0)
			return rc;
		return cmd_list_ls(ctl, n == 1 ? argv[0] : NULL);
	}
	if (strcmp(ctl->verb, "member") == 0)
		return cmd_list_member(ctl, argc, argv);
	return ctl_usage(ctl, "unknown command 'list %s'", ctl->verb);
}
