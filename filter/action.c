/*
 * action.c - what a filter does to the message: to/cc deliveries
 * (folders, forwards, pipes, a discard), the default delivery, and the
 * programs (xfilter, backquotes, system) run through the caller's exec
 * callback, never through a shell (filter_argv_split()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/evalpriv.h"
#include "mail/maildir.h"

static int	add_action(struct fe_state *, const struct filter_node *,
		    enum filter_action_kind, const char *, size_t);
static int	run(struct fe_state *, const struct filter_node *,
		    enum filter_exec_kind, const char *, const char *,
		    struct filter_exec_result *);
static int	next_addr(const char **, const char **);
static int	forward(struct fe_state *, const struct filter_node *,
		    const char *);
static int	pipe_to(struct fe_state *, const struct filter_node *,
		    const char *);
static const char	*var_str(struct fe_state *, const char *);

static const char *
var_str(struct fe_state *st, const char *name)
{
	const struct fe_val *v = fe_var_get(st, name);

	return v != NULL ? v->p : "";
}

static int
add_action(struct fe_state *st, const struct filter_node *n,
    enum filter_action_kind kind, const char *arg, size_t len)
{
	struct filter_result *res = st->res;
	struct filter_action *a;

	if (res->nactions >= FILTER_ACTIONS_MAX)
		return fe_error(st, n, "more than %d deliveries",
		    FILTER_ACTIONS_MAX);
	res->actions = xreallocarray(res->actions, res->nactions + 1,
	    sizeof(*res->actions));
	a = &res->actions[res->nactions++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->arg = xstrndup(arg, len);
	a->flags = maildir_flags_parse(var_str(st, "FLAGS"));
	a->keywords = xstrdup(var_str(st, "KEYWORDS"));
	a->msg = res->nmsgs - 1;
	a->line = n != NULL ? n->line : 0;
	return 0;
}

/*
 * Runs cmdline split into words (no shell); 0 with *r filled when the
 * program ran (whatever its status), -1 (error set) when it could not.
 */
static int
run(struct fe_state *st, const struct filter_node *n,
    enum filter_exec_kind kind, const char *what, const char *cmdline,
    struct filter_exec_result *r)
{
	struct filter_exec ex;
	char **argv = NULL, **envp;
	size_t i;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = filter_argv_split(cmdline, &argv);
	if (rc != 1)
		return fe_error(st, n, "%s \"%s\": %s", what, cmdline,
		    err_msg());
	if (st->env->exec == NULL) {
		filter_argv_free(&argv);
		return fe_error(st, n, "%s \"%s\": programs cannot be run "
		    "here", what, cmdline);
	}
	envp = fe_envp(st);
	memset(&ex, 0, sizeof(ex));
	ex.kind = kind;
	ex.cmdline = cmdline;
	ex.argv = argv;
	ex.envp = envp;
	if (kind != FILTER_EXEC_SYSTEM) {
		ex.input = st->msg.p;
		ex.inlen = st->msg.len;
	}
	err_clear();
	rc = st->env->exec(st->env->arg, &ex, r);
	for (i = 0; envp[i] != NULL; i++)
		free(envp[i]);
	free(envp);
	filter_argv_free(&argv);
	if (rc == -1) {
		free(r->out);
		memset(r, 0, sizeof(*r));
		return fe_error(st, n, "%s \"%s\": could not run: %s", what,
		    cmdline, err_msg());
	}
	return 0;
}

/* The next address of a "!a b,c" list: 1 and [*start, *end), or 0. */
static int
next_addr(const char **p, const char **start)
{
	while (**p == ' ' || **p == '\t' || **p == ',' || **p == '\r' ||
	    **p == '\n')
		(*p)++;
	if (**p == '\0')
		return 0;
	*start = *p;
	while (**p != '\0' && **p != ' ' && **p != '\t' && **p != ',' &&
	    **p != '\r' && **p != '\n')
		(*p)++;
	return 1;
}

/* Checks the whole list first: a forward is done to all or to none. */
static int
forward(struct fe_state *st, const struct filter_node *n, const char *list)
{
	const char *p = list, *start;
	size_t count = 0;

	while (next_addr(&p, &start)) {
		if (++count > FILTER_FWD_MAX)
			return fe_error(st, n, "forward to more than %d "
			    "addresses", FILTER_FWD_MAX);
		/* Never an option of whatever sends it on. */
		if (*start == '-')
			return fe_error(st, n, "forward to \"%.*s\": an "
			    "address cannot start with '-'",
			    (int)(p - start), start);
	}
	if (count == 0)
		return fe_error(st, n, "forward \"!%s\": no address", list);
	if (st->res->nactions + count > FILTER_ACTIONS_MAX)
		return fe_error(st, n, "more than %d deliveries",
		    FILTER_ACTIONS_MAX);
	for (p = list; next_addr(&p, &start);)
		if (add_action(st, n, FILTER_ACT_FORWARD, start,
		    (size_t)(p - start)) == -1)
			return -1;
	return 0;
}

