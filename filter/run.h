/*
 * run.h - runs the programs of filters (xfilter, pipes, backquotes,
 * system) and of Spam training (sa-learn) as an unprivileged account,
 * without a shell, with a time limit and an output limit.
 *
 * A daemon starts the runner while it is still root, before it drops its
 * privileges and before it starts any thread, from its main thread (the
 * helper dies with the thread that forked it: PR_SET_PDEATHSIG):
 * filter_runner_start() forks a small helper process that keeps root
 * (when the daemon was root) and nothing else: no store, no listener, no
 * descriptor but its control socket (0, 1, 2 are /dev/null).  Each request then goes
 * to the helper over that socket with its descriptors (SCM_RIGHTS): the
 * message on stdin (a memfd) and a memfd for the output.  For each request
 * the helper forks a child that becomes the account (the checks below),
 * replies "started", then forks the program:
 *   - as uid/gid (initgroups of that account when it has a name), never
 *     root: uid 0 runs as the fallback account ([filter] user), and a
 *     fallback that is root or missing refuses the request;
 *     when the helper is not root, programs run as the helper's own
 *     account (which is then not root either);
 *   - in a new session (its own process group), cwd = home (or "/"), the
 *     environment given (nothing else inherited), descriptors 0, 1, 2
 *     only (stderr to /dev/null), RLIMIT_CORE 0, RLIMIT_NOFILE 64,
 *     RLIMIT_CPU the time limit;
 *   - argv[0] absolute, or searched along PATH of the environment given;
 *   - stdout read into the output memfd up to output_max bytes: past it
 *     the program's group is killed (truncated set); past timeout seconds
 *     it is killed (timed_out set); when the program exits, what is left
 *     of its group is killed too; its exit status is returned;
 *   - umask 077; signals at their defaults, none blocked.
 * The account is switched before anything is done for the request, so
 * filter_runner_read_file() and filter_runner_append() open the file as
 * the account (a symbolic link of the user's to root's files gives PERM).
 * The requesting thread blocks until the reply (a worker thread, never an
 * event loop), at most timeout + FILTER_RUN_GRACE seconds in the helper's
 * queue and as long again once started; it never forks.  Requests from several threads run concurrently, at most
 * max_procs at a time (others wait in the helper, bounded by the queue of
 * the control socket).  The helper exits when the daemon does (its
 * control socket closes; PR_SET_PDEATHSIG too).
 */
#ifndef VELLUM_FILTER_RUN_H
#define VELLUM_FILTER_RUN_H

#include <stddef.h>
#include <sys/types.h>

#include "filter/eval.h"

#define FILTER_RUN_ARGS_MAX	256	/* argv words */
#define FILTER_RUN_ENV_MAX	1100	/* environment entries */
#define FILTER_RUN_REQ_MAX	(256 * 1024)	/* bytes of argv + env */
#define FILTER_RUN_TEXT_MAX	FILTER_VALUE_MAX /* bytes of one append */
#define FILTER_RUN_PROCS_MAX	256	/* [filter] max_procs at most */
#define FILTER_RUN_NOFILE	64	/* RLIMIT_NOFILE of a program */
/*
 * Seconds a requester waits past the time limit: first for a free slot
 * (a request queued behind max_procs programs), then for the reply of a
 * started program; then it gives up with TEMP.
 */
#define FILTER_RUN_GRACE	10

struct filter_runner;

struct filter_runner_config {
	const char	*fallback_user;	/* [filter] user = nobody */
	unsigned	 timeout;	/* [filter] timeout = 60 s */
	size_t		 output_max;	/* [filter] output_max = 64M */
	unsigned	 max_procs;	/* [filter] max_procs = 8 */
};

struct filter_run_req {
	uid_t		 uid;		/* 0: the fallback account */
	gid_t		 gid;
	const char	*home;		/* cwd; NULL or missing: "/" */
	char *const	*argv;
	char *const	*envp;		/* NULL: an empty environment */
	const void	*input;		/* NULL: /dev/null on stdin */
	size_t		 inlen;
	int		 capture;	/* 1 keep stdout, 0 drop it */
};

/*
 * Forks the helper.  0 and *r, or -1 (TEMP: fork, socket; NOTFOUND: the
 * fallback user does not exist while we are root).
 */
int	filter_runner_start(const struct filter_runner_config *,
	    struct filter_runner **r);

/*
 * Runs one program (see above) and fills *res (res->out malloc'd when
 * capture, else NULL).  Thread-safe.  0 when it ran (whatever its exit
 * status; a program that could not be executed exits 127, as a shell
 * says), -1 when it could not be run at all (err: TEMP helper gone or
 * busy, PERM refused (root), INVALID request).
 */
int	filter_runner_exec(struct filter_runner *, const struct filter_run_req *,
	    struct filter_exec_result *res);

/*
 * Reads a file as the account (include, lookup): at most
 * FILTER_FILE_MAX bytes.  1 and *data_r (NUL-ended) / *len_r, 0 it does
 * not exist, -1 error (PERM not readable by the account, LIMIT too big,
 * TEMP).
 */
int	filter_runner_read_file(struct filter_runner *, uid_t, gid_t,
	    const char *home, const char *path, char **data_r, size_t *len_r);

/*
 * Appends text to a file as the account (logfile), creating it 0600.
 * 0 done, -1 error.
 */
int	filter_runner_append(struct filter_runner *, uid_t, gid_t,
	    const char *home, const char *path, const char *text, size_t len);

/*
 * Stops the helper (it kills the running programs) without freeing r:
 * requests running or made later fail (TEMP) at once.  Any thread; for a
 * daemon that stops while worker threads still wait for programs.
 */
void	filter_runner_cancel(struct filter_runner *);
/* Stops the helper (kills running programs) and frees r. */
void	filter_runner_stop(struct filter_runner **r);

#endif
