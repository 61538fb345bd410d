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
#include "common/log.h"
#include "common/xmalloc.h"
#include "store/addr.h"
#include "store/domain.h"
#include "store/list.h"
#include "store/user.h"

#include "ctl.h"

struct addr_text {
	char	*address;
	size_t	 ntargets;
	char	**targets;
	char	**types;
};

enum target_status {
	TARGET_NEW = 0,
	TARGET_ALREADY,
	TARGET_EXTERNAL,
};

struct addr_args {
	const char		 *address;
	const char		 *target;
	const char *const	 *targets;
	size_t			  ntargets;
	char			(*tnorm)[STORE_ADDRESS_MAX + 1];
	enum target_status	 *status;
	int			  force, missing;
	struct addr_text	 *list;
	size_t			  n;
	struct store_domain	 *doms;		/* alias domains (export) */
	size_t			  ndoms;
};

enum entry_kind {
	ENTRY_SKIP = 0,
	ENTRY_ROUTE,
	ENTRY_DOMAIN_ALIAS,
};

/* One logical line of an import file. */
struct addr_entry {
	unsigned	 lineno;
	enum entry_kind	 kind;
	char		 address[STORE_ADDRESS_MAX + 1];  /* or alias domain */
	char		 alias_of[STORE_DOMAIN_MAX + 1];
	size_t		 ntargets;
	char		**targets;			  /* normalised */
	char		*error;		/* why the line is bad, or NULL */
	int		 txn_error;	/* error found in the transaction */
};

/* A route --replace strips; own: its user's mailbox (kept), or 0. */
struct addr_stale {
	char		address[STORE_ADDRESS_MAX + 1];
	uint32_t	own;
};

struct addr_import {
	const char		*path;
	const char		*replace;	/* domain, "" every, NULL */
	struct addr_entry	*e;
	size_t			 n;
	struct addr_stale	*stale;
	size_t			 nstale;
	unsigned		 routes, aliases, removed;
	int			 fatal;
};

static int	cmd_addr_check_name(const char *, int catchall);
static int	cmd_addr_exists(struct store_txn *, const char *, int depth);
static int	cmd_addr_add(struct ctl *, int argc, char **argv);
static size_t	cmd_addr_words(char *, char **, size_t);
static void	cmd_addr_parse_entry(const char *, struct addr_entry *,
		    char *);
static int	cmd_addr_replaced(const struct addr_import *, const char *);
static int	cmd_addr_stale_one(const struct store_route *, void *);
static int	cmd_addr_replace(struct store_txn *, struct addr_import *);
static int	cmd_addr_entry_failed(struct addr_entry *);
static int	cmd_addr_import_txn(struct store_txn *, void *);
static void	cmd_addr_import_free(struct addr_import *);
static void	cmd_addr_import_read(FILE *, struct addr_import *);
static int	cmd_addr_dup_cmp(const void *, const void *);
static void	cmd_addr_import_dups(struct addr_import *);
static int	cmd_addr_export_one(const struct store_domain *, void *);
static int	cmd_addr_export_txn(struct store_txn *, void *);
/*
 * Whether name is an address addr add accepts: an RFC 5321 dot-atom
 * local part (UTF-8 allowed, RFC 6531), "@" and a domain of LDH labels
 * (UTF-8 U-labels allowed) that neither start nor end with '-'.  With
 * catchall, "@domain" too.  0 valid, -1 INVALID.
 */
