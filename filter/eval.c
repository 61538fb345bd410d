/*
 * eval.c - the evaluator's core: statements, expressions, variables,
 * exception blocks, include, and the steps limit (see eval.h).
 *
 * Statements return a flow (go on, ended, error); an error has already
 * written "FILE:LINE:COL: what" into the result when it is returned, so
 * an exception block only has to clear it to resume.  Every statement and
 * every operator evaluated spends a step: a filter that loops forever
 * stops at FILTER_STEPS_MAX with an error instead of holding a worker.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "filter/evalpriv.h"

static unsigned long	var_hash(const char *);
static struct fe_var	*var_slot(struct fe_state *, const char *);
static int	valid_envname(const char *);
static int	binary(struct fe_state *, const struct filter_node *,
		    struct fe_val *);
static int	unary(struct fe_state *, const struct filter_node *,
		    struct fe_val *);
static enum fe_flow	include(struct fe_state *,
		    const struct filter_node *);
static enum fe_flow	import(struct fe_state *,
		    const struct filter_node *);
static int	init_vars(struct fe_state *);
static int32_t	int32_of(double);
static int	set_str(struct fe_state *, const char *, const char *);

int
fe_error(struct fe_state *st, const struct filter_node *n,
    const char *fmt, ...)
{
	struct filter_result *res = st->res;
	char msg[FILTER_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n != NULL)
		snprintf(res->error, sizeof(res->error), "%s:%u:%u: %s",
		    n->file != NULL ? n->file : "filter", n->line, n->col,
		    msg);
	else
		snprintf(res->error, sizeof(res->error), "%s", msg);
	res->failed = 1;
	return -1;
}

int
fe_step(struct fe_state *st, const struct filter_node *n)
{
	if (++st->res->steps > FILTER_STEPS_MAX)
		return fe_error(st, n, "more than %d steps: the filter "
		    "does not end", FILTER_STEPS_MAX);
	return 0;
}

/* Values. */

void
fe_val_set(struct fe_val *v, const char *p, size_t len)
{
	v->p = xmalloc(len + 1);
	memcpy(v->p, p, len);
	v->p[len] = '\0';
	v->len = len;
}

void
fe_val_num(struct fe_val *v, double d)
{
	char buf[64];
	int len;

	if (d == 0)
		d = 0;		/* no "-0" */
	len = snprintf(buf, sizeof(buf), "%.15g", d);
	fe_val_set(v, buf, (size_t)len);
}

void
fe_val_free(struct fe_val *v)
{
	free(v->p);
	v->p = NULL;
	v->len = 0;
}

/*
 * The number a text starts with (white space, sign, digits, fraction,
 * exponent); 0 when it does not start with one.  Not strtod(): "inf",
 * "nan" and hexadecimal are text, as in maildrop.
 */
double
fe_num(const char *s)
{
	const char *p = s, *start;
	int digits = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	start = p;
	if (*p == '-' || *p == '+')
		p++;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits++;
		}
	}
	if (digits == 0)
		return 0;
	if (*p == 'e' || *p == 'E') {
		const char *e = p + 1;

		if (*e == '-' || *e == '+')
			e++;
		if (isdigit((unsigned char)*e)) {
			while (isdigit((unsigned char)*e))
				e++;
			p = e;
		}
	}
	{
		char buf[128];
		size_t len = (size_t)(p - start);

		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, start, len);
		buf[len] = '\0';
		return strtod(buf, NULL);
	}
}

/* A number as the 32-bit integer of | & ~ (wrapped; never UB). */
static int32_t
int32_of(double d)
{
	if (isnan(d))
		return 0;
	if (d >= 9.2e18)
		return INT32_MAX;
	if (d <= -9.2e18)
		return INT32_MIN;
	return (int32_t)(uint32_t)(uint64_t)(int64_t)d;
}

int
fe_true(const struct fe_val *v)
{
	return !(v->len == 0 || (v->len == 1 && v->p[0] == '0'));
}

/* Variables: open addressing, never removed. */

static unsigned long
var_hash(const char *s)
{
	unsigned long h = 2166136261UL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619UL;
	return h;
}

