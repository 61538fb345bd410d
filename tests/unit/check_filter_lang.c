/*
 * check_filter_lang.c - the maildrop filter language parser
 * (filter/lex.c, filter/parse.c): every recipe of the hosting guides and
 * of maildropex(7) parses into the tree it should (printed as
 * S-expressions and compared as text), CRLF and lone-CR files give the
 * same trees as LF ones, K&R braces the same as Allman ones, each error
 * names its line:column and what was expected, the limits hold, and every
 * prefix of every recipe either parses or errors.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/lang.h"

#define EXPECT(cond, ...) do {			\
	if (!(cond))				\
		ck_abort_msg(__VA_ARGS__);	\
} while (0)

struct sbuf {
	char	*s;
	size_t	 len, cap;
};

static Suite	*lang_suite(void);
static void	*must_malloc(size_t);
static void	sb_add(struct sbuf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	sexp(struct sbuf *, const struct filter_node *, int pos);
static char	*tree(const char *src, size_t len, int pos);
static char	*tree_s(const char *src);
static char	*error_of(const char *src, size_t len);
static void	expect_tree(const char *src, const char *want);
static void	expect_error(const char *src, const char *want);
static char	*crlf(const char *src, const char *eol);
static char	*allman(const char *src);

static void *
must_malloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		abort();
	return p;
}

static void
sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		ck_assert_int_ge(n, 0);
		if (b->len + (size_t)n < b->cap)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		ck_assert_ptr_nonnull(b->s);
	}
	b->len += (size_t)n;
}

static const char *
op_name(enum filter_op op)
{
	switch (op) {
	case FO_OR: return "||";
	case FO_AND: return "&&";
	case FO_LT: return "<";
	case FO_LE: return "<=";
	case FO_GT: return ">";
	case FO_GE: return ">=";
	case FO_EQ: return "==";
	case FO_NE: return "!=";
	case FO_SLT: return "lt";
	case FO_SLE: return "le";
	case FO_SGT: return "gt";
	case FO_SGE: return "ge";
	case FO_SEQ: return "eq";
	case FO_SNE: return "ne";
	case FO_BITOR: return "|";
	case FO_BITAND: return "&";
	case FO_ADD: return "+";
	case FO_SUB: return "-";
	case FO_MUL: return "*";
	case FO_DIV: return "/";
	case FO_NOT: return "!";
	case FO_BITNOT: return "~";
	case FO_NEG: return "neg";
	case FO_NMATCH: return "!~";
	default: return "?op";
	}
}

static const char *
kind_name(enum filter_kind k)
{
	switch (k) {
	case FK_CONCAT: return "cat";
	case FK_BACKTICK: return "`";
	case FK_MATCH: return "=~";
	case FK_BLOCK: return "block";
	case FK_EXPR: return "expr";
	case FK_IF: return "if";
	case FK_WHILE: return "while";
	case FK_FOREACH: return "foreach";
	case FK_TO: return "to";
	case FK_CC: return "cc";
	case FK_XFILTER: return "xfilter";
	case FK_SYSTEM: return "system";
	case FK_EXCEPTION: return "exception";
	case FK_INCLUDE: return "include";
	case FK_EXIT: return "exit";
	case FK_ECHO: return "echo";
	case FK_LOG: return "log";
	case FK_LOGFILE: return "logfile";
	default: return "?kind";
	}
}

/*
 * TEXT "..." (C escapes), VAR $NAME, PATTERN (/ re flags [w1 w2]),
 * UNARY/BINARY (op ...), CALL (name ...), ASSIGN (= NAME x), IMPORT
 * (import NAME), LOCK (flock x block), others (kind kids...).  With pos,
 * every node is followed by @line:col.
 */
static void
sexp(struct sbuf *b, const struct filter_node *n, int pos)
{
	size_t i;
	const unsigned char *p;

	switch (n->kind) {
	case FK_TEXT:
		EXPECT(n->text != NULL && strlen(n->text) == n->len,
		    "text length %zu", n->len);
		sb_add(b, "\"");
		for (p = (const unsigned char *)n->text; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				sb_add(b, "\\%c", *p);
			else if (*p == '\n')
				sb_add(b, "\\n");
			else if (*p < 0x20 || *p >= 0x7f)
				sb_add(b, "\\x%02x", *p);
			else
				sb_add(b, "%c", *p);
		}
		sb_add(b, "\"");
		EXPECT(n->nkids == 0, "text with kids");
		break;
	case FK_VAR:
		sb_add(b, "$%s", n->name);
		EXPECT(n->nkids == 0, "var with kids");
		break;
	case FK_PATTERN:
		EXPECT(n->nkids == 1, "pattern with %zu kids", n->nkids);
		sb_add(b, "(/ ");
		sexp(b, n->kids[0], pos);
		sb_add(b, " %s%s%s", n->pat_flags & FILTER_PAT_HEADER ? "h" : "",
		    n->pat_flags & FILTER_PAT_BODY ? "b" : "",
		    n->pat_flags & FILTER_PAT_CASE ? "D" : "");
		if (n->pat_flags & FILTER_PAT_WEIGHTED)
			sb_add(b, " %g %g", n->pat_w1, n->pat_w2);
		sb_add(b, ")");
		break;
	case FK_UNARY:
	case FK_BINARY:
		sb_add(b, "(%s", op_name(n->op));
		for (i = 0; i < n->nkids; i++) {
			sb_add(b, " ");
			sexp(b, n->kids[i], pos);
		}
		sb_add(b, ")");
		break;
	case FK_CALL:
		sb_add(b, "(%s", n->name);
		for (i = 0; i < n->nkids; i++) {
			sb_add(b, " ");
			sexp(b, n->kids[i], pos);
		}
		sb_add(b, ")");
		break;
	case FK_ASSIGN:
		sb_add(b, "(= %s ", n->name);
		sexp(b, n->kids[0], pos);
		sb_add(b, ")");
		break;
	case FK_IMPORT:
		sb_add(b, "(import %s)", n->name);
		break;
	case FK_LOCK:
		sb_add(b, "(%s", n->name);
		for (i = 0; i < n->nkids; i++) {
			sb_add(b, " ");
			sexp(b, n->kids[i], pos);
		}
		sb_add(b, ")");
		break;
	default:
		sb_add(b, "(%s", kind_name(n->kind));
		for (i = 0; i < n->nkids; i++) {
			sb_add(b, " ");
			sexp(b, n->kids[i], pos);
		}
		sb_add(b, ")");
	}
	if (pos)
		sb_add(b, "@%u:%u", n->line, n->col);
	EXPECT(n->file != NULL && strcmp(n->file, "f") == 0, "node file");
}

