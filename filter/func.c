/*
 * func.c - the built-in functions of the filter language: hasaddr,
 * getaddr, lookup, length, substr, escape, tolower, toupper, time.
 * Lengths and positions count bytes, as maildrop does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/evalpriv.h"
#include "mail/rfc822.h"

/* The headers hasaddr() looks in. */
static const char *const addr_headers[] = {
	"To", "Cc", "Resent-To", "Resent-Cc", NULL,
};

static char	*addr_text(const struct rfc822_addr *);
static char	*unfolded(const char *, size_t);
static int	hasaddr(struct fe_state *, const struct filter_node *,
		    const struct fe_val *, struct fe_val *);
static void	getaddr(const struct fe_val *, struct fe_val *);
static int	lookup(struct fe_state *, const struct filter_node *,
		    struct fe_val *, struct fe_val *);
static void	substr(struct fe_val *, struct fe_val *, size_t);
static void	escape(const struct fe_val *, struct fe_val *);

/* "mailbox@domain" of a parsed address; NULL for a group marker. */
static char *
addr_text(const struct rfc822_addr *a)
{
	if (a->mailbox.p == NULL || a->domain.p == NULL)
		return NULL;
	if (a->domain.len == 14 && memcmp(a->domain.p, "MISSING_DOMAIN",
	    14) == 0)
		return xstrndup(a->mailbox.p, a->mailbox.len);
	return xasprintf("%.*s@%.*s", (int)a->mailbox.len, a->mailbox.p,
	    (int)a->domain.len, a->domain.p);
}

/* The value with CR, LF and TAB as spaces (rfc822.h wants it unfolded). */
static char *
unfolded(const char *p, size_t len)
{
	char *s = xstrndup(p, len);
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\t')
			s[i] = ' ';
	return s;
}

static int
hasaddr(struct fe_state *st, const struct filter_node *n,
    const struct fe_val *want, struct fe_val *out)
{
	const char *w = want->p;
	size_t wlen = want->len, i, j, k, na, hl;
	struct rfc822_addr *a;
	const struct fe_line *l;
	char *val, *text;
	int found = 0;

	while (wlen > 0 && (*w == ' ' || *w == '<')) {
		w++;
		wlen--;
	}
	while (wlen > 0 && (w[wlen - 1] == ' ' || w[wlen - 1] == '>'))
		wlen--;
	fe_msg_index(st);
	for (i = 0; i < st->msg.nhdr && !found; i++) {
		l = &st->msg.lines[i];
		for (k = 0; addr_headers[k] != NULL; k++) {
			hl = strlen(addr_headers[k]);
			if (l->len > hl && l->p[hl] == ':' &&
			    strncasecmp(l->p, addr_headers[k], hl) == 0)
				break;
		}
		if (addr_headers[k] == NULL)
			continue;
		val = unfolded(l->p + hl + 1, l->len - hl - 1);
		rfc822_addr_parse(val, strlen(val), &a, &na);
		for (j = 0; j < na && !found; j++) {
			if ((text = addr_text(&a[j])) == NULL)
				continue;
			found = strlen(text) == wlen &&
			    strncasecmp(text, w, wlen) == 0;
			free(text);
		}
		rfc822_addr_free(a, na);
		free(val);
	}
	(void)n;
	fe_val_set(out, found ? "1" : "0", 1);
	return 0;
}

static void
getaddr(const struct fe_val *in, struct fe_val *out)
{
	struct rfc822_addr *a;
	size_t na, j, len;
	char *val, *text;

	val = unfolded(in->p, in->len);
	rfc822_addr_parse(val, strlen(val), &a, &na);
	fe_val_set(out, "", 0);
	for (j = 0; j < na; j++) {
		if ((text = addr_text(&a[j])) == NULL)
			continue;
		len = strlen(text);
		out->p = xreallocarray(out->p, out->len + len + 2, 1);
		memcpy(out->p + out->len, text, len);
		out->len += len;
		out->p[out->len++] = '\n';
		out->p[out->len] = '\0';
		free(text);
	}
	rfc822_addr_free(a, na);
	free(val);
}

/* lookup(expr, file [, opts]): a pattern per line of the file. */
static int
lookup(struct fe_state *st, const struct filter_node *n, struct fe_val *v,
    struct fe_val *out)
{
	char *data = NULL, *line, *next, *end, where[600];
	size_t len = 0;
	unsigned lineno = 0;
	int caseless = 1, rc, found = 0;