static struct fe_var *
var_slot(struct fe_state *st, const char *name)
{
	size_t i = var_hash(name) & (FE_VAR_SLOTS - 1);

	while (st->vars[i].name != NULL && strcmp(st->vars[i].name, name))
		i = (i + 1) & (FE_VAR_SLOTS - 1);
	return &st->vars[i];
}

const struct fe_val *
fe_var_get(struct fe_state *st, const char *name)
{
	struct fe_var *v = var_slot(st, name);

	return v->name != NULL ? &v->val : NULL;
}

int
fe_var_set(struct fe_state *st, const struct filter_node *n,
    const char *name, const char *p, size_t len)
{
	struct fe_var *v;
	char *old;

	if (len > FILTER_VALUE_MAX)
		return fe_error(st, n, "the value of %s is longer than %d "
		    "bytes", name, FILTER_VALUE_MAX);
	v = var_slot(st, name);
	if (v->name == NULL) {
		if (st->nvars >= FILTER_VARS_MAX)
			return fe_error(st, n, "more than %d variables "
			    "(setting %s)", FILTER_VARS_MAX, name);
		v->name = xstrdup(name);
		st->nvars++;
		v->val.p = NULL;
	}
	old = v->val.p;
	fe_val_set(&v->val, p, len);
	free(old);
	return 0;
}

int
fe_var_setnum(struct fe_state *st, const struct filter_node *n,
    const char *name, double d)
{
	struct fe_val v;
	int rc;

	fe_val_num(&v, d);
	rc = fe_var_set(st, n, name, v.p, v.len);
	fe_val_free(&v);
	return rc;
}

static int
set_str(struct fe_state *st, const char *name, const char *value)
{
	if (value == NULL)
		value = "";
	return fe_var_set(st, NULL, name, value, strlen(value));
}

