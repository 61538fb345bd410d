/*
 * parse.c - the maildrop filter language (lang.h): recursive descent
 * from the tokens of lex.c to the syntax tree.
 *
 * Statements end at a line end, ';', a '}' or an `else`; blank and
 * comment lines may stand anywhere between statements, and between an
 * if's ')', its '{', its '}' and `else`, so that K&R and Allman braces
 * both work.  Inside parentheses line ends are spaces.  Expressions
 * follow the precedence table of mailfilter(7) "Operators", lowest first:
 *	||
 *	&&
 *	< <= > >= == != lt le gt ge eq ne	(do not chain)
 *	|
 *	&
 *	+ -
 *	* /
 *	=~ /pattern/, !~ /pattern/
 *	/pattern/ ! ~ - function() (text)
 * Texts side by side (with or without spaces between) concatenate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "filter/lex.h"

struct farena {
	struct fchunk		*chunks;
	struct filter_node	**nodes;
	size_t			 nnodes;
};

const struct filter_builtin filter_builtins[] = {
	{ "escape", 1, 1 },
	{ "getaddr", 1, 1 },
	{ "hasaddr", 1, 1 },
	{ "length", 1, 1 },
	{ "lookup", 2, 3 },
	{ "substr", 2, 3 },
	{ "time", 0, 0 },
	{ "tolower", 1, 1 },
	{ "toupper", 1, 1 },
	{ NULL, 0, 0 },
};

static const char *const stmt_words[] = {
	"if", "else", "elsif", "while", "foreach", "to", "cc", "xfilter",
	"system", "exception", "include", "exit", "echo", "log", "logfile",
	"import", "flock", "dotlock", NULL,
};

static const char *const gdbm_words[] = {
	"gdbmopen", "gdbmclose", "gdbmfetch", "gdbmstore", NULL,
};

static struct lex_token *peek(struct fctx *, enum lex_mode);
static void	consume(struct fctx *);
static void	enter(struct fctx *, unsigned, unsigned);
static int	in_list(const char *const *, const char *);
static int	is_word_tok(const struct lex_token *, const char *);
static void	found(struct fctx *, const struct lex_token *, char *, size_t);
static void	check_term(struct fctx *);
static void	skip_nl(struct fctx *);
static struct filter_node *parse_stmts(struct fctx *, unsigned, unsigned,
		    int);
static struct filter_node *parse_block(struct fctx *);
static struct filter_node *parse_body(struct fctx *, const char *);
static struct filter_node *parse_statement(struct fctx *);
static struct filter_node *parse_cond(struct fctx *, const char *);
static struct filter_node *parse_if(struct fctx *, unsigned, unsigned);
static struct filter_node *parse_arg_stmt(struct fctx *,
		    enum filter_kind, const char *, const char *,
		    unsigned, unsigned, enum lex_mode);
static struct filter_node *parse_expr(struct fctx *);
static struct filter_node *parse_level(struct fctx *, size_t);
static struct filter_node *parse_cmp(struct fctx *);
static struct filter_node *parse_match(struct fctx *);
static struct filter_node *parse_unary(struct fctx *);
static struct filter_node *parse_primary(struct fctx *);
static struct filter_node *parse_call(struct fctx *,
		    const struct filter_builtin *);
static struct filter_node *binary(struct fctx *, enum filter_op,
		    struct filter_node *, struct filter_node *,
		    const struct lex_token *);
static void	concat_add(struct fctx *, struct filter_node *,
		    struct filter_node *);
static struct filter_node *concat_finish(struct fctx *,
		    struct filter_node *);
static void	check_tree_depth(struct fctx *, struct filter_node *);

/*
 * The lookahead in mode: a token lexed in another mode is lexed again
 * when its meaning depends on the mode ('/' and '!' only).  Inside
 * parentheses, line ends are skipped.
 */
static struct lex_token *
peek(struct fctx *ctx, enum lex_mode mode)
{
	char c;

	if (ctx->have_tok && ctx->tok.mode != mode && ctx->tok.t != T_EOF) {
		c = ctx->s[ctx->tok.pos];
		if (c == '/' || c == '!') {
			ctx->pos = ctx->tok.pos;
			ctx->line = ctx->tok.line;
			ctx->col = ctx->tok.col;
			ctx->have_tok = 0;
		}
	}
	for (;;) {
		if (!ctx->have_tok) {
			lex_next(ctx, mode, &ctx->tok);
			ctx->have_tok = 1;
		}
		if (ctx->tok.t != T_NL || ctx->tok.semi || ctx->paren == 0)
			return &ctx->tok;
		ctx->have_tok = 0;
	}
}

