/*
 * cmd_acl.c - vellumctl acl add|del|list|import|export: port 25's black
 * and white lists (store/acl.h, applied by smtpd/acl.c).
 *
 * import and export read and write Postfix access(5) tables, one per
 * restriction: --client (check_client_access, cidr_table keys too),
 * --sender (check_sender_access), --recipient (check_recipient_access).
 * An import is all or nothing: the first bad line is reported as
 * FILE:LINE: what is wrong, and nothing changes.  A key given twice keeps
 * its first line, as postmap does, with a note.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/acl.h"

#include "ctl.h"

struct acl_args {
	struct store_acl		 e;
	enum store_acl_map_kind		 map_kind;	/* 0: every kind */
	struct store_acl		*list;
	size_t				 n;
	const struct store_acl_map	*map;
	int				 replace;
	long				 removed;
	size_t				 set, same;
};

static int	cmd_acl_map_flag(struct ctl *, struct ctl_opt *,
		    enum store_acl_map_kind *);
static int	cmd_acl_add_txn(struct store_txn *, void *);
static int	cmd_acl_del_txn(struct store_txn *, void *);
static int	cmd_acl_list_one(const struct store_acl *, void *);
static int	cmd_acl_list_txn(struct store_txn *, void *);
static int	cmd_acl_import_txn(struct store_txn *, void *);
static int	cmd_acl_add(struct ctl *, int, char **);
static int	cmd_acl_del(struct ctl *, int, char **);
static int	cmd_acl_list(struct ctl *, int, char **);
static int	cmd_acl_import(struct ctl *, int, char **);
static int	cmd_acl_export(struct ctl *, int, char **);

/* --client | --sender | --recipient: exactly one. */
static int
cmd_acl_map_flag(struct ctl *ctl, struct ctl_opt *opts,
    enum store_acl_map_kind *kind)
{
	if (opts[0].seen + opts[1].seen + opts[2].seen != 1)
		return ctl_usage(ctl, "give one of --client, --sender, "
		    "--recipient (the table's restriction)");
	*kind = opts[0].seen ? STORE_ACL_MAP_CLIENT : opts[1].seen ?
	    STORE_ACL_MAP_SENDER : STORE_ACL_MAP_RECIPIENT;
	return CTL_OK;
}

static int
cmd_acl_add_txn(struct store_txn *txn, void *arg)
{
	struct acl_args *a = arg;
	struct store_acl e;
	int rc;

	if ((rc = store_acl_put(txn, &a->e, 0)) == -1)
		return -1;
	a->set = (size_t)rc;
	/* the entry as stored (normalised), for the message */
	if ((rc = store_acl_get(txn, a->e.kind, a->e.value, &e)) == 1)
		a->e = e;
	return rc;
}

static int
cmd_acl_add(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "action", .has_arg = 1 },
		{ .name = "text", .has_arg = 1 },
		{ .name = NULL },
	};
	struct acl_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 3, 3, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if (strcmp(argv[0], "white") == 0)
		a.e.list = STORE_ACL_WHITE;
	else if (strcmp(argv[0], "black") == 0)
		a.e.list = STORE_ACL_BLACK;
	else
		return ctl_usage(ctl, "'%s': the list is white or black",
		    argv[0]);
	if ((a.e.kind = store_acl_kind_parse(argv[1])) == 0)
		return ctl_usage(ctl, "'%s': KIND is ip, net, sender, domain "
		    "or recipient", argv[1]);
	snprintf(a.e.value, sizeof(a.e.value), "%s", argv[2]);
	if (a.e.list == STORE_ACL_WHITE && (opts[0].seen || opts[1].seen))
		return ctl_usage(ctl, "a white entry takes no --action or "
		    "--text");
	if (a.e.list == STORE_ACL_BLACK) {
		a.e.action = STORE_ACL_REJECT;
		if (opts[0].seen && strcmp(opts[0].value, "discard") == 0)
			a.e.action = STORE_ACL_DISCARD;
		else if (opts[0].seen && strcmp(opts[0].value, "reject") != 0)
			return ctl_usage(ctl, "'%s': --action is reject or "
			    "discard", opts[0].value);
	}
	if (opts[1].seen) {
		if (strlen(opts[1].value) > STORE_ACL_TEXT_MAX)
			return ctl_usage(ctl, "--text is at most %d characters",
			    STORE_ACL_TEXT_MAX);
		snprintf(a.e.text, sizeof(a.e.text), "%s", opts[1].value);
	}
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_acl_add_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_EXISTS ?
		    "'vellumctl acl list' shows the entries" : NULL, "acl add");
	ctl_done(ctl, "acl: %s %s is %slisted%s%s%s", store_acl_kind_name(
	    a.e.kind), a.e.value, store_acl_list_name(a.e.list),
	    a.e.list == STORE_ACL_BLACK ? " (" : "",
	    a.e.list == STORE_ACL_BLACK ? store_acl_action_name(a.e.action) :
	    "", a.e.list == STORE_ACL_BLACK ? (a.set ? ")" : ", already)") :
	    a.set ? "" : " (already)");
	return CTL_OK;
}

