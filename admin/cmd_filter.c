/*
 * cmd_filter.c - vellumctl filter get|set|check|del: the maildrop filter
 * files of the store (store/filter.h), a user's or the global one.
 *
 * A file is parsed (filter/lang.h) before it is stored: one that does
 * not parse is refused with "FILE:LINE:COL: message", so what the
 * delivery runs always parses.  The bytes are stored exactly as read
 * (CRLF stays CRLF).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/lang.h"
#include "store/filter.h"

#include "ctl.h"

struct filter_args {
	const char	*who;		/* the address, or "the global filter" */
	uint32_t	 user;		/* STORE_FILTER_GLOBAL for --global */
	char		*text;
	size_t		 len;
};

static int	cmd_filter_target(struct ctl *, const char *, int,
		    struct filter_args *);
static int	cmd_filter_read(const char *, char **, size_t *);
static int	cmd_filter_get_txn(struct store_txn *, void *);
static int	cmd_filter_set_txn(struct store_txn *, void *);
static int	cmd_filter_get(struct ctl *, struct filter_args *);
static int	cmd_filter_set(struct ctl *, struct filter_args *,
		    const char *);
static int	cmd_filter_check(struct ctl *, struct filter_args *,
		    const char *);
static int	cmd_filter_del(struct ctl *, struct filter_args *);

int
filter_check_text(const char *name, const char *text, size_t len,
    char *msg, size_t size)
{
	struct filter_prog *prog = NULL;
	struct filter_error fe;
	int rc;

	memset(&fe, 0, sizeof(fe));
	rc = filter_parse(name, text, len, &prog, &fe);
	if (rc == 1) {
		filter_prog_free(&prog);
		return 1;
	}
	filter_error_format(&fe, msg, size);
	return 0;
}

/* ADDR or --global into a (the store opened, the user found). */
static int
cmd_filter_target(struct ctl *ctl, const char *addr, int global,
    struct filter_args *a)
{
	int rc;

	memset(a, 0, sizeof(a[0]));
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return -1;
	if (global) {
		a->who = "the global filter";
		a->user = STORE_FILTER_GLOBAL;
		return 0;
	}
	a->who = addr;
	if ((rc = ctl_user_find(ctl, addr, &a->user)) == 1)
		return 0;
	if (rc == 0)
		ctl_failx("no user %s", addr);
	else
		ctl_fail(NULL, "filter: looking up %s", addr);
	return -1;
}

/* The bytes of file ("-": stdin), at most STORE_FILTER_MAX. */
static int
cmd_filter_read(const char *file, char **text_r, size_t *len_r)
{
	FILE *fp = stdin;
	char *buf;
	size_t n;
	int rc;

	if (strcmp(file, "-") != 0 && (fp = fopen(file, "rb")) == NULL)
		return err_set(ERR_NOTFOUND, "%s: %s", file, strerror(errno));
	buf = xmalloc(STORE_FILTER_MAX + 2);
	n = fread(buf, 1, STORE_FILTER_MAX + 1, fp);
	rc = 0;
	if (ferror(fp))
		rc = err_set(ERR_TEMP, "%s: %s", file, strerror(errno));
	else if (n > STORE_FILTER_MAX)
		rc = err_set(ERR_INVALID, "%s: more than %d bytes", file,
		    STORE_FILTER_MAX);
	if (fp != stdin)
		fclose(fp);
	if (rc == -1) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*text_r = buf;
	*len_r = n;
	return 0;
}

static int
cmd_filter_get_txn(struct store_txn *txn, void *arg)
{
	struct filter_args *a = arg;

	free(a->text);
	a->text = NULL;
	return store_filter_get(txn, a->user, &a->text, &a->len);
}

static int
cmd_filter_set_txn(struct store_txn *txn, void *arg)
{
	struct filter_args *a = arg;

	return store_filter_set(txn, a->user, a->text, a->len);
}

static int
cmd_filter_get(struct ctl *ctl, struct filter_args *a)
{
	int rc;

	if ((rc = store_read(ctl->store, cmd_filter_get_txn, a)) < 0)
		return ctl_fail(NULL, "filter get");
	if (rc == 0)
		return ctl_failx("%s: no filter", a->who);
	if (ctl->json) {
		printf("{\"filter\": ");
		ctl_json_str(stdout, a->user == STORE_FILTER_GLOBAL ?
		    "global" : a->who);
		printf(", \"bytes\": %zu, \"text\": ", a->len);
		ctl_json_strn(stdout, a->text, a->len);
		printf("}\n");
	} else
		fwrite(a->text, 1, a->len, stdout);
	free(a->text);
	return CTL_OK;
}

