/*
 * eval.h - runs parsed filter files (lang.h) against one message for one
 * recipient and says what to do with it: the folders of the store to
 * deliver to, forwards, pipes, a discard; or that the filter failed.
 *
 * Pure of the store and of the event loop: the evaluator only reads the
 * message and calls back for what touches the system (running a program,
 * reading a file as the user, logging).  It is safe on any thread; one
 * evaluation uses only its own memory.  The caller (deliver/) runs the
 * global filter and the user's one in the same evaluation, so variables
 * set by the first are seen by the second and a `to` in the first ends
 * everything.
 *
 * Semantics (mailfilter(7)):
 *   - every value is text; numbers are parsed as doubles when an operator
 *     wants one (the number a text starts with: " 12abc" is 12; "" and
 *     text that does not start with one, "inf" and "0x1" too, are 0);
 *     results of arithmetic are printed with %.15g (1/0 is "inf", as
 *     maildrop); false is "" or "0"; || and && give one of their
 *     operands; | & ~ work on 32-bit integers;
 *   - /re/ is PCRE2 (UTF-8 mode when the text is valid UTF-8; caseless
 *     unless D), matched line by line against the header (folded lines
 *     unfolded first; CRLF or LF), the body, or both (h, b, hb); the first
 *     match sets MATCH and MATCH1..MATCHn (a pattern that does not match
 *     leaves them); weighted scoring (,xxx,yyy) adds xxx, xxx*yyy, ...
 *     over the matching lines (a line counts once), over text every
 *     occurrence counts; =~ and !~ match the text as one subject;
 *     foreach iterates with MATCH set over the first match of each line
 *     of the message, or over every match in text (an empty match
 *     advancing one character), as maildrop 3 does; a regex that does
 *     not compile or reaches FILTER_MATCH_LIMIT is a run-time error;
 *   - hasaddr(), getaddr() parse addresses as RFC 5322 (mail/rfc822.h),
 *     case-insensitively; lookup(expr, file [, opts]) reads the file through
 *     read_file (a line per pattern, '#' and blank lines skipped);
 *     length, substr (0-based start as maildrop; bytes, not characters;
 *     a negative start gives ""), escape, tolower, toupper (ASCII), time;
 *   - to/cc: "/dev/null" discards; "!a b,c" forwards to those addresses;
 *     "|cmd" pipes (exec FILTER_EXEC_PIPE); any other text names a folder
 *     of the store (filter_folder()); `to` ends the evaluation;
 *   - xfilter: exec FILTER_EXEC_XFILTER; exit 0 and output: the output is
 *     the message from then on (SIZE and LINES follow); anything else is
 *     a run-time error;
 *   - `cmd`: exec FILTER_EXEC_BACKTICK, newlines to spaces, leading and
 *     trailing spaces dropped; RETURNCODE set; system: FILTER_EXEC_SYSTEM;
 *   - include: read_file, parse (an error is a run-time error), run;
 *   - exception { }: a run-time error inside resumes after the block
 *     (the error goes to the log callback, logfile "");
 *   - exit: ends the evaluation (no default delivery: a message not given
 *     to anything is discarded, as maildrop);
 *   - log/logfile/echo: the log callback;
 *   - flock/dotlock run their block (the store serialises deliveries);
 *   - import NAME: from env[] (the caller's environment-like variables;
 *     a name not there sets NAME to "");
 *   - the limits below are run-time errors where they are reached (past
 *     FILTER_STEPS_MAX inside an exception block, the next statement
 *     outside it fails again);
 *   - programs get every variable whose name is [A-Za-z_][A-Za-z0-9_]*
 *     as NAME=value (envp), the current message on stdin (not system);
 *   - the end of the files without a `to` or `exit`: the message goes
 *     to $DEFAULT (as maildrop: even when a cc delivered it already);
 * A run-time error outside any exception block stops the evaluation:
 * failed is set with the reason, and the actions done so far (cc) stay.
 * The caller then adds INBOX: a filter never loses mail.
 */
#ifndef VELLUM_FILTER_EVAL_H
#define VELLUM_FILTER_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "filter/lang.h"

#define FILTER_STEPS_MAX	1000000	/* statements + operators per run */
#define FILTER_VARS_MAX		1000	/* distinct variables */
#define FILTER_VALUE_MAX	(1024 * 1024)	/* bytes of one value */
#define FILTER_ACTIONS_MAX	100	/* to/cc deliveries, forwards, pipes */
#define FILTER_INCLUDE_DEPTH	8	/* nested include */
#define FILTER_MATCH_LIMIT	1000000	/* PCRE2 match limit */
#define FILTER_FWD_MAX		20	/* addresses of one "!..." */
#define FILTER_FOLDER_MAX	500	/* bytes of a folder name */

/* What a program is run for. */
enum filter_exec_kind {
	FILTER_EXEC_XFILTER = 1,	/* stdin message, stdout new message */
	FILTER_EXEC_PIPE,		/* stdin message, output dropped */
	FILTER_EXEC_BACKTICK,		/* stdin message, stdout the value */
	FILTER_EXEC_SYSTEM,		/* stdin /dev/null, output dropped */
};

struct filter_exec {
	enum filter_exec_kind	 kind;
	const char		*cmdline;	/* as written, substituted */
	char *const		*argv;		/* split as maildrop does */
	char *const		*envp;		/* "NAME=value" of the vars */
	const char		*input;		/* stdin (NULL: /dev/null) */
	size_t			 inlen;
};

struct filter_exec_result {
	int	 status;	/* exit code, 128+signal when killed */
	int	 timed_out;	/* killed at the time limit */
	int	 truncated;	/* output past the limit (xfilter: error) */
	char	*out;		/* stdout (malloc'd, NUL-ended) or NULL */
	size_t	 outlen;
};

