/* rfc822.c - see rfc822.h */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "rfc822.h"

/* A growing string. */
struct acc {
	char	*p;
	size_t	 len, cap;
};

struct lex {
	const uint8_t	*s, *e;
	struct acc	 comment;	/* the last comment skipped */
};

static void	acc_add(struct acc *, const void *, size_t);
static void	acc_take(struct acc *, struct rfc822_str *);
static int	is_atext(uint8_t);
static int	is_tchar(uint8_t);
static int	lex_skip(struct lex *);
static int	lex_quoted(struct lex *, struct acc *);
static int	lex_token(struct lex *, struct acc *, int);
static int	lex_atom(struct lex *, struct acc *, int);
static int	lex_dot_atom(struct lex *, struct acc *);
static int	lex_phrase(struct lex *, struct acc *);
static int	lex_domain(struct lex *, struct acc *);
static void	params_parse(struct lex *, struct rfc822_params *);
static int	ctype_parse(const char *, size_t, struct rfc822_ctype *, int);

static void
acc_add(struct acc *a, const void *p, size_t n)
{
	size_t want;

	if (a->p == NULL || a->cap - a->len <= n) {
		want = a->len + n + 1;
		if (want <= a->len)
			abort();	/* cannot happen: sizes of input */
		a->cap = want < 32 ? 32 : want + want / 2;
		a->p = xreallocarray(a->p, a->cap, 1);
	}
	if (n > 0)
		memcpy(a->p + a->len, p, n);
	a->len += n;
	a->p[a->len] = '\0';
}

/* Moves the string into r (an empty string stays a string). */
static void
acc_take(struct acc *a, struct rfc822_str *r)
{
	if (a->p == NULL)
		acc_add(a, "", 0);
	r->p = a->p;
	r->len = a->len;
	memset(a, 0, sizeof(*a));
}

/*
 * Character classes: RFC 5322 atext and RFC 2045 token characters, both
 * with 8-bit bytes (UTF-8 and raw mail).  A constant table: these run on
 * every byte of the structured fields at delivery.
 */
#define C_NOATEXT	0x01	/* a special of RFC 5322 */
#define C_NOTCHAR	0x02	/* a tspecial of RFC 2045 */

static const uint8_t cspecial[128] = {
	['('] = 3, [')'] = 3, ['<'] = 3, ['>'] = 3, ['@'] = 3, [','] = 3,
	[';'] = 3, [':'] = 3, ['\\'] = 3, ['"'] = 3, ['['] = 3, [']'] = 3,
	['.'] = C_NOATEXT, ['/'] = C_NOTCHAR, ['?'] = C_NOTCHAR,
	['='] = C_NOTCHAR,
};

static int
is_atext(uint8_t ch)
{
	if (ch >= 0x80)
		return 1;
	return ch > ' ' && ch != 0x7f && !(cspecial[ch] & C_NOATEXT);
}

static int
is_tchar(uint8_t ch)
{
	if (ch >= 0x80)
		return 1;
	return ch > ' ' && ch != 0x7f && !(cspecial[ch] & C_NOTCHAR);
}

/*
 * Skips white space and comments (nested, with quoted pairs), keeping
 * the last comment's text.  1 more data, 0 at the end, -1 a comment that
 * does not end.
 */
static int
lex_skip(struct lex *l)
{
	int depth;

	for (;;) {
		while (l->s < l->e && (*l->s == ' ' || *l->s == '\t' ||
		    *l->s == '\r' || *l->s == '\n'))
			l->s++;
		if (l->s == l->e)
			return 0;
		if (*l->s != '(')
			return 1;
		l->comment.len = 0;
		acc_add(&l->comment, "", 0);
		depth = 1;
		for (l->s++; l->s < l->e && depth > 0; l->s++) {
			if (*l->s == '\\' && l->s + 1 < l->e) {
				l->s++;
				acc_add(&l->comment, l->s, 1);
				continue;
			}
			if (*l->s == '(')
				depth++;
			else if (*l->s == ')') {
				if (--depth == 0)
					break;
			}
			acc_add(&l->comment, l->s, 1);
		}
		if (depth > 0)
			return -1;
		l->s++;
	}
}

