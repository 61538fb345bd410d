/*
 * lex.h - private to filter/lex.c and filter/parse.c: the parse context
 * (arena, first error), node building and the tokens of the maildrop
 * filter language (lang.h says what the language is).
 *
 * Errors do not return: fctx_error() records the first error and jumps
 * back to filter_parse(), which frees the arena.  Everything the parser
 * allocates lives in the arena (or in fctx's own vectors), so nothing
 * leaks on that jump.
 */
#ifndef VELLUM_FILTER_LEX_H
#define VELLUM_FILTER_LEX_H

#include <setjmp.h>
#include <stddef.h>

#include "filter/lang.h"

enum lex_tok {
	T_EOF = 1,
	T_NL,		/* a line end, or ';' (semi set) */
	T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_COMMA,
	T_OROR, T_ANDAND,
	T_LT, T_LE, T_GT, T_GE, T_EQEQ, T_NE,
	T_BAR, T_AMP, T_PLUS, T_MINUS, T_STAR, T_SLASH,
	T_MATCH, T_NMATCH, T_NOT, T_TILDE, T_ASSIGN,
	T_TEXT,		/* node: FK_TEXT, FK_VAR, FK_CONCAT, FK_BACKTICK */
	T_PATTERN,	/* node: FK_PATTERN */
};

/* What a '/' (and a '!~') means where the token starts. */
enum lex_mode {
	LEX_OPERAND = 1,	/* '/' starts a pattern, "!~" is ! ~ */
	LEX_OPERATOR,		/* '/' divides, "!~" is the operator */
	LEX_MAILBOX,		/* '/' starts unquoted text */
};

struct lex_token {
	enum lex_tok		 t;
	enum lex_mode		 mode;	/* lexed in */
	unsigned		 line, col;
	size_t			 pos;	/* offset of its first byte */
	size_t			 end;	/* offset after it */
	struct filter_node	*node;	/* T_TEXT, T_PATTERN */
	const char		*word;	/* T_TEXT of unquoted letters, digits
					   and _-.:/@ only (no $): the word */
	int			 quoted; /* T_TEXT: a '...' or "..." alone
					    without substitution */
	int			 semi;	/* T_NL: it was ';' */
};

struct fctx {
	const char		*s;	/* the file */
	size_t			 len;
	size_t			 pos;	/* next byte to lex */
	unsigned		 line, col;
	struct filter_prog	*prog;
	struct filter_error	*err;
	jmp_buf			 jb;
	/* arena */
	struct fchunk		*chunks;
	struct filter_node	**nodes; /* every node (xreallocarray) */
	size_t			 nnodes, nodes_cap;
	/* scratch for building a text */
	char			*buf;
	size_t			 buflen, bufcap;
	unsigned		 run_line, run_col; /* where buf's run began */
	/* the parser */
	unsigned		 depth;
	struct lex_token	 tok;	/* lookahead */
	int			 have_tok;
	unsigned		 paren;	/* open '(': line ends are spaces */
	enum lex_mode		 first_mode; /* of the next operand, or 0 */
};

struct fchunk {
	struct fchunk	*next;
	size_t		 used, size;
	/* bytes follow, max_align_t aligned */
};

_Noreturn void	fctx_error(struct fctx *, unsigned line, unsigned col,
		    const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
void		*fctx_alloc(struct fctx *, size_t);
char		*fctx_strndup(struct fctx *, const char *, size_t);
void		 fctx_arena_free(struct fchunk **);
struct filter_node *fctx_node(struct fctx *, enum filter_kind,
		    unsigned line, unsigned col);
void		 fctx_kid(struct fctx *, struct filter_node *,
		    struct filter_node *);

/* Lexes the token at ctx->pos in mode into *tok and moves past it. */
void		 lex_next(struct fctx *, enum lex_mode, struct lex_token *);
/* After ctx->pos: spaces, then '='  not followed by '=' or '~'. */
int		 lex_assign_follows(const struct fctx *);
/* After ctx->pos: spaces, then '('. */
int		 lex_paren_follows(const struct fctx *);
/* A short printable description of a token for errors ("'else'"). */
void		 lex_describe(const struct fctx *, const struct lex_token *,
		    char *buf, size_t size);

#endif