/* The tree of src as text, or NULL when it does not parse. */
static char *
tree(const char *src, size_t len, int pos)
{
	struct filter_prog *prog = NULL;
	struct filter_error err;
	struct sbuf b = { NULL, 0, 0 };
	size_t i;
	int r;

	r = filter_parse("f", src, len, &prog, &err);
	if (r != 1) {
		EXPECT(prog == NULL, "a prog with an error");
		return NULL;
	}
	EXPECT(prog->root->kind == FK_BLOCK, "root kind %d", prog->root->kind);
	sb_add(&b, "%s", "");
	for (i = 0; i < prog->root->nkids; i++) {
		if (i > 0)
			sb_add(&b, "\n");
		sexp(&b, prog->root->kids[i], pos);
	}
	filter_prog_free(&prog);
	EXPECT(prog == NULL, "prog_free left the pointer");
	return b.s;
}

static char *
tree_s(const char *src)
{
	return tree(src, strlen(src), 0);
}

/* "LINE:COL: MSG" of the error of src, or NULL when it parses. */
static char *
error_of(const char *src, size_t len)
{
	struct filter_prog *prog = NULL;
	struct filter_error err;
	char buf[1024];

	if (filter_parse("f", src, len, &prog, &err) == 1) {
		filter_prog_free(&prog);
		return NULL;
	}
	EXPECT(prog == NULL, "a prog with an error");
	filter_error_format(&err, buf, sizeof(buf));
	EXPECT(strncmp(buf, "f:", 2) == 0, "formatted: %s", buf);
	return strdup(buf + 2);
}

static void
expect_tree(const char *src, const char *want)
{
	char *got = tree_s(src), *e;

	if (got == NULL) {
		e = error_of(src, strlen(src));
		ck_abort_msg("does not parse: %s\n--- source:\n%s", e, src);
	}
	EXPECT(strcmp(got, want) == 0, "tree of\n%s\n--- got:\n%s\n--- want:\n%s",
	    src, got, want);
	free(got);
}

static void
expect_error(const char *src, const char *want)
{
	char *got = error_of(src, strlen(src));

	EXPECT(got != NULL, "parses, but should fail with %s:\n%s", want, src);
	EXPECT(strcmp(got, want) == 0, "error of\n%s\n--- got:  %s\n--- want: %s",
	    src, got, want);
	free(got);
}

/* src with every "\n" replaced by eol. */
static char *
crlf(const char *src, const char *eol)
{
	struct sbuf b = { NULL, 0, 0 };

	sb_add(&b, "%s", "");
	for (; *src != '\0'; src++)
		if (*src == '\n')
			sb_add(&b, "%s", eol);
		else
			sb_add(&b, "%c", *src);
	return b.s;
}

/*
 * K&R to Allman: a '{' ending a line moves to a line of its own, and
 * "} else {" / "} elsif (...) {" are split over lines too.
 */
static char *
allman(const char *src)
{
	struct sbuf b = { NULL, 0, 0 };
	const char *p;

	sb_add(&b, "%s", "");
	for (p = src; *p != '\0'; p++) {
		if (*p == '{' && (p[1] == '\n' || p[1] == '\0') &&
		    p > src && p[-1] == ' ')
			sb_add(&b, "\n{");
		else if (*p == '}' && p[1] == ' ' && p[2] == 'e')
			sb_add(&b, "}\n");
		else if (*p == ' ' && p > src && p[-1] == '}' && p[1] == 'e')
			continue;
		else
			sb_add(&b, "%c", *p);
	}
	return b.s;
}