static void
consume(struct fctx *ctx)
{
	ctx->have_tok = 0;
	ctx->first_mode = 0;
}

/* One level deeper (a block, '(', a call, a unary operator). */
static void
enter(struct fctx *ctx, unsigned line, unsigned col)
{
	if (++ctx->depth > FILTER_DEPTH_MAX)
		fctx_error(ctx, line, col, "nested deeper than %d levels",
		    FILTER_DEPTH_MAX);
}

static int
in_list(const char *const *list, const char *w)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, w) == 0)
			return 1;
	return 0;
}

static int
is_word_tok(const struct lex_token *t, const char *w)
{
	return t->t == T_TEXT && t->word != NULL && strcmp(t->word, w) == 0;
}

static void
found(struct fctx *ctx, const struct lex_token *t, char *buf, size_t size)
{
	lex_describe(ctx, t, buf, size);
}

/* A simple statement ends at a line end, ';', '}', the end or `else`. */
static void
check_term(struct fctx *ctx)
{
	struct lex_token *t = peek(ctx, LEX_OPERATOR);
	char what[80];

	if (t->t == T_NL || t->t == T_EOF || t->t == T_RBRACE ||
	    is_word_tok(t, "else") || is_word_tok(t, "elsif"))
		return;
	found(ctx, t, what, sizeof(what));
	fctx_error(ctx, t->line, t->col, "expected the end of the statement "
	    "(a new line or ';'), found %s", what);
}

static void
skip_nl(struct fctx *ctx)
{
	while (peek(ctx, LEX_OPERAND)->t == T_NL)
		consume(ctx);
}

/*
 * Statements up to the '}' closing the block opened at line:col, or to
 * the end of the file when top.
 */
static struct filter_node *
parse_stmts(struct fctx *ctx, unsigned line, unsigned col, int top)
{
	struct filter_node *blk = fctx_node(ctx, FK_BLOCK, line, col);
	struct lex_token *t;

	for (;;) {
		t = peek(ctx, LEX_OPERAND);
		if (t->t == T_NL) {
			consume(ctx);
			continue;
		}
		if (t->t == T_EOF) {
			if (top)
				break;
			fctx_error(ctx, t->line, t->col, "expected '}' to close "
			    "the block opened at %u:%u", line, col);
		}
		if (t->t == T_RBRACE) {
			if (top)
				fctx_error(ctx, t->line, t->col, "'}' without "
				    "'{'");
			consume(ctx);
			break;
		}
		fctx_kid(ctx, blk, parse_statement(ctx));
	}
	return blk;
}

/* '{' statements '}' (the '{' is the lookahead). */
static struct filter_node *
parse_block(struct fctx *ctx)
{
	struct lex_token *t = peek(ctx, LEX_OPERAND);
	unsigned line = t->line, col = t->col;
	struct filter_node *blk;

	enter(ctx, line, col);
	consume(ctx);
	blk = parse_stmts(ctx, line, col, 0);
	ctx->depth--;
	return blk;
}

/* The body of if/while/foreach: a block, or one statement. */
static struct filter_node *
parse_body(struct fctx *ctx, const char *after)
{
	struct lex_token *t;
	struct filter_node *n;
	char what[80];

	skip_nl(ctx);
	t = peek(ctx, LEX_OPERAND);
	if (t->t == T_LBRACE) {
		n = parse_block(ctx);
		check_term(ctx);
		return n;
	}
	if (t->t == T_EOF || t->t == T_RBRACE || is_word_tok(t, "else") ||
	    is_word_tok(t, "elsif")) {
		found(ctx, t, what, sizeof(what));
		fctx_error(ctx, t->line, t->col, "expected '{' or a statement "
		    "after %s, found %s", after, what);
	}
	enter(ctx, t->line, t->col);
	n = parse_statement(ctx);
	ctx->depth--;
	return n;
}

