/*
 * lex.c - tokens of the maildrop filter language (lang.h), the parse
 * arena and node building.
 *
 * The parser asks for one token at a time in a mode (lex.h), because
 * what a '/' means depends on where it stands: a pattern where an operand
 * is expected, a division after one, unquoted text after `NAME=` and
 * to/cc.  Texts are turned into nodes here: a quoted or unquoted text is
 * an FK_TEXT, an FK_VAR, or an FK_CONCAT of those parts.
 */
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "filter/lex.h"

#define FCHUNK_MIN	(16 * 1024)

static size_t	eol_len(const struct fctx *, size_t);
static void	adv(struct fctx *, size_t);
static void	eat_eol(struct fctx *);
static void	skip_space(struct fctx *);
static int	is_word(unsigned char);
static int	is_name1(unsigned char);
static int	is_name(unsigned char);
static void	buf_add(struct fctx *, char, unsigned, unsigned);
static void	text_flush(struct fctx *, struct filter_node *);
static void	text_dollar(struct fctx *, struct filter_node *,
		    int *substituted);
static struct filter_node *text_end(struct fctx *, struct filter_node *,
		    unsigned, unsigned);
static void	lex_word(struct fctx *, struct lex_token *);
static void	lex_quoted(struct fctx *, struct lex_token *);
static void	lex_pattern(struct fctx *, struct lex_token *);
static void	lex_pattern_opts(struct fctx *, struct filter_node *);

void
fctx_error(struct fctx *ctx, unsigned line, unsigned col, const char *fmt,
    ...)
{
	va_list ap;

	snprintf(ctx->err->file, sizeof(ctx->err->file), "%s",
	    ctx->prog->file);
	ctx->err->line = line;
	ctx->err->col = col;
	va_start(ap, fmt);
	vsnprintf(ctx->err->msg, sizeof(ctx->err->msg), fmt, ap);
	va_end(ap);
	longjmp(ctx->jb, 1);
}

