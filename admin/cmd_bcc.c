/*
 * cmd_bcc.c - vellumctl bcc add|del|list|import|export: the automatic
 * BCC rules (store/bcc.h), Postfix's sender_bcc_maps, recipient_bcc_maps
 * and always_bcc.
 *
 * import and export read and write the text postmap(1) reads for those
 * maps: "address-or-@domain  bcc-address" per line, '#' comment lines,
 * blank lines, lines starting with white space continuing the one before.
 * An import is all or nothing: the first bad line is reported as
 * FILE:LINE: what is wrong, and nothing changes.  A key given twice keeps
 * its first line, as postmap does, with a note.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/bcc.h"

#include "ctl.h"

struct bcc_args {
	struct store_bcc	 rule;
	struct store_bcc	*list;
	size_t			 n;
	const struct store_bcc_map *map;
	int			 replace;
	long			 removed;
	size_t			 set;
};

static int	cmd_bcc_selector(struct ctl *, struct ctl_opt *,
		    struct store_bcc *);
static int	cmd_bcc_kind_flag(struct ctl *, struct ctl_opt *,
		    enum store_bcc_kind *);
static int	cmd_bcc_add_txn(struct store_txn *, void *);
static int	cmd_bcc_del_txn(struct store_txn *, void *);
static int	cmd_bcc_list_one(const struct store_bcc *, void *);
static int	cmd_bcc_list_txn(struct store_txn *, void *);
static int	cmd_bcc_import_txn(struct store_txn *, void *);
static int	cmd_bcc_add(struct ctl *, int, char **);
static int	cmd_bcc_del(struct ctl *, int, char **);
static int	cmd_bcc_list(struct ctl *, int, char **);
static int	cmd_bcc_import(struct ctl *, int, char **);
static int	cmd_bcc_export(struct ctl *, int, char **);

/* --sender ADDR | --recipient ADDR | --all: exactly one. */
static int
cmd_bcc_selector(struct ctl *ctl, struct ctl_opt *opts, struct store_bcc *b)
{
	int seen = opts[0].seen + opts[1].seen + opts[2].seen;

	if (seen != 1)
		return ctl_usage(ctl, "give one of --sender ADDR, --recipient "
		    "ADDR, --all");
	memset(b, 0, sizeof(*b));
	if (opts[0].seen) {
		b->kind = STORE_BCC_SENDER;
		snprintf(b->key, sizeof(b->key), "%s", opts[0].value);
	} else if (opts[1].seen) {
		b->kind = STORE_BCC_RECIPIENT;
		snprintf(b->key, sizeof(b->key), "%s", opts[1].value);
	} else
		b->kind = STORE_BCC_ALL;
	return CTL_OK;
}

/* --sender | --recipient (a map is of one kind): exactly one. */
static int
cmd_bcc_kind_flag(struct ctl *ctl, struct ctl_opt *opts,
    enum store_bcc_kind *kind)
{
	if (opts[0].seen + opts[1].seen != 1)
		return ctl_usage(ctl, "give --sender (sender_bcc_maps) or "
		    "--recipient (recipient_bcc_maps)");
	*kind = opts[0].seen ? STORE_BCC_SENDER : STORE_BCC_RECIPIENT;
	return CTL_OK;
}

static int
cmd_bcc_add_txn(struct store_txn *txn, void *arg)
{
	struct bcc_args *a = arg;
	struct store_bcc b;
	int rc;

	if ((rc = store_bcc_add(txn, &a->rule)) == -1)
		return -1;
	a->set = (size_t)rc;
	/* the rule as stored (normalised), for the message */
	if ((rc = store_bcc_get(txn, a->rule.kind, a->rule.key, &b)) == 1)
		a->rule = b;
	return rc;
}

static int
cmd_bcc_add(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "sender", .has_arg = 1 },
		{ .name = "recipient", .has_arg = 1 },
		{ .name = "all" },
		{ .name = NULL },
	};
	struct bcc_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if ((rc = cmd_bcc_selector(ctl, opts, &a.rule)) != CTL_OK)
		return rc;
	snprintf(a.rule.target, sizeof(a.rule.target), "%s", argv[0]);
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_bcc_add_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_EXISTS ?
		    "'vellumctl bcc list' shows the rules" : NULL,
		    "bcc add");
	ctl_done(ctl, "bcc: %s%s%s is copied to %s%s",
	    a.rule.kind == STORE_BCC_ALL ? "all mail" :
	    a.rule.kind == STORE_BCC_SENDER ? "mail from" : "mail to",
	    a.rule.key[0] != '\0' ? " " : "", a.rule.key, a.rule.target,
	    a.set ? "" : " (already)");
	return CTL_OK;
}

static int
cmd_bcc_del_txn(struct store_txn *txn, void *arg)
{
	struct bcc_args *a = arg;
	char norm[STORE_ADDRESS_MAX + 1];
	int rc;

	if ((rc = store_bcc_del(txn, a->rule.kind, a->rule.key)) != 0)
		return rc;
	if (store_bcc_key_normalize(a->rule.kind, a->rule.key, norm) == -1)
		return -1;
	return err_set(ERR_NOTFOUND, "no %s BCC rule%s%s",
	    store_bcc_kind_name(a->rule.kind), norm[0] != '\0' ? " for " : "",
	    norm);
}

static int
cmd_bcc_del(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "sender", .has_arg = 1 },
		{ .name = "recipient", .has_arg = 1 },
		{ .name = "all" },
		{ .name = NULL },
	};
	struct bcc_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 0, 0, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if ((rc = cmd_bcc_selector(ctl, opts, &a.rule)) != CTL_OK)
		return rc;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_bcc_del_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl bcc list' shows the rules" : NULL, "bcc del");
	ctl_done(ctl, "bcc: %s rule%s%s removed",
	    store_bcc_kind_name(a.rule.kind), a.rule.key[0] != '\0' ? " " :
	    "", a.rule.key);
	return CTL_OK;
}