/* A quoted string at l->s (on the '"'), unescaped into a. */
static int
lex_quoted(struct lex *l, struct acc *a)
{
	const uint8_t *start;

	acc_add(a, "", 0);
	for (l->s++; l->s < l->e; l->s++) {
		start = l->s;
		while (l->s < l->e && *l->s != '"' && *l->s != '\\' &&
		    *l->s != '\r' && *l->s != '\n')
			l->s++;
		acc_add(a, start, (size_t)(l->s - start));
		if (l->s == l->e)
			break;
		if (*l->s == '"') {
			l->s++;
			return lex_skip(l);
		}
		if (*l->s == '\\' && l->s + 1 < l->e) {
			l->s++;
			acc_add(a, l->s, 1);
		}
	}
	return -1;
}

/* An RFC 2045 token (1 or more chars), then CFWS. */
static int
lex_token(struct lex *l, struct acc *a, int empty_ok)
{
	const uint8_t *start = l->s;

	while (l->s < l->e && (is_tchar(*l->s) || *l->s == '.'))
		l->s++;
	if (l->s == start && !empty_ok)
		return -1;
	if (l->s > start)
		acc_add(a, start, (size_t)(l->s - start));
	return lex_skip(l);
}

/* Atext (and dots when dots), then CFWS.  An empty atom is allowed. */
static int
lex_atom(struct lex *l, struct acc *a, int dots)
{
	const uint8_t *start = l->s;

	while (l->s < l->e && (is_atext(*l->s) || (dots && *l->s == '.')))
		l->s++;
	acc_add(a, start, (size_t)(l->s - start));
	return lex_skip(l);
}

static int
lex_dot_atom(struct lex *l, struct acc *a)
{
	int r;

	if (l->s == l->e || !is_atext(*l->s))
		return -1;
	for (;;) {
		if ((r = lex_atom(l, a, 0)) <= 0)
			return r;
		if (*l->s != '.')
			return 1;
		l->s++;
		acc_add(a, ".", 1);
		if ((r = lex_skip(l)) <= 0)
			return r;
		if (!is_atext(*l->s))
			return -1;
	}
}

/* A phrase: words and dots, joined by one space. */
static int
lex_phrase(struct lex *l, struct acc *a)
{
	int r;

	acc_add(a, "", 0);
	if (l->s == l->e)
		return 0;
	if (*l->s == '.')
		return -1;
	for (;;) {
		if (*l->s == '"')
			r = lex_quoted(l, a);
		else
			r = lex_atom(l, a, 1);
		if (r <= 0)
			return r;
		if (!is_atext(*l->s) && *l->s != '"' && *l->s != '.')
			return 1;
		acc_add(a, " ", 1);
	}
}

/* "@" domain (a dot-atom or a [literal]), the '@' at l->s. */
static int
lex_domain(struct lex *l, struct acc *a)
{
	const uint8_t *start;
	int r;

	l->s++;
	if ((r = lex_skip(l)) <= 0)
		return -1;
	if (*l->s != '[')
		return lex_dot_atom(l, a);
	for (start = l->s; l->s < l->e && *l->s != ']'; l->s++) {
		if (*l->s == '\\' && l->s + 1 < l->e)
			l->s++;
	}
	if (l->s == l->e)
		return -1;
	l->s++;
	acc_add(a, start, (size_t)(l->s - start));
	return lex_skip(l);
}

/*
 * Parameters
 */

struct rawparam {
	struct acc	name, value;
	int		ext;	/* RFC 2231 "*" at the end of the name */
	long		idx;	/* continuation number, -1 none */
	size_t		baselen;
};

static int	rawparam_cmp(const void *, const void *);

