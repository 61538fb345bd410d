/*
 * cmd_addr.c - vellumctl addr add|del|list|import|export
 *
 * import and export use the Postfix virtual(5) alias map format:
 * "address target, target ..." (commas or white space between targets),
 * '#' comments, blank lines, and lines that start with white space
 * continuing the previous one.  "@domain" is a catch-all.
 *
 * Export writes the routes that are not implied by "user add": a route
 * whose only target is the mailbox of the user with that same address is
 * left out.  In a route that mixes a mailbox with other targets, the
 * mailbox is written as its user's address ("info@a info@a, bob@b"),
 * which Postfix reads the same way; on import such a target naming the
 * route's own address is taken as the user's mailbox, already routed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/addr.h"
#include "store/user.h"

#include "ctl.h"

struct addr_text {
	char	*address;
	size_t	 ntargets;
	char	**targets;
	char	**types;
};

struct addr_args {
	const char		 *address;
	const char		 *target;
	const char *const	 *targets;
	size_t			  ntargets;
	struct addr_text	 *list;
	size_t			  n;
	unsigned		  added;
};

static int	cmd_addr_add_txn(struct store_txn *, void *);
static int	cmd_addr_del_txn(struct store_txn *, void *);
static int	cmd_addr_list_one(const struct store_route *, void *);
static int	cmd_addr_list_txn(struct store_txn *, void *);
static int	cmd_addr_load(struct ctl *, struct addr_args *);
static void	cmd_addr_free(struct addr_args *);
static int	cmd_addr_list(struct ctl *);
static int	cmd_addr_export(struct ctl *, const char *path);
static int	cmd_addr_import(struct ctl *, const char *path);
static int	cmd_addr_import_line(struct ctl *, const char *path,
		    unsigned lineno, char *line, unsigned *routes);

static int
cmd_addr_add_txn(struct store_txn *txn, void *arg)
{
	struct addr_args *a = arg;

	return store_addr_add(txn, a->address, a->targets, a->ntargets);
}

static int
cmd_addr_del_txn(struct store_txn *txn, void *arg)
{
	struct addr_args *a = arg;

	return store_addr_del(txn, a->address, a->target);
}

static int
cmd_addr_list_one(const struct store_route *r, void *arg)
{
	struct store_txn *txn = ((void **)arg)[0];
	struct addr_args *a = ((void **)arg)[1];
	struct addr_text *t;
	char buf[STORE_ADDRESS_MAX + 1];
	size_t i;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	t = &a->list[a->n++];
	t->address = xstrdup(r->address);
	t->ntargets = r->ntargets;
	t->targets = xcalloc(r->ntargets + 1, sizeof(char *));
	t->types = xcalloc(r->ntargets + 1, sizeof(char *));
	for (i = 0; i < r->ntargets; i++) {
		if (store_target_format(txn, &r->targets[i], buf,
		    sizeof(buf)) < 0)
			return -1;
		t->targets[i] = xstrdup(buf);
		t->types[i] = r->targets[i].type == STORE_TARGET_MAILBOX ?
		    "mailbox" : r->targets[i].type == STORE_TARGET_ALIAS ?
		    "alias" : "forward";
	}
	return 0;
}

static void
cmd_addr_free(struct addr_args *a)
{
	size_t i, j;

	for (i = 0; i < a->n; i++) {
		for (j = 0; j < a->list[i].ntargets; j++)
			free(a->list[i].targets[j]);
		free(a->list[i].targets);
		free(a->list[i].types);
		free(a->list[i].address);
	}
	free(a->list);
	a->list = NULL;
	a->n = 0;
}

static int
cmd_addr_list_txn(struct store_txn *txn, void *arg)
{
	struct addr_args *a = arg;
	void *pair[2] = { txn, a };

	cmd_addr_free(a);
	return store_addr_list(txn, cmd_addr_list_one, pair);
}

static int
cmd_addr_load(struct ctl *ctl, struct addr_args *a)
{
	memset(a, 0, sizeof(*a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return -1;
	if (store_read(ctl->store, cmd_addr_list_txn, a) < 0) {
		ctl_fail(NULL, "%s %s", ctl->noun, ctl->verb);
		cmd_addr_free(a);
		return -1;
	}
	return 0;
}

static int
cmd_addr_list(struct ctl *ctl)
{
	struct addr_args a;
	size_t i, j;

	if (cmd_addr_load(ctl, &a) < 0)
		return CTL_FAIL;
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		struct addr_text *t = &a.list[i];

		if (ctl->json) {
			printf("%s\n  {\"address\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, t->address);
			printf(", \"targets\": [");
			for (j = 0; j < t->ntargets; j++) {
				printf("%s{\"type\": \"%s\", \"target\": ",
				    j > 0 ? ", " : "", t->types[j]);
				ctl_json_str(stdout, t->targets[j]);
				printf("}");
			}
			printf("]}");
			continue;
		}
		printf("%s ->", t->address);
		for (j = 0; j < t->ntargets; j++)
			printf("%s %s%s%s", j > 0 ? "," : "", t->targets[j],
			    strcmp(t->types[j], "alias") == 0 ? "" : " (",
			    strcmp(t->types[j], "alias") == 0 ? "" :
			    strcmp(t->types[j], "mailbox") == 0 ? "mailbox)" :
			    "forward)");
		printf("\n");
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	cmd_addr_free(&a);
	return CTL_OK;
}

static int
cmd_addr_export(struct ctl *ctl, const char *path)
{
	struct addr_args a;
	FILE *fp = stdout;
	size_t i, j, written = 0;

	if (cmd_addr_load(ctl, &a) < 0)
		return CTL_FAIL;
	if (path != NULL && strcmp(path, "-") != 0 &&
	    (fp = fopen(path, "w")) == NULL) {
		cmd_addr_free(&a);
		return ctl_failx("cannot write %s: %s", path,
		    strerror(errno));
	}
	fprintf(fp, "# Postfix virtual alias map written by vellumctl addr "
	    "export\n");
	for (i = 0; i < a.n; i++) {
		struct addr_text *t = &a.list[i];

		if (t->ntargets == 1 && strcmp(t->types[0], "mailbox") == 0 &&
		    strcmp(t->targets[0], t->address) == 0)
			continue;	/* made by "user add" */
		fprintf(fp, "%s\t", t->address);
		for (j = 0; j < t->ntargets; j++)
			fprintf(fp, "%s%s", j > 0 ? ", " : "", t->targets[j]);
		fprintf(fp, "\n");
		written++;
	}
	cmd_addr_free(&a);
	if (fp != stdout) {
		if (fclose(fp) != 0)
			return ctl_failx("cannot write %s: %s", path,
			    strerror(errno));
		fprintf(stderr, "addr export: %zu routes written to %s\n",
		    written, path);
	}
	return CTL_OK;
}