void *
fctx_alloc(struct fctx *ctx, size_t n)
{
	const size_t al = alignof(max_align_t);
	size_t hdr = (sizeof(struct fchunk) + al - 1) / al * al, size;
	struct fchunk *c = ctx->chunks;
	void *p;

	n = (n + al - 1) / al * al;
	if (c == NULL || c->size - c->used < n) {
		size = n > FCHUNK_MIN ? n : FCHUNK_MIN;
		c = xmalloc(hdr + size);
		c->used = 0;
		c->size = size;
		c->next = ctx->chunks;
		ctx->chunks = c;
	}
	p = (char *)c + hdr + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *
fctx_strndup(struct fctx *ctx, const char *s, size_t n)
{
	char *p = fctx_alloc(ctx, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
fctx_arena_free(struct fchunk **chunks)
{
	struct fchunk *c, *next;

	for (c = *chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	*chunks = NULL;
}

struct filter_node *
fctx_node(struct fctx *ctx, enum filter_kind kind, unsigned line,
    unsigned col)
{
	struct filter_node *n;

	if (ctx->nnodes >= FILTER_NODES_MAX)
		fctx_error(ctx, line, col, "more than %d syntax tree nodes",
		    FILTER_NODES_MAX);
	if (ctx->nnodes == ctx->nodes_cap) {
		ctx->nodes_cap = ctx->nodes_cap ? ctx->nodes_cap * 2 : 64;
		ctx->nodes = xreallocarray(ctx->nodes, ctx->nodes_cap,
		    sizeof(*ctx->nodes));
	}
	n = fctx_alloc(ctx, sizeof(*n));
	n->kind = kind;
	n->file = ctx->prog->file;
	n->line = line;
	n->col = col;
	n->pat_w1 = 1;
	n->pat_w2 = 1;
	ctx->nodes[ctx->nnodes++] = n;
	return n;
}

/*
 * The kids array grows by doubling inside the arena: its capacity is
 * implied by nkids (4, then the next power of two), so the node needs
 * no capacity field.
 */
void
fctx_kid(struct fctx *ctx, struct filter_node *n, struct filter_node *kid)
{
	struct filter_node **k;
	size_t cap = 0;

	if (n->nkids == 0)
		cap = 4;
	else if (n->nkids >= 4 && (n->nkids & (n->nkids - 1)) == 0)
		cap = n->nkids * 2;
	if (cap != 0) {
		k = fctx_alloc(ctx, cap * sizeof(*k));
		if (n->nkids > 0)
			memcpy(k, n->kids, n->nkids * sizeof(*k));
		n->kids = k;
	}
	n->kids[n->nkids++] = kid;
}

/* 2 for CRLF, 1 for a lone LF or CR, 0 for anything else. */
static size_t
eol_len(const struct fctx *ctx, size_t pos)
{
	if (pos >= ctx->len)
		return 0;
	if (ctx->s[pos] == '\n')
		return 1;
	if (ctx->s[pos] == '\r')
		return pos + 1 < ctx->len && ctx->s[pos + 1] == '\n' ? 2 : 1;
	return 0;
}

/* Moves over n bytes that hold no line end. */
static void
adv(struct fctx *ctx, size_t n)
{
	ctx->pos += n;
	ctx->col += (unsigned)n;
}

static void
eat_eol(struct fctx *ctx)
{
	ctx->pos += eol_len(ctx, ctx->pos);
	ctx->line++;
	ctx->col = 1;
}

/* Spaces, comments and backslash continuations (not line ends). */
static void
skip_space(struct fctx *ctx)
{
	size_t p;

	while (ctx->pos < ctx->len) {
		char c = ctx->s[ctx->pos];

		if (c == ' ' || c == '\t' || c == '\f' || c == '\v')
			adv(ctx, 1);
		else if (c == '#') {
			while (ctx->pos < ctx->len &&
			    eol_len(ctx, ctx->pos) == 0)
				adv(ctx, 1);
		} else if (c == '\\') {
			p = ctx->pos + 1;
			while (p < ctx->len && (ctx->s[p] == ' ' ||
			    ctx->s[p] == '\t'))
				p++;
			if (eol_len(ctx, p) == 0)
				return;
			adv(ctx, p - ctx->pos);
			eat_eol(ctx);
		} else
			return;
	}
}

/*
 * Unquoted text: letters, digits and _-.:/@ ('$' is handled apart), and
 * bytes from 0x80 (UTF-8 folder names: `to Mail/Été`).
 */
static int
is_word(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	    c == ':' || c == '/' || c == '@';
}

static int
is_name1(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_name(unsigned char c)
{
	return is_name1(c) || (c >= '0' && c <= '9');
}

static void
buf_add(struct fctx *ctx, char c, unsigned line, unsigned col)
{
	if (ctx->buflen == 0) {
		ctx->run_line = ctx->line;
		ctx->run_col = ctx->col;
	}
	if (ctx->buflen >= FILTER_TEXT_MAX)
		fctx_error(ctx, line, col, "text longer than %d bytes",
		    FILTER_TEXT_MAX);
	if (ctx->buflen + 1 >= ctx->bufcap) {
		ctx->bufcap = ctx->bufcap ? ctx->bufcap * 2 : 256;
		ctx->buf = xreallocarray(ctx->buf, ctx->bufcap, 1);
	}
	ctx->buf[ctx->buflen++] = c;
}

/* The literal run so far becomes an FK_TEXT part of cat. */
static void
text_flush(struct fctx *ctx, struct filter_node *cat)
{
	struct filter_node *t;

	if (ctx->buflen == 0)
		return;
	t = fctx_node(ctx, FK_TEXT, ctx->run_line, ctx->run_col);
	t->text = fctx_strndup(ctx, ctx->buf, ctx->buflen);
	t->len = ctx->buflen;
	fctx_kid(ctx, cat, t);
	ctx->buflen = 0;
}

/*
 * At a '$': $NAME and ${NAME} become FK_VAR parts of cat; a '$' not
 * followed by a letter, '_' or '{' stays literal.
 */
static void
text_dollar(struct fctx *ctx, struct filter_node *cat, int *substituted)
{
	unsigned line = ctx->line, col = ctx->col;
	struct filter_node *v;
	size_t p = ctx->pos + 1, start;
	unsigned char c = p < ctx->len ? (unsigned char)ctx->s[p] : 0;

	if (c == '{') {
		start = p + 1;
		for (p = start; p < ctx->len && ctx->s[p] != '}' &&
		    eol_len(ctx, p) == 0; p++)
			;
		if (p >= ctx->len || ctx->s[p] != '}')
			fctx_error(ctx, line, col, "unterminated '${' (expected "
			    "'}' before the end of the line)");
		if (p == start)
			fctx_error(ctx, line, col, "empty variable name "
			    "in '${}'");
	} else if (is_name1(c)) {
		start = p;
		while (p < ctx->len && is_name((unsigned char)ctx->s[p]))
			p++;
	} else {
		buf_add(ctx, '$', line, col);
		adv(ctx, 1);
		return;
	}
	if (p - start > FILTER_TEXT_MAX)
		fctx_error(ctx, line, col, "variable name longer than %d "
		    "bytes", FILTER_TEXT_MAX);
	text_flush(ctx, cat);
	v = fctx_node(ctx, FK_VAR, line, col);
	v->name = fctx_strndup(ctx, ctx->s + start, p - start);
	fctx_kid(ctx, cat, v);
	if (c == '{')
		p++;
	adv(ctx, p - ctx->pos);
	*substituted = 1;
}

/*
 * The parts gathered in cat, as one node: nothing is an empty FK_TEXT (cat
 * itself turned into one), a single part is that part (moved to where the
 * whole text starts), more stay an FK_CONCAT.
 */
static struct filter_node *
text_end(struct fctx *ctx, struct filter_node *cat, unsigned line,
    unsigned col)
{
	struct filter_node *k;

	text_flush(ctx, cat);
	if (cat->nkids == 0) {
		cat->kind = FK_TEXT;
		cat->text = fctx_strndup(ctx, "", 0);
		cat->len = 0;
		return cat;
	}
	if (cat->nkids == 1) {
		k = cat->kids[0];
		k->line = line;
		k->col = col;
		return k;
	}
	return cat;
}

static void
lex_word(struct fctx *ctx, struct lex_token *tok)
{
	struct filter_node *cat;
	int substituted = 0;
	unsigned char c;

	ctx->buflen = 0;
	cat = fctx_node(ctx, FK_CONCAT, tok->line, tok->col);
	while (ctx->pos < ctx->len) {
		c = (unsigned char)ctx->s[ctx->pos];
		if (c == '$')
			text_dollar(ctx, cat, &substituted);
		else if (is_word(c)) {
			buf_add(ctx, (char)c, tok->line, tok->col);
			adv(ctx, 1);
		} else
			break;
	}
	if (!substituted)
		tok->word = fctx_strndup(ctx, ctx->buf, ctx->buflen);
	tok->t = T_TEXT;
	tok->node = text_end(ctx, cat, tok->line, tok->col);
}

/*
 * '...', "..." and `...`: \\ and the quote lose their backslash, and in
 * "..." and `...` \$ too; $ substitutes in "..." and `...`; a backslash
 * at the end of a line continues the text on the next, without that
 * line's leading white space.  A line end inside is an error.
 */
static void
lex_quoted(struct fctx *ctx, struct lex_token *tok)
{
	char q = ctx->s[ctx->pos];
	struct filter_node *cat, *bt;
	int substituted = 0;
	unsigned char c, n;
	const char *what = q == '`' ? "command substitution" : "string";

	ctx->buflen = 0;
	cat = fctx_node(ctx, FK_CONCAT, tok->line, tok->col);
	adv(ctx, 1);
	for (;;) {
		if (ctx->pos >= ctx->len || eol_len(ctx, ctx->pos) != 0)
			fctx_error(ctx, ctx->line, ctx->col, "unterminated %s "
			    "started at %u:%u", what, tok->line, tok->col);
		c = (unsigned char)ctx->s[ctx->pos];
		if (c == (unsigned char)q) {
			adv(ctx, 1);
			break;
		}
		if (c == '\\') {
			n = ctx->pos + 1 < ctx->len ?
			    (unsigned char)ctx->s[ctx->pos + 1] : 0;
			if (eol_len(ctx, ctx->pos + 1) != 0) {
				adv(ctx, 1);
				eat_eol(ctx);
				while (ctx->pos < ctx->len &&
				    (ctx->s[ctx->pos] == ' ' ||
				    ctx->s[ctx->pos] == '\t'))
					adv(ctx, 1);
			} else if (n == '\\' || n == (unsigned char)q ||
			    (n == '$' && q != '\'')) {
				buf_add(ctx, (char)n, tok->line, tok->col);
				adv(ctx, 2);
			} else {
				buf_add(ctx, '\\', tok->line, tok->col);
				adv(ctx, 1);
			}
		} else if (c == '$' && q != '\'')
			text_dollar(ctx, cat, &substituted);
		else {
			buf_add(ctx, (char)c, tok->line, tok->col);
			adv(ctx, 1);
		}
	}
	tok->t = T_TEXT;
	tok->node = text_end(ctx, cat, tok->line, tok->col);
	tok->quoted = q != '`' && !substituted;
	if (q == '`') {
		bt = fctx_node(ctx, FK_BACKTICK, tok->line, tok->col);
		fctx_kid(ctx, bt, tok->node);
		tok->node = bt;
	}
}

/*
 * /re/:opts.  Backslashes stay with the byte they escape (the regex
 * wants them, and \/ must not end the pattern nor \$ substitute); a
 * backslash at the end of a line continues the pattern on the next.
 */
static void
lex_pattern(struct fctx *ctx, struct lex_token *tok)
{
	struct filter_node *cat, *pat, *re;
	int substituted = 0;
	unsigned char c;

	ctx->buflen = 0;
	pat = fctx_node(ctx, FK_PATTERN, tok->line, tok->col);
	cat = fctx_node(ctx, FK_CONCAT, tok->line, tok->col);
	adv(ctx, 1);
	for (;;) {
		if (ctx->pos >= ctx->len || eol_len(ctx, ctx->pos) != 0)
			fctx_error(ctx, ctx->line, ctx->col, "unterminated "
			    "pattern started at %u:%u (expected '/')",
			    tok->line, tok->col);
		c = (unsigned char)ctx->s[ctx->pos];
		if (c == '/') {
			adv(ctx, 1);
			break;
		}
		if (c == '\\') {
			if (eol_len(ctx, ctx->pos + 1) != 0) {
				adv(ctx, 1);
				eat_eol(ctx);
				continue;
			}
			buf_add(ctx, '\\', tok->line, tok->col);
			adv(ctx, 1);
			if (ctx->pos < ctx->len) {
				buf_add(ctx, ctx->s[ctx->pos], tok->line,
				    tok->col);
				adv(ctx, 1);
			}
		} else if (c == '$')
			text_dollar(ctx, cat, &substituted);
		else {
			buf_add(ctx, (char)c, tok->line, tok->col);
			adv(ctx, 1);
		}
	}
	re = text_end(ctx, cat, tok->line, tok->col + 1);
	if (re->kind == FK_VAR) {
		/* the regex is an FK_TEXT or an FK_CONCAT (lang.h) */
		cat = fctx_node(ctx, FK_CONCAT, re->line, re->col);
		fctx_kid(ctx, cat, re);
		re = cat;
	}
	fctx_kid(ctx, pat, re);
	lex_pattern_opts(ctx, pat);
	tok->t = T_PATTERN;
	tok->node = pat;
}

/* ":hbD,xxx,yyy" after a pattern (weights only after a ':'). */
static void
lex_pattern_opts(struct fctx *ctx, struct filter_node *pat)
{
	unsigned line, col, i;
	char num[64], *end;
	size_t n;
	unsigned char c;

	if (ctx->pos >= ctx->len || ctx->s[ctx->pos] != ':') {
		pat->pat_flags = FILTER_PAT_HEADER;
		return;
	}
	adv(ctx, 1);
	while (ctx->pos < ctx->len) {
		c = (unsigned char)ctx->s[ctx->pos];
		if (c == 'h')
			pat->pat_flags |= FILTER_PAT_HEADER;
		else if (c == 'b')
			pat->pat_flags |= FILTER_PAT_BODY;
		else if (c == 'D')
			pat->pat_flags |= FILTER_PAT_CASE;
		else if (is_name(c))
			fctx_error(ctx, ctx->line, ctx->col, "unknown pattern "
			    "option '%c' (expected h, b or D)", c);
		else
			break;
		adv(ctx, 1);
	}
	if (!(pat->pat_flags & (FILTER_PAT_HEADER | FILTER_PAT_BODY)))
		pat->pat_flags |= FILTER_PAT_HEADER;
	for (i = 0; i < 2; i++) {
		if (ctx->pos + 1 >= ctx->len || ctx->s[ctx->pos] != ',')
			break;
		c = (unsigned char)ctx->s[ctx->pos + 1];
		if (!(c >= '0' && c <= '9') && c != '-' && c != '+' &&
		    c != '.')
			break;
		adv(ctx, 1);
		line = ctx->line;
		col = ctx->col;
		for (n = 0; ctx->pos + n < ctx->len && n < sizeof(num) - 1;
		    n++) {
			c = (unsigned char)ctx->s[ctx->pos + n];
			if (!((c >= '0' && c <= '9') || c == '-' ||
			    c == '+' || c == '.' || c == 'e' || c == 'E'))
				break;
			num[n] = (char)c;
		}
		num[n] = '\0';
		if (i == 0)
			pat->pat_w1 = strtod(num, &end);
		else
			pat->pat_w2 = strtod(num, &end);
		if (end != num + n || n == sizeof(num) - 1 ||
		    !isfinite(i == 0 ? pat->pat_w1 : pat->pat_w2))
			fctx_error(ctx, line, col, "expected a number for the "
			    "weight of the pattern");
		adv(ctx, n);
		pat->pat_flags |= FILTER_PAT_WEIGHTED;
	}
}

void
lex_next(struct fctx *ctx, enum lex_mode mode, struct lex_token *tok)
{
	unsigned char c, n;

	skip_space(ctx);
	memset(tok, 0, sizeof(*tok));
	tok->mode = mode;
	tok->line = ctx->line;
	tok->col = ctx->col;
	tok->pos = ctx->pos;
	if (ctx->pos >= ctx->len) {
		tok->t = T_EOF;
		tok->end = ctx->pos;
		return;
	}
	c = (unsigned char)ctx->s[ctx->pos];
	n = ctx->pos + 1 < ctx->len ? (unsigned char)ctx->s[ctx->pos + 1] : 0;
	if (eol_len(ctx, ctx->pos) != 0) {
		tok->t = T_NL;
		eat_eol(ctx);
		tok->end = ctx->pos;
		return;
	}
	switch (c) {
	case ';': tok->t = T_NL; tok->semi = 1; break;
	case '(': tok->t = T_LPAREN; break;
	case ')': tok->t = T_RPAREN; break;
	case '{': tok->t = T_LBRACE; break;
	case '}': tok->t = T_RBRACE; break;
	case ',': tok->t = T_COMMA; break;
	case '+': tok->t = T_PLUS; break;
	case '*': tok->t = T_STAR; break;
	case '~': tok->t = T_TILDE; break;
	case '|':
		tok->t = n == '|' ? T_OROR : T_BAR;
		break;
	case '&':
		tok->t = n == '&' ? T_ANDAND : T_AMP;
		break;
	case '<':
		tok->t = n == '=' ? T_LE : T_LT;
		break;
	case '>':
		tok->t = n == '=' ? T_GE : T_GT;
		break;
	case '=':
		tok->t = n == '=' ? T_EQEQ : n == '~' ? T_MATCH : T_ASSIGN;
		break;
	case '!':
		tok->t = n == '=' ? T_NE : n == '~' && mode == LEX_OPERATOR ?
		    T_NMATCH : T_NOT;
		break;
	case '-':
		if (is_word(n) || n == '$') {
			lex_word(ctx, tok);
			tok->end = ctx->pos;
			return;
		}
		tok->t = T_MINUS;
		break;
	case '/':
		if (mode == LEX_MAILBOX) {
			lex_word(ctx, tok);
			tok->end = ctx->pos;
			return;
		}
		if (mode == LEX_OPERATOR || n == 0 || n == ' ' || n == '\t' ||
		    eol_len(ctx, ctx->pos + 1) != 0) {
			tok->t = T_SLASH;
			break;
		}
		lex_pattern(ctx, tok);
		tok->end = ctx->pos;
		return;
	case '\'':
	case '"':
	case '`':
		lex_quoted(ctx, tok);
		tok->end = ctx->pos;
		return;
	case '\\':
		fctx_error(ctx, ctx->line, ctx->col, "a '\\' outside quotes "
		    "must end the line (a continuation)");
	default:
		if (is_word(c) || c == '$') {
			lex_word(ctx, tok);
			tok->end = ctx->pos;
			return;
		}
		if (c >= 0x21 && c < 0x7f)
			fctx_error(ctx, ctx->line, ctx->col, "unexpected "
			    "character '%c'", c);
		fctx_error(ctx, ctx->line, ctx->col, "unexpected byte 0x%02x",
		    c);
	}
	switch (tok->t) {
	case T_OROR: case T_ANDAND: case T_LE: case T_GE: case T_EQEQ:
	case T_MATCH: case T_NE: case T_NMATCH:
		adv(ctx, 2);
		break;
	default:
		adv(ctx, 1);
	}
	tok->end = ctx->pos;
}

int
lex_assign_follows(const struct fctx *ctx)
{
	size_t p = ctx->pos;

	while (p < ctx->len && (ctx->s[p] == ' ' || ctx->s[p] == '\t'))
		p++;
	return p < ctx->len && ctx->s[p] == '=' && (p + 1 >= ctx->len ||
	    (ctx->s[p + 1] != '=' && ctx->s[p + 1] != '~'));
}

int
lex_paren_follows(const struct fctx *ctx)
{
	size_t p = ctx->pos;

	while (p < ctx->len && (ctx->s[p] == ' ' || ctx->s[p] == '\t'))
		p++;
	return p < ctx->len && ctx->s[p] == '(';
}

void
lex_describe(const struct fctx *ctx, const struct lex_token *tok, char *buf,
    size_t size)
{
	switch (tok->t) {
	case T_EOF:
		snprintf(buf, size, "the end of the file");
		break;
	case T_NL:
		snprintf(buf, size, "%s", tok->semi ? "';'" :
		    "the end of the line");
		break;
	case T_TEXT:
		if (tok->word != NULL && strlen(tok->word) <= 40)
			snprintf(buf, size, "'%s'", tok->word);
		else
			snprintf(buf, size, "a text");
		break;
	case T_PATTERN:
		snprintf(buf, size, "a pattern");
		break;
	default:
		snprintf(buf, size, "'%.*s'", (int)(tok->end - tok->pos),
		    ctx->s + tok->pos);
	}
}
