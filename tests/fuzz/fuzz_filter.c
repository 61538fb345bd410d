/*
 * fuzz_filter.c - the maildrop filter language parser (filter/lex.c,
 * filter/parse.c) on any bytes.
 *
 * filter_parse() returns 1 or 0 (-1 only past FILTER_FILE_MAX); an error
 * has a line and column inside the text and a message; a tree is well
 * formed: the node kinds and operators are the documented ones with the
 * documented kids (a pattern's regex is a text or a concatenation of
 * texts and variables, a concatenation has at least two parts (or is a
 * pattern's lone $VAR) and no two
 * texts side by side, a call names a built-in with an allowed number of
 * arguments), texts hold no NUL, every node has the file name and a
 * position inside the text, and no node is deeper than 300 levels.  Without
 * CR in the input, the same input with CRLF line ends gives exactly the
 * same tree (positions included) or the same error.
 */
#include <string.h>

#include "filter/lang.h"

#include "fuzz.h"

#define FUZZ_FILE	"fuzz.mailfilter"
#define FUZZ_DEPTH	300

struct fuzz_out {
	char	*s;
	size_t	 len, cap;
};

static void	out_add(struct fuzz_out *, const char *, size_t);
static void	out_num(struct fuzz_out *, unsigned long);
static void	check_node(const struct filter_node *,
		    const struct filter_node *parent, const char *file,
		    unsigned lines, unsigned depth, struct fuzz_out *);
static int	is_text_part(const struct filter_node *);
static void	parse_one(const char *, size_t, unsigned lines,
		    struct fuzz_out *);

static void
out_add(struct fuzz_out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->s = realloc(o->s, o->cap);
		FUZZ_CHECK(o->s != NULL, "out of memory");
	}
	memcpy(o->s + o->len, s, n);
	o->len += n;
	o->s[o->len] = '\0';
}

static void
out_num(struct fuzz_out *o, unsigned long n)
{
	char b[32];

	out_add(o, b, (size_t)snprintf(b, sizeof(b), "%lu ", n));
}

static int
is_text_part(const struct filter_node *n)
{
	return n->kind == FK_TEXT || n->kind == FK_VAR;
}

