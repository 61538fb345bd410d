/*
 * check_filter_eval.c - the filter evaluator (filter/eval.c, action.c,
 * match.c, func.c, folder.c).
 *
 * The programs are a fake exec callback that records what it was asked
 * (argv, environment, input) and answers like the real tools would: a
 * fake spamc adds X-Spam-Flag/X-Spam-Score headers (score by content:
 * GTUBE 1000, "viagra" 5.5, else 0.1), and read_file serves a table of
 * files.  The hosting-guide recipes run as syntax trees built here (the
 * parser is another module); include parses the included file with
 * filter_parse().
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "filter/eval.h"
#include "mail/maildir.h"

#define GTUBE	"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-" \
		"EMAIL*C.34X"

static const char msg_spam[] =
	"Return-Path: <seller@spam.example>\n"
	"From: Seller <seller@spam.example>\n"
	"To: Bill <bill@example.com>,\n"
	"\tCarol <carol@example.com>\n"
	"Cc: spam@mydomain.com\n"
	"Subject: buy viagra now\n"
	"\n"
	"Cheap viagra.\n"
	"More viagra, viagra.\n"
	"Order now\n";

static const char msg_ham[] =
	"From: Alice <alice@example.org>\r\n"
	"To: bill@example.com\r\n"
	"Subject: lunch\r\n"
	"  tomorrow?\r\n"
	"Resent-To: dave@Example.NET\r\n"
	"\r\n"
	"Shall we have lunch?\r\n"
	"Regards\r\n";

static const char msg_gtube[] =
	"From: test@example.org\n"
	"To: bill@example.com\n"
	"Subject: test\n"
	"\n"
	GTUBE "\n";

/* The tree builder: every node of a test, freed by tree_free(). */
#define NODES_MAX	512
static struct filter_node	*nodes[NODES_MAX];
static size_t			 nnodes;
static unsigned			 next_line = 1;

static struct filter_node *
node(enum filter_kind kind, size_t nkids, ...)
{
	struct filter_node *n;
	va_list ap;
	size_t i;

	ck_assert(nnodes < NODES_MAX);
	n = calloc(1, sizeof(*n));
	n->kind = kind;
	n->file = "test.filter";
	n->line = next_line++;
	n->col = 1;
	n->nkids = nkids;
	n->kids = calloc(nkids + 1, sizeof(*n->kids));
	va_start(ap, nkids);
	for (i = 0; i < nkids; i++)
		n->kids[i] = va_arg(ap, struct filter_node *);
	va_end(ap);
	nodes[nnodes++] = n;
	return n;
}

static struct filter_node *
T(const char *s)
{
	struct filter_node *n = node(FK_TEXT, 0);

	n->text = strdup(s);
	n->len = strlen(s);
	return n;
}

static struct filter_node *
V(const char *name)
{
	struct filter_node *n = node(FK_VAR, 0);

	n->name = strdup(name);
	return n;
}

static struct filter_node *
named(struct filter_node *n, const char *name)
{
	n->name = strdup(name);
	return n;
}

static struct filter_node *
PATX(struct filter_node *re, unsigned flags)
{
	struct filter_node *n = node(FK_PATTERN, 1, re);

	n->pat_flags = flags;
	n->pat_w1 = 1;
	n->pat_w2 = 1;
	return n;
}

static struct filter_node *
PAT(const char *re, unsigned flags)
{
	return PATX(T(re), flags);
}

static struct filter_node *
PATW(const char *re, unsigned flags, double w1, double w2)
{
	struct filter_node *n = PAT(re, flags | FILTER_PAT_WEIGHTED);

	n->pat_w1 = w1;
	n->pat_w2 = w2;
	return n;
}

static struct filter_node *
BIN(enum filter_op op, struct filter_node *a, struct filter_node *b)
{
	struct filter_node *n = node(FK_BINARY, 2, a, b);

	n->op = op;
	return n;
}

static struct filter_node *
UN(enum filter_op op, struct filter_node *a)
{
	struct filter_node *n = node(FK_UNARY, 1, a);

	n->op = op;
	return n;
}

static struct filter_node *
SET(const char *name, struct filter_node *e)
{
	return named(node(FK_ASSIGN, 1, e), name);
}

#define CAT(...)	node(FK_CONCAT, NARGS(__VA_ARGS__), __VA_ARGS__)
#define BLK(...)	node(FK_BLOCK, NARGS(__VA_ARGS__), __VA_ARGS__)
#define CALL(name, ...)	named(node(FK_CALL, NARGS(__VA_ARGS__), \
			    __VA_ARGS__), name)
#define CALL0(name)	named(node(FK_CALL, 0), name)
#define NARGS(...)	(sizeof((struct filter_node *[]){ __VA_ARGS__ }) / \
			    sizeof(struct filter_node *))
#define EXPR(e)		node(FK_EXPR, 1, e)
#define IF(c, t)	node(FK_IF, 2, c, t)
#define IFELSE(c, t, e)	node(FK_IF, 3, c, t, e)
#define TO(e)		node(FK_TO, 1, e)
#define CC(e)		node(FK_CC, 1, e)
#define XFILTER(e)	node(FK_XFILTER, 1, e)

static struct filter_prog	 prog;

static void
tree_free(void)
{
	size_t i;

	for (i = 0; i < nnodes; i++) {
		if (nodes[i]->cache != NULL) {
			ck_assert(prog.cache_free != NULL);
			prog.cache_free(nodes[i]->cache);
		}
		free(nodes[i]->name);
		free(nodes[i]->text);
		free(nodes[i]->kids);
		free(nodes[i]);
	}
	nnodes = 0;
	next_line = 1;
	memset(&prog, 0, sizeof(prog));
}

/* The fake programs. */
#define CALLS_MAX	16
static struct {
	int	 n;
	int	 kind[CALLS_MAX];
	char	 argv[CALLS_MAX][512];	/* words joined by '|' */
	char	*env[CALLS_MAX];	/* entries ended by '\001' */
	char	*input[CALLS_MAX];	/* NULL for /dev/null */
	int	 spamc_status;		/* what the fake spamc exits with */
} fake;

static void
fake_reset(void)
{
	int i;

	for (i = 0; i < fake.n; i++) {
		free(fake.env[i]);
		free(fake.input[i]);
	}
	memset(&fake, 0, sizeof(fake));
}

static void
set_out(struct filter_exec_result *r, const char *s, size_t len)
{
	r->out = malloc(len + 1);
	memcpy(r->out, s, len);
	r->out[len] = '\0';
	r->outlen = len;
}

static int
fake_exec(void *arg, const struct filter_exec *ex,
    struct filter_exec_result *r)
{
	const char *prog0 = ex->argv[0];
	char buf[8192], *p;
	size_t i, len;
	int k = fake.n;

	(void)arg;
	ck_assert(k < CALLS_MAX);
	fake.n++;
	fake.kind[k] = ex->kind;
	for (i = 0; ex->argv[i] != NULL; i++) {
		if (i > 0)
			strcat(fake.argv[k], "|");
		strcat(fake.argv[k], ex->argv[i]);
	}
	for (len = 0, i = 0; ex->envp[i] != NULL; i++)
		len += strlen(ex->envp[i]) + 1;
	fake.env[k] = calloc(1, len + 1);
	for (i = 0; ex->envp[i] != NULL; i++) {
		strcat(fake.env[k], ex->envp[i]);
		strcat(fake.env[k], "\001");
	}
	fake.input[k] = ex->input != NULL ? strndup(ex->input, ex->inlen) :
	    NULL;