/* "(" expression ")" after if/while. */
static struct filter_node *
parse_cond(struct fctx *ctx, const char *kw)
{
	struct lex_token *t = peek(ctx, LEX_OPERAND);
	struct filter_node *n;
	unsigned line, col;
	char what[80];

	if (t->t != T_LPAREN) {
		found(ctx, t, what, sizeof(what));
		fctx_error(ctx, t->line, t->col, "expected '(' after '%s', "
		    "found %s", kw, what);
	}
	line = t->line;
	col = t->col;
	enter(ctx, line, col);
	consume(ctx);
	ctx->paren++;
	n = parse_expr(ctx);
	t = peek(ctx, LEX_OPERATOR);
	if (t->t != T_RPAREN)
		fctx_error(ctx, t->line, t->col, "expected ')' to close the "
		    "condition of '%s' opened at %u:%u", kw, line, col);
	ctx->paren--;
	consume(ctx);
	ctx->depth--;
	return n;
}

/*
 * if (c) body [elsif (c) body]... [else body]: the `if` is consumed.  An
 * elsif (or `else if`) chain is read in a loop, each link an FK_IF in
 * kids[2] of the one before: a long chain costs no C stack here, and
 * check_tree_depth() bounds it for the evaluator.
 */
static struct filter_node *
parse_if(struct fctx *ctx, unsigned line, unsigned col)
{
	struct filter_node *top = NULL, *prev = NULL, *n;
	struct lex_token *t;
	char after[80];

	for (;;) {
		n = fctx_node(ctx, FK_IF, line, col);
		if (prev != NULL)
			fctx_kid(ctx, prev, n);
		else
			top = n;
		prev = n;
		fctx_kid(ctx, n, parse_cond(ctx, "if"));
		snprintf(after, sizeof(after), "the condition of 'if' at "
		    "%u:%u", line, col);
		fctx_kid(ctx, n, parse_body(ctx, after));
		skip_nl(ctx);
		t = peek(ctx, LEX_OPERAND);
		if (is_word_tok(t, "elsif")) {
			line = t->line;
			col = t->col;
			consume(ctx);
			continue;
		}
		if (!is_word_tok(t, "else"))
			return top;
		snprintf(after, sizeof(after), "'else' at %u:%u", t->line,
		    t->col);
		consume(ctx);
		skip_nl(ctx);
		t = peek(ctx, LEX_OPERAND);
		if (!is_word_tok(t, "if") || lex_assign_follows(ctx)) {
			fctx_kid(ctx, n, parse_body(ctx, after));
			return top;
		}
		line = t->line;
		col = t->col;
		consume(ctx);
	}
}

/* kw expression: to, cc, xfilter, system, include, echo, log, ... */
static struct filter_node *
parse_arg_stmt(struct fctx *ctx, enum filter_kind kind, const char *kw,
    const char *what, unsigned line, unsigned col, enum lex_mode mode)
{
	struct filter_node *n = fctx_node(ctx, kind, line, col);
	struct lex_token *t = peek(ctx, mode);
	char f[80];

	if (t->t == T_NL || t->t == T_EOF || t->t == T_RBRACE) {
		found(ctx, t, f, sizeof(f));
		fctx_error(ctx, t->line, t->col, "expected %s after '%s', "
		    "found %s", what, kw, f);
	}
	/*
	 * maildrop reads `to !a@b` as the mailbox "0" (not "a@b"): surely
	 * never meant, so it is an error here.
	 */
	if ((kind == FK_TO || kind == FK_CC) && t->t == T_NOT)
		fctx_error(ctx, t->line, t->col, "'!' before an unquoted "
		    "address is the operator 'not': write %s \"!address\" "
		    "to forward", kw);
	ctx->first_mode = mode;
	fctx_kid(ctx, n, parse_expr(ctx));
	return n;
}