static int
valid_envname(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* The environment of a program: every variable as NAME=value. */
char **
fe_envp(struct fe_state *st)
{
	char **envp;
	size_t i, n = 0;

	envp = xcalloc(st->nvars + 1, sizeof(*envp));
	for (i = 0; i < FE_VAR_SLOTS; i++) {
		const struct fe_var *v = &st->vars[i];

		if (v->name == NULL || !valid_envname(v->name))
			continue;
		envp[n++] = xasprintf("%s=%s", v->name, v->val.p);
	}
	envp[n] = NULL;
	return envp;
}

/* Expressions. */

int
fe_expr(struct fe_state *st, const struct filter_node *n,
    struct fe_val *out)
{
	const struct fe_val *v;
	struct fe_val part, cmd;
	size_t i;
	int rc;

	out->p = NULL;
	out->len = 0;
	if (fe_step(st, n) == -1)
		return -1;
	switch (n->kind) {
	case FK_TEXT:
		fe_val_set(out, n->text, n->len);
		return 0;
	case FK_VAR:
		v = fe_var_get(st, n->name);
		fe_val_set(out, v != NULL ? v->p : "", v != NULL ? v->len : 0);
		return 0;
	case FK_CONCAT:
		fe_val_set(out, "", 0);
		for (i = 0; i < n->nkids; i++) {
			if (fe_expr(st, n->kids[i], &part) == -1) {
				fe_val_free(out);
				return -1;
			}
			if (out->len + part.len > FILTER_VALUE_MAX) {
				fe_val_free(&part);
				fe_val_free(out);
				return fe_error(st, n, "a text longer than %d "
				    "bytes", FILTER_VALUE_MAX);
			}
			out->p = xreallocarray(out->p, out->len + part.len + 1,
			    1);
			memcpy(out->p + out->len, part.p, part.len + 1);
			out->len += part.len;
			fe_val_free(&part);
		}
		return 0;
	case FK_BACKTICK:
		if (fe_expr(st, n->kids[0], &cmd) == -1)
			return -1;
		rc = fe_backtick(st, n, cmd.p, out);
		fe_val_free(&cmd);
		return rc;
	case FK_PATTERN:
		return fe_pattern(st, n, out);
	case FK_MATCH:
		if (fe_expr(st, n->kids[0], &part) == -1)
			return -1;
		rc = fe_match_text(st, n->kids[1], part.p, part.len, 0, out);
		fe_val_free(&part);
		return rc;
	case FK_UNARY:
		return unary(st, n, out);
	case FK_BINARY:
		return binary(st, n, out);
	case FK_CALL:
		return fe_call(st, n, out);
	default:
		return fe_error(st, n, "not an expression (node kind %d)",
		    (int)n->kind);
	}
}

static int
unary(struct fe_state *st, const struct filter_node *n, struct fe_val *out)
{
	struct fe_val a;

	if (fe_expr(st, n->kids[0], &a) == -1)
		return -1;
	switch (n->op) {
	case FO_NOT:
		fe_val_set(out, fe_true(&a) ? "0" : "1", 1);
		break;
	case FO_BITNOT:
		fe_val_num(out, (double)~int32_of(fe_num(a.p)));
		break;
	case FO_NEG:
		fe_val_num(out, -fe_num(a.p));
		break;
	default:
		fe_val_free(&a);
		return fe_error(st, n, "unknown unary operator %d",
		    (int)n->op);
	}
	fe_val_free(&a);
	return 0;
}

static int
binary(struct fe_state *st, const struct filter_node *n, struct fe_val *out)
{
	struct fe_val a, b;
	double x, y, r;
	int c, t;

	if (fe_expr(st, n->kids[0], &a) == -1)
		return -1;
	if (n->op == FO_OR || n->op == FO_AND) {
		t = fe_true(&a);
		if ((n->op == FO_OR) == (t != 0)) {
			*out = a;
			return 0;
		}
		fe_val_free(&a);
		return fe_expr(st, n->kids[1], out);
	}
	if (n->op == FO_NMATCH) {
		c = fe_match_text(st, n->kids[1], a.p, a.len, 1, out);
		fe_val_free(&a);
		return c;
	}
	if (fe_expr(st, n->kids[1], &b) == -1) {
		fe_val_free(&a);
		return -1;
	}
	x = fe_num(a.p);
	y = fe_num(b.p);
	c = strcmp(a.p, b.p);
	t = -1;
	r = 0;
	switch (n->op) {
	case FO_LT:	t = x < y; break;
	case FO_LE:	t = x <= y; break;
	case FO_GT:	t = x > y; break;
	case FO_GE:	t = x >= y; break;
	case FO_EQ:	t = x == y; break;
	case FO_NE:	t = x != y; break;
	case FO_SLT:	t = c < 0; break;
	case FO_SLE:	t = c <= 0; break;
	case FO_SGT:	t = c > 0; break;
	case FO_SGE:	t = c >= 0; break;
	case FO_SEQ:	t = c == 0; break;
	case FO_SNE:	t = c != 0; break;
	case FO_BITOR:
		r = (double)(int32_of(x) | int32_of(y));
		break;
	case FO_BITAND:
		r = (double)(int32_of(x) & int32_of(y));
		break;
	case FO_ADD:	r = x + y; break;
	case FO_SUB:	r = x - y; break;
	case FO_MUL:	r = x * y; break;
	case FO_DIV:	r = x / y; break;	/* 1/0 is "inf", as maildrop */
	default:
		fe_val_free(&a);
		fe_val_free(&b);
		return fe_error(st, n, "unknown operator %d", (int)n->op);
	}
	fe_val_free(&a);
	fe_val_free(&b);
	if (t != -1)
		fe_val_set(out, t ? "1" : "0", 1);
	else
		fe_val_num(out, r);
	return 0;
}

/* Statements. */

enum fe_flow
fe_stmt(struct fe_state *st, const struct filter_node *n)
{
	struct filter_result *res = st->res;
	struct fe_val v;
	enum fe_flow flow;
	size_t i;
	int t;

	if (fe_step(st, n) == -1)
		return FE_ERR;
	switch (n->kind) {
	case FK_BLOCK:
		for (i = 0; i < n->nkids; i++)
			if ((flow = fe_stmt(st, n->kids[i])) != FE_NEXT)
				return flow;
		return FE_NEXT;
	case FK_ASSIGN:
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		t = fe_var_set(st, n, n->name, v.p, v.len);
		fe_val_free(&v);
		return t == -1 ? FE_ERR : FE_NEXT;
	case FK_EXPR:
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		fe_val_free(&v);
		return FE_NEXT;
	case FK_IF:
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		t = fe_true(&v);
		fe_val_free(&v);
		if (t)
			return fe_stmt(st, n->kids[1]);
		if (n->nkids > 2 && n->kids[2] != NULL)
			return fe_stmt(st, n->kids[2]);
		return FE_NEXT;
	case FK_WHILE:
		for (;;) {
			if (fe_expr(st, n->kids[0], &v) == -1)
				return FE_ERR;
			t = fe_true(&v);
			fe_val_free(&v);
			if (!t)
				return FE_NEXT;
			if ((flow = fe_stmt(st, n->kids[1])) != FE_NEXT)
				return flow;
		}
	case FK_FOREACH:
		return fe_foreach(st, n);
	case FK_TO:
	case FK_CC:
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		flow = fe_deliver(st, n, n->kind == FK_TO ? "to" : "cc", v.p,
		    n->kind == FK_TO);
		fe_val_free(&v);
		return flow;
	case FK_XFILTER:
	case FK_SYSTEM:
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		t = n->kind == FK_XFILTER ? fe_xfilter(st, n, v.p) :
		    fe_system(st, n, v.p);
		fe_val_free(&v);
		return t == -1 ? FE_ERR : FE_NEXT;
	case FK_EXCEPTION:
		flow = fe_stmt(st, n->kids[0]);
		if (flow == FE_ERR) {
			/* Resume after the block; the reason is logged. */
			if (st->env->log != NULL)
				st->env->log(st->env->arg, "", res->error);
			res->failed = 0;
			res->error[0] = '\0';
			return FE_NEXT;
		}
		return flow;
	case FK_INCLUDE:
		return include(st, n);
	case FK_EXIT:
		res->ended = 1;
		return FE_END;
	case FK_ECHO:
	case FK_LOG:
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		if (st->env->log != NULL)
			st->env->log(st->env->arg, n->kind == FK_LOG ?
			    st->logfile : "", v.p);
		fe_val_free(&v);
		return FE_NEXT;
	case FK_LOGFILE:
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		free(st->logfile);
		st->logfile = v.p;
		return FE_NEXT;
	case FK_IMPORT:
		return import(st, n);
	case FK_LOCK:
		/* The store serialises deliveries: the block just runs. */
		if (fe_expr(st, n->kids[0], &v) == -1)
			return FE_ERR;
		fe_val_free(&v);
		return fe_stmt(st, n->kids[1]);
	default:
		if (fe_expr(st, n, &v) == -1)
			return FE_ERR;
		fe_val_free(&v);
		return FE_NEXT;
	}
}

static enum fe_flow
import(struct fe_state *st, const struct filter_node *n)
{
	size_t len = strlen(n->name);
	char *const *e;

	for (e = st->env->env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, n->name, len) == 0 && (*e)[len] == '=')
			return fe_var_set(st, n, n->name, *e + len + 1,
			    strlen(*e + len + 1)) == -1 ? FE_ERR : FE_NEXT;
	/* Not in the environment: the variable is emptied. */
	return fe_var_set(st, n, n->name, "", 0) == -1 ? FE_ERR : FE_NEXT;
}