/* Adds the route of one logical line; 1 added, 0 skipped, -1 failed. */
static int
cmd_addr_import_line(struct ctl *ctl, const char *path, unsigned lineno,
    char *line, unsigned *routes)
{
	struct addr_args a;
	char *words[STORE_ROUTE_TARGETS_MAX + 2], *p = line;
	char norm[STORE_ADDRESS_MAX + 1], tnorm[STORE_ADDRESS_MAX + 1];
	size_t n = 0, i, k;

	while (*p != '\0') {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (n == STORE_ROUTE_TARGETS_MAX + 1) {
			fprintf(stderr, "%s:%u: more than %d targets\n", path,
			    lineno, STORE_ROUTE_TARGETS_MAX);
			return -1;
		}
		words[n++] = p;
		while (*p != '\0' && !isspace((unsigned char)*p) && *p != ',')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (n == 0)
		return 0;
	if (strchr(words[0], '@') == NULL) {
		/* Postfix's "domain anything" declares a virtual domain. */
		fprintf(stderr, "%s:%u: skipped '%s': a domain line; add "
		    "domains with 'vellumctl domain add'\n", path, lineno,
		    words[0]);
		return 0;
	}
	if (n == 1) {
		fprintf(stderr, "%s:%u: %s has no target\n", path, lineno,
		    words[0]);
		return -1;
	}
	if (store_address_normalize(words[0], norm, 1) < 0) {
		fprintf(stderr, "%s:%u: %s\n", path, lineno, err_msg());
		return -1;
	}
	/* The route's own address: its user's mailbox, kept by user add. */
	for (i = 1, k = 1; i < n; i++) {
		if (store_address_normalize(words[i], tnorm, 0) >= 0 &&
		    strcmp(tnorm, norm) == 0)
			continue;
		words[k++] = words[i];
	}
	n = k;
	if (n == 1)
		return 0;
	memset(&a, 0, sizeof(a));
	a.address = norm;
	a.targets = (const char *const *)(words + 1);
	a.ntargets = n - 1;
	if (store_write(ctl->store, cmd_addr_add_txn, &a) < 0) {
		fprintf(stderr, "%s:%u: %s: %s\n", path, lineno, norm,
		    err_msg());
		return -1;
	}
	(*routes)++;
	return 1;
}

static int
cmd_addr_import(struct ctl *ctl, const char *path)
{
	FILE *fp;
	char *line, *hash, *logical = NULL;
	unsigned lineno = 0, start = 0, routes = 0, failed = 0;

	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "r")) == NULL)
		return ctl_failx("cannot read %s: %s", path, strerror(errno));
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		if (fp != stdin)
			fclose(fp);
		return CTL_FAIL;
	}
	for (;;) {
		line = ctl_read_line(fp);
		if (line != NULL) {
			/* As in Postfix, '#' starts a comment line only. */
			lineno++;
			hash = line + strspn(line, " \t");
			if (*hash == '#')
				*hash = '\0';
		}
		/* A line starting with white space continues the last. */
		if (line != NULL && logical != NULL &&
		    isspace((unsigned char)line[0]) &&
		    line[strspn(line, " \t")] != '\0') {
			char *joined = xasprintf("%s %s", logical, line);

			free(logical);
			free(line);
			logical = joined;
			continue;
		}
		if (logical != NULL) {
			if (cmd_addr_import_line(ctl, path, start, logical,
			    &routes) < 0)
				failed++;
			free(logical);
			logical = NULL;
		}
		if (line == NULL)
			break;
		if (line[strspn(line, " \t")] == '\0') {
			free(line);
			continue;
		}
		logical = line;
		start = lineno;
	}
	if (fp != stdin)
		fclose(fp);
	printf("addr import %s: %u routes added, %u failed\n", path, routes,
	    failed);
	return failed > 0 ? CTL_FAIL : CTL_OK;
}