static struct filter_node *
parse_statement(struct fctx *ctx)
{
	struct lex_token *t = peek(ctx, LEX_OPERAND);
	unsigned line = t->line, col = t->col;
	struct filter_node *n;
	const char *w = t->word, *name;
	char what[80];

	if (t->t == T_TEXT && (w != NULL || t->quoted) &&
	    lex_assign_follows(ctx)) {
		name = w != NULL ? w : t->node->text;
		if (name[0] == '\0')
			fctx_error(ctx, line, col, "empty variable name");
		n = fctx_node(ctx, FK_ASSIGN, line, col);
		n->name = fctx_strndup(ctx, name, strlen(name));
		consume(ctx);
		(void)peek(ctx, LEX_OPERATOR);	/* the '=' */
		consume(ctx);
		t = peek(ctx, LEX_MAILBOX);
		if (t->t == T_NL || t->t == T_EOF || t->t == T_RBRACE) {
			found(ctx, t, what, sizeof(what));
			fctx_error(ctx, t->line, t->col, "expected a value "
			    "after '%s=', found %s", n->name, what);
		}
		ctx->first_mode = LEX_MAILBOX;
		fctx_kid(ctx, n, parse_expr(ctx));
		check_term(ctx);
		return n;
	}
	if (t->t == T_TEXT && w == NULL && !t->quoted &&
	    lex_assign_follows(ctx))
		fctx_error(ctx, line, col, "expected a variable name before "
		    "'=' (a name is written without '$')");
	if (t->t == T_LBRACE)
		fctx_error(ctx, line, col, "unexpected '{' (a block follows if, "
		    "else, while, foreach, exception, flock or dotlock)");
	if (t->t != T_TEXT || w == NULL || !in_list(stmt_words, w)) {
		n = fctx_node(ctx, FK_EXPR, line, col);
		fctx_kid(ctx, n, parse_expr(ctx));
		check_term(ctx);
		return n;
	}
	consume(ctx);
	if (strcmp(w, "if") == 0)
		return parse_if(ctx, line, col);
	if (strcmp(w, "else") == 0 || strcmp(w, "elsif") == 0)
		fctx_error(ctx, line, col, "'%s' without 'if'", w);
	if (strcmp(w, "while") == 0) {
		n = fctx_node(ctx, FK_WHILE, line, col);
		fctx_kid(ctx, n, parse_cond(ctx, "while"));
		fctx_kid(ctx, n, parse_body(ctx, "the condition of 'while'"));
		return n;
	}
	if (strcmp(w, "foreach") == 0) {
		n = fctx_node(ctx, FK_FOREACH, line, col);
		t = peek(ctx, LEX_OPERAND);
		if (t->t != T_NL && t->t != T_EOF)
			fctx_kid(ctx, n, parse_expr(ctx));
		if (n->nkids == 0 || (n->kids[0]->kind != FK_PATTERN &&
		    n->kids[0]->kind != FK_MATCH))
			fctx_error(ctx, line, col, "expected /pattern/ or "
			    "(expression) =~ /pattern/ after 'foreach'");
		fctx_kid(ctx, n, parse_body(ctx, "the pattern of 'foreach'"));
		return n;
	}
	if (strcmp(w, "exception") == 0) {
		n = fctx_node(ctx, FK_EXCEPTION, line, col);
		skip_nl(ctx);
		t = peek(ctx, LEX_OPERAND);
		if (t->t != T_LBRACE) {
			found(ctx, t, what, sizeof(what));
			fctx_error(ctx, t->line, t->col, "expected '{' after "
			    "'exception', found %s", what);
		}
		fctx_kid(ctx, n, parse_block(ctx));
		check_term(ctx);
		return n;
	}
	if (strcmp(w, "flock") == 0 || strcmp(w, "dotlock") == 0) {
		n = parse_arg_stmt(ctx, FK_LOCK, w, "a file name", line, col,
		    LEX_MAILBOX);
		n->name = fctx_strndup(ctx, w, strlen(w));
		skip_nl(ctx);
		t = peek(ctx, LEX_OPERAND);
		if (t->t != T_LBRACE) {
			found(ctx, t, what, sizeof(what));
			fctx_error(ctx, t->line, t->col, "expected '{' after "
			    "the file of '%s', found %s", w, what);
		}
		fctx_kid(ctx, n, parse_block(ctx));
		check_term(ctx);
		return n;
	}
	if (strcmp(w, "exit") == 0) {
		n = fctx_node(ctx, FK_EXIT, line, col);
		check_term(ctx);
		return n;
	}
	if (strcmp(w, "import") == 0) {
		t = peek(ctx, LEX_OPERAND);
		if (t->t != T_TEXT || (t->word == NULL && !t->quoted) ||
		    (t->word != NULL ? t->word : t->node->text)[0] == '\0') {
			found(ctx, t, what, sizeof(what));
			fctx_error(ctx, t->line, t->col, "expected a variable "
			    "name after 'import', found %s", what);
		}
		n = fctx_node(ctx, FK_IMPORT, line, col);
		name = t->word != NULL ? t->word : t->node->text;
		n->name = fctx_strndup(ctx, name, strlen(name));
		consume(ctx);
		check_term(ctx);
		return n;
	}
	if (strcmp(w, "to") == 0)
		n = parse_arg_stmt(ctx, FK_TO, w, "a mailbox", line, col,
		    LEX_MAILBOX);
	else if (strcmp(w, "cc") == 0)
		n = parse_arg_stmt(ctx, FK_CC, w, "a mailbox", line, col,
		    LEX_MAILBOX);
	else if (strcmp(w, "xfilter") == 0)
		n = parse_arg_stmt(ctx, FK_XFILTER, w, "a command", line, col,
		    LEX_MAILBOX);
	else if (strcmp(w, "system") == 0)
		n = parse_arg_stmt(ctx, FK_SYSTEM, w, "a command", line, col,
		    LEX_MAILBOX);
	else if (strcmp(w, "include") == 0)
		n = parse_arg_stmt(ctx, FK_INCLUDE, w, "a file name", line,
		    col, LEX_MAILBOX);
	else if (strcmp(w, "logfile") == 0)
		n = parse_arg_stmt(ctx, FK_LOGFILE, w, "a file name", line,
		    col, LEX_MAILBOX);
	else if (strcmp(w, "echo") == 0)
		n = parse_arg_stmt(ctx, FK_ECHO, w, "a text", line, col,
		    LEX_OPERAND);
	else
		n = parse_arg_stmt(ctx, FK_LOG, w, "a text", line, col,
		    LEX_OPERAND);
	check_term(ctx);
	return n;
}

