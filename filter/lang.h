/*
 * lang.h - the maildrop filter language (mailfilter(7), "maildropfilter"):
 * a pure parser from the bytes of a filter file to a syntax tree.
 *
 * What is accepted is what maildrop documents, so that the recipes of the
 * hosting guides run unchanged, and a little more where maildrop itself
 * trips its users:
 *   - CRLF (and a lone CR) line ends are line ends; a UTF-8 byte order
 *     mark at the start is skipped (columns count from after it);
 *   - braces may be K&R (`if (x) {`, `} else {`, `} elsif (y) {`) or on
 *     lines of their own (Allman), with blank or comment lines between an
 *     `if`'s `)`, its `{`, its `}` and `else`;
 *   - `else if` is `elsif`.
 * Lexical rules (mailfilter(7) "Lexical structure" ... "Expressions"):
 * `#` comments to the end of the line; a newline or `;` ends a statement;
 * a backslash at the end of a line continues the statement (inside a
 * quoted text it also drops the next line's leading white space);
 * '...' is literal text (only \\ and \' lose their backslash), "..." is
 * text with $NAME / ${NAME} substitution (\\, \" and \$ lose their
 * backslash), `...` is command substitution (its text is substituted
 * like "..."); adjacent texts concatenate; unquoted text is letters,
 * digits and _-.:/${}@ (substituted like "..."), except that a `/` where
 * an operand is expected starts a pattern /re/:opts — but directly after
 * `NAME=` and after to/cc (a mailbox is never a pattern: `to /dev/null`,
 * `to Mail/.Spam/`) it is text.  A pattern ends at the first unescaped `/`
 * and is substituted like "..." except that a `$` not followed by a
 * letter, `_` or `{` stays (it is the regex anchor).
 *
 * What the parser (filter/lex.c, filter/parse.c) settles where the man
 * page is silent or maildrop is surprising:
 *   - texts side by side concatenate with or without spaces between
 *     ("a" 'b' c is "abc"), as maildrop does; adjacent literals become one
 *     FK_TEXT, and an FK_CONCAT never holds an FK_CONCAT;
 *   - unquoted text also takes bytes from 0x80 (UTF-8 folder names); a
 *     '-' directly followed by a byte of unquoted text or '$' starts
 *     unquoted text ("-3", and `5 -1` is "5-1" as in maildrop), otherwise
 *     it is the operator (binary, or FO_NEG where an operand is expected:
 *     `- 3`);
 *   - a '/' followed by a space or a line end is the division even where
 *     an operand is expected;
 *   - the first operand after xfilter, system, include, logfile, flock and
 *     dotlock is read like after to/cc (`include /etc/x` is text);
 *     `to !a@b` / `cc !a@b` unquoted are errors (maildrop reads the
 *     mailbox "0", the `!` being the operator): forwards are quoted;
 *   - a line end inside parentheses is a space; `;` is not allowed there;
 *   - a statement ends at a line end, ';', '}' or `else`/`elsif`, so
 *     `if (x) to A; else to B` and `} else {` work; `else if` and elsif
 *     both give an FK_IF as kids[2];
 *   - a built-in function name where an operand is expected is a call:
 *     with (...), or, for one argument, followed by one operand (unary
 *     level: `getaddr $MATCH`), or with none for `time`; any other
 *     word directly followed by '(' is "unknown function"; gdbmopen,
 *     gdbmclose, gdbmfetch, gdbmstore: "GDBM functions are not
 *     supported"; lt le gt ge eq ne are operators after an operand;
 *   - statement words (if else elsif while foreach to cc xfilter system
 *     exception include exit echo log logfile import flock dotlock) are
 *     words only at the start of a statement, and `NAME=` there is always
 *     an assignment (`to=1` sets "to"); a quoted name may be assigned
 *     ("a b"=1) but not one with $;
 *   - pattern options: letters h, b, D only (any other letter is an
 *     error), then ,xxx[,yyy] numbers (strtod) right after them; without
 *     ':' a ',' after a pattern is not a weight (an argument separator).
 *
 * Limits (each an error naming where): a file of at most
 * FILTER_FILE_MAX bytes, NUL bytes refused, nesting of at most
 * FILTER_DEPTH_MAX blocks/parentheses/calls/unary operators, a text of
 * at most FILTER_TEXT_MAX bytes, at most FILTER_NODES_MAX nodes, and no
 * node deeper than FILTER_TREE_DEPTH_MAX in the tree (an elsif chain
 * nests each FK_IF in the one before, and a chain a+b+c+... nests without
 * parentheses), so that the evaluator may walk the tree recursively.
 *
 * Errors are the first one met, at the offending token, saying what was
 * expected and what was found, e.g. "expected ')' to close the condition
 * of 'if' opened at 3:4", "unterminated string started at 5:9" (at the
 * line end), "unknown function 'foo'", "'else' without 'if'".
 */