/* The recipes the issue says must run as they are. */
static const char *const recipes[] = {
	/* 0: SpamAssassin through spamc, then by score */
	"if ($SIZE < 131072)\n"
	"{\n"
	"  exception {\n"
	"    xfilter \"/usr/bin/spamc -u $RECIPIENT\"\n"
	"  }\n"
	"}\n"
	"DELETE_THRESHOLD=10.0\n"
	"if (/^X-Spam-Flag: YES/)\n"
	"{\n"
	"  /X-Spam-Score: (\\d+)/\n"
	"  if ($MATCH1 >= $DELETE_THRESHOLD)\n"
	"  {\n"
	"    to /dev/null\n"
	"  }\n"
	"  else\n"
	"  {\n"
	"    to Mail/.Spam/\n"
	"  }\n"
	"}\n",
	/* 1: per user */
	"if ($LOGNAME ne \"bill\" && /^X-Spam-Flag: YES/) { to /dev/null }\n",
	/* 2: a spam trap */
	"if (hasaddr(\"spam@mydomain.com\")) { to \"|/usr/bin/spamc --spam "
	"-u $RECIPIENT\" }\n",
	/* 3: forwarding */
	"to \"!user@example.com\"\n",
	"cc \"!user@example.com\"\n",
	/* 5: a filter program */
	"xfilter \"$HOME/reverse.sh\"\n",
	/* 6..: maildropex(7) */
	"if (/^Delivered-To: *auto@domain\\.com$/)\n"
	"    to Mail/auto\n",
	"if (/^From: *boss@domain\\.com/ \\\n"
	"    && /^Subject:.*[:wbreak:]project status[:wbreak:]/)\n"
	"{\n"
	"    cc \"!john\"\n"
	"    to Mail/project\n"
	"}\n",
	"cc backup\n"
	"`cd backup/new && rm -f dummy \\`ls -t | sed -e 1,50d\\``\n",
	"\t if ( $LINES > 100 )\n"
	"\t    to Mail/IN.Large\n",
	"\t if (/^Delivered-To: *auto@domain\\.com$/)\n"
	"\t    dotlock \"auto.lock\" {\n"
	"\n"
	"\t\t   to \"|archive\"\n"
	"\t    }\n",
	"`reformail -D 8000 duplicate.cache`\n"
	"if ( $RETURNCODE == 0 )\n"
	"    exit\n",
	"cc $DEFAULT\n"
	"xfilter \"reformail -r -t\"\n"
	"/^To:.*/\n"
	"getaddr($MATCH) =~ /^.*/;\n"
	"\n"
	"MATCH=tolower($MATCH)\n"
	"flock \"vacation.lock\" {\n"
	"        `fgrep -iqx \"$MATCH\" vacation.lst 2>/dev/null || { \\\n"
	"                  echo \"$MATCH\" >>vacation.lst ; \\\n"
	"                  exit 1 ; \\\n"
	"              } `\n"
	"}\n"
	"if ( $RETURNCODE == 0 )\n"
	"   exit\n"
	"to \"| ( cat - ; echo ''; cat vacation.msg) | $SENDMAIL\"\n",
	/* 13..: mailfilter(7) */
	"SAVEDEFAULT=$DEFAULT\n"
	"import DEFAULT\n"
	"LOCALDEFAULT=$DEFAULT\n"
	"DEFAULT=$SAVEDEFAULT\n",
	"FOOBAR=\"Foo\"'bar'\n"
	"MAILBOX=\"${HOME-WORD}/Mailbox\"\n"
	"MAILDIR=/var/mail\n"
	"TEXT=\"This is a long \\\n"
	"   text string\"\n"
	"DIR=`ls`\n",
	"if ( /^From:\\s*(.*)/ )\n"
	"{\n"
	"   MATCH1=escape($MATCH1)\n"
	"   if ( /^Subject:.*$MATCH1/ )\n"
	"   {\n"
	"      echo \"same\"\n"
	"   }\n"
	"}\n",
	"ADDRLIST=\"\"\n"
	"foreach /^(To|Cc): .*/\n"
	"{\n"
	"    foreach (getaddr $MATCH) =~ /.+/\n"
	"    {\n"
	"        ADDRLIST=\"$ADDRLIST $MATCH\"\n"
	"    }\n"
	"}\n",
	"if ( /^To:\\s*(.*)/ && lookup( $MATCH1, \"badto.dat\" ))\n"
	"{\n"
	"    exit\n"
	"}\n"
	"foo=substr($foo, 1, 10)\n"
	"foo=time\n"
	"bar=time()\n"
	"if (length(string) > 80)\n"
	"{\n"
	"   log \"long\"\n"
	"}\n"
	"logfile \"$HOME/filter.log\"\n"
	"include \"$HOME/.mailfilters/more\"\n"
	"system \"touch x\"\n"
	"while ($i < 3)\n"
	"{\n"
	"   i=$i + 1\n"
	"}\n",
	"if (/^Subject: a/)\n"
	"{\n"
	"   to A\n"
	"}\n"
	"elsif (/^Subject: b/:b,1.5,0.5)\n"
	"{\n"
	"   to B\n"
	"}\n"
	"else\n"
	"{\n"
	"   to C\n"
	"}\n",
};
#define NRECIPES	(sizeof(recipes) / sizeof(recipes[0]))