static int
cmd_bcc_list_one(const struct store_bcc *b, void *arg)
{
	struct bcc_args *a = arg;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *b;
	return 0;
}

static int
cmd_bcc_list_txn(struct store_txn *txn, void *arg)
{
	struct bcc_args *a = arg;

	a->n = 0;
	return store_bcc_list(txn, a->rule.kind, cmd_bcc_list_one, a);
}

static int
cmd_bcc_list(struct ctl *ctl, int argc, char **argv)
{
	struct bcc_args a;
	size_t i;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_bcc_list_txn, &a) < 0) {
		free(a.list);
		return ctl_fail(NULL, "bcc list");
	}
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		struct store_bcc *b = &a.list[i];

		if (ctl->json) {
			printf("%s\n  {\"kind\": \"%s\", \"address\": ",
			    i > 0 ? "," : "", store_bcc_kind_name(b->kind));
			if (b->kind == STORE_BCC_ALL)
				printf("null");
			else
				ctl_json_str(stdout, b->key);
			printf(", \"bcc\": ");
			ctl_json_str(stdout, b->target);
			printf("}");
		} else
			printf("%s\t%s\t%s\n", store_bcc_kind_name(b->kind),
			    b->kind == STORE_BCC_ALL ? "*" : b->key,
			    b->target);
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	free(a.list);
	return CTL_OK;
}

static int
cmd_bcc_import_txn(struct store_txn *txn, void *arg)
{
	struct bcc_args *a = arg;
	struct store_bcc b;
	size_t i;

	a->set = 0;
	a->removed = 0;
	if (a->replace &&
	    (a->removed = store_bcc_clear(txn, a->rule.kind)) < 0)
		return -1;
	for (i = 0; i < a->map->n; i++) {
		const struct store_bcc_entry *e = &a->map->e[i];

		if (e->dup_of != 0)
			continue;
		memset(&b, 0, sizeof(b));
		b.kind = a->rule.kind;
		memcpy(b.key, e->key, sizeof(b.key));
		memcpy(b.target, e->target, sizeof(b.target));
		if (store_bcc_set(txn, &b) == -1)
			return -1;
		a->set++;
	}
	return 0;
}

static int
cmd_bcc_import(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "sender" },
		{ .name = "recipient" },
		{ .name = "replace" },
		{ .name = NULL },
	};
	struct store_bcc_map map;
	struct bcc_args a;
	char *text;
	size_t len, i;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if ((rc = cmd_bcc_kind_flag(ctl, opts, &a.rule.kind)) != CTL_OK)
		return rc;
	a.replace = opts[2].seen;
	if ((text = cmd_map_slurp(argv[0], &len)) == NULL)
		return CTL_FAIL;
	rc = store_bcc_map_parse(a.rule.kind, text, len, &map, NULL);
	free(text);
	if (rc == -1)
		return cmd_map_bad(ctl, argv[0]);
	for (i = 0; i < map.n; i++)
		if (map.e[i].dup_of != 0)
			cmd_map_dup(argv[0], map.e[i].lineno, map.e[i].key,
			    map.e[i].dup_of);
	a.map = &map;
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		store_bcc_map_free(&map);
		return CTL_FAIL;
	}
	rc = store_write(ctl->store, cmd_bcc_import_txn, &a);
	store_bcc_map_free(&map);
	if (rc < 0)
		return ctl_fail(NULL, "bcc import %s: nothing imported",
		    argv[0]);
	if (a.replace)
		ctl_done(ctl, "bcc import %s: %zu %s rules set, %ld replaced "
		    "rules removed first", argv[0], a.set,
		    store_bcc_kind_name(a.rule.kind), a.removed);
	else
		ctl_done(ctl, "bcc import %s: %zu %s rules set", argv[0],
		    a.set, store_bcc_kind_name(a.rule.kind));
	return CTL_OK;
}

static int
cmd_bcc_export(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "sender" },
		{ .name = "recipient" },
		{ .name = NULL },
	};
	struct bcc_args a;
	const char *path;
	FILE *fp;
	size_t i;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if ((rc = cmd_bcc_kind_flag(ctl, opts, &a.rule.kind)) != CTL_OK)
		return rc;
	path = n > 0 ? argv[0] : "-";
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_bcc_list_txn, &a) < 0) {
		free(a.list);
		return ctl_fail(NULL, "bcc export");
	}
	if ((fp = cmd_map_open(path)) == NULL) {
		free(a.list);
		return CTL_FAIL;
	}
	fprintf(fp, "# Postfix %s_bcc_maps written by vellumctl bcc export\n",
	    store_bcc_kind_name(a.rule.kind));
	for (i = 0; i < a.n; i++)
		fprintf(fp, "%s\t%s\n", a.list[i].key, a.list[i].target);
	free(a.list);
	return cmd_map_close(ctl, fp, path, a.n, "map");
}

int
cmd_bcc(struct ctl *ctl, int argc, char **argv)
{
	if (strcmp(ctl->verb, "add") == 0)
		return cmd_bcc_add(ctl, argc, argv);
	if (strcmp(ctl->verb, "del") == 0)
		return cmd_bcc_del(ctl, argc, argv);
	if (strcmp(ctl->verb, "list") == 0)
		return cmd_bcc_list(ctl, argc, argv);
	if (strcmp(ctl->verb, "import") == 0)
		return cmd_bcc_import(ctl, argc, argv);
	if (strcmp(ctl->verb, "export") == 0)
		return cmd_bcc_export(ctl, argc, argv);
	return ctl_usage(ctl, "unknown command 'bcc %s'", ctl->verb);
}