	if (st->env->read_file == NULL)
		rc = err_set(ERR_PERM, "no files can be read");
	else
		rc = st->env->read_file(st->env->arg, v[1].p, &data, &len);
	if (rc != 1)
		return fe_error(st, n, "lookup %s: %s", v[1].p, rc == 0 ?
		    "no such file" : err_msg());
	if (n->nkids > 2 && strchr(v[2].p, 'D') != NULL)
		caseless = 0;
	end = data + len;
	for (line = data; line < end && !found; line = next) {
		lineno++;
		next = memchr(line, '\n', (size_t)(end - line));
		if (next == NULL)
			next = end;
		*next = '\0';
		if (next > line && next[-1] == '\r')
			next[-1] = '\0';
		next++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		snprintf(where, sizeof(where), "lookup %s:%u", v[1].p,
		    lineno);
		rc = fe_regex_find(st, n, where, line, caseless, v[0].p,
		    v[0].len);
		if (rc == -1) {
			free(data);
			return -1;
		}
		found = rc;
	}
	free(data);
	fe_val_set(out, found ? "1" : "0", 1);
	return 0;
}

/*
 * substr(s, start [, count]): start 0-based; clipped to the text; a
 * negative start gives "" (as maildrop).
 */
static void
substr(struct fe_val *v, struct fe_val *out, size_t nargs)
{
	double start = fe_num(v[1].p), count;
	size_t s, c;

	s = start < 0 || start >= (double)v[0].len ? v[0].len :
	    (size_t)start;
	c = v[0].len - s;
	if (nargs > 2) {
		count = fe_num(v[2].p);
		if (count <= 0)
			c = 0;
		else if (count < (double)c)
			c = (size_t)count;
	}
	fe_val_set(out, v[0].p + s, c);
}

static void
escape(const struct fe_val *in, struct fe_val *out)
{
	static const char special[] = "|!$()[]\\+*?.&;`'-~<>^{}\"";
	size_t i, n = 0;

	out->p = xmalloc(in->len * 2 + 1);
	for (i = 0; i < in->len; i++) {
		if (strchr(special, in->p[i]) != NULL)
			out->p[n++] = '\\';
		out->p[n++] = in->p[i];
	}
	out->p[n] = '\0';
	out->len = n;
}

int
fe_call(struct fe_state *st, const struct filter_node *n,
    struct fe_val *out)
{
	struct fe_val v[3];
	const char *name = n->name;
	size_t i, nargs = n->nkids;
	int rc = 0;

	if (nargs > 3)
		return fe_error(st, n, "%s(): too many arguments", name);
	for (i = 0; i < nargs; i++)
		if (fe_expr(st, n->kids[i], &v[i]) == -1) {
			while (i-- > 0)
				fe_val_free(&v[i]);
			return -1;
		}
	if (strcmp(name, "hasaddr") == 0 && nargs == 1)
		rc = hasaddr(st, n, &v[0], out);
	else if (strcmp(name, "getaddr") == 0 && nargs == 1)
		getaddr(&v[0], out);
	else if (strcmp(name, "lookup") == 0 && nargs >= 2)
		rc = lookup(st, n, v, out);
	else if (strcmp(name, "length") == 0 && nargs == 1)
		fe_val_num(out, (double)v[0].len);
	else if (strcmp(name, "substr") == 0 && nargs >= 2)
		substr(v, out, nargs);
	else if (strcmp(name, "escape") == 0 && nargs == 1)
		escape(&v[0], out);
	else if ((strcmp(name, "tolower") == 0 ||
	    strcmp(name, "toupper") == 0) && nargs == 1) {
		fe_val_set(out, v[0].p, v[0].len);
		for (i = 0; i < out->len; i++)
			if (name[2] == 'l' && out->p[i] >= 'A' &&
			    out->p[i] <= 'Z')
				out->p[i] += 'a' - 'A';
			else if (name[2] == 'u' && out->p[i] >= 'a' &&
			    out->p[i] <= 'z')
				out->p[i] -= 'a' - 'A';
	} else if (strcmp(name, "time") == 0 && nargs == 0)
		fe_val_num(out, (double)time(NULL));
	else
		rc = fe_error(st, n, "%s() with %zu arguments is not a "
		    "function", name, nargs);
	for (i = 0; i < nargs; i++)
		fe_val_free(&v[i]);
	if (rc == 0 && out->len > FILTER_VALUE_MAX) {
		fe_val_free(out);
		return fe_error(st, n, "%s(): a value longer than %d bytes",
		    name, FILTER_VALUE_MAX);
	}
	return rc;
}