static int
cmd_acl_del_txn(struct store_txn *txn, void *arg)
{
	struct acl_args *a = arg;
	char norm[STORE_ADDRESS_MAX + 1];
	int rc;

	if ((rc = store_acl_del(txn, a->e.kind, a->e.value)) != 0)
		return rc;
	if (store_acl_normalize(a->e.kind, a->e.value, norm) == -1)
		return -1;
	return err_set(ERR_NOTFOUND, "no %s entry %s",
	    store_acl_kind_name(a->e.kind), norm);
}

static int
cmd_acl_del(struct ctl *ctl, int argc, char **argv)
{
	struct acl_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 2, 2, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if ((a.e.kind = store_acl_kind_parse(argv[0])) == 0)
		return ctl_usage(ctl, "'%s': KIND is ip, net, sender, domain "
		    "or recipient", argv[0]);
	snprintf(a.e.value, sizeof(a.e.value), "%s", argv[1]);
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_acl_del_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl acl list' shows the entries" : NULL, "acl del");
	ctl_done(ctl, "acl: %s entry %s removed", store_acl_kind_name(
	    a.e.kind), argv[1]);
	return CTL_OK;
}

static int
cmd_acl_list_one(const struct store_acl *e, void *arg)
{
	struct acl_args *a = arg;

	if (a->map_kind != 0 && !store_acl_map_has(a->map_kind, e->kind))
		return 0;
	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *e;
	return 0;
}

static int
cmd_acl_list_txn(struct store_txn *txn, void *arg)
{
	struct acl_args *a = arg;

	a->n = 0;
	return store_acl_list(txn, 0, cmd_acl_list_one, a);
}

static int
cmd_acl_list(struct ctl *ctl, int argc, char **argv)
{
	struct acl_args a;
	char when[32];
	struct tm tm;
	time_t t;
	size_t i;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_acl_list_txn, &a) < 0) {
		free(a.list);
		return ctl_fail(NULL, "acl list");
	}
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		struct store_acl *e = &a.list[i];

		t = (time_t)e->created;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (ctl->json) {
			printf("%s\n  {\"kind\": \"%s\", \"value\": ",
			    i > 0 ? "," : "", store_acl_kind_name(e->kind));
			ctl_json_str(stdout, e->value);
			printf(", \"list\": \"%s\", \"action\": ",
			    store_acl_list_name(e->list));
			if (e->list == STORE_ACL_BLACK)
				printf("\"%s\"", store_acl_action_name(
				    e->action));
			else
				printf("null");
			printf(", \"code\": %u, \"text\": ", e->code);
			ctl_json_str(stdout, e->text);
			printf(", \"skips\": %u, \"created\": %" PRId64 "}",
			    e->list == STORE_ACL_WHITE ?
			    store_acl_skips(e->kind) : 0, e->created);
		} else
			printf("%s\t%s\t%s\t%s\t%s\t%s\n",
			    store_acl_list_name(e->list),
			    store_acl_kind_name(e->kind), e->value,
			    store_acl_action_name(e->action), when,
			    e->text[0] != '\0' ? e->text : "-");
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	free(a.list);
	return CTL_OK;
}