/* What they parse to (maildrop's own trees, by hand). */
static const char *const recipe_trees[NRECIPES] = {
	"(if (< $SIZE \"131072\") (block (exception (block (xfilter "
	"(cat \"/usr/bin/spamc -u \" $RECIPIENT))))))\n"
	"(= DELETE_THRESHOLD \"10.0\")\n"
	"(if (/ \"^X-Spam-Flag: YES\" h) (block (expr (/ "
	"\"X-Spam-Score: (\\\\d+)\" h)) (if (>= $MATCH1 $DELETE_THRESHOLD) "
	"(block (to \"/dev/null\")) (block (to \"Mail/.Spam/\")))))",

	"(if (&& (ne $LOGNAME \"bill\") (/ \"^X-Spam-Flag: YES\" h)) "
	"(block (to \"/dev/null\")))",

	"(if (hasaddr \"spam@mydomain.com\") (block (to (cat "
	"\"|/usr/bin/spamc --spam -u \" $RECIPIENT))))",

	"(to \"!user@example.com\")",
	"(cc \"!user@example.com\")",
	"(xfilter (cat $HOME \"/reverse.sh\"))",

	"(if (/ \"^Delivered-To: *auto@domain\\\\.com$\" h) (to \"Mail/auto\"))",

	"(if (&& (/ \"^From: *boss@domain\\\\.com\" h) (/ \"^Subject:.*"
	"[:wbreak:]project status[:wbreak:]\" h)) (block (cc \"!john\") "
	"(to \"Mail/project\")))",

	"(cc \"backup\")\n"
	"(expr (` \"cd backup/new && rm -f dummy `ls -t | sed -e 1,50d`\"))",

	"(if (> $LINES \"100\") (to \"Mail/IN.Large\"))",

	"(if (/ \"^Delivered-To: *auto@domain\\\\.com$\" h) (dotlock "
	"\"auto.lock\" (block (to \"|archive\"))))",

	"(expr (` \"reformail -D 8000 duplicate.cache\"))\n"
	"(if (== $RETURNCODE \"0\") (exit))",

	"(cc $DEFAULT)\n"
	"(xfilter \"reformail -r -t\")\n"
	"(expr (/ \"^To:.*\" h))\n"
	"(expr (=~ (getaddr $MATCH) (/ \"^.*\" h)))\n"
	"(= MATCH (tolower $MATCH))\n"
	"(flock \"vacation.lock\" (block (expr (` (cat \"fgrep -iqx \\\"\" "
	"$MATCH \"\\\" vacation.lst 2>/dev/null || { echo \\\"\" $MATCH "
	"\"\\\" >>vacation.lst ; exit 1 ; } \")))))\n"
	"(if (== $RETURNCODE \"0\") (exit))\n"
	"(to (cat \"| ( cat - ; echo ''; cat vacation.msg) | \" $SENDMAIL))",

	"(= SAVEDEFAULT $DEFAULT)\n"
	"(import DEFAULT)\n"
	"(= LOCALDEFAULT $DEFAULT)\n"
	"(= DEFAULT $SAVEDEFAULT)",

	"(= FOOBAR \"Foobar\")\n"
	"(= MAILBOX (cat $HOME-WORD \"/Mailbox\"))\n"
	"(= MAILDIR \"/var/mail\")\n"
	"(= TEXT \"This is a long text string\")\n"
	"(= DIR (` \"ls\"))",

	"(if (/ \"^From:\\\\s*(.*)\" h) (block (= MATCH1 (escape $MATCH1)) "
	"(if (/ (cat \"^Subject:.*\" $MATCH1) h) (block (echo \"same\")))))",

	"(= ADDRLIST \"\")\n"
	"(foreach (/ \"^(To|Cc): .*\" h) (block (foreach (=~ (getaddr "
	"$MATCH) (/ \".+\" h)) (block (= ADDRLIST (cat $ADDRLIST \" \" "
	"$MATCH))))))",

	"(if (&& (/ \"^To:\\\\s*(.*)\" h) (lookup $MATCH1 \"badto.dat\")) "
	"(block (exit)))\n"
	"(= foo (substr $foo \"1\" \"10\"))\n"
	"(= foo (time))\n"
	"(= bar (time))\n"
	"(if (> (length \"string\") \"80\") (block (log \"long\")))\n"
	"(logfile (cat $HOME \"/filter.log\"))\n"
	"(include (cat $HOME \"/.mailfilters/more\"))\n"
	"(system \"touch x\")\n"
	"(while (< $i \"3\") (block (= i (+ $i \"1\"))))",

	"(if (/ \"^Subject: a\" h) (block (to \"A\")) (if (/ \"^Subject: b\" "
	"b 1.5 0.5) (block (to \"B\")) (block (to \"C\"))))",
};

START_TEST(test_recipes)
{
	size_t i;

	for (i = 0; i < NRECIPES; i++)
		expect_tree(recipes[i], recipe_trees[i]);
}
END_TEST

START_TEST(test_crlf_same_tree)
{
	static const char *const eols[] = { "\r\n", "\r" };
	char *src, *a, *b;
	size_t i, e;

	for (i = 0; i < NRECIPES; i++) {
		a = tree_s(recipes[i]);
		ck_assert_ptr_nonnull(a);
		for (e = 0; e < 2; e++) {
			src = crlf(recipes[i], eols[e]);
			b = tree_s(src);
			EXPECT(b != NULL && strcmp(a, b) == 0, "recipe %zu with "
			    "%s line ends: %s\n--- LF:\n%s", i, e == 0 ?
			    "CRLF" : "CR", b != NULL ? b : error_of(src,
			    strlen(src)), a);
			free(b);
			free(src);
		}
		free(a);
	}
}
END_TEST

START_TEST(test_crlf_same_positions)
{
	char *src, *a, *b;
	size_t i;

	for (i = 0; i < NRECIPES; i++) {
		a = tree(recipes[i], strlen(recipes[i]), 1);
		src = crlf(recipes[i], "\r\n");
		b = tree(src, strlen(src), 1);
		EXPECT(a != NULL && b != NULL && strcmp(a, b) == 0, "recipe "
		    "%zu: positions differ with CRLF", i);
		free(a);
		free(b);
		free(src);
	}
}
END_TEST