static struct filter_node *
binary(struct fctx *ctx, enum filter_op op, struct filter_node *l,
    struct filter_node *r, const struct lex_token *at)
{
	struct filter_node *n = fctx_node(ctx, FK_BINARY, at->line, at->col);

	n->op = op;
	fctx_kid(ctx, n, l);
	fctx_kid(ctx, n, r);
	return n;
}

/*
 * The left-associative binary levels of mailfilter(7)'s table, loosest
 * first.  The comparisons (which do not chain: parse_cmp()) sit at
 * LEVEL_CMP; below the last level come =~ and !~ (parse_match()).
 */
#define LEVEL_CMP	2
static const struct {
	enum lex_tok	tok[2];
	enum filter_op	op[2];
	size_t		n;
} levels[] = {
	{ { T_OROR }, { FO_OR }, 1 },
	{ { T_ANDAND }, { FO_AND }, 1 },
	{ { 0 }, { FO_NONE }, 0 },		/* LEVEL_CMP */
	{ { T_BAR }, { FO_BITOR }, 1 },
	{ { T_AMP }, { FO_BITAND }, 1 },
	{ { T_PLUS, T_MINUS }, { FO_ADD, FO_SUB }, 2 },
	{ { T_STAR, T_SLASH }, { FO_MUL, FO_DIV }, 2 },
};
#define LEVELS	(sizeof(levels) / sizeof(levels[0]))

static struct filter_node *
parse_expr(struct fctx *ctx)
{
	return parse_level(ctx, 0);
}

/* One level: operands of the next, joined left to right. */
static struct filter_node *
parse_level(struct fctx *ctx, size_t level)
{
	struct filter_node *l, *r;
	struct lex_token *t, at;
	size_t k;

	if (level == LEVEL_CMP)
		return parse_cmp(ctx);
	if (level >= LEVELS)
		return parse_match(ctx);
	l = parse_level(ctx, level + 1);
	for (;;) {
		t = peek(ctx, LEX_OPERATOR);
		for (k = 0; k < levels[level].n; k++)
			if (t->t == levels[level].tok[k])
				break;
		if (k == levels[level].n)
			return l;
		at = *t;
		consume(ctx);
		r = parse_level(ctx, level + 1);
		l = binary(ctx, levels[level].op[k], l, r, &at);
	}
}

static enum filter_op
cmp_op(const struct lex_token *t)
{
	static const struct {
		const char	*w;
		enum filter_op	 op;
	} words[] = {
		{ "lt", FO_SLT }, { "le", FO_SLE }, { "gt", FO_SGT },
		{ "ge", FO_SGE }, { "eq", FO_SEQ }, { "ne", FO_SNE },
	};
	size_t i;

	switch (t->t) {
	case T_LT: return FO_LT;
	case T_LE: return FO_LE;
	case T_GT: return FO_GT;
	case T_GE: return FO_GE;
	case T_EQEQ: return FO_EQ;
	case T_NE: return FO_NE;
	case T_TEXT:
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (is_word_tok(t, words[i].w))
				return words[i].op;
		return FO_NONE;
	default:
		return FO_NONE;
	}
}