	memset(r, 0, sizeof(*r));
	if (strcmp(prog0, "/usr/bin/spamc") == 0) {
		const char *flag = "NO", *score = "0.1";

		if (strstr(ex->cmdline, "--spam") != NULL)
			return 0;	/* training: reads, says nothing */
		if (strstr(fake.input[k], "GTUBE") != NULL) {
			flag = "YES";
			score = "1000.0";
		} else if (strstr(fake.input[k], "viagra") != NULL) {
			flag = "YES";
			score = "5.5";
		}
		r->status = fake.spamc_status;
		len = (size_t)snprintf(buf, sizeof(buf), "X-Spam-Flag: %s\n"
		    "X-Spam-Score: %s\n%s", flag, score, fake.input[k]);
		set_out(r, buf, len);
		return 0;
	}
	if (strcmp(prog0, "/home/bill/reverse.sh") == 0) {
		/* Its body upside down: here, the body in upper case. */
		snprintf(buf, sizeof(buf), "%s", fake.input[k]);
		p = strstr(buf, "\n\n");
		for (p = p != NULL ? p : buf; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p -= 'a' - 'A';
		set_out(r, buf, strlen(buf));
		return 0;
	}
	if (strcmp(prog0, "echo") == 0) {
		buf[0] = '\0';
		for (i = 1; ex->argv[i] != NULL; i++) {
			strcat(buf, ex->argv[i]);
			strcat(buf, i == 1 ? "\n\n" : "\n");
		}
		set_out(r, buf, strlen(buf));
		return 0;
	}
	if (strcmp(prog0, "false") == 0) {
		r->status = 1;
		return 0;
	}
	if (strcmp(prog0, "/bin/cat") == 0) {
		set_out(r, ex->input, ex->inlen);
		return 0;
	}
	if (strcmp(prog0, "slow") == 0) {
		r->status = 128 + 9;
		r->timed_out = 1;
		return 0;
	}
	if (strcmp(prog0, "big") == 0) {
		set_out(r, "X: y\n\nbody\n", 11);
		r->truncated = 1;
		return 0;
	}
	if (strcmp(prog0, "empty") == 0)
		return 0;
	if (strcmp(prog0, "exit3") == 0) {
		r->status = 3;
		return 0;
	}
	return err_set(ERR_NOTFOUND, "%s: no such program", prog0);
}

/* The fake files, relative to HOME. */
static const struct {
	const char	*path;
	const char	*text;
} files[] = {
	{ "badto.dat", "# bad recipients\n\n  friend@public\n^[^@]*$\n" },
	{ "case.dat", "ALICE@example\n" },
	{ "badre.dat", "ok\n(unclosed\n" },
	{ "inc1", "INCLUDED=yes\nto Mail/.Inc/\n" },
	{ "incbad", "if (\n" },
	{ "incself", "DEPTH=$DEPTH.\ninclude incself\n" },
	{ "incerr", "xfilter false\nAFTER=1\n" },
	{ NULL, NULL },
};

static int
fake_read(void *arg, const char *path, char **data_r, size_t *len_r)
{
	size_t i;

	(void)arg;
	if (strcmp(path, "unreadable") == 0)
		return err_set(ERR_PERM, "permission denied");
	for (i = 0; files[i].path != NULL; i++)
		if (strcmp(files[i].path, path) == 0) {
			*data_r = strdup(files[i].text);
			*len_r = strlen(files[i].text);
			return 1;
		}
	return 0;
}

static char	logged[4096];
static char	logged_file[256];

static void
fake_log(void *arg, const char *logfile, const char *text)
{
	(void)arg;
	snprintf(logged_file, sizeof(logged_file), "%s", logfile);
	if (strlen(logged) + strlen(text) + 2 < sizeof(logged)) {
		strcat(logged, text);
		strcat(logged, "\n");
	}
}

static char *const import_env[] = { "ORIG=from the caller",
    "DEFAULT=courier-default", NULL };

static struct filter_env
env_for(const char *msg)
{
	struct filter_env env;

	memset(&env, 0, sizeof(env));
	env.msg = msg;
	env.msglen = strlen(msg);
	env.home = "/home/bill";
	env.logname = "bill@example.com";
	env.recipient = "bill@example.com";
	env.sender = "seller@spam.example";
	env.extension = "";
	env.hostname = "mx.example.com";
	env.deflt = "./Maildir";
	env.path = "/usr/bin:/bin";
	env.env = import_env;
	env.exec = fake_exec;
	env.read_file = fake_read;
	env.log = fake_log;
	return env;
}

static struct filter_result	res;

/* Runs root against msg; returns filter_eval()'s value. */
static int
run_on(struct filter_node *root, const char *msg)
{
	struct filter_env env = env_for(msg);
	const struct filter_prog *progs[1] = { &prog };

	filter_result_clear(&res);
	prog.file = "test.filter";
	prog.root = root;
	logged[0] = '\0';
	return filter_eval(progs, 1, &env, &res);
}

static void
setup(void)
{
	memset(&res, 0, sizeof(res));
}

static void
teardown(void)
{
	filter_result_clear(&res);
	tree_free();
	fake_reset();
}

/* The value of variable name after the run, through a program's env. */
static const char *
env_of(int call, const char *name)
{
	static char val[1024];
	const char *p;
	size_t len = strlen(name);

	ck_assert_int_lt(call, fake.n);
	for (p = fake.env[call]; p != NULL && *p != '\0';) {
		if (strncmp(p, name, len) == 0 && p[len] == '=') {
			const char *e = strchr(p, '\001');

			snprintf(val, sizeof(val), "%.*s", (int)(e - p - len - 1),
			    p + len + 1);
			return val;
		}
		p = strchr(p, '\001');
		p = p != NULL ? p + 1 : NULL;
	}
	return NULL;
}

/*
 * Runs e and shows the result through `system "echo" $R`: the value
 * that an expression gives, as a program sees it.
 */
static const char *
value_of(struct filter_node *e, const char *msg)
{
	struct filter_node *root;
	const char *v;

	root = BLK(SET("R", e), node(FK_SYSTEM, 1, T("empty")), TO(T(
	    "/dev/null")));
	fake_reset();
	ck_assert_msg(run_on(root, msg) == 0, "failed: %s", res.error);
	v = env_of(fake.n - 1, "R");
	ck_assert(v != NULL);
	return v;
}

/* res.error is "test.filter:LINE:1: what" with n's line. */
static void
ck_error(const struct filter_node *n, const char *what)
{
	char want[1024];

	snprintf(want, sizeof(want), "test.filter:%u:1: %s", n->line, what);
	ck_assert_str_eq(res.error, want);
	ck_assert(res.failed);
}

#define ck_action(i, k, a) do {						\
	ck_assert_msg(res.nactions > (i), "only %zu actions",		\
	    res.nactions);						\
	ck_assert_int_eq(res.actions[i].kind, (k));			\
	ck_assert_str_eq(res.actions[i].arg, (a));			\
} while (0)

/* The first recipe of issue 11: SpamAssassin through spamc. */
static struct filter_node *
recipe_spamc(void)
{
	return BLK(
	    IF(BIN(FO_LT, V("SIZE"), T("131072")),
		BLK(node(FK_EXCEPTION, 1, BLK(XFILTER(CAT(
		    T("/usr/bin/spamc -u "), V("RECIPIENT"))))))),
	    SET("DELETE_THRESHOLD", T("10.0")),
	    IF(PAT("^X-Spam-Flag: YES", 0),
		BLK(EXPR(PAT("X-Spam-Score: (\\d+)", 0)),
		    IFELSE(BIN(FO_GE, V("MATCH1"), V("DELETE_THRESHOLD")),
			BLK(TO(T("/dev/null"))),
			BLK(TO(T("Mail/.Spam/")))))));
}

START_TEST(recipe_spamc_spam)
{
	ck_assert_int_eq(run_on(recipe_spamc(), msg_spam), 0);
	ck_assert_int_eq(fake.n, 1);
	ck_assert_int_eq(fake.kind[0], FILTER_EXEC_XFILTER);
	ck_assert_str_eq(fake.argv[0], "/usr/bin/spamc|-u|bill@example.com");
	ck_assert_str_eq(fake.input[0], msg_spam);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "Spam");
	ck_assert_int_eq(res.actions[0].msg, 1);
	ck_assert_int_eq(res.nmsgs, 2);
	ck_assert(strncmp(res.msgs[1], "X-Spam-Flag: YES\n", 17) == 0);
	ck_assert(res.ended);
	ck_assert(!res.failed);
}
END_TEST

START_TEST(recipe_spamc_gtube)
{
	ck_assert_int_eq(run_on(recipe_spamc(), msg_gtube), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_DISCARD, "/dev/null");
	ck_assert(res.ended);
}
END_TEST

START_TEST(recipe_spamc_ham)
{
	ck_assert_int_eq(run_on(recipe_spamc(), msg_ham), 0);
	ck_assert_int_eq(fake.n, 1);
	/* No to: the default delivery to $DEFAULT, the Maildir: INBOX. */
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
	ck_assert_int_eq(res.actions[0].msg, 1);
	ck_assert(!res.ended);
}
END_TEST

START_TEST(recipe_spamc_fails_inside_exception)
{
	fake.spamc_status = 74;
	ck_assert_int_eq(run_on(recipe_spamc(), msg_spam), 0);
	/* The xfilter failed: the message stays the original one. */
	ck_assert_int_eq(res.nmsgs, 1);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
	ck_assert_int_eq(res.actions[0].msg, 0);
	ck_assert(!res.failed);
	ck_assert_msg(strstr(logged, ": xfilter "
	    "\"/usr/bin/spamc -u bill@example.com\": exit status not 0") !=
	    NULL, "logged: %s", logged);
}
END_TEST