static int
cmd_filter_set(struct ctl *ctl, struct filter_args *a, const char *file)
{
	char msg[FILTER_ERROR_MAX + 600];
	int rc;

	if (cmd_filter_read(file, &a->text, &a->len) == -1)
		return ctl_fail(NULL, "filter set");
	if (a->len == 0) {
		free(a->text);
		return ctl_failx("%s is empty (vellumctl filter del removes "
		    "a filter)", file);
	}
	if (memchr(a->text, '\0', a->len) != NULL) {
		free(a->text);
		return ctl_failx("%s holds a NUL byte: not a filter file",
		    file);
	}
	if (filter_check_text(strcmp(file, "-") == 0 ? "(stdin)" : file,
	    a->text, a->len, msg, sizeof(msg)) != 1) {
		free(a->text);
		fprintf(stderr, "%s\n", msg);
		return ctl_failx("filter set: the file does not parse; "
		    "nothing was stored");
	}
	rc = store_write(ctl->store, cmd_filter_set_txn, a);
	free(a->text);
	if (rc < 0)
		return ctl_fail(NULL, "filter set");
	if (a->user == STORE_FILTER_GLOBAL)
		ctl_done(ctl, "global filter set (%zu bytes)", a->len);
	else
		ctl_done(ctl, "filter of %s set (%zu bytes)", a->who, a->len);
	return CTL_OK;
}

static int
cmd_filter_check(struct ctl *ctl, struct filter_args *a, const char *file)
{
	char msg[FILTER_ERROR_MAX + 600];
	const char *name;
	int rc;

	if (file != NULL) {
		if (cmd_filter_read(file, &a->text, &a->len) == -1)
			return ctl_fail(NULL, "filter check");
		name = strcmp(file, "-") == 0 ? "(stdin)" : file;
	} else {
		if ((rc = store_read(ctl->store, cmd_filter_get_txn, a)) < 0)
			return ctl_fail(NULL, "filter check");
		if (rc == 0)
			return ctl_failx("%s: no filter", a->who);
		name = a->user == 0 ? "global" : a->who;
	}
	if (memchr(a->text, '\0', a->len) != NULL) {
		free(a->text);
		return ctl_failx("%s holds a NUL byte: not a filter file",
		    name);
	}
	rc = filter_check_text(name, a->text, a->len, msg, sizeof(msg));
	free(a->text);
	if (ctl->json) {
		printf("{\"filter\": ");
		ctl_json_str(stdout, name);
		printf(", \"ok\": %s, \"errors\": ", rc == 1 ? "true" :
		    "false");
		if (rc == 1)
			printf("null");
		else
			ctl_json_str(stdout, msg);
		printf("}\n");
		return rc == 1 ? CTL_OK : CTL_FAIL;
	}
	if (rc != 1) {
		printf("%s\n", msg);
		return CTL_FAIL;
	}
	printf("%s: ok\n", name);
	return CTL_OK;
}

static int
cmd_filter_del(struct ctl *ctl, struct filter_args *a)
{
	int rc;

	if ((rc = store_read(ctl->store, cmd_filter_get_txn, a)) < 0)
		return ctl_fail(NULL, "filter del");
	free(a->text);
	a->text = NULL;
	if (rc == 0)
		return ctl_failx("%s: no filter", a->who);
	a->len = 0;
	if (store_write(ctl->store, cmd_filter_set_txn, a) < 0)
		return ctl_fail(NULL, "filter del");
	if (a->user == STORE_FILTER_GLOBAL)
		ctl_done(ctl, "global filter deleted");
	else
		ctl_done(ctl, "filter of %s deleted", a->who);
	return CTL_OK;
}

int
cmd_filter(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "global", 0, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	struct filter_args a;
	int n, rc, global, min, max, set, check;

	set = strcmp(ctl->verb, "set") == 0;
	check = strcmp(ctl->verb, "check") == 0;
	if (!set && !check && strcmp(ctl->verb, "get") != 0 &&
	    strcmp(ctl->verb, "del") != 0)
		return ctl_usage(ctl, "unknown command 'filter %s'", ctl->verb);
	if ((rc = ctl_args(ctl, argc, argv, opts, 0, -1, &n)) != 0)
		return rc;
	global = ctl_opt(opts, "global")->seen;
	/* ADDR|--global, then FILE for set (and check, optional). */
	min = (global ? 0 : 1) + (set ? 1 : 0);
	max = (global ? 0 : 1) + (set || check ? 1 : 0);
	if (n < min)
		return ctl_usage(ctl, "missing argument");
	if (n > max)
		return ctl_usage(ctl, "too many arguments ('%s')", argv[max]);
	if (cmd_filter_target(ctl, global ? NULL : argv[0], global, &a) == -1)
		return CTL_FAIL;
	if (set)
		return cmd_filter_set(ctl, &a, argv[global ? 0 : 1]);
	if (check)
		return cmd_filter_check(ctl, &a, n > (global ? 0 : 1) ?
		    argv[global ? 0 : 1] : NULL);
	if (ctl->verb[0] == 'g')
		return cmd_filter_get(ctl, &a);
	return cmd_filter_del(ctl, &a);
}
