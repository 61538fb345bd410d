/*
 * cmd_disclaimer.c - vellumctl disclaimer add|del|list|show: the
 * disclaimer rules (store/disclaimer.h) added to the mail clients send.
 *
 * The texts come from files (as an admin keeps them, and as altermime
 * reads them): checked before anything is written, errors naming the
 * file.  --except-sender and --except-recipient may be given many
 * times; ctl_args() keeps one value per option, so they are taken out of
 * argv first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "store/disclaimer.h"

#include "ctl.h"

struct disc_args {
	struct store_disclaimer	 d;
	const char		*name;
	struct store_disclaimer	*list;
	size_t			 n;
	int			 found;
};

static int	disc_excepts(int *argc, char **argv, const char *opt,
		    store_disclaimer_pat **v, size_t *n);
static char	*disc_slurp(const char *path, const char *what, size_t *len_r);
static int	disc_add_txn(struct store_txn *, void *);
static int	disc_del_txn(struct store_txn *, void *);
static int	disc_get_txn(struct store_txn *, void *);
static int	disc_list_one(const struct store_disclaimer *, void *);
static int	disc_list_txn(struct store_txn *, void *);
static void	disc_json(const struct store_disclaimer *);
static void	disc_json_pats(const store_disclaimer_pat *, size_t);
static int	cmd_disclaimer_add(struct ctl *, int, char **);
static int	cmd_disclaimer_del(struct ctl *, int, char **);
static int	cmd_disclaimer_list(struct ctl *, int, char **);
static int	cmd_disclaimer_show(struct ctl *, int, char **);

/*
 * Takes every "--OPT P" / "--OPT=P" out of argv (before "--"), each
 * pattern normalised into *v.  CTL_OK, or CTL_USAGE / CTL_FAIL printed.
 */
static int
disc_excepts(int *argc, char **argv, const char *opt,
    store_disclaimer_pat **v, size_t *n)
{
	size_t ol = strlen(opt);
	const char *val;
	int i, o = 0, end = 0;

	for (i = 0; i < *argc; i++) {
		if (!end && strcmp(argv[i], "--") == 0)
			end = 1;
		if (end || strncmp(argv[i], "--", 2) != 0 ||
		    strncmp(argv[i] + 2, opt, ol) != 0 ||
		    (argv[i][2 + ol] != '\0' && argv[i][2 + ol] != '=')) {
			argv[o++] = argv[i];
			continue;
		}
		if (argv[i][2 + ol] == '=')
			val = argv[i] + 3 + ol;
		else if (i + 1 < *argc)
			val = argv[++i];
		else
			return ctl_failx("--%s needs a pattern", opt);
		if (*n >= STORE_DISCLAIMER_EXCEPT_MAX)
			return ctl_failx("more than %d --%s", 
			    STORE_DISCLAIMER_EXCEPT_MAX, opt);
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		if (store_disclaimer_pattern_normalize(val, (*v)[*n]) == -1)
			return ctl_fail(NULL, "--%s", opt);
		if ((*v)[*n][0] == '\0')
			return ctl_failx("--%s %s: an exception for everyone "
			    "would never let the rule apply", opt, val);
		(*n)++;
	}
	*argc = o;
	return CTL_OK;
}