START_TEST(test_kr_same_as_allman)
{
	static const char *const kr[] = {
		"if ($SIZE < 131072) {\n"
		"  exception {\n"
		"    xfilter \"/usr/bin/spamc -u $RECIPIENT\"\n"
		"  }\n"
		"}\n"
		"if (/^X-Spam-Flag: YES/) {\n"
		"  /X-Spam-Score: (\\d+)/\n"
		"  if ($MATCH1 >= $DELETE_THRESHOLD) {\n"
		"    to /dev/null\n"
		"  } else {\n"
		"    to Mail/.Spam/\n"
		"  }\n"
		"}\n",
		"if (/^Subject: a/) {\n"
		"   to A\n"
		"} elsif (/^Subject: b/) {\n"
		"   to B\n"
		"} else if (/^Subject: c/) {\n"
		"   to C\n"
		"} else {\n"
		"   to D\n"
		"}\n",
		"while ($i < 3) {\n"
		"   i=$i + 1\n"
		"}\n"
		"foreach /^To: .*/ {\n"
		"   echo $MATCH\n"
		"}\n"
		"flock \"x.lock\" {\n"
		"   exit\n"
		"}\n",
	};
	char *a, *b, *src;
	size_t i;

	for (i = 0; i < sizeof(kr) / sizeof(kr[0]); i++) {
		src = allman(kr[i]);
		EXPECT(strcmp(src, kr[i]) != 0, "allman() changed nothing");
		a = tree_s(kr[i]);
		b = tree_s(src);
		EXPECT(a != NULL, "K&R %zu: %s", i, error_of(kr[i],
		    strlen(kr[i])));
		EXPECT(b != NULL, "Allman %zu: %s\n%s", i, error_of(src,
		    strlen(src)), src);
		EXPECT(strcmp(a, b) == 0, "K&R %zu:\n%s\n--- Allman:\n%s", i,
		    a, b);
		free(a);
		free(b);
		free(src);
	}
	/* the same with blank and comment lines between the parts */
	expect_tree("if (/a/) # c\n\n# c\n{\n\nto A\n\n}\n\n# c\nelse # c\n"
	    "\n{\nto B\n}\n",
	    "(if (/ \"a\" h) (block (to \"A\")) (block (to \"B\")))");
	expect_tree("if (/a/) { to A } else { to B }",
	    "(if (/ \"a\" h) (block (to \"A\")) (block (to \"B\")))");
	expect_tree("if (/a/) to A; else to B",
	    "(if (/ \"a\" h) (to \"A\") (to \"B\"))");
}
END_TEST

START_TEST(test_else_if_is_elsif)
{
	char *a = tree_s("if (/a/)\n{\nto A\n}\nelsif (/b/)\n{\nto B\n}\n");
	char *b = tree_s("if (/a/)\n{\nto A\n}\nelse if (/b/)\n{\nto B\n}\n");

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(a, "(if (/ \"a\" h) (block (to \"A\")) (if (/ \"b\" "
	    "h) (block (to \"B\"))))");
	free(a);
	free(b);
}
END_TEST

START_TEST(test_expressions)
{
	/* the precedence table, lowest first */
	expect_tree("x=1 || 2 && 3", "(= x (|| \"1\" (&& \"2\" \"3\")))");
	expect_tree("x=1 && 2 < 3", "(= x (&& \"1\" (< \"2\" \"3\")))");
	expect_tree("x=1 < 2 | 3", "(= x (< \"1\" (| \"2\" \"3\")))");
	expect_tree("x=1 | 2 & 3", "(= x (| \"1\" (& \"2\" \"3\")))");
	expect_tree("x=1 & 2 + 3", "(= x (& \"1\" (+ \"2\" \"3\")))");
	expect_tree("x=1 + 2 * 3", "(= x (+ \"1\" (* \"2\" \"3\")))");
	expect_tree("x=1 - 2 - 3", "(= x (- (- \"1\" \"2\") \"3\"))");
	expect_tree("x=8 / 2 / 2", "(= x (/ (/ \"8\" \"2\") \"2\"))");
	expect_tree("x=2 * $a =~ /b/", "(= x (* \"2\" (=~ $a (/ \"b\" h))))");
	expect_tree("x=$a !~ /b/:D", "(= x (!~ $a (/ \"b\" hD)))");
	expect_tree("x=!/a/ && ~$b", "(= x (&& (! (/ \"a\" h)) (~ $b)))");
	expect_tree("x=- 3", "(= x (neg \"3\"))");
	expect_tree("x=-3", "(= x \"-3\")");
	expect_tree("x=5 -1", "(= x \"5-1\")");
	expect_tree("x=$a-1", "(= x (cat $a \"-1\"))");
	expect_tree("x=(1 + 2) * 3", "(= x (* (+ \"1\" \"2\") \"3\"))");
	expect_tree("x=a lt b", "(= x (lt \"a\" \"b\"))");
	expect_tree("x=a le b || a ge b || a gt b || a eq b",
	    "(= x (|| (|| (|| (le \"a\" \"b\") (ge \"a\" \"b\")) (gt \"a\" "
	    "\"b\")) (eq \"a\" \"b\")))");
	expect_tree("x=1 != 2 || 1 == 2 || 1 <= 2 || 1 > 2",
	    "(= x (|| (|| (|| (!= \"1\" \"2\") (== \"1\" \"2\")) (<= \"1\" "
	    "\"2\")) (> \"1\" \"2\")))");
	/* texts side by side concatenate, with or without spaces */
	expect_tree("x=\"a\" 'b' c \"$d\"", "(= x (cat \"abc\" $d))");
	expect_tree("x=\"a\"`b`", "(= x (cat \"a\" (` \"b\")))");
	/* quoting rules */
	expect_tree("x='a\\'b\\\\c\\$d\\e\"'", "(= x \"a'b\\\\c\\\\$d\\\\e\\\"\")");
	expect_tree("x=\"a\\\"b\\\\c\\$d\\e'$\"",
	    "(= x \"a\\\"b\\\\c$d\\\\e'$\")");
	expect_tree("x=\"$1 ${a b} $_x9.y\"",
	    "(= x (cat \"$1 \" $a b \" \" $_x9 \".y\"))");
	expect_tree("x='$HOME'", "(= x \"$HOME\")");
	/* patterns: $ anchors stay, \/ and \$ keep their backslash */
	expect_tree("/a\\/b\\$c$/", "(expr (/ \"a\\\\/b\\\\$c$\" h))");
	expect_tree("/^$A${B}x$/:hb", "(expr (/ (cat \"^\" $A $B \"x$\") hb))");
	expect_tree("/a/:b,2", "(expr (/ \"a\" b 2 1))");
	expect_tree("/a/:,-1.5,2", "(expr (/ \"a\" h -1.5 2))");
	expect_tree("/a/:D", "(expr (/ \"a\" hD))");
	expect_tree("//", "(expr (/ \"\" h))");
	expect_tree("/$RE/", "(expr (/ (cat $RE) h))");
	/* a slash where an operand is expected: a pattern; else division */
	expect_tree("x=$a / 2", "(= x (/ $a \"2\"))");
	expect_tree("x=$a/2", "(= x (cat $a \"/2\"))");
	expect_tree("x=1 + /a/", "(= x (+ \"1\" (/ \"a\" h)))");
	expect_tree("x=/a/", "(= x \"/a/\")");
	/* functions */
	expect_tree("x=substr(\"abc\", 1)", "(= x (substr \"abc\" \"1\"))");
	expect_tree("x=lookup($a, \"f\", \"D\")",
	    "(= x (lookup $a \"f\" \"D\"))");
	expect_tree("x=toupper(tolower(a))", "(= x (toupper (tolower \"a\")))");
	expect_tree("x=length $a + 1", "(= x (+ (length $a) \"1\"))");
	expect_tree("x=time + 1", "(= x (+ (time) \"1\"))");
	expect_tree("x=( 1\n+\n2 )", "(= x (+ \"1\" \"2\"))");
	/* names and statements */
	expect_tree("\"a b\"=1", "(= a b \"1\")");
	expect_tree("x-y.z = 1; import PATH", "(= x-y.z \"1\")\n(import PATH)");
	expect_tree("echo \"a\" ; log b ; logfile /tmp/x",
	    "(echo \"a\")\n(log \"b\")\n(logfile \"/tmp/x\")");
	expect_tree("to $DEFAULT/.Spam", "(to (cat $DEFAULT \"/.Spam\"))");
	expect_tree("if (1)\n  if (2)\n    to A\n  else\n    to B\n",
	    "(if \"1\" (if \"2\" (to \"A\") (to \"B\")))");
	expect_tree("", "");
	expect_tree("\n\n# only a comment\n;;\n", "");
	expect_tree("exit # done", "(exit)");
	expect_tree("\xef\xbb\xbfif (/a/) to A", "(if (/ \"a\" h) (to \"A\"))");
	expect_tree("to A \\\n  B", "(to \"AB\")");
	expect_tree("to Mail/\xc3\x89t\xc3\xa9",
	    "(to \"Mail/\\xc3\\x89t\\xc3\\xa9\")");
}
END_TEST