/* Checks n and its kids, and prints them into o. */
static void
check_node(const struct filter_node *n, const struct filter_node *parent,
    const char *file, unsigned lines, unsigned depth, struct fuzz_out *o)
{
	const struct filter_builtin *b;
	size_t i;

	FUZZ_CHECK(depth <= FUZZ_DEPTH, "node %u:%u at depth %u", n->line,
	    n->col, depth);
	FUZZ_CHECK(n->file == file, "node file");
	FUZZ_CHECK(n->line >= 1 && n->line <= lines && n->col >= 1,
	    "position %u:%u (%u lines)", n->line, n->col, lines);
	FUZZ_CHECK(n->nkids == 0 || n->kids != NULL, "kids");
	out_num(o, (unsigned long)n->kind);
	out_num(o, (unsigned long)n->op);
	out_num(o, n->line);
	out_num(o, n->col);
	out_num(o, (unsigned long)n->nkids);
	if (n->name != NULL)
		out_add(o, n->name, strlen(n->name) + 1);
	switch (n->kind) {
	case FK_TEXT:
		FUZZ_CHECK(n->text != NULL && strlen(n->text) == n->len &&
		    n->len <= FILTER_TEXT_MAX, "text");
		FUZZ_CHECK(n->nkids == 0, "text kids");
		out_add(o, n->text, n->len + 1);
		break;
	case FK_VAR:
		FUZZ_CHECK(n->name != NULL && n->name[0] != '\0' &&
		    n->nkids == 0, "var");
		break;
	case FK_CONCAT:
		/* one part only as the regex of a pattern: a lone $VAR */
		FUZZ_CHECK(n->nkids >= 2 || (n->nkids == 1 && parent != NULL &&
		    parent->kind == FK_PATTERN && n->kids[0]->kind == FK_VAR),
		    "concat of %zu", n->nkids);
		for (i = 0; i < n->nkids; i++) {
			FUZZ_CHECK(n->kids[i]->kind != FK_CONCAT, "nested "
			    "concat");
			FUZZ_CHECK(i == 0 || n->kids[i]->kind != FK_TEXT ||
			    n->kids[i - 1]->kind != FK_TEXT, "texts side by "
			    "side in a concat");
		}
		break;
	case FK_BACKTICK:
		FUZZ_CHECK(n->nkids == 1, "backtick");
		break;
	case FK_PATTERN:
		FUZZ_CHECK(n->nkids == 1, "pattern kids");
		FUZZ_CHECK(n->kids[0]->kind == FK_TEXT || n->kids[0]->kind ==
		    FK_CONCAT, "pattern regex kind %d", n->kids[0]->kind);
		if (n->kids[0]->kind == FK_CONCAT)
			for (i = 0; i < n->kids[0]->nkids; i++)
				FUZZ_CHECK(is_text_part(n->kids[0]->kids[i]),
				    "pattern part");
		FUZZ_CHECK((n->pat_flags & (FILTER_PAT_HEADER |
		    FILTER_PAT_BODY)) != 0 && (n->pat_flags & ~0x0fu) == 0,
		    "pattern flags %#x", n->pat_flags);
		out_num(o, n->pat_flags);
		if (n->pat_flags & FILTER_PAT_WEIGHTED) {
			char w[64];

			out_add(o, w, (size_t)snprintf(w, sizeof(w), "%g %g ",
			    n->pat_w1, n->pat_w2));
		}
		break;
	case FK_MATCH:
		FUZZ_CHECK(n->nkids == 2 && n->kids[1]->kind == FK_PATTERN,
		    "match");
		break;
	case FK_UNARY:
		FUZZ_CHECK(n->nkids == 1 && (n->op == FO_NOT ||
		    n->op == FO_BITNOT || n->op == FO_NEG), "unary");
		break;
	case FK_BINARY:
		FUZZ_CHECK(n->nkids == 2 && n->op >= FO_OR &&
		    n->op <= FO_NMATCH && n->op != FO_NOT &&
		    n->op != FO_BITNOT && n->op != FO_NEG, "binary op %d",
		    n->op);
		FUZZ_CHECK(n->op != FO_NMATCH || n->kids[1]->kind ==
		    FK_PATTERN, "!~ without a pattern");
		break;
	case FK_CALL:
		for (b = filter_builtins; b->name != NULL; b++)
			if (strcmp(b->name, n->name) == 0)
				break;
		FUZZ_CHECK(b->name != NULL, "call of '%s'", n->name);
		FUZZ_CHECK(n->nkids >= b->min_args && n->nkids <= b->max_args,
		    "'%s' with %zu arguments", n->name, n->nkids);
		break;
	case FK_BLOCK:
		for (i = 0; i < n->nkids; i++)
			FUZZ_CHECK(n->kids[i]->kind >= FK_BLOCK, "expression "
			    "in a block");
		break;
	case FK_ASSIGN:
		FUZZ_CHECK(n->nkids == 1 && n->name != NULL &&
		    n->name[0] != '\0', "assign");
		break;
	case FK_IF:
		FUZZ_CHECK(n->nkids == 2 || n->nkids == 3, "if");
		for (i = 1; i < n->nkids; i++)
			FUZZ_CHECK(n->kids[i]->kind >= FK_BLOCK, "if body");
		break;
	case FK_WHILE:
		FUZZ_CHECK(n->nkids == 2 && n->kids[1]->kind >= FK_BLOCK,
		    "while");
		break;
	case FK_FOREACH:
		FUZZ_CHECK(n->nkids == 2 && (n->kids[0]->kind == FK_PATTERN ||
		    n->kids[0]->kind == FK_MATCH) && n->kids[1]->kind >=
		    FK_BLOCK, "foreach");
		break;
	case FK_EXCEPTION:
		FUZZ_CHECK(n->nkids == 1 && n->kids[0]->kind == FK_BLOCK,
		    "exception");
		break;
	case FK_LOCK:
		FUZZ_CHECK(n->nkids == 2 && n->kids[1]->kind == FK_BLOCK &&
		    n->name != NULL && (strcmp(n->name, "flock") == 0 ||
		    strcmp(n->name, "dotlock") == 0), "lock");
		break;
	case FK_EXIT:
		FUZZ_CHECK(n->nkids == 0, "exit");
		break;
	case FK_IMPORT:
		FUZZ_CHECK(n->nkids == 0 && n->name != NULL &&
		    n->name[0] != '\0', "import");
		break;
	case FK_EXPR: case FK_TO: case FK_CC: case FK_XFILTER:
	case FK_SYSTEM: case FK_INCLUDE: case FK_ECHO: case FK_LOG:
	case FK_LOGFILE:
		FUZZ_CHECK(n->nkids == 1 && n->kids[0]->kind < FK_BLOCK,
		    "statement %d", n->kind);
		break;
	default:
		FUZZ_CHECK(0, "kind %d", n->kind);
	}
	for (i = 0; i < n->nkids; i++)
		check_node(n->kids[i], n, file, lines, depth + 1, o);
}