static int
cmd_addr_check_name(const char *name, int catchall)
{
	const char *at, *p, *label;
	size_t n = strlen(name), local;
	unsigned char c;

	if (n > 2 && name[0] == '<' && name[n - 1] == '>') {
		name++;
		n -= 2;
	}
	for (at = NULL, p = name; p < name + n; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return err_set(ERR_INVALID, "'%.*s' is not an address: write "
		    "user@domain", (int)n, name);
	local = (size_t)(at - name);
	if (local == 0 && !catchall)
		return err_set(ERR_INVALID, "'%.*s' has an empty local part",
		    (int)n, name);
	for (p = name; p < at; p++) {
		c = (unsigned char)*p;
		if (c == '.') {
			if (p == name || p + 1 == at || p[1] == '.')
				return err_set(ERR_INVALID, "'%.*s' is not a "
				    "valid address: a '.' starts or ends the "
				    "local part or follows another", (int)n,
				    name);
			continue;
		}
		if (isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~",
		    c) != NULL)
			continue;
		if (c > 0x20 && c < 0x7f)
			return err_set(ERR_INVALID, "'%.*s' is not a valid "
			    "address: '%c' is not allowed in a local part "
			    "(RFC 5321 dot-atom)", (int)n, name, c);
		return err_set(ERR_INVALID, "'%.*s' is not a valid address: "
		    "character 0x%02x in the local part", (int)n, name, c);
	}
	for (label = p = at + 1;; p++) {
		if (p < name + n && *p != '.') {
			c = (unsigned char)*p;
			if (isalnum(c) || c >= 0x80 || c == '-')
				continue;
			if (c > 0x20 && c < 0x7f)
				return err_set(ERR_INVALID, "'%.*s' is not a "
				    "valid address: '%c' is not allowed in a "
				    "domain name (letters, digits, '-')",
				    (int)n, name, c);
			return err_set(ERR_INVALID, "'%.*s' is not a valid "
			    "address: character 0x%02x in the domain",
			    (int)n, name, c);
		}
		if (p == label)
			return err_set(ERR_INVALID, "'%.*s' is not a valid "
			    "address: empty domain label", (int)n, name);
		if (*label == '-' || p[-1] == '-')
			return err_set(ERR_INVALID, "'%.*s' is not a valid "
			    "address: domain label '%.*s' starts or ends "
			    "with '-'", (int)n, name, (int)(p - label), label);
		if (p - label > 63)
			return err_set(ERR_INVALID, "'%.*s' is not a valid "
			    "address: a domain label is longer than 63",
			    (int)n, name);
		if (p == name + n)
			break;
		label = p + 1;
	}
	return 0;
}

/*
 * Whether mail to addr (normalised, in a local domain) reaches something:
 * a list, a route (exact, without its +extension, or the catch-all), or,
 * in an alias domain, the same local part in the real one.  1, 0, -1.
 */
static int
cmd_addr_exists(struct store_txn *txn, const char *addr, int depth)
{
	char base[STORE_ADDRESS_MAX + 1], *at, *plus;
	struct store_route r;
	struct store_domain d;
	struct store_list l;
	int rc;

	if (depth > 8)
		return 0;
	if ((rc = store_list_get(txn, addr, &l)) != 0) {
		if (rc == 1)
			store_list_clear(&l);
		return rc;
	}
	snprintf(base, sizeof(base), "%s", addr);
	at = strrchr(base, '@');
	if ((rc = store_addr_get(txn, base, &r)) != 0)
		goto done;
	if ((plus = memchr(base, '+', (size_t)(at - base))) != NULL &&
	    plus > base) {
		memmove(plus, at, strlen(at) + 1);
		if ((rc = store_addr_get(txn, base, &r)) != 0)
			goto done;
		at = strrchr(base, '@');
	}
	if ((rc = store_addr_get(txn, at, &r)) != 0)
		goto done;
	if ((rc = store_domain_get(txn, at + 1, &d)) != 1 ||
	    d.alias_of[0] == '\0')
		return rc == -1 ? -1 : 0;
	snprintf(base, sizeof(base), "%.*s@%s", (int)(strrchr(addr, '@') -
	    addr), addr, d.alias_of);
	return cmd_addr_exists(txn, base, depth + 1);
done:
	if (rc == 1)
		store_route_clear(&r);
	return rc;
}

/*
 * addr add: which targets are new, already there or external forwards;
 * a local target that reaches nothing is refused unless --force.
 */