START_TEST(test_positions)
{
	char *t = tree("x = \"a$B\"\nif (/c/)\n{\n\tto /d\n}\n",
	    strlen("x = \"a$B\"\nif (/c/)\n{\n\tto /d\n}\n"), 1);

	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, "(= x (cat \"a\"@1:6 $B@1:7)@1:5)@1:1\n"
	    "(if (/ \"c\"@2:6 h)@2:5 (block (to \"/d\"@4:5)@4:2)@3:1)@2:1");
	free(t);
}
END_TEST

START_TEST(test_errors)
{
	expect_error("if ($a\n{\n}\n", "2:1: expected ')' to close the "
	    "condition of 'if' opened at 1:4");
	expect_error("if (1) {\n  x = \"abc\n}\n", "2:11: unterminated "
	    "string started at 2:7");
	expect_error("x = 'abc", "1:9: unterminated string started at 1:5");
	expect_error("x = `abc\n", "1:9: unterminated command substitution "
	    "started at 1:5");
	expect_error("if (/abc\n", "1:9: unterminated pattern started at "
	    "1:5 (expected '/')");
	expect_error("x = foo(1)", "1:5: unknown function 'foo'");
	expect_error("else\n", "1:1: 'else' without 'if'");
	expect_error("to A\nelsif (1) to B\n", "2:1: 'elsif' without 'if'");
	expect_error("if (1) to A\n\nx=1\nelse to B\n",
	    "4:1: 'else' without 'if'");
	expect_error("if gdbmopen(\"v\", \"C\") == 0\n", "1:4: expected '(' "
	    "after 'if', found 'gdbmopen'");
	expect_error("if (gdbmopen(\"v\", \"C\") == 0)\n{\n}\n", "1:5: GDBM "
	    "functions are not supported ('gdbmopen')");
	expect_error("gdbmclose\n", "1:1: GDBM functions are not supported "
	    "('gdbmclose')");
	expect_error("x = substr(1)", "1:5: 'substr' takes 2 to 3 arguments, "
	    "not 1");
	expect_error("x = length(1, 2)", "1:5: 'length' takes 1 argument, "
	    "not 2");
	expect_error("x = time(1)", "1:5: 'time' takes 0 arguments, not 1");
	expect_error("x = substr $a", "1:12: expected '(' after 'substr', "
	    "found a text");
	expect_error("x = length\n", "1:11: expected '(' after 'length', "
	    "found the end of the line");
	expect_error("x = substr(1, 2", "1:16: expected ',' or ')' after an "
	    "argument of 'substr' opened at 1:11, found the end of the file");
	expect_error("if (1)\n{\n  to A\n", "4:1: expected '}' to close the "
	    "block opened at 2:1");
	expect_error("}\n", "1:1: '}' without '{'");
	expect_error("to A\n{\n}\n", "2:1: unexpected '{' (a block follows "
	    "if, else, while, foreach, exception, flock or dotlock)");
	expect_error("\xef\xbb\xbfto", "1:3: expected a mailbox after 'to', "
	    "found the end of the file");
	expect_error("to\n", "1:3: expected a mailbox after 'to', found the "
	    "end of the line");
	expect_error("x=\n", "1:3: expected a value after 'x=', found the end "
	    "of the line");
	expect_error("to A )", "1:6: expected the end of the statement (a "
	    "new line or ';'), found ')'");
	expect_error("x = 1 < 2 < 3", "1:11: comparisons do not chain: use "
	    "parentheses around the comparison before '<'");
	expect_error("x = (1 + 2", "1:11: expected ')' to close the '(' "
	    "opened at 1:5");
	expect_error("x = 1 +", "1:8: expected an expression, found the end "
	    "of the file");
	expect_error("x = $a =~ b", "1:11: expected /pattern/ after '=~', "
	    "found 'b'");
	expect_error("foreach $a\n{\n}\n", "1:1: expected /pattern/ or "
	    "(expression) =~ /pattern/ after 'foreach'");
	expect_error("exception to A", "1:11: expected '{' after 'exception', "
	    "found 'to'");
	expect_error("flock x\nto A", "2:1: expected '{' after the file of "
	    "'flock', found 'to'");
	expect_error("import\n", "1:7: expected a variable name after "
	    "'import', found the end of the line");
	expect_error("if (1)\n", "2:1: expected '{' or a statement after the "
	    "condition of 'if' at 1:1, found the end of the file");
	expect_error("if (1) to A\nelse\n}", "3:1: expected '{' or a "
	    "statement after 'else' at 2:1, found '}'");
	expect_error("x = 1 + /a/:q", "1:13: unknown pattern option 'q' (expected "
	    "h, b or D)");
	expect_error("x = 1 + /a/:b,1e999", "1:15: expected a number for the "
	    "weight of the pattern");
	expect_error("x = 1 + /a/:b,1,x", "1:16: expected the end of the "
	    "statement (a new line or ';'), found ','");
	expect_error("x = 1 \\ 2", "1:7: a '\\' outside quotes must end the "
	    "line (a continuation)");
	expect_error("cc !user@example.com", "1:4: '!' before an unquoted "
	    "address is the operator 'not': write cc \"!address\" to "
	    "forward");
	expect_error("x = 1 ? 2", "1:7: unexpected character '?'");
	expect_error("x = \"${abc\"", "1:6: unterminated '${' (expected '}' "
	    "before the end of the line)");
	expect_error("x = \"${}\"", "1:6: empty variable name in '${}'");
	expect_error("\"\"=1", "1:1: empty variable name");
	expect_error("x = \x01", "1:5: unexpected byte 0x01");
	expect_error("$x = 1", "1:1: expected a variable name before '=' (a "
	    "name is written without '$')");
	/* CRLF: the same columns */
	expect_error("if ($a\r\n{\r\n}\r\n", "2:1: expected ')' to close the "
	    "condition of 'if' opened at 1:4");
	expect_error("x=1\r\ny = \"a\r\n", "2:7: unterminated string started "
	    "at 2:5");
}
END_TEST