static enum fe_flow
include(struct fe_state *st, const struct filter_node *n)
{
	struct filter_prog *prog = NULL, *saved;
	struct filter_error perr;
	char msg[FILTER_ERROR_MAX + 300];
	struct fe_val path;
	char *data = NULL;
	size_t len = 0;
	enum fe_flow flow;
	int rc;

	if (fe_expr(st, n->kids[0], &path) == -1)
		return FE_ERR;
	if (st->include_depth >= FILTER_INCLUDE_DEPTH) {
		fe_error(st, n, "include %s: nested deeper than %d files",
		    path.p, FILTER_INCLUDE_DEPTH);
		fe_val_free(&path);
		return FE_ERR;
	}
	if (st->env->read_file == NULL)
		rc = err_set(ERR_PERM, "no files can be read");
	else
		rc = st->env->read_file(st->env->arg, path.p, &data, &len);
	if (rc != 1) {
		fe_error(st, n, "include %s: %s", path.p, rc == 0 ?
		    "no such file" : err_msg());
		fe_val_free(&path);
		return FE_ERR;
	}
	rc = filter_parse(path.p, data, len, &prog, &perr);
	free(data);
	if (rc != 1) {
		filter_error_format(&perr, msg, sizeof(msg));
		fe_error(st, n, "include %s: %s", path.p, msg);
		fe_val_free(&path);
		return FE_ERR;
	}
	fe_val_free(&path);
	saved = st->prog;
	st->prog = prog;
	st->include_depth++;
	flow = fe_stmt(st, prog->root);
	st->include_depth--;
	st->prog = saved;
	filter_prog_free(&prog);
	return flow;
}