/* Parses text and prints the tree or the error into o. */
static void
parse_one(const char *text, size_t len, unsigned lines, struct fuzz_out *o)
{
	struct filter_prog *prog = NULL;
	struct filter_error err;
	char buf[1024];
	int r;

	r = filter_parse(FUZZ_FILE, text, len, &prog, &err);
	FUZZ_CHECK(r == 1 || r == 0 || (r == -1 && len > FILTER_FILE_MAX),
	    "filter_parse returned %d", r);
	if (r != 1) {
		FUZZ_CHECK(prog == NULL, "prog with an error");
		FUZZ_CHECK(strcmp(err.file, FUZZ_FILE) == 0, "error file");
		FUZZ_CHECK(err.line >= 1 && err.line <= lines && err.col >= 1,
		    "error at %u:%u (%u lines): %s", err.line, err.col, lines,
		    err.msg);
		FUZZ_CHECK(err.msg[0] != '\0' && memchr(err.msg, '\0',
		    sizeof(err.msg)) != NULL, "error message");
		filter_error_format(&err, buf, sizeof(buf));
		out_add(o, buf, strlen(buf));
		return;
	}
	FUZZ_CHECK(prog != NULL && prog->root != NULL &&
	    prog->root->kind == FK_BLOCK, "root");
	FUZZ_CHECK(strcmp(prog->file, FUZZ_FILE) == 0, "prog file");
	check_node(prog->root, NULL, prog->file, lines, 1, o);
	filter_prog_free(&prog);
	FUZZ_CHECK(prog == NULL, "prog_free");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct fuzz_out a = { NULL, 0, 0 }, b = { NULL, 0, 0 };
	unsigned lines = 1;
	size_t i, n;
	char *crlf;

	for (i = 0; i < size; i++)
		if (in[i] == '\n' || (in[i] == '\r' && (i + 1 == size ||
		    in[i + 1] != '\n')))
			lines++;
	parse_one(in, size, lines, &a);
	if (memchr(in, '\r', size) == NULL && size * 2 <= FILTER_FILE_MAX) {
		crlf = malloc(size * 2 + 1);
		FUZZ_CHECK(crlf != NULL, "out of memory");
		for (i = n = 0; i < size; i++) {
			if (in[i] == '\n')
				crlf[n++] = '\r';
			crlf[n++] = in[i];
		}
		parse_one(crlf, n, lines, &b);
		FUZZ_CHECK(a.len == b.len && memcmp(a.s, b.s, a.len) == 0,
		    "CRLF differs:\n%s\n--- LF:\n%s", b.s, a.s);
		free(crlf);
	}
	free(a.s);
	free(b.s);
	return 0;
}