/* What the evaluator needs from its caller. */
struct filter_env {
	/* The message: exact bytes, CRLF or LF line ends. */
	const char	*msg;
	size_t		 msglen;
	/* Variables set before the first file runs (values copied). */
	const char	*home;		/* HOME */
	const char	*logname;	/* LOGNAME (the recipient's address) */
	const char	*recipient;	/* RECIPIENT */
	const char	*sender;	/* SENDER and FROM ("" for <>) */
	const char	*extension;	/* EXTENSION ("" none) */
	const char	*hostname;	/* HOSTNAME */
	const char	*deflt;		/* DEFAULT ("./Maildir") */
	const char	*path;		/* PATH ("/usr/local/bin:/usr/bin:/bin") */
	/* import NAME reads these "NAME=value" (NULL-ended; may be NULL). */
	char *const	*env;
	/*
	 * Runs a program (argv[0] an absolute path or found along PATH by
	 * the runner) and fills *res (res->out freed by the evaluator).
	 * Returns 0 when it ran (whatever its status), -1 when it could not
	 * be run (err set: why).  Called synchronously: the caller is a
	 * worker, never an event loop.
	 */
	int	(*exec)(void *arg, const struct filter_exec *,
		    struct filter_exec_result *res);
	/*
	 * Reads a file as the user (include, lookup); path relative to
	 * HOME.  1 and *data_r (malloc'd, NUL-ended) / *len_r, 0 missing,
	 * -1 error (err set).
	 */
	int	(*read_file)(void *arg, const char *path, char **data_r,
		    size_t *len_r);
	/* log, logfile, echo: logfile is "" until a logfile statement. */
	void	(*log)(void *arg, const char *logfile, const char *text);
	void	*arg;
};

enum filter_action_kind {
	FILTER_ACT_FOLDER = 1,	/* folder: a store name ("INBOX", "Spam") */
	FILTER_ACT_FORWARD,	/* addr: one address */
	FILTER_ACT_PIPE,	/* done: the pipe ran (status 0) */
	FILTER_ACT_DISCARD,	/* /dev/null */
};

struct filter_action {
	enum filter_action_kind	 kind;
	char			*arg;	/* folder name / address / cmdline */
	unsigned		 flags;	/* FLAGS at the time: MAILDIR_F_* */
	char			*keywords; /* KEYWORDS at the time ("" none) */
	size_t			 msg;	/* which message: 0 the original,
					   k the k-th xfilter output */
	unsigned		 line;	/* of the to/cc (logs) */
};

struct filter_result {
	struct filter_action	*actions;
	size_t			 nactions;
	/* Message versions: msgs[0] is the original (not owned). */
	char			**msgs;
	size_t			*msglens;
	size_t			 nmsgs;
	int			 ended;		/* a `to` or `exit` ended it */
	int			 failed;	/* run-time error (error says) */
	char			 error[FILTER_ERROR_MAX + 300];
						/* "FILE:LINE:COL: ..." */
	unsigned long		 steps;		/* spent (bench, logs) */
};

/*
 * Runs progs[0..n) (global first) for the message in env.  Always fills
 * *res (free it with filter_result_clear()); returns 0, or -1 when the
 * evaluation failed (res->failed, res->error).  The actions are in the
 * order done; when no `to` or `exit` ran, the last action is the
 * default delivery to $DEFAULT's folder.
 */
int	filter_eval(const struct filter_prog *const *progs, size_t n,
	    const struct filter_env *env, struct filter_result *res);
void	filter_result_clear(struct filter_result *);

/*
 * The folder of the store that a to/cc mailbox text names, into out:
 * home is $HOME, deflt the caller's $DEFAULT (the Maildir: a filter that
 * sets DEFAULT=$HOME/Maildir/.Later/ delivers to "Later").  "$HOME/"
 * (written or substituted), "~/" and "./" prefixes go; then
 * the Maildir itself ("Maildir", "Mail", $DEFAULT's last part, "." or
 * "") is INBOX; "<that>/.A.B/" (trailing '/' optional) is the Maildir++
 * folder "A/B" (mail/maildir.h, modified UTF-7 decoded; a name that is
 * not modified UTF-7 but UTF-8 is taken as written); a relative name
 * without a Maildir part ("Spam", ".Spam") is that folder.  1 done, 0 not
 * a folder of the store (INVALID: an absolute path elsewhere, ".", ".."
 * or an empty part, a mailbox file path like "Mail/box", a path inside a
 * folder; LIMIT: longer than FILTER_FOLDER_MAX or than size): err says
 * why.
 */
int	filter_folder(const char *mailbox, const char *home,
	    const char *deflt, char *out, size_t size);

/*
 * Splits a command line as maildrop does for its shell, without a shell:
 * white space separates words; '...' and "..." quote (the quotes go);
 * backslash escapes the next byte outside quotes and, inside "...", only
 * $ ` " and backslash (as sh).  What a shell would do something with is
 * refused: | ; & > < ( ) newline, the globs * ? [, ~ and # at the start
 * of a word, and ` and $( even inside "...": 0 with err set (INVALID,
 * "the shell operator '|' needs a shell"), so a command that needs a
 * shell says so instead of running something else.  An unclosed quote,
 * a trailing backslash or no word at all: 0 (INVALID).  1 and *argv_r
 * (NULL-ended, free with filter_argv_free()), -1 on a limit (LIMIT: more
 * than 256 words).
 */
int	filter_argv_split(const char *cmdline, char ***argv_r);
void	filter_argv_free(char ***);

#endif