/* "x=((...(1)...))" with k parentheses. */
static char *
parens(size_t k)
{
	char *s = must_malloc(2 * k + 4);
	size_t i;

	memcpy(s, "x=", 2);
	for (i = 0; i < k; i++)
		s[2 + i] = '(';
	s[2 + k] = '1';
	for (i = 0; i < k; i++)
		s[3 + k + i] = ')';
	s[3 + 2 * k] = '\0';
	return s;
}

START_TEST(test_limits)
{
	struct filter_prog *prog = NULL;
	struct filter_error err;
	char *src, *e;
	size_t i, k, n;

	/* NUL bytes */
	e = error_of("x=1\ny=\"a\0b\"\n", 12);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, "2:5: a NUL byte in the file");
	free(e);
	/* the size of the file */
	n = FILTER_FILE_MAX + 1;
	src = must_malloc(n);
	memset(src, '\n', n);
	ck_assert_int_eq(filter_parse("f", src, n, &prog, &err), -1);
	ck_assert_ptr_null(prog);
	ck_assert_str_eq(err.msg, "the file is larger than 262144 bytes");
	ck_assert_int_eq(filter_parse("f", src, n - 1, &prog, &err), 1);
	filter_prog_free(&prog);
	free(src);
	/* nesting: blocks, parentheses, unary operators */
	n = FILTER_DEPTH_MAX + 1;
	src = must_malloc(n * 12 + 16);
	for (i = 0; i < n; i++)
		memcpy(src + i * 12, "exception {\n", 12);
	src[n * 12] = '\0';
	e = error_of(src, strlen(src));
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, "65:11: nested deeper than 64 levels");
	free(e);
	free(src);
	src = parens(FILTER_DEPTH_MAX + 1);
	e = error_of(src, strlen(src));
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, "1:67: nested deeper than 64 levels");
	free(e);
	free(src);
	src = parens(FILTER_DEPTH_MAX);
	e = error_of(src, strlen(src));
	ck_assert_msg(e == NULL, "%s", e);
	free(src);
	/* a long chain of operators is a deep tree */
	src = must_malloc(4 * 300 + 16);
	strcpy(src, "x=1");
	for (i = 0; i < 300; i++)
		strcat(src, "+1");
	e = error_of(src, strlen(src));
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, "1:97: the syntax tree is deeper than 256 "
	    "levels (each elsif of a chain and each operator of a chain "
	    "a+b+... is one level)");
	free(e);
	free(src);
	/* a chain of 200 elsif (and else if) is fine, of 300 too deep */
	for (k = 0; k < 2; k++) {
		n = k == 0 ? 200 : 300;
		src = must_malloc(n * 40 + 64);
		strcpy(src, "if (/a/) to A\n");
		for (i = 0; i < n; i++)
			strcat(src, i % 2 ? "elsif (/b/) to B\n" :
			    "else if (/c/)\n{\n to C\n}\n");
		strcat(src, "else to D\n");
		e = error_of(src, strlen(src));
		if (k == 0)
			ck_assert_msg(e == NULL, "%s", e);
		else {
			ck_assert_ptr_nonnull(e);
			ck_assert_msg(strstr(e, "the syntax tree is deeper") !=
			    NULL, "%s", e);
		}
		free(e);
		free(src);
	}
	/* one text */
	n = FILTER_TEXT_MAX + 1;
	src = must_malloc(n + 16);
	memcpy(src, "x=\"", 3);
	memset(src + 3, 'a', n);
	memcpy(src + 3 + n, "\"", 2);
	e = error_of(src, strlen(src));
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e, "1:3: text longer than 65536 bytes");
	free(e);
	src[3 + n - 1] = '"';
	src[3 + n] = '\0';
	ck_assert_ptr_null(error_of(src, strlen(src)));
	free(src);
	/* many texts side by side: one text, built in linear time */
	n = 30000;
	src = must_malloc(n * 3 + 16);
	memcpy(src, "x=", 2);
	for (i = 0; i < n; i++)
		memcpy(src + 2 + i * 3, "'a'", 3);
	src[2 + n * 3] = '\0';
	e = tree_s(src);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(strlen(e), n + 8);
	ck_assert(strncmp(e, "(= x \"aaa", 9) == 0);
	free(e);
	free(src);
	/* nodes */
	n = FILTER_NODES_MAX / 2 + 10;
	src = must_malloc(n * 5 + 16);
	for (i = 0; i < n; i++)
		memcpy(src + i * 5, "to a\n", 5);
	e = error_of(src, n * 5);
	ck_assert_ptr_nonnull(e);
	ck_assert_msg(strstr(e, "more than 100000 syntax tree nodes") != NULL,
	    "%s", e);
	free(e);
	free(src);
}
END_TEST