static struct filter_node *
parse_cmp(struct fctx *ctx)
{
	struct filter_node *l = parse_level(ctx, LEVEL_CMP + 1), *r;
	struct lex_token *t, at;
	enum filter_op op;
	char what[80];

	t = peek(ctx, LEX_OPERATOR);
	if ((op = cmp_op(t)) == FO_NONE)
		return l;
	at = *t;
	consume(ctx);
	r = parse_level(ctx, LEVEL_CMP + 1);
	l = binary(ctx, op, l, r, &at);
	t = peek(ctx, LEX_OPERATOR);
	if (cmp_op(t) != FO_NONE) {
		found(ctx, t, what, sizeof(what));
		fctx_error(ctx, t->line, t->col, "comparisons do not chain: "
		    "use parentheses around the comparison before %s", what);
	}
	return l;
}

static struct filter_node *
parse_match(struct fctx *ctx)
{
	struct filter_node *l = parse_unary(ctx), *n;
	struct lex_token *t, at;
	char what[80];

	while ((t = peek(ctx, LEX_OPERATOR))->t == T_MATCH ||
	    t->t == T_NMATCH) {
		at = *t;
		consume(ctx);
		t = peek(ctx, LEX_OPERAND);
		if (t->t != T_PATTERN) {
			found(ctx, t, what, sizeof(what));
			fctx_error(ctx, t->line, t->col, "expected /pattern/ "
			    "after '%s', found %s", at.t == T_MATCH ? "=~" :
			    "!~", what);
		}
		if (at.t == T_MATCH) {
			n = fctx_node(ctx, FK_MATCH, at.line, at.col);
			fctx_kid(ctx, n, l);
			fctx_kid(ctx, n, t->node);
		} else
			n = binary(ctx, FO_NMATCH, l, t->node, &at);
		consume(ctx);
		l = n;
	}
	return l;
}

static struct filter_node *
parse_unary(struct fctx *ctx)
{
	enum lex_mode mode = ctx->first_mode ? ctx->first_mode : LEX_OPERAND;
	struct lex_token *t = peek(ctx, mode);
	struct filter_node *n;
	enum filter_op op;

	switch (t->t) {
	case T_NOT: op = FO_NOT; break;
	case T_TILDE: op = FO_BITNOT; break;
	case T_MINUS: op = FO_NEG; break;
	default:
		return parse_primary(ctx);
	}
	n = fctx_node(ctx, FK_UNARY, t->line, t->col);
	n->op = op;
	enter(ctx, t->line, t->col);
	consume(ctx);
	fctx_kid(ctx, n, parse_unary(ctx));
	ctx->depth--;
	return n;
}

/* Adds part to the FK_CONCAT cat; a concatenation's parts are taken apart. */
static void
concat_add(struct fctx *ctx, struct filter_node *cat, struct filter_node *part)
{
	size_t i;

	if (part->kind != FK_CONCAT) {
		fctx_kid(ctx, cat, part);
		return;
	}
	for (i = 0; i < part->nkids; i++)
		fctx_kid(ctx, cat, part->kids[i]);
}

/*
 * Joins each run of literals of cat into one FK_TEXT (one copy per run,
 * so that many texts side by side cost their length, not its square);
 * a single part left is the result.
 */
static struct filter_node *
concat_finish(struct fctx *ctx, struct filter_node *cat)
{
	size_t i, j, k, out = 0, len;
	struct filter_node *t;
	char *s;

	for (i = 0; i < cat->nkids; i = j) {
		len = 0;
		for (j = i; j < cat->nkids && cat->kids[j]->kind == FK_TEXT;
		    j++)
			len += cat->kids[j]->len;
		if (j - i < 2) {
			cat->kids[out++] = cat->kids[i];
			j = i + 1;
			continue;
		}
		if (len > FILTER_TEXT_MAX)
			fctx_error(ctx, cat->kids[i]->line, cat->kids[i]->col,
			    "text longer than %d bytes", FILTER_TEXT_MAX);
		t = fctx_node(ctx, FK_TEXT, cat->kids[i]->line,
		    cat->kids[i]->col);
		s = fctx_alloc(ctx, len + 1);
		for (k = i, len = 0; k < j; k++) {
			memcpy(s + len, cat->kids[k]->text, cat->kids[k]->len);
			len += cat->kids[k]->len;
		}
		s[len] = '\0';
		t->text = s;
		t->len = len;
		cat->kids[out++] = t;
	}
	cat->nkids = out;	/* cat is finished: no kid is added after */
	return cat->nkids == 1 ? cat->kids[0] : cat;
}