#ifndef VELLUM_FILTER_LANG_H
#define VELLUM_FILTER_LANG_H

#include <stddef.h>

#define FILTER_FILE_MAX		(256 * 1024)	/* bytes of one file */
#define FILTER_DEPTH_MAX	64		/* nested blocks, (), calls */
#define FILTER_TEXT_MAX		(64 * 1024)	/* one literal or pattern */
#define FILTER_NODES_MAX	100000		/* syntax tree nodes */
#define FILTER_ERROR_MAX	512		/* the message of an error */
#define FILTER_TREE_DEPTH_MAX	256		/* levels of the syntax tree */

enum filter_kind {
	/* Expressions.  Every value is text (mailfilter(7) "Expressions"). */
	FK_TEXT = 1,	/* text: literal bytes, no substitution left */
	FK_VAR,		/* $NAME, ${NAME}: name */
	FK_CONCAT,	/* kids: parts whose values are joined (a "..."
			   with $VARs, adjacent literals, unquoted text) */
	FK_BACKTICK,	/* `cmd`: kids[0] the command line (expression) */
	FK_PATTERN,	/* /re/:opts against the message: kids[0] the
			   regex text: an FK_TEXT, or an FK_CONCAT of
			   FK_TEXT/FK_VAR parts (one part when the regex
			   is a lone $VAR), pat_* below */
	FK_MATCH,	/* kids[0] =~ kids[1] (an FK_PATTERN) */
	FK_UNARY,	/* op kids[0]: FO_NOT, FO_BITNOT, FO_NEG */
	FK_BINARY,	/* kids[0] op kids[1] */
	FK_CALL,	/* name(kids...): a built-in function (name) */
	/* Statements. */
	FK_BLOCK,	/* kids: statements in order (a file is one) */
	FK_ASSIGN,	/* name = kids[0] */
	FK_EXPR,	/* an expression alone (a pattern, a call) */
	FK_IF,		/* if (kids[0]) kids[1] [else kids[2]]; elsif is an
			   FK_IF as kids[2]; kids[1], kids[2] are blocks or
			   single statements */
	FK_WHILE,	/* while (kids[0]) kids[1] */
	FK_FOREACH,	/* foreach kids[0] kids[1]: kids[0] an FK_PATTERN
			   (over the message) or an FK_MATCH (over text) */
	FK_TO,		/* to kids[0] */
	FK_CC,		/* cc kids[0] */
	FK_XFILTER,	/* xfilter kids[0] */
	FK_SYSTEM,	/* system kids[0] */
	FK_EXCEPTION,	/* exception kids[0] (a block) */
	FK_INCLUDE,	/* include kids[0] */
	FK_EXIT,	/* exit */
	FK_ECHO,	/* echo kids[0] */
	FK_LOG,		/* log kids[0] */
	FK_LOGFILE,	/* logfile kids[0] */
	FK_IMPORT,	/* import name */
	FK_LOCK,	/* flock / dotlock kids[0] kids[1] (the block); name
			   is "flock" or "dotlock" */
};

