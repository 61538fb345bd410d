/*
 * ctl.h - what the files of vellumctl share: the run context, argument
 * parsing, messages, JSON output and the progress bar.
 *
 * Every command handler returns an exit status: CTL_OK, CTL_FAIL (the
 * command failed; a message was printed) or CTL_USAGE (bad arguments).
 */
#ifndef VELLUM_ADMIN_CTL_H
#define VELLUM_ADMIN_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "store/store.h"

#define CTL_OK		0
#define CTL_FAIL	1
#define CTL_USAGE	2

#define CTL_GRACE_DAYS_DEFAULT	5

struct ctl {
	const char	*data_dir;
	const char	*conf_path;	/* -c FILE, NULL without */
	int		 json;
	int		 grace_days;	/* from [quota] grace_days */
	const char	*noun, *verb;
	struct store	*store;
};

/* An option of a command: "--name" or "--name VALUE". */
struct ctl_opt {
	const char	*name;		/* without the leading "--" */
	int		 has_arg;
	const char	*value;		/* set when seen (has_arg) */
	int		 seen;
};

/*
 * Splits argv (after NOUN VERB) into options, found in opts (ended by a
 * NULL name), and positional arguments, which are moved to the front of
 * argv; *npos_r gets their count.  "--" ends the options.  Returns
 * CTL_OK, or CTL_USAGE (message printed) on an unknown option, a missing
 * value, or a positional count outside [minpos, maxpos] (maxpos -1: any).
 */
int	ctl_args(struct ctl *, int argc, char **argv, struct ctl_opt *opts,
	    int minpos, int maxpos, int *npos_r);
/* The option named name in opts (it must be there). */
struct ctl_opt *ctl_opt(struct ctl_opt *opts, const char *name);

/* Opens the store (flags of store_open()); prints why it failed. */
int	ctl_open(struct ctl *, unsigned flags);
void	ctl_close(struct ctl *);