static int
rawparam_cmp(const void *a, const void *b)
{
	const struct rawparam *x = *(struct rawparam *const *)a;
	const struct rawparam *y = *(struct rawparam *const *)b;
	size_t n = x->baselen < y->baselen ? x->baselen : y->baselen;
	int r = strncasecmp(x->name.p, y->name.p, n);

	if (r != 0)
		return r;
	if (x->baselen != y->baselen)
		return x->baselen < y->baselen ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * ";" name "=" value, until one does not parse.  Plain parameters come
 * first in their order, then the RFC 2231 ones joined (as Dovecot does).
 */
static void
params_parse(struct lex *l, struct rfc822_params *ps)
{
	struct rawparam *raw = NULL, **ext = NULL;
	size_t nraw = 0, next = 0, i, j, k, stars;
	struct acc name, value;
	int r;

	memset(ps, 0, sizeof(*ps));
	/*
	 * A parameter that does not parse is dropped and the scan goes on
	 * one byte further, until the next ';' (as Dovecot does).
	 */
	while (l->s < l->e && nraw < RFC822_PARAMS_MAX) {
		if (*l->s != ';') {
			l->s++;
			continue;
		}
		l->s++;
		if (lex_skip(l) <= 0)
			break;
		memset(&name, 0, sizeof(name));
		memset(&value, 0, sizeof(value));
		if (lex_token(l, &name, 1) < 0 || l->s == l->e ||
		    *l->s != '=') {
			free(name.p);
			continue;
		}
		l->s++;
		if ((r = lex_skip(l)) <= 0) {
			acc_add(&value, "", 0);
		} else if (*l->s == '"') {
			r = lex_quoted(l, &value);
		} else if (*l->s == '=') {
			/* broken mail: name==?utf-8?b?...?= */
			const uint8_t *start = l->s;

			while (l->s < l->e && *l->s != ';' && *l->s != ' ' &&
			    *l->s != '\t')
				l->s++;
			acc_add(&value, start, (size_t)(l->s - start));
			r = lex_skip(l);
		} else
			r = lex_token(l, &value, 1);
		if (r < 0) {
			free(name.p);
			free(value.p);
			continue;
		}
		if (name.p == NULL)
			acc_add(&name, "", 0);
		raw = xreallocarray(raw, nraw + 1, sizeof(*raw));
		memset(&raw[nraw], 0, sizeof(raw[0]));
		raw[nraw].name = name;
		raw[nraw].value = value;
		if (raw[nraw].value.p == NULL)
			acc_add(&raw[nraw].value, "", 0);
		nraw++;
	}
	/* the RFC 2231 ones: name*, name*N, name*N* */
	for (i = 0; i < nraw; i++) {
		char *star = memchr(raw[i].name.p, '*', raw[i].name.len);
		char *endp;

		raw[i].idx = -1;
		if (star == NULL)
			continue;
		raw[i].baselen = (size_t)(star - raw[i].name.p);
		if (star[1] == '\0') {
			raw[i].ext = 1;
		} else {
			if (star[1] < '0' || star[1] > '9')
				continue;
			raw[i].idx = strtol(star + 1, &endp, 10);
			if (*endp == '*' && endp[1] == '\0')
				raw[i].ext = 1;
			else if (*endp != '\0')
				continue;
		}
		ext = xreallocarray(ext, next + 1, sizeof(*ext));
		ext[next++] = &raw[i];
	}
	ps->v = xcalloc(nraw + 1, sizeof(*ps->v));
	for (i = 0; i < nraw; i++) {
		for (j = 0; j < next && ext[j] != &raw[i]; j++)
			;
		if (j < next)
			continue;
		acc_take(&raw[i].name, &ps->v[ps->n].name);
		acc_take(&raw[i].value, &ps->v[ps->n].value);
		ps->n++;
	}
	if (next > 0)
		qsort(ext, next, sizeof(*ext), rawparam_cmp);
	for (i = 0; i < next; i = j) {
		struct acc n = { 0 }, v = { 0 };
		long want = 0;

		stars = 0;
		for (j = i; j < next && ext[j]->baselen == ext[i]->baselen &&
		    strncasecmp(ext[j]->name.p, ext[i]->name.p,
		    ext[i]->baselen) == 0; j++)
			;
		for (k = i; k < j; k++) {
			if (ext[k]->idx >= 0 && ext[k]->idx != want)
				break;
			want++;
			stars |= ext[k]->ext;
			acc_add(&v, ext[k]->value.p, ext[k]->value.len);
			if (ext[k]->idx < 0)
				break;
		}
		acc_add(&n, ext[i]->name.p, ext[i]->baselen);
		if (stars)
			acc_add(&n, "*", 1);
		if (v.p == NULL)
			acc_add(&v, "", 0);
		acc_take(&n, &ps->v[ps->n].name);
		acc_take(&v, &ps->v[ps->n].value);
		ps->n++;
	}
	for (i = 0; i < nraw; i++) {
		free(raw[i].name.p);
		free(raw[i].value.p);
	}
	free(raw);
	free(ext);
}

static int
ctype_parse(const char *s, size_t len, struct rfc822_ctype *r, int sub)
{
	struct lex l = { (const uint8_t *)s, (const uint8_t *)s + len,
	    { 0 } };
	struct acc t = { 0 }, st = { 0 };
	size_t i;

	memset(r, 0, sizeof(*r));
	if (lex_skip(&l) <= 0 || lex_token(&l, &t, 0) < 0) {
		free(l.comment.p);
		free(t.p);
		return 0;
	}
	acc_take(&t, &r->type);
	if (sub && l.s < l.e && *l.s == '/') {
		l.s++;
		if (lex_skip(&l) > 0 && lex_token(&l, &st, 0) >= 0)
			acc_take(&st, &r->sub);
		free(st.p);
	}
	if (!sub || r->sub.p != NULL)
		params_parse(&l, &r->params);
	free(l.comment.p);
	for (i = 0; sub && i < r->params.n; i++) {
		if (r->params.v[i].name.len == 8 &&
		    strncasecmp(r->params.v[i].name.p, "boundary", 8) == 0) {
			r->boundary = r->params.v[i].value;
			break;
		}
	}
	return 1;
}

int
rfc822_ctype_parse(const char *s, size_t len, struct rfc822_ctype *r)
{
	return ctype_parse(s, len, r, 1);
}

int
rfc822_disp_parse(const char *s, size_t len, struct rfc822_ctype *r)
{
	return ctype_parse(s, len, r, 0);
}

void
rfc822_params_free(struct rfc822_params *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		free(ps->v[i].name.p);
		free(ps->v[i].value.p);
	}
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

void
rfc822_ctype_free(struct rfc822_ctype *r)
{
	free(r->type.p);
	free(r->sub.p);
	rfc822_params_free(&r->params);
	memset(r, 0, sizeof(*r));
}

void
rfc822_lang_parse(const char *s, size_t len, struct rfc822_params *ps)
{
	struct lex l = { (const uint8_t *)s, (const uint8_t *)s + len,
	    { 0 } };
	struct acc a = { 0 };
	const uint8_t *before;

	memset(ps, 0, sizeof(*ps));
	if (lex_skip(&l) <= 0)
		goto out;
	while (ps->n < RFC822_PARAMS_MAX) {
		before = l.s;
		if (lex_atom(&l, &a, 0) < 0 || l.s == before) {
			free(a.p);
			break;
		}
		ps->v = xreallocarray(ps->v, ps->n + 1, sizeof(*ps->v));
		memset(&ps->v[ps->n], 0, sizeof(ps->v[0]));
		acc_take(&a, &ps->v[ps->n].name);
		ps->n++;
		if (l.s == l.e || *l.s != ',')
			break;
		l.s++;
		if (lex_skip(&l) <= 0)
			break;
	}
out:
	free(l.comment.p);
}

int
rfc822_token_only(const char *s, size_t len, const char **tok_r,
    size_t *toklen_r)
{
	struct lex l = { (const uint8_t *)s, (const uint8_t *)s + len,
	    { 0 } };
	struct acc a = { 0 };
	const uint8_t *start;
	int r = 0;

	if (lex_skip(&l) > 0) {
		start = l.s;
		if (lex_token(&l, &a, 0) == 0) {
			*tok_r = (const char *)start;
			*toklen_r = a.len;
			r = 1;
		}
	}
	free(a.p);
	free(l.comment.p);
	return r;
}

/*
 * Addresses
 */

struct alist {
	struct rfc822_addr	*v;
	size_t			 n, cap;
	size_t			 nmbox;	/* entries that are no group marker */
	struct rfc822_addr	 cur;
	struct lex		 l;
};

static void	al_add(struct alist *);
static void	al_add_fixed(struct alist *);
static int	al_angle(struct alist *);
static int	al_name_addr(struct alist *);
static int	al_addr_spec(struct alist *);
static int	al_mailbox(struct alist *);
static int	al_group(struct alist *);
static void	str_set(struct rfc822_str *, const char *);
static void	str_free(struct rfc822_str *);

static void
str_set(struct rfc822_str *s, const char *v)
{
	free(s->p);
	s->len = strlen(v);
	s->p = xmemdup(v, s->len + 1);
}

static void
str_free(struct rfc822_str *s)
{
	free(s->p);
	s->p = NULL;
	s->len = 0;
}

static void
al_add(struct alist *al)
{
	if (al->n < RFC822_ADDR_MAX) {
		if (al->n == al->cap) {
			al->cap = al->cap == 0 ? 4 : al->cap * 2;
			al->v = xreallocarray(al->v, al->cap, sizeof(*al->v));
		}
		al->v[al->n++] = al->cur;
		al->nmbox += al->cur.domain.p != NULL;
	} else {
		str_free(&al->cur.name);
		str_free(&al->cur.route);
		str_free(&al->cur.mailbox);
		str_free(&al->cur.domain);
	}
	memset(&al->cur, 0, sizeof(al->cur));
}

static void
al_add_fixed(struct alist *al)
{
	if (al->cur.mailbox.p == NULL)
		str_set(&al->cur.mailbox, "MISSING_MAILBOX");
	if (al->cur.domain.p == NULL)
		str_set(&al->cur.domain, "MISSING_DOMAIN");
	al_add(al);
}

/* "<" [route ":"] local-part ["@" domain] ">" */
static int
al_angle(struct alist *al)
{
	struct lex *l = &al->l;
	struct acc a = { 0 };
	int r;

	l->s++;
	if ((r = lex_skip(l)) <= 0)
		return r;
	if (*l->s == '@') {
		for (;;) {
			if (a.len > 0)
				acc_add(&a, ",", 1);
			acc_add(&a, "@", 1);
			if (lex_domain(l, &a) <= 0)
				break;
			while (lex_skip(l) > 0 && *l->s == ',')
				l->s++;
			if (l->s == l->e || *l->s != '@')
				break;
		}
		if (l->s == l->e || *l->s != ':') {
			free(a.p);
			str_set(&al->cur.route, "INVALID_ROUTE");
			return -1;
		}
		acc_take(&a, &al->cur.route);
		l->s++;
		if ((r = lex_skip(l)) <= 0)
			return r;
	}
	if (*l->s == '"')
		r = lex_quoted(l, &a);
	else
		r = lex_dot_atom(l, &a);
	if (r < 0) {
		free(a.p);
		return -1;
	}
	acc_take(&a, &al->cur.mailbox);
	if (r == 0)
		return 0;
	if (*l->s == '@') {
		r = lex_domain(l, &a);
		if (r < 0) {
			free(a.p);
			return -1;
		}
		acc_take(&a, &al->cur.domain);
		if (r == 0)
			return 0;
	}
	if (*l->s != '>')
		return -1;
	l->s++;
	return lex_skip(l);
}

static int
al_name_addr(struct alist *al)
{
	struct acc a = { 0 };

	if (lex_phrase(&al->l, &a) <= 0 || *al->l.s != '<') {
		free(a.p);
		return -1;
	}
	if (a.len > 0)
		acc_take(&a, &al->cur.name);
	free(a.p);
	if (al_angle(al) < 0) {
		str_set(&al->cur.domain, "SYNTAX_ERROR");
	}
	return al->l.s != al->l.e;
}

static int
al_addr_spec(struct alist *al)
{
	struct lex *l = &al->l;
	struct acc a = { 0 };
	int r, r2;

	l->comment.len = 0;
	if (l->s < l->e && *l->s == '"')
		r = lex_quoted(l, &a);
	else
		r = lex_dot_atom(l, &a);
	if (r >= 0)
		acc_take(&a, &al->cur.mailbox);
	free(a.p);
	memset(&a, 0, sizeof(a));
	if (r != 0 && l->s < l->e && *l->s == '@') {
		r2 = lex_domain(l, &a);
		if (r2 >= 0)
			acc_take(&a, &al->cur.domain);
		free(a.p);
		if (r2 <= 0)
			r = r2;
	}
	if (l->comment.len > 0) {
		str_free(&al->cur.name);
		al->cur.name.p = xmemdup(l->comment.p, l->comment.len + 1);
		al->cur.name.len = l->comment.len;
	}
	return r;
}

static int
al_mailbox(struct alist *al)
{
	const uint8_t *start = al->l.s;
	int r;

	if ((r = al_name_addr(al)) < 0) {
		al->l.s = start;
		str_free(&al->cur.name);
		str_free(&al->cur.route);
		str_free(&al->cur.mailbox);
		str_free(&al->cur.domain);
		r = al_addr_spec(al);
	}
	al_add_fixed(al);
	return r;
}

static int
al_group(struct alist *al)
{
	struct lex *l = &al->l;
	struct acc a = { 0 };
	int r;

	if (lex_phrase(l, &a) <= 0 || *l->s != ':') {
		free(a.p);
		return -1;
	}
	l->s++;
	r = lex_skip(l);
	acc_take(&a, &al->cur.mailbox);
	al_add(al);
	if (r > 0 && *l->s != ';') {
		for (;;) {
			if (al_mailbox(al) <= 0) {
				r = -1;
				break;
			}
			if (*l->s != ',')
				break;
			l->s++;
			if (lex_skip(l) <= 0) {
				r = -1;
				break;
			}
		}
	}
	if (r >= 0) {
		if (l->s == l->e || *l->s != ';')
			r = -1;
		else {
			l->s++;
			r = lex_skip(l);
		}
	}
	al_add(al);
	return r == 0 ? 0 : 1;
}

void
rfc822_addr_parse(const char *s, size_t len, struct rfc822_addr **v_r,
    size_t *n_r)
{
	rfc822_addr_parse_n(s, len, 0, v_r, n_r);
}

void
rfc822_addr_parse_n(const char *s, size_t len, size_t want,
    struct rfc822_addr **v_r, size_t *n_r)
{
	struct alist al;
	const uint8_t *start;
	int r;

	memset(&al, 0, sizeof(al));
	al.l.s = (const uint8_t *)s;
	al.l.e = al.l.s + len;
	if (lex_skip(&al.l) > 0) {
		while (al.n < RFC822_ADDR_MAX) {
			start = al.l.s;
			if ((r = al_group(&al)) < 0) {
				al.l.s = start;
				str_free(&al.cur.mailbox);
				r = al_mailbox(&al);
			}
			if (r == 0 || (want > 0 && al.nmbox >= want))
				break;
			if (al.l.s == al.l.e || *al.l.s != ',')
				break;
			al.l.s++;
			if ((r = lex_skip(&al.l)) <= 0) {
				if (r < 0)
					al_add_fixed(&al);
				break;
			}
		}
	}
	str_free(&al.cur.name);
	str_free(&al.cur.route);
	str_free(&al.cur.mailbox);
	str_free(&al.cur.domain);
	free(al.l.comment.p);
	*v_r = al.v;
	*n_r = al.n;
}

void
rfc822_addr_free(struct rfc822_addr *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name.p);
		free(v[i].route.p);
		free(v[i].mailbox.p);
		free(v[i].domain.p);
	}
	free(v);
}

void
rfc822_msgids(const char *s, size_t len, int first_only, char **out_r,
    size_t *outlen_r)
{
	struct acc a = { 0 };
	const char *e = s + len, *lt, *gt, *p;

	acc_add(&a, "", 0);
	while (s < e && (lt = memchr(s, '<', (size_t)(e - s))) != NULL) {
		gt = memchr(lt + 1, '>', (size_t)(e - lt - 1));
		if (gt == NULL)
			break;
		s = gt + 1;
		/* a msg-id has no space, no '<', and an '@' inside */
		for (p = lt + 1; p < gt && *p != ' ' && *p != '\t' &&
		    *p != '<'; p++)
			;
		if (p < gt) {
			s = p;
			continue;
		}
		if (gt == lt + 1 || memchr(lt + 1, '@', (size_t)(gt - lt - 1))
		    == NULL)
			continue;
		if (a.len > 0)
			acc_add(&a, " ", 1);
		acc_add(&a, lt + 1, (size_t)(gt - lt - 1));
		if (first_only)
			break;
	}
	*out_r = a.p;
	*outlen_r = a.len;
}