START_TEST(recipe_spamc_big_message_skipped)
{
	static char big[140000];

	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "Subject: big\n\n", 14);
	ck_assert_int_eq(run_on(recipe_spamc(), big), 0);
	ck_assert_int_eq(fake.n, 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(recipe_per_user)
{
	struct filter_node *root = BLK(IF(BIN(FO_AND, BIN(FO_SNE,
	    V("LOGNAME"), T("bill")), PAT("^X-Spam-Flag: YES", 0)),
	    BLK(TO(T("/dev/null")))));
	static const char flagged[] = "X-Spam-Flag: YES\nSubject: x\n\nx\n";

	/* LOGNAME is the address "bill@example.com", not "bill". */
	ck_assert_int_eq(run_on(root, flagged), 0);
	ck_action(0, FILTER_ACT_DISCARD, "/dev/null");
	filter_result_clear(&res);
	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(recipe_spam_trap)
{
	struct filter_node *root = BLK(IF(CALL("hasaddr",
	    T("spam@mydomain.com")), BLK(TO(CAT(
	    T("|/usr/bin/spamc --spam -u "), V("RECIPIENT"))))));

	ck_assert_int_eq(run_on(root, msg_spam), 0);
	ck_assert_int_eq(fake.n, 1);
	ck_assert_int_eq(fake.kind[0], FILTER_EXEC_PIPE);
	ck_assert_str_eq(fake.argv[0],
	    "/usr/bin/spamc|--spam|-u|bill@example.com");
	ck_assert_str_eq(fake.input[0], msg_spam);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_PIPE, "/usr/bin/spamc --spam -u "
	    "bill@example.com");
	ck_assert(res.ended);
	ck_assert_str_eq(env_of(0, "RECIPIENT"), "bill@example.com");

	/* Not trapped: no pipe, the default delivery. */
	filter_result_clear(&res);
	fake_reset();
	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_assert_int_eq(fake.n, 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(recipe_forward)
{
	ck_assert_int_eq(run_on(BLK(TO(T("!user@example.com"))), msg_ham), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FORWARD, "user@example.com");
	ck_assert(res.ended);
}
END_TEST

START_TEST(forward_option_refused)
{
	struct filter_node *to = TO(T("!user@example.com -oQ/tmp"));

	ck_assert_int_eq(run_on(BLK(to), msg_ham), -1);
	ck_error(to, "forward to \"-oQ/tmp\": an address cannot start with "
	    "'-'");
	ck_assert_int_eq(res.nactions, 0);
	ck_assert_int_eq(run_on(BLK(TO(T("!  , "))), msg_ham), -1);
	ck_assert_msg(strstr(res.error, "no address") != NULL, "error: %s",
	    res.error);
}
END_TEST

START_TEST(recipe_cc_forward)
{
	ck_assert_int_eq(run_on(BLK(CC(T("!user@example.com")),
	    CC(T("!a@x.example b@x.example,c@x.example"))), msg_ham), 0);
	/* cc goes on: the default delivery follows (as maildrop). */
	ck_assert_int_eq(res.nactions, 5);
	ck_action(0, FILTER_ACT_FORWARD, "user@example.com");
	ck_action(1, FILTER_ACT_FORWARD, "a@x.example");
	ck_action(2, FILTER_ACT_FORWARD, "b@x.example");
	ck_action(3, FILTER_ACT_FORWARD, "c@x.example");
	ck_action(4, FILTER_ACT_FOLDER, "INBOX");
	ck_assert(!res.ended);
}
END_TEST

START_TEST(recipe_xfilter_home)
{
	struct filter_node *root = BLK(XFILTER(CAT(V("HOME"),
	    T("/reverse.sh"))), IF(PAT("^REGARDS", FILTER_PAT_BODY |
	    FILTER_PAT_CASE), BLK(TO(T("Mail/.Reversed/")))));

	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_assert_str_eq(fake.argv[0], "/home/bill/reverse.sh");
	ck_assert_int_eq(res.nmsgs, 2);
	ck_action(0, FILTER_ACT_FOLDER, "Reversed");
	ck_assert_int_eq(res.actions[0].msg, 1);
}
END_TEST

START_TEST(variables_at_start)
{
	struct filter_node *root = BLK(node(FK_SYSTEM, 1, T("empty")));

	ck_assert_int_eq(run_on(root, msg_spam), 0);
	ck_assert_int_eq(fake.kind[0], FILTER_EXEC_SYSTEM);
	ck_assert_ptr_null(fake.input[0]);
	ck_assert_str_eq(env_of(0, "HOME"), "/home/bill");
	ck_assert_str_eq(env_of(0, "LOGNAME"), "bill@example.com");
	ck_assert_str_eq(env_of(0, "RECIPIENT"), "bill@example.com");
	ck_assert_str_eq(env_of(0, "SENDER"), "seller@spam.example");
	ck_assert_str_eq(env_of(0, "FROM"), "seller@spam.example");
	ck_assert_str_eq(env_of(0, "EXTENSION"), "");
	ck_assert_str_eq(env_of(0, "HOSTNAME"), "mx.example.com");
	ck_assert_str_eq(env_of(0, "DEFAULT"), "./Maildir");
	ck_assert_str_eq(env_of(0, "PATH"), "/usr/bin:/bin");
	ck_assert_int_eq(atoi(env_of(0, "SIZE")), (int)strlen(msg_spam));
	ck_assert_str_eq(env_of(0, "LINES"), "10");
	ck_assert_str_eq(env_of(0, "RETURNCODE") == NULL ? "unset" : "set",
	    "unset");
}
END_TEST

START_TEST(environment_names)
{
	struct filter_node *root = BLK(SET("OK_1", T("a")),
	    SET("bad-name", T("b")), SET("9x", T("c")),
	    node(FK_SYSTEM, 1, T("empty")));

	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_assert_str_eq(env_of(0, "OK_1"), "a");
	ck_assert_ptr_null(env_of(0, "bad-name"));
	ck_assert_ptr_null(env_of(0, "9x"));
}
END_TEST

START_TEST(expressions)
{
	ck_assert_str_eq(value_of(BIN(FO_ADD, T("1"), T("2.5")), msg_ham),
	    "3.5");
	ck_assert_str_eq(value_of(BIN(FO_MUL, T("3"), T("abc")), msg_ham),
	    "0");
	ck_assert_str_eq(value_of(BIN(FO_SUB, T("2"), T("5")), msg_ham),
	    "-3");
	ck_assert_str_eq(value_of(BIN(FO_DIV, T("1"), T("3")), msg_ham),
	    "0.333333333333333");
	ck_assert_str_eq(value_of(BIN(FO_LT, T("10"), T("9")), msg_ham), "0");
	ck_assert_str_eq(value_of(BIN(FO_SLT, T("10"), T("9")), msg_ham),
	    "1");
	ck_assert_str_eq(value_of(BIN(FO_EQ, T("1.0"), T("1")), msg_ham),
	    "1");
	ck_assert_str_eq(value_of(BIN(FO_SEQ, T("1.0"), T("1")), msg_ham),
	    "0");
	ck_assert_str_eq(value_of(BIN(FO_BITOR, T("5"), T("2")), msg_ham),
	    "7");
	ck_assert_str_eq(value_of(BIN(FO_BITAND, T("6"), T("3")), msg_ham),
	    "2");
	ck_assert_str_eq(value_of(UN(FO_BITNOT, T("0")), msg_ham), "-1");
	ck_assert_str_eq(value_of(UN(FO_BITNOT, T("1e300")), msg_ham),
	    "-2147483648");
	ck_assert_str_eq(value_of(BIN(FO_BITOR, T("4294967297"), T("0")),
	    msg_ham), "1");
	ck_assert_str_eq(value_of(UN(FO_NEG, T("4")), msg_ham), "-4");
	ck_assert_str_eq(value_of(UN(FO_NOT, T("0")), msg_ham), "1");
	ck_assert_str_eq(value_of(UN(FO_NOT, T("")), msg_ham), "1");
	ck_assert_str_eq(value_of(UN(FO_NOT, T("00")), msg_ham), "0");
	/* || and && give an operand, not 0/1. */
	ck_assert_str_eq(value_of(BIN(FO_OR, T(""), T("b")), msg_ham), "b");
	ck_assert_str_eq(value_of(BIN(FO_OR, T("a"), T("b")), msg_ham), "a");
	ck_assert_str_eq(value_of(BIN(FO_AND, T("0"), T("b")), msg_ham), "0");
	ck_assert_str_eq(value_of(BIN(FO_AND, T("a"), T("b")), msg_ham), "b");
	ck_assert_str_eq(value_of(CAT(T("x"), V("UNSET"), T("y")), msg_ham),
	    "xy");
	ck_assert_str_eq(value_of(BIN(FO_ADD, T(" 12abc"), T("1e2")),
	    msg_ham), "112");
	ck_assert_str_eq(value_of(BIN(FO_ADD, T("inf"), T("0x10")), msg_ham),
	    "0");
}
END_TEST

START_TEST(short_circuit)
{
	/* The right side of a true || is not run. */
	ck_assert_str_eq(value_of(BIN(FO_OR, T("1"), node(FK_BACKTICK, 1,
	    T("echo x"))), msg_ham), "1");
	ck_assert_int_eq(fake.n, 1);	/* only value_of's system */
}
END_TEST

START_TEST(division_by_zero)
{
	/* maildrop 3 prints inf; so does the evaluator: no error. */
	ck_assert_str_eq(value_of(BIN(FO_DIV, T("1"), T("0")), msg_ham),
	    "inf");
	ck_assert_str_eq(value_of(BIN(FO_DIV, T("-1"), T("0")), msg_ham),
	    "-inf");
	ck_assert(!res.failed);
}
END_TEST

START_TEST(error_location)
{
	struct filter_node *d = PAT("[", 0);

	ck_assert_int_eq(run_on(BLK(CC(T(".Kept")), SET("X", d),
	    TO(T(".Never"))), msg_ham), -1);
	ck_error(d, "bad pattern /[/: missing terminating ] for character "
	    "class at offset 1");
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "Kept");
	ck_assert(!res.ended);
}
END_TEST

START_TEST(pattern_header_unfolded)
{
	/* "Subject: lunch\r\n  tomorrow?" is one line. */
	ck_assert_str_eq(value_of(PAT("^Subject: lunch  tomorrow\\?$", 0),
	    msg_ham), "1");
	/* Header only by default; the body with b. */
	ck_assert_str_eq(value_of(PAT("^Shall", 0), msg_ham), "0");
	ck_assert_str_eq(value_of(PAT("^Shall we have lunch\\?$",
	    FILTER_PAT_BODY), msg_ham), "1");
	ck_assert_str_eq(value_of(PAT("^Subject", FILTER_PAT_BODY), msg_ham),
	    "0");
	ck_assert_str_eq(value_of(BIN(FO_ADD, PAT("^Subject",
	    FILTER_PAT_BODY | FILTER_PAT_HEADER), PAT("^Regards$",
	    FILTER_PAT_BODY | FILTER_PAT_HEADER)), msg_ham), "2");
}
END_TEST

START_TEST(pattern_odd_messages)
{
	/* No header at all; no body and no line end; an empty message. */
	ck_assert_str_eq(value_of(PAT("^Body: x$", 0), "\nBody: x\n"), "0");
	ck_assert_str_eq(value_of(PAT("^Body: x$", FILTER_PAT_BODY),
	    "\r\nBody: x\r\n"), "1");
	ck_assert_str_eq(value_of(PAT("^Subject: only$", 0),
	    "Subject: only"), "1");
	ck_assert_str_eq(value_of(PAT("^$", FILTER_PAT_BODY |
	    FILTER_PAT_HEADER), ""), "0");
	ck_assert_str_eq(value_of(PATW("^", FILTER_PAT_BODY, 1, 1),
	    "A: b\n\n\nx\n\n"), "3");	/* 3 body lines, 2 empty */
	/* A folded line right before the body stays in the header. */
	ck_assert_str_eq(value_of(PAT("^A: b c$", 0), "A: b\n c\n\n c\n"),
	    "1");
	ck_assert_str_eq(value_of(PAT("^ c$", FILTER_PAT_BODY),
	    "A: b\n c\n\n c\n"), "1");
}
END_TEST

START_TEST(pattern_case)
{
	ck_assert_str_eq(value_of(PAT("^subject: LUNCH", 0), msg_ham), "1");
	ck_assert_str_eq(value_of(PAT("^subject: LUNCH", FILTER_PAT_CASE),
	    msg_ham), "0");
	ck_assert_str_eq(value_of(PAT("^Subject: lunch", FILTER_PAT_CASE),
	    msg_ham), "1");
}
END_TEST

START_TEST(pattern_utf8)
{
	static const char utf[] = "Subject: \xc3\x9c" "ber\n\nx\n";
	static const char latin1[] = "Subject: \xdc" "ber\n\nx\n";

	/* UTF mode: one character, caseless across the alphabet. */
	ck_assert_str_eq(value_of(PAT("^Subject: .ber$", 0), utf), "1");
	ck_assert_str_eq(value_of(PAT("^Subject: \xc3\xbc" "ber", 0), utf),
	    "1");
	/* Not UTF-8: bytes, and no PCRE2 UTF error. */
	ck_assert_str_eq(value_of(PAT("^Subject: .ber$", 0), latin1), "1");
	ck_assert_str_eq(value_of(PAT("^Subject: \\xdcber", 0), latin1), "1");
}
END_TEST

START_TEST(pattern_match_vars)
{
	struct filter_node *root = BLK(
	    EXPR(PAT("^From:\\s+(.*)@(.*)>$", 0)),
	    EXPR(PAT("^nothing (here)", 0)),	/* leaves MATCH alone */
	    node(FK_SYSTEM, 1, T("empty")), TO(T("/dev/null")));

	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_assert_str_eq(env_of(0, "MATCH"),
	    "From: Alice <alice@example.org>");
	ck_assert_str_eq(env_of(0, "MATCH1"), "Alice <alice");
	ck_assert_str_eq(env_of(0, "MATCH2"), "example.org");
	/* The constant patterns were compiled once, into node->cache. */
	ck_assert_ptr_nonnull(root->kids[0]->kids[0]->cache);
	ck_assert(prog.cache_free != NULL);
}
END_TEST

START_TEST(pattern_cached_reused)
{
	struct filter_node *pat = PAT("^To: (\\S+)", 0);
	struct filter_node *root = BLK(EXPR(pat), TO(T("/dev/null")));
	void *first;

	ck_assert_int_eq(run_on(root, msg_ham), 0);
	first = pat->cache;
	ck_assert_ptr_nonnull(first);
	filter_result_clear(&res);
	ck_assert_int_eq(run_on(root, msg_spam), 0);
	ck_assert_ptr_eq(pat->cache, first);
}
END_TEST

START_TEST(pattern_substituted)
{
	/* A pattern with a variable is compiled for each run, not cached. */
	struct filter_node *pat = PATX(CAT(T("^To: "), V("WHO")), 0);
	struct filter_node *root = BLK(SET("WHO", T("bill@")),
	    IFELSE(pat, TO(T(".Yes")), TO(T(".No"))));

	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_action(0, FILTER_ACT_FOLDER, "Yes");
	ck_assert_ptr_null(pat->cache);
}
END_TEST

START_TEST(pattern_bad)
{
	ck_assert_int_eq(run_on(BLK(EXPR(PAT("(unclosed", 0))), msg_ham),
	    -1);
	ck_assert_msg(strncmp(res.error, "test.filter:", 12) == 0 &&
	    strstr(res.error, ":1: bad pattern /(unclosed/: missing closing "
	    "parenthesis at offset 9") != NULL, "error: %s", res.error);
}
END_TEST

START_TEST(pattern_match_limit)
{
	static char msg[200];

	/* Catastrophic backtracking ends at the match limit. */
	memset(msg, 'a', sizeof(msg) - 1);
	memcpy(msg, "Subject: ", 9);
	msg[sizeof(msg) - 2] = '!';
	ck_assert_int_eq(run_on(BLK(EXPR(PAT("^Subject: (a+)+$", 0))), msg),
	    -1);
	ck_assert_msg(strstr(res.error, "match limit") != NULL, "error: %s",
	    res.error);
}
END_TEST

START_TEST(weighted)
{
	/* viagra on 3 lines (twice on one: counts once): 2 + 2*0.5 ... */
	ck_assert_str_eq(value_of(PATW("viagra", FILTER_PAT_HEADER |
	    FILTER_PAT_BODY, 2, 0.5), msg_spam), "3.5");
	ck_assert_str_eq(value_of(PATW("viagra", FILTER_PAT_BODY, 10, 1),
	    msg_spam), "20");
	ck_assert_str_eq(value_of(PATW("absent", FILTER_PAT_BODY, 10, 1),
	    msg_spam), "0");
	ck_assert_str_eq(value_of(BIN(FO_GT, PATW("viagra", FILTER_PAT_BODY,
	    1, 2), T("2")), msg_spam), "1");
}
END_TEST

START_TEST(match_operators)
{
	ck_assert_str_eq(value_of(node(FK_MATCH, 2, T("Hello World"),
	    PAT("w(or)ld", 0)), msg_ham), "1");
	ck_assert_str_eq(value_of(node(FK_MATCH, 2, T("Hello World"),
	    PAT("w(or)ld", FILTER_PAT_CASE)), msg_ham), "0");
	ck_assert_str_eq(value_of(BIN(FO_NMATCH, T("Hello"), PAT("^h", 0)),
	    msg_ham), "0");
	ck_assert_str_eq(value_of(BIN(FO_NMATCH, T("Hello"), PAT("^x", 0)),
	    msg_ham), "1");
	/* Weighted over text: every occurrence counts (as maildrop 3). */
	ck_assert_str_eq(value_of(node(FK_MATCH, 2, T("a a a"), PATW("a", 0, 1,
	    2)), msg_ham), "7");
	ck_assert_str_eq(value_of(node(FK_MATCH, 2, T("viagra viagra"),
	    PATW("viagra", 0, 2, 0.5)), msg_ham), "3");
	ck_assert_str_eq(value_of(node(FK_MATCH, 2, T("none"), PATW("viagra",
	    0, 2, 0.5)), msg_ham), "0");

	fake_reset();
	ck_assert_int_eq(run_on(BLK(EXPR(node(FK_MATCH, 2, T("key=val"),
	    PAT("^(\\w+)=(\\w+)$", 0))), node(FK_SYSTEM, 1, T("empty")),
	    TO(T("/dev/null"))), msg_ham), 0);
	ck_assert_str_eq(env_of(0, "MATCH1"), "key");
	ck_assert_str_eq(env_of(0, "MATCH2"), "val");
}
END_TEST

START_TEST(foreach_message)
{
	/* Every address line: To (unfolded) and Cc. */
	struct filter_node *root = BLK(SET("L", T("")),
	    node(FK_FOREACH, 2, PAT("^(To|Cc): .*", 0), BLK(
	    node(FK_FOREACH, 2, node(FK_MATCH, 2, CALL("getaddr", V("MATCH")),
	    PAT(".+", 0)), BLK(SET("L", CAT(V("L"), T(" "), V("MATCH"))))))),
	    node(FK_SYSTEM, 1, T("empty")), TO(T("/dev/null")));

	ck_assert_int_eq(run_on(root, msg_spam), 0);
	ck_assert_str_eq(env_of(0, "L"), " bill@example.com carol@example.com"
	    " spam@mydomain.com");
}
END_TEST

START_TEST(foreach_all_in_line)
{
	struct filter_node *root = BLK(SET("N", T("0")),
	    node(FK_FOREACH, 2, PAT("viagra", FILTER_PAT_BODY), BLK(
	    SET("N", BIN(FO_ADD, V("N"), T("1"))))),
	    node(FK_FOREACH, 2, node(FK_MATCH, 2, T("a1b22c333"),
	    PAT("\\d*", 0)), BLK(SET("D", CAT(V("D"), T("<"), V("MATCH"),
	    T(">"))))),
	    node(FK_SYSTEM, 1, T("empty")), TO(T("/dev/null")));

	ck_assert_int_eq(run_on(root, msg_spam), 0);
	/* Over the message: a line counts once (as maildrop 3). */
	ck_assert_str_eq(env_of(0, "N"), "2");
	/* Over text: every match; empty ones advance by one character. */
	ck_assert_str_eq(env_of(0, "D"), "<><1><><22><><333><>");
}
END_TEST

START_TEST(foreach_ends_with_to)
{
	struct filter_node *root = BLK(node(FK_FOREACH, 2, PAT("^(To|Cc):",
	    0), BLK(TO(T(".First")))), TO(T(".Never")));

	ck_assert_int_eq(run_on(root, msg_spam), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "First");
}
END_TEST

START_TEST(func_hasaddr)
{
	ck_assert_str_eq(value_of(CALL("hasaddr", T("carol@example.com")),
	    msg_spam), "1");	/* on the folded line */
	ck_assert_str_eq(value_of(CALL("hasaddr", T("BILL@EXAMPLE.COM")),
	    msg_spam), "1");
	ck_assert_str_eq(value_of(CALL("hasaddr", T("<dave@example.net>")),
	    msg_ham), "1");	/* Resent-To */
	/* From: and Return-Path: are not looked at. */
	ck_assert_str_eq(value_of(CALL("hasaddr", T("seller@spam.example")),
	    msg_spam), "0");
	ck_assert_str_eq(value_of(CALL("hasaddr", T("bill@example")),
	    msg_spam), "0");
}
END_TEST

START_TEST(func_getaddr)
{
	ck_assert_str_eq(value_of(CALL("getaddr", T("joe@domain.com (Joe "
	    "Brown), \"Alex Smith\" <alex@domain.com>, tom@domain.com")),
	    msg_ham), "joe@domain.com\nalex@domain.com\ntom@domain.com\n");
	ck_assert_str_eq(value_of(CALL("getaddr", T("To: a@b.example")),
	    msg_ham), "a@b.example\n");
	ck_assert_str_eq(value_of(CALL("getaddr", T("")), msg_ham), "");
}
END_TEST

START_TEST(func_lookup)
{
	ck_assert_str_eq(value_of(CALL("lookup", T("friend@public"),
	    T("badto.dat")), msg_ham), "1");
	ck_assert_str_eq(value_of(CALL("lookup", T("nobody"),
	    T("badto.dat")), msg_ham), "1");	/* no @ */
	ck_assert_str_eq(value_of(CALL("lookup", T("a@b"), T("badto.dat")),
	    msg_ham), "0");
	ck_assert_str_eq(value_of(CALL("lookup", T("alice@example"),
	    T("case.dat")), msg_ham), "1");
	ck_assert_str_eq(value_of(CALL("lookup", T("alice@example"),
	    T("case.dat"), T("D")), msg_ham), "0");
}
END_TEST

START_TEST(func_lookup_errors)
{
	ck_assert_int_eq(run_on(BLK(EXPR(CALL("lookup", T("x"),
	    T("missing.dat")))), msg_ham), -1);
	ck_assert_msg(strstr(res.error, ":1: lookup missing.dat: no such "
	    "file") != NULL, "error: %s", res.error);
	filter_result_clear(&res);
	tree_free();
	ck_assert_int_eq(run_on(BLK(EXPR(CALL("lookup", T("x"),
	    T("unreadable")))), msg_ham), -1);
	ck_assert_msg(strstr(res.error, ":1: lookup unreadable: permission "
	    "denied") != NULL, "error: %s", res.error);
	filter_result_clear(&res);
	tree_free();
	ck_assert_int_eq(run_on(BLK(EXPR(CALL("lookup", T("x"),
	    T("badre.dat")))), msg_ham), -1);
	ck_assert_msg(strstr(res.error, "lookup badre.dat:2: bad pattern") !=
	    NULL, "error: %s", res.error);
}
END_TEST

START_TEST(func_strings)
{
	ck_assert_str_eq(value_of(CALL("length", T("hello")), msg_ham), "5");
	ck_assert_str_eq(value_of(CALL("length", T("")), msg_ham), "0");
	ck_assert_str_eq(value_of(CALL("substr", T("hello"), T("1"), T("3")),
	    msg_ham), "ell");
	ck_assert_str_eq(value_of(CALL("substr", T("hello"), T("2")),
	    msg_ham), "llo");
	ck_assert_str_eq(value_of(CALL("substr", T("hello"), T("9")),
	    msg_ham), "");
	ck_assert_str_eq(value_of(CALL("substr", T("hello"), T("-2"),
	    T("2")), msg_ham), "");	/* as maildrop */
	ck_assert_str_eq(value_of(CALL("substr", T("hello"), T("3"),
	    T("99")), msg_ham), "lo");
	ck_assert_str_eq(value_of(CALL("escape", T("a.b*c$(d)'e\"")),
	    msg_ham), "a\\.b\\*c\\$\\(d\\)\\'e\\\"");
	ck_assert_str_eq(value_of(CALL("escape", T("plain")), msg_ham),
	    "plain");
	ck_assert_str_eq(value_of(CALL("tolower", T("MiXeD \xc3\x9c")),
	    msg_ham), "mixed \xc3\x9c");
	ck_assert_str_eq(value_of(CALL("toupper", T("MiXeD 1")), msg_ham),
	    "MIXED 1");
}
END_TEST

START_TEST(func_time)
{
	long t = atol(value_of(CALL0("time"), msg_ham));

	ck_assert_int_gt(t, 1600000000L);
}
END_TEST

START_TEST(backtick)
{
	ck_assert_str_eq(value_of(node(FK_BACKTICK, 1, T("echo a b")),
	    msg_ham), "a  b");	/* "a\n\nb\n": newlines to spaces, trimmed */
	ck_assert_int_eq(fake.kind[0], FILTER_EXEC_BACKTICK);
	ck_assert_str_eq(fake.input[0], msg_ham);
	ck_assert_str_eq(env_of(1, "RETURNCODE"), "0");
}
END_TEST

START_TEST(system_returncode)
{
	ck_assert_int_eq(run_on(BLK(node(FK_SYSTEM, 1, T("exit3")),
	    node(FK_SYSTEM, 1, T("empty"))), msg_ham), 0);
	ck_assert_str_eq(env_of(1, "RETURNCODE"), "3");
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(xfilter_errors)
{
	static const struct {
		const char	*cmd;
		const char	*error;
	} cases[] = {
		{ "false", "xfilter \"false\": exit status not 0 (status 1)" },
		{ "slow", "xfilter \"slow\": timed out (status 137)" },
		{ "big", "xfilter \"big\": its output was longer than the "
		    "limit (status 0)" },
		{ "empty", "xfilter \"empty\": no output (status 0)" },
		{ "nosuch -x", "xfilter \"nosuch -x\": could not run: nosuch: "
		    "no such program" },
		{ "spamc | tee", "xfilter \"spamc | tee\": the shell operator "
		    "'|' needs a shell" },
	};
	struct filter_node *x;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		x = XFILTER(T(cases[i].cmd));
		ck_assert_int_eq(run_on(BLK(CC(T(".Before")), x,
		    TO(T(".After"))), msg_ham), -1);
		ck_error(x, cases[i].error);
		/* What was done stays; nothing after the error. */
		ck_assert_int_eq(res.nactions, 1);
		ck_action(0, FILTER_ACT_FOLDER, "Before");
		ck_assert_int_eq(res.nmsgs, 1);
		filter_result_clear(&res);
		tree_free();
	}
}
END_TEST

START_TEST(xfilter_reindexes)
{
	/* After the xfilter, patterns and SIZE see the new message. */
	struct filter_node *root = BLK(
	    IF(PAT("^X-Spam-Flag:", 0), TO(T(".Before"))),
	    XFILTER(T("/usr/bin/spamc")),
	    node(FK_SYSTEM, 1, T("empty")),
	    IF(PAT("^X-Spam-Score: 5\\.5$", 0), TO(T(".After"))));

	ck_assert_int_eq(run_on(root, msg_spam), 0);
	ck_action(0, FILTER_ACT_FOLDER, "After");
	ck_assert_int_eq(res.actions[0].msg, 1);
	ck_assert_int_eq(atoi(env_of(1, "SIZE")), (int)strlen(msg_spam) +
	    strlen("X-Spam-Flag: YES\nX-Spam-Score: 5.5\n"));
	ck_assert_str_eq(env_of(1, "LINES"), "12");
	ck_assert_str_eq(env_of(1, "RETURNCODE"), "0");
	ck_assert_str_eq(fake.input[0], msg_spam);
	ck_assert_ptr_null(fake.input[1]);	/* system: /dev/null */
}
END_TEST

START_TEST(pipe_status)
{
	struct filter_node *c = CC(T("|exit3"));

	ck_assert_int_eq(run_on(BLK(c), msg_ham), -1);
	ck_error(c, "pipe \"exit3\": exit status 3");
	ck_assert_int_eq(res.nactions, 0);
	filter_result_clear(&res);
	tree_free();
	fake_reset();
	ck_assert_int_eq(run_on(BLK(CC(T("| empty")), node(FK_SYSTEM, 1,
	    T("empty"))), msg_ham), 0);
	ck_action(0, FILTER_ACT_PIPE, "empty");
	ck_assert_str_eq(env_of(1, "EXITCODE"), "0");
	ck_action(1, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(flags_keywords)
{
	struct filter_node *to = TO(T(".B"));

	ck_assert_int_eq(run_on(BLK(CC(T(".A")), SET("FLAGS", T("SF")),
	    SET("KEYWORDS", T("$Junk,work")), to), msg_ham), 0);
	ck_assert_int_eq(res.actions[0].flags, 0);
	ck_assert_str_eq(res.actions[0].keywords, "");
	ck_assert_int_eq(res.actions[1].flags, MAILDIR_F_SEEN |
	    MAILDIR_F_FLAGGED);
	ck_assert_str_eq(res.actions[1].keywords, "$Junk,work");
	ck_assert_uint_eq(res.actions[1].line, to->line);
}
END_TEST

START_TEST(exit_discards)
{
	ck_assert_int_eq(run_on(BLK(CC(T(".Copy")), node(FK_EXIT, 0),
	    TO(T(".Never"))), msg_ham), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_assert(res.ended);
}
END_TEST

START_TEST(folder_refused)
{
	struct filter_node *to = TO(T("/etc/passwd"));

	ck_assert_int_eq(run_on(BLK(to), msg_ham), -1);
	ck_error(to, "to \"/etc/passwd\": \"/etc/passwd\" is not a folder "
	    "of the store: an absolute path outside the Maildir");
	ck_assert_int_eq(res.nactions, 0);
}
END_TEST

START_TEST(default_changed)
{
	ck_assert_int_eq(run_on(BLK(SET("DEFAULT", T("$HOME/Maildir/.Inbox2/")
	    )), msg_ham), 0);
	ck_action(0, FILTER_ACT_FOLDER, "Inbox2");
	filter_result_clear(&res);
	tree_free();
	ck_assert_int_eq(run_on(BLK(SET("DEFAULT", T("/var/mail/bill"))),
	    msg_ham), -1);
	ck_assert_int_eq(res.nactions, 0);
	ck_assert_msg(strstr(res.error, ": the default delivery to "
	    "$DEFAULT \"/var/mail/bill\": \"/var/mail/bill\" is not a "
	    "folder of the store") != NULL, "error: %s", res.error);
}
END_TEST

START_TEST(exception_resumes)
{
	struct filter_node *root = BLK(
	    node(FK_EXCEPTION, 1, BLK(SET("A", T("1")), XFILTER(T("false")),
	    SET("B", T("1")))),
	    node(FK_EXCEPTION, 1, BLK(EXPR(PAT("(bad", 0)))),
	    node(FK_EXCEPTION, 1, BLK(TO(T("/etc/passwd")))),
	    node(FK_SYSTEM, 1, T("empty")));

	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_assert_str_eq(env_of(1, "A"), "1");
	ck_assert_ptr_null(env_of(1, "B"));
	ck_assert(!res.failed);
	ck_assert_str_eq(res.error, "");
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(exception_keeps_to)
{
	/* A `to` inside exception still ends everything. */
	ck_assert_int_eq(run_on(BLK(node(FK_EXCEPTION, 1, BLK(TO(
	    T(".In")))), TO(T(".Out"))), msg_ham), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "In");
}
END_TEST

START_TEST(steps_limit)
{
	struct filter_node *root = BLK(CC(T(".Before")), node(FK_WHILE, 2,
	    T("1"), node(FK_BLOCK, 0)));

	ck_assert_int_eq(run_on(root, msg_ham), -1);
	ck_assert_msg(strstr(res.error, "more than 1000000 steps") != NULL,
	    "error: %s", res.error);
	ck_assert_int_eq(res.nactions, 1);
	ck_assert_uint_ge(res.steps, FILTER_STEPS_MAX);
}
END_TEST

START_TEST(steps_limit_in_exception)
{
	/* Caught, but the next statement is over the limit as well. */
	struct filter_node *root = BLK(node(FK_EXCEPTION, 1, BLK(
	    node(FK_WHILE, 2, T("1"), node(FK_BLOCK, 0)))), TO(T(".After")));

	ck_assert_int_eq(run_on(root, msg_ham), -1);
	ck_assert_int_eq(res.nactions, 0);
}
END_TEST

START_TEST(limits)
{
	/* Too long a value: doubling. */
	ck_assert_int_eq(run_on(BLK(SET("X", T("0123456789abcdef")),
	    node(FK_WHILE, 2, T("1"), SET("X", CAT(V("X"), V("X"))))),
	    msg_ham), -1);
	ck_assert_msg(strstr(res.error, "longer than 1048576 bytes") != NULL,
	    "error: %s", res.error);
	filter_result_clear(&res);
	tree_free();

	/* Too many deliveries. */
	ck_assert_int_eq(run_on(BLK(node(FK_WHILE, 2, T("1"),
	    CC(T(".Loop")))), msg_ham), -1);
	ck_assert_msg(strstr(res.error, "more than 100 deliveries") != NULL,
	    "error: %s", res.error);
	ck_assert_int_eq(res.nactions, FILTER_ACTIONS_MAX);
	filter_result_clear(&res);
	tree_free();

	/* Too many addresses in one forward. */
	{
		char list[2048] = "!";
		int i;

		for (i = 0; i < FILTER_FWD_MAX + 1; i++)
			snprintf(list + strlen(list), sizeof(list) -
			    strlen(list), "u%d@x.example ", i);
		ck_assert_int_eq(run_on(BLK(TO(T(list))), msg_ham), -1);
		ck_assert_msg(strstr(res.error, "more than 20 addresses") !=
		    NULL, "error: %s", res.error);
	}
}
END_TEST

START_TEST(too_many_variables)
{
	/* One FK_ASSIGN per name: 1000 minus the preset ones fit. */
	static char names[FILTER_VARS_MAX][16];
	struct filter_node *root = node(FK_BLOCK, 0), *v = T("v");
	int i;

	free(root->kids);
	root->kids = calloc(FILTER_VARS_MAX, sizeof(*root->kids));
	for (i = 0; i < FILTER_VARS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "V%d", i);
		root->kids[i] = calloc(1, sizeof(struct filter_node));
		root->kids[i]->kind = FK_ASSIGN;
		root->kids[i]->file = "test.filter";
		root->kids[i]->line = (unsigned)i + 2;
		root->kids[i]->col = 1;
		root->kids[i]->name = names[i];
		root->kids[i]->nkids = 1;
		root->kids[i]->kids = calloc(1, sizeof(struct filter_node *));
		root->kids[i]->kids[0] = v;
	}
	root->nkids = FILTER_VARS_MAX;
	ck_assert_int_eq(run_on(root, msg_ham), -1);
	ck_assert_msg(strstr(res.error, "more than 1000 variables") != NULL,
	    "error: %s", res.error);
	for (i = 0; i < FILTER_VARS_MAX; i++) {
		free(root->kids[i]->kids);
		free(root->kids[i]);
	}
}
END_TEST

START_TEST(import_log)
{
	struct filter_node *root = BLK(
	    node(FK_ECHO, 1, T("hello")),
	    named(node(FK_IMPORT, 0), "ORIG"),
	    SET("SAVED", V("DEFAULT")),
	    named(node(FK_IMPORT, 0), "DEFAULT"),
	    SET("COURIER", V("DEFAULT")),
	    SET("DEFAULT", V("SAVED")),
	    named(node(FK_IMPORT, 0), "NOT_THERE"),
	    node(FK_LOGFILE, 1, T("mail.log")),
	    node(FK_LOG, 1, CAT(T("orig="), V("ORIG"))),
	    named(node(FK_LOCK, 2, T("lockfile"), BLK(SET("LOCKED",
	    T("yes")))), "flock"),
	    node(FK_SYSTEM, 1, T("empty")));

	ck_assert_int_eq(run_on(root, msg_ham), 0);
	ck_assert_str_eq(logged, "hello\norig=from the caller\n");
	ck_assert_str_eq(logged_file, "mail.log");
	ck_assert_str_eq(env_of(0, "COURIER"), "courier-default");
	ck_assert_str_eq(env_of(0, "DEFAULT"), "./Maildir");
	ck_assert_str_eq(env_of(0, "NOT_THERE"), "");
	ck_assert_str_eq(env_of(0, "LOCKED"), "yes");
}
END_TEST

START_TEST(include_runs)
{
	ck_assert_int_eq(run_on(BLK(node(FK_INCLUDE, 1, T("inc1")),
	    TO(T(".Never"))), msg_ham), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "Inc");
	ck_assert(res.ended);
}
END_TEST

START_TEST(include_errors)
{
	static const struct {
		const char	*file;
		const char	*error;	/* after "test.filter:2:1: " */
	} cases[] = {
		{ "nothere", "include nothere: no such file" },
		{ "unreadable", "include unreadable: permission denied" },
		{ "incbad", "include incbad: incbad:" },
		{ "incself", "include incself: nested deeper than 8 files" },
		{ "incerr", "incerr:1:" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(run_on(BLK(node(FK_INCLUDE, 1,
		    T(cases[i].file))), msg_ham), -1);
		ck_assert_msg(strstr(res.error, cases[i].error) != NULL,
		    "%s: error: %s", cases[i].file, res.error);
		ck_assert_int_eq(res.nactions, 0);
		filter_result_clear(&res);
		tree_free();
	}
}
END_TEST

START_TEST(include_in_exception)
{
	ck_assert_int_eq(run_on(BLK(node(FK_EXCEPTION, 1, BLK(
	    node(FK_INCLUDE, 1, T("nothere")))), node(FK_SYSTEM, 1,
	    T("empty"))), msg_ham), 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(global_then_user)
{
	struct filter_prog user;
	struct filter_env env = env_for(msg_ham);
	const struct filter_prog *progs[2] = { &prog, &user };
	struct filter_node *groot = BLK(SET("FROM_GLOBAL", T("g")));
	struct filter_node *uroot = BLK(IF(BIN(FO_SEQ, V("FROM_GLOBAL"),
	    T("g")), TO(T("Mail/.Seen/"))));

	prog.file = "global";
	prog.root = groot;
	memset(&user, 0, sizeof(user));
	user.file = "user";
	user.root = uroot;
	ck_assert_int_eq(filter_eval(progs, 2, &env, &res), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "Seen");
	filter_result_clear(&res);

	/* A `to` in the global file ends everything. */
	groot->kids[0] = TO(T(".Global"));
	ck_assert_int_eq(filter_eval(progs, 2, &env, &res), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "Global");
}
END_TEST

START_TEST(no_programs)
{
	struct filter_env env = env_for(msg_ham);

	ck_assert_int_eq(filter_eval(NULL, 0, &env, &res), 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
}
END_TEST

START_TEST(folders)
{
	static const struct {
		const char	*in;
		const char	*out;
	} good[] = {
		{ "Mail/.Spam/", "Spam" },
		{ "./Maildir", "INBOX" },	/* $DEFAULT */
		{ "./Maildir/.X", "X" },
		{ "$HOME/Maildir/.A.B/", "A/B" },
		{ "/home/bill/Maildir/.A.B/", "A/B" },
		{ "~/Maildir/.A", "A" },
		{ "Maildir/", "INBOX" },
		{ "Maildir", "INBOX" },
		{ "Mail", "INBOX" },
		{ ".", "INBOX" },
		{ "", "INBOX" },
		{ ".Spam", "Spam" },
		{ "Spam", "Spam" },
		{ "inbox", "INBOX" },
		{ ".&ANw-ber", "\xc3\x9c" "ber" },
		{ "Maildir/.&ANw-ber.Sub/", "\xc3\x9c" "ber/Sub" },
		{ ".a\\2eb", "a.b" },
		{ "\xc3\x9c" "ber", "\xc3\x9c" "ber" },
	};
	static const char *bad[] = {
		"/etc/passwd", "../x", "Maildir/../x", "Maildir/.A/cur",
		"Mail/Spam", "/home/bill/Mail/box", "/home/bill", "a/b",
		".&ANw", "..", "Maildir/..", ".A..B", "/home/other/Maildir/.X",
	};
	char out[FILTER_FOLDER_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(filter_folder(good[i].in, "/home/bill",
		    "./Maildir", out, sizeof(out)) == 1, "%s: %s", good[i].in,
		    err_msg());
		ck_assert_msg(strcmp(out, good[i].out) == 0, "%s gave %s",
		    good[i].in, out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear();
		ck_assert_msg(filter_folder(bad[i], "/home/bill", "./Maildir",
		    out, sizeof(out)) == 0, "%s gave %s", bad[i], out);
		ck_assert_int_ne(err_class(), ERR_NONE);
	}
	/* An absolute $DEFAULT: its own path and its last part. */
	ck_assert_int_eq(filter_folder("/var/vmail/bill/Maildir/.Spam/",
	    "/home/bill", "/var/vmail/bill/Maildir", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "Spam");
	ck_assert_int_eq(filter_folder("/var/vmail/bill/Maildir",
	    "/home/bill", "/var/vmail/bill/Maildir", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "INBOX");
	ck_assert_int_eq(filter_folder("Mdir/.X", "/h", "/h/Mdir", out,
	    sizeof(out)), 1);
	ck_assert_str_eq(out, "X");
	/* Too small a buffer, too long a name. */
	ck_assert_int_eq(filter_folder(".Spam", "/h", NULL, out, 3), 0);
	{
		char longname[FILTER_FOLDER_MAX + 10];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[0] = '.';
		longname[sizeof(longname) - 1] = '\0';
		ck_assert_int_eq(filter_folder(longname, "/h", NULL, out,
		    sizeof(out)), 0);
		ck_assert_int_eq(err_class(), ERR_LIMIT);
	}
}
END_TEST

static void
split_is(const char *cmd, const char *want)
{
	char **argv = NULL, got[1024] = "";
	size_t i;

	ck_assert_msg(filter_argv_split(cmd, &argv) == 1, "%s: %s", cmd,
	    err_msg());
	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			strcat(got, "|");
		strcat(got, argv[i]);
	}
	ck_assert_msg(strcmp(got, want) == 0, "%s gave %s", cmd, got);
	filter_argv_free(&argv);
	ck_assert_ptr_null(argv);
}

START_TEST(argv_split)
{
	static const char *ops[] = {
		"a | b", "a;b", "a & b", "a && b", "a || b", "a > f", "a >> f",
		"a < f", "a << E", "a `b`", "a $(b)", "(a)", "a *.txt",
		"a ?", "a [x]", "a ~/x", "a # comment", "a\nb", "a \"$(b)\"",
		"a \"`b`\"", "a 2>&1",
	};
	static const char *invalid[] = { "", "   ", "a 'b", "a \"b", "a \\", };
	char **argv = NULL, many[2048] = "";
	size_t i;

	split_is("/usr/bin/spamc -u bill@example.com",
	    "/usr/bin/spamc|-u|bill@example.com");
	split_is("  a\t b  ", "a|b");
	split_is("a 'b c' \"d e\"", "a|b c|d e");
	split_is("a 'it\"s' \"say \\\"hi\\\"\" 'x\\y'", "a|it\"s|say \"hi\"|"
	    "x\\y");
	split_is("a b\\ c \\|", "a|b c||");
	split_is("a \"\" ''", "a||");
	split_is("a 'x|y;z' \"<&>\"", "a|x|y;z|<&>");
	split_is("a\"b\"'c'd", "abcd");
	split_is("a \"\\n\"", "a|\\n");
	split_is("reformail -I 'X-Loop: a@b'", "reformail|-I|X-Loop: a@b");
	split_is("a b~c x#y", "a|b~c|x#y");
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		err_clear();
		ck_assert_msg(filter_argv_split(ops[i], &argv) == 0,
		    "%s was split", ops[i]);
		ck_assert_ptr_null(argv);
		ck_assert_int_eq(err_class(), ERR_INVALID);
		ck_assert_msg(strstr(err_msg(), "needs a shell") != NULL,
		    "%s: %s", ops[i], err_msg());
	}
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		ck_assert_msg(filter_argv_split(invalid[i], &argv) == 0,
		    "\"%s\" was split", invalid[i]);
		ck_assert_int_eq(err_class(), ERR_INVALID);
	}
	for (i = 0; i < 257; i++)
		strcat(many, "w ");
	ck_assert_int_eq(filter_argv_split(many, &argv), -1);
	ck_assert_int_eq(err_class(), ERR_LIMIT);
	ck_assert_ptr_null(argv);
}
END_TEST

/* The recipes as the issue gives them, through the real parser. */
static const char text_spamc[] =
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
	"}\n";

static const char text_spamc_kr[] =
	"if ($SIZE < 131072) {\r\n"
	"  exception {\r\n"
	"    xfilter \"/usr/bin/spamc -u $RECIPIENT\"\r\n"
	"  }\r\n"
	"}\r\n"
	"DELETE_THRESHOLD=10.0\r\n"
	"if (/^X-Spam-Flag: YES/) {\r\n"
	"  /X-Spam-Score: (\\d+)/\r\n"
	"  if ($MATCH1 >= $DELETE_THRESHOLD) {\r\n"
	"    to /dev/null\r\n"
	"  } else {\r\n"
	"    to Mail/.Spam/\r\n"
	"  }\r\n"
	"}\r\n";

static struct filter_prog	*parsed[2];

/* Parses text as file and runs it (after global when not NULL). */
static int
run_text(const char *global, const char *text, const char *msg)
{
	struct filter_env env = env_for(msg);
	struct filter_error perr;
	const struct filter_prog *progs[2];
	size_t n = 0;
	char buf[1024];

	filter_result_clear(&res);
	filter_prog_free(&parsed[0]);
	filter_prog_free(&parsed[1]);
	if (global != NULL) {
		ck_assert_msg(filter_parse("maildroprc", global, strlen(global),
		    &parsed[0], &perr) == 1, "global: %s", (filter_error_format(
		    &perr, buf, sizeof(buf)), buf));
		progs[n++] = parsed[0];
	}
	ck_assert_msg(filter_parse("mailfilter", text, strlen(text),
	    &parsed[1], &perr) == 1, "%s", (filter_error_format(&perr, buf,
	    sizeof(buf)), buf));
	progs[n++] = parsed[1];
	logged[0] = '\0';
	return filter_eval(progs, n, &env, &res);
}

static void
parsed_teardown(void)
{
	filter_prog_free(&parsed[0]);
	filter_prog_free(&parsed[1]);
	teardown();
}

/* An xfilter that changes nothing leaves the one message: no copy. */
START_TEST(parsed_xfilter_same_bytes)
{
	ck_assert_int_eq(run_text(NULL, "xfilter \"/bin/cat\"\n", msg_ham),
	    0);
	ck_assert_int_eq(fake.n, 1);
	ck_assert_int_eq(res.nmsgs, 1);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
	ck_assert_int_eq(res.actions[0].msg, 0);
}
END_TEST

START_TEST(parsed_spamc)
{
	const char *text = _i == 0 ? text_spamc : text_spamc_kr;

	ck_assert_int_eq(run_text(NULL, text, msg_spam), 0);
	ck_assert_str_eq(fake.argv[0], "/usr/bin/spamc|-u|bill@example.com");
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "Spam");
	ck_assert_int_eq(res.actions[0].msg, 1);

	fake_reset();
	ck_assert_int_eq(run_text(NULL, text, msg_gtube), 0);
	ck_action(0, FILTER_ACT_DISCARD, "/dev/null");

	fake_reset();
	ck_assert_int_eq(run_text(NULL, text, msg_ham), 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
	ck_assert_int_eq(res.actions[0].msg, 1);

	fake_reset();
	fake.spamc_status = 1;
	ck_assert_int_eq(run_text(NULL, text, msg_spam), 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
	ck_assert_int_eq(res.actions[0].msg, 0);
	ck_assert_msg(strstr(logged, "mailfilter:4:") != NULL ||
	    strstr(logged, "mailfilter:3:") != NULL, "logged: %s", logged);
}
END_TEST

START_TEST(parsed_global_and_user)
{
	static const char user[] =
	    "if ($LOGNAME ne \"bill\" && /^X-Spam-Flag: YES/) { to /dev/null }"
	    "\n";
	static const char trap[] =
	    "if (hasaddr(\"spam@mydomain.com\")) { to \"|/usr/bin/spamc "
	    "--spam -u $RECIPIENT\" }\n";

	/* The global file runs spamc; the user's sees its headers. */
	ck_assert_int_eq(run_text(text_spamc_kr + 0, "DELETE_THRESHOLD=1000"
	    "\n", msg_spam), 0);
	ck_action(0, FILTER_ACT_FOLDER, "Spam");
	fake_reset();
	ck_assert_int_eq(run_text("exception {\n xfilter \"/usr/bin/spamc -u "
	    "$RECIPIENT\"\n}\n", user, msg_spam), 0);
	ck_action(0, FILTER_ACT_DISCARD, "/dev/null");
	fake_reset();
	ck_assert_int_eq(run_text(NULL, trap, msg_spam), 0);
	ck_action(0, FILTER_ACT_PIPE, "/usr/bin/spamc --spam -u "
	    "bill@example.com");
	ck_assert_int_eq(fake.kind[0], FILTER_EXEC_PIPE);
}
END_TEST

START_TEST(parsed_forward_reverse)
{
	ck_assert_int_eq(run_text(NULL, "to \"!user@example.com\"\n",
	    msg_ham), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FORWARD, "user@example.com");
	ck_assert_int_eq(run_text(NULL, "cc \"!user@example.com\"\r\n",
	    msg_ham), 0);
	ck_assert_int_eq(res.nactions, 2);
	ck_action(0, FILTER_ACT_FORWARD, "user@example.com");
	ck_action(1, FILTER_ACT_FOLDER, "INBOX");
	ck_assert_int_eq(run_text(NULL, "cc $DEFAULT\nto \"$DEFAULT/.Copy\"\n",
	    msg_ham), 0);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
	ck_action(1, FILTER_ACT_FOLDER, "Copy");
	ck_assert_int_eq(run_text(NULL, "xfilter \"$HOME/reverse.sh\"\n",
	    msg_ham), 0);
	ck_assert_str_eq(fake.argv[0], "/home/bill/reverse.sh");
	ck_assert_int_eq(res.nmsgs, 2);
	ck_action(0, FILTER_ACT_FOLDER, "INBOX");
	ck_assert_int_eq(res.actions[0].msg, 1);
}
END_TEST

START_TEST(parsed_language)
{
	static const char text[] =
	    "# the examples of maildropfilter(7)\n"
	    "ADDRLIST=\"\"\n"
	    "foreach /^(To|Cc): .*/\n"
	    "{\n"
	    "    foreach (getaddr $MATCH) =~ /.+/\n"
	    "    {\n"
	    "        ADDRLIST=\"$ADDRLIST $MATCH\"\n"
	    "    }\n"
	    "}\n"
	    "if ( /^From:\\s*(.*)/ )\n"
	    "{\n"
	    "   MATCH1=escape($MATCH1)\n"
	    "}\n"
	    "SCORE=(/viagra/:b,10,0.5)\n"
	    "N=0\n"
	    "while ($N < 5) { N=$N + 1 }\n"
	    "T=time\n"
	    "LEN=length(substr(\"hello world\", 6))\n"
	    "if (/^To:\\s*(.*)/ && lookup( $MATCH1, \"badto.dat\" ))\n"
	    "{\n"
	    "    exit\n"
	    "}\n"
	    "elsif ($SCORE > 10)\n"
	    "{\n"
	    "    FLAGS=S; system empty\n"
	    "    to \"$HOME/Maildir/.Junk.Scored/\"\n"
	    "}\n";

	ck_assert_int_eq(run_text(NULL, text, msg_spam), 0);
	ck_assert_int_eq(res.nactions, 1);
	ck_action(0, FILTER_ACT_FOLDER, "Junk/Scored");
	ck_assert_uint_eq(res.actions[0].flags, MAILDIR_F_SEEN);
	ck_assert_uint_eq(res.actions[0].line, 26);
	ck_assert_str_eq(env_of(0, "ADDRLIST"), " bill@example.com "
	    "carol@example.com spam@mydomain.com");
	/* The last match: the To: of the lookup, unfolded. */
	ck_assert_str_eq(env_of(0, "MATCH1"), "Bill <bill@example.com>,\t"
	    "Carol <carol@example.com>");
	ck_assert_str_eq(env_of(0, "SCORE"), "15");
	ck_assert_str_eq(env_of(0, "N"), "5");
	ck_assert_str_eq(env_of(0, "LEN"), "5");
	ck_assert_int_gt(atol(env_of(0, "T")), 1600000000L);
}
END_TEST

START_TEST(parsed_include)
{
	ck_assert_int_eq(run_text(NULL, "exception {\n include nothere\n}\n"
	    "include inc1\n", msg_ham), 0);
	ck_action(0, FILTER_ACT_FOLDER, "Inc");
	/* An include that does not parse: file:line:col of both. */
	ck_assert_int_eq(run_text(NULL, "\n  include incbad\n", msg_ham), -1);
	ck_assert_msg(strncmp(res.error, "mailfilter:2:3: include incbad: "
	    "incbad:", 32) == 0, "error: %s", res.error);
	ck_assert_int_eq(run_text(NULL, "include incself\n", msg_ham), -1);
	ck_assert_msg(strstr(res.error, "nested deeper than 8") != NULL,
	    "error: %s", res.error);
}
END_TEST

START_TEST(parsed_steps)
{
	ck_assert_int_eq(run_text(NULL, "while (1) {}\n", msg_ham), -1);
	ck_assert_msg(strncmp(res.error, "mailfilter:1:", 13) == 0 &&
	    strstr(res.error, "more than 1000000 steps") != NULL, "error: %s",
	    res.error);
	ck_assert_int_eq(res.nactions, 0);
}
END_TEST

/*
 * One parsed program shared by threads (as the delivery workers share
 * the cached programs): its patterns' cache is filled once, concurrently,
 * and every evaluation gets the same answer.  The exec here keeps no
 * state: a spamc that flags "viagra".
 */
static int
stateless_exec(void *arg, const struct filter_exec *ex,
    struct filter_exec_result *r)
{
	const char *hdr = ex->input != NULL && memmem(ex->input, ex->inlen,
	    "viagra", 6) != NULL ? "X-Spam-Flag: YES\nX-Spam-Score: 5.5\n" :
	    "X-Spam-Flag: NO\n";
	size_t hl = strlen(hdr);

	(void)arg;
	memset(r, 0, sizeof(*r));
	if (strcmp(ex->argv[0], "false") == 0) {
		r->status = 1;
		return 0;
	}
	if (ex->input == NULL)
		return 0;
	r->out = malloc(hl + ex->inlen + 1);
	memcpy(r->out, hdr, hl);
	memcpy(r->out + hl, ex->input, ex->inlen);
	r->outlen = hl + ex->inlen;
	r->out[r->outlen] = '\0';
	return 0;
}

static void *
eval_thread(void *arg)
{
	const struct filter_prog *progs[1] = { arg };
	struct filter_result r;
	struct filter_env env;
	long bad = 0;
	int i;

	for (i = 0; i < 200; i++) {
		env = env_for(i % 2 ? msg_spam : msg_ham);
		env.exec = stateless_exec;
		env.log = NULL;
		if (filter_eval(progs, 1, &env, &r) != 0 || r.nactions != 1 ||
		    strcmp(r.actions[0].arg, i % 2 ? "Spam" : "INBOX") != 0)
			bad++;
		filter_result_clear(&r);
	}
	return (void *)bad;
}

START_TEST(threads_share_program)
{
	struct filter_error perr;
	pthread_t th[4];
	void *bad;
	int i;

	ck_assert_int_eq(filter_parse("mailfilter", text_spamc,
	    strlen(text_spamc), &parsed[0], &perr), 1);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, eval_thread,
		    parsed[0]), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(th[i], &bad), 0);
		ck_assert_int_eq((long)bad, 0);
	}
	/* The constant pattern of `if (/^X-Spam-Flag: YES/)` was cached. */
	ck_assert_int_eq(parsed[0]->root->kids[2]->kind, FK_IF);
	ck_assert_int_eq(parsed[0]->root->kids[2]->kids[0]->kind, FK_PATTERN);
	ck_assert_ptr_nonnull(parsed[0]->root->kids[2]->kids[0]->cache);
}
END_TEST

/*
 * The parser's fuzz corpus, as written and with bytes changed (a seeded
 * generator): whatever parses runs to an end that keeps the contract:
 * -1 with a located error, or 0 with a delivery or an explicit end; the
 * actions name message versions that exist.
 */
static int	corpus_ok, corpus_failed;

static void
check_run(const char *text, size_t len, const char *msg)
{
	struct filter_env env = env_for(msg);
	struct filter_prog *p = NULL;
	struct filter_error perr;
	const struct filter_prog *progs[1];
	struct filter_result r;
	size_t i;
	int rc;

	if (filter_parse("corpus", text, len, &p, &perr) != 1)
		return;
	progs[0] = p;
	env.exec = stateless_exec;
	rc = filter_eval(progs, 1, &env, &r);
	if (rc == -1) {
		ck_assert(r.failed);
		ck_assert_msg(strncmp(r.error, "corpus:", 7) == 0, "error: %s",
		    r.error);
		corpus_failed++;
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert(!r.failed);
		ck_assert(r.ended || r.nactions > 0);
		corpus_ok++;
	}
	ck_assert_int_ge(r.nmsgs, 1);
	for (i = 0; i < r.nactions; i++)
		ck_assert_uint_lt(r.actions[i].msg, r.nmsgs);
	filter_result_clear(&r);
	filter_prog_free(&p);
}

START_TEST(corpus_runs)
{
	static const char *names[] = { "crlf", "errors", "kr-elsif-foreach",
	    "per-user-trap-forward", "spamc", "vacation" };
	static const char bytes[] = " \n{}()$/\"'`|!;=~a1._-\\";
	const char *msgs[] = { msg_spam, msg_ham, msg_gtube };
	char path[1024], text[8192];
	unsigned long seed = 11;
	struct dirent *de;
	DIR *dir;
	size_t i, m, k, len;
	int round;
	FILE *f;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/filter/%s",
		    VELLUM_SOURCE_ROOT, names[i]);
		f = fopen(path, "r");
		ck_assert_msg(f != NULL, "%s: missing", path);
		len = fread(text, 1, sizeof(text), f);
		fclose(f);
		for (m = 0; m < 3; m++)
			check_run(text, len, msgs[m]);
		for (round = 0; round < 100; round++) {
			char mut[8192];

			memcpy(mut, text, len);
			for (k = 0; k < 3; k++) {
				seed = seed * 6364136223846793005UL +
				    1442695040888963407UL;
				mut[(seed >> 33) % len] =
				    bytes[(seed >> 20) % (sizeof(bytes) - 1)];
			}
			check_run(mut, len, msgs[round % 3]);
		}
	}
	/* Then every file of the corpus as it is. */
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/filter",
	    VELLUM_SOURCE_ROOT);
	ck_assert_ptr_nonnull(dir = opendir(path));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/filter/%s",
		    VELLUM_SOURCE_ROOT, de->d_name);
		ck_assert_ptr_nonnull(f = fopen(path, "r"));
		len = fread(text, 1, sizeof(text), f);
		fclose(f);
		for (m = 0; m < 3; m++)
			check_run(text, len, msgs[m]);
	}
	closedir(dir);
	/* Both ends were reached, many times. */
	ck_assert_int_gt(corpus_ok, 50);
	ck_assert_int_gt(corpus_failed, 10);
}
END_TEST

static Suite *
eval_suite(void)
{
	Suite *s = suite_create("filter_eval");
	TCase *tc;

	tc = tcase_create("recipes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, recipe_spamc_spam);
	tcase_add_test(tc, recipe_spamc_gtube);
	tcase_add_test(tc, recipe_spamc_ham);
	tcase_add_test(tc, recipe_spamc_fails_inside_exception);
	tcase_add_test(tc, recipe_spamc_big_message_skipped);
	tcase_add_test(tc, recipe_per_user);
	tcase_add_test(tc, recipe_spam_trap);
	tcase_add_test(tc, recipe_forward);
	tcase_add_test(tc, recipe_cc_forward);
	tcase_add_test(tc, forward_option_refused);
	tcase_add_test(tc, recipe_xfilter_home);
	suite_add_tcase(s, tc);

	tc = tcase_create("language");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, variables_at_start);
	tcase_add_test(tc, environment_names);
	tcase_add_test(tc, expressions);
	tcase_add_test(tc, short_circuit);
	tcase_add_test(tc, division_by_zero);
	tcase_add_test(tc, error_location);
	tcase_add_test(tc, exit_discards);
	tcase_add_test(tc, flags_keywords);
	tcase_add_test(tc, default_changed);
	tcase_add_test(tc, folder_refused);
	tcase_add_test(tc, exception_resumes);
	tcase_add_test(tc, exception_keeps_to);
	tcase_add_test(tc, steps_limit);
	tcase_add_test(tc, steps_limit_in_exception);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, too_many_variables);
	tcase_add_test(tc, import_log);
	tcase_add_test(tc, include_runs);
	tcase_add_test(tc, include_errors);
	tcase_add_test(tc, include_in_exception);
	tcase_add_test(tc, global_then_user);
	tcase_add_test(tc, no_programs);
	suite_add_tcase(s, tc);

	tc = tcase_create("patterns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pattern_header_unfolded);
	tcase_add_test(tc, pattern_odd_messages);
	tcase_add_test(tc, pattern_case);
	tcase_add_test(tc, pattern_utf8);
	tcase_add_test(tc, pattern_match_vars);
	tcase_add_test(tc, pattern_cached_reused);
	tcase_add_test(tc, pattern_substituted);
	tcase_add_test(tc, pattern_bad);
	tcase_add_test(tc, pattern_match_limit);
	tcase_add_test(tc, weighted);
	tcase_add_test(tc, match_operators);
	tcase_add_test(tc, foreach_message);
	tcase_add_test(tc, foreach_all_in_line);
	tcase_add_test(tc, foreach_ends_with_to);
	suite_add_tcase(s, tc);

	tc = tcase_create("functions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, func_hasaddr);
	tcase_add_test(tc, func_getaddr);
	tcase_add_test(tc, func_lookup);
	tcase_add_test(tc, func_lookup_errors);
	tcase_add_test(tc, func_strings);
	tcase_add_test(tc, func_time);
	tcase_add_test(tc, backtick);
	tcase_add_test(tc, system_returncode);
	tcase_add_test(tc, xfilter_errors);
	tcase_add_test(tc, xfilter_reindexes);
	tcase_add_test(tc, pipe_status);
	suite_add_tcase(s, tc);

	tc = tcase_create("parsed");
	tcase_add_checked_fixture(tc, setup, parsed_teardown);
	tcase_add_loop_test(tc, parsed_spamc, 0, 2);
	tcase_add_test(tc, parsed_xfilter_same_bytes);
	tcase_add_test(tc, parsed_global_and_user);
	tcase_add_test(tc, parsed_forward_reverse);
	tcase_add_test(tc, parsed_language);
	tcase_add_test(tc, parsed_include);
	tcase_add_test(tc, parsed_steps);
	tcase_add_test(tc, threads_share_program);
	tcase_add_test(tc, corpus_runs);
	suite_add_tcase(s, tc);

	tc = tcase_create("folders");
	tcase_add_test(tc, folders);
	tcase_add_test(tc, argv_split);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(eval_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