int
cmd_addr(struct ctl *ctl, int argc, char **argv)
{
	struct addr_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(ctl->verb, "list") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
			return rc;
		return cmd_addr_list(ctl);
	}
	if (strcmp(ctl->verb, "export") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 1, &n)) != 0)
			return rc;
		return cmd_addr_export(ctl, n > 0 ? argv[0] : NULL);
	}
	if (strcmp(ctl->verb, "import") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
			return rc;
		return cmd_addr_import(ctl, argv[0]);
	}
	if (strcmp(ctl->verb, "add") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 2, -1, &n)) != 0)
			return rc;
		a.address = argv[0];
		a.targets = (const char *const *)(argv + 1);
		a.ntargets = (size_t)n - 1;
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_addr_add_txn, &a) < 0)
			return ctl_fail(err_class() == ERR_NOTFOUND ?
			    "the address must be in a local domain: "
			    "'vellumctl domain add'" : NULL, "addr add %s",
			    a.address);
		printf("%s -> %d target%s added\n", a.address, n - 1,
		    n == 2 ? "" : "s");
		return CTL_OK;
	}
	if (strcmp(ctl->verb, "del") == 0) {
		if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 2, &n)) != 0)
			return rc;
		a.address = argv[0];
		a.target = n > 1 ? argv[1] : NULL;
		if (ctl_open(ctl, STORE_NOCREATE) < 0)
			return CTL_FAIL;
		if (store_write(ctl->store, cmd_addr_del_txn, &a) < 0)
			return ctl_fail(err_class() == ERR_NOTFOUND ?
			    "'vellumctl addr list' shows the routes" : NULL,
			    "addr del %s%s%s", a.address, a.target != NULL ?
			    " " : "", a.target != NULL ? a.target : "");
		if (a.target != NULL)
			printf("%s: target %s removed\n", a.address, a.target);
		else
			printf("route %s removed\n", a.address);
		return CTL_OK;
	}
	return ctl_usage(ctl, "unknown command 'addr %s'", ctl->verb);
}