static struct filter_node *
parse_primary(struct fctx *ctx)
{
	enum lex_mode mode = ctx->first_mode ? ctx->first_mode : LEX_OPERAND;
	struct lex_token *t = peek(ctx, mode);
	const struct filter_builtin *b;
	struct filter_node *n, *cat;
	unsigned line = t->line, col = t->col;
	char what[80];

	if (t->t == T_PATTERN) {
		n = t->node;
		consume(ctx);
		return n;
	}
	if (t->t == T_LPAREN) {
		enter(ctx, line, col);
		consume(ctx);
		ctx->paren++;
		n = parse_expr(ctx);
		t = peek(ctx, LEX_OPERATOR);
		if (t->t != T_RPAREN)
			fctx_error(ctx, t->line, t->col, "expected ')' to "
			    "close the '(' opened at %u:%u", line, col);
		ctx->paren--;
		consume(ctx);
		ctx->depth--;
		return n;
	}
	if (t->t != T_TEXT) {
		found(ctx, t, what, sizeof(what));
		fctx_error(ctx, line, col, "expected an expression, found %s",
		    what);
	}
	if (t->word != NULL) {
		if (in_list(gdbm_words, t->word))
			fctx_error(ctx, line, col, "GDBM functions are not "
			    "supported ('%s')", t->word);
		for (b = filter_builtins; b->name != NULL; b++)
			if (strcmp(b->name, t->word) == 0)
				return parse_call(ctx, b);
		if (lex_paren_follows(ctx))
			fctx_error(ctx, line, col, "unknown function '%s'",
			    t->word);
	}
	n = t->node;
	consume(ctx);
	cat = NULL;
	for (;;) {
		t = peek(ctx, LEX_OPERATOR);
		if (t->t != T_TEXT || cmp_op(t) != FO_NONE ||
		    is_word_tok(t, "else") || is_word_tok(t, "elsif"))
			break;
		if (t->word != NULL && lex_paren_follows(ctx))
			fctx_error(ctx, t->line, t->col, "unknown function "
			    "'%s' (or a text followed by '(')", t->word);
		if (cat == NULL) {
			cat = fctx_node(ctx, FK_CONCAT, line, col);
			concat_add(ctx, cat, n);
		}
		concat_add(ctx, cat, t->node);
		consume(ctx);
	}
	return cat == NULL ? n : concat_finish(ctx, cat);
}

/* name(args), name arg (one argument), name (none): name is lookahead. */
static struct filter_node *
parse_call(struct fctx *ctx, const struct filter_builtin *b)
{
	struct lex_token *t = peek(ctx, LEX_OPERAND);
	unsigned line = t->line, col = t->col, pl, pc;
	struct filter_node *n = fctx_node(ctx, FK_CALL, line, col);
	char what[80];
	int paren;

	n->name = fctx_strndup(ctx, b->name, strlen(b->name));
	paren = lex_paren_follows(ctx);
	consume(ctx);
	enter(ctx, line, col);
	if (!paren) {
		t = peek(ctx, LEX_OPERAND);
		if (b->max_args == 0) {
			ctx->depth--;
			return n;
		}
		if (b->min_args > 1 || t->t == T_NL || t->t == T_EOF ||
		    t->t == T_RPAREN || t->t == T_RBRACE || t->t == T_COMMA) {
			found(ctx, t, what, sizeof(what));
			fctx_error(ctx, t->line, t->col, "expected '(' after "
			    "'%s', found %s", b->name, what);
		}
		fctx_kid(ctx, n, parse_unary(ctx));
		ctx->depth--;
		return n;
	}
	t = peek(ctx, LEX_OPERAND);
	pl = t->line;
	pc = t->col;
	consume(ctx);
	ctx->paren++;
	if (peek(ctx, LEX_OPERAND)->t == T_RPAREN)
		consume(ctx);
	else {
		for (;;) {
			fctx_kid(ctx, n, parse_expr(ctx));
			t = peek(ctx, LEX_OPERATOR);
			if (t->t == T_RPAREN) {
				consume(ctx);
				break;
			}
			if (t->t != T_COMMA) {
				found(ctx, t, what, sizeof(what));
				fctx_error(ctx, t->line, t->col, "expected ',' "
				    "or ')' after an argument of '%s' opened "
				    "at %u:%u, found %s", b->name, pl, pc,
				    what);
			}
			consume(ctx);
		}
	}
	ctx->paren--;
	ctx->depth--;
	if (n->nkids < b->min_args || n->nkids > b->max_args) {
		if (b->min_args == b->max_args)
			fctx_error(ctx, line, col, "'%s' takes %u argument%s, "
			    "not %zu", b->name, b->min_args,
			    b->min_args == 1 ? "" : "s", n->nkids);
		fctx_error(ctx, line, col, "'%s' takes %u to %u arguments, "
		    "not %zu", b->name, b->min_args, b->max_args, n->nkids);
	}
	return n;
}