static int
cmd_addr_add_txn(struct store_txn *txn, void *arg)
{
	struct addr_args *a = arg;
	struct store_route old;
	struct store_domain d;
	char buf[STORE_ADDRESS_MAX + 1], norm[STORE_ADDRESS_MAX + 1];
	const char *tnorm;
	size_t i, j;
	int rc;

	a->missing = 0;
	if (store_address_normalize(a->address, norm, 1) < 0)
		return -1;
	/* A domain that is not ours: store_addr_add() says so. */
	if ((rc = store_domain_get(txn, strchr(norm, '@') + 1, &d)) != 1)
		return rc == -1 ? -1 : store_addr_add(txn, a->address,
		    a->targets, a->ntargets);
	if ((rc = store_addr_get(txn, norm, &old)) == -1)
		return -1;
	for (i = 0; i < a->ntargets; i++) {
		tnorm = a->tnorm[i];
		a->status[i] = TARGET_NEW;
		for (j = 0; j < (rc == 1 ? old.ntargets : 0); j++) {
			if (store_target_format(txn, &old.targets[j], buf,
			    sizeof(buf)) < 0)
				goto fail;
			if (strcmp(buf, tnorm) == 0)
				a->status[i] = TARGET_ALREADY;
		}
		for (j = 0; j < i; j++)
			if (strcmp(a->tnorm[j], tnorm) == 0)
				a->status[i] = TARGET_ALREADY;
		if (a->status[i] == TARGET_ALREADY ||
		    strcmp(tnorm, norm) == 0)
			continue;
		switch (store_domain_get(txn, strchr(tnorm, '@') + 1, &d)) {
		case -1:
			goto fail;
		case 0:
			a->status[i] = TARGET_EXTERNAL;
			continue;
		}
		if (a->force)
			continue;
		switch (cmd_addr_exists(txn, tnorm, 0)) {
		case -1:
			goto fail;
		case 0:
			a->missing = 1;
			err_set(ERR_NOTFOUND, "target %s does not exist (no "
			    "user, address, list or catch-all)", tnorm);
			goto fail;
		}
	}
	if (rc == 1)
		store_route_clear(&old);
	return store_addr_add(txn, a->address, a->targets, a->ntargets);
fail:
	if (rc == 1)
		store_route_clear(&old);
	return -1;
}

static int
cmd_addr_add(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "force" },
		{ .name = NULL },
	};
	struct addr_args a;
	char norm[STORE_ADDRESS_MAX + 1], *at;
	unsigned added = 0;
	size_t i;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if ((rc = ctl_args(ctl, argc, argv, opts, 2, -1, &n)) != 0)
		return rc;
	a.address = argv[0];
	a.targets = (const char *const *)(argv + 1);
	a.ntargets = (size_t)n - 1;
	a.force = ctl_opt(opts, "force")->seen;
	if (cmd_addr_check_name(a.address, 1) < 0)
		return ctl_fail(NULL, "addr add %s", a.address);
	a.tnorm = xcalloc(a.ntargets, sizeof(*a.tnorm));
	a.status = xcalloc(a.ntargets, sizeof(*a.status));
	for (i = 0; i < a.ntargets; i++) {
		if (cmd_addr_check_name(a.targets[i], 0) < 0 ||
		    store_address_normalize(a.targets[i], a.tnorm[i], 0) < 0) {
			rc = ctl_fail(NULL, "addr add %s", a.address);
			goto out;
		}
	}
	if (store_address_normalize(a.address, norm, 1) < 0) {
		rc = ctl_fail(NULL, "addr add %s", a.address);
		goto out;
	}
	at = strrchr(norm, '@');
	if (memchr(norm, '+', (size_t)(at - norm)) != NULL && norm[0] != '+')
		fprintf(stderr, "vellumctl: warning: %s: '+' is the "
		    "extension separator: mail to %s takes this route, other "
		    "%.*s+...%s mail goes to %.*s%s\n", norm, norm,
		    (int)(strchr(norm, '+') - norm), norm, at,
		    (int)(strchr(norm, '+') - norm), norm, at);
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		rc = CTL_FAIL;
		goto out;
	}
	if (store_write(ctl->store, cmd_addr_add_txn, &a) < 0) {
		rc = ctl_fail(a.missing ? "add it first, or give --force to "
		    "route to it anyway" : err_class() == ERR_NOTFOUND ?
		    "the address must be in a local domain: "
		    "'vellumctl domain add'" : NULL, "addr add %s",
		    a.address);
		goto out;
	}
	for (i = 0; i < a.ntargets; i++) {
		/* With --json stdout holds the one object: notes to stderr. */
		if (a.status[i] == TARGET_ALREADY) {
			fprintf(ctl->json ? stderr : stdout, "%s: %s was "
			    "already there\n", norm, a.tnorm[i]);
			continue;
		}
		added++;
		if (a.status[i] == TARGET_EXTERNAL)
			fprintf(ctl->json ? stderr : stdout, "%s: %s is an "
			    "external forward\n", norm, a.tnorm[i]);
	}
	ctl_done(ctl, "%s -> %u target%s added", a.address, added,
	    added == 1 ? "" : "s");
	rc = CTL_OK;