static int
pipe_to(struct fe_state *st, const struct filter_node *n, const char *cmd)
{
	struct filter_exec_result r;
	int status;

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	if (run(st, n, FILTER_EXEC_PIPE, "pipe", cmd, &r) == -1)
		return -1;
	free(r.out);
	status = r.status;
	if (fe_var_setnum(st, n, "EXITCODE", status) == -1)
		return -1;
	if (r.timed_out)
		return fe_error(st, n, "pipe \"%s\": timed out", cmd);
	if (status != 0)
		return fe_error(st, n, "pipe \"%s\": exit status %d", cmd,
		    status);
	return add_action(st, n, FILTER_ACT_PIPE, cmd, strlen(cmd));
}

enum fe_flow
fe_deliver(struct fe_state *st, const struct filter_node *n,
    const char *what, const char *mailbox, int final)
{
	char folder[FILTER_FOLDER_MAX + 1];
	int rc;

	if (strcmp(mailbox, "/dev/null") == 0)
		rc = add_action(st, n, FILTER_ACT_DISCARD, mailbox,
		    strlen(mailbox));
	else if (mailbox[0] == '!')
		rc = forward(st, n, mailbox + 1);
	else if (mailbox[0] == '|')
		rc = pipe_to(st, n, mailbox + 1);
	/*
	 * The Maildir is the caller's $DEFAULT, not the variable: a filter
	 * that sets DEFAULT=$HOME/Maildir/.Later/ delivers to "Later".
	 */
	else if (filter_folder(mailbox, var_str(st, "HOME"),
	    st->env->deflt, folder, sizeof(folder)) != 1)
		rc = fe_error(st, n, "%s \"%s\": %s", what, mailbox,
		    err_msg());
	else
		rc = add_action(st, n, FILTER_ACT_FOLDER, folder,
		    strlen(folder));
	if (rc == -1)
		return FE_ERR;
	if (final) {
		st->res->ended = 1;
		return FE_END;
	}
	return FE_NEXT;
}

/* The end of the files without `to` or `exit`: to $DEFAULT. */
int
fe_default(struct fe_state *st, const struct filter_node *n)
{
	enum fe_flow flow;
	char *mailbox = xstrdup(var_str(st, "DEFAULT"));

	flow = fe_deliver(st, n, "the default delivery to $DEFAULT", mailbox,
	    0);
	free(mailbox);
	return flow == FE_ERR ? -1 : 0;
}

int
fe_xfilter(struct fe_state *st, const struct filter_node *n,
    const char *cmd)
{
	struct filter_result *res = st->res;
	struct filter_exec_result r;
	const char *why = NULL;

	if (run(st, n, FILTER_EXEC_XFILTER, "xfilter", cmd, &r) == -1)
		return -1;
	if (fe_var_setnum(st, n, "RETURNCODE", r.status) == -1) {
		free(r.out);
		return -1;
	}
	if (r.timed_out)
		why = "timed out";
	else if (r.truncated)
		why = "its output was longer than the limit";
	else if (r.status != 0)
		why = "exit status not 0";
	else if (r.out == NULL || r.outlen == 0)
		why = "no output";
	if (why != NULL) {
		free(r.out);
		return fe_error(st, n, "xfilter \"%s\": %s (status %d)", cmd,
		    why, r.status);
	}
	if (r.outlen == st->msg.len && memcmp(r.out, st->msg.p, r.outlen) ==
	    0) {
		/*
		 * The same bytes (a filter that changed nothing): still the
		 * same message, so nothing is hashed and stored twice.
		 */
		free(r.out);
		return fe_set_size(st, n);
	}
	res->msgs = xreallocarray(res->msgs, res->nmsgs + 1,
	    sizeof(*res->msgs));
	res->msglens = xreallocarray(res->msglens, res->nmsgs + 1,
	    sizeof(*res->msglens));
	res->msgs[res->nmsgs] = r.out;
	res->msglens[res->nmsgs] = r.outlen;
	res->nmsgs++;
	fe_msg_set(st, r.out, r.outlen);
	return fe_set_size(st, n);
}

int
fe_system(struct fe_state *st, const struct filter_node *n, const char *cmd)
{
	struct filter_exec_result r;

	if (run(st, n, FILTER_EXEC_SYSTEM, "system", cmd, &r) == -1)
		return -1;
	free(r.out);
	return fe_var_setnum(st, n, "RETURNCODE", r.status);
}

int
fe_backtick(struct fe_state *st, const struct filter_node *n,
    const char *cmd, struct fe_val *out)
{
	struct filter_exec_result r;
	size_t i, start, end;

	if (run(st, n, FILTER_EXEC_BACKTICK, "`...`", cmd, &r) == -1)
		return -1;
	if (fe_var_setnum(st, n, "RETURNCODE", r.status) == -1) {
		free(r.out);
		return -1;
	}
	if (r.out == NULL)
		r.outlen = 0;
	/* Newlines to spaces (and NUL, which no value holds). */
	for (i = 0; i < r.outlen; i++)
		if (r.out[i] == '\n' || r.out[i] == '\r' || r.out[i] == '\0')
			r.out[i] = ' ';
	start = 0;
	end = r.outlen;
	while (start < end && r.out[start] == ' ')
		start++;
	while (end > start && r.out[end - 1] == ' ')
		end--;
	if (end - start > FILTER_VALUE_MAX) {
		free(r.out);
		return fe_error(st, n, "`%s`: output longer than %d bytes",
		    cmd, FILTER_VALUE_MAX);
	}
	fe_val_set(out, r.out != NULL ? r.out + start : "", end - start);
	free(r.out);
	return 0;
}