/* SIZE and LINES of the current message. */
int
fe_set_size(struct fe_state *st, const struct filter_node *n)
{
	size_t i, lines = 0;

	for (i = 0; i < st->msg.len; i++)
		if (st->msg.p[i] == '\n')
			lines++;
	if (st->msg.len > 0 && st->msg.p[st->msg.len - 1] != '\n')
		lines++;
	if (fe_var_setnum(st, n, "SIZE", (double)st->msg.len) == -1)
		return -1;
	return fe_var_setnum(st, n, "LINES", (double)lines);
}

static int
init_vars(struct fe_state *st)
{
	const struct filter_env *env = st->env;

	if (set_str(st, "HOME", env->home) == -1 ||
	    set_str(st, "LOGNAME", env->logname) == -1 ||
	    set_str(st, "RECIPIENT", env->recipient) == -1 ||
	    set_str(st, "SENDER", env->sender) == -1 ||
	    set_str(st, "FROM", env->sender) == -1 ||
	    set_str(st, "EXTENSION", env->extension) == -1 ||
	    set_str(st, "HOSTNAME", env->hostname) == -1 ||
	    set_str(st, "DEFAULT", env->deflt != NULL ? env->deflt :
	    "./Maildir") == -1 ||
	    set_str(st, "PATH", env->path != NULL ? env->path :
	    "/usr/local/bin:/usr/bin:/bin") == -1)
		return -1;
	return fe_set_size(st, NULL);
}

int
filter_eval(const struct filter_prog *const *progs, size_t n,
    const struct filter_env *env, struct filter_result *res)
{
	struct fe_state st;
	enum fe_flow flow = FE_NEXT;
	const struct filter_node *last = NULL;
	size_t i;

	memset(res, 0, sizeof(*res));
	res->msgs = xcalloc(1, sizeof(*res->msgs));
	res->msglens = xcalloc(1, sizeof(*res->msglens));
	res->msgs[0] = (char *)env->msg;
	res->msglens[0] = env->msglen;
	res->nmsgs = 1;

	memset(&st, 0, sizeof(st));
	st.env = env;
	st.res = res;
	st.vars = xcalloc(FE_VAR_SLOTS, sizeof(*st.vars));
	st.logfile = xstrdup("");
	st.md = pcre2_match_data_create(FE_OVEC_PAIRS, NULL);
	st.mctx = pcre2_match_context_create(NULL);
	if (st.md == NULL || st.mctx == NULL)
		fatalx("filter: out of memory for PCRE2 match data");
	pcre2_set_match_limit(st.mctx, FILTER_MATCH_LIMIT);
	fe_msg_set(&st, env->msg, env->msglen);

	if (init_vars(&st) == -1)
		flow = FE_ERR;
	for (i = 0; i < n && flow == FE_NEXT; i++) {
		/*
		 * The evaluator owns the nodes' cache slots (lang.h); the
		 * programs are otherwise only read.
		 */
		st.prog = (struct filter_prog *)progs[i];
		last = progs[i]->root;
		flow = fe_stmt(&st, progs[i]->root);
	}
	if (flow == FE_NEXT && fe_default(&st, last) == -1)
		flow = FE_ERR;

	for (i = 0; i < FE_VAR_SLOTS; i++) {
		free(st.vars[i].name);
		free(st.vars[i].val.p);
	}
	free(st.vars);
	free(st.logfile);
	fe_msg_clear(&st.msg);
	pcre2_match_data_free(st.md);
	pcre2_match_context_free(st.mctx);
	return res->failed ? -1 : 0;
}

void
filter_result_clear(struct filter_result *res)
{
	size_t i;

	for (i = 0; i < res->nactions; i++) {
		free(res->actions[i].arg);
		free(res->actions[i].keywords);
	}
	free(res->actions);
	for (i = 1; i < res->nmsgs; i++)
		free(res->msgs[i]);
	free(res->msgs);
	free(res->msglens);
	memset(res, 0, sizeof(*res));
}