out:
	free(a.tnorm);
	free(a.status);
	return rc;
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
	free(a->doms);
	a->doms = NULL;
	a->ndoms = 0;
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
cmd_addr_load(struct ctl *ctl, struct addr_args *a, store_txn_fn *fn)
{
	memset(a, 0, sizeof(*a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return -1;
	if (store_read(ctl->store, fn, a) < 0) {
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

	if (cmd_addr_load(ctl, &a, cmd_addr_list_txn) < 0)
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
cmd_addr_export_one(const struct store_domain *d, void *arg)
{
	struct addr_args *a = arg;

	if (d->alias_of[0] == '\0')
		return 0;
	a->doms = xreallocarray(a->doms, a->ndoms + 1, sizeof(*a->doms));
	a->doms[a->ndoms++] = *d;
	return 0;
}

/* The routes and the alias domains, from one snapshot. */
static int
cmd_addr_export_txn(struct store_txn *txn, void *arg)
{
	struct addr_args *a = arg;

	if (cmd_addr_list_txn(txn, a) < 0)
		return -1;
	return store_domain_list(txn, cmd_addr_export_one, a);
}

static int
cmd_addr_export(struct ctl *ctl, const char *path)
{
	struct addr_args a;
	FILE *fp = stdout;
	char *map = NULL;
	size_t i, j, written = 0, maplen = 0;
	int mem = 0;

	if (cmd_addr_load(ctl, &a, cmd_addr_export_txn) < 0)
		return CTL_FAIL;
	if (path == NULL || strcmp(path, "-") == 0) {
		/* --json: the map as one string of a JSON object */
		if (ctl->json && (fp = open_memstream(&map, &maplen)) == NULL)
			fatal("open_memstream");
		mem = ctl->json;
	} else if ((fp = fopen(path, "w")) == NULL) {
		cmd_addr_free(&a);
		return ctl_failx("cannot write %s: %s", path,
		    strerror(errno));
	}
	fprintf(fp, "# Postfix virtual alias map written by vellumctl addr "
	    "export\n");
	/* Alias domains first: an import adds them before the routes. */
	for (i = 0; i < a.ndoms; i++) {
		fprintf(fp, "@%s\t@%s\n", a.doms[i].name, a.doms[i].alias_of);
		written++;
	}
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
	if (mem) {
		fclose(fp);
		printf("{\"lines\": %zu, \"map\": ", written);
		ctl_json_strn(stdout, map, maplen);
		printf("}\n");
		free(map);
	} else if (fp != stdout) {
		if (fclose(fp) != 0)
			return ctl_failx("cannot write %s: %s", path,
			    strerror(errno));
		if (ctl->json)
			ctl_done(ctl, "addr export: %zu lines written to %s",
			    written, path);
		else
			fprintf(stderr, "addr export: %zu lines written to "
			    "%s\n", written, path);
	}
	return CTL_OK;
}

/* Splits a logical line into words at white space and commas, in place. */
static size_t
cmd_addr_words(char *p, char **words, size_t max)
{
	size_t n = 0;

	while (*p != '\0') {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (n == max)
			return max + 1;
		words[n++] = p;
		while (*p != '\0' && !isspace((unsigned char)*p) && *p != ',')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

/*
 * Parses one logical line into e (pure: no store).  A bad line keeps its
 * message in e->error; a line that only names a domain is skipped with a
 * note on stderr, as Postfix's "domain anything" only declares a domain.
 */
static void
cmd_addr_parse_entry(const char *path, struct addr_entry *e, char *line)
{
	char *words[STORE_ROUTE_TARGETS_MAX + 2];
	char tnorm[STORE_ADDRESS_MAX + 1];
	size_t n, i;

	n = cmd_addr_words(line, words, STORE_ROUTE_TARGETS_MAX + 1);
	e->kind = ENTRY_SKIP;
	if (n == 0)
		return;
	if (n > STORE_ROUTE_TARGETS_MAX + 1) {
		e->error = xasprintf("more than %d targets",
		    STORE_ROUTE_TARGETS_MAX);
		return;
	}
	if (strchr(words[0], '@') == NULL) {
		fprintf(stderr, "%s:%u: skipped '%s': a domain line; add "
		    "domains with 'vellumctl domain add'\n", path, e->lineno,
		    words[0]);
		return;
	}
	if (n == 1) {
		e->error = xasprintf("%s has no target", words[0]);
		return;
	}
	/* "@alias.test @real.test": an alias domain, as "domain alias". */
	for (i = 1; i < n && words[0][0] == '@'; i++)
		if (words[i][0] == '@')
			break;
	if (words[0][0] == '@' && i < n) {
		if (n != 2) {
			e->error = xasprintf("%s: a domain alias line "
			    "(@alias @domain) has one target", words[0]);
			return;
		}
		if (store_domain_normalize(words[0] + 1, e->address) < 0 ||
		    store_domain_normalize(words[1] + 1, e->alias_of) < 0) {
			e->error = xstrdup(err_msg());
			return;
		}
		e->kind = ENTRY_DOMAIN_ALIAS;
		return;
	}
	if (store_address_normalize(words[0], e->address, 1) < 0) {
		e->error = xstrdup(err_msg());
		return;
	}
	e->targets = xcalloc(n, sizeof(char *));
	/* The route's own address: its user's mailbox, kept by user add. */
	for (i = 1; i < n; i++) {
		if (store_address_normalize(words[i], tnorm, 0) < 0) {
			e->error = xasprintf("%s: %s", e->address, err_msg());
			return;
		}
		if (strcmp(tnorm, e->address) == 0)
			continue;
		e->targets[e->ntargets++] = xstrdup(tnorm);
	}
	e->kind = ENTRY_ROUTE;
}

/* Whether d is among the domains --replace empties. */
static int
cmd_addr_replaced(const struct addr_import *im, const char *d)
{
	size_t i;

	if (im->replace == NULL)
		return 0;
	if (im->replace[0] != '\0')
		return strcmp(im->replace, d) == 0;
	for (i = 0; i < im->n; i++)
		if (im->e[i].kind == ENTRY_ROUTE &&
		    strcmp(strchr(im->e[i].address, '@') + 1, d) == 0)
			return 1;
	return 0;
}

/* Collects the routes of replaced domains that hold more than a mailbox. */
static int
cmd_addr_stale_one(const struct store_route *r, void *arg)
{
	struct store_txn *txn = ((void **)arg)[0];
	struct addr_import *im = ((void **)arg)[1];
	char buf[STORE_ADDRESS_MAX + 1];
	uint32_t own = 0;
	int other = 0;
	size_t i;

	if (!cmd_addr_replaced(im, strchr(r->address, '@') + 1))
		return 0;
	for (i = 0; i < r->ntargets; i++) {
		if (r->targets[i].type == STORE_TARGET_MAILBOX) {
			if (store_target_format(txn, &r->targets[i], buf,
			    sizeof(buf)) < 0)
				return -1;
			if (strcmp(buf, r->address) == 0) {
				own = r->targets[i].user_id;
				continue;
			}
		}
		other = 1;
	}
	if (!other)
		return 0;
	im->stale = xreallocarray(im->stale, im->nstale + 1,
	    sizeof(*im->stale));
	snprintf(im->stale[im->nstale].address,
	    sizeof(im->stale[0].address), "%s", r->address);
	im->stale[im->nstale++].own = own;
	return 0;
}

/*
 * --replace: every route of the replaced domains loses what is not its
 * own user's mailbox (which "user add" made and export leaves out), so
 * that after the file's routes are added the domain has exactly those.
 */
static int
cmd_addr_replace(struct store_txn *txn, struct addr_import *im)
{
	struct store_domain d;
	void *pair[2] = { txn, im };
	size_t i, j;
	int rc;

	if (im->replace[0] != '\0' &&
	    (rc = store_domain_get(txn, im->replace, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "--replace: no "
		    "domain %s", im->replace);
	free(im->stale);
	im->stale = NULL;
	im->nstale = 0;
	if (store_addr_list(txn, cmd_addr_stale_one, pair) < 0)
		return -1;
	for (i = 0; i < im->nstale; i++) {
		if (store_addr_del(txn, im->stale[i].address, NULL) < 0)
			return -1;
		if (im->stale[i].own != 0 && store_addr_add_mailbox(txn,
		    im->stale[i].address, im->stale[i].own) < 0)
			return -1;
		for (j = 0; j < im->n; j++)
			if (im->e[j].kind == ENTRY_ROUTE &&
			    strcmp(im->e[j].address,
			    im->stale[i].address) == 0)
				break;
		if (j == im->n)
			im->removed++;
	}
	return 0;
}

/* A store error on one line: kept for the report, unless it is fatal. */
static int
cmd_addr_entry_failed(struct addr_entry *e)
{
	if (err_class() == ERR_TEMP || err_class() == ERR_CORRUPT)
		return -1;
	e->error = xstrdup(err_msg());
	e->txn_error = 1;
	return 0;
}

/*
 * The whole file in one transaction: alias domains first (routes may be
 * in them), then the routes.  Every bad line is kept; any aborts it.
 */
static int
cmd_addr_import_txn(struct store_txn *txn, void *arg)
{
	struct addr_import *im = arg;
	struct store_domain d;
	struct addr_entry *e;
	size_t i, bad = 0;
	int pass, rc;

	im->routes = im->aliases = im->removed = 0;
	for (i = 0; i < im->n; i++)
		if (im->e[i].txn_error) {
			free(im->e[i].error);
			im->e[i].error = NULL;
			im->e[i].txn_error = 0;
		}
	if (im->replace != NULL && cmd_addr_replace(txn, im) < 0) {
		im->fatal = 1;
		return -1;
	}
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < im->n; i++) {
			e = &im->e[i];
			if (e->error != NULL || e->kind != (pass == 0 ?
			    ENTRY_DOMAIN_ALIAS : ENTRY_ROUTE))
				continue;
			if (pass == 0) {
				if ((rc = store_domain_get(txn, e->address,
				    &d)) == 1 &&
				    strcmp(d.alias_of, e->alias_of) == 0)
					rc = 1;	/* already */
				else if (rc != -1)
					rc = store_domain_alias(txn,
					    e->address, e->alias_of);
				if (rc == 1)
					im->aliases++;
			} else {
				if (e->ntargets == 0)
					continue;
				rc = store_addr_add(txn, e->address,
				    (const char *const *)e->targets,
				    e->ntargets);
				if (rc == 1)
					im->routes++;
			}
			if (rc < 0 && cmd_addr_entry_failed(e) < 0) {
				im->fatal = 1;
				return -1;
			}
		}
	for (i = 0; i < im->n; i++)
		if (im->e[i].error != NULL)
			bad++;
	if (bad > 0)
		return err_set(ERR_INVALID, "%zu bad lines", bad);
	return 1;
}

static void
cmd_addr_import_free(struct addr_import *im)
{
	size_t i, j;

	for (i = 0; i < im->n; i++) {
		for (j = 0; j < im->e[i].ntargets; j++)
			free(im->e[i].targets[j]);
		free(im->e[i].targets);
		free(im->e[i].error);
	}
	free(im->e);
	free(im->stale);
}

/* Reads the file's logical lines (continuations joined) into im->e. */
static void
cmd_addr_import_read(FILE *fp, struct addr_import *im)
{
	char *line, *hash, *logical = NULL;
	unsigned lineno = 0, start = 0;
	struct addr_entry *e;

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
			im->e = xreallocarray(im->e, im->n + 1,
			    sizeof(*im->e));
			e = &im->e[im->n++];
			memset(e, 0, sizeof(*e));
			e->lineno = start;
			cmd_addr_parse_entry(im->path, e, logical);
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
}

static int
cmd_addr_dup_cmp(const void *va, const void *vb)
{
	const struct addr_entry *a = *(const struct addr_entry *const *)va;
	const struct addr_entry *b = *(const struct addr_entry *const *)vb;
	int c = strcmp(a->address, b->address);

	if (c != 0)
		return c;
	return a->lineno < b->lineno ? -1 : a->lineno > b->lineno;
}

/*
 * An address given twice: postmap(1) warns "duplicate entry" and the
 * first line is the one Postfix uses, so the later ones are skipped with
 * a note (adding their targets too would send mail where it never went).
 */
static void
cmd_addr_import_dups(struct addr_import *im)
{
	struct addr_entry **v;
	size_t i, n = 0, first = 0;

	v = xcalloc(im->n + 1, sizeof(*v));
	for (i = 0; i < im->n; i++)
		if (im->e[i].kind == ENTRY_ROUTE && im->e[i].error == NULL)
			v[n++] = &im->e[i];
	qsort(v, n, sizeof(*v), cmd_addr_dup_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(v[i]->address, v[first]->address) != 0) {
			first = i;
			continue;
		}
		cmd_map_dup(im->path, v[i]->lineno, v[i]->address,
		    v[first]->lineno);
		v[i]->kind = ENTRY_SKIP;
	}
	free(v);
}

static int
cmd_addr_import(struct ctl *ctl, const char *path, const char *replace)
{
	struct addr_import im;
	char dom[STORE_DOMAIN_MAX + 1];
	unsigned bad = 0;
	size_t i;
	FILE *fp;
	int rc;

	memset(&im, 0, sizeof(im));
	im.path = path;
	if (replace != NULL && replace[0] != '\0') {
		if (store_domain_normalize(replace, dom) < 0)
			return ctl_fail(NULL, "addr import --replace");
		replace = dom;
	}
	im.replace = replace;
	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "r")) == NULL)
		return ctl_failx("cannot read %s: %s", path, strerror(errno));
	cmd_addr_import_read(fp, &im);
	if (fp != stdin)
		fclose(fp);
	cmd_addr_import_dups(&im);
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		cmd_addr_import_free(&im);
		return CTL_FAIL;
	}
	rc = store_write(ctl->store, cmd_addr_import_txn, &im);
	if (rc < 0 && im.fatal) {
		cmd_addr_import_free(&im);
		return ctl_fail(NULL, "addr import %s", path);
	}
	for (i = 0; i < im.n; i++)
		if (im.e[i].error != NULL) {
			fprintf(stderr, "%s:%u: %s\n", path, im.e[i].lineno,
			    im.e[i].error);
			bad++;
		}
	if (rc < 0 && bad == 0) {
		cmd_addr_import_free(&im);
		return ctl_fail(NULL, "addr import %s", path);
	}
	if (bad > 0)
		ctl_done(ctl, "addr import %s: nothing imported, %u failed",
		    path, bad);
	else if (replace != NULL)
		ctl_done(ctl, "addr import %s: %u routes added, %u domain "
		    "aliases, %u stale routes removed, 0 failed", path,
		    im.routes, im.aliases, im.removed);
	else
		ctl_done(ctl, "addr import %s: %u routes added, %u domain "
		    "aliases, 0 failed", path, im.routes, im.aliases);
	cmd_addr_import_free(&im);
	return bad > 0 ? CTL_FAIL : CTL_OK;
}
int
cmd_addr(struct ctl *ctl, int argc, char **argv)
{
	struct addr_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(ctl->verb, "resolve") == 0)
		return cmd_addr_resolve(ctl, argc, argv);
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
		struct ctl_opt opts[] = {
			{ .name = "replace", .has_arg = 1 },
			{ .name = NULL },
		};
		const char *replace;

		/*
		 * "--replace DOMAIN FILE", or "--replace FILE" (or a bare
		 * --replace last) for every domain of the file.
		 */
		if (argc > 0 && strcmp(argv[argc - 1], "--replace") == 0) {
			argc--;
			opts[0].seen = 1;
			opts[0].value = "";
		}
		if ((rc = ctl_args(ctl, argc, argv, opts, 0, 1, &n)) != 0)
			return rc;
		replace = opts[0].seen ? opts[0].value : NULL;
		if (n == 0 && replace != NULL && replace[0] != '\0') {
			argv[0] = (char *)replace;
			replace = "";
			n = 1;
		}
		if (n == 0)
			return ctl_usage(ctl, "missing argument");
		return cmd_addr_import(ctl, argv[0], replace);
	}
	if (strcmp(ctl->verb, "add") == 0)
		return cmd_addr_add(ctl, argc, argv);
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
			ctl_done(ctl, "%s: target %s removed", a.address,
			    a.target);
		else
			ctl_done(ctl, "route %s removed", a.address);
		return CTL_OK;
	}
	return ctl_usage(ctl, "unknown command 'addr %s'", ctl->verb);
}