/* No node deeper than FILTER_TREE_DEPTH_MAX (an explicit stack). */
static void
check_tree_depth(struct fctx *ctx, struct filter_node *root)
{
	struct item {
		struct filter_node	*n;
		size_t			 d;
	} *st;
	size_t sp = 0, cap = ctx->nnodes + 1, i, d;
	struct filter_node *n;

	st = fctx_alloc(ctx, cap * sizeof(*st));
	st[sp].n = root;
	st[sp++].d = 1;
	while (sp > 0) {
		sp--;
		n = st[sp].n;
		d = st[sp].d;
		if (d > FILTER_TREE_DEPTH_MAX)
			fctx_error(ctx, n->line, n->col, "the syntax tree is "
			    "deeper than %d levels (each elsif of a chain and "
			    "each operator of a chain a+b+... is one level)",
			    FILTER_TREE_DEPTH_MAX);
		for (i = 0; i < n->nkids && sp < cap; i++) {
			st[sp].n = n->kids[i];
			st[sp].d = d + 1;
			sp++;
		}
	}
}

int
filter_parse(const char *file, const char *text, size_t len,
    struct filter_prog **prog_r, struct filter_error *err)
{
	struct filter_prog *prog;
	struct farena *ar;
	struct fctx *ctx;
	const char *nul;
	size_t i;

	*prog_r = NULL;
	memset(err, 0, sizeof(*err));
	if (file == NULL)
		file = "";
	if (len > FILTER_FILE_MAX) {
		snprintf(err->file, sizeof(err->file), "%s", file);
		err->line = 1;
		err->col = 1;
		snprintf(err->msg, sizeof(err->msg), "the file is larger than "
		    "%d bytes", FILTER_FILE_MAX);
		return err_set(ERR_INVALID, "%s: larger than %d bytes", file,
		    FILTER_FILE_MAX);
	}
	prog = xcalloc(1, sizeof(*prog));
	prog->file = xstrdup(file);
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->s = text;
	ctx->len = len;
	ctx->line = 1;
	ctx->col = 1;
	ctx->prog = prog;
	ctx->err = err;
	if (setjmp(ctx->jb) != 0) {
		fctx_arena_free(&ctx->chunks);
		free(ctx->nodes);
		free(ctx->buf);
		free(ctx);
		free(prog->file);
		free(prog);
		return 0;
	}
	if (len > 0 && (nul = memchr(text, '\0', len)) != NULL) {
		for (i = 0; text + i < nul; i++)
			if (text[i] == '\n' || (text[i] == '\r' &&
			    text[i + 1] != '\n')) {
				ctx->line++;
				ctx->col = 1;
			} else
				ctx->col++;
		fctx_error(ctx, ctx->line, ctx->col, "a NUL byte in the file");
	}
	/* a UTF-8 byte order mark (Windows editors) is not text */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ctx->pos = 3;
	prog->root = parse_stmts(ctx, 1, 1, 1);
	check_tree_depth(ctx, prog->root);
	ar = xcalloc(1, sizeof(*ar));
	ar->chunks = ctx->chunks;
	ar->nodes = ctx->nodes;
	ar->nnodes = ctx->nnodes;
	prog->arena = ar;
	free(ctx->buf);
	free(ctx);
	*prog_r = prog;
	return 1;
}

void
filter_error_format(const struct filter_error *err, char *buf, size_t size)
{
	if (size == 0)
		return;
	snprintf(buf, size, "%s:%u:%u: %s", err->file, err->line, err->col,
	    err->msg);
}

void
filter_prog_free(struct filter_prog **progp)
{
	struct filter_prog *prog = *progp;
	struct farena *ar;
	size_t i;

	if (prog == NULL)
		return;
	ar = prog->arena;
	if (ar != NULL) {
		for (i = 0; i < ar->nnodes; i++)
			if (ar->nodes[i]->cache != NULL &&
			    prog->cache_free != NULL)
				prog->cache_free(ar->nodes[i]->cache);
		fctx_arena_free(&ar->chunks);
		free(ar->nodes);
		free(ar);
	}
	free(prog->file);
	free(prog);
	*progp = NULL;
}