static int
cmd_acl_import_txn(struct store_txn *txn, void *arg)
{
	struct acl_args *a = arg;
	static const enum store_acl_kind kinds[] = { STORE_ACL_IP,
	    STORE_ACL_NET, STORE_ACL_SENDER, STORE_ACL_DOMAIN,
	    STORE_ACL_RECIPIENT };
	size_t i;
	long r;
	int rc;

	a->set = a->same = 0;
	a->removed = 0;
	for (i = 0; a->replace && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!store_acl_map_has(a->map_kind, kinds[i]))
			continue;
		if ((r = store_acl_clear(txn, kinds[i])) < 0)
			return -1;
		a->removed += r;
	}
	for (i = 0; i < a->map->n; i++) {
		const struct store_acl_entry *e = &a->map->e[i];

		if (e->dup_of != 0)
			continue;
		if ((rc = store_acl_put(txn, &e->acl, 1)) == -1)
			return -1;
		if (rc == 1)
			a->set++;
		else
			a->same++;
	}
	return 0;
}

static int
cmd_acl_import(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "client" },
		{ .name = "sender" },
		{ .name = "recipient" },
		{ .name = "replace" },
		{ .name = NULL },
	};
	struct store_acl_map map;
	struct acl_args a;
	char *text;
	size_t len, i;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if ((rc = cmd_acl_map_flag(ctl, opts, &a.map_kind)) != CTL_OK)
		return rc;
	a.replace = opts[3].seen;
	if ((text = cmd_map_slurp(argv[0], &len)) == NULL)
		return CTL_FAIL;
	rc = store_acl_map_parse(a.map_kind, text, len, &map, NULL);
	free(text);
	if (rc == -1)
		return cmd_map_bad(ctl, argv[0]);
	for (i = 0; i < map.n; i++)
		if (map.e[i].dup_of != 0)
			cmd_map_dup(argv[0], map.e[i].lineno,
			    map.e[i].acl.value, map.e[i].dup_of);
	a.map = &map;
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		store_acl_map_free(&map);
		return CTL_FAIL;
	}
	rc = store_write(ctl->store, cmd_acl_import_txn, &a);
	store_acl_map_free(&map);
	if (rc < 0)
		return ctl_fail(NULL, "acl import %s: nothing imported",
		    argv[0]);
	ctl_done(ctl, "acl import %s: %zu %s entries set, %zu unchanged%s%ld%s",
	    argv[0], a.set, store_acl_map_name(a.map_kind), a.same,
	    a.replace ? ", " : "", a.replace ? a.removed : 0L, a.replace ?
	    " others removed first" : "");
	return CTL_OK;
}

static int
cmd_acl_export(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "client" },
		{ .name = "sender" },
		{ .name = "recipient" },
		{ .name = NULL },
	};
	struct acl_args a;
	char line[STORE_ADDRESS_MAX + STORE_ACL_TEXT_MAX + 32];
	const char *path;
	FILE *fp;
	size_t i;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if ((rc = cmd_acl_map_flag(ctl, opts, &a.map_kind)) != CTL_OK)
		return rc;
	path = n > 0 ? argv[0] : "-";
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_acl_list_txn, &a) < 0) {
		free(a.list);
		return ctl_fail(NULL, "acl export");
	}
	if ((fp = cmd_map_open(path)) == NULL) {
		free(a.list);
		return CTL_FAIL;
	}
	fprintf(fp, "# Postfix access(5) table for check_%s_access, written "
	    "by vellumctl acl export\n", store_acl_map_name(a.map_kind));
	for (i = 0; i < a.n; i++) {
		store_acl_map_format(&a.list[i], line, sizeof(line));
		fprintf(fp, "%s\n", line);
	}
	free(a.list);
	return cmd_map_close(ctl, fp, path, a.n, "table");
}

int
cmd_acl(struct ctl *ctl, int argc, char **argv)
{
	if (strcmp(ctl->verb, "add") == 0)
		return cmd_acl_add(ctl, argc, argv);
	if (strcmp(ctl->verb, "del") == 0)
		return cmd_acl_del(ctl, argc, argv);
	if (strcmp(ctl->verb, "list") == 0)
		return cmd_acl_list(ctl, argc, argv);
	if (strcmp(ctl->verb, "import") == 0)
		return cmd_acl_import(ctl, argc, argv);
	if (strcmp(ctl->verb, "export") == 0)
		return cmd_acl_export(ctl, argc, argv);
	return ctl_usage(ctl, "unknown command 'acl %s'", ctl->verb);
}