enum filter_op {
	FO_NONE = 0,
	FO_OR, FO_AND,				/* || && */
	FO_LT, FO_LE, FO_GT, FO_GE, FO_EQ, FO_NE,	/* < <= > >= == != */
	FO_SLT, FO_SLE, FO_SGT, FO_SGE, FO_SEQ, FO_SNE,	/* lt le gt ge eq ne */
	FO_BITOR, FO_BITAND,			/* | & */
	FO_ADD, FO_SUB, FO_MUL, FO_DIV,		/* + - * / */
	FO_NOT, FO_BITNOT, FO_NEG,		/* ! ~ unary - */
	FO_NMATCH,				/* !~ (FK_BINARY, kids[1] is
						   an FK_PATTERN) */
};

/* Pattern options (":hbD,xxx,yyy"). */
#define FILTER_PAT_HEADER	0x01	/* h (the default when neither) */
#define FILTER_PAT_BODY		0x02	/* b */
#define FILTER_PAT_CASE		0x04	/* D: case-sensitive */
#define FILTER_PAT_WEIGHTED	0x08	/* ,xxx[,yyy] given */

struct filter_node {
	enum filter_kind	 kind;
	enum filter_op		 op;
	const char		*file;	/* the prog's file name (not owned) */
	unsigned		 line;	/* 1-based, where the node starts */
	unsigned		 col;	/* 1-based, in bytes */
	char			*name;	/* FK_VAR, FK_CALL, FK_ASSIGN,
					   FK_IMPORT, FK_LOCK; else NULL */
	char			*text;	/* FK_TEXT: the bytes (NUL-ended,
					   no NUL inside); else NULL */
	size_t			 len;	/* FK_TEXT: strlen(text) */
	struct filter_node	**kids;
	size_t			 nkids;
	/* FK_PATTERN */
	unsigned		 pat_flags;	/* FILTER_PAT_* */
	double			 pat_w1, pat_w2; /* weights (w2 1 if absent) */
	/*
	 * Free for the evaluator (eval.c): a compiled regex of a pattern
	 * whose text has no substitution.  filter_prog_free() calls the
	 * prog's cache_free on it when not NULL.
	 */
	void			*cache;
};

struct filter_prog {
	char			*file;	/* name given to filter_parse() */
	struct filter_node	*root;	/* an FK_BLOCK */
	void			(*cache_free)(void *);
	/* The parser's arena; filter_prog_free() releases everything. */
	void			*arena;
};

/* Where and why a file did not parse. */
struct filter_error {
	char		file[256];
	unsigned	line;		/* 1-based */
	unsigned	col;		/* 1-based, in bytes */
	char		msg[FILTER_ERROR_MAX];	/* "expected ')' after the
						   condition of if" */
};

/*
 * Parses text[len] (the whole file; CRLF or LF) named file (used in
 * errors and kept in the nodes).  Returns 1 and *prog_r, or 0 with *err
 * filled (the first error: where, and what was expected or found), or -1
 * (INVALID: too large) with *err filled too.  Pure: no I/O.  Every byte
 * sequence is safe input.
 */
int	filter_parse(const char *file, const char *text, size_t len,
	    struct filter_prog **prog_r, struct filter_error *err);

/* "FILE:LINE:COL: MSG" into buf (always NUL-ended). */
void	filter_error_format(const struct filter_error *, char *buf,
	    size_t size);

void	filter_prog_free(struct filter_prog **);

/*
 * The built-in functions filter_parse() accepts (FK_CALL names) and their
 * argument counts; any other name(...) is a parse error.  Also the
 * statement words.  For the evaluator and the tests.
 */
struct filter_builtin {
	const char	*name;
	unsigned	 min_args, max_args;
};
extern const struct filter_builtin filter_builtins[];	/* NULL-ended */

#endif