/* "vellumctl: MESSAGE: <err_msg()>", then HINT when not NULL.  CTL_FAIL. */
int	ctl_fail(const char *hint, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* "vellumctl: MESSAGE" without the error text.  CTL_FAIL. */
int	ctl_failx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "vellumctl: MESSAGE" and the usage line of the command.  CTL_USAGE. */
int	ctl_usage(struct ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Prints the usage lines of NOUN (every command when NULL) to fp. */
void	ctl_help(FILE *fp, const char *noun);

/* Finds a user by address in its own read transaction: 1, 0, -1. */
int	ctl_user_find(struct ctl *, const char *address, uint32_t *id_r);
/* ISO 8601 UTC ("2024-05-01T12:00:00Z"), "-" for 0. */
char	*ctl_time(int64_t t, char buf[32]);
/* Reads one line from stdin without its line end (malloc'd); NULL at EOF. */
char	*ctl_read_line(FILE *fp);

/*
 * The confirmation of a command that changed something: the message and
 * a line end; with --json the object {"command": NOUN, "ok": true,
 * "verb": VERB, "message": MESSAGE} instead, so every output parses as JSON.
 */
void	ctl_done(struct ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* JSON output: a string value, escaped, invalid UTF-8 as U+FFFD. */
void	ctl_json_str(FILE *fp, const char *s);
void	ctl_json_strn(FILE *fp, const char *s, size_t len);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
struct ctl_progress {
	const char	*what;
	uint64_t	 total, done;
	int		 on;
	time_t		 last;
};
void	ctl_progress_start(struct ctl_progress *, const char *what,
	    uint64_t total);
void	ctl_progress_step(struct ctl_progress *, uint64_t n);
void	ctl_progress_end(struct ctl_progress *);

/* The commands, one per noun (admin/cmd_NOUN.c). */
int	cmd_domain(struct ctl *, int argc, char **argv);
int	cmd_user(struct ctl *, int argc, char **argv);
int	cmd_addr(struct ctl *, int argc, char **argv);
int	cmd_mail(struct ctl *, int argc, char **argv);
int	cmd_quota(struct ctl *, int argc, char **argv);
int	cmd_queue(struct ctl *, int argc, char **argv);
int	cmd_transport(struct ctl *, int argc, char **argv);
int	cmd_dkim(struct ctl *, int argc, char **argv);
int	cmd_bcc(struct ctl *, int argc, char **argv);
int	cmd_acl(struct ctl *, int argc, char **argv);
/*
 * cmd_map.c: the import and export of Postfix maps (bcc, acl; the
 * duplicate note of addr import too).
 * cmd_map_slurp: the whole file ("-": stdin) of an import, NUL-terminated
 * (at most 64 MB); NULL and a message printed.
 */
char	*cmd_map_slurp(const char *path, size_t *len_r);
/*
 * A parse error (err_msg()) as PATH:LINE: message, then that nothing was
 * imported.  CTL_FAIL.
 */
int	cmd_map_bad(struct ctl *, const char *path);
/* The note on a key given again at lineno (dup_of: its first line). */
void	cmd_map_dup(const char *path, unsigned lineno, const char *key,
	    unsigned dup_of);
/*
 * Where an export goes: stdout for "-", else the file made; NULL and a
 * message printed.
 */
FILE	*cmd_map_open(const char *path);
/*
 * Ends an export to fp (cmd_map_open()): flushes stdout, or closes the
 * file and says how many lines went to it.  A write error names the
 * file, or "the WHAT" for stdout.  CTL_OK or CTL_FAIL.
 */
int	cmd_map_close(struct ctl *, FILE *fp, const char *path, size_t lines,
	    const char *what);
/*
 * cmd_user.c: a password read from stdin (one line) and hashed, or a
 * pre-computed hash given to --hash ("-": read from stdin), checked; who
 * names the account in messages.  0, or -1 (printed).
 */
int	cmd_user_password(const char *who, char **hash_r);
int	cmd_user_hash(const char *who, const char *value, char **hash_r);
/* cmd_policy.c: user policy|usage|unlock, domain policy|passwd */
int	cmd_policy_user(struct ctl *, int argc, char **argv);
int	cmd_policy_domain(struct ctl *, int argc, char **argv);
int	cmd_policy_usage(struct ctl *, int argc, char **argv);
int	cmd_policy_unlock(struct ctl *, int argc, char **argv);
int	cmd_policy_domain_passwd(struct ctl *, int argc, char **argv);
int	cmd_disclaimer(struct ctl *, int argc, char **argv);
int	cmd_lock(struct ctl *, int argc, char **argv);
int	cmd_auth(struct ctl *, int argc, char **argv);
int	cmd_rate(struct ctl *, int argc, char **argv);
int	cmd_store(struct ctl *, int argc, char **argv);
int	cmd_vacation(struct ctl *, int argc, char **argv);
int	cmd_list(struct ctl *, int argc, char **argv);
int	cmd_filter(struct ctl *, int argc, char **argv);
int	cmd_config(struct ctl *, int argc, char **argv);
int	cmd_reload(struct ctl *, int argc, char **argv);
int	cmd_mailbox(struct ctl *, int argc, char **argv);
/* "mail expunge" (cmd_mailbox.c), dispatched from cmd_mail(). */
int	cmd_mail_expunge(struct ctl *, int argc, char **argv);
/* "addr resolve" (cmd_resolve.c), dispatched from cmd_addr(). */
int	cmd_addr_resolve(struct ctl *, int argc, char **argv);
int	cmd_who(struct ctl *, int argc, char **argv);	/* who, kick */

/*
 * Parses a filter file (filter/lang.h filter_parse()) named name in
 * messages: 1 it parses; 0 it does not, and msg[size] holds
 * "NAME:LINE:COL: message" (cmd_filter.c).
 */
int	filter_check_text(const char *name, const char *text, size_t len,
	    char *msg, size_t size);

#endif