/* A text file, NUL-terminated; NULL when it cannot be read (printed). */
static char *
disc_slurp(const char *path, const char *what, size_t *len_r)
{
	FILE *fp;
	char *buf;
	size_t len = 0, n;

	if ((fp = fopen(path, "r")) == NULL) {
		ctl_failx("cannot read the %s file %s: %s", what, path,
		    strerror(errno));
		return NULL;
	}
	buf = xmalloc(STORE_DISCLAIMER_TEXT_MAX + 2);
	while ((n = fread(buf + len, 1, STORE_DISCLAIMER_TEXT_MAX + 1 - len,
	    fp)) > 0)
		len += n;
	if (ferror(fp)) {
		ctl_failx("cannot read the %s file %s: %s", what, path,
		    strerror(errno));
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	buf[len] = '\0';
	if (store_disclaimer_text_check(what, buf, len) == -1) {
		ctl_fail(NULL, "%s", path);
		free(buf);
		return NULL;
	}
	*len_r = len;
	return buf;
}

static int
disc_add_txn(struct store_txn *txn, void *arg)
{
	struct disc_args *a = arg;

	return store_disclaimer_put(txn, &a->d, 0);
}

static int
cmd_disclaimer_add(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ .name = "sender", .has_arg = 1 },
		{ .name = "recipient", .has_arg = 1 },
		{ .name = "not-all-local" },
		{ .name = "text", .has_arg = 1 },
		{ .name = "html", .has_arg = 1 },
		{ .name = NULL },
	};
	struct disc_args a;
	int n, rc;

	memset(&a, 0, sizeof(a));
	if ((rc = disc_excepts(&argc, argv, "except-sender",
	    &a.d.except_sender, &a.d.nexcept_sender)) != CTL_OK ||
	    (rc = disc_excepts(&argc, argv, "except-recipient",
	    &a.d.except_recipient, &a.d.nexcept_recipient)) != CTL_OK)
		goto out;
	if ((rc = ctl_args(ctl, argc, argv, opts, 1, 1, &n)) != 0)
		goto out;
	rc = CTL_FAIL;
	if (store_disclaimer_name_check(argv[0]) == -1) {
		ctl_fail(NULL, "disclaimer add");
		goto out;
	}
	snprintf(a.d.name, sizeof(a.d.name), "%s", argv[0]);
	if (!opts[3].seen) {
		rc = ctl_usage(ctl, "--text FILE is needed");
		goto out;
	}
	if (store_disclaimer_pattern_normalize(opts[0].value, a.d.sender) ==
	    -1) {
		ctl_fail(NULL, "--sender");
		goto out;
	}
	if (store_disclaimer_pattern_normalize(opts[1].value,
	    a.d.recipient) == -1) {
		ctl_fail(NULL, "--recipient");
		goto out;
	}
	a.d.not_all_local = opts[2].seen;
	if ((a.d.text = disc_slurp(opts[3].value, "text", &a.d.textlen)) ==
	    NULL)
		goto out;
	if (opts[4].seen && (a.d.html = disc_slurp(opts[4].value, "HTML",
	    &a.d.htmllen)) == NULL)
		goto out;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		goto out;
	if (store_write(ctl->store, disc_add_txn, &a) < 0) {
		ctl_fail(err_class() == ERR_EXISTS ? "'vellumctl disclaimer "
		    "del NAME' first to change it" : NULL, "disclaimer add");
		goto out;
	}
	ctl_done(ctl, "disclaimer %s: mail from %s to %s%s gets %zu bytes of "
	    "text%s", a.d.name, a.d.sender[0] != '\0' ? a.d.sender : "anyone",
	    a.d.recipient[0] != '\0' ? a.d.recipient : "anyone",
	    a.d.not_all_local ? " (not when all recipients are local)" : "",
	    a.d.textlen, a.d.html != NULL ? " and its HTML" : "");
	rc = CTL_OK;
out:
	store_disclaimer_clear(&a.d);
	return rc;
}

static int
disc_del_txn(struct store_txn *txn, void *arg)
{
	struct disc_args *a = arg;
	int rc;

	if ((rc = store_disclaimer_del(txn, a->name)) != 0)
		return rc;
	return err_set(ERR_NOTFOUND, "no disclaimer rule '%s'", a->name);
}

static int
cmd_disclaimer_del(struct ctl *ctl, int argc, char **argv)
{
	struct disc_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.name = argv[0];
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, disc_del_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl disclaimer list' shows the rules" : NULL,
		    "disclaimer del");
	ctl_done(ctl, "disclaimer %s removed", a.name);
	return CTL_OK;
}

/* The rule, copied (the list's own is cleared after this returns). */
static int
disc_list_one(const struct store_disclaimer *d, void *arg)
{
	struct disc_args *a = arg;
	struct store_disclaimer *c;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	c = &a->list[a->n++];
	*c = *d;
	c->except_sender = d->nexcept_sender > 0 ? xmemdup(d->except_sender,
	    d->nexcept_sender * sizeof(*d->except_sender)) : NULL;
	c->except_recipient = d->nexcept_recipient > 0 ?
	    xmemdup(d->except_recipient, d->nexcept_recipient *
	    sizeof(*d->except_recipient)) : NULL;
	c->text = xmemdup(d->text, d->textlen + 1);
	c->html = d->html != NULL ? xmemdup(d->html, d->htmllen + 1) : NULL;
	return 0;
}

static int
disc_list_txn(struct store_txn *txn, void *arg)
{
	struct disc_args *a = arg;
	size_t i;

	for (i = 0; i < a->n; i++)
		store_disclaimer_clear(&a->list[i]);
	a->n = 0;
	return store_disclaimer_list(txn, disc_list_one, a);
}

static void
disc_json_pats(const store_disclaimer_pat *v, size_t n)
{
	size_t i;

	printf("[");
	for (i = 0; i < n; i++) {
		printf("%s", i > 0 ? ", " : "");
		ctl_json_str(stdout, v[i]);
	}
	printf("]");
}