/* Every prefix of every recipe parses or errors, inside the text. */
START_TEST(test_prefixes)
{
	struct filter_prog *prog;
	struct filter_error err;
	const char *r;
	char *src;
	size_t i, k, e, len, lines;
	int ret;

	for (i = 0; i < NRECIPES; i++) {
		for (e = 0; e < 2; e++) {
			src = e == 0 ? strdup(recipes[i]) :
			    crlf(recipes[i], "\r\n");
			len = strlen(src);
			for (lines = 1, r = src; *r != '\0'; r++)
				lines += *r == '\n';
			for (k = 0; k <= len; k++) {
				prog = NULL;
				/* a copy of exactly k bytes: ASan sees reads past */
				char *cut = must_malloc(k + 1);
				memcpy(cut, src, k);
				ret = filter_parse("f", cut, k, &prog, &err);
				EXPECT(ret == 0 || ret == 1, "recipe %zu prefix %zu: "
				    "%d", i, k, ret);
				if (ret == 1)
					filter_prog_free(&prog);
				else
					EXPECT(err.line >= 1 && err.line <=
					    lines && err.col >= 1 &&
					    err.msg[0] != '\0', "recipe %zu prefix "
					    "%zu: %u:%u %s", i, k, err.line,
					    err.col, err.msg);
				free(cut);
			}
			free(src);
		}
	}
}
END_TEST

/* The evaluator's caches are freed with the prog. */
static int	freed;

static void
count_free(void *p)
{
	freed++;
	free(p);
}

START_TEST(test_cache_free)
{
	struct filter_prog *prog = NULL;
	struct filter_error err;
	const char *src = "if (/a/ && /b/) to A";
	struct filter_node *c;

	ck_assert_int_eq(filter_parse("f", src, strlen(src), &prog, &err), 1);
	prog->cache_free = count_free;
	c = prog->root->kids[0]->kids[0];
	c->kids[0]->cache = must_malloc(1);
	c->kids[1]->cache = must_malloc(1);
	freed = 0;
	filter_prog_free(&prog);
	ck_assert_int_eq(freed, 2);
	filter_prog_free(&prog);
}
END_TEST

START_TEST(test_builtins_table)
{
	const struct filter_builtin *b;
	size_t n = 0;

	for (b = filter_builtins; b->name != NULL; b++, n++)
		ck_assert_uint_le(b->min_args, b->max_args);
	ck_assert_uint_eq(n, 9);
}
END_TEST

static Suite *
lang_suite(void)
{
	Suite *s = suite_create("filter_lang");
	TCase *tc = tcase_create("lang");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_recipes);
	tcase_add_test(tc, test_crlf_same_tree);
	tcase_add_test(tc, test_crlf_same_positions);
	tcase_add_test(tc, test_kr_same_as_allman);
	tcase_add_test(tc, test_else_if_is_elsif);
	tcase_add_test(tc, test_expressions);
	tcase_add_test(tc, test_positions);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_prefixes);
	tcase_add_test(tc, test_cache_free);
	tcase_add_test(tc, test_builtins_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lang_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