static void
disc_json(const struct store_disclaimer *d)
{
	printf("{\"name\": ");
	ctl_json_str(stdout, d->name);
	printf(", \"sender\": ");
	ctl_json_str(stdout, d->sender[0] != '\0' ? d->sender : "*");
	printf(", \"recipient\": ");
	ctl_json_str(stdout, d->recipient[0] != '\0' ? d->recipient : "*");
	printf(", \"except_sender\": ");
	disc_json_pats(d->except_sender, d->nexcept_sender);
	printf(", \"except_recipient\": ");
	disc_json_pats(d->except_recipient, d->nexcept_recipient);
	printf(", \"not_all_local\": %s, \"text\": ",
	    d->not_all_local ? "true" : "false");
	ctl_json_strn(stdout, d->text, d->textlen);
	printf(", \"html\": ");
	if (d->html != NULL)
		ctl_json_strn(stdout, d->html, d->htmllen);
	else
		printf("null");
	printf("}");
}

static int
cmd_disclaimer_list(struct ctl *ctl, int argc, char **argv)
{
	struct disc_args a;
	size_t i, j;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 0, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, disc_list_txn, &a) < 0)
		rc = ctl_fail(NULL, "disclaimer list");
	else if (ctl->json) {
		printf("[");
		for (i = 0; i < a.n; i++) {
			printf("%s\n  ", i > 0 ? "," : "");
			disc_json(&a.list[i]);
		}
		printf("%s]\n", a.n > 0 ? "\n" : "");
	} else
		for (i = 0; i < a.n; i++) {
			const struct store_disclaimer *d = &a.list[i];

			printf("%s\tfrom %s\tto %s", d->name,
			    d->sender[0] != '\0' ? d->sender : "*",
			    d->recipient[0] != '\0' ? d->recipient : "*");
			for (j = 0; j < d->nexcept_sender; j++)
				printf("\texcept from %s", d->except_sender[j]);
			for (j = 0; j < d->nexcept_recipient; j++)
				printf("\texcept to %s",
				    d->except_recipient[j]);
			printf("%s\n", d->not_all_local ?
			    "\tnot when all recipients are local" : "");
		}
	for (i = 0; i < a.n; i++)
		store_disclaimer_clear(&a.list[i]);
	free(a.list);
	return rc;
}

static int
disc_get_txn(struct store_txn *txn, void *arg)
{
	struct disc_args *a = arg;

	store_disclaimer_clear(&a->d);
	if ((a->found = store_disclaimer_get(txn, a->name, &a->d)) == -1)
		return -1;
	return 0;
}

static int
cmd_disclaimer_show(struct ctl *ctl, int argc, char **argv)
{
	struct disc_args a;
	size_t j;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 1, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.name = argv[0];
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, disc_get_txn, &a) < 0)
		return ctl_fail(NULL, "disclaimer show %s", a.name);
	if (!a.found)
		return ctl_failx("disclaimer show: no disclaimer rule '%s' "
		    "('vellumctl disclaimer list' shows the rules)", a.name);
	if (ctl->json) {
		disc_json(&a.d);
		printf("\n");
	} else {
		printf("name: %s\nsender: %s\nrecipient: %s\n", a.d.name,
		    a.d.sender[0] != '\0' ? a.d.sender : "*",
		    a.d.recipient[0] != '\0' ? a.d.recipient : "*");
		for (j = 0; j < a.d.nexcept_sender; j++)
			printf("except sender: %s\n", a.d.except_sender[j]);
		for (j = 0; j < a.d.nexcept_recipient; j++)
			printf("except recipient: %s\n",
			    a.d.except_recipient[j]);
		printf("not when all recipients are local: %s\n",
		    a.d.not_all_local ? "yes" : "no");
		printf("text (%zu bytes):\n", a.d.textlen);
		fwrite(a.d.text, 1, a.d.textlen, stdout);
		if (a.d.textlen > 0 && a.d.text[a.d.textlen - 1] != '\n')
			printf("\n");
		if (a.d.html != NULL) {
			printf("html (%zu bytes):\n", a.d.htmllen);
			fwrite(a.d.html, 1, a.d.htmllen, stdout);
			if (a.d.htmllen > 0 &&
			    a.d.html[a.d.htmllen - 1] != '\n')
				printf("\n");
		} else
			printf("html: none (the text, escaped, in <pre>)\n");
	}
	store_disclaimer_clear(&a.d);
	return CTL_OK;
}

int
cmd_disclaimer(struct ctl *ctl, int argc, char **argv)
{
	if (strcmp(ctl->verb, "add") == 0)
		return cmd_disclaimer_add(ctl, argc, argv);
	if (strcmp(ctl->verb, "del") == 0)
		return cmd_disclaimer_del(ctl, argc, argv);
	if (strcmp(ctl->verb, "list") == 0)
		return cmd_disclaimer_list(ctl, argc, argv);
	if (strcmp(ctl->verb, "show") == 0)
		return cmd_disclaimer_show(ctl, argc, argv);
	return ctl_usage(ctl, "unknown command 'disclaimer %s'", ctl->verb);
}
